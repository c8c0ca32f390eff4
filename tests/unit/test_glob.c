/*
 * test_glob.c - name globs (common/glob.h): the one table every user of
 * kw_glob_match (policy grants, audit filters in the agent and the CLI,
 * the library's rotation watch) is held to, the syntax check, bounds on
 * long inputs and the work done, and agreement with a plain recursive
 * statement of the rules on many random cases.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "glob.h"
#include "keyward.h"
#include "kwerr.h"

struct glob_case {
	const char *glob, *name;
	bool match;
};

static const struct glob_case match_cases[] = {
	/* '*' and '**' alone */
	{ "*", "a", true },
	{ "*", "a/b", false },
	{ "**", "a", true },
	{ "**", "a/b/c", true },
	{ "*/*", "a/b", true },
	{ "*/*", "a", false },
	{ "*/*", "a/b/c", false },
	/* a trailing '**' takes at least one segment */
	{ "github/*", "github/token", true },
	{ "github/*", "github/a/b", false },
	{ "github/*", "github", false },
	{ "github/**", "github/token", true },
	{ "github/**", "github/a/b", true },
	{ "github/**", "github", false },
	{ "github/**", "githubx/a", false },
	{ "a/**", "a", false },
	{ "a/**", "a/b", true },
	/* a leading or inner one may take none */
	{ "a/**/z", "a/z", true },
	{ "a/**/z", "a/b/z", true },
	{ "a/**/z", "a/b/c/d/z", true },
	{ "a/**/z", "a/b/c/d", false },
	{ "a/**/z", "a/z/q", false },
	{ "a/**/z", "a/z/z", true },
	{ "a/**/z", "a/b", false },
	{ "**/z", "z", true },
	{ "**/z", "a/b/z", true },
	{ "**/z", "a/b/zz", false },
	{ "**/b/**", "a/b/c", true },
	{ "**/b/**", "b", false },
	{ "**/b/**", "b/c", true },
	{ "*/**", "a", false },
	{ "*/**", "a/b", true },
	{ "**/**", "a", true },
	{ "a/**/**", "a", false },
	{ "a/**/**", "a/b", true },
	/* '*' inside a segment, never across '/' */
	{ "*.json", "config.json", true },
	{ "*.json", ".json", true },
	{ "*.json", "config.yaml", false },
	{ "*.json", "dir/config.json", false },
	{ "**/*.json", "dir/config.json", true },
	{ "**/*.json", "config.json", true },
	{ "**/*.json", "config.jsonx", false },
	{ "a*b*c", "abc", true },
	{ "a*b*c", "aXXbYYc", true },
	{ "a*b*c", "abcbc", true },
	{ "a*b*c", "acb", false },
	{ "a*b*c", "aXb/c", false },
	{ "a*b*c", "a-b-", false },
	{ "*a*", "banana", true },
	{ "*x*", "banana", false },
	{ "*-prod/*_key", "web-prod/api_key", true },
	{ "*-prod/*_key", "web-dev/api_key", false },
	{ "team/*/prod/**", "team/web/prod/db/pw", true },
	{ "team/*/prod/**", "team/web/dev/db/pw", false },
	{ "team/*/prod/**", "team/web/prod", false },
	/* stars that must give back what they took */
	{ "*ab", "aab", true },
	{ "a*a*a", "aaa", true },
	{ "a*a*a", "aa", false },
	{ "**/a/**/b", "x/a/y/a/z/b", true },
	{ "**/a/*/b", "a/a/x/b", true },
	{ "**/a/*/b", "a/x/y/b", false },
	/* everything else is literal, '.' included */
	{ "a.b", "a.b", true },
	{ "a.b", "aXb", false },
	{ "my-app_1/db", "my-app_1/db", true },
	{ "my-app_1/db", "my-app-1/db", false },
	{ "exact", "exact", true },
	{ "exact", "exactly", false },
	{ "exact", "exac", false },
	{ "Exact", "exact", false },
	{ "a/b", "a", false },
	{ "a/b", "a/b/c", false },
	{ "a/b/c", "a/b", false },
};

/*
 * Names no valid name looks like (kw_name_check refuses them): the
 * agent's policy matcher decided these, and the CLI's old copy answered
 * some of them differently; an empty segment is a segment like any other.
 */
/* clang-format off */
static const struct glob_case odd_name_cases[] = {
	{ "a/*", "a/", true },
	{ "a/**", "a/", true },
	{ "*/b", "/b", true },
	{ "a/*/b", "a//b", true },
	{ "a/b", "a//b", false },
};
/* clang-format on */

static void run_table(const struct glob_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct glob_case *k = &cases[i];

		if (kw_glob_match(k->glob, k->name) != k->match)
			fail_msg("glob '%s' on '%s': expected %s", k->glob,
			         k->name, k->match ? "match" : "no match");
	}
}

static void test_match_table(void **state)
{
	(void)state;
	run_table(match_cases, sizeof(match_cases) / sizeof(match_cases[0]));
	for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]);
	     i++)
		assert_int_equal(kw_glob_check(match_cases[i].glob, NULL), 0);
	run_table(odd_name_cases,
	          sizeof(odd_name_cases) / sizeof(odd_name_cases[0]));
}

static void test_match_empty_and_null(void **state)
{
	(void)state;
	assert_false(kw_glob_match("", "a"));
	assert_false(kw_glob_match("a", ""));
	assert_false(kw_glob_match("", ""));
	assert_false(kw_glob_match("*", ""));
	assert_false(kw_glob_match("**", ""));
	assert_false(kw_glob_match(NULL, "a"));
	assert_false(kw_glob_match("a", NULL));
}

/* 255 bytes is the longest glob and name; one more never matches. */
static void test_match_long(void **state)
{
	char glob[KW_NAME_MAX + 2], name[KW_NAME_MAX + 2];

	(void)state;
	memset(name, 'a', KW_NAME_MAX);
	name[KW_NAME_MAX] = '\0';
	memcpy(glob, name, sizeof(name));
	assert_true(kw_glob_match(glob, name));
	assert_true(kw_glob_match("**", name));
	assert_true(kw_glob_match("*", name));
	assert_true(kw_glob_match("a*a", name));
	name[KW_NAME_MAX] = 'a';
	name[KW_NAME_MAX + 1] = '\0';
	assert_false(kw_glob_match("**", name));
	assert_false(kw_glob_match("*", name));
	glob[KW_NAME_MAX] = '*';
	glob[KW_NAME_MAX + 1] = '\0';
	assert_false(kw_glob_match(glob, "a"));
	assert_int_equal(kw_glob_check(glob, NULL), KW_EINVAL);
}

/* Many '**' and '*' against a long name: the work is bounded by the
 * product of the lengths (the test would not finish otherwise). */
static void test_match_pathological(void **state)
{
	char glob[256] = "", name[256] = "";
	size_t g = 0, n = 0;

	(void)state;
	for (int i = 0; i < 40; i++, g += 5)
		memcpy(glob + g, "**/a/", 5);
	glob[g] = 'b';
	for (int i = 0; i < 120; i++, n += 2)
		memcpy(name + n, "a/", 2);
	name[n] = 'c';
	assert_int_equal(kw_glob_check(glob, NULL), 0);
	assert_false(kw_glob_match(glob, name));
	name[n] = 'b';
	assert_true(kw_glob_match(glob, name));
	assert_false(kw_glob_match("*a*a*a*a*a*a*a*a*a*a*a*b",
	                           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	                           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac"));
}

struct check_case {
	const char *glob;
	const char *why; /* a part of the reason; NULL: well formed */
};

static const struct check_case check_cases[] = {
	{ "**", NULL },
	{ "*", NULL },
	{ "a/*/b", NULL },
	{ "a.*", NULL },
	{ "*.-_", NULL },
	{ "a/**/b", NULL },
	{ "**/**", NULL },
	{ ".a/b.", NULL },
	{ "a..b", NULL },
	{ "", "empty" },
	{ "a/**b", "whole segment" },
	{ "**b", "whole segment" },
	{ "a**", "whole segment" },
	{ "***", "whole segment" },
	{ "/a", "start or end" },
	{ "a/", "start or end" },
	{ "/", "start or end" },
	{ "a//b", "empty segment" },
	{ "..", "'.' or '..'" },
	{ "a/../b", "'.' or '..'" },
	{ ".", "'.' or '..'" },
	{ "a/./b", "'.' or '..'" },
	{ "a b", "may use only" },
	{ "a;b", "may use only" },
	{ "a,b", "may use only" },
	{ "a\"b", "may use only" },
	{ "a\\b", "may use only" },
	{ "a?b", "may use only" },
	{ "a[b]", "may use only" },
	{ "a\nb", "may use only" },
	{ "\xc3\xa9", "may use only" },
};

static void test_check_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(check_cases) / sizeof(check_cases[0]);
	     i++) {
		const struct check_case *k = &check_cases[i];
		const char *why = NULL;
		int r = kw_glob_check(k->glob, &why);

		if (!k->why) {
			if (r != 0)
				fail_msg("refused '%s': %s", k->glob, why);
			continue;
		}
		if (r != KW_EINVAL || !why || !strstr(why, k->why))
			fail_msg("'%s': want KW_EINVAL and '%s', got %d '%s'",
			         k->glob, k->why, r, why ? why : "(none)");
	}
	assert_int_equal(kw_glob_check(NULL, NULL), KW_EINVAL);
}

static void test_check_length(void **state)
{
	char glob[KW_NAME_MAX + 2];
	const char *why = NULL;

	(void)state;
	memset(glob, 'a', sizeof(glob));
	glob[KW_NAME_MAX + 1] = '\0';
	assert_int_equal(kw_glob_check(glob, &why), KW_EINVAL);
	assert_non_null(strstr(why, "255"));
	glob[KW_NAME_MAX] = '\0';
	assert_int_equal(kw_glob_check(glob, NULL), 0);
}

/* The rules stated as plainly as possible (exponential in the worst
 * case, fine for the short random cases below). */
static size_t ref_seg_len(const char *s)
{
	return strcspn(s, "/");
}

static const char *ref_seg_next(const char *s)
{
	s += ref_seg_len(s);
	return *s == '/' ? s + 1 : NULL;
}

static bool ref_seg(const char *g, size_t gn, const char *n, size_t nn)
{
	if (gn == 0)
		return nn == 0;
	if (g[0] == '*') {
		for (size_t k = 0; k <= nn; k++)
			if (ref_seg(g + 1, gn - 1, n + k, nn - k))
				return true;
		return false;
	}
	return nn > 0 && g[0] == n[0] && ref_seg(g + 1, gn - 1, n + 1, nn - 1);
}

/* g and n: the remaining segments, NULL when none remain. */
static bool ref_glob(const char *g, const char *n)
{
	if (!g)
		return !n;
	if (ref_seg_len(g) == 2 && g[0] == '*' && g[1] == '*') {
		const char *rest = ref_seg_next(g);

		if (!rest)
			return n != NULL;
		for (const char *p = n;; p = ref_seg_next(p)) {
			if (ref_glob(rest, p))
				return true;
			if (!p)
				return false;
		}
	}
	return n && ref_seg(g, ref_seg_len(g), n, ref_seg_len(n)) &&
	       ref_glob(ref_seg_next(g), ref_seg_next(n));
}

/* xorshift64: reproducible cases. */
static uint64_t rnd_next(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* 1..5 segments; a segment is "**" (globs only) or 1..3 of chars. */
static void random_path(uint64_t *x, const char *chars, bool globstar,
                        char *out, size_t outsz)
{
	size_t nseg = 1 + rnd_next(x) % 5, off = 0, nchars = strlen(chars);

	for (size_t i = 0; i < nseg && off + 5 < outsz; i++) {
		if (i > 0)
			out[off++] = '/';
		if (globstar && rnd_next(x) % 4 == 0) {
			out[off++] = '*';
			out[off++] = '*';
			continue;
		}
		for (size_t n = 1 + rnd_next(x) % 3; n > 0; n--)
			out[off++] = chars[rnd_next(x) % nchars];
	}
	out[off] = '\0';
}

/* Small alphabets, so that matches and near misses are both common. */
static void test_match_same_as_reference(void **state)
{
	uint64_t x = 0x9e3779b97f4a7c15u;
	char glob[64], name[64];
	int checked = 0, matched = 0;

	(void)state;
	for (int i = 0; i < 100000; i++) {
		random_path(&x, "ab*", true, glob, sizeof(glob));
		random_path(&x, "ab", false, name, sizeof(name));
		if (kw_glob_check(glob, NULL) < 0)
			continue;
		checked++;
		if (kw_glob_match(glob, name) != ref_glob(glob, name))
			fail_msg("glob '%s' on '%s': got %d, the rules say %d",
			         glob, name, kw_glob_match(glob, name),
			         ref_glob(glob, name));
		matched += kw_glob_match(glob, name);
	}
	/* The cases must exercise both answers. */
	assert_true(checked > 50000);
	assert_true(matched > checked / 50);
	assert_true(matched < checked - checked / 50);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match_table),
		cmocka_unit_test(test_match_empty_and_null),
		cmocka_unit_test(test_match_long),
		cmocka_unit_test(test_match_pathological),
		cmocka_unit_test(test_check_table),
		cmocka_unit_test(test_check_length),
		cmocka_unit_test(test_match_same_as_reference),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
