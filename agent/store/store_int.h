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
	STORE_MOD__MAX
};

extern const store_stmts store_secrets_stmts;
extern const store_stmts store_clients_stmts;
extern const store_stmts store_audit_stmts;
extern const store_stmts store_rotation_stmts;
extern const store_stmts store_apikeys_stmts;
extern const store_stmts store_keys_stmts;

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
 * Bind ?1, ?2, ... from types ('i' int64_t, 't' const char *, 'b' const
 * void * then size_t), all SQLITE_STATIC, and step once. "" binds nothing:
 * use it to step to the next row.
 *
 * store_step_row: one row wanted; 0 with the statement on it (the caller
 * calls store_st_done after reading), KW_ENOTFOUND if no row (reset), or
 * a KW_E* code (reset).
 * store_step_done: run for its effect; 0 or a KW_E* code, reset either way.
 */
int store_step_row(sqlite3_stmt *st, const char *types, ...);
int store_step_done(sqlite3_stmt *st, const char *types, ...);

/*
 * End a loop over the rows of st that hands each row to a callback: r is
 * the last store_step_row answer (or the loop's own error), cbr what the
 * callback last returned. Resets st and returns cbr if it is nonzero;
 * else 0 if the rows ran out (r is KW_ENOTFOUND) or the loop broke off with
 * r still 0; else r.
 */
int store_rows_end(sqlite3_stmt *st, int r, int cbr);

/* The integer in the one row st gives, with ?1 = id if types is "i";
 * no row is KW_ESTORE. */
int store_one_int(sqlite3_stmt *st, const char *types, int64_t id,
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
