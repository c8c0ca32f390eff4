/*
 * oauth_doc.h - a managed OAuth credential's stored document (oauthcred.h,
 * store_oauth.h; docs/oauth.md): what it is (grant, endpoints, client,
 * scopes, resources, the destination escapes), its secrets (client
 * secret, refresh token) and its state. JSON inside the seal:
 *
 *   {"v":1, "grant":"client_credentials", "auth":"client_secret_basic",
 *    "token_url":"https://...", "authorize_url":"", "device_url":"",
 *    "revocation_url":"", "issuer":"", "client_id":"...",
 *    "client_secret":"..." (absent: none), "scope":"a b",
 *    "resources":["https://..."], "allow_private":false,
 *    "allow_insecure":false, "iss_parameter":false, "refresh_token":"..."
 * (absent: none), "state":"new|ok|needs-reauth", "inflight":0, "created":T,
 *    "last_refresh":T, "access_expires":T, "refresh_expires":0,
 *    "access_version":N, "granted_scope":"...", "last_error":"..."}
 *
 * Pure: no I/O, no logging. Secrets live in kw_wipealloc memory.
 */
#ifndef KW_OAUTH_DOC_H
#define KW_OAUTH_DOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OAUTH_URL_MAX        1024u /* httpc's bound */
#define OAUTH_CLIENT_ID_MAX  256u
#define OAUTH_SECRET_MAX     1024u  /* a client secret */
#define OAUTH_TOKEN_MAX      16384u /* a refresh token */
#define OAUTH_SCOPE_MAX      1024u
#define OAUTH_RESOURCES_MAX  4u
#define OAUTH_ERROR_TEXT_MAX 200u

enum oauth_grant {
	OAUTH_GRANT_CLIENT_CREDENTIALS = 1,
	OAUTH_GRANT_AUTHORIZATION_CODE,
	OAUTH_GRANT_DEVICE_CODE,
};

enum oauth_auth { OAUTH_AUTH_BASIC = 1, OAUTH_AUTH_POST, OAUTH_AUTH_NONE };

enum oauth_state { OAUTH_STATE_NEW = 1, OAUTH_STATE_OK, OAUTH_STATE_REAUTH };

typedef struct oauth_doc {
	enum oauth_grant grant;
	enum oauth_auth auth;
	char token_url[OAUTH_URL_MAX + 1];
	char authorize_url[OAUTH_URL_MAX + 1]; /* "" if none */
	char device_url[OAUTH_URL_MAX + 1];
	char revocation_url[OAUTH_URL_MAX + 1];
	char issuer[OAUTH_URL_MAX + 1];
	char client_id[OAUTH_CLIENT_ID_MAX + 1];
	char *client_secret;             /* kw_wipealloc'd string, or NULL */
	char *refresh_token;             /* kw_wipealloc'd string, or NULL */
	char scope[OAUTH_SCOPE_MAX + 1]; /* "" for none */
	char resources[OAUTH_RESOURCES_MAX][OAUTH_URL_MAX + 1];
	size_t nresources;
	bool allow_private, allow_insecure;
	/* The server sends iss with its authorization response (RFC 9207,
	 * from its metadata): a login's redirect must carry it. */
	bool iss_parameter;
	enum oauth_state state;
	int64_t inflight; /* when a refresh_token grant was sent; 0: none */
	int64_t created, last_refresh, access_expires, refresh_expires;
	uint64_t access_version;
	char granted_scope[OAUTH_SCOPE_MAX + 1];
	char last_error[OAUTH_ERROR_TEXT_MAX + 1];
} oauth_doc;

/* The words of the JSON form, and back (0 or KW_EINVAL). */
const char *oauth_grant_name(enum oauth_grant g);
const char *oauth_auth_name(enum oauth_auth a);
int oauth_grant_parse(const char *s, enum oauth_grant *ret);
int oauth_auth_parse(const char *s, enum oauth_auth *ret);

/*
 * Is d a credential the agent can use? 0, or KW_EINVAL with a sentence
 * naming the field in why: URLs (absolute http(s), no user:password or
 * fragment, printable, at most OAUTH_URL_MAX), a client id of printable
 * ASCII, a scope of RFC 6749 scope-tokens, auth none only without a
 * secret and client_secret_* only with one, the endpoints the grant
 * needs (authorization_code: authorize_url; device_code: device_url).
 */
int oauth_doc_check(const oauth_doc *d, char *why, size_t whysz);

/* d as the JSON text above (kw_wipealloc'd, NUL-terminated). */
int oauth_doc_encode(const oauth_doc *d, char **ret_json, size_t *ret_len);
/* Parse and check (oauth_doc_check); KW_ESTORE if the text is not a
 * document this version wrote. On success the caller owns *ret's
 * secrets (oauth_doc_clear). */
int oauth_doc_decode(const uint8_t *json, size_t len, oauth_doc *ret);
/* Wipe and free d's secrets, and wipe d. */
void oauth_doc_clear(oauth_doc *d);
/* Copy src's secret into *dst (NULL stays NULL); KW_ENOMEM. */
int oauth_doc_set_secret(char **dst, const char *src);

#endif
