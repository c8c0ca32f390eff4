/*
 * test_store_clients.c - client tokens in the store (store_clients.h) and
 * migration 2.
 */
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "crypto.h"
#include "keyward.h"
#include "secmem.h"
#include "store.h"
#include "store_clients.h"

/*
 * Migration 1 exactly as it shipped (agent/store/store.c), to build a database
 * the way a version-1 keyward left it.
 */
static const char migration1[] =
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
	" DELETE FROM tombstones WHERE name = new.name; END;";

typedef struct fixture {
	char dir[64];
	char path[PATH_MAX];
	store *s;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/kw-test-clients-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/secrets.db", f->dir);
	if (store_open(f->path, STORE_CREATE, &f->s) != 0) {
		rmdir(f->dir);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

/* A database and the -wal and -shm files beside it. */
static void remove_db(const char *path)
{
	static const char *const suffix[] = { "-wal", "-shm", "" };
	char p[PATH_MAX];

	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
		unlink(p);
	}
}

/* Where test_migrate_from_v1 builds its old database. */
static void v1_path(char *buf, const fixture *f)
{
	snprintf(buf, PATH_MAX, "%s/v1.db", f->dir);
}

static int teardown(void **state)
{
	fixture *f = *state;
	char old[PATH_MAX];

	store_close(f->s);
	remove_db(f->path);
	v1_path(old, f);
	remove_db(old);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* A hash that differs from hash(b) for every b != fill. */
static const uint8_t *hash(uint8_t fill)
{
	static uint8_t h[4][STORE_CLIENT_HASH_BYTES];
	static unsigned next;
	uint8_t *p = h[next++ % 4];

	memset(p, fill, STORE_CLIENT_HASH_BYTES);
	return p;
}

static void expect_lookup(fixture *f, uint8_t fill, const char *want)
{
	char name[KW_NAME_MAX + 1];

	snprintf(name, sizeof(name), "untouched");
	if (!want) {
		assert_int_equal(store_client_lookup(f->s, hash(fill), name,
		                                     sizeof(name)),
		                 KW_ENOTFOUND);
		assert_string_equal(name, "untouched");
		return;
	}
	assert_int_equal(store_client_lookup(f->s, hash(fill), name,
	                                     sizeof(name)),
	                 0);
	assert_string_equal(name, want);
}

/* Every row as "name:created:last_used:revoked_at " (revoked_at "-" when
 * live), to compare with one string. */
typedef struct listing {
	char text[512];
	int calls, stop_after;
} listing;

static int collect(const store_client_info *c, void *arg)
{
	listing *l = arg;
	size_t used = strlen(l->text);
	char at[32] = "-";

	if (c->revoked)
		snprintf(at, sizeof(at), "%lld", (long long)c->revoked_at);
	else
		assert_int_equal(c->revoked_at, 0);
	snprintf(l->text + used, sizeof(l->text) - used, "%s:%lld:%lld:%s ",
	         c->name, (long long)c->created, (long long)c->last_used, at);
	l->calls++;
	return l->stop_after && l->calls == l->stop_after ? 7 : 0;
}

static void expect_list(fixture *f, const char *want)
{
	listing l = { .text = "" };

	assert_int_equal(store_client_list(f->s, collect, &l), 0);
	assert_string_equal(l.text, want);
}

static void test_schema_version(void **state)
{
	fixture *f = *state;
	int ver = 0;

	assert_int_equal(store_schema_version(f->s, &ver), 0);
	assert_int_equal(ver, 9);
	expect_list(f, "");
}

static void test_add_lookup_touch(void **state)
{
	fixture *f = *state;

	assert_int_equal(store_client_add(f->s, "ci/build", hash(1), 100), 0);
	assert_int_equal(store_client_add(f->s, "ci/deploy", hash(2), 110), 0);
	expect_lookup(f, 1, "ci/build");
	expect_lookup(f, 2, "ci/deploy");
	expect_lookup(f, 3, NULL);
	expect_list(f, "ci/build:100:0:- ci/deploy:110:0:- ");

	assert_int_equal(store_client_touch(f->s, "ci/build", 200), 0);
	assert_int_equal(store_client_touch(f->s, "ci/build", 250), 0);
	assert_int_equal(store_client_touch(f->s, "ci/nobody", 250),
	                 KW_ENOTFOUND);
	/* Names are exact: no prefix or pattern matching. */
	assert_int_equal(store_client_touch(f->s, "ci/%", 250), KW_ENOTFOUND);
	expect_list(f, "ci/build:100:250:- ci/deploy:110:0:- ");

	/* Survives a reopen. */
	store_close(f->s);
	f->s = NULL;
	assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &f->s), 0);
	expect_lookup(f, 2, "ci/deploy");
	expect_list(f, "ci/build:100:250:- ci/deploy:110:0:- ");
}

static void test_duplicates(void **state)
{
	fixture *f = *state;

	assert_int_equal(store_client_add(f->s, "a", hash(1), 10), 0);
	/* A live name, with a new token or the same one. */
	assert_int_equal(store_client_add(f->s, "a", hash(2), 20), KW_EEXIST);
	assert_int_equal(store_client_add(f->s, "a", hash(1), 20), KW_EEXIST);
	/* A hash already stored under another name. */
	assert_int_equal(store_client_add(f->s, "b", hash(1), 20), KW_EEXIST);
	/* Nothing half-written, and the store still takes writes. */
	expect_lookup(f, 1, "a");
	expect_lookup(f, 2, NULL);
	expect_list(f, "a:10:0:- ");
	assert_int_equal(store_client_add(f->s, "b", hash(2), 30), 0);
	expect_list(f, "a:10:0:- b:30:0:- ");
}

static void test_revoke_and_readd(void **state)
{
	fixture *f = *state;

	assert_int_equal(store_client_add(f->s, "a", hash(1), 10), 0);
	assert_int_equal(store_client_add(f->s, "b", hash(2), 11), 0);
	assert_int_equal(store_client_touch(f->s, "a", 20), 0);
	assert_int_equal(store_client_revoke(f->s, "a", 30), 0);

	/* Revoked: invisible to lookups and touches, shown by list. */
	expect_lookup(f, 1, NULL);
	assert_int_equal(store_client_touch(f->s, "a", 40), KW_ENOTFOUND);
	assert_int_equal(store_client_revoke(f->s, "a", 40), KW_ENOTFOUND);
	assert_int_equal(store_client_revoke(f->s, "zz", 40), KW_ENOTFOUND);
	expect_list(f, "a:10:20:30 b:11:0:- ");
	expect_lookup(f, 2, "b");

	/* A revoked token stays unusable under another name. */
	assert_int_equal(store_client_add(f->s, "c", hash(1), 45), KW_EEXIST);

	/* The name again, new token: the row is replaced, old token dead. */
	assert_int_equal(store_client_add(f->s, "a", hash(3), 50), 0);
	expect_lookup(f, 3, "a");
	expect_lookup(f, 1, NULL);
	expect_list(f, "a:50:0:- b:11:0:- ");
	assert_int_equal(store_client_touch(f->s, "a", 60), 0);

	/* Revoke and re-add with the very same hash also replaces the row. */
	assert_int_equal(store_client_revoke(f->s, "a", 70), 0);
	expect_lookup(f, 3, NULL);
	assert_int_equal(store_client_add(f->s, "a", hash(3), 80), 0);
	expect_lookup(f, 3, "a");
	expect_list(f, "a:80:0:- b:11:0:- ");
}

static void test_lookup_buffer(void **state)
{
	fixture *f = *state;
	char small[4] = "xyz";
	char fits[5];

	assert_int_equal(store_client_add(f->s, "four", hash(1), 1), 0);
	/* Needs 5 bytes with the NUL: refused, buffer untouched. */
	assert_int_equal(store_client_lookup(f->s, hash(1), small,
	                                     sizeof(small)),
	                 KW_ETOOBIG);
	assert_memory_equal(small, "xyz", 4);
	assert_int_equal(store_client_lookup(f->s, hash(1), fits, sizeof(fits)),
	                 0);
	assert_string_equal(fits, "four");
	/* The statement was reset: the next lookup starts afresh. */
	expect_lookup(f, 1, "four");
}

static int never(const store_client_info *c, void *arg)
{
	(void)c;
	(void)arg;
	fail_msg("callback called");
	return 0;
}

static void test_invalid(void **state)
{
	fixture *f = *state;
	char name[16];

	assert_int_equal(store_client_add(NULL, "a", hash(1), 1), KW_EINVAL);
	assert_int_equal(store_client_add(f->s, NULL, hash(1), 1), KW_EINVAL);
	assert_int_equal(store_client_add(f->s, "", hash(1), 1), KW_EINVAL);
	assert_int_equal(store_client_lookup(NULL, hash(1), name, sizeof(name)),
	                 KW_EINVAL);
	assert_int_equal(store_client_lookup(f->s, hash(1), NULL, 16),
	                 KW_EINVAL);
	assert_int_equal(store_client_lookup(f->s, hash(1), name, 0),
	                 KW_EINVAL);
	assert_int_equal(store_client_touch(f->s, NULL, 1), KW_EINVAL);
	assert_int_equal(store_client_revoke(NULL, "a", 1), KW_EINVAL);
	assert_int_equal(store_client_list(f->s, NULL, NULL), KW_EINVAL);
	assert_int_equal(store_client_list(NULL, never, NULL), KW_EINVAL);
	/* An empty table never calls back. */
	assert_int_equal(store_client_list(f->s, never, NULL), 0);
}

static void test_list_stops(void **state)
{
	fixture *f = *state;
	listing l = { .text = "", .stop_after = 2 };

	/* Added out of order, listed by name. */
	assert_int_equal(store_client_add(f->s, "m", hash(1), 1), 0);
	assert_int_equal(store_client_add(f->s, "c", hash(2), 2), 0);
	assert_int_equal(store_client_add(f->s, "x", hash(3), 3), 0);
	assert_int_equal(store_client_list(f->s, collect, &l), 7);
	assert_int_equal(l.calls, 2);
	assert_string_equal(l.text, "c:2:0:- m:1:0:- ");
	/* The stopped statement was reset: a full listing follows. */
	expect_list(f, "c:2:0:- m:1:0:- x:3:0:- ");
}

/* Constant SQL through a second, raw connection: SQLITE_* result. */
static int raw_exec(const char *path, const char *sql)
{
	sqlite3 *db;
	int rc;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE,
	                                 NULL),
	                 SQLITE_OK);
	sqlite3_busy_timeout(db, 2000);
	rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc;
}

/* The integer in the first row of constant SQL, through a raw connection. */
static int64_t raw_int(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* The database itself refuses rows the store would never write. */
static void test_schema_constraints(void **state)
{
	fixture *f = *state;

	assert_int_equal(raw_exec(f->path,
	                          "INSERT INTO clients (name, hash, created)"
	                          " VALUES ('short', zeroblob(31), 1)"),
	                 SQLITE_CONSTRAINT);
	assert_int_equal(raw_exec(f->path,
	                          "INSERT INTO clients (name, hash, created)"
	                          " VALUES (NULL, zeroblob(32), 1)"),
	                 SQLITE_CONSTRAINT);
	assert_int_equal(raw_exec(f->path,
	                          "INSERT INTO clients (name, hash, created)"
	                          " VALUES ('a', zeroblob(32), 1);"
	                          "INSERT INTO clients (name, hash, created)"
	                          " VALUES ('b', zeroblob(32), 1)"),
	                 SQLITE_CONSTRAINT);
	expect_list(f, "a:1:0:- ");
}

/*
 * A database as version 1 left it, with a deleted secret's tombstone:
 * opening it applies migration 2 only and keeps what was there.
 */
static void test_migrate_from_v1(void **state)
{
	fixture *f = *state;
	char old[PATH_MAX], name[8];
	store *s = NULL;
	kw_key *dk = NULL;
	uint64_t ver = 0;
	int fd, v = 0;

	v1_path(old, f);
	fd = open(old, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, 0600), 0);
	close(fd);
	assert_int_equal(raw_exec(old, "CREATE TABLE schema_migrations ("
	                               " version INTEGER PRIMARY KEY,"
	                               " applied_at INTEGER NOT NULL);"),
	                 SQLITE_OK);
	assert_int_equal(raw_exec(old, migration1), SQLITE_OK);
	assert_int_equal(raw_exec(old, "INSERT INTO schema_migrations"
	                               " VALUES (1, 1700000000);"
	                               "INSERT INTO tombstones"
	                               " VALUES ('old/name', 5);"),
	                 SQLITE_OK);
	assert_int_equal(raw_exec(old, "SELECT * FROM clients"), SQLITE_ERROR);

	assert_int_equal(store_open(old, STORE_OPEN_EXISTING, &s), 0);
	assert_int_equal(store_schema_version(s, &v), 0);
	assert_int_equal(v, 9);
	/* Migration 1's data kept: the name resumes its numbering. */
	assert_int_equal(key_random(&dk), 0);
	assert_int_equal(store_put(s, dk, "old/name", (const uint8_t *)"v", 1,
	                           10, 1, &ver),
	                 0);
	key_free(dk);
	assert_int_equal(ver, 5);
	/* The new table works. */
	assert_int_equal(store_client_add(s, "cli", hash(9), 2), 0);
	store_close(s);
	s = NULL;

	/* Reopened: nothing applied twice, the client still there. */
	assert_int_equal(store_open(old, STORE_OPEN_EXISTING, &s), 0);
	assert_int_equal(store_client_lookup(s, hash(9), name, sizeof(name)),
	                 0);
	assert_string_equal(name, "cli");
	store_close(s);
	assert_int_equal(raw_int(old, "SELECT count(*) FROM schema_migrations"),
	                 9);
	assert_int_equal(raw_int(old, "SELECT applied_at FROM schema_migrations"
	                              " WHERE version = 1"),
	                 1700000000);
	assert_int_equal(raw_int(old, "SELECT max(version)"
	                              " FROM schema_migrations"),
	                 9);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_schema_version),  T(test_add_lookup_touch),
		T(test_duplicates),      T(test_revoke_and_readd),
		T(test_lookup_buffer),   T(test_invalid),
		T(test_list_stops),      T(test_schema_constraints),
		T(test_migrate_from_v1),
	};

	if (kw_secmem_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
