/*
 * api_apikey.c - libkeyward: apikey.verify (kw_apikey_verify) and the
 * kw_apikey_info it returns. api.c says how these functions check what
 * they get: every member used is checked before anything is returned.
 *
 * The presented key is checked locally (common/apikey.h) so that a
 * malformed one costs no round trip; the request that carries it is built
 * in jansson memory, which the library's allocator wipes when freed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apikey.h"
#include "client_int.h"
#include "name.h"
#include "scope.h"

#define SCOPES_MAX 32u

struct kw_apikey_info {
	char id[KW_APIKEY_ID_LEN + 1];
	char *principal;
	char **scopes;
	size_t nscopes;
	int64_t expires; /* 0: never */
};

/* n decimal digits at s. */
static bool digits(const char *s, int n, int *ret)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*ret = v;
	return true;
}

/* "YYYY-MM-DDTHH:MM:SSZ" (the protocol's time) as unix seconds; false for
 * anything else, including dates that do not exist. */
static bool parse_time(const char *s, int64_t *ret)
{
	struct tm tm = { 0 }, back;
	int y, mo, d, h, mi, se;
	time_t t;

	if (!s || strlen(s) != 20 || s[4] != '-' || s[7] != '-' ||
	    s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z' ||
	    !digits(s, 4, &y) || !digits(s + 5, 2, &mo) ||
	    !digits(s + 8, 2, &d) || !digits(s + 11, 2, &h) ||
	    !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &se))
		return false;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	t = timegm(&tm);
	/* timegm carries Feb 30 into March: such a date comes back changed. */
	if (t == (time_t)-1 || !gmtime_r(&t, &back) ||
	    back.tm_year != y - 1900 || back.tm_mon != mo - 1 ||
	    back.tm_mday != d || back.tm_hour != h || back.tm_min != mi ||
	    back.tm_sec != se)
		return false;
	*ret = (int64_t)t;
	return true;
}

void kw_apikey_info_free(kw_apikey_info *info)
{
	if (!info)
		return;
	for (size_t i = 0; i < info->nscopes; i++)
		free(info->scopes[i]);
	free(info->scopes);
	free(info->principal);
	free(info);
}

/* Check an apikey.verify result for the key whose id is id. */
static int info_from_result(const json_t *res, const char *id,
                            kw_apikey_info **ret_info)
{
	const json_t *principal = json_object_get(res, "principal");
	const json_t *scopes = json_object_get(res, "scopes");
	const json_t *expires = json_object_get(res, "expires");
	const char *got_id;
	kw_apikey_info *info;
	size_t i;
	json_t *v;

	if (!kw_json_get_text(res, "id", &got_id) || strcmp(got_id, id) != 0 ||
	    !json_is_string(principal) ||
	    kw_name_check(json_string_value(principal),
	                  json_string_length(principal), NULL) < 0 ||
	    !json_is_array(scopes) || json_array_size(scopes) > SCOPES_MAX ||
	    !(json_is_null(expires) || json_is_string(expires)))
		return KW_EPROTO;
	json_array_foreach(scopes, i, v)
	{
		if (!json_is_string(v) ||
		    !kw_scope_name_valid(json_string_value(v),
		                         json_string_length(v)))
			return KW_EPROTO;
	}
	info = calloc(1, sizeof(*info));
	if (!info)
		return KW_ENOMEM;
	memcpy(info->id, id, KW_APIKEY_ID_LEN + 1);
	if (json_is_string(expires) &&
	    !parse_time(json_string_value(expires), &info->expires)) {
		kw_apikey_info_free(info);
		return KW_EPROTO;
	}
	info->principal = strdup(json_string_value(principal));
	info->scopes = calloc(json_array_size(scopes) + 1, sizeof(char *));
	if (!info->principal || !info->scopes)
		goto nomem;
	json_array_foreach(scopes, i, v)
	{
		info->scopes[i] = strdup(json_string_value(v));
		if (!info->scopes[i])
			goto nomem;
		info->nscopes = i + 1;
	}
	*ret_info = info;
	return 0;

nomem:
	kw_apikey_info_free(info);
	return KW_ENOMEM;
}

static int apikey_verify(kw_client *c, const char *presented,
                         kw_apikey_info **ret_info)
{
	char id[KW_APIKEY_ID_LEN + 1], msg[160];
	const char *why = NULL;
	json_t *params, *res = NULL;
	int r;

	if (!presented || !ret_info)
		return client_fail(c, KW_EINVAL, "key: NULL");
	/* One past the longest key is enough to call it too long. */
	r = kw_apikey_parse(presented,
	                    strnlen(presented, KW_APIKEY_MANAGED_LEN + 1), id,
	                    &why);
	if (r < 0) {
		snprintf(msg, sizeof(msg), "key: %s",
		         why ? why : "not an API key");
		return client_fail(c, KW_EINVAL, msg);
	}
	params = json_pack("{s:s}", "key", presented);
	if (!params)
		return KW_ENOMEM;
	r = client_call_object(c, "apikey.verify", params, &res);
	if (r < 0)
		return r;
	r = info_from_result(res, id, ret_info);
	json_decref(res);
	return r;
}

int kw_apikey_verify(kw_client *c, const char *presented,
                     kw_apikey_info **ret_info)
{
	if (!c)
		return KW_EINVAL;
	client_begin(c);
	return client_end(c, apikey_verify(c, presented, ret_info));
}

const char *kw_apikey_info_id(const kw_apikey_info *info)
{
	return info ? info->id : NULL;
}

const char *kw_apikey_info_principal(const kw_apikey_info *info)
{
	return info ? info->principal : NULL;
}

size_t kw_apikey_info_scope_count(const kw_apikey_info *info)
{
	return info ? info->nscopes : 0;
}

const char *kw_apikey_info_scope(const kw_apikey_info *info, size_t i)
{
	return info && i < info->nscopes ? info->scopes[i] : NULL;
}

int kw_apikey_info_has_scope(const kw_apikey_info *info, const char *scope)
{
	if (!info || !scope)
		return 0;
	for (size_t i = 0; i < info->nscopes; i++)
		if (strcmp(info->scopes[i], scope) == 0)
			return 1;
	return 0;
}

int64_t kw_apikey_info_expires(const kw_apikey_info *info)
{
	return info ? info->expires : 0;
}
