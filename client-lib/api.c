/*
 * api.c - libkeyward: one function per protocol method (docs/protocol.md),
 * the secret.* methods; api_agent.c has the others.
 *
 * Each function checks its arguments locally (names never cost a round
 * trip), builds params, makes the call through client_call() and then
 * checks every member of the result it relies on: anything of the wrong
 * type or range is KW_EPROTO, never a crash or a partly filled output.
 * The public kw_* functions at the end of the file only wrap these in
 * client_begin()/client_end(), which keep kw_last_error_message() right.
 */
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "name.h"
#include "secmem.h"
#include "wire.h"

struct kw_secret {
	uint8_t *value; /* sodium_malloc, read-only once filled */
	size_t len;
	uint64_t version;
};

struct kw_secret_list_item {
	char *name;
	uint64_t version;
};

struct kw_secret_list {
	size_t count;
	struct kw_secret_list_item *items;
};

/* Largest integer the wire can carry (jansson integers are signed). */
#define API_INT_MAX ((uint64_t)LLONG_MAX)

static bool client_stage_valid(const char *stage)
{
	static const char *const stages[] = { "current", "pending", "previous",
		                              "retired" };

	for (size_t i = 0; i < sizeof(stages) / sizeof(stages[0]); i++)
		if (strcmp(stage, stages[i]) == 0)
			return true;
	return false;
}

/* Check name locally; the rule it breaks becomes the error message. */
static int check_name(kw_client *c, const char *name)
{
	char msg[128];
	const char *rule = NULL;
	int r;

	if (!name)
		return client_fail(c, KW_EINVAL, "the name is NULL");
	r = kw_name_check(name, strnlen(name, KW_NAME_MAX + 1), &rule);
	if (r < 0) {
		snprintf(msg, sizeof(msg), "invalid name: %s",
		         rule ? rule : kw_strerror(r));
		client_fail(c, r, msg);
	}
	return r;
}

/* {"name": name}, or NULL on allocation failure. */
static json_t *name_params(const char *name)
{
	return json_pack("{s:s}", "name", name);
}

/* result.name must echo the name we asked about. */
static bool result_name_is(const json_t *result, const char *name)
{
	const json_t *v = json_object_get(result, "name");

	return json_is_string(v) && strcmp(json_string_value(v), name) == 0;
}

int client_call_object(kw_client *c, const char *method, json_t *params,
                       json_t **ret_result)
{
	json_t *result = NULL;
	int r;

	if (!c) {
		json_decref(params);
		return KW_EINVAL;
	}
	r = client_call(c, method, params, &result);
	if (r < 0)
		return r;
	if (!json_is_object(result)) {
		json_decref(result);
		return KW_EPROTO;
	}
	*ret_result = result;
	return 0;
}

/* Secrets: get -------------------------------------------------------- */

/* Build a kw_secret from a secret.get result. */
static int secret_from_result(const json_t *res, const char *name,
                              uint64_t version, const char *stage,
                              kw_secret **ret_secret)
{
	const char *got_stage, *created;
	const json_t *value = json_object_get(res, "value");
	uint8_t *bin = NULL;
	uint64_t got_version;
	kw_secret *s = NULL;
	size_t len;
	int r = KW_EPROTO;

	if (!result_name_is(res, name) ||
	    !kw_json_get_uint(res, "version", 1, &got_version) ||
	    (version && got_version != version) ||
	    !kw_json_get_text(res, "stage", &got_stage) ||
	    !client_stage_valid(got_stage) ||
	    (stage && strcmp(stage, got_stage) != 0) ||
	    !kw_json_get_text(res, "created", &created) ||
	    !json_is_string(value))
		return KW_EPROTO;
	r = kw_b64_decode(json_string_value(value), json_string_length(value),
	                  CLIENT_LINE_MAX, &bin, &len);
	if (r < 0)
		return r == KW_ENOMEM ? r : KW_EPROTO;
	r = KW_ENOMEM;
	s = calloc(1, sizeof(*s));
	if (!s)
		goto fail_bin;
	s->value = sodium_malloc(len ? len : 1);
	if (!s->value)
		goto fail_secret;
	memcpy(s->value, bin, len);
	sodium_mprotect_readonly(s->value);
	s->len = len;
	s->version = got_version;
	kw_wipefree(bin);
	*ret_secret = s;
	return 0;

fail_secret:
	free(s);
fail_bin:
	kw_wipefree(bin);
	return r;
}

static int secret_fetch(kw_client *c, const char *name, uint64_t version,
                        const char *stage, kw_secret **ret_secret)
{
	json_t *params, *res = NULL;
	int r;

	if (!c || !ret_secret || version > API_INT_MAX)
		return KW_EINVAL;
	if (stage && !client_stage_valid(stage))
		return KW_EINVAL;
	r = check_name(c, name);
	if (r < 0)
		return r;
	params = name_params(name);
	if (params && version &&
	    json_object_set_new(params, "version",
	                        json_integer((json_int_t)version)) < 0)
		goto fail_params;
	if (params && stage &&
	    json_object_set_new(params, "stage", json_string(stage)) < 0)
		goto fail_params;
	r = client_call_object(c, "secret.get", params, &res);
	if (r < 0)
		return r;
	r = secret_from_result(res, name, version, stage, ret_secret);
	json_decref(res);
	return r;

fail_params:
	json_decref(params);
	return KW_ENOMEM;
}

static int secret_get_version(kw_client *c, const char *name, uint64_t version,
                              kw_secret **ret_secret)
{
	if (version == 0)
		return KW_EINVAL;
	return secret_fetch(c, name, version, NULL, ret_secret);
}

static int secret_get_stage(kw_client *c, const char *name, const char *stage,
                            kw_secret **ret_secret)
{
	if (!stage)
		return KW_EINVAL;
	return secret_fetch(c, name, 0, stage, ret_secret);
}

const uint8_t *kw_secret_value(const kw_secret *s)
{
	return s ? s->value : NULL;
}

size_t kw_secret_len(const kw_secret *s)
{
	return s ? s->len : 0;
}

uint64_t kw_secret_version(const kw_secret *s)
{
	return s ? s->version : 0;
}

void kw_secret_free(kw_secret *s)
{
	if (!s)
		return;
	sodium_free(s->value); /* wipes, also from read-only */
	free(s);
}

/* Secrets: put, generate, delete ---------------------------------------- */

/* secret.put with params (stolen); checks {"name", "version"}. */
static int put_call(kw_client *c, const char *name, json_t *params,
                    uint64_t *ret_version)
{
	json_t *res = NULL;
	uint64_t version;
	int r;

	r = client_call_object(c, "secret.put", params, &res);
	if (r < 0)
		return r;
	if (!result_name_is(res, name) ||
	    !kw_json_get_uint(res, "version", 1, &version)) {
		json_decref(res);
		return KW_EPROTO;
	}
	json_decref(res);
	if (ret_version)
		*ret_version = version;
	return 0;
}

static int secret_put(kw_client *c, const char *name, const void *value,
                      size_t len, uint64_t *ret_version)
{
	static const uint8_t empty[1];
	json_t *params, *text_json;
	char *text = NULL;
	int r;

	if (!c || (!value && len > 0))
		return KW_EINVAL;
	r = check_name(c, name);
	if (r < 0)
		return r;
	if (len > CLIENT_VALUE_MAX)
		return KW_ETOOBIG;
	r = kw_b64_encode(value ? value : empty, len, &text);
	if (r < 0)
		return r;
	/* jansson copies the text into memory its (wiping) allocator owns. */
	text_json = json_string(text);
	kw_wipefree(text);
	params = name_params(name);
	if (!text_json || !params ||
	    json_object_set_new(params, "value", text_json) < 0) {
		if (!params)
			json_decref(text_json);
		json_decref(params);
		return KW_ENOMEM;
	}
	return put_call(c, name, params, ret_version);
}

static int secret_generate(kw_client *c, const char *name, size_t nbytes,
                           uint64_t *ret_version)
{
	json_t *params;
	int r;

	if (!c || nbytes == 0 || nbytes > API_INT_MAX)
		return KW_EINVAL;
	r = check_name(c, name);
	if (r < 0)
		return r;
	params = json_pack("{s:s, s:I}", "name", name, "generate",
	                   (json_int_t)nbytes);
	if (!params)
		return KW_ENOMEM;
	return put_call(c, name, params, ret_version);
}

static int secret_delete(kw_client *c, const char *name)
{
	json_t *params, *res = NULL;
	uint64_t n;
	int r;

	if (!c)
		return KW_EINVAL;
	r = check_name(c, name);
	if (r < 0)
		return r;
	params = name_params(name);
	if (!params)
		return KW_ENOMEM;
	r = client_call_object(c, "secret.delete", params, &res);
	if (r < 0)
		return r;
	if (!result_name_is(res, name) ||
	    !kw_json_get_uint(res, "deleted_versions", 0, &n))
		r = KW_EPROTO;
	json_decref(res);
	return r;
}

/* Secrets: list ---------------------------------------------------------- */

static void list_free_items(struct kw_secret_list_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(items[i].name);
	free(items);
}

/* Check one element of result.secrets and copy what the list keeps. */
static int list_item(const json_t *e, struct kw_secret_list_item *ret_item)
{
	const json_t *name = json_object_get(e, "name");
	const char *created, *updated;
	uint64_t version, versions;
	char *copy;

	if (!json_is_object(e) || !json_is_string(name) ||
	    kw_name_check(json_string_value(name), json_string_length(name),
	                  NULL) < 0 ||
	    !kw_json_get_uint(e, "version", 0, &version) ||
	    !kw_json_get_uint(e, "versions", 0, &versions) ||
	    !kw_json_get_text(e, "created", &created) ||
	    !kw_json_get_text(e, "updated", &updated))
		return KW_EPROTO;
	copy = strdup(json_string_value(name));
	if (!copy)
		return KW_ENOMEM;
	ret_item->name = copy;
	ret_item->version = version;
	return 0;
}

static int secret_list(kw_client *c, const char *prefix,
                       struct kw_secret_list **ret_list)
{
	struct kw_secret_list_item *items = NULL;
	json_t *params = NULL, *res = NULL;
	const json_t *arr;
	struct kw_secret_list *l;
	size_t n = 0, count;
	int r;

	if (!c || !ret_list)
		return KW_EINVAL;
	if (prefix) {
		r = kw_prefix_check(prefix, strnlen(prefix, KW_NAME_MAX + 1),
		                    NULL);
		if (r < 0)
			return client_fail(c, r, "invalid prefix");
		params = json_pack("{s:s}", "prefix", prefix);
		if (!params)
			return KW_ENOMEM;
	}
	r = client_call_object(c, "secret.list", params, &res);
	if (r < 0)
		return r;
	r = KW_EPROTO;
	arr = json_object_get(res, "secrets");
	if (!json_is_array(arr))
		goto fail;
	count = json_array_size(arr);
	r = KW_ENOMEM;
	items = calloc(count ? count : 1, sizeof(*items));
	if (!items)
		goto fail;
	for (n = 0; n < count; n++) {
		r = list_item(json_array_get(arr, n), &items[n]);
		if (r < 0)
			goto fail;
	}
	r = KW_ENOMEM;
	l = calloc(1, sizeof(*l));
	if (!l)
		goto fail;
	l->count = count;
	l->items = items;
	json_decref(res);
	*ret_list = l;
	return 0;

fail:
	list_free_items(items, n);
	json_decref(res);
	return r;
}

size_t kw_secret_list_count(const struct kw_secret_list *l)
{
	return l ? l->count : 0;
}

const char *kw_secret_list_name(const struct kw_secret_list *l, size_t i)
{
	return l && i < l->count ? l->items[i].name : NULL;
}

uint64_t kw_secret_list_version(const struct kw_secret_list *l, size_t i)
{
	return l && i < l->count ? l->items[i].version : 0;
}

void kw_secret_list_free(struct kw_secret_list *l)
{
	if (!l)
		return;
	list_free_items(l->items, l->count);
	free(l);
}

/* Public: secrets -------------------------------------------------------- */

int kw_secret_get(kw_client *c, const char *name, kw_secret **ret_secret)
{
	if (!c)
		return KW_EINVAL;
	client_begin(c);
	return client_end(c, secret_fetch(c, name, 0, NULL, ret_secret));
}

int kw_secret_get_version(kw_client *c, const char *name, uint64_t version,
                          kw_secret **ret_secret)
{
	if (!c)
		return KW_EINVAL;
	client_begin(c);
	return client_end(c, secret_get_version(c, name, version, ret_secret));
}

int kw_secret_get_stage(kw_client *c, const char *name, const char *stage,
                        kw_secret **ret_secret)
{
	if (!c)
		return KW_EINVAL;
	client_begin(c);
	return client_end(c, secret_get_stage(c, name, stage, ret_secret));
}

int kw_secret_put(kw_client *c, const char *name, const void *value, size_t len,
                  uint64_t *ret_version)
{
	if (!c)
		return KW_EINVAL;
	client_begin(c);
	return client_end(c, secret_put(c, name, value, len, ret_version));
}

int kw_secret_generate(kw_client *c, const char *name, size_t nbytes,
                       uint64_t *ret_version)
{
	if (!c)
		return KW_EINVAL;
	client_begin(c);
	return client_end(c, secret_generate(c, name, nbytes, ret_version));
}

int kw_secret_delete(kw_client *c, const char *name)
{
	if (!c)
		return KW_EINVAL;
	client_begin(c);
	return client_end(c, secret_delete(c, name));
}

int kw_secret_list(kw_client *c, const char *prefix,
                   struct kw_secret_list **ret_list)
{
	if (!c)
		return KW_EINVAL;
	client_begin(c);
	return client_end(c, secret_list(c, prefix, ret_list));
}
