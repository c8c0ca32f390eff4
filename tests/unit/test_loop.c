/*
 * test_loop.c - the event loop's idle hook (loop.h): called when a wait
 * finds nothing to do, never between the turns of a busy period.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cmocka.h>

#include "loop.h"

static int idles, events;

static void on_idle(void *arg)
{
	(void)arg;
	idles++;
}

static void on_readable(loop_watch *w, uint32_t ev)
{
	char c;

	(void)ev;
	assert_int_equal(read(w->fd, &c, 1), 1);
	events++;
}

static void test_idle_hook(void **state)
{
	loop *l = NULL;
	loop_watch w = { 0 };
	int fds[2];

	(void)state;
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(loop_new(&l), 0);
	assert_int_equal(loop_add(l, &w, fds[0], EPOLLIN, on_readable, NULL),
	                 0);
	loop_on_idle(l, 20, on_idle, NULL);

	/* Work waiting: dispatched, no idle call, however long the wait. */
	assert_int_equal(write(fds[1], "ab", 2), 2);
	assert_int_equal(loop_turn(l, 1000), 0);
	assert_int_equal(loop_turn(l, 1000), 0);
	assert_int_equal(events, 2);
	assert_int_equal(idles, 0);
	/* Nothing for the grace period of a long wait: idle once. */
	assert_int_equal(loop_turn(l, 60), 0);
	assert_int_equal(idles, 1);
	/* A wait shorter than the grace that finds nothing: idle too. */
	assert_int_equal(loop_turn(l, 5), 0);
	assert_int_equal(idles, 2);
	/* A poll (no wait) is not idleness. */
	assert_int_equal(loop_turn(l, 0), 0);
	assert_int_equal(idles, 2);
	/* Work arriving during the grace period: no idle call. */
	assert_int_equal(write(fds[1], "c", 1), 1);
	assert_int_equal(loop_turn(l, -1), 0);
	assert_int_equal(events, 3);
	assert_int_equal(idles, 2);

	loop_del(l, &w);
	loop_free(l);
	close(fds[0]);
	close(fds[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_idle_hook),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
