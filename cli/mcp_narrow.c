/*
 * mcp_narrow.c - `keyward mcp import --narrow`: per server, a client token
 * (client.add "mcp-<server>") in $KEYWARD_HOME/clients/<server>.token and
 * a policy section, $KEYWARD_HOME/policies/00-mcp-<server>.ini, that lets
 * this keyward binary holding that token read only PREFIX<server>/<any>.
 *
 * Sections are tried in file-name order and the first whose identity
 * keys all match decides (policies/README.md); "00-mcp-" sorts before
 * "00-owner.ini", so a `keyward run --token-file` is held to its server's
 * secrets, while the owner's CLI, which presents no token, does not match
 * these sections and falls through to its own. If any step fails, the
 * policy files of this run are removed again (the agent keeps the policy
 * it had); tokens stay, and a later run reuses them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"
#include "cli.h"
#include "mcp.h"
#include "paths.h"
#include "secmem.h"

/* A policy line's limit (policies/README.md). */
#define POLICY_LINE_MAX 198

/* $KEYWARD_HOME/<leaf>, a directory made 0700 if missing. */
static int private_dir(struct cli *cli, const char *leaf, char *buf, size_t sz)
{
	if (kw_path_in_home(leaf, buf, sz) != 0) {
		cli_msg(cli, NULL, "cannot resolve the keyward home");
		return CLI_EXIT_ERROR;
	}
	if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
		cli_msg(cli, buf, "cannot create: %s", strerror(errno));
		return CLI_EXIT_ERROR;
	}
	return 0;
}

/* client.add NAME: the token into path (0600, atomic). An existing
 * client is fine when its token file exists (an earlier import stopped
 * before rewriting the config). */
static int make_token(struct cli *cli, kw_client *c, const char *client,
                      const char *path)
{
	json_t *res = NULL;
	const char *token;
	char why[256];

	int r = cli_call_name(c, "client.add", client, &res);
	if (r == KW_EEXIST && access(path, R_OK) == 0)
		return 0;
	if (r == 0 && !kw_json_get_text(res, "token", &token))
		r = KW_EPROTO;
	if (r) {
		json_decref(res);
		return cli_fail(cli, c, client, r);
	}
	size_t n = strlen(token);
	char *line = kw_wipealloc(n + 2);
	if (line) {
		memcpy(line, token, n);
		memcpy(line + n, "\n", 2);
		r = kw_atomic_replace(path, line, n + 1, 0600, 0, NULL, why,
		                      sizeof(why));
	}
	kw_wipefree(line);
	json_decref(res);
	if (!line)
		return cli_fail(cli, NULL, NULL, KW_ENOMEM);
	if (r) {
		cli_msg(cli, path, "%s", why);
		return CLI_EXIT_ERROR;
	}
	return 0;
}

static int policy_path(const char *dir, const char *slug, char *path, size_t sz)
{
	int n = snprintf(path, sz, "%s/00-mcp-%s.ini", dir, slug);
	return n < 0 || (size_t)n >= sz ? KW_ETOOBIG : 0;
}

static int write_policy(struct cli *cli, const char *dir, const char *slug,
                        const char *prefix, const char *exe)
{
	char path[KW_PATH_MAX], text[4 * POLICY_LINE_MAX + 512], why[256];
	int n;

	if (policy_path(dir, slug, path, sizeof(path)) != 0) {
		cli_msg(cli, dir, "path too long");
		return CLI_EXIT_ERROR;
	}
	if (strlen(exe) + 6 > POLICY_LINE_MAX ||
	    strlen(prefix) + strlen(slug) + 9 > POLICY_LINE_MAX) {
		cli_msg(cli, path,
		        "a line would be longer than policies allow");
		return CLI_EXIT_ERROR;
	}
	n = snprintf(text, sizeof(text),
	             "; Written by keyward mcp import --narrow: the MCP "
	             "server %s,\n"
	             "; launched by this keyward with its token, reads only "
	             "its own secrets.\n"
	             "[client \"mcp-%s\"]\n"
	             "uid = %u\n"
	             "exe = %s\n"
	             "token = mcp-%s\n"
	             "read = %s%s/*\n",
	             slug, slug, (unsigned)geteuid(), exe, slug, prefix, slug);
	if (n < 0 || (size_t)n >= sizeof(text) ||
	    kw_atomic_replace(path, text, (size_t)n, 0600, 0, NULL, why,
	                      sizeof(why)) != 0) {
		cli_msg(cli, path, "cannot write: %s",
		        n < 0 || (size_t)n >= sizeof(text) ? "too long" : why);
		return CLI_EXIT_ERROR;
	}
	return 0;
}

/* The agent refused the new policy: take this run's files away again, so
 * that the next reload does not fail on them too. */
static void remove_policies(struct cli *cli, const struct mcp_config *cfg,
                            const bool *sel, const char *dir)
{
	char slug[KW_NAME_MAX + 1], path[KW_PATH_MAX];

	for (size_t i = 0; i < cfg->nservers; i++)
		if (sel[i] &&
		    mcp_server_slug(cfg->servers[i].name, slug, sizeof(slug)) ==
		            0 &&
		    policy_path(dir, slug, path, sizeof(path)) == 0 &&
		    unlink(path) != 0 && errno != ENOENT)
			cli_msg(cli, path, "cannot remove: %s",
			        strerror(errno));
}

int cli_mcp_narrow(struct cli *cli, kw_client *c, const struct mcp_config *cfg,
                   const bool *sel, const char *prefix, const char *exe,
                   char *const *token_files)
{
	char clients[KW_PATH_MAX], policies[KW_PATH_MAX];
	char slug[KW_NAME_MAX + 1], client[KW_NAME_MAX + 8];
	json_t *res = NULL;
	int ex;

	if ((ex = private_dir(cli, "clients", clients, sizeof(clients))) ||
	    (ex = private_dir(cli, "policies", policies, sizeof(policies))))
		return ex;
	for (size_t i = 0; i < cfg->nservers; i++) {
		if (!sel[i])
			continue;
		if (mcp_server_slug(cfg->servers[i].name, slug, sizeof(slug)))
			return cli_fail(cli, NULL, NULL, KW_ETOOBIG);
		snprintf(client, sizeof(client), "mcp-%s", slug);
		if ((ex = make_token(cli, c, client, token_files[i])) ||
		    (ex = write_policy(cli, policies, slug, prefix, exe)))
			break;
	}
	int r = ex ? 0 : cli_call(c, "policy.reload", NULL, &res);
	json_decref(res);
	if (r)
		ex = cli_fail(cli, c, "policy reload", r);
	if (ex)
		remove_policies(cli, cfg, sel, policies);
	return ex;
}
