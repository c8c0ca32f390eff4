/*
 * cmd_audit_stats.c - keyward audit stats and audit verify.
 *
 * `audit verify` exits 1 when the chain is broken, the same code as any
 * other error: the line it prints ("BROKEN: ...", on stdout) is what tells
 * a break from a failure to ask (a "keyward: ..." message on stderr).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cli_audit_stats(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "since", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	json_t *params = NULL, *res = NULL, *sorted = NULL;
	const json_t *counts, *e;
	int64_t since = -1;
	kw_client *c = NULL;
	bool json = false;
	int opt, ex = 0, r;
	size_t i;

	while (ex == 0 &&
	       (opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 's')
			ex = cli_parse_time_opt(cli, "--since", optarg, &since);
		else if (opt == 'j')
			json = true;
		else if (opt == 'h')
			return cli_help();
		else
			return cli_bad_option(cli, argv);
	}
	if (ex == 0 && optind < argc)
		ex = cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	if (ex == 0)
		ex = cli_connect(cli, KW_TIMEOUT_DEFAULT_MS, &c);
	if (ex != 0)
		return ex;
	if (since >= 0)
		params = json_pack("{s:I}", "since_us", (json_int_t)since);
	r = since >= 0 && !params ? KW_ENOMEM :
	                            cli_call(c, "audit.stats", params, &res);
	counts = json_object_get(res, "counts");
	if (r == 0 && !json_is_array(counts))
		r = KW_EPROTO;
	json_array_foreach(counts, i, e)
	{
		if (r == 0 && !cli_audit_count_valid(e))
			r = KW_EPROTO;
	}
	if (r == 0)
		r = cli_audit_counts_sort(counts, &sorted);
	if (r == 0 && json)
		r = cli_print_json_lines(sorted);
	else if (r == 0)
		cli_audit_counts_print(stdout, sorted);
	if (r < 0)
		ex = cli_fail(cli, c, NULL, r);
	json_decref(sorted);
	json_decref(res);
	kw_close(c);
	return ex;
}

/* Check audit.verify's answer and print it; returns the exit code. */
static int verify_report(const struct cli *cli, const json_t *res, bool json)
{
	const char *kind, *detail = "";
	uint64_t rows, cps, seq = 0;
	const json_t *s = json_object_get(res, "seq");
	bool intact;

	if (!kw_json_get_bool(res, "intact", &intact) ||
	    !kw_json_get_text(res, "kind", &kind) ||
	    !kw_json_get_uint(res, "rows", 0, &rows) ||
	    !kw_json_get_uint(res, "checkpoints", 0, &cps) ||
	    !(json_is_null(json_object_get(res, "detail")) ||
	      kw_json_get_text(res, "detail", &detail)) ||
	    !(json_is_null(s) || kw_json_get_uint(res, "seq", 0, &seq)) ||
	    intact != (strcmp(kind, "intact") == 0))
		return cli_fail(cli, NULL, NULL, KW_EPROTO);
	if (json) {
		if (cli_print_json(res) < 0)
			return cli_fail(cli, NULL, NULL, KW_ENOMEM);
	} else if (intact) {
		printf("intact: %llu rows, %llu checkpoints\n",
		       (unsigned long long)rows, (unsigned long long)cps);
	} else if (strcmp(kind, "stale") == 0) {
		printf("stale: %s\n", detail);
	} else if (json_is_null(s)) {
		printf("BROKEN: %s: %s\n", kind, detail);
	} else {
		printf("BROKEN: %s at seq %llu: %s\n", kind,
		       (unsigned long long)seq, detail);
	}
	return intact ? CLI_EXIT_OK : CLI_EXIT_ERROR;
}

int cli_audit_verify(struct cli *cli, int argc, char **argv)
{
	json_t *res = NULL;
	kw_client *c = NULL;
	bool json;
	int ex, r;

	if (!cli_json_opts(cli, argc, argv, &json, &ex))
		return ex;
	if (optind < argc)
		return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	/* The agent walks the whole chain before it answers. */
	ex = cli_connect(cli, CLI_SLOW_TIMEOUT_MS, &c);
	if (ex != 0)
		return ex;
	r = cli_call(c, "audit.verify", NULL, &res);
	if (r < 0)
		ex = cli_fail(cli, c, NULL, r);
	else
		ex = verify_report(cli, res, json);
	json_decref(res);
	kw_close(c);
	return ex;
}
