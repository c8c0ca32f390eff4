/*
 * jwt_aud.c - canonical audience URIs (see jwt.h, "Audience comparison").
 *
 * A small RFC 3986 reader for the one shape a resource indicator has
 * (RFC 8707 section 2: an absolute URI without a fragment). It refuses
 * what it does not normalise rather than guess: userinfo, dot segments,
 * bad escapes, characters outside RFC 3986.
 */
#include "jwt.h"

#include <string.h>

#include "keyward.h"

struct out {
	char *p;
	size_t n;
	size_t cap;
	bool overflow;
};

/* Append c, keeping room for the NUL. */
static void put(struct out *o, char c)
{
	if (o->n + 1 < o->cap)
		o->p[o->n++] = c;
	else
		o->overflow = true;
}

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

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static char upper(char c)
{
	return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

static bool is_unreserved(char c)
{
	return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' ||
	       c == '~';
}

static bool is_pchar(char c)
{
	return is_unreserved(c) || (c != '\0' && strchr("!$&'()*+,;=:@", c));
}

/* scheme "://", lowercased; *ret_default_port is 80 for http, 443 for
 * https, else 0. */
static int read_scheme(const char *uri, size_t len, size_t *i, struct out *o,
                       unsigned *ret_default_port)
{
	size_t start = o->n;

	if (!is_alpha(uri[0]))
		return KW_EINVAL;
	for (*i = 0; *i < len && uri[*i] != ':'; (*i)++) {
		char c = uri[*i];

		if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-' &&
		    c != '.')
			return KW_EINVAL;
		put(o, lower(c));
	}
	if (len - *i < 3 || memcmp(uri + *i, "://", 3) != 0)
		return KW_EINVAL;
	*ret_default_port = 0;
	if (!o->overflow && o->n - start == 4 &&
	    memcmp(o->p + start, "http", 4) == 0)
		*ret_default_port = 80;
	if (!o->overflow && o->n - start == 5 &&
	    memcmp(o->p + start, "https", 5) == 0)
		*ret_default_port = 443;
	put(o, ':');
	put(o, '/');
	put(o, '/');
	*i += 3;
	return 0;
}

/* host [":" port], up to the path, query or end. */
static int read_authority(const char *uri, size_t len, size_t *i, struct out *o,
                          unsigned default_port)
{
	size_t h0;
	unsigned long port = 0;
	size_t digits = 0;

	if (*i < len && uri[*i] == '[') {
		/* IP literal (no zone ids, no IPvFuture). */
		put(o, '[');
		h0 = ++*i;
		for (; *i < len && uri[*i] != ']'; (*i)++) {
			if (!is_hex(uri[*i]) && uri[*i] != ':' &&
			    uri[*i] != '.')
				return KW_EINVAL;
			put(o, lower(uri[*i]));
		}
		if (*i == len || *i == h0)
			return KW_EINVAL;
		put(o, ']');
		(*i)++;
	} else {
		h0 = *i;
		for (; *i < len && uri[*i] != ':' && uri[*i] != '/' &&
		       uri[*i] != '?';
		     (*i)++) {
			if (!is_unreserved(uri[*i]))
				return KW_EINVAL;
			put(o, lower(uri[*i]));
		}
		if (*i == h0)
			return KW_EINVAL;
	}
	if (*i < len && uri[*i] == ':') {
		for ((*i)++; *i < len && is_digit(uri[*i]); (*i)++) {
			port = port * 10 + (unsigned long)(uri[*i] - '0');
			if (port > 65535)
				return KW_EINVAL;
			digits++;
		}
		if (digits > 0 && port != default_port) {
			char buf[6];
			size_t n = 0;

			do {
				buf[n++] = (char)('0' + port % 10);
				port /= 10;
			} while (port);
			put(o, ':');
			while (n)
				put(o, buf[--n]);
		}
	}
	if (*i < len && uri[*i] != '/' && uri[*i] != '?')
		return KW_EINVAL;
	return 0;
}

/* One %HH escape at uri + *i, written with uppercase hex digits. */
static int read_escape(const char *uri, size_t len, size_t *i, struct out *o)
{
	if (len - *i < 3 || !is_hex(uri[*i + 1]) || !is_hex(uri[*i + 2]))
		return KW_EINVAL;
	put(o, '%');
	put(o, upper(uri[*i + 1]));
	put(o, upper(uri[*i + 2]));
	*i += 3;
	return 0;
}

/* Is s[0..n) "." or "..", a dot written as '.' or "%2E"? */
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

static int read_path(const char *uri, size_t len, size_t *i, struct out *o)
{
	size_t start = o->n, seg;

	while (*i < len && uri[*i] != '?') {
		if (uri[*i] == '%') {
			if (read_escape(uri, len, i, o) != 0)
				return KW_EINVAL;
			continue;
		}
		if (uri[*i] != '/' && !is_pchar(uri[*i]))
			return KW_EINVAL;
		put(o, uri[(*i)++]);
	}
	if (o->overflow)
		return 0;
	/* Dot segments: between each '/' and the next one (or the end). */
	for (size_t j = start; j < o->n; j = seg) {
		seg = j + 1;
		while (seg < o->n && o->p[seg] != '/')
			seg++;
		if (dot_segment(o->p + j + 1, seg - j - 1))
			return KW_EINVAL;
	}
	/* Not after another '/': "/a//" would become "/a/", whose own
	 * canonical form is "/a", and a canonical form must be final. */
	if (o->n > start && o->p[o->n - 1] == '/' &&
	    (o->n - start == 1 || o->p[o->n - 2] != '/'))
		o->n--;
	return 0;
}

static int read_query(const char *uri, size_t len, size_t *i, struct out *o)
{
	if (*i == len)
		return 0;
	put(o, uri[(*i)++]);
	while (*i < len) {
		if (uri[*i] == '%') {
			if (read_escape(uri, len, i, o) != 0)
				return KW_EINVAL;
			continue;
		}
		if (!is_pchar(uri[*i]) && uri[*i] != '/' && uri[*i] != '?')
			return KW_EINVAL;
		put(o, uri[(*i)++]);
	}
	return 0;
}

int jwt_audience_canonical(const char *uri, char *out, size_t outsz)
{
	struct out o = { out, 0, outsz, false };
	unsigned default_port;
	size_t len, i = 0;

	if (!uri || !out || outsz == 0)
		return KW_EINVAL;
	len = strnlen(uri, JWT_AUD_MAX + 1);
	if (len == 0 || len > JWT_AUD_MAX)
		return KW_EINVAL;
	if (read_scheme(uri, len, &i, &o, &default_port) != 0 ||
	    read_authority(uri, len, &i, &o, default_port) != 0 ||
	    read_path(uri, len, &i, &o) != 0 ||
	    read_query(uri, len, &i, &o) != 0)
		return KW_EINVAL;
	if (o.overflow)
		return KW_ETOOBIG;
	out[o.n] = '\0';
	return 0;
}

bool jwt_audience_match(const char *a, const char *b)
{
	char ca[JWT_AUD_MAX + 1], cb[JWT_AUD_MAX + 1];

	return jwt_audience_canonical(a, ca, sizeof ca) == 0 &&
	       jwt_audience_canonical(b, cb, sizeof cb) == 0 &&
	       strcmp(ca, cb) == 0;
}
