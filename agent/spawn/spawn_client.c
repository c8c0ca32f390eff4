/*
 * spawn_client.c - see spawn_client.h.
 *
 * The spawner is this process's child and is reaped only here (after its
 * death is noticed), so its pid stays ours to signal until then.
 */
#include "spawn_client.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keyward.h"
#include "log.h"
#include "spawn_msg.h"
#include "spawner.h"

#define SPAWN_BACKOFF_MIN_MS 1000

struct spawn_wait {
	struct spawn_wait *next;
	uint32_t id;
	spawn_exit_fn fn;
	void *arg;
};

struct spawn_client {
	loop *l;
	loop_watch w;
	pid_t pid; /* 0: no spawner */
	int sock;
	int64_t started_ms, restart_at_ms;
	int next_delay_ms; /* before the next restart after a quick death */
	uint32_t next_id;
	struct spawn_wait *waits;
	char exe[PATH_MAX]; /* keywardd, for a restart */
};

/* A socketpair: ours nonblocking, the spawner's blocking; both
 * close-on-exec. */
static int spawn_pair(int *ret_mine, int *ret_theirs)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
		return KW_EIO;
	int fl = fcntl(sv[0], F_GETFL);
	if (fl < 0 || fcntl(sv[0], F_SETFL, fl | O_NONBLOCK) != 0) {
		close(sv[0]);
		close(sv[1]);
		return KW_EIO;
	}
	*ret_mine = sv[0];
	*ret_theirs = sv[1];
	return 0;
}

/* After a fork in a process that may have threads: async-signal-safe
 * calls only. The socket goes to fd 3 without close-on-exec. exe: this
 * binary, as named when the first spawner started (/proc/self/exe itself
 * would be valgrind's tool under valgrind). */
static _Noreturn void exec_spawner(const char *exe, int fd)
{
	char *argv[] = { "keywardd", "--spawner", "3", NULL };
	char *envp[] = { NULL };

	if (fd == 3) {
		if (fcntl(fd, F_SETFD, 0) != 0)
			_exit(127);
	} else if (dup2(fd, 3) < 0) {
		_exit(127);
	}
	execve(exe, argv, envp);
	_exit(127);
}

/* Start a spawner: forked (before any key exists) or exec'd. */
static int spawn_launch(spawn_client *c, bool exec)
{
	int mine, theirs;
	int r = spawn_pair(&mine, &theirs);

	if (r < 0)
		return r;
	pid_t pid = fork();
	if (pid == 0) {
		close(mine);
		if (exec)
			exec_spawner(c->exe, theirs);
		spawner_run(theirs);
	}
	close(theirs);
	if (pid < 0) {
		close(mine);
		return KW_EIO;
	}
	c->pid = pid;
	c->sock = mine;
	c->started_ms = loop_now_ms();
	return 0;
}

static void on_readable(loop_watch *w, uint32_t events);

/* The spawner is gone or unusable: end it, reap it, report every command
 * in flight lost. */
static void spawn_lost(spawn_client *c, const char *why)
{
	spawn_exit lost = { .lost = true, .step = -1 };
	int64_t now = loop_now_ms();

	if (c->pid <= 0)
		return;
	if (c->l)
		loop_del(c->l, &c->w);
	close(c->sock);
	c->sock = -1;
	(void)kill(c->pid, SIGKILL);
	while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
		;
	/* The first death after a steady run restarts at once; each quick
	 * death after that doubles the wait. */
	int delay =
		now - c->started_ms >= SPAWN_STEADY_MS ? 0 : c->next_delay_ms;
	if (delay == 0)
		c->next_delay_ms = SPAWN_BACKOFF_MIN_MS;
	else if (delay < SPAWN_BACKOFF_MAX_MS / 2)
		c->next_delay_ms = delay * 2;
	else
		c->next_delay_ms = SPAWN_BACKOFF_MAX_MS;
	c->restart_at_ms = now + delay;
	log_warn("the command spawner (pid %d) %s; the commands it ran are "
	         "killed and their steps fail; it starts again in %d ms",
	         (int)c->pid, why, delay);
	c->pid = 0;
	while (c->waits) {
		struct spawn_wait *wt = c->waits;
		c->waits = wt->next;
		wt->fn(wt->arg, &lost);
		free(wt);
	}
}

static int spawn_watch(spawn_client *c)
{
	if (!c->l)
		return 0;
	if (loop_add(c->l, &c->w, c->sock, EPOLLIN, on_readable, c) < 0) {
		spawn_lost(c, "cannot be watched");
		return KW_EIO;
	}
	return 0;
}

int spawn_client_new(spawn_client **ret)
{
	spawn_client *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return KW_ENOMEM;
	c->sock = -1;
	ssize_t n = readlink("/proc/self/exe", c->exe, sizeof(c->exe));
	if (n <= 0 || (size_t)n >= sizeof(c->exe))
		snprintf(c->exe, sizeof(c->exe), "/proc/self/exe");
	else
		c->exe[n] = '\0';
	if ((r = spawn_launch(c, false)) < 0) {
		free(c);
		return r;
	}
	*ret = c;
	return 0;
}

int spawn_client_attach(spawn_client *c, loop *l)
{
	if (!c || !l || c->l)
		return KW_EINVAL;
	c->l = l;
	return c->pid > 0 ? spawn_watch(c) : 0;
}

pid_t spawn_client_pid(const spawn_client *c)
{
	return c ? c->pid : 0;
}

static struct spawn_wait *wait_take(spawn_client *c, uint32_t id)
{
	for (struct spawn_wait **p = &c->waits; *p; p = &(*p)->next) {
		if ((*p)->id == id) {
			struct spawn_wait *wt = *p;
			*p = wt->next;
			return wt;
		}
	}
	return NULL;
}

static bool exited_valid(const struct spawn_exited *e)
{
	return (e->code == CLD_EXITED || e->code == CLD_KILLED ||
	        e->code == CLD_DUMPED) &&
	       e->step >= SPAWN_STEP_NONE && e->step < SPAWN_STEP_COUNT;
}

/* An EXITED: 0, or KW_EPROTO (the caller ends the spawner). */
static int on_exited(spawn_client *c, const struct spawn_exited *e)
{
	if (!exited_valid(e))
		return KW_EPROTO;
	struct spawn_wait *wt = wait_take(c, e->id);
	if (!wt)
		return 0; /* forgotten */
	spawn_exit ex = { .code = e->code,
		          .status = e->status,
		          .step = e->step,
		          .err = e->err };
	wt->fn(wt->arg, &ex);
	free(wt);
	return 0;
}

static void lost_for(spawn_client *c, int r)
{
	spawn_lost(c, r == KW_ECLOSED ? "died" :
	              r == KW_EPROTO  ? "sent a malformed message" :
	                                "cannot be read");
}

static void on_readable(loop_watch *w, uint32_t events)
{
	spawn_client *c = w->owner;
	union spawn_msg m;
	int fds[SPAWN_FDS_MAX];

	(void)events;
	while (c->pid > 0) {
		int r = spawn_msg_recv(c->sock, &m, fds);
		if (r == KW_EBUSY)
			return;
		if (r == 0 && m.type != SPAWN_EXITED)
			r = KW_EPROTO;
		if (r == 0)
			r = on_exited(c, &m.exited);
		if (r < 0)
			lost_for(c, r);
	}
}

/* Read until the answer for id: its STARTED (want_started; into *ret),
 * else its EXITED (its wait already taken), handing other EXITEDs on. 0;
 * KW_EIO (the spawner was ended). */
static int await_answer(spawn_client *c, uint32_t id, bool want_started,
                        struct spawn_started *ret)
{
	int64_t deadline = loop_now_ms() + SPAWN_ANSWER_MS;
	union spawn_msg m;
	int fds[SPAWN_FDS_MAX];

	for (;;) {
		int64_t left = deadline - loop_now_ms();
		if (left <= 0) {
			spawn_lost(c, "did not answer in time");
			return KW_EIO;
		}
		struct pollfd p = { .fd = c->sock, .events = POLLIN };
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR) {
			spawn_lost(c, "cannot be polled");
			return KW_EIO;
		}
		int r = spawn_msg_recv(c->sock, &m, fds);
		if (r == KW_EBUSY)
			continue;
		if (r == 0 && m.type == SPAWN_STARTED && want_started &&
		    m.started.id == id) {
			*ret = m.started;
			return 0;
		}
		if (r == 0 && m.type == SPAWN_EXITED && !want_started &&
		    m.exited.id == id)
			return exited_valid(&m.exited) ? 0 : KW_EPROTO;
		if (r == 0 && m.type == SPAWN_EXITED)
			r = on_exited(c, &m.exited);
		else if (r == 0)
			r = KW_EPROTO;
		if (r < 0) {
			lost_for(c, r);
			return KW_EIO;
		}
	}
}

/* A spawner to talk to: the running one, or a new one once the backoff
 * after the last death has passed. */
static int spawn_ready(spawn_client *c)
{
	int r;

	if (c->pid > 0)
		return 0;
	if (loop_now_ms() < c->restart_at_ms)
		return KW_EBUSY;
	if ((r = spawn_launch(c, true)) < 0) {
		c->restart_at_ms = loop_now_ms() + SPAWN_BACKOFF_MIN_MS;
		return r;
	}
	log_info("started the command spawner again (pid %d)", (int)c->pid);
	return spawn_watch(c);
}

int spawn_command(spawn_client *c, const char *path, int in_fd, int out_fd,
                  unsigned cpu_seconds, spawn_exit_fn fn, void *arg,
                  spawn_info *ret, char *ret_why, size_t why_size)
{
	struct spawn_start m;
	struct spawn_started st;
	struct spawn_wait *wt;
	size_t len = path ? strlen(path) : 0;
	int r;

	if (!c || !path || path[0] != '/' || len >= sizeof(m.path) ||
	    in_fd < 0 || out_fd < 0 || cpu_seconds == 0 || !fn || !ret ||
	    !ret_why || why_size == 0)
		return KW_EINVAL;
	if ((r = spawn_ready(c)) < 0) {
		snprintf(ret_why, why_size, "the command spawner %s",
		         r == KW_EBUSY ? "is starting again after it died" :
		                         "could not be started");
		return r;
	}
	wt = calloc(1, sizeof(*wt));
	if (!wt)
		return KW_ENOMEM;
	memset(&m, 0, sizeof(m));
	m.type = SPAWN_START;
	m.id = ++c->next_id;
	m.cpu_seconds = cpu_seconds;
	memcpy(m.path, path, len + 1);
	int fds[2] = { in_fd, out_fd };
	r = spawn_msg_send(c->sock, &m, sizeof(m), fds, 2);
	if (r < 0)
		lost_for(c, r);
	else
		r = await_answer(c, m.id, true, &st);
	if (r < 0) {
		free(wt);
		snprintf(ret_why, why_size, "the command spawner died");
		return KW_EIO;
	}
	if (st.fail != SPAWN_OK || st.pid <= 0) {
		free(wt);
		snprintf(ret_why, why_size, "%s: %s", spawn_fail_name(st.fail),
		         strerror(st.err));
		return st.fail == SPAWN_FAIL_BUSY ? KW_ELIMIT : KW_EIO;
	}
	*wt = (struct spawn_wait){
		.next = c->waits, .id = m.id, .fn = fn, .arg = arg
	};
	c->waits = wt;
	*ret = (spawn_info){ .id = m.id,
		             .pid = st.pid,
		             .group_known = st.group_known != 0,
		             .group = st.group };
	ret->group.boot[PROCGROUP_BOOT_ID_LEN] = '\0';
	return 0;
}

int spawn_signal(spawn_client *c, uint32_t id, int sig)
{
	struct spawn_signal m;

	if (!c || (sig != SIGTERM && sig != SIGKILL))
		return KW_EINVAL;
	if (c->pid <= 0)
		return KW_EIO;
	memset(&m, 0, sizeof(m));
	m.type = SPAWN_SIGNAL;
	m.id = id;
	m.sig = sig;
	int r = spawn_msg_send(c->sock, &m, sizeof(m), NULL, 0);
	if (r < 0) {
		lost_for(c, r);
		return KW_EIO;
	}
	return 0;
}

void spawn_forget(spawn_client *c, uint32_t id)
{
	struct spawn_wait *wt;

	if (!c || !(wt = wait_take(c, id)))
		return;
	free(wt);
	if (spawn_signal(c, id, SIGKILL) == 0)
		(void)await_answer(c, id, false, NULL);
}

void spawn_client_free(spawn_client *c)
{
	if (!c)
		return;
	if (c->pid > 0) {
		if (c->l)
			loop_del(c->l, &c->w);
		close(c->sock);
		while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	while (c->waits) {
		struct spawn_wait *wt = c->waits;
		c->waits = wt->next;
		free(wt);
	}
	free(c);
}
