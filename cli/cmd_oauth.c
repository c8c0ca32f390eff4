/*
 * cmd_oauth.c - keyward oauth add, status, refresh, revoke, discover:
 * managed OAuth credentials (oauth.* in docs/protocol.md, docs/oauth.md).
 *
 * The agent holds the client secret and the refresh token and makes every
 * request to the authorization server (through keyward-net); this
 * command only says what to hold. A client secret is read from stdin,
 * never from argv, which other users can read in /proc. Nothing here
 * prints a token: `keyward get NAME` does, like any secret.
 */
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "secmem.h"

#define LIST_MAX   4u    /* --resource (the agent's bound) */
#define SCOPE_MAX  1024u /* the agent's bound on the joined scope */
#define SECRET_MAX 1024u /* a client secret */
/* Waiting for a token request: the agent's own timeout is 30 s by
 * default ([oauth] timeout_seconds, at most 300). */
#define OAUTH_WAIT_MS 330000

struct add_args {
	const char *name, *grant, *auth, *token_url, *authorize_url;
	const char *device_url, *revocation_url, *issuer, *client_id;
	char scope[SCOPE_MAX + 1];
	const char *resources[LIST_MAX];
	size_t nresources;
	bool secret_stdin, allow_private, allow_insecure;
	bool iss_parameter; /* from --issuer's metadata */
};

static int add_scope(const struct cli *cli, struct add_args *a, const char *s)
{
	size_t have = strlen(a->scope), n = strlen(s);

	if (n == 0 || strchr(s, ' ') || have + (have ? 1 : 0) + n > SCOPE_MAX)
		return cli_usage(cli,
		                 "--scope: one scope per --scope, together at "
		                 "most %u bytes",
		                 SCOPE_MAX);
	if (have)
		a->scope[have++] = ' ';
	memcpy(a->scope + have, s, n + 1);
	return 0;
}

/* The client secret from stdin: one line, its newline dropped. */
static int read_secret(const struct cli *cli, char **ret)
{
	char *buf = kw_wipealloc(SECRET_MAX + 2);
	size_t len = 0;
	int r;

	if (!buf)
		return cli_fail(cli, NULL, NULL, KW_ENOMEM);
	r = cli_read_stdin(buf, SECRET_MAX + 1, &len);
	if (r == 0 && len > 0 && buf[len - 1] == '\n')
		len--;
	if (r == 0 && len > 0 && buf[len - 1] == '\r')
		len--;
	if (r == KW_ETOOBIG || (r == 0 && len > SECRET_MAX)) {
		kw_wipefree(buf);
		return cli_usage(cli,
		                 "the client secret on stdin is longer "
		                 "than %u bytes",
		                 SECRET_MAX);
	}
	if (r < 0 || len == 0) {
		kw_wipefree(buf);
		return cli_usage(cli, "--client-secret-stdin: no client "
		                      "secret on stdin");
	}
	buf[len] = '\0';
	*ret = buf;
	return 0;
}

static int parse_add(struct cli *cli, int argc, char **argv, struct add_args *a)
{
	static const struct option opts[] = {
		{ "grant", required_argument, NULL, 'g' },
		{ "auth", required_argument, NULL, 'a' },
		{ "token-url", required_argument, NULL, 't' },
		{ "authorize-url", required_argument, NULL, 'A' },
		{ "device-url", required_argument, NULL, 'D' },
		{ "revocation-url", required_argument, NULL, 'R' },
		{ "issuer", required_argument, NULL, 'i' },
		{ "client-id", required_argument, NULL, 'c' },
		{ "client-secret-stdin", no_argument, NULL, 's' },
		{ "scope", required_argument, NULL, 'S' },
		{ "resource", required_argument, NULL, 'r' },
		{ "allow-private", no_argument, NULL, 'p' },
		{ "allow-insecure", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	int opt, ex = 0;

	while (ex == 0 &&
	       (opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'g':
			a->grant = optarg;
			break;
		case 'a':
			a->auth = optarg;
			break;
		case 't':
			a->token_url = optarg;
			break;
		case 'A':
			a->authorize_url = optarg;
			break;
		case 'D':
			a->device_url = optarg;
			break;
		case 'R':
			a->revocation_url = optarg;
			break;
		case 'i':
			a->issuer = optarg;
			break;
		case 'c':
			a->client_id = optarg;
			break;
		case 's':
			a->secret_stdin = true;
			break;
		case 'S':
			ex = add_scope(cli, a, optarg);
			break;
		case 'r':
			if (a->nresources == LIST_MAX)
				return cli_usage(cli, "at most %u --resource",
				                 LIST_MAX);
			a->resources[a->nresources++] = optarg;
			break;
		case 'p':
			a->allow_private = true;
			break;
		case 'k':
			a->allow_insecure = true;
			break;
		case 'h':
			cli_help();
			return CLI_EXIT_DONE;
		default:
			return cli_bad_option(cli, argv);
		}
	}
	if (ex != 0)
		return ex;
	if (optind + 1 != argc)
		return cli_usage(cli, "oauth add takes one NAME");
	a->name = argv[optind];
	if ((ex = cli_check_name(cli, a->name)) != 0)
		return ex;
	if (!a->grant)
		return cli_usage(cli, "--grant client_credentials|"
		                      "authorization_code|device_code is "
		                      "required");
	if (!a->client_id)
		return cli_usage(cli, "--client-id ID is required");
	if (!a->token_url && !a->issuer)
		return cli_usage(cli, "--token-url URL or --issuer URL is "
		                      "required");
	return 0;
}

static int set_str(json_t *o, const char *key, const char *v)
{
	return v ? json_object_set_new(o, key, json_string(v)) : 0;
}

/* Fill what --issuer's metadata says and the options left out. */
static int from_metadata(const struct cli *cli, kw_client *c,
                         struct add_args *a, json_t **ret_meta)
{
	json_t *params = json_pack("{s:s, s:b, s:b}", "issuer", a->issuer,
	                           "allow_private", a->allow_private,
	                           "allow_insecure", a->allow_insecure);
	json_t *m = NULL;
	int r;

	if (!params)
		return cli_fail(cli, NULL, NULL, KW_ENOMEM);
	r = cli_call(c, "oauth.discover", params, &m);
	if (r < 0)
		return cli_fail(cli, c, a->name, r);
	if (!a->token_url &&
	    !kw_json_get_text(m, "token_endpoint", &a->token_url)) {
		json_decref(m);
		return cli_fail(cli, NULL, a->name, KW_EPROTO);
	}
	if (!a->authorize_url)
		kw_json_get_text(m, "authorization_endpoint",
		                 &a->authorize_url);
	if (!a->device_url)
		kw_json_get_text(m, "device_authorization_endpoint",
		                 &a->device_url);
	if (!a->revocation_url)
		kw_json_get_text(m, "revocation_endpoint", &a->revocation_url);
	*ret_meta = m; /* the strings above point into it */
	return 0;
}

static json_t *add_params(const struct add_args *a, const char *secret)
{
	json_t *p =
		json_pack("{s:s, s:s, s:s, s:b, s:b, s:b}", "name", a->name,
	                  "grant", a->grant, "client_id", a->client_id,
	                  "allow_private", a->allow_private, "allow_insecure",
	                  a->allow_insecure, "iss_parameter", a->iss_parameter);
	json_t *res = json_array();

	if (!p || !res)
		goto fail;
	for (size_t i = 0; i < a->nresources; i++) {
		if (json_array_append_new(res, json_string(a->resources[i])) <
		    0)
			goto fail;
	}
	if (set_str(p, "auth", a->auth) < 0 ||
	    set_str(p, "token_url", a->token_url) < 0 ||
	    set_str(p, "authorize_url", a->authorize_url) < 0 ||
	    set_str(p, "device_url", a->device_url) < 0 ||
	    set_str(p, "revocation_url", a->revocation_url) < 0 ||
	    set_str(p, "issuer", a->issuer) < 0 ||
	    set_str(p, "client_secret", secret) < 0 ||
	    set_str(p, "scope", a->scope[0] ? a->scope : NULL) < 0 ||
	    (a->nresources && json_object_set(p, "resources", res) < 0))
		goto fail;
	json_decref(res);
	return p;
fail:
	json_decref(res);
	json_decref(p);
	return NULL;
}

/* A client_credentials credential's first token, asked for at once: a
 * wrong secret or URL shows now, and then nothing is kept. */
static int first_token(const struct cli *cli, kw_client *c, const char *name)
{
	json_t *res = NULL;
	json_t *params = json_pack("{s:s, s:b}", "name", name, "if_needed", 1);
	int r = params ? cli_call(c, "oauth.renew", params, &res) : KW_ENOMEM;

	json_decref(res);
	if (r == 0) {
		printf("%s: added; it has an access token (keyward oauth "
		       "status %s)\n",
		       name, name);
		return CLI_EXIT_OK;
	}
	int ex = cli_fail(cli, c, name, r);
	if (cli_call_name(c, "oauth.revoke", name, &res) == 0)
		cli_msg(cli, name, "the credential was not kept");
	json_decref(res);
	return ex;
}

static int oauth_add(struct cli *cli, int argc, char **argv)
{
	struct add_args a = { 0 };
	char *secret = NULL;
	json_t *meta = NULL, *params = NULL, *res = NULL;
	kw_client *c = NULL;
	int ex, r;

	if ((ex = parse_add(cli, argc, argv, &a)) != 0)
		return ex;
	if (a.secret_stdin && (ex = read_secret(cli, &secret)) != 0)
		return ex;
	if ((ex = cli_connect(cli, OAUTH_WAIT_MS, &c)) != 0)
		goto out;
	if (a.issuer && (ex = from_metadata(cli, c, &a, &meta)) != 0)
		goto out;
	if (!(params = add_params(&a, secret))) {
		ex = cli_fail(cli, NULL, NULL, KW_ENOMEM);
		goto out;
	}
	r = cli_call(c, "oauth.add", params, &res);
	params = NULL;
	if (r < 0) {
		ex = cli_fail(cli, c, a.name, r);
		goto out;
	}
	if (strcmp(a.grant, "client_credentials") == 0)
		ex = first_token(cli, c, a.name);
	else
		printf("%s: added; log in to get its first token: keyward "
		       "oauth login %s\n",
		       a.name, a.name);
out:
	json_decref(res);
	json_decref(meta);
	kw_wipefree_str(secret);
	kw_close(c);
	return ex;
}

static int one_name(const struct cli *cli, int argc, char **argv,
                    const char **ret)
{
	if (optind + 1 != argc)
		return cli_usage(cli, "expected one NAME");
	*ret = argv[optind];
	return cli_check_name(cli, *ret);
}

static int oauth_refresh(struct cli *cli, int argc, char **argv)
{
	const char *name = NULL;
	json_t *res = NULL;
	kw_client *c = NULL;
	int ex = 0, r;

	if (!cli_help_only(cli, argc, argv, &ex))
		return ex;
	if ((ex = one_name(cli, argc, argv, &name)) != 0 ||
	    (ex = cli_connect(cli, OAUTH_WAIT_MS, &c)) != 0)
		return ex;
	r = cli_call_name(c, "oauth.renew", name, &res);
	if (r < 0)
		ex = cli_fail(cli, c, name, r);
	else
		printf("%s: new access token\n", name);
	json_decref(res);
	kw_close(c);
	return ex;
}

static int oauth_revoke(struct cli *cli, int argc, char **argv)
{
	const char *name = NULL, *how = NULL;
	json_t *res = NULL;
	kw_client *c = NULL;
	int ex = 0, r;

	if (!cli_help_only(cli, argc, argv, &ex))
		return ex;
	if ((ex = one_name(cli, argc, argv, &name)) != 0 ||
	    (ex = cli_connect(cli, OAUTH_WAIT_MS, &c)) != 0)
		return ex;
	r = cli_call_name(c, "oauth.revoke", name, &res);
	if (r < 0) {
		ex = cli_fail(cli, c, name, r);
	} else {
		kw_json_get_text(res, "revocation", &how);
		printf("%s: removed (%s)\n", name, how ? how : "?");
	}
	json_decref(res);
	kw_close(c);
	return ex;
}

static const char *or_dash(const json_t *o, const char *key)
{
	const char *s = cli_json_text(o, key);
	return s && s[0] ? s : "-";
}

static void print_one(const json_t *e)
{
	printf("%s\n", or_dash(e, "name"));
	printf("  grant:          %s (%s)\n", or_dash(e, "grant"),
	       or_dash(e, "auth"));
	printf("  client id:      ");
	cli_print_clean(stdout, or_dash(e, "client_id"));
	printf("\n  token endpoint: ");
	cli_print_clean(stdout, or_dash(e, "token_url"));
	printf("\n  scope:          %s (granted: %s)\n", or_dash(e, "scope"),
	       or_dash(e, "granted_scope"));
	printf("  state:          %s\n", or_dash(e, "state"));
	printf("  access token:   version %lld, expires %s\n",
	       (long long)json_integer_value(json_object_get(e, "version")),
	       or_dash(e, "access_expires"));
	printf("  refresh token:  %s\n",
	       json_is_true(json_object_get(e, "refresh_token")) ? "held" :
	                                                           "none");
	printf("  last refresh:   %s\n", or_dash(e, "last_refresh"));
	printf("  next refresh:   %s\n", or_dash(e, "next_refresh"));
	if (json_is_string(json_object_get(e, "last_error"))) {
		printf("  last error:     ");
		cli_print_clean(stdout, or_dash(e, "last_error"));
		printf("\n");
	}
}

static int oauth_status(struct cli *cli, int argc, char **argv)
{
	const char *name = NULL;
	json_t *res = NULL, *params;
	kw_client *c = NULL;
	bool json;
	int ex = 0, r;

	if (!cli_json_opts(cli, argc, argv, &json, &ex))
		return ex;
	if (optind + 1 < argc)
		return cli_usage(cli, "expected at most one NAME");
	if (optind < argc) {
		name = argv[optind];
		if ((ex = cli_check_name(cli, name)) != 0)
			return ex;
	}
	params = name ? json_pack("{s:s}", "name", name) : json_object();
	if (!params)
		return cli_fail(cli, NULL, NULL, KW_ENOMEM);
	if ((ex = cli_connect(cli, KW_TIMEOUT_DEFAULT_MS, &c)) != 0) {
		json_decref(params);
		return ex;
	}
	r = cli_call(c, "oauth.status", params, &res);
	const json_t *list = res ? json_object_get(res, "credentials") : NULL;
	if (r == 0 && !json_is_array(list))
		r = KW_EPROTO;
	if (r < 0) {
		ex = cli_fail(cli, c, name, r);
	} else if (json) {
		if (cli_print_json_lines(list) < 0)
			ex = cli_fail(cli, NULL, NULL, KW_ENOMEM);
	} else {
		size_t i;
		json_t *e;
		json_array_foreach(list, i, e)
		{
			if (i)
				printf("\n");
			print_one(e);
		}
		if (json_array_size(list) == 0)
			printf("no OAuth credentials\n");
	}
	json_decref(res);
	kw_close(c);
	return ex;
}

static int oauth_discover(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "allow-private", no_argument, NULL, 'p' },
		{ "allow-insecure", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	bool priv = false, insecure = false;
	json_t *res = NULL, *params;
	kw_client *c = NULL;
	int opt, ex, r;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'p')
			priv = true;
		else if (opt == 'k')
			insecure = true;
		else if (opt == 'h')
			return cli_help();
		else
			return cli_bad_option(cli, argv);
	}
	if (optind + 1 != argc)
		return cli_usage(cli, "oauth discover takes one ISSUER URL");
	params = json_pack("{s:s, s:b, s:b}", "issuer", argv[optind],
	                   "allow_private", priv, "allow_insecure", insecure);
	if (!params)
		return cli_fail(cli, NULL, NULL, KW_ENOMEM);
	if ((ex = cli_connect(cli, OAUTH_WAIT_MS, &c)) != 0) {
		json_decref(params);
		return ex;
	}
	r = cli_call(c, "oauth.discover", params, &res);
	if (r < 0)
		ex = cli_fail(cli, c, NULL, r);
	else if (cli_print_json(res) < 0)
		ex = cli_fail(cli, NULL, NULL, KW_ENOMEM);
	json_decref(res);
	kw_close(c);
	return ex;
}

int cmd_oauth(struct cli *cli, int argc, char **argv)
{
	static const struct cli_subcommand subs[] = {
		{ "add", "oauth add", oauth_add },
		{ "status", "oauth status", oauth_status },
		{ "refresh", "oauth refresh", oauth_refresh },
		{ "revoke", "oauth revoke", oauth_revoke },
		{ "discover", "oauth discover", oauth_discover },
		{ "login", "oauth login", cli_oauth_login },
	};

	return cli_run_subcommand(cli, argc, argv, subs,
	                          sizeof(subs) / sizeof(subs[0]));
}
