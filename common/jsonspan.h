/*
 * jsonspan.h - JSON (and JSONC) read into a tree of byte spans, for
 * editing a config file in place (`keyward mcp`): every value and member
 * key is known by its offsets in the text, so a caller can replace just
 * the spans that change and keep every other byte (order, indentation,
 * comments) as it was.
 *
 * The grammar is RFC 8259 with these choices:
 *   - any value may be the top-level one; blanks are space, tab, CR, LF;
 *   - a string may not contain \u0000 (values end up in environments and
 *     C strings) nor a lone surrogate escape; raw bytes must be UTF-8;
 *   - duplicate member keys (compared after decoding) are refused: clients
 *     disagree on which one wins, so an edit could change the wrong one;
 *   - numbers are checked for shape only (1e999 is a number here);
 *   - with KW_JSPAN_JSONC, also // and block comments, a trailing comma
 *     in arrays and objects, and a UTF-8 byte order mark at the start (the
 *     dialect VS Code writes).
 * Limits: KW_JSPAN_MAX_BYTES of text, KW_JSPAN_MAX_DEPTH of nesting,
 * KW_JSPAN_MAX_NODES values.
 *
 * The tree points into the caller's text, which must outlive it and is
 * never copied; strings are decoded on demand into kw_wipealloc memory
 * (values may be secrets). Nothing here logs or quotes the input.
 */
#ifndef KW_JSONSPAN_H
#define KW_JSONSPAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KW_JSPAN_MAX_BYTES (16u << 20)
#define KW_JSPAN_MAX_DEPTH 128u
#define KW_JSPAN_MAX_NODES (1u << 20)
#define KW_JSPAN_NONE      UINT32_MAX

/* Flags of kw_jspan_parse. */
#define KW_JSPAN_JSONC 1u

enum kw_jtype {
	KW_JNULL,
	KW_JFALSE,
	KW_JTRUE,
	KW_JNUMBER,
	KW_JSTRING,
	KW_JARRAY,
	KW_JOBJECT,
};

/* One value. Offsets are bytes into the text; indices are into the
 * document's nodes (KW_JSPAN_NONE for none). */
struct kw_jnode {
	enum kw_jtype type;
	uint32_t start, end;         /* the value, quotes and brackets too */
	uint32_t key_start, key_end; /* its key with quotes, in an object */
	uint32_t parent, first, next;
	uint32_t count; /* members or elements */
};

typedef struct kw_jdoc {
	const char *text;
	size_t len;
	struct kw_jnode *nodes; /* nodes[0] is the top-level value */
	uint32_t count;
} kw_jdoc;

/*
 * Parse text[0..len). 0 with *ret_doc set (free with kw_jspan_free);
 * KW_EPARSE with why = "line L, column C: what was expected"; KW_ETOOBIG
 * past a limit (why says which); KW_ENOMEM. *ret_doc untouched on error.
 */
int kw_jspan_parse(const char *text, size_t len, unsigned flags,
                   kw_jdoc **ret_doc, char *why, size_t whysz);
/* NULL is fine. The text is the caller's. */
void kw_jspan_free(kw_jdoc *doc);

/* First child, next sibling, parent of n; NULL when there is none. */
const struct kw_jnode *kw_jspan_first(const kw_jdoc *doc,
                                      const struct kw_jnode *n);
const struct kw_jnode *kw_jspan_next(const kw_jdoc *doc,
                                     const struct kw_jnode *n);
const struct kw_jnode *kw_jspan_parent(const kw_jdoc *doc,
                                       const struct kw_jnode *n);

/* The member of object obj whose key decodes to key (NUL-terminated);
 * NULL if obj is not an object or has no such member. */
const struct kw_jnode *kw_jspan_member(const kw_jdoc *doc,
                                       const struct kw_jnode *obj,
                                       const char *key);

/*
 * Decode the string value n (or, with key set, n's member key) into
 * kw_wipealloc memory, NUL-terminated (free with kw_wipefree). 0 and
 * *ret / *ret_len; KW_EINVAL if n is not a string (or has no key);
 * KW_ENOMEM.
 */
int kw_jspan_string(const kw_jdoc *doc, const struct kw_jnode *n, bool key,
                    char **ret, size_t *ret_len);
/* n is a string whose decoded value equals s (NUL-terminated). */
bool kw_jspan_string_eq(const kw_jdoc *doc, const struct kw_jnode *n,
                        const char *s);

/* The 1-based line and byte column of offset off. */
void kw_jspan_linecol(const kw_jdoc *doc, size_t off, unsigned *ret_line,
                      unsigned *ret_col);

/* Replace text[start, end) by repl[0..len). */
struct kw_jspan_edit {
	size_t start, end;
	const char *repl;
	size_t len;
};

/*
 * text with every edit applied, in kw_wipealloc memory with a NUL after
 * *ret_len bytes. Edits may come in any order (they are sorted in place)
 * but must lie within text and not overlap (two insertions at one offset
 * overlap too): KW_EINVAL. KW_ETOOBIG past KW_JSPAN_MAX_BYTES; KW_ENOMEM.
 */
int kw_jspan_apply(const char *text, size_t len, struct kw_jspan_edit *edits,
                   size_t n, char **ret, size_t *ret_len);

/* s (len bytes, UTF-8) as a JSON string literal with its quotes, in
 * kw_wipealloc memory: 0 or KW_ENOMEM / KW_ETOOBIG. Escapes '"', '\\'
 * and control bytes; everything else is copied. */
int kw_jspan_quote(const char *s, size_t len, char **ret, size_t *ret_len);

#endif
