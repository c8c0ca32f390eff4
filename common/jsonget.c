/*
 * jsonget.c - checked reads of members of a JSON object (jsonget.h).
 */
#include "jsonget.h"

#include <stdlib.h>
#include <string.h>

bool kw_json_get_uint(const json_t *obj, const char *key, uint64_t min,
                      uint64_t *ret_value)
{
	const json_t *v = json_object_get(obj, key);
	json_int_t i;

	if (!json_is_integer(v))
		return false;
	i = json_integer_value(v);
	if (i < 0 || (uint64_t)i < min)
		return false;
	*ret_value = (uint64_t)i;
	return true;
}

bool kw_json_get_bool(const json_t *obj, const char *key, bool *ret_value)
{
	const json_t *v = json_object_get(obj, key);

	if (!json_is_boolean(v))
		return false;
	*ret_value = json_is_true(v);
	return true;
}

bool kw_json_get_text(const json_t *obj, const char *key,
                      const char **ret_value)
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
	*ret_value = s;
	return true;
}

json_t *kw_json_lossy(const char *s)
{
	if (!s)
		return json_null();
	json_t *j = json_string(s);
	if (j)
		return j;
	size_t n = strlen(s);
	char *copy = malloc(n + 1);
	if (!copy)
		return NULL;
	for (size_t i = 0; i <= n; i++)
		copy[i] = (unsigned char)s[i] >= 0x80 ? '?' : s[i];
	j = json_string(copy);
	free(copy);
	return j;
}
