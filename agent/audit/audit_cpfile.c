/*
 * audit_cpfile.c - the checkpoint file as the agent keeps it (audit.h;
 * the format and the rules are in docs/audit.md): reading it at open,
 * chained lines recorded in the store before they are appended, the
 * anchor copy, the failing state, and the start-up comparison of the file
 * and the anchor with the store.
 *
 * Order of a checkpoint: the rows are committed and synced; the line is
 * recorded in the store (audit_cp_head, a transaction of its own after the
 * rows, so the write-ahead log never holds the record without them); then
 * it is appended to the file, then to the anchor. A crash in between
 * leaves the file one line behind the store, and the next open appends
 * the recorded line (pending) before anything else. The file is never
 * ahead of the store unless the store lost what it had committed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <sodium.h>

#include "audit_int.h"
#include "keyward.h"

static const uint8_t zero_hash[AUDIT_HASH_BYTES];

/* Reading the file -------------------------------------------------------- */

struct cp_scan {
	uint64_t lines;                   /* complete lines */
	char last[AUDIT_CP_LINE_MAX + 1]; /* the last one ("" if malformed) */
	uint64_t max_seq;                 /* the newest seq a line names */
	char max_line[AUDIT_CP_LINE_MAX + 1]; /* that line */
	int64_t match_no; /* line number to compare with match_text */
	const char *match_text;
	bool matched;
};

/* One complete line (without its newline); too_long: it was cut. */
static void scan_line(struct cp_scan *sc, const char *line, size_t len,
                      bool too_long)
{
	audit_cp cp;

	sc->lines++;
	if (too_long) {
		sc->last[0] = '\0';
		return;
	}
	memcpy(sc->last, line, len);
	sc->last[len] = '\0';
	if (sc->match_text && (int64_t)sc->lines == sc->match_no)
		sc->matched = strcmp(sc->last, sc->match_text) == 0;
	if (audit_cp_parse(line, len, &cp) == 0 && cp.seq > sc->max_seq) {
		sc->max_seq = cp.seq;
		memcpy(sc->max_line, sc->last, len + 1);
	}
}

/* Every complete line of path; bytes after the last newline are a torn
 * append and not counted. A missing file has no lines. */
static int cp_scan_file(const char *path, struct cp_scan *sc)
{
	char buf[AUDIT_CP_LINE_MAX + 2];
	bool cut = false;
	FILE *fp;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT                   ? 0 :
		       errno == EACCES || errno == ELOOP ? KW_EPERM :
		                                           KW_EIO;
	fp = fdopen(fd, "r");
	if (!fp) {
		close(fd);
		return KW_ENOMEM;
	}
	while (fgets(buf, sizeof(buf), fp)) {
		size_t len = strlen(buf);

		if (len == 0 || buf[len - 1] != '\n') {
			if (feof(fp))
				break; /* torn: no newline at the end */
			cut = true;    /* longer than any line: the rest next */
			continue;
		}
		scan_line(sc, buf, len - 1,
		          cut || len - 1 >= AUDIT_CP_LINE_MAX);
		cut = false;
	}
	if (ferror(fp)) {
		fclose(fp);
		return KW_EIO;
	}
	fclose(fp);
	return 0;
}

/* The position new lines chain from: line number lines, text last. The
 * rows up to the seq it names need no new line. */
static void set_position(audit *au, uint64_t lines, const char *last)
{
	audit_cp cp;

	au->cp_lines = lines;
	snprintf(au->cp_last, sizeof(au->cp_last), "%s", last);
	if (audit_cp_parse(last, strlen(last), &cp) == 0)
		au->cp_seq = cp.seq;
}

int audit_cpfile_load(audit *au)
{
	store_audit_cp_line rec;
	struct cp_scan sc;
	audit_cp cp;
	uint8_t h[AUDIT_HASH_BYTES];
	int r;

	memset(&sc, 0, sizeof(sc));
	r = store_audit_cp_get(au->st, &rec);
	if (r < 0 && r != KW_ENOTFOUND)
		return r;
	if (r == 0) {
		sc.match_no = rec.line_no;
		sc.match_text = rec.line;
	}
	au->cp_pending[0] = '\0';
	au->cp_mismatch = false;
	if (cp_scan_file(au->cp_path, &sc) < 0)
		sc.lines = 0; /* unreadable: the first append says why */
	au->cp_file_seq = sc.max_seq;
	snprintf(au->cp_max_line, sizeof(au->cp_max_line), "%s", sc.max_line);
	if (r == KW_ENOTFOUND || sc.matched) {
		/* No record yet (a store from before migration 7), or the
		 * file holds the recorded line where the store says. */
		set_position(au, sc.lines, sc.last);
		return 0;
	}
	/* The store is ahead by the line a crash kept from the file. */
	if (sc.lines + 1 == (uint64_t)rec.line_no &&
	    audit_cp_parse(rec.line, strlen(rec.line), &cp) == 0 &&
	    cp.format == 2) {
		if (sc.lines > 0)
			audit_cp_line_hash(sc.last, strlen(sc.last), h);
		else
			memcpy(h, zero_hash, sizeof(h));
		if (sodium_memcmp(h, cp.prev, sizeof(h)) == 0) {
			set_position(au, sc.lines, sc.last);
			snprintf(au->cp_pending, sizeof(au->cp_pending), "%s",
			         rec.line);
			au->cp_seq = cp.seq;
			return 0;
		}
	}
	/* Anything else is damage that verify reports; new lines chain from
	 * the store's record, so they do not paper over it. */
	au->cp_mismatch = true;
	au->cp_mismatch_lines = sc.lines;
	au->cp_mismatch_want = (uint64_t)rec.line_no;
	set_position(au, (uint64_t)rec.line_no, rec.line);
	return 0;
}

/* The failing state ------------------------------------------------------- */

static void cp_failed(audit *au, int64_t now_us, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void cp_failed(audit *au, int64_t now_us, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(au->cp_fail_why, sizeof(au->cp_fail_why), fmt, ap);
	va_end(ap);
	if (!au->cp_failing) {
		au->cp_failing = true;
		au->cp_fail_since_us = now_us;
		au->cp_changes++;
	}
}

static void cp_ok(audit *au)
{
	if (au->cp_failing) {
		au->cp_failing = false;
		au->cp_changes++;
	}
}

/* Writing ----------------------------------------------------------------- */

/* Append text (no newline) as a line of path. */
static int append_line(const char *path, const char *text, int *ret_errno)
{
	char line[AUDIT_CP_LINE_MAX + 2];
	int n = snprintf(line, sizeof(line), "%s\n", text);

	if (n < 0 || (size_t)n >= sizeof(line)) {
		*ret_errno = EINVAL;
		return KW_EINTERNAL;
	}
	return audit_cp_append(path, line, (size_t)n, ret_errno);
}

static const char *why_of(int r, int err)
{
	if (r == KW_EPERM && err == EPERM)
		return "not a regular file of ours with mode 600";
	if (err == EILSEQ)
		return "it ends in more than a line without a newline (not "
		       "a torn checkpoint line: look at it)";
	return err ? strerror(err) : kw_strerror(r);
}

/* The anchor gets the file's last line; missing some is harmless (only
 * its newest line is read). */
static int flush_anchor(audit *au, int64_t now_us)
{
	int r, err;

	if (!au->anchor_path || !au->anchor_behind || !au->cp_last[0])
		return 0;
	r = append_line(au->anchor_path, au->cp_last, &err);
	if (r < 0) {
		cp_failed(au, now_us, "anchor %s: %s", au->anchor_path,
		          why_of(r, err));
		return r;
	}
	au->anchor_behind = false;
	return 0;
}

/* The line recorded in the store goes into the file before any other. */
static int flush_pending(audit *au, int64_t now_us)
{
	audit_cp cp;
	int r, err;

	if (!au->cp_pending[0])
		return flush_anchor(au, now_us);
	r = append_line(au->cp_path, au->cp_pending, &err);
	if (r < 0) {
		cp_failed(au, now_us, "%s: %s", au->cp_path, why_of(r, err));
		return r;
	}
	au->cp_lines++;
	memcpy(au->cp_last, au->cp_pending, sizeof(au->cp_last));
	au->cp_pending[0] = '\0';
	if (audit_cp_parse(au->cp_last, strlen(au->cp_last), &cp) == 0 &&
	    cp.seq > au->cp_file_seq) {
		au->cp_file_seq = cp.seq;
		memcpy(au->cp_max_line, au->cp_last, sizeof(au->cp_max_line));
	}
	au->anchor_behind = true;
	return flush_anchor(au, now_us);
}

/* Sign the committed head as the line after cp_last and record it in the
 * store, in a transaction of its own: the rows it covers committed before
 * it. The line becomes pending. */
static int record_line(audit *au, int64_t now_us)
{
	store_audit_cp_line rec;
	char line[AUDIT_CP_LINE_MAX + 1];
	audit_cp cp;
	size_t len;
	int r;

	memset(&cp, 0, sizeof(cp));
	cp.seq = au->committed.seq;
	memcpy(cp.hash, au->committed.hash, AUDIT_HASH_BYTES);
	if (au->cp_lines > 0)
		audit_cp_line_hash(au->cp_last, strlen(au->cp_last), cp.prev);
	cp.ts_us = now_us;
	audit_cp2_sign(audit_sk_open(au), &cp);
	audit_sk_close(au);
	len = audit_cp_format(&cp, line, sizeof(line));
	if (len == 0 || au->cp_lines >= INT64_MAX)
		return KW_EINTERNAL;
	line[len - 1] = '\0';
	rec.line_no = (int64_t)au->cp_lines + 1;
	rec.seq = (int64_t)cp.seq;
	memcpy(rec.line, line, len);
	/* One statement outside a batch: a durable transaction of its own. */
	r = store_audit_cp_put(au->st, &rec);
	if (r < 0) {
		cp_failed(au, now_us, "cannot record it in the store: %s",
		          kw_strerror(r));
		return r;
	}
	memcpy(au->cp_pending, line, len);
	au->cp_seq = cp.seq;
	au->cp_us = now_us;
	return 0;
}

int audit_cpfile_checkpoint(audit *au, int64_t now_us)
{
	int r;

	if (!au->sk || au->keys_state != KEYS_DURABLE)
		return KW_ELOCKED;
	/* Inside a batch the record would commit with it, after the line was
	 * appended: left to the next checkpoint outside one. */
	if (store_batch_active(au->st))
		return 0;
	r = flush_pending(au, now_us);
	if (r < 0)
		return r;
	if (au->committed.seq <= au->cp_seq) {
		cp_ok(au);
		return 0;
	}
	/* Never vouch for rows a power loss could still take: a light
	 * batch's rows reach the disk first (store_batch_begin_light). */
	r = store_sync(au->st);
	if (r < 0) {
		cp_failed(au, now_us, "cannot sync the store: %s",
		          kw_strerror(r));
		return r;
	}
	r = record_line(au, now_us);
	if (r == 0)
		r = flush_pending(au, now_us);
	if (r < 0)
		return r;
	if (au->cfg.syslog) {
		/* A copy out of the attacker's reach if syslog forwards
		 * elsewhere: the head a deletion would have to match. */
		char hex[AUDIT_HASH_BYTES * 2 + 1];
		sodium_bin2hex(hex, sizeof(hex), au->committed.hash,
		               AUDIT_HASH_BYTES);
		syslog(LOG_AUTHPRIV | LOG_NOTICE,
		       "keyward audit checkpoint seq=%llu hash=%s",
		       (unsigned long long)au->committed.seq, hex);
	}
	cp_ok(au);
	return 0;
}

void audit_cp_state(const audit *au, audit_cp_status *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (!au)
		return;
	ret->failing = au->cp_failing;
	ret->since_us = au->cp_fail_since_us;
	snprintf(ret->why, sizeof(ret->why), "%s", au->cp_fail_why);
	ret->newest_seq = au->cp_file_seq;
	ret->log_seq = au->committed.seq;
	ret->changes = au->cp_changes;
}

bool audit_refusing(const audit *au)
{
	return au && au->key && au->cp_failing && au->cfg.refuse_unvouched;
}

int audit_cpfile_in_gap(audit *au, uint64_t seq, bool *ret_void)
{
	store_audit_gap g;
	int r;

	*ret_void = false;
	if (seq > INT64_MAX)
		return 0;
	r = store_audit_gap_covering(au->st, (int64_t)seq, &g);
	if (r == KW_ENOTFOUND)
		return 0;
	if (r == 0)
		*ret_void = true;
	return r;
}

/* Start-up ---------------------------------------------------------------- */

/* The newest complete line of path that parses and is signed with pk;
 * KW_ENOTFOUND if there is none (or no file). */
static int newest_signed(const char *path, const uint8_t *pk, audit_cp *ret_cp,
                         char ret_line[static AUDIT_CP_LINE_MAX + 1])
{
	struct cp_scan sc;
	audit_cp cp;
	int r;

	memset(&sc, 0, sizeof(sc));
	r = cp_scan_file(path, &sc);
	if (r < 0)
		return r;
	if (!sc.max_line[0] ||
	    audit_cp_parse(sc.max_line, strlen(sc.max_line), &cp) < 0 || !pk ||
	    !audit_cp_valid(pk, &cp))
		return KW_ENOTFOUND;
	*ret_cp = cp;
	memcpy(ret_line, sc.max_line, AUDIT_CP_LINE_MAX + 1);
	return 0;
}

/* Continue the chain after line (a signed checkpoint of row cp->seq): rows
 * head+1..cp->seq are lost. Recorded as a gap, and as a row. */
static int accept_loss(audit *au, const audit_cp *cp, const char *line,
                       const char *source, int64_t now_us)
{
	store_audit_gap g;
	char reason[AUDIT_REASON_MAX];
	uint64_t from = au->head.seq + 1;
	audit_event ev = {
		.uid = geteuid(),
		.pid = getpid(),
		.op = AUDIT_OP_LOSS,
		.outcome = AUDIT_ERROR,
		.reason = reason,
	};
	int r;

	g.seq = (int64_t)cp->seq;
	g.lost_from = (int64_t)from;
	snprintf(g.line, sizeof(g.line), "%s", line);
	r = store_audit_gap_put(au->st, &g, now_us / 1000000);
	if (r < 0)
		return r;
	au->head.seq = cp->seq;
	memcpy(au->head.hash, cp->hash, AUDIT_HASH_BYTES);
	if (cp->ts_us > au->head.ts_us)
		au->head.ts_us = cp->ts_us;
	au->committed = au->head;
	au->notified = au->head.seq;
	au->cp_seq = cp->seq;
	snprintf(reason, sizeof(reason),
	         "rows %" PRIu64 "–%" PRIu64 " lost (signed by %s); accepted "
	         "with keywardd --accept-loss",
	         from, cp->seq, source);
	/* Locked here: the row waits in the queue for the audit key. */
	return audit_append(au, &ev, now_us);
}

/* A gap accepted before whose row never became durable: take it up. */
static int resume_gap(audit *au, int64_t now_us)
{
	store_audit_gap g;
	audit_cp cp;
	int r = store_audit_gap_newest(au->st, &g);

	if (r == KW_ENOTFOUND)
		return 0;
	if (r < 0)
		return r;
	if ((uint64_t)g.seq <= au->head.seq)
		return 0;
	if (audit_cp_parse(g.line, strlen(g.line), &cp) < 0 ||
	    cp.seq != (uint64_t)g.seq)
		return KW_ESTORE;
	au->head.seq = (uint64_t)g.lost_from - 1;
	return accept_loss(au, &cp, g.line, "an accepted checkpoint", now_us);
}

/* audit_startup without the repair. */
static int startup_compare(audit *au, bool accept, int64_t now_us, char *msg,
                           size_t msgsz)
{
	uint8_t pk[AUDIT_PK_BYTES];
	uint8_t sealed[STORE_AUDIT_SEALED_BYTES];
	char line[AUDIT_CP_LINE_MAX + 1];
	audit_cp cp;
	bool have_pk;
	int r;

	msg[0] = '\0';
	r = resume_gap(au, now_us);
	if (r < 0)
		return r;
	r = store_audit_keys_get(au->st, pk, sealed);
	if (r < 0 && r != KW_ENOTFOUND)
		return r;
	have_pk = r == 0;
	sodium_memzero(sealed, sizeof(sealed));
	if (au->cp_mismatch)
		snprintf(msg, msgsz,
		         "%s has %" PRIu64 " lines and does not hold the line "
		         "%" PRIu64 " the store recorded; `keyward audit "
		         "verify` reports it",
		         au->cp_path, au->cp_mismatch_lines,
		         au->cp_mismatch_want);

	/* The checkpoint file vouches for rows the store does not have. */
	if (have_pk && au->cp_file_seq > au->head.seq &&
	    audit_cp_parse(au->cp_max_line, strlen(au->cp_max_line), &cp) ==
	            0 &&
	    audit_cp_valid(pk, &cp)) {
		if (!accept) {
			snprintf(msg, msgsz,
			         "the store lost rows %" PRIu64 "–%" PRIu64
			         " that %s signed; was secrets.db-wal deleted "
			         "or the store restored from a backup? Start "
			         "once with `keywardd --accept-loss` to go on "
			         "without them (recorded in the audit log)",
			         au->head.seq + 1, cp.seq, au->cp_path);
			return KW_ESTATE;
		}
		snprintf(line, sizeof(line), "%s", au->cp_max_line);
		snprintf(msg, msgsz,
		         "accepted the loss of rows %" PRIu64 "–%" PRIu64
		         " that %s signed (--accept-loss)",
		         au->head.seq + 1, cp.seq, au->cp_path);
		r = accept_loss(au, &cp, line, "audit.checkpoints", now_us);
		if (r < 0)
			return r;
	}

	/* The anchor, out of reach of whoever restored the store. */
	if (!au->anchor_path || !have_pk)
		return 0;
	r = newest_signed(au->anchor_path, pk, &cp, line);
	if (r == KW_ENOTFOUND)
		return 0;
	if (r < 0) {
		snprintf(msg, msgsz, "cannot read the audit anchor %s: %s",
		         au->anchor_path, kw_strerror(r));
		return r;
	}
	if (cp.seq <= au->head.seq)
		return 0;
	if (!accept) {
		snprintf(msg, msgsz,
		         "the store ends at row %" PRIu64
		         " but the audit anchor "
		         "%s signed row %" PRIu64 ": the store and %s were "
		         "rolled back together (restored from a backup?). "
		         "Restore the newer store, or start once with "
		         "`keywardd --accept-loss` to go on without rows "
		         "%" PRIu64 "–%" PRIu64 " (recorded in the audit log)",
		         au->head.seq, au->anchor_path, cp.seq, au->cp_path,
		         au->head.seq + 1, cp.seq);
		return KW_ESTATE;
	}
	snprintf(msg, msgsz,
	         "accepted the loss of rows %" PRIu64 "–%" PRIu64
	         " that the audit anchor %s signed (--accept-loss)",
	         au->head.seq + 1, cp.seq, au->anchor_path);
	return accept_loss(au, &cp, line, "the audit anchor", now_us);
}

int audit_startup(audit *au, bool accept, int64_t now_us, char *msg,
                  size_t msgsz)
{
	int r = startup_compare(au, accept, now_us, msg, msgsz);

	/* Only then (an anchor must be read before the file's last line is
	 * copied to it): the line the store recorded just before a crash,
	 * which needs no key. A failure is the failing state. */
	if (r == 0)
		(void)flush_pending(au, now_us);
	return r;
}
