/*
 * cmd_run.c - keyward run: start a command with secrets in its
 * environment (issue 13; docs/cli.md, "run").
 *
 * Every reference is resolved before the command starts; any failure and
 * it never starts. With --mask none and no --watch, keyward execs the
 * command in place; otherwise run_super.c supervises it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"
#include "dotenv.h"
#include "duration.h"
#include "run.h"
#include "secmem.h"

extern char **environ;

/* Longest --grace: an hour is more than any server needs to stop. */
#define RUN_GRACE_MAX_S  3600u
#define RUN_HOLD_DEFAULT 20u
#define RUN_HOLD_MAX     10000u
/* A client token file: "kwt_" and 43 characters, a newline, some slack. */
#define RUN_TOKEN_FILE_MAX 128u

/* A new variable named name[0..n), refused if it is already there. */
static int run_var_new(struct run *r, const char *name, size_t n,
                       const char *origin, unsigned line,
                       struct run_var **ret_var)
{
	struct run_var *v;

	for (size_t i = 0; i < r->nvars; i++) {
		if (strlen(r->vars[i].name) == n &&
		    memcmp(r->vars[i].name, name, n) == 0) {
			cli_msg(r->cli, r->vars[i].name,
			        "variable given twice (%s and %s)",
			        r->vars[i].origin, origin);
			return CLI_EXIT_USAGE;
		}
	}
	if (r->nvars >= RUN_VARS_MAX)
		return cli_usage(r->cli, "more than %u variables",
		                 RUN_VARS_MAX);
	v = &r->vars[r->nvars++];
	memset(v, 0, sizeof(*v));
	memcpy(v->name, name, n);
	v->origin = origin;
	v->line = line;
	*ret_var = v;
	return 0;
}

/* --env VAR=REF */
static int run_add_env(struct run *r, const char *arg)
{
	const char *eq = strchr(arg, '='), *ref;
	size_t reflen;
	struct run_var *v;
	char why[160];
	int ex;

	if (!eq || !kw_dotenv_name_valid(arg, (size_t)(eq - arg)))
		return cli_usage(r->cli,
		                 "--env: expected VAR=REF with VAR of letters, "
		                 "digits and '_' (not first a digit)");
	if ((ex = run_var_new(r, arg, (size_t)(eq - arg), "--env", 0, &v)))
		return ex;
	v->is_ref = true;
	/* keyward://REF as in .env files is the same reference. */
	if (!kw_secref_uri(eq + 1, strlen(eq + 1), &ref, &reflen)) {
		ref = eq + 1;
		reflen = strlen(ref);
	}
	if (kw_secref_parse(ref, reflen, &v->ref, why, sizeof(why)) < 0) {
		cli_msg(r->cli, v->name, "--env: %s", why);
		return CLI_EXIT_USAGE;
	}
	return 0;
}

/* One assignment of a .env file: a keyward:// reference or a plain
 * value (copied). */
static int run_add_dotenv_entry(struct run *r, const char *path,
                                const kw_dotenv_entry *e)
{
	const char *rest;
	size_t restlen;
	struct run_var *v;
	char why[160];
	int ex;

	if ((ex = run_var_new(r, e->name, strlen(e->name), path, e->line, &v)))
		return ex;
	if (kw_secref_uri(e->value, e->value_len, &rest, &restlen)) {
		v->is_ref = true;
		if (kw_secref_parse(rest, restlen, &v->ref, why, sizeof(why)) <
		    0) {
			cli_msg(r->cli, path, "line %u: %s: %s", e->line,
			        v->name, why);
			return CLI_EXIT_USAGE;
		}
		return 0;
	}
	v->value.data = kw_wipealloc(e->value_len + 1);
	if (!v->value.data)
		return cli_fail(r->cli, NULL, NULL, KW_ENOMEM);
	memcpy(v->value.data, e->value, e->value_len + 1);
	v->value.len = e->value_len;
	return 0;
}

/* --env-file FILE */
static int run_add_env_file(struct run *r, const char *path)
{
	char *text = NULL, why[200];
	size_t len;
	kw_dotenv *env = NULL;
	int ex = 0, e;

	e = kw_file_read_follow(path, KW_DOTENV_MAX_BYTES, &text, &len, NULL,
	                        why, sizeof(why));
	if (e < 0) {
		cli_msg(r->cli, path, "--env-file: %s", why);
		return cli_exit_code(e);
	}
	e = kw_dotenv_parse(text, len, &env, why, sizeof(why));
	kw_wipefree(text);
	if (e < 0) {
		cli_msg(r->cli, path, "--env-file: %s", why);
		return CLI_EXIT_USAGE;
	}
	for (size_t i = 0; i < env->count && !ex; i++)
		ex = run_add_dotenv_entry(r, path, &env->entries[i]);
	kw_dotenv_free(env);
	return ex;
}

/*
 * --token-file FILE: a client token, one line, in a regular file (not a
 * symbolic link) of ours that nobody else may read or write.
 */
static int run_read_token(struct run *r, const char *path)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	char *buf;
	ssize_t n;

	if (fd < 0) {
		int err = errno;

		cli_msg(r->cli, path, "--token-file: %s%s", strerror(err),
		        err == ELOOP ? " (a symbolic link is refused)" : "");
		return CLI_EXIT_ERROR;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_uid != getuid() ||
	    ((st.st_mode & 07777) != 0600 && (st.st_mode & 07777) != 0400)) {
		close(fd);
		cli_msg(r->cli, path,
		        "--token-file: must be a regular file of yours with "
		        "mode 0600 or 0400");
		return CLI_EXIT_ERROR;
	}
	buf = kw_wipealloc(RUN_TOKEN_FILE_MAX + 1);
	if (!buf) {
		close(fd);
		return cli_fail(r->cli, NULL, NULL, KW_ENOMEM);
	}
	do
		n = read(fd, buf, RUN_TOKEN_FILE_MAX + 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	if (n <= 0 || (size_t)n > RUN_TOKEN_FILE_MAX ||
	    memchr(buf, '\n', (size_t)n) || memchr(buf, '\0', (size_t)n)) {
		kw_wipefree(buf);
		cli_msg(r->cli, path,
		        "--token-file: expected one line holding a client "
		        "token");
		return CLI_EXIT_ERROR;
	}
	buf[n] = '\0';
	r->token = buf;
	return 0;
}

static int run_parse_mask(struct run *r, const char *arg)
{
	if (strcmp(arg, "all") == 0)
		r->mask = RUN_MASK_ALL;
	else if (strcmp(arg, "stderr") == 0)
		r->mask = RUN_MASK_STDERR;
	else if (strcmp(arg, "none") == 0)
		r->mask = RUN_MASK_NONE;
	else
		return cli_usage(r->cli,
		                 "--mask: expected all, stderr or none");
	return 0;
}

static int run_options(struct run *r, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "env", required_argument, NULL, 'e' },
		{ "env-file", required_argument, NULL, 'f' },
		{ "mask", required_argument, NULL, 'm' },
		{ "mask-hold", required_argument, NULL, 'H' },
		{ "watch", no_argument, NULL, 'w' },
		{ "grace", required_argument, NULL, 'g' },
		{ "token-file", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *grace = NULL, *token_file = NULL;
	uint64_t v;
	int opt, ex = 0;

	while (!ex && (opt = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (opt) {
		case 'e':
			ex = run_add_env(r, optarg);
			break;
		case 'f':
			ex = run_add_env_file(r, optarg);
			break;
		case 'm':
			ex = run_parse_mask(r, optarg);
			break;
		case 'H':
			if (!cli_parse_u64(optarg, 0, RUN_HOLD_MAX, &v))
				return cli_usage(r->cli,
				                 "--mask-hold: expected "
				                 "milliseconds, 0-%u",
				                 RUN_HOLD_MAX);
			r->hold_ms = (unsigned)v;
			break;
		case 'w':
			r->watch = true;
			break;
		case 'g':
			grace = optarg;
			break;
		case 't':
			token_file = optarg;
			break;
		case 'h':
			cli_help();
			return CLI_EXIT_DONE;
		default:
			return cli_bad_option(r->cli, argv);
		}
	}
	if (ex)
		return ex;
	if (grace && !r->watch)
		return cli_usage(r->cli, "--grace needs --watch");
	if (grace && (ex = cli_parse_duration_opt(r->cli, "--grace", grace,
	                                          RUN_GRACE_MAX_S, true, &v)))
		return ex;
	if (grace)
		r->grace_ms = v * 1000;
	if (optind >= argc)
		return cli_usage(r->cli, "no command given (keyward run "
		                         "[OPTIONS] -- CMD [ARG...])");
	r->cmd = argv + optind;
	return token_file ? run_read_token(r, token_file) : 0;
}

/* How a reference is named in messages: "VAR (NAME)". */
static void run_ref_label(const struct run_var *v, char *buf, size_t sz)
{
	snprintf(buf, sz, "%s (%s)", v->name, v->ref.name);
}

int run_resolve(struct run *r, const char *purpose)
{
	char label[RUN_VAR_MAX + KW_NAME_MAX + 8];

	for (size_t i = 0; i < r->nvars; i++) {
		struct run_var *v = &r->vars[i];
		int e;

		if (!v->is_ref)
			continue;
		cli_value_free(&v->value);
		e = cli_secref_fetch(r->c, &v->ref, purpose, &v->value);
		run_ref_label(v, label, sizeof(label));
		if (e < 0)
			return cli_fail(r->cli, r->c, label, e);
		if (!v->ref.base64 &&
		    memchr(v->value.data, '\0', v->value.len)) {
			cli_msg(r->cli, label,
			        "the value holds a NUL byte, which an "
			        "environment variable cannot carry; ask for "
			        "it base64-encoded with %s:base64",
			        v->ref.name);
			return CLI_EXIT_ERROR;
		}
	}
	return 0;
}

/* Whether environment entry e ("NAME=...") is one the child must not
 * inherit: the client token, or a variable we inject. */
static bool run_env_drop(const struct run *r, const char *e)
{
	const char *eq = strchr(e, '=');
	size_t n = eq ? (size_t)(eq - e) : strlen(e);

	if (n == strlen("KEYWARD_TOKEN") && memcmp(e, "KEYWARD_TOKEN", n) == 0)
		return true;
	for (size_t i = 0; i < r->nvars; i++)
		if (strlen(r->vars[i].name) == n &&
		    memcmp(r->vars[i].name, e, n) == 0)
			return true;
	return false;
}

int run_env_build(struct run *r)
{
	size_t n = 0, k = 0;

	for (char **e = environ; *e; e++)
		n++;
	r->envp = calloc(n + r->nvars + 1, sizeof(char *));
	if (!r->envp)
		return cli_fail(r->cli, NULL, NULL, KW_ENOMEM);
	for (char **e = environ; *e; e++)
		if (!run_env_drop(r, *e))
			r->envp[k++] = *e;
	r->envp_own = k;
	for (size_t i = 0; i < r->nvars; i++) {
		const struct run_var *v = &r->vars[i];
		size_t nl = strlen(v->name);
		char *s = kw_wipealloc(nl + 1 + v->value.len + 1);

		if (!s) {
			run_env_wipe(r);
			return cli_fail(r->cli, NULL, NULL, KW_ENOMEM);
		}
		memcpy(s, v->name, nl);
		s[nl] = '=';
		memcpy(s + nl + 1, v->value.data, v->value.len);
		s[nl + 1 + v->value.len] = '\0';
		r->envp[k++] = s;
	}
	r->envp[k] = NULL;
	return 0;
}

void run_env_wipe(struct run *r)
{
	if (r->envp) {
		for (size_t i = r->envp_own; r->envp[i]; i++)
			kw_wipefree(r->envp[i]);
		free(r->envp);
		r->envp = NULL;
	}
	for (size_t i = 0; i < r->nvars; i++)
		if (r->vars[i].is_ref)
			cli_value_free(&r->vars[i].value);
}

int run_mask_build(const struct run *r, kw_mask **ret_mask)
{
	kw_mask *m = NULL;
	bool added;
	int e = kw_mask_new(&m);

	for (size_t i = 0; e == 0 && i < r->nvars; i++)
		if (r->vars[i].is_ref)
			e = kw_mask_add(m, r->vars[i].name,
			                r->vars[i].value.data,
			                r->vars[i].value.len, &added);
	if (e < 0) {
		kw_mask_free(m);
		return cli_fail(r->cli, NULL, NULL, e);
	}
	*ret_mask = m;
	return 0;
}

int run_exec_status(int err)
{
	return err == ENOENT || err == ENOTDIR ? 127 : 126;
}

/* --mask none without --watch: become the command. Returns only on
 * failure, with the exit code. */
static int run_exec_in_place(struct run *r)
{
	int err;

	kw_close(r->c);
	r->c = NULL;
	kw_wipefree(r->token);
	r->token = NULL;
	/* The values now live only in envp, which the exec hands on. */
	for (size_t i = 0; i < r->nvars; i++)
		cli_value_free(&r->vars[i].value);
	execvpe(r->cmd[0], r->cmd, r->envp);
	err = errno;
	cli_msg(r->cli, r->cmd[0], "cannot run: %s", strerror(err));
	return run_exec_status(err);
}

/* Connect, presenting --token-file's token instead of $KEYWARD_TOKEN.
 * Plain variables alone need no agent. */
static int run_connect(struct run *r)
{
	const struct run_var *first = NULL;
	char label[RUN_VAR_MAX + KW_NAME_MAX + 8];
	int ex, e;

	for (size_t i = 0; i < r->nvars && !first; i++)
		if (r->vars[i].is_ref)
			first = &r->vars[i];
	if (!first)
		return 0;
	if (r->token)
		unsetenv("KEYWARD_TOKEN");
	if ((ex = cli_connect(r->cli, KW_TIMEOUT_DEFAULT_MS, &r->c))) {
		run_ref_label(first, label, sizeof(label));
		cli_msg(r->cli, label, "not fetched; %s not started",
		        r->cmd[0]);
		return ex;
	}
	if (r->token && (e = kw_client_hello(r->c, r->token)) < 0) {
		cli_msg(r->cli, NULL,
		        "the agent refused --token-file's token: %s",
		        kw_last_error_message(r->c)[0] ?
		                kw_last_error_message(r->c) :
		                kw_strerror(e));
		return cli_exit_code(e);
	}
	return 0;
}

int cmd_run(struct cli *cli, int argc, char **argv)
{
	struct run r = { .cli = cli,
		         .hold_ms = RUN_HOLD_DEFAULT,
		         .grace_ms = 10000 };
	int ex;

	r.vars = calloc(RUN_VARS_MAX, sizeof(*r.vars));
	if (!r.vars)
		return cli_fail(cli, NULL, NULL, KW_ENOMEM);
	if ((ex = run_options(&r, argc, argv)) == 0 &&
	    (ex = run_connect(&r)) == 0 && (ex = run_resolve(&r, "run")) == 0 &&
	    (ex = run_env_build(&r)) == 0) {
		if (r.mask == RUN_MASK_NONE && !r.watch)
			ex = run_exec_in_place(&r);
		else
			ex = run_supervise(&r);
	}
	run_env_wipe(&r);
	for (size_t i = 0; i < r.nvars; i++)
		cli_value_free(&r.vars[i].value);
	free(r.vars);
	kw_wipefree(r.token);
	kw_close(r.c);
	return ex;
}
