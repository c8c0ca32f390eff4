/*
 * jsonspan.c - the span parser of jsonspan.h: recursive descent bounded
 * by KW_JSPAN_MAX_DEPTH, nodes in one growing array.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonspan.h"
#include "keyward.h"
#include "secmem.h"

struct parser {
	const char *s;
	size_t len, pos;
	unsigned flags;
	unsigned depth;
	kw_jdoc *doc;
	uint32_t cap;
	char *why;
	size_t whysz;
};

static void linecol(const char *s, size_t off, unsigned *line, unsigned *col)
{
	unsigned l = 1, c = 1;
	for (size_t i = 0; i < off; i++) {
		if (s[i] == '\n') {
			l++;
			c = 1;
		} else {
			c++;
		}
	}
	*line = l;
	*col = c;
}

/* A syntax error at byte at: KW_EPARSE, why naming line and column. */
static int fail(struct parser *p, size_t at, const char *what)
{
	unsigned line, col;
	linecol(p->s, at, &line, &col);
	snprintf(p->why, p->whysz, "line %u, column %u: %s", line, col, what);
	return KW_EPARSE;
}

static int too_big(struct parser *p, const char *what)
{
	snprintf(p->why, p->whysz, "%s", what);
	return KW_ETOOBIG;
}

/* Skip blanks, and comments in JSONC. 0 or an error (unterminated
 * comment, or a '/' that starts none). */
static int skip_blank(struct parser *p)
{
	while (p->pos < p->len) {
		char c = p->s[p->pos];
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			p->pos++;
			continue;
		}
		if (c != '/' || !(p->flags & KW_JSPAN_JSONC))
			return 0;
		size_t at = p->pos;
		if (at + 1 < p->len && p->s[at + 1] == '/') {
			const char *nl = memchr(p->s + at, '\n', p->len - at);
			p->pos = nl ? (size_t)(nl - p->s) + 1 : p->len;
		} else if (at + 1 < p->len && p->s[at + 1] == '*') {
			size_t i = at + 2;
			while (i + 1 < p->len &&
			       !(p->s[i] == '*' && p->s[i + 1] == '/'))
				i++;
			if (i + 1 >= p->len)
				return fail(p, at, "unterminated comment");
			p->pos = i + 2;
		} else {
			return fail(p, at,
			            "a comment must start with // or /*");
		}
	}
	return 0;
}

static int new_node(struct parser *p, enum kw_jtype type, uint32_t parent,
                    uint32_t *ret_idx)
{
	kw_jdoc *d = p->doc;
	if (d->count >= KW_JSPAN_MAX_NODES)
		return too_big(p, "more values than keyward reads in a file");
	if (d->count == p->cap) {
		uint32_t cap = p->cap ? p->cap * 2 : 64;
		struct kw_jnode *n = realloc(d->nodes, cap * sizeof(*n));
		if (!n)
			return KW_ENOMEM;
		d->nodes = n;
		p->cap = cap;
	}
	struct kw_jnode *n = &d->nodes[d->count];
	*n = (struct kw_jnode){ .type = type,
		                .start = (uint32_t)p->pos,
		                .parent = parent,
		                .first = KW_JSPAN_NONE,
		                .next = KW_JSPAN_NONE };
	*ret_idx = d->count++;
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The 4 hex digits at s (which has at least 4 bytes), or -1. */
static long hex4(const char *s)
{
	long v = 0;
	for (int i = 0; i < 4; i++) {
		int h = hexval(s[i]);
		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

/* Bytes of the valid UTF-8 sequence at s[0..n) (s[0] >= 0x80), or 0:
 * no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t need;
	unsigned lo = 0x80, hi = 0xbf;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		need = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		need = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		need = 4;
	else
		return 0;
	if (n < need)
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < need; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return need;
}

/* An escape after the backslash at p->pos; moves past it. */
static int scan_escape(struct parser *p)
{
	size_t at = p->pos;
	if (at + 1 >= p->len)
		return fail(p, at, "unterminated string");
	char c = p->s[at + 1];
	if (strchr("\"\\/bfnrt", c) && c != '\0') {
		p->pos += 2;
		return 0;
	}
	if (c != 'u')
		return fail(p, at, "invalid escape in a string");
	long v = at + 6 <= p->len ? hex4(p->s + at + 2) : -1;
	if (v < 0)
		return fail(p, at, "\\u needs four hex digits");
	if (v == 0)
		return fail(p, at, "\\u0000 is not allowed in a string");
	if (v >= 0xdc00 && v <= 0xdfff)
		return fail(p, at, "lone low surrogate escape");
	p->pos += 6;
	if (v < 0xd800 || v > 0xdbff)
		return 0;
	long lo = p->pos + 6 <= p->len && p->s[p->pos] == '\\' &&
	                          p->s[p->pos + 1] == 'u' ?
	                  hex4(p->s + p->pos + 2) :
	                  -1;
	if (lo < 0xdc00 || lo > 0xdfff)
		return fail(p, at, "lone high surrogate escape");
	p->pos += 6;
	return 0;
}

/* A string starting at the quote at p->pos; moves past its end. */
static int scan_string(struct parser *p)
{
	size_t at = p->pos++;
	while (p->pos < p->len) {
		unsigned char c = (unsigned char)p->s[p->pos];
		if (c == '"') {
			p->pos++;
			return 0;
		}
		if (c == '\\') {
			int r = scan_escape(p);
			if (r)
				return r;
		} else if (c < 0x20) {
			return fail(p, p->pos, "control character in a string");
		} else if (c >= 0x80) {
			size_t n =
				utf8_len((const unsigned char *)p->s + p->pos,
			                 p->len - p->pos);
			if (n == 0)
				return fail(p, p->pos, "invalid UTF-8");
			p->pos += n;
		} else {
			p->pos++;
		}
	}
	return fail(p, at, "unterminated string");
}

static bool at_digit(const struct parser *p)
{
	return p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9';
}

static void skip_digits(struct parser *p)
{
	while (at_digit(p))
		p->pos++;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static int scan_number(struct parser *p)
{
	size_t at = p->pos;
	if (p->s[p->pos] == '-')
		p->pos++;
	if (!at_digit(p))
		return fail(p, at, "invalid number");
	if (p->s[p->pos] == '0') {
		p->pos++;
		if (at_digit(p))
			return fail(p, at, "a number may not start with 0");
	} else {
		skip_digits(p);
	}
	if (p->pos < p->len && p->s[p->pos] == '.') {
		p->pos++;
		if (!at_digit(p))
			return fail(p, at, "invalid number");
		skip_digits(p);
	}
	if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
		p->pos++;
		if (p->pos < p->len &&
		    (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
			p->pos++;
		if (!at_digit(p))
			return fail(p, at, "invalid number");
		skip_digits(p);
	}
	return 0;
}

static int scan_word(struct parser *p, const char *word)
{
	size_t n = strlen(word);
	if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
		return fail(p, p->pos, "expected a value");
	p->pos += n;
	return 0;
}

static int parse_value(struct parser *p, uint32_t parent, uint32_t *ret_idx);

/* Link child after *last under parent. */
static void link_child(kw_jdoc *d, uint32_t parent, uint32_t *last,
                       uint32_t child)
{
	if (*last == KW_JSPAN_NONE)
		d->nodes[parent].first = child;
	else
		d->nodes[*last].next = child;
	*last = child;
	d->nodes[parent].count++;
}

/* After an element or member: ',' (then maybe, in JSONC, the close) or
 * the close. *ret_done when the container ended. */
static int after_item(struct parser *p, char close, bool *ret_done)
{
	int r = skip_blank(p);
	if (r)
		return r;
	if (p->pos < p->len && p->s[p->pos] == close) {
		p->pos++;
		*ret_done = true;
		return 0;
	}
	if (p->pos >= p->len || p->s[p->pos] != ',')
		return fail(p, p->pos,
		            close == ']' ? "expected ',' or ']'" :
		                           "expected ',' or '}'");
	p->pos++;
	if ((r = skip_blank(p)))
		return r;
	if ((p->flags & KW_JSPAN_JSONC) && p->pos < p->len &&
	    p->s[p->pos] == close) {
		p->pos++;
		*ret_done = true;
		return 0;
	}
	*ret_done = false;
	return 0;
}

static int parse_array(struct parser *p, uint32_t self)
{
	uint32_t last = KW_JSPAN_NONE;
	bool done = false;
	int r;

	p->pos++;
	if ((r = skip_blank(p)))
		return r;
	if (p->pos < p->len && p->s[p->pos] == ']') {
		p->pos++;
		return 0;
	}
	while (!done) {
		uint32_t child = KW_JSPAN_NONE;
		if ((r = parse_value(p, self, &child)))
			return r;
		link_child(p->doc, self, &last, child);
		if ((r = after_item(p, ']', &done)))
			return r;
	}
	return 0;
}

static int cmp_keys(const void *a, const void *b)
{
	const char *const *x = a, *const *y = b;
	return strcmp(*x, *y);
}

/* No two members of object self have keys that decode alike. */
static int check_duplicates(struct parser *p, uint32_t self)
{
	const kw_jdoc *d = p->doc;
	uint32_t n = d->nodes[self].count, i = 0;
	int r = 0;

	if (n < 2)
		return 0;
	char **keys = calloc(n, sizeof(*keys));
	if (!keys)
		return KW_ENOMEM;
	for (uint32_t c = d->nodes[self].first; c != KW_JSPAN_NONE;
	     c = d->nodes[c].next, i++) {
		size_t len;
		if ((r = kw_jspan_string(d, &d->nodes[c], true, &keys[i],
		                         &len)))
			goto out;
	}
	qsort(keys, n, sizeof(*keys), cmp_keys);
	for (i = 1; i < n && r == 0; i++)
		if (strcmp(keys[i - 1], keys[i]) == 0)
			r = fail(p, d->nodes[self].start,
			         "an object has the same key twice");
out:
	for (i = 0; i < n; i++)
		kw_wipefree(keys[i]);
	free(keys);
	return r;
}

static int parse_member(struct parser *p, uint32_t self, uint32_t *ret_idx)
{
	size_t key_start = p->pos;
	int r;

	if (p->pos >= p->len || p->s[p->pos] != '"')
		return fail(p, p->pos, "expected a member name in quotes");
	if ((r = scan_string(p)))
		return r;
	size_t key_end = p->pos;
	if ((r = skip_blank(p)))
		return r;
	if (p->pos >= p->len || p->s[p->pos] != ':')
		return fail(p, p->pos, "expected ':' after a member name");
	p->pos++;
	if ((r = parse_value(p, self, ret_idx)))
		return r;
	p->doc->nodes[*ret_idx].key_start = (uint32_t)key_start;
	p->doc->nodes[*ret_idx].key_end = (uint32_t)key_end;
	return 0;
}

static int parse_object(struct parser *p, uint32_t self)
{
	uint32_t last = KW_JSPAN_NONE;
	bool done = false;
	int r;

	p->pos++;
	if ((r = skip_blank(p)))
		return r;
	if (p->pos < p->len && p->s[p->pos] == '}') {
		p->pos++;
		return 0;
	}
	while (!done) {
		uint32_t child = KW_JSPAN_NONE;
		if ((r = parse_member(p, self, &child)))
			return r;
		link_child(p->doc, self, &last, child);
		if ((r = after_item(p, '}', &done)))
			return r;
	}
	return check_duplicates(p, self);
}

static int parse_value(struct parser *p, uint32_t parent, uint32_t *ret_idx)
{
	uint32_t self = KW_JSPAN_NONE;
	int r;

	if ((r = skip_blank(p)))
		return r;
	if (p->pos >= p->len)
		return fail(p, p->pos, "expected a value");
	char c = p->s[p->pos];
	enum kw_jtype t = c == '{' ? KW_JOBJECT :
	                  c == '[' ? KW_JARRAY :
	                  c == '"' ? KW_JSTRING :
	                  c == 't' ? KW_JTRUE :
	                  c == 'f' ? KW_JFALSE :
	                  c == 'n' ? KW_JNULL :
	                             KW_JNUMBER;
	if ((r = new_node(p, t, parent, &self)))
		return r;
	if (t == KW_JOBJECT || t == KW_JARRAY) {
		if (++p->depth > KW_JSPAN_MAX_DEPTH)
			return too_big(p, "values nested too deep");
		r = t == KW_JOBJECT ? parse_object(p, self) :
		                      parse_array(p, self);
		p->depth--;
	} else if (t == KW_JSTRING) {
		r = scan_string(p);
	} else if (t == KW_JNUMBER) {
		r = c == '-' || (c >= '0' && c <= '9') ?
		            scan_number(p) :
		            fail(p, p->pos, "expected a value");
	} else {
		r = scan_word(p, t == KW_JTRUE  ? "true" :
		                 t == KW_JFALSE ? "false" :
		                                  "null");
	}
	if (r)
		return r;
	p->doc->nodes[self].end = (uint32_t)p->pos;
	*ret_idx = self;
	return 0;
}

int kw_jspan_parse(const char *text, size_t len, unsigned flags,
                   kw_jdoc **ret_doc, char *why, size_t whysz)
{
	struct parser p = { .s = text,
		            .len = len,
		            .flags = flags,
		            .why = why,
		            .whysz = whysz };
	uint32_t top = KW_JSPAN_NONE;
	int r;

	if (whysz > 0)
		why[0] = '\0';
	if (len > KW_JSPAN_MAX_BYTES)
		return too_big(&p, "the file is larger than keyward reads");
	p.doc = calloc(1, sizeof(*p.doc));
	if (!p.doc)
		return KW_ENOMEM;
	p.doc->text = text;
	p.doc->len = len;
	if ((flags & KW_JSPAN_JSONC) && len >= 3 &&
	    memcmp(text, "\xef\xbb\xbf", 3) == 0)
		p.pos = 3;
	r = parse_value(&p, KW_JSPAN_NONE, &top);
	if (r == 0)
		r = skip_blank(&p);
	if (r == 0 && p.pos != len)
		r = fail(&p, p.pos, "unexpected text after the value");
	if (r) {
		kw_jspan_free(p.doc);
		return r;
	}
	*ret_doc = p.doc;
	return 0;
}

void kw_jspan_free(kw_jdoc *doc)
{
	if (!doc)
		return;
	free(doc->nodes);
	free(doc);
}

static const struct kw_jnode *node_at(const kw_jdoc *doc, uint32_t i)
{
	return i == KW_JSPAN_NONE ? NULL : &doc->nodes[i];
}

const struct kw_jnode *kw_jspan_first(const kw_jdoc *doc,
                                      const struct kw_jnode *n)
{
	return node_at(doc, n->first);
}

const struct kw_jnode *kw_jspan_next(const kw_jdoc *doc,
                                     const struct kw_jnode *n)
{
	return node_at(doc, n->next);
}

const struct kw_jnode *kw_jspan_parent(const kw_jdoc *doc,
                                       const struct kw_jnode *n)
{
	return node_at(doc, n->parent);
}

/* Encode code point cp as UTF-8 at out; bytes written. */
static size_t put_utf8(char *out, unsigned long cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Decode the checked string body s[0..n) (no quotes) into out, which has
 * n + 1 bytes (no escape grows); returns the length. */
static size_t decode(const char *s, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		if (s[i] != '\\') {
			out[o++] = s[i++];
			continue;
		}
		char c = s[i + 1];
		if (c != 'u') {
			out[o++] = c == 'b' ? '\b' :
			           c == 'f' ? '\f' :
			           c == 'n' ? '\n' :
			           c == 'r' ? '\r' :
			           c == 't' ? '\t' :
			                      c;
			i += 2;
			continue;
		}
		unsigned long cp = (unsigned long)hex4(s + i + 2);
		i += 6;
		if (cp >= 0xd800 && cp <= 0xdbff) {
			unsigned long lo = (unsigned long)hex4(s + i + 2);
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			i += 6;
		}
		o += put_utf8(out + o, cp);
	}
	out[o] = '\0';
	return o;
}

int kw_jspan_string(const kw_jdoc *doc, const struct kw_jnode *n, bool key,
                    char **ret, size_t *ret_len)
{
	uint32_t a = key ? n->key_start : n->start;
	uint32_t b = key ? n->key_end : n->end;

	if ((key && b == 0) || (!key && n->type != KW_JSTRING))
		return KW_EINVAL;
	size_t body = b - a - 2;
	char *out = kw_wipealloc(body + 1);
	if (!out)
		return KW_ENOMEM;
	*ret_len = decode(doc->text + a + 1, body, out);
	*ret = out;
	return 0;
}

bool kw_jspan_string_eq(const kw_jdoc *doc, const struct kw_jnode *n,
                        const char *s)
{
	char *v;
	size_t len;

	if (kw_jspan_string(doc, n, false, &v, &len) != 0)
		return false;
	bool eq = len == strlen(s) && memcmp(v, s, len) == 0;
	kw_wipefree(v);
	return eq;
}

const struct kw_jnode *
kw_jspan_member(const kw_jdoc *doc, const struct kw_jnode *obj, const char *key)
{
	if (obj->type != KW_JOBJECT)
		return NULL;
	for (const struct kw_jnode *c = kw_jspan_first(doc, obj); c;
	     c = kw_jspan_next(doc, c)) {
		char *k;
		size_t len;
		if (kw_jspan_string(doc, c, true, &k, &len) != 0)
			return NULL;
		bool eq = len == strlen(key) && memcmp(k, key, len) == 0;
		kw_wipefree(k);
		if (eq)
			return c;
	}
	return NULL;
}

void kw_jspan_linecol(const kw_jdoc *doc, size_t off, unsigned *ret_line,
                      unsigned *ret_col)
{
	linecol(doc->text, off > doc->len ? doc->len : off, ret_line, ret_col);
}

static int cmp_edits(const void *a, const void *b)
{
	const struct kw_jspan_edit *x = a, *y = b;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->end < y->end ? -1 : x->end > y->end;
}

int kw_jspan_apply(const char *text, size_t len, struct kw_jspan_edit *edits,
                   size_t n, char **ret, size_t *ret_len)
{
	size_t total = len;

	qsort(edits, n, sizeof(*edits), cmp_edits);
	for (size_t i = 0; i < n; i++) {
		const struct kw_jspan_edit *e = &edits[i];
		if (e->start > e->end || e->end > len ||
		    (i > 0 && (edits[i - 1].end > e->start ||
		               edits[i - 1].start == e->start)))
			return KW_EINVAL;
		if (e->len > KW_JSPAN_MAX_BYTES)
			return KW_ETOOBIG;
		total = total - (e->end - e->start) + e->len;
		if (total > KW_JSPAN_MAX_BYTES)
			return KW_ETOOBIG;
	}
	char *out = kw_wipealloc(total + 1);
	if (!out)
		return KW_ENOMEM;
	size_t o = 0, at = 0;
	for (size_t i = 0; i < n; i++) {
		memcpy(out + o, text + at, edits[i].start - at);
		o += edits[i].start - at;
		memcpy(out + o, edits[i].repl, edits[i].len);
		o += edits[i].len;
		at = edits[i].end;
	}
	memcpy(out + o, text + at, len - at);
	o += len - at;
	out[o] = '\0';
	*ret = out;
	*ret_len = o;
	return 0;
}

int kw_jspan_quote(const char *s, size_t len, char **ret, size_t *ret_len)
{
	static const char hex[] = "0123456789abcdef";

	if (len > KW_JSPAN_MAX_BYTES)
		return KW_ETOOBIG;
	char *out = kw_wipealloc(len * 6 + 3);
	if (!out)
		return KW_ENOMEM;
	size_t o = 0;
	out[o++] = '"';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20) {
			memcpy(out + o, "\\u00", 4);
			out[o + 4] = hex[c >> 4];
			out[o + 5] = hex[c & 15];
			o += 6;
		} else {
			out[o++] = (char)c;
		}
	}
	out[o++] = '"';
	out[o] = '\0';
	*ret = out;
	*ret_len = o;
	return 0;
}
