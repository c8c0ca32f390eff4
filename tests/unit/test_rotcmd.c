/*
 * test_rotcmd.c - command rotators (rotcmd.h) run for real: shell scripts
 * in a temporary directory, driven by a real event loop (loop.h).
 *
 * The scripts get a sanitised environment and cwd "/", so each has the
 * temporary directory written into its text and leaves what it saw there
 * for the test to check. The test process sets up its signals as keywardd
 * does (SIGPIPE ignored; SIGTERM, SIGINT, SIGHUP blocked) and leaks a
 * non-close-on-exec fd, so that the child's reset of each is observable.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "keyward.h"
#include "loop.h"
#include "rotcmd.h"
#include "secmem.h"

#define SCRIPT_MAX 2048

static char dir[PATH_MAX];
/* The command spawner of this process (of the forked copy, in those). */
static spawn_client *spawner;

typedef struct outcome {
	int calls;
	int result;
	char detail[ROTJOB_DETAIL_MAX + 1];
} outcome;

static void on_done(void *arg, int result, const char *detail)
{
	outcome *o = arg;
	size_t n = strlen(detail);

	o->calls++;
	o->result = result;
	assert_true(n < ROTJOB_DETAIL_MAX);
	for (size_t i = 0; i < n; i++)
		assert_true(detail[i] >= 0x20 && detail[i] < 0x7f);
	memcpy(o->detail, detail, n + 1);
}

static void path_in_dir(char *out, const char *name)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);

	assert_true(n > 0 && n < PATH_MAX);
}

/* dir/name: "#!/bin/sh" then the body, given as printf format and
 * arguments; mode as given. Returns the path in out. */
__attribute__((format(printf, 3, 4))) static void
script(char *out, const char *name, const char *fmt, ...)
{
	char body[SCRIPT_MAX];
	va_list ap;
	int n, fd;

	va_start(ap, fmt);
	n = vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof(body));
	path_in_dir(out, name);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0700);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "#!/bin/sh\n", 10), 10);
	assert_int_equal(write(fd, body, (size_t)n), n);
	assert_int_equal(close(fd), 0);
}

/* Contents of dir/name into buf (NUL-terminated); its length. */
static size_t slurp(const char *name, char *buf, size_t size)
{
	char path[PATH_MAX];
	size_t len = 0;
	ssize_t n;
	int fd;

	path_in_dir(path, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	while ((n = read(fd, buf + len, size - 1 - len)) > 0)
		len += (size_t)n;
	assert_true(n == 0);
	close(fd);
	buf[len] = '\0';
	return len;
}

static bool file_complete(const char *name)
{
	char path[PATH_MAX], buf[64];
	ssize_t n;
	int fd;

	path_in_dir(path, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	return n > 0 && buf[n - 1] == '\n';
}

/* A decimal pid the script wrote to dir/name. */
static pid_t read_pid(const char *name)
{
	char buf[64], *end;
	long v;

	slurp(name, buf, sizeof(buf));
	errno = 0;
	v = strtol(buf, &end, 10);
	assert_int_equal(errno, 0);
	assert_true(end != buf && *end == '\n' && v > 1 && v <= INT_MAX);
	return (pid_t)v;
}

static int64_t start_ms;

static rotcmd *start(loop *l, const char *path, const void *in, size_t len,
                     int timeout_ms, outcome *o)
{
	rotcmd *job = NULL;

	*o = (outcome){ .result = 1 };
	start_ms = loop_now_ms();
	assert_int_equal(rotcmd_start(spawner, l, path, in, len, timeout_ms,
	                              on_done, o, &job),
	                 0);
	assert_non_null(job);
	/* Never from inside rotcmd_start. */
	assert_int_equal(o->calls, 0);
	return job;
}

/* Turn the loop until done has been called (at most 8 s); the time taken. */
static int64_t wait_done(loop *l, outcome *o)
{
	while (o->calls == 0 && loop_now_ms() - start_ms < 8000)
		assert_int_equal(loop_turn(l, 100), 0);
	assert_int_equal(o->calls, 1);
	/* And only once. */
	assert_int_equal(loop_turn(l, 0), 0);
	assert_int_equal(o->calls, 1);
	return loop_now_ms() - start_ms;
}

static int64_t run(loop *l, const char *path, const void *in, size_t len,
                   int timeout_ms, outcome *o)
{
	start(l, path, in, len, timeout_ms, o);
	return wait_done(l, o);
}

/* Our child, and reaped: no zombie left. */
static void assert_reaped(pid_t pid)
{
	assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	assert_int_equal(kill(pid, 0), -1);
	assert_int_equal(errno, ESRCH);
}

/* Not our child (left in the command's group): gone within 2 s. */
static void assert_dies(pid_t pid)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0u);
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (fd < 0) {
		assert_int_equal(errno, ESRCH);
		return;
	}
	assert_int_equal(poll(&p, 1, 2000), 1);
	close(fd);
}

static int setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	loop *l = NULL;
	int n = snprintf(dir, sizeof(dir), "%s/test_rotcmd.XXXXXX",
	                 tmp && tmp[0] == '/' ? tmp : "/tmp");

	if (n <= 0 || (size_t)n >= sizeof(dir) || !mkdtemp(dir))
		return -1;
	if (spawn_client_new(&spawner) != 0 || loop_new(&l) != 0 ||
	    spawn_client_attach(spawner, l) != 0)
		return -1;
	*state = l;
	return 0;
}

static int teardown(void **state)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	spawn_client_free(spawner);
	spawner = NULL;
	loop_free(*state);
	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] != '.')
			(void)unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
	return rmdir(dir);
}

static void test_success_input(void **state)
{
	static const char in[] =
		"{\"name\":\"db/password\",\"value\":\"s3cr3t\"}";
	char path[PATH_MAX], got[256];
	outcome o;

	script(path, "ok.sh", "cat > '%s/in'\necho $$ > '%s/pid'\n", dir, dir);
	run(*state, path, in, sizeof(in) - 1, 5000, &o);
	assert_int_equal(o.result, 0);
	assert_string_equal(o.detail, "exit status 0");
	assert_int_equal(slurp("in", got, sizeof(got)), sizeof(in) - 1);
	assert_string_equal(got, in);
	assert_reaped(read_pid("pid"));
}

/* More input than a pipe holds: written as the command reads it. */
static void test_large_input(void **state)
{
	size_t len = 1024 * 1024;
	char *in = malloc(len), *got = malloc(len + 1);
	char path[PATH_MAX];
	outcome o;

	assert_non_null(in);
	assert_non_null(got);
	for (size_t i = 0; i < len; i++)
		in[i] = (char)('a' + i % 26);
	script(path, "big.sh", "cat > '%s/in'\n", dir);
	run(*state, path, in, len, 5000, &o);
	assert_int_equal(o.result, 0);
	assert_int_equal(slurp("in", got, len + 1), len);
	assert_memory_equal(got, in, len);
	free(in);
	free(got);
}

/* No input: stdin is at EOF at once (else cat would wait for the timeout). */
static void test_empty_input(void **state)
{
	char path[PATH_MAX], got[16];
	outcome o;

	script(path, "empty.sh", "cat > '%s/in'\n", dir);
	run(*state, path, NULL, 0, 5000, &o);
	assert_int_equal(o.result, 0);
	assert_int_equal(slurp("in", got, sizeof(got)), 0);
}

static void test_exit_status(void **state)
{
	char path[PATH_MAX];
	outcome o;

	script(path, "fail.sh",
	       "echo 'bad credentials' >&2\necho 'more'\nexit 3\n");
	run(*state, path, "{}", 2, 5000, &o);
	assert_int_equal(o.result, KW_ESTATE);
	assert_string_equal(o.detail, "exit status 3: bad credentials");

	script(path, "quiet.sh", "exit 5\n");
	run(*state, path, "{}", 2, 5000, &o);
	assert_int_equal(o.result, KW_ESTATE);
	assert_string_equal(o.detail, "exit status 5");

	/* Control bytes and non-ASCII become '?'; CR LF ends the line. */
	script(path, "odd.sh",
	       "printf '\\n\\nbad\\tkey \\001\\377\\r\\nsecond\\n'\nexit 1\n");
	run(*state, path, "{}", 2, 5000, &o);
	assert_int_equal(o.result, KW_ESTATE);
	assert_string_equal(o.detail, "exit status 1: bad?key ??");
}

static void test_long_line_truncated(void **state)
{
	char path[PATH_MAX];
	outcome o;

	script(path, "long.sh",
	       "head -c 1000 /dev/zero | tr '\\0' a\nexit 1\n");
	run(*state, path, "{}", 2, 5000, &o);
	assert_int_equal(o.result, KW_ESTATE);
	assert_int_equal(strlen(o.detail), ROTJOB_DETAIL_MAX - 1);
	assert_memory_equal(o.detail, "exit status 1: aaaa", 19);
}

/* Far more output than is kept: read and dropped, no hang. */
static void test_output_overflow(void **state)
{
	char path[PATH_MAX];
	outcome o;

	script(path, "loud.sh",
	       "echo first\nhead -c 2000000 /dev/zero\nexit 2\n");
	assert_true(run(*state, path, "{}", 2, 5000, &o) < 4000);
	assert_int_equal(o.result, KW_ESTATE);
	assert_string_equal(o.detail, "exit status 2: first");

	script(path, "loud0.sh", "head -c 2000000 /dev/zero\n");
	assert_true(run(*state, path, "{}", 2, 5000, &o) < 4000);
	assert_int_equal(o.result, 0);
}

/* Exits without reading 1 MiB of input: EPIPE, not SIGPIPE, and success. */
static void test_ignores_stdin(void **state)
{
	size_t len = 1024 * 1024;
	char *in = calloc(1, len);
	char path[PATH_MAX];
	outcome o;

	assert_non_null(in);
	script(path, "deaf.sh", "exec 0<&-\necho $$ > '%s/pid'\nexit 0\n", dir);
	run(*state, path, in, len, 5000, &o);
	assert_int_equal(o.result, 0);
	assert_string_equal(o.detail, "exit status 0");
	assert_reaped(read_pid("pid"));
	free(in);
}

static void test_killed_by_signal(void **state)
{
	char path[PATH_MAX], want[64];
	outcome o;

	script(path, "sig.sh", "kill -USR1 $$\nsleep 20\n");
	run(*state, path, "{}", 2, 5000, &o);
	assert_int_equal(o.result, KW_ESTATE);
	snprintf(want, sizeof(want), "killed by signal %d", SIGUSR1);
	assert_string_equal(o.detail, want);
}

/* SIGTERM at the timeout ends it (and its group) at once. */
static void test_timeout_term(void **state)
{
	char path[PATH_MAX];
	int64_t ms;
	outcome o;

	script(path, "slow.sh",
	       "sleep 20 &\necho $! > '%s/bg'\necho $$ > '%s/pid'\nexec sleep 20\n",
	       dir, dir);
	ms = run(*state, path, "{}", 2, 300, &o);
	assert_int_equal(o.result, KW_ETIMEOUT);
	assert_string_equal(o.detail, "timed out after 300 ms");
	assert_true(ms >= 300 && ms < 1500);
	assert_reaped(read_pid("pid"));
	assert_dies(read_pid("bg"));
}

/* A command that exits normally takes what it left running with it. */
static void test_exit_kills_leftovers(void **state)
{
	char path[PATH_MAX], buf[64];
	outcome o;

	script(path, "leave.sh",
	       "sleep 20 >/dev/null 2>&1 &\necho $! > '%s/bg'\n"
	       "grep NoNewPrivs /proc/self/status > '%s/nnp'\nexit 0\n",
	       dir, dir);
	run(*state, path, "{}", 2, 5000, &o);
	assert_int_equal(o.result, 0);
	assert_dies(read_pid("bg"));
	/* And it could not have gained privileges on the way. */
	slurp("nnp", buf, sizeof(buf));
	assert_string_equal(buf, "NoNewPrivs:\t1\n");
}

/* SIGTERM ignored by the whole group: SIGKILL 2 s later. */
static void test_timeout_kill(void **state)
{
	char path[PATH_MAX];
	int64_t ms;
	outcome o;

	script(path, "stubborn.sh",
	       "trap '' TERM\nsleep 20 &\necho $! > '%s/bg'\n"
	       "echo $$ > '%s/pid'\nexec sleep 20\n",
	       dir, dir);
	ms = run(*state, path, "{}", 2, 300, &o);
	assert_int_equal(o.result, KW_ETIMEOUT);
	assert_string_equal(o.detail, "timed out after 300 ms");
	assert_true(ms >= 2300 && ms < 4000);
	assert_reaped(read_pid("pid"));
	assert_dies(read_pid("bg"));
}

/* The command ends on SIGTERM but leaves a member that ignores it: that
 * one is killed when the command is reaped, without the 2 s wait. */
static void test_timeout_straggler(void **state)
{
	char path[PATH_MAX];
	int64_t ms;
	outcome o;

	script(path, "straggler.sh",
	       "(trap '' TERM; exec sleep 20) &\necho $! > '%s/bg'\n"
	       "exec sleep 20\n",
	       dir);
	ms = run(*state, path, "{}", 2, 300, &o);
	assert_int_equal(o.result, KW_ETIMEOUT);
	assert_true(ms >= 300 && ms < 1500);
	assert_dies(read_pid("bg"));
}

static void test_environment(void **state)
{
	char path[PATH_MAX], got[4096], home[PATH_MAX + 8], user[300];
	struct passwd *pw = getpwuid(geteuid());
	const char *want[5];
	size_t len, n = 0;
	outcome o;

	assert_non_null(pw);
	snprintf(home, sizeof(home), "HOME=%s", pw->pw_dir);
	snprintf(user, sizeof(user), "USER=%s", pw->pw_name);
	want[0] = "PATH=/usr/local/bin:/usr/bin:/bin";
	want[1] = "LANG=C.UTF-8";
	want[2] = home;
	want[3] = user;
	want[4] = "KEYWARD_ROTATION=1";
	assert_int_equal(setenv("KW_TEST_LEAK", "must-not-appear", 1), 0);

	script(path, "env.sh", "cat /proc/$$/environ > '%s/env'\n", dir);
	run(*state, path, "{}", 2, 5000, &o);
	assert_int_equal(o.result, 0);
	len = slurp("env", got, sizeof(got));
	assert_null(strstr(got, "KW_TEST_LEAK"));
	for (size_t off = 0; off < len; off += strlen(got + off) + 1) {
		bool known = false;
		for (size_t i = 0; i < 5; i++)
			known = known || strcmp(got + off, want[i]) == 0;
		if (!known)
			fail_msg("unexpected variable: %s", got + off);
		n++;
	}
	assert_int_equal(n, 5);
	unsetenv("KW_TEST_LEAK");
}

/* fds, argv, cwd, umask, core limit, process group, signal state. */
static void test_process_state(void **state)
{
	char path[PATH_MAX], got[512], want[PATH_MAX + 32], *sp;
	int leak = open("/dev/null", O_RDONLY); /* not close-on-exec */
	outcome o;

	assert_true(leak > 3);
	script(path, "state.sh",
	       "ls /proc/self/fd > '%s/fds'\n"
	       "printf '%%s\\n' \"$#\" \"$0\" > '%s/argv'\n"
	       "tr '\\0' ' ' < /proc/$$/cmdline > '%s/cmdline'\n"
	       "pwd > '%s/cwd'\n"
	       "umask > '%s/umask'\n"
	       "ulimit -c > '%s/core'\n"
	       "echo $$ $(cut -d' ' -f5 /proc/$$/stat) > '%s/pgid'\n"
	       /* Builtins only: dash blocks every signal while it waits
	        * for a child such as grep, and /proc may show that. */
	       "while read -r k v; do case $k in SigBlk:|SigIgn:)"
	       " printf '%%s\\t%%s\\n' \"$k\" \"$v\";; esac;"
	       " done < /proc/$$/status > '%s/sig'\n",
	       dir, dir, dir, dir, dir, dir, dir, dir);
	run(*state, path, "{}", 2, 5000, &o);
	close(leak);
	assert_int_equal(o.result, 0);

	/* 0, 1, 2 and the directory ls is listing. */
	slurp("fds", got, sizeof(got));
	assert_string_equal(got, "0\n1\n2\n3\n");
	/* argv is [path]: a script sees no arguments, $0 the path, and the
	 * kernel passes the interpreter just the path. */
	snprintf(want, sizeof(want), "0\n%s\n", path);
	slurp("argv", got, sizeof(got));
	assert_string_equal(got, want);
	snprintf(want, sizeof(want), "/bin/sh %s ", path);
	slurp("cmdline", got, sizeof(got));
	assert_string_equal(got, want);
	slurp("cwd", got, sizeof(got));
	assert_string_equal(got, "/\n");
	slurp("umask", got, sizeof(got));
	assert_string_equal(got, "0077\n");
	slurp("core", got, sizeof(got));
	assert_string_equal(got, "0\n");
	/* Its own group: the group id is its pid. */
	slurp("pgid", got, sizeof(got));
	sp = strchr(got, ' ');
	assert_non_null(sp);
	*sp++ = '\0';
	assert_true(strlen(sp) > 1 && sp[strlen(sp) - 1] == '\n');
	sp[strlen(sp) - 1] = '\0';
	assert_string_equal(got, sp);
	/* Neither the agent's blocked signals nor its ignored SIGPIPE. */
	slurp("sig", got, sizeof(got));
	assert_string_equal(got, "SigBlk:\t0000000000000000\n"
	                         "SigIgn:\t0000000000000000\n");
}

static void test_cancel(void **state)
{
	char path[PATH_MAX];
	int64_t t;
	pid_t pid;
	rotcmd *job;
	outcome o;

	script(path, "cancel.sh",
	       "sleep 20 &\necho $! > '%s/bg'\necho $$ > '%s/pid'\nexec sleep 20\n",
	       dir, dir);
	job = start(*state, path, "{}", 2, 5000, &o);
	while (!file_complete("pid") && loop_now_ms() - start_ms < 3000)
		assert_int_equal(loop_turn(*state, 20), 0);
	pid = read_pid("pid");
	assert_int_equal(kill(pid, 0), 0);
	t = loop_now_ms();
	rotcmd_cancel(job);
	assert_true(loop_now_ms() - t < 1000);
	assert_reaped(pid);
	assert_dies(read_pid("bg"));
	assert_int_equal(loop_turn(*state, 50), 0);
	assert_int_equal(o.calls, 0);
	rotcmd_cancel(NULL);
}

/* on_done without cmocka; the parent checks the detail. */
static void on_done_forked(void *arg, int result, const char *detail)
{
	outcome *o = arg;

	o->calls++;
	o->result = result;
	snprintf(o->detail, sizeof(o->detail), "%s", detail);
}

/*
 * Start the script at path in a forked copy of this test running a loop
 * (the "agent"), wait until the script has written its pid to dir/pid,
 * kill the copy with SIGKILL, and return the command's pid. This process
 * is made a subreaper, so that what the copy leaves comes here.
 */
static pid_t kill_agent_during(void **state, const char *path)
{
	pid_t agent;
	int status;

	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
	agent = fork();
	assert_true(agent >= 0);
	if (agent == 0) {
		loop *l = NULL;
		rotcmd *job = NULL;
		outcome o;

		if (spawn_client_new(&spawner) != 0 || loop_new(&l) != 0 ||
		    spawn_client_attach(spawner, l) != 0 ||
		    rotcmd_start(spawner, l, path, "{}", 2, 60000,
		                 on_done_forked, &o, &job) != 0)
			_exit(1);
		for (;;)
			(void)loop_turn(l, 1000);
	}
	start_ms = loop_now_ms();
	/* A deadline, not a measurement: a script that walks /proc can take
	 * seconds on a loaded machine with many processes. */
	while (!file_complete("pid") && loop_now_ms() - start_ms < 30000)
		assert_int_equal(loop_turn(*state, 20), 0);
	assert_int_equal(kill(agent, SIGKILL), 0);
	assert_int_equal(waitpid(agent, &status, 0), agent);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	return read_pid("pid");
}

/* Reap what is left of group pgid (here by kill_agent_during); fail if
 * any of it is still there 10 s on. Its members come here only once the
 * spawner, their parent, has died too, which happens after the agent's
 * death: until then none of them is ours to reap. */
static void assert_group_ends(void **state, pid_t pgid)
{
	siginfo_t si;

	start_ms = loop_now_ms();
	for (;;) {
		memset(&si, 0, sizeof(si));
		int w = waitid(P_PGID, (id_t)pgid, &si, WEXITED | WNOHANG);
		if (w == 0 && si.si_pid != 0)
			continue;
		if (w != 0) {
			assert_int_equal(errno, ECHILD);
			if (kill(-pgid, 0) != 0) {
				assert_int_equal(errno, ESRCH);
				break;
			}
		}
		if (loop_now_ms() - start_ms > 10000)
			fail_msg("a process of the group outlived the agent");
		assert_int_equal(loop_turn(*state, 20), 0);
	}
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0), 0);
}

/* The agent dies by SIGKILL while a command runs that started a child of
 * its own and sent SIGTERM to its whole group: the command, its child and
 * the keeper all die with the agent. */
static void test_dies_with_agent(void **state)
{
	char path[PATH_MAX];
	pid_t cmd;

	script(path, "orphan.sh",
	       "trap '' TERM\n"
	       "sleep 30 &\n"
	       "echo $! > '%s/bg'\n"
	       "kill -TERM 0\n"
	       "echo $$ > '%s/pid'\n"
	       "exec sleep 30\n",
	       dir, dir);
	cmd = kill_agent_during(state, path);
	assert_dies(cmd);
	assert_dies(read_pid("bg"));
	assert_group_ends(state, cmd);
}

/* The command kills the keeper first (every other member of its group):
 * PR_SET_PDEATHSIG alone still ends the command with the agent. */
static void test_dies_with_agent_without_keeper(void **state)
{
	char path[PATH_MAX];
	pid_t cmd;

	script(path, "nokeeper.sh",
	       "for f in /proc/[0-9]*/stat; do\n"
	       "  read -r s < \"$f\" 2>/dev/null || continue\n"
	       "  set -- $s\n"
	       "  if [ \"$5\" = $$ ] && [ \"$1\" != $$ ]; then\n"
	       "    kill -9 \"$1\" 2>/dev/null\n"
	       "  fi\n"
	       "done\n"
	       "echo $$ > '%s/pid'\n"
	       "exec sleep 30\n",
	       dir);
	cmd = kill_agent_during(state, path);
	assert_dies(cmd);
	assert_group_ends(state, cmd);
}

/* The job names its group: its id is the command's pid, its leader's
 * start time is the one /proc gives for that pid. */
static void test_group_of(void **state)
{
	char path[PATH_MAX], stat[512], *p;
	procgroup g;
	rotcmd *job;
	outcome o;

	script(path, "grp.sh",
	       "cat /proc/$$/stat > '%s/stat'\n"
	       "echo $$ > '%s/pid'\nexec sleep 20\n",
	       dir, dir);
	job = start(*state, path, "{}", 2, 5000, &o);
	while (!file_complete("pid") && loop_now_ms() - start_ms < 3000)
		assert_int_equal(loop_turn(*state, 20), 0);
	assert_int_equal(rotcmd_group_of(job, &g), 0);
	assert_int_equal(g.pgid, read_pid("pid"));
	assert_int_equal(g.sid, getsid(0));
	assert_int_equal(strlen(g.boot), PROCGROUP_BOOT_ID_LEN);
	slurp("stat", stat, sizeof(stat));
	p = strrchr(stat, ')');
	assert_non_null(p);
	for (int field = 2; field < 22; field++) {
		p = strchr(p + 1, ' ');
		assert_non_null(p);
	}
	assert_int_equal(g.start, strtoull(p + 1, NULL, 10));
	assert_int_equal(rotcmd_group_of(NULL, &g), KW_EINVAL);
	rotcmd_cancel(job);
}

/* Could not be executed: reported through done, never by rotcmd_start. */
static void test_exec_failure(void **state)
{
	char path[PATH_MAX], want[128];
	outcome o;

	path_in_dir(path, "missing");
	run(*state, path, "{}", 2, 5000, &o);
	assert_int_equal(o.result, KW_EIO);
	snprintf(want, sizeof(want), "could not run: execve: %s",
	         strerror(ENOENT));
	assert_string_equal(o.detail, want);

	/* The interpreter is missing. */
	path_in_dir(path, "interp.sh");
	{
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		              0700);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, "#!/nonexistent/sh\n", 18), 18);
		close(fd);
	}
	run(*state, path, "{}", 2, 5000, &o);
	assert_int_equal(o.result, KW_EIO);
	assert_string_equal(o.detail, want);

	script(path, "noexec.sh", "exit 0\n");
	assert_int_equal(chmod(path, 0600), 0);
	run(*state, path, "{}", 2, 5000, &o);
	assert_int_equal(o.result, KW_EIO);
	snprintf(want, sizeof(want), "could not run: execve: %s",
	         strerror(EACCES));
	assert_string_equal(o.detail, want);

	run(*state, dir, "{}", 2, 5000, &o);
	assert_int_equal(o.result, KW_EIO);
	assert_string_equal(o.detail, want);
}

static void test_bad_args(void **state)
{
	rotcmd *job = (rotcmd *)&job; /* must stay untouched */
	rotcmd *const sentinel = job;
	loop *l = *state;
	outcome o = { 0 };

	assert_int_equal(rotcmd_start(spawner, l, "bin/x", "{}", 2, 1000,
	                              on_done, &o, &job),
	                 KW_EINVAL);
	assert_int_equal(rotcmd_start(spawner, l, "/bin/true", "{}", 2, 0,
	                              on_done, &o, &job),
	                 KW_EINVAL);
	assert_int_equal(rotcmd_start(spawner, l, "/bin/true", NULL, 2, 1000,
	                              on_done, &o, &job),
	                 KW_EINVAL);
	assert_int_equal(rotcmd_start(spawner, l, "/bin/true", "{}", 2, 1000,
	                              NULL, &o, &job),
	                 KW_EINVAL);
	assert_int_equal(rotcmd_start(spawner, NULL, "/bin/true", "{}", 2, 1000,
	                              on_done, &o, &job),
	                 KW_EINVAL);
	assert_ptr_equal(job, sentinel);
	assert_int_equal(loop_turn(l, 0), 0);
	assert_int_equal(o.calls, 0);
}

/* Two at once on one loop; the second child briefly holds the first's
 * stdin pipe, which must not keep the first from seeing EOF. */
static void test_concurrent(void **state)
{
	char pa[PATH_MAX], pb[PATH_MAX], got[16];
	outcome a, b;

	script(pa, "a.sh", "cat > '%s/a'\n", dir);
	script(pb, "b.sh", "cat > '%s/b'\n", dir);
	start(*state, pa, "AAA", 3, 5000, &a);
	start(*state, pb, "BB", 2, 5000, &b);
	while ((a.calls == 0 || b.calls == 0) &&
	       loop_now_ms() - start_ms < 5000)
		assert_int_equal(loop_turn(*state, 100), 0);
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 1);
	assert_int_equal(a.result, 0);
	assert_int_equal(b.result, 0);
	slurp("a", got, sizeof(got));
	assert_string_equal(got, "AAA");
	slurp("b", got, sizeof(got));
	assert_string_equal(got, "BB");
}

/*
 * Paths that need a syscall to fail are run in a forked copy of the test
 * under a seccomp filter that makes that one syscall fail with ENOSYS (as
 * on an older kernel). The copy cannot use cmocka (a failed assert would
 * carry on with the next test there): it exits with the number of the
 * check that failed, 0 if none did.
 */
static int deny_syscall(long nr)
{
	/* No arch check: a test process makes native syscalls only. */
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		         offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {
		.len = (unsigned short)(sizeof(code) / sizeof(code[0])),
		.filter = code,
	};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

static void check(bool ok, int n)
{
	if (!ok)
		_exit(n);
}

/* Run path in a copy of this process where syscall nr fails; the copy's
 * outcome in *o (or the test fails). */
static void run_without(long nr, const char *path, outcome *o)
{
	int fds[2], status;
	pid_t pid;

	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		loop *l = NULL;
		rotcmd *job = NULL;
		int64_t t0 = loop_now_ms();

		close(fds[0]);
		*o = (outcome){ .result = 1 };
		check(deny_syscall(nr) == 0, 10);
		check(spawn_client_new(&spawner) == 0 && loop_new(&l) == 0 &&
		              spawn_client_attach(spawner, l) == 0,
		      11);
		check(rotcmd_start(spawner, l, path, "{}", 2, 5000,
		                   on_done_forked, o, &job) == 0,
		      12);
		check(o->calls == 0, 13);
		while (o->calls == 0 && loop_now_ms() - t0 < 5000)
			check(loop_turn(l, 100) == 0, 14);
		check(o->calls == 1, 15);
		/* Nothing left to reap once the spawner is gone: the
		 * command was reaped. */
		spawn_client_free(spawner);
		check(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD, 16);
		check(write(fds[1], o, sizeof(*o)) == (ssize_t)sizeof(*o), 17);
		_exit(0);
	}
	close(fds[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 10) {
		close(fds[0]);
		skip(); /* no seccomp filters here */
	}
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(read(fds[0], o, sizeof(*o)), sizeof(*o));
	close(fds[0]);
}

/* Linux before 5.3: no pidfd. The spawner kills the child and done says
 * why. */
static void test_no_pidfd(void **state)
{
	char path[PATH_MAX], want[128];
	outcome o;

	(void)state;
	script(path, "nopidfd.sh", "exec sleep 20\n");
	run_without(SYS_pidfd_open, path, &o);
	assert_int_equal(o.result, KW_EIO);
	snprintf(want, sizeof(want),
	         "could not start the command: pidfd_open: %s",
	         strerror(ENOSYS));
	assert_string_equal(o.detail, want);
}

/* Linux before 5.9: no close_range; fds are closed from /proc/self/fd. */
static void test_no_close_range(void **state)
{
	char path[PATH_MAX], got[64];
	int leak = open("/dev/null", O_RDONLY); /* not close-on-exec */
	outcome o;

	(void)state;
	assert_true(leak > 3);
	script(path, "fds.sh", "ls /proc/self/fd > '%s/fds'\n", dir);
	run_without(SYS_close_range, path, &o);
	close(leak);
	assert_int_equal(o.result, 0);
	slurp("fds", got, sizeof(got));
	assert_string_equal(got, "0\n1\n2\n3\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_success_input, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_large_input, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_empty_input, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_exit_status, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_long_line_truncated, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_output_overflow, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_ignores_stdin, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_killed_by_signal, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_timeout_term, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_timeout_kill, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_exit_kills_leftovers,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_straggler, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_environment, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_process_state, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dies_with_agent, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(
			test_dies_with_agent_without_keeper, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_of, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exec_failure, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_bad_args, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_no_pidfd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_close_range, setup,
		                                teardown),
	};
	struct rlimit core;
	sigset_t set;

	if (kw_secmem_init() != 0)
		return 1;
	/* Core dumps allowed in the limit (so that the child's RLIMIT_CORE 0
	 * is its own doing) but not taken: like keywardd, not dumpable. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 ||
	    getrlimit(RLIMIT_CORE, &core) != 0)
		return 1;
	core.rlim_cur = core.rlim_max;
	if (setrlimit(RLIMIT_CORE, &core) != 0)
		return 1;
	/* As keywardd (agent_signals): the child must undo both. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
