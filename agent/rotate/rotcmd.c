/*
 * rotcmd.c - see rotcmd.h.
 *
 * The command itself is started, signalled and reaped by the spawner
 * (spawn_client.h); this side owns the pipes, the timeout and the verdict.
 * Everything that can fail is set up before the spawner is asked, the
 * timeout timer armed included. What happens after (the spawner's
 * refusal, the command's end) is reported from the timer, re-armed to
 * fire at once: done is only ever called from a loop callback.
 */
#include "rotcmd.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keyward.h"
#include "log.h"
#include "secmem.h"
#include "spawn_msg.h"

#define ROTCMD_KILL_DELAY_MS 2000
/* RLIMIT_CPU of a command, in timeouts: a command may use more than one
 * core, but one that escaped its group and spins still ends. */
#define ROTCMD_CPU_TIMEOUTS 4u

enum rotcmd_phase {
	ROTCMD_RUNNING,
	ROTCMD_TERM_SENT, /* timed out: SIGKILL follows */
	ROTCMD_KILL_SENT,
	ROTCMD_UNSTARTED, /* the spawner did not start it: why says why */
};

struct rotcmd {
	loop *l;
	spawn_client *sp;
	rotjob_done done;
	void *arg;
	int timeout_ms;
	enum rotcmd_phase phase;
	char why[ROTJOB_DETAIL_MAX]; /* ROTCMD_UNSTARTED */

	uint32_t id; /* the spawner's; valid once started */
	bool started, ended;
	spawn_exit ex; /* once ended */

	unsigned char *input; /* wiped copy; NULL once written or abandoned */
	size_t input_len, input_off;
	char *out; /* the first ROTCMD_OUTPUT_MAX bytes of output */
	size_t out_len;

	int in_fd, out_fd, timer_fd;
	loop_watch in_w, out_w, timer_w;

	bool group_known;
	procgroup group;
};

static int pipe_for_child(int *ret_read, int *ret_write, bool parent_reads)
{
	int fds[2];

	if (pipe2(fds, O_CLOEXEC) != 0)
		return KW_EIO;
	int mine = parent_reads ? fds[0] : fds[1];
	int fl = fcntl(mine, F_GETFL);
	if (fl < 0 || fcntl(mine, F_SETFL, fl | O_NONBLOCK) != 0) {
		close(fds[0]);
		close(fds[1]);
		return KW_EIO;
	}
	*ret_read = fds[0];
	*ret_write = fds[1];
	return 0;
}

static int timer_arm(rotcmd *job, int ms)
{
	struct itimerspec its = {
		.it_value = { .tv_sec = ms / 1000,
		              .tv_nsec = (long)(ms % 1000) * 1000000L },
	};

	if (ms == 0)
		its.it_value.tv_nsec = 1; /* zero would disarm it */
	return timerfd_settime(job->timer_fd, 0, &its, NULL) == 0 ? 0 : KW_EIO;
}

static void close_fd(rotcmd *job, loop_watch *w, int *fd)
{
	loop_del(job->l, w);
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void stdin_done(rotcmd *job)
{
	close_fd(job, &job->in_w, &job->in_fd);
	kw_wipefree(job->input);
	job->input = NULL;
}

static void rotcmd_free(rotcmd *job)
{
	stdin_done(job);
	close_fd(job, &job->out_w, &job->out_fd);
	close_fd(job, &job->timer_w, &job->timer_fd);
	kw_wipefree(job->out);
	free(job);
}

static void detail_append(char d[static ROTJOB_DETAIL_MAX], const char *s,
                          size_t n)
{
	size_t len = strlen(d);
	const char *nl = memchr(s, '\n', n);

	if (nl)
		n = (size_t)(nl - s);
	if (n > 0 && s[n - 1] == '\r')
		n--;
	for (size_t i = 0; i < n && len + 1 < ROTJOB_DETAIL_MAX; i++) {
		unsigned char c = (unsigned char)s[i];
		d[len++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	d[len] = '\0';
}

void rotcmd_detail(const char *head, const char *out, size_t out_len,
                   char ret_detail[static ROTJOB_DETAIL_MAX])
{
	size_t first = 0;

	ret_detail[0] = '\0';
	detail_append(ret_detail, head, strlen(head));
	while (first < out_len && out[first] == '\n')
		first++;
	if (first < out_len) {
		detail_append(ret_detail, ": ", 2);
		detail_append(ret_detail, out + first, out_len - first);
	}
}

/* Report and free. The job is gone before done runs, so done may start
 * another job or stop the agent. */
static void rotcmd_finish(rotcmd *job, int result, const char *head,
                          bool with_output)
{
	char detail[ROTJOB_DETAIL_MAX];
	rotjob_done done = job->done;
	void *arg = job->arg;

	rotcmd_detail(head, job->out, with_output ? job->out_len : 0, detail);
	rotcmd_free(job);
	done(arg, result, detail);
	sodium_memzero(detail, sizeof(detail));
}

static void output_pump(rotcmd *job, bool at_exit)
{
	char scratch[4096];

	while (job->out_fd >= 0) {
		ssize_t n;
		bool keep = job->out_len < ROTCMD_OUTPUT_MAX;
		if (keep) {
			n = read(job->out_fd, job->out + job->out_len,
			         ROTCMD_OUTPUT_MAX - job->out_len);
		} else {
			if (at_exit)
				return;
			n = read(job->out_fd, scratch, sizeof(scratch));
			if (n > 0)
				sodium_memzero(scratch, (size_t)n);
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			close_fd(job, &job->out_w, &job->out_fd);
			return;
		}
		if (keep)
			job->out_len += (size_t)n;
		if (!at_exit)
			return;
	}
}

static void on_output(loop_watch *w, uint32_t events)
{
	(void)events;
	output_pump(w->owner, false);
}

static void on_stdin(loop_watch *w, uint32_t events)
{
	rotcmd *job = w->owner;

	(void)events;
	while (job->input_off < job->input_len) {
		ssize_t n = write(job->in_fd, job->input + job->input_off,
		                  job->input_len - job->input_off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		/* EPIPE: the command closed its stdin. Not a failure in
		 * itself: a command need not read its input. */
		if (n <= 0)
			break;
		job->input_off += (size_t)n;
	}
	stdin_done(job);
}

/* The spawner died while the command ran. Its keeper kills its group;
 * whatever escaped that (the command killed the keeper) is ended here,
 * before the step can run again. */
static void rotcmd_lost(rotcmd *job)
{
	bool killed = false;
	int r = 0;

	if (job->group_known)
		r = procgroup_kill(&job->group, &killed);
	if (r < 0)
		log_warn("cannot end the group %lld of a command the spawner "
		         "ran: %s",
		         (long long)job->group.pgid, kw_strerror(r));
	rotcmd_finish(job, KW_EIO,
	              "the command spawner died while the command ran; the "
	              "command was killed",
	              false);
}

/* The command has ended (the spawner reaped it and killed its group). */
static void rotcmd_ended(rotcmd *job)
{
	const spawn_exit *ex = &job->ex;
	char head[ROTJOB_DETAIL_MAX];

	if (ex->lost) {
		rotcmd_lost(job);
		return;
	}
	if (job->phase != ROTCMD_RUNNING) {
		snprintf(head, sizeof(head), "timed out after %d ms",
		         job->timeout_ms);
		rotcmd_finish(job, KW_ETIMEOUT, head, false);
		return;
	}
	if (ex->step != SPAWN_STEP_NONE) {
		snprintf(head, sizeof(head), "could not run: %s: %s",
		         spawn_step_name(ex->step), strerror(ex->err));
		rotcmd_finish(job, KW_EIO, head, false);
		return;
	}
	output_pump(job, true);
	if (ex->code == CLD_EXITED) {
		snprintf(head, sizeof(head), "exit status %d", ex->status);
		rotcmd_finish(job, ex->status == 0 ? 0 : KW_ESTATE, head,
		              ex->status != 0);
	} else {
		snprintf(head, sizeof(head), "killed by signal %d", ex->status);
		rotcmd_finish(job, KW_ESTATE, head, false);
	}
}

/* From the spawner client: record, and let the timer report it. */
static void on_spawn_exit(void *arg, const spawn_exit *ex)
{
	rotcmd *job = arg;

	job->ended = true;
	job->ex = *ex;
	(void)timer_arm(job, 0);
}

static void rotcmd_signal(rotcmd *job, int sig)
{
	/* A spawner that cannot be told has died: its keeper kills the
	 * group, and the exit comes back as lost. */
	(void)spawn_signal(job->sp, job->id, sig);
}

static void on_timer(loop_watch *w, uint32_t events)
{
	rotcmd *job = w->owner;
	uint64_t ticks;

	(void)events;
	if (read(job->timer_fd, &ticks, sizeof(ticks)) !=
	    (ssize_t)sizeof(ticks))
		return;
	if (job->ended) {
		rotcmd_ended(job);
		return;
	}
	switch (job->phase) {
	case ROTCMD_RUNNING:
		job->phase = ROTCMD_TERM_SENT;
		/* Without the timer there is no second chance: kill now. */
		if (timer_arm(job, ROTCMD_KILL_DELAY_MS) != 0) {
			job->phase = ROTCMD_KILL_SENT;
			rotcmd_signal(job, SIGKILL);
		} else {
			rotcmd_signal(job, SIGTERM);
		}
		break;
	case ROTCMD_TERM_SENT:
		job->phase = ROTCMD_KILL_SENT;
		rotcmd_signal(job, SIGKILL);
		break;
	case ROTCMD_KILL_SENT:
		break;
	case ROTCMD_UNSTARTED:
		rotcmd_finish(job, KW_EIO, job->why, false);
		break;
	}
}

int rotcmd_group_of(const rotcmd *job, procgroup *ret)
{
	if (!job || !ret)
		return KW_EINVAL;
	if (!job->group_known)
		return KW_ENOTFOUND;
	*ret = job->group;
	return 0;
}

/* Ask the spawner; a refusal is reported from the timer, so that the step
 * fails with the reason. */
static void rotcmd_spawn(rotcmd *job, const char *path, int child_in,
                         int child_out)
{
	unsigned secs = (unsigned)(job->timeout_ms / 1000) + 1u;
	char why[ROTJOB_DETAIL_MAX - 32];
	spawn_info st;
	int r = spawn_command(job->sp, path, child_in, child_out,
	                      secs * ROTCMD_CPU_TIMEOUTS, on_spawn_exit, job,
	                      &st, why, sizeof(why));

	if (r < 0) {
		snprintf(job->why, sizeof(job->why),
		         "could not start the command: %s", why);
		job->phase = ROTCMD_UNSTARTED;
		stdin_done(job);
		(void)timer_arm(job, 0);
		return;
	}
	job->started = true;
	job->id = st.id;
	job->group_known = st.group_known;
	job->group = st.group;
}

int rotcmd_start(spawn_client *sp, loop *l, const char *path, const void *input,
                 size_t len, int timeout_ms, rotjob_done done, void *arg,
                 rotcmd **ret_job)
{
	int child_in = -1, child_out = -1;
	rotcmd *job;
	int r;

	if (!sp || !l || !path || path[0] != '/' ||
	    strlen(path) >= SPAWN_PATH_MAX || (!input && len > 0) ||
	    timeout_ms <= 0 || !done || !ret_job)
		return KW_EINVAL;
	job = calloc(1, sizeof(*job));
	if (!job)
		return KW_ENOMEM;
	*job = (rotcmd){
		.l = l,
		.sp = sp,
		.done = done,
		.arg = arg,
		.timeout_ms = timeout_ms,
		.input_len = len,
		.in_fd = -1,
		.out_fd = -1,
		.timer_fd = -1,
	};
	job->input = kw_wipealloc(len);
	job->out = kw_wipealloc(ROTCMD_OUTPUT_MAX);
	if (!job->input || !job->out) {
		r = KW_ENOMEM;
		goto fail;
	}
	if (len > 0)
		memcpy(job->input, input, len);
	if ((r = pipe_for_child(&child_in, &job->in_fd, false)) < 0 ||
	    (r = pipe_for_child(&job->out_fd, &child_out, true)) < 0)
		goto fail;
	job->timer_fd =
		timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (job->timer_fd < 0) {
		r = KW_EIO;
		goto fail;
	}
	if ((r = timer_arm(job, timeout_ms)) < 0 ||
	    (r = loop_add(l, &job->timer_w, job->timer_fd, EPOLLIN, on_timer,
	                  job)) < 0 ||
	    (r = loop_add(l, &job->out_w, job->out_fd, EPOLLIN, on_output,
	                  job)) < 0)
		goto fail;
	if (len == 0) {
		stdin_done(job);
	} else if ((r = loop_add(l, &job->in_w, job->in_fd, EPOLLOUT, on_stdin,
	                         job)) < 0) {
		goto fail;
	}
	rotcmd_spawn(job, path, child_in, child_out);
	close(child_in);
	close(child_out);
	*ret_job = job;
	return 0;

fail:
	if (child_in >= 0)
		close(child_in);
	if (child_out >= 0)
		close(child_out);
	rotcmd_free(job);
	return r;
}

void rotcmd_cancel(rotcmd *job)
{
	if (!job)
		return;
	if (job->started && !job->ended)
		spawn_forget(job->sp, job->id);
	rotcmd_free(job);
}
