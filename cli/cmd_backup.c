/*
 * cmd_backup.c - keyward backup FILE: the agent's store.backup streamed
 * into a new file of the caller's (docs/store.md, "Backups").
 *
 * The bytes come over the socket rather than being written by the agent
 * to a path, so the file is created by the caller, with the caller's
 * rights, wherever the caller may write, and the agent never opens a path
 * a client named.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backup.h"
#include "backupfmt.h"
#include "cli.h"
#include "secmem.h"
#include "wire.h"
#include "writeall.h"

/* The backup being written: the temporary file beside FILE. */
struct backup_out {
	const char *path;
	char tmp[PATH_MAX];
	int fd;
	uint64_t size; /* as the agent said in its first answer */
	uint64_t done;
	char mode[16];
	uint64_t created, schema;
};

void cli_progress(const char *what, uint64_t done, uint64_t total)
{
	if (!isatty(STDERR_FILENO) || total == 0)
		return;
	fprintf(stderr, "\r%s: %3u%% (%llu of %llu KiB)", what,
	        (unsigned)(done * 100 / total),
	        (unsigned long long)(done / 1024),
	        (unsigned long long)(total / 1024));
	if (done >= total)
		fputc('\n', stderr);
	fflush(stderr);
}

void cli_progress_step(const char *what, unsigned step, unsigned steps,
                       const char *doing)
{
	if (!isatty(STDERR_FILENO))
		return;
	/* Spaces wipe what a longer earlier step left on the line. */
	fprintf(stderr, "\r%s: step %u of %u: %-20s", what, step, steps, doing);
	if (step >= steps)
		fputc('\n', stderr);
	fflush(stderr);
}

int cli_sync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;

	if (n >= sizeof(dir))
		return -ENAMETOOLONG;
	if (slash && n == 0)
		n = 1; /* the root */
	if (n)
		memcpy(dir, path, n);
	else
		dir[n++] = '.';
	dir[n] = '\0';
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return r;
}

/*
 * The temporary file while it exists, for backup_on_signal: a backup
 * interrupted by SIGINT (Ctrl-C), SIGTERM or SIGHUP (a closed terminal)
 * removes it before the signal ends the process as it would have.
 */
static const int backup_signals[] = { SIGINT, SIGTERM, SIGHUP };
static char backup_tmp_live[PATH_MAX];
static volatile sig_atomic_t backup_tmp_armed;
#define BACKUP_NSIG (sizeof(backup_signals) / sizeof(backup_signals[0]))
static struct sigaction backup_old_sa[BACKUP_NSIG];

static void backup_on_signal(int sig)
{
	/* unlink, signal and raise are async-signal-safe. */
	if (backup_tmp_armed)
		unlink(backup_tmp_live);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void backup_guard(const char *tmp)
{
	struct sigaction sa = { .sa_handler = backup_on_signal };

	snprintf(backup_tmp_live, sizeof(backup_tmp_live), "%s", tmp);
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < BACKUP_NSIG; i++)
		sigaddset(&sa.sa_mask, backup_signals[i]);
	backup_tmp_armed = 1;
	for (size_t i = 0; i < BACKUP_NSIG; i++)
		sigaction(backup_signals[i], &sa, &backup_old_sa[i]);
}

static void backup_unguard(void)
{
	if (!backup_tmp_armed)
		return;
	for (size_t i = 0; i < BACKUP_NSIG; i++)
		sigaction(backup_signals[i], &backup_old_sa[i], NULL);
	backup_tmp_armed = 0;
}

/* FILE must not exist: a backup never replaces anything. */
static int backup_open(const struct cli *cli, struct backup_out *o)
{
	struct stat st;
	int n = snprintf(o->tmp, sizeof(o->tmp), "%s.tmp-XXXXXX", o->path);

	if (n < 0 || (size_t)n >= sizeof(o->tmp))
		return cli_usage(cli, "FILE: the path is too long");
	if (lstat(o->path, &st) == 0) {
		cli_msg(cli, NULL,
		        "%s exists; a backup never overwrites a file", o->path);
		return CLI_EXIT_ERROR;
	}
	o->fd = mkostemp(o->tmp, O_CLOEXEC);
	if (o->fd >= 0)
		backup_guard(o->tmp);
	if (o->fd < 0 || fchmod(o->fd, 0600) < 0) {
		cli_msg(cli, NULL, "cannot create a file beside %s: %s",
		        o->path, strerror(errno));
		return CLI_EXIT_ERROR;
	}
	return 0;
}

/* One answer: the same size every time, our offset, data that fits. */
static int backup_chunk(struct backup_out *o, const json_t *res, bool *ret_done)
{
	uint64_t size, off;
	const char *data, *mode;
	uint8_t *bin = NULL;
	size_t n;
	bool done;

	if (!kw_json_get_uint(res, "size", 1, &size) || size > KW_BACKUP_MAX ||
	    (o->size && size != o->size) ||
	    !kw_json_get_uint(res, "offset", 0, &off) || off != o->done ||
	    !kw_json_get_bool(res, "done", &done) ||
	    !kw_json_get_text(res, "mode", &mode) ||
	    !kw_json_get_uint(res, "created", 0, &o->created) ||
	    !kw_json_get_uint(res, "schema", 0, &o->schema) ||
	    !kw_json_get_text(res, "data", &data))
		return KW_EPROTO;
	snprintf(o->mode, sizeof(o->mode), "%s", mode);
	o->size = size;
	int r = kw_b64_decode(data, strlen(data), size - off, &bin, &n);
	if (r < 0)
		return KW_EPROTO;
	if (n == 0 || done != (off + n == size)) {
		kw_wipefree(bin);
		return KW_EPROTO;
	}
	r = kw_write_all(o->fd, bin, n);
	kw_wipefree(bin);
	if (r < 0)
		return KW_EIO;
	o->done += n;
	*ret_done = done;
	return 0;
}

static int backup_fetch(const struct cli *cli, kw_client *c,
                        struct backup_out *o)
{
	bool done = false;

	while (!done) {
		json_t *res = NULL;
		json_t *params =
			json_pack("{s:I}", "offset", (json_int_t)o->done);
		int r = params ? cli_call(c, "store.backup", params, &res) :
		                 KW_ENOMEM;
		if (r == 0)
			r = backup_chunk(o, res, &done);
		json_decref(res);
		if (r == KW_EIO) {
			cli_msg(cli, NULL, "cannot write %s: %s", o->tmp,
			        strerror(errno));
			return CLI_EXIT_ERROR;
		}
		if (r < 0)
			return cli_fail(cli, c, NULL, r);
		cli_progress("backup", o->done, o->size);
	}
	return 0;
}

/* Read back what was written and check it as restore will. */
static int backup_check(const struct cli *cli, struct backup_out *o)
{
	struct kw_backup_view v;
	char why[160];

	if (fsync(o->fd) < 0) {
		cli_msg(cli, NULL, "cannot sync %s: %s", o->tmp,
		        strerror(errno));
		return CLI_EXIT_ERROR;
	}
	void *p = mmap(NULL, o->size, PROT_READ, MAP_PRIVATE, o->fd, 0);
	if (p == MAP_FAILED) {
		cli_msg(cli, NULL, "cannot read %s back: %s", o->tmp,
		        strerror(errno));
		return CLI_EXIT_ERROR;
	}
	int r = kw_backup_parse(p, o->size, &v, why, sizeof(why));
	munmap(p, o->size);
	if (r < 0) {
		cli_msg(cli, NULL, "the backup as written does not check: %s",
		        why);
		return CLI_EXIT_ERROR;
	}
	return 0;
}

/* link() fails if FILE appeared meanwhile: never replace it. */
static int backup_place(const struct cli *cli, struct backup_out *o)
{
	if (link(o->tmp, o->path) < 0) {
		cli_msg(cli, NULL, "cannot create %s: %s", o->path,
		        errno == EEXIST ? "it exists now" : strerror(errno));
		return CLI_EXIT_ERROR;
	}
	unlink(o->tmp);
	o->tmp[0] = '\0';
	int r = cli_sync_dir_of(o->path);
	if (r < 0) {
		cli_msg(cli, NULL, "cannot sync the directory of %s: %s",
		        o->path, strerror(-r));
		return CLI_EXIT_ERROR;
	}
	return 0;
}

static void backup_report(const struct backup_out *o)
{
	char when[CLI_TIME_LEN];

	cli_time_local((int64_t)o->created * 1000000, when);
	printf("backup written to %s: %llu bytes, the store as at %s "
	       "(schema %llu)\n",
	       o->path, (unsigned long long)o->size, when,
	       (unsigned long long)o->schema);
	if (strcmp(o->mode, "keyfile") == 0)
		printf("It does not contain master.key: keep a copy of "
		       "master.key with it, apart from it; without that key "
		       "the backup opens nothing.\n");
	else
		printf("It does not contain the passphrase: it opens with the "
		       "passphrase the store had when the backup was "
		       "taken.\n");
}

int cmd_backup(struct cli *cli, int argc, char **argv)
{
	struct backup_out o = { .fd = -1 };
	kw_client *c = NULL;
	int ex;

	if (!cli_help_only(cli, argc, argv, &ex))
		return ex;
	if (optind != argc - 1)
		return cli_usage(cli, "expected one argument, FILE");
	o.path = argv[optind];
	if ((ex = backup_open(cli, &o)) != 0)
		goto out;
	if ((ex = cli_connect(cli, CLI_SLOW_TIMEOUT_MS, &c)) != 0)
		goto out;
	ex = backup_fetch(cli, c, &o);
	if (ex == 0)
		ex = backup_check(cli, &o);
	if (ex == 0)
		ex = backup_place(cli, &o);
	if (ex == 0)
		backup_report(&o);
out:
	kw_close(c);
	if (o.fd >= 0)
		close(o.fd);
	if (o.tmp[0] && o.fd >= 0)
		unlink(o.tmp);
	backup_unguard();
	return ex;
}
