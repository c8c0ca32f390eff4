/*
 * methods_policy.c - policy.check, policy.show, policy.reload
 * (docs/protocol.md).
 */
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "dispatch.h"
#include "keyward.h"
#include "log.h"
#include "name.h"

int method_policy_check(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { "uid", "gid",  "exe", "token_name",
		                            "op",  "name", NULL };
	const char *exe, *token, *opname, *name = NULL;
	size_t exe_len, token_len, op_len;
	bool have_uid, have_gid;
	uint64_t uid = 0, gid = 0;
	enum policy_op op;
	int r;

	if ((r = rpc_allow(x, keys)) < 0 ||
	    (r = rpc_opt_uint(x, "uid", 0, INT32_MAX, &have_uid, &uid)) < 0 ||
	    (r = rpc_opt_uint(x, "gid", 0, INT32_MAX, &have_gid, &gid)) < 0 ||
	    (r = rpc_opt_string(x, "exe", 4095, &exe, &exe_len)) < 0 ||
	    (r = rpc_opt_string(x, "token_name", KW_NAME_MAX, &token,
	                        &token_len)) < 0 ||
	    (r = rpc_opt_string(x, "op", 16, &opname, &op_len)) < 0)
		return r;
	if (!have_uid)
		return rpc_fail(x, KW_EINVAL, "uid", "required");
	if (!opname || policy_op_parse(opname, &op) < 0)
		return rpc_fail(
			x, KW_EINVAL, "op",
			"required: read, write, list, rotate, verify or "
			"admin");
	if (exe && exe[0] != '/')
		return rpc_fail(x, KW_EINVAL, "exe",
		                "must be an absolute path");
	if (json_object_get(x->params, "name") &&
	    (r = rpc_name(x, "name", &name)) < 0)
		return r;
	if (!name && (op == POLICY_OP_READ || op == POLICY_OP_WRITE ||
	              op == POLICY_OP_ROTATE))
		return rpc_fail(x, KW_EINVAL, "name", "required for op %s",
		                opname);
	if (!have_gid) {
		/* The uid's primary group, as a real peer of it would have. */
		struct passwd pw, *found = NULL;
		char buf[4096];
		if (getpwuid_r((uid_t)uid, &pw, buf, sizeof(buf), &found) ==
		            0 &&
		    found)
			gid = found->pw_gid;
		else
			gid = (uint64_t)(gid_t)-1;
	}

	policy_identity id = {
		.uid = (uid_t)uid,
		.gid = (gid_t)gid,
		.exe = exe,
		.token_name = token,
	};
	policy_decision d;
	policy_decide(*x->h->pol, &id, op, name, &d);
	json_t *res =
		json_pack("{s:b, s:s, s:o, s:o, s:o}", "allowed", d.allowed,
	                  "reason", d.reason, "principal",
	                  d.client ? json_string(policy_client_name(d.client)) :
	                             json_null(),
	                  "file",
	                  d.client ? json_string(policy_client_file(d.client)) :
	                             json_null(),
	                  "line",
	                  d.client ?
	                          json_integer(policy_client_line(d.client)) :
	                          json_null());
	*ret_result = res;
	return res ? 0 : KW_ENOMEM;
}

int method_policy_show(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { NULL };
	int r = rpc_allow(x, keys);
	if (r < 0)
		return r;
	*ret_result = policy_to_json(*x->h->pol);
	return *ret_result ? 0 : KW_ENOMEM;
}

int method_policy_reload(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { NULL };
	char err[512];
	int r = rpc_allow(x, keys);
	if (r < 0)
		return r;
	log_info("policy reload requested by uid %u pid %d",
	         (unsigned)x->c->peer.uid, (int)x->c->peer.pid);
	r = x->h->ops->reload_policy(x->h, err, sizeof(err));
	if (r < 0) {
		log_error("policy reload failed; keeping the policy in force: "
		          "%s",
		          err);
		return rpc_fail(x, r == KW_EPERM ? r : KW_ECONFIG, NULL, "%s",
		                err);
	}
	*ret_result = json_pack("{s:I}", "clients",
	                        (json_int_t)policy_count(*x->h->pol));
	return *ret_result ? 0 : KW_ENOMEM;
}
