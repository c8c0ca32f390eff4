/*
 * oauth_doc.c - see oauth_doc.h.
 */
#include "oauth_doc.h"

#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "keyward.h"
#include "oauth.h" /* common/: kw_oauth_url_check */
#include "scope.h"
#include "secmem.h"

#define DOC_VERSION 1

static const char *const grant_names[] = {
	[OAUTH_GRANT_CLIENT_CREDENTIALS] = "client_credentials",
	[OAUTH_GRANT_AUTHORIZATION_CODE] = "authorization_code",
	[OAUTH_GRANT_DEVICE_CODE] = "device_code",
};

static const char *const auth_names[] = {
	[OAUTH_AUTH_BASIC] = "client_secret_basic",
	[OAUTH_AUTH_POST] = "client_secret_post",
	[OAUTH_AUTH_NONE] = "none",
};

static const char *const state_names[] = {
	[OAUTH_STATE_NEW] = "new",
	[OAUTH_STATE_OK] = "ok",
	[OAUTH_STATE_REAUTH] = "needs-reauth",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int word_parse(const char *const *words, size_t n, const char *s,
                      int *ret)
{
	for (size_t i = 1; s && i < n; i++) {
		if (words[i] && strcmp(words[i], s) == 0) {
			*ret = (int)i;
			return 0;
		}
	}
	return KW_EINVAL;
}

const char *oauth_grant_name(enum oauth_grant g)
{
	return g >= 1 && (size_t)g < COUNT(grant_names) ? grant_names[g] : "?";
}

const char *oauth_auth_name(enum oauth_auth a)
{
	return a >= 1 && (size_t)a < COUNT(auth_names) ? auth_names[a] : "?";
}

int oauth_grant_parse(const char *s, enum oauth_grant *ret)
{
	int v;
	int r = word_parse(grant_names, COUNT(grant_names), s, &v);
	if (r == 0)
		*ret = (enum oauth_grant)v;
	return r;
}

int oauth_auth_parse(const char *s, enum oauth_auth *ret)
{
	int v;
	int r = word_parse(auth_names, COUNT(auth_names), s, &v);
	if (r == 0)
		*ret = (enum oauth_auth)v;
	return r;
}

__attribute__((format(printf, 3, 4))) static int fail(char *why, size_t whysz,
                                                      const char *fmt, ...)
{
	va_list ap;

	if (why && whysz > 0) {
		va_start(ap, fmt);
		vsnprintf(why, whysz, fmt, ap);
		va_end(ap);
	}
	return KW_EINVAL;
}

/* A URL field: "" allowed when !required. */
static int check_url(const char *field, const char *url, bool required,
                     char *why, size_t whysz)
{
	char what[160];

	if (!url[0])
		return required ? fail(why, whysz, "%s is required", field) : 0;
	if (strnlen(url, OAUTH_URL_MAX + 1) > OAUTH_URL_MAX)
		return fail(why, whysz, "%s is longer than %u bytes", field,
		            OAUTH_URL_MAX);
	if (kw_oauth_url_check(url, what, sizeof(what)) < 0)
		return fail(why, whysz, "%s: %s", field, what);
	return 0;
}

static bool printable(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return false;
	}
	return true;
}

int oauth_doc_check(const oauth_doc *d, char *why, size_t whysz)
{
	int r;

	if (d->grant < OAUTH_GRANT_CLIENT_CREDENTIALS ||
	    d->grant > OAUTH_GRANT_DEVICE_CODE)
		return fail(why, whysz,
		            "grant must be client_credentials, "
		            "authorization_code or device_code");
	if (d->auth < OAUTH_AUTH_BASIC || d->auth > OAUTH_AUTH_NONE)
		return fail(why, whysz,
		            "auth must be client_secret_basic, "
		            "client_secret_post or none");
	if ((r = check_url("token_url", d->token_url, true, why, whysz)) < 0 ||
	    (r = check_url("authorize_url", d->authorize_url,
	                   d->grant == OAUTH_GRANT_AUTHORIZATION_CODE, why,
	                   whysz)) < 0 ||
	    (r = check_url("device_url", d->device_url,
	                   d->grant == OAUTH_GRANT_DEVICE_CODE, why, whysz)) <
	            0 ||
	    (r = check_url("revocation_url", d->revocation_url, false, why,
	                   whysz)) < 0 ||
	    (r = check_url("issuer", d->issuer, false, why, whysz)) < 0)
		return r;
	if (!printable(d->client_id, OAUTH_CLIENT_ID_MAX))
		return fail(why, whysz,
		            "client_id must be 1 to %u bytes of printable "
		            "ASCII",
		            OAUTH_CLIENT_ID_MAX);
	if (d->auth == OAUTH_AUTH_NONE && d->client_secret)
		return fail(why, whysz,
		            "auth none is for a public client, which has no "
		            "client secret");
	if (d->auth != OAUTH_AUTH_NONE && !d->client_secret)
		return fail(why, whysz,
		            "auth %s needs a client secret "
		            "(--client-secret-stdin), or use --auth none",
		            oauth_auth_name(d->auth));
	if (d->client_secret && !printable(d->client_secret, OAUTH_SECRET_MAX))
		return fail(why, whysz,
		            "the client secret must be 1 to %u bytes of "
		            "printable ASCII",
		            OAUTH_SECRET_MAX);
	if (d->grant == OAUTH_GRANT_CLIENT_CREDENTIALS &&
	    d->auth == OAUTH_AUTH_NONE)
		return fail(why, whysz,
		            "the client_credentials grant needs a "
		            "confidential client (a client secret)");
	if (d->scope[0] && !kw_scope_list_valid(d->scope, strlen(d->scope), 64,
	                                        OAUTH_SCOPE_MAX))
		return fail(why, whysz,
		            "scope must be scope tokens (RFC 6749 3.3) "
		            "separated by single spaces");
	if (d->nresources > OAUTH_RESOURCES_MAX)
		return fail(why, whysz, "at most %u resources",
		            OAUTH_RESOURCES_MAX);
	for (size_t i = 0; i < d->nresources; i++) {
		if ((r = check_url("resource", d->resources[i], true, why,
		                   whysz)) < 0)
			return r;
	}
	if (d->refresh_token && !printable(d->refresh_token, OAUTH_TOKEN_MAX))
		return fail(why, whysz, "the refresh token is malformed");
	if (d->iss_parameter && !d->issuer[0])
		return fail(why, whysz,
		            "iss_parameter needs the issuer it is compared "
		            "with");
	return 0;
}

int oauth_doc_encode(const oauth_doc *d, char **ret_json, size_t *ret_len)
{
	json_t *res = json_array();
	json_t *o = NULL;
	int r = KW_ENOMEM;

	if (!res)
		return KW_ENOMEM;
	for (size_t i = 0; i < d->nresources; i++) {
		if (json_array_append_new(res, json_string(d->resources[i])) <
		    0)
			goto out;
	}
	o = json_pack(
		"{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:O, s:b,"
		" s:b, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:s}",
		"v", DOC_VERSION, "grant", oauth_grant_name(d->grant), "auth",
		oauth_auth_name(d->auth), "token_url", d->token_url,
		"authorize_url", d->authorize_url, "device_url", d->device_url,
		"revocation_url", d->revocation_url, "issuer", d->issuer,
		"client_id", d->client_id, "scope", d->scope, "resources", res,
		"allow_private", d->allow_private, "allow_insecure",
		d->allow_insecure, "state", state_names[d->state], "inflight",
		(json_int_t)d->inflight, "created", (json_int_t)d->created,
		"last_refresh", (json_int_t)d->last_refresh, "access_expires",
		(json_int_t)d->access_expires, "refresh_expires",
		(json_int_t)d->refresh_expires, "access_version",
		(json_int_t)d->access_version, "granted_scope",
		d->granted_scope, "last_error", d->last_error);
	if (!o)
		goto out;
	if (json_object_set_new(o, "iss_parameter",
	                        json_boolean(d->iss_parameter)) < 0)
		goto out;
	if (d->client_secret &&
	    json_object_set_new(o, "client_secret",
	                        json_string(d->client_secret)) < 0)
		goto out;
	if (d->refresh_token &&
	    json_object_set_new(o, "refresh_token",
	                        json_string(d->refresh_token)) < 0)
		goto out;
	/* jansson's allocations wipe on free (kw_secmem_init). */
	char *text = json_dumps(o, JSON_COMPACT);
	if (!text)
		goto out;
	*ret_len = strlen(text);
	*ret_json = text;
	r = 0;
out:
	json_decref(o);
	json_decref(res);
	return r;
}

static int get_str(const json_t *o, const char *key, char *out, size_t outsz)
{
	const json_t *v = json_object_get(o, key);
	const char *s;
	size_t n;

	if (!json_is_string(v))
		return KW_ESTORE;
	s = json_string_value(v);
	n = json_string_length(v);
	if (n >= outsz || strlen(s) != n)
		return KW_ESTORE;
	memcpy(out, s, n + 1);
	return 0;
}

static int get_int(const json_t *o, const char *key, int64_t *ret)
{
	const json_t *v = json_object_get(o, key);
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return KW_ESTORE;
	*ret = json_integer_value(v);
	return 0;
}

static int get_secret(const json_t *o, const char *key, char **ret)
{
	const json_t *v = json_object_get(o, key);
	if (!v)
		return 0;
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) > OAUTH_TOKEN_MAX)
		return KW_ESTORE;
	*ret = kw_wipestrdup(json_string_value(v));
	return *ret ? 0 : KW_ENOMEM;
}

static int decode_fields(const json_t *o, oauth_doc *d)
{
	char word[32];
	int64_t v, version;
	int r;

	if ((r = get_int(o, "v", &version)) < 0 || version != DOC_VERSION)
		return KW_ESTORE;
	if ((r = get_str(o, "grant", word, sizeof(word))) < 0 ||
	    oauth_grant_parse(word, &d->grant) < 0)
		return KW_ESTORE;
	if ((r = get_str(o, "auth", word, sizeof(word))) < 0 ||
	    oauth_auth_parse(word, &d->auth) < 0)
		return KW_ESTORE;
	if ((r = get_str(o, "state", word, sizeof(word))) < 0 ||
	    word_parse(state_names, COUNT(state_names), word, &r) < 0)
		return KW_ESTORE;
	d->state = (enum oauth_state)r;
	if ((r = get_str(o, "token_url", d->token_url, sizeof(d->token_url))) <
	            0 ||
	    (r = get_str(o, "authorize_url", d->authorize_url,
	                 sizeof(d->authorize_url))) < 0 ||
	    (r = get_str(o, "device_url", d->device_url,
	                 sizeof(d->device_url))) < 0 ||
	    (r = get_str(o, "revocation_url", d->revocation_url,
	                 sizeof(d->revocation_url))) < 0 ||
	    (r = get_str(o, "issuer", d->issuer, sizeof(d->issuer))) < 0 ||
	    (r = get_str(o, "client_id", d->client_id, sizeof(d->client_id))) <
	            0 ||
	    (r = get_str(o, "scope", d->scope, sizeof(d->scope))) < 0 ||
	    (r = get_str(o, "granted_scope", d->granted_scope,
	                 sizeof(d->granted_scope))) < 0 ||
	    (r = get_str(o, "last_error", d->last_error,
	                 sizeof(d->last_error))) < 0)
		return r;
	if ((r = get_int(o, "inflight", &d->inflight)) < 0 ||
	    (r = get_int(o, "created", &d->created)) < 0 ||
	    (r = get_int(o, "last_refresh", &d->last_refresh)) < 0 ||
	    (r = get_int(o, "access_expires", &d->access_expires)) < 0 ||
	    (r = get_int(o, "refresh_expires", &d->refresh_expires)) < 0 ||
	    (r = get_int(o, "access_version", &v)) < 0)
		return r;
	d->access_version = (uint64_t)v;
	const json_t *p = json_object_get(o, "allow_private");
	const json_t *q = json_object_get(o, "allow_insecure");
	if (!json_is_boolean(p) || !json_is_boolean(q))
		return KW_ESTORE;
	d->allow_private = json_is_true(p);
	d->allow_insecure = json_is_true(q);
	const json_t *iss = json_object_get(o, "iss_parameter");
	if (iss && !json_is_boolean(iss))
		return KW_ESTORE;
	d->iss_parameter = json_is_true(iss);
	const json_t *res = json_object_get(o, "resources");
	if (!json_is_array(res) || json_array_size(res) > OAUTH_RESOURCES_MAX)
		return KW_ESTORE;
	for (size_t i = 0; i < json_array_size(res); i++) {
		const json_t *e = json_array_get(res, i);
		if (!json_is_string(e) ||
		    json_string_length(e) >= sizeof(d->resources[0]))
			return KW_ESTORE;
		snprintf(d->resources[i], sizeof(d->resources[i]), "%s",
		         json_string_value(e));
		d->nresources++;
	}
	if ((r = get_secret(o, "client_secret", &d->client_secret)) < 0 ||
	    (r = get_secret(o, "refresh_token", &d->refresh_token)) < 0)
		return r;
	return 0;
}

int oauth_doc_decode(const uint8_t *json, size_t len, oauth_doc *ret)
{
	json_error_t err;
	json_t *o = json_loadb((const char *)json, len, JSON_REJECT_DUPLICATES,
	                       &err);
	oauth_doc d;
	int r;

	if (!o)
		return KW_ESTORE;
	memset(&d, 0, sizeof(d));
	r = json_is_object(o) ? decode_fields(o, &d) : KW_ESTORE;
	json_decref(o);
	if (r == 0 && oauth_doc_check(&d, NULL, 0) < 0)
		r = KW_ESTORE;
	if (r < 0) {
		oauth_doc_clear(&d);
		return r;
	}
	*ret = d;
	sodium_memzero(&d, sizeof(d));
	return 0;
}

void oauth_doc_clear(oauth_doc *d)
{
	if (!d)
		return;
	kw_wipefree_str(d->client_secret);
	kw_wipefree_str(d->refresh_token);
	sodium_memzero(d, sizeof(*d));
}

int oauth_doc_set_secret(char **dst, const char *src)
{
	char *copy = NULL;

	if (src && !(copy = kw_wipestrdup(src)))
		return KW_ENOMEM;
	kw_wipefree_str(*dst);
	*dst = copy;
	return 0;
}
