/*
 * dispatch.h - JSON-RPC request handling: parse, validate the envelope,
 * route to a method, answer. Method handlers live in methods_*.c and use the
 * rpc_* parameter helpers below, which produce errors that name the field.
 */
#ifndef KW_DISPATCH_H
#define KW_DISPATCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit.h"
#include "keyward.h"
#include "rpc_host.h"

typedef struct rpc_ctx {
	rpc_host *h;
	conn *c;
	const json_t *id; /* NULL for a notification */
	json_t *params;   /* always an object */
	const char *method;
	const char *name; /* the secret name, once validated (for the log) */
	char msg[256];    /* error sentence, "" = default for the code */
	const char *field;
	json_t *extra; /* more error.data members (owned) */
	/* The section the request is attributed to (NULL for client.hello
	 * from an unattributed peer). */
	const policy_client *principal;
	/* Its name, copied: policy.reload frees the policy it points into
	 * before the request's audit row is written. */
	char principal_name[KW_NAME_MAX + 1];
	/* Storage for name when the method makes it (an API key's id). */
	char name_buf[KW_NAME_MAX + 1];
	/* For an answer that must not say why (apikey.verify answers a
	 * client whose grant does not cover the key as it answers an unknown
	 * key): the audit row says denied, with this reason, instead. */
	bool audit_denied;
	char audit_reason[256];
	/* Why a successful request was made, as the caller said (static
	 * text, e.g. secret.get's purpose): the ok row's reason. NULL: none. */
	const char *audit_note;
	/* With RPC_PARKED: keep the request line and dispatch it again when
	 * the connection is woken (methods_oauth.c); the connection's
	 * replaying flag is then set, and the method must not park again. */
	bool park_replay;
} rpc_ctx;

/* Handler return for "answer comes later" (the connection is parked). */
#define RPC_PARKED 1

typedef int (*rpc_handler)(rpc_ctx *x, json_t **ret_result);

/* Handle one request line (NUL-terminated, len bytes) from c. */
void dispatch_line(rpc_host *h, conn *c, const char *line, size_t len);

/* Record an error: "field: why". Returns err. */
int rpc_fail(rpc_ctx *x, int err, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Reject any params member not in keys (NULL-terminated). */
int rpc_allow(rpc_ctx *x, const char *const *keys);
/* Required valid secret name. */
int rpc_name(rpc_ctx *x, const char *key, const char **ret_name);
/* Optional string of at most max bytes with no NUL; *ret NULL if absent. */
int rpc_opt_string(rpc_ctx *x, const char *key, size_t max,
                   const char **ret_str, size_t *ret_len);
/* Optional integer in [lo, hi]; *ret_present says whether it was given. */
int rpc_opt_uint(rpc_ctx *x, const char *key, uint64_t lo, uint64_t hi,
                 bool *ret_present, uint64_t *ret_value);
/* RFC 3339 UTC string for a unix time. */
json_t *rpc_time(int64_t t);

/* The policy section c is attributed to (cached per policy generation),
 * or NULL. */
const policy_client *rpc_principal(rpc_host *h, conn *c);

/* Method handlers (methods_agent.c, methods_client.c, methods_policy.c,
 * methods_secret.c). */
int method_agent_status(rpc_ctx *x, json_t **ret_result);
int method_agent_unlock(rpc_ctx *x, json_t **ret_result);
int method_agent_lock(rpc_ctx *x, json_t **ret_result);
int method_agent_passwd(rpc_ctx *x, json_t **ret_result);
int method_client_hello(rpc_ctx *x, json_t **ret_result);
int method_client_add(rpc_ctx *x, json_t **ret_result);
int method_client_list(rpc_ctx *x, json_t **ret_result);
int method_client_revoke(rpc_ctx *x, json_t **ret_result);
int method_audit_query(rpc_ctx *x, json_t **ret_result);
int method_audit_stats(rpc_ctx *x, json_t **ret_result);
int method_audit_verify(rpc_ctx *x, json_t **ret_result);
int method_audit_follow(rpc_ctx *x, json_t **ret_result);
int method_policy_check(rpc_ctx *x, json_t **ret_result);
int method_policy_show(rpc_ctx *x, json_t **ret_result);
int method_policy_reload(rpc_ctx *x, json_t **ret_result);
int method_secret_put(rpc_ctx *x, json_t **ret_result);
int method_secret_get(rpc_ctx *x, json_t **ret_result);
int method_secret_list(rpc_ctx *x, json_t **ret_result);
int method_secret_versions(rpc_ctx *x, json_t **ret_result);
int method_secret_delete(rpc_ctx *x, json_t **ret_result);
int method_secret_watch(rpc_ctx *x, json_t **ret_result);
int method_schedule_set(rpc_ctx *x, json_t **ret_result);
int method_schedule_list(rpc_ctx *x, json_t **ret_result);
int method_schedule_delete(rpc_ctx *x, json_t **ret_result);
int method_rotate_start(rpc_ctx *x, json_t **ret_result);
int method_rotate_status(rpc_ctx *x, json_t **ret_result);
int method_token_issue(rpc_ctx *x, json_t **ret_result);
int method_token_verify(rpc_ctx *x, json_t **ret_result);
int method_jwks(rpc_ctx *x, json_t **ret_result);
int method_apikey_create(rpc_ctx *x, json_t **ret_result);
int method_apikey_list(rpc_ctx *x, json_t **ret_result);
int method_apikey_revoke(rpc_ctx *x, json_t **ret_result);
int method_apikey_rotate(rpc_ctx *x, json_t **ret_result);
int method_apikey_verify(rpc_ctx *x, json_t **ret_result);
/* methods_oauth.c: managed OAuth credentials. */
int method_oauth_add(rpc_ctx *x, json_t **ret_result);
int method_oauth_status(rpc_ctx *x, json_t **ret_result);
int method_oauth_renew(rpc_ctx *x, json_t **ret_result);
int method_oauth_revoke(rpc_ctx *x, json_t **ret_result);
int method_oauth_discover(rpc_ctx *x, json_t **ret_result);
int method_oauth_login_begin(rpc_ctx *x, json_t **ret_result);
int method_oauth_login_finish(rpc_ctx *x, json_t **ret_result);
int method_oauth_device_begin(rpc_ctx *x, json_t **ret_result);
int method_oauth_login_wait(rpc_ctx *x, json_t **ret_result);
int method_oauth_resource_metadata(rpc_ctx *x, json_t **ret_result);
int method_oauth_register(rpc_ctx *x, json_t **ret_result);
int method_oauth_set_scope(rpc_ctx *x, json_t **ret_result);
/* secret.get of name: 0 to read it as any secret (not a credential, or
 * its token is valid), else the method's return (parked, or an error). */
int methods_oauth_secret_get(rpc_ctx *x, const char *name);
/* secret.put, secret.delete and schedule.set refuse a credential's name:
 * 0 or the error. */
int methods_oauth_refuse_write(rpc_ctx *x, const char *name);
/* c is going away: it waits for nothing any more. */
void methods_oauth_conn_gone(rpc_host *h, conn *c);
/* methods_store.c: store.backup, and dropping the snapshot of a
 * connection that went away. */
int method_store_backup(rpc_ctx *x, json_t **ret_result);
/* store.rekey switches the host's keys: the host does it (ops->store_rekey)
 * and hands passphrase mode back to methods_rekey_submit. */
int method_store_rekey(rpc_ctx *x, json_t **ret_result);
/* Passphrase mode: hand the rekey to the unlock worker (methods_agent.c),
 * which wraps a new data key under the passphrase with a new salt. */
int methods_rekey_submit(rpc_ctx *x);
void methods_backup_conn_gone(rpc_host *h, conn *c);

/* A rotation of name committed: push secret.rotated to its watchers
 * (methods_rotate.c; the agent passes the rotation engine's report on). */
void methods_notify_rotated(rpc_host *h, const char *name, uint64_t version,
                            uint64_t previous, const char *rotation_id);
/* The OAuth credential name needs a new login: push secret.rotated with
 * needs_reauth to its watchers (methods_rotate.c). */
void methods_notify_reauth(rpc_host *h, const char *name);

/* The worker finished a job: answer the parked connection (the host calls
 * this from the worker fd's callback). */
void methods_worker_done(rpc_host *h);
/* An audit.verify finished (r < 0: it could not run): answer c. */
void methods_verify_done(conn *c, int r, const audit_verify_result *res);
/* The JSON form of a row (docs/audit.md); new reference or NULL. */
json_t *audit_row_json(const audit_row *row);

#endif
