/*
 * init.c - keywardd --init and --check-image (see init.h).
 *
 * Both run before any agent state exists and exit when done: no socket,
 * no event loop, no log file. What went wrong goes to stderr as one
 * sentence naming the file and the reason, never a key or a passphrase.
 */
#include "init.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "config.h"
#include "crypto.h"
#include "fsguard.h"
#include "keyward.h"
#include "paths.h"
#include "secmem.h"
#include "store.h"

/* What the integrity check of a backup's image may take. */
#define INIT_CHECK_MS 30000

_Static_assert(KEY_PASS_MAX == KW_PASS_MAX,
               "the CLI bounds a passphrase as keywardd does");

struct init_paths {
	char ini[KW_PATH_MAX];
	char db[KW_PATH_MAX];
	char key[KW_PATH_MAX];
};

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
	va_list ap;

	fputs("keywardd: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static bool join(char *out, const char *dir, const char *leaf)
{
	int n = snprintf(out, KW_PATH_MAX, "%s/%s", dir, leaf);

	return n > 0 && n < KW_PATH_MAX;
}

/* The home's paths, after checking that it is ours and private. */
static int paths_resolve(const char *home, const char *config,
                         struct init_paths *ret)
{
	char why[KW_PATH_MAX + 128];
	int r;

	if (!home || home[0] != '/' || !join(ret->db, home, "secrets.db") ||
	    !join(ret->key, home, "master.key") ||
	    !join(ret->ini, home, "keyward.ini") ||
	    (config && snprintf(ret->ini, sizeof(ret->ini), "%s", config) >=
	                       (int)sizeof(ret->ini))) {
		say("--home must be a short absolute path");
		return KW_EINVAL;
	}
	r = fsguard_dir(home, geteuid(), 0, 0, why, sizeof(why));
	if (r < 0)
		say("%s; refusing to use it", why);
	return r;
}

/* unlock sends the passphrase as a JSON string: one that is not UTF-8
 * could be set here but never sent. jansson's copy is wiped on release
 * (kw_secmem_init). */
static bool passphrase_utf8(const char *pass, size_t len)
{
	json_t *s = json_stringn(pass, len);

	json_decref(s);
	return s != NULL;
}

int init_read_passphrase(int fd, char **ret_pass, size_t *ret_len)
{
	const size_t bufsz = KEY_PASS_MAX + 2;
	char *buf = kw_wipealloc(bufsz);
	size_t len = 0;
	int r = 0;

	if (!buf)
		return KW_ENOMEM;
	while (len < bufsz - 1 && !memchr(buf, '\n', len)) {
		ssize_t n = read(fd, buf + len, bufsz - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			say("cannot read the passphrase from fd %d: %s", fd,
			    strerror(errno));
			r = KW_EIO;
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	char *nl = memchr(buf, '\n', len);
	if (nl)
		len = (size_t)(nl - buf);
	buf[len] = '\0';
	if (len > KEY_PASS_MAX) {
		say("passphrase longer than %u bytes", KEY_PASS_MAX);
		r = KW_ETOOBIG;
	} else if (len == 0) {
		say("no passphrase on fd %d", fd);
		r = KW_EINVAL;
	} else if (strlen(buf) != len) {
		say("passphrase contains a NUL byte");
		r = KW_EINVAL;
	} else if (!passphrase_utf8(buf, len)) {
		say("the passphrase must be valid UTF-8");
		r = KW_EINVAL;
	}
	if (r < 0)
		goto fail;
	*ret_pass = buf;
	*ret_len = len;
	return 0;

fail:
	kw_wipefree(buf);
	return r;
}

/* keyward.ini as the agent takes it: ours, not writable by others. */
static int config_read(const char *ini, kw_config *ret)
{
	char err[512] = "";
	struct stat st;
	int r;

	if (lstat(ini, &st) == 0 &&
	    (!S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	     (st.st_mode & 022))) {
		say("%s must be a regular file of yours that group and others "
		    "cannot write (chmod 600 %s)",
		    ini, ini);
		return KW_EPERM;
	}
	r = config_load(ini, ret, err, sizeof(err));
	if (r < 0)
		say("%s", err[0] ? err : kw_strerror(r));
	return r;
}

/* Remove a half-made store: a later init starts clean. */
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

/* The key-encryption key and the wrap header for the chosen mode. */
static int make_kek(const struct init_paths *p, const kw_config *cfg,
                    int pass_fd, wrapped_key *w, kw_key **ret_kek)
{
	char *pass = NULL;
	size_t len = 0;
	int r;

	if (pass_fd < 0) {
		w->mode = KEY_WRAP_KEYFILE;
		r = keyfile_create(p->key, ret_kek);
		if (r == KW_EEXIST)
			say("%s already exists (left from an earlier store?); "
			    "move it away first",
			    p->key);
		else if (r < 0)
			say("cannot create %s: %s", p->key, kw_strerror(r));
		return r;
	}
	r = init_read_passphrase(pass_fd, &pass, &len);
	if (r < 0)
		return r;
	w->mode = KEY_WRAP_PASSPHRASE;
	randombytes_buf(w->salt, sizeof(w->salt));
	w->opslimit = cfg->kdf_opslimit;
	w->memlimit = cfg->kdf_memlimit;
	r = key_from_passphrase(pass, len, w->salt, w->opslimit, w->memlimit,
	                        ret_kek);
	kw_wipefree(pass);
	if (r < 0)
		say("cannot derive a key from the passphrase: %s (check [kdf] "
		    "in %s)",
		    kw_strerror(r), p->ini);
	return r;
}

int init_store_create(const char *home, const char *config, int pass_fd)
{
	struct init_paths p;
	wrapped_key w = { 0 };
	kw_key *kek = NULL, *dk = NULL;
	kw_config cfg;
	store *st = NULL;
	int r;

	if ((r = paths_resolve(home, config, &p)) < 0 ||
	    (r = config_read(p.ini, &cfg)) < 0 ||
	    (r = make_kek(&p, &cfg, pass_fd, &w, &kek)) < 0)
		return r;
	r = key_random(&dk);
	if (r == 0)
		r = key_wrap(kek, dk, &w);
	if (r < 0) {
		say("cannot make the data key: %s", kw_strerror(r));
		goto fail;
	}
	r = store_open(p.db, STORE_CREATE, &st);
	if (r == 0)
		r = store_wrap_set(st, &w);
	if (r < 0) {
		say("cannot create %s: %s", p.db, kw_strerror(r));
		/* Another init won the race: its store is not ours to
		 * remove. */
		if (r == KW_EEXIST && !st)
			goto fail;
		goto fail_store;
	}
	store_close(st);
	key_free(dk);
	key_free(kek);
	sodium_memzero(&w, sizeof(w));
	return 0;

fail_store:
	store_close(st);
	remove_store(p.db);
fail:
	if (pass_fd < 0)
		unlink(p.key);
	key_free(dk);
	key_free(kek);
	sodium_memzero(&w, sizeof(w));
	return r;
}

/* Open the image as the agent will and take its wrap; "image" on
 * failure. */
static int image_wrap(const char *path, unsigned min_schema,
                      wrapped_key *ret_wrap)
{
	char detail[200] = "";
	store *st = NULL;
	int schema = 0;
	int r = store_open(path, STORE_OPEN_EXISTING, &st);

	if (r == 0)
		r = store_quick_check(st, INIT_CHECK_MS, detail,
		                      sizeof(detail));
	if (r == 0)
		r = store_schema_version(st, &schema);
	if (r == 0 && (schema < 0 || (unsigned)schema < min_schema))
		r = KW_EDAMAGED;
	if (r == 0)
		r = store_wrap_get(st, ret_wrap);
	store_close(st);
	if (r < 0) {
		for (char *c = detail; *c; c++) {
			if (*c == '\n' || *c == '\r')
				*c = ' ';
		}
		printf("image %d %s\n", r, detail);
	}
	return r;
}

/* The home's key against the wrap; "key MODE ERRNO" on failure. */
static int image_key(const struct init_paths *p, const wrapped_key *w,
                     int pass_fd)
{
	const bool keyfile = w->mode == KEY_WRAP_KEYFILE;
	kw_key *kek = NULL, *dk = NULL;
	char *pass = NULL;
	size_t len = 0;
	int r;

	if (keyfile) {
		r = keyfile_read(p->key, &kek);
	} else {
		puts("passphrase");
		fflush(stdout);
		if (pass_fd < 0) {
			say("the image is protected by a passphrase: give it "
			    "with --passphrase-fd N");
			r = KW_EINVAL;
		} else {
			r = init_read_passphrase(pass_fd, &pass, &len);
		}
		if (r == 0)
			r = key_from_passphrase(pass, len, w->salt, w->opslimit,
			                        w->memlimit, &kek);
		kw_wipefree(pass);
	}
	if (r == 0)
		r = key_unwrap(kek, w, &dk);
	key_free(kek);
	key_free(dk);
	if (r < 0)
		printf("key %s %d\n", keyfile ? "keyfile" : "passphrase", r);
	return r;
}

int init_image_check(const char *home, const char *path, unsigned min_schema,
                     int pass_fd, unsigned flags)
{
	struct init_paths p;
	wrapped_key w;
	int r;

	if ((r = paths_resolve(home, NULL, &p)) < 0)
		return r;
	if (!path || path[0] != '/') {
		say("--check-image needs an absolute path");
		return KW_EINVAL;
	}
	r = image_wrap(path, min_schema, &w);
	if (r == 0 && !(flags & INIT_CHECK_NO_KEY))
		r = image_key(&p, &w, pass_fd);
	sodium_memzero(&w, sizeof(w));
	if (r == 0)
		puts("ok");
	return fflush(stdout) == 0 ? r : KW_EIO;
}
