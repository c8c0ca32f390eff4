/*
 * mcp.h - the agent-free part of `keyward mcp`: where MCP clients keep
 * their configs, which servers and credentials a config holds, the
 * rewrite that makes a server launch through `keyward run`, and the line
 * diff `--dry-run` shows. cmd_mcp.c talks to the agent; everything here is
 * unit-tested on strings (tests/unit/test_mcp.c).
 */
#ifndef KW_CLI_MCP_H
#define KW_CLI_MCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "credscan.h"
#include "jsonspan.h"

/* A config larger than this is refused. */
#define MCP_CONFIG_MAX (8u << 20)

/* A known config location: under $HOME or the working directory. */
struct mcp_location {
	const char *client;
	bool in_home;
	const char *path;
};
extern const struct mcp_location mcp_locations[];
extern const size_t mcp_nlocations;

/* A credential in a server's "env" or "headers". */
struct mcp_cred {
	const struct kw_jnode *node; /* the string value */
	char *var;                   /* its key, decoded */
	bool header;
	enum kw_cred_rule rule;
	size_t len;               /* bytes of the decoded value */
	char fp[KW_CRED_FP_SIZE]; /* "" when none may be shown */
};

struct mcp_server {
	const struct kw_jnode *node; /* the server's object */
	char *name;                  /* its key, decoded */
	char *scope;                 /* "projects./dir" or "" (top level) */
	bool remote;                 /* has url, serverUrl or httpUrl */
	bool wrapped;                /* already launched by `keyward run` */
	const struct kw_jnode *command, *args, *env; /* NULL when absent */
	/* A remote server's URL member, "headers" and "type" (or NULL). */
	const struct kw_jnode *url, *headers, *type;
	/* A remote server keyward mcp proxy can stand in for: a Streamable
	 * HTTP URL whose headers hold credentials (mcp_server_proxyable). */
	bool proxyable;
	struct mcp_cred *creds; /* env ones first, then headers */
	size_t ncreds, nenv_creds;
	/* The credentials import moves: creds[move_first..move_end): the
	 * env ones of an importable stdio server, the header ones of a
	 * proxyable remote one, none otherwise. */
	size_t move_first, move_end;
};

struct mcp_config {
	kw_jdoc *doc;
	struct mcp_server *servers;
	size_t nservers;
};

/*
 * Read the servers of a config: "mcpServers" (Claude, Cursor, Windsurf,
 * Gemini), "servers" (VS Code) at the top and under each
 * "projects".<dir> (Claude Code), JSONC accepted. exe is the keyward
 * binary (to tell wrapped servers). text must outlive the result.
 * 0; KW_EPARSE with why "line L, column C: ..." or "the top level is not
 * an object"; KW_ETOOBIG; KW_ENOMEM.
 */
int mcp_config_parse(const char *text, size_t len, const char *exe,
                     struct mcp_config **ret_cfg, char *why, size_t whysz);
void mcp_config_free(struct mcp_config *cfg);

/* Can import move s's credentials? A stdio server (a "command", no URL)
 * with credentials in "env", not yet wrapped; or a proxyable remote one. */
bool mcp_server_importable(const struct mcp_server *s);
/* A remote server (a URL, no "command") whose "headers" hold credentials,
 * of "type" absent, "http" or "streamable-http" (not "sse", nor a URL
 * whose path ends in /sse: keyward mcp proxy speaks Streamable HTTP, not
 * the old HTTP+SSE transport): import makes it launch `keyward mcp proxy
 * URL --header ...`. */
bool mcp_server_proxyable(const struct mcp_server *s);

/*
 * The secret name PREFIX<server>/<VAR>: the server name with every byte
 * outside [A-Za-z0-9._-] replaced by '-'. 0, or KW_ENAME when the result
 * is not a valid secret name (why says which rule), KW_ETOOBIG.
 */
int mcp_secret_name(const char *prefix, const char *server, const char *var,
                    char *buf, size_t sz, const char **ret_why);
/* The env credential k of s: its secret name (mcp_secret_name) into name
 * (namesz bytes) and its decoded value into kw_wipealloc memory. 0, or
 * the error of either. */
int mcp_cred_value(const struct mcp_config *cfg, const char *prefix,
                   const struct mcp_server *s, size_t k, char *name,
                   size_t namesz, char **ret_value, size_t *ret_len);
/* [A-Za-z_][A-Za-z0-9_]*: a variable `keyward run --env VAR=...` can
 * set. */
bool mcp_env_name_ok(const char *var);
/* The server part alone (also names client tokens and policy files). */
int mcp_server_slug(const char *server, char *buf, size_t sz);

/*
 * The socket import must name in the args it writes, or NULL. An MCP
 * client starts its servers with a minimal environment (the SDK's
 * StdioClientTransport passes HOME, LOGNAME, PATH, SHELL, TERM, USER and
 * the config's "env"), in which `keyward run` looks for the agent at
 * home/.mcp/agent.sock only. used is the absolute path import reaches
 * the agent at, home the user's HOME. Returns used unless it is that
 * path, or the same file (stat(2): a link to it, another spelling).
 */
const char *mcp_socket_arg(const char *used, const char *home);

/* What mcp_render does to the servers marked in sel[] (one flag per
 * cfg->servers entry). */
struct mcp_render_opts {
	const char *exe;    /* the new "command" */
	const char *prefix; /* of the secret names */
	/* With --narrow: the token file of each server (indexed like
	 * servers), else NULL. */
	char *const *token_files;
	/* The agent's socket, put as "--socket", P before "run" (see
	 * mcp_socket_arg), or NULL. */
	const char *socket;
	bool rewrite; /* launch the marked servers through keyward run */
	bool redact;  /* every credential left in the text -> <redacted> */
};

/*
 * The config text with the marked servers rewritten: "command" becomes
 * opts->exe, "args" becomes [["--socket", S,] "run", ["--token-file", F,]
 * "--env", "VAR=NAME", ..., "--", old command, old args...] laid out like
 * the old array (one line, or one element a line at its indentation), and
 * the credentials leave "env"; every other byte stays. A proxyable remote
 * server's URL member becomes "command": opts->exe, "args": [["--socket",
 * S,] "mcp", "proxy", URL, "--header", "Name: {{keyward://NAME}}" (a
 * credential) or "Name: value" (any other header)..., "--allow-insecure"
 * for http://, "--allow-private" for a loopback or private host], its
 * "headers" go, and a "type" becomes "stdio". With redact, every
 * credential value still in the text reads "<redacted>". Result in
 * kw_wipealloc memory. 0, KW_EINVAL (why: a variable name keyward run
 * cannot set, an unusable secret name), KW_ENOMEM, KW_ETOOBIG.
 */
int mcp_render(const struct mcp_config *cfg, const bool *sel,
               const struct mcp_render_opts *opts, char **ret_text,
               size_t *ret_len, char *why, size_t whysz);

/*
 * A unified diff (3 lines of context) of a -> b on f, with the headers
 * "--- label_a" and "+++ label_b"; nothing when they are equal. Lines
 * are matched by a longest-common-subsequence table over the part between
 * the common first and last lines, when that table stays under a bound;
 * past it the whole part is shown removed and added. 0 or KW_ENOMEM.
 */
int mcp_diff(FILE *f, const char *label_a, const char *a, size_t alen,
             const char *label_b, const char *b, size_t blen);

#endif
