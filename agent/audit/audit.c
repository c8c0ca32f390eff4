/*
 * audit.c - the audit log's life: open, unlock and lock, appends inside
 * the caller's batch, the queue kept while locked, commits and rollbacks,
 * checkpoints and retention (audit.h; the format is in docs/audit.md).
 *
 * The head (last seq and hash) lives in memory so an append is one hash and
 * one INSERT. It runs ahead of the database inside a batch; the head saved
 * at the last commit is where a rollback returns to, so a rolled-back batch
 * leaves neither a gap nor a fork in the chain.
 */
#include "audit.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "audit_int.h"
#include "clock.h"
#include "keyward.h"
#include "secmem.h"
#include "store_keys.h"

#define US_PER_MIN INT64_C(60000000)
#define US_PER_DAY INT64_C(86400000000)
/* Rows pruned per tick: each tick's transaction stays short. */
#define PRUNE_MAX 2000u
/* Rows read per statement when handing committed rows to followers. */
#define NOTIFY_CHUNK 1024u

const uint8_t *audit_sk_open(audit *au)
{
	sodium_mprotect_readonly(au->sk);
	return au->sk;
}

void audit_sk_close(audit *au)
{
	sodium_mprotect_noaccess(au->sk);
}

/* Bytes of reason to keep: at most AUDIT_REASON_MAX, never splitting a
 * UTF-8 sequence (the cut backs off over continuation bytes). */
static size_t reason_len(const char *reason)
{
	size_t n = strnlen(reason, AUDIT_REASON_MAX + 1);

	if (n <= AUDIT_REASON_MAX)
		return n;
	n = AUDIT_REASON_MAX;
	while (n > 0 && ((unsigned char)reason[n] & 0xc0) == 0x80)
		n--;
	return n;
}

static bool str_ok(const char *s)
{
	return !s || strnlen(s, AUDIT_STR_MAX + 1) <= AUDIT_STR_MAX;
}

static int event_check(const audit_event *ev)
{
	size_t oplen;

	if (!ev || !ev->op)
		return KW_EINVAL;
	oplen = strnlen(ev->op, AUDIT_OP_MAX + 1);
	if (oplen == 0 || oplen > AUDIT_OP_MAX || !str_ok(ev->exe) ||
	    !str_ok(ev->principal) || !str_ok(ev->name) ||
	    ev->outcome < AUDIT_OK || ev->outcome > AUDIT_RATE_LIMITED ||
	    ev->version > INT64_MAX)
		return KW_EINVAL;
	return 0;
}

/* The chain ------------------------------------------------------------- */

/* Chain ev as the next row (ts_us never below the head's: a clock stepped
 * back must not read as reordering) and insert it in the open batch. */
static int append_row(audit *au, const audit_event *ev, const char *reason,
                      int64_t ts_us)
{
	audit_row row;
	int r;

	if (au->head.seq >= INT64_MAX)
		return KW_ELIMIT;
	memset(&row, 0, sizeof(row));
	row.seq = au->head.seq + 1;
	row.ts_us = ts_us < au->head.ts_us ? au->head.ts_us : ts_us;
	row.uid = ev->uid;
	row.pid = ev->pid;
	row.exe = ev->exe;
	row.principal = ev->principal;
	row.op = ev->op;
	row.name = ev->name;
	row.version = ev->version;
	row.outcome = ev->outcome;
	row.reason = reason;
	audit_chain_hash(au->key, au->head.hash, &row, row.hash);
	r = store_audit_insert(au->st, &row);
	if (r < 0)
		return r;
	au->head.seq = row.seq;
	au->head.ts_us = row.ts_us;
	memcpy(au->head.hash, row.hash, sizeof(row.hash));
	return 0;
}

/* ev with its reason cut to size. */
static int append_event(audit *au, const audit_event *ev, int64_t ts_us)
{
	char reason[AUDIT_REASON_MAX + 1];
	size_t n;

	if (!ev->reason)
		return append_row(au, ev, NULL, ts_us);
	n = reason_len(ev->reason);
	memcpy(reason, ev->reason, n);
	reason[n] = '\0';
	return append_row(au, ev, reason, ts_us);
}

/* The queue ------------------------------------------------------------- */

static void queued_free(audit_queued *q)
{
	free((char *)q->ev.exe);
	free((char *)q->ev.principal);
	free((char *)q->ev.op);
	free((char *)q->ev.name);
	free((char *)q->ev.reason);
}

static bool dup_str(const char *s, size_t n, const char **ret)
{
	char *d;

	*ret = NULL;
	if (!s)
		return true;
	d = malloc(n + 1);
	if (!d)
		return false;
	memcpy(d, s, n);
	d[n] = '\0';
	*ret = d;
	return true;
}

static int queue_event(audit *au, const audit_event *ev, int64_t ts_us)
{
	audit_queued q;
	bool ok;

	if (au->queued >= AUDIT_QUEUE_MAX) {
		if (au->dropped < UINT64_MAX)
			au->dropped++;
		return 0;
	}
	if (au->queued == au->queue_cap) {
		size_t cap = au->queue_cap ? au->queue_cap * 2 : 64;
		audit_queued *nq;

		if (cap > AUDIT_QUEUE_MAX)
			cap = AUDIT_QUEUE_MAX;
		nq = realloc(au->queue, cap * sizeof(*nq));
		if (!nq)
			goto fail;
		au->queue = nq;
		au->queue_cap = cap;
	}
	memset(&q, 0, sizeof(q));
	q.ev = *ev;
	q.ts_us = ts_us;
	ok = dup_str(ev->exe, ev->exe ? strlen(ev->exe) : 0, &q.ev.exe);
	ok = dup_str(ev->principal, ev->principal ? strlen(ev->principal) : 0,
	             &q.ev.principal) &&
	     ok;
	ok = dup_str(ev->op, strlen(ev->op), &q.ev.op) && ok;
	ok = dup_str(ev->name, ev->name ? strlen(ev->name) : 0, &q.ev.name) &&
	     ok;
	ok = dup_str(ev->reason, ev->reason ? reason_len(ev->reason) : 0,
	             &q.ev.reason) &&
	     ok;
	if (!ok) {
		queued_free(&q);
		goto fail;
	}
	au->queue[au->queued++] = q;
	return 0;

fail:
	if (au->dropped < UINT64_MAX)
		au->dropped++;
	return KW_ENOMEM;
}

/* Queued events or a drop count not yet written in the open batch. */
static bool flush_pending(const audit *au)
{
	return au->queue_in_batch < au->queued ||
	       (au->dropped > 0 && au->dropped_in_batch == 0);
}

/* Append what the queue holds, oldest first, then the drop count. */
static int flush_queue(audit *au, int64_t now_us)
{
	int r;

	while (au->queue_in_batch < au->queued) {
		const audit_queued *q = &au->queue[au->queue_in_batch];

		r = append_row(au, &q->ev, q->ev.reason, q->ts_us);
		if (r < 0)
			return r;
		au->queue_in_batch++;
	}
	if (au->dropped > 0 && au->dropped_in_batch == 0) {
		char reason[96];
		audit_event ev = {
			.uid = geteuid(),
			.pid = getpid(),
			.op = "audit.dropped",
			.outcome = AUDIT_ERROR,
			.reason = reason,
		};

		snprintf(reason, sizeof(reason),
		         "%" PRIu64 " events dropped while locked (queue full)",
		         au->dropped);
		r = append_row(au, &ev, reason, now_us);
		if (r < 0)
			return r;
		au->dropped_in_batch = au->dropped;
	}
	return 0;
}

/* The batch that holds what the queue flush appended is durable. */
static void mark_committed(audit *au)
{
	au->committed = au->head;
	for (size_t i = 0; i < au->queue_in_batch; i++)
		queued_free(&au->queue[i]);
	if (au->queue_in_batch > 0) {
		memmove(au->queue, au->queue + au->queue_in_batch,
		        (au->queued - au->queue_in_batch) * sizeof(*au->queue));
		au->queued -= au->queue_in_batch;
		au->queue_in_batch = 0;
	}
	au->dropped -= au->dropped_in_batch;
	au->dropped_in_batch = 0;
	if (au->keys_state == KEYS_IN_BATCH)
		au->keys_state = KEYS_DURABLE;
}

/* Checkpoints ----------------------------------------------------------- */

/* Something for the checkpoint file: rows it does not vouch for yet, or a
 * line the store recorded that it lacks. */
static bool checkpoint_owed(const audit *au)
{
	return au->committed.seq > au->cp_seq || au->cp_pending[0] != '\0';
}

/* Vouch for the committed head (audit_cpfile.c). */
static int checkpoint_head(audit *au, int64_t now_us)
{
	if (au->committed.seq == 0)
		return 0;
	return audit_cpfile_checkpoint(au, now_us);
}

/* Open, close, lock and unlock ------------------------------------------- */

/* The head as the store has it: the newest row, else the anchor left by
 * pruning everything, else nothing yet. */
static int load_head(audit *au)
{
	store_audit_anchor anchor;
	audit_pos head = { .ts_us = INT64_MIN };
	int r = store_audit_head(au->st, &head.seq, &head.ts_us, head.hash);

	if (r == KW_ENOTFOUND) {
		/* Everything pruned: the chain goes on from the anchor. */
		r = store_audit_anchor_get(au->st, &anchor);
		if (r == 0) {
			head.seq = anchor.seq;
			memcpy(head.hash, anchor.hash, AUDIT_HASH_BYTES);
		}
		if (r == KW_ENOTFOUND)
			r = 0;
	}
	if (r < 0)
		return r;
	au->head = head;
	au->committed = head;
	au->notified = head.seq;
	return 0;
}

int audit_open(store *st, const char *checkpoints_path, const audit_config *cfg,
               audit **ret_audit)
{
	audit *au;
	int r;

	if (!st || !checkpoints_path || !*checkpoints_path || !cfg ||
	    !ret_audit)
		return KW_EINVAL;
	au = calloc(1, sizeof(*au));
	if (!au)
		return KW_ENOMEM;
	au->cp_path = strdup(checkpoints_path);
	if (!au->cp_path) {
		free(au);
		return KW_ENOMEM;
	}
	au->st = st;
	au->cfg = *cfg;
	au->cfg.anchor_path = NULL;
	if (cfg->anchor_path && !(au->anchor_path = strdup(cfg->anchor_path))) {
		audit_close(au);
		return KW_ENOMEM;
	}
	r = load_head(au);
	if (r == 0)
		r = audit_cpfile_load(au);
	au->anchor_behind = au->anchor_path != NULL;
	if (r < 0) {
		audit_close(au);
		return r;
	}
	*ret_audit = au;
	return 0;
}

int audit_reload(audit *au)
{
	uint8_t pk[AUDIT_PK_BYTES];
	uint8_t sealed[STORE_AUDIT_SEALED_BYTES];

	if (!au || store_batch_active(au->st))
		return KW_ESTATE;
	int r = load_head(au);
	/* A checkpoint record in doubt may have landed: the file then gets
	 * the recorded line at the next checkpoint, as after a crash. */
	if (r == 0)
		r = audit_cpfile_load(au);
	if (r < 0)
		return r;
	au->queue_in_batch = 0;
	au->dropped_in_batch = 0;
	if (au->keys_state != KEYS_UNSAVED)
		return 0;
	/* The batch that stored the checkpoint key may have reached the
	 * disk after all: insert it again only if it is not there. */
	r = store_audit_keys_get(au->st, pk, sealed);
	if (r == KW_ENOTFOUND)
		return 0;
	if (r == 0 && sodium_memcmp(pk, au->pk, sizeof(pk)) != 0)
		r = KW_ECRYPTO;
	if (r == 0)
		au->keys_state = KEYS_DURABLE;
	sodium_memzero(sealed, sizeof(sealed));
	return r;
}

static void drop_keys(audit *au)
{
	key_free(au->key);
	au->key = NULL;
	sodium_free(au->sk); /* wipes */
	au->sk = NULL;
	sodium_memzero(au->pk, sizeof(au->pk));
	sodium_memzero(au->sealed, sizeof(au->sealed));
}

void audit_close(audit *au)
{
	if (!au)
		return;
	drop_keys(au);
	for (size_t i = 0; i < au->queued; i++)
		queued_free(&au->queue[i]);
	free(au->queue);
	free(au->cp_path);
	free(au->anchor_path);
	free(au);
}

int audit_configure(audit *au, const audit_config *cfg)
{
	char *anchor = NULL;

	if (!au || !cfg)
		return KW_EINVAL;
	if (cfg->anchor_path && !(anchor = strdup(cfg->anchor_path)))
		return KW_ENOMEM;
	/* A new anchor gets the newest line at the next checkpoint. */
	if (!anchor || !au->anchor_path || strcmp(anchor, au->anchor_path) != 0)
		au->anchor_behind = anchor != NULL;
	free(au->anchor_path);
	au->anchor_path = anchor;
	au->cfg = *cfg;
	au->cfg.anchor_path = NULL;
	return 0;
}

bool audit_unlocked(const audit *au)
{
	return au && au->key;
}

/* Load the checkpoint key, or make one and store it: in a transaction of
 * its own outside a batch, else in the batch (durable when it commits). */
static int load_keys(audit *au, kw_key *dk, int64_t now_us)
{
	uint8_t pk[AUDIT_PK_BYTES];
	uint8_t *pt = NULL, *ct = NULL;
	size_t ptlen = 0, ctlen = 0;
	int r;

	r = store_audit_keys_get(au->st, au->pk, au->sealed);
	if (r == 0) {
		r = seal_open(dk, AUDIT_KEY_NAME, AUDIT_KEY_VERSION, au->sealed,
		              sizeof(au->sealed), &pt, &ptlen);
		if (r == 0 && ptlen != AUDIT_SK_BYTES)
			r = KW_ECRYPTO;
		if (r == 0) {
			memcpy(au->sk, pt, AUDIT_SK_BYTES);
			/* The stored public key must be this key's. */
			crypto_sign_ed25519_sk_to_pk(pk, au->sk);
			if (sodium_memcmp(pk, au->pk, sizeof(pk)) != 0)
				r = KW_ECRYPTO;
		}
		kw_wipefree(pt);
		au->keys_state = KEYS_DURABLE;
		return r;
	}
	if (r != KW_ENOTFOUND)
		return r;
	crypto_sign_ed25519_keypair(au->pk, au->sk);
	r = seal_value(dk, AUDIT_KEY_NAME, AUDIT_KEY_VERSION, au->sk,
	               AUDIT_SK_BYTES, &ct, &ctlen);
	if (r < 0)
		return r;
	if (ctlen != sizeof(au->sealed)) {
		free(ct);
		return KW_EINTERNAL;
	}
	memcpy(au->sealed, ct, ctlen);
	free(ct);
	au->keys_state =
		store_batch_active(au->st) ? KEYS_IN_BATCH : KEYS_DURABLE;
	return store_audit_keys_put(au->st, au->pk, au->sealed,
	                            now_us / 1000000);
}

int audit_unlock(audit *au, kw_key *dk, int64_t now_us)
{
	int r;

	if (!au || !dk)
		return KW_EINVAL;
	if (au->key)
		return KW_ESTATE;
	au->sk = sodium_malloc(AUDIT_SK_BYTES);
	if (!au->sk)
		return KW_ENOMEM;
	/* Kept sealed in the store since migration 8 (derived from the data
	 * key the first time, store_keys.h), so a rekey keeps it. */
	r = store_subkey_load(au->st, dk, STORE_SUBKEY_AUDIT, &au->key);
	key_linger(au->key); /* chains a row per request */
	if (r == 0)
		r = load_keys(au, dk, now_us);
	if (r < 0)
		goto fail;
	sodium_mprotect_noaccess(au->sk);
	if (!flush_pending(au))
		return 0;
	if (store_batch_active(au->st)) {
		r = flush_queue(au, now_us); /* the caller's batch commits */
	} else {
		r = store_batch_begin(au->st);
		if (r == 0) {
			r = flush_queue(au, now_us);
			if (r == 0)
				r = store_batch_commit(au->st);
			else
				store_batch_rollback(au->st);
			if (r == 0)
				mark_committed(au);
			else
				audit_rolled_back(au);
		}
	}
	if (r == 0)
		return 0;
fail:
	drop_keys(au);
	return r;
}

_Static_assert(AUDIT_SEALED_SK_BYTES == STORE_AUDIT_SEALED_BYTES,
               "sealed key size");

int audit_rekey(audit *au, kw_key *new_dk,
                uint8_t ret_sealed[static AUDIT_SEALED_SK_BYTES])
{
	uint8_t *ct = NULL;
	size_t ctlen = 0;
	int r;

	if (!au || !new_dk || !ret_sealed)
		return KW_EINVAL;
	if (!au->key || !store_batch_active(au->st))
		return KW_ESTATE;
	/* A key not yet committed would be inserted again sealed under the
	 * old data key: the caller tries again after the next turn. */
	if (au->keys_state != KEYS_DURABLE)
		return KW_EBUSY;
	sodium_mprotect_readonly(au->sk);
	r = seal_value(new_dk, AUDIT_KEY_NAME, AUDIT_KEY_VERSION, au->sk,
	               AUDIT_SK_BYTES, &ct, &ctlen);
	sodium_mprotect_noaccess(au->sk);
	if (r < 0)
		return r;
	if (ctlen != STORE_AUDIT_SEALED_BYTES)
		r = KW_EINTERNAL;
	if (r == 0)
		r = store_audit_keys_reseal(au->st, ct);
	if (r == 0)
		r = store_subkey_seal(au->st, new_dk, STORE_SUBKEY_AUDIT,
		                      au->key);
	if (r == 0)
		memcpy(ret_sealed, ct, ctlen);
	free(ct);
	return r;
}

void audit_rekeyed(audit *au,
                   const uint8_t sealed[static AUDIT_SEALED_SK_BYTES])
{
	if (au && au->key)
		memcpy(au->sealed, sealed, sizeof(au->sealed));
}

void audit_lock(audit *au)
{
	if (!au || !au->key)
		return;
	/* What was logged while unlocked stays vouched for. A failure is
	 * not fatal: verification then relies on the chain alone. */
	if (checkpoint_owed(au))
		(void)checkpoint_head(au, clock_wall_us());
	drop_keys(au);
}

/* Appends and batches ---------------------------------------------------- */

int audit_append(audit *au, const audit_event *ev, int64_t now_us)
{
	int r;

	if (!au)
		return KW_EINVAL;
	r = event_check(ev);
	if (r < 0)
		return r;
	if (!au->key)
		return queue_event(au, ev, now_us);
	if (!store_batch_active(au->st))
		return KW_ESTATE;
	/* Fail closed: nothing would vouch for this row. */
	if (audit_refusing(au))
		return KW_ESTATE;
	if (au->keys_state == KEYS_UNSAVED) {
		r = store_audit_keys_put(au->st, au->pk, au->sealed,
		                         now_us / 1000000);
		if (r < 0)
			return r;
		au->keys_state = KEYS_IN_BATCH;
	}
	/* A flush that rolled back is redone first, to keep rows in order. */
	if (flush_pending(au)) {
		r = flush_queue(au, now_us);
		if (r < 0)
			return r;
	}
	return append_event(au, ev, now_us);
}

/* store_audit_scan adapter for followers. */
struct notify {
	void (*cb)(const audit_row *row, void *arg);
	void *arg;
	uint64_t last;
};

static int notify_row(const audit_row *row, void *arg)
{
	struct notify *n = arg;

	n->cb(row, n->arg);
	n->last = row->seq;
	return 0;
}

void audit_committed(audit *au, int64_t now_us,
                     void (*cb)(const audit_row *row, void *arg), void *arg)
{
	if (!au)
		return;
	mark_committed(au);
	if (cb) {
		struct notify n = { cb, arg, au->notified };

		while (n.last < au->committed.seq) {
			uint64_t from = n.last;

			if (store_audit_scan(au->st, from, au->committed.seq,
			                     NOTIFY_CHUNK, notify_row,
			                     &n) < 0 ||
			    n.last == from)
				break; /* rows gone (pruned): nothing to say */
		}
	}
	au->notified = au->committed.seq;
	/* By count at most once per gap: each checkpoint costs two disk
	 * syncs on the loop thread, and a busy agent reaches 1000 rows many
	 * times a second. */
	if (au->key && au->cfg.checkpoint_rows > 0 &&
	    au->committed.seq - au->cp_seq >= au->cfg.checkpoint_rows &&
	    now_us - au->cp_us >= (int64_t)au->cfg.checkpoint_gap_ms * 1000)
		(void)checkpoint_head(au, now_us);
}

void audit_rolled_back(audit *au)
{
	if (!au)
		return;
	au->head = au->committed;
	au->queue_in_batch = 0;
	au->dropped_in_batch = 0;
	if (au->keys_state == KEYS_IN_BATCH)
		au->keys_state = KEYS_UNSAVED;
	if (au->notified > au->committed.seq)
		au->notified = au->committed.seq;
}

int audit_checkpoint(audit *au, int64_t now_us)
{
	if (!au)
		return KW_EINVAL;
	if (!au->key)
		return KW_ELOCKED;
	if (!checkpoint_owed(au))
		return 0;
	return checkpoint_head(au, now_us);
}

/* Retention ------------------------------------------------------------- */

/*
 * Delete up to PRUNE_MAX of the oldest rows older than retention_days, in a
 * transaction of its own that first records the last deleted row as the
 * signed anchor (its signature is what vouches for it; checkpoint lines
 * only ever vouch for the head).
 */
static int prune(audit *au, int64_t now_us)
{
	store_audit_anchor a;
	uint32_t days = au->cfg.retention_days;
	int64_t cutoff;
	int r;

	if (days == 0 || store_batch_active(au->st) ||
	    au->keys_state != KEYS_DURABLE)
		return 0;
	if (days > INT64_MAX / US_PER_DAY ||
	    now_us < INT64_MIN + days * US_PER_DAY)
		return 0;
	cutoff = now_us - days * US_PER_DAY;
	r = store_audit_prune_point(au->st, cutoff, PRUNE_MAX, &a.seq, a.hash);
	if (r == KW_ENOTFOUND)
		return 0;
	if (r < 0)
		return r;
	a.ts_us = now_us;
	audit_cp_sign(audit_sk_open(au), a.seq, a.hash, a.sig);
	audit_sk_close(au);
	return store_audit_prune(au->st, &a);
}

int audit_tick(audit *au, int64_t now_us)
{
	int r, r2 = 0;

	if (!au)
		return KW_EINVAL;
	if (!au->key)
		return 0;
	r = prune(au, now_us);
	/* A failing checkpoint is retried at every tick: until it works,
	 * tamper evidence has stopped (and, with refuse, so has service). */
	if (au->cp_failing || au->cp_pending[0] ||
	    (au->cfg.checkpoint_minutes > 0 && au->committed.seq > au->cp_seq &&
	     now_us - au->cp_us >=
	             (int64_t)au->cfg.checkpoint_minutes * US_PER_MIN))
		r2 = checkpoint_head(au, now_us);
	return r < 0 ? r : r2;
}
