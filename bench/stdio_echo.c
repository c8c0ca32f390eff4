/*
 * stdio_echo - the smallest stdio JSON-RPC server: every line read on
 * stdin is written back on stdout as soon as it is complete, unparsed.
 * What a stdio MCP server costs at the least; bench/stdio_rtt drives it
 * bare and through `keyward run`.
 *
 * usage: stdio_echo          (runs until stdin ends)
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#define BUF 65536

/* Write all of p[0..n) to fd 1. 0, or -1 when stdout is gone. */
static int put(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(1, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int main(void)
{
	static char buf[BUF];
	size_t have = 0;

	for (;;) {
		ssize_t n = read(0, buf + have, sizeof(buf) - have);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		have += (size_t)n;
		char *nl = memrchr(buf, '\n', have);
		/* A line longer than the buffer goes out in pieces. */
		size_t done = nl                  ? (size_t)(nl - buf) + 1 :
		              have == sizeof(buf) ? have :
		                                    0;
		if (done && put(buf, done) < 0)
			return 1;
		memmove(buf, buf + done, have - done);
		have -= done;
	}
}
