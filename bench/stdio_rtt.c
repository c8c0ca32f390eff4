/*
 * stdio_rtt - round trips to a stdio JSON-RPC server, one at a time: start
 * CMD with pipes on its stdin and stdout, send N requests, each only after
 * the previous reply arrived, check every reply is the request echoed
 * (bench/stdio_echo), and time each round trip (CLOCK_MONOTONIC).
 *
 * usage: stdio_rtt N -- CMD [ARG...]
 * Prints one JSON line: requests, seconds, mean, p50, p99 (microseconds).
 * Exit 1 on a wrong or missing reply.
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

int main(int argc, char **argv)
{
	char req[REQ_MAX];
	long n;
	int to, from, status;

	if (argc < 4 || strcmp(argv[2], "--") != 0 ||
	    (n = strtol(argv[1], NULL, 10)) < 1 || n > 10000000) {
		fprintf(stderr, "usage: stdio_rtt N -- CMD [ARG...]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	pid_t pid = start(argv + 3, &to, &from);
	double *rtt = calloc((size_t)n, sizeof(double));
	if (pid < 0 || !rtt)
		return 1;
	double t0 = now_us();
	for (long i = 0; i < n; i++) {
		int len =
			snprintf(req, sizeof(req),
		                 "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":"
		                 "\"tools/call\",\"params\":{\"name\":\"echo\","
		                 "\"arguments\":{\"text\":\"round trip %ld "
		                 "through a stdio server\"}}}\n",
		                 i, i);
		double s = now_us();
		if (write(to, req, (size_t)len) != len ||
		    expect(from, req, (size_t)len) < 0) {
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
