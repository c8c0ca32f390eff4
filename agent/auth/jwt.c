/*
 * jwt.c - keys, key ids, JWKs, base64url and signing (see jwt.h).
 */
#include "jwt.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "jwt_int.h"
#include "keyward.h"
#include "secmem.h"

#define B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING

#define HS_KID_PREFIX     "hs."
#define HS_KID_HASH_BYTES 16u

/* Domain separation for the derived HS256 key id. */
static const char hs_kid_context[] = "keyward/jwt/hs256-kid/v1";

/* Sentences fit an RFC 6750 error_description (no '"' or '\'). */
static const struct {
	const char *name;
	const char *text;
} reasons[] = {
	[JWT_R_OK] = { "ok", "The token is valid." },
	[JWT_R_MALFORMED] = { "malformed",
	                      "The token is not a well-formed JWT." },
	[JWT_R_TOO_BIG] = { "too_big", "The token is too large." },
	[JWT_R_BAD_HEADER] = { "bad_header", "The token header is not valid." },
	[JWT_R_BAD_TYPE] = { "bad_type",
	                     "The token is not an access token (at+jwt)." },
	[JWT_R_UNSUPPORTED_ALG] = { "unsupported_alg",
	                            "The token signing algorithm is not "
	                            "accepted." },
	[JWT_R_UNKNOWN_KID] = { "unknown_kid",
	                        "The token was signed with an unknown key." },
	[JWT_R_ALG_MISMATCH] = { "alg_mismatch",
	                         "The token algorithm is not the one of its "
	                         "key." },
	[JWT_R_BAD_SIGNATURE] = { "bad_signature",
	                          "The token signature is not valid." },
	[JWT_R_MISSING_CLAIM] = { "missing_claim",
	                          "The token lacks a required claim." },
	[JWT_R_BAD_CLAIM] = { "bad_claim",
	                      "The token has a claim of the wrong type or "
	                      "size." },
	[JWT_R_EXPIRED] = { "expired", "The token has expired." },
	[JWT_R_NOT_YET_VALID] = { "not_yet_valid",
	                          "The token is not valid yet." },
	[JWT_R_ISSUED_IN_FUTURE] = { "issued_in_future",
	                             "The token was issued in the future." },
	[JWT_R_BAD_ISSUER] = { "bad_issuer",
	                       "The token was issued by another issuer." },
	[JWT_R_BAD_AUDIENCE] = { "bad_audience",
	                         "The token is not meant for this resource." },
	[JWT_R_ERROR] = { "error", "The token could not be checked." },
};

const char *jwt_reason_text(int reason)
{
	if (reason < 0 || (size_t)reason >= sizeof reasons / sizeof reasons[0])
		return reasons[JWT_R_ERROR].text;
	return reasons[reason].text;
}

const char *jwt_reason_name(int reason)
{
	if (reason < 0 || (size_t)reason >= sizeof reasons / sizeof reasons[0])
		return reasons[JWT_R_ERROR].name;
	return reasons[reason].name;
}

/* Characters of the base64url text of n bytes (no padding, no NUL). */
static size_t b64_len(size_t n)
{
	return sodium_base64_ENCODED_LEN(n, B64) - 1;
}

int jwt_b64url_encode(const uint8_t *in, size_t len, char *out, size_t outsz,
                      size_t *ret_len)
{
	size_t n = b64_len(len);

	if (outsz < n + 1)
		return KW_ETOOBIG;
	sodium_bin2base64(out, outsz, in, len, B64);
	*ret_len = n;
	return 0;
}

int jwt_b64url_decode(const char *in, size_t len, uint8_t *out, size_t outsz,
                      size_t *ret_len)
{
	size_t need, n = 0;

	for (size_t i = 0; i < len; i++)
		if (!jwt_b64url_char((unsigned char)in[i]))
			return KW_EINVAL;
	need = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
	if (need > outsz)
		return KW_ETOOBIG;
	/* libsodium refuses a length of 1 mod 4 and non-zero unused bits,
	 * which makes the encoding of each byte string unique. */
	if (sodium_base642bin(out, outsz, in, len, NULL, &n, NULL, B64) != 0)
		return KW_EINVAL;
	*ret_len = n;
	return 0;
}

bool jwt_kid_valid(const char *kid)
{
	size_t n;

	if (!kid)
		return false;
	n = strnlen(kid, JWT_KID_MAX + 1);
	if (n == 0 || n > JWT_KID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!jwt_b64url_char((unsigned char)kid[i]) && kid[i] != '.')
			return false;
	return true;
}

void jwt_kid_for(const uint8_t pub[static JWT_ED25519_PUB_BYTES],
                 char ret_kid[static JWT_KID_THUMB_LEN + 1])
{
	char x[JWT_KID_THUMB_LEN + 1];
	char json[96];
	uint8_t h[crypto_hash_sha256_BYTES];
	int n;

	sodium_bin2base64(x, sizeof x, pub, JWT_ED25519_PUB_BYTES, B64);
	/* RFC 7638: the required members, sorted, no whitespace. */
	n = snprintf(json, sizeof json,
	             "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}", x);
	crypto_hash_sha256(h, (const uint8_t *)json, (size_t)n);
	sodium_bin2base64(ret_kid, JWT_KID_THUMB_LEN + 1, h, sizeof h, B64);
}

void jwt_key_ed25519(const uint8_t pub[static JWT_ED25519_PUB_BYTES],
                     const uint8_t *sk, jwt_key *ret_key)
{
	jwt_key k;

	memset(&k, 0, sizeof k);
	k.alg = JWT_EDDSA;
	memcpy(k.pub, pub, JWT_ED25519_PUB_BYTES);
	jwt_kid_for(pub, k.kid);
	k.secret = sk;
	k.secret_len = sk ? JWT_ED25519_SK_BYTES : 0;
	*ret_key = k;
}

int jwt_key_hs256(const char *kid, const uint8_t *secret, size_t secret_len,
                  jwt_key *ret_key)
{
	jwt_key k;
	uint8_t h[HS_KID_HASH_BYTES];
	size_t n;

	if (!secret || secret_len < JWT_HS256_KEY_MIN ||
	    secret_len > JWT_HS256_KEY_MAX)
		return KW_EINVAL;
	memset(&k, 0, sizeof k);
	k.alg = JWT_HS256;
	k.secret = secret;
	k.secret_len = secret_len;
	if (kid) {
		if (!jwt_kid_valid(kid))
			return KW_EINVAL;
		memcpy(k.kid, kid, strlen(kid) + 1);
	} else {
		crypto_generichash(h, sizeof h, (const uint8_t *)hs_kid_context,
		                   sizeof hs_kid_context - 1, secret,
		                   secret_len);
		memcpy(k.kid, HS_KID_PREFIX, sizeof HS_KID_PREFIX - 1);
		n = sizeof HS_KID_PREFIX - 1;
		sodium_bin2base64(k.kid + n, sizeof k.kid - n, h, sizeof h,
		                  B64);
	}
	*ret_key = k;
	return 0;
}

int jwt_key_check(const jwt_key *k)
{
	if (!k || !memchr(k->kid, '\0', sizeof k->kid) ||
	    !jwt_kid_valid(k->kid))
		return KW_EINVAL;
	switch (k->alg) {
	case JWT_EDDSA:
		if (!k->secret)
			return k->secret_len == 0 ? 0 : KW_EINVAL;
		if (k->secret_len != JWT_ED25519_SK_BYTES ||
		    sodium_memcmp(k->secret + JWT_ED25519_SK_BYTES -
		                          JWT_ED25519_PUB_BYTES,
		                  k->pub, JWT_ED25519_PUB_BYTES) != 0)
			return KW_EINVAL;
		return 0;
	case JWT_HS256:
		if (!k->secret || k->secret_len < JWT_HS256_KEY_MIN ||
		    k->secret_len > JWT_HS256_KEY_MAX)
			return KW_EINVAL;
		return 0;
	}
	return KW_EINVAL;
}

json_t *jwt_jwk_json(const jwt_key *k)
{
	char x[JWT_KID_THUMB_LEN + 1];

	if (jwt_key_check(k) != 0 || k->alg != JWT_EDDSA)
		return NULL;
	sodium_bin2base64(x, sizeof x, k->pub, JWT_ED25519_PUB_BYTES, B64);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "OKP", "crv",
	                 "Ed25519", "x", x, "kid", k->kid, "alg", "EdDSA",
	                 "use", "sig");
}

json_t *jwt_jwks_json(const jwt_key *keys, size_t nkeys)
{
	json_t *arr, *set, *jwk;

	if (nkeys && !keys)
		return NULL;
	arr = json_array();
	if (!arr)
		return NULL;
	for (size_t i = 0; i < nkeys; i++) {
		if (jwt_key_check(&keys[i]) != 0)
			goto fail;
		if (keys[i].alg != JWT_EDDSA)
			continue;
		jwk = jwt_jwk_json(&keys[i]);
		if (!jwk || json_array_append_new(arr, jwk) != 0)
			goto fail;
	}
	set = json_object();
	if (!set || json_object_set_new(set, "keys", arr) != 0) {
		json_decref(set);
		return NULL;
	}
	return set;
fail:
	json_decref(arr);
	return NULL;
}

void jwt_hs256(const jwt_key *k, const uint8_t *msg, size_t len,
               uint8_t mac[static JWT_HS256_SIG_BYTES])
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, k->secret, k->secret_len);
	crypto_auth_hmacsha256_update(&st, msg, len);
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_memzero(&st, sizeof st);
}

static const char *alg_name(enum jwt_alg alg)
{
	return alg == JWT_EDDSA ? "EdDSA" : "HS256";
}

/* Is the dumped payload one jwt_verify will parse back? (It would not be
 * if the claims held a string with a NUL, for one.) */
static bool payload_parses(const char *text, size_t len)
{
	json_t *back = json_loadb(text, len, JWT_JSON_FLAGS, NULL);
	bool ok = json_is_object(back);

	json_decref(back);
	return ok;
}

int jwt_sign(const jwt_key *k, const json_t *claims, char **ret_token)
{
	struct jwt_shape shape;
	char header[64 + JWT_KID_MAX];
	uint8_t sig[JWT_EDDSA_SIG_BYTES];
	char *payload = NULL, *tok = NULL;
	size_t plen, siglen, cap, pos, n;
	int hlen, r;

	if (!k || !json_is_object(claims) || !ret_token ||
	    jwt_key_check(k) != 0 || !k->secret)
		return KW_EINVAL;
	if (jwt_shape_check(claims, &shape) != JWT_R_OK)
		return KW_EINVAL;
	/* The kid's charset needs no JSON escaping. */
	hlen = snprintf(header, sizeof header,
	                "{\"alg\":\"%s\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}",
	                alg_name(k->alg), k->kid);
	if (hlen < 0 || (size_t)hlen >= sizeof header)
		return KW_EINVAL;
	plen = json_dumpb(claims, NULL, 0, JSON_COMPACT);
	if (plen == 0)
		return KW_EINVAL;
	if (plen > JWT_TOKEN_MAX)
		return KW_ETOOBIG;
	payload = kw_wipealloc(plen);
	if (!payload)
		return KW_ENOMEM;
	r = KW_EINVAL;
	if (json_dumpb(claims, payload, plen, JSON_COMPACT) != plen ||
	    !payload_parses(payload, plen))
		goto out;
	siglen =
		k->alg == JWT_EDDSA ? JWT_EDDSA_SIG_BYTES : JWT_HS256_SIG_BYTES;
	cap = b64_len((size_t)hlen) + 1 + b64_len(plen) + 1 + b64_len(siglen) +
	      1;
	r = KW_ETOOBIG;
	if (cap - 1 > JWT_TOKEN_MAX)
		goto out;
	r = KW_ENOMEM;
	tok = kw_wipealloc(cap);
	if (!tok)
		goto out;
	pos = 0;
	if (jwt_b64url_encode((const uint8_t *)header, (size_t)hlen, tok, cap,
	                      &n) != 0)
		goto out;
	pos += n;
	tok[pos++] = '.';
	if (jwt_b64url_encode((const uint8_t *)payload, plen, tok + pos,
	                      cap - pos, &n) != 0)
		goto out;
	pos += n;
	if (k->alg == JWT_EDDSA)
		crypto_sign_ed25519_detached(sig, NULL, (const uint8_t *)tok,
		                             pos, k->secret);
	else
		jwt_hs256(k, (const uint8_t *)tok, pos, sig);
	tok[pos++] = '.';
	if (jwt_b64url_encode(sig, siglen, tok + pos, cap - pos, &n) != 0)
		goto out;
	*ret_token = tok;
	tok = NULL;
	r = 0;
out:
	sodium_memzero(sig, sizeof sig);
	kw_wipefree(payload);
	kw_wipefree(tok);
	return r;
}
