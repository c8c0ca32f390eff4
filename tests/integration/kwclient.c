/*
 * kwclient.c - a small libkeyward client the integration tests drive.
 *
 * It uses only the public API in keyward.h, so that the tests exercise the
 * library exactly as an MCP server would. The socket is resolved by the
 * library from the environment (the tests set KEYWARD_SOCKET).
 *
 *   kwclient put NAME                  value from stdin; prints "version V"
 *   kwclient generate NAME NBYTES      prints "version V"
 *   kwclient get NAME [--version N | --stage S]
 *                                      the raw value on stdout
 *   kwclient rm NAME
 *   kwclient ls [PREFIX]               "NAME VERSION" per line
 *   kwclient status                    "locked" or "unlocked"
 *   kwclient unlock [-]                "-": passphrase is the first stdin line
 *   kwclient lock
 *   kwclient call METHOD [PARAMS_JSON] the result JSON on stdout
 *   kwclient hammer NAME EXPECTED_FILE COUNT
 *       one connection; one get, then "ready"; then gets until at least
 *       COUNT have been made and stdin has a line or EOF; every value must
 *       equal the file's bytes. Prints "ok N" (N gets after "ready").
 *   kwclient survive-restart NAME
 *       one connection; get and print "1 HEX"; wait for a stdin line; get
 *       again on the same client and print "2 HEX".
 *   kwclient apikey-verify [SCOPE]
 *       one connection; each stdin line is an API key for kw_apikey_verify.
 *       Prints one line per key: "ok ID PRINCIPAL EXPIRES N SCOPES HAS"
 *       (EXPIRES unix seconds, 0 for never; N scopes, SCOPES comma-joined
 *       or "-"; HAS "yes"/"no": kw_apikey_info_has_scope(SCOPE), "-"
 *       without SCOPE) or "error KIND MESSAGE". Exits with the status of
 *       the last key: 0, 3 unknown, 4 denied, 6 revoked, 7 expired,
 *       8 malformed, 1 other.
 *
 * Exit status mirrors the CLI: 0 ok, 1 error, 2 usage, 3 not found,
 * 4 denied, 5 locked. Errors go to stderr as "kwclient: WHAT: KIND: TEXT".
 * This is test code: the values it handles are test values, so plain memcmp
 * and plain buffers are fine here.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "keyward.h"
#include "writeall.h"

#define READ_MAX        (16u * 1024u * 1024u)
#define CALL_TIMEOUT_MS 30000

enum {
	EXIT_ERR = 1,
	EXIT_USAGE = 2,
	EXIT_NOTFOUND = 3,
	EXIT_DENIED = 4,
	EXIT_LOCKED = 5,
	EXIT_REVOKED = 6,
	EXIT_EXPIRED = 7,
	EXIT_MALFORMED = 8,
};

static int exit_for(int err)
{
	switch (err) {
	case KW_OK:
		return 0;
	case KW_ENOTFOUND:
		return EXIT_NOTFOUND;
	case KW_EDENIED:
		return EXIT_DENIED;
	case KW_ELOCKED:
		return EXIT_LOCKED;
	case KW_EREVOKED:
		return EXIT_REVOKED;
	case KW_EEXPIRED:
		return EXIT_EXPIRED;
	default:
		return EXIT_ERR;
	}
}

static int report(const kw_client *c, const char *what, int err)
{
	const char *msg = c != NULL ? kw_last_error_message(c) : "";

	fprintf(stderr, "kwclient: %s: %s: %s%s%s\n", what, kw_error_name(err),
	        kw_strerror(err), msg[0] != '\0' ? ": " : "", msg);
	return exit_for(err);
}

static int usage(void)
{
	fputs("usage: kwclient put|generate|get|rm|ls|status|unlock|lock|call|"
	      "hammer|survive-restart|apikey-verify ...\n",
	      stderr);
	return EXIT_USAGE;
}

/* Read fd to EOF into a malloc'd buffer (at most READ_MAX bytes). */
static int read_all(int fd, uint8_t **ret_buf, size_t *ret_len)
{
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;

	for (;;) {
		if (len == cap) {
			size_t ncap = cap == 0 ? 4096 : cap * 2;
			uint8_t *nbuf;

			if (cap >= READ_MAX)
				goto fail;
			nbuf = realloc(buf, ncap);
			if (nbuf == NULL)
				goto fail;
			buf = nbuf;
			cap = ncap;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*ret_buf = buf;
	*ret_len = len;
	return 0;
fail:
	free(buf);
	return -1;
}

static int read_file(const char *path, uint8_t **ret_buf, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	int r;

	if (f == NULL)
		return -1;
	r = read_all(fileno(f), ret_buf, ret_len);
	fclose(f);
	return r;
}

/* Read one line from stdin (discarded); true if a line or EOF arrived. */
static bool wait_stdin_line(void)
{
	char ch;

	for (;;) {
		ssize_t n = read(STDIN_FILENO, &ch, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return true;
		if (ch == '\n')
			return true;
	}
}

static bool stdin_ready(void)
{
	struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };

	return poll(&p, 1, 0) > 0;
}

static int parse_u64(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*ret = (uint64_t)v;
	return 0;
}

static int open_client(kw_client **ret)
{
	kw_client *c = NULL;
	int r = kw_connect(&c, NULL);

	if (r < 0)
		return report(NULL, "connect", r);
	r = kw_set_timeout(c, CALL_TIMEOUT_MS);
	if (r < 0) {
		kw_close(c);
		return report(NULL, "set_timeout", r);
	}
	*ret = c;
	return 0;
}

static void print_hex(const char *prefix, const kw_secret *s)
{
	const uint8_t *v = kw_secret_value(s);
	size_t n = kw_secret_len(s);

	printf("%s ", prefix);
	for (size_t i = 0; i < n; i++)
		printf("%02x", v[i]);
	printf("\n");
	fflush(stdout);
}

static int cmd_put(kw_client *c, int argc, char **argv)
{
	uint8_t *value = NULL;
	size_t len = 0;
	uint64_t version = 0;
	int r;

	if (argc != 1)
		return usage();
	if (read_all(STDIN_FILENO, &value, &len) < 0) {
		fputs("kwclient: put: cannot read stdin\n", stderr);
		return EXIT_ERR;
	}
	r = kw_secret_put(c, argv[0], value, len, &version);
	free(value);
	if (r < 0)
		return report(c, "put", r);
	printf("version %" PRIu64 "\n", version);
	return 0;
}

static int cmd_generate(kw_client *c, int argc, char **argv)
{
	uint64_t n, version = 0;
	int r;

	if (argc != 2 || parse_u64(argv[1], &n) < 0)
		return usage();
	r = kw_secret_generate(c, argv[0], (size_t)n, &version);
	if (r < 0)
		return report(c, "generate", r);
	printf("version %" PRIu64 "\n", version);
	return 0;
}

static int cmd_get(kw_client *c, int argc, char **argv)
{
	kw_secret *s = NULL;
	uint64_t version;
	int r;

	if (argc == 1) {
		r = kw_secret_get(c, argv[0], &s);
	} else if (argc == 3 && strcmp(argv[1], "--version") == 0) {
		if (parse_u64(argv[2], &version) < 0)
			return usage();
		r = kw_secret_get_version(c, argv[0], version, &s);
	} else if (argc == 3 && strcmp(argv[1], "--stage") == 0) {
		r = kw_secret_get_stage(c, argv[0], argv[2], &s);
	} else {
		return usage();
	}
	if (r < 0)
		return report(c, "get", r);
	r = kw_write_all(STDOUT_FILENO, kw_secret_value(s), kw_secret_len(s));
	kw_secret_free(s);
	return r < 0 ? EXIT_ERR : 0;
}

static int cmd_rm(kw_client *c, int argc, char **argv)
{
	int r;

	if (argc != 1)
		return usage();
	r = kw_secret_delete(c, argv[0]);
	return r < 0 ? report(c, "rm", r) : 0;
}

static int cmd_ls(kw_client *c, int argc, char **argv)
{
	struct kw_secret_list *l = NULL;
	int r;

	if (argc > 1)
		return usage();
	r = kw_secret_list(c, argc == 1 ? argv[0] : NULL, &l);
	if (r < 0)
		return report(c, "ls", r);
	for (size_t i = 0; i < kw_secret_list_count(l); i++)
		printf("%s %" PRIu64 "\n", kw_secret_list_name(l, i),
		       kw_secret_list_version(l, i));
	kw_secret_list_free(l);
	return 0;
}

static int cmd_status(kw_client *c, int argc, char **argv)
{
	int r;

	(void)argv;
	if (argc != 0)
		return usage();
	r = kw_agent_locked(c);
	if (r < 0)
		return report(c, "status", r);
	puts(r ? "locked" : "unlocked");
	return 0;
}

static int cmd_unlock(kw_client *c, int argc, char **argv)
{
	char line[1100];
	const char *pass = NULL;
	int r;

	if (argc > 1 || (argc == 1 && strcmp(argv[0], "-") != 0))
		return usage();
	if (argc == 1) {
		if (fgets(line, sizeof(line), stdin) == NULL)
			return usage();
		line[strcspn(line, "\n")] = '\0';
		pass = line;
	}
	r = kw_agent_unlock(c, pass);
	return r < 0 ? report(c, "unlock", r) : 0;
}

static int cmd_lock(kw_client *c, int argc, char **argv)
{
	int r;

	(void)argv;
	if (argc != 0)
		return usage();
	r = kw_agent_lock(c);
	return r < 0 ? report(c, "lock", r) : 0;
}

static int cmd_call(kw_client *c, int argc, char **argv)
{
	char *result = NULL;
	int r;

	if (argc < 1 || argc > 2)
		return usage();
	r = kw_call(c, argv[0], argc == 2 ? argv[1] : NULL, &result);
	if (r < 0)
		return report(c, "call", r);
	printf("%s\n", result);
	kw_json_free(result);
	return 0;
}

/* One get, compared with the expected bytes. 0 or an exit status. */
static int get_and_compare(kw_client *c, const char *name, const uint8_t *want,
                           size_t want_len, uint64_t i)
{
	kw_secret *s = NULL;
	int r = kw_secret_get(c, name, &s);
	bool same;

	if (r < 0) {
		fprintf(stderr, "kwclient: hammer: get #%" PRIu64 " failed\n",
		        i);
		return report(c, "hammer", r);
	}
	same = kw_secret_len(s) == want_len &&
	       (want_len == 0 ||
	        memcmp(kw_secret_value(s), want, want_len) == 0);
	if (!same)
		fprintf(stderr,
		        "kwclient: hammer: get #%" PRIu64 " returned a "
		        "wrong value (%zu bytes, expected %zu)\n",
		        i, kw_secret_len(s), want_len);
	kw_secret_free(s);
	return same ? 0 : EXIT_ERR;
}

static int cmd_hammer(kw_client *c, int argc, char **argv)
{
	const struct timespec pause = { .tv_sec = 0, .tv_nsec = 1000000 };
	uint8_t *want = NULL;
	size_t want_len = 0;
	uint64_t count, done = 0;
	int r;

	if (argc != 3 || parse_u64(argv[2], &count) < 0)
		return usage();
	if (read_file(argv[1], &want, &want_len) < 0) {
		fprintf(stderr, "kwclient: hammer: cannot read %s\n", argv[1]);
		return EXIT_ERR;
	}
	r = get_and_compare(c, argv[0], want, want_len, 0);
	if (r != 0)
		goto out;
	puts("ready");
	fflush(stdout);
	while (done < count || !stdin_ready()) {
		r = get_and_compare(c, argv[0], want, want_len, done + 1);
		if (r != 0)
			goto out;
		done++;
		nanosleep(&pause, NULL);
	}
	printf("ok %" PRIu64 "\n", done);
out:
	free(want);
	return r;
}

static int cmd_survive_restart(kw_client *c, int argc, char **argv)
{
	kw_secret *s = NULL;
	int r;

	if (argc != 1)
		return usage();
	r = kw_secret_get(c, argv[0], &s);
	if (r < 0)
		return report(c, "survive-restart: first get", r);
	print_hex("1", s);
	kw_secret_free(s);
	s = NULL;
	wait_stdin_line();
	r = kw_secret_get(c, argv[0], &s);
	if (r < 0)
		return report(c, "survive-restart: get after restart", r);
	print_hex("2", s);
	kw_secret_free(s);
	return 0;
}

/* One verified key as a line (see the top of the file). */
static int print_apikey(const kw_apikey_info *info, const char *scope)
{
	size_t n = kw_apikey_info_scope_count(info);

	/* The getters agree with each other. */
	if (kw_apikey_info_scope(info, n) != NULL || !kw_apikey_info_id(info) ||
	    !kw_apikey_info_principal(info))
		return EXIT_ERR;
	printf("ok %s %s %lld %zu ", kw_apikey_info_id(info),
	       kw_apikey_info_principal(info),
	       (long long)kw_apikey_info_expires(info), n);
	if (n == 0)
		putchar('-');
	for (size_t i = 0; i < n; i++) {
		if (!kw_apikey_info_has_scope(info,
		                              kw_apikey_info_scope(info, i)))
			return EXIT_ERR;
		printf("%s%s", i ? "," : "", kw_apikey_info_scope(info, i));
	}
	printf(" %s\n", !scope                                ? "-" :
	                kw_apikey_info_has_scope(info, scope) ? "yes" :
	                                                        "no");
	return 0;
}

static int cmd_apikey_verify(kw_client *c, int argc, char **argv)
{
	char line[4096];
	int ex = 0;

	if (argc > 1)
		return usage();
	while (fgets(line, sizeof(line), stdin)) {
		kw_apikey_info *info = NULL;
		int r;

		line[strcspn(line, "\r\n")] = '\0';
		r = kw_apikey_verify(c, line, &info);
		if (r == 0) {
			ex = print_apikey(info, argc ? argv[0] : NULL);
		} else {
			printf("error %s %s\n", kw_error_name(r),
			       kw_last_error_message(c));
			ex = r == KW_EINVAL ? EXIT_MALFORMED : exit_for(r);
		}
		kw_apikey_info_free(info);
		fflush(stdout);
	}
	return ex;
}

static const struct {
	const char *name;
	int (*fn)(kw_client *c, int argc, char **argv);
} commands[] = {
	{ "put", cmd_put },
	{ "generate", cmd_generate },
	{ "get", cmd_get },
	{ "rm", cmd_rm },
	{ "ls", cmd_ls },
	{ "status", cmd_status },
	{ "unlock", cmd_unlock },
	{ "lock", cmd_lock },
	{ "call", cmd_call },
	{ "hammer", cmd_hammer },
	{ "survive-restart", cmd_survive_restart },
	{ "apikey-verify", cmd_apikey_verify },
};

int main(int argc, char **argv)
{
	kw_client *c = NULL;
	int r;

	if (argc < 2)
		return usage();
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[1], commands[i].name) != 0)
			continue;
		r = open_client(&c);
		if (r != 0)
			return r;
		r = commands[i].fn(c, argc - 2, argv + 2);
		kw_close(c);
		if (fflush(stdout) != 0)
			return EXIT_ERR;
		return r;
	}
	return usage();
}
