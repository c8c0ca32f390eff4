/*
 * methods_oauth.c - oauth.* methods, and the park-and-ask-again of a
 * request that waits for a credential's token (docs/protocol.md,
 * docs/oauth.md).
 *
 * A request that must wait for a token request (secret.get of a
 * credential without a valid token, oauth.renew) parks its connection
 * with the request line kept (rpc_ctx.park_replay). When the engine has an
 * answer it wakes the connection, and the same line is dispatched again,
 * marked as a replay: authorisation, the audit row and the answer then
 * happen as for any request, and a replay never parks again.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "conn.h"
#include "dispatch.h"
#include "jsonget.h"
#include "keyward.h"
#include "log.h"
#include "oauth.h" /* common/: kw_oauth_as_meta */
#include "oauth_discover.h"
#include "oauthcred.h"
#include "rotate.h"
#include "secmem.h"

#define RESOURCES_KEY "resources"

static oauth *engine(rpc_ctx *x)
{
	return rotate_oauth(*x->h->rot);
}

/* The engine has an answer for c: ask again. */
static void oauth_woken(void *who)
{
	conn *c = who;
	char *line = c->replay_line;
	size_t len = c->replay_len;

	if (!line)
		return;
	c->replay_line = NULL;
	c->replay_len = 0;
	c->parked = false;
	c->replaying = true;
	dispatch_line(c->h, c, line, len);
	c->replaying = false;
	kw_wipefree(line);
	conn_resume(c);
}

void methods_oauth_conn_gone(rpc_host *h, conn *c)
{
	if (c->replay_line)
		oauth_forget_waiter(rotate_oauth(*h->rot), c);
}

/* Park x until the engine wakes it; then it is dispatched again. */
static int park(rpc_ctx *x)
{
	x->park_replay = true;
	return RPC_PARKED;
}

/* Park x until the engine wakes it (r == 1), or fail with why. */
static int waited(rpc_ctx *x, int r, const char *why)
{
	if (r == 1)
		return park(x);
	if (r == KW_ENOTFOUND)
		return rpc_fail(x, r, "name", "no such OAuth credential");
	return rpc_fail(x, r, NULL, "%s", why);
}

int methods_oauth_secret_get(rpc_ctx *x, const char *name)
{
	char why[256];
	oauth *o = engine(x);

	if (!oauth_is_managed(o, name))
		return 0;
	int r = oauth_check(o, name, x->c->replaying, oauth_woken, x->c, why,
	                    sizeof(why));
	return r == 0 ? 0 : waited(x, r, why);
}

int methods_oauth_refuse_write(rpc_ctx *x, const char *name)
{
	if (!oauth_is_managed(engine(x), name))
		return 0;
	return rpc_fail(x, KW_ESTATE, "name",
	                "%s is an OAuth credential: its value comes from its "
	                "token endpoint (keyward oauth status %s; keyward "
	                "oauth revoke %s removes it)",
	                name, name, name);
}

static json_t *url_or_null(const char *u);

/* oauth.add's parameters. */

static int opt_text(rpc_ctx *x, const char *key, char *out, size_t outsz)
{
	const char *s;
	size_t len;
	int r = rpc_opt_string(x, key, outsz - 1, &s, &len);

	if (r == KW_ETOOBIG)
		return rpc_fail(x, KW_EINVAL, key, "longer than %zu bytes",
		                outsz - 1);
	if (r < 0 || !s)
		return r;
	memcpy(out, s, len + 1);
	return 0;
}

static int opt_bool(rpc_ctx *x, const char *key, bool *ret)
{
	json_t *v = json_object_get(x->params, key);
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return rpc_fail(x, KW_EINVAL, key, "must be true or false");
	*ret = json_is_true(v);
	return 0;
}

static int get_resources(rpc_ctx *x, oauth_doc *d)
{
	json_t *a = json_object_get(x->params, RESOURCES_KEY);
	size_t i;
	json_t *v;

	if (!a)
		return 0;
	if (!json_is_array(a) || json_array_size(a) > OAUTH_RESOURCES_MAX)
		return rpc_fail(x, KW_EINVAL, RESOURCES_KEY,
		                "must be an array of at most %u URLs",
		                OAUTH_RESOURCES_MAX);
	json_array_foreach(a, i, v)
	{
		if (!json_is_string(v) ||
		    json_string_length(v) >= sizeof(d->resources[0]))
			return rpc_fail(
				x, KW_EINVAL, RESOURCES_KEY,
				"must be an array of URLs of at most %u "
				"bytes",
				OAUTH_URL_MAX);
		memcpy(d->resources[i], json_string_value(v),
		       json_string_length(v) + 1);
		d->nresources++;
	}
	return 0;
}

static int get_spec(rpc_ctx *x, oauth_doc *d)
{
	const char *s;
	size_t len;
	int r;

	if ((r = rpc_opt_string(x, "grant", 32, &s, &len)) < 0)
		return r;
	if (!s || oauth_grant_parse(s, &d->grant) < 0)
		return rpc_fail(x, KW_EINVAL, "grant",
		                "must be client_credentials, "
		                "authorization_code or device_code");
	if ((r = rpc_opt_string(x, "auth", 32, &s, &len)) < 0)
		return r;
	if (s && oauth_auth_parse(s, &d->auth) < 0)
		return rpc_fail(x, KW_EINVAL, "auth",
		                "must be client_secret_basic, "
		                "client_secret_post or none");
	if ((r = opt_text(x, "token_url", d->token_url, sizeof(d->token_url))) <
	            0 ||
	    (r = opt_text(x, "authorize_url", d->authorize_url,
	                  sizeof(d->authorize_url))) < 0 ||
	    (r = opt_text(x, "device_url", d->device_url,
	                  sizeof(d->device_url))) < 0 ||
	    (r = opt_text(x, "revocation_url", d->revocation_url,
	                  sizeof(d->revocation_url))) < 0 ||
	    (r = opt_text(x, "issuer", d->issuer, sizeof(d->issuer))) < 0 ||
	    (r = opt_text(x, "client_id", d->client_id, sizeof(d->client_id))) <
	            0 ||
	    (r = opt_text(x, "scope", d->scope, sizeof(d->scope))) < 0 ||
	    (r = get_resources(x, d)) < 0 ||
	    (r = opt_bool(x, "allow_private", &d->allow_private)) < 0 ||
	    (r = opt_bool(x, "allow_insecure", &d->allow_insecure)) < 0 ||
	    (r = opt_bool(x, "iss_parameter", &d->iss_parameter)) < 0)
		return r;
	if ((r = rpc_opt_string(x, "client_secret", OAUTH_SECRET_MAX, &s,
	                        &len)) < 0)
		return r;
	if (s && !(d->client_secret = kw_wipestrdup(s)))
		return KW_ENOMEM;
	if (!d->auth)
		d->auth = d->client_secret ? OAUTH_AUTH_BASIC : OAUTH_AUTH_NONE;
	return 0;
}

int method_oauth_add(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { "name",           "grant",
		                            "auth",           "token_url",
		                            "authorize_url",  "device_url",
		                            "revocation_url", "issuer",
		                            "client_id",      "client_secret",
		                            "scope",          RESOURCES_KEY,
		                            "allow_private",  "allow_insecure",
		                            "iss_parameter",  NULL };
	const char *name;
	char why[256] = "";
	oauth_doc *d = kw_wipealloc(sizeof(*d));
	int r;

	if (!d)
		return KW_ENOMEM;
	memset(d, 0, sizeof(*d));
	if ((r = rpc_allow(x, keys)) < 0 ||
	    (r = rpc_name(x, "name", &name)) < 0 || (r = get_spec(x, d)) < 0)
		goto out;
	r = oauth_add(engine(x), d, name, why, sizeof(why));
	if (r == KW_ESTATE)
		r = rpc_fail(x, r, NULL,
		             "the OAuth credentials are not loaded yet; try "
		             "again");
	else if (r == KW_EINVAL || r == KW_EEXIST || r == KW_ELIMIT)
		r = rpc_fail(x, r, r == KW_EEXIST ? "name" : NULL, "%s", why);
	if (r < 0)
		goto out;
	x->audit_note = "OAuth credential added";
	*ret_result = json_pack("{s:s, s:s}", "name", name, "grant",
	                        oauth_grant_name(d->grant));
	r = *ret_result ? 0 : KW_ENOMEM;
out:
	oauth_doc_clear(d);
	kw_wipefree(d);
	return r;
}

int method_oauth_renew(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { "name", "if_needed", NULL };
	const char *name;
	bool if_needed = false;
	char why[256];
	int r;

	if ((r = rpc_allow(x, keys)) < 0 ||
	    (r = rpc_name(x, "name", &name)) < 0 ||
	    (r = opt_bool(x, "if_needed", &if_needed)) < 0)
		return r;
	/* if_needed: only wait until there is a valid token (the first one,
	 * after oauth.add), as secret.get would. */
	if (if_needed)
		r = oauth_check(engine(x), name, x->c->replaying, oauth_woken,
		                x->c, why, sizeof(why));
	else
		r = oauth_refresh_now(engine(x), name, x->c->replaying,
		                      oauth_woken, x->c, why, sizeof(why));
	if (r != 0)
		return waited(x, r, why);
	*ret_result = json_pack("{s:s, s:b}", "name", name, "valid", 1);
	return *ret_result ? 0 : KW_ENOMEM;
}

int method_oauth_revoke(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { "name", NULL };
	const char *name;
	char why[256] = "";
	int r;

	if ((r = rpc_allow(x, keys)) < 0 ||
	    (r = rpc_name(x, "name", &name)) < 0)
		return r;
	r = oauth_revoke(engine(x), name, x->c->replaying, oauth_woken, x->c,
	                 why, sizeof(why));
	if (r == 1 || r == KW_ENOTFOUND)
		return waited(x, r, why);
	if (r < 0)
		return rpc_fail(x, r, NULL, "%s", why);
	x->audit_note = "OAuth credential removed";
	*ret_result = json_pack("{s:s, s:b, s:s}", "name", name, "removed", 1,
	                        "revocation", why);
	return *ret_result ? 0 : KW_ENOMEM;
}

struct status_walk {
	rpc_ctx *x;
	json_t *list;
};

static json_t *time_or_null(int64_t t)
{
	return t > 0 ? rpc_time(t) : json_null();
}

static int status_one(void *arg, const oauth_info *i)
{
	struct status_walk *w = arg;
	const policy_client *pc = w->x->principal;
	json_t *res, *o;

	if (pc && !policy_client_allows(pc, POLICY_OP_LIST, i->name))
		return 0;
	if (!(res = json_array()))
		return KW_ENOMEM;
	for (size_t k = 0; k < i->nresources; k++)
		json_array_append_new(res, json_string(i->resources[k]));
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:b, s:b,"
	              " s:b, s:s, s:o, s:o, s:o, s:o, s:I, s:o}",
	              "name", i->name, "grant", oauth_grant_name(i->grant),
	              "auth", oauth_auth_name(i->auth), "client_id",
	              i->client_id, "token_url", i->token_url, "scope",
	              i->scope, "granted_scope", i->granted_scope, "resources",
	              res, "allow_private", i->allow_private, "allow_insecure",
	              i->allow_insecure, "refresh_token", i->has_refresh_token,
	              "state", i->state, "access_expires",
	              time_or_null(i->access_expires), "refresh_expires",
	              time_or_null(i->refresh_expires), "last_refresh",
	              time_or_null(i->last_refresh), "next_refresh",
	              time_or_null(i->next_refresh), "version",
	              (json_int_t)i->access_version, "last_error",
	              i->last_error[0] ? kw_json_lossy(i->last_error) :
	                                 json_null());
	if (!o || json_array_append_new(w->list, o) < 0)
		return KW_ENOMEM;
	return 0;
}

int method_oauth_status(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { "name", NULL };
	const char *name = NULL;
	size_t len;
	int r;

	if ((r = rpc_allow(x, keys)) < 0 ||
	    (r = rpc_opt_string(x, "name", KW_NAME_MAX, &name, &len)) < 0)
		return r;
	struct status_walk w = { x, json_array() };
	if (!w.list)
		return KW_ENOMEM;
	if (name && !oauth_is_managed(engine(x), name)) {
		json_decref(w.list);
		return rpc_fail(x, KW_ENOTFOUND, "name",
		                "no such OAuth credential");
	}
	r = oauth_list(engine(x), name ? name : "", status_one, &w);
	if (r < 0) {
		json_decref(w.list);
		return r;
	}
	/* A name is exact: drop the others its prefix matched. */
	if (name) {
		for (size_t i = json_array_size(w.list); i-- > 0;) {
			const char *n = json_string_value(
				json_object_get(json_array_get(w.list, i),
			                        "name"));
			if (!n || strcmp(n, name) != 0)
				json_array_remove(w.list, i);
		}
	}
	*ret_result = json_pack("{s:o, s:I}", "credentials", w.list, "now",
	                        (json_int_t)clock_now());
	return *ret_result ? 0 : KW_ENOMEM;
}

static json_t *url_or_null(const char *u)
{
	return u[0] ? json_string(u) : json_null();
}

static json_t *meta_json(const kw_oauth_as_meta *m)
{
	json_t *auth = json_array(), *grants = json_array();
	static const struct {
		unsigned bit;
		const char *name;
	} auths[] = { { KW_OAUTH_AUTH_BASIC, "client_secret_basic" },
		      { KW_OAUTH_AUTH_POST, "client_secret_post" },
		      { KW_OAUTH_AUTH_NONE, "none" } },
	  grant_names[] = {
		  { KW_OAUTH_GRANT_CODE, "authorization_code" },
		  { KW_OAUTH_GRANT_REFRESH, "refresh_token" },
		  { KW_OAUTH_GRANT_CLIENT_CREDENTIALS, "client_credentials" },
		  { KW_OAUTH_GRANT_DEVICE, "device_code" },
	  };

	for (size_t i = 0; auth && i < sizeof(auths) / sizeof(auths[0]); i++) {
		if (m->auth_methods & auths[i].bit)
			json_array_append_new(auth, json_string(auths[i].name));
	}
	for (size_t i = 0;
	     grants && i < sizeof(grant_names) / sizeof(grant_names[0]); i++) {
		if (m->grants & grant_names[i].bit)
			json_array_append_new(grants,
			                      json_string(grant_names[i].name));
	}
	if (!auth || !grants) {
		json_decref(auth);
		json_decref(grants);
		return NULL;
	}
	return json_pack(
		"{s:s, s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:b, s:b, s:b, s:o,"
		" s:o}",
		"issuer", m->issuer, "authorization_endpoint",
		url_or_null(m->authorization_endpoint), "token_endpoint",
		m->token_endpoint, "device_authorization_endpoint",
		url_or_null(m->device_authorization_endpoint),
		"revocation_endpoint", url_or_null(m->revocation_endpoint),
		"registration_endpoint", url_or_null(m->registration_endpoint),
		"introspection_endpoint",
		url_or_null(m->introspection_endpoint), "jwks_uri",
		url_or_null(m->jwks_uri), "pkce_s256", m->pkce_s256,
		"iss_parameter", m->iss_parameter, "client_id_metadata",
		m->client_id_metadata, "token_endpoint_auth_methods", auth,
		"grant_types", grants);
}

int method_oauth_discover(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { "issuer", "allow_private",
		                            "allow_insecure", NULL };
	char issuer[KW_OAUTH_URL_MAX + 1] = "";
	bool priv = false, insecure = false;
	char why[256] = "";
	int r;

	if ((r = rpc_allow(x, keys)) < 0 ||
	    (r = opt_text(x, "issuer", issuer, sizeof(issuer))) < 0 ||
	    (r = opt_bool(x, "allow_private", &priv)) < 0 ||
	    (r = opt_bool(x, "allow_insecure", &insecure)) < 0)
		return r;
	if (!issuer[0])
		return rpc_fail(x, KW_EINVAL, "issuer", "required");
	kw_oauth_as_meta *m = calloc(1, sizeof(*m));
	if (!m)
		return KW_ENOMEM;
	r = discovery_get(oauth_discovery(engine(x)), issuer, priv, insecure,
	                  x->c->replaying, oauth_woken, x->c, m, why,
	                  sizeof(why));
	if (r == 1) {
		free(m);
		return park(x);
	}
	if (r < 0) {
		free(m);
		return rpc_fail(x, r, r == KW_EINVAL ? "issuer" : NULL, "%s",
		                why);
	}
	*ret_result = meta_json(m);
	free(m);
	return *ret_result ? 0 : KW_ENOMEM;
}

/* Logins: the CLI's loopback listener and its user on one side, the
 * agent's PKCE verifier and token requests on the other. */

int method_oauth_login_begin(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { "name", "redirect_uri", NULL };
	char redirect[OAUTH_URL_MAX + 1] = "";
	const char *name;
	char why[256] = "";
	char *url = NULL;
	int r;

	if ((r = rpc_allow(x, keys)) < 0 ||
	    (r = rpc_name(x, "name", &name)) < 0 ||
	    (r = opt_text(x, "redirect_uri", redirect, sizeof(redirect))) < 0)
		return r;
	r = oauth_login_begin(engine(x), name, redirect, &url, why,
	                      sizeof(why));
	if (r == KW_ENOTFOUND)
		return rpc_fail(x, r, "name", "no such OAuth credential");
	if (r < 0)
		return rpc_fail(x, r, r == KW_EINVAL ? "redirect_uri" : NULL,
		                "%s", why);
	*ret_result =
		json_pack("{s:s, s:s}", "name", name, "authorize_url", url);
	free(url);
	return *ret_result ? 0 : KW_ENOMEM;
}

int method_oauth_login_finish(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { "name", "code", "state", "iss",
		                            NULL };
	const char *name, *code, *state, *iss;
	size_t len;
	char why[256] = "";
	int r;

	if ((r = rpc_allow(x, keys)) < 0 ||
	    (r = rpc_name(x, "name", &name)) < 0 ||
	    (r = rpc_opt_string(x, "code", 16384, &code, &len)) < 0 ||
	    (r = rpc_opt_string(x, "state", 128, &state, &len)) < 0 ||
	    (r = rpc_opt_string(x, "iss", OAUTH_URL_MAX, &iss, &len)) < 0)
		return r;
	if (!code || !code[0])
		return rpc_fail(x, KW_EINVAL, "code", "required");
	r = oauth_login_finish(engine(x), name, code, state, iss,
	                       x->c->replaying, oauth_woken, x->c, why,
	                       sizeof(why));
	if (r != 0)
		return waited(x, r, why);
	x->audit_note = "OAuth login: the authorization code was exchanged";
	*ret_result = json_pack("{s:s, s:b}", "name", name, "valid", 1);
	return *ret_result ? 0 : KW_ENOMEM;
}

int method_oauth_device_begin(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { "name", NULL };
	const char *name;
	char why[256] = "";
	oauth_device_info *d;
	int r;

	if ((r = rpc_allow(x, keys)) < 0 ||
	    (r = rpc_name(x, "name", &name)) < 0)
		return r;
	if (!(d = calloc(1, sizeof(*d))))
		return KW_ENOMEM;
	r = oauth_device_begin(engine(x), name, x->c->replaying, oauth_woken,
	                       x->c, d, why, sizeof(why));
	if (r != 0) {
		free(d);
		return waited(x, r, why);
	}
	*ret_result =
		json_pack("{s:s, s:s, s:s, s:o, s:I, s:I}", "name", name,
	                  "user_code", d->user_code, "verification_uri",
	                  d->verification_uri, "verification_uri_complete",
	                  url_or_null(d->verification_uri_complete),
	                  "expires_in", (json_int_t)d->expires_in, "interval",
	                  (json_int_t)d->interval);
	free(d);
	return *ret_result ? 0 : KW_ENOMEM;
}

int method_oauth_login_wait(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { "name", NULL };
	const char *name;
	char why[256] = "";
	int r;

	if ((r = rpc_allow(x, keys)) < 0 ||
	    (r = rpc_name(x, "name", &name)) < 0)
		return r;
	r = oauth_login_wait(engine(x), name, x->c->replaying, oauth_woken,
	                     x->c, why, sizeof(why));
	if (r != 0)
		return waited(x, r, why);
	x->audit_note = "OAuth login: the device grant was approved";
	*ret_result = json_pack("{s:s, s:b}", "name", name, "valid", 1);
	return *ret_result ? 0 : KW_ENOMEM;
}

/* What an MCP client needs before its first login (docs/oauth.md, "MCP
 * servers"): the protected resource's metadata and a registered client. */

int method_oauth_resource_metadata(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { "url", "resource", "allow_private",
		                            "allow_insecure", NULL };
	char url[KW_OAUTH_URL_MAX + 1] = "", res[KW_OAUTH_URL_MAX + 1] = "";
	bool priv = false, insecure = false;
	char why[256] = "";
	int r;

	if ((r = rpc_allow(x, keys)) < 0 ||
	    (r = opt_text(x, "url", url, sizeof(url))) < 0 ||
	    (r = opt_text(x, "resource", res, sizeof(res))) < 0 ||
	    (r = opt_bool(x, "allow_private", &priv)) < 0 ||
	    (r = opt_bool(x, "allow_insecure", &insecure)) < 0)
		return r;
	if (!url[0] || !res[0])
		return rpc_fail(x, KW_EINVAL, url[0] ? "resource" : "url",
		                "required");
	kw_oauth_resource_meta *m = calloc(1, sizeof(*m));
	if (!m)
		return KW_ENOMEM;
	r = discovery_resource(oauth_discovery(engine(x)), url, res, priv,
	                       insecure, x->c->replaying, oauth_woken, x->c, m,
	                       why, sizeof(why));
	if (r == 1) {
		free(m);
		return park(x);
	}
	if (r < 0) {
		free(m);
		return rpc_fail(x, r, r == KW_EINVAL ? "url" : NULL, "%s", why);
	}
	json_t *servers = json_array();
	for (size_t i = 0; servers && i < m->nservers; i++)
		json_array_append_new(servers,
		                      json_string(m->authorization_servers[i]));
	*ret_result =
		json_pack("{s:s, s:o, s:o}", "resource", m->resource,
	                  "authorization_servers", servers, "scopes_supported",
	                  m->has_scopes ? json_string(m->scopes_supported) :
	                                  json_null());
	free(m);
	return *ret_result ? 0 : KW_ENOMEM;
}

int method_oauth_register(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = {
		"registration_endpoint", "redirect_uri",   "client_name",
		"allow_private",         "allow_insecure", NULL
	};
	char endpoint[KW_OAUTH_URL_MAX + 1] = "";
	char redirect[KW_OAUTH_URL_MAX + 1] = "";
	char name[DISCOVERY_NAME_MAX + 1] = "keyward";
	bool priv = false, insecure = false;
	char why[256] = "";
	discovery_client client;
	int r;

	if ((r = rpc_allow(x, keys)) < 0 ||
	    (r = opt_text(x, "registration_endpoint", endpoint,
	                  sizeof(endpoint))) < 0 ||
	    (r = opt_text(x, "redirect_uri", redirect, sizeof(redirect))) < 0 ||
	    (r = opt_text(x, "client_name", name, sizeof(name))) < 0 ||
	    (r = opt_bool(x, "allow_private", &priv)) < 0 ||
	    (r = opt_bool(x, "allow_insecure", &insecure)) < 0)
		return r;
	if (!endpoint[0] || !redirect[0])
		return rpc_fail(x, KW_EINVAL,
		                endpoint[0] ? "redirect_uri" :
		                              "registration_endpoint",
		                "required");
	r = discovery_register(oauth_discovery(engine(x)), endpoint, redirect,
	                       name, priv, insecure, x->c->replaying,
	                       oauth_woken, x->c, &client, why, sizeof(why));
	if (r == 1)
		return park(x);
	if (r < 0)
		return rpc_fail(x, r,
		                r == KW_EINVAL ? "registration_endpoint" : NULL,
		                "%s", why);
	*ret_result = json_pack("{s:s}", "client_id", client.client_id);
	return *ret_result ? 0 : KW_ENOMEM;
}

int method_oauth_set_scope(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { "name", "scope", NULL };
	char scope[OAUTH_SCOPE_MAX + 1] = "";
	const char *name;
	char why[256] = "";
	int r;

	if ((r = rpc_allow(x, keys)) < 0 ||
	    (r = rpc_name(x, "name", &name)) < 0 ||
	    (r = opt_text(x, "scope", scope, sizeof(scope))) < 0)
		return r;
	r = oauth_set_scope(engine(x), name, scope, why, sizeof(why));
	if (r == KW_ENOTFOUND)
		return rpc_fail(x, r, "name", "no such OAuth credential");
	if (r == KW_EINVAL)
		return rpc_fail(x, r, "scope", "%s", why);
	if (r < 0)
		return r;
	x->audit_note = "OAuth credential: the scope asked for changed";
	*ret_result = json_pack("{s:s, s:s}", "name", name, "scope", scope);
	return *ret_result ? 0 : KW_ENOMEM;
}
