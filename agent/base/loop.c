/*
 * loop.c - see loop.h.
 *
 * Deleting a watch while a turn is dispatching must not leave a dangling
 * pointer in the ready list of that turn, so deletions during a turn are
 * remembered and matching events skipped.
 */
#include "loop.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "keyward.h"

#define LOOP_BATCH 64

struct loop {
	int epfd;
	struct epoll_event ready[LOOP_BATCH];
	int nready;
	int cursor;
	void (*idle_fn)(void *arg);
	void *idle_arg;
	int idle_grace_ms;
};

int loop_new(loop **ret_loop)
{
	loop *l = calloc(1, sizeof(*l));
	if (!l)
		return KW_ENOMEM;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		free(l);
		return KW_EIO;
	}
	*ret_loop = l;
	return 0;
}

void loop_free(loop *l)
{
	if (!l)
		return;
	close(l->epfd);
	free(l);
}

int loop_add(loop *l, loop_watch *w, int fd, uint32_t events, loop_cb cb,
             void *owner)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };
	w->fd = fd;
	w->cb = cb;
	w->owner = owner;
	w->events = events;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
		return KW_EIO;
	w->added = true;
	return 0;
}

int loop_mod(loop *l, loop_watch *w, uint32_t events)
{
	if (!w->added || w->events == events)
		return 0;
	struct epoll_event ev = { .events = events, .data.ptr = w };
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, w->fd, &ev) != 0)
		return KW_EIO;
	w->events = events;
	return 0;
}

void loop_del(loop *l, loop_watch *w)
{
	if (!w->added)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	w->added = false;
	/* Drop events of this turn that still point at w. */
	for (int i = l->cursor; i < l->nready; i++) {
		if (l->ready[i].data.ptr == w)
			l->ready[i].data.ptr = NULL;
	}
}

void loop_on_idle(loop *l, int grace_ms, void (*fn)(void *arg), void *arg)
{
	l->idle_fn = fn;
	l->idle_arg = arg;
	l->idle_grace_ms = grace_ms > 0 ? grace_ms : 0;
}

int loop_turn(loop *l, int timeout_ms)
{
	int n = 0;
	bool idled = false;
	if (l->idle_fn && (timeout_ms < 0 || timeout_ms > l->idle_grace_ms)) {
		/* Wait the grace period first; only a wait that finds
		 * nothing in it is idle. */
		n = epoll_wait(l->epfd, l->ready, LOOP_BATCH, l->idle_grace_ms);
		if (n == 0) {
			l->idle_fn(l->idle_arg);
			idled = true;
			if (timeout_ms > 0)
				timeout_ms -= l->idle_grace_ms;
		}
	}
	if (n == 0) {
		n = epoll_wait(l->epfd, l->ready, LOOP_BATCH, timeout_ms);
		/* A shorter wait (at most the grace) that found nothing was
		 * idle as well. */
		if (n == 0 && timeout_ms != 0 && l->idle_fn && !idled)
			l->idle_fn(l->idle_arg);
	}
	if (n < 0)
		return errno == EINTR ? 0 : KW_EIO;
	l->nready = n;
	for (l->cursor = 0; l->cursor < n;) {
		struct epoll_event *ev = &l->ready[l->cursor++];
		loop_watch *w = ev->data.ptr;
		if (w)
			w->cb(w, ev->events);
	}
	l->nready = 0;
	l->cursor = 0;
	return 0;
}

int64_t loop_now_ms(void)
{
	return clock_mono_ms();
}
