/*
 * cli.h - shared pieces of the keyward operator CLI: exit codes, error
 * reporting, argument parsing and connecting.
 *
 * Every command is `int cmd_X(struct cli *cli, int argc, char **argv)` with
 * argv[0] the command name; it returns the process exit code. Commands print
 * results on stdout and errors on stderr as "keyward: CMD[ NAME]: reason".
 * A secret value is printed only by `get`, only on stdout.
 */
#ifndef KW_CLI_H
#define KW_CLI_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "jsonget.h"
#include "keyward.h"
#include "secref.h"

enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_ERROR = 1,
	CLI_EXIT_USAGE = 2,
	CLI_EXIT_NOTFOUND = 3,
	CLI_EXIT_DENIED = 4,
	CLI_EXIT_LOCKED = 5,
	CLI_EXIT_REVOKED = 6,   /* an API key (KW_EREVOKED) */
	CLI_EXIT_EXPIRED = 7,   /* an API key (KW_EEXPIRED) */
	CLI_EXIT_MALFORMED = 8, /* apikey verify: not a well-formed key */
	CLI_EXIT_UNKNOWN = 9,   /* KW_EUNKNOWN: the write may or may not be
	                           stored */
	CLI_EXIT_FOUND = 10,    /* mcp scan: plaintext credentials found */
	/* Internal: the command finished early with success (--help was
	 * printed); main() turns it into CLI_EXIT_OK. Lets helpers stop
	 * their caller without an error. */
	CLI_EXIT_DONE = -1,
};

/* Commands that wait on Argon2id or the unlock back-off get this much time
 * unless --timeout was given. */
#define CLI_SLOW_TIMEOUT_MS 120000

struct cli {
	const char *socket;  /* --socket PATH, or NULL to resolve */
	int timeout_ms;      /* --timeout MS, or 0 for the command default */
	const char *command; /* the command being run, for messages */
};

/* Print the --help text on stdout; returns CLI_EXIT_OK. */
int cli_help(void);

/* The exit code for a KW_E* error. */
int cli_exit_code(int err);

/* Print "keyward: CMD[ NAME]: " + formatted text + "\n" to stderr. NAME is
 * printed with non-printable bytes replaced. */
void cli_msg(const struct cli *cli, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Report err from a call on c (c may be NULL): the agent's message if it
 * sent one, else kw_strerror(err). Returns the exit code.
 */
int cli_fail(const struct cli *cli, kw_client *c, const char *name, int err);

/* Print a usage error and return CLI_EXIT_USAGE. */
int cli_usage(const struct cli *cli, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The agent socket cli_connect uses: --socket as given, else resolved
 * from the environment (common/paths.h). Prints the failure; returns 0
 * or an exit code. */
int cli_socket_path(const struct cli *cli, char *buf, size_t sz);

/* Connect with --socket/--timeout applied (default_ms when no --timeout).
 * Prints the failure; returns 0 or an exit code. */
int cli_connect(const struct cli *cli, int default_ms, kw_client **ret_c);

/* Parse a decimal number in [min, max] with full checking. */
bool cli_parse_u64(const char *s, uint64_t min, uint64_t max,
                   uint64_t *ret_value);

/* Check a secret name; prints the rule broken and returns an exit code, or
 * returns 0. */
int cli_check_name(const struct cli *cli, const char *name);

/*
 * Read a passphrase of 1..KW_PASS_MAX bytes into sodium_malloc memory
 * (free with sodium_free). From fd (one line) if fd >= 0, else from the
 * terminal with prompt; with confirm set and a terminal, asks twice and
 * insists on a match. Prints failures; returns 0 or an exit code.
 */
int cli_read_passphrase(const struct cli *cli, int fd, const char *prompt,
                        const char *confirm, char **ret_pass);

/* The value of --passphrase-fd: a non-negative int. */
bool cli_parse_fd(const char *s, int *ret_fd);

/*
 * Call method with params (stolen; NULL for none) through kw_call and parse
 * the result, which must be an object (json.c). 0 or a KW_E* code. Its
 * members are read with the checked kw_json_get_* getters (jsonget.h).
 */
int cli_call(kw_client *c, const char *method, json_t *params,
             json_t **ret_result);
/* cli_call with params {"name": name}, for a method whose result names the
 * secret or client it acted on: a result naming another is KW_EPROTO. */
int cli_call_name(kw_client *c, const char *method, const char *name,
                  json_t **ret_result);
/* Write s (n bytes) and a newline straight to fd 1, past stdio, so no
 * copy of a key or token stays in a buffer nobody wipes. 0 or -errno. */
int cli_write_line(const char *s, size_t n);
/* All of stdin into buf, which holds max + 1 bytes (max >= 1): 0 and
 * *ret_len, KW_EIO (errno says why) or KW_ETOOBIG after more than max
 * bytes. For a key or token the caller then checks and wipes. */
int cli_read_stdin(char *buf, size_t max, size_t *ret_len);
/* Print v compactly on one line. 0 or KW_ENOMEM. */
int cli_print_json(const json_t *v);
/* Print each element of arr compactly, one per line. 0 or KW_ENOMEM. */
int cli_print_json_lines(const json_t *arr);
/*
 * Parse the options of a command that takes only --json and --help. true
 * to go on, with *ret_json set; false when the command is over (--help was
 * printed or an option was rejected), with its exit code in *ret_exit.
 */
bool cli_json_opts(const struct cli *cli, int argc, char **argv, bool *ret_json,
                   int *ret_exit);
/* Print s with every byte outside printable ASCII replaced by '?'. */
void cli_print_clean(FILE *f, const char *s);

/* Report the option getopt_long just rejected; returns CLI_EXIT_USAGE. */
int cli_bad_option(const struct cli *cli, char **argv);
/* Parse options that only allow --help; 0 or an exit code. */
/* Accept only --help. False when the command must stop (help printed, or
 * a bad option) with *ret_exit as its exit status. */
bool cli_help_only(struct cli *cli, int argc, char **argv, int *ret_exit);

/* A command with subcommands ("client add"): full is the name used in
 * messages. */
struct cli_subcommand {
	const char *name;
	const char *full;
	int (*run)(struct cli *cli, int argc, char **argv);
};
/* Run the subcommand named by argv[1] with argv[1..] as its arguments. */
int cli_run_subcommand(struct cli *cli, int argc, char **argv,
                       const struct cli_subcommand *subs, size_t nsubs);

/*
 * Write the default policy, HOME/policies/00-owner.ini, naming this
 * keyward binary (realpath of /proc/self/exe, copied to ret_exe) as the
 * administrator. Refuses if the file exists. A failure removes what this
 * call created and is printed. Returns 0 or an exit code.
 */
int cli_policy_default(const struct cli *cli, const char *home, char *ret_exe,
                       size_t exesz);
/* Print prefix and one line saying what the default policy means. */
void cli_policy_default_note(const char *prefix, const char *exe);

/* owner.c: the owner's keyward CLIs -------------------------------------- */

/* The realpath of this program (/proc/self/exe); false if unknown. */
bool cli_self_exe(char buf[static PATH_MAX]);

#define CLI_OWNER_MAX 4
/* The keyward executables the default policy names. */
struct cli_owner_paths {
	size_t n;
	char path[CLI_OWNER_MAX][PATH_MAX];
};
/*
 * This program's realpath first, then where this build installs keyward,
 * /usr/bin/keyward and /usr/local/bin/keyward: each resolved if it exists,
 * once, and only if a policy exe can name it. Fails (printed, exit code)
 * only when this program's own path is unknown or unfit.
 */
int cli_owner_paths(const struct cli *cli, struct cli_owner_paths *ret);
/* keyward policy owner add|list. */
int cli_policy_owner(struct cli *cli, int argc, char **argv);
/*
 * When why (the agent's refusal on c) says no section names this program
 * and the agent runs as our uid, print to f what to run so that this
 * keyward may administer. Prints nothing otherwise.
 */
void cli_owner_hint(const struct cli *cli, FILE *f, kw_client *c,
                    const char *why);

/* audit_fmt.c: no agent needed -------------------------------------------- */

/* Bytes of "YYYY-MM-DD HH:MM:SS" with its NUL. */
#define CLI_TIME_LEN 20

/*
 * A time from the command line, as unix microseconds: a duration back from
 * now_us ("90s", "15m", "1h", "2d", "1w"; further back than 1970 gives 0),
 * or YYYY-MM-DD, YYYY-MM-DDTHH:MM or YYYY-MM-DDTHH:MM:SS in local time, or
 * in UTC with a trailing 'Z'. 0 or KW_EINVAL.
 */
int cli_time_parse(const char *s, int64_t now_us, int64_t *ret_us);
/* us as local "YYYY-MM-DD HH:MM:SS" ("-" if it cannot be shown). */
void cli_time_local(int64_t us, char buf[static CLI_TIME_LEN]);
/* Column widths of the audit table. */
struct cli_audit_cols {
	int seq, principal, op, name, ver, outcome;
};
/* An audit.query row has every member the table and filters use, of the
 * right type (docs/audit.md). */
bool cli_audit_row_valid(const json_t *row);
/* Widths of the headings; then widen for each (valid) row. */
void cli_audit_cols_init(struct cli_audit_cols *w);
void cli_audit_cols_fit(struct cli_audit_cols *w, const json_t *row);
/* How much of REASON fits a terminal term_cols wide (<= 0: unknown). */
size_t cli_audit_reason_max(const struct cli_audit_cols *w, int term_cols);
void cli_audit_header(FILE *f, const struct cli_audit_cols *w);
/* One valid row, times in local time, '-' for null, REASON cut to
 * reason_max bytes. */
void cli_audit_row(FILE *f, const struct cli_audit_cols *w, const json_t *row,
                   size_t reason_max);

/* An element of audit.stats' counts has the members the table uses. */
bool cli_audit_count_valid(const json_t *e);
/* A new array of the (valid) elements of counts, count descending, then
 * principal, op and outcome. 0 or KW_ENOMEM. */
int cli_audit_counts_sort(const json_t *counts, json_t **ret_sorted);
/* PRINCIPAL OP OUTCOME COUNT, then a total line. */
void cli_audit_counts_print(FILE *f, const json_t *sorted);

int cmd_init(struct cli *cli, int argc, char **argv);
int cmd_status(struct cli *cli, int argc, char **argv);
int cmd_unlock(struct cli *cli, int argc, char **argv);
int cmd_lock(struct cli *cli, int argc, char **argv);
int cmd_passwd(struct cli *cli, int argc, char **argv);
int cmd_rekey(struct cli *cli, int argc, char **argv);
int cmd_put(struct cli *cli, int argc, char **argv);
int cmd_get(struct cli *cli, int argc, char **argv);
int cmd_ls(struct cli *cli, int argc, char **argv);
int cmd_versions(struct cli *cli, int argc, char **argv);
int cmd_rm(struct cli *cli, int argc, char **argv);
int cmd_edit(struct cli *cli, int argc, char **argv);
int cmd_client(struct cli *cli, int argc, char **argv);
int cmd_policy(struct cli *cli, int argc, char **argv);
int cmd_audit(struct cli *cli, int argc, char **argv);
int cmd_schedule(struct cli *cli, int argc, char **argv);
int cmd_rotate(struct cli *cli, int argc, char **argv);
int cmd_watch(struct cli *cli, int argc, char **argv);
int cmd_token(struct cli *cli, int argc, char **argv);
int cmd_apikey(struct cli *cli, int argc, char **argv);
int cmd_oauth(struct cli *cli, int argc, char **argv);
/* keyward oauth login (oauth_login.c). */
int cli_oauth_login(struct cli *cli, int argc, char **argv);
/* The login itself on c, for `oauth login` and `mcp proxy`: prints only
 * on stderr. Returns an exit code (CLI_EXIT_OK once NAME holds a token). */
int cli_oauth_login_run(struct cli *cli, kw_client *c, const char *name,
                        bool device, bool browser);
int cmd_jwks(struct cli *cli, int argc, char **argv);
int cmd_import(struct cli *cli, int argc, char **argv);
int cmd_export(struct cli *cli, int argc, char **argv);
int cmd_inject(struct cli *cli, int argc, char **argv);
int cmd_run(struct cli *cli, int argc, char **argv);
int cmd_mcp(struct cli *cli, int argc, char **argv);
int cmd_backup(struct cli *cli, int argc, char **argv);
int cmd_restore(struct cli *cli, int argc, char **argv);
/* keyward mcp import (cmd_mcp_import.c). */
int cli_mcp_import(struct cli *cli, int argc, char **argv);
/* keyward mcp proxy (mcp_proxy.c). */
int cli_mcp_proxy(struct cli *cli, int argc, char **argv);
struct mcp_config;
/*
 * --narrow (mcp_narrow.c): for each server marked in sel, a client token
 * "mcp-<server>" written to token_files[i] (0600) and a policy file
 * policies/00-mcp-<server>.ini granting this exe with that token read of
 * PREFIX<server>/<any>, then policy.reload. Prints failures; 0 or an exit
 * code.
 */
int cli_mcp_narrow(struct cli *cli, kw_client *c, const struct mcp_config *cfg,
                   const bool *sel, const char *prefix, const char *exe,
                   char *const *token_files);
/*
 * One secret name, two servers (mcp_collide.c). check_shared: servers
 * marked in sel whose secret names come out alike are refused when their
 * names differ, or when the same name holds two values for a variable
 * (one value is shared). check_store: a name import would write that
 * already holds another value in the store is refused, naming the secret
 * and the server and suggesting a --prefix. Both print the refusal
 * (path: the config, unchanged); 0 or an exit code.
 */
int cli_mcp_check_shared(struct cli *cli, const struct mcp_config *cfg,
                         const bool *sel, const char *prefix, const char *path);
int cli_mcp_check_store(struct cli *cli, kw_client *c,
                        const struct mcp_config *cfg, const bool *sel,
                        const char *prefix, const char *path);
/* Whether name has a current value (*ret_exists) and it is value
 * (*ret_same, compared in constant time). 0 (also when there is none)
 * or the KW_E* of the read. */
int cli_mcp_stored_as(kw_client *c, const char *name, const char *value,
                      size_t len, bool *ret_exists, bool *ret_same);
/* The value of a duration option (common/duration.h) up to max seconds;
 * with zero_ok also "0" and "0s". Prints a usage error naming opt.
 * 0 or an exit code (cmd_schedule.c). */
int cli_parse_duration_opt(const struct cli *cli, const char *opt,
                           const char *arg, uint64_t max, bool zero_ok,
                           uint64_t *ret_seconds);

/* secref_cli.c: values for other programs -------------------------------- */

/* Largest value a reference fetches (the protocol's line bounds it well
 * below this). */
#define CLI_VALUE_MAX (16u << 20)

/* A fetched value: len bytes at data (kw_wipealloc memory, with a NUL
 * after them), of this version. */
struct cli_value {
	uint8_t *data;
	size_t len;
	uint64_t version;
};
/*
 * The value ref names (its version or stage, else current), through
 * secret.get; base64-encoded when ref says ":base64". purpose is NULL,
 * "run" or "restart" and goes into the audit row's reason
 * (docs/protocol.md). 0 or a KW_E* code (KW_EPROTO for a result that is
 * not about ref). The caller checks for NUL bytes where they matter.
 */
int cli_secref_fetch(kw_client *c, const struct kw_secref *ref,
                     const char *purpose, struct cli_value *ret);
/* Wipe and free v's data; v may be NULL or empty. */
void cli_value_free(struct cli_value *v);

/* rotate_fmt.c: no agent needed ------------------------------------------ */

/* Member key of o is a valid secret name. */
bool cli_json_name_valid(const json_t *o, const char *key);
/* A schedule object as schedule.list, schedule.set and rotate.status
 * return it: every member present, of its type, text printable. */
bool cli_sched_valid(const json_t *s);
/* A rotate.status result for name: its schedule (or null), run in
 * progress (or null) and history all valid. */
bool cli_rotate_status_valid(const json_t *res, const char *name);
/* Member key of a checked object as a string (NULL if null or absent)
 * or as an unsigned number (0 if null or absent). */
const char *cli_json_text(const json_t *o, const char *key);
uint64_t cli_json_uint(const json_t *o, const char *key);
/* A time from the agent ("2026-12-02T02:17:00Z") in local time as
 * cli_time_local shows it; "-" for NULL, as sent if it does not parse. */
void cli_time_show(const char *utc, char buf[static CLI_TIME_LEN]);
/* "2026-12-02 03:17:00 (2026-12-02T02:17:00Z)" on stdout: local, UTC. */
void cli_print_time_both(const char *utc);
/* "every 30d, window 02:00-04:00 UTC, jitter 1h, overlap 1d" on stdout
 * for a checked schedule object (jitter only when not 0). */
void cli_print_sched_timing(const json_t *s);
/* Subcommands of audit (cmd_audit_stats.c). */
int cli_audit_stats(struct cli *cli, int argc, char **argv);
int cli_audit_verify(struct cli *cli, int argc, char **argv);
/* The value of --since/--until (opt) through cli_time_parse; prints a
 * usage error. 0 or an exit code. */
int cli_parse_time_opt(const struct cli *cli, const char *opt, const char *arg,
                       int64_t *ret_us);

#endif
