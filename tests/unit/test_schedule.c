/*
 * test_schedule.c - when a rotation schedule fires (agent/rotate/schedule.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "keyward.h"
#include "schedule.h"
#include "secmem.h"

#define HOUR 3600
#define DAY  86400
/* 2026-01-01T00:00:00Z */
#define T2026 INT64_C(1767225600)

static sched_spec spec(uint64_t every, uint64_t jitter)
{
	sched_spec s = { .every = every, .jitter = jitter };

	return s;
}

static sched_spec spec_window(uint64_t every, uint32_t start, uint32_t end,
                              uint64_t jitter)
{
	sched_spec s = spec(every, jitter);

	s.window = true;
	s.window_start = start;
	s.window_end = end;
	return s;
}

static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void test_no_window(void **state)
{
	sched_spec s = spec(DAY, 0);

	(void)state;
	assert_true(sched_in_window(&s, 0));
	assert_true(sched_in_window(&s, -1));
	assert_true(sched_in_window(&s, INT64_MAX));
	assert_int_equal(sched_at(&s, T2026, 12345), T2026);
	assert_int_equal(sched_next(&s, T2026, 999), T2026 + DAY);

	s.jitter = 100;
	assert_int_equal(sched_at(&s, T2026, 0), T2026);
	assert_int_equal(sched_at(&s, T2026, 42), T2026 + 42);
	assert_int_equal(sched_at(&s, T2026, 100), T2026 + 100);
	assert_int_equal(sched_at(&s, T2026, 101), T2026);
	assert_int_equal(sched_at(&s, T2026, 1000), T2026 + 1000 % 101);
	assert_int_equal(sched_next(&s, T2026, 7), T2026 + DAY + 7);

	/* jitter + 1 would wrap: every rnd is in range. */
	s.jitter = UINT64_MAX;
	assert_int_equal(sched_at(&s, 0, 5), 5);
	assert_int_equal(sched_at(&s, 0, UINT64_MAX), INT64_MAX);
}

static void test_in_window(void **state)
{
	sched_spec w = spec_window(DAY, 2 * HOUR, 4 * HOUR, 0);
	sched_spec wrap = spec_window(DAY, 22 * HOUR, 2 * HOUR, 0);

	(void)state;
	assert_false(sched_in_window(&w, T2026 + 2 * HOUR - 1));
	assert_true(sched_in_window(&w, T2026 + 2 * HOUR));
	assert_true(sched_in_window(&w, T2026 + 3 * HOUR));
	assert_true(sched_in_window(&w, T2026 + 4 * HOUR - 1));
	assert_false(sched_in_window(&w, T2026 + 4 * HOUR));
	assert_false(sched_in_window(&w, T2026));
	assert_false(sched_in_window(&w, T2026 + 23 * HOUR));

	assert_false(sched_in_window(&wrap, T2026 + 22 * HOUR - 1));
	assert_true(sched_in_window(&wrap, T2026 + 22 * HOUR));
	assert_true(sched_in_window(&wrap, T2026 + DAY - 1));
	assert_true(sched_in_window(&wrap, T2026));
	assert_true(sched_in_window(&wrap, T2026 + 2 * HOUR - 1));
	assert_false(sched_in_window(&wrap, T2026 + 2 * HOUR));
	assert_false(sched_in_window(&wrap, T2026 + 12 * HOUR));

	/* Before 1970: -1 is 23:59:59 UTC. */
	assert_true(sched_in_window(&wrap, -1));
	assert_false(sched_in_window(&w, -1));
	assert_true(sched_in_window(&w, -DAY + 2 * HOUR));
	assert_false(sched_in_window(&w, -DAY + 2 * HOUR - 1));
	assert_true(sched_in_window(&w, 2 * HOUR));
	/* Extremes do not trap. */
	(void)sched_in_window(&w, INT64_MIN);
	(void)sched_in_window(&w, INT64_MAX);
}

/* A window from start to end with start == end, or a bound past the day,
 * cannot be parsed; it counts as no window rather than "never". */
static void test_degenerate_window(void **state)
{
	sched_spec same = spec_window(DAY, HOUR, HOUR, 0);
	sched_spec big = spec_window(DAY, DAY, HOUR, 0);

	(void)state;
	assert_true(sched_in_window(&same, T2026));
	assert_int_equal(sched_at(&same, T2026 + 5, 0), T2026 + 5);
	assert_true(sched_in_window(&big, T2026 + 12 * HOUR));
	assert_int_equal(sched_at(&big, T2026 + 5, 0), T2026 + 5);
}

static void test_window(void **state)
{
	sched_spec s = spec_window(DAY, 2 * HOUR, 4 * HOUR, 0);

	(void)state;
	/* Before the window: its start that day. */
	assert_int_equal(sched_at(&s, T2026, 0), T2026 + 2 * HOUR);
	assert_int_equal(sched_at(&s, T2026 + 2 * HOUR - 1, 0),
	                 T2026 + 2 * HOUR);
	/* Exactly at the start, and inside: as it is. */
	assert_int_equal(sched_at(&s, T2026 + 2 * HOUR, 0), T2026 + 2 * HOUR);
	assert_int_equal(sched_at(&s, T2026 + 3 * HOUR, 0), T2026 + 3 * HOUR);
	assert_int_equal(sched_at(&s, T2026 + 4 * HOUR - 1, 0),
	                 T2026 + 4 * HOUR - 1);
	/* Exactly at the end (excluded) and after: the next day's start. */
	assert_int_equal(sched_at(&s, T2026 + 4 * HOUR, 0),
	                 T2026 + DAY + 2 * HOUR);
	assert_int_equal(sched_at(&s, T2026 + DAY - 1, 0),
	                 T2026 + DAY + 2 * HOUR);
	/* Midnight itself is before the window. */
	assert_int_equal(sched_at(&s, T2026 + DAY, 0), T2026 + DAY + 2 * HOUR);
}

static void test_wrapped_window(void **state)
{
	sched_spec s = spec_window(DAY, 22 * HOUR, 2 * HOUR, 0);

	(void)state;
	/* The part after midnight of the occurrence that began yesterday. */
	assert_int_equal(sched_at(&s, T2026, 0), T2026);
	assert_int_equal(sched_at(&s, T2026 + HOUR, 0), T2026 + HOUR);
	assert_int_equal(sched_at(&s, T2026 + 2 * HOUR - 1, 0),
	                 T2026 + 2 * HOUR - 1);
	/* Between end and start: tonight's start. */
	assert_int_equal(sched_at(&s, T2026 + 2 * HOUR, 0), T2026 + 22 * HOUR);
	assert_int_equal(sched_at(&s, T2026 + 12 * HOUR, 0), T2026 + 22 * HOUR);
	assert_int_equal(sched_at(&s, T2026 + 22 * HOUR - 1, 0),
	                 T2026 + 22 * HOUR);
	/* In the part before midnight. */
	assert_int_equal(sched_at(&s, T2026 + 22 * HOUR, 0), T2026 + 22 * HOUR);
	assert_int_equal(sched_at(&s, T2026 + 23 * HOUR, 0), T2026 + 23 * HOUR);

	/* A window up to midnight: end 0 wraps to "the end of the day". */
	sched_spec m = spec_window(DAY, 22 * HOUR, 0, 10 * HOUR);
	assert_int_equal(sched_at(&m, T2026 + HOUR, 0), T2026 + 22 * HOUR);
	assert_int_equal(sched_at(&m, T2026, 0), T2026 + 22 * HOUR);
	assert_int_equal(sched_at(&m, T2026 + DAY - 1, 0), T2026 + DAY - 1);
	assert_int_equal(sched_at(&m, T2026 + 22 * HOUR, 5 * HOUR),
	                 T2026 + DAY - 1);
	assert_false(sched_in_window(&m, T2026));
	assert_true(sched_in_window(&m, T2026 - 1));
}

static void test_jitter_clamped(void **state)
{
	sched_spec s = spec_window(DAY, 2 * HOUR, 4 * HOUR, HOUR);

	(void)state;
	/* Full jitter fits when the window starts at the earliest time. */
	assert_int_equal(sched_at(&s, T2026, 0), T2026 + 2 * HOUR);
	assert_int_equal(sched_at(&s, T2026, HOUR), T2026 + 3 * HOUR);
	assert_int_equal(sched_at(&s, T2026, HOUR + 1), T2026 + 2 * HOUR);
	/* From 03:30, 1000 s fits; 3599 s is cut at 03:59:59. */
	int64_t e = T2026 + 3 * HOUR + 1800;
	assert_int_equal(sched_at(&s, e, 1000), e + 1000);
	assert_int_equal(sched_at(&s, e, 1799), T2026 + 4 * HOUR - 1);
	assert_int_equal(sched_at(&s, e, 3599), T2026 + 4 * HOUR - 1);
	assert_int_equal(sched_at(&s, e, HOUR), T2026 + 4 * HOUR - 1);
	/* At the last second, no room at all. */
	assert_int_equal(sched_at(&s, T2026 + 4 * HOUR - 1, 3000),
	                 T2026 + 4 * HOUR - 1);

	/* A jitter far longer than the window never leaves it. */
	s.jitter = 10 * DAY;
	assert_int_equal(sched_at(&s, T2026 + 5 * HOUR, 9 * DAY),
	                 T2026 + DAY + 4 * HOUR - 1);

	/* Wrapped: from 23:00 the occurrence lasts until 01:59:59. */
	sched_spec w = spec_window(DAY, 22 * HOUR, 2 * HOUR, 10 * HOUR);
	assert_int_equal(sched_at(&w, T2026 + 23 * HOUR, HOUR), T2026 + DAY);
	assert_int_equal(sched_at(&w, T2026 + 23 * HOUR, 5 * HOUR),
	                 T2026 + DAY + 2 * HOUR - 1);
	assert_int_equal(sched_at(&w, T2026 + HOUR + 1800, 5 * HOUR),
	                 T2026 + 2 * HOUR - 1);
	assert_int_equal(sched_at(&w, T2026 + 12 * HOUR, 5 * HOUR),
	                 T2026 + DAY + 2 * HOUR - 1);
}

/* Every 30 days from 2026-01-01 12:00 UTC, window 02:00-04:00: the run
 * is on 2026-02-01 (31 Jan 12:00 is past that day's window). */
static void test_thirty_days(void **state)
{
	sched_spec s = spec_window(30 * DAY, 2 * HOUR, 4 * HOUR, HOUR);
	const int64_t feb1 = T2026 + 31 * DAY;

	(void)state;
	int64_t now = T2026 + 12 * HOUR;
	assert_int_equal(sched_next(&s, now, 0), feb1 + 2 * HOUR);
	assert_int_equal(sched_next(&s, now, 1800), feb1 + 2 * HOUR + 1800);
	assert_int_equal(sched_next(&s, now, HOUR), feb1 + 3 * HOUR);
	assert_int_equal(sched_next(&s, now, HOUR + 1), feb1 + 2 * HOUR);
	/* A run at 03:00 lands on the 31st at 03:00 plus at most 59:59. */
	now = T2026 + 3 * HOUR;
	int64_t jan31 = T2026 + 30 * DAY;
	assert_int_equal(sched_next(&s, now, 0), jan31 + 3 * HOUR);
	assert_int_equal(sched_next(&s, now, HOUR), jan31 + 4 * HOUR - 1);
	/* Run after run stays inside the window and ~30 days apart. */
	uint64_t x = 42;
	for (int i = 0; i < 100; i++) {
		int64_t next = sched_next(&s, now, xorshift(&x));
		assert_true(sched_in_window(&s, next));
		assert_true(next >= now + 30 * DAY);
		assert_true(next < now + 31 * DAY);
		now = next;
	}
}

static void test_overflow(void **state)
{
	sched_spec s = spec(30 * DAY, UINT64_MAX / 2);
	sched_spec w = spec_window(30 * DAY, 2 * HOUR, 4 * HOUR, HOUR);

	(void)state;
	assert_int_equal(sched_at(&s, INT64_MAX, 0), INT64_MAX);
	assert_int_equal(sched_at(&s, INT64_MAX - 10, 100), INT64_MAX);
	assert_int_equal(sched_at(&s, INT64_MAX - 10, 5), INT64_MAX - 5);
	assert_int_equal(sched_next(&s, INT64_MAX - 5, 0), INT64_MAX);
	assert_int_equal(sched_at(&s, -1, UINT64_MAX / 2), INT64_MAX - 1);
	assert_int_equal(sched_at(&s, INT64_MIN, 7), INT64_MIN + 7);
	s.every = UINT64_MAX;
	assert_int_equal(sched_next(&s, 0, 0), INT64_MAX);
	assert_int_equal(sched_next(&s, INT64_MIN, 0), INT64_MAX);

	/* The next window is beyond the range: "never". */
	assert_int_equal(sched_at(&w, INT64_MAX, 0), INT64_MAX);
	assert_int_equal(sched_at(&w, INT64_MAX - 10, HOUR), INT64_MAX);
	assert_int_equal(sched_next(&w, INT64_MAX - 20 * DAY, 0), INT64_MAX);
	/* Close to the top, a window still in range is found. */
	int64_t near = sched_next(&w, INT64_MAX - 40 * DAY, 0);
	assert_true(near >= INT64_MAX - 10 * DAY);
	assert_true(near < INT64_MAX - 8 * DAY);
	assert_true(sched_in_window(&w, near));
	assert_false(sched_in_window(&w, near - 1));
	/* The far past works like any other day. */
	int64_t r = sched_at(&w, INT64_MIN, 17);
	assert_true(r >= INT64_MIN);
	assert_true(sched_in_window(&w, r));
	assert_true(r - INT64_MIN < 2 * DAY);
	assert_int_equal(sched_at(&w, INT64_MIN, 0) + 17, r);

	/* every 0 breaks the contract; the next run is still later. */
	s = spec(0, 0);
	assert_int_equal(sched_next(&s, T2026, 0), T2026 + 1);
}

/* The first in-window moment, by walking second by second. */
static int64_t brute_first(const sched_spec *s, int64_t earliest)
{
	int64_t t = earliest;

	while (!sched_in_window(s, t))
		t++;
	return t;
}

static void test_brute_force(void **state)
{
	static const uint32_t windows[][2] = {
		{ 2 * HOUR, 4 * HOUR },
		{ 22 * HOUR, 2 * HOUR },
		{ 0, 1 },
		{ DAY - 1, 0 },
		{ 1, 0 },
		{ 12 * HOUR + 17, 12 * HOUR + 18 },
	};
	(void)state;
	for (size_t k = 0; k < sizeof(windows) / sizeof(windows[0]); k++) {
		sched_spec s =
			spec_window(DAY, windows[k][0], windows[k][1], 0);
		for (int64_t e = T2026 - DAY; e < T2026 + DAY; e += 613) {
			int64_t want = brute_first(&s, e);
			if (sched_at(&s, e, 0) != want)
				fail_msg("window %zu from %lld: %lld, want "
				         "%lld",
				         k, (long long)e,
				         (long long)sched_at(&s, e, 0),
				         (long long)want);
		}
	}
}

static uint64_t second_of_day(int64_t t)
{
	return (uint64_t)(((t % DAY) + DAY) % DAY);
}

/* For random schedules and times: at or after earliest, inside the
 * window, at most jitter after the first window moment, and either
 * exactly first + rnd % (jitter + 1) or cut at the occurrence's end. */
static void test_properties(void **state)
{
	uint64_t x = 0x2545f4914f6cdd1du;

	(void)state;
	for (int i = 0; i < 200000; i++) {
		sched_spec s = spec(DAY, 0);
		if (i % 4 != 0) {
			s.window = true;
			s.window_start = (uint32_t)(xorshift(&x) % DAY);
			do {
				s.window_end = (uint32_t)(xorshift(&x) % DAY);
			} while (s.window_end == s.window_start);
		}
		switch (i % 3) {
		case 0:
			s.jitter = 0;
			break;
		case 1:
			s.jitter = xorshift(&x) % (3 * DAY);
			break;
		default:
			s.jitter = xorshift(&x) % 600;
			break;
		}
		/* Around now, and sometimes anywhere short of the top. */
		int64_t earliest =
			T2026 +
			(int64_t)(xorshift(&x) % (40 * 365 * (uint64_t)DAY)) -
			20 * 365 * (int64_t)DAY;
		if (i % 10 == 0)
			earliest = (int64_t)(xorshift(&x) >> 2) -
			           (int64_t)(xorshift(&x) >> 2);
		uint64_t rnd = xorshift(&x);
		uint64_t jit = rnd % (s.jitter + 1);

		int64_t first = sched_at(&s, earliest, 0);
		int64_t at = sched_at(&s, earliest, rnd);

		assert_true(first >= earliest);
		assert_true(sched_in_window(&s, first));
		/* first is the first: nothing in the window before it. */
		if (first > earliest) {
			assert_false(sched_in_window(&s, earliest));
			assert_false(sched_in_window(&s, first - 1));
			uint32_t len =
				(s.window_end + DAY - s.window_start) % DAY;
			assert_true(first - earliest <= DAY - len);
		}
		assert_true(at >= earliest);
		assert_true(at >= first);
		assert_true(sched_in_window(&s, at));
		assert_true((uint64_t)(at - first) <= s.jitter);
		assert_true((uint64_t)(at - first) <= jit);
		if (s.window) {
			/* Seconds from first to the end of its occurrence:
			 * at stays before it, and is cut to its last
			 * second only when first + jit would pass it. */
			uint64_t to_end = ((uint64_t)s.window_end + DAY -
			                   second_of_day(first)) %
			                  DAY;
			assert_true((uint64_t)(at - first) < to_end);
			if ((uint64_t)(at - first) != jit) {
				assert_int_equal(at - first, to_end - 1);
				assert_true(jit >= to_end);
			}
		} else {
			assert_int_equal(at - first, jit);
		}
		/* sched_next is sched_at from now + every. */
		assert_int_equal(sched_next(&s, earliest - DAY, rnd), at);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_window),
		cmocka_unit_test(test_in_window),
		cmocka_unit_test(test_degenerate_window),
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_wrapped_window),
		cmocka_unit_test(test_jitter_clamped),
		cmocka_unit_test(test_thirty_days),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_brute_force),
		cmocka_unit_test(test_properties),
	};

	if (kw_secmem_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
