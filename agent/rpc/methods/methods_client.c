/*
 * methods_client.c - client tokens: client.hello, client.add, client.list,
 * client.revoke (docs/protocol.md).
 *
 * A token is "kwt_" + 43 base64url characters (32 random bytes). The agent
 * keeps only BLAKE2b-256(token) keyed with a subkey of the data key, so a
 * copy of secrets.db neither reveals nor verifies tokens.
 */
#include <sodium.h>
#include <string.h>

#include "clock.h"
#include "conn.h"
#include "dispatch.h"
#include "keyward.h"
#include "log.h"
#include "name.h"
#include "ratelimit.h"
#include "secmem.h"
#include "store_clients.h"

#define TOKEN_PREFIX       "kwt_"
#define TOKEN_RANDOM_BYTES 32u
#define TOKEN_B64_LEN      43u /* base64url, no padding, of 32 bytes */
#define TOKEN_LEN          (sizeof(TOKEN_PREFIX) - 1 + TOKEN_B64_LEN)
#define CLIENT_NAME_MAX    64u

static bool token_well_formed(const char *t, size_t len)
{
	if (len != TOKEN_LEN || memcmp(t, TOKEN_PREFIX, 4) != 0)
		return false;
	for (size_t i = 4; i < len; i++) {
		char ch = t[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
			return false;
	}
	return true;
}

static int token_hash(rpc_host *h, const char *t, size_t len,
                      uint8_t out[static STORE_CLIENT_HASH_BYTES])
{
	if (!*h->token_key)
		return KW_ELOCKED;
	int r = crypto_generichash(out, STORE_CLIENT_HASH_BYTES,
	                           (const unsigned char *)t, len,
	                           key_bytes(*h->token_key), KEY_BYTES);
	key_done(*h->token_key);
	return r == 0 ? 0 : KW_EINTERNAL;
}

/* Refuse a failed presentation after a growing delay (held response). */
static int hello_fail(rpc_ctx *x, const char *why)
{
	uint32_t delay =
		penalty_fail(*x->h->bad_tokens, x->c->peer.uid, loop_now_ms());
	x->c->hold_until_ms = loop_now_ms() + delay;
	log_warn("conn %llu: uid %u pid %d: client token refused (%s); next "
	         "attempt from this uid in %u ms",
	         (unsigned long long)x->c->serial, (unsigned)x->c->peer.uid,
	         (int)x->c->peer.pid, why, delay);
	return rpc_fail(x, KW_EDENIED, "token", "%s", why);
}

int method_client_hello(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { "token", NULL };
	rpc_host *h = x->h;
	const char *tok;
	size_t len;
	int r;

	if ((r = rpc_allow(x, keys)) < 0 ||
	    (r = rpc_opt_string(x, "token", 256, &tok, &len)) < 0)
		return r;
	if (!tok)
		return rpc_fail(x, KW_EINVAL, "token", "required");
	uint32_t wait =
		penalty_pending(*h->bad_tokens, x->c->peer.uid, loop_now_ms());
	if (wait > 0) {
		x->extra =
			json_pack("{s:I}", "retry_after_ms", (json_int_t)wait);
		return rpc_fail(
			x, KW_ERATE, NULL,
			"too soon after a refused token; retry in %u ms", wait);
	}
	if (!*h->token_key)
		return rpc_fail(x, KW_ELOCKED, NULL,
		                "the agent is locked; tokens can be checked "
		                "after an unlock");
	if (!token_well_formed(tok, len))
		return hello_fail(x, "not a keyward client token");

	uint8_t hash[STORE_CLIENT_HASH_BYTES];
	char name[CLIENT_NAME_MAX + 1];
	r = token_hash(h, tok, len, hash);
	if (r == 0)
		r = store_client_lookup(*h->st, hash, name, sizeof(name));
	sodium_memzero(hash, sizeof(hash));
	if (r == KW_ENOTFOUND)
		return hello_fail(x, "unknown or revoked token");
	if (r < 0)
		return r;
	store_client_touch(*h->st, name, clock_wall());
	memcpy(x->c->token_name, name, strlen(name) + 1);
	x->name = x->c->token_name; /* the audit row names the client */
	x->c->principal_gen = 0;    /* attribute again with the token */
	log_info("conn %llu: uid %u pid %d presented the token of client %s",
	         (unsigned long long)x->c->serial, (unsigned)x->c->peer.uid,
	         (int)x->c->peer.pid, name);
	*ret_result = json_pack("{s:s}", "client", name);
	return *ret_result ? 0 : KW_ENOMEM;
}

static int client_name_param(rpc_ctx *x, const char **ret_name)
{
	int r = rpc_name(x, "name", ret_name);
	if (r < 0)
		return r;
	if (strlen(*ret_name) > CLIENT_NAME_MAX)
		return rpc_fail(x, KW_ENAME, "name", "at most %u bytes",
		                CLIENT_NAME_MAX);
	return 0;
}

int method_client_add(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { "name", NULL };
	const char *name;
	int r;

	if ((r = rpc_allow(x, keys)) < 0 ||
	    (r = client_name_param(x, &name)) < 0)
		return r;

	uint8_t raw[TOKEN_RANDOM_BYTES];
	char tok[TOKEN_LEN + 1];
	uint8_t hash[STORE_CLIENT_HASH_BYTES];
	randombytes_buf(raw, sizeof(raw));
	memcpy(tok, TOKEN_PREFIX, 4);
	sodium_bin2base64(tok + 4, sizeof(tok) - 4, raw, sizeof(raw),
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
	r = token_hash(x->h, tok, TOKEN_LEN, hash);
	if (r == 0)
		r = store_client_add(*x->h->st, name, hash, clock_wall());
	sodium_memzero(hash, sizeof(hash));
	if (r == KW_EEXIST)
		r = rpc_fail(x, r, "name",
		             "a client with this name has a live token; revoke "
		             "it first");
	if (r == 0) {
		*ret_result =
			json_pack("{s:s, s:s}", "name", name, "token", tok);
		r = *ret_result ? 0 : KW_ENOMEM;
		log_info("client %s added by uid %u pid %d", name,
		         (unsigned)x->c->peer.uid, (int)x->c->peer.pid);
	}
	sodium_memzero(tok, sizeof(tok));
	return r;
}

static int client_list_row(const store_client_info *ci, void *arg)
{
	json_t *arr = arg;
	json_t *o =
		json_pack("{s:s, s:o, s:o, s:b}", "name", ci->name, "created",
	                  rpc_time(ci->created), "last_used",
	                  ci->last_used ? rpc_time(ci->last_used) : json_null(),
	                  "revoked", ci->revoked);
	if (!o || json_array_append_new(arr, o) != 0)
		return KW_ENOMEM;
	return 0;
}

int method_client_list(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { NULL };
	int r = rpc_allow(x, keys);
	if (r < 0)
		return r;
	json_t *arr = json_array();
	if (!arr)
		return KW_ENOMEM;
	r = store_client_list(*x->h->st, client_list_row, arr);
	if (r < 0) {
		json_decref(arr);
		return r;
	}
	*ret_result = json_pack("{s:o}", "clients", arr);
	return *ret_result ? 0 : KW_ENOMEM;
}

int method_client_revoke(rpc_ctx *x, json_t **ret_result)
{
	static const char *const keys[] = { "name", NULL };
	const char *name;
	int r;

	if ((r = rpc_allow(x, keys)) < 0 ||
	    (r = client_name_param(x, &name)) < 0)
		return r;
	r = store_client_revoke(*x->h->st, name, clock_wall());
	if (r == KW_ENOTFOUND)
		return rpc_fail(x, r, "name", "no live client of this name");
	if (r < 0)
		return r;
	/* Connections that presented it lose it now, not at reconnect. */
	for (conn *c = *x->h->conns; c; c = c->next) {
		if (strcmp(c->token_name, name) == 0) {
			c->token_name[0] = '\0';
			c->principal_gen = 0;
		}
	}
	log_info("client %s revoked by uid %u pid %d", name,
	         (unsigned)x->c->peer.uid, (int)x->c->peer.pid);
	*ret_result = json_pack("{s:s}", "name", name);
	return *ret_result ? 0 : KW_ENOMEM;
}
