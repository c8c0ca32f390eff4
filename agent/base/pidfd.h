/*
 * pidfd.h - descriptors of processes (pidfds): one refers to the process
 * it was taken for, not to its number, which the kernel may hand to a
 * later process once the first is gone.
 */
#ifndef KW_PIDFD_H
#define KW_PIDFD_H

#include <stdbool.h>
#include <sys/types.h>

/* pidfd_open(pid) (Linux 5.3), close-on-exec; -1 (errno set) if pid is
 * gone or the kernel lacks the call. */
int pidfd_of(pid_t pid);

/*
 * The process of pidfd has not exited: a pidfd polls readable once it
 * has (Linux 5.3). Unlike pidfd_send_signal, poll needs no right to
 * signal the process, and valgrind knows it (3.19 answers ENOSYS to
 * pidfd_send_signal).
 */
bool pidfd_alive(int pidfd);

/*
 * The pidfd of the peer of a connected Unix socket (SO_PEERPIDFD, Linux
 * 6.5), made sure to be close-on-exec, so that a program started later
 * can never hold it; or -1. *ret_gone (may be NULL) is set when the
 * kernel knows the option but no live process is behind the peer any
 * more (EINVAL, ESRCH); ENOPROTOOPT (an older kernel) leaves it false.
 */
int pidfd_of_peer(int sock, bool *ret_gone);

#endif
