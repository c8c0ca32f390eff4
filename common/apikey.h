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
 *
 * Managed keys (apikey.create, docs/protocol.md) carry a public id:
 *
 *     kwk_ <id> _ <secret> <check>
 *
 * id: 12 base62 characters (the lookup key, shown by apikey.list and in
 * audit rows); secret: 43 base62 characters (256 bits); check: as above,
 * over everything before it ("kwk_" id "_" secret). The '_' is what tells
 * a managed key from a plain one, which never has it. A managed key is
 * checked whole before any lookup: prefix, length, separator, characters
 * and checksum.
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

#define KW_APIKEY_ID_LEN     12u
#define KW_APIKEY_SECRET_LEN 43u
/* "kwk_" id "_" secret check: 66 characters. */
#define KW_APIKEY_MANAGED_LEN                                    \
	(sizeof(KW_APIKEY_PREFIX) - 1u + KW_APIKEY_ID_LEN + 1u + \
	 KW_APIKEY_SECRET_LEN + KW_APIKEY_CHECK_LEN)

/*
 * Make a new managed key: its id (KW_APIKEY_ID_LEN characters and a NUL)
 * in ret_id and the whole key (KW_APIKEY_MANAGED_LEN characters and a
 * NUL) in ret_key, which the caller wipes after use. Cannot fail.
 */
void kw_apikey_new(char ret_id[static KW_APIKEY_ID_LEN + 1],
                   char ret_key[static KW_APIKEY_MANAGED_LEN + 1]);
/*
 * Check that s (len bytes, need not be NUL-terminated) is a well-formed
 * managed key with a correct checksum, and copy its id (and a NUL) to
 * ret_id. 0, or KW_EINVAL with *why (if not NULL) a static sentence naming
 * the first problem, never quoting s; ret_id is then untouched. Lengths
 * are checked before any character is read; the secret's characters and
 * the checksum are checked in constant time.
 */
int kw_apikey_parse(const char *s, size_t len,
                    char ret_id[static KW_APIKEY_ID_LEN + 1], const char **why);
/* Is id (len bytes) a key id: exactly KW_APIKEY_ID_LEN base62 characters? */
bool kw_apikey_id_valid(const char *id, size_t len);

#endif
