/*
 * run_super.c - keyward run's supervised child: its stdout and stderr
 * through the masker, signals forwarded, and with --watch a restart when
 * an injected secret rotates.
 *
 * One poll loop: a signalfd (forwarded signals and SIGCHLD), the child's
 * output pipes, the watch connection, and timers for held output and the
 * SIGKILL after --grace. Output is written as soon as it is read; only a
 * possible start of a value waits, at most --mask-hold ms.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "run.h"
#include "secmem.h"
#include "writeall.h"

/* While the watch connection is down, try it again this often. */
#define SUPER_RECONNECT_MS 1000
#define SUPER_READ_MAX     65536

static const int super_forwarded[] = { SIGINT,  SIGTERM, SIGHUP,  SIGQUIT,
	                               SIGUSR1, SIGUSR2, SIGWINCH };

struct stream {
	int fd;  /* the pipe's read end, -1 once closed or not piped */
	int out; /* where its bytes go: 1 or 2 */
	kw_mask *m;
	int64_t fed_ms; /* last input, for the hold timer */
	bool broken;    /* out failed: stop reading, the child sees EPIPE */
};

struct super {
	struct run *r;
	pid_t parent; /* keyward's pid, for the child to check */
	sigset_t oldmask;
	int sigfd;
	pid_t child;        /* 0: none running */
	int status;         /* the last child's wait status */
	bool stopping;      /* SIGTERM sent for a restart */
	int64_t kill_at_ms; /* then SIGKILL at this time */
	bool rotated;
	int exit_signal; /* a terminating signal with no child to take it */
	struct stream st[2];
	kw_client *wc;        /* the watch connection, with --watch */
	int64_t reconnect_ms; /* while it is down: next attempt */
};

static int64_t super_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int super_out(void *arg, const void *data, size_t len)
{
	struct stream *s = arg;

	if (kw_write_all(s->out, data, len) < 0) {
		s->broken = true;
		return KW_EIO;
	}
	return 0;
}

static void super_close_stream(struct stream *s)
{
	if (s->fd >= 0 && !s->broken)
		(void)kw_mask_flush(s->m, super_out, s);
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	kw_mask_free(s->m);
	s->m = NULL;
}

/* Read once from s (non-blocking). false when there was nothing. */
static bool super_read(struct stream *s)
{
	unsigned char buf[SUPER_READ_MAX];
	ssize_t n = read(s->fd, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return false;
	if (n <= 0) {
		super_close_stream(s);
		return false;
	}
	(void)kw_mask_feed(s->m, buf, (size_t)n, super_out, s);
	sodium_memzero(buf, (size_t)n);
	s->fed_ms = super_now_ms();
	if (s->broken) {
		/* Our reader went away: so does the child's, as if it
		 * wrote there itself. */
		super_close_stream(s);
	}
	return true;
}

/* The child is gone: what it wrote is in the pipes; take it all. */
static void super_drain(struct super *sv)
{
	for (int i = 0; i < 2; i++) {
		while (sv->st[i].fd >= 0 && super_read(&sv->st[i]))
			;
		super_close_stream(&sv->st[i]);
	}
}

static void super_child_exec(struct super *sv, const int out[2],
                             const int err[2], int status_fd)
{
	int e;

	/* If keyward is killed, the child must not run on unsupervised
	 * (and, with --watch, never restarted): it gets SIGTERM. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) < 0 ||
	    getppid() != sv->parent)
		_exit(127);
	signal(SIGPIPE, SIG_DFL);
	sigprocmask(SIG_SETMASK, &sv->oldmask, NULL);
	if ((out[1] >= 0 && dup2(out[1], 1) < 0) ||
	    (err[1] >= 0 && dup2(err[1], 2) < 0)) {
		e = errno;
	} else {
		execvpe(sv->r->cmd[0], sv->r->cmd, sv->r->envp);
		e = errno;
	}
	(void)!write(status_fd, &e, sizeof(e));
	_exit(127);
}

static int super_pipe(bool want, int fds[2])
{
	fds[0] = fds[1] = -1;
	if (!want)
		return 0;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	/* Only our end: the child's stays as a program expects it. */
	return fcntl(fds[0], F_SETFL, O_NONBLOCK);
}

static void super_close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Start the child with r->envp; its output streams get fresh maskers.
 * 0 or an exit code (printed). */
static int super_spawn(struct super *sv)
{
	struct run *r = sv->r;
	int out[2], err[2], st[2] = { -1, -1 }, e = 0, ex;
	ssize_t n;

	if ((ex = run_mask_build(r, &sv->st[0].m)) ||
	    (ex = run_mask_build(r, &sv->st[1].m)))
		return ex;
	if (super_pipe(r->mask == RUN_MASK_ALL, out) < 0 ||
	    super_pipe(r->mask != RUN_MASK_NONE, err) < 0 ||
	    pipe2(st, O_CLOEXEC) < 0) {
		cli_msg(r->cli, NULL, "cannot make pipes: %s", strerror(errno));
		return CLI_EXIT_ERROR;
	}
	sv->child = fork();
	if (sv->child == 0)
		super_child_exec(sv, out, err, st[1]);
	close(st[1]);
	super_close_fd(&out[1]);
	super_close_fd(&err[1]);
	if (sv->child < 0) {
		cli_msg(r->cli, NULL, "cannot fork: %s", strerror(errno));
		sv->child = 0;
		super_close_fd(&out[0]);
		super_close_fd(&err[0]);
		close(st[0]);
		return CLI_EXIT_ERROR;
	}
	do
		n = read(st[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(st[0]);
	sv->st[0].fd = out[0];
	sv->st[1].fd = err[0];
	if (n == (ssize_t)sizeof(e)) {
		(void)waitpid(sv->child, NULL, 0);
		sv->child = 0;
		super_drain(sv);
		cli_msg(r->cli, r->cmd[0], "cannot run: %s", strerror(e));
		return run_exec_status(e);
	}
	return 0;
}

/* The name of a watched rotation is one of ours that is not pinned to a
 * version (those do not change). */
static void super_on_rotated(const char *name, uint64_t version, void *arg)
{
	struct super *sv = arg;

	(void)version;
	for (size_t i = 0; i < sv->r->nvars; i++) {
		const struct run_var *v = &sv->r->vars[i];

		if (v->is_ref && !v->ref.version &&
		    strcmp(v->ref.name, name) == 0)
			sv->rotated = true;
	}
}

/* References a rotation can change: those not pinned to a version. */
static size_t super_watched(const struct run *r)
{
	size_t n = 0;

	for (size_t i = 0; i < r->nvars; i++)
		n += r->vars[i].is_ref && !r->vars[i].ref.version;
	return n;
}

/* The names to watch: each unpinned one, or "**" (filtered in the
 * callback) when there are more than one client may watch. */
static int super_watch_all(struct super *sv)
{
	struct run *r = sv->r;
	int e = 0;

	if (super_watched(r) > KW_WATCH_MAX)
		return kw_watch(sv->wc, "**", super_on_rotated, sv);
	for (size_t i = 0; i < r->nvars && e == 0; i++)
		if (r->vars[i].is_ref && !r->vars[i].ref.version)
			e = kw_watch(sv->wc, r->vars[i].ref.name,
			             super_on_rotated, sv);
	return e;
}

/* The second connection, for secret.rotated. 0 or an exit code. */
static int super_watch_start(struct super *sv)
{
	struct run *r = sv->r;
	int ex, e;

	if ((ex = cli_connect(r->cli, KW_TIMEOUT_DEFAULT_MS, &sv->wc)))
		return ex;
	if (r->token && (e = kw_client_hello(sv->wc, r->token)) < 0)
		return cli_fail(r->cli, sv->wc, NULL, e);
	if ((e = super_watch_all(sv)) < 0)
		return cli_fail(r->cli, sv->wc, NULL, e);
	return 0;
}

static void super_reap(struct super *sv)
{
	int status;

	if (sv->child > 0 &&
	    waitpid(sv->child, &status, WNOHANG) == sv->child) {
		sv->status = status;
		sv->child = 0;
	}
}

/*
 * Signals: SIGCHLD reaps; the others go to the child, except those the
 * kernel sent (the terminal's ^C, ^\, a resize or hang-up: they reached
 * the child's process group, which is ours, already).
 */
static void super_signals(struct super *sv)
{
	struct signalfd_siginfo si;

	while (read(sv->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		int sig = (int)si.ssi_signo;

		bool ends = sig != SIGWINCH && sig != SIGUSR1 && sig != SIGUSR2;

		if (sig == SIGCHLD) {
			super_reap(sv);
			continue;
		}
		if (sv->child > 0 && si.ssi_code != SI_KERNEL)
			kill(sv->child, sig);
		/* Between a rotation and the restart, it ends keyward. */
		if (ends && (sv->stopping || sv->child == 0))
			sv->exit_signal = sig;
	}
}

static void super_watch_events(struct super *sv)
{
	int n;

	while ((n = kw_watch_dispatch(sv->wc, 0)) > 0)
		;
	if (n == KW_ECLOSED || n == KW_ELIMIT)
		cli_msg(sv->r->cli, NULL,
		        "watch: %s; rotations meanwhile may be missed",
		        kw_strerror(n));
}

/* The poll timeout: the nearest held-output deadline, SIGKILL deadline
 * or reconnect attempt; -1 for none. */
static int super_timeout(const struct super *sv, int64_t now)
{
	int64_t t = -1;

	for (int i = 0; i < 2; i++) {
		const struct stream *s = &sv->st[i];

		if (s->fd >= 0 && kw_mask_held(s->m) > 0) {
			int64_t d = s->fed_ms + sv->r->hold_ms - now;

			t = t < 0 || d < t ? d : t;
		}
	}
	if (sv->stopping && sv->child > 0) {
		int64_t d = sv->kill_at_ms - now;

		t = t < 0 || d < t ? d : t;
	}
	if (sv->wc && kw_fd(sv->wc) < 0) {
		int64_t d = sv->reconnect_ms - now;

		t = t < 0 || d < t ? d : t;
	}
	return t < 0 ? -1 : (int)(t > 0 ? t : 0);
}

static void super_timers(struct super *sv, int64_t now)
{
	for (int i = 0; i < 2; i++) {
		struct stream *s = &sv->st[i];

		if (s->fd >= 0 && kw_mask_held(s->m) > 0 &&
		    now >= s->fed_ms + sv->r->hold_ms)
			(void)kw_mask_flush(s->m, super_out, s);
	}
	if (sv->stopping && sv->child > 0 && now >= sv->kill_at_ms) {
		kill(sv->child, SIGKILL);
		sv->kill_at_ms = INT64_MAX; /* once; SIGCHLD follows */
	}
	if (sv->wc && kw_fd(sv->wc) < 0 && now >= sv->reconnect_ms) {
		sv->reconnect_ms = now + SUPER_RECONNECT_MS;
		super_watch_events(sv);
	}
}

/* One turn of the loop: wait, then handle what is ready. */
static void super_turn(struct super *sv)
{
	struct pollfd pfd[4];
	int n = 0, wi = -1;

	pfd[n++] = (struct pollfd){ .fd = sv->sigfd, .events = POLLIN };
	for (int i = 0; i < 2; i++)
		pfd[n++] =
			(struct pollfd){ .fd = sv->st[i].fd, .events = POLLIN };
	if (sv->wc && kw_fd(sv->wc) >= 0) {
		wi = n;
		pfd[n++] = (struct pollfd){ .fd = kw_fd(sv->wc),
			                    .events = POLLIN };
	}
	if (poll(pfd, (nfds_t)n, super_timeout(sv, super_now_ms())) < 0)
		return; /* EINTR: go round */
	for (int i = 0; i < 2; i++)
		if (pfd[1 + i].revents && sv->st[i].fd >= 0)
			(void)super_read(&sv->st[i]);
	if (pfd[0].revents)
		super_signals(sv);
	if (wi >= 0 && pfd[wi].revents)
		super_watch_events(sv);
	super_timers(sv, super_now_ms());
}

/* Fetch every reference again (audited as a restart) and start anew. */
static int super_restart(struct super *sv)
{
	struct run *r = sv->r;
	int ex;

	sv->stopping = false;
	sv->rotated = false;
	if ((ex = run_resolve(r, "restart")) || (ex = run_env_build(r)))
		return ex;
	ex = super_spawn(sv);
	run_env_wipe(r);
	return ex;
}

static int super_status(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return CLI_EXIT_ERROR;
}

/* Until the child ends for good: 0 and *ret_status, or an exit code. */
static int super_loop(struct super *sv, int *ret_status)
{
	int ex;

	for (;;) {
		super_turn(sv);
		if (sv->rotated && sv->child > 0 && !sv->stopping) {
			kill(sv->child, SIGTERM);
			sv->stopping = true;
			sv->kill_at_ms =
				super_now_ms() + (int64_t)sv->r->grace_ms;
		}
		if (sv->child > 0)
			continue;
		super_drain(sv);
		if (!sv->stopping) {
			*ret_status = sv->status;
			return 0;
		}
		if (sv->exit_signal)
			return 128 + sv->exit_signal;
		if ((ex = super_restart(sv)))
			return ex;
	}
}

static int super_signals_setup(struct super *sv)
{
	sigset_t set;

	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(super_forwarded) / sizeof(int); i++)
		sigaddset(&set, super_forwarded[i]);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, &sv->oldmask) < 0)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	sv->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	return sv->sigfd < 0 ? -1 : 0;
}

int run_supervise(struct run *r)
{
	struct super sv = { .r = r, .sigfd = -1, .parent = getpid() };
	int ex, status = 0;

	sv.st[0] = (struct stream){ .fd = -1, .out = 1 };
	sv.st[1] = (struct stream){ .fd = -1, .out = 2 };
	if (super_signals_setup(&sv) < 0) {
		cli_msg(r->cli, NULL, "cannot set up signals: %s",
		        strerror(errno));
		return CLI_EXIT_ERROR;
	}
	ex = r->watch && super_watched(r) ? super_watch_start(&sv) : 0;
	/* Both connections have the token (the library keeps it for
	 * reconnects): our copy goes. */
	kw_wipefree(r->token);
	r->token = NULL;
	if (ex == 0)
		ex = super_spawn(&sv);
	/* The child has its values; ours go (the maskers keep theirs). */
	run_env_wipe(r);
	if (ex == 0)
		ex = super_loop(&sv, &status);
	if (sv.child > 0) {
		kill(sv.child, SIGKILL);
		(void)waitpid(sv.child, NULL, 0);
	}
	super_drain(&sv);
	kw_close(sv.wc);
	close(sv.sigfd);
	return ex ? ex : super_status(status);
}
