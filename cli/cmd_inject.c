/*
 * cmd_inject.c - keyward inject: render {{ keyward://REF }} references of
 * a template (common/tmpl.h) into a file, replaced atomically
 * (common/atomicfile.h) with a private mode, and with --watch again after
 * every rotation of a referenced secret, then run --exec (say, a reload).
 *
 * --exec takes one argument, split at blanks into a program (found on
 * PATH) and its arguments, run without a shell: no quoting, no
 * expansion. Anything more is a script's job. The rendered text holds
 * values: it lives in wiped memory only, and reaches nothing but FILE.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "atomicfile.h"
#include "cli.h"
#include "secmem.h"
#include "tmpl.h"

#define EXEC_ARGS_MAX 64
#define TICK_MS       200
#define RETRY_MS      1000

struct inject {
	const char *in, *out, *exec;
	mode_t mode;
	bool watch;
	char *text; /* the template, kw_wipealloc */
	size_t len;
	struct kw_tmpl *t;
	char *exec_buf; /* exec, split in place */
	char *exec_argv[EXEC_ARGS_MAX + 1];
};

static volatile sig_atomic_t inject_stop;

static void on_stop(int sig)
{
	(void)sig;
	inject_stop = 1;
}

/* 1 to 4 octal digits, at most 0777. */
static bool parse_mode(const char *s, mode_t *ret)
{
	unsigned v = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 4)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '7')
			return false;
		v = v * 8 + (unsigned)(s[i] - '0');
	}
	if (v > 0777)
		return false;
	*ret = (mode_t)v;
	return true;
}

/* Split the --exec argument at blanks into inj->exec_argv. */
static int split_exec(const struct cli *cli, struct inject *inj)
{
	size_t n = 0;
	char *save = NULL, *w;

	inj->exec_buf = strdup(inj->exec);
	if (!inj->exec_buf)
		return cli_fail(cli, NULL, NULL, KW_ENOMEM);
	for (w = strtok_r(inj->exec_buf, " \t", &save); w;
	     w = strtok_r(NULL, " \t", &save)) {
		if (n == EXEC_ARGS_MAX)
			return cli_usage(cli, "--exec: more than %d words",
			                 EXEC_ARGS_MAX);
		inj->exec_argv[n++] = w;
	}
	if (n == 0)
		return cli_usage(cli, "--exec: empty command");
	inj->exec_argv[n] = NULL;
	return 0;
}

static int parse_opts(struct cli *cli, int argc, char **argv,
                      struct inject *inj)
{
	static const struct option opts[] = {
		{ "in", required_argument, NULL, 'i' },
		{ "out", required_argument, NULL, 'o' },
		{ "mode", required_argument, NULL, 'm' },
		{ "watch", no_argument, NULL, 'w' },
		{ "exec", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "hi:o:", opts, NULL)) != -1) {
		if (opt == 'i')
			inj->in = optarg;
		else if (opt == 'o')
			inj->out = optarg;
		else if (opt == 'm' && !parse_mode(optarg, &inj->mode))
			return cli_usage(cli, "--mode: expected an octal "
			                      "mode, 0000-0777");
		else if (opt == 'w')
			inj->watch = true;
		else if (opt == 'e')
			inj->exec = optarg;
		else if (opt == 'h') {
			cli_help();
			return CLI_EXIT_DONE; /* main() exits 0 */
		} else if (opt != 'm')
			return cli_bad_option(cli, argv);
	}
	if (optind < argc)
		return cli_usage(cli, "unexpected argument");
	if (!inj->in || !inj->out)
		return cli_usage(cli,
		                 "-i TEMPLATE and -o FILE are both needed");
	if (inj->exec && !inj->watch)
		return cli_usage(cli, "--exec runs after a re-render: it needs "
		                      "--watch");
	return inj->exec ? split_exec(cli, inj) : 0;
}

static int load_template(const struct cli *cli, struct inject *inj)
{
	char why[256] = "";
	int r = kw_file_read(inj->in, KW_TMPL_MAX_BYTES, &inj->text, &inj->len,
	                     NULL, why, sizeof(why));

	if (r < 0) {
		cli_msg(cli, inj->in, "%s", why[0] ? why : kw_strerror(r));
		return cli_exit_code(r);
	}
	why[0] = '\0';
	r = kw_tmpl_parse(inj->text, inj->len, &inj->t, why, sizeof(why));
	if (r < 0) {
		cli_msg(cli, inj->in, "%s", why[0] ? why : kw_strerror(r));
		return CLI_EXIT_ERROR;
	}
	return 0;
}

/* Append n bytes to the wiped buffer *buf (length *len, capacity *cap). */
static int out_put(char **buf, size_t *len, size_t *cap, const void *p,
                   size_t n)
{
	if (*cap - *len < n) {
		size_t ncap = *cap ? *cap : 4096;
		char *nb;

		while (ncap - *len < n)
			ncap *= 2;
		nb = kw_wipealloc(ncap);
		if (!nb)
			return KW_ENOMEM;
		if (*len)
			memcpy(nb, *buf, *len);
		kw_wipefree(*buf);
		*buf = nb;
		*cap = ncap;
	}
	memcpy(*buf + *len, p, n);
	*len += n;
	return 0;
}

/* Fetch every reference and write the result to FILE. An exit code. */
static int render(const struct cli *cli, kw_client *c, const struct inject *inj)
{
	char *buf = NULL, why[256] = "";
	size_t len = 0, cap = 0;
	int r = 0, ex = 0;

	for (size_t i = 0; i < inj->t->count && r == 0; i++) {
		const struct kw_tmpl_part *p = &inj->t->parts[i];
		struct cli_value v = { 0 };

		if (!p->is_ref) {
			r = out_put(&buf, &len, &cap, inj->text + p->off,
			            p->len);
			continue;
		}
		r = cli_secref_fetch(c, &p->ref, NULL, &v);
		if (r < 0) {
			cli_msg(cli, p->ref.name, "line %u: %s", p->line,
			        kw_last_error_message(c)[0] ?
			                kw_last_error_message(c) :
			                kw_strerror(r));
			ex = cli_exit_code(r);
			break;
		}
		r = out_put(&buf, &len, &cap, v.data, v.len);
		cli_value_free(&v);
	}
	if (ex == 0 && r < 0)
		ex = cli_fail(cli, NULL, NULL, r);
	if (ex == 0) {
		r = kw_atomic_replace(inj->out, buf ? buf : "", len, inj->mode,
		                      0, NULL, why, sizeof(why));
		if (r < 0) {
			cli_msg(cli, inj->out, "%s",
			        why[0] ? why : kw_strerror(r));
			ex = cli_exit_code(r);
		}
	}
	kw_wipefree(buf);
	return ex;
}

/* Run --exec and wait for it; say how it ended if not with 0. */
static void run_exec(const struct cli *cli, const struct inject *inj)
{
	int status;
	pid_t pid = fork();

	if (pid < 0) {
		cli_msg(cli, NULL, "--exec: cannot fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		execvp(inj->exec_argv[0], inj->exec_argv);
		fprintf(stderr, "keyward: inject: --exec: cannot run %s: %s\n",
		        inj->exec_argv[0], strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return;
	if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		cli_msg(cli, NULL, "--exec exited with status %d",
		        WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		cli_msg(cli, NULL, "--exec was killed by signal %d",
		        WTERMSIG(status));
}

static void on_rotated(const char *name, uint64_t version, void *arg)
{
	(void)name;
	(void)version;
	*(bool *)arg = true;
}

/* Watch each distinct name once (they are exact names: no glob
 * characters can occur in one). */
static int watch_names(const struct cli *cli, kw_client *c,
                       const struct inject *inj, bool *flag)
{
	unsigned n = 0;

	for (size_t i = 0; i < inj->t->count; i++) {
		const struct kw_tmpl_part *p = &inj->t->parts[i];
		bool seen = false;
		int r;

		for (size_t j = 0; j < i && p->is_ref && !seen; j++)
			seen = inj->t->parts[j].is_ref &&
			       strcmp(inj->t->parts[j].ref.name, p->ref.name) ==
			               0;
		if (!p->is_ref || seen)
			continue;
		if (n == KW_WATCH_MAX) {
			cli_msg(cli, NULL,
			        "--watch follows at most %u secrets; this "
			        "template names more",
			        KW_WATCH_MAX);
			return CLI_EXIT_ERROR;
		}
		r = kw_watch(c, p->ref.name, on_rotated, flag);
		if (r < 0)
			return cli_fail(cli, c, p->ref.name, r);
		n++;
	}
	fprintf(stderr, "keyward: inject: watching %u secret%s for %s\n", n,
	        n == 1 ? "" : "s", inj->out);
	return 0;
}

static void pause_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Re-render after each rotation (and after a reconnect, which may have
 * missed one) until SIGINT or SIGTERM. */
static int watch_loop(const struct cli *cli, kw_client *c,
                      const struct inject *inj)
{
	bool rotated = false, missed = false;
	struct sigaction sa = { .sa_handler = on_stop };
	int ex = watch_names(cli, c, inj, &rotated);

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (ex == 0 && !inject_stop) {
		int r = kw_watch_dispatch(c, TICK_MS);

		if (r == KW_ECLOSED || r == KW_ECONNECT || r == KW_ETIMEOUT ||
		    r == KW_ELOCKED || r == KW_ELIMIT) {
			cli_msg(cli, NULL, "lost the agent (%s); retrying",
			        kw_strerror(r));
			missed = true;
			pause_ms(RETRY_MS);
			continue;
		}
		if (r < 0)
			return cli_fail(cli, c, NULL, r);
		if (!rotated && !missed)
			continue;
		rotated = missed = false;
		if (render(cli, c, inj) != 0)
			continue; /* said why; the old file stays */
		cli_msg(cli, NULL, "rendered %s again", inj->out);
		if (inj->exec)
			run_exec(cli, inj);
	}
	return ex;
}

int cmd_inject(struct cli *cli, int argc, char **argv)
{
	struct inject inj = { .mode = 0600 };
	kw_client *c = NULL;
	int ex;

	ex = parse_opts(cli, argc, argv, &inj);
	if (ex == 0 && kw_secmem_init() < 0) {
		cli_msg(cli, NULL, "cannot initialise libsodium");
		ex = CLI_EXIT_ERROR;
	}
	if (ex == 0)
		ex = load_template(cli, &inj);
	if (ex == 0)
		ex = cli_connect(cli, KW_TIMEOUT_DEFAULT_MS, &c);
	if (ex == 0)
		ex = render(cli, c, &inj);
	if (ex == 0 && inj.watch)
		ex = watch_loop(cli, c, &inj);
	kw_close(c);
	kw_tmpl_free(inj.t);
	kw_wipefree(inj.text);
	free(inj.exec_buf);
	return ex;
}
