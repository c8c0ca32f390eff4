/*
 * unlock.c - see unlock.h.
 */
#include "unlock.h"

#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "keyward.h"
#include "secmem.h"

struct unlock_worker {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unlock_job *todo; /* submitted, not started */
	unlock_job *busy; /* running */
	unlock_job *done; /* finished, not taken */
	bool quit;
	int efd;
};

static int unlock_do_unlock(unlock_job *j)
{
	kw_key *kek = NULL;
	int r = key_from_passphrase(j->pass, j->passlen, j->wrap.salt,
	                            j->wrap.opslimit, j->wrap.memlimit, &kek);
	if (r < 0)
		return r == KW_EINVAL ? KW_EBADPASS : r;
	r = key_unwrap(kek, &j->wrap, &j->ret_dk);
	key_free(kek);
	return r;
}

/* j->new_wrap: dk wrapped under Argon2id(pass) with a new salt and the
 * job's limits. */
static int unlock_wrap_new(unlock_job *j, kw_key *dk, const char *pass,
                           size_t passlen)
{
	kw_key *kek = NULL;
	wrapped_key w = { .mode = KEY_WRAP_PASSPHRASE,
		          .opslimit = j->opslimit,
		          .memlimit = j->memlimit };
	randombytes_buf(w.salt, sizeof(w.salt));
	int r = key_from_passphrase(pass, passlen, w.salt, w.opslimit,
	                            w.memlimit, &kek);
	if (r == 0)
		r = key_wrap(kek, dk, &w);
	key_free(kek);
	if (r == 0)
		j->new_wrap = w;
	sodium_memzero(&w, sizeof(w));
	return r;
}

static int unlock_do_passwd(unlock_job *j)
{
	kw_key *dk = j->dk;
	int r;

	if (j->wrap.mode == KEY_WRAP_PASSPHRASE) {
		/* Proves knowledge of the current passphrase. */
		r = unlock_do_unlock(j);
		if (r < 0)
			return r;
		dk = j->ret_dk;
	}
	if (!dk)
		return KW_ESTATE;
	r = unlock_wrap_new(j, dk, j->new_pass, j->new_passlen);
	/* The loop keeps its own data key; do not hand a second copy back. */
	key_free(j->ret_dk);
	j->ret_dk = NULL;
	return r;
}

/* The passphrase opens the wrap in force (so it is the store's); the new
 * data key j->dk is wrapped under it with a new salt. */
static int unlock_do_rekey(unlock_job *j)
{
	int r = unlock_do_unlock(j);
	key_free(j->ret_dk);
	j->ret_dk = NULL;
	if (r < 0)
		return r;
	if (!j->dk)
		return KW_ESTATE;
	return unlock_wrap_new(j, j->dk, j->pass, j->passlen);
}

static void *unlock_main(void *arg)
{
	unlock_worker *w = arg;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->todo && !w->quit)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->quit)
			break;
		unlock_job *j = w->todo;
		w->todo = NULL;
		w->busy = j;
		pthread_mutex_unlock(&w->mu);

		j->rc = j->kind == UNLOCK_JOB_UNLOCK ? unlock_do_unlock(j) :
		        j->kind == UNLOCK_JOB_REKEY  ? unlock_do_rekey(j) :
		                                       unlock_do_passwd(j);

		pthread_mutex_lock(&w->mu);
		w->busy = NULL;
		w->done = j;
		uint64_t one = 1;
		ssize_t n = write(w->efd, &one, sizeof(one));
		(void)n; /* an eventfd write of 1 cannot fail short of overflow
		          */
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

int unlock_worker_start(unlock_worker **ret_worker, int *ret_fd)
{
	unlock_worker *w = calloc(1, sizeof(*w));
	if (!w)
		return KW_ENOMEM;
	w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->efd < 0) {
		free(w);
		return KW_EIO;
	}
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	if (pthread_create(&w->thread, NULL, unlock_main, w) != 0) {
		close(w->efd);
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		free(w);
		return KW_EINTERNAL;
	}
	*ret_worker = w;
	*ret_fd = w->efd;
	return 0;
}

int unlock_worker_submit(unlock_worker *w, unlock_job *job)
{
	int r = 0;
	pthread_mutex_lock(&w->mu);
	if (w->todo || w->busy || w->done)
		r = KW_EBUSY;
	else
		w->todo = job;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return r;
}

unlock_job *unlock_worker_take(unlock_worker *w)
{
	uint64_t v;
	ssize_t n = read(w->efd, &v, sizeof(v));
	(void)n; /* EAGAIN just means nothing was signalled */
	pthread_mutex_lock(&w->mu);
	unlock_job *j = w->done;
	w->done = NULL;
	pthread_mutex_unlock(&w->mu);
	return j;
}

void unlock_worker_stop(unlock_worker *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->quit = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	unlock_job_free(w->todo);
	unlock_job_free(w->done);
	close(w->efd);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

void unlock_job_free(unlock_job *job)
{
	if (!job)
		return;
	kw_wipefree(job->pass);
	kw_wipefree(job->new_pass);
	key_free(job->dk);
	key_free(job->ret_dk);
	sodium_memzero(job, sizeof(*job));
	free(job);
}
