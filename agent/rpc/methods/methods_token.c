/*
 * methods_token.c - token.issue, token.verify and jwks: JWT access tokens
 * signed with a key kept in the store as the versions of one secret
 * ([token] signing_key). The current version signs; it and the previous
 * version, while a rotation's overlap lasts, verify (docs/tokens.md).
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "clock.h"
#include "dispatch.h"
#include "jwt.h"
#include "keyward.h"
#include "log.h"
#include "policy.h"
#include "scope.h"
#include "secmem.h"
#include "store.h"

#define TOKEN_TEXT_MAX     255u /* subject, client_id */
#define TOKEN_AUD_MAX      8u   /* audiences of one token */
#define TOKEN_SCOPES_MAX   32u
#define SIGNING_SEED_BYTES 32u

/* Up to two keys: [0] the current version (signs), [1] the previous one
 * while its overlap lasts. Secrets in wiping memory. */
struct keyset {
	jwt_key keys[2];
	uint8_t *secret[2];
	size_t n;
};

static void keyset_free(struct keyset *ks)
{
	for (size_t i = 0; i < 2; i++)
		kw_wipefree(ks->secret[i]);
	sodium_memzero(ks, sizeof(*ks));
}

struct versions_pick {
	int64_t now;
	uint64_t current, previous;
};

static int pick_version(const store_version_info *v, void *arg)
{
	struct versions_pick *p = arg;
	if (strcmp(v->stage, "current") == 0)
		p->current = v->version;
	else if (strcmp(v->stage, "previous") == 0 && v->retire_at > p->now)
		p->previous = v->version;
	return 0;
}

/*
 * Public keys of recent Ed25519 seeds, so that verifying does not derive
 * the key pair again for every token (that costs a third of a verify).
 * Looked up by a keyed hash of the seed itself, never by version number:
 * a secret deleted and made again starts its versions over.
 */
#define PK_CACHE 4u
static struct pk_cache {
	uint8_t seed_mac[crypto_generichash_BYTES];
	uint8_t pk[crypto_sign_PUBLICKEYBYTES];
	bool used;
} pk_cache[PK_CACHE];
static uint8_t pk_cache_key[crypto_generichash_KEYBYTES];
static unsigned pk_cache_next;

static int seed_public_key(const uint8_t seed[static SIGNING_SEED_BYTES],
                           uint8_t pk[static crypto_sign_PUBLICKEYBYTES])
{
	uint8_t mac[crypto_generichash_BYTES];
	if (pk_cache_next == 0 && !pk_cache[0].used)
		randombytes_buf(pk_cache_key, sizeof(pk_cache_key));
	crypto_generichash(mac, sizeof(mac), seed, SIGNING_SEED_BYTES,
	                   pk_cache_key, sizeof(pk_cache_key));
	for (unsigned i = 0; i < PK_CACHE; i++) {
		if (pk_cache[i].used && sodium_memcmp(pk_cache[i].seed_mac, mac,
		                                      sizeof(mac)) == 0) {
			memcpy(pk, pk_cache[i].pk, crypto_sign_PUBLICKEYBYTES);
			return 0;
		}
	}
	uint8_t *sk = kw_wipealloc(crypto_sign_SECRETKEYBYTES);
	if (!sk)
		return KW_ENOMEM;
	int r = crypto_sign_seed_keypair(pk, sk, seed) == 0 ? 0 : KW_ECONFIG;
	kw_wipefree(sk);
	if (r == 0) {
		struct pk_cache *e = &pk_cache[pk_cache_next++ % PK_CACHE];
		memcpy(e->seed_mac, mac, sizeof(mac));
		memcpy(e->pk, pk, crypto_sign_PUBLICKEYBYTES);
		e->used = true;
	}
	return r;
}

/* One version of the signing key as a jwt_key; with need_secret, one that
 * can sign (else an Ed25519 key holds its public half only). */
static int key_load(rpc_host *h, uint64_t version, bool need_secret,
                    struct keyset *ks)
{
	const char *name = h->cfg->token_signing_key;
	store_value *v = NULL;
	size_t i = ks->n;
	int r = store_get(*h->st, *h->dk, name, version, NULL, &v);
	if (r < 0)
		return r;
	if (h->cfg->token_alg == TOKEN_ALG_EDDSA && !need_secret) {
		uint8_t pk[crypto_sign_PUBLICKEYBYTES];
		r = v->len == SIGNING_SEED_BYTES ?
		            seed_public_key(v->value, pk) :
		            KW_ECONFIG;
		if (r == 0)
			jwt_key_ed25519(pk, NULL, &ks->keys[i]);
	} else if (h->cfg->token_alg == TOKEN_ALG_EDDSA) {
		uint8_t pk[crypto_sign_PUBLICKEYBYTES];
		r = KW_ECONFIG;
		ks->secret[i] = kw_wipealloc(crypto_sign_SECRETKEYBYTES);
		if (!ks->secret[i])
			r = KW_ENOMEM;
		else if (v->len == SIGNING_SEED_BYTES &&
		         crypto_sign_seed_keypair(pk, ks->secret[i],
		                                  v->value) == 0)
			r = 0;
		if (r == 0)
			jwt_key_ed25519(pk, ks->secret[i], &ks->keys[i]);
	} else {
		ks->secret[i] = v->value; /* the jwt_key borrows it */
		v->value = NULL;
		r = jwt_key_hs256(NULL, ks->secret[i], v->len, &ks->keys[i]);
		if (r < 0)
			r = KW_ECONFIG;
	}
	store_value_free(v);
	if (r == KW_ECONFIG)
		log_error("version %llu of %s is not a valid %s key",
		          (unsigned long long)version, name,
		          h->cfg->token_alg == TOKEN_ALG_EDDSA ?
		                  "EdDSA (a "
		                  "32-byte seed)" :
		                  "HS256 (32 to "
		                  "64 bytes)");
	if (r == 0)
		ks->n++;
	return r;
}

/*
 * The keyset of the signing key at now. With create (for signing), a
 * signing key that does not exist yet is made (version 1, random) in the
 * open batch, and the keys hold their secrets; without, Ed25519 keys hold
 * only their public halves.
 */
static int keyset_load(rpc_host *h, int64_t now, bool create, struct keyset *ks)
{
	const char *name = h->cfg->token_signing_key;
	struct versions_pick p = { .now = now };
	int r;

	memset(ks, 0, sizeof(*ks));
	r = store_versions(*h->st, name, pick_version, &p);
	if (r < 0 && r != KW_ENOTFOUND)
		return r;
	if (p.current == 0 && create) {
		uint8_t seed[SIGNING_SEED_BYTES];
		randombytes_buf(seed, sizeof(seed));
		r = store_put(*h->st, *h->dk, name, seed, sizeof(seed),
		              h->cfg->max_versions, now, &p.current);
		sodium_memzero(seed, sizeof(seed));
		if (r < 0)
			return r;
		log_info("created the token signing key %s", name);
	}
	if (p.current == 0)
		return KW_ENOTFOUND;
	r = key_load(h, p.current, create, ks);
	if (r == 0 && p.previous)
		r = key_load(h, p.previous, create, ks);
	if (r < 0)
		keyset_free(ks);
	return r;
}

/* The grant a token method needs on the signing key's name (admin, for
 * issuing: a broad write glob must not mint tokens). */
static int token_grant(rpc_ctx *x, enum policy_op op)
{
	x->name = x->h->cfg->token_signing_key;
	if (x->principal && policy_client_allows(x->principal, op, x->name))
		return 0;
	return rpc_fail(x, KW_EDENIED, NULL,
	                "[client \"%s\"] grants no %s %s the token signing "
	                "key %s",
	                x->principal_name, policy_op_name(op),
	                op == POLICY_OP_ADMIN ? "to issue with" : "on",
	                x->name);
}

/* 1..max printable ASCII (a subject, a client id). */
static bool printable(const char *s, size_t n, size_t max)
{
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < 0x21 || s[i] > 0x7e)
			return false;
	}
	return true;
}

/* params.key as a list of scopes, space-joined into out ("" if absent). */
static int param_scopes(rpc_ctx *x, const char *key, char *out, size_t outsz)
{
	json_t *arr = json_object_get(x->params, key);
	size_t i, len = 0;
	json_t *v;

	out[0] = '\0';
	if (!arr)
		return 0;
	if (!json_is_array(arr) || json_array_size(arr) > TOKEN_SCOPES_MAX)
		return rpc_fail(x, KW_EINVAL, key,
		                "must be an array of at most %u scopes",
		                TOKEN_SCOPES_MAX);
	json_array_foreach(arr, i, v)
	{
		if (!json_is_string(v) ||
		    !kw_scope_name_valid(json_string_value(v),
		                         json_string_length(v)))
			return rpc_fail(
				x, KW_EINVAL, key,
				"scope %zu: 1 to %u of [A-Za-z0-9:._/-]", i + 1,
				KW_SCOPE_NAME_MAX);
		int n = snprintf(out + len, outsz - len, "%s%s", len ? " " : "",
		                 json_string_value(v));
		if (n < 0 || (size_t)n >= outsz - len)
			return rpc_fail(x, KW_ETOOBIG, key, "too long");
		len += (size_t)n;
	}
	return 0;
}

/* params.audience: one URI or an array of them, each checked. */
static int param_audience(rpc_ctx *x, json_t **ret_aud)
{
	json_t *v = json_object_get(x->params, "audience");
	char canon[JWT_AUD_MAX + 1];
	size_t i;
	json_t *e;

	if (json_is_string(v)) {
		if (jwt_audience_canonical(json_string_value(v), canon,
		                           sizeof(canon)) < 0)
			return rpc_fail(x, KW_EINVAL, "audience",
			                "must be an absolute URI without "
			                "fragment or user info");
		*ret_aud = json_incref(v);
		return 0;
	}
	if (!json_is_array(v) || json_array_size(v) == 0 ||
	    json_array_size(v) > TOKEN_AUD_MAX)
		return rpc_fail(x, KW_EINVAL, "audience",
		                "required: a URI or an array of 1 to %u URIs",
		                TOKEN_AUD_MAX);
	json_array_foreach(v, i, e)
	{
		if (!json_is_string(e) ||
		    jwt_audience_canonical(json_string_value(e), canon,
		                           sizeof(canon)) < 0)
			return rpc_fail(x, KW_EINVAL, "audience",
			                "entry %zu: must be an absolute URI "
			                "without fragment or user info",
			                i + 1);
	}
	*ret_aud = json_incref(v);
	return 0;
}

/* An optional printable string member. */
static int param_text(rpc_ctx *x, const char *key, bool required,
                      const char **ret)
{
	size_t n;
	int r = rpc_opt_string(x, key, TOKEN_TEXT_MAX, ret, &n);
	if (r < 0)
		return r;
	if (!*ret)
		return required ? rpc_fail(x, KW_EINVAL, key, "required") : 0;
	if (!printable(*ret, n, TOKEN_TEXT_MAX))
		return rpc_fail(x, KW_EINVAL, key,
		                "1 to %u printable ASCII characters",
		                TOKEN_TEXT_MAX);
	return 0;
}

int method_token_issue(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { "subject",   "audience", "scopes",
		                            "client_id", "ttl",      NULL };
	rpc_host *h = x->h;
	const char *sub, *client_id;
	char scopes[TOKEN_SCOPES_MAX * (KW_SCOPE_NAME_MAX + 1) + 1];
	json_t *aud = NULL;
	bool has_ttl;
	uint64_t ttl;
	int r;

	if ((r = rpc_allow(x, keys)) < 0 ||
	    (r = token_grant(x, POLICY_OP_ADMIN)) < 0 ||
	    (r = param_text(x, "subject", true, &sub)) < 0 ||
	    (r = param_text(x, "client_id", false, &client_id)) < 0 ||
	    (r = param_scopes(x, "scopes", scopes, sizeof(scopes))) < 0 ||
	    (r = rpc_opt_uint(x, "ttl", 1, h->cfg->token_max_ttl, &has_ttl,
	                      &ttl)) < 0 ||
	    (r = param_audience(x, &aud)) < 0)
		return r;
	if (!has_ttl)
		ttl = h->cfg->token_default_ttl;

	int64_t now = clock_now();
	struct keyset ks;
	r = keyset_load(h, now, true, &ks);
	if (r < 0) {
		json_decref(aud);
		return r == KW_ECONFIG ?
		               rpc_fail(x, KW_ESTATE, NULL,
		                        "the token signing key is not a valid "
		                        "key for [token] alg (see the log)") :
		               r;
	}
	uint8_t jti_raw[16];
	char jti[32];
	size_t jlen;
	randombytes_buf(jti_raw, sizeof(jti_raw));
	jwt_b64url_encode(jti_raw, sizeof(jti_raw), jti, sizeof(jti), &jlen);
	json_t *claims =
		json_pack("{s:s, s:s, s:o, s:I, s:I, s:s}", "iss",
	                  h->cfg->token_issuer, "sub", sub, "aud", aud, "iat",
	                  (json_int_t)now, "exp",
	                  (json_int_t)(now + (int64_t)ttl), "jti", jti);
	if (claims && client_id)
		json_object_set_new(claims, "client_id",
		                    json_string(client_id));
	if (claims && scopes[0])
		json_object_set_new(claims, "scope", json_string(scopes));
	char *token = NULL;
	r = claims ? jwt_sign(&ks.keys[0], claims, &token) : KW_ENOMEM;
	json_decref(claims);
	if (r == 0) {
		*ret_result = json_pack("{s:s, s:I, s:s}", "token", token,
		                        "expires_at",
		                        (json_int_t)(now + (int64_t)ttl), "kid",
		                        ks.keys[0].kid);
		r = *ret_result ? 0 : KW_ENOMEM;
	}
	kw_wipefree_str(token);
	keyset_free(&ks);
	return r;
}

static json_t *claims_json(const jwt_claims *c)
{
	json_t *aud = json_array(), *scopes = json_array();
	for (size_t i = 0; aud && i < c->naud; i++)
		json_array_append_new(aud, json_string(c->aud[i]));
	for (size_t i = 0; scopes && i < c->nscopes; i++)
		json_array_append_new(scopes, json_string(c->scopes[i]));
	/* sub and iat are required claims (jwt.h): never null here. */
	return json_pack("{s:s, s:s?, s:o, s:I, s:I, s:o, s:s, s:s, s:o}",
	                 "subject", c->sub, "client_id", c->client_id, "scopes",
	                 scopes, "expires_at", (json_int_t)c->exp, "issued_at",
	                 (json_int_t)c->iat, "audience", aud, "issuer", c->iss,
	                 "kid", c->kid, "extra",
	                 c->extra ? json_incref(c->extra) : json_object());
}

int method_token_verify(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { "token", "audience", "scopes",
		                            NULL };
	rpc_host *h = x->h;
	const char *token, *audience;
	size_t tlen, alen;
	char need[TOKEN_SCOPES_MAX * (KW_SCOPE_NAME_MAX + 1) + 1];
	char canon[JWT_AUD_MAX + 1];
	int r, reason = JWT_R_OK;

	if ((r = rpc_allow(x, keys)) < 0 ||
	    (r = token_grant(x, POLICY_OP_VERIFY)) < 0 ||
	    (r = rpc_opt_string(x, "audience", JWT_AUD_MAX, &audience, &alen)) <
	            0 ||
	    (r = param_scopes(x, "scopes", need, sizeof(need))) < 0)
		return r;
	if (!audience ||
	    jwt_audience_canonical(audience, canon, sizeof(canon)) < 0)
		return rpc_fail(x, KW_EINVAL, "audience",
		                "required: an absolute URI without fragment "
		                "or user info");
	r = rpc_opt_string(x, "token", JWT_TOKEN_MAX, &token, &tlen);
	if (r == KW_ETOOBIG)
		reason = JWT_R_TOO_BIG;
	else if (r < 0)
		return r;
	else if (!token)
		return rpc_fail(x, KW_EINVAL, "token", "required");

	int64_t now = clock_now();
	struct keyset ks = { .n = 0 };
	jwt_claims *c = NULL;
	if (reason == JWT_R_OK) {
		r = keyset_load(h, now, false, &ks);
		if (r == KW_ENOTFOUND)
			reason = JWT_R_UNKNOWN_KID; /* no key was ever made */
		else if (r < 0)
			return r == KW_ECONFIG ? KW_ESTATE : r;
	}
	if (reason == JWT_R_OK) {
		jwt_expect exp = {
			.issuer = h->cfg->token_issuer,
			.audience = audience,
			.leeway = h->cfg->token_leeway,
		};
		r = jwt_verify(token, tlen, ks.keys, ks.n, &exp, now, &c,
		               &reason);
		if (r == KW_ENOMEM) {
			keyset_free(&ks);
			return r;
		}
	}
	keyset_free(&ks);
	if (!c) {
		x->extra =
			json_pack("{s:s}", "reason", jwt_reason_name(reason));
		return rpc_fail(x, KW_ETOKEN, "token", "%s",
		                jwt_reason_text(reason));
	}
	/* Every required scope, or 403 with the list. */
	for (char *s = need, *end; *s; s = end + (*end != '\0')) {
		end = s + strcspn(s, " ");
		char saved = *end;
		*end = '\0';
		bool has = jwt_claims_has_scope(c, s);
		*end = saved;
		if (!has) {
			jwt_claims_free(c);
			x->extra = json_pack("{s:s}", "scope", need);
			return rpc_fail(x, KW_ESCOPE, "scopes",
			                "the token lacks a required scope");
		}
	}
	*ret_result = claims_json(c);
	jwt_claims_free(c);
	return *ret_result ? 0 : KW_ENOMEM;
}

int method_jwks(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { NULL };
	struct keyset ks;
	int r;

	if ((r = rpc_allow(x, keys)) < 0)
		return r;
	r = keyset_load(x->h, clock_now(), false, &ks);
	if (r == KW_ENOTFOUND) {
		*ret_result = json_pack("{s:[]}", "keys");
		return *ret_result ? 0 : KW_ENOMEM;
	}
	if (r < 0)
		return r == KW_ECONFIG ? KW_ESTATE : r;
	*ret_result = jwt_jwks_json(ks.keys, ks.n);
	keyset_free(&ks);
	return *ret_result ? 0 : KW_ENOMEM;
}
