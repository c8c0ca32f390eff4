/*
 * access_token.c - libkeyward: verifying JWT access tokens through the
 * agent (token.verify in docs/protocol.md). The agent holds the keys; the
 * library checks the shape of what it answers and hands it out read-only.
 */
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "jsonget.h"
#include "wwwauth.h"

#define TOKEN_SCOPES_MAX 32u

struct kw_token_info {
	json_t *res; /* the token.verify result, checked */
};

/* The result has the members the protocol promises, of their types. */
static bool info_valid(const json_t *res)
{
	const json_t *scopes = json_object_get(res, "scopes");
	const json_t *aud = json_object_get(res, "audience");
	const json_t *sub = json_object_get(res, "subject");
	const json_t *cid = json_object_get(res, "client_id");
	const char *text;
	uint64_t exp;
	size_t i;
	json_t *e;

	if (!json_is_array(scopes) || !json_is_array(aud) ||
	    json_array_size(aud) == 0 ||
	    !kw_json_get_uint(res, "expires_at", 0, &exp) ||
	    !kw_json_get_text(res, "issuer", &text) ||
	    !kw_json_get_text(res, "kid", &text) ||
	    (sub && !json_is_null(sub) && !json_is_string(sub)) ||
	    (cid && !json_is_null(cid) && !json_is_string(cid)))
		return false;
	json_array_foreach(scopes, i, e)
	{
		if (!json_is_string(e))
			return false;
	}
	json_array_foreach(aud, i, e)
	{
		if (!json_is_string(e))
			return false;
	}
	return true;
}

static int token_verify(kw_client *c, const char *jwt,
                        const char *expected_audience,
                        const char *const *scopes, size_t nscopes,
                        kw_token_info **ret_info)
{
	json_t *params, *res = NULL, *arr = NULL;
	kw_token_info *info;
	int r;

	if (!c || !jwt || !expected_audience || !ret_info ||
	    (nscopes && !scopes) || nscopes > TOKEN_SCOPES_MAX)
		return KW_EINVAL;
	params = json_pack("{s:s, s:s}", "token", jwt, "audience",
	                   expected_audience);
	if (params && nscopes) {
		arr = json_array();
		for (size_t i = 0; arr && i < nscopes; i++) {
			if (!scopes[i] ||
			    json_array_append_new(arr, json_string(scopes[i])) <
			            0) {
				json_decref(arr);
				arr = NULL;
			}
		}
		if (!arr || json_object_set_new(params, "scopes", arr) < 0) {
			json_decref(params);
			return KW_EINVAL; /* a NULL or non-UTF-8 scope */
		}
	}
	if (!params)
		return KW_EINVAL; /* jwt or audience not UTF-8 */
	r = client_call_object(c, "token.verify", params, &res);
	if (r < 0)
		return r;
	if (!info_valid(res)) {
		json_decref(res);
		return KW_EPROTO;
	}
	info = calloc(1, sizeof(*info));
	if (!info) {
		json_decref(res);
		return KW_ENOMEM;
	}
	info->res = res;
	*ret_info = info;
	return 0;
}

int kw_token_verify_scopes(kw_client *c, const char *jwt,
                           const char *expected_audience,
                           const char *const *scopes, size_t nscopes,
                           kw_token_info **ret_info)
{
	if (!c)
		return KW_EINVAL;
	client_begin(c);
	return client_end(c, token_verify(c, jwt, expected_audience, scopes,
	                                  nscopes, ret_info));
}

int kw_token_verify(kw_client *c, const char *jwt,
                    const char *expected_audience, kw_token_info **ret_info)
{
	return kw_token_verify_scopes(c, jwt, expected_audience, NULL, 0,
	                              ret_info);
}

static const char *info_string(const kw_token_info *info, const char *key)
{
	return info ? json_string_value(json_object_get(info->res, key)) : NULL;
}

const char *kw_token_info_subject(const kw_token_info *info)
{
	return info_string(info, "subject");
}

const char *kw_token_info_client_id(const kw_token_info *info)
{
	return info_string(info, "client_id");
}

const char *kw_token_info_issuer(const kw_token_info *info)
{
	return info_string(info, "issuer");
}

const char *kw_token_info_kid(const kw_token_info *info)
{
	return info_string(info, "kid");
}

int64_t kw_token_info_expires_at(const kw_token_info *info)
{
	uint64_t exp = 0;
	if (!info || !kw_json_get_uint(info->res, "expires_at", 0, &exp) ||
	    exp > INT64_MAX)
		return 0;
	return (int64_t)exp;
}

size_t kw_token_info_scope_count(const kw_token_info *info)
{
	return info ? json_array_size(json_object_get(info->res, "scopes")) : 0;
}

const char *kw_token_info_scope(const kw_token_info *info, size_t i)
{
	if (!info)
		return NULL;
	return json_string_value(
		json_array_get(json_object_get(info->res, "scopes"), i));
}

bool kw_token_info_has_scope(const kw_token_info *info, const char *scope)
{
	size_t n = kw_token_info_scope_count(info);
	for (size_t i = 0; scope && i < n; i++) {
		if (strcmp(kw_token_info_scope(info, i), scope) == 0)
			return true;
	}
	return false;
}

size_t kw_token_info_audience_count(const kw_token_info *info)
{
	return info ? json_array_size(json_object_get(info->res, "audience")) :
	              0;
}

const char *kw_token_info_audience(const kw_token_info *info, size_t i)
{
	if (!info)
		return NULL;
	return json_string_value(
		json_array_get(json_object_get(info->res, "audience"), i));
}

void kw_token_info_free(kw_token_info *info)
{
	if (!info)
		return;
	json_decref(info->res);
	free(info);
}

int kw_www_authenticate(int err, const char *realm, const char *description,
                        const char *scope, const char *resource, char *out,
                        size_t outsz)
{
	char meta[1024];
	kw_wwwauth w = {
		.realm = realm,
		.error = err == 0         ? KW_WWWAUTH_NONE :
		         err == KW_ESCOPE ? KW_WWWAUTH_INSUFFICIENT_SCOPE :
		                            KW_WWWAUTH_INVALID_TOKEN,
		.error_description = err == 0 ? NULL : description,
		.scope = scope,
	};
	size_t len;
	int r;

	if (!out)
		return KW_EINVAL;
	if (resource) {
		r = kw_wwwauth_metadata_url(resource, meta, sizeof(meta));
		if (r < 0)
			return r;
		w.resource_metadata = meta;
	}
	return kw_wwwauth_format(&w, out, outsz, &len);
}
