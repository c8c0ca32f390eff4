/*
 * log.c - see log.h. Each line is formatted whole and written with one
 * write(2) so lines from a worker thread never interleave.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static int log_level = KW_LOG_INFO;
static const char *log_name = "keywardd";

void log_set_level(int level)
{
	log_level = level;
}

void log_set_name(const char *name)
{
	log_name = name;
}

void log_msg(int level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	char line[1024];
	struct timespec ts;
	struct tm tm;

	if (level > log_level || level < 0)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	int m = snprintf(line + n, sizeof(line) - n,
	                 ".%03ldZ %s %s: ", ts.tv_nsec / 1000000, log_name,
	                 names[level]);
	if (m > 0)
		n += (size_t)m;
	va_list ap;
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (m > 0)
		n += (size_t)m < sizeof(line) - n - 1 ? (size_t)m :
		                                        sizeof(line) - n - 2;
	line[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
}
