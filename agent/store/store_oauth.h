/*
 * store_oauth.h - managed OAuth credentials in the store (table
 * oauth_creds, migration 9; docs/store.md, docs/oauth.md).
 *
 * A credential is one row: its name (that of the secret whose versions
 * hold its access tokens), a generation counted up at every write, and
 * one sealed document (the engine's JSON: endpoints, client id, client
 * secret, refresh token, state; oauth.h). The document is sealed under
 * the data key like a secret's value, with the name and the generation
 * with its top bit set as associated data, so a row cannot be moved to
 * another name, cannot pass for a secret's version, and an older
 * generation cannot be put back under a newer number.
 *
 * Every function runs in the caller's open batch, or, outside one, as its
 * own statement.
 */
#ifndef KW_STORE_OAUTH_H
#define KW_STORE_OAUTH_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "store.h"

#define STORE_OAUTH_DOC_MAX (64u * 1024u)
/* The associated data's version of generation gen. */
#define STORE_OAUTH_AD_VERSION(gen) ((uint64_t)(gen) | (UINT64_C(1) << 63))

/*
 * Write name's document (1..STORE_OAUTH_DOC_MAX bytes), sealed, as the
 * next generation (1 for a new row). *ret_gen (may be NULL) is the
 * generation written. KW_EINVAL for a bad name or size.
 */
int store_oauth_put(store *s, kw_key *dk, const char *name, const uint8_t *doc,
                    size_t len, int64_t now, uint64_t *ret_gen);
/* name's document (kw_wipealloc; the caller kw_wipefree()s it).
 * KW_ENOTFOUND, KW_ECRYPTO (the row was altered or moved). */
int store_oauth_get(store *s, kw_key *dk, const char *name, uint8_t **ret_doc,
                    size_t *ret_len);
/* Remove name's row. KW_ENOTFOUND if there is none. */
int store_oauth_delete(store *s, const char *name);
/* Every credential's name, in name order; cb's non-zero return stops the
 * walk and is returned. */
int store_oauth_names(store *s, int (*cb)(void *arg, const char *name),
                      void *arg);
/* Re-seal every row from old_dk to new_dk (a rekey, in its transaction);
 * *ret_count rows. */
int store_oauth_reseal(store *s, kw_key *old_dk, kw_key *new_dk,
                       uint64_t *ret_count);

#endif
