/*
 * store_int.h - what the store's files share, and nothing else may use:
 * the handle, the statement cache and the step/bind helpers.
 *
 * Each table module (store_secrets.c, store_clients.c, ...) owns its SQL:
 * an enum of its statement ids and a static array of constant SQL texts
 * indexed by them, published as one store_stmts. store_open prepares every
 * module's statements once (SQLITE_PREPARE_PERSISTENT), after migrations;
 * they live until store_close and run with bound parameters only. Adding a
 * module's statements takes one enum value and one extern below, and one
 * line in store.c's table of modules.
 */
#ifndef KW_STORE_INT_H
#define KW_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "store.h"

/* One module's statements: sql[i] for that module's statement id i. */
typedef struct store_stmts {
	const char *const *sql;
	int count;
} store_stmts;

enum store_module {
	STORE_MOD_CORE, /* store.c: transactions, schema version, wrap */
	STORE_MOD_SECRETS,
	STORE_MOD_CLIENTS,
	STORE_MOD_AUDIT,
	STORE_MOD_ROTATION,
	STORE_MOD_APIKEYS,
	STORE_MOD_KEYS,
	STORE_MOD_OAUTH,
	STORE_MOD__MAX
};

extern const store_stmts store_secrets_stmts;
extern const store_stmts store_clients_stmts;
extern const store_stmts store_audit_stmts;
extern const store_stmts store_rotation_stmts;
extern const store_stmts store_apikeys_stmts;
extern const store_stmts store_keys_stmts;
extern const store_stmts store_oauth_stmts;

struct store {
	sqlite3 *db; /* NULL after a store_reopen that failed */
	char *path;
	/* st[m][i]: statement i of module m, prepared at open. */
	sqlite3_stmt **st[STORE_MOD__MAX];
	bool batch;       /* a store_batch transaction is open */
	bool batch_light; /* ... committing without a disk sync */
	bool unsynced;    /* a light batch committed since the last sync */
	char err[128];    /* SQLite's sentence for the last failed commit */
	bool in_doubt;    /* a commit or sync failed with an I/O error */
};

/* The KW_E* code for an SQLite result code: KW_ENOMEM, KW_EDISKFULL
 * (SQLITE_FULL), KW_EROFS (SQLITE_READONLY), KW_EDAMAGED (SQLITE_CORRUPT,
 * SQLITE_NOTADB), KW_EIO (SQLITE_IOERR), else KW_ESTORE. */
int store_sql_err(int rc);

/* Reset after use; bindings are cleared so no pointer outlives the call. */
void store_st_done(sqlite3_stmt *st);

/*
 * Typed parameters: bind_int, bind_text (NUL-terminated; NULL binds SQL
 * NULL) and bind_blob (NULL binds SQL NULL) make one store_bind each, so
 * the compiler checks every value against its type. All are bound
 * SQLITE_STATIC: the memory must outlive the step.
 */
enum store_bind_type { STORE_BIND_INT, STORE_BIND_TEXT, STORE_BIND_BLOB };

typedef struct store_bind {
	enum store_bind_type type;
	int64_t i;     /* INT */
	const void *p; /* TEXT, BLOB */
	size_t len;    /* BLOB */
} store_bind;

static inline store_bind bind_int(int64_t v)
{
	return (store_bind){ .type = STORE_BIND_INT, .i = v };
}

static inline store_bind bind_text(const char *s)
{
	return (store_bind){ .type = STORE_BIND_TEXT, .p = s };
}

static inline store_bind bind_blob(const void *p, size_t len)
{
	return (store_bind){ .type = STORE_BIND_BLOB, .p = p, .len = len };
}

/*
 * The parameters ?1, ?2, ... of one step, in order, as the two arguments
 * (array, count) the step functions take:
 *     store_step_done(st, STORE_ARGS(bind_int(id), bind_text(name)))
 * STORE_NO_ARGS binds nothing and keeps what is bound: use it to step to
 * the next row, or for a statement without parameters.
 */
#define STORE_ARGS(...)                                       \
	(const store_bind[]){ __VA_ARGS__ },                  \
		sizeof((const store_bind[]){ __VA_ARGS__ }) / \
			sizeof(store_bind)
#define STORE_NO_ARGS NULL, 0

/*
 * Bind args[0..n) to ?1..?n and step once. n is 0 or the statement's
 * parameter count (asserted).
 *
 * store_step_row: one row wanted; 0 with the statement on it (the caller
 * calls store_st_done after reading), KW_ENOTFOUND if no row (reset), or
 * a KW_E* code (reset).
 * store_step_done: run for its effect; 0 or a KW_E* code, reset either way.
 */
int store_step_row(sqlite3_stmt *st, const store_bind *args, size_t n);
int store_step_done(sqlite3_stmt *st, const store_bind *args, size_t n);

/*
 * End a loop over the rows of st that hands each row to a callback: r is
 * the last store_step_row answer (or the loop's own error), cbr what the
 * callback last returned. Resets st and returns cbr if it is nonzero;
 * else 0 if the rows ran out (r is KW_ENOTFOUND) or the loop broke off with
 * r still 0; else r.
 */
int store_rows_end(sqlite3_stmt *st, int r, int cbr);

/* The integer in the one row st gives with args bound (store_step_row);
 * no row is KW_ESTORE. */
int store_one_int(sqlite3_stmt *st, const store_bind *args, size_t n,
                  int64_t *ret);

/*
 * BEGIN IMMEDIATE and COMMIT on cached statements. store_tx_rollback
 * undoes whatever the open transaction did (SQLite may already have) and
 * returns r, so a failure path reads `return store_tx_rollback(s, r);`.
 */
int store_tx_begin(store *s);
int store_tx_commit(store *s);
int store_tx_rollback(store *s, int r);

#endif
