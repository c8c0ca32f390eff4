/*
 * store_clients.c - client tokens in the store (store_clients.h; table
 * clients, migration 2, in docs/store.md).
 *
 * Only the keyed hash the agent made is stored; the store never sees a
 * token or the key. Revocation keeps the row (list shows it) until the name
 * is added again, which replaces it.
 */
#include "store_clients.h"

#include <stdint.h>
#include <string.h>

#include <sqlite3.h>

#include "keyward.h"
#include "store_int.h"

enum clients_stmt {
	ST_CLIENT_DROP_REVOKED,
	ST_CLIENT_INSERT,
	ST_CLIENT_LOOKUP,
	ST_CLIENT_TOUCH,
	ST_CLIENT_REVOKE,
	ST_CLIENT_LIST,
	ST_CLIENTS__MAX
};

static const char *const clients_sql[ST_CLIENTS__MAX] = {
	[ST_CLIENT_DROP_REVOKED] =
		"DELETE FROM clients"
		" WHERE name = ?1 AND revoked_at IS NOT NULL",
	/* Inserts nothing if the name or the hash is taken (the caller
	 * checks the change count): no constraint error to decode. */
	[ST_CLIENT_INSERT] = "INSERT INTO clients (name, hash, created)"
			     " VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
	[ST_CLIENT_LOOKUP] = "SELECT name FROM clients"
			     " WHERE hash = ?1 AND revoked_at IS NULL",
	[ST_CLIENT_TOUCH] = "UPDATE clients SET last_used = ?2"
			    " WHERE name = ?1 AND revoked_at IS NULL",
	[ST_CLIENT_REVOKE] = "UPDATE clients SET revoked_at = ?2"
			     " WHERE name = ?1 AND revoked_at IS NULL",
	[ST_CLIENT_LIST] = "SELECT name, created, last_used, revoked_at"
			   " FROM clients ORDER BY name",
};

const store_stmts store_clients_stmts = { clients_sql, ST_CLIENTS__MAX };

static sqlite3_stmt *stmt(store *s, enum clients_stmt id)
{
	return s->st[STORE_MOD_CLIENTS][id];
}

int store_client_add(store *s, const char *name,
                     const uint8_t hash[static STORE_CLIENT_HASH_BYTES],
                     int64_t now)
{
	int r;

	if (!s || !name || !*name || !hash)
		return KW_EINVAL;
	r = store_tx_begin(s);
	if (r < 0)
		return r;
	/* A revoked name is free again; secure_delete zeroes the old row. */
	r = store_step_done(stmt(s, ST_CLIENT_DROP_REVOKED),
	                    STORE_ARGS(bind_text(name)));
	if (r == 0)
		r = store_step_done(
			stmt(s, ST_CLIENT_INSERT),
			STORE_ARGS(bind_text(name),
		                   bind_blob(hash, STORE_CLIENT_HASH_BYTES),
		                   bind_int(now)));
	if (r == 0 && sqlite3_changes(s->db) == 0)
		r = KW_EEXIST;
	if (r == 0)
		r = store_tx_commit(s);
	if (r < 0)
		return store_tx_rollback(s, r);
	return 0;
}

int store_client_lookup(store *s,
                        const uint8_t hash[static STORE_CLIENT_HASH_BYTES],
                        char *ret_name, size_t namesz)
{
	sqlite3_stmt *st;
	const char *name;
	size_t len;
	int r;

	if (!s || !hash || !ret_name || namesz == 0)
		return KW_EINVAL;
	st = stmt(s, ST_CLIENT_LOOKUP);
	r = store_step_row(st, STORE_ARGS(bind_blob(hash,
	                                            STORE_CLIENT_HASH_BYTES)));
	if (r < 0)
		return r;
	name = (const char *)sqlite3_column_text(st, 0);
	len = (size_t)sqlite3_column_bytes(st, 0);
	if (!name || strlen(name) != len)
		r = KW_ESTORE;
	else if (len >= namesz)
		r = KW_ETOOBIG;
	else
		memcpy(ret_name, name, len + 1);
	store_st_done(st);
	return r;
}

/* An UPDATE of the live client name: KW_ENOTFOUND if it changed no row. */
static int update_live(store *s, enum clients_stmt id, const char *name,
                       int64_t now)
{
	int r;

	if (!s || !name)
		return KW_EINVAL;
	r = store_step_done(stmt(s, id),
	                    STORE_ARGS(bind_text(name), bind_int(now)));
	if (r == 0 && sqlite3_changes(s->db) == 0)
		r = KW_ENOTFOUND;
	return r;
}

int store_client_touch(store *s, const char *name, int64_t now)
{
	return update_live(s, ST_CLIENT_TOUCH, name, now);
}

int store_client_revoke(store *s, const char *name, int64_t now)
{
	return update_live(s, ST_CLIENT_REVOKE, name, now);
}

int store_client_list(store *s,
                      int (*cb)(const store_client_info *c, void *arg),
                      void *arg)
{
	sqlite3_stmt *st;
	int r, cbr = 0;

	if (!s || !cb)
		return KW_EINVAL;
	st = stmt(s, ST_CLIENT_LIST);
	r = store_step_row(st, STORE_NO_ARGS);
	while (r == 0) {
		store_client_info ci;

		ci.name = (const char *)sqlite3_column_text(st, 0);
		if (!ci.name) {
			r = KW_ESTORE;
			break;
		}
		ci.created = sqlite3_column_int64(st, 1);
		ci.last_used = sqlite3_column_int64(st, 2); /* NULL is 0 */
		ci.revoked = sqlite3_column_type(st, 3) != SQLITE_NULL;
		ci.revoked_at = ci.revoked ? sqlite3_column_int64(st, 3) : 0;
		cbr = cb(&ci, arg);
		if (cbr != 0)
			break;
		r = store_step_row(st, STORE_NO_ARGS);
	}
	return store_rows_end(st, r, cbr);
}
