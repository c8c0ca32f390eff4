/*
 * store_backup.h - a consistent image of the store while the agent serves
 * it, for `keyward backup` (docs/store.md, "Backups").
 */
#ifndef KW_STORE_BACKUP_H
#define KW_STORE_BACKUP_H

#include <stddef.h>
#include <stdint.h>

/*
 * The database at path as it would be on disk after a checkpoint, taken on
 * a connection of its own inside one read transaction: it holds every
 * transaction committed before that transaction began and nothing of one
 * still open (not even of the caller's own batch). *ret_image is malloc'd
 * (wipe and free with store_image_free); *ret_schema is the image's schema
 * version. KW_ETOOBIG over max bytes; KW_E* of the store otherwise, with
 * SQLite's sentence in why.
 */
int store_image(const char *path, uint64_t max, uint8_t **ret_image,
                size_t *ret_len, uint32_t *ret_schema, char *why, size_t whysz);
void store_image_free(uint8_t *image, size_t len);

#endif
