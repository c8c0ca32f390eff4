/*
 * cmd_agent.c - keyward status, unlock, lock, passwd, rekey: the agent's
 * state and its keys.
 */
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "backup.h"
#include "cli.h"

struct agent_status {
	bool locked, unlocking, has_secrets;
	bool passphrase_mode;
	uint64_t uptime_s, secrets;
};

/* agent.status, checked; *ret_json (if not NULL) keeps the result. */
static int agent_status(kw_client *c, struct agent_status *ret_st,
                        json_t **ret_json)
{
	struct agent_status st = { 0 };
	const char *mode, *text;
	json_t *res = NULL;
	int r;

	r = cli_call(c, "agent.status", NULL, &res);
	if (r < 0)
		return r;
	r = KW_EPROTO;
	if (!kw_json_get_bool(res, "locked", &st.locked) ||
	    !kw_json_get_text(res, "mode", &mode) ||
	    !kw_json_get_uint(res, "uptime_s", 0, &st.uptime_s) ||
	    !kw_json_get_text(res, "socket", &text) ||
	    !kw_json_get_text(res, "version", &text))
		goto out;
	if (strcmp(mode, "passphrase") == 0)
		st.passphrase_mode = true;
	else if (strcmp(mode, "keyfile") != 0)
		goto out;
	if (json_object_get(res, "unlocking") &&
	    !kw_json_get_bool(res, "unlocking", &st.unlocking))
		goto out;
	if (json_object_get(res, "secrets")) {
		if (!kw_json_get_uint(res, "secrets", 0, &st.secrets))
			goto out;
		st.has_secrets = true;
	}
	r = 0;
	*ret_st = st;
	if (ret_json) {
		*ret_json = res;
		return 0;
	}
out:
	json_decref(res);
	return r;
}

/* "5s", "3m12s", "2h05m", "3d04h". */
static void format_uptime(uint64_t s, char *buf, size_t bufsz)
{
	if (s < 60)
		snprintf(buf, bufsz, "%llus", (unsigned long long)s);
	else if (s < 3600)
		snprintf(buf, bufsz, "%llum%02llus",
		         (unsigned long long)(s / 60),
		         (unsigned long long)(s % 60));
	else if (s < 86400)
		snprintf(buf, bufsz, "%lluh%02llum",
		         (unsigned long long)(s / 3600),
		         (unsigned long long)(s % 3600 / 60));
	else
		snprintf(buf, bufsz, "%llud%02lluh",
		         (unsigned long long)(s / 86400),
		         (unsigned long long)(s % 86400 / 3600));
}

/* "checkpoints: ok (newest at seq N, log at seq M)" or "checkpoints:
 * failing since TIME: REASON"; nothing from an agent without the field. */
static void print_checkpoints(const json_t *cp)
{
	const char *state, *why = "";
	uint64_t newest = 0, log = 0, since = 0;
	char t[CLI_TIME_LEN];

	if (!json_is_object(cp) || !kw_json_get_text(cp, "state", &state))
		return;
	(void)kw_json_get_uint(cp, "newest_seq", 0, &newest);
	(void)kw_json_get_uint(cp, "log_seq", 0, &log);
	if (strcmp(state, "failing") != 0) {
		printf("checkpoints: %s (newest at seq %llu, log at seq %llu)\n",
		       state, (unsigned long long)newest,
		       (unsigned long long)log);
		return;
	}
	(void)kw_json_get_uint(cp, "failing_since", 0, &since);
	(void)kw_json_get_text(cp, "reason", &why);
	cli_time_local(since > INT64_MAX / 1000000 ? -1 :
	                                             (int64_t)since * 1000000,
	               t);
	printf("checkpoints: failing since %s: %s (newest at seq %llu, log "
	       "at seq %llu)\n",
	       t, why, (unsigned long long)newest, (unsigned long long)log);
}

/* Commands below take no positional arguments. */
static int no_args(const struct cli *cli, int argc)
{
	if (optind < argc)
		return cli_usage(cli, "unexpected argument");
	return 0;
}

/* After a failed disk sync (docs/protocol.md, "Outcome unknown"). */
static void print_store_fault(const json_t *f)
{
	const char *since = "?", *cause = "?", *waiting = "?";
	if (!json_is_object(f))
		return;
	kw_json_get_text(f, "since", &since);
	kw_json_get_text(f, "cause", &cause);
	kw_json_get_text(f, "waiting_for", &waiting);
	fputs("store: state unknown since ", stdout);
	cli_print_clean(stdout, since);
	fputs(" (", stdout);
	cli_print_clean(stdout, cause);
	fputs("); requests are refused until it is known again; waiting "
	      "for ",
	      stdout);
	cli_print_clean(stdout, waiting);
	fputs("\n", stdout);
}

/* `status` for a caller the policy refuses: the agent's reason on stdout
 * ("denied" in --json), exit 0. */
static int status_denied(struct cli *cli, kw_client *c, bool json)
{
	const char *why = kw_last_error_message(c);
	int r;

	if (!why || !*why)
		why = kw_strerror(KW_EDENIED);
	if (json) {
		json_t *o = json_pack("{s:b, s:b, s:o}", "running", 1, "denied",
		                      1, "reason", kw_json_lossy(why));
		r = o ? cli_print_json(o) : KW_ENOMEM;
		json_decref(o);
		return r < 0 ? cli_fail(cli, NULL, NULL, r) : CLI_EXIT_OK;
	}
	fputs("agent: running, but denied to this program: ", stdout);
	cli_print_clean(stdout, why);
	putchar('\n');
	cli_owner_hint(cli, stdout, c, why);
	return CLI_EXIT_OK;
}

int cmd_status(struct cli *cli, int argc, char **argv)
{
	struct agent_status st;
	kw_client *c = NULL;
	json_t *res = NULL;
	const char *sock = "";
	bool json;
	char up[32];
	int ex, r;

	if (!cli_json_opts(cli, argc, argv, &json, &ex))
		return ex;
	ex = no_args(cli, argc);
	if (ex == 0)
		ex = cli_connect(cli, KW_TIMEOUT_DEFAULT_MS, &c);
	if (ex != 0)
		return ex;
	r = agent_status(c, &st, &res);
	if (r == KW_EDENIED) {
		/* The agent answered: it runs, and its policy does not let
		 * this program ask. That is a status, not a failure. */
		ex = status_denied(cli, c, json);
		goto out;
	}
	if (r < 0) {
		ex = cli_fail(cli, c, NULL, r);
		goto out;
	}
	if (json) {
		r = cli_print_json(res);
		if (r < 0)
			ex = cli_fail(cli, NULL, NULL, r);
		goto out;
	}
	kw_json_get_text(res, "socket", &sock);
	format_uptime(st.uptime_s, up, sizeof(up));
	printf("agent: %s%s (%s mode)", st.locked ? "locked" : "unlocked",
	       st.unlocking ? ", unlocking" : "",
	       st.passphrase_mode ? "passphrase" : "keyfile");
	if (st.has_secrets)
		printf(", %llu secret%s", (unsigned long long)st.secrets,
		       st.secrets == 1 ? "" : "s");
	printf(", up %s, socket %s\n", up, sock);
	print_store_fault(json_object_get(res, "store_fault"));
	print_checkpoints(json_object_get(res, "checkpoints"));
out:
	json_decref(res);
	kw_close(c);
	return ex;
}

/*
 * The start that unlock, passwd and rekey share: their one option
 * (--passphrase-fd N, into *ret_fd, -1 without it), no arguments, a
 * connection with the slow timeout and the agent's status. 0 with *ret_c
 * open, or an exit code (CLI_EXIT_DONE after --help) with nothing open.
 */
static int passphrase_cmd_start(struct cli *cli, int argc, char **argv,
                                int *ret_fd, kw_client **ret_c,
                                struct agent_status *ret_st)
{
	static const struct option opts[] = {
		{ "passphrase-fd", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	kw_client *c = NULL;
	int opt, ex, r;

	*ret_fd = -1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'f' && !cli_parse_fd(optarg, ret_fd))
			return cli_usage(cli, "--passphrase-fd: expected a "
			                      "file descriptor number");
		if (opt == 'h') {
			cli_help();
			return CLI_EXIT_DONE;
		}
		if (opt != 'f')
			return cli_bad_option(cli, argv);
	}
	ex = no_args(cli, argc);
	if (ex == 0)
		ex = cli_connect(cli, CLI_SLOW_TIMEOUT_MS, &c);
	if (ex != 0)
		return ex;
	r = agent_status(c, ret_st, NULL);
	if (r < 0) {
		ex = cli_fail(cli, c, NULL, r);
		kw_close(c);
		return ex;
	}
	*ret_c = c;
	return 0;
}

int cmd_unlock(struct cli *cli, int argc, char **argv)
{
	struct agent_status st;
	kw_client *c = NULL;
	char *pass = NULL;
	int ex, r, fd;

	ex = passphrase_cmd_start(cli, argc, argv, &fd, &c, &st);
	if (ex != 0)
		return ex;
	if (!st.locked) {
		puts("agent: already unlocked");
		goto out;
	}
	if (st.passphrase_mode) {
		ex = cli_read_passphrase(cli, fd, "passphrase: ", NULL, &pass);
		if (ex != 0)
			goto out;
	}
	r = kw_agent_unlock(c, pass);
	sodium_free(pass);
	if (r < 0) {
		ex = cli_fail(cli, c, NULL, r);
		goto out;
	}
	puts("agent: unlocked");
out:
	kw_close(c);
	return ex;
}

int cmd_lock(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	kw_client *c = NULL;
	int opt, ex, r;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'h')
			return cli_help();
		return cli_bad_option(cli, argv);
	}
	ex = no_args(cli, argc);
	if (ex == 0)
		ex = cli_connect(cli, KW_TIMEOUT_DEFAULT_MS, &c);
	if (ex != 0)
		return ex;
	r = kw_agent_lock(c);
	if (r < 0)
		ex = cli_fail(cli, c, NULL, r);
	else
		puts("agent: locked");
	kw_close(c);
	return ex;
}

int cmd_passwd(struct cli *cli, int argc, char **argv)
{
	struct agent_status st;
	char *current = NULL, *fresh = NULL;
	kw_client *c = NULL;
	int ex, r, fd;

	ex = passphrase_cmd_start(cli, argc, argv, &fd, &c, &st);
	if (ex != 0)
		return ex;
	if (st.locked) {
		/* Asking for passphrases the agent cannot use yet helps nobody.
		 */
		cli_msg(cli, NULL,
		        "the agent is locked; run 'keyward unlock' "
		        "first");
		ex = CLI_EXIT_LOCKED;
		goto out;
	}
	if (st.passphrase_mode) {
		ex = cli_read_passphrase(cli, fd, "current passphrase: ", NULL,
		                         &current);
		if (ex != 0)
			goto out;
	}
	ex = cli_read_passphrase(cli, fd, "new passphrase: ",
	                         "repeat the new passphrase: ", &fresh);
	if (ex != 0)
		goto out;
	r = kw_agent_passwd(c, current, fresh);
	if (r < 0) {
		ex = cli_fail(cli, c, NULL, r);
		goto out;
	}
	if (st.passphrase_mode)
		puts("agent: passphrase changed");
	else
		puts("agent: switched to passphrase mode; master.key removed");
out:
	sodium_free(fresh);
	sodium_free(current);
	kw_close(c);
	return ex;
}

/* store.rekey, with the passphrase in passphrase mode; prints the count. */
static int rekey_call(struct cli *cli, kw_client *c, const char *pass)
{
	json_t *params = NULL, *res = NULL;
	uint64_t n = 0;
	int r;

	if (pass && !(params = json_pack("{s:s}", "passphrase", pass)))
		return cli_fail(cli, c, NULL, KW_ENOMEM);
	/* The agent re-seals everything in one turn; on a terminal, say so
	 * while it works, since a large store takes a while. */
	cli_progress_step("rekey", 1, 2, "re-sealing the store");
	r = cli_call(c, "store.rekey", params, &res);
	if (r == 0 && !kw_json_get_uint(res, "versions", 0, &n))
		r = KW_EPROTO;
	json_decref(res);
	if (r < 0) {
		if (isatty(STDERR_FILENO))
			fputc('\n', stderr);
		return cli_fail(cli, c, NULL, r);
	}
	cli_progress_step("rekey", 2, 2, "done");
	printf("rekeyed: a new data key; %llu version(s) re-sealed%s\n",
	       (unsigned long long)n, pass ? "" : "; master.key replaced");
	return 0;
}

int cmd_rekey(struct cli *cli, int argc, char **argv)
{
	struct agent_status st;
	char *pass = NULL;
	kw_client *c = NULL;
	int ex, fd;

	ex = passphrase_cmd_start(cli, argc, argv, &fd, &c, &st);
	if (ex != 0)
		return ex;
	if (st.locked) {
		cli_msg(cli, NULL,
		        "the agent is locked; run 'keyward unlock' first "
		        "(a rekey needs the current data key)");
		ex = CLI_EXIT_LOCKED;
		goto out;
	}
	if (st.passphrase_mode) {
		ex = cli_read_passphrase(cli, fd, "passphrase: ", NULL, &pass);
		if (ex != 0)
			goto out;
	}
	ex = rekey_call(cli, c, pass);
out:
	sodium_free(pass);
	kw_close(c);
	return ex;
}
