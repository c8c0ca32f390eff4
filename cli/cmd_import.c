/*
 * cmd_import.c - keyward import: move a plaintext secrets.json or .env
 * file into the store.
 *
 * Nothing is written unless every entry of the file is valid (import.h
 * prints each problem). Existing names are skipped unless --overwrite;
 * --dry-run only says what would happen. --shred destroys the source, but
 * only once every value has been read back from the agent and found equal
 * (in constant time), and only if the file is still the one that was read.
 * Values never reach stdout, stderr or argv.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "import.h"
#include "name.h"
#include "secmem.h"

/* A progress bar only for imports larger than this, on a terminal. */
#define PROGRESS_MIN      100u
#define PROGRESS_EVERY_NS 100000000LL

struct import_opts {
	const char *path, *prefix;
	enum imp_format format;
	bool dry_run, overwrite, shred;
};

struct progress {
	bool on;
	size_t total, done;
	long long start_ns, shown_ns;
};

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void progress_show(struct progress *p, bool last)
{
	long long t = now_ns();
	double secs = (double)(t - p->start_ns) / 1e9;

	if (!p->on || (!last && t - p->shown_ns < PROGRESS_EVERY_NS))
		return;
	p->shown_ns = t;
	fprintf(stderr, "\rimporting %zu/%zu (%.0f/s)", p->done, p->total,
	        secs > 0 ? (double)p->done / secs : 0.0);
	if (last)
		fputc('\n', stderr);
}

static int parse_opts(struct cli *cli, int argc, char **argv,
                      struct import_opts *o)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "overwrite", no_argument, NULL, 'o' },
		{ "shred", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *rule = NULL;
	int opt;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'f' && strcmp(optarg, "json") == 0)
			o->format = IMP_JSON;
		else if (opt == 'f' && strcmp(optarg, "dotenv") == 0)
			o->format = IMP_DOTENV;
		else if (opt == 'f')
			return cli_usage(cli, "--format: expected json or "
			                      "dotenv");
		else if (opt == 'p')
			o->prefix = optarg;
		else if (opt == 'n')
			o->dry_run = true;
		else if (opt == 'o')
			o->overwrite = true;
		else if (opt == 's')
			o->shred = true;
		else if (opt == 'h') {
			cli_help();
			return CLI_EXIT_DONE; /* main() exits 0 */
		} else
			return cli_bad_option(cli, argv);
	}
	if (optind + 1 != argc)
		return cli_usage(cli, "expected one FILE");
	o->path = argv[optind];
	if (o->dry_run && o->shred)
		return cli_usage(cli, "--dry-run and --shred exclude each "
		                      "other");
	if (kw_prefix_check(o->prefix, strnlen(o->prefix, KW_NAME_MAX + 1),
	                    &rule) < 0)
		return cli_usage(cli, "--prefix: %s",
		                 rule ? rule : "invalid prefix");
	if (o->format == IMP_GUESS)
		o->format = imp_format_of(o->path);
	if (o->format == IMP_GUESS)
		return cli_usage(cli,
		                 "cannot tell the format of %s from its "
		                 "name; give --format json or --format dotenv",
		                 o->path);
	return 0;
}

static int by_listed(const void *key, const void *elem)
{
	return strcmp(key, ((const struct imp_entry *)elem)->name);
}

/* Decide create / overwrite / skip from what the agent lists. */
static int plan(const struct cli *cli, kw_client *c,
                const struct import_opts *o, struct imp_list *l)
{
	struct kw_secret_list *sl = NULL;
	int r = kw_secret_list(c, o->prefix[0] ? o->prefix : NULL, &sl);

	if (r < 0)
		return cli_fail(cli, c, NULL, r);
	for (size_t i = 0; i < l->n; i++)
		l->v[i].action = IMP_CREATE;
	for (size_t i = 0; i < kw_secret_list_count(sl); i++) {
		struct imp_entry *e = bsearch(kw_secret_list_name(sl, i), l->v,
		                              l->n, sizeof(*l->v), by_listed);

		if (e)
			e->action = o->overwrite ? IMP_OVERWRITE : IMP_SKIP;
	}
	kw_secret_list_free(sl);
	return 0;
}

static void count(const struct imp_list *l, size_t n[3])
{
	n[IMP_CREATE] = n[IMP_OVERWRITE] = n[IMP_SKIP] = 0;
	for (size_t i = 0; i < l->n; i++)
		n[l->v[i].action]++;
}

static int dry_run(const struct imp_list *l)
{
	static const char *const verb[] = { "create", "overwrite", "skip" };
	size_t n[3];

	for (size_t i = 0; i < l->n; i++)
		printf("would %s %s%s\n", verb[l->v[i].action], l->v[i].name,
		       l->v[i].action == IMP_SKIP ? " (exists)" : "");
	count(l, n);
	printf("dry run: would create %zu, overwrite %zu, skip %zu; nothing "
	       "changed\n",
	       n[IMP_CREATE], n[IMP_OVERWRITE], n[IMP_SKIP]);
	return 0;
}

/* After a failed put at index failed: which names are in, which not. */
static void report_partial(const struct imp_list *l, size_t failed)
{
	size_t done = 0;

	for (size_t i = 0; i < failed; i++)
		done += l->v[i].action != IMP_SKIP;
	fprintf(stderr,
	        "keyward: import: stopped; imported before the "
	        "failure (%zu):\n",
	        done);
	for (size_t i = 0; i < failed; i++)
		if (l->v[i].action != IMP_SKIP)
			fprintf(stderr, "  %s\n", l->v[i].name);
	fprintf(stderr, "keyward: import: not imported:\n");
	for (size_t i = failed; i < l->n; i++)
		if (l->v[i].action != IMP_SKIP)
			fprintf(stderr, "  %s\n", l->v[i].name);
}

static int put_all(const struct cli *cli, kw_client *c,
                   const struct imp_list *l)
{
	size_t n[3];
	struct progress p = { 0 };

	count(l, n);
	p.total = n[IMP_CREATE] + n[IMP_OVERWRITE];
	p.on = p.total > PROGRESS_MIN && isatty(STDERR_FILENO);
	p.start_ns = now_ns();
	for (size_t i = 0; i < l->n; i++) {
		const struct imp_entry *e = &l->v[i];
		int r, ex;

		if (e->action == IMP_SKIP)
			continue;
		r = kw_secret_put(c, e->name, e->value, e->len, NULL);
		if (r < 0) {
			if (p.on)
				fputc('\n', stderr);
			ex = cli_fail(cli, c, e->name, r);
			report_partial(l, i);
			return ex;
		}
		p.done++;
		progress_show(&p, p.done == p.total);
	}
	return 0;
}

static void print_summary(const struct import_opts *o, const struct imp_list *l)
{
	size_t n[3];

	count(l, n);
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].action == IMP_SKIP)
			printf("skipped %s (exists; --overwrite replaces it)\n",
			       l->v[i].name);
	printf("imported %zu of %zu from %s: %zu created, %zu overwritten, "
	       "%zu skipped\n",
	       n[IMP_CREATE] + n[IMP_OVERWRITE], l->n, o->path, n[IMP_CREATE],
	       n[IMP_OVERWRITE], n[IMP_SKIP]);
}

/* Every value, read back, equals the file's. Prints each that does not. */
static bool verify_all(const struct cli *cli, kw_client *c,
                       const struct imp_list *l)
{
	bool all = true;

	for (size_t i = 0; i < l->n; i++) {
		const struct imp_entry *e = &l->v[i];
		kw_secret *s = NULL;
		int r = kw_secret_get(c, e->name, &s);

		if (r < 0) {
			cli_msg(cli, e->name, "cannot read it back: %s",
			        kw_last_error_message(c)[0] ?
			                kw_last_error_message(c) :
			                kw_strerror(r));
			all = false;
			continue;
		}
		if (kw_secret_len(s) != e->len ||
		    sodium_memcmp(kw_secret_value(s), e->value, e->len) != 0) {
			cli_msg(cli, e->name,
			        "the store holds another value than the "
			        "file%s",
			        e->action == IMP_SKIP ? " (it was skipped)" :
			                                "");
			all = false;
		}
		kw_secret_free(s);
	}
	return all;
}

static bool same_file(const struct kw_filestamp *a,
                      const struct kw_filestamp *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec &&
	       a->ctime.tv_sec == b->ctime.tv_sec &&
	       a->ctime.tv_nsec == b->ctime.tv_nsec;
}

/* Overwrite fd's first size bytes with zeros and sync. 0 or -errno. */
static int zero_fill(int fd, off_t size)
{
	static const char zeros[65536];
	off_t done = 0;

	while (done < size) {
		size_t n = size - done > (off_t)sizeof(zeros) ?
		                   sizeof(zeros) :
		                   (size_t)(size - done);
		ssize_t w = pwrite(fd, zeros, n, done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		done += w;
	}
	return fsync(fd) < 0 ? -errno : 0;
}

/* The directory of path, synced so the unlink is durable. */
static void sync_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = !slash        ? strdup(".") :
	            slash == path ? strdup("/") :
	                            strndup(path, (size_t)(slash - path));
	int fd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(dir);
}

/* Zero and unlink the file that was read, if it still is that file. */
static int shred_file(const struct cli *cli, const char *path,
                      const struct kw_filestamp *read_stamp)
{
	struct kw_filestamp now;
	struct stat st;
	int fd, r;

	fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		cli_msg(cli, path, "not shredded: %s", strerror(errno));
		return CLI_EXIT_ERROR;
	}
	r = kw_filestamp_of(fd, &now);
	if (r < 0 || !same_file(&now, read_stamp)) {
		close(fd);
		cli_msg(cli, path,
		        "not shredded: the file changed since it was read");
		return CLI_EXIT_ERROR;
	}
	r = zero_fill(fd, now.size);
	close(fd);
	if (r < 0) {
		cli_msg(cli, path, "cannot overwrite it: %s", strerror(-r));
		return CLI_EXIT_ERROR;
	}
	if (lstat(path, &st) < 0 || st.st_ino != now.ino ||
	    st.st_dev != now.dev || unlink(path) < 0) {
		cli_msg(cli, path, "overwritten with zeros but not removed: %s",
		        errno ? strerror(errno) : "it was replaced");
		return CLI_EXIT_ERROR;
	}
	sync_parent(path);
	printf("shredded %s (overwritten with zeros, then removed)\n", path);
	return 0;
}

static int run_import(struct cli *cli, const struct import_opts *o,
                      struct imp_list *l, const struct kw_filestamp *stamp)
{
	kw_client *c = NULL;
	int ex = cli_connect(cli, KW_TIMEOUT_DEFAULT_MS, &c);

	if (ex == 0)
		ex = plan(cli, c, o, l);
	if (ex == 0 && o->dry_run)
		ex = dry_run(l);
	else if (ex == 0)
		ex = put_all(cli, c, l);
	if (ex == 0 && !o->dry_run)
		print_summary(o, l);
	if (ex == 0 && o->shred) {
		if (verify_all(cli, c, l)) {
			ex = shred_file(cli, o->path, stamp);
		} else {
			cli_msg(cli, o->path,
			        "not shredded: the store does not hold every "
			        "value of the file");
			ex = CLI_EXIT_ERROR;
		}
	}
	kw_close(c);
	return ex;
}

int cmd_import(struct cli *cli, int argc, char **argv)
{
	struct import_opts o = { .prefix = "" };
	struct imp_list l = { 0 };
	struct kw_filestamp stamp;
	int ex = parse_opts(cli, argc, argv, &o);

	if (ex != 0)
		return ex;
	if (kw_secmem_init() < 0) {
		cli_msg(cli, NULL, "cannot initialise libsodium");
		return CLI_EXIT_ERROR;
	}
	ex = imp_load(cli, o.path, o.format, o.prefix, &l, &stamp);
	if (ex != 0)
		return ex;
	if (l.problems) {
		cli_msg(cli, o.path,
		        "nothing imported: %u entr%s not valid (listed above)",
		        l.problems, l.problems == 1 ? "y is" : "ies are");
		ex = CLI_EXIT_ERROR;
	} else if (l.n == 0) {
		cli_msg(cli, o.path, "no entries; nothing to import");
	} else {
		ex = run_import(cli, &o, &l, &stamp);
	}
	imp_list_free(&l);
	return ex;
}
