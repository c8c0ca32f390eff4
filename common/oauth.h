/*
 * oauth.h - the pure parts of an OAuth 2.0 client (issue 16): what keyward
 * sends to and reads from authorization servers and MCP servers when it
 * gets tokens on a user's behalf. No I/O, no logging, no clock: the caller
 * fetches, these functions build and check.
 *
 * Conventions:
 *   - Functions that act return 0 or a negative KW_E* code: KW_EINVAL for
 *     malformed input, KW_ETOOBIG for input over one of the bounds below,
 *     KW_ENOMEM. Output parameters come last, named ret_*, and are untouched
 *     on failure.
 *   - Parsers of untrusted input take why/whysz (why may be NULL, whysz 0):
 *     cleared on entry, on failure a short sentence naming the field and the
 *     rule ("expires_in is not an integer"). It never quotes a token, code,
 *     secret or other value that may be one.
 *   - JSON documents are at most KW_OAUTH_JSON_MAX bytes (checked before
 *     parsing), must be objects, and are refused if a member appears twice.
 *     Members not named here are ignored; a member whose value is null is
 *     treated as absent. Strings from JSON are valid UTF-8 without NUL.
 *   - Anything that may hold a secret (tokens, codes, client secrets,
 *     verifiers, form bodies) is in kw_wipealloc memory and wiped when
 *     freed. kw_secmem_init() must have run (it makes jansson wipe too).
 *   - "printable" means bytes 0x21..0x7e unless said otherwise.
 *   - A URL is what kw_oauth_url_check accepts; every URL field below is
 *     either such a URL or "" (absent).
 *
 * The specifications: RFC 6749 (OAuth 2.0), RFC 6750 (bearer tokens),
 * RFC 7636 (PKCE), RFC 8414 (authorization server metadata), RFC 8628
 * (device grant), RFC 8707 (resource indicators), RFC 9207 (iss in the
 * authorization response), RFC 9728 (protected resource metadata),
 * RFC 9110 11.6.1 (challenges), OpenID Connect Discovery 1.0, and the MCP
 * authorization specification (2025-11-25).
 */
#ifndef KW_OAUTH_H
#define KW_OAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keyward.h"

#define KW_OAUTH_JSON_MAX           (64u << 10)  /* a JSON document */
#define KW_FORM_MAX                 (256u << 10) /* an encoded form or URL */
#define KW_OAUTH_QUERY_MAX          (64u << 10)  /* a redirect's query */
#define KW_OAUTH_WWWAUTH_MAX        (16u << 10)  /* a WWW-Authenticate value */
#define KW_OAUTH_TOKEN_MAX          16384u /* a token, code or device code */
#define KW_OAUTH_EXPIRES_MAX        (10 * 365 * INT64_C(86400)) /* 10 years */
#define KW_OAUTH_DEVICE_EXPIRES_MAX INT64_C(86400) /* a device code's life */
#define KW_OAUTH_INTERVAL_MAX       INT64_C(3600)  /* device polling interval */
#define KW_OAUTH_URL_MAX            2048u
#define KW_OAUTH_SCOPE_MAX          4096u /* a scope string */
#define KW_OAUTH_ERROR_MAX          63u   /* an error code */
#define KW_OAUTH_DESC_MAX           512u  /* an error description, once cut */
#define KW_OAUTH_STATE_MAX          127u  /* a state we read back */
#define KW_OAUTH_USER_CODE_MAX      127u
#define KW_OAUTH_SERVERS_MAX        8u /* authorization_servers of a resource */

/* base64url of 32 random bytes (43 characters) and a NUL. */
#define KW_OAUTH_VERIFIER_SIZE       44u
#define KW_OAUTH_PKCE_CHALLENGE_SIZE 44u
#define KW_OAUTH_STATE_SIZE          44u

/* ---- Form encoding ------------------------------------------------------
 *
 * application/x-www-form-urlencoded as the WHATWG URL standard writes it:
 * ASCII letters, digits and * - . _ are kept, space becomes '+', every
 * other byte (non-ASCII and NUL included) becomes %XX with upper-case hex.
 * RFC 6749 appendix B asks for this encoding of request parameters.
 */
typedef struct kw_form {
	char *buf; /* kw_wipealloc memory, NUL-terminated; NULL while empty */
	size_t len, cap;
} kw_form;

/*
 * Append key=value (both encoded), after a '&' if f is not empty. key is a
 * C string, value value_len bytes (may hold any byte). f starts as
 * (kw_form){ 0 }. 0, KW_EINVAL (NULL argument), KW_ETOOBIG (f would pass
 * KW_FORM_MAX bytes), KW_ENOMEM; on failure f is as it was. A grown buffer
 * is a new one: the old one is wiped, never realloc'ed.
 */
KW_MUST_CHECK int kw_form_add(kw_form *f, const char *key, const char *value,
                              size_t value_len);
/* Wipe and free the buffer and zero f. NULL is fine. */
void kw_form_free(kw_form *f);

/*
 * client_secret_basic (RFC 6749 2.3.1): *ret_header is
 *     "Authorization: Basic " base64(form(client_id) ":" form(secret))
 * with form() the encoding above and standard padded base64, NUL-terminated
 * in kw_wipealloc memory (free with kw_wipefree). client_id must not be
 * empty. 0, KW_EINVAL, KW_ETOOBIG (the encoded pair over KW_FORM_MAX),
 * KW_ENOMEM.
 */
KW_MUST_CHECK int kw_oauth_basic(const char *client_id, const char *secret,
                                 size_t secret_len, char **ret_header);

/* ---- Token endpoint responses (RFC 6749 5.1, 5.2) ---------------------- */

typedef struct kw_oauth_token {
	char *access_token; /* kw_wipealloc, NUL-terminated */
	size_t access_len;
	char *refresh_token; /* kw_wipealloc, NUL-terminated; NULL if absent */
	size_t refresh_len;
	int64_t expires_in; /* seconds; -1 if absent */
	bool has_scope;
	char scope[KW_OAUTH_SCOPE_MAX + 1]; /* when has_scope; may be "" */
} kw_oauth_token;

/*
 * A successful token response, body[0..len). Accepted:
 *   access_token   required string, 1..KW_OAUTH_TOKEN_MAX printable bytes
 *   token_type     required, "Bearer" compared case-insensitively; DPoP,
 *                  mac, N_A and the rest are refused
 *   refresh_token  optional, as access_token
 *   expires_in     optional integer 1..KW_OAUTH_EXPIRES_MAX; also taken
 *                  as a string of 1..10 decimal digits (some servers send
 *                  "3600"); 0, negative, fractional or larger is refused
 *   scope          optional RFC 6749 3.3 scope string (scope-tokens
 *                  separated by single spaces, scope.h) of at most
 *                  KW_OAUTH_SCOPE_MAX bytes; "" (nothing granted) accepted
 * A body with "error" and no access_token is refused with why naming the
 * error code (parse it with kw_oauth_error_parse).
 * 0 with *ret filled (release with kw_oauth_token_clear), KW_EINVAL,
 * KW_ETOOBIG (the body, a token or the scope over its bound), KW_ENOMEM.
 */
KW_MUST_CHECK int kw_oauth_token_parse(const char *body, size_t len,
                                       kw_oauth_token *ret, char *why,
                                       size_t whysz);
/* Wipe and free both tokens and zero t (expires_in becomes -1). NULL ok. */
void kw_oauth_token_clear(kw_oauth_token *t);

typedef struct kw_oauth_error {
	char error[KW_OAUTH_ERROR_MAX + 1];
	char description[KW_OAUTH_DESC_MAX + 1]; /* "" if absent */
} kw_oauth_error;

/*
 * An error response (RFC 6749 5.2; also what the device grant's polling
 * gets: authorization_pending, slow_down, ...). "error" is required:
 * 1..KW_OAUTH_ERROR_MAX bytes of %x20-21 / %x23-5B / %x5D-7E, else
 * refused. "error_description" is optional and only ever shown to users:
 * bytes outside that set become '?' (a whole UTF-8 sequence one '?'), and
 * it is cut to KW_OAUTH_DESC_MAX bytes; one that is not a string is
 * dropped rather than losing the error. error_uri is ignored.
 * 0, KW_EINVAL, KW_ETOOBIG (body or error over the bound), KW_ENOMEM.
 */
KW_MUST_CHECK int kw_oauth_error_parse(const char *body, size_t len,
                                       kw_oauth_error *ret);

/* ---- Authorization server metadata (RFC 8414, OIDC Discovery) ---------- */

#define KW_OAUTH_AUTH_BASIC 1u /* client_secret_basic */
#define KW_OAUTH_AUTH_POST  2u /* client_secret_post */
#define KW_OAUTH_AUTH_NONE  4u /* none: a public client */

#define KW_OAUTH_GRANT_CODE               1u /* authorization_code */
#define KW_OAUTH_GRANT_REFRESH            2u /* refresh_token */
#define KW_OAUTH_GRANT_CLIENT_CREDENTIALS 4u
#define KW_OAUTH_GRANT_DEVICE             8u /* RFC 8628 device_code */

typedef struct kw_oauth_as_meta {
	char issuer[KW_OAUTH_URL_MAX + 1];
	char authorization_endpoint[KW_OAUTH_URL_MAX + 1];
	char token_endpoint[KW_OAUTH_URL_MAX + 1]; /* never "" */
	char device_authorization_endpoint[KW_OAUTH_URL_MAX + 1];
	char revocation_endpoint[KW_OAUTH_URL_MAX + 1];
	char registration_endpoint[KW_OAUTH_URL_MAX + 1];
	char introspection_endpoint[KW_OAUTH_URL_MAX + 1];
	char jwks_uri[KW_OAUTH_URL_MAX + 1];
	bool pkce_s256;          /* code_challenge_methods_supported has S256 */
	bool iss_parameter;      /* authorization_response_iss_parameter_
	                            supported (RFC 9207) */
	bool client_id_metadata; /* client_id_metadata_document_supported */
	unsigned auth_methods;   /* KW_OAUTH_AUTH_*: token_endpoint_auth_
	                            methods_supported; absent: BASIC (RFC 8414) */
	unsigned grants;         /* KW_OAUTH_GRANT_*: grant_types_supported;
	                            absent: CODE (RFC 8414's default; implicit
	                            is never used) */
} kw_oauth_as_meta;

/*
 * An authorization server metadata document. "issuer" must be equal, byte
 * for byte, to expected_issuer (RFC 8414 3.3: no normalisation, so
 * "https://a/" is not "https://a"), and be a URL without a query.
 * token_endpoint is required; the other endpoints are optional; every one
 * present must be a URL. The capability lists must be arrays of strings
 * (unknown values ignored) and the flags booleans.
 * 0, KW_EINVAL, KW_ETOOBIG (the body or a URL over its bound), KW_ENOMEM.
 */
KW_MUST_CHECK int kw_oauth_as_meta_parse(const char *body, size_t len,
                                         const char *expected_issuer,
                                         kw_oauth_as_meta *ret, char *why,
                                         size_t whysz);

/* Where an issuer's metadata may be (RFC 8414 3.1 and 5, OIDC Discovery
 * 4): for https://h/tenant,
 *   OAUTH         https://h/.well-known/oauth-authorization-server/tenant
 *   OIDC_INSERT   https://h/.well-known/openid-configuration/tenant
 *   OIDC_APPEND   https://h/tenant/.well-known/openid-configuration
 * and for https://h (no path) .../.well-known/oauth-authorization-server
 * and .../.well-known/openid-configuration (INSERT and APPEND coincide). */
enum kw_oauth_wellknown {
	KW_OAUTH_WK_OAUTH,
	KW_OAUTH_WK_OIDC_INSERT,
	KW_OAUTH_WK_OIDC_APPEND,
};
#define KW_OAUTH_WK_COUNT 3u

/*
 * The metadata URL of kind for issuer (a URL without a query), one
 * trailing '/' of its path dropped first; writes it and a NUL into out.
 * 0, KW_EINVAL, KW_ETOOBIG (outsz too small). out untouched on failure.
 */
KW_MUST_CHECK int kw_oauth_well_known(const char *issuer,
                                      enum kw_oauth_wellknown kind, char *out,
                                      size_t outsz);

/*
 * The kinds to try, in the order the MCP specification requires
 * ("Authorization Server Metadata Discovery"): with a path, OAUTH,
 * OIDC_INSERT, OIDC_APPEND (*ret_n = 3); without one (or only "/"),
 * OAUTH, OIDC_INSERT (*ret_n = 2). Stop at the first document that parses
 * with kw_oauth_as_meta_parse for this issuer. 0 or KW_EINVAL.
 */
KW_MUST_CHECK int kw_oauth_discovery_order(
	const char *issuer,
	enum kw_oauth_wellknown ret_kinds[static KW_OAUTH_WK_COUNT],
	size_t *ret_n);

/* ---- Protected resources: RFC 9728 metadata and WWW-Authenticate ------- */

typedef struct kw_oauth_resource_meta {
	char resource[KW_OAUTH_URL_MAX + 1];
	char authorization_servers[KW_OAUTH_SERVERS_MAX][KW_OAUTH_URL_MAX + 1];
	size_t nservers; /* 1..KW_OAUTH_SERVERS_MAX */
	bool has_scopes; /* scopes_supported present and not empty */
	char scopes_supported[KW_OAUTH_SCOPE_MAX + 1]; /* joined by spaces */
} kw_oauth_resource_meta;

/*
 * A protected resource metadata document. "resource" must be equal, byte
 * for byte, to expected_resource (RFC 9728 3.3, 7.3: the URL the metadata
 * was asked for, or the one the client called). authorization_servers is
 * required (the MCP specification): 1..KW_OAUTH_SERVERS_MAX URLs.
 * scopes_supported, optional, is an array of scope-tokens, joined with
 * single spaces into at most KW_OAUTH_SCOPE_MAX bytes.
 * 0, KW_EINVAL, KW_ETOOBIG, KW_ENOMEM.
 */
KW_MUST_CHECK int kw_oauth_resource_meta_parse(const char *body, size_t len,
                                               const char *expected_resource,
                                               kw_oauth_resource_meta *ret,
                                               char *why, size_t whysz);

typedef struct kw_oauth_challenge {
	bool bearer; /* a Bearer challenge was there; the rest is from it */
	char error[KW_OAUTH_ERROR_MAX + 1];
	char scope[KW_OAUTH_SCOPE_MAX + 1];
	char resource_metadata[KW_OAUTH_URL_MAX + 1];
	char description[KW_OAUTH_DESC_MAX + 1]; /* error_description */
} kw_oauth_challenge;

/*
 * The value of a WWW-Authenticate header, value[0..len): one or more
 * challenges separated by commas (RFC 9110 11.6.1), each an auth-scheme
 * followed by a token68 or by auth-params name=token or
 * name="quoted-string" (quoted-pairs unescaped), e.g.
 *     Basic realm="x", Bearer error="invalid_token", scope="a b"
 * The whole value must have that syntax (else KW_EINVAL: commas cannot be
 * split otherwise). The first challenge whose scheme is "Bearer"
 * (case-insensitive) fills *ret; none is not an error (bearer false).
 * In it, parameter names are case-insensitive and none of realm, error,
 * error_description, scope and resource_metadata may appear twice;
 * error must be an RFC 6749 error code, scope a scope string, and
 * resource_metadata a URL (else KW_EINVAL); error_description is made
 * printable and cut as in kw_oauth_error_parse; realm and the rest are
 * ignored. Absent parameters are "". 0, KW_EINVAL, KW_ETOOBIG (value over
 * KW_OAUTH_WWWAUTH_MAX or a parameter over its field).
 */
KW_MUST_CHECK int kw_oauth_challenge_parse(const char *value, size_t len,
                                           kw_oauth_challenge *ret);

/* ---- PKCE (RFC 7636, S256 only) and state ------------------------------ */

/*
 * A fresh code verifier (base64url without padding of 32 random bytes: 43
 * characters) and its S256 challenge, both NUL-terminated. The verifier is
 * a secret: wipe it (sodium_memzero) after the token request. 0.
 */
KW_MUST_CHECK int
kw_oauth_pkce(char ret_verifier[static KW_OAUTH_VERIFIER_SIZE],
              char ret_challenge[static KW_OAUTH_PKCE_CHALLENGE_SIZE]);

/*
 * The S256 challenge of a verifier[0..len): base64url(SHA-256(verifier)),
 * no padding, and a NUL. The verifier must be 43..128 bytes of
 * [A-Za-z0-9-._~] (RFC 7636 4.1). 0 or KW_EINVAL.
 */
KW_MUST_CHECK int kw_oauth_pkce_challenge(
	const char *verifier, size_t len,
	char ret_challenge[static KW_OAUTH_PKCE_CHALLENGE_SIZE]);

/* A fresh state value: base64url of 32 random bytes and a NUL. 0. */
KW_MUST_CHECK int kw_oauth_random_state(char ret[static KW_OAUTH_STATE_SIZE]);

/* ---- The authorization request (RFC 6749 4.1.1, RFC 7636, RFC 8707) ---- */

/*
 * authorize_endpoint with the query parameters
 *     response_type=code, client_id, redirect_uri, scope (if not NULL),
 *     resource (once per entry), state, code_challenge,
 *     code_challenge_method=S256
 * form-encoded, after '?' (or '&' if the endpoint already has a query, or
 * nothing if it ends in '?' or '&'). The endpoint, redirect_uri and each
 * resource must be URLs; client_id 1..KW_OAUTH_URL_MAX and state
 * 1..KW_OAUTH_STATE_MAX bytes of %x20-7E; scope a scope string (at most
 * KW_OAUTH_SCOPE_MAX bytes); challenge 43 base64url characters.
 * *ret_url is malloc'ed (free()), at most KW_FORM_MAX bytes.
 * 0, KW_EINVAL, KW_ETOOBIG, KW_ENOMEM.
 */
KW_MUST_CHECK int kw_oauth_authorize_url(const char *authorize_endpoint,
                                         const char *client_id,
                                         const char *redirect_uri,
                                         const char *scope,
                                         const char *const *resources,
                                         size_t nresources, const char *state,
                                         const char *challenge, char **ret_url);

/* ---- The redirect back (RFC 6749 4.1.2, 4.1.2.1; RFC 9207) ------------- */

typedef struct kw_oauth_callback {
	char *code; /* kw_wipealloc, NUL-terminated; NULL if absent */
	size_t code_len;
	char state[KW_OAUTH_STATE_MAX + 1]; /* "" if absent */
	bool has_iss;
	char iss[KW_OAUTH_URL_MAX + 1];
	char error[KW_OAUTH_ERROR_MAX + 1]; /* "" if absent */
	char description[KW_OAUTH_DESC_MAX + 1];
} kw_oauth_callback;

/*
 * The query of the redirect to the loopback listener (what follows '?' in
 * GET /callback?...), query[0..len): name=value pairs separated by '&',
 * %XX-decoded with '+' as space. Exactly one of code and error is
 * required. code: 1..KW_OAUTH_TOKEN_MAX printable bytes; state:
 * 1..KW_OAUTH_STATE_MAX bytes of %x20-7E; iss: a URL; error: an error
 * code; error_description: made printable and cut as in
 * kw_oauth_error_parse. Any of these given twice is refused (RFC 6749
 * 3.1); other parameters are ignored. The raw query must be printable, its
 * escapes well-formed, and no decoded value may hold a NUL.
 * The caller compares state (and iss, if the server sends it) with what
 * it expects: a missing state is "" here, not an error.
 * 0 (release with kw_oauth_callback_clear), KW_EINVAL, KW_ETOOBIG,
 * KW_ENOMEM.
 */
KW_MUST_CHECK int kw_oauth_callback_parse(const char *query, size_t len,
                                          kw_oauth_callback *ret, char *why,
                                          size_t whysz);
/* Wipe and free the code and zero cb. NULL ok. */
void kw_oauth_callback_clear(kw_oauth_callback *cb);

/* ---- Device authorization response (RFC 8628 3.2) ---------------------- */

typedef struct kw_oauth_device {
	char *device_code; /* kw_wipealloc, NUL-terminated */
	size_t device_code_len;
	char user_code[KW_OAUTH_USER_CODE_MAX + 1];
	char verification_uri[KW_OAUTH_URL_MAX + 1];
	char verification_uri_complete[KW_OAUTH_URL_MAX + 1]; /* or "" */
	int64_t expires_in;
	int64_t interval;
} kw_oauth_device;

/*
 * device_code (required, as an access token), user_code (required,
 * 1..KW_OAUTH_USER_CODE_MAX bytes of %x20-7E), verification_uri (required
 * URL; "verification_url", which Google sends, is taken in its absence),
 * verification_uri_complete (optional URL), expires_in (required,
 * 1..KW_OAUTH_DEVICE_EXPIRES_MAX, integer or digit string as in
 * kw_oauth_token_parse), interval (optional, 1..KW_OAUTH_INTERVAL_MAX,
 * default 5). 0 (release with kw_oauth_device_clear), KW_EINVAL,
 * KW_ETOOBIG, KW_ENOMEM.
 */
KW_MUST_CHECK int kw_oauth_device_parse(const char *body, size_t len,
                                        kw_oauth_device *ret, char *why,
                                        size_t whysz);
/* Wipe and free the device code and zero d. NULL ok. */
void kw_oauth_device_clear(kw_oauth_device *d);

/* ---- URLs -------------------------------------------------------------- */

/*
 * Is url an absolute http:// or https:// URL (scheme case-insensitive)
 * keyward will talk to: at most KW_OAUTH_URL_MAX bytes of RFC 3986
 * characters (so printable ASCII, no spaces), well-formed %XX escapes, a
 * host of [A-Za-z0-9-._~] or an IPv6 literal [hex:.], an optional port of
 * 1..5 digits up to 65535, no userinfo ('@' in the authority), no
 * fragment. 0, KW_EINVAL or KW_ETOOBIG, with why saying what is wrong.
 */
KW_MUST_CHECK int kw_oauth_url_check(const char *url, char *why, size_t whysz);

/* Are a and b URLs of the same origin: scheme and host equal ignoring
 * case, ports equal once the default ports (80, 443) are filled in? false
 * if either is not a URL. */
bool kw_oauth_same_origin(const char *a, const char *b);

/*
 * The canonical URI of an MCP server (the MCP specification's "Canonical
 * Server URI", an RFC 8707 resource indicator) and a NUL into out: scheme
 * and host in lower case, the default port and leading zeros of the port
 * dropped, hex digits of %XX escapes in upper case, and one trailing '/'
 * removed from the path, also when the path is only "/" (the
 * specification's form without the slash: https://h/ gives https://h).
 * The query is kept. url must be a URL whose path has no "." or ".."
 * segment. The same rules as the agent's audience comparison
 * (jwt_audience_canonical). 0, KW_EINVAL, KW_ETOOBIG (outsz too small;
 * KW_OAUTH_URL_MAX + 1 always suffices). out untouched on failure.
 */
KW_MUST_CHECK int kw_oauth_canonical_resource(const char *url, char *out,
                                              size_t outsz);

#endif
