/*
 * echo_server - the floor for a request/response round trip over a Unix
 * socket on this machine: one epoll thread that answers every
 * newline-terminated line it receives with the same fixed 100-byte JSON
 * line, without parsing anything. Whatever keywardd costs above this is the
 * price of its own work.
 *
 * usage: echo_server SOCKET_PATH
 * Runs until SIGTERM or SIGINT, then removes the socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define REPLY_LEN 100u
#define IN_BUF    65536u

/* Exactly REPLY_LEN bytes, the last one the newline. */
static const char reply[REPLY_LEN + 1] =
	"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"value\":"
	"\"ZWNobyBlY2hvIGVjaG8gZWNobyBlY2hvIGVjaG8gZWNobw==\"}}     \n";

struct client {
	int fd;
	size_t owed; /* reply bytes not yet written */
	size_t off;  /* position within the reply of the next byte owed */
	bool out;    /* waiting for EPOLLOUT */
};

static volatile sig_atomic_t stop_now;

static void on_signal(int sig)
{
	(void)sig;
	stop_now = 1;
}

static void client_free(int ep, struct client *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
}

/* Write what is owed; false when the client is gone. */
static bool client_flush(int ep, struct client *c)
{
	char buf[REPLY_LEN * 16];
	struct epoll_event ev;

	while (c->owed > 0) {
		size_t n = 0;
		ssize_t w;
		/* Lay out the owed bytes starting at c->off in the reply. */
		while (n < sizeof(buf) && n < c->owed) {
			size_t k = REPLY_LEN - (c->off + n) % REPLY_LEN;
			if (k > sizeof(buf) - n)
				k = sizeof(buf) - n;
			if (k > c->owed - n)
				k = c->owed - n;
			memcpy(buf + n, reply + (c->off + n) % REPLY_LEN, k);
			n += k;
		}
		w = send(c->fd, buf, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (!c->out) {
				ev.events = EPOLLOUT;
				ev.data.ptr = c;
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
				c->out = true;
			}
			return true;
		}
		if (w < 0)
			return false;
		c->owed -= (size_t)w;
		c->off = (c->off + (size_t)w) % REPLY_LEN;
	}
	if (c->out) {
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
		c->out = false;
	}
	return true;
}

/* Count the newlines that arrived; owe one reply for each. */
static bool client_read(int ep, struct client *c)
{
	char buf[IN_BUF];

	for (;;) {
		ssize_t r = read(c->fd, buf, sizeof(buf));
		const char *p, *end;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (r <= 0)
			return false;
		end = buf + r;
		for (p = buf; (p = memchr(p, '\n', (size_t)(end - p))); p++)
			c->owed += REPLY_LEN;
		if ((size_t)r < sizeof(buf))
			break;
	}
	return client_flush(ep, c);
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa;
	struct epoll_event ev, evs[64];
	struct sigaction sig;
	int lfd, ep;
	size_t n;

	if (argc != 2) {
		fputs("usage: echo_server SOCKET_PATH\n", stderr);
		return 2;
	}
	if (strlen(reply) != REPLY_LEN || reply[REPLY_LEN - 1] != '\n') {
		fputs("echo_server: the reply is not 100 bytes\n", stderr);
		return 2;
	}
	n = strlen(argv[1]);
	if (n >= sizeof(sa.sun_path)) {
		fputs("echo_server: socket path too long\n", stderr);
		return 2;
	}
	memset(&sig, 0, sizeof(sig));
	sig.sa_handler = on_signal;
	sigaction(SIGINT, &sig, NULL);
	sigaction(SIGTERM, &sig, NULL);
	signal(SIGPIPE, SIG_IGN);

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, argv[1], n + 1);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, 512) < 0) {
		perror("echo_server: listen");
		return 1;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0) {
		perror("echo_server: epoll_create1");
		return 1;
	}
	ev.events = EPOLLIN;
	ev.data.ptr = NULL; /* the listening socket */
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0) {
		perror("echo_server: epoll_ctl");
		return 1;
	}

	while (!stop_now) {
		int nev = epoll_wait(ep, evs, 64, -1), k;
		if (nev < 0 && errno == EINTR)
			continue;
		if (nev < 0) {
			perror("echo_server: epoll_wait");
			break;
		}
		for (k = 0; k < nev; k++) {
			struct client *c = evs[k].data.ptr;
			if (!c) {
				int fd;
				while ((fd = accept4(lfd, NULL, NULL,
				                     SOCK_CLOEXEC |
				                             SOCK_NONBLOCK)) >=
				       0) {
					c = calloc(1, sizeof(*c));
					if (!c) {
						close(fd);
						continue;
					}
					c->fd = fd;
					ev.events = EPOLLIN;
					ev.data.ptr = c;
					if (epoll_ctl(ep, EPOLL_CTL_ADD, fd,
					              &ev) < 0) {
						close(fd);
						free(c);
					}
				}
				continue;
			}
			if ((evs[k].events & EPOLLOUT) &&
			    !client_flush(ep, c)) {
				client_free(ep, c);
				continue;
			}
			if ((evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) &&
			    !client_read(ep, c))
				client_free(ep, c);
		}
	}
	unlink(argv[1]);
	return 0;
}
