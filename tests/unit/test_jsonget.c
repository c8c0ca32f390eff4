/*
 * test_jsonget.c - checked reads of result members (common/jsonget.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "jsonget.h"

/* Embedded NULs allowed, so that kw_json_get_text is what rejects them. */
static json_t *load(const char *text)
{
	json_t *obj = json_loads(text, JSON_ALLOW_NUL, NULL);

	assert_non_null(obj);
	return obj;
}

static void test_uint(void **state)
{
	json_t *obj = load("{\"zero\": 0, \"two\": 2, \"neg\": -1, "
	                   "\"max\": 9223372036854775807, \"real\": 1.0, "
	                   "\"text\": \"1\", \"null\": null}");
	uint64_t v = 7;

	(void)state;
	assert_true(kw_json_get_uint(obj, "zero", 0, &v));
	assert_int_equal(v, 0);
	assert_true(kw_json_get_uint(obj, "two", 2, &v));
	assert_int_equal(v, 2);
	assert_true(kw_json_get_uint(obj, "max", 1, &v));
	assert_true(v == INT64_MAX);
	v = 7;
	assert_false(kw_json_get_uint(obj, "zero", 1, &v));
	assert_false(kw_json_get_uint(obj, "two", 3, &v));
	assert_false(kw_json_get_uint(obj, "neg", 0, &v));
	assert_false(kw_json_get_uint(obj, "real", 0, &v));
	assert_false(kw_json_get_uint(obj, "text", 0, &v));
	assert_false(kw_json_get_uint(obj, "null", 0, &v));
	assert_false(kw_json_get_uint(obj, "absent", 0, &v));
	assert_int_equal(v, 7);
	json_decref(obj);
}

static void test_bool(void **state)
{
	json_t *obj = load("{\"t\": true, \"f\": false, \"one\": 1, "
	                   "\"text\": \"true\"}");
	bool v = false;

	(void)state;
	assert_true(kw_json_get_bool(obj, "t", &v));
	assert_true(v);
	assert_true(kw_json_get_bool(obj, "f", &v));
	assert_false(v);
	v = true;
	assert_false(kw_json_get_bool(obj, "one", &v));
	assert_false(kw_json_get_bool(obj, "text", &v));
	assert_false(kw_json_get_bool(obj, "absent", &v));
	assert_true(v);
	json_decref(obj);
}

static void test_text(void **state)
{
	json_t *obj = load("{\"ok\": \"a b~\", \"empty\": \"\", "
	                   "\"nl\": \"a\\nb\", \"esc\": \"\\u001b[2J\", "
	                   "\"del\": \"\\u007f\", \"utf8\": \"caf\\u00e9\", "
	                   "\"nul\": \"a\\u0000b\", \"num\": 1}");
	const char *v = "unset";

	(void)state;
	assert_true(kw_json_get_text(obj, "ok", &v));
	assert_string_equal(v, "a b~");
	assert_true(kw_json_get_text(obj, "empty", &v));
	assert_string_equal(v, "");
	v = "unset";
	assert_false(kw_json_get_text(obj, "nl", &v));
	assert_false(kw_json_get_text(obj, "esc", &v));
	assert_false(kw_json_get_text(obj, "del", &v));
	assert_false(kw_json_get_text(obj, "utf8", &v));
	assert_false(kw_json_get_text(obj, "nul", &v));
	assert_false(kw_json_get_text(obj, "num", &v));
	assert_false(kw_json_get_text(obj, "absent", &v));
	assert_string_equal(v, "unset");
	json_decref(obj);
}

static void test_lossy(void **state)
{
	json_t *j;

	(void)state;
	j = kw_json_lossy(NULL);
	assert_true(json_is_null(j));
	json_decref(j);
	/* Valid UTF-8 stays as it is. */
	j = kw_json_lossy("/opt/caf\xc3\xa9/bin");
	assert_string_equal(json_string_value(j), "/opt/caf\xc3\xa9/bin");
	json_decref(j);
	/* Anything else loses its high bytes, not the whole string. */
	j = kw_json_lossy("/tmp/\xff\xfe.x/\xc3\xa9");
	assert_string_equal(json_string_value(j), "/tmp/??.x/??");
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uint),
		cmocka_unit_test(test_bool),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_lossy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
