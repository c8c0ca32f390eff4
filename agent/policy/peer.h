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
 * A connection belongs to the process that opened it. SO_PEERCRED names
 * that process only: a child it forked, or a process it passed the socket
 * to, can write on the same connection. So every read is taken with
 * recvmsg under SO_PASSCRED: the kernel attaches the writer's credentials
 * to each read, and never merges the bytes of two writers into one read
 * of a stream socket (it stops the read where the writer changes).
 * peer_sender_check then says whether the writer is the connection's
 * process. Threads share their process's pid (the kernel reports the
 * thread group id), so they pass.
 *
 * The pid alone could name a later process once the first is gone. The
 * agent keeps /proc/PID open (procfd): that directory stays bound to the
 * process it was opened for, and lookups in it fail once that process is
 * gone, even if its number is reused. So one fstatat(procfd, "exe") per
 * read proves the writer is the connection's live process and says
 * whether it exec'd another program since (the pid survives an exec).
 * Where /proc/PID cannot be kept (no /proc, a peer in a pid namespace the
 * agent cannot see), SO_PASSPIDFD (Linux 6.5) hands over a pidfd of each
 * writer, compared with the connection's pidfd on pidfs (Linux 6.9), or
 * else the connection's pidfd must not have exited.
 *
 * Reading another uid's /proc/PID/exe needs ptrace-read access: when the
 * agent lacks it, exe stays "" and policy sections naming an exe do not
 * match (fail closed).
 *
 * A process under Landlock has no ptrace-read access to any process
 * outside its domain, its clients included. Confined so, keywardd names
 * a broker (peer_set_exe_broker): its command spawner, which is not
 * confined, reads the link for it at connect, after an exec, and opens the
 * executable when its SHA-256 is needed. An exec is then noticed without
 * the link: the broker also opens the peer's /proc/PID/maps, which reads
 * empty once the process has exec'd (procexe.h), one pread per read.
 */
#ifndef KW_PEER_H
#define KW_PEER_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "procexe.h"

typedef struct peer_info {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	int pidfd;  /* -1 if the kernel has no SO_PEERPIDFD */
	int procfd; /* /proc/PID (O_PATH), bound to the process; or -1 */
	/* The pidfd lives on pidfs (Linux 6.9+), where its inode names the
	 * process: a writer's pidfd with the same inode is the same process. */
	bool pidfd_pidfs;
	dev_t pidfd_dev;
	ino_t pidfd_ino;
	/* What /proc/PID/exe was last seen to be, known or not (so that an
	 * unchanged executable costs one stat per read, not a re-read). Not
	 * used with a broker. */
	bool seen;
	procexe_id seen_id;
	/* With a broker: the peer's /proc/PID/maps, to notice an exec
	 * (procexe.h); or -1. */
	int maps_fd;
	char exe[PATH_MAX]; /* "" if unknown */
	bool exe_known;     /* exe and exe_id are valid */
	procexe_id exe_id;
} peer_info;

/* Turn on SO_PASSCRED on the listening socket, so that accepted sockets
 * have it from the start. Linux (6.18 seen) attaches a writer's
 * credentials to bytes written on an accepted socket only if that socket
 * asks for them at the time of the write: bytes written between accept
 * and a later setsockopt would come with pid 0. KW_EIO on failure. */
int peer_listen_setup(int listen_fd);
/*
 * Reads the executable of the process whose /proc/PID directory procfd
 * is, on behalf of a process that may not (procexe.h): as procexe_read,
 * into path and *ret_id. Where ret_exe_fd is not NULL it also opens the
 * executable (procexe_open), and where ret_maps_fd is not NULL the maps
 * (procexe_maps_open, opened before the link is read); each -1 when not
 * opened. 0 if the executable is known, KW_ENOTFOUND if not, other
 * errors (the broker is gone) count as not known.
 */
typedef int (*peer_exe_broker_fn)(void *arg, int procfd,
                                  char path[static PATH_MAX],
                                  procexe_id *ret_id, int *ret_exe_fd,
                                  int *ret_maps_fd);
/* From now on, read executables through fn (NULL: directly again). For
 * the whole process: keywardd sets it once, when it confines itself. */
void peer_set_exe_broker(peer_exe_broker_fn fn, void *arg);

/* Fill *ret from the connected socket fd and turn on SO_PASSCRED (and
 * SO_PASSPIDFD where /proc/PID cannot be kept) for peer_recv. KW_EIO if
 * SO_PEERCRED or SO_PASSCRED fails; exe problems are not errors
 * (exe_known false). */
int peer_from_socket(int fd, peer_info *ret);
/* Close the pidfd, procfd and maps descriptor. Safe twice. */
void peer_release(peer_info *p);

/* Who wrote the bytes of one read. */
typedef struct peer_sender {
	bool creds; /* the read carried SCM_CREDENTIALS */
	pid_t pid;  /* the writer's process (thread group) id */
	uid_t uid;
	gid_t gid;
	int pidfd; /* SCM_PIDFD, or -1 (no SO_PASSPIDFD, or none fitted) */
} peer_sender;

/*
 * recv(2) on a socket set up by peer_from_socket, non-blocking, with the
 * writer of the bytes read in *ret_from (valid when the result is > 0).
 * Returns and sets errno as recv does. File descriptors a peer sends
 * (SCM_RIGHTS) are closed unread. Call peer_sender_release afterwards,
 * whatever the result.
 */
ssize_t peer_recv(int fd, void *buf, size_t len, peer_sender *ret_from);
/* Close s's pidfd. Safe twice. */
void peer_sender_release(peer_sender *s);
/*
 * Is s the process p describes (the one that opened the connection), and
 * still alive? 0 if it is; KW_EDENIED if not, or if that cannot be
 * established, with a sentence saying why in why (pids only).
 * On 0, *ret_exe_changed says whether p's exe fields were read anew
 * because the process exec'd (or the file it runs changed) since it was
 * last looked at: attribution must then be redone.
 */
int peer_sender_check(peer_info *p, const peer_sender *s, bool *ret_exe_changed,
                      char *why, size_t whysz);
/* The executable of pid, for a log line or audit row about a process
 * that is not a connection's peer: "" if unknown. */
void peer_exe_of(pid_t pid, char out[static PATH_MAX]);

typedef struct exe_hash_cache exe_hash_cache;
int exe_hash_cache_new(size_t max, exe_hash_cache **ret_cache);
void exe_hash_cache_free(exe_hash_cache *c);
/*
 * SHA-256 of the peer's executable: opens /proc/PID/exe (through the
 * broker, if one is set), checks it is still the file seen at connect
 * (dev, ino, size, mtime) of the live process; then hashes it or returns
 * the cached digest.
 * KW_ENOTFOUND if the exe is unknown or changed; KW_EIO on read errors.
 */
int peer_exe_sha256(exe_hash_cache *c, const peer_info *p, uint8_t out[32]);

/* For tests and diagnostics: lookups answered from the cache. */
size_t exe_hash_cache_hits(const exe_hash_cache *c);

#endif
