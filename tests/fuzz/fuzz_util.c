/*
 * fuzz_util.c - scratch files on tmpfs for the targets whose parser reads a
 * file (see fuzz.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

static char scratch[256];

static int remove_one(const char *path, const struct stat *st, int type,
                      struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	remove(path);
	return 0;
}

void fuzz_remove_tree(const char *path)
{
	nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void remove_scratch(void)
{
	if (scratch[0])
		fuzz_remove_tree(scratch);
}

const char *fuzz_scratch_dir(void)
{
	if (scratch[0])
		return scratch;
	/* tmpfs: the targets write a file per input. */
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(scratch, sizeof(scratch), "%s/kwfuzz-XXXXXX", base);
	if (!mkdtemp(scratch)) {
		fprintf(stderr, "fuzz: mkdtemp %s: %s\n", scratch,
		        strerror(errno));
		abort();
	}
	atexit(remove_scratch);
	return scratch;
}

void fuzz_write_file(const char *path, const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t off = 0;

	if (fd < 0) {
		fprintf(stderr, "fuzz: %s: %s\n", path, strerror(errno));
		abort();
	}
	while (off < size) {
		ssize_t n = write(fd, data + off, size - off);
		if (n <= 0) {
			fprintf(stderr, "fuzz: %s: short write\n", path);
			abort();
		}
		off += (size_t)n;
	}
	close(fd);
}
