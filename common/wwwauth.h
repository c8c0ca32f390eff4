/*
 * wwwauth.h - the value of a WWW-Authenticate response header for bearer
 * tokens (RFC 6750 section 3, RFC 9728 section 5.1), as an MCP server
 * sends it with a 401 or 403:
 *
 *     Bearer realm="mcp", error="invalid_token",
 *            error_description="The token has expired.",
 *            resource_metadata="https://h/.well-known/oauth-protected-resource/mcp"
 *
 * (one line; parameters in this order, each only when set). Values are
 * RFC 9110 quoted-strings. What may go in them:
 *   realm              printable ASCII (0x20..0x7E); '"' and '\' are
 *                      escaped with '\'
 *   error_description  RFC 6750: %x20-21 / %x23-5B / %x5D-7E, so no '"' or
 *                      '\' (refused, not escaped: the grammar has no escapes)
 *   scope              RFC 6750 / RFC 6749 3.3: scope-tokens of %x21 /
 *                      %x23-5B / %x5D-7E separated by single spaces
 *   resource_metadata  an absolute http:// or https:// URL of RFC 3986
 *                      characters, without a fragment
 * Each value is at most KW_WWWAUTH_VALUE_MAX bytes and none may be empty.
 * Control characters, non-ASCII bytes and anything else outside these sets
 * are refused, never dropped or escaped, so header injection (CR, LF) cannot
 * happen. Pure: no allocation, no logging.
 */
#ifndef KW_WWWAUTH_H
#define KW_WWWAUTH_H

#include <stddef.h>

#define KW_WWWAUTH_VALUE_MAX 1024u
/* Enough for any header kw_wwwauth_format can produce. */
#define KW_WWWAUTH_MAX (16u + 5u * (24u + 2u * KW_WWWAUTH_VALUE_MAX))

/* The well-known suffix of RFC 9728 section 3. */
#define KW_WWWAUTH_WELL_KNOWN "/.well-known/oauth-protected-resource"

enum kw_wwwauth_error {
	KW_WWWAUTH_NONE = 0,           /* no credentials were sent: no error */
	KW_WWWAUTH_INVALID_REQUEST,    /* 400 */
	KW_WWWAUTH_INVALID_TOKEN,      /* 401 */
	KW_WWWAUTH_INSUFFICIENT_SCOPE, /* 403 */
};

typedef struct kw_wwwauth {
	const char *realm;             /* NULL: omitted */
	enum kw_wwwauth_error error;   /* KW_WWWAUTH_NONE: omitted */
	const char *error_description; /* NULL: omitted */
	const char *scope;             /* NULL: omitted (the scope needed) */
	const char *resource_metadata; /* NULL: omitted */
} kw_wwwauth;

/*
 * Write the header value and a NUL into out; *ret_len = its length.
 * 0, KW_EINVAL (a value outside its set, empty or too long; an unknown
 * error; error_description without error), KW_ETOOBIG (outsz too small).
 * out is untouched on failure.
 */
int kw_wwwauth_format(const kw_wwwauth *w, char *out, size_t outsz,
                      size_t *ret_len);

/*
 * The RFC 9728 section 3.1 metadata URL of a resource identifier: the
 * well-known suffix goes between the authority and the path and query,
 * and a path of just "/" is dropped. For example
 *     https://h/mcp  gives  https://h/.well-known/oauth-protected-resource/mcp
 *     https://h/     gives  https://h/.well-known/oauth-protected-resource
 * The resource must be an http:// or https:// URL without a fragment.
 * Writes a NUL. 0, KW_EINVAL, KW_ETOOBIG.
 */
int kw_wwwauth_metadata_url(const char *resource, char *out, size_t outsz);

#endif
