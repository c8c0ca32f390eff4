/*
 * spawn_service.c - see spawn_service.h.
 */
#include "spawn_service.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harden.h"
#include "keyward.h"
#include "log.h"
#include "pidfd.h"
#include "sockcompat.h"
#include "spawn_msg.h"
#include "spawn_peer.h"
#include "spawner.h"

#define LISTEN_FD 3

/* Is name's value exactly the decimal want? */
static bool env_is(const char *name, long want)
{
	const char *v = getenv(name);
	char *end;

	if (!v || *v < '0' || *v > '9')
		return false;
	errno = 0;
	long n = strtol(v, &end, 10);
	return errno == 0 && *end == '\0' && n == want;
}

/* The connection to serve: the passed socket itself, or the one
 * connection accepted on it. >= 0, or an exit status negated. */
static int service_socket(void)
{
	int type = 0, listening = 0, fd;
	socklen_t len = sizeof(type);

	if (!env_is("LISTEN_FDS", 1) || !env_is("LISTEN_PID", getpid()) ||
	    getsockopt(LISTEN_FD, SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
	    type != SOCK_SEQPACKET) {
		log_error("--spawner runs under systemd socket activation "
		          "(keyward-spawner.socket): it needs one "
		          "SOCK_SEQPACKET socket passed as LISTEN_FDS=1");
		return -SPAWN_SERVICE_EXIT_USAGE;
	}
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDNAMES");
	len = sizeof(listening);
	if (getsockopt(LISTEN_FD, SOL_SOCKET, SO_ACCEPTCONN, &listening,
	               &len) != 0 ||
	    !listening)
		return LISTEN_FD;
	do {
		fd = accept4(LISTEN_FD, NULL, NULL, SOCK_CLOEXEC);
	} while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		log_error("command spawner: accept: %s", strerror(errno));
		return -1;
	}
	close(LISTEN_FD); /* the service manager keeps its own */
	return fd;
}

/* The peer's pidfd: SO_PEERPIDFD (Linux 6.5), else pidfd_open of pid. */
static int peer_pidfd(int fd, pid_t pid)
{
	int pidfd = pidfd_of_peer(fd, NULL);

	return pidfd >= 0 ? pidfd : pidfd_of(pid);
}

/*
 * Is the peer keywardd, connected as our uid? SO_PEERCRED names the
 * process that called connect(). Its executable is compared where the
 * kernel shows it: keywardd is not dumpable (harden.h), so to a spawner
 * not running as root only the uid can be checked (spawn_service.h).
 * 0 and *ret_pid; KW_EDENIED, logged.
 */
static int check_agent(int fd, pid_t *ret_pid)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	char why[160];

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0 ||
	    len != sizeof(cr) || cr.pid <= 0) {
		log_error("command spawner: refusing a peer whose credentials "
		          "cannot be read");
		return KW_EDENIED;
	}
	if (cr.uid != geteuid()) {
		log_error("command spawner: refusing pid %d: it runs as uid "
		          "%u, not as uid %u",
		          (int)cr.pid, (unsigned)cr.uid, (unsigned)geteuid());
		return KW_EDENIED;
	}
	int pidfd = peer_pidfd(fd, cr.pid);
	int r = spawn_peer_same_exe(cr.pid, pidfd, why, sizeof(why));
	if (pidfd >= 0)
		close(pidfd);
	if (r == KW_EPERM) {
		log_debug("command spawner: the executable of pid %d cannot "
		          "be read (%s); it is taken on its uid",
		          (int)cr.pid, why);
	} else if (r < 0) {
		log_error("command spawner: refusing pid %d: %s", (int)cr.pid,
		          why);
		return KW_EDENIED;
	}
	*ret_pid = cr.pid;
	return 0;
}

/* Wait at most SPAWN_HELLO_MS for the agent's SPAWN_HELLO. 0; KW_EDENIED
 * (something else, or another version); KW_EIO (none); logged. */
static int await_agent_hello(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	union spawn_msg m;
	int fds[SPAWN_FDS_MAX], n;

	do {
		n = poll(&p, 1, SPAWN_HELLO_MS);
	} while (n < 0 && errno == EINTR);
	if (n <= 0) {
		log_error("command spawner: the agent did not answer its hello "
		          "within %d ms",
		          SPAWN_HELLO_MS);
		return KW_EIO;
	}
	int r = spawn_msg_recv(fd, &m, fds);
	if (r == KW_ECLOSED) {
		log_error("command spawner: the agent closed the connection "
		          "instead of answering its hello (its log says why)");
		return KW_EIO;
	}
	if (r == 0 && m.type != SPAWN_HELLO) {
		for (size_t i = 0; i < SPAWN_FDS_MAX; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		r = KW_EPROTO;
	}
	if (r < 0 || m.hello.version != SPAWN_PROTO_VERSION) {
		log_error("command spawner: the agent answered its hello with "
		          "%s",
		          r < 0 ? "something else" : "another message version");
		return KW_EDENIED;
	}
	return 0;
}

int spawn_service_main(void)
{
	const char *what = NULL;
	pid_t agent = 0;
	int fd = service_socket(), r;

	if (fd < 0)
		return -fd;
	if (check_agent(fd, &agent) < 0)
		return SPAWN_SERVICE_EXIT_REFUSED;
	if ((r = spawn_hello_send(fd)) < 0) {
		log_error("command spawner: cannot send its hello: %s",
		          kw_strerror(r));
		return 1;
	}
	if ((r = await_agent_hello(fd)) < 0)
		return r == KW_EDENIED ? SPAWN_SERVICE_EXIT_REFUSED : 1;
	/* Only now: until the agent had read our /proc/PID/exe, we had to
	 * stay dumpable. */
	if (harden_process(&what) < 0) {
		log_error("command spawner: hardening failed at %s", what);
		return 1;
	}
	log_info("command spawner: serving the agent (pid %d)", (int)agent);
	spawner_run(fd);
}
