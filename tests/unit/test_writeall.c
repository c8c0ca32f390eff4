/*
 * test_writeall.c - kw_write_all (common/writeall.h) on real descriptors:
 * a pipe far smaller than the data (partial writes), the same pipe
 * non-blocking (EAGAIN, then poll), a writer interrupted by signals
 * (EINTR), and the errors: a pipe without a reader, a full device, a
 * closed descriptor.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "keyward.h"
#include "writeall.h"

#define DATA_LEN (1024u * 1024u + 7u)

struct writer {
	int fd;
	const unsigned char *data;
	size_t len;
	int r, err;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;

	w->r = kw_write_all(w->fd, w->data, w->len);
	w->err = errno;
	close(w->fd);
	return NULL;
}

static unsigned char *pattern(size_t len)
{
	unsigned char *p = malloc(len);

	assert_non_null(p);
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)(i * 31u + i / 251u);
	return p;
}

/* Read fd to its end into a buffer of cap bytes; the count read. */
static size_t drain(int fd, unsigned char *buf, size_t cap)
{
	size_t got = 0;

	for (;;) {
		ssize_t n = read(fd, buf + got, cap - got);

		if (n < 0 && errno == EINTR)
			continue;
		assert_true(n >= 0);
		if (n == 0)
			return got;
		got += (size_t)n;
		assert_true(got <= cap);
	}
}

/* Writes DATA_LEN bytes through a pipe of one page while this thread
 * reads; kick (if set) runs while the writer is blocked on the pipe. */
static void through_pipe(bool nonblocking, void (*kick)(pthread_t))
{
	unsigned char *data = pattern(DATA_LEN);
	unsigned char *got = malloc(DATA_LEN + 1);
	struct writer w = { .data = data, .len = DATA_LEN };
	int p[2];
	pthread_t t;

	assert_non_null(got);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	(void)fcntl(p[1], F_SETPIPE_SZ, 4096);
	if (nonblocking)
		assert_int_equal(fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
	w.fd = p[1];
	assert_int_equal(pthread_create(&t, NULL, writer_main, &w), 0);
	if (kick)
		kick(t);
	assert_int_equal(drain(p[0], got, DATA_LEN + 1), DATA_LEN);
	assert_int_equal(pthread_join(t, NULL), 0);
	close(p[0]);
	assert_int_equal(w.r, 0);
	assert_memory_equal(got, data, DATA_LEN);
	free(got);
	free(data);
}

static void test_partial_writes(void **state)
{
	(void)state;
	through_pipe(false, NULL);
}

static void test_nonblocking(void **state)
{
	(void)state;
	through_pipe(true, NULL);
}

static volatile sig_atomic_t interrupts;

static void on_usr1(int sig)
{
	(void)sig;
	interrupts++;
}

/* The writer is stuck on the full pipe until drain() starts, so every
 * signal finds it inside kw_write_all. */
static void send_signals(pthread_t t)
{
	for (int i = 0; i < 50; i++)
		assert_int_equal(pthread_kill(t, SIGUSR1), 0);
}

static void test_interrupted(void **state)
{
	struct sigaction sa = { .sa_handler = on_usr1 }, old;

	(void)state;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a blocked write(2) returns EINTR or a short
	 * count. */
	assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
	interrupts = 0;
	through_pipe(false, send_signals);
	assert_true(interrupts > 0);
	through_pipe(true, send_signals);
	assert_int_equal(sigaction(SIGUSR1, &old, NULL), 0);
}

static void test_errors(void **state)
{
	struct sigaction sa = { .sa_handler = SIG_IGN }, old;
	int p[2], fd;

	(void)state;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGPIPE, &sa, &old), 0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	close(p[0]);
	errno = 0;
	assert_int_equal(kw_write_all(p[1], "abc", 3), KW_EIO);
	assert_int_equal(errno, EPIPE);
	close(p[1]);
	assert_int_equal(sigaction(SIGPIPE, &old, NULL), 0);

	fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	errno = 0;
	assert_int_equal(kw_write_all(fd, "abc", 3), KW_EIO);
	assert_int_equal(errno, ENOSPC);
	close(fd);

	errno = 0;
	assert_int_equal(kw_write_all(p[1], "abc", 3), KW_EIO);
	assert_int_equal(errno, EBADF);
	/* Nothing to write: nothing is tried. */
	assert_int_equal(kw_write_all(p[1], "", 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_partial_writes),
		cmocka_unit_test(test_nonblocking),
		cmocka_unit_test(test_interrupted),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
