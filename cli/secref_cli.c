/*
 * secref_cli.c - fetch the value a secret reference (common/secref.h)
 * names, for `keyward run`, `inject` and the other commands that hand
 * values on to other programs.
 */
#include <string.h>

#include "cli.h"
#include "secmem.h"
#include "wire.h"

void cli_value_free(struct cli_value *v)
{
	if (!v)
		return;
	kw_wipefree(v->data);
	memset(v, 0, sizeof(*v));
}

/* The value in the result, base64-encoded again when ref asks for it. */
static int secref_value(const json_t *res, const struct kw_secref *ref,
                        struct cli_value *ret)
{
	const json_t *value = json_object_get(res, "value");
	const char *name;
	uint8_t *bin = NULL;
	size_t len;
	uint64_t version;
	int r;

	if (!kw_json_get_text(res, "name", &name) ||
	    strcmp(name, ref->name) != 0 ||
	    !kw_json_get_uint(res, "version", 1, &version) ||
	    (ref->version && version != ref->version) || !json_is_string(value))
		return KW_EPROTO;
	r = kw_b64_decode(json_string_value(value), json_string_length(value),
	                  CLI_VALUE_MAX, &bin, &len);
	if (r < 0)
		return r == KW_ENOMEM ? r : KW_EPROTO;
	if (ref->base64) {
		char *text = NULL;

		r = kw_b64_encode(bin, len, &text);
		kw_wipefree(bin);
		if (r < 0)
			return r;
		bin = (uint8_t *)text;
		len = strlen(text);
	} else {
		/* With a NUL after the bytes, for callers that want a C
		 * string (after checking for NULs inside). */
		uint8_t *z = kw_wipealloc(len + 1);

		if (!z) {
			kw_wipefree(bin);
			return KW_ENOMEM;
		}
		memcpy(z, bin, len);
		z[len] = '\0';
		kw_wipefree(bin);
		bin = z;
	}
	ret->data = bin;
	ret->len = len;
	ret->version = version;
	return 0;
}

int cli_secref_fetch(kw_client *c, const struct kw_secref *ref,
                     const char *purpose, struct cli_value *ret)
{
	json_t *params = json_pack("{s:s}", "name", ref->name), *res = NULL;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (params && ref->version)
		r = json_object_set_new(params, "version",
		                        json_integer((json_int_t)ref->version));
	else if (params && ref->stage[0])
		r = json_object_set_new(params, "stage",
		                        json_string(ref->stage));
	else
		r = 0;
	if (params && r == 0 && purpose)
		r = json_object_set_new(params, "purpose",
		                        json_string(purpose));
	if (!params || r < 0) {
		json_decref(params);
		return KW_ENOMEM;
	}
	r = cli_call(c, "secret.get", params, &res);
	if (r < 0)
		return r;
	r = secref_value(res, ref, ret);
	json_decref(res);
	return r;
}
