/*
 * test_store_oauth.c - sealed OAuth credential documents (migration 9,
 * store_oauth.h).
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>
#include <sqlite3.h>

#include "keyward.h"
#include "secmem.h"
#include "store.h"
#include "store_oauth.h"

typedef struct fixture {
	char dir[64];
	char path[PATH_MAX];
	store *s;
	kw_key *dk;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/kw-test-oauth-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/secrets.db", f->dir);
	if (store_open(f->path, STORE_CREATE, &f->s) != 0 ||
	    key_random(&f->dk) != 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	static const char *const suffix[] = { "-wal", "-shm", "" };
	fixture *f = *state;
	char p[PATH_MAX];

	store_close(f->s);
	key_free(f->dk);
	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", f->path, suffix[i]);
		unlink(p);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

static void put(fixture *f, const char *name, const char *doc, uint64_t gen)
{
	uint64_t got = 0;
	assert_int_equal(store_oauth_put(f->s, f->dk, name,
	                                 (const uint8_t *)doc, strlen(doc),
	                                 1000, &got),
	                 0);
	assert_int_equal(got, gen);
}

static void expect(fixture *f, kw_key *dk, const char *name, const char *doc)
{
	uint8_t *got = NULL;
	size_t len = 0;
	assert_int_equal(store_oauth_get(f->s, dk, name, &got, &len), 0);
	assert_int_equal(len, strlen(doc));
	assert_memory_equal(got, doc, len);
	kw_wipefree(got);
}

static int collect(void *arg, const char *name)
{
	char *out = arg;
	strcat(out, name);
	strcat(out, ";");
	return strcmp(name, "stop") == 0 ? 7 : 0;
}

/* Generations count up per name; the newest document is read back; the
 * names are listed in order; delete removes one row. */
static void test_put_get_delete(void **state)
{
	fixture *f = *state;
	char names[256] = "";
	uint8_t *doc = NULL;
	size_t len = 0;

	put(f, "b/cred", "{\"v\":1}", 1);
	put(f, "b/cred", "{\"v\":2}", 2);
	put(f, "a/cred", "{\"x\":1}", 1);
	expect(f, f->dk, "b/cred", "{\"v\":2}");
	expect(f, f->dk, "a/cred", "{\"x\":1}");
	assert_int_equal(store_oauth_get(f->s, f->dk, "c", &doc, &len),
	                 KW_ENOTFOUND);
	assert_int_equal(store_oauth_names(f->s, collect, names), 0);
	assert_string_equal(names, "a/cred;b/cred;");
	put(f, "stop", "{}", 1);
	put(f, "z", "{}", 1);
	names[0] = '\0';
	assert_int_equal(store_oauth_names(f->s, collect, names), 7);
	assert_string_equal(names, "a/cred;b/cred;stop;");
	assert_int_equal(store_oauth_delete(f->s, "a/cred"), 0);
	assert_int_equal(store_oauth_delete(f->s, "a/cred"), KW_ENOTFOUND);
	assert_int_equal(store_oauth_get(f->s, f->dk, "a/cred", &doc, &len),
	                 KW_ENOTFOUND);
}

static void test_bad_input(void **state)
{
	fixture *f = *state;
	static const uint8_t d[] = "{}";
	uint8_t *big = calloc(1, STORE_OAUTH_DOC_MAX + 1);

	assert_non_null(big);
	assert_int_equal(store_oauth_put(f->s, f->dk, "../x", d, 2, 1, NULL),
	                 KW_EINVAL);
	assert_int_equal(store_oauth_put(f->s, f->dk, "x", d, 0, 1, NULL),
	                 KW_EINVAL);
	assert_int_equal(store_oauth_put(f->s, f->dk, "x", big,
	                                 STORE_OAUTH_DOC_MAX + 1, 1, NULL),
	                 KW_EINVAL);
	assert_int_equal(store_oauth_put(f->s, f->dk, "x", big,
	                                 STORE_OAUTH_DOC_MAX, 1, NULL),
	                 0);
	free(big);
}

static sqlite3 *raw(fixture *f)
{
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	return db;
}

static void exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err);
}

/* A row moved to another name, an older generation put back under a
 * newer number, a flipped byte and another data key all fail to open. */
static void test_tamper(void **state)
{
	fixture *f = *state;
	uint8_t *doc = NULL;
	size_t len = 0;
	kw_key *other = NULL;

	put(f, "a", "{\"a\":1}", 1);
	put(f, "b", "{\"b\":1}", 1);
	put(f, "b", "{\"b\":2}", 2);
	sqlite3 *db = raw(f);
	exec(db, "UPDATE oauth_creds SET sealed = (SELECT sealed FROM"
	         " oauth_creds WHERE name = 'b') WHERE name = 'a'");
	assert_int_equal(store_oauth_get(f->s, f->dk, "a", &doc, &len),
	                 KW_ECRYPTO);
	exec(db, "UPDATE oauth_creds SET gen = 1 WHERE name = 'b'");
	assert_int_equal(store_oauth_get(f->s, f->dk, "b", &doc, &len),
	                 KW_ECRYPTO);
	exec(db, "UPDATE oauth_creds SET gen = 2 WHERE name = 'b'");
	expect(f, f->dk, "b", "{\"b\":2}");
	exec(db, "UPDATE oauth_creds SET sealed = CAST(zeroblob(60) AS BLOB)"
	         " WHERE name = 'b'");
	assert_int_equal(store_oauth_get(f->s, f->dk, "b", &doc, &len),
	                 KW_ECRYPTO);
	sqlite3_close(db);
	put(f, "c", "{\"c\":1}", 1);
	assert_int_equal(key_random(&other), 0);
	assert_int_equal(store_oauth_get(f->s, other, "c", &doc, &len),
	                 KW_ECRYPTO);
	key_free(other);
}

/* A rekey re-seals every row under the new key, keeping the generation. */
static void test_reseal(void **state)
{
	fixture *f = *state;
	kw_key *next = NULL;
	uint64_t n = 0;
	uint8_t *doc = NULL;
	size_t len = 0;

	put(f, "one", "{\"one\":1}", 1);
	put(f, "two", "{\"two\":1}", 1);
	put(f, "two", "{\"two\":2}", 2);
	assert_int_equal(key_random(&next), 0);
	assert_int_equal(store_oauth_reseal(f->s, f->dk, next, &n), 0);
	assert_int_equal(n, 2);
	expect(f, next, "one", "{\"one\":1}");
	expect(f, next, "two", "{\"two\":2}");
	assert_int_equal(store_oauth_get(f->s, f->dk, "two", &doc, &len),
	                 KW_ECRYPTO);
	put(f, "two", "{\"two\":3}", 3); /* sealed under f->dk again */
	key_free(next);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_get_delete, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_bad_input, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_tamper, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reseal, setup, teardown),
	};
	if (kw_secmem_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
