/*
 * dotenv.c - see dotenv.h. A single pass over the text with a cursor;
 * each value is measured first, then decoded into memory of its size.
 */
#include "dotenv.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyward.h"
#include "secmem.h"

struct cursor {
	const char *s;
	size_t len, i;
	unsigned line;
	char *why;
	size_t why_size;
};

__attribute__((format(printf, 3, 4))) static int
fail(struct cursor *c, unsigned line, const char *fmt, ...)
{
	char what[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (c->why_size)
		snprintf(c->why, c->why_size, "line %u: %s", line, what);
	return KW_EINVAL;
}

static int peek(const struct cursor *c)
{
	return c->i < c->len ? (unsigned char)c->s[c->i] : -1;
}

static bool blank(int ch)
{
	return ch == ' ' || ch == '\t';
}

static void skip_blanks(struct cursor *c)
{
	while (blank(peek(c)))
		c->i++;
}

/* At the end of a line: LF, CR LF, or the end of the text. */
static bool at_eol(const struct cursor *c)
{
	int ch = peek(c);
	return ch < 0 || ch == '\n' ||
	       (ch == '\r' && c->i + 1 < c->len && c->s[c->i + 1] == '\n');
}

static void eat_eol(struct cursor *c)
{
	if (peek(c) == '\r')
		c->i++;
	if (peek(c) == '\n') {
		c->i++;
		c->line++;
	}
}

static void skip_comment(struct cursor *c)
{
	while (!at_eol(c))
		c->i++;
}

static bool name_start(int ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
	       ch == '_';
}

static bool name_char(int ch)
{
	return name_start(ch) || (ch >= '0' && ch <= '9');
}

bool kw_dotenv_name_valid(const char *s, size_t n)
{
	if (n == 0 || n > KW_DOTENV_NAME_MAX ||
	    !name_start((unsigned char)s[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!name_char((unsigned char)s[i]))
			return false;
	return true;
}

/* "export" and a blank before a name: the shell's prefix, not a name. */
static void skip_export(struct cursor *c)
{
	static const char kw[] = "export";
	size_t n = sizeof(kw) - 1, j = c->i + n;

	if (c->len - c->i <= n || memcmp(c->s + c->i, kw, n) != 0 ||
	    !blank((unsigned char)c->s[j]))
		return;
	while (j < c->len && blank((unsigned char)c->s[j]))
		j++;
	if (j < c->len && name_start((unsigned char)c->s[j]))
		c->i = j;
}

static int parse_name(struct cursor *c, char **ret_name)
{
	size_t start = c->i;

	if (!name_start(peek(c)))
		return fail(c, c->line,
		            "expected NAME=VALUE, NAME being a letter or '_' "
		            "then letters, digits or '_'");
	while (name_char(peek(c)))
		c->i++;
	size_t n = c->i - start;
	if (n > KW_DOTENV_NAME_MAX)
		return fail(c, c->line, "the name is longer than %u bytes",
		            KW_DOTENV_NAME_MAX);
	skip_blanks(c);
	if (peek(c) != '=')
		return fail(c, c->line,
		            "expected '=' after the name (names are letters, "
		            "digits and '_')");
	c->i++;
	char *name = malloc(n + 1);
	if (!name)
		return KW_ENOMEM;
	memcpy(name, c->s + start, n);
	name[n] = '\0';
	*ret_name = name;
	return 0;
}

static char *value_alloc(size_t n)
{
	char *v = kw_wipealloc(n + 1);
	if (v)
		v[n] = '\0';
	return v;
}

/* An unquoted value: to the end of the line or a comment, trimmed. */
static int parse_bare(struct cursor *c, char **ret, size_t *ret_len)
{
	size_t start = c->i, end;

	/* The blank before a comment may be the one after the '='. */
	while (!at_eol(c) && !(peek(c) == '#' && c->i > 0 &&
	                       blank((unsigned char)c->s[c->i - 1])))
		c->i++;
	end = c->i;
	while (end > start && blank((unsigned char)c->s[end - 1]))
		end--;
	skip_comment(c);
	char *v = value_alloc(end - start);
	if (!v)
		return KW_ENOMEM;
	memcpy(v, c->s + start, end - start);
	*ret = v;
	*ret_len = end - start;
	return 0;
}

static int unescape(int ch)
{
	switch (ch) {
	case 'n':
		return '\n';
	case 'r':
		return '\r';
	case 't':
		return '\t';
	case '\\':
	case '"':
	case '\'':
	case '$':
		return ch;
	default:
		return -1; /* kept as written, backslash and all */
	}
}

/* A quoted value; the cursor is on the opening quote. Lines inside it
 * count; a CR stays a CR in here. */
static int parse_quoted(struct cursor *c, char **ret, size_t *ret_len)
{
	const char q = c->s[c->i];
	unsigned opened = c->line;
	size_t start = ++c->i, j = start;

	/* Find the closing quote; the decoded value is no longer than the
	 * bytes up to it. */
	while (j < c->len && c->s[j] != q) {
		if (q == '"' && c->s[j] == '\\' && j + 1 < c->len)
			j++;
		j++;
	}
	if (j >= c->len)
		return fail(c, opened, "the %s quote opened here is not closed",
		            q == '"' ? "double" : "single");
	char *v = value_alloc(j - start);
	if (!v)
		return KW_ENOMEM;
	size_t n = 0;
	for (size_t k = start; k < j; k++) {
		char ch = c->s[k];
		if (ch == '\n')
			c->line++;
		if (q == '"' && ch == '\\') {
			int e = unescape((unsigned char)c->s[k + 1]);
			if (e >= 0) {
				v[n++] = (char)e;
				k++;
				continue;
			}
		}
		v[n++] = ch;
	}
	v[n] = '\0';
	c->i = j + 1;
	skip_blanks(c);
	if (peek(c) == '#')
		skip_comment(c);
	if (!at_eol(c)) {
		kw_wipefree(v);
		return fail(c, c->line,
		            "only a comment may follow the closing quote");
	}
	*ret = v;
	*ret_len = n;
	return 0;
}

static void entries_free(kw_dotenv_entry *e, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		free(e[k].name);
		kw_wipefree(e[k].value);
	}
	free(e);
}

void kw_dotenv_free(kw_dotenv *env)
{
	if (!env)
		return;
	entries_free(env->entries, env->count);
	free(env);
}

/* One assignment; the cursor is on its first non-blank byte. */
static int parse_entry(struct cursor *c, kw_dotenv_entry *e)
{
	e->line = c->line;
	skip_export(c);
	int r = parse_name(c, &e->name);
	if (r < 0)
		return r;
	skip_blanks(c);
	int ch = peek(c);
	if (ch == '"' || ch == '\'')
		r = parse_quoted(c, &e->value, &e->value_len);
	else
		r = parse_bare(c, &e->value, &e->value_len);
	if (r < 0) {
		free(e->name);
		e->name = NULL;
	}
	return r;
}

int kw_dotenv_parse(const char *text, size_t len, kw_dotenv **ret_env,
                    char *why, size_t why_size)
{
	struct cursor c = { .s = text,
		            .len = len,
		            .line = 1,
		            .why = why,
		            .why_size = why_size };
	kw_dotenv_entry *v = NULL;
	size_t n = 0, cap = 0;
	int r = 0;

	if (why_size)
		why[0] = '\0';
	if ((!text && len) || !ret_env)
		return KW_EINVAL;
	if (len > KW_DOTENV_MAX_BYTES) {
		if (why_size)
			snprintf(why, why_size, "larger than %u bytes",
			         KW_DOTENV_MAX_BYTES);
		return KW_ETOOBIG;
	}
	const char *nul = len ? memchr(text, '\0', len) : NULL;
	if (nul) {
		unsigned line = 1;
		for (const char *p = text; p < nul; p++)
			line += *p == '\n';
		return fail(&c, line, "a NUL byte (not a text file?)");
	}
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		c.i = 3;
	while (r == 0 && c.i < c.len) {
		skip_blanks(&c);
		if (peek(&c) == '#')
			skip_comment(&c);
		if (at_eol(&c)) {
			eat_eol(&c);
			continue;
		}
		if (n == KW_DOTENV_ENTRIES_MAX) {
			if (why_size)
				snprintf(why, why_size,
				         "more than %u assignments",
				         KW_DOTENV_ENTRIES_MAX);
			r = KW_ETOOBIG;
			break;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			kw_dotenv_entry *nv = realloc(v, ncap * sizeof(*nv));
			if (!nv) {
				r = KW_ENOMEM;
				break;
			}
			v = nv;
			cap = ncap;
		}
		memset(&v[n], 0, sizeof(v[n]));
		r = parse_entry(&c, &v[n]);
		if (r == 0) {
			n++;
			eat_eol(&c);
		}
	}
	kw_dotenv *env = r == 0 ? malloc(sizeof(*env)) : NULL;
	if (!env) {
		entries_free(v, n);
		return r < 0 ? r : KW_ENOMEM;
	}
	env->entries = v;
	env->count = n;
	*ret_env = env;
	return 0;
}
