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
	uint8_t line_hash[AUDIT_HASH_BYTES]; /* of the last line read */
	bool chained;                        /* a format-2 line was read */
	bool have_rec; /* the store's record of the newest line, at begin */
	store_audit_cp_line rec;
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
	case AUDIT_STALE:
		return "stale";
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
	r = store_audit_cp_get(au->st, &v->rec);
	v->have_rec = r == 0;
	if (r == 0 || r == KW_ENOTFOUND)
		r = follow_anchor(v);
	if (r < 0) {
		free(v);
		return r;
	}
	*ret_verify = v;
	return 0;
}

/*
 * Rows from v->next to before row are missing: a loss accepted with
 * --accept-loss if a gap recorded in the store ends right before row,
 * starts at v->next, holds a checkpoint line signed for row->seq - 1, and
 * row itself is the audit.loss_accepted row chained from that line's hash
 * (which check_row then checks).
 */
static bool resume_after_gap(audit_verify *v, const audit_row *row)
{
	store_audit_gap g;
	audit_cp cp;

	if (!row->op || strcmp(row->op, AUDIT_OP_LOSS) != 0 ||
	    row->seq - 1 > INT64_MAX ||
	    store_audit_gap_at(v->au->st, (int64_t)(row->seq - 1), &g) != 0 ||
	    (uint64_t)g.lost_from != v->next ||
	    audit_cp_parse(g.line, strlen(g.line), &cp) < 0 ||
	    cp.seq != row->seq - 1 || !audit_cp_valid(v->au->pk, &cp))
		return false;
	v->res.lost += row->seq - v->next;
	v->next = row->seq;
	memcpy(v->prev, cp.hash, AUDIT_HASH_BYTES);
	return true;
}

/* One row in seq order (store_audit_scan callback). */
static int check_row(const audit_row *row, void *arg)
{
	audit_verify *v = arg;
	uint8_t h[AUDIT_HASH_BYTES];
	int64_t next_ts;

	if (row->seq != v->next &&
	    !(row->seq > v->next && resume_after_gap(v, row)))
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
	bool lost;
	int r;

	/* Rows lost and accepted: their lines vouch for nothing now. */
	r = audit_cpfile_in_gap(v->au, cp->seq, &lost);
	if (r < 0 || lost)
		return r;
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
		if (v->have_rec)
			found(v, AUDIT_BAD_CHECKPOINT, 0,
			      "%s is missing; the store recorded its line %" PRId64
			      " (row %" PRId64 ")",
			      v->au->cp_path, v->rec.line_no, v->rec.seq);
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

/* The file ended (after v->line lines): it must reach the store's record
 * of its newest line, unless that line is the one the agent has not been
 * able to append yet (then checkpoints are failing: stale, not broken). */
static void checkpoints_end(audit_verify *v)
{
	const audit *au = v->au;

	v->phase = PHASE_DONE;
	if (!v->have_rec || v->line >= (uint64_t)v->rec.line_no)
		return;
	if (v->line + 1 == (uint64_t)v->rec.line_no && au->cp_pending[0] &&
	    strcmp(au->cp_pending, v->rec.line) == 0)
		return;
	found(v, AUDIT_BAD_CHECKPOINT, 0,
	      "%s has %" PRIu64 " lines, shorter than the store recorded "
	      "(line %" PRId64 ", row %" PRId64 ")",
	      au->cp_path, v->line, v->rec.line_no, v->rec.seq);
}

/* One complete line (without its newline), well-formed or not. */
static int check_line(audit_verify *v, const char *buf, size_t len)
{
	audit_cp cp;

	v->line++;
	if (audit_cp_parse(buf, len, &cp) < 0) {
		found(v, AUDIT_BAD_CHECKPOINT, 0,
		      "checkpoint line %" PRIu64 " is malformed", v->line);
		return 0;
	}
	if (!audit_cp_valid(v->au->pk, &cp)) {
		found(v, AUDIT_BAD_CHECKPOINT, cp.seq,
		      "checkpoint line %" PRIu64 " has a bad signature",
		      v->line);
		return 0;
	}
	/* Old-format lines only before the chain starts: one inserted later
	 * would not be bound to its neighbours. */
	if (cp.format == 1 && v->chained) {
		found(v, AUDIT_BAD_CHECKPOINT, cp.seq,
		      "checkpoint line %" PRIu64
		      " is in the old format after chained lines",
		      v->line);
		return 0;
	}
	if (cp.format == 2 &&
	    sodium_memcmp(cp.prev, v->line_hash, AUDIT_HASH_BYTES) != 0) {
		found(v, AUDIT_BAD_CHECKPOINT, cp.seq,
		      "checkpoint line %" PRIu64
		      " does not follow the line before it (lines removed, "
		      "added or reordered)",
		      v->line);
		return 0;
	}
	if (v->have_rec && v->line == (uint64_t)v->rec.line_no &&
	    (len != strlen(v->rec.line) ||
	     memcmp(buf, v->rec.line, len) != 0)) {
		found(v, AUDIT_BAD_CHECKPOINT, cp.seq,
		      "checkpoint line %" PRIu64
		      " differs from the store's record of it",
		      v->line);
		return 0;
	}
	v->chained = v->chained || cp.format == 2;
	audit_cp_line_hash(buf, len, v->line_hash);
	v->res.checkpoints++;
	return check_cp(v, &cp);
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
		size_t len;

		if (!fgets(buf, sizeof(buf), v->cp)) {
			if (ferror(v->cp))
				return KW_EIO;
			checkpoints_end(v);
			return 0;
		}
		/* strlen stops at a NUL in the file: then no newline either. */
		len = strlen(buf);
		if (len > 0 && buf[len - 1] == '\n') {
			r = check_line(v, buf, len - 1);
			if (r < 0)
				return r;
			continue;
		}
		/* Bytes after the last newline, fewer than any line: an append
		 * that was cut short (a full disk, a crash). The writer cuts
		 * them off before its next line; a reader skips them. */
		if (len < sizeof(buf) - 1 && fgetc(v->cp) == EOF &&
		    !ferror(v->cp)) {
			checkpoints_end(v);
			return 0;
		}
		v->line++;
		found(v, AUDIT_BAD_CHECKPOINT, 0,
		      "checkpoint line %" PRIu64 " is malformed", v->line);
	}
	return 0;
}

/* Intact, but nothing vouches for the newest rows. */
static void check_stale(audit_verify *v)
{
	audit_cp_status st;

	audit_cp_state(v->au, &st);
	if (!st.failing)
		return;
	found(v, AUDIT_STALE, st.newest_seq,
	      "newest checkpoint at seq %" PRIu64 ", log at seq %" PRIu64
	      "; checkpoints cannot be written: %s",
	      st.newest_seq, st.log_seq, st.why);
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
		check_stale(v);
	if (v->res.kind == AUDIT_INTACT && v->res.lost > 0)
		snprintf(v->res.detail, sizeof(v->res.detail),
		         "%" PRIu64 " rows and %" PRIu64
		         " checkpoints verified; %" PRIu64
		         " rows lost and accepted (audit.loss_accepted)",
		         v->res.rows, v->res.checkpoints, v->res.lost);
	else if (v->res.kind == AUDIT_INTACT)
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
