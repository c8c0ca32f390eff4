/*
 * policy_parse.c - loading the .ini files of a policy directory (see
 * policy.h and policies/README.md).
 *
 * inih does the key = value lines; our line reader does the rest, because
 * this inih build copies section names into a 50-byte buffer (a 64-byte
 * client name would be cut short silently) and reads indented lines as
 * continuations of the previous value. The reader therefore parses every
 * [section] header itself, refuses indented lines and over-long lines, and
 * counts lines so each error names its FILE:LINE.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <ini.h>
#include <limits.h>
#include <pwd.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "glob.h"
#include "keyward.h"
#include "name.h"
#include "policy.h"
#include "policy_int.h"

enum parse_section { SEC_NONE, SEC_CLIENT, SEC_DEFAULTS };

struct policy_parse {
	struct policy *p;
	uid_t owner;
	const char *dir;
	const char *path; /* dir/file, for messages */
	const char *file; /* base name, as stored */
	FILE *f;
	char *err;
	size_t errsz;
	unsigned lines_read;
	unsigned fail_line;
	bool failed;
	int rc;
	enum parse_section sec;
	struct policy_client *cur; /* last of p->clients while in a client */
	uint32_t defaults_keys_seen;
};

__attribute__((format(printf, 4, 5))) static int
parse_fail(struct policy_parse *ps, unsigned line, int rc, const char *fmt, ...)
{
	char why[384];
	va_list ap;

	if (ps->failed)
		return 0;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (ps->errsz)
		snprintf(ps->err, ps->errsz, "%s:%u: %s", ps->path, line, why);
	ps->failed = true;
	ps->fail_line = line;
	ps->rc = rc;
	return 0;
}

/* A whole-string decimal in [0, 2^31]; false if v is not all digits. */
static bool parse_decimal_id(const char *v, unsigned long *ret)
{
	if (*v < '0' || *v > '9')
		return false;
	for (const char *s = v; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
	}
	errno = 0;
	char *end = NULL;
	unsigned long n = strtoul(v, &end, 10);
	if (errno != 0 || *end != '\0' || n > 2147483648UL)
		return false;
	*ret = n;
	return true;
}

/* Resolve a user (is_user) or group name. 0, KW_ENOTFOUND or KW_ENOMEM. */
static int lookup_id(const char *name, bool is_user, unsigned long *ret)
{
	long hint =
		sysconf(is_user ? _SC_GETPW_R_SIZE_MAX : _SC_GETGR_R_SIZE_MAX);
	size_t size = hint > 0 ? (size_t)hint : 16384;

	for (;;) {
		char *buf = malloc(size);
		int e;
		if (!buf)
			return KW_ENOMEM;
		if (is_user) {
			struct passwd pw, *res = NULL;
			e = getpwnam_r(name, &pw, buf, size, &res);
			if (e == 0 && res)
				*ret = res->pw_uid;
			else if (e == 0)
				e = ENOENT;
		} else {
			struct group gr, *res = NULL;
			e = getgrnam_r(name, &gr, buf, size, &res);
			if (e == 0 && res)
				*ret = res->gr_gid;
			else if (e == 0)
				e = ENOENT;
		}
		free(buf);
		if (e == ERANGE && size < (1u << 20)) {
			size *= 2;
			continue;
		}
		if (e == ENOMEM)
			return KW_ENOMEM;
		return e == 0 ? 0 : KW_ENOTFOUND;
	}
}

static int parse_id(struct policy_parse *ps, const char *key, const char *v,
                    bool is_user, unsigned long *ret)
{
	const char *what = is_user ? "user" : "group";

	if (parse_decimal_id(v, ret))
		return 1;
	if (*v >= '0' && *v <= '9')
		return parse_fail(ps, ps->lines_read, KW_ECONFIG,
		                  "%s: must be a number from 0 to 2147483648 "
		                  "or a %s name",
		                  key, what);
	if (*v == '\0' || strlen(v) > 255)
		return parse_fail(ps, ps->lines_read, KW_ECONFIG,
		                  "%s: must be a number or a %s name", key,
		                  what);
	int r = lookup_id(v, is_user, ret);
	if (r == KW_ENOMEM)
		return parse_fail(ps, ps->lines_read, KW_ENOMEM,
		                  "%s: out of memory", key);
	if (r < 0)
		return parse_fail(ps, ps->lines_read, KW_ECONFIG,
		                  "%s: unknown %s \"%s\"", key, what, v);
	return 1;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

static int parse_grant(struct policy_parse *ps, const char *key, const char *v,
                       struct policy_grant *g)
{
	g->line = ps->lines_read;
	if (*v == '\0')
		return 1; /* "read =" grants nothing, explicitly */
	g->buf = strdup(v);
	g->globs = calloc(POLICY_MAX_GLOBS, sizeof(*g->globs));
	if (!g->buf || !g->globs)
		return parse_fail(ps, ps->lines_read, KW_ENOMEM,
		                  "%s: out of memory", key);
	char *s = g->buf;
	for (;;) {
		char *comma = strchr(s, ',');
		if (comma)
			*comma = '\0';
		char *glob = trim(s);
		const char *why = NULL;
		if (g->count == POLICY_MAX_GLOBS)
			return parse_fail(ps, ps->lines_read, KW_ECONFIG,
			                  "%s: more than %u globs", key,
			                  POLICY_MAX_GLOBS);
		if (*glob == '\0')
			return parse_fail(
				ps, ps->lines_read, KW_ECONFIG,
				"%s: empty glob in the list (glob %zu)", key,
				g->count + 1);
		if (kw_glob_check(glob, &why) < 0)
			return parse_fail(ps, ps->lines_read, KW_ECONFIG,
			                  "%s: glob %zu: %s", key, g->count + 1,
			                  why);
		g->globs[g->count++] = glob;
		if (!comma)
			return 1;
		s = comma + 1;
	}
}

static int parse_bool(const char *v, bool *ret)
{
	if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0)
		*ret = true;
	else if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0)
		*ret = false;
	else
		return KW_EINVAL;
	return 0;
}

enum client_key {
	KEY_READ = POLICY_OP_READ,
	KEY_WRITE = POLICY_OP_WRITE,
	KEY_LIST = POLICY_OP_LIST,
	KEY_ROTATE = POLICY_OP_ROTATE,
	KEY_VERIFY = POLICY_OP_VERIFY,
	KEY_ADMIN,
	KEY_UID,
	KEY_GID,
	KEY_EXE,
	KEY_EXE_SHA256,
	KEY_TOKEN,
	KEY_RATE,
	KEY_COUNT
};

static const char *const client_keys[KEY_COUNT] = {
	"read", "write", "list", "rotate",     "verify", "admin",
	"uid",  "gid",   "exe",  "exe_sha256", "token",  "rate",
};

static int client_value(struct policy_parse *ps, enum client_key k,
                        const char *key, const char *v)
{
	struct policy_client *c = ps->cur;
	unsigned long id;
	const char *why = NULL;
	size_t binlen = 0;
	const char *end = NULL;

	switch (k) {
	case KEY_UID:
		if (!parse_id(ps, key, v, true, &id))
			return 0;
		c->uid = (uid_t)id;
		return 1;
	case KEY_GID:
		if (!parse_id(ps, key, v, false, &id))
			return 0;
		c->gid = (gid_t)id;
		c->has_gid = true;
		return 1;
	case KEY_EXE:
		if (policy_exe_check(v, &why) < 0)
			return parse_fail(ps, ps->lines_read, KW_ECONFIG,
			                  "%s: %s", key, why);
		c->exe = strdup(v);
		break;
	case KEY_EXE_SHA256:
		if (strlen(v) != 2 * POLICY_SHA256_BYTES ||
		    sodium_hex2bin(c->sha256, sizeof(c->sha256), v, strlen(v),
		                   NULL, &binlen, &end) != 0 ||
		    binlen != POLICY_SHA256_BYTES || *end != '\0')
			return parse_fail(ps, ps->lines_read, KW_ECONFIG,
			                  "%s: must be exactly 64 hex digits",
			                  key);
		c->has_sha256 = true;
		return 1;
	case KEY_TOKEN:
		if (kw_name_check(v, strlen(v), &why) < 0)
			return parse_fail(ps, ps->lines_read, KW_ECONFIG,
			                  "%s: a client token name %s", key,
			                  why);
		c->token = strdup(v);
		break;
	case KEY_ADMIN:
		if (parse_bool(v, &c->admin) < 0)
			return parse_fail(ps, ps->lines_read, KW_ECONFIG,
			                  "%s: must be yes, no, true or false",
			                  key);
		c->admin_line = ps->lines_read;
		return 1;
	case KEY_RATE:
		if (policy_rate_parse(v, &c->rate) < 0)
			return parse_fail(
				ps, ps->lines_read, KW_ECONFIG,
				"%s: must look like \"50/s\" or \"10/m "
				"burst 20\" (1 to 1000000 per s, m or "
				"h)",
				key);
		c->has_rate = true;
		return 1;
	case KEY_COUNT:
		return 0;
	default:
		return parse_grant(ps, key, v, &c->grants[k]);
	}
	if ((k == KEY_EXE && !c->exe) || (k == KEY_TOKEN && !c->token))
		return parse_fail(ps, ps->lines_read, KW_ENOMEM,
		                  "%s: out of memory", key);
	return 1;
}

static int policy_handler(void *user, const char *section, const char *name,
                          const char *value)
{
	struct policy_parse *ps = user;
	(void)section; /* ours, parsed by the reader, is not cut short */

	if (ps->failed)
		return 0;
	if (!name || !value)
		return parse_fail(ps, ps->lines_read, KW_ECONFIG,
		                  "expected key = value");
	if (ps->sec == SEC_NONE)
		return parse_fail(ps, ps->lines_read, KW_ECONFIG,
		                  "%s: key outside any section", name);
	if (ps->sec == SEC_DEFAULTS) {
		if (strcmp(name, "rate") != 0)
			return parse_fail(ps, ps->lines_read, KW_ECONFIG,
			                  "%s: unknown key in [defaults] (only "
			                  "rate)",
			                  name);
		if (ps->defaults_keys_seen)
			return parse_fail(ps, ps->lines_read, KW_ECONFIG,
			                  "%s: given twice in this section",
			                  name);
		ps->defaults_keys_seen = 1;
		if (policy_rate_parse(value, &ps->p->default_rate) < 0)
			return parse_fail(
				ps, ps->lines_read, KW_ECONFIG,
				"%s: must look like \"50/s\" or \"10/m "
				"burst 20\" (1 to 1000000 per s, m or "
				"h)",
				name);
		ps->p->has_default_rate = true;
		return 1;
	}
	for (int k = 0; k < KEY_COUNT; k++) {
		if (strcmp(name, client_keys[k]) != 0)
			continue;
		if (ps->cur->keys_seen & (1u << k))
			return parse_fail(ps, ps->lines_read, KW_ECONFIG,
			                  "%s: given twice in this section",
			                  name);
		ps->cur->keys_seen |= 1u << k;
		return client_value(ps, (enum client_key)k, name, value);
	}
	return parse_fail(ps, ps->lines_read, KW_ECONFIG,
	                  "%s: unknown key in a [client] section", name);
}

/* Checks that need the whole section. */
static int section_end(struct policy_parse *ps)
{
	struct policy_client *c = ps->cur;

	ps->sec = SEC_NONE;
	ps->cur = NULL;
	if (c && !c->exe && !c->token)
		return parse_fail(ps, c->line, KW_ECONFIG,
		                  "[client \"%s\"] needs exe or token (a uid "
		                  "alone would admit every program of that "
		                  "user)",
		                  c->name);
	return 1;
}

static int section_client(struct policy_parse *ps, const char *name, size_t len)
{
	struct policy *p = ps->p;
	const char *why = NULL;

	if (len > POLICY_CLIENT_NAME_MAX)
		return parse_fail(ps, ps->lines_read, KW_ECONFIG,
		                  "[client]: the name must be at most %u bytes",
		                  POLICY_CLIENT_NAME_MAX);
	if (kw_name_check(name, len, &why) < 0)
		return parse_fail(ps, ps->lines_read, KW_ECONFIG,
		                  "[client]: the name %s", why);
	for (size_t i = 0; i < p->nclients; i++) {
		const struct policy_client *o = &p->clients[i];
		if (strlen(o->name) == len && memcmp(o->name, name, len) == 0)
			return parse_fail(
				ps, ps->lines_read, KW_ECONFIG,
				"[client \"%s\"] is already defined at "
				"%s/%s:%u",
				o->name, ps->dir, o->file, o->line);
	}
	if (p->nclients == POLICY_MAX_SECTIONS)
		return parse_fail(ps, ps->lines_read, KW_ECONFIG,
		                  "more than %u sections", POLICY_MAX_SECTIONS);
	struct policy_client *grown =
		realloc(p->clients, (p->nclients + 1) * sizeof(*grown));
	if (!grown)
		return parse_fail(ps, ps->lines_read, KW_ENOMEM,
		                  "out of memory");
	p->clients = grown;
	struct policy_client *c = &p->clients[p->nclients++];
	memset(c, 0, sizeof(*c));
	memcpy(c->name, name, len);
	c->name[len] = '\0';
	c->file = ps->file;
	c->line = ps->lines_read;
	c->uid = ps->owner;
	ps->cur = c;
	ps->sec = SEC_CLIENT;
	return 1;
}

/* A "[...]" line (s at the '['): ends the previous section, starts one. */
static int section_start(struct policy_parse *ps, const char *s)
{
	const char *close = strchr(s, ']');

	if (!section_end(ps))
		return 0;
	if (!close)
		return parse_fail(ps, ps->lines_read, KW_ECONFIG,
		                  "section header without ']'");
	const char *after = close + 1;
	while (*after == ' ' || *after == '\t' || *after == '\r' ||
	       *after == '\n')
		after++;
	if (*after != '\0' && *after != ';' && *after != '#')
		return parse_fail(ps, ps->lines_read, KW_ECONFIG,
		                  "text after the section header");
	const char *in = s + 1;
	size_t len = (size_t)(close - in);
	if (len == 8 && memcmp(in, "defaults", 8) == 0) {
		if (ps->p->has_defaults)
			return parse_fail(ps, ps->lines_read, KW_ECONFIG,
			                  "[defaults] is already defined at "
			                  "%s/%s:%u",
			                  ps->dir, ps->p->defaults_file,
			                  ps->p->defaults_line);
		ps->p->has_defaults = true;
		ps->p->defaults_file = ps->file;
		ps->p->defaults_line = ps->lines_read;
		ps->sec = SEC_DEFAULTS;
		return 1;
	}
	if (len >= 9 && memcmp(in, "client \"", 8) == 0 && in[len - 1] == '"')
		return section_client(ps, in + 8, len - 9);
	return parse_fail(ps, ps->lines_read, KW_ECONFIG,
	                  "unknown section [%.*s] (expected [client \"NAME\"] "
	                  "or [defaults])",
	                  len > 80 ? 80 : (int)len, in);
}

/*
 * inih's fgets: one line into buf (size bytes with the NUL), counted. Reads
 * byte by byte so that a NUL byte or a line that does not fit is an error,
 * never a silently split line. Returns NULL at the end or after an error.
 */
static char *policy_reader(char *buf, int size, void *arg)
{
	struct policy_parse *ps = arg;
	size_t n = 0;
	int c = EOF;

	if (ps->failed || size < 2)
		return NULL;
	while (n + 1 < (size_t)size && (c = getc(ps->f)) != EOF) {
		buf[n++] = (char)c;
		if (c == '\n' || c == '\0')
			break;
	}
	if (n == 0) {
		if (ferror(ps->f))
			parse_fail(ps, ps->lines_read, KW_EIO,
			           "cannot read: %s", strerror(errno));
		return NULL;
	}
	buf[n] = '\0';
	ps->lines_read++;
	if (c == '\0') {
		parse_fail(ps, ps->lines_read, KW_ECONFIG,
		           "NUL byte in the line");
		return NULL;
	}
	/* A full buffer without its newline is a line too long, even the
	 * last line of the file, so the limit is the same everywhere. */
	if (buf[n - 1] != '\n' && n + 1 == (size_t)size) {
		parse_fail(ps, ps->lines_read, KW_ECONFIG,
		           "line longer than %d characters", size - 2);
		return NULL;
	}
	const char *s = buf;
	if (ps->lines_read == 1 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3;
	const char *t = s;
	while (*t == ' ' || *t == '\t' || *t == '\r' || *t == '\n' ||
	       *t == '\v' || *t == '\f')
		t++;
	if (*t == '\0' || *t == ';' || *t == '#')
		return buf;
	if (t != s) {
		parse_fail(ps, ps->lines_read, KW_ECONFIG,
		           "indented line (keyward reads no continuation "
		           "lines; start every key and section at column 1)");
		return NULL;
	}
	if (*t == '[' && !section_start(ps, t))
		return NULL;
	return buf;
}

static int check_owner(const char *what, const struct stat *st, uid_t owner,
                       char *err, size_t errsz)
{
	const char *why = NULL;

	if (st->st_uid != owner)
		why = "is not owned by the agent's uid";
	else if (st->st_mode & (S_IWGRP | S_IWOTH))
		why = "is writable by group or others";
	if (!why)
		return 0;
	if (errsz)
		snprintf(err, errsz, "%s: %s (owner uid %lu, mode %03o)", what,
		         why, (unsigned long)st->st_uid,
		         (unsigned)(st->st_mode & 0777));
	return KW_EPERM;
}

static int load_file(struct policy_parse *ps, int dfd)
{
	char path[PATH_MAX + 256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", ps->dir, ps->file);
	ps->path = path;
	ps->lines_read = 0;
	ps->sec = SEC_NONE;
	ps->cur = NULL;
	ps->defaults_keys_seen = 0;

	int fd = openat(dfd, ps->file,
	                O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK |
	                        O_NOCTTY);
	if (fd < 0) {
		int e = errno;
		if (ps->errsz)
			snprintf(ps->err, ps->errsz, "%s: %s", path,
			         e == ELOOP ? "is a symbolic link" :
			                      strerror(e));
		return e == ELOOP ? KW_EPERM : KW_EIO;
	}
	if (fstat(fd, &st) < 0) {
		close(fd);
		snprintf(ps->err, ps->errsz, "%s: cannot stat", path);
		return KW_EIO;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(ps->err, ps->errsz, "%s: is not a regular file", path);
		return KW_EPERM;
	}
	int r = check_owner(path, &st, ps->owner, ps->err, ps->errsz);
	if (r < 0) {
		close(fd);
		return r;
	}
	ps->f = fdopen(fd, "r");
	if (!ps->f) {
		close(fd);
		return KW_ENOMEM;
	}
	int line = ini_parse_stream(policy_reader, ps, policy_handler, ps);
	fclose(ps->f);
	ps->f = NULL;
	if (line > 0 && (!ps->failed || (unsigned)line < ps->fail_line)) {
		snprintf(ps->err, ps->errsz,
		         "%s:%d: syntax error (expected [section], key = value "
		         "or a comment)",
		         path, line);
		return KW_ECONFIG;
	}
	if (!ps->failed)
		section_end(ps);
	if (ps->failed)
		return ps->rc;
	if (line != 0) {
		snprintf(ps->err, ps->errsz, "%s: cannot parse (%s)", path,
		         line == -2 ? "out of memory" : "read error");
		return line == -2 ? KW_ENOMEM : KW_EIO;
	}
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool wanted_file(const char *name)
{
	size_t n = strlen(name);
	/* Dot files are editor state (emacs locks are even symlinks named
	 * .#x.ini); only visible *.ini files are policy. */
	return name[0] != '.' && n > 4 && strcmp(name + n - 4, ".ini") == 0;
}

/* The sorted *.ini names of d into p->files. */
static int list_files(DIR *d, const char *dir, struct policy *p, char *err,
                      size_t errsz)
{
	struct dirent *de;
	size_t cap = 0;

	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (!wanted_file(de->d_name))
			continue;
		if (p->nfiles == POLICY_MAX_FILES) {
			snprintf(err, errsz, "%s: more than %u policy files",
			         dir, POLICY_MAX_FILES);
			return KW_ECONFIG;
		}
		if (p->nfiles == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char **grown = realloc(p->files, ncap * sizeof(*grown));
			if (!grown)
				return KW_ENOMEM;
			p->files = grown;
			cap = ncap;
		}
		p->files[p->nfiles] = strdup(de->d_name);
		if (!p->files[p->nfiles])
			return KW_ENOMEM;
		p->nfiles++;
		errno = 0;
	}
	if (errno != 0) {
		snprintf(err, errsz, "%s: cannot list: %s", dir,
		         strerror(errno));
		return KW_EIO;
	}
	if (p->nfiles > 1)
		qsort(p->files, p->nfiles, sizeof(*p->files), name_cmp);
	return 0;
}

static int open_dir(const char *dir, uid_t owner, DIR **ret_dir, char *err,
                    size_t errsz)
{
	struct stat st;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0) {
		int e = errno;
		if (e == ENOENT) {
			snprintf(err, errsz, "%s: no such directory", dir);
			return KW_ENOTFOUND;
		}
		snprintf(err, errsz, "%s: %s", dir,
		         e == ELOOP || e == ENOTDIR ?
		                 "is not a directory (or is a symbolic link)" :
		                 strerror(e));
		return e == ELOOP || e == ENOTDIR ? KW_EPERM : KW_EIO;
	}
	if (fstat(fd, &st) < 0) {
		close(fd);
		snprintf(err, errsz, "%s: cannot stat", dir);
		return KW_EIO;
	}
	int r = check_owner(dir, &st, owner, err, errsz);
	if (r < 0) {
		close(fd);
		return r;
	}
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return KW_ENOMEM;
	}
	*ret_dir = d;
	return 0;
}

int policy_load_dir(const char *dir, uid_t owner, policy **ret_policy,
                    char *err, size_t errsz)
{
	char dummy[1];
	DIR *d = NULL;

	if (!err || errsz == 0) {
		err = dummy;
		errsz = sizeof(dummy);
	}
	err[0] = '\0';
	if (!dir || !ret_policy)
		return KW_EINVAL;
	int r = open_dir(dir, owner, &d, err, errsz);
	if (r < 0)
		return r;
	struct policy *p = calloc(1, sizeof(*p));
	if (!p) {
		closedir(d);
		return KW_ENOMEM;
	}
	r = list_files(d, dir, p, err, errsz);
	struct policy_parse ps = {
		.p = p, .owner = owner, .dir = dir, .err = err, .errsz = errsz
	};
	for (size_t i = 0; r == 0 && i < p->nfiles; i++) {
		ps.file = p->files[i];
		r = load_file(&ps, dirfd(d));
	}
	closedir(d);
	if (r < 0) {
		if (r == KW_ENOMEM && err[0] == '\0')
			snprintf(err, errsz, "%s: out of memory", dir);
		policy_free(p);
		return r;
	}
	*ret_policy = p;
	return 0;
}
