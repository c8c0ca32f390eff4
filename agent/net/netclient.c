/*
 * netclient.c - see netclient.h.
 *
 * Output is a queue of encoded frames (wiped on free: a body may be a
 * secret), written when the socket is writable. Input is read one frame
 * per callback and no further, so that a turn of the loop never reads past
 * the reply it delivers.
 */
#include "netclient.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "keyward.h"
#include "log.h"
#include "secmem.h"

#ifndef KW_NET_RELPATH
#define KW_NET_RELPATH "../libexec/keyward/keyward-net"
#endif

typedef struct frame {
	struct frame *next;
	unsigned char *buf; /* kw_wipealloc */
	size_t len, off;
} frame;

typedef struct pending {
	struct pending *next;
	uint32_t id;
	int timeout_ms;
	int64_t deadline_ms; /* past it, the helper is taken for hung */
	netclient_cb cb;
	void *arg;
} pending;

struct netclient {
	loop *l;
	netclient_launcher launch;
	char *path;
	int fd;    /* -1 while the helper is down */
	pid_t pid; /* 0 while the helper is down */
	loop_watch watch;
	int tfd; /* restart, or the next deadline of a request in flight */
	loop_watch timer;
	int64_t restart_at_ms;
	int64_t started_ms;
	int backoff_ms;
	frame *out_head, *out_tail;
	pending *pend;
	size_t npend;
	uint32_t next_id;
	unsigned char prefix[4];
	size_t prefix_got;
	unsigned char *payload; /* kw_wipealloc, of payload_len */
	size_t payload_len, payload_got;
};

static void frames_free(netclient *c)
{
	while (c->out_head) {
		frame *f = c->out_head;
		c->out_head = f->next;
		kw_wipefree(f->buf);
		free(f);
	}
	c->out_tail = NULL;
}

static void want_events(netclient *c)
{
	if (c->fd >= 0)
		loop_mod(c->l, &c->watch,
		         EPOLLIN | (c->out_head ? EPOLLOUT : 0u));
}

/* The helper process. */

static void on_event(loop_watch *w, uint32_t events);
static void arm(netclient *c);

/* End the helper: the launcher's answer, with how it ended (*ret_code
 * CLD_EXITED, CLD_KILLED or CLD_DUMPED; *ret_status) when 0. */
static int helper_end(netclient *c, int *ret_code, int *ret_status)
{
	int r = c->launch.stop(c->launch.ctx, c->pid, ret_code, ret_status);

	c->pid = 0;
	return r;
}

static int helper_start(netclient *c)
{
	char why[NETCLIENT_LOST_MAX] = "";
	int fd = -1, r, code, status;
	pid_t pid = 0;

	r = c->launch.start(c->launch.ctx, c->path, &fd, &pid, why,
	                    sizeof(why));
	if (r < 0) {
		log_error("cannot start keyward-net (the HTTP helper): %s",
		          why[0] ? why : kw_strerror(r));
		return r;
	}
	c->pid = pid;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    loop_add(c->l, &c->watch, fd,
	             EPOLLIN | (c->out_head ? EPOLLOUT : 0u), on_event,
	             c) < 0) {
		close(fd);
		(void)helper_end(c, &code, &status);
		return KW_EIO;
	}
	c->fd = fd;
	c->started_ms = loop_now_ms();
	/* What waited for this helper gets its whole time from now. */
	for (pending *p = c->pend; p; p = p->next)
		p->deadline_ms =
			c->started_ms + p->timeout_ms + NETCLIENT_GRACE_MS;
	arm(c);
	log_info("keyward-net started (pid %d)", (int)pid);
	return 0;
}

/* Set the timer for what comes next: the restart while the helper is
 * down, else the earliest deadline in flight; nothing if neither. */
static void arm(netclient *c)
{
	int64_t at = 0;

	if (c->fd < 0) {
		at = c->restart_at_ms;
	} else {
		for (const pending *p = c->pend; p; p = p->next) {
			if (at == 0 || p->deadline_ms < at)
				at = p->deadline_ms;
		}
	}
	struct itimerspec its = { 0 };
	if (at > 0) {
		int64_t in = at - loop_now_ms();
		if (in < 1)
			in = 1;
		its.it_value.tv_sec = (time_t)(in / 1000);
		its.it_value.tv_nsec = (long)(in % 1000) * 1000000L;
	}
	timerfd_settime(c->tfd, 0, &its, NULL);
}

static void schedule_restart(netclient *c)
{
	c->restart_at_ms = loop_now_ms() + c->backoff_ms;
	arm(c);
}

/* The helper is gone or broke the protocol: fail what it had, restart. */
static void helper_lost(netclient *c, const char *why)
{
	char lost[NETCLIENT_LOST_MAX];
	int code = 0, status = 0;

	loop_del(c->l, &c->watch);
	close(c->fd);
	c->fd = -1;
	int ended = helper_end(c, &code, &status);
	if (why)
		snprintf(lost, sizeof(lost), "keyward-net (the HTTP helper) %s",
		         why);
	else if (ended < 0)
		snprintf(lost, sizeof(lost),
		         "keyward-net (the HTTP helper) ended; how is unknown "
		         "(the command spawner that ran it is gone)");
	else if (code != CLD_EXITED)
		snprintf(
			lost, sizeof(lost),
			"keyward-net (the HTTP helper) was killed by signal %d",
			status);
	else
		snprintf(lost, sizeof(lost),
		         "keyward-net (the HTTP helper) exited with status %d",
		         status);

	if (loop_now_ms() - c->started_ms >= NETCLIENT_HEALTHY_MS)
		c->backoff_ms = NETCLIENT_BACKOFF_MIN_MS;
	log_error("%s; %zu transfer(s) in flight failed; restarting it in "
	          "%d ms",
	          lost, c->npend, c->backoff_ms);
	schedule_restart(c);
	if (c->backoff_ms < NETCLIENT_BACKOFF_MAX_MS)
		c->backoff_ms = c->backoff_ms * 2 < NETCLIENT_BACKOFF_MAX_MS ?
		                        c->backoff_ms * 2 :
		                        NETCLIENT_BACKOFF_MAX_MS;

	frames_free(c);
	kw_wipefree(c->payload);
	c->payload = NULL;
	c->prefix_got = c->payload_len = c->payload_got = 0;
	pending *p = c->pend;
	c->pend = NULL;
	c->npend = 0;
	while (p) {
		pending *next = p->next;
		p->cb(p->arg, NULL, lost);
		free(p);
		p = next;
	}
}

static void on_timer(loop_watch *w, uint32_t events)
{
	netclient *c = w->owner;
	uint64_t n;
	ssize_t r = read(c->tfd, &n, sizeof(n));
	(void)r;
	(void)events;

	if (c->fd >= 0) {
		int64_t now = loop_now_ms();
		for (const pending *p = c->pend; p; p = p->next) {
			if (p->deadline_ms <= now) {
				helper_lost(c,
				            "did not answer in time (stopped "
				            "or hung) and was killed");
				return;
			}
		}
		arm(c);
		return;
	}
	if (loop_now_ms() < c->restart_at_ms) {
		arm(c);
		return;
	}
	if (helper_start(c) < 0) {
		log_error("trying to start keyward-net again in %d ms",
		          c->backoff_ms);
		schedule_restart(c);
	}
}

/* Reading replies. */

static pending *pending_take(netclient *c, uint32_t id)
{
	for (pending **pp = &c->pend; *pp; pp = &(*pp)->next) {
		if ((*pp)->id == id) {
			pending *p = *pp;
			*pp = p->next;
			c->npend--;
			return p;
		}
	}
	return NULL;
}

/* Read into buf up to want bytes; the count, 0 at EOF, -1 for "later",
 * -2 on an error. */
static ssize_t read_some(int fd, unsigned char *buf, size_t want)
{
	ssize_t n = read(fd, buf, want);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? -1 : -2;
	return n;
}

static void deliver(netclient *c)
{
	netmsg m;
	int r = netmsg_decode(c->payload, c->payload_len, &m);

	if (r < 0 || (m.type != NETMSG_RESOLVED && m.type != NETMSG_DONE)) {
		helper_lost(c, "sent a malformed reply");
		return;
	}
	pending *p = pending_take(c, m.id);
	arm(c);
	if (p) /* else cancelled meanwhile */
		p->cb(p->arg, &m, NULL);
	free(p);
	kw_wipefree(c->payload);
	c->payload = NULL;
	c->prefix_got = c->payload_len = c->payload_got = 0;
}

static void on_readable(netclient *c)
{
	ssize_t n;

	if (c->prefix_got < sizeof(c->prefix)) {
		n = read_some(c->fd, c->prefix + c->prefix_got,
		              sizeof(c->prefix) - c->prefix_got);
		if (n == 0 || n == -2) {
			helper_lost(c, NULL);
			return;
		}
		if (n < 0)
			return;
		c->prefix_got += (size_t)n;
		if (c->prefix_got < sizeof(c->prefix))
			return;
		c->payload_len = netmsg_frame_len(c->prefix);
		if (c->payload_len == 0) {
			helper_lost(c,
			            "sent a frame of a length out of bounds");
			return;
		}
		if (!(c->payload = kw_wipealloc(c->payload_len))) {
			helper_lost(c, "could not be read (out of memory)");
			return;
		}
	}
	n = read_some(c->fd, c->payload + c->payload_got,
	              c->payload_len - c->payload_got);
	if (n == 0 || n == -2) {
		helper_lost(c, NULL);
		return;
	}
	if (n < 0)
		return;
	c->payload_got += (size_t)n;
	if (c->payload_got == c->payload_len)
		deliver(c);
}

static void on_writable(netclient *c)
{
	while (c->out_head) {
		frame *f = c->out_head;
		ssize_t n = send(c->fd, f->buf + f->off, f->len - f->off,
		                 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n < 0) {
			helper_lost(c, NULL);
			return;
		}
		f->off += (size_t)n;
		if (f->off < f->len)
			break;
		c->out_head = f->next;
		if (!c->out_head)
			c->out_tail = NULL;
		kw_wipefree(f->buf);
		free(f);
	}
	want_events(c);
}

static void on_event(loop_watch *w, uint32_t events)
{
	netclient *c = w->owner;

	if (events & EPOLLOUT) {
		on_writable(c);
		if (c->fd < 0)
			return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		on_readable(c);
}

/* The API. */

int netclient_new(loop *l, const char *helper_path,
                  const netclient_launcher *launch, netclient **ret_client)
{
	if (!l || !helper_path || helper_path[0] != '/' || !ret_client ||
	    !launch || !launch->start || !launch->stop)
		return KW_EINVAL;
	netclient *c = calloc(1, sizeof(*c));
	if (!c)
		return KW_ENOMEM;
	c->l = l;
	c->launch = *launch;
	c->fd = -1;
	c->backoff_ms = NETCLIENT_BACKOFF_MIN_MS;
	c->next_id = 1;
	c->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (!(c->path = strdup(helper_path)) || c->tfd < 0) {
		int r = c->path ? KW_EIO : KW_ENOMEM;
		if (c->tfd >= 0)
			close(c->tfd);
		free(c->path);
		free(c);
		return r;
	}
	int r = loop_add(l, &c->timer, c->tfd, EPOLLIN, on_timer, c);
	if (r == 0 && (r = helper_start(c)) < 0)
		loop_del(l, &c->timer);
	if (r < 0) {
		close(c->tfd);
		free(c->path);
		free(c);
		return r;
	}
	*ret_client = c;
	return 0;
}

void netclient_free(netclient *c)
{
	int code, status;

	if (!c)
		return;
	if (c->fd >= 0) {
		loop_del(c->l, &c->watch);
		close(c->fd);
		(void)helper_end(c, &code, &status);
	}
	loop_del(c->l, &c->timer);
	close(c->tfd);
	frames_free(c);
	while (c->pend) {
		pending *p = c->pend;
		c->pend = p->next;
		free(p);
	}
	kw_wipefree(c->payload);
	free(c->path);
	free(c);
}

static int queue_frame(netclient *c, const netmsg *m)
{
	frame *f = calloc(1, sizeof(*f));
	if (!f)
		return KW_ENOMEM;
	int r = netmsg_encode(m, &f->buf, &f->len);
	if (r < 0) {
		free(f);
		return r;
	}
	if (c->out_tail)
		c->out_tail->next = f;
	else
		c->out_head = f;
	c->out_tail = f;
	want_events(c);
	return 0;
}

int netclient_send(netclient *c, netmsg *m, int timeout_ms, netclient_cb cb,
                   void *arg, uint32_t *ret_id)
{
	if (!c || !m || !cb || !ret_id || timeout_ms <= 0 ||
	    timeout_ms > (int)NETMSG_TIMEOUT_MAX_MS ||
	    (m->type != NETMSG_RESOLVE && m->type != NETMSG_HTTP))
		return KW_EINVAL;
	if (c->npend >= NETCLIENT_PENDING_MAX)
		return KW_ELIMIT;
	pending *p = calloc(1, sizeof(*p));
	if (!p)
		return KW_ENOMEM;
	m->id = c->next_id++;
	if (c->next_id == 0)
		c->next_id = 1;
	int r = queue_frame(c, m);
	if (r < 0) {
		free(p);
		return r;
	}
	p->id = m->id;
	p->timeout_ms = timeout_ms;
	p->deadline_ms = loop_now_ms() + timeout_ms + NETCLIENT_GRACE_MS;
	p->cb = cb;
	p->arg = arg;
	p->next = c->pend;
	c->pend = p;
	c->npend++;
	arm(c);
	*ret_id = m->id;
	return 0;
}

void netclient_cancel(netclient *c, uint32_t id)
{
	if (!c)
		return;
	pending *p = pending_take(c, id);
	if (!p)
		return;
	free(p);
	arm(c);
	netmsg m = { .type = NETMSG_CANCEL, .id = id };
	/* Out of memory: the helper finishes the transfer for nothing. */
	(void)queue_frame(c, &m);
}

pid_t netclient_pid(const netclient *c)
{
	return c ? c->pid : 0;
}

int netclient_helper_path(char *out, size_t outsz)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (!out || n <= 0)
		return KW_EIO;
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	if (!slash)
		return KW_EIO;
	*slash = '\0';
	static const char *const rel[] = { "keyward-net", KW_NET_RELPATH };
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		/* An absolute libexecdir is where it is, wherever we are. */
		int w = rel[i][0] == '/' ?
		                snprintf(out, outsz, "%s", rel[i]) :
		                snprintf(out, outsz, "%s/%s", self, rel[i]);
		if (w > 0 && (size_t)w < outsz && access(out, X_OK) == 0)
			return 0;
	}
	return KW_ENOTFOUND;
}
