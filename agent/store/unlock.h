/*
 * unlock.h - the key-derivation worker thread.
 *
 * Argon2id is deliberately slow, so it runs here and never on the event
 * loop. One job at a time: the loop submits a job, the worker derives keys
 * and (un)wraps, then signals the eventfd; the loop takes the finished job.
 * The job owns copies of the passphrases in wiped memory; unlock_job_free
 * wipes everything.
 */
#ifndef KW_UNLOCK_H
#define KW_UNLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"

enum unlock_kind {
	UNLOCK_JOB_UNLOCK = 1, /* pass + wrap -> ret_dk */
	UNLOCK_JOB_PASSWD = 2, /* (pass + wrap | dk) + new_pass -> new_wrap */
	UNLOCK_JOB_REKEY = 3,  /* pass + wrap (checked), dk -> new_wrap of dk
	                          under pass with a new salt */
};

typedef struct unlock_job {
	int kind;
	char *pass; /* kw_wipealloc, NUL-terminated; NULL if none */
	size_t passlen;
	char *new_pass;
	size_t new_passlen;
	wrapped_key wrap;  /* the wrap in force */
	kw_key *dk;        /* PASSWD from keyfile mode: a copy of the data key;
	                      REKEY: the new data key */
	uint64_t epoch;    /* the agent's lock_epoch at submission */
	uint64_t opslimit; /* for the new wrap */
	uint64_t memlimit;

	int rc;         /* result: 0 or KW_E* */
	kw_key *ret_dk; /* UNLOCK: the unwrapped data key */
	wrapped_key new_wrap;
} unlock_job;

typedef struct unlock_worker unlock_worker;

/* Start the thread; *ret_fd becomes readable when a job finishes. */
int unlock_worker_start(unlock_worker **ret_worker, int *ret_fd);
/* Hand over job (the worker owns it until taken). KW_EBUSY if one runs. */
int unlock_worker_submit(unlock_worker *w, unlock_job *job);
/* The finished job, or NULL if none has finished. Resets the eventfd. */
unlock_job *unlock_worker_take(unlock_worker *w);
/* Wait for a running job, stop the thread, free everything. NULL ok. */
void unlock_worker_stop(unlock_worker *w);
void unlock_job_free(unlock_job *job);

#endif
