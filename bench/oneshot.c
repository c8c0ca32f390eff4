/*
 * oneshot - the smallest possible one-process-per-request client: connect
 * to a Unix socket, send one line, read one line back, exit 0. Timed as a
 * whole process against `keyward get`, it shows what starting a process and
 * one round trip cost without any library or protocol work.
 *
 * usage: oneshot SOCKET_PATH   (exit 1 if no complete line comes back)
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	static const char req[] =
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"secret.get\","
		"\"params\":{\"name\":\"bench/s64\"}}\n";
	struct sockaddr_un sa;
	char buf[4096];
	size_t n, got = 0;
	ssize_t w;
	int fd;

	if (argc != 2) {
		fputs("usage: oneshot SOCKET_PATH\n", stderr);
		return 2;
	}
	n = strlen(argv[1]);
	if (n >= sizeof(sa.sun_path)) {
		fputs("oneshot: socket path too long\n", stderr);
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, argv[1], n + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("oneshot: connect");
		return 1;
	}
	w = send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL);
	if (w != (ssize_t)(sizeof(req) - 1)) {
		perror("oneshot: send");
		return 1;
	}
	while (got < sizeof(buf)) {
		ssize_t r = read(fd, buf + got, sizeof(buf) - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (memchr(buf + got, '\n', (size_t)r)) {
			close(fd);
			return 0;
		}
		got += (size_t)r;
	}
	fputs("oneshot: no complete line back\n", stderr);
	close(fd);
	return 1;
}
