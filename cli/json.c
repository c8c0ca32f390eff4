/*
 * json.c - calling methods through kw_call and checking what comes back.
 *
 * The CLI prints names, stages and times from results; each is checked to
 * be printable text before it reaches a terminal.
 */
#include <string.h>

#include "cli.h"

int cli_call(kw_client *c, const char *method, json_t *params,
             json_t **ret_result)
{
	char *params_text = NULL, *text = NULL;
	json_t *res;
	int r;

	if (params) {
		params_text = json_dumps(params, JSON_COMPACT);
		json_decref(params);
		if (!params_text)
			return KW_ENOMEM;
	}
	r = kw_call(c, method, params_text, &text);
	kw_json_free(params_text);
	if (r < 0)
		return r;
	res = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	kw_json_free(text);
	if (!json_is_object(res)) {
		json_decref(res);
		return KW_EPROTO;
	}
	*ret_result = res;
	return 0;
}

bool cli_json_uint(const json_t *obj, const char *key, uint64_t *ret_value)
{
	const json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return false;
	*ret_value = (uint64_t)json_integer_value(v);
	return true;
}

bool cli_json_bool(const json_t *obj, const char *key, bool *ret_value)
{
	const json_t *v = json_object_get(obj, key);

	if (!json_is_boolean(v))
		return false;
	*ret_value = json_is_true(v);
	return true;
}

bool cli_json_text(const json_t *obj, const char *key, const char **ret_s)
{
	const json_t *v = json_object_get(obj, key);
	const char *s;
	size_t n;

	if (!json_is_string(v))
		return false;
	s = json_string_value(v);
	n = json_string_length(v);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	*ret_s = s;
	return true;
}

int cli_print_json_lines(const json_t *arr)
{
	size_t i;
	json_t *e;

	json_array_foreach(arr, i, e)
	{
		char *text = json_dumps(e, JSON_COMPACT);

		if (!text)
			return KW_ENOMEM;
		puts(text);
		kw_json_free(text);
	}
	return 0;
}
