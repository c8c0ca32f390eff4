/*
 * cmd_export.c - keyward export: every secret under a prefix, names and
 * values, on stdout, for leaving keyward (the inverse of import).
 *
 * It reads every value, so in effect only a principal the policy lets read
 * everything under PREFIX can run it. It refuses a terminal as stdout
 * unless --force: values on a screen end up in scrollback and
 * screenshots. Output is lossless or refused: a name that cannot be
 * written in the chosen format is listed and nothing is printed. Values
 * go from wiped buffers straight to fd 1, past stdio.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "dotenv.h"
#include "name.h"
#include "secmem.h"
#include "writeall.h"

struct export_opts {
	const char *prefix;
	bool dotenv, force;
};

/* A growing kw_wipealloc buffer for the dotenv text. */
struct wbuf {
	char *p;
	size_t len, cap;
};

static int wbuf_put(struct wbuf *b, const void *data, size_t n)
{
	if (b->cap - b->len < n) {
		size_t ncap = b->cap ? b->cap : 4096;
		char *np;

		while (ncap - b->len < n)
			ncap *= 2;
		np = kw_wipealloc(ncap);
		if (!np)
			return KW_ENOMEM;
		if (b->len)
			memcpy(np, b->p, b->len);
		kw_wipefree(b->p);
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	return 0;
}

static int parse_opts(struct cli *cli, int argc, char **argv,
                      struct export_opts *o)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "force", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *rule = NULL;
	size_t n;
	int opt;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'f' && (strcmp(optarg, "json") == 0 ||
		                   strcmp(optarg, "dotenv") == 0))
			o->dotenv = strcmp(optarg, "dotenv") == 0;
		else if (opt == 'f')
			return cli_usage(cli, "--format: expected json or "
			                      "dotenv");
		else if (opt == 'F')
			o->force = true;
		else if (opt == 'h') {
			cli_help();
			return CLI_EXIT_DONE; /* main() exits 0 */
		} else
			return cli_bad_option(cli, argv);
	}
	if (optind + 1 < argc)
		return cli_usage(cli, "at most one PREFIX");
	o->prefix = optind < argc ? argv[optind] : "";
	n = strnlen(o->prefix, KW_NAME_MAX + 1);
	if (kw_prefix_check(o->prefix, n, &rule) < 0)
		return cli_usage(cli, "PREFIX: %s",
		                 rule ? rule : "invalid prefix");
	if (n > 0 && o->prefix[n - 1] != '/')
		return cli_usage(cli, "PREFIX must end with '/' (names are "
		                      "written relative to it)");
	return 0;
}

/* Where name's value goes in root (its last segment in *ret_key), making
 * the objects on the way; NULL when a value already sits on that way or
 * an object at that place. */
static json_t *json_slot(json_t *root, char *rel, const char **ret_key)
{
	json_t *obj = root;
	char *seg = rel, *slash;

	while ((slash = strchr(seg, '/')) != NULL) {
		json_t *next;

		*slash = '\0';
		next = json_object_get(obj, seg);
		if (!next) {
			next = json_object();
			if (!next || json_object_set_new(obj, seg, next) < 0)
				return NULL;
		}
		*slash = '/';
		if (!json_is_object(next))
			return NULL;
		obj = next;
		seg = slash + 1;
	}
	if (json_object_get(obj, seg))
		return NULL;
	*ret_key = seg;
	return obj;
}

/* Add name's value to root; prints and counts what cannot be written. */
static int add_json(const struct cli *cli, json_t *root, const char *name,
                    const char *rel, const kw_secret *s, unsigned *problems)
{
	char path[KW_NAME_MAX + 1];
	const char *key = NULL;
	json_t *obj, *v;

	snprintf(path, sizeof(path), "%s", rel);
	obj = json_slot(root, path, &key);
	if (!obj) {
		cli_msg(cli, name,
		        "a value and a folder of that name both exist; "
		        "JSON cannot hold both (export a narrower PREFIX)");
		(*problems)++;
		return 0;
	}
	v = json_stringn((const char *)kw_secret_value(s), kw_secret_len(s));
	if (!v) {
		cli_msg(cli, name,
		        "the value is not UTF-8 text, which JSON cannot "
		        "hold (keyward get writes it as it is)");
		(*problems)++;
		return 0;
	}
	return json_object_set_new(obj, key, v) < 0 ? KW_ENOMEM : 0;
}

/* NAME="value" with \\ \" \$ \n \r \t escaped: what dotenv.h reads back
 * to the same bytes. */
static int add_dotenv(const struct cli *cli, struct wbuf *b, const char *name,
                      const char *rel, const kw_secret *s, unsigned *problems)
{
	const uint8_t *v = kw_secret_value(s);
	size_t len = kw_secret_len(s);
	bool named = kw_dotenv_name_valid(rel, strlen(rel));
	int r;

	if (!named || memchr(v, '\0', len)) {
		cli_msg(cli, name, "%s; use --format json",
		        named ? "the value holds a NUL byte, which a "
		                ".env file cannot" :
		                "not a .env variable name (letters, "
		                "digits and '_', not starting with a "
		                "digit)");
		(*problems)++;
		return 0;
	}
	if ((r = wbuf_put(b, rel, strlen(rel))) < 0 ||
	    (r = wbuf_put(b, "=\"", 2)) < 0)
		return r;
	for (size_t i = 0; i < len && r == 0; i++) {
		char c = (char)v[i], esc[2] = { '\\', c };

		if (c == '\n' || c == '\r' || c == '\t')
			esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
		if (c == '\\' || c == '"' || c == '$' || c == '\n' ||
		    c == '\r' || c == '\t')
			r = wbuf_put(b, esc, 2);
		else
			r = wbuf_put(b, &c, 1);
	}
	return r < 0 ? r : wbuf_put(b, "\"\n", 2);
}

/* Fetch every listed value into root or b. */
static int collect(const struct cli *cli, kw_client *c,
                   const struct export_opts *o, json_t *root, struct wbuf *b,
                   unsigned *problems, size_t *ret_count)
{
	struct kw_secret_list *sl = NULL;
	size_t plen = strlen(o->prefix), i;
	int r = kw_secret_list(c, plen ? o->prefix : NULL, &sl);

	if (r < 0)
		return cli_fail(cli, c, NULL, r);
	for (i = 0; i < kw_secret_list_count(sl) && r == 0; i++) {
		const char *name = kw_secret_list_name(sl, i);
		kw_secret *s = NULL;

		/* The agent filtered by prefix; a name outside it would make
		 * the relative name below read out of bounds. */
		if (strncmp(name, o->prefix, plen) != 0 || !name[plen]) {
			r = KW_EPROTO;
			break;
		}
		r = kw_secret_get(c, name, &s);
		if (r < 0) {
			int ex = cli_fail(cli, c, name, r);

			kw_secret_free(s);
			kw_secret_list_free(sl);
			return ex;
		}
		r = o->dotenv ?
		            add_dotenv(cli, b, name, name + plen, s, problems) :
		            add_json(cli, root, name, name + plen, s, problems);
		kw_secret_free(s);
	}
	kw_secret_list_free(sl);
	if (r < 0)
		return cli_fail(cli, NULL, NULL, r);
	*ret_count = i;
	return 0;
}

/* The JSON text of root, then a newline, on fd 1. 0 or -errno. */
static int emit_json(json_t *root)
{
	char *text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
	int r;

	if (!text)
		return -ENOMEM;
	r = cli_write_line(text, strlen(text));
	kw_wipefree_str(text);
	return r;
}

int cmd_export(struct cli *cli, int argc, char **argv)
{
	struct export_opts o = { 0 };
	struct wbuf b = { 0 };
	kw_client *c = NULL;
	json_t *root = NULL;
	unsigned problems = 0;
	size_t n = 0;
	int ex, r;

	if ((ex = parse_opts(cli, argc, argv, &o)) != 0)
		return ex;
	if (isatty(STDOUT_FILENO) && !o.force) {
		cli_msg(cli, NULL,
		        "stdout is a terminal and export writes secret "
		        "values; redirect it to a file or a pipe, or give "
		        "--force");
		return CLI_EXIT_ERROR;
	}
	if (kw_secmem_init() < 0 || !(root = json_object())) {
		cli_msg(cli, NULL, "cannot initialise");
		return CLI_EXIT_ERROR;
	}
	ex = cli_connect(cli, KW_TIMEOUT_DEFAULT_MS, &c);
	if (ex == 0)
		ex = collect(cli, c, &o, root, &b, &problems, &n);
	if (ex == 0 && problems) {
		cli_msg(cli, NULL,
		        "nothing written: %u secret%s cannot be "
		        "exported in this format (listed above)",
		        problems, problems == 1 ? "" : "s");
		ex = CLI_EXIT_ERROR;
	}
	if (ex == 0) {
		if (o.dotenv)
			r = kw_write_all(STDOUT_FILENO, b.p, b.len) < 0 ?
			            -errno :
			            0;
		else
			r = emit_json(root);
		if (r < 0) {
			cli_msg(cli, NULL, "cannot write to stdout: %s",
			        strerror(-r));
			ex = CLI_EXIT_ERROR;
		}
	}
	if (ex == 0)
		cli_msg(cli, NULL, "exported %zu secret%s", n,
		        n == 1 ? "" : "s");
	json_decref(root);
	kw_wipefree(b.p);
	kw_close(c);
	return ex;
}
