/*
 * test_jwt.c - JWT access tokens (agent/auth/jwt.h): fixed vectors, round
 * trips, and a table of malformed and hostile tokens, each refused for its
 * reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "jwt.h"
#include "keyward.h"
#include "secmem.h"

/* RFC 8037 appendix A: the Ed25519 key, its thumbprint, a JWS over it. */
#define RFC_D     "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
#define RFC_X     "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
#define RFC_KID   "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
#define RFC_INPUT "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
#define RFC_SIG                                                                 \
	"hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt" \
	"9g7sVvpAr_MuM0KAg"

#define KID_A RFC_KID /* key A is the RFC key */
#define KID_H "hs-test"
#define NOW   INT64_C(1700000000)
#define ISS   "https://keyward.local"
#define AUD   "https://mcp.example.com/mcp"

#define HDR(alg, rest) \
	"{\"alg\":\"" alg "\",\"typ\":\"at+jwt\",\"kid\":\"" KID_A "\"" rest "}"
#define GOOD_HDR HDR("EdDSA", "")
/* A payload valid at NOW, with extra members appended. */
#define PL(extra)                                                     \
	"{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"aud\":\"" AUD "\"," \
	"\"exp\":1700000300,\"iat\":1700000000,\"jti\":\"t-1\"" extra "}"
/* The claims every access token must carry besides exp, iss and aud
 * (RFC 9068 section 2.2), for payloads spelled out in full. */
#define JTI_IAT    "\"iat\":1699999000,\"jti\":\"t-1\","
#define IDS        "\"sub\":\"alice\"," JTI_IAT
#define IDS_NO_JTI "\"sub\":\"alice\",\"iat\":1699999000,"
/* The rest of such a payload. */
#define REST    "\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"exp\":1700000300}"
#define GOOD_PL PL("")
/* A payload without aud, for audience variants. */
#define PL_AUD(aud) \
	"{" IDS "\"iss\":\"" ISS "\",\"aud\":" aud ",\"exp\":1700000300}"
/* A minimal payload with this exp. */
#define PL_EXP(exp) \
	"{" IDS "\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"exp\":" exp "}"

static uint8_t pk_a[32], sk_a[64], pk_b[32], sk_b[64];
static uint8_t hs_secret[32];
static jwt_key keys[3]; /* A, B, H */
static const jwt_expect expect = { ISS, AUD, 0 };

enum how { SIG_NONE, SIG_ED_A, SIG_ED_B, SIG_HMAC_H, SIG_HMAC_PUB_A };

static int setup(void **state)
{
	uint8_t seed[32];
	size_t n;

	(void)state;
	assert_int_equal(jwt_b64url_decode(RFC_D, strlen(RFC_D), seed,
	                                   sizeof seed, &n),
	                 0);
	assert_int_equal(n, 32);
	crypto_sign_seed_keypair(pk_a, sk_a, seed);
	memset(seed, 0x42, sizeof seed);
	crypto_sign_seed_keypair(pk_b, sk_b, seed);
	memset(hs_secret, 0x5a, sizeof hs_secret);
	jwt_key_ed25519(pk_a, sk_a, &keys[0]);
	jwt_key_ed25519(pk_b, sk_b, &keys[1]);
	assert_int_equal(jwt_key_hs256(KID_H, hs_secret, sizeof hs_secret,
	                               &keys[2]),
	                 0);
	return 0;
}

static char *b64(const void *data, size_t len)
{
	size_t cap = len / 3 * 4 + 5, n;
	char *s = malloc(cap);

	assert_non_null(s);
	assert_int_equal(jwt_b64url_encode(data, len, s, cap, &n), 0);
	assert_int_equal(n, strlen(s));
	return s;
}

/* b64(header) "." b64(payload) "." b64(signature made as told). */
static char *forge(const char *header, const char *payload, enum how how)
{
	char *h = b64(header, strlen(header)),
	     *p = b64(payload, strlen(payload));
	size_t cap = strlen(h) + strlen(p) + 100;
	char *tok = malloc(cap), *s = NULL;
	uint8_t sig[64];
	crypto_auth_hmacsha256_state st;

	assert_non_null(tok);
	snprintf(tok, cap, "%s.%s", h, p);
	switch (how) {
	case SIG_NONE:
		break;
	case SIG_ED_A:
	case SIG_ED_B:
		crypto_sign_detached(sig, NULL, (uint8_t *)tok, strlen(tok),
		                     how == SIG_ED_A ? sk_a : sk_b);
		s = b64(sig, 64);
		break;
	case SIG_HMAC_H:
	case SIG_HMAC_PUB_A:
		/* The confusion attack keys HMAC with the public key. */
		crypto_auth_hmacsha256_init(&st,
		                            how == SIG_HMAC_H ? hs_secret :
		                                                pk_a,
		                            32);
		crypto_auth_hmacsha256_update(&st, (uint8_t *)tok, strlen(tok));
		crypto_auth_hmacsha256_final(&st, sig);
		s = b64(sig, 32);
		break;
	}
	snprintf(tok + strlen(tok), cap - strlen(tok), ".%s", s ? s : "");
	free(h);
	free(p);
	free(s);
	return tok;
}

static int verify_at(const char *tok, size_t len, const jwt_key *ks, size_t n,
                     const jwt_expect *e, int64_t now, int *reason)
{
	jwt_claims *c = NULL;
	int r = jwt_verify(tok, len, ks, n, e, now, &c, reason);

	if (r == 0)
		assert_non_null(c);
	else
		assert_null(c);
	jwt_claims_free(c);
	return r;
}

static int verify(const char *tok, int *reason)
{
	return verify_at(tok, strlen(tok), keys, 3, &expect, NOW, reason);
}

/* The return code jwt.h promises for a reason. */
static int rc_for(int reason)
{
	if (reason == JWT_R_OK)
		return 0;
	if (reason == JWT_R_MALFORMED || reason == JWT_R_TOO_BIG ||
	    reason == JWT_R_BAD_HEADER || reason == JWT_R_ERROR)
		return KW_EINVAL;
	return KW_EDENIED;
}

static void expect_reason(const char *name, const char *tok, size_t len,
                          int want)
{
	int reason = -1;
	int r = verify_at(tok, len, keys, 3, &expect, NOW, &reason);

	if (reason != want || r != rc_for(want))
		fail_msg("%s: reason %s (rc %d), want %s", name,
		         jwt_reason_name(reason), r, jwt_reason_name(want));
}

/* Not inlined: at -O3, GCC 12 inlines it and then takes pointers into the
 * returned token for pointers to this frame's local (-Wdangling-pointer). */
__attribute__((noinline)) static char *sign_new(const jwt_key *k,
                                                json_t *claims)
{
	char *tok = NULL;

	assert_non_null(claims);
	assert_int_equal(jwt_sign(k, claims, &tok), 0);
	json_decref(claims);
	return tok;
}

static json_t *good_claims(void)
{
	return json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:s}", "iss", ISS,
	                 "sub", "alice", "aud", AUD, "exp",
	                 (json_int_t)(NOW + 300), "iat", (json_int_t)NOW,
	                 "client_id", "cli-1", "scope", "read write:x", "jti",
	                 "t-1");
}

static void test_b64url(void **state)
{
	static const struct {
		const char *bin, *text;
	} v[] = {
		{ "", "" },        { "f", "Zg" },        { "fo", "Zm8" },
		{ "foo", "Zm9v" }, { "foob", "Zm9vYg" }, { "\xfb\xff", "-_8" }
	};
	static const char *const bad[] = { "Zg==",  "Zg=",  "Zh",    "Z",
		                           "Zm9v+", "Zm/v", "Zm9 v", "Zm9v\n" };
	uint8_t out[16];
	char text[16];
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		assert_int_equal(jwt_b64url_encode((const uint8_t *)v[i].bin,
		                                   strlen(v[i].bin), text,
		                                   sizeof text, &n),
		                 0);
		assert_string_equal(text, v[i].text);
		assert_int_equal(jwt_b64url_decode(v[i].text, strlen(v[i].text),
		                                   out, sizeof out, &n),
		                 0);
		assert_int_equal(n, strlen(v[i].bin));
		assert_memory_equal(out, v[i].bin, n);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (jwt_b64url_decode(bad[i], strlen(bad[i]), out, sizeof out,
		                      &n) != KW_EINVAL)
			fail_msg("accepted %s", bad[i]);
	assert_int_equal(jwt_b64url_decode("Zm9v", 4, out, 2, &n), KW_ETOOBIG);
	assert_int_equal(jwt_b64url_encode((const uint8_t *)"foo", 3, text, 4,
	                                   &n),
	                 KW_ETOOBIG);
}

/* RFC 8037 appendix A: JWK, thumbprint and the published signature. */
static void test_rfc8037_vector(void **state)
{
	uint8_t sig[64];
	char kid[JWT_KID_THUMB_LEN + 1];
	json_t *jwk, *want;
	size_t n;
	int reason;
	char *tok;

	(void)state;
	jwt_kid_for(pk_a, kid);
	assert_string_equal(kid, RFC_KID);
	assert_string_equal(keys[0].kid, RFC_KID);
	jwk = jwt_jwk_json(&keys[0]);
	want = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "OKP", "crv",
	                 "Ed25519", "x", RFC_X, "kid", RFC_KID, "alg", "EdDSA",
	                 "use", "sig");
	assert_true(json_equal(jwk, want));
	assert_int_equal(json_object_size(jwk), 6);
	json_decref(jwk);
	json_decref(want);
	assert_int_equal(jwt_b64url_decode(RFC_SIG, strlen(RFC_SIG), sig,
	                                   sizeof sig, &n),
	                 0);
	assert_int_equal(n, 64);
	assert_int_equal(crypto_sign_verify_detached(sig,
	                                             (const uint8_t *)RFC_INPUT,
	                                             strlen(RFC_INPUT), pk_a),
	                 0);
	/* Correctly signed, but a bare JWS, not an at+jwt access token. */
	tok = malloc(strlen(RFC_INPUT) + strlen(RFC_SIG) + 2);
	assert_non_null(tok);
	snprintf(tok, strlen(RFC_INPUT) + strlen(RFC_SIG) + 2, "%s.%s",
	         RFC_INPUT, RFC_SIG);
	assert_int_equal(verify(tok, &reason), KW_EDENIED);
	assert_int_equal(reason, JWT_R_BAD_TYPE);
	free(tok);
}

/* What we sign: the exact header, deterministic Ed25519 over it. */
static void test_sign_format(void **state)
{
	char *tok = sign_new(&keys[0], good_claims());
	char *again = sign_new(&keys[0], good_claims());
	const char *d1 = strchr(tok, '.'), *d2 = strrchr(tok, '.');
	uint8_t buf[1024], sig[64];
	size_t n;
	json_t *payload;

	(void)state;
	assert_string_equal(tok, again);
	assert_int_equal(jwt_b64url_decode(tok, (size_t)(d1 - tok), buf,
	                                   sizeof buf, &n),
	                 0);
	assert_int_equal(n, strlen(GOOD_HDR));
	assert_memory_equal(buf, GOOD_HDR, n);
	assert_int_equal(jwt_b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), buf,
	                                   sizeof buf, &n),
	                 0);
	payload = json_loadb((const char *)buf, n, 0, NULL);
	assert_non_null(payload);
	assert_string_equal(json_string_value(json_object_get(payload, "jti")),
	                    "t-1");
	json_decref(payload);
	assert_int_equal(jwt_b64url_decode(d2 + 1, strlen(d2 + 1), sig,
	                                   sizeof sig, &n),
	                 0);
	assert_int_equal(n, 64);
	assert_int_equal(crypto_sign_verify_detached(sig, (uint8_t *)tok,
	                                             (size_t)(d2 - tok), pk_a),
	                 0);
	kw_wipefree_str(tok);
	kw_wipefree_str(again);
}

static void check_round_trip(const jwt_key *k)
{
	char *tok = sign_new(k, good_claims());
	jwt_claims *c = NULL;
	int reason = -1;

	assert_int_equal(jwt_verify(tok, strlen(tok), keys, 3, &expect, NOW, &c,
	                            &reason),
	                 0);
	assert_int_equal(reason, JWT_R_OK);
	assert_int_equal(c->alg, k->alg);
	assert_string_equal(c->kid, k->kid);
	assert_string_equal(c->iss, ISS);
	assert_string_equal(c->sub, "alice");
	assert_string_equal(c->client_id, "cli-1");
	assert_string_equal(c->audience, AUD);
	assert_int_equal(c->naud, 1);
	assert_string_equal(c->aud[0], AUD);
	assert_int_equal(c->nscopes, 2);
	assert_string_equal(c->scopes[0], "read");
	assert_string_equal(c->scopes[1], "write:x");
	assert_true(jwt_claims_has_scope(c, "write:x"));
	assert_false(jwt_claims_has_scope(c, "write"));
	assert_false(jwt_claims_has_scope(c, "read write:x"));
	assert_true(c->exp == NOW + 300);
	assert_true(c->has_iat && c->iat == NOW);
	assert_false(c->has_nbf);
	assert_int_equal(json_object_size(c->extra), 1);
	assert_string_equal(json_string_value(json_object_get(c->extra, "jti")),
	                    "t-1");
	jwt_claims_free(c);
	kw_wipefree_str(tok);
}

static void test_round_trip(void **state)
{
	jwt_claims *c = NULL;
	char *tok;

	(void)state;
	check_round_trip(&keys[0]);
	check_round_trip(&keys[1]);
	check_round_trip(&keys[2]);
	/* Minimal claims: no client_id, no scope. */
	tok = sign_new(&keys[0],
	               json_pack("{s:s, s:s, s:[s, s], s:I, s:I, s:s}", "iss",
	                         ISS, "sub", "bob", "aud",
	                         "https://other.example",
	                         "https://MCP.example.com:443/mcp/", "exp",
	                         (json_int_t)(NOW + 1), "iat", (json_int_t)NOW,
	                         "jti", "j"));
	assert_int_equal(jwt_verify(tok, strlen(tok), keys, 3, &expect, NOW, &c,
	                            NULL),
	                 0);
	assert_string_equal(c->sub, "bob");
	assert_null(c->client_id);
	assert_int_equal(c->nscopes, 0);
	assert_true(c->has_iat);
	assert_int_equal(c->naud, 2);
	assert_string_equal(c->audience, "https://MCP.example.com:443/mcp/");
	assert_int_equal(json_object_size(c->extra), 1); /* jti */
	jwt_claims_free(c);
	kw_wipefree_str(tok);
	jwt_claims_free(NULL);
}

/* We never issue a token we would refuse: without sub, iat or jti,
 * signing fails. */
static void test_sign_requires_ids(void **state)
{
	static const char *const required[] = { "sub", "iat", "jti" };
	char *tok = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
		json_t *claims = good_claims();

		assert_int_equal(json_object_del(claims, required[i]), 0);
		assert_int_equal(jwt_sign(&keys[0], claims, &tok), KW_EINVAL);
		assert_null(tok);
		json_decref(claims);
	}
}

/* Rotation: the previous key keeps verifying while it is in the set. */
static void test_overlap(void **state)
{
	char *tok = sign_new(&keys[1], good_claims());
	jwt_key verify_only[2];
	int reason;

	(void)state;
	jwt_key_ed25519(pk_a, NULL, &verify_only[0]);
	jwt_key_ed25519(pk_b, NULL, &verify_only[1]);
	assert_int_equal(verify_at(tok, strlen(tok), verify_only, 2, &expect,
	                           NOW, &reason),
	                 0);
	assert_int_equal(verify_at(tok, strlen(tok), verify_only, 1, &expect,
	                           NOW, &reason),
	                 KW_EDENIED);
	assert_int_equal(reason, JWT_R_UNKNOWN_KID);
	assert_int_equal(verify_at(tok, strlen(tok), NULL, 0, &expect, NOW,
	                           &reason),
	                 KW_EDENIED);
	assert_int_equal(reason, JWT_R_UNKNOWN_KID);
	kw_wipefree_str(tok);
}

static const struct hostile {
	const char *name, *header, *payload;
	enum how how;
	int reason;
} hostile[] = {
	{ "good", GOOD_HDR, GOOD_PL, SIG_ED_A, JWT_R_OK },
	{ "alg none, no signature", HDR("none", ""), GOOD_PL, SIG_NONE,
	  JWT_R_MALFORMED },
	{ "alg none, signed", HDR("none", ""), GOOD_PL, SIG_ED_A,
	  JWT_R_UNSUPPORTED_ALG },
	{ "alg HS256 keyed with the Ed25519 public key", HDR("HS256", ""),
	  GOOD_PL, SIG_HMAC_PUB_A, JWT_R_ALG_MISMATCH },
	{ "alg RS256", HDR("RS256", ""), GOOD_PL, SIG_ED_A,
	  JWT_R_UNSUPPORTED_ALG },
	{ "alg in lowercase", HDR("eddsa", ""), GOOD_PL, SIG_ED_A,
	  JWT_R_UNSUPPORTED_ALG },
	{ "alg not a string",
	  "{\"alg\":1,\"typ\":\"at+jwt\",\"kid\":\"" KID_A "\"}", GOOD_PL,
	  SIG_ED_A, JWT_R_BAD_HEADER },
	{ "alg missing", "{\"typ\":\"at+jwt\",\"kid\":\"" KID_A "\"}", GOOD_PL,
	  SIG_ED_A, JWT_R_BAD_HEADER },
	{ "kid missing", "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\"}", GOOD_PL,
	  SIG_ED_A, JWT_R_BAD_HEADER },
	{ "kid not a string",
	  "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":1}", GOOD_PL, SIG_ED_A,
	  JWT_R_BAD_HEADER },
	{ "kid with a slash",
	  "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\","
	  "\"kid\":\"../k\"}",
	  GOOD_PL, SIG_ED_A, JWT_R_BAD_HEADER },
	{ "kid unknown",
	  "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"nope\"}", GOOD_PL,
	  SIG_ED_A, JWT_R_UNKNOWN_KID },
	{ "kid of the HS256 key, alg EdDSA",
	  "{\"alg\":\"EdDSA\",\"typ\":"
	  "\"at+jwt\",\"kid\":\"" KID_H "\"}",
	  GOOD_PL, SIG_ED_A, JWT_R_ALG_MISMATCH },
	{ "kid of the Ed25519 key, alg HS256 with the real HS256 secret",
	  HDR("HS256", ""), GOOD_PL, SIG_HMAC_H, JWT_R_ALG_MISMATCH },
	{ "HS256 key, signed with the Ed25519 public key",
	  "{\"alg\":\"HS256\","
	  "\"typ\":\"at+jwt\",\"kid\":\"" KID_H "\"}",
	  GOOD_PL, SIG_HMAC_PUB_A, JWT_R_BAD_SIGNATURE },
	{ "key A's kid, signed by key B", GOOD_HDR, GOOD_PL, SIG_ED_B,
	  JWT_R_BAD_SIGNATURE },
	{ "typ missing", "{\"alg\":\"EdDSA\",\"kid\":\"" KID_A "\"}", GOOD_PL,
	  SIG_ED_A, JWT_R_BAD_TYPE },
	{ "typ JWT",
	  "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"" KID_A "\"}", GOOD_PL,
	  SIG_ED_A, JWT_R_BAD_TYPE },
	{ "typ with a parameter",
	  "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt;q=1\","
	  "\"kid\":\"" KID_A "\"}",
	  GOOD_PL, SIG_ED_A, JWT_R_BAD_TYPE },
	{ "typ not a string",
	  "{\"alg\":\"EdDSA\",\"typ\":[\"at+jwt\"],\"kid\":\"" KID_A "\"}",
	  GOOD_PL, SIG_ED_A, JWT_R_BAD_TYPE },
	{ "typ AT+JWT",
	  "{\"alg\":\"EdDSA\",\"typ\":\"AT+JWT\",\"kid\":\"" KID_A "\"}",
	  GOOD_PL, SIG_ED_A, JWT_R_OK },
	{ "typ application/at+jwt",
	  "{\"alg\":\"EdDSA\",\"typ\":"
	  "\"Application/At+JWT\",\"kid\":\"" KID_A "\"}",
	  GOOD_PL, SIG_ED_A, JWT_R_OK },
	{ "crit", HDR("EdDSA", ",\"crit\":[\"exp\"]"), GOOD_PL, SIG_ED_A,
	  JWT_R_BAD_HEADER },
	{ "jku", HDR("EdDSA", ",\"jku\":\"https://evil.example/jwks\""),
	  GOOD_PL, SIG_ED_A, JWT_R_BAD_HEADER },
	{ "embedded jwk", HDR("EdDSA", ",\"jwk\":{\"kty\":\"OKP\"}"), GOOD_PL,
	  SIG_ED_A, JWT_R_BAD_HEADER },
	{ "header an array", "[\"EdDSA\"]", GOOD_PL, SIG_ED_A,
	  JWT_R_BAD_HEADER },
	{ "header a string", "\"EdDSA\"", GOOD_PL, SIG_ED_A, JWT_R_BAD_HEADER },
	{ "header not JSON", "{\"alg\":", GOOD_PL, SIG_ED_A, JWT_R_BAD_HEADER },
	{ "header with trailing bytes", GOOD_HDR "x", GOOD_PL, SIG_ED_A,
	  JWT_R_BAD_HEADER },
	{ "duplicate alg",
	  "{\"alg\":\"EdDSA\",\"alg\":\"none\",\"typ\":"
	  "\"at+jwt\",\"kid\":\"" KID_A "\"}",
	  GOOD_PL, SIG_ED_A, JWT_R_BAD_HEADER },
	{ "NUL in the header",
	  "{\"alg\":\"EdDSA\\u0000\",\"typ\":\"at+jwt\","
	  "\"kid\":\"" KID_A "\"}",
	  GOOD_PL, SIG_ED_A, JWT_R_BAD_HEADER },
	{ "payload an array", GOOD_HDR, "[1]", SIG_ED_A, JWT_R_MALFORMED },
	{ "payload not JSON", GOOD_HDR, "{\"exp\":", SIG_ED_A,
	  JWT_R_MALFORMED },
	{ "duplicate exp", GOOD_HDR, PL(",\"exp\":9999999999"), SIG_ED_A,
	  JWT_R_MALFORMED },
	{ "NUL in sub", GOOD_HDR, PL(",\"client_id\":\"a\\u0000b\""), SIG_ED_A,
	  JWT_R_MALFORMED },
	{ "exp missing", GOOD_HDR,
	  "{" IDS "\"iss\":\"" ISS "\",\"aud\":\"" AUD "\"}", SIG_ED_A,
	  JWT_R_MISSING_CLAIM },
	{ "iss missing", GOOD_HDR,
	  "{" IDS "\"aud\":\"" AUD "\",\"exp\":1700000300}", SIG_ED_A,
	  JWT_R_MISSING_CLAIM },
	{ "aud missing", GOOD_HDR,
	  "{" IDS "\"iss\":\"" ISS "\",\"exp\":1700000300}", SIG_ED_A,
	  JWT_R_MISSING_CLAIM },
	/* RFC 9068 section 2.2: an access token names its subject, when it
	 * was issued and its own id. */
	{ "sub missing", GOOD_HDR, "{" JTI_IAT REST, SIG_ED_A,
	  JWT_R_MISSING_CLAIM },
	{ "sub null", GOOD_HDR, "{\"sub\":null," JTI_IAT REST, SIG_ED_A,
	  JWT_R_BAD_CLAIM },
	{ "sub empty", GOOD_HDR, "{\"sub\":\"\"," JTI_IAT REST, SIG_ED_A,
	  JWT_R_BAD_CLAIM },
	{ "iat missing", GOOD_HDR, "{\"sub\":\"alice\",\"jti\":\"t-1\"," REST,
	  SIG_ED_A, JWT_R_MISSING_CLAIM },
	{ "iat null", GOOD_HDR,
	  "{\"sub\":\"alice\",\"jti\":\"t-1\",\"iat\":null," REST, SIG_ED_A,
	  JWT_R_BAD_CLAIM },
	{ "jti missing", GOOD_HDR,
	  "{\"sub\":\"alice\",\"iat\":1699999000," REST, SIG_ED_A,
	  JWT_R_MISSING_CLAIM },
	{ "jti null", GOOD_HDR, "{" IDS_NO_JTI "\"jti\":null," REST, SIG_ED_A,
	  JWT_R_BAD_CLAIM },
	{ "jti a number", GOOD_HDR, "{" IDS_NO_JTI "\"jti\":7," REST, SIG_ED_A,
	  JWT_R_BAD_CLAIM },
	{ "jti empty", GOOD_HDR, "{" IDS_NO_JTI "\"jti\":\"\"," REST, SIG_ED_A,
	  JWT_R_BAD_CLAIM },
	{ "exp a string", GOOD_HDR, PL_EXP("\"1700000300\""), SIG_ED_A,
	  JWT_R_BAD_CLAIM },
	{ "exp a real", GOOD_HDR,
	  "{" IDS "\"iss\":\"" ISS "\",\"aud\":\"" AUD "\","
	  "\"exp\":1700000300.5}",
	  SIG_ED_A, JWT_R_BAD_CLAIM },
	{ "exp negative", GOOD_HDR,
	  "{" IDS "\"iss\":\"" ISS "\",\"aud\":\"" AUD "\","
	  "\"exp\":-1}",
	  SIG_ED_A, JWT_R_BAD_CLAIM },
	{ "exp past year 9999", GOOD_HDR,
	  "{" IDS "\"iss\":\"" ISS "\",\"aud\":\"" AUD
	  "\",\"exp\":253402300800}",
	  SIG_ED_A, JWT_R_BAD_CLAIM },
	{ "exp true", GOOD_HDR,
	  "{" IDS "\"iss\":\"" ISS "\",\"aud\":\"" AUD "\","
	  "\"exp\":true}",
	  SIG_ED_A, JWT_R_BAD_CLAIM },
	{ "nbf a string", GOOD_HDR, PL(",\"nbf\":\"0\""), SIG_ED_A,
	  JWT_R_BAD_CLAIM },
	{ "iss a number", GOOD_HDR,
	  "{" IDS "\"iss\":1,\"aud\":\"" AUD "\","
	  "\"exp\":1700000300}",
	  SIG_ED_A, JWT_R_BAD_CLAIM },
	{ "aud an empty array", GOOD_HDR, PL_AUD("[]"), SIG_ED_A,
	  JWT_R_BAD_CLAIM },
	{ "aud a number", GOOD_HDR, PL_AUD("7"), SIG_ED_A, JWT_R_BAD_CLAIM },
	{ "aud array with a number", GOOD_HDR, PL_AUD("[\"" AUD "\",7]"),
	  SIG_ED_A, JWT_R_BAD_CLAIM },
	{ "aud an empty string", GOOD_HDR, PL_AUD("\"\""), SIG_ED_A,
	  JWT_R_BAD_CLAIM },
	{ "sub a number", GOOD_HDR,
	  "{" JTI_IAT "\"iss\":\"" ISS "\",\"aud\":\"" AUD "\","
	  "\"exp\":1700000300,\"sub\":5}",
	  SIG_ED_A, JWT_R_BAD_CLAIM },
	{ "sub with an escape character", GOOD_HDR,
	  "{" JTI_IAT "\"iss\":\"" ISS "\","
	  "\"aud\":\"" AUD "\",\"exp\":1700000300,\"sub\":\"a\\u001b[2J\"}",
	  SIG_ED_A, JWT_R_BAD_CLAIM },
	{ "sub with a C1 control", GOOD_HDR,
	  "{" JTI_IAT "\"iss\":\"" ISS "\",\"aud\":\"" AUD
	  "\",\"exp\":1700000300,\"sub\":\"a\\u009bb\"}",
	  SIG_ED_A, JWT_R_BAD_CLAIM },
	{ "client_id an array", GOOD_HDR, PL(",\"client_id\":[\"c\"]"),
	  SIG_ED_A, JWT_R_BAD_CLAIM },
	{ "scope with two spaces", GOOD_HDR, PL(",\"scope\":\"a  b\""),
	  SIG_ED_A, JWT_R_BAD_CLAIM },
	{ "scope with a leading space", GOOD_HDR, PL(",\"scope\":\" a\""),
	  SIG_ED_A, JWT_R_BAD_CLAIM },
	{ "scope with a quote", GOOD_HDR, PL(",\"scope\":\"a\\\"b\""), SIG_ED_A,
	  JWT_R_BAD_CLAIM },
	{ "scope empty", GOOD_HDR, PL(",\"scope\":\"\""), SIG_ED_A,
	  JWT_R_BAD_CLAIM },
	{ "scope an array", GOOD_HDR, PL(",\"scope\":[\"a\"]"), SIG_ED_A,
	  JWT_R_BAD_CLAIM },
	{ "exp passed", GOOD_HDR, PL_EXP("1699999999"), SIG_ED_A,
	  JWT_R_EXPIRED },
	{ "exp now", GOOD_HDR, PL_EXP("1700000000"), SIG_ED_A, JWT_R_EXPIRED },
	{ "exp in a second", GOOD_HDR, PL_EXP("1700000001"), SIG_ED_A,
	  JWT_R_OK },
	{ "nbf in the future", GOOD_HDR, PL(",\"nbf\":1700000001"), SIG_ED_A,
	  JWT_R_NOT_YET_VALID },
	{ "nbf now", GOOD_HDR, PL(",\"nbf\":1700000000"), SIG_ED_A, JWT_R_OK },
	{ "iat in the future", GOOD_HDR,
	  "{"
	  "\"sub\":\"alice\",\"jti\":\"t-1\","
	  "\"iss\":\"" ISS "\",\"aud\":\"" AUD
	  "\",\"exp\":1700000300,\"iat\":1700000001}",
	  SIG_ED_A, JWT_R_ISSUED_IN_FUTURE },
	{ "wrong iss", GOOD_HDR,
	  "{" IDS "\"iss\":\"https://evil.example\",\"aud\":\"" AUD
	  "\",\"exp\":1700000300}",
	  SIG_ED_A, JWT_R_BAD_ISSUER },
	{ "iss in another case", GOOD_HDR,
	  "{" IDS "\"iss\":\"https://Keyward.local\","
	  "\"aud\":\"" AUD "\",\"exp\":1700000300}",
	  SIG_ED_A, JWT_R_BAD_ISSUER },
	{ "aud another resource", GOOD_HDR, PL_AUD("\"https://x.example/mcp\""),
	  SIG_ED_A, JWT_R_BAD_AUDIENCE },
	{ "aud array without us", GOOD_HDR,
	  PL_AUD("[\"https://a.example\","
	         "\"https://mcp.example.com/mcp2\"]"),
	  SIG_ED_A, JWT_R_BAD_AUDIENCE },
	{ "aud with a fragment", GOOD_HDR, PL_AUD("\"" AUD "#frag\""), SIG_ED_A,
	  JWT_R_BAD_AUDIENCE },
	{ "aud with another path case", GOOD_HDR,
	  PL_AUD("\"https://mcp.example.com/MCP\""), SIG_ED_A,
	  JWT_R_BAD_AUDIENCE },
	{ "aud over http", GOOD_HDR, PL_AUD("\"http://mcp.example.com/mcp\""),
	  SIG_ED_A, JWT_R_BAD_AUDIENCE },
	{ "aud on another port", GOOD_HDR,
	  PL_AUD("\"https://mcp.example.com:8443/mcp\""), SIG_ED_A,
	  JWT_R_BAD_AUDIENCE },
	{ "aud the bare origin", GOOD_HDR,
	  PL_AUD("\"https://mcp.example.com\""), SIG_ED_A, JWT_R_BAD_AUDIENCE },
	{ "aud with userinfo", GOOD_HDR,
	  PL_AUD("\"https://u@mcp.example.com/mcp\""), SIG_ED_A,
	  JWT_R_BAD_AUDIENCE },
	{ "aud with a dot segment", GOOD_HDR,
	  PL_AUD("\"https://mcp.example.com/x/../mcp\""), SIG_ED_A,
	  JWT_R_BAD_AUDIENCE },
	{ "aud a plain word", GOOD_HDR, PL_AUD("\"mcp\""), SIG_ED_A,
	  JWT_R_BAD_AUDIENCE },
	{ "aud in upper case scheme and host", GOOD_HDR,
	  PL_AUD("\"HTTPS://MCP.Example.COM/mcp\""), SIG_ED_A, JWT_R_OK },
	{ "aud with a trailing slash", GOOD_HDR, PL_AUD("\"" AUD "/\""),
	  SIG_ED_A, JWT_R_OK },
	{ "aud with the default port", GOOD_HDR,
	  PL_AUD("\"https://mcp.example.com:443/mcp\""), SIG_ED_A, JWT_R_OK },
	{ "aud array with us last", GOOD_HDR,
	  PL_AUD("[\"https://a.example\",\"" AUD "\"]"), SIG_ED_A, JWT_R_OK },
};

static void test_hostile_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
		char *tok = forge(hostile[i].header, hostile[i].payload,
		                  hostile[i].how);

		expect_reason(hostile[i].name, tok, strlen(tok),
		              hostile[i].reason);
		free(tok);
	}
}

/* A copy of tok with bytes [at, at+cut) replaced by ins. */
static char *splice(const char *tok, size_t at, size_t cut, const char *ins)
{
	size_t n = strlen(tok), k = strlen(ins);
	char *s = malloc(n - cut + k + 1);

	assert_non_null(s);
	memcpy(s, tok, at);
	memcpy(s + at, ins, k);
	memcpy(s + at + k, tok + at + cut, n - at - cut + 1);
	return s;
}

static void expect_splice(const char *name, const char *tok, size_t at,
                          size_t cut, const char *ins, int want)
{
	char *s = splice(tok, at, cut, ins);

	expect_reason(name, s, strlen(s), want);
	free(s);
}

/* Damage done to a good token's text. */
static void test_mangled(void **state)
{
	char *tok = forge(GOOD_HDR, GOOD_PL, SIG_ED_A);
	char *other = forge(GOOD_HDR, PL(",\"client_id\":\"2\""), SIG_ED_A);
	size_t n = strlen(tok), d1 = (size_t)(strchr(tok, '.') - tok);
	size_t d2 = (size_t)(strrchr(tok, '.') - tok);
	size_t o2 = (size_t)(strrchr(other, '.') - other);
	char last[2] = { 0, 0 }, *s;

	(void)state;
	expect_reason("good", tok, n, JWT_R_OK);
	expect_reason("empty", "", 0, JWT_R_MALFORMED);
	expect_reason("two dots only", "..", 2, JWT_R_MALFORMED);
	expect_reason("one segment", tok, d1, JWT_R_MALFORMED);
	expect_reason("two segments", tok, d2, JWT_R_MALFORMED);
	expect_reason("two segments and a dot", tok, d2 + 1, JWT_R_MALFORMED);
	expect_splice("extra dot at the end", tok, n, 0, ".", JWT_R_MALFORMED);
	expect_splice("four segments", tok, n, 0, ".AAAA", JWT_R_MALFORMED);
	expect_splice("extra dot inside", tok, d1, 0, ".", JWT_R_MALFORMED);
	expect_splice("padding", tok, n, 0, "==", JWT_R_MALFORMED);
	expect_splice("padding in the header", tok, d1, 0, "=",
	              JWT_R_MALFORMED);
	expect_splice("trailing space", tok, n, 0, " ", JWT_R_MALFORMED);
	expect_splice("trailing newline", tok, n, 0, "\n", JWT_R_MALFORMED);
	expect_splice("leading space", tok, 0, 0, " ", JWT_R_MALFORMED);
	expect_splice("Bearer prefix", tok, 0, 0, "Bearer ", JWT_R_MALFORMED);
	expect_splice("standard base64 '+'", tok, d2 + 3, 1, "+",
	              JWT_R_MALFORMED);
	expect_splice("standard base64 '/'", tok, 2, 1, "/", JWT_R_MALFORMED);
	expect_splice("non-ASCII byte", tok, d1 + 1, 1, "\xc3\xa9",
	              JWT_R_MALFORMED);
	expect_splice("signature cut by 1", tok, n - 1, 1, "", JWT_R_MALFORMED);
	expect_splice("signature cut by 2", tok, n - 2, 2, "",
	              JWT_R_BAD_SIGNATURE);
	expect_splice("signature cut to 64 characters", tok, d2 + 65,
	              n - d2 - 65, "", JWT_R_BAD_SIGNATURE);
	expect_splice("signature doubled", tok, n, 0, tok + d2 + 1,
	              JWT_R_BAD_SIGNATURE);
	expect_splice("signature of another token", tok, d2 + 1, n - d2 - 1,
	              other + o2 + 1, JWT_R_BAD_SIGNATURE);
	expect_splice("empty header", tok, 0, d1, "", JWT_R_MALFORMED);
	expect_splice("empty payload", tok, d1 + 1, d2 - d1 - 1, "",
	              JWT_R_MALFORMED);
	s = splice(other, o2, strlen(other) - o2, tok + d2);
	expect_reason("payload swapped under a signature", s, strlen(s),
	              JWT_R_BAD_SIGNATURE);
	free(s);
	/* The last character carries 2 bits and 4 zero bits: setting one
	 * of those gives the same bytes in a non-canonical spelling. */
	last[0] = tok[n - 1] == 'A' ? 'B' : (char)(tok[n - 1] + 1);
	expect_splice("non-canonical last character", tok, n - 1, 1, last,
	              JWT_R_MALFORMED);
	/* Embedded NUL: the length covers it. */
	s = splice(tok, d1 + 1, 0, "A");
	s[d1 + 1] = '\0';
	expect_reason("embedded NUL", s, n + 1, JWT_R_MALFORMED);
	free(s);
	free(tok);
	free(other);
}

/* Every single-character change of a valid token is refused. */
static void test_every_change_fails(void **state)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		"0123456789-_.";
	char *tok = sign_new(&keys[0], good_claims());
	size_t n = strlen(tok);
	int reason;

	(void)state;
	for (size_t i = 0; i < n; i++) {
		char saved = tok[i];

		for (size_t j = 0; j < sizeof alphabet - 1; j += 7) {
			if (alphabet[(j + i) % (sizeof alphabet - 1)] == saved)
				continue;
			tok[i] = alphabet[(j + i) % (sizeof alphabet - 1)];
			if (verify_at(tok, n, keys, 3, &expect, NOW, &reason) ==
			    0)
				fail_msg("accepted a change at %zu", i);
		}
		tok[i] = saved;
	}
	assert_int_equal(verify(tok, &reason), 0);
	kw_wipefree_str(tok);
}

/* S + L (the group order) is the same signature, non-canonically. */
static void test_malleated_signature(void **state)
{
	static const uint8_t order[32] = {
		0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58,
		0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
		0,    0,    0,    0,    0,    0,    0,    0,
		0,    0,    0,    0,    0,    0,    0,    0x10,
	};
	char *tok = forge(GOOD_HDR, GOOD_PL, SIG_ED_A), *sig_text, *s;
	size_t d2 = (size_t)(strrchr(tok, '.') - tok), n;
	uint8_t sig[64];
	unsigned carry = 0;

	(void)state;
	assert_int_equal(jwt_b64url_decode(tok + d2 + 1, strlen(tok + d2 + 1),
	                                   sig, sizeof sig, &n),
	                 0);
	for (size_t i = 0; i < 32; i++) {
		carry += (unsigned)sig[32 + i] + order[i];
		sig[32 + i] = (uint8_t)carry;
		carry >>= 8;
	}
	assert_int_equal(carry, 0);
	sig_text = b64(sig, 64);
	s = splice(tok, d2 + 1, strlen(tok + d2 + 1), sig_text);
	expect_reason("S + L", s, strlen(s), JWT_R_BAD_SIGNATURE);
	free(s);
	free(sig_text);
	free(tok);
}

static void test_size_bounds(void **state)
{
	char hdr[1400], kidpad[1100];
	char *tok, *big;

	(void)state;
	/* An 800-byte header member makes a > 1 KiB encoded header. */
	memset(kidpad, 'x', 800);
	kidpad[800] = '\0';
	snprintf(hdr, sizeof hdr,
	         "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}",
	         kidpad);
	tok = forge(hdr, GOOD_PL, SIG_ED_A);
	expect_reason("huge header", tok, strlen(tok), JWT_R_TOO_BIG);
	free(tok);
	/* Under the header bound but over the kid bound. */
	memset(kidpad, 'x', 65);
	kidpad[65] = '\0';
	snprintf(hdr, sizeof hdr,
	         "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}",
	         kidpad);
	tok = forge(hdr, GOOD_PL, SIG_ED_A);
	expect_reason("kid over its bound", tok, strlen(tok), JWT_R_BAD_HEADER);
	free(tok);
	/* A whole token over 8 KiB: refused before anything is decoded. */
	big = malloc(JWT_TOKEN_MAX + 2);
	assert_non_null(big);
	memset(big, 'A', JWT_TOKEN_MAX + 1);
	big[JWT_TOKEN_MAX + 1] = '\0';
	expect_reason("huge token", big, JWT_TOKEN_MAX + 1, JWT_R_TOO_BIG);
	free(big);
}

/* jwt_sign stops exactly at JWT_TOKEN_MAX, and jwt_verify takes what it
 * signs up to there. */
static void test_sign_size_limit(void **state)
{
	char *pad = malloc(JWT_TOKEN_MAX), *out = NULL, *last = NULL;
	json_t *c = good_claims();
	size_t n, fit = 0;
	int reason;

	(void)state;
	assert_non_null(pad);
	memset(pad, 'y', JWT_TOKEN_MAX);
	json_object_set_new(c, "pad", json_stringn(pad, JWT_TOKEN_MAX - 1));
	assert_int_equal(jwt_sign(&keys[0], c, &out), KW_ETOOBIG);
	assert_null(out);
	for (n = 5600; n < 6400; n++) {
		json_object_set_new(c, "pad", json_stringn(pad, n));
		if (jwt_sign(&keys[0], c, &out) != 0)
			break;
		kw_wipefree_str(last);
		last = out;
		out = NULL;
		fit = n;
	}
	assert_true(fit > 5600 && n < 6400);
	assert_int_equal(jwt_sign(&keys[0], c, &out), KW_ETOOBIG);
	/* The largest token is within 3 bytes (one base64 quantum) of it. */
	assert_true(strlen(last) <= JWT_TOKEN_MAX &&
	            strlen(last) + 3 >= JWT_TOKEN_MAX);
	assert_int_equal(verify(last, &reason), 0);
	kw_wipefree_str(last);
	json_decref(c);
	free(pad);
}

/* Leeway widens every time check by exactly its value. */
static void test_leeway(void **state)
{
	static const struct {
		const char *payload;
		int64_t leeway;
		int reason;
	} v[] = {
		{ PL_EXP("1699999970"), 30, JWT_R_EXPIRED },
		{ PL_EXP("1699999971"), 30, JWT_R_OK },
		{ PL_EXP("1699999971"), 0, JWT_R_EXPIRED },
		{ PL(",\"nbf\":1700000030"), 30, JWT_R_OK },
		{ PL(",\"nbf\":1700000031"), 30, JWT_R_NOT_YET_VALID },
		{ "{\"sub\":\"alice\",\"jti\":\"t-1\",\"iss\":\"" ISS
		  "\",\"aud\":\"" AUD
		  "\",\"exp\":1700000300,\"iat\":1700000030}",
		  30, JWT_R_OK },
		{ "{\"sub\":\"alice\",\"jti\":\"t-1\",\"iss\":\"" ISS
		  "\",\"aud\":\"" AUD
		  "\",\"exp\":1700000300,\"iat\":1700000031}",
		  30, JWT_R_ISSUED_IN_FUTURE },
		{ PL_EXP("253402300799"), JWT_LEEWAY_MAX, JWT_R_OK },
	};

	(void)state;
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		jwt_expect e = { ISS, AUD, v[i].leeway };
		char *tok = forge(GOOD_HDR, v[i].payload, SIG_ED_A);
		int reason = -1;
		int r = verify_at(tok, strlen(tok), keys, 3, &e, NOW, &reason);

		if (reason != v[i].reason || r != rc_for(v[i].reason))
			fail_msg("case %zu: %s", i, jwt_reason_name(reason));
		free(tok);
	}
}

static void test_audience_canonical(void **state)
{
	static const struct {
		const char *in, *out; /* out NULL: refused */
	} v[] = {
		{ "https://h", "https://h" },
		{ "https://h/", "https://h" },
		{ "HTTPS://H.Example/Path/", "https://h.example/Path" },
		{ "https://h:443/a", "https://h/a" },
		{ "https://h:0443/a", "https://h/a" },
		{ "http://h:80", "http://h" },
		{ "http://h:443", "http://h:443" },
		{ "https://h:/a", "https://h/a" },
		{ "https://h:8443/a/b/", "https://h:8443/a/b" },
		{ "https://[::1]:8443/mcp", "https://[::1]:8443/mcp" },
		{ "https://[2001:DB8::1]/", "https://[2001:db8::1]" },
		{ "https://h/a%2fb?q=%7e", "https://h/a%2Fb?q=%7E" },
		{ "https://h/?a=1", "https://h?a=1" },
		{ "https://h/a/?x/y", "https://h/a?x/y" },
		{ "urn+x://h/a", "urn+x://h/a" },
		{ "https://h/a..b/.c", "https://h/a..b/.c" },
		{ "https://h/a#f", NULL },
		{ "https://h#", NULL },
		{ "https://u:p@h/a", NULL },
		{ "https://h/a/../b", NULL },
		{ "https://h/./b", NULL },
		{ "https://h/%2e%2E/b", NULL },
		{ "https://h/a/.", NULL },
		{ "https://h/a%2", NULL },
		{ "https://h/a%zz", NULL },
		{ "https://h/a b", NULL },
		{ "https://h/a\"b", NULL },
		{ "https://h/a\\b", NULL },
		{ "https://h/\xc3\xa9", NULL },
		{ "https://h:65536/", NULL },
		{ "https://h:8x/", NULL },
		{ "https://[::1/", NULL },
		{ "https://[]/", NULL },
		{ "https:///a", NULL },
		{ "https://", NULL },
		{ "https:/h", NULL },
		{ "h/a", NULL },
		{ "1https://h", NULL },
		{ "", NULL },
		{ "mcp", NULL },
	};
	char out[JWT_AUD_MAX + 1], longer[JWT_AUD_MAX + 2];

	(void)state;
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		int r = jwt_audience_canonical(v[i].in, out, sizeof out);

		if (v[i].out && (r != 0 || strcmp(out, v[i].out) != 0))
			fail_msg("%s: %d %s", v[i].in, r, r ? "" : out);
		if (!v[i].out && r != KW_EINVAL)
			fail_msg("%s accepted", v[i].in);
	}
	assert_int_equal(jwt_audience_canonical("https://h/abc", out, 10),
	                 KW_ETOOBIG);
	memcpy(longer, "https://h/", 10);
	memset(longer + 10, 'a', JWT_AUD_MAX - 10);
	longer[JWT_AUD_MAX] = '\0';
	assert_int_equal(jwt_audience_canonical(longer, out, sizeof out), 0);
	longer[JWT_AUD_MAX] = 'a';
	longer[JWT_AUD_MAX + 1] = '\0';
	assert_int_equal(jwt_audience_canonical(longer, out, sizeof out),
	                 KW_EINVAL);
	assert_true(jwt_audience_match("https://H/mcp/", "https://h:443/mcp"));
	assert_false(jwt_audience_match("https://h/mcp", "https://h/mcp/x"));
	assert_false(jwt_audience_match("https://h/a#", "https://h/a#"));
	assert_false(jwt_audience_match("mcp", "mcp"));
}

static void test_sign_errors(void **state)
{
	json_t *c = good_claims();
	jwt_key k = keys[0];
	uint8_t wrong_sk[64];
	char *out = NULL;

	(void)state;
	jwt_key_ed25519(pk_a, NULL, &k);
	assert_int_equal(jwt_sign(&k, c, &out), KW_EINVAL); /* no secret */
	memcpy(wrong_sk, sk_b, 64);
	k.secret = wrong_sk; /* secret of another public key */
	k.secret_len = 64;
	assert_int_equal(jwt_key_check(&k), KW_EINVAL);
	assert_int_equal(jwt_sign(&k, c, &out), KW_EINVAL);
	k = keys[0];
	k.alg = (enum jwt_alg)7;
	assert_int_equal(jwt_sign(&k, c, &out), KW_EINVAL);
	assert_int_equal(jwt_sign(&keys[0], NULL, &out), KW_EINVAL);
	json_object_del(c, "exp");
	assert_int_equal(jwt_sign(&keys[0], c, &out), KW_EINVAL);
	json_object_set_new(c, "exp", json_real(1.7e9));
	assert_int_equal(jwt_sign(&keys[0], c, &out), KW_EINVAL);
	json_object_set_new(c, "exp", json_integer(NOW + 10));
	json_object_set_new(c, "scope", json_string(""));
	assert_int_equal(jwt_sign(&keys[0], c, &out), KW_EINVAL);
	json_object_del(c, "scope");
	/* A NUL in a claim we do not know would not parse back. */
	json_object_set_new(c, "note", json_stringn("a\0b", 3));
	assert_int_equal(jwt_sign(&keys[0], c, &out), KW_EINVAL);
	json_object_del(c, "note");
	assert_null(out);
	assert_int_equal(jwt_sign(&keys[0], c, &out), 0);
	kw_wipefree_str(out);
	json_decref(c);
	json_decref(json_array()); /* nothing else leaked */
	c = json_array();
	assert_int_equal(jwt_sign(&keys[0], c, &out), KW_EINVAL);
	json_decref(c);
}

static void test_verify_argument_errors(void **state)
{
	char *tok = sign_new(&keys[0], good_claims());
	size_t n = strlen(tok);
	jwt_key dup[2] = { keys[0], keys[0] }, bad = keys[0];
	jwt_expect e = expect;
	jwt_claims *c = NULL;
	int reason;

	(void)state;
	e.audience = "mcp";
	assert_int_equal(verify_at(tok, n, keys, 3, &e, NOW, &reason),
	                 KW_EINVAL);
	assert_int_equal(reason, JWT_R_ERROR);
	e = expect;
	e.leeway = -1;
	assert_int_equal(verify_at(tok, n, keys, 3, &e, NOW, &reason),
	                 KW_EINVAL);
	e.leeway = JWT_LEEWAY_MAX + 1;
	assert_int_equal(verify_at(tok, n, keys, 3, &e, NOW, &reason),
	                 KW_EINVAL);
	e = expect;
	e.issuer = "";
	assert_int_equal(verify_at(tok, n, keys, 3, &e, NOW, &reason),
	                 KW_EINVAL);
	e.issuer = NULL;
	assert_int_equal(verify_at(tok, n, keys, 3, &e, NOW, &reason),
	                 KW_EINVAL);
	assert_int_equal(verify_at(tok, n, keys, 3, &expect, -1, &reason),
	                 KW_EINVAL);
	assert_int_equal(verify_at(tok, n, dup, 2, &expect, NOW, &reason),
	                 KW_EINVAL);
	assert_int_equal(reason, JWT_R_ERROR);
	assert_int_equal(verify_at(tok, n, keys, JWT_KEYS_MAX + 1, &expect, NOW,
	                           &reason),
	                 KW_EINVAL);
	bad.kid[0] = '\0';
	assert_int_equal(verify_at(tok, n, &bad, 1, &expect, NOW, &reason),
	                 KW_EINVAL);
	assert_int_equal(jwt_verify(tok, n, keys, 3, &expect, NOW, NULL,
	                            &reason),
	                 KW_EINVAL);
	assert_int_equal(jwt_verify(NULL, 0, keys, 3, &expect, NOW, &c, NULL),
	                 KW_EINVAL);
	assert_null(c);
	kw_wipefree_str(tok);
}

static void test_keys(void **state)
{
	uint8_t other[JWT_HS256_KEY_MAX];
	jwt_key k, k2;
	json_t *set, *arr;

	(void)state;
	assert_int_equal(jwt_key_hs256(NULL, hs_secret, 32, &k), 0);
	assert_int_equal(strncmp(k.kid, "hs.", 3), 0);
	assert_int_equal(strlen(k.kid), 25);
	assert_true(jwt_kid_valid(k.kid));
	assert_int_equal(jwt_key_hs256(NULL, hs_secret, 32, &k2), 0);
	assert_string_equal(k.kid, k2.kid);
	memset(other, 0x5a, sizeof other);
	other[31] ^= 1;
	assert_int_equal(jwt_key_hs256(NULL, other, 32, &k2), 0);
	assert_string_not_equal(k.kid, k2.kid);
	assert_int_equal(jwt_key_hs256(NULL, other, 64, &k2), 0);
	assert_int_equal(jwt_key_hs256(NULL, other, 31, &k2), KW_EINVAL);
	assert_int_equal(jwt_key_hs256(NULL, other, 65, &k2), KW_EINVAL);
	assert_int_equal(jwt_key_hs256("a b", other, 32, &k2), KW_EINVAL);
	assert_int_equal(jwt_key_hs256("", other, 32, &k2), KW_EINVAL);
	assert_false(jwt_kid_valid("a/b"));
	assert_false(jwt_kid_valid(NULL));
	assert_true(jwt_kid_valid("A-z_0.9"));
	assert_null(jwt_jwk_json(&keys[2])); /* HS256 is never published */
	set = jwt_jwks_json(keys, 3);
	arr = json_object_get(set, "keys");
	assert_int_equal(json_object_size(set), 1);
	assert_int_equal(json_array_size(arr), 2);
	assert_string_equal(json_string_value(
				    json_object_get(json_array_get(arr, 1),
	                                            "kid")),
	                    keys[1].kid);
	json_decref(set);
	set = jwt_jwks_json(NULL, 0);
	assert_int_equal(json_array_size(json_object_get(set, "keys")), 0);
	json_decref(set);
}

/* The longest kid still makes a header we sign and accept. */
static void test_longest_kid(void **state)
{
	static const char kid[] = "0123456789abcdef0123456789abcdef"
				  "0123456789abcdef0123456789abcdef";
	jwt_key k;
	char *tok;
	int reason;

	(void)state;
	assert_int_equal(strlen(kid), JWT_KID_MAX);
	assert_int_equal(jwt_key_hs256(kid, hs_secret, 32, &k), 0);
	tok = sign_new(&k, good_claims());
	assert_int_equal(verify_at(tok, strlen(tok), &k, 1, &expect, NOW,
	                           &reason),
	                 0);
	kw_wipefree_str(tok);
}

static void test_reasons(void **state)
{
	(void)state;
	for (int r = JWT_R_OK; r <= JWT_R_ERROR; r++) {
		const char *t = jwt_reason_text(r), *name = jwt_reason_name(r);

		assert_true(strlen(t) > 0 && strlen(name) > 0);
		/* Fit for an RFC 6750 error_description. */
		for (const char *p = t; *p; p++)
			assert_true(*p >= 0x20 && *p <= 0x7e && *p != '"' &&
			            *p != '\\');
		for (int q = JWT_R_OK; q < r; q++) {
			assert_string_not_equal(name, jwt_reason_name(q));
			assert_string_not_equal(t, jwt_reason_text(q));
		}
	}
	assert_string_equal(jwt_reason_name(-1), "error");
	assert_string_equal(jwt_reason_name(JWT_R_ERROR + 1), "error");
	assert_string_equal(jwt_reason_name(JWT_R_EXPIRED), "expired");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64url),
		cmocka_unit_test(test_rfc8037_vector),
		cmocka_unit_test(test_sign_format),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_overlap),
		cmocka_unit_test(test_hostile_table),
		cmocka_unit_test(test_sign_requires_ids),
		cmocka_unit_test(test_mangled),
		cmocka_unit_test(test_every_change_fails),
		cmocka_unit_test(test_malleated_signature),
		cmocka_unit_test(test_size_bounds),
		cmocka_unit_test(test_sign_size_limit),
		cmocka_unit_test(test_leeway),
		cmocka_unit_test(test_audience_canonical),
		cmocka_unit_test(test_sign_errors),
		cmocka_unit_test(test_verify_argument_errors),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_longest_kid),
		cmocka_unit_test(test_reasons),
	};

	if (kw_secmem_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, setup, NULL);
}
