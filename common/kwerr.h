/*
 * kwerr.h - the one table of keyward error codes (the KW_E* values are in
 * keyward.h) and their wire form.
 *
 * Every error has: the C code (negative, keyward.h), a stable wire code
 * (error.code in JSON-RPC responses), a stable identifier (error.data.kind)
 * and a default sentence. docs/protocol.md reproduces the table.
 */
#ifndef KW_KWERR_H
#define KW_KWERR_H

#include <stdbool.h>

#include "keyward.h"

/* JSON-RPC 2.0 reserved codes we use. */
#define KW_RPC_PARSE_ERROR      (-32700)
#define KW_RPC_INVALID_REQUEST  (-32600)
#define KW_RPC_METHOD_NOT_FOUND (-32601)
#define KW_RPC_INVALID_PARAMS   (-32602)
#define KW_RPC_INTERNAL_ERROR   (-32603)

/* The wire code for err (KW_E*). Unknown codes map to internal error. */
int kwerr_to_wire(int err);
/* The KW_E* code for a wire code; unknown wire codes give KW_EPROTO. */
int kwerr_from_wire(int wire_code);
/* True if err is one of the KW_E* codes. */
bool kwerr_known(int err);

#endif
