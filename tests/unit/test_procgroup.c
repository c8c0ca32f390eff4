/*
 * test_procgroup.c - naming a process group and killing what is left of
 * it later (procgroup.h), with real processes: forked copies of this test
 * that pause. This process is a subreaper, so that members whose leader
 * exits come here and their end can be seen with waitpid.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "keyward.h"
#include "procgroup.h"

struct group {
	pid_t leader, member;
};

/* A leader in a group of its own with one member, its child. With
 * leader_exits the leader exits once the member is there (and is reaped
 * here), leaving the member alone in the group. */
static struct group spawn(bool leader_exits)
{
	struct group g = { 0, 0 };
	int fds[2];
	ssize_t n;

	assert_int_equal(pipe(fds), 0);
	g.leader = fork();
	assert_true(g.leader >= 0);
	if (g.leader == 0) {
		pid_t m;
		close(fds[0]);
		if (setpgid(0, 0) != 0)
			_exit(1);
		m = fork();
		if (m < 0)
			_exit(1);
		if (m == 0) {
			for (;;)
				pause();
		}
		if (write(fds[1], &m, sizeof(m)) != (ssize_t)sizeof(m))
			_exit(1);
		if (leader_exits)
			_exit(0);
		for (;;)
			pause();
	}
	close(fds[1]);
	(void)setpgid(g.leader, g.leader);
	n = read(fds[0], &g.member, sizeof(g.member));
	close(fds[0]);
	assert_int_equal(n, (ssize_t)sizeof(g.member));
	return g;
}

/* pid is our child (or came to us) and ends, killed by SIGKILL. */
static void assert_killed(pid_t pid)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
}

/* Running: neither gone nor a zombie (a member may not be our child). */
static void assert_alive(pid_t pid)
{
	char path[32], buf[256], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	assert_non_null(p);
	assert_true(p[1] == ' ' && p[2] != 'Z');
}

static void cleanup(struct group g)
{
	(void)kill(-g.leader, SIGKILL);
	while (waitpid(-g.leader, NULL, 0) > 0)
		;
}

static void test_identify(void **state)
{
	struct group g = spawn(false);
	procgroup pg;

	(void)state;
	assert_int_equal(procgroup_identify(g.leader, &pg), 0);
	assert_int_equal(pg.pgid, g.leader);
	assert_int_equal(pg.sid, getsid(0));
	assert_true(pg.start > 0);
	assert_int_equal(strlen(pg.boot), PROCGROUP_BOOT_ID_LEN);
	cleanup(g);
	assert_int_equal(procgroup_identify(g.leader, &pg), KW_ENOTFOUND);
}

/* Still the group: leader and member die, and only after both have. */
static void test_kill_group(void **state)
{
	struct group g = spawn(false);
	procgroup pg;
	bool killed = false;

	(void)state;
	assert_int_equal(procgroup_identify(g.leader, &pg), 0);
	assert_int_equal(procgroup_kill(&pg, &killed), 0);
	assert_true(killed);
	/* No waiting left: both are zombies already. */
	assert_int_equal(waitpid(g.leader, NULL, WNOHANG), g.leader);
	assert_killed(g.member);
	/* Nothing left: nothing to do. */
	killed = true;
	assert_int_equal(procgroup_kill(&pg, &killed), 0);
	assert_false(killed);
}

/* The leader's pid with another start time, or another boot: a stranger
 * that reused the id, left alone. */
static void test_stranger_left_alone(void **state)
{
	struct group g = spawn(false);
	procgroup pg, other;
	bool killed = true;

	(void)state;
	assert_int_equal(procgroup_identify(g.leader, &pg), 0);
	other = pg;
	other.start = pg.start + 1;
	assert_int_equal(procgroup_kill(&other, &killed), 0);
	assert_false(killed);
	other = pg;
	other.boot[0] = other.boot[0] == '0' ? '1' : '0';
	killed = true;
	assert_int_equal(procgroup_kill(&other, &killed), 0);
	assert_false(killed);
	assert_alive(g.leader);
	assert_alive(g.member);
	cleanup(g);
}

/* The leader gone, its member left in the group: killed, unless it does
 * not look like one of ours (another session, or started earlier). */
static void test_leader_gone(void **state)
{
	struct group g = spawn(true);
	procgroup pg, other;
	bool killed = true;
	int status;

	(void)state;
	assert_int_equal(procgroup_identify(g.leader, &pg), 0);
	assert_int_equal(waitpid(g.leader, &status, 0), g.leader);
	assert_true(WIFEXITED(status));
	other = pg;
	other.sid = pg.sid + 1;
	assert_int_equal(procgroup_kill(&other, &killed), 0);
	assert_false(killed);
	other = pg;
	other.start = pg.start + 1000000;
	killed = true;
	assert_int_equal(procgroup_kill(&other, &killed), 0);
	assert_false(killed);
	assert_alive(g.member);
	assert_int_equal(procgroup_kill(&pg, &killed), 0);
	assert_true(killed);
	assert_killed(g.member);
}

static void test_bad_args(void **state)
{
	procgroup pg = { .pgid = 1 };
	bool killed;

	(void)state;
	assert_int_equal(procgroup_kill(&pg, &killed), KW_EINVAL);
	pg.pgid = 12345;
	assert_int_equal(procgroup_kill(NULL, &killed), KW_EINVAL);
	assert_int_equal(procgroup_kill(&pg, NULL), KW_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identify),
		cmocka_unit_test(test_kill_group),
		cmocka_unit_test(test_stranger_left_alone),
		cmocka_unit_test(test_leader_gone),
		cmocka_unit_test(test_bad_args),
	};

	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
