/*
 * dotenv.h - the .env file syntax for `keyward run --env-file` and
 * `keyward import` (issue 13; those commands will document it in
 * docs/cli.md when they land).
 *
 * One assignment per line, NAME=VALUE, in the shape most tools share:
 *   - blank lines and lines whose first non-blank is '#' are comments;
 *   - an optional "export " before the name (as shells write it);
 *   - NAME is [A-Za-z_][A-Za-z0-9_]*, at most KW_DOTENV_NAME_MAX bytes,
 *     with blanks (space, tab) allowed around the '=';
 *   - an unquoted value runs to the end of the line, minus a comment that
 *     starts with '#' after a blank, minus trailing blanks;
 *   - 'single quotes' keep every byte as is, newlines included;
 *   - "double quotes" may span lines too and understand \n \r \t \\ \"
 *     \' and \$; any other backslash is kept with the byte after it;
 *   - after a closing quote only blanks and a comment may follow.
 * Values are never expanded: "$HOME" is five bytes. CRLF line ends are
 * read as LF ends (outside quotes), and a UTF-8 byte order mark at the
 * start is skipped. A NUL byte anywhere is refused: values go into an
 * environment, where they end at the first NUL.
 *
 * Values may be secrets: they are held in kw_wipealloc memory, wiped by
 * kw_dotenv_free, and no error message ever quotes a byte of the input.
 */
#ifndef KW_DOTENV_H
#define KW_DOTENV_H

#include <stdbool.h>
#include <stddef.h>

#define KW_DOTENV_NAME_MAX    255u
#define KW_DOTENV_MAX_BYTES   (4u << 20) /* larger input: KW_ETOOBIG */
#define KW_DOTENV_ENTRIES_MAX 10000u

typedef struct kw_dotenv_entry {
	char *name;       /* NUL-terminated */
	char *value;      /* NUL-terminated, kw_wipealloc memory */
	size_t value_len; /* strlen(value) */
	unsigned line;    /* the line the assignment starts on (from 1) */
} kw_dotenv_entry;

/* Every assignment in file order; a name may occur more than once (the
 * caller decides what that means). */
typedef struct kw_dotenv {
	kw_dotenv_entry *entries;
	size_t count;
} kw_dotenv;

/*
 * Parse text[0..len) (not NUL-terminated). 0 with *ret_env set (free with
 * kw_dotenv_free); or KW_EINVAL with why ("line N: ...", naming the rule,
 * never the input) and *ret_env untouched; KW_ETOOBIG over
 * KW_DOTENV_MAX_BYTES or KW_DOTENV_ENTRIES_MAX; KW_ENOMEM.
 */
int kw_dotenv_parse(const char *text, size_t len, kw_dotenv **ret_env,
                    char *why, size_t why_size);
/* Wipe and free; NULL is fine. */
void kw_dotenv_free(kw_dotenv *env);

/*
 * Whether the n bytes at s are a variable name as above:
 * [A-Za-z_][A-Za-z0-9_]*, 1..KW_DOTENV_NAME_MAX bytes. The one rule for
 * names that `keyward run --env` sets and `export --format dotenv` writes.
 */
bool kw_dotenv_name_valid(const char *s, size_t n);

#endif
