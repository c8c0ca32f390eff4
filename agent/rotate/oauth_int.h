/*
 * oauth_int.h - what the managed OAuth credentials' files share, and
 * nothing else may use: the engine's state and the helpers the login,
 * device and revocation flows (oauth_flow.c) need of the core
 * (oauthcred.c).
 */
#ifndef KW_OAUTH_INT_H
#define KW_OAUTH_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "httpc.h"
#include "oauth.h" /* common/: forms, answers */
#include "oauth_discover.h"
#include "oauthcred.h"
#include "store.h"

#define NOTICES_MAX 64u

struct waiter {
	void *who;
	oauth_wake wake;
};

struct cred {
	oauth *o;
	char name[KW_NAME_MAX + 1];
	enum oauth_grant grant;
	enum oauth_state state;
	bool has_refresh;
	int64_t access_expires, last_refresh, refresh_expires, inflight;
	uint64_t access_version;
	int64_t next_refresh; /* 0: none planned */
	int64_t retry_at;     /* after a failure: not before */
	int64_t backoff_s;
	bool failing;
	char last_error[OAUTH_ERROR_TEXT_MAX + 1];

	httpc_job *job;
	bool send_after_commit; /* the in-flight mark is in the open batch */
	httpc_job *revoke_job;  /* oauth_revoke's request */
	bool revoking;          /* from oauth_revoke's first call to its end */
	char revoke_detail[OAUTH_ERROR_TEXT_MAX + 1];
	struct oauth_login *login; /* a login in progress (oauth_flow.c) */
	uint64_t finished; /* requests that ended, for oauth_refresh_now */
	int last_result;   /* the last request's: 0 or a KW_E* code */

	struct waiter *waiters;
	size_t nwaiters, capwaiters;
	bool wake_due;
};

struct notice {
	char name[KW_NAME_MAX + 1];
	uint64_t version, previous;
	bool reauth;
};

struct oauth {
	rotate_host h;
	discovery *disc;
	httpc *net;
	char net_why[160];
	bool loaded;
	bool dirty; /* this turn's batch holds a write of ours */
	struct cred **creds;
	size_t n, cap;
	int64_t next_due; /* earliest next_refresh or retry; 0: none */
	bool wake_due;
	/* Waiters of credentials that were removed: woken at the next tick. */
	struct waiter *orphans;
	size_t norphans, caporphans;
	struct notice notices[NOTICES_MAX];
	size_t nnotices;
#if KW_TEST_HOOKS
	/* KEYWARD_TEST_OAUTH_CRASH: where a refresh_token grant dies. */
	char crash_at[8];
	bool crash_armed; /* "commit": die once the batch commits */
#endif
};

/* A test build dies (SIGKILL) at point of a refresh_token grant's
 * refresh if KEYWARD_TEST_OAUTH_CRASH names it: "mark" (the in-flight
 * mark written, not committed), "sent" (the request handed to
 * keyward-net), "answer" (the answer here, not yet written), "commit"
 * (the new tokens committed). Nothing in release builds. */
#if KW_TEST_HOOKS
void oc_crash_point(oauth *o, const char *at);
#else
static inline void oc_crash_point(oauth *o, const char *at)
{
	(void)o;
	(void)at;
}
#endif

/* The core's helpers (oauthcred.c). */
struct cred *oc_find(const oauth *o, const char *name);
store *oc_st(const oauth *o);
kw_key *oc_dk(const oauth *o);
int oc_doc_get(oauth *o, const char *name, oauth_doc *ret);
int oc_doc_put(oauth *o, const char *name, const oauth_doc *d);
/* Queue c's waiters to be woken at the next tick. */
void oc_wake_all(struct cred *c);
/* 0 (also if who already waits), KW_ELIMIT or KW_ENOMEM. */
int oc_add_waiter(struct cred *c, oauth_wake wake, void *who);
void oc_recompute_due(oauth *o);
/* A request of c failed: backoff, audit row, waiters woken. */
__attribute__((format(printf, 4, 5))) void
oc_failed(oauth *o, struct cred *c, int result, const char *fmt, ...);
/* The refresh token was refused (invalid_grant). */
void oc_needs_reauth(oauth *o, struct cred *c, const char *why);
/* A token answer: the new tokens and the document in the open batch. */
void oc_got_token(oauth *o, struct cred *c, kw_oauth_token *t);
/* httpc's callback for a token endpoint answer of c (arg). */
void oc_on_token(void *arg, int result, const char *detail,
                 const httpc_response *resp);
/* scope, then oc_form_client. */
int oc_form_common(kw_form *f, const oauth_doc *d);
/* resources and the client id (and secret, client_secret_post). */
int oc_form_client(kw_form *f, const oauth_doc *d);
/* POST f to url with d's client authentication. */
int oc_post_form(oauth *o, const oauth_doc *d, const char *url,
                 const kw_form *f, httpc_done done, void *arg,
                 httpc_job **ret_job);

/* The flows (oauth_flow.c). */
/* Forget c's login in progress (wiped). NULL ok. */
void oc_login_free(struct oauth_login *l);
/* Poll the token endpoint for the device logins that are due. */
void oc_flow_tick(oauth *o, int64_t now_ms);

#endif
