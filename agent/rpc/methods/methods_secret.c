/*
 * methods_secret.c - secret.* methods (docs/protocol.md).
 */
#include <sodium.h>
#include <string.h>

#include "clock.h"
#include "dispatch.h"
#include "keyward.h"
#include "name.h"
#include "secmem.h"
#include "store.h"
#include "wire.h"

static int secret_store_error(rpc_ctx *x, int r)
{
	switch (r) {
	case KW_ENOTFOUND:
		return rpc_fail(x, r, NULL, "no such secret%s",
		                x->name ? " (or no such version or stage)" :
		                          "");
	case KW_ECRYPTO:
		return rpc_fail(x, r, NULL,
		                "the stored row failed authentication: the "
		                "store was altered or is corrupt");
	default:
		return r;
	}
}

int method_secret_put(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { "name", "value", "generate", NULL };
	const size_t max = x->h->cfg->max_value_bytes;
	const char *name, *b64;
	size_t b64len;
	bool gen_present;
	uint64_t gen = 0;
	int r;

	if ((r = rpc_allow(x, keys)) < 0 ||
	    (r = rpc_name(x, "name", &name)) < 0 ||
	    (r = methods_oauth_refuse_write(x, name)) < 0)
		return r;
	/* Base64 of max bytes plus padding slack; the decode bounds exactly. */
	r = rpc_opt_string(x, "value", (max + 2) / 3 * 4, &b64, &b64len);
	if (r == KW_ETOOBIG)
		return rpc_fail(x, r, "value",
		                "larger than max_value_bytes (%zu)", max);
	if (r < 0)
		return r;
	if ((r = rpc_opt_uint(x, "generate", 1, UINT32_MAX, &gen_present,
	                      &gen)) < 0)
		return r;
	if (gen_present && gen > max)
		return rpc_fail(x, KW_ETOOBIG, "generate",
		                "larger than max_value_bytes (%zu)", max);
	if (!b64 == !gen_present)
		return rpc_fail(
			x, KW_EINVAL, "value",
			"exactly one of value and generate is required");

	uint8_t *value = NULL;
	size_t len = 0;
	if (b64) {
		r = kw_b64_decode(b64, b64len, max, &value, &len);
		if (r == KW_ETOOBIG)
			return rpc_fail(x, r, "value",
			                "larger than max_value_bytes (%zu)",
			                max);
		if (r < 0)
			return rpc_fail(x, KW_EINVAL, "value",
			                "must be padded standard base64");
	} else {
		len = (size_t)gen;
		value = kw_wipealloc(len);
		if (!value)
			return KW_ENOMEM;
		randombytes_buf(value, len);
	}

	uint64_t version = 0;
	r = store_put(*x->h->st, *x->h->dk, name, value, len,
	              x->h->cfg->max_versions, clock_wall(), &version);
	kw_wipefree(value);
	if (r < 0)
		return secret_store_error(x, r);
	*ret_result = json_pack("{s:s, s:I}", "name", name, "version",
	                        (json_int_t)version);
	return *ret_result ? 0 : KW_ENOMEM;
}

static bool secret_stage_ok(const char *s)
{
	return strcmp(s, "current") == 0 || strcmp(s, "pending") == 0 ||
	       strcmp(s, "previous") == 0 || strcmp(s, "retired") == 0;
}

/*
 * secret.get's optional purpose: the audit row's reason for a read made on
 * behalf of `keyward run` (docs/protocol.md). Only these words, so the
 * row's text is ours and never the caller's. 0 or an error naming it.
 */
static int secret_get_purpose(rpc_ctx *x)
{
	const char *purpose;
	size_t len;
	int r = rpc_opt_string(x, "purpose", 16, &purpose, &len);

	if (r < 0 || !purpose)
		return r;
	if (strcmp(purpose, "run") == 0)
		x->audit_note = "read for keyward run";
	else if (strcmp(purpose, "restart") == 0)
		x->audit_note = "read for a keyward run restart after rotation";
	else
		return rpc_fail(x, KW_EINVAL, "purpose",
		                "must be run or restart");
	return 0;
}

int method_secret_get(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { "name", "version", "stage",
		                            "purpose", NULL };
	const char *name, *stage;
	size_t stage_len;
	bool have_version;
	uint64_t version = 0;
	int r;

	if ((r = rpc_allow(x, keys)) < 0 ||
	    (r = rpc_name(x, "name", &name)) < 0 ||
	    (r = rpc_opt_uint(x, "version", 1, INT64_MAX, &have_version,
	                      &version)) < 0 ||
	    (r = rpc_opt_string(x, "stage", 16, &stage, &stage_len)) < 0 ||
	    (r = secret_get_purpose(x)) < 0)
		return r;
	if (stage && !secret_stage_ok(stage))
		return rpc_fail(
			x, KW_EINVAL, "stage",
			"must be current, pending, previous or retired");
	if (stage && have_version)
		return rpc_fail(x, KW_EINVAL, "stage",
		                "give either version or stage, not both");

	/* A managed OAuth credential's current token may need asking for
	 * first; older versions are read as they are. */
	if (!have_version && (!stage || strcmp(stage, "current") == 0) &&
	    (r = methods_oauth_secret_get(x, name)) != 0)
		return r;
	store_value *v = NULL;
	r = store_get(*x->h->st, *x->h->dk, name, version, stage, &v);
	if (r < 0)
		return secret_store_error(x, r);
	char *b64 = NULL;
	r = kw_b64_encode(v->value, v->len, &b64);
	if (r == 0) {
		*ret_result = json_pack("{s:s, s:I, s:s, s:o, s:s}", "name",
		                        name, "version", (json_int_t)v->version,
		                        "stage", v->stage, "created",
		                        rpc_time(v->created), "value", b64);
		r = *ret_result ? 0 : KW_ENOMEM;
	}
	kw_wipefree(b64);
	store_value_free(v);
	return r;
}

struct secret_list_ctx {
	json_t *arr;
	const policy_client *principal;
};

static int secret_list_row(const store_meta *m, void *arg)
{
	struct secret_list_ctx *lc = arg;
	json_t *arr = lc->arr;
	/* Names outside the caller's list globs are not even mentioned. */
	if (!policy_client_allows(lc->principal, POLICY_OP_LIST, m->name))
		return 0;
	json_t *o = json_pack("{s:s, s:I, s:I, s:o, s:o}", "name", m->name,
	                      "version", (json_int_t)m->current_version,
	                      "versions", (json_int_t)m->versions, "created",
	                      rpc_time(m->created), "updated",
	                      rpc_time(m->updated));
	if (!o || json_array_append_new(arr, o) != 0)
		return KW_ENOMEM;
	return 0;
}

int method_secret_list(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { "prefix", NULL };
	const char *prefix, *rule = NULL;
	size_t plen;
	int r;

	if ((r = rpc_allow(x, keys)) < 0 ||
	    (r = rpc_opt_string(x, "prefix", KW_NAME_MAX, &prefix, &plen)) < 0)
		return r;
	if (prefix && kw_prefix_check(prefix, plen, &rule) < 0)
		return rpc_fail(x, KW_ENAME, "prefix", "%s", rule);
	json_t *arr = json_array();
	if (!arr)
		return KW_ENOMEM;
	struct secret_list_ctx lc = { .arr = arr, .principal = x->principal };
	r = store_list(*x->h->st, prefix, secret_list_row, &lc);
	if (r < 0) {
		json_decref(arr);
		return r;
	}
	*ret_result = json_pack("{s:o}", "secrets", arr);
	return *ret_result ? 0 : KW_ENOMEM;
}

static int secret_version_row(const store_version_info *v, void *arg)
{
	json_t *arr = arg;
	json_t *o =
		json_pack("{s:I, s:s, s:o}", "version", (json_int_t)v->version,
	                  "stage", v->stage, "created", rpc_time(v->created));
	if (!o || json_array_append_new(arr, o) != 0)
		return KW_ENOMEM;
	return 0;
}

int method_secret_versions(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { "name", NULL };
	const char *name;
	int r;

	if ((r = rpc_allow(x, keys)) < 0 ||
	    (r = rpc_name(x, "name", &name)) < 0)
		return r;
	json_t *arr = json_array();
	if (!arr)
		return KW_ENOMEM;
	r = store_versions(*x->h->st, name, secret_version_row, arr);
	if (r < 0) {
		json_decref(arr);
		return secret_store_error(x, r);
	}
	*ret_result = json_pack("{s:s, s:o}", "name", name, "versions", arr);
	return *ret_result ? 0 : KW_ENOMEM;
}

int method_secret_delete(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { "name", NULL };
	const char *name;
	uint32_t n = 0;
	int r;

	if ((r = rpc_allow(x, keys)) < 0 ||
	    (r = rpc_name(x, "name", &name)) < 0 ||
	    (r = methods_oauth_refuse_write(x, name)) < 0)
		return r;
	r = store_delete(*x->h->st, name, &n);
	if (r < 0)
		return secret_store_error(x, r);
	rotate_changed(*x->h->rot); /* its schedule went with it */
	*ret_result = json_pack("{s:s, s:I}", "name", name, "deleted_versions",
	                        (json_int_t)n);
	return *ret_result ? 0 : KW_ENOMEM;
}
