/*
 * audit.h - the tamper-evident audit log (docs/audit.md).
 *
 * Rows live in the store (table audit, migration 3) and form a hash chain:
 *     hash[n] = BLAKE2b-256 keyed with audit_key over
 *               hash[n-1] || canonical(row n)
 * where audit_key was derived from the data key (key_derive, id 2,
 * context "kwaudit_") and is kept sealed under it (store_keys.h, so a
 * rekey keeps it), so only the unlocked agent can extend or verify the
 * chain, and canonical() is a fixed, length-prefixed binary encoding of
 * every column but hash (docs/audit.md gives it byte by byte). hash[0] of
 * the first row chains from 32 zero bytes, or from the anchor left by
 * retention pruning.
 *
 * Checkpoints: every checkpoint_rows rows (at most one per
 * checkpoint_gap_ms) or checkpoint_minutes minutes, and when the agent stops,
 * the agent signs (Ed25519; the secret key is sealed in the store under the
 * data key, the public key kept beside it) the message
 * "keyward-audit-checkpoint-v2" || seq (u64 BE) || hash[seq] || prev ||
 * unix_us (i64 BE), prev being the hash of the line before, records the
 * line in the store (audit_cp_head) and then appends
 * "seq hexhash hexprev base64sig unix_us" to the checkpoints file
 * ($KEYWARD_HOME/audit.checkpoints, 0600) and the anchor, so deleting the
 * newest rows, and cutting the file back, are detected too.
 *
 * Appends happen inside the caller's open store transaction (store_batch)
 * so a row commits or rolls back with the change it records; the caller
 * releases nothing a row records until the batch has committed. While the
 * agent is locked there is no audit_key: rows are queued in memory
 * (bounded) and chained at the next unlock; a full queue counts what it
 * drops and records the count as a row at unlock.
 *
 * Never a value, token or passphrase: events carry identifiers only.
 * Single-threaded: the agent's event loop.
 */
#ifndef KW_AUDIT_H
#define KW_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "crypto.h"
#include "store.h"
#include "store_audit.h" /* audit_row, audit_count, audit_outcome */

#define AUDIT_OP_MAX     64u   /* bytes of an op name */
#define AUDIT_REASON_MAX 256u  /* longer reasons are cut at a UTF-8 boundary */
#define AUDIT_QUEUE_MAX  4096u /* rows held while locked */

/* "ok", "denied", "error", "rate_limited"; parse returns 0 or KW_EINVAL. */
const char *audit_outcome_name(int outcome);
int audit_outcome_parse(const char *s, int *ret_outcome);

/* One event to record. Strings may be NULL (stored as NULL). */
typedef struct audit_event {
	uid_t uid;
	pid_t pid;
	const char *exe;       /* the peer's executable, NULL if unknown */
	const char *principal; /* the policy section, NULL if none */
	const char *op;        /* "secret.get", "peer.refused", "agent.start" */
	const char *name;      /* a secret or client name, NULL if none */
	uint64_t version;      /* 0 if none */
	int outcome;           /* enum audit_outcome */
	const char *reason;    /* NULL or a short sentence; never a value */
} audit_event;

typedef struct audit_config {
	uint32_t checkpoint_rows;    /* 0: never by count */
	uint32_t checkpoint_gap_ms;  /* count-based ones at least this apart */
	uint32_t checkpoint_minutes; /* 0: never by time */
	uint32_t retention_days;     /* 0: keep forever */
	bool syslog;                 /* also log each checkpoint to syslog */
	/* Audited requests fail (KW_ESTATE) while checkpoints cannot be
	 * written ([audit] checkpoint_failure = refuse). */
	bool refuse_unvouched;
	/* [audit] anchor: a copy of each checkpoint line, checked at start
	 * (audit_startup); NULL for none. Copied. */
	const char *anchor_path;
} audit_config;

typedef struct audit audit;

/* Load the chain head from the store and read the checkpoint file
 * (checkpoints_path). Locked until audit_unlock. */
int audit_open(store *st, const char *checkpoints_path, const audit_config *cfg,
               audit **ret_audit);
void audit_close(audit *au);
/*
 * The store was reopened after a commit whose outcome is unknown
 * (store_reopen): take the head from the store again (the rows of that
 * commit may be there or not), the newest checkpoint line it recorded
 * (compared with the checkpoint file as at start), and whether the
 * checkpoint key was stored. Keys and the queue kept while locked stay.
 * Outside a batch only.
 */
int audit_reload(audit *au);
/* KW_ENOMEM if the anchor path cannot be copied (the old config stays). */
int audit_configure(audit *au, const audit_config *cfg);

/*
 * At start, before audit_unlock: compare the store with the checkpoint
 * file and the anchor. If either has a signed line for a row the store
 * does not have, the store lost rows it had committed (its -wal deleted,
 * or it and the checkpoint file restored from a backup): KW_ESTATE, and
 * msg (a sentence naming the rows and the fix) says so, unless accept:
 * then the chain goes on after that line, the loss is recorded (store
 * table audit_gaps, and an audit.loss_accepted row, queued until the
 * unlock) and msg says what was accepted. 0 with msg "" when all agree,
 * or with a warning to log in msg. Other KW_E* on store errors.
 */
int audit_startup(audit *au, bool accept, int64_t now_us, char *msg,
                  size_t msgsz);

/*
 * Open audit_key from the store (store_subkey_load: sealed under the data
 * key, derived and stored the first time) and load (or, the first time,
 * create and store inside its own transaction) the checkpoint signing key.
 * Then append the queued rows in one transaction. 0 or KW_E*.
 */
int audit_unlock(audit *au, kw_key *dk, int64_t now_us);
/*
 * A rekey, in the open batch: re-seal the checkpoint signing key and
 * audit_key under new_dk in the store; *ret_sealed is the new sealed
 * signing key, for audit_rekeyed once the batch has committed. KW_ESTATE
 * if locked or no batch is open; KW_EBUSY if the signing key is not yet
 * committed (try again after this turn).
 */
#define AUDIT_SEALED_SK_BYTES 104u /* a sealed Ed25519 secret key */
int audit_rekey(audit *au, kw_key *new_dk,
                uint8_t ret_sealed[static AUDIT_SEALED_SK_BYTES]);
void audit_rekeyed(audit *au,
                   const uint8_t sealed[static AUDIT_SEALED_SK_BYTES]);
/* Drop the keys; later rows queue until the next unlock. */
void audit_lock(audit *au);
bool audit_unlocked(const audit *au);

/*
 * Record ev. Unlocked: inserts the chained row in the store's open batch
 * (store_batch_begin must have been called; KW_ESTATE otherwise) and
 * returns its result; the caller fails closed on any error. Locked:
 * queues it and returns 0.
 */
int audit_append(audit *au, const audit_event *ev, int64_t now_us);

/*
 * The batch committed: rows appended since the last audit_committed or
 * audit_rolled_back are durable. Calls cb for each (for followers) in
 * order, then writes a checkpoint if one is due by count.
 */
void audit_committed(audit *au, int64_t now_us,
                     void (*cb)(const audit_row *row, void *arg), void *arg);
/* The batch rolled back: forget rows appended since the last commit. */
void audit_rolled_back(audit *au);
/* A checkpoint now (at stop), if any row came after the last one. */
int audit_checkpoint(audit *au, int64_t now_us);

/* Whether checkpoints can be written (agent.status, logging). */
typedef struct audit_cp_status {
	bool failing;     /* the last attempt failed */
	int64_t since_us; /* since when (unix microseconds) */
	char why[192];    /* the last failure: file and cause */
	uint64_t
		newest_seq; /* the newest row the checkpoint file vouches for */
	uint64_t log_seq;   /* the newest committed row */
	uint64_t changes;   /* bumped each time failing changes */
} audit_cp_status;
void audit_cp_state(const audit *au, audit_cp_status *ret);
/* Unlocked, checkpoints failing and refuse_unvouched: audit_append would
 * refuse, so requests that need a row should not start. */
bool audit_refusing(const audit *au);
/*
 * Periodic work, outside any batch: a checkpoint due by time, and
 * retention pruning (in bounded transactions of its own, leaving a signed
 * anchor so verification starts from the oldest kept row).
 */
int audit_tick(audit *au, int64_t now_us);

/* Queries --------------------------------------------------------------- */

typedef struct audit_filter {
	int64_t since_us;      /* 0: no lower bound */
	int64_t until_us;      /* 0: no upper bound */
	const char *name_glob; /* kw_glob_match on name; NULL: any */
	const char *principal; /* exact; NULL: any */
	const char *op;        /* exact; NULL: any */
	int outcome;           /* -1: any */
	uint64_t before_seq;   /* page cursor: only seq < before_seq; 0: none */
	uint64_t after_seq;    /* only seq > after_seq; 0: none */
	bool ascending;        /* order by seq ascending (default newest
	                          first) */
	uint32_t limit;        /* rows to return, 1..1000 */
	uint32_t scan_max;     /* rows to examine at most (bounds one call) */
} audit_filter;

/*
 * Rows matching f, newest first unless ascending, at most limit, examining
 * at most scan_max rows. *ret_cursor is the seq to continue from (pass as
 * before_seq, or after_seq when ascending), 0 when there are no more.
 */
int audit_query(audit *au, const audit_filter *f,
                int (*cb)(const audit_row *row, void *arg), void *arg,
                uint64_t *ret_cursor);

/* Counts grouped by (principal, op, outcome) for rows since since_us. */
int audit_stats(audit *au, int64_t since_us,
                int (*cb)(const audit_count *c, void *arg), void *arg);

/* Verification (incremental, so a large log never stalls the loop) ---- */

enum audit_break {
	AUDIT_INTACT = 0,
	AUDIT_EDITED,         /* a row's contents do not match its hash */
	AUDIT_DELETED,        /* a sequence number is missing */
	AUDIT_REORDERED,      /* rows are out of time order */
	AUDIT_TRUNCATED,      /* rows a checkpoint vouches for are gone */
	AUDIT_BAD_CHECKPOINT, /* a checkpoint is wrong, missing or torn */
	AUDIT_STALE,          /* intact, but checkpoints cannot be written */
};
const char *audit_break_name(int kind); /* "intact", "edited", ... */

typedef struct audit_verify audit_verify;
typedef struct audit_verify_result {
	int kind;             /* enum audit_break */
	uint64_t seq;         /* first broken sequence number (0 if intact) */
	uint64_t rows;        /* rows checked */
	uint64_t checkpoints; /* checkpoints checked */
	uint64_t lost;        /* rows lost and accepted (--accept-loss) */
	char detail[224];
} audit_verify_result;

/* KW_ELOCKED if locked. */
int audit_verify_begin(audit *au, audit_verify **ret_verify);
/* Check up to max_rows more rows; *ret_done when finished (result set). */
int audit_verify_step(audit_verify *v, uint32_t max_rows, bool *ret_done,
                      audit_verify_result *ret_result);
void audit_verify_free(audit_verify *v);

#endif
