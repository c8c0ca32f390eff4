/*
 * store_backup.c - see store_backup.h.
 *
 * sqlite3_serialize() on an ordinary (not in-memory) database copies each
 * page through the pager under a read transaction, so the image includes
 * what the write-ahead log holds and is one snapshot. A second connection
 * is used so that the snapshot never sees the agent's own open batch, which
 * may still roll back.
 */
#include "store_backup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <sqlite3.h>

#include "keyward.h"
#include "store_int.h"

#ifndef SQLITE_OPEN_NOFOLLOW
#define SQLITE_OPEN_NOFOLLOW 0 /* before SQLite 3.31 */
#endif

#define IMAGE_BUSY_MS 5000

static int image_fail(sqlite3 *db, int rc, char *why, size_t whysz)
{
	snprintf(why, whysz, "%s",
	         db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	return store_sql_err(rc);
}

/* max(version) of schema_migrations, inside the open read transaction. */
static int image_schema(sqlite3 *db, uint32_t *ret)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db,
	                            "SELECT max(version) FROM "
	                            "schema_migrations",
	                            -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		sqlite3_int64 v = sqlite3_column_int64(st, 0);
		rc = v >= 1 && v <= UINT32_MAX ? SQLITE_OK : SQLITE_CORRUPT;
		*ret = (uint32_t)v;
	}
	sqlite3_finalize(st);
	return rc;
}

int store_image(const char *path, uint64_t max, uint8_t **ret_image,
                size_t *ret_len, uint32_t *ret_schema, char *why, size_t whysz)
{
	sqlite3 *db = NULL;
	unsigned char *img = NULL;
	sqlite3_int64 len = 0;
	uint32_t schema = 0;
	int r;

	int rc = sqlite3_open_v2(path, &db,
	                         SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX |
	                                 SQLITE_OPEN_NOFOLLOW,
	                         NULL);
	if (rc != SQLITE_OK) {
		r = image_fail(db, rc, why, whysz);
		goto out;
	}
	sqlite3_busy_timeout(db, IMAGE_BUSY_MS);
	rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = image_schema(db, &schema);
	if (rc != SQLITE_OK) {
		r = image_fail(db, rc, why, whysz);
		goto out;
	}
	img = sqlite3_serialize(db, "main", &len, 0);
	if (!img || len <= 0) {
		snprintf(why, whysz, "%s", "the database could not be copied");
		r = sqlite3_errcode(db) == SQLITE_OK ?
		            KW_ENOMEM :
		            image_fail(db, sqlite3_errcode(db), why, whysz);
		goto out;
	}
	if ((uint64_t)len > max) {
		snprintf(why, whysz, "the database is %lld bytes, over %llu",
		         (long long)len, (unsigned long long)max);
		r = KW_ETOOBIG;
		goto out;
	}
	*ret_image = img;
	*ret_len = (size_t)len;
	*ret_schema = schema;
	img = NULL;
	r = 0;
out:
	if (img)
		store_image_free(img, (size_t)len);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close_v2(db);
	return r;
}

void store_image_free(uint8_t *image, size_t len)
{
	if (!image)
		return;
	sodium_memzero(image, len);
	sqlite3_free(image);
}
