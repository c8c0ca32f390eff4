/*
 * oauth_discover.c - see oauth_discover.h.
 */
#include "oauth_discover.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "keyward.h"
#include "log.h"
#include "secmem.h"

#define WAITERS_MAX 64u

enum entry_kind {
	ENTRY_AS,       /* an issuer's metadata */
	ENTRY_RESOURCE, /* a protected resource's (RFC 9728) */
	ENTRY_REGISTER, /* a dynamic client registration (RFC 7591) */
};

struct entry {
	discovery *d;
	bool used;
	enum entry_kind kind;
	/* AS: the issuer; RESOURCE: the metadata URL; REGISTER: the
	 * registration endpoint */
	char issuer[KW_OAUTH_URL_MAX + 1];
	/* RESOURCE: the resource the document must name; REGISTER: the
	 * redirect URI */
	char expected[KW_OAUTH_URL_MAX + 1];
	char client_name[DISCOVERY_NAME_MAX + 1]; /* REGISTER */
	bool allow_private, allow_insecure;
	/* the fetch */
	httpc_job *job;
	enum kw_oauth_wellknown kinds[KW_OAUTH_WK_COUNT];
	size_t nkinds, at;
	char tried[160]; /* where nothing was found, for the failure */
	/* the result */
	bool done;
	int result;
	char why[256];
	kw_oauth_as_meta *meta;
	kw_oauth_resource_meta *rmeta;
	discovery_client client; /* REGISTER */
	int64_t done_at;
	struct {
		void *who;
		oauth_wake wake;
	} waiters[WAITERS_MAX];
	size_t nwaiters;
	bool wake_due;
};

struct discovery {
	const kw_config *cfg;
	httpc *net;
	struct entry entries[DISCOVERY_ENTRIES_MAX];
	bool wake_due;
};

int discovery_new(const kw_config *cfg, discovery **ret)
{
	discovery *d = calloc(1, sizeof(*d));
	if (!d)
		return KW_ENOMEM;
	d->cfg = cfg;
	for (size_t i = 0; i < DISCOVERY_ENTRIES_MAX; i++)
		d->entries[i].d = d;
	*ret = d;
	return 0;
}

static void entry_clear(struct entry *e)
{
	discovery *d = e->d;
	httpc_cancel(e->job);
	free(e->meta);
	free(e->rmeta);
	sodium_memzero(e, sizeof(*e));
	e->d = d;
}

void discovery_free(discovery *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < DISCOVERY_ENTRIES_MAX; i++)
		entry_clear(&d->entries[i]);
	free(d);
}

void discovery_set_net(discovery *d, httpc *net)
{
	/* Fetches on the old client are gone with it. */
	for (size_t i = 0; i < DISCOVERY_ENTRIES_MAX; i++) {
		struct entry *e = &d->entries[i];
		if (e->used && !e->done) {
			e->job = NULL;
			e->done = true;
			e->result = KW_EIO;
			snprintf(e->why, sizeof(e->why),
			         "keyward-net was restarted during discovery");
			e->done_at = clock_now();
			e->wake_due = e->nwaiters > 0;
			d->wake_due = d->wake_due || e->wake_due;
		}
	}
	d->net = net;
}

void discovery_tick(discovery *d)
{
	if (!d || !d->wake_due)
		return;
	d->wake_due = false;
	for (size_t i = 0; i < DISCOVERY_ENTRIES_MAX; i++) {
		struct entry *e = &d->entries[i];
		if (!e->wake_due)
			continue;
		size_t n = e->nwaiters;
		void *who[WAITERS_MAX];
		oauth_wake wake[WAITERS_MAX];
		for (size_t k = 0; k < n; k++) {
			who[k] = e->waiters[k].who;
			wake[k] = e->waiters[k].wake;
		}
		e->nwaiters = 0;
		e->wake_due = false;
		/* A woken caller may start another discovery (this entry
		 * is not reused while done and kept). */
		for (size_t k = 0; k < n; k++)
			wake[k](who[k]);
	}
}

static void finish(struct entry *e, int result)
{
	e->job = NULL;
	e->done = true;
	e->result = result;
	e->done_at = clock_now();
	if (result < 0)
		log_warn("%s %s failed: %s",
		         e->kind == ENTRY_REGISTER ? "registration at" :
		                                     "discovery of",
		         e->issuer, e->why);
	e->wake_due = e->nwaiters > 0;
	e->d->wake_due = e->d->wake_due || e->wake_due;
}

static void fetch_next(struct entry *e);

static void on_document(void *arg, int result, const char *detail,
                        const httpc_response *resp)
{
	struct entry *e = arg;
	char url[KW_OAUTH_URL_MAX + 1] = "";
	char why[200];

	e->job = NULL;
	if (kw_oauth_well_known(e->issuer, e->kinds[e->at], url, sizeof(url)) <
	    0)
		url[0] = '\0'; /* it was made before the fetch */
	if (result < 0) {
		snprintf(e->why, sizeof(e->why), "fetching %.120s: %s", url,
		         detail);
		finish(e, result);
		return;
	}
	if (resp->status == 200) {
		kw_oauth_as_meta *m = calloc(1, sizeof(*m));
		if (!m) {
			snprintf(e->why, sizeof(e->why), "out of memory");
			finish(e, KW_ENOMEM);
			return;
		}
		int r = kw_oauth_as_meta_parse((const char *)resp->body,
		                               resp->body_len, e->issuer, m,
		                               why, sizeof(why));
		if (r == 0) {
			e->meta = m;
			finish(e, 0);
			return;
		}
		free(m);
		snprintf(e->why, sizeof(e->why),
		         "the metadata at %.90s: %.130s", url, why);
		finish(e, KW_EPROTO);
		return;
	}
	/* Not there: the next location, if any. */
	size_t n = strlen(e->tried);
	snprintf(e->tried + n, sizeof(e->tried) - n, "%sHTTP %u", n ? ", " : "",
	         resp->status);
	e->at++;
	fetch_next(e);
}

static const char *const json_headers[] = { "Accept: application/json" };
static const char *const post_headers[] = { "Accept: application/json",
	                                    "Content-Type: application/json" };

/* Send e's request (GET, or POST of a JSON body) to url; a request that
 * cannot be sent ends e at once, with what it was for in the sentence. */
static void start_request(struct entry *e, const char *method, const char *url,
                          const char *body, httpc_done done, const char *what)
{
	discovery *d = e->d;
	const httpc_request req = {
		.method = method,
		.url = url,
		.headers = body ? post_headers : json_headers,
		.nheaders = body ? 2 : 1,
		.body = body,
		.body_len = body ? strlen(body) : 0,
		.response_max = DISCOVERY_RESPONSE_MAX,
		.allow_private = e->allow_private,
		.allow_insecure = e->allow_insecure,
		.private_hint = "it needs --allow-private",
		.insecure_hint = "it needs --allow-insecure",
		.timeout_ms = (int)d->cfg->oauth_timeout * 1000,
	};
	int r = d->net ? httpc_start(d->net, &req, done, e, &e->job) : KW_EIO;
	if (r < 0) {
		snprintf(e->why, sizeof(e->why), "cannot %s: %s", what,
		         d->net ? kw_strerror(r) :
		                  "keyward-net is not running");
		finish(e, r);
	}
}

static void fetch_next(struct entry *e)
{
	char url[KW_OAUTH_URL_MAX + 1];

	if (e->at >= e->nkinds) {
		snprintf(e->why, sizeof(e->why),
		         "%.80s publishes no authorization server metadata "
		         "(RFC 8414 or OpenID Connect discovery: %.80s)",
		         e->issuer, e->tried);
		finish(e, KW_ENOTFOUND);
		return;
	}
	int r = kw_oauth_well_known(e->issuer, e->kinds[e->at], url,
	                            sizeof(url));
	if (r == 0 && strlen(url) > HTTPC_URL_MAX)
		r = KW_ETOOBIG;
	if (r < 0) {
		snprintf(e->why, sizeof(e->why),
		         "no metadata URL can be made from the issuer: %s",
		         kw_strerror(r));
		finish(e, KW_EINVAL);
		return;
	}
	start_request(e, "GET", url, NULL, on_document, "fetch the metadata");
}

static struct entry *lookup(discovery *d, enum entry_kind kind, const char *url,
                            const char *expected, const char *name, bool priv,
                            bool insecure)
{
	for (size_t i = 0; i < DISCOVERY_ENTRIES_MAX; i++) {
		struct entry *e = &d->entries[i];
		if (e->used && e->kind == kind && e->allow_private == priv &&
		    e->allow_insecure == insecure &&
		    strcmp(e->issuer, url) == 0 &&
		    strcmp(e->expected, expected) == 0 &&
		    strcmp(e->client_name, name) == 0)
			return e;
	}
	return NULL;
}

static bool expired(const struct entry *e, int64_t now)
{
	int64_t keep =
		e->result == 0 ? DISCOVERY_KEEP_S : DISCOVERY_FAIL_KEEP_S;
	return e->done && e->nwaiters == 0 && now - e->done_at >= keep;
}

/* A free slot: an unused one, else the oldest kept result nobody waits
 * for. */
static struct entry *slot(discovery *d, int64_t now)
{
	struct entry *best = NULL;
	for (size_t i = 0; i < DISCOVERY_ENTRIES_MAX; i++) {
		struct entry *e = &d->entries[i];
		if (!e->used)
			return e;
		if (e->done && e->nwaiters == 0 && !e->wake_due &&
		    (!best || e->done_at < best->done_at))
			best = e;
	}
	(void)now;
	if (best)
		entry_clear(best);
	return best;
}

static int add_waiter(struct entry *e, oauth_wake wake, void *who)
{
	if (e->nwaiters == WAITERS_MAX)
		return KW_ELIMIT;
	e->waiters[e->nwaiters].who = who;
	e->waiters[e->nwaiters].wake = wake;
	e->nwaiters++;
	return 1;
}

void discovery_forget_waiter(discovery *d, void *waiter)
{
	for (size_t i = 0; d && i < DISCOVERY_ENTRIES_MAX; i++) {
		struct entry *e = &d->entries[i];
		for (size_t k = 0; k < e->nwaiters; k++) {
			if (e->waiters[k].who != waiter)
				continue;
			e->waiters[k] = e->waiters[--e->nwaiters];
			break;
		}
	}
}

/* Protected resource metadata (RFC 9728) and dynamic registration (RFC
 * 7591): one request each, kept like an issuer's metadata. */

static void on_resource(void *arg, int result, const char *detail,
                        const httpc_response *resp)
{
	struct entry *e = arg;
	char why[200];

	e->job = NULL;
	if (result < 0) {
		snprintf(e->why, sizeof(e->why), "fetching %.120s: %s",
		         e->issuer, detail);
		finish(e, result);
		return;
	}
	if (resp->status != 200) {
		snprintf(e->why, sizeof(e->why),
		         "the protected resource metadata at %.120s: HTTP %u",
		         e->issuer, resp->status);
		finish(e, KW_ENOTFOUND);
		return;
	}
	if (!(e->rmeta = calloc(1, sizeof(*e->rmeta)))) {
		finish(e, KW_ENOMEM);
		return;
	}
	int r = kw_oauth_resource_meta_parse((const char *)resp->body,
	                                     resp->body_len, e->expected,
	                                     e->rmeta, why, sizeof(why));
	if (r < 0) {
		free(e->rmeta);
		e->rmeta = NULL;
		snprintf(e->why, sizeof(e->why),
		         "the protected resource metadata at %.80s: %.120s",
		         e->issuer, why);
		finish(e, KW_EPROTO);
		return;
	}
	finish(e, 0);
}

static void on_registered(void *arg, int result, const char *detail,
                          const httpc_response *resp)
{
	struct entry *e = arg;
	char line[100];

	e->job = NULL;
	if (result < 0) {
		snprintf(e->why, sizeof(e->why), "registering at %.120s: %s",
		         e->issuer, detail);
		finish(e, result);
		return;
	}
	if (resp->status != 201 && resp->status != 200) {
		kw_oauth_error er;
		if (kw_oauth_error_parse((const char *)resp->body,
		                         resp->body_len, &er) == 0)
			snprintf(line, sizeof(line), ": %s", er.error);
		else
			line[0] = '\0';
		snprintf(e->why, sizeof(e->why),
		         "the registration endpoint refused: HTTP %u%s",
		         resp->status, line);
		finish(e, KW_ESTATE);
		return;
	}
	int r = discovery_client_parse((const char *)resp->body, resp->body_len,
	                               &e->client, e->why, sizeof(e->why));
	finish(e, r);
}

/* A new entry of kind for url; NULL with why. */
static struct entry *new_entry(discovery *d, enum entry_kind kind,
                               const char *url, const char *expected,
                               const char *name, bool priv, bool insecure,
                               char *why, size_t whysz)
{
	struct entry *e;

	if (kw_oauth_url_check(url, why, whysz) < 0)
		return NULL;
	if (strlen(url) > HTTPC_URL_MAX) {
		snprintf(why, whysz, "the URL is longer than %u bytes",
		         HTTPC_URL_MAX);
		return NULL;
	}
	if (!(e = slot(d, clock_now()))) {
		snprintf(why, whysz, "too many discoveries at once");
		return NULL;
	}
	e->used = true;
	e->kind = kind;
	snprintf(e->issuer, sizeof(e->issuer), "%s", url);
	snprintf(e->expected, sizeof(e->expected), "%s", expected);
	snprintf(e->client_name, sizeof(e->client_name), "%s", name);
	e->allow_private = priv;
	e->allow_insecure = insecure;
	return e;
}

/* What a kept entry answers; 1 if the caller must wait, 2 if there is
 * none (a new one is needed). */
static int kept(struct entry **pe, const char *url, bool replay,
                oauth_wake wake, void *waiter, char *why, size_t whysz)
{
	struct entry *e = *pe;

	if (e && e->done && expired(e, clock_now()) && !replay) {
		entry_clear(e);
		*pe = e = NULL;
	}
	if (e && e->done) {
		if (e->result < 0)
			snprintf(why, whysz, "%s", e->why);
		return e->result;
	}
	if (replay) {
		snprintf(why, whysz, "the answer of %s was not kept; try again",
		         url);
		return KW_ESTATE;
	}
	return e ? add_waiter(e, wake, waiter) : 2;
}

int discovery_resource(discovery *d, const char *url, const char *resource,
                       bool allow_private, bool allow_insecure, bool replay,
                       oauth_wake wake, void *waiter,
                       kw_oauth_resource_meta *ret, char *why, size_t whysz)
{
	struct entry *e = lookup(d, ENTRY_RESOURCE, url, resource, "",
	                         allow_private, allow_insecure);
	int r = kept(&e, url, replay, wake, waiter, why, whysz);

	if (r == 0)
		*ret = *e->rmeta;
	if (r != 2)
		return r;
	if (kw_oauth_url_check(resource, why, whysz) < 0 ||
	    strlen(resource) > KW_OAUTH_URL_MAX)
		return KW_EINVAL;
	e = new_entry(d, ENTRY_RESOURCE, url, resource, "", allow_private,
	              allow_insecure, why, whysz);
	if (!e)
		return KW_EINVAL;
	r = add_waiter(e, wake, waiter);
	start_request(e, "GET", e->issuer, NULL, on_resource,
	              "fetch the metadata");
	return r;
}

int discovery_register(discovery *d, const char *endpoint,
                       const char *redirect_uri, const char *client_name,
                       bool allow_private, bool allow_insecure, bool replay,
                       oauth_wake wake, void *waiter, discovery_client *ret,
                       char *why, size_t whysz)
{
	struct entry *e = lookup(d, ENTRY_REGISTER, endpoint, redirect_uri,
	                         client_name, allow_private, allow_insecure);
	int r = kept(&e, endpoint, replay, wake, waiter, why, whysz);

	if (r == 0) {
		*ret = e->client;
		entry_clear(e); /* one caller's client, given once */
	}
	if (r != 2)
		return r;
	if (strlen(client_name) > DISCOVERY_NAME_MAX ||
	    kw_oauth_url_check(redirect_uri, why, whysz) < 0)
		return KW_EINVAL;
	e = new_entry(d, ENTRY_REGISTER, endpoint, redirect_uri, client_name,
	              allow_private, allow_insecure, why, whysz);
	if (!e)
		return KW_EINVAL;
	json_t *body =
		json_pack("{s:s, s:[s], s:[s, s], s:[s], s:s, s:s}",
	                  "client_name", client_name, "redirect_uris",
	                  redirect_uri, "grant_types", "authorization_code",
	                  "refresh_token", "response_types", "code",
	                  "token_endpoint_auth_method", "none",
	                  "application_type", "native");
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!text) {
		entry_clear(e);
		return KW_ENOMEM;
	}
	r = add_waiter(e, wake, waiter);
	start_request(e, "POST", e->issuer, text, on_registered,
	              "send the registration");
	kw_wipefree(text); /* jansson allocates with kw_wipealloc */
	return r;
}

int discovery_get(discovery *d, const char *issuer, bool allow_private,
                  bool allow_insecure, bool replay, oauth_wake wake,
                  void *waiter, kw_oauth_as_meta *ret, char *why, size_t whysz)
{
	struct entry *e = lookup(d, ENTRY_AS, issuer, "", "", allow_private,
	                         allow_insecure);
	int r = kept(&e, issuer, replay, wake, waiter, why, whysz);

	if (r == 0)
		*ret = *e->meta;
	if (r != 2)
		return r;
	if (strchr(issuer, '?')) {
		snprintf(why, whysz, "an issuer is a URL without a query");
		return KW_EINVAL;
	}
	e = new_entry(d, ENTRY_AS, issuer, "", "", allow_private,
	              allow_insecure, why, whysz);
	if (!e)
		return KW_EINVAL;
	if (kw_oauth_discovery_order(issuer, e->kinds, &e->nkinds) < 0) {
		entry_clear(e);
		snprintf(why, whysz, "the issuer is not a URL keyward uses");
		return KW_EINVAL;
	}
	r = add_waiter(e, wake, waiter);
	fetch_next(e);
	return r;
}

int discovery_client_parse(const char *body, size_t len, discovery_client *ret,
                           char *why, size_t whysz)
{
	json_error_t err;
	json_t *o;
	const char *id;

	if (len > DISCOVERY_RESPONSE_MAX) {
		snprintf(why, whysz, "the registration answer is too large");
		return KW_ETOOBIG;
	}
	o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
	sodium_memzero(&err, sizeof(err));
	if (!json_is_object(o) ||
	    !json_is_string(json_object_get(o, "client_id"))) {
		json_decref(o);
		snprintf(why, whysz,
		         "the registration answer has no client_id (RFC 7591 "
		         "3.2.1)");
		return KW_EPROTO;
	}
	id = json_string_value(json_object_get(o, "client_id"));
	size_t n = strlen(id);
	bool ok = n > 0 && n < sizeof(ret->client_id);
	for (size_t i = 0; ok && i < n; i++)
		ok = id[i] >= 0x21 && id[i] <= 0x7e;
	/* A public client was asked for: a secret given anyway is not
	 * kept, and the client is used as a public one. */
	if (ok)
		memcpy(ret->client_id, id, n + 1);
	json_decref(o);
	if (!ok) {
		snprintf(why, whysz,
		         "the registration answer's client_id is not 1 to %zu "
		         "printable characters",
		         sizeof(ret->client_id) - 1);
		return KW_EPROTO;
	}
	return 0;
}
