/*
 * test_watch.c - libkeyward's rotation watch (client-lib/watch.c): the
 * pattern syntax, routing of "secret.rotated" to the callbacks whose
 * pattern matches, and registering the patterns again after a reconnect.
 * The glob rules themselves are tests/unit/test_glob.c's.
 *
 * The agent's side of the protocol does not take part: a scripted fake
 * agent in a thread
 * listens on a temporary socket, answers client.hello and secret.watch,
 * logs every request per connection, and obeys test-only methods sent
 * with kw_call: test.push (write the given lines, before or after the
 * answer), test.close (answer, then close the connection), test.lock and
 * test.unlock (client.hello fails with `locked` in between), test.ping.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "client_int.h"
#include "keyward.h"
#include "kwerr.h"
#include "secmem.h"

/* The fake agent --------------------------------------------------------- */

#define FAKE_CONNS   16
#define FAKE_ENTRIES 64
#define FAKE_LINE    (1024 * 1024)
#define TEST_TOKEN   "kwt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

struct fake {
	char dir[64];
	char path[108];
	int lfd;
	int cfd; /* the connection being served, -1 between them */
	pthread_t thread;
	pthread_mutex_t mu;
	bool stop;
	bool locked; /* client.hello answers `locked` */
	int nconns;
	/* Per connection: "method" or "secret.watch PATTERN", in order. */
	char log[FAKE_CONNS][FAKE_ENTRIES][300];
	int nlog[FAKE_CONNS];
};

static void fake_log(struct fake *f, int conn, const char *method,
                     const char *arg)
{
	pthread_mutex_lock(&f->mu);
	if (conn < FAKE_CONNS && f->nlog[conn] < FAKE_ENTRIES)
		snprintf(f->log[conn][f->nlog[conn]++], 300, "%s%s%s", method,
		         arg ? " " : "", arg ? arg : "");
	pthread_mutex_unlock(&f->mu);
}

static bool send_line(int fd, const char *s)
{
	size_t len = strlen(s), off = 0;

	while (off < len) {
		ssize_t n = send(fd, s + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		off += (size_t)n;
	}
	return send(fd, "\n", 1, MSG_NOSIGNAL) == 1;
}

static bool send_json(int fd, json_t *msg)
{
	char *text = json_dumps(msg, JSON_COMPACT);
	bool ok = text && send_line(fd, text);

	free(text);
	json_decref(msg);
	return ok;
}

static bool reply(int fd, const json_t *id, json_t *result)
{
	return send_json(fd, json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id",
	                               id, "result", result));
}

static bool reply_error(int fd, const json_t *id, int err, const char *msg)
{
	return send_json(fd,
	                 json_pack("{s:s,s:O,s:{s:i,s:s,s:{s:s}}}", "jsonrpc",
	                           "2.0", "id", id, "error", "code",
	                           kwerr_to_wire(err), "message", msg, "data",
	                           "kind", kw_error_name(err)));
}

/* Write each string of lines as one line. */
static bool push_lines(int fd, const json_t *lines)
{
	size_t i;
	json_t *l;

	json_array_foreach(lines, i, l)
	{
		if (!send_line(fd, json_string_value(l)))
			return false;
	}
	return true;
}

/* One request; false when the connection is to be closed. */
static bool fake_request(struct fake *f, int conn, int fd, const char *line)
{
	json_t *msg = json_loads(line, 0, NULL);
	const json_t *id = json_object_get(msg, "id");
	const json_t *params = json_object_get(msg, "params");
	const char *method = json_string_value(json_object_get(msg, "method"));
	const json_t *lines = json_object_get(params, "lines");
	bool ok = true, locked;

	if (!method) {
		json_decref(msg);
		return false;
	}
	pthread_mutex_lock(&f->mu);
	locked = f->locked;
	pthread_mutex_unlock(&f->mu);
	if (strcmp(method, "secret.watch") == 0) {
		const char *p =
			json_string_value(json_object_get(params, "pattern"));

		fake_log(f, conn, method, p);
		if (p && strncmp(p, "deny/", 5) == 0)
			ok = reply_error(fd, id, KW_EDENIED,
			                 "watching deny/ is not allowed");
		else
			ok = reply(fd, id, json_pack("{s:s}", "watching", p));
	} else {
		fake_log(f, conn, method, NULL);
		if (strcmp(method, "client.hello") == 0 && locked)
			ok = reply_error(fd, id, KW_ELOCKED, "agent is locked");
		else if (strcmp(method, "client.hello") == 0)
			ok = reply(fd, id, json_pack("{s:s}", "client", "t"));
		else if (strcmp(method, "test.push") == 0 &&
		         json_is_true(json_object_get(params, "after")))
			ok = reply(fd, id, json_object()) &&
			     push_lines(fd, lines);
		else if (strcmp(method, "test.push") == 0)
			ok = push_lines(fd, lines) &&
			     reply(fd, id, json_object());
		else if (strcmp(method, "test.close") == 0)
			ok = reply(fd, id, json_object()) && false;
		else
			ok = reply(fd, id, json_object());
		if (strcmp(method, "test.lock") == 0 ||
		    strcmp(method, "test.unlock") == 0) {
			pthread_mutex_lock(&f->mu);
			f->locked = strcmp(method, "test.lock") == 0;
			pthread_mutex_unlock(&f->mu);
		}
	}
	json_decref(msg);
	return ok;
}

/* Requests are lines of at most FAKE_LINE - 1 bytes. */
static void fake_serve_lines(struct fake *f, int conn, int fd, char *buf)
{
	size_t have = 0;

	for (;;) {
		ssize_t n = recv(fd, buf + have, FAKE_LINE - 1 - have, 0);
		char *nl;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		have += (size_t)n;
		while ((nl = memchr(buf, '\n', have)) != NULL) {
			size_t len = (size_t)(nl - buf) + 1;

			*nl = '\0';
			if (!fake_request(f, conn, fd, buf))
				return;
			memmove(buf, buf + len, have - len);
			have -= len;
		}
		if (have == FAKE_LINE - 1)
			return;
	}
}

static void fake_serve(struct fake *f, int conn, int fd)
{
	char *buf = malloc(FAKE_LINE);

	if (buf)
		fake_serve_lines(f, conn, fd, buf);
	free(buf);
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;

	for (;;) {
		int fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
		int conn;
		bool stop;

		pthread_mutex_lock(&f->mu);
		stop = f->stop;
		conn = f->nconns < FAKE_CONNS ? f->nconns : FAKE_CONNS - 1;
		if (fd >= 0)
			f->nconns++;
		pthread_mutex_unlock(&f->mu);
		if (fd < 0 && (stop || errno != EINTR))
			return NULL;
		if (fd < 0)
			continue;
		if (!stop) {
			pthread_mutex_lock(&f->mu);
			f->cfd = fd;
			pthread_mutex_unlock(&f->mu);
			fake_serve(f, conn, fd);
			pthread_mutex_lock(&f->mu);
			f->cfd = -1;
			pthread_mutex_unlock(&f->mu);
		}
		close(fd);
		if (stop)
			return NULL;
	}
}

static int fake_setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	assert_non_null(f);
	assert_int_equal(kw_secmem_init(), 0);
	snprintf(f->dir, sizeof(f->dir), "/tmp/kw-test-watch-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/agent.sock", f->dir);
	memcpy(sa.sun_path, f->path, strlen(f->path) + 1);
	f->cfd = -1;
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->lfd >= 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->lfd, 8), 0);
	assert_int_equal(pthread_mutex_init(&f->mu, NULL), 0);
	assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
	unsetenv("KEYWARD_TOKEN");
	*state = f;
	return 0;
}

static int fake_teardown(void **state)
{
	struct fake *f = *state;

	pthread_mutex_lock(&f->mu);
	f->stop = true;
	/* A test that failed half-way left its client connected. */
	if (f->cfd >= 0)
		shutdown(f->cfd, SHUT_RDWR);
	pthread_mutex_unlock(&f->mu);
	/* Wakes accept() (EINVAL). */
	shutdown(f->lfd, SHUT_RDWR);
	pthread_join(f->thread, NULL);
	close(f->lfd);
	unlink(f->path);
	rmdir(f->dir);
	pthread_mutex_destroy(&f->mu);
	free(f);
	unsetenv("KEYWARD_TOKEN");
	return 0;
}

/* The log of connection conn, entries joined with ','. */
static void fake_log_of(struct fake *f, int conn, char *out, size_t outsz)
{
	size_t off = 0;

	out[0] = '\0';
	pthread_mutex_lock(&f->mu);
	for (int i = 0; i < f->nlog[conn] && off < outsz; i++)
		off += (size_t)snprintf(out + off, outsz - off, "%s%s",
		                        i ? "," : "", f->log[conn][i]);
	pthread_mutex_unlock(&f->mu);
}

static int fake_nconns(struct fake *f)
{
	int n;

	pthread_mutex_lock(&f->mu);
	n = f->nconns;
	pthread_mutex_unlock(&f->mu);
	return n;
}

static void assert_log(struct fake *f, int conn, const char *want)
{
	char got[4096];

	fake_log_of(f, conn, got, sizeof(got));
	if (strcmp(got, want) != 0)
		fail_msg("connection %d: log '%s', expected '%s'", conn, got,
		         want);
}

/* Callbacks -------------------------------------------------------------- */

#define SEEN_MAX 32

struct seen {
	int n;
	char names[SEEN_MAX][KW_NAME_MAX + 1];
	uint64_t versions[SEEN_MAX];
	uint64_t last_version;
	kw_client *c;    /* for the callbacks that call back in */
	int reentry;     /* what kw_watch_dispatch said from a callback */
	int call_in_cb;  /* what a kw_call from a callback said */
	int watch_in_cb; /* what a kw_watch from a callback said */
};

static void on_rotated(const char *name, uint64_t version, void *arg)
{
	struct seen *s = arg;

	if (s->n < SEEN_MAX) {
		snprintf(s->names[s->n], sizeof(s->names[s->n]), "%s", name);
		s->versions[s->n] = version;
	}
	s->last_version = version;
	s->n++;
}

static void on_rotated_reenter(const char *name, uint64_t version, void *arg)
{
	struct seen *s = arg;
	char *res = NULL;

	on_rotated(name, version, arg);
	s->reentry = kw_watch_dispatch(s->c, 0);
	s->call_in_cb = kw_call(s->c, "test.ping", NULL, &res);
	kw_json_free(res);
	s->watch_in_cb = kw_watch(s->c, "y/*", on_rotated, s);
}

/* A "secret.rotated" notification line. */
static json_t *rotated(const char *name, int version)
{
	json_t *msg =
		json_pack("{s:s,s:s,s:{s:s,s:i,s:i,s:i}}", "jsonrpc", "2.0",
	                  "method", "secret.rotated", "params", "name", name,
	                  "version", version, "previous_version", version - 1,
	                  "rotation_id", 1);
	char *text = json_dumps(msg, JSON_COMPACT);
	json_t *line;

	assert_non_null(text);
	line = json_string(text);
	free(text);
	json_decref(msg);
	return line;
}

/* Ask the fake agent to write lines (before or after its answer). */
static void push(kw_client *c, json_t *lines, bool after)
{
	json_t *params = json_pack("{s:o,s:b}", "lines", lines, "after", after);
	char *text = json_dumps(params, JSON_COMPACT), *res = NULL;

	assert_int_equal(kw_call(c, "test.push", text, &res), 0);
	kw_json_free(res);
	free(text);
	json_decref(params);
}

static void call_ok(kw_client *c, const char *method)
{
	char *res = NULL;

	assert_int_equal(kw_call(c, method, NULL, &res), 0);
	kw_json_free(res);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Watch tests ------------------------------------------------------------ */

/* Each rotation reaches exactly the registrations whose pattern matches,
 * in registration order; other notifications are dropped. */
static void test_watch_routing(void **state)
{
	struct fake *f = *state;
	struct seen a = { 0 }, b = { 0 }, both = { 0 };
	kw_client *c = NULL;

	assert_int_equal(kw_connect(&c, f->path), 0);
	assert_int_equal(kw_watch(c, "github/*", on_rotated, &a), 0);
	assert_int_equal(kw_watch(c, "**/db", on_rotated, &b), 0);
	/* The same pattern again: a second callback, no round trip. */
	assert_int_equal(kw_watch(c, "github/*", on_rotated, &both), 0);
	assert_log(f, 0, "secret.watch github/*,secret.watch **/db");

	/* Pushed before the answer: queued during the call, so the fd is
	 * not readable, but kw_watch_dispatch(c, 0) runs them. */
	push(c,
	     json_pack("[o,s,o,o]", rotated("github/token", 7),
	               "{\"jsonrpc\":\"2.0\",\"method\":\"audit.row\","
	               "\"params\":{\"seq\":1}}",
	               rotated("team/x/db", 3), rotated("other/name", 2)),
	     false);
	/* Returns as soon as callbacks ran: one notification at a time. */
	assert_int_equal(kw_watch_dispatch(c, 0), 2);
	assert_int_equal(a.n, 1);
	assert_int_equal(both.n, 1);
	assert_string_equal(a.names[0], "github/token");
	assert_int_equal(a.versions[0], 7);
	assert_int_equal(kw_watch_dispatch(c, 0), 1);
	assert_int_equal(b.n, 1);
	assert_string_equal(b.names[0], "team/x/db");
	assert_int_equal(b.versions[0], 3);
	/* other/name matches nothing (the agent would not send it). */
	assert_int_equal(kw_watch_dispatch(c, 0), 0);
	assert_int_equal(a.n + b.n + both.n, 3);

	/* Pushed after the answer: read from the socket. */
	push(c, json_pack("[o]", rotated("github/app", 2)), true);
	assert_int_equal(kw_watch_dispatch(c, 2000), 2);
	assert_string_equal(a.names[1], "github/app");
	assert_string_equal(both.names[1], "github/app");
	kw_close(c);
}

static void test_watch_timeout(void **state)
{
	struct fake *f = *state;
	struct seen a = { 0 };
	kw_client *c = NULL;
	int64_t t0;

	assert_int_equal(kw_connect(&c, f->path), 0);
	assert_int_equal(kw_watch_dispatch(c, 0), KW_ESTATE);
	assert_int_equal(kw_watch(c, "a/*", on_rotated, &a), 0);
	t0 = now_ms();
	assert_int_equal(kw_watch_dispatch(c, 0), 0);
	assert_int_equal(kw_watch_dispatch(c, 100), 0);
	assert_true(now_ms() - t0 >= 100);
	assert_true(now_ms() - t0 < 2000);
	assert_int_equal(kw_watch_dispatch(c, -2), KW_EINVAL);
	assert_int_equal(a.n, 0);
	assert_true(kw_fd(c) >= 0);
	kw_close(c);
}

/* A server's own event loop: poll kw_fd, then dispatch without waiting. */
static void test_watch_event_loop(void **state)
{
	struct fake *f = *state;
	struct seen a = { 0 };
	kw_client *c = NULL;
	struct pollfd p;
	int got = 0;

	assert_int_equal(kw_fd(NULL), -1);
	assert_int_equal(kw_connect(&c, f->path), 0);
	assert_int_equal(kw_watch(c, "svc/**", on_rotated, &a), 0);
	push(c,
	     json_pack("[o,o,o]", rotated("svc/a", 2), rotated("svc/b/c", 5),
	               rotated("svc/d", 9)),
	     true);
	for (int i = 0; i < 100 && got < 3; i++) {
		p = (struct pollfd){ .fd = kw_fd(c), .events = POLLIN };
		assert_true(poll(&p, 1, 2000) >= 0);
		for (int r; (r = kw_watch_dispatch(c, 0)) > 0;)
			got += r;
	}
	assert_int_equal(got, 3);
	assert_string_equal(a.names[2], "svc/d");
	assert_int_equal(a.versions[2], 9);
	kw_close(c);
}

static void test_watch_errors(void **state)
{
	struct fake *f = *state;
	struct seen a = { 0 };
	kw_client *c = NULL;
	char pattern[32];

	assert_int_equal(kw_watch(NULL, "a", on_rotated, &a), KW_EINVAL);
	assert_int_equal(kw_watch_dispatch(NULL, 0), KW_EINVAL);
	assert_int_equal(kw_connect(&c, f->path), 0);
	/* Checked locally, no round trip. */
	assert_int_equal(kw_watch(c, "a/**b", on_rotated, &a), KW_EINVAL);
	assert_non_null(strstr(kw_last_error_message(c), "whole segment"));
	assert_int_equal(kw_watch(c, NULL, on_rotated, &a), KW_EINVAL);
	assert_int_equal(kw_watch(c, "a", NULL, &a), KW_EINVAL);
	assert_log(f, 0, "");
	/* Refused by the agent: not registered. */
	assert_int_equal(kw_watch(c, "deny/x", on_rotated, &a), KW_EDENIED);
	assert_string_equal(kw_last_error_message(c),
	                    "watching deny/ is not allowed");
	for (unsigned i = 0; i < KW_WATCH_MAX; i++) {
		snprintf(pattern, sizeof(pattern), "p%u/*", i);
		assert_int_equal(kw_watch(c, pattern, on_rotated, &a), 0);
	}
	assert_int_equal(kw_watch(c, "one/more", on_rotated, &a), KW_ELIMIT);
	push(c,
	     json_pack("[o,o,s]", rotated("deny/x", 2), rotated("p15/x", 4),
	               "{\"jsonrpc\":\"2.0\",\"method\":\"secret.rotated\","
	               "\"params\":{\"name\":\"../x\",\"version\":2}}"),
	     false);
	assert_int_equal(kw_watch_dispatch(c, 0), 1);
	assert_int_equal(a.n, 1);
	assert_string_equal(a.names[0], "p15/x");
	assert_int_equal(kw_watch_dispatch(c, 0), KW_EPROTO);
	assert_int_equal(kw_watch_dispatch(c, 0), 0);
	kw_close(c);
}

/* Callbacks may make calls on the client, but not dispatch again. */
static void test_watch_callback_calls(void **state)
{
	struct fake *f = *state;
	struct seen a = { 0 };
	kw_client *c = NULL;

	assert_int_equal(kw_connect(&c, f->path), 0);
	a.c = c;
	assert_int_equal(kw_watch(c, "x", on_rotated_reenter, &a), 0);
	push(c, json_pack("[o]", rotated("x", 2)), true);
	assert_int_equal(kw_watch_dispatch(c, 2000), 1);
	assert_int_equal(a.reentry, KW_EBUSY);
	assert_int_equal(a.call_in_cb, 0);
	assert_int_equal(a.watch_in_cb, 0);
	assert_log(f, 0, "secret.watch x,test.push,test.ping,secret.watch y/*");
	/* The pattern added from the callback is routed like the others. */
	push(c, json_pack("[o]", rotated("y/z", 3)), false);
	assert_int_equal(kw_watch_dispatch(c, 0), 1);
	assert_string_equal(a.names[1], "y/z");
	kw_close(c);
}

/* More notifications than the library keeps: the loss is reported once,
 * then the newest ones are still delivered. */
static void test_watch_overflow(void **state)
{
	struct fake *f = *state;
	struct seen a = { 0 };
	json_t *lines = json_array();
	kw_client *c = NULL;
	int total = 0, r;

	assert_int_equal(kw_connect(&c, f->path), 0);
	assert_int_equal(kw_watch(c, "q/*", on_rotated, &a), 0);
	for (int i = 0; i < 1100; i++)
		assert_int_equal(json_array_append_new(lines,
		                                       rotated("q/n", i + 2)),
		                 0);
	push(c, lines, false);
	assert_int_equal(kw_watch_dispatch(c, 0), KW_ELIMIT);
	while ((r = kw_watch_dispatch(c, 0)) > 0)
		total += r;
	assert_int_equal(r, 0);
	assert_int_equal(total, 1024);
	/* The oldest 76 were dropped; the rest arrive in order. */
	assert_int_equal(a.n, 1024);
	assert_int_equal(a.versions[0], 76 + 2);
	assert_int_equal(a.last_version, 1099 + 2);
	kw_close(c);
}

/* The agent closes the connection: dispatch says so once, then the next
 * dispatch reconnects and registers every pattern again after the
 * token; an ordinary call does the same on the connection it opens. */
static void test_watch_reconnect(void **state)
{
	struct fake *f = *state;
	struct seen a = { 0 }, b = { 0 };
	kw_client *c = NULL;

	assert_int_equal(setenv("KEYWARD_TOKEN", TEST_TOKEN, 1), 0);
	assert_int_equal(kw_connect(&c, f->path), 0);
	assert_int_equal(kw_watch(c, "github/*", on_rotated, &a), 0);
	assert_int_equal(kw_watch(c, "db/**", on_rotated, &b), 0);
	assert_int_equal(kw_watch(c, "github/*", on_rotated, &b), 0);
	call_ok(c, "test.close");
	assert_log(f, 0,
	           "client.hello,secret.watch github/*,secret.watch db/**,"
	           "test.close");

	assert_int_equal(kw_watch_dispatch(c, 2000), KW_ECLOSED);
	assert_int_equal(kw_fd(c), -1);
	assert_int_equal(kw_watch_dispatch(c, 50), 0);
	assert_true(kw_fd(c) >= 0);
	assert_int_equal(fake_nconns(f), 2);
	assert_log(f, 1,
	           "client.hello,secret.watch github/*,secret.watch db/**");
	push(c, json_pack("[o]", rotated("github/token", 8)), false);
	assert_int_equal(kw_watch_dispatch(c, 0), 2);
	assert_int_equal(a.versions[0], 8);
	assert_string_equal(b.names[0], "github/token");

	/* Reconnect through an ordinary call: patterns before the request. */
	call_ok(c, "test.close");
	call_ok(c, "test.ping");
	assert_int_equal(fake_nconns(f), 3);
	assert_log(f, 2,
	           "client.hello,secret.watch github/*,secret.watch db/**,"
	           "test.ping");
	push(c, json_pack("[o]", rotated("db/main", 4)), true);
	assert_int_equal(kw_watch_dispatch(c, 2000), 1);
	assert_string_equal(b.names[1], "db/main");
	kw_close(c);
}

/* While the token cannot be presented (agent locked), no pattern is
 * registered on the new connection; after the unlock they are. */
static void test_watch_reconnect_locked(void **state)
{
	struct fake *f = *state;
	struct seen a = { 0 };
	kw_client *c = NULL;

	assert_int_equal(setenv("KEYWARD_TOKEN", TEST_TOKEN, 1), 0);
	assert_int_equal(kw_connect(&c, f->path), 0);
	assert_int_equal(kw_watch(c, "a/*", on_rotated, &a), 0);
	call_ok(c, "test.lock");
	call_ok(c, "test.close");
	assert_int_equal(kw_watch_dispatch(c, 2000), KW_ECLOSED);
	assert_int_equal(kw_watch_dispatch(c, 0), KW_ELOCKED);
	assert_log(f, 1, "client.hello");
	/* Requests go on without the token; no pattern is registered. */
	call_ok(c, "test.unlock");
	assert_log(f, 1, "client.hello,client.hello,test.unlock");
	assert_int_equal(kw_watch_dispatch(c, 0), 0);
	assert_log(f, 1,
	           "client.hello,client.hello,test.unlock,client.hello,"
	           "secret.watch a/*");
	push(c, json_pack("[o]", rotated("a/b", 2)), false);
	assert_int_equal(kw_watch_dispatch(c, 0), 1);
	kw_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_watch_routing, fake_setup,
		                                fake_teardown),
		cmocka_unit_test_setup_teardown(test_watch_timeout, fake_setup,
		                                fake_teardown),
		cmocka_unit_test_setup_teardown(test_watch_event_loop,
		                                fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_watch_errors, fake_setup,
		                                fake_teardown),
		cmocka_unit_test_setup_teardown(test_watch_callback_calls,
		                                fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_watch_overflow, fake_setup,
		                                fake_teardown),
		cmocka_unit_test_setup_teardown(test_watch_reconnect,
		                                fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_watch_reconnect_locked,
		                                fake_setup, fake_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
