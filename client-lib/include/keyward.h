/*
 * keyward.h - client library for the keyward secrets agent.
 *
 * libkeyward talks to keywardd over its Unix socket (JSON-RPC 2.0, one
 * message per line; see docs/protocol.md). It never logs, never exits and
 * never keeps a secret longer than the caller asks it to.
 *
 * Conventions
 *   - Functions that act return 0 or a negative KW_E* code; kw_strerror()
 *     turns a code into a sentence. Output parameters come last, named ret_*,
 *     and are written only on success.
 *   - Handles are opaque. Destructors accept NULL.
 *
 * Thread safety
 *   A kw_client is a single connection and is NOT thread-safe: use one client
 *   per thread, or serialise calls on a shared client with your own lock.
 *   Distinct clients may be used concurrently from different threads.
 *   kw_strerror() and kw_error_name() are thread-safe.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef KEYWARD_H
#define KEYWARD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define KW_EXPORT     __attribute__((visibility("default")))
#define KW_MUST_CHECK __attribute__((warn_unused_result))
#else
#define KW_EXPORT
#define KW_MUST_CHECK
#endif

#define KW_VERSION_STRING "0.1.0"

/* Limits shared by agent, library and CLI. */
#define KW_NAME_MAX           255u          /* bytes in a secret name */
#define KW_VALUE_MAX_DEFAULT  (64u * 1024u) /* default max_value_bytes */
#define KW_TIMEOUT_DEFAULT_MS 5000          /* per-call timeout */

/*
 * Error codes. Stable: the numbers are part of the ABI and of the wire
 * protocol (docs/protocol.md lists the wire code of each).
 */
enum kw_error {
	KW_OK = 0,
	KW_EINVAL = -1,     /* invalid argument or parameter */
	KW_ENOMEM = -2,     /* out of memory */
	KW_EIO = -3,        /* I/O error */
	KW_ENOTFOUND = -4,  /* no such secret or version */
	KW_EDENIED = -5,    /* permission denied */
	KW_ELOCKED = -6,    /* agent is locked */
	KW_ENAME = -7,      /* invalid secret name */
	KW_ETOOBIG = -8,    /* value or message too large */
	KW_EPROTO = -9,     /* malformed protocol message */
	KW_ECONNECT = -10,  /* cannot connect to the agent */
	KW_ETIMEOUT = -11,  /* timed out */
	KW_EBADPASS = -12,  /* wrong passphrase or key */
	KW_ECRYPTO = -13,   /* authentication of stored data failed */
	KW_ESTORE = -14,    /* store (database) error */
	KW_EEXIST = -15,    /* already exists */
	KW_EPERM = -16,     /* unsafe file ownership or permissions */
	KW_ELIMIT = -17,    /* a configured limit was reached */
	KW_ECONFIG = -18,   /* invalid configuration */
	KW_EBUSY = -19,     /* operation already in progress */
	KW_ERATE = -20,     /* rate limited */
	KW_ECLOSED = -21,   /* connection closed by the agent */
	KW_EMETHOD = -22,   /* unknown method */
	KW_EPARSE = -23,    /* invalid JSON */
	KW_ESTATE = -24,    /* not possible in the current state */
	KW_EINTERNAL = -25, /* internal error in the agent */
};
#define KW_ERROR_MIN KW_EINTERNAL

/* A sentence describing err ("no such secret or version"). Never NULL. */
KW_EXPORT const char *kw_strerror(int err);
/* A stable identifier for err ("not_found"), as sent in error.data.kind. */
KW_EXPORT const char *kw_error_name(int err);

typedef struct kw_client kw_client;
typedef struct kw_secret kw_secret;
/* The result of kw_secret_list (a struct tag: the function has the name). */
struct kw_secret_list;

/*
 * Connect to the agent. socket_path NULL resolves the socket the same way
 * keywardd does: $KEYWARD_SOCKET, else $XDG_RUNTIME_DIR/keyward/agent.sock,
 * else $KEYWARD_HOME/agent.sock (KEYWARD_HOME defaults to ~/.mcp).
 * The process listening there must run as the caller's uid or root, or
 * as the uid in $KEYWARD_AGENT_UID (an agent of another user): anything
 * else gets KW_EPERM before a byte is sent.
 * Errors: KW_ECONNECT, KW_EPERM, KW_EINVAL (path too long), KW_ENOMEM.
 */
KW_EXPORT KW_MUST_CHECK int kw_connect(kw_client **ret_client,
                                       const char *socket_path);
/* Close the connection and free the client. Accepts NULL. */
KW_EXPORT void kw_close(kw_client *c);
/* Per-call timeout in milliseconds (default KW_TIMEOUT_DEFAULT_MS; >0). */
KW_EXPORT KW_MUST_CHECK int kw_set_timeout(kw_client *c, int timeout_ms);
/*
 * The human-readable message of the last error on this client: the agent's
 * (it names the field or rule that failed, never a secret) or a local one,
 * "" if the last call succeeded. With c NULL: why the last kw_connect() in
 * this thread failed. Valid until the next call.
 */
KW_EXPORT const char *kw_last_error_message(const kw_client *c);

/*
 * Present a client token (see `keyward client add`) on this connection, so
 * that policies naming the token apply. kw_connect() already does this
 * with $KEYWARD_TOKEN when it is set (and then fails with KW_EDENIED,
 * KW_ERATE or KW_EINVAL if the token is refused or malformed); the token
 * is re-presented after a reconnect, and after an unlock if the agent was
 * locked. Errors: KW_EINVAL (malformed: no round trip), KW_EDENIED
 * (unknown or revoked), KW_ERATE, KW_ELOCKED (kept, and presented again
 * before the next request; until then requests may fail KW_ELOCKED).
 */
KW_EXPORT KW_MUST_CHECK int kw_client_hello(kw_client *c, const char *token);

/* Secrets ---------------------------------------------------------------- */

/*
 * Fetch the current version of name. The value is returned in guarded memory
 * owned by *ret_secret; kw_secret_free() wipes it.
 * Errors: KW_ENAME, KW_ENOTFOUND, KW_ELOCKED, KW_EDENIED, transport errors.
 */
KW_EXPORT KW_MUST_CHECK int kw_secret_get(kw_client *c, const char *name,
                                          kw_secret **ret_secret);
/* Fetch a given version (version > 0) of name. */
KW_EXPORT KW_MUST_CHECK int kw_secret_get_version(kw_client *c,
                                                  const char *name,
                                                  uint64_t version,
                                                  kw_secret **ret_secret);
/* Fetch the version of name at stage "current", "pending" or "previous". */
KW_EXPORT KW_MUST_CHECK int kw_secret_get_stage(kw_client *c, const char *name,
                                                const char *stage,
                                                kw_secret **ret_secret);
KW_EXPORT const uint8_t *kw_secret_value(const kw_secret *s);
KW_EXPORT size_t kw_secret_len(const kw_secret *s);
KW_EXPORT uint64_t kw_secret_version(const kw_secret *s);
/* Wipe and free. Accepts NULL. */
KW_EXPORT void kw_secret_free(kw_secret *s);

/*
 * Store value (binary-safe, len bytes) as a new current version of name.
 * ret_version may be NULL.
 * Errors: KW_ENAME, KW_ETOOBIG, KW_ELOCKED, KW_EDENIED, transport errors.
 */
KW_EXPORT KW_MUST_CHECK int kw_secret_put(kw_client *c, const char *name,
                                          const void *value, size_t len,
                                          uint64_t *ret_version);
/* Store nbytes random bytes generated inside the agent as a new version. */
KW_EXPORT KW_MUST_CHECK int kw_secret_generate(kw_client *c, const char *name,
                                               size_t nbytes,
                                               uint64_t *ret_version);
/* Delete name and all its versions. */
KW_EXPORT KW_MUST_CHECK int kw_secret_delete(kw_client *c, const char *name);

/*
 * List secret names (never values), optionally only those starting with
 * prefix (NULL for all). Iterate with kw_secret_list_count/_name/_version.
 */
KW_EXPORT KW_MUST_CHECK int kw_secret_list(kw_client *c, const char *prefix,
                                           struct kw_secret_list **ret_list);
KW_EXPORT size_t kw_secret_list_count(const struct kw_secret_list *l);
KW_EXPORT const char *kw_secret_list_name(const struct kw_secret_list *l,
                                          size_t i);
KW_EXPORT uint64_t kw_secret_list_version(const struct kw_secret_list *l,
                                          size_t i);
KW_EXPORT void kw_secret_list_free(struct kw_secret_list *l);

/* Agent ------------------------------------------------------------------ */

/* 1 if the agent is locked, 0 if unlocked, or a negative error. */
KW_EXPORT int kw_agent_locked(kw_client *c);
/*
 * Unlock with a passphrase (passphrase mode) or, with passphrase NULL,
 * re-read the keyfile (keyfile mode). Errors: KW_EBADPASS, KW_EBUSY.
 */
KW_EXPORT KW_MUST_CHECK int kw_agent_unlock(kw_client *c,
                                            const char *passphrase);
KW_EXPORT KW_MUST_CHECK int kw_agent_lock(kw_client *c);
/*
 * Re-wrap the data key under new_passphrase. current is the passphrase in
 * force (passphrase mode) or NULL (keyfile mode, which this switches to
 * passphrase mode).
 */
KW_EXPORT KW_MUST_CHECK int kw_agent_passwd(kw_client *c, const char *current,
                                            const char *new_passphrase);

/*
 * Low-level call: send method with params (a JSON object as text, or NULL
 * for {}) and return the JSON text of the result in *ret_result_json, which
 * the caller frees with kw_json_free() (it wipes). Used by the CLI and by
 * bindings for methods without a dedicated function.
 */
KW_EXPORT KW_MUST_CHECK int kw_call(kw_client *c, const char *method,
                                    const char *params_json,
                                    char **ret_result_json);
KW_EXPORT void kw_json_free(char *json);

/*
 * Notifications the agent pushes on this connection (for example
 * "audit.row" after an "audit.follow" call). Requests keep working: a
 * notification that arrives while a call waits for its answer is queued
 * (at most 1024; older ones are dropped first, and the next wait reports
 * KW_ELIMIT once). Waits up to timeout_ms (-1: no limit) for the next one;
 * *ret_method and *ret_params_json are freed with kw_json_free.
 * Errors: KW_ETIMEOUT (none arrived), KW_ECLOSED, KW_ELIMIT.
 */
KW_EXPORT KW_MUST_CHECK int kw_notification_wait(kw_client *c, int timeout_ms,
                                                 char **ret_method,
                                                 char **ret_params_json);

/* Rotation watch --------------------------------------------------------- */

/* Patterns (kw_watch registrations) one client may hold. */
#define KW_WATCH_MAX 16u

/*
 * Called for a rotation of a watched secret: name now has a new current
 * version. name is valid during the call only. The callback may make
 * calls on the client (kw_secret_get to fetch the new value is the usual
 * thing) and may call kw_watch, but must not call kw_watch_dispatch or
 * kw_close on it.
 */
typedef void (*kw_watch_fn)(const char *name, uint64_t version, void *arg);

/*
 * Ask the agent to push "secret.rotated" for the names pattern matches
 * (docs/protocol.md, secret.watch), and have kw_watch_dispatch call
 * cb(name, version, arg) for each. pattern is a policy-style glob: '*'
 * matches within one '/'-separated segment, a '**' segment matches whole
 * segments (a trailing one at least one, so that "github" followed by a
 * '**' segment does not match "github" itself). The agent pushes only
 * names this client may read.
 *
 * At most KW_WATCH_MAX registrations per client; registering a pattern
 * again (another callback) costs no round trip. The library re-registers
 * every pattern on a new connection after its transparent reconnect, once
 * the client token (if any) has been accepted; rotations finished while
 * no connection was registered are not reported, so re-read what you
 * cache when kw_watch_dispatch reports KW_ECLOSED.
 * Errors: KW_EINVAL (malformed pattern or NULL cb, no round trip),
 * KW_ELIMIT (KW_WATCH_MAX reached), the agent's errors, transport errors.
 * On failure the pattern is not registered.
 */
KW_EXPORT KW_MUST_CHECK int kw_watch(kw_client *c, const char *pattern,
                                     kw_watch_fn cb, void *arg);

/*
 * Wait up to timeout_ms (-1: no limit; 0: only what has already arrived)
 * for a "secret.rotated" notification whose name a pattern matches, and
 * call, in registration order, the callback of every registration whose
 * pattern matches it. One notification per call: returns the number of
 * callbacks run for it (all with the same name and version), 0 if the time
 * ran out first, or a negative error; call again for the next one. Other
 * notifications on the connection are discarded: use either
 * kw_watch_dispatch or kw_notification_wait on a client, not both.
 *
 * Notifications that arrive while another call on the client waits for
 * its answer are kept (as for kw_notification_wait), not signalled on the
 * fd: after your own calls on the client, call kw_watch_dispatch(c, 0).
 * If the connection is closed (the agent restarted, or a call's timeout
 * ended it), this call first reconnects and registers every pattern again,
 * a round trip each bounded by the client's timeout (not timeout_ms).
 * Errors: KW_ECLOSED (the agent closed the connection while we waited:
 * rotations may have been missed; the next call reconnects), KW_ECONNECT,
 * KW_ELOCKED (a reconnect could not present the client token: patterns
 * are registered again after an unlock), KW_ELIMIT (notifications were
 * lost because more than 1024 were waiting; reported once), KW_ESTATE
 * (nothing is watched), KW_EBUSY (called from a watch callback),
 * KW_EPROTO (a "secret.rotated" without a valid name and version; it is
 * discarded), and the agent's errors from re-registering.
 */
KW_EXPORT KW_MUST_CHECK int kw_watch_dispatch(kw_client *c, int timeout_ms);

/*
 * The connection's file descriptor, to poll for readability in your own
 * event loop; when it is readable, call kw_watch_dispatch(c, 0) until it
 * returns 0 or an error (one read may bring several notifications, and
 * those already read do not make the fd readable again). -1 if the client
 * is not connected (NULL too). It changes when the library reconnects,
 * which any call may do: fetch it again after each call on the client,
 * and while it is -1 call kw_watch_dispatch from a timer to reconnect.
 * Do not read from it or close it.
 */
KW_EXPORT int kw_fd(const kw_client *c);

#ifdef __cplusplus
}
#endif
#endif /* KEYWARD_H */
