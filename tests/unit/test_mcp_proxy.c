/*
 * test_mcp_proxy.c - what keyward mcp proxy reads from JSON-RPC messages
 * (cli/mcp_proxy_msg.c): a client message's kind, id, method and the
 * values 2026-07-28 mirrors into headers (with the SDK's Mcp-Name
 * encoding), the error responses it writes, the id of a message too long
 * to read (found in pieces, past look-alikes in strings and nested
 * objects), and server messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mcp_proxy.h"
#include "secmem.h"

static struct pmsg *parse_ok(const char *text)
{
	struct pmsg *m = NULL;
	char *err = NULL, why[256] = "";

	if (pmsg_parse(text, strlen(text), &m, &err, why, sizeof(why)) != 0)
		fail_msg("refused (%s): %s", why, text);
	assert_null(err);
	assert_int_equal(m->len, strlen(text));
	assert_memory_equal(m->body, text, m->len);
	return m;
}

/* Refused; the error response written back (NULL for none). */
static char *parse_bad(const char *text, int want)
{
	struct pmsg *m = NULL;
	char *err = NULL, why[256] = "";

	assert_int_equal(pmsg_parse(text, strlen(text), &m, &err, why,
	                            sizeof(why)),
	                 want);
	assert_null(m);
	assert_true(why[0] != '\0');
	return err;
}

static void test_kinds(void **state)
{
	struct pmsg *m;

	(void)state;
	m = parse_ok("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\","
	             "\"params\":{}}");
	assert_int_equal(m->kind, PMSG_REQUEST);
	assert_true(m->initialize);
	assert_null(m->version);
	assert_null(m->name);
	pmsg_free(m);

	m = parse_ok("{\"jsonrpc\":\"2.0\",\"method\":"
	             "\"notifications/initialized\"}");
	assert_int_equal(m->kind, PMSG_NOTIFICATION);
	assert_true(m->initialized);
	assert_null(m->id);
	pmsg_free(m);

	m = parse_ok("{\"jsonrpc\":\"2.0\",\"method\":"
	             "\"notifications/cancelled\",\"params\":{\"requestId\":"
	             "\"r-7\",\"reason\":\"x\"}}");
	assert_string_equal(json_string_value(m->cancel_id), "r-7");
	pmsg_free(m);

	m = parse_ok("{\"jsonrpc\":\"2.0\",\"id\":\"s1\",\"result\":{}}");
	assert_int_equal(m->kind, PMSG_RESPONSE);
	assert_null(m->method);
	pmsg_free(m);

	/* A legacy tools/call mirrors nothing. */
	m = parse_ok("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\","
	             "\"params\":{\"name\":\"echo\"}}");
	assert_null(m->version);
	assert_null(m->name);
	pmsg_free(m);
}

#define META                                                      \
	"\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":" \
	"\"2026-07-28\"}"

static void test_mirrored(void **state)
{
	struct pmsg *m;

	(void)state;
	m = parse_ok("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\","
	             "\"params\":{\"name\":\"get_weather\"," META "}}");
	assert_string_equal(m->version, "2026-07-28");
	assert_string_equal(m->method, "tools/call");
	assert_string_equal(m->name, "get_weather");
	pmsg_free(m);

	m = parse_ok("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":"
	             "\"resources/read\",\"params\":{\"uri\":"
	             "\"file:///a b\"," META "}}");
	assert_string_equal(m->name, "file:///a b");
	pmsg_free(m);

	/* The spec's own examples of the encoding. */
	m = parse_ok(
		"{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"prompts/get\","
		"\"params\":{\"name\":\"Hello, \xe4\xb8\x96\xe7\x95\x8c\"," META
		"}}");
	assert_string_equal(m->name, "=?base64?SGVsbG8sIOS4lueVjA==?=");
	pmsg_free(m);

	m = parse_ok("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/list\","
	             "\"params\":{" META "}}");
	assert_string_equal(m->version, "2026-07-28");
	assert_null(m->name);
	pmsg_free(m);

	free(parse_bad("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"x\","
	               "\"params\":{\"_meta\":{\"io.modelcontextprotocol/"
	               "protocolVersion\":\"2026\\n07\"}}}",
	               KW_EINVAL));
}

static void test_encode(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "us-west1", "us-west1" },
		{ " padded ", "=?base64?IHBhZGRlZCA=?=" },
		{ "line1\nline2", "=?base64?bGluZTEKbGluZTI=?=" },
		{ "=?base64?literal?=", "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=" },
		{ "", "=?base64?"
		      "?=" }, /* no trigraph */
		{ "tab\tinside", "tab\tinside" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *e = pmsg_encode_value(cases[i].in, strlen(cases[i].in));

		assert_non_null(e);
		assert_string_equal(e, cases[i].out);
		free(e);
	}
	assert_true(pmsg_header_safe("2025-11-25", 64));
	assert_false(pmsg_header_safe("", 64));
	assert_false(pmsg_header_safe(" x", 64));
	assert_false(pmsg_header_safe("x\r", 64));
	assert_false(pmsg_header_safe("caf\xc3\xa9", 64));
	assert_false(pmsg_header_safe("abc", 2));
}

static void test_refused(void **state)
{
	char *e;

	(void)state;
	e = parse_bad("not json", KW_EPARSE);
	assert_non_null(strstr(e, "\"id\":null"));
	assert_non_null(strstr(e, "-32700"));
	free(e);
	e = parse_bad("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\"}]",
	              KW_EINVAL);
	assert_non_null(strstr(e, "batches"));
	free(e);
	/* A request answered with its own id. */
	e = parse_bad("{\"jsonrpc\":\"1.0\",\"id\":5,\"method\":\"x\"}",
	              KW_EINVAL);
	assert_non_null(strstr(e, "\"id\":5"));
	assert_non_null(strstr(e, "-32600"));
	free(e);
	e = parse_bad("{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"x\"}",
	              KW_EINVAL);
	assert_non_null(strstr(e, "\"id\":null"));
	free(e);
	/* Neither request nor response, with an id: nothing to answer. */
	assert_null(parse_bad("{\"jsonrpc\":\"2.0\",\"id\":5}", KW_EINVAL));
	e = parse_bad("42", KW_EINVAL);
	free(e);
}

static void test_error(void **state)
{
	json_t *id = json_integer(9);
	char *e = pmsg_error(id, PROXY_ERR_TRANSPORT, "down \"x\"", 503);

	(void)state;
	assert_string_equal(e, "{\"jsonrpc\":\"2.0\",\"id\":9,\"error\":{"
	                       "\"code\":-32000,\"message\":\"down \\\"x\\\"\","
	                       "\"data\":{\"httpStatus\":503}}}");
	free(e);
	e = pmsg_error(NULL, PROXY_ERR_PARSE, "p", 0);
	assert_string_equal(e, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{"
	                       "\"code\":-32700,\"message\":\"p\"}}");
	free(e);
	json_decref(id);
}

/* The id of text found when fed in pieces of every size. */
static void scan_expect(const char *text, const char *want)
{
	size_t n = strlen(text);

	for (size_t step = 1; step <= n; step++) {
		struct pmsg_idscan s = { 0 };
		json_t *id, *w;

		for (size_t i = 0; i < n; i += step)
			pmsg_idscan_feed(&s, text + i,
			                 n - i < step ? n - i : step);
		id = pmsg_idscan_id(&s);
		if (!want) {
			if (id)
				fail_msg("found an id in %s", text);
			continue;
		}
		w = json_loads(want, JSON_DECODE_ANY, NULL);
		if (!id || !json_equal(id, w))
			fail_msg("step %zu: wrong id in %s", step, text);
		json_decref(id);
		json_decref(w);
	}
}

static void test_idscan(void **state)
{
	(void)state;
	scan_expect(
		"{\"method\":\"x\",\"params\":{\"id\":5,\"s\":\"}\\\"id\\\":9"
		"\"},\"id\" : \"a\\\"b\" }",
		"\"a\\\"b\"");
	scan_expect("  {\"jsonrpc\":\"2.0\",\"id\":12345,\"method\":\"m\"}",
	            "12345");
	scan_expect("{\"params\":[{\"id\":1}],\"x\":\"id\",\"method\":\"m\"}",
	            NULL);
	scan_expect("{\"id\":{\"a\":1}}", NULL);
	scan_expect("{\"id\":null}", NULL);
	scan_expect("[{\"id\":1}]", NULL);
	scan_expect("{\"idx\":1,\"i\":2}", NULL);
}

static void test_server(void **state)
{
	struct smsg sm;
	const char *resp = "{\"result\":{},\"jsonrpc\":\"2.0\",\"id\":\"a\"}";
	const char *err = "{\"jsonrpc\":\"2.0\",\"id\":4,\"error\":{}}";
	const char *req = "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"ping\"}";

	(void)state;
	assert_int_equal(smsg_parse(resp, strlen(resp), &sm), 0);
	assert_true(sm.response && !sm.error);
	assert_string_equal(json_string_value(sm.id), "a");
	smsg_free(&sm);
	assert_int_equal(smsg_parse(err, strlen(err), &sm), 0);
	assert_true(sm.response && sm.error);
	smsg_free(&sm);
	assert_int_equal(smsg_parse(req, strlen(req), &sm), 0);
	assert_false(sm.response);
	assert_null(sm.id);
	smsg_free(&sm);
	assert_int_equal(smsg_parse("[1]", 3, &sm), KW_EINVAL);
	assert_int_equal(smsg_parse("{", 1, &sm), KW_EPARSE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kinds),  cmocka_unit_test(test_mirrored),
		cmocka_unit_test(test_encode), cmocka_unit_test(test_refused),
		cmocka_unit_test(test_error),  cmocka_unit_test(test_idscan),
		cmocka_unit_test(test_server),
	};
	if (kw_secmem_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
