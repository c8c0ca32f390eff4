/*
 * mcp_proxy_dest.c - where keyward mcp proxy sends its requests, and
 * nowhere else: the URL's host is resolved once, at start, every address
 * is checked by the destination guard the agent's webhooks use
 * (common/httpguard.h), and each transfer is pinned to those addresses
 * (CURLOPT_RESOLVE, and a socket-open callback that refuses any other
 * address or port). No redirects, no proxies from the environment, TLS
 * verification always on.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "httpguard.h"
#include "mcp_proxy.h"

#define PRIVATE_HINT "add --allow-private to allow private addresses"

static curl_socket_t on_open_socket(void *arg, curlsocktype purpose,
                                    struct curl_sockaddr *ca)
{
	const struct proxy_dest *d = arg;
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
		         httpguard_addr_listed(d->addrs, d->naddrs, &ss, true);
	}
	if (!pinned)
		return CURL_SOCKET_BAD;
	int fd = socket(ca->family, ca->socktype | SOCK_CLOEXEC, ca->protocol);
	return fd < 0 ? CURL_SOCKET_BAD : fd;
}

static bool host_ascii(const char *h)
{
	for (; *h; h++)
		if ((unsigned char)*h <= 0x20 || (unsigned char)*h >= 0x7f)
			return false;
	return true;
}

/* Scheme, host and port of d->url, as libcurl will use them. */
static int parse_url(struct proxy_dest *d, bool allow_insecure, char *why,
                     size_t whysz)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *user = NULL,
	     *frag = NULL;
	int r = KW_EINVAL;

	if (!u)
		return KW_ENOMEM;
	if (proxy_url_set(u, CURLUPART_URL, d->url, CURLU_NON_SUPPORT_SCHEME) !=
	            CURLUE_OK ||
	    proxy_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    proxy_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    proxy_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) !=
	            CURLUE_OK) {
		snprintf(why, whysz, "not a URL this proxy can use");
		goto out;
	}
	if (proxy_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
		snprintf(why, whysz,
		         "a URL with a user name or password is refused: give "
		         "credentials with --header");
		goto out;
	}
	if (proxy_url_get(u, CURLUPART_FRAGMENT, &frag, 0) == CURLUE_OK) {
		snprintf(why, whysz, "a URL with a #fragment is refused");
		goto out;
	}
	d->https = strcasecmp(scheme, "https") == 0;
	if (!d->https && strcasecmp(scheme, "http") != 0) {
		snprintf(why, whysz,
		         "the URL must be https:// (or http:// with "
		         "--allow-insecure)");
		goto out;
	}
	if (!d->https && !allow_insecure) {
		snprintf(why, whysz,
		         "plain http:// is refused: use https://, or "
		         "--allow-insecure for a server on a loopback address");
		goto out;
	}
	size_t hlen = strlen(host);
	const char *h = host;
	if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
		h++;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= sizeof(d->host) || !host_ascii(host)) {
		snprintf(why, whysz,
		         "the URL's host must be ASCII (punycode for an "
		         "international name), 1 to %zu bytes",
		         sizeof(d->host) - 1);
		goto out;
	}
	memcpy(d->host, h, hlen);
	d->host[hlen] = '\0';
	char *end = NULL;
	long pn = strtol(port, &end, 10);
	if (end == port || *end != '\0' || pn < 1 || pn > 65535) {
		snprintf(why, whysz, "the URL's port is out of range");
		goto out;
	}
	d->port = (unsigned)pn;
	r = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(user);
	curl_free(frag);
	curl_url_cleanup(u);
	return r;
}

/* Resolve once and check every address; keep up to PROXY_ADDRS_MAX. */
static int resolve_check(struct proxy_dest *d, bool allow_private, char *why,
                         size_t whysz)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_protocol = IPPROTO_TCP,
	};
	struct addrinfo *res = NULL;
	int g = getaddrinfo(d->host, NULL, &hints, &res), r = 0;

	if (g != 0) {
		snprintf(why, whysz, "cannot resolve %s: %s", d->host,
		         gai_strerror(g));
		return KW_ECONNECT;
	}
	for (const struct addrinfo *ai = res; ai && r == 0; ai = ai->ai_next) {
		struct sockaddr_storage ss;

		if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
		    ai->ai_addrlen > sizeof(ss))
			continue;
		memset(&ss, 0, sizeof(ss));
		memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
		if (ss.ss_family == AF_INET)
			((struct sockaddr_in *)&ss)->sin_port =
				htons((uint16_t)d->port);
		else
			((struct sockaddr_in6 *)&ss)->sin6_port =
				htons((uint16_t)d->port);
		r = httpguard_check(&ss, allow_private, d->https, PRIVATE_HINT,
		                    why, whysz);
		if (r == 0 && d->naddrs < PROXY_ADDRS_MAX &&
		    !httpguard_addr_listed(d->addrs, d->naddrs, &ss, true))
			d->addrs[d->naddrs++] = ss;
	}
	freeaddrinfo(res);
	if (r == 0 && d->naddrs == 0) {
		snprintf(why, whysz, "%s has no IPv4 or IPv6 address", d->host);
		r = KW_ECONNECT;
	}
	return r;
}

/* "host:port:addr,addr" for CURLOPT_RESOLVE; not for an address literal
 * (it cannot name an IPv6 one, and a literal needs no lookup). */
static int build_resolve(struct proxy_dest *d)
{
	char line[sizeof(d->host) + 8 +
	          PROXY_ADDRS_MAX * (INET6_ADDRSTRLEN + 3)];
	struct in6_addr a6;
	struct in_addr a4;
	size_t len;
	int n;

	if (inet_pton(AF_INET6, d->host, &a6) == 1 ||
	    inet_pton(AF_INET, d->host, &a4) == 1)
		return 0;
	n = snprintf(line, sizeof(line), "%s:%u:", d->host, d->port);
	len = (size_t)n;
	for (size_t i = 0; i < d->naddrs; i++) {
		char text[INET6_ADDRSTRLEN];
		bool v6 = d->addrs[i].ss_family == AF_INET6;

		httpguard_addr_text(&d->addrs[i], text, sizeof(text));
		n = snprintf(line + len, sizeof(line) - len, "%s%s%s%s",
		             i ? "," : "", v6 ? "[" : "", text, v6 ? "]" : "");
		if (n < 0 || (size_t)n >= sizeof(line) - len)
			return KW_EINTERNAL;
		len += (size_t)n;
	}
	d->resolve = curl_slist_append(NULL, line);
	return d->resolve ? 0 : KW_ENOMEM;
}

int proxy_dest_init(struct proxy_dest *d, const char *url, bool allow_private,
                    bool allow_insecure, char *why, size_t whysz)
{
	int r;

	memset(d, 0, sizeof(*d));
	if (strlen(url) > PROXY_URL_MAX) {
		snprintf(why, whysz, "the URL is longer than %u bytes",
		         PROXY_URL_MAX);
		return KW_EINVAL;
	}
	memcpy(d->url, url, strlen(url) + 1);
	if ((r = parse_url(d, allow_insecure, why, whysz)) < 0 ||
	    (r = resolve_check(d, allow_private, why, whysz)) < 0)
		return r;
	if ((r = build_resolve(d)) < 0)
		snprintf(why, whysz, "cannot pin the addresses of %s", d->host);
	return r;
}

void proxy_dest_free(struct proxy_dest *d)
{
	curl_slist_free_all(d->resolve);
	d->resolve = NULL;
}

int proxy_dest_apply(struct proxy_dest *d, CURL *e)
{
	const char *proto = d->https ? "https" : "http";
	bool ok = true;

	ok = ok && curl_easy_setopt(e, CURLOPT_URL, d->url) == CURLE_OK;
	ok = ok &&
	     curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, proto) == CURLE_OK;
	ok = ok && curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, proto) ==
	                   CURLE_OK;
	ok = ok && curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
	ok = ok && curl_easy_setopt(e, CURLOPT_PROXY, "") == CURLE_OK;
	ok = ok && curl_easy_setopt(e, CURLOPT_NOPROXY, "*") == CURLE_OK;
	ok = ok && curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
	ok = ok && curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION,
	                            on_open_socket) == CURLE_OK;
	ok = ok && curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, d) == CURLE_OK;
	if (d->resolve)
		ok = ok && curl_easy_setopt(e, CURLOPT_RESOLVE, d->resolve) ==
		                   CURLE_OK;
	ok = ok && curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK;
	ok = ok && curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK;
	ok = ok && curl_easy_setopt(e, CURLOPT_SSLVERSION,
	                            (long)CURL_SSLVERSION_TLSv1_2) == CURLE_OK;
	ok = ok && curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
	                            (long)PROXY_CONNECT_MS) == CURLE_OK;
	ok = ok && curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) == CURLE_OK;
	return ok ? 0 : KW_EINTERNAL;
}
