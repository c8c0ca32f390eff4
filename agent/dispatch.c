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

#include "conn.h"
#include "keyward.h"
#include "log.h"
#include "name.h"

enum { M_NEEDS_UNLOCK = 1 };

static const struct rpc_method {
	const char *name;
	rpc_handler fn;
	int flags;
} rpc_methods[] = {
	{ "agent.status", method_agent_status, 0 },
	{ "agent.unlock", method_agent_unlock, 0 },
	{ "agent.lock", method_agent_lock, 0 },
	{ "agent.passwd", method_agent_passwd, M_NEEDS_UNLOCK },
	{ "secret.put", method_secret_put, M_NEEDS_UNLOCK },
	{ "secret.get", method_secret_get, M_NEEDS_UNLOCK },
	{ "secret.list", method_secret_list, M_NEEDS_UNLOCK },
	{ "secret.versions", method_secret_versions, M_NEEDS_UNLOCK },
	{ "secret.delete", method_secret_delete, M_NEEDS_UNLOCK },
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

static void rpc_answer(rpc_ctx *x, int r, json_t *result)
{
	if (r == 0) {
		log_debug("conn %llu: uid %u pid %d: %s%s%s: ok",
		          (unsigned long long)x->c->serial, (unsigned)x->c->uid,
		          (int)x->c->pid, x->method, x->name ? " " : "",
		          x->name ? x->name : "");
		if (x->id)
			conn_reply_result(x->c, x->id, result);
		else
			json_decref(result);
		return;
	}
	log_debug("conn %llu: uid %u pid %d: %s%s%s: %s",
	          (unsigned long long)x->c->serial, (unsigned)x->c->uid,
	          (int)x->c->pid, x->method, x->name ? " " : "",
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

void dispatch_line(agent *a, conn *c, const char *line, size_t len)
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

	rpc_ctx x = { .a = a, .c = c };
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
	if (!m) {
		x.method = "(unknown)";
		r = rpc_fail(&x, KW_EMETHOD, NULL,
		             "unknown method (see docs/protocol.md)");
	} else if ((m->flags & M_NEEDS_UNLOCK) && !a->dk) {
		r = rpc_fail(&x, KW_ELOCKED, NULL,
		             "the agent is locked; unlock it first "
		             "(keyward unlock)");
	} else {
		r = m->fn(&x, &result);
	}
	if (r == RPC_PARKED) {
		c->parked = true;
		c->park_id = x.id ? json_deep_copy(x.id) : NULL;
	} else {
		rpc_answer(&x, r, result);
	}
	json_decref(x.extra);
	json_decref(empty);
out:
	json_decref(req);
}
