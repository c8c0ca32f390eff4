/*
 * notify.c - libkeyward: notifications the agent pushes on a connection
 * (docs/protocol.md, "audit.follow").
 *
 * A notification can arrive at any time, also between a request and its
 * answer, so the call machinery hands every line without an id to
 * client_notify_offer(), which keeps it in a bounded ring: a caller that
 * never waits for notifications costs at most CLIENT_NOTIFY_MAX of them,
 * and one that falls behind loses the oldest and is told so once.
 * Strings handed out are freed with kw_json_free(), which wipes.
 * kw_watch_dispatch (watch.c) takes from the same queue.
 */
#include <stdlib.h>

#include "client_int.h"
#include "secmem.h"

/* Free one entry's strings. */
static void entry_clear(struct client_notification *e)
{
	kw_wipefree_str(e->method);
	kw_wipefree_str(e->params);
	e->method = NULL;
	e->params = NULL;
}

/* Check a message without an id and turn it into two strings. */
static int entry_make(const json_t *msg, struct client_notification *ret_e)
{
	const json_t *method = json_object_get(msg, "method");
	const json_t *params = json_object_get(msg, "params");
	char *m, *p;

	if (!json_is_string(method) || json_string_length(method) == 0 ||
	    json_object_get(msg, "result") || json_object_get(msg, "error") ||
	    (params && !json_is_object(params) && !json_is_array(params)))
		return KW_EPROTO;
	m = kw_wipestrdup(json_string_value(method));
	p = params ? json_dumps(params, JSON_COMPACT) : kw_wipestrdup("{}");
	if (!m || !p) {
		kw_wipefree_str(m);
		kw_wipefree_str(p);
		return KW_ENOMEM;
	}
	ret_e->method = m;
	ret_e->params = p;
	return 0;
}

int client_notify_offer(kw_client *c, const json_t *msg)
{
	struct client_notify *q = &c->notify;
	struct client_notification e;
	int r;

	if (json_object_get(msg, "id"))
		return 0;
	r = entry_make(msg, &e);
	if (r == KW_EPROTO)
		return r;
	if (r == 0 && !q->ring) {
		q->ring = calloc(CLIENT_NOTIFY_MAX, sizeof(*q->ring));
		if (!q->ring) {
			entry_clear(&e);
			r = KW_ENOMEM;
		}
	}
	if (r < 0) {
		/* Out of memory: lost like an overflow, and reported so. */
		q->dropped = true;
		return 1;
	}
	if (q->count == CLIENT_NOTIFY_MAX) {
		entry_clear(&q->ring[q->head]);
		q->head = (q->head + 1) % CLIENT_NOTIFY_MAX;
		q->count--;
		q->dropped = true;
	}
	q->ring[(q->head + q->count) % CLIENT_NOTIFY_MAX] = e;
	q->count++;
	return 1;
}

void client_notify_clear(kw_client *c)
{
	struct client_notify *q = &c->notify;

	for (; q->count > 0; q->count--) {
		entry_clear(&q->ring[q->head]);
		q->head = (q->head + 1) % CLIENT_NOTIFY_MAX;
	}
	free(q->ring);
	q->ring = NULL;
	q->head = 0;
	q->dropped = false;
}

/*
 * One line read while no call is pending: a notification is queued (1);
 * anything else ends the connection. An answer with id null is the agent
 * saying why it is about to close (its message is kept): KW_ECLOSED. An
 * answer to a request is impossible here, since none is outstanding:
 * KW_EPROTO, like anything malformed.
 */
static int wait_line(kw_client *c, const char *line, size_t len)
{
	json_t *msg = client_parse_message(line, len);
	const json_t *error;
	int r;

	if (!msg)
		return client_fail(c, KW_EPROTO,
		                   "the agent sent a line that is not "
		                   "JSON-RPC 2.0");
	r = client_notify_offer(c, msg);
	if (r == 0) {
		error = json_object_get(msg, "error");
		if (json_is_null(json_object_get(msg, "id")) && error) {
			client_parse_error(c, error);
			r = KW_ECLOSED;
		} else {
			r = client_fail(c, KW_EPROTO,
			                "the agent sent an answer while no "
			                "request was outstanding");
		}
	}
	json_decref(msg);
	return r;
}

/* Handle the complete lines already read: all of them, or up to the first
 * notification (then 1). 0 when no complete line is left. */
static int pump(kw_client *c, bool first_only)
{
	char *line;
	size_t len;
	int r;

	while ((r = kw_framer_next(&c->framer, &line, &len)) == 1) {
		r = wait_line(c, line, len);
		kw_framer_wipe_consumed(&c->framer);
		if (r < 0 || (r == 1 && first_only))
			return r;
	}
	if (r < 0)
		return client_fail(c, KW_ETOOBIG,
		                   "a message from the agent exceeds the line "
		                   "limit");
	return 0;
}

int client_notify_drain(kw_client *c)
{
	return pump(c, false);
}

/* Read lines until one is a notification, or the deadline passes. */
static int wait_read(kw_client *c, int64_t deadline)
{
	for (;;) {
		int r = pump(c, true);

		if (r != 0)
			return r;
		r = client_read_some(c, deadline);
		if (r < 0)
			return r;
	}
}

int client_notify_take(kw_client *c, char **ret_method, char **ret_params_json)
{
	struct client_notify *q = &c->notify;
	struct client_notification *e;

	if (q->dropped) {
		q->dropped = false;
		return client_fail(c, KW_ELIMIT,
		                   "notifications were lost: the agent sent "
		                   "more than the library keeps (1024) before "
		                   "they were read");
	}
	if (q->count == 0)
		return 1;
	e = &q->ring[q->head];
	*ret_method = e->method;
	*ret_params_json = e->params;
	e->method = NULL;
	e->params = NULL;
	q->head = (q->head + 1) % CLIENT_NOTIFY_MAX;
	q->count--;
	return 0;
}

static int notification_wait(kw_client *c, int timeout_ms, char **ret_method,
                             char **ret_params_json)
{
	int64_t deadline = CLIENT_NO_DEADLINE;
	int r = client_notify_take(c, ret_method, ret_params_json);

	if (r <= 0)
		return r;
	if (c->fd < 0)
		return client_fail(c, KW_ECLOSED,
		                   "the connection to the agent is closed");
	if (timeout_ms >= 0)
		deadline = client_now_ms() + timeout_ms;
	r = wait_read(c, deadline);
	if (r == KW_ETIMEOUT)
		return r; /* nothing is outstanding: the connection is fine */
	if (r < 0) {
		client_drop(c);
		return r;
	}
	r = client_notify_take(c, ret_method, ret_params_json);
	return r > 0 ? KW_EINTERNAL : r; /* wait_read queued one */
}

int kw_notification_wait(kw_client *c, int timeout_ms, char **ret_method,
                         char **ret_params_json)
{
	if (!c)
		return KW_EINVAL;
	client_begin(c);
	if (timeout_ms < -1 || !ret_method || !ret_params_json)
		return client_end(c, client_fail(c, KW_EINVAL,
		                                 "timeout_ms must be -1 or "
		                                 "more, and both outputs set"));
	return client_end(c, notification_wait(c, timeout_ms, ret_method,
	                                       ret_params_json));
}
