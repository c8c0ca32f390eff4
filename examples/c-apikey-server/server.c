/*
 * server.c - a small HTTP server that lets in only requests carrying an API
 * key keyward knows: `Authorization: Bearer <key>` or `X-API-Key: <key>`.
 *
 * The server holds no key and compares nothing itself: libkeyward's
 * kw_apikey_verify() asks the agent, which checks the key in constant time,
 * rate-limits failures and writes the audit row. The answer is 200 with the
 * key's principal, 401 (with WWW-Authenticate) for a missing, malformed,
 * unknown, revoked or expired key, 429 when the agent rate-limits us, and
 * 503 when the agent cannot be asked: a key is never accepted because the
 * agent was unreachable.
 *
 *   c-apikey-server [PORT]      listen on 127.0.0.1:PORT (default 8080;
 *                               0: any free port); prints
 *                               "listening http://127.0.0.1:PORT/" once
 *                               ready. SIGTERM or SIGINT stops it.
 *
 * One request per connection, one connection at a time, loopback only:
 * a demonstration of the check, not a web server. Every read is bounded
 * (REQ_MAX bytes of head, READ_TIMEOUT_S per connection).
 *
 * Build: cc server.c $(pkg-config --cflags --libs keyward)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4, explicit_bzero */
#endif
#include <errno.h>
#include <keyward.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define REQ_MAX         8192 /* request line and headers */
#define KEY_MAX         1024 /* longest key passed to the agent */
#define READ_TIMEOUT_S  5
#define CALL_TIMEOUT_MS 5000

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

/* Read the request head (up to the blank line) into buf, NUL-terminated.
 * Returns its length, or -1 if it is too long, cut short or too slow. */
static ssize_t read_head(int fd, char *buf, size_t bufsz)
{
	size_t len = 0;

	while (len < bufsz - 1) {
		ssize_t n = read(fd, buf + len, bufsz - 1 - len);
		if (n < 0 && errno == EINTR && !stopping)
			continue;
		if (n <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n"))
			return (ssize_t)len;
	}
	return -1;
}

/*
 * The value of header `name` in head (case-insensitive name, surrounding
 * blanks trimmed), copied into out. false if absent, empty, repeated (an
 * ambiguous credential is no credential) or longer than outsz - 1.
 */
static bool header_value(const char *head, const char *name, char *out,
                         size_t outsz)
{
	size_t nlen = strlen(name);
	const char *line = strstr(head, "\r\n");
	bool found = false;

	while (line && line[2] != '\r') {
		const char *start = line + 2;
		const char *end = strstr(start, "\r\n");
		if (!end)
			break;
		if ((size_t)(end - start) > nlen && start[nlen] == ':' &&
		    strncasecmp(start, name, nlen) == 0) {
			const char *v = start + nlen + 1;
			const char *e = end;
			while (v < e && (*v == ' ' || *v == '\t'))
				v++;
			while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
				e--;
			if (found || e == v || (size_t)(e - v) >= outsz)
				return false;
			memcpy(out, v, (size_t)(e - v));
			out[e - v] = '\0';
			found = true;
		}
		line = end;
	}
	return found;
}

/* The presented key: X-API-Key, or the token of a Bearer Authorization.
 * Both present is refused: which one would count is not obvious. */
static bool presented_key(const char *head, char *out, size_t outsz)
{
	char auth[KEY_MAX + 16];
	bool have_x = header_value(head, "X-API-Key", out, outsz);
	bool have_auth =
		header_value(head, "Authorization", auth, sizeof(auth));

	if (have_x)
		return !have_auth;
	if (!have_auth || strncasecmp(auth, "Bearer ", 7) != 0)
		return false;
	const char *token = auth + 7;
	while (*token == ' ')
		token++;
	if (!*token || strlen(token) >= outsz)
		return false;
	memcpy(out, token, strlen(token) + 1);
	return true;
}

static void send_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

static void respond(int fd, int status, const char *reason,
                    const char *extra_header, const char *body)
{
	char head[512];
	int n = snprintf(head, sizeof(head),
	                 "HTTP/1.1 %d %s\r\n"
	                 "Content-Type: application/json\r\n"
	                 "Content-Length: %zu\r\n"
	                 "%s"
	                 "Cache-Control: no-store\r\n"
	                 "Connection: close\r\n\r\n",
	                 status, reason, strlen(body),
	                 extra_header ? extra_header : "");
	if (n < 0 || (size_t)n >= sizeof(head))
		return;
	send_all(fd, head, (size_t)n);
	send_all(fd, body, strlen(body));
}

static void unauthorized(int fd, const char *why)
{
	char body[256];

	snprintf(body, sizeof(body),
	         "{\"error\":\"invalid_token\",\"error_description\":\"%s\"}",
	         why);
	char value[512], header[600];
	if (kw_www_authenticate(KW_ETOKEN, "keyward-example", NULL, NULL, NULL,
	                        value, sizeof(value)) < 0)
		snprintf(value, sizeof(value),
		         "Bearer error=\"invalid_token\"");
	snprintf(header, sizeof(header), "WWW-Authenticate: %s\r\n", value);
	respond(fd, 401, "Unauthorized", header, body);
}

/* Errors that say the agent could not answer, not that the key is bad. */
static bool agent_unavailable(int r)
{
	switch (r) {
	case KW_ECONNECT:
	case KW_ETIMEOUT:
	case KW_ECLOSED:
	case KW_EPROTO:
	case KW_EDENIED: /* our policy lacks `verify` */
	case KW_ELOCKED:
	case KW_ENOMEM:
	case KW_EIO:
	case KW_ESTORE:
	case KW_ECRYPTO:
	case KW_EINTERNAL:
	case KW_EMETHOD:
		return true;
	default:
		return false;
	}
}

/* A JSON string body member may hold only what needs no escaping; the
 * principal is a name (docs/protocol.md: [A-Za-z0-9._/-]), so this is a
 * belt-and-braces check, not a transformation. */
static bool json_plain(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || *s == '"' || *s == '\\' ||
		    (unsigned char)*s >= 0x7f)
			return false;
	}
	return true;
}

static void serve(kw_client *kw, int fd)
{
	char head[REQ_MAX];
	char key[KEY_MAX];
	kw_apikey_info *info = NULL;
	char body[512];
	int r;

	if (read_head(fd, head, sizeof(head)) < 0) {
		respond(fd, 400, "Bad Request", NULL,
		        "{\"error\":\"invalid_request\"}");
		return;
	}
	if (!presented_key(head, key, sizeof(key))) {
		unauthorized(fd, "an API key is required");
		return;
	}
	r = kw_apikey_verify(kw, key, &info);
	explicit_bzero(key, sizeof(key));
	if (r == KW_ERATE) {
		respond(fd, 429, "Too Many Requests", "Retry-After: 1\r\n",
		        "{\"error\":\"rate_limited\"}");
		return;
	}
	if (r < 0 && agent_unavailable(r)) {
		fprintf(stderr, "c-apikey-server: keyward: %s: %s\n",
		        kw_error_name(r), kw_last_error_message(kw));
		respond(fd, 503, "Service Unavailable", NULL,
		        "{\"error\":\"temporarily_unavailable\"}");
		return;
	}
	if (r < 0) {
		/* Unknown, revoked, expired or malformed: the agent's kind
		 * says which (it never contains the key). */
		unauthorized(fd, kw_error_name(r));
		return;
	}
	const char *principal = kw_apikey_info_principal(info);
	if (!principal || !json_plain(principal) ||
	    snprintf(body, sizeof(body), "{\"ok\":true,\"principal\":\"%s\"}",
	             principal) >= (int)sizeof(body))
		respond(fd, 500, "Internal Server Error", NULL,
		        "{\"error\":\"server_error\"}");
	else
		respond(fd, 200, "OK", NULL, body);
	kw_apikey_info_free(info);
}

static int parse_port(const char *s, int *ret_port)
{
	char *end = NULL;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > 65535)
		return -1;
	*ret_port = (int)v;
	return 0;
}

static int listen_loopback(int port, int *ret_port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
		                  .sin_port = htons((uint16_t)port),
		                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t salen = sizeof(sa);
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 16) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &salen) < 0) {
		close(fd);
		return -1;
	}
	*ret_port = ntohs(sa.sin_port);
	return fd;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct timeval tv = { .tv_sec = READ_TIMEOUT_S };
	kw_client *kw = NULL;
	int port = 8080, lfd, r;

	if (argc > 2 || (argc == 2 && parse_port(argv[1], &port) < 0)) {
		fprintf(stderr, "usage: c-apikey-server [PORT]\n");
		return 2;
	}
	/* No SA_RESTART: a signal must interrupt accept(). */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	r = kw_connect(&kw, NULL);
	if (r == 0)
		r = kw_set_timeout(kw, CALL_TIMEOUT_MS);
	if (r < 0) {
		fprintf(stderr, "c-apikey-server: keyward: %s: %s\n",
		        kw_error_name(r), kw_last_error_message(kw));
		kw_close(kw);
		return 1;
	}
	lfd = listen_loopback(port, &port);
	if (lfd < 0) {
		perror("c-apikey-server: listen");
		kw_close(kw);
		return 1;
	}
	printf("listening http://127.0.0.1:%d/\n", port);
	fflush(stdout);

	while (!stopping) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			/* EINTR: the loop checks for a stop. Anything else
			 * (EMFILE, ...): do not spin on it. */
			if (errno != EINTR)
				usleep(10000);
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		serve(kw, fd);
		close(fd);
	}
	close(lfd);
	kw_close(kw);
	return 0;
}
