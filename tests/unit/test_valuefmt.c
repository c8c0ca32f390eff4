/*
 * test_valuefmt.c - cli/valuefmt.c: the formats of put --generate, the
 * "text a terminal can show" test of get, and get --base64's encoding.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "keyward.h"
#include "secmem.h"
#include "valuefmt.h"

static int setup(void **state)
{
	(void)state;
	return kw_secmem_init();
}

static bool all_in(const uint8_t *p, size_t n, const char *set)
{
	for (size_t i = 0; i < n; i++)
		if (!p[i] || !strchr(set, p[i]))
			return false;
	return true;
}

static void gen(enum valuefmt_format f, size_t n, size_t want_len,
                const char *set)
{
	uint8_t *v = NULL;
	size_t len = 0;

	assert_int_equal(valuefmt_generate(f, n, &v, &len), 0);
	assert_int_equal(len, want_len);
	assert_int_equal(v[len], '\0');
	if (set)
		assert_true(all_in(v, len, set));
	kw_wipefree(v);
}

#define B64URL \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
#define ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

static void test_generate_formats(void **state)
{
	(void)state;
	gen(VALUEFMT_BASE64URL, 32, 43, B64URL);
	gen(VALUEFMT_BASE64URL, 1, 2, B64URL);
	gen(VALUEFMT_HEX, 16, 32, "0123456789abcdef");
	gen(VALUEFMT_ALNUM, 40, 40, ALNUM);
	gen(VALUEFMT_RAW, 64, 64, NULL);
	gen(VALUEFMT_HEX, VALUEFMT_GEN_MAX, 2 * VALUEFMT_GEN_MAX, NULL);
}

static void test_generate_bounds(void **state)
{
	uint8_t *v = (uint8_t *)"untouched";
	size_t len = 7;

	(void)state;
	assert_int_equal(valuefmt_generate(VALUEFMT_HEX, 0, &v, &len),
	                 KW_EINVAL);
	assert_int_equal(valuefmt_generate(VALUEFMT_HEX, VALUEFMT_GEN_MAX + 1,
	                                   &v, &len),
	                 KW_EINVAL);
	assert_string_equal((const char *)v, "untouched");
	assert_int_equal(len, 7);
}

/* Every one of the 62 characters near 1/62 of 186,000 draws: 3,000,
 * standard deviation about 54. A modulo of a random byte would give the
 * first eight about 3,630 each; the bound is seven deviations wide, so it
 * catches that and does not fail by chance. */
static void test_alnum_uniform(void **state)
{
	size_t count[256] = { 0 }, len;
	uint8_t *v;

	(void)state;
	for (int round = 0; round < 3; round++) {
		assert_int_equal(valuefmt_generate(VALUEFMT_ALNUM, 62000, &v,
		                                   &len),
		                 0);
		for (size_t i = 0; i < len; i++)
			count[v[i]]++;
		kw_wipefree(v);
	}
	for (const char *c = ALNUM; *c; c++)
		assert_in_range(count[(uint8_t)*c], 3000 - 380, 3000 + 380);
}

static void test_parse(void **state)
{
	enum valuefmt_format f = VALUEFMT_RAW;

	(void)state;
	assert_int_equal(valuefmt_parse("hex", &f), 0);
	assert_int_equal(f, VALUEFMT_HEX);
	assert_int_equal(valuefmt_parse("base64url", &f), 0);
	assert_int_equal(f, VALUEFMT_BASE64URL);
	assert_int_equal(valuefmt_parse("alnum", &f), 0);
	assert_int_equal(f, VALUEFMT_ALNUM);
	assert_int_equal(valuefmt_parse("raw", &f), 0);
	assert_int_equal(f, VALUEFMT_RAW);
	assert_int_equal(valuefmt_parse("HEX", &f), KW_EINVAL);
	assert_int_equal(valuefmt_parse("base64", &f), KW_EINVAL);
	assert_int_equal(valuefmt_parse("", &f), KW_EINVAL);
	assert_int_equal(f, VALUEFMT_RAW);
}

static bool text(const char *s)
{
	return valuefmt_is_text((const uint8_t *)s, strlen(s));
}

static void test_is_text(void **state)
{
	(void)state;
	assert_true(text(""));
	assert_true(text("hello, keyward"));
	assert_true(text("two\nlines\r\n\tindented\n"));
	assert_true(text("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91"));
	assert_true(text("\xc2\xa0"));         /* U+00A0, past C1 */
	assert_true(text("\xed\x9f\xbf"));     /* U+D7FF */
	assert_true(text("\xf4\x8f\xbf\xbf")); /* U+10FFFF */
	assert_false(valuefmt_is_text((const uint8_t *)"a\0b", 3));
	assert_false(text("\x1b[2J")); /* ESC */
	assert_false(text("bell\x07"));
	assert_false(text("del\x7f"));
	assert_false(text("\xc2\x9b"));         /* U+009B, C1 CSI */
	assert_false(text("\xc2\x80"));         /* U+0080 */
	assert_false(text("\xc0\xaf"));         /* overlong '/' */
	assert_false(text("\xe0\x80\xaf"));     /* overlong */
	assert_false(text("\xed\xa0\x80"));     /* surrogate U+D800 */
	assert_false(text("\xf4\x90\x80\x80")); /* U+110000 */
	assert_false(text("\xf5\x80\x80\x80"));
	assert_false(text("\xff"));
	assert_false(text("\x80")); /* lone continuation */
	assert_false(text("\xc3")); /* cut short */
	assert_false(text("\xe2\x82"));
	assert_false(text("\xe2\x28\xa1")); /* bad continuation */
	assert_false(text("\xf0\x9f\x94"));
}

static void b64(const char *in, size_t n, const char *want)
{
	char *out = NULL;
	size_t len = 0;

	assert_int_equal(valuefmt_base64((const uint8_t *)in, n, &out, &len),
	                 0);
	assert_string_equal(out, want);
	assert_int_equal(len, strlen(want));
	kw_wipefree(out);
}

static void test_base64(void **state)
{
	(void)state;
	b64("", 0, "");
	b64("f", 1, "Zg==");
	b64("fo", 2, "Zm8=");
	b64("foo", 3, "Zm9v");
	b64("\xfb\xff\0", 3, "+/8A");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generate_formats),
		cmocka_unit_test(test_generate_bounds),
		cmocka_unit_test(test_alnum_uniform),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_is_text),
		cmocka_unit_test(test_base64),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
