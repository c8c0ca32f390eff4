/*
 * pidfd.c - see pidfd.h.
 */
#include "pidfd.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sockcompat.h"

int pidfd_of(pid_t pid)
{
	int fd;

	if (pid <= 0) {
		errno = ESRCH;
		return -1;
	}
	/* pidfd_open sets close-on-exec itself. */
	fd = (int)syscall(SYS_pidfd_open, pid, 0u);
	return fd >= 0 ? fd : -1;
}

bool pidfd_alive(int pidfd)
{
	struct pollfd pfd = { .fd = pidfd, .events = POLLIN };

	return poll(&pfd, 1, 0) == 0;
}

int pidfd_of_peer(int sock, bool *ret_gone)
{
	int pidfd = -1, flags;
	socklen_t len = sizeof(pidfd);

	if (ret_gone)
		*ret_gone = false;
	if (getsockopt(sock, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0) {
		if (ret_gone)
			*ret_gone = errno == EINVAL || errno == ESRCH;
		return -1;
	}
	if (len != sizeof(pidfd) || pidfd < 0)
		return -1;
	flags = fcntl(pidfd, F_GETFD);
	if (flags < 0 || (!(flags & FD_CLOEXEC) &&
	                  fcntl(pidfd, F_SETFD, flags | FD_CLOEXEC) < 0)) {
		close(pidfd);
		return -1;
	}
	return pidfd;
}
