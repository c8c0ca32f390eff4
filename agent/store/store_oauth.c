/*
 * store_oauth.c - see store_oauth.h.
 */
#include "store_oauth.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "keyward.h"
#include "name.h"
#include "secmem.h"
#include "store_int.h"

enum oauth_stmt {
	ST_OAUTH_GEN,
	ST_OAUTH_PUT,
	ST_OAUTH_GET,
	ST_OAUTH_DELETE,
	ST_OAUTH_NAMES,
	ST_OAUTH_NEXT,
	ST_OAUTH_RESEAL,
	ST_OAUTH__MAX
};

static const char *const oauth_sql[ST_OAUTH__MAX] = {
	[ST_OAUTH_GEN] = "SELECT coalesce(max(gen), 0) FROM oauth_creds"
			 " WHERE name = ?1",
	[ST_OAUTH_PUT] = "INSERT INTO oauth_creds (name, gen, sealed, updated)"
			 " VALUES (?1, ?2, ?3, ?4)"
			 " ON CONFLICT (name) DO UPDATE SET gen = excluded.gen,"
			 " sealed = excluded.sealed,"
			 " updated = excluded.updated",
	[ST_OAUTH_GET] = "SELECT gen, sealed FROM oauth_creds WHERE name = ?1",
	[ST_OAUTH_DELETE] = "DELETE FROM oauth_creds WHERE name = ?1",
	[ST_OAUTH_NAMES] = "SELECT name FROM oauth_creds ORDER BY name",
	[ST_OAUTH_NEXT] = "SELECT name, gen, sealed FROM oauth_creds"
			  " WHERE name > ?1 ORDER BY name LIMIT 1",
	[ST_OAUTH_RESEAL] = "UPDATE oauth_creds SET sealed = ?3"
			    " WHERE name = ?1 AND gen = ?2",
};

const store_stmts store_oauth_stmts = { oauth_sql, ST_OAUTH__MAX };

static sqlite3_stmt *stmt(store *s, enum oauth_stmt id)
{
	return s->st[STORE_MOD_OAUTH][id];
}

static bool name_ok(const char *name)
{
	const char *rule;
	return kw_name_check(name, strlen(name), &rule) == 0;
}

int store_oauth_put(store *s, kw_key *dk, const char *name, const uint8_t *doc,
                    size_t len, int64_t now, uint64_t *ret_gen)
{
	int64_t gen = 0;
	uint8_t *ct = NULL;
	size_t ctlen = 0;
	int r;

	if (!s || !dk || !name || !name_ok(name) || !doc || len == 0 ||
	    len > STORE_OAUTH_DOC_MAX)
		return KW_EINVAL;
	r = store_one_int(stmt(s, ST_OAUTH_GEN), STORE_ARGS(bind_text(name)),
	                  &gen);
	if (r < 0)
		return r;
	if (gen < 0 || gen >= INT64_MAX)
		return KW_ESTORE;
	gen++;
	r = seal_value(dk, name, STORE_OAUTH_AD_VERSION(gen), doc, len, &ct,
	               &ctlen);
	if (r < 0)
		return r;
	r = store_step_done(stmt(s, ST_OAUTH_PUT),
	                    STORE_ARGS(bind_text(name), bind_int(gen),
	                               bind_blob(ct, ctlen), bind_int(now)));
	free(ct);
	if (r == 0 && ret_gen)
		*ret_gen = (uint64_t)gen;
	return r;
}

int store_oauth_get(store *s, kw_key *dk, const char *name, uint8_t **ret_doc,
                    size_t *ret_len)
{
	sqlite3_stmt *st;
	int r;

	if (!s || !dk || !name || !ret_doc || !ret_len)
		return KW_EINVAL;
	st = stmt(s, ST_OAUTH_GET);
	r = store_step_row(st, STORE_ARGS(bind_text(name)));
	if (r < 0)
		return r;
	int64_t gen = sqlite3_column_int64(st, 0);
	const void *ct = sqlite3_column_blob(st, 1);
	int ctlen = sqlite3_column_bytes(st, 1);
	if (gen < 1 || !ct || ctlen <= 0)
		r = KW_ESTORE;
	else
		r = seal_open(dk, name, STORE_OAUTH_AD_VERSION(gen), ct,
		              (size_t)ctlen, ret_doc, ret_len);
	store_st_done(st);
	return r;
}

int store_oauth_delete(store *s, const char *name)
{
	if (!s || !name)
		return KW_EINVAL;
	int r = store_step_done(stmt(s, ST_OAUTH_DELETE),
	                        STORE_ARGS(bind_text(name)));
	if (r == 0 && sqlite3_changes(s->db) == 0)
		r = KW_ENOTFOUND;
	return r;
}

int store_oauth_names(store *s, int (*cb)(void *arg, const char *name),
                      void *arg)
{
	sqlite3_stmt *st;
	int r, cbr = 0;

	if (!s || !cb)
		return KW_EINVAL;
	st = stmt(s, ST_OAUTH_NAMES);
	for (r = store_step_row(st, STORE_NO_ARGS); r == 0 && cbr == 0;
	     r = store_step_row(st, STORE_NO_ARGS)) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		if (!name || !name_ok(name)) {
			r = KW_ESTORE;
			break;
		}
		cbr = cb(arg, name);
	}
	return store_rows_end(st, r, cbr);
}

/* Re-seal the row st is on; name (KW_NAME_MAX + 1 bytes) gets its name. */
static int reseal_row(store *s, sqlite3_stmt *st, kw_key *old_dk,
                      kw_key *new_dk, char *name)
{
	uint8_t *pt = NULL, *ct = NULL;
	size_t ptlen = 0, ctlen = 0;
	const char *n = (const char *)sqlite3_column_text(st, 0);
	int64_t gen = sqlite3_column_int64(st, 1);
	const void *old = sqlite3_column_blob(st, 2);
	int oldlen = sqlite3_column_bytes(st, 2);
	int r;

	size_t nlen = n ? strlen(n) : 0;
	if (!n || nlen > KW_NAME_MAX || !name_ok(n) || gen < 1 || !old ||
	    oldlen <= 0)
		return KW_ESTORE;
	memcpy(name, n, nlen + 1);
	r = seal_open(old_dk, name, STORE_OAUTH_AD_VERSION(gen), old,
	              (size_t)oldlen, &pt, &ptlen);
	if (r == 0)
		r = seal_value(new_dk, name, STORE_OAUTH_AD_VERSION(gen), pt,
		               ptlen, &ct, &ctlen);
	kw_wipefree(pt);
	store_st_done(st);
	if (r < 0)
		return r;
	r = store_step_done(stmt(s, ST_OAUTH_RESEAL),
	                    STORE_ARGS(bind_text(name), bind_int(gen),
	                               bind_blob(ct, ctlen)));
	free(ct);
	return r;
}

int store_oauth_reseal(store *s, kw_key *old_dk, kw_key *new_dk,
                       uint64_t *ret_count)
{
	char name[KW_NAME_MAX + 1] = "";
	uint64_t n = 0;
	int r;

	if (!s || !old_dk || !new_dk || !ret_count)
		return KW_EINVAL;
	while ((r = store_step_row(stmt(s, ST_OAUTH_NEXT),
	                           STORE_ARGS(bind_text(name)))) == 0) {
		r = reseal_row(s, stmt(s, ST_OAUTH_NEXT), old_dk, new_dk, name);
		if (r < 0)
			return r;
		n++;
	}
	if (r != KW_ENOTFOUND)
		return r;
	*ret_count = n;
	return 0;
}
