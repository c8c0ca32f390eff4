/*
 * keyward-net - the HTTP helper of keywardd (netclient.h starts it; the
 * channel is netmsg.h). It does every HTTP transfer of the agent with
 * libcurl, so that the key holder never runs libcurl or TLS and never opens
 * an INET socket. It holds only the inputs of the transfers in flight.
 *
 * Its socket to keywardd is fd 3; it exits on EOF there, on any protocol
 * error, and (PR_SET_PDEATHSIG, set before the exec) when keywardd dies.
 * One thread: a libcurl multi handle polled together with fd 3. A name
 * lookup (NETMSG_RESOLVE) runs inline and holds up the transfers in flight
 * while it lasts, as it did in keywardd's worker before.
 *
 * Every transfer connects only to the addresses keywardd checked and sent
 * (CURLOPT_RESOLVE pins the URL's host to them, and a socket-open callback
 * refuses any other address or port); no redirects, no proxies, no
 * cookies, TLS verification always on, TLS 1.2 or later.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "keyward.h"
#include "log.h"
#include "netmsg.h"
#include "sandbox.h"
#include "secmem.h"
#include "writeall.h"

#define NET_FD      3
#define XFERS_MAX   64u /* transfers in flight; more is an error */
#define POLL_MAX_MS 1000

typedef struct xfer {
	struct xfer *next;
	uint32_t id;
	CURL *easy;
	CURLU *url;
	struct curl_slist *headers, *resolve;
	char host[NETMSG_URL_MAX + 1];
	unsigned port;
	struct sockaddr_storage addrs[NETMSG_ADDRS_MAX];
	size_t naddrs;
	char keep[NETMSG_KEEP_MAX][NETMSG_HEADER_MAX + 1];
	size_t nkeep;
	char got[NETMSG_KEEP_MAX][NETMSG_HEADER_MAX + 1];
	size_t ngot;
	unsigned char *body; /* request, kw_wipealloc */
	size_t body_len;
	unsigned char *resp; /* response, kw_wipealloc of response_max */
	size_t resp_len, resp_max;
	uint8_t flags;
	char errbuf[CURL_ERROR_SIZE];
} xfer;

static CURLM *multi;
static xfer *xfers;
static size_t nxfers;

static void die(const char *why)
{
	fprintf(stderr, "keyward-net: %s; exiting\n", why);
	exit(2);
}

/* I/O on the channel: blocking; keywardd always reads what we write. */

static void write_all(const unsigned char *p, size_t n)
{
	/* SIGPIPE is ignored: a closed channel is an error here. */
	if (kw_write_all(NET_FD, p, n) < 0)
		exit(0); /* keywardd is gone */
}

static bool read_all(unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t r = read(NET_FD, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		p += r;
		n -= (size_t)r;
	}
	return true;
}

static void send_msg(const netmsg *m)
{
	unsigned char *frame = NULL;
	size_t len = 0;

	if (netmsg_encode(m, &frame, &len) < 0)
		die("cannot encode a reply");
	write_all(frame, len);
	kw_wipefree(frame);
}

/* Addresses: same family, address and port. */
static bool addr_same(const struct sockaddr_storage *x,
                      const struct sockaddr_storage *y)
{
	if (x->ss_family != y->ss_family)
		return false;
	if (x->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)x;
		const struct sockaddr_in *b = (const struct sockaddr_in *)y;
		return a->sin_port == b->sin_port &&
		       a->sin_addr.s_addr == b->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)x;
	const struct sockaddr_in6 *b = (const struct sockaddr_in6 *)y;
	return x->ss_family == AF_INET6 && a->sin6_port == b->sin6_port &&
	       memcmp(&a->sin6_addr, &b->sin6_addr, sizeof(a->sin6_addr)) == 0;
}

static bool addr_pinned(const xfer *x, const struct sockaddr_storage *ss)
{
	for (size_t i = 0; i < x->naddrs; i++) {
		if (addr_same(&x->addrs[i], ss))
			return true;
	}
	return false;
}

static in_port_t addr_port(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET ?
	               ((const struct sockaddr_in *)ss)->sin_port :
	               ((const struct sockaddr_in6 *)ss)->sin6_port;
}

static void addr_text(const struct sockaddr_storage *ss, char *out,
                      size_t outsz)
{
	const void *a = ss->ss_family == AF_INET ?
	                        (const void *)&((const struct sockaddr_in *)ss)
	                                ->sin_addr :
	                        (const void *)&((const struct sockaddr_in6 *)ss)
	                                ->sin6_addr;
	if (!inet_ntop(ss->ss_family, a, out, (socklen_t)outsz))
		snprintf(out, outsz, "(unprintable)");
}

/* Transfers. */

static void xfer_free(xfer *x)
{
	if (!x)
		return;
	if (x->easy) {
		curl_multi_remove_handle(multi, x->easy);
		curl_easy_cleanup(x->easy);
	}
	curl_slist_free_all(x->headers);
	curl_slist_free_all(x->resolve);
	curl_url_cleanup(x->url);
	kw_wipefree(x->body);
	kw_wipefree(x->resp);
	free(x);
}

static void xfer_unlink(xfer *x)
{
	for (xfer **pp = &xfers; *pp; pp = &(*pp)->next) {
		if (*pp == x) {
			*pp = x->next;
			nxfers--;
			return;
		}
	}
}

static xfer *xfer_find(uint32_t id)
{
	for (xfer *x = xfers; x; x = x->next) {
		if (x->id == id)
			return x;
	}
	return NULL;
}

static void reply_done(uint32_t id, uint32_t code, uint16_t status,
                       uint8_t flags, const char *error, const xfer *x)
{
	netmsg m = {
		.type = NETMSG_DONE,
		.id = id,
		.curl_code = code,
		.http_status = status,
		.flags = flags,
	};
	char err[NETMSG_ERROR_MAX + 1];

	snprintf(err, sizeof(err), "%s", error ? error : "");
	for (char *p = err; *p; p++) {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	}
	m.error = (netmsg_str){ err, strlen(err) };
	if (x) {
		for (size_t i = 0; i < x->ngot; i++)
			m.headers[i] =
				(netmsg_str){ x->got[i], strlen(x->got[i]) };
		m.nheaders = x->ngot;
		m.body = x->resp;
		m.body_len = x->resp_len;
	}
	send_msg(&m);
}

static curl_socket_t on_open_socket(void *arg, curlsocktype purpose,
                                    struct curl_sockaddr *ca)
{
	xfer *x = arg;
	struct sockaddr_storage ss;
	/* curl's addr member is followed by room for the whole address. */
	const unsigned char *raw = (const unsigned char *)ca +
	                           offsetof(struct curl_sockaddr, addr);
	bool pinned = false;

	if (purpose == CURLSOCKTYPE_IPCXN && ca->addrlen <= sizeof(ss) &&
	    (ca->family == AF_INET || ca->family == AF_INET6)) {
		memset(&ss, 0, sizeof(ss));
		memcpy(&ss, raw, ca->addrlen);
		pinned = ss.ss_family == ca->family && addr_pinned(x, &ss);
	}
	if (!pinned) {
		x->flags |= NETMSG_F_SOCKET_REFUSED;
		return CURL_SOCKET_BAD;
	}
	int fd = socket(ca->family, ca->socktype | SOCK_CLOEXEC, ca->protocol);
	return fd < 0 ? CURL_SOCKET_BAD : fd;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	xfer *x = arg;
	size_t n = size * nmemb;

	if (n > x->resp_max - x->resp_len) {
		x->flags |= NETMSG_F_TOO_BIG;
		return 0; /* fails the transfer with CURLE_WRITE_ERROR */
	}
	memcpy(x->resp + x->resp_len, data, n);
	x->resp_len += n;
	return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	xfer *x = arg;
	size_t n = size * nmemb;

	for (size_t i = 0; i < x->nkeep && x->ngot < NETMSG_KEEP_MAX; i++) {
		size_t kl = strlen(x->keep[i]);
		if (n <= kl || data[kl] != ':' ||
		    strncasecmp(data, x->keep[i], kl) != 0)
			continue;
		size_t len = n;
		while (len > 0 &&
		       (data[len - 1] == '\r' || data[len - 1] == '\n'))
			len--;
		if (len > NETMSG_HEADER_MAX)
			len = NETMSG_HEADER_MAX;
		char *out = x->got[x->ngot++];
		for (size_t k = 0; k < len; k++) {
			unsigned char c = (unsigned char)data[k];
			out[k] = c >= 0x20 && c <= 0x7e ? (char)c : '?';
		}
		out[len] = '\0';
		break;
	}
	return n;
}

/* The URL's host and port, as libcurl will use them. */
static int xfer_parse_url(xfer *x, const char *url)
{
	char *host = NULL, *port = NULL, *scheme = NULL;
	int r = KW_EINVAL;

	x->url = curl_url();
	if (!x->url ||
	    curl_url_set(x->url, CURLUPART_URL, url, CURLU_DISALLOW_USER) !=
	            CURLUE_OK ||
	    curl_url_get(x->url, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(x->url, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(x->url, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) !=
	            CURLUE_OK)
		goto out;
	if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)
		goto out;
	size_t hlen = strlen(host);
	if (host[0] == '[') {
		if (hlen < 3 || host[hlen - 1] != ']' ||
		    hlen - 2 > NETMSG_URL_MAX)
			goto out;
		memcpy(x->host, host + 1, hlen - 2);
		x->host[hlen - 2] = '\0';
	} else if (hlen >= 1 && hlen <= NETMSG_URL_MAX) {
		memcpy(x->host, host, hlen + 1);
	} else {
		goto out;
	}
	char *end = NULL;
	long p = strtol(port, &end, 10);
	if (end != port && *end == '\0' && p >= 1 && p <= 65535) {
		x->port = (unsigned)p;
		r = 0;
	}
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	return r;
}

static bool xfer_build_resolve(xfer *x)
{
	char line[NETMSG_URL_MAX + 16 +
	          NETMSG_ADDRS_MAX * (INET6_ADDRSTRLEN + 3)];
	int n = snprintf(line, sizeof(line), "%s:%u:", x->host, x->port);
	size_t len;

	if (n < 0 || (size_t)n >= sizeof(line))
		return false;
	len = (size_t)n;
	for (size_t i = 0; i < x->naddrs; i++) {
		char text[INET6_ADDRSTRLEN];
		bool v6 = x->addrs[i].ss_family == AF_INET6;
		addr_text(&x->addrs[i], text, sizeof(text));
		n = snprintf(line + len, sizeof(line) - len, "%s%s%s%s",
		             i ? "," : "", v6 ? "[" : "", text, v6 ? "]" : "");
		if (n < 0 || (size_t)n >= sizeof(line) - len)
			return false;
		len += (size_t)n;
	}
	x->resolve = curl_slist_append(NULL, line);
	return x->resolve != NULL;
}

static bool xfer_options(xfer *x, const netmsg *m, bool https)
{
	CURL *e = x->easy;
	const char *proto = https ? "https" : "http";
	bool ok = true;

	ok = ok && curl_easy_setopt(e, CURLOPT_PRIVATE, x) == CURLE_OK;
	ok = ok &&
	     curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf) == CURLE_OK;
	ok = ok && curl_easy_setopt(e, CURLOPT_CURLU, x->url) == CURLE_OK;
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
	ok = ok &&
	     curl_easy_setopt(e, CURLOPT_DNS_CACHE_TIMEOUT, 0L) == CURLE_OK;
	ok = ok && curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION,
	                            on_open_socket) == CURLE_OK;
	ok = ok && curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, x) == CURLE_OK;
	if (x->resolve)
		ok = ok && curl_easy_setopt(e, CURLOPT_RESOLVE, x->resolve) ==
		                   CURLE_OK;
	ok = ok && curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK;
	ok = ok && curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK;
	ok = ok && curl_easy_setopt(e, CURLOPT_SSLVERSION,
	                            (long)CURL_SSLVERSION_TLSv1_2) == CURLE_OK;
	if (m->ca_pem_len > 0) {
		/* Instead of the system's (a blob overrides CURLOPT_CAINFO):
		 * the built-in CA directory too. libcurl copies the PEM. */
		struct curl_blob ca = {
			.data = (void *)m->ca_pem,
			.len = m->ca_pem_len,
			.flags = CURL_BLOB_COPY,
		};
		ok = ok &&
		     curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &ca) == CURLE_OK;
		ok = ok && curl_easy_setopt(e, CURLOPT_CAPATH, (char *)NULL) ==
		                   CURLE_OK;
	}
	ok = ok && curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
	                            (long)m->connect_ms) == CURLE_OK;
	ok = ok && curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)m->total_ms) ==
	                   CURLE_OK;
	ok = ok &&
	     curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers) == CURLE_OK;
	if (netmsg_str_is(m->method, "POST")) {
		ok = ok &&
		     curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
		                      (curl_off_t)x->body_len) == CURLE_OK;
		ok = ok && curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body) ==
		                   CURLE_OK;
	}
	ok = ok && curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
	                            (curl_off_t)x->resp_max) == CURLE_OK;
	ok = ok &&
	     curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK;
	ok = ok && curl_easy_setopt(e, CURLOPT_WRITEDATA, x) == CURLE_OK;
	ok = ok &&
	     curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK;
	ok = ok && curl_easy_setopt(e, CURLOPT_HEADERDATA, x) == CURLE_OK;
	return ok;
}

static const char *xfer_setup(xfer *x, const netmsg *m)
{
	char url[NETMSG_URL_MAX + 1], hdr[NETMSG_HEADER_MAX + 1];

	x->naddrs = m->naddrs;
	for (size_t i = 0; i < m->naddrs; i++)
		x->addrs[i] = m->addrs[i].ss;
	for (size_t i = 0; i < m->nkeep; i++)
		netmsg_str_copy(m->keep[i], x->keep[i], sizeof(x->keep[i]));
	x->nkeep = m->nkeep;
	x->resp_max = m->response_max;
	if (!(x->resp = kw_wipealloc(x->resp_max ? x->resp_max : 1)) ||
	    !(x->body = kw_wipealloc(m->body_len ? m->body_len : 1)))
		return "out of memory";
	if (m->body_len)
		memcpy(x->body, m->body, m->body_len);
	x->body_len = m->body_len;
	netmsg_str_copy(m->url, url, sizeof(url));
	if (xfer_parse_url(x, url) < 0)
		return "the URL cannot be parsed";
	bool https = strncasecmp(url, "https:", 6) == 0;
	for (size_t i = 0; i < x->naddrs; i++) {
		if (addr_port(&x->addrs[i]) != htons((uint16_t)x->port))
			return "a pinned address has another port than the URL";
	}
	struct in6_addr a6;
	struct in_addr a4;
	bool literal = inet_pton(AF_INET6, x->host, &a6) == 1 ||
	               inet_pton(AF_INET, x->host, &a4) == 1;
	/* CURLOPT_RESOLVE cannot name an IPv6 literal; the socket callback
	 * still holds a literal to the pinned addresses. */
	if (!literal && !xfer_build_resolve(x))
		return "the pinned addresses do not fit";
	for (size_t i = 0; i < m->nheaders; i++) {
		netmsg_str_copy(m->headers[i], hdr, sizeof(hdr));
		struct curl_slist *h = curl_slist_append(x->headers, hdr);
		if (!h)
			return "out of memory";
		x->headers = h;
	}
	if (!(x->easy = curl_easy_init()) || !xfer_options(x, m, https))
		return "could not set up the HTTP request";
	if (curl_multi_add_handle(multi, x->easy) != CURLM_OK)
		return "could not start the HTTP request";
	return NULL;
}

static void handle_http(const netmsg *m)
{
#if KW_TEST_HOOKS
	/* Set by the spawner for one helper (spawner.c): a system call
	 * outside the filter, which must kill this process. Test builds
	 * only. */
	if (getenv("KEYWARD_TEST_NET_SIGSYS"))
		(void)syscall(SYS_unshare, 0);
#endif
	if (nxfers >= XFERS_MAX || xfer_find(m->id))
		die("too many transfers, or a transfer id in use");
	xfer *x = calloc(1, sizeof(*x));
	if (!x)
		die("out of memory");
	x->id = m->id;
	const char *why = xfer_setup(x, m);
	if (why) {
		reply_done(m->id, CURLE_FAILED_INIT, 0, 0, why, NULL);
		xfer_free(x);
		return;
	}
	x->next = xfers;
	xfers = x;
	nxfers++;
}

static void handle_resolve(const netmsg *m)
{
	char host[NETMSG_HOST_MAX + 1];
	netmsg out = { .type = NETMSG_RESOLVED, .id = m->id };
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_protocol = IPPROTO_TCP,
	};
	struct addrinfo *res = NULL;

	netmsg_str_copy(m->host, host, sizeof(host));
	int g = getaddrinfo(host, NULL, &hints, &res);
	if (g != 0) {
		const char *why = gai_strerror(g);
		out.error = (netmsg_str){ why, strnlen(why, NETMSG_ERROR_MAX) };
	}
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
		    ai->ai_addrlen > sizeof(struct sockaddr_storage))
			continue;
		struct sockaddr_storage ss;
		memset(&ss, 0, sizeof(ss));
		memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
		if (ss.ss_family == AF_INET)
			((struct sockaddr_in *)&ss)->sin_port = 0;
		else
			((struct sockaddr_in6 *)&ss)->sin6_port = 0;
		bool dup = false;
		for (size_t i = 0; i < out.naddrs; i++)
			dup = dup || addr_same(&out.addrs[i].ss, &ss);
		/* Past the cap an address is dropped: keywardd pins only
		 * what it gets, so nothing unchecked is ever reached. */
		if (!dup && out.naddrs < NETMSG_ADDRS_MAX)
			out.addrs[out.naddrs++].ss = ss;
	}
	if (res)
		freeaddrinfo(res);
	send_msg(&out);
}

static void handle_cancel(uint32_t id)
{
	xfer *x = xfer_find(id);

	if (x) {
		xfer_unlink(x);
		xfer_free(x);
	}
}

/* One frame from keywardd; false at EOF. A bad frame ends the process. */
static bool read_request(void)
{
	unsigned char prefix[4];

	if (!read_all(prefix, sizeof(prefix)))
		return false;
	size_t len = netmsg_frame_len(prefix);
	if (len == 0)
		die("a frame of a length out of bounds");
	unsigned char *payload = kw_wipealloc(len);
	if (!payload)
		die("out of memory");
	if (!read_all(payload, len))
		die("the channel closed inside a frame");
	netmsg m;
	if (netmsg_decode(payload, len, &m) < 0)
		die("a malformed message");
	switch (m.type) {
	case NETMSG_RESOLVE:
		handle_resolve(&m);
		break;
	case NETMSG_HTTP:
		handle_http(&m);
		break;
	case NETMSG_CANCEL:
		handle_cancel(m.id);
		break;
	default:
		die("a message only the helper sends");
	}
	kw_wipefree(payload);
	return true;
}

static void collect(void)
{
	CURLMsg *cm;
	int queued;

	while ((cm = curl_multi_info_read(multi, &queued))) {
		if (cm->msg != CURLMSG_DONE)
			continue;
		CURLcode rc = cm->data.result;
		char *priv = NULL;
		curl_easy_getinfo(cm->easy_handle, CURLINFO_PRIVATE, &priv);
		xfer *x = (xfer *)(void *)priv;
		long status = 0;
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
		if (rc == CURLE_OPERATION_TIMEDOUT)
			x->flags |= NETMSG_F_TIMEOUT;
		if (rc == CURLE_FILESIZE_EXCEEDED)
			x->flags |= NETMSG_F_TOO_BIG;
		const char *why = rc == CURLE_OK ? "" :
		                  x->errbuf[0]   ? x->errbuf :
		                                   curl_easy_strerror(rc);
		reply_done(x->id, (uint32_t)rc,
		           status > 0 && status < 1000 ? (uint16_t)status : 0,
		           x->flags, why, x);
		xfer_unlink(x);
		xfer_free(x);
	}
}

int main(int argc, char **argv)
{
	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "keyward-net is started by keywardd only\n");
		return 64;
	}
	log_set_name("keyward-net");
	/* No core dumps: a transfer's body may be a secret. */
	struct rlimit no_core = { 0, 0 };
	setrlimit(RLIMIT_CORE, &no_core);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    !(multi = curl_multi_init()))
		die("cannot initialise libcurl");

	/* Confined for good once libcurl is set up (it has read
	 * openssl.cnf) and before the first request is read: no_new_privs,
	 * keyward-net's seccomp list, Landlock to the CA bundle, resolver
	 * files and libraries (sandbox.h). */
	struct sandbox_state sb;
	const char *what = NULL;
	if (sandbox_apply(SANDBOX_NET, NULL, &sb, &what) < 0) {
		fprintf(stderr, "keyward-net: cannot confine itself (%s)\n",
		        what ? what : "?");
		exit(2);
	}

	for (;;) {
		struct curl_waitfd wfd = { .fd = NET_FD,
			                   .events = CURL_WAIT_POLLIN };
		int running = 0;

		curl_multi_perform(multi, &running);
		collect();
		if (curl_multi_poll(multi, &wfd, 1, POLL_MAX_MS, NULL) !=
		    CURLM_OK)
			die("the transfer loop failed");
		if (wfd.revents & (CURL_WAIT_POLLIN | CURL_WAIT_POLLPRI)) {
			if (!read_request())
				break;
		}
	}
	while (xfers) {
		xfer *x = xfers;
		xfers = x->next;
		xfer_free(x);
	}
	curl_multi_cleanup(multi);
	curl_global_cleanup();
	return 0;
}
