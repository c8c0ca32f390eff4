/*
 * audit_int.h - what the audit module's files share (audit.c: lifecycle,
 * appends, checkpoints, retention; audit_chain.c: the canonical encoding,
 * the chain hash and the checkpoint format; audit_verify.c; audit_query.c)
 * and nothing else may use.
 */
#ifndef KW_AUDIT_INT_H
#define KW_AUDIT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit.h"
#include "crypto.h"
#include "store.h"
#include "store_audit.h"

#define AUDIT_STR_MAX      4096u /* bytes of exe, principal, name */
#define AUDIT_CP_TAG       "keyward-audit-checkpoint-v1"
#define AUDIT_CP_TAG_BYTES (sizeof(AUDIT_CP_TAG) - 1)
#define AUDIT_CP_MSG_BYTES (AUDIT_CP_TAG_BYTES + 8 + AUDIT_HASH_BYTES)
/* Chained lines sign "keyward-audit-checkpoint-v2" || seq (u64 BE) ||
 * hash[seq] || prev || unix_us (i64 BE), prev being the BLAKE2b-256 of
 * the line before (its bytes without the newline; zeros for the first). */
#define AUDIT_CP2_TAG       "keyward-audit-checkpoint-v2"
#define AUDIT_CP2_TAG_BYTES (sizeof(AUDIT_CP2_TAG) - 1)
#define AUDIT_CP2_MSG_BYTES (AUDIT_CP2_TAG_BYTES + 8 + 2 * AUDIT_HASH_BYTES + 8)
#define AUDIT_SIG_BYTES     STORE_AUDIT_SIG_BYTES
#define AUDIT_PK_BYTES      STORE_AUDIT_PK_BYTES
#define AUDIT_SK_BYTES      64u
/* The longest line the checkpoint file may hold, newline included: u64
 * (20), two hashes of 64 hex digits, 88 base64 characters, i64 (20), four
 * spaces and the newline make at most 261 (an old-format line, without
 * the second hash, 196). */
#define AUDIT_CP_LINE_MAX 264u
_Static_assert(AUDIT_CP_LINE_MAX + 1 == STORE_AUDIT_LINE_MAX,
               "the store records a whole checkpoint line");
/* The checkpoint key's sealing identity (seal_value's ad). */
#define AUDIT_KEY_NAME    "audit/checkpoint-key"
#define AUDIT_KEY_VERSION 1u

/* The op of the row that records an accepted loss (audit_startup). */
#define AUDIT_OP_LOSS "audit.loss_accepted"

/* An event held while locked; its strings are owned copies. */
typedef struct audit_queued {
	audit_event ev;
	int64_t ts_us;
} audit_queued;

/* Where the checkpoint key is with respect to the database. */
enum audit_keys_state {
	KEYS_DURABLE,  /* committed */
	KEYS_IN_BATCH, /* inserted in the open batch */
	KEYS_UNSAVED,  /* that batch rolled back: insert again */
};

/* A position in the chain: the row seq (0: none yet) and its hash. */
typedef struct audit_pos {
	uint64_t seq;
	int64_t ts_us; /* INT64_MIN if no row to compare with */
	uint8_t hash[AUDIT_HASH_BYTES];
} audit_pos;

struct audit {
	store *st;
	char *cp_path;
	audit_config cfg;

	/* Unlocked state: all NULL/zero while locked. */
	kw_key *key; /* audit_key */
	uint8_t *sk; /* sodium_malloc, no-access while idle */
	uint8_t pk[AUDIT_PK_BYTES];
	uint8_t sealed[STORE_AUDIT_SEALED_BYTES]; /* sk as stored */
	int keys_state;                           /* enum audit_keys_state */

	audit_pos head;      /* the last row appended, this batch included */
	audit_pos committed; /* the head when the last batch committed */
	uint64_t notified;   /* rows up to here were given to followers */
	uint64_t cp_seq;     /* last checkpoint's seq (0: none since open) */
	int64_t cp_us;       /* and when it was written */

	/* The checkpoint file as this process knows it (audit_cpfile.c). */
	char *anchor_path;                   /* [audit] anchor; NULL: none */
	uint64_t cp_lines;                   /* complete lines in the file */
	char cp_last[AUDIT_CP_LINE_MAX + 1]; /* the last, no newline; "" */
	uint64_t cp_file_seq; /* the newest row the file vouches for */
	char cp_max_line[AUDIT_CP_LINE_MAX + 1]; /* the line that does */
	/* The file does not hold the store's record of its newest line:
	 * cp_mismatch_lines lines, the record is line cp_mismatch_want. */
	bool cp_mismatch;
	uint64_t cp_mismatch_lines, cp_mismatch_want;
	/* A line recorded in the store (store_audit_cp_put) but not yet in
	 * the file: appended before any newer one. "" if none. */
	char cp_pending[AUDIT_CP_LINE_MAX + 1];
	bool anchor_behind; /* the anchor lacks cp_last */
	/* Checkpoints cannot be written: since when and why (logged once
	 * per change of state; agent.status, audit verify "stale"). */
	bool cp_failing;
	int64_t cp_fail_since_us;
	char cp_fail_why[192];
	uint64_t cp_changes; /* counts changes of cp_failing */

	audit_queued *queue; /* oldest first */
	size_t queued;
	size_t queue_cap;
	size_t queue_in_batch; /* leading entries appended in the open batch */
	uint64_t dropped;      /* events not queued since the last record */
	uint64_t dropped_in_batch; /* of which recorded in the open batch */
};

/* audit_chain.c ----------------------------------------------------------- */

/* hash = BLAKE2b-256 keyed with key over prev || canonical(row). */
void audit_chain_hash(kw_key *key, const uint8_t prev[static AUDIT_HASH_BYTES],
                      const audit_row *row,
                      uint8_t ret_hash[static AUDIT_HASH_BYTES]);
/* The message a checkpoint or the anchor signs. */
void audit_cp_message(uint8_t ret_msg[static AUDIT_CP_MSG_BYTES], uint64_t seq,
                      const uint8_t hash[static AUDIT_HASH_BYTES]);
/* Sign (seq, hash) with sk (AUDIT_SK_BYTES, readable). */
void audit_cp_sign(const uint8_t *sk, uint64_t seq,
                   const uint8_t hash[static AUDIT_HASH_BYTES],
                   uint8_t ret_sig[static AUDIT_SIG_BYTES]);
bool audit_cp_check(const uint8_t pk[static AUDIT_PK_BYTES], uint64_t seq,
                    const uint8_t hash[static AUDIT_HASH_BYTES],
                    const uint8_t sig[static AUDIT_SIG_BYTES]);

typedef struct audit_cp {
	int format; /* 1: "seq hash sig us" (old); 2: chained */
	uint64_t seq;
	uint8_t hash[AUDIT_HASH_BYTES];
	uint8_t prev[AUDIT_HASH_BYTES]; /* format 2 only */
	uint8_t sig[AUDIT_SIG_BYTES];
	int64_t ts_us;
} audit_cp;
/* "seq hexhash hexprev base64sig unix_us\n" (format 2) into buf
 * (AUDIT_CP_LINE_MAX + 1); returns its length, 0 if it does not fit. */
size_t audit_cp_format(const audit_cp *cp, char *buf, size_t bufsz);
/* One line without its newline, in either format; KW_EINVAL if it is not
 * exactly that. */
int audit_cp_parse(const char *line, size_t len, audit_cp *ret_cp);
/* Sign cp (format 2: seq, hash, prev, ts_us) into cp->sig. */
void audit_cp2_sign(const uint8_t *sk, audit_cp *cp);
/* The signature of cp is good (either format). */
bool audit_cp_valid(const uint8_t pk[static AUDIT_PK_BYTES],
                    const audit_cp *cp);
/* BLAKE2b-256 of a line's bytes (without its newline): the next line's
 * prev. */
void audit_cp_line_hash(const char *line, size_t len,
                        uint8_t ret_hash[static AUDIT_HASH_BYTES]);
/*
 * Append line (newline included) to the file at path, all or nothing:
 * created 0600, never through a symlink, refused unless a regular file of
 * ours closed to others (KW_EPERM). A provably torn last line (bytes after
 * the last newline, fewer than a line's worth: only an interrupted append
 * leaves them) is cut off first; a line already at the end is not written
 * twice. On a short write or a failed fsync the file is truncated back to
 * where it was. KW_EIO with *ret_errno set to the cause.
 */
int audit_cp_append(const char *path, const char *line, size_t len,
                    int *ret_errno);

/* audit.c ----------------------------------------------------------------- */

/* Open the signing key read-only / close it again. */
const uint8_t *audit_sk_open(audit *au);
void audit_sk_close(audit *au);

/* audit_cpfile.c ----------------------------------------------------------- */

/* Read the checkpoint file (lines, last line, newest seq) and the store's
 * record of it; a line the store has and the file lacks becomes pending. */
int audit_cpfile_load(audit *au);
/*
 * Vouch for the committed head: sync the store, sign a chained line,
 * record it in the store (a transaction of its own, after the rows it
 * covers), then append it to the file and the anchor. A pending line goes
 * first. Failures set the failing state (logged once) and are returned.
 */
int audit_cpfile_checkpoint(audit *au, int64_t now_us);
/* Rows in [from, upto] were lost and accepted (store_audit_gap_*): the
 * checkpoint lines vouching for them are void. */
int audit_cpfile_in_gap(audit *au, uint64_t seq, bool *ret_void);

#endif
