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
#define AUDIT_SIG_BYTES    STORE_AUDIT_SIG_BYTES
#define AUDIT_PK_BYTES     STORE_AUDIT_PK_BYTES
#define AUDIT_SK_BYTES     64u
/* The longest line the checkpoint file may hold, newline included: u64
 * (20), 64 hex digits, 88 base64 characters, i64 (20), three spaces and
 * the newline make at most 196. */
#define AUDIT_CP_LINE_MAX 200u
/* The checkpoint key's sealing identity (crypto_seal_value's ad). */
#define AUDIT_KEY_NAME    "audit/checkpoint-key"
#define AUDIT_KEY_VERSION 1u

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
	uint64_t seq;
	uint8_t hash[AUDIT_HASH_BYTES];
	uint8_t sig[AUDIT_SIG_BYTES];
	int64_t ts_us;
} audit_cp;
/* "seq hexhash base64sig unix_us\n" into buf (AUDIT_CP_LINE_MAX + 1);
 * returns its length. */
size_t audit_cp_format(const audit_cp *cp, char *buf, size_t bufsz);
/* One line without its newline; KW_EINVAL if it is not exactly that. */
int audit_cp_parse(const char *line, size_t len, audit_cp *ret_cp);
/*
 * Sign (seq, hash) and append the line to the checkpoint file (created
 * 0600, never through a symlink, fsync'd). KW_ELOCKED without a signing
 * key that is durable in the store: a key that a rollback took away would
 * leave lines that no stored key verifies. KW_EPERM if the file is not a
 * regular file of ours closed to others; KW_EIO.
 */
int audit_cp_write(audit *au, uint64_t seq,
                   const uint8_t hash[static AUDIT_HASH_BYTES], int64_t now_us);

/* audit.c ----------------------------------------------------------------- */

/* Open the signing key read-only / close it again. */
const uint8_t *audit_sk_open(audit *au);
void audit_sk_close(audit *au);

#endif
