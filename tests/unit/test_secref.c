/*
 * test_secref.c - secret references (common/secref.h): every form parses
 * to what it says and prints back the same; every malformed one is refused
 * with a sentence that does not quote it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "keyward.h"
#include "secref.h"

struct good {
	const char *text;
	const char *name;
	uint64_t version;
	const char *stage;
	bool base64;
};

static const struct good goods[] = {
	{ "github/token", "github/token", 0, "", false },
	{ "a", "a", 0, "", false },
	{ "db/pw@1", "db/pw", 1, "", false },
	{ "db/pw@9223372036854775807", "db/pw", 9223372036854775807ull, "",
	  false },
	{ "db/pw#current", "db/pw", 0, "current", false },
	{ "db/pw#pending", "db/pw", 0, "pending", false },
	{ "db/pw#previous", "db/pw", 0, "previous", false },
	{ "db/pw#retired", "db/pw", 0, "retired", false },
	{ "bin/key:base64", "bin/key", 0, "", true },
	{ "bin/key@12:base64", "bin/key", 12, "", true },
	{ "bin/key#previous:base64", "bin/key", 0, "previous", true },
	{ "x.y_z-1/A", "x.y_z-1/A", 0, "", false },
};

static void test_good(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(goods) / sizeof(*goods); i++) {
		const struct good *g = &goods[i];
		struct kw_secref ref;
		char why[128], back[400];

		assert_int_equal(kw_secref_parse(g->text, strlen(g->text), &ref,
		                                 why, sizeof(why)),
		                 0);
		assert_string_equal(ref.name, g->name);
		assert_true(ref.version == g->version);
		assert_string_equal(ref.stage, g->stage);
		assert_int_equal(ref.base64, g->base64);
		assert_int_equal(kw_secref_format(&ref, back, sizeof(back)), 0);
		assert_string_equal(back, g->text);
	}
}

static const char *const bads[] = {
	"",
	"@1",
	"#current",
	"/abs",
	"a//b",
	"a/../b",
	"a@",
	"a@0",
	"a@01",
	"a@-1",
	"a@9223372036854775808",
	"a@99999999999999999999",
	"a@1x",
	"a#",
	"a#Current",
	"a#latest",
	"a@1#current",
	"a#current@1",
	"a@1@2",
	"a:base32",
	"a:",
	":base64",
	"a:base64:base64",
	"a b",
	"a\nb",
};

static void test_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bads) / sizeof(*bads); i++) {
		struct kw_secref ref;
		char why[160];

		why[0] = '\0';
		assert_int_equal(kw_secref_parse(bads[i], strlen(bads[i]), &ref,
		                                 why, sizeof(why)),
		                 KW_EINVAL);
		assert_true(why[0] != '\0');
		if (strlen(bads[i]) > 2)
			assert_null(strstr(why, bads[i]));
	}
}

static void test_nul_and_length(void **state)
{
	struct kw_secref ref;
	char why[160], big[300];

	(void)state;
	assert_int_equal(kw_secref_parse("a\0b", 3, &ref, why, sizeof(why)),
	                 KW_EINVAL);
	/* Not NUL-terminated: only len bytes count. */
	assert_int_equal(kw_secref_parse("abc@7junk", 5, &ref, why,
	                                 sizeof(why)),
	                 0);
	assert_string_equal(ref.name, "abc");
	assert_true(ref.version == 7);
	memset(big, 'n', sizeof(big));
	assert_int_equal(kw_secref_parse(big, KW_NAME_MAX, &ref, why,
	                                 sizeof(why)),
	                 0);
	char small[8];
	assert_int_equal(kw_secref_format(&ref, small, sizeof(small)),
	                 KW_ETOOBIG);
	assert_int_equal(kw_secref_parse(big, KW_NAME_MAX + 1, &ref, why,
	                                 sizeof(why)),
	                 KW_EINVAL);
}

static void test_uri(void **state)
{
	const char *rest;
	size_t n;

	(void)state;
	assert_true(kw_secref_uri("keyward://a/b@2", 15, &rest, &n));
	assert_int_equal(n, 5);
	assert_memory_equal(rest, "a/b@2", 5);
	assert_true(kw_secref_uri("keyward://", 10, &rest, &n));
	assert_int_equal(n, 0);
	assert_false(kw_secref_uri("keyward:/a", 10, &rest, &n));
	assert_false(kw_secref_uri("Keyward://a", 11, &rest, &n));
	assert_false(kw_secref_uri("keyward:", 8, &rest, &n));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_nul_and_length),
		cmocka_unit_test(test_uri),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
