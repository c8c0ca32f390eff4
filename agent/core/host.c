/*
 * host.c - the agent as the RPC layer's host: a->rpc points at the agent's
 * state, and its operations are the agent's own functions, each called on
 * the agent behind the rpc_host (rpc_host.h).
 */
#include "agent.h"

static agent *host_agent(rpc_host *h)
{
	return h->core;
}

static const agent *host_cagent(const rpc_host *h)
{
	return h->core;
}

static int host_batch(rpc_host *h)
{
	return agent_batch(host_agent(h));
}

static int host_batch_read(rpc_host *h)
{
	return agent_batch_read(host_agent(h));
}

static void host_batch_fail(rpc_host *h, int err)
{
	agent_batch_fail(host_agent(h), err);
}

static bool host_batch_active(const rpc_host *h)
{
	return agent_batch_active(host_cagent(h));
}

static void host_gate_add(rpc_host *h, conn *c)
{
	agent_gate_add(host_agent(h), c);
}

static void host_gate_remove(rpc_host *h, conn *c)
{
	agent_gate_remove(host_agent(h), c);
}

static void host_conn_gone(rpc_host *h, conn *c)
{
	agent_conn_gone(host_agent(h), c);
}

static void host_uid_release(rpc_host *h, uid_t uid)
{
	agent_uid_release(host_agent(h), uid);
}

static int host_audit(rpc_host *h, const audit_event *ev)
{
	return agent_audit(host_agent(h), ev);
}

static void host_store_why(const rpc_host *h, int err, char *buf, size_t size)
{
	agent_store_why(host_cagent(h), err, buf, size);
}

static int host_keys_changed(rpc_host *h)
{
	return agent_keys_changed(host_agent(h));
}

static int host_reload_policy(rpc_host *h, char *err, size_t errsz)
{
	return agent_reload_policy(host_agent(h), err, errsz);
}

static int host_verify_start(rpc_host *h, conn *c)
{
	return agent_verify_start(host_agent(h), c);
}

static int host_keyfile_resolve(rpc_host *h)
{
	return agent_keyfile_resolve(host_agent(h));
}

static const char *host_mode_name(const rpc_host *h)
{
	return agent_mode_name(host_cagent(h));
}

static bool host_rekey_pending(const rpc_host *h)
{
	return host_cagent(h)->rekey != NULL;
}

/* Switched to by agent_passwd_settle once the batch commits. */
static void host_passwd_stage(rpc_host *h, const wrapped_key *w)
{
	agent *a = host_agent(h);
	a->passwd_wrap = *w;
	a->passwd_pending = true;
}

static const rpc_host_ops host_ops = {
	.batch = host_batch,
	.batch_read = host_batch_read,
	.batch_fail = host_batch_fail,
	.batch_active = host_batch_active,
	.gate_add = host_gate_add,
	.gate_remove = host_gate_remove,
	.conn_gone = host_conn_gone,
	.uid_release = host_uid_release,
	.audit = host_audit,
	.store_why = host_store_why,
	.keys_changed = host_keys_changed,
	.reload_policy = host_reload_policy,
	.verify_start = host_verify_start,
	.keyfile_resolve = host_keyfile_resolve,
	.mode_name = host_mode_name,
	.rekey_pending = host_rekey_pending,
	.passwd_stage = host_passwd_stage,
	.store_rekey = agent_store_rekey,
	.rekey_apply = agent_rekey_apply,
};

void agent_rpc_host_init(agent *a)
{
	a->rpc = (rpc_host){
		.ops = &host_ops,
		.core = a,
		.cfg = &a->cfg,
		.loop = &a->loop,
		.socket_path = a->socket_path,
		.key_path = a->key_path,
		.db_path = a->db_path,
		.checkpoints_path = a->checkpoints_path,
		.unsafe_why = a->unsafe_why,
		.started_ms = &a->started_ms,
		.fault = &a->fault,
		.st = &a->st,
		.dk = &a->dk,
		.wrap = &a->wrap,
		.au = &a->au,
		.pol = &a->pol,
		.policy_gen = &a->policy_gen,
		.rate = &a->rate,
		.bad_tokens = &a->bad_tokens,
		.exe_cache = &a->exe_cache,
		.token_key = &a->token_key,
		.apikey_key = &a->apikey_key,
		.apikey_failures = &a->apikey_failures,
		.rot = &a->rot,
		.conns = &a->conns,
		.nconns = &a->nconns,
		.worker = &a->worker,
		.async_conn = &a->async_conn,
		.lock_epoch = &a->lock_epoch,
		.unlock_failures = &a->unlock_failures,
		.unlock_not_before_ms = &a->unlock_not_before_ms,
	};
}
