/*
 * ratelimit.h - token buckets keyed by a string, and growing penalties.
 *
 * Memory is bounded: a table holds at most max entries; a bucket that is
 * full again (idle long enough to refill) is dropped by ratelimit_sweep,
 * and when the table is full the least recently used entry is evicted.
 * Time is passed in (monotonic milliseconds) so tests drive the clock.
 */
#ifndef KW_RATELIMIT_H
#define KW_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "policy.h"

typedef struct ratelimit ratelimit;

int ratelimit_new(size_t max, ratelimit **ret_rl);
void ratelimit_free(ratelimit *rl);
/*
 * Take one token from key's bucket under rate. 0 if allowed; KW_ERATE if
 * not, with *ret_retry_ms = time until a token is available (>= 1);
 * KW_EINVAL (bad key or rate) or KW_ENOMEM, which callers treat as a
 * refusal.
 * A changed rate for an existing key takes effect at once (the bucket is
 * clamped to the new burst).
 */
int ratelimit_take(ratelimit *rl, const char *key, const policy_rate *rate,
                   int64_t now_ms, uint32_t *ret_retry_ms);
/*
 * Would ratelimit_take allow a request of key now? 0 if so (a key without
 * a bucket has a full one), else KW_ERATE with *ret_retry_ms as for take;
 * KW_EINVAL for a bad key or rate. Takes nothing and makes no bucket: for
 * budgets spent only by failures (apikey.verify), checked before every
 * attempt and taken from after each failed one.
 */
int ratelimit_peek(ratelimit *rl, const char *key, const policy_rate *rate,
                   int64_t now_ms, uint32_t *ret_retry_ms);
/* Drop buckets that are full again. */
void ratelimit_sweep(ratelimit *rl, int64_t now_ms);
size_t ratelimit_size(const ratelimit *rl);

/*
 * Penalties for failures from a source (a uid): each failure within
 * PENALTY_FORGET_MS of the previous one doubles the delay (base_ms,
 * 2*base_ms, ... capped at max_ms); a quiet period of PENALTY_FORGET_MS
 * forgets the source. Returns the delay to apply to this failure.
 */
#define PENALTY_FORGET_MS (10 * 60 * 1000)
typedef struct penalty penalty;
int penalty_new(size_t max, uint32_t base_ms, uint32_t max_ms,
                penalty **ret_penalty);
void penalty_free(penalty *p);
uint32_t penalty_fail(penalty *p, uint64_t source, int64_t now_ms);
/* Remaining delay for source (0 if none). */
uint32_t penalty_pending(penalty *p, uint64_t source, int64_t now_ms);
void penalty_sweep(penalty *p, int64_t now_ms);

#endif
