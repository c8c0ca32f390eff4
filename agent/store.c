/*
 * store.c - the encrypted secret store on SQLite (see store.h; the on-disk
 * format is in docs/store.md).
 *
 * Every statement is prepared once at open, cached in struct store, and run
 * with bound parameters. The only SQL text run otherwise is constant:
 * pragmas and migrations.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "keyward.h"
#include "secmem.h"

#ifndef SQLITE_OPEN_NOFOLLOW
#define SQLITE_OPEN_NOFOLLOW 0 /* before SQLite 3.31 */
#endif

#define BUSY_TIMEOUT_MS 5000

/*
 * Schema migrations, applied in order, each in its own transaction and
 * recorded in schema_migrations as its index + 1. Append only: never edit
 * one that has shipped.
 */
static const char *const migrations[] = {
	/* 1: the data-key wrap, secrets, their versions, deleted names */
	"CREATE TABLE keywrap ("
	" id INTEGER PRIMARY KEY CHECK (id = 1),"
	" mode INTEGER NOT NULL CHECK (mode IN (1, 2)),"
	" salt BLOB NOT NULL CHECK (length(salt) = 16),"
	" opslimit INTEGER NOT NULL CHECK (opslimit >= 0),"
	" memlimit INTEGER NOT NULL CHECK (memlimit >= 0),"
	" nonce BLOB NOT NULL CHECK (length(nonce) = 24),"
	" wrapped BLOB NOT NULL CHECK (length(wrapped) = 48),"
	" updated INTEGER NOT NULL);"
	"CREATE TABLE secrets ("
	" id INTEGER PRIMARY KEY,"
	" name TEXT NOT NULL UNIQUE,"
	" created INTEGER NOT NULL,"
	" updated INTEGER NOT NULL,"
	" next_version INTEGER NOT NULL CHECK (next_version >= 1));"
	"CREATE TABLE versions ("
	" secret_id INTEGER NOT NULL REFERENCES secrets (id) ON DELETE CASCADE,"
	" version INTEGER NOT NULL CHECK (version >= 1),"
	" stage TEXT NOT NULL"
	"  CHECK (stage IN ('current', 'pending', 'previous', 'retired')),"
	" created INTEGER NOT NULL,"
	" sealed BLOB NOT NULL CHECK (length(sealed) >= 40),"
	" PRIMARY KEY (secret_id, version)) WITHOUT ROWID;"
	"CREATE UNIQUE INDEX versions_one_per_stage"
	" ON versions (secret_id, stage)"
	" WHERE stage <> 'retired';"
	"CREATE TABLE tombstones ("
	" name TEXT PRIMARY KEY,"
	" next_version INTEGER NOT NULL CHECK (next_version >= 1));"
	"CREATE TRIGGER secrets_tombstone AFTER DELETE ON secrets BEGIN"
	" INSERT OR REPLACE INTO tombstones (name, next_version)"
	" VALUES (old.name, old.next_version); END;"
	"CREATE TRIGGER secrets_untombstone AFTER INSERT ON secrets BEGIN"
	" DELETE FROM tombstones WHERE name = new.name; END;",
};
#define MIGRATION_COUNT ((int)(sizeof(migrations) / sizeof(migrations[0])))

enum stmt_id {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SCHEMA_VERSION,
	ST_WRAP_GET,
	ST_WRAP_SET,
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
	ST__MAX
};

static const char *const stmt_sql[ST__MAX] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_SCHEMA_VERSION] =
		"SELECT coalesce(max(version), 0) FROM schema_migrations",
	[ST_WRAP_GET] = "SELECT mode, salt, opslimit, memlimit, nonce, wrapped"
			" FROM keywrap WHERE id = 1",
	[ST_WRAP_SET] =
		"INSERT INTO keywrap (id, mode, salt, opslimit,"
		" memlimit, nonce, wrapped, updated)"
		" VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7)"
		" ON CONFLICT (id) DO UPDATE SET mode = excluded.mode,"
		" salt = excluded.salt, opslimit = excluded.opslimit,"
		" memlimit = excluded.memlimit, nonce = excluded.nonce,"
		" wrapped = excluded.wrapped, updated = excluded.updated",
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
	[ST_RETIRE_PREVIOUS] = "UPDATE versions SET stage = 'retired'"
			       " WHERE secret_id = ?1 AND stage = 'previous'",
	[ST_DEMOTE_CURRENT] = "UPDATE versions SET stage = 'previous'"
			      " WHERE secret_id = ?1 AND stage = 'current'",
	[ST_VERSION_INSERT] = "INSERT INTO versions"
			      " (secret_id, version, stage, created, sealed)"
			      " VALUES (?1, ?2, 'current', ?3, ?4)",
	/* The oldest versions that may go, as many as exceed ?2. */
	[ST_PRUNE] =
		"DELETE FROM versions WHERE secret_id = ?1 AND version IN"
		" (SELECT version FROM versions WHERE secret_id = ?1"
		" AND stage NOT IN ('current', 'pending')"
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
	[ST_VERSIONS] = "SELECT version, stage, created FROM versions"
			" WHERE secret_id = ?1 ORDER BY version DESC",
	[ST_VERSION_COUNT] =
		"SELECT count(*) FROM versions WHERE secret_id = ?1",
	[ST_COUNT] = "SELECT count(*) FROM secrets",
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *st[ST__MAX];
};

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

static int sql_err(int rc)
{
	return (rc & 0xff) == SQLITE_NOMEM ? KW_ENOMEM : KW_ESTORE;
}

/* Reset after use; bindings are cleared so no pointer outlives the call. */
static void st_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/*
 * Bind ?1, ?2, ... from types ('i' int64_t, 't' const char *, 'b' const
 * void * then size_t), all SQLITE_STATIC, and step once. Returns SQLITE_ROW
 * with the statement on its row (the caller calls st_done after reading),
 * or 0 for no row, or a KW_E* code; in these two cases it has been reset.
 */
static int vstep(sqlite3_stmt *st, const char *types, va_list ap)
{
	int rc = SQLITE_OK;

	for (int i = 1; rc == SQLITE_OK && types[i - 1]; i++) {
		if (types[i - 1] == 'i') {
			rc = sqlite3_bind_int64(st, i, va_arg(ap, int64_t));
		} else if (types[i - 1] == 't') {
			rc = sqlite3_bind_text(st, i, va_arg(ap, const char *),
			                       -1, SQLITE_STATIC);
		} else {
			const void *p = va_arg(ap, const void *);
			size_t n = va_arg(ap, size_t);

			rc = n > INT_MAX ? SQLITE_TOOBIG :
			                   sqlite3_bind_blob(st, i, p, (int)n,
			                                     SQLITE_STATIC);
		}
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return SQLITE_ROW;
	st_done(st);
	return rc == SQLITE_DONE ? 0 : sql_err(rc);
}

/* One row wanted: 0 on it (st_done after reading), KW_ENOTFOUND if none. */
static int step_row(sqlite3_stmt *st, const char *types, ...)
{
	va_list ap;
	int r;

	va_start(ap, types);
	r = vstep(st, types, ap);
	va_end(ap);
	return r == SQLITE_ROW ? 0 : r == 0 ? KW_ENOTFOUND : r;
}

/* A statement run for its effect (done by its first step): 0 or KW_E*. */
static int step_done(sqlite3_stmt *st, const char *types, ...)
{
	va_list ap;
	int r;

	va_start(ap, types);
	r = vstep(st, types, ap);
	va_end(ap);
	if (r == SQLITE_ROW)
		st_done(st);
	return r == SQLITE_ROW ? 0 : r;
}

/* Undo whatever the open transaction did; SQLite may already have. */
static int tx_rollback(store *s, int r)
{
	if (!sqlite3_get_autocommit(s->db))
		(void)step_done(s->st[ST_ROLLBACK], "");
	return r;
}

enum { FILES_CHECK, FILES_ABSENT, FILES_UNLINK };

/*
 * The database (i = 0) and the -wal and -shm files beside it. FILES_CHECK:
 * each that exists must be a regular file of ours that group and others
 * cannot touch (else KW_EPERM), and the database must exist (KW_ENOTFOUND).
 * FILES_ABSENT, before creating: none may exist (KW_EEXIST), or SQLite could
 * replay a stranger's WAL into the new file. FILES_UNLINK: remove them.
 */
static int store_files(const char *path, int what)
{
	static const char *const suffix[] = { "", "-wal", "-shm" };
	char p[PATH_MAX];
	struct stat st;

	for (int i = 0; i < 3; i++) {
		int n = snprintf(p, sizeof(p), "%s%s", path, suffix[i]);

		if (n < 0 || (size_t)n >= sizeof(p))
			return KW_EINVAL;
		if (what == FILES_UNLINK) {
			unlink(p);
		} else if (lstat(p, &st) < 0) {
			if (errno != ENOENT)
				return errno == EACCES ? KW_EPERM : KW_ESTORE;
			if (what == FILES_CHECK && i == 0)
				return KW_ENOTFOUND;
		} else if (what == FILES_ABSENT) {
			return KW_EEXIST;
		} else if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
		           (st.st_mode & 077) != 0) {
			return KW_EPERM;
		}
	}
	return 0;
}

/* An empty file of mode 0600 whatever the umask; never world-readable. */
static int create_file(const char *path)
{
	const int fl = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
	int fd = open(path, fl, 0600);

	if (fd < 0) {
		if (errno == EEXIST)
			return KW_EEXIST;
		if (errno == ENOENT)
			return KW_ENOTFOUND;
		return errno == EACCES ? KW_EPERM : KW_ESTORE;
	}
	if (fchmod(fd, 0600) < 0) {
		close(fd);
		unlink(path);
		return KW_ESTORE;
	}
	close(fd);
	return 0;
}

/* Run constant SQL text (pragmas, migrations); never input. */
static int exec_const(sqlite3 *db, const char *sql)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : sql_err(rc);
}

/* The integer in the first row of constant SQL. */
static int query_int(sqlite3 *db, const char *sql, int64_t *ret)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return sql_err(rc);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*ret = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : sql_err(rc);
}

/*
 * foreign_keys: versions go with their secret. secure_delete: the pages of
 * deleted versions are zeroed, not left in the free list. trusted_schema
 * off and DEFENSIVE: a tampered schema cannot make SQLite run functions or
 * corrupt the file. synchronous=FULL (set after journal_mode): in WAL mode
 * NORMAL may lose the last commits on power failure, and a put that was
 * acknowledged, perhaps already pushed upstream by a rotation, must
 * survive; FULL syncs the WAL on every commit.
 */
static int set_pragmas(sqlite3 *db)
{
	int64_t wal = 0;
	int r;

	sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	r = exec_const(db, "PRAGMA foreign_keys = ON;"
	                   "PRAGMA secure_delete = ON;"
	                   "PRAGMA trusted_schema = OFF;"
	                   "PRAGMA journal_mode = WAL;"
	                   "PRAGMA synchronous = FULL;");
	if (r == 0)
		r = query_int(db,
		              "SELECT journal_mode = 'wal'"
		              " FROM pragma_journal_mode",
		              &wal);
	return r == 0 && wal != 1 ? KW_ESTORE : r;
}

#define SQL_RECORD_MIGRATION                                  \
	"INSERT INTO schema_migrations (version, applied_at)" \
	" SELECT coalesce(max(version), 0) + 1,"              \
	" CAST(strftime('%s', 'now') AS INTEGER) FROM schema_migrations;"

/*
 * Apply the migrations the file lacks, each in its own transaction; the
 * version is read inside it in case another opener got there first.
 */
static int migrate(sqlite3 *db)
{
	int64_t have = 0;
	int r;

	r = exec_const(db, "CREATE TABLE IF NOT EXISTS schema_migrations ("
	                   " version INTEGER PRIMARY KEY,"
	                   " applied_at INTEGER NOT NULL);");
	for (int v = 1; r == 0 && v <= MIGRATION_COUNT; v++) {
		r = exec_const(db, "BEGIN IMMEDIATE;");
		if (r == 0)
			r = query_int(db,
			              "SELECT coalesce(max(version), 0)"
			              " FROM schema_migrations",
			              &have);
		/* Written by a newer keyward: do not guess at its schema. */
		if (r == 0 && have > MIGRATION_COUNT)
			r = KW_ESTORE;
		if (r == 0 && have < v)
			r = exec_const(db, migrations[v - 1]);
		if (r == 0 && have < v)
			r = exec_const(db, SQL_RECORD_MIGRATION);
		if (r == 0)
			r = exec_const(db, "COMMIT;");
		if (r < 0 && !sqlite3_get_autocommit(db))
			(void)exec_const(db, "ROLLBACK;");
	}
	return r;
}

int store_open(const char *path, int flags, store **ret_store)
{
	bool creating = flags == STORE_CREATE;
	store *s;
	int rc, r;

	if (!path || !*path || !ret_store ||
	    (flags != STORE_OPEN_EXISTING && flags != STORE_CREATE))
		return KW_EINVAL;
	/* The daemon has checked the directory: it is ours and 0700. */
	r = store_files(path, creating ? FILES_ABSENT : FILES_CHECK);
	if (r == 0 && creating)
		r = create_file(path);
	if (r < 0)
		return r;
	s = calloc(1, sizeof(*s));
	if (!s) {
		r = KW_ENOMEM;
		goto fail_unlink;
	}
	rc = sqlite3_open_v2(path, &s->db,
	                     SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
	                             SQLITE_OPEN_NOFOLLOW,
	                     NULL);
	r = rc == SQLITE_OK ? 0 : sql_err(rc);
	if (r == 0) {
		sqlite3_extended_result_codes(s->db, 1);
		sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
		r = set_pragmas(s->db);
	}
	if (r == 0)
		r = migrate(s->db);
	for (int i = 0; r == 0 && i < ST__MAX; i++) {
		rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1,
		                        SQLITE_PREPARE_PERSISTENT, &s->st[i],
		                        NULL);
		r = rc == SQLITE_OK ? 0 : sql_err(rc);
	}
	if (r < 0)
		goto fail_close;
	*ret_store = s;
	return 0;

fail_close:
	store_close(s);
fail_unlink:
	/* Leave no half-made store behind for the next create to trip on. */
	if (creating)
		(void)store_files(path, FILES_UNLINK);
	return r;
}

void store_close(store *s)
{
	if (!s)
		return;
	for (int i = 0; i < ST__MAX; i++)
		sqlite3_finalize(s->st[i]);
	sqlite3_close(s->db);
	free(s);
}

/* The integer a one-row query gives, with ?1 = id if types is "i". */
static int one_int(sqlite3_stmt *st, const char *types, int64_t id,
                   int64_t *ret)
{
	int r = step_row(st, types, id);

	if (r < 0)
		return r == KW_ENOTFOUND ? KW_ESTORE : r;
	*ret = sqlite3_column_int64(st, 0);
	st_done(st);
	return 0;
}

int store_schema_version(store *s, int *ret_version)
{
	int64_t v;
	int r;

	if (!s || !ret_version)
		return KW_EINVAL;
	r = one_int(s->st[ST_SCHEMA_VERSION], "", 0, &v);
	if (r == 0 && (v < 0 || v > INT_MAX))
		r = KW_ESTORE;
	if (r == 0)
		*ret_version = (int)v;
	return r;
}

/* Copy a blob column of exactly len bytes; KW_ESTORE for any other. */
static int column_blob_exact(sqlite3_stmt *st, int col, uint8_t *dst,
                             size_t len)
{
	const void *p = sqlite3_column_blob(st, col);

	if (sqlite3_column_type(st, col) != SQLITE_BLOB || !p ||
	    (size_t)sqlite3_column_bytes(st, col) != len)
		return KW_ESTORE;
	memcpy(dst, p, len);
	return 0;
}

int store_wrap_get(store *s, crypto_wrap *ret_wrap)
{
	sqlite3_stmt *st;
	crypto_wrap w;
	int64_t ops, mem;
	int r;

	if (!s || !ret_wrap)
		return KW_EINVAL;
	st = s->st[ST_WRAP_GET];
	r = step_row(st, "");
	if (r < 0)
		return r;
	memset(&w, 0, sizeof(w));
	w.mode = sqlite3_column_int(st, 0);
	ops = sqlite3_column_int64(st, 2);
	mem = sqlite3_column_int64(st, 3);
	r = column_blob_exact(st, 1, w.salt, sizeof(w.salt));
	if (r == 0)
		r = column_blob_exact(st, 4, w.nonce, sizeof(w.nonce));
	if (r == 0)
		r = column_blob_exact(st, 5, w.wrapped, sizeof(w.wrapped));
	st_done(st);
	if (r < 0 || ops < 0 || mem < 0)
		return KW_ESTORE;
	w.opslimit = (uint64_t)ops;
	w.memlimit = (uint64_t)mem;
	*ret_wrap = w;
	return 0;
}

int store_wrap_set(store *s, const crypto_wrap *w)
{
	if (!s || !w)
		return KW_EINVAL;
	if ((w->mode != CRYPTO_WRAP_KEYFILE &&
	     w->mode != CRYPTO_WRAP_PASSPHRASE) ||
	    w->opslimit > INT64_MAX || w->memlimit > INT64_MAX)
		return KW_EINVAL;
	return step_done(s->st[ST_WRAP_SET], "ibiibbi", (int64_t)w->mode,
	                 (const void *)w->salt, sizeof(w->salt),
	                 (int64_t)w->opslimit, (int64_t)w->memlimit,
	                 (const void *)w->nonce, sizeof(w->nonce),
	                 (const void *)w->wrapped, sizeof(w->wrapped),
	                 (int64_t)time(NULL));
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
	sqlite3_stmt *st = s->st[ST_SECRET_FIND];
	int r = step_row(st, "t", name);

	if (r < 0)
		return r;
	*ret_id = sqlite3_column_int64(st, 0);
	*ret_next = sqlite3_column_int64(st, 1);
	st_done(st);
	return 0;
}

/* The body of store_put, inside its transaction. */
static int put_locked(store *s, kw_key *dk, const char *name,
                      const uint8_t *value, size_t len, uint32_t max_versions,
                      int64_t now, uint64_t *ret_version)
{
	sqlite3_stmt *st = s->st[ST_SECRET_INSERT];
	int64_t id, next;
	uint8_t *sealed;
	size_t sealedlen;
	int r;

	r = secret_find(s, name, &id, &next);
	if (r == KW_ENOTFOUND) {
		r = step_row(st, "ti", name, now);
		if (r == KW_ENOTFOUND)
			r = KW_ESTORE;
		if (r < 0)
			return r;
		id = sqlite3_column_int64(st, 0);
		next = sqlite3_column_int64(st, 1);
		st_done(st);
	}
	if (r < 0)
		return r;
	if (next < 1 || next == INT64_MAX)
		return KW_ESTORE;
	r = step_done(s->st[ST_SECRET_BUMP], "iii", id, next + 1, now);
	if (r == 0)
		r = step_done(s->st[ST_RETIRE_PREVIOUS], "i", id);
	if (r == 0)
		r = step_done(s->st[ST_DEMOTE_CURRENT], "i", id);
	if (r == 0)
		r = crypto_seal_value(dk, name, (uint64_t)next, value, len,
		                      &sealed, &sealedlen);
	if (r < 0)
		return r;
	r = step_done(s->st[ST_VERSION_INSERT], "iiib", id, next, now,
	              (const void *)sealed, sealedlen);
	free(sealed);
	if (r == 0 && max_versions > 0)
		r = step_done(s->st[ST_PRUNE], "ii", id, (int64_t)max_versions);
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
	r = step_done(s->st[ST_BEGIN], "");
	if (r < 0)
		return r;
	r = put_locked(s, dk, name, value, len, max_versions, now, &version);
	if (r == 0)
		r = step_done(s->st[ST_COMMIT], "");
	if (r < 0)
		return tx_rollback(s, r);
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
		st = s->st[ST_GET_BY_VERSION];
		r = step_row(st, "ti", name, (int64_t)version);
	} else {
		st = s->st[ST_GET_BY_STAGE];
		r = step_row(st, "tt", name, canon);
	}
	if (r < 0)
		return r;
	v = calloc(1, sizeof(*v));
	if (!v) {
		st_done(st);
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
		r = crypto_open_value(dk, name, v->version, sealed,
		                      (size_t)sqlite3_column_bytes(st, 3),
		                      &v->value, &v->len);
	}
	st_done(st);
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
	st = s->st[ST_LIST];
	/*
	 * Names sort bytewise (BINARY collation), so the names starting with
	 * prefix run from the first >= prefix to the first that does not
	 * start with it. No LIKE/GLOB: '%' and '_' are ordinary bytes here.
	 */
	r = step_row(st, "t", prefix);
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
		r = step_row(st, "");
	}
	st_done(st);
	if (cbr != 0)
		return cbr;
	return r == KW_ENOTFOUND ? 0 : r;
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
	st = s->st[ST_VERSIONS];
	r = step_row(st, "i", id);
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
		cbr = cb(&vi, arg);
		if (cbr != 0)
			break;
		r = step_row(st, "");
	}
	st_done(st);
	if (cbr != 0)
		return cbr;
	return r == KW_ENOTFOUND ? 0 : r;
}

int store_delete(store *s, const char *name, uint32_t *ret_versions)
{
	int64_t id, next, n = 0;
	int r;

	if (!s || !name)
		return KW_EINVAL;
	r = step_done(s->st[ST_BEGIN], "");
	if (r < 0)
		return r;
	r = secret_find(s, name, &id, &next);
	if (r == 0)
		r = one_int(s->st[ST_VERSION_COUNT], "i", id, &n);
	if (r == 0)
		r = step_done(s->st[ST_SECRET_DELETE], "i", id);
	if (r == 0)
		r = step_done(s->st[ST_COMMIT], "");
	if (r < 0)
		return tx_rollback(s, r);
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
	r = one_int(s->st[ST_COUNT], "", 0, &n);
	if (r < 0)
		return r;
	*ret_count = n > 0 ? (uint64_t)n : 0;
	return 0;
}
