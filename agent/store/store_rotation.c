/*
 * store_rotation.c - schedules and rotation runs (store_rotation.h).
 */
#include "store_rotation.h"

#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "keyward.h"
#include "store_int.h"

enum rotation_stmt {
	ST_SCHED_PUT,
	ST_SCHED_GET,
	ST_SCHED_DELETE,
	ST_SCHED_LIST,
	ST_SCHED_DUE,
	ST_SCHED_SET_NEXT,
	ST_SCHED_OUTCOME,
	ST_SCHED_COUNT,
	ST_ROT_INSERT,
	ST_ROT_UPDATE,
	ST_ROT_GET,
	ST_ROT_ACTIVE,
	ST_ROT_DUE,
	ST_ROT_HISTORY,
	ST_ROT_PRUNE,
	ST_NEXT_DUE,
	ST_ROT_SET_GROUP,
	ST_ROT_GROUPS,
	ST_ROTATION__MAX
};

#define SCHED_COLS                                                         \
	"name, every, window_start, window_end, jitter, overlap, rotator," \
	" generate, hmac_secret, flags, created, next_run, last_run,"      \
	" last_outcome"
#define ROT_COLS                                                             \
	"id, name, trigger, rotator, generate, hmac_secret, flags, overlap," \
	" step, attempts, next_try, pending_version, previous_version,"      \
	" new_version, started, finished, error"

static const char *const rotation_sql[ST_ROTATION__MAX] = {
	[ST_SCHED_PUT] =
		"INSERT INTO schedules (name, every, window_start, window_end,"
		" jitter, overlap, rotator, generate, hmac_secret, flags,"
		" created, next_run)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
		" ON CONFLICT (name) DO UPDATE SET every = ?2,"
		" window_start = ?3, window_end = ?4, jitter = ?5,"
		" overlap = ?6, rotator = ?7, generate = ?8,"
		" hmac_secret = ?9, flags = ?10, next_run = ?12",
	[ST_SCHED_GET] = "SELECT " SCHED_COLS " FROM schedules WHERE name = ?1",
	[ST_SCHED_DELETE] = "DELETE FROM schedules WHERE name = ?1",
	/* Only where the range starts; the caller tests the prefix. */
	[ST_SCHED_LIST] = "SELECT " SCHED_COLS " FROM schedules"
			  " WHERE name > ?1 AND name >= ?2"
			  " ORDER BY name LIMIT ?3",
	[ST_SCHED_DUE] = "SELECT " SCHED_COLS " FROM schedules"
			 " WHERE next_run <= ?1 ORDER BY next_run LIMIT ?2",
	[ST_SCHED_SET_NEXT] = "UPDATE schedules SET next_run = ?2"
			      " WHERE name = ?1",
	[ST_SCHED_OUTCOME] = "UPDATE schedules SET last_run = ?2,"
			     " last_outcome = ?3 WHERE name = ?1",
	[ST_SCHED_COUNT] = "SELECT count(*) FROM schedules",
	[ST_ROT_INSERT] =
		"INSERT INTO rotations (" ROT_COLS ") VALUES (?1, ?2, ?3, ?4,"
		" ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
	[ST_ROT_UPDATE] = "UPDATE rotations SET step = ?2, attempts = ?3,"
			  " next_try = ?4, pending_version = ?5,"
			  " previous_version = ?6, new_version = ?7,"
			  " finished = ?8, error = ?9 WHERE id = ?1",
	[ST_ROT_GET] = "SELECT " ROT_COLS " FROM rotations WHERE id = ?1",
	[ST_ROT_ACTIVE] = "SELECT " ROT_COLS " FROM rotations"
			  " WHERE name = ?1 AND next_try IS NOT NULL",
	[ST_ROT_DUE] = "SELECT " ROT_COLS " FROM rotations"
		       " WHERE next_try IS NOT NULL AND next_try <= ?1"
		       " ORDER BY next_try LIMIT ?2",
	[ST_ROT_HISTORY] = "SELECT " ROT_COLS " FROM rotations"
			   " WHERE name = ?1 AND next_try IS NULL"
			   " ORDER BY started DESC, rowid DESC LIMIT ?2",
	[ST_ROT_PRUNE] =
		"DELETE FROM rotations WHERE name = ?1 AND next_try IS NULL"
		" AND rowid NOT IN (SELECT rowid FROM rotations"
		" WHERE name = ?1 AND next_try IS NULL"
		" ORDER BY started DESC, rowid DESC LIMIT ?2)",
	/* Each min() is answered from its index. */
	[ST_NEXT_DUE] =
		"SELECT min(coalesce((SELECT min(next_run) FROM schedules),"
		" 9223372036854775807),"
		" coalesce((SELECT min(next_try) FROM rotations"
		" WHERE next_try IS NOT NULL), 9223372036854775807),"
		" coalesce((SELECT min(retire_at) FROM versions"
		" WHERE retire_at IS NOT NULL), 9223372036854775807))",
	[ST_ROT_SET_GROUP] = "UPDATE rotations SET cmd_pgid = ?2,"
			     " cmd_start = ?3, cmd_sid = ?4, cmd_boot = ?5"
			     " WHERE id = ?1",
	[ST_ROT_GROUPS] = "SELECT id, cmd_pgid, cmd_start, cmd_sid, cmd_boot,"
			  " name FROM rotations WHERE next_try IS NOT NULL"
			  " AND cmd_pgid IS NOT NULL ORDER BY id",
};

const store_stmts store_rotation_stmts = { rotation_sql, ST_ROTATION__MAX };

static sqlite3_stmt *stmt(store *s, enum rotation_stmt id)
{
	return s->st[STORE_MOD_ROTATION][id];
}

/* Column i as text into out ("" for NULL; cut to fit, which the CHECKs
 * and the writers' bounds make impossible for valid rows). */
static void col_text(sqlite3_stmt *st, int i, char *out, size_t outsz)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	snprintf(out, outsz, "%s", t ? (const char *)t : "");
}

static uint64_t col_u64(sqlite3_stmt *st, int i)
{
	int64_t v = sqlite3_column_int64(st, i);
	return v > 0 ? (uint64_t)v : 0;
}

static int64_t i64(uint64_t v)
{
	return v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

static const char *opt(const char *s)
{
	return s && *s ? s : NULL;
}

static void read_schedule(sqlite3_stmt *st, store_schedule *sc)
{
	memset(sc, 0, sizeof(*sc));
	col_text(st, 0, sc->name, sizeof(sc->name));
	sc->every = col_u64(st, 1);
	sc->window = sqlite3_column_type(st, 2) != SQLITE_NULL &&
	             sqlite3_column_type(st, 3) != SQLITE_NULL;
	if (sc->window) {
		sc->window_start = (uint32_t)col_u64(st, 2);
		sc->window_end = (uint32_t)col_u64(st, 3);
	}
	sc->jitter = col_u64(st, 4);
	sc->overlap = col_u64(st, 5);
	col_text(st, 6, sc->rotator, sizeof(sc->rotator));
	col_text(st, 7, sc->generate, sizeof(sc->generate));
	col_text(st, 8, sc->hmac_secret, sizeof(sc->hmac_secret));
	sc->flags = (uint32_t)col_u64(st, 9);
	sc->created = sqlite3_column_int64(st, 10);
	sc->next_run = sqlite3_column_int64(st, 11);
	sc->last_run = sqlite3_column_int64(st, 12);
	col_text(st, 13, sc->last_outcome, sizeof(sc->last_outcome));
}

static void read_rotation(sqlite3_stmt *st, store_rotation *ro)
{
	memset(ro, 0, sizeof(*ro));
	col_text(st, 0, ro->id, sizeof(ro->id));
	col_text(st, 1, ro->name, sizeof(ro->name));
	col_text(st, 2, ro->trigger, sizeof(ro->trigger));
	col_text(st, 3, ro->rotator, sizeof(ro->rotator));
	col_text(st, 4, ro->generate, sizeof(ro->generate));
	col_text(st, 5, ro->hmac_secret, sizeof(ro->hmac_secret));
	ro->flags = (uint32_t)col_u64(st, 6);
	ro->overlap = col_u64(st, 7);
	col_text(st, 8, ro->step, sizeof(ro->step));
	ro->attempts = (uint32_t)col_u64(st, 9);
	ro->next_try = sqlite3_column_int64(st, 10);
	ro->pending_version = col_u64(st, 11);
	ro->previous_version = col_u64(st, 12);
	ro->new_version = col_u64(st, 13);
	ro->started = sqlite3_column_int64(st, 14);
	ro->finished = sqlite3_column_int64(st, 15);
	col_text(st, 16, ro->error, sizeof(ro->error));
}

int store_schedule_put(store *s, const store_schedule *sc)
{
	sqlite3_stmt *st;
	int rc;

	if (!s || !sc || !sc->name[0] || !sc->rotator[0] || sc->every < 1)
		return KW_EINVAL;
	st = stmt(s, ST_SCHED_PUT);
	rc = sqlite3_bind_text(st, 1, sc->name, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, i64(sc->every));
	if (rc == SQLITE_OK && sc->window)
		rc = sqlite3_bind_int64(st, 3, sc->window_start);
	if (rc == SQLITE_OK && sc->window)
		rc = sqlite3_bind_int64(st, 4, sc->window_end);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 5, i64(sc->jitter));
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 6, i64(sc->overlap));
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 7, sc->rotator, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 8, opt(sc->generate), -1,
		                       SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 9, opt(sc->hmac_secret), -1,
		                       SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 10, sc->flags);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 11, sc->created);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 12, sc->next_run);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	store_st_done(st);
	return rc == SQLITE_DONE ? 0 : store_sql_err(rc);
}

int store_schedule_get(store *s, const char *name, store_schedule *ret)
{
	sqlite3_stmt *st;
	int r;

	if (!s || !name || !ret)
		return KW_EINVAL;
	st = stmt(s, ST_SCHED_GET);
	r = store_step_row(st, STORE_ARGS(bind_text(name)));
	if (r < 0)
		return r;
	read_schedule(st, ret);
	store_st_done(st);
	return 0;
}

int store_schedule_delete(store *s, const char *name)
{
	int r;

	if (!s || !name)
		return KW_EINVAL;
	r = store_step_done(stmt(s, ST_SCHED_DELETE),
	                    STORE_ARGS(bind_text(name)));
	if (r == 0 && sqlite3_changes(s->db) == 0)
		r = KW_ENOTFOUND;
	return r;
}

/* Hand each row of st (already stepped once, r) to cb as a schedule;
 * stop at the first name without prefix (plen > 0). */
static int schedule_rows(sqlite3_stmt *st, int r, const char *prefix,
                         int (*cb)(const store_schedule *sc, void *arg),
                         void *arg)
{
	size_t plen = prefix ? strlen(prefix) : 0;
	store_schedule sc;
	int cbr = 0;

	while (r == 0) {
		read_schedule(st, &sc);
		if (plen && strncmp(sc.name, prefix, plen) != 0)
			break;
		cbr = cb(&sc, arg);
		if (cbr != 0)
			break;
		r = store_step_row(st, STORE_NO_ARGS);
	}
	return store_rows_end(st, r, cbr);
}

int store_schedule_list(store *s, const char *after, const char *prefix,
                        uint32_t limit,
                        int (*cb)(const store_schedule *sc, void *arg),
                        void *arg)
{
	sqlite3_stmt *st;

	if (!s || !cb)
		return KW_EINVAL;
	st = stmt(s, ST_SCHED_LIST);
	return schedule_rows(
		st,
		store_step_row(st, STORE_ARGS(bind_text(after ? after : ""),
	                                      bind_text(prefix ? prefix : ""),
	                                      bind_int(limit))),
		prefix, cb, arg);
}

int store_schedule_due(store *s, int64_t now, uint32_t limit,
                       int (*cb)(const store_schedule *sc, void *arg),
                       void *arg)
{
	sqlite3_stmt *st;

	if (!s || !cb)
		return KW_EINVAL;
	st = stmt(s, ST_SCHED_DUE);
	return schedule_rows(st,
	                     store_step_row(st,
	                                    STORE_ARGS(bind_int(now),
	                                               bind_int((
							       int64_t)limit))),
	                     NULL, cb, arg);
}

int store_schedule_set_next(store *s, const char *name, int64_t next_run)
{
	if (!s || !name)
		return KW_EINVAL;
	return store_step_done(stmt(s, ST_SCHED_SET_NEXT),
	                       STORE_ARGS(bind_text(name), bind_int(next_run)));
}

int store_schedule_outcome(store *s, const char *name, int64_t when,
                           const char *outcome)
{
	if (!s || !name || !outcome)
		return KW_EINVAL;
	return store_step_done(stmt(s, ST_SCHED_OUTCOME),
	                       STORE_ARGS(bind_text(name), bind_int(when),
	                                  bind_text(outcome)));
}

int store_schedule_count(store *s, uint64_t *ret_count)
{
	int64_t n;
	int r;

	if (!s || !ret_count)
		return KW_EINVAL;
	r = store_one_int(stmt(s, ST_SCHED_COUNT), STORE_NO_ARGS, &n);
	if (r == 0)
		*ret_count = n > 0 ? (uint64_t)n : 0;
	return r;
}

/* Bind a rotation's mutable columns at ?2..?9 (update) or all (insert). */
static int bind_rotation(sqlite3_stmt *st, const store_rotation *ro,
                         bool insert)
{
	int rc = sqlite3_bind_text(st, 1, ro->id, -1, SQLITE_STATIC);
	int i = 2;

	if (insert) {
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_text(st, i, ro->name, -1,
			                       SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_text(st, i + 1, ro->trigger, -1,
			                       SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_text(st, i + 2, ro->rotator, -1,
			                       SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_text(st, i + 3, opt(ro->generate), -1,
			                       SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_text(st, i + 4, opt(ro->hmac_secret),
			                       -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(st, i + 5, ro->flags);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(st, i + 6, i64(ro->overlap));
		i += 7;
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, i++, ro->step, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, i++, ro->attempts);
	if (rc == SQLITE_OK)
		rc = ro->next_try ? sqlite3_bind_int64(st, i, ro->next_try) :
		                    sqlite3_bind_null(st, i);
	i++;
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, i++, i64(ro->pending_version));
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, i++, i64(ro->previous_version));
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, i++, i64(ro->new_version));
	if (insert && rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, i++, ro->started);
	if (rc == SQLITE_OK)
		rc = ro->finished ? sqlite3_bind_int64(st, i, ro->finished) :
		                    sqlite3_bind_null(st, i);
	i++;
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, i, opt(ro->error), -1,
		                       SQLITE_STATIC);
	return rc;
}

int store_rotation_insert(store *s, const store_rotation *ro)
{
	sqlite3_stmt *st;
	int rc;

	if (!s || !ro || strlen(ro->id) != ROTATION_ID_LEN || !ro->name[0])
		return KW_EINVAL;
	st = stmt(s, ST_ROT_INSERT);
	rc = bind_rotation(st, ro, true);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	store_st_done(st);
	if (rc == SQLITE_DONE)
		return 0;
	/* The partial unique index: one active run per secret. */
	if ((rc & 0xff) == SQLITE_CONSTRAINT)
		return KW_EEXIST;
	return store_sql_err(rc);
}

/* Step st, bound with result rc so far, for an UPDATE of exactly one run:
 * 0, KW_ENOTFOUND if no row matched, or the SQLite error. */
static int step_one_change(store *s, sqlite3_stmt *st, int rc)
{
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	store_st_done(st);
	if (rc != SQLITE_DONE)
		return store_sql_err(rc);
	return sqlite3_changes(s->db) == 1 ? 0 : KW_ENOTFOUND;
}

int store_rotation_update(store *s, const store_rotation *ro)
{
	sqlite3_stmt *st;
	int rc;

	if (!s || !ro)
		return KW_EINVAL;
	st = stmt(s, ST_ROT_UPDATE);
	rc = bind_rotation(st, ro, false);
	return step_one_change(s, st, rc);
}

static int rotation_one(sqlite3_stmt *st, const char *key, store_rotation *ret)
{
	int r = store_step_row(st, STORE_ARGS(bind_text(key)));

	if (r < 0)
		return r;
	read_rotation(st, ret);
	store_st_done(st);
	return 0;
}

int store_rotation_get(store *s, const char *id, store_rotation *ret)
{
	if (!s || !id || !ret)
		return KW_EINVAL;
	return rotation_one(stmt(s, ST_ROT_GET), id, ret);
}

int store_rotation_active(store *s, const char *name, store_rotation *ret)
{
	if (!s || !name || !ret)
		return KW_EINVAL;
	return rotation_one(stmt(s, ST_ROT_ACTIVE), name, ret);
}

static int rotation_rows(sqlite3_stmt *st, int r,
                         int (*cb)(const store_rotation *ro, void *arg),
                         void *arg)
{
	store_rotation ro;
	int cbr = 0;

	while (r == 0) {
		read_rotation(st, &ro);
		cbr = cb(&ro, arg);
		if (cbr != 0)
			break;
		r = store_step_row(st, STORE_NO_ARGS);
	}
	return store_rows_end(st, r, cbr);
}

int store_rotation_due(store *s, int64_t now, uint32_t limit,
                       int (*cb)(const store_rotation *ro, void *arg),
                       void *arg)
{
	sqlite3_stmt *st;

	if (!s || !cb)
		return KW_EINVAL;
	st = stmt(s, ST_ROT_DUE);
	return rotation_rows(st,
	                     store_step_row(st,
	                                    STORE_ARGS(bind_int(now),
	                                               bind_int((
							       int64_t)limit))),
	                     cb, arg);
}

int store_rotation_history(store *s, const char *name, uint32_t limit,
                           int (*cb)(const store_rotation *ro, void *arg),
                           void *arg)
{
	sqlite3_stmt *st;

	if (!s || !name || !cb)
		return KW_EINVAL;
	st = stmt(s, ST_ROT_HISTORY);
	return rotation_rows(st,
	                     store_step_row(st,
	                                    STORE_ARGS(bind_text(name),
	                                               bind_int((
							       int64_t)limit))),
	                     cb, arg);
}

int store_rotation_prune(store *s, const char *name, uint32_t keep)
{
	if (!s || !name)
		return KW_EINVAL;
	return store_step_done(stmt(s, ST_ROT_PRUNE),
	                       STORE_ARGS(bind_text(name), bind_int(keep)));
}

int store_rotation_next_due(store *s, int64_t *ret_when)
{
	int64_t when;
	int r;

	if (!s || !ret_when)
		return KW_EINVAL;
	r = store_one_int(stmt(s, ST_NEXT_DUE), STORE_NO_ARGS, &when);
	if (r < 0)
		return r;
	if (when == INT64_MAX)
		return KW_ENOTFOUND;
	*ret_when = when;
	return 0;
}

int store_rotation_set_group(store *s, const char *id,
                             const store_rotation_group *g)
{
	sqlite3_stmt *st;
	int rc;

	if (!s || !id ||
	    (g && (g->pgid <= 1 || g->sid < 0 || g->start > INT64_MAX ||
	           strlen(g->boot) != STORE_BOOT_ID_LEN)))
		return KW_EINVAL;
	st = stmt(s, ST_ROT_SET_GROUP);
	rc = sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (g) {
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(st, 2, g->pgid);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(st, 3, (int64_t)g->start);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(st, 4, g->sid);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_text(st, 5, g->boot, -1,
			                       SQLITE_STATIC);
	}
	/* Without g, ?2..?5 stay NULL: the record is forgotten. */
	return step_one_change(s, st, rc);
}

int store_rotation_groups(store *s,
                          int (*cb)(const store_rotation_group *g, void *arg),
                          void *arg)
{
	store_rotation_group g;
	sqlite3_stmt *st;
	int r, cbr = 0;

	if (!s || !cb)
		return KW_EINVAL;
	st = stmt(s, ST_ROT_GROUPS);
	for (r = store_step_row(st, STORE_NO_ARGS); r == 0;
	     r = store_step_row(st, STORE_NO_ARGS)) {
		memset(&g, 0, sizeof(g));
		col_text(st, 0, g.id, sizeof(g.id));
		g.pgid = sqlite3_column_int64(st, 1);
		g.start = col_u64(st, 2);
		g.sid = sqlite3_column_int64(st, 3);
		col_text(st, 4, g.boot, sizeof(g.boot));
		col_text(st, 5, g.name, sizeof(g.name));
		cbr = cb(&g, arg);
		if (cbr != 0)
			break;
	}
	return store_rows_end(st, r, cbr);
}
