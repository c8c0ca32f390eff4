/*
 * jwt.h - JWT access tokens (RFC 9068 profile of RFC 7519, JWS compact
 * serialization of RFC 7515), signed with Ed25519 (RFC 8037, "EdDSA") or
 * HMAC-SHA-256 ("HS256"). Pure functions: no store, no clock, no logging.
 *
 * Tokens we issue:
 *     header  {"alg":"EdDSA"|"HS256","typ":"at+jwt","kid":KID}  (this order)
 *     payload the caller's claims, compact JSON
 *     token   b64url(header) "." b64url(payload) "." b64url(signature)
 * base64url is RFC 4648 section 5 without padding.
 *
 * What jwt_verify accepts (RFC 8725 best practice, stricter where noted):
 *   - at most JWT_TOKEN_MAX bytes, exactly two dots, no empty segment, only
 *     [A-Za-z0-9_-] elsewhere (so no padding, whitespace or NUL), canonical
 *     base64url (unused trailing bits zero);
 *   - header: at most JWT_HEADER_B64_MAX encoded bytes, a JSON object without
 *     duplicate members holding only "alg", "typ" and "kid". Any other member
 *     is refused, "crit" included: RFC 7515 would have us ignore unknown
 *     members, but we issue exactly these three, and refusing the rest shuts
 *     out key-injection members (jku, jwk, x5u, x5c) and extensions we do not
 *     implement (b64) at no cost;
 *   - "typ" "at+jwt" or "application/at+jwt", compared case-insensitively
 *     (RFC 9068 section 4, RFC 7515 section 4.1.9);
 *   - "kid" names one key of the keyset; the algorithm is the key's, and the
 *     header's "alg" must equal it exactly (case-sensitive). "none", RS256 and
 *     the rest are unsupported; HS256 on an Ed25519 key (the public key used
 *     as an HMAC secret) is an algorithm mismatch;
 *   - the signature is checked before the payload is parsed;
 *   - claims (types and sizes below), then times, issuer and audience.
 *
 * Claims (all sizes in bytes; strings are UTF-8 without control characters):
 *   exp        required, integer NumericDate in [0, JWT_TIME_MAX]; a
 *              fractional NumericDate is refused (we only issue integers);
 *              valid while now < exp + leeway
 *   iat        required, same type; iat <= now + leeway
 *   nbf        optional, same type; nbf <= now + leeway
 *   iss        required string (1..JWT_STRING_MAX), equal byte for byte to
 *              the expected issuer
 *   aud        required: a string or a non-empty array of at most
 *              JWT_AUD_COUNT_MAX strings (each 1..JWT_AUD_MAX); one entry
 *              must match the expected audience (jwt_audience_match)
 *   sub, jti   required strings (1..JWT_STRING_MAX): RFC 9068 section 2.2
 *              makes them, and iat, mandatory in an access token
 *   client_id  optional string (1..JWT_STRING_MAX)
 *   scope      optional RFC 6749 section 3.3 list: scope-tokens of
 *              %x21 / %x23-5B / %x5D-7E, one space between them, no leading
 *              or trailing space, not empty (omit the claim for no scopes);
 *              each token 1..JWT_SCOPE_MAX, at most JWT_SCOPES_MAX tokens,
 *              the whole string at most JWT_SCOPE_STR_MAX
 *   anything else, and jti, is kept untouched in jwt_claims.extra.
 *
 * Audience comparison (RFC 8707 resource indicators; the MCP authorization
 * spec's canonical server URI). An audience must be an absolute URI
 * scheme "://" host [":" port] [path] ["?" query], at most JWT_AUD_MAX bytes
 * of RFC 3986 characters, with no fragment ('#'), no userinfo ('@' before the
 * host), no dot segments ("/./", "/../") and well-formed %HH escapes. Its
 * canonical form lowercases scheme and host, drops an empty port and the
 * default port of http (80) and https (443), removes leading zeros of the
 * port, uppercases the hex digits of %HH escapes, and removes one trailing
 * '/' from the path (so "https://h", "https://h/" match, and so do
 * "https://h/mcp" and "https://h/mcp/") unless another '/' precedes it
 * ("https://h/mcp//" matches only itself: a canonical form is its own
 * canonical form). Path and query are otherwise
 * compared byte for byte (case-sensitive, escapes not decoded). Token "aud"
 * entries that are not such URIs never match; an expected audience that is
 * not one is a caller error.
 *
 * Key ids: Ed25519 keys are named by their RFC 7638 JWK thumbprint,
 * base64url(SHA-256('{"crv":"Ed25519","kty":"OKP","x":"<x>"}')), 43
 * characters, so any verifier holding the JWK Set can recompute it. HS256
 * keys are never published; their derived id is "hs." followed by the
 * base64url of 16 bytes of BLAKE2b keyed with the secret (a PRF output: it
 * names the key without revealing anything about it), and a '.' can never
 * appear in a thumbprint, so the two kinds cannot collide. Any kid is
 * 1..JWT_KID_MAX characters of [A-Za-z0-9._-].
 */
#ifndef KW_JWT_H
#define KW_JWT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JWT_TOKEN_MAX         8192u /* bytes of a compact token */
#define JWT_HEADER_B64_MAX    1024u /* bytes of the encoded header */
#define JWT_KID_MAX           64u
#define JWT_KID_THUMB_LEN     43u /* an RFC 7638 SHA-256 thumbprint */
#define JWT_ED25519_PUB_BYTES 32u
#define JWT_ED25519_SK_BYTES  64u /* libsodium form: seed || public key */
#define JWT_HS256_KEY_MIN     32u
#define JWT_HS256_KEY_MAX     64u
#define JWT_STRING_MAX        256u  /* iss, sub, jti, client_id */
#define JWT_AUD_MAX           512u  /* one audience URI */
#define JWT_AUD_COUNT_MAX     16u   /* entries of an "aud" array */
#define JWT_SCOPE_MAX         128u  /* one scope token */
#define JWT_SCOPES_MAX        64u   /* tokens in "scope" */
#define JWT_SCOPE_STR_MAX     2048u /* the whole "scope" string */
#define JWT_KEYS_MAX          16u   /* keys in a keyset */
#define JWT_LEEWAY_MAX        3600  /* seconds */
#define JWT_TIME_MAX          INT64_C(253402300799) /* 9999-12-31T23:59:59Z */

enum jwt_alg {
	JWT_EDDSA = 1, /* Ed25519, RFC 8037 */
	JWT_HS256 = 2, /* HMAC-SHA-256, RFC 7518 section 3.2 */
};

/*
 * A key. The struct does not own secret: the caller keeps it alive (and
 * readable) for as long as the key is used, and wipes it.
 *   JWT_EDDSA: pub is the public key; secret is NULL (verification only) or
 *              the 64-byte libsodium secret key, whose last 32 bytes must
 *              equal pub.
 *   JWT_HS256: secret is the HMAC key, JWT_HS256_KEY_MIN..MAX bytes; pub is
 *              unused.
 */
typedef struct jwt_key {
	char kid[JWT_KID_MAX + 1];
	enum jwt_alg alg;
	uint8_t pub[JWT_ED25519_PUB_BYTES];
	const uint8_t *secret;
	size_t secret_len;
} jwt_key;

/* What the verifier expects. issuer and audience are required. */
typedef struct jwt_expect {
	const char *issuer;   /* compared exactly */
	const char *audience; /* compared canonically (see above) */
	int64_t leeway;       /* seconds of clock skew, 0..JWT_LEEWAY_MAX */
} jwt_expect;

/*
 * Why a token was refused. Stable: the numbers and the jwt_reason_name()
 * identifiers may be logged, audited and sent on the wire.
 */
enum jwt_reason {
	JWT_R_OK = 0,
	JWT_R_MALFORMED,       /* not a compact JWS (dots, base64url, JSON) */
	JWT_R_TOO_BIG,         /* token or header over its bound */
	JWT_R_BAD_HEADER,      /* header not an object, unknown or bad member */
	JWT_R_BAD_TYPE,        /* typ missing or not at+jwt */
	JWT_R_UNSUPPORTED_ALG, /* alg is not EdDSA or HS256 */
	JWT_R_UNKNOWN_KID,     /* no key of the keyset has this kid */
	JWT_R_ALG_MISMATCH,    /* alg is not the algorithm of the kid's key */
	JWT_R_BAD_SIGNATURE,   /* signature wrong, or of the wrong length */
	JWT_R_MISSING_CLAIM,   /* exp, iat, iss, aud, sub or jti absent */
	JWT_R_BAD_CLAIM,       /* a claim of the wrong type or size */
	JWT_R_EXPIRED,         /* now >= exp + leeway */
	JWT_R_NOT_YET_VALID,   /* now + leeway < nbf */
	JWT_R_ISSUED_IN_FUTURE, /* now + leeway < iat */
	JWT_R_BAD_ISSUER,       /* iss is not the expected issuer */
	JWT_R_BAD_AUDIENCE,     /* no aud entry is the expected audience */
	JWT_R_ERROR,            /* not checked: bad arguments or no memory */
};

/* A short sentence for reason; never quotes any part of a token. */
const char *jwt_reason_text(int reason);
/* A stable lowercase identifier ("expired", "bad_audience", ...). */
const char *jwt_reason_name(int reason);

/*
 * A verified token. Every pointer is owned by the jwt_claims and valid until
 * jwt_claims_free. Strings are NUL-terminated UTF-8 without controls.
 */
typedef struct jwt_claims {
	enum jwt_alg alg;          /* of the key that verified it */
	char kid[JWT_KID_MAX + 1]; /* that key's id */
	const char *iss;           /* the issuer */
	const char *sub;           /* always set (a required claim) */
	const char *client_id;     /* NULL if absent */
	const char *audience;      /* the aud entry that matched, as sent */
	const char *const *aud;    /* every aud entry, in token order */
	size_t naud;               /* >= 1 */
	const char *const *scopes; /* the scope tokens, in token order */
	size_t nscopes;            /* 0 if there was no scope claim */
	int64_t exp;               /* always set */
	int64_t iat, nbf;          /* nbf 0 unless has_nbf */
	bool has_iat, has_nbf;     /* has_iat: always (a required claim) */
	json_t *extra; /* object of the other claims; json_incref to keep */
} jwt_claims;

/* Is scope one of c's scope tokens? Exact, case-sensitive. */
bool jwt_claims_has_scope(const jwt_claims *c, const char *scope);
/* Wipe and free. NULL ok. */
void jwt_claims_free(jwt_claims *c);

/*
 * Fill *ret_key for an Ed25519 key: alg, pub, kid (the thumbprint), and
 * secret = sk (NULL for a verification-only key; else 64 bytes ending in
 * pub, borrowed as described at jwt_key).
 */
void jwt_key_ed25519(const uint8_t pub[static JWT_ED25519_PUB_BYTES],
                     const uint8_t *sk, jwt_key *ret_key);
/*
 * Fill *ret_key for an HS256 key (secret borrowed). kid NULL derives the
 * "hs." id. 0, or KW_EINVAL (secret length out of range, kid invalid).
 */
int jwt_key_hs256(const char *kid, const uint8_t *secret, size_t secret_len,
                  jwt_key *ret_key);
/* 0 if k is well-formed (see jwt_key; kid charset); KW_EINVAL if not. */
int jwt_key_check(const jwt_key *k);
/* Is kid 1..JWT_KID_MAX characters of [A-Za-z0-9._-]? */
bool jwt_kid_valid(const char *kid);
/* The RFC 7638 thumbprint of pub's OKP JWK: 43 characters and a NUL. */
void jwt_kid_for(const uint8_t pub[static JWT_ED25519_PUB_BYTES],
                 char ret_kid[static JWT_KID_THUMB_LEN + 1]);

/*
 * Sign claims (a JSON object) with k, which must hold its secret. The claims
 * must pass the checks jwt_verify makes on types and sizes (exp, iat, iss,
 * aud, sub and jti present, ...), so that we never issue a token we would
 * refuse; times, issuer and audience values are the caller's business.
 * *ret_token is NUL-terminated, at most JWT_TOKEN_MAX bytes, in wiping
 * memory: free it with kw_wipefree_str (secmem.h).
 * 0, KW_EINVAL (bad key or claims), KW_ETOOBIG (token over JWT_TOKEN_MAX),
 * KW_ENOMEM.
 */
int jwt_sign(const jwt_key *k, const json_t *claims, char **ret_token);

/*
 * Verify token (len bytes; need not be NUL-terminated) against a keyset of
 * nkeys keys (the current one and those still in overlap; their kids must be
 * distinct) as described at the top, at time now (seconds since the epoch,
 * 0..JWT_TIME_MAX).
 * On success returns 0 and sets *ret_claims (free with jwt_claims_free).
 * On failure *ret_claims is untouched and the return value is:
 *   KW_EINVAL   the token is not a well-formed JWS of ours: reasons
 *               MALFORMED, TOO_BIG, BAD_HEADER; or (reason ERROR) the
 *               arguments are bad: NULLs, a malformed key, duplicate kids,
 *               more than JWT_KEYS_MAX keys, an expected audience that is not
 *               an absolute URI, leeway or now out of range;
 *   KW_EDENIED  it is well-formed but refused: every other reason;
 *   KW_ENOMEM   (reason ERROR).
 * Both KW_EINVAL and KW_EDENIED on a token mean HTTP 401 invalid_token.
 * If reason is not NULL it is set on every return (JWT_R_OK on success): it
 * is a diagnostic, not an output, so it is set on failure too.
 */
int jwt_verify(const char *token, size_t len, const jwt_key *keys, size_t nkeys,
               const jwt_expect *expect, int64_t now, jwt_claims **ret_claims,
               int *reason);

/*
 * The public JWK of an Ed25519 key (new reference):
 *     {"kty":"OKP","crv":"Ed25519","x":...,"kid":...,"alg":"EdDSA","use":"sig"}
 * NULL for an HS256 key (never published), a malformed key, or no memory.
 */
json_t *jwt_jwk_json(const jwt_key *k);
/* {"keys":[...]} with the JWK of every Ed25519 key (HS256 keys skipped), in
 * keyset order. New reference; NULL on a malformed key or no memory. */
json_t *jwt_jwks_json(const jwt_key *keys, size_t nkeys);

/*
 * The canonical form of an audience URI (rules at the top) and a NUL into
 * out. 0, KW_EINVAL (not an acceptable absolute URI), KW_ETOOBIG (outsz too
 * small; JWT_AUD_MAX + 1 always suffices: canonical forms are never longer).
 */
int jwt_audience_canonical(const char *uri, char *out, size_t outsz);
/* Are a and b acceptable audience URIs with equal canonical forms? */
bool jwt_audience_match(const char *a, const char *b);

/*
 * base64url without padding (RFC 4648 section 5), as used in tokens.
 * encode: writes the text and a NUL; *ret_len = its length. 0 or KW_ETOOBIG.
 * decode: strict: only [A-Za-z0-9_-], length not 1 mod 4, unused bits zero.
 * 0, KW_EINVAL (not canonical base64url), KW_ETOOBIG (outsz too small).
 */
int jwt_b64url_encode(const uint8_t *in, size_t len, char *out, size_t outsz,
                      size_t *ret_len);
int jwt_b64url_decode(const char *in, size_t len, uint8_t *out, size_t outsz,
                      size_t *ret_len);

#endif
