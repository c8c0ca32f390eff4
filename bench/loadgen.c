/*
 * loadgen - a closed-loop load generator for Unix-socket request/response
 * servers, so that keywardd, an echo server, redis-server and ssh-agent are
 * all driven by the same code and compared fairly.
 *
 * One thread, one epoll set over C connections; each connection has exactly
 * one request in flight (closed loop). After a warm-up, every answer is
 * checked and its latency (CLOCK_MONOTONIC, send to last byte) goes into a
 * log-linear histogram (64 sub-buckets per power of two, so percentiles are
 * within about 1.6 %). The run ends after --seconds or --max-requests,
 * whichever comes first, and prints one JSON object on stdout. A wrong
 * answer, or a connection the server closes, counts as an error and makes
 * the exit status 1.
 *
 * Targets (--target):
 *   keyward    JSON-RPC 2.0 lines (docs/protocol.md). The request is
 *              {"jsonrpc":"2.0","id":N,"method":M,"params":P} with a fresh
 *              integer id each time; the answer must start with
 *              {"jsonrpc":"2.0","id":N,"result": and, with --expect, contain
 *              that text.
 *   echo       a JSON line; any one line back (with --expect, containing it).
 *   redis      RESP GET KEY; a bulk string of --value-bytes bytes back.
 *   ssh-ids    ssh-agent SSH_AGENTC_REQUEST_IDENTITIES (11); the answer must
 *              be SSH_AGENT_IDENTITIES_ANSWER (12) with --keys keys.
 *   ssh-sign   SSH_AGENTC_SIGN_REQUEST (13) of a fixed 128-byte message with
 *              the agent's first key (it must be Ed25519); the answer must be
 *              SSH_AGENT_SIGN_RESPONSE (14) holding an ssh-ed25519 signature.
 *
 * Values that may be secret (a token in the params, the expected value) are
 * read from files (--params-file, --expect-file), never from argv.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum target { T_KEYWARD, T_ECHO, T_REDIS, T_SSH_IDS, T_SSH_SIGN };

#define MAX_CLIENTS     1024
#define IN_CAP          (256u * 1024u)
#define REQ_CAP         (64u * 1024u)
#define SSH_MAX_FRAME   (64u * 1024u) /* a frame always fits in IN_CAP */
#define SIGN_DATA_BYTES 128u

/* Histogram: values below 2*SUB are exact; above, 64 buckets per power of
 * two. Values are nanoseconds. */
#define SUB_BITS 6u
#define SUB      (1u << SUB_BITS)
#define NBUCKETS (2u * SUB + (63u - SUB_BITS) * SUB)

struct hist {
	uint64_t count[NBUCKETS];
	uint64_t n;
	uint64_t sum_ns;
	uint64_t max_ns;
};

struct conn {
	int fd;
	bool dead;
	bool waiting; /* a request is in flight */
	uint64_t id;
	uint64_t sent_ns;
	uint8_t *in;
	size_t in_len;
	uint8_t *out;
	size_t out_len;
	size_t out_off;
};

struct opts {
	enum target target;
	const char *target_name;
	const char *scenario;
	const char *socket;
	unsigned clients;
	double warmup_s;
	double seconds;
	uint64_t max_requests;
	const char *method;
	char *params; /* JSON object text, or NULL */
	char *expect; /* substring the answer must contain, or NULL */
	size_t expect_len;
	const char *key;      /* redis key */
	uint64_t value_bytes; /* redis: expected bulk length */
	uint64_t keys;        /* ssh-ids: expected number of keys */
};

struct run {
	struct opts o;
	struct conn *conns;
	struct hist hist;
	uint8_t *fixed_req; /* request bytes for all but keyward */
	size_t fixed_len;
	char *kw_post; /* keyward: everything after the id */
	size_t kw_post_len;
	uint64_t next_id;
	uint64_t measure_start_ns;
	uint64_t measure_end_ns;
	uint64_t last_done_ns;
	uint64_t requests; /* completed in the measured window */
	uint64_t answers;  /* every answer, warm-up included */
	uint64_t errors;
	int ep;
	bool sending;
};

static volatile sig_atomic_t stop_now;

static void on_signal(int sig)
{
	(void)sig;
	stop_now = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static unsigned bucket_of(uint64_t v)
{
	unsigned e;

	if (v < 2u * SUB)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v);
	return 2u * SUB + (e - SUB_BITS - 1u) * SUB +
	       (unsigned)((v >> (e - SUB_BITS)) & (SUB - 1u));
}

/* The middle of bucket i, in nanoseconds. */
static double bucket_mid(unsigned i)
{
	unsigned k, e;
	uint64_t low, width;

	if (i < 2u * SUB)
		return (double)i;
	k = i - 2u * SUB;
	e = k / SUB + SUB_BITS + 1u;
	low = ((uint64_t)1 << e) | ((uint64_t)(k % SUB) << (e - SUB_BITS));
	width = (uint64_t)1 << (e - SUB_BITS);
	return (double)low + (double)width / 2.0;
}

static void hist_add(struct hist *h, uint64_t v)
{
	h->count[bucket_of(v)]++;
	h->n++;
	h->sum_ns += v;
	if (v > h->max_ns)
		h->max_ns = v;
}

/* The q-quantile in microseconds (0 when empty). */
static double hist_quantile_us(const struct hist *h, double q)
{
	uint64_t rank, seen = 0;
	unsigned i;

	if (h->n == 0)
		return 0.0;
	rank = (uint64_t)(q * (double)h->n);
	if ((double)rank < q * (double)h->n)
		rank++;
	if (rank == 0)
		rank = 1;
	for (i = 0; i < NBUCKETS; i++) {
		seen += h->count[i];
		if (seen >= rank)
			return bucket_mid(i) / 1000.0;
	}
	return (double)h->max_ns / 1000.0;
}

static void die(const char *what)
{
	fprintf(stderr, "loadgen: %s\n", what);
	exit(2);
}

static void die_errno(const char *what)
{
	fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
	exit(2);
}

static uint64_t parse_u64(const char *s, const char *what, uint64_t min,
                          uint64_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max) {
		fprintf(stderr,
		        "loadgen: %s: expected %" PRIu64 "..%" PRIu64 "\n",
		        what, min, max);
		exit(2);
	}
	return v;
}

static double parse_seconds(const char *s, const char *what)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0.0) || v > 86400.0) {
		fprintf(stderr, "loadgen: %s: expected 0..86400 seconds\n",
		        what);
		exit(2);
	}
	return v;
}

/* The whole of a small file, NUL-terminated, trailing newlines removed. */
static char *read_small_file(const char *path, size_t *ret_len)
{
	char *buf = malloc(REQ_CAP);
	size_t len = 0;
	ssize_t r;
	int fd;

	if (!buf)
		die("out of memory");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die_errno(path);
	for (;;) {
		if (len >= REQ_CAP - 1)
			die("input file too big");
		r = read(fd, buf + len, REQ_CAP - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die_errno(path);
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	buf[len] = '\0';
	if (memchr(buf, '\n', len) || memchr(buf, '\0', len))
		die("input file holds a newline or NUL inside");
	*ret_len = len;
	return buf;
}

static bool label_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 64)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-' || c == ':' || c == '/'))
			return false;
	}
	return true;
}

static int connect_unix(const char *path)
{
	struct sockaddr_un sa;
	size_t n = strlen(path);
	int fd;

	if (n >= sizeof(sa.sun_path))
		die("socket path too long");
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, n + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die_errno("socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die_errno(path);
	return fd;
}

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* An SSH string at *off within len bytes: its bytes and length. */
static bool ssh_string(const uint8_t *buf, size_t len, size_t *off,
                       const uint8_t **ret_p, size_t *ret_n)
{
	uint32_t n;

	if (len - *off < 4)
		return false;
	n = get_u32(buf + *off);
	if (n > len - *off - 4)
		return false;
	*ret_p = buf + *off + 4;
	*ret_n = n;
	*off += 4 + (size_t)n;
	return true;
}

static bool ssh_string_is(const uint8_t *p, size_t n, const char *want)
{
	return n == strlen(want) && memcmp(p, want, n) == 0;
}

static void write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die_errno("send");
		p += w;
		n -= (size_t)w;
	}
}

/* One whole agent frame (body only) from a blocking socket. */
static uint8_t *ssh_read_frame(int fd, size_t *ret_len)
{
	uint8_t hdr[4];
	uint8_t *body;
	size_t got = 0, len;

	while (got < 4) {
		ssize_t r = read(fd, hdr + got, 4 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			die("ssh-agent closed the connection during setup");
		got += (size_t)r;
	}
	len = get_u32(hdr);
	if (len == 0 || len > SSH_MAX_FRAME)
		die("ssh-agent frame length out of range");
	body = malloc(len);
	if (!body)
		die("out of memory");
	got = 0;
	while (got < len) {
		ssize_t r = read(fd, body + got, len - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			die("ssh-agent closed the connection during setup");
		got += (size_t)r;
	}
	*ret_len = len;
	return body;
}

/* SSH_AGENTC_SIGN_REQUEST for the agent's first key, which must be an
 * Ed25519 key: asked for once, on a connection of its own. */
static void build_sign_request(struct run *r)
{
	static const uint8_t ids_req[5] = { 0, 0, 0, 1, 11 };
	const uint8_t *blob, *comment, *alg;
	size_t len, off = 5, blob_n, comment_n, alg_n, boff = 0, i;
	uint8_t *body, *req;
	int fd = connect_unix(r->o.socket);

	write_all(fd, ids_req, sizeof(ids_req));
	body = ssh_read_frame(fd, &len);
	close(fd);
	if (len < 5 || body[0] != 12 || get_u32(body + 1) < 1)
		die("ssh-agent has no identities");
	if (!ssh_string(body, len, &off, &blob, &blob_n) ||
	    !ssh_string(body, len, &off, &comment, &comment_n))
		die("ssh-agent identities answer is malformed");
	if (!ssh_string(blob, blob_n, &boff, &alg, &alg_n) ||
	    !ssh_string_is(alg, alg_n, "ssh-ed25519"))
		die("the ssh-agent's first key is not an Ed25519 key");
	/* uint32 len, byte 13, string blob, string data, uint32 flags */
	r->fixed_len = 4 + 1 + 4 + blob_n + 4 + SIGN_DATA_BYTES + 4;
	req = malloc(r->fixed_len);
	if (!req)
		die("out of memory");
	put_u32(req, (uint32_t)(r->fixed_len - 4));
	req[4] = 13;
	put_u32(req + 5, (uint32_t)blob_n);
	memcpy(req + 9, blob, blob_n);
	off = 9 + blob_n;
	put_u32(req + off, SIGN_DATA_BYTES);
	off += 4;
	for (i = 0; i < SIGN_DATA_BYTES; i++)
		req[off + i] = (uint8_t)(i * 7u + 1u);
	off += SIGN_DATA_BYTES;
	put_u32(req + off, 0);
	r->fixed_req = req;
	free(body);
}

static void build_requests(struct run *r)
{
	const struct opts *o = &r->o;
	char *buf;
	int n;

	switch (o->target) {
	case T_KEYWARD:
		buf = malloc(REQ_CAP);
		if (!buf)
			die("out of memory");
		n = snprintf(buf, REQ_CAP, ",\"method\":\"%s\"%s%s}\n",
		             o->method, o->params ? ",\"params\":" : "",
		             o->params ? o->params : "");
		if (n < 0 || (size_t)n >= REQ_CAP)
			die("request too long");
		r->kw_post = buf;
		r->kw_post_len = (size_t)n;
		break;
	case T_ECHO:
		buf = malloc(REQ_CAP);
		if (!buf)
			die("out of memory");
		n = snprintf(buf, REQ_CAP, "%s\n",
		             o->params ? o->params :
		                         "{\"jsonrpc\":\"2.0\",\"id\":1,"
		                         "\"method\":\"echo\"}");
		if (n < 0 || (size_t)n >= REQ_CAP)
			die("request too long");
		r->fixed_req = (uint8_t *)buf;
		r->fixed_len = (size_t)n;
		break;
	case T_REDIS:
		buf = malloc(REQ_CAP);
		if (!buf)
			die("out of memory");
		n = snprintf(buf, REQ_CAP, "*2\r\n$3\r\nGET\r\n$%zu\r\n%s\r\n",
		             strlen(o->key), o->key);
		if (n < 0 || (size_t)n >= REQ_CAP)
			die("request too long");
		r->fixed_req = (uint8_t *)buf;
		r->fixed_len = (size_t)n;
		break;
	case T_SSH_IDS:
		r->fixed_req = malloc(5);
		if (!r->fixed_req)
			die("out of memory");
		put_u32(r->fixed_req, 1);
		r->fixed_req[4] = 11;
		r->fixed_len = 5;
		break;
	case T_SSH_SIGN:
		build_sign_request(r);
		break;
	}
}

static void conn_close(struct run *r, struct conn *c)
{
	if (c->fd >= 0) {
		epoll_ctl(r->ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	c->fd = -1;
	c->dead = true;
	c->waiting = false;
}

static void conn_fail(struct run *r, struct conn *c, const char *why)
{
	r->errors++;
	if (r->errors <= 5)
		fprintf(stderr, "loadgen: connection %d: %s\n", c->fd, why);
	conn_close(r, c);
}

/* Write what is queued; wait for EPOLLOUT if the socket is full. */
static void conn_flush(struct run *r, struct conn *c)
{
	struct epoll_event ev;

	while (c->out_off < c->out_len) {
		ssize_t w = send(c->fd, c->out + c->out_off,
		                 c->out_len - c->out_off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			ev.events = EPOLLIN | EPOLLOUT;
			ev.data.ptr = c;
			epoll_ctl(r->ep, EPOLL_CTL_MOD, c->fd, &ev);
			return;
		}
		if (w < 0) {
			conn_fail(r, c, "send failed");
			return;
		}
		c->out_off += (size_t)w;
	}
	c->out_len = c->out_off = 0;
}

static void conn_send(struct run *r, struct conn *c)
{
	static const char pre[] = "{\"jsonrpc\":\"2.0\",\"id\":";
	char idbuf[24];
	int n;

	if (r->o.target == T_KEYWARD) {
		c->id = r->next_id++;
		n = snprintf(idbuf, sizeof(idbuf), "%" PRIu64, c->id);
		if (n < 0 || (size_t)n >= sizeof(idbuf))
			die("id overflow");
		memcpy(c->out, pre, sizeof(pre) - 1);
		memcpy(c->out + sizeof(pre) - 1, idbuf, (size_t)n);
		memcpy(c->out + sizeof(pre) - 1 + (size_t)n, r->kw_post,
		       r->kw_post_len);
		c->out_len = sizeof(pre) - 1 + (size_t)n + r->kw_post_len;
	} else {
		memcpy(c->out, r->fixed_req, r->fixed_len);
		c->out_len = r->fixed_len;
	}
	c->out_off = 0;
	c->waiting = true;
	c->sent_ns = now_ns();
	conn_flush(r, c);
}

/* Length of one whole answer at the start of the buffer: > 0 when complete
 * (*ok says whether it is right), 0 when more bytes are needed, -1 when the
 * stream cannot be framed any more. */
static ssize_t frame_answer(const struct run *r, const struct conn *c, bool *ok)
{
	const uint8_t *p = c->in;
	size_t n = c->in_len;
	const uint8_t *nl;

	*ok = false;
	switch (r->o.target) {
	case T_KEYWARD:
	case T_ECHO: {
		size_t line;
		nl = memchr(p, '\n', n);
		if (!nl)
			return n >= IN_CAP ? -1 : 0;
		line = (size_t)(nl - p);
		*ok = true;
		if (r->o.target == T_KEYWARD) {
			char want[64];
			int w = snprintf(want, sizeof(want),
			                 "{\"jsonrpc\":\"2.0\",\"id\":%" PRIu64
			                 ",\"result\":",
			                 c->id);
			if (w < 0 || (size_t)w >= sizeof(want) ||
			    line < (size_t)w || memcmp(p, want, (size_t)w))
				*ok = false;
		}
		if (*ok && r->o.expect &&
		    !memmem(p, line, r->o.expect, r->o.expect_len))
			*ok = false;
		return (ssize_t)line + 1;
	}
	case T_REDIS: {
		const uint8_t *cr;
		char num[24];
		size_t hl;
		char *end;
		long long v;
		cr = memmem(p, n, "\r\n", 2);
		if (!cr)
			return n >= IN_CAP ? -1 : 0;
		hl = (size_t)(cr - p);
		if (p[0] != '$') /* an error or another type: one line */
			return (ssize_t)hl + 2;
		if (hl < 2 || hl - 1 >= sizeof(num))
			return -1;
		memcpy(num, p + 1, hl - 1);
		num[hl - 1] = '\0';
		errno = 0;
		v = strtoll(num, &end, 10);
		if (errno || *end || v > (long long)(IN_CAP - 64))
			return -1;
		if (v < 0) /* nil */
			return (ssize_t)hl + 2;
		if (n < hl + 2 + (size_t)v + 2)
			return 0;
		*ok = (uint64_t)v == r->o.value_bytes;
		return (ssize_t)(hl + 2 + (size_t)v + 2);
	}
	case T_SSH_IDS:
	case T_SSH_SIGN: {
		size_t len, off = 1, sn, fn, gn, boff = 0;
		const uint8_t *b, *sig, *fmt, *raw;
		if (n < 4)
			return 0;
		len = get_u32(p);
		if (len == 0 || len > SSH_MAX_FRAME)
			return -1;
		if (n < 4 + len)
			return 0;
		b = p + 4;
		if (r->o.target == T_SSH_IDS) {
			*ok = len >= 5 && b[0] == 12 &&
			      get_u32(b + 1) == r->o.keys;
		} else {
			*ok = b[0] == 14 &&
			      ssh_string(b, len, &off, &sig, &sn) &&
			      ssh_string(sig, sn, &boff, &fmt, &fn) &&
			      ssh_string_is(fmt, fn, "ssh-ed25519") &&
			      ssh_string(sig, sn, &boff, &raw, &gn) && gn == 64;
		}
		return (ssize_t)(4 + len);
	}
	}
	return -1;
}

static void on_answer(struct run *r, struct conn *c, bool ok)
{
	uint64_t t = now_ns();

	c->waiting = false;
	r->answers++;
	if (!ok) {
		r->errors++;
		if (r->errors <= 5)
			fprintf(stderr,
			        "loadgen: wrong answer on connection "
			        "%d\n",
			        c->fd);
	}
	if (t >= r->measure_start_ns && r->sending) {
		if (ok) {
			hist_add(&r->hist, t - c->sent_ns);
			r->requests++;
			r->last_done_ns = t;
			if (r->o.max_requests &&
			    r->requests >= r->o.max_requests)
				r->sending = false;
		}
	}
	if (t >= r->measure_end_ns)
		r->sending = false;
	if (r->sending)
		conn_send(r, c);
}

static void conn_readable(struct run *r, struct conn *c)
{
	for (;;) {
		ssize_t got =
			read(c->fd, c->in + c->in_len, IN_CAP - c->in_len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (got <= 0) {
			conn_fail(r, c,
			          got == 0 ? "closed by the server" :
			                     "read failed");
			return;
		}
		c->in_len += (size_t)got;
		for (;;) {
			bool ok;
			ssize_t used = frame_answer(r, c, &ok);
			if (used < 0) {
				conn_fail(r, c, "answer cannot be framed");
				return;
			}
			if (used == 0)
				break;
			memmove(c->in, c->in + used, c->in_len - (size_t)used);
			c->in_len -= (size_t)used;
			if (!c->waiting) {
				conn_fail(r, c, "an answer nobody asked for");
				return;
			}
			on_answer(r, c, ok);
			if (c->dead)
				return;
		}
		if ((size_t)got < IN_CAP)
			break;
	}
}

static void usage(void)
{
	fputs("usage: loadgen --target keyward|echo|redis|ssh-ids|ssh-sign\n"
	      "         --socket PATH [--clients N] [--warmup S] [--seconds S]\n"
	      "         [--max-requests N] [--scenario LABEL]\n"
	      "         keyward: --method M [--params JSON | --params-file F]\n"
	      "         echo:    [--params LINE]\n"
	      "         keyward/echo: [--expect TEXT | --expect-file F]\n"
	      "         redis:   --key KEY [--value-bytes N]\n"
	      "         ssh-ids: [--keys N]\n",
	      stderr);
	exit(2);
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "target", required_argument, NULL, 't' },
		{ "socket", required_argument, NULL, 's' },
		{ "clients", required_argument, NULL, 'c' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "seconds", required_argument, NULL, 'd' },
		{ "max-requests", required_argument, NULL, 'n' },
		{ "scenario", required_argument, NULL, 'S' },
		{ "method", required_argument, NULL, 'm' },
		{ "params", required_argument, NULL, 'p' },
		{ "params-file", required_argument, NULL, 'P' },
		{ "expect", required_argument, NULL, 'e' },
		{ "expect-file", required_argument, NULL, 'E' },
		{ "key", required_argument, NULL, 'k' },
		{ "value-bytes", required_argument, NULL, 'v' },
		{ "keys", required_argument, NULL, 'K' },
		{ NULL, 0, NULL, 0 },
	};
	size_t len;
	int ch;

	memset(o, 0, sizeof(*o));
	o->clients = 1;
	o->warmup_s = 1.0;
	o->seconds = 5.0;
	o->value_bytes = 64;
	o->keys = 1;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 't':
			o->target_name = optarg;
			if (!strcmp(optarg, "keyward"))
				o->target = T_KEYWARD;
			else if (!strcmp(optarg, "echo"))
				o->target = T_ECHO;
			else if (!strcmp(optarg, "redis"))
				o->target = T_REDIS;
			else if (!strcmp(optarg, "ssh-ids"))
				o->target = T_SSH_IDS;
			else if (!strcmp(optarg, "ssh-sign"))
				o->target = T_SSH_SIGN;
			else
				usage();
			break;
		case 's':
			o->socket = optarg;
			break;
		case 'c':
			o->clients = (unsigned)parse_u64(optarg, "--clients", 1,
			                                 MAX_CLIENTS);
			break;
		case 'w':
			o->warmup_s = parse_seconds(optarg, "--warmup");
			break;
		case 'd':
			o->seconds = parse_seconds(optarg, "--seconds");
			break;
		case 'n':
			o->max_requests = parse_u64(optarg, "--max-requests", 0,
			                            UINT64_MAX / 2);
			break;
		case 'S':
			o->scenario = optarg;
			break;
		case 'm':
			o->method = optarg;
			break;
		case 'p':
			free(o->params);
			o->params = strdup(optarg);
			if (!o->params)
				die("out of memory");
			break;
		case 'P':
			free(o->params);
			o->params = read_small_file(optarg, &len);
			break;
		case 'e':
			free(o->expect);
			o->expect = strdup(optarg);
			if (!o->expect)
				die("out of memory");
			o->expect_len = strlen(o->expect);
			break;
		case 'E':
			free(o->expect);
			o->expect = read_small_file(optarg, &o->expect_len);
			break;
		case 'k':
			o->key = optarg;
			break;
		case 'v':
			o->value_bytes = parse_u64(optarg, "--value-bytes", 0,
			                           IN_CAP - 64);
			break;
		case 'K':
			o->keys = parse_u64(optarg, "--keys", 0, 100000);
			break;
		default:
			usage();
		}
	}
	if (optind < argc || !o->target_name || !o->socket)
		usage();
	if (o->target == T_KEYWARD && (!o->method || !label_ok(o->method)))
		die("--method: missing or not a method name");
	if (o->target == T_REDIS && (!o->key || !label_ok(o->key)))
		die("--key: missing or not [A-Za-z0-9._:/-]");
	if (o->params && (strchr(o->params, '\n') || strlen(o->params) > 60000))
		die("--params: one line of at most 60000 bytes");
	if (!o->scenario)
		o->scenario =
			o->target == T_KEYWARD ? o->method : o->target_name;
	if (!label_ok(o->scenario))
		die("--scenario: 1-64 of [A-Za-z0-9._:/-]");
	if (o->seconds <= 0.0)
		die("--seconds must be positive");
}

int main(int argc, char **argv)
{
	static struct run r;
	struct epoll_event evs[64];
	struct sigaction sa;
	uint64_t start, warm_end, window;
	double secs;
	unsigned i, alive;

	parse_args(argc, argv, &r.o);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	build_requests(&r);
	r.next_id = 1;
	r.ep = epoll_create1(EPOLL_CLOEXEC);
	if (r.ep < 0)
		die_errno("epoll_create1");
	r.conns = calloc(r.o.clients, sizeof(*r.conns));
	if (!r.conns)
		die("out of memory");
	for (i = 0; i < r.o.clients; i++) {
		struct conn *c = &r.conns[i];
		struct epoll_event ev;
		c->fd = connect_unix(r.o.socket);
		if (fcntl(c->fd, F_SETFL, O_NONBLOCK) < 0)
			die_errno("fcntl");
		c->in = malloc(IN_CAP);
		c->out = malloc(REQ_CAP + 32);
		if (!c->in || !c->out)
			die("out of memory");
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		if (epoll_ctl(r.ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
			die_errno("epoll_ctl");
	}

	start = now_ns();
	warm_end = start + (uint64_t)(r.o.warmup_s * 1e9);
	r.measure_start_ns = warm_end;
	r.measure_end_ns = warm_end + (uint64_t)(r.o.seconds * 1e9);
	r.sending = true;
	for (i = 0; i < r.o.clients; i++)
		if (!r.conns[i].dead)
			conn_send(&r, &r.conns[i]);

	while (r.sending && !stop_now) {
		uint64_t t = now_ns();
		uint64_t next = t < warm_end ? warm_end : r.measure_end_ns;
		int timeout, nev, k;
		if (t >= r.measure_end_ns)
			break;
		timeout = (int)((next - t) / 1000000u) + 1;
		nev = epoll_wait(r.ep, evs, 64, timeout);
		if (nev < 0 && errno == EINTR)
			continue;
		if (nev < 0)
			die_errno("epoll_wait");
		for (k = 0; k < nev; k++) {
			struct conn *c = evs[k].data.ptr;
			if (c->dead)
				continue;
			if (evs[k].events & EPOLLOUT) {
				struct epoll_event ev;
				ev.events = EPOLLIN;
				ev.data.ptr = c;
				epoll_ctl(r.ep, EPOLL_CTL_MOD, c->fd, &ev);
				conn_flush(&r, c);
				if (c->dead)
					continue;
			}
			if (evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				conn_readable(&r, c);
		}
		alive = 0;
		for (i = 0; i < r.o.clients; i++)
			alive += !r.conns[i].dead;
		if (alive == 0)
			break;
	}

	if (r.o.max_requests && r.requests >= r.o.max_requests)
		window = r.last_done_ns - r.measure_start_ns;
	else
		window = now_ns() - r.measure_start_ns;
	if (now_ns() < r.measure_start_ns)
		window = 0;
	secs = (double)window / 1e9;
	for (i = 0; i < r.o.clients; i++)
		if (!r.conns[i].dead)
			conn_close(&r, &r.conns[i]);

	printf("{\"target\":\"%s\",\"scenario\":\"%s\",\"clients\":%u,"
	       "\"warmup_s\":%.3f,\"seconds\":%.3f,\"requests\":%" PRIu64
	       ",\"errors\":%" PRIu64 ",\"req_per_s\":%.1f,\"p50_us\":%.1f,"
	       "\"p99_us\":%.1f,\"p999_us\":%.1f,\"mean_us\":%.1f,"
	       "\"max_us\":%.1f,\"answers\":%" PRIu64 ",\"interrupted\":%s}\n",
	       r.o.target_name, r.o.scenario, r.o.clients, r.o.warmup_s, secs,
	       r.requests, r.errors,
	       secs > 0.0 ? (double)r.requests / secs : 0.0,
	       hist_quantile_us(&r.hist, 0.50), hist_quantile_us(&r.hist, 0.99),
	       hist_quantile_us(&r.hist, 0.999),
	       r.hist.n ? (double)r.hist.sum_ns / (double)r.hist.n / 1000.0 :
	                  0.0,
	       (double)r.hist.max_ns / 1000.0, r.answers,
	       stop_now ? "true" : "false");
	return r.errors == 0 && r.requests > 0 && !stop_now ? 0 : 1;
}
