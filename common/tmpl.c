/*
 * tmpl.c - see tmpl.h.
 */
#include "tmpl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyward.h"

#define URI_PREFIX "keyward://"

struct parser {
	const char *text;
	size_t len, pos;
	unsigned line;
	struct kw_tmpl *t;
	size_t cap;
	char *why;
	size_t whysz;
};

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Append a part; KW_ENOMEM or 0. */
static int add_part(struct parser *p, const struct kw_tmpl_part *part)
{
	struct kw_tmpl *t = p->t;

	if (t->count == p->cap) {
		size_t ncap = p->cap ? p->cap * 2 : 16;
		struct kw_tmpl_part *n =
			realloc(t->parts, ncap * sizeof(*t->parts));

		if (!n)
			return KW_ENOMEM;
		t->parts = n;
		p->cap = ncap;
	}
	t->parts[t->count++] = *part;
	return 0;
}

/* Literal text from off up to p->pos (lines counted as it goes). */
static int add_literal(struct parser *p, size_t off, unsigned line)
{
	struct kw_tmpl_part part = { .off = off,
		                     .len = p->pos - off,
		                     .line = line };

	if (part.len == 0)
		return 0;
	return add_part(p, &part);
}

static int fail(struct parser *p, unsigned line, const char *what)
{
	snprintf(p->why, p->whysz, "line %u: %s", line, what);
	return KW_EINVAL;
}

static void skip_blanks(struct parser *p)
{
	while (p->pos < p->len && blank(p->text[p->pos]))
		p->pos++;
}

/* At "{{": one reference up to and including its "}}". */
static int parse_ref(struct parser *p)
{
	struct kw_tmpl_part part = { .is_ref = true, .line = p->line };
	const char *rest;
	size_t start, restlen;
	char why[160] = "";

	p->pos += 2;
	skip_blanks(p);
	start = p->pos;
	while (p->pos < p->len && !blank(p->text[p->pos]) &&
	       p->text[p->pos] != '}' && p->text[p->pos] != '\n')
		p->pos++;
	if (!kw_secref_uri(p->text + start, p->pos - start, &rest, &restlen))
		return fail(p, part.line,
		            "'{{' must open a reference: "
		            "{{ keyward://NAME }}");
	if (restlen == 0)
		return fail(p, part.line, "keyward:// without a secret name");
	if (kw_secref_parse(rest, restlen, &part.ref, why, sizeof(why)) < 0) {
		snprintf(p->why, p->whysz, "line %u: %s", part.line,
		         why[0] ? why : "invalid secret reference");
		return KW_EINVAL;
	}
	skip_blanks(p);
	if (p->len - p->pos < 2 || memcmp(p->text + p->pos, "}}", 2) != 0)
		return fail(p, part.line,
		            "a reference must end with '}}' on the line "
		            "it starts on");
	p->pos += 2;
	if (p->t->nrefs == KW_TMPL_REFS_MAX) {
		snprintf(p->why, p->whysz, "more than %u references",
		         KW_TMPL_REFS_MAX);
		return KW_ETOOBIG;
	}
	p->t->nrefs++;
	return add_part(p, &part);
}

static int parse_all(struct parser *p)
{
	size_t lit = 0;
	unsigned lit_line = 1;
	int r;

	while (p->pos < p->len) {
		if (p->text[p->pos] == '\n') {
			p->line++;
			p->pos++;
			continue;
		}
		if (p->len - p->pos < 2 ||
		    memcmp(p->text + p->pos, "{{", 2) != 0) {
			p->pos++;
			continue;
		}
		if ((r = add_literal(p, lit, lit_line)) < 0 ||
		    (r = parse_ref(p)) < 0)
			return r;
		lit = p->pos;
		lit_line = p->line;
	}
	return add_literal(p, lit, lit_line);
}

int kw_tmpl_parse(const char *text, size_t len, struct kw_tmpl **ret_tmpl,
                  char *why, size_t whysz)
{
	struct parser p = {
		.text = text, .len = len, .line = 1, .why = why, .whysz = whysz
	};
	int r;

	if ((!text && len > 0) || !ret_tmpl) {
		snprintf(why, whysz, "no template");
		return KW_EINVAL;
	}
	if (len > KW_TMPL_MAX_BYTES) {
		snprintf(why, whysz, "larger than %u bytes", KW_TMPL_MAX_BYTES);
		return KW_ETOOBIG;
	}
	p.t = calloc(1, sizeof(*p.t));
	if (!p.t)
		return KW_ENOMEM;
	r = parse_all(&p);
	if (r < 0) {
		if (r == KW_ENOMEM)
			snprintf(why, whysz, "out of memory");
		kw_tmpl_free(p.t);
		return r;
	}
	*ret_tmpl = p.t;
	return 0;
}

void kw_tmpl_free(struct kw_tmpl *t)
{
	if (!t)
		return;
	free(t->parts);
	free(t);
}
