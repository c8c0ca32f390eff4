/*
 * procexe.c - see procexe.h.
 */
#include "procexe.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keyward.h"

#define DELETED_SUFFIX " (deleted)"

static void id_of(const struct stat *st, procexe_id *ret)
{
	*ret = (procexe_id){ .dev = st->st_dev,
		             .ino = st->st_ino,
		             .size = st->st_size,
		             .mtime = st->st_mtim };
}

bool procexe_id_equal(const procexe_id *a, const procexe_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec;
}

int procexe_stat(int procfd, procexe_id *ret_id)
{
	struct stat st;

	if (procfd < 0 || fstatat(procfd, "exe", &st, 0) < 0)
		return KW_ENOTFOUND;
	id_of(&st, ret_id);
	return 0;
}

int procexe_read(int procfd, char path[static PATH_MAX], procexe_id *ret_id)
{
	char exe[PATH_MAX];
	const size_t dl = strlen(DELETED_SUFFIX);
	procexe_id before, after;
	struct stat st, by_path;
	ssize_t n;

	path[0] = '\0';
	if (procexe_stat(procfd, &before) < 0)
		return KW_ENOTFOUND;
	n = readlinkat(procfd, "exe", exe, sizeof(exe));
	if (n <= 0 || (size_t)n >= sizeof(exe))
		return KW_ENOTFOUND;
	exe[n] = '\0';
	if (exe[0] != '/' ||
	    ((size_t)n >= dl && strcmp(exe + n - dl, DELETED_SUFFIX) == 0))
		return KW_ENOTFOUND;
	if (fstatat(procfd, "exe", &st, 0) < 0 || !S_ISREG(st.st_mode))
		return KW_ENOTFOUND;
	id_of(&st, &after);
	if (!procexe_id_equal(&before, &after))
		return KW_ENOTFOUND;
	if (stat(exe, &by_path) < 0 || by_path.st_dev != st.st_dev ||
	    by_path.st_ino != st.st_ino)
		return KW_ENOTFOUND;
	memcpy(path, exe, (size_t)n + 1);
	*ret_id = after;
	return 0;
}

int procexe_open(int procfd, const procexe_id *want)
{
	struct stat st;
	procexe_id id;
	int fd;

	if (procfd < 0)
		return KW_ENOTFOUND;
	fd = openat(procfd, "exe", O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return KW_ENOTFOUND;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return KW_ENOTFOUND;
	}
	id_of(&st, &id);
	if (!procexe_id_equal(&id, want)) {
		close(fd);
		return KW_ENOTFOUND;
	}
	return fd;
}

int procexe_maps_open(int procfd)
{
	int fd;

	if (procfd < 0)
		return KW_ENOTFOUND;
	fd = openat(procfd, "maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return KW_ENOTFOUND;
	/* A process without an address space (a kernel thread, or one
	 * that is exiting) reads empty from the start. */
	if (procexe_execd(fd)) {
		close(fd);
		return KW_ENOTFOUND;
	}
	return fd;
}

bool procexe_execd(int maps_fd)
{
	char b;
	ssize_t n;

	do {
		n = pread(maps_fd, &b, 1, 0);
	} while (n < 0 && errno == EINTR);
	return n != 1;
}
