/*
 * main.c - keywardd: command line, hardening, run.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>

#include "agent.h"
#include "clock.h"
#include "harden.h"
#include "init.h"
#include "keyward.h"
#include "log.h"
#include "paths.h"
#include "secmem.h"
#include "spawn_service.h"

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: keywardd [--home DIR] [--config FILE] [--socket PATH]\n"
	        "                [--accept-loss] [--no-sandbox]\n"
	        "       keywardd --init [--home DIR] [--config FILE] "
	        "[--passphrase-fd N]\n"
	        "       keywardd --check-image PATH [--min-schema N] "
	        "[--home DIR]\n"
	        "                [--passphrase-fd N] [--no-key-check]\n"
	        "\n"
	        "The keyward agent. Runs in the foreground and logs to "
	        "stderr.\n"
	        "  --home DIR      store directory (default: $KEYWARD_HOME, "
	        "else ~/.mcp)\n"
	        "  --config FILE   configuration (default: "
	        "DIR/keyward.ini)\n"
	        "  --socket PATH   listen here (default: $KEYWARD_SOCKET, "
	        "else\n"
	        "                  $XDG_RUNTIME_DIR/keyward/agent.sock, else "
	        "DIR/agent.sock)\n"
	        "  --print-socket  print the socket path and exit\n"
	        "  --no-sandbox    do not confine the agent (for valgrind "
	        "runs only)\n"
	        "  --spawner       run as the command spawner of "
	        "keyward-spawner.service\n"
	        "                  (systemd socket activation; no other "
	        "option; keywardd(8))\n"
	        "  --accept-loss   start although the store lost rows the "
	        "audit\n"
	        "                  checkpoints or the anchor signed (a restored\n"
	        "                  backup, a deleted -wal file); the loss is\n"
	        "                  recorded in the audit log (docs/audit.md)\n"
	        "  --init          create the store in DIR and exit (keyward "
	        "init runs this)\n"
	        "  --check-image   check a backup's database and that DIR's "
	        "key opens it,\n"
	        "                  then exit (keyward restore runs this)\n"
	        "  --version, --help\n"
	        "Signals: TERM/INT finish requests in flight and exit 0; HUP "
	        "reloads the config.\n"
	        "See keywardd(8) and docs/config.md.\n");
}

/*
 * The exit status for agent_init's or agent_run's result (keywardd(8),
 * EXIT STATUS). Failures that starting again cannot cure get statuses of
 * their own, so that a service manager stops retrying them (the units'
 * RestartPreventExitStatus=): something to fix in the configuration or
 * the store's place (EX_CONFIG: also a missing store or policy directory,
 * a read-only store), in an owner or a mode (EX_NOPERM), or in the store's
 * data (EX_DATAERR: damaged, rows lost, a key that does not open it).
 * Everything else may pass (I/O, memory, another agent still running): 1.
 */
static int exit_status(int err)
{
	switch (err) {
	case 0:
		return 0;
	case KW_ECONFIG:
	case KW_EINVAL:
	case KW_ENOTFOUND:
	case KW_EROFS:
		return EX_CONFIG;
	case KW_EPERM:
		return EX_NOPERM;
	case KW_EDAMAGED:
	case KW_ESTATE:
	case KW_ECRYPTO:
	case KW_EBADPASS:
		return EX_DATAERR;
	default:
		return 1;
	}
}

/* What --init and --check-image were given. */
struct oneshot {
	bool init;
	const char *image;
	unsigned min_schema;
	int pass_fd;
	unsigned check_flags;
};

/* A whole-string decimal in [0, max]. */
static bool parse_uint(const char *s, unsigned max, unsigned *ret)
{
	unsigned long v = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > max)
			return false;
		v = v * 10 + (unsigned)(*s - '0');
	}
	if (v > max)
		return false;
	*ret = (unsigned)v;
	return true;
}

/* The options only the one-shot modes take; false for another. */
static bool oneshot_option(struct oneshot *o, int opt, const char *arg)
{
	unsigned v;

	switch (opt) {
	case 'I':
		o->init = true;
		return true;
	case 'C':
		o->image = arg;
		return true;
	case 'm':
		if (!parse_uint(arg, 1000000, &o->min_schema))
			return false;
		return true;
	case 'f':
		if (!parse_uint(arg, 1 << 20, &v))
			return false;
		o->pass_fd = (int)v;
		return true;
	case 'K':
		o->check_flags |= INIT_CHECK_NO_KEY;
		return true;
	default:
		return false;
	}
}

/* keywardd --init / --check-image: hardened as the agent is, then one
 * job, then exit with the agent's statuses. */
static int oneshot_run(const struct oneshot *o, const char *home,
                       const char *config)
{
	char dir[KW_PATH_MAX];
	const char *what = NULL;
	int r;

	if (harden_process(&what) < 0) {
		log_error("hardening failed at %s; refusing to run", what);
		return 1;
	}
	if (kw_secmem_init() < 0) {
		log_error("libsodium failed to initialise");
		return 1;
	}
	if (!home) {
		if (kw_path_home(dir, sizeof(dir)) < 0) {
			log_error("cannot work out the home directory (set "
			          "KEYWARD_HOME to an absolute path)");
			return EX_CONFIG;
		}
		home = dir;
	}
	if (o->init)
		r = init_store_create(home, config, o->pass_fd);
	else
		r = init_image_check(home, o->image, o->min_schema, o->pass_fd,
		                     o->check_flags);
	return exit_status(r);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "home", required_argument, NULL, 'H' },
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "print-socket", no_argument, NULL, 'p' },
		{ "accept-loss", no_argument, NULL, 'L' },
		{ "init", no_argument, NULL, 'I' },
		{ "check-image", required_argument, NULL, 'C' },
		{ "min-schema", required_argument, NULL, 'm' },
		{ "passphrase-fd", required_argument, NULL, 'f' },
		{ "no-key-check", no_argument, NULL, 'K' },
		{ "no-sandbox", no_argument, NULL, 'N' },
		{ "spawner", no_argument, NULL, 'S' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *home = NULL, *config = NULL, *sock = NULL;
	struct oneshot one = { .pass_fd = -1 };
	bool print_socket = false, oneshot_only = false;
	unsigned flags = 0;
	int opt;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'H':
			home = optarg;
			break;
		case 'c':
			config = optarg;
			break;
		case 's':
			sock = optarg;
			break;
		case 'p':
			print_socket = true;
			break;
		case 'L':
			flags |= AGENT_ACCEPT_LOSS;
			break;
		case 'N':
			flags |= AGENT_NO_SANDBOX;
			break;
		case 'S':
			/* A process of its own kind: it takes no other option.
			 */
			if (argc != 2) {
				usage(stderr);
				return 2;
			}
			return spawn_service_main();
		case 'V':
			printf("keywardd %s\n", KW_VERSION_STRING);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			if (!oneshot_option(&one, opt, optarg)) {
				usage(stderr);
				return 2;
			}
			oneshot_only |= opt != 'I' && opt != 'C';
			break;
		}
	}
	if (optind != argc || (one.init && one.image) ||
	    (oneshot_only && !one.init && !one.image)) {
		usage(stderr);
		return 2;
	}
	if (one.init || one.image)
		return oneshot_run(&one, home, config);

	if (print_socket)
		return exit_status(agent_print_socket(home, config, sock));

	const char *what = NULL;
	if (harden_process(&what) < 0) {
		log_error("hardening failed at %s; refusing to run", what);
		return 1;
	}
	if (kw_secmem_init() < 0) {
		log_error("libsodium failed to initialise");
		return 1;
	}

	clock_init();
#if KW_TEST_HOOKS
	if (clock_test_file())
		log_warn("the agent's clock is the test clock in %s "
		         "(KEYWARD_TEST_CLOCK); never in production",
		         clock_test_file());
#endif

	agent a;
	int r = agent_init(&a, home, config, sock, flags);
	if (r == 0)
		r = agent_run(&a);
	int status = r == 0 && a.exit_status ? a.exit_status : exit_status(r);
	agent_fini(&a);
	return status;
}
