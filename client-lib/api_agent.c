/*
 * api_agent.c - libkeyward: client.hello, the agent.* methods and the
 * generic kw_call (api.c has the secret.* methods, and says how these
 * functions check what they get).
 */
#include <jansson.h>
#include <string.h>

#include "client_int.h"
#include "secmem.h"

/* Client token --------------------------------------------------------- */

int kw_client_hello(kw_client *c, const char *token)
{
	if (!c)
		return KW_EINVAL;
	client_begin(c);
	if (!client_token_valid(token))
		return client_end(c,
		                  client_fail(c, KW_EINVAL,
		                              "not a client token (expected "
		                              "kwt_ followed by 43 base64url "
		                              "characters)"));
	return client_end(c, client_hello(c, token));
}

/* Agent ------------------------------------------------------------------ */

static int agent_locked(kw_client *c)
{
	json_t *res = NULL;
	bool locked;
	int r;

	r = client_call_object(c, "agent.status", NULL, &res);
	if (r < 0)
		return r;
	r = kw_json_get_bool(res, "locked", &locked) ? (int)locked : KW_EPROTO;
	json_decref(res);
	return r;
}

/* Check a result of the form {"key": expected}. */
static int expect_bool(json_t *res, const char *key, bool expected)
{
	bool v;
	int r = 0;

	if (!kw_json_get_bool(res, key, &v) || v != expected)
		r = KW_EPROTO;
	json_decref(res);
	return r;
}

static bool passphrase_ok(const char *p)
{
	return p && p[0] != '\0';
}

static int agent_unlock(kw_client *c, const char *passphrase)
{
	json_t *params = NULL, *res = NULL;
	int r;

	if (!c || (passphrase && !passphrase_ok(passphrase)))
		return KW_EINVAL;
	if (passphrase) {
		params = json_pack("{s:s}", "passphrase", passphrase);
		if (!params)
			return KW_EINVAL; /* not UTF-8, or out of memory */
	}
	r = client_call_object(c, "agent.unlock", params, &res);
	if (r < 0)
		return r;
	return expect_bool(res, "locked", false);
}

static int agent_lock(kw_client *c)
{
	json_t *res = NULL;
	int r;

	r = client_call_object(c, "agent.lock", NULL, &res);
	if (r < 0)
		return r;
	return expect_bool(res, "locked", true);
}

static int agent_passwd(kw_client *c, const char *current,
                        const char *new_passphrase)
{
	json_t *params, *res = NULL;
	const char *mode;
	int r;

	if (!c || !passphrase_ok(new_passphrase) ||
	    (current && !passphrase_ok(current)))
		return KW_EINVAL;
	params = json_pack("{s:s}", "new", new_passphrase);
	if (!params)
		return KW_EINVAL;
	if (current &&
	    json_object_set_new(params, "current", json_string(current)) < 0) {
		json_decref(params);
		return KW_EINVAL;
	}
	r = client_call_object(c, "agent.passwd", params, &res);
	if (r < 0)
		return r;
	if (!kw_json_get_text(res, "mode", &mode) ||
	    strcmp(mode, "passphrase") != 0)
		r = KW_EPROTO;
	json_decref(res);
	return r;
}

/* Generic call ----------------------------------------------------------- */

static int call(kw_client *c, const char *method, const char *params_json,
                char **ret_result_json)
{
	json_t *params = NULL, *res = NULL;
	char *text;
	int r;

	if (!c || !method || method[0] == '\0' || !ret_result_json)
		return KW_EINVAL;
	if (params_json) {
		params = json_loads(params_json, JSON_REJECT_DUPLICATES, NULL);
		if (!json_is_object(params)) {
			json_decref(params);
			return KW_EINVAL;
		}
	}
	r = client_call(c, method, params, &res);
	if (r < 0)
		return r;
	text = json_dumps(res, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(res);
	if (!text)
		return KW_ENOMEM;
	*ret_result_json = text;
	return 0;
}

/* Public: agent ---------------------------------------------------------- */

int kw_agent_locked(kw_client *c)
{
	if (!c)
		return KW_EINVAL;
	client_begin(c);
	return client_end(c, agent_locked(c));
}

int kw_agent_unlock(kw_client *c, const char *passphrase)
{
	if (!c)
		return KW_EINVAL;
	client_begin(c);
	return client_end(c, agent_unlock(c, passphrase));
}

int kw_agent_lock(kw_client *c)
{
	if (!c)
		return KW_EINVAL;
	client_begin(c);
	return client_end(c, agent_lock(c));
}

int kw_agent_passwd(kw_client *c, const char *current,
                    const char *new_passphrase)
{
	if (!c)
		return KW_EINVAL;
	client_begin(c);
	return client_end(c, agent_passwd(c, current, new_passphrase));
}

int kw_call(kw_client *c, const char *method, const char *params_json,
            char **ret_result_json)
{
	if (!c)
		return KW_EINVAL;
	client_begin(c);
	return client_end(c, call(c, method, params_json, ret_result_json));
}

void kw_json_free(char *json)
{
	kw_wipefree_str(json);
}
