/*
 * agent.h - the daemon's state, shared by the modules of core (agent.c owns
 * it; the RPC layer sees only the rpc_host that host.c points into it).
 * Event loop thread only.
 */
#ifndef KW_AGENT_H
#define KW_AGENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "audit.h"
#include "config.h"
#include "crypto.h"
#include "loop.h"
#include "paths.h"
#include "peer.h"
#include "policy.h"
#include "ratelimit.h"
#include "rotate.h"
#include "rotjob.h"
#include "rpc_host.h"
#include "spawn_client.h"
#include "store.h"
#include "unlock.h"

struct agent_uid_count {
	uid_t uid;
	uint32_t count;
};

typedef struct agent {
	kw_config cfg;
	char home[KW_PATH_MAX];
	char config_path[KW_PATH_MAX];
	char db_path[KW_PATH_MAX];
	char key_path[KW_PATH_MAX];
	char lock_path[KW_PATH_MAX];
	char socket_path[KW_PATH_MAX];
	bool socket_inherited; /* from systemd (LISTEN_FDS): not ours to unlink
	                        */
	/* Why the home, socket directory or socket is unsafe (checked every
	 * sweep); "" when all is well. Every request is refused meanwhile. */
	char unsafe_why[KW_PATH_MAX + 128];

	store *st;
	wrapped_key wrap; /* the wrap in force; its mode is the agent's mode */
	kw_key *dk;       /* the data key; NULL while locked */

	loop *loop;
	int listen_fd;
	loop_watch listen_w;
	bool listen_paused; /* after EMFILE, until listen_resume_ms */
	/* Held open so that, out of descriptors, the agent can still accept
	 * a waiting peer to tell it so (closed, accepted, refused, reopened)
	 * instead of leaving it in the backlog; -1 if it could not be. */
	int reserve_fd;
	bool fds_exhausted; /* logged once until an accept works again */
	int64_t listen_resume_ms;
	int signal_fd;
	loop_watch signal_w;
	int lock_fd;

	conn *conns;
	uint32_t nconns;
	struct agent_uid_count *uids; /* uids_cap >= max_connections */
	uint32_t nuids, uids_cap;

	unlock_worker *worker;
	int worker_fd;
	loop_watch worker_w;
	conn *async_conn;    /* waiting for the worker; NULL if it went away */
	uint64_t lock_epoch; /* bumped by agent.lock: stale unlocks lose */
	/* A passwd wrap written in the open batch, to take effect when the
	 * batch commits (agent_passwd_settle). */
	bool passwd_pending;
	wrapped_key passwd_wrap;
	/* A rekey written in the open batch (rekey.c): the old data key,
	 * back in force if the batch rolls back; NULL when none. */
	struct agent_rekey *rekey;
	unsigned unlock_failures;
	int64_t unlock_not_before_ms;

	/* Access policy (policy.h): replaced whole on reload; policy_gen
	 * tells connections their cached attribution is stale. */
	char policy_dir[KW_PATH_MAX];
	policy *pol;
	uint64_t policy_gen;
	ratelimit *rate;     /* per principal */
	penalty *refused;    /* refused peers, per uid */
	penalty *bad_tokens; /* failed client.hello, per uid */
	exe_hash_cache *exe_cache;
	kw_key *token_key;  /* hashes client tokens; NULL while locked */
	kw_key *apikey_key; /* hashes API keys; NULL while locked */
	ratelimit *apikey_failures; /* failed apikey.verify, per principal */

	/* Audit log (audit.h) and the batch of the current loop turn:
	 * connections whose answers wait for its commit. */
	audit *au;
	char checkpoints_path[KW_PATH_MAX];
	conn **gated;
	uint32_t ngated, gated_cap;
	conn **releasing; /* the list agent_batch_finish is working through */
	uint32_t nreleasing;
	int batch_err; /* agent_batch_fail: roll back with this KW_E* */
	/* The reads' part of this turn's batch, committed early because a
	 * state change joined the turn (agent_batch), failed with this
	 * KW_E*: the turn's answers get it too. 0 if not. */
	int turn_err;
	/* Light batches committed without a sync: when they must be synced
	 * ([audit] flush_ms after the first; 0 = nothing unsynced). */
	int64_t sync_due_ms;
	/* A commit or sync failed with an I/O error, so what the disk holds
	 * is unknown (docs/audit.md, "Outcome unknown"). Until
	 * agent_store_recover has reopened the store and a full sync has
	 * succeeded, no batch opens: only agent.status is served. */
	struct rpc_fault fault;        /* rpc_host.h */
	struct agent_verify *verifies; /* audit.verify jobs in progress */
	bool accept_loss;         /* keywardd --accept-loss (audit_startup) */
	uint64_t cp_changes_seen; /* audit_cp_status.changes last logged */
	bool cp_saw_fault;        /* fault.active at the last look */
	rotate *rot;              /* the rotation engine */
	/* keyward-net, started before the store opens, until rot takes it. */
	httpc *net;
	char net_why[ROTJOB_DETAIL_MAX];
	/* The command spawner, forked before the store opens (spawner.h). */
	spawn_client *spawn;
	/* It died: stop in order, then exit EX_TEMPFAIL (keywardd(8)). */
	bool spawner_lost;
	/* The exit status agent_run's caller should use (0: its result's). */
	int exit_status;
	/* The sandbox applied (sandbox.h); false with --no-sandbox. */
	bool confined;
	/* What the RPC layer acts on (host.c fills it in). */
	rpc_host rpc;

	int64_t started_ms;
	int64_t next_sweep_ms;
	bool stopping;
	int64_t stop_deadline_ms;
} agent;

/* agent_init flags: go on after rows the audit checkpoints (or the
 * anchor) signed were lost, recording the loss (audit_startup). */
#define AGENT_ACCEPT_LOSS 1u
/* keywardd --no-sandbox: do not confine the key holder (valgrind, which
 * runs the client's system calls itself, cannot run under a filter). */
#define AGENT_NO_SANDBOX 2u

/* Start: paths, permission checks, store, key, socket, signals. Logs and
 * returns a negative KW_E* on failure (nothing left running). */
int agent_init(agent *a, const char *home_override, const char *config_path,
               const char *socket_override, unsigned flags);
/* Print the socket path agent_init would listen on (for scripts). */
int agent_print_socket(const char *home_override, const char *config_path,
                       const char *socket_override);
/* Run until SIGTERM/SIGINT and the drain that follows. 0 or KW_E*. */
int agent_run(agent *a);
/* One turn of agent_run's loop: wait for events (until the next sweep is
 * due, and at most max_wait_ms unless it is negative), handle them, run the
 * periodic work, commit the turn's batch and release its answers. For
 * programs that drive the agent themselves (the fuzz targets). 0 or
 * KW_EIO. */
int agent_turn(agent *a, int max_wait_ms);
/* Admit fd, a connected Unix stream socket, as the listener admits an
 * accepted one: peer credentials, policy, connection limits, then a
 * connection. fd is the agent's in every case (closed on refusal). */
void agent_adopt(agent *a, int fd);
void agent_fini(agent *a);

/* Connection accounting, for conn.c. */
bool agent_uid_admit(agent *a, uid_t uid);
void agent_uid_release(agent *a, uid_t uid);

/* Load the policies into a new policy and swap it in. On failure the old
 * one stays and err says why ("FILE:LINE: why"). */
int agent_reload_policy(agent *a, char *err, size_t errsz);
/* The data key changed (unlock/lock): derive or drop keys made from it. */
int agent_keys_changed(agent *a);

/*
 * Group commit (one batch per loop turn). agent_batch opens it if needed;
 * agent_batch_fail makes the end of the turn roll it back (an audit row
 * could not be written: nothing it covers may happen; err says why).
 * Connections with answers waiting register with agent_gate_add.
 *
 * agent_batch_read is for requests whose only lasting effect is their
 * audit row: while a turn has only those, its batch commits without a
 * disk sync (store_batch_begin_light), and the rows are synced within
 * [audit] flush_ms. When a state change joins such a turn, agent_batch
 * commits the reads' part first and opens a durable batch for the rest;
 * no answer of the turn goes out unless both parts commit.
 */
int agent_batch(agent *a);
int agent_batch_read(agent *a);
void agent_batch_fail(agent *a, int err);
/* A batch is open this turn: answers queued now wait for its commit. */
bool agent_batch_active(const agent *a);
/*
 * A sentence for a client saying why the store could not do something:
 * err (a KW_E* from the store) with the file or filesystem it concerns
 * ("disk full on the filesystem of PATH", ...), into buf.
 */
void agent_store_why(const agent *a, int err, char *buf, size_t size);
/* The code a client gets for a store failure err: err itself if it names
 * a cause a client can act on (disk full, read-only, damaged, I/O),
 * else KW_ESTORE. */
static inline int agent_store_code(int err)
{
	return rpc_store_code(err);
}
void agent_gate_add(agent *a, conn *c);
void agent_gate_remove(agent *a, conn *c);
/* c is being freed: drop any reference the agent keeps to it. */
void agent_conn_gone(agent *a, conn *c);
/* Record an event outside a request (start, stop, refused peer, reload):
 * opens the batch if needed; failures are logged, nothing to fail. */
int agent_audit(agent *a, const audit_event *ev);
/* Start an incremental audit.verify for c (parked until done). */
int agent_verify_start(agent *a, conn *c);
/* us as "YYYY-MM-DDTHH:MM:SSZ" (at least 21 bytes of buf). */
static inline void agent_format_utc(int64_t us, char *buf, size_t size)
{
	rpc_format_utc(us, buf, size);
}

/*
 * Keyfile mode: settle a master.key.new that a rekey left (rekey.c):
 * promote it if it opens the store's wrap, else remove it if master.key
 * opens it. 0 if nothing is left to do; KW_EBADPASS if neither opens the
 * store, KW_EIO if a rename or removal failed (logged).
 */
int agent_keyfile_resolve(agent *a);
/* After the turn's batch: a rekey's new key stays (err 0: master.key.new
 * replaces master.key), or the old one comes back; in doubt
 * (KW_EUNKNOWN) both stay until agent_rekey_recovered. */
void agent_rekey_settle(agent *a, int err);
/* The store was recovered with wrap w: settle a rekey in doubt by it. */
void agent_rekey_recovered(agent *a, const wrapped_key *w);
/* Shutting down: free a pending rekey's keys; its files stay for
 * agent_keyfile_resolve. */
void agent_rekey_drop(agent *a);

/* "keyfile" or "passphrase". */
const char *agent_mode_name(const agent *a);

/* Point a->rpc at a's state and at the operations below (host.c). */
void agent_rpc_host_init(agent *a);
/* store.rekey, for rpc (rekey.c): keyfile mode here, passphrase mode
 * through the unlock worker (methods_rekey_submit). */
int agent_store_rekey(struct rpc_ctx *x, json_t **ret_result);
/* The worker wrapped new_dk (taken) under new_wrap: write the rekey into
 * the turn's batch (rekey.c). 0 or KW_E* (x->msg says why). */
int agent_rekey_apply(struct rpc_ctx *x, kw_key *new_dk,
                      const wrapped_key *new_wrap, uint64_t *ret_count);

#endif
