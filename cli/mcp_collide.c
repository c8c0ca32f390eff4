/*
 * mcp_collide.c - one secret name, two servers: `keyward mcp import`
 * names secrets after servers (PREFIX<server>/<VAR>), so the same server
 * name in two configs (Claude Code's user and project scopes), twice in
 * one (its projects.<dir>.mcpServers), or two names made alike, would
 * start one server with the other's credential. Checked before anything
 * is stored: one value may be shared, two are refused (docs/cli.md).
 */
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mcp.h"
#include "name.h"
#include "secmem.h"

/* A server's label in messages: its name and the scope it is in. */
#define LABEL_MAX 320

/* s's name and where it is, "NAME" (SCOPE), non-printable bytes as '?'
 * (both come from the file). */
static void server_label(const struct mcp_server *s, char *buf, size_t sz)
{
	snprintf(buf, sz, "\"%s\" (%s)", s->name,
	         s->scope[0] ? s->scope : "top level");
	for (char *p = buf; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
}

/* The decoded values of two string nodes are equal (constant time). */
static int same_value(const kw_jdoc *doc, const struct kw_jnode *x,
                      const struct kw_jnode *y, bool *ret_same)
{
	char *a = NULL, *b = NULL;
	size_t alen, blen;
	int r = kw_jspan_string(doc, x, false, &a, &alen);

	if (r == 0)
		r = kw_jspan_string(doc, y, false, &b, &blen);
	if (r == 0)
		*ret_same = alen == blen && sodium_memcmp(a, b, alen) == 0;
	kw_wipefree(a);
	kw_wipefree(b);
	return r;
}

/*
 * Servers x and y of the file have the same secret names PREFIX<slug>/.
 * Different server names that come out alike are refused. The same name
 * twice (Claude Code's projects.<dir>.mcpServers) may share a name where
 * both hold the same value; a variable with two values is refused.
 */
static int check_pair(struct cli *cli, const struct mcp_config *cfg,
                      const char *prefix, const char *path,
                      const struct mcp_server *x, const struct mcp_server *y,
                      const char *slug)
{
	char name[KW_NAME_MAX + 1], lx[LABEL_MAX], ly[LABEL_MAX];
	const char *rule, *differs = NULL;
	int r = 0;

	server_label(x, lx, sizeof(lx));
	server_label(y, ly, sizeof(ly));
	if (strcmp(x->name, y->name) != 0) {
		cli_msg(cli, NULL,
		        "servers %s and %s would share the secret names "
		        "%s%s/...; import them one at a time with --server "
		        "and different --prefix",
		        lx, ly, prefix, slug);
		return CLI_EXIT_ERROR;
	}
	for (size_t i = x->move_first; i < x->move_end && r == 0 && !differs;
	     i++) {
		for (size_t k = y->move_first; k < y->move_end && r == 0; k++) {
			bool same = true;
			if (strcmp(x->creds[i].var, y->creds[k].var) == 0)
				r = same_value(cfg->doc, x->creds[i].node,
				               y->creds[k].node, &same);
			if (!same)
				differs = x->creds[i].var;
		}
	}
	if (r)
		return cli_fail(cli, NULL, NULL, r);
	if (!differs)
		return 0;
	r = mcp_secret_name(prefix, x->name, differs, name, sizeof(name),
	                    &rule);
	cli_msg(cli, r == 0 ? name : differs,
	        "servers %s and %s hold different values that would both be "
	        "stored here; nothing stored, %s not changed (give one of "
	        "them another name in the file first)",
	        lx, ly, path);
	return CLI_EXIT_ERROR;
}

int cli_mcp_check_shared(struct cli *cli, const struct mcp_config *cfg,
                         const bool *sel, const char *prefix, const char *path)
{
	char a[KW_NAME_MAX + 1], b[KW_NAME_MAX + 1];

	for (size_t i = 0; i < cfg->nservers; i++) {
		if (!sel[i] ||
		    mcp_server_slug(cfg->servers[i].name, a, sizeof(a)) != 0)
			continue;
		for (size_t k = 0; k < i; k++) {
			if (!sel[k] ||
			    mcp_server_slug(cfg->servers[k].name, b,
			                    sizeof(b)) != 0 ||
			    strcmp(a, b) != 0)
				continue;
			int ex = check_pair(cli, cfg, prefix, path,
			                    &cfg->servers[k], &cfg->servers[i],
			                    a);
			if (ex)
				return ex;
		}
	}
	return 0;
}

/* Whether name is stored: 1 yes, 0 no, or a KW_E* code (KW_EDENIED when
 * the caller may read but not list). */
static int stored_name(kw_client *c, const char *name)
{
	struct kw_secret_list *l = NULL;
	int r = kw_secret_list(c, name, &l);

	if (r < 0)
		return r;
	for (size_t i = 0; r == 0 && i < kw_secret_list_count(l); i++)
		r = strcmp(kw_secret_list_name(l, i), name) == 0;
	kw_secret_list_free(l);
	return r;
}

int cli_mcp_stored_as(kw_client *c, const char *name, const char *value,
                      size_t len, bool *ret_exists, bool *ret_same)
{
	kw_secret *s = NULL;
	int r;

	/* Listing first: a get of a name that is not there would leave an
	 * error row in the audit log for every credential imported. */
	*ret_exists = *ret_same = false;
	r = stored_name(c, name);
	if (r == 0)
		return 0;
	if (r < 0 && r != KW_EDENIED)
		return r;
	r = kw_secret_get(c, name, &s);

	*ret_exists = r == 0;
	*ret_same = r == 0 && kw_secret_len(s) == len &&
	            sodium_memcmp(kw_secret_value(s), value, len) == 0;
	kw_secret_free(s);
	return r == KW_ENOTFOUND ? 0 : r;
}

/* A --prefix to suggest for this file: PREFIX<dir>/, dir the nearest
 * directory above it whose name does not start with '.' (the project of
 * a .mcp.json or a .cursor/mcp.json). */
static void suggest_prefix(const char *prefix, const char *path, char *buf,
                           size_t sz)
{
	char real[PATH_MAX], slug[KW_NAME_MAX + 1], *slash, *dir = NULL;
	const char *rule;

	if (realpath(path, real)) {
		while (!dir && (slash = strrchr(real, '/')) && slash != real) {
			*slash = '\0';
			dir = strrchr(real, '/') + 1;
			dir = dir[0] == '.' ? NULL : dir;
		}
	}
	int n = dir && mcp_server_slug(dir, slug, sizeof(slug)) == 0 ?
	                snprintf(buf, sz, "%s%s/", prefix, slug) :
	                -1;
	if (n < 0 || (size_t)n >= sz ||
	    kw_prefix_check(buf, (size_t)n, &rule) != 0)
		snprintf(buf, sz, "%sproject-x/", prefix);
}

/*
 * Before anything is stored: a name that already holds another value
 * (most likely the same server name imported from another config) would
 * start one of the two servers with the other's credential. Refuse the
 * whole import, naming the secret and the server; a name holding this
 * very value is reused (store_one writes no new version).
 */
int cli_mcp_check_store(struct cli *cli, kw_client *c,
                        const struct mcp_config *cfg, const bool *sel,
                        const char *prefix, const char *path)
{
	char name[KW_NAME_MAX + 1], label[LABEL_MAX], hint[KW_NAME_MAX + 1];

	for (size_t i = 0; i < cfg->nservers; i++) {
		const struct mcp_server *s = &cfg->servers[i];
		for (size_t k = s->move_first; sel[i] && k < s->move_end; k++) {
			char *value = NULL;
			size_t len;
			bool exists = false, same = false;
			int r = mcp_cred_value(cfg, prefix, s, k, name,
			                       sizeof(name), &value, &len);
			if (r == 0)
				r = cli_mcp_stored_as(c, name, value, len,
				                      &exists, &same);
			kw_wipefree(value);
			if (r) {
				int ex = cli_fail(cli, c, name, r);
				cli_msg(cli, path,
				        "not changed, nothing stored");
				return ex;
			}
			if (!exists || same)
				continue;
			server_label(s, label, sizeof(label));
			suggest_prefix(prefix, path, hint, sizeof(hint));
			cli_msg(cli, name,
			        "already holds a different value than %s of "
			        "server %s, probably from a server of the same "
			        "name in another config; nothing stored, %s not "
			        "changed. Import this file under its own "
			        "prefix, e.g. --prefix %s",
			        s->creds[k].var, label, path, hint);
			return CLI_EXIT_ERROR;
		}
	}
	return 0;
}
