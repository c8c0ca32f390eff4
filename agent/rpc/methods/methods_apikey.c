/*
 * methods_apikey.c - managed API keys: apikey.create, apikey.list,
 * apikey.revoke, apikey.rotate, apikey.verify (docs/protocol.md).
 *
 * A key is "kwk_" ID "_" SECRET CHECK (common/apikey.h). The agent keeps
 * its id and BLAKE2b-256(key) keyed with a subkey of the data key
 * (crypto_kdf id 3, "kwapikey"), so a copy of secrets.db neither reveals
 * nor verifies keys. The key itself exists only in the answer to create
 * or rotate; it is never logged, audited or put in an error.
 *
 * Verification: the key is checked whole (prefix, length, characters,
 * checksum) before any lookup; then found by id and its hash compared in
 * constant time; then the caller's verify grant must cover
 * "apikey/<principal>" (if not, the answer is the one for an unknown key,
 * and only the audit row says denied); then revoked, expired and the end
 * of a rotation's overlap are told apart. Every failure spends one unit
 * of the caller's failure budget; an empty budget refuses every verify
 * of that principal with rate_limited until it refills. Times are
 * clock_now() (clock.h), which test builds let the tests move.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "apikey.h"
#include "clock.h"
#include "conn.h"
#include "dispatch.h"
#include "keyward.h"
#include "log.h"
#include "name.h"
#include "policy.h"
#include "ratelimit.h"
#include "scope.h"
#include "store_apikeys.h"

#define SCOPES_MAX  32u
#define TTL_MAX     315360000u /* 10 years */
#define OVERLAP_MAX 31536000u  /* 1 year, as for schedules */
/* Fresh ids drawn before giving up (a clash of 71-bit ids is a miracle). */
#define NEW_ID_TRIES 4

/* The failure budget of each verifying principal: 20 at once, then 10 a
 * second. */
static const policy_rate verify_failures = { 10, 1000, 20 };

static const char unknown_key[] = "unknown API key";

static int apikey_hash(rpc_host *h, const char *key, size_t len,
                       uint8_t out[static STORE_APIKEY_HASH_BYTES])
{
	if (!*h->apikey_key)
		return KW_ELOCKED;
	int r = crypto_generichash(out, STORE_APIKEY_HASH_BYTES,
	                           (const unsigned char *)key, len,
	                           key_bytes(*h->apikey_key), KEY_BYTES);
	key_done(*h->apikey_key);
	return r == 0 ? 0 : KW_EINTERNAL;
}

/* The audit row names the key by its id (never the key). */
static void audit_name(rpc_ctx *x, const char *id)
{
	snprintf(x->name_buf, sizeof(x->name_buf), "%s", id);
	x->name = x->name_buf;
}

static int principal_check(rpc_ctx *x, const char *key, const char *p, size_t n)
{
	const char *rule = NULL;

	if (kw_name_check(p, n, &rule) < 0)
		return rpc_fail(x, KW_ENAME, key, "%s", rule);
	if (n > STORE_APIKEY_PRINCIPAL_MAX)
		return rpc_fail(x, KW_ENAME, key, "at most %u bytes",
		                STORE_APIKEY_PRINCIPAL_MAX);
	return 0;
}

/* Optional principal (required if required); *ret NULL if absent. */
static int param_principal(rpc_ctx *x, bool required, const char **ret)
{
	json_t *v = json_object_get(x->params, "principal");

	*ret = NULL;
	if (!v)
		return required ?
		               rpc_fail(x, KW_EINVAL, "principal", "required") :
		               0;
	if (!json_is_string(v))
		return rpc_fail(x, KW_EINVAL, "principal", "must be a string");
	int r = principal_check(x, "principal", json_string_value(v),
	                        json_string_length(v));
	if (r == 0)
		*ret = json_string_value(v);
	return r;
}

/* Optional scopes: an array of distinct scopes, joined by spaces into
 * out ("" if absent or empty). */
static int param_scopes(rpc_ctx *x,
                        char out[static STORE_APIKEY_SCOPES_MAX + 1])
{
	json_t *arr = json_object_get(x->params, "scopes");
	size_t len = 0, i;
	json_t *v;

	out[0] = '\0';
	if (!arr)
		return 0;
	if (!json_is_array(arr))
		return rpc_fail(x, KW_EINVAL, "scopes",
		                "must be an array of strings");
	if (json_array_size(arr) > SCOPES_MAX)
		return rpc_fail(x, KW_EINVAL, "scopes", "at most %u scopes",
		                SCOPES_MAX);
	json_array_foreach(arr, i, v)
	{
		if (!json_is_string(v) ||
		    !kw_scope_name_valid(json_string_value(v),
		                         json_string_length(v)))
			return rpc_fail(x, KW_EINVAL, "scopes",
			                "scope %zu: must be 1 to %u characters "
			                "of A-Z a-z 0-9 : . _ / -",
			                i + 1, KW_SCOPE_NAME_MAX);
		for (size_t j = 0; j < i; j++) {
			if (json_equal(v, json_array_get(arr, j)))
				return rpc_fail(x, KW_EINVAL, "scopes",
				                "scope %zu repeats scope %zu",
				                i + 1, j + 1);
		}
		size_t n = json_string_length(v);
		/* 32 scopes of 64 bytes and their spaces always fit. */
		if (len)
			out[len++] = ' ';
		memcpy(out + len, json_string_value(v), n);
		len += n;
		out[len] = '\0';
	}
	return 0;
}

/* The required "id" of revoke and rotate. */
static int param_id(rpc_ctx *x, const char **ret_id)
{
	json_t *v = json_object_get(x->params, "id");

	if (!v)
		return rpc_fail(x, KW_EINVAL, "id", "required");
	if (!json_is_string(v) ||
	    !kw_apikey_id_valid(json_string_value(v), json_string_length(v)))
		return rpc_fail(x, KW_EINVAL, "id",
		                "an API key id is %u characters of 0-9 A-Z a-z",
		                KW_APIKEY_ID_LEN);
	*ret_id = json_string_value(v);
	audit_name(x, *ret_id);
	return 0;
}

/* ["a", "b"] from "a b". */
static json_t *scopes_json(const char *scopes)
{
	json_t *arr = json_array();
	const char *p = scopes;

	while (arr && *p) {
		size_t n = strcspn(p, " ");
		if (json_array_append_new(arr, json_stringn(p, n)) < 0) {
			json_decref(arr);
			return NULL;
		}
		p += n;
		p += *p == ' ';
	}
	return arr;
}

static json_t *time_or_null(int64_t t)
{
	return t ? rpc_time(t) : json_null();
}

static bool key_expired(const store_apikey *k, int64_t now)
{
	return (k->expires && now >= k->expires) ||
	       (k->valid_until && now >= k->valid_until);
}

/* The answer to create and rotate: the key appears here only. */
static int new_key_result(const store_apikey *k, const char *key,
                          json_t **ret_result)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}", "id", k->id,
	                      "key", key, "principal", k->principal, "scopes",
	                      scopes_json(k->scopes), "created",
	                      rpc_time(k->created), "expires",
	                      time_or_null(k->expires));
	if (!o)
		return KW_ENOMEM;
	*ret_result = o;
	return 0;
}

/*
 * Give next a fresh id and key (in key) and store it: inserted alone, or
 * as the successor of old_id until valid_until. A clash of ids draws
 * again. On success the caller wipes key after use; on failure it is
 * wiped here.
 */
static int store_new_key(rpc_ctx *x, store_apikey *next, const char *old_id,
                         int64_t valid_until,
                         char key[static KW_APIKEY_MANAGED_LEN + 1])
{
	int r = KW_EEXIST;

	for (int i = 0; i < NEW_ID_TRIES && r == KW_EEXIST; i++) {
		kw_apikey_new(next->id, key);
		r = apikey_hash(x->h, key, KW_APIKEY_MANAGED_LEN, next->hash);
		if (r == 0)
			r = old_id ? store_apikey_rotate(*x->h->st, old_id,
			                                 next, valid_until) :
			             store_apikey_insert(*x->h->st, next);
	}
	sodium_memzero(next->hash, sizeof(next->hash));
	if (r < 0)
		sodium_memzero(key, KW_APIKEY_MANAGED_LEN + 1);
	return r;
}

int method_apikey_create(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { "principal", "scopes", "ttl",
		                            NULL };
	store_apikey k = { 0 };
	char key[KW_APIKEY_MANAGED_LEN + 1];
	const char *principal;
	bool has_ttl;
	uint64_t ttl = 0;
	int r;

	if ((r = rpc_allow(x, keys)) < 0 ||
	    (r = param_principal(x, true, &principal)) < 0 ||
	    (r = param_scopes(x, k.scopes)) < 0 ||
	    (r = rpc_opt_uint(x, "ttl", 1, TTL_MAX, &has_ttl, &ttl)) < 0)
		return r;
	snprintf(k.principal, sizeof(k.principal), "%s", principal);
	k.created = clock_now();
	k.expires = has_ttl ? k.created + (int64_t)ttl : 0;
	r = store_new_key(x, &k, NULL, 0, key);
	if (r < 0)
		return r;
	audit_name(x, k.id);
	r = new_key_result(&k, key, ret_result);
	sodium_memzero(key, sizeof(key));
	if (r == 0)
		log_info("API key %s for %s created by uid %u pid %d", k.id,
		         k.principal, (unsigned)x->c->peer.uid,
		         (int)x->c->peer.pid);
	return r;
}

static const char *key_status(const store_apikey *k, int64_t now)
{
	if (k->revoked_at)
		return "revoked";
	return key_expired(k, now) ? "expired" : "active";
}

struct list_ctx {
	json_t *arr;
	int64_t now;
};

static int list_one(const store_apikey *k, void *arg)
{
	struct list_ctx *l = arg;
	json_t *o =
		json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:b, s:o, s:o, s:s}",
	                  "id", k->id, "principal", k->principal, "scopes",
	                  scopes_json(k->scopes), "created",
	                  rpc_time(k->created), "expires",
	                  time_or_null(k->expires), "last_used",
	                  time_or_null(k->last_used), "revoked",
	                  k->revoked_at != 0, "valid_until",
	                  time_or_null(k->valid_until), "replaced_by",
	                  k->replaced_by[0] ? json_string(k->replaced_by) :
	                                      json_null(),
	                  "status", key_status(k, l->now));
	if (!o || json_array_append_new(l->arr, o) < 0)
		return KW_ENOMEM;
	return 0;
}

int method_apikey_list(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { "principal", NULL };
	struct list_ctx l = { .now = clock_now() };
	const char *principal;
	int r;

	if ((r = rpc_allow(x, keys)) < 0 ||
	    (r = param_principal(x, false, &principal)) < 0)
		return r;
	l.arr = json_array();
	if (!l.arr)
		return KW_ENOMEM;
	r = store_apikey_list(*x->h->st, principal, list_one, &l);
	if (r < 0) {
		json_decref(l.arr);
		return r;
	}
	*ret_result = json_pack("{s:o}", "keys", l.arr);
	return *ret_result ? 0 : KW_ENOMEM;
}

int method_apikey_revoke(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { "id", NULL };
	const char *id;
	int64_t now = clock_now();
	int r;

	if ((r = rpc_allow(x, keys)) < 0 || (r = param_id(x, &id)) < 0)
		return r;
	r = store_apikey_revoke(*x->h->st, id, now);
	if (r == KW_ENOTFOUND)
		return rpc_fail(x, r, "id", "no API key with this id");
	if (r == KW_EREVOKED)
		return rpc_fail(x, r, "id", "this API key is already revoked");
	if (r < 0)
		return r;
	log_info("API key %s revoked by uid %u pid %d", id,
	         (unsigned)x->c->peer.uid, (int)x->c->peer.pid);
	*ret_result =
		json_pack("{s:s, s:o}", "id", id, "revoked", rpc_time(now));
	return *ret_result ? 0 : KW_ENOMEM;
}

int method_apikey_rotate(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { "id", "overlap", NULL };
	store_apikey old, next = { 0 };
	char key[KW_APIKEY_MANAGED_LEN + 1];
	const char *id;
	bool has_overlap;
	uint64_t overlap = 0;
	int64_t now = clock_now();
	int r;

	if ((r = rpc_allow(x, keys)) < 0 || (r = param_id(x, &id)) < 0 ||
	    (r = rpc_opt_uint(x, "overlap", 0, OVERLAP_MAX, &has_overlap,
	                      &overlap)) < 0)
		return r;
	if (!has_overlap)
		overlap = x->h->cfg->rotation_default_overlap;
	r = store_apikey_get(*x->h->st, id, &old);
	if (r == KW_ENOTFOUND)
		return rpc_fail(x, r, "id", "no API key with this id");
	if (r < 0)
		return r;
	if (old.revoked_at)
		return rpc_fail(x, KW_EREVOKED, "id",
		                "this API key is revoked");
	if (old.replaced_by[0])
		return rpc_fail(x, KW_ESTATE, "id",
		                "this API key was already rotated; rotate "
		                "its replacement %s",
		                old.replaced_by);
	if (key_expired(&old, now))
		return rpc_fail(x, KW_EEXPIRED, "id",
		                "this API key has expired; create a new one");
	/* The successor keeps the terms: principal, scopes and expiry. */
	memcpy(next.principal, old.principal, sizeof(next.principal));
	memcpy(next.scopes, old.scopes, sizeof(next.scopes));
	next.created = now;
	next.expires = old.expires;
	r = store_new_key(x, &next, id, now + (int64_t)overlap, key);
	if (r < 0)
		return r;
	r = new_key_result(&next, key, ret_result);
	sodium_memzero(key, sizeof(key));
	if (r == 0 &&
	    (json_object_set_new(*ret_result, "replaces", json_string(id)) <
	             0 ||
	     json_object_set_new(*ret_result, "previous_valid_until",
	                         rpc_time(now + (int64_t)overlap)) < 0))
		r = KW_ENOMEM;
	if (r == 0)
		log_info("API key %s rotated to %s by uid %u pid %d (overlap "
		         "%llu s)",
		         id, next.id, (unsigned)x->c->peer.uid,
		         (int)x->c->peer.pid, (unsigned long long)overlap);
	return r;
}

/* A failed verification: spend one unit of the caller's budget. */
static int verify_fail(rpc_ctx *x, int err, const char *why)
{
	uint32_t retry = 0;
	int rr = ratelimit_take(*x->h->apikey_failures, x->principal_name,
	                        &verify_failures, loop_now_ms(), &retry);

	/* No bucket (no memory): refuse rather than fail open. */
	if (rr < 0 && rr != KW_ERATE)
		return rr;
	if (rr == KW_ERATE)
		log_warn("[client \"%s\"]: too many failed API-key "
		         "verifications; refusing its verifications for "
		         "%u ms",
		         x->principal_name, retry);
	return rpc_fail(x, err, "key", "%s", why);
}

/* The key param: a string, or malformed. *ret NULL if it is not one. */
static int param_key(rpc_ctx *x, const char **ret_key, size_t *ret_len)
{
	json_t *v = json_object_get(x->params, "key");

	*ret_key = NULL;
	if (!v)
		return rpc_fail(x, KW_EINVAL, "key", "required");
	if (!json_is_string(v))
		return verify_fail(x, KW_EINVAL, "must be a string");
	*ret_key = json_string_value(v);
	*ret_len = json_string_length(v);
	return 0;
}

int method_apikey_verify(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { "key", NULL };
	rpc_host *h = x->h;
	char id[KW_APIKEY_ID_LEN + 1], grant[KW_NAME_MAX + 1];
	uint8_t hash[STORE_APIKEY_HASH_BYTES];
	store_apikey k;
	const char *key, *why = NULL;
	size_t len = 0;
	uint32_t retry = 0;
	int64_t now = clock_now();
	int r;

	if (ratelimit_peek(*h->apikey_failures, x->principal_name,
	                   &verify_failures, loop_now_ms(), &retry) != 0) {
		x->extra =
			json_pack("{s:I}", "retry_after_ms", (json_int_t)retry);
		return rpc_fail(x, KW_ERATE, NULL,
		                "too many failed API-key verifications by "
		                "[client \"%s\"]; retry in %u ms",
		                x->principal_name, retry);
	}
	if ((r = rpc_allow(x, keys)) < 0 || (r = param_key(x, &key, &len)) < 0)
		return r;
	if (kw_apikey_parse(key, len, id, &why) < 0)
		return verify_fail(x, KW_EINVAL, why);
	audit_name(x, id);

	r = apikey_hash(h, key, len, hash);
	if (r == 0)
		r = store_apikey_find(*h->st, id, hash, &k);
	sodium_memzero(hash, sizeof(hash));
	if (r == KW_ENOTFOUND)
		return verify_fail(x, KW_ENOTFOUND, unknown_key);
	if (r < 0)
		return r;

	/* A verifier learns about the keys its grant covers, and nothing
	 * else: not even that this key exists. */
	snprintf(grant, sizeof(grant), "apikey/%s", k.principal);
	if (!policy_client_allows(x->principal, POLICY_OP_VERIFY, grant)) {
		x->audit_denied = true;
		snprintf(x->audit_reason, sizeof(x->audit_reason),
		         "[client \"%.64s\"] grants no verify on %.72s; "
		         "answered as an unknown key",
		         x->principal_name, grant);
		return verify_fail(x, KW_ENOTFOUND, unknown_key);
	}
	if (k.revoked_at)
		return verify_fail(x, KW_EREVOKED, "this API key was revoked");
	if (k.expires && now >= k.expires)
		return verify_fail(x, KW_EEXPIRED, "this API key has expired");
	if (k.valid_until && now >= k.valid_until)
		return verify_fail(x, KW_EEXPIRED,
		                   "this API key was rotated and its overlap "
		                   "has ended");

	r = store_apikey_touch(*h->st, id, now);
	if (r < 0)
		return r;
	*ret_result = json_pack("{s:s, s:s, s:o, s:o}", "id", k.id, "principal",
	                        k.principal, "scopes", scopes_json(k.scopes),
	                        "expires", time_or_null(k.expires));
	return *ret_result ? 0 : KW_ENOMEM;
}
