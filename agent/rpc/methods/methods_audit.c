/*
 * methods_audit.c - audit.query, audit.stats, audit.verify, audit.follow
 * (docs/protocol.md; rows as in docs/audit.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "conn.h"
#include "dispatch.h"
#include "glob.h"
#include "jsonget.h"
#include "keyward.h"
#include "log.h"
#include "name.h"
#include "policy.h"

#define AUDIT_PAGE_DEFAULT 100
#define AUDIT_PAGE_MAX     1000
#define AUDIT_SCAN_MAX     20000 /* rows one query call may examine */

/* "2026-11-28T14:00:00.123456Z" */
static json_t *audit_time(int64_t ts_us)
{
	char buf[40];
	struct tm tm;
	time_t secs = (time_t)(ts_us / 1000000);
	long us = (long)(ts_us % 1000000);
	if (us < 0) {
		secs -= 1;
		us += 1000000;
	}
	if (!gmtime_r(&secs, &tm))
		return json_null();
	size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, sizeof(buf) - n, ".%06ldZ", us);
	return json_string(buf);
}

json_t *audit_row_json(const audit_row *row)
{
	return json_pack("{s:I, s:o, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:o, "
	                 "s:s, s:o}",
	                 "seq", (json_int_t)row->seq, "time",
	                 audit_time(row->ts_us), "ts_us",
	                 (json_int_t)row->ts_us, "uid", (json_int_t)row->uid,
	                 "pid", (json_int_t)row->pid, "exe",
	                 kw_json_lossy(row->exe), "principal",
	                 kw_json_lossy(row->principal), "op",
	                 kw_json_lossy(row->op), "name",
	                 kw_json_lossy(row->name), "version",
	                 row->version ? json_integer((json_int_t)row->version) :
	                                json_null(),
	                 "outcome", audit_outcome_name(row->outcome), "reason",
	                 kw_json_lossy(row->reason));
}

static int audit_query_row(const audit_row *row, void *arg)
{
	json_t *o = audit_row_json(row);
	if (!o || json_array_append_new(arg, o) != 0)
		return KW_ENOMEM;
	return 0;
}

static int audit_param_time(rpc_ctx *x, const char *key, int64_t *ret)
{
	bool present;
	uint64_t v = 0;
	int r = rpc_opt_uint(x, key, 0, INT64_MAX, &present, &v);
	if (r == 0)
		*ret = present ? (int64_t)v : 0;
	return r;
}

int method_audit_query(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { "since_us",  "until_us", "name",
		                            "principal", "op",       "outcome",
		                            "limit",     "cursor",   "order",
		                            NULL };
	audit_filter f = { .outcome = -1, .scan_max = AUDIT_SCAN_MAX };
	const char *glob, *outcome, *order;
	size_t n;
	bool present;
	uint64_t limit = AUDIT_PAGE_DEFAULT, cursor = 0;
	int r;

	if ((r = rpc_allow(x, keys)) < 0 ||
	    (r = audit_param_time(x, "since_us", &f.since_us)) < 0 ||
	    (r = audit_param_time(x, "until_us", &f.until_us)) < 0 ||
	    (r = rpc_opt_string(x, "name", KW_NAME_MAX, &glob, &n)) < 0 ||
	    (r = rpc_opt_string(x, "principal", KW_NAME_MAX, &f.principal,
	                        &n)) < 0 ||
	    (r = rpc_opt_string(x, "op", AUDIT_OP_MAX, &f.op, &n)) < 0 ||
	    (r = rpc_opt_string(x, "outcome", 16, &outcome, &n)) < 0 ||
	    (r = rpc_opt_string(x, "order", 16, &order, &n)) < 0 ||
	    (r = rpc_opt_uint(x, "limit", 1, AUDIT_PAGE_MAX, &present,
	                      &limit)) < 0 ||
	    (r = rpc_opt_uint(x, "cursor", 1, INT64_MAX, &present, &cursor)) <
	            0)
		return r;
	const char *why = NULL;
	if (glob && kw_glob_check(glob, &why) < 0)
		return rpc_fail(x, KW_EINVAL, "name", "%s", why);
	if (outcome && audit_outcome_parse(outcome, &f.outcome) < 0)
		return rpc_fail(x, KW_EINVAL, "outcome",
		                "must be ok, denied, error or rate_limited");
	if (order && strcmp(order, "newest") && strcmp(order, "oldest"))
		return rpc_fail(x, KW_EINVAL, "order",
		                "must be newest or oldest");
	f.name_glob = glob;
	f.ascending = order && strcmp(order, "oldest") == 0;
	f.limit = (uint32_t)limit;
	if (f.ascending)
		f.after_seq = cursor;
	else
		f.before_seq = cursor;

	json_t *rows = json_array();
	if (!rows)
		return KW_ENOMEM;
	uint64_t next = 0;
	r = audit_query(*x->h->au, &f, audit_query_row, rows, &next);
	if (r < 0) {
		json_decref(rows);
		return r;
	}
	*ret_result =
		json_pack("{s:o, s:o}", "rows", rows, "cursor",
	                  next ? json_integer((json_int_t)next) : json_null());
	return *ret_result ? 0 : KW_ENOMEM;
}

static int audit_stats_row(const audit_count *ac, void *arg)
{
	json_t *o = json_pack("{s:o, s:o, s:s, s:I}", "principal",
	                      kw_json_lossy(ac->principal), "op",
	                      kw_json_lossy(ac->op), "outcome",
	                      audit_outcome_name(ac->outcome), "count",
	                      (json_int_t)ac->count);
	if (!o || json_array_append_new(arg, o) != 0)
		return KW_ENOMEM;
	return 0;
}

int method_audit_stats(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { "since_us", NULL };
	int64_t since = 0;
	int r;

	if ((r = rpc_allow(x, keys)) < 0 ||
	    (r = audit_param_time(x, "since_us", &since)) < 0)
		return r;
	json_t *counts = json_array();
	if (!counts)
		return KW_ENOMEM;
	r = audit_stats(*x->h->au, since, audit_stats_row, counts);
	if (r < 0) {
		json_decref(counts);
		return r;
	}
	*ret_result = json_pack("{s:I, s:o}", "since_us", (json_int_t)since,
	                        "counts", counts);
	return *ret_result ? 0 : KW_ENOMEM;
}

int method_audit_verify(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { NULL };
	int r = rpc_allow(x, keys);
	if (r < 0)
		return r;
	(void)ret_result;
	r = x->h->ops->verify_start(x->h, x->c);
	if (r < 0)
		return r;
	log_info("conn %llu: uid %u pid %d: audit verification started",
	         (unsigned long long)x->c->serial, (unsigned)x->c->peer.uid,
	         (int)x->c->peer.pid);
	return RPC_PARKED;
}

void methods_verify_done(conn *c, int r, const audit_verify_result *res)
{
	json_t *id = c->park_id;
	c->park_id = NULL;
	c->parked = false;
	if (r < 0) {
		if (id)
			conn_reply_error(c, id, r, NULL, NULL);
	} else {
		log_info("conn %llu: audit verification: %s at seq %llu "
		         "(%llu rows, %llu checkpoints)",
		         (unsigned long long)c->serial,
		         audit_break_name(res->kind),
		         (unsigned long long)res->seq,
		         (unsigned long long)res->rows,
		         (unsigned long long)res->checkpoints);
		if (id)
			conn_reply_result(
				c, id,
				json_pack("{s:b, s:s, s:o, s:I, s:I, s:o}",
			                  "intact", res->kind == AUDIT_INTACT,
			                  "kind", audit_break_name(res->kind),
			                  "seq",
			                  res->kind == AUDIT_INTACT ?
			                          json_null() :
			                          json_integer(
							  (json_int_t)res->seq),
			                  "rows", (json_int_t)res->rows,
			                  "checkpoints",
			                  (json_int_t)res->checkpoints,
			                  /* it may name a path */
			                  "detail",
			                  kw_json_lossy(res->detail)));
	}
	json_decref(id);
	conn_resume(c);
}

int method_audit_follow(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { NULL };
	int r = rpc_allow(x, keys);
	if (r < 0)
		return r;
	x->c->follower = true;
	*ret_result = json_pack("{s:b}", "following", 1);
	return *ret_result ? 0 : KW_ENOMEM;
}
