/*
 * token.c - libkeyward: client tokens. The token is kept in sodium_malloc
 * memory, no-access except while a client.hello is being built, and is
 * presented again whenever the connection has not accepted it yet (see
 * client.c for when).
 */
#include <sodium.h>
#include <string.h>

#include "client_int.h"
#include "name.h"

bool client_token_valid(const char *token)
{
	static const char prefix[] = CLIENT_TOKEN_PREFIX;
	const size_t plen = sizeof(prefix) - 1;

	if (!token ||
	    strnlen(token, CLIENT_TOKEN_LEN + 1) != CLIENT_TOKEN_LEN ||
	    strncmp(token, prefix, plen) != 0)
		return false;
	for (size_t i = plen; i < CLIENT_TOKEN_LEN; i++) {
		unsigned char ch = (unsigned char)token[i];

		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
			return false;
	}
	return true;
}

/* client.hello with token (already validated); checks {"client": NAME}. */
static int hello_call(kw_client *c, const char *token, int64_t deadline)
{
	json_t *params, *res = NULL;
	const json_t *name;
	int r;

	/* jansson copies the token into memory its (wiping) allocator
	 * owns; the request line is wiped too. */
	params = json_pack("{s:s}", "token", token);
	if (!params)
		return KW_ENOMEM;
	r = client_call_until(c, "client.hello", params, deadline, &res);
	if (r < 0)
		return r;
	name = json_object_get(res, "client");
	if (!json_is_object(res) || !json_is_string(name) ||
	    kw_name_check(json_string_value(name), json_string_length(name),
	                  NULL) < 0)
		r = KW_EPROTO;
	json_decref(res);
	return r;
}

int client_token_present(kw_client *c, int64_t deadline)
{
	int r;

	sodium_mprotect_readonly(c->token);
	r = hello_call(c, c->token, deadline);
	sodium_mprotect_noaccess(c->token);
	if (r == 0)
		c->token_pending = false;
	return r;
}

/* Replace the kept token with a copy of token. */
static int token_keep(kw_client *c, const char *token)
{
	char *copy = sodium_malloc(CLIENT_TOKEN_LEN + 1);

	if (!copy)
		return KW_ENOMEM;
	memcpy(copy, token, CLIENT_TOKEN_LEN + 1);
	sodium_mprotect_noaccess(copy);
	sodium_free(c->token); /* wipes */
	c->token = copy;
	return 0;
}

int client_hello(kw_client *c, const char *token)
{
	int r, k;

	if (!client_token_valid(token))
		return KW_EINVAL;
	r = hello_call(c, token, client_now_ms() + c->timeout_ms);
	if (r < 0 && r != KW_ELOCKED)
		return r;
	/* Accepted, or to be presented after an unlock: keep it either way,
	 * so that a reconnect presents it again. */
	k = token_keep(c, token);
	if (k < 0)
		return k;
	c->token_pending = r == KW_ELOCKED;
	return r;
}
