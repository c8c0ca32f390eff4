/*
 * store_keys.c - sealed subkeys and re-sealing (store_keys.h).
 */
#include "store_keys.h"

#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "keyward.h"
#include "secmem.h"
#include "store_int.h"

/* Not a secret name (those have no ':'), so a subkey row can never be
 * mistaken for a value, nor a value for it. */
#define SUBKEY_NAME   "keyward:subkey"
#define SUBKEY_SEALED (KEY_BYTES + SEAL_OVERHEAD)

enum keys_stmt {
	ST_SUBKEY_GET,
	ST_SUBKEY_SET,
	ST_VERSION_NEXT,
	ST_VERSION_RESEAL,
	ST_VERSION_COUNT,
	ST_KEYS__MAX
};

static const char *const keys_sql[ST_KEYS__MAX] = {
	[ST_SUBKEY_GET] = "SELECT sealed FROM subkeys WHERE id = ?1",
	[ST_SUBKEY_SET] = "INSERT INTO subkeys (id, sealed) VALUES (?1, ?2)"
			  " ON CONFLICT (id) DO UPDATE SET"
			  " sealed = excluded.sealed",
	/* One row at a time by primary key: no statement reads the table
	 * while another one updates it. */
	[ST_VERSION_NEXT] = "SELECT v.secret_id, v.version, s.name, v.sealed"
			    " FROM versions v JOIN secrets s"
			    " ON s.id = v.secret_id"
			    " WHERE (v.secret_id, v.version) > (?1, ?2)"
			    " ORDER BY v.secret_id, v.version LIMIT 1",
	/* In parentheses: clang's -Wstring-concatenation otherwise takes the
	 * two pieces for a missing comma. */
	[ST_VERSION_RESEAL] = ("UPDATE versions SET sealed = ?3"
	                       " WHERE secret_id = ?1 AND version = ?2"),
	[ST_VERSION_COUNT] = "SELECT count(*) FROM versions",
};

const store_stmts store_keys_stmts = { keys_sql, ST_KEYS__MAX };

static sqlite3_stmt *stmt(store *s, enum keys_stmt id)
{
	return s->st[STORE_MOD_KEYS][id];
}

int store_subkey_seal(store *s, kw_key *dk, int id, kw_key *key)
{
	uint8_t *ct = NULL;
	size_t ctlen = 0;
	int r;

	if (!s || !dk || !key || !kdf_context(id))
		return KW_EINVAL;
	r = seal_value(dk, SUBKEY_NAME, (uint64_t)id, key_bytes(key), KEY_BYTES,
	               &ct, &ctlen);
	key_done(key);
	if (r < 0)
		return r;
	r = store_step_done(stmt(s, ST_SUBKEY_SET),
	                    STORE_ARGS(bind_int(id), bind_blob(ct, ctlen)));
	free(ct);
	return r;
}

/* The stored row opened with dk; KW_ENOTFOUND if there is none. */
static int subkey_open(store *s, kw_key *dk, int id, kw_key **ret_key)
{
	sqlite3_stmt *st = stmt(s, ST_SUBKEY_GET);
	uint8_t *pt = NULL;
	size_t ptlen = 0;
	int r = store_step_row(st, STORE_ARGS(bind_int(id)));

	if (r < 0)
		return r;
	const void *ct = sqlite3_column_blob(st, 0);
	int ctlen = sqlite3_column_bytes(st, 0);
	if (!ct || ctlen != SUBKEY_SEALED)
		r = KW_ESTORE;
	else
		r = seal_open(dk, SUBKEY_NAME, (uint64_t)id, ct, (size_t)ctlen,
		              &pt, &ptlen);
	store_st_done(st);
	if (r == 0 && ptlen != KEY_BYTES)
		r = KW_ECRYPTO;
	if (r == 0)
		r = key_from(pt, ret_key);
	kw_wipefree(pt);
	return r;
}

int store_subkey_load(store *s, kw_key *dk, int id, kw_key **ret_key)
{
	kw_key *k = NULL;
	int r;

	if (!s || !dk || !kdf_context(id) || !ret_key)
		return KW_EINVAL;
	r = subkey_open(s, dk, id, &k);
	if (r == KW_ENOTFOUND) {
		r = key_derive(dk, (enum kdf_id)id, &k);
		if (r == 0)
			r = store_subkey_seal(s, dk, id, k);
	}
	if (r < 0) {
		key_free(k);
		return r;
	}
	*ret_key = k;
	return 0;
}

/* Re-seal the version st is on; the caller resets st. */
static int reseal_row(store *s, sqlite3_stmt *st, kw_key *old_dk,
                      kw_key *new_dk, int64_t *id, int64_t *ver)
{
	uint8_t *pt = NULL, *ct = NULL;
	size_t ptlen = 0, ctlen = 0;
	const char *name;
	int r;

	*id = sqlite3_column_int64(st, 0);
	*ver = sqlite3_column_int64(st, 1);
	name = (const char *)sqlite3_column_text(st, 2);
	const void *old = sqlite3_column_blob(st, 3);
	int oldlen = sqlite3_column_bytes(st, 3);
	if (!name || !old || *ver < 1)
		return KW_ESTORE;
	r = seal_open(old_dk, name, (uint64_t)*ver, old, (size_t)oldlen, &pt,
	              &ptlen);
	if (r == 0)
		r = seal_value(new_dk, name, (uint64_t)*ver, pt, ptlen, &ct,
		               &ctlen);
	kw_wipefree(pt);
	if (r < 0)
		return r;
	r = store_step_done(stmt(s, ST_VERSION_RESEAL),
	                    STORE_ARGS(bind_int(*id), bind_int(*ver),
	                               bind_blob(ct, ctlen)));
	free(ct);
	return r;
}

int store_reseal_values(store *s, kw_key *old_dk, kw_key *new_dk,
                        uint64_t *ret_count)
{
	sqlite3_stmt *st;
	int64_t id = 0, ver = 0;
	uint64_t n = 0;
	int r;

	if (!s || !old_dk || !new_dk || !ret_count)
		return KW_EINVAL;
	st = stmt(s, ST_VERSION_NEXT);
	while ((r = store_step_row(st, STORE_ARGS(bind_int(id),
	                                          bind_int(ver)))) == 0) {
		r = reseal_row(s, st, old_dk, new_dk, &id, &ver);
		store_st_done(st);
		if (r < 0)
			return r;
		n++;
	}
	if (r != KW_ENOTFOUND)
		return r;
	*ret_count = n;
	return 0;
}

int store_in_tx(store *s, int (*fn)(void *arg), void *arg)
{
	int r;

	if (!s || !fn)
		return KW_EINVAL;
	r = store_tx_begin(s);
	if (r < 0)
		return r;
	r = fn(arg);
	if (r == 0)
		r = store_tx_commit(s);
	if (r < 0)
		return store_tx_rollback(s, r);
	return 0;
}

int store_version_count(store *s, uint64_t *ret_count)
{
	int64_t n = 0;
	int r;

	if (!s || !ret_count)
		return KW_EINVAL;
	r = store_one_int(stmt(s, ST_VERSION_COUNT), STORE_NO_ARGS, &n);
	if (r == 0)
		*ret_count = n < 0 ? 0 : (uint64_t)n;
	return r;
}
