/*
 * kdf_ids.h - every subkey derived from the data key: its crypto_kdf id and
 * context, in one table that key_derive() (crypto.h) is the only user of.
 *
 * Part of the on-disk format: a store's client-token hashes, audit chain
 * and API-key hashes are keyed with these subkeys, so an id or a context
 * that changed would derive a different key and every stored hash would
 * stop verifying. Since schema 8 the subkeys are also kept sealed in table
 * subkeys (store_keys.h), the row's id being the kdf id; stores from before
 * are filled by deriving once more with this table. Never change or reuse
 * an entry; a new subkey takes the next id. tests/unit/test_crypto.c pins
 * the table and the bytes each entry derives.
 */
#ifndef KW_KDF_IDS_H
#define KW_KDF_IDS_H

#include <stddef.h>

#define KDF_CTX_BYTES 8u /* crypto_kdf_CONTEXTBYTES */

enum kdf_id {
	/* Keys BLAKE2b-256 of client tokens (clients.hash); since
	 * schema 2. */
	KDF_ID_TOKEN = 1,
	/* Keys the audit hash chain (audit.hash); since schema 3. */
	KDF_ID_AUDIT = 2,
	/* Keys BLAKE2b-256 of managed API keys (apikeys.hash); since
	 * schema 5. */
	KDF_ID_APIKEY = 3,
	KDF_ID__END
};

/* The context of each id: exactly KDF_CTX_BYTES characters. */
static const char *const kdf_contexts[KDF_ID__END] = {
	[KDF_ID_TOKEN] = "kwclient",
	[KDF_ID_AUDIT] = "kwaudit_",
	[KDF_ID_APIKEY] = "kwapikey",
};

/* The context of id, or NULL if id is not in the table. */
static inline const char *kdf_context(int id)
{
	if (id <= 0 || id >= KDF_ID__END)
		return NULL;
	return kdf_contexts[id];
}

#endif
