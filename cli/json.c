/*
 * json.c - calling methods through kw_call, checking what comes back and
 * printing it as JSON for --json.
 *
 * The CLI prints names, stages and times from results; each is checked to
 * be printable text (kw_json_get_text) before it reaches a terminal.
 */
#include <getopt.h>
#include <string.h>

#include "cli.h"

int cli_call(kw_client *c, const char *method, json_t *params,
             json_t **ret_result)
{
	char *params_text = NULL, *text = NULL;
	json_t *res;
	int r;

	if (params) {
		params_text = json_dumps(params, JSON_COMPACT);
		json_decref(params);
		if (!params_text)
			return KW_ENOMEM;
	}
	r = kw_call(c, method, params_text, &text);
	kw_json_free(params_text);
	if (r < 0)
		return r;
	res = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	kw_json_free(text);
	if (!json_is_object(res)) {
		json_decref(res);
		return KW_EPROTO;
	}
	*ret_result = res;
	return 0;
}

int cli_call_name(kw_client *c, const char *method, const char *name,
                  json_t **ret_result)
{
	json_t *params = json_pack("{s:s}", "name", name), *res;
	const char *got;
	int r;

	if (!params)
		return KW_ENOMEM;
	r = cli_call(c, method, params, &res);
	if (r < 0)
		return r;
	if (!kw_json_get_text(res, "name", &got) || strcmp(got, name) != 0) {
		json_decref(res);
		return KW_EPROTO;
	}
	*ret_result = res;
	return 0;
}

int cli_print_json(const json_t *v)
{
	char *text = json_dumps(v, JSON_COMPACT);

	if (!text)
		return KW_ENOMEM;
	puts(text);
	kw_json_free(text);
	return 0;
}

int cli_print_json_lines(const json_t *arr)
{
	size_t i;
	json_t *e;
	int r;

	json_array_foreach(arr, i, e)
	{
		r = cli_print_json(e);
		if (r < 0)
			return r;
	}
	return 0;
}

bool cli_json_opts(const struct cli *cli, int argc, char **argv, bool *ret_json,
                   int *ret_exit)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	bool json = false;
	int opt;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'j') {
			json = true;
		} else if (opt == 'h') {
			*ret_exit = cli_help();
			return false;
		} else {
			*ret_exit = cli_bad_option(cli, argv);
			return false;
		}
	}
	*ret_json = json;
	return true;
}
