/*
 * client_int.h - libkeyward internals shared by client.c (connection and
 * call machinery), notify.c (notifications the agent pushes), watch.c
 * (rotation watch), api.c and api_agent.c (one function per
 * protocol method).
 *
 * Nothing here is exported: the library is built with hidden visibility and
 * a version script that exports kw_* only.
 */
#ifndef KW_CLIENT_INT_H
#define KW_CLIENT_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/un.h>

#include "frame.h"
#include "jsonget.h"
#include "keyward.h"

/* Largest value kw_secret_put sends: the highest max_value_bytes the agent
 * can be configured with (16 MiB); the agent's own setting applies. */
#define CLIENT_VALUE_MAX (16u * 1024u * 1024u)
/*
 * Largest response line accepted, excluding '\n': a value of
 * CLIENT_VALUE_MAX in base64 (4/3) plus the envelope, so that whatever the
 * agent accepts can also be read back.
 */
#define CLIENT_LINE_MAX (CLIENT_VALUE_MAX / 3 * 4 + 1024u * 1024u)

#define CLIENT_ERRMSG_MAX 512
/* Notifications kept while nobody waits for them; older ones are dropped. */
#define CLIENT_NOTIFY_MAX 1024u
/* A deadline that never passes (kw_notification_wait with timeout -1). */
#define CLIENT_NO_DEADLINE INT64_MAX
/* A deadline that has always passed, but lets client_read_some look once
 * at what is already there (kw_watch_dispatch with timeout 0). */
#define CLIENT_DEADLINE_NOW INT64_MIN

/* One queued notification, both strings for kw_json_free. */
struct client_notification {
	char *method;
	char *params; /* JSON text: an object, an array, or {} if absent */
};

/* A ring of at most CLIENT_NOTIFY_MAX notifications, oldest at head. */
struct client_notify {
	struct client_notification *ring; /* allocated on first use */
	size_t head, count;
	bool dropped; /* some were lost: the next wait says KW_ELIMIT */
};

/* One kw_watch registration. */
struct client_watch_entry {
	char pattern[KW_NAME_MAX + 1];
	kw_watch_fn cb;
	void *arg;
	bool live; /* the agent has the pattern on the current connection */
};

struct client_watch {
	struct client_watch_entry entries[KW_WATCH_MAX];
	size_t count;
	/* Re-registering was tried on this connection by a call other than
	 * kw_watch_dispatch: other calls try once, dispatch every time. */
	bool tried;
	bool dispatching; /* inside kw_watch_dispatch (callbacks running) */
};

struct kw_client {
	int fd;            /* -1 while disconnected */
	bool framer_ready; /* framer allocated (only while connected) */
	int timeout_ms;
	uint64_t last_id;
	kw_framer framer;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	/* The last error: the agent's or a local message, else last_err is
	 * described by kw_strerror(). Both cleared when a call starts. */
	char errmsg[CLIENT_ERRMSG_MAX];
	int last_err;
	char *token;        /* sodium_malloc, no-access while idle; or NULL */
	bool token_pending; /* present the token before the next request */
	struct client_notify notify;
	struct client_watch watch;
};

/* Error state: every public function that takes a client calls
 * client_begin() first and returns through client_end(). */
void client_begin(kw_client *c);
int client_end(kw_client *c, int r);
/* Keep a printable copy of msg as the message of err; returns err. */
int client_fail(kw_client *c, int err, const char *msg);

/* CLOCK_MONOTONIC in milliseconds. */
int64_t client_now_ms(void);
/* Close the connection (the notification queue and the watch
 * registrations survive it; the agent forgets the latter). */
void client_drop(kw_client *c);
/* Open the connection if it is closed (the token is then to be
 * presented). 0, KW_ECONNECT, KW_EPERM, KW_ETIMEOUT, KW_ENOMEM. */
int client_ensure_open(kw_client *c, int64_t deadline);
/*
 * Wait until the connection is readable (or the deadline passes; with
 * CLIENT_DEADLINE_NOW, do not wait) and read what is there into the
 * framer. 1 if bytes arrived, 0 if not (try again), or KW_ETIMEOUT,
 * KW_ECLOSED, KW_EIO.
 * Never drops the connection: the caller decides.
 */
int client_read_some(kw_client *c, int64_t deadline);
/* A line from the agent as a JSON-RPC 2.0 object, or NULL if it is not. */
json_t *client_parse_message(const char *line, size_t len);
/* An error member: its KW_E* code (message kept), or KW_EPROTO. */
int client_parse_error(kw_client *c, const json_t *err);

/*
 * msg has no id: queue it as a notification (returns 1; when memory is
 * short it is dropped and counted as such). msg has an id: returns 0.
 * Malformed (no method, or a result/error/params of the wrong kind):
 * KW_EPROTO.
 */
int client_notify_offer(kw_client *c, const json_t *msg);
/* Free every queued notification. */
void client_notify_clear(kw_client *c);
/*
 * Queue every complete line already read (no I/O). 0, or an error after
 * which the connection must be dropped (message kept): KW_EPROTO,
 * KW_ETOOBIG, KW_ECLOSED (the agent said why it closes).
 */
int client_notify_drain(kw_client *c);
/*
 * Take the oldest queued notification (strings for kw_json_free): 0, 1 if
 * none is queued, or KW_ELIMIT once after notifications were lost.
 */
int client_notify_take(kw_client *c, char **ret_method, char **ret_params_json);

/* Rotation watch (watch.c) ----------------------------------------------- */

/* The connection closed: the agent no longer has any pattern. */
void client_watch_reset(kw_client *c);
/* True if some registration is not yet known to the current connection. */
bool client_watch_pending(const kw_client *c);
/*
 * Register every pending pattern (secret.watch), reconnecting and
 * presenting the token first if needed. 0, or KW_ELOCKED if the token
 * cannot be presented (nothing is registered without it), or the first
 * error; registrations that failed stay pending.
 */
int client_watch_present(kw_client *c, int64_t deadline);

/*
 * Send method with params (stolen, also on failure; NULL means {}) and wait
 * for the answer. On success *ret_result is a new reference to the result
 * member (any JSON type; the caller checks it). An error response from the
 * agent returns its KW_E* code with its message kept for
 * kw_last_error_message(). Transport errors: KW_ECONNECT, KW_ETIMEOUT,
 * KW_ECLOSED, KW_EPROTO, KW_EIO, KW_ENOMEM.
 */
int client_call(kw_client *c, const char *method, json_t *params,
                json_t **ret_result);

/* client_call for methods whose result is an object (else KW_EPROTO).
 * KW_EINVAL if c is NULL. */
int client_call_object(kw_client *c, const char *method, json_t *params,
                       json_t **ret_result);
/* client_call with an absolute deadline (CLOCK_MONOTONIC ms). */
int client_call_until(kw_client *c, const char *method, json_t *params,
                      int64_t deadline, json_t **ret_result);

/* A client token: "kwt_" and 43 base64url characters (32 random bytes). */
#define CLIENT_TOKEN_PREFIX "kwt_"
#define CLIENT_TOKEN_LEN    47u

/* True if token has the form above (charset and length only: whether the
 * agent knows it is for the agent to say). */
bool client_token_valid(const char *token);

/*
 * Send client.hello with token. On success, and on KW_ELOCKED (the agent
 * cannot check tokens while locked), keep a copy in guarded memory to
 * present again after every reconnect (and, after KW_ELOCKED, before the
 * next request). KW_EINVAL for a malformed token, without a round trip;
 * otherwise the agent's error (KW_EDENIED, KW_ERATE) or a transport error,
 * and the token kept before stays in force.
 */
int client_hello(kw_client *c, const char *token);
/* Present the kept token (client_call_until does it when needed); clears
 * token_pending on success. */
int client_token_present(kw_client *c, int64_t deadline);

#endif
