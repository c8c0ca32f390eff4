/*
 * mcp_proxy_xfer.h - one HTTP transfer of keyward mcp proxy, shared by
 * mcp_proxy_http.c (the transfers themselves) and mcp_proxy_sess.c (the
 * headers a request carries, sessions, the GET stream, resumption).
 */
#ifndef KW_MCP_PROXY_XFER_H
#define KW_MCP_PROXY_XFER_H

#include "mcp_proxy.h"

enum xfer_kind {
	X_POST,        /* a client message */
	X_RESUME,      /* its stream, picked up with GET + Last-Event-ID */
	X_GET,         /* the stream of messages outside requests */
	X_DELETE,      /* the session's end */
	X_REINIT,      /* the client's initialize, sent again */
	X_REINIT_NOTE, /* and notifications/initialized after it */
};

struct xfer {
	struct xfer *next;
	struct proxy *p;
	enum xfer_kind kind;
	CURL *easy;
	bool started; /* added to the multi handle */
	struct curl_slist *headers;
	struct pmsg *msg;   /* what was sent (POST, RESUME, REINIT*): owned */
	char *session_used; /* the Mcp-Session-Id sent, or NULL */
	int64_t due_ms;     /* not started yet: start then */
	unsigned auth_tries, resume_tries;
	/* The answer. */
	long status;
	bool headers_done;
	char ctype[64]; /* media type, lower case */
	char *new_session;
	bool has_session_header;
	char *www_auth;
	const char *reject; /* why the answer cannot be used, or NULL */
	kw_sse *sse;        /* a text/event-stream answer */
	char *body;         /* any other, up to its bound */
	size_t body_len, body_cap;
	bool body_big, big_event, oom;
	bool answered; /* the request has its response (or an error) */
	bool init_ok;  /* an initialize result (not an error) arrived */
	bool filter;   /* that result lists tools to leave out */
	bool saw_id;
	char last_id[KW_SSE_ID_MAX + 1];
	unsigned events;
	bool paused;
	char errbuf[CURL_ERROR_SIZE];
};

/* mcp_proxy_http.c */
struct xfer *xfer_new(struct proxy *p, enum xfer_kind kind, struct pmsg *m);
int xfer_start(struct xfer *x);
void xfer_free(struct xfer *x);
/* Answer x's request with a JSON-RPC error (when it is a request) and
 * say so on stderr. */
void xfer_fail(struct xfer *x, long status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* One server message (or a batch of them) that arrived on x. */
void xfer_message(struct xfer *x, const char *data, size_t len);
void xfer_id_text(const struct pmsg *m, char *buf, size_t sz);
long proxy_backoff_ms(const struct proxy *p, unsigned attempt);

/* mcp_proxy_sess.c */
const char *xfer_kind_name(const struct xfer *x);
/* x->headers for its kind, message and the session. 0 or KW_ENOMEM. */
int xfer_build_headers(struct xfer *x);
/* A 2xx header block ended: take a new session from an initialize's
 * answer (or refuse a malformed one: x->reject). */
void xfer_session_headers(struct xfer *x);
/* The result that answered x's request: an initialize's protocol
 * version, a tools/list's x-mcp-header declarations. */
void xfer_note_result(struct xfer *x, const json_t *result);
/* 401: ask the seam; true if x's message went out again. */
bool xfer_auth_retry(struct xfer *x, int64_t now_ms);
/* 404 on x: true if it meant the session expired (handled). */
bool xfer_session_expired(struct xfer *x);
/* x's stream ended before its response (clean: the server closed it):
 * true if it is picked up again later (x's message moves on). */
bool xfer_resume(struct xfer *x, int64_t now_ms, bool clean);
/* Open the GET stream (after notifications/initialized was accepted). */
void xfer_open_get(struct proxy *p, int64_t now_ms);
void xfer_get_done(struct xfer *x, CURLcode rc, int64_t now_ms);
void xfer_reinit_done(struct xfer *x, CURLcode rc, int64_t now_ms);

#endif
