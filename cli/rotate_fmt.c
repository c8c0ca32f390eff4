/*
 * rotate_fmt.c - the parts of `keyward schedule` and `keyward rotate` that
 * need no agent: checking the schedule and run objects the agent returns
 * (docs/protocol.md, schedule.list and rotate.status) and printing them.
 *
 * Every member printed is checked first (printable text, integers in
 * range), so nothing the agent sends reaches a terminal unchecked. Times
 * are shown in local time, with the agent's UTC form beside them where a
 * single time is the point of the output.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "duration.h"
#include "name.h"

/* Checking what the agent sends ------------------------------------------ */

/* Absent or null (*ret NULL), or printable text. */
static bool opt_text(const json_t *o, const char *key, const char **ret)
{
	const json_t *v = json_object_get(o, key);

	*ret = NULL;
	return !v || json_is_null(v) || kw_json_get_text(o, key, ret);
}

/* Absent or null (*ret 0), or an integer >= 1. */
static bool opt_version(const json_t *o, const char *key, uint64_t *ret)
{
	const json_t *v = json_object_get(o, key);

	*ret = 0;
	return !v || json_is_null(v) || kw_json_get_uint(o, key, 1, ret);
}

bool cli_json_name_valid(const json_t *o, const char *key)
{
	const char *name;

	return kw_json_get_text(o, key, &name) &&
	       kw_name_check(name, strlen(name), NULL) == 0;
}

/* A schedule object S (schedule.list, schedule.set, rotate.status). */
bool cli_sched_valid(const json_t *s)
{
	const char *t;
	uint64_t u;
	bool b;

	return json_is_object(s) && cli_json_name_valid(s, "name") &&
	       kw_json_get_uint(s, "every", 1, &u) &&
	       kw_json_get_uint(s, "jitter", 0, &u) &&
	       kw_json_get_uint(s, "overlap", 0, &u) &&
	       kw_json_get_text(s, "rotator", &t) &&
	       opt_text(s, "window", &t) && opt_text(s, "generate", &t) &&
	       opt_text(s, "hmac_secret", &t) &&
	       kw_json_get_text(s, "next_run", &t) &&
	       opt_text(s, "last_run", &t) && opt_text(s, "last_outcome", &t) &&
	       kw_json_get_bool(s, "running", &b);
}

/* A run R (rotate.status). */
static bool run_valid(const json_t *r)
{
	const char *t;
	uint64_t u;

	return json_is_object(r) && kw_json_get_text(r, "id", &t) &&
	       kw_json_get_text(r, "trigger", &t) &&
	       kw_json_get_text(r, "step", &t) &&
	       kw_json_get_uint(r, "attempts", 0, &u) &&
	       opt_text(r, "next_try", &t) &&
	       kw_json_get_uint(r, "pending_version", 0, &u) &&
	       kw_json_get_uint(r, "previous_version", 0, &u) &&
	       opt_version(r, "new_version", &u) &&
	       kw_json_get_text(r, "started", &t) &&
	       opt_text(r, "finished", &t) && opt_text(r, "error", &t);
}

/* rotate.status's result, for name. */
bool cli_rotate_status_valid(const json_t *res, const char *name)
{
	const json_t *s = json_object_get(res, "schedule");
	const json_t *run = json_object_get(res, "rotation");
	const json_t *hist = json_object_get(res, "history");
	const char *got;
	size_t i;
	json_t *e;

	if (!kw_json_get_text(res, "name", &got) || strcmp(got, name) != 0 ||
	    !s || !(json_is_null(s) || cli_sched_valid(s)) || !run ||
	    !(json_is_null(run) || run_valid(run)) || !json_is_array(hist))
		return false;
	json_array_foreach(hist, i, e)
	{
		if (!run_valid(e))
			return false;
	}
	return true;
}

const char *cli_json_text(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

uint64_t cli_json_uint(const json_t *o, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(o, key));

	return v > 0 ? (uint64_t)v : 0;
}

/* Printing --------------------------------------------------------------- */

/* A time from the agent in local time ("-" for NULL; as sent if it does
 * not parse). */
void cli_time_show(const char *utc, char buf[static CLI_TIME_LEN])
{
	int64_t us;

	if (!utc)
		snprintf(buf, CLI_TIME_LEN, "%s", "-");
	else if (cli_time_parse(utc, 0, &us) == 0)
		cli_time_local(us, buf);
	else
		snprintf(buf, CLI_TIME_LEN, "%s", utc);
}

/* "2026-12-02 03:17:00 (2026-12-02T02:17:00Z)": local, then UTC. */
void cli_print_time_both(const char *utc)
{
	char local[CLI_TIME_LEN];

	cli_time_show(utc, local);
	printf("%s (%s)", local, utc);
}

static void print_duration(uint64_t seconds)
{
	char d[32];

	if (kw_duration_format(seconds, d, sizeof(d)) < 0)
		snprintf(d, sizeof(d), "%llus", (unsigned long long)seconds);
	fputs(d, stdout);
}

/* "every 30d, window 02:00-04:00, jitter 1h, overlap 1d" */
void cli_print_sched_timing(const json_t *s)
{
	const char *window = cli_json_text(s, "window");

	fputs("every ", stdout);
	print_duration(cli_json_uint(s, "every"));
	if (window)
		printf(", window %s UTC", window);
	if (cli_json_uint(s, "jitter")) {
		fputs(", jitter ", stdout);
		print_duration(cli_json_uint(s, "jitter"));
	}
	fputs(", overlap ", stdout);
	print_duration(cli_json_uint(s, "overlap"));
}
