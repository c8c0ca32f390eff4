/*
 * test_mask.c - the streaming masker (common/mask.h): what a stream turns
 * into, that cutting it anywhere changes nothing, what is held and when,
 * and its limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "keyward.h"
#include "mask.h"
#include "secmem.h"

/* The output collected by sink(); calls counts the callback's calls. */
struct sink {
	char buf[8192];
	size_t len;
	unsigned calls;
	int fail_after; /* > 0: the call after this many fails KW_EIO */
};

static int sink(void *arg, const void *data, size_t len)
{
	struct sink *s = arg;

	assert_true(len > 0);
	if (s->fail_after > 0 && s->calls == (unsigned)s->fail_after)
		return KW_EIO;
	s->calls++;
	assert_true(s->len + len <= sizeof(s->buf));
	memcpy(s->buf + s->len, data, len);
	s->len += len;
	return 0;
}

struct val {
	const char *label;
	const char *value;
	size_t len; /* 0: strlen(value) */
};

static kw_mask *make(const struct val *vals)
{
	kw_mask *m = NULL;

	assert_int_equal(kw_mask_new(&m), 0);
	for (; vals && vals->label; vals++) {
		bool added = false;
		size_t n = vals->len ? vals->len : strlen(vals->value);

		assert_int_equal(kw_mask_add(m, vals->label, vals->value, n,
		                             &added),
		                 0);
		assert_int_equal(added, n >= KW_MASK_MIN_LEN);
	}
	return m;
}

/* in[0..n) fed in two parts cut at cut, then flushed. */
static void run_cut(const struct val *vals, const char *in, size_t n,
                    size_t cut, struct sink *out)
{
	kw_mask *m = make(vals);

	memset(out, 0, sizeof(*out));
	assert_int_equal(kw_mask_feed(m, in, cut, sink, out), 0);
	assert_int_equal(kw_mask_feed(m, in + cut, n - cut, sink, out), 0);
	assert_int_equal(kw_mask_flush(m, sink, out), 0);
	assert_int_equal(kw_mask_held(m), 0);
	kw_mask_free(m);
}

/* in fed one byte at a time, then flushed. */
static void run_bytes(const struct val *vals, const char *in, size_t n,
                      struct sink *out)
{
	kw_mask *m = make(vals);

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n; i++)
		assert_int_equal(kw_mask_feed(m, in + i, 1, sink, out), 0);
	assert_int_equal(kw_mask_flush(m, sink, out), 0);
	kw_mask_free(m);
}

/* The stream in gives want however it is cut: at every single offset,
 * and one byte per feed. */
static void expect(const struct val *vals, const char *in, size_t n,
                   const char *want)
{
	struct sink out;

	for (size_t cut = 0; cut <= n; cut++) {
		run_cut(vals, in, n, cut, &out);
		if (out.len != strlen(want) || memcmp(out.buf, want, out.len))
			fail_msg("cut at %zu: got '%.*s', want '%s'", cut,
			         (int)out.len, out.buf, want);
	}
	run_bytes(vals, in, n, &out);
	assert_int_equal(out.len, strlen(want));
	assert_memory_equal(out.buf, want, out.len);
}

#define EXPECT(vals, in, want) expect(vals, in, strlen(in), want)

static void test_replaces(void **state)
{
	static const struct val one[] = { { "TOKEN", "ghp_secret", 0 },
		                          { NULL, NULL, 0 } };
	(void)state;
	EXPECT(one, "", "");
	EXPECT(one, "ghp_secret", "<redacted:TOKEN>");
	EXPECT(one, "token=ghp_secret\n", "token=<redacted:TOKEN>\n");
	EXPECT(one, "ghp_secretghp_secret", "<redacted:TOKEN><redacted:TOKEN>");
	EXPECT(one, "ghp_secre", "ghp_secre");
	EXPECT(one, "ghp_ghp_secret!", "ghp_<redacted:TOKEN>!");
	EXPECT(one, "gghp_secrett", "g<redacted:TOKEN>t");
	EXPECT(one, "nothing here", "nothing here");
}

static void test_short_values(void **state)
{
	static const struct val vals[] = { { "ONE", "1", 0 },
		                           { "ON", "on", 0 },
		                           { "ABC", "abc", 0 },
		                           { "FOUR", "four", 0 },
		                           { NULL, NULL, 0 } };
	(void)state;
	EXPECT(vals, "1 on abc four", "1 on abc <redacted:FOUR>");
}

static void test_overlapping(void **state)
{
	/* A value that is a prefix of another, and values that overlap. */
	static const struct val vals[] = { { "A", "abcd", 0 },
		                           { "B", "abcdef", 0 },
		                           { "C", "defg", 0 },
		                           { NULL, NULL, 0 } };
	(void)state;
	EXPECT(vals, "abcdef", "<redacted:B>");
	EXPECT(vals, "abcde", "<redacted:A>e");
	EXPECT(vals, "abcdefg", "<redacted:B>g");
	EXPECT(vals, "abcdeg", "<redacted:A>eg");
	EXPECT(vals, "abcdefgabcd", "<redacted:B>g<redacted:A>");
	EXPECT(vals, "xdefgx", "x<redacted:C>x");
	/* Leftmost first: "abcd" starts before "defg" does. */
	EXPECT(vals, "abcdefx", "<redacted:B>x");
	EXPECT(vals, "abcdxdefg", "<redacted:A>x<redacted:C>");
}

static void test_longest_wins(void **state)
{
	static const struct val vals[] = { { "SHORT", "pass", 0 },
		                           { "LONG", "password1", 0 },
		                           { "SAME", "pass", 0 },
		                           { NULL, NULL, 0 } };
	(void)state;
	EXPECT(vals, "password1", "<redacted:LONG>");
	EXPECT(vals, "password2", "<redacted:SHORT>word2");
	/* Equal values: the first added names it. */
	EXPECT(vals, "pass.", "<redacted:SHORT>.");
}

static void test_self_overlap(void **state)
{
	static const struct val vals[] = { { "R", "aaaa", 0 },
		                           { "S", "abab", 0 },
		                           { NULL, NULL, 0 } };
	(void)state;
	EXPECT(vals, "aaaaaa", "<redacted:R>aa");
	EXPECT(vals, "aaaaaaaa", "<redacted:R><redacted:R>");
	EXPECT(vals, "aabababx", "a<redacted:S>abx");
}

static void test_binary(void **state)
{
	static const char bin[] = { 0, 1, (char)0xff, 0, (char)0x80 };
	static const struct val vals[] = { { "BIN", bin, sizeof(bin) },
		                           { NULL, NULL, 0 } };
	static const char in[] = { 'x', 0,          0, 1,  (char)0xff,
		                   0,   (char)0x80, 0, 'y' };
	static const char want[] = "x\0<redacted:BIN>\0y";
	struct sink out;

	(void)state;
	for (size_t cut = 0; cut <= sizeof(in); cut++) {
		run_cut(vals, in, sizeof(in), cut, &out);
		assert_int_equal(out.len, sizeof(want) - 1);
		assert_memory_equal(out.buf, want, out.len);
	}
}

/* Nothing is held that cannot start a value; a prefix is held until it
 * is decided; the flush writes it out unmasked. */
static void test_holding(void **state)
{
	static const struct val vals[] = { { "T", "secret-value", 0 },
		                           { NULL, NULL, 0 } };
	kw_mask *m = make(vals);
	struct sink out = { .len = 0 };

	(void)state;
	assert_int_equal(kw_mask_feed(m, "{\"id\":1}\n", 9, sink, &out), 0);
	assert_int_equal(kw_mask_held(m), 0);
	assert_int_equal(out.len, 9);
	assert_int_equal(kw_mask_feed(m, "x secret-", 9, sink, &out), 0);
	assert_int_equal(kw_mask_held(m), 7);
	assert_int_equal(out.len, 11);
	assert_int_equal(kw_mask_feed(m, "x", 1, sink, &out), 0);
	assert_int_equal(kw_mask_held(m), 0);
	assert_int_equal(out.len, 19);
	assert_memory_equal(out.buf, "{\"id\":1}\nx secret-x", 19);

	assert_int_equal(kw_mask_feed(m, "secret", 6, sink, &out), 0);
	assert_int_equal(kw_mask_held(m), 6);
	assert_int_equal(kw_mask_flush(m, sink, &out), 0);
	assert_int_equal(kw_mask_held(m), 0);
	/* After a flush, the rest of a value is not the value. */
	assert_int_equal(kw_mask_feed(m, "-value", 6, sink, &out), 0);
	assert_int_equal(kw_mask_flush(m, sink, &out), 0);
	assert_int_equal(out.len, 31);
	assert_memory_equal(out.buf + 19, "secret-value", 12);
	kw_mask_free(m);
}

/* A stream with no value in it comes out in one call per feed. */
static void test_passthrough(void **state)
{
	static const struct val vals[] = { { "T", "zz-secret", 0 },
		                           { NULL, NULL, 0 } };
	char big[4000];
	kw_mask *m = make(vals);
	struct sink out = { .len = 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 25);
	assert_int_equal(kw_mask_feed(m, big, sizeof(big), sink, &out), 0);
	assert_int_equal(out.calls, 1);
	assert_int_equal(out.len, sizeof(big));
	assert_memory_equal(out.buf, big, sizeof(big));
	kw_mask_free(m);

	assert_int_equal(kw_mask_new(&m), 0);
	memset(&out, 0, sizeof(out));
	assert_int_equal(kw_mask_feed(m, "abc", 3, sink, &out), 0);
	assert_int_equal(kw_mask_held(m), 0);
	assert_int_equal(out.len, 3);
	kw_mask_free(m);
}

/* A value longer than what one feed buffers (held bytes + a chunk). */
static void test_long_value(void **state)
{
	size_t n = 6000;
	char *value = malloc(n), *in = malloc(n + 2);
	struct val vals[] = { { "BIG", value, n }, { NULL, NULL, 0 } };
	struct sink out;

	(void)state;
	assert_non_null(value);
	assert_non_null(in);
	for (size_t i = 0; i < n; i++)
		value[i] = (char)('A' + i % 26);
	in[0] = '[';
	memcpy(in + 1, value, n);
	in[n + 1] = ']';
	for (size_t cut = 0; cut <= n + 2; cut += 997) {
		run_cut(vals, in, n + 2, cut, &out);
		assert_int_equal(out.len, 16);
		assert_memory_equal(out.buf, "[<redacted:BIG>]", 16);
	}
	/* One byte short: all of it comes out at the flush. */
	run_cut(vals, in, n, 4000, &out);
	assert_int_equal(out.len, n);
	free(value);
	free(in);
}

static void test_out_error(void **state)
{
	static const struct val vals[] = { { "T", "secret", 0 },
		                           { NULL, NULL, 0 } };
	kw_mask *m = make(vals);
	struct sink out = { .fail_after = 1 };

	(void)state;
	assert_int_equal(kw_mask_feed(m, "a secret b", 10, sink, &out), KW_EIO);
	assert_int_equal(out.len, 2);
	kw_mask_free(m);
}

static void test_limits(void **state)
{
	kw_mask *m = NULL;
	bool added = true;
	char label[KW_MASK_LABEL_MAX + 2];

	(void)state;
	assert_int_equal(kw_mask_new(&m), 0);
	assert_int_equal(kw_mask_add(m, "", "value", 5, &added), KW_EINVAL);
	assert_int_equal(kw_mask_add(m, "A\nB", "value", 5, &added), KW_EINVAL);
	memset(label, 'L', sizeof(label) - 1);
	label[sizeof(label) - 1] = '\0';
	assert_int_equal(kw_mask_add(m, label, "value", 5, &added), KW_EINVAL);
	label[KW_MASK_LABEL_MAX] = '\0';
	assert_int_equal(kw_mask_add(m, label, "value", 5, &added), 0);
	assert_true(added);
	assert_int_equal(kw_mask_add(m, "X", "v", KW_MASK_VALUE_MAX + 1,
	                             &added),
	                 KW_ETOOBIG);
	assert_int_equal(kw_mask_add(m, "X", "abc", 3, &added), 0);
	assert_false(added);
	for (unsigned i = 1; i < KW_MASK_VALUES_MAX; i++) {
		char v[16];

		snprintf(v, sizeof(v), "val%u", i);
		assert_int_equal(kw_mask_add(m, "X", v, strlen(v), &added), 0);
	}
	assert_int_equal(kw_mask_add(m, "X", "one-more", 8, &added), KW_ELIMIT);
	kw_mask_free(m);
	kw_mask_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replaces),
		cmocka_unit_test(test_short_values),
		cmocka_unit_test(test_overlapping),
		cmocka_unit_test(test_longest_wins),
		cmocka_unit_test(test_self_overlap),
		cmocka_unit_test(test_binary),
		cmocka_unit_test(test_holding),
		cmocka_unit_test(test_passthrough),
		cmocka_unit_test(test_long_value),
		cmocka_unit_test(test_out_error),
		cmocka_unit_test(test_limits),
	};

	if (kw_secmem_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
