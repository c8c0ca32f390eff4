/*
 * rpc_host.h - what the RPC layer (conn.c, dispatch.c, the method files) needs
 * from the program that runs it: the state its methods act on and the few
 * operations only that program can do (the turn's batch, audit rows outside
 * a request, the unlock worker's bookkeeping, a rekey's key switch).
 *
 * core fills one rpc_host in at start and hands it down; rpc never sees
 * core's own types. State the host may replace between requests (the data
 * key on unlock, the policy on reload, the store on recovery) is held by
 * reference: read it through the pointer each time, never cache it. All of
 * it is used from the event loop thread only.
 */
#ifndef KW_RPC_HOST_H
#define KW_RPC_HOST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "audit.h"
#include "config.h"
#include "crypto.h"
#include "loop.h"
#include "peer.h"
#include "policy.h"
#include "ratelimit.h"
#include "rotate.h"
#include "store.h"
#include "unlock.h"

typedef struct conn conn;
typedef struct rpc_host rpc_host;
struct rpc_ctx;

/*
 * A commit or sync failed with an I/O error, so what the disk holds is
 * unknown (docs/audit.md, "Outcome unknown"): the host sets this and
 * clears it once the store is recovered. Only agent.status is served
 * while it is active.
 */
struct rpc_fault {
	bool active;
	int64_t since_us;  /* wall clock, for status */
	int64_t retry_ms;  /* next recovery attempt (loop clock) */
	uint32_t attempts; /* failed recovery attempts so far */
	char cause[200];   /* what failed */
	char waiting[160]; /* what recovery waits for */
};

/* What the host does for rpc. Each gets the rpc_host it was called on. */
typedef struct rpc_host_ops {
	/* The turn's batch: open it (durable), open it for a request whose
	 * only lasting effect is its audit row (synced within flush_ms),
	 * make it roll back with err at the end of the turn, and whether
	 * one is open (answers queued now wait for its commit). 0 or KW_E*. */
	int (*batch)(rpc_host *h);
	int (*batch_read)(rpc_host *h);
	void (*batch_fail)(rpc_host *h, int err);
	bool (*batch_active)(const rpc_host *h);
	/* c has answers waiting for the batch / no longer has / is being
	 * freed (drop every reference the host keeps to it). */
	void (*gate_add)(rpc_host *h, conn *c);
	void (*gate_remove)(rpc_host *h, conn *c);
	void (*conn_gone)(rpc_host *h, conn *c);
	/* A connection of uid closed: release its per-uid count. */
	void (*uid_release)(rpc_host *h, uid_t uid);
	/* Record an event outside a request's own row; 0 or KW_E*. */
	int (*audit)(rpc_host *h, const audit_event *ev);
	/* A sentence for a client saying why the store failed with err. */
	void (*store_why)(const rpc_host *h, int err, char *buf, size_t size);
	/* The data key changed: derive or drop the keys made from it. */
	int (*keys_changed)(rpc_host *h);
	/* Reload the policies; on failure err says why. */
	int (*reload_policy)(rpc_host *h, char *err, size_t errsz);
	/* Start an incremental audit.verify for c (parked until done). */
	int (*verify_start)(rpc_host *h, conn *c);
	/* Keyfile mode: settle a master.key.new a rekey left. */
	int (*keyfile_resolve)(rpc_host *h);
	/* "keyfile" or "passphrase". */
	const char *(*mode_name)(const rpc_host *h);
	/* A rekey written in the open batch has not settled yet. */
	bool (*rekey_pending)(const rpc_host *h);
	/* A passwd's new wrap w was written in the open batch: switch to it
	 * once the batch commits. */
	void (*passwd_stage)(rpc_host *h, const wrapped_key *w);
	/* store.rekey: the method as a whole (it switches the host's keys). */
	int (*store_rekey)(struct rpc_ctx *x, json_t **ret_result);
	/* The worker wrapped new_dk (taken) under new_wrap: write the rekey
	 * into the turn's batch. 0 or KW_E* (x->msg says why). */
	int (*rekey_apply)(struct rpc_ctx *x, kw_key *new_dk,
	                   const wrapped_key *new_wrap, uint64_t *ret_count);
} rpc_host_ops;

struct rpc_host {
	const rpc_host_ops *ops;
	void *core; /* the host's own state, for its ops */

	/* Fixed for the host's life. */
	const kw_config *cfg;
	loop *const *loop;
	const char *socket_path;
	const char *key_path;
	const char *db_path;
	const char *checkpoints_path;
	const char *unsafe_why; /* "" when the home and socket are safe */
	const int64_t *started_ms;
	const struct rpc_fault *fault;

	/* The host's, replaced or changed as it runs. */
	store **st;
	kw_key **dk; /* NULL while locked */
	wrapped_key *wrap;
	audit **au;
	policy **pol;
	uint64_t *policy_gen;
	ratelimit **rate;
	penalty **bad_tokens;
	exe_hash_cache **exe_cache;
	kw_key **token_key;
	kw_key **apikey_key;
	ratelimit **apikey_failures;
	rotate **rot;

	/* The connection list and its count (the host walks it too). */
	conn **conns;
	uint32_t *nconns;

	/* The unlock worker and what rides on it. */
	unlock_worker **worker;
	conn **async_conn; /* parked on the worker; NULL if none */
	uint64_t *lock_epoch;
	unsigned *unlock_failures;
	int64_t *unlock_not_before_ms;

	/* rpc's own: store.backup's snapshot (methods_store.c). */
	struct rpc_backup *backup;
};

/* The code a client gets for a store failure err: err itself if it names
 * a cause a client can act on (disk full, read-only, damaged, I/O), else
 * KW_ESTORE. */
int rpc_store_code(int err);
/* us as "YYYY-MM-DDTHH:MM:SSZ" (at least 21 bytes of buf). */
void rpc_format_utc(int64_t us, char *buf, size_t size);

#endif
