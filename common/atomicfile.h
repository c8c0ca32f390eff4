/*
 * atomicfile.h - read a file whole, and replace one so that a reader sees
 * the old bytes or the new, never a mix, and a crash leaves one of the two.
 *
 * Used where keyward writes files other programs read: `keyward inject`
 * output, MCP client configs rewritten by `keyward mcp import`, client
 * tokens and policy files it creates.
 */
#ifndef KW_ATOMICFILE_H
#define KW_ATOMICFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

/* Keep the replaced file's mode and owner (mode is used for a new file). */
#define KW_ATOMIC_KEEP_OWNER 0x1u
/* Replace only if the file is still the one *expect describes. */
#define KW_ATOMIC_IF_UNCHANGED 0x2u

/* What identifies one state of a file: when any member differs, it changed
 * (or was replaced) since the stamp was taken. */
struct kw_filestamp {
	bool exists;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
};

/* The stamp of an open file. 0 or KW_EIO (errno set). */
int kw_filestamp_of(int fd, struct kw_filestamp *st);

/*
 * Replace path with the len bytes at data: a new file beside it (same
 * directory, exclusive create, mode 0600 while written), write, fsync,
 * give it its mode (and owner), rename it over path, fsync the directory.
 * Refuses with KW_EINVAL when path is a symbolic link or exists and is not
 * a regular file; with KW_ATOMIC_IF_UNCHANGED fails with KW_ESTATE when
 * path no longer matches *expect (created, deleted, written or replaced
 * since). Other failures: KW_EIO, KW_EPERM (the owner cannot be kept),
 * KW_ENOMEM. On any failure path is untouched and the new file is removed;
 * why gets a sentence naming the step (never the data).
 */
int kw_atomic_replace(const char *path, const void *data, size_t len,
                      mode_t mode, unsigned flags,
                      const struct kw_filestamp *expect, char *why,
                      size_t whysz);

/*
 * Read the regular file path, at most max bytes, into kw_wipealloc memory
 * with a NUL after the last byte (free with kw_wipefree: the bytes may be
 * secrets), and its stamp (ret_stamp may be NULL). A symbolic link is
 * refused (KW_EINVAL). KW_ENOTFOUND when it does not exist, KW_ETOOBIG
 * over max bytes, KW_EIO (errno kept) or KW_EPERM on other failures; why
 * says which, naming no content.
 */
int kw_file_read(const char *path, size_t max, char **ret_data, size_t *ret_len,
                 struct kw_filestamp *ret_stamp, char *why, size_t whysz);
/* kw_file_read, following a symbolic link to its target. */
int kw_file_read_follow(const char *path, size_t max, char **ret_data,
                        size_t *ret_len, struct kw_filestamp *ret_stamp,
                        char *why, size_t whysz);

#endif
