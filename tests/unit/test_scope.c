/*
 * test_scope.c - OAuth scopes (common/scope.h): one table of strings with
 * what each rule says of them, then the bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "scope.h"

struct scope_case {
	const char *s;
	size_t n;
	bool token; /* kw_scope_token_valid, max 128 */
	bool name;  /* kw_scope_name_valid */
	bool list;  /* kw_scope_list_valid, 4 tokens of at most 8 bytes */
};

/* A literal with its length, so that embedded NULs count. */
/* clang-format off */
#define CASE(s, t, nm, l) { (s), sizeof(s) - 1u, (t), (nm), (l) }
static const struct scope_case cases[] = {
	CASE("read",             true,  true,  true),
	CASE("tools:read",       true,  true,  false), /* 10 > 8 */
	CASE("a.b_c/d-e:f",      true,  true,  false),
	CASE("A9",               true,  true,  true),
	/* RFC 6749 allows these; keyward does not issue them */
	CASE("a!b",              true,  false, true),
	CASE("a,b",              true,  false, true),
	CASE("a#[]{}~",          true,  false, true),
	CASE("a=b&c",            true,  false, true),
	CASE("*",                true,  false, true),
	/* outside NQCHAR */
	CASE("a\"b",             false, false, false),
	CASE("a\\b",             false, false, false),
	CASE("a\x7f",            false, false, false),
	CASE("a\tb",             false, false, false),
	CASE("a\nb",             false, false, false),
	CASE("a\rb",             false, false, false),
	CASE("\xc3\xa9",         false, false, false),
	CASE("a\0b",             false, false, false),
	CASE("",                 false, false, false),
	/* spaces separate tokens of a list, nothing else */
	CASE("a b",              false, false, true),
	CASE("read write",       false, false, true),
	CASE("a b c d",          false, false, true),
	CASE("a b c d e",        false, false, false), /* 5 > 4 tokens */
	CASE(" a",               false, false, false),
	CASE("a ",               false, false, false),
	CASE("a  b",             false, false, false),
	CASE(" ",                false, false, false),
	CASE("a \"b\"",          false, false, false),
	CASE("a\0 b",            false, false, false),
};
/* clang-format on */

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct scope_case *k = &cases[i];
		bool token = kw_scope_token_valid(k->s, k->n, 128);
		bool name = kw_scope_name_valid(k->s, k->n);
		bool list = kw_scope_list_valid(k->s, k->n, 4, 8);

		if (token != k->token || name != k->name || list != k->list)
			fail_msg("case %zu: token %d name %d list %d, want "
			         "%d %d %d",
			         i, token, name, list, k->token, k->name,
			         k->list);
		/* every scope name is a scope token */
		assert_true(!name || token);
	}
}

static void test_bounds(void **state)
{
	char s[2 * KW_SCOPE_NAME_MAX + 2];

	(void)state;
	memset(s, 'a', sizeof(s));
	assert_true(kw_scope_name_valid(s, KW_SCOPE_NAME_MAX));
	assert_false(kw_scope_name_valid(s, KW_SCOPE_NAME_MAX + 1));
	assert_true(kw_scope_token_valid(s, 100, 100));
	assert_false(kw_scope_token_valid(s, 101, 100));
	assert_false(kw_scope_name_valid(s, 0));
	assert_false(kw_scope_token_valid(s, 0, 100));
	assert_false(kw_scope_name_valid(NULL, 1));
	assert_false(kw_scope_token_valid(NULL, 1, 100));
	assert_false(kw_scope_list_valid(NULL, 1, 4, 8));
	/* the token bound holds for each token of a list, the first and
	 * the last included */
	s[8] = ' ';
	assert_true(kw_scope_list_valid(s, 17, 2, 8));
	assert_false(kw_scope_list_valid(s, 18, 2, 8));
	assert_false(kw_scope_list_valid(s + 1, 17, 2, 7));
	assert_true(kw_scope_list_valid(s + 1, 16, 2, 8));
	assert_false(kw_scope_list_valid(s, 17, 1, 8));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
