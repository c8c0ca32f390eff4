/*
 * spawn_peer.h - is a process this very program? The check each end of a
 * spawner connection (keywardd, and keywardd --spawner started by its
 * own socket unit: spawn_service.h) makes of the other before it trusts
 * it (spawn_msg.h, SPAWN_HELLO).
 *
 * /proc/PID/exe names whatever process holds PID now. A pidfd of the
 * process meant, still alive after the read, proves that the number was
 * not passed on in between. Reading another process's exe needs
 * ptrace-read access to it: a process of our uid that is not dumpable (as
 * keywardd makes itself at start, harden.h) shows nothing unless we are
 * root. The callers decide what that means for them.
 *
 * Only before the key holder confines itself: its seccomp filter and
 * Landlock rules leave /proc reads and pidfd_open as they are, but these
 * run at its start anyway.
 */
#ifndef KW_SPAWN_PEER_H
#define KW_SPAWN_PEER_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Does pid run the same executable file (device and inode) as this
 * process, and is pidfd (a pidfd of pid, taken before the read; -1
 * fails: pidfd_open is older than every kernel the spawner runs on, as
 * spawner.c watches its commands through pidfds) still alive after it?
 * 0 yes; KW_EDENIED no; KW_EPERM the kernel would not show pid's
 * executable (EACCES: pid is not dumpable, or of another uid); KW_EIO.
 * Unless 0, why (why_size bytes) says what was wrong; it names pids and
 * files, nothing secret.
 */
int spawn_peer_same_exe(pid_t pid, int pidfd, char *why, size_t why_size);

#endif
