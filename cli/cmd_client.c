/*
 * cmd_client.c - keyward client add, ls, revoke: client tokens.
 *
 * A token exists in clear only in the answer to client.add; the agent
 * keeps a keyed hash. `client add` prints it once, alone on stdout, with
 * write(2) from a buffer it wipes, so no stdio buffer keeps a copy; the
 * result objects holding it are freed through jansson's wiping allocator.
 */
#include <errno.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "name.h"

/* "kwt_" and 43 base64url characters. */
#define TOKEN_PREFIX "kwt_"
#define TOKEN_LEN    47u

static bool token_well_formed(const char *t)
{
	if (strnlen(t, TOKEN_LEN + 1) != TOKEN_LEN ||
	    strncmp(t, TOKEN_PREFIX, strlen(TOKEN_PREFIX)) != 0)
		return false;
	for (size_t i = strlen(TOKEN_PREFIX); i < TOKEN_LEN; i++) {
		unsigned char ch = (unsigned char)t[i];

		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
			return false;
	}
	return true;
}

/* The one NAME operand, checked against the name rules. */
static int one_name(struct cli *cli, int argc, char **argv,
                    const char **ret_name)
{
	int ex = 0;

	if (!cli_help_only(cli, argc, argv, &ex))
		return ex == CLI_EXIT_OK ? CLI_EXIT_DONE : ex;
	if (optind >= argc)
		return cli_usage(cli, "missing NAME");
	if (optind + 1 < argc)
		return cli_usage(cli, "unexpected argument after NAME");
	*ret_name = argv[optind];
	return cli_check_name(cli, argv[optind]);
}

/* Write token and '\n' to stdout, bypassing stdio. 0 or -errno. */
static int print_token(const char *token)
{
	return cli_write_line(token, TOKEN_LEN);
}

/* On stderr, so that stdout carries the token alone. */
static void print_token_note(const struct cli *cli, const char *name)
{
	cli_msg(cli, name,
	        "the token on stdout is shown only this once (the agent "
	        "keeps a hash of it).");
	fprintf(stderr,
	        "Give it to the server as KEYWARD_TOKEN=<token> in its "
	        "service's environment\n"
	        "file (mode 0600; systemd: EnvironmentFile=), never on a "
	        "command line, which\n"
	        "other users can read in /proc. To withdraw it: keyward "
	        "client revoke %s\n",
	        name);
}

static int client_add(struct cli *cli, int argc, char **argv)
{
	const char *name = NULL, *token;
	kw_client *c = NULL;
	json_t *res = NULL;
	int ex, r;

	ex = one_name(cli, argc, argv, &name);
	if (ex == 0)
		ex = cli_connect(cli, KW_TIMEOUT_DEFAULT_MS, &c);
	if (ex != 0)
		return ex;
	r = cli_call_name(c, "client.add", name, &res);
	if (r == 0 && (!kw_json_get_text(res, "token", &token) ||
	               !token_well_formed(token)))
		r = KW_EPROTO;
	if (r < 0) {
		ex = cli_fail(cli, c, name, r);
		goto out;
	}
	r = print_token(token);
	if (r < 0) {
		cli_msg(cli, name,
		        "cannot write the token to stdout: %s; it is lost: "
		        "revoke NAME and add it again",
		        strerror(-r));
		ex = CLI_EXIT_ERROR;
		goto out;
	}
	print_token_note(cli, name);
out:
	json_decref(res);
	kw_close(c);
	return ex;
}

/* Check every element of client.list's array before printing any. */
static bool clients_valid(const json_t *arr, size_t *ret_width)
{
	size_t i, width = strlen("NAME");
	const char *name, *t;
	json_t *e;
	bool b;

	json_array_foreach(arr, i, e)
	{
		const json_t *used = json_object_get(e, "last_used");

		if (!kw_json_get_text(e, "name", &name) ||
		    kw_name_check(name, strlen(name), NULL) < 0 ||
		    !kw_json_get_text(e, "created", &t) ||
		    !(json_is_null(used) ||
		      kw_json_get_text(e, "last_used", &t)) ||
		    !kw_json_get_bool(e, "revoked", &b))
			return false;
		if (strlen(name) > width)
			width = strlen(name);
	}
	*ret_width = width;
	return true;
}

static void print_clients(const json_t *arr, size_t width)
{
	const char *name, *created, *used;
	bool revoked;
	size_t i;
	json_t *e;

	printf("%-*s  %-20s  %-20s  STATUS\n", (int)width, "NAME", "CREATED",
	       "LAST_USED");
	json_array_foreach(arr, i, e)
	{
		kw_json_get_text(e, "name", &name);
		kw_json_get_text(e, "created", &created);
		if (!kw_json_get_text(e, "last_used", &used))
			used = "never";
		kw_json_get_bool(e, "revoked", &revoked);
		printf("%-*s  %-20s  %-20s  %s\n", (int)width, name, created,
		       used, revoked ? "revoked" : "active");
	}
}

static int client_ls(struct cli *cli, int argc, char **argv)
{
	json_t *res = NULL, *arr = NULL;
	kw_client *c = NULL;
	bool json;
	size_t width = 0;
	int ex, r;

	if (!cli_json_opts(cli, argc, argv, &json, &ex))
		return ex;
	if (optind < argc)
		return cli_usage(cli, "unexpected argument");
	ex = cli_connect(cli, KW_TIMEOUT_DEFAULT_MS, &c);
	if (ex != 0)
		return ex;
	r = cli_call(c, "client.list", NULL, &res);
	if (r == 0) {
		arr = json_object_get(res, "clients");
		if (!json_is_array(arr) || !clients_valid(arr, &width))
			r = KW_EPROTO;
	}
	if (r == 0 && json)
		r = cli_print_json_lines(arr);
	if (r < 0) {
		ex = cli_fail(cli, c, NULL, r);
		goto out;
	}
	if (json)
		goto out;
	if (json_array_size(arr) == 0)
		cli_msg(cli, NULL, "no clients");
	else
		print_clients(arr, width);
out:
	json_decref(res);
	kw_close(c);
	return ex;
}

static int client_revoke(struct cli *cli, int argc, char **argv)
{
	const char *name = NULL;
	kw_client *c = NULL;
	json_t *res = NULL;
	int ex, r;

	ex = one_name(cli, argc, argv, &name);
	if (ex == 0)
		ex = cli_connect(cli, KW_TIMEOUT_DEFAULT_MS, &c);
	if (ex != 0)
		return ex;
	r = cli_call_name(c, "client.revoke", name, &res);
	if (r < 0)
		ex = cli_fail(cli, c, name, r);
	else
		printf("%s: revoked\n", name);
	json_decref(res);
	kw_close(c);
	return ex;
}

int cmd_client(struct cli *cli, int argc, char **argv)
{
	static const struct cli_subcommand subs[] = {
		{ "add", "client add", client_add },
		{ "ls", "client ls", client_ls },
		{ "revoke", "client revoke", client_revoke },
	};

	return cli_run_subcommand(cli, argc, argv, subs,
	                          sizeof(subs) / sizeof(subs[0]));
}
