/*
 * test_audit_cp.c - the checkpoint file under faults and attack (audit.h,
 * audit_cpfile.c, docs/audit.md): all-or-nothing appends on a short write,
 * torn tails, the chain of lines, the store's record of the newest line
 * and a crash on either side of it, failing checkpoints (stale, refuse),
 * accepted losses, old-format lines.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>
#include <sqlite3.h>

#include "audit.h"
#include "audit_int.h"
#include "crypto.h"
#include "keyward.h"
#include "secmem.h"
#include "store.h"

#define T0 INT64_C(1700000000000000) /* a fixed "now", unix us */

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
	snprintf(f->dir, sizeof(f->dir), "/tmp/kw-test-auditcp-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->db, sizeof(f->db), "%s/secrets.db", f->dir);
	snprintf(f->cp, sizeof(f->cp), "%s/audit.checkpoints", f->dir);
	f->cfg.checkpoint_rows = 5;
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
	char p[PATH_MAX + 16];

	audit_close(f->au);
	store_close(f->s);
	key_free(f->dk);
	chmod(f->cp, 0600);
	if (rmdir(f->cp) != 0)
		unlink(f->cp);
	snprintf(p, sizeof(p), "%s.anchor", f->cp);
	unlink(p);
	snprintf(p, sizeof(p), "%s-wal", f->db);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", f->db);
	unlink(p);
	unlink(f->db);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Reopen as the agent does at start: open, start-up check, unlock. */
static int reopen(fixture *f, bool accept, char *msg, size_t msgsz)
{
	char buf[512];
	int r;

	audit_close(f->au);
	f->au = NULL;
	assert_int_equal(audit_open(f->s, f->cp, &f->cfg, &f->au), 0);
	r = audit_startup(f->au, accept, f->now, msg ? msg : buf,
	                  msg ? msgsz : sizeof(buf));
	if (r == 0)
		assert_int_equal(audit_unlock(f->au, f->dk, f->now), 0);
	return r;
}

static void append_n(fixture *f, int n)
{
	assert_int_equal(store_batch_begin(f->s), 0);
	for (int i = 0; i < n; i++) {
		audit_event ev = {
			.uid = 1000,
			.pid = 4242,
			.op = "secret.get",
			.name = "github/token",
			.outcome = AUDIT_OK,
		};

		assert_int_equal(audit_append(f->au, &ev, f->now++), 0);
	}
	assert_int_equal(store_batch_commit(f->s), 0);
	audit_committed(f->au, f->now, NULL, NULL);
}

static audit_verify_result verify(fixture *f)
{
	audit_verify_result res;
	audit_verify *v = NULL;
	bool done = false;

	memset(&res, 0, sizeof(res));
	assert_int_equal(audit_verify_begin(f->au, &v), 0);
	while (!done)
		assert_int_equal(audit_verify_step(v, 7, &done, &res), 0);
	audit_verify_free(v);
	return res;
}

static void expect_kind(fixture *f, int kind, const char *in_detail)
{
	audit_verify_result res = verify(f);

	if (res.kind != kind || (in_detail && !strstr(res.detail, in_detail)))
		print_error("got %s at %" PRIu64 " (%s)\n",
		            audit_break_name(res.kind), res.seq, res.detail);
	assert_int_equal(res.kind, kind);
	if (in_detail)
		assert_non_null(strstr(res.detail, in_detail));
}

static void raw_exec(const fixture *f, const char *sql)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READWRITE,
	                                 NULL),
	                 SQLITE_OK);
	sqlite3_busy_timeout(db, 2000);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* A consistent copy of the store (what a backup tool would make). */
static void backup_db(const fixture *f, const char *dest)
{
	sqlite3 *src, *dst;
	sqlite3_backup *b;

	assert_int_equal(sqlite3_open_v2(f->db, &src, SQLITE_OPEN_READONLY,
	                                 NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_open(dest, &dst), SQLITE_OK);
	b = sqlite3_backup_init(dst, "main", src, "main");
	assert_non_null(b);
	assert_int_equal(sqlite3_backup_step(b, -1), SQLITE_DONE);
	assert_int_equal(sqlite3_backup_finish(b), SQLITE_OK);
	sqlite3_close(dst);
	sqlite3_close(src);
	assert_int_equal(chmod(dest, 0600), 0);
}

static size_t read_file(const char *path, char *buf, size_t bufsz)
{
	FILE *fp = fopen(path, "r");
	size_t len;

	assert_non_null(fp);
	len = fread(buf, 1, bufsz - 1, fp);
	buf[len] = '\0';
	fclose(fp);
	return len;
}

static void write_file(const char *path, const char *buf, size_t len)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(fwrite(buf, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(path, 0600), 0);
}

static off_t file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

static int count_lines(const char *buf)
{
	int n = 0;

	for (; *buf; buf++)
		n += *buf == '\n';
	return n;
}

/* The text before the n-th newline's line (1-based) ends; 0 for n = 0. */
static size_t lines_len(const char *buf, int n)
{
	const char *p = buf;

	for (int i = 0; i < n; i++)
		p = strchr(p, '\n') + 1;
	return (size_t)(p - buf);
}

/* 1. All or nothing ------------------------------------------------------- */

/* A write cut short by the file size limit (as by a full disk: part of the
 * line fits, then the next write fails) leaves the file as it was, and
 * the line goes in whole once the limit is lifted. The old writer left
 * half a line that the next one was glued onto: "line N is malformed"
 * for ever. The line here is one the store recorded before a crash kept
 * it from the file, so that no store write meets the limit too. */
static void test_short_write_leaves_no_half_line(void **state)
{
	fixture *f = *state;
	struct rlimit old, lim;
	char orig[8192], buf[8192];
	audit_cp_status st;
	size_t len;
	off_t before;

	append_n(f, 5);
	append_n(f, 5);
	len = read_file(f->cp, orig, sizeof(orig));
	write_file(f->cp, orig, lines_len(orig, 1));
	before = file_size(f->cp);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_IGN);
	lim = old;
	lim.rlim_cur = (rlim_t)before + 40; /* part of the next line */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	assert_int_equal(reopen(f, false, NULL, 0), 0);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(file_size(f->cp), before);
	audit_cp_state(f->au, &st);
	assert_true(st.failing);
	expect_kind(f, AUDIT_STALE,
	            "newest checkpoint at seq 5, log at seq 10");

	assert_int_equal(audit_tick(f->au, f->now), 0);
	assert_int_equal(read_file(f->cp, buf, sizeof(buf)), len);
	assert_string_equal(buf, orig);
	append_n(f, 5);
	expect_kind(f, AUDIT_INTACT, NULL);
	assert_int_equal(verify(f).checkpoints, 3);
}

/* A torn last line (an older agent's cut-short append): a reader skips it,
 * the writer cuts it off before its next line. */
static void test_torn_tail_skipped_and_cut(void **state)
{
	fixture *f = *state;
	static const char torn[] = "12 3b9f0c";
	char buf[8192];
	size_t len;

	append_n(f, 5);
	len = read_file(f->cp, buf, sizeof(buf) - sizeof(torn));
	memcpy(buf + len, torn, sizeof(torn) - 1);
	write_file(f->cp, buf, len + sizeof(torn) - 1);
	expect_kind(f, AUDIT_INTACT, NULL);
	assert_int_equal(reopen(f, false, NULL, 0), 0);
	expect_kind(f, AUDIT_INTACT, NULL);
	append_n(f, 5);
	len = read_file(f->cp, buf, sizeof(buf));
	assert_int_equal(count_lines(buf), 2);
	assert_null(strstr(buf, torn));
	assert_int_equal(buf[len - 1], '\n');
	expect_kind(f, AUDIT_INTACT, NULL);
	assert_int_equal(verify(f).checkpoints, 2);
}

/* 3. The chain and the store's record ------------------------------------- */

static void test_cut_emptied_deleted_detected(void **state)
{
	fixture *f = *state;
	char orig[8192];
	size_t len;

	append_n(f, 5);
	append_n(f, 5);
	append_n(f, 5);
	len = read_file(f->cp, orig, sizeof(orig));
	assert_int_equal(count_lines(orig), 3);
	expect_kind(f, AUDIT_INTACT, NULL);

	/* Cut back to the first line (the rows after it deleted too). */
	write_file(f->cp, orig, lines_len(orig, 1));
	raw_exec(f, "DELETE FROM audit WHERE seq > 5");
	assert_int_equal(reopen(f, false, NULL, 0), 0);
	expect_kind(f, AUDIT_BAD_CHECKPOINT, "shorter than the store recorded");

	write_file(f->cp, "", 0); /* emptied */
	expect_kind(f, AUDIT_BAD_CHECKPOINT, "shorter than the store recorded");

	assert_int_equal(unlink(f->cp), 0); /* deleted */
	expect_kind(f, AUDIT_BAD_CHECKPOINT, "is missing");

	write_file(f->cp, orig, len); /* back: the rows are still gone */
	expect_kind(f, AUDIT_TRUNCATED, NULL);
}

/* Each line signs its predecessor: one taken out of the middle shows. */
static void test_line_removed_from_middle(void **state)
{
	fixture *f = *state;
	char orig[8192], cut[8192];
	size_t len, l1, l2;

	for (int i = 0; i < 3; i++)
		append_n(f, 5);
	len = read_file(f->cp, orig, sizeof(orig));
	l1 = lines_len(orig, 1);
	l2 = lines_len(orig, 2);
	memcpy(cut, orig, l1);
	memcpy(cut + l1, orig + l2, len - l2);
	write_file(f->cp, cut, l1 + len - l2);
	expect_kind(f, AUDIT_BAD_CHECKPOINT, "does not follow the line before");
}

/* A crash after the store recorded a line and before it was appended:
 * the next start appends it; nothing is reported. */
static void test_crash_before_append_repaired(void **state)
{
	fixture *f = *state;
	char orig[8192], now[8192];
	size_t len;

	append_n(f, 5);
	append_n(f, 5);
	len = read_file(f->cp, orig, sizeof(orig));
	write_file(f->cp, orig, lines_len(orig, 1));
	assert_int_equal(reopen(f, false, NULL, 0), 0);
	assert_int_equal(read_file(f->cp, now, sizeof(now)), len);
	assert_string_equal(now, orig);
	expect_kind(f, AUDIT_INTACT, NULL);
	append_n(f, 5);
	expect_kind(f, AUDIT_INTACT, NULL);
	assert_int_equal(verify(f).checkpoints, 3);
}

/* A crash after the rows committed and before the line was recorded: the
 * file and the record agree on the older line; the rows get the next. */
static void test_crash_before_record_is_quiet(void **state)
{
	fixture *f = *state;
	char msg[512];

	append_n(f, 5);
	f->cfg.checkpoint_rows = 0;
	audit_configure(f->au, &f->cfg);
	append_n(f, 3); /* no checkpoint: as if killed before it */
	assert_int_equal(reopen(f, false, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "");
	expect_kind(f, AUDIT_INTACT, NULL);
	assert_int_equal(audit_checkpoint(f->au, f->now), 0);
	expect_kind(f, AUDIT_INTACT, NULL);
	assert_int_equal(verify(f).checkpoints, 2);
}

/* Old-format lines (before chaining) are read; the first chained line
 * follows the last of them; one appended after the chain started is not
 * accepted. */
static void test_old_format_lines(void **state)
{
	fixture *f = *state;
	uint8_t sig[64], hash[AUDIT_HASH_BYTES];
	char b64[sodium_base64_ENCODED_LEN(64, sodium_base64_VARIANT_ORIGINAL)];
	char hex[AUDIT_HASH_BYTES * 2 + 1], v1[AUDIT_CP_LINE_MAX + 1];
	char buf[8192];
	size_t len;
	int n;

	f->cfg.checkpoint_rows = 0;
	audit_configure(f->au, &f->cfg);
	append_n(f, 4);
	/* What an older agent wrote for row 4, and no record of it. */
	assert_int_equal(audit_checkpoint(f->au, f->now), 0);
	len = read_file(f->cp, buf, sizeof(buf));
	assert_int_equal(sodium_hex2bin(hash, sizeof(hash),
	                                strchr(buf, ' ') + 1, 64, NULL, NULL,
	                                NULL),
	                 0);
	audit_cp_sign(audit_sk_open(f->au), 4, hash, sig);
	audit_sk_close(f->au);
	sodium_bin2hex(hex, sizeof(hex), hash, sizeof(hash));
	sodium_bin2base64(b64, sizeof(b64), sig, sizeof(sig),
	                  sodium_base64_VARIANT_ORIGINAL);
	n = snprintf(v1, sizeof(v1), "4 %s %s %" PRId64 "\n", hex, b64, T0);
	write_file(f->cp, v1, (size_t)n);
	raw_exec(f, "DELETE FROM audit_cp_head");
	assert_int_equal(reopen(f, false, NULL, 0), 0);
	expect_kind(f, AUDIT_INTACT, NULL);

	append_n(f, 2);
	assert_int_equal(audit_checkpoint(f->au, f->now), 0);
	expect_kind(f, AUDIT_INTACT, NULL);
	assert_int_equal(verify(f).checkpoints, 2);

	len = read_file(f->cp, buf, sizeof(buf) - sizeof(v1));
	memcpy(buf + len, v1, (size_t)n);
	write_file(f->cp, buf, len + (size_t)n);
	expect_kind(f, AUDIT_BAD_CHECKPOINT, "old format after chained lines");
}

/* 2. Failing checkpoints --------------------------------------------------- */

static void test_unwritable_is_stale_then_recovers(void **state)
{
	fixture *f = *state;
	audit_cp_status st;

	append_n(f, 5);
	assert_int_equal(chmod(f->cp, 0644), 0);
	append_n(f, 5);
	audit_cp_state(f->au, &st);
	assert_true(st.failing);
	assert_non_null(strstr(st.why, "mode 600"));
	assert_int_equal(st.newest_seq, 5);
	assert_int_equal(st.log_seq, 10);
	expect_kind(f, AUDIT_STALE,
	            "newest checkpoint at seq 5, log at seq 10");

	assert_int_equal(chmod(f->cp, 0600), 0);
	assert_int_equal(audit_tick(f->au, f->now), 0);
	audit_cp_state(f->au, &st);
	assert_false(st.failing);
	assert_int_equal(st.newest_seq, 10);
	assert_int_equal(st.changes, 2);
	expect_kind(f, AUDIT_INTACT, NULL);
}

static void test_directory_in_place_refuse(void **state)
{
	fixture *f = *state;
	audit_event ev = { .op = "secret.get", .outcome = AUDIT_OK };
	audit_cp_status st;

	f->cfg.refuse_unvouched = true;
	audit_configure(f->au, &f->cfg);
	append_n(f, 5);
	assert_int_equal(unlink(f->cp), 0);
	assert_int_equal(mkdir(f->cp, 0700), 0);
	append_n(f, 5);
	audit_cp_state(f->au, &st);
	assert_true(st.failing);
	assert_int_equal(store_batch_begin(f->s), 0);
	assert_int_equal(audit_append(f->au, &ev, f->now), KW_ESTATE);
	store_batch_rollback(f->s);
	audit_rolled_back(f->au);

	assert_int_equal(rmdir(f->cp), 0);
	assert_int_equal(audit_tick(f->au, f->now), 0);
	audit_cp_state(f->au, &st);
	assert_false(st.failing);
	append_n(f, 1);
	/* The file was gone: the lines kept do not start the chain. */
	expect_kind(f, AUDIT_BAD_CHECKPOINT, "does not follow the line before");
}

/* 4. Rows the store lost ----------------------------------------------------
 */

static void test_lost_rows_refused_then_accepted(void **state)
{
	fixture *f = *state;
	char msg[512];
	audit_verify_result res;

	append_n(f, 10); /* checkpoint at 10 */
	append_n(f, 2);
	/* What a deleted -wal does: the newest rows and the record gone. */
	raw_exec(f, "DELETE FROM audit WHERE seq > 4;"
	            "DELETE FROM audit_cp_head;");
	assert_int_equal(reopen(f, false, msg, sizeof(msg)), KW_ESTATE);
	assert_non_null(strstr(msg, "the store lost rows 5–10 that"));
	assert_non_null(strstr(msg, "--accept-loss"));
	assert_int_equal(reopen(f, true, msg, sizeof(msg)), 0);
	assert_non_null(strstr(msg, "accepted the loss of rows 5–10"));
	res = verify(f);
	assert_int_equal(res.kind, AUDIT_INTACT);
	assert_int_equal(res.lost, 6);
	/* Accepted once: a later start says nothing. */
	append_n(f, 5);
	assert_int_equal(reopen(f, false, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "");
	expect_kind(f, AUDIT_INTACT, "6 rows lost and accepted");
}

/* Accepted, then killed before the row was written (passphrase mode: it
 * waits for the unlock): the next start takes the gap up again. */
static void test_accepted_loss_row_survives_a_crash(void **state)
{
	fixture *f = *state;
	char msg[512];

	append_n(f, 10);
	raw_exec(f, "DELETE FROM audit WHERE seq > 4;"
	            "DELETE FROM audit_cp_head;");
	audit_close(f->au);
	f->au = NULL;
	assert_int_equal(audit_open(f->s, f->cp, &f->cfg, &f->au), 0);
	assert_int_equal(audit_startup(f->au, true, f->now, msg, sizeof(msg)),
	                 0);
	/* No unlock: the queued row dies with the agent. */
	assert_int_equal(reopen(f, false, msg, sizeof(msg)), 0);
	assert_int_equal(verify(f).lost, 6);
	expect_kind(f, AUDIT_INTACT, "6 rows lost and accepted");
}

/* The accepting row is what makes the gap acceptable: without it, or
 * with a gap record an attacker added, the rows read as deleted. */
static void test_gap_without_its_row_is_deleted(void **state)
{
	fixture *f = *state;
	char msg[512];

	append_n(f, 10);
	append_n(f, 5);
	raw_exec(f, "DELETE FROM audit WHERE seq > 4;"
	            "DELETE FROM audit_cp_head;");
	assert_int_equal(reopen(f, true, msg, sizeof(msg)), 0);
	append_n(f, 1);
	expect_kind(f, AUDIT_INTACT, NULL);
	raw_exec(f, "UPDATE audit SET op = 'secret.get'"
	            " WHERE op = 'audit.loss_accepted'");
	expect_kind(f, AUDIT_DELETED, NULL);
}

/* 5. The anchor -------------------------------------------------------------
 */

static void test_anchor_catches_rollback(void **state)
{
	fixture *f = *state;
	char anchor[PATH_MAX + 16], msg[512], db_old[PATH_MAX + 16];
	char cp_old[8192], buf[8192];
	size_t cp_len;

	snprintf(anchor, sizeof(anchor), "%s.anchor", f->cp);
	f->cfg.anchor_path = anchor;
	assert_int_equal(audit_configure(f->au, &f->cfg), 0);
	append_n(f, 5);
	read_file(anchor, buf, sizeof(buf));
	assert_int_equal(count_lines(buf), 1);
	/* A backup of the store and the checkpoint file ... */
	cp_len = read_file(f->cp, cp_old, sizeof(cp_old));
	snprintf(db_old, sizeof(db_old), "%s.old", f->db);
	backup_db(f, db_old);
	append_n(f, 5);
	append_n(f, 5);
	read_file(anchor, buf, sizeof(buf));
	assert_int_equal(count_lines(buf), 3);
	/* ... copied back together. */
	audit_close(f->au);
	f->au = NULL;
	store_close(f->s);
	assert_int_equal(rename(db_old, f->db), 0);
	write_file(f->cp, cp_old, cp_len);
	assert_int_equal(store_open(f->db, STORE_OPEN_EXISTING, &f->s), 0);
	assert_int_equal(audit_open(f->s, f->cp, &f->cfg, &f->au), 0);
	assert_int_equal(audit_startup(f->au, false, f->now, msg, sizeof(msg)),
	                 KW_ESTATE);
	assert_non_null(strstr(msg, "the store ends at row 5 but the audit "
	                            "anchor"));
	assert_non_null(strstr(msg, anchor));
	assert_non_null(strstr(msg, "signed row 15"));
	/* Refused before anything was copied to the anchor. */
	read_file(anchor, buf, sizeof(buf));
	assert_int_equal(count_lines(buf), 3);
	/* Without the anchor the pair looks whole. */
	f->cfg.anchor_path = NULL;
	assert_int_equal(reopen(f, false, msg, sizeof(msg)), 0);
	expect_kind(f, AUDIT_INTACT, NULL);
}

/* An anchor that cannot be written is a failing checkpoint too; once it
 * can, it gets the newest line. */
static void test_anchor_unwritable(void **state)
{
	fixture *f = *state;
	char dir[PATH_MAX + 16], anchor[PATH_MAX + 32], buf[8192];
	audit_cp_status st;

	snprintf(dir, sizeof(dir), "%s/anchor-dir", f->dir);
	snprintf(anchor, sizeof(anchor), "%s/a", dir);
	f->cfg.anchor_path = anchor;
	assert_int_equal(audit_configure(f->au, &f->cfg), 0);
	append_n(f, 5);
	audit_cp_state(f->au, &st);
	assert_true(st.failing);
	assert_non_null(strstr(st.why, anchor));
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(audit_tick(f->au, f->now), 0);
	audit_cp_state(f->au, &st);
	assert_false(st.failing);
	read_file(anchor, buf, sizeof(buf));
	assert_int_equal(count_lines(buf), 1);
	assert_int_equal(unlink(anchor), 0);
	assert_int_equal(rmdir(dir), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_short_write_leaves_no_half_line),
		T(test_torn_tail_skipped_and_cut),
		T(test_cut_emptied_deleted_detected),
		T(test_line_removed_from_middle),
		T(test_crash_before_append_repaired),
		T(test_crash_before_record_is_quiet),
		T(test_old_format_lines),
		T(test_unwritable_is_stale_then_recovers),
		T(test_directory_in_place_refuse),
		T(test_lost_rows_refused_then_accepted),
		T(test_accepted_loss_row_survives_a_crash),
		T(test_gap_without_its_row_is_deleted),
		T(test_anchor_catches_rollback),
		T(test_anchor_unwritable),
	};

	if (kw_secmem_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
