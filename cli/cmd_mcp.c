/*
 * cmd_mcp.c - keyward mcp scan: report the plaintext credentials in MCP
 * client configs (the known locations under $HOME and the working
 * directory, and any PATH given), and the `mcp` command's dispatch.
 * `mcp import` is in cmd_mcp_import.c.
 *
 * Never prints a value: a finding is its place, its rule, its length and,
 * only for values too random to guess, a short fingerprint (credscan.h).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomicfile.h"
#include "cli.h"
#include "mcp.h"
#include "paths.h"
#include "secmem.h"

/* Files one scan reads at most (known locations and PATHs). */
#define SCAN_FILES_MAX 256u

struct scan {
	bool json;
	bool failed;
	size_t nfound, nfiles_found;
	json_t *files, *findings, *errors;
	json_t *importable; /* paths with a stdio server's credential */
	struct kw_filestamp seen[SCAN_FILES_MAX];
	size_t nseen;
};

/* The same file reached twice (HOME is the working directory, or a PATH
 * names a known file) is read once. */
static bool seen_before(struct scan *sc, const struct kw_filestamp *st)
{
	for (size_t i = 0; i < sc->nseen; i++)
		if (sc->seen[i].dev == st->dev && sc->seen[i].ino == st->ino)
			return true;
	if (sc->nseen < SCAN_FILES_MAX)
		sc->seen[sc->nseen++] = *st;
	return false;
}

static void scan_error(struct cli *cli, struct scan *sc, const char *path,
                       const char *why)
{
	sc->failed = true;
	if (sc->json) {
		json_t *e = json_pack("{s:o, s:s}", "path", kw_json_lossy(path),
		                      "error", why);
		if (e)
			json_array_append_new(sc->errors, e);
	}
	cli_msg(cli, path, "%s", why);
}

/* One finding as text: PATH:L:C: CLIENT: server "S": env VAR: ... */
static void print_finding(const char *path, const char *client,
                          const struct mcp_server *s, const struct mcp_cred *c,
                          unsigned line, unsigned col)
{
	cli_print_clean(stdout, path);
	printf(":%u:%u: %s: server \"", line, col, client);
	cli_print_clean(stdout, s->name);
	fputc('"', stdout);
	if (s->scope[0]) {
		fputs(" in ", stdout);
		cli_print_clean(stdout, s->scope);
	}
	printf("%s: %s ", s->remote ? " (remote)" : "",
	       c->header ? "header" : "env");
	cli_print_clean(stdout, c->var);
	printf(": plaintext credential (%s rule, %zu bytes",
	       kw_cred_rule_name(c->rule), c->len);
	if (c->fp[0])
		printf(", fingerprint %s", c->fp);
	puts(")");
}

static json_t *finding_json(const char *path, const char *client,
                            const struct mcp_server *s,
                            const struct mcp_cred *c, unsigned line,
                            unsigned col)
{
	return json_pack("{s:o, s:s, s:o, s:o, s:b, s:s, s:o, s:s, s:I, "
	                 "s:o, s:I, s:I}",
	                 "path", kw_json_lossy(path), "client", client,
	                 "server", kw_json_lossy(s->name), "scope",
	                 kw_json_lossy(s->scope), "remote", s->remote, "kind",
	                 c->header ? "header" : "env", "variable",
	                 kw_json_lossy(c->var), "rule",
	                 kw_cred_rule_name(c->rule), "length",
	                 (json_int_t)c->len, "fingerprint",
	                 c->fp[0] ? json_string(c->fp) : json_null(), "line",
	                 (json_int_t)line, "column", (json_int_t)col);
}

static int report(struct scan *sc, const char *path, const char *client,
                  const struct mcp_config *cfg)
{
	size_t n = 0;
	bool stdio = false;

	for (size_t i = 0; i < cfg->nservers; i++) {
		const struct mcp_server *s = &cfg->servers[i];
		stdio = stdio || (!s->remote && s->ncreds > 0);
		for (size_t k = 0; k < s->ncreds; k++) {
			const struct mcp_cred *c = &s->creds[k];
			unsigned line, col;
			kw_jspan_linecol(cfg->doc, c->node->start, &line, &col);
			n++;
			if (!sc->json) {
				print_finding(path, client, s, c, line, col);
				continue;
			}
			json_t *f = finding_json(path, client, s, c, line, col);
			if (!f || json_array_append_new(sc->findings, f))
				return KW_ENOMEM;
		}
	}
	sc->nfound += n;
	sc->nfiles_found += n > 0;
	if (stdio &&
	    json_array_append_new(sc->importable, kw_json_lossy(path)) < 0)
		return KW_ENOMEM;
	json_t *f = json_pack("{s:o, s:s, s:I, s:I}", "path",
	                      kw_json_lossy(path), "client", client, "servers",
	                      (json_int_t)cfg->nservers, "credentials",
	                      (json_int_t)n);
	return f && json_array_append_new(sc->files, f) == 0 ? 0 : KW_ENOMEM;
}

/* Read and report one file. A known location that does not exist is
 * skipped quietly; a PATH given must exist. */
static int scan_file(struct cli *cli, struct scan *sc, const char *path,
                     const char *client, bool must_exist)
{
	char why[256], *text = NULL;
	size_t len;
	struct kw_filestamp st;
	struct mcp_config *cfg = NULL;

	int r = kw_file_read_follow(path, MCP_CONFIG_MAX, &text, &len, &st, why,
	                            sizeof(why));
	if (r == KW_ENOTFOUND && !must_exist)
		return 0;
	if (r == KW_ENOMEM)
		return r;
	if (r) {
		scan_error(cli, sc, path, why);
		return 0;
	}
	if (!seen_before(sc, &st)) {
		r = mcp_config_parse(text, len, NULL, &cfg, why, sizeof(why));
		if (r == 0)
			r = report(sc, path, client, cfg);
		else if (r != KW_ENOMEM)
			scan_error(cli, sc, path, why);
	}
	mcp_config_free(cfg);
	kw_wipefree(text);
	return r == KW_ENOMEM ? r : 0;
}

static int scan_known(struct cli *cli, struct scan *sc)
{
	char home[KW_PATH_MAX], path[KW_PATH_MAX];
	const char *h = getenv("HOME");

	for (size_t i = 0; i < mcp_nlocations; i++) {
		const struct mcp_location *l = &mcp_locations[i];
		if (l->in_home && (!h || h[0] != '/'))
			continue;
		snprintf(home, sizeof(home), "%s", l->in_home ? h : ".");
		if (snprintf(path, sizeof(path), "%s/%s", home, l->path) >=
		    (int)sizeof(path))
			continue;
		int r = scan_file(cli, sc, l->in_home ? path : l->path,
		                  l->client, false);
		if (r)
			return r;
	}
	return 0;
}

/* path as one shell word: as it is when every byte is plainly safe,
 * else in single quotes ('\'' for a quote); other bytes shown as '?'. */
static void print_shell_word(const char *path)
{
	bool plain = *path != '\0';

	for (const char *p = path; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		            "0123456789/._-+:@%,=",
		            *p))
			plain = false;
	if (plain) {
		fputs(path, stdout);
		return;
	}
	putchar('\'');
	for (const char *p = path; *p; p++) {
		unsigned char ch = (unsigned char)*p;

		if (ch == '\'')
			fputs("'\\''", stdout);
		else
			putchar(ch < 0x20 || ch == 0x7f ? '?' : ch);
	}
	putchar('\'');
}

static void scan_summary(const struct scan *sc)
{
	size_t files = json_array_size(sc->files);
	if (sc->nfound == 0) {
		printf("no plaintext credentials in %zu MCP config file%s\n",
		       files, files == 1 ? "" : "s");
		return;
	}
	printf("%zu plaintext credential%s in %zu of %zu MCP config "
	       "file%s.\n",
	       sc->nfound, sc->nfound == 1 ? "" : "s", sc->nfiles_found, files,
	       files == 1 ? "" : "s");
	size_t n = json_array_size(sc->importable);
	if (n == 0)
		return;
	printf("Move those of stdio servers into keyward with:\n");
	for (size_t i = 0; i < n; i++) {
		fputs("  keyward mcp import ", stdout);
		print_shell_word(
			json_string_value(json_array_get(sc->importable, i)));
		putchar('\n');
	}
}

static int mcp_scan(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct scan *sc = calloc(1, sizeof(*sc));
	int o, r = 0, ex;

	if (!sc)
		return cli_fail(cli, NULL, NULL, KW_ENOMEM);
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'j')
			sc->json = true;
		else if (o == 'h') {
			free(sc);
			return cli_help();
		} else {
			free(sc);
			return cli_bad_option(cli, argv);
		}
	}
	sc->files = json_array();
	sc->findings = json_array();
	sc->errors = json_array();
	sc->importable = json_array();
	if (!sc->files || !sc->findings || !sc->errors || !sc->importable)
		r = KW_ENOMEM;
	if (r == 0)
		r = scan_known(cli, sc);
	for (int i = optind; i < argc && r == 0; i++)
		r = scan_file(cli, sc, argv[i], "file", true);
	if (r) {
		ex = cli_fail(cli, NULL, NULL, r);
	} else {
		if (sc->json) {
			json_t *out =
				json_pack("{s:O, s:O, s:O}", "files", sc->files,
			                  "findings", sc->findings, "errors",
			                  sc->errors);
			if (!out || cli_print_json(out) != 0)
				sc->failed = true;
			json_decref(out);
		} else {
			scan_summary(sc);
		}
		ex = sc->failed ? CLI_EXIT_ERROR :
		     sc->nfound ? CLI_EXIT_FOUND :
		                  CLI_EXIT_OK;
	}
	json_decref(sc->files);
	json_decref(sc->findings);
	json_decref(sc->errors);
	json_decref(sc->importable);
	free(sc);
	return ex;
}

int cmd_mcp(struct cli *cli, int argc, char **argv)
{
	static const struct cli_subcommand subs[] = {
		{ "scan", "mcp scan", mcp_scan },
		{ "import", "mcp import", cli_mcp_import },
		{ "proxy", "mcp proxy", cli_mcp_proxy },
	};
	return cli_run_subcommand(cli, argc, argv, subs,
	                          sizeof(subs) / sizeof(subs[0]));
}
