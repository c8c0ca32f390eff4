/*
 * main.c - keyward, the operator CLI: global options, command dispatch and
 * the helpers every command shares (cli.h).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli.h"
#include "name.h"
#include "paths.h"

struct command {
	const char *name;
	int (*run)(struct cli *cli, int argc, char **argv);
};

/* One command a line, in no particular order: the help below groups
 * them. */
static const struct command commands[] = {
	{ "init", cmd_init },
	{ "status", cmd_status },
	{ "unlock", cmd_unlock },
	{ "lock", cmd_lock },
	{ "passwd", cmd_passwd },
	{ "put", cmd_put },
	{ "get", cmd_get },
	{ "edit", cmd_edit },
	{ "ls", cmd_ls },
	{ "versions", cmd_versions },
	{ "rm", cmd_rm },
	{ "client", cmd_client },
	{ "policy", cmd_policy },
	{ "audit", cmd_audit },
	{ "schedule", cmd_schedule },
	{ "rotate", cmd_rotate },
	{ "watch", cmd_watch },
	{ "token", cmd_token },
	{ "jwks", cmd_jwks },
	{ "apikey", cmd_apikey },
	{ "oauth", cmd_oauth },
	{ "import", cmd_import },
	{ "export", cmd_export },
	{ "inject", cmd_inject },
	{ "run", cmd_run },
	{ "mcp", cmd_mcp },
	{ "backup", cmd_backup },
	{ "restore", cmd_restore },
	{ "rekey", cmd_rekey },
};

/*
 * The help, one part per group of commands (C compilers need only handle
 * 4095-byte literals). An entry starts with two spaces and the command;
 * its lines run on indented deeper (help_print_entries relies on it).
 */
static const char usage_head[] =
	"usage: keyward [--socket PATH] [--timeout MS] COMMAND [ARGS]\n"
	"\n"
	"Commands:\n";

static const char usage_secrets[] =
	"\nSecrets\n"
	"  put NAME [--allow-empty]\n"
	"                          store stdin as NAME; empty stdin only\n"
	"                          with --allow-empty\n"
	"  put NAME --generate N [--format base64url|hex|alnum|raw]\n"
	"                          store a random value: N bytes encoded\n"
	"                          (default base64url), N alnum characters,\n"
	"                          or N raw bytes; N is 1-65536\n"
	"  get NAME [--version N | --stage S] [--raw | --base64]\n"
	"                          write the value of NAME to stdout; a\n"
	"                          terminal gets only text unless --raw\n"
	"  edit NAME [--create] [--allow-empty]\n"
	"                          change NAME's value in $VISUAL/$EDITOR;\n"
	"                          stored as a new version if it changed\n"
	"  ls [PREFIX] [--json]    list secrets (names, never values)\n"
	"  versions NAME [--json]  list the versions of NAME\n"
	"  rm NAME                 delete NAME and all its versions\n"
	"  import FILE [--format json|dotenv] [--prefix P] [--dry-run]\n"
	"         [--overwrite] [--shred]\n"
	"                          store every entry of a secrets.json or\n"
	"                          .env file (all valid, or nothing)\n"
	"  export [PREFIX/] [--format json|dotenv] [--force]\n"
	"                          write names and values to stdout (not to\n"
	"                          a terminal unless --force)\n";

static const char usage_programs[] =
	"\nRunning programs and MCP configs\n"
	"  run [--env VAR=REF]... [--env-file FILE]... [--mask all|stderr|none]\n"
	"      [--mask-hold MS] [--watch [--grace DUR]] [--token-file FILE]\n"
	"      -- CMD [ARG...]\n"
	"                          run CMD with secrets in its environment,\n"
	"                          masking them in its output; REF is\n"
	"                          NAME[@VERSION|#STAGE][:base64]; exit\n"
	"                          status is CMD's (128+N for signal N)\n"
	"  inject -i TEMPLATE -o FILE [--mode 0600] [--watch [--exec CMD]]\n"
	"                          render {{ keyward://REF }} into FILE;\n"
	"                          --watch: again after each rotation\n"
	"  mcp scan [PATH...] [--json]\n"
	"                          report plaintext credentials in MCP client\n"
	"                          configs (exit 0 none, 10 some found)\n"
	"  mcp import CONFIG [--server NAME]... [--prefix P] [--dry-run]\n"
	"             [--yes] [--narrow]\n"
	"                          store a config's credentials in keyward\n"
	"                          and launch its servers through keyward run\n"
	"  mcp proxy URL [--header 'Name: value']... [--allow-private]\n"
	"            [--allow-insecure] [--protocol-version V] [--verbose]\n"
	"            [--oauth NAME] [--client-id ID] [--resource URI]\n"
	"            [--device] [--no-browser] [--no-oauth]\n"
	"                          an MCP stdio server that bridges to the\n"
	"                          remote MCP server at URL (Streamable\n"
	"                          HTTP); header values may hold\n"
	"                          {{keyward://REF}}; OAuth as the MCP spec\n"
	"                          says, through the agent\n";

static const char usage_access[] =
	"\nAccess control\n"
	"  client add NAME         make a client token (printed once)\n"
	"  client ls [--json]      list client tokens (never the tokens)\n"
	"  client revoke NAME      make NAME's token stop working\n"
	"  policy check --uid U [--gid G] [--exe PATH] [--token-name N]\n"
	"               --op OP [--name NAME] [--json]\n"
	"                          would the agent allow this? (exit 0 allow,\n"
	"                          4 deny)\n"
	"  policy show [--json]    show the policy the agent has loaded\n"
	"  policy reload           make the agent re-read its policy files\n"
	"  policy init             write the default policy for an older store\n"
	"  policy owner add [PATH] let this keyward (or PATH) administer: name\n"
	"                          it in policies/00-owner.ini, reload the agent\n"
	"  policy owner list       the keyward executables 00-owner.ini names\n";

static const char usage_tokens[] =
	"\nTokens and API keys\n"
	"  token issue --sub S --aud URI [--aud URI]... [--scopes a,b]\n"
	"        [--client-id C] [--ttl DUR] [--json]\n"
	"                          mint a JWT access token (stdout)\n"
	"  token verify --aud URI [--scopes a,b] [--json]\n"
	"                          verify the token on stdin\n"
	"  jwks                    the public JWK Set of the signing key\n"
	"  apikey create --principal NAME [--scopes a,b] [--ttl DUR] [--json]\n"
	"                          make an API key (printed once, on stdout)\n"
	"  apikey ls [--principal NAME] [--json]\n"
	"                          list API keys (never the keys)\n"
	"  apikey revoke ID        make the key ID stop working\n"
	"  apikey rotate ID [--overlap DUR] [--json]\n"
	"                          a new key for ID's principal; ID keeps\n"
	"                          working until the overlap ends\n"
	"  apikey verify [--json]  check the key on stdin (exit 0 valid,\n"
	"                          3 unknown, 6 revoked, 7 expired,\n"
	"                          8 malformed)\n"
	"\nOAuth credentials (docs/oauth.md)\n"
	"  oauth add NAME --grant G --client-id ID (--token-url URL |\n"
	"        --issuer URL) [--client-secret-stdin] [--auth M]\n"
	"        [--scope S]... [--resource URI]... [--authorize-url URL]\n"
	"        [--device-url URL] [--revocation-url URL]\n"
	"        [--allow-private] [--allow-insecure]\n"
	"                          hold an OAuth client; keyward get NAME\n"
	"                          then gives a fresh access token\n"
	"  oauth status [NAME] [--json]\n"
	"                          grant, scopes, expiry, state (no token)\n"
	"  oauth login NAME [--device] [--no-browser]\n"
	"                          log in (code + PKCE in a browser, or the\n"
	"                          device grant) to give NAME its tokens\n"
	"  oauth refresh NAME      ask for a new access token now\n"
	"  oauth revoke NAME       revoke at the server and forget it\n"
	"  oauth discover ISSUER [--allow-private] [--allow-insecure]\n"
	"                          the authorization server's metadata\n";

static const char usage_rotation[] =
	"\nRotation\n"
	"  schedule NAME --every DUR --rotator SPEC [--window HH:MM-HH:MM]\n"
	"           [--jitter DUR] [--overlap DUR] [--generate SPEC]\n"
	"           [--hmac-secret NAME] [--allow-private] [--allow-insecure]\n"
	"           [--json]\n"
	"                          rotate NAME every DUR (replaces its\n"
	"                          schedule); SPEC: random:N[:FORMAT],\n"
	"                          command:/abs/path, webhook:https://...\n"
	"  schedule ls [PREFIX] [--json]\n"
	"                          list rotation schedules\n"
	"  schedule rm NAME        delete NAME's schedule\n"
	"  rotate NAME [--wait [--max-wait DUR]] [--json]\n"
	"                          rotate NAME now (it needs a schedule);\n"
	"                          --wait: until done (exit 0) or failed (1)\n"
	"  rotate --status NAME [--json]\n"
	"                          NAME's schedule, current run and history\n"
	"  watch PATTERN... [--count N] [--json]\n"
	"                          print rotations of matching secrets as\n"
	"                          they finish\n";

static const char usage_audit[] =
	"\nAudit\n"
	"  audit [--since T] [--until T] [--name GLOB] [--principal P]\n"
	"        [--op OP] [--outcome O] [--limit N] [--json] [--follow]\n"
	"                          show the audit log: the newest N rows\n"
	"                          (default 20, 0: all), oldest first;\n"
	"                          --follow keeps printing new rows\n"
	"  audit stats [--since T] [--json]\n"
	"                          count requests by principal, op, outcome\n"
	"  audit verify [--json]   check the audit log's hash chain (exit 0\n"
	"                          intact, 1 broken)\n";

static const char usage_agent[] =
	"\nAgent and store\n"
	"  init [--passphrase] [--passphrase-fd N]\n"
	"                          create the store in $KEYWARD_HOME (~/.mcp)\n"
	"  status [--json]         show whether the agent runs and is locked\n"
	"  unlock [--passphrase-fd N]\n"
	"                          load the data key into the agent\n"
	"  lock                    make the agent forget the data key\n"
	"  passwd [--passphrase-fd N]\n"
	"                          set a new passphrase (also from keyfile)\n"
	"  backup FILE             copy the still-encrypted store and the\n"
	"                          audit checkpoints into a new FILE (0600);\n"
	"                          master.key is not in it\n"
	"  restore FILE [--force] [--passphrase-fd N]\n"
	"                          put a backup in place of the store (the\n"
	"                          agent stopped); the old one is kept aside\n"
	"  rekey [--passphrase-fd N]\n"
	"                          a new data key: every value re-sealed, a\n"
	"                          new master.key (keyfile mode) or salt\n";

static const char usage_tail[] =
	"\nHelp\n"
	"  help [COMMAND]          show this text, or COMMAND's part of it\n"
	"\n"
	"Options:\n"
	"  --socket PATH   agent socket (default: $KEYWARD_SOCKET, else\n"
	"                  $XDG_RUNTIME_DIR/keyward/agent.sock, else\n"
	"                  $KEYWARD_HOME/agent.sock)\n"
	"  --timeout MS    per-request timeout in milliseconds (default 5000;\n"
	"                  120000 for unlock, passwd and rekey)\n"
	"  --version       print the version\n"
	"\n"
	"Values are read from stdin, never from the command line.\n"
	"$KEYWARD_TOKEN, when set, is presented to the agent as this\n"
	"client's token.\n"
	"T is a duration back from now (90s, 15m, 1h, 2d, 1w) or a local time\n"
	"YYYY-MM-DD[THH:MM[:SS]] (with a trailing Z: UTC).\n"
	"DUR is a duration: 90s, 15m, 1h30m, 30d, 2w. Windows are UTC.\n"
	"A secret named ls or rm is scheduled with an option first:\n"
	"keyward schedule --every 30d --rotator random:32 ls\n"
	"--passphrase-fd N reads one line per passphrase from file descriptor\n"
	"N (passwd: the current one first, in passphrase mode, then the new).\n"
	"\n"
	"Exit status: 0 ok, 1 error, 2 usage, 3 not found, 4 denied,\n"
	"5 agent locked, 6 revoked, 7 expired, 8 malformed API key,\n"
	"9 outcome unknown (a failed disk sync: the change may or may not be\n"
	"stored; see keyward status), 10 mcp scan found credentials.\n";

static const char *const usage_parts[] = {
	usage_head,   usage_secrets, usage_programs,
	usage_access, usage_tokens,  usage_rotation,
	usage_audit,  usage_agent,   usage_tail,
};

/* The command being run, for its --help; NULL before dispatch. */
static const char *help_topic;

/* Whether line (up to its newline) starts the entry of command cmd:
 * two spaces, then cmd, then a blank or the end of the line. */
static bool help_entry_of(const char *line, const char *cmd)
{
	size_t n = strlen(cmd);

	return strncmp(line, "  ", 2) == 0 && strncmp(line + 2, cmd, n) == 0 &&
	       (line[2 + n] == ' ' || line[2 + n] == '\n');
}

/* Print the entries of cmd in text (an entry runs on over lines indented
 * deeper than two spaces); how many lines were printed. */
static size_t help_print_entries(const char *text, const char *cmd)
{
	bool in = false;
	size_t printed = 0;

	for (const char *line = text; *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) + 1 : strlen(line);

		if (strncmp(line, "  ", 2) != 0 || line[2] != ' ')
			in = help_entry_of(line, cmd);
		if (in) {
			fwrite(line, 1, len, stdout);
			printed++;
		}
		line += len;
	}
	return printed;
}

/* The help of one command: its lines of the full text, then where the
 * rest is. false when the text has no entry for it. */
static bool help_command(const char *cmd)
{
	printf("usage: keyward [--socket PATH] [--timeout MS] COMMAND ...\n\n");
	size_t n = 0;

	for (size_t i = 0; i < sizeof(usage_parts) / sizeof(usage_parts[0]);
	     i++)
		n += help_print_entries(usage_parts[i], cmd);
	if (n == 0)
		return false;
	printf("\n`keyward help` lists every command, the global options and "
	       "the exit\nstatuses; docs/cli.md and keyward(1) say more.\n");
	return true;
}

int cli_help(void)
{
	if (help_topic && help_command(help_topic))
		return CLI_EXIT_OK;
	for (size_t i = 0; i < sizeof(usage_parts) / sizeof(usage_parts[0]);
	     i++)
		fputs(usage_parts[i], stdout);
	return CLI_EXIT_OK;
}

/* `keyward help [COMMAND]`. */
static int help_main(struct cli *cli, int argc, char **argv)
{
	if (argc > 2)
		return cli_usage(cli, "help takes at most one command name");
	if (argc == 2) {
		for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]);
		     i++)
			if (strcmp(argv[1], commands[i].name) == 0)
				help_topic = commands[i].name;
		if (!help_topic)
			return cli_usage(cli, "unknown command '%s'", argv[1]);
	}
	return cli_help();
}

int cli_exit_code(int err)
{
	switch (err) {
	case 0:
		return CLI_EXIT_OK;
	case KW_ENOTFOUND:
		return CLI_EXIT_NOTFOUND;
	case KW_EDENIED:
		return CLI_EXIT_DENIED;
	case KW_ELOCKED:
		return CLI_EXIT_LOCKED;
	case KW_EREVOKED:
		return CLI_EXIT_REVOKED;
	case KW_EEXPIRED:
		return CLI_EXIT_EXPIRED;
	case KW_EUNKNOWN:
		return CLI_EXIT_UNKNOWN;
	default:
		return CLI_EXIT_ERROR;
	}
}

void cli_print_clean(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		fputc(ch < 0x20 || ch >= 0x7f ? '?' : ch, f);
	}
}

__attribute__((format(printf, 3, 0))) static void
cli_vmsg(const struct cli *cli, const char *name, const char *fmt, va_list ap)
{
	fputs("keyward: ", stderr);
	if (cli->command) {
		cli_print_clean(stderr, cli->command);
		if (name) {
			fputc(' ', stderr);
			cli_print_clean(stderr, name);
		}
		fputs(": ", stderr);
	}
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void cli_msg(const struct cli *cli, const char *name, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vmsg(cli, name, fmt, ap);
	va_end(ap);
}

int cli_usage(const struct cli *cli, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vmsg(cli, NULL, fmt, ap);
	va_end(ap);
	fputs("Try 'keyward --help'.\n", stderr);
	return CLI_EXIT_USAGE;
}

int cli_fail(const struct cli *cli, kw_client *c, const char *name, int err)
{
	const char *msg = kw_last_error_message(c);

	if (!c || !msg[0])
		msg = kw_strerror(err);
	cli_msg(cli, name, "%s", msg);
	if (err == KW_EDENIED)
		cli_owner_hint(cli, stderr, c, msg);
	return cli_exit_code(err);
}

int cli_socket_path(const struct cli *cli, char *buf, size_t sz)
{
	if (cli->socket) {
		if (strlen(cli->socket) >= sz) {
			cli_msg(cli, NULL, "socket path too long");
			return CLI_EXIT_ERROR;
		}
		memcpy(buf, cli->socket, strlen(cli->socket) + 1);
	} else if (kw_path_socket(buf, sz) < 0) {
		cli_msg(cli, NULL,
		        "cannot resolve the agent socket (KEYWARD_SOCKET, "
		        "XDG_RUNTIME_DIR, KEYWARD_HOME and HOME must be "
		        "absolute paths that fit a socket address)");
		return CLI_EXIT_ERROR;
	}
	return 0;
}

int cli_connect(const struct cli *cli, int default_ms, kw_client **ret_c)
{
	char path[KW_PATH_MAX];
	kw_client *c = NULL;
	int r;

	if ((r = cli_socket_path(cli, path, sizeof(path))))
		return r;
	r = kw_connect(&c, path);
	if (r == KW_ECONNECT) {
		cli_msg(cli, NULL,
		        "cannot connect to the agent at %s (is keywardd "
		        "running?)",
		        path);
		return CLI_EXIT_ERROR;
	}
	if (r == KW_EDENIED || r == KW_ERATE) {
		/* The agent refused $KEYWARD_TOKEN (or this peer). */
		cli_msg(cli, NULL, "the agent refused the connection: %s",
		        kw_last_error_message(NULL));
		return cli_exit_code(r);
	}
	if (r < 0) {
		/* E.g. $KEYWARD_TOKEN malformed: the library says which. */
		cli_msg(cli, NULL, "%s", kw_last_error_message(NULL));
		return cli_exit_code(r);
	}
	r = kw_set_timeout(c,
	                   cli->timeout_ms > 0 ? cli->timeout_ms : default_ms);
	if (r < 0) {
		kw_close(c);
		return cli_fail(cli, NULL, NULL, r);
	}
	*ret_c = c;
	return 0;
}

bool cli_parse_u64(const char *s, uint64_t min, uint64_t max,
                   uint64_t *ret_value)
{
	unsigned long long v;
	char *end;

	if (!s || s[0] < '0' || s[0] > '9')
		return false; /* strtoull would accept " -1" */
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*ret_value = v;
	return true;
}

bool cli_parse_fd(const char *s, int *ret_fd)
{
	uint64_t v;

	if (!cli_parse_u64(s, 0, INT_MAX, &v))
		return false;
	*ret_fd = (int)v;
	return true;
}

int cli_bad_option(const struct cli *cli, char **argv)
{
	return cli_usage(cli, "unknown option or missing argument: %s",
	                 argv[optind - 1]);
}

bool cli_help_only(struct cli *cli, int argc, char **argv, int *ret_exit)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	int opt = getopt_long(argc, argv, "h", opts, NULL);

	if (opt == -1)
		return true;
	/* Help printed (exit 0) or a bad option: either way, stop here. */
	*ret_exit = opt == 'h' ? cli_help() : cli_bad_option(cli, argv);
	return false;
}

int cli_run_subcommand(struct cli *cli, int argc, char **argv,
                       const struct cli_subcommand *subs, size_t nsubs)
{
	const char *sub = argc > 1 ? argv[1] : NULL;

	if (!sub)
		return cli_usage(cli, "missing subcommand");
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 ||
	    strcmp(sub, "help") == 0)
		return cli_help();
	for (size_t i = 0; i < nsubs; i++) {
		if (strcmp(sub, subs[i].name) != 0)
			continue;
		cli->command = subs[i].full;
		optind = 0; /* GNU: reinitialise for the subcommand */
		return subs[i].run(cli, argc - 1, argv + 1);
	}
	return cli_usage(cli, "unknown subcommand '%s'", sub);
}

int cli_check_name(const struct cli *cli, const char *name)
{
	const char *rule = NULL;

	if (kw_name_check(name, strnlen(name, KW_NAME_MAX + 1), &rule) == 0)
		return 0;
	cli_msg(cli, name, "invalid name: %s", rule ? rule : "bad name");
	return CLI_EXIT_ERROR;
}

/*
 * A process holding secrets must not leave them in a core file. Not
 * PR_SET_DUMPABLE 0 as well, although it would also bar ptrace by other
 * processes of this uid: a process that is not dumpable hides its
 * /proc/PID/exe from every other process without CAP_SYS_PTRACE, so an
 * agent not running as root could no longer tell which program this is,
 * and the owner policy, which names the keyward executables, would refuse
 * it. A process of the same uid owns its clients anyway
 * (docs/threat-model.md).
 */
static void harden(void)
{
	struct rlimit none = { 0, 0 };

	setrlimit(RLIMIT_CORE, &none);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0, 0, 0, 0 },
	};
	struct cli cli = { 0 };
	uint64_t ms;
	int opt;

	harden();
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+hV", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			if (optarg[0] == '\0')
				return cli_usage(&cli, "--socket: empty path");
			cli.socket = optarg;
			break;
		case 't':
			if (!cli_parse_u64(optarg, 1, INT_MAX, &ms))
				return cli_usage(&cli,
				                 "--timeout: expected "
				                 "milliseconds, 1-%d",
				                 INT_MAX);
			cli.timeout_ms = (int)ms;
			break;
		case 'h':
			return cli_help();
		case 'V':
			printf("keyward %s\n", KW_VERSION_STRING);
			return CLI_EXIT_OK;
		default:
			return cli_bad_option(&cli, argv);
		}
	}
	if (optind >= argc)
		return cli_usage(&cli, "no command given");
	cli.command = argv[optind];
	if (strcmp(cli.command, "help") == 0)
		return help_main(&cli, argc - optind, argv + optind);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(cli.command, commands[i].name) != 0)
			continue;
		int first = optind;

		help_topic = commands[i].name;

		optind = 0; /* GNU: reinitialise for the command's options */
		int ex = commands[i].run(&cli, argc - first, argv + first);
		return ex == CLI_EXIT_DONE ? CLI_EXIT_OK : ex;
	}
	cli.command = NULL;
	return cli_usage(&cli, "unknown command '%s'", argv[optind]);
}
