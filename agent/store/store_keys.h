/*
 * store_keys.h - the sealed subkeys and the re-sealing of a rekey (table
 * subkeys, migration 8, in docs/store.md).
 *
 * The client-token hash key, the audit chain key and the API-key hash key
 * were crypto_kdf derivations of the data key. A new data key would have
 * changed them and broken every stored hash and the audit chain, so each is
 * kept in the store sealed under the data key (seal_value, name
 * "keyward:subkey", version = its id). The first unlock of a store made before
 * migration 8 derives them as before and seals them, so nothing already
 * stored stops verifying. A rekey re-seals them (and every value) under the
 * new data key; their bytes never change.
 */
#ifndef KW_STORE_KEYS_H
#define KW_STORE_KEYS_H

#include <stdint.h>

#include "kdf_ids.h"
#include "store.h"

/* A subkey's row id is its kdf id (kdf_ids.h). */
enum store_subkey {
	STORE_SUBKEY_TOKEN = KDF_ID_TOKEN,   /* client-token hashes */
	STORE_SUBKEY_AUDIT = KDF_ID_AUDIT,   /* the audit chain */
	STORE_SUBKEY_APIKEY = KDF_ID_APIKEY, /* API-key hashes */
};

/*
 * The subkey id, opened with dk. If the store has none yet, derive it from
 * dk as keyward did before migration 8 and store it sealed (one INSERT: a
 * transaction of its own outside a batch, else part of the batch; a rolled
 * back insert is made again next time, with the same bytes). KW_ECRYPTO if
 * the stored row does not open with dk.
 */
int store_subkey_load(store *s, kw_key *dk, int id, kw_key **ret_key);

/* Store key (id) sealed under dk, replacing what is there. */
int store_subkey_seal(store *s, kw_key *dk, int id, kw_key *key);

/*
 * Re-seal every version of every secret from old_dk to new_dk, in the open
 * transaction (the caller's batch). KW_ECRYPTO if a version does not open
 * with old_dk (the caller then rolls back: nothing is kept). *ret_count:
 * versions re-sealed.
 */
int store_reseal_values(store *s, kw_key *old_dk, kw_key *new_dk,
                        uint64_t *ret_count);

/*
 * Run fn(arg) as one transaction: a savepoint inside a batch, else a
 * transaction of its own. Kept if fn returns 0, else undone; fn's error
 * (or the commit's) is returned.
 */
int store_in_tx(store *s, int (*fn)(void *arg), void *arg);

/* Number of stored versions (of every secret). */
int store_version_count(store *s, uint64_t *ret_count);

#endif
