/*
 * test_store_apikeys.c - managed API keys in the store (store_apikeys.h)
 * and migration 5.
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

#include "keyward.h"
#include "secmem.h"
#include "store.h"
#include "store_apikeys.h"

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
	snprintf(f->dir, sizeof(f->dir), "/tmp/kw-test-apikeys-XXXXXX");
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

static int teardown(void **state)
{
	static const char *const suffix[] = { "-wal", "-shm", "" };
	fixture *f = *state;
	char p[PATH_MAX];

	store_close(f->s);
	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", f->path, suffix[i]);
		unlink(p);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

/* A key row: id is 12 characters, hash filled with fill. */
static store_apikey key(const char *id, const char *principal,
                        const char *scopes, uint8_t fill, int64_t created,
                        int64_t expires)
{
	store_apikey k;

	memset(&k, 0, sizeof(k));
	snprintf(k.id, sizeof(k.id), "%s", id);
	snprintf(k.principal, sizeof(k.principal), "%s", principal);
	snprintf(k.scopes, sizeof(k.scopes), "%s", scopes);
	memset(k.hash, fill, sizeof(k.hash));
	k.created = created;
	k.expires = expires;
	return k;
}

static const uint8_t *fill32(uint8_t fill)
{
	static uint8_t h[4][STORE_APIKEY_HASH_BYTES];
	static unsigned next;
	uint8_t *p = h[next++ % 4];

	memset(p, fill, STORE_APIKEY_HASH_BYTES);
	return p;
}

static void test_schema_version(void **state)
{
	fixture *f = *state;
	int ver = 0;

	assert_int_equal(store_schema_version(f->s, &ver), 0);
	assert_int_equal(ver, 9);
}

static void test_insert_get(void **state)
{
	fixture *f = *state;
	store_apikey a = key("AAAAAAAAAAAA", "svc-a", "read write", 1, 100, 0);
	store_apikey b = key("BBBBBBBBBBBB", "team/svc", "", 2, 101, 5000);
	store_apikey got;

	assert_int_equal(store_apikey_insert(f->s, &a), 0);
	assert_int_equal(store_apikey_insert(f->s, &b), 0);

	memset(&got, 0x55, sizeof(got));
	assert_int_equal(store_apikey_get(f->s, "AAAAAAAAAAAA", &got), 0);
	assert_string_equal(got.id, "AAAAAAAAAAAA");
	assert_string_equal(got.principal, "svc-a");
	assert_string_equal(got.scopes, "read write");
	assert_memory_equal(got.hash, fill32(1), 32);
	assert_int_equal(got.created, 100);
	assert_int_equal(got.expires, 0);
	assert_int_equal(got.last_used, 0);
	assert_int_equal(got.revoked_at, 0);
	assert_int_equal(got.valid_until, 0);
	assert_string_equal(got.replaced_by, "");

	assert_int_equal(store_apikey_get(f->s, "BBBBBBBBBBBB", &got), 0);
	assert_string_equal(got.principal, "team/svc");
	assert_string_equal(got.scopes, "");
	assert_int_equal(got.expires, 5000);

	memset(&got, 0x55, sizeof(got));
	assert_int_equal(store_apikey_get(f->s, "CCCCCCCCCCCC", &got),
	                 KW_ENOTFOUND);
	assert_int_equal(got.created, 0x5555555555555555);
}

static void test_duplicates(void **state)
{
	fixture *f = *state;
	store_apikey a = key("AAAAAAAAAAAA", "p", "", 1, 1, 0);
	store_apikey same_id = key("AAAAAAAAAAAA", "q", "", 2, 1, 0);
	store_apikey same_hash = key("BBBBBBBBBBBB", "q", "", 1, 1, 0);
	store_apikey got;

	assert_int_equal(store_apikey_insert(f->s, &a), 0);
	assert_int_equal(store_apikey_insert(f->s, &same_id), KW_EEXIST);
	assert_int_equal(store_apikey_insert(f->s, &same_hash), KW_EEXIST);
	assert_int_equal(store_apikey_get(f->s, "AAAAAAAAAAAA", &got), 0);
	assert_string_equal(got.principal, "p");
	assert_int_equal(store_apikey_get(f->s, "BBBBBBBBBBBB", &got),
	                 KW_ENOTFOUND);
}

/* find: the id and the whole hash must match; a hash that differs in any
 * one byte is the same answer as an unknown id. */
static void test_find(void **state)
{
	fixture *f = *state;
	store_apikey a = key("AAAAAAAAAAAA", "p", "s", 7, 1, 0);
	store_apikey got;
	uint8_t h[STORE_APIKEY_HASH_BYTES];

	assert_int_equal(store_apikey_insert(f->s, &a), 0);
	memset(h, 7, sizeof(h));
	assert_int_equal(store_apikey_find(f->s, "AAAAAAAAAAAA", h, &got), 0);
	assert_string_equal(got.id, "AAAAAAAAAAAA");
	for (size_t i = 0; i < sizeof(h); i++) {
		memset(h, 7, sizeof(h));
		h[i] ^= 0x01;
		memset(&got, 0x55, sizeof(got));
		assert_int_equal(store_apikey_find(f->s, "AAAAAAAAAAAA", h,
		                                   &got),
		                 KW_ENOTFOUND);
		assert_int_equal(got.created, 0x5555555555555555);
	}
	memset(h, 7, sizeof(h));
	assert_int_equal(store_apikey_find(f->s, "AAAAAAAAAAAB", h, &got),
	                 KW_ENOTFOUND);
	/* Revoked rows are found: the caller tells revoked apart. */
	assert_int_equal(store_apikey_revoke(f->s, "AAAAAAAAAAAA", 9), 0);
	assert_int_equal(store_apikey_find(f->s, "AAAAAAAAAAAA", h, &got), 0);
	assert_int_equal(got.revoked_at, 9);
}

static void test_touch_revoke(void **state)
{
	fixture *f = *state;
	store_apikey a = key("AAAAAAAAAAAA", "p", "", 1, 1, 0);
	store_apikey got;

	assert_int_equal(store_apikey_insert(f->s, &a), 0);
	assert_int_equal(store_apikey_touch(f->s, "AAAAAAAAAAAA", 50), 0);
	assert_int_equal(store_apikey_touch(f->s, "ZZZZZZZZZZZZ", 50),
	                 KW_ENOTFOUND);
	assert_int_equal(store_apikey_get(f->s, "AAAAAAAAAAAA", &got), 0);
	assert_int_equal(got.last_used, 50);

	assert_int_equal(store_apikey_revoke(f->s, "ZZZZZZZZZZZZ", 60),
	                 KW_ENOTFOUND);
	assert_int_equal(store_apikey_revoke(f->s, "AAAAAAAAAAAA", 60), 0);
	assert_int_equal(store_apikey_revoke(f->s, "AAAAAAAAAAAA", 70),
	                 KW_EREVOKED);
	assert_int_equal(store_apikey_get(f->s, "AAAAAAAAAAAA", &got), 0);
	assert_int_equal(got.revoked_at, 60);
	assert_int_equal(got.last_used, 50);
}

static void test_rotate(void **state)
{
	fixture *f = *state;
	store_apikey a = key("AAAAAAAAAAAA", "p", "x y", 1, 1, 900);
	store_apikey b = key("BBBBBBBBBBBB", "p", "x y", 2, 10, 900);
	store_apikey c = key("CCCCCCCCCCCC", "p", "x y", 3, 20, 900);
	store_apikey got;

	assert_int_equal(store_apikey_insert(f->s, &a), 0);
	assert_int_equal(store_apikey_rotate(f->s, "AAAAAAAAAAAA", &b, 100), 0);
	assert_int_equal(store_apikey_get(f->s, "AAAAAAAAAAAA", &got), 0);
	assert_int_equal(got.valid_until, 100);
	assert_string_equal(got.replaced_by, "BBBBBBBBBBBB");
	assert_int_equal(store_apikey_get(f->s, "BBBBBBBBBBBB", &got), 0);
	assert_int_equal(got.valid_until, 0);
	assert_string_equal(got.replaced_by, "");
	assert_string_equal(got.scopes, "x y");
	assert_int_equal(got.expires, 900);

	/* Once replaced, a key is not rotated again; nothing changes. */
	assert_int_equal(store_apikey_rotate(f->s, "AAAAAAAAAAAA", &c, 200),
	                 KW_ESTATE);
	assert_int_equal(store_apikey_get(f->s, "CCCCCCCCCCCC", &got),
	                 KW_ENOTFOUND);
	assert_int_equal(store_apikey_get(f->s, "AAAAAAAAAAAA", &got), 0);
	assert_int_equal(got.valid_until, 100);
	/* Unknown and revoked keys are not rotated. */
	assert_int_equal(store_apikey_rotate(f->s, "ZZZZZZZZZZZZ", &c, 200),
	                 KW_ENOTFOUND);
	assert_int_equal(store_apikey_revoke(f->s, "BBBBBBBBBBBB", 30), 0);
	assert_int_equal(store_apikey_rotate(f->s, "BBBBBBBBBBBB", &c, 200),
	                 KW_EREVOKED);
	assert_int_equal(store_apikey_get(f->s, "CCCCCCCCCCCC", &got),
	                 KW_ENOTFOUND);
	/* A replaced key can still be revoked. */
	assert_int_equal(store_apikey_revoke(f->s, "AAAAAAAAAAAA", 40), 0);
}

/* The new key colliding with an existing one undoes the whole rotation. */
static void test_rotate_rolls_back(void **state)
{
	fixture *f = *state;
	store_apikey a = key("AAAAAAAAAAAA", "p", "", 1, 1, 0);
	store_apikey b = key("BBBBBBBBBBBB", "p", "", 2, 1, 0);
	store_apikey clash = key("CCCCCCCCCCCC", "p", "", 2, 1, 0);
	store_apikey got;

	assert_int_equal(store_apikey_insert(f->s, &a), 0);
	assert_int_equal(store_apikey_insert(f->s, &b), 0);
	assert_int_equal(store_apikey_rotate(f->s, "AAAAAAAAAAAA", &clash, 5),
	                 KW_EEXIST);
	assert_int_equal(store_apikey_get(f->s, "AAAAAAAAAAAA", &got), 0);
	assert_int_equal(got.valid_until, 0);
	assert_string_equal(got.replaced_by, "");
	/* Inside a batch the rotation is a savepoint: the same holds. */
	assert_int_equal(store_batch_begin(f->s), 0);
	assert_int_equal(store_apikey_rotate(f->s, "AAAAAAAAAAAA", &clash, 5),
	                 KW_EEXIST);
	assert_int_equal(store_batch_commit(f->s), 0);
	assert_int_equal(store_apikey_get(f->s, "AAAAAAAAAAAA", &got), 0);
	assert_string_equal(got.replaced_by, "");
	/* Rotating onto itself is refused outright. */
	assert_int_equal(store_apikey_rotate(f->s, "AAAAAAAAAAAA", &a, 5),
	                 KW_EINVAL);
}

static void test_invalid(void **state)
{
	fixture *f = *state;
	store_apikey k = key("SHORT", "p", "", 1, 1, 0);
	store_apikey ok = key("AAAAAAAAAAAA", "p", "", 1, 1, 0);
	store_apikey got;

	assert_int_equal(store_apikey_insert(f->s, &k), KW_EINVAL);
	k = key("AAAAAAAAAAAA", "", "", 1, 1, 0);
	assert_int_equal(store_apikey_insert(f->s, &k), KW_EINVAL);
	k = key("AAAAAAAAAAAA", "p", "", 1, 1, -1);
	assert_int_equal(store_apikey_insert(f->s, &k), KW_EINVAL);
	assert_int_equal(store_apikey_insert(NULL, &ok), KW_EINVAL);
	assert_int_equal(store_apikey_insert(f->s, NULL), KW_EINVAL);
	assert_int_equal(store_apikey_get(f->s, NULL, &got), KW_EINVAL);
	assert_int_equal(store_apikey_list(f->s, NULL, NULL, NULL), KW_EINVAL);
	assert_int_equal(store_apikey_rotate(f->s, NULL, &ok, 1), KW_EINVAL);
}

struct listing {
	char text[512];
	int stop_after;
	int seen;
};

static int collect(const store_apikey *k, void *arg)
{
	struct listing *l = arg;
	size_t n = strlen(l->text);

	snprintf(l->text + n, sizeof(l->text) - n, "%s:%s:%lld ", k->id,
	         k->principal, (long long)k->created);
	l->seen++;
	return l->stop_after && l->seen >= l->stop_after ? 42 : 0;
}

static void test_list(void **state)
{
	fixture *f = *state;
	store_apikey rows[] = {
		key("BBBBBBBBBBBB", "beta", "", 1, 20, 0),
		key("AAAAAAAAAAAA", "beta", "", 2, 20, 0),
		key("CCCCCCCCCCCC", "beta", "", 3, 10, 0),
		key("DDDDDDDDDDDD", "alpha", "", 4, 30, 0),
	};
	struct listing l = { .text = "" };

	assert_int_equal(store_apikey_list(f->s, NULL, collect, &l), 0);
	assert_string_equal(l.text, "");
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(store_apikey_insert(f->s, &rows[i]), 0);
	assert_int_equal(store_apikey_list(f->s, NULL, collect, &l), 0);
	assert_string_equal(l.text, "DDDDDDDDDDDD:alpha:30 "
	                            "CCCCCCCCCCCC:beta:10 "
	                            "AAAAAAAAAAAA:beta:20 "
	                            "BBBBBBBBBBBB:beta:20 ");
	l = (struct listing){ .text = "" };
	assert_int_equal(store_apikey_list(f->s, "alpha", collect, &l), 0);
	assert_string_equal(l.text, "DDDDDDDDDDDD:alpha:30 ");
	l = (struct listing){ .text = "" };
	assert_int_equal(store_apikey_list(f->s, "nobody", collect, &l), 0);
	assert_string_equal(l.text, "");
	l = (struct listing){ .text = "", .stop_after = 2 };
	assert_int_equal(store_apikey_list(f->s, NULL, collect, &l), 42);
	assert_int_equal(l.seen, 2);
	/* The statement was reset: a new walk starts from the top. */
	l = (struct listing){ .text = "", .stop_after = 1 };
	assert_int_equal(store_apikey_list(f->s, "beta", collect, &l), 42);
	assert_string_equal(l.text, "CCCCCCCCCCCC:beta:10 ");
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

/* The database itself refuses rows the store would never write, and the
 * store refuses to read rows it would never write. */
static void test_schema_constraints(void **state)
{
	fixture *f = *state;
	store_apikey got;

	assert_int_equal(raw_exec(f->path,
	                          "INSERT INTO apikeys (id, principal, scopes,"
	                          " hash, created) VALUES ('short', 'p', '',"
	                          " zeroblob(32), 1)"),
	                 SQLITE_CONSTRAINT);
	assert_int_equal(raw_exec(f->path,
	                          "INSERT INTO apikeys (id, principal, scopes,"
	                          " hash, created) VALUES ('AAAAAAAAAAAA',"
	                          " 'p', '', zeroblob(31), 1)"),
	                 SQLITE_CONSTRAINT);
	assert_int_equal(raw_exec(f->path,
	                          "INSERT INTO apikeys (id, principal, scopes,"
	                          " hash, created) VALUES ('AAAAAAAAAAAA',"
	                          " NULL, '', zeroblob(32), 1)"),
	                 SQLITE_CONSTRAINT);
	assert_int_equal(raw_exec(f->path,
	                          "INSERT INTO apikeys (id, principal, scopes,"
	                          " hash, created) VALUES ('AAAAAAAAAAAA',"
	                          " 'p', '', zeroblob(32), 1);"
	                          "INSERT INTO apikeys (id, principal, scopes,"
	                          " hash, created) VALUES ('BBBBBBBBBBBB',"
	                          " 'p', '', zeroblob(32), 1)"),
	                 SQLITE_CONSTRAINT);
	assert_int_equal(raw_exec(f->path,
	                          "UPDATE apikeys SET replaced_by = 'x'"),
	                 SQLITE_CONSTRAINT);
	assert_int_equal(store_apikey_get(f->s, "AAAAAAAAAAAA", &got), 0);
	/* An edited row the writers could not have made. */
	assert_int_equal(raw_exec(f->path, "UPDATE apikeys SET principal = ''"),
	                 SQLITE_OK);
	assert_int_equal(store_apikey_get(f->s, "AAAAAAAAAAAA", &got),
	                 KW_ESTORE);
	assert_int_equal(raw_exec(f->path, "UPDATE apikeys SET principal ="
	                                   " 'p', scopes = zeroblob(3000)"),
	                 SQLITE_OK);
	assert_int_equal(store_apikey_get(f->s, "AAAAAAAAAAAA", &got),
	                 KW_ESTORE);
}

/* A store at schema 4 (as the rotation release left it) gains the table
 * on open and keeps its data. */
static void test_migrate_from_v4(void **state)
{
	fixture *f = *state;
	store_apikey a = key("AAAAAAAAAAAA", "p", "", 1, 1, 0);
	store_apikey got;
	int ver = 0;

	store_close(f->s);
	f->s = NULL;
	assert_int_equal(raw_exec(f->path, "DROP INDEX apikeys_principal;"
	                                   "DROP TABLE apikeys;"
	                                   "DROP TABLE audit_cp_head;"
	                                   "DROP TABLE audit_gaps;"
	                                   "DROP TABLE subkeys;"
	                                   "ALTER TABLE rotations"
	                                   " DROP COLUMN cmd_pgid;"
	                                   "ALTER TABLE rotations"
	                                   " DROP COLUMN cmd_start;"
	                                   "ALTER TABLE rotations"
	                                   " DROP COLUMN cmd_sid;"
	                                   "ALTER TABLE rotations"
	                                   " DROP COLUMN cmd_boot;"
	                                   "DROP TABLE oauth_creds;"
	                                   "DELETE FROM schema_migrations"
	                                   " WHERE version >= 5;"
	                                   "CREATE TABLE keep (x);"
	                                   "INSERT INTO keep VALUES (1);"),
	                 SQLITE_OK);
	assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &f->s), 0);
	assert_int_equal(store_schema_version(f->s, &ver), 0);
	assert_int_equal(ver, 9);
	assert_int_equal(store_apikey_insert(f->s, &a), 0);
	assert_int_equal(store_apikey_get(f->s, "AAAAAAAAAAAA", &got), 0);
	assert_int_equal(raw_exec(f->path, "SELECT x FROM keep"), SQLITE_OK);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_schema_version),
		T(test_insert_get),
		T(test_duplicates),
		T(test_find),
		T(test_touch_revoke),
		T(test_rotate),
		T(test_rotate_rolls_back),
		T(test_invalid),
		T(test_list),
		T(test_schema_constraints),
		T(test_migrate_from_v4),
	};

	if (kw_secmem_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
