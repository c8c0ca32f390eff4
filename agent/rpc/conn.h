/*
 * conn.h - one client connection of keywardd.
 *
 * A connection reads newline-framed requests into a bounded framer, hands
 * each complete line to dispatch, and queues responses in a bounded output
 * buffer. It stops reading while its unread responses exceed
 * max_output_bytes, while a request is parked on the worker, and while a
 * response is held back (failed-unlock delay). Every buffer may carry
 * secrets and is wiped.
 *
 * Errors never free a connection in the middle of a callback: they mark it
 * dead, and the event handler frees it on the way out.
 */
#ifndef KW_CONN_H
#define KW_CONN_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "frame.h"
#include "keyward.h"
#include "loop.h"
#include "peer.h"
#include "policy.h"
#include "rpc_host.h"

#define CONN_WATCH_MAX 16u

struct conn {
	loop_watch w;
	rpc_host *h;
	conn *prev, *next;
	peer_info peer;  /* owns its descriptors */
	uint64_t serial; /* for log lines */
	/* The client token presented with client.hello ("" if none). */
	char token_name[KW_NAME_MAX + 1];
	/* Attribution cache: valid while principal_gen == *h->policy_gen. */
	const policy_client *principal;
	uint64_t principal_gen;

	kw_framer in;
	char *out; /* kw_wipealloc; out[out_off..out_len) unsent */
	size_t out_len, out_off, out_cap;

	int64_t last_active_ms;   /* connect or last complete request */
	int64_t partial_since_ms; /* 0: no partial line buffered */
	int64_t hold_until_ms;    /* 0: nothing held */
	int64_t close_deadline_ms;

	/* Answers queued while the agent's batch is open wait at gate_off
	 * until it commits; gate_ids are their request ids (for the errors
	 * sent instead if it does not). */
	bool gated;
	size_t gate_off;
	json_t *gate_ids;
	bool follower; /* audit.follow: pushed rows, never idle */
	/* secret.watch patterns (kw_wipestrdup'd), pushed secret.rotated */
	char *watch[CONN_WATCH_MAX];
	uint32_t nwatch;

	bool parked;     /* waiting for the worker, or a token request */
	json_t *park_id; /* the id to answer with (NULL: notification) */
	/* A request waiting for an OAuth token request, dispatched again
	 * (replaying) when woken (methods_oauth.c); kw_wipealloc. */
	char *replay_line;
	size_t replay_len;
	bool replaying;
	bool closing; /* close once the output is flushed */
	bool dead;    /* free at the end of this callback */
};

/* Accept-time: a new connection for fd; takes over peer (and its pidfd)
 * on success. */
int conn_open(rpc_host *h, int fd, peer_info *peer);
/* Free (wipes buffers, closes fd, releases accounting). NULL ok. */
void conn_free(conn *c);

/* Queue a response. On failure the connection is marked dead. */
void conn_reply_result(conn *c, const json_t *id, json_t *result);
void conn_reply_error(conn *c, const json_t *id, int err, const char *msg,
                      json_t *extra);

/* Bytes queued for c and not yet sent. */
size_t conn_unsent(const conn *c);
/* Push a notification (params not stolen). Not gated: call it only for
 * committed facts. */
void conn_notify(conn *c, const char *method, json_t *params);

/* The agent's batch ended with err: 0 releases the gated answers; else
 * each is replaced by an error saying why (KW_EUNKNOWN: outcome unknown;
 * any other: nothing was kept). May free c. */
void conn_batch_done(conn *c, int err);

/* Process buffered requests, flush, update interest, free if dead. Used
 * after a parked request finished or a hold expired. */
void conn_resume(conn *c);
/* Periodic check of timeouts and holds; may free c. */
void conn_sweep(conn *c, int64_t now);
/* Agent is stopping: stop reading; close once drained. May free c. */
void conn_drain(conn *c);
/* True if c has nothing left to do (for the stop drain). */
bool conn_idle(const conn *c);

#endif
