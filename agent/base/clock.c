/*
 * clock.c - see clock.h.
 */
#include "clock.h"

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#if KW_TEST_HOOKS
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "paths.h"

/* "" unless the test clock is set; written once, by clock_init. */
static char test_file[KW_PATH_MAX];

void clock_init(void)
{
	const char *v = getenv("KEYWARD_TEST_CLOCK");
	int n;

	test_file[0] = '\0';
	if (!v || !*v)
		return;
	n = snprintf(test_file, sizeof(test_file), "%s", v);
	if (n < 0 || (size_t)n >= sizeof(test_file))
		test_file[0] = '\0';
}

const char *clock_test_file(void)
{
	return test_file[0] ? test_file : NULL;
}

/* The test clock's reading, or false to use the system clock. */
static bool test_now(int64_t *ret_now)
{
	char buf[32];
	char *end = NULL;
	int fd = open(test_file, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	errno = 0;
	long long t = strtoll(buf, &end, 10);
	if (errno != 0 || end == buf || t <= 0)
		return false;
	*ret_now = (int64_t)t;
	return true;
}

int64_t clock_now(void)
{
	int64_t t;

	if (test_file[0] && test_now(&t))
		return t;
	return clock_wall();
}
#else
void clock_init(void)
{
}

const char *clock_test_file(void)
{
	return NULL;
}

int64_t clock_now(void)
{
	return clock_wall();
}
#endif

int64_t clock_wall(void)
{
	return (int64_t)time(NULL);
}

int64_t clock_wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t clock_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
