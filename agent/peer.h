/*
 * peer.h - who is on the other end of a Unix socket.
 *
 * uid/gid/pid come from SO_PEERCRED (taken by the kernel at connect time).
 * Where the kernel offers SO_PEERPIDFD (Linux 6.5+) the agent also keeps a
 * pidfd, and checks after reading /proc/PID/exe that the pidfd's process is
 * still alive, so a recycled pid cannot lend its executable to a dead
 * peer. The executable's SHA-256 is computed only when a policy pins one,
 * and cached by (device, inode, size, mtime).
 *
 * Reading another uid's /proc/PID/exe needs ptrace-read access: when the
 * agent lacks it, exe stays "" and policy sections naming an exe do not
 * match (fail closed).
 */
#ifndef KW_PEER_H
#define KW_PEER_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

typedef struct peer_info {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	int pidfd;          /* -1 if the kernel has no SO_PEERPIDFD */
	char exe[PATH_MAX]; /* "" if unknown */
	bool exe_known;     /* exe and the st_* fields are valid */
	dev_t exe_dev;
	ino_t exe_ino;
	off_t exe_size;
	struct timespec exe_mtime;
} peer_info;

/* Fill *ret from the connected socket fd. KW_EIO if SO_PEERCRED fails;
 * exe problems are not errors (exe_known false). */
int peer_from_socket(int fd, peer_info *ret);
/* Close the pidfd. Safe twice. */
void peer_release(peer_info *p);

typedef struct exe_hash_cache exe_hash_cache;
int exe_hash_cache_new(size_t max, exe_hash_cache **ret_cache);
void exe_hash_cache_free(exe_hash_cache *c);
/*
 * SHA-256 of the peer's executable: opens /proc/PID/exe, checks it is still
 * the file seen at connect (dev, ino, size, mtime) and, with a pidfd, that
 * the process is alive; then hashes it or returns the cached digest.
 * KW_ENOTFOUND if the exe is unknown or changed; KW_EIO on read errors.
 */
int peer_exe_sha256(exe_hash_cache *c, const peer_info *p, uint8_t out[32]);

/* For tests and diagnostics: lookups answered from the cache. */
size_t exe_hash_cache_hits(const exe_hash_cache *c);

#endif
