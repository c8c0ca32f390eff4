/*
 * test_oauth.c - the pure parts of the OAuth client (common/oauth.h): one
 * table per function, hostile inputs included. Every refusal is checked
 * for its code, for leaving the result alone and, where there is one, for
 * a why that names the field without quoting secrets.
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
#include "oauth.h"
#include "secmem.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Rows of the tables below (designated, so the fields a row leaves out
 * are zero without -Wmissing-field-initializers): input accepted; input
 * refused with code r and why containing why_; the same for the
 * metadata tables, which also take the issuer or resource to expect; and
 * refused where the function has no why. */
/* clang-format off */
#define ACCEPTED(in_)          { .in = (in_), .r = 0 }
#define REFUSED(in_, r_, why_) { .in = (in_), .r = (r_), .why = (why_) }
#define REFUSED_CODE(in_, r_)  { .in = (in_), .r = (r_) }
#define REFUSED_META(in_, expected_, r_, why_) \
	{ .in = (in_), .expected = (expected_), .r = (r_), .why = (why_) }
/* clang-format on */

/* A JSON token response with extra members after the required ones. */
#define TOK(extra) \
	"{\"access_token\":\"at-SECRET\",\"token_type\":\"Bearer\"" extra "}"

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* printf into a malloc'ed string. */
__attribute__((format(printf, 1, 2))) static char *fmt(const char *f, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, f);
	n = vsnprintf(NULL, 0, f, ap);
	va_end(ap);
	assert_true(n >= 0);
	s = malloc((size_t)n + 1);
	assert_non_null(s);
	va_start(ap, f);
	vsnprintf(s, (size_t)n + 1, f, ap);
	va_end(ap);
	return s;
}

/* ---- form encoding ------------------------------------------------------ */

static void test_form(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		const char *want;
	} v[] = {
		/* RFC 6749 appendix B's example. */
		{ " %&+\xc2\xa3\xe2\x82\xac", 9, "+%25%26%2B%C2%A3%E2%82%AC" },
		{ "azAZ09*-._", 10, "azAZ09*-._" },
		{ "~!'()", 5, "%7E%21%27%28%29" },
		{ "a\0b", 3, "a%00b" },
		{ "=&?#/:", 6, "%3D%26%3F%23%2F%3A" },
		{ "\x7f\xff\n", 3, "%7F%FF%0A" },
		{ "", 0, "" },
	};
	kw_form f = { 0 };
	char want[128];

	(void)state;
	for (size_t i = 0; i < N(v); i++) {
		assert_int_equal(kw_form_add(&f, "k", v[i].in, v[i].len), 0);
		snprintf(want, sizeof want, "k=%s", v[i].want);
		if (strcmp(f.buf, want) != 0)
			fail_msg("case %zu: %s, want %s", i, f.buf, want);
		assert_int_equal(f.len, strlen(want));
		kw_form_free(&f);
		assert_null(f.buf);
		assert_int_equal(f.len, 0);
	}
	/* Pairs joined by '&', keys encoded too. */
	assert_int_equal(kw_form_add(&f, "grant_type", "authorization_code",
	                             18),
	                 0);
	assert_int_equal(kw_form_add(&f, "a b", "c&d", 3), 0);
	assert_string_equal(f.buf, "grant_type=authorization_code&a+b=c%26d");
	kw_form_free(&f);
	kw_form_free(NULL);
	assert_int_equal(kw_form_add(&f, "", "x", 1), KW_EINVAL);
	assert_int_equal(kw_form_add(&f, NULL, "x", 1), KW_EINVAL);
	assert_int_equal(kw_form_add(&f, "k", NULL, 1), KW_EINVAL);
	assert_int_equal(kw_form_add(NULL, "k", "x", 1), KW_EINVAL);
	assert_null(f.buf);
}

static void test_form_bound(void **state)
{
	/* Each '%' costs 3 bytes: after "k=", 87380 of them leave 2 bytes of
	 * KW_FORM_MAX, too few for "&x=", and 87381 are too many. */
	size_t n = (KW_FORM_MAX - 2) / 3;
	char *big = repeat('%', n + 1);
	kw_form f = { 0 };

	(void)state;
	assert_int_equal(kw_form_add(&f, "k", big, n), 0);
	assert_int_equal(f.len, 2 + 3 * n);
	/* Refused, and f as it was. */
	assert_int_equal(kw_form_add(&f, "x", "", 0), KW_ETOOBIG);
	assert_int_equal(f.len, 2 + 3 * n);
	assert_int_equal(f.buf[f.len], '\0');
	kw_form_free(&f);
	assert_int_equal(kw_form_add(&f, "k", big, n + 1), KW_ETOOBIG);
	assert_null(f.buf);
	assert_int_equal(kw_form_add(&f, "k", big, KW_FORM_MAX + 1),
	                 KW_ETOOBIG);
	free(big);
}

/* ---- client_secret_basic ------------------------------------------------ */

static void test_basic(void **state)
{
	static const struct {
		const char *id, *secret;
		const char *want;
	} v[] = {
		/* RFC 6749 2.3.1's example. */
		{ "s6BhdRkqt3", "gX1fBat3bV",
		  "Authorization: Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW" },
		/* form("a b") ":" form("p:w%+é") = "a+b:p%3Aw%25%2B%C3%A9" */
		{ "a b", "p:w%+\xc3\xa9",
		  "Authorization: Basic YStiOnAlM0F3JTI1JTJCJUMzJUE5" },
		/* "id:" */
		{ "id", "", "Authorization: Basic aWQ6" },
	};
	char *h = (char *)"untouched", *big;

	(void)state;
	for (size_t i = 0; i < N(v); i++) {
		assert_int_equal(kw_oauth_basic(v[i].id, v[i].secret,
		                                strlen(v[i].secret), &h),
		                 0);
		assert_string_equal(h, v[i].want);
		kw_wipefree(h);
	}
	h = (char *)"untouched";
	assert_int_equal(kw_oauth_basic("", "s", 1, &h), KW_EINVAL);
	assert_int_equal(kw_oauth_basic(NULL, "s", 1, &h), KW_EINVAL);
	assert_int_equal(kw_oauth_basic("id", NULL, 1, &h), KW_EINVAL);
	assert_int_equal(kw_oauth_basic("id", "s", 1, NULL), KW_EINVAL);
	assert_int_equal(kw_oauth_basic("id", "s", KW_FORM_MAX + 1, &h),
	                 KW_ETOOBIG);
	/* "id:" and 87381 escapes: 3 bytes over KW_FORM_MAX. */
	big = repeat('%', KW_FORM_MAX / 3 + 1);
	assert_int_equal(kw_oauth_basic("id", big, KW_FORM_MAX / 3 - 1, &h), 0);
	kw_wipefree(h);
	h = (char *)"untouched";
	assert_int_equal(kw_oauth_basic("id", big, KW_FORM_MAX / 3 + 1, &h),
	                 KW_ETOOBIG);
	assert_string_equal(h, "untouched");
	free(big);
}

/* ---- token responses ---------------------------------------------------- */

struct token_case {
	const char *in;
	int r;
	const char *why; /* a substring of why on failure */
	int64_t expires_in;
	const char *scope; /* NULL: none */
	const char *refresh;
};

static void check_token(const struct token_case *c, size_t i)
{
	kw_oauth_token t = { .access_len = 777 };
	char why[160];
	int r = kw_oauth_token_parse(c->in, strlen(c->in), &t, why, sizeof why);

	if (r != c->r)
		fail_msg("case %zu: %d, want %d (%s)", i, r, c->r, why);
	if (r != 0) {
		if (!strstr(why, c->why))
			fail_msg("case %zu: why \"%s\" lacks \"%s\"", i, why,
			         c->why);
		/* Never a token's value in why, and ret untouched. */
		assert_null(strstr(why, "SECRET"));
		assert_null(t.access_token);
		assert_int_equal(t.access_len, 777);
		return;
	}
	assert_string_equal(t.access_token, "at-SECRET");
	assert_int_equal(t.access_len, 9);
	if (t.expires_in != c->expires_in)
		fail_msg("case %zu: expires_in %lld", i,
		         (long long)t.expires_in);
	assert_int_equal(t.has_scope, c->scope != NULL);
	if (c->scope)
		assert_string_equal(t.scope, c->scope);
	if (c->refresh) {
		assert_non_null(t.refresh_token);
		assert_string_equal(t.refresh_token, c->refresh);
		assert_int_equal(t.refresh_len, strlen(c->refresh));
	} else {
		assert_null(t.refresh_token);
	}
	kw_oauth_token_clear(&t);
	assert_null(t.access_token);
	assert_int_equal(t.expires_in, -1);
}

static void test_token(void **state)
{
	static const struct token_case v[] = {
		{ TOK(""), 0, NULL, -1, NULL, NULL },
		{ TOK(",\"expires_in\":3600,\"refresh_token\":\"rt-SECRET\","
		      "\"scope\":\"mcp:tools files:read\",\"id_token\":\"x.y\","
		      "\"unknown\":{\"a\":[1,2]}"),
		  0, NULL, 3600, "mcp:tools files:read", "rt-SECRET" },
		{ "{\"access_token\":\"at-SECRET\",\"token_type\":\"bearer\"}",
		  0, NULL, -1, NULL, NULL },
		{ "{\"token_type\":\"BEARER\",\"access_token\":\"at-SECRET\"}",
		  0, NULL, -1, NULL, NULL },
		/* token_type */
		REFUSED("{\"access_token\":\"at-SECRET\",\"token_type\":\"DPoP\"}",
		        KW_EINVAL, "token_type must be Bearer, not \"DPoP\""),
		REFUSED("{\"access_token\":\"at-SECRET\",\"token_type\":\"mac\"}",
		        KW_EINVAL, "not \"mac\""),
		REFUSED("{\"access_token\":\"at-SECRET\",\"token_type\":\"Bearer \"}",
		        KW_EINVAL, "token_type must be Bearer"),
		REFUSED("{\"access_token\":\"at-SECRET\",\"token_type\":\"Bearerx\"}",
		        KW_EINVAL, "token_type must be Bearer"),
		REFUSED("{\"access_token\":\"at-SECRET\"}", KW_EINVAL,
		        "token_type is missing"),
		REFUSED("{\"access_token\":\"at-SECRET\",\"token_type\":null}",
		        KW_EINVAL, "token_type is missing"),
		REFUSED("{\"access_token\":\"at-SECRET\",\"token_type\":1}",
		        KW_EINVAL, "token_type is not a string"),
		/* expires_in */
		REFUSED(TOK(",\"expires_in\":0"), KW_EINVAL,
		        "expires_in must be"),
		REFUSED(TOK(",\"expires_in\":-5"), KW_EINVAL,
		        "expires_in must be"),
		REFUSED(TOK(",\"expires_in\":1e30"), KW_EINVAL,
		        "expires_in is not an integer"),
		REFUSED(TOK(",\"expires_in\":3600.0"), KW_EINVAL,
		        "expires_in is not an integer"),
		REFUSED(TOK(",\"expires_in\":true"), KW_EINVAL,
		        "expires_in is not an integer"),
		{ TOK(",\"expires_in\":\"3600\""), 0, NULL, 3600, NULL, NULL },
		REFUSED(TOK(",\"expires_in\":\"36s\""), KW_EINVAL,
		        "expires_in is not an integer"),
		REFUSED(TOK(",\"expires_in\":\" 3600\""), KW_EINVAL,
		        "expires_in is not an integer"),
		REFUSED(TOK(",\"expires_in\":\"\""), KW_EINVAL,
		        "expires_in is not an integer"),
		REFUSED(TOK(",\"expires_in\":\"99999999999\""), KW_EINVAL,
		        "expires_in is not an integer"),
		REFUSED(TOK(",\"expires_in\":\"0\""), KW_EINVAL,
		        "expires_in must be"),
		{ TOK(",\"expires_in\":315360000"), 0, NULL, 315360000, NULL,
		  NULL },
		REFUSED(TOK(",\"expires_in\":315360001"), KW_EINVAL,
		        "expires_in must be"),
		REFUSED(TOK(",\"expires_in\":9223372036854775807"), KW_EINVAL,
		        "expires_in must be"),
		{ TOK(",\"expires_in\":null"), 0, NULL, -1, NULL, NULL },
		/* the tokens */
		REFUSED("{\"token_type\":\"Bearer\"}", KW_EINVAL,
		        "access_token is missing"),
		REFUSED("{\"access_token\":\"\",\"token_type\":\"Bearer\"}",
		        KW_EINVAL, "access_token is empty"),
		REFUSED("{\"access_token\":\"a SECRET\",\"token_type\":\"Bearer\"}",
		        KW_EINVAL, "access_token has a byte outside printable"),
		REFUSED("{\"access_token\":\"a\\u0001SECRET\",\"token_type\":"
		        "\"Bearer\"}",
		        KW_EINVAL, "access_token has a byte outside printable"),
		REFUSED("{\"access_token\":\"caf\\u00e9SECRET\",\"token_type\":"
		        "\"Bearer\"}",
		        KW_EINVAL, "access_token has a byte outside printable"),
		REFUSED("{\"access_token\":\"a\\u0000SECRET\",\"token_type\":"
		        "\"Bearer\"}",
		        KW_EINVAL, "not valid JSON"),
		REFUSED("{\"access_token\":7,\"token_type\":\"Bearer\"}",
		        KW_EINVAL, "access_token is not a string"),
		REFUSED(TOK(",\"refresh_token\":\"r\\tSECRET\""), KW_EINVAL,
		        "refresh_token has a byte outside printable"),
		REFUSED(TOK(",\"refresh_token\":\"\""), KW_EINVAL,
		        "refresh_token is empty"),
		{ TOK(",\"refresh_token\":null"), 0, NULL, -1, NULL, NULL },
		/* scope */
		{ TOK(",\"scope\":\"\""), 0, NULL, -1, "", NULL },
		REFUSED(TOK(",\"scope\":\"a  b\""), KW_EINVAL, "scope is not"),
		REFUSED(TOK(",\"scope\":\" a\""), KW_EINVAL, "scope is not"),
		REFUSED(TOK(",\"scope\":\"a\\\"b\""), KW_EINVAL,
		        "scope is not"),
		REFUSED(TOK(",\"scope\":[\"a\"]"), KW_EINVAL,
		        "scope is not a string"),
		/* the document */
		REFUSED("{\"access_token\":\"at-SECRET\",\"token_type\":\"Bearer\","
		        "\"access_token\":\"at-SECRET\"}",
		        KW_EINVAL, "a member appears twice"),
		REFUSED("[]", KW_EINVAL, "not a JSON object"),
		REFUSED("", KW_EINVAL, "not valid JSON"),
		REFUSED("{\"access_token\":\"at-SECRET\"", KW_EINVAL,
		        "not valid JSON"),
		REFUSED("access_token=at-SECRET&token_type=Bearer", KW_EINVAL,
		        "not valid JSON"),
		/* an error response given to the wrong parser */
		REFUSED("{\"error\":\"invalid_grant\"}", KW_EINVAL,
		        "error \"invalid_grant\""),
	};

	(void)state;
	for (size_t i = 0; i < N(v); i++)
		check_token(&v[i], i);
}

static void test_token_bounds(void **state)
{
	char *tok = repeat('t', KW_OAUTH_TOKEN_MAX + 1);
	char *scope = repeat('s', KW_OAUTH_SCOPE_MAX + 1);
	char *pad = repeat(' ', KW_OAUTH_JSON_MAX);
	kw_oauth_token t = { 0 };
	char why[128];
	char *body;

	(void)state;
	/* A token of KW_OAUTH_TOKEN_MAX bytes, then one more. */
	body = fmt("{\"access_token\":\"%.*s\",\"token_type\":\"Bearer\"}",
	           (int)KW_OAUTH_TOKEN_MAX, tok);
	assert_int_equal(kw_oauth_token_parse(body, strlen(body), &t, why,
	                                      sizeof why),
	                 0);
	assert_int_equal(t.access_len, KW_OAUTH_TOKEN_MAX);
	kw_oauth_token_clear(&t);
	free(body);
	body = fmt("{\"access_token\":\"%s\",\"token_type\":\"Bearer\"}", tok);
	assert_int_equal(kw_oauth_token_parse(body, strlen(body), &t, why,
	                                      sizeof why),
	                 KW_ETOOBIG);
	assert_non_null(strstr(why, "access_token is longer"));
	free(body);
	/* The scope. */
	body = fmt(TOK(",\"scope\":\"%.*s\""), (int)KW_OAUTH_SCOPE_MAX, scope);
	assert_int_equal(kw_oauth_token_parse(body, strlen(body), &t, why,
	                                      sizeof why),
	                 0);
	assert_int_equal(strlen(t.scope), KW_OAUTH_SCOPE_MAX);
	kw_oauth_token_clear(&t);
	free(body);
	body = fmt(TOK(",\"scope\":\"%s\""), scope);
	assert_int_equal(kw_oauth_token_parse(body, strlen(body), &t, why,
	                                      sizeof why),
	                 KW_ETOOBIG);
	free(body);
	/* The document: exactly KW_OAUTH_JSON_MAX bytes, then one more. */
	body = fmt(TOK("") "%s", pad);
	assert_int_equal(kw_oauth_token_parse(body, KW_OAUTH_JSON_MAX, &t, why,
	                                      sizeof why),
	                 0);
	kw_oauth_token_clear(&t);
	assert_int_equal(kw_oauth_token_parse(body, KW_OAUTH_JSON_MAX + 1, &t,
	                                      why, sizeof why),
	                 KW_ETOOBIG);
	assert_non_null(strstr(why, "larger than"));
	assert_null(t.access_token);
	free(body);
	/* Arguments; a NULL why is fine. */
	assert_int_equal(kw_oauth_token_parse(TOK(""), strlen(TOK("")), NULL,
	                                      why, sizeof why),
	                 KW_EINVAL);
	assert_int_equal(kw_oauth_token_parse(NULL, 3, &t, NULL, 0), KW_EINVAL);
	assert_int_equal(kw_oauth_token_parse("{}", 2, &t, NULL, 0), KW_EINVAL);
	kw_oauth_token_clear(NULL);
	free(tok);
	free(scope);
	free(pad);
}

/* ---- error responses ---------------------------------------------------- */

static void test_error(void **state)
{
	static const struct {
		const char *in;
		int r;
		const char *error, *description;
	} v[] = {
		{ "{\"error\":\"invalid_grant\"}", 0, "invalid_grant", "" },
		{ "{\"error\":\"invalid_grant\",\"error_description\":"
		  "\"The code has expired.\",\"error_uri\":\"https://x\"}",
		  0, "invalid_grant", "The code has expired." },
		/* Shown to users: '"', '\', controls and non-ASCII become
		 * '?', one per UTF-8 sequence. */
		{ "{\"error\":\"e\",\"error_description\":"
		  "\"say \\\"hi\\\" \\\\ caf\\u00e9 \\u20ac\\n\\u001b[2J\"}",
		  0, "e", "say ?hi? ? caf? ???[2J" },
		{ "{\"error\":\"e\",\"error_description\":42}", 0, "e", "" },
		{ "{\"error\":\"authorization_pending\",\"error_description\":"
		  "null}",
		  0, "authorization_pending", "" },
		{ "{\"error\":\"with space!\"}", 0, "with space!", "" },
		REFUSED_CODE("{\"error\":\"a\\\"b\"}", KW_EINVAL),
		REFUSED_CODE("{\"error\":\"a\\\\b\"}", KW_EINVAL),
		REFUSED_CODE("{\"error\":\"caf\\u00e9\"}", KW_EINVAL),
		REFUSED_CODE("{\"error\":\"\"}", KW_EINVAL),
		REFUSED_CODE("{\"error\":5}", KW_EINVAL),
		REFUSED_CODE("{\"error_description\":\"x\"}", KW_EINVAL),
		REFUSED_CODE("{\"error\":\"a\",\"error\":\"b\"}", KW_EINVAL),
		REFUSED_CODE("{\"error\":\"x\"", KW_EINVAL),
		REFUSED_CODE(
			"{\"error\":\"0123456789012345678901234567890123456789012345"
			"678901234567890123\"}",
			KW_ETOOBIG),
	};
	kw_oauth_error e;

	(void)state;
	for (size_t i = 0; i < N(v); i++) {
		memset(&e, 'u', sizeof e);
		int r = kw_oauth_error_parse(v[i].in, strlen(v[i].in), &e);

		if (r != v[i].r)
			fail_msg("case %zu: %d, want %d", i, r, v[i].r);
		if (r != 0) {
			assert_int_equal(e.error[0], 'u');
			continue;
		}
		assert_string_equal(e.error, v[i].error);
		assert_string_equal(e.description, v[i].description);
	}
}

static void test_error_cut(void **state)
{
	char *d = repeat('d', 2 * KW_OAUTH_DESC_MAX);
	char *body = fmt("{\"error\":\"e\",\"error_description\":\"%s\"}", d);
	char *big = repeat(' ', KW_OAUTH_JSON_MAX + 1);
	kw_oauth_error e;

	(void)state;
	assert_int_equal(kw_oauth_error_parse(body, strlen(body), &e), 0);
	assert_int_equal(strlen(e.description), KW_OAUTH_DESC_MAX);
	assert_int_equal(kw_oauth_error_parse(big, strlen(big), &e),
	                 KW_ETOOBIG);
	assert_int_equal(kw_oauth_error_parse("{}", 2, NULL), KW_EINVAL);
	free(d);
	free(body);
	free(big);
}

/* ---- authorization server metadata -------------------------------------- */

#define ISS "https://auth.example.com/tenant1"
#define META(extra) \
	"{\"issuer\":\"" ISS "\",\"token_endpoint\":\"" ISS "/token\"" extra "}"

static void test_as_meta(void **state)
{
	static const struct {
		const char *in;
		const char *expected; /* NULL: ISS */
		int r;
		const char *why;
		unsigned auth, grants;
		bool pkce, iss_param, cimd;
	} v[] = {
		{ META(""), NULL, 0, NULL, KW_OAUTH_AUTH_BASIC,
		  KW_OAUTH_GRANT_CODE, false, false, false },
		{ META(",\"authorization_endpoint\":\"" ISS "/authorize\","
		       "\"code_challenge_methods_supported\":[\"plain\","
		       "\"S256\"],"
		       "\"token_endpoint_auth_methods_supported\":[\"none\","
		       "\"private_key_jwt\",\"client_secret_post\"],"
		       "\"grant_types_supported\":[\"authorization_code\","
		       "\"refresh_token\",\"implicit\",\"urn:ietf:params:oauth:"
		       "grant-type:device_code\",\"client_credentials\"],"
		       "\"authorization_response_iss_parameter_supported\":true,"
		       "\"client_id_metadata_document_supported\":true,"
		       "\"response_types_supported\":[\"code\"]"),
		  NULL, 0, NULL, KW_OAUTH_AUTH_NONE | KW_OAUTH_AUTH_POST,
		  KW_OAUTH_GRANT_CODE | KW_OAUTH_GRANT_REFRESH |
		          KW_OAUTH_GRANT_DEVICE |
		          KW_OAUTH_GRANT_CLIENT_CREDENTIALS,
		  true, true, true },
		/* S256 is case-sensitive (RFC 7636 4.3). */
		{ META(",\"code_challenge_methods_supported\":[\"s256\"]"),
		  NULL, 0, NULL, KW_OAUTH_AUTH_BASIC, KW_OAUTH_GRANT_CODE,
		  false, false, false },
		{ META(",\"token_endpoint_auth_methods_supported\":[],"
		       "\"grant_types_supported\":[]"),
		  NULL, 0, NULL, 0, 0, false, false, false },
		{ META(",\"jwks_uri\":null,\"iss_parameter\":\"x\""), NULL, 0,
		  NULL, KW_OAUTH_AUTH_BASIC, KW_OAUTH_GRANT_CODE, false, false,
		  false },
		/* The issuer, byte for byte. */
		REFUSED_META(META(""), ISS "/", KW_EINVAL,
		             "is not the expected"),
		REFUSED_META("{\"issuer\":\"" ISS
		             "/\",\"token_endpoint\":\"" ISS "/token\"}",
		             NULL, KW_EINVAL, "is not the expected"),
		REFUSED_META(META(""), "https://AUTH.example.com/tenant1",
		             KW_EINVAL, "is not the expected"),
		REFUSED_META(META(""), "https://evil.example.com/tenant1",
		             KW_EINVAL,
		             "issuer \"" ISS "\" is not the expected"),
		REFUSED_META("{\"token_endpoint\":\"" ISS "/token\"}", NULL,
		             KW_EINVAL, "issuer is missing"),
		REFUSED_META("{\"issuer\":\"" ISS
		             "?x=1\",\"token_endpoint\":\"" ISS "/t\"}",
		             ISS "?x=1", KW_EINVAL, "issuer has a query"),
		REFUSED_META("{\"issuer\":\"" ISS
		             "#f\",\"token_endpoint\":\"" ISS "/t\"}",
		             ISS "#f", KW_EINVAL,
		             "issuer: the URL has a fragment"),
		REFUSED_META("{\"issuer\":\"" ISS "\",\"issuer\":\"" ISS "\","
		             "\"token_endpoint\":\"" ISS "/t\"}",
		             NULL, KW_EINVAL, "appears twice"),
		/* Endpoints. */
		REFUSED_META("{\"issuer\":\"" ISS "\"}", NULL, KW_EINVAL,
		             "token_endpoint is missing"),
		REFUSED_META("{\"issuer\":\"" ISS "\",\"token_endpoint\":\"\"}",
		             NULL, KW_EINVAL,
		             "token_endpoint: the URL is empty"),
		REFUSED_META(
			META(",\"authorization_endpoint\":\"javascript:alert(1)\""),
			NULL, KW_EINVAL,
			"authorization_endpoint: the URL is not"),
		REFUSED_META(
			META(",\"revocation_endpoint\":\"https://user@h/r\""),
			NULL, KW_EINVAL,
			"revocation_endpoint: the URL has userinfo"),
		REFUSED_META(META(",\"registration_endpoint\":\"/register\""),
		             NULL, KW_EINVAL,
		             "registration_endpoint: the URL is not"),
		REFUSED_META(META(",\"device_authorization_endpoint\":5"), NULL,
		             KW_EINVAL,
		             "device_authorization_endpoint is not a string"),
		REFUSED_META(META(",\"jwks_uri\":\"https://h/a b\""), NULL,
		             KW_EINVAL, "jwks_uri: the URL has a character"),
		/* Lists and flags. */
		REFUSED_META(
			META(",\"code_challenge_methods_supported\":\"S256\""),
			NULL, KW_EINVAL,
			"code_challenge_methods_supported is not an array"),
		REFUSED_META(
			META(",\"grant_types_supported\":[\"a\",1]"), NULL,
			KW_EINVAL,
			"grant_types_supported is not an array of strings"),
		REFUSED_META(
			META(",\"authorization_response_iss_parameter_supported\":"
		             "\"true\""),
			NULL, KW_EINVAL, "is not true or false"),
		REFUSED_META("[]", NULL, KW_EINVAL, "not a JSON object"),
	};
	kw_oauth_as_meta m;
	char why[200];

	(void)state;
	for (size_t i = 0; i < N(v); i++) {
		const char *exp = v[i].expected ? v[i].expected : ISS;
		int r;

		memset(&m, 'u', sizeof m);
		r = kw_oauth_as_meta_parse(v[i].in, strlen(v[i].in), exp, &m,
		                           why, sizeof why);
		if (r != v[i].r)
			fail_msg("case %zu: %d, want %d (%s)", i, r, v[i].r,
			         why);
		if (r != 0) {
			if (!strstr(why, v[i].why))
				fail_msg("case %zu: why \"%s\" lacks \"%s\"", i,
				         why, v[i].why);
			assert_int_equal(m.issuer[0], 'u');
			continue;
		}
		assert_string_equal(m.issuer, ISS);
		assert_string_equal(m.token_endpoint, ISS "/token");
		if (m.auth_methods != v[i].auth || m.grants != v[i].grants)
			fail_msg("case %zu: auth %u grants %u", i,
			         m.auth_methods, m.grants);
		assert_int_equal(m.pkce_s256, v[i].pkce);
		assert_int_equal(m.iss_parameter, v[i].iss_param);
		assert_int_equal(m.client_id_metadata, v[i].cimd);
		assert_string_equal(m.jwks_uri, "");
		assert_string_equal(m.device_authorization_endpoint, "");
	}
	assert_int_equal(kw_oauth_as_meta_parse(META(""), strlen(META("")),
	                                        NULL, &m, why, sizeof why),
	                 KW_EINVAL);
}

static void test_as_meta_bounds(void **state)
{
	char *path = repeat('p', KW_OAUTH_URL_MAX - strlen("https://h/"));
	char *pad = repeat(' ', KW_OAUTH_JSON_MAX);
	char *body, *url;
	kw_oauth_as_meta m;
	char why[128];

	(void)state;
	url = fmt("https://h/%s", path);
	body = fmt("{\"issuer\":\"%s\",\"token_endpoint\":\"%s\"}", url, url);
	assert_int_equal(kw_oauth_as_meta_parse(body, strlen(body), url, &m,
	                                        why, sizeof why),
	                 0);
	assert_string_equal(m.token_endpoint, url);
	free(body);
	body = fmt("{\"issuer\":\"%s\",\"token_endpoint\":\"%sx\"}", url, url);
	assert_int_equal(kw_oauth_as_meta_parse(body, strlen(body), url, &m,
	                                        why, sizeof why),
	                 KW_ETOOBIG);
	assert_non_null(strstr(why, "token_endpoint is longer"));
	free(body);
	body = fmt(META("") "%s", pad);
	assert_int_equal(kw_oauth_as_meta_parse(body, strlen(body), ISS, &m,
	                                        why, sizeof why),
	                 KW_ETOOBIG);
	free(body);
	free(url);
	free(path);
	free(pad);
}

static void test_well_known(void **state)
{
	static const struct {
		const char *issuer;
		const char *want[3]; /* OAUTH, OIDC_INSERT, OIDC_APPEND */
	} v[] = {
		{ "https://auth.example.com/tenant1",
		  { "https://auth.example.com/.well-known/"
		    "oauth-authorization-server/tenant1",
		    "https://auth.example.com/.well-known/openid-configuration/"
		    "tenant1",
		    "https://auth.example.com/tenant1/.well-known/"
		    "openid-configuration" } },
		{ "https://auth.example.com/tenant1/",
		  { "https://auth.example.com/.well-known/"
		    "oauth-authorization-server/tenant1",
		    "https://auth.example.com/.well-known/openid-configuration/"
		    "tenant1",
		    "https://auth.example.com/tenant1/.well-known/"
		    "openid-configuration" } },
		{ "https://auth.example.com",
		  { "https://auth.example.com/.well-known/"
		    "oauth-authorization-server",
		    "https://auth.example.com/.well-known/openid-configuration",
		    "https://auth.example.com/.well-known/"
		    "openid-configuration" } },
		{ "http://127.0.0.1:8080/",
		  { "http://127.0.0.1:8080/.well-known/"
		    "oauth-authorization-server",
		    "http://127.0.0.1:8080/.well-known/openid-configuration",
		    "http://127.0.0.1:8080/.well-known/openid-configuration" } },
		{ "https://h/a/b",
		  { "https://h/.well-known/oauth-authorization-server/a/b",
		    "https://h/.well-known/openid-configuration/a/b",
		    "https://h/a/b/.well-known/openid-configuration" } },
		{ "https://h?x", { NULL } },
		{ "https://h/#x", { NULL } },
		{ "ftp://h/", { NULL } },
		{ "", { NULL } },
	};
	static const enum kw_oauth_wellknown kinds[3] = {
		KW_OAUTH_WK_OAUTH, KW_OAUTH_WK_OIDC_INSERT,
		KW_OAUTH_WK_OIDC_APPEND
	};
	char out[256];

	(void)state;
	for (size_t i = 0; i < N(v); i++) {
		for (size_t k = 0; k < 3; k++) {
			int r = kw_oauth_well_known(v[i].issuer, kinds[k], out,
			                            sizeof out);

			if (!v[i].want[0]) {
				if (r != KW_EINVAL)
					fail_msg("%s accepted", v[i].issuer);
				continue;
			}
			if (r != 0 || strcmp(out, v[i].want[k]) != 0)
				fail_msg("%s kind %zu: %d %s", v[i].issuer, k,
				         r, out);
		}
	}
	/* 24 + 39 bytes and a NUL. */
	snprintf(out, sizeof(out), "untouched");
	assert_int_equal(kw_oauth_well_known("https://auth.example.com",
	                                     KW_OAUTH_WK_OAUTH, out, 63),
	                 KW_ETOOBIG);
	assert_string_equal(out, "untouched");
	assert_int_equal(kw_oauth_well_known("https://auth.example.com",
	                                     KW_OAUTH_WK_OAUTH, out, 64),
	                 0);
	assert_int_equal(kw_oauth_well_known("https://h",
	                                     (enum kw_oauth_wellknown)7, out,
	                                     sizeof out),
	                 KW_EINVAL);
}

static void test_discovery_order(void **state)
{
	enum kw_oauth_wellknown k[3];
	size_t n = 99;

	(void)state;
	/* The MCP specification's order, with a path... */
	assert_int_equal(kw_oauth_discovery_order("https://a.example/t1", k,
	                                          &n),
	                 0);
	assert_int_equal(n, 3);
	assert_int_equal(k[0], KW_OAUTH_WK_OAUTH);
	assert_int_equal(k[1], KW_OAUTH_WK_OIDC_INSERT);
	assert_int_equal(k[2], KW_OAUTH_WK_OIDC_APPEND);
	/* ... and without one. */
	n = 99;
	assert_int_equal(kw_oauth_discovery_order("https://a.example", k, &n),
	                 0);
	assert_int_equal(n, 2);
	assert_int_equal(k[0], KW_OAUTH_WK_OAUTH);
	assert_int_equal(k[1], KW_OAUTH_WK_OIDC_INSERT);
	n = 99;
	assert_int_equal(kw_oauth_discovery_order("https://a.example/", k, &n),
	                 0);
	assert_int_equal(n, 2);
	n = 99;
	assert_int_equal(kw_oauth_discovery_order("a.example/t1", k, &n),
	                 KW_EINVAL);
	assert_int_equal(n, 99);
}

/* ---- protected resource metadata ---------------------------------------- */

#define RES "https://mcp.example.com/mcp"
#define AS1 "https://auth.example.com"
#define RMETA(extra)                                                  \
	"{\"resource\":\"" RES "\",\"authorization_servers\":[\"" AS1 \
	"\"]" extra "}"

static void test_resource_meta(void **state)
{
	static const struct {
		const char *in;
		const char *expected; /* NULL: RES */
		int r;
		const char *why;
		size_t nservers;
		const char *scopes; /* NULL: none */
	} v[] = {
		{ RMETA(""), NULL, 0, NULL, 1, NULL },
		{ RMETA(",\"scopes_supported\":[\"files:read\",\"mcp\"],"
		        "\"bearer_methods_supported\":[\"header\"]"),
		  NULL, 0, NULL, 1, "files:read mcp" },
		{ RMETA(",\"scopes_supported\":[]"), NULL, 0, NULL, 1, NULL },
		{ "{\"resource\":\"" RES "\",\"authorization_servers\":[\"" AS1
		  "\",\"https://b\",\"https://c/t\",\"https://d\",\"https://e"
		  "\",\"https://f\",\"https://g\",\"https://h\"]}",
		  NULL, 0, NULL, 8, NULL },
		/* The resource, byte for byte. */
		REFUSED_META(RMETA(""), RES "/", KW_EINVAL,
		             "is not the expected"),
		REFUSED_META("{\"resource\":\"" RES
		             "/\",\"authorization_servers\":[\"" AS1 "\"]}",
		             NULL, KW_EINVAL, "is not the expected"),
		REFUSED_META(RMETA(""), "https://evil.example.com/mcp",
		             KW_EINVAL, "is not the expected"),
		REFUSED_META("{\"authorization_servers\":[\"" AS1 "\"]}", NULL,
		             KW_EINVAL, "resource is missing"),
		/* The servers. */
		REFUSED_META("{\"resource\":\"" RES "\"}", NULL, KW_EINVAL,
		             "authorization_servers is missing"),
		REFUSED_META("{\"resource\":\"" RES
		             "\",\"authorization_servers\":[]}",
		             NULL, KW_EINVAL, "authorization_servers is empty"),
		REFUSED_META("{\"resource\":\"" RES
		             "\",\"authorization_servers\":\"" AS1 "\"}",
		             NULL, KW_EINVAL,
		             "authorization_servers is not an array"),
		REFUSED_META(
			"{\"resource\":\"" RES
			"\",\"authorization_servers\":[\"" AS1
			"\",\"https://b\",\"https://c/t\",\"https://d\",\"https://e"
			"\",\"https://f\",\"https://g\",\"https://h\",\"https://i\"]}",
			NULL, KW_ETOOBIG, "more than 8"),
		REFUSED_META("{\"resource\":\"" RES
		             "\",\"authorization_servers\":[\"" AS1
		             "\",\"file:///etc\"]}",
		             NULL, KW_EINVAL,
		             "authorization_servers[1]: the URL is not"),
		REFUSED_META("{\"resource\":\"" RES
		             "\",\"authorization_servers\":[\"" AS1 "?a=b\"]}",
		             NULL, KW_EINVAL,
		             "authorization_servers[0] has a query"),
		REFUSED_META("{\"resource\":\"" RES
		             "\",\"authorization_servers\":[1]}",
		             NULL, KW_EINVAL,
		             "authorization_servers[0] is not a string"),
		/* Scopes. */
		REFUSED_META(RMETA(",\"scopes_supported\":[\"a b\"]"), NULL,
		             KW_EINVAL,
		             "scopes_supported[0] is not a scope token"),
		REFUSED_META(RMETA(",\"scopes_supported\":[\"a\",\"\"]"), NULL,
		             KW_EINVAL,
		             "scopes_supported[1] is not a scope token"),
		REFUSED_META(RMETA(",\"scopes_supported\":[\"a\",2]"), NULL,
		             KW_EINVAL,
		             "scopes_supported[1] is not a scope token"),
		REFUSED_META(RMETA(",\"scopes_supported\":\"a b\""), NULL,
		             KW_EINVAL, "scopes_supported is not an array"),
		REFUSED_META(RMETA(",\"resource\":\"" RES "\""), NULL,
		             KW_EINVAL, "appears twice"),
	};
	kw_oauth_resource_meta m;
	char why[200];

	(void)state;
	for (size_t i = 0; i < N(v); i++) {
		const char *exp = v[i].expected ? v[i].expected : RES;
		int r;

		memset(&m, 'u', sizeof m);
		r = kw_oauth_resource_meta_parse(v[i].in, strlen(v[i].in), exp,
		                                 &m, why, sizeof why);
		if (r != v[i].r)
			fail_msg("case %zu: %d, want %d (%s)", i, r, v[i].r,
			         why);
		if (r != 0) {
			if (!strstr(why, v[i].why))
				fail_msg("case %zu: why \"%s\" lacks \"%s\"", i,
				         why, v[i].why);
			assert_int_equal(m.resource[0], 'u');
			continue;
		}
		assert_string_equal(m.resource, RES);
		assert_int_equal(m.nservers, v[i].nservers);
		assert_string_equal(m.authorization_servers[0], AS1);
		assert_int_equal(m.has_scopes, v[i].scopes != NULL);
		if (v[i].scopes)
			assert_string_equal(m.scopes_supported, v[i].scopes);
	}
}

static void test_resource_meta_scopes_bound(void **state)
{
	/* 64-byte scope tokens: 63 of them joined are 63 * 65 - 1 = 4094
	 * bytes, 64 are 4159 (over KW_OAUTH_SCOPE_MAX). */
	char *tok = repeat('s', 64);
	char *list = malloc(80 * 67 + 1);
	kw_oauth_resource_meta m;
	char why[128];
	size_t o = 0;

	(void)state;
	assert_non_null(list);
	for (size_t i = 0; i < 80; i++)
		o += (size_t)snprintf(list + o, 80 * 67 + 1 - o, "%s\"%s\"",
		                      i ? "," : "", tok);
	for (size_t count = 63; count <= 64; count++) {
		char *body = fmt(RMETA(",\"scopes_supported\":[%.*s]"),
		                 (int)(count * 67 - 1), list);
		int r = kw_oauth_resource_meta_parse(body, strlen(body), RES,
		                                     &m, why, sizeof why);

		assert_int_equal(r, count == 63 ? 0 : KW_ETOOBIG);
		if (r == 0)
			assert_int_equal(strlen(m.scopes_supported), 4094);
		free(body);
	}
	free(list);
	free(tok);
}

/* ---- WWW-Authenticate --------------------------------------------------- */

static void test_challenge(void **state)
{
	static const struct {
		const char *in;
		int r;
		bool bearer;
		const char *error, *scope, *rm, *desc;
	} v[] = {
		{ "Bearer", 0, true, "", "", "", "" },
		{ "Bearer resource_metadata=\"https://mcp.example.com/"
		  ".well-known/oauth-protected-resource\", scope=\"files:read\"",
		  0, true, "", "files:read",
		  "https://mcp.example.com/.well-known/oauth-protected-resource",
		  "" },
		/* Two challenges; the Bearer one is second. */
		{ "Basic realm=\"x\", Bearer error=\"invalid_token\", "
		  "scope=\"a b\"",
		  0, true, "invalid_token", "a b", "", "" },
		/* Escaped quotes in a realm we skip, quoted-pairs unescaped
		 * in what we keep. */
		{ "Bearer realm=\"say \\\"hi\\\", Basic x=\\\"y\", "
		  "error=\"invalid_tok\\en\", "
		  "error_description=\"bad \\\"token\\\" \\\\ here\"",
		  0, true, "invalid_token", "", "", "bad ?token? ? here" },
		{ "Basic realm=\"a \\\"Bearer error=x\\\"\"", 0, false, "", "",
		  "", "" },
		/* RFC 9110 11.6.1's example, no Bearer in it. */
		{ "Newauth realm=\"apps\", type=1, title=\"Login to \\\"apps\\\"\", "
		  "Basic realm=\"simple\"",
		  0, false, "", "", "", "" },
		/* token68 and empty list elements. */
		{ ", Negotiate abc+/d==,, bearer ERROR=invalid_token ,, "
		  "Scope = \"x\" ,",
		  0, true, "invalid_token", "x", "", "" },
		/* The first Bearer challenge only. */
		{ "Bearer error=\"invalid_token\", Bearer error=\"other\"", 0,
		  true, "invalid_token", "", "", "" },
		{ "Bearer abc==", 0, true, "", "", "", "" },
		{ "Bearer\terror=\"x\"", 0, true, "x", "", "", "" },
		{ "DPoP algs=\"ES256\"", 0, false, "", "", "", "" },
		{ "Bearer error_description=\"caf\xc3\xa9 \x80\"", 0, true, "",
		  "", "", "caf? ?" },
		/* Malformed. */
		REFUSED_CODE("", KW_EINVAL),
		REFUSED_CODE(" , ", KW_EINVAL),
		REFUSED_CODE("Bearer error=\"x", KW_EINVAL),
		/* A token68 that happens to end in '='. */
		{ "Bearer error=", 0, true, "", "", "", "" },
		REFUSED_CODE("Bearer error=\"x\" scope=\"y\"", KW_EINVAL),
		REFUSED_CODE("Bearer,error=\"x\"", KW_EINVAL),
		REFUSED_CODE("Bearer error=\"a\"\r\nSet-Cookie: x=1",
		             KW_EINVAL),
		REFUSED_CODE("Bearer error=\"a\\", KW_EINVAL),
		REFUSED_CODE("Bearer error=\"a\x01\"", KW_EINVAL),
		{ "Basic ", 0, false, "", "", "", "" },
		REFUSED_CODE("Basic @@", KW_EINVAL),
		REFUSED_CODE("=Bearer", KW_EINVAL),
		REFUSED_CODE("Bearer error=\"x\", error=\"y\"", KW_EINVAL),
		REFUSED_CODE("Bearer Error=\"x\", error=\"x\"", KW_EINVAL),
		REFUSED_CODE("Bearer error=\"bad\\\"code\"", KW_EINVAL),
		REFUSED_CODE("Bearer scope=\"a  b\"", KW_EINVAL),
		REFUSED_CODE("Bearer scope=\"\"", KW_EINVAL),
		REFUSED_CODE("Bearer resource_metadata=\"ftp://h/x\"",
		             KW_EINVAL),
		REFUSED_CODE("Bearer resource_metadata=\"https://h/#x\"",
		             KW_EINVAL),
	};
	kw_oauth_challenge c;

	(void)state;
	for (size_t i = 0; i < N(v); i++) {
		int r;

		memset(&c, 'u', sizeof c);
		r = kw_oauth_challenge_parse(v[i].in, strlen(v[i].in), &c);
		if (r != v[i].r)
			fail_msg("case %zu: %d, want %d", i, r, v[i].r);
		if (r != 0) {
			assert_int_equal(c.error[0], 'u');
			continue;
		}
		assert_int_equal(c.bearer, v[i].bearer);
		assert_string_equal(c.error, v[i].error);
		assert_string_equal(c.scope, v[i].scope);
		assert_string_equal(c.resource_metadata, v[i].rm);
		assert_string_equal(c.description, v[i].desc);
	}
}

static void test_challenge_bounds(void **state)
{
	char *big = repeat('a', KW_OAUTH_WWWAUTH_MAX);
	char *err = repeat('e', KW_OAUTH_ERROR_MAX + 1);
	char *v;
	kw_oauth_challenge c;

	(void)state;
	memcpy(big, "Basic ", 6);
	assert_int_equal(kw_oauth_challenge_parse(big, KW_OAUTH_WWWAUTH_MAX,
	                                          &c),
	                 0);
	assert_int_equal(kw_oauth_challenge_parse(big, KW_OAUTH_WWWAUTH_MAX + 1,
	                                          &c),
	                 KW_ETOOBIG);
	v = fmt("Bearer error=\"%s\"", err);
	assert_int_equal(kw_oauth_challenge_parse(v, strlen(v), &c),
	                 KW_ETOOBIG);
	free(v);
	v = fmt("Bearer error=\"%.*s\"", (int)KW_OAUTH_ERROR_MAX, err);
	assert_int_equal(kw_oauth_challenge_parse(v, strlen(v), &c), 0);
	assert_int_equal(strlen(c.error), KW_OAUTH_ERROR_MAX);
	free(v);
	/* Not NUL-terminated: the length decides. */
	assert_int_equal(kw_oauth_challenge_parse("Bearer error=\"x\"XYZ", 16,
	                                          &c),
	                 0);
	assert_string_equal(c.error, "x");
	assert_int_equal(kw_oauth_challenge_parse(NULL, 0, &c), KW_EINVAL);
	assert_int_equal(kw_oauth_challenge_parse("Bearer", 6, NULL),
	                 KW_EINVAL);
	free(big);
	free(err);
}

/* ---- PKCE and state ----------------------------------------------------- */

static bool b64url_chars(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return false;
	return true;
}

static void test_pkce(void **state)
{
	static const char *const bad[] = {
		"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjX",  /* 42 */
		"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjX+", /* '+' */
		"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjX=", /* '=' */
		"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjX ", /* ' ' */
	};
	char v1[KW_OAUTH_VERIFIER_SIZE], v2[KW_OAUTH_VERIFIER_SIZE];
	char c1[KW_OAUTH_PKCE_CHALLENGE_SIZE], c2[KW_OAUTH_PKCE_CHALLENGE_SIZE];
	char s1[KW_OAUTH_STATE_SIZE], s2[KW_OAUTH_STATE_SIZE];
	char *long_v = repeat('~', 129);

	(void)state;
	/* RFC 7636 appendix B. */
	assert_int_equal(kw_oauth_pkce_challenge(
				 "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
				 43, c1),
	                 0);
	assert_string_equal(c1, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
	for (size_t i = 0; i < N(bad); i++) {
		snprintf(c1, sizeof(c1), "untouched");
		assert_int_equal(kw_oauth_pkce_challenge(bad[i], strlen(bad[i]),
		                                         c1),
		                 KW_EINVAL);
		assert_string_equal(c1, "untouched");
	}
	/* 43..128 unreserved characters; a NUL inside is not one. */
	assert_int_equal(kw_oauth_pkce_challenge(long_v, 128, c1), 0);
	assert_int_equal(kw_oauth_pkce_challenge(long_v, 129, c1), KW_EINVAL);
	assert_int_equal(
		kw_oauth_pkce_challenge(
			"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjX\0k", 44,
			c1),
		KW_EINVAL);
	/* Fresh pairs: 43 base64url characters, consistent, different. */
	assert_int_equal(kw_oauth_pkce(v1, c1), 0);
	assert_int_equal(kw_oauth_pkce(v2, c2), 0);
	assert_int_equal(strlen(v1), 43);
	assert_int_equal(strlen(c1), 43);
	assert_true(b64url_chars(v1) && b64url_chars(c1));
	assert_string_not_equal(v1, v2);
	assert_string_not_equal(c1, c2);
	assert_int_equal(kw_oauth_pkce_challenge(v1, 43, c2), 0);
	assert_string_equal(c1, c2);
	assert_int_equal(kw_oauth_random_state(s1), 0);
	assert_int_equal(kw_oauth_random_state(s2), 0);
	assert_int_equal(strlen(s1), 43);
	assert_true(b64url_chars(s1));
	assert_string_not_equal(s1, s2);
	free(long_v);
}

/* ---- the authorization request ------------------------------------------ */

#define CH "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"

static void test_authorize_url(void **state)
{
	static const char *const two[] = { "https://mcp.example.com/mcp",
		                           "https://b.example/x?y=1" };
	static const struct {
		const char *endpoint, *scope;
		size_t nres;
		const char *want;
	} v[] = {
		{ "https://a.example/authorize", "files:read mcp", 1,
		  "https://a.example/authorize?response_type=code&client_id="
		  "https%3A%2F%2Fapp.example%2Fclient.json&redirect_uri=http%3A"
		  "%2F%2F127.0.0.1%3A33418%2Fcallback&scope=files%3Aread+mcp&"
		  "resource=https%3A%2F%2Fmcp.example.com%2Fmcp&state=st-1&"
		  "code_challenge=" CH "&code_challenge_method=S256" },
		{ "https://a.example/authorize?tenant=x", NULL, 2,
		  "https://a.example/authorize?tenant=x&response_type=code&"
		  "client_id=https%3A%2F%2Fapp.example%2Fclient.json&"
		  "redirect_uri=http%3A%2F%2F127.0.0.1%3A33418%2Fcallback&"
		  "resource=https%3A%2F%2Fmcp.example.com%2Fmcp&resource=https"
		  "%3A%2F%2Fb.example%2Fx%3Fy%3D1&state=st-1&code_challenge=" CH
		  "&code_challenge_method=S256" },
		{ "https://a.example/authorize?", NULL, 0,
		  "https://a.example/authorize?response_type=code&client_id="
		  "https%3A%2F%2Fapp.example%2Fclient.json&redirect_uri=http%3A"
		  "%2F%2F127.0.0.1%3A33418%2Fcallback&state=st-1&"
		  "code_challenge=" CH "&code_challenge_method=S256" },
	};
	char *url;

	(void)state;
	for (size_t i = 0; i < N(v); i++) {
		url = NULL;
		assert_int_equal(kw_oauth_authorize_url(
					 v[i].endpoint,
					 "https://app.example/client.json",
					 "http://127.0.0.1:33418/callback",
					 v[i].scope, two, v[i].nres, "st-1", CH,
					 &url),
		                 0);
		assert_string_equal(url, v[i].want);
		free(url);
	}
}

static void test_authorize_url_refused(void **state)
{
	static const char *const res[] = { "https://mcp.example.com/mcp" };
	static const char *const bad_res[] = { "https://mcp.example.com/#x" };
	static const struct {
		const char *endpoint, *client_id, *redirect, *scope;
		const char *const *res;
		size_t nres;
		const char *state, *challenge;
	} v[] = {
		{ "a.example/authorize", "c", "http://127.0.0.1/cb", NULL, res,
		  1, "s", CH },
		{ "https://a.example/authorize#f", "c", "http://127.0.0.1/cb",
		  NULL, res, 1, "s", CH },
		{ "https://a.example/a", "", "http://127.0.0.1/cb", NULL, res,
		  1, "s", CH },
		{ "https://a.example/a", "c\n", "http://127.0.0.1/cb", NULL,
		  res, 1, "s", CH },
		{ "https://a.example/a", "c", "urn:ietf:wg:oauth:2.0:oob", NULL,
		  res, 1, "s", CH },
		{ "https://a.example/a", "c", "http://127.0.0.1/cb", "a  b",
		  res, 1, "s", CH },
		{ "https://a.example/a", "c", "http://127.0.0.1/cb", NULL,
		  bad_res, 1, "s", CH },
		{ "https://a.example/a", "c", "http://127.0.0.1/cb", NULL, NULL,
		  1, "s", CH },
		{ "https://a.example/a", "c", "http://127.0.0.1/cb", NULL, res,
		  1, "", CH },
		{ "https://a.example/a", "c", "http://127.0.0.1/cb", NULL, res,
		  1, "s\r\n", CH },
		{ "https://a.example/a", "c", "http://127.0.0.1/cb", NULL, res,
		  1, "s", "short" },
		{ "https://a.example/a", "c", "http://127.0.0.1/cb", NULL, res,
		  1, "s", CH "x" },
		{ "https://a.example/a", "c", "http://127.0.0.1/cb", NULL, res,
		  1, "s", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM" },
	};
	char *url = (char *)"untouched";

	(void)state;
	for (size_t i = 0; i < N(v); i++) {
		int r = kw_oauth_authorize_url(v[i].endpoint, v[i].client_id,
		                               v[i].redirect, v[i].scope,
		                               v[i].res, v[i].nres, v[i].state,
		                               v[i].challenge, &url);

		if (r != KW_EINVAL)
			fail_msg("case %zu: %d", i, r);
		assert_string_equal(url, "untouched");
	}
}

static void test_authorize_url_bound(void **state)
{
	/* 140 resources of ~2 KiB, each about 2.1 KiB encoded: too long. */
	char *path = repeat('r', 2000);
	char *one = fmt("https://mcp.example.com/%s", path);
	const char *many[140];
	char *url = (char *)"untouched";

	(void)state;
	for (size_t i = 0; i < N(many); i++)
		many[i] = one;
	assert_int_equal(kw_oauth_authorize_url("https://a/x", "c",
	                                        "http://127.0.0.1/cb", NULL,
	                                        many, 100, "s", CH, &url),
	                 0);
	assert_true(strlen(url) < KW_FORM_MAX);
	free(url);
	url = (char *)"untouched";
	assert_int_equal(kw_oauth_authorize_url("https://a/x", "c",
	                                        "http://127.0.0.1/cb", NULL,
	                                        many, N(many), "s", CH, &url),
	                 KW_ETOOBIG);
	assert_string_equal(url, "untouched");
	free(one);
	free(path);
}

/* ---- the callback ------------------------------------------------------- */

static void test_callback(void **state)
{
	static const struct {
		const char *in;
		int r;
		const char *why;
		const char *code, *state, *iss, *error, *desc;
	} v[] = {
		{ "code=SECRET-c1&state=st-1", 0, NULL, "SECRET-c1", "st-1",
		  NULL, "", "" },
		{ "state=st-1&code=SECRET%2Fc%2B1&iss=https%3A%2F%2Fa.example"
		  "&extra=1&extra=2&error_uri=x",
		  0, NULL, "SECRET/c+1", "st-1", "https://a.example", "", "" },
		{ "st%61te=a+b%20c&code=SECRET", 0, NULL, "SECRET", "a b c",
		  NULL, "", "" },
		{ "error=access_denied&error_description=The+user+said+%22no%22"
		  "+%E2%9C%8B&state=st-1",
		  0, NULL, NULL, "st-1", NULL, "access_denied",
		  "The user said ?no? ?" },
		/* Empty values count as omitted (RFC 6749 3.1). */
		{ "code=SECRET&state=&iss=&&state", 0, NULL, "SECRET", "", NULL,
		  "", "" },
		/* Given twice. */
		REFUSED("code=SECRET&state=a&state=b", KW_EINVAL,
		        "state is given twice"),
		REFUSED("code=SECRET&state=a&st%61te=a", KW_EINVAL,
		        "state is given twice"),
		REFUSED("code=SECRET&code=SECRET2", KW_EINVAL,
		        "code is given twice"),
		REFUSED("error=a&error=b", KW_EINVAL, "error is given twice"),
		REFUSED("code=SECRET&iss=https%3A%2F%2Fa&iss=https%3A%2F%2Fb",
		        KW_EINVAL, "iss is given twice"),
		/* What must be there, and what may not be together. */
		REFUSED("state=st-1", KW_EINVAL, "neither code nor error"),
		REFUSED("", KW_EINVAL, "neither code nor error"),
		REFUSED("code=SECRET&error=access_denied", KW_EINVAL,
		        "both code and error"),
		/* Bytes. */
		REFUSED("code=SECRET%zz", KW_EINVAL,
		        "code has a malformed %-escape"),
		REFUSED("code=SECRET%4", KW_EINVAL,
		        "code has a malformed %-escape"),
		REFUSED("c%x=1&code=SECRET", KW_EINVAL,
		        "a parameter name has a malformed"),
		REFUSED("code=SECRET%00x", KW_EINVAL, "code has a NUL byte"),
		REFUSED("code=SECRET%0Ax", KW_EINVAL,
		        "code has a byte outside"),
		REFUSED("code=SECRET+x", KW_EINVAL, "code has a byte outside"),
		REFUSED("code=SECRET&state=a%0Db", KW_EINVAL,
		        "state has a byte outside"),
		REFUSED("code=SECRET x", KW_EINVAL,
		        "the query has a byte outside"),
		REFUSED("code=SECRET\x80", KW_EINVAL,
		        "the query has a byte outside"),
		REFUSED("code=SECRET&iss=https%3A%2F%2Fa%23f", KW_EINVAL,
		        "iss: the URL has a fragment"),
		REFUSED("code=SECRET&iss=a.example", KW_EINVAL,
		        "iss: the URL is not"),
		REFUSED("error=bad%22code", KW_EINVAL,
		        "error has a byte outside"),
	};
	kw_oauth_callback cb;
	char why[128];

	(void)state;
	for (size_t i = 0; i < N(v); i++) {
		int r;

		memset(&cb, 'u', sizeof cb);
		cb.code = NULL;
		r = kw_oauth_callback_parse(v[i].in, strlen(v[i].in), &cb, why,
		                            sizeof why);
		if (r != v[i].r)
			fail_msg("case %zu: %d, want %d (%s)", i, r, v[i].r,
			         why);
		if (r != 0) {
			if (!strstr(why, v[i].why))
				fail_msg("case %zu: why \"%s\" lacks \"%s\"", i,
				         why, v[i].why);
			assert_null(strstr(why, "SECRET"));
			assert_int_equal(cb.state[0], 'u');
			assert_null(cb.code);
			continue;
		}
		if (v[i].code) {
			assert_non_null(cb.code);
			assert_string_equal(cb.code, v[i].code);
			assert_int_equal(cb.code_len, strlen(v[i].code));
		} else {
			assert_null(cb.code);
		}
		assert_string_equal(cb.state, v[i].state);
		assert_int_equal(cb.has_iss, v[i].iss != NULL);
		if (v[i].iss)
			assert_string_equal(cb.iss, v[i].iss);
		assert_string_equal(cb.error, v[i].error);
		assert_string_equal(cb.description, v[i].desc);
		kw_oauth_callback_clear(&cb);
		assert_null(cb.code);
	}
	kw_oauth_callback_clear(NULL);
}

static void test_callback_bounds(void **state)
{
	char *code = repeat('c', KW_OAUTH_TOKEN_MAX + 1);
	char *st = repeat('s', KW_OAUTH_STATE_MAX + 1);
	char *q;
	kw_oauth_callback cb = { 0 };
	char why[128];

	(void)state;
	q = fmt("code=%.*s", (int)KW_OAUTH_TOKEN_MAX, code);
	assert_int_equal(kw_oauth_callback_parse(q, strlen(q), &cb, why,
	                                         sizeof why),
	                 0);
	assert_int_equal(cb.code_len, KW_OAUTH_TOKEN_MAX);
	kw_oauth_callback_clear(&cb);
	free(q);
	q = fmt("code=%s", code);
	assert_int_equal(kw_oauth_callback_parse(q, strlen(q), &cb, why,
	                                         sizeof why),
	                 KW_ETOOBIG);
	assert_non_null(strstr(why, "code is longer"));
	free(q);
	q = fmt("code=c&state=%s", st);
	assert_int_equal(kw_oauth_callback_parse(q, strlen(q), &cb, why,
	                                         sizeof why),
	                 KW_ETOOBIG);
	free(q);
	q = repeat('a', KW_OAUTH_QUERY_MAX + 1);
	assert_int_equal(kw_oauth_callback_parse(q, strlen(q), &cb, why,
	                                         sizeof why),
	                 KW_ETOOBIG);
	assert_null(cb.code);
	free(q);
	assert_int_equal(kw_oauth_callback_parse("code=1", 6, NULL, why,
	                                         sizeof why),
	                 KW_EINVAL);
	free(code);
	free(st);
}

/* ---- device authorization ----------------------------------------------- */

#define DEV(extra)                                                        \
	"{\"device_code\":\"GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS\"," \
	"\"user_code\":\"WDJB-MJHT\",\"expires_in\":1800" extra "}"

static void test_device(void **state)
{
	static const struct {
		const char *in;
		int r;
		const char *why;
		const char *uri, *complete;
		int64_t interval;
	} v[] = {
		/* RFC 8628 3.2's example. */
		{ DEV(",\"verification_uri\":\"https://example.com/device\","
		      "\"verification_uri_complete\":\"https://example.com/"
		      "device?user_code=WDJB-MJHT\",\"interval\":5"),
		  0, NULL, "https://example.com/device",
		  "https://example.com/device?user_code=WDJB-MJHT", 5 },
		{ DEV(",\"verification_uri\":\"https://e/d\""), 0, NULL,
		  "https://e/d", "", 5 },
		{ DEV(",\"verification_url\":\"https://g/device\","
		      "\"interval\":\"10\""),
		  0, NULL, "https://g/device", "", 10 },
		{ DEV(",\"verification_uri\":\"https://e/d\",\"interval\":3600"),
		  0, NULL, "https://e/d", "", 3600 },
		REFUSED(DEV(",\"verification_uri\":\"https://e/d\",\"interval\":0"),
		        KW_EINVAL, "interval must be"),
		REFUSED(DEV(",\"verification_uri\":\"https://e/d\",\"interval\":3601"),
		        KW_EINVAL, "interval must be"),
		REFUSED(DEV(",\"verification_uri\":\"https://e/d\",\"interval\":1.5"),
		        KW_EINVAL, "interval is not an integer"),
		REFUSED(DEV(""), KW_EINVAL, "verification_uri is missing"),
		REFUSED(DEV(",\"verification_uri\":\"e/d\""), KW_EINVAL,
		        "verification_uri: the URL is not"),
		REFUSED(DEV(",\"verification_uri\":\"https://e/d\","
		            "\"verification_uri_complete\":\"https://e/d#x\""),
		        KW_EINVAL,
		        "verification_uri_complete: the URL has a fragment"),
		REFUSED("{\"user_code\":\"U\",\"expires_in\":5,\"verification_uri\":"
		        "\"https://e/d\"}",
		        KW_EINVAL, "device_code is missing"),
		REFUSED("{\"device_code\":\"d\\nSECRET\",\"user_code\":\"U\","
		        "\"expires_in\":5,\"verification_uri\":\"https://e/d\"}",
		        KW_EINVAL, "device_code has a byte outside"),
		REFUSED("{\"device_code\":\"d\",\"expires_in\":5,"
		        "\"verification_uri\":\"https://e/d\"}",
		        KW_EINVAL, "user_code is missing"),
		REFUSED("{\"device_code\":\"d\",\"user_code\":\"a\\u0007\","
		        "\"expires_in\":5,\"verification_uri\":\"https://e/d\"}",
		        KW_EINVAL, "user_code has a byte outside"),
		REFUSED("{\"device_code\":\"d\",\"user_code\":\"U\","
		        "\"verification_uri\":\"https://e/d\"}",
		        KW_EINVAL, "expires_in is missing"),
		REFUSED("{\"device_code\":\"d\",\"user_code\":\"U\",\"expires_in\":0,"
		        "\"verification_uri\":\"https://e/d\"}",
		        KW_EINVAL, "expires_in must be"),
		REFUSED("{\"device_code\":\"d\",\"user_code\":\"U\",\"expires_in\":"
		        "86401,\"verification_uri\":\"https://e/d\"}",
		        KW_EINVAL, "expires_in must be"),
	};
	kw_oauth_device d;
	char why[128];

	(void)state;
	for (size_t i = 0; i < N(v); i++) {
		int r;

		memset(&d, 'u', sizeof d);
		d.device_code = NULL;
		r = kw_oauth_device_parse(v[i].in, strlen(v[i].in), &d, why,
		                          sizeof why);
		if (r != v[i].r)
			fail_msg("case %zu: %d, want %d (%s)", i, r, v[i].r,
			         why);
		if (r != 0) {
			if (!strstr(why, v[i].why))
				fail_msg("case %zu: why \"%s\" lacks \"%s\"", i,
				         why, v[i].why);
			assert_null(strstr(why, "SECRET"));
			assert_null(d.device_code);
			assert_int_equal(d.user_code[0], 'u');
			continue;
		}
		assert_string_equal(
			d.device_code,
			"GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS");
		assert_int_equal(d.device_code_len, 41);
		assert_string_equal(d.user_code, "WDJB-MJHT");
		assert_string_equal(d.verification_uri, v[i].uri);
		assert_string_equal(d.verification_uri_complete, v[i].complete);
		assert_int_equal(d.expires_in, 1800);
		assert_int_equal(d.interval, v[i].interval);
		kw_oauth_device_clear(&d);
		assert_null(d.device_code);
	}
	kw_oauth_device_clear(NULL);
}

/* ---- URLs --------------------------------------------------------------- */

static void test_url_check(void **state)
{
	static const struct {
		const char *in;
		int r;
		const char *why;
	} v[] = {
		ACCEPTED("https://a.example"),
		ACCEPTED("HTTPS://A.example:8443/p/a-t_h.~x?q=1&r=%2F@:"),
		ACCEPTED("http://127.0.0.1:33418/callback"),
		ACCEPTED("http://[::1]:8080/cb"),
		{ "https://h?x=[", KW_EINVAL, "outside its host" },
		ACCEPTED("https://h/a'b(c)*+,;=!$"),
		ACCEPTED("https://h:65535"),
		ACCEPTED("https://h:00443/"),
		{ "", KW_EINVAL, "the URL is empty" },
		{ "ftp://h/", KW_EINVAL, "not http:// or https://" },
		{ "https:/h", KW_EINVAL, "not http:// or https://" },
		{ "//h/x", KW_EINVAL, "not http:// or https://" },
		{ "https://", KW_EINVAL, "no host" },
		{ "https:///x", KW_EINVAL, "no host" },
		{ "https://:443/", KW_EINVAL, "no host" },
		{ "https://u:p@h/", KW_EINVAL, "userinfo" },
		{ "https://h@evil/", KW_EINVAL, "userinfo" },
		{ "https://h/x#f", KW_EINVAL, "fragment" },
		{ "https://h/a b", KW_EINVAL, "outside RFC 3986" },
		{ "https://h/a\"b", KW_EINVAL, "outside RFC 3986" },
		{ "https://h/a<b>", KW_EINVAL, "outside RFC 3986" },
		{ "https://h/\x7f", KW_EINVAL, "outside RFC 3986" },
		{ "https://h/caf\xc3\xa9", KW_EINVAL, "outside RFC 3986" },
		{ "https://h/a\\b", KW_EINVAL, "outside RFC 3986" },
		{ "https://h/%", KW_EINVAL, "malformed %-escape" },
		{ "https://h/%2", KW_EINVAL, "malformed %-escape" },
		{ "https://h/%g0", KW_EINVAL, "malformed %-escape" },
		{ "https://h:0/", KW_EINVAL, "port" },
		{ "https://h:65536/", KW_EINVAL, "port" },
		{ "https://h:/", KW_EINVAL, "port" },
		{ "https://h:123456/", KW_EINVAL, "port" },
		{ "https://h:44x/", KW_EINVAL, "host" },
		{ "https://h!x/", KW_EINVAL, "host" },
		{ "https://h%41/", KW_EINVAL, "host" },
		{ "https://[::1/", KW_EINVAL, "IPv6" },
		{ "https://[]/", KW_EINVAL, "IPv6" },
		{ "https://[::g]/", KW_EINVAL, "IPv6" },
		{ "https://[::1]x/", KW_EINVAL, "host" },
		{ "https://h/[x]", KW_EINVAL, "outside its host" },
	};
	char why[100];

	(void)state;
	for (size_t i = 0; i < N(v); i++) {
		int r = kw_oauth_url_check(v[i].in, why, sizeof why);

		if (r != v[i].r)
			fail_msg("%s: %d, want %d (%s)", v[i].in, r, v[i].r,
			         why);
		if (r == 0)
			assert_string_equal(why, "");
		else if (!strstr(why, v[i].why))
			fail_msg("%s: why \"%s\" lacks \"%s\"", v[i].in, why,
			         v[i].why);
	}
	assert_int_equal(kw_oauth_url_check(NULL, why, sizeof why), KW_EINVAL);
	assert_int_equal(kw_oauth_url_check("https://h", NULL, 0), 0);
}

static void test_url_bound(void **state)
{
	char *path = repeat('a', KW_OAUTH_URL_MAX - 10);
	char *url = fmt("https://h/%s", path);
	char why[100];

	(void)state;
	assert_int_equal(strlen(url), KW_OAUTH_URL_MAX);
	assert_int_equal(kw_oauth_url_check(url, why, sizeof why), 0);
	free(url);
	url = fmt("https://h/%sa", path);
	assert_int_equal(kw_oauth_url_check(url, why, sizeof why), KW_ETOOBIG);
	assert_non_null(strstr(why, "longer than"));
	free(url);
	free(path);
}

static void test_same_origin(void **state)
{
	static const struct {
		const char *a, *b;
		bool same;
	} v[] = {
		{ "https://a.example/x", "https://a.example/y?z", true },
		{ "https://A.Example", "HTTPS://a.example:443/", true },
		{ "http://a.example", "http://a.example:80/p", true },
		{ "http://[::1]:8080/", "http://[::1]:08080", true },
		{ "https://a.example", "http://a.example", false },
		{ "https://a.example", "https://a.example:8443", false },
		{ "http://a.example:443", "https://a.example", false },
		{ "https://a.example", "https://b.example", false },
		{ "https://a.example", "https://a.example.evil", false },
		{ "https://a.example", "https://x@a.example", false },
		{ "https://a.example", "a.example", false },
		{ "https://a.example", NULL, false },
	};

	(void)state;
	for (size_t i = 0; i < N(v); i++) {
		if (kw_oauth_same_origin(v[i].a, v[i].b) != v[i].same)
			fail_msg("case %zu: %s %s", i, v[i].a, v[i].b);
		if (kw_oauth_same_origin(v[i].b, v[i].a) != v[i].same)
			fail_msg("case %zu reversed", i);
	}
}

static void test_canonical_resource(void **state)
{
	static const struct {
		const char *in, *out;
	} v[] = {
		/* The MCP specification's examples. */
		{ "https://mcp.example.com/mcp",
		  "https://mcp.example.com/mcp" },
		{ "https://mcp.example.com", "https://mcp.example.com" },
		{ "https://mcp.example.com:8443",
		  "https://mcp.example.com:8443" },
		{ "https://mcp.example.com/server/mcp",
		  "https://mcp.example.com/server/mcp" },
		{ "https://mcp.example.com/", "https://mcp.example.com" },
		{ "mcp.example.com", NULL },
		{ "https://mcp.example.com#fragment", NULL },
		/* Case, ports, escapes, slashes. */
		{ "HTTPS://MCP.Example.COM/MCP",
		  "https://mcp.example.com/MCP" },
		{ "https://h:443/mcp/", "https://h/mcp" },
		{ "http://h:80", "http://h" },
		{ "http://h:443", "http://h:443" },
		{ "https://h:08443/", "https://h:8443" },
		{ "https://h/a%2fb?q=%3d", "https://h/a%2Fb?q=%3D" },
		{ "https://h/a//", "https://h/a//" },
		{ "https://h/?q", "https://h?q" },
		{ "https://[::ABC]:443/x", "https://[::abc]/x" },
		{ "https://h/a/./b", NULL },
		{ "https://h/a/../b", NULL },
		{ "https://h/%2e%2E/b", NULL },
		{ "https://h/.../b", "https://h/.../b" },
		{ "https://u@h/", NULL },
	};
	char out[KW_OAUTH_URL_MAX + 1];

	(void)state;
	for (size_t i = 0; i < N(v); i++) {
		int r = kw_oauth_canonical_resource(v[i].in, out, sizeof out);

		if (v[i].out && (r != 0 || strcmp(out, v[i].out) != 0))
			fail_msg("%s: %d %s", v[i].in, r, out);
		if (!v[i].out && r != KW_EINVAL)
			fail_msg("%s accepted", v[i].in);
	}
	snprintf(out, sizeof(out), "untouched");
	assert_int_equal(kw_oauth_canonical_resource("https://h/mcp", out, 13),
	                 KW_ETOOBIG);
	assert_string_equal(out, "untouched");
	assert_int_equal(kw_oauth_canonical_resource("https://h/mcp", out, 14),
	                 0);
	assert_string_equal(out, "https://h/mcp");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_form),
		cmocka_unit_test(test_form_bound),
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_token),
		cmocka_unit_test(test_token_bounds),
		cmocka_unit_test(test_error),
		cmocka_unit_test(test_error_cut),
		cmocka_unit_test(test_as_meta),
		cmocka_unit_test(test_as_meta_bounds),
		cmocka_unit_test(test_well_known),
		cmocka_unit_test(test_discovery_order),
		cmocka_unit_test(test_resource_meta),
		cmocka_unit_test(test_resource_meta_scopes_bound),
		cmocka_unit_test(test_challenge),
		cmocka_unit_test(test_challenge_bounds),
		cmocka_unit_test(test_pkce),
		cmocka_unit_test(test_authorize_url),
		cmocka_unit_test(test_authorize_url_refused),
		cmocka_unit_test(test_authorize_url_bound),
		cmocka_unit_test(test_callback),
		cmocka_unit_test(test_callback_bounds),
		cmocka_unit_test(test_device),
		cmocka_unit_test(test_url_check),
		cmocka_unit_test(test_url_bound),
		cmocka_unit_test(test_same_origin),
		cmocka_unit_test(test_canonical_resource),
	};

	if (kw_secmem_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
