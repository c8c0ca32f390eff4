/*
 * httpc.h - the key holder's HTTP client: one request at a time per job,
 * every one of them run by keyward-net (netclient.h), for webhook
 * rotators (webhook.h) and OAuth endpoints (oauth.h) alike.
 *
 * keywardd holds the data key and never runs libcurl: every transfer (and
 * every name lookup) runs in keyward-net, the HTTP helper process, which
 * gets only that transfer's URL, pinned addresses, headers and body.
 * Results come back to the event loop, so a slow endpoint never delays
 * other clients. (A name lookup holds up the helper's other transfers
 * while it lasts.)
 *
 * Each request:
 *  - Destination guard, in keywardd: the URL's host is resolved once (by
 *    keyward-net), every address is checked here (httpguard.h), and the
 *    transfer is pinned to the checked addresses (in keyward-net:
 *    CURLOPT_RESOLVE, plus a socket-open callback that refuses any address
 *    not in that checked set); every transfer opens its own connection.
 *    If any address is one the guard refuses, the request is refused
 *    unless allow_private. Plain http:// is refused unless allow_insecure,
 *    and then only if every address is loopback.
 *  - TLS verification is always on (peer and host), TLS 1.2 or later. No
 *    redirects, no proxy (environment proxies ignored), no cookies, only
 *    the http/https protocol of the URL.
 *  - Connect and total timeouts; the response body is read up to the
 *    request's response_max bytes (more fails the request).
 *
 * Results: 0 when a response arrived, whatever its status (the caller
 * judges it); a guard refusal is KW_EDENIED naming the address and why
 * ("destination 10.0.0.5 is a private address; <private_hint>"); running
 * out of time is KW_ETIMEOUT; a failed lookup, connection or TLS
 * handshake, or a response body too large, is KW_EIO with libcurl's
 * sentence. If keyward-net dies with the request in flight the result is
 * KW_EIO, "keyward-net (the HTTP helper) was killed by signal 9; the
 * request may or may not have reached HOST" (it is then restarted). No
 * detail ever quotes the request's headers or body.
 *
 * Everything runs on the loop thread.
 */
#ifndef KW_HTTPC_H
#define KW_HTTPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "loop.h"
#include "netclient.h"

#define HTTPC_URL_MAX     1024u
#define HTTPC_BODY_MAX    (256u * 1024u)  /* request body */
#define HTTPC_HEADERS_MAX 12u             /* the caller's request headers */
#define HTTPC_KEEP_MAX    NETMSG_KEEP_MAX /* response headers kept */
#define HTTPC_JOBS_MAX    128u            /* outstanding per client */
#define HTTPC_CA_MAX      (512u * 1024u)  /* ca_file bytes */
#define HTTPC_DETAIL_MAX  200u            /* a result's sentence */

typedef struct httpc httpc;
typedef struct httpc_job httpc_job;

typedef struct httpc_request {
	const char *method; /* "GET" or "POST" */
	const char *url; /* http:// or https://, no user:password, no zone id */
	/* "Name: value" lines, printable ASCII; copied, and the copies wiped
	 * (an Authorization header is a secret). User-Agent and "Expect:"
	 * are added. */
	const char *const *headers;
	size_t nheaders; /* 0..HTTPC_HEADERS_MAX */
	/* Response header names to hand back (case-insensitive), or none. */
	const char *const *keep;
	size_t nkeep;        /* 0..HTTPC_KEEP_MAX */
	const void *body;    /* copied, and the copy wiped */
	size_t body_len;     /* 0..HTTPC_BODY_MAX */
	size_t response_max; /* 1..NETMSG_RESPONSE_MAX */
	bool allow_private;
	bool allow_insecure;
	/* The end of a refusal's sentence: what would have allowed it ("the
	 * schedule needs allow_private"). Copied. */
	const char *private_hint;
	const char *insecure_hint;
	/* Total, counted from httpc_start (name resolution included); the
	 * connect phase gets min(what is left, 10 s). > 0. */
	int timeout_ms;
	/* PEM file of CAs to trust instead of the system's; NULL: the system
	 * store. Read whole by httpc_start (symbolic links followed; a
	 * regular file of 1..HTTPC_CA_MAX bytes) and its contents, not the
	 * path, handed to keyward-net, whose sandbox lets it open no such
	 * file. A file that cannot be read fails the job (KW_EIO, the detail
	 * naming the path and why), not httpc_start. */
	const char *ca_file;
	/* Called with done's arg when the job ends without done being
	 * called (httpc_cancel, httpc_free), to free what arg holds. NULL:
	 * nothing to free. */
	void (*dropped)(void *arg);
} httpc_request;

/* A response, valid during the done callback only. headers: the kept
 * ones, "Name: value" as received (not NUL-terminated). */
typedef struct httpc_response {
	unsigned status;
	const unsigned char *body;
	size_t body_len;
	const netmsg_str *headers;
	size_t nheaders;
} httpc_response;

/*
 * Called once, on the loop thread, never from inside httpc_start. result
 * 0 with resp (any status), or a KW_E* code with resp NULL; detail is a
 * printable-ASCII sentence (at most HTTPC_DETAIL_MAX bytes; "HTTP 200"
 * on success). The callback may free the client.
 */
typedef void (*httpc_done)(void *arg, int result, const char *detail,
                           const httpc_response *resp);

/*
 * Start keyward-net from helper_path (netclient_helper_path finds it)
 * through launch (netclient.h; copied), now and at every restart, and
 * register on l until httpc_free. 0, KW_EINVAL, KW_ENOMEM, KW_EIO.
 */
int httpc_new(loop *l, const char *helper_path,
              const netclient_launcher *launch, httpc **ret_client);
/* Cancel every job (no done callbacks; their dropped ones are called),
 * stop keyward-net, free. Safe from inside a done callback. NULL ok. */
void httpc_free(httpc *h);

/* keyward-net's pid, 0 while it is down (it is restarted). */
pid_t httpc_helper_pid(const httpc *h);

/*
 * Queue a request. On success *ret_job is the job until done is called or
 * httpc_cancel; done is called exactly once, from the loop (a refusal by
 * the destination guard, a failed lookup or a timeout included). On
 * failure nothing is queued and done is never called: KW_EINVAL (a
 * missing or malformed field, a URL that is not http(s) or has a
 * user:password part, a header with a byte outside 0x20..0x7e),
 * KW_ETOOBIG (body), KW_ELIMIT (HTTPC_JOBS_MAX outstanding), KW_ENOMEM.
 */
int httpc_start(httpc *h, const httpc_request *req, httpc_done done, void *arg,
                httpc_job **ret_job);
/* Drop a job whose done has not been called: done is then never called
 * (its dropped is), and a transfer in progress is abandoned. NULL ok. */
void httpc_cancel(httpc_job *job);

/* The first line of a response body (len bytes) for a failure's detail:
 * bytes up to the first '\r' or '\n', each one that is not printable
 * ASCII replaced by '?', cut to fit outsz (> 0) with its NUL. */
void httpc_first_line(const unsigned char *body, size_t len, char *out,
                      size_t outsz);

/* The value of response header name (case-insensitive) among resp's kept
 * ones, copied NUL-terminated into out with surrounding blanks trimmed;
 * false if absent or it does not fit. */
bool httpc_header(const httpc_response *resp, const char *name, char *out,
                  size_t outsz);

#endif
