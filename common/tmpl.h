/*
 * tmpl.h - the template syntax of `keyward inject` (docs/cli.md).
 *
 * A template is text in which every "{{" opens a reference:
 *     {{ keyward://REF }}
 * with blanks (space, tab) optional on either side of the reference. REF
 * is what kw_secref_parse accepts (NAME, NAME@VERSION, NAME#STAGE, each
 * optionally followed by ":base64"); it runs up to the first blank or
 * '}'. A reference must close on the line it opens on. Any other "{{" is
 * an error naming its line: a template meant for keyward holds no other
 * brace syntax. "}}" outside a reference is plain text.
 *
 * The parse result points into the caller's text: literal parts are byte
 * ranges of it, so the text must outlive the result. No error message
 * quotes the input.
 */
#ifndef KW_TMPL_H
#define KW_TMPL_H

#include <stdbool.h>
#include <stddef.h>

#include "secref.h"

#define KW_TMPL_MAX_BYTES (1u << 20) /* larger input: KW_ETOOBIG */
#define KW_TMPL_REFS_MAX  1000u      /* more references: KW_ETOOBIG */

struct kw_tmpl_part {
	bool is_ref;
	size_t off, len;      /* literal: text[off..off+len) */
	struct kw_secref ref; /* reference: what to put there */
	unsigned line;        /* the line the part starts on (from 1) */
};

struct kw_tmpl {
	struct kw_tmpl_part *parts; /* in text order, none empty */
	size_t count;
	size_t nrefs; /* how many parts are references */
};

/*
 * Parse text[0..len) (not NUL-terminated; a NUL byte is plain text).
 * 0 with *ret_tmpl set (free with kw_tmpl_free); KW_EINVAL with why
 * ("line N: ...") and *ret_tmpl untouched; KW_ETOOBIG over
 * KW_TMPL_MAX_BYTES or KW_TMPL_REFS_MAX; KW_ENOMEM.
 */
int kw_tmpl_parse(const char *text, size_t len, struct kw_tmpl **ret_tmpl,
                  char *why, size_t whysz);
/* Free; NULL is fine. */
void kw_tmpl_free(struct kw_tmpl *t);

#endif
