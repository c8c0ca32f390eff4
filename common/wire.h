/*
 * wire.h - JSON-RPC 2.0 message helpers and base64, shared by the agent and
 * libkeyward. docs/protocol.md is the contract these implement.
 *
 * Strings returned in ret_line are newline-terminated, allocated with
 * kw_wipealloc and freed with kw_wipefree (they may carry secrets).
 */
#ifndef KW_WIRE_H
#define KW_WIRE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Serialise obj compactly plus '\n'. Does not steal obj. */
int kw_wire_dump(const json_t *obj, char **ret_line, size_t *ret_len);

/* {"jsonrpc":"2.0","id":id,"method":method,"params":params}. Steals params
 * (NULL means {}). */
int kw_wire_request(uint64_t id, const char *method, json_t *params,
                    char **ret_line, size_t *ret_len);
/* {"jsonrpc":"2.0","id":id,"result":result}. Steals result. id may be NULL
 * (sent as null). */
int kw_wire_result(const json_t *id, json_t *result, char **ret_line,
                   size_t *ret_len);
/* {"jsonrpc":"2.0","id":id,"error":{"code":W,"message":msg,"data":{"kind":K,
 * ...extra}}}; err is a KW_E* code, msg NULL uses kw_strerror(err). Steals
 * extra (may be NULL; its keys are merged into data). */
int kw_wire_error(const json_t *id, int err, const char *msg, json_t *extra,
                  char **ret_line, size_t *ret_len);
/* {"jsonrpc":"2.0","method":method,"params":params} (no id). Steals params. */
int kw_wire_notification(const char *method, json_t *params, char **ret_line,
                         size_t *ret_len);

/*
 * Base64 (standard alphabet, padded, RFC 4648 section 4).
 * kw_b64_encode: NUL-terminated text in kw_wipealloc memory.
 * kw_b64_decode: rejects anything but canonical padded base64 and results
 * longer than max (KW_ETOOBIG); *ret_bin is kw_wipealloc memory (never NULL on
 * success, even for length 0).
 */
int kw_b64_encode(const uint8_t *bin, size_t len, char **ret_text);
int kw_b64_decode(const char *text, size_t text_len, size_t max,
                  uint8_t **ret_bin, size_t *ret_len);

#endif
