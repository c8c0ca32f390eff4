/*
 * spawn_client.c - see spawn_client.h.
 *
 * A forked spawner is this process's child and is reaped only here (after
 * its death is noticed), so its pid stays ours to signal until then. A
 * spawner service (KEYWARD_SPAWNER_SOCKET) is its service manager's
 * child: it is neither signalled nor reaped here, only disconnected.
 */
#include "spawn_client.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keyward.h"
#include "log.h"
#include "pidfd.h"
#include "sockcompat.h"
#include "spawn_msg.h"
#include "spawn_peer.h"
#include "spawner.h"

struct spawn_wait {
	struct spawn_wait *next;
	uint32_t id;
	spawn_exit_fn fn;
	void *arg;
};

struct spawn_client {
	loop *l;
	loop_watch w;
	pid_t pid;   /* 0: no spawner */
	bool remote; /* connected to (spawner_connect), not our child */
	int sock;
	uint32_t next_id;
	struct spawn_wait *waits;
	spawn_lost_fn on_lost;
	void *on_lost_arg;
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

/* Fork the spawner (before any key exists: spawn_client_new). */
static int spawn_launch(spawn_client *c)
{
	int mine, theirs;
	int r = spawn_pair(&mine, &theirs);

	if (r < 0)
		return r;
	pid_t pid = fork();
	if (pid == 0) {
		close(mine);
		spawner_run(theirs);
	}
	close(theirs);
	if (pid < 0) {
		close(mine);
		return KW_EIO;
	}
	c->pid = pid;
	c->sock = mine;
	return 0;
}

static void on_readable(loop_watch *w, uint32_t events);

/* The spawner is gone or unusable: end it, reap it, report every command
 * in flight lost, then tell the owner. */
static void spawn_lost(spawn_client *c, const char *why)
{
	spawn_exit lost = { .lost = true, .step = -1 };

	if (c->pid <= 0)
		return;
	if (c->l)
		loop_del(c->l, &c->w);
	close(c->sock);
	c->sock = -1;
	if (!c->remote) {
		(void)kill(c->pid, SIGKILL);
		while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	log_error("the command spawner (pid %d) %s; the commands it ran and "
	          "keyward-net are killed and their steps fail",
	          (int)c->pid, why);
	c->pid = 0;
	while (c->waits) {
		struct spawn_wait *wt = c->waits;
		c->waits = wt->next;
		wt->fn(wt->arg, &lost);
		free(wt);
	}
	if (c->on_lost)
		c->on_lost(c->on_lost_arg);
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

/* SO_PASSCRED, and SO_PASSPIDFD where the kernel has it (Linux 6.5),
 * on or off. 0; KW_EIO. */
static int spawner_passcred(int fd, int on)
{
	if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) != 0)
		return KW_EIO;
	if (setsockopt(fd, SOL_SOCKET, SO_PASSPIDFD, &on, sizeof(on)) != 0 &&
	    errno != ENOPROTOOPT)
		return KW_EIO;
	return 0;
}

/*
 * Wait at most SPAWN_HELLO_MS for the spawner's first message, which
 * must be SPAWN_HELLO of our version with its own credentials: our uid,
 * a pid running this very executable (keywardd --spawner) and still
 * alive after that was read, through the pidfd the kernel attached
 * (SCM_PIDFD) or, before Linux 6.5, one taken right after the receive.
 * The pipes that carry a rotator's new value go to it. 0 and its pid;
 * KW_EPERM (refused), KW_EIO (no hello); why says what was wrong.
 */
static int spawner_hello_check(int fd, pid_t *ret_pid, char *why,
                               size_t why_size)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct spawn_hello h;
	spawn_sender from;
	int n, r;

	do {
		n = poll(&p, 1, SPAWN_HELLO_MS);
	} while (n < 0 && errno == EINTR);
	if (n <= 0) {
		snprintf(why, why_size, "it sent no hello within %d ms",
		         SPAWN_HELLO_MS);
		return KW_EIO;
	}
	r = spawn_hello_recv(fd, &h, &from);
	if (r == KW_ECLOSED || r == KW_EIO) {
		snprintf(why, why_size,
		         r == KW_ECLOSED ? "it closed the connection before "
		                           "its hello" :
		                           "its hello cannot be read");
		return KW_EIO;
	}
	if (r < 0) {
		snprintf(why, why_size, "its first message is not a hello");
		return KW_EPERM;
	}
	if (from.pidfd < 0 && from.cred)
		from.pidfd = pidfd_of(from.pid);
	if (!from.cred || from.pid <= 0) {
		snprintf(why, why_size, "its hello came without credentials");
		r = KW_EPERM;
	} else if (from.uid != geteuid()) {
		snprintf(why, why_size, "pid %d runs as uid %u, not as uid %u",
		         (int)from.pid, (unsigned)from.uid,
		         (unsigned)geteuid());
		r = KW_EPERM;
	} else if ((r = spawn_peer_same_exe(from.pid, from.pidfd, why,
	                                    why_size)) < 0) {
		r = KW_EPERM;
	} else if (h.version != SPAWN_PROTO_VERSION) {
		snprintf(why, why_size,
		         "it speaks version %u of the spawner messages, not %u",
		         (unsigned)h.version, SPAWN_PROTO_VERSION);
		r = KW_EPERM;
	}
	if (from.pidfd >= 0)
		close(from.pidfd);
	if (r == 0)
		*ret_pid = from.pid;
	return r;
}

/* Connect to the spawner service listening at path (keywardd --spawner,
 * spawn_service.h) and check it before anything of ours goes to it. */
static int spawner_connect(spawn_client *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct spawn_hello hello = { .type = SPAWN_HELLO,
		                     .version = SPAWN_PROTO_VERSION };
	char why[160];
	pid_t pid = 0;
	int r;

	if (path[0] != '/' || strlen(path) >= sizeof(sa.sun_path)) {
		log_error("KEYWARD_SPAWNER_SOCKET must be an absolute path "
		          "shorter than %zu bytes",
		          sizeof(sa.sun_path));
		return KW_EINVAL;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	/* Before connect(): the kernel attaches credentials to what the
	 * spawner sends only if we ask for them by then. */
	if (fd < 0 || spawner_passcred(fd, 1) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		log_error("cannot reach the command spawner at %s: %s", path,
		          strerror(errno));
		r = KW_EIO;
	} else if ((r = spawner_hello_check(fd, &pid, why, sizeof(why))) < 0) {
		log_error("refusing the command spawner at %s: %s", path, why);
	} else if (spawner_passcred(fd, 0) < 0 ||
	           spawn_msg_send(fd, &hello, sizeof(hello), NULL, 0) < 0) {
		log_error("cannot answer the command spawner at %s", path);
		r = KW_EIO;
	} else {
		int fl = fcntl(fd, F_GETFL);
		r = fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0 ?
		            0 :
		            KW_EIO;
	}
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		return r;
	}
	c->pid = pid;
	c->sock = fd;
	c->remote = true;
	log_info("using the command spawner at %s (pid %d)", path, (int)pid);
	return 0;
}

int spawn_client_new(spawn_client **ret)
{
	spawn_client *c = calloc(1, sizeof(*c));
	const char *path = getenv("KEYWARD_SPAWNER_SOCKET");
	int r;

	if (!c)
		return KW_ENOMEM;
	c->sock = -1;
	r = path && path[0] ? spawner_connect(c, path) : spawn_launch(c);
	if (r < 0) {
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

void spawn_client_on_lost(spawn_client *c, spawn_lost_fn fn, void *arg)
{
	if (c) {
		c->on_lost = fn;
		c->on_lost_arg = arg;
	}
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

/* Read until the message of type want for id (into *ret, with its fds:
 * the caller owns them), handing EXITEDs of other commands on. 0;
 * KW_ELIMIT (an EXE_INFO whose fds found no room: none came); KW_EIO (the
 * spawner was ended). */
static int await_answer(spawn_client *c, uint32_t want, uint32_t id,
                        union spawn_msg *ret, int fds[static SPAWN_FDS_MAX])
{
	int64_t deadline = loop_now_ms() + SPAWN_ANSWER_MS;

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
		int r = spawn_msg_recv(c->sock, ret, fds);
		if (r == KW_EBUSY)
			continue;
		/* Out of descriptors for an EXE_INFO's: the answer without
		 * them (the client's executable stays unknown); the spawner is
		 * fine. */
		if (r == KW_ELIMIT && want == SPAWN_EXE_INFO &&
		    ret->type == want && ret->exe_info.id == id)
			return KW_ELIMIT;
		if (r == KW_ELIMIT)
			r = KW_EPROTO;
		if (r == 0 && ret->type == want && ret->exited.id == id)
			return want == SPAWN_EXITED &&
			                       !exited_valid(&ret->exited) ?
			               KW_EPROTO :
			               0;
		if (r == 0 && ret->type == SPAWN_EXITED)
			r = on_exited(c, &ret->exited);
		else if (r == 0)
			r = KW_EPROTO;
		if (r < 0) {
			for (size_t i = 0; i < SPAWN_FDS_MAX; i++) {
				if (fds[i] >= 0)
					close(fds[i]);
			}
			lost_for(c, r);
			return KW_EIO;
		}
	}
}

/* Send msg (len bytes, nfds fds) and read the answer of type want to its
 * id. 0; KW_ELIMIT (as await_answer); KW_EIO (the spawner was ended). */
static int round_trip(spawn_client *c, const void *msg, size_t len,
                      const int *fds, size_t nfds, uint32_t want, uint32_t id,
                      union spawn_msg *ret, int ret_fds[static SPAWN_FDS_MAX])
{
	int r = spawn_msg_send(c->sock, msg, len, fds, nfds);

	if (r < 0) {
		lost_for(c, r);
		return KW_EIO;
	}
	return await_answer(c, want, id, ret, ret_fds);
}

/* The spawner, or KW_EBUSY: it died, and the key holder, which may be
 * confined by now, cannot start another (spawn_client.h). */
static int spawn_ready(const spawn_client *c)
{
	return c->pid > 0 ? 0 : KW_EBUSY;
}

int spawn_command(spawn_client *c, const char *path, int in_fd, int out_fd,
                  unsigned cpu_seconds, spawn_exit_fn fn, void *arg,
                  spawn_info *ret, char *ret_why, size_t why_size)
{
	struct spawn_start m;
	union spawn_msg ans;
	int fds[SPAWN_FDS_MAX];
	struct spawn_wait *wt;
	size_t len = path ? strlen(path) : 0;
	int r;

	if (!c || !path || path[0] != '/' || len >= sizeof(m.path) ||
	    in_fd < 0 || out_fd < 0 || cpu_seconds == 0 || !fn || !ret ||
	    !ret_why || why_size == 0)
		return KW_EINVAL;
	if ((r = spawn_ready(c)) < 0) {
		snprintf(ret_why, why_size, "the command spawner is gone");
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
	const int pass[2] = { in_fd, out_fd };
	if (round_trip(c, &m, sizeof(m), pass, 2, SPAWN_STARTED, m.id, &ans,
	               fds) < 0) {
		free(wt);
		snprintf(ret_why, why_size, "the command spawner died");
		return KW_EIO;
	}
	const struct spawn_started st = ans.started;
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
	union spawn_msg ans;
	int fds[SPAWN_FDS_MAX];

	if (!c || !(wt = wait_take(c, id)))
		return;
	free(wt);
	if (spawn_signal(c, id, SIGKILL) == 0)
		(void)await_answer(c, SPAWN_EXITED, id, &ans, fds);
}

int spawn_net_start(spawn_client *c, const char *path, int *ret_fd,
                    pid_t *ret_pid, char *ret_why, size_t why_size)
{
	struct spawn_net_start m;
	union spawn_msg ans;
	int fds[SPAWN_FDS_MAX];
	size_t len = path ? strlen(path) : 0;
	int r;

	if (!c || !path || path[0] != '/' || len >= sizeof(m.path) || !ret_fd ||
	    !ret_pid || !ret_why || why_size == 0)
		return KW_EINVAL;
	if ((r = spawn_ready(c)) < 0) {
		snprintf(ret_why, why_size, "the command spawner is gone");
		return KW_EIO;
	}
	memset(&m, 0, sizeof(m));
	m.type = SPAWN_NET_START;
	m.id = ++c->next_id;
	memcpy(m.path, path, len + 1);
	if (round_trip(c, &m, sizeof(m), NULL, 0, SPAWN_NET_STARTED, m.id, &ans,
	               fds) < 0) {
		snprintf(ret_why, why_size, "the command spawner died");
		return KW_EIO;
	}
	if (ans.net_started.fail != SPAWN_OK || ans.net_started.pid <= 0) {
		if (fds[0] >= 0)
			close(fds[0]);
		snprintf(ret_why, why_size, "%s: %s",
		         spawn_fail_name(ans.net_started.fail),
		         strerror(ans.net_started.err));
		return KW_EIO;
	}
	*ret_fd = fds[0];
	*ret_pid = ans.net_started.pid;
	return 0;
}

int spawn_net_stop(spawn_client *c, pid_t pid, int *ret_code, int *ret_status)
{
	struct spawn_net_stop m;
	union spawn_msg ans;
	int fds[SPAWN_FDS_MAX];

	if (!c || pid <= 0 || !ret_code || !ret_status)
		return KW_EINVAL;
	if (spawn_ready(c) < 0)
		return KW_EIO;
	memset(&m, 0, sizeof(m));
	m.type = SPAWN_NET_STOP;
	m.id = ++c->next_id;
	m.pid = pid;
	if (round_trip(c, &m, sizeof(m), NULL, 0, SPAWN_NET_STOPPED, m.id, &ans,
	               fds) < 0)
		return KW_EIO;
	if (!ans.net_stopped.known)
		return KW_ENOTFOUND;
	*ret_code = ans.net_stopped.code;
	*ret_status = ans.net_stopped.status;
	return 0;
}

/* An EXE_INFO that keeps its promises: fds as declared (spawn_msg_recv
 * checked their number), a path only when known, absolute and ended. */
static bool exe_info_valid(const struct spawn_exe_info *in, unsigned want)
{
	if ((in->fds & ~want) != 0)
		return false;
	if (!in->known)
		return in->path[0] == '\0';
	return in->path[0] == '/' &&
	       memchr(in->path, '\0', sizeof(in->path)) != NULL;
}

int spawn_exe_read(spawn_client *c, int procfd, char path[static PATH_MAX],
                   procexe_id *ret_id, int *ret_exe_fd, int *ret_maps_fd)
{
	struct spawn_exe_read m;
	union spawn_msg ans;
	int fds[SPAWN_FDS_MAX];
	size_t i = 0;

	path[0] = '\0';
	if (ret_exe_fd)
		*ret_exe_fd = -1;
	if (ret_maps_fd)
		*ret_maps_fd = -1;
	if (!c || procfd < 0 || !ret_id)
		return KW_EINVAL;
	if (spawn_ready(c) < 0)
		return KW_EIO;
	memset(&m, 0, sizeof(m));
	m.type = SPAWN_EXE_READ;
	m.id = ++c->next_id;
	m.want = (ret_exe_fd ? SPAWN_EXE_FD : 0u) |
	         (ret_maps_fd ? SPAWN_EXE_MAP : 0u);
	int r = round_trip(c, &m, sizeof(m), &procfd, 1, SPAWN_EXE_INFO, m.id,
	                   &ans, fds);
	if (r == KW_ELIMIT)
		return KW_ENOTFOUND; /* no room for what it opened */
	if (r < 0)
		return KW_EIO;
	const struct spawn_exe_info *in = &ans.exe_info;
	if (!exe_info_valid(in, m.want)) {
		for (size_t k = 0; k < SPAWN_FDS_MAX; k++) {
			if (fds[k] >= 0)
				close(fds[k]);
		}
		spawn_lost(c, "sent a malformed message");
		return KW_EIO;
	}
	if (in->fds & SPAWN_EXE_FD)
		*ret_exe_fd = fds[i++];
	if (in->fds & SPAWN_EXE_MAP)
		*ret_maps_fd = fds[i++];
	if (!in->known)
		return KW_ENOTFOUND;
	memcpy(path, in->path, strlen(in->path) + 1);
	*ret_id = (procexe_id){ .dev = (dev_t)in->dev,
		                .ino = (ino_t)in->ino,
		                .size = (off_t)in->size,
		                .mtime = { .tv_sec = (time_t)in->mtime_sec,
		                           .tv_nsec = (long)in->mtime_nsec } };
	return 0;
}

void spawn_client_free(spawn_client *c)
{
	if (!c)
		return;
	if (c->pid > 0) {
		if (c->l)
			loop_del(c->l, &c->w);
		close(c->sock);
		while (!c->remote && waitpid(c->pid, NULL, 0) < 0 &&
		       errno == EINTR)
			;
	}
	while (c->waits) {
		struct spawn_wait *wt = c->waits;
		c->waits = wt->next;
		free(wt);
	}
	free(c);
}
