/*
 * mcp_proxy_http.c - keyward mcp proxy's HTTP transfers, on one libcurl
 * multi handle driven by the proxy's loop (mcp_proxy.c):
 *
 *   POST    each client message, byte for byte; the answer is one JSON
 *           message, an event stream read as it arrives, or 202
 *   RESUME  a POST's stream that broke before its response, picked up
 *           with GET and Last-Event-ID (2025-11-25, SEP-1699)
 *   GET     the stream of server messages outside requests (2025-era
 *           servers), opened after notifications/initialized and opened
 *           again with backoff and Last-Event-ID when it ends
 *   DELETE  the session, at the end (proxy_http_delete)
 *
 * What the client would see from a Streamable HTTP client transport it
 * sees from us: every request gets its response or a JSON-RPC error
 * response saying what failed. Sessions (expiry, starting again) are
 * mcp_proxy_sess.c's.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "jsonspan.h"
#include "mask.h"
#include "mcp_proxy.h"
#include "mcp_proxy_xfer.h"
#include "secmem.h"

#define ERRBODY_MAX   65536u /* kept of a non-2xx answer */
#define USER_AGENT    "keyward-mcp-proxy/" KW_VERSION_STRING
#define BACKOFF_MS    1000L
#define BACKOFF_MAXMS 30000L

int64_t proxy_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void proxy_debug(const struct proxy *p, int level, const char *fmt, ...)
{
	va_list ap;

	if (p->verbose < level)
		return;
	fputs("keyward: mcp proxy: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int debug_out(void *arg, const void *data, size_t len)
{
	(void)arg;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = ((const unsigned char *)data)[i];

		fputc(c == '\n' || c == '\r' ? ' ' : c, stderr);
	}
	return 0;
}

void proxy_debug_body(const struct proxy *p, const char *dir, const char *msg,
                      size_t len)
{
	if (p->verbose < 2 || !p->mask)
		return;
	fprintf(stderr, "keyward: mcp proxy: %s ", dir);
	if (kw_mask_feed(p->mask, msg, len, debug_out, NULL) == 0)
		(void)kw_mask_flush(p->mask, debug_out, NULL);
	fputc('\n', stderr);
}

void proxy_emit(struct proxy *p, const char *msg, size_t len)
{
	proxy_debug_body(p, "<", msg, len);
	if (proxy_out_push(&p->out, msg, len) < 0)
		cli_msg(p->cli, NULL,
		        "out of memory: a message from the "
		        "server was dropped");
}

/* What a transfer carries, for diagnostics: "tools/call (id 3)",
 * "notifications/initialized", "response (id 0)", or "" for none. */
void xfer_id_text(const struct pmsg *m, char *buf, size_t sz)
{
	char *t = m && m->id ? json_dumps(m->id, JSON_ENCODE_ANY) : NULL;

	if (!m)
		snprintf(buf, sz, "%s", "");
	else
		snprintf(buf, sz, "%.64s%s%.40s%s",
		         m->method ? m->method : "response", t ? " (id " : "",
		         t ? t : "", t ? ")" : "");
	for (char *c = buf; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
			*c = '?';
	free(t);
}

void xfer_fail(struct xfer *x, long status, const char *fmt, ...)
{
	struct proxy *p = x->p;
	const struct pmsg *m = x->msg;
	char text[512], msg[600], id[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	xfer_id_text(m, id, sizeof(id));
	if (m && m->kind == PMSG_REQUEST) {
		char *e;

		snprintf(msg, sizeof(msg), "keyward mcp proxy: %s", text);
		e = pmsg_error(m->id, PROXY_ERR_TRANSPORT, msg, status);
		if (e)
			proxy_emit(p, e, strlen(e));
		free(e);
		x->answered = true;
	}
	cli_msg(p->cli, NULL, "%s: %s", id[0] ? id : xfer_kind_name(x), text);
}

/* The body's first line, printable, injected values redacted. */
static void first_line(const struct xfer *x, char *out, size_t outsz)
{
	char raw[PROXY_ERRLINE_MAX + 1];
	size_t n = 0;

	for (size_t i = 0; i < x->body_len && n < PROXY_ERRLINE_MAX; i++) {
		unsigned char c = (unsigned char)x->body[i];

		if (c == '\n' || c == '\r')
			break;
		raw[n++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	raw[n] = '\0';
	proxy_headers_redact(&x->p->hdrs, raw, n, out, outsz);
}

/* The media type of a Content-Type value, lower case, no parameters. */
static void media_type(const char *v, char *out, size_t outsz)
{
	size_t n = 0;

	while (*v == ' ' || *v == '\t')
		v++;
	for (; *v && *v != ';' && *v != ' ' && n + 1 < outsz; v++)
		out[n++] = (char)(*v >= 'A' && *v <= 'Z' ? *v + 32 : *v);
	out[n] = '\0';
}

static void handle_one(struct xfer *x, const char *data, size_t len);

/* A JSON array from a 2025-03-26 server: each element on its own, as
 * its bytes (spans), never re-serialised. */
static void handle_batch(struct xfer *x, const char *data, size_t len)
{
	kw_jdoc *doc = NULL;
	char why[128];

	if (kw_jspan_parse(data, len, 0, &doc, why, sizeof(why)) < 0 ||
	    doc->nodes[0].type != KW_JARRAY) {
		cli_msg(x->p->cli, NULL,
		        "dropped a message from the server that is not JSON");
		kw_jspan_free(doc);
		return;
	}
	for (const struct kw_jnode *e = kw_jspan_first(doc, &doc->nodes[0]); e;
	     e = kw_jspan_next(doc, e))
		handle_one(x, data + e->start, e->end - e->start);
	kw_jspan_free(doc);
}

/* One server message: note what it answers, then on to stdout. */
static void handle_one(struct xfer *x, const char *data, size_t len)
{
	struct proxy *p = x->p;
	struct smsg sm;
	int r = smsg_parse(data, len, &sm);

	if (r == KW_ENOMEM) {
		cli_msg(p->cli, NULL, "out of memory: a message was dropped");
		return;
	}
	if (r < 0) {
		cli_msg(p->cli, NULL,
		        "dropped a message from the server that is not a "
		        "JSON-RPC object");
		return;
	}
	if (sm.response && x->msg && x->msg->id &&
	    json_equal(sm.id, x->msg->id)) {
		x->answered = true;
		if (!sm.error)
			xfer_note_result(x, json_object_get(sm.doc, "result"));
	}
	smsg_free(&sm);
	/* A session started again: the client has its answer already. */
	if (x->reject || x->kind == X_REINIT || x->kind == X_REINIT_NOTE)
		return;
	if (x->filter) {
		char *edited = NULL;
		size_t elen = 0;

		x->filter = false;
		if (proxy_params_filter(p, data, len, &edited, &elen) == 1) {
			proxy_emit(p, edited, elen);
			kw_wipefree(edited);
			return;
		}
	}
	proxy_emit(p, data, len);
}

void xfer_message(struct xfer *x, const char *data, size_t len)
{
	size_t i = 0;

	while (i < len && (data[i] == ' ' || data[i] == '\t' ||
	                   data[i] == '\r' || data[i] == '\n'))
		i++;
	if (i < len && data[i] == '[')
		handle_batch(x, data, len);
	else
		handle_one(x, data, len);
}

static int on_event(void *arg, const struct kw_sse_event *ev)
{
	struct xfer *x = arg;

	if (ev->has_id) {
		snprintf(x->last_id, sizeof(x->last_id), "%s", ev->last_id);
		x->saw_id = true;
		x->events++;
	}
	if (ev->too_big) {
		x->big_event = true;
		cli_msg(x->p->cli, NULL,
		        "dropped an event from the server larger than %u "
		        "bytes",
		        PROXY_MSG_MAX);
		return 0;
	}
	if (ev->type_too_long || (ev->type[0] && strcmp(ev->type, "message")))
		return 0;
	if (ev->data_len > 0) {
		x->events++;
		xfer_message(x, ev->data, ev->data_len);
	}
	return 0;
}

/* The end of a header block: decide how to read the body. */
static void headers_end(struct xfer *x)
{
	struct proxy *p = x->p;
	char id[128];

	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
	if (x->status < 200)
		return; /* 100 Continue and other interim answers */
	x->headers_done = true;
	xfer_id_text(x->msg, id, sizeof(id));
	proxy_debug(p, 1, "%s%s%s -> %ld%s%s", xfer_kind_name(x),
	            id[0] ? " " : "", id, x->status, x->ctype[0] ? " " : "",
	            x->ctype);
	if (x->status >= 200 && x->status < 300) {
		xfer_session_headers(x);
		if (strcmp(x->ctype, "text/event-stream") == 0 &&
		    kw_sse_new(PROXY_MSG_MAX, &x->sse) < 0)
			x->oom = true;
	}
}

static bool header_is(const char *line, size_t n, const char *name,
                      const char **ret_value, size_t *ret_len)
{
	size_t nl = strlen(name);

	if (n <= nl || line[nl] != ':' || strncasecmp(line, name, nl) != 0)
		return false;
	const char *v = line + nl + 1;
	size_t vl = n - nl - 1;

	while (vl > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vl--;
	}
	while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' ||
	                  v[vl - 1] == ' ' || v[vl - 1] == '\t'))
		vl--;
	*ret_value = v;
	*ret_len = vl;
	return true;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb, vl;
	const char *v;

	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		/* A new block (after 100 Continue): forget the last. */
		x->ctype[0] = '\0';
		free(x->new_session);
		free(x->www_auth);
		x->new_session = x->www_auth = NULL;
		x->has_session_header = false;
		return n;
	}
	if (n <= 2 && (data[0] == '\r' || data[0] == '\n')) {
		headers_end(x);
		return n;
	}
	if (header_is(data, n, "content-type", &v, &vl)) {
		char t[64];

		snprintf(t, sizeof(t), "%.*s", (int)(vl < 63 ? vl : 63), v);
		media_type(t, x->ctype, sizeof(x->ctype));
	} else if (header_is(data, n, "mcp-session-id", &v, &vl)) {
		free(x->new_session);
		x->new_session =
			vl <= PROXY_SESSION_MAX ? strndup(v, vl) : NULL;
		x->has_session_header = true;
	} else if (header_is(data, n, "www-authenticate", &v, &vl) &&
	           !x->www_auth) {
		x->www_auth = strndup(v, vl < 1024 ? vl : 1024);
	}
	return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	struct proxy *p = x->p;
	size_t n = size * nmemb;
	bool ok2xx = x->status >= 200 && x->status < 300;
	size_t max = ok2xx ? PROXY_MSG_MAX : ERRBODY_MAX;

	if (x->kind != X_DELETE && p->out.queued > PROXY_OUT_HIGH) {
		x->paused = p->paused = true;
		return CURL_WRITEFUNC_PAUSE;
	}
	if (x->oom)
		return 0;
	if (x->sse && ok2xx) {
		if (kw_sse_feed(x->sse, data, n, on_event, x) < 0)
			return 0;
		/* A request's stream has nothing more for us after its
		 * response: end it rather than wait for the server to. */
		return x->answered && x->msg && x->msg->kind == PMSG_REQUEST ?
		               0 :
		               n;
	}
	if (n > max - x->body_len) {
		x->body_big = true;
		return ok2xx ? 0 : n; /* a success must be whole */
	}
	if (x->body_len + n > x->body_cap) {
		size_t ncap = x->body_cap ? x->body_cap * 2 : 16384;
		char *nb;

		while (ncap < x->body_len + n)
			ncap *= 2;
		if (ncap > max)
			ncap = max;
		nb = kw_wipealloc(ncap);
		if (!nb) {
			x->oom = true;
			return 0;
		}
		if (x->body_len)
			memcpy(nb, x->body, x->body_len);
		kw_wipefree(x->body);
		x->body = nb;
		x->body_cap = ncap;
	}
	memcpy(x->body + x->body_len, data, n);
	x->body_len += n;
	return n;
}

/* Build and start x's request. 0 or a KW_E* code (x not started). */
int xfer_start(struct xfer *x)
{
	struct proxy *p = x->p;
	bool ok;

	x->easy = curl_easy_init();
	if (!x->easy)
		return KW_ENOMEM;
	if (xfer_build_headers(x) < 0 || proxy_dest_apply(&p->dest, x->easy))
		return KW_ENOMEM;
	ok = curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x) == CURLE_OK &&
	     curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->errbuf) ==
	             CURLE_OK &&
	     curl_easy_setopt(x->easy, CURLOPT_USERAGENT, USER_AGENT) ==
	             CURLE_OK &&
	     curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers) ==
	             CURLE_OK &&
	     curl_easy_setopt(x->easy, CURLOPT_HEADERFUNCTION, on_header) ==
	             CURLE_OK &&
	     curl_easy_setopt(x->easy, CURLOPT_HEADERDATA, x) == CURLE_OK &&
	     curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_body) ==
	             CURLE_OK &&
	     curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x) == CURLE_OK;
	if (ok && (x->kind == X_POST || x->kind == X_REINIT ||
	           x->kind == X_REINIT_NOTE))
		ok = curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE,
		                      (curl_off_t)x->msg->len) == CURLE_OK &&
		     curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS,
		                      x->msg->body) == CURLE_OK;
	else if (ok && x->kind == X_DELETE)
		ok = curl_easy_setopt(x->easy, CURLOPT_CUSTOMREQUEST,
		                      "DELETE") == CURLE_OK &&
		     curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS,
		                      (long)PROXY_DELETE_MS) == CURLE_OK;
	else if (ok)
		ok = curl_easy_setopt(x->easy, CURLOPT_HTTPGET, 1L) == CURLE_OK;
	if (!ok)
		return KW_EINTERNAL;
	if (x->kind != X_DELETE &&
	    curl_multi_add_handle(p->multi, x->easy) != CURLM_OK)
		return KW_EINTERNAL;
	x->started = true;
	return 0;
}

struct xfer *xfer_new(struct proxy *p, enum xfer_kind kind, struct pmsg *m)
{
	struct xfer *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	x->p = p;
	x->kind = kind;
	x->msg = m;
	x->next = p->xfers;
	p->xfers = x;
	if (kind == X_POST || kind == X_RESUME)
		p->inflight++;
	return x;
}

void xfer_free(struct xfer *x)
{
	struct proxy *p = x->p;

	for (struct xfer **pp = &p->xfers; *pp; pp = &(*pp)->next)
		if (*pp == x) {
			*pp = x->next;
			break;
		}
	if (x->kind == X_POST || x->kind == X_RESUME)
		p->inflight--;
	if (p->get == x)
		p->get = NULL;
	if (x->easy) {
		if (x->started && x->kind != X_DELETE)
			curl_multi_remove_handle(p->multi, x->easy);
		curl_easy_cleanup(x->easy);
	}
	proxy_slist_wipefree(x->headers);
	pmsg_free(x->msg);
	kw_sse_free(x->sse);
	kw_wipefree(x->body);
	free(x->session_used);
	free(x->new_session);
	free(x->www_auth);
	free(x);
}

/* A JSON (not event-stream) answer to a POST. */
static void json_body(struct xfer *x)
{
	if (x->body_len == 0)
		return;
	if (strcmp(x->ctype, "application/json") != 0) {
		xfer_fail(x, x->status,
		          "the server answered with Content-Type %s, neither "
		          "JSON nor an event stream",
		          x->ctype[0] ? x->ctype : "(none)");
		return;
	}
	xfer_message(x, x->body, x->body_len);
}

/* A non-2xx answer to a request: the server's own JSON-RPC error for it
 * if that is the body, else an error saying what the status was. */
static void status_error(struct xfer *x)
{
	struct smsg sm;
	char line[PROXY_ERRLINE_MAX * 2];

	if (x->body_len && !x->body_big &&
	    smsg_parse(x->body, x->body_len, &sm) == 0) {
		bool ours = sm.response && sm.error && x->msg->id &&
		            json_equal(sm.id, x->msg->id);

		smsg_free(&sm);
		if (ours) {
			proxy_debug(x->p, 1,
			            "HTTP %ld carried the server's "
			            "JSON-RPC error; passed on",
			            x->status);
			xfer_message(x, x->body, x->body_len);
			return;
		}
	}
	first_line(x, line, sizeof(line));
	if (x->status >= 300 && x->status < 400)
		xfer_fail(x, x->status,
		          "the server answered HTTP %ld (redirects are not "
		          "followed: give the final URL)",
		          x->status);
	else
		xfer_fail(x, x->status, "the server answered HTTP %ld%s%s",
		          x->status, line[0] ? ": " : "", line);
}

/* A POST or RESUME ended (rc: libcurl's verdict). */
static void post_done(struct xfer *x, CURLcode rc, int64_t now_ms)
{
	struct pmsg *m = x->msg;
	bool req = m->kind == PMSG_REQUEST;
	const char *why = x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc);

	if (x->oom) {
		xfer_fail(x, 0, "out of memory reading the answer");
		return;
	}
	if (!x->headers_done) {
		if (x->kind == X_RESUME && xfer_resume(x, now_ms, false))
			return;
		xfer_fail(x, 0, "cannot reach the server: %s", why);
		return;
	}
	if ((x->status == 401 || x->status == 403) &&
	    xfer_auth_retry(x, now_ms))
		return;
	if (x->status == 404 && xfer_session_expired(x))
		return;
	if (x->reject) {
		xfer_fail(x, x->status, "%s", x->reject);
		return;
	}
	if (x->status < 200 || x->status >= 300) {
		if (x->kind == X_RESUME && x->status != 405 &&
		    xfer_resume(x, now_ms, false))
			return;
		if (req)
			status_error(x);
		else
			xfer_fail(x, x->status,
			          "the server refused it (HTTP "
			          "%ld)",
			          x->status);
		return;
	}
	if (!x->sse && rc == CURLE_OK)
		json_body(x);
	if (x->answered || !req) {
		if (rc != CURLE_OK && !req)
			xfer_fail(x, x->status, "the transfer broke: %s", why);
		else if (m->initialized && !m->version)
			xfer_open_get(x->p, now_ms);
		return;
	}
	/* A request with no response yet. */
	if (x->sse && xfer_resume(x, now_ms, true))
		return;
	if (x->body_big || x->big_event)
		xfer_fail(x, x->status,
		          "the server's response is larger than %u bytes",
		          PROXY_MSG_MAX);
	else if (rc != CURLE_OK)
		xfer_fail(x, x->status,
		          "the connection broke before the response: %s", why);
	else if (x->sse)
		xfer_fail(x, x->status,
		          "the server's event stream ended without a response");
	else
		xfer_fail(x, x->status,
		          "the server answered HTTP %ld without a response",
		          x->status);
}

/* Every transfer that finished, handled; then the session's next step. */
void proxy_http_perform(struct proxy *p, int64_t now_ms)
{
	CURLMsg *msg;
	int running, left;

	curl_multi_perform(p->multi, &running);
	while ((msg = curl_multi_info_read(p->multi, &left))) {
		struct xfer *x = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
		                  (char **)&x);
		if (!x)
			continue;
		CURLcode rc = msg->data.result;

		if (!x->headers_done)
			headers_end(x); /* a body without a blank line */
		switch (x->kind) {
		case X_POST:
		case X_RESUME:
			post_done(x, rc, now_ms);
			break;
		case X_GET:
			xfer_get_done(x, rc, now_ms);
			break;
		case X_REINIT:
		case X_REINIT_NOTE:
			if (!x->sse && rc == CURLE_OK && x->status >= 200 &&
			    x->status < 300 && x->body_len)
				xfer_message(x, x->body, x->body_len);
			xfer_reinit_done(x, rc, now_ms);
			break;
		case X_DELETE:
			break;
		}
		xfer_free(x);
	}
}

void proxy_http_resume(struct proxy *p)
{
	if (!p->paused)
		return;
	p->paused = false;
	for (struct xfer *x = p->xfers; x; x = x->next)
		if (x->paused && x->easy) {
			x->paused = false;
			curl_easy_pause(x->easy, CURLPAUSE_CONT);
		}
}

long proxy_backoff_ms(const struct proxy *p, unsigned attempt)
{
	long ms = BACKOFF_MS;

	if (p->retry_ms >= 0)
		return p->retry_ms;
	for (unsigned i = 0; i < attempt && ms < BACKOFF_MAXMS; i++)
		ms = ms * 3 / 2;
	return ms < BACKOFF_MAXMS ? ms : BACKOFF_MAXMS;
}

int proxy_http_init(struct proxy *p)
{
	p->retry_ms = -1;
	p->multi = curl_multi_init();
	return p->multi ? 0 : KW_ENOMEM;
}

void proxy_http_free(struct proxy *p)
{
	while (p->xfers)
		xfer_free(p->xfers);
	for (size_t i = 0; i < p->nheld; i++)
		pmsg_free(p->held[i]);
	p->nheld = 0;
	pmsg_free(p->init);
	p->init = NULL;
	free(p->session);
	p->session = NULL;
	proxy_params_free(p);
	if (p->multi)
		curl_multi_cleanup(p->multi);
	p->multi = NULL;
}
