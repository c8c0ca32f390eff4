/*
 * test_wire.c - JSON-RPC message helpers, the error table and base64
 * (common/wire.h, common/kwerr.h, kw_strerror/kw_error_name in keyward.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <limits.h>

#include "keyward.h"
#include "kwerr.h"
#include "secmem.h"
#include "wire.h"

/* docs/protocol.md, "Errors": C code, wire code, kind. */
static const struct {
	int err;
	int wire;
	const char *kind;
} error_table[] = {
	{ KW_EPARSE, -32700, "parse_error" },
	{ KW_EPROTO, -32600, "invalid_request" },
	{ KW_EMETHOD, -32601, "method_not_found" },
	{ KW_EINVAL, -32602, "invalid_params" },
	{ KW_EINTERNAL, -32603, "internal" },
	{ KW_ENOMEM, 1002, "no_memory" },
	{ KW_EIO, 1003, "io" },
	{ KW_ENOTFOUND, 1004, "not_found" },
	{ KW_EDENIED, 1005, "denied" },
	{ KW_ELOCKED, 1006, "locked" },
	{ KW_ENAME, 1007, "invalid_name" },
	{ KW_ETOOBIG, 1008, "too_big" },
	{ KW_ECONNECT, 1010, "connect" },
	{ KW_ETIMEOUT, 1011, "timeout" },
	{ KW_EBADPASS, 1012, "bad_passphrase" },
	{ KW_ECRYPTO, 1013, "crypto" },
	{ KW_ESTORE, 1014, "store" },
	{ KW_EEXIST, 1015, "exists" },
	{ KW_EPERM, 1016, "unsafe_permissions" },
	{ KW_ELIMIT, 1017, "limit" },
	{ KW_ECONFIG, 1018, "config" },
	{ KW_EBUSY, 1019, "busy" },
	{ KW_ERATE, 1020, "rate_limited" },
	{ KW_ECLOSED, 1021, "closed" },
	{ KW_ESTATE, 1024, "state" },
	{ KW_EREVOKED, 1026, "revoked" },
	{ KW_EEXPIRED, 1027, "expired" },
	{ KW_ETOKEN, 1028, "invalid_token" },
	{ KW_ESCOPE, 1029, "insufficient_scope" },
	{ KW_EUNKNOWN, 1030, "outcome_unknown" },
	{ KW_EDISKFULL, 1031, "disk_full" },
	{ KW_EROFS, 1032, "read_only" },
	{ KW_EDAMAGED, 1033, "damaged" },
};
#define N_ERRORS (sizeof(error_table) / sizeof(error_table[0]))

/*
 * A produced line: ret_len matches, exactly one '\n' and it is the last
 * byte. Parses it and returns the object (caller decrefs).
 */
static json_t *parse_line(const char *line, size_t len)
{
	json_error_t jerr;
	json_t *obj;

	assert_non_null(line);
	assert_true(len >= 2);
	assert_int_equal(strlen(line), len);
	assert_int_equal(line[len - 1], '\n');
	assert_ptr_equal(memchr(line, '\n', len), line + len - 1);
	assert_null(memchr(line, '\r', len));
	obj = json_loadb(line, len - 1, JSON_REJECT_DUPLICATES, &jerr);
	if (obj == NULL)
		fail_msg("produced line is not JSON: %s", jerr.text);
	assert_true(json_is_object(obj));
	assert_string_equal(json_string_value(json_object_get(obj, "jsonrpc")),
	                    "2.0");
	return obj;
}

static void assert_json_equal(const json_t *got, const json_t *want)
{
	if (!json_equal(got, want)) {
		char *g = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
		char *w = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY);

		fail_msg("got %s, want %s", g ? g : "NULL", w ? w : "NULL");
	}
}

static json_t *jparse(const char *text)
{
	json_error_t jerr;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);

	if (v == NULL)
		fail_msg("bad test JSON %s: %s", text, jerr.text);
	return v;
}

/* ---- messages ---------------------------------------------------------- */

static void test_dump(void **state)
{
	json_t *in = jparse("{\"a\": [1, 2, {\"b\": \"x\\ny\"}], \"c\": null}");
	char *line = NULL;
	size_t len = 0;
	json_t *out;
	json_error_t jerr;

	(void)state;
	assert_int_equal(kw_wire_dump(in, &line, &len), 0);
	assert_int_equal(strlen(line), len);
	assert_int_equal(line[len - 1], '\n');
	assert_ptr_equal(memchr(line, '\n', len), line + len - 1);
	/* Compact: no insignificant whitespace. */
	assert_null(memchr(line, ' ', len));
	out = json_loadb(line, len - 1, 0, &jerr);
	assert_non_null(out);
	assert_json_equal(out, in);
	/* Not stolen: still ours. */
	assert_int_equal(in->refcount, 1);
	json_decref(out);
	json_decref(in);
	kw_wipefree(line);
}

static void test_request(void **state)
{
	json_t *params = jparse("{\"name\":\"github/token\",\"version\":3}");
	json_t *want = json_deep_copy(params);
	char *line = NULL;
	size_t len = 0;
	json_t *obj;

	(void)state;
	assert_int_equal(kw_wire_request(7, "secret.get", params, &line, &len),
	                 0);
	obj = parse_line(line, len);
	assert_int_equal(json_object_size(obj), 4);
	assert_true(json_is_integer(json_object_get(obj, "id")));
	assert_int_equal(json_integer_value(json_object_get(obj, "id")), 7);
	assert_string_equal(json_string_value(json_object_get(obj, "method")),
	                    "secret.get");
	assert_json_equal(json_object_get(obj, "params"), want);
	json_decref(obj);
	json_decref(want);
	kw_wipefree(line);
}

static void test_request_defaults(void **state)
{
	const uint64_t big = (UINT64_C(1) << 53) + 1u;
	char *line = NULL;
	size_t len = 0;
	json_t *obj, *params;

	(void)state;
	assert_int_equal(kw_wire_request(big, "agent.status", NULL, &line,
	                                 &len),
	                 0);
	obj = parse_line(line, len);
	assert_int_equal(json_object_size(obj), 4);
	assert_true(json_integer_value(json_object_get(obj, "id")) ==
	            (json_int_t)big);
	params = json_object_get(obj, "params");
	assert_true(json_is_object(params));
	assert_int_equal(json_object_size(params), 0);
	json_decref(obj);
	kw_wipefree(line);
}

static void test_request_escapes_newlines(void **state)
{
	json_t *params = jparse("{\"value\":\"line1\\nline2\\r\\n\"}");
	char *line = NULL;
	size_t len = 0;
	json_t *obj;

	(void)state;
	assert_int_equal(kw_wire_request(1, "secret.put", params, &line, &len),
	                 0);
	obj = parse_line(line, len);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(obj, "params"), "value")),
	                    "line1\nline2\r\n");
	json_decref(obj);
	kw_wipefree(line);
}

static void test_result(void **state)
{
	json_t *id_int = json_integer(42);
	json_t *id_str = json_string("req-1");
	json_t *result, *obj;
	char *line = NULL;
	size_t len = 0;

	(void)state;
	result = jparse("{\"name\":\"a\",\"version\":1}");
	assert_int_equal(kw_wire_result(id_int, result, &line, &len), 0);
	obj = parse_line(line, len);
	assert_int_equal(json_object_size(obj), 3);
	assert_json_equal(json_object_get(obj, "id"), id_int);
	result = jparse("{\"name\":\"a\",\"version\":1}");
	assert_json_equal(json_object_get(obj, "result"), result);
	json_decref(result);
	json_decref(obj);
	kw_wipefree(line);
	/* The id is borrowed, not stolen. */
	assert_int_equal(id_int->refcount, 1);

	result = json_object();
	assert_int_equal(kw_wire_result(id_str, result, &line, &len), 0);
	obj = parse_line(line, len);
	assert_string_equal(json_string_value(json_object_get(obj, "id")),
	                    "req-1");
	assert_true(json_is_object(json_object_get(obj, "result")));
	assert_int_equal(json_object_size(json_object_get(obj, "result")), 0);
	json_decref(obj);
	kw_wipefree(line);
	assert_int_equal(id_str->refcount, 1);

	result = json_object();
	assert_int_equal(kw_wire_result(NULL, result, &line, &len), 0);
	obj = parse_line(line, len);
	assert_int_equal(json_object_size(obj), 3);
	assert_true(json_is_null(json_object_get(obj, "id")));
	json_decref(obj);
	kw_wipefree(line);

	json_decref(id_int);
	json_decref(id_str);
}

/* Check one error line: code, message, data.kind and the extra members. */
static void check_error_line(const char *line, size_t len, const json_t *id,
                             int wire, const char *msg, const char *kind,
                             size_t data_members)
{
	json_t *obj = parse_line(line, len);
	json_t *error, *data;

	assert_int_equal(json_object_size(obj), 3);
	if (id == NULL)
		assert_true(json_is_null(json_object_get(obj, "id")));
	else
		assert_json_equal(json_object_get(obj, "id"), id);
	assert_null(json_object_get(obj, "result"));
	error = json_object_get(obj, "error");
	assert_true(json_is_object(error));
	assert_int_equal(json_object_size(error), 3);
	assert_true(json_is_integer(json_object_get(error, "code")));
	assert_int_equal(json_integer_value(json_object_get(error, "code")),
	                 wire);
	assert_string_equal(json_string_value(
				    json_object_get(error, "message")),
	                    msg);
	data = json_object_get(error, "data");
	assert_true(json_is_object(data));
	assert_int_equal(json_object_size(data), data_members);
	assert_string_equal(json_string_value(json_object_get(data, "kind")),
	                    kind);
	json_decref(obj);
}

static void test_error_every_code(void **state)
{
	json_t *id = json_integer(5);

	(void)state;
	for (size_t i = 0; i < N_ERRORS; i++) {
		char *line = NULL;
		size_t len = 0;

		assert_int_equal(kw_wire_error(id, error_table[i].err, NULL,
		                               NULL, &line, &len),
		                 0);
		check_error_line(line, len, id, error_table[i].wire,
		                 kw_strerror(error_table[i].err),
		                 error_table[i].kind, 1);
		kw_wipefree(line);
	}
	assert_int_equal(id->refcount, 1);
	json_decref(id);
}

static void test_error_message_and_extra(void **state)
{
	const char *msg = "name: segments must not be '.' or '..'";
	json_t *id = json_string("x");
	json_t *extra;
	char *line = NULL;
	size_t len = 0;
	json_t *obj, *data;

	(void)state;
	extra = jparse("{\"field\":\"name\"}");
	assert_int_equal(kw_wire_error(id, KW_ENAME, msg, extra, &line, &len),
	                 0);
	check_error_line(line, len, id, 1007, msg, "invalid_name", 2);
	obj = parse_line(line, len);
	data = json_object_get(json_object_get(obj, "error"), "data");
	assert_string_equal(json_string_value(json_object_get(data, "field")),
	                    "name");
	json_decref(obj);
	kw_wipefree(line);

	extra = jparse("{\"retry_after_ms\":250}");
	assert_int_equal(kw_wire_error(NULL, KW_ERATE, "too many requests",
	                               extra, &line, &len),
	                 0);
	check_error_line(line, len, NULL, 1020, "too many requests",
	                 "rate_limited", 2);
	obj = parse_line(line, len);
	data = json_object_get(json_object_get(obj, "error"), "data");
	assert_int_equal(json_integer_value(
				 json_object_get(data, "retry_after_ms")),
	                 250);
	json_decref(obj);
	kw_wipefree(line);

	/* A newline in a message is escaped, never framed. */
	assert_int_equal(kw_wire_error(NULL, KW_EPARSE, "bad\nline", NULL,
	                               &line, &len),
	                 0);
	check_error_line(line, len, NULL, -32700, "bad\nline", "parse_error",
	                 1);
	kw_wipefree(line);
	json_decref(id);
}

static void test_notification(void **state)
{
	json_t *params = jparse("{\"name\":\"github/token\",\"version\":4}");
	json_t *want = json_deep_copy(params);
	char *line = NULL;
	size_t len = 0;
	json_t *obj;

	(void)state;
	assert_int_equal(kw_wire_notification("secret.rotated", params, &line,
	                                      &len),
	                 0);
	obj = parse_line(line, len);
	assert_int_equal(json_object_size(obj), 3);
	assert_null(json_object_get(obj, "id"));
	assert_string_equal(json_string_value(json_object_get(obj, "method")),
	                    "secret.rotated");
	assert_json_equal(json_object_get(obj, "params"), want);
	json_decref(obj);
	json_decref(want);
	kw_wipefree(line);
}

/* ---- error table -------------------------------------------------------- */

static void test_wire_codes(void **state)
{
	(void)state;
	/* Every code KW_EINVAL..KW_EINTERNAL appears in the table once. */
	assert_int_equal(N_ERRORS, (size_t)(-KW_ERROR_MIN));
	for (int e = KW_EINVAL; e >= KW_ERROR_MIN; e--) {
		size_t seen = 0;

		for (size_t i = 0; i < N_ERRORS; i++)
			seen += error_table[i].err == e;
		assert_int_equal(seen, 1);
	}

	for (size_t i = 0; i < N_ERRORS; i++) {
		int e = error_table[i].err;
		int w = error_table[i].wire;

		if (kwerr_to_wire(e) != w)
			fail_msg("kwerr_to_wire(%d) = %d, want %d", e,
			         kwerr_to_wire(e), w);
		if (w > 0)
			assert_int_equal(w, 1000 - e);
		assert_int_equal(kwerr_from_wire(w), e);
		assert_true(kwerr_known(e));
	}
	assert_int_equal(KW_RPC_PARSE_ERROR, -32700);
	assert_int_equal(KW_RPC_INVALID_REQUEST, -32600);
	assert_int_equal(KW_RPC_METHOD_NOT_FOUND, -32601);
	assert_int_equal(KW_RPC_INVALID_PARAMS, -32602);
	assert_int_equal(KW_RPC_INTERNAL_ERROR, -32603);
}

static void test_wire_round_trip(void **state)
{
	(void)state;
	for (int e = KW_EINVAL; e >= KW_ERROR_MIN; e--)
		assert_int_equal(kwerr_from_wire(kwerr_to_wire(e)), e);
}

static void test_unknown_codes(void **state)
{
	/*
	 * 1001, 1009, 1022, 1023 and 1025 are what "1000 - code" would give
	 * the five codes that use JSON-RPC numbers: they are not on the wire.
	 */
	static const int unknown_wire[] = {
		0,      1,      -1,     42,     999,     1000,    1001,
		1009,   1022,   1023,   1025,   1034,    2000,    -32000,
		-32099, -32604, -32699, -32701, INT_MIN, INT_MAX,
	};
	static const int unknown_err[] = { 1, 34, -34, -100, INT_MIN, INT_MAX };

	(void)state;
	for (size_t i = 0; i < sizeof(unknown_wire) / sizeof(int); i++)
		if (kwerr_from_wire(unknown_wire[i]) != KW_EPROTO)
			fail_msg("kwerr_from_wire(%d) = %d, want KW_EPROTO",
			         unknown_wire[i],
			         kwerr_from_wire(unknown_wire[i]));
	for (size_t i = 0; i < sizeof(unknown_err) / sizeof(int); i++) {
		assert_false(kwerr_known(unknown_err[i]));
		assert_int_equal(kwerr_to_wire(unknown_err[i]),
		                 KW_RPC_INTERNAL_ERROR);
		assert_non_null(kw_strerror(unknown_err[i]));
	}
	assert_false(kwerr_known(KW_OK));
}

static void test_strerror(void **state)
{
	(void)state;
	for (int e = KW_EINVAL; e >= KW_ERROR_MIN; e--) {
		const char *s = kw_strerror(e);

		assert_non_null(s);
		assert_true(strlen(s) > 0);
		assert_null(strchr(s, '\n'));
		for (int o = e - 1; o >= KW_ERROR_MIN; o--)
			if (strcmp(s, kw_strerror(o)) == 0)
				fail_msg("kw_strerror(%d) == kw_strerror(%d)",
				         e, o);
	}
	assert_non_null(kw_strerror(KW_OK));
	assert_non_null(kw_strerror(-30));
	assert_non_null(kw_strerror(INT_MIN));
	assert_non_null(kw_strerror(INT_MAX));
}

static void test_error_names(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ERRORS; i++) {
		const char *n = kw_error_name(error_table[i].err);

		assert_non_null(n);
		assert_string_equal(n, error_table[i].kind);
	}
}

/* ---- base64 ------------------------------------------------------------- */

/* RFC 4648 section 10. */
static const struct {
	const char *bin;
	const char *text;
} rfc4648[] = {
	{ "", "" },
	{ "f", "Zg==" },
	{ "fo", "Zm8=" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

static void test_b64_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
		const char *bin = rfc4648[i].bin, *text = rfc4648[i].text;
		char *enc = NULL;
		uint8_t *dec = NULL;
		size_t dlen = SIZE_MAX;

		assert_int_equal(kw_b64_encode((const uint8_t *)bin,
		                               strlen(bin), &enc),
		                 0);
		assert_non_null(enc);
		assert_string_equal(enc, text);
		kw_wipefree(enc);

		assert_int_equal(kw_b64_decode(text, strlen(text), 1024, &dec,
		                               &dlen),
		                 0);
		assert_non_null(dec);
		assert_int_equal(dlen, strlen(bin));
		assert_memory_equal(dec, bin, dlen);
		kw_wipefree(dec);
	}
}

static void test_b64_round_trip(void **state)
{
	uint8_t bin[600];

	(void)state;
	for (size_t i = 0; i < sizeof(bin); i++)
		bin[i] = (uint8_t)(i * 167u + 13u);
	bin[0] = 0x00;
	bin[1] = 0xff;
	for (size_t n = 0; n <= sizeof(bin); n += (n < 70 ? 1 : 53)) {
		char *enc = NULL;
		uint8_t *dec = NULL;
		size_t dlen = 0;

		assert_int_equal(kw_b64_encode(bin, n, &enc), 0);
		assert_int_equal(strlen(enc), (n + 2) / 3 * 4);
		assert_int_equal(kw_b64_decode(enc, strlen(enc), n, &dec,
		                               &dlen),
		                 0);
		assert_int_equal(dlen, n);
		if (n > 0)
			assert_memory_equal(dec, bin, n);
		kw_wipefree(dec);
		kw_wipefree(enc);
	}
}

static void test_b64_max(void **state)
{
	uint8_t *dec = NULL;
	size_t dlen = 0;

	(void)state;
	assert_int_equal(kw_b64_decode("Zm9vYmFy", 8, 6, &dec, &dlen), 0);
	assert_int_equal(dlen, 6);
	kw_wipefree(dec);

	dec = (uint8_t *)"sentinel";
	dlen = 77;
	assert_int_equal(kw_b64_decode("Zm9vYmFy", 8, 5, &dec, &dlen),
	                 KW_ETOOBIG);
	assert_int_equal(kw_b64_decode("Zm9vYg==", 8, 3, &dec, &dlen),
	                 KW_ETOOBIG);
	assert_int_equal(kw_b64_decode("Zg==", 4, 0, &dec, &dlen), KW_ETOOBIG);
	assert_string_equal((const char *)dec, "sentinel");
	assert_int_equal(dlen, 77);

	/* Empty input with max 0 is fine, and still gives a buffer. */
	dec = NULL;
	assert_int_equal(kw_b64_decode("", 0, 0, &dec, &dlen), 0);
	assert_non_null(dec);
	assert_int_equal(dlen, 0);
	kw_wipefree(dec);

	/* Any max is a valid bound: arithmetic on it must not wrap. */
	assert_int_equal(kw_b64_decode("Zm9vYmFy", 8, SIZE_MAX, &dec, &dlen),
	                 0);
	assert_int_equal(dlen, 6);
	assert_memory_equal(dec, "foobar", 6);
	kw_wipefree(dec);
	assert_int_equal(kw_b64_decode("Zm9v", 4, SIZE_MAX - 1, &dec, &dlen),
	                 0);
	assert_int_equal(dlen, 3);
	kw_wipefree(dec);

	/* text_len bounds the input; bytes after it are not read as data. */
	assert_int_equal(kw_b64_decode("Zm9v!!!!", 4, 16, &dec, &dlen), 0);
	assert_int_equal(dlen, 3);
	assert_memory_equal(dec, "foo", 3);
	kw_wipefree(dec);
}

/* A literal with its length, so that embedded NULs count. */
/* clang-format off */
#define TEXT(s) { (s), sizeof(s) - 1u }
/* clang-format on */

static const struct {
	const char *text;
	size_t len;
} bad_b64[] = {
	/* unpadded, short or excess padding */
	TEXT("Z"),
	TEXT("Zg"),
	TEXT("Zg="),
	TEXT("Zm8"),
	TEXT("Zm9vY"),
	TEXT("Zm9vYg"),
	TEXT("Zm9vYmF"),
	TEXT("Zg==="),
	TEXT("Zg===="),
	TEXT("===="),
	TEXT("Z==="),
	/* padding anywhere but the end */
	TEXT("=Zg="),
	TEXT("Zm=v"),
	TEXT("Zg==Zg=="),
	/* non-zero trailing bits: decodes, but is not canonical */
	TEXT("Zh=="),
	TEXT("Zm9="),
	/* whitespace, garbage, URL-safe alphabet, NUL, non-ASCII */
	TEXT("Zm9v\n"),
	TEXT("Zm9v\r\n"),
	TEXT(" Zm9v"),
	TEXT("Zm9 v"),
	TEXT("Zm9v!"),
	TEXT("Zm9-"),
	TEXT("Zm9_"),
	TEXT("Zm\0v"),
	TEXT("Zm9\xc3\xa9"),
	/* bytes from 0x80 up in a length that fits (libsodium 1.0.18 reads
	 * each as '/'; found by tests/fuzz/fuzz_base64) */
	TEXT("Zm9\xff"),
	TEXT("Zm\xc3\xa9"),
	TEXT("\x80\x80\x80\x80"),
};

static void test_b64_rejects(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_b64) / sizeof(bad_b64[0]); i++) {
		uint8_t *dec = (uint8_t *)"sentinel";
		size_t dlen = 77;
		int rc = kw_b64_decode(bad_b64[i].text, bad_b64[i].len, 1024,
		                       &dec, &dlen);

		if (rc != KW_EINVAL)
			fail_msg("bad base64 #%zu gave %d, want KW_EINVAL", i,
			         rc);
		assert_string_equal((const char *)dec, "sentinel");
		assert_int_equal(dlen, 77);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dump),
		cmocka_unit_test(test_request),
		cmocka_unit_test(test_request_defaults),
		cmocka_unit_test(test_request_escapes_newlines),
		cmocka_unit_test(test_result),
		cmocka_unit_test(test_error_every_code),
		cmocka_unit_test(test_error_message_and_extra),
		cmocka_unit_test(test_notification),
		cmocka_unit_test(test_wire_codes),
		cmocka_unit_test(test_wire_round_trip),
		cmocka_unit_test(test_unknown_codes),
		cmocka_unit_test(test_strerror),
		cmocka_unit_test(test_error_names),
		cmocka_unit_test(test_b64_vectors),
		cmocka_unit_test(test_b64_round_trip),
		cmocka_unit_test(test_b64_max),
		cmocka_unit_test(test_b64_rejects),
	};

	if (kw_secmem_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
