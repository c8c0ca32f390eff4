/*
 * cmd_audit.c - keyward audit (query and follow), audit stats, audit
 * verify: reading the agent's audit log (docs/audit.md, docs/protocol.md).
 * The last two are in cmd_audit_stats.c.
 *
 * Rows come from the agent newest first, a page at a time; the table shows
 * the newest --limit rows oldest first. --follow subscribes before it
 * reads the history, so that no row falls between the two: libkeyward
 * queues the rows pushed meanwhile, and those already shown (by seq) are
 * skipped. Everything the agent sends is checked (cli_audit_row_valid)
 * before any of it is printed.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "glob.h"

#define AUDIT_LIMIT_DEFAULT 20
/* Rows kept in memory for one table; --limit 0 streams instead. */
#define AUDIT_LIMIT_MAX 100000
/* The agent's largest page. */
#define AUDIT_PAGE_MAX 1000
/* How often --follow looks at its stop flag while it waits. */
#define FOLLOW_TICK_MS 200

struct audit_opts {
	int64_t since_us, until_us; /* -1: not given */
	const char *name, *principal, *op, *outcome;
	uint64_t limit; /* 0: all */
	bool limit_given, json, follow;
};

/* How rows are printed: JSON lines, or a table whose widths grow. */
struct printer {
	bool json, header_done;
	int term_cols;
	struct cli_audit_cols w;
	int64_t last_seq; /* highest seq printed, -1 before the first */
};

static volatile sig_atomic_t follow_stop;

static void on_stop(int sig)
{
	(void)sig;
	follow_stop = 1;
}

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The terminal's width if stdout is one, else 0. */
static int term_width(void)
{
	struct winsize ws;

	if (!isatty(STDOUT_FILENO) || ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0)
		return 0;
	return ws.ws_col;
}

static void printer_init(struct printer *p, bool json)
{
	*p = (struct printer){ .json = json, .last_seq = -1 };
	p->term_cols = term_width();
	cli_audit_cols_init(&p->w);
}

/* Print one valid row; 0 or KW_ENOMEM/KW_EIO. */
static int printer_row(struct printer *p, const json_t *row)
{
	int64_t seq = json_integer_value(json_object_get(row, "seq"));

	if (p->json) {
		int r = cli_print_json(row);

		if (r < 0)
			return r;
	} else {
		if (!p->header_done)
			cli_audit_header(stdout, &p->w);
		p->header_done = true;
		cli_audit_row(stdout, &p->w, row,
		              cli_audit_reason_max(&p->w, p->term_cols));
	}
	if (seq > p->last_seq)
		p->last_seq = seq;
	return ferror(stdout) ? KW_EIO : 0;
}

/* Options ---------------------------------------------------------------- */

int cli_parse_time_opt(const struct cli *cli, const char *opt, const char *arg,
                       int64_t *ret_us)
{
	if (cli_time_parse(arg, now_us(), ret_us) == 0)
		return 0;
	return cli_usage(cli,
	                 "%s: expected a duration (90s, 15m, 1h, 2d, 1w) or "
	                 "YYYY-MM-DD[THH:MM[:SS]][Z], not '%s'",
	                 opt, arg);
}

static int parse_query_opts(const struct cli *cli, int argc, char **argv,
                            struct audit_opts *o)
{
	static const struct option opts[] = {
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "name", required_argument, NULL, 'n' },
		{ "principal", required_argument, NULL, 'p' },
		{ "op", required_argument, NULL, 'o' },
		{ "outcome", required_argument, NULL, 'O' },
		{ "limit", required_argument, NULL, 'l' },
		{ "json", no_argument, NULL, 'j' },
		{ "follow", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	int opt, ex = 0;

	*o = (struct audit_opts){ .since_us = -1,
		                  .until_us = -1,
		                  .limit = AUDIT_LIMIT_DEFAULT };
	while (ex == 0 &&
	       (opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			ex = cli_parse_time_opt(cli, "--since", optarg,
			                        &o->since_us);
			break;
		case 'u':
			ex = cli_parse_time_opt(cli, "--until", optarg,
			                        &o->until_us);
			break;
		case 'n':
			o->name = optarg;
			break;
		case 'p':
			o->principal = optarg;
			break;
		case 'o':
			o->op = optarg;
			break;
		case 'O':
			o->outcome = optarg;
			break;
		case 'l':
			if (!cli_parse_u64(optarg, 0, AUDIT_LIMIT_MAX,
			                   &o->limit))
				ex = cli_usage(cli,
				               "--limit: expected 0 (all) to "
				               "%d",
				               AUDIT_LIMIT_MAX);
			o->limit_given = true;
			break;
		case 'j':
			o->json = true;
			break;
		case 'f':
			o->follow = true;
			break;
		case 'h':
			return cli_help();
		default:
			return cli_bad_option(cli, argv);
		}
	}
	if (ex == 0 && optind < argc)
		ex = cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	if (ex == 0 && o->since_us >= 0 && o->until_us >= 0 &&
	    o->since_us > o->until_us)
		ex = cli_usage(cli, "--since is later than --until");
	return ex;
}

/* A row passes the filters (for rows the agent pushes unfiltered). */
static bool row_selected(const struct audit_opts *o, const json_t *row)
{
	const char *name = json_string_value(json_object_get(row, "name"));
	const char *pr = json_string_value(json_object_get(row, "principal"));
	int64_t ts = json_integer_value(json_object_get(row, "ts_us"));

	return (o->since_us < 0 || ts >= o->since_us) &&
	       (o->until_us < 0 || ts <= o->until_us) &&
	       (!o->name || (name && kw_glob_match(o->name, name))) &&
	       (!o->principal || (pr && strcmp(o->principal, pr) == 0)) &&
	       (!o->op ||
	        strcmp(o->op, json_string_value(json_object_get(row, "op"))) ==
	                0) &&
	       (!o->outcome ||
	        strcmp(o->outcome,
	               json_string_value(json_object_get(row, "outcome"))) ==
	                0);
}

/* Query ------------------------------------------------------------------ */

/* audit.query params for one page; NULL if out of memory. */
static json_t *page_params(const struct audit_opts *o, json_t *cursor,
                           uint64_t limit, const char *order)
{
	json_t *p = json_pack("{s:I, s:s}", "limit", (json_int_t)limit, "order",
	                      order);
	int r = p ? 0 : -1;

	if (r == 0 && o->since_us >= 0)
		r = json_object_set_new(p, "since_us",
		                        json_integer(o->since_us));
	if (r == 0 && o->until_us >= 0)
		r = json_object_set_new(p, "until_us",
		                        json_integer(o->until_us));
	if (r == 0 && o->name)
		r = json_object_set_new(p, "name", json_string(o->name));
	if (r == 0 && o->principal)
		r = json_object_set_new(p, "principal",
		                        json_string(o->principal));
	if (r == 0 && o->op)
		r = json_object_set_new(p, "op", json_string(o->op));
	if (r == 0 && o->outcome)
		r = json_object_set_new(p, "outcome", json_string(o->outcome));
	if (r == 0 && cursor)
		r = json_object_set(p, "cursor", cursor);
	if (r == 0)
		return p;
	json_decref(p);
	return NULL;
}

/*
 * One page. *ret_res is the whole result (rows checked); *ret_cursor
 * points into it, NULL when there are no more pages. A cursor that does
 * not move would make us loop: KW_EPROTO.
 */
static int query_page(kw_client *c, const struct audit_opts *o, json_t *cursor,
                      uint64_t limit, const char *order, json_t **ret_res,
                      const json_t **ret_cursor)
{
	json_t *params = page_params(o, cursor, limit, order), *res = NULL;
	const json_t *rows, *next, *row;
	size_t i;
	int r;

	r = params ? cli_call(c, "audit.query", params, &res) : KW_ENOMEM;
	if (r < 0)
		return r;
	rows = json_object_get(res, "rows");
	next = json_object_get(res, "cursor");
	r = KW_EPROTO;
	if (!json_is_array(rows) || json_array_size(rows) > limit ||
	    !(json_is_null(next) || json_is_integer(next) ||
	      json_is_string(next)) ||
	    (cursor && json_equal(cursor, next)))
		goto fail;
	json_array_foreach(rows, i, row)
	{
		if (!cli_audit_row_valid(row))
			goto fail;
	}
	*ret_res = res;
	*ret_cursor = json_is_null(next) ? NULL : next;
	return 0;
fail:
	json_decref(res);
	return r;
}

/* The newest o->limit rows that match, newest first, in *ret_rows. */
static int query_newest(kw_client *c, const struct audit_opts *o,
                        json_t **ret_rows)
{
	json_t *all = json_array(), *res = NULL, *cursor = NULL;
	const json_t *next = NULL;
	int r = all ? 0 : KW_ENOMEM;

	while (r == 0 && json_array_size(all) < o->limit) {
		uint64_t want = o->limit - json_array_size(all);

		r = query_page(c, o, cursor,
		               want > AUDIT_PAGE_MAX ? AUDIT_PAGE_MAX : want,
		               "newest", &res, &next);
		if (r < 0)
			break;
		if (json_array_extend(all, json_object_get(res, "rows")) < 0)
			r = KW_ENOMEM;
		json_decref(cursor);
		cursor = json_incref((json_t *)next);
		json_decref(res);
		if (!cursor)
			break;
	}
	json_decref(cursor);
	if (r < 0) {
		json_decref(all);
		return r;
	}
	*ret_rows = all;
	return 0;
}

/* Print rows (newest first) oldest first, in one table. */
static int print_newest(struct printer *p, const json_t *rows)
{
	size_t n = json_array_size(rows);
	int r = 0;

	for (size_t i = 0; i < n; i++)
		cli_audit_cols_fit(&p->w, json_array_get(rows, i));
	for (size_t i = n; i-- > 0 && r == 0;)
		r = printer_row(p, json_array_get(rows, i));
	return r;
}

/* --limit 0: every matching row, oldest first, a page at a time. */
static int print_all(kw_client *c, const struct audit_opts *o,
                     struct printer *p)
{
	json_t *res = NULL, *cursor = NULL;
	const json_t *next = NULL, *row;
	size_t i;
	int r;

	do {
		r = query_page(c, o, cursor, AUDIT_PAGE_MAX, "oldest", &res,
		               &next);
		if (r < 0)
			break;
		json_array_foreach(json_object_get(res, "rows"), i, row)
		{
			cli_audit_cols_fit(&p->w, row);
			if (r == 0)
				r = printer_row(p, row);
		}
		json_decref(cursor);
		cursor = json_incref((json_t *)next);
		json_decref(res);
	} while (r == 0 && cursor);
	json_decref(cursor);
	return r;
}

static int print_history(kw_client *c, const struct audit_opts *o,
                         struct printer *p)
{
	json_t *rows = NULL;
	int r;

	if (o->limit == 0)
		return print_all(c, o, p);
	r = query_newest(c, o, &rows);
	if (r == 0)
		r = print_newest(p, rows);
	json_decref(rows);
	return r;
}

/* Follow ----------------------------------------------------------------- */

/* One notification: print it if it is a new row that passes the filters. */
static int follow_one(const struct audit_opts *o, struct printer *p,
                      const char *method, const char *params)
{
	json_t *row;
	int r = 0;

	if (strcmp(method, "audit.row") != 0)
		return 0; /* not ours to show */
	row = json_loads(params, JSON_REJECT_DUPLICATES, NULL);
	if (!cli_audit_row_valid(row))
		r = KW_EPROTO;
	else if (json_integer_value(json_object_get(row, "seq")) >
	                 p->last_seq &&
	         row_selected(o, row)) {
		cli_audit_cols_fit(&p->w, row);
		r = printer_row(p, row);
		if (r == 0 && fflush(stdout) != 0)
			r = KW_EIO;
	}
	json_decref(row);
	return r;
}

/* Print pushed rows until a signal (0) or an error (the agent closing is
 * KW_ECLOSED). */
static int follow_loop(const struct cli *cli, kw_client *c,
                       const struct audit_opts *o, struct printer *p)
{
	while (!follow_stop) {
		char *method = NULL, *params = NULL;
		int r = kw_notification_wait(c, FOLLOW_TICK_MS, &method,
		                             &params);

		if (r == KW_ETIMEOUT)
			continue;
		if (r == KW_ELIMIT) {
			cli_msg(cli, NULL,
			        "warning: rows were lost (this reader fell "
			        "behind the agent)");
			continue;
		}
		if (r == 0)
			r = follow_one(o, p, method, params);
		kw_json_free(method);
		kw_json_free(params);
		if (r < 0)
			return r;
	}
	return 0;
}

static int audit_follow(const struct cli *cli, kw_client *c,
                        const struct audit_opts *o, struct printer *p)
{
	struct sigaction sa = { .sa_handler = on_stop };
	bool history = o->since_us >= 0 || o->until_us >= 0 || o->name ||
	               o->principal || o->op || o->outcome || o->limit_given;
	json_t *res = NULL;
	bool on = false;
	int r;

	/* No SA_RESTART: the wait returns within a tick either way. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	r = cli_call(c, "audit.follow", NULL, &res);
	if (r == 0 && (!kw_json_get_bool(res, "following", &on) || !on))
		r = KW_EPROTO;
	json_decref(res);
	if (r == 0 && history)
		r = print_history(c, o, p);
	if (r == 0 && fflush(stdout) != 0)
		r = KW_EIO;
	if (r == 0)
		r = follow_loop(cli, c, o, p);
	return r;
}

static int audit_query(struct cli *cli, int argc, char **argv)
{
	struct audit_opts o;
	struct printer p;
	kw_client *c = NULL;
	int ex, r;

	ex = parse_query_opts(cli, argc, argv, &o);
	if (ex != 0)
		return ex;
	ex = cli_connect(cli, KW_TIMEOUT_DEFAULT_MS, &c);
	if (ex != 0)
		return ex;
	printer_init(&p, o.json);
	if (o.follow)
		r = audit_follow(cli, c, &o, &p);
	else
		r = print_history(c, &o, &p);
	if (r == KW_EIO)
		ex = CLI_EXIT_ERROR; /* stdout is gone: nobody to tell */
	else if (r < 0)
		ex = cli_fail(cli, c, NULL, r);
	else if (!o.json && !p.header_done && !o.follow)
		cli_msg(cli, NULL, "no matching rows");
	kw_close(c);
	return ex;
}

int cmd_audit(struct cli *cli, int argc, char **argv)
{
	static const struct cli_subcommand subs[] = {
		{ "stats", "audit stats", cli_audit_stats },
		{ "verify", "audit verify", cli_audit_verify },
	};
	size_t n = sizeof(subs) / sizeof(subs[0]);

	for (size_t i = 0; argc > 1 && i < n; i++)
		if (strcmp(argv[1], subs[i].name) == 0)
			return cli_run_subcommand(cli, argc, argv, subs, n);
	return audit_query(cli, argc, argv);
}
