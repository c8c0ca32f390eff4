/*
 * cmd_secret.c - keyward put, get, ls, versions, rm.
 *
 * Values enter only through stdin (never argv, which other users can read
 * in /proc) and leave only through `get` on stdout. Every buffer that held
 * a value is wiped before it is freed.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "name.h"
#include "secmem.h"
#include "tty.h"
#include "valuefmt.h"
#include "writeall.h"

/* Read at most this much from stdin; the agent's max_value_bytes (64 KiB by
 * default) is what really applies. */
#define PUT_READ_MAX (64u * 1024u * 1024u)
/* A value typed at a terminal: one line. */
#define PUT_TTY_MAX 4096u

/* The one NAME operand; prints the problem otherwise. */
static int one_name(struct cli *cli, int argc, char **argv,
                    const char **ret_name)
{
	if (optind >= argc)
		return cli_usage(cli, "missing NAME");
	if (optind + 1 < argc)
		return cli_usage(cli, "unexpected argument after NAME");
	*ret_name = argv[optind];
	return cli_check_name(cli, argv[optind]);
}

/* All of stdin (up to PUT_READ_MAX bytes) into kw_wipealloc memory. */
static int read_stdin(struct cli *cli, const char *name, uint8_t **ret_buf,
                      size_t *ret_len)
{
	size_t cap = 4096, len = 0;
	uint8_t *buf = kw_wipealloc(cap);

	if (!buf)
		goto fail_nomem;
	for (;;) {
		ssize_t n;

		if (len == cap) {
			size_t ncap = cap * 2 > PUT_READ_MAX + 1 ?
			                      PUT_READ_MAX + 1 :
			                      cap * 2;
			uint8_t *nbuf = kw_wipealloc(ncap);

			if (!nbuf)
				goto fail_nomem;
			memcpy(nbuf, buf, len);
			kw_wipefree(buf);
			buf = nbuf;
			cap = ncap;
		}
		n = read(STDIN_FILENO, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			cli_msg(cli, name,
			        "cannot read the value from stdin: %s",
			        strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > PUT_READ_MAX) {
			cli_msg(cli, name, "value larger than %u bytes",
			        PUT_READ_MAX);
			goto fail;
		}
	}
	*ret_buf = buf;
	*ret_len = len;
	return 0;

fail_nomem:
	cli_msg(cli, name, "out of memory");
fail:
	kw_wipefree(buf);
	return CLI_EXIT_ERROR;
}

/* One line typed at the terminal without echo. */
static int read_tty_value(struct cli *cli, const char *name, uint8_t **ret_buf,
                          size_t *ret_len)
{
	char prompt[KW_NAME_MAX + 16];
	uint8_t *buf = kw_wipealloc(PUT_TTY_MAX + 1);
	size_t len;
	int r;

	if (!buf) {
		cli_msg(cli, name, "out of memory");
		return CLI_EXIT_ERROR;
	}
	snprintf(prompt, sizeof(prompt), "value for %s: ", name);
	r = tty_read_secret(prompt, (char *)buf, PUT_TTY_MAX + 1, &len);
	if (r == 0 && len == 0) {
		cli_msg(cli, name, "empty value; nothing stored");
		r = KW_EINVAL;
	} else if (r == KW_ETOOBIG) {
		cli_msg(cli, name,
		        "a typed value must fit in %u bytes; pipe "
		        "longer values to stdin",
		        PUT_TTY_MAX);
	} else if (r < 0) {
		cli_msg(cli, name, "cannot read the value from the terminal");
	}
	if (r < 0) {
		kw_wipefree(buf);
		return CLI_EXIT_ERROR;
	}
	*ret_buf = buf;
	*ret_len = len;
	return 0;
}

/* Whether stdin holds bytes that --generate would ignore: a regular file
 * not at its end, or a pipe or socket with data waiting right now (a pipe
 * nobody writes to must not make put wait). A terminal or /dev/null holds
 * none. */
static bool stdin_has_data(void)
{
	struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
	struct stat st;
	uint8_t byte = 0;
	bool has;
	off_t pos;

	if (fstat(STDIN_FILENO, &st) < 0)
		return false;
	if (S_ISREG(st.st_mode)) {
		pos = lseek(STDIN_FILENO, 0, SEEK_CUR);
		return pos >= 0 && pos < st.st_size;
	}
	if (!S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode))
		return false;
	if (poll(&pfd, 1, 0) != 1 || !(pfd.revents & POLLIN))
		return false;
	/* Readable may mean only "at its end"; one byte tells. It is
	 * not stored (put refuses), and may be part of a secret. */
	has = read(STDIN_FILENO, &byte, 1) == 1;
	sodium_memzero(&byte, sizeof(byte));
	return has;
}

struct put_opts {
	uint64_t generate;
	enum valuefmt_format format;
	bool format_given;
	bool allow_empty;
};

/* put's options, checked against each other; 0 or an exit code
 * (CLI_EXIT_DONE after --help). */
static int put_parse(struct cli *cli, int argc, char **argv, struct put_opts *o)
{
	static const struct option opts[] = {
		{ "generate", required_argument, NULL, 'g' },
		{ "format", required_argument, NULL, 'f' },
		{ "allow-empty", no_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'g':
			if (!cli_parse_u64(optarg, 1, VALUEFMT_GEN_MAX,
			                   &o->generate))
				return cli_usage(
					cli,
					"--generate: expected a number "
					"of bytes (characters for "
					"alnum), 1-%u",
					VALUEFMT_GEN_MAX);
			break;
		case 'f':
			if (valuefmt_parse(optarg, &o->format) < 0)
				return cli_usage(cli, "--format: expected "
				                      "base64url, hex, alnum "
				                      "or raw");
			o->format_given = true;
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
	if (optind + 1 < argc)
		return cli_usage(cli, "the value is read from stdin, never "
		                      "from the command line");
	if (o->format_given && !o->generate)
		return cli_usage(cli, "--format is for --generate");
	if (o->generate && o->allow_empty)
		return cli_usage(cli, "--allow-empty is for values read from "
		                      "stdin, not --generate");
	return 0;
}

/* The value put stores from stdin (or the terminal), or for --generate
 * in a printable format; NULL for a raw --generate, which the agent
 * makes itself. 0 or an exit code. */
static int put_value(struct cli *cli, const char *name,
                     const struct put_opts *o, uint8_t **ret_value,
                     size_t *ret_len)
{
	int ex;

	if (o->generate) {
		if (stdin_has_data()) {
			cli_msg(cli, name,
			        "--generate makes the value: stdin must be "
			        "empty; nothing stored");
			return CLI_EXIT_USAGE;
		}
		if (o->format == VALUEFMT_RAW)
			return 0;
		if (kw_secmem_init() < 0 ||
		    valuefmt_generate(o->format, (size_t)o->generate, ret_value,
		                      ret_len) < 0) {
			cli_msg(cli, name, "cannot make a random value");
			return CLI_EXIT_ERROR;
		}
		return 0;
	}
	ex = isatty(STDIN_FILENO) ?
	             read_tty_value(cli, name, ret_value, ret_len) :
	             read_stdin(cli, name, ret_value, ret_len);
	if (ex != 0)
		return ex;
	/* printf %s "$UNSET" | keyward put x: almost always a mistake,
	 * and storing it would replace a good value. */
	if (*ret_len == 0 && !o->allow_empty) {
		kw_wipefree(*ret_value);
		*ret_value = NULL;
		cli_msg(cli, name,
		        "the value on stdin is empty; nothing stored "
		        "(--allow-empty stores an empty value)");
		return CLI_EXIT_USAGE;
	}
	return 0;
}

int cmd_put(struct cli *cli, int argc, char **argv)
{
	struct put_opts o = { .format = VALUEFMT_BASE64URL };
	const char *name = NULL;
	uint64_t version = 0;
	uint8_t *value = NULL;
	size_t len = 0;
	kw_client *c = NULL;
	int ex, r;

	ex = put_parse(cli, argc, argv, &o);
	if (ex == 0)
		ex = one_name(cli, argc, argv, &name);
	if (ex == 0)
		ex = put_value(cli, name, &o, &value, &len);
	if (ex == 0)
		ex = cli_connect(cli, KW_TIMEOUT_DEFAULT_MS, &c);
	if (ex != 0)
		goto out;
	if (o.generate && !value)
		r = kw_secret_generate(c, name, (size_t)o.generate, &version);
	else
		r = kw_secret_put(c, name, value, len, &version);
	if (r < 0) {
		ex = cli_fail(cli, c, name, r);
		goto out;
	}
	printf("%s: version %llu\n", name, (unsigned long long)version);
out:
	kw_wipefree(value);
	kw_close(c);
	return ex;
}

static bool stage_known(const char *s)
{
	return strcmp(s, "current") == 0 || strcmp(s, "pending") == 0 ||
	       strcmp(s, "previous") == 0 || strcmp(s, "retired") == 0;
}

struct get_opts {
	const char *stage;
	uint64_t version;
	bool raw;
	bool base64;
};

/* get's options, checked against each other; 0 or an exit code
 * (CLI_EXIT_DONE after --help). */
static int get_parse(struct cli *cli, int argc, char **argv, struct get_opts *o)
{
	static const struct option opts[] = {
		{ "version", required_argument, NULL, 'v' },
		{ "stage", required_argument, NULL, 's' },
		{ "raw", no_argument, NULL, 'r' },
		{ "base64", no_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'v':
			if (!cli_parse_u64(optarg, 1, INT64_MAX, &o->version))
				return cli_usage(cli, "--version: expected a "
				                      "version number >= 1");
			break;
		case 's':
			if (!stage_known(optarg))
				return cli_usage(cli,
				                 "--stage: expected current, "
				                 "pending, previous or "
				                 "retired");
			o->stage = optarg;
			break;
		case 'r':
			o->raw = true;
			break;
		case 'b':
			o->base64 = true;
			break;
		case 'h':
			cli_help();
			return CLI_EXIT_DONE;
		default:
			return cli_bad_option(cli, argv);
		}
	}
	if (o->version && o->stage)
		return cli_usage(cli, "--version and --stage exclude each "
		                      "other");
	if (o->raw && o->base64)
		return cli_usage(cli, "--raw and --base64 exclude each other");
	return 0;
}

/* Write the value to stdout as get was asked: base64 with a newline, or
 * its bytes, which a terminal gets only when they are text (or --raw):
 * control bytes in a value could drive the terminal. 0 or an exit code. */
static int get_write(struct cli *cli, const char *name,
                     const struct get_opts *o, const kw_secret *s)
{
	const uint8_t *p = kw_secret_value(s);
	size_t n = kw_secret_len(s), len;
	char *b64 = NULL;
	int r;

	if (o->base64) {
		if (valuefmt_base64(p, n, &b64, &len) < 0) {
			cli_msg(cli, name, "out of memory");
			return CLI_EXIT_ERROR;
		}
		r = cli_write_line(b64, len);
		kw_wipefree(b64);
	} else if (!o->raw && isatty(STDOUT_FILENO) &&
	           !valuefmt_is_text(p, n)) {
		cli_msg(cli, name,
		        "the value is not text (it has NUL or control "
		        "bytes, or is not UTF-8); not written to the "
		        "terminal. Use --base64 to see it encoded, --raw "
		        "to write it anyway, or redirect stdout");
		return CLI_EXIT_ERROR;
	} else {
		r = kw_write_all(STDOUT_FILENO, p, n) < 0 ? -errno : 0;
	}
	if (r < 0) {
		cli_msg(cli, name, "cannot write to stdout: %s", strerror(-r));
		return CLI_EXIT_ERROR;
	}
	return 0;
}

int cmd_get(struct cli *cli, int argc, char **argv)
{
	struct get_opts o = { 0 };
	const char *name = NULL;
	kw_secret *s = NULL;
	kw_client *c = NULL;
	int ex, r;

	ex = get_parse(cli, argc, argv, &o);
	if (ex == 0)
		ex = one_name(cli, argc, argv, &name);
	if (ex == 0)
		ex = cli_connect(cli, KW_TIMEOUT_DEFAULT_MS, &c);
	if (ex != 0)
		return ex;
	if (o.version)
		r = kw_secret_get_version(c, name, o.version, &s);
	else if (o.stage)
		r = kw_secret_get_stage(c, name, o.stage, &s);
	else
		r = kw_secret_get(c, name, &s);
	if (r < 0)
		ex = cli_fail(cli, c, name, r);
	else
		ex = get_write(cli, name, &o, s);
	kw_secret_free(s);
	kw_close(c);
	return ex;
}

/* Check every element of secret.list's array before printing any. */
static bool list_valid(const json_t *arr, size_t *ret_width)
{
	size_t i, width = strlen("NAME");
	const char *name, *t;
	uint64_t u;
	json_t *e;

	json_array_foreach(arr, i, e)
	{
		if (!kw_json_get_text(e, "name", &name) ||
		    kw_name_check(name, strlen(name), NULL) < 0 ||
		    !kw_json_get_uint(e, "version", 0, &u) ||
		    !kw_json_get_uint(e, "versions", 0, &u) ||
		    !kw_json_get_text(e, "created", &t) ||
		    !kw_json_get_text(e, "updated", &t))
			return false;
		if (strlen(name) > width)
			width = strlen(name);
	}
	*ret_width = width;
	return true;
}

int cmd_ls(struct cli *cli, int argc, char **argv)
{
	const char *prefix = NULL, *rule = NULL, *name, *updated;
	json_t *params = NULL, *res = NULL, *arr = NULL, *e;
	uint64_t version, versions;
	kw_client *c = NULL;
	bool json;
	size_t i, width = 0;
	int ex, r;

	if (!cli_json_opts(cli, argc, argv, &json, &ex))
		return ex;
	if (optind + 1 < argc)
		return cli_usage(cli, "at most one PREFIX");
	if (optind < argc) {
		prefix = argv[optind];
		if (kw_prefix_check(prefix, strnlen(prefix, KW_NAME_MAX + 1),
		                    &rule) < 0) {
			cli_msg(cli, prefix, "invalid prefix: %s",
			        rule ? rule : "bad prefix");
			return CLI_EXIT_ERROR;
		}
		params = json_pack("{s:s}", "prefix", prefix);
		if (!params)
			return cli_fail(cli, NULL, NULL, KW_ENOMEM);
	}
	ex = cli_connect(cli, KW_TIMEOUT_DEFAULT_MS, &c);
	if (ex != 0) {
		json_decref(params);
		return ex;
	}
	r = cli_call(c, "secret.list", params, &res);
	if (r == 0) {
		arr = json_object_get(res, "secrets");
		if (!json_is_array(arr) || !list_valid(arr, &width))
			r = KW_EPROTO;
	}
	if (r == 0 && json)
		r = cli_print_json_lines(arr);
	if (r < 0) {
		ex = cli_fail(cli, c, prefix, r);
		goto out;
	}
	if (json)
		goto out;
	if (json_array_size(arr) == 0) {
		cli_msg(cli, prefix, "no secrets");
		goto out;
	}
	printf("%-*s  VERSION  VERSIONS  UPDATED\n", (int)width, "NAME");
	json_array_foreach(arr, i, e)
	{
		kw_json_get_text(e, "name", &name);
		kw_json_get_uint(e, "version", 0, &version);
		kw_json_get_uint(e, "versions", 0, &versions);
		kw_json_get_text(e, "updated", &updated);
		printf("%-*s  %7llu  %8llu  %s\n", (int)width, name,
		       (unsigned long long)version,
		       (unsigned long long)versions, updated);
	}
out:
	json_decref(res);
	kw_close(c);
	return ex;
}

static bool versions_valid(const json_t *res, const char *name)
{
	const json_t *arr = json_object_get(res, "versions");
	const char *got, *stage, *created;
	uint64_t version;
	size_t i;
	json_t *e;

	if (!kw_json_get_text(res, "name", &got) || strcmp(got, name) != 0 ||
	    !json_is_array(arr))
		return false;
	json_array_foreach(arr, i, e)
	{
		if (!kw_json_get_uint(e, "version", 0, &version) ||
		    version == 0 || !kw_json_get_text(e, "stage", &stage) ||
		    !stage_known(stage) ||
		    !kw_json_get_text(e, "created", &created))
			return false;
	}
	return true;
}

int cmd_versions(struct cli *cli, int argc, char **argv)
{
	const char *name = NULL, *stage, *created;
	json_t *params, *res = NULL, *arr, *e;
	kw_client *c = NULL;
	uint64_t version;
	bool json;
	int ex, r;
	size_t i;

	if (!cli_json_opts(cli, argc, argv, &json, &ex))
		return ex;
	ex = one_name(cli, argc, argv, &name);
	if (ex == 0)
		ex = cli_connect(cli, KW_TIMEOUT_DEFAULT_MS, &c);
	if (ex != 0)
		return ex;
	params = json_pack("{s:s}", "name", name);
	r = params ? cli_call(c, "secret.versions", params, &res) : KW_ENOMEM;
	if (r == 0 && !versions_valid(res, name))
		r = KW_EPROTO;
	arr = json_object_get(res, "versions");
	if (r == 0 && json)
		r = cli_print_json_lines(arr);
	if (r < 0) {
		ex = cli_fail(cli, c, name, r);
		goto out;
	}
	if (json)
		goto out;
	printf("VERSION  STAGE     CREATED\n");
	json_array_foreach(arr, i, e)
	{
		kw_json_get_uint(e, "version", 0, &version);
		kw_json_get_text(e, "stage", &stage);
		kw_json_get_text(e, "created", &created);
		printf("%7llu  %-8s  %s\n", (unsigned long long)version, stage,
		       created);
	}
out:
	json_decref(res);
	kw_close(c);
	return ex;
}

int cmd_rm(struct cli *cli, int argc, char **argv)
{
	const char *name = NULL;
	json_t *res = NULL;
	kw_client *c = NULL;
	uint64_t n = 0;
	int ex, r;

	ex = 0;
	if (!cli_help_only(cli, argc, argv, &ex))
		return ex;
	ex = one_name(cli, argc, argv, &name);
	if (ex == 0)
		ex = cli_connect(cli, KW_TIMEOUT_DEFAULT_MS, &c);
	if (ex != 0)
		return ex;
	r = cli_call_name(c, "secret.delete", name, &res);
	if (r == 0 && !kw_json_get_uint(res, "deleted_versions", 0, &n))
		r = KW_EPROTO;
	if (r < 0)
		ex = cli_fail(cli, c, name, r);
	else
		printf("%s: deleted (%llu version%s)\n", name,
		       (unsigned long long)n, n == 1 ? "" : "s");
	json_decref(res);
	kw_close(c);
	return ex;
}
