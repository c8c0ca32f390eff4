/*
 * oauth_impl.h - what the oauth*.c files share and nobody else uses: the
 * why sentences, JSON member readers with the bounds of oauth.h, the
 * character classes of RFC 6749 and RFC 3986, and a URL split into parts.
 */
#ifndef KW_OAUTH_IMPL_H
#define KW_OAUTH_IMPL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "oauth.h"

/* why[0] = '\0' if there is room. */
void oauth_why_clear(char *why, size_t whysz);
/* Fill why (if whysz > 0) and return err: `return oauth_fail(...)`. */
__attribute__((format(printf, 4, 5))) int
oauth_fail(int err, char *why, size_t whysz, const char *fmt, ...);

/* RFC 6749 error and error_description bytes: %x20-21 / %x23-5B / %x5D-7E. */
bool oauth_error_char(unsigned char c);
/* s[0..n) is an error code: 1..KW_OAUTH_ERROR_MAX error bytes. */
bool oauth_error_code_ok(const char *s, size_t n);
/* s[0..n) made into a description: bytes outside the error set become
 * '?' (a whole UTF-8 sequence one '?'), cut to KW_OAUTH_DESC_MAX. */
void oauth_describe(const char *s, size_t n,
                    char out[static KW_OAUTH_DESC_MAX + 1]);
/* Every byte of s[0..n) in lo..hi. */
bool oauth_bytes_in(const char *s, size_t n, unsigned char lo,
                    unsigned char hi);

/* body[0..len) as a JSON object (size checked first, duplicates refused).
 * 0 or KW_EINVAL / KW_ETOOBIG / KW_ENOMEM with why. */
int oauth_json_object(const char *body, size_t len, json_t **ret_obj, char *why,
                      size_t whysz);
/* The member key of obj, NULL if absent or null. */
json_t *oauth_member(const json_t *obj, const char *key);
/* A string member that may be a secret: 1..KW_OAUTH_TOKEN_MAX bytes of
 * 0x21..0x7e, copied into kw_wipealloc memory. Absent: 0 and *ret NULL. */
int oauth_json_secret(const json_t *obj, const char *key, char **ret,
                      size_t *ret_len, char *why, size_t whysz);
/* A string member of lo..hi bytes, 1..max of them, copied with a NUL
 * into out[max + 1]. Absent: 0 and *ret_present false. */
int oauth_json_text(const json_t *obj, const char *key, size_t max,
                    unsigned char lo, unsigned char hi, char *out,
                    bool *ret_present, char *why, size_t whysz);
/* A JSON value that must be a URL string, copied into out; what names it
 * in why. */
int oauth_url_value(const json_t *v, const char *what,
                    char out[static KW_OAUTH_URL_MAX + 1], char *why,
                    size_t whysz);
/* A URL member, copied into out. Absent: 0 and out "". */
int oauth_json_url(const json_t *obj, const char *key,
                   char out[static KW_OAUTH_URL_MAX + 1], char *why,
                   size_t whysz);
/* A number of seconds min..max: an integer, or a string of 1..10 decimal
 * digits. Absent: 0 and *ret_value untouched. */
int oauth_json_seconds(const json_t *obj, const char *key, int64_t min,
                       int64_t max, int64_t *ret_value, char *why,
                       size_t whysz);

/* A URL kw_oauth_url_check accepts, in parts (offsets into it). */
struct oauth_url {
	size_t len;
	bool https;
	size_t host, host_len; /* an IPv6 literal with its brackets */
	unsigned port;         /* the effective port: 80 / 443 if absent */
	size_t port_digits;    /* offset of the port's digits, 0 if absent */
	size_t port_len;
	size_t path;  /* end of the authority: '/', '?' or len */
	size_t query; /* offset of the '?', or len */
};
int oauth_url_split(const char *url, struct oauth_url *ret, char *why,
                    size_t whysz);

#endif
