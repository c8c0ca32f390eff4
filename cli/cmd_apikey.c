/*
 * cmd_apikey.c - keyward apikey create, ls, revoke, rotate, verify:
 * managed API keys (apikey.* in docs/protocol.md).
 *
 * A key exists in clear only in the answer to create or rotate: it is
 * printed once, on stdout, with write(2) so that no stdio buffer keeps a
 * copy, and everything else goes to stderr (or, with --json, the whole
 * answer goes to stdout the same way). verify reads the key from stdin,
 * never from argv, which other users can read in /proc.
 */
#include <errno.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apikey.h"
#include "cli.h"
#include "name.h"
#include "scope.h"
#include "writeall.h"

#define PRINCIPAL_MAX 64u
#define TTL_MAX       315360000u /* 10 years */
#define OVERLAP_MAX   31536000u  /* 1 year */
#define SCOPES_MAX    32u
/* What verify reads from stdin at most: far more than a key. */
#define STDIN_MAX 4096u

/* Write n bytes of s and a newline to stdout, bypassing stdio. 0 or
 * -errno. */
int cli_write_line(const char *s, size_t n)
{
	fflush(stdout);
	if (kw_write_all(STDOUT_FILENO, s, n) < 0 ||
	    kw_write_all(STDOUT_FILENO, "\n", 1) < 0)
		return -errno;
	return 0;
}

static int check_principal(const struct cli *cli, const char *p)
{
	int ex = cli_check_name(cli, p);

	if (ex == 0 && strlen(p) > PRINCIPAL_MAX) {
		cli_msg(cli, p, "invalid principal: at most %u bytes",
		        PRINCIPAL_MAX);
		ex = CLI_EXIT_ERROR;
	}
	return ex;
}

/* "a,b" as ["a", "b"]; the agent checks each scope. */
static int parse_scopes(const struct cli *cli, const char *arg,
                        json_t **ret_arr)
{
	json_t *arr = json_array();
	const char *p = arg;

	if (!arr)
		return cli_fail(cli, NULL, NULL, KW_ENOMEM);
	while (*p) {
		size_t n = strcspn(p, ",");
		if (n == 0 || json_array_size(arr) >= SCOPES_MAX) {
			json_decref(arr);
			return cli_usage(cli,
			                 "--scopes: 1 to %u comma-separated "
			                 "scopes, none empty",
			                 SCOPES_MAX);
		}
		if (json_array_append_new(arr, json_stringn(p, n)) < 0) {
			json_decref(arr);
			return cli_fail(cli, NULL, NULL, KW_ENOMEM);
		}
		p += n;
		if (*p == ',' && *++p == '\0') {
			json_decref(arr);
			return cli_usage(cli, "--scopes: a trailing comma");
		}
	}
	*ret_arr = arr;
	return 0;
}

/* Member key of o is null, or text (*ret NULL for null). */
static bool opt_text(const json_t *o, const char *key, const char **ret)
{
	const json_t *v = json_object_get(o, key);

	*ret = NULL;
	return json_is_null(v) || kw_json_get_text(o, key, ret);
}

static bool scopes_valid(const json_t *o)
{
	const json_t *arr = json_object_get(o, "scopes");
	size_t i;
	json_t *e;

	if (!json_is_array(arr))
		return false;
	json_array_foreach(arr, i, e)
	{
		if (!json_is_string(e) ||
		    !kw_scope_name_valid(json_string_value(e),
		                         json_string_length(e)))
			return false;
	}
	return true;
}

static void print_scopes(FILE *f, const json_t *o)
{
	const json_t *arr = json_object_get(o, "scopes");
	size_t i;
	json_t *e;

	if (json_array_size(arr) == 0)
		fputc('-', f);
	json_array_foreach(arr, i, e)
	{
		fprintf(f, "%s%s", i ? "," : "", json_string_value(e));
	}
}

/* The answer to create and rotate: a well-formed key whose id is id, and
 * its terms. */
static bool new_key_valid(const json_t *res)
{
	char id[KW_APIKEY_ID_LEN + 1];
	const char *key, *got_id, *p, *t;

	return kw_json_get_text(res, "key", &key) &&
	       kw_apikey_parse(key, strlen(key), id, NULL) == 0 &&
	       kw_json_get_text(res, "id", &got_id) &&
	       strcmp(got_id, id) == 0 &&
	       kw_json_get_text(res, "principal", &p) &&
	       kw_name_check(p, strlen(p), NULL) == 0 && scopes_valid(res) &&
	       kw_json_get_text(res, "created", &t) &&
	       opt_text(res, "expires", &t);
}

/*
 * Print the answer of create or rotate: the key alone on stdout and what
 * it is on stderr, or with json the whole answer on stdout. Returns the
 * exit code.
 */
static int print_new_key(const struct cli *cli, const json_t *res, bool json)
{
	const char *key = NULL, *id = NULL, *principal = NULL, *expires;
	char *text = NULL;
	int r;

	kw_json_get_text(res, "key", &key);
	kw_json_get_text(res, "id", &id);
	kw_json_get_text(res, "principal", &principal);
	opt_text(res, "expires", &expires);
	if (json) {
		text = json_dumps(res, JSON_COMPACT);
		if (!text)
			return cli_fail(cli, NULL, NULL, KW_ENOMEM);
		r = cli_write_line(text, strlen(text));
		kw_json_free(text); /* wipes */
	} else {
		r = cli_write_line(key, strlen(key));
	}
	if (r < 0) {
		cli_msg(cli, id,
		        "cannot write the key to stdout: %s; it is lost: "
		        "revoke %s",
		        strerror(-r), id);
		return CLI_EXIT_ERROR;
	}
	if (json)
		return CLI_EXIT_OK;
	cli_msg(cli, id,
	        "the key on stdout is shown only this once (the agent keeps "
	        "a hash of it).");
	fprintf(stderr, "id:        %s\nprincipal: %s\nscopes:    ", id,
	        principal);
	print_scopes(stderr, res);
	fprintf(stderr, "\nexpires:   %s\n", expires ? expires : "never");
	return CLI_EXIT_OK;
}

static int apikey_create(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "principal", required_argument, NULL, 'p' },
		{ "scopes", required_argument, NULL, 's' },
		{ "ttl", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *principal = NULL, *scopes = NULL;
	json_t *params = NULL, *arr = NULL, *res = NULL;
	kw_client *c = NULL;
	uint64_t ttl = 0;
	bool json = false, has_ttl = false;
	int opt, ex = 0, r;

	while (ex == 0 &&
	       (opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'p')
			principal = optarg;
		else if (opt == 's')
			scopes = optarg;
		else if (opt == 't')
			ex = cli_parse_duration_opt(cli, "--ttl", optarg,
			                            TTL_MAX, false, &ttl);
		else if (opt == 'j')
			json = true;
		else if (opt == 'h')
			return cli_help();
		else
			return cli_bad_option(cli, argv);
		has_ttl = has_ttl || opt == 't';
	}
	if (ex != 0)
		return ex;
	if (optind < argc)
		return cli_usage(cli, "unexpected argument (the principal "
		                      "goes with --principal)");
	if (!principal)
		return cli_usage(cli, "--principal NAME is required");
	if ((ex = check_principal(cli, principal)) != 0)
		return ex;
	if (scopes && (ex = parse_scopes(cli, scopes, &arr)) != 0)
		return ex;
	params =
		json_pack("{s:s, s:o*}", "principal", principal, "scopes", arr);
	if (params && has_ttl &&
	    json_object_set_new(params, "ttl", json_integer((json_int_t)ttl)) <
	            0) {
		json_decref(params);
		params = NULL;
	}
	if (!params)
		return cli_fail(cli, NULL, NULL, KW_ENOMEM);
	ex = cli_connect(cli, KW_TIMEOUT_DEFAULT_MS, &c);
	if (ex != 0) {
		json_decref(params);
		return ex;
	}
	r = cli_call(c, "apikey.create", params, &res);
	if (r == 0 && !new_key_valid(res))
		r = KW_EPROTO;
	ex = r < 0 ? cli_fail(cli, c, principal, r) :
	             print_new_key(cli, res, json);
	json_decref(res); /* wipes the key */
	kw_close(c);
	return ex;
}

/* An element of apikey.list's keys, every member the table uses. */
static bool listed_valid(const json_t *e)
{
	const char *id, *p, *t;
	bool b;

	return kw_json_get_text(e, "id", &id) &&
	       kw_apikey_id_valid(id, strlen(id)) &&
	       kw_json_get_text(e, "principal", &p) &&
	       kw_name_check(p, strlen(p), NULL) == 0 && scopes_valid(e) &&
	       kw_json_get_text(e, "created", &t) &&
	       opt_text(e, "expires", &t) && opt_text(e, "last_used", &t) &&
	       kw_json_get_bool(e, "revoked", &b) &&
	       opt_text(e, "valid_until", &t) &&
	       opt_text(e, "replaced_by", &t) &&
	       (!t || kw_apikey_id_valid(t, strlen(t))) &&
	       kw_json_get_text(e, "status", &t);
}

static void print_keys(const json_t *arr)
{
	size_t i, width = strlen("PRINCIPAL");
	json_t *e;

	json_array_foreach(arr, i, e)
	{
		size_t n = strlen(cli_json_text(e, "principal"));
		if (n > width)
			width = n;
	}
	printf("%-12s  %-*s  %-7s  %-20s  %-20s  %-20s  SCOPES\n", "ID",
	       (int)width, "PRINCIPAL", "STATUS", "CREATED", "EXPIRES",
	       "LAST_USED");
	json_array_foreach(arr, i, e)
	{
		const char *exp = cli_json_text(e, "expires");
		const char *used = cli_json_text(e, "last_used");
		const char *next = cli_json_text(e, "replaced_by");

		printf("%-12s  %-*s  %-7s  %-20s  %-20s  %-20s  ",
		       cli_json_text(e, "id"), (int)width,
		       cli_json_text(e, "principal"),
		       cli_json_text(e, "status"), cli_json_text(e, "created"),
		       exp ? exp : "never", used ? used : "never");
		print_scopes(stdout, e);
		putchar('\n');
		if (next)
			printf("  replaced by %s; valid until %s\n", next,
			       cli_json_text(e, "valid_until") ?
			               cli_json_text(e, "valid_until") :
			               "-");
	}
}

static int apikey_ls(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "principal", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *principal = NULL;
	json_t *params = NULL, *res = NULL, *arr = NULL;
	kw_client *c = NULL;
	bool json = false;
	size_t i;
	json_t *e;
	int opt, ex, r;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'p')
			principal = optarg;
		else if (opt == 'j')
			json = true;
		else if (opt == 'h')
			return cli_help();
		else
			return cli_bad_option(cli, argv);
	}
	if (optind < argc)
		return cli_usage(cli, "unexpected argument");
	if (principal && (ex = check_principal(cli, principal)) != 0)
		return ex;
	if (principal && !(params = json_pack("{s:s}", "principal", principal)))
		return cli_fail(cli, NULL, NULL, KW_ENOMEM);
	ex = cli_connect(cli, KW_TIMEOUT_DEFAULT_MS, &c);
	if (ex != 0) {
		json_decref(params);
		return ex;
	}
	r = cli_call(c, "apikey.list", params, &res);
	if (r == 0) {
		arr = json_object_get(res, "keys");
		if (!json_is_array(arr))
			r = KW_EPROTO;
		json_array_foreach(arr, i, e)
		{
			if (r == 0 && !listed_valid(e))
				r = KW_EPROTO;
		}
	}
	if (r == 0 && json)
		r = cli_print_json_lines(arr);
	if (r < 0)
		ex = cli_fail(cli, c, NULL, r);
	else if (!json && json_array_size(arr) == 0)
		cli_msg(cli, NULL, "no API keys");
	else if (!json)
		print_keys(arr);
	json_decref(res);
	kw_close(c);
	return ex;
}

/* The one ID operand, after the options. */
static int one_id(struct cli *cli, int argc, char **argv, const char **ret_id)
{
	const char *id;

	if (optind >= argc)
		return cli_usage(cli, "missing ID (keyward apikey ls shows "
		                      "them)");
	if (optind + 1 < argc)
		return cli_usage(cli, "unexpected argument after ID");
	id = argv[optind];
	if (!kw_apikey_id_valid(id, strlen(id)))
		return cli_usage(cli,
		                 "an API key id is %u characters of "
		                 "0-9 A-Z a-z",
		                 KW_APIKEY_ID_LEN);
	*ret_id = id;
	return 0;
}

/* Call method with {"id": id, ...more} (stolen); the answer must name
 * the id. */
static int call_id(kw_client *c, const char *method, const char *id,
                   json_t *params, json_t **ret_res)
{
	const char *got;
	json_t *res = NULL;
	int r;

	if (!params || json_object_set_new(params, "id", json_string(id))) {
		json_decref(params);
		return KW_ENOMEM;
	}
	r = cli_call(c, method, params, &res);
	if (r == 0 && strcmp(method, "apikey.revoke") == 0 &&
	    (!kw_json_get_text(res, "id", &got) || strcmp(got, id) != 0))
		r = KW_EPROTO;
	if (r == 0 && strcmp(method, "apikey.rotate") == 0 &&
	    (!new_key_valid(res) || !kw_json_get_text(res, "replaces", &got) ||
	     strcmp(got, id) != 0 ||
	     !kw_json_get_text(res, "previous_valid_until", &got)))
		r = KW_EPROTO;
	if (r < 0) {
		json_decref(res);
		return r;
	}
	*ret_res = res;
	return 0;
}

static int apikey_revoke(struct cli *cli, int argc, char **argv)
{
	const char *id = NULL;
	kw_client *c = NULL;
	json_t *res = NULL;
	int ex = 0, r;

	if (!cli_help_only(cli, argc, argv, &ex))
		return ex;
	if ((ex = one_id(cli, argc, argv, &id)) != 0 ||
	    (ex = cli_connect(cli, KW_TIMEOUT_DEFAULT_MS, &c)) != 0)
		return ex;
	r = call_id(c, "apikey.revoke", id, json_object(), &res);
	if (r < 0)
		ex = cli_fail(cli, c, id, r);
	else
		printf("%s: revoked\n", id);
	json_decref(res);
	kw_close(c);
	return ex;
}

static int apikey_rotate(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "overlap", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *id = NULL, *until = NULL;
	json_t *params, *res = NULL;
	kw_client *c = NULL;
	uint64_t overlap = 0;
	bool json = false, has_overlap = false;
	int opt, ex = 0, r;

	while (ex == 0 &&
	       (opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'o')
			ex = cli_parse_duration_opt(cli, "--overlap", optarg,
			                            OVERLAP_MAX, true,
			                            &overlap);
		else if (opt == 'j')
			json = true;
		else if (opt == 'h')
			return cli_help();
		else
			return cli_bad_option(cli, argv);
		has_overlap = has_overlap || opt == 'o';
	}
	if (ex != 0 || (ex = one_id(cli, argc, argv, &id)) != 0 ||
	    (ex = cli_connect(cli, KW_TIMEOUT_DEFAULT_MS, &c)) != 0)
		return ex;
	params = has_overlap ?
	                 json_pack("{s:I}", "overlap", (json_int_t)overlap) :
	                 json_object();
	r = call_id(c, "apikey.rotate", id, params, &res);
	if (r < 0) {
		ex = cli_fail(cli, c, id, r);
	} else {
		ex = print_new_key(cli, res, json);
		kw_json_get_text(res, "previous_valid_until", &until);
		if (ex == 0 && !json)
			fprintf(stderr,
			        "replaces:  %s, which keeps working "
			        "until %s\n",
			        id, until);
	}
	json_decref(res); /* wipes the key */
	kw_close(c);
	return ex;
}

int cli_read_stdin(char *buf, size_t max, size_t *ret_len)
{
	size_t len = 0;

	for (;;) {
		ssize_t n = read(STDIN_FILENO, buf + len, max + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return KW_EIO;
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max)
			return KW_ETOOBIG;
	}
	*ret_len = len;
	return 0;
}

/* Read stdin (at most STDIN_MAX bytes) into buf and cut it at the first
 * line end. *ret_len is the length of that first line; more than one line
 * of text, or more than STDIN_MAX bytes, is KW_ETOOBIG. */
static int read_key(char buf[static STDIN_MAX + 1], size_t *ret_len)
{
	size_t len = 0, line;
	int r = cli_read_stdin(buf, STDIN_MAX, &len);

	if (r < 0)
		return r;
	buf[len] = '\0';
	line = strcspn(buf, "\r\n");
	/* After the line end only more line ends may follow. */
	if (buf[line + strspn(buf + line, "\r\n")] != '\0')
		return KW_ETOOBIG;
	buf[line] = '\0';
	*ret_len = line;
	return 0;
}

static void print_verified(const kw_apikey_info *info, bool json)
{
	int64_t exp = kw_apikey_info_expires(info);
	char t[32] = "never";
	struct tm tm;
	time_t tt = (time_t)exp;

	if (exp && gmtime_r(&tt, &tm))
		strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (json) {
		json_t *scopes = json_array();
		for (size_t i = 0;
		     scopes && i < kw_apikey_info_scope_count(info); i++)
			json_array_append_new(scopes,
			                      json_string(
						      kw_apikey_info_scope(info,
			                                                   i)));
		json_t *o = json_pack("{s:s, s:s, s:o*, s:s?}", "id",
		                      kw_apikey_info_id(info), "principal",
		                      kw_apikey_info_principal(info), "scopes",
		                      scopes, "expires", exp ? t : NULL);
		if (o)
			cli_print_json(o);
		json_decref(o);
		return;
	}
	printf("id:        %s\nprincipal: %s\nscopes:    ",
	       kw_apikey_info_id(info), kw_apikey_info_principal(info));
	if (kw_apikey_info_scope_count(info) == 0)
		putchar('-');
	for (size_t i = 0; i < kw_apikey_info_scope_count(info); i++)
		printf("%s%s", i ? "," : "", kw_apikey_info_scope(info, i));
	printf("\nexpires:   %s\n", t);
}

static int apikey_verify(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	char buf[STDIN_MAX + 1];
	kw_apikey_info *info = NULL;
	kw_client *c = NULL;
	size_t len = 0;
	bool json = false;
	int opt, ex, r;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'j')
			json = true;
		else if (opt == 'h')
			return cli_help();
		else
			return cli_bad_option(cli, argv);
	}
	if (optind < argc)
		return cli_usage(cli, "the key is read from stdin, never from "
		                      "the command line");
	r = read_key(buf, &len);
	if (r == KW_EIO) {
		cli_msg(cli, NULL, "cannot read stdin: %s", strerror(errno));
		ex = CLI_EXIT_ERROR;
		goto out;
	}
	if (r < 0 || len == 0) {
		cli_msg(cli, NULL, "%s",
		        len == 0 && r == 0 ?
		                "no key on stdin" :
		                "stdin must hold one key on one line");
		ex = CLI_EXIT_MALFORMED;
		goto out;
	}
	ex = cli_connect(cli, KW_TIMEOUT_DEFAULT_MS, &c);
	if (ex != 0)
		goto out;
	r = kw_apikey_verify(c, buf, &info);
	if (r == 0)
		print_verified(info, json);
	else
		ex = cli_fail(cli, c, NULL, r);
	if (r == KW_EINVAL) /* the library checked the key: malformed */
		ex = CLI_EXIT_MALFORMED;
	kw_apikey_info_free(info);
	kw_close(c);
out:
	sodium_memzero(buf, sizeof(buf));
	return ex;
}

int cmd_apikey(struct cli *cli, int argc, char **argv)
{
	static const struct cli_subcommand subs[] = {
		{ "create", "apikey create", apikey_create },
		{ "ls", "apikey ls", apikey_ls },
		{ "revoke", "apikey revoke", apikey_revoke },
		{ "rotate", "apikey rotate", apikey_rotate },
		{ "verify", "apikey verify", apikey_verify },
	};

	return cli_run_subcommand(cli, argc, argv, subs,
	                          sizeof(subs) / sizeof(subs[0]));
}
