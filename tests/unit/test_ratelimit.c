/*
 * test_ratelimit.c - token buckets and penalties (ratelimit.h), driven by
 * a fake clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "keyward.h"
#include "ratelimit.h"
#include "secmem.h"

static ratelimit *rl_new(size_t max)
{
	ratelimit *rl = NULL;

	assert_int_equal(ratelimit_new(max, &rl), 0);
	assert_non_null(rl);
	return rl;
}

static void allow(ratelimit *rl, const char *key, const policy_rate *r,
                  int64_t now)
{
	uint32_t retry = 0;

	assert_int_equal(ratelimit_take(rl, key, r, now, &retry), 0);
}

/* Refused; returns the advertised wait. */
static uint32_t refuse(ratelimit *rl, const char *key, const policy_rate *r,
                       int64_t now)
{
	uint32_t retry = 0;

	assert_int_equal(ratelimit_take(rl, key, r, now, &retry), KW_ERATE);
	assert_true(retry >= 1);
	return retry;
}

/* Takes allowed in a row at now (stops at the first refusal). */
static unsigned drain(ratelimit *rl, const char *key, const policy_rate *r,
                      int64_t now)
{
	uint32_t retry;
	unsigned n = 0;

	while (ratelimit_take(rl, key, r, now, &retry) == 0)
		n++;
	return n;
}

static void test_bad_args(void **state)
{
	policy_rate r = { 1, 1000, 1 }, zero = { 0, 1000, 1 };
	ratelimit *rl = NULL;
	penalty *p = NULL;
	uint32_t retry;

	(void)state;
	assert_int_equal(ratelimit_new(0, &rl), KW_EINVAL);
	assert_null(rl);
	rl = rl_new(4);
	assert_int_equal(ratelimit_take(rl, NULL, &r, 0, &retry), KW_EINVAL);
	assert_int_equal(ratelimit_take(rl, "k", &zero, 0, &retry), KW_EINVAL);
	assert_int_equal(ratelimit_size(rl), 0);
	ratelimit_free(rl);
	ratelimit_free(NULL);

	assert_int_equal(penalty_new(4, 0, 100, &p), KW_EINVAL);
	assert_int_equal(penalty_new(4, 200, 100, &p), KW_EINVAL);
	assert_int_equal(penalty_new(0, 100, 200, &p), KW_EINVAL);
	assert_null(p);
	penalty_free(NULL);
}

/* 50/s burst 100: exactly 100 at once, then one per 20 ms. */
static void test_burst_then_refill(void **state)
{
	policy_rate r = { 50, 1000, 100 };
	ratelimit *rl = rl_new(16);
	uint32_t retry;

	(void)state;
	for (int i = 0; i < 100; i++)
		allow(rl, "alice", &r, 0);
	retry = refuse(rl, "alice", &r, 0);
	assert_true(retry >= 1 && retry <= 20);
	refuse(rl, "alice", &r, 19);
	allow(rl, "alice", &r, 20);
	refuse(rl, "alice", &r, 20);
	/* Another key has its own bucket. */
	assert_int_equal(drain(rl, "bob", &r, 20), 100);
	/* One second refills 50, not more. */
	assert_int_equal(drain(rl, "alice", &r, 1020), 50);
	/* Idle long enough: full again, never above burst. */
	assert_int_equal(drain(rl, "alice", &r, 1000000), 100);
	ratelimit_free(rl);
}

/* The advertised wait is exact: refused before it, allowed at it. */
static void test_retry_after_exact(void **state)
{
	policy_rate r = { 3, 1000, 1 };
	ratelimit *rl = rl_new(4);
	uint32_t retry;

	(void)state;
	allow(rl, "k", &r, 0);
	retry = refuse(rl, "k", &r, 0);
	assert_int_equal(retry, 334); /* ceil(1000 / 3) */
	refuse(rl, "k", &r, 333);
	allow(rl, "k", &r, 334);
	ratelimit_free(rl);
}

static void test_per_minute_and_hour(void **state)
{
	policy_rate m = { 10, 60000, 10 }, h = { 1000, 3600000, 50 };
	ratelimit *rl = rl_new(4);
	uint32_t retry;

	(void)state;
	assert_int_equal(drain(rl, "m", &m, 0), 10);
	retry = refuse(rl, "m", &m, 0);
	assert_int_equal(retry, 6000);
	refuse(rl, "m", &m, 5999);
	allow(rl, "m", &m, 6000);
	assert_int_equal(drain(rl, "m", &m, 66000), 10);

	assert_int_equal(drain(rl, "h", &h, 0), 50);
	retry = refuse(rl, "h", &h, 0);
	assert_int_equal(retry, 3600);
	allow(rl, "h", &h, 3600);
	/* 1000/h for an hour refills only the burst. */
	assert_int_equal(drain(rl, "h", &h, 3600 + 3600000), 50);
	ratelimit_free(rl);
}

/* A burst smaller than the count caps what builds up. */
static void test_burst_below_count(void **state)
{
	policy_rate r = { 100, 1000, 5 };
	ratelimit *rl = rl_new(4);

	(void)state;
	assert_int_equal(drain(rl, "k", &r, 0), 5);
	assert_int_equal(refuse(rl, "k", &r, 0), 10);
	assert_int_equal(drain(rl, "k", &r, 10), 1);
	assert_int_equal(drain(rl, "k", &r, 10000), 5);
	ratelimit_free(rl);
}

/* A new rate applies at once; the bucket is clamped to the new burst. */
static void test_rate_change_clamps(void **state)
{
	policy_rate big = { 50, 1000, 100 }, small = { 1, 1000, 3 };
	policy_rate slow = { 1, 60000, 10 };
	ratelimit *rl = rl_new(4);

	(void)state;
	allow(rl, "k", &big, 0); /* 99 tokens left */
	assert_int_equal(drain(rl, "k", &small, 0), 3);
	assert_int_equal(refuse(rl, "k", &small, 0), 1000);
	/* Back to the big rate: nothing was gained by the change. */
	assert_int_equal(refuse(rl, "k", &big, 0), 20);
	assert_int_equal(drain(rl, "k", &big, 100), 5);
	/* Half a token carries over into the new unit. */
	assert_int_equal(refuse(rl, "k", &big, 110), 10);
	assert_int_equal(refuse(rl, "k", &slow, 110), 30000);
	allow(rl, "k", &slow, 30110);
	ratelimit_free(rl);
}

/* Full table: the least recently used key goes. */
static void test_lru_eviction(void **state)
{
	policy_rate r = { 1, 1000, 1 };
	ratelimit *rl = rl_new(3);

	(void)state;
	allow(rl, "a", &r, 0);
	allow(rl, "b", &r, 0);
	allow(rl, "c", &r, 0);
	assert_int_equal(ratelimit_size(rl), 3);
	refuse(rl, "a", &r, 1); /* a is now the most recent */
	allow(rl, "d", &r, 1);  /* evicts b */
	assert_int_equal(ratelimit_size(rl), 3);
	refuse(rl, "a", &r, 2);
	refuse(rl, "c", &r, 2);
	refuse(rl, "d", &r, 2);
	allow(rl, "b", &r, 2); /* evicted, so a fresh full bucket */
	assert_int_equal(ratelimit_size(rl), 3);
	ratelimit_free(rl);
}

static void test_sweep_only_full(void **state)
{
	policy_rate r = { 10, 1000, 10 };
	ratelimit *rl = rl_new(8);

	(void)state;
	allow(rl, "idle", &r, 0);  /* full again after 100 ms */
	drain(rl, "busy", &r, 0);  /* full again after 1000 ms */
	allow(rl, "idle2", &r, 0); /* full again after 100 ms */
	ratelimit_sweep(rl, 50);
	assert_int_equal(ratelimit_size(rl), 3);
	ratelimit_sweep(rl, 100);
	assert_int_equal(ratelimit_size(rl), 1);
	ratelimit_sweep(rl, 999);
	assert_int_equal(ratelimit_size(rl), 1);
	ratelimit_sweep(rl, 1000);
	assert_int_equal(ratelimit_size(rl), 0);
	ratelimit_sweep(rl, 2000);
	ratelimit_free(rl);
}

/* A clock that goes back counts as no time passing, and does not make
 * the later forward step count twice. */
static void test_time_backwards(void **state)
{
	policy_rate r = { 1, 1000, 1 };
	ratelimit *rl = rl_new(4);
	uint32_t retry;

	(void)state;
	allow(rl, "k", &r, 10000);
	retry = refuse(rl, "k", &r, 500);
	assert_int_equal(retry, 1000);
	assert_int_equal(refuse(rl, "k", &r, 10500), 500);
	allow(rl, "k", &r, 11000);
	ratelimit_sweep(rl, 0);
	assert_int_equal(ratelimit_size(rl), 1);
	ratelimit_free(rl);
}

/* Many keys through a small table: memory stays bounded. */
static void test_stress_bounded(void **state)
{
	policy_rate r = { 5, 1000, 3 };
	ratelimit *rl = rl_new(64);
	char key[32];
	uint32_t retry;
	unsigned allowed = 0;
	int rc;

	(void)state;
	for (int i = 0; i < 100000; i++) {
		snprintf(key, sizeof(key), "principal-%d", (i * 7919) % 1000);
		rc = ratelimit_take(rl, key, &r, i / 10, &retry);
		assert_true(rc == 0 || rc == KW_ERATE);
		allowed += rc == 0;
		assert_true(ratelimit_size(rl) <= 64);
		if (i % 1000 == 0)
			ratelimit_sweep(rl, i / 10);
	}
	assert_true(allowed > 0);
	assert_int_equal(ratelimit_size(rl) <= 64, 1);
	ratelimit_free(rl);
}

static penalty *pen_new(size_t max, uint32_t base, uint32_t cap)
{
	penalty *p = NULL;

	assert_int_equal(penalty_new(max, base, cap, &p), 0);
	assert_non_null(p);
	return p;
}

/* peek says what take would say, without taking or making a bucket. */
static void test_peek(void **state)
{
	policy_rate r = { 10, 1000, 3 }, slow = { 1, 1000, 3 };
	ratelimit *rl = rl_new(8);
	uint32_t retry = 0, peeked = 0;

	(void)state;
	assert_int_equal(ratelimit_peek(rl, "k", &r, 1000, &retry), 0);
	assert_int_equal(ratelimit_size(rl), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(ratelimit_peek(rl, "k", &r, 1000, NULL), 0);
	assert_int_equal(drain(rl, "k", &r, 1000), 3);
	assert_int_equal(ratelimit_size(rl), 1);
	assert_int_equal(ratelimit_peek(rl, "k", &r, 1000, &peeked), KW_ERATE);
	assert_int_equal(peeked, 100);
	assert_int_equal(refuse(rl, "k", &r, 1000), peeked);
	assert_int_equal(ratelimit_peek(rl, "k", &r, 1040, &peeked), KW_ERATE);
	assert_int_equal(peeked, 60);
	/* One token back after 100 ms: peek sees it and leaves it there. */
	assert_int_equal(ratelimit_peek(rl, "k", &r, 1100, &retry), 0);
	assert_int_equal(ratelimit_peek(rl, "k", &r, 1100, &retry), 0);
	allow(rl, "k", &r, 1100);
	assert_int_equal(ratelimit_peek(rl, "k", &r, 1100, &retry), KW_ERATE);
	/* A slower rate for the same key is what counts. */
	assert_int_equal(ratelimit_peek(rl, "k", &slow, 1150, &peeked),
	                 KW_ERATE);
	assert_true(peeked > 100);
	/* Other keys are untouched. */
	assert_int_equal(ratelimit_peek(rl, "other", &r, 1100, &retry), 0);
	assert_int_equal(ratelimit_peek(NULL, "k", &r, 0, &retry), KW_EINVAL);
	assert_int_equal(ratelimit_peek(rl, NULL, &r, 0, &retry), KW_EINVAL);
	assert_int_equal(ratelimit_peek(rl, "k", NULL, 0, &retry), KW_EINVAL);
	ratelimit_free(rl);
}

static void test_penalty_doubling(void **state)
{
	static const uint32_t want[] = { 100, 200, 400, 800, 1600, 3000, 3000 };
	penalty *p = pen_new(8, 100, 3000);
	int64_t t = 0;

	(void)state;
	assert_int_equal(penalty_pending(p, 7, 0), 0);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_int_equal(penalty_fail(p, 7, t), want[i]);
		assert_int_equal(penalty_pending(p, 7, t), want[i]);
		t += want[i];
		assert_int_equal(penalty_pending(p, 7, t), 0);
	}
	/* Many more stay at the cap (no shift overflow). */
	for (int i = 0; i < 100; i++)
		assert_int_equal(penalty_fail(p, 7, t), 3000);
	/* Other sources are independent. */
	assert_int_equal(penalty_pending(p, 8, t), 0);
	assert_int_equal(penalty_fail(p, 8, t), 100);
	penalty_free(p);
}

static void test_penalty_pending_decreases(void **state)
{
	penalty *p = pen_new(8, 1000, 60000);

	(void)state;
	assert_int_equal(penalty_fail(p, 1, 5000), 1000);
	assert_int_equal(penalty_pending(p, 1, 5000), 1000);
	assert_int_equal(penalty_pending(p, 1, 5250), 750);
	assert_int_equal(penalty_pending(p, 1, 5999), 1);
	assert_int_equal(penalty_pending(p, 1, 6000), 0);
	/* A clock that went back does not lengthen the wait. */
	assert_int_equal(penalty_fail(p, 1, 6000), 2000);
	assert_int_equal(penalty_pending(p, 1, 100), 2000);
	penalty_free(p);
}

static void test_penalty_forget(void **state)
{
	penalty *p = pen_new(8, 100, 10000);
	int64_t t;

	(void)state;
	assert_int_equal(penalty_fail(p, 1, 0), 100);
	assert_int_equal(penalty_fail(p, 1, 1000), 200);
	t = 1000 + PENALTY_FORGET_MS - 1;
	assert_int_equal(penalty_fail(p, 1, t), 400);
	/* Quiet for the whole period: back to the base delay. */
	t += PENALTY_FORGET_MS;
	assert_int_equal(penalty_fail(p, 1, t), 100);

	assert_int_equal(penalty_fail(p, 2, t), 100);
	penalty_sweep(p, t + PENALTY_FORGET_MS - 1);
	assert_int_equal(penalty_fail(p, 2, t + 1), 200); /* remembered */
	penalty_sweep(p, t + 1 + PENALTY_FORGET_MS);
	/* Both forgotten: the next failure starts over. */
	assert_int_equal(penalty_pending(p, 2, t + 1), 0);
	assert_int_equal(penalty_fail(p, 2, t + 2), 100);
	penalty_free(p);
}

static void test_penalty_bounded(void **state)
{
	penalty *p = pen_new(3, 100, 10000);

	(void)state;
	for (uint64_t src = 0; src < 1000; src++)
		assert_int_equal(penalty_fail(p, src, 0), 100);
	/* The three most recent survive; the oldest were evicted. */
	assert_int_equal(penalty_fail(p, 999, 1), 200);
	assert_int_equal(penalty_fail(p, 0, 1), 100);
	penalty_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_burst_then_refill),
		cmocka_unit_test(test_retry_after_exact),
		cmocka_unit_test(test_per_minute_and_hour),
		cmocka_unit_test(test_burst_below_count),
		cmocka_unit_test(test_rate_change_clamps),
		cmocka_unit_test(test_lru_eviction),
		cmocka_unit_test(test_sweep_only_full),
		cmocka_unit_test(test_time_backwards),
		cmocka_unit_test(test_stress_bounded),
		cmocka_unit_test(test_peek),
		cmocka_unit_test(test_penalty_doubling),
		cmocka_unit_test(test_penalty_pending_decreases),
		cmocka_unit_test(test_penalty_forget),
		cmocka_unit_test(test_penalty_bounded),
	};

	if (kw_secmem_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
