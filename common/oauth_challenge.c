/*
 * oauth_challenge.c - the client's reading of WWW-Authenticate (oauth.h):
 * RFC 9110 section 11.6.1 challenges, of which the Bearer one (RFC 6750
 * section 3, RFC 9728 section 5.1) is kept.
 *
 *   WWW-Authenticate = #challenge
 *   challenge   = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
 *   auth-param  = token BWS "=" BWS ( token / quoted-string )
 *   token68     = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" )
 *                 *"="
 *
 * Commas separate both challenges and the parameters of one, so after a
 * comma the next item is a parameter if it reads `token BWS "="` (and not
 * `"=" "="`, which ends a token68), and a new challenge otherwise. Any
 * byte outside this grammar makes the whole value malformed.
 */
#include "oauth.h"

#include <string.h>
#include <strings.h>

#include "oauth_impl.h"
#include "scope.h"

struct lex {
	const char *s;
	size_t n, i;
};

static bool is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

static bool is_tchar(unsigned char c)
{
	return is_alnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_t68char(unsigned char c)
{
	return is_alnum(c) || (c != '\0' && strchr("-._~+/", c));
}

static bool at(const struct lex *l, char c)
{
	return l->i < l->n && l->s[l->i] == c;
}

static size_t ows(struct lex *l)
{
	size_t from = l->i;

	while (l->i < l->n && (l->s[l->i] == ' ' || l->s[l->i] == '\t'))
		l->i++;
	return l->i - from;
}

/* Commas and blanks between list elements (empty elements allowed). */
static void separators(struct lex *l)
{
	ows(l);
	while (at(l, ',')) {
		l->i++;
		ows(l);
	}
}

static size_t token(struct lex *l)
{
	size_t from = l->i;

	while (l->i < l->n && is_tchar((unsigned char)l->s[l->i]))
		l->i++;
	return l->i - from;
}

/* Does an auth-param start here (token BWS "=" BWS, then a value)? */
static bool param_ahead(const struct lex *l)
{
	struct lex k = *l;

	if (token(&k) == 0)
		return false;
	ows(&k);
	if (!at(&k, '='))
		return false;
	k.i++;
	ows(&k);
	return k.i < k.n && k.s[k.i] != ',' && k.s[k.i] != '=';
}

/* A token or quoted-string value, unescaped into out (at most l->n
 * bytes); *ret_len its length. */
static int value(struct lex *l, char *out, size_t *ret_len)
{
	size_t o = 0;

	if (!at(l, '"')) {
		size_t from = l->i, n = token(l);

		if (n == 0)
			return KW_EINVAL;
		memcpy(out, l->s + from, n);
		*ret_len = n;
		return 0;
	}
	for (l->i++; l->i < l->n; l->i++) {
		unsigned char c = (unsigned char)l->s[l->i];

		if (c == '"') {
			l->i++;
			*ret_len = o;
			return 0;
		}
		if (c == '\\') {
			if (++l->i == l->n)
				return KW_EINVAL;
			c = (unsigned char)l->s[l->i];
		}
		/* qdtext and quoted-pair: HTAB, SP, VCHAR, obs-text. */
		if (c != '\t' && (c < 0x20 || c == 0x7f))
			return KW_EINVAL;
		out[o++] = (char)c;
	}
	return KW_EINVAL;
}

enum bearer_param { BP_REALM, BP_ERROR, BP_DESC, BP_SCOPE, BP_RM, BP_COUNT };
static const char *const bp_names[BP_COUNT] = {
	"realm", "error", "error_description", "scope", "resource_metadata",
};

static int copy_checked(char *field, size_t max, const char *v, size_t n)
{
	if (n > max)
		return KW_ETOOBIG;
	memcpy(field, v, n);
	field[n] = '\0';
	return 0;
}

/* name[0..nlen) = v[0..n) of the Bearer challenge into c. */
static int bearer_param(kw_oauth_challenge *c, bool seen[static BP_COUNT],
                        const char *name, size_t nlen, const char *v, size_t n)
{
	int p, r;

	for (p = 0; p < BP_COUNT; p++)
		if (strlen(bp_names[p]) == nlen &&
		    strncasecmp(bp_names[p], name, nlen) == 0)
			break;
	if (p == BP_COUNT)
		return 0;
	if (seen[p])
		return KW_EINVAL;
	seen[p] = true;
	switch ((enum bearer_param)p) {
	case BP_ERROR:
		r = copy_checked(c->error, KW_OAUTH_ERROR_MAX, v, n);
		if (r == 0 && !oauth_error_code_ok(v, n))
			r = KW_EINVAL;
		return r;
	case BP_DESC:
		oauth_describe(v, n, c->description);
		return 0;
	case BP_SCOPE:
		r = copy_checked(c->scope, KW_OAUTH_SCOPE_MAX, v, n);
		if (r == 0 && !kw_scope_list_valid(v, n, KW_OAUTH_SCOPE_MAX,
		                                   KW_OAUTH_SCOPE_MAX))
			r = KW_EINVAL;
		return r;
	case BP_RM:
		r = copy_checked(c->resource_metadata, KW_OAUTH_URL_MAX, v, n);
		if (r == 0)
			r = kw_oauth_url_check(c->resource_metadata, NULL, 0);
		return r;
	case BP_REALM:
	case BP_COUNT:
		break;
	}
	return 0;
}

/* What follows a challenge's scheme, up to the next challenge. c is NULL
 * for a challenge other than the first Bearer one. */
static int challenge_rest(struct lex *l, kw_oauth_challenge *c, char *buf)
{
	bool seen[BP_COUNT] = { false };
	size_t blanks = ows(l), nfrom, nlen, vlen;
	int r;

	if (l->i == l->n || at(l, ',')) {
		separators(l);
		return 0;
	}
	if (blanks == 0)
		return KW_EINVAL;
	if (!param_ahead(l)) {
		/* token68 */
		size_t from = l->i;

		while (l->i < l->n && is_t68char((unsigned char)l->s[l->i]))
			l->i++;
		if (l->i == from)
			return KW_EINVAL;
		while (at(l, '='))
			l->i++;
		ows(l);
		if (l->i < l->n && !at(l, ','))
			return KW_EINVAL;
		separators(l);
		return 0;
	}
	do {
		nfrom = l->i;
		nlen = token(l);
		ows(l);
		l->i++; /* the '=' param_ahead saw */
		ows(l);
		if (value(l, buf, &vlen) != 0)
			return KW_EINVAL;
		if (c) {
			r = bearer_param(c, seen, l->s + nfrom, nlen, buf,
			                 vlen);
			if (r != 0)
				return r;
		}
		ows(l);
		if (l->i < l->n && !at(l, ','))
			return KW_EINVAL;
		separators(l);
	} while (param_ahead(l));
	return 0;
}

static int challenges(struct lex *l, kw_oauth_challenge *c, char *buf)
{
	separators(l);
	if (l->i == l->n)
		return KW_EINVAL;
	while (l->i < l->n) {
		size_t from = l->i, n = token(l);
		bool bearer = !c->bearer && n == 6 &&
		              strncasecmp(l->s + from, "Bearer", 6) == 0;
		int r;

		if (n == 0)
			return KW_EINVAL;
		r = challenge_rest(l, bearer ? c : NULL, buf);
		if (r != 0)
			return r;
		if (bearer)
			c->bearer = true;
	}
	return 0;
}

int kw_oauth_challenge_parse(const char *value, size_t len,
                             kw_oauth_challenge *ret)
{
	char buf[KW_OAUTH_WWWAUTH_MAX];
	kw_oauth_challenge c = { 0 };
	struct lex l = { value, len, 0 };
	int r;

	if (!ret || (!value && len > 0))
		return KW_EINVAL;
	if (len > KW_OAUTH_WWWAUTH_MAX)
		return KW_ETOOBIG;
	r = challenges(&l, &c, buf);
	if (r == 0)
		*ret = c;
	return r;
}
