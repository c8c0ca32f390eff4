/*
 * schedule.c - when a rotation schedule next fires (see schedule.h).
 *
 * Times are int64 unix seconds. Every step adds a non-negative offset to
 * the caller's time and saturates at INT64_MAX, which callers treat as
 * "never"; nothing here rounds down to a day boundary, so times near
 * either end of the range cannot overflow.
 */
#include "schedule.h"

#define DAY 86400u

/* A window with start == end, or a bound outside the day, cannot come from
 * kw_window_parse; it is treated as no window rather than as "never". */
static bool sched_has_window(const sched_spec *s)
{
	return s->window && s->window_start < DAY && s->window_end < DAY &&
	       s->window_start != s->window_end;
}

/* Seconds after midnight UTC of t, in [0, DAY), also for t < 0. */
static uint32_t sched_second_of_day(int64_t t)
{
	int64_t r = t % (int64_t)DAY;

	return (uint32_t)(r < 0 ? r + (int64_t)DAY : r);
}

static int64_t sched_add(int64_t t, uint64_t d)
{
	/* t + d <= INT64_MAX  <=>  d <= INT64_MAX - t, computed unsigned:
	 * INT64_MAX - t is at most 2^64 - 1 for t = INT64_MIN. */
	uint64_t room = (uint64_t)INT64_MAX - (uint64_t)t;

	if (d >= room)
		return INT64_MAX;
	return (int64_t)((uint64_t)t + d);
}

bool sched_in_window(const sched_spec *s, int64_t t)
{
	if (!sched_has_window(s))
		return true;
	uint32_t sod = sched_second_of_day(t);
	if (s->window_start < s->window_end)
		return sod >= s->window_start && sod < s->window_end;
	return sod >= s->window_start || sod < s->window_end;
}

/*
 * From second-of-day sod, the offsets to the first second inside the
 * window (*to_first) and to the last second of that same occurrence
 * (*to_last). Both are in [0, 2 * DAY).
 */
static void sched_window_offsets(const sched_spec *s, uint32_t sod,
                                 uint64_t *to_first, uint64_t *to_last)
{
	uint64_t start = s->window_start, end = s->window_end;

	if (start < end) {
		if (sod < start) {
			*to_first = start - sod;
			*to_last = end - 1 - sod;
		} else if (sod < end) {
			*to_first = 0;
			*to_last = end - 1 - sod;
		} else {
			*to_first = DAY - sod + start;
			*to_last = DAY - sod + end - 1;
		}
		return;
	}
	/* Wrapped: an occurrence runs from start today to end tomorrow (or
	 * to midnight when end is 0). */
	if (sod < end) {
		*to_first = 0;
		*to_last = end - 1 - sod;
	} else if (sod < start) {
		*to_first = start - sod;
		*to_last = DAY - sod + end - 1;
	} else {
		*to_first = 0;
		*to_last = DAY - sod + end - 1;
	}
}

int64_t sched_at(const sched_spec *s, int64_t earliest, uint64_t rnd)
{
	/* jitter + 1 would wrap to 0 at UINT64_MAX: every rnd is in range. */
	uint64_t jit = s->jitter == UINT64_MAX ? rnd : rnd % (s->jitter + 1u);

	if (!sched_has_window(s))
		return sched_add(earliest, jit);
	uint64_t to_first, to_last;
	sched_window_offsets(s, sched_second_of_day(earliest), &to_first,
	                     &to_last);
	if (jit > to_last - to_first)
		jit = to_last - to_first;
	return sched_add(earliest, to_first + jit);
}

int64_t sched_next(const sched_spec *s, int64_t now, uint64_t rnd)
{
	/* every is at least 1 by contract; enforcing it here guarantees
	 * that the next run is after this one. */
	uint64_t every = s->every ? s->every : 1u;

	return sched_at(s, sched_add(now, every), rnd);
}
