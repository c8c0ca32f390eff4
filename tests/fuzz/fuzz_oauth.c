/*
 * fuzz_oauth.c - the OAuth client's parsers and URL rules (common/oauth.h).
 *
 * Input, by its first byte; the rest is the document:
 *   't' a token response        'e' an error response
 *   'a' AS metadata (issuer ISS) 'r' resource metadata (resource RES)
 *   'w' a WWW-Authenticate value 'c' a redirect's query
 *   'd' a device authorization response
 *   'u' a URL                    'f' a form value (and a PKCE verifier)
 * Properties: a refusal is one of the documented codes, says why in
 * printable ASCII and leaves the result byte for byte as it was; what is
 * accepted keeps every promise of the header (lengths, character sets,
 * bounds, URLs that pass kw_oauth_url_check); an issuer or resource is
 * matched exactly (never both ISS and ISS "/"). URLs: canonical forms are
 * fixed points of the same origin, never longer, and agree with the
 * agent's jwt_audience_canonical both ways; metadata locations are URLs
 * of the issuer's origin. Forms: only the WHATWG characters, and a state
 * sent through a form comes back from kw_oauth_callback_parse as it was;
 * client_secret_basic decodes to the form-encoded pair.
 */
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "jwt.h"
#include "oauth.h"
#include "scope.h"
#include "secmem.h"

#define ISS "https://as.example/tenant"
#define RES "https://mcp.example/mcp"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (kw_secmem_init() != 0)
		fuzz_fail("kw_secmem_init", __FILE__, __LINE__);
	return 0;
}

static bool bytes_in(const char *s, size_t n, unsigned char lo,
                     unsigned char hi)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < lo || (unsigned char)s[i] > hi)
			return false;
	return true;
}

/* RFC 6749 error and description bytes. */
static bool error_text(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e || *s == '"' || *s == '\\')
			return false;
	return true;
}

static bool url_or_empty(const char *s)
{
	return s[0] == '\0' || kw_oauth_url_check(s, NULL, 0) == 0;
}

/* A refusal: a documented code, a printable why, ret as it was. */
static void refused(int r, const char *why, size_t whysz, const void *ret,
                    const void *before, size_t size)
{
	FUZZ_CHECK(r == KW_EINVAL || r == KW_ETOOBIG || r == KW_ENOMEM);
	FUZZ_CHECK(memcmp(ret, before, size) == 0);
	if (why) {
		size_t n = strnlen(why, whysz);

		FUZZ_CHECK(n > 0 && n < whysz);
		FUZZ_CHECK(bytes_in(why, n, 0x20, 0x7e));
	}
}

static void secret_ok(const char *s, size_t len)
{
	FUZZ_CHECK(s != NULL && len >= 1 && len <= KW_OAUTH_TOKEN_MAX);
	FUZZ_CHECK(strlen(s) == len && bytes_in(s, len, 0x21, 0x7e));
}

static void fuzz_token(const char *s, size_t n)
{
	static kw_oauth_token t, before;
	char why[128];
	int r;

	memset(&t, 0xa5, sizeof t);
	before = t;
	r = kw_oauth_token_parse(s, n, &t, why, sizeof why);
	if (r != 0) {
		refused(r, why, sizeof why, &t, &before, sizeof t);
		return;
	}
	FUZZ_CHECK(why[0] == '\0');
	secret_ok(t.access_token, t.access_len);
	if (t.refresh_token)
		secret_ok(t.refresh_token, t.refresh_len);
	FUZZ_CHECK(t.expires_in == -1 ||
	           (t.expires_in >= 1 && t.expires_in <= KW_OAUTH_EXPIRES_MAX));
	FUZZ_CHECK(t.has_scope || t.scope[0] == '\0');
	FUZZ_CHECK(t.scope[0] == '\0' ||
	           kw_scope_list_valid(t.scope, strlen(t.scope),
	                               KW_OAUTH_SCOPE_MAX, KW_OAUTH_SCOPE_MAX));
	kw_oauth_token_clear(&t);
	FUZZ_CHECK(t.access_token == NULL && t.expires_in == -1);
}

static void fuzz_error(const char *s, size_t n)
{
	kw_oauth_error e, before;
	int r;

	memset(&e, 0xa5, sizeof e);
	before = e;
	r = kw_oauth_error_parse(s, n, &e);
	if (r != 0) {
		refused(r, NULL, 0, &e, &before, sizeof e);
		return;
	}
	FUZZ_CHECK(e.error[0] != '\0' && error_text(e.error));
	FUZZ_CHECK(strlen(e.description) <= KW_OAUTH_DESC_MAX);
	FUZZ_CHECK(error_text(e.description));
}

static int as_meta(const char *s, size_t n, const char *issuer)
{
	static kw_oauth_as_meta m, before;
	const char *const endpoints[] = {
		m.authorization_endpoint, m.device_authorization_endpoint,
		m.revocation_endpoint,    m.registration_endpoint,
		m.introspection_endpoint, m.jwks_uri,
	};
	char why[256];
	int r;

	memset(&m, 0xa5, sizeof m);
	before = m;
	r = kw_oauth_as_meta_parse(s, n, issuer, &m, why, sizeof why);
	if (r != 0) {
		refused(r, why, sizeof why, &m, &before, sizeof m);
		return r;
	}
	FUZZ_CHECK(strcmp(m.issuer, issuer) == 0);
	FUZZ_CHECK(kw_oauth_url_check(m.token_endpoint, NULL, 0) == 0);
	for (size_t i = 0; i < sizeof endpoints / sizeof endpoints[0]; i++)
		FUZZ_CHECK(url_or_empty(endpoints[i]));
	FUZZ_CHECK((m.auth_methods & ~7u) == 0 && (m.grants & ~15u) == 0);
	return 0;
}

static void fuzz_as_meta(const char *s, size_t n)
{
	int a = as_meta(s, n, ISS), b = as_meta(s, n, ISS "/");

	FUZZ_CHECK(a != 0 || b != 0);
}

static int resource_meta(const char *s, size_t n, const char *resource)
{
	static kw_oauth_resource_meta m, before;
	char why[256];
	int r;

	memset(&m, 0xa5, sizeof m);
	before = m;
	r = kw_oauth_resource_meta_parse(s, n, resource, &m, why, sizeof why);
	if (r != 0) {
		refused(r, why, sizeof why, &m, &before, sizeof m);
		return r;
	}
	FUZZ_CHECK(strcmp(m.resource, resource) == 0);
	FUZZ_CHECK(m.nservers >= 1 && m.nservers <= KW_OAUTH_SERVERS_MAX);
	for (size_t i = 0; i < m.nservers; i++) {
		FUZZ_CHECK(kw_oauth_url_check(m.authorization_servers[i], NULL,
		                              0) == 0);
		FUZZ_CHECK(!strchr(m.authorization_servers[i], '?'));
	}
	FUZZ_CHECK(m.has_scopes == (m.scopes_supported[0] != '\0'));
	FUZZ_CHECK(!m.has_scopes ||
	           kw_scope_list_valid(m.scopes_supported,
	                               strlen(m.scopes_supported),
	                               KW_OAUTH_SCOPE_MAX, KW_OAUTH_SCOPE_MAX));
	return 0;
}

static void fuzz_resource_meta(const char *s, size_t n)
{
	int a = resource_meta(s, n, RES), b = resource_meta(s, n, RES "/");

	FUZZ_CHECK(a != 0 || b != 0);
}

static void fuzz_challenge(const char *s, size_t n)
{
	kw_oauth_challenge c, before;
	int r;

	memset(&c, 0xa5, sizeof c);
	before = c;
	r = kw_oauth_challenge_parse(s, n, &c);
	if (r != 0) {
		refused(r, NULL, 0, &c, &before, sizeof c);
		return;
	}
	if (!c.bearer) {
		FUZZ_CHECK(!c.error[0] && !c.scope[0] &&
		           !c.resource_metadata[0] && !c.description[0]);
		return;
	}
	FUZZ_CHECK(error_text(c.error));
	FUZZ_CHECK(c.scope[0] == '\0' ||
	           kw_scope_list_valid(c.scope, strlen(c.scope),
	                               KW_OAUTH_SCOPE_MAX, KW_OAUTH_SCOPE_MAX));
	FUZZ_CHECK(url_or_empty(c.resource_metadata));
	FUZZ_CHECK(error_text(c.description));
}

static void fuzz_callback(const char *s, size_t n)
{
	kw_oauth_callback cb, before;
	char why[128];
	int r;

	memset(&cb, 0xa5, sizeof cb);
	before = cb;
	r = kw_oauth_callback_parse(s, n, &cb, why, sizeof why);
	if (r != 0) {
		refused(r, why, sizeof why, &cb, &before, sizeof cb);
		return;
	}
	FUZZ_CHECK((cb.code != NULL) != (cb.error[0] != '\0'));
	if (cb.code)
		secret_ok(cb.code, cb.code_len);
	FUZZ_CHECK(bytes_in(cb.state, strlen(cb.state), 0x20, 0x7e));
	FUZZ_CHECK(cb.has_iss ? kw_oauth_url_check(cb.iss, NULL, 0) == 0 :
	                        cb.iss[0] == '\0');
	FUZZ_CHECK(error_text(cb.error) && error_text(cb.description));
	kw_oauth_callback_clear(&cb);
	FUZZ_CHECK(cb.code == NULL);
}

static void fuzz_device(const char *s, size_t n)
{
	kw_oauth_device d, before;
	char why[128];
	int r;

	memset(&d, 0xa5, sizeof d);
	before = d;
	r = kw_oauth_device_parse(s, n, &d, why, sizeof why);
	if (r != 0) {
		refused(r, why, sizeof why, &d, &before, sizeof d);
		return;
	}
	secret_ok(d.device_code, d.device_code_len);
	FUZZ_CHECK(d.user_code[0] != '\0' &&
	           bytes_in(d.user_code, strlen(d.user_code), 0x20, 0x7e));
	FUZZ_CHECK(kw_oauth_url_check(d.verification_uri, NULL, 0) == 0);
	FUZZ_CHECK(url_or_empty(d.verification_uri_complete));
	FUZZ_CHECK(d.expires_in >= 1 &&
	           d.expires_in <= KW_OAUTH_DEVICE_EXPIRES_MAX);
	FUZZ_CHECK(d.interval >= 1 && d.interval <= KW_OAUTH_INTERVAL_MAX);
	kw_oauth_device_clear(&d);
	FUZZ_CHECK(d.device_code == NULL);
}

static void well_known(const char *url)
{
	static const enum kw_oauth_wellknown kinds[] = {
		KW_OAUTH_WK_OAUTH, KW_OAUTH_WK_OIDC_INSERT,
		KW_OAUTH_WK_OIDC_APPEND
	};
	enum kw_oauth_wellknown order[KW_OAUTH_WK_COUNT];
	char out[KW_OAUTH_URL_MAX + 64];
	size_t n = 0;
	int r = kw_oauth_discovery_order(url, order, &n);

	FUZZ_CHECK(strchr(url, '?') ? r == KW_EINVAL : r == 0);
	if (r != 0)
		return;
	FUZZ_CHECK(n == 2 || n == 3);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(order[i] == kinds[i]);
	for (size_t i = 0; i < KW_OAUTH_WK_COUNT; i++) {
		FUZZ_CHECK(kw_oauth_well_known(url, kinds[i], out,
		                               sizeof out) == 0);
		FUZZ_CHECK(strstr(out, "/.well-known/") != NULL);
		if (strlen(out) <= KW_OAUTH_URL_MAX)
			FUZZ_CHECK(kw_oauth_same_origin(url, out));
	}
}

static void fuzz_url(const char *s, size_t n)
{
	char *url = malloc(n + 1);
	char canon[KW_OAUTH_URL_MAX + 1], again[KW_OAUTH_URL_MAX + 1];
	char aud[JWT_AUD_MAX + 1], why[100];
	int r, rc, ra;

	FUZZ_CHECK(url != NULL);
	memcpy(url, s, n);
	url[n] = '\0';
	r = kw_oauth_url_check(url, why, sizeof why);
	rc = kw_oauth_canonical_resource(url, canon, sizeof canon);
	if (r != 0) {
		FUZZ_CHECK(why[0] != '\0' && rc != 0);
		FUZZ_CHECK(!kw_oauth_same_origin(url, url));
		FUZZ_CHECK(kw_oauth_well_known(url, KW_OAUTH_WK_OAUTH, again,
		                               sizeof again) != 0);
		free(url);
		return;
	}
	FUZZ_CHECK(why[0] == '\0' && kw_oauth_same_origin(url, url));
	ra = strlen(url) <= JWT_AUD_MAX ?
	             jwt_audience_canonical(url, aud, sizeof aud) :
	             1;
	if (rc == 0) {
		FUZZ_CHECK(strlen(canon) <= strlen(url));
		FUZZ_CHECK(kw_oauth_canonical_resource(canon, again,
		                                       sizeof again) == 0);
		FUZZ_CHECK(strcmp(canon, again) == 0);
		FUZZ_CHECK(kw_oauth_same_origin(url, canon));
		FUZZ_CHECK(ra == 1 || (ra == 0 && strcmp(canon, aud) == 0));
	} else {
		/* Only dot segments are refused here. */
		FUZZ_CHECK(rc == KW_EINVAL && ra != 0);
	}
	well_known(url);
	free(url);
}

static bool pkce_verifier(const char *s, size_t n)
{
	if (n < 43 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') ||
		      (s[i] != '\0' && strchr("-._~", s[i]))))
			return false;
	return true;
}

static void basic_decodes(const char *s, size_t n, const char *encoded)
{
	char *header = NULL, *want;
	unsigned char *bin;
	size_t bin_len = 0, want_len = strlen("client:") + strlen(encoded);
	const char *b64;

	if (kw_oauth_basic("client", s, n, &header) != 0)
		return;
	FUZZ_CHECK(strncmp(header, "Authorization: Basic ", 21) == 0);
	b64 = header + 21;
	bin = malloc(strlen(b64) + 1);
	want = malloc(want_len + 1);
	FUZZ_CHECK(bin != NULL && want != NULL);
	FUZZ_CHECK(sodium_base642bin(bin, strlen(b64) + 1, b64, strlen(b64),
	                             NULL, &bin_len, NULL,
	                             sodium_base64_VARIANT_ORIGINAL) == 0);
	memcpy(want, "client:", 7);
	memcpy(want + 7, encoded, want_len - 7);
	FUZZ_CHECK(bin_len == want_len && memcmp(bin, want, bin_len) == 0);
	free(bin);
	free(want);
	kw_wipefree(header);
}

static void fuzz_form(const char *s, size_t n)
{
	kw_form f = { 0 };
	kw_oauth_callback cb;
	char ch[KW_OAUTH_PKCE_CHALLENGE_SIZE], *query;

	FUZZ_CHECK(kw_form_add(&f, "state", s, n) == 0);
	FUZZ_CHECK(strlen(f.buf) == f.len && strncmp(f.buf, "state=", 6) == 0);
	for (size_t i = 6; i < f.len; i++)
		FUZZ_CHECK((f.buf[i] >= 'a' && f.buf[i] <= 'z') ||
		           (f.buf[i] >= 'A' && f.buf[i] <= 'Z') ||
		           (f.buf[i] >= '0' && f.buf[i] <= '9') ||
		           strchr("*-._+%", f.buf[i]));
	basic_decodes(s, n, f.buf + 6);
	if (n >= 1 && n <= KW_OAUTH_STATE_MAX && bytes_in(s, n, 0x20, 0x7e)) {
		query = malloc(f.len + 8);
		FUZZ_CHECK(query != NULL);
		memcpy(query, "code=x&", 7);
		memcpy(query + 7, f.buf, f.len + 1);
		FUZZ_CHECK(kw_oauth_callback_parse(query, strlen(query), &cb,
		                                   NULL, 0) == 0);
		FUZZ_CHECK(strlen(cb.state) == n &&
		           memcmp(cb.state, s, n) == 0);
		kw_oauth_callback_clear(&cb);
		free(query);
	}
	kw_form_free(&f);
	FUZZ_CHECK((kw_oauth_pkce_challenge(s, n, ch) == 0) ==
	           pkce_verifier(s, n));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data + 1;
	size_t n = size - 1;

	if (size == 0)
		return 0;
	switch (data[0]) {
	case 't':
		fuzz_token(s, n);
		break;
	case 'e':
		fuzz_error(s, n);
		break;
	case 'a':
		fuzz_as_meta(s, n);
		break;
	case 'r':
		fuzz_resource_meta(s, n);
		break;
	case 'w':
		fuzz_challenge(s, n);
		break;
	case 'c':
		fuzz_callback(s, n);
		break;
	case 'd':
		fuzz_device(s, n);
		break;
	case 'u':
		fuzz_url(s, n);
		break;
	case 'f':
		fuzz_form(s, n);
		break;
	default:
		break;
	}
	return 0;
}
