/*
 * rotspec.c - rotator specifications (see rotspec.h).
 *
 * The sentences in *why never quote the spec: a value pasted into the
 * wrong field may be a secret.
 */
#include "rotspec.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apikey.h"
#include "keyward.h"
#include "secmem.h"

#define LITERAL_LEN(s) (sizeof(s) - 1u)
#define SYMLINKS_MAX   40u /* as Linux allows in one resolution */

static int rs_fail(const char **why, int err, const char *sentence)
{
	if (why)
		*why = sentence;
	return err;
}

static bool rs_has_prefix(const char *s, size_t len, const char *prefix,
                          size_t prefix_len)
{
	return len >= prefix_len && memcmp(s, prefix, prefix_len) == 0;
}

static bool rs_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool rs_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool rs_hex(char c)
{
	return rs_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static char rs_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Is the segment s[0..n) "." or ".."? */
static bool rs_dot_segment(const char *s, size_t n)
{
	return (n == 1 && s[0] == '.') ||
	       (n == 2 && s[0] == '.' && s[1] == '.');
}

/* random: ------------------------------------------------------------- */

static const struct {
	const char *name;
	enum rotspec_format format;
} rs_formats[] = {
	{ "raw", ROTSPEC_RAW },
	{ "hex", ROTSPEC_HEX },
	{ "base64url", ROTSPEC_BASE64URL },
	{ "apikey", ROTSPEC_APIKEY },
};
#define RS_NFORMATS (sizeof(rs_formats) / sizeof(rs_formats[0]))

static int rs_parse_random(const char *p, size_t n, rotspec *r,
                           const char **why)
{
	size_t i = 0;
	uint32_t bytes = 0;

	if (n == 0 || !rs_digit(p[0]))
		return rs_fail(why, KW_EINVAL,
		               "random: needs a number of bytes, 1 to 4096");
	/* Leading zeros are accepted; the value is bounded as it grows. */
	for (; i < n && rs_digit(p[i]); i++) {
		bytes = bytes * 10u + (uint32_t)(p[i] - '0');
		if (bytes > ROTSPEC_RANDOM_MAX)
			return rs_fail(why, KW_EINVAL,
			               "random: takes 1 to 4096 bytes");
	}
	if (bytes == 0)
		return rs_fail(why, KW_EINVAL, "random: takes 1 to 4096 bytes");
	enum rotspec_format format = ROTSPEC_RAW;
	if (i < n) {
		size_t k = RS_NFORMATS;
		if (p[i] == ':') {
			const char *f = p + i + 1;
			size_t flen = n - i - 1;
			for (k = 0; k < RS_NFORMATS; k++) {
				if (strlen(rs_formats[k].name) == flen &&
				    memcmp(rs_formats[k].name, f, flen) == 0)
					break;
			}
		}
		if (k == RS_NFORMATS)
			return rs_fail(why, KW_EINVAL,
			               "random:N may be followed only by :raw, "
			               ":hex, :base64url or :apikey");
		format = rs_formats[k].format;
	}
	if (format == ROTSPEC_APIKEY && bytes < 16)
		return rs_fail(why, KW_EINVAL,
		               "the apikey format needs at least 16 bytes");
	if (format == ROTSPEC_APIKEY &&
	    kw_apikey_body_len(bytes) > KW_APIKEY_BODY_MAX)
		return rs_fail(why, KW_EINVAL,
		               "the apikey format takes at most 762 bytes");
	r->kind = ROTSPEC_RANDOM;
	r->bytes = bytes;
	r->format = format;
	return 0;
}

/* command: ------------------------------------------------------------ */

static int rs_parse_command(const char *p, size_t n, rotspec *r,
                            const char **why)
{
	if (n == 0 || p[0] != '/')
		return rs_fail(why, KW_EINVAL,
		               "command: needs an absolute path");
	size_t seg = 1;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && (p[i] < 0x20 || p[i] > 0x7e))
			return rs_fail(why, KW_EINVAL,
			               "the command path must be printable "
			               "ASCII");
		if (i < n && p[i] != '/')
			continue;
		if (rs_dot_segment(p + seg, i - seg))
			return rs_fail(why, KW_EINVAL,
			               "the command path must not contain . "
			               "or .. segments");
		seg = i + 1;
	}
	r->kind = ROTSPEC_COMMAND;
	memcpy(r->target, p, n);
	r->target[n] = '\0';
	return 0;
}

/* webhook: ------------------------------------------------------------ */

/* Characters RFC 3986 allows literally in a path and query. */
static bool rs_url_char(char c)
{
	return rs_alpha(c) || rs_digit(c) ||
	       (c != '\0' && strchr("-._~!$&'()*+,;=:@/?", c));
}

/* The bracketed IPv6 literal u[0..n) (with brackets) is valid. */
static bool rs_ipv6_ok(const char *u, size_t n)
{
	char buf[INET6_ADDRSTRLEN];
	struct in6_addr a;

	if (n < 4 || n - 2 >= sizeof(buf))
		return false;
	memcpy(buf, u + 1, n - 2);
	buf[n - 2] = '\0';
	/* inet_pton refuses zone ids ("%25eth0") and IPvFuture ("v1.x"). */
	return inet_pton(AF_INET6, buf, &a) == 1;
}

/* Check the host at a[0..n); *ret_host_len is where it ends. */
static int rs_url_host(const char *a, size_t n, size_t *ret_host_len,
                       const char **why)
{
	size_t h = 0;

	if (n > 0 && a[0] == '[') {
		const char *close = memchr(a, ']', n);
		if (!close || !rs_ipv6_ok(a, (size_t)(close - a) + 1))
			return rs_fail(why, KW_EINVAL,
			               "the webhook URL's IPv6 host is not a "
			               "valid address in brackets");
		*ret_host_len = (size_t)(close - a) + 1;
		return 0;
	}
	for (; h < n && a[h] != ':'; h++) {
		if (!rs_alpha(a[h]) && !rs_digit(a[h]) && a[h] != '.' &&
		    a[h] != '-' && a[h] != '_')
			return rs_fail(why, KW_EINVAL,
			               "the webhook URL's host may have only "
			               "letters, digits, '.', '-' and '_'");
	}
	if (h == 0)
		return rs_fail(why, KW_EINVAL, "the webhook URL needs a host");
	*ret_host_len = h;
	return 0;
}

/* ":port" at a[0..n) (n may be 0: no port); *ret_port 0 if none. */
static int rs_url_port(const char *a, size_t n, unsigned *ret_port,
                       const char **why)
{
	unsigned port = 0;

	if (n == 0) {
		*ret_port = 0;
		return 0;
	}
	if (a[0] != ':')
		return rs_fail(why, KW_EINVAL,
		               "only :port may follow the webhook URL's host");
	if (n == 1)
		return rs_fail(why, KW_EINVAL,
		               "the webhook URL's port must be 1 to 65535");
	for (size_t i = 1; i < n; i++) {
		if (!rs_digit(a[i]))
			return rs_fail(why, KW_EINVAL,
			               "the webhook URL's port must be 1 to "
			               "65535");
		port = port * 10u + (unsigned)(a[i] - '0');
		if (port > 65535u)
			return rs_fail(why, KW_EINVAL,
			               "the webhook URL's port must be 1 to "
			               "65535");
	}
	if (port == 0)
		return rs_fail(why, KW_EINVAL,
		               "the webhook URL's port must be 1 to 65535");
	*ret_port = port;
	return 0;
}

/* Path and query: RFC 3986 characters, '%' only as %XX. */
static int rs_url_rest(const char *p, size_t n, const char **why)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '%') {
			if (n - i < 3 || !rs_hex(p[i + 1]) || !rs_hex(p[i + 2]))
				return rs_fail(why, KW_EINVAL,
				               "a '%' in the webhook URL must "
				               "start a %XX escape");
			i += 2;
		} else if (!rs_url_char(p[i])) {
			return rs_fail(why, KW_EINVAL,
			               "the webhook URL has a character that "
			               "must be percent-encoded");
		}
	}
	return 0;
}

static int rs_parse_webhook(const char *u, size_t n, rotspec *r,
                            const char **why)
{
	size_t scheme_len;

	for (size_t i = 0; i < n; i++) {
		if (u[i] <= 0x20 || u[i] >= 0x7f)
			return rs_fail(
				why, KW_EINVAL,
				"the webhook URL must be printable ASCII "
				"without spaces");
	}
	if (memchr(u, '#', n))
		return rs_fail(why, KW_EINVAL,
		               "the webhook URL must not have a fragment");
	if (n >= 8 && strncasecmp(u, "https://", 8) == 0)
		scheme_len = 5;
	else if (n >= 7 && strncasecmp(u, "http://", 7) == 0)
		scheme_len = 4;
	else
		return rs_fail(why, KW_EINVAL,
		               "the webhook URL must start with https:// or "
		               "http://");
	const char *a = u + scheme_len + 3;
	size_t rest = n - scheme_len - 3;
	size_t alen = 0;
	while (alen < rest && a[alen] != '/' && a[alen] != '?')
		alen++;
	if (memchr(a, '@', alen))
		return rs_fail(why, KW_EINVAL,
		               "the webhook URL must not contain a user name "
		               "or password");
	size_t hlen;
	unsigned port;
	int rc = rs_url_host(a, alen, &hlen, why);
	if (rc == 0)
		rc = rs_url_port(a + hlen, alen - hlen, &port, why);
	if (rc == 0)
		rc = rs_url_rest(a + alen, rest - alen, why);
	if (rc < 0)
		return rc;

	/* Canonical: scheme and host in lower case, the port without
	 * leading zeros. It is never longer than the input. */
	char *t = r->target;
	size_t len = 0;
	for (size_t i = 0; i < scheme_len; i++)
		t[len++] = rs_lower(u[i]);
	memcpy(t + len, "://", 3);
	len += 3;
	for (size_t i = 0; i < hlen; i++)
		t[len++] = rs_lower(a[i]);
	if (port) {
		int w = snprintf(t + len, sizeof(r->target) - len, ":%u", port);
		len += (size_t)w;
	}
	memcpy(t + len, a + alen, rest - alen);
	len += rest - alen;
	t[len] = '\0';
	r->kind = ROTSPEC_WEBHOOK;
	return 0;
}

int rotspec_parse(const char *spec, size_t len, rotspec *ret, const char **why)
{
	static const char random_p[] = "random:", command_p[] = "command:",
			  webhook_p[] = "webhook:";
	rotspec r;
	int rc;

	if (!spec || len == 0)
		return rs_fail(why, KW_EINVAL,
		               "a rotator spec must not be empty");
	if (len > ROTSPEC_MAX)
		return rs_fail(why, KW_EINVAL,
		               "a rotator spec is at most 1024 bytes");
	memset(&r, 0, sizeof(r));
	if (rs_has_prefix(spec, len, random_p, LITERAL_LEN(random_p)))
		rc = rs_parse_random(spec + LITERAL_LEN(random_p),
		                     len - LITERAL_LEN(random_p), &r, why);
	else if (rs_has_prefix(spec, len, command_p, LITERAL_LEN(command_p)))
		rc = rs_parse_command(spec + LITERAL_LEN(command_p),
		                      len - LITERAL_LEN(command_p), &r, why);
	else if (rs_has_prefix(spec, len, webhook_p, LITERAL_LEN(webhook_p)))
		rc = rs_parse_webhook(spec + LITERAL_LEN(webhook_p),
		                      len - LITERAL_LEN(webhook_p), &r, why);
	else
		rc = rs_fail(why, KW_EINVAL,
		             "a rotator spec starts with random:, command: "
		             "or webhook:");
	if (rc == 0)
		*ret = r;
	/* A URL or path that failed half-way may be a misplaced secret. */
	sodium_memzero(&r, sizeof(r));
	return rc;
}

void rotspec_format_spec(const rotspec *r, char *out, size_t outsz)
{
	if (!out || outsz == 0)
		return;
	out[0] = '\0';
	switch (r->kind) {
	case ROTSPEC_RANDOM:
		for (size_t k = 0; k < RS_NFORMATS; k++) {
			if (rs_formats[k].format != r->format)
				continue;
			/* raw is the default and is left out. */
			if (r->format == ROTSPEC_RAW)
				snprintf(out, outsz, "random:%u",
				         (unsigned)r->bytes);
			else
				snprintf(out, outsz, "random:%u:%s",
				         (unsigned)r->bytes,
				         rs_formats[k].name);
		}
		break;
	case ROTSPEC_COMMAND:
		snprintf(out, outsz, "command:%s", r->target);
		break;
	case ROTSPEC_WEBHOOK:
		snprintf(out, outsz, "webhook:%s", r->target);
		break;
	}
}

/* rotspec_check_command ------------------------------------------------ */

/*
 * The path is resolved one component at a time, as the kernel will when
 * it runs the command, and every directory the resolution passes through
 * is checked, those holding symbolic links included: whoever can write a
 * directory can replace what is in it, a link pointing elsewhere too.
 * ("The final file and its directory" alone would miss a writable parent,
 * or a link in a writable directory.) So symlinks are followed, but:
 *
 *  - every directory passed through is owned by root or the owner, and
 *    writable by neither group nor others, unless it is sticky: then only
 *    an entry's owner can replace it, and every entry gone through is
 *    checked to be owned by root or the owner (this lets a command live
 *    in a private directory under /tmp);
 *  - the command's own directory is not group/other-writable even if
 *    sticky (rotspec.h): a command that is removed would leave its name
 *    free for anyone to take;
 *  - every link followed is owned by root or the owner;
 *  - the file is regular, owned by root or the owner, not writable by
 *    group or others, and executable by its owner.
 *
 * The agent repeats the check before every run, so a path that later
 * changes hands is refused then.
 */
struct rs_walk {
	unsigned owner;
	const char **why;
	char dir[PATH_MAX]; /* resolved, symlink-free and checked; "" is / */
	size_t dir_len;
	char rest[PATH_MAX]; /* components still to resolve */
	char link[PATH_MAX]; /* the symlink being followed */
	char tmp[PATH_MAX];  /* its target */
	unsigned links;
};

static int rs_stat_fail(const struct rs_walk *w, int err)
{
	switch (err) {
	case ENOENT:
	case ENOTDIR:
		return rs_fail(w->why, KW_ENOTFOUND,
		               "the command or a directory on its path does "
		               "not exist");
	case EACCES:
		return rs_fail(w->why, KW_EPERM,
		               "a directory on the command's path cannot be "
		               "searched");
	case ENAMETOOLONG:
		return rs_fail(w->why, KW_EINVAL,
		               "the command path is too long");
	default:
		return rs_fail(w->why, KW_EIO,
		               "the command's path could not be examined");
	}
}

static bool rs_owner_ok(const struct rs_walk *w, const struct stat *st)
{
	return st->st_uid == 0 || st->st_uid == w->owner;
}

static int rs_check_dir(const struct rs_walk *w, const struct stat *st)
{
	if (!rs_owner_ok(w, st))
		return rs_fail(w->why, KW_EPERM,
		               "a directory on the command's path is owned "
		               "by neither root nor the agent's user");
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !(st->st_mode & S_ISVTX))
		return rs_fail(w->why, KW_EPERM,
		               "a directory on the command's path is "
		               "writable by group or others");
	return 0;
}

static int rs_check_file(const struct rs_walk *w, const struct stat *st)
{
	struct stat d;

	if (!S_ISREG(st->st_mode))
		return rs_fail(w->why, KW_EPERM,
		               "the command is not a regular file");
	if (!rs_owner_ok(w, st))
		return rs_fail(w->why, KW_EPERM,
		               "the command is owned by neither root nor the "
		               "agent's user");
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return rs_fail(w->why, KW_EPERM,
		               "the command is writable by group or others");
	if (!(st->st_mode & S_IXUSR))
		return rs_fail(w->why, KW_EPERM,
		               "the command is not executable by its owner");
	if (st->st_mode & (S_ISUID | S_ISGID))
		return rs_fail(w->why, KW_EPERM,
		               "the command is setuid or setgid");
	if (lstat(w->dir_len ? w->dir : "/", &d) != 0)
		return rs_stat_fail(w, errno);
	if (d.st_mode & (S_IWGRP | S_IWOTH))
		return rs_fail(w->why, KW_EPERM,
		               "the command's directory is writable by group "
		               "or others (sticky or not)");
	return 0;
}

/* Replace the component just read (the symlink w->link, whose lstat is
 * st) by its target, followed by `remaining` (a suffix of w->rest). */
static int rs_follow(struct rs_walk *w, const struct stat *st,
                     const char *remaining)
{
	if (!rs_owner_ok(w, st))
		return rs_fail(w->why, KW_EPERM,
		               "a symbolic link on the command's path is "
		               "owned by neither root nor the agent's user");
	if (++w->links > SYMLINKS_MAX)
		return rs_fail(w->why, KW_EINVAL,
		               "the command path has too many symbolic links");
	ssize_t n = readlink(w->link, w->tmp, sizeof(w->tmp));
	if (n < 0)
		return rs_stat_fail(w, errno);
	if (n == 0 || (size_t)n >= sizeof(w->tmp))
		return rs_fail(w->why, KW_EINVAL,
		               "the command path is too long");
	size_t rlen = strlen(remaining);
	if ((size_t)n + 1 + rlen >= sizeof(w->rest))
		return rs_fail(w->why, KW_EINVAL,
		               "the command path is too long");
	/* memmove: remaining lies in w->rest, which is rewritten. */
	memmove(w->rest + n + (rlen ? 1 : 0), remaining, rlen + 1);
	memcpy(w->rest, w->tmp, (size_t)n);
	if (rlen)
		w->rest[n] = '/';
	if (w->tmp[0] == '/')
		w->dir_len = 0;
	w->dir[w->dir_len] = '\0';
	return 0;
}

/* Go up from w->dir (a ".." in a link's target). */
static void rs_up(struct rs_walk *w)
{
	while (w->dir_len > 0 && w->dir[w->dir_len - 1] != '/')
		w->dir_len--;
	if (w->dir_len > 0)
		w->dir_len--;
	w->dir[w->dir_len] = '\0';
}

/* Resolve one component of w->rest; 1 once the file has been checked. */
static int rs_walk_step(struct rs_walk *w)
{
	struct stat st;
	char *c = w->rest;

	while (*c == '/')
		c++;
	if (!*c)
		return rs_fail(w->why, KW_EPERM,
		               "the command is not a regular file");
	char *end = strchrnul(c, '/');
	size_t clen = (size_t)(end - c);

	if (rs_dot_segment(c, clen)) {
		if (clen == 2)
			rs_up(w);
		memmove(w->rest, end, strlen(end) + 1);
		return 0;
	}
	if (w->dir_len + 1 + clen >= sizeof(w->dir))
		return rs_fail(w->why, KW_EINVAL,
		               "the command path is too long");
	w->dir[w->dir_len] = '/';
	memcpy(w->dir + w->dir_len + 1, c, clen);
	w->dir[w->dir_len + 1 + clen] = '\0';
	int rc = lstat(w->dir, &st) != 0 ? rs_stat_fail(w, errno) : 0;
	if (rc == 0 && S_ISLNK(st.st_mode))
		memcpy(w->link, w->dir, w->dir_len + 1 + clen + 1);
	/* Back to the directory holding the component. */
	w->dir[w->dir_len] = '\0';
	if (rc < 0)
		return rc;
	if (S_ISLNK(st.st_mode))
		return rs_follow(w, &st, end);
	if (*end == '\0') {
		rc = rs_check_file(w, &st);
		return rc < 0 ? rc : 1;
	}
	if (!S_ISDIR(st.st_mode))
		return rs_fail(w->why, KW_ENOTFOUND,
		               "a component of the command path is not a "
		               "directory");
	rc = rs_check_dir(w, &st);
	if (rc < 0)
		return rc;
	w->dir[w->dir_len] = '/';
	w->dir_len += 1 + clen;
	memmove(w->rest, end, strlen(end) + 1);
	return 0;
}

int rotspec_check_command(const char *path, unsigned owner, const char **why)
{
	struct rs_walk w = { .owner = owner, .why = why };
	struct stat st;
	size_t len;

	if (!path || path[0] != '/')
		return rs_fail(why, KW_EINVAL,
		               "the command path must be absolute");
	len = strlen(path);
	if (len >= sizeof(w.rest))
		return rs_fail(why, KW_EINVAL, "the command path is too long");
	for (size_t seg = 1, i = 1; i <= len; i++) {
		if (i < len && path[i] != '/')
			continue;
		if (i - seg == 2 && path[seg] == '.' && path[seg + 1] == '.')
			return rs_fail(why, KW_EINVAL,
			               "the command path must not contain ..");
		seg = i + 1;
	}
	if (lstat("/", &st) != 0)
		return rs_stat_fail(&w, errno);
	int rc = rs_check_dir(&w, &st);
	memcpy(w.rest, path, len + 1);
	while (rc == 0)
		rc = rs_walk_step(&w);
	return rc < 0 ? rc : 0;
}

/* rotspec_generate ----------------------------------------------------- */

static int rs_gen_text(const rotspec *r, char *out, size_t outsz,
                       size_t *ret_len)
{
	uint8_t *raw = kw_wipealloc(r->bytes);

	if (!raw)
		return KW_ENOMEM;
	randombytes_buf(raw, r->bytes);
	if (r->format == ROTSPEC_HEX)
		sodium_bin2hex(out, outsz, raw, r->bytes);
	else
		sodium_bin2base64(out, outsz, raw, r->bytes,
		                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	kw_wipefree(raw);
	*ret_len = strlen(out);
	return 0;
}

int rotspec_generate(const rotspec *r, uint8_t **ret_value, size_t *ret_len)
{
	size_t size, len = 0;
	int rc;

	if (!r || r->kind != ROTSPEC_RANDOM || r->bytes == 0 ||
	    r->bytes > ROTSPEC_RANDOM_MAX)
		return KW_EINVAL;
	switch (r->format) {
	case ROTSPEC_RAW:
		size = r->bytes;
		break;
	case ROTSPEC_HEX:
		size = (size_t)r->bytes * 2u + 1u;
		break;
	case ROTSPEC_BASE64URL:
		size = sodium_base64_ENCODED_LEN(
			r->bytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
		break;
	case ROTSPEC_APIKEY:
		if (r->bytes < 16)
			return KW_EINVAL;
		size = kw_apikey_body_len(r->bytes);
		if (size < KW_APIKEY_BODY_MIN)
			size = KW_APIKEY_BODY_MIN;
		if (size > KW_APIKEY_BODY_MAX)
			return KW_EINVAL;
		size += LITERAL_LEN(KW_APIKEY_PREFIX) + KW_APIKEY_CHECK_LEN +
		        1u;
		break;
	default:
		return KW_EINVAL;
	}
	uint8_t *buf = kw_wipealloc(size);
	if (!buf)
		return KW_ENOMEM;
	switch (r->format) {
	case ROTSPEC_RAW:
		randombytes_buf(buf, size);
		len = size;
		rc = 0;
		break;
	case ROTSPEC_APIKEY:
		rc = kw_apikey_generate(r->bytes, (char *)buf, size, &len);
		break;
	default:
		rc = rs_gen_text(r, (char *)buf, size, &len);
		break;
	}
	if (rc < 0) {
		kw_wipefree(buf);
		return rc;
	}
	*ret_value = buf;
	*ret_len = len;
	return 0;
}
