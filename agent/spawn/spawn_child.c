/*
 * spawn_child.c - see spawn_child.h.
 */
#include "spawn_child.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "keyward.h"
#include "spawn_msg.h"

#define SPAWN_PWBUF_MAX (64u * 1024u)

/* The resource limits set for a command (lowered only, never raised). */
#define SPAWN_NOFILE_MAX 1024u
#define SPAWN_FSIZE_MAX  (1024u * 1024u * 1024u)

static char env_path[] = "PATH=/usr/local/bin:/usr/bin:/bin";
static char env_lang[] = "LANG=C.UTF-8";
static char env_rotation[] = "KEYWARD_ROTATION=1";

int spawn_env_build(struct spawn_env *e)
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
		if (err != ERANGE || n >= SPAWN_PWBUF_MAX)
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

void spawn_env_free(struct spawn_env *e)
{
	free(e->buf);
	e->buf = NULL;
}

static _Noreturn void child_fail(int errfd, enum spawn_step step)
{
	int ce[2] = { step, errno };
	ssize_t n = write(errfd, ce, sizeof(ce));
	(void)n; /* nothing more to do if the spawner cannot be told */
	_exit(127);
}

int spawn_close_from(int low)
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
 * 2 cannot overwrite another (the spawner may run with 0-2 closed). */
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
	return spawn_close_from(4);
}

/* Lower one limit to at most max (both soft and hard). */
static int child_limit(int resource, rlim_t max)
{
	struct rlimit rl;

	if (getrlimit(resource, &rl) != 0)
		return -1;
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > max)
		rl.rlim_cur = max;
	if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > max)
		rl.rlim_max = max;
	return setrlimit(resource, &rl);
}

static int child_limits(unsigned cpu_seconds)
{
	if (child_limit(RLIMIT_CORE, 0) != 0 ||
	    child_limit(RLIMIT_CPU, cpu_seconds) != 0 ||
	    child_limit(RLIMIT_NOFILE, SPAWN_NOFILE_MAX) != 0 ||
	    child_limit(RLIMIT_FSIZE, SPAWN_FSIZE_MAX) != 0)
		return -1;
	return 0;
}

/* Ignored signals stay ignored across execve (the spawner ignores nearly
 * all). SIGKILL and SIGSTOP refuse; libc refuses its internal signals
 * (32, 33) through sigaction, so those are reset with the system call
 * itself. */
static int child_signals(void)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;

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
	return sigprocmask(SIG_SETMASK, &none, NULL);
}

void spawn_child_run(char *path, char *envp[], int in, int out, int errfd,
                     pid_t parent, unsigned cpu_seconds)
{
	char *argv[2] = { path, NULL };

	if (child_signals() != 0)
		child_fail(errfd, SPAWN_STEP_SIGNALS);
	if (setpgid(0, 0) != 0)
		child_fail(errfd, SPAWN_STEP_PGID);
	/* Die with the spawner (which dies with the agent). The signal
	 * comes only for a parent that dies after this call: one already
	 * gone has left us to init, and then the command must not start at
	 * all (nobody would watch it). */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0)
		child_fail(errfd, SPAWN_STEP_PDEATHSIG);
	if (getppid() != parent)
		_exit(127);
	if (child_fds(in, out, &errfd) != 0)
		child_fail(errfd, SPAWN_STEP_FDS);
	if (chdir("/") != 0)
		child_fail(errfd, SPAWN_STEP_CWD);
	umask(077);
	if (child_limits(cpu_seconds) != 0)
		child_fail(errfd, SPAWN_STEP_RLIMIT);
	/* A rotator never gains privileges (setuid files, capabilities). */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		child_fail(errfd, SPAWN_STEP_NO_NEW_PRIVS);
	execve(path, argv, envp);
	child_fail(errfd, SPAWN_STEP_EXEC);
}

/*
 * The keeper is a member of the command's group, so while it lives the
 * group id cannot be reused and its kill cannot reach a stranger. It
 * ignores every signal it can, so that a command signalling its own group
 * (kill 0) does not end it. Every other fd goes: holding the write end of
 * a command's stdin would keep it from seeing EOF. A keeper that cannot
 * do that, or cannot join the group, must not stay.
 */
void spawn_net_child_run(const char *path, char *envp[], int sock, pid_t parent)
{
	char *argv[] = { (char *)"keyward-net", NULL };
	sigset_t none;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 ||
	    getppid() != parent)
		_exit(126);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0)
		_exit(126);
	/* dup2 onto itself would keep FD_CLOEXEC. */
	if (sock == 3 ? fcntl(sock, F_SETFD, 0) < 0 : dup2(sock, 3) < 0)
		_exit(126);
	if (spawn_close_from(4) != 0)
		_exit(126);
	execve(path, argv, envp);
	_exit(127);
}

void spawn_keeper_run(int rfd, int wfd, pid_t group)
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
	if (setpgid(0, group) != 0 || dup2(rfd, 0) < 0 ||
	    spawn_close_from(1) != 0)
		_exit(1);
	do {
		n = read(0, &b, 1);
	} while (n < 0 && errno == EINTR);
	(void)kill(-group, SIGKILL);
	_exit(0);
}
