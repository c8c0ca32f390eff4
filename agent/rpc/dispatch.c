/*
 * dispatch.c - see dispatch.h.
 *
 * Error sentences never quote request bytes: a malformed request may hold a
 * secret (a value pasted in the wrong field, a passphrase).
 */
#include "dispatch.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "clock.h"
#include "conn.h"
#include "keyward.h"
#include "log.h"
#include "name.h"
#include "peer.h"
#include "ratelimit.h"
#include "secmem.h"

/* M_AUDIT: every outcome is an audit row (others: only refusals).
 * M_READ: the method changes nothing a power loss could not roll back (its
 * audit row, a last-used time), so its turn may commit without a disk sync
 * (store_batch_begin_light; [audit] flush_ms bounds how long). */
enum { M_NEEDS_UNLOCK = 1, M_AUDIT = 2, M_READ = 4 };

/* What a method needs from the policy (docs/protocol.md, Authorization). */
enum rpc_auth {
	AUTH_PEER,   /* any peer, attributed or not (client.hello) */
	AUTH_ANY,    /* any attributed peer */
	AUTH_ADMIN,  /* admin */
	AUTH_NAME,   /* op on params.name */
	AUTH_LIST,   /* some list grant; results are filtered by the method */
	AUTH_VERIFY, /* some verify grant; the method checks the name */
};

static const struct rpc_method {
	const char *name;
	rpc_handler fn;
	int flags;
	enum rpc_auth auth;
	enum policy_op op; /* for AUTH_NAME */
} rpc_methods[] = {
	{ "agent.status", method_agent_status, M_READ, AUTH_ANY, 0 },
	{ "agent.unlock", method_agent_unlock, M_AUDIT, AUTH_ADMIN, 0 },
	{ "agent.lock", method_agent_lock, M_AUDIT, AUTH_ADMIN, 0 },
	{ "agent.passwd", method_agent_passwd, M_NEEDS_UNLOCK | M_AUDIT,
	  AUTH_ADMIN, 0 },
	{ "client.hello", method_client_hello, M_AUDIT | M_READ, AUTH_PEER, 0 },
	{ "client.add", method_client_add, M_NEEDS_UNLOCK | M_AUDIT, AUTH_ADMIN,
	  0 },
	{ "client.list", method_client_list, M_NEEDS_UNLOCK | M_READ,
	  AUTH_ADMIN, 0 },
	{ "client.revoke", method_client_revoke, M_NEEDS_UNLOCK | M_AUDIT,
	  AUTH_ADMIN, 0 },
	{ "audit.query", method_audit_query, M_READ, AUTH_ADMIN, 0 },
	{ "audit.stats", method_audit_stats, M_READ, AUTH_ADMIN, 0 },
	{ "audit.verify", method_audit_verify, M_NEEDS_UNLOCK | M_READ,
	  AUTH_ADMIN, 0 },
	{ "audit.follow", method_audit_follow, M_READ, AUTH_ADMIN, 0 },
	{ "policy.check", method_policy_check, M_READ, AUTH_ADMIN, 0 },
	{ "policy.show", method_policy_show, M_READ, AUTH_ADMIN, 0 },
	{ "policy.reload", method_policy_reload, M_AUDIT, AUTH_ADMIN, 0 },
	{ "secret.put", method_secret_put, M_NEEDS_UNLOCK | M_AUDIT, AUTH_NAME,
	  POLICY_OP_WRITE },
	{ "secret.get", method_secret_get, M_NEEDS_UNLOCK | M_AUDIT | M_READ,
	  AUTH_NAME, POLICY_OP_READ },
	{ "secret.list", method_secret_list, M_NEEDS_UNLOCK | M_AUDIT | M_READ,
	  AUTH_LIST, 0 },
	{ "secret.versions", method_secret_versions,
	  M_NEEDS_UNLOCK | M_AUDIT | M_READ, AUTH_NAME, POLICY_OP_LIST },
	{ "secret.delete", method_secret_delete, M_NEEDS_UNLOCK | M_AUDIT,
	  AUTH_NAME, POLICY_OP_WRITE },
	{ "secret.watch", method_secret_watch, M_READ, AUTH_ANY, 0 },
	{ "schedule.set", method_schedule_set, M_NEEDS_UNLOCK | M_AUDIT,
	  AUTH_ADMIN, 0 },
	{ "schedule.list", method_schedule_list, M_READ, AUTH_ADMIN, 0 },
	{ "schedule.delete", method_schedule_delete, M_AUDIT, AUTH_ADMIN, 0 },
	{ "rotate.start", method_rotate_start, M_NEEDS_UNLOCK | M_AUDIT,
	  AUTH_NAME, POLICY_OP_ROTATE },
	{ "rotate.status", method_rotate_status, M_READ, AUTH_NAME,
	  POLICY_OP_LIST },
	{ "apikey.create", method_apikey_create, M_NEEDS_UNLOCK | M_AUDIT,
	  AUTH_ADMIN, 0 },
	{ "apikey.list", method_apikey_list, M_READ, AUTH_ADMIN, 0 },
	{ "apikey.revoke", method_apikey_revoke, M_NEEDS_UNLOCK | M_AUDIT,
	  AUTH_ADMIN, 0 },
	{ "apikey.rotate", method_apikey_rotate, M_NEEDS_UNLOCK | M_AUDIT,
	  AUTH_ADMIN, 0 },
	{ "apikey.verify", method_apikey_verify,
	  M_NEEDS_UNLOCK | M_AUDIT | M_READ, AUTH_VERIFY, 0 },
	/* Grants on the signing key's name, checked by the methods. */
	{ "token.issue", method_token_issue, M_NEEDS_UNLOCK | M_AUDIT, AUTH_ANY,
	  0 },
	{ "token.verify", method_token_verify,
	  M_NEEDS_UNLOCK | M_AUDIT | M_READ, AUTH_ANY, 0 },
	{ "jwks", method_jwks, M_NEEDS_UNLOCK | M_READ, AUTH_ANY, 0 },
	/* The still-encrypted store: admin only, locked or not. */
	{ "store.backup", method_store_backup, M_AUDIT | M_READ, AUTH_ADMIN,
	  0 },
	{ "store.rekey", method_store_rekey, M_NEEDS_UNLOCK | M_AUDIT,
	  AUTH_ADMIN, 0 },
	{ "oauth.add", method_oauth_add, M_NEEDS_UNLOCK | M_AUDIT, AUTH_ADMIN,
	  0 },
	{ "oauth.status", method_oauth_status, M_NEEDS_UNLOCK | M_READ,
	  AUTH_LIST, 0 },
	{ "oauth.renew", method_oauth_renew, M_NEEDS_UNLOCK | M_AUDIT,
	  AUTH_NAME, POLICY_OP_ROTATE },
	{ "oauth.revoke", method_oauth_revoke, M_NEEDS_UNLOCK | M_AUDIT,
	  AUTH_ADMIN, 0 },
	{ "oauth.discover", method_oauth_discover, M_READ, AUTH_ADMIN, 0 },
	{ "oauth.resource_metadata", method_oauth_resource_metadata, M_READ,
	  AUTH_ADMIN, 0 },
	{ "oauth.register", method_oauth_register, M_READ | M_AUDIT, AUTH_ADMIN,
	  0 },
	{ "oauth.set_scope", method_oauth_set_scope, M_NEEDS_UNLOCK | M_AUDIT,
	  AUTH_ADMIN, 0 },
	/* Logging in gives the credential its tokens: admin, as adding. */
	{ "oauth.login_begin", method_oauth_login_begin,
	  M_NEEDS_UNLOCK | M_READ, AUTH_ADMIN, 0 },
	{ "oauth.login_finish", method_oauth_login_finish,
	  M_NEEDS_UNLOCK | M_AUDIT, AUTH_ADMIN, 0 },
	{ "oauth.device_begin", method_oauth_device_begin,
	  M_NEEDS_UNLOCK | M_READ, AUTH_ADMIN, 0 },
	{ "oauth.login_wait", method_oauth_login_wait, M_NEEDS_UNLOCK | M_AUDIT,
	  AUTH_ADMIN, 0 },
};

int rpc_fail(rpc_ctx *x, int err, const char *field, const char *fmt, ...)
{
	char why[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (field)
		snprintf(x->msg, sizeof(x->msg), "%s: %s", field, why);
	else
		snprintf(x->msg, sizeof(x->msg), "%s", why);
	x->field = field;
	return err;
}

/* 1..32 bytes of [A-Za-z0-9_.-]. */
static bool rpc_word(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++) {
		char ch = s[n];
		if (n >= 32 ||
		    !((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' ||
		      ch == '-'))
			return false;
	}
	return n > 0;
}

int rpc_allow(rpc_ctx *x, const char *const *keys)
{
	const char *key;
	json_t *v;
	json_object_foreach(x->params, key, v)
	{
		bool known = false;
		for (const char *const *k = keys; *k; k++) {
			if (strcmp(key, *k) == 0) {
				known = true;
				break;
			}
		}
		(void)v;
		if (known)
			continue;
		/* Member names are protocol words, not values; still, only
		 * echo one that looks like a word. */
		if (rpc_word(key))
			return rpc_fail(x, KW_EINVAL, NULL,
			                "params: unknown member \"%s\" (see "
			                "docs/protocol.md)",
			                key);
		return rpc_fail(x, KW_EINVAL, NULL,
		                "params: unknown member (see "
		                "docs/protocol.md)");
	}
	return 0;
}

int rpc_opt_string(rpc_ctx *x, const char *key, size_t max,
                   const char **ret_str, size_t *ret_len)
{
	json_t *v = json_object_get(x->params, key);
	if (!v) {
		*ret_str = NULL;
		*ret_len = 0;
		return 0;
	}
	if (!json_is_string(v))
		return rpc_fail(x, KW_EINVAL, key, "must be a string");
	size_t n = json_string_length(v);
	const char *s = json_string_value(v);
	if (n > max)
		return rpc_fail(x, KW_ETOOBIG, key, "longer than %zu bytes",
		                max);
	if (memchr(s, '\0', n))
		return rpc_fail(x, KW_EINVAL, key, "must not contain NUL");
	*ret_str = s;
	*ret_len = n;
	return 0;
}

int rpc_name(rpc_ctx *x, const char *key, const char **ret_name)
{
	json_t *v = json_object_get(x->params, key);
	if (!v)
		return rpc_fail(x, KW_EINVAL, key, "required");
	if (!json_is_string(v))
		return rpc_fail(x, KW_EINVAL, key, "must be a string");
	const char *rule = NULL;
	if (kw_name_check(json_string_value(v), json_string_length(v), &rule) <
	    0)
		return rpc_fail(x, KW_ENAME, key, "%s", rule);
	*ret_name = json_string_value(v);
	x->name = *ret_name;
	return 0;
}

int rpc_opt_uint(rpc_ctx *x, const char *key, uint64_t lo, uint64_t hi,
                 bool *ret_present, uint64_t *ret_value)
{
	json_t *v = json_object_get(x->params, key);
	*ret_present = v != NULL;
	if (!v)
		return 0;
	if (!json_is_integer(v))
		return rpc_fail(x, KW_EINVAL, key, "must be an integer");
	json_int_t n = json_integer_value(v);
	if (n < 0 || (uint64_t)n < lo || (uint64_t)n > hi)
		return rpc_fail(x, KW_EINVAL, key, "must be from %llu to %llu",
		                (unsigned long long)lo, (unsigned long long)hi);
	*ret_value = (uint64_t)n;
	return 0;
}

json_t *rpc_time(int64_t t)
{
	char buf[32];
	struct tm tm;
	time_t tt = (time_t)t;
	if (!gmtime_r(&tt, &tm) ||
	    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return json_string("1970-01-01T00:00:00Z");
	return json_string(buf);
}

static const struct rpc_method *rpc_lookup(const char *name)
{
	for (size_t i = 0; i < sizeof(rpc_methods) / sizeof(rpc_methods[0]);
	     i++) {
		if (strcmp(rpc_methods[i].name, name) == 0)
			return &rpc_methods[i];
	}
	return NULL;
}

/* Check the envelope; on success the ret_ outputs are set
 * (id NULL for a notification). On failure, answers and returns < 0. */
static int rpc_envelope(conn *c, json_t *req, const json_t **ret_id,
                        const char **ret_method, json_t **ret_params)
{
	if (!json_is_object(req)) {
		conn_reply_error(c, NULL, KW_EPROTO,
		                 "request must be a JSON object (batches are "
		                 "not supported)",
		                 NULL);
		return KW_EPROTO;
	}
	const json_t *id = json_object_get(req, "id");
	if (id && !json_is_integer(id) && !json_is_string(id)) {
		conn_reply_error(c, NULL, KW_EPROTO,
		                 "id: must be an integer or a string", NULL);
		return KW_EPROTO;
	}
	const json_t *ver = json_object_get(req, "jsonrpc");
	if (!json_is_string(ver) || strcmp(json_string_value(ver), "2.0")) {
		conn_reply_error(c, id, KW_EPROTO, "jsonrpc: must be \"2.0\"",
		                 NULL);
		return KW_EPROTO;
	}
	const json_t *method = json_object_get(req, "method");
	if (!json_is_string(method)) {
		conn_reply_error(c, id, KW_EPROTO,
		                 "method: required, must be a string", NULL);
		return KW_EPROTO;
	}
	json_t *params = json_object_get(req, "params");
	if (params && !json_is_object(params)) {
		conn_reply_error(c, id, KW_EINVAL, "params: must be an object",
		                 NULL);
		return KW_EINVAL;
	}
	const char *key;
	json_t *v;
	json_object_foreach(req, key, v)
	{
		(void)v;
		if (strcmp(key, "jsonrpc") && strcmp(key, "id") &&
		    strcmp(key, "method") && strcmp(key, "params")) {
			conn_reply_error(c, id, KW_EPROTO,
			                 "request: unknown member (allowed: "
			                 "jsonrpc, id, method, params)",
			                 NULL);
			return KW_EPROTO;
		}
	}
	*ret_id = id;
	*ret_method = json_string_value(method);
	*ret_params = params;
	return 0;
}

static int rpc_exe_sha256(void *arg, uint8_t out[32])
{
	conn *c = arg;
	return peer_exe_sha256(*c->h->exe_cache, &c->peer, out);
}

const policy_client *rpc_principal(rpc_host *h, conn *c)
{
	if (c->principal_gen == *h->policy_gen)
		return c->principal;
	policy_identity id = {
		.uid = c->peer.uid,
		.gid = c->peer.gid,
		.exe = c->peer.exe_known ? c->peer.exe : NULL,
		.token_name = c->token_name[0] ? c->token_name : NULL,
		.exe_sha256 = rpc_exe_sha256,
		.arg = c,
	};
	c->principal = policy_attribute(*h->pol, &id);
	c->principal_gen = *h->policy_gen;
	if (c->principal)
		log_debug("conn %llu: attributed to [client \"%s\"]",
		          (unsigned long long)c->serial,
		          policy_client_name(c->principal));
	return c->principal;
}

/* Peers no section matches share a bucket per uid: the [defaults] rate,
 * else UNATTRIBUTED_RATE. Their requests are denied anyway; this only
 * keeps a flood of them from costing the agent more than it should. */
static const policy_rate unattributed_rate = { 10, 1000, 20 };

static bool rpc_unattributed_limited(rpc_ctx *x)
{
	char key[32];
	uint32_t retry = 0;
	const policy_rate *rate = policy_client_rate(*x->h->pol, NULL);
	snprintf(key, sizeof(key), "uid:%u", (unsigned)x->c->peer.uid);
	int r = ratelimit_take(*x->h->rate, key,
	                       rate ? rate : &unattributed_rate, loop_now_ms(),
	                       &retry);
	if (r == 0)
		return false;
	x->extra = json_pack("{s:I}", "retry_after_ms", (json_int_t)retry);
	rpc_fail(x, KW_ERATE, NULL, "too many requests; retry in %u ms", retry);
	return true;
}

/* Attribution, rate, then the grant the method needs. */
static int rpc_authorize(rpc_ctx *x, const struct rpc_method *m)
{
	rpc_host *h = x->h;
	conn *c = x->c;

	/* The name asked for, for the audit row even of a refusal (an
	 * invalid one is left out: the method reports it). */
	json_t *nv = json_object_get(x->params, "name");
	if (json_is_string(nv) &&
	    kw_name_check(json_string_value(nv), json_string_length(nv),
	                  NULL) == 0)
		x->name = json_string_value(nv);
	if (m->auth == AUTH_PEER)
		return 0;
	const policy_client *pc = rpc_principal(h, c);
	if (!pc && rpc_unattributed_limited(x))
		return KW_ERATE;
	if (!pc)
		return rpc_fail(x, KW_EDENIED, NULL,
		                "no policy section matches this client (uid "
		                "%u, exe %s); see policies/README.md",
		                (unsigned)c->peer.uid,
		                c->peer.exe_known ? c->peer.exe : "unknown");
	x->principal = pc;
	snprintf(x->principal_name, sizeof(x->principal_name), "%s",
	         policy_client_name(pc));

	const policy_rate *rate = policy_client_rate(*h->pol, pc);
	uint32_t retry = 0;
	int rr = rate ? ratelimit_take(*h->rate, policy_client_name(pc), rate,
	                               loop_now_ms(), &retry) :
	                0;
	if (rr < 0 && rr != KW_ERATE)
		return rr; /* fail closed: no bucket, no request */
	if (rr == KW_ERATE) {
		x->extra =
			json_pack("{s:I}", "retry_after_ms", (json_int_t)retry);
		return rpc_fail(x, KW_ERATE, NULL,
		                "rate limit of [client \"%s\"] exceeded; retry "
		                "in %u ms",
		                policy_client_name(pc), retry);
	}

	const char *name = NULL;
	int r;
	switch (m->auth) {
	case AUTH_ADMIN:
		if (policy_client_allows(pc, POLICY_OP_ADMIN, NULL))
			return 0;
		return rpc_fail(x, KW_EDENIED, NULL,
		                "[client \"%s\"] (%s:%u) is not an admin",
		                policy_client_name(pc), policy_client_file(pc),
		                policy_client_line(pc));
	case AUTH_NAME:
		if ((r = rpc_name(x, "name", &name)) < 0)
			return r;
		/* The token signing key forges any token: reading or writing
		 * it takes admin, whatever the name globs say. */
		if ((m->op == POLICY_OP_READ || m->op == POLICY_OP_WRITE) &&
		    strcmp(name, h->cfg->token_signing_key) == 0 &&
		    !policy_client_allows(pc, POLICY_OP_ADMIN, NULL))
			return rpc_fail(x, KW_EDENIED, NULL,
			                "this is the token signing key "
			                "([token] signing_key): only an admin "
			                "may read or write it");
		if (policy_client_allows(pc, m->op, name))
			return 0;
		return rpc_fail(x, KW_EDENIED, NULL,
		                "[client \"%s\"] (%s:%u) grants no %s on this "
		                "name",
		                policy_client_name(pc), policy_client_file(pc),
		                policy_client_line(pc), policy_op_name(m->op));
	case AUTH_LIST:
		if (policy_client_allows(pc, POLICY_OP_LIST, NULL))
			return 0;
		return rpc_fail(x, KW_EDENIED, NULL,
		                "[client \"%s\"] (%s:%u) grants no list",
		                policy_client_name(pc), policy_client_file(pc),
		                policy_client_line(pc));
	case AUTH_VERIFY:
		if (policy_client_allows(pc, POLICY_OP_VERIFY, NULL))
			return 0;
		return rpc_fail(x, KW_EDENIED, NULL,
		                "[client \"%s\"] (%s:%u) grants no verify",
		                policy_client_name(pc), policy_client_file(pc),
		                policy_client_line(pc));
	default:
		return 0;
	}
}

static int rpc_outcome(int r)
{
	if (r == 0)
		return AUDIT_OK;
	if (r == KW_EDENIED)
		return AUDIT_DENIED;
	if (r == KW_ERATE)
		return AUDIT_RATE_LIMITED;
	return AUDIT_ERROR;
}

/*
 * The audit row for this request, before anything is answered. If it
 * cannot be written, the request fails (and so does the turn's batch, so
 * whatever the request changed is rolled back): fail closed.
 */
static int rpc_record(rpc_ctx *x, const struct rpc_method *m, int r,
                      json_t **result)
{
	bool refusal = r == KW_EDENIED || r == KW_ERATE || x->audit_denied;
	if (!refusal && !(m && (m->flags & M_AUDIT)))
		return r;
	/* Refused before it ran because no row can be vouched for now
	 * (checkpoint_failure = refuse): there is no row to write either. */
	if (r == KW_ESTATE && audit_refusing(*x->h->au))
		return r;
	json_t *v =
		r == 0 && *result ? json_object_get(*result, "version") : NULL;
	audit_event ev = {
		.uid = x->c->peer.uid,
		.pid = x->c->peer.pid,
		.exe = x->c->peer.exe_known ? x->c->peer.exe : NULL,
		.principal = x->principal_name[0] ? x->principal_name : NULL,
		.op = x->method,
		.name = x->name,
		.version = json_is_integer(v) ?
		                   (uint64_t)json_integer_value(v) :
		                   0,
		.outcome = x->audit_denied ? AUDIT_DENIED : rpc_outcome(r),
		.reason = x->audit_denied ? x->audit_reason :
		          r == 0          ? x->audit_note :
		          x->msg[0]       ? x->msg :
		                            kw_strerror(r),
	};
	/* A refusal changed nothing: its row alone needs no sync. */
	int ar = (!m || r < 0 || (m->flags & M_READ)) ?
	                 x->h->ops->batch_read(x->h) :
	                 x->h->ops->batch(x->h);
	if (ar == 0)
		ar = audit_append(*x->h->au, &ev, clock_wall_us());
	if (ar == 0)
		return r;
	x->h->ops->batch_fail(x->h, ar);
	char why[192];
	x->h->ops->store_why(x->h, ar, why, sizeof(why));
	log_error("conn %llu: %s: audit row not written (%s); refusing",
	          (unsigned long long)x->c->serial, x->method, why);
	json_decref(*result);
	*result = NULL;
	x->field = NULL;
	json_decref(x->extra);
	x->extra = NULL;
	return rpc_fail(x, rpc_store_code(ar), NULL,
	                "the audit log could not be written (%s): nothing "
	                "was kept and the answer was withheld",
	                why);
}

static void rpc_answer(rpc_ctx *x, int r, json_t *result)
{
	if (r == 0) {
		log_debug("conn %llu: uid %u pid %d: %s%s%s: ok",
		          (unsigned long long)x->c->serial,
		          (unsigned)x->c->peer.uid, (int)x->c->peer.pid,
		          x->method, x->name ? " " : "",
		          x->name ? x->name : "");
		if (x->id)
			conn_reply_result(x->c, x->id, result);
		else
			json_decref(result);
		return;
	}
	log_debug("conn %llu: uid %u pid %d: %s%s%s: %s",
	          (unsigned long long)x->c->serial, (unsigned)x->c->peer.uid,
	          (int)x->c->peer.pid, x->method, x->name ? " " : "",
	          x->name ? x->name : "", kw_error_name(r));
	if (!x->id)
		return;
	json_t *extra = x->extra;
	x->extra = NULL;
	if (x->field) {
		if (!extra)
			extra = json_object();
		if (extra)
			json_object_set_new(extra, "field",
			                    json_string(x->field));
	}
	conn_reply_error(x->c, x->id, r, x->msg[0] ? x->msg : NULL, extra);
}

void dispatch_line(rpc_host *h, conn *c, const char *line, size_t len)
{
	json_error_t jerr;
	json_t *req =
		json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
	                   &jerr);
	if (!req) {
		char msg[96];
		snprintf(msg, sizeof(msg),
		         "invalid JSON (or not UTF-8) near byte %d",
		         jerr.position);
		conn_reply_error(c, NULL, KW_EPARSE, msg, NULL);
		return;
	}

	rpc_ctx x = { .h = h, .c = c };
	json_t *params = NULL;
	if (rpc_envelope(c, req, &x.id, &x.method, &params) < 0)
		goto out;
	json_t *empty = NULL;
	if (!params)
		params = empty = json_object();
	x.params = params;

	json_t *result = NULL;
	int r;
	const struct rpc_method *m = rpc_lookup(x.method);
	if (h->fault->active && !(m && m->fn == method_agent_status)) {
		/* Nothing can be recorded, so nothing is served: not even a
		 * refusal could get its audit row. */
		rpc_answer(&x,
		           rpc_fail(&x, KW_EIO, NULL,
		                    "the agent is re-establishing a known "
		                    "state of the store after a failed "
		                    "disk write; nothing was done (keyward "
		                    "status says what it waits for)"),
		           NULL);
		goto done;
	}
	if (!m) {
		x.method = "(unknown)";
		r = rpc_fail(&x, KW_EMETHOD, NULL,
		             "unknown method (see docs/protocol.md)");
	} else if (h->unsafe_why[0]) {
		/* The home or socket was opened up while the agent runs
		 * (agent_watch_modes): nothing is served until it is fixed. */
		r = rpc_fail(&x, KW_EPERM, NULL,
		             "the agent refuses every request: %s",
		             h->unsafe_why);
	} else if ((r = rpc_authorize(&x, m)) < 0) {
		/* denied or rate limited: the reason is in x */
	} else if ((m->flags & M_NEEDS_UNLOCK) && !*h->dk) {
		r = rpc_fail(&x, KW_ELOCKED, NULL,
		             "the agent is locked; unlock it first "
		             "(keyward unlock)");
	} else if ((m->flags & M_AUDIT) && audit_refusing(*h->au)) {
		r = rpc_fail(
			&x, KW_ESTATE, NULL,
			"audit checkpoints cannot be written "
			"([audit] checkpoint_failure = refuse; see keyward "
			"status): nothing was done");
	} else if (!h->fault->active &&
	           (r = (m->flags & M_READ) ? h->ops->batch_read(h) :
	                                      h->ops->batch(h)) < 0) {
		char why[192];
		h->ops->store_why(h, r, why, sizeof(why));
		r = rpc_fail(&x, rpc_store_code(r), NULL,
		             "the store cannot record this request (%s); "
		             "nothing was done",
		             why);
	} else {
		r = m->fn(&x, &result);
	}
	if (r == RPC_PARKED && x.park_replay) {
		/* Asked again, whole, when woken (methods_oauth.c). */
		char *copy = kw_wipealloc(len + 1);
		if (copy) {
			memcpy(copy, line, len);
			copy[len] = '\0';
			c->replay_line = copy;
			c->replay_len = len;
			c->parked = true;
		} else {
			methods_oauth_conn_gone(h, c);
			r = rpc_record(&x, m, KW_ENOMEM, &result);
			rpc_answer(&x, r, result);
		}
	} else if (r == RPC_PARKED) {
		c->parked = true;
		c->park_id = x.id ? json_deep_copy(x.id) : NULL;
	} else {
		r = rpc_record(&x, m, r, &result);
		rpc_answer(&x, r, result);
	}
done:
	json_decref(x.extra);
	json_decref(empty);
out:
	json_decref(req);
}
