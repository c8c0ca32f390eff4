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
 *   After fork(), the child must not call with its parent's client: the
 *   agent serves a connection only to the process that opened it, and
 *   refuses and closes it when another writes on it. Connect anew in the
 *   child.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef KEYWARD_H
#define KEYWARD_H

#include <stdbool.h>
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
	KW_EREVOKED = -26,  /* the credential was revoked */
	KW_EEXPIRED = -27,  /* the credential has expired */
	KW_ETOKEN = -28,    /* the access token is not acceptable */
	KW_ESCOPE = -29,    /* the token lacks a required scope */
	KW_EUNKNOWN = -30,  /* a write's disk sync failed: it may or may not
	                       have been stored (outcome unknown) */
	KW_EDISKFULL = -31, /* the store's filesystem is full */
	KW_EROFS = -32,     /* the store's filesystem is read-only */
	KW_EDAMAGED = -33,  /* the store's database file is damaged */
};
#define KW_ERROR_MIN KW_EDAMAGED

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

/* API keys --------------------------------------------------------------- */

/* What the agent knows about a valid API key. Opaque; kw_apikey_info_free
 * releases it. Strings belong to it. */
typedef struct kw_apikey_info kw_apikey_info;

/*
 * Verify an API key someone presented to your server ("kwk_" ID "_"
 * SECRET CHECK, as `keyward apikey create` makes; see docs/protocol.md,
 * apikey.verify). The agent compares it in constant time, audits the
 * attempt and rate-limits this client's failures. The key's shape and
 * checksum are checked here first: a malformed key costs no round trip.
 * This client's policy needs a verify grant covering "apikey/PRINCIPAL".
 * Errors, each its own code so a server can map them:
 *   KW_EINVAL     malformed (wrong prefix, length or characters, or a
 *                 checksum that does not match: a typo); the message says
 *                 which
 *   KW_ENOTFOUND  unknown key (also a key whose principal this client may
 *                 not verify: the agent does not say it exists)
 *   KW_EREVOKED   revoked
 *   KW_EEXPIRED   past its expiry, or replaced by a rotation whose overlap
 *                 has ended
 *   KW_ERATE      too many failed verifications by this client lately
 *   KW_EDENIED    this client has no verify grant at all
 *   KW_ELOCKED, transport errors.
 * The key is never kept: the library's copies are wiped.
 */
KW_EXPORT KW_MUST_CHECK int kw_apikey_verify(kw_client *c,
                                             const char *presented,
                                             kw_apikey_info **ret_info);
/* The key's id (12 characters; public, as apikey list shows it). */
KW_EXPORT const char *kw_apikey_info_id(const kw_apikey_info *info);
/* The principal the key was created for. */
KW_EXPORT const char *kw_apikey_info_principal(const kw_apikey_info *info);
/* Its scopes: how many, and the i-th (NULL if i is out of range). */
KW_EXPORT size_t kw_apikey_info_scope_count(const kw_apikey_info *info);
KW_EXPORT const char *kw_apikey_info_scope(const kw_apikey_info *info,
                                           size_t i);
/* 1 if the key has scope (exact match), else 0. */
KW_EXPORT int kw_apikey_info_has_scope(const kw_apikey_info *info,
                                       const char *scope);
/* When it expires, in unix seconds; 0 if it never does. */
KW_EXPORT int64_t kw_apikey_info_expires(const kw_apikey_info *info);
/* Free. Accepts NULL. */
KW_EXPORT void kw_apikey_info_free(kw_apikey_info *info);

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

/* JWT access tokens ------------------------------------------------------ */

/*
 * The result of a token verification: who the token speaks for, with
 * which scopes, until when (docs/tokens.md). Strings belong to the info.
 */
typedef struct kw_token_info kw_token_info;

/*
 * Ask the agent to verify jwt (a JWT access token it issued) for
 * expected_audience (this server's canonical URI, RFC 8707), and, with
 * kw_token_verify_scopes, that it carries every one of scopes (at most 32).
 * The agent picks the key by the token's kid and the algorithm by the key.
 * Errors: KW_ETOKEN (not acceptable: malformed, bad signature, expired,
 * wrong audience or issuer, unknown kid; HTTP 401 invalid_token; the
 * reason is in kw_last_error_message), KW_ESCOPE (valid but lacking a
 * required scope; HTTP 403 insufficient_scope), KW_EDENIED (this client
 * may not verify tokens), transport errors.
 */
KW_EXPORT KW_MUST_CHECK int kw_token_verify(kw_client *c, const char *jwt,
                                            const char *expected_audience,
                                            kw_token_info **ret_info);
KW_EXPORT KW_MUST_CHECK int
kw_token_verify_scopes(kw_client *c, const char *jwt,
                       const char *expected_audience, const char *const *scopes,
                       size_t nscopes, kw_token_info **ret_info);
/* NULL if the token has no such claim. */
KW_EXPORT const char *kw_token_info_subject(const kw_token_info *info);
KW_EXPORT const char *kw_token_info_client_id(const kw_token_info *info);
KW_EXPORT const char *kw_token_info_issuer(const kw_token_info *info);
KW_EXPORT const char *kw_token_info_kid(const kw_token_info *info);
/* Unix seconds; always set on a verified token. */
KW_EXPORT int64_t kw_token_info_expires_at(const kw_token_info *info);
KW_EXPORT size_t kw_token_info_scope_count(const kw_token_info *info);
KW_EXPORT const char *kw_token_info_scope(const kw_token_info *info, size_t i);
KW_EXPORT bool kw_token_info_has_scope(const kw_token_info *info,
                                       const char *scope);
KW_EXPORT size_t kw_token_info_audience_count(const kw_token_info *info);
KW_EXPORT const char *kw_token_info_audience(const kw_token_info *info,
                                             size_t i);
KW_EXPORT void kw_token_info_free(kw_token_info *info);

/*
 * The value of the WWW-Authenticate header a protected resource sends
 * with a 401 or 403 (RFC 6750 section 3, RFC 9728 section 5.1), into out
 * (with a NUL). err says which: 0 for a request without credentials (no
 * error code), KW_ESCOPE for insufficient_scope (403; scope lists what is
 * needed), anything else for invalid_token (401). realm, description,
 * scope and resource (this server's canonical URI, from which the
 * protected-resource metadata URL is derived) may each be NULL; they must
 * be printable ASCII without '"' or '\\' (realm may hold those). 0,
 * KW_EINVAL, KW_ETOOBIG (512 bytes always suffice for values of 100
 * bytes).
 */
KW_EXPORT KW_MUST_CHECK int kw_www_authenticate(int err, const char *realm,
                                                const char *description,
                                                const char *scope,
                                                const char *resource, char *out,
                                                size_t outsz);

#ifdef __cplusplus
}
#endif
#endif /* KEYWARD_H */
