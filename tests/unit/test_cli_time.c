/*
 * test_cli_time.c - the agent-free parts of `keyward audit` (cli/audit_fmt.c):
 * --since/--until times and local time display.
 *
 * Local times are checked under fixed TZ rules (set before each test), so
 * the results do not depend on the machine's zone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "cli.h"

#define S   1000000LL
#define NOW (1700000000LL * S) /* 2023-11-14T22:13:20Z */

static void set_tz(const char *tz)
{
	assert_int_equal(setenv("TZ", tz, 1), 0);
	tzset();
}

static int64_t parse(const char *s)
{
	int64_t us = -42;

	assert_int_equal(cli_time_parse(s, NOW, &us), 0);
	return us;
}

static void assert_rejected(const char *s)
{
	int64_t us = -42;

	assert_int_equal(cli_time_parse(s, NOW, &us), KW_EINVAL);
	assert_int_equal(us, -42); /* untouched on failure */
}

static void test_durations(void **state)
{
	(void)state;
	assert_int_equal(parse("90s"), NOW - 90 * S);
	assert_int_equal(parse("15m"), NOW - 15 * 60 * S);
	assert_int_equal(parse("1h"), NOW - 3600 * S);
	assert_int_equal(parse("2d"), NOW - 2 * 86400 * S);
	assert_int_equal(parse("1w"), NOW - 604800 * S);
	assert_int_equal(parse("0s"), NOW);
	assert_int_equal(parse("007m"), NOW - 7 * 60 * S);
	/* Before 1970: from the start; huge counts do not overflow. */
	assert_int_equal(parse("100000w"), 0);
	assert_int_equal(parse("9223372036854775807s"), 0);
}

static void test_durations_rejected(void **state)
{
	(void)state;
	assert_rejected("");
	assert_rejected("s");
	assert_rejected("10");
	assert_rejected("10x");
	assert_rejected("10 m");
	assert_rejected("-5m");
	assert_rejected("+5m");
	assert_rejected("1.5h");
	assert_rejected("5mm");
	assert_rejected("5M");
	assert_rejected("99999999999999999999s"); /* over INT64_MAX */
}

static void test_absolute_utc(void **state)
{
	(void)state;
	set_tz("CET-1CEST,M3.5.0,M10.5.0/3"); /* the Z must ignore it */
	assert_int_equal(parse("2023-11-14Z"), 1699920000LL * S);
	assert_int_equal(parse("2023-11-14T22:13Z"), 1700000000LL * S - 20 * S);
	assert_int_equal(parse("2023-11-14T22:13:20Z"), NOW);
	assert_int_equal(parse("1970-01-01T00:00:00Z"), 0);
	assert_int_equal(parse("2024-02-29T12:00:00Z"), 1709208000LL * S);
}

static void test_absolute_local(void **state)
{
	(void)state;
	set_tz("UTC0");
	assert_int_equal(parse("2023-11-14T22:13:20"), NOW);
	assert_int_equal(parse("2023-11-14"), 1699920000LL * S);
	/* Central Europe: UTC+1 in winter, UTC+2 in summer. */
	set_tz("CET-1CEST,M3.5.0,M10.5.0/3");
	assert_int_equal(parse("2023-11-14T23:13:20"), NOW);
	assert_int_equal(parse("2023-07-01T02:00"), 1688169600LL * S);
	assert_int_equal(parse("2023-07-01"), 1688162400LL * S);
}

static void test_absolute_rejected(void **state)
{
	(void)state;
	set_tz("UTC0");
	assert_rejected("2023-11-14T22");
	assert_rejected("2023-11-14 22:13");
	assert_rejected("2023-11-14t22:13");
	assert_rejected("2023-11-1");
	assert_rejected("23-11-14");
	assert_rejected("2023/11/14");
	assert_rejected("2023-13-01");
	assert_rejected("2023-00-10");
	assert_rejected("2023-02-30");
	assert_rejected("2023-02-29"); /* not a leap year */
	assert_rejected("2023-04-31");
	assert_rejected("2023-11-14T24:00");
	assert_rejected("2023-11-14T12:60");
	assert_rejected("2023-11-14T12:00:60");
	assert_rejected("2023-11-14T12:00:00ZZ");
	assert_rejected("2023-11-14T12:00:00+01:00");
	assert_rejected("1969-12-31");
	assert_rejected("2023-11-14T12:0a");
}

static void test_time_local(void **state)
{
	char buf[CLI_TIME_LEN];

	(void)state;
	set_tz("UTC0");
	cli_time_local(NOW + 999999, buf);
	assert_string_equal(buf, "2023-11-14 22:13:20");
	set_tz("CET-1CEST,M3.5.0,M10.5.0/3");
	cli_time_local(NOW, buf);
	assert_string_equal(buf, "2023-11-14 23:13:20");
	cli_time_local(-1, buf);
	assert_string_equal(buf, "-");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_durations_rejected),
		cmocka_unit_test(test_absolute_utc),
		cmocka_unit_test(test_absolute_local),
		cmocka_unit_test(test_absolute_rejected),
		cmocka_unit_test(test_time_local),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
