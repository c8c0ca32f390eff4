/*
 * test_name.c - secret name and list prefix validation (common/name.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "keyward.h"
#include "name.h"
#include "secmem.h"

struct name_case {
	const char *name;
	size_t len;
};

/* A literal with its length, so that embedded NULs count. */
/* clang-format off */
#define CASE(s) { (s), sizeof(s) - 1u }
/* clang-format on */

static const struct name_case valid_names[] = {
	CASE("a"),
	CASE("github/token"),
	CASE("a.b-c_d/e"),
	CASE("Z"),
	CASE("0"),
	CASE("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"),
	CASE("abcdefghijklmnopqrstuvwxyz._-"),
	CASE("a/b/c/d/e/f"),
	/* Dots are only forbidden as a whole segment. */
	CASE(".hidden"),
	CASE("a/.b"),
	CASE("a/b."),
	CASE("a..b"),
	CASE("..."),
	CASE("a/.../b"),
	CASE("-"),
	CASE("_/-"),
};

static const struct name_case invalid_names[] = {
	/* length */
	CASE(""),
	/* '/' at either end, empty segments */
	CASE("/"),
	CASE("/a"),
	CASE("a/"),
	CASE("a//b"),
	CASE("//"),
	/* dot segments */
	CASE("."),
	CASE(".."),
	CASE("a/./b"),
	CASE("a/../b"),
	CASE("./a"),
	CASE("../a"),
	CASE("a/."),
	CASE("a/.."),
	/* charset: space, NUL (counted in len), non-ASCII, glob, control */
	CASE("a b"),
	CASE(" a"),
	CASE("a "),
	CASE("a\0b"),
	CASE("a\0"),
	CASE("\0"),
	CASE("caf\xc3\xa9"),
	CASE("\x80"),
	CASE("a\xff"),
	CASE("*"),
	CASE("github/*"),
	CASE("a\nb"),
	CASE("a\tb"),
	CASE("a\x7f"),
	CASE("a\\b"),
	CASE("a:b"),
	CASE("a%2fb"),
};

static void fill(char *buf, size_t n, char c)
{
	memset(buf, c, n);
	buf[n] = '\0';
}

static void test_valid_names(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(valid_names) / sizeof(valid_names[0]);
	     i++) {
		const char *rule = "untouched";
		int rc = kw_name_check(valid_names[i].name, valid_names[i].len,
		                       &rule);
		if (rc != 0)
			fail_msg("valid name #%zu (\"%s\") rejected: %d", i,
			         valid_names[i].name, rc);
		assert_int_equal(kw_name_check(valid_names[i].name,
		                               valid_names[i].len, NULL),
		                 0);
	}
}

static void test_invalid_names(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(invalid_names) / sizeof(invalid_names[0]);
	     i++) {
		const char *rule = NULL;
		int rc = kw_name_check(invalid_names[i].name,
		                       invalid_names[i].len, &rule);
		if (rc != KW_ENAME)
			fail_msg("invalid name #%zu (len %zu) gave %d, want "
			         "KW_ENAME",
			         i, invalid_names[i].len, rc);
		if (rule == NULL || rule[0] == '\0')
			fail_msg("invalid name #%zu: no rule sentence", i);
		/* Without an out parameter the verdict is the same. */
		assert_int_equal(kw_name_check(invalid_names[i].name,
		                               invalid_names[i].len, NULL),
		                 KW_ENAME);
	}
}

static void test_length_bounds(void **state)
{
	char buf[KW_NAME_MAX + 2];
	const char *rule = NULL;

	(void)state;
	fill(buf, KW_NAME_MAX, 'a');
	assert_int_equal(kw_name_check(buf, KW_NAME_MAX, &rule), 0);

	fill(buf, KW_NAME_MAX + 1, 'a');
	assert_int_equal(kw_name_check(buf, KW_NAME_MAX + 1, &rule), KW_ENAME);
	assert_non_null(rule);

	/* 255 bytes made of segments is still fine. */
	fill(buf, KW_NAME_MAX, 'b');
	for (size_t i = 1; i < KW_NAME_MAX - 1; i += 2)
		buf[i] = '/';
	assert_int_equal(kw_name_check(buf, KW_NAME_MAX, NULL), 0);
}

static void test_len_is_the_bound(void **state)
{
	(void)state;
	/* Bytes beyond len are not part of the name. */
	assert_int_equal(kw_name_check("github/token*junk", 12, NULL), 0);
	assert_int_equal(kw_name_check("a/", 1, NULL), 0);
	assert_int_equal(kw_name_check("ab\0", 2, NULL), 0);
	/* ...and a short len can make a valid string invalid. */
	assert_int_equal(kw_name_check("github/token", 7, NULL), KW_ENAME);
	assert_int_equal(kw_name_check("a/../b", 4, NULL), KW_ENAME);
}

/*
 * The sentence is static text naming the rule: it must never echo the
 * offending name (which may be attacker-chosen or sensitive).
 */
static void test_rule_never_quotes_name(void **state)
{
	static const char *const names[] = {
		"zq9x/../y", "zq9x/./y", "zq9x//y",      "/zq9x",   "zq9x/",
		"zq9x y",    "zq9x*",    "zq9x\xc3\xa9", "zq9x/..",
	};
	char longname[KW_NAME_MAX + 2];

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *rule = NULL;

		assert_int_equal(kw_name_check(names[i], strlen(names[i]),
		                               &rule),
		                 KW_ENAME);
		assert_non_null(rule);
		assert_true(strlen(rule) > 0);
		if (strstr(rule, "zq9x") != NULL)
			fail_msg("rule \"%s\" quotes the name", rule);
	}

	fill(longname, KW_NAME_MAX + 1, 'q');
	memcpy(longname, "zq9x", 4);
	{
		const char *rule = NULL;

		assert_int_equal(kw_name_check(longname, KW_NAME_MAX + 1,
		                               &rule),
		                 KW_ENAME);
		assert_non_null(rule);
		assert_null(strstr(rule, "zq9x"));
		assert_null(strstr(rule, "qqqq"));
	}
}

/* Different rules give different sentences, so the message says which. */
static void test_rules_are_specific(void **state)
{
	char longname[KW_NAME_MAX + 2];
	const char *too_long = NULL, *charset = NULL, *dots = NULL;

	(void)state;
	fill(longname, KW_NAME_MAX + 1, 'a');
	assert_int_equal(kw_name_check(longname, KW_NAME_MAX + 1, &too_long),
	                 KW_ENAME);
	assert_int_equal(kw_name_check("a b", 3, &charset), KW_ENAME);
	assert_int_equal(kw_name_check("a/../b", 6, &dots), KW_ENAME);
	assert_non_null(too_long);
	assert_non_null(charset);
	assert_non_null(dots);
	assert_string_not_equal(too_long, charset);
	assert_string_not_equal(too_long, dots);
	assert_string_not_equal(charset, dots);
}

static void test_prefix_valid(void **state)
{
	char buf[KW_NAME_MAX + 2];

	(void)state;
	assert_int_equal(kw_prefix_check("", 0, NULL), 0);
	assert_int_equal(kw_prefix_check("github", 6, NULL), 0);
	assert_int_equal(kw_prefix_check("github/", 7, NULL), 0);
	assert_int_equal(kw_prefix_check("github/tok", 10, NULL), 0);
	assert_int_equal(kw_prefix_check("a/b/", 4, NULL), 0);
	assert_int_equal(kw_prefix_check("a.b-c_d/e", 9, NULL), 0);

	fill(buf, KW_NAME_MAX, 'p');
	assert_int_equal(kw_prefix_check(buf, KW_NAME_MAX, NULL), 0);
	buf[KW_NAME_MAX - 1] = '/';
	assert_int_equal(kw_prefix_check(buf, KW_NAME_MAX, NULL), 0);

	/* len bounds the prefix, as for names. */
	assert_int_equal(kw_prefix_check("abc*", 3, NULL), 0);
}

static void test_prefix_invalid(void **state)
{
	static const struct name_case bad[] = {
		CASE("a b"),  CASE("*"),   CASE("github/*"),
		CASE("a\0b"), CASE("\0"),  CASE("caf\xc3\xa9"),
		CASE("a\n"),  CASE("a\\"),
	};
	char buf[KW_NAME_MAX + 2];
	const char *rule;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rule = NULL;
		if (kw_prefix_check(bad[i].name, bad[i].len, &rule) != KW_ENAME)
			fail_msg("prefix #%zu accepted", i);
		assert_non_null(rule);
		assert_true(strlen(rule) > 0);
	}

	fill(buf, KW_NAME_MAX + 1, 'p');
	rule = NULL;
	assert_int_equal(kw_prefix_check(buf, KW_NAME_MAX + 1, &rule),
	                 KW_ENAME);
	assert_non_null(rule);
	buf[KW_NAME_MAX] = '/';
	assert_int_equal(kw_prefix_check(buf, KW_NAME_MAX + 1, NULL), KW_ENAME);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_names),
		cmocka_unit_test(test_invalid_names),
		cmocka_unit_test(test_length_bounds),
		cmocka_unit_test(test_len_is_the_bound),
		cmocka_unit_test(test_rule_never_quotes_name),
		cmocka_unit_test(test_rules_are_specific),
		cmocka_unit_test(test_prefix_valid),
		cmocka_unit_test(test_prefix_invalid),
	};

	if (kw_secmem_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
