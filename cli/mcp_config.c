/*
 * mcp_config.c - where MCP clients keep their configs, and which servers
 * and credentials a config holds (mcp.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "keyward.h"
#include "mcp.h"
#include "name.h"
#include "paths.h"
#include "secmem.h"

const struct mcp_location mcp_locations[] = {
	{ "Claude Desktop", true, ".config/Claude/claude_desktop_config.json" },
	{ "Claude Desktop", true,
	  "Library/Application Support/Claude/claude_desktop_config.json" },
	{ "Claude Code", true, ".claude.json" },
	{ "Claude Code", false, ".mcp.json" },
	{ "Cursor", true, ".cursor/mcp.json" },
	{ "Cursor", false, ".cursor/mcp.json" },
	{ "VS Code", false, ".vscode/mcp.json" },
	{ "VS Code", true, ".config/Code/User/mcp.json" },
	{ "Windsurf", true, ".codeium/windsurf/mcp_config.json" },
	{ "Gemini CLI", true, ".gemini/settings.json" },
	{ "Gemini CLI", false, ".gemini/settings.json" },
};
const size_t mcp_nlocations = sizeof(mcp_locations) / sizeof(mcp_locations[0]);

/* Servers in one config, at most; more is refused as implausible. */
#define SERVERS_MAX 4096u

static void server_clear(struct mcp_server *s)
{
	for (size_t i = 0; i < s->ncreds; i++)
		free(s->creds[i].var);
	free(s->creds);
	free(s->name);
	free(s->scope);
}

void mcp_config_free(struct mcp_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->nservers; i++)
		server_clear(&cfg->servers[i]);
	free(cfg->servers);
	kw_jspan_free(cfg->doc);
	free(cfg);
}

/* A decoded key or string that is not a secret, in plain memory. */
static int plain_string(const kw_jdoc *doc, const struct kw_jnode *n, bool key,
                        char **ret)
{
	char *w;
	size_t len;
	int r = kw_jspan_string(doc, n, key, &w, &len);
	if (r)
		return r;
	*ret = strdup(w);
	kw_wipefree(w);
	return *ret ? 0 : KW_ENOMEM;
}

/* Classify one string member of env or headers; appended to s->creds
 * when it is a credential. */
static int scan_entry(const kw_jdoc *doc, struct mcp_server *s,
                      const struct kw_jnode *v, bool header)
{
	char *var = NULL, *value = NULL;
	size_t len;
	int r;

	if (v->type != KW_JSTRING)
		return 0;
	if ((r = plain_string(doc, v, true, &var)))
		return r;
	if ((r = kw_jspan_string(doc, v, false, &value, &len))) {
		free(var);
		return r;
	}
	enum kw_cred_rule rule = kw_cred_classify(var, value, len);
	if (rule == KW_CRED_NONE) {
		free(var);
		kw_wipefree(value);
		return 0;
	}
	struct mcp_cred *c = realloc(s->creds, (s->ncreds + 1) * sizeof(*c));
	if (!c) {
		free(var);
		kw_wipefree(value);
		return KW_ENOMEM;
	}
	s->creds = c;
	c = &s->creds[s->ncreds++];
	*c = (struct mcp_cred){ .node = v,
		                .var = var,
		                .header = header,
		                .rule = rule,
		                .len = len };
	if (!kw_cred_fingerprint(rule, value, len, c->fp))
		c->fp[0] = '\0';
	kw_wipefree(value);
	return 0;
}

static int scan_block(const kw_jdoc *doc, struct mcp_server *s,
                      const struct kw_jnode *obj, bool header)
{
	if (!obj || obj->type != KW_JOBJECT)
		return 0;
	for (const struct kw_jnode *v = kw_jspan_first(doc, obj); v;
	     v = kw_jspan_next(doc, v)) {
		int r = scan_entry(doc, s, v, header);
		if (r)
			return r;
	}
	return 0;
}

/* The last '/'-separated part of the string n is "keyward", or n is exe. */
static bool is_keyward(const kw_jdoc *doc, const struct kw_jnode *n,
                       const char *exe)
{
	char *cmd;
	size_t len;
	bool yes;

	if (!n || kw_jspan_string(doc, n, false, &cmd, &len) != 0)
		return false;
	const char *base = strrchr(cmd, '/');
	base = base ? base + 1 : cmd;
	yes = strcmp(base, "keyward") == 0 || (exe && strcmp(cmd, exe) == 0);
	kw_wipefree(cmd);
	return yes;
}

/* How many elements the keyward global option at n takes up: 2 for
 * "--socket" or "--timeout" (the option, then its value), 1 for their
 * "--socket=V" form, 0 when n is no such option. */
static size_t global_opt(const kw_jdoc *doc, const struct kw_jnode *n)
{
	char *arg;
	size_t len;

	if (kw_jspan_string_eq(doc, n, "--socket") ||
	    kw_jspan_string_eq(doc, n, "--timeout"))
		return 2;
	if (kw_jspan_string(doc, n, false, &arg, &len) != 0)
		return 0;
	bool joined = strncmp(arg, "--socket=", 9) == 0 ||
	              strncmp(arg, "--timeout=", 10) == 0;
	kw_wipefree(arg);
	return joined ? 1 : 0;
}

/* Launched through `keyward run`: keyward as command, "run" first after
 * any global options (import puts "--socket", P there). */
static bool is_wrapped(const kw_jdoc *doc, const struct mcp_server *s,
                       const char *exe)
{
	if (!is_keyward(doc, s->command, exe) || !s->args ||
	    s->args->type != KW_JARRAY)
		return false;
	const struct kw_jnode *e = kw_jspan_first(doc, s->args);
	for (size_t skip; e && (skip = global_opt(doc, e)) > 0;)
		while (e && skip-- > 0)
			e = kw_jspan_next(doc, e);
	return e && kw_jspan_string_eq(doc, e, "run");
}

static const struct kw_jnode *
string_member(const kw_jdoc *doc, const struct kw_jnode *obj, const char *key)
{
	const struct kw_jnode *n = kw_jspan_member(doc, obj, key);
	return n && n->type == KW_JSTRING ? n : NULL;
}

/* A URL of the old HTTP+SSE transport, by the path clients give it
 * ("/sse"), which keyward mcp proxy does not speak. */
static bool legacy_sse(const kw_jdoc *doc, const struct kw_jnode *url)
{
	char *u;
	size_t len;
	bool sse;

	if (kw_jspan_string(doc, url, false, &u, &len) != 0)
		return true;
	size_t n = strcspn(u, "?#");
	while (n > 0 && u[n - 1] == '/')
		n--;
	sse = n >= 4 && memcmp(u + n - 4, "/sse", 4) == 0;
	kw_wipefree(u);
	return sse;
}

static int add_server(struct mcp_config *cfg, const struct kw_jnode *node,
                      const char *scope, const char *exe)
{
	const kw_jdoc *doc = cfg->doc;
	int r;

	if (node->type != KW_JOBJECT)
		return 0;
	if (cfg->nservers >= SERVERS_MAX)
		return KW_ETOOBIG;
	struct mcp_server *s =
		realloc(cfg->servers, (cfg->nservers + 1) * sizeof(*s));
	if (!s)
		return KW_ENOMEM;
	cfg->servers = s;
	s = &cfg->servers[cfg->nservers++];
	*s = (struct mcp_server){ .node = node };
	if ((r = plain_string(doc, node, true, &s->name)))
		return r;
	if (!(s->scope = strdup(scope)))
		return KW_ENOMEM;
	s->url = string_member(doc, node, "url");
	if (!s->url)
		s->url = string_member(doc, node, "serverUrl");
	if (!s->url)
		s->url = string_member(doc, node, "httpUrl");
	s->remote = s->url != NULL;
	s->type = string_member(doc, node, "type");
	s->command = string_member(doc, node, "command");
	s->args = kw_jspan_member(doc, node, "args");
	s->env = kw_jspan_member(doc, node, "env");
	if ((r = scan_block(doc, s, s->env, false)))
		return r;
	s->nenv_creds = s->ncreds;
	s->headers = kw_jspan_member(doc, node, "headers");
	if ((r = scan_block(doc, s, s->headers, true)))
		return r;
	s->wrapped = is_wrapped(doc, s, exe);
	s->proxyable = s->remote && !s->command && !s->wrapped &&
	               !legacy_sse(doc, s->url) && s->headers &&
	               s->headers->type == KW_JOBJECT &&
	               s->ncreds > s->nenv_creds &&
	               (!s->type || kw_jspan_string_eq(doc, s->type, "http") ||
	                kw_jspan_string_eq(doc, s->type, "streamable-http") ||
	                kw_jspan_string_eq(doc, s->type, "streamableHttp"));
	if (s->proxyable) {
		s->move_first = s->nenv_creds;
		s->move_end = s->ncreds;
	} else if (mcp_server_importable(s)) {
		s->move_end = s->nenv_creds;
	}
	return 0;
}

/* Every server in the object holder.key (if it is one). */
static int add_servers(struct mcp_config *cfg, const struct kw_jnode *holder,
                       const char *key, const char *scope, const char *exe)
{
	const struct kw_jnode *list = kw_jspan_member(cfg->doc, holder, key);
	if (!list || list->type != KW_JOBJECT)
		return 0;
	for (const struct kw_jnode *n = kw_jspan_first(cfg->doc, list); n;
	     n = kw_jspan_next(cfg->doc, n)) {
		int r = add_server(cfg, n, scope, exe);
		if (r)
			return r;
	}
	return 0;
}

/* Claude Code's per-project servers: projects.<dir>.mcpServers. */
static int add_projects(struct mcp_config *cfg, const char *exe)
{
	const kw_jdoc *doc = cfg->doc;
	const struct kw_jnode *projects =
		kw_jspan_member(doc, &doc->nodes[0], "projects");
	int r = 0;

	if (!projects || projects->type != KW_JOBJECT)
		return 0;
	for (const struct kw_jnode *p = kw_jspan_first(doc, projects);
	     p && r == 0; p = kw_jspan_next(doc, p)) {
		char *dir, *scope;
		if ((r = plain_string(doc, p, true, &dir)))
			break;
		if (asprintf(&scope, "projects.%s", dir) < 0) {
			free(dir);
			return KW_ENOMEM;
		}
		free(dir);
		r = add_servers(cfg, p, "mcpServers", scope, exe);
		free(scope);
	}
	return r;
}

int mcp_config_parse(const char *text, size_t len, const char *exe,
                     struct mcp_config **ret_cfg, char *why, size_t whysz)
{
	struct mcp_config *cfg = calloc(1, sizeof(*cfg));
	int r;

	if (!cfg)
		return KW_ENOMEM;
	r = kw_jspan_parse(text, len, KW_JSPAN_JSONC, &cfg->doc, why, whysz);
	if (r == 0 && cfg->doc->nodes[0].type != KW_JOBJECT) {
		snprintf(why, whysz, "the top level is not an object");
		r = KW_EPARSE;
	}
	const struct kw_jnode *root = r == 0 ? &cfg->doc->nodes[0] : NULL;
	if (r == 0)
		r = add_servers(cfg, root, "mcpServers", "", exe);
	if (r == 0)
		r = add_servers(cfg, root, "servers", "", exe);
	if (r == 0)
		r = add_projects(cfg, exe);
	if (r == KW_ETOOBIG && why[0] == '\0')
		snprintf(why, whysz, "more than %u servers", SERVERS_MAX);
	if (r) {
		mcp_config_free(cfg);
		return r;
	}
	*ret_cfg = cfg;
	return 0;
}

bool mcp_server_importable(const struct mcp_server *s)
{
	return (!s->remote && !s->wrapped && s->command && s->nenv_creds > 0) ||
	       s->proxyable;
}

bool mcp_server_proxyable(const struct mcp_server *s)
{
	return s->proxyable;
}

bool mcp_env_name_ok(const char *s)
{
	if (!*s || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

int mcp_server_slug(const char *server, char *buf, size_t sz)
{
	size_t n = strlen(server);
	if (n == 0 || n >= sz)
		return KW_ETOOBIG;
	for (size_t i = 0; i < n; i++) {
		char c = server[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		          c == '-';
		buf[i] = ok ? c : '-';
	}
	buf[n] = '\0';
	return 0;
}

int mcp_secret_name(const char *prefix, const char *server, const char *var,
                    char *buf, size_t sz, const char **ret_why)
{
	char slug[KW_NAME_MAX + 1];

	*ret_why = "name too long";
	if (mcp_server_slug(server, slug, sizeof(slug)) != 0)
		return KW_ETOOBIG;
	int n = snprintf(buf, sz, "%s%s/%s", prefix, slug, var);
	if (n < 0 || (size_t)n >= sz)
		return KW_ETOOBIG;
	return kw_name_check(buf, (size_t)n, ret_why);
}

const char *mcp_socket_arg(const char *used, const char *home)
{
	char def[KW_PATH_MAX];
	struct stat a, b;

	int n = snprintf(def, sizeof(def), "%s/.mcp/agent.sock", home);
	if (n < 0 || (size_t)n >= sizeof(def))
		return used;
	if (strcmp(def, used) == 0)
		return NULL;
	bool same = stat(def, &a) == 0 && stat(used, &b) == 0 &&
	            a.st_dev == b.st_dev && a.st_ino == b.st_ino;
	return same ? NULL : used;
}

int mcp_cred_value(const struct mcp_config *cfg, const char *prefix,
                   const struct mcp_server *s, size_t k, char *name,
                   size_t namesz, char **ret_value, size_t *ret_len)
{
	const char *rule;
	int r = mcp_secret_name(prefix, s->name, s->creds[k].var, name, namesz,
	                        &rule);

	return r ? r :
	           kw_jspan_string(cfg->doc, s->creds[k].node, false, ret_value,
	                           ret_len);
}
