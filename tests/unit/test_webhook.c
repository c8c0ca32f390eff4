/*
 * test_webhook.c - the webhook rotator's HTTP client (agent/rotate/webhook.c,
 * agent/net/httpc.c); the destination guard's address table is
 * test_httpguard.c's.
 *
 * The signature against an HMAC
 * written out here from SHA-256 (itself checked against RFC 4231), and real
 * transfers: to a small HTTP/1.1 server thread on 127.0.0.1 that records
 * what it got and checks the signature as a receiver would, and, for TLS,
 * to `openssl s_server` with a CA and certificates made at test time (the
 * openssl program is required: the test fails, not skips, without it).
 * Only loopback addresses are ever connected to.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "keyward.h"
#include "loop.h"
#include "secmem.h"
#include "spawn_client.h"
#include "webhook.h"

extern char **environ;

#define OPENSSL  "/usr/bin/openssl"
#define BODY     "{\"name\":\"github/token\",\"value\":\"s3cr3t-v4lue\"}"
#define T        INT64_C(1700000000)
#define WAIT_MS  10000 /* the most any transfer here may take */
#define REQ_MAX  (1024u * 1024u)
#define HEAD_MAX 16384u

static const char KEY_TEXT[] = "0123456789abcdef0123456789abcdef";
#define KEY     ((const uint8_t *)KEY_TEXT)
#define KEY_LEN (sizeof(KEY_TEXT) - 1)

/* ---- HMAC-SHA256 written out (RFC 2104), and the signature from it ---- */

static void ref_hmac(const uint8_t *key, size_t keylen, const uint8_t *msg,
                     size_t len, uint8_t out[32])
{
	uint8_t k[64] = { 0 }, pad[64], inner[32];
	crypto_hash_sha256_state st;

	if (keylen > sizeof(k))
		crypto_hash_sha256(k, key, keylen);
	else
		memcpy(k, key, keylen);
	for (size_t i = 0; i < sizeof(pad); i++)
		pad[i] = k[i] ^ 0x36;
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, pad, sizeof(pad));
	crypto_hash_sha256_update(&st, msg, len);
	crypto_hash_sha256_final(&st, inner);
	for (size_t i = 0; i < sizeof(pad); i++)
		pad[i] = k[i] ^ 0x5c;
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, pad, sizeof(pad));
	crypto_hash_sha256_update(&st, inner, sizeof(inner));
	crypto_hash_sha256_final(&st, out);
}

static void hex(const uint8_t *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/* "t=<t>,v1=<hex>" over "<t>." || body, built without webhook.c. */
static void ref_signature(const uint8_t *key, size_t keylen, int64_t t,
                          const char *body, size_t len, char *out, size_t outsz)
{
	size_t cap = 32 + len;
	uint8_t *msg = malloc(cap);
	uint8_t mac[32];
	char h[65];

	assert_non_null(msg);
	int n = snprintf((char *)msg, cap, "%" PRId64 ".", t);
	assert_true(n > 0);
	if (len > 0)
		memcpy(msg + n, body, len);
	ref_hmac(key, keylen, msg, (size_t)n + len, mac);
	hex(mac, sizeof(mac), h);
	snprintf(out, outsz, "t=%" PRId64 ",v1=%s", t, h);
	free(msg);
}

static void test_hmac_reference(void **state)
{
	(void)state;
	uint8_t k1[20], k6[131], mac[32];
	char h[65];

	memset(k1, 0x0b, sizeof(k1));
	ref_hmac(k1, sizeof(k1), (const uint8_t *)"Hi There", 8, mac);
	hex(mac, 32, h);
	assert_string_equal(h, "b0344c61d8db38535ca8afceaf0bf12b"
	                       "881dc200c9833da726e9376c2e32cff7");
	const char *m2 = "what do ya want for nothing?";
	ref_hmac((const uint8_t *)"Jefe", 4, (const uint8_t *)m2, strlen(m2),
	         mac);
	hex(mac, 32, h);
	assert_string_equal(h, "5bdcc146bf60754e6a042426089575c7"
	                       "5a003f089d2739839dec58b964ec3843");
	memset(k6, 0xaa, sizeof(k6));
	const char *m6 =
		"Test Using Larger Than Block-Size Key - Hash Key First";
	ref_hmac(k6, sizeof(k6), (const uint8_t *)m6, strlen(m6), mac);
	hex(mac, 32, h);
	assert_string_equal(h, "60e431591ee0b67f0d8a26aacbf5b77f"
	                       "8e0bc6213728c5140546040f0ee37f54");
}

static void test_signature(void **state)
{
	(void)state;
	char got[WEBHOOK_SIGNATURE_SIZE], want[128];
	uint8_t mac[crypto_auth_hmacsha256_BYTES];
	char h[65];

	/* A 32-byte key against libsodium's one-shot HMAC. */
	const char *msg = "1700000000." BODY;
	crypto_auth_hmacsha256(mac, (const uint8_t *)msg, strlen(msg), KEY);
	hex(mac, sizeof(mac), h);
	snprintf(want, sizeof(want), "t=1700000000,v1=%s", h);
	assert_int_equal(webhook_signature(KEY, KEY_LEN, T, BODY, strlen(BODY),
	                                   got, sizeof(got)),
	                 0);
	assert_string_equal(got, want);
	assert_int_equal(strlen(got), strlen("t=1700000000,v1=") + 64);

	/* Other key lengths (hashed first past 64 bytes), times, bodies. */
	static const size_t lens[] = { 1, 31, 33, 64, 65, 200, 1024 };
	static const int64_t times[] = { 0, 1, T, INT64_MAX };
	uint8_t key[1024];
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 7 + 3);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		for (size_t k = 0; k < sizeof(times) / sizeof(times[0]); k++) {
			const char *b = k % 2 ? BODY : "";
			ref_signature(key, lens[i], times[k], b, strlen(b),
			              want, sizeof(want));
			assert_int_equal(webhook_signature(key, lens[i],
			                                   times[k], b,
			                                   strlen(b), got,
			                                   sizeof(got)),
			                 0);
			assert_string_equal(got, want);
		}
	}
	/* The longest form fits; hex is lower case. */
	assert_int_equal(webhook_signature(KEY, KEY_LEN, INT64_MAX, NULL, 0,
	                                   got, sizeof(got)),
	                 0);
	assert_int_equal(strncmp(got, "t=9223372036854775807,v1=", 25), 0);
	assert_int_equal(strlen(got), 25 + 64);
	for (const char *p = got + 25; *p; p++)
		assert_non_null(strchr("0123456789abcdef", *p));
	/* The key matters, and so does every body byte. */
	char other[WEBHOOK_SIGNATURE_SIZE];
	assert_int_equal(webhook_signature(KEY, KEY_LEN - 1, T, BODY,
	                                   strlen(BODY), other, sizeof(other)),
	                 0);
	assert_int_equal(webhook_signature(KEY, KEY_LEN, T, BODY, strlen(BODY),
	                                   got, sizeof(got)),
	                 0);
	assert_string_not_equal(got, other);
	assert_int_equal(webhook_signature(KEY, KEY_LEN, T, BODY,
	                                   strlen(BODY) - 1, other,
	                                   sizeof(other)),
	                 0);
	assert_string_not_equal(got, other);
}

static void test_signature_refused(void **state)
{
	(void)state;
	char out[WEBHOOK_SIGNATURE_SIZE];
	uint8_t big[WEBHOOK_KEY_MAX + 1] = { 0 };

	memset(out, 'X', sizeof(out));
	assert_int_equal(webhook_signature(KEY, 0, T, BODY, 1, out, 96),
	                 KW_EINVAL);
	assert_int_equal(webhook_signature(big, sizeof(big), T, BODY, 1, out,
	                                   96),
	                 KW_EINVAL);
	assert_int_equal(webhook_signature(NULL, 32, T, BODY, 1, out, 96),
	                 KW_EINVAL);
	assert_int_equal(webhook_signature(KEY, 32, -1, BODY, 1, out, 96),
	                 KW_EINVAL);
	assert_int_equal(webhook_signature(KEY, 32, T, NULL, 1, out, 96),
	                 KW_EINVAL);
	assert_int_equal(webhook_signature(KEY, 32, T, BODY, 1, out, 95),
	                 KW_EINVAL);
	assert_int_equal(webhook_signature(KEY, 32, T, BODY, 1, NULL, 96),
	                 KW_EINVAL);
	for (size_t i = 0; i < sizeof(out); i++)
		assert_int_equal(out[i], 'X');
}

/* ---- a small HTTP/1.1 server on 127.0.0.1 ---- */

struct srv {
	int lfd, stopfd, port;
	pthread_t thread;
	bool running;
	pthread_mutex_t mu;
	/* Under mu: what to answer... */
	int status;
	const char *extra; /* more header lines, each ending in CRLF */
	const char *text;  /* the body, or else: */
	size_t fill;       /* this many 'a' */
	bool no_length;    /* body delimited by closing */
	bool hang;         /* read the request, never answer */
	/* ...and what was seen. */
	int accepted, requests;
	bool tls_hello; /* the first byte was a TLS handshake record */
	char head[HEAD_MAX + 1];
	char *body;
	size_t body_len;
	bool sig_ok;
	int64_t sig_t;
};

/* Wait for fd to be readable; false on stop or after 5 s. */
static bool srv_wait(struct srv *s, int fd)
{
	struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
		               { .fd = s->stopfd, .events = POLLIN } };
	int n;

	do
		n = poll(p, 2, 5000);
	while (n < 0 && errno == EINTR);
	return n > 0 && !p[1].revents && p[0].revents;
}

/* The value of header name in head (CRLF lines), or NULL. */
static const char *header_value(const char *head, const char *name, char *out,
                                size_t outsz)
{
	size_t nlen = strlen(name);
	for (const char *l = strstr(head, "\r\n"); l; l = strstr(l, "\r\n")) {
		l += 2;
		if (strncasecmp(l, name, nlen) != 0 || l[nlen] != ':')
			continue;
		const char *v = l + nlen + 1;
		while (*v == ' ')
			v++;
		const char *e = strstr(v, "\r\n");
		size_t len = e ? (size_t)(e - v) : strlen(v);
		if (len >= outsz)
			return NULL;
		memcpy(out, v, len);
		out[len] = '\0';
		return out;
	}
	return NULL;
}

/* Check Keyward-Signature as a receiver would. */
static bool srv_check_sig(const char *head, const char *body, size_t len,
                          int64_t *ret_t)
{
	char v[256], want[128];
	if (!header_value(head, "Keyward-Signature", v, sizeof(v)) ||
	    strncmp(v, "t=", 2) != 0)
		return false;
	char *end = NULL;
	errno = 0;
	long long t = strtoll(v + 2, &end, 10);
	if (errno || end == v + 2 || strncmp(end, ",v1=", 4) != 0)
		return false;
	ref_signature(KEY, KEY_LEN, t, body, len, want, sizeof(want));
	*ret_t = t;
	return strlen(v) == strlen(want) &&
	       sodium_memcmp(v, want, strlen(want)) == 0;
}

static void srv_send(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
		if (k <= 0)
			return; /* the client gave up: fine */
		c += k;
		n -= (size_t)k;
	}
}

static void srv_answer(struct srv *s, int fd)
{
	pthread_mutex_lock(&s->mu);
	int status = s->status;
	const char *extra = s->extra ? s->extra : "";
	const char *text = s->text;
	size_t len = text ? strlen(text) : s->fill;
	bool no_length = s->no_length;
	pthread_mutex_unlock(&s->mu);

	char head[512];
	if (status == 204)
		snprintf(
			head, sizeof(head),
			"HTTP/1.1 204 No Content\r\n%sConnection: close\r\n\r\n",
			extra);
	else if (no_length)
		snprintf(head, sizeof(head),
		         "HTTP/1.1 %d X\r\n%sConnection: close\r\n\r\n", status,
		         extra);
	else
		snprintf(head, sizeof(head),
		         "HTTP/1.1 %d X\r\n%sContent-Length: %zu\r\n"
		         "Connection: close\r\n\r\n",
		         status, extra, len);
	srv_send(fd, head, strlen(head));
	if (status == 204)
		return;
	if (text) {
		srv_send(fd, text, len);
		return;
	}
	char chunk[4096];
	memset(chunk, 'a', sizeof(chunk));
	for (size_t sent = 0; sent < len;) {
		size_t n =
			len - sent < sizeof(chunk) ? len - sent : sizeof(chunk);
		srv_send(fd, chunk, n);
		sent += n;
	}
}

static void srv_handle(struct srv *s, int fd)
{
	char *buf = malloc(REQ_MAX);
	size_t n = 0, hlen = 0;

	if (!buf)
		abort(); /* not on the test's thread: no cmocka asserts */
	while (hlen == 0) {
		if (n == HEAD_MAX || !srv_wait(s, fd))
			goto out;
		ssize_t k = recv(fd, buf + n, HEAD_MAX - n, 0);
		if (k <= 0)
			goto out;
		n += (size_t)k;
		if ((unsigned char)buf[0] == 0x16) {
			pthread_mutex_lock(&s->mu);
			s->tls_hello = true;
			pthread_mutex_unlock(&s->mu);
			goto out;
		}
		const char *end = memmem(buf, n, "\r\n\r\n", 4);
		if (end)
			hlen = (size_t)(end - buf) + 4;
	}
	char head[HEAD_MAX + 1], v[32];
	memcpy(head, buf, hlen);
	head[hlen] = '\0';
	size_t clen = 0;
	if (header_value(head, "Content-Length", v, sizeof(v)))
		clen = strtoul(v, NULL, 10);
	if (clen > REQ_MAX - hlen)
		goto out;
	while (n < hlen + clen) {
		if (!srv_wait(s, fd))
			goto out;
		ssize_t k = recv(fd, buf + n, hlen + clen - n, 0);
		if (k <= 0)
			goto out;
		n += (size_t)k;
	}

	int64_t t = -1;
	bool ok = srv_check_sig(head, buf + hlen, clen, &t);
	pthread_mutex_lock(&s->mu);
	s->requests++;
	memcpy(s->head, head, hlen + 1);
	free(s->body);
	s->body = malloc(clen + 1);
	if (!s->body)
		abort();
	memcpy(s->body, buf + hlen, clen);
	s->body[clen] = '\0';
	s->body_len = clen;
	s->sig_ok = ok;
	s->sig_t = t;
	bool hang = s->hang;
	pthread_mutex_unlock(&s->mu);

	if (hang) {
		/* Until the client gives up or the test ends. */
		while (srv_wait(s, fd) && recv(fd, buf, 1024, 0) > 0)
			;
		goto out;
	}
	srv_answer(s, fd);
out:
	free(buf);
}

static void *srv_main(void *arg)
{
	struct srv *s = arg;

	for (;;) {
		struct pollfd p[2] = { { .fd = s->lfd, .events = POLLIN },
			               { .fd = s->stopfd, .events = POLLIN } };
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		pthread_mutex_lock(&s->mu);
		s->accepted++;
		pthread_mutex_unlock(&s->mu);
		srv_handle(s, fd);
		close(fd);
	}
	/* Connections the kernel completed but nobody took count too. */
	for (int fd; (fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0;) {
		pthread_mutex_lock(&s->mu);
		s->accepted++;
		pthread_mutex_unlock(&s->mu);
		close(fd);
	}
	return NULL;
}

static void srv_start(struct srv *s)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	assert_true(s->lfd >= 0);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s->lfd, 64), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &alen), 0);
	s->port = ntohs(a.sin_port);
	s->stopfd = eventfd(0, EFD_CLOEXEC);
	assert_true(s->stopfd >= 0);
	assert_int_equal(pthread_create(&s->thread, NULL, srv_main, s), 0);
	s->running = true;
}

/* Stop the server; its counts are final afterwards. */
static void srv_stop(struct srv *s)
{
	if (!s->running)
		return;
	uint64_t one = 1;
	assert_int_equal(write(s->stopfd, &one, sizeof(one)), sizeof(one));
	pthread_join(s->thread, NULL);
	close(s->lfd);
	close(s->stopfd);
	s->running = false;
}

static int srv_accepted(struct srv *s)
{
	pthread_mutex_lock(&s->mu);
	int n = s->accepted;
	pthread_mutex_unlock(&s->mu);
	return n;
}

static void srv_set(struct srv *s, int status, const char *text, size_t fill,
                    bool no_length)
{
	pthread_mutex_lock(&s->mu);
	s->status = status;
	s->text = text;
	s->fill = fill;
	s->no_length = no_length;
	pthread_mutex_unlock(&s->mu);
}

/* ---- the fixture: a loop, a client, servers, a result ---- */

/* openssl s_server, a child process (pid 0: none). */
struct tls_srv {
	pid_t pid;
	int in_fd, out_fd;
	int port;
	char out[65536];
	size_t out_len;
};

struct outcome {
	int calls;
	int result;
	char detail[2 * ROTJOB_DETAIL_MAX];
	size_t detail_len;
};

struct fx {
	loop *l;
	httpc *w;
	struct srv srv;
	struct tls_srv tls;
	struct outcome out;
	char url[256];
};

static void tls_stop(struct tls_srv *t);

static void on_done(void *arg, int result, const char *detail)
{
	struct outcome *o = arg;
	o->calls++;
	o->result = result;
	o->detail_len = strlen(detail);
	snprintf(o->detail, sizeof(o->detail), "%s", detail);
}

/* keyward-net starts as in keywardd: through a command spawner, forked
 * in main before any thread (spawn_client.h). */
static spawn_client *spawner;

static int net_launch(void *ctx, const char *path, int *ret_fd, pid_t *ret_pid,
                      char *why, size_t whysz)
{
	return spawn_net_start(ctx, path, ret_fd, ret_pid, why, whysz);
}

static int net_stop(void *ctx, pid_t pid, int *ret_code, int *ret_status)
{
	return spawn_net_stop(ctx, pid, ret_code, ret_status);
}

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	assert_int_equal(loop_new(&f->l), 0);
	const netclient_launcher launch = { .ctx = spawner,
		                            .start = net_launch,
		                            .stop = net_stop };
	assert_int_equal(httpc_new(f->l, KW_TEST_NET_HELPER, &launch, &f->w),
	                 0);
	f->srv.status = 204;
	pthread_mutex_init(&f->srv.mu, NULL);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	httpc_free(f->w);
	loop_free(f->l);
	srv_stop(&f->srv);
	tls_stop(&f->tls); /* if a failed assertion left it running */
	pthread_mutex_destroy(&f->srv.mu);
	free(f->srv.body);
	free(f);
	return 0;
}

static webhook_request req_for(const char *url)
{
	return (webhook_request){
		.url = url,
		.body = BODY,
		.body_len = strlen(BODY),
		.hmac_key = KEY,
		.hmac_key_len = KEY_LEN,
		.timestamp = T,
		.allow_private = true,
		.allow_insecure = true,
		.timeout_ms = WAIT_MS,
	};
}

static void turn_until(struct fx *f, const int *calls, int want, int max_ms)
{
	int64_t end = loop_now_ms() + max_ms;
	while (*calls < want && loop_now_ms() < end)
		assert_int_equal(loop_turn(f->l, 20), 0);
}

static void assert_detail_clean(const struct outcome *o)
{
	assert_true(o->detail_len > 0);
	assert_true(o->detail_len < ROTJOB_DETAIL_MAX);
	for (size_t i = 0; i < o->detail_len; i++) {
		unsigned char c = (unsigned char)o->detail[i];
		assert_true(c >= 0x20 && c <= 0x7e);
	}
	assert_null(strstr(o->detail, "s3cr3t"));
}

/* Start req, check nothing is called before the loop runs, run the loop
 * until done, and check it was called exactly once. */
static void run(struct fx *f, const webhook_request *req)
{
	webhook_job *job = NULL;

	memset(&f->out, 0, sizeof(f->out));
	assert_int_equal(webhook_start(f->w, req, on_done, &f->out, &job), 0);
	assert_non_null(job);
	assert_int_equal(f->out.calls, 0);
	turn_until(f, &f->out.calls, 1, WAIT_MS + 5000);
	assert_int_equal(f->out.calls, 1);
	for (int i = 0; i < 3; i++)
		assert_int_equal(loop_turn(f->l, 10), 0);
	assert_int_equal(f->out.calls, 1);
	assert_detail_clean(&f->out);
}

static void use_server(struct fx *f, const char *host, const char *scheme)
{
	if (!f->srv.running)
		srv_start(&f->srv);
	snprintf(f->url, sizeof(f->url), "%s://%s:%d/hook", scheme, host,
	         f->srv.port);
}

/* ---- transfers ---- */

static void test_post_204(void **state)
{
	struct fx *f = *state;
	char v[256];

	use_server(f, "127.0.0.1", "http");
	webhook_request req = req_for(f->url);
	run(f, &req);
	assert_int_equal(f->out.result, 0);
	assert_string_equal(f->out.detail, "HTTP 204");

	srv_stop(&f->srv);
	assert_int_equal(f->srv.accepted, 1);
	assert_int_equal(f->srv.requests, 1);
	assert_true(f->srv.sig_ok);
	assert_int_equal(f->srv.sig_t, T);
	assert_int_equal(f->srv.body_len, strlen(BODY));
	assert_memory_equal(f->srv.body, BODY, strlen(BODY));
	assert_int_equal(strncmp(f->srv.head, "POST /hook HTTP/1.1\r\n", 21),
	                 0);
	assert_non_null(
		header_value(f->srv.head, "Content-Type", v, sizeof(v)));
	assert_string_equal(v, "application/json");
	assert_non_null(header_value(f->srv.head, "User-Agent", v, sizeof(v)));
	assert_string_equal(v, "keyward/" KW_VERSION_STRING);
	assert_null(header_value(f->srv.head, "Expect", v, sizeof(v)));
	assert_null(header_value(f->srv.head, "Cookie", v, sizeof(v)));
}

static void test_post_by_name(void **state)
{
	struct fx *f = *state;

	/* localhost is looked up, checked, and the transfer pinned to it. */
	srv_set(&f->srv, 200, "ok\n", 0, false);
	use_server(f, "localhost", "http");
	webhook_request req = req_for(f->url);
	run(f, &req);
	assert_int_equal(f->out.result, 0);
	assert_string_equal(f->out.detail, "HTTP 200");
	srv_stop(&f->srv);
	assert_int_equal(f->srv.requests, 1);
	assert_true(f->srv.sig_ok);
}

static void test_post_empty_body(void **state)
{
	struct fx *f = *state;

	use_server(f, "127.0.0.1", "http");
	webhook_request req = req_for(f->url);
	req.body = NULL;
	req.body_len = 0;
	run(f, &req);
	assert_int_equal(f->out.result, 0);
	srv_stop(&f->srv);
	assert_int_equal(f->srv.body_len, 0);
	assert_true(f->srv.sig_ok);
}

static void test_concurrent(void **state)
{
	struct fx *f = *state;
	struct outcome outs[4];
	webhook_job *job;

	memset(outs, 0, sizeof(outs));
	use_server(f, "127.0.0.1", "http");
	webhook_request req = req_for(f->url);
	for (int i = 0; i < 4; i++)
		assert_int_equal(webhook_start(f->w, &req, on_done, &outs[i],
		                               &job),
		                 0);
	int64_t end = loop_now_ms() + WAIT_MS;
	while (loop_now_ms() < end &&
	       outs[0].calls + outs[1].calls + outs[2].calls + outs[3].calls <
	               4)
		assert_int_equal(loop_turn(f->l, 20), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(outs[i].calls, 1);
		assert_int_equal(outs[i].result, 0);
	}
	srv_stop(&f->srv);
	assert_int_equal(f->srv.requests, 4);
}

static void test_status_500(void **state)
{
	struct fx *f = *state;

	srv_set(&f->srv, 500, "database on fire\r\nsecond line\n", 0, false);
	use_server(f, "127.0.0.1", "http");
	webhook_request req = req_for(f->url);
	run(f, &req);
	assert_int_equal(f->out.result, KW_ESTATE);
	assert_string_equal(f->out.detail, "HTTP 500: database on fire");

	srv_set(&f->srv, 404, "", 0, false);
	run(f, &req);
	assert_int_equal(f->out.result, KW_ESTATE);
	assert_string_equal(f->out.detail, "HTTP 404");
}

static void test_status_detail_printable(void **state)
{
	struct fx *f = *state;
	char body[600];

	/* Control bytes, bytes past ASCII, and a very long line. */
	static const char start[] = "\x01 bad\xff\x7f byte\tend";
	memset(body, 'x', sizeof(body));
	memcpy(body, start, sizeof(start) - 1);
	body[sizeof(body) - 1] = '\0';
	srv_set(&f->srv, 503, body, 0, false);
	use_server(f, "127.0.0.1", "http");
	webhook_request req = req_for(f->url);
	run(f, &req);
	assert_int_equal(f->out.result, KW_ESTATE);
	assert_int_equal(strncmp(f->out.detail, "HTTP 503: ? bad?? byte?endxx",
	                         28),
	                 0);
	assert_int_equal(f->out.detail_len, ROTJOB_DETAIL_MAX - 1);
}

static void test_redirect_not_followed(void **state)
{
	struct fx *f = *state;
	char loc[128];

	use_server(f, "127.0.0.1", "http");
	snprintf(loc, sizeof(loc), "Location: http://127.0.0.1:%d/followed\r\n",
	         f->srv.port);
	pthread_mutex_lock(&f->srv.mu);
	f->srv.extra = loc;
	pthread_mutex_unlock(&f->srv.mu);
	srv_set(&f->srv, 302, "moved\n", 0, false);
	webhook_request req = req_for(f->url);
	run(f, &req);
	assert_int_equal(f->out.result, KW_ESTATE);
	assert_string_equal(f->out.detail, "HTTP 302: moved");
	srv_stop(&f->srv);
	assert_int_equal(f->srv.accepted, 1);
	assert_int_equal(strncmp(f->srv.head, "POST /hook ", 11), 0);
}

static void test_response_limit(void **state)
{
	struct fx *f = *state;
	char want[64];

	snprintf(want, sizeof(want),
	         "the response body is larger than %u bytes",
	         WEBHOOK_RESPONSE_MAX);
	use_server(f, "127.0.0.1", "http");
	webhook_request req = req_for(f->url);

	srv_set(&f->srv, 200, NULL, WEBHOOK_RESPONSE_MAX, false);
	run(f, &req);
	assert_int_equal(f->out.result, 0);
	srv_set(&f->srv, 200, NULL, WEBHOOK_RESPONSE_MAX, true);
	run(f, &req);
	assert_int_equal(f->out.result, 0);

	/* Announced by Content-Length, and found only while reading. */
	srv_set(&f->srv, 200, NULL, WEBHOOK_RESPONSE_MAX + 1, false);
	run(f, &req);
	assert_int_equal(f->out.result, KW_EIO);
	assert_string_equal(f->out.detail, want);
	srv_set(&f->srv, 200, NULL, WEBHOOK_RESPONSE_MAX + 1, true);
	run(f, &req);
	assert_int_equal(f->out.result, KW_EIO);
	assert_string_equal(f->out.detail, want);
	srv_set(&f->srv, 500, NULL, 4 * WEBHOOK_RESPONSE_MAX, true);
	run(f, &req);
	assert_int_equal(f->out.result, KW_EIO);
	assert_string_equal(f->out.detail, want);
}

static void test_timeout(void **state)
{
	struct fx *f = *state;

	f->srv.hang = true;
	use_server(f, "127.0.0.1", "http");
	webhook_request req = req_for(f->url);
	req.timeout_ms = 300;
	int64_t t0 = loop_now_ms();
	run(f, &req);
	int64_t took = loop_now_ms() - t0;
	assert_int_equal(f->out.result, KW_ETIMEOUT);
	assert_true(took >= 250);
	assert_true(took < 3000);
	assert_int_equal(srv_accepted(&f->srv), 1);
}

/* Requests the guard refuses: done says why, and nothing connects. */
static void refused(struct fx *f, const webhook_request *req,
                    const char *detail)
{
	run(f, req);
	assert_int_equal(f->out.result, KW_EDENIED);
	assert_string_equal(f->out.detail, detail);
}

static void test_guard_insecure(void **state)
{
	struct fx *f = *state;

	use_server(f, "127.0.0.1", "http");
	webhook_request req = req_for(f->url);
	req.allow_insecure = false;
	refused(f, &req,
	        "plain http:// is refused; the schedule needs allow_insecure");

	/* Allowed, but only to loopback: 0.0.0.0 is not (Linux would take
	 * it to mean this host). */
	char url[128];
	snprintf(url, sizeof(url), "http://0.0.0.0:%d/hook", f->srv.port);
	req = req_for(url);
	refused(f, &req,
	        "plain http:// is allowed only to loopback addresses; "
	        "destination 0.0.0.0 is not one");

	srv_stop(&f->srv);
	assert_int_equal(f->srv.accepted, 0);
}

static void test_guard_private(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *host, *scheme, *detail;
	} cases[] = {
		{ "127.0.0.1", "http",
		  "destination 127.0.0.1 is a loopback address; the schedule "
		  "needs allow_private" },
		{ "127.0.0.1", "https",
		  "destination 127.0.0.1 is a loopback address; the schedule "
		  "needs allow_private" },
		{ "localhost", "https",
		  "destination 127.0.0.1 is a loopback address; the schedule "
		  "needs allow_private" },
		{ "127.1", "https",
		  "destination 127.0.0.1 is a loopback address; the schedule "
		  "needs allow_private" },
		{ "[::1]", "https",
		  "destination ::1 is a loopback address; the schedule needs "
		  "allow_private" },
		{ "[::ffff:127.0.0.1]", "https",
		  "destination ::ffff:127.0.0.1 is a loopback address; the "
		  "schedule needs allow_private" },
		{ "0.0.0.0", "https",
		  "destination 0.0.0.0 is an unspecified address; the schedule "
		  "needs allow_private" },
	};

	srv_start(&f->srv);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char url[128];
		snprintf(url, sizeof(url), "%s://%s:%d/hook", cases[i].scheme,
		         cases[i].host, f->srv.port);
		webhook_request req = req_for(url);
		req.allow_private = false;
		refused(f, &req, cases[i].detail);
	}
	srv_stop(&f->srv);
	assert_int_equal(f->srv.accepted, 0);
}

static void test_https_to_plain_server(void **state)
{
	struct fx *f = *state;

	use_server(f, "127.0.0.1", "https");
	webhook_request req = req_for(f->url);
	run(f, &req);
	assert_int_equal(f->out.result, KW_EIO);
	srv_stop(&f->srv);
	assert_true(f->srv.tls_hello);
	assert_int_equal(f->srv.requests, 0);

	/* A CA file that cannot be read fails the request too. */
	use_server(f, "127.0.0.1", "https");
	req = req_for(f->url);
	req.ca_file = "/nonexistent/keyward-test-ca.pem";
	run(f, &req);
	assert_int_equal(f->out.result, KW_EIO);
	assert_non_null(
		strstr(f->out.detail, "/nonexistent/keyward-test-ca.pem"));
	assert_non_null(strstr(f->out.detail, "no such file"));
	srv_stop(&f->srv);
	assert_int_equal(f->srv.requests, 0);
}

/* The key holder reads the CA file (keyward-net may not): one it cannot
 * use fails the job before any connection, saying which file and why. */
static void ca_refused(struct fx *f, const char *path, const char *why)
{
	use_server(f, "127.0.0.1", "https");
	webhook_request req = req_for(f->url);
	req.ca_file = path;
	run(f, &req);
	assert_int_equal(f->out.result, KW_EIO);
	assert_non_null(strstr(f->out.detail, path));
	assert_non_null(strstr(f->out.detail, why));
	srv_stop(&f->srv);
	assert_int_equal(f->srv.accepted, 0);
}

static void test_ca_file_unusable(void **state)
{
	struct fx *f = *state;
	char path[] = "/tmp/kw-webhook-ca-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	ca_refused(f, path, "empty");
	assert_int_equal(ftruncate(fd, WEBHOOK_CA_MAX + 1), 0);
	ca_refused(f, path, "larger than");
	close(fd);
	unlink(path);
	ca_refused(f, "/", "not a regular file");
}

/* ---- lifetimes ---- */

static void test_cancel_running(void **state)
{
	struct fx *f = *state;
	webhook_job *job = NULL;

	f->srv.hang = true;
	use_server(f, "127.0.0.1", "http");
	webhook_request req = req_for(f->url);
	memset(&f->out, 0, sizeof(f->out));
	assert_int_equal(webhook_start(f->w, &req, on_done, &f->out, &job), 0);
	for (int64_t end = loop_now_ms() + WAIT_MS;
	     srv_accepted(&f->srv) == 0 && loop_now_ms() < end;)
		assert_int_equal(loop_turn(f->l, 20), 0);
	assert_int_equal(srv_accepted(&f->srv), 1);
	webhook_cancel(job);
	for (int i = 0; i < 10; i++)
		assert_int_equal(loop_turn(f->l, 20), 0);
	assert_int_equal(f->out.calls, 0);

	/* The client goes on serving others. */
	srv_stop(&f->srv);
	f->srv.hang = false;
	use_server(f, "127.0.0.1", "http");
	req = req_for(f->url);
	run(f, &req);
	assert_int_equal(f->out.result, 0);
}

static void test_cancel_queued_or_done(void **state)
{
	struct fx *f = *state;
	webhook_job *job = NULL;

	memset(&f->out, 0, sizeof(f->out));
	webhook_request req = req_for("http://127.0.0.1:9/hook");
	req.allow_insecure = false; /* refused at once, nothing connects */
	/* Cancelled before the worker could finish it... */
	assert_int_equal(webhook_start(f->w, &req, on_done, &f->out, &job), 0);
	webhook_cancel(job);
	/* ...and after it finished, before the loop delivered it. */
	assert_int_equal(webhook_start(f->w, &req, on_done, &f->out, &job), 0);
	usleep(200 * 1000);
	webhook_cancel(job);
	webhook_cancel(NULL);
	for (int i = 0; i < 10; i++)
		assert_int_equal(loop_turn(f->l, 20), 0);
	assert_int_equal(f->out.calls, 0);
}

static void test_free_in_flight(void **state)
{
	struct fx *f = *state;
	webhook_job *job = NULL;

	f->srv.hang = true;
	use_server(f, "127.0.0.1", "http");
	webhook_request req = req_for(f->url);
	memset(&f->out, 0, sizeof(f->out));
	for (int i = 0; i < 3; i++)
		assert_int_equal(webhook_start(f->w, &req, on_done, &f->out,
		                               &job),
		                 0);
	for (int64_t end = loop_now_ms() + WAIT_MS;
	     srv_accepted(&f->srv) == 0 && loop_now_ms() < end;)
		assert_int_equal(loop_turn(f->l, 20), 0);
	httpc_free(f->w);
	f->w = NULL;
	for (int i = 0; i < 5; i++)
		assert_int_equal(loop_turn(f->l, 10), 0);
	assert_int_equal(f->out.calls, 0);
}

struct freeing {
	httpc **w;
	int calls;
};

static void on_done_free(void *arg, int result, const char *detail)
{
	struct freeing *fr = arg;
	(void)result;
	(void)detail;
	fr->calls++;
	httpc_free(*fr->w);
	*fr->w = NULL;
}

static void test_free_from_callback(void **state)
{
	struct fx *f = *state;
	struct freeing fr = { .w = &f->w };
	webhook_job *job = NULL;

	webhook_request req = req_for("http://127.0.0.1:9/hook");
	req.allow_insecure = false;
	for (int i = 0; i < 3; i++)
		assert_int_equal(webhook_start(f->w, &req, on_done_free, &fr,
		                               &job),
		                 0);
	usleep(200 * 1000); /* all three finished: one delivery frees all */
	turn_until(f, &fr.calls, 1, WAIT_MS);
	for (int i = 0; i < 5; i++)
		assert_int_equal(loop_turn(f->l, 10), 0);
	assert_int_equal(fr.calls, 1);
	assert_null(f->w);
}

static void test_jobs_limit(void **state)
{
	struct fx *f = *state;
	webhook_job *job = NULL, *extra = (webhook_job *)&job;

	/* Finished jobs count until delivered, and all get delivered. */
	memset(&f->out, 0, sizeof(f->out));
	webhook_request req = req_for("http://127.0.0.1:9/hook");
	req.allow_insecure = false;
	for (unsigned i = 0; i < HTTPC_JOBS_MAX; i++)
		assert_int_equal(webhook_start(f->w, &req, on_done, &f->out,
		                               &job),
		                 0);
	usleep(100 * 1000);
	assert_int_equal(webhook_start(f->w, &req, on_done, &f->out, &extra),
	                 KW_ELIMIT);
	assert_ptr_equal(extra, (webhook_job *)&job);
	turn_until(f, &f->out.calls, HTTPC_JOBS_MAX, WAIT_MS);
	assert_int_equal(f->out.calls, HTTPC_JOBS_MAX);
	assert_int_equal(f->out.result, KW_EDENIED);
	assert_int_equal(webhook_start(f->w, &req, on_done, &f->out, &job), 0);
	turn_until(f, &f->out.calls, HTTPC_JOBS_MAX + 1, WAIT_MS);
	assert_int_equal(f->out.calls, HTTPC_JOBS_MAX + 1);
}

static void test_start_refused(void **state)
{
	struct fx *f = *state;
	char long_url[WEBHOOK_URL_MAX + 2];
	static const char *bad_urls[] = {
		"",
		"not a url",
		"127.0.0.1/hook",
		"ftp://127.0.0.1/hook",
		"file:///etc/passwd",
		"gopher://127.0.0.1/",
		"https://user:pw@127.0.0.1/hook",
		"https://user@127.0.0.1/hook",
		"https://[fe80::1%25eth0]/hook",
		"https://b\xc3\xbc"
		"cher.example/hook",
		"https://127.0.0.1:0/hook",
		"https://127.0.0.1:65536/hook",
	};
	webhook_job *job = (webhook_job *)&job;
	webhook_job *const untouched = job;

	memset(&f->out, 0, sizeof(f->out));
	for (size_t i = 0; i < sizeof(bad_urls) / sizeof(bad_urls[0]); i++) {
		webhook_request req = req_for(bad_urls[i]);
		if (webhook_start(f->w, &req, on_done, &f->out, &job) !=
		    KW_EINVAL)
			fail_msg("accepted %s", bad_urls[i]);
	}
	memset(long_url, 'a', sizeof(long_url));
	memcpy(long_url, "https://", 8);
	long_url[sizeof(long_url) - 1] = '\0';
	webhook_request req = req_for(long_url);
	assert_int_equal(webhook_start(f->w, &req, on_done, &f->out, &job),
	                 KW_EINVAL);

	const webhook_request good = req_for("https://127.0.0.1/hook");
	req = good;
	req.url = NULL;
	assert_int_equal(webhook_start(f->w, &req, on_done, &f->out, &job),
	                 KW_EINVAL);
	req = good;
	req.hmac_key_len = 0;
	assert_int_equal(webhook_start(f->w, &req, on_done, &f->out, &job),
	                 KW_EINVAL);
	req = good;
	req.hmac_key_len = WEBHOOK_KEY_MAX + 1;
	assert_int_equal(webhook_start(f->w, &req, on_done, &f->out, &job),
	                 KW_EINVAL);
	req = good;
	req.hmac_key = NULL;
	assert_int_equal(webhook_start(f->w, &req, on_done, &f->out, &job),
	                 KW_EINVAL);
	req = good;
	req.timestamp = -1;
	assert_int_equal(webhook_start(f->w, &req, on_done, &f->out, &job),
	                 KW_EINVAL);
	req = good;
	req.timeout_ms = 0;
	assert_int_equal(webhook_start(f->w, &req, on_done, &f->out, &job),
	                 KW_EINVAL);
	req = good;
	req.body = NULL;
	assert_int_equal(webhook_start(f->w, &req, on_done, &f->out, &job),
	                 KW_EINVAL);
	req = good;
	req.body_len = WEBHOOK_BODY_MAX + 1;
	assert_int_equal(webhook_start(f->w, &req, on_done, &f->out, &job),
	                 KW_ETOOBIG);
	req = good;
	req.ca_file = "";
	assert_int_equal(webhook_start(f->w, &req, on_done, &f->out, &job),
	                 KW_EINVAL);
	req = good;
	assert_int_equal(webhook_start(f->w, &req, NULL, &f->out, &job),
	                 KW_EINVAL);
	assert_int_equal(webhook_start(f->w, NULL, on_done, &f->out, &job),
	                 KW_EINVAL);
	assert_ptr_equal(job, untouched);
	for (int i = 0; i < 5; i++)
		assert_int_equal(loop_turn(f->l, 10), 0);
	assert_int_equal(f->out.calls, 0);
}

/* ---- TLS, against openssl s_server ---- */

static char tls_dir[64];

static int spawn(char *const argv[], int in_fd, int out_fd, pid_t *ret_pid)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;

	posix_spawn_file_actions_init(&fa);
	if (in_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
	if (out_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
	else
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY,
		                                 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	int r = posix_spawn(&pid, OPENSSL, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r == 0)
		*ret_pid = pid;
	return r;
}

static void openssl_run(const char *what, char *const argv[])
{
	pid_t pid = -1;
	int st = 0;

	assert_int_equal(spawn(argv, -1, -1, &pid), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("openssl could not make %s.pem", what);
}

static void tls_path(char *out, size_t outsz, const char *name)
{
	snprintf(out, outsz, "%s/%s", tls_dir, name);
}

/* A new P-256 key NAME.key and certificate NAME.pem for subj: the CA's
 * own if san is NULL, else one for san signed by the CA. */
static void make_cert(const char *name, const char *subj, const char *san)
{
	char key[96], crt[96], ca[96], cakey[96], ext[96];
	char *argv[32] = { "openssl",
		           "req",
		           "-x509",
		           "-newkey",
		           "ec",
		           "-pkeyopt",
		           "ec_paramgen_curve:prime256v1",
		           "-nodes",
		           "-days",
		           "2" };
	size_t n = 10;

	snprintf(key, sizeof(key), "%s/%s.key", tls_dir, name);
	snprintf(crt, sizeof(crt), "%s/%s.pem", tls_dir, name);
	tls_path(ca, sizeof(ca), "ca.pem");
	tls_path(cakey, sizeof(cakey), "ca.key");
	snprintf(ext, sizeof(ext), "subjectAltName=%s", san ? san : "");
	argv[n++] = "-subj";
	argv[n++] = (char *)subj;
	argv[n++] = "-keyout";
	argv[n++] = key;
	argv[n++] = "-out";
	argv[n++] = crt;
	if (san) {
		argv[n++] = "-CA";
		argv[n++] = ca;
		argv[n++] = "-CAkey";
		argv[n++] = cakey;
		argv[n++] = "-addext";
		argv[n++] = ext;
		argv[n++] = "-addext";
		argv[n++] = "basicConstraints=CA:FALSE";
	}
	argv[n] = NULL;
	openssl_run(name, argv);
}

/* A CA, a certificate for 127.0.0.1 and one for another name, once. */
static void tls_make(void)
{
	if (tls_dir[0])
		return;
	if (access(OPENSSL, X_OK) != 0)
		fail_msg(OPENSSL " is missing: install the Debian package "
		                 "openssl (the TLS tests need it)");
	snprintf(tls_dir, sizeof(tls_dir), "/tmp/kw-webhook-XXXXXX");
	assert_non_null(mkdtemp(tls_dir));
	make_cert("ca", "/CN=keyward test CA", NULL);
	make_cert("ok", "/CN=127.0.0.1", "IP:127.0.0.1");
	make_cert("wrong", "/CN=wrong.example", "DNS:wrong.example");
}

static void tls_clean(void)
{
	static const char *names[] = { "ca.pem", "ca.key",    "ok.pem",
		                       "ok.key", "wrong.pem", "wrong.key" };
	char p[96];

	if (!tls_dir[0])
		return;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		tls_path(p, sizeof(p), names[i]);
		unlink(p);
	}
	rmdir(tls_dir);
}

/* Read s_server's stdout until needle shows up at or after offset from,
 * for at most max_ms. */
static bool tls_read_from(struct tls_srv *t, size_t from, const char *needle,
                          int max_ms)
{
	int64_t end = loop_now_ms() + max_ms;

	while (t->out_len < from || !memmem(t->out + from, t->out_len - from,
	                                    needle, strlen(needle))) {
		int64_t left = end - loop_now_ms();
		struct pollfd p = { .fd = t->out_fd, .events = POLLIN };
		if (left <= 0 || t->out_len == sizeof(t->out) - 1 ||
		    poll(&p, 1, (int)left) <= 0)
			return false;
		ssize_t n = read(t->out_fd, t->out + t->out_len,
		                 sizeof(t->out) - 1 - t->out_len);
		if (n <= 0)
			return false;
		t->out_len += (size_t)n;
		t->out[t->out_len] = '\0';
	}
	return true;
}

/* s_server with cert, answering the first client with a 204. */
static void tls_start(struct tls_srv *t, const char *cert_name,
                      const char *key_name)
{
	char cert[96], key[96];
	int in[2], out[2];

	tls_make();
	tls_path(cert, sizeof(cert), cert_name);
	tls_path(key, sizeof(key), key_name);
	memset(t, 0, sizeof(*t));
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	char *argv[] = { "openssl",     "s_server", "-accept",
		         "127.0.0.1:0", "-cert",    cert,
		         "-key",        key,        NULL };
	assert_int_equal(spawn(argv, in[0], out[1], &t->pid), 0);
	close(in[0]);
	close(out[1]);
	t->in_fd = in[1];
	t->out_fd = out[0];
	if (!tls_read_from(t, 0, "ACCEPT 127.0.0.1:", 10000))
		fail_msg("openssl s_server did not start");
	size_t at = (size_t)(strstr(t->out, "ACCEPT 127.0.0.1:") - t->out) + 17;
	if (!tls_read_from(t, at, "\n", 5000))
		fail_msg("openssl s_server did not say its port");
	t->port = (int)strtol(t->out + at, NULL, 10);
	assert_true(t->port > 0 && t->port < 65536);
	/* s_server sends what it reads on stdin once a client connects. */
	static const char answer[] =
		"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
	assert_int_equal(write(t->in_fd, answer, sizeof(answer) - 1),
	                 sizeof(answer) - 1);
}

static void tls_stop(struct tls_srv *t)
{
	if (t->pid <= 0)
		return;
	kill(t->pid, SIGKILL);
	waitpid(t->pid, NULL, 0);
	close(t->in_fd);
	close(t->out_fd);
	t->pid = 0;
}

static void test_https(void **state)
{
	struct fx *f = *state;
	struct tls_srv *t = &f->tls;
	char ca[96], want[160];

	tls_start(t, "ok.pem", "ok.key");
	tls_path(ca, sizeof(ca), "ca.pem");
	snprintf(f->url, sizeof(f->url), "https://127.0.0.1:%d/hook", t->port);
	webhook_request req = req_for(f->url);
	req.allow_insecure = false;
	req.ca_file = ca;
	run(f, &req);
	assert_int_equal(f->out.result, 0);
	assert_string_equal(f->out.detail, "HTTP 204");
	/* What s_server decrypted: the request, signed, with the body. */
	assert_true(tls_read_from(t, 0, BODY, 5000));
	assert_non_null(strstr(t->out, "POST /hook HTTP/1.1\r\n"));
	char sig[128];
	ref_signature(KEY, KEY_LEN, T, BODY, strlen(BODY), sig, sizeof(sig));
	snprintf(want, sizeof(want), "\r\nKeyward-Signature: %s\r\n", sig);
	assert_non_null(strstr(t->out, want));
	tls_stop(t);
}

static void test_https_refused(void **state)
{
	struct fx *f = *state;
	struct tls_srv *t = &f->tls;
	char ca[96];

	tls_make();
	tls_path(ca, sizeof(ca), "ca.pem");

	/* Not signed by anything in the system store. */
	tls_start(t, "ok.pem", "ok.key");
	snprintf(f->url, sizeof(f->url), "https://127.0.0.1:%d/hook", t->port);
	webhook_request req = req_for(f->url);
	run(f, &req);
	assert_int_equal(f->out.result, KW_EIO);
	assert_non_null(strstr(f->out.detail, "certificate"));
	tls_stop(t);

	/* Signed by the trusted CA, but for another name. */
	tls_start(t, "wrong.pem", "wrong.key");
	snprintf(f->url, sizeof(f->url), "https://127.0.0.1:%d/hook", t->port);
	req = req_for(f->url);
	req.ca_file = ca;
	run(f, &req);
	assert_int_equal(f->out.result, KW_EIO);
	assert_non_null(strstr(f->out.detail, "127.0.0.1"));
	tls_stop(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hmac_reference),
		cmocka_unit_test(test_signature),
		cmocka_unit_test(test_signature_refused),
#define FX(t) cmocka_unit_test_setup_teardown(t, fx_setup, fx_teardown)
		FX(test_post_204),
		FX(test_post_by_name),
		FX(test_post_empty_body),
		FX(test_concurrent),
		FX(test_status_500),
		FX(test_status_detail_printable),
		FX(test_redirect_not_followed),
		FX(test_response_limit),
		FX(test_timeout),
		FX(test_guard_insecure),
		FX(test_guard_private),
		FX(test_https_to_plain_server),
		FX(test_ca_file_unusable),
		FX(test_cancel_running),
		FX(test_cancel_queued_or_done),
		FX(test_free_in_flight),
		FX(test_free_from_callback),
		FX(test_jobs_limit),
		FX(test_start_refused),
		FX(test_https),
		FX(test_https_refused),
#undef FX
	};

	signal(SIGPIPE, SIG_IGN);
	if (kw_secmem_init() != 0 || spawn_client_new(&spawner) != 0)
		return 1;
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	spawn_client_free(spawner);
	tls_clean();
	return r;
}
