/*
 * rotate.h - the rotation engine (docs/rotation.md).
 *
 * Schedules (store_rotation.h) say when a secret rotates and how; each run
 * is a persisted state machine
 *
 *     create -> set -> test -> finish -> done      (or -> failed)
 *
 * whose row names the next step to run. A step's effect and the row's move
 * to the next step are written in the same batch (with the step's audit
 * row), and the next step runs only once that batch has committed, so after
 * a crash at any point the run resumes at the first step not committed. A
 * step that talks to the outside (set and test of command: and webhook:
 * rotators) may then run twice; the rotation id it receives lets it be
 * idempotent. A failing step is retried with exponential backoff and
 * jitter, and after [rotation] max_attempts the run fails: the current
 * version is untouched and the pending one stays until the next run.
 *
 * Finish makes the pending version current and the current one previous
 * until the schedule's overlap has passed, then retired; watchers
 * (secret.watch) are told once the batch holding the finish commits.
 *
 * Time: schedules and runs follow clock_now() (clock.h), which test builds
 * let the tests move (docs/rotation.md, "Testing hooks").
 *
 * Event-loop thread only. Work happens only while the agent is unlocked.
 */
#ifndef KW_ROTATE_H
#define KW_ROTATE_H

#include <stdbool.h>
#include <stdint.h>

#include "audit.h"
#include "config.h"
#include "crypto.h"
#include "loop.h"
#include "spawn_client.h"
#include "store_rotation.h"

typedef struct rotate rotate;
typedef struct oauth oauth;
typedef struct loop loop;
typedef struct httpc httpc;

/*
 * What the engine needs of the program that runs it (keywardd's agent):
 * given to rotate_new, which copies the table. The pointed-to fields are
 * the host's and read at each use: the store handle is replaced when the
 * store is recovered, the data key is NULL while locked. Every operation
 * gets ctx back.
 */
typedef struct rotate_host {
	void *ctx;
	store *const *st;
	kw_key *const *dk;
	const kw_config *cfg;
	loop *loop;
	spawn_client *spawn;  /* runs the command rotators (spawn_client.h) */
	const bool *stopping; /* the host is shutting down: start nothing */
	/* Open the loop turn's batch if needed (0 or KW_E*); make the turn
	 * roll it back with err. */
	int (*batch)(void *ctx);
	void (*batch_fail)(void *ctx, int err);
	/* Record an event in the audit log, in the open batch. */
	int (*audit)(void *ctx, const audit_event *ev);
	/* A rotation of name committed (tell its watchers). */
	void (*rotated)(void *ctx, const char *name, uint64_t version,
	                uint64_t previous, const char *rotation_id);
	/* The OAuth credential name needs a new login (oauthcred.h): its
	 * refresh token was refused; committed. NULL: nobody to tell. */
	void (*reauth)(void *ctx, const char *name);
} rotate_host;

/* Read the crash hook from the environment (test builds only); kill what
 * the commands of an agent that died left running, before any step can run
 * again (procgroup_kill: blocks while they die, at most 2 s a group). */
int rotate_new(const rotate_host *host, rotate **ret_rotate);
/* Start keyward-net (webhook.h), the HTTP helper of webhook steps, on l
 * through the command spawner sp (it forks and execs the helper, now and
 * at every restart); keywardd does it before it confines itself. NULL if
 * it cannot be started: that is logged, and why (whysz > 0) says it. */
httpc *rotate_net_start(loop *l, spawn_client *sp, char *why, size_t whysz);
/* Give r the helper rotate_net_start made (r frees it), or NULL with why
 * webhook steps then fail. */
void rotate_take_net(rotate *r, httpc *w, const char *why);
/* Cancel steps in flight (they rerun after the next start) and free. */
void rotate_free(rotate *r);
/* The managed OAuth credentials (oauthcred.h), which r ticks and tells of
 * commits. Never NULL once rotate_new succeeded. */
oauth *rotate_oauth(rotate *r);

/*
 * Do the rotation work that is due, a bounded amount per call, inside the
 * agent's open batch. Cheap when nothing is due (no query).
 */
void rotate_tick(rotate *r);
/*
 * How many times the engine has looked for due work since start and
 * done all of it that was due (a tick that knew nothing was due counts; a
 * tick that failed, ran while locked or left more than a slice due does
 * not), and the clock_now() time of the latest (0 before the first).
 * Shown by agent.status, so that a client that moved the clock can wait
 * until that time has been looked at instead of sleeping.
 */
void rotate_checks(const rotate *r, uint64_t *ret_count, int64_t *ret_at);
/* More work can be done at once: the loop should not sleep. */
bool rotate_ready(const rotate *r);
/* The turn's batch committed (or rolled back): runs touched in it may go
 * on; watchers hear of committed finishes. */
void rotate_settled(rotate *r, bool committed);
/* Schedules changed outside the engine: look again for due work. */
void rotate_changed(rotate *r);

/*
 * Start a run of name now (rotate.start), in the open batch. A secret
 * without a schedule is KW_ENOTFOUND. If a run is already active, its id is
 * returned with *ret_started false.
 */
int rotate_start(rotate *r, const char *name, char ret_id[ROTATION_ID_LEN + 1],
                 bool *ret_started);

#endif
