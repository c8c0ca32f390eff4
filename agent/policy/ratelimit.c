/*
 * ratelimit.c - token buckets and growing penalties (see ratelimit.h).
 *
 * Both live in the same bounded table: chained hashing (SipHash under a
 * random key, so chosen keys cannot pile into one chain) plus an intrusive
 * LRU list, most recent at the head. Lookup, insert, evict and unlink are
 * O(1); only the sweeps walk the table.
 *
 * Tokens are kept exactly, in integer "credit": one token is per_ms units
 * and each elapsed millisecond adds count units, so refill never drifts
 * and a full bucket holds burst * per_ms (< 2^64 for any uint32 inputs).
 */
#include "ratelimit.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "keyward.h"
#include "secmem.h"

#define TABLE_MAX     (1u << 22)
#define KEY_MAX       1024
#define PENALTY_LEVEL 32

struct bucket {
	policy_rate rate; /* the rate credit is measured in */
	uint64_t credit;  /* tokens * rate.per_ms */
	int64_t last_ms;  /* latest time seen; never moves back */
};

struct strike {
	uint32_t level;   /* failures in the current run, 1 .. */
	int64_t last_ms;  /* latest failure (or later time seen) */
	int64_t until_ms; /* blocked until */
};

struct entry {
	struct entry *chain;       /* next in the hash slot */
	struct entry *prev, *next; /* LRU list */
	uint64_t hash;
	union {
		struct bucket b;
		struct strike s;
	} v;
	size_t keylen;
	unsigned char key[]; /* keylen bytes (plus a NUL for strings) */
};

struct table {
	struct entry **slots;
	size_t mask; /* slots - 1; slots is a power of two >= max */
	size_t count, max;
	struct entry *head, *tail;
	uint8_t hkey[crypto_shorthash_KEYBYTES];
};

static int table_init(struct table *t, size_t max)
{
	size_t n = 1;

	if (max == 0 || max > TABLE_MAX)
		return KW_EINVAL;
	if (kw_secmem_init() < 0)
		return KW_EINTERNAL;
	while (n < max)
		n <<= 1;
	t->slots = calloc(n, sizeof(*t->slots));
	if (!t->slots)
		return KW_ENOMEM;
	t->mask = n - 1;
	t->count = 0;
	t->max = max;
	t->head = t->tail = NULL;
	randombytes_buf(t->hkey, sizeof(t->hkey));
	return 0;
}

static void table_done(struct table *t)
{
	struct entry *e = t->head;

	while (e) {
		struct entry *next = e->next;

		free(e);
		e = next;
	}
	free(t->slots);
}

static uint64_t table_hash(const struct table *t, const void *key, size_t len)
{
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t v;

	crypto_shorthash(h, key, len, t->hkey);
	memcpy(&v, h, sizeof(v));
	return v;
}

static void lru_unlink(struct table *t, struct entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		t->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		t->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push_front(struct table *t, struct entry *e)
{
	e->prev = NULL;
	e->next = t->head;
	if (t->head)
		t->head->prev = e;
	else
		t->tail = e;
	t->head = e;
}

static void table_remove(struct table *t, struct entry *e)
{
	struct entry **pp = &t->slots[e->hash & t->mask];

	while (*pp != e)
		pp = &(*pp)->chain;
	*pp = e->chain;
	lru_unlink(t, e);
	t->count--;
	free(e);
}

/* The entry for key, made most recently used; NULL if absent. */
static struct entry *table_find(struct table *t, const void *key, size_t len)
{
	uint64_t h = table_hash(t, key, len);
	struct entry *e = t->slots[h & t->mask];

	for (; e; e = e->chain) {
		if (e->hash == h && e->keylen == len &&
		    memcmp(e->key, key, len) == 0)
			break;
	}
	if (e && e != t->head) {
		lru_unlink(t, e);
		lru_push_front(t, e);
	}
	return e;
}

/* A new zeroed entry for key (absent), evicting the least recently used
 * entry if the table is full. NULL if out of memory. */
static struct entry *table_add(struct table *t, const void *key, size_t len)
{
	struct entry *e;
	size_t slot;

	if (t->count == t->max)
		table_remove(t, t->tail);
	e = calloc(1, sizeof(*e) + len + 1);
	if (!e)
		return NULL;
	memcpy(e->key, key, len);
	e->keylen = len;
	e->hash = table_hash(t, key, len);
	slot = e->hash & t->mask;
	e->chain = t->slots[slot];
	t->slots[slot] = e;
	lru_push_front(t, e);
	t->count++;
	return e;
}

/* Milliseconds from last to now; a clock that went back is no time. */
static uint64_t since(int64_t last_ms, int64_t now_ms)
{
	return now_ms > last_ms ? (uint64_t)now_ms - (uint64_t)last_ms : 0;
}

/* Like since(), and advance *last_ms to now (never backwards). */
static uint64_t advance(int64_t *last_ms, int64_t now_ms)
{
	uint64_t d = since(*last_ms, now_ms);

	if (d > 0)
		*last_ms = now_ms;
	return d;
}

/* ---- token buckets ---- */

struct ratelimit {
	struct table t;
};

static bool rate_valid(const policy_rate *r)
{
	return r->count >= 1 && r->per_ms >= 1 && r->burst >= 1;
}

static uint64_t bucket_cap(const policy_rate *r)
{
	return (uint64_t)r->burst * r->per_ms;
}

static bool rate_same(const policy_rate *a, const policy_rate *b)
{
	return a->count == b->count && a->per_ms == b->per_ms &&
	       a->burst == b->burst;
}

/* Credit the bucket would hold after ms more milliseconds, without
 * overflow: past the point of being full it is simply full. */
static uint64_t credit_after(const struct bucket *b, uint64_t ms)
{
	uint64_t cap = bucket_cap(&b->rate);
	uint64_t need = cap - b->credit;

	if (ms >= need / b->rate.count + 1)
		return cap;
	return b->credit + ms * b->rate.count;
}

/* Re-express the credit in the new rate's units (whole tokens and the
 * fraction of the next one carry over), clamped to the new burst. */
static void bucket_rerate(struct bucket *b, const policy_rate *r)
{
	uint64_t whole = b->credit / b->rate.per_ms;
	uint64_t part = b->credit % b->rate.per_ms;
	uint64_t credit;

	if (whole >= r->burst)
		credit = bucket_cap(r);
	else
		credit = whole * r->per_ms + part * r->per_ms / b->rate.per_ms;
	if (credit > bucket_cap(r))
		credit = bucket_cap(r);
	b->rate = *r;
	b->credit = credit;
}

int ratelimit_new(size_t max, ratelimit **ret_rl)
{
	ratelimit *rl;
	int r;

	if (!ret_rl)
		return KW_EINVAL;
	rl = calloc(1, sizeof(*rl));
	if (!rl)
		return KW_ENOMEM;
	r = table_init(&rl->t, max);
	if (r < 0) {
		free(rl);
		return r;
	}
	*ret_rl = rl;
	return 0;
}

void ratelimit_free(ratelimit *rl)
{
	if (!rl)
		return;
	table_done(&rl->t);
	free(rl);
}

int ratelimit_take(ratelimit *rl, const char *key, const policy_rate *rate,
                   int64_t now_ms, uint32_t *ret_retry_ms)
{
	struct entry *e;
	struct bucket *b;
	size_t len;
	uint64_t wait;

	if (!rl || !key || !rate || !rate_valid(rate))
		return KW_EINVAL;
	len = strnlen(key, KEY_MAX + 1);
	if (len > KEY_MAX)
		return KW_EINVAL;

	e = table_find(&rl->t, key, len);
	if (!e) {
		e = table_add(&rl->t, key, len);
		if (!e)
			return KW_ENOMEM;
		e->v.b.rate = *rate;
		e->v.b.credit = bucket_cap(rate);
		e->v.b.last_ms = now_ms;
	}
	b = &e->v.b;
	b->credit = credit_after(b, advance(&b->last_ms, now_ms));
	if (!rate_same(&b->rate, rate))
		bucket_rerate(b, rate);

	if (b->credit >= b->rate.per_ms) {
		b->credit -= b->rate.per_ms;
		return 0;
	}
	/* Whole milliseconds until the credit reaches one token: >= 1. */
	wait = (b->rate.per_ms - b->credit + b->rate.count - 1) / b->rate.count;
	if (ret_retry_ms)
		*ret_retry_ms = wait > UINT32_MAX ? UINT32_MAX : (uint32_t)wait;
	return KW_ERATE;
}

int ratelimit_peek(ratelimit *rl, const char *key, const policy_rate *rate,
                   int64_t now_ms, uint32_t *ret_retry_ms)
{
	struct entry *e;
	struct bucket b;
	size_t len;
	uint64_t wait;

	if (!rl || !key || !rate || !rate_valid(rate))
		return KW_EINVAL;
	len = strnlen(key, KEY_MAX + 1);
	if (len > KEY_MAX)
		return KW_EINVAL;
	e = table_find(&rl->t, key, len);
	if (!e)
		return 0;
	/* What take would see, worked out on a copy. */
	b = e->v.b;
	b.credit = credit_after(&b, advance(&b.last_ms, now_ms));
	if (!rate_same(&b.rate, rate))
		bucket_rerate(&b, rate);
	if (b.credit >= b.rate.per_ms)
		return 0;
	wait = (b.rate.per_ms - b.credit + b.rate.count - 1) / b.rate.count;
	if (ret_retry_ms)
		*ret_retry_ms = wait > UINT32_MAX ? UINT32_MAX : (uint32_t)wait;
	return KW_ERATE;
}

void ratelimit_sweep(ratelimit *rl, int64_t now_ms)
{
	struct entry *e, *prev;

	if (!rl)
		return;
	for (e = rl->t.tail; e; e = prev) {
		const struct bucket *b = &e->v.b;

		prev = e->prev;
		if (credit_after(b, since(b->last_ms, now_ms)) ==
		    bucket_cap(&b->rate))
			table_remove(&rl->t, e);
	}
}

size_t ratelimit_size(const ratelimit *rl)
{
	return rl ? rl->t.count : 0;
}

/* ---- penalties ---- */

struct penalty {
	struct table t;
	uint32_t base_ms, max_ms;
};

int penalty_new(size_t max, uint32_t base_ms, uint32_t max_ms,
                penalty **ret_penalty)
{
	penalty *p;
	int r;

	if (!ret_penalty || base_ms == 0 || max_ms < base_ms)
		return KW_EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return KW_ENOMEM;
	r = table_init(&p->t, max);
	if (r < 0) {
		free(p);
		return r;
	}
	p->base_ms = base_ms;
	p->max_ms = max_ms;
	*ret_penalty = p;
	return 0;
}

void penalty_free(penalty *p)
{
	if (!p)
		return;
	table_done(&p->t);
	free(p);
}

static uint32_t penalty_delay(const penalty *p, uint32_t level)
{
	uint64_t d = (uint64_t)p->base_ms << (level - 1);

	return d > p->max_ms ? p->max_ms : (uint32_t)d;
}

/*
 * Returns the delay for this failure. If the table cannot grow (out of
 * memory) the source still gets the longest delay: failing to remember a
 * failure must not make guessing cheaper.
 */
uint32_t penalty_fail(penalty *p, uint64_t source, int64_t now_ms)
{
	struct entry *e;
	struct strike *s;
	uint64_t quiet;

	if (!p)
		return 0;
	e = table_find(&p->t, &source, sizeof(source));
	if (!e) {
		e = table_add(&p->t, &source, sizeof(source));
		if (!e)
			return p->max_ms;
		e->v.s.last_ms = now_ms;
	}
	s = &e->v.s;
	quiet = advance(&s->last_ms, now_ms);
	if (s->level == 0 || quiet >= PENALTY_FORGET_MS)
		s->level = 1;
	else if (s->level < PENALTY_LEVEL)
		s->level++;
	s->until_ms = s->last_ms + penalty_delay(p, s->level);
	return penalty_delay(p, s->level);
}

uint32_t penalty_pending(penalty *p, uint64_t source, int64_t now_ms)
{
	const struct entry *e;
	const struct strike *s;
	int64_t now;

	if (!p)
		return 0;
	e = table_find(&p->t, &source, sizeof(source));
	if (!e)
		return 0;
	s = &e->v.s;
	now = now_ms > s->last_ms ? now_ms : s->last_ms;
	return now >= s->until_ms ? 0 : (uint32_t)(s->until_ms - now);
}

void penalty_sweep(penalty *p, int64_t now_ms)
{
	struct entry *e, *prev;

	if (!p)
		return;
	for (e = p->t.tail; e; e = prev) {
		prev = e->prev;
		if (since(e->v.s.last_ms, now_ms) >= PENALTY_FORGET_MS)
			table_remove(&p->t, e);
	}
}
