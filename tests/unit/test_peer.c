/*
 * test_peer.c - peer credentials, executable identity and its hash cache
 * (peer.h), against real processes: this one, a child that is gone before
 * we look, and a child running a private copy of sleep(1).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "keyward.h"
#include "peer.h"
#include "secmem.h"

static char tmpdir[] = "/tmp/kw-test-peer-XXXXXX";
static char sock_path[PATH_MAX];
static char sleep_copy[PATH_MAX]; /* resolved: as /proc/PID/exe names it */

static void path_in_tmp(char *buf, size_t n, const char *leaf)
{
	int r = snprintf(buf, n, "%s/%s", tmpdir, leaf);

	assert_true(r > 0 && (size_t)r < n);
}

static void digest_of_file(const char *path, uint8_t out[32])
{
	crypto_hash_sha256_state st;
	uint8_t buf[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	crypto_hash_sha256_init(&st);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		crypto_hash_sha256_update(&st, buf, (unsigned long long)n);
	assert_int_equal(n, 0);
	close(fd);
	crypto_hash_sha256_final(&st, out);
}

static void copy_file(const char *from, const char *to)
{
	char buf[65536];
	ssize_t n;
	int in = open(from, O_RDONLY | O_CLOEXEC);
	int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);

	assert_true(in >= 0);
	assert_true(out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	assert_int_equal(n, 0);
	close(in);
	/* Closed before any fork, or exec would fail with ETXTBSY. */
	assert_int_equal(close(out), 0);
}

/* A fresh private copy of sleep(1) at sleep_copy. */
static void make_sleep_copy(void)
{
	static const char *const cands[] = { "/usr/bin/sleep", "/bin/sleep" };
	char raw[PATH_MAX];

	path_in_tmp(raw, sizeof(raw), "sleep-copy");
	unlink(raw);
	for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]); i++) {
		if (access(cands[i], X_OK) == 0) {
			copy_file(cands[i], raw);
			assert_non_null(realpath(raw, sleep_copy));
			return;
		}
	}
	fail_msg("no sleep binary");
}

static int listen_here(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_true(strlen(sock_path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
	unlink(sock_path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(peer_listen_setup(fd), 0);
	assert_int_equal(listen(fd, 4), 0);
	return fd;
}

/* In a child: connect to sock_path (the credentials are taken now). */
static void child_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		_exit(2);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/*
 * A child that connects to us and then runs sleep_copy. Returns our end
 * once /proc/PID/exe shows the exec has happened.
 */
static int spawn_sleeper(pid_t *ret_pid)
{
	char link[64], exe[PATH_MAX];
	int lfd = listen_here(), fd;
	ssize_t n = -1;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		child_connect();
		execl(sleep_copy, "sleep", "60", (char *)NULL);
		_exit(3);
	}
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(fd >= 0);
	close(lfd);
	snprintf(link, sizeof(link), "/proc/%ld/exe", (long)pid);
	for (int i = 0; i < 5000; i++) {
		n = readlink(link, exe, sizeof(exe) - 1);
		if (n > 0) {
			exe[n] = '\0';
			if (strcmp(exe, sleep_copy) == 0)
				break;
		}
		sleep_ms(1);
	}
	assert_string_equal(exe, sleep_copy);
	*ret_pid = pid;
	return fd;
}

static void reap(pid_t pid)
{
	int status;

	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
}

static void test_self(void **state)
{
	char want[PATH_MAX];
	peer_info p;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
	                 0);
	assert_int_equal(peer_from_socket(sv[0], &p), 0);
	assert_int_equal(p.uid, getuid());
	assert_int_equal(p.gid, getgid());
	assert_int_equal(p.pid, getpid());
	assert_true(p.exe_known);
	assert_non_null(realpath("/proc/self/exe", want));
	assert_string_equal(p.exe, want);
	/* Bound to the process by its /proc directory; the pidfd, no
	 * longer needed, is closed. */
	assert_true(p.procfd >= 0);
	assert_true(fcntl(p.procfd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(p.pidfd, -1);
	peer_release(&p);
	assert_int_equal(p.procfd, -1);
	peer_release(&p);
	close(sv[0]);
	close(sv[1]);
}

static void test_not_a_socket(void **state)
{
	peer_info p = { .pid = 12345, .pidfd = -7 };
	int fds[2];

	(void)state;
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	assert_int_equal(peer_from_socket(fds[0], &p), KW_EIO);
	assert_int_equal(p.pid, 12345); /* untouched on failure */
	assert_int_equal(p.pidfd, -7);
	close(fds[0]);
	close(fds[1]);
}

/* The peer exited and was reaped before we looked: its pid names no
 * process (or, if reused, a stranger), so the exe must stay unknown. */
static void test_peer_gone(void **state)
{
	exe_hash_cache *c = NULL;
	uint8_t d[32];
	peer_info p;
	int lfd = listen_here(), fd, status;
	pid_t pid = fork();

	(void)state;
	assert_true(pid >= 0);
	if (pid == 0) {
		child_connect();
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(fd >= 0);

	assert_int_equal(peer_from_socket(fd, &p), 0);
	assert_int_equal(p.pid, pid);
	assert_false(p.exe_known);
	assert_string_equal(p.exe, "");
	assert_int_equal(exe_hash_cache_new(4, &c), 0);
	assert_int_equal(peer_exe_sha256(c, &p, d), KW_ENOTFOUND);
	exe_hash_cache_free(c);
	peer_release(&p);
	close(fd);
	close(lfd);
}

static void test_sha256_self_and_cache(void **state)
{
	uint8_t want[32], got[32], again[32];
	exe_hash_cache *c = NULL;
	peer_info p;
	int sv[2];

	(void)state;
	digest_of_file("/proc/self/exe", want);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
	                 0);
	assert_int_equal(peer_from_socket(sv[0], &p), 0);
	assert_int_equal(exe_hash_cache_new(0, &c), KW_EINVAL);
	assert_int_equal(exe_hash_cache_new(4, &c), 0);

	assert_int_equal(peer_exe_sha256(c, &p, got), 0);
	assert_memory_equal(got, want, 32);
	assert_int_equal(exe_hash_cache_hits(c), 0);
	assert_int_equal(peer_exe_sha256(c, &p, again), 0);
	assert_memory_equal(again, want, 32);
	assert_int_equal(exe_hash_cache_hits(c), 1);

	/* An unknown exe is never looked up. */
	p.exe_known = false;
	assert_int_equal(peer_exe_sha256(c, &p, got), KW_ENOTFOUND);
	assert_int_equal(exe_hash_cache_hits(c), 1);

	exe_hash_cache_free(c);
	exe_hash_cache_free(NULL);
	peer_release(&p);
	close(sv[0]);
	close(sv[1]);
}

/* A binary touched after connect is not the one seen at connect. */
static void test_modified_binary(void **state)
{
	struct timespec later[2] = { { 0, UTIME_OMIT }, { 1000000, 0 } };
	exe_hash_cache *c = NULL;
	uint8_t want[32], got[32];
	peer_info p;
	pid_t pid;
	int fd;

	(void)state;
	make_sleep_copy();
	digest_of_file(sleep_copy, want);
	fd = spawn_sleeper(&pid);
	assert_int_equal(peer_from_socket(fd, &p), 0);
	assert_int_equal(p.pid, pid);
	assert_true(p.exe_known);
	assert_string_equal(p.exe, sleep_copy);
	assert_int_equal(exe_hash_cache_new(4, &c), 0);
	assert_int_equal(peer_exe_sha256(c, &p, got), 0);
	assert_memory_equal(got, want, 32);

	assert_int_equal(utimensat(AT_FDCWD, sleep_copy, later, 0), 0);
	assert_int_equal(peer_exe_sha256(c, &p, got), KW_ENOTFOUND);

	/* Once the process is gone there is nothing to vouch for. */
	reap(pid);
	assert_int_equal(peer_exe_sha256(c, &p, got), KW_ENOTFOUND);
	exe_hash_cache_free(c);
	peer_release(&p);
	close(fd);
}

/* A replaced (unlinked) binary: the path no longer names what runs. */
static void test_deleted_binary(void **state)
{
	peer_info p;
	pid_t pid;
	int fd;

	(void)state;
	make_sleep_copy();
	fd = spawn_sleeper(&pid);
	assert_int_equal(unlink(sleep_copy), 0);
	assert_int_equal(peer_from_socket(fd, &p), 0);
	assert_int_equal(p.pid, pid);
	assert_false(p.exe_known);
	assert_string_equal(p.exe, "");
	reap(pid);
	peer_release(&p);
	close(fd);
}

/* max 1: a second executable pushes the first out. */
static void test_cache_eviction(void **state)
{
	exe_hash_cache *c = NULL;
	uint8_t d[32];
	peer_info self, other;
	pid_t pid;
	int sv[2], fd;

	(void)state;
	make_sleep_copy();
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
	                 0);
	assert_int_equal(peer_from_socket(sv[0], &self), 0);
	fd = spawn_sleeper(&pid);
	assert_int_equal(peer_from_socket(fd, &other), 0);
	assert_true(other.exe_known);
	assert_int_equal(exe_hash_cache_new(1, &c), 0);

	assert_int_equal(peer_exe_sha256(c, &self, d), 0);
	assert_int_equal(peer_exe_sha256(c, &self, d), 0);
	assert_int_equal(exe_hash_cache_hits(c), 1);
	assert_int_equal(peer_exe_sha256(c, &other, d), 0);
	assert_int_equal(exe_hash_cache_hits(c), 1);
	assert_int_equal(peer_exe_sha256(c, &self, d), 0); /* evicted */
	assert_int_equal(exe_hash_cache_hits(c), 1);
	assert_int_equal(peer_exe_sha256(c, &self, d), 0);
	assert_int_equal(exe_hash_cache_hits(c), 2);

	exe_hash_cache_free(c);
	reap(pid);
	peer_release(&other);
	peer_release(&self);
	close(fd);
	close(sv[0]);
	close(sv[1]);
}

/* Read what is waiting on fd (blocking up to a second), with its writer. */
static ssize_t recv_from(int fd, char *buf, size_t len, peer_sender *from)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	assert_int_equal(poll(&pfd, 1, 1000), 1);
	return peer_recv(fd, buf, len, from);
}

/*
 * The kernel behaviour the per-read check relies on: bytes of different
 * writers never come in one read of a stream socket (the parent's, a
 * forked child's, the parent's again: three reads), and each read names
 * its writer; the connection's own process passes, the child does not.
 */
static void test_sender_per_read(void **state)
{
	char buf[64], why[256];
	peer_sender from;
	peer_info p;
	bool changed = true;
	int lfd = listen_here(), fd, c;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	pid_t child;

	(void)state;
	c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
	assert_int_equal(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
	/* Written before the accept: still named (peer_listen_setup). */
	assert_int_equal(write(c, "a", 1), 1);
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(fd >= 0);
	close(lfd);
	assert_int_equal(peer_from_socket(fd, &p), 0);
	assert_int_equal(p.pid, getpid());

	child = fork();
	assert_true(child >= 0);
	if (child == 0)
		_exit(write(c, "b", 1) == 1 ? 0 : 1);
	assert_int_equal(waitpid(child, NULL, 0), child);
	assert_int_equal(write(c, "c", 1), 1);

	assert_int_equal(recv_from(fd, buf, sizeof(buf), &from), 1);
	assert_true(from.creds);
	assert_int_equal(from.pid, getpid());
	assert_int_equal(from.uid, getuid());
	assert_int_equal(peer_sender_check(&p, &from, &changed, why,
	                                   sizeof(why)),
	                 0);
	assert_false(changed);
	peer_sender_release(&from);

	assert_int_equal(recv_from(fd, buf, sizeof(buf), &from), 1);
	assert_int_equal(buf[0], 'b');
	assert_int_equal(from.pid, child);
	assert_int_equal(peer_sender_check(&p, &from, &changed, why,
	                                   sizeof(why)),
	                 KW_EDENIED);
	assert_non_null(strstr(why, "not by process"));
	peer_sender_release(&from);

	assert_int_equal(recv_from(fd, buf, sizeof(buf), &from), 1);
	assert_int_equal(buf[0], 'c');
	assert_int_equal(peer_sender_check(&p, &from, &changed, why,
	                                   sizeof(why)),
	                 0);
	peer_sender_release(&from);
	peer_sender_release(&from);

	peer_release(&p);
	close(fd);
	close(c);
}

/* Descriptors a peer pushes at the agent (SCM_RIGHTS) are closed unread:
 * none is left in the agent's table. */
static void test_sender_fds_closed(void **state)
{
	char buf[8], why[256];
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct iovec iov = { .iov_base = "x", .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov,
		              .msg_iovlen = 1,
		              .msg_control = control.buf,
		              .msg_controllen = sizeof(control.buf) };
	peer_sender from;
	peer_info p;
	bool changed;
	int sv[2], pushed, next;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
	                 0);
	assert_int_equal(peer_from_socket(sv[0], &p), 0);
	pushed = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(pushed >= 0);
	memset(&control, 0, sizeof(control));
	control.hdr.cmsg_level = SOL_SOCKET;
	control.hdr.cmsg_type = SCM_RIGHTS;
	control.hdr.cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(&control.hdr), &pushed, sizeof(int));
	assert_int_equal(sendmsg(sv[1], &msg, 0), 1);
	close(pushed);
	/* The lowest free number: where the kernel would put it. */
	next = dup(sv[0]);
	assert_true(next >= 0);
	close(next);

	assert_int_equal(recv_from(sv[0], buf, sizeof(buf), &from), 1);
	assert_int_equal(fcntl(next, F_GETFD), -1);
	assert_int_equal(errno, EBADF);
	assert_int_equal(peer_sender_check(&p, &from, &changed, why,
	                                   sizeof(why)),
	                 0);
	peer_sender_release(&from);
	peer_release(&p);
	close(sv[0]);
	close(sv[1]);
}

/* A broker as keywardd's spawner is one (peer.h), in this process. */
static int broker_calls;

static int test_broker(void *arg, int procfd, char path[static PATH_MAX],
                       procexe_id *ret_id, int *ret_exe_fd, int *ret_maps_fd)
{
	int r;

	(void)arg;
	broker_calls++;
	if (ret_maps_fd) {
		*ret_maps_fd = procexe_maps_open(procfd);
		if (*ret_maps_fd < 0)
			*ret_maps_fd = -1;
	}
	r = procexe_read(procfd, path, ret_id);
	if (ret_exe_fd) {
		*ret_exe_fd = r == 0 ? procexe_open(procfd, ret_id) : -1;
		if (*ret_exe_fd < 0)
			*ret_exe_fd = -1;
	}
	return r;
}

/*
 * A peer that execs another program keeps its pid and its connection:
 * the next read says the executable changed, and p names the new one.
 * With a broker (a confined agent's), the broker is asked at connect and
 * after the exec, which the peer's maps show, and not for reads between;
 * and the executable it opens is the one hashed.
 */
static void sender_exec(bool brokered)
{
	char buf[64], why[256], want[PATH_MAX];
	uint8_t got[32], expect[32];
	exe_hash_cache *cache;
	peer_sender from;
	peer_info p;
	bool changed = false;
	int lfd = listen_here(), fd, go[2];
	pid_t pid;

	broker_calls = 0;
	peer_set_exe_broker(brokered ? test_broker : NULL, NULL);
	assert_non_null(realpath("/bin/sh", want));
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int s = socket(AF_UNIX, SOCK_STREAM, 0);

		memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
		if (s < 0 ||
		    connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    dup2(s, 9) != 9 || read(go[0], buf, 1) != 1)
			_exit(2);
		execl("/bin/sh", "sh", "-c",
		      "printf x >&9; sleep 60 >/dev/null 2>&1", (char *)NULL);
		_exit(3);
	}
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(fd >= 0);
	close(lfd);
	assert_int_equal(peer_from_socket(fd, &p), 0);
	assert_int_equal(p.pid, pid);
	assert_true(p.exe_known);
	assert_string_not_equal(p.exe, want);
	assert_int_equal(broker_calls, brokered ? 1 : 0);
	assert_true(brokered ? p.maps_fd >= 0 : p.maps_fd == -1);
	assert_int_equal(write(go[1], "g", 1), 1);

	assert_int_equal(recv_from(fd, buf, sizeof(buf), &from), 1);
	assert_int_equal(from.pid, pid);
	assert_int_equal(peer_sender_check(&p, &from, &changed, why,
	                                   sizeof(why)),
	                 0);
	assert_true(changed);
	assert_true(p.exe_known);
	assert_string_equal(p.exe, want);
	assert_int_equal(broker_calls, brokered ? 2 : 0);
	peer_sender_release(&from);
	/* No exec since: nothing changed, the broker is not asked. */
	changed = true;
	from = (peer_sender){ .creds = true, .pid = pid, .pidfd = -1 };
	assert_int_equal(peer_sender_check(&p, &from, &changed, why,
	                                   sizeof(why)),
	                 0);
	assert_false(changed);
	assert_int_equal(broker_calls, brokered ? 2 : 0);
	assert_int_equal(exe_hash_cache_new(4, &cache), 0);
	assert_int_equal(peer_exe_sha256(cache, &p, got), 0);
	digest_of_file(want, expect);
	assert_memory_equal(got, expect, sizeof(got));
	assert_int_equal(broker_calls, brokered ? 3 : 0);
	exe_hash_cache_free(cache);

	/* Gone: its bytes are refused, even if its pid came back. */
	reap(pid);
	from = (peer_sender){ .creds = true, .pid = pid, .pidfd = -1 };
	assert_int_equal(peer_sender_check(&p, &from, &changed, why,
	                                   sizeof(why)),
	                 KW_EDENIED);
	assert_non_null(strstr(why, "has exited"));
	peer_release(&p);
	close(fd);
	close(go[0]);
	close(go[1]);
	peer_set_exe_broker(NULL, NULL);
}

static void test_sender_exec(void **state)
{
	(void)state;
	sender_exec(false);
}

static void test_sender_exec_brokered(void **state)
{
	(void)state;
	sender_exec(true);
}

static int setup(void **state)
{
	(void)state;
	if (kw_secmem_init() < 0 || !mkdtemp(tmpdir))
		return -1;
	path_in_tmp(sock_path, sizeof(sock_path), "sock");
	return 0;
}

static int teardown(void **state)
{
	char path[PATH_MAX];

	(void)state;
	unlink(sock_path);
	path_in_tmp(path, sizeof(path), "sleep-copy");
	unlink(path);
	return rmdir(tmpdir) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_self),
		cmocka_unit_test(test_not_a_socket),
		cmocka_unit_test(test_peer_gone),
		cmocka_unit_test(test_sha256_self_and_cache),
		cmocka_unit_test(test_modified_binary),
		cmocka_unit_test(test_deleted_binary),
		cmocka_unit_test(test_cache_eviction),
		cmocka_unit_test(test_sender_per_read),
		cmocka_unit_test(test_sender_fds_closed),
		cmocka_unit_test(test_sender_exec),
		cmocka_unit_test(test_sender_exec_brokered),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
