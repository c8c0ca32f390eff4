/*
 * clock.h - every time the agent asks for, in one place.
 *
 * Two kinds of wall-clock time, kept apart on purpose:
 *
 *   clock_now()      the time decisions are made against: when a rotation
 *                    schedule is due, when a run retries, when a token or
 *                    an API key expires. Builds with -Dtest_hooks=true
 *                    let the test suite move it (clock_init).
 *   clock_wall*()    when something happened: created/touched/revoked
 *                    times of rows, audit and log timestamps. Always the
 *                    system clock, never moved, so that what a test moves
 *                    is only what it means to move.
 *
 * and clock_mono_ms() for deadlines and budgets, which no wall-clock step
 * may stretch.
 *
 * Thread safety: clock_init runs once, before any thread starts; the rest
 * only read and may be called from any thread.
 */
#ifndef KW_CLOCK_H
#define KW_CLOCK_H

#include <stdint.h>

/*
 * Read the test clock's setting from the environment: with -Dtest_hooks
 * (KW_TEST_HOOKS) a non-empty KEYWARD_TEST_CLOCK names a file whose
 * contents (decimal unix seconds) clock_now() returns from then on, read
 * afresh on every call, so that tests move time by rewriting it. A file
 * that is missing, unreadable or not a positive number falls back to the
 * system clock for that call. Without test hooks the environment is not
 * read at all. Never logs (the caller reports clock_test_file()).
 */
void clock_init(void);

/* The test clock's file, or NULL when clock_now() is the system clock. */
const char *clock_test_file(void);

/* Unix seconds for decisions: the test clock if one is set, else the
 * system clock. */
int64_t clock_now(void);

/* Unix seconds of the system clock, never moved. */
int64_t clock_wall(void);

/* Microseconds since the epoch, system clock, never moved. */
int64_t clock_wall_us(void);

/* Milliseconds of CLOCK_MONOTONIC (an arbitrary origin). */
int64_t clock_mono_ms(void);

#endif
