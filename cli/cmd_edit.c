/*
 * cmd_edit.c - keyward edit NAME: change a value in $VISUAL/$EDITOR.
 *
 * The value is written to a file only where it stays in memory and only
 * this user can read it:
 *   - with $XDG_RUNTIME_DIR set: a new 0700 directory in it, which must be
 *     a tmpfs owned by this user and closed to others; the file is 0600.
 *     Any editor works there (also one that saves by writing a new file
 *     and renaming it over the old one);
 *   - without it: a memfd, passed to the editor as /proc/self/fd/N (its
 *     own fd table holds the same file). Only editors that write the file
 *     in place can save it.
 * Afterwards every file in the directory (the editor's swap and backup
 * files too) is overwritten with zeros and removed, also when the editor
 * fails and on SIGINT/SIGTERM/SIGHUP. The value is stored only if it
 * changed, under put's rules.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "secmem.h"
#include "writeall.h"

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif
#ifndef RAMFS_MAGIC
#define RAMFS_MAGIC 0x858458f6
#endif

/* $VISUAL/$EDITOR: at most this long, in at most this many words. */
#define EDITOR_MAX   1024
#define EDITOR_WORDS 16
/* The edited file is read back up to this size; the agent's
 * max_value_bytes (64 KiB by default) is what really applies. */
#define EDIT_READ_MAX CLI_VALUE_MAX

/* Where the value is while the editor runs. */
struct edit_file {
	char dir[PATH_MAX - 16]; /* private directory, or "" for a memfd */
	char path[PATH_MAX];     /* what the editor is given */
	int fd;                  /* the file as created (still open) */
};

/* SIGTERM or SIGHUP (stop), SIGINT (stop unless the editor runs: it gets
 * the same ^C and decides itself). */
static volatile sig_atomic_t edit_signal;
/* The editor while it runs: SIGTERM and SIGHUP are passed on to it. */
static volatile pid_t edit_child;

static void on_signal(int sig)
{
	edit_signal = sig;
	if (edit_child > 0 && sig != SIGINT)
		kill(edit_child, sig);
}

static void catch_signals(bool on)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa = { 0 };

	sa.sa_handler = on ? on_signal : SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

/* Overwrite every byte of the file fd with zeros, then empty it (tmpfs:
 * no sync needed). */
static void zero_fd(int fd)
{
	static const uint8_t zeros[4096];
	struct stat st;
	off_t off = 0;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	while (off < st.st_size) {
		size_t n = st.st_size - off < (off_t)sizeof(zeros) ?
		                   (size_t)(st.st_size - off) :
		                   sizeof(zeros);
		ssize_t w = pwrite(fd, zeros, n, off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += w;
	}
	if (ftruncate(fd, 0) < 0)
		return; /* zeroed already; the unlink frees it */
}

/* Wipe and remove every file in the private directory, then it. */
static void edit_file_remove(struct edit_file *f)
{
	DIR *d;
	struct dirent *e;

	if (f->fd >= 0) {
		zero_fd(f->fd);
		close(f->fd);
		f->fd = -1;
	}
	if (!f->dir[0])
		return;
	d = opendir(f->dir);
	while (d && (e = readdir(d))) {
		int fd;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		fd = openat(dirfd(d), e->d_name,
		            O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd >= 0) {
			zero_fd(fd);
			close(fd);
		}
		unlinkat(dirfd(d), e->d_name, 0);
	}
	if (d)
		closedir(d);
	rmdir(f->dir);
	f->dir[0] = '\0';
}

/* $XDG_RUNTIME_DIR is a tmpfs of ours that no one else can enter. NULL,
 * or what is wrong with it. */
static const char *runtime_dir_problem(const char *dir)
{
	struct statfs sfs;
	struct stat st;

	if (dir[0] != '/')
		return "is not an absolute path";
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return "is not a directory";
	if (st.st_uid != geteuid() || (st.st_mode & 077) != 0)
		return "is not private (owned by you, mode 0700)";
	if (statfs(dir, &sfs) < 0 ||
	    (sfs.f_type != TMPFS_MAGIC && sfs.f_type != RAMFS_MAGIC))
		return "is not a tmpfs (the value would reach a disk)";
	return NULL;
}

/* Create the file in a new private directory in runtime_dir. */
static int file_in_runtime_dir(struct cli *cli, const char *runtime_dir,
                               struct edit_file *f)
{
	const char *problem = runtime_dir_problem(runtime_dir);

	if (problem) {
		cli_msg(cli, NULL,
		        "XDG_RUNTIME_DIR %s; nothing edited (unset it to "
		        "edit in memory with an editor that saves in place)",
		        problem);
		return CLI_EXIT_ERROR;
	}
	if (snprintf(f->dir, sizeof(f->dir), "%s/keyward-edit-XXXXXX",
	             runtime_dir) >= (int)sizeof(f->dir) ||
	    !mkdtemp(f->dir)) {
		f->dir[0] = '\0';
		cli_msg(cli, NULL, "cannot make a directory in %s: %s",
		        runtime_dir, strerror(errno));
		return CLI_EXIT_ERROR;
	}
	snprintf(f->path, sizeof(f->path), "%s/value", f->dir);
	f->fd = open(f->path,
	             O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (f->fd < 0) {
		cli_msg(cli, NULL, "cannot create %s: %s", f->path,
		        strerror(errno));
		return CLI_EXIT_ERROR;
	}
	return 0;
}

/* A memfd the editor opens as /proc/self/fd/N (so not close-on-exec). */
static int file_in_memory(struct cli *cli, struct edit_file *f)
{
	f->fd = memfd_create("keyward-edit", 0);
	if (f->fd < 0) {
		cli_msg(cli, NULL,
		        "no private place for the value: XDG_RUNTIME_DIR is "
		        "not set and memfd_create failed (%s); nothing "
		        "edited",
		        strerror(errno));
		return CLI_EXIT_ERROR;
	}
	snprintf(f->path, sizeof(f->path), "/proc/self/fd/%d", f->fd);
	return 0;
}

/* The value of the file the editor was given (it may be a new file if
 * the editor renamed one over it), into kw_wipealloc memory. */
static int edit_file_read(struct cli *cli, const char *name,
                          const struct edit_file *f, uint8_t **ret_buf,
                          size_t *ret_len)
{
	int fd = f->dir[0] ? open(f->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	                                           O_CLOEXEC) :
	                     dup(f->fd);
	uint8_t *buf = NULL;
	struct stat st;
	size_t len = 0, size;
	ssize_t n;

	if (fd < 0 || fstat(fd, &st) < 0) {
		cli_msg(cli, name, "cannot read the edited value: %s",
		        strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > EDIT_READ_MAX) {
		cli_msg(cli, name,
		        "%s is not a regular file of at most %u "
		        "bytes; nothing stored",
		        f->path, EDIT_READ_MAX);
		goto fail;
	}
	/* One byte more than fstat said, to notice a file still growing. */
	size = (size_t)st.st_size + 1;
	buf = kw_wipealloc(size);
	if (!buf) {
		cli_msg(cli, name, "out of memory");
		goto fail;
	}
	while (len < size &&
	       (n = pread(fd, buf + len, size - len, (off_t)len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			cli_msg(cli, name, "cannot read the edited value: %s",
			        strerror(errno));
			goto fail;
		}
		len += (size_t)n;
	}
	if (len == size) {
		cli_msg(cli, name,
		        "%s changed while being read; nothing "
		        "stored",
		        f->path);
		goto fail;
	}
	close(fd);
	*ret_buf = buf;
	*ret_len = len;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	kw_wipefree(buf);
	return CLI_EXIT_ERROR;
}

/*
 * Split the editor command into argv (words separated by blanks) and
 * append path. Quotes, backslashes and other shell syntax are refused
 * rather than guessed at: it runs without a shell.
 */
static int editor_argv(struct cli *cli, char *cmd, const char *path,
                       char *argv[static EDITOR_WORDS + 2])
{
	size_t n = 0;

	if (strlen(cmd) > EDITOR_MAX ||
	    strpbrk(cmd, "\"'\\$`;|&<>(){}*?[]#~\n")) {
		cli_msg(cli, NULL,
		        "$VISUAL/$EDITOR must be a program and simple words "
		        "separated by blanks (at most %d bytes, no quotes or "
		        "other shell syntax)",
		        EDITOR_MAX);
		return CLI_EXIT_USAGE;
	}
	for (char *save = NULL, *w = strtok_r(cmd, " \t", &save); w;
	     w = strtok_r(NULL, " \t", &save)) {
		if (n == EDITOR_WORDS) {
			cli_msg(cli, NULL,
			        "$VISUAL/$EDITOR has more than %d "
			        "words",
			        EDITOR_WORDS);
			return CLI_EXIT_USAGE;
		}
		argv[n++] = w;
	}
	if (n == 0)
		argv[n++] = "vi";
	argv[n++] = (char *)path;
	argv[n] = NULL;
	return 0;
}

/* The editor the user chose: $VISUAL, else $EDITOR, else vi. */
static const char *editor_command(void)
{
	const char *e = getenv("VISUAL");

	if (!e || !e[0])
		e = getenv("EDITOR");
	return e && e[0] ? e : "vi";
}

/* Run the editor on path and wait for it. SIGTERM/SIGHUP are passed on;
 * ^C is the editor's business. 0 if it exited 0, else an exit code. */
static int run_editor(struct cli *cli, const char *path)
{
	char cmd[EDITOR_MAX + 2], *argv[EDITOR_WORDS + 2];
	const char *e = editor_command();
	sigset_t block, old;
	int status = 0, ex;
	pid_t pid, done;

	/* Cut to one byte over the bound, which editor_argv refuses. */
	snprintf(cmd, sizeof(cmd), "%.*s", EDITOR_MAX + 1, e);
	ex = editor_argv(cli, cmd, path, argv);
	if (ex != 0)
		return ex;
	fflush(NULL);
	/* Signals wait until edit_child is known, so none is lost. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &old);
	pid = fork();
	if (pid == 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		execvp(argv[0], argv);
		fprintf(stderr, "keyward: edit: cannot run %s: %s\n", argv[0],
		        strerror(errno));
		_exit(127);
	}
	edit_child = pid > 0 ? pid : 0;
	if (edit_signal && edit_signal != SIGINT && pid > 0)
		kill(pid, edit_signal); /* came before the fork */
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		cli_msg(cli, NULL, "cannot start the editor: %s",
		        strerror(errno));
		return CLI_EXIT_ERROR;
	}
	while ((done = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	edit_child = 0;
	if (done != pid) {
		cli_msg(cli, NULL, "cannot wait for the editor: %s",
		        strerror(errno));
		return CLI_EXIT_ERROR;
	}
	if (edit_signal == SIGINT)
		edit_signal = 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		cli_msg(cli, NULL,
		        "the editor exited with status %d; nothing "
		        "stored",
		        WEXITSTATUS(status));
	else
		cli_msg(cli, NULL,
		        "the editor was killed by signal %d; "
		        "nothing stored",
		        WTERMSIG(status));
	return CLI_EXIT_ERROR;
}

struct edit_opts {
	bool create;
	bool allow_empty;
};

static int edit_parse(struct cli *cli, int argc, char **argv,
                      struct edit_opts *o, const char **ret_name)
{
	static const struct option opts[] = {
		{ "create", no_argument, NULL, 'c' },
		{ "allow-empty", no_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			o->create = true;
			break;
		case 'e':
			o->allow_empty = true;
			break;
		case 'h':
			cli_help();
			return CLI_EXIT_DONE;
		default:
			return cli_bad_option(cli, argv);
		}
	}
	if (optind >= argc)
		return cli_usage(cli, "missing NAME");
	if (optind + 1 < argc)
		return cli_usage(cli, "unexpected argument after NAME");
	*ret_name = argv[optind];
	return cli_check_name(cli, argv[optind]);
}

/* The current value of name (none, *ret_old NULL, for a new name with
 * --create). 0 or an exit code. */
static int edit_fetch(struct cli *cli, kw_client *c, const char *name,
                      const struct edit_opts *o, kw_secret **ret_old)
{
	int r = kw_secret_get(c, name, ret_old);

	if (r == KW_ENOTFOUND && o->create)
		return 0;
	if (r == KW_ENOTFOUND) {
		cli_msg(cli, name, "no such secret (--create makes it)");
		return CLI_EXIT_NOTFOUND;
	}
	return r < 0 ? cli_fail(cli, c, name, r) : 0;
}

/* Store the edited value if it changed, as put would. */
static int edit_store(struct cli *cli, kw_client *c, const char *name,
                      const struct edit_opts *o, const kw_secret *old,
                      const uint8_t *value, size_t len)
{
	uint64_t version = 0;
	int r;

	if (old && kw_secret_len(old) == len &&
	    sodium_memcmp(kw_secret_value(old), value, len) == 0) {
		cli_msg(cli, name, "unchanged; nothing stored");
		return 0;
	}
	if (len == 0 && !o->allow_empty) {
		cli_msg(cli, name,
		        "the edited value is empty; nothing stored "
		        "(--allow-empty stores an empty value)");
		return CLI_EXIT_USAGE;
	}
	r = kw_secret_put(c, name, value, len, &version);
	if (r < 0)
		return cli_fail(cli, c, name, r);
	printf("%s: version %llu\n", name, (unsigned long long)version);
	return 0;
}

/* Put the old value in f, run the editor, store what changed. */
static int edit_in(struct cli *cli, kw_client *c, const char *name,
                   const struct edit_opts *o, const kw_secret *old,
                   struct edit_file *f)
{
	uint8_t *value = NULL;
	size_t len = 0;
	int r, ex;

	r = old ? kw_write_all(f->fd, kw_secret_value(old),
	                       kw_secret_len(old)) :
	          0;
	if (r < 0) {
		cli_msg(cli, name, "cannot write %s: %s", f->path,
		        strerror(errno));
		return CLI_EXIT_ERROR;
	}
	ex = run_editor(cli, f->path);
	if (ex == CLI_EXIT_ERROR && !f->dir[0])
		cli_msg(cli, name,
		        "if the editor could not save: the value was in "
		        "memory (%s), which only an editor that saves in "
		        "place can write; with XDG_RUNTIME_DIR set to a "
		        "private tmpfs any editor can",
		        f->path);
	if (ex == 0 && edit_signal == 0)
		ex = edit_file_read(cli, name, f, &value, &len);
	edit_file_remove(f);
	if (ex == 0 && edit_signal == 0)
		ex = edit_store(cli, c, name, o, old, value, len);
	kw_wipefree(value);
	return ex;
}

int cmd_edit(struct cli *cli, int argc, char **argv)
{
	struct edit_file f = { .fd = -1 };
	struct edit_opts o = { 0 };
	const char *name = NULL, *runtime_dir;
	kw_secret *old = NULL;
	kw_client *c = NULL;
	int ex;

	ex = edit_parse(cli, argc, argv, &o, &name);
	if (ex == 0)
		ex = cli_connect(cli, KW_TIMEOUT_DEFAULT_MS, &c);
	if (ex == 0)
		ex = edit_fetch(cli, c, name, &o, &old);
	if (ex != 0)
		goto out;
	catch_signals(true);
	runtime_dir = getenv("XDG_RUNTIME_DIR");
	ex = runtime_dir && runtime_dir[0] ?
	             file_in_runtime_dir(cli, runtime_dir, &f) :
	             file_in_memory(cli, &f);
	if (ex == 0 && edit_signal == 0)
		ex = edit_in(cli, c, name, &o, old, &f);
	edit_file_remove(&f);
	catch_signals(false);
	if (edit_signal) {
		/* Cleaned up: now die of it, as the shell expects. */
		kw_secret_free(old);
		kw_close(c);
		raise(edit_signal);
		return 128 + edit_signal;
	}
out:
	kw_secret_free(old);
	kw_close(c);
	return ex;
}
