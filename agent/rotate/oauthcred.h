/*
 * oauthcred.h - managed OAuth 2.0 credentials: the agent as an OAuth client
 * that holds the client secret and refresh token and hands out only
 * fresh access tokens (docs/oauth.md).
 *
 * A credential NAME is a row of oauth_creds (store_oauth.h: one sealed
 * document, oauth_doc.h) plus the secret NAME, whose versions are the
 * access tokens it obtained; secret.get of NAME reads the newest like any
 * secret, through the same grants and audit rows. The engine keeps, per
 * credential, only what decides when to act (expiry, next refresh, state,
 * the request in flight); the document, with the client secret and
 * refresh token, is opened from the store for each request and wiped.
 *
 * Refresh: ahead of expiry ([oauth] refresh_at_percent of the token's
 * lifetime after it was obtained), at most one request in flight per
 * credential, never on a caller's path while a valid token is cached. A
 * caller that finds no valid token waits on that one request
 * (oauth_check). Every token request goes through httpc (keyward-net) with
 * the credential's allow_private/allow_insecure.
 *
 * Crash safety of refresh-token rotation: before a refresh_token grant is
 * sent, the document is rewritten with an in-flight mark and that batch
 * committed; the answer's refresh token is written (with the access
 * token, in one batch) before any caller is answered (answers wait for
 * the batch, conn.h). A mark found at load means a request may have been
 * answered and its answer lost: the engine retries once with the refresh
 * token it has; an invalid_grant then, as at any time, marks the
 * credential needs-reauth (audited, watchers told), and it is never
 * retried until a new login.
 *
 * Event-loop thread only; the engine belongs to the rotation engine
 * (rotate.h), which ticks it and tells it of commits.
 */
#ifndef KW_OAUTHCRED_H
#define KW_OAUTHCRED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "httpc.h"
#include "keyward.h"
#include "oauth_doc.h"
#include "rotate.h"

#define OAUTH_CREDS_MAX    1024u /* credentials an agent manages */
#define OAUTH_WAITERS_MAX  256u  /* callers waiting on one credential */
#define OAUTH_RESPONSE_MAX (64u * 1024u)
/* Backoff after a failed request: doubles from MIN to MAX. */
#define OAUTH_BACKOFF_MIN_S 10
#define OAUTH_BACKOFF_MAX_S 3600
/* A token without expires_in is taken to last this long. */
#define OAUTH_DEFAULT_LIFETIME_S 3600

typedef struct oauth oauth;

/* Called when a credential a caller waited on has an answer (a token, or
 * a failure oauth_check will now report): the caller asks again. */
typedef void (*oauth_wake)(void *waiter);

int oauth_new(const rotate_host *host, oauth **ret_oauth);
/* Cancel requests in flight (a refresh-token request's mark stays, so the
 * next start retries it) and free. NULL ok. */
void oauth_free(oauth *o);
/* Authorization server metadata, kept by o (oauth_discover.h). */
typedef struct discovery discovery;
discovery *oauth_discovery(oauth *o);
/* The HTTP client the rotation engine got (rotate_take_net); NULL: every
 * request fails with why. */
void oauth_set_net(oauth *o, httpc *net, const char *why);

/* Load the credentials once the agent is unlocked, start what is due. */
void oauth_tick(oauth *o);
/* The turn's batch committed or not: notices go out, marks settle. */
void oauth_settled(oauth *o, bool committed);
/* Forget everything loaded (the agent locked, or the store was replaced);
 * loaded again at the next tick. */
void oauth_unload(oauth *o);

/* Is name a managed credential? (A cheap lookup: secret.get asks it.) */
bool oauth_is_managed(const oauth *o, const char *name);

/*
 * secret.get of name, a managed credential, at time now: 0 if a valid
 * access token is stored (read it as any secret); 1 if the caller must
 * wait: wake(waiter) is called once when there is an answer, unless
 * oauth_forget_waiter first (or replay is true: a caller that already
 * waited gets the failure instead); else a KW_E* code with why
 * (KW_ESTATE: needs a new login, or the last request failed and the next
 * is not due; KW_ELIMIT: too many waiters; KW_ENOTFOUND: not managed).
 */
int oauth_check(oauth *o, const char *name, bool replay, oauth_wake wake,
                void *waiter, char *why, size_t whysz);
/* waiter is gone: drop it from every credential. */
void oauth_forget_waiter(oauth *o, void *waiter);

/*
 * Add credential name (spec: its document; its state, times and scope
 * granted are ignored), in the open batch. No secret of that name may
 * exist. A client_credentials credential gets its first token at once
 * (oauth_check waits on it); one given a refresh token refreshes at
 * once. KW_EEXIST, KW_ELIMIT (OAUTH_CREDS_MAX), KW_EINVAL (why says
 * what), KW_ESTATE (not loaded yet: locked), store errors.
 */
int oauth_add(oauth *o, const oauth_doc *spec, const char *name, char *why,
              size_t whysz);
/* Remove name: its row and every version of its secret, in the open
 * batch; a request in flight is abandoned. KW_ENOTFOUND. */
int oauth_remove(oauth *o, const char *name);
/*
 * Ask for a new token now (oauth.renew): as oauth_check, but a request
 * is started even if the token is valid, unless one is in flight (then
 * the caller waits on it). On a replay, 0 if the last request succeeded,
 * else its failure.
 */
int oauth_refresh_now(oauth *o, const char *name, bool replay, oauth_wake wake,
                      void *waiter, char *why, size_t whysz);

/*
 * Revoke and remove name (oauth.revoke): the refresh token (else the
 * access token) is sent to the RFC 7009 revocation endpoint, then the
 * credential is removed whatever the answer. 1: wait (as oauth_check);
 * 0: removed, with why saying what the endpoint did (or that there was
 * none); a KW_E* code with why.
 */
int oauth_revoke(oauth *o, const char *name, bool replay, oauth_wake wake,
                 void *waiter, char *why, size_t whysz);

/*
 * Logins (oauth_flow.c). A login is the agent's alone: the PKCE verifier,
 * the state and the device code never leave it; a login not finished
 * within 10 minutes (or the device code's life) is forgotten.
 *
 * oauth_login_begin: an authorization_code credential's authorization
 * URL (*ret_url, malloc'd) for a redirect to redirect_uri, which must be
 * http://127.0.0.1:PORT/... or http://[::1]:PORT/... (RFC 8252 7.3).
 * A new login replaces one in progress.
 *
 * oauth_login_finish: the redirect's code, state and iss (NULL if none).
 * state must be the login's (compared in constant time); iss must be
 * there if the server announced it, and equal the issuer if both are
 * known (RFC 9207). Then the code is exchanged (with the verifier): 1
 * wait; on the replay, 0 once the credential holds a token, else the
 * failure. A refused state or iss (KW_EDENIED) ends the login.
 *
 * oauth_device_begin: asks the device authorization endpoint (RFC 8628):
 * 1 wait; on the replay, 0 with what the user must see in *ret. The
 * agent then polls the token endpoint at the server's interval.
 *
 * oauth_login_wait: 1 until the login ends, then 0 (a token is held) or
 * the failure (KW_EDENIED: the user refused; KW_ETIMEOUT: the code
 * expired).
 */
typedef struct oauth_device_info {
	char user_code[128];
	char verification_uri[2049];
	char verification_uri_complete[2049]; /* "" if none */
	int64_t expires_in, interval;
} oauth_device_info;

int oauth_login_begin(oauth *o, const char *name, const char *redirect_uri,
                      char **ret_url, char *why, size_t whysz);
int oauth_login_finish(oauth *o, const char *name, const char *code,
                       const char *state, const char *iss, bool replay,
                       oauth_wake wake, void *waiter, char *why, size_t whysz);
int oauth_device_begin(oauth *o, const char *name, bool replay, oauth_wake wake,
                       void *waiter, oauth_device_info *ret, char *why,
                       size_t whysz);
int oauth_login_wait(oauth *o, const char *name, bool replay, oauth_wake wake,
                     void *waiter, char *why, size_t whysz);

/*
 * The scope name's requests ask for from now on (a step-up after a 403
 * insufficient_scope: the tokens held keep theirs until the next login),
 * in the open batch. KW_ENOTFOUND, KW_EINVAL (why), store errors.
 */
int oauth_set_scope(oauth *o, const char *name, const char *scope, char *why,
                    size_t whysz);

/* What oauth.status shows of one credential; never a token or secret. */
typedef struct oauth_info {
	char name[KW_NAME_MAX + 1];
	enum oauth_grant grant;
	enum oauth_auth auth;
	char client_id[OAUTH_CLIENT_ID_MAX + 1];
	char token_url[OAUTH_URL_MAX + 1];
	char scope[OAUTH_SCOPE_MAX + 1];         /* asked for */
	char granted_scope[OAUTH_SCOPE_MAX + 1]; /* the last answer's */
	size_t nresources;
	char resources[OAUTH_RESOURCES_MAX][OAUTH_URL_MAX + 1];
	bool allow_private, allow_insecure;
	bool has_refresh_token;
	const char *state;       /* "new", "ok", "refreshing", "failing",
	                            "needs-reauth" */
	int64_t access_expires;  /* 0: no token */
	int64_t refresh_expires; /* 0: unknown */
	int64_t last_refresh;    /* 0: never */
	int64_t next_refresh;    /* 0: none planned */
	uint64_t access_version; /* the secret's version; 0: none */
	char last_error[OAUTH_ERROR_TEXT_MAX + 1]; /* "" if none */
} oauth_info;

/* Every credential whose name starts with prefix ("" for all), in name
 * order; cb's non-zero return stops the walk and is returned. */
int oauth_list(oauth *o, const char *prefix,
               int (*cb)(void *arg, const oauth_info *info), void *arg);

#endif
