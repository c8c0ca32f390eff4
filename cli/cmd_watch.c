/*
 * cmd_watch.c - keyward watch: print every rotation of a secret matching
 * the given patterns as the agent reports it (kw_watch and
 * kw_watch_dispatch in libkeyward; docs/protocol.md, secret.watch).
 *
 * One line per rotation, also when several patterns match its name: each
 * kw_watch_dispatch call runs the callbacks of one notification, so the
 * callbacks only note the name and the loop prints once per call. When
 * the agent goes away (a restart), the library reconnects on the next
 * dispatch and registers the patterns again; rotations in between are
 * not seen, which is said on stderr.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* How often the loop looks at its stop flag while it waits. */
#define WATCH_TICK_MS 200
/* Waits between attempts to reach an agent that is gone. */
#define RETRY_FIRST_MS 1000
#define RETRY_MAX_MS   30000

struct rotated {
	char name[KW_NAME_MAX + 1];
	uint64_t version;
};

static volatile sig_atomic_t watch_stop;

static void on_stop(int sig)
{
	(void)sig;
	watch_stop = 1;
}

/* The callback of every pattern: keep what to print. */
static void on_rotated(const char *name, uint64_t version, void *arg)
{
	struct rotated *last = arg;

	snprintf(last->name, sizeof(last->name), "%s", name);
	last->version = version;
}

/* "2026-12-02T12:00:00Z github/token rotated to version 7", or JSON. */
static int print_rotated(const struct rotated *last, bool json)
{
	char now[32];
	time_t t = time(NULL);
	struct tm tm;
	json_t *o;
	int r = 0;

	if (!gmtime_r(&t, &tm) ||
	    strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(now, sizeof(now), "-");
	if (json) {
		o = json_pack("{s:s,s:s,s:I}", "time", now, "name", last->name,
		              "version", (json_int_t)last->version);
		r = o ? cli_print_json(o) : KW_ENOMEM;
		json_decref(o);
	} else {
		printf("%s %s rotated to version %llu\n", now, last->name,
		       (unsigned long long)last->version);
	}
	if (r == 0 && fflush(stdout) != 0)
		r = KW_EIO;
	return r;
}

/* Sleep ms, or less if a signal arrives. */
static void pause_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Failures to reconnect that end by themselves: the agent restarting,
 * locked, or at its connection or rate limit. */
static bool transient(int r)
{
	return r == KW_ECONNECT || r == KW_ETIMEOUT || r == KW_ELOCKED ||
	       r == KW_ELIMIT || r == KW_ERATE;
}

/*
 * Dispatch until a signal or count rotations (0: no limit). Losing the
 * agent is not the end: say so once and keep trying, slower each time.
 * Returns 0 or a KW_E* code for what cannot be waited out.
 */
static int watch_loop(const struct cli *cli, kw_client *c, struct rotated *last,
                      uint64_t count, bool json)
{
	uint64_t printed = 0;
	int retry_ms = 0, r;

	while (!watch_stop && (count == 0 || printed < count)) {
		r = kw_watch_dispatch(c, WATCH_TICK_MS);
		if (r >= 0 && retry_ms > 0) {
			cli_msg(cli, NULL, "reconnected; watching again");
			retry_ms = 0;
		}
		if (r > 0) {
			r = print_rotated(last, json);
			if (r < 0)
				return r;
			printed++;
			continue;
		}
		if (r == 0)
			continue;
		if (r == KW_ELIMIT && kw_fd(c) >= 0) {
			cli_msg(cli, NULL,
			        "warning: rotations were lost (this reader "
			        "fell behind the agent)");
			continue;
		}
		if (r == KW_ECLOSED) {
			cli_msg(cli, NULL,
			        "the agent closed the connection; "
			        "reconnecting (rotations meanwhile are not "
			        "shown)");
			retry_ms = RETRY_FIRST_MS;
			continue;
		}
		if (!transient(r))
			return r;
		if (retry_ms == 0 || retry_ms == RETRY_FIRST_MS)
			cli_msg(cli, NULL, "cannot watch (%s); retrying",
			        kw_last_error_message(c));
		retry_ms = retry_ms == 0 ? RETRY_FIRST_MS : retry_ms;
		pause_ms(retry_ms);
		retry_ms = retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS :
		                                         retry_ms * 2;
	}
	return 0;
}

/* Register every pattern, then say so on stderr (scripts can wait for
 * that line before they cause a rotation). */
static int watch_register(const struct cli *cli, kw_client *c, int npat,
                          char **patterns, struct rotated *last)
{
	for (int i = 0; i < npat; i++) {
		int r = kw_watch(c, patterns[i], on_rotated, last);

		if (r < 0)
			return cli_fail(cli, c, patterns[i], r);
	}
	fputs("keyward: watch: watching", stderr);
	for (int i = 0; i < npat; i++)
		fprintf(stderr, " %s", patterns[i]);
	fputc('\n', stderr);
	return 0;
}

int cmd_watch(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	struct sigaction sa = { .sa_handler = on_stop };
	struct rotated last = { "", 0 };
	uint64_t count = 0;
	kw_client *c = NULL;
	bool json = false;
	int opt, ex, r;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'c' && !cli_parse_u64(optarg, 1, UINT32_MAX, &count))
			return cli_usage(cli,
			                 "--count: expected a number of "
			                 "rotations, 1-%u",
			                 UINT32_MAX);
		else if (opt == 'j')
			json = true;
		else if (opt == 'h')
			return cli_help();
		else if (opt != 'c')
			return cli_bad_option(cli, argv);
	}
	if (optind >= argc)
		return cli_usage(cli, "missing PATTERN");
	if (argc - optind > (int)KW_WATCH_MAX)
		return cli_usage(cli, "at most %u patterns", KW_WATCH_MAX);
	ex = cli_connect(cli, KW_TIMEOUT_DEFAULT_MS, &c);
	if (ex != 0)
		return ex;
	/* No SA_RESTART: the wait returns within a tick either way. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	ex = watch_register(cli, c, argc - optind, argv + optind, &last);
	if (ex == 0) {
		r = watch_loop(cli, c, &last, count, json);
		/* KW_EIO: stdout is gone, nobody to tell. */
		if (r == KW_EIO)
			ex = CLI_EXIT_ERROR;
		else if (r < 0)
			ex = cli_fail(cli, c, NULL, r);
	}
	kw_close(c);
	return ex;
}
