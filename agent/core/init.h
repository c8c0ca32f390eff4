/*
 * init.h - keywardd's one-shot modes for the CLI: create a store
 * (keywardd --init, run by keyward init) and check a backup's image
 * before it replaces the store (keywardd --check-image, run by keyward
 * restore). They live in keywardd so that the CLI links neither SQLite,
 * inih nor any agent code: the store, the crypto and the config parser
 * stay in the one binary that owns them.
 *
 * A passphrase never travels in argv: the caller hands keywardd a file
 * descriptor (a pipe) and writes one line to it.
 */
#ifndef KW_INIT_H
#define KW_INIT_H

#include <stddef.h>

/*
 * Create master.key (keyfile mode, pass_fd < 0) or derive the
 * key-encryption key from the passphrase read from pass_fd (Argon2id at
 * the [kdf] cost of the config), make a random data key, and create
 * secrets.db holding its wrap. home must exist, be ours and private;
 * config is keyward.ini (NULL: home/keyward.ini, which may be absent).
 * The policies are the caller's (keyward init writes them: only it knows
 * its own executable). Everything this call created is removed again on
 * failure. Errors are printed on stderr; returns 0 or a KW_E* code.
 */
int init_store_create(const char *home, const char *config, int pass_fd);

/* Flags of init_image_check. */
#define INIT_CHECK_NO_KEY 0x1u /* skip the key check (restore --force) */

/*
 * Open the database at path as the agent would (migrations, a bounded
 * quick_check), require a schema of at least min_schema, take its wrap
 * and, unless INIT_CHECK_NO_KEY, check that the home's key opens it:
 * master.key for a keyfile wrap; for a passphrase wrap, the line
 * "passphrase" is written to stdout and the passphrase read from pass_fd.
 * The outcome is one more line on stdout (docs: keywardd(8)):
 *   "ok"
 *   "image ERRNO DETAIL"   the database is refused (ERRNO: a KW_E* code)
 *   "key keyfile ERRNO" or "key passphrase ERRNO"   the key does not open it
 * Returns 0 or a KW_E* code.
 */
int init_image_check(const char *home, const char *path, unsigned min_schema,
                     int pass_fd, unsigned flags);

/*
 * Read one passphrase line (at most KEY_PASS_MAX bytes, not empty, no
 * NUL, UTF-8; a final newline dropped) from fd into kw_wipealloc memory (free
 * with kw_wipefree). Prints what was wrong; 0 or a KW_E* code.
 */
int init_read_passphrase(int fd, char **ret_pass, size_t *ret_len);

#endif
