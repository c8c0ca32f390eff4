/*
 * mcp_proxy_sess.c - what keyward mcp proxy keeps of the conversation
 * with the server, and the headers that carry it:
 *
 * - 2026-07-28 (stateless): a request whose params._meta claims a
 *   protocol version carries MCP-Protocol-Version (that version),
 *   Mcp-Method, Mcp-Name and Mcp-Param-* mirrored from its body, and no
 *   session. The client cancels such a request with
 *   notifications/cancelled on stdio; over HTTP that is closing its
 *   stream, which is what we do instead of posting the notification.
 * - 2025-06-18 and 2025-11-25: the initialize result names the version
 *   every later request mirrors; an Mcp-Session-Id on its answer goes on
 *   every later request. A 404 on a request that carried it means the
 *   session expired: that request gets an error, and (as the spec has a
 *   client do) a new session is started by sending the client's
 *   initialize again and notifications/initialized after it; messages
 *   that arrive meanwhile wait. The GET stream for server messages
 *   outside requests opens once notifications/initialized is accepted,
 *   and again with Last-Event-ID and backoff when it ends; a request's
 *   stream that ends (after an event id) before its response is picked
 *   up the same way.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcp_proxy.h"
#include "mcp_proxy_xfer.h"
#include "secmem.h"

#define RESUME_TRIES_MAX 3u  /* failed attempts in a row */
#define GET_TRIES_MAX    10u /* failed attempts in a row */
#define INITIALIZED_NOTE                   \
	"{\"jsonrpc\":\"2.0\",\"method\":" \
	"\"notifications/initialized\"}"

static void session_lost(struct proxy *p, const char *why);

const char *xfer_kind_name(const struct xfer *x)
{
	switch (x->kind) {
	case X_POST:
		return "POST";
	case X_RESUME:
		return "GET (resuming)";
	case X_GET:
		return "GET stream";
	case X_DELETE:
		return "DELETE";
	case X_REINIT:
	case X_REINIT_NOTE:
		return "POST (new session)";
	}
	return "?";
}

/* Append "Name: value" to *l; the buffer is wiped (values may be
 * tokens). 0 or KW_ENOMEM. */
static int add(struct curl_slist **l, const char *name, const char *value)
{
	size_t n = strlen(name) + 2 + strlen(value) + 1;
	char *line = kw_wipealloc(n);
	struct curl_slist *nl = NULL;

	if (line) {
		snprintf(line, n, "%s: %s", name, value);
		nl = curl_slist_append(*l, line);
		kw_wipefree(line);
	}
	if (!nl)
		return KW_ENOMEM;
	*l = nl;
	return 0;
}

int xfer_build_headers(struct xfer *x)
{
	struct proxy *p = x->p;
	const struct pmsg *m = x->msg;
	bool post = x->kind == X_POST || x->kind == X_REINIT ||
	            x->kind == X_REINIT_NOTE;
	bool modern = m && m->version, init = m && m->initialize;
	const char *ver, *auth = NULL, *last = NULL;
	struct curl_slist **l = &x->headers;
	int r = proxy_headers_append(&p->hdrs, l);

	if (r == 0 && p->auth && p->auth->authorization)
		auth = p->auth->authorization(p->auth->arg);
	/* A line break in it would add headers of its own. */
	if (r == 0 && auth && !pmsg_header_safe(auth, PROXY_HDR_LINE_MAX))
		r = KW_EINVAL;
	if (r == 0 && auth)
		r = add(l, "Authorization", auth);
	if (r == 0 && post)
		r = add(l, "Content-Type", "application/json");
	if (r == 0 && x->kind != X_DELETE)
		r = add(l, "Accept",
		        post ? "application/json, text/event-stream" :
		               "text/event-stream");
	/* No "Expect: 100-continue" for large bodies: one round trip. */
	if (r == 0 && post) {
		struct curl_slist *nl = curl_slist_append(*l, "Expect:");

		if (nl)
			*l = nl;
		else
			r = KW_ENOMEM;
	}
	if (modern) {
		ver = m->version;
		if (r == 0)
			r = add(l, "Mcp-Method", m->method);
		if (r == 0 && m->name)
			r = add(l, "Mcp-Name", m->name);
		if (r == 0)
			r = proxy_params_headers(p, m, l);
	} else {
		ver = !init && p->version[0] ? p->version : p->default_version;
	}
	if (r == 0 && ver)
		r = add(l, "MCP-Protocol-Version", ver);
	if (r == 0 && p->session && !modern && !init) {
		r = add(l, "Mcp-Session-Id", p->session);
		if (r == 0 && !(x->session_used = strdup(p->session)))
			r = KW_ENOMEM;
	}
	if (x->kind == X_RESUME)
		last = x->last_id;
	else if (x->kind == X_GET)
		last = p->last_event_id;
	if (r == 0 && last && last[0] && pmsg_header_safe(last, KW_SSE_ID_MAX))
		r = add(l, "Last-Event-ID", last);
	return r;
}

/* An Mcp-Session-Id: 1 to PROXY_SESSION_MAX visible ASCII bytes. */
static bool session_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > PROXY_SESSION_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

void xfer_session_headers(struct xfer *x)
{
	struct proxy *p = x->p;

	if (!x->msg || !x->msg->initialize)
		return;
	if (x->has_session_header &&
	    (!x->new_session || !session_ok(x->new_session))) {
		x->reject = "the server's Mcp-Session-Id is not 1 to 1024 "
			    "visible ASCII characters";
		return;
	}
	free(p->session);
	p->session = x->new_session;
	x->new_session = NULL;
	p->version[0] = '\0';
	proxy_debug(p, 1, "%s",
	            p->session ? "the server started a session" :
	                         "the server keeps no session");
}

void xfer_note_result(struct xfer *x, const json_t *result)
{
	struct proxy *p = x->p;
	const struct pmsg *m = x->msg;

	if (m->initialize) {
		const json_t *v = json_object_get(result, "protocolVersion");

		if (json_is_string(v) &&
		    pmsg_header_safe(json_string_value(v), PROXY_VERSION_MAX)) {
			snprintf(p->version, sizeof(p->version), "%s",
			         json_string_value(v));
			proxy_debug(p, 1, "protocol version %s", p->version);
		}
		x->init_ok = true;
	} else if (m->version && strcmp(m->method, "tools/list") == 0) {
		x->filter = proxy_params_learn(p, result) > 0;
	}
}

/* 401: new header values (a secret changed in keyward), else whatever
 * the OAuth seam says; 403 (insufficient_scope): the seam alone. true:
 * worth one more try. */
static bool unauthorized(struct proxy *p, unsigned status, const char *www_auth,
                         int64_t now_ms)
{
	if (status == 401 && proxy_headers_refresh(p->cli, &p->hdrs, now_ms))
		return true;
	return p->auth && p->auth->unauthorized &&
	       p->auth->unauthorized(p->auth->arg, status, www_auth);
}

bool xfer_auth_retry(struct xfer *x, int64_t now_ms)
{
	struct proxy *p = x->p;
	struct xfer *y;

	if (x->auth_tries > 0 ||
	    !unauthorized(p, (unsigned)x->status, x->www_auth, now_ms))
		return false;
	y = xfer_new(p, x->kind, x->msg);
	if (!y)
		return false;
	x->msg = NULL;
	y->auth_tries = x->auth_tries + 1;
	memcpy(y->last_id, x->last_id, sizeof(y->last_id));
	if (xfer_start(y) < 0) {
		x->msg = y->msg;
		y->msg = NULL;
		xfer_free(y);
		return false;
	}
	proxy_debug(p, 1, "HTTP %ld: sent again with new credentials",
	            (long)x->status);
	return true;
}

/* A copy of the client's initialize, to send again. */
static struct pmsg *pmsg_dup(const struct pmsg *m)
{
	struct pmsg *c = NULL;
	char *err = NULL, why[64];

	if (pmsg_parse(m->body, m->len, &c, &err, why, sizeof(why)) < 0)
		c = NULL;
	free(err);
	return c;
}

static void stop_get(struct proxy *p)
{
	p->get_wanted = false;
	p->get_at_ms = 0;
	if (p->get)
		xfer_free(p->get);
}

/* The session expired: start a new one with the client's initialize. */
static void session_restart(struct proxy *p)
{
	struct xfer *x;
	struct pmsg *init;

	free(p->session);
	p->session = NULL;
	stop_get(p);
	p->last_event_id[0] = '\0';
	if (!p->init || !(init = pmsg_dup(p->init))) {
		session_lost(p, "the client's initialize is not known");
		return;
	}
	p->sess = SESS_RESTARTING;
	x = xfer_new(p, X_REINIT, init);
	if (!x || xfer_start(x) < 0) {
		if (x)
			xfer_free(x);
		else
			pmsg_free(init);
		session_lost(p, "cannot start the HTTP request");
		return;
	}
	cli_msg(p->cli, NULL,
	        "the server's session expired; starting a new one");
}

bool xfer_session_expired(struct xfer *x)
{
	struct proxy *p = x->p;
	bool current;

	if (!x->session_used)
		return false;
	current = p->session && strcmp(x->session_used, p->session) == 0;
	xfer_fail(x, 404,
	          "the server's session expired (HTTP 404); %s: send the "
	          "request again",
	          current || p->sess == SESS_RESTARTING ?
	                  "a new one is being started" :
	                  "a new one was started");
	if (current)
		session_restart(p);
	return true;
}

/* Every held message fails with why; the session stays lost until the
 * next request tries again. */
static void session_lost(struct proxy *p, const char *why)
{
	size_t n = p->nheld;

	p->sess = SESS_LOST;
	p->nheld = 0;
	cli_msg(p->cli, NULL, "no new session: %s", why);
	for (size_t i = 0; i < n; i++) {
		struct xfer *x = xfer_new(p, X_POST, p->held[i]);

		if (!x) {
			pmsg_free(p->held[i]);
			continue;
		}
		xfer_fail(x, 0,
		          "the server's session expired and a new one could "
		          "not be started (%s)",
		          why);
		xfer_free(x);
	}
}

void xfer_reinit_done(struct xfer *x, CURLcode rc, int64_t now_ms)
{
	struct proxy *p = x->p;
	/* An initialize's stream is ended by us once it has its answer. */
	bool ok = (rc == CURLE_OK || x->answered) && x->headers_done &&
	          x->status >= 200 && x->status < 300 && !x->reject;
	char why[CURL_ERROR_SIZE + 64];

	if (x->kind == X_REINIT && ok && x->init_ok) {
		struct pmsg *note = NULL;
		char *err = NULL;
		struct xfer *y;

		if (pmsg_parse(INITIALIZED_NOTE, strlen(INITIALIZED_NOTE),
		               &note, &err, why, sizeof(why)) < 0) {
			free(err);
			session_lost(p, "out of memory");
			return;
		}
		y = xfer_new(p, X_REINIT_NOTE, note);
		if (!y || xfer_start(y) < 0) {
			if (y)
				xfer_free(y);
			else
				pmsg_free(note);
			session_lost(p, "cannot start the HTTP request");
		}
		return;
	}
	if (x->kind == X_REINIT_NOTE && ok) {
		struct pmsg *held[PROXY_HOLD_MAX];
		size_t n = p->nheld;

		memcpy(held, p->held, n * sizeof(held[0]));
		p->nheld = 0;
		p->sess = SESS_NONE;
		cli_msg(p->cli, NULL, "a new session started");
		xfer_open_get(p, now_ms);
		for (size_t i = 0; i < n; i++)
			proxy_send(p, held[i], now_ms);
		return;
	}
	if (!x->headers_done)
		snprintf(why, sizeof(why), "cannot reach the server: %s",
		         x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
	else if (x->reject)
		snprintf(why, sizeof(why), "%s", x->reject);
	else
		snprintf(why, sizeof(why), "the server answered HTTP %ld%s",
		         x->status,
		         x->kind == X_REINIT && x->status < 300 ?
		                 " without an initialize result" :
		                 "");
	session_lost(p, why);
}

bool xfer_resume(struct xfer *x, int64_t now_ms, bool clean)
{
	struct proxy *p = x->p;
	unsigned tries = clean && x->events > 0 ? 0 : x->resume_tries + 1;
	struct xfer *y;
	long delay;

	if (x->sse && kw_sse_retry_ms(x->sse) >= 0)
		p->retry_ms = kw_sse_retry_ms(x->sse);
	/* 2026-07-28 streams do not resume; 2025 ones after an event id. */
	if (!x->msg || x->msg->kind != PMSG_REQUEST || x->msg->version ||
	    !x->saw_id || p->stopping || tries > RESUME_TRIES_MAX)
		return false;
	y = xfer_new(p, X_RESUME, x->msg);
	if (!y)
		return false;
	x->msg = NULL;
	y->resume_tries = tries;
	y->saw_id = true;
	memcpy(y->last_id, x->last_id, sizeof(y->last_id));
	delay = proxy_backoff_ms(p, tries);
	y->due_ms = now_ms + delay;
	proxy_debug(p, 1,
	            "a request's stream ended before its response; resuming "
	            "it with Last-Event-ID in %ld ms",
	            delay);
	return true;
}

static void get_start(struct proxy *p)
{
	struct xfer *x = xfer_new(p, X_GET, NULL);

	p->get_at_ms = 0;
	if (!x)
		return;
	if (xfer_start(x) < 0) {
		xfer_free(x);
		cli_msg(p->cli, NULL, "cannot open the GET stream");
		return;
	}
	p->get = x;
}

void xfer_open_get(struct proxy *p, int64_t now_ms)
{
	if (p->stopping || p->sess != SESS_NONE || p->get)
		return;
	p->get_wanted = true;
	p->get_attempts = 0;
	p->get_at_ms = now_ms;
	get_start(p);
}

void xfer_get_done(struct xfer *x, CURLcode rc, int64_t now_ms)
{
	struct proxy *p = x->p;

	(void)rc;
	if (p->get == x)
		p->get = NULL;
	if (x->sse && kw_sse_retry_ms(x->sse) >= 0)
		p->retry_ms = kw_sse_retry_ms(x->sse);
	if (x->saw_id)
		memcpy(p->last_event_id, x->last_id, sizeof(p->last_event_id));
	if (!p->get_wanted || p->stopping)
		return;
	if (x->headers_done && x->status == 405) {
		p->get_wanted = false;
		proxy_debug(p, 1,
		            "the server offers no stream outside "
		            "requests (HTTP 405)");
		return;
	}
	if (x->headers_done && x->status == 404 && x->session_used) {
		if (p->session && strcmp(p->session, x->session_used) == 0)
			session_restart(p);
		return;
	}
	if (x->headers_done && x->status == 401 &&
	    !unauthorized(p, 401, x->www_auth, now_ms)) {
		p->get_wanted = false;
		cli_msg(p->cli, NULL,
		        "the server refused the GET stream (HTTP 401)");
		return;
	}
	if (x->headers_done && x->status >= 200 && x->status < 300 &&
	    x->events > 0)
		p->get_attempts = 0;
	else
		p->get_attempts++;
	if (p->get_attempts > GET_TRIES_MAX) {
		p->get_wanted = false;
		cli_msg(p->cli, NULL,
		        "the GET stream failed %u times in a row; messages "
		        "outside requests will not arrive",
		        p->get_attempts);
		return;
	}
	p->get_at_ms = now_ms + proxy_backoff_ms(p, p->get_attempts);
	proxy_debug(p, 1, "the GET stream ended; opening it again in %ld ms",
	            (long)(p->get_at_ms - now_ms));
}

/* End the transfers that start a session again. */
static void drop_restart(struct proxy *p)
{
	bool again = true;

	while (again) {
		again = false;
		for (struct xfer *x = p->xfers; x; x = x->next)
			if (x->kind == X_REINIT || x->kind == X_REINIT_NOTE) {
				xfer_free(x);
				again = true;
				break;
			}
	}
}

/* A modern request the client cancelled: close its stream. */
static bool cancel(struct proxy *p, const json_t *id)
{
	for (struct xfer *x = p->xfers; x; x = x->next) {
		if ((x->kind != X_POST && x->kind != X_RESUME) || !x->msg ||
		    x->msg->kind != PMSG_REQUEST || !x->msg->version ||
		    !json_equal(x->msg->id, id))
			continue;
		proxy_debug(p, 1, "cancelled: the request's stream closed");
		xfer_free(x);
		return true;
	}
	return false;
}

void proxy_send(struct proxy *p, struct pmsg *m, int64_t now_ms)
{
	struct xfer *x;

	(void)now_ms;
	if (m->cancel_id && cancel(p, m->cancel_id)) {
		pmsg_free(m);
		return;
	}
	if (m->initialize) {
		/* A new session (or none) from the client itself: ours, if
		 * one is being started, is dropped with what waits for it. */
		stop_get(p);
		p->last_event_id[0] = '\0';
		if (p->sess == SESS_RESTARTING) {
			drop_restart(p);
			session_lost(p, "the client started a new session");
		}
		p->sess = SESS_NONE;
		pmsg_free(p->init);
		p->init = pmsg_dup(m);
	} else if (p->sess == SESS_RESTARTING ||
	           (p->sess == SESS_LOST && m->kind == PMSG_REQUEST)) {
		if (p->nheld == PROXY_HOLD_MAX) {
			x = xfer_new(p, X_POST, m);
			if (x) {
				xfer_fail(x, 0,
				          "too many messages wait for a "
				          "new session");
				xfer_free(x);
			} else {
				pmsg_free(m);
			}
			return;
		}
		p->held[p->nheld++] = m;
		if (p->sess == SESS_LOST)
			session_restart(p);
		return;
	}
	if (m->version)
		snprintf(p->version, sizeof(p->version), "%s", m->version);
	proxy_debug_body(p, ">", m->body, m->len);
	x = xfer_new(p, X_POST, m);
	if (!x) {
		pmsg_free(m);
		cli_msg(p->cli, NULL, "out of memory: a message was dropped");
		return;
	}
	if (xfer_start(x) < 0) {
		xfer_fail(x, 0, "cannot start the HTTP request");
		xfer_free(x);
	}
}

void proxy_http_timers(struct proxy *p, int64_t now_ms)
{
	bool again = true;

	while (again) {
		again = false;
		for (struct xfer *x = p->xfers; x; x = x->next) {
			if (x->started || x->kind == X_DELETE ||
			    x->due_ms > now_ms)
				continue;
			if (xfer_start(x) < 0) {
				xfer_fail(x, 0,
				          "cannot start the HTTP request");
				xfer_free(x);
				again = true; /* the list changed */
				break;
			}
		}
	}
	if (p->get_wanted && !p->get && p->get_at_ms &&
	    now_ms >= p->get_at_ms && p->sess == SESS_NONE && !p->stopping)
		get_start(p);
}

long proxy_http_next_ms(const struct proxy *p, int64_t now_ms)
{
	int64_t t = -1;

	for (const struct xfer *x = p->xfers; x; x = x->next)
		if (!x->started && x->kind != X_DELETE &&
		    (t < 0 || x->due_ms < t))
			t = x->due_ms;
	if (p->get_wanted && !p->get && p->get_at_ms &&
	    (t < 0 || p->get_at_ms < t))
		t = p->get_at_ms;
	if (t < 0)
		return -1;
	return t > now_ms ? (long)(t - now_ms) : 0;
}

void proxy_http_stop(struct proxy *p, bool abort_all)
{
	stop_get(p);
	if (!abort_all)
		return;
	p->stopping = true;
	while (p->xfers) {
		struct xfer *x = p->xfers;

		if (x->msg && !x->answered && x->kind != X_REINIT &&
		    x->kind != X_REINIT_NOTE)
			xfer_fail(x, 0, "stopped before the response arrived");
		xfer_free(x);
	}
	for (size_t i = 0; i < p->nheld; i++) {
		struct xfer *y = xfer_new(p, X_POST, p->held[i]);

		if (!y) {
			pmsg_free(p->held[i]);
			continue;
		}
		xfer_fail(y, 0, "stopped before the message was sent");
		xfer_free(y);
	}
	p->nheld = 0;
}

bool proxy_http_busy(const struct proxy *p)
{
	return p->inflight > 0 || p->nheld > 0 || p->sess == SESS_RESTARTING;
}

void proxy_http_delete(struct proxy *p)
{
	struct xfer *x;

	if (!p->session)
		return;
	x = xfer_new(p, X_DELETE, NULL);
	if (!x)
		return;
	if (xfer_start(x) == 0) {
		CURLcode rc = curl_easy_perform(x->easy);

		if (rc != CURLE_OK)
			proxy_debug(p, 1, "DELETE of the session failed: %s",
			            x->errbuf[0] ? x->errbuf :
			                           curl_easy_strerror(rc));
	}
	xfer_free(x);
}
