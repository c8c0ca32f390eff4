/*
 * watch.c - libkeyward: rotation watch (docs/protocol.md, secret.watch).
 *
 * The agent keeps a connection's patterns only as long as the connection,
 * so every registration is kept here as well, with a flag saying whether
 * the current connection has it. client_drop() clears the flags; the next
 * kw_watch_dispatch (or, once per connection, any other call) registers
 * the patterns again. That happens only after the client token, if there
 * is one, was accepted: a pattern registered without it would be
 * evaluated for the wrong principal.
 *
 * The agent sends one "secret.rotated" per rotation and connection, not
 * one per matching pattern; the library matches the name against each
 * registration itself (common/glob.c, the agent's matcher) to know whose
 * callbacks to run.
 */
#include <stdio.h>
#include <string.h>

#include "client_int.h"
#include "glob.h"
#include "name.h"
#include "secmem.h"

/* Passes over the registrations in client_watch_present: a connection
 * that breaks in the middle clears the flags set before it. */
#define WATCH_PRESENT_PASSES 3

void client_watch_reset(kw_client *c)
{
	for (size_t i = 0; i < c->watch.count; i++)
		c->watch.entries[i].live = false;
	c->watch.tried = false;
}

bool client_watch_pending(const kw_client *c)
{
	for (size_t i = 0; i < c->watch.count; i++)
		if (!c->watch.entries[i].live)
			return true;
	return false;
}

/* Mark every registration of pattern as known to the connection. */
static void watch_mark_live(kw_client *c, const char *pattern)
{
	for (size_t i = 0; i < c->watch.count; i++)
		if (strcmp(c->watch.entries[i].pattern, pattern) == 0)
			c->watch.entries[i].live = true;
}

/* One secret.watch call; the answer must echo the pattern. */
static int watch_call(kw_client *c, const char *pattern, int64_t deadline)
{
	json_t *params = json_pack("{s:s}", "pattern", pattern), *res = NULL;
	const json_t *echo;
	int r;

	if (!params)
		return KW_ENOMEM;
	r = client_call_until(c, "secret.watch", params, deadline, &res);
	if (r < 0)
		return r;
	echo = json_object_get(res, "watching");
	if (!json_is_object(res) || !json_is_string(echo) ||
	    strcmp(json_string_value(echo), pattern) != 0)
		r = client_fail(c, KW_EPROTO,
		                "the agent's answer to secret.watch does not "
		                "name the pattern");
	json_decref(res);
	return r;
}

int client_watch_present(kw_client *c, int64_t deadline)
{
	int r;

	for (int pass = 0; pass < WATCH_PRESENT_PASSES; pass++) {
		if (!client_watch_pending(c))
			return 0;
		r = client_ensure_open(c, deadline);
		if (r == 0 && c->token && c->token_pending)
			r = client_token_present(c, deadline);
		if (r < 0)
			return r;
		for (size_t i = 0; i < c->watch.count; i++) {
			struct client_watch_entry *e = &c->watch.entries[i];

			if (e->live)
				continue;
			r = watch_call(c, e->pattern, deadline);
			if (r < 0)
				return r;
			watch_mark_live(c, e->pattern);
		}
	}
	return client_watch_pending(c) ? KW_ECLOSED : 0;
}

/* Public ----------------------------------------------------------------- */

static int watch_add(kw_client *c, const char *pattern, kw_watch_fn cb,
                     void *arg)
{
	struct client_watch_entry *e;
	const char *why = NULL;
	char msg[128];
	int r;

	if (!cb)
		return client_fail(c, KW_EINVAL, "the callback is NULL");
	if (kw_glob_check(pattern, &why) < 0) {
		snprintf(msg, sizeof(msg), "invalid pattern: %s", why);
		return client_fail(c, KW_EINVAL, msg);
	}
	if (c->watch.count == KW_WATCH_MAX)
		return client_fail(c, KW_ELIMIT,
		                   "this client already watches 16 patterns");
	e = &c->watch.entries[c->watch.count++];
	memcpy(e->pattern, pattern, strlen(pattern) + 1);
	e->cb = cb;
	e->arg = arg;
	e->live = false;
	for (size_t i = 0; i + 1 < c->watch.count; i++)
		if (c->watch.entries[i].live &&
		    strcmp(c->watch.entries[i].pattern, pattern) == 0)
			e->live = true;
	r = client_watch_present(c, client_now_ms() + c->timeout_ms);
	if (r < 0 && !e->live) {
		/* The newest is always the last: taking it off the end
		 * leaves the others in registration order. */
		c->watch.count--;
		memset(e, 0, sizeof(*e));
	}
	return r;
}

int kw_watch(kw_client *c, const char *pattern, kw_watch_fn cb, void *arg)
{
	if (!c)
		return KW_EINVAL;
	client_begin(c);
	return client_end(c, watch_add(c, pattern, cb, arg));
}

/* Run the callbacks for one queued notification; their number, or
 * KW_EPROTO for a "secret.rotated" without a valid name and version. */
static int watch_run(kw_client *c, const char *method, const char *params)
{
	json_t *p;
	const json_t *jname;
	const char *name;
	uint64_t version = 0;
	int n = 0;

	if (strcmp(method, "secret.rotated") != 0)
		return 0;
	p = json_loads(params, JSON_REJECT_DUPLICATES, NULL);
	jname = json_object_get(p, "name");
	if (!json_is_string(jname) ||
	    kw_name_check(json_string_value(jname), json_string_length(jname),
	                  NULL) < 0 ||
	    !kw_json_get_uint(p, "version", 1, &version)) {
		json_decref(p);
		return client_fail(c, KW_EPROTO,
		                   "the agent sent a secret.rotated "
		                   "notification without a valid name and "
		                   "version");
	}
	name = json_string_value(jname);
	/* count is read on every turn: a callback may call kw_watch. */
	for (size_t i = 0; i < c->watch.count; i++) {
		const struct client_watch_entry *e = &c->watch.entries[i];

		if (!kw_glob_match(e->pattern, name))
			continue;
		e->cb(name, version, e->arg);
		n++;
	}
	json_decref(p);
	return n;
}

/* Run the queued notifications until one ran a callback or the queue is
 * empty. The number of callbacks run, or an error. */
static int watch_run_queued(kw_client *c)
{
	for (;;) {
		char *method = NULL, *params = NULL;
		int r = client_notify_take(c, &method, &params);

		if (r == 1)
			return 0;
		if (r < 0)
			return r;
		r = watch_run(c, method, params);
		kw_json_free(method);
		kw_json_free(params);
		if (r != 0)
			return r;
	}
}

/* With CLIENT_DEADLINE_NOW, one read of what is there at most. */
static int watch_wait(kw_client *c, int64_t deadline)
{
	bool looked = false;
	int r;

	for (;;) {
		r = watch_run_queued(c);
		if (r != 0)
			return r;
		if (c->fd < 0)
			return client_fail(
				c, KW_ECLOSED,
				"the connection to the agent closed");
		r = client_notify_drain(c);
		if (r == 0 && (c->notify.count > 0 || c->notify.dropped))
			continue;
		if (r == 0 && looked)
			return 0;
		if (r == 0) {
			r = client_read_some(c, deadline);
			looked = deadline == CLIENT_DEADLINE_NOW;
		}
		if (r == KW_ETIMEOUT)
			return 0; /* nothing is outstanding: keep the
			             connection */
		if (r == KW_ECLOSED && !c->errmsg[0])
			client_fail(c, r,
			            "the agent closed the connection; patterns "
			            "are registered again on the next call, "
			            "rotations meanwhile are not reported");
		if (r < 0) {
			client_drop(c);
			return r;
		}
	}
}

static int watch_dispatch(kw_client *c, int timeout_ms)
{
	int64_t deadline = CLIENT_NO_DEADLINE;
	int r;

	if (timeout_ms < -1)
		return client_fail(c, KW_EINVAL,
		                   "timeout_ms must be -1 or more");
	if (c->watch.count == 0)
		return client_fail(c, KW_ESTATE,
		                   "nothing is watched: call kw_watch first");
	if (c->watch.dispatching)
		return client_fail(c, KW_EBUSY,
		                   "kw_watch_dispatch called from a watch "
		                   "callback");
	if (client_watch_pending(c)) {
		r = client_watch_present(c, client_now_ms() + c->timeout_ms);
		if (r < 0)
			return r;
	}
	if (timeout_ms == 0)
		deadline = CLIENT_DEADLINE_NOW;
	else if (timeout_ms > 0)
		deadline = client_now_ms() + timeout_ms;
	c->watch.dispatching = true;
	r = watch_wait(c, deadline);
	c->watch.dispatching = false;
	return r;
}

int kw_watch_dispatch(kw_client *c, int timeout_ms)
{
	if (!c)
		return KW_EINVAL;
	client_begin(c);
	return client_end(c, watch_dispatch(c, timeout_ms));
}

int kw_fd(const kw_client *c)
{
	return c ? c->fd : -1;
}
