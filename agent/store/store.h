/*
 * store.h - the encrypted secret store: one SQLite database (WAL mode).
 *
 * The store owns the sqlite3 handle and its prepared statements; it is used
 * from one thread only (the agent's event loop, or the CLI's init). Every
 * statement is prepared with bound parameters. Schema changes are numbered
 * migrations recorded in table schema_migrations (docs/store.md).
 *
 * Values are sealed by crypto.h before they reach SQL; the store never sees a
 * plaintext value except in the buffers it returns, which the caller wipes.
 *
 * Stages: each secret has at most one "current", one "pending" and one
 * "previous" version; older ones are "retired". store_put makes the new
 * version current, the old current previous, the old previous retired, and
 * then deletes the oldest non-current/pending versions beyond max_versions.
 */
#ifndef KW_STORE_H
#define KW_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"

typedef struct store store;

enum { STORE_OPEN_EXISTING = 0, STORE_CREATE = 1 };

/*
 * Open (or, with STORE_CREATE, create with mode 0600) the database at path,
 * set WAL mode, apply pending migrations. Refuses, with KW_EPERM, a file not
 * owned by the caller or accessible by group/others. KW_ENOTFOUND if absent
 * and not creating; KW_EEXIST if present and creating; KW_EDAMAGED if an
 * existing file is empty (0 bytes) or not a database; KW_EDISKFULL,
 * KW_EROFS or KW_EIO for those failures; KW_ESTORE otherwise.
 */
int store_open(const char *path, int flags, store **ret_store);
void store_close(store *s);

/*
 * After a failed disk sync the agent cannot know what the disk holds
 * (docs/audit.md, "Outcome unknown"). store_reopen closes the connection
 * without a checkpoint, asks the kernel to drop its cached pages of the
 * files, and opens them again, so SQLite's recovery rebuilds the state from
 * what the files hold. On failure the store is left disconnected
 * (store_connected false): nothing but store_reopen and store_close may be
 * called until a reopen succeeds. store_settle then makes that state
 * durable: a full checkpoint of the log into the database (synced), which
 * leaves the log empty. Both return 0 or KW_E* (KW_EBUSY: try again).
 */
int store_reopen(store *s);
bool store_connected(const store *s);
/* A commit or sync since the last store_reopen failed with an I/O error
 * (KW_EUNKNOWN from store_batch_commit, store_tx_commit or store_sync):
 * what the disk holds is unknown until a store_reopen. */
bool store_in_doubt(const store *s);
/* SQLite's sentence for the last error on s, for logs (never a value). */
const char *store_last_error(const store *s);
int store_settle(store *s);

/*
 * PRAGMA quick_check(1), stopped after budget_ms (KW_ETIMEOUT: not checked
 * to the end). KW_EDAMAGED with SQLite's first finding in detail, or the
 * KW_E* of an error reading the file (its message in detail).
 */
int store_quick_check(store *s, uint32_t budget_ms, char *detail,
                      size_t detail_size);
/* The schema version (highest applied migration). */
int store_schema_version(store *s, int *ret_version);

/*
 * Group commit. store_batch_begin opens one transaction (BEGIN IMMEDIATE)
 * that every later store operation joins, each inside a savepoint of its
 * own (so one failing operation undoes only itself);
 * store_batch_commit makes them all durable with one disk sync, or, if the
 * commit fails, rolls everything back and returns the error. The agent
 * runs one batch per event-loop turn and releases no answer before it
 * commits (docs/audit.md, durability). KW_EUNKNOWN: an I/O error during
 * the commit (writing or syncing the log) left it unknown whether the
 * disk has the batch; the caller must store_reopen before trusting the
 * store again. Any other error means nothing of the batch was kept.
 */
int store_batch_begin(store *s);
bool store_batch_active(const store *s);
int store_batch_commit(store *s);
void store_batch_rollback(store *s);
/*
 * A light batch commits without the disk sync: for turns whose only writes
 * are the audit rows of requests that read. Its rows are in the log at
 * once (a killed agent loses nothing) and on disk with the next durable
 * commit or store_sync(); the log keeps commit order, so a power loss can
 * drop only a tail of light commits, never a durable commit after them.
 */
int store_batch_begin_light(store *s);
bool store_batch_light(const store *s);
/* Whether a light batch committed since the last sync. */
bool store_unsynced(const store *s);
/* Make every committed batch durable (one sync of the log); works inside a
 * batch too. 0 at once if nothing is unsynced. KW_EUNKNOWN if the sync
 * failed: light commits since the last sync may or may not be on disk. */
int store_sync(store *s);

/* The single data-key wrap. KW_ENOTFOUND if none yet. */
int store_wrap_get(store *s, wrapped_key *ret_wrap);
/* Insert or replace the wrap (passwd re-wraps atomically). */
int store_wrap_set(store *s, const wrapped_key *w);

typedef struct store_value {
	uint64_t version;
	char stage[16];  /* "current", "pending", "previous", "retired" */
	int64_t created; /* unix seconds, UTC */
	uint8_t *value;  /* kw_wipealloc; wiped by store_value_free */
	size_t len;
} store_value;
void store_value_free(store_value *v);

/*
 * New version of name with the given value, now current. ret_version may be
 * NULL. The caller has validated name and size.
 */
int store_put(store *s, kw_key *dk, const char *name, const uint8_t *value,
              size_t len, uint32_t max_versions, int64_t now,
              uint64_t *ret_version);
/*
 * Read version (if > 0) or the version at stage (NULL means "current").
 * KW_ENOTFOUND if no such secret, version or stage; KW_ECRYPTO if the row
 * fails to open; KW_EINVAL for an unknown stage name.
 */
int store_get(store *s, kw_key *dk, const char *name, uint64_t version,
              const char *stage, store_value **ret_value);

typedef struct store_meta {
	const char *name;
	uint64_t current_version; /* 0 if no current version */
	uint32_t versions;
	int64_t created, updated; /* unix seconds */
} store_meta;
/* Call cb for each secret whose name starts with prefix (NULL/"" = all),
 * in name order. A non-zero return from cb stops and is returned. */
int store_list(store *s, const char *prefix,
               int (*cb)(const store_meta *m, void *arg), void *arg);

typedef struct store_version_info {
	uint64_t version;
	const char *stage;
	int64_t created;
	int64_t retire_at; /* end of a rotation's overlap; 0 if none */
} store_version_info;
/* Versions of name, newest first. KW_ENOTFOUND if no such secret. */
int store_versions(store *s, const char *name,
                   int (*cb)(const store_version_info *v, void *arg),
                   void *arg);

/* Rotation (docs/rotation.md) --------------------------------------- */

/* The current version of name; 0 if it has none or does not exist. */
int store_current_version(store *s, const char *name, uint64_t *ret_version);
/*
 * A new version of name at stage "pending" (creating the secret if
 * needed), replacing any earlier pending version. Nothing else moves.
 */
int store_put_pending(store *s, kw_key *dk, const char *name,
                      const uint8_t *value, size_t len, int64_t now,
                      uint64_t *ret_version);
/*
 * Make version `pending` (which must be at stage pending: KW_ENOTFOUND
 * otherwise) current, the current one previous until retire_at, and the
 * previous one retired; then prune beyond max_versions. KW_ESTATE if the
 * current version is no longer expect_current (0: none): someone wrote
 * the secret meanwhile, and nothing is changed.
 */
int store_promote(store *s, const char *name, uint64_t pending,
                  uint64_t expect_current, int64_t retire_at,
                  uint32_t max_versions, int64_t now);
/* Retire up to limit (<= 64) previous versions whose retire_at <= now,
 * calling cb for each after it is retired. */
int store_retire_due(store *s, int64_t now, uint32_t limit,
                     int (*cb)(const char *name, uint64_t version, void *arg),
                     void *arg);

/* Delete name and all versions, with its rotation schedule, and end its
 * active rotation run as failed; KW_ENOTFOUND if absent. */
int store_delete(store *s, const char *name, uint32_t *ret_versions);
/* Number of secrets. */
int store_count(store *s, uint64_t *ret_count);

#endif
