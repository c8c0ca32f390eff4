/*
 * rotate_step.c - one step of one rotation run (rotate.h): create, set and
 * test through the rotator, finish, and what a failure or success of each
 * writes (docs/rotation.md).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "audit.h"
#include "clock.h"
#include "log.h"
#include "rotate_int.h"
#include "rotspec.h"
#include "secmem.h"
#include "wire.h"

_Static_assert(ROTSPEC_MAX == STORE_ROTSPEC_MAX,
               "a spec the parser accepts must fit the store's row");

#define BACKOFF_MAX 3600 /* seconds between tries, at most */
#define WRITTEN_DURING_RUN                                                   \
	"the secret was written during the rotation; the new value was not " \
	"pushed further or promoted"

static const char *next_step(const char *step)
{
	if (strcmp(step, "create") == 0)
		return "set";
	if (strcmp(step, "set") == 0)
		return "test";
	if (strcmp(step, "test") == 0)
		return "finish";
	return "done";
}

/* Record ro (already changed) in the batch and hold it until commit. */
static int save(rotate *r, const store_rotation *ro)
{
	int rr = store_rotation_update(rotate_store(r), ro);
	if (rr < 0) {
		log_error("rotation %s of %s: cannot record step %s: %s",
		          ro->id, ro->name, ro->step, kw_strerror(rr));
		rotate_batch_fail(r, rr);
		return rr;
	}
	rotate_settling_add(r, ro->id);
	return 0;
}

/* The step of ro failed (detail: why). Retry later, or fail the run. */
static void step_failed(rotate *r, store_rotation *ro, const char *detail,
                        bool permanent, int64_t now)
{
	const kw_config *cfg = r->h.cfg;
	char step[8];
	snprintf(step, sizeof(step), "%s", ro->step);
	ro->attempts++;
	snprintf(ro->error, sizeof(ro->error), "%s: %s", step, detail);
	if (permanent || ro->attempts >= cfg->rotation_max_attempts) {
		snprintf(ro->step, sizeof(ro->step), "failed");
		ro->next_try = 0;
		ro->finished = now;
		if (save(r, ro) < 0)
			return;
		int sr = store_schedule_outcome(rotate_store(r), ro->name, now,
		                                "failed");
		if (sr < 0 && sr != KW_ENOTFOUND)
			rotate_batch_fail(r, sr);
		log_warn("rotation %s of %s failed at %s after %u attempt(s): "
		         "%s",
		         ro->id, ro->name, step, ro->attempts, detail);
		rotate_audit(r, "rotate.fail", ro->name, ro->pending_version,
		             AUDIT_ERROR,
		             "rotation %s: %s failed after %u attempt(s): %s; "
		             "current version untouched",
		             ro->id, step, ro->attempts, detail);
		return;
	}
	/* Exponential backoff, +-25% jitter so retries do not align. */
	uint64_t delay = cfg->rotation_retry_seconds;
	for (uint32_t i = 1; i < ro->attempts && delay < BACKOFF_MAX; i++)
		delay *= 2;
	if (delay > BACKOFF_MAX)
		delay = BACKOFF_MAX;
	uint64_t spread = delay / 2;
	delay = delay - delay / 4 +
	        (spread ? rotate_rnd64() % (spread + 1) : 0);
	if (delay < 1)
		delay = 1;
	ro->next_try = now + (int64_t)delay;
	if (save(r, ro) < 0)
		return;
	log_info("rotation %s of %s: %s failed (attempt %u of %u), retry in "
	         "%llu s: %s",
	         ro->id, ro->name, step, ro->attempts,
	         cfg->rotation_max_attempts, (unsigned long long)delay, detail);
	rotate_audit(r, "rotate.retry", ro->name, ro->pending_version,
	             AUDIT_ERROR,
	             "rotation %s: %s failed (attempt %u of %u), retry in %llu "
	             "s: %s",
	             ro->id, step, ro->attempts, cfg->rotation_max_attempts,
	             (unsigned long long)delay, detail);
}

/* The step of ro succeeded: move to the next one. */
static void step_done(rotate *r, store_rotation *ro, const char *detail,
                      int64_t now)
{
	char step[8];
	snprintf(step, sizeof(step), "%s", ro->step);
	snprintf(ro->step, sizeof(ro->step), "%s", next_step(step));
	ro->attempts = 0;
	ro->error[0] = '\0';
	ro->next_try = strcmp(ro->step, "done") == 0 ? 0 : now;
	if (save(r, ro) < 0)
		return;
	char op[32];
	snprintf(op, sizeof(op), "rotate.%s", step);
	rotate_audit(r, op, ro->name, ro->pending_version, AUDIT_OK,
	             "rotation %s: %s", ro->id, detail);
	rotate_crash_point(r, step);
}

static void step_create(rotate *r, store_rotation *ro, int64_t now)
{
	rotspec spec;
	const char *why = NULL;
	const char *gen = ro->generate[0] ? ro->generate : ro->rotator;
	int rr = rotspec_parse(gen, strlen(gen), &spec, &why);
	if (rr == 0 && spec.kind != ROTSPEC_RANDOM) {
		rr = KW_EINVAL;
		why = "the generator must be a random: spec";
	}
	if (rr < 0) {
		step_failed(r, ro, why ? why : kw_strerror(rr), true, now);
		return;
	}
	uint8_t *value = NULL;
	size_t len = 0;
	uint64_t current = 0, version = 0;
	rr = rotspec_generate(&spec, &value, &len);
	if (rr == 0 && len > r->h.cfg->max_value_bytes)
		rr = KW_ETOOBIG;
	if (rr == 0)
		rr = store_current_version(rotate_store(r), ro->name, &current);
	if (rr == 0)
		rr = store_put_pending(rotate_store(r), rotate_dk(r), ro->name,
		                       value, len, now, &version);
	kw_wipefree(value);
	if (rr < 0) {
		step_failed(r, ro, kw_strerror(rr), false, now);
		return;
	}
	ro->pending_version = version;
	ro->previous_version = current;
	char detail[96];
	snprintf(detail, sizeof(detail), "version %llu created, pending",
	         (unsigned long long)version);
	step_done(r, ro, detail, now);
}

static void step_finish(rotate *r, store_rotation *ro, int64_t now)
{
	int64_t retire_at = now + (int64_t)ro->overlap;
	int rr = store_promote(rotate_store(r), ro->name, ro->pending_version,
	                       ro->previous_version, retire_at,
	                       r->h.cfg->max_versions, now);
	if (rr == KW_ESTATE) {
		step_failed(r, ro, WRITTEN_DURING_RUN, true, now);
		return;
	}
	if (rr == KW_ENOTFOUND) {
		step_failed(r, ro,
		            "the pending version is gone (secret deleted?)",
		            true, now);
		return;
	}
	if (rr < 0) {
		step_failed(r, ro, kw_strerror(rr), false, now);
		return;
	}
	ro->new_version = ro->pending_version;
	ro->finished = now;
	int sr = store_schedule_outcome(rotate_store(r), ro->name, now, "ok");
	if (sr < 0 && sr != KW_ENOTFOUND)
		rotate_batch_fail(r, sr);
	if (r->nnotices == r->notices_cap) {
		uint32_t cap = r->notices_cap ? r->notices_cap * 2 : 8;
		struct rot_notice *n = realloc(r->notices, cap * sizeof(*n));
		if (n) {
			r->notices = n;
			r->notices_cap = cap;
		}
	}
	if (r->nnotices < r->notices_cap) {
		struct rot_notice *n = &r->notices[r->nnotices++];
		snprintf(n->name, sizeof(n->name), "%s", ro->name);
		snprintf(n->id, sizeof(n->id), "%s", ro->id);
		n->version = ro->new_version;
		n->previous = ro->previous_version;
	}
	char detail[160];
	snprintf(detail, sizeof(detail),
	         "version %llu is current; version %llu previous until "
	         "overlap ends",
	         (unsigned long long)ro->new_version,
	         (unsigned long long)ro->previous_version);
	log_info("rotation %s of %s finished: version %llu current", ro->id,
	         ro->name, (unsigned long long)ro->new_version);
	step_done(r, ro, detail, now);
}

/* Does detail hold any window of `win` characters of enc (n chars)?
 * Windows with a '?' are skipped when skip_q: the runners print '?' for
 * bytes that are not printable, so those carry nothing of the value. */
static bool window_hit(const char *detail, size_t dlen, const char *enc,
                       size_t n, bool skip_q)
{
	size_t win = n < 8 ? n : 8;
	for (size_t i = 0; win > 0 && i + win <= n; i++) {
		if (skip_q && memchr(enc + i, '?', win))
			continue;
		if (memmem(detail, dlen, enc + i, win))
			return true;
	}
	return false;
}

bool rotate_quotes_value(const char *detail, const uint8_t *v, size_t len)
{
	size_t dlen = strlen(detail);
	size_t cap =
		sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
	if (cap < len * 2 + 1)
		cap = len * 2 + 1;
	char *enc = kw_wipealloc(cap);
	char *lower = kw_wipestrdup(detail);
	bool hit = true; /* without memory to check, withhold */
	if (!enc || !lower)
		goto out;
	for (size_t i = 0; i < dlen; i++) {
		if (lower[i] >= 'A' && lower[i] <= 'Z')
			lower[i] = (char)(lower[i] - 'A' + 'a');
	}
	for (size_t i = 0; i < len; i++)
		enc[i] = v[i] >= 0x20 && v[i] < 0x7f ? (char)v[i] : '?';
	hit = window_hit(detail, dlen, enc, len, true);
	static const int variants[] = {
		sodium_base64_VARIANT_ORIGINAL,
		sodium_base64_VARIANT_URLSAFE_NO_PADDING,
	};
	for (size_t k = 0; !hit && k < 2; k++) {
		sodium_bin2base64(enc, cap, v, len, variants[k]);
		hit = window_hit(detail, dlen, enc, strcspn(enc, "="), false);
	}
	if (!hit) {
		sodium_bin2hex(enc, cap, v, len);
		hit = window_hit(lower, dlen, enc, len * 2, false);
	}
out:
	kw_wipefree(enc);
	kw_wipefree_str(lower);
	return hit;
}

static struct rot_job *job_unlink(rotate *r, struct rot_job *j)
{
	for (struct rot_job **p = &r->jobs; *p; p = &(*p)->next) {
		if (*p == j) {
			*p = j->next;
			r->njobs--;
			break;
		}
	}
	return j;
}

/* A set or test step outside came back. */
static void job_done(void *arg, int result, const char *detail)
{
	struct rot_job *j = job_unlink(((struct rot_job *)arg)->r, arg);
	rotate *r = j->r;
	store_rotation ro;
	char safe[ROTJOB_DETAIL_MAX + 1];

	r->dirty = true;
	snprintf(safe, sizeof(safe), "%s", detail ? detail : "");
	if (rotate_quotes_value(safe, j->value, j->len))
		snprintf(safe, sizeof(safe),
		         "(output withheld: it contains the new value)");
	/* Locked meanwhile, or the run moved on: the step runs again. */
	if (!rotate_dk(r) || rotate_batch(r) < 0) {
		rotate_job_free(j);
		return;
	}
	/* Its group is gone: rotcmd killed what the command left. */
	if (j->group_saved) {
		int gr = store_rotation_set_group(rotate_store(r), j->id, NULL);
		if (gr < 0 && gr != KW_ENOTFOUND)
			log_warn("rotation %s: cannot forget its command's "
			         "process group: %s",
			         j->id, kw_strerror(gr));
	}
	if (store_rotation_get(rotate_store(r), j->id, &ro) < 0 ||
	    ro.next_try == 0 || strcmp(ro.step, j->step) != 0) {
		rotate_job_free(j);
		return;
	}
	int64_t now = clock_now();
	if (result == 0)
		step_done(r, &ro, safe[0] ? safe : "ok", now);
	else
		step_failed(r, &ro, safe[0] ? safe : kw_strerror(result), false,
		            now);
	rotate_job_free(j);
}

/* The JSON a command or webhook gets for a step. */
static char *step_input(const store_rotation *ro, const store_value *v,
                        size_t *ret_len)
{
	char *b64 = NULL;
	if (kw_b64_encode(v->value, v->len, &b64) < 0)
		return NULL;
	json_t *o =
		json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:I}", "step",
	                  ro->step, "name", ro->name, "rotation_id", ro->id,
	                  "version", (json_int_t)ro->pending_version,
	                  "previous_version", (json_int_t)ro->previous_version,
	                  "value", b64, "timestamp", (json_int_t)clock_wall());
	kw_wipefree_str(b64);
	if (!o)
		return NULL;
	char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (text)
		*ret_len = strlen(text);
	return text;
}

/* Keep the group of j's command with its run, so that an agent started
 * after this one died can end it (rotate_new). Without it that agent has
 * only the keeper and PR_SET_PDEATHSIG (rotcmd.h) to rely on: worth a
 * warning, not a failed step. */
static void save_group(rotate *r, struct rot_job *j)
{
	procgroup g;
	store_rotation_group sg = { .pgid = 0 };
	int rr = rotcmd_group_of(j->cmd, &g);

	if (rr == 0) {
		snprintf(sg.id, sizeof(sg.id), "%s", j->id);
		sg.pgid = g.pgid;
		sg.sid = g.sid;
		sg.start = g.start;
		memcpy(sg.boot, g.boot, sizeof(sg.boot));
		rr = store_rotation_set_group(rotate_store(r), j->id, &sg);
	}
	if (rr < 0)
		log_warn("rotation %s: cannot record its command's process "
		         "group: %s",
		         j->id, kw_strerror(rr));
	else
		j->group_saved = true;
}

/* set or test: nothing to do for random:, else start the outside step. */
static void step_external(rotate *r, store_rotation *ro, int64_t now)
{
	rotspec spec;
	const char *why = NULL;
	int rr = rotspec_parse(ro->rotator, strlen(ro->rotator), &spec, &why);
	if (rr < 0) {
		step_failed(r, ro, why ? why : "invalid rotator", true, now);
		return;
	}
	/* Someone wrote the secret since create: pushing our value upstream
	 * now would undo theirs there, so stop before the rotator runs. */
	uint64_t current = 0;
	rr = store_current_version(rotate_store(r), ro->name, &current);
	if (rr == 0 && current != ro->previous_version) {
		step_failed(r, ro, WRITTEN_DURING_RUN, true, now);
		return;
	}
	if (rr < 0) {
		step_failed(r, ro, kw_strerror(rr), false, now);
		return;
	}
	if (spec.kind == ROTSPEC_RANDOM) {
		step_done(r, ro, "nothing to push for a random: rotator", now);
		return;
	}
	store_value *v = NULL;
	rr = store_get(rotate_store(r), rotate_dk(r), ro->name,
	               ro->pending_version, NULL, &v);
	if (rr < 0) {
		step_failed(r, ro,
		            rr == KW_ENOTFOUND ? "the pending version is gone" :
		                                 kw_strerror(rr),
		            rr == KW_ENOTFOUND, now);
		return;
	}
	struct rot_job *j = calloc(1, sizeof(*j));
	size_t inlen = 0;
	char *input = j ? step_input(ro, v, &inlen) : NULL;
	if (j && input) {
		j->r = r;
		snprintf(j->id, sizeof(j->id), "%s", ro->id);
		snprintf(j->step, sizeof(j->step), "%s", ro->step);
		j->value = v->value;
		j->len = v->len;
		v->value = NULL;
	}
	store_value_free(v);
	if (!j || !input) {
		kw_wipefree_str(input);
		if (j)
			rotate_job_free(j);
		step_failed(r, ro, kw_strerror(KW_ENOMEM), false, now);
		return;
	}

	if (spec.kind == ROTSPEC_COMMAND) {
		rr = rotspec_check_command(spec.target, (unsigned)geteuid(),
		                           &why);
		if (rr == 0)
			rr = rotcmd_start(
				r->h.spawn, r->h.loop, spec.target, input,
				inlen,
				(int)r->h.cfg->rotation_command_timeout * 1000,
				job_done, j, &j->cmd);
	} else {
		store_value *key = NULL;
		if (!ro->hmac_secret[0]) {
			rr = KW_EINVAL;
			why = "the schedule names no hmac_secret";
		} else if ((rr = store_get(rotate_store(r), rotate_dk(r),
		                           ro->hmac_secret, 0, NULL, &key)) <
		           0) {
			why = "its hmac_secret cannot be read";
		} else if (key->len < 1 || key->len > 1024) {
			rr = KW_EINVAL;
			why = "its hmac_secret must be 1 to 1024 bytes";
		}
		if (rr == 0 && !r->webhooks) {
			rr = KW_EIO;
			why = r->net_why;
		}
		if (rr == 0) {
			webhook_request req = {
				.url = spec.target,
				.body = input,
				.body_len = inlen,
				.hmac_key = key->value,
				.hmac_key_len = key->len,
				.timestamp = clock_wall(),
				.allow_private =
					ro->flags & SCHEDULE_ALLOW_PRIVATE,
				.allow_insecure =
					ro->flags & SCHEDULE_ALLOW_INSECURE,
				.timeout_ms =
					(int)r->h.cfg
						->rotation_webhook_timeout *
					1000,
				.ca_file =
					r->h.cfg->rotation_webhook_ca_file[0] ?
						r->h.cfg->rotation_webhook_ca_file :
						NULL,
			};
			rr = webhook_start(r->webhooks, &req, job_done, j,
			                   &j->wh);
		}
		store_value_free(key);
	}
	kw_wipefree_str(input);
	if (rr < 0 && !why)
		why = kw_strerror(rr);
	if (rr < 0) {
		rotate_job_free(j);
		step_failed(r, ro, why, false, now);
		return;
	}
	if (j->cmd)
		save_group(r, j);
	j->next = r->jobs;
	r->jobs = j;
	r->njobs++;
	log_info("rotation %s of %s: %s step started", ro->id, ro->name,
	         ro->step);
}

void rotate_run_step(rotate *r, store_rotation *ro, int64_t now)
{
	if (strcmp(ro->step, "create") == 0)
		step_create(r, ro, now);
	else if (strcmp(ro->step, "set") == 0 || strcmp(ro->step, "test") == 0)
		step_external(r, ro, now);
	else if (strcmp(ro->step, "finish") == 0)
		step_finish(r, ro, now);
	else
		log_error("rotation %s of %s: unknown step; left alone", ro->id,
		          ro->name);
}
