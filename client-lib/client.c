/*
 * client.c - libkeyward: the connection to keywardd and the call machinery.
 *
 * One call = one request line out, one response line back (docs/protocol.md).
 * Every wait is bounded by the call's deadline. A connection that timed out,
 * broke framing or returned something malformed is closed, because what
 * arrives next on it could be the answer to a request we gave up on; the
 * next call reconnects. A connection found dead before the agent answered
 * anything is reopened once and the request sent again: the agent executes
 * only complete lines, and this is what lets a client survive an agent
 * restart or an idle-timeout close. Notifications (lines without an id)
 * that arrive while a call waits are queued for kw_notification_wait()
 * (notify.c).
 *
 * Watched patterns (watch.c) live as long as the agent's connection: on a
 * new one, the first call registers them again after the token, before
 * its own request (once per connection; kw_watch_dispatch insists).
 *
 * Client token ($KEYWARD_TOKEN or kw_client_hello): kept in sodium_malloc
 * memory, no-access except while a hello is being built, and presented
 * with client.hello before the next request whenever the connection has
 * not accepted it yet: after every (re)connect, and after an answer of
 * `locked` (the agent hashes tokens under a key derived from the data key,
 * so a locked agent cannot check one; once someone unlocks it, the next
 * request presents the token again). A request is never sent on a new
 * connection before its token, so it is never attributed to the wrong
 * principal.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client_int.h"
#include "frame.h"
#include "kwerr.h"
#include "name.h"
#include "paths.h"
#include "secmem.h"
#include "wire.h"

/* Why the last kw_connect() in this thread failed (kw_last_error_message
 * with NULL): there is no client to keep it in. */
static _Thread_local char connect_errmsg[CLIENT_ERRMSG_MAX];

/* State of one call across its (at most two) attempts. */
struct call {
	uint64_t id;
	int64_t deadline; /* CLOCK_MONOTONIC, ms */
	bool got_bytes;   /* this attempt received something */
	bool drop;        /* the connection must not be reused */
	json_t *result;
};

int64_t client_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left, as poll() takes them (-1: no deadline). */
static int remaining_ms(int64_t deadline)
{
	int64_t left;

	if (deadline == CLIENT_NO_DEADLINE)
		return -1;
	if (deadline == CLIENT_DEADLINE_NOW)
		return 0;
	left = deadline - client_now_ms();

	if (left <= 0)
		return 0;
	return left > INT_MAX ? INT_MAX : (int)left;
}

void client_drop(kw_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (c->framer_ready)
		kw_framer_free(&c->framer);
	c->framer_ready = false;
	client_watch_reset(c);
}

/*
 * Values and passphrases go only to an agent we trust: one running as our
 * own uid or as root, or as the uid $KEYWARD_AGENT_UID names (an agent of
 * another user, in a deployment with one system user per MCP server).
 * Anyone can bind a socket at a path a client was misconfigured to use.
 */
static int client_check_agent(kw_client *c, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
	    len != sizeof(cred)) {
		snprintf(c->errmsg, sizeof(c->errmsg),
		         "cannot tell who listens at %.*s", 400, c->path);
		return KW_ECONNECT;
	}
	if (cred.uid == geteuid() || cred.uid == 0)
		return 0;
	const char *want = getenv("KEYWARD_AGENT_UID");
	if (want && *want) {
		char *end = NULL;
		errno = 0;
		unsigned long v = strtoul(want, &end, 10);
		if (errno == 0 && end && *end == '\0' && *want != '-' &&
		    v == (unsigned long)cred.uid)
			return 0;
	}
	snprintf(c->errmsg, sizeof(c->errmsg),
	         "the process listening at %.*s runs as uid %lu, neither "
	         "you nor root: not talking to it (set KEYWARD_AGENT_UID=%lu "
	         "if that agent is expected)",
	         300, c->path, (unsigned long)cred.uid,
	         (unsigned long)cred.uid);
	return KW_EPERM;
}

/*
 * Connect to c->path. A full listen backlog makes a Unix connect() block, so
 * SO_SNDTIMEO bounds it by the time left; all later I/O is MSG_DONTWAIT
 * under poll(), which the socket timeouts do not affect.
 */
static int client_open(kw_client *c, int64_t deadline)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int left = remaining_ms(deadline);
	struct timeval tv;
	int fd, r;

	if (left == 0)
		return KW_ETIMEOUT;
	tv.tv_sec = left / 1000;
	tv.tv_usec = (left % 1000) * 1000;
	memcpy(sa.sun_path, c->path, sizeof(sa.sun_path));

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno == ENOMEM || errno == ENOBUFS ? KW_ENOMEM :
		                                             KW_ECONNECT;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(c->errmsg, sizeof(c->errmsg),
		         "cannot connect to the agent at %.*s: %s", 400,
		         c->path, strerror(errno));
		r = KW_ECONNECT;
		goto fail_fd;
	}
	r = client_check_agent(c, fd);
	if (r < 0)
		goto fail_fd;
	r = kw_framer_init(&c->framer, CLIENT_LINE_MAX);
	if (r < 0)
		goto fail_fd;
	c->framer_ready = true;
	c->fd = fd;
	return 0;

fail_fd:
	close(fd);
	return r;
}

/* Wait until fd is ready for events or the deadline passes. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int left = remaining_ms(deadline);
		int n;

		if (left == 0 && deadline != CLIENT_DEADLINE_NOW)
			return KW_ETIMEOUT;
		n = poll(&p, 1, left);
		if (n > 0)
			return 0; /* POLLHUP/POLLERR: the next syscall says what
			           */
		if (n == 0)
			return KW_ETIMEOUT;
		if (errno != EINTR)
			return KW_EIO;
	}
}

static bool errno_is_closed(int e)
{
	return e == EPIPE || e == ECONNRESET || e == ENOTCONN;
}

/* Write all of line. KW_ECLOSED if the agent's end is gone. */
static int send_all(kw_client *c, const char *line, size_t len,
                    int64_t deadline)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = send(c->fd, line + off, len - off,
		                 MSG_NOSIGNAL | MSG_DONTWAIT);
		int r;

		if (n >= 0) {
			off += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno_is_closed(errno))
			return KW_ECLOSED;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return KW_EIO;
		r = wait_fd(c->fd, POLLOUT, deadline);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Keep a printable copy of msg (it goes to terminals). */
static void keep_text(char *dst, size_t dstsz, const char *msg)
{
	size_t i;

	for (i = 0; i + 1 < dstsz && msg[i]; i++) {
		unsigned char ch = (unsigned char)msg[i];

		dst[i] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
	}
	dst[i] = '\0';
}

int client_parse_error(kw_client *c, const json_t *err)
{
	const json_t *code = json_object_get(err, "code");
	const json_t *msg = json_object_get(err, "message");
	const json_t *data = json_object_get(err, "data");
	json_int_t wire;
	int r;

	if (!json_is_object(err) || !json_is_integer(code) ||
	    !json_is_string(msg))
		return KW_EPROTO;
	if (data && !json_is_object(data))
		return KW_EPROTO;
	if (data && json_object_get(data, "kind") &&
	    !json_is_string(json_object_get(data, "kind")))
		return KW_EPROTO;
	wire = json_integer_value(code);
	if (wire < INT_MIN || wire > INT_MAX)
		return KW_EPROTO;
	r = kwerr_from_wire((int)wire);
	if (r >= 0)
		return KW_EPROTO;
	keep_text(c->errmsg, sizeof(c->errmsg), json_string_value(msg));
	return r;
}

json_t *client_parse_message(const char *line, size_t len)
{
	json_t *msg = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	const json_t *ver = json_object_get(msg, "jsonrpc");

	if (json_is_object(msg) && json_is_string(ver) &&
	    strcmp(json_string_value(ver), "2.0") == 0)
		return msg;
	json_decref(msg);
	return NULL;
}

/*
 * One line from the agent. Returns 1 if it was a notification (queued),
 * 0 with cl->result set for our result, or a negative code: the agent's
 * error, or KW_EPROTO for anything malformed.
 */
static int handle_line(kw_client *c, struct call *cl, const char *line,
                       size_t len)
{
	json_t *msg, *id, *result, *error;
	int r = KW_EPROTO;

	msg = client_parse_message(line, len);
	if (!msg)
		goto out;
	r = client_notify_offer(c, msg);
	if (r != 0)
		goto out;
	r = KW_EPROTO;
	id = json_object_get(msg, "id");
	result = json_object_get(msg, "result");
	error = json_object_get(msg, "error");
	if (!result == !error)
		goto out;
	if (json_is_null(id)) {
		/* The agent reports a connection-level error, then closes. */
		cl->drop = true;
		if (error)
			r = client_parse_error(c, error);
		goto out;
	}
	if (!json_is_integer(id) || json_integer_value(id) < 0 ||
	    (uint64_t)json_integer_value(id) != cl->id)
		goto out;
	if (error) {
		r = client_parse_error(c, error);
		goto out;
	}
	cl->result = json_incref(result);
	r = 0;
out:
	if (r == KW_EPROTO)
		cl->drop = true;
	json_decref(msg);
	return r;
}

int client_read_some(kw_client *c, int64_t deadline)
{
	char *space;
	size_t room;
	ssize_t n;
	int r;

	kw_framer_space(&c->framer, &space, &room);
	r = wait_fd(c->fd, POLLIN, deadline);
	if (r < 0)
		return r;
	n = recv(c->fd, space, room, MSG_DONTWAIT);
	if (n > 0) {
		kw_framer_commit(&c->framer, (size_t)n);
		return 1;
	}
	if (n < 0 &&
	    (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n == 0 || errno_is_closed(errno))
		return KW_ECLOSED;
	return KW_EIO;
}

/* Read lines until the response to cl->id arrives. */
static int read_response(kw_client *c, struct call *cl)
{
	for (;;) {
		char *line;
		size_t len;
		int r;

		while ((r = kw_framer_next(&c->framer, &line, &len)) == 1) {
			r = handle_line(c, cl, line, len);
			kw_framer_wipe_consumed(&c->framer);
			if (r != 1)
				return r;
		}
		if (r < 0) {
			cl->drop = true;
			return KW_ETOOBIG;
		}
		r = client_read_some(c, cl->deadline);
		if (r < 0) {
			cl->drop = true;
			return r;
		}
		if (r > 0)
			cl->got_bytes = true;
	}
}

/*
 * One request line out and its answer back on the open connection. A
 * connection that must not be reused is closed. cl->got_bytes tells the
 * caller whether a KW_ECLOSED may be retried on a new connection.
 */
static int exchange(kw_client *c, struct call *cl, const char *line, size_t len)
{
	int r;

	cl->got_bytes = false;
	cl->drop = false;
	r = send_all(c, line, len, cl->deadline);
	if (r < 0 && r != KW_ECLOSED) {
		client_drop(c);
		return r;
	}
	/* Even if the send failed, an answer (e.g. too_big) may wait. */
	r = read_response(c, cl);
	if (cl->drop)
		client_drop(c);
	return r;
}

int client_ensure_open(kw_client *c, int64_t deadline)
{
	int r;

	if (c->fd >= 0)
		return 0;
	r = client_open(c, deadline);
	if (r == 0)
		c->token_pending = c->token != NULL;
	return r;
}

/* Patterns are registered again before any request but the two that do
 * the registering; a failure there does not fail the caller's request
 * (kw_watch_dispatch reports it), unless it cost the connection. */
static int rewatch(kw_client *c, int64_t deadline)
{
	int r;

	if (c->watch.tried || (c->token && c->token_pending) ||
	    !client_watch_pending(c))
		return 0;
	c->watch.tried = true;
	r = client_watch_present(c, deadline);
	c->errmsg[0] = '\0';
	if (c->fd >= 0)
		return 0;
	return r < 0 ? r : KW_ECLOSED;
}

/* For every method but client.hello the kept token is presented first when
 * the connection still needs it, then the watched patterns (see rewatch);
 * the request line is built only then, so its id follows theirs. */
int client_call_until(kw_client *c, const char *method, json_t *params,
                      int64_t deadline, json_t **ret_result)
{
	bool present = c->token && strcmp(method, "client.hello") != 0;
	bool watch = strcmp(method, "client.hello") != 0 &&
	             strcmp(method, "secret.watch") != 0;
	struct call cl = { .deadline = deadline };
	char *line = NULL;
	size_t len = 0;
	int r = KW_ECLOSED;

	for (int attempt = 0; attempt < 2; attempt++) {
		c->errmsg[0] = '\0';
		r = client_ensure_open(c, deadline);
		if (r < 0)
			goto out;
		if (present && c->token_pending) {
			r = client_token_present(c, deadline);
			/* Locked: go on without the token (status and unlock
			 * are allowed); it is presented again next time. */
			if (r < 0 && r != KW_ELOCKED)
				goto out;
			c->errmsg[0] = '\0';
		}
		if (watch) {
			r = rewatch(c, deadline);
			if (r < 0)
				goto out;
		}
		if (!line) {
			cl.id = c->last_id + 1;
			r = kw_wire_request(cl.id, method, params, &line, &len);
			params = NULL; /* stolen, also on failure */
			if (r < 0)
				goto out;
			c->last_id = cl.id;
		}
		r = exchange(c, &cl, line, len);
		if (r != KW_ECLOSED || cl.got_bytes)
			break;
	}
	/* Refused while the token could not be checked: the cause is the
	 * lock, and the caller should retry after an unlock, as it would
	 * for any request to a locked agent. */
	if (r == KW_EDENIED && present && c->token_pending) {
		r = KW_ELOCKED;
		snprintf(c->errmsg, sizeof(c->errmsg), "%s",
		         "the agent is locked: the client token can be "
		         "checked only after an unlock");
	}
	if (r == KW_ETIMEOUT && !c->errmsg[0])
		snprintf(c->errmsg, sizeof(c->errmsg),
		         "no answer from the agent within %d ms",
		         c->timeout_ms);
out:
	json_decref(params);
	kw_wipefree(line);
	if (r == 0)
		*ret_result = cl.result;
	return r;
}

int client_call(kw_client *c, const char *method, json_t *params,
                json_t **ret_result)
{
	return client_call_until(c, method, params,
	                         client_now_ms() + c->timeout_ms, ret_result);
}

/* Public: connection ---------------------------------------------------- */

/* Keep why kw_connect() failed (formatted) and return err. */
static int connect_fail(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int connect_fail(int err, const char *fmt, ...)
{
	char text[CLIENT_ERRMSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	keep_text(connect_errmsg, sizeof(connect_errmsg), text);
	return err;
}

/* $KEYWARD_TOKEN, NULL if unset or empty; KW_EINVAL if malformed. */
static int env_token(const char **ret_token)
{
	const char *t = getenv("KEYWARD_TOKEN");

	if (t && t[0] == '\0')
		t = NULL;
	if (t && !client_token_valid(t))
		return connect_fail(KW_EINVAL, "%s",
		                    "KEYWARD_TOKEN is not a client token "
		                    "(expected kwt_ followed by 43 base64url "
		                    "characters)");
	*ret_token = t;
	return 0;
}

/* The socket path to use: socket_path, or the resolved default. */
static int connect_path(const char *socket_path, char *path, size_t pathsz)
{
	size_t n;

	if (!socket_path) {
		if (kw_path_socket(path, pathsz) < 0)
			return connect_fail(KW_EINVAL, "%s",
			                    "cannot resolve the agent socket "
			                    "(KEYWARD_SOCKET, XDG_RUNTIME_DIR, "
			                    "KEYWARD_HOME and HOME must be "
			                    "absolute paths that fit a socket "
			                    "address)");
		socket_path = path;
	}
	n = strnlen(socket_path, pathsz);
	if (n == 0 || n >= pathsz ||
	    n >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return connect_fail(KW_EINVAL, "%s",
		                    "the socket path is empty or too long");
	memmove(path, socket_path, n + 1);
	return 0;
}

int kw_connect(kw_client **ret_client, const char *socket_path)
{
	char path[KW_PATH_MAX];
	const char *token = NULL;
	kw_client *c;
	int r;

	connect_errmsg[0] = '\0';
	if (!ret_client)
		return connect_fail(KW_EINVAL, "%s", "ret_client is NULL");
	r = kw_secmem_init();
	if (r < 0)
		return connect_fail(r, "%s", "libsodium cannot initialise");
	r = connect_path(socket_path, path, sizeof(path));
	if (r == 0)
		r = env_token(&token);
	if (r < 0)
		return r;
	c = calloc(1, sizeof(*c));
	if (!c)
		return connect_fail(KW_ENOMEM, "%s", kw_strerror(KW_ENOMEM));
	c->fd = -1;
	c->timeout_ms = KW_TIMEOUT_DEFAULT_MS;
	memcpy(c->path, path, strlen(path) + 1);
	r = client_open(c, client_now_ms() + c->timeout_ms);
	if (r == 0 && token) {
		/* Locked is not a failure: the token is kept and presented
		 * before the first request after an unlock. */
		r = client_hello(c, token);
		if (r == KW_ELOCKED)
			r = 0;
	}
	if (r < 0) {
		connect_fail(r, "%s",
		             c->errmsg[0] ? c->errmsg : kw_strerror(r));
		kw_close(c);
		return r;
	}
	client_begin(c);
	*ret_client = c;
	return 0;
}

void kw_close(kw_client *c)
{
	if (!c)
		return;
	client_drop(c);
	client_notify_clear(c);
	sodium_free(c->token); /* wipes; accepts NULL */
	free(c);
}

int kw_set_timeout(kw_client *c, int timeout_ms)
{
	if (!c)
		return KW_EINVAL;
	client_begin(c);
	if (timeout_ms <= 0)
		return client_fail(c, KW_EINVAL,
		                   "the timeout must be a positive number of "
		                   "milliseconds");
	c->timeout_ms = timeout_ms;
	return 0;
}

/* Error state ------------------------------------------------------------ */

void client_begin(kw_client *c)
{
	c->errmsg[0] = '\0';
	c->last_err = 0;
}

int client_end(kw_client *c, int r)
{
	if (r < 0)
		c->last_err = r;
	else
		client_begin(c);
	return r;
}

int client_fail(kw_client *c, int err, const char *msg)
{
	keep_text(c->errmsg, sizeof(c->errmsg), msg);
	c->last_err = err;
	return err;
}

const char *kw_last_error_message(const kw_client *c)
{
	if (!c)
		return connect_errmsg;
	if (c->errmsg[0] || c->last_err >= 0)
		return c->errmsg;
	return kw_strerror(c->last_err);
}
