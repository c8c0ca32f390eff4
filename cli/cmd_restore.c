/*
 * cmd_restore.c - keyward restore FILE: put a backup in place of the store
 * while the agent is stopped (docs/store.md, "Restoring").
 *
 * The agent must be stopped: it holds secrets.db open in WAL mode, with
 * the audit chain's head, the checkpoint state and rotation work in
 * memory, and replacing the files under it would corrupt all of that.
 * restore holds the agent's own lock (keywardd.lock) while it works, so an
 * agent cannot start half way. The audit row is written by the agent at
 * its next start, from the marker restore.pending: only the agent has the
 * chain key, and only it extends the chain.
 *
 * The image is opened, checked and tried against the home's key by
 * keywardd --check-image (oneshot.h): this program links no SQLite and
 * no store code.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "atomicfile.h"
#include "backup.h"
#include "backupfmt.h"
#include "cli.h"
#include "oneshot.h"
#include "paths.h"
#include "secmem.h"
#include "writeall.h"

#define RESTORE_MARK "restore.pending"

struct restore {
	const char *file;
	bool force;
	int pass_fd;
	char home[KW_PATH_MAX];
	char stamp[24]; /* YYYYMMDDTHHMMSSZ, the suffix of what is set aside */
	int lock_fd;
	uint8_t *data; /* the backup, kw_backup_free */
	size_t len;
	struct kw_backup_view v;
	char tmp_db[KW_PATH_MAX], tmp_cp[KW_PATH_MAX];
};

/* home/leaf[suffix] into out, which is KW_PATH_MAX bytes. */
static int home_path(const struct restore *rs, const char *leaf,
                     const char *suffix, char *out)
{
	int n = snprintf(out, KW_PATH_MAX, "%s/%s%s", rs->home, leaf, suffix);

	return n > 0 && n < KW_PATH_MAX ? 0 : KW_EINVAL;
}

/* The agent's lock, held until exit: no agent runs, and none starts. */
static int restore_lock(const struct cli *cli, struct restore *rs)
{
	char path[KW_PATH_MAX];

	if (home_path(rs, "keywardd.lock", "", path) < 0)
		return cli_usage(cli, "KEYWARD_HOME is too long");
	rs->lock_fd =
		open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (rs->lock_fd < 0) {
		cli_msg(cli, NULL, "cannot open %s: %s", path, strerror(errno));
		return CLI_EXIT_ERROR;
	}
	if (flock(rs->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		cli_msg(cli, NULL,
		        "the agent for %s is running; stop it first "
		        "(restore replaces the files it holds open)",
		        rs->home);
		return CLI_EXIT_ERROR;
	}
	return 0;
}

static int restore_read(const struct cli *cli, struct restore *rs)
{
	char why[200];
	int r = kw_backup_read(rs->file, true, KW_BACKUP_MAX, &rs->data,
	                       &rs->len, why, sizeof(why));
	if (r < 0) {
		cli_msg(cli, NULL, "cannot read %s: %s", rs->file,
		        r == KW_ENOTFOUND ? "it does not exist" : why);
		return CLI_EXIT_ERROR;
	}
	cli_progress_step("restore", 1, 4, "backup checked");
	r = kw_backup_parse(rs->data, rs->len, &rs->v, why, sizeof(why));
	if (r < 0) {
		cli_msg(cli, NULL, "%s is refused: %s", rs->file, why);
		return CLI_EXIT_ERROR;
	}
	return 0;
}

/* A new file of len bytes, 0600, synced; one left by an earlier restore
 * that stopped half way is replaced. */
static int write_new(const struct cli *cli, const char *path, const void *p,
                     size_t len)
{
	char side[KW_PATH_MAX + 8];

	/* A log SQLite left beside an earlier copy would be replayed into
	 * this one. */
	for (int i = 0; i < 2; i++) {
		snprintf(side, sizeof(side), "%s%s", path, i ? "-shm" : "-wal");
		if (unlink(side) < 0 && errno != ENOENT) {
			path = side;
			goto fail;
		}
	}
	if (unlink(path) < 0 && errno != ENOENT)
		goto fail;
	int fd =
		open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	             0600);
	if (fd < 0)
		goto fail;
	int r = fchmod(fd, 0600) < 0 || kw_write_all(fd, p, len) < 0 ||
	        fsync(fd) < 0;
	int e = errno;
	close(fd);
	errno = e;
	if (r == 0)
		return 0;
fail:
	cli_msg(cli, NULL, "cannot write %s: %s", path, strerror(errno));
	return CLI_EXIT_ERROR;
}

/* keywardd's "image ERRNO DETAIL": the database is refused. DETAIL is
 * SQLite's, printed with anything but printable ASCII as '?'. */
static int image_refused(const struct cli *cli, const struct restore *rs,
                         char *rest)
{
	char *end = NULL;
	long code = strtol(rest, &end, 10);

	if (end == rest || code < INT_MIN || code >= 0)
		code = KW_EDAMAGED;
	while (*end == ' ')
		end++;
	for (char *c = end; *c; c++) {
		if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
			*c = '?';
	}
	cli_msg(cli, NULL,
	        "%s is refused: its database is not a keyward store this "
	        "version can open (%s%s%s)",
	        rs->file, kw_strerror((int)code), *end ? ": " : "", end);
	return CLI_EXIT_ERROR;
}

/* keywardd's "key MODE ERRNO": the home's key does not open the wrap. */
static int key_refused(const struct cli *cli, const struct restore *rs,
                       const char *rest)
{
	const bool keyfile = strncmp(rest, "keyfile ", 8) == 0;
	const char *num = strchr(rest, ' ');
	long code = num ? strtol(num + 1, NULL, 10) : 0;

	if (code < INT_MIN || code >= 0)
		code = KW_ECRYPTO;
	if (keyfile)
		cli_msg(cli, NULL,
		        "%s is refused: %s/master.key does not open it (%s); "
		        "put the master.key it was made with there, or use "
		        "--force",
		        rs->file, rs->home, kw_strerror((int)code));
	else
		cli_msg(cli, NULL,
		        "%s is refused: the passphrase does not open it; use "
		        "--force to restore it anyway",
		        rs->file);
	return CLI_EXIT_ERROR;
}

/* keywardd asked for the passphrase of the image's wrap. */
static int image_pass(const struct cli *cli, const struct restore *rs,
                      struct oneshot *o)
{
	char *pass = NULL;
	int ex = cli_read_passphrase(cli, rs->pass_fd,
	                             "passphrase of the backup: ", NULL, &pass);

	if (ex == 0)
		(void)oneshot_send_pass(o, pass, strlen(pass));
	sodium_free(pass);
	return ex;
}

/*
 * keywardd --check-image: open the written image as the agent will
 * (migrations, quick_check), require the backup's schema, and unless
 * --force check that the key the home holds now (master.key, or the
 * passphrase asked for) opens its wrap.
 */
static int restore_check_image(const struct cli *cli, struct restore *rs)
{
	char schema[16];
	const char *args[] = { "--check-image",
		               rs->tmp_db,
		               "--home",
		               rs->home,
		               "--min-schema",
		               schema,
		               "--passphrase-fd",
		               ONESHOT_PASS_FD_ARG,
		               rs->force ? "--no-key-check" : NULL,
		               NULL };
	struct oneshot o;
	char *line;
	bool ok = false;
	int ex = 0, status;

	snprintf(schema, sizeof(schema), "%u", (unsigned)rs->v.info.schema);
	if ((ex = oneshot_start(cli, args, true, true, &o)) != 0)
		return ex;
	while (ex == 0 && (line = oneshot_line(&o))) {
		if (strcmp(line, "passphrase") == 0)
			ex = image_pass(cli, rs, &o);
		else if (strncmp(line, "image ", 6) == 0)
			ex = image_refused(cli, rs, line + 6);
		else if (strncmp(line, "key ", 4) == 0)
			ex = key_refused(cli, rs, line + 4);
		else if (strcmp(line, "ok") == 0)
			ok = true;
	}
	status = oneshot_finish(&o);
	if (ex == 0 && (!ok || status != 0)) {
		cli_msg(cli, NULL, "keywardd --check-image failed on %s",
		        rs->file);
		ex = CLI_EXIT_ERROR;
	}
	return ex;
}

/* Rename from to to, never over an existing file. ENOENT is fine (there
 * was nothing to set aside) when missing_ok. */
static int move(const struct cli *cli, const char *from, const char *to,
                bool missing_ok)
{
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0 ||
	    (missing_ok && errno == ENOENT))
		return 0;
	cli_msg(cli, NULL, "cannot rename %s to %s: %s", from, to,
	        strerror(errno));
	return CLI_EXIT_ERROR;
}

/* home/leaf to home/leaf.before-restore-STAMP[extra]. */
static int set_aside(const struct cli *cli, const struct restore *rs,
                     const char *leaf, const char *extra)
{
	char from[KW_PATH_MAX], to[KW_PATH_MAX], sfx[64];

	snprintf(sfx, sizeof(sfx), ".before-restore-%s%s", rs->stamp, extra);
	if (home_path(rs, leaf, extra, from) < 0 ||
	    home_path(rs, leaf, sfx, to) < 0)
		return CLI_EXIT_ERROR;
	return move(cli, from, to, true);
}

/*
 * The order bounds what a crash leaves (docs/store.md, "Restoring"): the
 * database first, then the checkpoint file, then the marker, so that a
 * restored store beside the old checkpoint file is refused at start
 * rather than used; rerunning the restore finishes any of those states.
 */
static int restore_place(const struct cli *cli, struct restore *rs)
{
	char db[KW_PATH_MAX], cp[KW_PATH_MAX], mark[KW_PATH_MAX], text[96];
	int ex;

	if (home_path(rs, "secrets.db", "", db) < 0 ||
	    home_path(rs, "audit.checkpoints", "", cp) < 0 ||
	    home_path(rs, RESTORE_MARK, "", mark) < 0)
		return CLI_EXIT_ERROR;
	if ((ex = set_aside(cli, rs, "secrets.db", "")) != 0 ||
	    (ex = set_aside(cli, rs, "secrets.db", "-wal")) != 0 ||
	    (ex = set_aside(cli, rs, "secrets.db", "-shm")) != 0 ||
	    (ex = move(cli, rs->tmp_db, db, false)) != 0 ||
	    (ex = set_aside(cli, rs, "audit.checkpoints", "")) != 0 ||
	    (ex = move(cli, rs->tmp_cp, cp, false)) != 0)
		return ex;
	int n = snprintf(text, sizeof(text), "keyward-restore-v1 %lld %s\n",
	                 (long long)rs->v.info.created, rs->stamp);
	char why[160];
	if (kw_atomic_replace(mark, text, (size_t)n, 0600, 0, NULL, why,
	                      sizeof(why)) < 0) {
		cli_msg(cli, NULL,
		        "restored, but the audit row will be missing: %s", why);
		return CLI_EXIT_ERROR;
	}
	int r = cli_sync_dir_of(db);
	if (r < 0) {
		cli_msg(cli, NULL, "cannot sync %s: %s", rs->home,
		        strerror(-r));
		return CLI_EXIT_ERROR;
	}
	return 0;
}

static int restore_run(const struct cli *cli, struct restore *rs)
{
	int ex;

	if ((ex = restore_lock(cli, rs)) != 0 ||
	    (ex = restore_read(cli, rs)) != 0)
		return ex;
	if (home_path(rs, "secrets.db", ".restoring", rs->tmp_db) < 0 ||
	    home_path(rs, "audit.checkpoints", ".restoring", rs->tmp_cp) < 0)
		return cli_usage(cli, "KEYWARD_HOME is too long");
	if ((ex = write_new(cli, rs->tmp_db, rs->v.db, rs->v.info.db_len)) ||
	    (ex = restore_check_image(cli, rs)) != 0)
		return ex;
	cli_progress_step("restore", 2, 4, "store checked");
	cli_progress_step("restore", 3, 4, "key checked");
	if ((ex = write_new(cli, rs->tmp_cp, rs->v.cp, rs->v.info.cp_len)))
		return ex;
	if ((ex = restore_place(cli, rs)) != 0)
		return ex;
	cli_progress_step("restore", 4, 4, "in place");
	return 0;
}

static void restore_report(const struct restore *rs)
{
	char when[CLI_TIME_LEN];

	cli_time_local(rs->v.info.created * 1000000, when);
	printf("restored %s (the store as at %s) into %s\n", rs->file, when,
	       rs->home);
	printf("the previous store is kept as secrets.db.before-restore-%s "
	       "(and audit.checkpoints.before-restore-%s, if there was one)\n",
	       rs->stamp, rs->stamp);
	printf("start the agent: it records the restore in the audit log\n");
}

int cmd_restore(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'F' },
		{ "passphrase-fd", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	struct restore rs = { .pass_fd = -1, .lock_fd = -1 };
	time_t now = time(NULL);
	struct tm tm;
	int opt, ex;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'F')
			rs.force = true;
		else if (opt == 'f' && !cli_parse_fd(optarg, &rs.pass_fd))
			return cli_usage(cli, "--passphrase-fd: expected a "
			                      "file descriptor number");
		else if (opt == 'h')
			return cli_help();
		else if (opt != 'f')
			return cli_bad_option(cli, argv);
	}
	if (optind != argc - 1)
		return cli_usage(cli, "expected one argument, FILE");
	rs.file = argv[optind];
	if (kw_secmem_init() < 0) {
		cli_msg(cli, NULL, "cannot initialise libsodium");
		return CLI_EXIT_ERROR;
	}
	if (kw_path_home(rs.home, sizeof(rs.home)) < 0)
		return cli_usage(cli, "cannot work out the home directory (set "
		                      "KEYWARD_HOME to an absolute path)");
	gmtime_r(&now, &tm);
	strftime(rs.stamp, sizeof(rs.stamp), "%Y%m%dT%H%M%SZ", &tm);
	ex = restore_run(cli, &rs);
	if (ex == 0)
		restore_report(&rs);
	else if (rs.tmp_db[0]) {
		unlink(rs.tmp_db);
		unlink(rs.tmp_cp);
	}
	kw_backup_free(rs.data, rs.len);
	if (rs.lock_fd >= 0)
		close(rs.lock_fd);
	return ex;
}
