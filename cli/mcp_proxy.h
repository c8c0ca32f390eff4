/*
 * mcp_proxy.h - keyward mcp proxy: an MCP stdio server that bridges every
 * JSON-RPC message to a remote MCP server over Streamable HTTP and back
 * (docs/mcp.md, docs/cli.md). The modules:
 *
 *   mcp_proxy.c        the command: options, the event loop, the exit
 *   mcp_proxy_curl.c   libcurl, loaded when the proxy starts
 *   mcp_proxy_dest.c   the URL, the destination guard, address pinning
 *   mcp_proxy_hdr.c    --header values, their keyward:// references and
 *                      rotations, redaction, the Authorization seam
 *   mcp_proxy_io.c     stdin lines in, stdout messages out, both bounded
 *   mcp_proxy_msg.c    what a message is: request, id, method, the
 *                      headers it mirrors; the error responses we write
 *   mcp_proxy_http.c   the HTTP transfers (libcurl multi): POST, the GET
 *                      stream, resumption, DELETE; sessions
 *   mcp_proxy_param.c  x-mcp-header declarations (Mcp-Param-* headers)
 *
 * One thread. Every message in either direction is at most PROXY_MSG_MAX
 * bytes; client messages go to the server byte for byte; server messages
 * reach stdout whole, one a line, in the order they arrived.
 */
#ifndef KW_MCP_PROXY_H
#define KW_MCP_PROXY_H

#include <curl/curl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "cli.h"
#include "sse.h"
#include "tmpl.h"

struct kw_mask;

#define PROXY_MSG_MAX      (4u << 20) /* one JSON-RPC message, either way */
#define PROXY_HEADERS_MAX  32u        /* --header options */
#define PROXY_HDR_LINE_MAX 8192u      /* "Name: value", resolved */
#define PROXY_URL_MAX      2048u
#define PROXY_ADDRS_MAX    16u
#define PROXY_XFERS_MAX    64u         /* client messages in flight */
#define PROXY_HOLD_MAX     64u         /* held while a new session starts */
#define PROXY_OUT_HIGH     (16u << 20) /* queued for stdout: pause reads */
#define PROXY_OUT_LOW      (4u << 20)  /* ... and go on below this */
#define PROXY_DRAIN_MS     10000 /* at EOF: in-flight requests may finish */
#define PROXY_CONNECT_MS   10000
#define PROXY_DELETE_MS    5000
#define PROXY_SESSION_MAX  1024u /* bytes of an Mcp-Session-Id */
#define PROXY_VERSION_MAX  64u   /* bytes of a protocol version */
#define PROXY_ERRLINE_MAX  200u  /* of an error body quoted to the client */

/* JSON-RPC error codes of the errors the proxy itself answers with. */
#define PROXY_ERR_TRANSPORT (-32000) /* the HTTP exchange failed */
#define PROXY_ERR_INVALID   (-32600) /* the message cannot be sent */
#define PROXY_ERR_PARSE     (-32700) /* the line is not JSON */

/*
 * The OAuth seam (mcp_proxy_auth.c). Where a request's Authorization
 * header comes from and what a 401 or 403 does; NULL sends none and fails
 * a request the server answers 401. Called on the event loop: a call may
 * take a round trip to the agent, and the first 401 (or a step-up 403)
 * a whole login, during which nothing else moves.
 */
struct proxy_auth {
	/* The Authorization header value for the next request ("Bearer
	 * <token>"), or NULL for none. Valid until the next call. */
	const char *(*authorization)(void *arg);
	/* The server answered status (401, or 403) with this
	 * WWW-Authenticate value (NULL when there was none). true: send the
	 * request once more, asking authorization() anew; false: fail it. */
	bool (*unauthorized)(void *arg, unsigned status,
	                     const char *www_authenticate);
	void *arg;
};

/* mcp_proxy_auth.c: OAuth for the server, through the agent -------------- */

struct proxy_oauth;

/*
 * The OAuth side for url: the credential name (NULL: mcp/<host>/oauth,
 * made at the first 401), a client id for the authorization server
 * (NULL: registered, RFC 7591), the resource indicator (NULL: url's
 * canonical URI), the destination escapes, and how to log in (the device
 * grant, a browser). With name given, it must exist and be for this
 * resource. Prints failures; 0 or a KW_E* code.
 */
int proxy_oauth_new(struct cli *cli, const char *url, const char *name,
                    const char *client_id, const char *resource,
                    bool allow_private, bool allow_insecure, bool device,
                    bool browser, struct proxy_oauth **ret);
/* Fill the seam with a's callbacks. */
void proxy_oauth_seam(struct proxy_oauth *a, struct proxy_auth *ret);
void proxy_oauth_free(struct proxy_oauth *a);

/* mcp_proxy_curl.c: libcurl, loaded at the proxy's start (not linked into
 * keyward). 0, or KW_EINTERNAL with why set. */
int proxy_curl_load(char *why, size_t whysz);
/* curl_url_get and curl_url_set, through the loaded library. */
CURLUcode proxy_url_get(CURLU *u, CURLUPart what, char **part,
                        unsigned int flags);
CURLUcode proxy_url_set(CURLU *u, CURLUPart what, const char *part,
                        unsigned int flags);

/* mcp_proxy_dest.c: where requests go ------------------------------------ */

struct proxy_dest {
	char url[PROXY_URL_MAX + 1];
	char host[256]; /* as libcurl parses it, without brackets */
	unsigned port;
	bool https;
	struct sockaddr_storage addrs[PROXY_ADDRS_MAX]; /* checked, pinned */
	size_t naddrs;
	struct curl_slist *resolve; /* CURLOPT_RESOLVE, unless a literal */
};

/*
 * Parse url (https://, or http:// with allow_insecure), resolve its host
 * once and check every address (common/httpguard.h: private ones only
 * with allow_private, plain http only to loopback). 0, or with why set
 * KW_EINVAL (the URL), KW_ECONNECT (no address), KW_EDENIED (an address
 * refused), KW_ENOMEM.
 */
int proxy_dest_init(struct proxy_dest *d, const char *url, bool allow_private,
                    bool allow_insecure, char *why, size_t whysz);
void proxy_dest_free(struct proxy_dest *d);
/* The options that send e to d and nowhere else: URL, protocol, pinned
 * addresses, no redirects, no proxies, TLS verified. 0 or KW_EINTERNAL. */
int proxy_dest_apply(struct proxy_dest *d, CURL *e);

/* mcp_proxy_hdr.c: --header ------------------------------------------------ */

struct proxy_header {
	char *name;        /* as given */
	char *text;        /* the value as given (references, no secret) */
	struct kw_tmpl *t; /* its parse */
	char *line;        /* "Name: value" resolved (kw_wipealloc) */
	size_t line_len;
};

struct proxy_headers {
	struct proxy_header h[PROXY_HEADERS_MAX];
	size_t n, nrefs;
	struct cli_value *vals; /* fetched for the lines, in their order */
	size_t nvals;
	kw_client *c;         /* the agent, when a value names a secret */
	bool stale;           /* a referenced secret rotated (or may have) */
	int64_t retry_at_ms;  /* when to try the agent again (0: no need) */
	unsigned generation;  /* counts changes of the lines */
	int64_t refreshed_ms; /* the last fetch after a 401 */
};

/* Add one --header 'Name: value' (not resolved yet). 0, or KW_EINVAL /
 * KW_ELIMIT with why set (never quoting the value). */
int proxy_headers_add(struct proxy_headers *hs, const char *arg, char *why,
                      size_t whysz);
/* Connect to the agent (when any value names a secret), fetch every
 * reference, build the lines, and watch the secrets for rotations.
 * Prints failures; 0 or an exit code. */
int proxy_headers_start(struct cli *cli, struct proxy_headers *hs);
/* The agent's fd to poll (-1: none, or not connected). */
int proxy_headers_fd(const struct proxy_headers *hs);
/* The agent's fd was readable, or a retry is due (now_ms): dispatch
 * rotations, reconnect, fetch again what changed. Never fails: the old
 * values stay until new ones are fetched, and it says so on stderr. */
void proxy_headers_poll(struct cli *cli, struct proxy_headers *hs,
                        int64_t now_ms);
/* The server answered 401: fetch every reference again (at most once
 * in 5 s), in case a value changed without a rotation (`keyward put`).
 * true if a line changed (the request is worth sending again). */
bool proxy_headers_refresh(struct cli *cli, struct proxy_headers *hs,
                           int64_t now_ms);
/* Append every line to *list (curl copies them). 0 or KW_ENOMEM. */
int proxy_headers_append(const struct proxy_headers *hs,
                         struct curl_slist **list);
/* Copy in[0..n) to out (outsz >= 1, NUL-terminated, cut to fit) with
 * every injected value replaced by "<redacted>". */
void proxy_headers_redact(const struct proxy_headers *hs, const char *in,
                          size_t n, char *out, size_t outsz);
/* A masker that redacts every injected value, for debug output. 0 or
 * a KW_E* code. */
int proxy_headers_masker(const struct proxy_headers *hs, struct kw_mask **ret);
void proxy_headers_free(struct proxy_headers *hs);
/* Wipe the strings of a header list, then free it. NULL is fine. */
void proxy_slist_wipefree(struct curl_slist *list);

/* mcp_proxy_msg.c: messages ------------------------------------------------ */

enum pmsg_kind { PMSG_REQUEST, PMSG_NOTIFICATION, PMSG_RESPONSE };

/* One message from the client, as it will be sent. */
struct pmsg {
	enum pmsg_kind kind;
	char *body; /* the line as it came (kw_wipealloc), len bytes */
	size_t len;
	json_t *doc;        /* its parse, for reading only */
	json_t *id;         /* request or response id (in doc); NULL else */
	const char *method; /* (in doc); NULL for a response */
	/* The protocol version the request's _meta claims (2026-07-28
	 * and later mirror it into MCP-Protocol-Version), or NULL. */
	const char *version;
	char *name;        /* the Mcp-Name value, encoded; NULL for none */
	bool initialize;   /* method "initialize" */
	bool initialized;  /* notifications/initialized */
	json_t *cancel_id; /* notifications/cancelled: its requestId */
};

/*
 * Read one line from the client. 0 with *ret set; otherwise a JSON-RPC
 * error response to write back is in *ret_error (malloc'd, one line, or
 * NULL when the message had no id to answer) and why says what was wrong.
 */
int pmsg_parse(const char *line, size_t len, struct pmsg **ret,
               char **ret_error, char *why, size_t whysz);
void pmsg_free(struct pmsg *m);
/* A JSON-RPC error response (compact, malloc'd, no newline) to id (NULL:
 * null), with data {"httpStatus": status} when status > 0. NULL only
 * when out of memory. */
char *pmsg_error(const json_t *id, int code, const char *message,
                 long http_status);
/* A value fit for an HTTP header as it is: visible ASCII and inner
 * blanks only, 1..max bytes. */
bool pmsg_header_safe(const char *s, size_t max);
/* The Mcp-Name / Mcp-Param-* encoding of s: itself when header safe,
 * else "=?base64?<base64 of its UTF-8>?=". malloc'd; NULL on ENOMEM. */
char *pmsg_encode_value(const char *s, size_t len);

/* The id of a message too long to read whole, found on the fly: feed
 * every byte; at the end, pmsg_idscan_id gives it (NULL if none was
 * seen, or it was not a string or number). */
struct pmsg_idscan {
	int depth;
	bool in_str, esc, started, bad;
	enum { IDS_KEY, IDS_COLON, IDS_VALUE } state;
	char key[8];
	size_t key_len;
	bool key_long, capturing;
	char id[128];
	size_t id_len;
	bool id_long;
};
void pmsg_idscan_feed(struct pmsg_idscan *s, const char *p, size_t n);
json_t *pmsg_idscan_id(const struct pmsg_idscan *s);

/* A message from the server, inspected (doc is its parse). */
struct smsg {
	json_t *doc;
	const json_t *id; /* of a response; NULL else */
	bool response;    /* result or error, no method */
	bool error;       /* an error response */
};
/* Parse one server message; 0 or KW_EPARSE / KW_EINVAL (not a JSON-RPC
 * object) / KW_ENOMEM. */
int smsg_parse(const char *data, size_t len, struct smsg *ret);
void smsg_free(struct smsg *m);

/* mcp_proxy_io.c: stdin and stdout ----------------------------------------- */

struct proxy_in {
	char *buf; /* the line being read, at most PROXY_MSG_MAX bytes */
	size_t len, cap;
	bool too_long; /* past PROXY_MSG_MAX: dropping to the newline */
	size_t dropped;
	struct pmsg_idscan scan;
	bool eof;
};

/* Each complete line read; the proxy's, called from proxy_in_read. */
typedef void (*proxy_line_fn)(void *arg, const char *line, size_t len);
/* A line that was too long: its id (NULL if none) and size. */
typedef void (*proxy_toolong_fn)(void *arg, json_t *id, size_t bytes);
/* Read what fd 0 has (it was readable) and hand on whole lines. 0, or
 * KW_EIO (read failed: treat as end of input); in->eof at the end. */
int proxy_in_read(struct proxy_in *in, proxy_line_fn line,
                  proxy_toolong_fn toolong, void *arg);
void proxy_in_free(struct proxy_in *in);

struct proxy_outmsg;
struct proxy_out {
	struct proxy_outmsg *head, *tail;
	size_t queued; /* bytes not yet written */
	size_t off;    /* of head */
	bool broken;   /* stdout closed: nothing more can be written */
};
/* Queue one message for stdout, its CR and LF bytes (blanks between
 * JSON tokens) made spaces, a newline after it. 0 or KW_ENOMEM. */
int proxy_out_push(struct proxy_out *o, const char *msg, size_t len);
/* Write to fd 1 what it takes without blocking. 0, or KW_EIO once it is
 * closed (o->broken; the queue is dropped). */
int proxy_out_write(struct proxy_out *o);
void proxy_out_free(struct proxy_out *o);

/* mcp_proxy_http.c: the proxy and its transfers --------------------------- */

struct xfer;

enum proxy_session_state {
	SESS_NONE,       /* no session (none yet, or the server keeps none) */
	SESS_RESTARTING, /* a new initialize is under way: hold messages */
	SESS_LOST,       /* it expired and could not be started again */
};

struct proxy_params; /* mcp_proxy_param.c */

struct proxy {
	struct cli *cli;
	struct proxy_dest dest;
	struct proxy_headers hdrs;
	const struct proxy_auth *auth;
	int verbose;                 /* 1: each exchange; 2: and the messages */
	struct kw_mask *mask;        /* for verbose 2 */
	const char *default_version; /* --protocol-version, or NULL */
	CURLM *multi;
	struct xfer *xfers;
	size_t inflight; /* POSTs of client messages */
	/* What the server told us. */
	char *session;                       /* Mcp-Session-Id, or NULL */
	char version[PROXY_VERSION_MAX + 1]; /* to mirror; "" unknown */
	enum proxy_session_state sess;
	struct pmsg *init; /* the client's initialize, to start again */
	struct pmsg *held[PROXY_HOLD_MAX];
	size_t nheld;
	/* The GET stream for messages outside requests. */
	bool get_wanted;
	struct xfer *get;
	int64_t get_at_ms; /* (re)open then; 0: not scheduled */
	unsigned get_attempts;
	char last_event_id[KW_SSE_ID_MAX + 1];
	long retry_ms; /* the server's SSE retry, -1 if none */
	struct proxy_params *params;
	struct proxy_in in;
	struct proxy_out out;
	bool paused; /* transfers paused: stdout is behind */
	bool stopping;
};

/* Set up libcurl's multi handle. 0 or KW_ENOMEM. */
int proxy_http_init(struct proxy *p);
/* Abort every transfer and free what the proxy holds. */
void proxy_http_free(struct proxy *p);
/* Send one client message (ownership passes). Never fails: an error goes
 * to the client as a JSON-RPC error response, or to stderr. */
void proxy_send(struct proxy *p, struct pmsg *m, int64_t now_ms);
/* Drive libcurl after poll and handle what finished. */
void proxy_http_perform(struct proxy *p, int64_t now_ms);
/* Timers (the GET stream, resumptions) due at now_ms. */
void proxy_http_timers(struct proxy *p, int64_t now_ms);
/* The nearest timer (ms from now_ms), -1 for none. */
long proxy_http_next_ms(const struct proxy *p, int64_t now_ms);
/* stdout caught up: go on with paused transfers. */
void proxy_http_resume(struct proxy *p);
/* Stop the GET stream and retries; with abort_all, end every transfer
 * too (their requests get an error response). */
void proxy_http_stop(struct proxy *p, bool abort_all);
/* Whether client messages are still in flight. */
bool proxy_http_busy(const struct proxy *p);
/* End the session with DELETE (when there is one), waiting at most
 * PROXY_DELETE_MS. */
void proxy_http_delete(struct proxy *p);
/* Queue one server message for stdout (and debug output). */
void proxy_emit(struct proxy *p, const char *msg, size_t len);
/* Print "keyward: mcp proxy: ..." when verbose >= level. */
void proxy_debug(const struct proxy *p, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Print a message body at verbose 2, injected values masked. */
void proxy_debug_body(const struct proxy *p, const char *dir, const char *msg,
                      size_t len);
int64_t proxy_now_ms(void);

/* mcp_proxy_param.c: x-mcp-header ------------------------------------------ */

/* Learn the x-mcp-header declarations of the tools in a tools/list
 * result (a modern-era one). How many tools break the rules (and are to
 * be left out of the result the client sees). */
size_t proxy_params_learn(struct proxy *p, const json_t *result);
/* data, a tools/list response, without the tools the last learn found
 * breaking the rules (the tools array rebuilt from the other elements'
 * bytes): 1 with *ret (kw_wipealloc) set, 0 when there are none, or a
 * KW_E* code. */
int proxy_params_filter(const struct proxy *p, const char *data, size_t len,
                        char **ret, size_t *ret_len);
/* The Mcp-Param-* headers of a tools/call request m, appended to
 * *list. 0 or KW_ENOMEM. */
int proxy_params_headers(const struct proxy *p, const struct pmsg *m,
                         struct curl_slist **list);
void proxy_params_free(struct proxy *p);

#endif
