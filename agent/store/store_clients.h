/*
 * store_clients.h - client tokens in the store (table clients, migration 2).
 *
 * Only a keyed hash of each token is stored (BLAKE2b-256 under a key
 * derived from the data key; the agent computes it), so the database alone
 * never reveals or verifies a token. Lookup is by hash: the B-tree search
 * can only leak timing about a keyed hash of a random 256-bit token, which
 * tells an attacker nothing useful.
 *
 * A name is live until revoked; a revoked name can be added again (the new
 * token replaces the old row).
 */
#ifndef KW_STORE_CLIENTS_H
#define KW_STORE_CLIENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define STORE_CLIENT_HASH_BYTES 32u

/* KW_EEXIST if a live client has this name, or any client (revoked too)
 * this hash: the same token is never issued twice. A revoked row of this
 * name is replaced in the same transaction. */
int store_client_add(store *s, const char *name,
                     const uint8_t hash[static STORE_CLIENT_HASH_BYTES],
                     int64_t now);
/* Name of the live client with this hash, NUL-terminated, in ret_name;
 * KW_ENOTFOUND if none; KW_ETOOBIG if it does not fit in namesz bytes. */
int store_client_lookup(store *s,
                        const uint8_t hash[static STORE_CLIENT_HASH_BYTES],
                        char *ret_name, size_t namesz);
/* Record a successful presentation. KW_ENOTFOUND if no live client. */
int store_client_touch(store *s, const char *name, int64_t now);
/* KW_ENOTFOUND if no live client has this name. */
int store_client_revoke(store *s, const char *name, int64_t now);

typedef struct store_client_info {
	const char *name;
	int64_t created;
	int64_t last_used; /* 0: never */
	bool revoked;
	int64_t revoked_at; /* 0 unless revoked */
} store_client_info;
/* Every client, by name. A non-zero return from cb stops and is returned. */
int store_client_list(store *s,
                      int (*cb)(const store_client_info *c, void *arg),
                      void *arg);

#endif
