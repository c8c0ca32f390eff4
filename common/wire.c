/*
 * wire.c - JSON-RPC 2.0 messages and base64 (see wire.h, docs/protocol.md).
 */
#include "wire.h"

#include <sodium.h>
#include <string.h>

#include "keyward.h"
#include "kwerr.h"
#include "secmem.h"

int kw_wire_dump(const json_t *obj, char **ret_line, size_t *ret_len)
{
	size_t n = json_dumpb(obj, NULL, 0, JSON_COMPACT);
	if (n == 0)
		return KW_ENOMEM;
	char *line = kw_wipealloc(n + 2);
	if (!line)
		return KW_ENOMEM;
	if (json_dumpb(obj, line, n, JSON_COMPACT) != n) {
		kw_wipefree(line);
		return KW_EINTERNAL;
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	*ret_line = line;
	*ret_len = n + 1;
	return 0;
}

/* Dump msg (stolen) and release it. */
static int wire_finish(json_t *msg, char **ret_line, size_t *ret_len)
{
	if (!msg)
		return KW_ENOMEM;
	int r = kw_wire_dump(msg, ret_line, ret_len);
	json_decref(msg);
	return r;
}

int kw_wire_request(uint64_t id, const char *method, json_t *params,
                    char **ret_line, size_t *ret_len)
{
	if (!params)
		params = json_object();
	json_t *msg =
		json_pack("{s:s, s:I, s:s, s:o}", "jsonrpc", "2.0", "id",
	                  (json_int_t)id, "method", method, "params", params);
	return wire_finish(msg, ret_line, ret_len);
}

static json_t *wire_id(const json_t *id)
{
	return id ? json_deep_copy(id) : json_null();
}

int kw_wire_result(const json_t *id, json_t *result, char **ret_line,
                   size_t *ret_len)
{
	if (!result)
		result = json_object();
	json_t *msg = json_pack("{s:s, s:o, s:o}", "jsonrpc", "2.0", "id",
	                        wire_id(id), "result", result);
	return wire_finish(msg, ret_line, ret_len);
}

int kw_wire_error(const json_t *id, int err, const char *msg_text,
                  json_t *extra, char **ret_line, size_t *ret_len)
{
	/* kind is set last so that extra can never override it. */
	json_t *data = extra ? extra : json_object();
	if (!data || json_object_set_new(data, "kind",
	                                 json_string(kw_error_name(err)))) {
		json_decref(data);
		return KW_ENOMEM;
	}
	json_t *msg =
		json_pack("{s:s, s:o, s:{s:i, s:s, s:o}}", "jsonrpc", "2.0",
	                  "id", wire_id(id), "error", "code",
	                  kwerr_to_wire(err), "message",
	                  msg_text ? msg_text : kw_strerror(err), "data", data);
	return wire_finish(msg, ret_line, ret_len);
}

int kw_wire_notification(const char *method, json_t *params, char **ret_line,
                         size_t *ret_len)
{
	if (!params)
		params = json_object();
	json_t *msg = json_pack("{s:s, s:s, s:o}", "jsonrpc", "2.0", "method",
	                        method, "params", params);
	return wire_finish(msg, ret_line, ret_len);
}

#define B64_VARIANT sodium_base64_VARIANT_ORIGINAL

int kw_b64_encode(const uint8_t *bin, size_t len, char **ret_text)
{
	size_t n = sodium_base64_ENCODED_LEN(len, B64_VARIANT);
	char *text = kw_wipealloc(n);
	if (!text)
		return KW_ENOMEM;
	sodium_bin2base64(text, n, bin, len, B64_VARIANT);
	*ret_text = text;
	return 0;
}

int kw_b64_decode(const char *text, size_t text_len, size_t max,
                  uint8_t **ret_bin, size_t *ret_len)
{
	if (text_len % 4 != 0)
		return KW_EINVAL;
	size_t cap = text_len / 4 * 3;
	if (max < SIZE_MAX - 2 && cap > max + 2)
		return KW_ETOOBIG;
	uint8_t *bin = kw_wipealloc(cap);
	if (!bin)
		return KW_ENOMEM;
	size_t n = 0;
	const char *end = NULL;
	if (sodium_base642bin(bin, cap, text, text_len, NULL, &n, &end,
	                      B64_VARIANT) != 0 ||
	    end != text + text_len) {
		kw_wipefree(bin);
		return KW_EINVAL;
	}
	if (n > max) {
		kw_wipefree(bin);
		return KW_ETOOBIG;
	}
	*ret_bin = bin;
	*ret_len = n;
	return 0;
}
