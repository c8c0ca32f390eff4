/*
 * backupfmt.c - see backupfmt.h.
 */
#include "backupfmt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "keyward.h"

_Static_assert(crypto_generichash_BYTES == KW_BACKUP_SUM_BYTES,
               "checksum size");

static const char sqlite_magic[16] = "SQLite format 3";

static void put_be(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static uint64_t get_be(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static void backup_sum(const uint8_t *buf, size_t len,
                       uint8_t out[static KW_BACKUP_SUM_BYTES])
{
	crypto_generichash(out, KW_BACKUP_SUM_BYTES, buf, len, NULL, 0);
}

int kw_backup_build(const uint8_t *db, size_t dblen, const uint8_t *cp,
                    size_t cplen, uint32_t schema, int64_t created,
                    uint8_t **ret, size_t *ret_len)
{
	if (dblen > KW_BACKUP_DB_MAX || cplen > KW_BACKUP_CP_MAX)
		return KW_ETOOBIG;
	if (dblen < KW_BACKUP_DB_MIN ||
	    memcmp(db, sqlite_magic, sizeof(sqlite_magic)) != 0)
		return KW_EINVAL;
	size_t len =
		KW_BACKUP_HEADER_BYTES + dblen + cplen + KW_BACKUP_SUM_BYTES;
	uint8_t *b = malloc(len);
	if (!b)
		return KW_ENOMEM;
	memcpy(b, KW_BACKUP_MAGIC, 8);
	put_be(b + 8, KW_BACKUP_VERSION, 4);
	put_be(b + 12, schema, 4);
	put_be(b + 16, (uint64_t)created, 8);
	put_be(b + 24, dblen, 8);
	put_be(b + 32, cplen, 8);
	memcpy(b + KW_BACKUP_HEADER_BYTES, db, dblen);
	if (cplen)
		memcpy(b + KW_BACKUP_HEADER_BYTES + dblen, cp, cplen);
	backup_sum(b, len - KW_BACKUP_SUM_BYTES, b + len - KW_BACKUP_SUM_BYTES);
	*ret = b;
	*ret_len = len;
	return 0;
}

void kw_backup_free(uint8_t *p, size_t len)
{
	if (!p)
		return;
	sodium_memzero(p, len);
	free(p);
}

static int damaged(char *why, size_t whysz, const char *text)
{
	snprintf(why, whysz, "%s", text);
	return KW_EDAMAGED;
}

int kw_backup_parse(const uint8_t *buf, size_t len, struct kw_backup_view *ret,
                    char *why, size_t whysz)
{
	struct kw_backup_view v;
	uint8_t sum[KW_BACKUP_SUM_BYTES];

	if (len < KW_BACKUP_HEADER_BYTES || memcmp(buf, KW_BACKUP_MAGIC, 8))
		return damaged(why, whysz,
		               "not a keyward backup (no "
		               "KWBACKUP header)");
	v.info.version = (uint32_t)get_be(buf + 8, 4);
	if (v.info.version != KW_BACKUP_VERSION)
		return damaged(why, whysz,
		               "a backup format version this "
		               "keyward does not know");
	v.info.schema = (uint32_t)get_be(buf + 12, 4);
	v.info.created = (int64_t)get_be(buf + 16, 8);
	v.info.db_len = get_be(buf + 24, 8);
	v.info.cp_len = get_be(buf + 32, 8);
	if (v.info.db_len < KW_BACKUP_DB_MIN ||
	    v.info.db_len > KW_BACKUP_DB_MAX ||
	    v.info.cp_len > KW_BACKUP_CP_MAX || v.info.created < 0)
		return damaged(why, whysz,
		               "the header's lengths are out of "
		               "bounds");
	/* Both bounded above, so the sum cannot overflow. */
	uint64_t want = KW_BACKUP_HEADER_BYTES + v.info.db_len + v.info.cp_len +
	                KW_BACKUP_SUM_BYTES;
	if (want > len)
		return damaged(why, whysz,
		               "the file is shorter than its "
		               "header says (truncated)");
	if (want < len)
		return damaged(why, whysz,
		               "the file has bytes after the "
		               "checksum");
	backup_sum(buf, len - KW_BACKUP_SUM_BYTES, sum);
	if (sodium_memcmp(sum, buf + len - KW_BACKUP_SUM_BYTES, sizeof(sum)))
		return damaged(why, whysz,
		               "the checksum does not match (the "
		               "file is damaged)");
	v.db = buf + KW_BACKUP_HEADER_BYTES;
	v.cp = v.db + v.info.db_len;
	if (memcmp(v.db, sqlite_magic, sizeof(sqlite_magic)) != 0)
		return damaged(why, whysz,
		               "the database image is not an "
		               "SQLite database");
	*ret = v;
	return 0;
}

static int read_fail(int err, char *why, size_t whysz, const char *step)
{
	snprintf(why, whysz, "%s: %s", step, strerror(errno));
	return err;
}

/* All of fd's size bytes; a file that grows or shrinks meanwhile is
 * KW_EIO (what was read is not one state of it). */
static int read_all(int fd, uint8_t *b, size_t size, char *why, size_t whysz)
{
	size_t len = 0;
	uint8_t extra;

	while (len < size) {
		ssize_t n = read(fd, b + len, size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return read_fail(KW_EIO, why, whysz, "read");
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len != size || read(fd, &extra, 1) != 0) {
		snprintf(why, whysz, "%s",
		         "the file changed while it was read");
		return KW_EIO;
	}
	return 0;
}

int kw_backup_read(const char *path, bool follow, uint64_t max, uint8_t **ret,
                   size_t *ret_len, char *why, size_t whysz)
{
	struct stat st;
	uint8_t *b = NULL;
	int r, fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK |
	                        (follow ? 0 : O_NOFOLLOW));
	if (fd < 0)
		return errno == ENOENT ?
		               KW_ENOTFOUND :
		       errno == EACCES || errno == ELOOP ?
		               read_fail(KW_EPERM, why, whysz, "open") :
		               read_fail(KW_EIO, why, whysz, "open");
	if (fstat(fd, &st) < 0) {
		r = read_fail(KW_EIO, why, whysz, "stat");
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, whysz, "%s", "not a regular file");
		r = KW_EPERM;
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		snprintf(why, whysz, "over %llu bytes",
		         (unsigned long long)max);
		r = KW_ETOOBIG;
		goto out;
	}
	b = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!b) {
		r = KW_ENOMEM;
		goto out;
	}
	r = read_all(fd, b, (size_t)st.st_size, why, whysz);
	if (r == 0) {
		*ret = b;
		*ret_len = (size_t)st.st_size;
		b = NULL;
	}
out:
	kw_backup_free(b, b ? (size_t)st.st_size : 0);
	close(fd);
	return r;
}
