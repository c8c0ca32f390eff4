/*
 * store_rotation.h - rotation schedules and runs in the store (tables
 * schedules and rotations, migrations 4 and 6; docs/store.md,
 * docs/rotation.md).
 *
 * The rotation engine (rotate.h) is the only user. Every function runs in
 * the caller's open batch, or, outside one, as its own statement. Due work
 * is found through indexes on schedules.next_run and rotations.next_try, so
 * idle schedules cost nothing however many there are.
 */
#ifndef KW_STORE_ROTATION_H
#define KW_STORE_ROTATION_H

#include <stdbool.h>
#include <stdint.h>

#include "keyward.h"
#include "store.h"

/* Bytes of a stored rotator or generate spec (rotspec.h's ROTSPEC_MAX;
 * the rotation engine asserts they agree). */
#define STORE_ROTSPEC_MAX 1024u

/* schedules.flags and rotations.flags */
enum {
	SCHEDULE_ALLOW_PRIVATE = 1,
	SCHEDULE_ALLOW_INSECURE = 2,
};

typedef struct store_schedule {
	char name[KW_NAME_MAX + 1];
	uint64_t every, jitter, overlap; /* seconds */
	bool window;
	uint32_t window_start, window_end; /* seconds after midnight UTC */
	char rotator[STORE_ROTSPEC_MAX + 1];
	char generate[STORE_ROTSPEC_MAX + 1]; /* "" if none */
	char hmac_secret[KW_NAME_MAX + 1];    /* "" if none */
	uint32_t flags;
	int64_t created, next_run;
	int64_t last_run;     /* 0 if never */
	char last_outcome[8]; /* "ok", "failed" or "" */
} store_schedule;

/* Insert, or replace all but created/last_run/last_outcome. */
int store_schedule_put(store *s, const store_schedule *sc);
/* KW_ENOTFOUND if name has no schedule. */
int store_schedule_get(store *s, const char *name, store_schedule *ret);
int store_schedule_delete(store *s, const char *name);
/*
 * Schedules in name order: names > after (NULL/"": from the start) that
 * start with prefix (NULL/"": any), at most limit. cb's non-zero return
 * stops and is returned.
 */
int store_schedule_list(store *s, const char *after, const char *prefix,
                        uint32_t limit,
                        int (*cb)(const store_schedule *sc, void *arg),
                        void *arg);
/* Up to limit schedules with next_run <= now, earliest first. */
int store_schedule_due(store *s, int64_t now, uint32_t limit,
                       int (*cb)(const store_schedule *sc, void *arg),
                       void *arg);
int store_schedule_set_next(store *s, const char *name, int64_t next_run);
int store_schedule_outcome(store *s, const char *name, int64_t when,
                           const char *outcome);
int store_schedule_count(store *s, uint64_t *ret_count);

#define ROTATION_ID_LEN    32 /* hex of 16 random bytes */
#define ROTATION_ERROR_MAX 256

typedef struct store_rotation {
	char id[ROTATION_ID_LEN + 1];
	char name[KW_NAME_MAX + 1];
	char trigger[12]; /* "schedule" or "manual" */
	char rotator[STORE_ROTSPEC_MAX + 1];
	char generate[STORE_ROTSPEC_MAX + 1];
	char hmac_secret[KW_NAME_MAX + 1];
	uint32_t flags;
	uint64_t overlap;
	char step[8]; /* create set test finish done failed */
	uint32_t attempts;
	int64_t next_try; /* 0: not active (done or failed) */
	uint64_t pending_version, previous_version, new_version;
	int64_t started, finished; /* finished 0: not yet */
	char error[ROTATION_ERROR_MAX];
} store_rotation;

/* Insert a new run; KW_EEXIST if the secret already has an active one. */
int store_rotation_insert(store *s, const store_rotation *ro);
/* Write back step, attempts, next_try, versions, finished, error. */
int store_rotation_update(store *s, const store_rotation *ro);
int store_rotation_get(store *s, const char *id, store_rotation *ret);
/* The active run of name; KW_ENOTFOUND if none. */
int store_rotation_active(store *s, const char *name, store_rotation *ret);
/* Up to limit active runs with next_try <= now, earliest first. */
int store_rotation_due(store *s, int64_t now, uint32_t limit,
                       int (*cb)(const store_rotation *ro, void *arg),
                       void *arg);
/* Finished runs of name, newest first, at most limit. */
int store_rotation_history(store *s, const char *name, uint32_t limit,
                           int (*cb)(const store_rotation *ro, void *arg),
                           void *arg);
/* Delete finished runs of name beyond the newest keep. */
int store_rotation_prune(store *s, const char *name, uint32_t keep);

#define STORE_BOOT_ID_LEN 36

/*
 * The process group of the command a run's step started (procgroup.h),
 * kept with the run so that an agent that starts after one that died can
 * kill what is still running before it runs the step again.
 */
typedef struct store_rotation_group {
	char id[ROTATION_ID_LEN + 1]; /* the run */
	char name[KW_NAME_MAX + 1];   /* its secret (not written by _set_) */
	int64_t pgid, sid;
	uint64_t start; /* the leader's start, clock ticks after boot */
	char boot[STORE_BOOT_ID_LEN + 1];
} store_rotation_group;

/* Record g as run id's command group, or forget it (g NULL). KW_EINVAL
 * (g out of range), KW_ENOTFOUND (no such run). */
int store_rotation_set_group(store *s, const char *id,
                             const store_rotation_group *g);
/* Each active run that still names a command group, in id order. cb's
 * non-zero return stops and is returned. */
int store_rotation_groups(store *s,
                          int (*cb)(const store_rotation_group *g, void *arg),
                          void *arg);

/*
 * The earliest moment any rotation work is due: min of schedules.next_run,
 * active rotations' next_try and versions' retire_at. KW_ENOTFOUND if
 * nothing is pending at all.
 */
int store_rotation_next_due(store *s, int64_t *ret_when);

#endif
