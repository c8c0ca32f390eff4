/*
 * test_clock.c - the agent's clock (agent/base/clock.h): the system clock
 * by default, the test clock's file only in a build with test hooks, and
 * that file's contents checked before they are believed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"

static char clock_file[] = "/tmp/kw-test-clock-XXXXXX";

/* clock_now() lies between two readings of the real clock. */
static void assert_now_is_real(void)
{
	int64_t before = clock_wall();
	int64_t now = clock_now();
	int64_t after = clock_wall();

	assert_true(before <= now);
	assert_true(now <= after);
}

static void write_clock(const char *text)
{
	FILE *f = fopen(clock_file, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static void test_real_by_default(void **state)
{
	(void)state;
	assert_int_equal(unsetenv("KEYWARD_TEST_CLOCK"), 0);
	clock_init();
	assert_null(clock_test_file());
	assert_now_is_real();
}

static void test_units_agree(void **state)
{
	(void)state;
	int64_t s = clock_wall();
	int64_t us = clock_wall_us();
	int64_t s2 = clock_wall();

	assert_true(us / 1000000 >= s);
	assert_true(us / 1000000 <= s2);
	int64_t m1 = clock_mono_ms();
	int64_t m2 = clock_mono_ms();
	assert_true(m1 >= 0);
	assert_true(m2 >= m1);
}

#if KW_TEST_HOOKS
static void test_moved_by_its_file(void **state)
{
	(void)state;
	write_clock("2000000000\n");
	assert_int_equal(setenv("KEYWARD_TEST_CLOCK", clock_file, 1), 0);
	clock_init();
	assert_string_equal(clock_test_file(), clock_file);
	assert_int_equal(clock_now(), INT64_C(2000000000));
	/* Read afresh each time: tests move time by rewriting the file. */
	write_clock("2000086400");
	assert_int_equal(clock_now(), INT64_C(2000086400));
	/* Only decisions move; the wall clock stays real. */
	assert_true(clock_wall() < INT64_C(2000000000));
}

static void test_bad_file_falls_back(void **state)
{
	static const char *const bad[] = { "", "soon", "0", "-5", "\n" };

	(void)state;
	assert_int_equal(setenv("KEYWARD_TEST_CLOCK", clock_file, 1), 0);
	clock_init();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_clock(bad[i]);
		assert_now_is_real();
	}
	assert_int_equal(unlink(clock_file), 0);
	assert_now_is_real();
	/* An empty variable sets no test clock. */
	assert_int_equal(setenv("KEYWARD_TEST_CLOCK", "", 1), 0);
	clock_init();
	assert_null(clock_test_file());
}
#else
/* A build without test hooks does not read the variable at all. */
static void test_hooks_absent(void **state)
{
	(void)state;
	write_clock("2000000000\n");
	assert_int_equal(setenv("KEYWARD_TEST_CLOCK", clock_file, 1), 0);
	clock_init();
	assert_null(clock_test_file());
	assert_now_is_real();
	assert_int_equal(unlink(clock_file), 0);
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_by_default),
		cmocka_unit_test(test_units_agree),
#if KW_TEST_HOOKS
		cmocka_unit_test(test_moved_by_its_file),
		cmocka_unit_test(test_bad_file_falls_back),
#else
		cmocka_unit_test(test_hooks_absent),
#endif
	};
	int fd = mkstemp(clock_file);

	if (fd < 0)
		return 1;
	close(fd);
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	(void)unlink(clock_file);
	return r;
}
