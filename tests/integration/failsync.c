/*
 * failsync.c - an LD_PRELOAD shim for fault tests: while the file named by
 * $KW_FAILSYNC_TRIGGER exists, fsync() and fdatasync() on a SQLite WAL
 * file ("...-wal") fail with EIO, as a dying disk would make them. With
 * $KW_FAILSYNC_WRITES set to "EROFS" or "ENOSPC", writes to the WAL
 * (write, pwrite64) fail instead, with that errno and nothing written, as
 * a read-only or full filesystem refuses them. Every other call goes to
 * the real function.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int fsync(int fd);
int fdatasync(int fd);
ssize_t write(int fd, const void *buf, size_t n);
ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off);

static bool failsync_now(int fd)
{
	const char *trigger = getenv("KW_FAILSYNC_TRIGGER");
	char link[64], target[4096];

	if (!trigger || access(trigger, F_OK) != 0)
		return false;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	if (n < 4)
		return false;
	target[n] = '\0';
	return strcmp(target + n - 4, "-wal") == 0;
}

/* The errno writes fail with, 0 when they do not (KW_FAILSYNC_WRITES). */
static int failwrite_errno(void)
{
	const char *w = getenv("KW_FAILSYNC_WRITES");
	if (!w)
		return 0;
	if (strcmp(w, "EROFS") == 0)
		return EROFS;
	if (strcmp(w, "ENOSPC") == 0)
		return ENOSPC;
	return 0;
}

typedef int (*sync_fn)(int);

static int failsync_call(const char *name, int fd)
{
	void *sym = dlsym(RTLD_NEXT, name);
	sync_fn real = NULL;
	/* ISO C has no cast from object to function pointer; POSIX
	 * guarantees the representation, so copy it. */
	memcpy(&real, &sym, sizeof(real));
	if (!failwrite_errno() && failsync_now(fd)) {
		errno = EIO;
		return -1;
	}
	return real ? real(fd) : -1;
}

int fsync(int fd)
{
	return failsync_call("fsync", fd);
}

int fdatasync(int fd)
{
	return failsync_call("fdatasync", fd);
}

typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);

ssize_t write(int fd, const void *buf, size_t n)
{
	void *sym = dlsym(RTLD_NEXT, "write");
	write_fn real = NULL;
	memcpy(&real, &sym, sizeof(real));
	int e = failwrite_errno();
	if (e && failsync_now(fd)) {
		errno = e;
		return -1;
	}
	return real ? real(fd, buf, n) : -1;
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	void *sym = dlsym(RTLD_NEXT, "pwrite64");
	pwrite_fn real = NULL;
	memcpy(&real, &sym, sizeof(real));
	int e = failwrite_errno();
	if (e && failsync_now(fd)) {
		errno = e;
		return -1;
	}
	return real ? real(fd, buf, n, off) : -1;
}
