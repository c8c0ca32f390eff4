/*
 * store.c - the encrypted secret store on SQLite (see store.h; the on-disk
 * format is in docs/store.md): opening, file checks, pragmas, migrations,
 * transactions, the statement cache and its helpers, the data-key wrap.
 * The tables' own operations live in store_secrets.c, store_clients.c,
 * store_audit.c, store_rotation.c and store_apikeys.c.
 *
 * Every statement is prepared once at open, cached in struct store, and run
 * with bound parameters (store_int.h). The only SQL text run otherwise is
 * constant: pragmas and migrations.
 */
#include "store.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "clock.h"
#include "keyward.h"
#include "store_int.h"

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
	/* 2: client tokens, by keyed hash (store_clients.h). NOT NULL: a
	 * rowid table's TEXT PRIMARY KEY would otherwise admit NULL. */
	"CREATE TABLE clients ("
	" name TEXT NOT NULL PRIMARY KEY,"
	" hash BLOB NOT NULL CHECK (length(hash) = 32),"
	" created INTEGER NOT NULL,"
	" last_used INTEGER,"
	" revoked_at INTEGER);"
	"CREATE UNIQUE INDEX clients_hash ON clients (hash);",
	/* 3: the audit log, its retention anchor and checkpoint key
	 * (store_audit.h, docs/audit.md). seq is given, never AUTOINCREMENT:
	 * the chain needs seq values without gaps. */
	"CREATE TABLE audit ("
	" seq INTEGER PRIMARY KEY CHECK (seq >= 1),"
	" ts_us INTEGER NOT NULL,"
	" uid INTEGER NOT NULL,"
	" pid INTEGER NOT NULL,"
	" exe TEXT,"
	" principal TEXT,"
	" op TEXT NOT NULL,"
	" name TEXT,"
	" version INTEGER NOT NULL DEFAULT 0,"
	" outcome INTEGER NOT NULL CHECK (outcome BETWEEN 0 AND 3),"
	" reason TEXT,"
	" hash BLOB NOT NULL CHECK (length(hash) = 32));"
	"CREATE INDEX audit_ts ON audit (ts_us);"
	"CREATE TABLE audit_anchor ("
	" id INTEGER PRIMARY KEY CHECK (id = 1),"
	" seq INTEGER NOT NULL CHECK (seq >= 1),"
	" hash BLOB NOT NULL CHECK (length(hash) = 32),"
	" sig BLOB NOT NULL CHECK (length(sig) = 64),"
	" ts_us INTEGER NOT NULL);"
	"CREATE TABLE audit_keys ("
	" id INTEGER PRIMARY KEY CHECK (id = 1),"
	" public BLOB NOT NULL CHECK (length(public) = 32),"
	" sealed_secret BLOB NOT NULL CHECK (length(sealed_secret) = 104),"
	" created INTEGER NOT NULL);",
	/* 4: rotation (store_rotation.h, docs/rotation.md). A version's
	 * retire_at is when its overlap ends; schedules and runs are found by
	 * indexed time, never by scanning. A run is active while next_try is
	 * set, and a secret has at most one active run. */
	"ALTER TABLE versions ADD COLUMN retire_at INTEGER;"
	"CREATE INDEX versions_retire ON versions (retire_at)"
	" WHERE retire_at IS NOT NULL;"
	"CREATE TABLE schedules ("
	" name TEXT NOT NULL PRIMARY KEY,"
	" every INTEGER NOT NULL CHECK (every >= 1),"
	" window_start INTEGER CHECK (window_start BETWEEN 0 AND 86399),"
	" window_end INTEGER CHECK (window_end BETWEEN 0 AND 86399),"
	" jitter INTEGER NOT NULL CHECK (jitter >= 0),"
	" overlap INTEGER NOT NULL CHECK (overlap >= 0),"
	" rotator TEXT NOT NULL,"
	" generate TEXT,"
	" hmac_secret TEXT,"
	" flags INTEGER NOT NULL DEFAULT 0,"
	" created INTEGER NOT NULL,"
	" next_run INTEGER NOT NULL,"
	" last_run INTEGER,"
	" last_outcome TEXT CHECK (last_outcome IN ('ok', 'failed')));"
	"CREATE INDEX schedules_next_run ON schedules (next_run);"
	"CREATE TABLE rotations ("
	" id TEXT NOT NULL PRIMARY KEY CHECK (length(id) = 32),"
	" name TEXT NOT NULL,"
	" trigger TEXT NOT NULL CHECK (trigger IN ('schedule', 'manual')),"
	" rotator TEXT NOT NULL,"
	" generate TEXT,"
	" hmac_secret TEXT,"
	" flags INTEGER NOT NULL DEFAULT 0,"
	" overlap INTEGER NOT NULL CHECK (overlap >= 0),"
	" step TEXT NOT NULL CHECK (step IN"
	"  ('create', 'set', 'test', 'finish', 'done', 'failed')),"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" next_try INTEGER,"
	" pending_version INTEGER NOT NULL DEFAULT 0,"
	" previous_version INTEGER NOT NULL DEFAULT 0,"
	" new_version INTEGER NOT NULL DEFAULT 0,"
	" started INTEGER NOT NULL,"
	" finished INTEGER,"
	" error TEXT);"
	"CREATE INDEX rotations_due ON rotations (next_try)"
	" WHERE next_try IS NOT NULL;"
	"CREATE UNIQUE INDEX rotations_one_active ON rotations (name)"
	" WHERE next_try IS NOT NULL;"
	"CREATE INDEX rotations_history ON rotations (name, started);",
	/* 5: managed API keys, by keyed hash (store_apikeys.h). The id is
	 * public (the lookup key); valid_until and replaced_by are set when a
	 * key is rotated and end its overlap. */
	"CREATE TABLE apikeys ("
	" id TEXT NOT NULL PRIMARY KEY CHECK (length(id) = 12),"
	" principal TEXT NOT NULL,"
	" scopes TEXT NOT NULL,"
	" hash BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),"
	" created INTEGER NOT NULL,"
	" expires INTEGER,"
	" last_used INTEGER,"
	" revoked_at INTEGER,"
	" valid_until INTEGER,"
	" replaced_by TEXT CHECK (replaced_by IS NULL OR"
	"  length(replaced_by) = 12));"
	"CREATE INDEX apikeys_principal ON apikeys (principal, id);",
	/* 6: the process group of the command a run's step started, so that
	 * an agent restarted after one that died kills it before the step
	 * runs again (store_rotation_group, procgroup.h). A pid is reused,
	 * within a boot and across boots: the leader's start time (clock
	 * ticks after boot), the session and the boot id tell the group
	 * apart from a stranger with the same id. */
	"ALTER TABLE rotations ADD COLUMN cmd_pgid INTEGER"
	" CHECK (cmd_pgid > 1);"
	"ALTER TABLE rotations ADD COLUMN cmd_start INTEGER"
	" CHECK (cmd_start >= 0);"
	"ALTER TABLE rotations ADD COLUMN cmd_sid INTEGER"
	" CHECK (cmd_sid >= 0);"
	"ALTER TABLE rotations ADD COLUMN cmd_boot TEXT"
	" CHECK (length(cmd_boot) = 36);",
	/* 7: the newest line of audit.checkpoints, recorded after the rows it
	 * covers and before the line is appended, and the losses of rows an
	 * operator accepted (keywardd --accept-loss): each resumes the chain
	 * from a signed checkpoint line (store_audit.h, docs/audit.md). */
	"CREATE TABLE audit_cp_head ("
	" id INTEGER PRIMARY KEY CHECK (id = 1),"
	" line_no INTEGER NOT NULL CHECK (line_no >= 1),"
	" seq INTEGER NOT NULL CHECK (seq >= 1),"
	" line TEXT NOT NULL);"
	"CREATE TABLE audit_gaps ("
	" seq INTEGER PRIMARY KEY CHECK (seq >= 1),"
	" lost_from INTEGER NOT NULL CHECK (lost_from >= 1),"
	" line TEXT NOT NULL,"
	" accepted_at INTEGER NOT NULL);",
	/* 8: the client-token, audit chain and API-key hash keys, sealed
	 * under the data key, so that a rekey can change the data key
	 * without changing them (store_keys.h). Rows are filled at the
	 * first unlock: a migration has no key. */
	"CREATE TABLE subkeys ("
	" id INTEGER PRIMARY KEY CHECK (id IN (1, 2, 3)),"
	" sealed BLOB NOT NULL CHECK (length(sealed) = 72));",
	/* 9: managed OAuth credentials, one sealed document each
	 * (store_oauth.h); their access tokens are the versions of the
	 * secret of the same name. */
	"CREATE TABLE oauth_creds ("
	" name TEXT NOT NULL PRIMARY KEY,"
	" gen INTEGER NOT NULL CHECK (gen >= 1),"
	" sealed BLOB NOT NULL,"
	" updated INTEGER NOT NULL);",
};
#define MIGRATION_COUNT ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* The statements store.c itself runs. */
enum core_stmt {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SAVEPOINT,
	ST_RELEASE,
	ST_ROLLBACK_TO,
	ST_SCHEMA_VERSION,
	ST_WRAP_GET,
	ST_WRAP_SET,
	ST_CORE__MAX
};

static const char *const core_sql[ST_CORE__MAX] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_SAVEPOINT] = "SAVEPOINT op",
	[ST_RELEASE] = "RELEASE op",
	[ST_ROLLBACK_TO] = "ROLLBACK TO op",
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
};

static const store_stmts core_stmts = { core_sql, ST_CORE__MAX };

/* Every module's statements, prepared by store_open in this order. */
static const store_stmts *const modules[STORE_MOD__MAX] = {
	[STORE_MOD_CORE] = &core_stmts,
	[STORE_MOD_SECRETS] = &store_secrets_stmts,
	[STORE_MOD_CLIENTS] = &store_clients_stmts,
	[STORE_MOD_AUDIT] = &store_audit_stmts,
	[STORE_MOD_ROTATION] = &store_rotation_stmts,
	[STORE_MOD_APIKEYS] = &store_apikeys_stmts,
	[STORE_MOD_KEYS] = &store_keys_stmts,
	[STORE_MOD_OAUTH] = &store_oauth_stmts,
};

static sqlite3_stmt *core(store *s, enum core_stmt id)
{
	return s->st[STORE_MOD_CORE][id];
}

int store_sql_err(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_NOMEM:
		return KW_ENOMEM;
	case SQLITE_FULL:
		return KW_EDISKFULL;
	case SQLITE_READONLY:
		return KW_EROFS;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return KW_EDAMAGED;
	case SQLITE_IOERR:
		return KW_EIO;
	default:
		return KW_ESTORE;
	}
}

/*
 * The errno behind the last I/O error on db. sqlite3_system_errno reads
 * errno only when SQLite gets to it, which may be after other calls; the
 * unix VFS keeps each file's own last errno, and the log's is the one a
 * commit meets.
 */
static int io_errno(sqlite3 *db)
{
	sqlite3_file *wal = NULL;
	int e = sqlite3_system_errno(db);

	if (e == 0 &&
	    sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER,
	                         &wal) == SQLITE_OK &&
	    wal && wal->pMethods)
		(void)wal->pMethods->xFileControl(wal, SQLITE_FCNTL_LAST_ERRNO,
		                                  &e);
	if (e == 0)
		(void)sqlite3_file_control(db, "main", SQLITE_FCNTL_LAST_ERRNO,
		                           &e);
	return e;
}

/* store_sql_err, refined by the errno behind an I/O error: SQLite reports
 * a write refused by a read-only or full filesystem as SQLITE_IOERR_WRITE
 * in some paths (EROFS, EDQUOT). */
static int db_err(sqlite3 *db, int rc)
{
	if ((rc & 0xff) == SQLITE_IOERR && db) {
		int e = io_errno(db);
		if (e == EROFS)
			return KW_EROFS;
		if (e == ENOSPC || e == EDQUOT)
			return KW_EDISKFULL;
	}
	return store_sql_err(rc);
}

void store_st_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Bind args to ?1..?n: SQLITE_OK or SQLite's code for the first that
 * failed. */
static int bind_args(sqlite3_stmt *st, const store_bind *args, size_t n)
{
	int rc = SQLITE_OK;

	assert(n == 0 || n == (size_t)sqlite3_bind_parameter_count(st));
	for (size_t i = 0; rc == SQLITE_OK && i < n; i++) {
		const store_bind *b = &args[i];
		int idx = (int)i + 1;

		switch (b->type) {
		case STORE_BIND_INT:
			rc = sqlite3_bind_int64(st, idx, b->i);
			break;
		case STORE_BIND_TEXT:
			rc = sqlite3_bind_text(st, idx, b->p, -1,
			                       SQLITE_STATIC);
			break;
		case STORE_BIND_BLOB:
			rc = b->len > INT_MAX ?
			             SQLITE_TOOBIG :
			             sqlite3_bind_blob(st, idx, b->p,
			                               (int)b->len,
			                               SQLITE_STATIC);
			break;
		}
	}
	return rc;
}

/* store_step_row and store_step_done (store_int.h) without their mapping
 * of the result: SQLITE_ROW on a row, else 0 or KW_E* after a reset. */
static int step(sqlite3_stmt *st, const store_bind *args, size_t n)
{
	int rc = bind_args(st, args, n);

	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return SQLITE_ROW;
	store_st_done(st);
	return rc == SQLITE_DONE ? 0 : db_err(sqlite3_db_handle(st), rc);
}

int store_step_row(sqlite3_stmt *st, const store_bind *args, size_t n)
{
	int r = step(st, args, n);

	return r == SQLITE_ROW ? 0 : r == 0 ? KW_ENOTFOUND : r;
}

int store_step_done(sqlite3_stmt *st, const store_bind *args, size_t n)
{
	int r = step(st, args, n);

	if (r == SQLITE_ROW)
		store_st_done(st);
	return r == SQLITE_ROW ? 0 : r;
}

int store_rows_end(sqlite3_stmt *st, int r, int cbr)
{
	store_st_done(st);
	if (cbr != 0)
		return cbr;
	return r == KW_ENOTFOUND ? 0 : r;
}

int store_one_int(sqlite3_stmt *st, const store_bind *args, size_t n,
                  int64_t *ret)
{
	int r = store_step_row(st, args, n);

	if (r < 0)
		return r == KW_ENOTFOUND ? KW_ESTORE : r;
	*ret = sqlite3_column_int64(st, 0);
	store_st_done(st);
	return 0;
}

/*
 * Inside a batch, an operation's "transaction" is a savepoint: it commits
 * or rolls back alone, and becomes durable with the batch.
 */
int store_tx_begin(store *s)
{
	if (s->batch)
		return store_step_done(core(s, ST_SAVEPOINT), STORE_NO_ARGS);
	return store_step_done(core(s, ST_BEGIN), STORE_NO_ARGS);
}

/*
 * A COMMIT failed with r. An I/O error while committing (the WAL write or
 * its sync) may leave the commit's frames in the -wal file, where recovery
 * replays them although SQLite rolled back in memory: KW_EUNKNOWN, and the
 * store is in doubt until store_reopen. Only a write the filesystem
 * refused (full, or read-only) is sure: the commit frame, written last, is
 * then missing or torn, and recovery ignores what precedes it.
 */
static int commit_failed(store *s, int r)
{
	snprintf(s->err, sizeof(s->err), "%s", sqlite3_errmsg(s->db));
	int x = sqlite3_extended_errcode(s->db);
	int e = io_errno(s->db);
	bool refused = x == SQLITE_IOERR_WRITE &&
	               (e == EROFS || e == ENOSPC || e == EDQUOT);
	if ((x & 0xff) != SQLITE_IOERR || refused)
		return r;
	s->in_doubt = true;
	return KW_EUNKNOWN;
}

int store_tx_commit(store *s)
{
	if (s->batch)
		return store_step_done(core(s, ST_RELEASE), STORE_NO_ARGS);
	int r = store_step_done(core(s, ST_COMMIT), STORE_NO_ARGS);
	return r < 0 ? commit_failed(s, r) : 0;
}

int store_tx_rollback(store *s, int r)
{
	if (sqlite3_get_autocommit(s->db))
		return r; /* SQLite already rolled everything back */
	if (s->batch) {
		(void)store_step_done(core(s, ST_ROLLBACK_TO), STORE_NO_ARGS);
		(void)store_step_done(core(s, ST_RELEASE), STORE_NO_ARGS);
	} else {
		(void)store_step_done(core(s, ST_ROLLBACK), STORE_NO_ARGS);
	}
	return r;
}

/*
 * The level can only change outside a transaction; it goes back to FULL
 * when a light batch ends, so everything else stays durable. Not a
 * prepared statement: SQLite applies this pragma when it compiles it, so
 * stepping a kept statement again may not change the level.
 */
static int set_sync(store *s, bool full)
{
	int rc = sqlite3_exec(s->db,
	                      full ? "PRAGMA synchronous = FULL" :
	                             "PRAGMA synchronous = NORMAL",
	                      NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : store_sql_err(rc);
}

static int batch_begin(store *s, bool light)
{
	if (s->batch)
		return KW_ESTATE;
	int r = light ? set_sync(s, false) : 0;
	s->err[0] = '\0';
	if (r == 0)
		r = store_step_done(core(s, ST_BEGIN), STORE_NO_ARGS);
	if (r == 0) {
		s->batch = true;
		s->batch_light = light;
	} else if (light) {
		(void)set_sync(s, true);
	}
	return r;
}

int store_batch_begin(store *s)
{
	return batch_begin(s, false);
}

int store_batch_begin_light(store *s)
{
	return batch_begin(s, true);
}

bool store_batch_active(const store *s)
{
	return s->batch;
}

bool store_batch_light(const store *s)
{
	return s->batch && s->batch_light;
}

/* The batch is over (committed or not): back to durable commits. */
static void batch_end(store *s, bool committed)
{
	if (s->batch_light) {
		if (committed)
			s->unsynced = true;
		(void)set_sync(s, true);
	} else if (committed) {
		s->unsynced = false; /* the commit synced the whole log */
	}
	s->batch = false;
	s->batch_light = false;
}

int store_batch_commit(store *s)
{
	if (!s->batch)
		return KW_ESTATE;
	int r = store_step_done(core(s, ST_COMMIT), STORE_NO_ARGS);
	if (r < 0) {
		r = commit_failed(s, r);
		store_batch_rollback(s);
		return r;
	}
	batch_end(s, true);
	return 0;
}

void store_batch_rollback(store *s)
{
	if (!sqlite3_get_autocommit(s->db))
		(void)store_step_done(core(s, ST_ROLLBACK), STORE_NO_ARGS);
	batch_end(s, false);
}

bool store_unsynced(const store *s)
{
	return s->unsynced;
}

int store_sync(store *s)
{
	sqlite3_file *wal = NULL;

	if (!s->unsynced)
		return 0;
	/* The write-ahead log's own file handle (SQLite gives it out for
	 * exactly this kind of use); syncing it makes every committed frame
	 * durable, inside a transaction or not. */
	if (sqlite3_file_control(s->db, "main", SQLITE_FCNTL_JOURNAL_POINTER,
	                         &wal) != SQLITE_OK ||
	    !wal || !wal->pMethods)
		return KW_ESTORE;
	if (wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL) != SQLITE_OK) {
		snprintf(s->err, sizeof(s->err),
		         "syncing the write-ahead log failed: %s",
		         strerror(io_errno(s->db)));
		s->in_doubt = true;
		return KW_EUNKNOWN;
	}
	s->unsynced = false;
	return 0;
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

/* SQLite would take a 0-byte file for a new database and migrate it into
 * an empty store: an existing store never has 0 bytes, so it was cut. */
static bool store_file_empty(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0 && st.st_size == 0;
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

	return rc == SQLITE_OK ? 0 : db_err(db, rc);
}

/* The integer in the first row of constant SQL. */
static int query_int(sqlite3 *db, const char *sql, int64_t *ret)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return db_err(db, rc);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*ret = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : db_err(db, rc);
}

/*
 * foreign_keys: versions go with their secret. secure_delete: the pages of
 * deleted versions are zeroed, not left in the free list. trusted_schema
 * off and DEFENSIVE: a tampered schema cannot make SQLite run functions or
 * corrupt the file. synchronous=FULL (set after journal_mode): in WAL mode
 * NORMAL may lose the last commits on power failure, and a put that was
 * acknowledged, perhaps already pushed upstream by a rotation, must
 * survive; FULL syncs the WAL on every commit. temp_store in memory:
 * SQLite's temporary files (statement journals, large sorts) would go to
 * /var/tmp or /tmp, which the key holder's Landlock rules leave out
 * (sandbox.h), and nothing of the store belongs in a shared directory.
 */
static int set_pragmas(sqlite3 *db)
{
	int64_t wal = 0;
	int r;

	sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	r = exec_const(db, "PRAGMA foreign_keys = ON;"
	                   "PRAGMA secure_delete = ON;"
	                   "PRAGMA trusted_schema = OFF;"
	                   "PRAGMA temp_store = MEMORY;"
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

/*
 * Prepare every module's statements (store_int.h). A statement missing from
 * a module's array is a bug in that file, caught here by every test.
 */
static int prepare_all(store *s)
{
	for (int m = 0; m < STORE_MOD__MAX; m++) {
		const store_stmts *ms = modules[m];

		assert(ms && ms->count > 0);
		s->st[m] = calloc((size_t)ms->count, sizeof(*s->st[m]));
		if (!s->st[m])
			return KW_ENOMEM;
		for (int i = 0; i < ms->count; i++) {
			int rc;

			assert(ms->sql[i]);
			rc = sqlite3_prepare_v3(s->db, ms->sql[i], -1,
			                        SQLITE_PREPARE_PERSISTENT,
			                        &s->st[m][i], NULL);
			if (rc != SQLITE_OK)
				return store_sql_err(rc);
		}
	}
	return 0;
}

/* Open s->path on s->db: pragmas, migrations, statements. */
static int store_connect(store *s)
{
	int rc = sqlite3_open_v2(s->path, &s->db,
	                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
	                                 SQLITE_OPEN_NOFOLLOW,
	                         NULL);
	int r = rc == SQLITE_OK ? 0 : db_err(s->db, rc);
	if (r == 0) {
		sqlite3_extended_result_codes(s->db, 1);
		sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
		r = set_pragmas(s->db);
	}
	if (r == 0)
		r = migrate(s->db);
	if (r == 0)
		r = prepare_all(s);
	return r;
}

/* Finalize the statements and close the connection; s stays. */
static void store_disconnect(store *s)
{
	for (int m = 0; m < STORE_MOD__MAX; m++) {
		for (int i = 0; s->st[m] && i < modules[m]->count; i++)
			sqlite3_finalize(s->st[m][i]);
		free(s->st[m]);
		s->st[m] = NULL;
	}
	sqlite3_close(s->db);
	s->db = NULL;
	s->batch = s->batch_light = s->unsynced = false;
}

int store_open(const char *path, int flags, store **ret_store)
{
	bool creating = flags == STORE_CREATE;
	store *s;
	int r;

	if (!path || !*path || !ret_store ||
	    (flags != STORE_OPEN_EXISTING && flags != STORE_CREATE))
		return KW_EINVAL;
	/* The daemon has checked the directory: it is ours and 0700. */
	r = store_files(path, creating ? FILES_ABSENT : FILES_CHECK);
	if (r == 0 && creating)
		r = create_file(path);
	else if (r == 0 && store_file_empty(path))
		r = KW_EDAMAGED;
	if (r < 0)
		return r;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->path = strdup(path))) {
		r = KW_ENOMEM;
		goto fail_close;
	}
	r = store_connect(s);
	if (r < 0)
		goto fail_close;
	*ret_store = s;
	return 0;

fail_close:
	store_close(s);
	/* Leave no half-made store behind for the next create to trip on. */
	if (creating)
		(void)store_files(path, FILES_UNLINK);
	return r;
}

void store_close(store *s)
{
	if (!s)
		return;
	store_disconnect(s);
	free(s->path);
	free(s);
}

/* Ask the kernel to forget the cached pages of path (clean ones: dirty
 * pages stay until written), so that the next read sees the disk. */
static void drop_cached(const char *path, const char *suffix)
{
	char p[PATH_MAX];
	int n = snprintf(p, sizeof(p), "%s%s", path, suffix);
	if (n < 0 || (size_t)n >= sizeof(p))
		return;
	int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	close(fd);
}

int store_reopen(store *s)
{
	if (!s)
		return KW_EINVAL;
	if (s->db) {
		/* No checkpoint on the way out: it would copy pages this
		 * process holds, which after a failed sync may not be what
		 * the disk has. The log stays for the new connection. */
		sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1,
		                  NULL);
		store_disconnect(s);
	}
	/* Pages the kernel kept after failing to write them would hide
	 * what the disk really holds from recovery. */
	drop_cached(s->path, "");
	drop_cached(s->path, "-wal");
	int r = store_files(s->path, FILES_CHECK);
	/* As the only connection, SQLite rebuilds the WAL index from the
	 * -wal file it reads now: recovery keeps the committed prefix whose
	 * checksums hold. */
	s->err[0] = '\0';
	if (r == 0)
		r = store_connect(s);
	if (r < 0)
		store_disconnect(s);
	else
		s->in_doubt = false;
	return r;
}

bool store_in_doubt(const store *s)
{
	return s && s->in_doubt;
}

const char *store_last_error(const store *s)
{
	if (!store_connected(s))
		return "the database is not open";
	return s->err[0] ? s->err : sqlite3_errmsg(s->db);
}

bool store_connected(const store *s)
{
	return s && s->db;
}

int store_settle(store *s)
{
	if (!store_connected(s) || s->batch)
		return KW_ESTATE;
	/* The checkpoint syncs the log before copying it into the database
	 * and the database after (synchronous is FULL outside light
	 * batches); TRUNCATE leaves no stale frame behind. */
	int rc = sqlite3_wal_checkpoint_v2(s->db, "main",
	                                   SQLITE_CHECKPOINT_TRUNCATE, NULL,
	                                   NULL);
	if (rc != SQLITE_OK) {
		snprintf(s->err, sizeof(s->err), "%s", sqlite3_errmsg(s->db));
		return (rc & 0xff) == SQLITE_BUSY ? KW_EBUSY :
		                                    db_err(s->db, rc);
	}
	s->unsynced = false;
	return 0;
}

/* Stop a quick_check that has used up its time (store_quick_check). */
static int check_deadline(void *arg)
{
	return clock_mono_ms() >= *(const int64_t *)arg;
}

int store_quick_check(store *s, uint32_t budget_ms, char *detail,
                      size_t detail_size)
{
	sqlite3_stmt *st = NULL;

	if (!store_connected(s) || s->batch || !detail || !detail_size)
		return KW_EINVAL;
	detail[0] = '\0';
	int64_t deadline = clock_mono_ms() + budget_ms;
	/* One problem is enough to refuse; the check reads every page. */
	int rc = sqlite3_prepare_v2(s->db, "PRAGMA quick_check(1)", -1, &st,
	                            NULL);
	if (rc != SQLITE_OK)
		return db_err(s->db, rc);
	sqlite3_progress_handler(s->db, 1000, check_deadline, &deadline);
	rc = sqlite3_step(st);
	sqlite3_progress_handler(s->db, 0, NULL, NULL);
	int r = 0;
	if (rc == SQLITE_ROW) {
		const char *res = (const char *)sqlite3_column_text(st, 0);
		if (!res || strcmp(res, "ok") != 0) {
			snprintf(detail, detail_size, "%s",
			         res ? res : "quick_check gave no answer");
			r = KW_EDAMAGED;
		}
	} else if ((rc & 0xff) == SQLITE_INTERRUPT) {
		r = KW_ETIMEOUT;
	} else {
		snprintf(detail, detail_size, "%s", sqlite3_errmsg(s->db));
		r = db_err(s->db, rc);
	}
	sqlite3_finalize(st);
	return r;
}

int store_schema_version(store *s, int *ret_version)
{
	int64_t v;
	int r;

	if (!s || !ret_version)
		return KW_EINVAL;
	r = store_one_int(core(s, ST_SCHEMA_VERSION), STORE_NO_ARGS, &v);
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

int store_wrap_get(store *s, wrapped_key *ret_wrap)
{
	sqlite3_stmt *st;
	wrapped_key w;
	int64_t ops, mem;
	int r;

	if (!s || !ret_wrap)
		return KW_EINVAL;
	st = core(s, ST_WRAP_GET);
	r = store_step_row(st, STORE_NO_ARGS);
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
	store_st_done(st);
	if (r < 0 || ops < 0 || mem < 0)
		return KW_ESTORE;
	w.opslimit = (uint64_t)ops;
	w.memlimit = (uint64_t)mem;
	*ret_wrap = w;
	return 0;
}

int store_wrap_set(store *s, const wrapped_key *w)
{
	if (!s || !w)
		return KW_EINVAL;
	if ((w->mode != KEY_WRAP_KEYFILE && w->mode != KEY_WRAP_PASSPHRASE) ||
	    w->opslimit > INT64_MAX || w->memlimit > INT64_MAX)
		return KW_EINVAL;
	return store_step_done(core(s, ST_WRAP_SET),
	                       STORE_ARGS(bind_int(w->mode),
	                                  bind_blob(w->salt, sizeof(w->salt)),
	                                  bind_int(w->opslimit),
	                                  bind_int(w->memlimit),
	                                  bind_blob(w->nonce, sizeof(w->nonce)),
	                                  bind_blob(w->wrapped,
	                                            sizeof(w->wrapped)),
	                                  bind_int(clock_wall())));
}
