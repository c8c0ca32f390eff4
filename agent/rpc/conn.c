/*
 * conn.c - see conn.h.
 */
#include "conn.h"

#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dispatch.h"
#include "keyward.h"
#include "log.h"
#include "secmem.h"
#include "wire.h"

/* How long a connection being closed may take to accept its last error. */
#define CONN_LINGER_MS 1000

static uint64_t conn_serial;

static void conn_event(loop_watch *w, uint32_t events);
static void conn_settle(conn *c);
static void conn_flush(conn *c);

static size_t conn_backlog(const conn *c)
{
	return c->out_len - c->out_off;
}

static bool conn_held(const conn *c)
{
	return c->hold_until_ms != 0;
}

static void conn_kill(conn *c)
{
	c->dead = true;
}

/* Bytes that may go out now: not past the gate of an uncommitted batch. */
static size_t conn_sendable(const conn *c)
{
	return (c->gated ? c->gate_off : c->out_len) - c->out_off;
}

/* Append bytes to the output buffer, growing it (wiping the old copy). */
static void conn_queue(conn *c, const char *data, size_t len)
{
	if (c->dead)
		return;
	if (c->out_off > 0 && len > c->out_cap - c->out_len) {
		/* Slide the unsent bytes to the front before growing: a peer
		 * that reads steadily but never fully drains must not make
		 * the buffer grow with everything ever sent. */
		size_t unsent = c->out_len - c->out_off;
		memmove(c->out, c->out + c->out_off, unsent);
		sodium_memzero(c->out + unsent, c->out_len - unsent);
		if (c->gated)
			c->gate_off -= c->out_off;
		c->out_off = 0;
		c->out_len = unsent;
	}
	if (len > c->out_cap - c->out_len) {
		size_t need = c->out_len + len;
		size_t cap = c->out_cap ? c->out_cap : 4096;
		while (cap < need)
			cap *= 2;
		char *n = kw_wipealloc(cap);
		if (!n) {
			conn_kill(c);
			return;
		}
		if (c->out)
			memcpy(n, c->out, c->out_len);
		kw_wipefree(c->out);
		c->out = n;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, data, len);
	c->out_len += len;
}

static void conn_queue_line(conn *c, int r, char *line, size_t len)
{
	if (r < 0) {
		log_error("conn %llu: cannot encode a response: %s",
		          (unsigned long long)c->serial, kw_strerror(r));
		conn_kill(c);
		return;
	}
	conn_queue(c, line, len);
	kw_wipefree(line);
}

/*
 * While the agent's batch is open, what is queued now waits behind a gate
 * until the batch commits (conn_batch_done): an answer, and the secret in
 * it, is released only once its audit row is durable.
 */
static void conn_gate(conn *c, const json_t *id)
{
	if (c->dead || !c->h->ops->batch_active(c->h))
		return;
	if (!c->gated) {
		c->gated = true;
		c->gate_off = c->out_len;
		c->h->ops->gate_add(c->h, c);
	}
	if (!c->gate_ids)
		c->gate_ids = json_array();
	if (!c->gate_ids ||
	    json_array_append_new(c->gate_ids,
	                          id ? json_deep_copy(id) : json_null()))
		conn_kill(c);
}

void conn_batch_done(conn *c, int err)
{
	json_t *ids = c->gate_ids;
	c->gate_ids = NULL;
	if (err < 0 && c->gated && c->out) {
		/* The answers cannot stand: take them back (unsent, wiped)
		 * and say why, request by request. */
		sodium_memzero(c->out + c->gate_off, c->out_len - c->gate_off);
		c->out_len = c->gate_off;
	}
	c->gated = false;
	char msg[320];
	if (err == KW_EUNKNOWN) {
		snprintf(msg, sizeof(msg),
		         "outcome unknown: the disk write or sync that would "
		         "have made this request and its audit row durable "
		         "failed, so it may or may not have been stored; the "
		         "agent refuses requests until the store is in a known "
		         "state again (keyward status), then look");
	} else if (err < 0) {
		char why[192];
		c->h->ops->store_why(c->h, err, why, sizeof(why));
		snprintf(msg, sizeof(msg),
		         "the store could not commit this request (%s): "
		         "nothing was kept and the answer was withheld",
		         why);
	}
	size_t i;
	json_t *id;
	json_array_foreach(ids, i, id)
	{
		if (err < 0)
			conn_reply_error(c, json_is_null(id) ? NULL : id,
			                 err == KW_EUNKNOWN ?
			                         err :
			                         rpc_store_code(err),
			                 msg, NULL);
	}
	json_decref(ids);
	conn_settle(c);
}

size_t conn_unsent(const conn *c)
{
	return conn_backlog(c);
}

void conn_notify(conn *c, const char *method, json_t *params)
{
	char *line = NULL;
	size_t len = 0;
	json_incref(params);
	int r = kw_wire_notification(method, params, &line, &len);
	conn_queue_line(c, r, line, len);
	conn_flush(c);
	if (!c->dead && conn_sendable(c) > 0 &&
	    loop_mod(*c->h->loop, &c->w, c->w.events | EPOLLOUT) < 0)
		conn_kill(c);
}

void conn_reply_result(conn *c, const json_t *id, json_t *result)
{
	char *line = NULL;
	size_t len = 0;
	conn_gate(c, id);
	int r = kw_wire_result(id, result, &line, &len);
	conn_queue_line(c, r, line, len);
}

void conn_reply_error(conn *c, const json_t *id, int err, const char *msg,
                      json_t *extra)
{
	char *line = NULL;
	size_t len = 0;
	conn_gate(c, id);
	int r = kw_wire_error(id, err, msg, extra, &line, &len);
	conn_queue_line(c, r, line, len);
}

static void conn_flush(conn *c)
{
	while (!c->dead && !conn_held(c) && conn_sendable(c) > 0) {
		ssize_t n = send(c->w.fd, c->out + c->out_off, conn_sendable(c),
		                 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			c->out_off += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		conn_kill(c); /* the peer went away */
	}
	if (conn_backlog(c) == 0 && c->out) {
		/* Drained: wiped and given back, so an idle connection holds
		 * no output buffer (and no copy of what it was sent). */
		sodium_memzero(c->out, c->out_len);
		free(c->out);
		c->out = NULL;
		c->out_off = c->out_len = c->out_cap = 0;
	}
}

static bool conn_can_process(const conn *c)
{
	return !c->dead && !c->parked && !conn_held(c) && !c->closing &&
	       conn_backlog(c) < c->h->cfg->max_output_bytes;
}

/* Hand complete lines to dispatch while the connection may take more. */
static void conn_pump(conn *c)
{
	bool consumed = false;
	while (conn_can_process(c)) {
		char *line = NULL;
		size_t len = 0;
		int r = kw_framer_next(&c->in, &line, &len);
		if (r == KW_ETOOBIG) {
			log_warn("conn %llu: uid %u pid %d: request line over "
			         "max_frame_bytes (%zu); closing",
			         (unsigned long long)c->serial,
			         (unsigned)c->peer.uid, (int)c->peer.pid,
			         c->h->cfg->max_frame_bytes);
			conn_reply_error(c, NULL, KW_ETOOBIG,
			                 "request line longer than "
			                 "max_frame_bytes",
			                 NULL);
			c->closing = true;
			break;
		}
		if (r == 0)
			break;
		consumed = true;
		c->last_active_ms = loop_now_ms();
		dispatch_line(c->h, c, line, len);
	}
	if (consumed) {
		kw_framer_wipe_consumed(&c->in);
		c->partial_since_ms =
			kw_framer_partial(&c->in) ? loop_now_ms() : 0;
	}
}

/*
 * Bytes written by a process other than the connection's own (a child it
 * forked, a process it passed the socket to): refused, audited, and the
 * connection ends, since what the two wrote may be interleaved within a
 * line. The bytes were wiped unread.
 */
static void conn_foreign(conn *c, const peer_sender *from, const char *why)
{
	char exe[PATH_MAX];
	char msg[320];

	peer_exe_of(from->pid, exe);
	log_warn("conn %llu: uid %u pid %d exe %s: %s; closing",
	         (unsigned long long)c->serial, (unsigned)from->uid,
	         (int)from->pid, exe[0] ? exe : "(unknown)", why);
	audit_event ev = {
		.uid = from->uid,
		.pid = from->pid,
		.exe = exe[0] ? exe : NULL,
		.op = "peer.refused",
		.outcome = AUDIT_DENIED,
		.reason = why,
	};
	c->h->ops->audit(c->h, &ev);
	snprintf(msg, sizeof(msg), "refused: %s", why);
	conn_reply_error(c, NULL, KW_EDENIED, msg, NULL);
	c->closing = true;
}

/* The process exec'd another program (it keeps its pid, and the
 * connection if the socket was not close-on-exec): what it sends from now
 * on is attributed to the new program, re-hashed if a policy pins one. */
static void conn_reattribute(conn *c)
{
	/* The cached principal belongs to the policy it came from. */
	const policy_client *was =
		c->principal_gen == *c->h->policy_gen ? c->principal : NULL;
	log_info("conn %llu: pid %d now runs %s; attributing it anew (it was "
	         "%s%s%s)",
	         (unsigned long long)c->serial, (int)c->peer.pid,
	         c->peer.exe_known ? c->peer.exe : "an unknown executable",
	         was ? "[client \"" : "not attributed",
	         was ? policy_client_name(was) : "", was ? "\"]" : "");
	c->principal = NULL;
	c->principal_gen = 0;
}

static void conn_read(conn *c)
{
	char *space = NULL;
	size_t room = 0;
	peer_sender from;
	char why[256];
	bool exe_changed = false;
	kw_framer_space(&c->in, &space, &room);
	if (room == 0)
		return; /* full: conn_pump reports the oversized line */
	ssize_t n = peer_recv(c->w.fd, space, room, &from);
	if (n > 0 && peer_sender_check(&c->peer, &from, &exe_changed, why,
	                               sizeof(why)) < 0) {
		sodium_memzero(space, (size_t)n);
		conn_foreign(c, &from, why);
		peer_sender_release(&from);
		return;
	}
	peer_sender_release(&from);
	if (exe_changed)
		conn_reattribute(c);
	if (n > 0) {
		kw_framer_commit(&c->in, (size_t)n);
		if (c->partial_since_ms == 0)
			c->partial_since_ms = loop_now_ms();
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	/* EOF or error: answer what is already complete, then close. */
	conn_pump(c);
	c->closing = true;
	if (n < 0)
		conn_kill(c);
}

static void conn_update(conn *c)
{
	if (c->dead)
		return;
	if (c->closing && !c->parked && conn_backlog(c) == 0) {
		conn_kill(c);
		return;
	}
	uint32_t ev = 0;
	if (conn_can_process(c))
		ev |= EPOLLIN;
	if (conn_sendable(c) > 0 && !conn_held(c))
		ev |= EPOLLOUT;
	if (loop_mod(*c->h->loop, &c->w, ev) < 0)
		conn_kill(c);
}

/* Common tail of every entry point: work, flush, re-arm, maybe free. */
static void conn_settle(conn *c)
{
	conn_pump(c);
	conn_flush(c);
	conn_update(c);
	if (c->dead)
		conn_free(c);
}

static void conn_event(loop_watch *w, uint32_t events)
{
	conn *c = w->owner;

	if (events & EPOLLERR) {
		conn_kill(c);
	} else {
		if (events & EPOLLIN)
			conn_read(c);
		else if (events & EPOLLHUP)
			conn_kill(c); /* hung up while we were not reading */
	}
	conn_settle(c);
}

void conn_resume(conn *c)
{
	conn_settle(c);
}

void conn_sweep(conn *c, int64_t now)
{
	const kw_config *cfg = c->h->cfg;

	if (conn_held(c) && now >= c->hold_until_ms)
		c->hold_until_ms = 0;
	if (c->closing && !c->parked) {
		if (c->close_deadline_ms == 0)
			c->close_deadline_ms = now + CONN_LINGER_MS;
		else if (now >= c->close_deadline_ms)
			conn_kill(c);
	} else if (!conn_can_process(c) || kw_framer_has_line(&c->in)) {
		/* Complete requests are waiting on us (parked, held, or
		 * output not yet read): the peer is not slow, so neither
		 * timeout runs; the partial-line clock restarts later. */
		if (c->partial_since_ms != 0)
			c->partial_since_ms = now;
		c->last_active_ms = now;
	} else {
		if (c->partial_since_ms != 0 &&
		    now - c->partial_since_ms >= cfg->frame_timeout_ms) {
			log_info("conn %llu: uid %u pid %d: partial request "
			         "older than frame_timeout_ms; closing",
			         (unsigned long long)c->serial,
			         (unsigned)c->peer.uid, (int)c->peer.pid);
			conn_reply_error(c, NULL, KW_ELIMIT,
			                 "request line not completed within "
			                 "frame_timeout_ms",
			                 NULL);
			c->closing = true;
		} else if (now - c->last_active_ms >= cfg->idle_timeout_ms &&
		           conn_backlog(c) == 0 && !c->follower &&
		           c->nwatch == 0) {
			log_debug("conn %llu: idle; closing",
			          (unsigned long long)c->serial);
			c->closing = true;
		}
	}
	conn_settle(c);
}

void conn_drain(conn *c)
{
	/* Requests already received are answered; nothing new is read. */
	conn_pump(c);
	c->closing = true;
	conn_settle(c);
}

bool conn_idle(const conn *c)
{
	return !c->parked && conn_backlog(c) == 0;
}

int conn_open(rpc_host *h, int fd, peer_info *peer)
{
	conn *c = calloc(1, sizeof(*c));
	if (!c)
		return KW_ENOMEM;
	int r = kw_framer_init(&c->in, h->cfg->max_frame_bytes);
	if (r < 0) {
		free(c);
		return r;
	}
	c->h = h;
	c->peer = *peer;
	c->serial = ++conn_serial;
	c->last_active_ms = loop_now_ms();
	r = loop_add(*h->loop, &c->w, fd, EPOLLIN, conn_event, c);
	if (r < 0) {
		kw_framer_free(&c->in);
		free(c);
		return r;
	}
	peer->pidfd = peer->procfd = peer->maps_fd = -1; /* ours now */
	c->next = *h->conns;
	if (*h->conns)
		(*h->conns)->prev = c;
	*h->conns = c;
	(*h->nconns)++;
	log_debug("conn %llu: uid %u gid %u pid %d exe %s connected",
	          (unsigned long long)c->serial, (unsigned)c->peer.uid,
	          (unsigned)c->peer.gid, (int)c->peer.pid,
	          c->peer.exe_known ? c->peer.exe : "(unknown)");
	return 0;
}

void conn_free(conn *c)
{
	if (!c)
		return;
	rpc_host *h = c->h;
	loop_del(*h->loop, &c->w);
	close(c->w.fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		*h->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	(*h->nconns)--;
	h->ops->uid_release(h, c->peer.uid);
	json_decref(c->park_id);
	json_decref(c->gate_ids);
	methods_oauth_conn_gone(h, c);
	kw_wipefree(c->replay_line);
	if (c->gated)
		h->ops->gate_remove(h, c);
	h->ops->conn_gone(h, c);
	peer_release(&c->peer);
	kw_framer_free(&c->in);
	kw_wipefree(c->out);
	for (uint32_t i = 0; i < c->nwatch; i++)
		kw_wipefree_str(c->watch[i]);
	free(c);
}
