/*
 * apikey.h - the API key text format (docs/protocol.md, "API keys").
 *
 *     kwk_ <body> <check>
 *
 * body: base62 characters [0-9A-Za-z], at least 22 (128 bits); check: 6
 * base62 characters encoding the first 4 bytes (big-endian u32) of
 * BLAKE2b-256("kwk_" || body). The checksum lets a typo be rejected before
 * any lookup, and the fixed prefix lets secret scanners recognise a leaked
 * key. Base62 has neither '_' nor '-', so a key is one "word" for editors
 * and shells.
 */
#ifndef KW_APIKEY_H
#define KW_APIKEY_H

#include <stdbool.h>
#include <stddef.h>

#define KW_APIKEY_PREFIX    "kwk_"
#define KW_APIKEY_CHECK_LEN 6u
#define KW_APIKEY_BODY_MIN  22u
#define KW_APIKEY_BODY_MAX  1024u

/* Characters of body that carry at least `bytes` random bytes of entropy:
 * ceil(bytes * 8 / log2(62)). */
size_t kw_apikey_body_len(size_t bytes);
/*
 * Write a new key with `bytes` of entropy (body length kw_apikey_body_len,
 * at least KW_APIKEY_BODY_MIN) and a NUL into out. *ret_len = strlen.
 * 0, KW_EINVAL (bytes 0 or body too long), KW_ETOOBIG (outsz too small).
 */
int kw_apikey_generate(size_t bytes, char *out, size_t outsz, size_t *ret_len);
/* Is s (len bytes) a well-formed key with a correct checksum? 0 or
 * KW_EINVAL; *why (if not NULL) names the first problem. */
int kw_apikey_check(const char *s, size_t len, const char **why);

#endif
