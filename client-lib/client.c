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
 * restart or an idle-timeout close.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
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
#include "paths.h"
#include "secmem.h"
#include "wire.h"

#define CLIENT_ERRMSG_MAX 512

struct kw_client {
	int fd;            /* -1 while disconnected */
	bool framer_ready; /* framer allocated (only while connected) */
	int timeout_ms;
	uint64_t last_id;
	kw_framer framer;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char errmsg[CLIENT_ERRMSG_MAX];
};

/* State of one call across its (at most two) attempts. */
struct call {
	uint64_t id;
	int64_t deadline; /* CLOCK_MONOTONIC, ms */
	bool got_bytes;   /* this attempt received something */
	bool drop;        /* the connection must not be reused */
	json_t *result;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int remaining_ms(int64_t deadline)
{
	int64_t left = deadline - now_ms();

	if (left <= 0)
		return 0;
	return left > INT_MAX ? INT_MAX : (int)left;
}

static void client_drop(kw_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (c->framer_ready)
		kw_framer_free(&c->framer);
	c->framer_ready = false;
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
		r = KW_ECONNECT;
		goto fail_fd;
	}
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

		if (left == 0)
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

/* Keep a printable copy of the agent's message (it goes to terminals). */
static void keep_message(kw_client *c, const char *msg)
{
	size_t i;

	for (i = 0; i < sizeof(c->errmsg) - 1 && msg[i]; i++) {
		unsigned char ch = (unsigned char)msg[i];

		c->errmsg[i] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
	}
	c->errmsg[i] = '\0';
}

/* An error member: returns its KW_E* code, or KW_EPROTO if malformed. */
static int parse_error(kw_client *c, const json_t *err)
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
	keep_message(c, json_string_value(msg));
	return r;
}

/*
 * One line from the agent. Returns 1 to skip it (a notification), 0 with
 * cl->result set for our result, or a negative code: the agent's error, or
 * KW_EPROTO for anything malformed.
 */
static int handle_line(kw_client *c, struct call *cl, const char *line,
                       size_t len)
{
	json_t *msg, *id, *result, *error;
	const json_t *ver;
	int r = KW_EPROTO;

	msg = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(msg))
		goto out;
	ver = json_object_get(msg, "jsonrpc");
	if (!json_is_string(ver) || strcmp(json_string_value(ver), "2.0") != 0)
		goto out;
	id = json_object_get(msg, "id");
	result = json_object_get(msg, "result");
	error = json_object_get(msg, "error");
	if (!id) {
		/* A notification: well-formed ones are skipped. */
		if (json_is_string(json_object_get(msg, "method")) && !result &&
		    !error)
			r = 1;
		goto out;
	}
	if (!result == !error)
		goto out;
	if (json_is_null(id)) {
		/* The agent reports a connection-level error, then closes. */
		cl->drop = true;
		if (error)
			r = parse_error(c, error);
		goto out;
	}
	if (!json_is_integer(id) || json_integer_value(id) < 0 ||
	    (uint64_t)json_integer_value(id) != cl->id)
		goto out;
	if (error) {
		r = parse_error(c, error);
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

/* Read lines until the response to cl->id arrives. */
static int read_response(kw_client *c, struct call *cl)
{
	for (;;) {
		char *line, *space;
		size_t len, room;
		ssize_t n;
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
		kw_framer_space(&c->framer, &space, &room);
		r = wait_fd(c->fd, POLLIN, cl->deadline);
		if (r < 0) {
			cl->drop = true;
			return r;
		}
		n = recv(c->fd, space, room, MSG_DONTWAIT);
		if (n > 0) {
			cl->got_bytes = true;
			kw_framer_commit(&c->framer, (size_t)n);
			continue;
		}
		if (n < 0 &&
		    (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		cl->drop = true;
		if (n == 0 || errno_is_closed(errno))
			return KW_ECLOSED;
		return KW_EIO;
	}
}

int client_call(kw_client *c, const char *method, json_t *params,
                json_t **ret_result)
{
	struct call cl = { 0 };
	char *line = NULL;
	size_t len = 0;
	int r;

	c->errmsg[0] = '\0';
	cl.id = c->last_id + 1;
	r = kw_wire_request(cl.id, method, params, &line, &len);
	if (r < 0)
		return r;
	c->last_id = cl.id;
	cl.deadline = now_ms() + c->timeout_ms;

	for (int attempt = 0; attempt < 2; attempt++) {
		if (c->fd < 0) {
			r = client_open(c, cl.deadline);
			if (r < 0)
				goto out;
		}
		cl.got_bytes = false;
		cl.drop = false;
		r = send_all(c, line, len, cl.deadline);
		if (r < 0 && r != KW_ECLOSED) {
			client_drop(c);
			goto out;
		}
		/* Even if the send failed, an answer (e.g. too_big) may wait.
		 */
		r = read_response(c, &cl);
		if (cl.drop)
			client_drop(c);
		if (r != KW_ECLOSED || cl.got_bytes)
			break;
	}
out:
	kw_wipefree(line);
	if (r == 0)
		*ret_result = cl.result;
	return r;
}

bool client_get_uint(const json_t *obj, const char *key, uint64_t min,
                     uint64_t *ret_value)
{
	const json_t *v = json_object_get(obj, key);
	json_int_t i;

	if (!json_is_integer(v))
		return false;
	i = json_integer_value(v);
	if (i < 0 || (uint64_t)i < min)
		return false;
	*ret_value = (uint64_t)i;
	return true;
}

bool client_get_bool(const json_t *obj, const char *key, bool *ret_value)
{
	const json_t *v = json_object_get(obj, key);

	if (!json_is_boolean(v))
		return false;
	*ret_value = json_is_true(v);
	return true;
}

bool client_get_text(const json_t *obj, const char *key, const char **ret_value)
{
	const json_t *v = json_object_get(obj, key);
	const char *s;
	size_t n;

	if (!json_is_string(v))
		return false;
	s = json_string_value(v);
	n = json_string_length(v);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	*ret_value = s;
	return true;
}

bool client_stage_valid(const char *stage)
{
	static const char *const stages[] = { "current", "pending", "previous",
		                              "retired" };

	for (size_t i = 0; i < sizeof(stages) / sizeof(stages[0]); i++)
		if (strcmp(stage, stages[i]) == 0)
			return true;
	return false;
}

/* Public: connection ---------------------------------------------------- */

int kw_connect(kw_client **ret_client, const char *socket_path)
{
	char path[KW_PATH_MAX];
	kw_client *c;
	int r;

	if (!ret_client)
		return KW_EINVAL;
	r = kw_secmem_init();
	if (r < 0)
		return r;
	if (socket_path) {
		size_t n = strnlen(socket_path, sizeof(path));

		if (n == 0 || n >= sizeof(path))
			return KW_EINVAL;
		memcpy(path, socket_path, n + 1);
	} else {
		r = kw_path_socket(path, sizeof(path));
		if (r < 0)
			return r;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return KW_ENOMEM;
	c->fd = -1;
	c->timeout_ms = KW_TIMEOUT_DEFAULT_MS;
	if (strlen(path) >= sizeof(c->path)) {
		r = KW_EINVAL;
		goto fail_client;
	}
	memcpy(c->path, path, strlen(path) + 1);
	r = client_open(c, now_ms() + c->timeout_ms);
	if (r < 0)
		goto fail_client;
	*ret_client = c;
	return 0;

fail_client:
	free(c);
	return r;
}

void kw_close(kw_client *c)
{
	if (!c)
		return;
	client_drop(c);
	free(c);
}

int kw_set_timeout(kw_client *c, int timeout_ms)
{
	if (!c || timeout_ms <= 0)
		return KW_EINVAL;
	c->timeout_ms = timeout_ms;
	return 0;
}

const char *kw_last_error_message(const kw_client *c)
{
	return c ? c->errmsg : "";
}
