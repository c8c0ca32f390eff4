/*
 * webhook.c - see webhook.h.
 *
 * Everything here runs on the loop thread. A job goes: guard what the URL
 * says (scheme, literal address), else ask keyward-net to look the host
 * up and guard every address it found; then hand the transfer, pinned to
 * the checked addresses, to keyward-net (netclient.h). Its result is
 * stored in the job and delivered from on_results, one job per wakeup,
 * so that a done callback never runs inside a netclient callback or
 * inside webhook_start.
 */
#include "webhook.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "atomicfile.h"
#include "keyward.h"
#include "netclient.h"
#include "secmem.h"
#include "webhook_guard.h"

#define ADDRS_MAX      NETMSG_ADDRS_MAX /* addresses a transfer is pinned to */
#define CONNECT_MAX_MS 10000            /* connect phase, at most */

_Static_assert(WEBHOOK_CA_MAX <= NETMSG_CA_MAX,
               "a CA file fits the netmsg field");

enum job_state { JOB_RUNNING, JOB_DONE };

struct webhook_client {
	loop *l;
	loop_watch watch; /* efd: finished jobs are waiting */
	int efd;
	netclient *net;
	webhook_job *head, *tail;
	size_t njobs; /* running and finished, until delivered */
};

struct webhook_job {
	webhook_client *w;
	webhook_job *prev, *next;
	enum job_state state;
	uint32_t net_id; /* the lookup or transfer in keyward-net; 0: none */

	rotjob_done done;
	void *arg;
	bool https, allow_private, allow_insecure;
	bool host_literal;              /* an IP address: never looked up */
	char host[WEBHOOK_URL_MAX + 1]; /* without the brackets of IPv6 */
	unsigned port;
	char url[WEBHOOK_URL_MAX + 1];
	char *body; /* kw_wipealloc */
	size_t body_len;
	char *ca_pem; /* the CA file's contents, or NULL: the system's */
	size_t ca_pem_len;
	char ca_fail[ROTJOB_DETAIL_MAX]; /* why the CA file was not read */
	char sig_header[32 + WEBHOOK_SIGNATURE_SIZE];
	int64_t deadline_ms;
	struct sockaddr_storage addrs[ADDRS_MAX]; /* checked; port set */
	size_t naddrs;

	int result;
	char detail[ROTJOB_DETAIL_MAX];
};

/* The signature. */

int webhook_signature(const uint8_t *key, size_t keylen, int64_t t,
                      const char *body, size_t body_len, char *out,
                      size_t outsz)
{
	if (!key || keylen < 1 || keylen > WEBHOOK_KEY_MAX || t < 0 ||
	    (!body && body_len > 0) || !out || outsz < WEBHOOK_SIGNATURE_SIZE)
		return KW_EINVAL;

	char prefix[24];
	int n = snprintf(prefix, sizeof(prefix), "%" PRId64 ".", t);
	crypto_auth_hmacsha256_state st;
	uint8_t mac[crypto_auth_hmacsha256_BYTES];
	char hex[2 * crypto_auth_hmacsha256_BYTES + 1];

	crypto_auth_hmacsha256_init(&st, key, keylen);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)prefix, (size_t)n);
	if (body_len > 0)
		crypto_auth_hmacsha256_update(&st, (const uint8_t *)body,
		                              body_len);
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
	snprintf(out, outsz, "t=%" PRId64 ",v1=%s", t, hex);
	sodium_memzero(&st, sizeof(st));
	return 0;
}

/* Jobs: the list, results, freeing. */

static void list_append(webhook_client *w, webhook_job *j)
{
	j->prev = w->tail;
	j->next = NULL;
	if (w->tail)
		w->tail->next = j;
	else
		w->head = j;
	w->tail = j;
	w->njobs++;
}

static void list_unlink(webhook_client *w, webhook_job *j)
{
	if (j->prev)
		j->prev->next = j->next;
	else
		w->head = j->next;
	if (j->next)
		j->next->prev = j->prev;
	else
		w->tail = j->prev;
	j->prev = j->next = NULL;
	w->njobs--;
}

static void job_free(webhook_job *j)
{
	if (!j)
		return;
	kw_wipefree(j->body);
	kw_wipefree(j->ca_pem);
	sodium_memzero(j, sizeof(*j));
	free(j);
}

static void signal_loop(webhook_client *w)
{
	uint64_t one = 1;
	ssize_t n = write(w->efd, &one, sizeof(one));
	(void)n; /* only an overflow of the counter fails, never reached */
}

/* Give j its result; the loop delivers it from on_results. */
__attribute__((format(printf, 3, 4))) static void
job_finish(webhook_job *j, int result, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(j->detail, sizeof(j->detail), fmt, ap);
	va_end(ap);
	for (char *p = j->detail; *p; p++) {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	}
	j->result = result;
	j->state = JOB_DONE;
	j->net_id = 0;
	signal_loop(j->w);
}

void webhook_first_line(const unsigned char *body, size_t len, char *out,
                        size_t outsz)
{
	size_t n = 0;

	for (size_t i = 0; i < len && n + 1 < outsz; i++) {
		unsigned char c = body[i];
		if (c == '\r' || c == '\n')
			break;
		out[n++] = c >= 0x20 && c <= 0x7e ? (char)c : '?';
	}
	out[n] = '\0';
}

/* The transfer, in keyward-net. */

static void job_outcome(webhook_job *j, const netmsg *m)
{
	char why[NETMSG_ERROR_MAX + 1];

	if (!netmsg_str_copy(m->error, why, sizeof(why)) || !why[0])
		snprintf(why, sizeof(why), "transfer failed (libcurl code %u)",
		         (unsigned)m->curl_code);
	if (m->curl_code == 0) {
		char line[ROTJOB_DETAIL_MAX];
		unsigned status = m->http_status;
		webhook_first_line(m->body, m->body_len, line, sizeof(line));
		if (status >= 200 && status <= 299)
			job_finish(j, 0, "HTTP %u", status);
		else if (line[0])
			job_finish(j, KW_ESTATE, "HTTP %u: %s", status, line);
		else
			job_finish(j, KW_ESTATE, "HTTP %u", status);
	} else if (m->flags & NETMSG_F_TOO_BIG) {
		job_finish(j, KW_EIO,
		           "the response body is larger than %u bytes",
		           WEBHOOK_RESPONSE_MAX);
	} else if (m->flags & NETMSG_F_SOCKET_REFUSED) {
		job_finish(j, KW_EDENIED,
		           "a connection to an address that was not checked "
		           "was refused");
	} else if (m->flags & NETMSG_F_TIMEOUT) {
		job_finish(j, KW_ETIMEOUT, "%s", why);
	} else {
		job_finish(j, KW_EIO, "%s", why);
	}
}

static void on_transfer(void *arg, const netmsg *reply, const char *lost)
{
	webhook_job *j = arg;

	if (!reply)
		job_finish(j, KW_EIO,
		           "%s; the request may or may not have "
		           "reached %s",
		           lost, j->host);
	else if (reply->type != NETMSG_DONE)
		job_finish(j, KW_EIO,
		           "keyward-net answered a transfer with a "
		           "lookup");
	else
		job_outcome(j, reply);
}

static void job_send(webhook_job *j)
{
	int64_t left = j->deadline_ms - loop_now_ms();
	if (left <= 0) {
		job_finish(j, KW_ETIMEOUT, "timed out before connecting to %s",
		           j->host);
		return;
	}
	netmsg m = {
		.type = NETMSG_HTTP,
		.method = { "POST", 4 },
		.url = { j->url, strlen(j->url) },
		.naddrs = j->naddrs,
		.headers = {
			{ "Content-Type: application/json", 30 },
			{ j->sig_header, strlen(j->sig_header) },
			{ "User-Agent: keyward/" KW_VERSION_STRING,
			  strlen("User-Agent: keyward/" KW_VERSION_STRING) },
			{ "Expect:", 7 },
		},
		.nheaders = 4,
		.body = (const unsigned char *)j->body,
		.body_len = j->body_len,
		.connect_ms = (uint32_t)(left < CONNECT_MAX_MS ? left :
		                                                 CONNECT_MAX_MS),
		.total_ms = (uint32_t)left,
		.response_max = WEBHOOK_RESPONSE_MAX,
		.ca_pem = (const unsigned char *)j->ca_pem,
		.ca_pem_len = j->ca_pem_len,
	};
	for (size_t i = 0; i < j->naddrs; i++)
		m.addrs[i].ss = j->addrs[i];
	int r = netclient_send(j->w->net, &m, (int)m.total_ms, on_transfer, j,
	                       &j->net_id);
	if (r < 0)
		job_finish(j, KW_EIO,
		           "could not hand the request to "
		           "keyward-net: %s",
		           kw_strerror(r));
}

/* The destination guard, in the key holder. */

static int job_check_addr(webhook_job *j, const struct sockaddr_storage *ss)
{
	char why[ROTJOB_DETAIL_MAX];
	int r = webhook_guard_check(ss, j->allow_private, j->https, why,
	                            sizeof(why));

	if (r < 0)
		job_finish(j, r, "%s", why);
	return r;
}

static void job_pin_addr(webhook_job *j, const struct sockaddr_storage *ss)
{
	if (webhook_addr_listed(j->addrs, j->naddrs, ss, false))
		return;
	/* Past the cap an address is still checked, just not used. */
	if (j->naddrs == ADDRS_MAX)
		return;
	struct sockaddr_storage *p = &j->addrs[j->naddrs++];
	*p = *ss;
	if (p->ss_family == AF_INET)
		((struct sockaddr_in *)p)->sin_port = htons((uint16_t)j->port);
	else
		((struct sockaddr_in6 *)p)->sin6_port =
			htons((uint16_t)j->port);
}

static void on_resolved(void *arg, const netmsg *reply, const char *lost)
{
	webhook_job *j = arg;
	char why[NETMSG_ERROR_MAX + 1];

	j->net_id = 0;
	if (!reply) {
		job_finish(j, KW_EIO, "could not resolve %s: %s", j->host,
		           lost);
		return;
	}
	if (reply->type != NETMSG_RESOLVED) {
		job_finish(j, KW_EIO,
		           "keyward-net answered a lookup with a "
		           "transfer");
		return;
	}
	if (reply->error.len > 0) {
		netmsg_str_copy(reply->error, why, sizeof(why));
		job_finish(j, KW_EIO, "could not resolve %s: %s", j->host, why);
		return;
	}
	for (size_t i = 0; i < reply->naddrs; i++) {
		if (job_check_addr(j, &reply->addrs[i].ss) < 0)
			return;
		job_pin_addr(j, &reply->addrs[i].ss);
	}
	if (j->naddrs == 0) {
		job_finish(j, KW_EIO, "%s has no IPv4 or IPv6 address",
		           j->host);
		return;
	}
	job_send(j);
}

/* Guard what can be guarded now, then look the host up or send. */
static void job_begin(webhook_job *j)
{
	if (j->ca_fail[0]) {
		job_finish(j, KW_EIO, "%s", j->ca_fail);
		return;
	}
	if (!j->https && !j->allow_insecure) {
		job_finish(j, KW_EDENIED,
		           "plain http:// is refused; the schedule needs "
		           "allow_insecure");
		return;
	}
	if (j->host_literal) {
		struct sockaddr_storage ss;
		memset(&ss, 0, sizeof(ss));
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		if (inet_pton(AF_INET, j->host, &in->sin_addr) == 1) {
			ss.ss_family = AF_INET;
		} else {
			inet_pton(AF_INET6, j->host, &in6->sin6_addr);
			ss.ss_family = AF_INET6;
		}
		if (job_check_addr(j, &ss) == 0) {
			job_pin_addr(j, &ss);
			job_send(j);
		}
		return;
	}
	netmsg m = {
		.type = NETMSG_RESOLVE,
		.host = { j->host, strlen(j->host) },
	};
	int64_t left = j->deadline_ms - loop_now_ms();
	int r = netclient_send(j->w->net, &m, left > 0 ? (int)left : 1,
	                       on_resolved, j, &j->net_id);
	if (r < 0)
		job_finish(j, KW_EIO,
		           "could not hand the lookup to "
		           "keyward-net: %s",
		           kw_strerror(r));
}

/* The loop: deliver results. */

static void on_results(loop_watch *lw, uint32_t events)
{
	webhook_client *w = lw->owner;
	uint64_t v;
	ssize_t n = read(w->efd, &v, sizeof(v));
	(void)n; /* EAGAIN: a wakeup already consumed */
	(void)events;

	/* One job per call, re-arming for the rest, so that nothing of w is
	 * touched after the callback (which may free w). */
	webhook_job *j = w->head;
	while (j && j->state != JOB_DONE)
		j = j->next;
	if (!j)
		return;
	list_unlink(w, j);
	for (webhook_job *k = w->head; k; k = k->next) {
		if (k->state == JOB_DONE) {
			signal_loop(w);
			break;
		}
	}

	rotjob_done done = j->done;
	void *arg = j->arg;
	int result = j->result;
	char detail[ROTJOB_DETAIL_MAX];
	memcpy(detail, j->detail, sizeof(detail));
	job_free(j);
	done(arg, result, detail);
	sodium_memzero(detail, sizeof(detail));
}

/* keyward-net's launcher (netclient.h): the command spawner. */
static int net_launch(void *ctx, const char *path, int *ret_fd, pid_t *ret_pid,
                      char *why, size_t whysz)
{
	return spawn_net_start(ctx, path, ret_fd, ret_pid, why, whysz);
}

static int net_stop(void *ctx, pid_t pid, int *ret_code, int *ret_status)
{
	return spawn_net_stop(ctx, pid, ret_code, ret_status);
}

int webhook_client_new(loop *l, const char *helper_path, spawn_client *sp,
                       webhook_client **ret_client)
{
	const netclient_launcher launch = { .ctx = sp,
		                            .start = net_launch,
		                            .stop = net_stop };
	if (!l || !helper_path || !sp || !ret_client)
		return KW_EINVAL;
	webhook_client *w = calloc(1, sizeof(*w));
	if (!w)
		return KW_ENOMEM;
	int r = KW_EIO;
	w->l = l;
	w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->efd < 0)
		goto fail_efd;
	if ((r = loop_add(l, &w->watch, w->efd, EPOLLIN, on_results, w)) < 0)
		goto fail_watch;
	if ((r = netclient_new(l, helper_path, &launch, &w->net)) < 0)
		goto fail_net;
	*ret_client = w;
	return 0;

fail_net:
	loop_del(l, &w->watch);
fail_watch:
	close(w->efd);
fail_efd:
	free(w);
	return r;
}

void webhook_client_free(webhook_client *w)
{
	if (!w)
		return;
	netclient_free(w->net);
	while (w->head) {
		webhook_job *j = w->head;
		list_unlink(w, j);
		job_free(j);
	}
	loop_del(w->l, &w->watch);
	close(w->efd);
	free(w);
}

pid_t webhook_helper_pid(const webhook_client *w)
{
	return w ? netclient_pid(w->net) : 0;
}

/* The URL, parsed here and again by libcurl in keyward-net, which holds it
 * to the addresses checked here whatever it makes of the host. */

static bool host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

static bool url_char(char c)
{
	return (unsigned char)c > 0x20 && (unsigned char)c < 0x7f;
}

/* "[v6]" or a name or IPv4 literal, into j->host. */
static int parse_host(webhook_job *j, const char *h, size_t hlen)
{
	if (hlen == 0 || hlen > WEBHOOK_URL_MAX)
		return KW_EINVAL;
	if (h[0] == '[') {
		struct in6_addr a6;
		if (hlen < 3 || h[hlen - 1] != ']')
			return KW_EINVAL;
		memcpy(j->host, h + 1, hlen - 2);
		j->host[hlen - 2] = '\0';
		if (inet_pton(AF_INET6, j->host, &a6) != 1)
			return KW_EINVAL;
		j->host_literal = true;
		return 0;
	}
	struct in_addr a4;
	for (size_t i = 0; i < hlen; i++) {
		if (!host_char(h[i]))
			return KW_EINVAL;
	}
	memcpy(j->host, h, hlen);
	j->host[hlen] = '\0';
	j->host_literal = inet_pton(AF_INET, j->host, &a4) == 1;
	return 0;
}

static int parse_port(webhook_job *j, const char *p, size_t len)
{
	unsigned long v = 0;

	if (len == 0 || len > 5)
		return KW_EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return KW_EINVAL;
		v = v * 10 + (unsigned long)(p[i] - '0');
	}
	if (v < 1 || v > 65535)
		return KW_EINVAL;
	j->port = (unsigned)v;
	return 0;
}

/* scheme://host[:port][/path...]: no user:password, no zone id, printable
 * ASCII without spaces. */
static int job_parse_url(webhook_job *j, const char *url)
{
	size_t len = strlen(url);
	const char *rest;

	for (size_t i = 0; i < len; i++) {
		if (!url_char(url[i]))
			return KW_EINVAL;
	}
	if (strncasecmp(url, "https://", 8) == 0) {
		j->https = true;
		rest = url + 8;
	} else if (strncasecmp(url, "http://", 7) == 0) {
		rest = url + 7;
	} else {
		return KW_EINVAL;
	}
	size_t alen = strcspn(rest, "/?#");
	if (memchr(rest, '@', alen))
		return KW_EINVAL;
	size_t hlen = alen;
	const char *colon = NULL;
	if (rest[0] == '[') {
		const char *close = memchr(rest, ']', alen);
		if (!close)
			return KW_EINVAL;
		hlen = (size_t)(close - rest) + 1;
		if (hlen < alen) {
			if (rest[hlen] != ':')
				return KW_EINVAL;
			colon = rest + hlen;
		}
	} else if ((colon = memchr(rest, ':', alen))) {
		hlen = (size_t)(colon - rest);
	}
	if (parse_host(j, rest, hlen) < 0)
		return KW_EINVAL;
	if (colon) {
		if (parse_port(j, colon + 1, alen - hlen - 1) < 0)
			return KW_EINVAL;
	} else {
		j->port = j->https ? 443 : 80;
	}
	memcpy(j->url, url, len + 1);
	return 0;
}

/*
 * Read the CA file into j (keyward-net may not open it). A file that
 * cannot be read is the job's failure, kept in j->ca_fail for job_begin;
 * only running out of memory fails here (KW_ENOMEM).
 */
static int job_read_ca(webhook_job *j, const char *path)
{
	char why[96];

	if (!path)
		return 0;
	int r = kw_file_read_follow(path, WEBHOOK_CA_MAX, &j->ca_pem,
	                            &j->ca_pem_len, NULL, why, sizeof(why));
	if (r == KW_ENOMEM)
		return r;
	if (r == 0 && j->ca_pem_len == 0) {
		snprintf(why, sizeof(why), "the file is empty");
		r = KW_EINVAL;
	}
	if (r < 0) {
		kw_wipefree(j->ca_pem);
		j->ca_pem = NULL;
		j->ca_pem_len = 0;
		snprintf(j->ca_fail, sizeof(j->ca_fail),
		         "cannot use the CA file %s: %s", path, why);
	}
	return 0;
}

int webhook_start(webhook_client *w, const webhook_request *req,
                  rotjob_done done, void *arg, webhook_job **ret_job)
{
	if (!w || !req || !done || !ret_job || !req->url || !req->hmac_key ||
	    req->hmac_key_len < 1 || req->hmac_key_len > WEBHOOK_KEY_MAX ||
	    req->timestamp < 0 || req->timeout_ms <= 0 ||
	    (!req->body && req->body_len > 0))
		return KW_EINVAL;
	if (req->body_len > WEBHOOK_BODY_MAX)
		return KW_ETOOBIG;
	if (strnlen(req->url, WEBHOOK_URL_MAX + 1) > WEBHOOK_URL_MAX)
		return KW_EINVAL;
	if (req->ca_file && (req->ca_file[0] == '\0' ||
	                     strnlen(req->ca_file, PATH_MAX) >= PATH_MAX))
		return KW_EINVAL;
	if (w->njobs >= WEBHOOK_JOBS_MAX)
		return KW_ELIMIT;

	webhook_job *j = calloc(1, sizeof(*j));
	if (!j)
		return KW_ENOMEM;
	j->w = w;
	j->done = done;
	j->arg = arg;
	j->allow_private = req->allow_private;
	j->allow_insecure = req->allow_insecure;
	j->deadline_ms = loop_now_ms() + req->timeout_ms;

	int r = job_parse_url(j, req->url);
	if (r < 0)
		goto fail;
	r = KW_ENOMEM;
	j->body = kw_wipealloc(req->body_len ? req->body_len : 1);
	if (!j->body)
		goto fail;
	if (req->body_len > 0)
		memcpy(j->body, req->body, req->body_len);
	j->body_len = req->body_len;
	r = job_read_ca(j, req->ca_file);
	if (r < 0)
		goto fail;

	char sig[WEBHOOK_SIGNATURE_SIZE];
	r = webhook_signature(req->hmac_key, req->hmac_key_len, req->timestamp,
	                      req->body, req->body_len, sig, sizeof(sig));
	if (r < 0)
		goto fail;
	snprintf(j->sig_header, sizeof(j->sig_header), "Keyward-Signature: %s",
	         sig);

	list_append(w, j);
	job_begin(j);
	*ret_job = j;
	return 0;

fail:
	job_free(j);
	return r;
}

void webhook_cancel(webhook_job *j)
{
	if (!j)
		return;
	webhook_client *w = j->w;

	if (j->net_id)
		netclient_cancel(w->net, j->net_id);
	list_unlink(w, j);
	job_free(j);
}
