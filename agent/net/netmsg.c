/*
 * netmsg.c - see netmsg.h. A reader and a writer with bounded getters:
 * every read checks what is left before it touches a byte.
 */
#include "netmsg.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "keyward.h"
#include "secmem.h"

/* Reading. */

typedef struct rd {
	const unsigned char *p;
	size_t left;
	bool bad;
} rd;

static const unsigned char *rd_take(rd *r, size_t n)
{
	if (r->bad || n > r->left) {
		r->bad = true;
		return NULL;
	}
	const unsigned char *p = r->p;
	r->p += n;
	r->left -= n;
	return p;
}

static uint32_t rd_uint(rd *r, size_t n)
{
	const unsigned char *p = rd_take(r, n);
	uint32_t v = 0;

	for (size_t i = 0; p && i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static bool printable(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)p[i] < 0x20 || (unsigned char)p[i] > 0x7e)
			return false;
	}
	return true;
}

static netmsg_str rd_str(rd *r, size_t min, size_t max)
{
	netmsg_str s = { "", 0 };
	size_t len = rd_uint(r, 2);
	const unsigned char *p = rd_take(r, len);

	if (!p || len < min || len > max || !printable((const char *)p, len)) {
		r->bad = true;
		return s;
	}
	s.p = (const char *)p;
	s.len = len;
	return s;
}

static void rd_addr(rd *r, netmsg_addr *a, bool with_port)
{
	unsigned family = rd_uint(r, 1);
	const unsigned char *raw = rd_take(r, 16);
	uint16_t port = (uint16_t)rd_uint(r, 2);

	memset(a, 0, sizeof(*a));
	if (!raw || (with_port ? port == 0 : port != 0)) {
		r->bad = true;
		return;
	}
	if (family == 4) {
		struct sockaddr_in *in = (struct sockaddr_in *)&a->ss;
		static const unsigned char zero[12];
		if (memcmp(raw + 4, zero, sizeof(zero)) != 0)
			r->bad = true;
		in->sin_family = AF_INET;
		memcpy(&in->sin_addr, raw, 4);
		in->sin_port = htons(port);
	} else if (family == 6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->ss;
		in6->sin6_family = AF_INET6;
		memcpy(&in6->sin6_addr, raw, 16);
		in6->sin6_port = htons(port);
	} else {
		r->bad = true;
	}
}

static size_t rd_addrs(rd *r, netmsg_addr *addrs, size_t min, bool port)
{
	size_t n = rd_uint(r, 1);

	if (n < min || n > NETMSG_ADDRS_MAX) {
		r->bad = true;
		return 0;
	}
	for (size_t i = 0; i < n && !r->bad; i++)
		rd_addr(r, &addrs[i], port);
	return n;
}

static size_t rd_strs(rd *r, netmsg_str *out, size_t max_n, size_t max_len)
{
	size_t n = rd_uint(r, 1);

	if (n > max_n) {
		r->bad = true;
		return 0;
	}
	for (size_t i = 0; i < n && !r->bad; i++)
		out[i] = rd_str(r, 1, max_len);
	return n;
}

static const unsigned char *rd_bytes(rd *r, size_t max, size_t *ret_len)
{
	size_t len = rd_uint(r, 4);
	const unsigned char *p = len <= max ? rd_take(r, len) : NULL;

	if (!p)
		r->bad = true;
	*ret_len = p ? len : 0;
	return p;
}

static void decode_http(rd *r, netmsg *m)
{
	m->method = rd_str(r, 1, NETMSG_METHOD_MAX);
	if (!r->bad && !netmsg_str_is(m->method, "GET") &&
	    !netmsg_str_is(m->method, "POST"))
		r->bad = true;
	m->url = rd_str(r, 1, NETMSG_URL_MAX);
	m->naddrs = rd_addrs(r, m->addrs, 1, true);
	m->nheaders =
		rd_strs(r, m->headers, NETMSG_HEADERS_MAX, NETMSG_HEADER_MAX);
	m->nkeep = rd_strs(r, m->keep, NETMSG_KEEP_MAX, NETMSG_HEADER_MAX);
	m->body = rd_bytes(r, NETMSG_BODY_MAX, &m->body_len);
	m->connect_ms = rd_uint(r, 4);
	m->total_ms = rd_uint(r, 4);
	m->response_max = rd_uint(r, 4);
	m->ca_pem = rd_bytes(r, NETMSG_CA_MAX, &m->ca_pem_len);
	if (m->ca_pem_len == 0)
		m->ca_pem = NULL;
	if (m->connect_ms < 1 || m->connect_ms > NETMSG_TIMEOUT_MAX_MS ||
	    m->total_ms < 1 || m->total_ms > NETMSG_TIMEOUT_MAX_MS ||
	    m->response_max > NETMSG_RESPONSE_MAX)
		r->bad = true;
}

static void decode_done(rd *r, netmsg *m)
{
	m->curl_code = rd_uint(r, 4);
	m->http_status = (uint16_t)rd_uint(r, 2);
	m->flags = (uint8_t)rd_uint(r, 1);
	m->error = rd_str(r, 0, NETMSG_ERROR_MAX);
	m->nheaders =
		rd_strs(r, m->headers, NETMSG_KEEP_MAX, NETMSG_HEADER_MAX);
	m->body = rd_bytes(r, NETMSG_RESPONSE_MAX, &m->body_len);
	if (m->flags &
	    ~(NETMSG_F_TOO_BIG | NETMSG_F_SOCKET_REFUSED | NETMSG_F_TIMEOUT))
		r->bad = true;
}

int netmsg_decode(const unsigned char *payload, size_t len, netmsg *ret_msg)
{
	if (!payload || !ret_msg || len < 1 || len > NETMSG_FRAME_MAX)
		return KW_EPROTO;
	rd r = { payload, len, false };
	netmsg *m = calloc(1, sizeof(*m));
	if (!m)
		return KW_ENOMEM;

	m->type = (enum netmsg_type)rd_uint(&r, 1);
	m->id = rd_uint(&r, 4);
	switch (m->type) {
	case NETMSG_RESOLVE:
		m->host = rd_str(&r, 1, NETMSG_HOST_MAX);
		break;
	case NETMSG_HTTP:
		decode_http(&r, m);
		break;
	case NETMSG_CANCEL:
		break;
	case NETMSG_RESOLVED:
		m->error = rd_str(&r, 0, NETMSG_ERROR_MAX);
		m->naddrs = rd_addrs(&r, m->addrs, 0, false);
		break;
	case NETMSG_DONE:
		decode_done(&r, m);
		break;
	default:
		r.bad = true;
	}
	int rc = r.bad || r.left != 0 ? KW_EPROTO : 0;
	if (rc == 0)
		*ret_msg = *m;
	free(m);
	return rc;
}

size_t netmsg_frame_len(const unsigned char prefix[static 4])
{
	uint32_t n = (uint32_t)prefix[0] << 24 | (uint32_t)prefix[1] << 16 |
	             (uint32_t)prefix[2] << 8 | prefix[3];

	return n >= 1 && n <= NETMSG_FRAME_MAX ? n : 0;
}

bool netmsg_str_copy(netmsg_str s, char *out, size_t outsz)
{
	if (!out || s.len >= outsz)
		return false;
	if (s.len > 0)
		memcpy(out, s.p, s.len);
	out[s.len] = '\0';
	return true;
}

bool netmsg_str_is(netmsg_str s, const char *text)
{
	size_t n = strlen(text);
	return s.len == n && (n == 0 || memcmp(s.p, text, n) == 0);
}

/* Writing: sizes are summed by a dry run (buf NULL), then written. */

typedef struct wr {
	unsigned char *buf;
	size_t len;
	bool bad;
} wr;

static void wr_put(wr *w, const void *p, size_t n)
{
	if (w->buf && n > 0)
		memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void wr_uint(wr *w, uint32_t v, size_t n)
{
	unsigned char b[4];

	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)(v >> (8 * (n - 1 - i)));
	wr_put(w, b, n);
}

static void wr_str(wr *w, netmsg_str s, size_t min, size_t max)
{
	if (s.len < min || s.len > max || (s.len > 0 && !s.p) ||
	    (s.len > 0 && !printable(s.p, s.len))) {
		w->bad = true;
		return;
	}
	wr_uint(w, (uint32_t)s.len, 2);
	wr_put(w, s.p, s.len);
}

static void wr_addrs(wr *w, const netmsg_addr *a, size_t n, size_t min,
                     bool with_port)
{
	if (n < min || n > NETMSG_ADDRS_MAX) {
		w->bad = true;
		return;
	}
	wr_uint(w, (uint32_t)n, 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char raw[16] = { 0 };
		in_port_t port;
		if (a[i].ss.ss_family == AF_INET) {
			const struct sockaddr_in *in =
				(const struct sockaddr_in *)&a[i].ss;
			memcpy(raw, &in->sin_addr, 4);
			port = in->sin_port;
			wr_uint(w, 4, 1);
		} else if (a[i].ss.ss_family == AF_INET6) {
			const struct sockaddr_in6 *in6 =
				(const struct sockaddr_in6 *)&a[i].ss;
			memcpy(raw, &in6->sin6_addr, 16);
			port = in6->sin6_port;
			wr_uint(w, 6, 1);
		} else {
			w->bad = true;
			return;
		}
		wr_put(w, raw, sizeof(raw));
		wr_uint(w, with_port ? ntohs(port) : 0, 2);
		if (with_port && port == 0)
			w->bad = true;
	}
}

static void wr_strs(wr *w, const netmsg_str *s, size_t n, size_t max_n)
{
	if (n > max_n) {
		w->bad = true;
		return;
	}
	wr_uint(w, (uint32_t)n, 1);
	for (size_t i = 0; i < n; i++)
		wr_str(w, s[i], 1, NETMSG_HEADER_MAX);
}

static void wr_bytes(wr *w, const unsigned char *p, size_t n, size_t max)
{
	if (n > max || (n > 0 && !p)) {
		w->bad = true;
		return;
	}
	wr_uint(w, (uint32_t)n, 4);
	wr_put(w, p, n);
}

static void encode(wr *w, const netmsg *m)
{
	wr_uint(w, m->type, 1);
	wr_uint(w, m->id, 4);
	switch (m->type) {
	case NETMSG_RESOLVE:
		wr_str(w, m->host, 1, NETMSG_HOST_MAX);
		break;
	case NETMSG_HTTP:
		if (!netmsg_str_is(m->method, "GET") &&
		    !netmsg_str_is(m->method, "POST"))
			w->bad = true;
		wr_str(w, m->method, 1, NETMSG_METHOD_MAX);
		wr_str(w, m->url, 1, NETMSG_URL_MAX);
		wr_addrs(w, m->addrs, m->naddrs, 1, true);
		wr_strs(w, m->headers, m->nheaders, NETMSG_HEADERS_MAX);
		wr_strs(w, m->keep, m->nkeep, NETMSG_KEEP_MAX);
		wr_bytes(w, m->body, m->body_len, NETMSG_BODY_MAX);
		wr_uint(w, m->connect_ms, 4);
		wr_uint(w, m->total_ms, 4);
		wr_uint(w, m->response_max, 4);
		wr_bytes(w, m->ca_pem, m->ca_pem_len, NETMSG_CA_MAX);
		if (m->connect_ms < 1 ||
		    m->connect_ms > NETMSG_TIMEOUT_MAX_MS || m->total_ms < 1 ||
		    m->total_ms > NETMSG_TIMEOUT_MAX_MS ||
		    m->response_max > NETMSG_RESPONSE_MAX)
			w->bad = true;
		break;
	case NETMSG_CANCEL:
		break;
	case NETMSG_RESOLVED:
		wr_str(w, m->error, 0, NETMSG_ERROR_MAX);
		wr_addrs(w, m->addrs, m->naddrs, 0, false);
		break;
	case NETMSG_DONE:
		wr_uint(w, m->curl_code, 4);
		wr_uint(w, m->http_status, 2);
		wr_uint(w, m->flags, 1);
		wr_str(w, m->error, 0, NETMSG_ERROR_MAX);
		wr_strs(w, m->headers, m->nheaders, NETMSG_KEEP_MAX);
		wr_bytes(w, m->body, m->body_len, NETMSG_RESPONSE_MAX);
		break;
	default:
		w->bad = true;
	}
}

int netmsg_encode(const netmsg *m, unsigned char **ret_frame, size_t *ret_len)
{
	if (!m || !ret_frame || !ret_len)
		return KW_EINVAL;
	wr w = { NULL, 0, false };
	encode(&w, m);
	if (w.bad || w.len > NETMSG_FRAME_MAX)
		return KW_EINVAL;

	size_t payload = w.len;
	unsigned char *buf = kw_wipealloc(4 + payload);
	if (!buf)
		return KW_ENOMEM;
	w = (wr){ buf, 0, false };
	wr_uint(&w, (uint32_t)payload, 4);
	encode(&w, m);
	*ret_frame = buf;
	*ret_len = w.len;
	return 0;
}
