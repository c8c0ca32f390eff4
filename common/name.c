/*
 * name.c - secret name rules (see name.h). The rule sentences never quote
 * the offending input: a mistyped name may be a pasted secret.
 */
#include "name.h"

#include <stdbool.h>

#include "keyward.h"

static bool name_char_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
	       c == '/';
}

static int name_fail(const char **ret_rule, const char *rule)
{
	if (ret_rule)
		*ret_rule = rule;
	return KW_ENAME;
}

/* Check each '/'-separated segment of s[0..len): non-empty, not . or .. */
static int name_check_segments(const char *s, size_t len, bool allow_last_empty,
                               const char **ret_rule)
{
	size_t seg = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '/')
			continue;
		size_t n = i - seg;
		bool last = i == len;
		if (n == 0 && !(last && allow_last_empty))
			return name_fail(
				ret_rule,
				"segments between '/' must not be empty");
		if ((n == 1 && s[seg] == '.') ||
		    (n == 2 && s[seg] == '.' && s[seg + 1] == '.'))
			return name_fail(ret_rule,
			                 "segments must not be '.' or '..'");
		seg = i + 1;
	}
	return 0;
}

static int name_check_chars(const char *s, size_t len, const char **ret_rule)
{
	for (size_t i = 0; i < len; i++) {
		if (!name_char_ok((unsigned char)s[i]))
			return name_fail(
				ret_rule,
				"only the characters A-Z a-z 0-9 . _ - / "
				"are allowed");
	}
	return 0;
}

int kw_name_check(const char *name, size_t len, const char **ret_rule)
{
	if (!name || len == 0 || len > KW_NAME_MAX)
		return name_fail(ret_rule, "must be 1-255 bytes long");
	int r = name_check_chars(name, len, ret_rule);
	if (r < 0)
		return r;
	if (name[0] == '/' || name[len - 1] == '/')
		return name_fail(ret_rule, "must not start or end with '/'");
	return name_check_segments(name, len, false, ret_rule);
}

int kw_prefix_check(const char *prefix, size_t len, const char **ret_rule)
{
	if (len == 0)
		return 0;
	if (!prefix || len > KW_NAME_MAX)
		return name_fail(ret_rule, "must be at most 255 bytes long");
	int r = name_check_chars(prefix, len, ret_rule);
	if (r < 0)
		return r;
	if (prefix[0] == '/')
		return name_fail(ret_rule, "must not start with '/'");
	/* A prefix may end inside a segment ("git" matches "github/x"), so
	 * only complete segments are checked for '.'/'..'/empty. */
	size_t last = len;
	while (last > 0 && prefix[last - 1] != '/')
		last--;
	if (last == 0)
		return 0;
	return name_check_segments(prefix, last - 1, false, ret_rule);
}
