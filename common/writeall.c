/*
 * writeall.c - write a whole buffer to a descriptor (see writeall.h).
 */
#include "writeall.h"

#include <errno.h>
#include <poll.h>
#include <unistd.h>

#include "keyward.h"

/* Wait until fd takes more bytes. 0, or -1 with errno. */
static int wait_writable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };

	while (poll(&pfd, 1, -1) < 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

int kw_write_all(int fd, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n > 0) {
		ssize_t w = write(fd, b, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_writable(fd) < 0)
				return KW_EIO;
			continue;
		}
		if (w < 0)
			return KW_EIO;
		if (w == 0) {
			errno = EIO;
			return KW_EIO;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}
