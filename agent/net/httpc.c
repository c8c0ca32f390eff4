/*
 * httpc.c - see httpc.h.
 *
 * Everything here runs on the loop thread. A job goes: guard what the URL
 * says (scheme, literal address), else ask keyward-net to look the host
 * up and guard every address it found; then hand the transfer, pinned to
 * the checked addresses, to keyward-net (netclient.h). Its result is
 * stored in the job and delivered from on_results, one job per wakeup,
 * so that a done callback never runs inside a netclient callback or
 * inside httpc_start.
 */
#include "httpc.h"

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
#include "httpguard.h"
#include "keyward.h"
#include "netclient.h"
#include "secmem.h"

#define ADDRS_MAX      NETMSG_ADDRS_MAX /* addresses a transfer is pinned to */
#define CONNECT_MAX_MS 10000            /* connect phase, at most */

_Static_assert(HTTPC_CA_MAX <= NETMSG_CA_MAX,
               "a CA file fits the netmsg field");

enum job_state { JOB_RUNNING, JOB_DONE };

struct httpc {
	loop *l;
	loop_watch watch; /* efd: finished jobs are waiting */
	int efd;
	netclient *net;
	httpc_job *head, *tail;
	size_t njobs; /* running and finished, until delivered */
};

struct httpc_job {
	httpc *w;
	httpc_job *prev, *next;
	enum job_state state;
	uint32_t net_id; /* the lookup or transfer in keyward-net; 0: none */

	httpc_done done;
	void *arg;
	void (*dropped)(void *arg);
	bool post;
	bool https, allow_private, allow_insecure;
	bool host_literal;            /* an IP address: never looked up */
	char host[HTTPC_URL_MAX + 1]; /* without the brackets of IPv6 */
	unsigned port;
	char url[HTTPC_URL_MAX + 1];
	char *headers[HTTPC_HEADERS_MAX]; /* kw_wipestrdup */
	size_t nheaders;
	char *keep[HTTPC_KEEP_MAX]; /* strdup */
	size_t nkeep;
	char *body; /* kw_wipealloc */
	size_t body_len;
	size_t response_max;
	char private_hint[96], insecure_hint[96];
	char *ca_pem; /* the CA file's contents, or NULL: the system's */
	size_t ca_pem_len;
	char ca_fail[HTTPC_DETAIL_MAX]; /* why the CA file was not read */
	int64_t deadline_ms;
	struct sockaddr_storage addrs[ADDRS_MAX]; /* checked; port set */
	size_t naddrs;

	int result;
	char detail[HTTPC_DETAIL_MAX];
	/* The response, copied out of keyward-net's reply when result is 0. */
	bool have_resp;
	unsigned status;
	unsigned char *resp_body; /* kw_wipealloc: it may hold a token */
	size_t resp_len;
	char *resp_headers[HTTPC_KEEP_MAX]; /* kw_wipestrdup */
	size_t resp_nheaders;
};

/* Jobs: the list, results, freeing. */

static void list_append(httpc *w, httpc_job *j)
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

static void list_unlink(httpc *w, httpc_job *j)
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

static void job_free(httpc_job *j)
{
	if (!j)
		return;
	for (size_t i = 0; i < j->nheaders; i++)
		kw_wipefree_str(j->headers[i]);
	for (size_t i = 0; i < j->nkeep; i++)
		free(j->keep[i]);
	for (size_t i = 0; i < j->resp_nheaders; i++)
		kw_wipefree_str(j->resp_headers[i]);
	kw_wipefree(j->body);
	kw_wipefree(j->resp_body);
	kw_wipefree(j->ca_pem);
	sodium_memzero(j, sizeof(*j));
	free(j);
}

static void signal_loop(httpc *w)
{
	uint64_t one = 1;
	ssize_t n = write(w->efd, &one, sizeof(one));
	(void)n; /* only an overflow of the counter fails, never reached */
}

/* Give j its result; the loop delivers it from on_results. */
__attribute__((format(printf, 3, 4))) static void
job_finish(httpc_job *j, int result, const char *fmt, ...)
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

void httpc_first_line(const unsigned char *body, size_t len, char *out,
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

/* Keep the response for delivery; false if memory ran out (the job has
 * then failed). */
static bool job_keep_response(httpc_job *j, const netmsg *m)
{
	j->resp_body = kw_wipealloc(m->body_len ? m->body_len : 1);
	if (!j->resp_body)
		return false;
	if (m->body_len > 0)
		memcpy(j->resp_body, m->body, m->body_len);
	j->resp_len = m->body_len;
	for (size_t i = 0; i < m->nheaders && i < HTTPC_KEEP_MAX; i++) {
		char *h = kw_wipealloc(m->headers[i].len + 1);
		if (!h)
			return false;
		memcpy(h, m->headers[i].p, m->headers[i].len);
		h[m->headers[i].len] = '\0';
		j->resp_headers[j->resp_nheaders++] = h;
	}
	j->status = m->http_status;
	j->have_resp = true;
	return true;
}

static void job_outcome(httpc_job *j, const netmsg *m)
{
	char why[NETMSG_ERROR_MAX + 1];

	if (!netmsg_str_copy(m->error, why, sizeof(why)) || !why[0])
		snprintf(why, sizeof(why), "transfer failed (libcurl code %u)",
		         (unsigned)m->curl_code);
	if (m->curl_code == 0) {
		if (job_keep_response(j, m))
			job_finish(j, 0, "HTTP %u", (unsigned)m->http_status);
		else
			job_finish(j, KW_ENOMEM,
			           "out of memory for the response");
	} else if (m->flags & NETMSG_F_TOO_BIG) {
		job_finish(j, KW_EIO,
		           "the response body is larger than %zu bytes",
		           j->response_max);
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
	httpc_job *j = arg;

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

static void job_send(httpc_job *j)
{
	int64_t left = j->deadline_ms - loop_now_ms();
	if (left <= 0) {
		job_finish(j, KW_ETIMEOUT, "timed out before connecting to %s",
		           j->host);
		return;
	}
	static const char agent[] = "User-Agent: keyward/" KW_VERSION_STRING;
	netmsg m = {
		.type = NETMSG_HTTP,
		.method = { j->post ? "POST" : "GET", j->post ? 4 : 3 },
		.url = { j->url, strlen(j->url) },
		.naddrs = j->naddrs,
		.body = (const unsigned char *)j->body,
		.body_len = j->body_len,
		.connect_ms =
			(uint32_t)(left < CONNECT_MAX_MS ? left :
		                                           CONNECT_MAX_MS),
		.total_ms = (uint32_t)left,
		.response_max = (uint32_t)j->response_max,
		.ca_pem = (const unsigned char *)j->ca_pem,
		.ca_pem_len = j->ca_pem_len,
	};
	for (size_t i = 0; i < j->nheaders; i++)
		m.headers[m.nheaders++] =
			(netmsg_str){ j->headers[i], strlen(j->headers[i]) };
	m.headers[m.nheaders++] = (netmsg_str){ agent, sizeof(agent) - 1 };
	m.headers[m.nheaders++] = (netmsg_str){ "Expect:", 7 };
	for (size_t i = 0; i < j->nkeep; i++)
		m.keep[m.nkeep++] =
			(netmsg_str){ j->keep[i], strlen(j->keep[i]) };
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

static int job_check_addr(httpc_job *j, const struct sockaddr_storage *ss)
{
	char why[HTTPC_DETAIL_MAX];
	int r = httpguard_check(ss, j->allow_private, j->https, j->private_hint,
	                        why, sizeof(why));

	if (r < 0)
		job_finish(j, r, "%s", why);
	return r;
}

static void job_pin_addr(httpc_job *j, const struct sockaddr_storage *ss)
{
	if (httpguard_addr_listed(j->addrs, j->naddrs, ss, false))
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
	httpc_job *j = arg;
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
static void job_begin(httpc_job *j)
{
	if (j->ca_fail[0]) {
		job_finish(j, KW_EIO, "%s", j->ca_fail);
		return;
	}
	if (!j->https && !j->allow_insecure) {
		job_finish(j, KW_EDENIED, "plain http:// is refused; %s",
		           j->insecure_hint);
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
	httpc *w = lw->owner;
	uint64_t v;
	ssize_t n = read(w->efd, &v, sizeof(v));
	(void)n; /* EAGAIN: a wakeup already consumed */
	(void)events;

	/* One job per call, re-arming for the rest, so that nothing of w is
	 * touched after the callback (which may free w). */
	httpc_job *j = w->head;
	while (j && j->state != JOB_DONE)
		j = j->next;
	if (!j)
		return;
	list_unlink(w, j);
	for (httpc_job *k = w->head; k; k = k->next) {
		if (k->state == JOB_DONE) {
			signal_loop(w);
			break;
		}
	}

	httpc_done done = j->done;
	void *arg = j->arg;
	int result = j->result;
	char detail[HTTPC_DETAIL_MAX];
	memcpy(detail, j->detail, sizeof(detail));
	netmsg_str hdrs[HTTPC_KEEP_MAX];
	for (size_t i = 0; i < j->resp_nheaders; i++)
		hdrs[i] = (netmsg_str){ j->resp_headers[i],
			                strlen(j->resp_headers[i]) };
	httpc_response resp = {
		.status = j->status,
		.body = j->resp_body,
		.body_len = j->resp_len,
		.headers = hdrs,
		.nheaders = j->resp_nheaders,
	};
	/* The job is freed after the callback (which may free w, but never
	 * touches j): the response points into it. */
	done(arg, result, detail, result == 0 && j->have_resp ? &resp : NULL);
	job_free(j);
	sodium_memzero(detail, sizeof(detail));
}

int httpc_new(loop *l, const char *helper_path,
              const netclient_launcher *launch, httpc **ret_client)
{
	if (!l || !helper_path || !launch || !ret_client)
		return KW_EINVAL;
	httpc *w = calloc(1, sizeof(*w));
	if (!w)
		return KW_ENOMEM;
	int r = KW_EIO;
	w->l = l;
	w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->efd < 0)
		goto fail_efd;
	if ((r = loop_add(l, &w->watch, w->efd, EPOLLIN, on_results, w)) < 0)
		goto fail_watch;
	if ((r = netclient_new(l, helper_path, launch, &w->net)) < 0)
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

void httpc_free(httpc *w)
{
	if (!w)
		return;
	netclient_free(w->net);
	while (w->head) {
		httpc_job *j = w->head;
		list_unlink(w, j);
		if (j->dropped)
			j->dropped(j->arg);
		job_free(j);
	}
	loop_del(w->l, &w->watch);
	close(w->efd);
	free(w);
}

pid_t httpc_helper_pid(const httpc *w)
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
static int parse_host(httpc_job *j, const char *h, size_t hlen)
{
	if (hlen == 0 || hlen > HTTPC_URL_MAX)
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

static int parse_port(httpc_job *j, const char *p, size_t len)
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
static int job_parse_url(httpc_job *j, const char *url)
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
static int job_read_ca(httpc_job *j, const char *path)
{
	char why[96];

	if (!path)
		return 0;
	int r = kw_file_read_follow(path, HTTPC_CA_MAX, &j->ca_pem,
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

static bool header_ok(const char *h)
{
	size_t n = strnlen(h, NETMSG_HEADER_MAX + 1);
	const char *colon = memchr(h, ':', n);

	if (n > NETMSG_HEADER_MAX || !colon || colon == h)
		return false;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)h[i] < 0x20 || (unsigned char)h[i] > 0x7e)
			return false;
	}
	return true;
}

static int request_check(const httpc *w, const httpc_request *req)
{
	if (!req->url || !req->method || req->timeout_ms <= 0 ||
	    (!req->body && req->body_len > 0) ||
	    req->nheaders > HTTPC_HEADERS_MAX || req->nkeep > HTTPC_KEEP_MAX ||
	    (req->nheaders > 0 && !req->headers) ||
	    (req->nkeep > 0 && !req->keep) || req->response_max < 1 ||
	    req->response_max > NETMSG_RESPONSE_MAX || !req->private_hint ||
	    !req->insecure_hint)
		return KW_EINVAL;
	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "POST") != 0)
		return KW_EINVAL;
	if (req->body_len > HTTPC_BODY_MAX)
		return KW_ETOOBIG;
	if (strnlen(req->url, HTTPC_URL_MAX + 1) > HTTPC_URL_MAX)
		return KW_EINVAL;
	if (req->ca_file && (req->ca_file[0] == '\0' ||
	                     strnlen(req->ca_file, PATH_MAX) >= PATH_MAX))
		return KW_EINVAL;
	for (size_t i = 0; i < req->nheaders; i++) {
		if (!req->headers[i] || !header_ok(req->headers[i]))
			return KW_EINVAL;
	}
	for (size_t i = 0; i < req->nkeep; i++) {
		if (!req->keep[i] || !req->keep[i][0] ||
		    strlen(req->keep[i]) > 64)
			return KW_EINVAL;
	}
	if (w->njobs >= HTTPC_JOBS_MAX)
		return KW_ELIMIT;
	return 0;
}

/* The caller's headers and kept names into j; KW_ENOMEM. */
static int job_copy_headers(httpc_job *j, const httpc_request *req)
{
	for (size_t i = 0; i < req->nheaders; i++) {
		if (!(j->headers[j->nheaders] = kw_wipestrdup(req->headers[i])))
			return KW_ENOMEM;
		j->nheaders++;
	}
	for (size_t i = 0; i < req->nkeep; i++) {
		if (!(j->keep[j->nkeep] = strdup(req->keep[i])))
			return KW_ENOMEM;
		j->nkeep++;
	}
	return 0;
}

int httpc_start(httpc *w, const httpc_request *req, httpc_done done, void *arg,
                httpc_job **ret_job)
{
	if (!w || !req || !done || !ret_job)
		return KW_EINVAL;
	int r = request_check(w, req);
	if (r < 0)
		return r;

	httpc_job *j = calloc(1, sizeof(*j));
	if (!j)
		return KW_ENOMEM;
	j->w = w;
	j->done = done;
	j->arg = arg;
	j->dropped = req->dropped;
	j->post = strcmp(req->method, "POST") == 0;
	j->allow_private = req->allow_private;
	j->allow_insecure = req->allow_insecure;
	j->response_max = req->response_max;
	snprintf(j->private_hint, sizeof(j->private_hint), "%s",
	         req->private_hint);
	snprintf(j->insecure_hint, sizeof(j->insecure_hint), "%s",
	         req->insecure_hint);
	j->deadline_ms = loop_now_ms() + req->timeout_ms;

	if ((r = job_parse_url(j, req->url)) < 0)
		goto fail;
	if ((r = job_copy_headers(j, req)) < 0)
		goto fail;
	r = KW_ENOMEM;
	j->body = kw_wipealloc(req->body_len ? req->body_len : 1);
	if (!j->body)
		goto fail;
	if (req->body_len > 0)
		memcpy(j->body, req->body, req->body_len);
	j->body_len = req->body_len;
	if ((r = job_read_ca(j, req->ca_file)) < 0)
		goto fail;

	list_append(w, j);
	job_begin(j);
	*ret_job = j;
	return 0;

fail:
	job_free(j);
	return r;
}

bool httpc_header(const httpc_response *resp, const char *name, char *out,
                  size_t outsz)
{
	size_t nlen = strlen(name);

	for (size_t i = 0; resp && i < resp->nheaders; i++) {
		const netmsg_str *h = &resp->headers[i];
		if (h->len <= nlen || h->p[nlen] != ':' ||
		    strncasecmp(h->p, name, nlen) != 0)
			continue;
		const char *v = h->p + nlen + 1, *e = h->p + h->len;
		while (v < e && (*v == ' ' || *v == '\t'))
			v++;
		while (e > v && (e[-1] == ' ' || e[-1] == '\t' ||
		                 e[-1] == '\r' || e[-1] == '\n'))
			e--;
		if ((size_t)(e - v) >= outsz)
			return false;
		memcpy(out, v, (size_t)(e - v));
		out[e - v] = '\0';
		return true;
	}
	return false;
}

void httpc_cancel(httpc_job *j)
{
	if (!j)
		return;
	httpc *w = j->w;

	if (j->net_id)
		netclient_cancel(w->net, j->net_id);
	list_unlink(w, j);
	if (j->dropped)
		j->dropped(j->arg);
	job_free(j);
}
