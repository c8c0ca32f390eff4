/*
 * methods_agent.c - agent.* methods: status, lock, and the unlock/passwd
 * requests that park their connection while the worker runs Argon2id.
 */
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "conn.h"
#include "dispatch.h"
#include "jsonget.h"
#include "keyward.h"
#include "log.h"
#include "rotate.h"
#include "secmem.h"
#include "unlock.h"

/* Delay before answering the n-th consecutive failed unlock. */
#define UNLOCK_DELAY_BASE_MS 250
#define UNLOCK_DELAY_MAX_MS  30000

static json_t *agent_status_checkpoints(const rpc_host *h);

int method_agent_status(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { NULL };
	rpc_host *h = x->h;
	int r = rpc_allow(x, keys);
	if (r < 0)
		return r;
	json_t *res =
		json_pack("{s:s, s:b, s:s, s:b, s:I, s:s}", "version",
	                  KW_VERSION_STRING, "locked", *h->dk == NULL, "mode",
	                  h->ops->mode_name(h), "unlocking",
	                  *h->async_conn != NULL, "uptime_s",
	                  (json_int_t)((loop_now_ms() - *h->started_ms) / 1000),
	                  "socket", h->socket_path);
	if (!res)
		return KW_ENOMEM;
	uint64_t n = 0;
	if (h->fault->active) {
		char since[32];
		rpc_format_utc(h->fault->since_us, since, sizeof(since));
		json_t *f = json_pack("{s:s, s:s, s:s, s:I}", "since", since,
		                      "cause", h->fault->cause, "waiting_for",
		                      h->fault->waiting, "attempts",
		                      (json_int_t)h->fault->attempts);
		if (!f || json_object_set_new(res, "store_fault", f) < 0) {
			json_decref(res);
			return KW_ENOMEM;
		}
	} else if (*h->dk && store_count(*h->st, &n) == 0) {
		json_object_set_new(res, "secrets",
		                    json_integer((json_int_t)n));
	}
	uint64_t checks = 0;
	int64_t checked_at = 0;
	rotate_checks(*h->rot, &checks, &checked_at);
	json_object_set_new(res, "rotation_checks",
	                    json_integer((json_int_t)checks));
	json_object_set_new(res, "rotation_checked_at",
	                    json_integer((json_int_t)checked_at));
	json_t *cp = agent_status_checkpoints(h);
	if (!cp || json_object_set_new(res, "checkpoints", cp) < 0) {
		json_decref(res);
		return KW_ENOMEM;
	}
	*ret_result = res;
	return 0;
}

/* {"state": "ok"|"failing", "newest_seq", "log_seq", and when failing
 * "failing_since" (unix seconds) and "reason"}. */
static json_t *agent_status_checkpoints(const rpc_host *h)
{
	audit_cp_status st;
	audit_cp_state(*h->au, &st);
	json_t *cp = json_pack("{s:s, s:I, s:I}", "state",
	                       st.failing ? "failing" : "ok", "newest_seq",
	                       (json_int_t)st.newest_seq, "log_seq",
	                       (json_int_t)st.log_seq);
	if (cp && st.failing &&
	    (json_object_set_new(cp, "failing_since",
	                         json_integer(st.since_us / 1000000)) < 0 ||
	     json_object_set_new(cp, "reason", kw_json_lossy(st.why)) < 0)) {
		json_decref(cp);
		return NULL;
	}
	return cp;
}

int method_agent_lock(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { NULL };
	int r = rpc_allow(x, keys);
	if (r < 0)
		return r;
	/* An unlock still deriving must not undo this lock. */
	(*x->h->lock_epoch)++;
	if (*x->h->dk) {
		key_free(*x->h->dk);
		*x->h->dk = NULL;
		x->h->ops->keys_changed(x->h);
		log_info("locked by uid %u pid %d", (unsigned)x->c->peer.uid,
		         (int)x->c->peer.pid);
	}
	*ret_result = json_pack("{s:b}", "locked", 1);
	return *ret_result ? 0 : KW_ENOMEM;
}

static int agent_unlock_keyfile(rpc_ctx *x)
{
	rpc_host *h = x->h;
	kw_key *kek = NULL;
	/* A rekey whose rename failed may have left master.key.new: take
	 * the key file that opens the store. */
	int r = h->ops->keyfile_resolve(h);
	if (r < 0)
		return rpc_fail(x, KW_ESTATE, NULL,
		                "master.key.new, left by a rekey, cannot be "
		                "settled (see the agent's log)");
	r = keyfile_read(h->key_path, &kek);
	if (r < 0)
		return rpc_fail(x, r == KW_EPERM ? r : KW_ESTATE, NULL,
		                "cannot use the keyfile %s: %s",
		                r == KW_ENOTFOUND ? "(missing)" : "",
		                r == KW_EINVAL ? "it is not 32 bytes" :
		                                 kw_strerror(r));
	r = key_unwrap(kek, h->wrap, h->dk);
	key_free(kek);
	if (r < 0)
		return rpc_fail(x, r, NULL,
		                "the keyfile does not open this store");
	if ((r = h->ops->keys_changed(h)) < 0)
		return r;
	log_info("unlocked with the keyfile by uid %u pid %d",
	         (unsigned)x->c->peer.uid, (int)x->c->peer.pid);
	return 0;
}

/* Copy a passphrase param into wiped memory; required, 1..1024 bytes. */
static int agent_pass_param(rpc_ctx *x, const char *key, char **ret_pass,
                            size_t *ret_len)
{
	const char *s;
	size_t n;
	int r = rpc_opt_string(x, key, KEY_PASS_MAX, &s, &n);
	if (r < 0)
		return r;
	if (!s || n == 0)
		return rpc_fail(x, KW_EINVAL, key, "required, 1 to %u bytes",
		                KEY_PASS_MAX);
	char *p = kw_wipealloc(n + 1);
	if (!p)
		return KW_ENOMEM;
	memcpy(p, s, n);
	p[n] = '\0';
	*ret_pass = p;
	*ret_len = n;
	return 0;
}

static int agent_rekey_busy(rpc_ctx *x)
{
	return rpc_fail(x, KW_EBUSY, NULL,
	                "a rekey is being committed; try again");
}

/* Refuse while a job runs or a failed attempt's delay has not passed. */
static int agent_worker_ready(rpc_ctx *x)
{
	rpc_host *h = x->h;
	if (h->ops->rekey_pending(h))
		return agent_rekey_busy(x);
	if (*h->async_conn)
		return rpc_fail(x, KW_EBUSY, NULL,
		                "an unlock or passwd is already running");
	int64_t now = loop_now_ms();
	if (now < *h->unlock_not_before_ms) {
		int64_t wait = *h->unlock_not_before_ms - now;
		x->extra =
			json_pack("{s:I}", "retry_after_ms", (json_int_t)wait);
		return rpc_fail(x, KW_ERATE, NULL,
		                "too soon after a failed attempt; retry in "
		                "%lld ms",
		                (long long)wait);
	}
	return 0;
}

static int agent_submit(rpc_ctx *x, unlock_job *job)
{
	job->epoch = *x->h->lock_epoch;
	int r = unlock_worker_submit(*x->h->worker, job);
	if (r < 0) {
		unlock_job_free(job);
		return rpc_fail(x, r, NULL,
		                "an unlock or passwd is already running");
	}
	*x->h->async_conn = x->c;
	return RPC_PARKED;
}

int method_agent_unlock(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { "passphrase", NULL };
	rpc_host *h = x->h;
	int r = rpc_allow(x, keys);
	if (r < 0)
		return r;
	if (*h->dk) {
		*ret_result = json_pack("{s:b}", "locked", 0);
		return *ret_result ? 0 : KW_ENOMEM;
	}
	/* Locked after a rekey in this turn: the wrap in force is not yet
	 * the one the turn will commit. */
	if (h->ops->rekey_pending(h))
		return agent_rekey_busy(x);
	if (h->wrap->mode == KEY_WRAP_KEYFILE) {
		if (json_object_get(x->params, "passphrase"))
			return rpc_fail(x, KW_EINVAL, "passphrase",
			                "not used in keyfile mode");
		if ((r = agent_unlock_keyfile(x)) < 0)
			return r;
		*ret_result = json_pack("{s:b}", "locked", 0);
		return *ret_result ? 0 : KW_ENOMEM;
	}
	if ((r = agent_worker_ready(x)) < 0)
		return r;
	unlock_job *job = calloc(1, sizeof(*job));
	if (!job)
		return KW_ENOMEM;
	job->kind = UNLOCK_JOB_UNLOCK;
	job->wrap = *h->wrap;
	if ((r = agent_pass_param(x, "passphrase", &job->pass, &job->passlen)) <
	    0) {
		unlock_job_free(job);
		return r;
	}
	return agent_submit(x, job);
}

int method_agent_passwd(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { "current", "new", NULL };
	rpc_host *h = x->h;
	int r = rpc_allow(x, keys);
	if (r < 0 || (r = agent_worker_ready(x)) < 0)
		return r;
	unlock_job *job = calloc(1, sizeof(*job));
	if (!job)
		return KW_ENOMEM;
	job->kind = UNLOCK_JOB_PASSWD;
	job->wrap = *h->wrap;
	job->opslimit = h->cfg->kdf_opslimit;
	job->memlimit = h->cfg->kdf_memlimit;
	r = agent_pass_param(x, "new", &job->new_pass, &job->new_passlen);
	if (r == 0 && h->wrap->mode == KEY_WRAP_PASSPHRASE)
		r = agent_pass_param(x, "current", &job->pass, &job->passlen);
	else if (r == 0 && json_object_get(x->params, "current"))
		r = rpc_fail(x, KW_EINVAL, "current",
		             "not used in keyfile mode");
	if (r == 0 && h->wrap->mode == KEY_WRAP_KEYFILE) {
		r = key_from(key_bytes(*h->dk), &job->dk);
		key_done(*h->dk);
	}
	if (r < 0) {
		unlock_job_free(job);
		return r;
	}
	(void)ret_result;
	return agent_submit(x, job);
}

int methods_rekey_submit(rpc_ctx *x)
{
	rpc_host *h = x->h;
	int r = agent_worker_ready(x);
	if (r < 0)
		return r;
	unlock_job *job = calloc(1, sizeof(*job));
	if (!job)
		return KW_ENOMEM;
	job->kind = UNLOCK_JOB_REKEY;
	job->wrap = *h->wrap;
	/* The passphrase and its cost stay; only the salt is new. */
	job->opslimit = h->wrap->opslimit;
	job->memlimit = h->wrap->memlimit;
	r = agent_pass_param(x, "passphrase", &job->pass, &job->passlen);
	if (r == 0)
		r = key_random(&job->dk);
	if (r < 0) {
		unlock_job_free(job);
		return r;
	}
	return agent_submit(x, job);
}

/* The worker wrapped a new data key: write the rekey into this turn's
 * batch. msg gets the error sentence, if any. */
static int methods_rekey_finish(rpc_host *h, conn *c, unlock_job *job,
                                uint64_t *ret_count, char *msg, size_t size)
{
	rpc_ctx rx = { .h = h, .c = c, .method = "store.rekey" };
	kw_key *new_dk = job->dk;
	job->dk = NULL;
	if (!*h->dk) {
		key_free(new_dk);
		return KW_ELOCKED;
	}
	int r = h->ops->rekey_apply(&rx, new_dk, &job->new_wrap, ret_count);
	snprintf(msg, size, "%s", rx.msg);
	return r;
}

static void agent_note_failure(rpc_host *h, conn *c)
{
	if (*h->unlock_failures < 16)
		(*h->unlock_failures)++;
	int64_t delay = UNLOCK_DELAY_BASE_MS << (*h->unlock_failures - 1);
	if (delay > UNLOCK_DELAY_MAX_MS)
		delay = UNLOCK_DELAY_MAX_MS;
	int64_t until = loop_now_ms() + delay;
	*h->unlock_not_before_ms = until;
	if (c)
		c->hold_until_ms = until;
	log_warn("failed unlock or passwd attempt %u (uid %u pid %d); next "
	         "attempt allowed in %lld ms",
	         *h->unlock_failures, c ? (unsigned)c->peer.uid : 0,
	         c ? (int)c->peer.pid : 0, (long long)delay);
}

/* Answer c's parked unlock (kind UNLOCK_JOB_UNLOCK), passwd or rekey
 * (count: versions re-sealed; msg: an error sentence or "") with r. */
static void methods_reply_parked(conn *c, int kind, int r, uint64_t count,
                                 const char *msg)
{
	json_t *id = c->park_id;
	c->park_id = NULL;
	c->parked = false;
	if (id && r == 0 && kind == UNLOCK_JOB_REKEY)
		conn_reply_result(c, id,
		                  json_pack("{s:s, s:I}", "mode", "passphrase",
		                            "versions", (json_int_t)count));
	else if (id && r == KW_EBADPASS && kind == UNLOCK_JOB_REKEY)
		conn_reply_error(c, id, r, "passphrase: wrong passphrase",
		                 NULL);
	else if (id && r < 0 && msg[0])
		conn_reply_error(c, id, r, msg, NULL);
	else if (id && r == 0 && kind == UNLOCK_JOB_UNLOCK)
		conn_reply_result(c, id, json_pack("{s:b}", "locked", 0));
	else if (id && r == 0)
		conn_reply_result(c, id,
		                  json_pack("{s:s}", "mode", "passphrase"));
	else if (id && r == KW_EBADPASS)
		conn_reply_error(c, id, r,
		                 kind == UNLOCK_JOB_UNLOCK ?
		                         "wrong passphrase" :
		                         "current: wrong passphrase",
		                 NULL);
	else if (id && r == KW_ESTATE)
		conn_reply_error(c, id, r,
		                 "the agent was locked while this request ran; "
		                 "nothing changed",
		                 NULL);
	else if (id)
		conn_reply_error(c, id, r, NULL, NULL);
	json_decref(id);
	conn_resume(c);
}

void methods_worker_done(rpc_host *h)
{
	unlock_job *job = unlock_worker_take(*h->worker);
	if (!job)
		return;
	conn *c = *h->async_conn;
	*h->async_conn = NULL;
	int r = job->rc;
	int kind = job->kind;
	uint64_t count = 0;
	char msg[256] = "";

	if (r == 0 && job->epoch != *h->lock_epoch) {
		/* agent.lock arrived while this was deriving: the lock wins. */
		r = KW_ESTATE;
	} else if (r == 0 && kind == UNLOCK_JOB_PASSWD) {
		/* Written in this turn's batch, with its audit row below; the
		 * agent switches wraps and removes master.key only once the
		 * batch has committed (agent_passwd_settle): removing the key
		 * before a rollback would lose the store. */
		r = h->ops->batch(h);
		if (r == 0)
			r = store_wrap_set(*h->st, &job->new_wrap);
		if (r == 0) {
			h->ops->passwd_stage(h, &job->new_wrap);
		}
	} else if (r == 0 && kind == UNLOCK_JOB_REKEY) {
		r = methods_rekey_finish(h, c, job, &count, msg, sizeof(msg));
	} else if (r == 0 && kind == UNLOCK_JOB_UNLOCK && !*h->dk) {
		*h->dk = job->ret_dk;
		job->ret_dk = NULL;
		r = h->ops->keys_changed(h); /* stays locked if this fails */
		if (r == 0)
			log_info("unlocked with the passphrase (uid %u pid %d)",
			         c ? (unsigned)c->peer.uid : 0,
			         c ? (int)c->peer.pid : 0);
	}
	if (r == KW_EBADPASS)
		agent_note_failure(h, c);
	else if (r == 0)
		*h->unlock_failures = 0;
	unlock_job_free(job);

	const policy_client *pc = c ? rpc_principal(h, c) : NULL;
	audit_event ev = {
		.uid = c ? c->peer.uid : (uid_t)-1,
		.pid = c ? c->peer.pid : 0,
		.exe = c && c->peer.exe_known ? c->peer.exe : NULL,
		.principal = pc ? policy_client_name(pc) : NULL,
		.op = kind == UNLOCK_JOB_UNLOCK ? "agent.unlock" :
		      kind == UNLOCK_JOB_REKEY  ? "store.rekey" :
		                                  "agent.passwd",
		.outcome = r == 0           ? AUDIT_OK :
		           r == KW_EBADPASS ? AUDIT_DENIED :
		                              AUDIT_ERROR,
		.reason = r == 0 ? NULL :
		          msg[0] ? msg :
		                   kw_strerror(r),
	};
	int ar = h->ops->audit(h, &ev);
	if (ar < 0 && r == 0) {
		/* No record, no change (fail closed): the batch rolls back
		 * (taking a passwd's wrap with it) and an unlock is undone. */
		if (kind == UNLOCK_JOB_UNLOCK) {
			key_free(*h->dk);
			*h->dk = NULL;
			h->ops->keys_changed(h);
		}
		h->ops->batch_fail(h, ar);
		r = rpc_store_code(ar);
		msg[0] = '\0';
	}
	if (c)
		methods_reply_parked(c, kind, r, count, msg);
}
