/*
 * store_audit.c - the audit log's tables (store_audit.h; tables audit,
 * audit_anchor and audit_keys, migration 3, in docs/audit.md).
 */
#include "store_audit.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

#include <sqlite3.h>

#include "keyward.h"
#include "store_int.h"

enum audit_stmt {
	ST_AUDIT_INSERT,
	ST_AUDIT_HEAD,
	ST_AUDIT_SCAN,
	ST_AUDIT_HASH_AT,
	ST_AUDIT_NEXT_TS,
	ST_AUDIT_SEQ_SINCE,
	ST_AUDIT_SEQ_UNTIL,
	ST_AUDIT_PAGE_ASC,
	ST_AUDIT_PAGE_DESC,
	ST_AUDIT_STATS,
	ST_AUDIT_OLDEST,
	ST_AUDIT_DELETE_UPTO,
	ST_AUDIT_ANCHOR_GET,
	ST_AUDIT_ANCHOR_SET,
	ST_AUDIT_KEYS_GET,
	ST_AUDIT_KEYS_PUT,
	ST_AUDIT_KEYS_RESEAL,
	ST_AUDIT_CP_GET,
	ST_AUDIT_CP_PUT,
	ST_AUDIT_GAP_PUT,
	ST_AUDIT_GAP_AT,
	ST_AUDIT_GAP_COVERING,
	ST_AUDIT_GAP_NEWEST,
	ST_AUDIT__MAX
};

/* The columns of a row, in the order read_row expects. */
#define ROW_COLS                                                   \
	"seq, ts_us, uid, pid, exe, principal, op, name, version," \
	" outcome, reason, hash"
#define ROW_NCOLS 12

/*
 * A page examines rows in seq order and computes the SQL filters as a
 * column, so that the caller can count every row it examines (scan_max)
 * and knows where to continue, whether or not the row matched.
 */
#define PAGE_SQL(order)                                               \
	"SELECT " ROW_COLS ","                                        \
	" (ts_us >= ?3 AND ts_us <= ?4 AND (?5 IS NULL OR op = ?5)"   \
	" AND (?6 IS NULL OR principal = ?6)"                         \
	" AND (?7 < 0 OR outcome = ?7))"                              \
	" FROM audit WHERE seq > ?1 AND seq < ?2 ORDER BY seq " order \
	" LIMIT ?8"

static const char *const audit_sql[ST_AUDIT__MAX] = {
	[ST_AUDIT_INSERT] = "INSERT INTO audit (" ROW_COLS ")"
			    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
			    " ?10, ?11, ?12)",
	[ST_AUDIT_HEAD] = "SELECT seq, ts_us, hash FROM audit"
			  " ORDER BY seq DESC LIMIT 1",
	[ST_AUDIT_SCAN] = "SELECT " ROW_COLS " FROM audit"
			  " WHERE seq > ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3",
	[ST_AUDIT_HASH_AT] = "SELECT hash FROM audit WHERE seq = ?1",
	[ST_AUDIT_NEXT_TS] = "SELECT ts_us FROM audit WHERE seq > ?1"
			     " ORDER BY seq LIMIT 1",
	[ST_AUDIT_SEQ_SINCE] = "SELECT seq FROM audit WHERE ts_us >= ?1"
			       " ORDER BY ts_us, seq LIMIT 1",
	[ST_AUDIT_SEQ_UNTIL] = "SELECT seq FROM audit WHERE ts_us <= ?1"
			       " ORDER BY ts_us DESC, seq DESC LIMIT 1",
	[ST_AUDIT_PAGE_ASC] = PAGE_SQL("ASC"),
	[ST_AUDIT_PAGE_DESC] = PAGE_SQL("DESC"),
	[ST_AUDIT_STATS] = "SELECT principal, op, outcome, count(*) FROM audit"
			   " WHERE ts_us >= ?1 GROUP BY principal, op, outcome"
			   " ORDER BY principal, op, outcome",
	[ST_AUDIT_OLDEST] = "SELECT seq, ts_us, hash FROM audit"
			    " ORDER BY seq LIMIT ?1",
	[ST_AUDIT_DELETE_UPTO] = "DELETE FROM audit WHERE seq <= ?1",
	[ST_AUDIT_ANCHOR_GET] = "SELECT seq, hash, sig, ts_us FROM audit_anchor"
				" WHERE id = 1",
	[ST_AUDIT_ANCHOR_SET] =
		"INSERT INTO audit_anchor (id, seq, hash, sig, ts_us)"
		" VALUES (1, ?1, ?2, ?3, ?4)"
		" ON CONFLICT (id) DO UPDATE SET seq = excluded.seq,"
		" hash = excluded.hash, sig = excluded.sig,"
		" ts_us = excluded.ts_us",
	[ST_AUDIT_KEYS_GET] = "SELECT public, sealed_secret FROM audit_keys"
			      " WHERE id = 1",
	/* Nothing if a key exists (the caller checks the change count). */
	[ST_AUDIT_KEYS_PUT] =
		"INSERT INTO audit_keys (id, public, sealed_secret, created)"
		" VALUES (1, ?1, ?2, ?3) ON CONFLICT DO NOTHING",
	[ST_AUDIT_KEYS_RESEAL] = "UPDATE audit_keys SET sealed_secret = ?1"
				 " WHERE id = 1",
	[ST_AUDIT_CP_GET] = "SELECT line_no, seq, line FROM audit_cp_head"
			    " WHERE id = 1",
	[ST_AUDIT_CP_PUT] =
		"INSERT INTO audit_cp_head (id, line_no, seq, line)"
		" VALUES (1, ?1, ?2, ?3)"
		" ON CONFLICT (id) DO UPDATE SET line_no = excluded.line_no,"
		" seq = excluded.seq, line = excluded.line",
	[ST_AUDIT_GAP_PUT] =
		"INSERT INTO audit_gaps (seq, lost_from, line, accepted_at)"
		" VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
	[ST_AUDIT_GAP_AT] = "SELECT seq, lost_from, line FROM audit_gaps"
			    " WHERE seq = ?1",
	[ST_AUDIT_GAP_COVERING] = "SELECT seq, lost_from, line FROM audit_gaps"
				  " WHERE seq >= ?1 AND lost_from <= ?1"
				  " ORDER BY seq LIMIT 1",
	[ST_AUDIT_GAP_NEWEST] = "SELECT seq, lost_from, line FROM audit_gaps"
				" ORDER BY seq DESC LIMIT 1",
};

const store_stmts store_audit_stmts = { audit_sql, ST_AUDIT__MAX };

static sqlite3_stmt *stmt(store *s, enum audit_stmt id)
{
	return s->st[STORE_MOD_AUDIT][id];
}

/* A blob column of exactly len bytes into dst; false for anything else. */
static bool blob_exact(sqlite3_stmt *st, int col, uint8_t *dst, size_t len)
{
	const void *p = sqlite3_column_blob(st, col);

	if (sqlite3_column_type(st, col) != SQLITE_BLOB || !p ||
	    (size_t)sqlite3_column_bytes(st, col) != len)
		return false;
	memcpy(dst, p, len);
	return true;
}

/* A text column or NULL; *ok cleared if it has an embedded NUL. */
static const char *text_col(sqlite3_stmt *st, int col, bool *ok)
{
	const char *t;

	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return NULL;
	t = (const char *)sqlite3_column_text(st, col);
	if (!t || strlen(t) != (size_t)sqlite3_column_bytes(st, col)) {
		*ok = false;
		return "";
	}
	return t;
}

/* The ROW_COLS columns of st's current row (see the header on faith). */
static void read_row(sqlite3_stmt *st, audit_row *r)
{
	int64_t seq = sqlite3_column_int64(st, 0);
	int64_t uid = sqlite3_column_int64(st, 2);
	int64_t pid = sqlite3_column_int64(st, 3);
	int64_t ver = sqlite3_column_int64(st, 8);
	int64_t out = sqlite3_column_int64(st, 9);
	bool ok = seq >= 1 && uid >= 0 && uid <= UINT32_MAX &&
	          pid >= INT32_MIN && pid <= INT32_MAX && ver >= 0 &&
	          out >= 0 && out <= AUDIT_RATE_LIMITED;

	memset(r, 0, sizeof(*r));
	r->seq = seq > 0 ? (uint64_t)seq : 0;
	r->ts_us = sqlite3_column_int64(st, 1);
	r->uid = (uid_t)uid;
	r->pid = (pid_t)pid;
	r->exe = text_col(st, 4, &ok);
	r->principal = text_col(st, 5, &ok);
	r->op = text_col(st, 6, &ok);
	r->name = text_col(st, 7, &ok);
	r->version = ver > 0 ? (uint64_t)ver : 0;
	r->outcome = (int)out;
	r->reason = text_col(st, 10, &ok);
	if (!r->op)
		ok = false;
	if (!blob_exact(st, 11, r->hash, sizeof(r->hash)) || !ok)
		memset(r->hash, 0, sizeof(r->hash));
}

/* A u64 that must fit SQLite's int64. */
static int64_t i64(uint64_t v)
{
	return v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

int store_audit_insert(store *s, const audit_row *row)
{
	if (!s || !row || !row->op || row->seq < 1 || row->seq > INT64_MAX ||
	    row->version > INT64_MAX)
		return KW_EINVAL;
	return store_step_done(
		stmt(s, ST_AUDIT_INSERT),
		STORE_ARGS(bind_int(row->seq), bind_int(row->ts_us),
	                   bind_int(row->uid), bind_int(row->pid),
	                   bind_text(row->exe), bind_text(row->principal),
	                   bind_text(row->op), bind_text(row->name),
	                   bind_int(row->version), bind_int(row->outcome),
	                   bind_text(row->reason),
	                   bind_blob(row->hash, sizeof(row->hash))));
}

int store_audit_head(store *s, uint64_t *ret_seq, int64_t *ret_ts_us,
                     uint8_t ret_hash[static AUDIT_HASH_BYTES])
{
	sqlite3_stmt *st = stmt(s, ST_AUDIT_HEAD);
	int64_t seq;
	int r;

	r = store_step_row(st, STORE_NO_ARGS);
	if (r < 0)
		return r;
	seq = sqlite3_column_int64(st, 0);
	if (seq < 1 || !blob_exact(st, 2, ret_hash, AUDIT_HASH_BYTES)) {
		store_st_done(st);
		return KW_ESTORE;
	}
	*ret_seq = (uint64_t)seq;
	*ret_ts_us = sqlite3_column_int64(st, 1);
	store_st_done(st);
	return 0;
}

int store_audit_scan(store *s, uint64_t after, uint64_t upto, uint32_t max,
                     store_audit_row_cb cb, void *arg)
{
	sqlite3_stmt *st;
	int r, cbr = 0;

	if (!s || !cb)
		return KW_EINVAL;
	if (max == 0 || after >= upto)
		return 0;
	st = stmt(s, ST_AUDIT_SCAN);
	r = store_step_row(st, STORE_ARGS(bind_int(i64(after)),
	                                  bind_int(i64(upto)), bind_int(max)));
	while (r == 0) {
		audit_row row;

		read_row(st, &row);
		cbr = cb(&row, arg);
		if (cbr != 0)
			break;
		r = store_step_row(st, STORE_NO_ARGS);
	}
	return store_rows_end(st, r, cbr);
}

int store_audit_hash_at(store *s, uint64_t seq,
                        uint8_t ret_hash[static AUDIT_HASH_BYTES])
{
	sqlite3_stmt *st = stmt(s, ST_AUDIT_HASH_AT);
	int r;

	if (seq > INT64_MAX)
		return KW_ENOTFOUND;
	r = store_step_row(st, STORE_ARGS(bind_int(seq)));
	if (r < 0)
		return r;
	/* A malformed hash matches nothing: report it as all zeros. */
	if (!blob_exact(st, 0, ret_hash, AUDIT_HASH_BYTES))
		memset(ret_hash, 0, AUDIT_HASH_BYTES);
	store_st_done(st);
	return 0;
}

int store_audit_next_ts(store *s, uint64_t seq, int64_t *ret_ts_us)
{
	sqlite3_stmt *st = stmt(s, ST_AUDIT_NEXT_TS);
	int r = store_step_row(st, STORE_ARGS(bind_int(i64(seq))));

	if (r < 0)
		return r;
	*ret_ts_us = sqlite3_column_int64(st, 0);
	store_st_done(st);
	return 0;
}

int store_audit_seq_by_ts(store *s, int64_t ts, bool at_least,
                          uint64_t *ret_seq)
{
	sqlite3_stmt *st =
		stmt(s, at_least ? ST_AUDIT_SEQ_SINCE : ST_AUDIT_SEQ_UNTIL);
	int64_t seq;
	int r = store_step_row(st, STORE_ARGS(bind_int(ts)));

	if (r < 0)
		return r;
	seq = sqlite3_column_int64(st, 0);
	store_st_done(st);
	if (seq < 1)
		return KW_ESTORE;
	*ret_seq = (uint64_t)seq;
	return 0;
}

int store_audit_page_scan(store *s, const store_audit_page *p,
                          int (*cb)(const audit_row *row, bool matched,
                                    void *arg),
                          void *arg)
{
	sqlite3_stmt *st;
	int r, cbr = 0;

	if (!s || !p || !cb)
		return KW_EINVAL;
	if (p->max == 0 || p->lo >= p->hi)
		return 0;
	st = stmt(s, p->ascending ? ST_AUDIT_PAGE_ASC : ST_AUDIT_PAGE_DESC);
	r = store_step_row(st,
	                   STORE_ARGS(bind_int(i64(p->lo)),
	                              bind_int(i64(p->hi)),
	                              bind_int(p->since_us),
	                              bind_int(p->until_us), bind_text(p->op),
	                              bind_text(p->principal),
	                              bind_int(p->outcome), bind_int(p->max)));
	while (r == 0) {
		audit_row row;

		read_row(st, &row);
		cbr = cb(&row, sqlite3_column_int(st, ROW_NCOLS) == 1, arg);
		if (cbr != 0)
			break;
		r = store_step_row(st, STORE_NO_ARGS);
	}
	return store_rows_end(st, r, cbr);
}

int store_audit_stats(store *s, int64_t since_us,
                      int (*cb)(const audit_count *c, void *arg), void *arg)
{
	sqlite3_stmt *st;
	int r, cbr = 0;

	if (!s || !cb)
		return KW_EINVAL;
	st = stmt(s, ST_AUDIT_STATS);
	r = store_step_row(st, STORE_ARGS(bind_int(since_us)));
	while (r == 0) {
		audit_count c;
		bool ok = true;
		int64_t n = sqlite3_column_int64(st, 3);

		c.principal = text_col(st, 0, &ok);
		c.op = text_col(st, 1, &ok);
		c.outcome = sqlite3_column_int(st, 2);
		c.count = n > 0 ? (uint64_t)n : 0;
		cbr = cb(&c, arg);
		if (cbr != 0)
			break;
		r = store_step_row(st, STORE_NO_ARGS);
	}
	return store_rows_end(st, r, cbr);
}

int store_audit_prune_point(store *s, int64_t cutoff_us, uint32_t max,
                            uint64_t *ret_seq,
                            uint8_t ret_hash[static AUDIT_HASH_BYTES])
{
	sqlite3_stmt *st = stmt(s, ST_AUDIT_OLDEST);
	uint8_t hash[AUDIT_HASH_BYTES];
	uint64_t last = 0;
	int r;

	if (max == 0)
		return KW_ENOTFOUND;
	r = store_step_row(st, STORE_ARGS(bind_int(max)));
	while (r == 0) {
		int64_t seq = sqlite3_column_int64(st, 0);

		if (sqlite3_column_int64(st, 1) >= cutoff_us)
			break;
		if (seq < 1 || !blob_exact(st, 2, hash, sizeof(hash))) {
			r = KW_ESTORE;
			break;
		}
		last = (uint64_t)seq;
		r = store_step_row(st, STORE_NO_ARGS);
	}
	store_st_done(st);
	if (r < 0 && r != KW_ENOTFOUND)
		return r;
	if (last == 0)
		return KW_ENOTFOUND;
	*ret_seq = last;
	memcpy(ret_hash, hash, sizeof(hash));
	return 0;
}

int store_audit_anchor_get(store *s, store_audit_anchor *ret_anchor)
{
	sqlite3_stmt *st = stmt(s, ST_AUDIT_ANCHOR_GET);
	store_audit_anchor a;
	int64_t seq;
	int r;

	r = store_step_row(st, STORE_NO_ARGS);
	if (r < 0)
		return r;
	seq = sqlite3_column_int64(st, 0);
	a.ts_us = sqlite3_column_int64(st, 3);
	if (seq < 1 || !blob_exact(st, 1, a.hash, sizeof(a.hash)) ||
	    !blob_exact(st, 2, a.sig, sizeof(a.sig)))
		r = KW_ESTORE;
	store_st_done(st);
	if (r < 0)
		return r;
	a.seq = (uint64_t)seq;
	*ret_anchor = a;
	return 0;
}

int store_audit_prune(store *s, const store_audit_anchor *a)
{
	int r;

	if (!s || !a || a->seq < 1 || a->seq > INT64_MAX)
		return KW_EINVAL;
	r = store_tx_begin(s);
	if (r < 0)
		return r;
	r = store_step_done(stmt(s, ST_AUDIT_ANCHOR_SET),
	                    STORE_ARGS(bind_int(a->seq),
	                               bind_blob(a->hash, sizeof(a->hash)),
	                               bind_blob(a->sig, sizeof(a->sig)),
	                               bind_int(a->ts_us)));
	if (r == 0)
		r = store_step_done(stmt(s, ST_AUDIT_DELETE_UPTO),
		                    STORE_ARGS(bind_int(a->seq)));
	if (r == 0)
		r = store_tx_commit(s);
	if (r < 0)
		return store_tx_rollback(s, r);
	return 0;
}

int store_audit_keys_get(store *s,
                         uint8_t ret_public[static STORE_AUDIT_PK_BYTES],
                         uint8_t ret_sealed[static STORE_AUDIT_SEALED_BYTES])
{
	sqlite3_stmt *st = stmt(s, ST_AUDIT_KEYS_GET);
	int r = store_step_row(st, STORE_NO_ARGS);

	if (r < 0)
		return r;
	if (!blob_exact(st, 0, ret_public, STORE_AUDIT_PK_BYTES) ||
	    !blob_exact(st, 1, ret_sealed, STORE_AUDIT_SEALED_BYTES))
		r = KW_ESTORE;
	store_st_done(st);
	return r;
}

int store_audit_keys_put(store *s,
                         const uint8_t public_key[static STORE_AUDIT_PK_BYTES],
                         const uint8_t sealed[static STORE_AUDIT_SEALED_BYTES],
                         int64_t created)
{
	int r = store_step_done(stmt(s, ST_AUDIT_KEYS_PUT),
	                        STORE_ARGS(bind_blob(public_key,
	                                             STORE_AUDIT_PK_BYTES),
	                                   bind_blob(sealed,
	                                             STORE_AUDIT_SEALED_BYTES),
	                                   bind_int(created)));

	if (r == 0 && sqlite3_changes(s->db) == 0)
		r = KW_EEXIST;
	return r;
}

int store_audit_keys_reseal(
	store *s, const uint8_t sealed[static STORE_AUDIT_SEALED_BYTES])
{
	int r = store_step_done(stmt(s, ST_AUDIT_KEYS_RESEAL),
	                        STORE_ARGS(
					bind_blob(sealed,
	                                          STORE_AUDIT_SEALED_BYTES)));

	if (r == 0 && sqlite3_changes(s->db) == 0)
		r = KW_ENOTFOUND;
	return r;
}

/* Checkpoint lines and accepted losses ------------------------------------ */

/* A text column into buf (NUL-terminated); false if it is not text, holds
 * a NUL or does not fit. */
static bool text_into(sqlite3_stmt *st, int col, char *buf, size_t bufsz)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	size_t n;

	if (sqlite3_column_type(st, col) != SQLITE_TEXT || !t)
		return false;
	n = (size_t)sqlite3_column_bytes(st, col);
	if (n >= bufsz || strlen((const char *)t) != n)
		return false;
	memcpy(buf, t, n + 1);
	return true;
}

int store_audit_cp_get(store *s, store_audit_cp_line *ret_line)
{
	sqlite3_stmt *st = stmt(s, ST_AUDIT_CP_GET);
	store_audit_cp_line l;
	int r = store_step_row(st, STORE_NO_ARGS);

	if (r < 0)
		return r;
	l.line_no = sqlite3_column_int64(st, 0);
	l.seq = sqlite3_column_int64(st, 1);
	if (l.line_no < 1 || l.seq < 1 ||
	    !text_into(st, 2, l.line, sizeof(l.line)))
		r = KW_ESTORE;
	store_st_done(st);
	if (r == 0)
		*ret_line = l;
	return r;
}

int store_audit_cp_put(store *s, const store_audit_cp_line *l)
{
	if (!s || !l || l->line_no < 1 || l->seq < 1)
		return KW_EINVAL;
	return store_step_done(stmt(s, ST_AUDIT_CP_PUT),
	                       STORE_ARGS(bind_int(l->line_no),
	                                  bind_int(l->seq),
	                                  bind_text(l->line)));
}

int store_audit_gap_put(store *s, const store_audit_gap *g, int64_t now)
{
	if (!s || !g || g->lost_from < 1 || g->lost_from > g->seq)
		return KW_EINVAL;
	return store_step_done(stmt(s, ST_AUDIT_GAP_PUT),
	                       STORE_ARGS(bind_int(g->seq),
	                                  bind_int(g->lost_from),
	                                  bind_text(g->line), bind_int(now)));
}

static int gap_read(sqlite3_stmt *st, int r, store_audit_gap *ret_gap)
{
	store_audit_gap g;

	if (r < 0)
		return r;
	g.seq = sqlite3_column_int64(st, 0);
	g.lost_from = sqlite3_column_int64(st, 1);
	if (g.seq < 1 || g.lost_from < 1 || g.lost_from > g.seq ||
	    !text_into(st, 2, g.line, sizeof(g.line)))
		r = KW_ESTORE;
	store_st_done(st);
	if (r == 0)
		*ret_gap = g;
	return r;
}

int store_audit_gap_at(store *s, int64_t seq, store_audit_gap *ret_gap)
{
	sqlite3_stmt *st = stmt(s, ST_AUDIT_GAP_AT);

	return gap_read(st, store_step_row(st, STORE_ARGS(bind_int(seq))),
	                ret_gap);
}

int store_audit_gap_covering(store *s, int64_t seq, store_audit_gap *ret_gap)
{
	sqlite3_stmt *st = stmt(s, ST_AUDIT_GAP_COVERING);

	return gap_read(st, store_step_row(st, STORE_ARGS(bind_int(seq))),
	                ret_gap);
}

int store_audit_gap_newest(store *s, store_audit_gap *ret_gap)
{
	sqlite3_stmt *st = stmt(s, ST_AUDIT_GAP_NEWEST);

	return gap_read(st, store_step_row(st, STORE_NO_ARGS), ret_gap);
}
