/*
 * test_audit.c - the tamper-evident audit log (audit.h, store_audit.h):
 * the chain, each kind of tampering (done through a raw SQLite handle, as
 * an attacker would), rollbacks, the locked queue, checkpoints, retention,
 * queries and stats.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "audit.h"
#include "crypto.h"
#include "keyward.h"
#include "secmem.h"
#include "store.h"

#define T0     INT64_C(1700000000000000) /* a fixed "now", unix us */
#define DAY_US INT64_C(86400000000)

typedef struct fixture {
	char dir[64];
	char db[PATH_MAX];
	char cp[PATH_MAX];
	store *s;
	kw_key *dk;
	audit *au;
	audit_config cfg;
	int64_t now;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/kw-test-audit-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->db, sizeof(f->db), "%s/secrets.db", f->dir);
	snprintf(f->cp, sizeof(f->cp), "%s/audit.checkpoints", f->dir);
	if (store_open(f->db, STORE_CREATE, &f->s) != 0 ||
	    key_random(&f->dk) != 0 ||
	    audit_open(f->s, f->cp, &f->cfg, &f->au) != 0 ||
	    audit_unlock(f->au, f->dk, T0) != 0)
		return -1;
	f->now = T0;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	char p[PATH_MAX + 8];

	audit_close(f->au);
	store_close(f->s);
	key_free(f->dk);
	unlink(f->cp);
	snprintf(p, sizeof(p), "%s-wal", f->db);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", f->db);
	unlink(p);
	unlink(f->db);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Reopen the audit log (as the agent does at start) with f->cfg. */
static void reopen(fixture *f, bool unlock)
{
	audit_close(f->au);
	f->au = NULL;
	assert_int_equal(audit_open(f->s, f->cp, &f->cfg, &f->au), 0);
	if (unlock)
		assert_int_equal(audit_unlock(f->au, f->dk, f->now), 0);
}

static audit_event ev_of(const char *op, const char *name, int outcome)
{
	audit_event ev = {
		.uid = 1000,
		.pid = 4242,
		.exe = "/usr/bin/mcp-server",
		.principal = "github-mcp",
		.op = op,
		.name = name,
		.version = 3,
		.outcome = outcome,
		.reason = NULL,
	};
	return ev;
}

/* n rows in one batch, one microsecond apart, then committed. */
static void append_n(fixture *f, int n)
{
	assert_int_equal(store_batch_begin(f->s), 0);
	for (int i = 0; i < n; i++) {
		audit_event ev = ev_of("secret.get", "github/token", AUDIT_OK);

		assert_int_equal(audit_append(f->au, &ev, f->now++), 0);
	}
	assert_int_equal(store_batch_commit(f->s), 0);
	audit_committed(f->au, f->now, NULL, NULL);
}

static audit_verify_result verify_steps(fixture *f, uint32_t step,
                                        int *ret_steps)
{
	audit_verify_result res;
	audit_verify *v = NULL;
	bool done = false;
	int steps = 0;

	memset(&res, 0, sizeof(res));
	assert_int_equal(audit_verify_begin(f->au, &v), 0);
	while (!done) {
		assert_int_equal(audit_verify_step(v, step, &done, &res), 0);
		assert_true(++steps < 1000000);
	}
	audit_verify_free(v);
	if (ret_steps)
		*ret_steps = steps;
	return res;
}

static audit_verify_result verify(fixture *f)
{
	return verify_steps(f, 7, NULL);
}

static void expect_break(fixture *f, int kind, uint64_t seq)
{
	audit_verify_result res = verify(f);

	if (res.kind != kind || res.seq != seq)
		print_error("got %s at %" PRIu64 " (%s)\n",
		            audit_break_name(res.kind), res.seq, res.detail);
	assert_int_equal(res.kind, kind);
	assert_int_equal(res.seq, seq);
}

/* Constant SQL through a raw connection: the attacker's view. */
static void raw_exec(const fixture *f, const char *sql)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READWRITE,
	                                 NULL),
	                 SQLITE_OK);
	sqlite3_busy_timeout(db, 2000);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_true(sqlite3_changes(db) > 0);
	sqlite3_close(db);
}

static int64_t raw_int(const fixture *f, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v;

	assert_int_equal(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READONLY,
	                                 NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* Rows, collected by a query callback. */
#define ROWS_MAX (AUDIT_QUEUE_MAX + 64)
typedef struct rows {
	uint64_t seq[ROWS_MAX];
	char op[ROWS_MAX][AUDIT_OP_MAX + 1];
	char reason[ROWS_MAX][AUDIT_REASON_MAX + 1];
	int64_t ts[ROWS_MAX];
	size_t n;
} rows;

static int collect(const audit_row *row, void *arg)
{
	rows *r = arg;

	assert_true(r->n < ROWS_MAX);
	r->seq[r->n] = row->seq;
	r->ts[r->n] = row->ts_us;
	snprintf(r->op[r->n], sizeof(r->op[0]), "%s", row->op);
	snprintf(r->reason[r->n], sizeof(r->reason[0]), "%s",
	         row->reason ? row->reason : "");
	r->n++;
	return 0;
}

/* Every row, oldest first, through paged queries. */
static rows *all_rows(fixture *f)
{
	rows *r = calloc(1, sizeof(*r));
	audit_filter flt = { .outcome = -1, .ascending = true, .limit = 1000 };
	uint64_t cursor = 0;

	assert_non_null(r);
	do {
		flt.after_seq = cursor;
		assert_int_equal(audit_query(f->au, &flt, collect, r, &cursor),
		                 0);
	} while (cursor != 0);
	return r;
}

/* Count-based checkpoints keep their gap: a burst inside it pays for one,
 * the rows after it are vouched for once the gap has passed. */
static void test_checkpoint_gap(void **state)
{
	fixture *f = *state;
	audit_verify_result res;

	f->cfg.checkpoint_rows = 10;
	f->cfg.checkpoint_gap_ms = 1000;
	audit_configure(f->au, &f->cfg);
	f->now = 5000000;
	for (int i = 0; i < 5; i++)
		append_n(f, 10); /* 50 rows within 50 microseconds */
	res = verify(f);
	assert_int_equal(res.kind, AUDIT_INTACT);
	assert_int_equal(res.rows, 50);
	assert_int_equal(res.checkpoints, 1);
	f->now += 1000000; /* a second later */
	append_n(f, 10);
	res = verify(f);
	assert_int_equal(res.rows, 60);
	assert_int_equal(res.checkpoints, 2);
}

static void test_chain_intact(void **state)
{
	fixture *f = *state;
	audit_verify_result res;
	struct stat st;
	int steps = 0;

	f->cfg.checkpoint_rows = 10;
	audit_configure(f->au, &f->cfg);
	res = verify(f);
	assert_int_equal(res.kind, AUDIT_INTACT); /* empty log */
	assert_int_equal(res.rows, 0);
	for (int i = 0; i < 5; i++)
		append_n(f, 10);
	res = verify_steps(f, 7, &steps);
	assert_int_equal(res.kind, AUDIT_INTACT);
	assert_int_equal(res.seq, 0);
	assert_int_equal(res.rows, 50);
	assert_int_equal(res.checkpoints, 5); /* one per 10 rows */
	assert_true(steps >= 50 / 7);
	assert_non_null(strstr(res.detail, "50 rows"));
	/* The checkpoint file is ours alone. */
	assert_int_equal(stat(f->cp, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);

	/* Names, both ways. */
	assert_string_equal(audit_break_name(AUDIT_TRUNCATED), "truncated");
	assert_string_equal(audit_outcome_name(AUDIT_RATE_LIMITED),
	                    "rate_limited");
	{
		int o = -1;

		assert_int_equal(audit_outcome_parse("denied", &o), 0);
		assert_int_equal(o, AUDIT_DENIED);
		assert_int_equal(audit_outcome_parse("nope", &o), KW_EINVAL);
	}
}

static void test_edit_detected(void **state)
{
	fixture *f = *state;

	append_n(f, 20);
	raw_exec(f, "UPDATE audit SET name = 'github/other' WHERE seq = 10");
	expect_break(f, AUDIT_EDITED, 10);
	/* An earlier edit is the first break. */
	raw_exec(f, "UPDATE audit SET outcome = 1 WHERE seq = 4");
	expect_break(f, AUDIT_EDITED, 4);
}

static void test_edit_hash_too(void **state)
{
	fixture *f = *state;

	append_n(f, 10);
	/* Changing the stored hash breaks the link to the next row too. */
	raw_exec(f, "UPDATE audit SET hash = zeroblob(32) WHERE seq = 6");
	expect_break(f, AUDIT_EDITED, 6);
}

/*
 * Every column the chain hash covers, edited alone in a fresh log: each
 * edit must break verification at that row, or a column left out of
 * audit_chain_hash (or read back wrongly) would go unnoticed. The rows
 * carry a value in every column (reason and principal included) and lie
 * a millisecond apart, so that moving a time by one microsecond is not
 * also a reordering. seq is hashed as well, but an edited seq is a gap or
 * a move first (test_delete_detected, test_reorder_detected).
 */
static void test_edit_each_column(void **state)
{
	static const struct {
		const char *column;
		const char *sql;
	} edits[] = {
		{ "ts_us", "UPDATE audit SET ts_us = ts_us + 1 WHERE seq = 5" },
		{ "uid", "UPDATE audit SET uid = uid + 1 WHERE seq = 5" },
		{ "pid", "UPDATE audit SET pid = pid + 1 WHERE seq = 5" },
		{ "exe", "UPDATE audit SET exe = exe || 'x' WHERE seq = 5" },
		{ "exe (to NULL)",
		  "UPDATE audit SET exe = NULL WHERE seq = 5" },
		{ "principal",
		  "UPDATE audit SET principal = 'other' WHERE seq = 5" },
		{ "principal (to empty)",
		  "UPDATE audit SET principal = '' WHERE seq = 5" },
		{ "op", "UPDATE audit SET op = 'secret.put' WHERE seq = 5" },
		{ "name", "UPDATE audit SET name = name || 'x' WHERE seq = 5" },
		{ "version",
		  "UPDATE audit SET version = version + 1 WHERE seq = 5" },
		{ "outcome", "UPDATE audit SET outcome = 0 WHERE seq = 5" },
		{ "reason",
		  "UPDATE audit SET reason = 'no policy section' WHERE seq = 5" },
		{ "reason (to NULL)",
		  "UPDATE audit SET reason = NULL WHERE seq = 5" },
		{ "hash",
		  "UPDATE audit SET hash = zeroblob(32) WHERE seq = 5" },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		void *fresh = NULL;
		fixture *f;
		audit_verify_result res;

		assert_int_equal(setup(&fresh), 0);
		f = fresh;
		assert_int_equal(store_batch_begin(f->s), 0);
		for (int n = 0; n < 8; n++) {
			audit_event ev = ev_of("secret.get", "github/token",
			                       AUDIT_DENIED);

			ev.reason = "not granted by any policy section";
			assert_int_equal(audit_append(f->au, &ev, f->now), 0);
			f->now += 1000;
		}
		assert_int_equal(store_batch_commit(f->s), 0);
		audit_committed(f->au, f->now, NULL, NULL);
		assert_int_equal(verify(f).kind, AUDIT_INTACT);

		raw_exec(f, edits[i].sql);
		res = verify(f);
		if (res.kind != AUDIT_EDITED || res.seq != 5)
			print_error("editing %s: got %s at %" PRIu64 " (%s)\n",
			            edits[i].column, audit_break_name(res.kind),
			            res.seq, res.detail);
		assert_int_equal(res.kind, AUDIT_EDITED);
		assert_int_equal(res.seq, 5);
		teardown(&fresh);
	}
}

static void test_delete_detected(void **state)
{
	fixture *f = *state;

	append_n(f, 20);
	raw_exec(f, "DELETE FROM audit WHERE seq = 7");
	expect_break(f, AUDIT_DELETED, 7);
}

static void test_delete_oldest_detected(void **state)
{
	fixture *f = *state;

	append_n(f, 20);
	raw_exec(f, "DELETE FROM audit WHERE seq <= 3");
	expect_break(f, AUDIT_DELETED, 1);
}

static void test_reorder_detected(void **state)
{
	fixture *f = *state;

	append_n(f, 20);
	/* Swap rows 5 and 8 (through a free seq: it is the primary key). */
	raw_exec(f, "UPDATE audit SET seq = 1000 WHERE seq = 5;"
	            "UPDATE audit SET seq = 5 WHERE seq = 8;"
	            "UPDATE audit SET seq = 8 WHERE seq = 1000;");
	expect_break(f, AUDIT_REORDERED, 5);
}

static void test_reorder_adjacent_and_ts(void **state)
{
	fixture *f = *state;

	append_n(f, 20);
	raw_exec(f, "UPDATE audit SET seq = 1000 WHERE seq = 12;"
	            "UPDATE audit SET seq = 12 WHERE seq = 13;"
	            "UPDATE audit SET seq = 13 WHERE seq = 1000;");
	expect_break(f, AUDIT_REORDERED, 12);
	/* A row moved back in time, earlier in the log. */
	raw_exec(f, "UPDATE audit SET ts_us = ts_us - 1000000 WHERE seq = 9");
	expect_break(f, AUDIT_REORDERED, 9);
}

static void test_truncate_detected(void **state)
{
	fixture *f = *state;

	f->cfg.checkpoint_rows = 10;
	audit_configure(f->au, &f->cfg);
	append_n(f, 30); /* checkpoint at 30 */
	assert_int_equal(verify(f).kind, AUDIT_INTACT);
	raw_exec(f, "DELETE FROM audit WHERE seq > 25");
	/* The running agent knows its head. */
	expect_break(f, AUDIT_TRUNCATED, 26);
	/* After a restart only the checkpoint knows. */
	reopen(f, true);
	expect_break(f, AUDIT_TRUNCATED, 26);
	/* Rows appended afterwards reuse seq 26..30: they cannot match. */
	append_n(f, 5);
	expect_break(f, AUDIT_EDITED, 30);
}

static void test_truncate_without_rows_checkpoint(void **state)
{
	fixture *f = *state;

	append_n(f, 12);
	/* No count-based checkpoint: the one written at stop vouches. */
	assert_int_equal(audit_checkpoint(f->au, f->now), 0);
	assert_int_equal(audit_checkpoint(f->au, f->now), 0); /* no rows */
	raw_exec(f, "DELETE FROM audit");
	reopen(f, true);
	expect_break(f, AUDIT_TRUNCATED, 1);
}

/* The checkpoint file's text, and its replacement. */
static size_t read_cp_file(const fixture *f, char *buf, size_t bufsz)
{
	FILE *fp = fopen(f->cp, "r");
	size_t len;

	assert_non_null(fp);
	len = fread(buf, 1, bufsz - 1, fp);
	assert_true(len > 0);
	buf[len] = '\0';
	fclose(fp);
	return len;
}

static void write_cp_file(const fixture *f, const char *buf, size_t len)
{
	FILE *fp = fopen(f->cp, "w");

	assert_non_null(fp);
	assert_int_equal(fwrite(buf, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

/* Rewrite the checkpoint file with edit applied to its text. */
static void edit_cp_file(fixture *f, void (*edit)(char *buf, size_t *len))
{
	char buf[8192];
	size_t len = read_cp_file(f, buf, sizeof(buf) - 512);

	edit(buf, &len);
	write_cp_file(f, buf, len);
}

/* Flip a character inside the second line's signature (the fourth
 * field of a chained line). */
static void flip_sig(char *buf, size_t *len)
{
	char *l2 = strchr(buf, '\n') + 1;
	char *sig = strchr(strchr(strchr(l2, ' ') + 1, ' ') + 1, ' ') + 1;

	(void)len;
	sig[10] = sig[10] == 'A' ? 'B' : 'A';
}

static void add_garbage(char *buf, size_t *len)
{
	static const char garbage[] = "20 zz not-a-checkpoint 1\n";
	memcpy(buf + *len, garbage, sizeof(garbage));
	*len += sizeof(garbage) - 1;
}

static void add_long_line(char *buf, size_t *len)
{
	memset(buf + *len, '7', 300);
	buf[*len + 300] = '\n';
	*len += 301;
}

static void drop_newline(char *buf, size_t *len)
{
	(void)buf;
	*len -= 1;
}

static void test_bad_checkpoint(void **state)
{
	fixture *f = *state;
	audit_verify_result res;
	char orig[8192];
	size_t orig_len;

	f->cfg.checkpoint_rows = 5;
	audit_configure(f->au, &f->cfg);
	append_n(f, 5);
	append_n(f, 5);
	append_n(f, 5);
	assert_int_equal(verify(f).checkpoints, 3);
	orig_len = read_cp_file(f, orig, sizeof(orig));
	edit_cp_file(f, flip_sig);
	expect_break(f, AUDIT_BAD_CHECKPOINT, 10);
	write_cp_file(f, orig, orig_len); /* back as it was */
	assert_int_equal(verify(f).kind, AUDIT_INTACT);

	edit_cp_file(f, add_garbage);
	res = verify(f);
	assert_int_equal(res.kind, AUDIT_BAD_CHECKPOINT);
	assert_non_null(strstr(res.detail, "line 4"));
}

static void test_bad_checkpoint_long_line(void **state)
{
	fixture *f = *state;

	f->cfg.checkpoint_rows = 5;
	audit_configure(f->au, &f->cfg);
	append_n(f, 5);
	edit_cp_file(f, add_long_line);
	expect_break(f, AUDIT_BAD_CHECKPOINT, 0);
}

static void test_bad_checkpoint_torn_line(void **state)
{
	fixture *f = *state;

	f->cfg.checkpoint_rows = 5;
	audit_configure(f->au, &f->cfg);
	append_n(f, 5);
	edit_cp_file(f, drop_newline);
	expect_break(f, AUDIT_BAD_CHECKPOINT, 0);
}

/* The signature covers the hash: a line made to agree with edited rows
 * does not verify. */
static void test_checkpoint_hash_edited(void **state)
{
	fixture *f = *state;
	char buf[8192];
	size_t len;
	char *hex;

	f->cfg.checkpoint_rows = 10;
	audit_configure(f->au, &f->cfg);
	append_n(f, 10);
	len = read_cp_file(f, buf, sizeof(buf));
	hex = strchr(buf, ' ') + 1;
	hex[0] = hex[0] == '0' ? '1' : '0';
	write_cp_file(f, buf, len);
	expect_break(f, AUDIT_BAD_CHECKPOINT, 10);
}

static void test_rollback_restores_head(void **state)
{
	fixture *f = *state;
	audit_event ev = ev_of("secret.put", "a/b", AUDIT_OK);
	rows *r;

	append_n(f, 5);
	assert_int_equal(store_batch_begin(f->s), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(audit_append(f->au, &ev, f->now++), 0);
	store_batch_rollback(f->s);
	audit_rolled_back(f->au);
	append_n(f, 2);

	r = all_rows(f);
	assert_int_equal(r->n, 7);
	for (size_t i = 0; i < r->n; i++) {
		assert_int_equal(r->seq[i], i + 1); /* no gap */
		assert_string_equal(r->op[i], "secret.get");
	}
	free(r);
	assert_int_equal(verify(f).kind, AUDIT_INTACT);
	assert_int_equal(verify(f).rows, 7);
}

static void test_append_needs_batch(void **state)
{
	fixture *f = *state;
	audit_event ev = ev_of("secret.get", "a/b", AUDIT_OK);
	audit_event bad = ev;
	char op[AUDIT_OP_MAX + 2];
	char *exe = malloc(5000);
	audit_verify *v = NULL;

	assert_int_equal(audit_append(f->au, &ev, f->now), KW_ESTATE);
	assert_int_equal(store_batch_begin(f->s), 0);
	bad.op = NULL;
	assert_int_equal(audit_append(f->au, &bad, f->now), KW_EINVAL);
	bad.op = "";
	assert_int_equal(audit_append(f->au, &bad, f->now), KW_EINVAL);
	memset(op, 'x', sizeof(op) - 1);
	op[sizeof(op) - 1] = '\0';
	bad.op = op;
	assert_int_equal(audit_append(f->au, &bad, f->now), KW_EINVAL);
	op[AUDIT_OP_MAX] = '\0';
	assert_int_equal(audit_append(f->au, &bad, f->now), 0);
	bad = ev;
	bad.outcome = 4;
	assert_int_equal(audit_append(f->au, &bad, f->now), KW_EINVAL);
	assert_non_null(exe);
	memset(exe, 'e', 4999);
	exe[4999] = '\0';
	bad = ev;
	bad.exe = exe;
	assert_int_equal(audit_append(f->au, &bad, f->now), KW_EINVAL);
	exe[4096] = '\0';
	assert_int_equal(audit_append(f->au, &bad, f->now), 0);
	free(exe);
	assert_int_equal(store_batch_commit(f->s), 0);
	audit_committed(f->au, f->now, NULL, NULL);
	assert_int_equal(verify(f).rows, 2);

	audit_lock(f->au);
	assert_false(audit_unlocked(f->au));
	assert_int_equal(audit_verify_begin(f->au, &v), KW_ELOCKED);
	assert_int_equal(audit_checkpoint(f->au, f->now), KW_ELOCKED);
	assert_int_equal(audit_unlock(f->au, f->dk, f->now), 0);
	assert_int_equal(audit_unlock(f->au, f->dk, f->now), KW_ESTATE);
}

static void test_reason_cut_utf8(void **state)
{
	fixture *f = *state;
	char reason[AUDIT_REASON_MAX + 16];
	audit_event ev = ev_of("secret.get", "a/b", AUDIT_DENIED);
	rows *r;

	/* 255 bytes, then "é" (2 bytes) straddling the 256-byte limit. */
	memset(reason, 'a', AUDIT_REASON_MAX - 1);
	memcpy(reason + AUDIT_REASON_MAX - 1, "\xc3\xa9 and more",
	       sizeof("\xc3\xa9 and more"));
	ev.reason = reason;
	assert_int_equal(store_batch_begin(f->s), 0);
	assert_int_equal(audit_append(f->au, &ev, f->now), 0);
	/* Exactly at the limit, nothing is cut. */
	reason[AUDIT_REASON_MAX - 1] = 'b';
	reason[AUDIT_REASON_MAX] = '\0';
	assert_int_equal(audit_append(f->au, &ev, f->now), 0);
	assert_int_equal(store_batch_commit(f->s), 0);
	audit_committed(f->au, f->now, NULL, NULL);
	r = all_rows(f);
	assert_int_equal(r->n, 2);
	assert_int_equal(strlen(r->reason[0]), AUDIT_REASON_MAX - 1);
	assert_int_equal(strlen(r->reason[1]), AUDIT_REASON_MAX);
	free(r);
	assert_int_equal(verify(f).kind, AUDIT_INTACT);
}

static void test_clock_back(void **state)
{
	fixture *f = *state;
	audit_event ev = ev_of("secret.get", "a/b", AUDIT_OK);
	rows *r;

	assert_int_equal(store_batch_begin(f->s), 0);
	assert_int_equal(audit_append(f->au, &ev, T0 + 1000), 0);
	assert_int_equal(audit_append(f->au, &ev, T0 + 10), 0); /* stepped */
	assert_int_equal(store_batch_commit(f->s), 0);
	audit_committed(f->au, f->now, NULL, NULL);
	r = all_rows(f);
	assert_int_equal(r->n, 2);
	assert_int_equal(r->ts[1], T0 + 1000);
	free(r);
	assert_int_equal(verify(f).kind, AUDIT_INTACT);
}

static void test_locked_queue(void **state)
{
	fixture *f = *state;
	static const char *const ops[] = { "agent.lock", "secret.get",
		                           "peer.refused" };
	rows *r;

	append_n(f, 2);
	audit_lock(f->au);
	for (int i = 0; i < 3; i++) {
		audit_event ev = ev_of(ops[i], NULL, AUDIT_DENIED);
		char reason[32];

		snprintf(reason, sizeof(reason), "queued %d", i);
		ev.reason = reason; /* copied: this buffer goes away */
		assert_int_equal(audit_append(f->au, &ev, f->now++), 0);
	}
	assert_int_equal(raw_int(f, "SELECT count(*) FROM audit"), 2);
	assert_int_equal(audit_unlock(f->au, f->dk, f->now), 0);
	assert_false(store_batch_active(f->s));
	r = all_rows(f);
	assert_int_equal(r->n, 5);
	for (int i = 0; i < 3; i++) {
		char want[32];

		snprintf(want, sizeof(want), "queued %d", i);
		assert_string_equal(r->op[2 + i], ops[i]);
		assert_string_equal(r->reason[2 + i], want);
		assert_int_equal(r->seq[2 + i], 3 + i);
	}
	free(r);
	assert_int_equal(verify(f).kind, AUDIT_INTACT);
}

static void test_queue_overflow(void **state)
{
	fixture *f = *state;
	audit_event ev = ev_of("secret.get", "a/b", AUDIT_DENIED);
	rows *r;

	audit_lock(f->au);
	for (unsigned i = 0; i < AUDIT_QUEUE_MAX + 5; i++)
		assert_int_equal(audit_append(f->au, &ev, f->now++), 0);
	assert_int_equal(audit_unlock(f->au, f->dk, f->now), 0);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM audit"),
	                 AUDIT_QUEUE_MAX + 1);
	r = all_rows(f);
	assert_int_equal(r->n, AUDIT_QUEUE_MAX + 1);
	assert_string_equal(r->op[AUDIT_QUEUE_MAX], "audit.dropped");
	assert_non_null(strstr(r->reason[AUDIT_QUEUE_MAX], "5 events"));
	free(r);
	assert_int_equal(verify(f).kind, AUDIT_INTACT);

	/* The count is recorded once. */
	append_n(f, 1);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM audit"
	                            " WHERE op = 'audit.dropped'"),
	                 1);
}

static void test_queue_flush_rolled_back(void **state)
{
	fixture *f = *state;
	audit_event ev = ev_of("peer.refused", NULL, AUDIT_DENIED);
	audit_event now_ev = ev_of("secret.get", "a/b", AUDIT_OK);
	rows *r;

	audit_lock(f->au);
	assert_int_equal(audit_append(f->au, &ev, f->now++), 0);
	assert_int_equal(audit_append(f->au, &ev, f->now++), 0);
	/* Unlocked inside the caller's batch, which then fails. */
	assert_int_equal(store_batch_begin(f->s), 0);
	assert_int_equal(audit_unlock(f->au, f->dk, f->now), 0);
	store_batch_rollback(f->s);
	audit_rolled_back(f->au);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM audit"), 0);
	/* The queued rows are not lost: they come first in the next batch. */
	assert_int_equal(store_batch_begin(f->s), 0);
	assert_int_equal(audit_append(f->au, &now_ev, f->now++), 0);
	assert_int_equal(store_batch_commit(f->s), 0);
	audit_committed(f->au, f->now, NULL, NULL);
	r = all_rows(f);
	assert_int_equal(r->n, 3);
	assert_string_equal(r->op[0], "peer.refused");
	assert_string_equal(r->op[1], "peer.refused");
	assert_string_equal(r->op[2], "secret.get");
	free(r);
	assert_int_equal(verify(f).kind, AUDIT_INTACT);
}

/* A first unlock inside a batch that rolls back: the checkpoint key row
 * went with it, and is written again. */
static void test_key_rolled_back(void **state)
{
	fixture *f = *state;

	audit_close(f->au);
	f->au = NULL;
	raw_exec(f, "DELETE FROM audit_keys");
	assert_int_equal(audit_open(f->s, f->cp, &f->cfg, &f->au), 0);
	assert_int_equal(store_batch_begin(f->s), 0);
	assert_int_equal(audit_unlock(f->au, f->dk, f->now), 0);
	store_batch_rollback(f->s);
	audit_rolled_back(f->au);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM audit_keys"), 0);
	/* Not durable: no checkpoint may be signed with it yet. */
	append_n(f, 3);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM audit_keys"), 1);
	assert_int_equal(audit_checkpoint(f->au, f->now), 0);
	reopen(f, true); /* the stored key opens and matches */
	assert_int_equal(verify(f).kind, AUDIT_INTACT);
	assert_int_equal(verify(f).checkpoints, 1);
}

static void test_wrong_key(void **state)
{
	fixture *f = *state;
	kw_key *other = NULL;

	append_n(f, 5);
	assert_int_equal(key_random(&other), 0);
	audit_lock(f->au);
	/* The checkpoint key is sealed under the right data key. */
	assert_int_equal(audit_unlock(f->au, other, f->now), KW_ECRYPTO);
	assert_false(audit_unlocked(f->au));
	/* Without it and the sealed chain key (deleted), new keys are made,
	 * but the chain's key is wrong: the first row does not verify. */
	raw_exec(f, "DELETE FROM audit_keys; DELETE FROM subkeys");
	assert_int_equal(audit_unlock(f->au, other, f->now), 0);
	expect_break(f, AUDIT_EDITED, 1);
	key_free(other);
}

static void test_swapped_public_key(void **state)
{
	fixture *f = *state;

	append_n(f, 3);
	audit_lock(f->au);
	/* A public key of the attacker's beside our sealed secret. */
	raw_exec(f, "UPDATE audit_keys SET public = zeroblob(32)");
	assert_int_equal(audit_unlock(f->au, f->dk, f->now), KW_ECRYPTO);
}

static void append_at(fixture *f, int n, int64_t ts)
{
	int64_t save = f->now;

	f->now = ts;
	append_n(f, n);
	f->now = save;
}

static void test_retention(void **state)
{
	fixture *f = *state;
	audit_verify_result res;
	rows *r;

	f->cfg.retention_days = 2;
	f->cfg.checkpoint_rows = 4;
	audit_configure(f->au, &f->cfg);
	append_at(f, 10, T0 - 3 * DAY_US); /* old */
	append_at(f, 5, T0 - DAY_US);      /* kept */
	/* Not inside a batch. */
	assert_int_equal(store_batch_begin(f->s), 0);
	assert_int_equal(audit_tick(f->au, T0), 0);
	assert_int_equal(store_batch_commit(f->s), 0);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM audit"), 15);

	assert_int_equal(audit_tick(f->au, T0), 0);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM audit"), 5);
	assert_int_equal(raw_int(f, "SELECT seq FROM audit_anchor"), 10);
	res = verify(f);
	assert_int_equal(res.kind, AUDIT_INTACT);
	assert_int_equal(res.rows, 5);
	append_n(f, 3);
	res = verify(f);
	assert_int_equal(res.kind, AUDIT_INTACT);
	assert_int_equal(res.rows, 8);
	r = all_rows(f);
	assert_int_equal(r->seq[0], 11);
	free(r);

	/* Deleting the kept rows' predecessor link is still caught. */
	raw_exec(f, "DELETE FROM audit WHERE seq = 11");
	expect_break(f, AUDIT_DELETED, 11);
}

static void test_retention_everything(void **state)
{
	fixture *f = *state;

	f->cfg.retention_days = 1;
	audit_configure(f->au, &f->cfg);
	append_at(f, 6, T0 - 2 * DAY_US);
	assert_int_equal(audit_tick(f->au, T0), 0);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM audit"), 0);
	/* After a restart the chain goes on from the anchor. */
	reopen(f, true);
	append_n(f, 2);
	assert_int_equal(raw_int(f, "SELECT min(seq) FROM audit"), 7);
	assert_int_equal(verify(f).kind, AUDIT_INTACT);
	assert_int_equal(verify(f).rows, 2);
	/* A forged anchor does not verify. */
	raw_exec(f, "UPDATE audit_anchor SET sig = zeroblob(64)");
	expect_break(f, AUDIT_BAD_CHECKPOINT, 6);
}

static void test_retention_bounded(void **state)
{
	fixture *f = *state;

	f->cfg.retention_days = 1;
	audit_configure(f->au, &f->cfg);
	append_at(f, 2500, T0 - 2 * DAY_US);
	append_n(f, 1);
	assert_int_equal(audit_tick(f->au, T0), 0);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM audit"), 501);
	assert_int_equal(verify(f).kind, AUDIT_INTACT);
	assert_int_equal(audit_tick(f->au, T0), 0);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM audit"), 1);
	assert_int_equal(audit_tick(f->au, T0), 0); /* nothing left */
	assert_int_equal(raw_int(f, "SELECT count(*) FROM audit"), 1);
	assert_int_equal(verify(f).kind, AUDIT_INTACT);
	assert_int_equal(verify(f).rows, 1);
}

/* Pruning between verification steps is not a deletion. */
static void test_prune_while_verifying(void **state)
{
	fixture *f = *state;
	audit_verify_result res;
	audit_verify *v = NULL;
	bool done = false;

	f->cfg.retention_days = 1;
	audit_configure(f->au, &f->cfg);
	append_at(f, 50, T0 - 2 * DAY_US);
	append_n(f, 10);
	assert_int_equal(audit_verify_begin(f->au, &v), 0);
	assert_int_equal(audit_verify_step(v, 5, &done, &res), 0);
	assert_false(done);
	assert_int_equal(audit_tick(f->au, T0), 0);
	while (!done)
		assert_int_equal(audit_verify_step(v, 5, &done, &res), 0);
	audit_verify_free(v);
	assert_int_equal(res.kind, AUDIT_INTACT);
}

static void test_time_checkpoint(void **state)
{
	fixture *f = *state;

	f->cfg.checkpoint_minutes = 5;
	audit_configure(f->au, &f->cfg);
	append_n(f, 3);
	assert_int_equal(audit_tick(f->au, f->now), 0); /* first: due */
	assert_int_equal(verify(f).checkpoints, 1);
	append_n(f, 3);
	assert_int_equal(audit_tick(f->au, f->now), 0); /* too soon */
	assert_int_equal(verify(f).checkpoints, 1);
	f->now += 5 * 60 * INT64_C(1000000);
	assert_int_equal(audit_tick(f->au, f->now), 0);
	assert_int_equal(verify(f).checkpoints, 2);
	assert_int_equal(audit_tick(f->au, f->now + 3600000000), 0);
	assert_int_equal(verify(f).checkpoints, 2); /* no new rows */
}

static void test_checkpoint_refuses_symlink(void **state)
{
	fixture *f = *state;
	char target[PATH_MAX + 8];

	snprintf(target, sizeof(target), "%s.target", f->cp);
	assert_int_equal(symlink(target, f->cp), 0);
	append_n(f, 2);
	assert_int_equal(audit_checkpoint(f->au, f->now), KW_EPERM);
	assert_int_equal(access(target, F_OK), -1);
	unlink(f->cp);
}

/* A follower sees each committed row once, in order. */
struct follow {
	uint64_t seq[64];
	size_t n;
};

static void follow_cb(const audit_row *row, void *arg)
{
	struct follow *fl = arg;

	assert_true(fl->n < 64);
	fl->seq[fl->n++] = row->seq;
}

static void test_follow(void **state)
{
	fixture *f = *state;
	audit_event ev = ev_of("secret.get", "a/b", AUDIT_OK);
	struct follow fl = { .n = 0 };

	assert_int_equal(store_batch_begin(f->s), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(audit_append(f->au, &ev, f->now++), 0);
	assert_int_equal(store_batch_commit(f->s), 0);
	audit_committed(f->au, f->now, follow_cb, &fl);
	assert_int_equal(store_batch_begin(f->s), 0);
	assert_int_equal(audit_append(f->au, &ev, f->now++), 0);
	store_batch_rollback(f->s);
	audit_rolled_back(f->au);
	assert_int_equal(store_batch_begin(f->s), 0);
	assert_int_equal(audit_append(f->au, &ev, f->now++), 0);
	assert_int_equal(store_batch_commit(f->s), 0);
	audit_committed(f->au, f->now, follow_cb, &fl);
	assert_int_equal(fl.n, 5);
	for (size_t i = 0; i < fl.n; i++)
		assert_int_equal(fl.seq[i], i + 1);
}

/* 60 rows: principal p0..p2, op a/b by parity, outcome i % 4, names. */
static void fill_varied(fixture *f)
{
	static const char *const names[] = { "github/token", "github/app/key",
		                             "slack/hook", NULL };
	char principal[8];

	assert_int_equal(store_batch_begin(f->s), 0);
	for (int i = 0; i < 60; i++) {
		audit_event ev = ev_of(i % 2 ? "secret.get" : "secret.put",
		                       names[i % 4], i % 4);

		snprintf(principal, sizeof(principal), "p%d", i % 3);
		ev.principal = principal;
		assert_int_equal(audit_append(f->au, &ev, T0 + i * 1000), 0);
	}
	assert_int_equal(store_batch_commit(f->s), 0);
	audit_committed(f->au, T0, NULL, NULL);
}

/* Rows matching flt over all pages; each seq seen once. */
static size_t query_all(fixture *f, audit_filter flt, int *ret_calls)
{
	rows *r = calloc(1, sizeof(*r));
	uint64_t cursor = 0;
	size_t n;
	int calls = 0;

	assert_non_null(r);
	do {
		assert_int_equal(audit_query(f->au, &flt, collect, r, &cursor),
		                 0);
		calls++;
		if (flt.ascending)
			flt.after_seq = cursor;
		else
			flt.before_seq = cursor;
	} while (cursor != 0);
	for (size_t i = 1; i < r->n; i++)
		assert_true(flt.ascending ? r->seq[i] > r->seq[i - 1] :
		                            r->seq[i] < r->seq[i - 1]);
	n = r->n;
	free(r);
	if (ret_calls)
		*ret_calls = calls;
	return n;
}

static void test_query_filters(void **state)
{
	fixture *f = *state;
	audit_filter all = { .outcome = -1, .limit = 1000 };
	audit_filter flt;

	fill_varied(f);
	assert_int_equal(query_all(f, all, NULL), 60);
	flt = all;
	flt.op = "secret.get";
	assert_int_equal(query_all(f, flt, NULL), 30);
	flt = all;
	flt.principal = "p1";
	assert_int_equal(query_all(f, flt, NULL), 20);
	flt = all;
	flt.outcome = AUDIT_RATE_LIMITED;
	assert_int_equal(query_all(f, flt, NULL), 15);
	flt.op = "secret.get"; /* i % 4 == 3 is odd */
	assert_int_equal(query_all(f, flt, NULL), 15);
	flt.op = "secret.put";
	assert_int_equal(query_all(f, flt, NULL), 0);
	flt = all;
	flt.name_glob = "github/**";
	assert_int_equal(query_all(f, flt, NULL), 30);
	flt.name_glob = "github/*";
	assert_int_equal(query_all(f, flt, NULL), 15);
	flt.principal = "p0";
	assert_int_equal(query_all(f, flt, NULL), 5);
	/* Time: rows i = 10..19. */
	flt = all;
	flt.since_us = T0 + 10 * 1000;
	flt.until_us = T0 + 19 * 1000;
	assert_int_equal(query_all(f, flt, NULL), 10);
	flt.ascending = true;
	assert_int_equal(query_all(f, flt, NULL), 10);
	flt.since_us = T0 + 100 * 1000; /* after everything */
	assert_int_equal(query_all(f, flt, NULL), 0);
	flt = all;
	flt.until_us = T0 - 1; /* before everything */
	assert_int_equal(query_all(f, flt, NULL), 0);
	/* Seq bounds. */
	flt = all;
	flt.after_seq = 10;
	flt.before_seq = 21;
	assert_int_equal(query_all(f, flt, NULL), 10);

	/* Bad filters. */
	{
		uint64_t cursor = 7;

		flt = all;
		flt.limit = 0;
		assert_int_equal(audit_query(f->au, &flt, collect, NULL,
		                             &cursor),
		                 KW_EINVAL);
		flt.limit = 1001;
		assert_int_equal(audit_query(f->au, &flt, collect, NULL,
		                             &cursor),
		                 KW_EINVAL);
		flt = all;
		flt.outcome = 9;
		assert_int_equal(audit_query(f->au, &flt, collect, NULL,
		                             &cursor),
		                 KW_EINVAL);
		flt = all;
		flt.name_glob = "a/../b";
		assert_int_equal(audit_query(f->au, &flt, collect, NULL,
		                             &cursor),
		                 KW_EINVAL);
		assert_int_equal(cursor, 7); /* untouched */
	}
}

static void test_query_paging(void **state)
{
	fixture *f = *state;
	audit_filter flt = { .outcome = -1, .limit = 7 };
	rows *r = calloc(1, sizeof(*r));
	uint64_t cursor = 0;
	int calls = 0;
	bool seen[61] = { false };

	assert_non_null(r);
	fill_varied(f);
	do {
		flt.before_seq = cursor;
		assert_int_equal(audit_query(f->au, &flt, collect, r, &cursor),
		                 0);
		calls++;
	} while (cursor != 0);
	assert_int_equal(calls, 9); /* 8 full pages and 4 rows */
	assert_int_equal(r->n, 60);
	for (size_t i = 0; i < r->n; i++) {
		assert_true(r->seq[i] >= 1 && r->seq[i] <= 60);
		assert_false(seen[r->seq[i]]);
		seen[r->seq[i]] = true;
	}
	free(r);
	/* Exactly one page: the cursor says there is no more. */
	flt.before_seq = 0;
	flt.limit = 60;
	cursor = 99;
	r = calloc(1, sizeof(*r));
	assert_non_null(r);
	assert_int_equal(audit_query(f->au, &flt, collect, r, &cursor), 0);
	assert_int_equal(r->n, 60);
	assert_int_equal(cursor, 0);
	free(r);
	flt.ascending = true;
	assert_int_equal(query_all(f, flt, NULL), 60);
}

static void test_query_scan_max(void **state)
{
	fixture *f = *state;
	audit_filter flt = { .outcome = -1, .limit = 100, .scan_max = 10 };
	rows *r = calloc(1, sizeof(*r));
	uint64_t cursor = 0;
	int calls = 0;

	assert_non_null(r);
	fill_varied(f);
	/* p2 and rate_limited: i % 12 == 11, five rows, sparse. */
	flt.principal = "p2";
	flt.outcome = AUDIT_RATE_LIMITED;
	assert_int_equal(audit_query(f->au, &flt, collect, r, &cursor), 0);
	/* Rows 60..51 examined: only row 60 (i = 59) matches. */
	assert_int_equal(r->n, 1);
	assert_int_equal(r->seq[0], 60);
	assert_int_equal(cursor, 51);
	free(r);
	assert_int_equal(query_all(f, flt, &calls), 5);
	assert_int_equal(calls, 6); /* 60 rows, 10 a call */
}

struct stat_row {
	char key[64];
	uint64_t count;
};

struct stats {
	struct stat_row row[64];
	size_t n;
};

static int collect_stats(const audit_count *c, void *arg)
{
	struct stats *s = arg;

	assert_true(s->n < 64);
	snprintf(s->row[s->n].key, sizeof(s->row[0].key), "%s %s %s",
	         c->principal ? c->principal : "-", c->op ? c->op : "-",
	         audit_outcome_name(c->outcome));
	s->row[s->n++].count = c->count;
	return 0;
}

static uint64_t stat_of(const struct stats *s, const char *key)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->row[i].key, key) == 0)
			return s->row[i].count;
	return 0;
}

static void test_stats(void **state)
{
	fixture *f = *state;
	struct stats s = { .n = 0 };
	uint64_t total = 0;

	fill_varied(f);
	assert_int_equal(audit_stats(f->au, 0, collect_stats, &s), 0);
	/* (i%3, i%2, i%4): i%2 is fixed by i%4, so 3 x 4 groups of 5. */
	assert_int_equal(s.n, 12);
	for (size_t i = 0; i < s.n; i++)
		total += s.row[i].count;
	assert_int_equal(total, 60);
	assert_int_equal(stat_of(&s, "p0 secret.put ok"), 5);
	assert_int_equal(stat_of(&s, "p1 secret.get rate_limited"), 5);
	/* Since row i = 48: 12 rows, one per group. */
	memset(&s, 0, sizeof(s));
	assert_int_equal(audit_stats(f->au, T0 + 48 * 1000, collect_stats, &s),
	                 0);
	assert_int_equal(s.n, 12);
	assert_int_equal(stat_of(&s, "p0 secret.put ok"), 1);
}

static void test_100k_rows(void **state)
{
	fixture *f = *state;
	audit_verify_result res;
	int steps = 0;

	f->cfg.checkpoint_rows = 10000;
	audit_configure(f->au, &f->cfg);
	for (int b = 0; b < 100; b++)
		append_n(f, 1000);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM audit"), 100000);
	res = verify_steps(f, 5000, &steps);
	assert_int_equal(res.kind, AUDIT_INTACT);
	assert_int_equal(res.rows, 100000);
	assert_int_equal(res.checkpoints, 10);
	/* Bounded steps: 20 of rows, then the checkpoint file. */
	assert_true(steps >= 20 && steps <= 23);
	/* And a break near the end is still found. */
	raw_exec(f, "UPDATE audit SET pid = 1 WHERE seq = 99999");
	expect_break(f, AUDIT_EDITED, 99999);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_checkpoint_gap),
		T(test_chain_intact),
		T(test_edit_detected),
		T(test_edit_hash_too),
		cmocka_unit_test(test_edit_each_column),
		T(test_delete_detected),
		T(test_delete_oldest_detected),
		T(test_reorder_detected),
		T(test_reorder_adjacent_and_ts),
		T(test_truncate_detected),
		T(test_truncate_without_rows_checkpoint),
		T(test_bad_checkpoint),
		T(test_bad_checkpoint_long_line),
		T(test_bad_checkpoint_torn_line),
		T(test_checkpoint_hash_edited),
		T(test_rollback_restores_head),
		T(test_append_needs_batch),
		T(test_reason_cut_utf8),
		T(test_clock_back),
		T(test_locked_queue),
		T(test_queue_overflow),
		T(test_queue_flush_rolled_back),
		T(test_key_rolled_back),
		T(test_wrong_key),
		T(test_swapped_public_key),
		T(test_retention),
		T(test_retention_everything),
		T(test_retention_bounded),
		T(test_prune_while_verifying),
		T(test_time_checkpoint),
		T(test_checkpoint_refuses_symlink),
		T(test_follow),
		T(test_query_filters),
		T(test_query_paging),
		T(test_query_scan_max),
		T(test_stats),
		T(test_100k_rows),
	};

	if (kw_secmem_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
