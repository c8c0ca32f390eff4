/*
 * cmd_token.c - keyward token issue / token verify / jwks (token.issue,
 * token.verify and jwks in docs/protocol.md; docs/tokens.md).
 *
 * A token is printed by issue (stdout, nothing else there) and read by
 * verify from stdin, never from argv: command lines are visible to other
 * users.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "duration.h"
#include "secmem.h"

#define TOKEN_READ_MAX 8192u /* the agent refuses longer tokens */
#define AUD_MAX        8u

/* "a,b" into a JSON array of strings (added to params as key). */
static int add_list(json_t *params, const char *key, const char *csv)
{
	json_t *arr = json_array();
	const char *p = csv;

	while (arr && *p) {
		size_t n = strcspn(p, ",");
		if (n > 0 &&
		    json_array_append_new(arr, json_stringn(p, n)) < 0) {
			json_decref(arr);
			return KW_ENOMEM;
		}
		p += n + (p[n] == ',');
	}
	if (!arr || json_object_set_new(params, key, arr) < 0)
		return KW_ENOMEM;
	return 0;
}

static int token_issue(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "sub", required_argument, NULL, 's' },
		{ "aud", required_argument, NULL, 'a' },
		{ "scopes", required_argument, NULL, 'S' },
		{ "client-id", required_argument, NULL, 'c' },
		{ "ttl", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *aud[AUD_MAX], *sub = NULL, *scopes = NULL, *cid = NULL;
	size_t naud = 0;
	uint64_t ttl = 0;
	bool json = false;
	int opt;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		const char *why = NULL;
		switch (opt) {
		case 's':
			sub = optarg;
			break;
		case 'a':
			if (naud == AUD_MAX)
				return cli_usage(cli, "--aud: at most %u",
				                 AUD_MAX);
			aud[naud++] = optarg;
			break;
		case 'S':
			scopes = optarg;
			break;
		case 'c':
			cid = optarg;
			break;
		case 't':
			if (kw_duration_parse(optarg, UINT32_MAX, &ttl, &why) <
			    0)
				return cli_usage(cli, "--ttl: %s", why);
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			return cli_help();
		default:
			return cli_bad_option(cli, argv);
		}
	}
	if (!sub || naud == 0)
		return cli_usage(cli, "--sub and --aud are required");
	if (optind != argc)
		return cli_usage(cli, "unexpected argument");

	json_t *params = json_pack("{s:s}", "subject", sub);
	json_t *a = naud == 1 ? json_string(aud[0]) : json_array();
	for (size_t i = 0; naud > 1 && a && i < naud; i++)
		json_array_append_new(a, json_string(aud[i]));
	int r = params && a ? json_object_set_new(params, "audience", a) :
	                      KW_ENOMEM;
	if (r == 0 && scopes)
		r = add_list(params, "scopes", scopes);
	if (r == 0 && cid)
		r = json_object_set_new(params, "client_id", json_string(cid));
	if (r == 0 && ttl)
		r = json_object_set_new(params, "ttl",
		                        json_integer((json_int_t)ttl));
	if (r < 0) {
		json_decref(params);
		return cli_fail(cli, NULL, NULL, KW_ENOMEM);
	}

	kw_client *c = NULL;
	json_t *res = NULL;
	int ex = cli_connect(cli, KW_TIMEOUT_DEFAULT_MS, &c);
	if (ex != 0) {
		json_decref(params);
		return ex;
	}
	r = cli_call(c, "token.issue", params, &res);
	if (r < 0) {
		ex = cli_fail(cli, c, NULL, r);
	} else if (json) {
		char *text = json_dumps(res, JSON_COMPACT);
		r = text ? cli_write_line(text, strlen(text)) : KW_ENOMEM;
		kw_wipefree_str(text);
		ex = r < 0 ? cli_fail(cli, NULL, NULL, KW_EIO) : 0;
	} else {
		const char *tok = NULL;
		if (!kw_json_get_text(res, "token", &tok))
			ex = cli_fail(cli, NULL, NULL, KW_EPROTO);
		else if (cli_write_line(tok, strlen(tok)) < 0)
			ex = cli_fail(cli, NULL, NULL, KW_EIO);
		else
			ex = 0;
	}
	json_decref(res);
	kw_close(c);
	return ex;
}

/* The token from stdin: one line, surrounding whitespace dropped. */
static int read_token(struct cli *cli, char **ret_tok)
{
	char *buf = kw_wipealloc(TOKEN_READ_MAX + 3);
	size_t len = 0;
	int r;

	if (!buf)
		return cli_fail(cli, NULL, NULL, KW_ENOMEM);
	/* Room for the longest token and a CRLF; anything longer is
	 * refused whole (KW_ETOOBIG leaves len 0), not cut. */
	r = cli_read_stdin(buf, TOKEN_READ_MAX + 2, &len);
	if (r == KW_EIO) {
		kw_wipefree(buf);
		return cli_fail(cli, NULL, NULL, KW_EIO);
	}
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
	               buf[len - 1] == ' '))
		len--;
	buf[len] = '\0';
	if (r < 0 || len == 0 || len > TOKEN_READ_MAX ||
	    memchr(buf, '\0', len) || strpbrk(buf, "\r\n")) {
		kw_wipefree(buf);
		return cli_usage(cli,
		                 "expected one token (at most %u bytes) "
		                 "on stdin",
		                 TOKEN_READ_MAX);
	}
	*ret_tok = buf;
	return 0;
}

static int token_verify(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "aud", required_argument, NULL, 'a' },
		{ "scopes", required_argument, NULL, 'S' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *aud = NULL, *scopes = NULL;
	bool json = false;
	char *tok = NULL;
	int opt, ex, r;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'a')
			aud = optarg;
		else if (opt == 'S')
			scopes = optarg;
		else if (opt == 'j')
			json = true;
		else if (opt == 'h')
			return cli_help();
		else
			return cli_bad_option(cli, argv);
	}
	if (!aud)
		return cli_usage(cli, "--aud is required");
	if (optind != argc)
		return cli_usage(cli, "the token is read from stdin, never "
		                      "from the command line");
	ex = read_token(cli, &tok);
	if (ex != 0)
		return ex;
	json_t *params = json_pack("{s:s, s:s}", "token", tok, "audience", aud);
	kw_wipefree(tok);
	r = params ? 0 : KW_ENOMEM;
	if (r == 0 && scopes)
		r = add_list(params, "scopes", scopes);
	if (r < 0) {
		json_decref(params);
		return cli_fail(cli, NULL, NULL, r);
	}
	kw_client *c = NULL;
	json_t *res = NULL;
	ex = cli_connect(cli, KW_TIMEOUT_DEFAULT_MS, &c);
	if (ex != 0) {
		json_decref(params);
		return ex;
	}
	r = cli_call(c, "token.verify", params, &res);
	if (r < 0) {
		ex = cli_fail(cli, c, NULL, r);
	} else if (json) {
		r = cli_print_json(res);
		ex = r < 0 ? cli_fail(cli, NULL, NULL, r) : 0;
	} else {
		const char *sub = NULL;
		uint64_t exp = 0;
		json_t *sc = json_object_get(res, "scopes");
		size_t i;
		json_t *e;
		fputs("valid: subject ", stdout);
		cli_print_clean(stdout, kw_json_get_text(res, "subject", &sub) ?
		                                sub :
		                                "-");
		fputs(", scopes", stdout);
		json_array_foreach(sc, i, e)
		{
			putchar(' ');
			cli_print_clean(stdout, json_string_value(e) ?
			                                json_string_value(e) :
			                                "?");
		}
		if (json_array_size(sc) == 0)
			fputs(" none", stdout);
		char when[CLI_TIME_LEN];
		kw_json_get_uint(res, "expires_at", 0, &exp);
		/* A date a person can read; --json keeps the number. */
		cli_time_local(exp <= INT64_MAX / 1000000 ?
		                       (int64_t)exp * 1000000 :
		                       -1,
		               when);
		printf(", expires at %s\n", when);
		ex = 0;
	}
	json_decref(res);
	kw_close(c);
	return ex;
}

int cmd_token(struct cli *cli, int argc, char **argv)
{
	static const struct cli_subcommand subs[] = {
		{ "issue", "token issue", token_issue },
		{ "verify", "token verify", token_verify },
	};

	return cli_run_subcommand(cli, argc, argv, subs,
	                          sizeof(subs) / sizeof(subs[0]));
}

int cmd_jwks(struct cli *cli, int argc, char **argv)
{
	kw_client *c = NULL;
	json_t *res = NULL;
	int ex, r;

	if (!cli_help_only(cli, argc, argv, &ex))
		return ex;
	ex = cli_connect(cli, KW_TIMEOUT_DEFAULT_MS, &c);
	if (ex != 0)
		return ex;
	r = cli_call(c, "jwks", NULL, &res);
	if (r == 0)
		r = cli_print_json(res);
	ex = r < 0 ? cli_fail(cli, c, NULL, r) : 0;
	json_decref(res);
	kw_close(c);
	return ex;
}
