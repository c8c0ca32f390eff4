/*
 * rotcmd.c - see rotcmd.h.
 *
 * keywardd has a worker thread, so between fork and execve the child may
 * only make async-signal-safe calls: argv and envp are built before the
 * fork, and a step that fails in the child is reported as two ints on a
 * close-on-exec pipe, which simply reads EOF once execve has succeeded.
 *
 * Everything on the parent's side that can fail is set up before the fork,
 * the timeout timer armed included, except the pidfd (it needs the pid).
 * If that fails the child is killed and the timer, re-armed to fire at
 * once, reports it: done is only ever called from a loop callback.
 *
 * The leader is reaped only after any kill of its group: until then its pid,
 * which is also the group id, cannot be reused, so killpg cannot hit a
 * stranger's group. The keeper (keeper_run) is killed and reaped before
 * the leader's reaping could matter to it: it is a member of the group, so
 * while it lives the id stays reserved for its own kill too.
 */
#include "rotcmd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keyward.h"
#include "secmem.h"

#define ROTCMD_KILL_DELAY_MS 2000
#define ROTCMD_REAP_POLL_MS  10
#define ROTCMD_PWBUF_MAX     (64u * 1024u)

enum rotcmd_phase {
	ROTCMD_RUNNING,
	ROTCMD_TERM_SENT, /* timed out: SIGKILL follows */
	ROTCMD_KILL_SENT,
	ROTCMD_BROKEN, /* killed because it could not be watched */
};

/* Steps of the child before execve, as reported on the error pipe. */
enum rotcmd_step {
	STEP_SIGNALS,
	STEP_PGID,
	STEP_PDEATHSIG,
	STEP_FDS,
	STEP_CWD,
	STEP_RLIMIT,
	STEP_NO_NEW_PRIVS,
	STEP_EXEC,
	STEP_COUNT
};

static const char *const step_names[STEP_COUNT] = {
	"signal mask", "setpgid",   "parent-death signal", "file descriptors",
	"chdir",       "setrlimit", "no_new_privs",        "execve",
};

struct rotcmd_childerr {
	int step;
	int err;
};

struct rotcmd {
	loop *l;
	rotjob_done done;
	void *arg;
	char *path;
	pid_t pid;
	int timeout_ms;
	enum rotcmd_phase phase;
	const char *broken_what; /* ROTCMD_BROKEN: the call that failed */
	int broken_err;

	unsigned char *input; /* wiped copy; NULL once written or abandoned */
	size_t input_len, input_off;
	char *out; /* the first ROTCMD_OUTPUT_MAX bytes of output */
	size_t out_len;

	int in_fd, out_fd, err_fd, timer_fd, pid_fd;
	loop_watch in_w, out_w, timer_w, pid_w;

	pid_t keeper; /* 0: none (yet) */
	int keep_fd;  /* the keeper's pipe: its only write end */
	bool group_known;
	procgroup group;
};

/* The sanitised environment; envp points into buf and static strings. */
struct rotcmd_env {
	char *envp[6];
	char *buf;
};

static char env_path[] = "PATH=/usr/local/bin:/usr/bin:/bin";
static char env_lang[] = "LANG=C.UTF-8";
static char env_rotation[] = "KEYWARD_ROTATION=1";

static int env_build(struct rotcmd_env *e)
{
	struct passwd pw, *res = NULL;
	char *pwbuf = NULL;
	size_t n = 1024;
	int err;

	for (;;) {
		char *p = realloc(pwbuf, n);
		if (!p) {
			free(pwbuf);
			return KW_ENOMEM;
		}
		pwbuf = p;
		err = getpwuid_r(geteuid(), &pw, pwbuf, n, &res);
		if (err != ERANGE || n >= ROTCMD_PWBUF_MAX)
			break;
		n *= 2;
	}
	if (err != 0 || !res) {
		free(pwbuf);
		return err == ENOMEM ? KW_ENOMEM : KW_EIO;
	}
	size_t home_len = sizeof("HOME=") + strlen(pw.pw_dir);
	size_t user_len = sizeof("USER=") + strlen(pw.pw_name);
	e->buf = malloc(home_len + user_len);
	if (!e->buf) {
		free(pwbuf);
		return KW_ENOMEM;
	}
	snprintf(e->buf, home_len, "HOME=%s", pw.pw_dir);
	snprintf(e->buf + home_len, user_len, "USER=%s", pw.pw_name);
	free(pwbuf);
	e->envp[0] = env_path;
	e->envp[1] = env_lang;
	e->envp[2] = e->buf;
	e->envp[3] = e->buf + home_len;
	e->envp[4] = env_rotation;
	e->envp[5] = NULL;
	return 0;
}

/* ---- the child: async-signal-safe calls only ---- */

static void child_fail(int errfd, enum rotcmd_step step)
{
	struct rotcmd_childerr ce = { .step = step, .err = errno };
	ssize_t n = write(errfd, &ce, sizeof(ce));
	(void)n; /* nothing more to do if the parent cannot be told */
	_exit(127);
}

/* Close every fd >= low. */
static int child_close_from(int low)
{
#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned)low, ~0u, 0u) == 0)
		return 0;
	if (errno != ENOSYS)
		return -1;
#endif
	/* Before Linux 5.9: list /proc/self/fd with getdents64 (opendir
	 * would allocate). Closing entries while listing is safe there: the
	 * listing walks fd numbers in order. */
	int dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	_Alignas(struct dirent64) char buf[2048];
	ssize_t n;
	while ((n = getdents64(dfd, buf, sizeof(buf))) > 0) {
		for (ssize_t off = 0; off < n;) {
			const struct dirent64 *d = (const void *)(buf + off);
			int fd = 0;
			bool num = d->d_name[0] != '\0';
			off += d->d_reclen;
			for (const char *c = d->d_name; *c && num; c++) {
				num = *c >= '0' && *c <= '9' && fd < 100000000;
				fd = fd * 10 + (*c - '0');
			}
			if (num && fd >= low && fd != dfd)
				close(fd);
		}
	}
	close(dfd);
	return n < 0 ? -1 : 0;
}

/* stdin from in, stdout and stderr to out, *errfd moved to 3, nothing else
 * open. All three are first lifted above 2, so that placing one on 0, 1 or
 * 2 cannot overwrite another (the agent may run with 0-2 closed). */
static int child_fds(int in, int out, int *errfd)
{
	int a = fcntl(in, F_DUPFD_CLOEXEC, 3);
	int b = fcntl(out, F_DUPFD_CLOEXEC, 3);
	int e = fcntl(*errfd, F_DUPFD_CLOEXEC, 3);

	if (a < 0 || b < 0 || e < 0)
		return -1;
	*errfd = e;
	if (dup2(a, 0) < 0 || dup2(b, 1) < 0 || dup2(b, 2) < 0)
		return -1;
	if (e != 3) {
		if (dup3(e, 3, O_CLOEXEC) < 0)
			return -1;
		*errfd = 3;
	}
	return child_close_from(4);
}

static void child_run(char *path, char *envp[], int in, int out, int errfd,
                      pid_t agent)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	struct rlimit no_core = { 0, 0 };
	sigset_t none;
	char *argv[2] = { path, NULL };

	/* Ignored signals stay ignored across execve (the agent ignores
	 * SIGPIPE, and may have inherited more). SIGKILL and SIGSTOP
	 * refuse; libc refuses its internal signals (32, 33) through
	 * sigaction, so those are reset with the system call itself. */
	sigemptyset(&dfl.sa_mask);
	for (int sig = 1; sig < NSIG; sig++) {
		if (sigaction(sig, &dfl, NULL) == 0 || errno != EINVAL ||
		    sig == SIGKILL || sig == SIGSTOP)
			continue;
		struct {
			void *handler;
			unsigned long flags;
			void *restorer;
			unsigned long mask;
		} kdfl = { 0 }; /* handler 0 is SIG_DFL */
		(void)syscall(SYS_rt_sigaction, sig, &kdfl, NULL,
		              sizeof(kdfl.mask));
	}
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) != 0)
		child_fail(errfd, STEP_SIGNALS);
	if (setpgid(0, 0) != 0)
		child_fail(errfd, STEP_PGID);
	/* Die with the agent. The signal comes only for a parent that dies
	 * after this call: one already gone has left us to init, and then
	 * the command must not start at all (nobody would watch it). */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0)
		child_fail(errfd, STEP_PDEATHSIG);
	if (getppid() != agent)
		_exit(127);
	if (child_fds(in, out, &errfd) != 0)
		child_fail(errfd, STEP_FDS);
	if (chdir("/") != 0)
		child_fail(errfd, STEP_CWD);
	umask(077);
	if (setrlimit(RLIMIT_CORE, &no_core) != 0)
		child_fail(errfd, STEP_RLIMIT);
	/* A rotator never gains privileges (setuid files, capabilities). */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		child_fail(errfd, STEP_NO_NEW_PRIVS);
	execve(path, argv, envp);
	child_fail(errfd, STEP_EXEC);
}

/*
 * The keeper: a forked copy of the agent that never execs, a member of
 * the command's group, blocked reading a pipe whose only write end is the
 * agent's. However the agent dies, SIGKILL included, the kernel closes
 * that end; the read returns and the keeper kills the whole group, the
 * command's own children included (PR_SET_PDEATHSIG reaches the command
 * alone). While it lives, the group id cannot be reused, so that kill
 * cannot reach a stranger. When a step ends normally the agent kills and
 * reaps the keeper before closing its end. It ignores every signal it can,
 * so that a command signalling its own group (kill 0) does not end it.
 */
static void keeper_run(int rfd, int wfd, pid_t group)
{
	struct sigaction ign = { .sa_handler = SIG_IGN };
	char b;
	ssize_t n;

	sigemptyset(&ign.sa_mask);
	for (int sig = 1; sig < NSIG; sig++) {
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)sigaction(sig, &ign, NULL);
	}
	close(wfd);
	/* Every other fd goes: holding the write end of a command's stdin
	 * would keep it from seeing EOF. A keeper that cannot do that, or
	 * cannot join the group, must not stay. */
	if (setpgid(0, group) != 0 || dup2(rfd, 0) < 0 ||
	    child_close_from(1) != 0)
		_exit(1);
	do {
		n = read(0, &b, 1);
	} while (n < 0 && errno == EINTR);
	(void)kill(-group, SIGKILL);
	_exit(0);
}

/* ---- the parent ---- */

/* A pipe whose parent end is nonblocking; the child's end stays blocking,
 * as programs expect of their stdin and stdout. */
static int pipe_for_child(int *ret_read, int *ret_write, bool parent_reads)
{
	int fds[2];

	if (pipe2(fds, O_CLOEXEC) != 0)
		return KW_EIO;
	int mine = parent_reads ? fds[0] : fds[1];
	int fl = fcntl(mine, F_GETFL);
	if (fl < 0 || fcntl(mine, F_SETFL, fl | O_NONBLOCK) != 0) {
		close(fds[0]);
		close(fds[1]);
		return KW_EIO;
	}
	*ret_read = fds[0];
	*ret_write = fds[1];
	return 0;
}

static int timer_arm(rotcmd *job, int ms)
{
	struct itimerspec its = {
		.it_value = { .tv_sec = ms / 1000,
		              .tv_nsec = (long)(ms % 1000) * 1000000L },
	};

	if (ms == 0)
		its.it_value.tv_nsec = 1; /* zero would disarm it */
	return timerfd_settime(job->timer_fd, 0, &its, NULL) == 0 ? 0 : KW_EIO;
}

/* To the group; to the leader alone if the group is not there (the child
 * died before its setpgid and the parent's lost the race). */
static void rotcmd_kill(rotcmd *job, int sig)
{
	if (killpg(job->pid, sig) != 0)
		(void)kill(job->pid, sig);
}

static void close_fd(rotcmd *job, loop_watch *w, int *fd)
{
	loop_del(job->l, w);
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void stdin_done(rotcmd *job)
{
	close_fd(job, &job->in_w, &job->in_fd);
	kw_wipefree(job->input);
	job->input = NULL;
}

/* Kill and reap the keeper, then close its pipe: a keeper that saw the
 * pipe close after its group's leader was reaped could otherwise kill a
 * group that reuses the id. */
static void keeper_stop(rotcmd *job)
{
	siginfo_t si;

	if (job->keeper > 0) {
		(void)kill(job->keeper, SIGKILL);
		while (waitid(P_PID, (id_t)job->keeper, &si, WEXITED) != 0 &&
		       errno == EINTR)
			;
		job->keeper = 0;
	}
	if (job->keep_fd >= 0)
		close(job->keep_fd);
	job->keep_fd = -1;
}

static void rotcmd_free(rotcmd *job)
{
	keeper_stop(job);
	stdin_done(job);
	close_fd(job, &job->out_w, &job->out_fd);
	close_fd(job, &job->timer_w, &job->timer_fd);
	close_fd(job, &job->pid_w, &job->pid_fd);
	if (job->err_fd >= 0)
		close(job->err_fd);
	kw_wipefree(job->out);
	free(job->path);
	free(job);
}

/* Append the first line of s[0..n) to d, replacing anything but printable
 * ASCII with '?' and stopping when d is full. */
static void detail_append(char d[static ROTJOB_DETAIL_MAX], const char *s,
                          size_t n)
{
	size_t len = strlen(d);
	const char *nl = memchr(s, '\n', n);

	if (nl)
		n = (size_t)(nl - s);
	if (n > 0 && s[n - 1] == '\r')
		n--;
	for (size_t i = 0; i < n && len + 1 < ROTJOB_DETAIL_MAX; i++) {
		unsigned char c = (unsigned char)s[i];
		d[len++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	d[len] = '\0';
}

void rotcmd_detail(const char *head, const char *out, size_t out_len,
                   char ret_detail[static ROTJOB_DETAIL_MAX])
{
	size_t first = 0;

	ret_detail[0] = '\0';
	detail_append(ret_detail, head, strlen(head));
	while (first < out_len && out[first] == '\n')
		first++;
	if (first < out_len) {
		detail_append(ret_detail, ": ", 2);
		detail_append(ret_detail, out + first, out_len - first);
	}
}

/* Report and free. The job is gone before done runs, so done may start
 * another job or stop the agent. */
static void rotcmd_finish(rotcmd *job, int result, const char *head,
                          bool with_output)
{
	char detail[ROTJOB_DETAIL_MAX];
	rotjob_done done = job->done;
	void *arg = job->arg;

	rotcmd_detail(head, job->out, with_output ? job->out_len : 0, detail);
	rotcmd_free(job);
	done(arg, result, detail);
	sodium_memzero(detail, sizeof(detail));
}

/* Read output that is ready: one read (fair to other clients), or at exit
 * until the kept part is full (the rest is not wanted). */
static void output_pump(rotcmd *job, bool at_exit)
{
	char scratch[4096];

	while (job->out_fd >= 0) {
		ssize_t n;
		bool keep = job->out_len < ROTCMD_OUTPUT_MAX;
		if (keep) {
			n = read(job->out_fd, job->out + job->out_len,
			         ROTCMD_OUTPUT_MAX - job->out_len);
		} else {
			if (at_exit)
				return;
			n = read(job->out_fd, scratch, sizeof(scratch));
			if (n > 0)
				sodium_memzero(scratch, (size_t)n);
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			close_fd(job, &job->out_w, &job->out_fd);
			return;
		}
		if (keep)
			job->out_len += (size_t)n;
		if (!at_exit)
			return;
	}
}

static void on_output(loop_watch *w, uint32_t events)
{
	(void)events;
	output_pump(w->owner, false);
}

static void on_stdin(loop_watch *w, uint32_t events)
{
	rotcmd *job = w->owner;

	(void)events;
	while (job->input_off < job->input_len) {
		ssize_t n = write(job->in_fd, job->input + job->input_off,
		                  job->input_len - job->input_off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		/* EPIPE: the command closed its stdin. Not a failure in
		 * itself: a command need not read its input. */
		if (n <= 0)
			break;
		job->input_off += (size_t)n;
	}
	stdin_done(job);
}

/* The leader has exited (or been killed); reap it and report. */
static void rotcmd_reaped(rotcmd *job, const siginfo_t *si)
{
	char head[ROTJOB_DETAIL_MAX];
	struct rotcmd_childerr ce;
	ssize_t n;

	if (job->phase == ROTCMD_BROKEN) {
		snprintf(head, sizeof(head),
		         "could not watch the command: %s: %s",
		         job->broken_what, strerror(job->broken_err));
		rotcmd_finish(job, KW_EIO, head, false);
		return;
	}
	if (job->phase != ROTCMD_RUNNING) {
		snprintf(head, sizeof(head), "timed out after %d ms",
		         job->timeout_ms);
		rotcmd_finish(job, KW_ETIMEOUT, head, false);
		return;
	}
	do {
		n = read(job->err_fd, &ce, sizeof(ce));
	} while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(ce) && ce.step >= 0 && ce.step < STEP_COUNT) {
		snprintf(head, sizeof(head), "could not run: %s: %s",
		         step_names[ce.step], strerror(ce.err));
		rotcmd_finish(job, KW_EIO, head, false);
		return;
	}
	output_pump(job, true);
	if (!si) {
		rotcmd_finish(job, KW_EIO, "exit status unknown", true);
	} else if (si->si_code == CLD_EXITED) {
		snprintf(head, sizeof(head), "exit status %d", si->si_status);
		rotcmd_finish(job, si->si_status == 0 ? 0 : KW_ESTATE, head,
		              si->si_status != 0);
	} else {
		snprintf(head, sizeof(head), "killed by signal %d",
		         si->si_status);
		rotcmd_finish(job, KW_ESTATE, head, false);
	}
}

/* Reap if it has exited: 1 and reported, 0 still running. */
static int rotcmd_try_reap(rotcmd *job)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (job->phase != ROTCMD_RUNNING)
		rotcmd_kill(job, SIGKILL); /* whatever is left of the group */
	if (waitid(P_PID, (id_t)job->pid, &si, WEXITED | WNOHANG) != 0) {
		if (errno == EINTR)
			return 0;
		/* ECHILD: reaped behind our back (SIGCHLD set to SIG_IGN). */
		rotcmd_reaped(job, NULL);
		return 1;
	}
	if (si.si_pid == 0)
		return 0;
	rotcmd_reaped(job, &si);
	return 1;
}

static void on_exit_event(loop_watch *w, uint32_t events)
{
	rotcmd *job = w->owner;

	(void)events;
	/* The command is done, and so is anything it left running in its
	 * group: nothing outlives a step. (The leader is not reaped yet,
	 * so its group id is still ours.) */
	rotcmd_kill(job, SIGKILL);
	(void)rotcmd_try_reap(job);
}

static void on_timer(loop_watch *w, uint32_t events)
{
	rotcmd *job = w->owner;
	uint64_t ticks;

	(void)events;
	if (read(job->timer_fd, &ticks, sizeof(ticks)) !=
	    (ssize_t)sizeof(ticks))
		return;
	switch (job->phase) {
	case ROTCMD_RUNNING:
		rotcmd_kill(job, SIGTERM);
		job->phase = ROTCMD_TERM_SENT;
		/* Without the timer there is no second chance: kill now. */
		if (timer_arm(job, ROTCMD_KILL_DELAY_MS) != 0) {
			rotcmd_kill(job, SIGKILL);
			job->phase = ROTCMD_KILL_SENT;
		}
		break;
	case ROTCMD_TERM_SENT:
		rotcmd_kill(job, SIGKILL);
		job->phase = ROTCMD_KILL_SENT;
		break;
	case ROTCMD_KILL_SENT:
		break;
	case ROTCMD_BROKEN:
		/* No pidfd: poll for the (killed) child. */
		if (!rotcmd_try_reap(job))
			(void)timer_arm(job, ROTCMD_REAP_POLL_MS);
		break;
	}
}

/* After the fork, the child could not be put under watch: kill it and let
 * the timer report that from the loop. The timer is already armed for the
 * timeout, so it fires even if re-arming it fails. */
static void rotcmd_break(rotcmd *job, const char *what, int err)
{
	job->phase = ROTCMD_BROKEN;
	job->broken_what = what;
	job->broken_err = err;
	rotcmd_kill(job, SIGKILL);
	(void)timer_arm(job, 0);
}

int rotcmd_group_of(const rotcmd *job, procgroup *ret)
{
	if (!job || !ret)
		return KW_EINVAL;
	if (!job->group_known)
		return KW_ENOTFOUND;
	*ret = job->group;
	return 0;
}

int rotcmd_start(loop *l, const char *path, const void *input, size_t len,
                 int timeout_ms, rotjob_done done, void *arg, rotcmd **ret_job)
{
	struct rotcmd_env env = { .buf = NULL };
	int child_in = -1, child_out = -1, child_err = -1, keep_rd = -1;
	pid_t agent = getpid();
	rotcmd *job;
	int r;

	if (!l || !path || path[0] != '/' || (!input && len > 0) ||
	    timeout_ms <= 0 || !done || !ret_job)
		return KW_EINVAL;
	job = calloc(1, sizeof(*job));
	if (!job)
		return KW_ENOMEM;
	*job = (rotcmd){
		.l = l,
		.done = done,
		.arg = arg,
		.timeout_ms = timeout_ms,
		.input_len = len,
		.in_fd = -1,
		.out_fd = -1,
		.err_fd = -1,
		.timer_fd = -1,
		.pid_fd = -1,
		.keep_fd = -1,
	};
	job->path = strdup(path);
	job->input = kw_wipealloc(len);
	job->out = kw_wipealloc(ROTCMD_OUTPUT_MAX);
	if (!job->path || !job->input || !job->out) {
		r = KW_ENOMEM;
		goto fail;
	}
	if (len > 0)
		memcpy(job->input, input, len);
	if ((r = env_build(&env)) < 0 ||
	    (r = pipe_for_child(&child_in, &job->in_fd, false)) < 0 ||
	    (r = pipe_for_child(&job->out_fd, &child_out, true)) < 0 ||
	    (r = pipe_for_child(&job->err_fd, &child_err, true)) < 0)
		goto fail;
	{
		int keep[2];
		if (pipe2(keep, O_CLOEXEC) != 0) {
			r = KW_EIO;
			goto fail;
		}
		keep_rd = keep[0];
		job->keep_fd = keep[1];
	}
	job->timer_fd =
		timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (job->timer_fd < 0) {
		r = KW_EIO;
		goto fail;
	}
	if ((r = timer_arm(job, timeout_ms)) < 0 ||
	    (r = loop_add(l, &job->timer_w, job->timer_fd, EPOLLIN, on_timer,
	                  job)) < 0 ||
	    (r = loop_add(l, &job->out_w, job->out_fd, EPOLLIN, on_output,
	                  job)) < 0)
		goto fail;
	if (len == 0) {
		stdin_done(job);
	} else if ((r = loop_add(l, &job->in_w, job->in_fd, EPOLLOUT, on_stdin,
	                         job)) < 0) {
		goto fail;
	}

	job->pid = fork();
	if (job->pid < 0) {
		r = KW_EIO;
		goto fail;
	}
	if (job->pid == 0)
		child_run(job->path, env.envp, child_in, child_out, child_err,
		          agent);
	close(child_in);
	close(child_out);
	close(child_err);
	free(env.buf);
	/* Also done by the child; whichever runs first, the group exists
	 * before the parent could signal it. EACCES: it has already exec'd,
	 * so it has already done it. */
	(void)setpgid(job->pid, job->pid);
	job->group_known = procgroup_identify(job->pid, &job->group) == 0;
	job->keeper = fork();
	if (job->keeper == 0)
		keeper_run(keep_rd, job->keep_fd, job->pid);
	int err = errno;
	close(keep_rd);
	if (job->keeper < 0) {
		job->keeper = 0;
		rotcmd_break(job, "fork", err);
	} else if (setpgid(job->keeper, job->pid) != 0) {
		/* Outside the group the keeper guards nothing, and its
		 * kill could reach another group: stop the command. */
		rotcmd_break(job, "setpgid", errno);
	} else if ((job->pid_fd = (int)syscall(SYS_pidfd_open, job->pid, 0u)) <
	           0) {
		rotcmd_break(job, "pidfd_open", errno);
	} else if (loop_add(l, &job->pid_w, job->pid_fd, EPOLLIN, on_exit_event,
	                    job) < 0) {
		rotcmd_break(job, "epoll_ctl", errno);
	}
	*ret_job = job;
	return 0;

fail:
	if (keep_rd >= 0)
		close(keep_rd);
	if (child_in >= 0)
		close(child_in);
	if (child_out >= 0)
		close(child_out);
	if (child_err >= 0)
		close(child_err);
	free(env.buf);
	rotcmd_free(job);
	return r;
}

void rotcmd_cancel(rotcmd *job)
{
	siginfo_t si;

	if (!job)
		return;
	rotcmd_kill(job, SIGKILL);
	/* SIGKILL is never blocked or caught, so this wait is short. ECHILD
	 * (SIGCHLD ignored by someone): nothing left to reap. */
	while (waitid(P_PID, (id_t)job->pid, &si, WEXITED) != 0 &&
	       errno == EINTR)
		;
	rotcmd_free(job);
}
