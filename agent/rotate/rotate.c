/*
 * rotate.c - the rotation engine (rotate.h, docs/rotation.md): its crash
 * hooks (test builds only), the batch bookkeeping, starting runs and the
 * tick that finds due work. One step of a run is rotate_step.c. Its time
 * is clock_now() (clock.h).
 */
#include "rotate.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "audit.h"
#include "clock.h"
#include "keyward.h"
#include "log.h"
#include "netclient.h"
#include "oauthcred.h"
#include "procgroup.h"
#include "rotate_int.h"
#include "rotcmd.h"
#include "schedule.h"
#include "secmem.h"
#include "webhook.h"

_Static_assert(STORE_BOOT_ID_LEN == PROCGROUP_BOOT_ID_LEN,
               "a stored boot id is a procgroup's");

/* A run names the process group of a command that a previous agent
 * started and did not see end: kill what is left of it, so that the step,
 * which runs again, does not overlap with it. (The keeper in the group
 * has done that already if it could; see rotcmd.h.) */
static void kill_left_over(rotate *r, const store_rotation_group *sg)
{
	procgroup g = { .pgid = sg->pgid, .sid = sg->sid, .start = sg->start };
	bool killed = false;

	memcpy(g.boot, sg->boot, sizeof(g.boot));
	int rr = procgroup_kill(&g, &killed);
	if (rr < 0) {
		log_error("rotation %s of %s: cannot end process group %lld, "
		          "which its command left running: %s",
		          sg->id, sg->name, (long long)sg->pgid,
		          kw_strerror(rr));
		rotate_audit(r, "rotate.kill", sg->name, 0, AUDIT_ERROR,
		             "rotation %s: cannot end process group %lld, "
		             "which its command left running: %s",
		             sg->id, (long long)sg->pgid, kw_strerror(rr));
	} else if (killed) {
		log_warn("rotation %s of %s: killed process group %lld, which "
		         "its command left running when the agent died; the "
		         "step runs again",
		         sg->id, sg->name, (long long)sg->pgid);
		rotate_audit(r, "rotate.kill", sg->name, 0, AUDIT_OK,
		             "rotation %s: killed process group %lld, which "
		             "its command left running when the agent died",
		             sg->id, (long long)sg->pgid);
	}
}

struct collect_groups {
	store_rotation_group *v;
	size_t n, cap;
};

static int collect_group(const store_rotation_group *sg, void *arg)
{
	struct collect_groups *c = arg;

	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 8;
		void *v = realloc(c->v, cap * sizeof(*c->v));
		if (!v)
			return KW_ENOMEM;
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n++] = *sg;
	return 0;
}

/* All of them first: the kills write audit rows, not to be mixed with a
 * read of the store in progress. */
static void kill_all_left_over(rotate *r)
{
	struct collect_groups c = { NULL, 0, 0 };
	int rr = store_rotation_groups(rotate_store(r), collect_group, &c);

	if (rr < 0)
		log_error("cannot list the commands a previous agent left "
		          "running: %s",
		          kw_strerror(rr));
	/* What was listed before a failure is still worth ending. */
	for (size_t i = 0; i < c.n; i++)
		kill_left_over(r, &c.v[i]);
	free(c.v);
}

#if KW_TEST_HOOKS
/* KEYWARD_TEST_CRASH=STEP:work or STEP:commit (test builds only). */
static int crash_hook_init(rotate *r)
{
	const char *crash = getenv("KEYWARD_TEST_CRASH");

	if (!crash || !*crash)
		return 0;
	const char *colon = strchr(crash, ':');
	size_t n = colon ? (size_t)(colon - crash) : 0;
	if (!colon || n == 0 || n >= sizeof(r->crash_step) ||
	    (strcmp(colon + 1, "work") && strcmp(colon + 1, "commit"))) {
		log_error("KEYWARD_TEST_CRASH must be STEP:work or "
		          "STEP:commit");
		return KW_ECONFIG;
	}
	memcpy(r->crash_step, crash, n);
	r->crash_after_commit = strcmp(colon + 1, "commit") == 0;
	log_warn("rotation crash hook armed (KEYWARD_TEST_CRASH); "
	         "never in production");
	return 0;
}
#endif

int rotate_new(const rotate_host *host, rotate **ret_rotate)
{
	rotate *r = calloc(1, sizeof(*r));
	if (!r)
		return KW_ENOMEM;
	r->h = *host;
	r->dirty = true;
	if (oauth_new(host, &r->oauth) < 0) {
		free(r);
		return KW_ENOMEM;
	}
#if KW_TEST_HOOKS
	int rr = crash_hook_init(r);
	if (rr < 0) {
		oauth_free(r->oauth);
		free(r);
		return rr;
	}
#endif
	if (rotate_store(r))
		kill_all_left_over(r);
	*ret_rotate = r;
	return 0;
}

void rotate_job_free(struct rot_job *j)
{
	kw_wipefree(j->value);
	free(j);
}

void rotate_free(rotate *r)
{
	if (!r)
		return;
	while (r->jobs) {
		struct rot_job *j = r->jobs;
		r->jobs = j->next;
		r->njobs--;
		if (j->cmd)
			rotcmd_cancel(j->cmd);
		if (j->wh)
			webhook_cancel(j->wh);
		rotate_job_free(j);
	}
	oauth_free(r->oauth); /* before the client its jobs are on */
	httpc_free(r->webhooks);
	free(r->settling);
	free(r->notices);
	free(r);
}

/* keyward-net's launcher (netclient.h): the command spawner. */
static int net_launch(void *ctx, const char *path, int *ret_fd, pid_t *ret_pid,
                      char *why, size_t whysz)
{
	return spawn_net_start(ctx, path, ret_fd, ret_pid, why, whysz);
}

static int net_stop(void *ctx, pid_t pid, int *ret_code, int *ret_status)
{
	return spawn_net_stop(ctx, pid, ret_code, ret_status);
}

httpc *rotate_net_start(loop *l, spawn_client *sp, char *why, size_t whysz)
{
	const netclient_launcher launch = { .ctx = sp,
		                            .start = net_launch,
		                            .stop = net_stop };
	char path[PATH_MAX];
	httpc *w = NULL;
	int rr = netclient_helper_path(path, sizeof(path));

	why[0] = '\0';
	if (rr < 0)
		snprintf(why, whysz,
		         "keyward-net (the HTTP helper) is not installed "
		         "beside keywardd");
	else if ((rr = httpc_new(l, path, &launch, &w)) < 0)
		snprintf(why, whysz,
		         "keyward-net (the HTTP helper) cannot be started: %s",
		         kw_strerror(rr));
	if (rr < 0)
		log_error("%s; webhook rotation steps will fail", why);
	return w;
}

void rotate_take_net(rotate *r, httpc *w, const char *why)
{
	oauth_unload(r->oauth); /* its requests were on the old client */
	httpc_free(r->webhooks);
	r->webhooks = w;
	snprintf(r->net_why, sizeof(r->net_why), "%s",
	         w             ? "" :
	         why && why[0] ? why :
	                         "keyward-net is not running");
	oauth_set_net(r->oauth, w, why);
}

bool rotate_ready(const rotate *r)
{
	return r && r->ready && rotate_dk(r);
}

void rotate_changed(rotate *r)
{
	if (r)
		r->dirty = true;
}

static bool settling_has(const rotate *r, const char *id)
{
	for (uint32_t i = 0; i < r->nsettling; i++) {
		if (strcmp(r->settling[i], id) == 0)
			return true;
	}
	return false;
}

static bool in_flight(const rotate *r, const char *id)
{
	for (const struct rot_job *j = r->jobs; j; j = j->next) {
		if (strcmp(j->id, id) == 0)
			return true;
	}
	return false;
}

/* The run id was written in the open batch: it waits for the commit. */
void rotate_settling_add(rotate *r, const char *id)
{
	if (settling_has(r, id))
		return;
	if (r->nsettling == r->settling_cap) {
		uint32_t cap = r->settling_cap ? r->settling_cap * 2 : 64;
		void *n = realloc(r->settling, cap * sizeof(*r->settling));
		if (!n) {
			rotate_batch_fail(r, KW_ENOMEM);
			return;
		}
		r->settling = n;
		r->settling_cap = cap;
	}
	snprintf(r->settling[r->nsettling++], ROTATION_ID_LEN + 1, "%s", id);
}

oauth *rotate_oauth(rotate *r)
{
	return r ? r->oauth : NULL;
}

void rotate_settled(rotate *r, bool committed)
{
	if (!r)
		return;
	oauth_settled(r->oauth, committed);
	bool had = r->nsettling > 0 || r->nnotices > 0;
	r->nsettling = 0;
	if (committed) {
		for (uint32_t i = 0; i < r->nnotices; i++) {
			const struct rot_notice *n = &r->notices[i];
			r->h.rotated(r->h.ctx, n->name, n->version, n->previous,
			             n->id);
		}
#if KW_TEST_HOOKS
		if (r->crash_armed) {
			log_warn("KEYWARD_TEST_CRASH: dying after the commit "
			         "of step %s",
			         r->crash_step);
			raise(SIGKILL);
		}
#endif
	}
#if KW_TEST_HOOKS
	r->crash_armed = false;
#endif
	r->nnotices = 0;
	if (had) {
		/* The next step of what just committed can go at once. */
		r->dirty = true;
		r->ready = committed;
	}
}

#if KW_TEST_HOOKS
/* KEYWARD_TEST_CRASH: the step's work is done, its batch not committed. */
void rotate_crash_point(rotate *r, const char *step)
{
	if (!r->crash_step[0] || strcmp(r->crash_step, step) != 0)
		return;
	if (r->crash_after_commit) {
		r->crash_armed = true;
		return;
	}
	log_warn("KEYWARD_TEST_CRASH: dying inside step %s, before its commit",
	         step);
	raise(SIGKILL);
}
#endif

/* One audit row of the engine. Fails the batch if it cannot be written:
 * what it records must not commit without it. */
void rotate_audit(rotate *r, const char *op, const char *name, uint64_t version,
                  int outcome, const char *fmt, ...)
{
	char reason[AUDIT_REASON_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	audit_event ev = {
		.uid = geteuid(),
		.pid = getpid(),
		.op = op,
		.name = name,
		.version = version,
		.outcome = outcome,
		.reason = reason,
	};
	int ar = r->h.audit(r->h.ctx, &ev);
	if (ar < 0)
		rotate_batch_fail(r, ar);
}

uint64_t rotate_rnd64(void)
{
	uint64_t v;
	randombytes_buf(&v, sizeof(v));
	return v;
}

static sched_spec spec_of(const store_schedule *sc)
{
	return (sched_spec){
		.every = sc->every,
		.window = sc->window,
		.window_start = sc->window_start,
		.window_end = sc->window_end,
		.jitter = sc->jitter,
	};
}

static int new_run(rotate *r, const store_schedule *sc, const char *trigger,
                   int64_t now, store_rotation *ret)
{
	store_rotation *ro = ret;
	uint8_t raw[ROTATION_ID_LEN / 2];

	memset(ro, 0, sizeof(*ro));
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(ro->id, sizeof(ro->id), raw, sizeof(raw));
	snprintf(ro->name, sizeof(ro->name), "%s", sc->name);
	snprintf(ro->trigger, sizeof(ro->trigger), "%s", trigger);
	snprintf(ro->rotator, sizeof(ro->rotator), "%s", sc->rotator);
	snprintf(ro->generate, sizeof(ro->generate), "%s", sc->generate);
	snprintf(ro->hmac_secret, sizeof(ro->hmac_secret), "%s",
	         sc->hmac_secret);
	ro->flags = sc->flags;
	ro->overlap = sc->overlap;
	snprintf(ro->step, sizeof(ro->step), "create");
	ro->next_try = now;
	ro->started = now;
	int rr = store_rotation_insert(rotate_store(r), ro);
	if (rr == 0)
		rr = store_rotation_prune(rotate_store(r), sc->name,
		                          HISTORY_KEEP);
	if (rr < 0)
		return rr;
	rotate_settling_add(r, ro->id);
	const char *kind = strncmp(sc->rotator, "random:", 7) == 0 ? "random" :
	                   strncmp(sc->rotator, "command:", 8) == 0 ?
	                                                             "command" :
	                                                             "webhook";
	/* The kind only: a webhook URL may carry a token of its own. */
	rotate_audit(r, "rotate.begin", sc->name, 0, AUDIT_OK,
	             "rotation %s (%s, %s rotator)", ro->id, trigger, kind);
	log_info("rotation %s of %s started (%s)", ro->id, sc->name, trigger);
	return 0;
}

int rotate_start(rotate *r, const char *name, char ret_id[ROTATION_ID_LEN + 1],
                 bool *ret_started)
{
	store_schedule sc;
	store_rotation ro;
	int rr = store_schedule_get(rotate_store(r), name, &sc);
	if (rr < 0)
		return rr;
	rr = store_rotation_active(rotate_store(r), name, &ro);
	if (rr == 0) {
		memcpy(ret_id, ro.id, ROTATION_ID_LEN + 1);
		*ret_started = false;
		return 0;
	}
	if (rr != KW_ENOTFOUND)
		return rr;
	rr = new_run(r, &sc, "manual", clock_now(), &ro);
	if (rr < 0)
		return rr;
	r->dirty = true;
	memcpy(ret_id, ro.id, ROTATION_ID_LEN + 1);
	*ret_started = true;
	return 0;
}

struct collect_sched {
	store_schedule *v;
	uint32_t n;
};

static int collect_schedule(const store_schedule *sc, void *arg)
{
	struct collect_sched *c = arg;
	c->v[c->n++] = *sc;
	return 0;
}

struct collect_runs {
	store_rotation *v;
	uint32_t n;
};

static int collect_run(const store_rotation *ro, void *arg)
{
	struct collect_runs *c = arg;
	c->v[c->n++] = *ro;
	return 0;
}

/* Start the runs of due schedules; respread the ones missed. */
static int tick_schedules(rotate *r, int64_t now, bool *ret_more)
{
	struct collect_sched c = { calloc(TICK_SCHEDULES, sizeof(*c.v)), 0 };
	if (!c.v)
		return KW_ENOMEM;
	int rr = store_schedule_due(rotate_store(r), now, TICK_SCHEDULES,
	                            collect_schedule, &c);
	*ret_more = c.n == TICK_SCHEDULES;
	for (uint32_t i = 0; rr == 0 && i < c.n; i++) {
		store_schedule *sc = &c.v[i];
		sched_spec spec = spec_of(sc);
		if (now - sc->next_run > LATE_GRACE) {
			/* Missed while down: run once, spread by jitter. */
			int64_t at = sched_at(&spec, now, rotate_rnd64());
			if (at > now) {
				rr = store_schedule_set_next(rotate_store(r),
				                             sc->name, at);
				log_info("schedule of %s was missed; runs "
				         "once at %lld",
				         sc->name, (long long)at);
				continue;
			}
		}
		store_rotation ro;
		rr = new_run(r, sc, "schedule", now, &ro);
		if (rr == KW_EEXIST) {
			log_info("schedule of %s is due but a run is still "
			         "active; skipped",
			         sc->name);
			rr = 0;
		}
		if (rr == 0)
			rr = store_schedule_set_next(
				rotate_store(r), sc->name,
				sched_next(&spec, now, rotate_rnd64()));
	}
	free(c.v);
	return rr;
}

/* Would ro's step start an outside job (a command or webhook)? */
static bool needs_job(const store_rotation *ro)
{
	return strncmp(ro->rotator, "random:", 7) != 0 &&
	       (strcmp(ro->step, "set") == 0 || strcmp(ro->step, "test") == 0);
}

static int tick_runs(rotate *r, int64_t now, bool *ret_more)
{
	/* Runs waiting on a job or a commit are due but idle: look past
	 * them, or enough of them would hide every other due run. */
	uint32_t limit = TICK_RUNS + r->njobs + r->nsettling;
	struct collect_runs c = { calloc(limit, sizeof(*c.v)), 0 };
	if (!c.v)
		return KW_ENOMEM;
	int rr = store_rotation_due(rotate_store(r), now, limit, collect_run,
	                            &c);
	uint32_t ran = 0;
	for (uint32_t i = 0; rr == 0 && i < c.n && ran < TICK_RUNS; i++) {
		store_rotation *ro = &c.v[i];
		if (settling_has(r, ro->id) || in_flight(r, ro->id) ||
		    (r->njobs >= JOBS_MAX && needs_job(ro)))
			continue;
		rotate_run_step(r, ro, now);
		ran++;
	}
	/* A full slice may leave more due; only progress is worth an
	 * immediate next turn (idle runs would keep the loop spinning). */
	*ret_more = ran == TICK_RUNS;
	free(c.v);
	return rr;
}

static int retired(const char *name, uint64_t version, void *arg)
{
	rotate_audit(arg, "rotate.retire", name, version, AUDIT_OK,
	             "overlap ended: version %llu retired",
	             (unsigned long long)version);
	return 0;
}

void rotate_checks(const rotate *r, uint64_t *ret_count, int64_t *ret_at)
{
	*ret_count = r ? r->checks : 0;
	*ret_at = r ? r->checked_at : 0;
}

void rotate_tick(rotate *r)
{
	if (!r)
		return;
	oauth_tick(r->oauth);
	if (!rotate_dk(r) || *r->h.stopping)
		return;
	int64_t now = clock_now();
	if (!r->dirty && !r->ready && now < r->next_due) {
		r->checks++;
		r->checked_at = now;
		return;
	}
	if (rotate_batch(r) < 0)
		return;
	bool more_sched = false, more_runs = false;
	r->dirty = false;
	r->ready = false;
	int rr = tick_schedules(r, now, &more_sched);
	if (rr == 0)
		rr = tick_runs(r, now, &more_runs);
	if (rr == 0)
		rr = store_retire_due(rotate_store(r), now, TICK_RETIRE,
		                      retired, r);
	if (rr < 0) {
		log_error("rotation work failed: %s", kw_strerror(rr));
		rotate_batch_fail(r, rr);
		r->next_due = now + 1;
		return;
	}
	r->ready = more_sched || more_runs;
	if (!r->ready) {
		/* Only a look that left nothing due at now is complete. */
		r->checks++;
		r->checked_at = now;
	}
	int64_t due;
	rr = store_rotation_next_due(rotate_store(r), &due);
	if (rr == KW_ENOTFOUND)
		due = INT64_MAX;
	else if (rr < 0 || due <= now)
		due = now + 1; /* in flight, or waiting for a commit */
	r->next_due = due;
}
