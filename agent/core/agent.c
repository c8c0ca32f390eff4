/*
 * agent.c - keywardd's lifecycle: checks, store, key, socket, signals, the
 * accept path and the run loop (see agent.h).
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "clock.h"
#include "conn.h"
#include "dispatch.h"
#include "fsguard.h"
#include "keyward.h"
#include "log.h"
#include "restore_mark.h"
#include "sandbox.h"
#include "secmem.h"
#include "store_keys.h"
#include "webhook.h"
#include "wire.h"

#define SWEEP_MS 250
/* Under load, a checkpoint by count at most once a second (docs/audit.md):
 * the window of rows a deletion could take is then a second's worth. */
#define AUDIT_CHECKPOINT_GAP_MS 1000
#define KEYS_IDLE_MS            50 /* no work for this long: keys no-access */
#define SWEEP_FAST_MS           50
#define STOP_GRACE_MS           5000
#define ACCEPT_PAUSE_MS         200
#define RATE_BUCKETS_MAX        4096
#define PENALTY_SOURCES_MAX     1024
#define EXE_CACHE_MAX           256

static audit_config agent_audit_config(const kw_config *cfg);
static int agent_audit_startup(agent *a);
static void agent_batch_finish(agent *a);
static void agent_push_row(const audit_row *row, void *arg);

/* Committed rows are read back only for audit.follow streams. */
static bool agent_has_followers(const agent *a)
{
	for (const conn *c = a->conns; c; c = c->next) {
		if (c->follower && !c->dead)
			return true;
	}
	return false;
}
static void agent_passwd_settle(agent *a, int err);

const char *agent_mode_name(const agent *a)
{
	return a->wrap.mode == KEY_WRAP_PASSPHRASE ? "passphrase" : "keyfile";
}

/* A directory we own that nobody else may enter (group_bits: what the
 * socket's group may do in the socket's directory; 0 elsewhere). */
static int agent_check_dir(const char *path, unsigned group_bits, gid_t gid)
{
	char why[KW_PATH_MAX + 128];
	int r = fsguard_dir(path, geteuid(), group_bits, gid, why, sizeof(why));
	if (r < 0)
		log_error("%s; refusing to use it", why);
	return r;
}

/* keyward.ini must not be writable by anyone else (it sets limits). */
static int agent_check_config_file(const char *path)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : KW_EIO;
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 022)) {
		log_error("%s: must be a regular file owned by uid %u and not "
		          "writable by group or others (chmod 600 %s)",
		          path, (unsigned)geteuid(), path);
		return KW_EPERM;
	}
	return 0;
}

static int agent_load_config(agent *a, kw_config *ret)
{
	char err[512];
	int r = agent_check_config_file(a->config_path);
	if (r < 0)
		return r;
	r = config_load(a->config_path, ret, err, sizeof(err));
	if (r < 0)
		log_error("%s", err);
	return r;
}

static int agent_paths(agent *a, const char *home, const char *config)
{
	int r = 0;
	if (home) {
		if (home[0] != '/' || strlen(home) >= sizeof(a->home)) {
			log_error("--home must be an absolute path");
			return KW_EINVAL;
		}
		memcpy(a->home, home, strlen(home) + 1);
	} else if ((r = kw_path_home(a->home, sizeof(a->home))) < 0) {
		log_error("cannot work out the home directory (set "
		          "KEYWARD_HOME to an absolute path)");
		return r;
	}
	int n1 = snprintf(a->db_path, sizeof(a->db_path), "%s/secrets.db",
	                  a->home);
	int n2 = snprintf(a->key_path, sizeof(a->key_path), "%s/master.key",
	                  a->home);
	int n3 = snprintf(a->lock_path, sizeof(a->lock_path),
	                  "%s/keywardd.lock", a->home);
	int n5 = snprintf(a->policy_dir, sizeof(a->policy_dir), "%s/policies",
	                  a->home);
	int n6 = snprintf(a->checkpoints_path, sizeof(a->checkpoints_path),
	                  "%s/audit.checkpoints", a->home);
	int n4 = config ? snprintf(a->config_path, sizeof(a->config_path), "%s",
	                           config) :
	                  snprintf(a->config_path, sizeof(a->config_path),
	                           "%s/keyward.ini", a->home);
	if (n1 < 0 || n2 < 0 || n3 < 0 || n4 < 0 || n5 < 0 || n6 < 0 ||
	    (size_t)n6 >= sizeof(a->checkpoints_path) ||
	    (size_t)n5 >= sizeof(a->policy_dir) ||
	    (size_t)n1 >= sizeof(a->db_path) ||
	    (size_t)n2 >= sizeof(a->key_path) ||
	    (size_t)n3 >= sizeof(a->lock_path) ||
	    (size_t)n4 >= sizeof(a->config_path)) {
		log_error("%s: path too long", a->home);
		return KW_EINVAL;
	}
	return 0;
}

/* A home with no store (a fresh systemd instance) needs `keyward init`,
 * which also makes the policies: say that before the policies are missed.
 * store_open checks again, and everything else about the file. */
static int agent_store_exists(const agent *a)
{
	struct stat st;
	if (lstat(a->db_path, &st) == 0 || errno != ENOENT)
		return 0;
	log_error("%s does not exist; run `keyward init` first", a->db_path);
	return KW_ENOTFOUND;
}

/* One agent per home: an exclusive lock held for the agent's lifetime. */
static int agent_lock_home(agent *a)
{
	a->lock_fd = open(a->lock_path,
	                  O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (a->lock_fd < 0) {
		log_error("%s: %s", a->lock_path, strerror(errno));
		return KW_EIO;
	}
	if (flock(a->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		log_error("another keywardd is already running for %s",
		          a->home);
		return KW_EBUSY;
	}
	return 0;
}

/* PRAGMA quick_check at start-up reads every page: about a second per
 * few hundred MB. Past this budget the agent starts without the rest. */
#define STARTUP_CHECK_MS 3000

/* Refuse a damaged store before serving from it (docs/store.md). */
static int agent_check_store(agent *a)
{
	char detail[256];
	int64_t t0 = loop_now_ms();
	int r = store_quick_check(a->st, STARTUP_CHECK_MS, detail,
	                          sizeof(detail));
	if (r == KW_ETIMEOUT) {
		log_warn("%s: the integrity check stopped after %d ms and the "
		         "rest of the file was not checked (a large store; "
		         "`sqlite3 %s 'PRAGMA quick_check'` checks all of it)",
		         a->db_path, STARTUP_CHECK_MS, a->db_path);
		return 0;
	}
	if (r == KW_EDAMAGED) {
		log_error(
			"%s is damaged (SQLite's quick_check: %s). Restore it "
			"from a backup; the agent does not serve from a "
			"damaged store",
			a->db_path, detail);
		return r;
	}
	if (r < 0) {
		log_error("%s: the integrity check failed: %s (%s)", a->db_path,
		          kw_strerror(r), detail);
		return r;
	}
	log_debug("%s: integrity check ok in %lld ms", a->db_path,
	          (long long)(loop_now_ms() - t0));
	return 0;
}

static int agent_open_store(agent *a)
{
	int r = store_open(a->db_path, STORE_OPEN_EXISTING, &a->st);
	if (r == KW_ENOTFOUND) {
		log_error("%s does not exist; run `keyward init` first",
		          a->db_path);
		return r;
	}
	if (r == KW_EPERM) {
		log_error("%s: must be owned by uid %u with mode 600 (chmod "
		          "600 %s)",
		          a->db_path, (unsigned)geteuid(), a->db_path);
		return r;
	}
	if (r == KW_EDAMAGED) {
		log_error(
			"%s is damaged: it is empty (0 bytes) or not an SQLite "
			"database. Restore it from a backup; keyward never "
			"replaces a store with a new one",
			a->db_path);
		return r;
	}
	if (r < 0) {
		char why[KW_PATH_MAX + 96];
		agent_store_why(a, r, why, sizeof(why));
		log_error("%s: cannot open the store: %s", a->db_path, why);
		return r;
	}
	if ((r = agent_check_store(a)) < 0)
		return r;
	r = store_wrap_get(a->st, &a->wrap);
	if (r < 0) {
		log_error("%s: no data key in the store (%s); was `keyward "
		          "init` interrupted?",
		          a->db_path, kw_strerror(r));
		return r;
	}
	if (a->wrap.mode == KEY_WRAP_PASSPHRASE) {
		if (access(a->key_path, F_OK) == 0)
			log_warn("%s is no longer used (the store is in "
			         "passphrase mode); delete it",
			         a->key_path);
		log_info("passphrase mode: locked until `keyward unlock`");
		return 0;
	}
	if ((r = agent_keyfile_resolve(a)) < 0)
		return r;
	kw_key *kek = NULL;
	r = keyfile_read(a->key_path, &kek);
	if (r == KW_ENOTFOUND) {
		log_error("master.key not found at %s: the store is in keyfile "
		          "mode and cannot be opened without it; restore it "
		          "from a backup",
		          a->key_path);
		return r;
	}
	if (r < 0) {
		log_error("%s: cannot use the keyfile: %s%s", a->key_path,
		          kw_strerror(r),
		          r == KW_EPERM  ? " (it must be ours, mode 600)" :
		          r == KW_EINVAL ? " (it is not 32 bytes)" :
		                           "");
		return r;
	}
	r = key_unwrap(kek, &a->wrap, &a->dk);
	key_free(kek);
	if (r < 0) {
		log_error("%s does not open %s", a->key_path, a->db_path);
		return r;
	}
	log_info("keyfile mode: unlocked");
	return 0;
}

/* The store, then the audit log on it, then the key (keyfile mode), so
 * that unlocking also opens the audit chain. */
static int agent_open_audit(agent *a)
{
	int r = agent_open_store(a);
	if (r < 0)
		return r;
	audit_config ac = agent_audit_config(&a->cfg);
	r = audit_open(a->st, a->checkpoints_path, &ac, &a->au);
	if (r < 0) {
		log_error("%s: cannot open the audit log: %s", a->db_path,
		          kw_strerror(r));
		return r;
	}
	if ((r = agent_audit_startup(a)) < 0)
		return r;
	return agent_keys_changed(a);
}

/* Before the audit key is in use: does the store still have every row the
 * checkpoint file and the anchor signed? (audit_startup) */
static int agent_audit_startup(agent *a)
{
	char msg[512];
	int r = audit_startup(a->au, a->accept_loss, clock_wall_us(), msg,
	                      sizeof(msg));
	if (r == KW_ESTATE)
		log_error("refusing to start: %s", msg);
	else if (r < 0)
		log_error("cannot compare the store with the audit checkpoints "
		          "(%s)%s%s",
		          kw_strerror(r), msg[0] ? ": " : "", msg);
	else if (msg[0])
		log_warn("%s", msg);
	return r;
}

/* Log checkpoint failures once per change of state ([audit]
 * checkpoint_failure says what else happens). A checkpoint that failed
 * because the store could not sync is retried as soon as the store is in
 * a known state again (agent_store_recover), not at the next tick, so
 * nothing reports stale once the disk is back. */
static void agent_audit_watch(agent *a)
{
	audit_cp_status st;
	audit_cp_state(a->au, &st);
	if (st.failing && a->cp_saw_fault && !a->fault.active &&
	    audit_unlocked(a->au)) {
		(void)audit_checkpoint(a->au, clock_wall_us());
		audit_cp_state(a->au, &st);
	}
	a->cp_saw_fault = a->fault.active;
	if (st.changes == a->cp_changes_seen)
		return;
	a->cp_changes_seen = st.changes;
	if (st.failing)
		log_error("audit checkpoints cannot be written (%s): the rows "
		          "after seq %llu are not vouched for; %s",
		          st.why, (unsigned long long)st.newest_seq,
		          a->cfg.audit_checkpoint_refuse ?
		                  "audited requests are refused until they "
		                  "can be (checkpoint_failure = refuse)" :
		                  "requests are still served "
		                  "(checkpoint_failure = warn)");
	else
		log_info("audit checkpoints are written again (seq %llu)",
		         (unsigned long long)st.newest_seq);
}

int agent_keys_changed(agent *a)
{
	key_free(a->token_key);
	a->token_key = NULL;
	key_free(a->apikey_key);
	a->apikey_key = NULL;
	if (!a->dk) {
		if (a->au)
			audit_lock(a->au);
		return 0;
	}
	rotate_changed(a->rot);
	int r = 0;
	/* Unlocking writes (the queued audit rows): not on a store whose
	 * state is unknown, which may not even be open. */
	if (a->fault.active) {
		r = KW_EIO;
		log_error("cannot unlock while the store's state is unknown "
		          "(waiting for %s): staying locked",
		          a->fault.waiting);
	} else if ((r = store_subkey_load(a->st, a->dk, STORE_SUBKEY_TOKEN,
	                                  &a->token_key)) < 0)
		log_error("cannot open the client-token key: %s",
		          kw_strerror(r));
	else if ((r = store_subkey_load(a->st, a->dk, STORE_SUBKEY_APIKEY,
	                                &a->apikey_key)) < 0)
		log_error("cannot open the API-key hash key: %s",
		          kw_strerror(r));
	else if (a->au && (r = audit_unlock(a->au, a->dk, clock_wall_us())) < 0)
		log_error("cannot open the audit log (%s): staying locked",
		          kw_strerror(r));
	if (r < 0) {
		/* Without its audit key the agent must not serve secrets:
		 * every read would go unrecorded. */
		key_free(a->token_key);
		a->token_key = NULL;
		key_free(a->apikey_key);
		a->apikey_key = NULL;
		key_free(a->dk);
		a->dk = NULL;
		if (a->au)
			audit_lock(a->au);
		return r;
	}
	/* Used for nearly every request: readable while the agent is busy
	 * (key_linger, agent_on_idle). */
	key_linger(a->dk);
	key_linger(a->token_key);
	key_linger(a->apikey_key);
	return 0;
}

static audit_config agent_audit_config(const kw_config *cfg)
{
	return (audit_config){
		.checkpoint_rows = cfg->audit_checkpoint_rows,
		.checkpoint_gap_ms = AUDIT_CHECKPOINT_GAP_MS,
		.checkpoint_minutes = cfg->audit_checkpoint_minutes,
		.retention_days = cfg->audit_retention_days,
		.syslog = cfg->audit_syslog != 0,
		.refuse_unvouched = cfg->audit_checkpoint_refuse != 0,
		.anchor_path = cfg->audit_anchor[0] ? cfg->audit_anchor : NULL,
	};
}

/*
 * What the disk holds is unknown: a commit or sync failed with an I/O
 * error. Stop opening batches until agent_store_recover succeeds; answers
 * already given stay true (those of the failed commit say outcome unknown).
 */
static void agent_store_fault(agent *a, const char *what, int err)
{
	if (a->fault.active)
		return;
	a->fault = (struct rpc_fault){
		.active = true,
		.since_us = clock_wall_us(),
		.retry_ms = loop_now_ms(),
	};
	snprintf(a->fault.cause, sizeof(a->fault.cause), "%s failed (%s)", what,
	         store_last_error(a->st));
	snprintf(a->fault.waiting, sizeof(a->fault.waiting),
	         "reopening secrets.db so that recovery reads what the disk "
	         "holds, then a full sync");
	a->sync_due_ms = 0;
	log_error("%s: %s. What the disk holds is unknown: requests are "
	          "refused until the store is reopened and a full sync "
	          "succeeds",
	          a->fault.cause, kw_strerror(err));
}

void agent_store_why(const agent *a, int err, char *buf, size_t size)
{
	const char *before = "", *after = "";
	switch (err) {
	case KW_EDISKFULL:
		before = "disk full on the filesystem of ";
		break;
	case KW_EROFS:
		before = "the filesystem of ";
		after = " is read-only";
		break;
	case KW_EDAMAGED:
		after = " is damaged; restore it from a backup (the agent's "
			"log has SQLite's finding)";
		break;
	case KW_EIO:
	case KW_EUNKNOWN:
		before = "I/O error on ";
		break;
	default:
		snprintf(buf, size, "%s", kw_strerror(err));
		return;
	}
	/* A path too long for buf is cut; the sentence still says what. */
	if (snprintf(buf, size, "%s%s%s", before, a->db_path, after) < 0)
		snprintf(buf, size, "%s", kw_strerror(err));
}

/* The turn's batch ended with err: a fault if its outcome is unknown. */
static void agent_batch_outcome(agent *a, int err, const char *what)
{
	if (err == KW_EUNKNOWN)
		agent_store_fault(a, what, err);
}

/* The turn has light commits to sync by flush_ms from now. */
static void agent_light_committed(agent *a)
{
	if (!a->sync_due_ms)
		a->sync_due_ms = loop_now_ms() + (int64_t)a->cfg.audit_flush_ms;
}

/* End the open batch: commit it, or roll it back if a row it needed could
 * not be written (agent_batch_fail, which said why). 0 if it committed. */
static int agent_batch_end(agent *a)
{
	int r = a->batch_err;
	if (r < 0)
		store_batch_rollback(a->st);
	else
		r = store_batch_commit(a->st);
	a->batch_err = 0;
	return r;
}

/* A state change joins a turn that so far only read: the reads' part
 * commits now (without a sync); its answers still wait for the turn. */
static void agent_batch_split(agent *a)
{
	int r = agent_batch_end(a);
	if (r == 0) {
		agent_light_committed(a);
		audit_committed(a->au, clock_wall_us(),
		                agent_has_followers(a) ? agent_push_row : NULL,
		                a);
	} else {
		audit_rolled_back(a->au);
		a->turn_err = r;
		char why[KW_PATH_MAX + 96];
		agent_store_why(a, r, why, sizeof(why));
		log_error("the store transaction of this turn's reads failed "
		          "(%s: %s)",
		          why, store_last_error(a->st));
		agent_batch_outcome(a, r, "committing this turn's reads");
	}
}

static int agent_batch_open(agent *a, bool durable)
{
	/* Nothing may be written on a store whose state is unknown. */
	if (a->fault.active)
		return KW_EIO;
	if (store_batch_active(a->st)) {
		if (!durable || !store_batch_light(a->st))
			return 0;
		agent_batch_split(a);
		if (a->fault.active)
			return KW_EIO;
	}
	/* flush_ms = 0: every commit syncs. */
	bool light = !durable && a->cfg.audit_flush_ms > 0;
	int r = light ? store_batch_begin_light(a->st) :
	                store_batch_begin(a->st);
	if (r < 0)
		log_error("cannot open a store transaction: %s",
		          kw_strerror(r));
	return r;
}

int agent_batch(agent *a)
{
	return agent_batch_open(a, true);
}

int agent_batch_read(agent *a)
{
	return agent_batch_open(a, false);
}

bool agent_batch_active(const agent *a)
{
	return a->st && store_batch_active(a->st);
}

/* Sync light commits whose time has come (outside any batch). A failed
 * sync leaves it unknown which of them the disk has: the answers are out
 * (reads), but the store must be re-established before more. */
static void agent_flush(agent *a, int64_t now)
{
	if (a->fault.active || !store_unsynced(a->st)) {
		a->sync_due_ms = 0;
		return;
	}
	if (!a->sync_due_ms || now < a->sync_due_ms)
		return;
	int r = store_sync(a->st);
	a->sync_due_ms = 0;
	if (r < 0)
		agent_store_fault(a, "syncing the audit rows of recent reads",
		                  r);
}

void agent_batch_fail(agent *a, int err)
{
	if (!a->batch_err)
		a->batch_err = err < 0 ? err : KW_ESTORE;
}

void agent_gate_add(agent *a, conn *c)
{
	if (a->ngated == a->gated_cap) {
		uint32_t cap = a->gated_cap ? a->gated_cap * 2 : 16;
		conn **n = realloc(a->gated, cap * sizeof(*n));
		if (!n) {
			/* Cannot track it: its answers must not go out
			 * uncommitted, so it cannot stay. */
			c->dead = true;
			return;
		}
		a->gated = n;
		a->gated_cap = cap;
	}
	a->gated[a->ngated++] = c;
}

void agent_gate_remove(agent *a, conn *c)
{
	for (uint32_t i = 0; i < a->ngated; i++) {
		if (a->gated[i] == c)
			a->gated[i] = NULL;
	}
	for (uint32_t i = 0; i < a->nreleasing; i++) {
		if (a->releasing[i] == c)
			a->releasing[i] = NULL;
	}
}

static void agent_push_row(const audit_row *row, void *arg)
{
	agent *a = arg;
	json_t *params = NULL;
	for (conn *c = a->conns; c; c = c->next) {
		if (!c->follower || c->dead)
			continue;
		/* Followers keep needing admin: a revoked token or a reload
		 * that took it away ends the stream at once. */
		const policy_client *pc = rpc_principal(&a->rpc, c);
		if (!pc || !policy_client_allows(pc, POLICY_OP_ADMIN, NULL)) {
			log_info("conn %llu: no longer an admin; audit.follow "
			         "ends",
			         (unsigned long long)c->serial);
			c->follower = false;
			c->closing = true;
			continue;
		}
		/* A follower that does not read is cut off rather than let
		 * the agent buffer rows for it without bound. */
		if (conn_unsent(c) >= a->cfg.max_output_bytes) {
			log_warn("conn %llu: audit follower not reading "
			         "(max_output_bytes); closing",
			         (unsigned long long)c->serial);
			c->follower = false;
			c->closing = true;
			continue;
		}
		if (!params && !(params = audit_row_json(row)))
			return;
		conn_notify(c, "audit.row", params);
	}
	json_decref(params);
}

/* End of a loop turn: commit the batch, then release or replace answers. */
static void agent_batch_finish(agent *a)
{
	int r = 0;
	/* No batch but answers waiting: a split turn whose durable part
	 * could not be opened. */
	if (!store_batch_active(a->st) && !a->ngated) {
		a->turn_err = 0;
		return;
	}
	if (store_batch_active(a->st)) {
		bool light = store_batch_light(a->st);
		r = agent_batch_end(a);
		agent_passwd_settle(a, r);
		agent_rekey_settle(a, r);
		rotate_settled(a->rot, r == 0);
		if (r == 0) {
			if (light)
				agent_light_committed(a);
			audit_committed(a->au, clock_wall_us(),
			                agent_has_followers(a) ?
			                        agent_push_row :
			                        NULL,
			                a);
		} else {
			audit_rolled_back(a->au);
			agent_batch_outcome(a, r, "committing this turn");
		}
	}
	if (r == 0 && a->turn_err)
		r = a->turn_err;
	a->turn_err = 0;
	if (r < 0) {
		char why[KW_PATH_MAX + 96];
		agent_store_why(a, r, why, sizeof(why));
		log_error("the store transaction of this turn failed (%s: %s): "
		          "%u connection(s) get errors, %s",
		          why, store_last_error(a->st), a->ngated,
		          r == KW_EUNKNOWN ? "outcome unknown" :
		                             "nothing was kept");
	}
	/* Take the list: releasing answers lets connections process more
	 * requests, which open the next batch and register anew. A
	 * connection freed meanwhile removes itself from the taken list
	 * (agent_gate_remove looks at a->releasing too). */
	conn **list = a->gated;
	uint32_t n = a->ngated;
	a->gated = NULL;
	a->ngated = a->gated_cap = 0;
	a->releasing = list;
	a->nreleasing = n;
	for (uint32_t i = 0; i < n; i++) {
		conn *c = list[i];
		list[i] = NULL;
		if (c)
			conn_batch_done(c, r);
	}
	a->releasing = NULL;
	a->nreleasing = 0;
	free(list);
}

/* Retry a failed recovery after 100 ms, doubling up to 5 s. */
#define FAULT_RETRY_MIN_MS 100
#define FAULT_RETRY_MAX_MS 5000

/* A recovery step failed: say so once per new reason, retry later. */
static void agent_recover_failed(agent *a, const char *step, int err)
{
	char waiting[sizeof(a->fault.waiting)];
	snprintf(waiting, sizeof(waiting), "%s (last attempt: %s)", step,
	         store_connected(a->st) ? store_last_error(a->st) :
	                                  kw_strerror(err));
	if (strcmp(waiting, a->fault.waiting) != 0)
		log_error("store recovery: waiting for %s", waiting);
	memcpy(a->fault.waiting, waiting, sizeof(waiting));
	int64_t delay = FAULT_RETRY_MIN_MS;
	for (uint32_t i = 0;
	     i < a->fault.attempts && delay < FAULT_RETRY_MAX_MS; i++)
		delay *= 2;
	if (delay > FAULT_RETRY_MAX_MS)
		delay = FAULT_RETRY_MAX_MS;
	a->fault.attempts++;
	a->fault.retry_ms = loop_now_ms() + delay;
}

/* The wrap as the recovered store has it: a passwd or a rekey whose
 * commit was in doubt may have landed after all. After a passwd the data
 * key is the same either way; a rekey's tells which key is in force
 * (agent_rekey_recovered). */
static int agent_recover_wrap(agent *a)
{
	wrapped_key w;
	int r = store_wrap_get(a->st, &w);
	if (r < 0)
		return r;
	agent_rekey_recovered(a, &w);
	bool to_passphrase = a->wrap.mode == KEY_WRAP_KEYFILE &&
	                     w.mode == KEY_WRAP_PASSPHRASE;
	a->wrap = w;
	sodium_memzero(&w, sizeof(w));
	if (to_passphrase) {
		log_info("store recovery: the passphrase change is in the "
		         "store after all; %s is no longer used",
		         a->key_path);
		if (unlink(a->key_path) != 0 && errno != ENOENT)
			log_error("%s could not be removed; delete it by hand",
			          a->key_path);
	}
	return 0;
}

/*
 * Re-establish a known state after a fault: reopen the store (recovery
 * reads what the files hold), make that durable with a full sync, then
 * take the state kept in memory (audit head, wrap, rotation work) from it
 * again. Until every step succeeds the fault stays and this runs again.
 */
static void agent_store_recover(agent *a, int64_t now)
{
	if (!a->fault.active || now < a->fault.retry_ms ||
	    store_batch_active(a->st))
		return;
	int r = store_reopen(a->st);
	if (r < 0) {
		agent_recover_failed(a, "reopening secrets.db", r);
		return;
	}
	r = store_settle(a->st);
	if (r < 0) {
		agent_recover_failed(a, "a full sync of secrets.db", r);
		return;
	}
	if ((r = audit_reload(a->au)) < 0 || (r = agent_recover_wrap(a)) < 0) {
		agent_recover_failed(a, "reading the recovered store", r);
		return;
	}
	rotate_changed(a->rot);
	char since[32];
	agent_format_utc(a->fault.since_us, since, sizeof(since));
	log_info("store recovery: the store is in a known state again (the "
	         "fault began %s; %u failed attempt(s)); serving requests",
	         since, a->fault.attempts);
	audit_event ev = {
		.uid = geteuid(),
		.pid = getpid(),
		.op = "store.recovered",
		.outcome = AUDIT_OK,
		.reason = a->fault.cause,
	};
	a->fault.active = false;
	if (agent_audit(a, &ev) < 0)
		agent_batch_fail(a, KW_ESTORE);
}

/* audit.verify runs a slice per loop turn so a big log never stalls. */
#define VERIFY_SLICE_ROWS 5000

struct agent_verify {
	struct agent_verify *next;
	conn *c; /* NULL once the connection went away */
	audit_verify *v;
};

int agent_verify_start(agent *a, conn *c)
{
	struct agent_verify *j = calloc(1, sizeof(*j));
	if (!j)
		return KW_ENOMEM;
	int r = audit_verify_begin(a->au, &j->v);
	if (r < 0) {
		free(j);
		return r;
	}
	j->c = c;
	j->next = a->verifies;
	a->verifies = j;
	return 0;
}

static void agent_verify_steps(agent *a)
{
	struct agent_verify **pj = &a->verifies;
	while (*pj) {
		struct agent_verify *j = *pj;
		bool done = !j->c;
		audit_verify_result res = { 0 };
		int r = 0;
		if (!done && a->fault.active) {
			done = true;
			r = KW_EIO;
		} else if (!done)
			r = audit_verify_step(j->v, VERIFY_SLICE_ROWS, &done,
			                      &res);
		if (!done && r == 0) {
			pj = &j->next;
			continue;
		}
		*pj = j->next;
		if (j->c)
			methods_verify_done(j->c, r, &res);
		audit_verify_free(j->v);
		free(j);
	}
}

void agent_conn_gone(agent *a, conn *c)
{
	if (a->async_conn == c)
		a->async_conn =
			NULL; /* the worker's answer has nobody to go to */
	for (struct agent_verify *j = a->verifies; j; j = j->next) {
		if (j->c == c)
			j->c = NULL;
	}
	methods_backup_conn_gone(&a->rpc, c);
}

int agent_audit(agent *a, const audit_event *ev)
{
	if (!a->au)
		return 0;
	int r = agent_batch(a);
	if (r == 0)
		r = audit_append(a->au, ev, clock_wall_us());
	if (r < 0)
		log_error("could not record %s in the audit log: %s", ev->op,
		          kw_strerror(r));
	return r;
}

/* After the turn's batch: a passwd's new wrap (written in that batch with
 * its audit row) takes effect only if the batch committed; only then is
 * master.key removed. On a rollback the old wrap and key stay, and the
 * gated answer becomes an error like every other in the batch. If the
 * outcome is unknown (err KW_EUNKNOWN) they stay too, until
 * agent_recover_wrap reads the wrap the recovered store holds. */
static void agent_passwd_settle(agent *a, int err)
{
	if (!a->passwd_pending)
		return;
	a->passwd_pending = false;
	if (err == KW_EUNKNOWN) {
		log_error("passphrase change in doubt (its commit failed to "
		          "sync): the old wrap and key stay in force until the "
		          "recovered store shows which wrap it holds");
	} else if (err == 0) {
		bool was_keyfile = a->wrap.mode == KEY_WRAP_KEYFILE;
		a->wrap = a->passwd_wrap;
		if (was_keyfile && unlink(a->key_path) != 0 && errno != ENOENT)
			log_error(
				"passphrase set, but %s could not be removed; "
				"delete it by hand",
				a->key_path);
		log_info("passphrase changed");
	} else {
		log_error("passphrase change rolled back with its turn; the "
		          "old wrap and key stay in force");
	}
	sodium_memzero(&a->passwd_wrap, sizeof(a->passwd_wrap));
}

int agent_reload_policy(agent *a, char *err, size_t errsz)
{
	policy *fresh = NULL;
	int r = policy_load_dir(a->policy_dir, geteuid(), &fresh, err, errsz);
	if (r == KW_ENOTFOUND)
		snprintf(err, errsz,
		         "%s does not exist: nobody could connect; run "
		         "`keyward policy init` to create the default policy",
		         a->policy_dir);
	if (r < 0)
		return r;
	policy_free(a->pol);
	a->pol = fresh;
	a->policy_gen++;
	log_info("policy loaded from %s: %zu client section(s)", a->policy_dir,
	         policy_count(a->pol));
	return 0;
}

/* Is something accepting connections on path? */
static bool agent_socket_live(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	bool live = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
	close(fd);
	return live;
}

/* The directory of the socket at sock, in ret_dir. */
/* The directory of path (absolute: "/" for "/name") into out; false if
 * there is none or it does not fit. */
static bool dir_of(const char *path, char *out, size_t outsz)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash == path ? 1 : slash ? (size_t)(slash - path) : 0;

	if (n == 0 || n >= outsz)
		return false;
	memcpy(out, path, n);
	out[n] = '\0';
	return true;
}

static int agent_socket_dirname(const char *sock, char ret_dir[KW_PATH_MAX])
{
	if (!dir_of(sock, ret_dir, KW_PATH_MAX) || strcmp(ret_dir, "/") == 0) {
		log_error("%s: the socket needs a directory of its own", sock);
		return KW_EINVAL;
	}
	return 0;
}

/*
 * The socket's directory: made if missing; with socket_mode 0660 it gets
 * the socket's group and mode 0750 (the group may reach the socket, not
 * create or remove anything), which the home must never have.
 */
static int agent_socket_dir(agent *a)
{
	char dir[KW_PATH_MAX];
	bool group = a->cfg.socket_mode == 0660;
	int r = agent_socket_dirname(a->socket_path, dir);
	if (r < 0)
		return r;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		log_error("%s: cannot create: %s", dir, strerror(errno));
		return KW_EIO;
	}
	if (group && strcmp(dir, a->home) == 0) {
		log_error(
			"socket_mode 0660: the socket needs a directory of its "
			"own, not %s (which holds the store); set [agent] "
			"socket",
			a->home);
		return KW_ECONFIG;
	}
	if ((r = agent_check_dir(dir, group ? 050 : 0, a->cfg.socket_gid)) < 0)
		return r;
	if (group && (chown(dir, (uid_t)-1, a->cfg.socket_gid) != 0 ||
	              chmod(dir, 0750) != 0)) {
		log_error("%s: cannot give it to group %s (%s): the agent's "
		          "user must belong to that group",
		          dir, a->cfg.socket_group, strerror(errno));
		return KW_EPERM;
	}
	return 0;
}

/* The socket just bound: its mode, and its group for 0660. The directory
 * keeps others out meanwhile. */
static int agent_socket_mode(agent *a)
{
	if (a->cfg.socket_mode == 0660 &&
	    chown(a->socket_path, (uid_t)-1, a->cfg.socket_gid) != 0) {
		log_error("%s: cannot give it to group %s (%s): the agent's "
		          "user must belong to that group",
		          a->socket_path, a->cfg.socket_group, strerror(errno));
		return KW_EPERM;
	}
	if (chmod(a->socket_path, a->cfg.socket_mode) != 0) {
		log_error("%s: chmod: %s", a->socket_path, strerror(errno));
		return KW_EIO;
	}
	return 0;
}

/* The socket's directory (unless it is the home) and the socket. One
 * that is gone lets nobody in: not a reason to refuse those connected. */
static int agent_watch_socket(agent *a, char *why, size_t whysz)
{
	char dir[KW_PATH_MAX];
	bool group = a->cfg.socket_mode == 0660;
	uid_t uid = geteuid();
	int r = agent_socket_dirname(a->socket_path, dir);
	if (r == 0 && strcmp(dir, a->home) != 0)
		r = fsguard_dir(dir, uid, group ? 050 : 0, a->cfg.socket_gid,
		                why, whysz);
	if (r == 0)
		r = fsguard_socket(a->socket_path, uid, a->cfg.socket_mode,
		                   a->cfg.socket_gid, why, whysz);
	return r == KW_ENOTFOUND ? 0 : r;
}

/*
 * On every sweep: the home, and the socket's directory and socket (unless
 * systemd owns them), must still have the modes checked at start. Someone
 * loosening one while the agent runs (chmod 755 ~/.mcp) makes the agent
 * refuse every request, saying why, until it is put back: serving on
 * would hand out secrets through a home or socket others can now reach,
 * and stopping would take every client down for what a chmod undoes.
 * Logged and audited once per change.
 */
static void agent_watch_modes(agent *a)
{
	char why[sizeof(a->unsafe_why)] = "";
	uid_t uid = geteuid();
	int r = fsguard_dir(a->home, uid, 0, 0, why, sizeof(why));
	/* systemd's socket is its unit's business; a stopping agent has
	 * removed its own. */
	if (r == 0 && !a->socket_inherited && a->socket_path[0] && !a->stopping)
		r = agent_watch_socket(a, why, sizeof(why));
	bool was = a->unsafe_why[0] != '\0';
	if (r < 0) {
		if (!was || strcmp(why, a->unsafe_why) != 0)
			log_error("%s; refusing every request until this is "
			          "fixed",
			          why);
		memcpy(a->unsafe_why, why, sizeof(why));
	} else if (was) {
		log_info("modes safe again (%s); serving requests", a->home);
		a->unsafe_why[0] = '\0';
	}
	if ((r < 0) != was) {
		audit_event ev = {
			.uid = uid,
			.pid = getpid(),
			.op = "agent.modes",
			.outcome = r < 0 ? AUDIT_ERROR : AUDIT_OK,
			.reason = r < 0 ? why : "safe again",
		};
		agent_audit(a, &ev);
	}
}

/* --socket, else [agent] socket, else the environment (paths.h). */
static int agent_socket_resolve(agent *a, const char *override)
{
	int r = 0;
	if (override)
		r = snprintf(a->socket_path, sizeof(a->socket_path), "%s",
		             override) < 0;
	else if (a->cfg.socket[0])
		snprintf(a->socket_path, sizeof(a->socket_path), "%s",
		         a->cfg.socket);
	else
		r = kw_path_socket(a->socket_path, sizeof(a->socket_path));
	if (r != 0 || a->socket_path[0] != '/' ||
	    strlen(a->socket_path) >=
	            sizeof(((struct sockaddr_un *)0)->sun_path)) {
		log_error("the socket path must be absolute and shorter than "
		          "108 bytes");
		return KW_EINVAL;
	}
	return 0;
}

int agent_print_socket(const char *home_override, const char *config_path,
                       const char *socket_override)
{
	agent a = { .listen_fd = -1 };
	int r = agent_paths(&a, home_override, config_path);
	if (r == 0)
		r = agent_load_config(&a, &a.cfg);
	if (r == 0)
		r = agent_socket_resolve(&a, socket_override);
	if (r == 0)
		printf("%s\n", a.socket_path);
	return r;
}

/* Every message must carry its writer (peer.h), from the first byte. */
static int agent_listen_creds(agent *a)
{
	if (peer_listen_setup(a->listen_fd) == 0)
		return 0;
	log_error("%s: cannot enable SO_PASSCRED: %s", a->socket_path,
	          strerror(errno));
	return KW_EIO;
}

static int agent_listen(agent *a, const char *override)
{
	const char *lfds = getenv("LISTEN_FDS");
	const char *lpid = getenv("LISTEN_PID");
	if (lfds && lpid && strtol(lpid, NULL, 10) == (long)getpid() &&
	    strcmp(lfds, "1") == 0) {
		a->listen_fd = 3;
		a->socket_inherited = true;
		fcntl(3, F_SETFD, FD_CLOEXEC);
		fcntl(3, F_SETFL, fcntl(3, F_GETFL) | O_NONBLOCK);
		struct sockaddr_un sa;
		socklen_t sl = sizeof(sa);
		if (getsockname(3, (struct sockaddr *)&sa, &sl) == 0 &&
		    sa.sun_family == AF_UNIX)
			snprintf(a->socket_path, sizeof(a->socket_path), "%s",
			         sa.sun_path);
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_PID");
		if (agent_listen_creds(a) < 0)
			return KW_EIO;
		log_info("using the socket passed by systemd (%s)",
		         a->socket_path);
		return 0;
	}

	int r = agent_socket_resolve(a, override);
	if (r < 0)
		return r;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	memcpy(sa.sun_path, a->socket_path, strlen(a->socket_path) + 1);
	if ((r = agent_socket_dir(a)) < 0)
		return r;

	struct stat st;
	if (lstat(a->socket_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_error("%s exists and is not a socket; refusing to "
			          "replace it",
			          a->socket_path);
			return KW_EEXIST;
		}
		if (agent_socket_live(&sa)) {
			log_error("%s: another agent is listening there",
			          a->socket_path);
			return KW_EBUSY;
		}
		log_info("%s: replacing a stale socket", a->socket_path);
		unlink(a->socket_path);
	}

	a->listen_fd =
		socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (a->listen_fd < 0)
		return KW_EIO;
	if (bind(a->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		log_error("%s: cannot listen: %s", a->socket_path,
		          strerror(errno));
		return KW_EIO;
	}
	if (agent_listen_creds(a) < 0)
		return KW_EIO;
	if ((r = agent_socket_mode(a)) < 0)
		return r;
	if (listen(a->listen_fd, SOMAXCONN) != 0) {
		log_error("%s: cannot listen: %s", a->socket_path,
		          strerror(errno));
		return KW_EIO;
	}
	return 0;
}

bool agent_uid_admit(agent *a, uid_t uid)
{
	uint32_t i;
	for (i = 0; i < a->nuids; i++) {
		if (a->uids[i].uid == uid)
			break;
	}
	if (i < a->nuids && a->uids[i].count >= a->cfg.max_connections_per_uid)
		return false;
	if (i == a->nuids) {
		/* nconns < max_connections was checked, so a slot is free. */
		a->uids[i] = (struct agent_uid_count){ .uid = uid };
		a->nuids++;
	}
	a->uids[i].count++;
	return true;
}

void agent_uid_release(agent *a, uid_t uid)
{
	for (uint32_t i = 0; i < a->nuids; i++) {
		if (a->uids[i].uid != uid)
			continue;
		if (--a->uids[i].count == 0)
			a->uids[i] = a->uids[--a->nuids];
		return;
	}
}

/* Tell a refused peer why, without blocking, then close. */
static void agent_refuse(int fd, int err, const char *why)
{
	char *line = NULL;
	size_t len = 0;
	if (kw_wire_error(NULL, err, why, NULL, &line, &len) == 0) {
		ssize_t n = send(fd, line, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		(void)n;
		kw_wipefree(line);
	}
	close(fd);
}

/* Reading a peer's credentials takes three more descriptors for a moment
 * (its pidfd, its /proc directory, and its maps from the spawner or
 * /proc/PID/exe). Without them it would look like an unknown program and
 * be denied, when the agent is only out of room. */
static bool agent_fd_headroom(int fd)
{
	int d[3] = { -1, -1, -1 };
	bool room = true;

	for (size_t i = 0; i < 3 && room; i++)
		room = (d[i] = fcntl(fd, F_DUPFD_CLOEXEC, 0)) >= 0;
	for (size_t i = 0; i < 3; i++) {
		if (d[i] >= 0)
			close(d[i]);
	}
	return room;
}

void agent_adopt(agent *a, int fd)
{
	peer_info peer;
	if (!agent_fd_headroom(fd)) {
		agent_refuse(fd, KW_ELIMIT,
		             "the agent has no file descriptor left for "
		             "another connection; try again later");
		return;
	}
	if (peer_from_socket(fd, &peer) < 0) {
		log_warn("refused a peer: no credentials (%s)",
		         strerror(errno));
		close(fd);
		return;
	}
	int64_t now = loop_now_ms();
	if (peer.uid != geteuid() && !policy_uid_named(a->pol, peer.uid)) {
		/* A source that keeps knocking is cut off without a word (and
		 * without a log line per attempt) until its delay passes. */
		if (penalty_pending(a->refused, peer.uid, now) > 0) {
			peer_release(&peer);
			close(fd);
			return;
		}
		uint32_t delay = penalty_fail(a->refused, peer.uid, now);
		log_warn("refused peer uid %u gid %u pid %d exe %s: no policy "
		         "names this uid (further attempts ignored for %u ms)",
		         (unsigned)peer.uid, (unsigned)peer.gid, (int)peer.pid,
		         peer.exe_known ? peer.exe : "(unknown)", delay);
		audit_event ev = {
			.uid = peer.uid,
			.pid = peer.pid,
			.exe = peer.exe_known ? peer.exe : NULL,
			.op = "peer.refused",
			.outcome = AUDIT_DENIED,
			.reason = "no policy names this uid",
		};
		agent_audit(a, &ev);
		peer_release(&peer);
		agent_refuse(fd, KW_EDENIED,
		             "no policy admits this user; see "
		             "policies/README.md");
		return;
	}
	if (a->nconns >= a->cfg.max_connections) {
		log_warn("refused uid %u pid %d: max_connections (%u) reached",
		         (unsigned)peer.uid, (int)peer.pid,
		         a->cfg.max_connections);
		peer_release(&peer);
		agent_refuse(fd, KW_ELIMIT, "too many connections");
		return;
	}
	if (!agent_uid_admit(a, peer.uid)) {
		log_warn("refused uid %u pid %d: max_connections_per_uid (%u) "
		         "reached",
		         (unsigned)peer.uid, (int)peer.pid,
		         a->cfg.max_connections_per_uid);
		peer_release(&peer);
		agent_refuse(fd, KW_ELIMIT,
		             "too many connections for this uid");
		return;
	}
	uid_t uid = peer.uid;
	if (conn_open(&a->rpc, fd, &peer) < 0) {
		peer_release(&peer);
		agent_uid_release(a, uid);
		close(fd);
	}
}

/*
 * Out of descriptors with peers waiting: spend the reserve on one of them,
 * to tell it so and close it, then take the reserve back. False if there
 * is no reserve or nobody was waiting.
 */
static bool agent_refuse_one(agent *a)
{
	if (a->reserve_fd < 0)
		return false;
	if (!a->fds_exhausted)
		log_warn("out of file descriptors (%u connections): refusing "
		         "new ones until some close",
		         a->nconns);
	a->fds_exhausted = true;
	close(a->reserve_fd);
	int fd = accept4(a->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0)
		agent_refuse(fd, KW_ELIMIT,
		             "the agent has no file descriptor left for "
		             "another connection; try again later");
	a->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return fd >= 0;
}

static void agent_on_listen(loop_watch *w, uint32_t events)
{
	agent *a = w->owner;
	(void)events;
	for (int i = 0; i < 64 && !a->stopping; i++) {
		int fd = accept4(a->listen_fd, NULL, NULL,
		                 SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd >= 0) {
			a->fds_exhausted = false;
			agent_adopt(a, fd);
			continue;
		}
		if ((errno == EMFILE || errno == ENFILE) &&
		    agent_refuse_one(a)) {
			continue;
		}
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			/* Level-triggered: stop polling the listener for a
			 * moment instead of spinning on the same error. */
			log_warn("accept: %s; pausing new connections",
			         strerror(errno));
			loop_mod(a->loop, &a->listen_w, 0);
			a->listen_paused = true;
			a->listen_resume_ms = loop_now_ms() + ACCEPT_PAUSE_MS;
		}
		return;
	}
}

static int agent_reload(agent *a)
{
	kw_config fresh;
	if (agent_load_config(a, &fresh) < 0) {
		log_error("reload failed; keeping the configuration in force");
		return KW_ECONFIG;
	}
	if (strcmp(fresh.socket, a->cfg.socket) != 0 ||
	    fresh.socket_mode != a->cfg.socket_mode ||
	    strcmp(fresh.socket_group, a->cfg.socket_group) != 0)
		log_warn("socket, socket_mode or socket_group changed in %s; "
		         "that takes a restart",
		         a->config_path);
	/* The socket was made with these; the sweep checks it against them. */
	memcpy(fresh.socket, a->cfg.socket, sizeof(fresh.socket));
	fresh.socket_mode = a->cfg.socket_mode;
	memcpy(fresh.socket_group, a->cfg.socket_group,
	       sizeof(fresh.socket_group));
	fresh.socket_gid = a->cfg.socket_gid;
	if (fresh.max_connections > a->uids_cap) {
		/* One accounting slot per possible connection. */
		struct agent_uid_count *u =
			realloc(a->uids, fresh.max_connections * sizeof(*u));
		if (!u) {
			log_error("reload failed: out of memory; keeping the "
			          "configuration in force");
			return KW_ENOMEM;
		}
		a->uids = u;
		a->uids_cap = fresh.max_connections;
	}
	/* Existing connections keep the frame buffer they were given. */
	a->cfg = fresh;
	log_set_level(a->cfg.log_level);
	if (a->au) {
		audit_config ac = agent_audit_config(&a->cfg);
		audit_configure(a->au, &ac);
	}
	log_info("configuration reloaded from %s", a->config_path);
	return 0;
}

static void agent_reload_all(agent *a)
{
	char err[512];
	int r = agent_reload(a);
	audit_event ev = {
		.uid = geteuid(),
		.pid = getpid(),
		.op = "config.reload",
		.outcome = r == 0 ? AUDIT_OK : AUDIT_ERROR,
		.reason = r == 0 ? "SIGHUP" : "SIGHUP: invalid file, old kept",
	};
	agent_audit(a, &ev);
	r = agent_reload_policy(a, err, sizeof(err));
	if (r < 0)
		log_error("policy reload failed; keeping the policy in force: "
		          "%s",
		          err);
	ev.op = "policy.reload";
	ev.outcome = r == 0 ? AUDIT_OK : AUDIT_ERROR;
	ev.reason = r == 0 ? "SIGHUP" : err;
	agent_audit(a, &ev);
}

static void agent_stop(agent *a, const char *reason)
{
	if (a->stopping)
		return;
	a->stopping = true;
	a->stop_deadline_ms = loop_now_ms() + STOP_GRACE_MS;
	loop_del(a->loop, &a->listen_w);
	close(a->listen_fd);
	a->listen_fd = -1;
	if (!a->socket_inherited)
		unlink(a->socket_path);
	log_info("stopping: finishing requests in flight");
	audit_event ev = {
		.uid = geteuid(),
		.pid = getpid(),
		.op = "agent.stop",
		.outcome = AUDIT_OK,
		.reason = reason,
	};
	agent_audit(a, &ev);
	for (conn *c = a->conns, *next; c; c = next) {
		next = c->next;
		conn_drain(c);
	}
}

static void agent_on_signal(loop_watch *w, uint32_t events)
{
	agent *a = w->owner;
	struct signalfd_siginfo si;
	(void)events;
	while (read(a->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP)
			agent_reload_all(a);
		else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
			agent_stop(a, "signal");
	}
}

static void agent_on_worker(loop_watch *w, uint32_t events)
{
	(void)events;
	agent *a = w->owner;
	methods_worker_done(&a->rpc);
}

static int agent_signals(agent *a)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	/* Blocked before the worker thread starts, so it inherits the mask
	 * and every signal arrives through the signalfd. */
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return KW_EINTERNAL;
	signal(SIGPIPE, SIG_IGN);
	a->signal_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	return a->signal_fd < 0 ? KW_EIO : 0;
}

/* KEYS_IDLE_MS without work: the keys the busy turns kept readable go
 * back to no-access while the agent waits. */
static void agent_on_idle(void *arg)
{
	(void)arg;
	keys_idle();
}

/* The rotation engine's view of the agent (rotate_host). */
static int rot_batch(void *ctx)
{
	return agent_batch(ctx);
}

static void rot_batch_fail(void *ctx, int err)
{
	agent_batch_fail(ctx, err);
}

static int rot_audit(void *ctx, const audit_event *ev)
{
	return agent_audit(ctx, ev);
}

static void rot_rotated(void *ctx, const char *name, uint64_t version,
                        uint64_t previous, const char *rotation_id)
{
	agent *a = ctx;
	methods_notify_rotated(&a->rpc, name, version, previous, rotation_id);
}

static void rot_reauth(void *ctx, const char *name)
{
	agent *a = ctx;
	methods_notify_reauth(&a->rpc, name);
}

static int agent_rotate_new(agent *a)
{
	const rotate_host host = {
		.ctx = a,
		.st = &a->st,
		.dk = &a->dk,
		.cfg = &a->cfg,
		.loop = a->loop,
		.spawn = a->spawn,
		.stopping = &a->stopping,
		.batch = rot_batch,
		.batch_fail = rot_batch_fail,
		.audit = rot_audit,
		.rotated = rot_rotated,
		.reauth = rot_reauth,
	};
	return rotate_new(&host, &a->rot);
}

/* The spawner died (spawn_client.h): recorded now, acted on between turns,
 * since this may run inside a rotation step. */
static void agent_on_spawner_lost(void *arg)
{
	agent *a = arg;
	a->spawner_lost = true;
}

/* The command spawner: forked now, before the store is opened, a key is
 * read or a thread started, so that it never had a key in its memory and
 * may run after the fork (spawner.h). */
static int agent_start_spawner(agent *a)
{
	int r = spawn_client_new(&a->spawn);

	if (r == KW_EPERM)
		log_error("no command spawner: the one at "
		          "KEYWARD_SPAWNER_SOCKET was refused (above)");
	else if (r < 0)
		log_error("cannot start the command spawner: %s",
		          kw_strerror(r));
	else
		spawn_client_on_lost(a->spawn, agent_on_spawner_lost, a);
	return r;
}

/* Under Landlock, clients' executables are read by the spawner (peer.h). */
static int agent_exe_broker(void *arg, int procfd, char path[static PATH_MAX],
                            procexe_id *ret_id, int *ret_exe_fd,
                            int *ret_maps_fd)
{
	agent *a = arg;

	return spawn_exe_read(a->spawn, procfd, path, ret_id, ret_exe_fd,
	                      ret_maps_fd);
}

/*
 * Confine the key holder for good (sandbox.h): after the spawner and
 * keyward-net run, before the store opens, a key is read, a thread starts
 * or the socket is bound. no_new_privs and the seccomp filter always;
 * Landlock unless [agent] confine_files = off, to the home, the socket's
 * directory, and what the configuration names outside them (the config
 * file itself and webhook_ca_file read-only, the audit anchor's directory
 * read-write). Under Landlock the spawner reads clients' executables.
 */
static int agent_confine(agent *a, unsigned flags, const char *socket_override)
{
	char sockdir[KW_PATH_MAX], anchordir[KW_PATH_MAX],
		clockdir[KW_PATH_MAX];
	const char *ro[SANDBOX_EXTRA_MAX + 1] = { NULL };
	const char *rw[2] = { NULL };
	struct sandbox_paths paths = { .home = a->home, .no_landlock = true };
	struct sandbox_state state;
	const char *what = NULL;
	size_t n = 0;
	int r;

	if (flags & AGENT_NO_SANDBOX) {
		log_warn("running unconfined (--no-sandbox): no seccomp filter "
		         "or Landlock rules; for valgrind runs only");
		return 0;
	}
	if (a->cfg.confine_files) {
		/* The socket is bound later, once the store is open (a client
		 * that connects finds the agent ready); its directory must
		 * exist now for a rule to name it. */
		if ((r = agent_socket_resolve(a, socket_override)) < 0 ||
		    (r = agent_socket_dir(a)) < 0 ||
		    (r = agent_socket_dirname(a->socket_path, sockdir)) < 0)
			return r;
		/* Those that do not exist yet stay out of reach: a reload
		 * cannot widen the sandbox. */
		if (access(a->config_path, F_OK) == 0)
			ro[n++] = a->config_path;
		if (a->cfg.rotation_webhook_ca_file[0] &&
		    access(a->cfg.rotation_webhook_ca_file, F_OK) == 0)
			ro[n++] = a->cfg.rotation_webhook_ca_file;
		if (a->cfg.audit_anchor[0] &&
		    dir_of(a->cfg.audit_anchor, anchordir, sizeof(anchordir)) &&
		    access(anchordir, F_OK) == 0)
			rw[0] = anchordir;
		/* Test builds: the test clock's file is rewritten by rename,
		 * so its directory (clock.h; never in a release build). */
		if (clock_test_file() &&
		    dir_of(clock_test_file(), clockdir, sizeof(clockdir)) &&
		    access(clockdir, F_OK) == 0)
			ro[n++] = clockdir;
		paths = (struct sandbox_paths){ .home = a->home,
			                        .runtime = sockdir,
			                        .extra_ro = ro,
			                        .extra_rw = rw };
	}
	r = sandbox_apply(SANDBOX_KEYHOLDER, &paths, &state, &what);
	if (r < 0) {
		log_error("cannot confine the agent (%s: %s); refusing to run "
		          "unconfined (keywardd(8), SANDBOX)",
		          what ? what : "?", kw_strerror(r));
		return r;
	}
	a->confined = true;
	if (state.landlock_abi > 0 && a->cfg.confine_files)
		peer_set_exe_broker(agent_exe_broker, a);
	return 0;
}

int agent_init(agent *a, const char *home_override, const char *config_path,
               const char *socket_override, unsigned flags)
{
	int r;
	*a = (agent){ .listen_fd = -1,
		      .signal_fd = -1,
		      .lock_fd = -1,
		      .worker_fd = -1,
		      .reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC),
		      .accept_loss = (flags & AGENT_ACCEPT_LOSS) != 0 };
	a->started_ms = loop_now_ms();
	agent_rpc_host_init(a);

	if ((r = agent_paths(a, home_override, config_path)) < 0 ||
	    (r = agent_check_dir(a->home, 0, 0)) < 0)
		return r;
	if ((r = agent_load_config(a, &a->cfg)) < 0 ||
	    (r = agent_store_exists(a)) < 0)
		return r;
	log_set_level(a->cfg.log_level);
	a->uids = calloc(a->cfg.max_connections, sizeof(*a->uids));
	if (!a->uids)
		return KW_ENOMEM;
	a->uids_cap = a->cfg.max_connections;
	char err[512];
	if ((r = agent_reload_policy(a, err, sizeof(err))) < 0) {
		log_error("%s", err);
		return r;
	}
	if ((r = ratelimit_new(RATE_BUCKETS_MAX, &a->rate)) < 0 ||
	    (r = ratelimit_new(RATE_BUCKETS_MAX, &a->apikey_failures)) < 0 ||
	    (r = penalty_new(PENALTY_SOURCES_MAX, 100, 10000, &a->refused)) <
	            0 ||
	    (r = penalty_new(PENALTY_SOURCES_MAX, 100, 10000, &a->bad_tokens)) <
	            0 ||
	    (r = exe_hash_cache_new(EXE_CACHE_MAX, &a->exe_cache)) < 0)
		return r;
	if ((r = agent_lock_home(a)) < 0 || (r = agent_start_spawner(a)) < 0 ||
	    (r = loop_new(&a->loop)) < 0)
		return r;
	/* keyward-net, the HTTP helper: started by the spawner before the
	 * key holder confines itself and before the store opens (keyfile
	 * mode loads the key there). Without it the agent still serves;
	 * webhook steps then fail saying why. */
	a->net = rotate_net_start(a->loop, a->spawn, a->net_why,
	                          sizeof(a->net_why));
	if ((r = agent_confine(a, flags, socket_override)) < 0)
		return r;
	if ((r = agent_open_audit(a)) < 0 || (r = agent_signals(a)) < 0 ||
	    (r = spawn_client_attach(a->spawn, a->loop)) < 0 ||
	    (r = agent_rotate_new(a)) < 0)
		return r;
	rotate_take_net(a->rot, a->net, a->net_why);
	a->net = NULL;
	if ((r = unlock_worker_start(&a->worker, &a->worker_fd)) < 0) {
		log_error("cannot start the key-derivation thread");
		return r;
	}
	if ((r = agent_listen(a, socket_override)) < 0)
		return r;
	if ((r = loop_add(a->loop, &a->listen_w, a->listen_fd, EPOLLIN,
	                  agent_on_listen, a)) < 0 ||
	    (r = loop_add(a->loop, &a->signal_w, a->signal_fd, EPOLLIN,
	                  agent_on_signal, a)) < 0 ||
	    (r = loop_add(a->loop, &a->worker_w, a->worker_fd, EPOLLIN,
	                  agent_on_worker, a)) < 0)
		return r;
	log_info("listening on %s (%s mode, %s, %s)", a->socket_path,
	         agent_mode_name(a), a->dk ? "unlocked" : "locked",
	         a->confined ? "confined" : "unconfined");
	audit_event ev = {
		.uid = geteuid(),
		.pid = getpid(),
		.op = "agent.start",
		.outcome = AUDIT_OK,
		.reason = a->dk ? "unlocked (keyfile)" : "locked",
	};
	agent_audit(a, &ev);
	uint64_t restore_seq = 0;
	bool restored = restore_mark_record(a, &restore_seq);
	agent_batch_finish(a);
	if (restored)
		restore_mark_settle(a, restore_seq);
	loop_on_idle(a->loop, KEYS_IDLE_MS, agent_on_idle, a);
	return 0;
}

static void agent_sweep(agent *a, int64_t now)
{
	if (a->listen_paused && now >= a->listen_resume_ms && !a->stopping) {
		a->listen_paused = false;
		loop_mod(a->loop, &a->listen_w, EPOLLIN);
	}
	for (conn *c = a->conns, *next; c; c = next) {
		next = c->next;
		conn_sweep(c, now);
	}
	ratelimit_sweep(a->rate, now);
	ratelimit_sweep(a->apikey_failures, now);
	if (a->au && !store_batch_active(a->st) && !a->fault.active)
		(void)audit_tick(a->au, clock_wall_us());
	penalty_sweep(a->refused, now);
	penalty_sweep(a->bad_tokens, now);
	agent_watch_modes(a);
}

/* Sweep often while something waits on a short clock. */
static int64_t agent_sweep_interval(const agent *a)
{
	if (a->async_conn || a->listen_paused || a->stopping)
		return SWEEP_FAST_MS;
	for (const conn *c = a->conns; c; c = c->next) {
		if (c->hold_until_ms || c->closing)
			return SWEEP_FAST_MS;
	}
	return SWEEP_MS;
}

static bool agent_drained(const agent *a)
{
	if (a->async_conn)
		return false;
	for (const conn *c = a->conns; c; c = c->next) {
		if (!conn_idle(c))
			return false;
	}
	return true;
}

int agent_turn(agent *a, int max_wait_ms)
{
	int64_t now = loop_now_ms();
	int64_t wait = a->next_sweep_ms - now;
	/* A batch opened while answers were released (or verify work) must
	 * not wait for the next event. */
	if (a->sync_due_ms && a->sync_due_ms - now < wait)
		wait = a->sync_due_ms - now;
	if (a->fault.active && a->fault.retry_ms - now < wait)
		wait = a->fault.retry_ms - now;
	if (wait < 0 || a->verifies || store_batch_active(a->st) ||
	    (!a->fault.active && rotate_ready(a->rot)))
		wait = 0;
	if (max_wait_ms >= 0 && wait > max_wait_ms)
		wait = max_wait_ms;
	if (loop_turn(a->loop, (int)wait) < 0) {
		log_error("event loop failed: %s", strerror(errno));
		return KW_EIO;
	}
	agent_verify_steps(a);
	rotate_tick(a->rot);
	if (a->spawner_lost && !a->stopping) {
		log_error(
			"keywardd cannot start another command spawner once "
			"confined; stopping in order, exit status %d, for its "
			"service manager to start it again",
			EX_TEMPFAIL);
		a->exit_status = EX_TEMPFAIL;
		agent_stop(a, "the command spawner died");
	}
	now = loop_now_ms();
	if (now >= a->next_sweep_ms) {
		agent_sweep(a, now);
		a->next_sweep_ms = now + agent_sweep_interval(a);
	}
	/* One commit for everything this turn did, then the answers. */
	agent_batch_finish(a);
	agent_flush(a, loop_now_ms());
	/* A commit of the agent's own (a checkpoint's record, retention, an
	 * unlock's queued rows) can leave the store in doubt too. */
	if (store_in_doubt(a->st))
		agent_store_fault(a,
		                  "a write of the agent's own (an audit "
		                  "checkpoint, retention, an unlock)",
		                  KW_EUNKNOWN);
	/* Before a recovery, which opens a batch for its audit row: the
	 * checkpoint retried after it must run outside one (next turn). */
	agent_audit_watch(a);
	agent_store_recover(a, loop_now_ms());
	return 0;
}

int agent_run(agent *a)
{
	a->next_sweep_ms = loop_now_ms() + SWEEP_MS;
	for (;;) {
		int64_t now = loop_now_ms();
		if (a->stopping &&
		    (agent_drained(a) || now >= a->stop_deadline_ms))
			break;
		if (agent_turn(a, -1) < 0)
			return KW_EIO;
	}
	agent_batch_finish(a);
	/* A store in doubt gets no checkpoint: it would vouch for rows the
	 * disk may not have. */
	if (a->fault.active)
		log_error("stopping with the store in an unknown state (%s); "
		          "recovery runs when the agent starts again",
		          a->fault.cause);
	else if (audit_unlocked(a->au) &&
	         audit_checkpoint(a->au, clock_wall_us()) < 0)
		log_error("could not write the final audit checkpoint");
	log_info("stopped");
	return 0;
}

void agent_fini(agent *a)
{
	while (a->conns)
		conn_free(a->conns);
	rotate_free(a->rot); /* before the loop: its jobs watch fds */
	httpc_free(a->net);  /* the store never opened */
	peer_set_exe_broker(NULL, NULL); /* it reads through the spawner */
	spawn_client_free(a->spawn); /* after the jobs: it ends their groups */
	unlock_worker_stop(a->worker);
	if (a->loop)
		loop_free(a->loop);
	if (a->listen_fd >= 0) {
		close(a->listen_fd);
		if (!a->socket_inherited && a->socket_path[0])
			unlink(a->socket_path);
	}
	if (a->signal_fd >= 0)
		close(a->signal_fd);
	if (a->reserve_fd >= 0)
		close(a->reserve_fd);
	while (a->verifies) {
		struct agent_verify *j = a->verifies;
		a->verifies = j->next;
		audit_verify_free(j->v);
		free(j);
	}
	agent_rekey_drop(a);
	audit_close(a->au);
	free(a->gated);
	key_free(a->dk);
	key_free(a->token_key);
	key_free(a->apikey_key);
	policy_free(a->pol);
	ratelimit_free(a->rate);
	ratelimit_free(a->apikey_failures);
	penalty_free(a->refused);
	penalty_free(a->bad_tokens);
	exe_hash_cache_free(a->exe_cache);
	store_close(a->st);
	if (a->lock_fd >= 0)
		close(a->lock_fd);
	free(a->uids);
	*a = (agent){ .listen_fd = -1 };
}
