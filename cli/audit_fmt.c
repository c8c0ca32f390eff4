/*
 * audit_fmt.c - the parts of `keyward audit` that need no agent: reading
 * times from the command line and printing audit rows and counts as
 * aligned tables.
 *
 * Everything printed comes from the agent, so every string is printed
 * with non-printable bytes replaced (one for one, which keeps the widths
 * right) and every row is checked before any of it is printed.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define US_PER_S 1000000LL

/* Widths never grow past these, so one odd row cannot push every other
 * row off the screen; a longer value overflows its column instead. */
#define COL_PRINCIPAL_MAX 24
#define COL_OP_MAX        16
#define COL_NAME_MAX      48

/* Reason text is cut to this much when the terminal width is unknown. */
#define REASON_DEFAULT 60
#define REASON_MIN     10

/* n decimal digits at s: false unless all are digits. */
static bool digits(const char *s, size_t n, int *ret_value)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*ret_value = v;
	return true;
}

/* "90s", "15m", "1h", "2d", "1w" back from now_us. */
static int parse_duration(const char *s, int64_t now_us, int64_t *ret_us)
{
	static const struct {
		char unit;
		int64_t us;
	} units[] = {
		{ 's', US_PER_S },          { 'm', 60 * US_PER_S },
		{ 'h', 3600 * US_PER_S },   { 'd', 86400 * US_PER_S },
		{ 'w', 604800 * US_PER_S },
	};
	size_t len = strlen(s);
	uint64_t n = 0;

	/* Digits, checked one by one (strtoull accepts signs and spaces). */
	for (size_t i = 0; i + 1 < len; i++) {
		if (s[i] < '0' || s[i] > '9' || n > (uint64_t)INT64_MAX / 10)
			return KW_EINVAL;
		n = n * 10 + (uint64_t)(s[i] - '0');
	}
	if (len < 2)
		return KW_EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (s[len - 1] != units[i].unit)
			continue;
		/* Further back than 1970 means "from the start". */
		if (n > (uint64_t)(now_us / units[i].us))
			*ret_us = 0;
		else
			*ret_us = now_us - (int64_t)n * units[i].us;
		return 0;
	}
	return KW_EINVAL;
}

/* YYYY-MM-DD[THH:MM[:SS]][Z]: local time, or UTC with the Z. */
static int parse_absolute(const char *s, int64_t *ret_us)
{
	struct tm tm = { 0 }, want;
	size_t len = strlen(s);
	bool utc = len > 0 && s[len - 1] == 'Z';
	time_t t;

	if (utc)
		len--;
	if (len != 10 && len != 16 && len != 19)
		return KW_EINVAL;
	if (!digits(s, 4, &tm.tm_year) || s[4] != '-' ||
	    !digits(s + 5, 2, &tm.tm_mon) || s[7] != '-' ||
	    !digits(s + 8, 2, &tm.tm_mday))
		return KW_EINVAL;
	if (len >= 16 && (s[10] != 'T' || !digits(s + 11, 2, &tm.tm_hour) ||
	                  s[13] != ':' || !digits(s + 14, 2, &tm.tm_min)))
		return KW_EINVAL;
	if (len == 19 && (s[16] != ':' || !digits(s + 17, 2, &tm.tm_sec)))
		return KW_EINVAL;
	if (tm.tm_year < 1970 || tm.tm_mon < 1 || tm.tm_mon > 12 ||
	    tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
	    tm.tm_min > 59 || tm.tm_sec > 59)
		return KW_EINVAL;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	tm.tm_isdst = -1;
	want = tm;
	t = utc ? timegm(&tm) : mktime(&tm);
	/* mktime/timegm carry a 31st of a short month into the next one. */
	if (t == (time_t)-1 || tm.tm_year != want.tm_year ||
	    tm.tm_mon != want.tm_mon || tm.tm_mday != want.tm_mday || t < 0)
		return KW_EINVAL;
	*ret_us = (int64_t)t * US_PER_S;
	return 0;
}

int cli_time_parse(const char *s, int64_t now_us, int64_t *ret_us)
{
	size_t len;

	if (!s || now_us < 0)
		return KW_EINVAL;
	len = strlen(s);
	if (len > 0 && s[0] >= '0' && s[0] <= '9' &&
	    strchr("smhdw", s[len - 1]))
		return parse_duration(s, now_us, ret_us);
	return parse_absolute(s, ret_us);
}

void cli_time_local(int64_t us, char buf[static CLI_TIME_LEN])
{
	time_t t = (time_t)(us / US_PER_S);
	struct tm tm;

	if (us < 0 || !localtime_r(&t, &tm) ||
	    strftime(buf, CLI_TIME_LEN, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, CLI_TIME_LEN, "%s", "-");
}

/* Tables ----------------------------------------------------------------- */

/* A string member, or NULL if it is null or absent. */
static const char *row_text(const json_t *row, const char *key)
{
	return json_string_value(json_object_get(row, key));
}

/* Absent or null, or of the type check accepts. */
static bool optional(const json_t *row, const char *key,
                     int (*check)(const json_t *))
{
	const json_t *v = json_object_get(row, key);

	return !v || json_is_null(v) || check(v);
}

static int is_string(const json_t *v)
{
	return json_is_string(v);
}

static int is_count(const json_t *v)
{
	return json_is_integer(v) && json_integer_value(v) >= 0;
}

bool cli_audit_row_valid(const json_t *row)
{
	return json_is_object(row) && is_count(json_object_get(row, "seq")) &&
	       is_count(json_object_get(row, "ts_us")) &&
	       json_is_string(json_object_get(row, "op")) &&
	       json_is_string(json_object_get(row, "outcome")) &&
	       optional(row, "principal", is_string) &&
	       optional(row, "name", is_string) &&
	       optional(row, "reason", is_string) &&
	       optional(row, "version", is_count);
}

/* Decimal digits of v. */
static int num_width(json_int_t v)
{
	int n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

/* Grow *w to fit s, up to max. */
static void fit(int *w, const char *s, int max)
{
	size_t n = s ? strlen(s) : 1;

	if (n > (size_t)max)
		n = (size_t)max;
	if ((int)n > *w)
		*w = (int)n;
}

void cli_audit_cols_init(struct cli_audit_cols *w)
{
	*w = (struct cli_audit_cols){
		.seq = 3,
		.principal = 9,
		.op = 2,
		.name = 4,
		.ver = 3,
		.outcome = 7,
	};
}

void cli_audit_cols_fit(struct cli_audit_cols *w, const json_t *row)
{
	const json_t *ver = json_object_get(row, "version");
	int n = num_width(json_integer_value(json_object_get(row, "seq")));

	if (n > w->seq)
		w->seq = n;
	if (json_is_integer(ver) &&
	    (n = num_width(json_integer_value(ver))) > w->ver)
		w->ver = n;
	fit(&w->principal, row_text(row, "principal"), COL_PRINCIPAL_MAX);
	fit(&w->op, row_text(row, "op"), COL_OP_MAX);
	fit(&w->name, row_text(row, "name"), COL_NAME_MAX);
	fit(&w->outcome, row_text(row, "outcome"), COL_OP_MAX);
}

size_t cli_audit_reason_max(const struct cli_audit_cols *w, int term_cols)
{
	int used;

	if (term_cols <= 0)
		return REASON_DEFAULT;
	/* Every column but REASON, each followed by two spaces. */
	used = CLI_TIME_LEN - 1 + w->seq + w->principal + w->op + w->name +
	       w->ver + w->outcome + 7 * 2;
	return term_cols - used < REASON_MIN ? REASON_MIN :
	                                       (size_t)(term_cols - used);
}

/* s (or "-") made printable, cut to max bytes (0: no cut) with "..." when
 * cut, then padded to width (0: no padding). */
static void put_col(FILE *f, const char *s, int width, size_t max)
{
	size_t n, i;

	if (!s)
		s = "-";
	n = strlen(s);
	if (max >= 4 && n > max)
		n = max - 3;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		fputc(ch < 0x20 || ch >= 0x7f ? '?' : ch, f);
	}
	if (n < strlen(s)) {
		fputs("...", f);
		i += 3;
	}
	for (; (int)i < width; i++)
		fputc(' ', f);
}

void cli_audit_header(FILE *f, const struct cli_audit_cols *w)
{
	fprintf(f, "%-*s  %*s  %-*s  %-*s  %-*s  %*s  %-*s  REASON\n",
	        CLI_TIME_LEN - 1, "TIME", w->seq, "SEQ", w->principal,
	        "PRINCIPAL", w->op, "OP", w->name, "NAME", w->ver, "VER",
	        w->outcome, "OUTCOME");
}

void cli_audit_row(FILE *f, const struct cli_audit_cols *w, const json_t *row,
                   size_t reason_max)
{
	const json_t *ver = json_object_get(row, "version");
	char when[CLI_TIME_LEN];

	cli_time_local(json_integer_value(json_object_get(row, "ts_us")), when);
	fprintf(f, "%-*s  %*" JSON_INTEGER_FORMAT "  ", CLI_TIME_LEN - 1, when,
	        w->seq, json_integer_value(json_object_get(row, "seq")));
	put_col(f, row_text(row, "principal"), w->principal, 0);
	fputs("  ", f);
	put_col(f, row_text(row, "op"), w->op, 0);
	fputs("  ", f);
	put_col(f, row_text(row, "name"), w->name, 0);
	if (json_is_integer(ver))
		fprintf(f, "  %*" JSON_INTEGER_FORMAT "  ", w->ver,
		        json_integer_value(ver));
	else
		fprintf(f, "  %*s  ", w->ver, "-");
	put_col(f, row_text(row, "outcome"), w->outcome, 0);
	fputs("  ", f);
	put_col(f, row_text(row, "reason"), 0, reason_max);
	fputc('\n', f);
}

/* Counts ----------------------------------------------------------------- */

bool cli_audit_count_valid(const json_t *e)
{
	return json_is_object(e) && optional(e, "principal", is_string) &&
	       json_is_string(json_object_get(e, "op")) &&
	       json_is_string(json_object_get(e, "outcome")) &&
	       is_count(json_object_get(e, "count"));
}

/* "" for null, so that sorting has a total order. */
static const char *sort_key(const json_t *e, const char *key)
{
	const char *s = row_text(e, key);

	return s ? s : "";
}

static int count_cmp(const void *a, const void *b)
{
	const json_t *x = *(const json_t *const *)a;
	const json_t *y = *(const json_t *const *)b;
	json_int_t cx = json_integer_value(json_object_get(x, "count"));
	json_int_t cy = json_integer_value(json_object_get(y, "count"));
	int r;

	if (cx != cy)
		return cx > cy ? -1 : 1;
	r = strcmp(sort_key(x, "principal"), sort_key(y, "principal"));
	if (r == 0)
		r = strcmp(sort_key(x, "op"), sort_key(y, "op"));
	if (r == 0)
		r = strcmp(sort_key(x, "outcome"), sort_key(y, "outcome"));
	return r;
}

int cli_audit_counts_sort(const json_t *counts, json_t **ret_sorted)
{
	size_t n = json_array_size(counts);
	json_t **v, *out;
	int r = KW_ENOMEM;

	v = calloc(n ? n : 1, sizeof(*v));
	out = json_array();
	if (!v || !out)
		goto out;
	for (size_t i = 0; i < n; i++)
		v[i] = json_array_get(counts, i);
	qsort(v, n, sizeof(*v), count_cmp);
	for (size_t i = 0; i < n; i++)
		if (json_array_append(out, v[i]) < 0)
			goto out;
	*ret_sorted = out;
	out = NULL;
	r = 0;
out:
	json_decref(out);
	free(v);
	return r;
}

void cli_audit_counts_print(FILE *f, const json_t *sorted)
{
	int wp = 9, wo = 2, wc = 7, wn = 5;
	json_int_t total = 0;
	const json_t *e;
	size_t i;

	json_array_foreach(sorted, i, e)
	{
		json_int_t n = json_integer_value(json_object_get(e, "count"));

		fit(&wp, row_text(e, "principal"), COL_PRINCIPAL_MAX);
		fit(&wo, row_text(e, "op"), COL_OP_MAX);
		fit(&wc, row_text(e, "outcome"), COL_OP_MAX);
		total = n > LLONG_MAX - total ? LLONG_MAX : total + n;
	}
	if (num_width(total) > wn)
		wn = num_width(total);
	fprintf(f, "%-*s  %-*s  %-*s  %*s\n", wp, "PRINCIPAL", wo, "OP", wc,
	        "OUTCOME", wn, "COUNT");
	json_array_foreach(sorted, i, e)
	{
		put_col(f, row_text(e, "principal"), wp, 0);
		fputs("  ", f);
		put_col(f, row_text(e, "op"), wo, 0);
		fputs("  ", f);
		put_col(f, row_text(e, "outcome"), wc, 0);
		fprintf(f, "  %*" JSON_INTEGER_FORMAT "\n", wn,
		        json_integer_value(json_object_get(e, "count")));
	}
	fprintf(f, "%-*s  %-*s  %-*s  %*" JSON_INTEGER_FORMAT "\n", wp, "total",
	        wo, "", wc, "", wn, total);
}
