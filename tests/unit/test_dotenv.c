/*
 * test_dotenv.c - the .env parser (common/dotenv.h): what each form of
 * line means, and that every refusal names its line and never the input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dotenv.h"
#include "keyward.h"
#include "secmem.h"

/* Up to four entries, "NAME=value" each, value bytes as parsed. */
struct good {
	const char *text;
	const char *want[4];
	unsigned lines[4];
};

static const struct good goods[] = {
	{ "", { NULL }, { 0 } },
	{ "\n\n# only comments\n   # indented\n", { NULL }, { 0 } },
	{ "A=1", { "A=1" }, { 1 } },
	{ "A=1\nB=2\n", { "A=1", "B=2" }, { 1, 2 } },
	{ "A=1\r\nB=2\r\n", { "A=1", "B=2" }, { 1, 2 } },
	{ "\xef\xbb\xbf"
	  "A=bom",
	  { "A=bom" },
	  { 1 } },
	{ "export TOKEN=ghp_x", { "TOKEN=ghp_x" }, { 1 } },
	{ "export\tTOKEN = v", { "TOKEN=v" }, { 1 } },
	{ "export=1", { "export=1" }, { 1 } },
	{ "  A  =  spaced value  \n", { "A=spaced value" }, { 1 } },
	{ "A=", { "A=" }, { 1 } },
	{ "A= # nothing but a comment", { "A=" }, { 1 } },
	{ "A=v # comment", { "A=v" }, { 1 } },
	{ "A=v#not-a-comment", { "A=v#not-a-comment" }, { 1 } },
	{ "A=#x", { "A=#x" }, { 1 } },
	{ "A=a'b\"c", { "A=a'b\"c" }, { 1 } },
	{ "A=$HOME ${X}", { "A=$HOME ${X}" }, { 1 } },
	{ "A='single # kept \\n $X'", { "A=single # kept \\n $X" }, { 1 } },
	{ "A=\"d\\n\\t\\r\\\\\\\"\\'\\$\"", { "A=d\n\t\r\\\"'$" }, { 1 } },
	{ "A=\"\\x\\q\"", { "A=\\x\\q" }, { 1 } },
	{ "A=\"two\nlines\"\nB=3", { "A=two\nlines", "B=3" }, { 1, 3 } },
	{ "A='x\ny\nz' # after\nB=4", { "A=x\ny\nz", "B=4" }, { 1, 4 } },
	{ "A=\"q\"   \nB=''", { "A=q", "B=" }, { 1, 2 } },
	{ "A=1\nA=2", { "A=1", "A=2" }, { 1, 2 } },
	{ "_x9=ok", { "_x9=ok" }, { 1 } },
};

static void check_good(const struct good *g)
{
	kw_dotenv *env = NULL;
	char why[200];
	size_t want_n = 0;

	while (want_n < 4 && g->want[want_n])
		want_n++;
	int r = kw_dotenv_parse(g->text, strlen(g->text), &env, why,
	                        sizeof(why));
	if (r != 0)
		fail_msg("%s: refused (%s)", g->text, why);
	assert_non_null(env);
	if (env->count != want_n)
		fail_msg("%s: %zu entries, want %zu", g->text, env->count,
		         want_n);
	for (size_t i = 0; i < want_n; i++) {
		const kw_dotenv_entry *e = &env->entries[i];
		const char *eq = strchr(g->want[i], '=');
		size_t nlen = (size_t)(eq - g->want[i]);
		assert_int_equal(strlen(e->name), nlen);
		assert_memory_equal(e->name, g->want[i], nlen);
		assert_string_equal(e->value, eq + 1);
		assert_int_equal(e->value_len, strlen(eq + 1));
		assert_int_equal(e->line, g->lines[i]);
	}
	kw_dotenv_free(env);
}

static void test_good(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++)
		check_good(&goods[i]);
}

struct bad {
	const char *text;
	size_t len;      /* 0: strlen */
	const char *why; /* the message, in full */
};

static const struct bad bads[] = {
	{ "=v", 0,
	  "line 1: expected NAME=VALUE, NAME being a letter or '_' then "
	  "letters, digits or '_'" },
	{ "A=1\n9A=secret9", 0,
	  "line 2: expected NAME=VALUE, NAME being a letter or '_' then "
	  "letters, digits or '_'" },
	{ "A-B=secret", 0,
	  "line 1: expected '=' after the name (names are letters, digits "
	  "and '_')" },
	{ "export A", 0,
	  "line 1: expected '=' after the name (names are letters, digits "
	  "and '_')" },
	{ "A=1\n\nB=\"secret\nC=2\n", 0,
	  "line 3: the double quote opened here is not closed" },
	{ "B='secret", 0,
	  "line 1: the single quote opened here is not closed" },
	{ "B=\"secret\\\"", 0,
	  "line 1: the double quote opened here is not closed" },
	{ "B='x\ny' secret", 0,
	  "line 2: only a comment may follow the closing quote" },
	{ "A=1\nB=se\0cret", 12, "line 2: a NUL byte (not a text file?)" },
};

static void test_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		const struct bad *b = &bads[i];
		kw_dotenv *env = (kw_dotenv *)&bads; /* must stay as it is */
		char why[200];
		size_t len = b->len ? b->len : strlen(b->text);
		assert_int_equal(kw_dotenv_parse(b->text, len, &env, why,
		                                 sizeof(why)),
		                 KW_EINVAL);
		assert_ptr_equal(env, (kw_dotenv *)&bads);
		assert_string_equal(why, b->why);
		assert_null(strstr(why, "secret"));
	}
}

static void test_limits(void **state)
{
	kw_dotenv *env = NULL;
	char why[200];
	(void)state;

	/* A name of the longest length, and one byte more. */
	char name[KW_DOTENV_NAME_MAX + 4];
	memset(name, 'N', sizeof(name));
	memcpy(name + KW_DOTENV_NAME_MAX, "=v", 2);
	assert_int_equal(kw_dotenv_parse(name, KW_DOTENV_NAME_MAX + 2, &env,
	                                 why, sizeof(why)),
	                 0);
	assert_int_equal(strlen(env->entries[0].name), KW_DOTENV_NAME_MAX);
	kw_dotenv_free(env);
	memcpy(name + KW_DOTENV_NAME_MAX, "N=v", 3);
	assert_int_equal(kw_dotenv_parse(name, KW_DOTENV_NAME_MAX + 3, &env,
	                                 why, sizeof(why)),
	                 KW_EINVAL);
	assert_string_equal(why, "line 1: the name is longer than 255 bytes");

	/* As many assignments as allowed, then one more. */
	size_t n = KW_DOTENV_ENTRIES_MAX + 1;
	char *text = malloc(n * 4);
	assert_non_null(text);
	for (size_t i = 0; i < n; i++)
		memcpy(text + i * 4, "A=1\n", 4);
	env = NULL;
	assert_int_equal(kw_dotenv_parse(text, (n - 1) * 4, &env, why,
	                                 sizeof(why)),
	                 0);
	assert_int_equal(env->count, KW_DOTENV_ENTRIES_MAX);
	kw_dotenv_free(env);
	env = NULL;
	assert_int_equal(kw_dotenv_parse(text, n * 4, &env, why, sizeof(why)),
	                 KW_ETOOBIG);
	assert_null(env);
	assert_string_equal(why, "more than 10000 assignments");
	free(text);

	assert_int_equal(kw_dotenv_parse("", KW_DOTENV_MAX_BYTES + 1, &env, why,
	                                 sizeof(why)),
	                 KW_ETOOBIG);
	assert_int_equal(kw_dotenv_parse(NULL, 1, &env, why, sizeof(why)),
	                 KW_EINVAL);
	assert_int_equal(kw_dotenv_parse("A=1", 3, NULL, why, sizeof(why)),
	                 KW_EINVAL);
	kw_dotenv_free(NULL);
}

/* The name rule on its own, as run --env and export use it. */
static void test_name_valid(void **state)
{
	static const char *const good[] = { "A", "_", "a_1", "GITHUB_TOKEN",
		                            "_9" };
	static const char *const bad[] = { "",    "1A",  "A-B",
		                           "A B", "A=B", "\xc3\xa9" };
	char big[300];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++)
		assert_true(kw_dotenv_name_valid(good[i], strlen(good[i])));
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		assert_false(kw_dotenv_name_valid(bad[i], strlen(bad[i])));
	assert_false(kw_dotenv_name_valid("A\0B", 3));
	/* Only n bytes count. */
	assert_true(kw_dotenv_name_valid("AB=c", 2));
	memset(big, 'N', sizeof(big));
	assert_true(kw_dotenv_name_valid(big, KW_DOTENV_NAME_MAX));
	assert_false(kw_dotenv_name_valid(big, KW_DOTENV_NAME_MAX + 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_valid),
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_limits),
	};

	if (kw_secmem_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
