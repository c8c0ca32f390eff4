/*
 * oauthcred.c - see oauthcred.h.
 *
 * The table: one struct cred per credential, kept sorted by name in an
 * array of pointers (a job's callback holds its cred, so a cred never
 * moves). A cred knows only when to act; each request opens the sealed
 * document, builds the form from it and wipes it.
 *
 * Waiters are woken from oauth_tick, never from inside a callback of
 * httpc or a call of the RPC layer, so a woken caller (which asks again
 * at once) never finds the table in the middle of a change.
 */
#include "oauthcred.h"
#include "oauth_int.h"

#include <inttypes.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "name.h"
#include "oauth.h" /* common/: forms, client authentication, answers */
#include "oauth_discover.h"
#include "secmem.h"
#include "store_oauth.h"
#include "store_rotation.h"

/* A token is served only while more than this (or a quarter of its
 * lifetime, if less) is left of it, so a caller gets some use of it. */
#define SERVE_MARGIN_MAX_S 30

/* The table. */

static size_t find_at(const oauth *o, const char *name, bool *ret_found)
{
	size_t lo = 0, hi = o->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(o->creds[mid]->name, name);
		if (c == 0) {
			*ret_found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*ret_found = false;
	return lo;
}

struct cred *oc_find(const oauth *o, const char *name)
{
	bool found;
	size_t i = o->n ? find_at(o, name, &found) : 0;
	return o->n && found ? o->creds[i] : NULL;
}

static struct cred *insert(oauth *o, const char *name)
{
	bool found;
	size_t i = find_at(o, name, &found);

	if (found)
		return o->creds[i];
	if (o->n == o->cap) {
		size_t cap = o->cap ? 2 * o->cap : 16;
		struct cred **p = realloc(o->creds, cap * sizeof(*p));
		if (!p)
			return NULL;
		o->creds = p;
		o->cap = cap;
	}
	struct cred *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->o = o;
	snprintf(c->name, sizeof(c->name), "%s", name);
	memmove(&o->creds[i + 1], &o->creds[i],
	        (o->n - i) * sizeof(o->creds[0]));
	o->creds[i] = c;
	o->n++;
	return c;
}

void oc_wake_all(struct cred *c)
{
	if (c->nwaiters > 0) {
		c->wake_due = true;
		c->o->wake_due = true;
	}
}

/* Call c's waiters (taken off first: each asks again at once). */
static void run_wakes(struct cred *c)
{
	struct waiter *w = c->waiters;
	size_t n = c->nwaiters;

	c->waiters = NULL;
	c->nwaiters = c->capwaiters = 0;
	c->wake_due = false;
	for (size_t i = 0; i < n; i++)
		w[i].wake(w[i].who);
	free(w);
}

static void cred_free(struct cred *c)
{
	if (!c)
		return;
	httpc_cancel(c->job);
	httpc_cancel(c->revoke_job);
	oc_login_free(c->login);
	free(c->waiters);
	sodium_memzero(c, sizeof(*c));
	free(c);
}

/* Remove c from the table; its waiters are woken (and find no such
 * credential). */
static void drop(oauth *o, struct cred *c)
{
	bool found;
	size_t i = find_at(o, c->name, &found);

	if (!found || o->creds[i] != c)
		return;
	memmove(&o->creds[i], &o->creds[i + 1],
	        (o->n - i - 1) * sizeof(o->creds[0]));
	o->n--;
	httpc_cancel(c->job);
	httpc_cancel(c->revoke_job);
	c->job = c->revoke_job = NULL;
	oc_login_free(c->login);
	c->login = NULL;
	/* Its waiters are woken at the next tick, never from inside the
	 * call that dropped it (an RPC handler, a commit). */
	for (size_t k = 0; k < c->nwaiters; k++) {
		if (o->norphans == o->caporphans) {
			size_t cap = o->caporphans ? 2 * o->caporphans : 8;
			struct waiter *p =
				realloc(o->orphans, cap * sizeof(*p));
			if (!p)
				break; /* it waits until its connection ends */
			o->orphans = p;
			o->caporphans = cap;
		}
		o->orphans[o->norphans++] = c->waiters[k];
	}
	cred_free(c);
}

/* Wake the waiters of credentials that are gone. */
static void wake_orphans(oauth *o)
{
	struct waiter *w = o->orphans;
	size_t n = o->norphans;

	if (n == 0)
		return;
	o->orphans = NULL;
	o->norphans = o->caporphans = 0;
	for (size_t k = 0; k < n; k++)
		w[k].wake(w[k].who);
	free(w);
}

static int64_t cred_due(const struct cred *c)
{
	if (c->job || c->send_after_commit || c->revoking || !c->next_refresh)
		return 0;
	return c->next_refresh > c->retry_at ? c->next_refresh : c->retry_at;
}

void oc_recompute_due(oauth *o)
{
	int64_t due = 0;
	for (size_t i = 0; i < o->n; i++) {
		int64_t d = cred_due(o->creds[i]);
		if (d && (!due || d < due))
			due = d;
	}
	o->next_due = due;
}

static int64_t lifetime_margin(const struct cred *c)
{
	int64_t life = c->access_expires - c->last_refresh;
	int64_t m = life / 4;
	return m < SERVE_MARGIN_MAX_S ? (m > 0 ? m : 0) : SERVE_MARGIN_MAX_S;
}

static bool token_valid(const struct cred *c, int64_t now)
{
	return c->state == OAUTH_STATE_OK && c->access_version > 0 &&
	       now < c->access_expires - lifetime_margin(c);
}

/* When c should next ask for a token, from what it holds now. */
static void plan(oauth *o, struct cred *c, int64_t now)
{
	c->next_refresh = 0;
	if (c->state == OAUTH_STATE_REAUTH)
		return;
	if (c->inflight) {
		c->next_refresh = now; /* retry the one that may be lost */
	} else if (c->state == OAUTH_STATE_NEW) {
		if (c->grant == OAUTH_GRANT_CLIENT_CREDENTIALS)
			c->next_refresh = now;
	} else if (c->grant == OAUTH_GRANT_CLIENT_CREDENTIALS ||
	           c->has_refresh) {
		int64_t life = c->access_expires - c->last_refresh;
		c->next_refresh =
			c->last_refresh +
			life * (int64_t)o->h.cfg->oauth_refresh_at_percent /
				100;
	}
}

static void cred_from_doc(oauth *o, struct cred *c, const oauth_doc *d,
                          int64_t now)
{
	c->grant = d->grant;
	c->state = d->state;
	c->has_refresh = d->refresh_token != NULL;
	c->access_expires = d->access_expires;
	c->last_refresh = d->last_refresh;
	c->refresh_expires = d->refresh_expires;
	c->inflight = d->inflight;
	c->access_version = d->access_version;
	plan(o, c, now);
}

/* The store, the key. */

store *oc_st(const oauth *o)
{
	return *o->h.st;
}

kw_key *oc_dk(const oauth *o)
{
	return *o->h.dk;
}

int oc_doc_get(oauth *o, const char *name, oauth_doc *ret)
{
	uint8_t *json = NULL;
	size_t len = 0;
	int r = store_oauth_get(oc_st(o), oc_dk(o), name, &json, &len);

	if (r == 0) {
		r = oauth_doc_decode(json, len, ret);
		kw_wipefree(json);
	}
	return r;
}

int oc_doc_put(oauth *o, const char *name, const oauth_doc *d)
{
	char *json = NULL;
	size_t len = 0;
	int r = oauth_doc_encode(d, &json, &len);

	if (r == 0) {
		r = store_oauth_put(oc_st(o), oc_dk(o), name,
		                    (const uint8_t *)json, len, clock_wall(),
		                    NULL);
		kw_wipefree(json);
	}
	if (r == 0)
		o->dirty = true;
	return r;
}

static void audit_refresh(oauth *o, const char *name, uint64_t version,
                          int outcome, const char *reason)
{
	const audit_event ev = {
		.uid = (uid_t)-1,
		.pid = 0,
		.op = "oauth.refresh",
		.name = name,
		.version = version,
		.outcome = outcome,
		.reason = reason,
	};
	int r = o->h.audit(o->h.ctx, &ev);
	if (r < 0)
		o->h.batch_fail(o->h.ctx, r);
}

static void notice(oauth *o, const char *name, uint64_t version,
                   uint64_t previous, bool reauth)
{
	if (o->nnotices == NOTICES_MAX)
		return; /* the watchers miss one; the store is right */
	struct notice *n = &o->notices[o->nnotices++];
	snprintf(n->name, sizeof(n->name), "%s", name);
	n->version = version;
	n->previous = previous;
	n->reauth = reauth;
}

/* Failures. */

void oc_failed(oauth *o, struct cred *c, int result, const char *fmt, ...)
{
	va_list ap;
	int64_t now = clock_now();

	va_start(ap, fmt);
	vsnprintf(c->last_error, sizeof(c->last_error), fmt, ap);
	va_end(ap);
	for (char *p = c->last_error; *p; p++) {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	}
	c->failing = true;
	c->last_result = result;
	c->finished++;
	c->backoff_s = c->backoff_s ? c->backoff_s * 2 : OAUTH_BACKOFF_MIN_S;
	if (c->backoff_s > OAUTH_BACKOFF_MAX_S)
		c->backoff_s = OAUTH_BACKOFF_MAX_S;
	c->retry_at = now + c->backoff_s;
	/* Retried only where a request can be made without the user. */
	if (!c->next_refresh && c->state != OAUTH_STATE_REAUTH &&
	    (c->grant == OAUTH_GRANT_CLIENT_CREDENTIALS || c->has_refresh))
		c->next_refresh = now;
	log_warn("oauth %s: token request failed: %s; next try in %" PRId64
	         " s",
	         c->name, c->last_error, c->backoff_s);
	if (o->h.batch(o->h.ctx) == 0)
		audit_refresh(o, c->name, 0, AUDIT_ERROR, c->last_error);
	oc_wake_all(c);
}

/* invalid_grant: the refresh token is dead. Never retried until a new
 * login; the caller and the watchers are told. */
void oc_needs_reauth(oauth *o, struct cred *c, const char *why)
{
	oauth_doc d;
	int r = o->h.batch(o->h.ctx);

	if (r == 0)
		r = oc_doc_get(o, c->name, &d);
	if (r == 0) {
		d.state = OAUTH_STATE_REAUTH;
		d.inflight = 0;
		kw_wipefree_str(d.refresh_token);
		d.refresh_token = NULL;
		snprintf(d.last_error, sizeof(d.last_error), "%s", why);
		r = oc_doc_put(o, c->name, &d);
		oauth_doc_clear(&d);
	}
	if (r < 0) {
		o->h.batch_fail(o->h.ctx, r);
		oc_failed(o, c, r, "%s (and it could not be recorded: %s)", why,
		          kw_strerror(r));
		return;
	}
	c->state = OAUTH_STATE_REAUTH;
	c->inflight = 0;
	c->has_refresh = false;
	c->next_refresh = 0;
	c->failing = true;
	c->last_result = KW_ESTATE;
	c->finished++;
	snprintf(c->last_error, sizeof(c->last_error), "%s", why);
	log_warn("oauth %s: %s; it needs a new login (keyward oauth login %s)",
	         c->name, why, c->name);
	audit_refresh(o, c->name, 0, AUDIT_ERROR, why);
	notice(o, c->name, 0, c->access_version, true);
	oc_wake_all(c);
}

/* Success: the new refresh token and the access token in one batch. */
void oc_got_token(oauth *o, struct cred *c, kw_oauth_token *t)
{
	bool refresh = c->inflight != 0; /* a refresh token was spent */
	int64_t now = clock_now();
	uint64_t version = 0, previous = c->access_version;
	oauth_doc d;
	char reason[96];
	int r = o->h.batch(o->h.ctx);

	if (r == 0)
		r = oc_doc_get(o, c->name, &d);
	if (r < 0) {
		o->h.batch_fail(o->h.ctx, r);
		oc_failed(o, c, r, "cannot record the new token: %s",
		          kw_strerror(r));
		return;
	}
	int64_t life =
		t->expires_in > 0 ? t->expires_in : OAUTH_DEFAULT_LIFETIME_S;
	r = store_put(oc_st(o), oc_dk(o), c->name,
	              (const uint8_t *)t->access_token, t->access_len,
	              o->h.cfg->max_versions, clock_wall(), &version);
	if (r == 0 && t->refresh_token)
		r = oauth_doc_set_secret(&d.refresh_token, t->refresh_token);
	if (r == 0) {
		d.state = OAUTH_STATE_OK;
		d.inflight = 0;
		d.last_refresh = now;
		d.access_expires = now + life;
		d.access_version = version;
		d.last_error[0] = '\0';
		/* A granted scope too long to keep is shown as the one
		 * asked for, never cut in the middle of a token. */
		size_t n = t->has_scope ? strlen(t->scope) : 0;
		if (t->has_scope && n < sizeof(d.granted_scope))
			memcpy(d.granted_scope, t->scope, n + 1);
		else
			memcpy(d.granted_scope, d.scope, sizeof(d.scope));
		r = oc_doc_put(o, c->name, &d);
	}
	if (r == 0)
		cred_from_doc(o, c, &d, now);
	oauth_doc_clear(&d);
	if (r < 0) {
		o->h.batch_fail(o->h.ctx, r);
		oc_failed(o, c, r, "cannot record the new token: %s",
		          kw_strerror(r));
		return;
	}
	c->failing = false;
	c->last_error[0] = '\0';
	c->backoff_s = 0;
	c->retry_at = 0;
	c->last_result = 0;
	c->finished++;
	snprintf(reason, sizeof(reason),
	         "%s grant; the access token expires in %" PRId64 " s%s",
	         oauth_grant_name(c->grant), life,
	         t->refresh_token ? "; a new refresh token" : "");
	audit_refresh(o, c->name, version, AUDIT_OK, reason);
	log_info("oauth %s: new access token (version %" PRIu64
	         ", expires in %" PRId64 " s)",
	         c->name, version, life);
	notice(o, c->name, version, previous, false);
	oc_wake_all(c);
	if (refresh)
		oc_crash_point(o, "commit");
}

/* The token endpoint's answer. */
void oc_on_token(void *arg, int result, const char *detail,
                 const httpc_response *resp)
{
	struct cred *c = arg;
	oauth *o = c->o;
	char why[OAUTH_ERROR_TEXT_MAX + 1];

	c->job = NULL;
	if (result < 0) {
		oc_failed(o, c, result, "token request: %s", detail);
	} else if (resp->status == 200) {
		kw_oauth_token t;
		if (c->inflight)
			oc_crash_point(o, "answer");
		if (kw_oauth_token_parse((const char *)resp->body,
		                         resp->body_len, &t, why,
		                         sizeof(why)) < 0) {
			oc_failed(o, c, KW_EPROTO,
			          "the token endpoint's answer: %s", why);
		} else {
			oc_got_token(o, c, &t);
			kw_oauth_token_clear(&t);
		}
	} else {
		kw_oauth_error e;
		char line[120];
		bool oauth_err = kw_oauth_error_parse((const char *)resp->body,
		                                      resp->body_len, &e) == 0;
		httpc_first_line(resp->body, resp->body_len, line,
		                 sizeof(line));
		if (oauth_err && strcmp(e.error, "invalid_grant") == 0 &&
		    c->grant != OAUTH_GRANT_CLIENT_CREDENTIALS) {
			snprintf(
				why, sizeof(why),
				"the token endpoint answered invalid_grant%s%.120s",
				e.description[0] ? ": " : "", e.description);
			oc_needs_reauth(o, c, why);
		} else if (oauth_err) {
			oc_failed(o, c, KW_ESTATE,
			          "the token endpoint refused: HTTP %u, %s%s%s",
			          resp->status, e.error,
			          e.description[0] ? ": " : "", e.description);
		} else {
			oc_failed(o, c, KW_ESTATE,
			          "the token endpoint answered HTTP %u%s%s",
			          resp->status, line[0] ? ": " : "", line);
		}
	}
	oc_recompute_due(o);
}

/* The request. */

int oc_form_common(kw_form *f, const oauth_doc *d)
{
	int r = 0;

	if (d->scope[0])
		r = kw_form_add(f, "scope", d->scope, strlen(d->scope));
	return r < 0 ? r : oc_form_client(f, d);
}

int oc_form_client(kw_form *f, const oauth_doc *d)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < d->nresources; i++)
		r = kw_form_add(f, "resource", d->resources[i],
		                strlen(d->resources[i]));
	if (r == 0 && d->auth != OAUTH_AUTH_BASIC)
		r = kw_form_add(f, "client_id", d->client_id,
		                strlen(d->client_id));
	if (r == 0 && d->auth == OAUTH_AUTH_POST)
		r = kw_form_add(f, "client_secret", d->client_secret,
		                strlen(d->client_secret));
	return r;
}

/* POST form f to url for d, with its client authentication. */
int oc_post_form(oauth *o, const oauth_doc *d, const char *url,
                 const kw_form *f, httpc_done done, void *arg,
                 httpc_job **ret_job)
{
	char *basic = NULL;
	int r = 0;

	if (d->auth == OAUTH_AUTH_BASIC)
		r = kw_oauth_basic(d->client_id, d->client_secret,
		                   strlen(d->client_secret), &basic);
	if (r < 0)
		return r;
	const char *headers[3] = {
		"Content-Type: application/x-www-form-urlencoded",
		"Accept: application/json",
		basic,
	};
	const httpc_request req = {
		.method = "POST",
		.url = url,
		.headers = headers,
		.nheaders = basic ? 3 : 2,
		.body = f->buf,
		.body_len = f->len,
		.response_max = OAUTH_RESPONSE_MAX,
		.allow_private = d->allow_private,
		.allow_insecure = d->allow_insecure,
		.private_hint = "the credential needs --allow-private",
		.insecure_hint = "the credential needs --allow-insecure",
		.timeout_ms = (int)o->h.cfg->oauth_timeout * 1000,
	};
	r = o->net ? httpc_start(o->net, &req, done, arg, ret_job) : KW_EIO;
	kw_wipefree_str(basic);
	return r;
}

/* Send d's token request for c. */
static int send_request(oauth *o, struct cred *c, const oauth_doc *d)
{
	kw_form f = { 0 };
	int r;

	if (d->grant == OAUTH_GRANT_CLIENT_CREDENTIALS) {
		r = kw_form_add(&f, "grant_type", "client_credentials", 18);
	} else {
		r = kw_form_add(&f, "grant_type", "refresh_token", 13);
		if (r == 0)
			r = kw_form_add(&f, "refresh_token", d->refresh_token,
			                strlen(d->refresh_token));
	}
	if (r == 0)
		r = oc_form_common(&f, d);
	if (r == 0)
		r = oc_post_form(o, d, d->token_url, &f, oc_on_token, c,
		                 &c->job);
	kw_form_free(&f);
	return r;
}

/* Start c's request: mark first where a refresh token is spent. */
static void start(oauth *o, struct cred *c)
{
	oauth_doc d;
	int r;

	if (!o->net) {
		oc_failed(o, c, KW_EIO, "%s", o->net_why);
		return;
	}
	if ((r = oc_doc_get(o, c->name, &d)) < 0) {
		oc_failed(o, c, r, "cannot read the credential: %s",
		          kw_strerror(r));
		return;
	}
	if (d.grant != OAUTH_GRANT_CLIENT_CREDENTIALS && !d.refresh_token) {
		oauth_doc_clear(&d);
		oc_failed(o, c, KW_ESTATE,
		          "no refresh token: log in first (keyward oauth login "
		          "%s)",
		          c->name);
		c->next_refresh = 0;
		return;
	}
	if (d.grant != OAUTH_GRANT_CLIENT_CREDENTIALS && !d.inflight) {
		/* The mark must be durable before the token is spent. */
		d.inflight = clock_now();
		r = o->h.batch(o->h.ctx);
		if (r == 0)
			r = oc_doc_put(o, c->name, &d);
		oauth_doc_clear(&d);
		if (r == 0)
			oc_crash_point(o, "mark");
		if (r < 0) {
			o->h.batch_fail(o->h.ctx, r);
			oc_failed(o, c, r, "cannot record the request: %s",
			          kw_strerror(r));
			return;
		}
		c->inflight = clock_now();
		c->send_after_commit = true;
		return;
	}
	r = send_request(o, c, &d);
	bool refresh = d.grant != OAUTH_GRANT_CLIENT_CREDENTIALS;
	oauth_doc_clear(&d);
	if (r == 0 && refresh)
		oc_crash_point(o, "sent");
	if (r < 0)
		oc_failed(o, c, r, "cannot send the token request: %s",
		          kw_strerror(r));
}

/* Loading. */

static int load_one(void *arg, const char *name)
{
	oauth *o = arg;
	oauth_doc d;
	int r = oc_doc_get(o, name, &d);

	if (r < 0) {
		log_error("oauth %s: cannot read the credential (%s); it is "
		          "not served",
		          name, kw_strerror(r));
		return 0;
	}
	struct cred *c = o->n < OAUTH_CREDS_MAX ? insert(o, name) : NULL;
	if (c)
		cred_from_doc(o, c, &d, clock_now());
	oauth_doc_clear(&d);
	return c ? 0 : KW_ENOMEM;
}

static void load(oauth *o)
{
	int r = store_oauth_names(oc_st(o), load_one, o);
	if (r < 0) {
		log_error("cannot load the OAuth credentials: %s",
		          kw_strerror(r));
		oauth_unload(o);
		return;
	}
	o->loaded = true;
	oc_recompute_due(o);
}

/* The engine. */

#if KW_TEST_HOOKS
void oc_crash_point(oauth *o, const char *at)
{
	if (!o->crash_at[0] || strcmp(o->crash_at, at) != 0)
		return;
	if (strcmp(at, "commit") == 0) {
		o->crash_armed = true;
		return;
	}
	log_warn("KEYWARD_TEST_OAUTH_CRASH: dying at %s", at);
	raise(SIGKILL);
}
#endif

int oauth_new(const rotate_host *host, oauth **ret_oauth)
{
	if (!host || !ret_oauth)
		return KW_EINVAL;
	oauth *o = calloc(1, sizeof(*o));
	if (!o)
		return KW_ENOMEM;
	o->h = *host;
	if (discovery_new(host->cfg, &o->disc) < 0) {
		free(o);
		return KW_ENOMEM;
	}
	snprintf(o->net_why, sizeof(o->net_why), "keyward-net is not running");
#if KW_TEST_HOOKS
	const char *crash = getenv("KEYWARD_TEST_OAUTH_CRASH");
	if (crash && *crash) {
		snprintf(o->crash_at, sizeof(o->crash_at), "%s", crash);
		log_warn("OAuth crash hook armed (KEYWARD_TEST_OAUTH_CRASH=%s);"
		         " never in production",
		         o->crash_at);
	}
#endif
	*ret_oauth = o;
	return 0;
}

void oauth_unload(oauth *o)
{
	if (!o)
		return;
	while (o->n > 0)
		drop(o, o->creds[o->n - 1]);
	o->loaded = false;
	o->next_due = 0;
	o->nnotices = 0;
}

void oauth_free(oauth *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < o->n; i++)
		cred_free(o->creds[i]);
	free(o->creds);
	free(o->orphans);
	discovery_free(o->disc);
	free(o);
}

discovery *oauth_discovery(oauth *o)
{
	return o ? o->disc : NULL;
}

void oauth_set_net(oauth *o, httpc *net, const char *why)
{
	o->net = net;
	discovery_set_net(o->disc, net);
	snprintf(o->net_why, sizeof(o->net_why), "%s",
	         net           ? "" :
	         why && why[0] ? why :
	                         "keyward-net is not running");
}

void oauth_tick(oauth *o)
{
	if (!o)
		return;
	discovery_tick(o->disc);
	if (!oc_dk(o) || !oc_st(o)) {
		if (o->loaded || o->n)
			oauth_unload(o);
		wake_orphans(o); /* they hear that the agent is locked */
		return;
	}
	wake_orphans(o);
	if (!o->loaded)
		load(o);
	oc_flow_tick(o, loop_now_ms());
	int64_t now = clock_now();
	if (o->next_due && now >= o->next_due && !*o->h.stopping) {
		for (size_t i = 0; i < o->n; i++) {
			struct cred *c = o->creds[i];
			int64_t due = cred_due(c);
			if (due && now >= due)
				start(o, c);
		}
		oc_recompute_due(o);
	}
	if (o->wake_due) {
		o->wake_due = false;
		/* A woken caller may add or remove credentials: look the
		 * next one up by name each time. */
		char name[KW_NAME_MAX + 1] = "";
		for (;;) {
			bool found = false;
			size_t i = o->n ? find_at(o, name, &found) : 0;
			if (found && i < o->n)
				i++;
			while (i < o->n && !o->creds[i]->wake_due)
				i++;
			if (i >= o->n)
				break;
			snprintf(name, sizeof(name), "%s", o->creds[i]->name);
			run_wakes(o->creds[i]);
		}
	}
}

void oauth_settled(oauth *o, bool committed)
{
	if (!o)
		return;
	bool dirty = o->dirty;
	o->dirty = false;
	if (committed) {
		for (size_t i = 0; i < o->nnotices; i++) {
			struct notice *n = &o->notices[i];
			if (n->reauth && o->h.reauth)
				o->h.reauth(o->h.ctx, n->name);
			else if (!n->reauth)
				o->h.rotated(o->h.ctx, n->name, n->version,
				             n->previous, "oauth-refresh");
		}
	}
	o->nnotices = 0;
#if KW_TEST_HOOKS
	if (committed && o->crash_armed) {
		log_warn("KEYWARD_TEST_OAUTH_CRASH: dying after the commit");
		raise(SIGKILL);
	}
#endif
	if (!committed && dirty) {
		/* What the table says may not be what the store kept. */
		log_warn("a batch holding OAuth credential changes was not "
		         "kept; reloading them");
		oauth_unload(o);
		return;
	}
	for (size_t i = 0; i < o->n; i++) {
		struct cred *c = o->creds[i];
		if (!c->send_after_commit)
			continue;
		c->send_after_commit = false;
		start(o, c); /* the mark is durable: now it is sent */
	}
	oc_recompute_due(o);
}

bool oauth_is_managed(const oauth *o, const char *name)
{
	return o && o->n > 0 && oc_find(o, name) != NULL;
}

int oc_add_waiter(struct cred *c, oauth_wake wake, void *who)
{
	for (size_t i = 0; i < c->nwaiters; i++) {
		if (c->waiters[i].who == who)
			return 0;
	}
	if (c->nwaiters == OAUTH_WAITERS_MAX)
		return KW_ELIMIT;
	if (c->nwaiters == c->capwaiters) {
		size_t cap = c->capwaiters ? 2 * c->capwaiters : 4;
		struct waiter *p = realloc(c->waiters, cap * sizeof(*p));
		if (!p)
			return KW_ENOMEM;
		c->waiters = p;
		c->capwaiters = cap;
	}
	c->waiters[c->nwaiters++] = (struct waiter){ who, wake };
	return 0;
}

/* Why c has no token to give. */
static int no_token(const struct cred *c, char *why, size_t whysz)
{
	if (c->state == OAUTH_STATE_REAUTH)
		snprintf(why, whysz,
		         "the OAuth credential needs a new login (%s): "
		         "keyward oauth login %s",
		         c->last_error, c->name);
	else if (c->state == OAUTH_STATE_NEW &&
	         c->grant != OAUTH_GRANT_CLIENT_CREDENTIALS && !c->has_refresh)
		snprintf(why, whysz,
		         "the OAuth credential has no token yet: keyward "
		         "oauth login %s",
		         c->name);
	else if (c->failing)
		snprintf(why, whysz,
		         "the OAuth credential has no valid access token: %s",
		         c->last_error);
	else
		snprintf(why, whysz,
		         "the OAuth credential has no valid access token");
	return KW_ESTATE;
}

/* Can a request for c start (or is one on its way)? */
static bool can_ask(const struct cred *c, int64_t now)
{
	if (c->job || c->send_after_commit)
		return true;
	if (c->state == OAUTH_STATE_REAUTH)
		return false;
	if (c->grant != OAUTH_GRANT_CLIENT_CREDENTIALS && !c->has_refresh)
		return false;
	return !c->failing || now >= c->retry_at;
}

/* waiter waits for c's request, started now if none is on its way: 1, or
 * KW_ELIMIT / KW_ENOMEM with why. */
static int wait_for_request(oauth *o, struct cred *c, oauth_wake wake,
                            void *waiter, int64_t now, char *why, size_t whysz)
{
	int r = oc_add_waiter(c, wake, waiter);
	if (r < 0) {
		snprintf(why, whysz,
		         "too many callers wait for this credential's token");
		return r;
	}
	if (!c->job && !c->send_after_commit) {
		c->next_refresh = now;
		c->retry_at = 0;
		o->next_due = now;
	}
	return 1;
}

int oauth_check(oauth *o, const char *name, bool replay, oauth_wake wake,
                void *waiter, char *why, size_t whysz)
{
	struct cred *c = o ? oc_find(o, name) : NULL;
	int64_t now = clock_now();

	if (!c)
		return KW_ENOTFOUND;
	if (token_valid(c, now))
		return 0;
	if (replay || !can_ask(c, now))
		return no_token(c, why, whysz);
	return wait_for_request(o, c, wake, waiter, now, why, whysz);
}

int oauth_refresh_now(oauth *o, const char *name, bool replay, oauth_wake wake,
                      void *waiter, char *why, size_t whysz)
{
	struct cred *c = o ? oc_find(o, name) : NULL;
	int64_t now = clock_now();

	if (!c)
		return KW_ENOTFOUND;
	if (replay)
		return c->last_result == 0 ? 0 : no_token(c, why, whysz);
	if (c->state == OAUTH_STATE_REAUTH ||
	    (c->grant != OAUTH_GRANT_CLIENT_CREDENTIALS && !c->has_refresh))
		return no_token(c, why, whysz);
	return wait_for_request(o, c, wake, waiter, now, why, whysz);
}

void oauth_forget_waiter(oauth *o, void *waiter)
{
	discovery_forget_waiter(o ? o->disc : NULL, waiter);
	for (size_t k = 0; o && k < o->norphans; k++) {
		if (o->orphans[k].who == waiter)
			o->orphans[k--] = o->orphans[--o->norphans];
	}
	for (size_t i = 0; o && i < o->n; i++) {
		struct cred *c = o->creds[i];
		for (size_t k = 0; k < c->nwaiters; k++) {
			if (c->waiters[k].who != waiter)
				continue;
			c->waiters[k] = c->waiters[--c->nwaiters];
			break;
		}
	}
}

static int any_version(const store_version_info *v, void *arg)
{
	(void)v;
	(void)arg;
	return 1;
}

int oauth_add(oauth *o, const oauth_doc *spec, const char *name, char *why,
              size_t whysz)
{
	int r;

	if (!o || !spec || !name)
		return KW_EINVAL;
	if (!o->loaded)
		return KW_ESTATE;
	if ((r = oauth_doc_check(spec, why, whysz)) < 0)
		return r;
	if (oc_find(o, name)) {
		snprintf(why, whysz, "an OAuth credential of that name exists");
		return KW_EEXIST;
	}
	r = store_versions(oc_st(o), name, any_version, NULL);
	if (r == 0 || r == 1) {
		snprintf(why, whysz,
		         "a secret of that name exists; an OAuth credential's "
		         "name is that of the secret holding its tokens");
		return KW_EEXIST;
	}
	if (r != KW_ENOTFOUND)
		return r;
	if (o->n >= OAUTH_CREDS_MAX) {
		snprintf(why, whysz, "the agent manages %u OAuth credentials",
		         OAUTH_CREDS_MAX);
		return KW_ELIMIT;
	}
	oauth_doc d = *spec;
	d.client_secret = NULL;
	d.refresh_token = NULL;
	d.state = OAUTH_STATE_NEW;
	d.inflight = d.last_refresh = d.access_expires = 0;
	d.refresh_expires = 0;
	d.access_version = 0;
	d.granted_scope[0] = d.last_error[0] = '\0';
	d.created = clock_now();
	r = oauth_doc_set_secret(&d.client_secret, spec->client_secret);
	if (r == 0)
		r = oauth_doc_set_secret(&d.refresh_token, spec->refresh_token);
	if (r == 0 && spec->refresh_token)
		d.state = OAUTH_STATE_OK; /* a token given by the caller */
	if (r == 0)
		r = oc_doc_put(o, name, &d);
	struct cred *c = r == 0 ? insert(o, name) : NULL;
	if (r == 0 && !c)
		r = KW_ENOMEM;
	if (c)
		cred_from_doc(o, c, &d, clock_now());
	oauth_doc_clear(&d);
	oc_recompute_due(o);
	return r;
}

int oauth_remove(oauth *o, const char *name)
{
	struct cred *c = o ? oc_find(o, name) : NULL;
	uint32_t versions = 0;
	int r;

	if (!c)
		return KW_ENOTFOUND;
	if ((r = store_oauth_delete(oc_st(o), name)) < 0)
		return r;
	r = store_delete(oc_st(o), name, &versions);
	if (r < 0 && r != KW_ENOTFOUND)
		return r;
	o->dirty = true;
	drop(o, c);
	oc_recompute_due(o);
	return 0;
}

int oauth_set_scope(oauth *o, const char *name, const char *scope, char *why,
                    size_t whysz)
{
	struct cred *c = o ? oc_find(o, name) : NULL;
	oauth_doc d;
	int r;

	if (!c)
		return KW_ENOTFOUND;
	if ((r = oc_doc_get(o, name, &d)) < 0)
		return r;
	if (strlen(scope) >= sizeof(d.scope)) {
		oauth_doc_clear(&d);
		snprintf(why, whysz, "scope is longer than %u bytes",
		         OAUTH_SCOPE_MAX);
		return KW_EINVAL;
	}
	snprintf(d.scope, sizeof(d.scope), "%s", scope);
	r = oauth_doc_check(&d, why, whysz);
	if (r == 0)
		r = oc_doc_put(o, name, &d);
	oauth_doc_clear(&d);
	return r;
}

static const char *state_word(const struct cred *c)
{
	if (c->job || c->send_after_commit)
		return "refreshing";
	switch (c->state) {
	case OAUTH_STATE_REAUTH:
		return "needs-reauth";
	case OAUTH_STATE_NEW:
		return c->failing ? "failing" : "new";
	default:
		return c->failing ? "failing" : "ok";
	}
}

int oauth_list(oauth *o, const char *prefix,
               int (*cb)(void *arg, const oauth_info *info), void *arg)
{
	size_t plen = prefix ? strlen(prefix) : 0;
	oauth_info *info = calloc(1, sizeof(*info));
	int r = 0;

	if (!info)
		return KW_ENOMEM;
	for (size_t i = 0; o && i < o->n && r == 0; i++) {
		struct cred *c = o->creds[i];
		oauth_doc d;
		if (plen && strncmp(c->name, prefix, plen) != 0)
			continue;
		if ((r = oc_doc_get(o, c->name, &d)) < 0)
			break;
		memset(info, 0, sizeof(*info));
		snprintf(info->name, sizeof(info->name), "%s", c->name);
		info->grant = d.grant;
		info->auth = d.auth;
		memcpy(info->client_id, d.client_id, sizeof(info->client_id));
		memcpy(info->token_url, d.token_url, sizeof(info->token_url));
		memcpy(info->scope, d.scope, sizeof(info->scope));
		memcpy(info->granted_scope, d.granted_scope,
		       sizeof(info->granted_scope));
		info->nresources = d.nresources;
		memcpy(info->resources, d.resources, sizeof(info->resources));
		info->allow_private = d.allow_private;
		info->allow_insecure = d.allow_insecure;
		info->has_refresh_token = d.refresh_token != NULL;
		oauth_doc_clear(&d);
		info->state = state_word(c);
		info->access_expires =
			c->access_version ? c->access_expires : 0;
		info->refresh_expires = c->refresh_expires;
		info->last_refresh = c->last_refresh;
		info->next_refresh = cred_due(c);
		info->access_version = c->access_version;
		memcpy(info->last_error, c->last_error,
		       sizeof(info->last_error));
		r = cb(arg, info);
	}
	sodium_memzero(info, sizeof(*info));
	free(info);
	return r;
}
