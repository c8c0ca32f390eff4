/*
 * cmd_mcp_import.c - keyward mcp import: move the credentials of an MCP
 * client config's stdio servers into keyward and make those servers
 * launch through `keyward run` (docs/cli.md, keyward mcp).
 *
 * Order, so that no failure loses a credential: read the file and its
 * stamp; plan and show; refuse a secret name two servers would share
 * with different values, in the file or with the store (mcp_collide.c);
 * store every credential and read each back (constant-time compare); with
 * --narrow, make the client tokens and policy sections; only then replace
 * the file, atomically, keeping mode and owner, and only if it is still
 * the file that was read. A failure
 * after the secrets are stored leaves the config as it was and says so.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "atomicfile.h"
#include "cli.h"
#include "mcp.h"
#include "name.h"
#include "paths.h"
#include "secmem.h"
#include "tty.h"

#define SERVER_OPTS_MAX 64u

struct import {
	const char *path;
	const char *prefix;
	const char *servers[SERVER_OPTS_MAX];
	size_t nservers;
	bool dry_run, yes, narrow;
	char exe[PATH_MAX];
	char *text;
	size_t len;
	struct kw_filestamp stamp;
	struct mcp_config *cfg;
	bool *sel;
	size_t nsel;
	char **token_files;       /* --narrow, indexed like cfg->servers */
	char socket[KW_PATH_MAX]; /* the agent's, absolute */
	const char *socket_arg;   /* socket, when the args must name it */
	char *out;                /* the new text, rendered before anything is
	                             stored so that it cannot fail after */
	size_t outlen;
};

static int parse_opts(struct cli *cli, int argc, char **argv, struct import *im)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "yes", no_argument, NULL, 'y' },
		{ "narrow", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *rule;
	int o;

	im->prefix = "mcp/";
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 's':
			if (im->nservers == SERVER_OPTS_MAX)
				return cli_usage(cli, "at most %u --server",
				                 SERVER_OPTS_MAX);
			im->servers[im->nservers++] = optarg;
			break;
		case 'p':
			im->prefix = optarg;
			break;
		case 'n':
			im->dry_run = true;
			break;
		case 'y':
			im->yes = true;
			break;
		case 'N':
			im->narrow = true;
			break;
		case 'h':
			cli_help();
			return CLI_EXIT_DONE; /* main() makes it exit 0 */
		default:
			return cli_bad_option(cli, argv);
		}
	}
	if (optind + 1 != argc)
		return cli_usage(cli, "give one CONFIG file");
	im->path = argv[optind];
	if (kw_prefix_check(im->prefix, strlen(im->prefix), &rule) != 0)
		return cli_usage(cli, "--prefix: %s", rule);
	return 0;
}

static bool wanted(const struct import *im, const char *name)
{
	if (im->nservers == 0)
		return true;
	for (size_t i = 0; i < im->nservers; i++)
		if (strcmp(im->servers[i], name) == 0)
			return true;
	return false;
}

/* Every --server names a server of the file. */
static int check_server_opts(struct cli *cli, const struct import *im)
{
	for (size_t i = 0; i < im->nservers; i++) {
		bool found = false;
		for (size_t k = 0; k < im->cfg->nservers && !found; k++)
			found = strcmp(im->cfg->servers[k].name,
			               im->servers[i]) == 0;
		if (!found) {
			cli_msg(cli, im->servers[i], "no such server in %s",
			        im->path);
			return CLI_EXIT_NOTFOUND;
		}
	}
	return 0;
}

/* Every secret name import would write is a valid name, from a variable
 * keyward run can set. */
static int check_names(struct cli *cli, const struct import *im)
{
	const struct mcp_config *cfg = im->cfg;
	char a[KW_NAME_MAX + 1], name[KW_NAME_MAX + 1];
	const char *rule;

	for (size_t i = 0; i < cfg->nservers; i++) {
		const struct mcp_server *s = &cfg->servers[i];
		if (!im->sel[i])
			continue;
		if (mcp_server_slug(s->name, a, sizeof(a)) != 0 ||
		    (im->narrow && strlen(a) > 60)) {
			cli_msg(cli, s->name, "server name too long");
			return CLI_EXIT_ERROR;
		}
		for (size_t k = s->move_first; k < s->move_end; k++) {
			const char *var = s->creds[k].var;
			if (!s->proxyable && !mcp_env_name_ok(var)) {
				cli_msg(cli, var,
				        "server \"%s\": keyward run cannot set "
				        "this variable (A-Z a-z 0-9 _, not "
				        "starting with a digit)",
				        a);
				return CLI_EXIT_ERROR;
			}
			if (mcp_secret_name(im->prefix, s->name, var, name,
			                    sizeof(name), &rule) != 0) {
				cli_msg(cli, var,
				        "server \"%s\": no secret name for this "
				        "variable: %s",
				        a, rule);
				return CLI_EXIT_ERROR;
			}
		}
	}
	return 0;
}

static void print_server_name(const struct mcp_server *s)
{
	fputs("  ", stdout);
	cli_print_clean(stdout, s->name);
	if (s->scope[0]) {
		fputs(" (", stdout);
		cli_print_clean(stdout, s->scope);
		fputc(')', stdout);
	}
	fputs(": ", stdout);
}

/* What will happen to each server, names only. */
static void print_plan(const struct import *im)
{
	const struct mcp_config *cfg = im->cfg;
	char name[KW_NAME_MAX + 1];
	const char *rule;

	fputs(im->dry_run ? "would import from " : "importing from ", stdout);
	cli_print_clean(stdout, im->path);
	puts(":");
	for (size_t i = 0; i < cfg->nservers; i++) {
		const struct mcp_server *s = &cfg->servers[i];
		if (!wanted(im, s->name))
			continue;
		print_server_name(s);
		if (im->sel[i]) {
			puts(s->proxyable ?
			             "to launch through keyward mcp proxy" :
			             "to launch through keyward run");
			for (size_t k = s->move_first; k < s->move_end; k++) {
				fputs("    ", stdout);
				cli_print_clean(stdout, s->creds[k].var);
				if (mcp_secret_name(im->prefix, s->name,
				                    s->creds[k].var, name,
				                    sizeof(name), &rule) == 0)
					printf(" -> %s\n", name);
			}
		} else if (s->remote) {
			puts(s->ncreds ?
			             "remote server, left unchanged: not "
			             "Streamable HTTP (\"type\": \"sse\"), "
			             "which keyward mcp proxy does not speak" :
			             "remote server without credentials, left "
			             "unchanged");
		} else if (s->wrapped) {
			puts("already launched through keyward run");
		} else if (!s->command) {
			puts("no \"command\", left unchanged");
		} else {
			puts("no plaintext credential");
		}
	}
}

/* $KEYWARD_HOME/clients/<slug>.token for each selected server. */
static int plan_token_files(struct cli *cli, struct import *im)
{
	char home[KW_PATH_MAX], slug[KW_NAME_MAX + 1];

	if (kw_path_home(home, sizeof(home)) != 0) {
		cli_msg(cli, NULL, "cannot resolve the keyward home");
		return CLI_EXIT_ERROR;
	}
	im->token_files = calloc(im->cfg->nservers + 1, sizeof(char *));
	if (!im->token_files)
		return cli_fail(cli, NULL, NULL, KW_ENOMEM);
	for (size_t i = 0; i < im->cfg->nservers; i++) {
		if (!im->sel[i])
			continue;
		if (mcp_server_slug(im->cfg->servers[i].name, slug,
		                    sizeof(slug)) != 0 ||
		    asprintf(&im->token_files[i], "%s/clients/%s.token", home,
		             slug) < 0) {
			im->token_files[i] = NULL;
			return cli_fail(cli, NULL, NULL, KW_ENOMEM);
		}
	}
	return 0;
}

/* The importing user's HOME, as an MCP client passes it on. */
static const char *user_home(void)
{
	const char *home = getenv("HOME");
	struct passwd *pw;

	if (home && home[0] == '/')
		return home;
	pw = getpwuid(geteuid());
	return pw && pw->pw_dir && pw->pw_dir[0] == '/' ? pw->pw_dir : "";
}

/*
 * The socket this import reaches the agent at, made absolute, and whether
 * the rewritten args must name it: a server an MCP client starts gets
 * none of XDG_RUNTIME_DIR, KEYWARD_SOCKET or KEYWARD_HOME, so its
 * `keyward run` looks only at $HOME/.mcp/agent.sock (mcp_socket_arg).
 */
static int plan_socket(struct cli *cli, struct import *im)
{
	char used[KW_PATH_MAX], cwd[KW_PATH_MAX];
	int ex = cli_socket_path(cli, used, sizeof(used));
	int n;

	if (ex)
		return ex;
	if (used[0] == '/')
		n = snprintf(im->socket, sizeof(im->socket), "%s", used);
	else if (getcwd(cwd, sizeof(cwd)))
		n = snprintf(im->socket, sizeof(im->socket), "%s/%s", cwd,
		             used);
	else
		n = -1;
	if (n < 0 || (size_t)n >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		cli_msg(cli, NULL,
		        "the agent socket has no absolute path short enough "
		        "for a socket address; give --socket one");
		return CLI_EXIT_ERROR;
	}
	im->socket_arg = mcp_socket_arg(im->socket, user_home());
	if (im->socket_arg) {
		fputs("  (keyward run is given --socket ", stdout);
		cli_print_clean(stdout, im->socket_arg);
		puts(": MCP clients do not pass on the environment that "
		     "leads there)");
	}
	return 0;
}

/* --dry-run: the diff with every credential value as <redacted>. */
static int show_diff(struct cli *cli, const struct import *im)
{
	struct mcp_render_opts o = { .exe = im->exe,
		                     .prefix = im->prefix,
		                     .token_files = im->token_files,
		                     .socket = im->socket_arg,
		                     .redact = true };
	char why[200], *before = NULL, *after = NULL, label[PATH_MAX + 32];
	size_t blen, alen;

	int r = mcp_render(im->cfg, im->sel, &o, &before, &blen, why,
	                   sizeof(why));
	o.rewrite = true;
	if (r == 0)
		r = mcp_render(im->cfg, im->sel, &o, &after, &alen, why,
		               sizeof(why));
	snprintf(label, sizeof(label), "%s (after import)", im->path);
	if (r == 0)
		r = mcp_diff(stdout, im->path, before, blen, label, after,
		             alen);
	kw_wipefree(before);
	kw_wipefree(after);
	if (r)
		return why[0] ? (cli_msg(cli, im->path, "%s", why),
		                 CLI_EXIT_ERROR) :
		                cli_fail(cli, NULL, NULL, r);
	puts("dry run: nothing stored, nothing changed");
	return 0;
}

/* Without --yes: ask on the terminal, refuse without one. */
static int confirm(struct cli *cli, const struct import *im)
{
	char line[16];
	size_t n;

	if (im->yes)
		return 0;
	if (!isatty(STDIN_FILENO)) {
		cli_msg(cli, im->path,
		        "not changed: confirm with --yes (no terminal to ask "
		        "on), or look first with --dry-run");
		return CLI_EXIT_USAGE;
	}
	printf("Store these credentials in keyward and rewrite %s? [y/N] ",
	       im->path);
	fflush(stdout);
	if (tty_read_fd_line(STDIN_FILENO, line, sizeof(line), &n) != 0 ||
	    !(strcmp(line, "y") == 0 || strcmp(line, "yes") == 0)) {
		cli_msg(cli, im->path, "not changed");
		return CLI_EXIT_ERROR;
	}
	return 0;
}

/* Store one credential unless it is already the current value (then
 * *ret_reused), then read it back and compare in constant time. */
static int store_one(kw_client *c, const char *name, const char *value,
                     size_t len, bool *ret_reused)
{
	kw_secret *s = NULL;
	bool exists;
	int r = cli_mcp_stored_as(c, name, value, len, &exists, ret_reused);

	if (r == 0 && !*ret_reused)
		r = kw_secret_put(c, name, value, len, NULL);
	if (r || (r = kw_secret_get(c, name, &s)))
		return r;
	if (kw_secret_len(s) != len ||
	    sodium_memcmp(kw_secret_value(s), value, len) != 0)
		r = KW_EPROTO;
	kw_secret_free(s);
	return r;
}

static int store_all(struct cli *cli, kw_client *c, const struct import *im,
                     size_t *ret_stored, size_t *ret_reused)
{
	const struct mcp_config *cfg = im->cfg;
	char name[KW_NAME_MAX + 1];

	for (size_t i = 0; i < cfg->nservers; i++) {
		const struct mcp_server *s = &cfg->servers[i];
		for (size_t k = s->move_first; im->sel[i] && k < s->move_end;
		     k++) {
			char *value = NULL;
			size_t len;
			bool reused = false;
			int r = mcp_cred_value(cfg, im->prefix, s, k, name,
			                       sizeof(name), &value, &len);
			if (r == 0)
				r = store_one(c, name, value, len, &reused);
			kw_wipefree(value);
			if (r) {
				int ex = cli_fail(cli, c, name, r);
				cli_msg(cli, im->path,
				        "not changed; %zu credential%s stored "
				        "before the failure",
				        *ret_stored,
				        *ret_stored == 1 ? "" : "s");
				return ex;
			}
			++*ret_stored;
			*ret_reused += reused;
		}
	}
	return 0;
}

/* After a failure past the storing: what is where. */
static void stored_note(struct cli *cli, const struct import *im, size_t stored)
{
	cli_msg(cli, im->path,
	        "not changed, but its %zu credential%s are stored in keyward; "
	        "run the import again to rewrite it",
	        stored, stored == 1 ? "" : "s");
}

/* The new text, before anything is stored. */
static int render_new(struct cli *cli, struct import *im)
{
	struct mcp_render_opts o = { .exe = im->exe,
		                     .prefix = im->prefix,
		                     .token_files = im->token_files,
		                     .socket = im->socket_arg,
		                     .rewrite = true };
	char why[256];

	int r = mcp_render(im->cfg, im->sel, &o, &im->out, &im->outlen, why,
	                   sizeof(why));
	if (r == 0)
		return 0;
	if (r == KW_EINVAL) {
		cli_msg(cli, im->path, "%s", why);
		return CLI_EXIT_ERROR;
	}
	return cli_fail(cli, NULL, NULL, r);
}

/* Replace the file, kept mode and owner, only if unchanged since read. */
static int rewrite(struct cli *cli, const struct import *im, size_t stored)
{
	char why[256] = "";

	int r = kw_atomic_replace(im->path, im->out, im->outlen, 0600,
	                          KW_ATOMIC_KEEP_OWNER | KW_ATOMIC_IF_UNCHANGED,
	                          &im->stamp, why, sizeof(why));
	if (r) {
		cli_msg(cli, im->path, "%s", why[0] ? why : kw_strerror(r));
		stored_note(cli, im, stored);
		return CLI_EXIT_ERROR;
	}
	return 0;
}

static int load(struct cli *cli, struct import *im)
{
	char why[256];
	int r;

	if (!realpath("/proc/self/exe", im->exe)) {
		cli_msg(cli, NULL, "cannot find this program's path: %s",
		        strerror(errno));
		return CLI_EXIT_ERROR;
	}
	r = kw_file_read(im->path, MCP_CONFIG_MAX, &im->text, &im->len,
	                 &im->stamp, why, sizeof(why));
	if (r == 0)
		r = mcp_config_parse(im->text, im->len, im->exe, &im->cfg, why,
		                     sizeof(why));
	if (r) {
		cli_msg(cli, im->path, "%s",
		        r == KW_ENOMEM ? kw_strerror(r) : why);
		return r == KW_ENOTFOUND ? CLI_EXIT_NOTFOUND : CLI_EXIT_ERROR;
	}
	im->sel = calloc(im->cfg->nservers + 1, sizeof(bool));
	if (!im->sel)
		return cli_fail(cli, NULL, NULL, KW_ENOMEM);
	for (size_t i = 0; i < im->cfg->nservers; i++) {
		const struct mcp_server *s = &im->cfg->servers[i];
		im->sel[i] = wanted(im, s->name) && mcp_server_importable(s);
		im->nsel += im->sel[i];
	}
	return 0;
}

static void import_free(struct import *im)
{
	for (size_t i = 0; im->token_files && i < im->cfg->nservers; i++)
		free(im->token_files[i]);
	free(im->token_files);
	free(im->sel);
	kw_wipefree(im->out);
	mcp_config_free(im->cfg);
	kw_wipefree(im->text);
}

/* Store, narrow, rewrite: the part that changes things. */
static int apply(struct cli *cli, struct import *im)
{
	kw_client *c = NULL;
	size_t stored = 0, reused = 0;
	int ex = cli_connect(cli, KW_TIMEOUT_DEFAULT_MS, &c);

	if (ex == 0)
		ex = cli_mcp_check_store(cli, c, im->cfg, im->sel, im->prefix,
		                         im->path);
	if (ex == 0)
		ex = store_all(cli, c, im, &stored, &reused);
	if (ex == 0 && im->narrow &&
	    (ex = cli_mcp_narrow(cli, c, im->cfg, im->sel, im->prefix, im->exe,
	                         im->token_files)))
		stored_note(cli, im, stored);
	if (ex == 0)
		ex = rewrite(cli, im, stored);
	kw_close(c);
	if (ex == 0) {
		printf("stored %zu credential%s", stored,
		       stored == 1 ? "" : "s");
		if (reused)
			printf(" (%zu already held that value)", reused);
		size_t proxied = 0;
		for (size_t i = 0; i < im->cfg->nservers; i++)
			proxied += im->sel[i] && im->cfg->servers[i].proxyable;
		fputs("; ", stdout);
		cli_print_clean(stdout, im->path);
		printf(" now launches %zu server%s through keyward run",
		       im->nsel - proxied, im->nsel - proxied == 1 ? "" : "s");
		if (proxied)
			printf(" and %zu through keyward mcp proxy", proxied);
		puts(" (restart the MCP client to use it)");
	}
	return ex;
}

int cli_mcp_import(struct cli *cli, int argc, char **argv)
{
	struct import im = { 0 };
	int ex = parse_opts(cli, argc, argv, &im);

	if (ex == 0)
		ex = load(cli, &im);
	if (ex == 0)
		ex = check_server_opts(cli, &im);
	if (ex == 0)
		ex = check_names(cli, &im);
	if (ex == 0)
		ex = cli_mcp_check_shared(cli, im.cfg, im.sel, im.prefix,
		                          im.path);
	if (ex == 0)
		print_plan(&im);
	if (ex == 0 && im.nsel == 0) {
		cli_print_clean(stdout, im.path);
		puts(": nothing to import, left unchanged");
		import_free(&im);
		return CLI_EXIT_OK;
	}
	if (ex == 0)
		ex = plan_socket(cli, &im);
	if (ex == 0 && im.narrow)
		ex = plan_token_files(cli, &im);
	if (ex == 0)
		ex = render_new(cli, &im);
	if (ex == 0 && im.dry_run)
		ex = show_diff(cli, &im);
	else if (ex == 0)
		ex = confirm(cli, &im);
	if (ex == 0 && !im.dry_run)
		ex = apply(cli, &im);
	import_free(&im);
	return ex;
}
