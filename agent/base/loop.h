/*
 * loop.h - a minimal epoll event loop (level-triggered).
 *
 * A loop_watch is embedded in whatever owns the fd; the loop never owns or
 * frees it. Callbacks run on the loop thread, one event at a time; a
 * callback may delete any watch, including its own (deleted watches get no
 * further events in the same turn).
 */
#ifndef KW_LOOP_H
#define KW_LOOP_H

#include <stdbool.h>
#include <stdint.h>

typedef struct loop_watch loop_watch;
typedef void (*loop_cb)(loop_watch *w, uint32_t events);

struct loop_watch {
	int fd;
	uint32_t events; /* EPOLLIN/EPOLLOUT currently registered */
	bool added;
	loop_cb cb;
	void *owner;
};

typedef struct loop loop;

int loop_new(loop **ret_loop);
void loop_free(loop *l);
int loop_add(loop *l, loop_watch *w, int fd, uint32_t events, loop_cb cb,
             void *owner);
/* Change the registered events (no syscall if unchanged). */
int loop_mod(loop *l, loop_watch *w, uint32_t events);
/* Remove the watch (does not close the fd). Safe if not added. */
void loop_del(loop *l, loop_watch *w);
/* Wait up to timeout_ms (-1 forever) and dispatch. 0 or KW_EIO. */
int loop_turn(loop *l, int timeout_ms);
/* Call fn(arg) once a turn has waited grace_ms with nothing to do, or the
 * whole of a shorter wait (not between the turns of a busy period). */
void loop_on_idle(loop *l, int grace_ms, void (*fn)(void *arg), void *arg);

/* Monotonic milliseconds (clock_mono_ms: the one clock, clock.h). */
int64_t loop_now_ms(void);

#endif
