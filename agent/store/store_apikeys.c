/*
 * store_apikeys.c - managed API keys in the store (store_apikeys.h; table
 * apikeys, migration 5, in docs/store.md).
 *
 * Only the keyed hash the agent made is stored; the store never sees a key
 * or the hash key. Times of 0 are stored as NULL (NULLIF) and read back as
 * 0, so "never" has one spelling in C and one in SQL.
 */
#include "store_apikeys.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>
#include <sqlite3.h>

#include "keyward.h"
#include "store_int.h"

enum apikeys_stmt {
	ST_KEY_INSERT,
	ST_KEY_GET,
	ST_KEY_TOUCH,
	ST_KEY_REVOKE,
	ST_KEY_REPLACE,
	ST_KEY_LIST,
	ST_APIKEYS__MAX
};

#define KEY_COLS                                                    \
	"id, principal, scopes, hash, created, expires, last_used," \
	" revoked_at, valid_until, replaced_by"

static const char *const apikeys_sql[ST_APIKEYS__MAX] = {
	/* Inserts nothing if the id or the hash is taken (the caller checks
	 * the change count): no constraint error to decode. */
	[ST_KEY_INSERT] = "INSERT INTO apikeys (id, principal, scopes, hash,"
			  " created, expires) VALUES (?1, ?2, ?3, ?4, ?5,"
			  " NULLIF(?6, 0)) ON CONFLICT DO NOTHING",
	[ST_KEY_GET] = "SELECT " KEY_COLS " FROM apikeys WHERE id = ?1",
	[ST_KEY_TOUCH] = "UPDATE apikeys SET last_used = ?2 WHERE id = ?1",
	[ST_KEY_REVOKE] = "UPDATE apikeys SET revoked_at = ?2"
			  " WHERE id = ?1 AND revoked_at IS NULL",
	[ST_KEY_REPLACE] = "UPDATE apikeys SET valid_until = ?2,"
			   " replaced_by = ?3 WHERE id = ?1"
			   " AND revoked_at IS NULL AND replaced_by IS NULL",
	[ST_KEY_LIST] = "SELECT " KEY_COLS " FROM apikeys"
			" WHERE ?1 IS NULL OR principal = ?1"
			" ORDER BY principal, created, id",
};

const store_stmts store_apikeys_stmts = { apikeys_sql, ST_APIKEYS__MAX };

static sqlite3_stmt *stmt(store *s, enum apikeys_stmt id)
{
	return s->st[STORE_MOD_APIKEYS][id];
}

/* Column i as text into out (outsz bytes with the NUL); "" for NULL.
 * KW_ESTORE if it does not fit or holds a NUL: the writers never make
 * such a row, so the file was edited. */
static int col_text(sqlite3_stmt *st, int i, char *out, size_t outsz)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	size_t n = (size_t)sqlite3_column_bytes(st, i);

	if (!t) {
		out[0] = '\0';
		return sqlite3_column_type(st, i) == SQLITE_NULL ? 0 :
		                                                   KW_ENOMEM;
	}
	if (n >= outsz || strlen((const char *)t) != n)
		return KW_ESTORE;
	memcpy(out, t, n + 1);
	return 0;
}

/* The row st is on, into ret. */
static int read_row(sqlite3_stmt *st, store_apikey *ret)
{
	const void *hash;
	int r;

	if ((r = col_text(st, 0, ret->id, sizeof(ret->id))) < 0 ||
	    (r = col_text(st, 1, ret->principal, sizeof(ret->principal))) < 0 ||
	    (r = col_text(st, 2, ret->scopes, sizeof(ret->scopes))) < 0 ||
	    (r = col_text(st, 9, ret->replaced_by, sizeof(ret->replaced_by))) <
	            0)
		return r;
	hash = sqlite3_column_blob(st, 3);
	if (!hash || sqlite3_column_bytes(st, 3) != STORE_APIKEY_HASH_BYTES ||
	    strlen(ret->id) != STORE_APIKEY_ID_LEN || !ret->principal[0])
		return KW_ESTORE;
	memcpy(ret->hash, hash, STORE_APIKEY_HASH_BYTES);
	ret->created = sqlite3_column_int64(st, 4);
	ret->expires = sqlite3_column_int64(st, 5); /* NULL is 0 */
	ret->last_used = sqlite3_column_int64(st, 6);
	ret->revoked_at = sqlite3_column_int64(st, 7);
	ret->valid_until = sqlite3_column_int64(st, 8);
	return 0;
}

static bool key_valid(const store_apikey *k)
{
	return strnlen(k->id, sizeof(k->id)) == STORE_APIKEY_ID_LEN &&
	       k->principal[0] &&
	       strnlen(k->principal, sizeof(k->principal)) <
	               sizeof(k->principal) &&
	       strnlen(k->scopes, sizeof(k->scopes)) < sizeof(k->scopes) &&
	       k->expires >= 0;
}

static int insert(store *s, const store_apikey *k)
{
	int r = store_step_done(stmt(s, ST_KEY_INSERT),
	                        STORE_ARGS(bind_text(k->id),
	                                   bind_text(k->principal),
	                                   bind_text(k->scopes),
	                                   bind_blob(k->hash,
	                                             STORE_APIKEY_HASH_BYTES),
	                                   bind_int(k->created),
	                                   bind_int(k->expires)));
	if (r == 0 && sqlite3_changes(s->db) == 0)
		r = KW_EEXIST;
	return r;
}

int store_apikey_insert(store *s, const store_apikey *k)
{
	if (!s || !k || !key_valid(k))
		return KW_EINVAL;
	return insert(s, k);
}

int store_apikey_get(store *s, const char *id, store_apikey *ret)
{
	sqlite3_stmt *st;
	store_apikey k;
	int r;

	if (!s || !id || !ret)
		return KW_EINVAL;
	st = stmt(s, ST_KEY_GET);
	r = store_step_row(st, STORE_ARGS(bind_text(id)));
	if (r < 0)
		return r;
	r = read_row(st, &k);
	store_st_done(st);
	if (r == 0)
		*ret = k;
	sodium_memzero(k.hash, sizeof(k.hash));
	return r;
}

int store_apikey_find(store *s, const char *id,
                      const uint8_t hash[static STORE_APIKEY_HASH_BYTES],
                      store_apikey *ret)
{
	store_apikey k;
	int r;

	if (!hash)
		return KW_EINVAL;
	r = store_apikey_get(s, id, &k);
	if (r == 0 && crypto_verify_32(k.hash, hash) != 0)
		r = KW_ENOTFOUND;
	if (r == 0)
		*ret = k;
	sodium_memzero(k.hash, sizeof(k.hash));
	return r;
}

int store_apikey_touch(store *s, const char *id, int64_t now)
{
	int r;

	if (!s || !id)
		return KW_EINVAL;
	r = store_step_done(stmt(s, ST_KEY_TOUCH),
	                    STORE_ARGS(bind_text(id), bind_int(now)));
	if (r == 0 && sqlite3_changes(s->db) == 0)
		r = KW_ENOTFOUND;
	return r;
}

/* Why the live, unreplaced row of id was not there: KW_ENOTFOUND,
 * KW_EREVOKED or (replaced) KW_ESTATE. */
static int not_live(store *s, const char *id)
{
	store_apikey k;
	int r = store_apikey_get(s, id, &k);

	if (r < 0)
		return r;
	return k.revoked_at ? KW_EREVOKED : KW_ESTATE;
}

int store_apikey_revoke(store *s, const char *id, int64_t now)
{
	int r;

	if (!s || !id)
		return KW_EINVAL;
	r = store_step_done(stmt(s, ST_KEY_REVOKE),
	                    STORE_ARGS(bind_text(id), bind_int(now)));
	if (r == 0 && sqlite3_changes(s->db) == 0)
		r = not_live(s, id); /* a replaced key is revoked like others */
	return r;
}

int store_apikey_rotate(store *s, const char *old_id, const store_apikey *next,
                        int64_t valid_until)
{
	int r;

	if (!s || !old_id || !next || !key_valid(next) ||
	    strcmp(old_id, next->id) == 0)
		return KW_EINVAL;
	r = store_tx_begin(s);
	if (r < 0)
		return r;
	r = store_step_done(stmt(s, ST_KEY_REPLACE),
	                    STORE_ARGS(bind_text(old_id), bind_int(valid_until),
	                               bind_text(next->id)));
	if (r == 0 && sqlite3_changes(s->db) == 0)
		r = not_live(s, old_id);
	if (r == 0)
		r = insert(s, next);
	if (r == 0)
		r = store_tx_commit(s);
	if (r < 0)
		return store_tx_rollback(s, r);
	return 0;
}

int store_apikey_list(store *s, const char *principal,
                      int (*cb)(const store_apikey *k, void *arg), void *arg)
{
	sqlite3_stmt *st;
	int r, cbr = 0;

	if (!s || !cb)
		return KW_EINVAL;
	st = stmt(s, ST_KEY_LIST);
	r = store_step_row(st, STORE_ARGS(bind_text(principal)));
	while (r == 0) {
		store_apikey k;

		r = read_row(st, &k);
		if (r == 0)
			cbr = cb(&k, arg);
		sodium_memzero(k.hash, sizeof(k.hash));
		if (r < 0 || cbr != 0)
			break;
		r = store_step_row(st, STORE_NO_ARGS);
	}
	return store_rows_end(st, r, cbr);
}
