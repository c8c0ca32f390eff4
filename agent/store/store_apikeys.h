/*
 * store_apikeys.h - managed API keys in the store (table apikeys,
 * migration 5; docs/store.md).
 *
 * A key is "kwk_" ID "_" SECRET CHECK (common/apikey.h). Its id is public
 * and is the row's primary key; of the key itself only a keyed hash is
 * stored (BLAKE2b-256 under a key derived from the data key; the agent
 * computes it), so the database alone neither reveals nor verifies a key.
 * A key is found by id and then its hash compared in constant time.
 *
 * Rotation keeps the old row, with valid_until (the end of its overlap)
 * and replaced_by (the new id); revocation keeps the row too, with
 * revoked_at. Every function runs in the caller's open batch, or,
 * outside one, as its own transaction.
 */
#ifndef KW_STORE_APIKEYS_H
#define KW_STORE_APIKEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define STORE_APIKEY_HASH_BYTES    32u
#define STORE_APIKEY_ID_LEN        12u
#define STORE_APIKEY_PRINCIPAL_MAX 64u
/* Scopes are kept as one space-separated string: 32 of 64 bytes. */
#define STORE_APIKEY_SCOPES_MAX (32u * 65u)

typedef struct store_apikey {
	char id[STORE_APIKEY_ID_LEN + 1];
	char principal[STORE_APIKEY_PRINCIPAL_MAX + 1];
	char scopes[STORE_APIKEY_SCOPES_MAX + 1]; /* "a b c"; "" for none */
	uint8_t hash[STORE_APIKEY_HASH_BYTES];
	int64_t created;
	int64_t expires;    /* 0: never */
	int64_t last_used;  /* 0: never */
	int64_t revoked_at; /* 0: not revoked */
	/* Set by a rotation: the key works until valid_until (the end of the
	 * overlap) and replaced_by names its successor. 0 and "" otherwise. */
	int64_t valid_until;
	char replaced_by[STORE_APIKEY_ID_LEN + 1];
} store_apikey;

/*
 * Insert k (id, principal, scopes, hash, created, expires; the other
 * members are ignored). KW_EEXIST if the id or the hash is taken (a new
 * key has a fresh random id; the caller may draw another); KW_EINVAL if a
 * member is malformed (id length, empty principal).
 */
int store_apikey_insert(store *s, const store_apikey *k);
/* The row of id, or KW_ENOTFOUND. */
int store_apikey_get(store *s, const char *id, store_apikey *ret);
/*
 * The row of id if its stored hash equals hash (compared with
 * crypto_verify_32). KW_ENOTFOUND if there is no such id or the hash
 * differs: the caller cannot tell the two apart, and neither can the one
 * it answers. Revoked and expired rows are returned like any other.
 */
int store_apikey_find(store *s, const char *id,
                      const uint8_t hash[static STORE_APIKEY_HASH_BYTES],
                      store_apikey *ret);
/* Record a successful verification. KW_ENOTFOUND if no such id. */
int store_apikey_touch(store *s, const char *id, int64_t now);
/* Revoke id. KW_ENOTFOUND if no such id, KW_EREVOKED if it already is. */
int store_apikey_revoke(store *s, const char *id, int64_t now);
/*
 * Rotate: insert next (as store_apikey_insert) and mark old_id as replaced
 * by it, valid until valid_until, in one transaction. KW_ENOTFOUND if
 * old_id does not exist, KW_EREVOKED if it is revoked, KW_ESTATE if it
 * was already replaced; KW_EEXIST as for insert. On failure nothing
 * changed.
 */
int store_apikey_rotate(store *s, const char *old_id, const store_apikey *next,
                        int64_t valid_until);
/*
 * Every key, or those of principal (NULL: all), by principal, creation
 * and id. cb's non-zero return stops the walk and is returned.
 */
int store_apikey_list(store *s, const char *principal,
                      int (*cb)(const store_apikey *k, void *arg), void *arg);

#endif
