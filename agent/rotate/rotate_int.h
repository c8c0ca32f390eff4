/*
 * rotate_int.h - what the rotation engine's files share, and nothing else
 * may use: its state and the helpers the step runners need. rotate.c
 * owns the engine (clock, hooks, ticks, batches); rotate_step.c runs one
 * step of one run.
 */
#ifndef KW_ROTATE_INT_H
#define KW_ROTATE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keyward.h"
#include "rotate.h"
#include "rotcmd.h"
#include "store_rotation.h"
#include "webhook.h"

/* Work done per tick, so a backlog never stalls the loop. */
#define TICK_SCHEDULES 32
#define TICK_RUNS      32
#define TICK_RETIRE    64
/* A schedule this late was missed while the agent was down or locked: it
 * is spread over its jitter (and window) instead of run at once. */
#define LATE_GRACE   60
#define HISTORY_KEEP 20
/* Outside steps (commands, webhooks) running at once, at most. */
#define JOBS_MAX 64

struct rot_job {
	struct rot_job *next;
	rotate *r;
	char id[ROTATION_ID_LEN + 1];
	char step[8];
	rotcmd *cmd;
	webhook_job *wh;
	bool group_saved; /* the run's row names cmd's process group */
	uint8_t *value;   /* kw_wipealloc: to keep it out of the detail */
	size_t len;
};

struct rot_notice {
	char name[KW_NAME_MAX + 1];
	char id[ROTATION_ID_LEN + 1];
	uint64_t version, previous;
};

struct rotate {
	rotate_host h;
#if KW_TEST_HOOKS
	char crash_step[8]; /* KEYWARD_TEST_CRASH, "" if unset */
	bool crash_after_commit;
	bool crash_armed; /* the crash step was recorded in this batch */
#endif

	bool dirty;       /* look at the store on the next tick */
	bool ready;       /* more work is due right now */
	int64_t next_due; /* clock_now() time of the next work */
	uint64_t checks;  /* rotate_checks() */
	int64_t checked_at;

	/* Runs written in the open batch: their next step waits for its
	 * commit. */
	char (*settling)[ROTATION_ID_LEN + 1];
	uint32_t nsettling, settling_cap;
	struct rot_notice *notices;
	uint32_t nnotices, notices_cap;

	struct rot_job *jobs;
	uint32_t njobs;
	httpc *webhooks; /* rotate_take_net; NULL if it failed */
	oauth *oauth;    /* managed OAuth credentials (oauthcred.h) */
	char net_why[ROTJOB_DETAIL_MAX]; /* why it failed */
};

/* The host's state and operations (rotate_host), for the engine's files. */
static inline store *rotate_store(const rotate *r)
{
	return *r->h.st;
}
static inline kw_key *rotate_dk(const rotate *r)
{
	return *r->h.dk;
}
static inline int rotate_batch(rotate *r)
{
	return r->h.batch(r->h.ctx);
}
static inline void rotate_batch_fail(rotate *r, int err)
{
	r->h.batch_fail(r->h.ctx, err);
}

/* A run's row was written in the open batch: it waits for the commit.
 * If that cannot be tracked the batch is failed, so nothing runs ahead
 * of an uncommitted step. */
void rotate_settling_add(rotate *r, const char *id);
#if KW_TEST_HOOKS
/* KEYWARD_TEST_CRASH: step's work is done, its batch not committed. */
void rotate_crash_point(rotate *r, const char *step);
#else
static inline void rotate_crash_point(rotate *r, const char *step)
{
	(void)r;
	(void)step;
}
#endif
/* One audit row of the engine; fails the batch if it cannot be written
 * (what it records must not commit without it). */
void rotate_audit(rotate *r, const char *op, const char *name, uint64_t version,
                  int outcome, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
uint64_t rotate_rnd64(void);
void rotate_job_free(struct rot_job *j);

/* rotate_step.c: run the step ro is at (its row is due and idle). */
void rotate_run_step(rotate *r, store_rotation *ro, int64_t now);
/*
 * Does detail (what a rotator printed, cut to fit; NUL-terminated) quote
 * any part of the value v (len bytes): 8 or more consecutive characters
 * (all of them if the value is shorter) of its printable bytes, its base64
 * (either alphabet) or its hex (either case)? Cut-off pieces count, so a
 * value printed near the end of the kept text is caught too. True also
 * when memory for the check is lacking: the caller then withholds detail.
 */
bool rotate_quotes_value(const char *detail, const uint8_t *v, size_t len);

#endif
