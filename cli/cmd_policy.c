/*
 * cmd_policy.c - keyward policy check, show, reload (through the agent) and
 * policy init (local, like init: it writes the default policy file);
 * policy owner is in owner.c.
 *
 * What the agent sends back is printed with every byte outside printable
 * ASCII replaced: file paths and reasons come from policy files, which are
 * not ours to trust on a terminal.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "paths.h"
#include "policy_owner.h"

#define POLICY_DIR  "policies"
#define POLICY_FILE "00-owner.ini"

/* A string member or NULL. */
static const char *str_member(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* policy check ----------------------------------------------------------- */

struct check_args {
	json_t *params;
	bool json;
};

/* A uid or gid: a number, or a user or group name from the databases. */
static bool parse_id(const char *s, bool group, uint64_t *ret_id)
{
	char buf[16384];
	int e;

	if (cli_parse_u64(s, 0, (uint64_t)UINT32_MAX - 1, ret_id))
		return true;
	if (group) {
		struct group gr, *g = NULL;

		e = getgrnam_r(s, &gr, buf, sizeof(buf), &g);
		if (e != 0 || !g)
			return false;
		*ret_id = g->gr_gid;
	} else {
		struct passwd pw, *u = NULL;

		e = getpwnam_r(s, &pw, buf, sizeof(buf), &u);
		if (e != 0 || !u)
			return false;
		*ret_id = u->pw_uid;
	}
	return true;
}

static bool op_known(const char *op)
{
	static const char *const ops[] = { "read",   "write",  "list",
		                           "rotate", "verify", "admin" };

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(op, ops[i]) == 0)
			return true;
	return false;
}

static bool op_needs_name(const char *op)
{
	return strcmp(op, "read") == 0 || strcmp(op, "write") == 0 ||
	       strcmp(op, "rotate") == 0;
}

/* Add key: value to params; false only when out of memory. */
static bool set_str(json_t *params, const char *key, const char *value)
{
	return json_object_set_new(params, key, json_string(value)) == 0;
}

/* Parse the options of policy check into a->params; 0 or an exit code. */
static int check_parse(struct cli *cli, int argc, char **argv,
                       struct check_args *a)
{
	static const struct option opts[] = {
		{ "uid", required_argument, NULL, 'u' },
		{ "gid", required_argument, NULL, 'g' },
		{ "exe", required_argument, NULL, 'e' },
		{ "token-name", required_argument, NULL, 't' },
		{ "op", required_argument, NULL, 'o' },
		{ "name", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *uid = NULL, *gid = NULL, *exe = NULL, *token = NULL;
	const char *op = NULL, *name = NULL;
	uint64_t id;
	int opt, ex;
	bool ok;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'u':
			uid = optarg;
			break;
		case 'g':
			gid = optarg;
			break;
		case 'e':
			exe = optarg;
			break;
		case 't':
			token = optarg;
			break;
		case 'o':
			op = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'j':
			a->json = true;
			break;
		case 'h':
			cli_help();
			return CLI_EXIT_DONE; /* main() exits 0 */
		default:
			return cli_bad_option(cli, argv);
		}
	}
	if (optind < argc)
		return cli_usage(cli, "unexpected argument");
	if (!uid || !op)
		return cli_usage(cli, "--uid and --op are required");
	if (!op_known(op))
		return cli_usage(cli, "--op: expected read, write, list, "
		                      "rotate, verify or admin");
	if (op_needs_name(op) && !name)
		return cli_usage(cli, "--op %s needs --name NAME", op);
	if (exe && (exe[0] != '/' || strlen(exe) >= PATH_MAX))
		return cli_usage(cli, "--exe: expected an absolute path");
	ex = name ? cli_check_name(cli, name) : 0;
	if (ex == 0 && token)
		ex = cli_check_name(cli, token);
	if (ex != 0)
		return ex;
	if (!parse_id(uid, false, &id))
		return cli_usage(cli, "--uid: no such user, or not a uid");
	a->params = json_pack("{s:I, s:s}", "uid", (json_int_t)id, "op", op);
	ok = a->params != NULL;
	if (ok && gid) {
		if (!parse_id(gid, true, &id)) {
			json_decref(a->params);
			return cli_usage(cli,
			                 "--gid: no such group, or not a gid");
		}
		ok = json_object_set_new(a->params, "gid",
		                         json_integer((json_int_t)id)) == 0;
	}
	ok = ok && (!exe || set_str(a->params, "exe", exe)) &&
	     (!token || set_str(a->params, "token_name", token)) &&
	     (!name || set_str(a->params, "name", name));
	if (!ok) {
		json_decref(a->params);
		return cli_fail(cli, NULL, NULL, KW_ENOMEM);
	}
	return 0;
}

static void print_decision(const json_t *res, bool allowed)
{
	const char *principal = str_member(res, "principal");
	const char *file = str_member(res, "file");
	const char *reason = str_member(res, "reason");
	uint64_t line = 0;

	puts(allowed ? "allow" : "deny");
	fputs("  principal: ", stdout);
	if (principal) {
		cli_print_clean(stdout, principal);
		if (file) {
			fputs(" (", stdout);
			cli_print_clean(stdout, file);
			if (kw_json_get_uint(res, "line", 0, &line))
				printf(":%llu", (unsigned long long)line);
			fputc(')', stdout);
		}
	} else {
		fputs("none", stdout);
	}
	fputs("\n  reason:    ", stdout);
	cli_print_clean(stdout, reason ? reason : "");
	fputc('\n', stdout);
}

static int policy_check(struct cli *cli, int argc, char **argv)
{
	struct check_args a = { 0 };
	kw_client *c = NULL;
	json_t *res = NULL;
	bool allowed = false;
	int ex, r;

	ex = check_parse(cli, argc, argv, &a);
	if (ex != 0)
		return ex;
	ex = cli_connect(cli, KW_TIMEOUT_DEFAULT_MS, &c);
	if (ex != 0) {
		json_decref(a.params);
		return ex;
	}
	r = cli_call(c, "policy.check", a.params, &res);
	if (r == 0 && (!kw_json_get_bool(res, "allowed", &allowed) ||
	               !json_is_string(json_object_get(res, "reason"))))
		r = KW_EPROTO;
	if (r < 0) {
		ex = cli_fail(cli, c, NULL, r);
		goto out;
	}
	if (a.json) {
		r = cli_print_json(res);
		if (r < 0) {
			ex = cli_fail(cli, NULL, NULL, r);
			goto out;
		}
	} else {
		print_decision(res, allowed);
	}
	ex = allowed ? CLI_EXIT_OK : CLI_EXIT_DENIED;
out:
	json_decref(res);
	kw_close(c);
	return ex;
}

/* policy show ------------------------------------------------------------ */

/* "uid 1000, exe /usr/bin/x, token ci" from the identity keys present. */
static void print_identity(const json_t *cl)
{
	static const char *const keys[] = { "uid", "gid", "exe", "exe_sha256",
		                            "token" };
	bool any = false;

	fputs("  identity  ", stdout);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const json_t *v = json_object_get(cl, keys[i]);

		if (!json_is_string(v) && !json_is_integer(v))
			continue;
		printf("%s%s ", any ? ", " : "", keys[i]);
		if (json_is_integer(v))
			printf("%lld", (long long)json_integer_value(v));
		else
			cli_print_clean(stdout, json_string_value(v));
		any = true;
	}
	puts(any ? "" : "any");
}

/* One line per non-empty grant; false if nothing is granted. */
static bool print_grants(const json_t *cl)
{
	static const char *const grants[] = { "read", "write", "list", "rotate",
		                              "verify" };
	bool any = false;

	for (size_t i = 0; i < sizeof(grants) / sizeof(grants[0]); i++) {
		const json_t *arr = json_object_get(cl, grants[i]);
		size_t j;
		json_t *g;

		if (!json_is_array(arr) || json_array_size(arr) == 0)
			continue;
		printf("  %-8s  ", grants[i]);
		json_array_foreach(arr, j, g)
		{
			if (j > 0)
				fputs(", ", stdout);
			cli_print_clean(stdout, json_is_string(g) ?
			                                json_string_value(g) :
			                                "?");
		}
		fputc('\n', stdout);
		any = true;
	}
	if (json_is_true(json_object_get(cl, "admin"))) {
		puts("  admin     yes");
		any = true;
	}
	return any;
}

static bool show_valid(const json_t *res)
{
	const json_t *files = json_object_get(res, "files");
	const json_t *clients = json_object_get(res, "clients");
	uint64_t line;
	size_t i;
	json_t *e;

	if (!json_is_array(files) || !json_is_array(clients))
		return false;
	json_array_foreach(files, i, e)
	{
		if (!json_is_string(e))
			return false;
	}
	json_array_foreach(clients, i, e)
	{
		if (!str_member(e, "name") || !str_member(e, "file") ||
		    !kw_json_get_uint(e, "line", 0, &line))
			return false;
	}
	return true;
}

static void print_policy(const json_t *res)
{
	const json_t *files = json_object_get(res, "files");
	const json_t *clients = json_object_get(res, "clients");
	const char *dflt = str_member(json_object_get(res, "defaults"), "rate");
	const char *rate;
	uint64_t line;
	size_t i;
	json_t *e;

	printf("files (%zu):\n", json_array_size(files));
	json_array_foreach(files, i, e)
	{
		fputs("  ", stdout);
		cli_print_clean(stdout, json_string_value(e));
		fputc('\n', stdout);
	}
	fputs("default rate: ", stdout);
	cli_print_clean(stdout, dflt ? dflt : "unlimited");
	fputc('\n', stdout);
	if (json_array_size(clients) == 0)
		puts("\nno client sections: every connection is denied");
	json_array_foreach(clients, i, e)
	{
		rate = str_member(e, "rate");
		kw_json_get_uint(e, "line", 0, &line);
		fputs("\nclient \"", stdout);
		cli_print_clean(stdout, str_member(e, "name"));
		fputs("\"  ", stdout);
		cli_print_clean(stdout, str_member(e, "file"));
		printf(":%llu\n", (unsigned long long)line);
		print_identity(e);
		if (!print_grants(e))
			puts("  grants    none");
		fputs("  rate      ", stdout);
		cli_print_clean(stdout, rate ? rate :
		                        dflt ? dflt :
		                               "unlimited");
		puts(!rate && dflt ? " (default)" : "");
	}
}

static int policy_show(struct cli *cli, int argc, char **argv)
{
	kw_client *c = NULL;
	json_t *res = NULL;
	bool json;
	int ex, r;

	if (!cli_json_opts(cli, argc, argv, &json, &ex))
		return ex;
	if (optind < argc)
		return cli_usage(cli, "unexpected argument");
	ex = cli_connect(cli, KW_TIMEOUT_DEFAULT_MS, &c);
	if (ex != 0)
		return ex;
	r = cli_call(c, "policy.show", NULL, &res);
	if (r == 0 && !show_valid(res))
		r = KW_EPROTO;
	if (r < 0) {
		ex = cli_fail(cli, c, NULL, r);
	} else if (json) {
		r = cli_print_json(res);
		if (r < 0)
			ex = cli_fail(cli, NULL, NULL, r);
	} else {
		print_policy(res);
	}
	json_decref(res);
	kw_close(c);
	return ex;
}

/* policy reload ---------------------------------------------------------- */

static int policy_reload(struct cli *cli, int argc, char **argv)
{
	kw_client *c = NULL;
	json_t *res = NULL;
	uint64_t n = 0;
	int ex, r;

	ex = 0;
	if (!cli_help_only(cli, argc, argv, &ex))
		return ex;
	if (optind < argc)
		ex = cli_usage(cli, "unexpected argument");
	if (ex == 0)
		ex = cli_connect(cli, KW_TIMEOUT_DEFAULT_MS, &c);
	if (ex != 0)
		return ex;
	/* A bad file: the agent's message is "FILE:LINE: why". */
	r = cli_call(c, "policy.reload", NULL, &res);
	if (r == 0 && !kw_json_get_uint(res, "clients", 0, &n))
		r = KW_EPROTO;
	if (r < 0)
		ex = cli_fail(cli, c, NULL, r);
	else
		printf("policy reloaded: %llu client section%s\n",
		       (unsigned long long)n, n == 1 ? "" : "s");
	json_decref(res);
	kw_close(c);
	return ex;
}

/* policy init and the default policy ------------------------------------- */

int cli_policy_default(const struct cli *cli, const char *home, char *ret_exe,
                       size_t exesz)
{
	char dir[KW_PATH_MAX], file[KW_PATH_MAX];
	struct cli_owner_paths owners;
	const char *exes[CLI_OWNER_MAX];
	bool had_dir;
	struct stat st;
	int n, r;

	n = snprintf(dir, sizeof(dir), "%s/" POLICY_DIR, home);
	if (n < 0 || (size_t)n >= sizeof(dir) ||
	    snprintf(file, sizeof(file), "%s/" POLICY_FILE, dir) >=
	            (int)sizeof(file)) {
		cli_msg(cli, NULL, "%s: path too long", home);
		return CLI_EXIT_ERROR;
	}
	r = cli_owner_paths(cli, &owners);
	if (r != 0)
		return r;
	if (strlen(owners.path[0]) >= exesz) {
		cli_msg(cli, NULL, "this program's path is too long");
		return CLI_EXIT_ERROR;
	}
	if (lstat(file, &st) == 0) {
		cli_msg(cli, NULL,
		        "%s exists: edit it (see policies/README.md), or move "
		        "it away first",
		        file);
		return CLI_EXIT_ERROR;
	}
	if (errno != ENOENT) {
		cli_msg(cli, NULL, "cannot inspect %s: %s", file,
		        strerror(errno));
		return CLI_EXIT_ERROR;
	}
	for (size_t i = 0; i < owners.n; i++)
		exes[i] = owners.path[i];
	had_dir = lstat(dir, &st) == 0;
	r = policy_write_default(dir, geteuid(), exes, owners.n);
	if (r < 0) {
		cli_msg(cli, NULL, "cannot write %s: %s", file, kw_strerror(r));
		unlink(file); /* it did not exist: anything there is ours */
		if (!had_dir)
			rmdir(dir);
		return CLI_EXIT_ERROR;
	}
	memcpy(ret_exe, owners.path[0], strlen(owners.path[0]) + 1);
	return 0;
}

void cli_policy_default_note(const char *prefix, const char *exe)
{
	fputs(prefix, stdout);
	fputs(POLICY_DIR "/" POLICY_FILE ": this keyward CLI (", stdout);
	cli_print_clean(stdout, exe);
	puts(") may administer, as may keyward where it installs (keyward "
	     "policy owner list); nothing else may connect until you add a "
	     "policy — see policies/README.md");
}

static int policy_init(struct cli *cli, int argc, char **argv)
{
	char home[KW_PATH_MAX], db[KW_PATH_MAX], exe[PATH_MAX];
	struct stat st;
	int ex;

	ex = 0;
	if (!cli_help_only(cli, argc, argv, &ex))
		return ex;
	if (optind < argc)
		ex = cli_usage(cli, "unexpected argument");
	if (ex != 0)
		return ex;
	if (kw_path_home(home, sizeof(home)) < 0 ||
	    kw_path_in_home("secrets.db", db, sizeof(db)) < 0) {
		cli_msg(cli, NULL,
		        "cannot resolve the keyward home: KEYWARD_HOME (or "
		        "HOME) must be a short absolute path");
		return CLI_EXIT_ERROR;
	}
	if (stat(db, &st) < 0) {
		cli_msg(cli, NULL,
		        "no store at %s (create one with: keyward "
		        "init)",
		        db);
		return CLI_EXIT_ERROR;
	}
	ex = cli_policy_default(cli, home, exe, sizeof(exe));
	if (ex != 0)
		return ex;
	printf("wrote %s/", home);
	cli_policy_default_note("", exe);
	puts("A running keywardd loads it on: keyward policy reload, SIGHUP "
	     "or a restart.");
	return 0;
}

int cmd_policy(struct cli *cli, int argc, char **argv)
{
	static const struct cli_subcommand subs[] = {
		{ "check", "policy check", policy_check },
		{ "show", "policy show", policy_show },
		{ "reload", "policy reload", policy_reload },
		{ "init", "policy init", policy_init },
		{ "owner", "policy owner", cli_policy_owner },
	};

	return cli_run_subcommand(cli, argc, argv, subs,
	                          sizeof(subs) / sizeof(subs[0]));
}
