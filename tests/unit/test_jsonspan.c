/*
 * test_jsonspan.c - the span parser (common/jsonspan.h): what it accepts
 * in plain and JSONC mode, where its spans point, how strings decode, and
 * that an edit keeps every other byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jsonspan.h"
#include "keyward.h"
#include "secmem.h"

struct row {
	const char *text;
	unsigned flags;
	int want;
};

static const struct row rows[] = {
	{ "{}", 0, 0 },
	{ " [1, -0.5e+3, \"x\", true, false, null, {}] ", 0, 0 },
	{ "\"top\"", 0, 0 },
	{ "0", 0, 0 },
	{ "1e999", 0, 0 },
	{ "\"\\u00e9\\ud83d\\ude00\\/\"", 0, 0 },
	{ "\"\xc3\xa9\xf0\x9f\x98\x80\"", 0, 0 },
	{ "", 0, KW_EPARSE },
	{ "{", 0, KW_EPARSE },
	{ "{\"a\" 1}", 0, KW_EPARSE },
	{ "[1,]", 0, KW_EPARSE },
	{ "{\"a\":1,}", 0, KW_EPARSE },
	{ "[01]", 0, KW_EPARSE },
	{ "[1.]", 0, KW_EPARSE },
	{ "[.5]", 0, KW_EPARSE },
	{ "[+1]", 0, KW_EPARSE },
	{ "tru", 0, KW_EPARSE },
	{ "nulll", 0, KW_EPARSE },
	{ "\"\\u0000\"", 0, KW_EPARSE },
	{ "\"\\ud800\"", 0, KW_EPARSE },
	{ "\"\\udc00\"", 0, KW_EPARSE },
	{ "\"\\x\"", 0, KW_EPARSE },
	{ "\"a\tb\"", 0, KW_EPARSE },
	{ "\"\xc0\xaf\"", 0, KW_EPARSE },
	{ "\"\xed\xa0\x80\"", 0, KW_EPARSE },
	{ "\"\xf4\x90\x80\x80\"", 0, KW_EPARSE },
	{ "{\"a\":1,\"a\":2}", 0, KW_EPARSE },
	{ "{\"a\":1,\"\\u0061\":2}", 0, KW_EPARSE },
	{ "{} {}", 0, KW_EPARSE },
	{ "// c\n{}", 0, KW_EPARSE },
	{ "\xef\xbb\xbf{}", 0, KW_EPARSE },
	/* JSONC. */
	{ "// c\n{}", KW_JSPAN_JSONC, 0 },
	{ "{/* a */\"a\": [1, 2,], // b\n}", KW_JSPAN_JSONC, 0 },
	{ "\xef\xbb\xbf{}", KW_JSPAN_JSONC, 0 },
	{ "{} // end", KW_JSPAN_JSONC, 0 },
	{ "{} /* open", KW_JSPAN_JSONC, KW_EPARSE },
	{ "[,]", KW_JSPAN_JSONC, KW_EPARSE },
	{ "[1,,]", KW_JSPAN_JSONC, KW_EPARSE },
	{ "{,}", KW_JSPAN_JSONC, KW_EPARSE },
	{ "{} / x", KW_JSPAN_JSONC, KW_EPARSE },
};

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		kw_jdoc *doc = NULL;
		char why[200];
		int r = kw_jspan_parse(rows[i].text, strlen(rows[i].text),
		                       rows[i].flags, &doc, why, sizeof(why));
		if (r != rows[i].want)
			fail_msg("row %zu: got %d (%s), want %d", i, r, why,
			         rows[i].want);
		if (r == 0)
			kw_jspan_free(doc);
		else
			assert_null(doc);
	}
}

static void test_error_position(void **state)
{
	kw_jdoc *doc = NULL;
	char why[200];
	const char *t = "{\n  \"a\": 1\n  \"b\": 2\n}";
	(void)state;

	assert_int_equal(kw_jspan_parse(t, strlen(t), 0, &doc, why,
	                                sizeof(why)),
	                 KW_EPARSE);
	assert_string_equal(why, "line 3, column 3: expected ',' or '}'");
}

static void test_spans(void **state)
{
	const char *t = "{ \"mcpServers\" : { \"gh\": {\"command\": \"npx\","
			" \"args\": [\"-y\", \"pkg\"], \"env\": {}} } }";
	kw_jdoc *doc = NULL;
	char why[200];
	(void)state;

	assert_int_equal(kw_jspan_parse(t, strlen(t), 0, &doc, why,
	                                sizeof(why)),
	                 0);
	const struct kw_jnode *root = &doc->nodes[0];
	assert_int_equal(root->type, KW_JOBJECT);
	assert_int_equal(root->start, 0);
	assert_int_equal(root->end, strlen(t));
	const struct kw_jnode *servers =
		kw_jspan_member(doc, root, "mcpServers");
	assert_non_null(servers);
	assert_int_equal(servers->key_start, 2);
	assert_int_equal(servers->key_end, 14);
	const struct kw_jnode *gh = kw_jspan_first(doc, servers);
	assert_non_null(gh);
	assert_ptr_equal(kw_jspan_parent(doc, gh), servers);
	assert_null(kw_jspan_next(doc, gh));
	const struct kw_jnode *cmd = kw_jspan_member(doc, gh, "command");
	assert_memory_equal(t + cmd->start, "\"npx\"", 5);
	assert_int_equal(cmd->end - cmd->start, 5);
	assert_true(kw_jspan_string_eq(doc, cmd, "npx"));
	assert_false(kw_jspan_string_eq(doc, cmd, "np"));
	const struct kw_jnode *args = kw_jspan_member(doc, gh, "args");
	assert_int_equal(args->type, KW_JARRAY);
	assert_int_equal(args->count, 2);
	assert_memory_equal(t + args->start, "[\"-y\", \"pkg\"]",
	                    args->end - args->start);
	assert_null(kw_jspan_member(doc, gh, "cwd"));
	assert_null(kw_jspan_member(doc, cmd, "x"));
	unsigned line, col;
	kw_jspan_linecol(doc, cmd->start, &line, &col);
	assert_int_equal(line, 1);
	assert_int_equal(col, cmd->start + 1);
	kw_jspan_free(doc);
}

static void test_decode(void **state)
{
	const char *t =
		"{\"k\\u0065y\": \"a\\\"b\\\\c\\n\\u00e9\\ud83d\\ude00\"}";
	kw_jdoc *doc = NULL;
	char why[200], *s = NULL;
	size_t len = 0;
	(void)state;

	assert_int_equal(kw_jspan_parse(t, strlen(t), 0, &doc, why,
	                                sizeof(why)),
	                 0);
	const struct kw_jnode *v = kw_jspan_member(doc, &doc->nodes[0], "key");
	assert_non_null(v);
	assert_int_equal(kw_jspan_string(doc, v, false, &s, &len), 0);
	assert_int_equal(len, 12);
	assert_memory_equal(s, "a\"b\\c\n\xc3\xa9\xf0\x9f\x98\x80", 12);
	kw_wipefree(s);
	assert_int_equal(kw_jspan_string(doc, v, true, &s, &len), 0);
	assert_string_equal(s, "key");
	kw_wipefree(s);
	assert_int_equal(kw_jspan_string(doc, &doc->nodes[0], false, &s, &len),
	                 KW_EINVAL);
	assert_int_equal(kw_jspan_string(doc, &doc->nodes[0], true, &s, &len),
	                 KW_EINVAL);
	kw_jspan_free(doc);
}

/* Replacing one value changes those bytes only, comments kept. */
static void test_apply(void **state)
{
	const char *t = "{\n  // keep me\n  \"a\": \"old\", /* and me */\n"
			"  \"b\": [1,\n    2,],\n}\n";
	kw_jdoc *doc = NULL;
	char why[200], *out = NULL;
	size_t len = 0;
	(void)state;

	assert_int_equal(kw_jspan_parse(t, strlen(t), KW_JSPAN_JSONC, &doc, why,
	                                sizeof(why)),
	                 0);
	const struct kw_jnode *a = kw_jspan_member(doc, &doc->nodes[0], "a");
	const struct kw_jnode *b = kw_jspan_member(doc, &doc->nodes[0], "b");
	struct kw_jspan_edit e[2] = {
		{ b->start, b->end, "[]", 2 },
		{ a->start, a->end, "\"new\"", 5 },
	};
	assert_int_equal(kw_jspan_apply(t, strlen(t), e, 2, &out, &len), 0);
	assert_string_equal(out, "{\n  // keep me\n  \"a\": \"new\", "
	                         "/* and me */\n  \"b\": [],\n}\n");
	assert_int_equal(len, strlen(out));
	kw_wipefree(out);
	/* Identity edits give the input back. */
	struct kw_jspan_edit id[2] = {
		{ a->start, a->end, t + a->start, a->end - a->start },
		{ b->start, b->end, t + b->start, b->end - b->start },
	};
	assert_int_equal(kw_jspan_apply(t, strlen(t), id, 2, &out, &len), 0);
	assert_string_equal(out, t);
	kw_wipefree(out);
	/* Overlapping or out of range: refused. */
	struct kw_jspan_edit bad[2] = {
		{ 1, 5, "", 0 },
		{ 4, 6, "", 0 },
	};
	assert_int_equal(kw_jspan_apply(t, strlen(t), bad, 2, &out, &len),
	                 KW_EINVAL);
	struct kw_jspan_edit twice[2] = {
		{ 3, 3, "x", 1 },
		{ 3, 3, "y", 1 },
	};
	assert_int_equal(kw_jspan_apply(t, strlen(t), twice, 2, &out, &len),
	                 KW_EINVAL);
	struct kw_jspan_edit past = { 1, strlen(t) + 1, "", 0 };
	assert_int_equal(kw_jspan_apply(t, strlen(t), &past, 1, &out, &len),
	                 KW_EINVAL);
	kw_jspan_free(doc);
}

static void test_quote(void **state)
{
	char *q = NULL;
	size_t len = 0;
	(void)state;

	assert_int_equal(kw_jspan_quote("a\"b\\c\n\x01\xc3\xa9", 9, &q, &len),
	                 0);
	assert_string_equal(q, "\"a\\\"b\\\\c\\u000a\\u0001\xc3\xa9\"");
	assert_int_equal(len, strlen(q));
	kw_wipefree(q);
}

static void test_depth(void **state)
{
	char deep[2 * (KW_JSPAN_MAX_DEPTH + 1)];
	kw_jdoc *doc = NULL;
	char why[200];
	(void)state;

	memset(deep, '[', KW_JSPAN_MAX_DEPTH + 1);
	memset(deep + KW_JSPAN_MAX_DEPTH + 1, ']', KW_JSPAN_MAX_DEPTH + 1);
	assert_int_equal(kw_jspan_parse(deep, sizeof(deep), 0, &doc, why,
	                                sizeof(why)),
	                 KW_ETOOBIG);
	assert_int_equal(kw_jspan_parse(deep + 1, sizeof(deep) - 2, 0, &doc,
	                                why, sizeof(why)),
	                 0);
	kw_jspan_free(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_error_position),
		cmocka_unit_test(test_spans),
		cmocka_unit_test(test_decode),
		cmocka_unit_test(test_apply),
		cmocka_unit_test(test_quote),
		cmocka_unit_test(test_depth),
	};
	if (kw_secmem_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
