/*
 * cmd_rotate.c - keyward rotate NAME (start a run now, optionally --wait
 * for its end) and keyward rotate --status NAME (rotate.* in
 * docs/protocol.md; the model in docs/rotation.md). `keyward schedule` is
 * in cmd_schedule.c, `keyward watch` in cmd_watch.c.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* --wait: how often to ask, for how long by default, and at most. */
#define WAIT_POLL_MS     1000
#define WAIT_DEFAULT_MAX 900u
#define WAIT_MAX         604800u

/* "ID (manual, started T): step set, 2 failed attempts, next try T" and
 * the last error. attempts counts the failures of the current step. */
static void print_run(const json_t *run)
{
	uint64_t failed = cli_json_uint(run, "attempts");
	const char *next = cli_json_text(run, "next_try");
	const char *err = cli_json_text(run, "error");
	char t[CLI_TIME_LEN];

	cli_time_show(cli_json_text(run, "started"), t);
	printf("%s (%s, started %s): step %s", cli_json_text(run, "id"),
	       cli_json_text(run, "trigger"), t, cli_json_text(run, "step"));
	if (failed)
		printf(", %llu failed attempt%s", (unsigned long long)failed,
		       failed == 1 ? "" : "s");
	if (failed && next) {
		fputs(", next try ", stdout);
		cli_print_time_both(next);
	}
	putchar('\n');
	if (err)
		printf("  error:   %s\n", err);
}

static void print_history(const json_t *hist)
{
	char t[CLI_TIME_LEN];
	uint64_t nv;
	size_t i;
	json_t *e;

	if (json_array_size(hist) == 0) {
		puts("history:   none");
		return;
	}
	puts("history (newest first):");
	json_array_foreach(hist, i, e)
	{
		const char *err = cli_json_text(e, "error");

		cli_time_show(cli_json_text(e, "started"), t);
		nv = cli_json_uint(e, "new_version");
		printf("  %s  %s  %-8s  %-6s  ", t, cli_json_text(e, "id"),
		       cli_json_text(e, "trigger"), cli_json_text(e, "step"));
		if (nv && cli_json_uint(e, "previous_version"))
			printf("v%llu -> v%llu",
			       (unsigned long long)
			               cli_json_uint(e, "previous_version"),
			       (unsigned long long)nv);
		else if (nv)
			printf("created v%llu", (unsigned long long)nv);
		else if (err)
			fputs(err, stdout);
		else
			putchar('-');
		putchar('\n');
	}
}

static void print_status(const json_t *res)
{
	const json_t *s = json_object_get(res, "schedule");
	const json_t *run = json_object_get(res, "rotation");
	const char *outcome;

	printf("name:      %s\n", cli_json_text(res, "name"));
	if (json_is_null(s)) {
		puts("schedule:  none");
	} else {
		fputs("schedule:  ", stdout);
		cli_print_sched_timing(s);
		printf("\nrotator:   %s\n", cli_json_text(s, "rotator"));
		fputs("next run:  ", stdout);
		cli_print_time_both(cli_json_text(s, "next_run"));
		putchar('\n');
		if (cli_json_text(s, "last_run")) {
			outcome = cli_json_text(s, "last_outcome");
			fputs("last run:  ", stdout);
			cli_print_time_both(cli_json_text(s, "last_run"));
			printf(", %s\n", outcome ? outcome : "-");
		}
	}
	if (json_is_null(run)) {
		puts("running:   no");
	} else {
		fputs("running:   ", stdout);
		print_run(run);
	}
	print_history(json_object_get(res, "history"));
}

static int rotate_status_call(kw_client *c, const char *name, json_t **ret)
{
	json_t *res = NULL;
	int r = cli_call_name(c, "rotate.status", name, &res);

	if (r == 0 && !cli_rotate_status_valid(res, name))
		r = KW_EPROTO;
	if (r < 0) {
		json_decref(res);
		return r;
	}
	*ret = res;
	return 0;
}

/* The run called id in a rotate.status result: in progress (*ret_done
 * false) or finished; NULL if it is in neither place. */
static const json_t *find_run(const json_t *res, const json_t *id,
                              bool *ret_done)
{
	const json_t *run = json_object_get(res, "rotation");
	size_t i;
	json_t *e;

	*ret_done = false;
	if (!json_is_null(run) && json_equal(json_object_get(run, "id"), id))
		return run;
	*ret_done = true;
	json_array_foreach(json_object_get(res, "history"), i, e)
	{
		if (json_equal(json_object_get(e, "id"), id))
			return e;
	}
	return NULL;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Poll rotate.status until the run id has finished or max_s passed.
 * Retries are reported on stderr as they happen. */
static int rotate_wait(const struct cli *cli, kw_client *c, const char *name,
                       const json_t *id, uint64_t max_s, bool json)
{
	int64_t end = mono_ms() + (int64_t)max_s * 1000;
	uint64_t seen_attempts = 0;
	const json_t *run;
	json_t *res = NULL;
	bool done = false, ok;
	int ex = 0, r;

	for (;;) {
		struct timespec tick = { WAIT_POLL_MS / 1000,
			                 (WAIT_POLL_MS % 1000) * 1000000L };

		r = rotate_status_call(c, name, &res);
		if (r < 0)
			return cli_fail(cli, c, name, r);
		run = find_run(res, id, &done);
		if (!run) {
			cli_msg(cli, name, "rotation %s is no longer listed",
			        json_string_value(id));
			json_decref(res);
			return CLI_EXIT_ERROR;
		}
		if (done)
			break;
		if (cli_json_uint(run, "attempts") > seen_attempts &&
		    cli_json_text(run, "error")) {
			seen_attempts = cli_json_uint(run, "attempts");
			cli_msg(cli, name, "step %s, attempt %llu failed: %s",
			        cli_json_text(run, "step"),
			        (unsigned long long)seen_attempts,
			        cli_json_text(run, "error"));
		}
		if (mono_ms() >= end) {
			cli_msg(cli, name,
			        "rotation %s still running after --max-wait "
			        "(step %s); see keyward rotate --status %s",
			        json_string_value(id),
			        cli_json_text(run, "step"), name);
			json_decref(res);
			return CLI_EXIT_ERROR;
		}
		json_decref(res);
		res = NULL;
		nanosleep(&tick, NULL);
	}
	ok = strcmp(cli_json_text(run, "step"), "done") == 0;
	if (json && cli_print_json(run) < 0)
		ex = cli_fail(cli, NULL, name, KW_ENOMEM);
	else if (!json && ok)
		printf("%s: rotation %s done: version %llu is current\n", name,
		       json_string_value(id),
		       (unsigned long long)cli_json_uint(run, "new_version"));
	else if (!json)
		printf("%s: rotation %s %s after %llu attempt%s: %s\n", name,
		       json_string_value(id), cli_json_text(run, "step"),
		       (unsigned long long)cli_json_uint(run, "attempts"),
		       cli_json_uint(run, "attempts") == 1 ? "" : "s",
		       cli_json_text(run, "error") ?
		               cli_json_text(run, "error") :
		               "no reason given");
	json_decref(res);
	if (ex == 0 && !ok)
		ex = CLI_EXIT_ERROR;
	return ex;
}

/* rotate.start, and --wait. */
static int rotate_start(const struct cli *cli, kw_client *c, const char *name,
                        bool wait, uint64_t max_s, bool json)
{
	json_t *params = json_pack("{s:s}", "name", name), *res = NULL;
	const char *id_text;
	const json_t *id;
	bool started = false;
	int ex = 0, r;

	r = params ? cli_call(c, "rotate.start", params, &res) : KW_ENOMEM;
	id = json_object_get(res, "rotation_id");
	if (r == 0 && (!kw_json_get_text(res, "rotation_id", &id_text) ||
	               !kw_json_get_bool(res, "started", &started)))
		r = KW_EPROTO;
	if (r < 0) {
		json_decref(res);
		return cli_fail(cli, c, name, r);
	}
	if (json && !wait)
		ex = cli_print_json(res) < 0 ? CLI_EXIT_ERROR : 0;
	else if (!json)
		printf("%s: rotation %s %s\n", name, json_string_value(id),
		       started ? "started" : "already running");
	if (wait) {
		fflush(stdout);
		ex = rotate_wait(cli, c, name, id, max_s, json);
	}
	json_decref(res);
	return ex;
}

int cmd_rotate(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "status", no_argument, NULL, 's' },
		{ "wait", no_argument, NULL, 'w' },
		{ "max-wait", required_argument, NULL, 'm' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	bool status = false, wait = false, json = false, max_given = false;
	uint64_t max_s = WAIT_DEFAULT_MAX;
	json_t *res = NULL;
	kw_client *c = NULL;
	const char *name;
	int opt, ex = 0, r;

	while (ex == 0 &&
	       (opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 's')
			status = true;
		else if (opt == 'w')
			wait = true;
		else if (opt == 'j')
			json = true;
		else if (opt == 'm')
			ex = cli_parse_duration_opt(cli, "--max-wait", optarg,
			                            WAIT_MAX, false, &max_s);
		else if (opt == 'h')
			return cli_help();
		else
			return cli_bad_option(cli, argv);
		max_given = max_given || opt == 'm';
	}
	if (ex != 0)
		return ex;
	if (status && wait)
		return cli_usage(cli, "--status and --wait exclude each other");
	if (max_given && !wait)
		return cli_usage(cli, "--max-wait goes with --wait");
	if (optind >= argc)
		return cli_usage(cli, "missing NAME");
	if (optind + 1 < argc)
		return cli_usage(cli, "unexpected argument after NAME");
	name = argv[optind];
	ex = cli_check_name(cli, name);
	if (ex == 0)
		ex = cli_connect(cli, KW_TIMEOUT_DEFAULT_MS, &c);
	if (ex != 0)
		return ex;
	if (!status) {
		ex = rotate_start(cli, c, name, wait, max_s, json);
		kw_close(c);
		return ex;
	}
	r = rotate_status_call(c, name, &res);
	if (r == 0 && json)
		r = cli_print_json(res);
	if (r < 0)
		ex = cli_fail(cli, c, name, r);
	else if (!json)
		print_status(res);
	json_decref(res);
	kw_close(c);
	return ex;
}
