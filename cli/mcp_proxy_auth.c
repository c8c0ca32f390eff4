/*
 * mcp_proxy_auth.c - the OAuth side of keyward mcp proxy (mcp_proxy.h's
 * seam; docs/oauth.md, "MCP servers"): the MCP authorization
 * specification as a client follows it, with every request to an
 * authorization server made by the agent.
 *
 * The first 401 from the server: read its WWW-Authenticate (the
 * resource_metadata URL and the scope), fetch the RFC 9728 metadata (its
 * resource must be this server), take its first authorization server,
 * fetch that server's metadata, use --client-id or register a public
 * client (RFC 7591), add the credential (default mcp/<host>/oauth) with
 * resource = the server's canonical URI, log in (the browser, as `keyward
 * oauth login`), and send the request again. A later 401 asks the agent
 * for a new token (or, if it has none to give, logs in again) and sends
 * the request once more. A 403 insufficient_scope
 * asks for the scopes it names (step-up) at a new login, and says so.
 *
 * The token goes only to the server it was issued for: the proxy sends
 * nowhere else (mcp_proxy_dest.c), and a credential given with --oauth
 * must name this server's canonical URI among its resources. It is held
 * here in wiped memory, never logged, never passed on to the client.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mcp_proxy.h"
#include "name.h"
#include "oauth.h"
#include "secmem.h"

#define REDIRECT_REGISTERED "http://127.0.0.1/callback"
#define TOKEN_MARGIN_S      30 /* fetch a token this close to its end */
#define AGENT_WAIT_MS       330000

struct proxy_oauth {
	struct cli *cli;
	kw_client *c;
	char url[PROXY_URL_MAX + 1];
	char resource[KW_OAUTH_URL_MAX + 1]; /* canonical */
	char name[KW_NAME_MAX + 1];
	const char *client_id; /* --client-id, or NULL */
	bool named;            /* --oauth NAME given */
	bool allow_private, allow_insecure, device, browser;
	char *header;    /* "Bearer <token>", kw_wipealloc; NULL: none */
	int64_t expires; /* unix seconds of the token; 0: unknown */
};

static int64_t wall(void)
{
	return (int64_t)time(NULL);
}

static void say(const struct proxy_oauth *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void say(const struct proxy_oauth *a, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "keyward: mcp proxy: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	(void)a;
}

/* The agent's last error on c, for a sentence. */
static const char *agent_why(kw_client *c, int r)
{
	const char *m = kw_last_error_message(c);
	return m && m[0] ? m : kw_strerror(r);
}

/* The agent, connected when first needed: a server that never answers
 * 401 needs no agent for OAuth. */
static int agent(struct proxy_oauth *a)
{
	if (a->c)
		return 0;
	if (cli_connect(a->cli, AGENT_WAIT_MS, &a->c) != 0)
		return KW_ECONNECT;
	return 0;
}

/* Does the credential exist, and for this server? 1 yes, 0 no such
 * credential, < 0 an error (printed). */
static int cred_state(struct proxy_oauth *a, json_t **ret_entry)
{
	json_t *res = NULL;
	int r = agent(a);

	if (r < 0)
		return r;
	json_t *params = json_pack("{s:s}", "name", a->name);
	r = params ? cli_call(a->c, "oauth.status", params, &res) : KW_ENOMEM;

	if (r == KW_ENOTFOUND) {
		json_decref(res);
		return 0;
	}
	if (r < 0) {
		say(a, "%s: %s", a->name, agent_why(a->c, r));
		return r;
	}
	json_t *list = json_object_get(res, "credentials");
	json_t *e = json_array_get(list, 0);
	if (!e) {
		json_decref(res);
		return 0;
	}
	*ret_entry = json_incref(e);
	json_decref(res);
	return 1;
}

/* --oauth NAME: it must be for this server (its audience). */
static int check_resource(struct proxy_oauth *a, const json_t *e)
{
	const json_t *res = json_object_get(e, "resources");
	size_t i;
	json_t *v;

	json_array_foreach(res, i, v)
	{
		char canon[KW_OAUTH_URL_MAX + 1];
		if (json_is_string(v) &&
		    kw_oauth_canonical_resource(json_string_value(v), canon,
		                                sizeof(canon)) == 0 &&
		    strcmp(canon, a->resource) == 0)
			return 0;
	}
	say(a,
	    "%s is not a credential for %s (its resources do not name it): "
	    "its token is not sent there",
	    a->name, a->resource);
	return KW_EDENIED;
}

/* Fetch the current access token into a->header. */
static int fetch_token(struct proxy_oauth *a)
{
	kw_secret *s = NULL;
	json_t *e = NULL;
	int r = agent(a);

	if (r == 0)
		r = kw_secret_get(a->c, a->name, &s);

	if (r < 0) {
		say(a, "%s: %s", a->name, agent_why(a->c, r));
		return r;
	}
	size_t n = kw_secret_len(s);
	char *h = kw_wipealloc(n + 8);
	if (!h) {
		kw_secret_free(s);
		return KW_ENOMEM;
	}
	memcpy(h, "Bearer ", 7);
	memcpy(h + 7, kw_secret_value(s), n);
	h[n + 7] = '\0';
	kw_secret_free(s);
	kw_wipefree_str(a->header);
	a->header = h;
	a->expires = 0;
	if (cred_state(a, &e) == 1) {
		const char *t = NULL;
		struct tm tm = { 0 };
		if (kw_json_get_text(e, "access_expires", &t) &&
		    strptime(t, "%Y-%m-%dT%H:%M:%SZ", &tm))
			a->expires = (int64_t)timegm(&tm);
	}
	json_decref(e);
	return 0;
}

static const char *authorization(void *arg)
{
	struct proxy_oauth *a = arg;

	if (a->header && a->expires && wall() >= a->expires - TOKEN_MARGIN_S)
		(void)fetch_token(a); /* the agent has refreshed it */
	return a->header;
}

/* The RFC 9728 metadata URL for the server when no challenge names one:
 * the well-known suffix inserted before the path (section 3.1). */
static int metadata_url(const char *url, char *out, size_t outsz)
{
	const char *p = strstr(url, "://");
	if (!p)
		return KW_EINVAL;
	const char *path = strchr(p + 3, '/');
	size_t hostpart = path ? (size_t)(path - url) : strlen(url);
	int n = snprintf(out, outsz, "%.*s%s%s", (int)hostpart, url,
	                 "/.well-known/oauth-protected-resource",
	                 path && strcmp(path, "/") != 0 ? path : "");
	return n < 0 || (size_t)n >= outsz ? KW_ETOOBIG : 0;
}

/* The protected resource's metadata: its authorization server and the
 * scopes it supports. */
static int resource_meta(struct proxy_oauth *a, const char *rm_url,
                         json_t **ret)
{
	/* RFC 9728 3.3: resource must be the URL the client used; a
	 * server may publish its canonical form instead. */
	const char *tries[] = { a->url, a->resource };
	int r = KW_EINVAL;

	for (size_t i = 0; i < 2; i++) {
		if (i == 1 && strcmp(a->url, a->resource) == 0)
			break;
		json_t *p = json_pack("{s:s, s:s, s:b, s:b}", "url", rm_url,
		                      "resource", tries[i], "allow_private",
		                      a->allow_private, "allow_insecure",
		                      a->allow_insecure);
		r = p ? cli_call(a->c, "oauth.resource_metadata", p, ret) :
		        KW_ENOMEM;
		if (r == 0)
			return 0;
		if (r != KW_EPROTO)
			break;
	}
	say(a, "the server's protected resource metadata (%s): %s", rm_url,
	    agent_why(a->c, r));
	return r;
}

/* First contact: from the challenge to a credential that holds a token. */
static int first_login(struct proxy_oauth *a, const kw_oauth_challenge *ch)
{
	char rm_url[KW_OAUTH_URL_MAX + 1];
	json_t *rm = NULL, *meta = NULL, *reg = NULL, *params = NULL,
	       *res = NULL;
	const char *issuer = NULL, *scope = NULL, *client_id = a->client_id;
	int r;

	if (ch->resource_metadata[0])
		snprintf(rm_url, sizeof(rm_url), "%s", ch->resource_metadata);
	else if ((r = metadata_url(a->url, rm_url, sizeof(rm_url))) < 0)
		return r;
	if ((r = resource_meta(a, rm_url, &rm)) < 0)
		goto out;
	issuer = json_string_value(
		json_array_get(json_object_get(rm, "authorization_servers"),
	                       0));
	if (!issuer) {
		r = KW_EPROTO;
		goto out;
	}
	params = json_pack("{s:s, s:b, s:b}", "issuer", issuer, "allow_private",
	                   a->allow_private, "allow_insecure",
	                   a->allow_insecure);
	r = params ? cli_call(a->c, "oauth.discover", params, &meta) :
	             KW_ENOMEM;
	if (r < 0) {
		say(a, "the authorization server %s: %s", issuer,
		    agent_why(a->c, r));
		goto out;
	}
	if (!client_id) {
		const char *endpoint = NULL;
		if (!kw_json_get_text(meta, "registration_endpoint",
		                      &endpoint)) {
			say(a,
			    "the authorization server %s registers no clients "
			    "(RFC 7591): give the client id it knows keyward "
			    "by, with --client-id",
			    issuer);
			r = KW_ESTATE;
			goto out;
		}
		params = json_pack("{s:s, s:s, s:s, s:b, s:b}",
		                   "registration_endpoint", endpoint,
		                   "redirect_uri", REDIRECT_REGISTERED,
		                   "client_name", "keyward mcp proxy",
		                   "allow_private", a->allow_private,
		                   "allow_insecure", a->allow_insecure);
		r = params ? cli_call(a->c, "oauth.register", params, &reg) :
		             KW_ENOMEM;
		if (r == 0 && !kw_json_get_text(reg, "client_id", &client_id))
			r = KW_EPROTO;
		if (r < 0) {
			say(a, "registering a client at %s: %s", issuer,
			    agent_why(a->c, r));
			goto out;
		}
	}
	scope = ch->scope[0] ? ch->scope :
	                       json_string_value(
				       json_object_get(rm, "scopes_supported"));
	bool iss = json_is_true(json_object_get(meta, "iss_parameter"));
	params = json_pack(
		"{s:s, s:s, s:s, s:s, s:s, s:s, s:[s], s:b, s:b, s:b}", "name",
		a->name, "grant", "authorization_code", "auth", "none",
		"client_id", client_id, "issuer", issuer, "token_url",
		json_string_value(json_object_get(meta, "token_endpoint")),
		"resources", a->resource, "allow_private", a->allow_private,
		"allow_insecure", a->allow_insecure, "iss_parameter", iss);
	static const char *const urls[][2] = {
		{ "authorize_url", "authorization_endpoint" },
		{ "device_url", "device_authorization_endpoint" },
		{ "revocation_url", "revocation_endpoint" },
	};
	for (size_t i = 0; params && i < 3; i++) {
		const char *u = NULL;
		if (kw_json_get_text(meta, urls[i][1], &u))
			json_object_set_new(params, urls[i][0], json_string(u));
	}
	if (params && scope && scope[0])
		json_object_set_new(params, "scope", json_string(scope));
	r = params ? cli_call(a->c, "oauth.add", params, &res) : KW_ENOMEM;
	if (r < 0) {
		say(a, "%s: %s", a->name, agent_why(a->c, r));
		goto out;
	}
	say(a, "%s: a new OAuth credential for %s; logging in", a->name,
	    a->resource);
	r = cli_oauth_login_run(a->cli, a->c, a->name, a->device, a->browser);
	r = r == CLI_EXIT_OK ? 0 : KW_EDENIED;
out:
	json_decref(rm);
	json_decref(meta);
	json_decref(reg);
	json_decref(res);
	return r;
}

/* A login again (the grant is gone, or more scope is needed). */
static int login_again(struct proxy_oauth *a)
{
	if (!a->browser && !a->device) {
		say(a, "%s needs a new login: keyward oauth login %s", a->name,
		    a->name);
		return KW_ESTATE;
	}
	int ex = cli_oauth_login_run(a->cli, a->c, a->name, a->device,
	                             a->browser);
	return ex == CLI_EXIT_OK ? 0 : KW_EDENIED;
}

/* 403 insufficient_scope: add the scopes the challenge names. */
static int step_up(struct proxy_oauth *a, const char *need)
{
	json_t *e = NULL, *res = NULL;
	char scope[KW_OAUTH_SCOPE_MAX + 1] = "";
	int r = cred_state(a, &e);

	if (r <= 0)
		return r < 0 ? r : KW_ENOTFOUND;
	const char *have = json_string_value(json_object_get(e, "scope"));
	snprintf(scope, sizeof(scope), "%s", have ? have : "");
	/* The union, each scope token once. */
	char copy[KW_OAUTH_SCOPE_MAX + 1];
	snprintf(copy, sizeof(copy), "%s", need);
	for (char *save = NULL, *t = strtok_r(copy, " ", &save); t;
	     t = strtok_r(NULL, " ", &save)) {
		char padded[KW_OAUTH_SCOPE_MAX + 3];
		snprintf(padded, sizeof(padded), " %s ", scope);
		char want[KW_OAUTH_SCOPE_MAX + 3];
		snprintf(want, sizeof(want), " %s ", t);
		if (strstr(padded, want))
			continue;
		size_t n = strlen(scope);
		if (n + 1 + strlen(t) >= sizeof(scope)) {
			json_decref(e);
			return KW_ETOOBIG;
		}
		snprintf(scope + n, sizeof(scope) - n, "%s%s", n ? " " : "", t);
	}
	json_decref(e);
	say(a, "%s: the server needs the scope \"%s\"; logging in again",
	    a->name, scope);
	json_t *p = json_pack("{s:s, s:s}", "name", a->name, "scope", scope);
	r = p ? cli_call(a->c, "oauth.set_scope", p, &res) : KW_ENOMEM;
	json_decref(res);
	if (r < 0) {
		say(a, "%s: %s", a->name, agent_why(a->c, r));
		return r;
	}
	return login_again(a);
}

static bool unauthorized(void *arg, unsigned status,
                         const char *www_authenticate)
{
	struct proxy_oauth *a = arg;
	kw_oauth_challenge ch;
	json_t *e = NULL;
	int r;

	memset(&ch, 0, sizeof(ch));
	if (www_authenticate &&
	    kw_oauth_challenge_parse(www_authenticate, strlen(www_authenticate),
	                             &ch) < 0)
		memset(&ch, 0, sizeof(ch)); /* unreadable: as if none */
	/* A challenge of another scheme (an API key) is not OAuth's. */
	if (www_authenticate && !ch.bearer)
		return false;
	if (agent(a) < 0)
		return false;
	if (status == 403) {
		if (strcmp(ch.error, "insufficient_scope") != 0 || !ch.scope[0])
			return false;
		r = step_up(a, ch.scope);
	} else {
		r = cred_state(a, &e);
		if (r > 0 && !a->header) {
			/* Held from an earlier run: its token first. */
			r = check_resource(a, e);
		} else if (r == 0) {
			if (a->named) {
				say(a, "no OAuth credential %s", a->name);
				r = KW_ENOTFOUND;
			} else {
				r = first_login(a, &ch);
			}
		} else if (r > 0) {
			/* A new token from the agent (the request is sent
			 * once more, once), else a new login. */
			json_t *res = NULL;
			r = cli_call_name(a->c, "oauth.renew", a->name, &res);
			json_decref(res);
			if (r < 0)
				r = login_again(a);
		}
		json_decref(e);
	}
	if (r < 0 || (r = fetch_token(a)) < 0)
		return false;
	return true;
}

int proxy_oauth_new(struct cli *cli, const char *url, const char *name,
                    const char *client_id, const char *resource,
                    bool allow_private, bool allow_insecure, bool device,
                    bool browser, struct proxy_oauth **ret)
{
	struct proxy_oauth *a = calloc(1, sizeof(*a));
	int r;

	if (!a)
		return KW_ENOMEM;
	a->cli = cli;
	a->client_id = client_id;
	a->allow_private = allow_private;
	a->allow_insecure = allow_insecure;
	a->device = device;
	a->browser = browser;
	snprintf(a->url, sizeof(a->url), "%s", url);
	if ((r = kw_oauth_canonical_resource(resource ? resource : url,
	                                     a->resource,
	                                     sizeof(a->resource))) < 0) {
		fprintf(stderr,
		        "keyward: mcp proxy: %s has no canonical form "
		        "to use as a resource\n",
		        url);
		free(a);
		return r;
	}
	if (name) {
		a->named = true;
		snprintf(a->name, sizeof(a->name), "%s", name);
	} else {
		/* mcp/<host[-port]>/oauth */
		const char *h = strstr(a->resource, "://") + 3;
		size_t n = strcspn(h, "/?");
		char host[200];
		snprintf(host, sizeof(host), "%.*s", (int)n, h);
		for (char *p = host; *p; p++)
			if (!((*p >= 'a' && *p <= 'z') ||
			      (*p >= '0' && *p <= '9') || *p == '.' ||
			      *p == '-'))
				*p = '-';
		snprintf(a->name, sizeof(a->name), "mcp/%s/oauth", host);
	}
	if (kw_name_check(a->name, strlen(a->name), NULL) != 0) {
		fprintf(stderr,
		        "keyward: mcp proxy: %s is not a usable "
		        "credential name\n",
		        a->name);
		free(a);
		return KW_EINVAL;
	}
	if (a->named) {
		/* Given by name: it must be there, and for this server. */
		json_t *e = NULL;
		r = cred_state(a, &e);
		if (r == 0) {
			say(a, "no OAuth credential %s (keyward oauth status)",
			    a->name);
			r = KW_ENOTFOUND;
		}
		if (r > 0 && (r = check_resource(a, e)) == 0)
			r = fetch_token(a);
		json_decref(e);
		if (r < 0) {
			proxy_oauth_free(a);
			return r;
		}
	}
	*ret = a;
	return 0;
}

void proxy_oauth_seam(struct proxy_oauth *a, struct proxy_auth *ret)
{
	ret->authorization = authorization;
	ret->unauthorized = unauthorized;
	ret->arg = a;
}

void proxy_oauth_free(struct proxy_oauth *a)
{
	if (!a)
		return;
	kw_wipefree_str(a->header);
	kw_close(a->c);
	free(a);
}
