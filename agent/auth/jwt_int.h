/*
 * jwt_int.h - what the jwt*.c files share and nobody else needs.
 */
#ifndef KW_JWT_INT_H
#define KW_JWT_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jwt.h"

/* A character of the base64url alphabet? */
static inline bool jwt_b64url_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_';
}

#define JWT_EDDSA_SIG_BYTES 64u
#define JWT_HS256_SIG_BYTES 32u
/* JSON parse flags for headers and payloads. */
#define JWT_JSON_FLAGS JSON_REJECT_DUPLICATES

/* The known claims of a payload, borrowed from it. */
struct jwt_shape {
	const char *iss;
	const char *sub;       /* required: never NULL after a check */
	const char *client_id; /* NULL if absent */
	const char *scope;     /* NULL if absent */
	const json_t *aud;     /* a string or an array of strings */
	size_t naud;
	int64_t exp, iat, nbf;
	bool has_iat, has_nbf;
};

/* Check the types and sizes of payload's claims into *ret_shape.
 * JWT_R_OK, JWT_R_MISSING_CLAIM or JWT_R_BAD_CLAIM. */
int jwt_shape_check(const json_t *payload, struct jwt_shape *ret_shape);
/* The i-th aud entry (i < s->naud). */
const char *jwt_shape_aud(const struct jwt_shape *s, size_t i);
/* HMAC-SHA-256 of msg under k's secret (k is an HS256 key). */
void jwt_hs256(const jwt_key *k, const uint8_t *msg, size_t len,
               uint8_t mac[static JWT_HS256_SIG_BYTES]);
/*
 * Build claims from a verified payload (a reference is taken) whose shape is
 * s, verified by k, with aud entry matched matching. 0 or KW_ENOMEM.
 */
int jwt_claims_new(json_t *payload, const struct jwt_shape *s, const jwt_key *k,
                   size_t matched, jwt_claims **ret_claims);

#endif
