/*
 * oauth_flow.c - the flows of a managed OAuth credential that involve a
 * user or end it: login with the authorization code and PKCE, login with
 * the device grant, and revocation (oauthcred.h; docs/oauth.md).
 *
 * A login lives in the agent's memory only (struct oauth_login): the
 * PKCE verifier and the state never leave the agent, so the code the
 * CLI's loopback listener receives is useless to anyone else, and a login
 * the agent forgets (a restart) is simply started again. The device code
 * too stays here; the agent polls the token endpoint itself.
 */
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "keyward.h"
#include "log.h"
#include "oauth_int.h"
#include "secmem.h"

#define LOGIN_TTL_MS (10 * 60 * 1000) /* a code login, begun to finished */
#define DEVICE_GRANT "urn:ietf:params:oauth:grant-type:device_code"
#define SLOW_DOWN_S  5 /* RFC 8628 3.5 */

struct oauth_login {
	bool device;
	int64_t expires_ms; /* loop time */
	/* code + PKCE */
	char state[KW_OAUTH_STATE_SIZE];
	char verifier[KW_OAUTH_VERIFIER_SIZE];
	char redirect_uri[OAUTH_URL_MAX + 1];
	bool exchanging; /* the code went to the token endpoint */
	/* device */
	char *device_code; /* kw_wipealloc */
	char user_code[KW_OAUTH_USER_CODE_MAX + 1];
	char verification_uri[KW_OAUTH_URL_MAX + 1];
	char verification_uri_complete[KW_OAUTH_URL_MAX + 1];
	int64_t interval_s, next_poll_ms;
	_Static_assert(
		sizeof(((oauth_device_info *)0)->user_code) >=
				KW_OAUTH_USER_CODE_MAX + 1 &&
			sizeof(((oauth_device_info *)0)->verification_uri) >=
				KW_OAUTH_URL_MAX + 1,
		"oauth_device_info holds what a device answer has");
	bool authorized; /* the device authorization answered */
	/* the end */
	bool done;
	int result;
	char why[OAUTH_ERROR_TEXT_MAX + 1];
};

void oc_login_free(struct oauth_login *l)
{
	if (!l)
		return;
	kw_wipefree_str(l->device_code);
	sodium_memzero(l, sizeof(*l));
	free(l);
}

__attribute__((format(printf, 3, 4))) static void
login_end(struct cred *c, int result, const char *fmt, ...)
{
	struct oauth_login *l = c->login;
	va_list ap;

	if (!l)
		return;
	l->done = true;
	l->result = result;
	l->why[0] = '\0';
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(l->why, sizeof(l->why), fmt, ap);
		va_end(ap);
	}
	for (char *p = l->why; *p; p++) {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	}
	kw_wipefree_str(l->device_code);
	l->device_code = NULL;
	oc_wake_all(c);
}

static bool is_loopback_redirect(const char *uri)
{
	/* http://127.0.0.1:PORT/path or http://[::1]:PORT/path (RFC 8252
	 * 7.3), nothing else: the code must come back to this machine. */
	return (strncmp(uri, "http://127.0.0.1:", 17) == 0 ||
	        strncmp(uri, "http://[::1]:", 13) == 0) &&
	       kw_oauth_url_check(uri, NULL, 0) == 0;
}

static int new_login(struct cred *c, bool device)
{
	oc_login_free(c->login);
	c->login = calloc(1, sizeof(*c->login));
	if (!c->login)
		return KW_ENOMEM;
	c->login->device = device;
	c->login->expires_ms = loop_now_ms() + LOGIN_TTL_MS;
	return 0;
}

/* Code + PKCE. */

int oauth_login_begin(oauth *o, const char *name, const char *redirect_uri,
                      char **ret_url, char *why, size_t whysz)
{
	struct cred *c = o ? oc_find(o, name) : NULL;
	char challenge[KW_OAUTH_PKCE_CHALLENGE_SIZE];
	oauth_doc d;
	int r;

	if (!c)
		return KW_ENOTFOUND;
	if (c->grant != OAUTH_GRANT_AUTHORIZATION_CODE) {
		snprintf(why, whysz,
		         "the credential's grant is %s, not "
		         "authorization_code",
		         oauth_grant_name(c->grant));
		return KW_ESTATE;
	}
	if (!is_loopback_redirect(redirect_uri) ||
	    strlen(redirect_uri) > OAUTH_URL_MAX) {
		snprintf(why, whysz,
		         "redirect_uri must be http://127.0.0.1:PORT/... or "
		         "http://[::1]:PORT/...");
		return KW_EINVAL;
	}
	if ((r = oc_doc_get(o, name, &d)) < 0) {
		snprintf(why, whysz, "cannot read the credential: %s",
		         kw_strerror(r));
		return r;
	}
	if ((r = new_login(c, false)) < 0)
		goto out;
	struct oauth_login *l = c->login;
	snprintf(l->redirect_uri, sizeof(l->redirect_uri), "%s", redirect_uri);
	if ((r = kw_oauth_pkce(l->verifier, challenge)) < 0 ||
	    (r = kw_oauth_random_state(l->state)) < 0)
		goto out;
	const char *res[OAUTH_RESOURCES_MAX];
	for (size_t i = 0; i < d.nresources; i++)
		res[i] = d.resources[i];
	r = kw_oauth_authorize_url(d.authorize_url, d.client_id, redirect_uri,
	                           d.scope[0] ? d.scope : NULL, res,
	                           d.nresources, l->state, challenge, ret_url);
	if (r < 0)
		snprintf(why, whysz, "cannot build the authorization URL: %s",
		         kw_strerror(r));
out:
	oauth_doc_clear(&d);
	sodium_memzero(challenge, sizeof(challenge));
	if (r < 0) {
		oc_login_free(c->login);
		c->login = NULL;
	}
	return r;
}

/* The token endpoint's answer to the code or a device poll: as a
 * refresh's, then the login ends with it. */
static void on_exchanged(void *arg, int result, const char *detail,
                         const httpc_response *resp)
{
	struct cred *c = arg;

	oc_on_token(arg, result, detail, resp);
	if (c->last_result == 0 && c->state == OAUTH_STATE_OK)
		login_end(c, 0, NULL);
	else
		login_end(c, c->last_result ? c->last_result : KW_ESTATE, "%s",
		          c->last_error);
}

static bool same_text(const char *a, const char *b)
{
	size_t n = strlen(a);
	return n == strlen(b) && n > 0 && sodium_memcmp(a, b, n) == 0;
}

/* The code's checks; 0 or a KW_E* code with why. */
static int check_redirect(const struct oauth_login *l, const oauth_doc *d,
                          const char *state, const char *iss, char *why,
                          size_t whysz)
{
	if (!state || !same_text(state, l->state)) {
		snprintf(why, whysz,
		         "the redirect's state is not the one this login "
		         "sent: the login was not this one; start again");
		return KW_EDENIED;
	}
	if (d->iss_parameter && !iss) {
		snprintf(why, whysz,
		         "the authorization server sends iss with its answer "
		         "(RFC 9207), and this redirect has none");
		return KW_EDENIED;
	}
	if (iss && d->issuer[0] && strcmp(iss, d->issuer) != 0) {
		snprintf(why, whysz,
		         "the redirect comes from issuer %.80s, not %.80s "
		         "(RFC 9207): refused",
		         iss, d->issuer);
		return KW_EDENIED;
	}
	return 0;
}

int oauth_login_finish(oauth *o, const char *name, const char *code,
                       const char *state, const char *iss, bool replay,
                       oauth_wake wake, void *waiter, char *why, size_t whysz)
{
	struct cred *c = o ? oc_find(o, name) : NULL;
	struct oauth_login *l = c ? c->login : NULL;
	kw_form f = { 0 };
	oauth_doc d;
	int r;

	if (!c)
		return KW_ENOTFOUND;
	if (replay && l && l->done) {
		snprintf(why, whysz, "%s", l->why);
		r = l->result;
		oc_login_free(l);
		c->login = NULL;
		return r;
	}
	if (!l || l->device || l->done || replay ||
	    loop_now_ms() > l->expires_ms) {
		snprintf(why, whysz,
		         "no login of this credential is waiting for a code "
		         "(it took longer than 10 minutes, or the agent "
		         "restarted): keyward oauth login %s",
		         name);
		return KW_ESTATE;
	}
	if (l->exchanging)
		return oc_add_waiter(c, wake, waiter) < 0 ? KW_ELIMIT : 1;
	if ((r = oc_doc_get(o, name, &d)) < 0) {
		snprintf(why, whysz, "cannot read the credential: %s",
		         kw_strerror(r));
		return r;
	}
	r = check_redirect(l, &d, state, iss, why, whysz);
	if (r == 0)
		r = kw_form_add(&f, "grant_type", "authorization_code", 18);
	if (r == 0)
		r = kw_form_add(&f, "code", code, strlen(code));
	if (r == 0)
		r = kw_form_add(&f, "redirect_uri", l->redirect_uri,
		                strlen(l->redirect_uri));
	if (r == 0)
		r = kw_form_add(&f, "code_verifier", l->verifier,
		                strlen(l->verifier));
	if (r == 0)
		r = oc_form_client(&f, &d);
	if (r == 0 && c->job)
		httpc_cancel(c->job); /* a refresh: the code wins */
	if (r == 0)
		r = oc_post_form(o, &d, d.token_url, &f, on_exchanged, c,
		                 &c->job);
	oauth_doc_clear(&d);
	kw_form_free(&f);
	if (r == KW_EDENIED) {
		log_warn("oauth %s: login refused: %s", name, why);
		oc_login_free(l);
		c->login = NULL;
		return r;
	}
	if (r < 0) {
		if (!why[0])
			snprintf(why, whysz, "cannot send the code: %s",
			         kw_strerror(r));
		return r;
	}
	l->exchanging = true;
	sodium_memzero(l->state, sizeof(l->state)); /* one use */
	return oc_add_waiter(c, wake, waiter) < 0 ? KW_ELIMIT : 1;
}

/* The device grant (RFC 8628). */

static void send_poll(oauth *o, struct cred *c);

static void on_device(void *arg, int result, const char *detail,
                      const httpc_response *resp)
{
	struct cred *c = arg;
	struct oauth_login *l = c->login;
	char why[160];

	c->job = NULL;
	if (!l)
		return;
	if (result < 0) {
		login_end(c, result, "the device authorization request: %s",
		          detail);
		return;
	}
	if (resp->status != 200) {
		kw_oauth_error e;
		if (kw_oauth_error_parse((const char *)resp->body,
		                         resp->body_len, &e) == 0)
			login_end(c, KW_ESTATE,
			          "the device authorization endpoint refused: "
			          "HTTP %u, %s%s%.100s",
			          resp->status, e.error,
			          e.description[0] ? ": " : "", e.description);
		else
			login_end(c, KW_ESTATE,
			          "the device authorization endpoint answered "
			          "HTTP %u",
			          resp->status);
		return;
	}
	kw_oauth_device dv;
	if (kw_oauth_device_parse((const char *)resp->body, resp->body_len, &dv,
	                          why, sizeof(why)) < 0) {
		login_end(c, KW_EPROTO,
		          "the device authorization endpoint's answer: %s",
		          why);
		return;
	}
	l->device_code = dv.device_code;
	dv.device_code = NULL;
	snprintf(l->user_code, sizeof(l->user_code), "%s", dv.user_code);
	memcpy(l->verification_uri, dv.verification_uri,
	       sizeof(l->verification_uri));
	memcpy(l->verification_uri_complete, dv.verification_uri_complete,
	       sizeof(l->verification_uri_complete));
	l->interval_s = dv.interval;
	l->expires_ms = loop_now_ms() + dv.expires_in * 1000;
	l->next_poll_ms = loop_now_ms() + l->interval_s * 1000;
	l->authorized = true;
	kw_oauth_device_clear(&dv);
	oc_wake_all(c); /* the codes can be shown */
}

static void on_poll(void *arg, int result, const char *detail,
                    const httpc_response *resp)
{
	struct cred *c = arg;
	struct oauth_login *l = c->login;
	kw_oauth_error e;

	if (!l || l->done) {
		c->job = NULL;
		return;
	}
	if (result == 0 && resp->status != 200 &&
	    kw_oauth_error_parse((const char *)resp->body, resp->body_len,
	                         &e) == 0) {
		if (strcmp(e.error, "authorization_pending") == 0 ||
		    strcmp(e.error, "slow_down") == 0) {
			c->job = NULL;
			if (e.error[0] == 's')
				l->interval_s += SLOW_DOWN_S;
			l->next_poll_ms = loop_now_ms() + l->interval_s * 1000;
			return;
		}
		if (strcmp(e.error, "access_denied") == 0) {
			c->job = NULL;
			login_end(c, KW_EDENIED, "the user denied the login");
			return;
		}
		if (strcmp(e.error, "expired_token") == 0) {
			c->job = NULL;
			login_end(c, KW_ETIMEOUT,
			          "the device code expired before the login; "
			          "start again");
			return;
		}
	}
	on_exchanged(arg, result, detail, resp);
}

static void send_poll(oauth *o, struct cred *c)
{
	struct oauth_login *l = c->login;
	kw_form f = { 0 };
	oauth_doc d;
	int r = oc_doc_get(o, c->name, &d);

	if (r < 0) {
		login_end(c, r, "cannot read the credential: %s",
		          kw_strerror(r));
		return;
	}
	r = kw_form_add(&f, "grant_type", DEVICE_GRANT, strlen(DEVICE_GRANT));
	if (r == 0)
		r = kw_form_add(&f, "device_code", l->device_code,
		                strlen(l->device_code));
	if (r == 0)
		r = oc_form_client(&f, &d);
	if (r == 0)
		r = oc_post_form(o, &d, d.token_url, &f, on_poll, c, &c->job);
	oauth_doc_clear(&d);
	kw_form_free(&f);
	if (r < 0)
		login_end(c, r, "cannot poll the token endpoint: %s",
		          kw_strerror(r));
}

void oc_flow_tick(oauth *o, int64_t now_ms)
{
	for (size_t i = 0; i < o->n; i++) {
		struct cred *c = o->creds[i];
		struct oauth_login *l = c->login;
		if (!l || l->done || c->job)
			continue;
		if (now_ms > l->expires_ms) {
			login_end(c, KW_ETIMEOUT,
			          l->device ?
			                  "the device code expired before "
			                  "the login; start again" :
			                  "the login was not finished within "
			                  "10 minutes");
			continue;
		}
		if (l->device && l->authorized && now_ms >= l->next_poll_ms)
			send_poll(o, c);
	}
}

int oauth_device_begin(oauth *o, const char *name, bool replay, oauth_wake wake,
                       void *waiter, oauth_device_info *ret, char *why,
                       size_t whysz)
{
	struct cred *c = o ? oc_find(o, name) : NULL;
	struct oauth_login *l = c ? c->login : NULL;
	kw_form f = { 0 };
	oauth_doc d;
	int r;

	if (!c)
		return KW_ENOTFOUND;
	if (replay) {
		if (l && l->device && l->authorized) {
			memset(ret, 0, sizeof(*ret));
			memcpy(ret->user_code, l->user_code,
			       sizeof(ret->user_code));
			memcpy(ret->verification_uri, l->verification_uri,
			       sizeof(ret->verification_uri));
			memcpy(ret->verification_uri_complete,
			       l->verification_uri_complete,
			       sizeof(ret->verification_uri_complete));
			ret->expires_in =
				(l->expires_ms - loop_now_ms()) / 1000;
			ret->interval = l->interval_s;
			return 0;
		}
		snprintf(why, whysz, "%s",
		         l && l->done ? l->why : "the device login ended");
		return l && l->done && l->result < 0 ? l->result : KW_ESTATE;
	}
	if (c->grant != OAUTH_GRANT_DEVICE_CODE &&
	    c->grant != OAUTH_GRANT_AUTHORIZATION_CODE) {
		snprintf(why, whysz,
		         "the credential's grant is %s: it has no login",
		         oauth_grant_name(c->grant));
		return KW_ESTATE;
	}
	if ((r = oc_doc_get(o, name, &d)) < 0) {
		snprintf(why, whysz, "cannot read the credential: %s",
		         kw_strerror(r));
		return r;
	}
	if (!d.device_url[0]) {
		oauth_doc_clear(&d);
		snprintf(why, whysz,
		         "the credential has no device authorization "
		         "endpoint (--device-url, or --issuer of a server "
		         "that has one)");
		return KW_ESTATE;
	}
	if ((r = new_login(c, true)) == 0)
		r = d.scope[0] ?
		            kw_form_add(&f, "scope", d.scope, strlen(d.scope)) :
		            0;
	if (r == 0)
		r = oc_form_client(&f, &d);
	if (r == 0 && c->job)
		httpc_cancel(c->job);
	if (r == 0)
		r = oc_post_form(o, &d, d.device_url, &f, on_device, c,
		                 &c->job);
	oauth_doc_clear(&d);
	kw_form_free(&f);
	if (r < 0) {
		snprintf(why, whysz,
		         "cannot send the device authorization request: %s",
		         kw_strerror(r));
		oc_login_free(c->login);
		c->login = NULL;
		return r;
	}
	return oc_add_waiter(c, wake, waiter) < 0 ? KW_ELIMIT : 1;
}

int oauth_login_wait(oauth *o, const char *name, bool replay, oauth_wake wake,
                     void *waiter, char *why, size_t whysz)
{
	struct cred *c = o ? oc_find(o, name) : NULL;
	struct oauth_login *l = c ? c->login : NULL;
	int r;

	if (!c)
		return KW_ENOTFOUND;
	if (l && l->done) {
		snprintf(why, whysz, "%s", l->why);
		r = l->result;
		oc_login_free(l);
		c->login = NULL;
		return r;
	}
	if (!l) {
		snprintf(why, whysz, "no login of this credential is going on");
		return KW_ESTATE;
	}
	/* Also on a replay: each wake is a step of the login (the codes
	 * shown, a poll), and it ends within its expiry. */
	(void)replay;
	return oc_add_waiter(c, wake, waiter) < 0 ? KW_ELIMIT : 1;
}

/* Revocation (RFC 7009). */

static void on_revoked(void *arg, int result, const char *detail,
                       const httpc_response *resp)
{
	struct cred *c = arg;
	char line[64];

	c->revoke_job = NULL;
	if (result < 0) {
		snprintf(c->revoke_detail, sizeof(c->revoke_detail),
		         "the revocation request failed (%.80s); the tokens "
		         "were forgotten here but may still be valid",
		         detail);
	} else if (resp->status == 200) {
		snprintf(c->revoke_detail, sizeof(c->revoke_detail),
		         "revoked at the revocation endpoint");
	} else {
		httpc_first_line(resp->body, resp->body_len, line,
		                 sizeof(line));
		snprintf(c->revoke_detail, sizeof(c->revoke_detail),
		         "the revocation endpoint answered HTTP %u%s%s; the "
		         "tokens were forgotten here but may still be valid",
		         resp->status, line[0] ? ": " : "", line);
	}
	oc_wake_all(c);
}

/* Start revoking d's refresh token, or else its access token. 1 if a
 * request was started, 0 if there is nothing to ask (why says so). */
static int revoke_start(oauth *o, struct cred *c, const oauth_doc *d)
{
	store_value *v = NULL;
	kw_form f = { 0 };
	const char *hint = "refresh_token";
	int r;

	if (!d->revocation_url[0]) {
		snprintf(c->revoke_detail, sizeof(c->revoke_detail),
		         "no revocation endpoint: the tokens were forgotten "
		         "here but may still be valid until they expire");
		return 0;
	}
	if (d->refresh_token) {
		r = kw_form_add(&f, "token", d->refresh_token,
		                strlen(d->refresh_token));
	} else {
		r = store_get(oc_st(o), oc_dk(o), c->name, 0, NULL, &v);
		if (r == KW_ENOTFOUND) {
			snprintf(c->revoke_detail, sizeof(c->revoke_detail),
			         "there was no token to revoke");
			return 0;
		}
		hint = "access_token";
		if (r == 0)
			r = kw_form_add(&f, "token", (const char *)v->value,
			                v->len);
		store_value_free(v);
	}
	if (r == 0)
		r = kw_form_add(&f, "token_type_hint", hint, strlen(hint));
	if (r == 0)
		r = oc_form_common(&f, d);
	if (r == 0)
		r = oc_post_form(o, d, d->revocation_url, &f, on_revoked, c,
		                 &c->revoke_job);
	kw_form_free(&f);
	return r < 0 ? r : 1;
}

int oauth_revoke(oauth *o, const char *name, bool replay, oauth_wake wake,
                 void *waiter, char *why, size_t whysz)
{
	struct cred *c = o ? oc_find(o, name) : NULL;
	oauth_doc d;
	int r;

	if (!c)
		return KW_ENOTFOUND;
	if (replay || (c->revoking && !c->revoke_job)) {
		snprintf(why, whysz, "%s", c->revoke_detail);
		return oauth_remove(o, name);
	}
	if (c->revoking)
		return oc_add_waiter(c, wake, waiter) < 0 ? KW_ELIMIT : 1;
	if ((r = oc_doc_get(o, name, &d)) < 0) {
		snprintf(why, whysz, "cannot read the credential: %s",
		         kw_strerror(r));
		return r;
	}
	httpc_cancel(c->job); /* no new token while the old ones go */
	c->job = NULL;
	c->send_after_commit = false;
	r = revoke_start(o, c, &d);
	oauth_doc_clear(&d);
	if (r < 0) {
		snprintf(why, whysz, "cannot send the revocation request: %s",
		         kw_strerror(r));
		return r;
	}
	if (r == 0) {
		snprintf(why, whysz, "%s", c->revoke_detail);
		return oauth_remove(o, name);
	}
	c->revoking = true;
	if ((r = oc_add_waiter(c, wake, waiter)) < 0) {
		snprintf(why, whysz, "too many callers wait");
		return r;
	}
	return 1;
}
