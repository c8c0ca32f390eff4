/*
 * store_secrets.c - secrets and their versions in the store (store.h;
 * tables secrets, versions and tombstones in docs/store.md).
 */
#include "store.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <sqlite3.h>

#include "clock.h"
#include "keyward.h"
#include "secmem.h"
#include "store_int.h"

enum secrets_stmt {
	ST_SECRET_FIND,
	ST_SECRET_INSERT,
	ST_SECRET_BUMP,
	ST_SECRET_DELETE,
	ST_RETIRE_PREVIOUS,
	ST_DEMOTE_CURRENT,
	ST_VERSION_INSERT,
	ST_PRUNE,
	ST_GET_BY_VERSION,
	ST_GET_BY_STAGE,
	ST_LIST,
	ST_VERSIONS,
	ST_VERSION_COUNT,
	ST_COUNT,
	ST_CURRENT_VERSION,
	ST_PENDING_DELETE,
	ST_PENDING_INSERT,
	ST_STAGE_VERSION,
	ST_PROMOTE_PREVIOUS,
	ST_PROMOTE_CURRENT,
	ST_PROMOTE_PENDING,
	ST_RETIRE_DUE,
	ST_RETIRE_ONE,
	ST_SCHEDULE_DROP,
	ST_ROTATION_END,
	ST_SECRETS__MAX
};

static const char *const secrets_sql[ST_SECRETS__MAX] = {
	[ST_SECRET_FIND] =
		"SELECT id, next_version FROM secrets WHERE name = ?1",
	/* A name deleted before resumes its numbering. */
	[ST_SECRET_INSERT] =
		"INSERT INTO secrets"
		" (name, created, updated, next_version) VALUES (?1, ?2, ?2,"
		" coalesce((SELECT next_version FROM tombstones"
		" WHERE name = ?1), 1)) RETURNING id, next_version",
	[ST_SECRET_BUMP] = "UPDATE secrets SET next_version = ?2, updated = ?3"
			   " WHERE id = ?1",
	[ST_SECRET_DELETE] = "DELETE FROM secrets WHERE id = ?1",
	[ST_RETIRE_PREVIOUS] = "UPDATE versions SET stage = 'retired',"
			       " retire_at = NULL"
			       " WHERE secret_id = ?1 AND stage = 'previous'",
	[ST_DEMOTE_CURRENT] = "UPDATE versions SET stage = 'previous'"
			      " WHERE secret_id = ?1 AND stage = 'current'",
	[ST_VERSION_INSERT] = "INSERT INTO versions"
			      " (secret_id, version, stage, created, sealed)"
			      " VALUES (?1, ?2, 'current', ?3, ?4)",
	/* The oldest versions that may go, as many as exceed ?2; never one
	 * still in a rotation's overlap. */
	[ST_PRUNE] =
		"DELETE FROM versions WHERE secret_id = ?1 AND version IN"
		" (SELECT version FROM versions WHERE secret_id = ?1"
		" AND stage NOT IN ('current', 'pending')"
		" AND retire_at IS NULL"
		" ORDER BY version LIMIT max(0, (SELECT count(*) FROM versions"
		" WHERE secret_id = ?1) - ?2))",
	[ST_GET_BY_VERSION] =
		"SELECT v.version, v.stage, v.created, v.sealed"
		" FROM secrets s JOIN versions v ON v.secret_id = s.id"
		" WHERE s.name = ?1 AND v.version = ?2",
	/* "retired" may match several rows: the newest wins. */
	[ST_GET_BY_STAGE] =
		"SELECT v.version, v.stage, v.created, v.sealed"
		" FROM secrets s JOIN versions v ON v.secret_id = s.id"
		" WHERE s.name = ?1 AND v.stage = ?2"
		" ORDER BY v.version DESC LIMIT 1",
	/* Only where the range starts; store_list tests the prefix. */
	[ST_LIST] =
		"SELECT s.name, s.created, s.updated,"
		" (SELECT v.version FROM versions v"
		" WHERE v.secret_id = s.id AND v.stage = 'current'),"
		" (SELECT count(*) FROM versions v WHERE v.secret_id = s.id)"
		" FROM secrets s WHERE s.name >= ?1 ORDER BY s.name",
	[ST_VERSIONS] = "SELECT version, stage, created, retire_at"
			" FROM versions WHERE secret_id = ?1"
			" ORDER BY version DESC",
	[ST_VERSION_COUNT] =
		"SELECT count(*) FROM versions WHERE secret_id = ?1",
	[ST_COUNT] = "SELECT count(*) FROM secrets",
	[ST_CURRENT_VERSION] =
		"SELECT coalesce((SELECT version FROM versions"
		" WHERE secret_id = ?1 AND stage = 'current'), 0)",
	[ST_PENDING_DELETE] = "DELETE FROM versions"
			      " WHERE secret_id = ?1 AND stage = 'pending'",
	[ST_PENDING_INSERT] = "INSERT INTO versions"
			      " (secret_id, version, stage, created, sealed)"
			      " VALUES (?1, ?2, 'pending', ?3, ?4)",
	[ST_STAGE_VERSION] = "SELECT stage FROM versions"
			     " WHERE secret_id = ?1 AND version = ?2",
	/* Promotion (rotation's finish), in this order: the unique index
	 * allows one row per stage at every step. */
	[ST_PROMOTE_PREVIOUS] = "UPDATE versions SET stage = 'retired',"
				" retire_at = NULL"
				" WHERE secret_id = ?1 AND stage = 'previous'",
	[ST_PROMOTE_CURRENT] = "UPDATE versions SET stage = 'previous',"
			       " retire_at = ?2"
			       " WHERE secret_id = ?1 AND stage = 'current'",
	[ST_PROMOTE_PENDING] = "UPDATE versions SET stage = 'current'"
			       " WHERE secret_id = ?1 AND version = ?2"
			       " AND stage = 'pending'",
	[ST_RETIRE_DUE] =
		"SELECT s.name, v.secret_id, v.version FROM versions v"
		" JOIN secrets s ON s.id = v.secret_id"
		" WHERE v.retire_at IS NOT NULL AND v.retire_at <= ?1"
		" ORDER BY v.retire_at LIMIT ?2",
	/* A deleted secret is not rotated back into existence. */
	[ST_SCHEDULE_DROP] = "DELETE FROM schedules WHERE name = ?1",
	[ST_ROTATION_END] =
		"UPDATE rotations SET step = 'failed', next_try = NULL,"
		" finished = ?2, error = 'the secret was deleted'"
		" WHERE name = ?1 AND next_try IS NOT NULL",
	[ST_RETIRE_ONE] = "UPDATE versions SET stage = 'retired',"
			  " retire_at = NULL WHERE secret_id = ?1"
			  " AND version = ?2 AND stage = 'previous'",
};

const store_stmts store_secrets_stmts = { secrets_sql, ST_SECRETS__MAX };

static sqlite3_stmt *stmt(store *s, enum secrets_stmt id)
{
	return s->st[STORE_MOD_SECRETS][id];
}

/* The static spelling of a stage name, or NULL if it is not one. */
static const char *stage_canon(const char *name)
{
	static const char *const names[] = {
		"current",
		"pending",
		"previous",
		"retired",
	};

	for (size_t i = 0; name && i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return names[i];
	return NULL;
}

void store_value_free(store_value *v)
{
	if (!v)
		return;
	kw_wipefree(v->value);
	sodium_memzero(v, sizeof(*v));
	free(v);
}

/* name's id and next version; KW_ENOTFOUND if there is no such secret. */
static int secret_find(store *s, const char *name, int64_t *ret_id,
                       int64_t *ret_next)
{
	sqlite3_stmt *st = stmt(s, ST_SECRET_FIND);
	int r = store_step_row(st, STORE_ARGS(bind_text(name)));

	if (r < 0)
		return r;
	*ret_id = sqlite3_column_int64(st, 0);
	*ret_next = sqlite3_column_int64(st, 1);
	store_st_done(st);
	return 0;
}

/*
 * The id of name (created if it does not exist) and the next version
 * number, which this claims: secrets.next_version moves past it, so it is
 * never handed out twice, whatever the caller does with it.
 */
static int claim_version(store *s, const char *name, int64_t now,
                         int64_t *ret_id, int64_t *ret_version)
{
	sqlite3_stmt *st = stmt(s, ST_SECRET_INSERT);
	int64_t id, next;
	int r;

	r = secret_find(s, name, &id, &next);
	if (r == KW_ENOTFOUND) {
		r = store_step_row(st,
		                   STORE_ARGS(bind_text(name), bind_int(now)));
		if (r == KW_ENOTFOUND)
			r = KW_ESTORE;
		if (r < 0)
			return r;
		id = sqlite3_column_int64(st, 0);
		next = sqlite3_column_int64(st, 1);
		store_st_done(st);
	}
	if (r < 0)
		return r;
	if (next < 1 || next == INT64_MAX)
		return KW_ESTORE;
	r = store_step_done(stmt(s, ST_SECRET_BUMP),
	                    STORE_ARGS(bind_int(id), bind_int(next + 1),
	                               bind_int(now)));
	if (r < 0)
		return r;
	*ret_id = id;
	*ret_version = next;
	return 0;
}

/* The body of store_put, inside its transaction. */
static int put_locked(store *s, kw_key *dk, const char *name,
                      const uint8_t *value, size_t len, uint32_t max_versions,
                      int64_t now, uint64_t *ret_version)
{
	int64_t id, next;
	uint8_t *sealed;
	size_t sealedlen;
	int r;

	r = claim_version(s, name, now, &id, &next);
	if (r == 0)
		r = store_step_done(stmt(s, ST_RETIRE_PREVIOUS),
		                    STORE_ARGS(bind_int(id)));
	if (r == 0)
		r = store_step_done(stmt(s, ST_DEMOTE_CURRENT),
		                    STORE_ARGS(bind_int(id)));
	if (r == 0)
		r = seal_value(dk, name, (uint64_t)next, value, len, &sealed,
		               &sealedlen);
	if (r < 0)
		return r;
	r = store_step_done(stmt(s, ST_VERSION_INSERT),
	                    STORE_ARGS(bind_int(id), bind_int(next),
	                               bind_int(now),
	                               bind_blob(sealed, sealedlen)));
	free(sealed);
	if (r == 0 && max_versions > 0)
		r = store_step_done(stmt(s, ST_PRUNE),
		                    STORE_ARGS(bind_int(id),
		                               bind_int(max_versions)));
	if (r == 0)
		*ret_version = (uint64_t)next;
	return r;
}

int store_put(store *s, kw_key *dk, const char *name, const uint8_t *value,
              size_t len, uint32_t max_versions, int64_t now,
              uint64_t *ret_version)
{
	uint64_t version = 0;
	int r;

	if (!s || !dk || !name || !*name || (!value && len > 0))
		return KW_EINVAL;
	r = store_tx_begin(s);
	if (r < 0)
		return r;
	r = put_locked(s, dk, name, value, len, max_versions, now, &version);
	if (r == 0)
		r = store_tx_commit(s);
	if (r < 0)
		return store_tx_rollback(s, r);
	if (ret_version)
		*ret_version = version;
	return 0;
}

int store_get(store *s, kw_key *dk, const char *name, uint64_t version,
              const char *stage, store_value **ret_value)
{
	const char *canon = "current";
	store_value *v;
	sqlite3_stmt *st;
	const void *sealed;
	int64_t rowver;
	int r;

	if (!s || !dk || !name || !ret_value)
		return KW_EINVAL;
	if (stage && !(canon = stage_canon(stage)))
		return KW_EINVAL;
	if (version > INT64_MAX)
		return KW_ENOTFOUND;
	if (version > 0) {
		st = stmt(s, ST_GET_BY_VERSION);
		r = store_step_row(st, STORE_ARGS(bind_text(name),
		                                  bind_int(version)));
	} else {
		st = stmt(s, ST_GET_BY_STAGE);
		r = store_step_row(st, STORE_ARGS(bind_text(name),
		                                  bind_text(canon)));
	}
	if (r < 0)
		return r;
	v = calloc(1, sizeof(*v));
	if (!v) {
		store_st_done(st);
		return KW_ENOMEM;
	}
	rowver = sqlite3_column_int64(st, 0);
	canon = stage_canon((const char *)sqlite3_column_text(st, 1));
	v->created = sqlite3_column_int64(st, 2);
	sealed = sqlite3_column_blob(st, 3);
	r = KW_ESTORE;
	if (rowver >= 1 && canon && sealed) {
		v->version = (uint64_t)rowver;
		memcpy(v->stage, canon, strlen(canon) + 1);
		r = seal_open(dk, name, v->version, sealed,
		              (size_t)sqlite3_column_bytes(st, 3), &v->value,
		              &v->len);
	}
	store_st_done(st);
	if (r < 0) {
		store_value_free(v);
		return r;
	}
	*ret_value = v;
	return 0;
}

int store_list(store *s, const char *prefix,
               int (*cb)(const store_meta *m, void *arg), void *arg)
{
	sqlite3_stmt *st;
	size_t plen;
	int r, cbr = 0;

	if (!s || !cb)
		return KW_EINVAL;
	if (!prefix)
		prefix = "";
	plen = strlen(prefix);
	st = stmt(s, ST_LIST);
	/*
	 * Names sort bytewise (BINARY collation), so the names starting with
	 * prefix run from the first >= prefix to the first that does not
	 * start with it. No LIKE/GLOB: '%' and '_' are ordinary bytes here.
	 */
	r = store_step_row(st, STORE_ARGS(bind_text(prefix)));
	while (r == 0) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		int64_t cur = sqlite3_column_int64(st, 3);
		int64_t n = sqlite3_column_int64(st, 4);
		store_meta m;

		if (!name || strncmp(name, prefix, plen) != 0)
			break;
		m.name = name;
		m.created = sqlite3_column_int64(st, 1);
		m.updated = sqlite3_column_int64(st, 2);
		m.current_version = cur > 0 ? (uint64_t)cur : 0;
		m.versions = n > 0 && n <= UINT32_MAX ? (uint32_t)n : 0;
		cbr = cb(&m, arg);
		if (cbr != 0)
			break;
		r = store_step_row(st, STORE_NO_ARGS);
	}
	return store_rows_end(st, r, cbr);
}

int store_versions(store *s, const char *name,
                   int (*cb)(const store_version_info *v, void *arg), void *arg)
{
	sqlite3_stmt *st;
	int64_t id, next;
	int r, cbr = 0;

	if (!s || !name || !cb)
		return KW_EINVAL;
	r = secret_find(s, name, &id, &next);
	if (r < 0)
		return r;
	st = stmt(s, ST_VERSIONS);
	r = store_step_row(st, STORE_ARGS(bind_int(id)));
	while (r == 0) {
		const char *stage = (const char *)sqlite3_column_text(st, 1);
		int64_t ver = sqlite3_column_int64(st, 0);
		store_version_info vi;

		vi.stage = stage_canon(stage);
		if (!vi.stage || ver < 1) {
			r = KW_ESTORE;
			break;
		}
		vi.version = (uint64_t)ver;
		vi.created = sqlite3_column_int64(st, 2);
		vi.retire_at = sqlite3_column_int64(st, 3);
		cbr = cb(&vi, arg);
		if (cbr != 0)
			break;
		r = store_step_row(st, STORE_NO_ARGS);
	}
	return store_rows_end(st, r, cbr);
}

int store_delete(store *s, const char *name, uint32_t *ret_versions)
{
	int64_t id, next, n = 0;
	int r;

	if (!s || !name)
		return KW_EINVAL;
	r = store_tx_begin(s);
	if (r < 0)
		return r;
	r = secret_find(s, name, &id, &next);
	if (r == 0)
		r = store_one_int(stmt(s, ST_VERSION_COUNT),
		                  STORE_ARGS(bind_int(id)), &n);
	if (r == 0)
		r = store_step_done(stmt(s, ST_SECRET_DELETE),
		                    STORE_ARGS(bind_int(id)));
	if (r == 0)
		r = store_step_done(stmt(s, ST_SCHEDULE_DROP),
		                    STORE_ARGS(bind_text(name)));
	if (r == 0)
		r = store_step_done(stmt(s, ST_ROTATION_END),
		                    STORE_ARGS(bind_text(name),
		                               bind_int(clock_wall())));
	if (r == 0)
		r = store_tx_commit(s);
	if (r < 0)
		return store_tx_rollback(s, r);
	if (ret_versions)
		*ret_versions = n > 0 && n <= UINT32_MAX ? (uint32_t)n : 0;
	return 0;
}

int store_count(store *s, uint64_t *ret_count)
{
	int64_t n;
	int r;

	if (!s || !ret_count)
		return KW_EINVAL;
	r = store_one_int(stmt(s, ST_COUNT), STORE_NO_ARGS, &n);
	if (r < 0)
		return r;
	*ret_count = n > 0 ? (uint64_t)n : 0;
	return 0;
}

int store_current_version(store *s, const char *name, uint64_t *ret_version)
{
	int64_t id, next, v = 0;
	int r;

	if (!s || !name || !ret_version)
		return KW_EINVAL;
	r = secret_find(s, name, &id, &next);
	if (r == 0)
		r = store_one_int(stmt(s, ST_CURRENT_VERSION),
		                  STORE_ARGS(bind_int(id)), &v);
	else if (r == KW_ENOTFOUND)
		r = 0;
	if (r == 0)
		*ret_version = v > 0 ? (uint64_t)v : 0;
	return r;
}

/* The body of store_put_pending, inside its transaction. */
static int pending_locked(store *s, kw_key *dk, const char *name,
                          const uint8_t *value, size_t len, int64_t now,
                          uint64_t *ret_version)
{
	int64_t id, next;
	uint8_t *sealed;
	size_t sealedlen;
	int r;

	r = claim_version(s, name, now, &id, &next);
	if (r == 0)
		r = store_step_done(stmt(s, ST_PENDING_DELETE),
		                    STORE_ARGS(bind_int(id)));
	if (r == 0)
		r = seal_value(dk, name, (uint64_t)next, value, len, &sealed,
		               &sealedlen);
	if (r < 0)
		return r;
	r = store_step_done(stmt(s, ST_PENDING_INSERT),
	                    STORE_ARGS(bind_int(id), bind_int(next),
	                               bind_int(now),
	                               bind_blob(sealed, sealedlen)));
	free(sealed);
	if (r == 0)
		*ret_version = (uint64_t)next;
	return r;
}

int store_put_pending(store *s, kw_key *dk, const char *name,
                      const uint8_t *value, size_t len, int64_t now,
                      uint64_t *ret_version)
{
	uint64_t version = 0;
	int r;

	if (!s || !dk || !name || !*name || (!value && len > 0) || !ret_version)
		return KW_EINVAL;
	r = store_tx_begin(s);
	if (r < 0)
		return r;
	r = pending_locked(s, dk, name, value, len, now, &version);
	if (r == 0)
		r = store_tx_commit(s);
	if (r < 0)
		return store_tx_rollback(s, r);
	*ret_version = version;
	return 0;
}

/* The body of store_promote, inside its transaction. */
static int promote_locked(store *s, const char *name, uint64_t pending,
                          uint64_t expect_current, int64_t retire_at,
                          uint32_t max_versions, int64_t now)
{
	sqlite3_stmt *st = stmt(s, ST_STAGE_VERSION);
	int64_t id, next, cur = 0;
	int r;

	r = secret_find(s, name, &id, &next);
	if (r == 0)
		r = store_step_row(st,
		                   STORE_ARGS(bind_int(id), bind_int(pending)));
	if (r < 0)
		return r;
	const unsigned char *stage = sqlite3_column_text(st, 0);
	bool is_pending = stage && strcmp((const char *)stage, "pending") == 0;
	store_st_done(st);
	if (!is_pending)
		return KW_ENOTFOUND;
	r = store_one_int(stmt(s, ST_CURRENT_VERSION), STORE_ARGS(bind_int(id)),
	                  &cur);
	if (r < 0)
		return r;
	if ((uint64_t)(cur > 0 ? cur : 0) != expect_current)
		return KW_ESTATE;
	r = store_step_done(stmt(s, ST_PROMOTE_PREVIOUS),
	                    STORE_ARGS(bind_int(id)));
	if (r == 0)
		r = store_step_done(stmt(s, ST_PROMOTE_CURRENT),
		                    STORE_ARGS(bind_int(id),
		                               bind_int(retire_at)));
	if (r == 0)
		r = store_step_done(stmt(s, ST_PROMOTE_PENDING),
		                    STORE_ARGS(bind_int(id),
		                               bind_int(pending)));
	if (r == 0)
		r = store_step_done(stmt(s, ST_SECRET_BUMP),
		                    STORE_ARGS(bind_int(id), bind_int(next),
		                               bind_int(now)));
	if (r == 0 && max_versions > 0)
		r = store_step_done(stmt(s, ST_PRUNE),
		                    STORE_ARGS(bind_int(id),
		                               bind_int(max_versions)));
	return r;
}

int store_promote(store *s, const char *name, uint64_t pending,
                  uint64_t expect_current, int64_t retire_at,
                  uint32_t max_versions, int64_t now)
{
	int r;

	if (!s || !name || pending < 1 || pending > INT64_MAX ||
	    expect_current > INT64_MAX)
		return KW_EINVAL;
	r = store_tx_begin(s);
	if (r < 0)
		return r;
	r = promote_locked(s, name, pending, expect_current, retire_at,
	                   max_versions, now);
	if (r == 0)
		r = store_tx_commit(s);
	if (r < 0)
		return store_tx_rollback(s, r);
	return 0;
}

int store_retire_due(store *s, int64_t now, uint32_t limit,
                     int (*cb)(const char *name, uint64_t version, void *arg),
                     void *arg)
{
	sqlite3_stmt *st;
	struct {
		char name[KW_NAME_MAX + 1];
		int64_t id, version;
	} due[64];
	uint32_t n = 0;
	int r, cbr = 0;

	if (!s || !cb)
		return KW_EINVAL;
	if (limit > sizeof(due) / sizeof(due[0]))
		limit = sizeof(due) / sizeof(due[0]);
	/* Collect first: the updates must not run under an open SELECT. */
	st = stmt(s, ST_RETIRE_DUE);
	r = store_step_row(st, STORE_ARGS(bind_int(now), bind_int(limit)));
	while (r == 0 && n < limit) {
		const char *nm = (const char *)sqlite3_column_text(st, 0);
		size_t len = nm ? strnlen(nm, KW_NAME_MAX) : 0;
		memcpy(due[n].name, nm ? nm : "", len);
		due[n].name[len] = '\0';
		due[n].id = sqlite3_column_int64(st, 1);
		due[n].version = sqlite3_column_int64(st, 2);
		n++;
		r = store_step_row(st, STORE_NO_ARGS);
	}
	r = store_rows_end(st, r, 0);
	for (uint32_t i = 0; r == 0 && i < n; i++) {
		r = store_step_done(stmt(s, ST_RETIRE_ONE),
		                    STORE_ARGS(bind_int(due[i].id),
		                               bind_int(due[i].version)));
		if (r == 0 && due[i].version > 0)
			cbr = cb(due[i].name, (uint64_t)due[i].version, arg);
		if (cbr != 0)
			return cbr;
	}
	return r;
}
