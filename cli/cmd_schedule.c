/*
 * cmd_schedule.c - keyward schedule NAME, schedule ls, schedule rm:
 * rotation schedules (docs/rotation.md; schedule.* in docs/protocol.md).
 *
 * Durations are parsed here (common/duration.h) and sent as seconds, and
 * the window is checked and sent in its canonical form, so a typo is a
 * usage error naming the option before anything is sent. The agent checks
 * the rest (rotator syntax, the command file, webhook options) and names
 * the member it refuses.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "duration.h"
#include "name.h"

/* docs/protocol.md, schedule.set. */
#define EVERY_MIN   60u
#define EVERY_MAX   315360000u
#define OVERLAP_MAX 31536000u
/* Longest rotator or generate spec (the agent's ROTSPEC_MAX). */
#define SPEC_MAX 1024u
/* Schedules kept in memory for one table; --json streams instead. */
#define TABLE_MAX 100000u
/* The widest ROTATOR column: a longer spec overflows it. */
#define COL_ROTATOR_MAX 40

/* schedule NAME ---------------------------------------------------------- */

/* zero_ok is for --jitter and --overlap, which may be 0 (the duration
 * syntax itself has no zero). */
int cli_parse_duration_opt(const struct cli *cli, const char *opt,
                           const char *arg, uint64_t max, bool zero_ok,
                           uint64_t *ret_seconds)
{
	const char *why = NULL;
	char most[32];

	if (zero_ok && (strcmp(arg, "0") == 0 || strcmp(arg, "0s") == 0)) {
		*ret_seconds = 0;
		return 0;
	}
	if (kw_duration_parse(arg, max, ret_seconds, &why) == 0)
		return 0;
	if (kw_duration_format(max, most, sizeof(most)) < 0)
		snprintf(most, sizeof(most), "%llus", (unsigned long long)max);
	return cli_usage(cli,
	                 "%s: %s (a duration such as 90s, 15m, 1h30m, 30d, "
	                 "2w; at most %s)",
	                 opt, why ? why : "not a duration", most);
}

/* A spec option: 1..SPEC_MAX bytes of printable ASCII; the agent checks
 * the syntax and names what is wrong. */
static int parse_spec(const struct cli *cli, const char *opt, const char *arg)
{
	size_t len = strnlen(arg, SPEC_MAX + 1);

	if (len == 0 || len > SPEC_MAX)
		return cli_usage(cli, "%s: expected 1-%u bytes", opt, SPEC_MAX);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)arg[i] < 0x20 ||
		    (unsigned char)arg[i] >= 0x7f)
			return cli_usage(cli, "%s: only printable ASCII", opt);
	return 0;
}

struct sched_opts {
	uint64_t every, jitter, overlap;
	bool has_every, has_jitter, has_overlap;
	const char *rotator, *generate, *hmac_secret;
	char window[12];
	bool has_window, allow_private, allow_insecure, json;
};

/* One option of `schedule NAME`; 0 or an exit code (CLI_EXIT_DONE after
 * --help). */
static int sched_opt(const struct cli *cli, int opt, const char *arg,
                     char **argv, struct sched_opts *o)
{
	uint32_t ws, we;
	const char *why = NULL;

	switch (opt) {
	case 'e':
		o->has_every = true;
		return cli_parse_duration_opt(cli, "--every", arg, EVERY_MAX,
		                              false, &o->every);
	case 'r':
		o->rotator = arg;
		return parse_spec(cli, "--rotator", arg);
	case 'w':
		if (kw_window_parse(arg, &ws, &we, &why) < 0)
			return cli_usage(cli, "--window: %s (HH:MM-HH:MM, UTC)",
			                 why ? why : "not a window");
		kw_window_format(ws, we, o->window);
		o->has_window = true;
		return 0;
	case 'J':
		o->has_jitter = true;
		return cli_parse_duration_opt(cli, "--jitter", arg, EVERY_MAX,
		                              true, &o->jitter);
	case 'o':
		o->has_overlap = true;
		return cli_parse_duration_opt(cli, "--overlap", arg,
		                              OVERLAP_MAX, true, &o->overlap);
	case 'g':
		o->generate = arg;
		return parse_spec(cli, "--generate", arg);
	case 'H':
		o->hmac_secret = arg;
		if (kw_name_check(arg, strnlen(arg, KW_NAME_MAX + 1), &why) < 0)
			return cli_usage(cli, "--hmac-secret: invalid name: %s",
			                 why ? why : "bad name");
		return 0;
	case 'p':
		o->allow_private = true;
		return 0;
	case 'i':
		o->allow_insecure = true;
		return 0;
	case 'j':
		o->json = true;
		return 0;
	case 'h':
		cli_help();
		return CLI_EXIT_DONE; /* stop: main() makes it exit 0 */
	default:
		return cli_bad_option(cli, argv);
	}
}

/* Options that need each other or exclude each other. */
static int sched_check(const struct cli *cli, const struct sched_opts *o)
{
	if (!o->has_every)
		return cli_usage(cli, "--every is required (e.g. --every 30d)");
	if (o->every < EVERY_MIN)
		return cli_usage(cli, "--every: at least 60s");
	if (!o->rotator)
		return cli_usage(cli,
		                 "--rotator is required (random:N[:FORMAT], "
		                 "command:/abs/path or webhook:https://...)");
	if (o->has_jitter && o->jitter > o->every)
		return cli_usage(cli, "--jitter: at most --every");
	return 0;
}

/* Set key to v (stolen) in p; false if either is missing. */
static bool put(json_t *p, const char *key, json_t *v)
{
	return json_object_set_new(p, key, v) == 0;
}

/* Members are sent only when given: the agent applies its defaults, and
 * refuses allow_private and allow_insecure (even false) for rotators
 * other than webhook:. */
static json_t *sched_params(const char *name, const struct sched_opts *o)
{
	json_t *p = json_pack("{s:s,s:I,s:s}", "name", name, "every",
	                      (json_int_t)o->every, "rotator", o->rotator);
	bool ok = p != NULL;

	if (ok && o->has_window)
		ok = put(p, "window", json_string(o->window));
	if (ok && o->has_jitter)
		ok = put(p, "jitter", json_integer((json_int_t)o->jitter));
	if (ok && o->has_overlap)
		ok = put(p, "overlap", json_integer((json_int_t)o->overlap));
	if (ok && o->generate)
		ok = put(p, "generate", json_string(o->generate));
	if (ok && o->hmac_secret)
		ok = put(p, "hmac_secret", json_string(o->hmac_secret));
	if (ok && o->allow_private)
		ok = put(p, "allow_private", json_true());
	if (ok && o->allow_insecure)
		ok = put(p, "allow_insecure", json_true());
	if (!ok) {
		json_decref(p);
		return NULL;
	}
	return p;
}

static int schedule_set(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "every", required_argument, NULL, 'e' },
		{ "rotator", required_argument, NULL, 'r' },
		{ "window", required_argument, NULL, 'w' },
		{ "jitter", required_argument, NULL, 'J' },
		{ "overlap", required_argument, NULL, 'o' },
		{ "generate", required_argument, NULL, 'g' },
		{ "hmac-secret", required_argument, NULL, 'H' },
		{ "allow-private", no_argument, NULL, 'p' },
		{ "allow-insecure", no_argument, NULL, 'i' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	struct sched_opts o = { 0 };
	json_t *params, *res = NULL;
	kw_client *c = NULL;
	const char *name;
	int opt, ex = 0, r;

	while (ex == 0 &&
	       (opt = getopt_long(argc, argv, "h", opts, NULL)) != -1)
		ex = sched_opt(cli, opt, optarg, argv, &o);
	if (ex != 0)
		return ex;
	if (optind >= argc)
		return cli_usage(cli, "missing NAME");
	if (optind + 1 < argc)
		return cli_usage(cli, "unexpected argument after NAME");
	name = argv[optind];
	ex = cli_check_name(cli, name);
	if (ex == 0)
		ex = sched_check(cli, &o);
	if (ex == 0)
		ex = cli_connect(cli, KW_TIMEOUT_DEFAULT_MS, &c);
	if (ex != 0)
		return ex;
	params = sched_params(name, &o);
	r = params ? cli_call(c, "schedule.set", params, &res) : KW_ENOMEM;
	if (r == 0 && (!cli_sched_valid(res) ||
	               strcmp(cli_json_text(res, "name"), name) != 0))
		r = KW_EPROTO;
	if (r == 0 && o.json)
		r = cli_print_json(res);
	if (r < 0) {
		ex = cli_fail(cli, c, name, r);
	} else if (!o.json) {
		printf("%s: scheduled ", name);
		cli_print_sched_timing(res);
		fputs("; next run ", stdout);
		cli_print_time_both(cli_json_text(res, "next_run"));
		putchar('\n');
	}
	json_decref(res);
	kw_close(c);
	return ex;
}

/* schedule ls ------------------------------------------------------------ */

struct sched_cols {
	int name, every, rotator;
};

static void sched_cols_fit(struct sched_cols *w, const json_t *s)
{
	char d[32];
	int n;

	n = (int)strlen(cli_json_text(s, "name"));
	w->name = n > w->name ? n : w->name;
	if (kw_duration_format(cli_json_uint(s, "every"), d, sizeof(d)) == 0)
		w->every =
			(int)strlen(d) > w->every ? (int)strlen(d) : w->every;
	n = (int)strlen(cli_json_text(s, "rotator"));
	n = n > COL_ROTATOR_MAX ? COL_ROTATOR_MAX : n;
	w->rotator = n > w->rotator ? n : w->rotator;
}

static void sched_table(const json_t *all)
{
	struct sched_cols w = { 4, 5, 7 };
	char next[CLI_TIME_LEN], last[CLI_TIME_LEN], d[32];
	const char *outcome;
	size_t i;
	json_t *s;

	json_array_foreach(all, i, s)
	{
		sched_cols_fit(&w, s);
	}
	printf("%-*s  %-*s  %-*s  %-19s  %-19s  %s\n", w.name, "NAME", w.every,
	       "EVERY", w.rotator, "ROTATOR", "NEXT RUN", "LAST RUN",
	       "LAST OUTCOME");
	json_array_foreach(all, i, s)
	{
		bool running = json_is_true(json_object_get(s, "running"));

		if (kw_duration_format(cli_json_uint(s, "every"), d,
		                       sizeof(d)) < 0)
			snprintf(d, sizeof(d), "-");
		cli_time_show(cli_json_text(s, "next_run"), next);
		cli_time_show(cli_json_text(s, "last_run"), last);
		outcome =
			running ? "running" : cli_json_text(s, "last_outcome");
		printf("%-*s  %-*s  %-*s  %-19s  %-19s  %s\n", w.name,
		       cli_json_text(s, "name"), w.every, d, w.rotator,
		       cli_json_text(s, "rotator"), next, last,
		       outcome ? outcome : "-");
	}
}

/* One page of schedule.list after *after (NULL: from the start). The
 * next cursor must come after the names of this page, so a confused agent
 * cannot keep us paging forever. */
static int sched_page(kw_client *c, const char *prefix, const char *after,
                      json_t **ret_res)
{
	json_t *params = json_object(), *res = NULL, *arr, *s;
	const json_t *next;
	const char *last = after;
	size_t i;
	int r;

	if (!params ||
	    (prefix &&
	     json_object_set_new(params, "prefix", json_string(prefix))) ||
	    (after &&
	     json_object_set_new(params, "after", json_string(after)))) {
		json_decref(params);
		return KW_ENOMEM;
	}
	r = cli_call(c, "schedule.list", params, &res);
	if (r < 0)
		return r;
	arr = json_object_get(res, "schedules");
	next = json_object_get(res, "next");
	r = 0;
	if (!json_is_array(arr) ||
	    !(json_is_null(next) || cli_json_name_valid(res, "next")))
		r = KW_EPROTO;
	json_array_foreach(arr, i, s)
	{
		if (r == 0 &&
		    (!cli_sched_valid(s) ||
		     (last && strcmp(cli_json_text(s, "name"), last) <= 0)))
			r = KW_EPROTO;
		if (r == 0)
			last = cli_json_text(s, "name");
	}
	if (r == 0 && json_is_string(next) &&
	    (json_array_size(arr) == 0 ||
	     strcmp(json_string_value(next), last) < 0))
		r = KW_EPROTO;
	if (r < 0) {
		json_decref(res);
		return r;
	}
	*ret_res = res;
	return 0;
}

/* Every page: JSON lines as they come, or all kept for one table. */
static int sched_list(kw_client *c, const char *prefix, bool json, json_t *all)
{
	char after[KW_NAME_MAX + 1] = "";
	json_t *res = NULL;
	int r;

	for (;;) {
		json_t *arr, *next;

		r = sched_page(c, prefix, after[0] ? after : NULL, &res);
		if (r < 0)
			return r;
		arr = json_object_get(res, "schedules");
		if (json)
			r = cli_print_json_lines(arr);
		else if (json_array_size(all) + json_array_size(arr) >
		         TABLE_MAX)
			r = KW_ELIMIT;
		else
			r = json_array_extend(all, arr) < 0 ? KW_ENOMEM : 0;
		next = json_object_get(res, "next");
		if (r == 0 && json_is_string(next))
			snprintf(after, sizeof(after), "%s",
			         json_string_value(next));
		json_decref(res);
		if (r < 0 || !json_is_string(next))
			return r;
	}
}

static int schedule_ls(struct cli *cli, int argc, char **argv)
{
	const char *prefix = NULL, *rule = NULL;
	json_t *all = NULL;
	kw_client *c = NULL;
	bool json;
	int ex, r;

	if (!cli_json_opts(cli, argc, argv, &json, &ex))
		return ex;
	if (optind + 1 < argc)
		return cli_usage(cli, "at most one PREFIX");
	if (optind < argc) {
		prefix = argv[optind];
		if (kw_prefix_check(prefix, strnlen(prefix, KW_NAME_MAX + 1),
		                    &rule) < 0) {
			cli_msg(cli, prefix, "invalid prefix: %s",
			        rule ? rule : "bad prefix");
			return CLI_EXIT_ERROR;
		}
	}
	ex = cli_connect(cli, KW_TIMEOUT_DEFAULT_MS, &c);
	if (ex != 0)
		return ex;
	all = json_array();
	r = all ? sched_list(c, prefix, json, all) : KW_ENOMEM;
	if (r == KW_ELIMIT) {
		cli_msg(cli, prefix, "more than %u schedules: use --json",
		        TABLE_MAX);
		ex = CLI_EXIT_ERROR;
	} else if (r < 0) {
		ex = cli_fail(cli, c, prefix, r);
	} else if (!json && json_array_size(all) == 0) {
		cli_msg(cli, prefix, "no schedules");
	} else if (!json) {
		sched_table(all);
	}
	json_decref(all);
	kw_close(c);
	return ex;
}

/* schedule rm ------------------------------------------------------------ */

static int schedule_rm(struct cli *cli, int argc, char **argv)
{
	json_t *params, *res = NULL;
	kw_client *c = NULL;
	const char *name;
	bool deleted = false;
	int ex = 0, r;

	if (!cli_help_only(cli, argc, argv, &ex))
		return ex;
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
	params = json_pack("{s:s}", "name", name);
	r = params ? cli_call(c, "schedule.delete", params, &res) : KW_ENOMEM;
	if (r == 0 && (!kw_json_get_bool(res, "deleted", &deleted) || !deleted))
		r = KW_EPROTO;
	if (r < 0)
		ex = cli_fail(cli, c, name, r);
	else
		printf("%s: schedule deleted\n", name);
	json_decref(res);
	kw_close(c);
	return ex;
}

/*
 * `schedule ls` and `schedule rm` only when the subcommand is the first
 * argument; anything else is `schedule NAME ...`. A secret named "ls" or
 * "rm" is scheduled with an option first:
 * `keyward schedule --every 30d --rotator random:32 ls`.
 */
int cmd_schedule(struct cli *cli, int argc, char **argv)
{
	static const struct cli_subcommand subs[] = {
		{ "ls", "schedule ls", schedule_ls },
		{ "rm", "schedule rm", schedule_rm },
	};
	size_t n = sizeof(subs) / sizeof(subs[0]);

	for (size_t i = 0; argc > 1 && i < n; i++)
		if (strcmp(argv[1], subs[i].name) == 0)
			return cli_run_subcommand(cli, argc, argv, subs, n);
	return schedule_set(cli, argc, argv);
}
