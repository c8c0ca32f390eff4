/*
 * run.h - the parts of `keyward run` (cmd_run.c: options, references,
 * environment, exec in place; run_super.c: the supervised child with
 * masked output, forwarded signals and restarts on rotation).
 */
#ifndef KW_CLI_RUN_H
#define KW_CLI_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cli.h"
#include "dotenv.h"
#include "mask.h"
#include "secref.h"

/* Bytes in a variable name (kw_dotenv_name_valid: as in .env files). */
#define RUN_VAR_MAX KW_DOTENV_NAME_MAX
/* Variables one run injects (--env and --env-file together). */
#define RUN_VARS_MAX 1024u

enum run_mask { RUN_MASK_ALL, RUN_MASK_STDERR, RUN_MASK_NONE };

/* One variable for the child: a reference or a plain value from a .env
 * file. */
struct run_var {
	char name[RUN_VAR_MAX + 1];
	bool is_ref;
	struct kw_secref ref;
	struct cli_value value; /* fetched or plain; NUL after len bytes */
	const char *origin;     /* "--env" or the .env file, for messages */
	unsigned line;          /* in origin, 0 for --env */
};

struct run {
	struct cli *cli;
	struct run_var *vars;
	size_t nvars;
	enum run_mask mask;
	unsigned hold_ms; /* --mask-hold */
	bool watch;
	uint64_t grace_ms; /* --grace */
	char *token;       /* --token-file's token, kw_wipealloc; or NULL */
	char **cmd;        /* CMD [ARG...], NULL-terminated */
	char **envp;       /* built by run_env_build */
	size_t envp_own;   /* envp[envp_own..] are ours (wiped) */
	kw_client *c;      /* reads references */
};

/* Fetch every reference through r->c with purpose ("run" or "restart"),
 * refusing values with a NUL byte unless ":base64". Prints what failed
 * (the variable and the name, never a value). 0 or an exit code. */
int run_resolve(struct run *r, const char *purpose);
/* The child's environment: ours without KEYWARD_TOKEN and the injected
 * names, then the injected variables. 0 or an exit code (printed). */
int run_env_build(struct run *r);
/* Wipe and free the injected strings of envp and the fetched values. */
void run_env_wipe(struct run *r);
/* A masker for the referenced values (not plain ones). 0 or an exit
 * code (printed). */
int run_mask_build(const struct run *r, kw_mask **ret_mask);

/* Run r->cmd as a supervised child until it ends (restarting it on
 * rotation with --watch); returns keyward's exit code: the child's
 * status, 128+N for signal N. */
int run_supervise(struct run *r);

/* Exit code for a failed exec's errno (126 or 127, as shells use). */
int run_exec_status(int err);

#endif
