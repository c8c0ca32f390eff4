/*
 * backupfmt.h - the container of a keyward backup (docs/store.md,
 * "Backups"): a header, the SQLite image of secrets.db, the bytes of
 * audit.checkpoints, and a BLAKE2b-256 checksum of everything before it.
 *
 *     offset  size    field (integers big-endian)
 *     0       8       magic "KWBACKUP"
 *     8       4       format version, 1
 *     12      4       the store's schema version
 *     16      8       when the backup was taken (unix seconds)
 *     24      8       db_len
 *     32      8       cp_len
 *     40      db_len  the database image
 *     ..      cp_len  the checkpoint file
 *     ..      32      checksum
 *
 * The checksum is unkeyed: it catches a damaged or truncated file, not a
 * forged one (the store's own AEAD and the audit chain do that). The parser
 * trusts no length: each is bounded, and the sum must be the file size.
 */
#ifndef KW_BACKUPFMT_H
#define KW_BACKUPFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KW_BACKUP_MAGIC        "KWBACKUP"
#define KW_BACKUP_VERSION      1u
#define KW_BACKUP_HEADER_BYTES 40u
#define KW_BACKUP_SUM_BYTES    32u
/* Largest database image and checkpoint file a backup may carry. */
#define KW_BACKUP_DB_MAX (1024ull * 1024 * 1024)
#define KW_BACKUP_CP_MAX (64ull * 1024 * 1024)
/* Smallest database image: one SQLite page of the smallest size. */
#define KW_BACKUP_DB_MIN 512u
/* Largest whole container. */
#define KW_BACKUP_MAX                                                   \
	(KW_BACKUP_HEADER_BYTES + KW_BACKUP_DB_MAX + KW_BACKUP_CP_MAX + \
	 KW_BACKUP_SUM_BYTES)

struct kw_backup_info {
	uint32_t version;
	uint32_t schema;
	int64_t created;
	uint64_t db_len, cp_len;
};

/* A parsed container: pointers into the buffer given to kw_backup_parse. */
struct kw_backup_view {
	struct kw_backup_info info;
	const uint8_t *db;
	const uint8_t *cp;
};

/*
 * Build a container of db (dblen bytes, an SQLite image) and cp (cplen
 * bytes, may be NULL when 0) into malloc'd memory (*ret, *ret_len; free
 * with kw_backup_free). KW_ETOOBIG over the bounds, KW_EINVAL for an image
 * that is not SQLite, KW_ENOMEM.
 */
int kw_backup_build(const uint8_t *db, size_t dblen, const uint8_t *cp,
                    size_t cplen, uint32_t schema, int64_t created,
                    uint8_t **ret, size_t *ret_len);
/* Wipe (the image holds sealed values and keyed hashes) and free. */
void kw_backup_free(uint8_t *p, size_t len);

/*
 * Check the len bytes at buf: magic, version, bounded lengths that add up
 * to len exactly, the checksum, and the SQLite header of the image.
 * KW_EDAMAGED with why saying which check failed (it never quotes the
 * content), else 0 and *ret pointing into buf.
 */
int kw_backup_parse(const uint8_t *buf, size_t len, struct kw_backup_view *ret,
                    char *why, size_t whysz);

/*
 * Read the regular file path (a symbolic link followed only if follow)
 * into malloc'd memory as large as the file, not as max: *ret (free with
 * kw_backup_free; non-NULL even when empty), *ret_len. KW_ENOTFOUND if it
 * does not exist, KW_ETOOBIG over max bytes, KW_EIO or KW_EPERM
 * otherwise, with why naming the step (never the content).
 */
int kw_backup_read(const char *path, bool follow, uint64_t max, uint8_t **ret,
                   size_t *ret_len, char *why, size_t whysz);

#endif
