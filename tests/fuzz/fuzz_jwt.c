/*
 * fuzz_jwt.c - JWT access tokens (agent/jwt*.c) against a fixed keyset: an
 * Ed25519 key (seed 00 01 .. 1f) and an HS256 key (32 bytes 0x5a, kid
 * "fuzz-hs"), issuer ISS, audience AUD, at time NOW.
 *
 * Input, by its first byte:
 *   '{'  claims: signed with each key, then verified;
 *   'h'  an audience URI: canonicalised;
 *   else a token: verified.
 * Properties: an accepted token has the claims the verifier promises, and
 * changing any one character of its signature (and of a sample of the
 * other characters) gets it refused; a token jwt_sign made is never
 * refused for its form, header, signature or claim types (we never issue
 * what we would refuse); canonical audiences are fixed points, match
 * their source and are never longer.
 */
#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "jwt.h"
#include "secmem.h"

#define ISS    "https://issuer.example"
#define AUD    "https://mcp.example/mcp"
#define NOW    INT64_C(1800000000)
#define LEEWAY 60

static uint8_t ed_pub[crypto_sign_PUBLICKEYBYTES];
static uint8_t ed_sk[crypto_sign_SECRETKEYBYTES];
static uint8_t hs_secret[32];
static jwt_key keys[2];
static const jwt_expect expect = { .issuer = ISS,
	                           .audience = AUD,
	                           .leeway = LEEWAY };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint8_t seed[crypto_sign_SEEDBYTES];

	(void)argc;
	(void)argv;
	if (sodium_init() < 0)
		fuzz_fail("sodium_init", __FILE__, __LINE__);
	for (size_t i = 0; i < sizeof(seed); i++)
		seed[i] = (uint8_t)i;
	crypto_sign_seed_keypair(ed_pub, ed_sk, seed);
	memset(hs_secret, 0x5a, sizeof(hs_secret));
	jwt_key_ed25519(ed_pub, ed_sk, &keys[0]);
	if (jwt_key_hs256("fuzz-hs", hs_secret, sizeof(hs_secret), &keys[1]))
		fuzz_fail("jwt_key_hs256", __FILE__, __LINE__);
	return 0;
}

static int verify(const char *tok, size_t len, int *reason)
{
	jwt_claims *c = NULL;
	int r = jwt_verify(tok, len, keys, 2, &expect, NOW, &c, reason);

	if (r != 0) {
		FUZZ_CHECK(c == NULL && *reason != JWT_R_OK);
		return r;
	}
	FUZZ_CHECK(c != NULL && *reason == JWT_R_OK);
	FUZZ_CHECK(strcmp(c->iss, ISS) == 0);
	FUZZ_CHECK(jwt_audience_match(c->audience, AUD));
	FUZZ_CHECK(c->naud >= 1 && c->exp + LEEWAY > NOW);
	FUZZ_CHECK(!c->has_nbf || c->nbf <= NOW + LEEWAY);
	FUZZ_CHECK(!c->has_iat || c->iat <= NOW + LEEWAY);
	FUZZ_CHECK(strcmp(c->kid, keys[0].kid) == 0 ||
	           strcmp(c->kid, keys[1].kid) == 0);
	jwt_claims_free(c);
	return 0;
}

/* The next character of the base64url alphabet: always a change. */
static char other(char ch)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				       "abcdefghijklmnopqrstuvwxyz0123456789-_";
	const char *at = strchr(alphabet, ch);
	FUZZ_CHECK(at != NULL && ch != '\0');
	return alphabet[(size_t)(at - alphabet + 1) % 64];
}

/* tok (len bytes) verified: no one-character change may verify. */
static void tamper(const char *tok, size_t len)
{
	char *copy = malloc(len);
	int reason;

	FUZZ_CHECK(copy != NULL);
	memcpy(copy, tok, len);
	const char *dot = memchr(tok, '.', len);
	FUZZ_CHECK(dot != NULL);
	dot = memchr(dot + 1, '.', len - (size_t)(dot + 1 - tok));
	FUZZ_CHECK(dot != NULL);
	size_t sig = (size_t)(dot + 1 - tok);
	size_t step = sig / 16 + 1;
	for (size_t i = 0; i < len; i += i < sig ? step : 1) {
		if (copy[i] == '.')
			continue;
		char was = copy[i];
		copy[i] = other(was);
		FUZZ_CHECK(verify(copy, len, &reason) != 0);
		copy[i] = was;
	}
	free(copy);
}

static void fuzz_token(const char *tok, size_t len)
{
	int reason;

	if (verify(tok, len, &reason) == 0)
		tamper(tok, len);
}

static void fuzz_claims(const char *text, size_t len)
{
	json_t *claims = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);

	if (!claims)
		return;
	for (size_t k = 0; k < 2; k++) {
		char *tok = NULL;
		int reason;
		if (jwt_sign(&keys[k], claims, &tok) != 0)
			continue;
		size_t n = strlen(tok);
		FUZZ_CHECK(n <= JWT_TOKEN_MAX);
		if (verify(tok, n, &reason) == 0)
			tamper(tok, n);
		FUZZ_CHECK(reason != JWT_R_MALFORMED);
		FUZZ_CHECK(reason != JWT_R_TOO_BIG);
		FUZZ_CHECK(reason != JWT_R_BAD_HEADER);
		FUZZ_CHECK(reason != JWT_R_BAD_TYPE);
		FUZZ_CHECK(reason != JWT_R_UNSUPPORTED_ALG);
		FUZZ_CHECK(reason != JWT_R_UNKNOWN_KID);
		FUZZ_CHECK(reason != JWT_R_ALG_MISMATCH);
		FUZZ_CHECK(reason != JWT_R_BAD_SIGNATURE);
		FUZZ_CHECK(reason != JWT_R_MISSING_CLAIM);
		FUZZ_CHECK(reason != JWT_R_BAD_CLAIM);
		FUZZ_CHECK(reason != JWT_R_ERROR);
		kw_wipefree_str(tok);
	}
	json_decref(claims);
}

static void fuzz_audience(const char *text, size_t len)
{
	char *uri = malloc(len + 1);
	char canon[JWT_AUD_MAX + 1], again[JWT_AUD_MAX + 1];

	FUZZ_CHECK(uri != NULL);
	memcpy(uri, text, len);
	uri[len] = '\0';
	if (jwt_audience_canonical(uri, canon, sizeof(canon)) == 0) {
		FUZZ_CHECK(strlen(canon) <= strlen(uri));
		FUZZ_CHECK(jwt_audience_canonical(canon, again,
		                                  sizeof(again)) == 0);
		FUZZ_CHECK(strcmp(canon, again) == 0);
		FUZZ_CHECK(jwt_audience_match(uri, canon));
	}
	free(uri);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;

	if (size > 0 && s[0] == '{')
		fuzz_claims(s, size);
	else if (size > 0 && s[0] == 'h')
		fuzz_audience(s, size);
	else
		fuzz_token(s, size);
	return 0;
}
