/*
 * duration.c - durations and daily windows (see duration.h).
 *
 * The sentences in *why never quote the input: a value typed into the
 * wrong field may be a secret.
 */
#include "duration.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "keyward.h"

#define DAY_SECONDS 86400u

/* Units in the only order a duration may use them, largest first. */
static const struct {
	char unit;
	uint64_t seconds;
} duration_units[] = {
	{ 'w', 7u * 86400u }, { 'd', 86400u }, { 'h', 3600u },
	{ 'm', 60u },         { 's', 1u },
};
#define DURATION_NUNITS (sizeof(duration_units) / sizeof(duration_units[0]))

static int duration_fail(const char **why, const char *sentence)
{
	if (why)
		*why = sentence;
	return KW_EINVAL;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Index of unit c in duration_units, or DURATION_NUNITS. */
static size_t duration_unit_index(char c)
{
	size_t i = 0;

	while (i < DURATION_NUNITS && duration_units[i].unit != c)
		i++;
	return i;
}

int kw_duration_parse(const char *s, uint64_t max, uint64_t *ret_seconds,
                      const char **why)
{
	uint64_t total = 0;
	/* Units already used must all be larger than the next one. */
	size_t next_unit = 0;

	if (!s || !*s)
		return duration_fail(why, "a duration must not be empty");
	while (*s) {
		uint64_t n = 0;

		if (!is_digit(*s))
			return duration_fail(
				why, "a duration is digits followed by a unit "
				     "(s, m, h, d or w), with no sign, spaces "
				     "or fractions");
		/* Leading zeros are harmless ("05m"), so any number of
		 * digits is read; the value is what is bounded. */
		for (; is_digit(*s); s++) {
			uint64_t d = (uint64_t)(*s - '0');
			if (n > (UINT64_MAX - d) / 10u)
				return duration_fail(
					why, "the duration is too large");
			n = n * 10u + d;
		}
		if (!*s)
			return duration_fail(why, "a number in the duration "
			                          "has no unit (s, m, h, d "
			                          "or w)");
		size_t u = duration_unit_index(*s);
		if (u == DURATION_NUNITS)
			return duration_fail(why, "the duration has an unknown "
			                          "unit (use s, m, h, d or w)");
		if (u < next_unit)
			return duration_fail(
				why, "each unit may appear once, largest "
				     "first (w, d, h, m, s)");
		next_unit = u + 1;
		s++;
		uint64_t mult = duration_units[u].seconds;
		if (n > UINT64_MAX / mult || n * mult > UINT64_MAX - total)
			return duration_fail(why, "the duration is too large");
		total += n * mult;
	}
	if (total == 0)
		return duration_fail(why,
		                     "the duration must be more than zero");
	if (total > max)
		return duration_fail(why, "the duration is above the maximum "
		                          "allowed here");
	*ret_seconds = total;
	return 0;
}

int kw_duration_format(uint64_t seconds, char *out, size_t outsz)
{
	/* Days are the largest unit written: "30d" reads better than "4w2d"
	 * and every duration has exactly one such spelling. */
	const uint64_t parts[] = { seconds / 86400u, seconds / 3600u % 24u,
		                   seconds / 60u % 60u, seconds % 60u };
	const char units[] = { 'd', 'h', 'm', 's' };
	char buf[32];
	size_t len = 0;

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		if (parts[i] == 0)
			continue;
		int n = snprintf(buf + len, sizeof(buf) - len, "%llu%c",
		                 (unsigned long long)parts[i], units[i]);
		/* 20 digits of days plus "23h59m59s" fits in buf. */
		if (n < 0 || (size_t)n >= sizeof(buf) - len)
			return KW_EINTERNAL;
		len += (size_t)n;
	}
	if (len == 0) {
		buf[0] = '0';
		buf[1] = 's';
		len = 2;
	}
	if (!out || len >= outsz)
		return KW_ETOOBIG;
	memcpy(out, buf, len);
	out[len] = '\0';
	return 0;
}

/* "HH:MM" at s (5 bytes) into seconds after midnight. */
static int window_time(const char *s, uint32_t *ret, const char **why)
{
	if (!is_digit(s[0]) || !is_digit(s[1]) || s[2] != ':' ||
	    !is_digit(s[3]) || !is_digit(s[4]))
		return duration_fail(why, "a window is HH:MM-HH:MM, "
		                          "two digits each");
	uint32_t h = (uint32_t)(s[0] - '0') * 10u + (uint32_t)(s[1] - '0');
	uint32_t m = (uint32_t)(s[3] - '0') * 10u + (uint32_t)(s[4] - '0');
	if (h > 23 || m > 59)
		return duration_fail(why, "window times must be 00:00 to "
		                          "23:59");
	*ret = h * 3600u + m * 60u;
	return 0;
}

int kw_window_parse(const char *s, uint32_t *ret_start, uint32_t *ret_end,
                    const char **why)
{
	uint32_t start, end;

	if (!s || strnlen(s, 12) != 11 || s[5] != '-')
		return duration_fail(why, "a window is HH:MM-HH:MM, "
		                          "two digits each");
	int r = window_time(s, &start, why);
	if (r < 0)
		return r;
	r = window_time(s + 6, &end, why);
	if (r < 0)
		return r;
	if (start == end)
		return duration_fail(why, "a window's start and end must "
		                          "differ");
	*ret_start = start;
	*ret_end = end;
	return 0;
}

void kw_window_format(uint32_t start, uint32_t end, char out[12])
{
	/* Out-of-range input is reduced rather than overflowing out. */
	start %= DAY_SECONDS;
	end %= DAY_SECONDS;
	snprintf(out, 12, "%02u:%02u-%02u:%02u", start / 3600u,
	         start / 60u % 60u, end / 3600u, end / 60u % 60u);
}
