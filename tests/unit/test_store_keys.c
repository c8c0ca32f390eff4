/*
 * test_store_keys.c - sealed subkeys (migration 8) and the re-sealing of
 * every version under a new data key (store_keys.h).
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
#include "store_keys.h"

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
	snprintf(f->dir, sizeof(f->dir), "/tmp/kw-test-keys-XXXXXX");
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

static bool same_key(kw_key *a, kw_key *b)
{
	bool same = sodium_memcmp(key_bytes(a), key_bytes(b), KEY_BYTES) == 0;
	key_done(a);
	key_done(b);
	return same;
}

/* The first load derives the key as before migration 8 and stores it; the
 * next load opens the stored one; another data key does not open it. */
static void test_subkey_backfill(void **state)
{
	fixture *f = *state;

	for (int id = 1; id <= 3; id++) {
		kw_key *k1 = NULL, *k2 = NULL, *k3 = NULL, *old = NULL;
		kw_key *other = NULL;

		assert_int_equal(store_subkey_load(f->s, f->dk, id, &k1), 0);
		assert_int_equal(key_derive(f->dk, (enum kdf_id)id, &old), 0);
		assert_true(same_key(k1, old));
		assert_int_equal(store_subkey_load(f->s, f->dk, id, &k2), 0);
		assert_true(same_key(k1, k2));
		assert_int_equal(key_random(&other), 0);
		assert_int_equal(store_subkey_load(f->s, other, id, &k3),
		                 KW_ECRYPTO);
		assert_null(k3);
		key_free(k1);
		key_free(k2);
		key_free(old);
		key_free(other);
	}
	kw_key *k = NULL;
	assert_int_equal(store_subkey_load(f->s, f->dk, 4, &k), KW_EINVAL);
	assert_null(k);
}

/* Every version re-sealed: it opens with the new key only; the subkeys,
 * re-sealed, keep their bytes. */
static void test_reseal(void **state)
{
	fixture *f = *state;
	kw_key *nk = NULL, *tok = NULL, *tok2 = NULL;
	store_value *v = NULL;
	uint64_t n = 0;
	char val[16];

	for (int i = 0; i < 3; i++) {
		snprintf(val, sizeof(val), "v%d", i);
		assert_int_equal(store_put(f->s, f->dk, "a/b",
		                           (const uint8_t *)val, strlen(val), 0,
		                           1000 + i, NULL),
		                 0);
	}
	assert_int_equal(store_put(f->s, f->dk, "c", (const uint8_t *)"", 0, 0,
	                           1000, NULL),
	                 0);
	assert_int_equal(store_subkey_load(f->s, f->dk, STORE_SUBKEY_TOKEN,
	                                   &tok),
	                 0);
	assert_int_equal(key_random(&nk), 0);
	assert_int_equal(store_version_count(f->s, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(store_batch_begin(f->s), 0);
	assert_int_equal(store_reseal_values(f->s, f->dk, nk, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(store_subkey_seal(f->s, nk, STORE_SUBKEY_TOKEN, tok),
	                 0);
	assert_int_equal(store_batch_commit(f->s), 0);

	for (uint64_t ver = 1; ver <= 3; ver++) {
		assert_int_equal(store_get(f->s, f->dk, "a/b", ver, NULL, &v),
		                 KW_ECRYPTO);
		assert_int_equal(store_get(f->s, nk, "a/b", ver, NULL, &v), 0);
		snprintf(val, sizeof(val), "v%d", (int)ver - 1);
		assert_int_equal(v->len, strlen(val));
		assert_memory_equal(v->value, val, v->len);
		store_value_free(v);
	}
	assert_int_equal(store_get(f->s, nk, "c", 0, NULL, &v), 0);
	assert_int_equal(v->len, 0);
	store_value_free(v);
	assert_int_equal(store_subkey_load(f->s, nk, STORE_SUBKEY_TOKEN, &tok2),
	                 0);
	assert_true(same_key(tok, tok2));

	/* A wrong old key re-seals nothing. */
	kw_key *wrong = NULL;
	assert_int_equal(key_random(&wrong), 0);
	assert_int_equal(store_batch_begin(f->s), 0);
	assert_int_equal(store_reseal_values(f->s, wrong, f->dk, &n),
	                 KW_ECRYPTO);
	store_batch_rollback(f->s);
	assert_int_equal(store_get(f->s, nk, "a/b", 1, NULL, &v), 0);
	store_value_free(v);
	key_free(wrong);
	key_free(tok);
	key_free(tok2);
	key_free(nk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_subkey_backfill, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_reseal, setup, teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
