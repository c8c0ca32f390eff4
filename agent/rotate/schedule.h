/*
 * schedule.h - when a rotation schedule next fires (pure arithmetic; the
 * rotation engine, rotate.h, stores and acts on the result).
 *
 * A schedule fires every `every` seconds. With a window (seconds after
 * midnight UTC, [start, end), wrapping midnight if end < start) it fires
 * only inside the window; with jitter it fires at a uniformly random moment
 * in [earliest, earliest + jitter], cut short so it stays in the window.
 * A window whose start equals its end, or with a bound >= 86400, counts as
 * no window. Times past INT64_MAX saturate to INT64_MAX ("never").
 */
#ifndef KW_SCHEDULE_H
#define KW_SCHEDULE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct sched_spec {
	uint64_t every;                    /* seconds, >= 1 */
	bool window;                       /* window_start/window_end are set */
	uint32_t window_start, window_end; /* seconds after midnight UTC */
	uint64_t jitter;                   /* seconds, 0: none */
} sched_spec;

/* Is t (unix seconds) inside the window (always true without one)? */
bool sched_in_window(const sched_spec *s, int64_t t);
/*
 * The run time for a schedule that may fire from `earliest` on: the first
 * moment >= earliest inside the window, plus rnd % (jitter + 1) seconds, but
 * never past the end of that window occurrence (the last second inside it).
 * rnd is a random number the caller draws (tests pass fixed ones).
 */
int64_t sched_at(const sched_spec *s, int64_t earliest, uint64_t rnd);
/* The next regular run after a run that started at `now`:
 * sched_at(s, now + every, rnd). */
int64_t sched_next(const sched_spec *s, int64_t now, uint64_t rnd);

#endif
