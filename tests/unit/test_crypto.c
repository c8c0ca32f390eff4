/*
 * test_crypto.c - sealing, wrapping, keyfiles and derivation (crypto.h).
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

#include "crypto.h"
#include "keyward.h"
#include "secmem.h"

#define OPS crypto_pwhash_OPSLIMIT_MIN
#define MEM crypto_pwhash_MEMLIMIT_MIN

static char tmpdir[] = "/tmp/kw-test-crypto-XXXXXX";

static void path_in_tmp(char *buf, size_t n, const char *leaf)
{
	int r = snprintf(buf, n, "%s/%s", tmpdir, leaf);

	assert_true(r > 0 && (size_t)r < n);
}

/* Two keys are equal iff their bytes are. */
static int key_equal(kw_key *a, kw_key *b)
{
	int eq = sodium_memcmp(key_bytes(a), key_bytes(b), KEY_BYTES) == 0;

	key_done(a);
	key_done(b);
	return eq;
}

static void seal_ok(kw_key *dk, const char *name, uint64_t ver,
                    const uint8_t *pt, size_t len, uint8_t **ct, size_t *ctlen)
{
	assert_int_equal(seal_value(dk, name, ver, pt, len, ct, ctlen), 0);
	assert_int_equal(*ctlen, len + SEAL_OVERHEAD);
}

static void expect_open_fails(kw_key *dk, const char *name, uint64_t ver,
                              const uint8_t *ct, size_t ctlen)
{
	uint8_t *pt = NULL;
	size_t ptlen = 12345;

	assert_int_equal(seal_open(dk, name, ver, ct, ctlen, &pt, &ptlen),
	                 KW_ECRYPTO);
	assert_null(pt);
	assert_int_equal(ptlen, 12345);
}

static void test_seal_roundtrip(void **state)
{
	static const size_t sizes[] = { 0, 1, 31, 64 * 1024 };
	kw_key *dk;

	(void)state;
	assert_int_equal(key_random(&dk), 0);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t len = sizes[i], ctlen, ptlen;
		uint8_t *in = malloc(len ? len : 1), *ct, *pt;

		assert_non_null(in);
		randombytes_buf(in, len);
		seal_ok(dk, "github/token", 7, len ? in : NULL, len, &ct,
		        &ctlen);
		/* The plaintext must not show through. */
		if (len >= 31)
			assert_memory_not_equal(ct + SEAL_NONCE_BYTES, in, len);
		assert_int_equal(seal_open(dk, "github/token", 7, ct, ctlen,
		                           &pt, &ptlen),
		                 0);
		assert_non_null(pt);
		assert_int_equal(ptlen, len);
		if (len)
			assert_memory_equal(pt, in, len);
		kw_wipefree(pt);
		free(ct);
		free(in);
	}
	key_free(dk);
}

static void test_seal_nonce_fresh(void **state)
{
	static const uint8_t v[] = "same value";
	uint8_t *a, *b;
	size_t alen, blen;
	kw_key *dk;

	(void)state;
	assert_int_equal(key_random(&dk), 0);
	seal_ok(dk, "n", 1, v, sizeof(v), &a, &alen);
	seal_ok(dk, "n", 1, v, sizeof(v), &b, &blen);
	assert_memory_not_equal(a, b, alen);
	free(a);
	free(b);
	key_free(dk);
}

static void test_open_tampered(void **state)
{
	static const uint8_t v[] = "ghp_secretvalue";
	const size_t len = sizeof(v) - 1;
	uint8_t *ct, *pt;
	size_t ctlen, ptlen;
	kw_key *dk, *other;

	(void)state;
	assert_int_equal(key_random(&dk), 0);
	assert_int_equal(key_random(&other), 0);
	seal_ok(dk, "svc/key", 3, v, len, &ct, &ctlen);

	ct[0] ^= 1; /* nonce */
	expect_open_fails(dk, "svc/key", 3, ct, ctlen);
	ct[0] ^= 1;
	ct[SEAL_NONCE_BYTES + 2] ^= 0x80; /* ciphertext */
	expect_open_fails(dk, "svc/key", 3, ct, ctlen);
	ct[SEAL_NONCE_BYTES + 2] ^= 0x80;
	ct[ctlen - 1] ^= 0x01; /* tag */
	expect_open_fails(dk, "svc/key", 3, ct, ctlen);
	ct[ctlen - 1] ^= 0x01;
	expect_open_fails(dk, "svc/kez", 3, ct, ctlen);  /* name in ad */
	expect_open_fails(dk, "svc/key/", 3, ct, ctlen); /* name length */
	expect_open_fails(dk, "svc/key", 4, ct, ctlen);  /* version in ad */
	expect_open_fails(dk, "svc/key", 3ull << 32, ct, ctlen);
	expect_open_fails(other, "svc/key", 3, ct, ctlen);  /* wrong key */
	expect_open_fails(dk, "svc/key", 3, ct, ctlen - 1); /* truncated */
	expect_open_fails(dk, "svc/key", 3, ct, SEAL_OVERHEAD - 1);

	/* Everything restored: it opens again, so the failures were real. */
	assert_int_equal(seal_open(dk, "svc/key", 3, ct, ctlen, &pt, &ptlen),
	                 0);
	assert_int_equal(ptlen, len);
	assert_memory_equal(pt, v, len);
	kw_wipefree(pt);
	free(ct);
	key_free(other);
	key_free(dk);
}

static void test_seal_bad_args(void **state)
{
	char longname[KW_NAME_MAX + 2];
	uint8_t *ct = NULL;
	size_t ctlen = 0;
	const uint8_t *x = (const uint8_t *)"x";
	kw_key *dk;

	(void)state;
	assert_int_equal(key_random(&dk), 0);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(seal_value(dk, longname, 1, x, 1, &ct, &ctlen),
	                 KW_EINVAL);
	assert_int_equal(seal_value(dk, "", 1, (const uint8_t *)"x", 1, &ct,
	                            &ctlen),
	                 KW_EINVAL);
	assert_int_equal(seal_value(dk, "n", 1, NULL, 1, &ct, &ctlen),
	                 KW_EINVAL);
	assert_null(ct);
	longname[KW_NAME_MAX] = '\0'; /* exactly the maximum is fine */
	assert_int_equal(seal_value(dk, longname, 1, x, 1, &ct, &ctlen), 0);
	free(ct);
	key_free(dk);
}

static void test_key_views(void **state)
{
	static const uint8_t raw[KEY_BYTES] = { 1, 2, 3, 4, 5 };
	kw_key *k;
	const uint8_t *a, *b;

	(void)state;
	assert_int_equal(key_from(raw, &k), 0);
	a = key_bytes(k);
	b = key_bytes(k); /* nested view */
	key_done(k);
	assert_memory_equal(a, raw, sizeof(raw)); /* still readable */
	assert_ptr_equal(a, b);
	key_done(k);
	key_free(k);
	key_free(NULL);
}

/* Whether the kernel may read p: write() from a no-access page fails with
 * EFAULT instead of faulting the test. */
static bool readable(const uint8_t *p)
{
	int fds[2];
	ssize_t n;

	assert_int_equal(pipe(fds), 0);
	n = write(fds[1], p, 1);
	close(fds[0]);
	close(fds[1]);
	return n == 1;
}

static void test_key_linger(void **state)
{
	static const uint8_t raw[KEY_BYTES] = { 9, 8, 7 };
	kw_key *plain, *kept, *gone;
	const uint8_t *p, *q, *g;

	(void)state;
	assert_int_equal(key_from(raw, &plain), 0);
	assert_int_equal(key_from(raw, &kept), 0);
	assert_int_equal(key_from(raw, &gone), 0);
	key_linger(kept);
	key_linger(gone);
	key_linger(NULL);

	p = key_bytes(plain);
	q = key_bytes(kept);
	g = key_bytes(gone);
	assert_true(readable(p) && readable(q) && readable(g));
	key_done(plain);
	key_done(kept);
	key_done(gone);
	assert_false(readable(p)); /* an ordinary key closes at once */
	assert_true(readable(q));  /* a lingering one at the turn's end */
	assert_memory_equal(q, raw, sizeof(raw));
	key_free(gone); /* freed while open: off the list */
	keys_idle();
	assert_false(readable(q));

	/* A view held across the end of a turn keeps the key open. */
	q = key_bytes(kept);
	keys_idle();
	assert_true(readable(q));
	key_done(kept);
	keys_idle();
	assert_false(readable(q));
	/* Reopened in a later turn. */
	q = key_bytes(kept);
	assert_memory_equal(q, raw, sizeof(raw));
	key_done(kept);
	keys_idle();
	key_free(kept);
	key_free(plain);
}

static void test_derive(void **state)
{
	kw_key *parent, *other, *a, *a2, *b, *c, *d;

	(void)state;
	assert_int_equal(key_random(&parent), 0);
	assert_int_equal(key_random(&other), 0);
	assert_int_equal(key_derive(parent, KDF_ID_AUDIT, &a), 0);
	assert_int_equal(key_derive(parent, KDF_ID_AUDIT, &a2), 0);
	assert_int_equal(key_derive(parent, KDF_ID_TOKEN, &b), 0);
	assert_int_equal(key_derive(parent, KDF_ID_APIKEY, &c), 0);
	assert_int_equal(key_derive(other, KDF_ID_AUDIT, &d), 0);
	assert_true(key_equal(a, a2));
	assert_false(key_equal(a, b));
	assert_false(key_equal(a, c));
	assert_false(key_equal(b, c));
	assert_false(key_equal(a, d));
	assert_false(key_equal(a, parent));
	key_free(a);
	key_free(a2);
	key_free(b);
	key_free(c);
	key_free(d);
	key_free(other);
	key_free(parent);
}

/* Ids outside the table derive nothing. */
static void test_derive_unknown_id(void **state)
{
	kw_key *parent, *k = NULL;

	(void)state;
	assert_int_equal(key_random(&parent), 0);
	assert_int_equal(key_derive(parent, (enum kdf_id)0, &k), KW_EINVAL);
	assert_int_equal(key_derive(parent, KDF_ID__END, &k), KW_EINVAL);
	assert_int_equal(key_derive(parent, (enum kdf_id) - 1, &k), KW_EINVAL);
	assert_null(k);
	assert_null(kdf_context(0));
	assert_null(kdf_context(KDF_ID__END));
	key_free(parent);
}

/*
 * The kdf table is part of the on-disk format (kdf_ids.h): pin every id,
 * its context and the key it derives from a fixed parent (bytes 0..31),
 * computed once with crypto_kdf_derive_from_key directly. A change to the
 * table, or to how key_derive uses it, fails here.
 */
static void test_kdf_table_pinned(void **state)
{
	static const struct {
		int id;
		const char *ctx;
		const char *hex;
	} pinned[] = {
		{ 1, "kwclient",
		  "6e386a69015bec99a434adbe149aabd48fd46b07560f88c3c2ade9d9c85ba23d" },
		{ 2, "kwaudit_",
		  "18af1a6d6d440091e8561b33362ab6ecee8df02251ff014c78addd6e2ad7967e" },
		{ 3, "kwapikey",
		  "688d1ab5bcb480805c5a8f4db941a12e5249eee905600f0d03d37f7ed48b524b" },
	};
	uint8_t raw[KEY_BYTES];
	kw_key *parent;

	(void)state;
	assert_int_equal(KDF_ID_TOKEN, 1);
	assert_int_equal(KDF_ID_AUDIT, 2);
	assert_int_equal(KDF_ID_APIKEY, 3);
	assert_int_equal(KDF_ID__END, 4);
	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (uint8_t)i;
	assert_int_equal(key_from(raw, &parent), 0);
	for (size_t i = 0; i < sizeof(pinned) / sizeof(pinned[0]); i++) {
		uint8_t want[KEY_BYTES];
		kw_key *k = NULL;

		assert_non_null(kdf_context(pinned[i].id));
		assert_int_equal(strlen(kdf_context(pinned[i].id)),
		                 KDF_CTX_BYTES);
		assert_string_equal(kdf_context(pinned[i].id), pinned[i].ctx);
		assert_int_equal(sodium_hex2bin(want, sizeof(want),
		                                pinned[i].hex,
		                                strlen(pinned[i].hex), NULL,
		                                NULL, NULL),
		                 0);
		assert_int_equal(key_derive(parent, (enum kdf_id)pinned[i].id,
		                            &k),
		                 0);
		assert_memory_equal(key_bytes(k), want, KEY_BYTES);
		key_done(k);
		key_free(k);
	}
	key_free(parent);
}

static void test_wrap_keyfile_kek(void **state)
{
	wrapped_key w;
	kw_key *kek, *kek2, *dk, *out;

	(void)state;
	assert_int_equal(key_random(&kek), 0);
	assert_int_equal(key_random(&kek2), 0);
	assert_int_equal(key_random(&dk), 0);
	memset(&w, 0, sizeof(w));
	w.mode = KEY_WRAP_KEYFILE;
	assert_int_equal(key_wrap(kek, dk, &w), 0);
	assert_int_equal(key_unwrap(kek, &w, &out), 0);
	assert_true(key_equal(out, dk));
	key_free(out);

	out = NULL;
	assert_int_equal(key_unwrap(kek2, &w, &out), KW_EBADPASS);
	assert_null(out);
	w.mode = KEY_WRAP_PASSPHRASE; /* mode is bound by the ad */
	assert_int_equal(key_unwrap(kek, &w, &out), KW_EBADPASS);
	w.mode = 99;
	assert_int_equal(key_unwrap(kek, &w, &out), KW_EBADPASS);
	assert_int_equal(key_wrap(kek, dk, &w), KW_EINVAL);
	w.mode = KEY_WRAP_KEYFILE;
	w.wrapped[5] ^= 4;
	assert_int_equal(key_unwrap(kek, &w, &out), KW_EBADPASS);
	assert_null(out);
	key_free(kek);
	key_free(kek2);
	key_free(dk);
}

static void test_wrap_passphrase(void **state)
{
	static const char pass[] = "correct horse battery staple";
	wrapped_key w, t;
	kw_key *kek, *dk, *out, *bad;

	(void)state;
	memset(&w, 0, sizeof(w));
	w.mode = KEY_WRAP_PASSPHRASE;
	randombytes_buf(w.salt, sizeof(w.salt));
	w.opslimit = OPS;
	w.memlimit = MEM;
	assert_int_equal(key_from_passphrase(pass, strlen(pass), w.salt,
	                                     w.opslimit, w.memlimit, &kek),
	                 0);
	assert_int_equal(key_random(&dk), 0);
	assert_int_equal(key_wrap(kek, dk, &w), 0);
	key_free(kek);

	/* Unlock as the agent would: derive again from the stored wrap. */
	assert_int_equal(key_from_passphrase(pass, strlen(pass), w.salt,
	                                     w.opslimit, w.memlimit, &kek),
	                 0);
	assert_int_equal(key_unwrap(kek, &w, &out), 0);
	assert_true(key_equal(out, dk));
	key_free(out);

	/* Wrong passphrase. */
	assert_int_equal(key_from_passphrase("wrong", 5, w.salt, w.opslimit,
	                                     w.memlimit, &bad),
	                 0);
	out = NULL;
	assert_int_equal(key_unwrap(bad, &w, &out), KW_EBADPASS);
	assert_null(out);
	key_free(bad);

	/* Each parameter is bound: right kek, altered wrap fails. */
	t = w;
	t.salt[0] ^= 1;
	assert_int_equal(key_unwrap(kek, &t, &out), KW_EBADPASS);
	t = w;
	t.opslimit++;
	assert_int_equal(key_unwrap(kek, &t, &out), KW_EBADPASS);
	t = w;
	t.memlimit *= 2;
	assert_int_equal(key_unwrap(kek, &t, &out), KW_EBADPASS);
	t = w;
	t.nonce[3] ^= 1;
	assert_int_equal(key_unwrap(kek, &t, &out), KW_EBADPASS);
	t = w;
	t.wrapped[sizeof(t.wrapped) - 1] ^= 1;
	assert_int_equal(key_unwrap(kek, &t, &out), KW_EBADPASS);
	t = w;
	t.mode = KEY_WRAP_KEYFILE;
	assert_int_equal(key_unwrap(kek, &t, &out), KW_EBADPASS);
	assert_null(out);
	key_free(kek);
	key_free(dk);
}

static void test_kek_params(void **state)
{
	uint8_t salt[KEY_SALT_BYTES] = { 0 };
	char big[KEY_PASS_MAX + 1];
	kw_key *k = NULL;

	(void)state;
	memset(big, 'p', sizeof(big));
	assert_int_equal(key_from_passphrase("", 0, salt, OPS, MEM, &k),
	                 KW_EINVAL);
	assert_int_equal(key_from_passphrase(big, sizeof(big), salt, OPS, MEM,
	                                     &k),
	                 KW_EINVAL);
	assert_int_equal(key_from_passphrase("p", 1, salt, OPS - 1, MEM, &k),
	                 KW_EINVAL);
	assert_int_equal(key_from_passphrase("p", 1, salt, OPS, MEM - 1, &k),
	                 KW_EINVAL);
	assert_int_equal(
		key_from_passphrase("p", 1, salt,
	                            (uint64_t)crypto_pwhash_OPSLIMIT_MAX + 1,
	                            MEM, &k),
		KW_EINVAL);
	assert_int_equal(key_from_passphrase(
				 "p", 1, salt, OPS,
				 (uint64_t)crypto_pwhash_MEMLIMIT_MAX + 1, &k),
	                 KW_EINVAL);
	assert_null(k);
	/* The longest allowed passphrase works. */
	assert_int_equal(key_from_passphrase(big, KEY_PASS_MAX, salt, OPS, MEM,
	                                     &k),
	                 0);
	key_free(k);
}

static void test_keyfile_create_read(void **state)
{
	char path[PATH_MAX];
	struct stat st;
	kw_key *made, *got, *again = NULL;
	mode_t old;

	(void)state;
	path_in_tmp(path, sizeof(path), "master.key");
	old = umask(0); /* a careless umask must not leak into the mode */
	assert_int_equal(keyfile_create(path, &made), 0);
	umask(old);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, KEY_BYTES);
	assert_int_equal(keyfile_read(path, &got), 0);
	assert_true(key_equal(made, got));
	assert_int_equal(keyfile_create(path, &again), KW_EEXIST);
	assert_null(again);
	/* The existing key was not overwritten. */
	key_free(got);
	assert_int_equal(keyfile_read(path, &got), 0);
	assert_true(key_equal(made, got));
	key_free(got);
	key_free(made);

	assert_int_equal(chmod(path, 0400), 0); /* stricter is fine */
	assert_int_equal(keyfile_read(path, &got), 0);
	key_free(got);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(unlink(path), 0);
	got = NULL;
	assert_int_equal(keyfile_read(path, &got), KW_ENOTFOUND);
	assert_null(got);
}

static void write_file(const char *path, size_t len, mode_t mode)
{
	uint8_t buf[64] = { 0x42 };
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_true(len <= sizeof(buf));
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void test_keyfile_refused(void **state)
{
	char path[PATH_MAX], link[PATH_MAX];
	kw_key *k = NULL;

	(void)state;
	path_in_tmp(path, sizeof(path), "k2");
	path_in_tmp(link, sizeof(link), "k2-link");

	write_file(path, KEY_BYTES, 0644);
	assert_int_equal(keyfile_read(path, &k), KW_EPERM);
	write_file(path, KEY_BYTES, 0640);
	assert_int_equal(keyfile_read(path, &k), KW_EPERM);
	write_file(path, KEY_BYTES, 0602);
	assert_int_equal(keyfile_read(path, &k), KW_EPERM);
	write_file(path, KEY_BYTES - 1, 0600);
	assert_int_equal(keyfile_read(path, &k), KW_EINVAL);
	write_file(path, KEY_BYTES + 1, 0600);
	assert_int_equal(keyfile_read(path, &k), KW_EINVAL);
	write_file(path, 0, 0600);
	assert_int_equal(keyfile_read(path, &k), KW_EINVAL);
	assert_null(k);

	/* A symlink to a good keyfile is still refused, for read and create. */
	write_file(path, KEY_BYTES, 0600);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(keyfile_read(path, &k), 0); /* control */
	key_free(k);
	k = NULL;
	assert_int_equal(keyfile_read(link, &k), KW_EPERM);
	assert_int_equal(keyfile_create(link, &k), KW_EEXIST);
	assert_null(k);
	/* A directory is not a keyfile. */
	assert_int_equal(keyfile_read(tmpdir, &k), KW_EPERM);
	assert_null(k);
	unlink(link);
	unlink(path);
}

static int setup(void **state)
{
	(void)state;
	if (kw_secmem_init() != 0 || !mkdtemp(tmpdir))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return rmdir(tmpdir) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seal_roundtrip),
		cmocka_unit_test(test_seal_nonce_fresh),
		cmocka_unit_test(test_open_tampered),
		cmocka_unit_test(test_seal_bad_args),
		cmocka_unit_test(test_key_views),
		cmocka_unit_test(test_key_linger),
		cmocka_unit_test(test_derive),
		cmocka_unit_test(test_derive_unknown_id),
		cmocka_unit_test(test_kdf_table_pinned),
		cmocka_unit_test(test_wrap_keyfile_kek),
		cmocka_unit_test(test_wrap_passphrase),
		cmocka_unit_test(test_kek_params),
		cmocka_unit_test(test_keyfile_create_read),
		cmocka_unit_test(test_keyfile_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
