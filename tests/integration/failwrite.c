/*
 * failwrite.c - an LD_PRELOAD shim for fault tests: while the file named
 * by $KW_FAILWRITE_TRIGGER exists, write() to a file whose name ends in
 * "audit.checkpoints" behaves as on a filesystem that is filling up: each
 * call writes half of what it was given, and a call for one byte fails
 * with ENOSPC. An append that does not handle short writes and failures
 * leaves a torn line. Every other call goes to the real function.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

ssize_t write(int fd, const void *buf, size_t count);

static bool failwrite_now(int fd)
{
	static const char suffix[] = "audit.checkpoints";
	const char *trigger = getenv("KW_FAILWRITE_TRIGGER");
	char link[64], target[4096];
	size_t n;

	if (!trigger || access(trigger, F_OK) != 0)
		return false;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t len = readlink(link, target, sizeof(target) - 1);
	if (len < (ssize_t)sizeof(suffix) - 1)
		return false;
	n = (size_t)len;
	target[n] = '\0';
	return strcmp(target + n - (sizeof(suffix) - 1), suffix) == 0;
}

typedef ssize_t (*write_fn)(int, const void *, size_t);

ssize_t write(int fd, const void *buf, size_t count)
{
	void *sym = dlsym(RTLD_NEXT, "write");
	write_fn real = NULL;
	/* ISO C has no cast from object to function pointer; POSIX
	 * guarantees the representation, so copy it. */
	memcpy(&real, &sym, sizeof(real));
	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	if (count > 0 && failwrite_now(fd)) {
		if (count == 1) {
			errno = ENOSPC;
			return -1;
		}
		count /= 2;
	}
	return real(fd, buf, count);
}
