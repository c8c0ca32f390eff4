/*
 * oauth_url.c - the URLs an OAuth client handles: which it accepts,
 * origins, the canonical resource URI and the metadata locations of an
 * issuer (oauth.h).
 *
 * One shape only, deliberately narrow: http(s), a host name or IPv6
 * literal, an optional port, a path and query of RFC 3986 characters.
 * Userinfo and fragments are refused rather than dropped: neither has a
 * place in an endpoint, and both are classic ways to make two parsers
 * disagree about the host.
 */
#include "oauth.h"

#include <string.h>
#include <strings.h>

#include "oauth_impl.h"

#define WK_OAUTH "/.well-known/oauth-authorization-server"
#define WK_OIDC  "/.well-known/openid-configuration"

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_unreserved(char c)
{
	return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' ||
	       c == '~';
}

/* RFC 3986 section 2 but '#': unreserved, reserved and '%'. */
static bool is_uri_char(char c)
{
	return is_unreserved(c) ||
	       (c != '\0' && strchr(":/?[]@!$&'()*+,;=%", c) != NULL);
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static char upper(char c)
{
	return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

static int check_chars(const char *url, size_t n, char *why, size_t whysz)
{
	for (size_t i = 0; i < n; i++) {
		if (url[i] == '#')
			return oauth_fail(KW_EINVAL, why, whysz,
			                  "the URL has a fragment");
		if (!is_uri_char(url[i]))
			return oauth_fail(KW_EINVAL, why, whysz,
			                  "the URL has a character outside "
			                  "RFC 3986");
		if (url[i] == '%' &&
		    (n - i < 3 || !is_hex(url[i + 1]) || !is_hex(url[i + 2])))
			return oauth_fail(KW_EINVAL, why, whysz,
			                  "the URL has a malformed %%-escape");
	}
	return 0;
}

/* Host and port of u, from *i up to u->path. */
static int split_authority(const char *url, size_t *i, struct oauth_url *u,
                           char *why, size_t whysz)
{
	unsigned long port = 0;
	size_t j = *i;

	u->host = j;
	if (url[j] == '[') {
		for (j++; j < u->path &&
		          (is_hex(url[j]) || url[j] == ':' || url[j] == '.');
		     j++)
			;
		if (j == u->host + 1 || j == u->path || url[j] != ']')
			return oauth_fail(KW_EINVAL, why, whysz,
			                  "the URL's IPv6 host is malformed");
		j++;
	} else {
		while (j < u->path && is_unreserved(url[j]))
			j++;
		if (j == u->host)
			return oauth_fail(KW_EINVAL, why, whysz,
			                  "the URL has no host");
	}
	u->host_len = j - u->host;
	u->port = u->https ? 443 : 80;
	if (j < u->path && url[j] == ':') {
		u->port_digits = ++j;
		while (j < u->path && is_digit(url[j]) &&
		       j - u->port_digits < 5)
			port = port * 10 + (unsigned long)(url[j++] - '0');
		u->port_len = j - u->port_digits;
		if (u->port_len == 0 || port == 0 || port > 65535 ||
		    (j < u->path && is_digit(url[j])))
			return oauth_fail(KW_EINVAL, why, whysz,
			                  "the URL's port is not 1 to 65535");
		u->port = (unsigned)port;
	}
	if (j != u->path)
		return oauth_fail(KW_EINVAL, why, whysz,
		                  "the URL's host has a character outside "
		                  "[A-Za-z0-9-._~]");
	*i = j;
	return 0;
}

int oauth_url_split(const char *url, struct oauth_url *ret, char *why,
                    size_t whysz)
{
	struct oauth_url u = { 0 };
	size_t i;
	int r;

	if (!url)
		return oauth_fail(KW_EINVAL, why, whysz, "no URL");
	u.len = strnlen(url, KW_OAUTH_URL_MAX + 1);
	if (u.len == 0)
		return oauth_fail(KW_EINVAL, why, whysz, "the URL is empty");
	if (u.len > KW_OAUTH_URL_MAX)
		return oauth_fail(KW_ETOOBIG, why, whysz,
		                  "the URL is longer than %u bytes",
		                  KW_OAUTH_URL_MAX);
	r = check_chars(url, u.len, why, whysz);
	if (r != 0)
		return r;
	if (u.len >= 8 && strncasecmp(url, "https://", 8) == 0) {
		u.https = true;
		i = 8;
	} else if (u.len >= 7 && strncasecmp(url, "http://", 7) == 0) {
		i = 7;
	} else {
		return oauth_fail(KW_EINVAL, why, whysz,
		                  "the URL is not http:// or https://");
	}
	u.path = i + strcspn(url + i, "/?");
	if (memchr(url + i, '@', u.path - i))
		return oauth_fail(KW_EINVAL, why, whysz,
		                  "the URL has userinfo (an '@' before the "
		                  "host)");
	r = split_authority(url, &i, &u, why, whysz);
	if (r != 0)
		return r;
	if (strcspn(url + u.path, "[]") != u.len - u.path)
		return oauth_fail(KW_EINVAL, why, whysz,
		                  "the URL has '[' or ']' outside its host");
	u.query = u.path + strcspn(url + u.path, "?");
	*ret = u;
	return 0;
}

int kw_oauth_url_check(const char *url, char *why, size_t whysz)
{
	struct oauth_url u;

	oauth_why_clear(why, whysz);
	return oauth_url_split(url, &u, why, whysz);
}

bool kw_oauth_same_origin(const char *a, const char *b)
{
	struct oauth_url ua, ub;

	return oauth_url_split(a, &ua, NULL, 0) == 0 &&
	       oauth_url_split(b, &ub, NULL, 0) == 0 && ua.https == ub.https &&
	       ua.port == ub.port && ua.host_len == ub.host_len &&
	       strncasecmp(a + ua.host, b + ub.host, ua.host_len) == 0;
}

/* Copy url[from..to) to out + *o, hex digits of escapes in upper case. */
static void copy_escaped(const char *url, size_t from, size_t to, char *out,
                         size_t *o)
{
	for (size_t i = from; i < to; i++) {
		out[(*o)++] = url[i];
		if (url[i] == '%') {
			out[(*o)++] = upper(url[i + 1]);
			out[(*o)++] = upper(url[i + 2]);
			i += 2;
		}
	}
}

/* Is s[0..n) "." or "..", each dot written '.' or "%2E"? */
static bool dot_segment(const char *s, size_t n)
{
	size_t dots = 0;

	for (size_t i = 0; i < n; dots++) {
		if (s[i] == '.')
			i++;
		else if (n - i >= 3 && memcmp(s + i, "%2E", 3) == 0)
			i += 3;
		else
			return false;
	}
	return dots == 1 || dots == 2;
}

/* The canonical path (already copied at out[start..*o)): no dot segment,
 * one trailing '/' dropped unless it follows another '/' ("/a//" would
 * become "/a/", not final). */
static int canonical_path(char *out, size_t start, size_t *o)
{
	for (size_t j = start, seg; j < *o; j = seg) {
		seg = j + 1;
		while (seg < *o && out[seg] != '/')
			seg++;
		if (dot_segment(out + j + 1, seg - j - 1))
			return KW_EINVAL;
	}
	if (*o > start && out[*o - 1] == '/' &&
	    (*o - start == 1 || out[*o - 2] != '/'))
		(*o)--;
	return 0;
}

int kw_oauth_canonical_resource(const char *url, char *out, size_t outsz)
{
	char buf[KW_OAUTH_URL_MAX + 1];
	struct oauth_url u;
	size_t o = 0, start;
	int r;

	if (!url || !out)
		return KW_EINVAL;
	r = oauth_url_split(url, &u, NULL, 0);
	if (r != 0)
		return r;
	/* Never longer than url: buf is large enough. */
	memcpy(buf, u.https ? "https://" : "http://", u.https ? 8 : 7);
	o = u.https ? 8 : 7;
	for (size_t i = 0; i < u.host_len; i++)
		buf[o++] = lower(url[u.host + i]);
	if (u.port_len > 0 && u.port != (u.https ? 443u : 80u)) {
		char digits[6];
		size_t n = 0;

		for (unsigned p = u.port; p > 0; p /= 10)
			digits[n++] = (char)('0' + p % 10);
		buf[o++] = ':';
		while (n > 0)
			buf[o++] = digits[--n];
	}
	start = o;
	copy_escaped(url, u.path, u.query, buf, &o);
	if (canonical_path(buf, start, &o) != 0)
		return KW_EINVAL;
	copy_escaped(url, u.query, u.len, buf, &o);
	if (o >= outsz)
		return KW_ETOOBIG;
	memcpy(out, buf, o);
	out[o] = '\0';
	return 0;
}

/* Split an issuer: the end of its authority and the length of its path
 * without one trailing '/'. */
static int issuer_parts(const char *issuer, size_t *ret_auth,
                        size_t *ret_path_len)
{
	struct oauth_url u;
	size_t plen;
	int r;

	r = oauth_url_split(issuer, &u, NULL, 0);
	if (r != 0)
		return r;
	if (u.query != u.len)
		return KW_EINVAL;
	plen = u.len - u.path;
	if (plen > 0 && issuer[u.len - 1] == '/')
		plen--;
	*ret_auth = u.path;
	*ret_path_len = plen;
	return 0;
}

int kw_oauth_well_known(const char *issuer, enum kw_oauth_wellknown kind,
                        char *out, size_t outsz)
{
	const char *wk = kind == KW_OAUTH_WK_OAUTH ? WK_OAUTH : WK_OIDC;
	size_t auth, plen, wkn = strlen(wk);
	int r;

	if (!issuer || !out ||
	    (kind != KW_OAUTH_WK_OAUTH && kind != KW_OAUTH_WK_OIDC_INSERT &&
	     kind != KW_OAUTH_WK_OIDC_APPEND))
		return KW_EINVAL;
	r = issuer_parts(issuer, &auth, &plen);
	if (r != 0)
		return r;
	if (auth + wkn + plen >= outsz)
		return KW_ETOOBIG;
	if (kind == KW_OAUTH_WK_OIDC_APPEND) {
		memcpy(out, issuer, auth + plen);
		memcpy(out + auth + plen, wk, wkn);
	} else {
		memcpy(out, issuer, auth);
		memcpy(out + auth, wk, wkn);
		memcpy(out + auth + wkn, issuer + auth, plen);
	}
	out[auth + wkn + plen] = '\0';
	return 0;
}

int kw_oauth_discovery_order(
	const char *issuer,
	enum kw_oauth_wellknown ret_kinds[static KW_OAUTH_WK_COUNT],
	size_t *ret_n)
{
	size_t auth, plen;
	int r;

	if (!issuer || !ret_kinds || !ret_n)
		return KW_EINVAL;
	r = issuer_parts(issuer, &auth, &plen);
	if (r != 0)
		return r;
	ret_kinds[0] = KW_OAUTH_WK_OAUTH;
	ret_kinds[1] = KW_OAUTH_WK_OIDC_INSERT;
	ret_kinds[2] = KW_OAUTH_WK_OIDC_APPEND;
	*ret_n = plen > 0 ? 3 : 2;
	return 0;
}
