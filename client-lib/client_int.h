/*
 * client_int.h - libkeyward internals shared by client.c (connection and
 * call machinery) and api.c (one function per protocol method).
 *
 * Nothing here is exported: the library is built with hidden visibility and
 * a version script that exports kw_* only.
 */
#ifndef KW_CLIENT_INT_H
#define KW_CLIENT_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "keyward.h"

/*
 * Largest response line accepted, excluding '\n': enough for a value of
 * 12 MiB in base64 plus the envelope, far above the default max_value_bytes.
 */
#define CLIENT_LINE_MAX (16u * 1024u * 1024u)
/* Largest value kw_secret_put encodes (64 MiB of base64); the agent's
 * max_value_bytes is normally far lower and is what really applies. */
#define CLIENT_VALUE_MAX (48u * 1024u * 1024u)

/*
 * Send method with params (stolen, also on failure; NULL means {}) and wait
 * for the answer. On success *ret_result is a new reference to the result
 * member (any JSON type; the caller checks it). An error response from the
 * agent returns its KW_E* code with its message kept for
 * kw_last_error_message(). Transport errors: KW_ECONNECT, KW_ETIMEOUT,
 * KW_ECLOSED, KW_EPROTO, KW_EIO, KW_ENOMEM.
 */
int client_call(kw_client *c, const char *method, json_t *params,
                json_t **ret_result);

/* A client token: "kwt_" and 43 base64url characters (32 random bytes). */
#define CLIENT_TOKEN_PREFIX "kwt_"
#define CLIENT_TOKEN_LEN    47u

/* True if token has the form above (charset and length only: whether the
 * agent knows it is for the agent to say). */
bool client_token_valid(const char *token);

/*
 * Send client.hello with token. On success, and on KW_ELOCKED (the agent
 * cannot check tokens while locked), keep a copy in guarded memory to
 * present again after every reconnect (and, after KW_ELOCKED, before the
 * next request). KW_EINVAL for a malformed token, without a round trip;
 * otherwise the agent's error (KW_EDENIED, KW_ERATE) or a transport error,
 * and the token kept before stays in force.
 */
int client_hello(kw_client *c, const char *token);

#endif
