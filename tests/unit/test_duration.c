/*
 * test_duration.c - durations and daily windows (common/duration.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "duration.h"
#include "keyward.h"
#include "secmem.h"

static const struct {
	const char *s;
	uint64_t seconds;
} valid_durations[] = {
	{ "1s", 1 },
	{ "90s", 90 },
	{ "1m", 60 },
	{ "1h", 3600 },
	{ "1d", 86400 },
	{ "1w", 604800 },
	{ "30d", 2592000 },
	{ "1h30m", 5400 },
	{ "2w3d4h5m6s", 2u * 604800u + 3u * 86400u + 4u * 3600u + 306u },
	{ "1d1s", 86401 },
	{ "1w1m", 604860 },
	/* Leading zeros are accepted. */
	{ "05m", 300 },
	{ "0001h", 3600 },
	{ "00000000000000000000000000000001s", 1 },
	/* A zero group is fine when the total is not zero. */
	{ "0h5m", 300 },
	{ "1d0s", 86400 },
	/* Units need not be adjacent in the order, only ordered. */
	{ "1w1s", 604801 },
	{ "100000s", 100000 },
	{ "18446744073709551615s", UINT64_MAX },
	{ "30500568904943w", 30500568904943u * 604800u },
};

static const char *const invalid_durations[] = {
	"",
	"0s",
	"0",
	"0h0m",
	"00s",
	"-1s",
	"+1s",
	"1",
	"30",
	"s",
	"h1",
	" 1s",
	"1s ",
	"1 s",
	"1h 30m",
	"1\ts",
	"1x",
	"1S",
	"1H",
	"1y",
	"1ms",
	"1.5h",
	"1,5h",
	"1h1h",
	"1s1s",
	"1m1h",
	"1s1m",
	"1d1w",
	"1h30",
	"1h30m5",
	"1hh",
	"1h-30m",
	"0x10s",
	"1e3s",
	/* overflow in a number, in a product, in the sum */
	"18446744073709551616s",
	"99999999999999999999999s",
	"30500568904944w",
	"213503982334602d",
	"30500568904943w6d",
	"1m18446744073709551615s",
};

static void test_valid(void **state)
{
	(void)state;
	for (size_t i = 0;
	     i < sizeof(valid_durations) / sizeof(valid_durations[0]); i++) {
		uint64_t v = 0;
		const char *why = NULL;
		int r = kw_duration_parse(valid_durations[i].s, UINT64_MAX, &v,
		                          &why);
		if (r != 0)
			fail_msg("\"%s\" refused: %s", valid_durations[i].s,
			         why ? why : "(no reason)");
		if (v != valid_durations[i].seconds)
			fail_msg("\"%s\" parsed as %llu", valid_durations[i].s,
			         (unsigned long long)v);
	}
}

static void test_invalid(void **state)
{
	(void)state;
	for (size_t i = 0;
	     i < sizeof(invalid_durations) / sizeof(invalid_durations[0]);
	     i++) {
		const char *s = invalid_durations[i];
		uint64_t v = 12345;
		const char *why = NULL;

		if (kw_duration_parse(s, UINT64_MAX, &v, &why) != KW_EINVAL)
			fail_msg("\"%s\" accepted", s);
		assert_non_null(why);
		assert_true(strlen(why) > 0);
		/* Output untouched on failure. */
		assert_int_equal(v, 12345);
		/* why == NULL is allowed. */
		assert_int_equal(kw_duration_parse(s, UINT64_MAX, &v, NULL),
		                 KW_EINVAL);
	}
	assert_int_equal(kw_duration_parse(NULL, UINT64_MAX, &(uint64_t){ 0 },
	                                   NULL),
	                 KW_EINVAL);
}

static void test_max(void **state)
{
	uint64_t v = 0;
	const char *why = NULL;

	(void)state;
	assert_int_equal(kw_duration_parse("10y", 1000, &v, &why), KW_EINVAL);
	assert_int_equal(kw_duration_parse("60s", 60, &v, NULL), 0);
	assert_int_equal(v, 60);
	assert_int_equal(kw_duration_parse("1m", 60, &v, NULL), 0);
	assert_int_equal(v, 60);
	v = 7;
	assert_int_equal(kw_duration_parse("61s", 60, &v, &why), KW_EINVAL);
	assert_int_equal(v, 7);
	assert_non_null(strstr(why, "maximum"));
	assert_int_equal(kw_duration_parse("1m1s", 60, &v, NULL), KW_EINVAL);
	/* The protocol's bound for `every`: ten years. */
	assert_int_equal(kw_duration_parse("3650d", 315360000, &v, NULL), 0);
	assert_int_equal(kw_duration_parse("3650d1s", 315360000, &v, NULL),
	                 KW_EINVAL);
	assert_int_equal(kw_duration_parse("1s", 0, &v, NULL), KW_EINVAL);
}

/* Each failure names its own problem. */
static void test_reasons(void **state)
{
	static const struct {
		const char *s;
		const char *word;
	} cases[] = {
		{ "", "empty" },
		{ "0s", "zero" },
		{ "1x", "unknown" },
		{ "1h1h", "once" },
		{ "1s1h", "once" },
		{ "5", "no unit" },
		{ "-5s", "digits" },
		{ "1 s", "unknown" },
		{ "99999999999999999999s", "too large" },
		{ "30500568904944w", "too large" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *why = NULL;
		uint64_t v;
		assert_int_equal(kw_duration_parse(cases[i].s, UINT64_MAX, &v,
		                                   &why),
		                 KW_EINVAL);
		if (!strstr(why, cases[i].word))
			fail_msg("\"%s\": reason \"%s\" lacks \"%s\"",
			         cases[i].s, why, cases[i].word);
	}
}

/* A secret pasted into a duration field must not come back in *why. */
static void test_reason_never_quotes(void **state)
{
	static const char *const inputs[] = {
		"hunter2",
		"1hunter2",
		"1h30mSECRETVALUE",
		"30dZZZZ",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		const char *why = NULL;
		uint64_t v;
		assert_int_equal(kw_duration_parse(inputs[i], UINT64_MAX, &v,
		                                   &why),
		                 KW_EINVAL);
		assert_null(strstr(why, "hunter"));
		assert_null(strstr(why, "SECRET"));
		assert_null(strstr(why, "ZZZ"));
	}
}

static void test_format(void **state)
{
	static const struct {
		uint64_t seconds;
		const char *s;
	} cases[] = {
		{ 0, "0s" },
		{ 1, "1s" },
		{ 59, "59s" },
		{ 60, "1m" },
		{ 90, "1m30s" },
		{ 3600, "1h" },
		{ 5400, "1h30m" },
		{ 86400, "1d" },
		{ 86401, "1d1s" },
		{ 604800, "7d" },
		{ 2592000, "30d" },
		{ 93784, "1d2h3m4s" },
		{ 315360000, "3650d" },
		{ UINT64_MAX, "213503982334601d7h15s" },
	};
	char out[32];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(kw_duration_format(cases[i].seconds, out,
		                                    sizeof(out)),
		                 0);
		assert_string_equal(out, cases[i].s);
	}
}

static void test_format_small_buffer(void **state)
{
	char out[8];

	(void)state;
	memset(out, 'x', sizeof(out));
	assert_int_equal(kw_duration_format(5400, out, 5), KW_ETOOBIG);
	assert_int_equal(out[0], 'x'); /* untouched */
	assert_int_equal(kw_duration_format(5400, out, 6), 0);
	assert_string_equal(out, "1h30m");
	assert_int_equal(kw_duration_format(0, out, 2), KW_ETOOBIG);
	assert_int_equal(kw_duration_format(0, out, 3), 0);
	assert_string_equal(out, "0s");
	assert_int_equal(kw_duration_format(1, NULL, 0), KW_ETOOBIG);
}

/* format then parse is the identity, over a spread of values. */
static void test_round_trip(void **state)
{
	char out[32];
	uint64_t x = 0x9e3779b97f4a7c15u;

	(void)state;
	for (int i = 0; i < 20000; i++) {
		uint64_t v, back = 0;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		/* Mix small, medium and full-range values. */
		switch (i % 3) {
		case 0:
			v = x % 200000u + 1u;
			break;
		case 1:
			v = x % 400000000u + 1u;
			break;
		default:
			v = x ? x : 1u;
			break;
		}
		assert_int_equal(kw_duration_format(v, out, sizeof(out)), 0);
		if (kw_duration_parse(out, UINT64_MAX, &back, NULL) != 0 ||
		    back != v)
			fail_msg("%llu -> \"%s\" does not parse back",
			         (unsigned long long)v, out);
	}
}

static void test_window_valid(void **state)
{
	static const struct {
		const char *s;
		uint32_t start, end;
	} cases[] = {
		{ "02:00-04:00", 7200, 14400 },
		{ "22:00-02:00", 79200, 7200 },
		{ "00:00-23:59", 0, 86340 },
		{ "23:59-00:00", 86340, 0 },
		{ "12:34-12:35", 45240, 45300 },
		{ "09:05-17:45", 32700, 63900 },
	};
	char out[12];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t s = 1, e = 1;
		assert_int_equal(kw_window_parse(cases[i].s, &s, &e, NULL), 0);
		assert_int_equal(s, cases[i].start);
		assert_int_equal(e, cases[i].end);
		kw_window_format(s, e, out);
		assert_string_equal(out, cases[i].s);
	}
}

static void test_window_invalid(void **state)
{
	static const char *const bad[] = {
		"",
		"02:00",
		"02:00-",
		"02:00-04:0",
		"2:00-04:00",
		"02:00-4:00",
		"02:00-04:000",
		"02:00-04:00 ",
		" 02:00-04:00",
		"02:00 - 04:00",
		"02.00-04.00",
		"02:00_04:00",
		"0200-0400",
		"24:00-02:00",
		"02:00-24:00",
		"02:60-04:00",
		"02:00-04:60",
		"99:99-00:00",
		"02:00-02:00",
		"00:00-00:00",
		"-2:00-04:00",
		"02:00-04:00Z",
		"ab:cd-ef:gh",
		"02:00-04:00-06:00",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint32_t s = 77, e = 88;
		const char *why = NULL;
		if (kw_window_parse(bad[i], &s, &e, &why) != KW_EINVAL)
			fail_msg("window \"%s\" accepted", bad[i]);
		assert_non_null(why);
		assert_int_equal(s, 77);
		assert_int_equal(e, 88);
	}
	assert_int_equal(kw_window_parse(NULL, &(uint32_t){ 0 },
	                                 &(uint32_t){ 0 }, NULL),
	                 KW_EINVAL);
	const char *why = NULL;
	uint32_t s, e;
	assert_int_equal(kw_window_parse("03:00-03:00", &s, &e, &why),
	                 KW_EINVAL);
	assert_non_null(strstr(why, "differ"));
	assert_int_equal(kw_window_parse("25:00-03:00", &s, &e, &why),
	                 KW_EINVAL);
	assert_non_null(strstr(why, "23:59"));
}

static void test_window_format_all(void **state)
{
	char out[12], want[12];

	(void)state;
	/* Every minute of the day as a start, and back through parse. */
	for (uint32_t m = 0; m < 1440; m++) {
		uint32_t start = m * 60u, end = (m * 60u + 3600u) % 86400u;
		uint32_t s, e;
		kw_window_format(start, end, out);
		snprintf(want, sizeof(want), "%02u:%02u-%02u:%02u", m / 60u,
		         m % 60u, end / 3600u, end / 60u % 60u);
		assert_string_equal(out, want);
		assert_int_equal(kw_window_parse(out, &s, &e, NULL), 0);
		assert_int_equal(s, start);
		assert_int_equal(e, end);
	}
	/* Seconds within a minute are dropped, not rounded. */
	kw_window_format(7259, 14459, out);
	assert_string_equal(out, "02:00-04:00");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_max),
		cmocka_unit_test(test_reasons),
		cmocka_unit_test(test_reason_never_quotes),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_format_small_buffer),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_window_valid),
		cmocka_unit_test(test_window_invalid),
		cmocka_unit_test(test_window_format_all),
	};

	if (kw_secmem_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
