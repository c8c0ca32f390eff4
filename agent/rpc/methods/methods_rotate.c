/*
 * methods_rotate.c - schedule.*, rotate.* and secret.watch
 * (docs/protocol.md, docs/rotation.md), and the secret.rotated push.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "clock.h"
#include "conn.h"
#include "dispatch.h"
#include "duration.h"
#include "glob.h"
#include "keyward.h"
#include "log.h"
#include "name.h"
#include "policy.h"
#include "rotate.h"
#include "rotspec.h"
#include "schedule.h"
#include "secmem.h"
#include "store_rotation.h"

#define EVERY_MIN      60u
#define EVERY_MAX      315360000u /* 10 years */
#define OVERLAP_MAX    31536000u  /* 1 year */
#define LIST_LIMIT_MAX 1000u
#define HISTORY_MAX    10u

/* An optional boolean member; *ret untouched if absent. */
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

/* A required or optional spec string, parsed. */
static int param_spec(rpc_ctx *x, const char *key, bool required, rotspec *ret,
                      bool *ret_present)
{
	const char *s;
	size_t n;
	const char *why = NULL;
	int r = rpc_opt_string(x, key, ROTSPEC_MAX, &s, &n);
	if (r < 0)
		return r;
	*ret_present = s != NULL;
	if (!s)
		return required ? rpc_fail(x, KW_EINVAL, key, "required") : 0;
	if (rotspec_parse(s, n, ret, &why) < 0)
		return rpc_fail(x, KW_EINVAL, key, "%s",
		                why ? why : "not a valid rotator spec");
	return 0;
}

/*
 * The schedule as the protocol shows it. A rotator's target (a command
 * path, a webhook URL that may carry a token of its own) and the HMAC
 * secret's name are for admins; others see the rotator's kind only.
 */
static json_t *schedule_json(const store_schedule *sc, bool running, bool admin)
{
	char window[12], kind[16];
	json_t *o;

	if (sc->window)
		kw_window_format(sc->window_start, sc->window_end, window);
	snprintf(kind, sizeof(kind), "%.*s", (int)strcspn(sc->rotator, ":"),
	         sc->rotator);
	o = json_pack(
		"{s:s, s:I, s:s?, s:I, s:I, s:s, s:s?, s:s?, s:b, s:b, s:o,"
		" s:o, s:s?, s:b}",
		"name", sc->name, "every", (json_int_t)sc->every, "window",
		sc->window ? window : NULL, "jitter", (json_int_t)sc->jitter,
		"overlap", (json_int_t)sc->overlap, "rotator",
		admin ? sc->rotator : kind, "generate",
		sc->generate[0] ? sc->generate : NULL, "hmac_secret",
		admin && sc->hmac_secret[0] ? sc->hmac_secret : NULL,
		"allow_private", (sc->flags & SCHEDULE_ALLOW_PRIVATE) != 0,
		"allow_insecure", (sc->flags & SCHEDULE_ALLOW_INSECURE) != 0,
		"next_run", rpc_time(sc->next_run), "last_run",
		sc->last_run ? rpc_time(sc->last_run) : json_null(),
		"last_outcome", sc->last_outcome[0] ? sc->last_outcome : NULL,
		"running", running);
	return o;
}

static bool schedule_running(rpc_host *h, const char *name)
{
	store_rotation ro;
	return store_rotation_active(*h->st, name, &ro) == 0;
}

/* The rotator-specific members of schedule.set. */
static int schedule_rotator(rpc_ctx *x, const char *name, store_schedule *sc)
{
	rotspec rot, gen;
	bool has_rot, has_gen = false, priv = false, insecure = false;
	const char *why = NULL, *hmac;
	size_t hlen;
	int r;

	if ((r = param_spec(x, "rotator", true, &rot, &has_rot)) < 0 ||
	    (r = param_spec(x, "generate", false, &gen, &has_gen)) < 0 ||
	    (r = opt_bool(x, "allow_private", &priv)) < 0 ||
	    (r = opt_bool(x, "allow_insecure", &insecure)) < 0 ||
	    (r = rpc_opt_string(x, "hmac_secret", KW_NAME_MAX, &hmac, &hlen)) <
	            0)
		return r;
	if (has_gen && rot.kind == ROTSPEC_RANDOM)
		return rpc_fail(x, KW_EINVAL, "generate",
		                "only for command: and webhook: rotators (a "
		                "random: rotator generates by itself)");
	if (has_gen && gen.kind != ROTSPEC_RANDOM)
		return rpc_fail(x, KW_EINVAL, "generate",
		                "must be a random: spec");
	if (rot.kind != ROTSPEC_WEBHOOK) {
		if (json_object_get(x->params, "allow_private") ||
		    json_object_get(x->params, "allow_insecure"))
			return rpc_fail(x, KW_EINVAL, "allow_private",
			                "allow_private and allow_insecure are "
			                "only for webhook: rotators");
		if (hmac)
			return rpc_fail(x, KW_EINVAL, "hmac_secret",
			                "only for webhook: rotators");
	}
	if (rot.kind == ROTSPEC_COMMAND &&
	    rotspec_check_command(rot.target, (unsigned)geteuid(), &why) < 0)
		return rpc_fail(x, KW_EINVAL, "rotator", "%s",
		                why ? why : "the command cannot be used");
	if (rot.kind == ROTSPEC_WEBHOOK) {
		if (!hmac)
			return rpc_fail(
				x, KW_EINVAL, "hmac_secret",
				"required for a webhook: rotator (the "
				"secret whose value signs the requests)");
		if (kw_name_check(hmac, hlen, &why) < 0)
			return rpc_fail(x, KW_ENAME, "hmac_secret", "%s", why);
		if (strcmp(hmac, name) == 0)
			return rpc_fail(
				x, KW_EINVAL, "hmac_secret",
				"must not be the rotated secret itself");
		if (strncmp(rot.target, "http://", 7) == 0 && !insecure)
			return rpc_fail(x, KW_EINVAL, "rotator",
			                "http:// needs allow_insecure (and "
			                "then reaches loopback only)");
		snprintf(sc->hmac_secret, sizeof(sc->hmac_secret), "%s", hmac);
	}
	rotspec_format_spec(&rot, sc->rotator, sizeof(sc->rotator));
	if (has_gen)
		rotspec_format_spec(&gen, sc->generate, sizeof(sc->generate));
	else if (rot.kind != ROTSPEC_RANDOM)
		snprintf(sc->generate, sizeof(sc->generate), "%s",
		         ROTSPEC_GENERATE_DEFAULT);
	sc->flags = (priv ? SCHEDULE_ALLOW_PRIVATE : 0) |
	            (insecure ? SCHEDULE_ALLOW_INSECURE : 0);
	return 0;
}

int method_schedule_set(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = {
		"name",          "every",          "rotator",  "window",
		"jitter",        "overlap",        "generate", "hmac_secret",
		"allow_private", "allow_insecure", NULL,
	};
	rpc_host *h = x->h;
	store_schedule sc;
	const char *name, *window;
	size_t wlen;
	bool present;
	uint64_t n;
	int r;

	memset(&sc, 0, sizeof(sc));
	if ((r = rpc_allow(x, keys)) < 0 ||
	    (r = rpc_name(x, "name", &name)) < 0 ||
	    (r = methods_oauth_refuse_write(x, name)) < 0)
		return r;
	snprintf(sc.name, sizeof(sc.name), "%s", name);
	if ((r = rpc_opt_uint(x, "every", EVERY_MIN, EVERY_MAX, &present,
	                      &sc.every)) < 0)
		return r;
	if (!present)
		return rpc_fail(x, KW_EINVAL, "every",
		                "required (seconds, %u to %u)", EVERY_MIN,
		                EVERY_MAX);
	if ((r = rpc_opt_uint(x, "jitter", 0, sc.every, &present, &n)) < 0)
		return r;
	sc.jitter = present ? n : 0;
	if ((r = rpc_opt_uint(x, "overlap", 0, OVERLAP_MAX, &present, &n)) < 0)
		return r;
	sc.overlap = present ? n : h->cfg->rotation_default_overlap;
	if ((r = rpc_opt_string(x, "window", 11, &window, &wlen)) < 0)
		return r;
	if (window) {
		const char *why = NULL;
		if (kw_window_parse(window, &sc.window_start, &sc.window_end,
		                    &why) < 0)
			return rpc_fail(x, KW_EINVAL, "window", "%s",
			                why ? why : "must be HH:MM-HH:MM");
		sc.window = true;
	}
	if ((r = schedule_rotator(x, name, &sc)) < 0)
		return r;

	int64_t now = clock_now();
	sched_spec spec = {
		.every = sc.every,
		.window = sc.window,
		.window_start = sc.window_start,
		.window_end = sc.window_end,
		.jitter = sc.jitter,
	};
	uint64_t rnd;
	randombytes_buf(&rnd, sizeof(rnd));
	sc.created = now;
	sc.next_run = sched_next(&spec, now, rnd);
	if ((r = store_schedule_put(*h->st, &sc)) < 0 ||
	    (r = store_schedule_get(*h->st, name, &sc)) < 0)
		return r;
	rotate_changed(*h->rot);
	*ret_result = schedule_json(&sc, schedule_running(h, name), true);
	return *ret_result ? 0 : KW_ENOMEM;
}

struct list_ctx {
	rpc_host *h;
	json_t *arr;
	char last[KW_NAME_MAX + 1];
};

static int list_one(const store_schedule *sc, void *arg)
{
	struct list_ctx *l = arg;
	json_t *o = schedule_json(sc, schedule_running(l->h, sc->name), true);
	if (!o || json_array_append_new(l->arr, o) < 0)
		return KW_ENOMEM;
	snprintf(l->last, sizeof(l->last), "%s", sc->name);
	return 0;
}

/* An optional name-shaped member (a list cursor or prefix). */
static int opt_name(rpc_ctx *x, const char *key, const char **ret)
{
	size_t n;
	const char *why = NULL;
	int r = rpc_opt_string(x, key, KW_NAME_MAX, ret, &n);
	if (r < 0 || !*ret || n == 0)
		return r;
	/* A prefix may end in '/', which a name may not. */
	for (size_t i = 0; i < n; i++) {
		char c = (*ret)[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-' || c == '/'))
			why = "only name characters [A-Za-z0-9._/-]";
	}
	return why ? rpc_fail(x, KW_ENAME, key, "%s", why) : 0;
}

int method_schedule_list(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { "after", "prefix", "limit", NULL };
	const char *after, *prefix;
	bool present;
	uint64_t limit;
	int r;

	if ((r = rpc_allow(x, keys)) < 0 ||
	    (r = opt_name(x, "after", &after)) < 0 ||
	    (r = opt_name(x, "prefix", &prefix)) < 0 ||
	    (r = rpc_opt_uint(x, "limit", 1, LIST_LIMIT_MAX, &present,
	                      &limit)) < 0)
		return r;
	if (!present)
		limit = LIST_LIMIT_MAX;
	struct list_ctx l = { .h = x->h, .arr = json_array() };
	if (!l.arr)
		return KW_ENOMEM;
	r = store_schedule_list(*x->h->st, after, prefix, (uint32_t)limit,
	                        list_one, &l);
	if (r < 0) {
		json_decref(l.arr);
		return r;
	}
	bool full = json_array_size(l.arr) == limit;
	*ret_result = json_pack("{s:o, s:s?}", "schedules", l.arr, "next",
	                        full ? l.last : NULL);
	return *ret_result ? 0 : KW_ENOMEM;
}

int method_schedule_delete(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { "name", NULL };
	const char *name;
	int r;

	if ((r = rpc_allow(x, keys)) < 0 ||
	    (r = rpc_name(x, "name", &name)) < 0)
		return r;
	r = store_schedule_delete(*x->h->st, name);
	if (r == KW_ENOTFOUND)
		return rpc_fail(x, r, "name", "no schedule for this secret");
	if (r < 0)
		return r;
	rotate_changed(*x->h->rot);
	*ret_result = json_pack("{s:b}", "deleted", 1);
	return *ret_result ? 0 : KW_ENOMEM;
}

int method_rotate_start(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { "name", NULL };
	char id[ROTATION_ID_LEN + 1];
	bool started = false;
	const char *name;
	int r;

	if ((r = rpc_allow(x, keys)) < 0 ||
	    (r = rpc_name(x, "name", &name)) < 0)
		return r;
	r = rotate_start(*x->h->rot, name, id, &started);
	if (r == KW_ENOTFOUND)
		return rpc_fail(x, r, "name",
		                "no schedule for this secret (add one with "
		                "keyward schedule)");
	if (r < 0)
		return r;
	*ret_result =
		json_pack("{s:s, s:b}", "rotation_id", id, "started", started);
	return *ret_result ? 0 : KW_ENOMEM;
}

static json_t *rotation_json(const store_rotation *ro)
{
	return json_pack(
		"{s:s, s:s, s:s, s:I, s:o, s:I, s:I, s:o, s:o, s:o, s:s?}",
		"id", ro->id, "trigger", ro->trigger, "step", ro->step,
		"attempts", (json_int_t)ro->attempts, "next_try",
		ro->next_try ? rpc_time(ro->next_try) : json_null(),
		"pending_version", (json_int_t)ro->pending_version,
		"previous_version", (json_int_t)ro->previous_version,
		"new_version",
		ro->new_version ? json_integer((json_int_t)ro->new_version) :
				  json_null(),
		"started", rpc_time(ro->started), "finished",
		ro->finished ? rpc_time(ro->finished) : json_null(), "error",
		ro->error[0] ? ro->error : NULL);
}

static int history_one(const store_rotation *ro, void *arg)
{
	json_t *o = rotation_json(ro);
	if (!o || json_array_append_new(arg, o) < 0)
		return KW_ENOMEM;
	return 0;
}

int method_rotate_status(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { "name", NULL };
	rpc_host *h = x->h;
	store_schedule sc;
	store_rotation ro;
	const char *name;
	int r;

	if ((r = rpc_allow(x, keys)) < 0 ||
	    (r = rpc_name(x, "name", &name)) < 0)
		return r;
	bool admin = x->principal &&
	             policy_client_allows(x->principal, POLICY_OP_ADMIN, NULL);
	int sr = store_schedule_get(*h->st, name, &sc);
	if (sr < 0 && sr != KW_ENOTFOUND)
		return sr;
	int ar = store_rotation_active(*h->st, name, &ro);
	if (ar < 0 && ar != KW_ENOTFOUND)
		return ar;
	json_t *hist = json_array();
	if (!hist)
		return KW_ENOMEM;
	r = store_rotation_history(*h->st, name, HISTORY_MAX, history_one,
	                           hist);
	if (r < 0) {
		json_decref(hist);
		return r;
	}
	*ret_result =
		json_pack("{s:s, s:o, s:o, s:o}", "name", name, "schedule",
	                  sr == 0 ? schedule_json(&sc, ar == 0, admin) :
	                            json_null(),
	                  "rotation",
	                  ar == 0 ? rotation_json(&ro) : json_null(), "history",
	                  hist);
	return *ret_result ? 0 : KW_ENOMEM;
}

int method_secret_watch(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { "pattern", NULL };
	conn *c = x->c;
	const char *pattern, *why = NULL;
	size_t n;
	int r;

	if ((r = rpc_allow(x, keys)) < 0 ||
	    (r = rpc_opt_string(x, "pattern", KW_NAME_MAX, &pattern, &n)) < 0)
		return r;
	if (!pattern)
		return rpc_fail(x, KW_EINVAL, "pattern", "required");
	if (kw_glob_check(pattern, &why) < 0)
		return rpc_fail(x, KW_EINVAL, "pattern", "%s",
		                why ? why : "not a valid glob");
	bool known = false;
	for (uint32_t i = 0; i < c->nwatch; i++)
		known = known || strcmp(c->watch[i], pattern) == 0;
	if (!known) {
		if (c->nwatch == CONN_WATCH_MAX)
			return rpc_fail(x, KW_ELIMIT, "pattern",
			                "at most %u patterns per connection",
			                CONN_WATCH_MAX);
		char *copy = kw_wipestrdup(pattern);
		if (!copy)
			return KW_ENOMEM;
		c->watch[c->nwatch++] = copy;
	}
	*ret_result = json_pack("{s:s}", "watching", pattern);
	return *ret_result ? 0 : KW_ENOMEM;
}

static bool watches(const conn *c, const char *name)
{
	for (uint32_t i = 0; i < c->nwatch; i++) {
		if (kw_glob_match(c->watch[i], name))
			return true;
	}
	return false;
}

/* Push params as secret.rotated to the watchers of name that may read it
 * (params not stolen). */
static void notify_watchers(rpc_host *h, const char *name, json_t *params)
{
	for (conn *c = *h->conns; c; c = c->next) {
		if (c->dead || c->nwatch == 0 || !watches(c, name))
			continue;
		/* Only names this client may read: the notice itself tells
		 * that a secret exists and changed. Checked now, so a
		 * revoked token or a reload that took the grant away
		 * counts at once. */
		const policy_client *pc = rpc_principal(h, c);
		if (!pc || !policy_client_allows(pc, POLICY_OP_READ, name))
			continue;
		if (conn_unsent(c) >= h->cfg->max_output_bytes) {
			log_warn("conn %llu: watcher not reading "
			         "(max_output_bytes); closing",
			         (unsigned long long)c->serial);
			c->closing = true;
			continue;
		}
		conn_notify(c, "secret.rotated", params);
	}
}

void methods_notify_rotated(rpc_host *h, const char *name, uint64_t version,
                            uint64_t previous, const char *rotation_id)
{
	json_t *params =
		json_pack("{s:s, s:I, s:I, s:s}", "name", name, "version",
	                  (json_int_t)version, "previous_version",
	                  (json_int_t)previous, "rotation_id", rotation_id);
	if (!params)
		return;
	notify_watchers(h, name, params);
	json_decref(params);
}

void methods_notify_reauth(rpc_host *h, const char *name)
{
	json_t *params =
		json_pack("{s:s, s:b}", "name", name, "needs_reauth", 1);
	if (!params)
		return;
	notify_watchers(h, name, params);
	json_decref(params);
}
