/*
 * probe.c - applies one sandbox profile, then tries one thing, for
 * sandbox-check.py.
 *
 *   probe PROFILE ROOT ACTION [ARG]
 *
 * PROFILE is keyholder or net. For keyholder the paths are ROOT/home
 * (read-write), ROOT/run (read-write) and ROOT/policies (read-only); net
 * gets none. ACTION:
 *   abi            print the kernel's Landlock ABI (no sandbox applied)
 *   threaded       start a thread first, then apply the profile: prints
 *                  "refused threads" if sandbox_apply refuses
 *   wait           print "ready", then block until stdin closes (the
 *                  caller reads /proc/PID/status meanwhile)
 *   read PATH      open PATH read-only and read a byte
 *   write PATH     create or truncate PATH and write a byte
 *   list PATH      open PATH as a directory and read an entry
 *   socket FAMILY  socket(inet|inet6|unix, SOCK_STREAM) and socketpair
 *   tcp PORT       connect to 127.0.0.1:PORT and send a byte
 *   unixbind PATH  bind and listen on a Unix socket at PATH
 *   thread         start and join a thread
 *   exec           execve("/bin/true"): outside both filters
 *   unshare        unshare(0): a harmless call outside both filters
 * Prints "ok" or "errno NAME" and exits 0; 2 on a usage error or when the
 * sandbox cannot be applied. A call outside the filter kills it (SIGSYS).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sandbox.h"

static int result(int rc)
{
	if (rc == 0)
		puts("ok");
	else
		printf("errno %s\n", strerrorname_np(errno) ?
		                             strerrorname_np(errno) :
		                             "unknown");
	return 0;
}

static int do_read(const char *path)
{
	char c;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	ssize_t n = read(fd, &c, 1);
	int e = errno;
	close(fd);
	errno = e;
	return n < 0 ? -1 : 0;
}

static int do_write(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0)
		return -1;
	ssize_t n = write(fd, "x", 1);
	int e = errno;
	close(fd);
	errno = e;
	return n == 1 ? 0 : -1;
}

static int do_list(const char *path)
{
	char buf[4096];
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, 0); /* the open is what Landlock checks */
	(void)n;
	close(fd);
	return 0;
}

static int do_socket(const char *family)
{
	int sv[2];
	int af = AF_UNIX;

	if (strcmp(family, "inet") == 0)
		af = AF_INET;
	else if (strcmp(family, "inet6") == 0)
		af = AF_INET6;
	int fd = socket(af, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	close(fd);
	if (af != AF_UNIX)
		return 0; /* there are no INET socketpairs */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return -1;
	close(sv[0]);
	close(sv[1]);
	return 0;
}

static int do_tcp(const char *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char *end;
	long p = strtol(port, &end, 10);
	int fd, rc = -1;

	if (*port == '\0' || *end != '\0' || p < 1 || p > 65535) {
		errno = EINVAL;
		return -1;
	}
	sa.sin_port = htons((uint16_t)p);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    write(fd, "x", 1) == 1)
		rc = 0;
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

static int do_unixbind(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || strlen(path) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int rc = -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    listen(fd, 1) == 0)
		rc = 0;
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

static void *thread_main(void *arg)
{
	return arg;
}

static int do_thread(void)
{
	static int token;
	pthread_t t;
	void *out = NULL;
	int rc = pthread_create(&t, NULL, thread_main, &token);

	if (rc != 0) {
		errno = rc;
		return -1;
	}
	pthread_join(t, &out);
	return out == &token ? 0 : -1;
}

static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;

/* Blocks until main unlocks held, which it never does: the thread lives
 * until the process exits. */
static void *thread_block(void *arg)
{
	pthread_mutex_lock(&held);
	return arg;
}

/* A second thread is running while the sandbox is applied. */
static int start_blocked_thread(void)
{
	pthread_t t;

	pthread_mutex_lock(&held);
	if (pthread_create(&t, NULL, thread_block, NULL) != 0)
		return -1;
	return pthread_detach(t) == 0 ? 0 : -1;
}

static int do_wait(void)
{
	char c;

	puts("ready");
	fflush(stdout);
	while (read(STDIN_FILENO, &c, 1) > 0)
		;
	return 0;
}

static int act(const char *action, const char *arg)
{
	if (strcmp(action, "wait") == 0)
		return do_wait();
	if (strcmp(action, "thread") == 0)
		return result(do_thread());
	if (strcmp(action, "exec") == 0) {
		char *const argv[] = { "true", NULL };
		execve("/bin/true", argv, argv + 1);
		return result(-1);
	}
	if (strcmp(action, "unshare") == 0)
		return result(unshare(0));
	if (arg == NULL)
		return 2;
	if (strcmp(action, "read") == 0)
		return result(do_read(arg));
	if (strcmp(action, "write") == 0)
		return result(do_write(arg));
	if (strcmp(action, "list") == 0)
		return result(do_list(arg));
	if (strcmp(action, "socket") == 0)
		return result(do_socket(arg));
	if (strcmp(action, "tcp") == 0)
		return result(do_tcp(arg));
	if (strcmp(action, "unixbind") == 0)
		return result(do_unixbind(arg));
	return 2;
}

int main(int argc, char **argv)
{
	char home[512], run[512], pol[512];
	struct sandbox_paths paths = { 0 };
	enum sandbox_profile profile;
	const char *what = "";

	if (argc < 4)
		return 2;
	if (strcmp(argv[3], "abi") == 0) {
		printf("%d\n", sandbox_landlock_abi());
		return 0;
	}
	if (strcmp(argv[1], "keyholder") == 0)
		profile = SANDBOX_KEYHOLDER;
	else if (strcmp(argv[1], "net") == 0)
		profile = SANDBOX_NET;
	else
		return 2;
	if (profile == SANDBOX_KEYHOLDER) {
		if (snprintf(home, sizeof(home), "%s/home", argv[2]) >=
		            (int)sizeof(home) ||
		    snprintf(run, sizeof(run), "%s/run", argv[2]) >=
		            (int)sizeof(run) ||
		    snprintf(pol, sizeof(pol), "%s/policies", argv[2]) >=
		            (int)sizeof(pol))
			return 2;
		paths.home = home;
		paths.runtime = run;
		paths.policy = pol;
	}
	bool threaded = strcmp(argv[3], "threaded") == 0;
	if (threaded && start_blocked_thread() != 0)
		return 2;
	int applied = sandbox_apply(profile, &paths, NULL, &what);
	if (threaded) {
		printf("%s %s\n", applied == 0 ? "applied" : "refused", what);
		return 0;
	}
	if (applied != 0) {
		fprintf(stderr, "probe: sandbox_apply failed at %s\n", what);
		return 2;
	}
	int rc = act(argv[3], argc > 4 ? argv[4] : NULL);
	fflush(stdout);
	return rc;
}
