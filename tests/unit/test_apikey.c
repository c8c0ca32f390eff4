/*
 * test_apikey.c - the API key text format (common/apikey.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "apikey.h"
#include "keyward.h"
#include "secmem.h"

#define PREFIX_LEN 4u
#define KEY_MAX    (PREFIX_LEN + KW_APIKEY_BODY_MAX + KW_APIKEY_CHECK_LEN + 1u)

static const char b62[] =
	"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* Keys whose checksums were computed by an independent implementation
 * (Python hashlib.blake2b, digest_size=32), pinning the format. */
static const char *const known_keys[] = {
	"kwk_0123456789ABCDEFGHIJKL0ivDgs",
	"kwk_zzzzzzzzzzzzzzzzzzzzzz42y75W",
	"kwk_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ3Qhefn",
};

static void assert_check_ok(const char *key, size_t len)
{
	const char *why = NULL;

	if (kw_apikey_check(key, len, &why) != 0)
		fail_msg("valid key refused: %s", why ? why : "(no reason)");
}

/* Refused, with a reason containing word. */
static void assert_check_fails(const char *key, size_t len, const char *word)
{
	const char *why = NULL;

	assert_int_equal(kw_apikey_check(key, len, &why), KW_EINVAL);
	assert_non_null(why);
	if (!strstr(why, word))
		fail_msg("reason \"%s\" lacks \"%s\"", why, word);
	assert_int_equal(kw_apikey_check(key, len, NULL), KW_EINVAL);
}

static void test_known_answers(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(known_keys) / sizeof(known_keys[0]); i++)
		assert_check_ok(known_keys[i], strlen(known_keys[i]));
}

/* The smallest n with 62^n >= 2^(8 * bytes), by exact big-number
 * arithmetic: 62^n is never a power of two, so that is the smallest n
 * whose 62^n has more than 8 * bytes bits. Call with bytes never
 * decreasing: the power of 62 reached so far is kept. */
static size_t exact_body_len(size_t bytes)
{
	static uint32_t limb[320] = { 1 };
	static size_t nlimbs = 1, n, bits = 1;

	while (bits <= 8 * bytes) {
		uint64_t carry = 0;
		for (size_t i = 0; i < nlimbs; i++) {
			uint64_t v = (uint64_t)limb[i] * 62u + carry;
			limb[i] = (uint32_t)v;
			carry = v >> 32;
		}
		if (carry) {
			assert_true(nlimbs < sizeof(limb) / sizeof(limb[0]));
			limb[nlimbs++] = (uint32_t)carry;
		}
		n++;
		uint32_t top = limb[nlimbs - 1];
		bits = (nlimbs - 1) * 32u;
		while (top) {
			bits++;
			top >>= 1;
		}
	}
	return n;
}

static void test_body_len(void **state)
{
	(void)state;
	assert_int_equal(kw_apikey_body_len(0), 0);
	assert_int_equal(kw_apikey_body_len(1), 2);
	assert_int_equal(kw_apikey_body_len(16), 22);
	assert_int_equal(kw_apikey_body_len(32), 43);
	assert_int_equal(kw_apikey_body_len(762), 1024);
	assert_int_equal(kw_apikey_body_len(763), 1026);
	for (size_t b = 1; b <= 1200; b++) {
		size_t want = exact_body_len(b);
		if (kw_apikey_body_len(b) != want)
			fail_msg("body_len(%zu) = %zu, want %zu", b,
			         kw_apikey_body_len(b), want);
	}
	/* Huge requests do not wrap around to small bodies. */
	assert_true(kw_apikey_body_len(SIZE_MAX) > KW_APIKEY_BODY_MAX);
	assert_true(kw_apikey_body_len(SIZE_MAX / 8u + 1u) >
	            KW_APIKEY_BODY_MAX);
}

static void test_generate_check(void **state)
{
	static const size_t sizes[] = {
		1, 2, 15, 16, 17, 24, 32, 64, 100, 762
	};
	char key[KEY_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t len = 0;
		size_t body = kw_apikey_body_len(sizes[i]);
		if (body < KW_APIKEY_BODY_MIN)
			body = KW_APIKEY_BODY_MIN;
		assert_int_equal(kw_apikey_generate(sizes[i], key, sizeof(key),
		                                    &len),
		                 0);
		assert_int_equal(len, strlen(key));
		assert_int_equal(len, PREFIX_LEN + body + KW_APIKEY_CHECK_LEN);
		assert_memory_equal(key, "kwk_", PREFIX_LEN);
		assert_int_equal(strspn(key + PREFIX_LEN, b62),
		                 len - PREFIX_LEN);
		assert_check_ok(key, len);
		/* The length given is the key: a longer or shorter view of
		 * the same bytes is not. */
		assert_int_equal(kw_apikey_check(key, len - 1, NULL),
		                 KW_EINVAL);
	}
}

static void test_generate_errors(void **state)
{
	char key[KEY_MAX];
	size_t len = 99;

	(void)state;
	memset(key, 'x', sizeof(key));
	assert_int_equal(kw_apikey_generate(0, key, sizeof(key), &len),
	                 KW_EINVAL);
	assert_int_equal(kw_apikey_generate(763, key, sizeof(key), &len),
	                 KW_EINVAL);
	assert_int_equal(kw_apikey_generate(SIZE_MAX, key, sizeof(key), &len),
	                 KW_EINVAL);
	/* 16 bytes: 4 + 22 + 6 characters and the NUL. */
	assert_int_equal(kw_apikey_generate(16, key, 32, &len), KW_ETOOBIG);
	assert_int_equal(kw_apikey_generate(16, NULL, 0, &len), KW_ETOOBIG);
	assert_int_equal(len, 99);
	assert_int_equal(key[0], 'x');
	assert_int_equal(kw_apikey_generate(16, key, 33, &len), 0);
	assert_int_equal(len, 32);
	assert_int_equal(key[32], '\0');
	assert_check_ok(key, len);
}

/* Changing any one character to any other base62 character breaks the
 * checksum (and only the checksum). */
static void test_every_single_change_fails(void **state)
{
	char key[64];

	(void)state;
	for (size_t k = 0; k < sizeof(known_keys) / sizeof(known_keys[0]);
	     k++) {
		size_t len = strlen(known_keys[k]);
		assert_true(len < sizeof(key));
		for (size_t i = PREFIX_LEN; i < len; i++) {
			for (size_t c = 0; c < 62; c++) {
				memcpy(key, known_keys[k], len + 1);
				if (key[i] == b62[c])
					continue;
				key[i] = b62[c];
				assert_check_fails(key, len, "checksum");
			}
		}
	}
}

static void test_swapped_neighbours_fail(void **state)
{
	char key[KEY_MAX];
	size_t len;

	(void)state;
	assert_int_equal(kw_apikey_generate(32, key, sizeof(key), &len), 0);
	for (size_t i = PREFIX_LEN; i + 1 < len; i++) {
		if (key[i] == key[i + 1])
			continue;
		char t = key[i];
		key[i] = key[i + 1];
		key[i + 1] = t;
		assert_int_equal(kw_apikey_check(key, len, NULL), KW_EINVAL);
		key[i + 1] = key[i];
		key[i] = t;
	}
	assert_check_ok(key, len);
}

static void test_wrong_prefix(void **state)
{
	static const char *const bad[] = {
		"kwk-0123456789ABCDEFGHIJKL0ivDgs",
		"KWK_0123456789ABCDEFGHIJKL0ivDgs",
		"kwx_0123456789ABCDEFGHIJKL0ivDgs",
		"xkwk_0123456789ABCDEFGHIJKL0ivDgs",
		" kwk_0123456789ABCDEFGHIJKL0ivDgs",
		"0123456789ABCDEFGHIJKL0ivDgs",
		"kwk",
		"",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_check_fails(bad[i], strlen(bad[i]), "kwk_");
	assert_int_equal(kw_apikey_check(NULL, 0, NULL), KW_EINVAL);
	assert_int_equal(kw_apikey_check(NULL, 32, NULL), KW_EINVAL);
}

static void test_bad_characters(void **state)
{
	static const char bad[] = { '_',    '-',    '+',    '/', '=',
		                    ' ',    '\0',   '\n',   '.', ':',
		                    '\x7f', '\x80', '\xff', '~' };
	char key[64];
	const char *base = known_keys[0];
	size_t len = strlen(base);

	(void)state;
	for (size_t b = 0; b < sizeof(bad); b++) {
		/* In the body, at both ends, and in the checksum. */
		const size_t at[] = { PREFIX_LEN, PREFIX_LEN + 5, len - 7,
			              len - 6, len - 1 };
		for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
			memcpy(key, base, len + 1);
			key[at[i]] = bad[b];
			assert_check_fails(key, len, "characters");
		}
	}
}

static void test_lengths(void **state)
{
	char key[KEY_MAX + 8];
	size_t len;
	const char *why = NULL;

	(void)state;
	/* A body of 21 characters: too short, whatever its checksum. */
	assert_check_fails("kwk_0123456789ABCDEFGHIJK0ivDgs", 31, "short");
	assert_check_fails("kwk_", 4, "short");
	assert_check_fails("kwk_0ivDgs", 10, "short");

	/* The longest body is accepted... */
	assert_int_equal(kw_apikey_generate(762, key, sizeof(key), &len), 0);
	assert_int_equal(len,
	                 PREFIX_LEN + KW_APIKEY_BODY_MAX + KW_APIKEY_CHECK_LEN);
	assert_check_ok(key, len);
	/* ...one more character is not, before its characters are read. */
	memmove(key + PREFIX_LEN + 1, key + PREFIX_LEN, len - PREFIX_LEN + 1);
	key[PREFIX_LEN] = '!';
	assert_check_fails(key, len + 1, "long");
	assert_int_equal(kw_apikey_check(key, SIZE_MAX, &why), KW_EINVAL);
	assert_non_null(strstr(why, "long"));
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

static void test_distinct_and_alphabet(void **state)
{
	enum { N = 1000, W = 33 };
	char(*keys)[W] = calloc(N, W);
	size_t seen[256] = { 0 };

	(void)state;
	assert_non_null(keys);
	for (size_t i = 0; i < N; i++) {
		size_t len;
		assert_int_equal(kw_apikey_generate(16, keys[i], W, &len), 0);
		assert_int_equal(len, W - 1);
		for (size_t j = PREFIX_LEN; j < PREFIX_LEN + 22; j++)
			seen[(unsigned char)keys[i][j]]++;
	}
	qsort(keys, N, W, key_cmp);
	for (size_t i = 1; i < N; i++)
		assert_string_not_equal(keys[i - 1], keys[i]);
	/* Every base62 character shows up (22000 draws, ~355 each), and
	 * none is wildly over-represented. */
	for (size_t c = 0; c < 62; c++) {
		size_t n = seen[(unsigned char)b62[c]];
		if (n < 200 || n > 550)
			fail_msg("'%c' drawn %zu times of 22000", b62[c], n);
	}
	free(keys);
}

/* The checksum a generated key carries is the documented one. */
static void test_checksum_is_blake2b(void **state)
{
	char key[KEY_MAX];
	size_t len;
	uint8_t h[crypto_generichash_BYTES];

	(void)state;
	for (int k = 0; k < 50; k++) {
		assert_int_equal(kw_apikey_generate(24, key, sizeof(key), &len),
		                 0);
		size_t n = len - KW_APIKEY_CHECK_LEN;
		assert_int_equal(crypto_generichash(h, sizeof(h),
		                                    (const uint8_t *)key, n,
		                                    NULL, 0),
		                 0);
		uint32_t v = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 |
		             (uint32_t)h[2] << 8 | h[3];
		char want[KW_APIKEY_CHECK_LEN + 1];
		for (size_t i = KW_APIKEY_CHECK_LEN; i > 0; i--) {
			want[i - 1] = b62[v % 62u];
			v /= 62u;
		}
		want[KW_APIKEY_CHECK_LEN] = '\0';
		assert_string_equal(key + n, want);
	}
}

/* ---- managed keys: kwk_ ID _ SECRET CHECK ------------------------------ */

#define MANAGED_LEN 66u
#define SEP_AT      16u

/* Computed with Python's hashlib.blake2b(digest_size=32), independently. */
static const struct {
	const char *key;
	const char *id;
} managed_known[] = {
	{ "kwk_0123456789AB_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ0v6AfK",
	  "0123456789AB" },
	{ "kwk_zzzzzzzzzzzz_00000000000000000000000000000000000000000000gO1Ji",
	  "zzzzzzzzzzzz" },
	{ "kwk_Kx7Qp2mN9vLr_ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ4UU1vy",
	  "Kx7Qp2mN9vLr" },
};
#define N_MANAGED (sizeof(managed_known) / sizeof(managed_known[0]))

/* Refused with a reason containing word; the id buffer is untouched. */
static void assert_parse_fails(const char *key, size_t len, const char *word)
{
	char id[KW_APIKEY_ID_LEN + 1];
	const char *why = NULL;

	memset(id, '#', sizeof(id));
	assert_int_equal(kw_apikey_parse(key, len, id, &why), KW_EINVAL);
	assert_non_null(why);
	if (!strstr(why, word))
		fail_msg("reason \"%s\" lacks \"%s\"", why, word);
	for (size_t i = 0; i < sizeof(id); i++)
		assert_int_equal(id[i], '#');
	assert_int_equal(kw_apikey_parse(key, len, id, NULL), KW_EINVAL);
}

static void test_managed_layout(void **state)
{
	(void)state;
	assert_int_equal(KW_APIKEY_MANAGED_LEN, MANAGED_LEN);
	assert_int_equal(KW_APIKEY_ID_LEN, 12);
	assert_int_equal(KW_APIKEY_SECRET_LEN, 43);
	/* 43 base62 characters hold at least 256 bits. */
	assert_true(kw_apikey_body_len(32) <= KW_APIKEY_SECRET_LEN);
}

static void test_managed_known_answers(void **state)
{
	char id[KW_APIKEY_ID_LEN + 1];
	const char *why = NULL;

	(void)state;
	for (size_t i = 0; i < N_MANAGED; i++) {
		const char *k = managed_known[i].key;

		assert_int_equal(strlen(k), MANAGED_LEN);
		if (kw_apikey_parse(k, strlen(k), id, &why) != 0)
			fail_msg("known key %zu refused: %s", i, why);
		assert_string_equal(id, managed_known[i].id);
		/* Not a plain key: '_' is outside the plain alphabet. */
		assert_check_fails(k, strlen(k), "characters");
	}
}

static void test_managed_new(void **state)
{
	enum { N = 2000 };
	char(*keys)[MANAGED_LEN + 1] = calloc(N, MANAGED_LEN + 1);
	char(*ids)[KW_APIKEY_ID_LEN + 1] = calloc(N, KW_APIKEY_ID_LEN + 1);
	size_t seen[256] = { 0 };
	uint8_t h[crypto_generichash_BYTES];

	(void)state;
	assert_non_null(keys);
	assert_non_null(ids);
	for (size_t i = 0; i < N; i++) {
		char id[KW_APIKEY_ID_LEN + 1];
		const char *k = keys[i];

		kw_apikey_new(ids[i], keys[i]);
		assert_int_equal(strlen(k), MANAGED_LEN);
		assert_memory_equal(k, "kwk_", PREFIX_LEN);
		assert_int_equal(k[SEP_AT], '_');
		assert_int_equal(strspn(k + PREFIX_LEN, b62), 12);
		assert_int_equal(strspn(k + SEP_AT + 1, b62), 49);
		assert_memory_equal(ids[i], k + PREFIX_LEN, 12);
		assert_int_equal(strlen(ids[i]), 12);
		assert_int_equal(kw_apikey_parse(k, MANAGED_LEN, id, NULL), 0);
		assert_string_equal(id, ids[i]);
		assert_true(kw_apikey_id_valid(ids[i], 12));
		for (size_t j = SEP_AT + 1; j < SEP_AT + 1 + 43; j++)
			seen[(unsigned char)k[j]]++;
		if (i < 50) {
			/* The checksum is the documented one. */
			uint32_t v;
			char want[KW_APIKEY_CHECK_LEN];
			assert_int_equal(
				crypto_generichash(h, sizeof(h),
			                           (const uint8_t *)k,
			                           MANAGED_LEN -
			                                   KW_APIKEY_CHECK_LEN,
			                           NULL, 0),
				0);
			v = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 |
			    (uint32_t)h[2] << 8 | h[3];
			for (size_t d = KW_APIKEY_CHECK_LEN; d > 0; d--) {
				want[d - 1] = b62[v % 62u];
				v /= 62u;
			}
			assert_memory_equal(k + MANAGED_LEN - 6, want, 6);
		}
	}
	qsort(keys, N, MANAGED_LEN + 1, key_cmp);
	qsort(ids, N, KW_APIKEY_ID_LEN + 1, key_cmp);
	for (size_t i = 1; i < N; i++) {
		assert_string_not_equal(keys[i - 1], keys[i]);
		assert_string_not_equal(ids[i - 1], ids[i]);
	}
	/* 86000 secret characters: ~1387 of each, none missing or
	 * wildly over-represented. */
	for (size_t c = 0; c < 62; c++) {
		size_t n = seen[(unsigned char)b62[c]];
		if (n < 1100 || n > 1700)
			fail_msg("'%c' drawn %zu times of 86000", b62[c], n);
	}
	free(keys);
	free(ids);
}

/* Any one character changed to any other character of the alphabet is
 * refused; the separator changed is refused as not managed. */
static void test_managed_single_change_fails(void **state)
{
	char key[MANAGED_LEN + 1];

	(void)state;
	for (size_t k = 0; k < N_MANAGED; k++) {
		for (size_t i = PREFIX_LEN; i < MANAGED_LEN; i++) {
			for (size_t c = 0; c < 62; c++) {
				memcpy(key, managed_known[k].key,
				       MANAGED_LEN + 1);
				if (key[i] == b62[c])
					continue;
				key[i] = b62[c];
				assert_parse_fails(key, MANAGED_LEN,
				                   i == SEP_AT ?
				                           "apikey.create" :
				                           "checksum");
			}
		}
	}
}

static void test_managed_lengths_and_prefix(void **state)
{
	const char *k = managed_known[0].key;
	char key[MANAGED_LEN + 8];
	char id[KW_APIKEY_ID_LEN + 1];

	(void)state;
	assert_parse_fails(k, MANAGED_LEN - 1, "short");
	assert_parse_fails(k, 0, "kwk_");
	assert_parse_fails(k, 3, "kwk_");
	assert_parse_fails(k, 4, "short");
	assert_parse_fails(NULL, MANAGED_LEN, "kwk_");
	memcpy(key, k, MANAGED_LEN);
	memcpy(key + MANAGED_LEN, "abc", 4);
	assert_parse_fails(key, MANAGED_LEN + 1, "long");
	/* A length that cannot be real is refused before reading. */
	assert_parse_fails(key, SIZE_MAX, "long");
	memcpy(key, k, MANAGED_LEN + 1);
	key[0] = 'K';
	assert_parse_fails(key, MANAGED_LEN, "kwk_");
	/* A plain key (random:N:apikey) is not a managed one. */
	assert_int_equal(kw_apikey_generate(32, key, sizeof(key),
	                                    &(size_t){ 0 }),
	                 0);
	assert_parse_fails(key, strlen(key), "short");
	assert_int_equal(kw_apikey_generate(41, key, sizeof(key),
	                                    &(size_t){ 0 }),
	                 0);
	assert_int_equal(strlen(key), MANAGED_LEN);
	assert_parse_fails(key, MANAGED_LEN, "apikey.create");
	/* The exact length given is the key, even with bytes after it. */
	memcpy(key, k, MANAGED_LEN);
	key[MANAGED_LEN] = 'x';
	assert_int_equal(kw_apikey_parse(key, MANAGED_LEN, id, NULL), 0);
	assert_string_equal(id, managed_known[0].id);
}

static void test_managed_bad_characters(void **state)
{
	static const char bad[] = {
		'_',  '-', '+', '/', '=',    ' ',    '\0',
		'\n', '.', ':', '~', '\x7f', '\x80', '\xff'
	};
	const char *k = managed_known[0].key;
	char key[MANAGED_LEN + 1];

	(void)state;
	for (size_t b = 0; b < sizeof(bad); b++) {
		/* In the id, at both ends. */
		const size_t in_id[] = { PREFIX_LEN, SEP_AT - 1 };
		/* In the secret and in the checksum. */
		const size_t in_rest[] = { SEP_AT + 1, SEP_AT + 20,
			                   MANAGED_LEN - 7, MANAGED_LEN - 6,
			                   MANAGED_LEN - 1 };
		for (size_t i = 0; i < 2; i++) {
			memcpy(key, k, MANAGED_LEN + 1);
			key[in_id[i]] = bad[b];
			assert_parse_fails(key, MANAGED_LEN, "id");
		}
		for (size_t i = 0; i < 5; i++) {
			memcpy(key, k, MANAGED_LEN + 1);
			key[in_rest[i]] = bad[b];
			assert_parse_fails(key, MANAGED_LEN, "characters");
		}
	}
}

static void test_id_valid(void **state)
{
	(void)state;
	assert_true(kw_apikey_id_valid("0123456789AB", 12));
	assert_true(kw_apikey_id_valid("zzzzzzzzzzzzX", 12));
	assert_false(kw_apikey_id_valid("0123456789A", 11));
	assert_false(kw_apikey_id_valid("0123456789ABC", 13));
	assert_false(kw_apikey_id_valid("0123456789A_", 12));
	assert_false(kw_apikey_id_valid("0123456789A-", 12));
	assert_false(kw_apikey_id_valid("01234567\0009AB", 12));
	assert_false(kw_apikey_id_valid("../../etc/pa", 12));
	assert_false(kw_apikey_id_valid(NULL, 12));
	assert_false(kw_apikey_id_valid("", 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_answers),
		cmocka_unit_test(test_body_len),
		cmocka_unit_test(test_generate_check),
		cmocka_unit_test(test_generate_errors),
		cmocka_unit_test(test_every_single_change_fails),
		cmocka_unit_test(test_swapped_neighbours_fail),
		cmocka_unit_test(test_wrong_prefix),
		cmocka_unit_test(test_bad_characters),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_distinct_and_alphabet),
		cmocka_unit_test(test_checksum_is_blake2b),
		cmocka_unit_test(test_managed_layout),
		cmocka_unit_test(test_managed_known_answers),
		cmocka_unit_test(test_managed_new),
		cmocka_unit_test(test_managed_single_change_fails),
		cmocka_unit_test(test_managed_lengths_and_prefix),
		cmocka_unit_test(test_managed_bad_characters),
		cmocka_unit_test(test_id_valid),
	};

	if (kw_secmem_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
