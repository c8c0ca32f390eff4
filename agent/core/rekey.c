/*
 * rekey.c - store.rekey: a new data key for the whole store in one
 * transaction, and the keyfile's crash-safe replacement (docs/store.md,
 * "Rekey").
 *
 * The new data key seals every version again, the audit checkpoint key
 * and the three subkeys (store_keys.h) are re-sealed, and the keywrap row
 * gets the new key wrapped by a new key-encryption key: a new master.key
 * (keyfile mode) or Argon2id of the same passphrase with a new salt
 * (passphrase mode, through the unlock worker). All of it joins the turn's
 * batch. From then on the agent seals with the new key, so a request later
 * in the same turn writes what the batch will hold; if the batch rolls
 * back, it takes those writes with it and the old key comes back.
 *
 * Keyfile mode: master.key.new is written (O_EXCL, 0600, fsync'd) before
 * the commit and renamed over master.key after it. agent_keyfile_resolve
 * settles whatever a crash left: exactly one of the two opens the store.
 * A commit whose outcome is unknown keeps both keys until the recovered
 * store's wrap shows which one won (agent_rekey_recovered).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "agent.h"
#include "conn.h"
#include "dispatch.h"
#include "keyward.h"
#include "log.h"
#include "secmem.h"
#include "store_keys.h"
#include "store_oauth.h"

struct agent_rekey {
	kw_key *old_dk;   /* in force again if the batch rolls back */
	bool keyfile;     /* master.key.new waits for the commit */
	wrapped_key wrap; /* in force once the batch commits */
	bool in_doubt;    /* the commit's outcome is unknown */
	uint8_t audit_sealed[AUDIT_SEALED_SK_BYTES];
};

#if KW_TEST_HOOKS
/* KEYWARD_TEST_CRASH=rekey:work or rekey:commit (test builds only). */
static bool rekey_crash_at(const char *when)
{
	const char *v = getenv("KEYWARD_TEST_CRASH");
	return v && strncmp(v, "rekey:", 6) == 0 && strcmp(v + 6, when) == 0;
}

static void rekey_crash(const char *when)
{
	if (!rekey_crash_at(when))
		return;
	log_warn("KEYWARD_TEST_CRASH: dying in a rekey (%s)", when);
	raise(SIGKILL);
}
#else
static void rekey_crash(const char *when)
{
	(void)when;
}
#endif

static int new_key_path(const agent *a, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s.new", a->key_path);
	return n < 0 || (size_t)n >= size ? KW_EINVAL : 0;
}

/* Make the renames and removals in the home durable; best effort. */
static void sync_home(const agent *a)
{
	int fd = open(a->home, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	(void)fsync(fd);
	close(fd);
}

/* Does the keyfile at path open the wrap in force? */
static bool keyfile_opens(const agent *a, const char *path)
{
	kw_key *kek = NULL, *dk = NULL;
	if (keyfile_read(path, &kek) < 0)
		return false;
	int r = key_unwrap(kek, &a->wrap, &dk);
	key_free(kek);
	key_free(dk);
	return r == 0;
}

int agent_keyfile_resolve(agent *a)
{
	char newp[KW_PATH_MAX + 8];
	if (a->wrap.mode != KEY_WRAP_KEYFILE ||
	    new_key_path(a, newp, sizeof(newp)) < 0 || access(newp, F_OK) != 0)
		return 0;
	if (keyfile_opens(a, newp)) {
		/* The rekey committed; the rename did not happen. */
		if (rename(newp, a->key_path) != 0) {
			log_error("%s opens the store but cannot replace %s "
			          "(%s); rename it by hand",
			          newp, a->key_path, strerror(errno));
			return KW_EIO;
		}
		sync_home(a);
		log_warn("a rekey had committed but master.key was not yet "
		         "replaced: %s is now master.key",
		         newp);
		return 0;
	}
	if (!keyfile_opens(a, a->key_path)) {
		log_error("neither %s nor %s opens the store", a->key_path,
		          newp);
		return KW_EBADPASS;
	}
	/* A rekey that never committed: its key opens nothing. */
	if (unlink(newp) != 0 && errno != ENOENT) {
		log_error("%s is left from a rekey that did not commit and "
		          "cannot be removed (%s); delete it by hand",
		          newp, strerror(errno));
		return KW_EIO;
	}
	sync_home(a);
	log_warn("removed %s, left by a rekey that did not commit", newp);
	return 0;
}

struct rekey_job {
	agent *a;
	kw_key *new_dk;
	const wrapped_key *new_wrap;
	struct agent_rekey *rk;
	uint64_t count;
};

/* Re-seal everything under the new key and write the new wrap (run as
 * one savepoint of the open batch by store_in_tx). */
static int rekey_write(void *arg)
{
	struct rekey_job *j = arg;
	agent *a = j->a;
	uint64_t creds = 0;
	int r = store_reseal_values(a->st, a->dk, j->new_dk, &j->count);
	if (r == 0)
		r = store_oauth_reseal(a->st, a->dk, j->new_dk, &creds);
	if (r == 0)
		r = audit_rekey(a->au, j->new_dk, j->rk->audit_sealed);
	if (r == 0)
		r = store_subkey_seal(a->st, j->new_dk, STORE_SUBKEY_TOKEN,
		                      a->token_key);
	if (r == 0)
		r = store_subkey_seal(a->st, j->new_dk, STORE_SUBKEY_APIKEY,
		                      a->apikey_key);
	if (r == 0)
		r = store_wrap_set(a->st, j->new_wrap);
	return r;
}

/*
 * Write the rekey into the turn's batch and switch the agent to new_dk
 * (taken, freed on failure). new_wrap is the new data key's wrap;
 * keyfile: master.key.new holds its key-encryption key.
 */
static int rekey_apply(rpc_ctx *x, kw_key *new_dk, const wrapped_key *new_wrap,
                       bool keyfile, uint64_t *ret_count)
{
	agent *a = x->h->core;
	struct agent_rekey *rk = calloc(1, sizeof(*rk));
	int r = rk ? agent_batch(a) : KW_ENOMEM;
	struct rekey_job j = { a, new_dk, new_wrap, rk, 0 };
	if (r == 0)
		r = store_in_tx(a->st, rekey_write, &j);
	*ret_count = j.count;
	if (r < 0) {
		free(rk);
		key_free(new_dk);
		if (r == KW_EBUSY)
			return rpc_fail(x, r, NULL,
			                "the audit checkpoint key is not "
			                "committed yet; try again");
		if (r == KW_ECRYPTO)
			return rpc_fail(
				x, r, NULL,
				"a stored value does not open with the "
				"data key; nothing was changed (keyward "
				"audit verify and a backup first)");
		return r;
	}
	rekey_crash("work");
	rk->old_dk = a->dk;
	rk->keyfile = keyfile;
	rk->wrap = *new_wrap;
	a->dk = new_dk;
	key_linger(a->dk);
	a->rekey = rk;
	return 0;
}

/* The rekey is in the store: the new key and wrap are in force. */
static void rekey_kept(agent *a, struct agent_rekey *rk, const char *newp)
{
	key_free(rk->old_dk);
	rk->old_dk = NULL;
	audit_rekeyed(a->au, rk->audit_sealed);
	a->wrap = rk->wrap;
	if (rk->keyfile && newp && rename(newp, a->key_path) != 0)
		log_error("rekey committed, but %s could not replace %s (%s): "
		          "the store opens only with %s; the next start "
		          "renames it",
		          newp, a->key_path, strerror(errno), newp);
	else if (rk->keyfile)
		sync_home(a);
	log_info("rekeyed: a new data key is in force");
}

/* The rekey is not in the store: the old key comes back. */
static void rekey_undone(agent *a, struct agent_rekey *rk, const char *newp)
{
	/* Locked meanwhile (agent.lock later in the turn): stay so. */
	if (a->dk) {
		key_free(a->dk);
		a->dk = rk->old_dk;
	} else {
		key_free(rk->old_dk);
	}
	rk->old_dk = NULL;
	if (rk->keyfile && newp && unlink(newp) != 0 && errno != ENOENT)
		log_error("%s could not be removed; delete it by hand", newp);
	log_error("rekey rolled back; the old data key stays in force");
}

static void rekey_free(agent *a)
{
	struct agent_rekey *rk = a->rekey;
	a->rekey = NULL;
	key_free(rk->old_dk);
	sodium_memzero(rk, sizeof(*rk));
	free(rk);
}

void agent_rekey_settle(agent *a, int err)
{
	struct agent_rekey *rk = a->rekey;
	char newp[KW_PATH_MAX + 8];
	if (!rk || rk->in_doubt)
		return;
	const char *np = new_key_path(a, newp, sizeof(newp)) == 0 ? newp : NULL;
	if (err == KW_EUNKNOWN) {
		/* Both keys and both key files stay until the recovered store
		 * shows which wrap it holds (agent_rekey_recovered); nothing
		 * is served meanwhile. */
		rk->in_doubt = true;
		log_error("rekey in doubt (its commit failed to sync): both "
		          "keys are kept until the recovered store shows "
		          "which one it holds");
		return;
	}
	if (err == 0) {
		rekey_crash("commit");
		rekey_kept(a, rk, np);
	} else {
		rekey_undone(a, rk, np);
	}
	rekey_free(a);
}

void agent_rekey_recovered(agent *a, const wrapped_key *w)
{
	struct agent_rekey *rk = a->rekey;
	char newp[KW_PATH_MAX + 8];
	if (!rk)
		return;
	const char *np = new_key_path(a, newp, sizeof(newp)) == 0 ? newp : NULL;
	bool landed =
		w->mode == rk->wrap.mode &&
		sodium_memcmp(w->wrapped, rk->wrap.wrapped,
	                      sizeof(w->wrapped)) == 0 &&
		sodium_memcmp(w->nonce, rk->wrap.nonce, sizeof(w->nonce)) == 0;
	log_info("store recovery: the rekey in doubt is %s the store",
	         landed ? "in" : "not in");
	if (landed)
		rekey_kept(a, rk, np);
	else
		rekey_undone(a, rk, np);
	rekey_free(a);
}

void agent_rekey_drop(agent *a)
{
	/* The key files stay as they are: agent_keyfile_resolve settles
	 * them at the next start. */
	if (a->rekey)
		rekey_free(a);
}

/* Keyfile mode: a new master.key.new and the data key wrapped by it. */
static int rekey_keyfile(rpc_ctx *x, json_t **ret_result)
{
	agent *a = x->h->core;
	char newp[KW_PATH_MAX + 8];
	kw_key *kek = NULL, *new_dk = NULL;
	wrapped_key w = { .mode = KEY_WRAP_KEYFILE };
	uint64_t n = 0;
	int r = new_key_path(a, newp, sizeof(newp));
	if (r == 0)
		r = agent_keyfile_resolve(a);
	if (r < 0)
		return rpc_fail(x, KW_ESTATE, NULL,
		                "master.key.new is left from an earlier rekey "
		                "and cannot be settled (see the agent's log)");
	r = keyfile_create(newp, &kek);
	if (r < 0)
		return rpc_fail(x, r, NULL, "cannot write master.key.new: %s",
		                kw_strerror(r));
	r = key_random(&new_dk);
	if (r == 0)
		r = key_wrap(kek, new_dk, &w);
	key_free(kek);
	if (r == 0)
		r = rekey_apply(x, new_dk, &w, true, &n);
	else
		key_free(new_dk);
	sodium_memzero(&w, sizeof(w));
	if (r < 0) {
		unlink(newp);
		return r;
	}
	*ret_result = json_pack("{s:s, s:I}", "mode", "keyfile", "versions",
	                        (json_int_t)n);
	return *ret_result ? 0 : KW_ENOMEM;
}

int agent_store_rekey(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { "passphrase", NULL };
	agent *a = x->h->core;
	int r = rpc_allow(x, keys);
	if (r < 0)
		return r;
	/* A passwd or unlock job holds the data key as it was when it
	 * started: it must not finish after the key changed. */
	if (a->rekey || a->passwd_pending || a->async_conn)
		return rpc_fail(x, KW_EBUSY, NULL,
		                "a rekey, unlock or passphrase change is "
		                "running; try again");
	if (a->wrap.mode == KEY_WRAP_KEYFILE) {
		if (json_object_get(x->params, "passphrase"))
			return rpc_fail(x, KW_EINVAL, "passphrase",
			                "not used in keyfile mode");
		return rekey_keyfile(x, ret_result);
	}
	return methods_rekey_submit(x);
}

int agent_rekey_apply(rpc_ctx *x, kw_key *new_dk, const wrapped_key *new_wrap,
                      uint64_t *ret_count)
{
	return rekey_apply(x, new_dk, new_wrap, false, ret_count);
}
