/*
 * test_wwwauth.c - WWW-Authenticate values for bearer tokens
 * (common/wwwauth.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "keyward.h"
#include "wwwauth.h"

#define RM "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"

static void expect_header(const kw_wwwauth *w, const char *want)
{
	char out[KW_WWWAUTH_MAX];
	size_t n = 0;

	assert_int_equal(kw_wwwauth_format(w, out, sizeof out, &n), 0);
	assert_string_equal(out, want);
	assert_int_equal(n, strlen(want));
}

static void expect_refused(const kw_wwwauth *w)
{
	char out[KW_WWWAUTH_MAX];
	size_t n = 77;

	memcpy(out, "unchanged", 10);
	assert_int_equal(kw_wwwauth_format(w, out, sizeof out, &n), KW_EINVAL);
	assert_string_equal(out, "unchanged");
	assert_int_equal(n, 77);
}

static void test_shapes(void **state)
{
	kw_wwwauth w = { 0 };

	(void)state;
	/* No credentials sent (RFC 6750 3): no error code. */
	expect_header(&w, "Bearer");
	w.resource_metadata = RM;
	expect_header(&w, "Bearer resource_metadata=\"" RM "\"");
	w.realm = "mcp";
	w.error = KW_WWWAUTH_INVALID_TOKEN;
	w.error_description = "The token has expired.";
	expect_header(&w, "Bearer realm=\"mcp\", error=\"invalid_token\", "
	                  "error_description=\"The token has expired.\", "
	                  "resource_metadata=\"" RM "\"");
	w = (kw_wwwauth){ .error = KW_WWWAUTH_INSUFFICIENT_SCOPE,
		          .scope = "secrets:read tools:call",
		          .resource_metadata = RM };
	expect_header(&w, "Bearer error=\"insufficient_scope\", "
	                  "scope=\"secrets:read tools:call\", "
	                  "resource_metadata=\"" RM "\"");
	w = (kw_wwwauth){ .error = KW_WWWAUTH_INVALID_REQUEST };
	expect_header(&w, "Bearer error=\"invalid_request\"");
}

/* realm is a free quoted-string: '"' and '\' are escaped. */
static void test_realm_escaping(void **state)
{
	kw_wwwauth w = { .realm = "a \"b\" \\c" };

	(void)state;
	expect_header(&w, "Bearer realm=\"a \\\"b\\\" \\\\c\"");
}

static void test_refused(void **state)
{
	static const char *const bad_text[] = {
		"",     "a\r\nSet-Cookie: x=1", "a\nb",    "tab\there",
		"\x7f", "caf\xc3\xa9",          "\x1b[2J",
	};
	kw_wwwauth w;
	char big[KW_WWWAUTH_VALUE_MAX + 2], out[KW_WWWAUTH_MAX];
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof bad_text / sizeof bad_text[0]; i++) {
		w = (kw_wwwauth){ .realm = bad_text[i] };
		expect_refused(&w);
		w = (kw_wwwauth){ .error = KW_WWWAUTH_INVALID_TOKEN,
			          .error_description = bad_text[i] };
		expect_refused(&w);
		w = (kw_wwwauth){ .scope = bad_text[i] };
		expect_refused(&w);
		w = (kw_wwwauth){ .resource_metadata = bad_text[i] };
		expect_refused(&w);
	}
	/* RFC 6750 leaves error_description and scope no escapes. */
	w = (kw_wwwauth){ .error = KW_WWWAUTH_INVALID_TOKEN,
		          .error_description = "say \"hi\"" };
	expect_refused(&w);
	w.error_description = "back\\slash";
	expect_refused(&w);
	/* A description without an error code. */
	w = (kw_wwwauth){ .error_description = "why" };
	expect_refused(&w);
	w = (kw_wwwauth){ .error = (enum kw_wwwauth_error)9 };
	expect_refused(&w);
	w = (kw_wwwauth){ .scope = "a  b" };
	expect_refused(&w);
	w.scope = " a";
	expect_refused(&w);
	w.scope = "a ";
	expect_refused(&w);
	w.scope = "a\"b";
	expect_refused(&w);
	w = (kw_wwwauth){ .resource_metadata = "ftp://h/x" };
	expect_refused(&w);
	w.resource_metadata = "https://h/x#frag";
	expect_refused(&w);
	w.resource_metadata = "https:///x";
	expect_refused(&w);
	w.resource_metadata = "https://h/a b";
	expect_refused(&w);
	w.resource_metadata = "https://h/\"x";
	expect_refused(&w);
	w.resource_metadata = "/.well-known/oauth-protected-resource";
	expect_refused(&w);
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	w = (kw_wwwauth){ .realm = big };
	expect_refused(&w);
	big[KW_WWWAUTH_VALUE_MAX] = '\0';
	assert_int_equal(kw_wwwauth_format(&w, out, sizeof out, &n), 0);
}

static void test_bounds(void **state)
{
	char big[KW_WWWAUTH_VALUE_MAX + 1], out[KW_WWWAUTH_MAX];
	kw_wwwauth w;
	size_t n, need;

	(void)state;
	/* Every value at its largest, realm all quotes (escaped: doubled):
	 * still fits KW_WWWAUTH_MAX. */
	memset(big, '"', KW_WWWAUTH_VALUE_MAX);
	big[KW_WWWAUTH_VALUE_MAX] = '\0';
	w = (kw_wwwauth){ .realm = big };
	assert_int_equal(kw_wwwauth_format(&w, out, sizeof out, &n), 0);
	assert_int_equal(n, strlen("Bearer realm=\"\"") +
	                            2 * KW_WWWAUTH_VALUE_MAX);
	memset(big, 'a', KW_WWWAUTH_VALUE_MAX);
	w = (kw_wwwauth){ .realm = "r",
		          .error = KW_WWWAUTH_INSUFFICIENT_SCOPE,
		          .error_description = big,
		          .scope = big };
	assert_int_equal(kw_wwwauth_format(&w, out, sizeof out, &n), 0);
	need = n;
	/* One byte short of room for the NUL: refused, out untouched. */
	memcpy(out, "unchanged", 10);
	assert_int_equal(kw_wwwauth_format(&w, out, need, &n), KW_ETOOBIG);
	assert_string_equal(out, "unchanged");
	assert_int_equal(kw_wwwauth_format(&w, out, need + 1, &n), 0);
	assert_int_equal(n, need);
	assert_int_equal(kw_wwwauth_format(NULL, out, sizeof out, &n),
	                 KW_EINVAL);
}

static void test_metadata_url(void **state)
{
	static const struct {
		const char *in, *out;
	} v[] = {
		{ "https://h",
		  "https://h/.well-known/oauth-protected-resource" },
		{ "https://h/",
		  "https://h/.well-known/oauth-protected-resource" },
		{ "https://h:8443/mcp",
		  "https://h:8443/.well-known/oauth-protected-resource/mcp" },
		{ "https://h/a/b/",
		  "https://h/.well-known/oauth-protected-resource/a/b/" },
		{ "https://h/?t=1",
		  "https://h/.well-known/oauth-protected-resource?t=1" },
		{ "https://h?t=1",
		  "https://h/.well-known/oauth-protected-resource?t=1" },
		{ "http://localhost:3000/mcp",
		  "http://localhost:3000/.well-known/oauth-protected-resource/"
		  "mcp" },
		{ "https://h/mcp#x", NULL },
		{ "ftp://h/mcp", NULL },
		{ "https://", NULL },
		{ "https:///mcp", NULL },
		{ "https://h/a\nb", NULL },
		{ "", NULL },
	};
	char out[256];

	(void)state;
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		int r = kw_wwwauth_metadata_url(v[i].in, out, sizeof out);

		if (v[i].out && (r != 0 || strcmp(out, v[i].out) != 0))
			fail_msg("%s: %d", v[i].in, r);
		if (!v[i].out && r != KW_EINVAL)
			fail_msg("%s accepted", v[i].in);
	}
	assert_int_equal(kw_wwwauth_metadata_url("https://h/mcp", out, 50),
	                 KW_ETOOBIG);
	assert_int_equal(kw_wwwauth_metadata_url("https://h/mcp", out, 51), 0);
	assert_string_equal(
		out, "https://h/.well-known/oauth-protected-resource/mcp");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shapes),
		cmocka_unit_test(test_realm_escaping),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_metadata_url),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
