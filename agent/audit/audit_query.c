/*
 * audit_query.c - reading the log: filtered pages with a cursor, counts,
 * and the names of outcomes (audit.h; docs/audit.md, queries).
 *
 * A page walks rows in seq order between bounds SQL can use (the seq range,
 * and the time range turned into seq bounds through the ts_us index) and
 * lets SQL evaluate the equality filters on each row; the name glob is
 * matched here. Every row walked counts against scan_max, matched or not,
 * so one call does bounded work however rare the matches.
 */
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "audit_int.h"
#include "glob.h"
#include "keyward.h"

#define QUERY_LIMIT_MAX 1000u
#define SCAN_DEFAULT    10000u   /* scan_max 0 */
#define SCAN_CAP        1000000u /* larger scan_max values are cut to this */

static const char *const outcome_names[] = {
	[AUDIT_OK] = "ok",
	[AUDIT_DENIED] = "denied",
	[AUDIT_ERROR] = "error",
	[AUDIT_RATE_LIMITED] = "rate_limited",
};
#define OUTCOMES ((int)(sizeof(outcome_names) / sizeof(outcome_names[0])))

const char *audit_outcome_name(int outcome)
{
	if (outcome < 0 || outcome >= OUTCOMES)
		return "unknown";
	return outcome_names[outcome];
}

int audit_outcome_parse(const char *s, int *ret_outcome)
{
	if (!s || !ret_outcome)
		return KW_EINVAL;
	for (int i = 0; i < OUTCOMES; i++) {
		if (strcmp(s, outcome_names[i]) == 0) {
			*ret_outcome = i;
			return 0;
		}
	}
	return KW_EINVAL;
}

struct page {
	const audit_filter *f;
	int (*cb)(const audit_row *row, void *arg);
	void *arg;
	uint32_t scan_max;
	uint32_t examined, returned;
	uint64_t last; /* seq of the last row examined */
	bool more;     /* a row beyond those examined exists */
	int cbr;
};

static int page_row(const audit_row *row, bool matched, void *arg)
{
	struct page *p = arg;

	if (p->examined == p->scan_max || p->returned == p->f->limit) {
		p->more = true;
		return 1;
	}
	p->examined++;
	p->last = row->seq;
	if (!matched)
		return 0;
	if (p->f->name_glob &&
	    (!row->name || !kw_glob_match(p->f->name_glob, row->name)))
		return 0;
	p->cbr = p->cb(row, p->arg);
	if (p->cbr != 0)
		return 1;
	p->returned++;
	return 0;
}

static int filter_check(const audit_filter *f)
{
	const char *why;

	if (f->limit < 1 || f->limit > QUERY_LIMIT_MAX || f->outcome < -1 ||
	    f->outcome > AUDIT_RATE_LIMITED || f->before_seq > INT64_MAX ||
	    f->after_seq > INT64_MAX)
		return KW_EINVAL;
	if (f->op && strnlen(f->op, AUDIT_OP_MAX + 1) > AUDIT_OP_MAX)
		return KW_EINVAL;
	if (f->principal &&
	    strnlen(f->principal, AUDIT_STR_MAX + 1) > AUDIT_STR_MAX)
		return KW_EINVAL;
	if (f->name_glob && kw_glob_check(f->name_glob, &why) < 0)
		return KW_EINVAL;
	return 0;
}

int audit_query(audit *au, const audit_filter *f,
                int (*cb)(const audit_row *row, void *arg), void *arg,
                uint64_t *ret_cursor)
{
	store_audit_page sp;
	struct page p;
	uint64_t seq;
	int r;

	if (!au || !f || !cb || !ret_cursor)
		return KW_EINVAL;
	r = filter_check(f);
	if (r < 0)
		return r;
	memset(&sp, 0, sizeof(sp));
	sp.lo = f->after_seq;
	sp.hi = f->before_seq ? f->before_seq : (uint64_t)INT64_MAX;
	sp.since_us = f->since_us ? f->since_us : INT64_MIN;
	sp.until_us = f->until_us ? f->until_us : INT64_MAX;
	sp.op = f->op;
	sp.principal = f->principal;
	sp.outcome = f->outcome;
	sp.ascending = f->ascending;
	/* Rows are appended in time order (verification checks it), so the
	 * first row at or after since and the last at or before until bound
	 * the seq range; the time filter still applies to every row. */
	if (f->since_us) {
		r = store_audit_seq_by_ts(au->st, f->since_us, true, &seq);
		if (r == 0 && seq - 1 > sp.lo)
			sp.lo = seq - 1;
		if (r == KW_ENOTFOUND)
			sp.hi = sp.lo; /* nothing that recent */
		else if (r < 0)
			return r;
	}
	if (f->until_us && sp.lo < sp.hi) {
		r = store_audit_seq_by_ts(au->st, f->until_us, false, &seq);
		if (r == 0 && seq + 1 < sp.hi)
			sp.hi = seq + 1;
		if (r == KW_ENOTFOUND)
			sp.hi = sp.lo; /* nothing that old */
		else if (r < 0)
			return r;
	}
	memset(&p, 0, sizeof(p));
	p.f = f;
	p.cb = cb;
	p.arg = arg;
	p.scan_max = f->scan_max == 0       ? SCAN_DEFAULT :
	             f->scan_max > SCAN_CAP ? SCAN_CAP :
	                                      f->scan_max;
	/* One row past the budget tells whether there is more. */
	sp.max = p.scan_max + 1;
	r = store_audit_page_scan(au->st, &sp, page_row, &p);
	if (p.cbr != 0)
		return p.cbr;
	if (r < 0)
		return r;
	*ret_cursor = p.more ? p.last : 0;
	return 0;
}

int audit_stats(audit *au, int64_t since_us,
                int (*cb)(const audit_count *c, void *arg), void *arg)
{
	if (!au || !cb)
		return KW_EINVAL;
	return store_audit_stats(au->st, since_us ? since_us : INT64_MIN, cb,
	                         arg);
}
