/*
 * failsync.c - an LD_PRELOAD shim for fault tests: while the file named by
 * $KW_FAILSYNC_TRIGGER exists, fsync() and fdatasync() on a SQLite WAL
 * file ("...-wal") fail with EIO, as a dying disk would make them. Every
 * other call goes to the real function.
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

typedef int (*sync_fn)(int);

static int failsync_call(const char *name, int fd)
{
	void *sym = dlsym(RTLD_NEXT, name);
	sync_fn real = NULL;
	/* ISO C has no cast from object to function pointer; POSIX
	 * guarantees the representation, so copy it. */
	memcpy(&real, &sym, sizeof(real));
	if (failsync_now(fd)) {
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
