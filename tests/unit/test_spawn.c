/*
 * test_spawn.c - the spawner's messages (spawn_msg.h): each side takes
 * only a message of a known type, of exactly its length, with exactly its
 * number of fds, and a SPAWN_HELLO comes with its sender's credentials;
 * the check that a peer runs this very executable (spawn_peer.h); a real
 * spawner (spawner.h) ends itself, rather than act, on a request it must
 * not carry out; and it reads a process's executable for the key holder
 * (SPAWN_EXE_READ, procexe.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "keyward.h"
#include "pidfd.h"
#include "procexe.h"
#include "sockcompat.h"
#include "spawn_msg.h"
#include "spawn_peer.h"
#include "spawner.h"

static int pair[2];

static int setup(void **state)
{
	(void)state;
	return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair);
}

static int teardown(void **state)
{
	(void)state;
	close(pair[0]);
	close(pair[1]);
	return 0;
}

/* Send raw bytes with nfds copies of /dev/null. */
static void send_raw(const void *buf, size_t len, size_t nfds)
{
	int fds[4];
	for (size_t i = 0; i < nfds; i++) {
		fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		assert_true(fds[i] >= 0);
	}
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(fds))];
	} ctl;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	memset(&ctl, 0, sizeof(ctl));
	if (nfds > 0) {
		mh.msg_control = ctl.b;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	assert_int_equal(sendmsg(pair[0], &mh, 0), (ssize_t)len);
	for (size_t i = 0; i < nfds; i++)
		close(fds[i]);
}

static void expect_refused(void)
{
	union spawn_msg m;
	int fds[SPAWN_FDS_MAX] = { 7, 7 };

	assert_int_equal(spawn_msg_recv(pair[1], &m, fds), KW_EPROTO);
	assert_int_equal(fds[0], -1);
	assert_int_equal(fds[1], -1);
}

static void test_valid(void **state)
{
	struct spawn_signal sg = { .type = SPAWN_SIGNAL, .id = 9, .sig = 15 };
	struct spawn_start st;
	union spawn_msg m;
	int fds[SPAWN_FDS_MAX], in[2];

	(void)state;
	assert_int_equal(spawn_msg_send(pair[0], &sg, sizeof(sg), NULL, 0), 0);
	assert_int_equal(spawn_msg_recv(pair[1], &m, fds), 0);
	assert_int_equal(m.type, SPAWN_SIGNAL);
	assert_int_equal(m.signal.id, 9);
	assert_int_equal(m.signal.sig, 15);
	assert_int_equal(fds[0], -1);

	memset(&st, 0, sizeof(st));
	st.type = SPAWN_START;
	st.id = 1;
	st.cpu_seconds = 4;
	snprintf(st.path, sizeof(st.path), "%s", "/bin/true");
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(spawn_msg_send(pair[0], &st, sizeof(st), in, 2), 0);
	assert_int_equal(spawn_msg_recv(pair[1], &m, fds), 0);
	assert_int_equal(m.type, SPAWN_START);
	assert_string_equal(m.start.path, "/bin/true");
	/* Passed, and close-on-exec on this side. */
	assert_true(fds[0] >= 0 && fds[1] >= 0);
	assert_int_equal(fcntl(fds[0], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	assert_int_equal(write(fds[1], "x", 1), 1);
	for (int i = 0; i < 2; i++) {
		close(fds[i]);
		close(in[i]);
	}
}

static void test_refused(void **state)
{
	struct spawn_signal sg = { .type = SPAWN_SIGNAL, .id = 1, .sig = 15 };
	struct spawn_start st = { .type = SPAWN_START };
	char big[sizeof(union spawn_msg) + 16];
	uint32_t unknown[8] = { 99 };

	(void)state;
	send_raw(&sg, sizeof(sg), 1); /* an fd it does not take */
	expect_refused();
	send_raw(&sg, sizeof(sg) - 1, 0); /* short */
	expect_refused();
	memset(big, 0, sizeof(big));
	memcpy(big, &sg, sizeof(sg));
	send_raw(big, sizeof(sg) + 1, 0); /* long */
	expect_refused();
	send_raw(big, sizeof(big), 0); /* longer than any */
	expect_refused();
	send_raw(&st, sizeof(st), 0); /* START without its fds */
	expect_refused();
	send_raw(&st, sizeof(st), 1);
	expect_refused();
	send_raw(&st, sizeof(st), 3); /* one too many */
	expect_refused();
	send_raw(unknown, sizeof(unknown), 0);
	expect_refused();
	send_raw(unknown, 2, 0); /* not even a type */
	expect_refused();

	/* NET_STARTED: one fd exactly when it did not fail, else none. */
	struct spawn_net_started ns = { .type = SPAWN_NET_STARTED, .pid = 5 };
	send_raw(&ns, sizeof(ns), 0);
	expect_refused();
	send_raw(&ns, sizeof(ns), 2);
	expect_refused();
	ns.fail = SPAWN_FAIL_FORK;
	send_raw(&ns, sizeof(ns), 1);
	expect_refused();
	struct spawn_net_stop nt = { .type = SPAWN_NET_STOP, .pid = 5 };
	send_raw(&nt, sizeof(nt), 1);
	expect_refused();

	/* EXE_READ: exactly the one /proc directory. */
	struct spawn_exe_read er = { .type = SPAWN_EXE_READ,
		                     .want = SPAWN_EXE_MAP };
	send_raw(&er, sizeof(er), 0);
	expect_refused();
	send_raw(&er, sizeof(er), 2);
	expect_refused();
	/* EXE_INFO: one fd per bit, an executable only when known, no
	 * unknown bits. */
	struct spawn_exe_info ei;
	memset(&ei, 0, sizeof(ei));
	ei.type = SPAWN_EXE_INFO;
	ei.fds = SPAWN_EXE_FD | SPAWN_EXE_MAP;
	ei.known = 1;
	send_raw(&ei, sizeof(ei), 1);
	expect_refused();
	ei.known = 0;
	send_raw(&ei, sizeof(ei), 2);
	expect_refused();
	ei.fds = 4;
	send_raw(&ei, sizeof(ei), 1);
	expect_refused();
	ei.fds = SPAWN_EXE_MAP;
	send_raw(&ei, sizeof(ei), 0);
	expect_refused();
}

static void test_busy_and_closed(void **state)
{
	union spawn_msg m;
	int fds[SPAWN_FDS_MAX];

	(void)state;
	assert_int_equal(fcntl(pair[1], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(spawn_msg_recv(pair[1], &m, fds), KW_EBUSY);
	close(pair[0]);
	pair[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_int_equal(spawn_msg_recv(pair[1], &m, fds), KW_ECLOSED);
	struct spawn_signal sg = { .type = SPAWN_SIGNAL };
	assert_int_equal(spawn_msg_send(pair[1], &sg, sizeof(sg), NULL, 0),
	                 KW_ECLOSED);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(spawn_fail_name(SPAWN_FAIL_PIDFD), "pidfd_open");
	assert_string_equal(spawn_fail_name(SPAWN_FAIL_COUNT), "?");
	assert_string_equal(spawn_fail_name(-1), "?");
	assert_string_equal(spawn_step_name(SPAWN_STEP_EXEC), "execve");
	assert_string_equal(spawn_step_name(SPAWN_STEP_NONE), "?");
}

/* pair[1] asks for its writers' credentials, and for their pidfds where
 * the kernel has SO_PASSPIDFD; whether it has. */
static bool pass_credentials(void)
{
	int on = 1;

	assert_int_equal(setsockopt(pair[1], SOL_SOCKET, SO_PASSCRED, &on,
	                            sizeof(on)),
	                 0);
	if (setsockopt(pair[1], SOL_SOCKET, SO_PASSPIDFD, &on, sizeof(on)) == 0)
		return true;
	assert_int_equal(errno, ENOPROTOOPT);
	return false;
}

static void test_hello(void **state)
{
	struct spawn_hello h = { .type = SPAWN_HELLO, .version = 7 };
	spawn_sender from;
	union spawn_msg m;
	int fds[SPAWN_FDS_MAX];
	char why[160];

	(void)state;
	bool pidfds = pass_credentials();
	assert_int_equal(spawn_hello_send(pair[0]), 0);
	assert_int_equal(spawn_hello_recv(pair[1], &h, &from), 0);
	assert_int_equal(h.type, SPAWN_HELLO);
	assert_int_equal(h.version, SPAWN_PROTO_VERSION);
	assert_true(from.cred);
	assert_int_equal(from.pid, getpid());
	assert_int_equal(from.uid, getuid());
	assert_int_equal(from.gid, getgid());
	if (pidfds) {
		/* The kernel's pidfd of the sender: this process, alive. */
		assert_true(from.pidfd >= 0);
		assert_int_equal(fcntl(from.pidfd, F_GETFD) & FD_CLOEXEC,
		                 FD_CLOEXEC);
		assert_int_equal(spawn_peer_same_exe(from.pid, from.pidfd, why,
		                                     sizeof(why)),
		                 0);
		close(from.pidfd);
	} else {
		assert_int_equal(from.pidfd, -1);
	}

	/* The agent's answer: a HELLO the generic receiver takes, exactly
	 * its length, no fds; on a socket that no longer asks for
	 * credentials (as the agent's after the spawner's hello: they
	 * would not fit). */
	int off = 0;
	assert_int_equal(setsockopt(pair[1], SOL_SOCKET, SO_PASSCRED, &off,
	                            sizeof(off)),
	                 0);
	(void)setsockopt(pair[1], SOL_SOCKET, SO_PASSPIDFD, &off, sizeof(off));
	struct spawn_hello plain = { .type = SPAWN_HELLO,
		                     .version = SPAWN_PROTO_VERSION };
	assert_int_equal(spawn_msg_send(pair[0], &plain, sizeof(plain), NULL,
	                                0),
	                 0);
	assert_int_equal(spawn_msg_recv(pair[1], &m, fds), 0);
	assert_int_equal(m.type, SPAWN_HELLO);
	assert_int_equal(m.hello.version, SPAWN_PROTO_VERSION);
	assert_int_equal(fds[0], -1);
	send_raw(&plain, sizeof(plain) - 1, 0);
	expect_refused();
	send_raw(&plain, sizeof(plain), 1);
	expect_refused();
}

/* spawn_hello_recv refuses anything but one HELLO, closing what came. */
static void expect_hello_refused(void)
{
	struct spawn_hello h;
	spawn_sender from = { .pidfd = 7 };

	assert_int_equal(spawn_hello_recv(pair[1], &h, &from), KW_EPROTO);
	assert_int_equal(from.pidfd, 7); /* untouched */
}

static void test_hello_refused(void **state)
{
	struct spawn_hello h = { .type = SPAWN_HELLO,
		                 .version = SPAWN_PROTO_VERSION };
	struct spawn_signal sg = { .type = SPAWN_SIGNAL, .id = 1, .sig = 15 };
	char big[sizeof(h) + 1];
	spawn_sender from;

	(void)state;
	(void)pass_credentials();
	send_raw(&h, sizeof(h) - 1, 0); /* short */
	expect_hello_refused();
	memset(big, 0, sizeof(big));
	memcpy(big, &h, sizeof(h));
	send_raw(big, sizeof(big), 0); /* long */
	expect_hello_refused();
	send_raw(&h, sizeof(h), 1); /* with an fd */
	expect_hello_refused();
	send_raw(&sg, sizeof(sg), 0); /* another message first */
	expect_hello_refused();
	send_raw(&h, 0, 0); /* empty: the writer's credentials only */
	expect_hello_refused();

	/* Without SO_PASSCRED the hello arrives, but says so. */
	int off = 0;
	assert_int_equal(setsockopt(pair[1], SOL_SOCKET, SO_PASSCRED, &off,
	                            sizeof(off)),
	                 0);
	(void)setsockopt(pair[1], SOL_SOCKET, SO_PASSPIDFD, &off, sizeof(off));
	send_raw(&h, sizeof(h), 0);
	assert_int_equal(spawn_hello_recv(pair[1], &h, &from), 0);
	assert_false(from.cred);
	assert_int_equal(from.pidfd, -1);

	close(pair[0]);
	pair[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_int_equal(spawn_hello_recv(pair[1], &h, &from), KW_ECLOSED);
}

/* A child that waits for its pipe to close (fd r), as this executable or,
 * with argv, exec'd as another. */
static pid_t child_start(int r, int w, char *const argv[])
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		char c;
		close(w);
		if (argv) {
			dup2(r, 0);
			execv(argv[0], argv);
			_exit(127);
		}
		while (read(r, &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	return pid;
}

static void test_same_exe(void **state)
{
	char *cat[] = { "/bin/cat", NULL };
	char why[160];
	int p[2], status;

	(void)state;
	int self = pidfd_of(getpid());
	assert_true(self >= 0);
	assert_int_equal(spawn_peer_same_exe(getpid(), self, why, sizeof(why)),
	                 0);
	/* No pidfd: refused, nothing would prove the pid is still ours. */
	assert_int_equal(spawn_peer_same_exe(getpid(), -1, why, sizeof(why)),
	                 KW_EDENIED);

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid_t same = child_start(p[0], p[1], NULL);
	pid_t other = child_start(p[0], p[1], cat);
	close(p[0]);
	int same_fd = pidfd_of(same), other_fd = pidfd_of(other);
	assert_true(same_fd >= 0 && other_fd >= 0);
	assert_int_equal(spawn_peer_same_exe(same, same_fd, why, sizeof(why)),
	                 0);
	/* The exec may not have happened yet: wait until it has. */
	for (int i = 0; i < 500; i++) {
		if (spawn_peer_same_exe(other, other_fd, why, sizeof(why)) ==
		    KW_EDENIED)
			break;
		usleep(10000);
	}
	assert_int_equal(spawn_peer_same_exe(other, other_fd, why, sizeof(why)),
	                 KW_EDENIED);
	assert_non_null(strstr(why, "does not run this keywardd's executable"));

	close(p[1]); /* both children end */
	assert_int_equal(waitpid(other, &status, 0), other);
	/* Exited but not reaped: /proc still shows it, its pidfd ended. */
	struct pollfd pf = { .fd = same_fd, .events = POLLIN };
	assert_int_equal(poll(&pf, 1, 10000), 1);
	assert_int_equal(spawn_peer_same_exe(same, same_fd, why, sizeof(why)),
	                 KW_EDENIED);
	assert_int_equal(waitpid(same, &status, 0), same);
	assert_int_equal(spawn_peer_same_exe(same, same_fd, why, sizeof(why)),
	                 KW_EDENIED);
	close(same_fd);
	close(other_fd);
	close(self);
}

/* A real spawner on pair[1], forked; its pid. */
static pid_t spawner_start(void)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		close(pair[0]);
		spawner_run(pair[1]);
	}
	/* The spawner's end is its own: its exit must close the socket. */
	close(pair[1]);
	pair[1] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return pid;
}

/* A real spawner gets msg and must end (status 1) without answering. */
static void spawner_refuses(const void *msg, size_t len, const int *fds,
                            size_t nfds)
{
	union spawn_msg m;
	int got[SPAWN_FDS_MAX], status;
	pid_t pid = spawner_start();

	assert_int_equal(spawn_msg_send(pair[0], msg, len, fds, nfds), 0);
	assert_int_equal(spawn_msg_recv(pair[0], &m, got), KW_ECLOSED);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
}

static void test_spawner_refuses(void **state)
{
	struct spawn_signal sg = { .type = SPAWN_SIGNAL,
		                   .id = 1,
		                   .sig = SIGHUP };
	struct spawn_start st;
	struct spawn_exited ex = { .type = SPAWN_EXITED };
	int in[2];

	(void)state;
	spawner_refuses(&sg, sizeof(sg), NULL, 0);
	assert_int_equal(teardown(NULL), 0);
	assert_int_equal(setup(NULL), 0);
	spawner_refuses(&ex, sizeof(ex), NULL, 0);

	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	memset(&st, 0, sizeof(st));
	st.type = SPAWN_START;
	st.cpu_seconds = 1;
	snprintf(st.path, sizeof(st.path), "%s", "bin/true"); /* relative */
	assert_int_equal(teardown(NULL), 0);
	assert_int_equal(setup(NULL), 0);
	spawner_refuses(&st, sizeof(st), in, 2);
	memset(st.path, 'a', sizeof(st.path)); /* no NUL */
	st.path[0] = '/';
	assert_int_equal(teardown(NULL), 0);
	assert_int_equal(setup(NULL), 0);
	spawner_refuses(&st, sizeof(st), in, 2);
	close(in[0]);
	close(in[1]);

	struct spawn_net_start ns;
	memset(&ns, 0, sizeof(ns));
	ns.type = SPAWN_NET_START;
	snprintf(ns.path, sizeof(ns.path), "%s", "keyward-net"); /* relative */
	assert_int_equal(teardown(NULL), 0);
	assert_int_equal(setup(NULL), 0);
	spawner_refuses(&ns, sizeof(ns), NULL, 0);

	struct spawn_exe_read er = { .type = SPAWN_EXE_READ, .want = 4 };
	int dir = open("/proc/self", O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(dir >= 0);
	assert_int_equal(teardown(NULL), 0);
	assert_int_equal(setup(NULL), 0);
	spawner_refuses(&er, sizeof(er), &dir, 1);
	close(dir);
}

/* Read one answer of type want from the spawner on pair[0]. */
static void answer(uint32_t want, union spawn_msg *m, int fds[SPAWN_FDS_MAX])
{
	assert_int_equal(spawn_msg_recv(pair[0], m, fds), 0);
	assert_int_equal(m->type, want);
}

/* A real spawner starts the HTTP helper (here /bin/sleep, which without
 * an operand exits at once), hands back a socket, and on NET_STOP kills
 * and reaps that pid and says how it ended; another pid is not its
 * helper. */
static void test_spawner_starts_helper(void **state)
{
	struct spawn_net_start st;
	struct spawn_net_stop stop = { .type = SPAWN_NET_STOP, .id = 2 };
	union spawn_msg m;
	int fds[SPAWN_FDS_MAX], status;

	(void)state;
	pid_t pid = spawner_start();

	memset(&st, 0, sizeof(st));
	st.type = SPAWN_NET_START;
	st.id = 1;
	snprintf(st.path, sizeof(st.path), "%s", "/bin/sleep");
	assert_int_equal(spawn_msg_send(pair[0], &st, sizeof(st), NULL, 0), 0);
	answer(SPAWN_NET_STARTED, &m, fds);
	assert_int_equal(m.net_started.id, 1);
	assert_int_equal(m.net_started.fail, SPAWN_OK);
	assert_true(m.net_started.pid > 0);
	assert_true(fds[0] >= 0);
	pid_t helper = m.net_started.pid;
	close(fds[0]);

	stop.pid = helper + 100000; /* not its helper */
	assert_int_equal(spawn_msg_send(pair[0], &stop, sizeof(stop), NULL, 0),
	                 0);
	answer(SPAWN_NET_STOPPED, &m, fds);
	assert_int_equal(m.net_stopped.known, 0);

	stop.id = 3;
	stop.pid = helper;
	assert_int_equal(spawn_msg_send(pair[0], &stop, sizeof(stop), NULL, 0),
	                 0);
	answer(SPAWN_NET_STOPPED, &m, fds);
	assert_int_equal(m.net_stopped.known, 1);
	assert_true(m.net_stopped.code == CLD_EXITED ||
	            m.net_stopped.code == CLD_KILLED);
	assert_int_equal(kill(helper, 0), -1); /* reaped: gone */

	close(pair[0]);
	pair[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* Ask the spawner on pair[0] about the process of /proc directory dir. */
static void exe_ask(int dir, uint32_t id, union spawn_msg *m,
                    int fds[SPAWN_FDS_MAX])
{
	struct spawn_exe_read er = { .type = SPAWN_EXE_READ,
		                     .id = id,
		                     .want = SPAWN_EXE_FD | SPAWN_EXE_MAP };

	assert_int_equal(spawn_msg_send(pair[0], &er, sizeof(er), &dir, 1), 0);
	answer(SPAWN_EXE_INFO, m, fds);
	assert_int_equal(m->exe_info.id, id);
}

/* A real spawner reads a process's executable through its /proc
 * directory: the path and file, the file opened, and maps that read empty
 * once that process has exec'd; after an exec the new program; once the
 * process is gone, nothing. */
static void test_spawner_reads_executables(void **state)
{
	char self[PATH_MAX], sleep_path[PATH_MAX], dir_path[64], elf[4];
	struct stat st;
	union spawn_msg m;
	int fds[SPAWN_FDS_MAX], go[2], status;

	(void)state;
	assert_non_null(realpath("/proc/self/exe", self));
	assert_non_null(realpath("/bin/sleep", sleep_path));
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		char b;
		close(go[1]);
		if (read(go[0], &b, 1) == 1)
			execl("/bin/sleep", "sleep", "30", (char *)NULL);
		_exit(1);
	}
	close(go[0]);
	snprintf(dir_path, sizeof(dir_path), "/proc/%d", (int)child);
	int dir = open(dir_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(dir >= 0);
	pid_t pid = spawner_start();

	exe_ask(dir, 1, &m, fds);
	assert_int_equal(m.exe_info.known, 1);
	assert_string_equal(m.exe_info.path, self);
	assert_int_equal(m.exe_info.fds, SPAWN_EXE_FD | SPAWN_EXE_MAP);
	assert_int_equal(stat(self, &st), 0);
	assert_true(m.exe_info.dev == (uint64_t)st.st_dev &&
	            m.exe_info.ino == (uint64_t)st.st_ino &&
	            m.exe_info.size == (int64_t)st.st_size);
	assert_int_equal(pread(fds[0], elf, 4, 0), 4);
	assert_memory_equal(elf, "\177ELF", 4);
	close(fds[0]);
	int maps = fds[1];
	assert_false(procexe_execd(maps));

	assert_int_equal(write(go[1], "x", 1), 1);
	for (int i = 0; i < 1000 && !procexe_execd(maps); i++)
		usleep(10000);
	assert_true(procexe_execd(maps));
	close(maps);
	exe_ask(dir, 2, &m, fds);
	assert_int_equal(m.exe_info.known, 1);
	assert_string_equal(m.exe_info.path, sleep_path);
	close(fds[0]);
	close(fds[1]);

	assert_int_equal(kill(child, SIGKILL), 0);
	assert_int_equal(waitpid(child, &status, 0), child);
	exe_ask(dir, 3, &m, fds);
	assert_int_equal(m.exe_info.known, 0);
	assert_int_equal(m.exe_info.fds, 0);
	assert_string_equal(m.exe_info.path, "");
	close(dir);
	close(go[1]);

	close(pair[0]);
	pair[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_valid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_and_closed, setup,
		                                teardown),
		cmocka_unit_test(test_names),
		cmocka_unit_test_setup_teardown(test_hello, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hello_refused, setup,
		                                teardown),
		cmocka_unit_test(test_same_exe),
		cmocka_unit_test_setup_teardown(test_spawner_refuses, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_spawner_starts_helper,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_spawner_reads_executables,
		                                setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
