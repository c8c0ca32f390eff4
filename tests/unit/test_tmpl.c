/*
 * test_tmpl.c - the inject template parser (common/tmpl.h): where
 * references are found and what they name, the blanks allowed around them,
 * and that every refusal names its line and never quotes the input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "keyward.h"
#include "secmem.h"
#include "tmpl.h"

/* The parts written back: literals as they are, a reference as
 * <NAME[@V][#S][:b]@LINE>. */
static void show(const char *text, const struct kw_tmpl *t, char *out,
                 size_t sz)
{
	size_t n = 0;

	out[0] = '\0';
	for (size_t i = 0; i < t->count; i++) {
		const struct kw_tmpl_part *p = &t->parts[i];

		if (!p->is_ref) {
			n += (size_t)snprintf(out + n, sz - n, "%.*s",
			                      (int)p->len, text + p->off);
			continue;
		}
		n += (size_t)snprintf(out + n, sz - n, "<%s", p->ref.name);
		if (p->ref.version)
			n += (size_t)
				snprintf(out + n, sz - n, "@%llu",
			                 (unsigned long long)p->ref.version);
		if (p->ref.stage[0])
			n += (size_t)snprintf(out + n, sz - n, "#%s",
			                      p->ref.stage);
		n += (size_t)snprintf(out + n, sz - n, "%s@%u>",
		                      p->ref.base64 ? ":b" : "", p->line);
	}
}

struct good {
	const char *text, *want;
	size_t nrefs;
};

static const struct good goods[] = {
	{ "", "", 0 },
	{ "plain text\n", "plain text\n", 0 },
	{ "}} and { and }{ stay", "}} and { and }{ stay", 0 },
	{ "{{keyward://a}}", "<a@1>", 1 },
	{ "{{ keyward://a/b }}", "<a/b@1>", 1 },
	{ "x{{\t keyward://a@3\t}}y", "x<a@3@1>y", 1 },
	{ "\n\n{{ keyward://s#previous }}", "\n\n<s#previous@3>", 1 },
	{ "k={{ keyward://bin:base64 }}\n", "k=<bin:b@1>\n", 1 },
	{ "{{ keyward://a }}{{ keyward://b }}", "<a@1><b@1>", 2 },
	{ "a\n{{ keyward://x }}\nb {{ keyward://y@1:base64 }}",
	  "a\n<x@2>\nb <y@1:b@3>", 2 },
	{ "{{ keyward://a }}}", "<a@1>}", 1 },
};

static void test_good(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		const struct good *g = &goods[i];
		struct kw_tmpl *t = NULL;
		char why[200] = "", out[512];
		int r = kw_tmpl_parse(g->text, strlen(g->text), &t, why,
		                      sizeof(why));

		if (r != 0)
			fail_msg("case %zu: %s", i, why);
		show(g->text, t, out, sizeof(out));
		assert_string_equal(out, g->want);
		assert_int_equal(t->nrefs, g->nrefs);
		for (size_t j = 0; j < t->count; j++)
			assert_true(t->parts[j].is_ref || t->parts[j].len > 0);
		kw_tmpl_free(t);
	}
}

struct bad {
	const char *text, *why_starts;
};

/* "SECRETX" in each input must never reach the message. */
static const struct bad bads[] = {
	{ "{{ SECRETX }}", "line 1: '{{' must open a reference" },
	{ "a\nb\n{{SECRETX}}", "line 3: '{{' must open a reference" },
	{ "{{ keyward:/SECRETX }}", "line 1: '{{' must open" },
	{ "{{ keyward:// }}", "line 1: keyward:// without a secret name" },
	{ "{{ keyward://SECRETX", "line 1: a reference must end with '}}'" },
	{ "{{ keyward://SECRETX }", "line 1: a reference must end" },
	{ "\n{{ keyward://SECRETX\n}}", "line 2: a reference must end" },
	{ "{{ keyward://SECRETX extra }}", "line 1: a reference must end" },
	{ "{{ keyward://../SECRETX }}", "line 1: " },
	{ "{{ keyward://SECRETX@0 }}", "line 1: " },
	{ "{{ keyward://SECRETX#soon }}", "line 1: " },
	{ "{{ keyward://SECRETX:hex }}", "line 1: " },
	{ "ok {{ keyward://a }} then {", "" },
	{ "{", "" },
};

static void test_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		const struct bad *b = &bads[i];
		struct kw_tmpl *t = NULL;
		char why[200] = "";
		int r = kw_tmpl_parse(b->text, strlen(b->text), &t, why,
		                      sizeof(why));

		if (!b->why_starts[0]) {
			/* A lone '{' is text. */
			assert_int_equal(r, 0);
			kw_tmpl_free(t);
			continue;
		}
		if (r != KW_EINVAL)
			fail_msg("case %zu accepted", i);
		assert_null(t);
		if (strncmp(why, b->why_starts, strlen(b->why_starts)) != 0)
			fail_msg("case %zu: %s", i, why);
		assert_null(strstr(why, "SECRETX"));
	}
}

static void test_limits(void **state)
{
	const char *one = "{{ keyward://a }}";
	size_t n = strlen(one), count = KW_TMPL_REFS_MAX + 1;
	struct kw_tmpl *t = NULL;
	char why[200], *text = malloc(n * count + 1);

	(void)state;
	assert_non_null(text);
	for (size_t i = 0; i < count; i++)
		memcpy(text + i * n, one, n);
	assert_int_equal(kw_tmpl_parse(text, n * KW_TMPL_REFS_MAX, &t, why,
	                               sizeof(why)),
	                 0);
	assert_int_equal(t->nrefs, KW_TMPL_REFS_MAX);
	kw_tmpl_free(t);
	t = NULL;
	assert_int_equal(kw_tmpl_parse(text, n * count, &t, why, sizeof(why)),
	                 KW_ETOOBIG);
	assert_null(t);
	assert_string_equal(why, "more than 1000 references");
	free(text);

	assert_int_equal(kw_tmpl_parse("", KW_TMPL_MAX_BYTES + 1, &t, why,
	                               sizeof(why)),
	                 KW_ETOOBIG);
	assert_int_equal(kw_tmpl_parse(NULL, 1, &t, why, sizeof(why)),
	                 KW_EINVAL);
	assert_int_equal(kw_tmpl_parse("x", 1, NULL, why, sizeof(why)),
	                 KW_EINVAL);
	/* A NUL byte is text like any other. */
	assert_int_equal(kw_tmpl_parse("a\0b", 3, &t, why, sizeof(why)), 0);
	assert_int_equal(t->count, 1);
	assert_int_equal(t->parts[0].len, 3);
	kw_tmpl_free(t);
	kw_tmpl_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_limits),
	};

	if (kw_secmem_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
