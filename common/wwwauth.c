/*
 * wwwauth.c - WWW-Authenticate values for bearer tokens (see wwwauth.h).
 */
#include "wwwauth.h"

#include <stdbool.h>
#include <string.h>

#include "keyward.h"
#include "scope.h"

/* An output that only counts while p is NULL. */
struct emit {
	char *p;
	size_t n;
};

static void emit_bytes(struct emit *e, const char *s, size_t n)
{
	if (e->p)
		memcpy(e->p + e->n, s, n);
	e->n += n;
}

static void emit_str(struct emit *e, const char *s)
{
	emit_bytes(e, s, strlen(s));
}

/* name="value", escaping '"' and '\' (only realm can contain them). */
static void emit_param(struct emit *e, const char *name, const char *value)
{
	emit_str(e, e->n > strlen("Bearer") ? ", " : " ");
	emit_str(e, name);
	emit_str(e, "=\"");
	for (const char *s = value; *s; s++) {
		if (*s == '"' || *s == '\\')
			emit_bytes(e, "\\", 1);
		emit_bytes(e, s, 1);
	}
	emit_str(e, "\"");
}

/* Length of s if 1..KW_WWWAUTH_VALUE_MAX, else 0. */
static size_t value_len(const char *s)
{
	size_t n = strnlen(s, KW_WWWAUTH_VALUE_MAX + 1);

	return n > KW_WWWAUTH_VALUE_MAX ? 0 : n;
}

static bool realm_ok(const char *s)
{
	size_t n = value_len(s);

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}

/* RFC 6750: %x20-21 / %x23-5B / %x5D-7E. */
static bool description_ok(const char *s)
{
	size_t n = value_len(s);

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e || s[i] == '"' || s[i] == '\\')
			return false;
	return true;
}

/* Offset of the authority's end if s is an http(s) URL of RFC 3986
 * characters without a fragment and with a host; else 0. */
static size_t url_authority_end(const char *s)
{
	size_t n = value_len(s), i;

	if (n == 0)
		return 0;
	if (strncmp(s, "https://", 8) == 0)
		i = 8;
	else if (strncmp(s, "http://", 7) == 0)
		i = 7;
	else
		return 0;
	for (size_t j = 0; j < n; j++) {
		char c = s[j];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') ||
		          (c != '\0' && strchr("-._~:/?[]@!$&'()*+,;=%", c));

		if (!ok)
			return 0;
	}
	if (i == n || s[i] == '/' || s[i] == '?')
		return 0;
	while (i < n && s[i] != '/' && s[i] != '?')
		i++;
	return i;
}

static const char *error_code(enum kw_wwwauth_error err)
{
	switch (err) {
	case KW_WWWAUTH_INVALID_REQUEST:
		return "invalid_request";
	case KW_WWWAUTH_INVALID_TOKEN:
		return "invalid_token";
	case KW_WWWAUTH_INSUFFICIENT_SCOPE:
		return "insufficient_scope";
	case KW_WWWAUTH_NONE:
		break;
	}
	return NULL;
}

static void emit_header(struct emit *e, const kw_wwwauth *w)
{
	emit_str(e, "Bearer");
	if (w->realm)
		emit_param(e, "realm", w->realm);
	if (w->error != KW_WWWAUTH_NONE)
		emit_param(e, "error", error_code(w->error));
	if (w->error_description)
		emit_param(e, "error_description", w->error_description);
	if (w->scope)
		emit_param(e, "scope", w->scope);
	if (w->resource_metadata)
		emit_param(e, "resource_metadata", w->resource_metadata);
}

int kw_wwwauth_format(const kw_wwwauth *w, char *out, size_t outsz,
                      size_t *ret_len)
{
	struct emit e = { NULL, 0 };

	if (!w || !out || !ret_len)
		return KW_EINVAL;
	if (w->error != KW_WWWAUTH_NONE && !error_code(w->error))
		return KW_EINVAL;
	if ((w->realm && !realm_ok(w->realm)) ||
	    (w->error_description && (w->error == KW_WWWAUTH_NONE ||
	                              !description_ok(w->error_description))) ||
	    (w->scope && !kw_scope_list_valid(w->scope, value_len(w->scope),
	                                      KW_WWWAUTH_VALUE_MAX,
	                                      KW_WWWAUTH_VALUE_MAX)) ||
	    (w->resource_metadata &&
	     url_authority_end(w->resource_metadata) == 0))
		return KW_EINVAL;
	emit_header(&e, w);
	if (e.n >= outsz)
		return KW_ETOOBIG;
	e.p = out;
	e.n = 0;
	emit_header(&e, w);
	out[e.n] = '\0';
	*ret_len = e.n;
	return 0;
}

int kw_wwwauth_metadata_url(const char *resource, char *out, size_t outsz)
{
	size_t auth_end, n, rest, wk = strlen(KW_WWWAUTH_WELL_KNOWN);
	const char *tail;

	if (!resource || !out)
		return KW_EINVAL;
	auth_end = url_authority_end(resource);
	if (auth_end == 0)
		return KW_EINVAL;
	n = strlen(resource);
	tail = resource + auth_end;
	/* A path of just "/" is the root: no suffix after the well-known. */
	if (tail[0] == '/' && (tail[1] == '\0' || tail[1] == '?'))
		tail++;
	rest = n - (size_t)(tail - resource);
	if (auth_end + wk + rest >= outsz)
		return KW_ETOOBIG;
	memcpy(out, resource, auth_end);
	memcpy(out + auth_end, KW_WWWAUTH_WELL_KNOWN, wk);
	memcpy(out + auth_end + wk, tail, rest + 1);
	return 0;
}
