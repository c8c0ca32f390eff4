/*
 * atomicfile.c - whole-file reads and atomic replacement (atomicfile.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "atomicfile.h"
#include "keyward.h"
#include "secmem.h"
#include "writeall.h"

/* Bytes a temporary name adds to the file's: '.', ".kw-", 12 hex. */
#define AF_TEMP_EXTRA 17u

__attribute__((format(printf, 4, 5))) static int
af_fail(int err, char *why, size_t whysz, const char *fmt, ...)
{
	int saved = errno;

	if (whysz) {
		va_list ap;

		va_start(ap, fmt);
		vsnprintf(why, whysz, fmt, ap);
		va_end(ap);
	}
	errno = saved;
	return err;
}

static void af_stamp(const struct stat *st, struct kw_filestamp *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->exists = true;
	ret->dev = st->st_dev;
	ret->ino = st->st_ino;
	ret->size = st->st_size;
	ret->mtime = st->st_mtim;
	ret->ctime = st->st_ctim;
}

static bool af_same(const struct kw_filestamp *a, const struct kw_filestamp *b)
{
	if (a->exists != b->exists)
		return false;
	if (!a->exists)
		return true;
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec &&
	       a->ctime.tv_sec == b->ctime.tv_sec &&
	       a->ctime.tv_nsec == b->ctime.tv_nsec;
}

int kw_filestamp_of(int fd, struct kw_filestamp *ret)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return KW_EIO;
	af_stamp(&st, ret);
	return 0;
}

/* The directory and the last component of path, in dirbuf and basebuf. */
static int af_split(const char *path, char *dirbuf, char *basebuf, char *why,
                    size_t whysz)
{
	size_t n = strlen(path);
	const char *slash;

	if (n == 0 || n >= PATH_MAX)
		return af_fail(KW_EINVAL, why, whysz,
		               "the path is empty or too long");
	if (path[n - 1] == '/')
		return af_fail(KW_EINVAL, why, whysz,
		               "the path names a directory");
	slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	size_t d = slash ? (size_t)(slash - path) : 0,
	       b = n - (size_t)(base - path);

	/* Checked before copying: basebuf holds NAME_MAX + 1 bytes, and the
	 * temporary name beside it must fit a file name too. */
	if (b > NAME_MAX - AF_TEMP_EXTRA)
		return af_fail(KW_EINVAL, why, whysz,
		               "the file name is too long");
	if (!slash) {
		memcpy(dirbuf, ".", 2);
	} else {
		memcpy(dirbuf, path, d ? d : 1); /* "/name": the root */
		dirbuf[d ? d : 1] = '\0';
	}
	memcpy(basebuf, base, b + 1);
	return 0;
}

/* The existing file, if any: its stat in *st, whether it exists. */
static int af_existing(int dfd, const char *base, struct stat *st,
                       bool *ret_exists, char *why, size_t whysz)
{
	if (fstatat(dfd, base, st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			return af_fail(KW_EIO, why, whysz,
			               "cannot look at the file: %s",
			               strerror(errno));
		*ret_exists = false;
		return 0;
	}
	if (S_ISLNK(st->st_mode))
		return af_fail(KW_EINVAL, why, whysz,
		               "it is a symbolic link; keyward does not write "
		               "through links (name the target instead)");
	if (!S_ISREG(st->st_mode))
		return af_fail(KW_EINVAL, why, whysz,
		               "it exists and is not a regular file");
	*ret_exists = true;
	return 0;
}

static int af_check_unchanged(int dfd, const char *base,
                              const struct kw_filestamp *expect, char *why,
                              size_t whysz)
{
	struct kw_filestamp now = { 0 };
	struct stat st;
	bool exists;
	int r = af_existing(dfd, base, &st, &exists, why, whysz);

	if (r < 0)
		return r;
	if (exists)
		af_stamp(&st, &now);
	if (!af_same(&now, expect))
		return af_fail(KW_ESTATE, why, whysz,
		               "the file changed since it was read; nothing "
		               "was written (run the command again)");
	return 0;
}

/* Give the new file its final mode and owner. */
static int af_finish_mode(int fd, const struct stat *old, bool keep,
                          mode_t mode, char *why, size_t whysz)
{
	if (keep && (old->st_uid != geteuid() || old->st_gid != getegid()) &&
	    fchown(fd, old->st_uid, old->st_gid) < 0)
		return af_fail(KW_EPERM, why, whysz,
		               "cannot keep the file's owner (uid %u gid %u): "
		               "%s",
		               (unsigned)old->st_uid, (unsigned)old->st_gid,
		               strerror(errno));
	if (fchmod(fd, keep ? old->st_mode & 07777 : mode & 07777) < 0)
		return af_fail(KW_EIO, why, whysz, "cannot set the mode: %s",
		               strerror(errno));
	return 0;
}

/* A fresh temporary name beside base: ".BASE.kw-" + 12 hex digits. 0, or
 * KW_EINVAL if it does not fit sz (af_split keeps base short enough). */
static int af_temp_name(const char *base, char *out, size_t sz)
{
	uint8_t rnd[6];
	char hex[13];

	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
	int n = snprintf(out, sz, ".%s.kw-%s", base, hex);
	return n < 0 || (size_t)n >= sz ? KW_EINVAL : 0;
}

static int af_write_temp(int dfd, const char *tmp, const void *data, size_t len,
                         const struct stat *old, bool keep, mode_t mode,
                         char *why, size_t whysz)
{
	int fd = openat(dfd, tmp,
	                O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	                0600);
	int r = 0;

	if (fd < 0)
		return af_fail(KW_EIO, why, whysz,
		               "cannot create a file in its directory: %s",
		               strerror(errno));
	if (kw_write_all(fd, data, len) < 0)
		r = af_fail(KW_EIO, why, whysz, "cannot write: %s",
		            strerror(errno));
	else if (fsync(fd) < 0)
		r = af_fail(KW_EIO, why, whysz, "cannot sync: %s",
		            strerror(errno));
	if (r == 0)
		r = af_finish_mode(fd, old, keep, mode, why, whysz);
	if (r < 0) {
		int saved = errno;

		/* Free the blocks that hold the data before the name goes. */
		if (ftruncate(fd, 0) < 0)
			(void)0;
		errno = saved;
	}
	close(fd);
	return r;
}

int kw_atomic_replace(const char *path, const void *data, size_t len,
                      mode_t mode, unsigned flags,
                      const struct kw_filestamp *expect, char *why,
                      size_t whysz)
{
	char dir[PATH_MAX], base[NAME_MAX + 1], tmp[NAME_MAX + 1];
	struct stat old;
	bool exists = false;
	int dfd, r;

	if (whysz)
		why[0] = '\0';
	if ((flags & KW_ATOMIC_IF_UNCHANGED) && !expect)
		return af_fail(KW_EINVAL, why, whysz, "no stamp to compare");
	if ((r = af_split(path, dir, base, why, whysz)) < 0)
		return r;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return af_fail(KW_EIO, why, whysz,
		               "cannot open its directory: %s",
		               strerror(errno));
	r = af_existing(dfd, base, &old, &exists, why, whysz);
	if (r == 0 && (flags & KW_ATOMIC_IF_UNCHANGED))
		r = af_check_unchanged(dfd, base, expect, why, whysz);
	if (r < 0)
		goto out;
	if ((r = af_temp_name(base, tmp, sizeof(tmp))) < 0) {
		af_fail(r, why, whysz, "the file name is too long");
		goto out;
	}
	r = af_write_temp(dfd, tmp, data, len, &old,
	                  exists && (flags & KW_ATOMIC_KEEP_OWNER), mode, why,
	                  whysz);
	if (r < 0)
		goto out_unlink;
	/* Last look just before the rename narrows the window for a writer
	 * racing us to the time of one rename. */
	if ((flags & KW_ATOMIC_IF_UNCHANGED) &&
	    (r = af_check_unchanged(dfd, base, expect, why, whysz)) < 0)
		goto out_unlink;
	if (renameat(dfd, tmp, dfd, base) < 0) {
		r = af_fail(KW_EIO, why, whysz, "cannot rename into place: %s",
		            strerror(errno));
		goto out_unlink;
	}
	if (fsync(dfd) < 0)
		/* The new file is in place; only its durability is unsure. */
		r = af_fail(KW_EIO, why, whysz,
		            "replaced, but syncing the directory failed: %s",
		            strerror(errno));
	goto out;

out_unlink:
	unlinkat(dfd, tmp, 0);
out:
	close(dfd);
	return r;
}

static int af_read(const char *path, bool follow, size_t max, char **ret_data,
                   size_t *ret_len, struct kw_filestamp *ret_stamp, char *why,
                   size_t whysz)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd, r = 0;

	if (whysz)
		why[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK |
	                        (follow ? 0 : O_NOFOLLOW));
	if (fd < 0) {
		if (errno == ENOENT)
			return af_fail(KW_ENOTFOUND, why, whysz,
			               "no such file");
		if (errno == ELOOP && !follow)
			return af_fail(KW_EINVAL, why, whysz,
			               "it is a symbolic link (name the "
			               "target instead)");
		if (errno == EACCES)
			return af_fail(KW_EPERM, why, whysz,
			               "permission denied");
		return af_fail(KW_EIO, why, whysz, "cannot open: %s",
		               strerror(errno));
	}
	if (fstat(fd, &st) < 0) {
		r = af_fail(KW_EIO, why, whysz, "cannot stat: %s",
		            strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = af_fail(KW_EINVAL, why, whysz, "not a regular file");
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		r = af_fail(KW_ETOOBIG, why, whysz, "larger than %zu bytes",
		            max);
		goto out;
	}
	buf = kw_wipealloc(max + 1);
	if (!buf) {
		r = af_fail(KW_ENOMEM, why, whysz, "out of memory");
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, max + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = af_fail(KW_EIO, why, whysz, "cannot read: %s",
			            strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max) {
			r = af_fail(KW_ETOOBIG, why, whysz,
			            "larger than %zu bytes", max);
			goto out;
		}
	}
	buf[len] = '\0';
	if (ret_stamp)
		af_stamp(&st, ret_stamp);
	*ret_data = buf;
	*ret_len = len;
	buf = NULL;
out:
	kw_wipefree(buf);
	close(fd);
	return r;
}

int kw_file_read(const char *path, size_t max, char **ret_data, size_t *ret_len,
                 struct kw_filestamp *ret_stamp, char *why, size_t whysz)
{
	return af_read(path, false, max, ret_data, ret_len, ret_stamp, why,
	               whysz);
}

int kw_file_read_follow(const char *path, size_t max, char **ret_data,
                        size_t *ret_len, struct kw_filestamp *ret_stamp,
                        char *why, size_t whysz)
{
	return af_read(path, true, max, ret_data, ret_len, ret_stamp, why,
	               whysz);
}
