/*
 * audit_verify.c - incremental verification of the chain and of the
 * checkpoint file (audit.h; the rules are in docs/audit.md).
 *
 * Two phases, each in bounded steps so that a large log never stalls the
 * event loop: the rows in seq order, from the anchor (or from the start)
 * up to the head committed when verification began; then the checkpoint
 * file, line by line. The first break found is the result.
 *
 * Between steps the agent keeps running: rows are appended (beyond the
 * end, so not looked at) and retention may prune rows not yet checked;
 * then the anchor has moved past the position reached, and, its signature
 * good, the walk resumes from it rather than calling the pruned rows
 * deleted.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "audit_int.h"
#include "keyward.h"

enum { PHASE_ROWS, PHASE_CHECKPOINTS, PHASE_DONE };

struct audit_verify {
	audit *au;
	int phase;
	uint64_t next; /* the seq the next row must have */
	uint8_t prev[AUDIT_HASH_BYTES];
	int64_t prev_ts;
	uint64_t end; /* rows up to here are walked */
	FILE *cp;     /* the checkpoint file, in phase 2 */
	uint64_t line;
	audit_verify_result res;
};

const char *audit_break_name(int kind)
{
	switch (kind) {
	case AUDIT_INTACT:
		return "intact";
	case AUDIT_EDITED:
		return "edited";
	case AUDIT_DELETED:
		return "deleted";
	case AUDIT_REORDERED:
		return "reordered";
	case AUDIT_TRUNCATED:
		return "truncated";
	case AUDIT_BAD_CHECKPOINT:
		return "bad_checkpoint";
	default:
		return "unknown";
	}
}

/* Record the first break and finish. Returns 1 to stop a scan. */
static int found(audit_verify *v, int kind, uint64_t seq, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int found(audit_verify *v, int kind, uint64_t seq, const char *fmt, ...)
{
	va_list ap;

	v->res.kind = kind;
	v->res.seq = seq;
	va_start(ap, fmt);
	vsnprintf(v->res.detail, sizeof(v->res.detail), fmt, ap);
	va_end(ap);
	v->phase = PHASE_DONE;
	return 1;
}

/* Start (again) from the anchor if it is at or past the position reached:
 * the rows before it were pruned. */
static int follow_anchor(audit_verify *v)
{
	store_audit_anchor a;
	int r = store_audit_anchor_get(v->au->st, &a);

	if (r == KW_ENOTFOUND)
		return 0;
	if (r < 0)
		return r;
	if (a.seq + 1 < v->next)
		return 0;
	if (!audit_cp_check(v->au->pk, a.seq, a.hash, a.sig)) {
		found(v, AUDIT_BAD_CHECKPOINT, a.seq,
		      "the retention anchor at row %" PRIu64
		      " has a bad signature",
		      a.seq);
		return 0;
	}
	v->next = a.seq + 1;
	memcpy(v->prev, a.hash, AUDIT_HASH_BYTES);
	v->prev_ts = INT64_MIN;
	return 0;
}

int audit_verify_begin(audit *au, audit_verify **ret_verify)
{
	audit_verify *v;
	int r;

	if (!au || !ret_verify)
		return KW_EINVAL;
	if (!audit_unlocked(au))
		return KW_ELOCKED;
	v = calloc(1, sizeof(*v));
	if (!v)
		return KW_ENOMEM;
	v->au = au;
	v->next = 1;
	v->prev_ts = INT64_MIN;
	v->end = au->committed.seq;
	r = follow_anchor(v);
	if (r < 0) {
		free(v);
		return r;
	}
	*ret_verify = v;
	return 0;
}

/* One row in seq order (store_audit_scan callback). */
static int check_row(const audit_row *row, void *arg)
{
	audit_verify *v = arg;
	uint8_t h[AUDIT_HASH_BYTES];
	int64_t next_ts;

	if (row->seq != v->next)
		return found(v, AUDIT_DELETED, v->next,
		             "row %" PRIu64 " is missing", v->next);
	if (row->ts_us < v->prev_ts)
		return found(v, AUDIT_REORDERED, row->seq,
		             "row %" PRIu64 " is older than the row before it",
		             row->seq);
	audit_chain_hash(v->au->key, v->prev, row, h);
	if (sodium_memcmp(h, row->hash, sizeof(h)) != 0) {
		/* A row newer than the next one sits here: moved, not edited
		 * (rows that trade places with equal times read as edited). */
		if (store_audit_next_ts(v->au->st, row->seq, &next_ts) == 0 &&
		    next_ts < row->ts_us)
			return found(v, AUDIT_REORDERED, row->seq,
			             "row %" PRIu64
			             " is newer than the row after it",
			             row->seq);
		return found(v, AUDIT_EDITED, row->seq,
		             "row %" PRIu64 " does not match its hash",
		             row->seq);
	}
	memcpy(v->prev, row->hash, sizeof(h));
	v->prev_ts = row->ts_us;
	v->next++;
	v->res.rows++;
	return 0;
}

static int step_rows(audit_verify *v, uint32_t max_rows)
{
	uint64_t before = v->res.rows;
	int r;

	r = follow_anchor(v);
	if (r < 0 || v->phase == PHASE_DONE)
		return r;
	r = store_audit_scan(v->au->st, v->next - 1, v->end, max_rows,
	                     check_row, v);
	if (r < 0 || v->phase == PHASE_DONE)
		return r;
	if (v->res.rows > before && v->next <= v->end)
		return 0; /* more to walk */
	if (v->next <= v->end) {
		/* The head committed when we began is gone, rows and all. */
		found(v, AUDIT_TRUNCATED, v->next,
		      "rows from %" PRIu64 " to %" PRIu64 " are missing",
		      v->next, v->end);
		return 0;
	}
	v->phase = PHASE_CHECKPOINTS;
	return 0;
}

/* The newest seq in the log: the last row, else the anchor, else 0. */
static int last_seq(audit *au, uint64_t *ret)
{
	store_audit_anchor a;
	uint8_t h[AUDIT_HASH_BYTES];
	int64_t ts;
	int r = store_audit_head(au->st, ret, &ts, h);

	if (r != KW_ENOTFOUND)
		return r;
	r = store_audit_anchor_get(au->st, &a);
	*ret = r == 0 ? a.seq : 0;
	return r == KW_ENOTFOUND ? 0 : r;
}

/* One well-formed, signed checkpoint against the log as it is now. */
static int check_cp(audit_verify *v, const audit_cp *cp)
{
	store_audit_anchor a;
	uint8_t h[AUDIT_HASH_BYTES];
	uint64_t last;
	int r;

	r = store_audit_anchor_get(v->au->st, &a);
	if (r < 0 && r != KW_ENOTFOUND)
		return r;
	if (r == 0 && cp->seq < a.seq)
		return 0; /* pruned since */
	if (r == 0 && cp->seq == a.seq) {
		if (sodium_memcmp(cp->hash, a.hash, sizeof(h)) != 0)
			found(v, AUDIT_EDITED, cp->seq,
			      "the anchor at row %" PRIu64
			      " differs from checkpoint line %" PRIu64,
			      cp->seq, v->line);
		return 0;
	}
	r = store_audit_hash_at(v->au->st, cp->seq, h);
	if (r == 0) {
		if (sodium_memcmp(cp->hash, h, sizeof(h)) != 0)
			found(v, AUDIT_EDITED, cp->seq,
			      "row %" PRIu64
			      " differs from checkpoint line %" PRIu64,
			      cp->seq, v->line);
		return 0;
	}
	if (r != KW_ENOTFOUND)
		return r;
	r = last_seq(v->au, &last);
	if (r < 0)
		return r;
	if (cp->seq > last)
		found(v, AUDIT_TRUNCATED, last + 1,
		      "checkpoint line %" PRIu64 " vouches for row %" PRIu64
		      ", the log ends at %" PRIu64,
		      v->line, cp->seq, last);
	else
		found(v, AUDIT_DELETED, cp->seq,
		      "row %" PRIu64 " (checkpoint line %" PRIu64
		      ") is missing",
		      cp->seq, v->line);
	return 0;
}

static int open_checkpoints(audit_verify *v)
{
	int fd = open(v->au->cp_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0) {
		if (errno != ENOENT)
			return errno == EACCES || errno == ELOOP ? KW_EPERM :
			                                           KW_EIO;
		v->phase = PHASE_DONE; /* none written yet */
		return 0;
	}
	v->cp = fdopen(fd, "r");
	if (!v->cp) {
		close(fd);
		return KW_ENOMEM;
	}
	return 0;
}

static int step_checkpoints(audit_verify *v, uint32_t max_lines)
{
	char buf[AUDIT_CP_LINE_MAX + 1];
	int r;

	if (!v->cp) {
		r = open_checkpoints(v);
		if (r < 0 || v->phase == PHASE_DONE)
			return r;
	}
	for (uint32_t i = 0; i < max_lines && v->phase != PHASE_DONE; i++) {
		audit_cp cp;
		size_t len;

		if (!fgets(buf, sizeof(buf), v->cp)) {
			if (ferror(v->cp))
				return KW_EIO;
			v->phase = PHASE_DONE;
			return 0;
		}
		v->line++;
		/* strlen stops at a NUL in the file: then no newline either. */
		len = strlen(buf);
		if (len == 0 || buf[len - 1] != '\n' ||
		    audit_cp_parse(buf, len - 1, &cp) < 0) {
			found(v, AUDIT_BAD_CHECKPOINT, 0,
			      "checkpoint line %" PRIu64 " is malformed",
			      v->line);
			return 0;
		}
		if (!audit_cp_check(v->au->pk, cp.seq, cp.hash, cp.sig)) {
			found(v, AUDIT_BAD_CHECKPOINT, cp.seq,
			      "checkpoint line %" PRIu64 " has a bad signature",
			      v->line);
			return 0;
		}
		v->res.checkpoints++;
		r = check_cp(v, &cp);
		if (r < 0)
			return r;
	}
	return 0;
}

int audit_verify_step(audit_verify *v, uint32_t max_rows, bool *ret_done,
                      audit_verify_result *ret_result)
{
	int r = 0;

	if (!v || max_rows == 0 || !ret_done || !ret_result)
		return KW_EINVAL;
	if (!audit_unlocked(v->au))
		return KW_ELOCKED;
	if (v->phase == PHASE_ROWS)
		r = step_rows(v, max_rows);
	else if (v->phase == PHASE_CHECKPOINTS)
		r = step_checkpoints(v, max_rows);
	if (r < 0)
		return r;
	if (v->phase != PHASE_DONE) {
		*ret_done = false;
		return 0;
	}
	if (v->res.kind == AUDIT_INTACT)
		snprintf(v->res.detail, sizeof(v->res.detail),
		         "%" PRIu64 " rows and %" PRIu64
		         " checkpoints verified",
		         v->res.rows, v->res.checkpoints);
	*ret_done = true;
	*ret_result = v->res;
	return 0;
}

void audit_verify_free(audit_verify *v)
{
	if (!v)
		return;
	if (v->cp)
		fclose(v->cp);
	free(v);
}
