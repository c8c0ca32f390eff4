/*
 * oauth_meta.c - authorization server metadata (RFC 8414, OpenID Connect
 * Discovery) and protected resource metadata (RFC 9728) (oauth.h).
 *
 * Both documents name who they are (issuer, resource) and the client must
 * refuse one that names someone else: otherwise a server that can answer
 * at one well-known location could speak for another (RFC 8414 section
 * 6.2, RFC 9728 section 7.3).
 */
#include "oauth.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "oauth_impl.h"
#include "scope.h"

struct name_bit {
	const char *name;
	unsigned bit;
};

/* The array of strings at key: *ret_bits gets the bits of the names it
 * holds (others ignored). Absent: 0 and *ret_bits = absent_bits. */
static int string_set(const json_t *obj, const char *key,
                      const struct name_bit *names, size_t nnames,
                      unsigned absent_bits, unsigned *ret_bits, char *why,
                      size_t whysz)
{
	const json_t *a = oauth_member(obj, key), *v;
	unsigned bits = 0;
	size_t i;

	if (!a) {
		*ret_bits = absent_bits;
		return 0;
	}
	if (!json_is_array(a))
		return oauth_fail(KW_EINVAL, why, whysz,
		                  "%s is not an array of strings", key);
	json_array_foreach(a, i, v)
	{
		if (!json_is_string(v))
			return oauth_fail(KW_EINVAL, why, whysz,
			                  "%s is not an array of strings", key);
		for (size_t k = 0; k < nnames; k++)
			if (strcmp(json_string_value(v), names[k].name) == 0)
				bits |= names[k].bit;
	}
	*ret_bits = bits;
	return 0;
}

/* A boolean member; absent: false. */
static int flag(const json_t *obj, const char *key, bool *ret, char *why,
                size_t whysz)
{
	const json_t *v = oauth_member(obj, key);

	if (v && !json_is_boolean(v))
		return oauth_fail(KW_EINVAL, why, whysz,
		                  "%s is not true or false", key);
	*ret = json_is_true(v);
	return 0;
}

static const struct {
	const char *key;
	size_t offset;
} as_endpoints[] = {
	{ "authorization_endpoint",
	  offsetof(kw_oauth_as_meta, authorization_endpoint) },
	{ "token_endpoint", offsetof(kw_oauth_as_meta, token_endpoint) },
	{ "device_authorization_endpoint",
	  offsetof(kw_oauth_as_meta, device_authorization_endpoint) },
	{ "revocation_endpoint",
	  offsetof(kw_oauth_as_meta, revocation_endpoint) },
	{ "registration_endpoint",
	  offsetof(kw_oauth_as_meta, registration_endpoint) },
	{ "introspection_endpoint",
	  offsetof(kw_oauth_as_meta, introspection_endpoint) },
	{ "jwks_uri", offsetof(kw_oauth_as_meta, jwks_uri) },
};

static const struct name_bit pkce_methods[] = { { "S256", 1 } };
static const struct name_bit auth_methods[] = {
	{ "client_secret_basic", KW_OAUTH_AUTH_BASIC },
	{ "client_secret_post", KW_OAUTH_AUTH_POST },
	{ "none", KW_OAUTH_AUTH_NONE },
};
static const struct name_bit grant_types[] = {
	{ "authorization_code", KW_OAUTH_GRANT_CODE },
	{ "refresh_token", KW_OAUTH_GRANT_REFRESH },
	{ "client_credentials", KW_OAUTH_GRANT_CLIENT_CREDENTIALS },
	{ "urn:ietf:params:oauth:grant-type:device_code",
	  KW_OAUTH_GRANT_DEVICE },
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int read_issuer(const json_t *obj, const char *expected,
                       kw_oauth_as_meta *m, char *why, size_t whysz)
{
	int r = oauth_json_url(obj, "issuer", m->issuer, why, whysz);

	if (r != 0)
		return r;
	if (!m->issuer[0])
		return oauth_fail(KW_EINVAL, why, whysz, "issuer is missing");
	if (strchr(m->issuer, '?'))
		return oauth_fail(KW_EINVAL, why, whysz, "issuer has a query");
	/* RFC 8414 3.3: identical, no normalisation of any kind. */
	if (strcmp(m->issuer, expected) != 0)
		return oauth_fail(KW_EINVAL, why, whysz,
		                  "issuer \"%s\" is not the expected \"%s\"",
		                  m->issuer, expected);
	return 0;
}

static int read_as_meta(const json_t *obj, const char *expected_issuer,
                        kw_oauth_as_meta *m, char *why, size_t whysz)
{
	unsigned pkce = 0;
	int r;

	r = read_issuer(obj, expected_issuer, m, why, whysz);
	for (size_t i = 0; r == 0 && i < COUNT(as_endpoints); i++)
		r = oauth_json_url(obj, as_endpoints[i].key,
		                   (char *)m + as_endpoints[i].offset, why,
		                   whysz);
	if (r != 0)
		return r;
	if (!m->token_endpoint[0])
		return oauth_fail(KW_EINVAL, why, whysz,
		                  "token_endpoint is missing");
	r = string_set(obj, "code_challenge_methods_supported", pkce_methods,
	               COUNT(pkce_methods), 0, &pkce, why, whysz);
	if (r == 0)
		r = string_set(obj, "token_endpoint_auth_methods_supported",
		               auth_methods, COUNT(auth_methods),
		               KW_OAUTH_AUTH_BASIC, &m->auth_methods, why,
		               whysz);
	if (r == 0)
		r = string_set(obj, "grant_types_supported", grant_types,
		               COUNT(grant_types), KW_OAUTH_GRANT_CODE,
		               &m->grants, why, whysz);
	if (r == 0)
		r = flag(obj, "authorization_response_iss_parameter_supported",
		         &m->iss_parameter, why, whysz);
	if (r == 0)
		r = flag(obj, "client_id_metadata_document_supported",
		         &m->client_id_metadata, why, whysz);
	m->pkce_s256 = pkce != 0;
	return r;
}

int kw_oauth_as_meta_parse(const char *body, size_t len,
                           const char *expected_issuer, kw_oauth_as_meta *ret,
                           char *why, size_t whysz)
{
	kw_oauth_as_meta m = { 0 };
	json_t *obj = NULL;
	int r;

	oauth_why_clear(why, whysz);
	if (!expected_issuer || !ret)
		return oauth_fail(KW_EINVAL, why, whysz,
		                  "no expected issuer or result");
	r = oauth_json_object(body, len, &obj, why, whysz);
	if (r != 0)
		return r;
	r = read_as_meta(obj, expected_issuer, &m, why, whysz);
	json_decref(obj);
	if (r == 0)
		*ret = m;
	return r;
}

static int read_servers(const json_t *obj, kw_oauth_resource_meta *m, char *why,
                        size_t whysz)
{
	const json_t *a = oauth_member(obj, "authorization_servers"), *v;
	char what[48];
	size_t i;
	int r;

	if (!a)
		return oauth_fail(KW_EINVAL, why, whysz,
		                  "authorization_servers is missing");
	if (!json_is_array(a))
		return oauth_fail(KW_EINVAL, why, whysz,
		                  "authorization_servers is not an array");
	if (json_array_size(a) == 0)
		return oauth_fail(KW_EINVAL, why, whysz,
		                  "authorization_servers is empty");
	if (json_array_size(a) > KW_OAUTH_SERVERS_MAX)
		return oauth_fail(KW_ETOOBIG, why, whysz,
		                  "authorization_servers has more than %u "
		                  "entries",
		                  KW_OAUTH_SERVERS_MAX);
	json_array_foreach(a, i, v)
	{
		snprintf(what, sizeof what, "authorization_servers[%zu]", i);
		r = oauth_url_value(v, what, m->authorization_servers[i], why,
		                    whysz);
		if (r != 0)
			return r;
		/* Issuer identifiers (RFC 8414 2) have no query. */
		if (strchr(m->authorization_servers[i], '?'))
			return oauth_fail(KW_EINVAL, why, whysz,
			                  "%s has a query", what);
	}
	m->nservers = json_array_size(a);
	return 0;
}

static int read_scopes(const json_t *obj, kw_oauth_resource_meta *m, char *why,
                       size_t whysz)
{
	const json_t *a = oauth_member(obj, "scopes_supported"), *v;
	size_t i, o = 0;

	if (!a)
		return 0;
	if (!json_is_array(a))
		return oauth_fail(KW_EINVAL, why, whysz,
		                  "scopes_supported is not an array");
	json_array_foreach(a, i, v)
	{
		size_t n = json_string_length(v);

		if (!json_is_string(v) ||
		    !kw_scope_token_valid(json_string_value(v), n,
		                          KW_OAUTH_SCOPE_MAX))
			return oauth_fail(
				KW_EINVAL, why, whysz,
				"scopes_supported[%zu] is not a scope "
				"token",
				i);
		if (n + (o > 0) > KW_OAUTH_SCOPE_MAX - o)
			return oauth_fail(KW_ETOOBIG, why, whysz,
			                  "scopes_supported is longer than %u "
			                  "bytes once joined",
			                  KW_OAUTH_SCOPE_MAX);
		if (o > 0)
			m->scopes_supported[o++] = ' ';
		memcpy(m->scopes_supported + o, json_string_value(v), n);
		o += n;
	}
	m->scopes_supported[o] = '\0';
	m->has_scopes = o > 0;
	return 0;
}

static int read_resource_meta(const json_t *obj, const char *expected,
                              kw_oauth_resource_meta *m, char *why,
                              size_t whysz)
{
	int r = oauth_json_url(obj, "resource", m->resource, why, whysz);

	if (r != 0)
		return r;
	if (!m->resource[0])
		return oauth_fail(KW_EINVAL, why, whysz, "resource is missing");
	/* RFC 9728 3.3: identical, byte for byte. */
	if (strcmp(m->resource, expected) != 0)
		return oauth_fail(KW_EINVAL, why, whysz,
		                  "resource \"%s\" is not the expected \"%s\"",
		                  m->resource, expected);
	r = read_servers(obj, m, why, whysz);
	if (r != 0)
		return r;
	return read_scopes(obj, m, why, whysz);
}

int kw_oauth_resource_meta_parse(const char *body, size_t len,
                                 const char *expected_resource,
                                 kw_oauth_resource_meta *ret, char *why,
                                 size_t whysz)
{
	kw_oauth_resource_meta m = { 0 };
	json_t *obj = NULL;
	int r;

	oauth_why_clear(why, whysz);
	if (!expected_resource || !ret)
		return oauth_fail(KW_EINVAL, why, whysz,
		                  "no expected resource or result");
	r = oauth_json_object(body, len, &obj, why, whysz);
	if (r != 0)
		return r;
	r = read_resource_meta(obj, expected_resource, &m, why, whysz);
	json_decref(obj);
	if (r == 0)
		*ret = m;
	return r;
}
