/*
 * wire.c - JSON-RPC 2.0 messages and base64 (see wire.h, docs/protocol.md).
 */
#include "wire.h"

#include <sodium.h>
#include <stdint.h>
#include <string.h>

#include "keyward.h"
#include "kwerr.h"
#include "secmem.h"

/* The line grows in wiping memory: it may hold a secret. */
struct dump_buf {
	char *p;
	size_t len, cap; /* cap keeps 2 bytes spare for "\n\0" */
};

static int dump_chunk(const char *buf, size_t size, void *arg)
{
	struct dump_buf *d = arg;
	if (size > d->cap - 2 - d->len) {
		size_t cap = d->cap;
		while (size > cap - 2 - d->len) {
			if (cap > SIZE_MAX / 2)
				return -1;
			cap *= 2;
		}
		char *p = kw_wipealloc(cap);
		if (!p)
			return -1;
		memcpy(p, d->p, d->len);
		kw_wipefree(d->p);
		d->p = p;
		d->cap = cap;
	}
	memcpy(d->p + d->len, buf, size);
	d->len += size;
	return 0;
}

int kw_wire_dump(const json_t *obj, char **ret_line, size_t *ret_len)
{
	/* One pass (json_dumpb would need two: one to size, one to fill);
	 * most messages fit the first buffer. */
	struct dump_buf d = { .p = kw_wipealloc(512), .cap = 512 };
	if (!d.p)
		return KW_ENOMEM;
	if (json_dump_callback(obj, dump_chunk, &d, JSON_COMPACT) != 0 ||
	    d.len == 0) {
		kw_wipefree(d.p);
		return KW_ENOMEM;
	}
	d.p[d.len] = '\n';
	d.p[d.len + 1] = '\0';
	*ret_line = d.p;
	*ret_len = d.len + 1;
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

/* The standard alphabet and the padding character. */
static bool b64_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=';
}

int kw_b64_decode(const char *text, size_t text_len, size_t max,
                  uint8_t **ret_bin, size_t *ret_len)
{
	if (text_len % 4 != 0)
		return KW_EINVAL;
	/* libsodium 1.0.18 (Debian 12) decodes every byte from 0x80 up as
	 * '/': such text must not reach it, or it would be accepted. */
	for (size_t i = 0; i < text_len; i++) {
		if (!b64_char((unsigned char)text[i]))
			return KW_EINVAL;
	}
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
