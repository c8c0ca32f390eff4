/*
 * jwt_verify.c - checking a compact token (jwt.h says what is checked and
 * why). The order is fixed: shape and size, base64url, header, key,
 * signature; only then is the payload parsed and any claim looked at.
 */
#include "jwt.h"

#include <sodium.h>
#include <string.h>

#include "jwt_int.h"
#include "keyward.h"
#include "secmem.h"

#define HEADER_RAW_MAX (JWT_HEADER_B64_MAX / 4u * 3u)

struct segments {
	const char *h, *p, *s; /* header, payload, signature */
	size_t hlen, plen, slen;
	size_t signed_len; /* bytes of "header.payload" */
};

/* Exactly two dots, no empty segment, nothing outside base64url. */
static int split(const char *t, size_t len, struct segments *sg)
{
	size_t dots[2], nd = 0;

	for (size_t i = 0; i < len; i++) {
		if (t[i] == '.') {
			if (nd == 2)
				return JWT_R_MALFORMED;
			dots[nd++] = i;
		} else if (!jwt_b64url_char((unsigned char)t[i])) {
			return JWT_R_MALFORMED;
		}
	}
	if (nd != 2)
		return JWT_R_MALFORMED;
	sg->h = t;
	sg->hlen = dots[0];
	sg->p = t + dots[0] + 1;
	sg->plen = dots[1] - dots[0] - 1;
	sg->s = t + dots[1] + 1;
	sg->slen = len - dots[1] - 1;
	sg->signed_len = dots[1];
	if (sg->hlen == 0 || sg->plen == 0 || sg->slen == 0)
		return JWT_R_MALFORMED;
	if (sg->hlen > JWT_HEADER_B64_MAX)
		return JWT_R_TOO_BIG;
	return JWT_R_OK;
}

/* ASCII case-insensitive equality (media types, RFC 7515 4.1.9). */
static bool ascii_caseeq(const char *a, const char *b)
{
	for (; *a && *b; a++, b++) {
		char x = *a, y = *b;

		if (x >= 'A' && x <= 'Z')
			x = (char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (char)(y - 'A' + 'a');
		if (x != y)
			return false;
	}
	return *a == *b;
}

static int header_alg(const json_t *h, enum jwt_alg *ret_alg)
{
	const json_t *v = json_object_get(h, "alg");
	const char *alg;

	if (!json_is_string(v))
		return JWT_R_BAD_HEADER;
	alg = json_string_value(v);
	/* Case-sensitive (RFC 7515 4.1.1): "eddsa" is not "EdDSA". */
	if (strcmp(alg, "EdDSA") == 0)
		*ret_alg = JWT_EDDSA;
	else if (strcmp(alg, "HS256") == 0)
		*ret_alg = JWT_HS256;
	else
		return JWT_R_UNSUPPORTED_ALG;
	return JWT_R_OK;
}

static int header_key(const json_t *h, const jwt_key *keys, size_t nkeys,
                      enum jwt_alg alg, const jwt_key **ret_key)
{
	const json_t *v = json_object_get(h, "kid");
	const char *kid;

	if (!json_is_string(v) || !jwt_kid_valid(json_string_value(v)))
		return JWT_R_BAD_HEADER;
	kid = json_string_value(v);
	for (size_t i = 0; i < nkeys; i++) {
		if (strcmp(keys[i].kid, kid) != 0)
			continue;
		/* The key fixes the algorithm; the header only confirms it. */
		if (keys[i].alg != alg)
			return JWT_R_ALG_MISMATCH;
		*ret_key = &keys[i];
		return JWT_R_OK;
	}
	return JWT_R_UNKNOWN_KID;
}

static int check_header(const uint8_t *raw, size_t n, const jwt_key *keys,
                        size_t nkeys, const jwt_key **ret_key)
{
	json_t *h = json_loadb((const char *)raw, n, JWT_JSON_FLAGS, NULL);
	const json_t *typ;
	const char *name;
	json_t *v;
	enum jwt_alg alg = JWT_EDDSA;
	int r = JWT_R_BAD_HEADER;

	if (!json_is_object(h))
		goto out;
	json_object_foreach(h, name, v)
	{
		(void)v;
		if (strcmp(name, "alg") != 0 && strcmp(name, "typ") != 0 &&
		    strcmp(name, "kid") != 0)
			goto out;
	}
	if ((r = header_alg(h, &alg)) != JWT_R_OK)
		goto out;
	typ = json_object_get(h, "typ");
	if (!json_is_string(typ) ||
	    (!ascii_caseeq(json_string_value(typ), "at+jwt") &&
	     !ascii_caseeq(json_string_value(typ), "application/at+jwt"))) {
		r = JWT_R_BAD_TYPE;
		goto out;
	}
	r = header_key(h, keys, nkeys, alg, ret_key);
out:
	json_decref(h);
	return r;
}

static int check_signature(const jwt_key *k, const char *signed_part,
                           size_t signed_len, const uint8_t *sig, size_t siglen)
{
	uint8_t mac[JWT_HS256_SIG_BYTES];
	int r;

	if (k->alg == JWT_EDDSA) {
		if (siglen != JWT_EDDSA_SIG_BYTES)
			return JWT_R_BAD_SIGNATURE;
		/* libsodium refuses non-canonical S and small-order points,
		 * so signatures are not malleable. */
		if (crypto_sign_ed25519_verify_detached(
			    sig, (const uint8_t *)signed_part, signed_len,
			    k->pub) != 0)
			return JWT_R_BAD_SIGNATURE;
		return JWT_R_OK;
	}
	if (siglen != JWT_HS256_SIG_BYTES)
		return JWT_R_BAD_SIGNATURE;
	jwt_hs256(k, (const uint8_t *)signed_part, signed_len, mac);
	r = crypto_verify_32(mac, sig) == 0 ? JWT_R_OK : JWT_R_BAD_SIGNATURE;
	sodium_memzero(mac, sizeof mac);
	return r;
}

/* Caller errors; want_aud gets the canonical expected audience. */
static bool args_ok(const char *token, const jwt_key *keys, size_t nkeys,
                    const jwt_expect *e, int64_t now, jwt_claims **ret,
                    char want_aud[static JWT_AUD_MAX + 1])
{
	size_t n;

	if (!token || !e || !ret || !e->issuer || !e->audience)
		return false;
	if (nkeys > JWT_KEYS_MAX || (nkeys && !keys))
		return false;
	if (e->leeway < 0 || e->leeway > JWT_LEEWAY_MAX || now < 0 ||
	    now > JWT_TIME_MAX)
		return false;
	n = strnlen(e->issuer, JWT_STRING_MAX + 1);
	if (n == 0 || n > JWT_STRING_MAX)
		return false;
	if (jwt_audience_canonical(e->audience, want_aud, JWT_AUD_MAX + 1) != 0)
		return false;
	for (size_t i = 0; i < nkeys; i++) {
		if (jwt_key_check(&keys[i]) != 0)
			return false;
		for (size_t j = 0; j < i; j++)
			if (strcmp(keys[i].kid, keys[j].kid) == 0)
				return false;
	}
	return true;
}

/* Times, issuer, audience; *ret_matched = the aud entry that matched. */
static int check_claims(const struct jwt_shape *s, const jwt_expect *e,
                        int64_t now, const char *want_aud, size_t *ret_matched)
{
	char aud[JWT_AUD_MAX + 1];

	if (now >= s->exp + e->leeway)
		return JWT_R_EXPIRED;
	if (s->has_nbf && s->nbf > now + e->leeway)
		return JWT_R_NOT_YET_VALID;
	if (s->has_iat && s->iat > now + e->leeway)
		return JWT_R_ISSUED_IN_FUTURE;
	if (strcmp(s->iss, e->issuer) != 0)
		return JWT_R_BAD_ISSUER;
	for (size_t i = 0; i < s->naud; i++) {
		if (jwt_audience_canonical(jwt_shape_aud(s, i), aud,
		                           sizeof aud) == 0 &&
		    strcmp(aud, want_aud) == 0) {
			*ret_matched = i;
			return JWT_R_OK;
		}
	}
	return JWT_R_BAD_AUDIENCE;
}

static int reason_to_error(int why)
{
	switch (why) {
	case JWT_R_OK:
		return 0;
	case JWT_R_MALFORMED:
	case JWT_R_TOO_BIG:
	case JWT_R_BAD_HEADER:
	case JWT_R_ERROR:
		return KW_EINVAL;
	default:
		return KW_EDENIED;
	}
}

int jwt_verify(const char *token, size_t len, const jwt_key *keys, size_t nkeys,
               const jwt_expect *expect, int64_t now, jwt_claims **ret_claims,
               int *reason)
{
	char want_aud[JWT_AUD_MAX + 1];
	uint8_t header[HEADER_RAW_MAX];
	uint8_t *buf = NULL; /* decoded payload, then signature */
	struct segments sg;
	struct jwt_shape shape;
	const jwt_key *key = NULL;
	json_t *payload = NULL;
	size_t hn = 0, pn = 0, sn = 0, matched = 0;
	int why, r = 0;

	if (!args_ok(token, keys, nkeys, expect, now, ret_claims, want_aud)) {
		why = JWT_R_ERROR;
		goto out;
	}
	if (len > JWT_TOKEN_MAX) {
		why = JWT_R_TOO_BIG;
		goto out;
	}
	if ((why = split(token, len, &sg)) != JWT_R_OK)
		goto out;
	/* Decoded sizes are below the encoded ones. */
	buf = kw_wipealloc(sg.plen + sg.slen);
	if (!buf) {
		why = JWT_R_ERROR;
		r = KW_ENOMEM;
		goto out;
	}
	why = JWT_R_MALFORMED;
	if (jwt_b64url_decode(sg.h, sg.hlen, header, sizeof header, &hn) ||
	    jwt_b64url_decode(sg.p, sg.plen, buf, sg.plen, &pn) ||
	    jwt_b64url_decode(sg.s, sg.slen, buf + pn, sg.slen, &sn))
		goto out;
	if ((why = check_header(header, hn, keys, nkeys, &key)) != JWT_R_OK ||
	    (why = check_signature(key, token, sg.signed_len, buf + pn, sn)) !=
	            JWT_R_OK)
		goto out;
	payload = json_loadb((const char *)buf, pn, JWT_JSON_FLAGS, NULL);
	if (!json_is_object(payload)) {
		why = JWT_R_MALFORMED;
		goto out;
	}
	if ((why = jwt_shape_check(payload, &shape)) != JWT_R_OK ||
	    (why = check_claims(&shape, expect, now, want_aud, &matched)) !=
	            JWT_R_OK)
		goto out;
	r = jwt_claims_new(payload, &shape, key, matched, ret_claims);
	if (r != 0)
		why = JWT_R_ERROR;
out:
	if (r == 0)
		r = reason_to_error(why);
	if (reason)
		*reason = why;
	sodium_memzero(header, sizeof header);
	json_decref(payload);
	kw_wipefree(buf);
	return r;
}
