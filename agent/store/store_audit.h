/*
 * store_audit.h - the audit log's tables in the store (migration 3; the
 * format is in docs/audit.md). Only audit.c and its files call these: the
 * store keeps rows, the anchor and the checkpoint key, and knows nothing of
 * the chain or of signatures.
 *
 * Rows are read into an audit_row whose strings point into SQLite's
 * buffers: valid during the callback only. A row that cannot be read
 * faithfully (a text column with an embedded NUL, a number out of its C
 * type's range: only a raw edit makes one) is passed on with an all-zero
 * hash, which no chained row has, so verification reports it as edited.
 */
#ifndef KW_STORE_AUDIT_H
#define KW_STORE_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "store.h"

#define AUDIT_HASH_BYTES 32u

/* audit_row.outcome (a stored column) */
enum audit_outcome {
	AUDIT_OK = 0,
	AUDIT_DENIED = 1,
	AUDIT_ERROR = 2,
	AUDIT_RATE_LIMITED = 3,
};

/* A stored row (strings valid during the callback only). The audit log
 * (audit.h) hands these to its callers too. */
typedef struct audit_row {
	uint64_t seq;
	int64_t ts_us; /* unix microseconds, UTC */
	uid_t uid;
	pid_t pid;
	const char *exe, *principal, *op, *name, *reason; /* NULL if none */
	uint64_t version;
	int outcome;
	uint8_t hash[AUDIT_HASH_BYTES];
} audit_row;

/* Rows counted by (principal, op, outcome) (audit_stats). */
typedef struct audit_count {
	const char *principal, *op; /* NULL: none */
	int outcome;
	uint64_t count;
} audit_count;

#define STORE_AUDIT_SIG_BYTES 64u
#define STORE_AUDIT_PK_BYTES  32u
/* An Ed25519 secret key (64 bytes) sealed by seal_value. */
#define STORE_AUDIT_SEALED_BYTES (64u + SEAL_OVERHEAD)

typedef int (*store_audit_row_cb)(const audit_row *row, void *arg);

/* Insert row (seq and hash already set by the chain). */
int store_audit_insert(store *s, const audit_row *row);
/* The newest row's seq, ts_us and hash; KW_ENOTFOUND if there is none. */
int store_audit_head(store *s, uint64_t *ret_seq, int64_t *ret_ts_us,
                     uint8_t ret_hash[static AUDIT_HASH_BYTES]);
/*
 * Rows with after < seq <= upto in seq order, at most max of them. 0 when
 * done, cb's non-zero return (which stops), or KW_E*.
 */
int store_audit_scan(store *s, uint64_t after, uint64_t upto, uint32_t max,
                     store_audit_row_cb cb, void *arg);
/* The stored hash of row seq; KW_ENOTFOUND if no such row. */
int store_audit_hash_at(store *s, uint64_t seq,
                        uint8_t ret_hash[static AUDIT_HASH_BYTES]);
/* ts_us of the first row after seq; KW_ENOTFOUND if none. */
int store_audit_next_ts(store *s, uint64_t seq, int64_t *ret_ts_us);

/* Queries ----------------------------------------------------------------- */

/*
 * The seq of the first row (by time) with ts_us >= ts (at_least) or of the
 * last with ts_us <= ts (!at_least), through the ts_us index. KW_ENOTFOUND
 * if none.
 */
int store_audit_seq_by_ts(store *s, int64_t ts, bool at_least,
                          uint64_t *ret_seq);

typedef struct store_audit_page {
	uint64_t lo, hi;       /* lo < seq < hi */
	int64_t since_us;      /* ts_us >= since_us */
	int64_t until_us;      /* ts_us <= until_us */
	const char *op;        /* NULL: any */
	const char *principal; /* NULL: any */
	int outcome;           /* -1: any */
	bool ascending;
	uint32_t max; /* rows to examine */
} store_audit_page;
/*
 * Examine up to p->max rows in seq order (descending unless ascending):
 * cb gets each with *matched set to whether it passes the SQL filters
 * (ts, op, principal, outcome). 0, cb's non-zero return, or KW_E*.
 */
int store_audit_page_scan(store *s, const store_audit_page *p,
                          int (*cb)(const audit_row *row, bool matched,
                                    void *arg),
                          void *arg);
/* Counts grouped by (principal, op, outcome) over ts_us >= since_us. */
int store_audit_stats(store *s, int64_t since_us,
                      int (*cb)(const audit_count *c, void *arg), void *arg);

/* Retention ---------------------------------------------------------------- */

/*
 * The newest of the oldest rows (at most max, in seq order) that all have
 * ts_us < cutoff_us: the row up to which pruning may delete, stopping at
 * the first row that is not old enough. KW_ENOTFOUND if the oldest row is
 * not old enough, or there are no rows.
 */
int store_audit_prune_point(store *s, int64_t cutoff_us, uint32_t max,
                            uint64_t *ret_seq,
                            uint8_t ret_hash[static AUDIT_HASH_BYTES]);
typedef struct store_audit_anchor {
	uint64_t seq; /* the last pruned row */
	uint8_t hash[AUDIT_HASH_BYTES];
	uint8_t sig[STORE_AUDIT_SIG_BYTES];
	int64_t ts_us; /* when it was pruned */
} store_audit_anchor;
/* KW_ENOTFOUND if nothing was ever pruned. */
int store_audit_anchor_get(store *s, store_audit_anchor *ret_anchor);
/*
 * In one transaction (a savepoint inside a batch): make a the anchor and
 * delete every row with seq <= a->seq.
 */
int store_audit_prune(store *s, const store_audit_anchor *a);

/* The checkpoint key ------------------------------------------------------- */

/* KW_ENOTFOUND if none yet. */
int store_audit_keys_get(store *s,
                         uint8_t ret_public[static STORE_AUDIT_PK_BYTES],
                         uint8_t ret_sealed[static STORE_AUDIT_SEALED_BYTES]);
/* KW_EEXIST if there is one already: the key is made once. One INSERT:
 * outside a batch it is a transaction of its own. */
int store_audit_keys_put(store *s,
                         const uint8_t public_key[static STORE_AUDIT_PK_BYTES],
                         const uint8_t sealed[static STORE_AUDIT_SEALED_BYTES],
                         int64_t created);
/* Replace the sealed secret key (a rekey); KW_ENOTFOUND if there is no
 * key. */
int store_audit_keys_reseal(
	store *s, const uint8_t sealed[static STORE_AUDIT_SEALED_BYTES]);

/* Checkpoint lines and accepted losses (migration 7) ---------------------- */

#define STORE_AUDIT_LINE_MAX 265u /* a checkpoint line and its NUL */

/* The newest line of the checkpoint file: its number (1 = first), the
 * seq it vouches for and its text without the newline. */
typedef struct store_audit_cp_line {
	int64_t line_no;
	int64_t seq;
	char line[STORE_AUDIT_LINE_MAX];
} store_audit_cp_line;
/* KW_ENOTFOUND if none was recorded (a store older than migration 7). */
int store_audit_cp_get(store *s, store_audit_cp_line *ret_line);
/* Replace the record: one statement, so a transaction of its own outside a
 * batch. */
int store_audit_cp_put(store *s, const store_audit_cp_line *l);

/* Rows lost_from..seq were lost and the loss accepted: the chain resumes
 * after seq from the hash that line (a signed checkpoint line) gives. */
typedef struct store_audit_gap {
	int64_t seq;
	int64_t lost_from;
	char line[STORE_AUDIT_LINE_MAX];
} store_audit_gap;
/* Nothing if a gap ends at seq already. now: unix seconds. */
int store_audit_gap_put(store *s, const store_audit_gap *g, int64_t now);
/* The gap that ends at seq / covers seq / ends last; KW_ENOTFOUND. */
int store_audit_gap_at(store *s, int64_t seq, store_audit_gap *ret_gap);
int store_audit_gap_covering(store *s, int64_t seq, store_audit_gap *ret_gap);
int store_audit_gap_newest(store *s, store_audit_gap *ret_gap);

#endif
