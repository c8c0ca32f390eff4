/*
 * cmd_init.c - keyward init: create the store. The home, the checks and
 * the default policy are done here; the keys and secrets.db are made by
 * keywardd --init (oneshot.h), so that this program links neither the
 * store, SQLite nor inih. Every other command goes through the agent.
 *
 * Order matters: everything that can be refused (home permissions, config,
 * an existing store or owner policy, a passphrase typo) is checked before
 * any file is written, and a failure after that removes what this run
 * created, so init can simply be run again. The default policy comes last:
 * without it the agent would let nothing connect, not even this CLI.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "oneshot.h"
#include "paths.h"
#include "secmem.h"

struct init_paths {
	char home[KW_PATH_MAX];
	char ini[KW_PATH_MAX];
	char db[KW_PATH_MAX];
	char key[KW_PATH_MAX];
	char policy[KW_PATH_MAX]; /* the default policy file */
};

static bool join(char *out, const char *dir, const char *leaf)
{
	int n = snprintf(out, KW_PATH_MAX, "%s/%s", dir, leaf);

	return n > 0 && n < KW_PATH_MAX;
}

/*
 * An existing home of ours that group or others may enter (~/.mcp made
 * 0755 by another tool, secrets.json inside): make it 0700, as keywardd
 * requires, and say so. Through an fd opened without following links, so
 * the mode lands on the directory that was inspected.
 */
static int home_make_private(const struct cli *cli, const char *home,
                             const struct stat *seen)
{
	struct stat st;
	int fd;

	errno = 0;
	fd = open(home, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0 || st.st_ino != seen->st_ino ||
	    st.st_dev != seen->st_dev || fchmod(fd, 0700) < 0) {
		cli_msg(cli, NULL,
		        "%s is accessible by group or others and cannot be "
		        "made private (%s); fix with: chmod 700 %s",
		        home, fd < 0 || errno ? strerror(errno) : "it changed",
		        home);
		if (fd >= 0)
			close(fd);
		return CLI_EXIT_ERROR;
	}
	close(fd);
	cli_msg(cli, NULL,
	        "%s had mode %04o (other users could enter it, and keywardd "
	        "refuses such a home); changed it to 0700",
	        home, (unsigned)(seen->st_mode & 07777));
	return 0;
}

/* Create home 0700, or accept an existing one only if ours (made private
 * if it is not). */
static int home_prepare(const struct cli *cli, const char *home,
                        bool *ret_created)
{
	struct stat st;
	bool created = false;

	if (mkdir(home, 0700) == 0) {
		created = true;
	} else if (errno != EEXIST) {
		cli_msg(cli, NULL, "cannot create %s: %s", home,
		        strerror(errno));
		return CLI_EXIT_ERROR;
	}
	if (lstat(home, &st) < 0) {
		cli_msg(cli, NULL, "cannot inspect %s: %s", home,
		        strerror(errno));
		return CLI_EXIT_ERROR;
	}
	if (!S_ISDIR(st.st_mode)) {
		cli_msg(cli, NULL, "%s is not a directory", home);
		return CLI_EXIT_ERROR;
	}
	if (st.st_uid != geteuid()) {
		cli_msg(cli, NULL,
		        "%s is owned by uid %lu, not by you (uid "
		        "%lu); use a directory of your own "
		        "(KEYWARD_HOME)",
		        home, (unsigned long)st.st_uid,
		        (unsigned long)geteuid());
		return CLI_EXIT_ERROR;
	}
	if ((st.st_mode & 077) && home_make_private(cli, home, &st) != 0)
		return CLI_EXIT_ERROR;
	*ret_created = created;
	return 0;
}

/* Remove a half-made store so that init can be run again. */
static void remove_store(const char *db)
{
	static const char *const suffixes[] = { "", "-wal", "-shm",
		                                "-journal" };
	char path[KW_PATH_MAX + 16];

	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", db, suffixes[i]);
		unlink(path);
	}
}

/*
 * master.key (keyfile mode), the data key and secrets.db, by keywardd
 * --init; pass (NULL in keyfile mode) goes to it over its passphrase
 * channel. keywardd says what went wrong and removes what it made.
 */
static int create_store(const struct cli *cli, const struct init_paths *p,
                        const char *pass)
{
	const char *const keyfile_args[] = { "--init", "--home", p->home,
		                             NULL };
	const char *const pass_args[] = { "--init",
		                          "--home",
		                          p->home,
		                          "--passphrase-fd",
		                          ONESHOT_PASS_FD_ARG,
		                          NULL };
	struct oneshot o;
	int ex, status;

	ex = oneshot_start(cli, pass ? pass_args : keyfile_args, pass != NULL,
	                   false, &o);
	if (ex != 0)
		return ex;
	if (pass)
		(void)oneshot_send_pass(&o, pass, strlen(pass));
	status = oneshot_finish(&o);
	if (status == 0)
		return 0;
	if (status < 0)
		cli_msg(cli, NULL, "keywardd --init did not finish");
	return CLI_EXIT_ERROR;
}

/* A plaintext secrets file other tools left in the home: say how to move
 * it into the store. */
static void notice_plaintext(const char *home)
{
	static const char *const leaves[] = { "secrets.json", ".env" };
	char path[KW_PATH_MAX + 16];
	struct stat st;
	bool first = true;

	for (size_t i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", home, leaves[i]);
		if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (first)
			puts("Plaintext secrets found in the store's directory. "
			     "Once keywardd runs, move them in\n(every value "
			     "is read back before the file is shredded):");
		first = false;
		printf("  keyward import %s --shred\n", path);
	}
}

static void print_done(const struct init_paths *p, bool passphrase,
                       const char *exe)
{
	printf("initialised %s (%s mode)\n", p->home,
	       passphrase ? "passphrase" : "keyfile");
	printf("  store:      %s\n", p->db);
	if (passphrase)
		puts("  key:        derived from your passphrase (nothing kept "
		     "on disk)");
	else
		printf("  master key: %s (mode 0600; whoever can read it can "
		       "unlock the store)\n",
		       p->key);
	cli_policy_default_note("  policies:   ", exe);
	if (passphrase)
		puts("Start keywardd, then: keyward unlock");
	else
		puts("To protect the store with a passphrase instead (no key on "
		     "disk),\nstart keywardd and run: keyward passwd");
}

int cmd_init(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "passphrase", no_argument, NULL, 'p' },
		{ "passphrase-fd", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	struct init_paths p;
	char exe[PATH_MAX];
	bool passphrase = false, created_home = false;
	char *pass = NULL;
	struct stat st;
	int opt, ex, fd = -1;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'p') {
			passphrase = true;
		} else if (opt == 'f') {
			if (!cli_parse_fd(optarg, &fd))
				return cli_usage(cli, "--passphrase-fd: "
				                      "expected a file "
				                      "descriptor number");
			passphrase = true;
		} else if (opt == 'h') {
			return cli_help();
		} else {
			return cli_bad_option(cli, argv);
		}
	}
	if (optind < argc)
		return cli_usage(cli, "unexpected argument");
	if (kw_secmem_init() < 0) {
		cli_msg(cli, NULL, "cannot initialise libsodium");
		return CLI_EXIT_ERROR;
	}
	if (kw_path_home(p.home, sizeof(p.home)) < 0 ||
	    !join(p.ini, p.home, "keyward.ini") ||
	    !join(p.db, p.home, "secrets.db") ||
	    !join(p.key, p.home, "master.key") ||
	    !join(p.policy, p.home, "policies/00-owner.ini")) {
		cli_msg(cli, NULL,
		        "cannot resolve the keyward home: "
		        "KEYWARD_HOME (or HOME) must be a short "
		        "absolute path");
		return CLI_EXIT_ERROR;
	}
	ex = home_prepare(cli, p.home, &created_home);
	if (ex != 0)
		return ex;
	/* The agent refuses a keyward.ini others can write (it sets the KDF
	 * cost of the passphrase wrap): so does init, before asking for a
	 * passphrase (keywardd --init checks it again, and parses it). */
	if (lstat(p.ini, &st) == 0 &&
	    (!S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	     (st.st_mode & 022))) {
		cli_msg(cli, NULL,
		        "%s must be a regular file of yours that group and "
		        "others cannot write (chmod 600 %s)",
		        p.ini, p.ini);
		ex = CLI_EXIT_ERROR;
		goto fail_home;
	}
	if (lstat(p.db, &st) == 0 || errno != ENOENT) {
		cli_msg(cli, NULL, "already initialised: %s exists", p.db);
		ex = CLI_EXIT_ERROR;
		goto fail_home;
	}
	if (lstat(p.policy, &st) == 0) {
		cli_msg(cli, NULL,
		        "%s exists (left from an earlier store?); move it "
		        "away first",
		        p.policy);
		ex = CLI_EXIT_ERROR;
		goto fail_home;
	}
	if (errno != ENOENT) {
		cli_msg(cli, NULL, "cannot inspect %s: %s", p.policy,
		        strerror(errno));
		ex = CLI_EXIT_ERROR;
		goto fail_home;
	}
	if (passphrase) {
		ex = cli_read_passphrase(cli, fd, "new passphrase: ",
		                         "repeat the passphrase: ", &pass);
		if (ex != 0)
			goto fail_home;
	}
	ex = create_store(cli, &p, pass);
	sodium_free(pass);
	if (ex != 0)
		goto fail_home;
	ex = cli_policy_default(cli, p.home, exe, sizeof(exe));
	if (ex != 0)
		goto fail_store;
	print_done(&p, passphrase, exe);
	notice_plaintext(p.home);
	return 0;

fail_store:
	remove_store(p.db);
	if (!passphrase)
		unlink(p.key);
fail_home:
	if (created_home)
		rmdir(p.home);
	return ex;
}
