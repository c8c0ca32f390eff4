/*
 * webhook.c - see webhook.h.
 *
 * Two threads touch a job. The loop thread creates it (webhook_start),
 * delivers its result and frees it; the worker resolves, checks and runs
 * it. They share only w->jobs and each job's state and cancelled fields,
 * under w->mu. Whoever holds a job when it stops mattering frees it: the
 * loop a job still queued or already finished, the worker a cancelled job
 * it was running. A job's libcurl handles belong to the worker from when it
 * takes the job until the job is finished, when the worker frees them; the
 * loop thread only parses the URL and wakes the worker.
 */
#include "webhook.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
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

#include "keyward.h"
#include "secmem.h"
#include "webhook_guard.h"

#define ADDRS_MAX      16    /* addresses one transfer is pinned to */
#define CONNECT_MAX_MS 10000 /* connect phase, at most */
#define HEAD_MAX       256   /* response bytes kept for the detail */
#define POLL_MAX_MS    1000  /* the worker re-checks at least this often */

enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE };

struct webhook_client {
	loop *l;
	loop_watch watch; /* efd: finished jobs are waiting */
	int efd;
	CURLM *multi;
	pthread_t thread;
	pthread_mutex_t mu;
	/* Under mu. */
	webhook_job *head, *tail;
	size_t njobs;
	bool stopping;
};

struct webhook_job {
	webhook_client *w;
	/* Under w->mu. */
	webhook_job *prev, *next;
	enum job_state state;
	bool cancelled;

	/* Set by webhook_start; read-only after. */
	rotjob_done done;
	void *arg;
	bool https, allow_private, allow_insecure;
	bool host_literal;              /* an IP address: never looked up */
	char host[WEBHOOK_URL_MAX + 1]; /* without the brackets of IPv6 */
	unsigned port;
	char *body; /* kw_wipealloc */
	size_t body_len;
	char *ca_file;
	char sig_header[32 + WEBHOOK_SIGNATURE_SIZE];
	int64_t deadline_ms;
	CURLU *url;

	/* The worker's while the job runs. */
	CURL *easy;
	CURLSH *share; /* a DNS cache of the job's own */
	struct curl_slist *headers, *resolve;
	bool in_multi;
	struct sockaddr_storage addrs[ADDRS_MAX]; /* checked; port set */
	size_t naddrs;
	bool socket_refused, too_big;
	size_t received;
	unsigned char head[HEAD_MAX];
	size_t head_len;
	char errbuf[CURL_ERROR_SIZE];

	/* Written by the worker before JOB_DONE. */
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

/* The first job from j on in state st. Under w->mu. */
static webhook_job *next_in(webhook_job *j, enum job_state st)
{
	while (j && j->state != st)
		j = j->next;
	return j;
}

static void job_release_curl(webhook_job *j)
{
	if (j->easy) {
		if (j->in_multi)
			curl_multi_remove_handle(j->w->multi, j->easy);
		curl_easy_cleanup(j->easy);
	}
	if (j->share)
		curl_share_cleanup(j->share);
	curl_slist_free_all(j->headers);
	curl_slist_free_all(j->resolve);
	curl_url_cleanup(j->url);
	j->easy = NULL;
	j->share = NULL;
	j->headers = j->resolve = NULL;
	j->url = NULL;
	j->in_multi = false;
}

static void job_free(webhook_job *j)
{
	if (!j)
		return;
	job_release_curl(j);
	kw_wipefree(j->body);
	free(j->ca_file);
	sodium_memzero(j, sizeof(*j));
	free(j);
}

__attribute__((format(printf, 3, 4))) static void
job_set(webhook_job *j, int result, const char *fmt, ...)
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
}

static void signal_loop(webhook_client *w)
{
	uint64_t one = 1;
	ssize_t n = write(w->efd, &one, sizeof(one));
	(void)n; /* only an overflow of the counter fails, never reached */
}

/* Hand a job with its result to the loop, or free it if cancelled. */
static void job_finish(webhook_job *j)
{
	webhook_client *w = j->w;

	job_release_curl(j);
	pthread_mutex_lock(&w->mu);
	bool cancelled = j->cancelled;
	if (cancelled)
		list_unlink(w, j);
	else
		j->state = JOB_DONE;
	pthread_mutex_unlock(&w->mu);
	if (cancelled)
		job_free(j);
	else
		signal_loop(w);
}

/* Worker: resolve and check. */

static int job_check_addr(webhook_job *j, const struct sockaddr_storage *ss)
{
	char why[ROTJOB_DETAIL_MAX];
	int r = webhook_guard_check(ss, j->allow_private, j->https, why,
	                            sizeof(why));

	if (r < 0)
		job_set(j, r, "%s", why);
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

static int job_resolve(webhook_job *j)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_protocol = IPPROTO_TCP,
		.ai_flags = j->host_literal ? AI_NUMERICHOST : 0,
	};
	struct addrinfo *res = NULL;
	int g = getaddrinfo(j->host, NULL, &hints, &res);
	if (g != 0) {
		job_set(j, KW_EIO, "could not resolve %s: %s", j->host,
		        gai_strerror(g));
		return KW_EIO;
	}
	int r = 0;
	for (const struct addrinfo *ai = res; ai && r == 0; ai = ai->ai_next) {
		struct sockaddr_storage ss;
		if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
		    ai->ai_addrlen > sizeof(ss))
			continue;
		memset(&ss, 0, sizeof(ss));
		memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
		r = job_check_addr(j, &ss);
		if (r == 0)
			job_pin_addr(j, &ss);
	}
	freeaddrinfo(res);
	if (r == 0 && j->naddrs == 0) {
		job_set(j, KW_EIO, "%s has no IPv4 or IPv6 address", j->host);
		r = KW_EIO;
	}
	return r;
}

/* Worker: libcurl callbacks. */

static curl_socket_t on_open_socket(void *arg, curlsocktype purpose,
                                    struct curl_sockaddr *ca)
{
	webhook_job *j = arg;
	struct sockaddr_storage ss;
	/* curl's addr member is followed by room for the whole address. */
	const unsigned char *raw = (const unsigned char *)ca +
	                           offsetof(struct curl_sockaddr, addr);
	bool pinned = false;

	if (purpose == CURLSOCKTYPE_IPCXN && ca->addrlen <= sizeof(ss) &&
	    (ca->family == AF_INET || ca->family == AF_INET6)) {
		memset(&ss, 0, sizeof(ss));
		memcpy(&ss, raw, ca->addrlen);
		pinned = ss.ss_family == ca->family &&
		         webhook_addr_listed(j->addrs, j->naddrs, &ss, true);
	}
	if (!pinned) {
		j->socket_refused = true;
		return CURL_SOCKET_BAD;
	}
	int fd = socket(ca->family, ca->socktype | SOCK_CLOEXEC, ca->protocol);
	return fd < 0 ? CURL_SOCKET_BAD : fd;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	webhook_job *j = arg;
	size_t n = size * nmemb;

	if (n > WEBHOOK_RESPONSE_MAX - j->received) {
		j->too_big = true;
		return 0; /* fails the transfer with CURLE_WRITE_ERROR */
	}
	if (j->head_len < HEAD_MAX) {
		size_t take = HEAD_MAX - j->head_len;
		if (take > n)
			take = n;
		memcpy(j->head + j->head_len, data, take);
		j->head_len += take;
	}
	j->received += n;
	return n;
}

/* Worker: set up and run. */

static int job_build_resolve(webhook_job *j)
{
	char line[WEBHOOK_URL_MAX + 16 + ADDRS_MAX * (INET6_ADDRSTRLEN + 3)];
	size_t len = 0;
	int n = snprintf(line, sizeof(line), "%s:%u:", j->host, j->port);
	if (n < 0 || (size_t)n >= sizeof(line))
		return KW_EINVAL;
	len = (size_t)n;
	for (size_t i = 0; i < j->naddrs; i++) {
		char text[INET6_ADDRSTRLEN];
		webhook_addr_text(&j->addrs[i], text, sizeof(text));
		bool v6 = j->addrs[i].ss_family == AF_INET6;
		n = snprintf(line + len, sizeof(line) - len, "%s%s%s%s",
		             i ? "," : "", v6 ? "[" : "", text, v6 ? "]" : "");
		if (n < 0 || (size_t)n >= sizeof(line) - len)
			return KW_EINVAL;
		len += (size_t)n;
	}
	j->resolve = curl_slist_append(NULL, line);
	return j->resolve ? 0 : KW_ENOMEM;
}

static int job_setup(webhook_job *j)
{
	int64_t left = j->deadline_ms - loop_now_ms();
	if (left <= 0) {
		job_set(j, KW_ETIMEOUT, "timed out before connecting to %s",
		        j->host);
		return KW_ETIMEOUT;
	}
	long connect_ms = left < CONNECT_MAX_MS ? (long)left : CONNECT_MAX_MS;
	const char *proto = j->https ? "https" : "http";

	/* A literal is never looked up, and CURLOPT_RESOLVE cannot name an
	 * IPv6 host; the socket callback still holds it to the address. */
	if (!j->host_literal && job_build_resolve(j) < 0)
		goto fail;
	j->easy = curl_easy_init();
	j->share = curl_share_init();
	if (!j->easy || !j->share ||
	    curl_share_setopt(j->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) !=
	            CURLSHE_OK)
		goto fail;
	if (!(j->headers =
	              curl_slist_append(NULL,
	                                "Content-Type: application/json")) ||
	    !curl_slist_append(j->headers, j->sig_header) ||
	    !curl_slist_append(j->headers, "Expect:"))
		goto fail;

	CURL *e = j->easy;
	bool ok = true;
	ok = ok && curl_easy_setopt(e, CURLOPT_PRIVATE, j) == CURLE_OK;
	ok = ok &&
	     curl_easy_setopt(e, CURLOPT_ERRORBUFFER, j->errbuf) == CURLE_OK;
	ok = ok && curl_easy_setopt(e, CURLOPT_SHARE, j->share) == CURLE_OK;
	ok = ok && curl_easy_setopt(e, CURLOPT_CURLU, j->url) == CURLE_OK;
	ok = ok &&
	     curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, proto) == CURLE_OK;
	ok = ok && curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, proto) ==
	                   CURLE_OK;
	ok = ok && curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
	ok = ok && curl_easy_setopt(e, CURLOPT_PROXY, "") == CURLE_OK;
	ok = ok && curl_easy_setopt(e, CURLOPT_NOPROXY, "*") == CURLE_OK;
	ok = ok && curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
	ok = ok && curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L) == CURLE_OK;
	ok = ok && curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L) == CURLE_OK;
	ok = ok && curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION,
	                            on_open_socket) == CURLE_OK;
	ok = ok && curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, j) == CURLE_OK;
	if (j->resolve)
		ok = ok && curl_easy_setopt(e, CURLOPT_RESOLVE, j->resolve) ==
		                   CURLE_OK;
	ok = ok && curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK;
	ok = ok && curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK;
	ok = ok && curl_easy_setopt(e, CURLOPT_SSLVERSION,
	                            (long)CURL_SSLVERSION_TLSv1_2) == CURLE_OK;
	if (j->ca_file) {
		/* Instead of the system's: the built-in CA directory too. */
		ok = ok && curl_easy_setopt(e, CURLOPT_CAINFO, j->ca_file) ==
		                   CURLE_OK;
		ok = ok && curl_easy_setopt(e, CURLOPT_CAPATH, (char *)NULL) ==
		                   CURLE_OK;
	}
	ok = ok && curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms) ==
	                   CURLE_OK;
	ok = ok &&
	     curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)left) == CURLE_OK;
	ok = ok && curl_easy_setopt(e, CURLOPT_USERAGENT,
	                            "keyward/" KW_VERSION_STRING) == CURLE_OK;
	ok = ok &&
	     curl_easy_setopt(e, CURLOPT_HTTPHEADER, j->headers) == CURLE_OK;
	ok = ok && curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
	                            (curl_off_t)j->body_len) == CURLE_OK;
	ok = ok && curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->body) == CURLE_OK;
	ok = ok &&
	     curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
	                      (curl_off_t)WEBHOOK_RESPONSE_MAX) == CURLE_OK;
	ok = ok &&
	     curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK;
	ok = ok && curl_easy_setopt(e, CURLOPT_WRITEDATA, j) == CURLE_OK;
	if (!ok)
		goto fail;
	if (curl_multi_add_handle(j->w->multi, e) != CURLM_OK)
		goto fail;
	j->in_multi = true;
	return 0;

fail:
	job_set(j, KW_EIO, "could not set up the HTTP request");
	return KW_EIO;
}

static void job_begin(webhook_job *j)
{
	int r = 0;

	if (!j->https && !j->allow_insecure) {
		job_set(j, KW_EDENIED,
		        "plain http:// is refused; the schedule needs "
		        "allow_insecure");
		r = KW_EDENIED;
	}
	if (r == 0)
		r = job_resolve(j);
	if (r == 0)
		r = job_setup(j);
	if (r < 0)
		job_finish(j);
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

static void job_outcome(webhook_job *j, CURLcode rc)
{
	const char *why = j->errbuf[0] ? j->errbuf : curl_easy_strerror(rc);

	if (rc == CURLE_OK) {
		long status = 0;
		char line[ROTJOB_DETAIL_MAX];
		curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &status);
		webhook_first_line(j->head, j->head_len, line, sizeof(line));
		if (status >= 200 && status <= 299)
			job_set(j, 0, "HTTP %ld", status);
		else if (line[0])
			job_set(j, KW_ESTATE, "HTTP %ld: %s", status, line);
		else
			job_set(j, KW_ESTATE, "HTTP %ld", status);
	} else if (j->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
		job_set(j, KW_EIO, "the response body is larger than %u bytes",
		        WEBHOOK_RESPONSE_MAX);
	} else if (j->socket_refused) {
		job_set(j, KW_EDENIED,
		        "a connection to an address that was not checked was "
		        "refused");
	} else if (rc == CURLE_OPERATION_TIMEDOUT) {
		job_set(j, KW_ETIMEOUT, "%s", why);
	} else {
		job_set(j, KW_EIO, "%s", why);
	}
}

static void worker_collect(webhook_client *w)
{
	CURLMsg *m;
	int queued;

	while ((m = curl_multi_info_read(w->multi, &queued))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		/* m dies with the handle: read it before finishing. */
		CURLcode rc = m->data.result;
		char *priv = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
		webhook_job *j = (webhook_job *)(void *)priv;
		job_outcome(j, rc);
		job_finish(j);
	}
}

/* Unlink the running jobs (all of them, or the cancelled ones) into a
 * chain through ->next. Under w->mu. */
static webhook_job *take_running(webhook_client *w, bool only_cancelled)
{
	webhook_job *chain = NULL;

	for (webhook_job *j = w->head, *next; j; j = next) {
		next = j->next;
		if (j->state != JOB_RUNNING ||
		    (only_cancelled && !j->cancelled))
			continue;
		list_unlink(w, j);
		j->next = chain;
		chain = j;
	}
	return chain;
}

static void free_chain(webhook_job *chain)
{
	while (chain) {
		webhook_job *next = chain->next;
		job_free(chain);
		chain = next;
	}
}

static void *worker_main(void *arg)
{
	webhook_client *w = arg;

	for (;;) {
		webhook_job *start = NULL, *dead = NULL;

		pthread_mutex_lock(&w->mu);
		bool stop = w->stopping;
		if (!stop) {
			start = next_in(w->head, JOB_QUEUED);
			if (start)
				start->state = JOB_RUNNING;
			dead = take_running(w, true);
		}
		pthread_mutex_unlock(&w->mu);
		if (stop)
			break;
		free_chain(dead);
		if (start) {
			job_begin(start);
			continue;
		}
		int running = 0;
		curl_multi_perform(w->multi, &running);
		worker_collect(w);
		curl_multi_poll(w->multi, NULL, 0, POLL_MAX_MS, NULL);
	}
	pthread_mutex_lock(&w->mu);
	webhook_job *dead = take_running(w, false);
	pthread_mutex_unlock(&w->mu);
	free_chain(dead);
	return NULL;
}

/* Loop thread. */

static void on_results(loop_watch *lw, uint32_t events)
{
	webhook_client *w = lw->owner;
	uint64_t v;
	ssize_t n = read(w->efd, &v, sizeof(v));
	(void)n; /* EAGAIN: a wakeup already consumed */
	(void)events;

	/* One job per call, re-arming for the rest, so that nothing of w is
	 * touched after the callback (which may free w). */
	pthread_mutex_lock(&w->mu);
	webhook_job *j = next_in(w->head, JOB_DONE);
	bool more = j && next_in(j->next, JOB_DONE);
	if (j)
		list_unlink(w, j);
	pthread_mutex_unlock(&w->mu);
	if (!j)
		return;
	if (more)
		signal_loop(w);

	rotjob_done done = j->done;
	void *arg = j->arg;
	int result = j->result;
	char detail[ROTJOB_DETAIL_MAX];
	memcpy(detail, j->detail, sizeof(detail));
	job_free(j);
	done(arg, result, detail);
	sodium_memzero(detail, sizeof(detail));
}

int webhook_client_new(loop *l, webhook_client **ret_client)
{
	if (!l || !ret_client)
		return KW_EINVAL;
	webhook_client *w = calloc(1, sizeof(*w));
	if (!w)
		return KW_ENOMEM;
	int r = KW_EIO;
	w->l = l;
	w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->efd < 0)
		goto fail_efd;
	w->multi = curl_multi_init();
	if (!w->multi) {
		r = KW_ENOMEM;
		goto fail_multi;
	}
	pthread_mutex_init(&w->mu, NULL);
	if (loop_add(l, &w->watch, w->efd, EPOLLIN, on_results, w) < 0)
		goto fail_watch;

	/* Every signal stays with the loop thread. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int pr = pthread_create(&w->thread, NULL, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pr != 0) {
		r = KW_EINTERNAL;
		goto fail_thread;
	}
	*ret_client = w;
	return 0;

fail_thread:
	loop_del(l, &w->watch);
fail_watch:
	pthread_mutex_destroy(&w->mu);
	curl_multi_cleanup(w->multi);
fail_multi:
	close(w->efd);
fail_efd:
	free(w);
	return r;
}

void webhook_client_free(webhook_client *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stopping = true;
	pthread_mutex_unlock(&w->mu);
	curl_multi_wakeup(w->multi);
	pthread_join(w->thread, NULL);

	/* The worker freed what it ran; the rest is queued or finished. */
	while (w->head) {
		webhook_job *j = w->head;
		list_unlink(w, j);
		job_free(j);
	}
	loop_del(w->l, &w->watch);
	close(w->efd);
	curl_multi_cleanup(w->multi);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

static bool host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

/* Parse and check url into j: scheme, host, port. */
static int job_parse_url(webhook_job *j, const char *url)
{
	char *scheme = NULL, *host = NULL, *port = NULL, *zone = NULL;
	int r = KW_EINVAL;

	j->url = curl_url();
	if (!j->url)
		return KW_ENOMEM;
	CURLUcode uc =
		curl_url_set(j->url, CURLUPART_URL, url, CURLU_DISALLOW_USER);
	if (uc != CURLUE_OK) {
		r = uc == CURLUE_OUT_OF_MEMORY ? KW_ENOMEM : KW_EINVAL;
		goto out;
	}
	if (curl_url_get(j->url, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(j->url, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(j->url, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) !=
	            CURLUE_OK ||
	    curl_url_get(j->url, CURLUPART_ZONEID, &zone, 0) == CURLUE_OK)
		goto out;
	if (strcasecmp(scheme, "https") == 0)
		j->https = true;
	else if (strcasecmp(scheme, "http") != 0)
		goto out;

	size_t hlen = strlen(host);
	if (hlen == 0 || hlen > WEBHOOK_URL_MAX)
		goto out;
	if (host[0] == '[') {
		struct in6_addr a6;
		if (hlen < 3 || host[hlen - 1] != ']')
			goto out;
		memcpy(j->host, host + 1, hlen - 2);
		j->host[hlen - 2] = '\0';
		if (inet_pton(AF_INET6, j->host, &a6) != 1)
			goto out;
		j->host_literal = true;
	} else {
		struct in_addr a4;
		for (size_t i = 0; i < hlen; i++) {
			if (!host_char(host[i]))
				goto out;
		}
		memcpy(j->host, host, hlen + 1);
		j->host_literal = inet_pton(AF_INET, j->host, &a4) == 1;
	}

	char *end = NULL;
	long p = strtol(port, &end, 10);
	if (end == port || *end != '\0' || p < 1 || p > 65535)
		goto out;
	j->port = (unsigned)p;
	r = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(zone);
	return r;
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

	webhook_job *j = calloc(1, sizeof(*j));
	if (!j)
		return KW_ENOMEM;
	j->w = w;
	j->done = done;
	j->arg = arg;
	j->allow_private = req->allow_private;
	j->allow_insecure = req->allow_insecure;
	j->deadline_ms = loop_now_ms() + req->timeout_ms;
	j->state = JOB_QUEUED;

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
	if (req->ca_file && !(j->ca_file = strdup(req->ca_file)))
		goto fail;

	char sig[WEBHOOK_SIGNATURE_SIZE];
	r = webhook_signature(req->hmac_key, req->hmac_key_len, req->timestamp,
	                      req->body, req->body_len, sig, sizeof(sig));
	if (r < 0)
		goto fail;
	snprintf(j->sig_header, sizeof(j->sig_header), "Keyward-Signature: %s",
	         sig);

	pthread_mutex_lock(&w->mu);
	r = w->njobs < WEBHOOK_JOBS_MAX ? 0 : KW_ELIMIT;
	if (r == 0)
		list_append(w, j);
	pthread_mutex_unlock(&w->mu);
	if (r < 0)
		goto fail;
	curl_multi_wakeup(w->multi);
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

	pthread_mutex_lock(&w->mu);
	bool running = j->state == JOB_RUNNING;
	if (running)
		j->cancelled = true; /* the worker frees it */
	else
		list_unlink(w, j);
	pthread_mutex_unlock(&w->mu);
	if (running)
		curl_multi_wakeup(w->multi);
	else
		job_free(j);
}
