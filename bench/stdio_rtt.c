/*
 * stdio_rtt - round trips to a stdio JSON-RPC server, one at a time: start
 * CMD with pipes on its stdin and stdout, send N requests, each only after
 * the previous reply arrived, check every reply, and time each round trip
 * (CLOCK_MONOTONIC).
 *
 * usage: stdio_rtt N [--mcp TOOL ARGS_JSON] -- CMD [ARG...]
 * Without --mcp the server must echo each request line (bench/stdio_echo).
 * With --mcp it is an MCP server: stdio_rtt first initializes it, then
 * each request is tools/call of TOOL with the arguments ARGS_JSON (an
 * object), and the reply must be the one line carrying its id and a
 * result. Prints one JSON line: requests, seconds, mean, p50, p99
 * (microseconds). Exit 1 on a wrong or missing reply.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REQ_MAX 512

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Start argv with its stdin fed from *ret_to and stdout read on
 * *ret_from. */
static pid_t start(char **argv, int *ret_to, int *ret_from)
{
	int in[2], out[2];
	pid_t pid;

	if (pipe(in) < 0 || pipe(out) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	*ret_to = in[1];
	*ret_from = out[0];
	return pid;
}

/* Read until a whole line of len bytes equal to want arrived. */
static int expect(int fd, const char *want, size_t len)
{
	char got[REQ_MAX];
	size_t have = 0;

	if (len == 0 || len > sizeof(got))
		return -1;

	while (have < len) {
		ssize_t n = read(fd, got + have, len - have);

		if (n <= 0)
			return -1;
		have += (size_t)n;
	}
	return memcmp(got, want, len) == 0 ? 0 : -1;
}

/* Lines read from an MCP server's stdout. */
struct lines {
	int fd;
	char buf[1 << 16];
	size_t have;
};

/* The next whole line (without its newline, NUL-terminated in place), or
 * NULL at end of file, on error or past the buffer. */
static char *next_line(struct lines *l)
{
	static size_t consumed;

	if (consumed) {
		memmove(l->buf, l->buf + consumed, l->have - consumed);
		l->have -= consumed;
		consumed = 0;
	}
	for (;;) {
		char *nl = memchr(l->buf, '\n', l->have);

		if (nl) {
			*nl = '\0';
			consumed = (size_t)(nl - l->buf) + 1;
			return l->buf;
		}
		if (l->have >= sizeof(l->buf) - 1)
			return NULL;
		ssize_t n = read(l->fd, l->buf + l->have,
		                 sizeof(l->buf) - 1 - l->have);
		if (n <= 0)
			return NULL;
		l->have += (size_t)n;
	}
}

/* Wait for the reply to request id: a line with "id":ID and a result.
 * Other lines (notifications, logging) are passed over. */
static int expect_result(struct lines *l, long id)
{
	char a[40], b[40];

	snprintf(a, sizeof(a), "\"id\":%ld,", id);
	snprintf(b, sizeof(b), "\"id\":%ld}", id);
	for (;;) {
		char *line = next_line(l);

		if (!line)
			return -1;
		if (strstr(line, a) || strstr(line, b))
			return strstr(line, "\"result\"") ? 0 : -1;
	}
}

static int send_all(int fd, const char *s, size_t len)
{
	return write(fd, s, len) == (ssize_t)len ? 0 : -1;
}

/* initialize, its answer, then notifications/initialized. */
static int mcp_init(int to, struct lines *l)
{
	static const char init[] =
		"{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\","
		"\"params\":{\"protocolVersion\":\"2025-06-18\","
		"\"capabilities\":{},\"clientInfo\":{\"name\":\"stdio_rtt\","
		"\"version\":\"1\"}}}\n";
	static const char done[] = "{\"jsonrpc\":\"2.0\",\"method\":"
				   "\"notifications/initialized\"}\n";

	if (send_all(to, init, strlen(init)) < 0 || expect_result(l, 0) < 0)
		return -1;
	return send_all(to, done, strlen(done));
}

int main(int argc, char **argv)
{
	char req[REQ_MAX];
	const char *tool = NULL, *tool_args = NULL;
	static struct lines l;
	long n;
	int to, from, status, cmd = 3;

	if (argc >= 7 && strcmp(argv[2], "--mcp") == 0) {
		tool = argv[3];
		tool_args = argv[4];
		cmd = 6;
	}
	if (argc <= cmd || strcmp(argv[cmd - 1], "--") != 0 ||
	    (n = strtol(argv[1], NULL, 10)) < 1 || n > 10000000 ||
	    (tool && strlen(tool) + strlen(tool_args) > REQ_MAX / 2)) {
		fprintf(stderr, "usage: stdio_rtt N [--mcp TOOL ARGS_JSON] -- "
		                "CMD [ARG...]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	pid_t pid = start(argv + cmd, &to, &from);
	double *rtt = calloc((size_t)n, sizeof(double));
	if (pid < 0 || !rtt)
		return 1;
	l.fd = from;
	if (tool && mcp_init(to, &l) < 0) {
		fprintf(stderr,
		        "stdio_rtt: the MCP server did not initialize\n");
		free(rtt);
		return 1;
	}
	double t0 = now_us();
	for (long i = 0; i < n; i++) {
		int len;

		if (tool)
			len = snprintf(req, sizeof(req),
			               "{\"jsonrpc\":\"2.0\",\"id\":%ld,"
			               "\"method\":\"tools/call\",\"params\":"
			               "{\"name\":\"%s\",\"arguments\":%s}}\n",
			               i + 1, tool, tool_args);
		else
			len = snprintf(req, sizeof(req),
			               "{\"jsonrpc\":\"2.0\",\"id\":%ld,"
			               "\"method\":\"tools/call\",\"params\":"
			               "{\"name\":\"echo\",\"arguments\":"
			               "{\"text\":\"round trip %ld through a "
			               "stdio server\"}}}\n",
			               i, i);
		double s = now_us();
		if (len <= 0 || send_all(to, req, (size_t)len) < 0 ||
		    (tool ? expect_result(&l, i + 1) :
		            expect(from, req, (size_t)len)) < 0) {
			fprintf(stderr, "stdio_rtt: no or wrong reply to %ld\n",
			        i);
			return 1;
		}
		rtt[i] = now_us() - s;
	}
	double total = now_us() - t0, sum = 0;
	close(to);
	waitpid(pid, &status, 0);
	for (long i = 0; i < n; i++)
		sum += rtt[i];
	qsort(rtt, (size_t)n, sizeof(double), cmp_double);
	printf("{\"requests\":%ld,\"seconds\":%.3f,\"mean_us\":%.2f,"
	       "\"p50_us\":%.2f,\"p99_us\":%.2f}\n",
	       n, total / 1e6, sum / n, rtt[n / 2], rtt[n * 99 / 100]);
	free(rtt);
	return 0;
}
