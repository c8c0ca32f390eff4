/*
 * test_store.c - the SQLite secret store (store.h).
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
#include <sodium.h>
#include <sqlite3.h>

#include "crypto.h"
#include "keyward.h"
#include "secmem.h"
#include "store.h"
#include "store_int.h"

typedef struct fixture {
	char dir[64];
	char path[PATH_MAX];
	store *s;
	kw_key *dk;
} fixture;

static void side(char *buf, const fixture *f, const char *suffix)
{
	int n = snprintf(buf, PATH_MAX, "%s%s", f->path, suffix);

	assert_true(n > 0 && n < PATH_MAX);
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	mode_t old;
	int r;

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/kw-test-store-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/secrets.db", f->dir);
	/* A careless umask must not leak into the store's modes. */
	old = umask(0);
	r = store_open(f->path, STORE_CREATE, &f->s);
	umask(old);
	if (r != 0 || key_random(&f->dk) != 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	char p[PATH_MAX];

	store_close(f->s);
	key_free(f->dk);
	side(p, f, "-wal");
	unlink(p);
	side(p, f, "-shm");
	unlink(p);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static uint64_t put(fixture *f, const char *name, const char *value,
                    uint32_t max_versions, int64_t now)
{
	uint64_t ver = 0;

	assert_int_equal(store_put(f->s, f->dk, name, (const uint8_t *)value,
	                           strlen(value), max_versions, now, &ver),
	                 0);
	assert_true(ver > 0);
	return ver;
}

/* Get and check value, version and stage. */
static void expect(fixture *f, const char *name, uint64_t version,
                   const char *stage, const char *value, uint64_t want_ver,
                   const char *want_stage)
{
	store_value *v = NULL;

	assert_int_equal(store_get(f->s, f->dk, name, version, stage, &v), 0);
	assert_non_null(v);
	assert_non_null(v->value);
	assert_int_equal(v->len, strlen(value));
	assert_memory_equal(v->value, value, v->len);
	assert_int_equal(v->version, want_ver);
	assert_string_equal(v->stage, want_stage);
	store_value_free(v);
}

static void expect_err(fixture *f, const char *name, uint64_t version,
                       const char *stage, int err)
{
	store_value *v = NULL;

	assert_int_equal(store_get(f->s, f->dk, name, version, stage, &v), err);
	assert_null(v);
}

/* Constant SQL through a second, raw connection: the attacker's view. */
static void raw_exec(const fixture *f, const char *sql)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE,
	                                 NULL),
	                 SQLITE_OK);
	sqlite3_busy_timeout(db, 2000);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_changes(db) > 0 ||
	                         strncmp(sql, "UPDATE", 6) != 0,
	                 1);
	sqlite3_close(db);
}

static void test_create_open(void **state)
{
	fixture *f = *state;
	store *s2 = NULL;
	char missing[PATH_MAX];
	struct stat st;
	int ver = 0;

	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(store_schema_version(f->s, &ver), 0);
	assert_int_equal(ver, 9);
	assert_int_equal(store_open(f->path, STORE_CREATE, &s2), KW_EEXIST);
	assert_int_equal(store_open(f->path, 7, &s2), KW_EINVAL);
	side(missing, f, ".nope");
	assert_int_equal(store_open(missing, STORE_OPEN_EXISTING, &s2),
	                 KW_ENOTFOUND);
	assert_null(s2);

	/* A stray -wal where a new store would go: SQLite would replay it. */
	{
		char other[PATH_MAX], wal[PATH_MAX];
		int fd;

		snprintf(other, sizeof(other), "%s/other.db", f->dir);
		snprintf(wal, sizeof(wal), "%s/other.db-wal", f->dir);
		fd = open(wal, O_WRONLY | O_CREAT | O_EXCL, 0600);
		assert_true(fd >= 0);
		close(fd);
		assert_int_equal(store_open(other, STORE_CREATE, &s2),
		                 KW_EEXIST);
		assert_null(s2);
		assert_int_equal(access(other, F_OK), -1); /* not made */
		assert_int_equal(access(wal, F_OK), 0);    /* not removed */
		unlink(wal);
	}
	put(f, "a/b", "v", 10, 1000);
	store_close(f->s);
	f->s = NULL;

	/* Reopen: same schema, nothing migrated twice, data kept. */
	assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &f->s), 0);
	ver = 0;
	assert_int_equal(store_schema_version(f->s, &ver), 0);
	assert_int_equal(ver, 9);
	expect(f, "a/b", 0, NULL, "v", 1, "current");
}

static void test_newer_schema_refused(void **state)
{
	fixture *f = *state;

	store_close(f->s);
	f->s = NULL;
	raw_exec(f, "INSERT INTO schema_migrations VALUES (99, 0)");
	assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &f->s),
	                 KW_ESTORE);
	assert_null(f->s);
}

static void test_wrap(void **state)
{
	fixture *f = *state;
	wrapped_key w, got, w2;

	assert_int_equal(store_wrap_get(f->s, &got), KW_ENOTFOUND);
	memset(&w, 0, sizeof(w));
	w.mode = KEY_WRAP_PASSPHRASE;
	randombytes_buf(w.salt, sizeof(w.salt));
	randombytes_buf(w.nonce, sizeof(w.nonce));
	randombytes_buf(w.wrapped, sizeof(w.wrapped));
	w.opslimit = 3;
	w.memlimit = 256u << 20;
	assert_int_equal(store_wrap_set(f->s, &w), 0);
	assert_int_equal(store_wrap_get(f->s, &got), 0);
	assert_memory_equal(&got, &w, sizeof(w));

	/* Replacing keeps one row and returns the new wrap. */
	w2 = w;
	w2.mode = KEY_WRAP_KEYFILE;
	w2.nonce[0] ^= 0xff;
	w2.opslimit = 0;
	assert_int_equal(store_wrap_set(f->s, &w2), 0);
	store_close(f->s);
	assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &f->s), 0);
	assert_int_equal(store_wrap_get(f->s, &got), 0);
	assert_memory_equal(&got, &w2, sizeof(w2));

	w2.mode = 3;
	assert_int_equal(store_wrap_set(f->s, &w2), KW_EINVAL);
	w2.mode = KEY_WRAP_KEYFILE;
	w2.memlimit = UINT64_MAX;
	assert_int_equal(store_wrap_set(f->s, &w2), KW_EINVAL);
}

static void test_put_get(void **state)
{
	fixture *f = *state;
	store_value *v = NULL;
	uint64_t n = 99, ver = 0;

	assert_int_equal(store_count(f->s, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(put(f, "github/token", "ghp_abc", 10, 1700000000), 1);
	assert_int_equal(store_get(f->s, f->dk, "github/token", 0, NULL, &v),
	                 0);
	assert_int_equal(v->len, 7);
	assert_memory_equal(v->value, "ghp_abc", 7);
	assert_int_equal(v->version, 1);
	assert_int_equal(v->created, 1700000000);
	assert_string_equal(v->stage, "current");
	store_value_free(v);
	store_value_free(NULL);

	/* An empty value is a value. */
	assert_int_equal(store_put(f->s, f->dk, "empty", NULL, 0, 10, 5, &ver),
	                 0);
	assert_int_equal(ver, 1);
	expect(f, "empty", 0, "current", "", 1, "current");

	assert_int_equal(store_count(f->s, &n), 0);
	assert_int_equal(n, 2);
	expect_err(f, "nope", 0, NULL, KW_ENOTFOUND);
	expect_err(f, "github/token", 0, "bogus", KW_EINVAL);
	expect_err(f, "github/token", 0, "Current", KW_EINVAL);
	expect_err(f, "github/token", 2, NULL, KW_ENOTFOUND);
	expect_err(f, "github/token", UINT64_MAX, NULL, KW_ENOTFOUND);
	/* A wrong data key opens nothing. */
	{
		kw_key *other, *keep = f->dk;

		assert_int_equal(key_random(&other), 0);
		f->dk = other;
		expect_err(f, "github/token", 0, NULL, KW_ECRYPTO);
		f->dk = keep;
		key_free(other);
	}
}

/* Appends "version:stage:created " to a 512-byte buffer. */
#define VERSIONS_BUF 512

static int collect_versions(const store_version_info *vi, void *arg)
{
	char *out = arg;
	size_t n = strlen(out);

	snprintf(out + n, VERSIONS_BUF - n, "%llu:%s:%lld ",
	         (unsigned long long)vi->version, vi->stage,
	         (long long)vi->created);
	return 0;
}

static void expect_versions(fixture *f, const char *name, const char *want)
{
	char got[VERSIONS_BUF] = "";

	assert_int_equal(store_versions(f->s, name, collect_versions, got), 0);
	assert_string_equal(got, want);
}

static void test_stages(void **state)
{
	fixture *f = *state;

	assert_int_equal(put(f, "db/pass", "one", 10, 100), 1);
	assert_int_equal(put(f, "db/pass", "two", 10, 200), 2);
	assert_int_equal(put(f, "db/pass", "three", 10, 300), 3);
	expect(f, "db/pass", 0, NULL, "three", 3, "current");
	expect(f, "db/pass", 0, "current", "three", 3, "current");
	expect(f, "db/pass", 0, "previous", "two", 2, "previous");
	expect(f, "db/pass", 0, "retired", "one", 1, "retired");
	expect(f, "db/pass", 1, NULL, "one", 1, "retired");
	expect(f, "db/pass", 2, NULL, "two", 2, "previous");
	expect_err(f, "db/pass", 0, "pending", KW_ENOTFOUND);
	expect_err(f, "db/pass", 4, NULL, KW_ENOTFOUND);
	expect_versions(f, "db/pass",
	                "3:current:300 2:previous:200 1:retired:100 ");
	assert_int_equal(put(f, "db/pass", "four", 10, 400), 4);
	/* The newest retired answers for "retired". */
	expect(f, "db/pass", 0, "retired", "two", 2, "retired");
	expect_versions(f, "db/pass",
	                "4:current:400 3:previous:300 "
	                "2:retired:200 1:retired:100 ");
}

static void test_prune(void **state)
{
	fixture *f = *state;

	for (int i = 1; i <= 5; i++)
		assert_int_equal(put(f, "k", "val", 2, i), (uint64_t)i);
	expect_versions(f, "k", "5:current:5 4:previous:4 ");
	expect_err(f, "k", 3, NULL, KW_ENOTFOUND);
	/* Pruned numbers are not reused. */
	assert_int_equal(put(f, "k", "six", 2, 6), 6);
	expect_versions(f, "k", "6:current:6 5:previous:5 ");

	/* A pending version survives pruning, as does current. */
	raw_exec(f, "UPDATE secrets SET next_version = 8 WHERE name = 'k';"
	            "INSERT INTO versions (secret_id, version, stage,"
	            " created, sealed) SELECT secret_id, 7, 'pending', 7,"
	            " sealed FROM versions WHERE version = 6;");
	assert_int_equal(put(f, "k", "eight", 1, 8), 8);
	expect_versions(f, "k", "8:current:8 7:pending:7 ");
	expect(f, "k", 0, NULL, "eight", 8, "current");

	/* 0 keeps everything. */
	assert_int_equal(put(f, "k", "nine", 0, 9), 9);
	assert_int_equal(put(f, "k", "ten", 0, 10), 10);
	expect_versions(f, "k",
	                "10:current:10 9:previous:9 8:retired:8 "
	                "7:pending:7 ");
}

static void test_delete(void **state)
{
	fixture *f = *state;
	uint32_t n = 0;
	uint64_t count = 9;
	char got[VERSIONS_BUF] = "";

	put(f, "x", "1", 10, 1);
	put(f, "x", "2", 10, 2);
	put(f, "x", "3", 10, 3);
	put(f, "y", "1", 10, 1);
	assert_int_equal(store_delete(f->s, "x", &n), 0);
	assert_int_equal(n, 3);
	expect_err(f, "x", 0, NULL, KW_ENOTFOUND);
	expect_err(f, "x", 3, NULL, KW_ENOTFOUND);
	assert_int_equal(store_versions(f->s, "x", collect_versions, got),
	                 KW_ENOTFOUND);
	assert_int_equal(store_delete(f->s, "x", &n), KW_ENOTFOUND);
	assert_int_equal(store_count(f->s, &count), 0);
	assert_int_equal(count, 1);
	expect(f, "y", 0, NULL, "1", 1, "current");
	/* A re-created name continues its numbering: no version reused. */
	assert_int_equal(put(f, "x", "again", 10, 4), 4);
	expect_versions(f, "x", "4:current:4 ");
	assert_int_equal(store_delete(f->s, "x", NULL), 0);
	assert_int_equal(put(f, "x", "and again", 10, 5), 5);
}

/* An integer from constant SQL through a second connection, which sees
 * only what was committed. */
static int64_t raw_int(const fixture *f, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v;

	assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY,
	                                 NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void test_batch_commit(void **state)
{
	fixture *f = *state;

	assert_false(store_batch_active(f->s));
	assert_int_equal(store_batch_begin(f->s), 0);
	assert_true(store_batch_active(f->s));
	put(f, "a", "1", 10, 1);
	put(f, "b", "2", 10, 1);
	/* Visible inside the batch, to no one else until it commits. */
	expect(f, "a", 0, NULL, "1", 1, "current");
	assert_int_equal(raw_int(f, "SELECT count(*) FROM secrets"), 0);
	assert_int_equal(store_batch_commit(f->s), 0);
	assert_false(store_batch_active(f->s));
	assert_int_equal(raw_int(f, "SELECT count(*) FROM secrets"), 2);
	expect(f, "b", 0, NULL, "2", 1, "current");
}

static void test_batch_failed_op(void **state)
{
	fixture *f = *state;
	uint64_t count = 0;

	assert_int_equal(store_batch_begin(f->s), 0);
	put(f, "a", "1", 10, 1);
	/* Fails alone: the batch and what it did so far go on. */
	assert_int_equal(store_delete(f->s, "missing", NULL), KW_ENOTFOUND);
	assert_true(store_batch_active(f->s));
	put(f, "b", "2", 10, 1);
	assert_int_equal(store_batch_commit(f->s), 0);
	assert_int_equal(store_count(f->s, &count), 0);
	assert_int_equal(count, 2);
	expect(f, "a", 0, NULL, "1", 1, "current");
	expect(f, "b", 0, NULL, "2", 1, "current");
}

static void test_batch_rollback(void **state)
{
	fixture *f = *state;
	uint64_t count = 0;

	put(f, "x", "old", 10, 1);
	assert_int_equal(store_batch_begin(f->s), 0);
	put(f, "a", "1", 10, 2);
	put(f, "x", "new", 10, 2);
	assert_int_equal(store_delete(f->s, "x", NULL), 0);
	store_batch_rollback(f->s);
	assert_false(store_batch_active(f->s));
	assert_int_equal(store_count(f->s, &count), 0);
	assert_int_equal(count, 1);
	expect_err(f, "a", 0, NULL, KW_ENOTFOUND);
	expect(f, "x", 0, NULL, "old", 1, "current");
	/* The store works on after a rollback, batched or not. */
	put(f, "y", "1", 10, 3);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM secrets"), 2);
}

static void test_batch_state(void **state)
{
	fixture *f = *state;

	assert_int_equal(store_batch_commit(f->s), KW_ESTATE);
	assert_int_equal(store_batch_begin(f->s), 0);
	assert_int_equal(store_batch_begin(f->s), KW_ESTATE);
	assert_true(store_batch_active(f->s));
	put(f, "a", "1", 10, 1);
	assert_int_equal(store_batch_commit(f->s), 0);
	assert_int_equal(store_batch_commit(f->s), KW_ESTATE);
	store_batch_rollback(f->s); /* nothing open: harmless */
	expect(f, "a", 0, NULL, "1", 1, "current");
}

/* The store connection's own synchronous level (1 NORMAL, 2 FULL). */
static int sync_level(const fixture *f)
{
	sqlite3_stmt *st;
	int v;

	assert_int_equal(sqlite3_prepare_v2(f->s->db, "PRAGMA synchronous", -1,
	                                    &st, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void test_batch_light(void **state)
{
	fixture *f = *state;

	assert_int_equal(sync_level(f), 2);
	assert_false(store_unsynced(f->s));
	assert_int_equal(store_sync(f->s), 0); /* nothing to do */
	assert_int_equal(store_batch_begin_light(f->s), 0);
	assert_true(store_batch_light(f->s));
	assert_int_equal(store_batch_begin_light(f->s), KW_ESTATE);
	assert_int_equal(store_batch_begin(f->s), KW_ESTATE);
	assert_int_equal(sync_level(f), 1);
	put(f, "a", "1", 10, 1);
	assert_int_equal(store_batch_commit(f->s), 0);
	/* Committed for every reader at once, synced later; everything
	 * outside light batches is durable again. */
	assert_false(store_batch_light(f->s));
	assert_true(store_unsynced(f->s));
	assert_int_equal(sync_level(f), 2);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM secrets"), 1);
	assert_int_equal(store_sync(f->s), 0);
	assert_false(store_unsynced(f->s));

	/* A rolled-back light batch leaves nothing to sync. */
	assert_int_equal(store_batch_begin_light(f->s), 0);
	put(f, "b", "2", 10, 2);
	store_batch_rollback(f->s);
	assert_false(store_unsynced(f->s));
	assert_int_equal(sync_level(f), 2);
	expect_err(f, "b", 0, NULL, KW_ENOTFOUND);

	/* A durable commit syncs the light ones before it. */
	assert_int_equal(store_batch_begin_light(f->s), 0);
	put(f, "c", "3", 10, 3);
	assert_int_equal(store_batch_commit(f->s), 0);
	assert_true(store_unsynced(f->s));
	assert_int_equal(store_batch_begin(f->s), 0);
	assert_false(store_batch_light(f->s));
	assert_int_equal(sync_level(f), 2);
	put(f, "d", "4", 10, 4);
	assert_int_equal(store_sync(f->s), 0); /* inside a batch too */
	assert_int_equal(store_batch_commit(f->s), 0);
	assert_false(store_unsynced(f->s));
	assert_int_equal(raw_int(f, "SELECT count(*) FROM secrets"), 3);
}

struct listing {
	char names[512];
	int calls, stop_after;
};

static int collect_names(const store_meta *m, void *arg)
{
	struct listing *l = arg;

	size_t n = strlen(l->names);
	snprintf(l->names + n, sizeof(l->names) - n, "%s ", m->name);
	return ++l->calls == l->stop_after ? 42 : 0;
}

static void expect_list(fixture *f, const char *prefix, const char *want)
{
	struct listing l = { .calls = 0 };

	assert_int_equal(store_list(f->s, prefix, collect_names, &l), 0);
	assert_string_equal(l.names, want);
}

static int check_meta(const store_meta *m, void *arg)
{
	(void)arg;
	assert_string_equal(m->name, "m/one");
	assert_int_equal(m->current_version, 2);
	assert_int_equal(m->versions, 2);
	assert_int_equal(m->created, 10);
	assert_int_equal(m->updated, 20);
	return 0;
}

static void test_list(void **state)
{
	static const char *const names[] = {
		"b/z", "a/y", "a/x", "a_b", "aXb", "%x", "a", "a/", "ab",
	};
	fixture *f = *state;
	struct listing l = { .stop_after = 2 };

	expect_list(f, NULL, "");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		put(f, names[i], "v", 10, 1);
	expect_list(f, NULL, "%x a a/ a/x a/y aXb a_b ab b/z ");
	expect_list(f, "", "%x a a/ a/x a/y aXb a_b ab b/z ");
	expect_list(f, "a/", "a/ a/x a/y ");
	expect_list(f, "a_", "a_b "); /* not a LIKE wildcard */
	expect_list(f, "%", "%x ");   /* nor this */
	expect_list(f, "a", "a a/ a/x a/y aXb a_b ab ");
	expect_list(f, "a/x", "a/x ");
	expect_list(f, "a/xx", "");
	expect_list(f, "zzz", "");
	expect_list(f, "B", "");

	/* A non-zero return from the callback stops and is returned. */
	assert_int_equal(store_list(f->s, "a", collect_names, &l), 42);
	assert_int_equal(l.calls, 2);
	assert_string_equal(l.names, "a a/ ");

	put(f, "m/one", "1", 10, 10);
	put(f, "m/one", "2", 10, 20);
	assert_int_equal(store_list(f->s, "m/", check_meta, NULL), 0);
}

static void test_nothing_half_written(void **state)
{
	fixture *f = *state;
	char longname[KW_NAME_MAX + 2];
	uint64_t n = 9;

	put(f, "keep", "v", 10, 1);
	/* Sealing refuses the name after the secret row was inserted. */
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(store_put(f->s, f->dk, longname, (const uint8_t *)"v",
	                           1, 10, 2, NULL),
	                 KW_EINVAL);
	assert_int_equal(store_count(f->s, &n), 0);
	assert_int_equal(n, 1);
	expect_list(f, "n", "");
	/* The store is still usable: the transaction was closed. */
	assert_int_equal(put(f, "keep", "w", 10, 3), 2);
	expect(f, "keep", 0, "previous", "v", 1, "previous");
}

static void test_moved_row_fails(void **state)
{
	fixture *f = *state;

	put(f, "one", "value-of-one", 10, 1);
	put(f, "two", "two-v1", 10, 1);
	put(f, "two", "two-v2", 10, 2);
	/* Control: all open before tampering. */
	expect(f, "two", 1, NULL, "two-v1", 1, "previous");

	/* one's v1 blob placed at two's v1: other name, same version. */
	raw_exec(f, "UPDATE versions SET sealed = (SELECT v.sealed FROM"
	            " versions v JOIN secrets s ON s.id = v.secret_id"
	            " WHERE s.name = 'one' AND v.version = 1)"
	            " WHERE version = 1 AND secret_id ="
	            " (SELECT id FROM secrets WHERE name = 'two')");
	expect_err(f, "two", 1, NULL, KW_ECRYPTO);
	expect_err(f, "two", 0, "previous", KW_ECRYPTO);
	expect(f, "two", 2, NULL, "two-v2", 2, "current");

	/* two's v2 blob placed at two's v1: same name, other version. */
	raw_exec(f, "UPDATE versions SET sealed = (SELECT sealed FROM versions"
	            " WHERE version = 2)"
	            " WHERE version = 1 AND secret_id ="
	            " (SELECT id FROM secrets WHERE name = 'two')");
	expect_err(f, "two", 1, NULL, KW_ECRYPTO);

	/* A renamed secret no longer opens. */
	raw_exec(f, "UPDATE secrets SET name = 'uno' WHERE name = 'one'");
	expect_err(f, "uno", 0, NULL, KW_ECRYPTO);
}

static bool file_contains(const char *path, const void *needle, size_t n)
{
	struct stat st;
	uint8_t *buf;
	bool found;
	FILE *fp = fopen(path, "rb");

	assert_non_null(fp);
	assert_int_equal(fstat(fileno(fp), &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)st.st_size, fp),
	                 (size_t)st.st_size);
	fclose(fp);
	found = memmem(buf, (size_t)st.st_size, needle, n) != NULL;
	free(buf);
	return found;
}

static void test_no_plaintext_on_disk(void **state)
{
	static const char name[] = "needle/secret-name";
	fixture *f = *state;
	char wal[PATH_MAX], value[80];
	uint8_t rnd[24];
	struct stat st;

	randombytes_buf(rnd, sizeof(rnd));
	memcpy(value, "PLAINTEXT-MARKER-", 17);
	sodium_bin2hex(value + 17, sizeof(value) - 17, rnd, sizeof(rnd));
	for (int i = 0; i < 4; i++)
		put(f, name, value, 2, i);
	side(wal, f, "-wal");
	assert_int_equal(stat(wal, &st), 0);
	assert_true(st.st_size > 0);
	/* Control: the name is stored in clear, so the search does work. */
	assert_true(file_contains(f->path, name, strlen(name)) ||
	            file_contains(wal, name, strlen(name)));
	assert_false(file_contains(f->path, value, strlen(value)));
	assert_false(file_contains(wal, value, strlen(value)));
	assert_false(file_contains(wal, "PLAINTEXT-MARKER", 16));
	store_close(f->s); /* checkpoints the WAL into the file */
	f->s = NULL;
	assert_true(file_contains(f->path, name, strlen(name)));
	assert_false(file_contains(f->path, value, strlen(value)));
	assert_false(file_contains(f->path, "PLAINTEXT-MARKER", 16));
}

/* The longest sealed blob in the store, via a raw connection. */
static size_t raw_sealed(const fixture *f, uint8_t *out, size_t outsz)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	size_t n;

	assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY,
	                                 NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
	                                    "SELECT sealed FROM versions"
	                                    " ORDER BY length(sealed) DESC",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = (size_t)sqlite3_column_bytes(st, 0);
	assert_true(n <= outsz);
	memcpy(out, sqlite3_column_blob(st, 0), n);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static void test_deleted_rows_zeroed(void **state)
{
	fixture *f = *state;
	uint8_t value[200], sealed[400];
	size_t n;

	randombytes_buf(value, sizeof(value));
	assert_int_equal(store_put(f->s, f->dk, "gone", value, sizeof(value),
	                           10, 1, NULL),
	                 0);
	put(f, "stays", "v", 10, 1); /* keeps the page in use */
	n = raw_sealed(f, sealed, sizeof(sealed));
	assert_int_equal(n, sizeof(value) + SEAL_OVERHEAD);
	store_close(f->s);
	f->s = NULL;
	/* Control: the sealed bytes are in the file while the row lives. */
	assert_true(file_contains(f->path, sealed, n));
	assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &f->s), 0);
	assert_int_equal(store_delete(f->s, "gone", NULL), 0);
	store_close(f->s);
	f->s = NULL;
	/* secure_delete: the freed cell was overwritten, not left behind. */
	assert_false(file_contains(f->path, sealed, n));
	assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &f->s), 0);
}

static void test_file_modes(void **state)
{
	fixture *f = *state;
	char p[PATH_MAX];
	struct stat st;
	mode_t old = umask(0);

	/* SQLite creates -wal/-shm now; they copy the database's mode. */
	put(f, "m", "v", 10, 1);
	umask(old);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	side(p, f, "-wal");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	side(p, f, "-shm");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
}

static void test_open_refuses_unsafe(void **state)
{
	fixture *f = *state;
	char link[PATH_MAX], wal[PATH_MAX];
	store *s2 = NULL;
	int fd;

	store_close(f->s);
	f->s = NULL;
	assert_int_equal(chmod(f->path, 0644), 0);
	assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &s2),
	                 KW_EPERM);
	assert_int_equal(chmod(f->path, 0620), 0);
	assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &s2),
	                 KW_EPERM);
	assert_int_equal(chmod(f->path, 0600), 0);

	side(link, f, ".link");
	assert_int_equal(symlink(f->path, link), 0);
	assert_int_equal(store_open(link, STORE_OPEN_EXISTING, &s2), KW_EPERM);
	assert_int_equal(store_open(link, STORE_CREATE, &s2), KW_EEXIST);
	unlink(link);

	/* A readable stray -wal beside the database is refused too. */
	side(wal, f, "-wal");
	fd = open(wal, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, 0644), 0);
	close(fd);
	assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &s2),
	                 KW_EPERM);
	assert_null(s2);
	unlink(wal);

	/* Control: the same file, made safe again, opens. */
	assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &f->s), 0);
}

/* Each SQLite result class maps to the error that names its cause. */
static void test_error_mapping(void **state)
{
	(void)state;
	assert_int_equal(store_sql_err(SQLITE_FULL), KW_EDISKFULL);
	assert_int_equal(store_sql_err(SQLITE_READONLY), KW_EROFS);
	assert_int_equal(store_sql_err(SQLITE_READONLY_DBMOVED), KW_EROFS);
	assert_int_equal(store_sql_err(SQLITE_CORRUPT), KW_EDAMAGED);
	assert_int_equal(store_sql_err(SQLITE_NOTADB), KW_EDAMAGED);
	assert_int_equal(store_sql_err(SQLITE_IOERR_FSYNC), KW_EIO);
	assert_int_equal(store_sql_err(SQLITE_IOERR_WRITE), KW_EIO);
	assert_int_equal(store_sql_err(SQLITE_NOMEM), KW_ENOMEM);
	assert_int_equal(store_sql_err(SQLITE_CONSTRAINT), KW_ESTORE);
	assert_int_equal(store_sql_err(SQLITE_BUSY), KW_ESTORE);
}

/* A 0-byte file or one that is not a database is damaged: never migrated
 * into a new, empty store. */
static void test_open_refuses_damaged(void **state)
{
	fixture *f = *state;
	store *s2 = NULL;
	char p[PATH_MAX];
	struct stat st;

	store_close(f->s);
	f->s = NULL;
	side(p, f, "-wal");
	unlink(p);
	side(p, f, "-shm");
	unlink(p);
	int fd = open(f->path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &s2),
	                 KW_EDAMAGED);
	assert_null(s2);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_size, 0);

	fd = open(f->path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	for (int i = 0; i < 64; i++)
		assert_int_equal(write(fd, "not a database, not at all\n", 27),
		                 27);
	close(fd);
	assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &s2),
	                 KW_EDAMAGED);
	assert_null(s2);
	side(p, f, "-wal");
	unlink(p);
	side(p, f, "-shm");
	unlink(p);
	unlink(f->path);
	/* Control: a store made anew opens. */
	assert_int_equal(store_open(f->path, STORE_CREATE, &f->s), 0);
}

/* Reopen keeps what was committed, settle leaves an empty log, and the
 * statements work again afterwards. */
static void test_reopen_settle(void **state)
{
	fixture *f = *state;
	char p[PATH_MAX];
	struct stat st;
	char detail[128];

	put(f, "r/a", "one", 5, 100);
	assert_int_equal(store_batch_begin_light(f->s), 0);
	put(f, "r/b", "two", 5, 101);
	assert_int_equal(store_batch_commit(f->s), 0);
	assert_true(store_unsynced(f->s));

	assert_int_equal(store_reopen(f->s), 0);
	assert_true(store_connected(f->s));
	assert_false(store_unsynced(f->s));
	expect(f, "r/a", 0, NULL, "one", 1, "current");
	expect(f, "r/b", 0, NULL, "two", 1, "current");

	assert_int_equal(store_settle(f->s), 0);
	side(p, f, "-wal");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(store_quick_check(f->s, 5000, detail, sizeof(detail)),
	                 0);

	/* Not inside a batch. */
	assert_int_equal(store_batch_begin(f->s), 0);
	assert_int_equal(store_settle(f->s), KW_ESTATE);
	store_batch_rollback(f->s);

	/* A reopen that cannot open leaves it disconnected, and a later one
	 * that can works. */
	assert_int_equal(chmod(f->path, 0644), 0);
	assert_int_equal(store_reopen(f->s), KW_EPERM);
	assert_false(store_connected(f->s));
	assert_int_equal(store_settle(f->s), KW_ESTATE);
	assert_int_equal(chmod(f->path, 0600), 0);
	assert_int_equal(store_reopen(f->s), 0);
	expect(f, "r/b", 0, NULL, "two", 1, "current");
}

/* quick_check names a damaged page. */
static void test_quick_check_finds_damage(void **state)
{
	fixture *f = *state;
	char detail[256];
	char big[300];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (int i = 0; i < 100; i++) {
		char name[32];
		snprintf(name, sizeof(name), "q/%03d", i);
		put(f, name, big, 5, 100);
	}
	assert_int_equal(store_settle(f->s), 0);
	assert_int_equal(store_quick_check(f->s, 5000, detail, sizeof(detail)),
	                 0);
	int fd = open(f->path, O_WRONLY);
	assert_true(fd >= 0);
	uint8_t junk[512];
	memset(junk, 0xa5, sizeof(junk));
	for (int page = 3; page < 8; page += 2)
		assert_int_equal(pwrite(fd, junk, sizeof(junk),
		                        (off_t)page * 4096 + 8),
		                 (ssize_t)sizeof(junk));
	close(fd);
	/* What this connection has cached is not what the file has now. */
	assert_int_equal(store_reopen(f->s), 0);
	assert_int_equal(store_quick_check(f->s, 5000, detail, sizeof(detail)),
	                 KW_EDAMAGED);
	assert_true(detail[0] != '\0');
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_create_open),
		T(test_newer_schema_refused),
		T(test_wrap),
		T(test_put_get),
		T(test_stages),
		T(test_prune),
		T(test_delete),
		T(test_list),
		T(test_nothing_half_written),
		T(test_moved_row_fails),
		T(test_no_plaintext_on_disk),
		T(test_deleted_rows_zeroed),
		T(test_file_modes),
		T(test_open_refuses_unsafe),
		T(test_batch_commit),
		T(test_batch_failed_op),
		T(test_batch_rollback),
		T(test_batch_state),
		T(test_batch_light),
		cmocka_unit_test(test_error_mapping),
		T(test_open_refuses_damaged),
		T(test_reopen_settle),
		T(test_quick_check_finds_damage),
	};

	if (kw_secmem_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
