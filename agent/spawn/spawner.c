/*
 * spawner.c - see spawner.h.
 *
 * One thread, one poll loop: the socket and a pidfd per command. A
 * command's leader is reaped only after its group got SIGKILL and its
 * keeper was killed and reaped: until then the leader's pid, which is the
 * group id, cannot be reused, so no kill here or in the keeper can reach
 * a stranger's group.
 */
#include "spawner.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keyward.h"
#include "log.h"
#include "pidfd.h"
#include "procexe.h"
#include "spawn_child.h"
#include "spawn_msg.h"

struct job {
	bool used;
	uint32_t id;
	pid_t pid, keeper;
	int pid_fd, keep_fd, err_fd;
	bool group_known;
	procgroup group;
};

static struct job jobs[SPAWN_JOBS_MAX];
static int sock = -1;
/* keyward-net, while it runs (or until it is reaped): 0 if none. */
static pid_t net_pid;

static void job_kill(const struct job *j, int sig)
{
	if (killpg(j->pid, sig) != 0)
		(void)kill(j->pid, sig);
}

static void wait_for(pid_t pid, siginfo_t *si)
{
	memset(si, 0, sizeof(*si));
	while (waitid(P_PID, (id_t)pid, si, WEXITED) != 0 && errno == EINTR)
		;
}

/* Kill and reap the keeper, then close its pipe: a keeper that saw the
 * pipe close after the leader was reaped could kill a group that reuses
 * the id. */
static void keeper_stop(struct job *j)
{
	siginfo_t si;

	if (j->keeper > 0) {
		(void)kill(j->keeper, SIGKILL);
		wait_for(j->keeper, &si);
		j->keeper = 0;
	}
	if (j->keep_fd >= 0)
		close(j->keep_fd);
	j->keep_fd = -1;
}

/* Kill what is left of the group and wait until it is gone (at most
 * procgroup_kill's 2 s: a killed member that still holds a lock or a port
 * must not overlap with the next step), reap everything, free the slot;
 * *si gets the leader's end. */
static void job_end(struct job *j, siginfo_t *si)
{
	bool killed;

	job_kill(j, SIGKILL);
	keeper_stop(j);
	if (j->group_known)
		(void)procgroup_kill(&j->group, &killed);
	wait_for(j->pid, si);
	if (j->pid_fd >= 0)
		close(j->pid_fd);
	if (j->err_fd >= 0)
		close(j->err_fd);
	*j = (struct job){ .pid_fd = -1, .keep_fd = -1, .err_fd = -1 };
}

/* Kill keyward-net if it still runs and reap it; *si gets its end. */
static void net_end(siginfo_t *si)
{
	(void)kill(net_pid, SIGKILL);
	wait_for(net_pid, si);
	net_pid = 0;
}

/* Everything the spawner runs dies with it. */
static _Noreturn void spawner_exit(int status)
{
	siginfo_t si;

	for (size_t i = 0; i < SPAWN_JOBS_MAX; i++) {
		if (jobs[i].used)
			job_end(&jobs[i], &si);
	}
	if (net_pid > 0)
		net_end(&si);
	_exit(status);
}

static void reply(const void *msg, size_t len)
{
	if (spawn_msg_send(sock, msg, len, NULL, 0) < 0)
		spawner_exit(0); /* the agent is gone */
}

static void on_exit_event(struct job *j)
{
	struct spawn_exited ex;
	int ce[2] = { SPAWN_STEP_NONE, 0 };
	siginfo_t si;
	ssize_t n;

	memset(&ex, 0, sizeof(ex));
	ex.type = SPAWN_EXITED;
	ex.id = j->id;
	/* The child wrote its failed step before it exited, or nothing
	 * (the pipe closed at execve): the read never waits. */
	do {
		n = read(j->err_fd, ce, sizeof(ce));
	} while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(ce) || ce[0] < 0 || ce[0] >= SPAWN_STEP_COUNT)
		ce[0] = SPAWN_STEP_NONE;
	job_end(j, &si);
	ex.code = si.si_code;
	ex.status = si.si_status;
	ex.step = ce[0];
	ex.err = ce[0] == SPAWN_STEP_NONE ? 0 : ce[1];
	reply(&ex, sizeof(ex));
}

static struct job *job_find(uint32_t id)
{
	for (size_t i = 0; i < SPAWN_JOBS_MAX; i++) {
		if (jobs[i].used && jobs[i].id == id)
			return &jobs[i];
	}
	return NULL;
}

static struct job *job_slot(void)
{
	for (size_t i = 0; i < SPAWN_JOBS_MAX; i++) {
		if (!jobs[i].used)
			return &jobs[i];
	}
	return NULL;
}

/* The keeper and the pidfd, for a child that runs; a failure kills and
 * reaps it (SPAWN_FAIL_*, errno in *ret_err). */
static int job_watch(struct job *j, int *ret_err)
{
	int keep[2];
	siginfo_t si;
	int fail = SPAWN_OK;

	if (pipe2(keep, O_CLOEXEC) != 0) {
		fail = SPAWN_FAIL_PIPE;
		goto broken;
	}
	j->keep_fd = keep[1];
	j->keeper = fork();
	if (j->keeper == 0)
		spawn_keeper_run(keep[0], keep[1], j->pid);
	*ret_err = errno;
	close(keep[0]);
	if (j->keeper < 0) {
		j->keeper = 0;
		fail = SPAWN_FAIL_KEEPER;
		goto broken;
	}
	/* Outside the group the keeper guards nothing, and its kill could
	 * reach another group. */
	if (setpgid(j->keeper, j->pid) != 0) {
		*ret_err = errno;
		fail = SPAWN_FAIL_KEEPER;
		goto broken;
	}
	j->pid_fd = pidfd_of(j->pid);
	if (j->pid_fd < 0) {
		*ret_err = errno;
		fail = SPAWN_FAIL_PIDFD;
		goto broken;
	}
	return SPAWN_OK;
broken:
	if (fail == SPAWN_FAIL_PIPE)
		*ret_err = errno;
	job_end(j, &si);
	return fail;
}

/* Fork the command (fds: its stdin and stdout, closed here). */
static void on_start(const struct spawn_start *m, int fds[2])
{
	struct spawn_started st;
	struct spawn_env env = { .buf = NULL };
	struct job *j = job_slot();
	pid_t self = getpid();
	int errp[2] = { -1, -1 };
	char path[SPAWN_PATH_MAX];
	int r = 0;

	memset(&st, 0, sizeof(st));
	st.type = SPAWN_STARTED;
	st.id = m->id;
	memcpy(path, m->path, sizeof(path));
	if (!j) {
		st.fail = SPAWN_FAIL_BUSY;
	} else if ((r = spawn_env_build(&env)) < 0) {
		st.fail = SPAWN_FAIL_PASSWD;
		st.err = r == KW_ENOMEM ? ENOMEM : ENOENT;
	} else if (pipe2(errp, O_CLOEXEC) != 0 ||
	           fcntl(errp[0], F_SETFL, O_NONBLOCK) != 0) {
		st.fail = SPAWN_FAIL_PIPE;
		st.err = errno;
	} else {
		*j = (struct job){ .used = true,
			           .id = m->id,
			           .pid_fd = -1,
			           .keep_fd = -1,
			           .err_fd = errp[0] };
		errp[0] = -1;
		j->pid = fork();
		if (j->pid == 0)
			spawn_child_run(path, env.envp, fds[0], fds[1], errp[1],
			                self, m->cpu_seconds);
		if (j->pid < 0) {
			st.fail = SPAWN_FAIL_FORK;
			st.err = errno;
			close(j->err_fd);
			*j = (struct job){ .pid_fd = -1,
				           .keep_fd = -1,
				           .err_fd = -1 };
		}
	}
	close(fds[0]);
	close(fds[1]);
	for (size_t i = 0; i < 2; i++) {
		if (errp[i] >= 0)
			close(errp[i]);
	}
	spawn_env_free(&env);
	if (st.fail == SPAWN_OK) {
		/* Also done by the child; whichever runs first, the group
		 * exists before anyone could signal it. EACCES: it has
		 * already exec'd, so it has done it. */
		(void)setpgid(j->pid, j->pid);
		st.pid = j->pid;
		st.group_known = procgroup_identify(j->pid, &st.group) == 0;
		j->group_known = st.group_known != 0;
		j->group = st.group;
		st.fail = job_watch(j, &st.err);
	}
	reply(&st, sizeof(st));
}

#if KW_TEST_HOOKS
/* KEYWARD_TEST_NET_SIGSYS=FILE: if FILE exists, it is removed and the
 * next keyward-net gets KEYWARD_TEST_NET_SIGSYS=1, on which it makes a
 * system call outside its filter at its first transfer (tests/integration/
 * test_net.py). Test builds only (-Dtest_hooks). */
static char net_sigsys_env[] = "KEYWARD_TEST_NET_SIGSYS=1";

static char *net_test_env(void)
{
	const char *file = getenv("KEYWARD_TEST_NET_SIGSYS");

	return file && file[0] == '/' && unlink(file) == 0 ? net_sigsys_env :
	                                                     NULL;
}
#endif

/* Start keyward-net at m->path on a new socketpair; the agent gets its
 * end. A helper still running is ended first. */
static void on_net_start(const struct spawn_net_start *m)
{
	struct spawn_net_started st;
	char *envp[2] = { NULL, NULL };
	char path[SPAWN_PATH_MAX];
	pid_t self = getpid();
	siginfo_t si;
	int sv[2];

	memset(&st, 0, sizeof(st));
	st.type = SPAWN_NET_STARTED;
	st.id = m->id;
	memcpy(path, m->path, sizeof(path));
	if (net_pid > 0)
		net_end(&si);
#if KW_TEST_HOOKS
	envp[0] = net_test_env();
#endif
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		st.fail = SPAWN_FAIL_PIPE;
		st.err = errno;
		reply(&st, sizeof(st));
		return;
	}
	pid_t pid = fork();
	if (pid == 0)
		spawn_net_child_run(path, envp, sv[1], self);
	st.err = errno;
	close(sv[1]);
	if (pid < 0) {
		st.fail = SPAWN_FAIL_FORK;
		close(sv[0]);
		reply(&st, sizeof(st));
		return;
	}
	st.err = 0;
	st.pid = pid;
	net_pid = pid;
	int r = spawn_msg_send(sock, &st, sizeof(st), &sv[0], 1);
	close(sv[0]);
	if (r < 0)
		spawner_exit(0); /* the agent is gone */
}

/* End keyward-net m->pid and say how it ended. */
static void on_net_stop(const struct spawn_net_stop *m)
{
	struct spawn_net_stopped st;
	siginfo_t si;

	memset(&st, 0, sizeof(st));
	st.type = SPAWN_NET_STOPPED;
	st.id = m->id;
	if (net_pid > 0 && m->pid == net_pid) {
		net_end(&si);
		st.known = 1;
		st.code = si.si_code;
		st.status = si.si_status;
	}
	reply(&st, sizeof(st));
}

/* Read a client's executable for the key holder, which cannot under
 * Landlock (spawn_msg.h). procfd is the client's /proc/PID directory. */
static void on_exe_read(const struct spawn_exe_read *m, int procfd)
{
	struct spawn_exe_info in;
	char path[PATH_MAX];
	procexe_id id;
	int fds[2], maps = -1, exe = -1, r;
	size_t n = 0;

	memset(&in, 0, sizeof(in));
	in.type = SPAWN_EXE_INFO;
	in.id = m->id;
	/* The maps first: an exec after this open shows in them, so the
	 * path read next is the one the maps vouch for or an exec shows. */
	if (m->want & SPAWN_EXE_MAP)
		maps = procexe_maps_open(procfd);
	if (procexe_read(procfd, path, &id) == 0) {
		in.known = 1;
		in.dev = (uint64_t)id.dev;
		in.ino = (uint64_t)id.ino;
		in.size = (int64_t)id.size;
		in.mtime_sec = (int64_t)id.mtime.tv_sec;
		in.mtime_nsec = (int64_t)id.mtime.tv_nsec;
		memcpy(in.path, path, strlen(path) + 1);
		if (m->want & SPAWN_EXE_FD)
			exe = procexe_open(procfd, &id);
	}
	close(procfd);
	if (exe >= 0) {
		in.fds |= SPAWN_EXE_FD;
		fds[n++] = exe;
	}
	if (maps >= 0) {
		in.fds |= SPAWN_EXE_MAP;
		fds[n++] = maps;
	}
	r = spawn_msg_send(sock, &in, sizeof(in), fds, n);
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
	if (r < 0)
		spawner_exit(0); /* the agent is gone */
}

static _Noreturn void refuse(const char *why)
{
	log_error("command spawner: %s; stopping every command", why);
	spawner_exit(1);
}

static void on_message(void)
{
	union spawn_msg m;
	int fds[SPAWN_FDS_MAX];
	int r = spawn_msg_recv(sock, &m, fds);

	if (r == KW_EBUSY)
		return;
	if (r == KW_ECLOSED)
		spawner_exit(0);
	if (r < 0)
		refuse("a malformed message from the agent");
	if (m.type == SPAWN_START) {
		if (memchr(m.start.path, '\0', sizeof(m.start.path)) == NULL ||
		    m.start.path[0] != '/' || m.start.cpu_seconds == 0 ||
		    job_find(m.start.id)) {
			close(fds[0]);
			close(fds[1]);
			refuse("an invalid start request from the agent");
		}
		on_start(&m.start, fds);
	} else if (m.type == SPAWN_SIGNAL) {
		if (m.signal.sig != SIGTERM && m.signal.sig != SIGKILL)
			refuse("a signal request for a signal other than "
			       "TERM or KILL");
		/* Unknown: it has just ended, and its EXITED is on its
		 * way. */
		struct job *j = job_find(m.signal.id);
		if (j)
			job_kill(j, m.signal.sig);
	} else if (m.type == SPAWN_NET_START) {
		if (memchr(m.net_start.path, '\0', sizeof(m.net_start.path)) ==
		            NULL ||
		    m.net_start.path[0] != '/')
			refuse("an invalid keyward-net start request");
		on_net_start(&m.net_start);
	} else if (m.type == SPAWN_NET_STOP) {
		on_net_stop(&m.net_stop);
	} else if (m.type == SPAWN_EXE_READ) {
		if ((m.exe_read.want & ~(SPAWN_EXE_FD | SPAWN_EXE_MAP)) != 0) {
			close(fds[0]);
			refuse("an invalid executable request from the agent");
		}
		on_exe_read(&m.exe_read, fds[0]);
	} else {
		refuse("a message the agent does not send");
	}
}

/* Ignore what can be ignored, but SIGCHLD: ignoring it would reap the
 * commands behind our back. */
static void spawner_signals(void)
{
	struct sigaction ign = { .sa_handler = SIG_IGN };
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;

	sigemptyset(&ign.sa_mask);
	sigemptyset(&dfl.sa_mask);
	for (int sig = 1; sig < NSIG; sig++) {
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)sigaction(sig, sig == SIGCHLD ? &dfl : &ign,
			                NULL);
	}
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Only the socket (moved to 3) and 0-2 stay open. */
static int spawner_fds(int fd)
{
	if (fd != 3) {
		if (dup3(fd, 3, O_CLOEXEC) < 0)
			return -1;
		close(fd);
	}
	sock = 3;
	return spawn_close_from(4);
}

void spawner_run(int fd)
{
	struct pollfd pfd[1 + SPAWN_JOBS_MAX];
	struct job *of[1 + SPAWN_JOBS_MAX];

	(void)prctl(PR_SET_NAME, "keyward-spawn", 0, 0, 0);
	spawner_signals();
	for (size_t i = 0; i < SPAWN_JOBS_MAX; i++)
		jobs[i] = (struct job){ .pid_fd = -1,
			                .keep_fd = -1,
			                .err_fd = -1 };
	if (spawner_fds(fd) != 0 ||
	    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) {
		log_error("command spawner: cannot start: %s", strerror(errno));
		_exit(1);
	}
	for (;;) {
		nfds_t n = 1;
		pfd[0] = (struct pollfd){ .fd = sock, .events = POLLIN };
		for (size_t i = 0; i < SPAWN_JOBS_MAX; i++) {
			if (!jobs[i].used)
				continue;
			pfd[n] = (struct pollfd){ .fd = jobs[i].pid_fd,
				                  .events = POLLIN };
			of[n++] = &jobs[i];
		}
		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			refuse("poll failed");
		}
		for (nfds_t i = 1; i < n; i++) {
			if (pfd[i].revents)
				on_exit_event(of[i]);
		}
		if (pfd[0].revents & POLLIN)
			on_message();
		else if (pfd[0].revents)
			spawner_exit(0);
	}
}
