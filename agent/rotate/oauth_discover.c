/*
 * oauth_discover.c - see oauth_discover.h.
 */
#include "oauth_discover.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "keyward.h"
#include "log.h"

#define WAITERS_MAX 64u

struct entry {
	discovery *d;
	bool used;
	char issuer[KW_OAUTH_URL_MAX + 1];
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
	memset(e, 0, sizeof(*e));
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
		log_warn("discovery of %s failed: %s", e->issuer, e->why);
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

static void fetch_next(struct entry *e)
{
	discovery *d = e->d;
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
	const char *headers[] = { "Accept: application/json" };
	const httpc_request req = {
		.method = "GET",
		.url = url,
		.headers = headers,
		.nheaders = 1,
		.response_max = DISCOVERY_RESPONSE_MAX,
		.allow_private = e->allow_private,
		.allow_insecure = e->allow_insecure,
		.private_hint = "it needs --allow-private",
		.insecure_hint = "it needs --allow-insecure",
		.timeout_ms = (int)d->cfg->oauth_timeout * 1000,
	};
	r = d->net ? httpc_start(d->net, &req, on_document, e, &e->job) :
	             KW_EIO;
	if (r < 0) {
		snprintf(e->why, sizeof(e->why),
		         "cannot fetch the metadata: %s",
		         d->net ? kw_strerror(r) :
		                  "keyward-net is not running");
		finish(e, r);
	}
}

static struct entry *lookup(discovery *d, const char *issuer, bool priv,
                            bool insecure)
{
	for (size_t i = 0; i < DISCOVERY_ENTRIES_MAX; i++) {
		struct entry *e = &d->entries[i];
		if (e->used && e->allow_private == priv &&
		    e->allow_insecure == insecure &&
		    strcmp(e->issuer, issuer) == 0)
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

int discovery_get(discovery *d, const char *issuer, bool allow_private,
                  bool allow_insecure, bool replay, oauth_wake wake,
                  void *waiter, kw_oauth_as_meta *ret, char *why, size_t whysz)
{
	int64_t now = clock_now();
	struct entry *e = lookup(d, issuer, allow_private, allow_insecure);
	int r;

	if (e && e->done && (expired(e, now) && !replay)) {
		entry_clear(e);
		e = NULL;
	}
	if (e && e->done) {
		if (e->result < 0) {
			snprintf(why, whysz, "%s", e->why);
			return e->result;
		}
		*ret = *e->meta;
		return 0;
	}
	if (replay) {
		snprintf(why, whysz,
		         "the discovery of %s was not kept; try again", issuer);
		return KW_ESTATE;
	}
	if (e)
		return add_waiter(e, wake, waiter);
	if ((r = kw_oauth_url_check(issuer, why, whysz)) < 0)
		return KW_EINVAL;
	if (strlen(issuer) > sizeof(e->issuer) - 1 || strchr(issuer, '?')) {
		snprintf(why, whysz, "an issuer is a URL without a query");
		return KW_EINVAL;
	}
	if (!(e = slot(d, now))) {
		snprintf(why, whysz, "too many discoveries at once");
		return KW_ELIMIT;
	}
	e->used = true;
	snprintf(e->issuer, sizeof(e->issuer), "%s", issuer);
	e->allow_private = allow_private;
	e->allow_insecure = allow_insecure;
	if (kw_oauth_discovery_order(issuer, e->kinds, &e->nkinds) < 0) {
		entry_clear(e);
		snprintf(why, whysz, "the issuer is not a URL keyward uses");
		return KW_EINVAL;
	}
	r = add_waiter(e, wake, waiter);
	fetch_next(e);
	return r;
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
