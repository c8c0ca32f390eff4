/*
 * oauth.c - token endpoint and device authorization responses, and the
 * helpers the other oauth*.c files share (oauth.h, oauth_impl.h).
 */
#include "oauth.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "oauth_impl.h"
#include "scope.h"
#include "secmem.h"

void oauth_why_clear(char *why, size_t whysz)
{
	if (why && whysz > 0)
		why[0] = '\0';
}

int oauth_fail(int err, char *why, size_t whysz, const char *fmt, ...)
{
	va_list ap;

	if (why && whysz > 0) {
		va_start(ap, fmt);
		vsnprintf(why, whysz, fmt, ap);
		va_end(ap);
	}
	return err;
}

bool oauth_error_char(unsigned char c)
{
	return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\';
}

bool oauth_error_code_ok(const char *s, size_t n)
{
	if (n == 0 || n > KW_OAUTH_ERROR_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!oauth_error_char((unsigned char)s[i]))
			return false;
	return true;
}

void oauth_describe(const char *s, size_t n,
                    char out[static KW_OAUTH_DESC_MAX + 1])
{
	bool in_sequence = false;
	size_t o = 0;

	for (size_t i = 0; i < n && o < KW_OAUTH_DESC_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		/* The rest of a UTF-8 sequence whose lead byte gave a '?'. */
		if (c >= 0x80 && c < 0xc0 && in_sequence)
			continue;
		in_sequence = c >= 0xc0;
		out[o++] = oauth_error_char(c) ? (char)c : '?';
	}
	out[o] = '\0';
}

bool oauth_bytes_in(const char *s, size_t n, unsigned char lo, unsigned char hi)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < lo || (unsigned char)s[i] > hi)
			return false;
	return true;
}

int oauth_json_object(const char *body, size_t len, json_t **ret_obj, char *why,
                      size_t whysz)
{
	json_error_t err;
	json_t *j;

	if (!body && len > 0)
		return oauth_fail(KW_EINVAL, why, whysz, "no document");
	if (len > KW_OAUTH_JSON_MAX)
		return oauth_fail(KW_ETOOBIG, why, whysz,
		                  "the document is larger than %u bytes",
		                  KW_OAUTH_JSON_MAX);
	/* jansson's error text quotes the input, which may be a token: only
	 * its position goes into why, and the text is wiped. */
	j = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &err);
	if (!j) {
		enum json_error_code code = json_error_code(&err);
		int line = err.line, column = err.column;

		sodium_memzero(&err, sizeof err);
		if (code == json_error_out_of_memory)
			return oauth_fail(KW_ENOMEM, why, whysz,
			                  "out of memory");
		if (code == json_error_duplicate_key)
			return oauth_fail(KW_EINVAL, why, whysz,
			                  "a member appears twice (line %d)",
			                  line);
		return oauth_fail(KW_EINVAL, why, whysz,
		                  "not valid JSON (line %d, column %d)", line,
		                  column);
	}
	if (!json_is_object(j)) {
		json_decref(j);
		return oauth_fail(KW_EINVAL, why, whysz,
		                  "the document is not a JSON object");
	}
	*ret_obj = j;
	return 0;
}

json_t *oauth_member(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_null(v) ? NULL : v;
}

int oauth_json_secret(const json_t *obj, const char *key, char **ret,
                      size_t *ret_len, char *why, size_t whysz)
{
	const json_t *v = oauth_member(obj, key);
	const char *s;
	char *copy;
	size_t n;

	if (!v) {
		*ret = NULL;
		*ret_len = 0;
		return 0;
	}
	if (!json_is_string(v))
		return oauth_fail(KW_EINVAL, why, whysz, "%s is not a string",
		                  key);
	s = json_string_value(v);
	n = json_string_length(v);
	if (n == 0)
		return oauth_fail(KW_EINVAL, why, whysz, "%s is empty", key);
	if (n > KW_OAUTH_TOKEN_MAX)
		return oauth_fail(KW_ETOOBIG, why, whysz,
		                  "%s is longer than %u bytes", key,
		                  KW_OAUTH_TOKEN_MAX);
	if (!oauth_bytes_in(s, n, 0x21, 0x7e))
		return oauth_fail(KW_EINVAL, why, whysz,
		                  "%s has a byte outside printable ASCII", key);
	copy = kw_wipealloc(n + 1);
	if (!copy)
		return oauth_fail(KW_ENOMEM, why, whysz, "out of memory");
	memcpy(copy, s, n);
	copy[n] = '\0';
	*ret = copy;
	*ret_len = n;
	return 0;
}

int oauth_json_text(const json_t *obj, const char *key, size_t max,
                    unsigned char lo, unsigned char hi, char *out,
                    bool *ret_present, char *why, size_t whysz)
{
	const json_t *v = oauth_member(obj, key);
	size_t n;

	if (!v) {
		*ret_present = false;
		return 0;
	}
	if (!json_is_string(v))
		return oauth_fail(KW_EINVAL, why, whysz, "%s is not a string",
		                  key);
	n = json_string_length(v);
	if (n == 0)
		return oauth_fail(KW_EINVAL, why, whysz, "%s is empty", key);
	if (n > max)
		return oauth_fail(KW_ETOOBIG, why, whysz,
		                  "%s is longer than %zu bytes", key, max);
	if (!oauth_bytes_in(json_string_value(v), n, lo, hi))
		return oauth_fail(KW_EINVAL, why, whysz,
		                  "%s has a byte outside printable ASCII", key);
	memcpy(out, json_string_value(v), n);
	out[n] = '\0';
	*ret_present = true;
	return 0;
}

int oauth_url_value(const json_t *v, const char *what,
                    char out[static KW_OAUTH_URL_MAX + 1], char *why,
                    size_t whysz)
{
	char sub[96];
	size_t n;
	int r;

	if (!json_is_string(v))
		return oauth_fail(KW_EINVAL, why, whysz, "%s is not a string",
		                  what);
	n = json_string_length(v);
	if (n > KW_OAUTH_URL_MAX)
		return oauth_fail(KW_ETOOBIG, why, whysz,
		                  "%s is longer than %u bytes", what,
		                  KW_OAUTH_URL_MAX);
	r = kw_oauth_url_check(json_string_value(v), sub, sizeof sub);
	if (r != 0)
		return oauth_fail(r, why, whysz, "%s: %s", what, sub);
	memcpy(out, json_string_value(v), n + 1);
	return 0;
}

int oauth_json_url(const json_t *obj, const char *key,
                   char out[static KW_OAUTH_URL_MAX + 1], char *why,
                   size_t whysz)
{
	const json_t *v = oauth_member(obj, key);

	if (!v) {
		out[0] = '\0';
		return 0;
	}
	return oauth_url_value(v, key, out, why, whysz);
}

int oauth_json_seconds(const json_t *obj, const char *key, int64_t min,
                       int64_t max, int64_t *ret_value, char *why, size_t whysz)
{
	const json_t *v = oauth_member(obj, key);
	int64_t value = 0;

	if (!v)
		return 0;
	if (json_is_integer(v)) {
		value = json_integer_value(v);
	} else if (json_is_string(v) && json_string_length(v) >= 1 &&
	           json_string_length(v) <= 10 &&
	           oauth_bytes_in(json_string_value(v), json_string_length(v),
	                          '0', '9')) {
		/* At most 10 digits: no overflow. */
		for (const char *s = json_string_value(v); *s; s++)
			value = value * 10 + (*s - '0');
	} else {
		return oauth_fail(KW_EINVAL, why, whysz, "%s is not an integer",
		                  key);
	}
	if (value < min || value > max)
		return oauth_fail(KW_EINVAL, why, whysz,
		                  "%s must be %lld to %lld seconds", key,
		                  (long long)min, (long long)max);
	*ret_value = value;
	return 0;
}

/* RFC 6750 bearer tokens only: a DPoP-bound or MAC token sent as a bearer
 * token would fail, and its key is not something we hold. */
static int check_token_type(const json_t *obj, char *why, size_t whysz)
{
	const json_t *v = oauth_member(obj, "token_type");
	const char *s;
	size_t n;

	if (!v)
		return oauth_fail(KW_EINVAL, why, whysz,
		                  "token_type is missing");
	if (!json_is_string(v))
		return oauth_fail(KW_EINVAL, why, whysz,
		                  "token_type is not a string");
	s = json_string_value(v);
	n = json_string_length(v);
	if (n == 6 && strncasecmp(s, "Bearer", 6) == 0)
		return 0;
	if (n <= 32 && oauth_bytes_in(s, n, 0x21, 0x7e) && !strchr(s, '"'))
		return oauth_fail(KW_EINVAL, why, whysz,
		                  "token_type must be Bearer, not \"%s\"", s);
	return oauth_fail(KW_EINVAL, why, whysz, "token_type must be Bearer");
}

static int read_scope(const json_t *obj, kw_oauth_token *t, char *why,
                      size_t whysz)
{
	const json_t *v = oauth_member(obj, "scope");
	const char *s;
	size_t n;

	if (!v)
		return 0;
	if (!json_is_string(v))
		return oauth_fail(KW_EINVAL, why, whysz,
		                  "scope is not a string");
	s = json_string_value(v);
	n = json_string_length(v);
	if (n > KW_OAUTH_SCOPE_MAX)
		return oauth_fail(KW_ETOOBIG, why, whysz,
		                  "scope is longer than %u bytes",
		                  KW_OAUTH_SCOPE_MAX);
	if (n > 0 &&
	    !kw_scope_list_valid(s, n, KW_OAUTH_SCOPE_MAX, KW_OAUTH_SCOPE_MAX))
		return oauth_fail(KW_EINVAL, why, whysz,
		                  "scope is not scope tokens separated by "
		                  "single spaces");
	memcpy(t->scope, s, n + 1);
	t->has_scope = true;
	return 0;
}

/* A token response without access_token: say which error it carries. */
static int missing_token(const json_t *obj, char *why, size_t whysz)
{
	const json_t *e = oauth_member(obj, "error");

	if (json_is_string(e) &&
	    oauth_error_code_ok(json_string_value(e), json_string_length(e)))
		return oauth_fail(KW_EINVAL, why, whysz,
		                  "no access_token: the server answered "
		                  "error \"%s\"",
		                  json_string_value(e));
	return oauth_fail(KW_EINVAL, why, whysz, "access_token is missing");
}

int kw_oauth_token_parse(const char *body, size_t len, kw_oauth_token *ret,
                         char *why, size_t whysz)
{
	kw_oauth_token t = { .expires_in = -1 };
	json_t *obj = NULL;
	int r;

	oauth_why_clear(why, whysz);
	if (!ret)
		return oauth_fail(KW_EINVAL, why, whysz, "no result");
	r = oauth_json_object(body, len, &obj, why, whysz);
	if (r != 0)
		return r;
	r = oauth_json_secret(obj, "access_token", &t.access_token,
	                      &t.access_len, why, whysz);
	if (r == 0 && !t.access_token)
		r = missing_token(obj, why, whysz);
	if (r == 0)
		r = check_token_type(obj, why, whysz);
	if (r == 0)
		r = oauth_json_secret(obj, "refresh_token", &t.refresh_token,
		                      &t.refresh_len, why, whysz);
	if (r == 0)
		r = oauth_json_seconds(obj, "expires_in", 1,
		                       KW_OAUTH_EXPIRES_MAX, &t.expires_in, why,
		                       whysz);
	if (r == 0)
		r = read_scope(obj, &t, why, whysz);
	json_decref(obj);
	if (r != 0) {
		kw_oauth_token_clear(&t);
		return r;
	}
	*ret = t;
	return 0;
}

void kw_oauth_token_clear(kw_oauth_token *t)
{
	if (!t)
		return;
	kw_wipefree(t->access_token);
	kw_wipefree(t->refresh_token);
	*t = (kw_oauth_token){ .expires_in = -1 };
}

int kw_oauth_error_parse(const char *body, size_t len, kw_oauth_error *ret)
{
	const json_t *e, *d;
	json_t *obj = NULL;
	kw_oauth_error out = { 0 };
	size_t n;
	int r;

	if (!ret)
		return KW_EINVAL;
	r = oauth_json_object(body, len, &obj, NULL, 0);
	if (r != 0)
		return r;
	e = oauth_member(obj, "error");
	n = json_is_string(e) ? json_string_length(e) : 0;
	if (n == 0)
		r = KW_EINVAL;
	else if (n > KW_OAUTH_ERROR_MAX)
		r = KW_ETOOBIG;
	else if (!oauth_error_code_ok(json_string_value(e), n))
		r = KW_EINVAL;
	if (r != 0) {
		json_decref(obj);
		return r;
	}
	memcpy(out.error, json_string_value(e), n + 1);
	/* Only ever shown: a description of the wrong type is dropped
	 * rather than costing the user the error code. */
	d = oauth_member(obj, "error_description");
	if (json_is_string(d))
		oauth_describe(json_string_value(d), json_string_length(d),
		               out.description);
	json_decref(obj);
	*ret = out;
	return 0;
}

static int read_device(const json_t *obj, kw_oauth_device *d, char *why,
                       size_t whysz)
{
	bool present;
	int r;

	r = oauth_json_secret(obj, "device_code", &d->device_code,
	                      &d->device_code_len, why, whysz);
	if (r != 0)
		return r;
	if (!d->device_code)
		return oauth_fail(KW_EINVAL, why, whysz,
		                  "device_code is missing");
	r = oauth_json_text(obj, "user_code", KW_OAUTH_USER_CODE_MAX, 0x20,
	                    0x7e, d->user_code, &present, why, whysz);
	if (r != 0)
		return r;
	if (!present)
		return oauth_fail(KW_EINVAL, why, whysz,
		                  "user_code is missing");
	r = oauth_json_url(obj, "verification_uri", d->verification_uri, why,
	                   whysz);
	if (r == 0 && !d->verification_uri[0])
		r = oauth_json_url(obj, "verification_url", d->verification_uri,
		                   why, whysz);
	if (r != 0)
		return r;
	if (!d->verification_uri[0])
		return oauth_fail(KW_EINVAL, why, whysz,
		                  "verification_uri is missing");
	r = oauth_json_url(obj, "verification_uri_complete",
	                   d->verification_uri_complete, why, whysz);
	if (r != 0)
		return r;
	d->expires_in = 0;
	r = oauth_json_seconds(obj, "expires_in", 1,
	                       KW_OAUTH_DEVICE_EXPIRES_MAX, &d->expires_in, why,
	                       whysz);
	if (r != 0)
		return r;
	if (d->expires_in == 0)
		return oauth_fail(KW_EINVAL, why, whysz,
		                  "expires_in is missing");
	d->interval = 5;
	return oauth_json_seconds(obj, "interval", 1, KW_OAUTH_INTERVAL_MAX,
	                          &d->interval, why, whysz);
}

int kw_oauth_device_parse(const char *body, size_t len, kw_oauth_device *ret,
                          char *why, size_t whysz)
{
	kw_oauth_device d = { 0 };
	json_t *obj = NULL;
	int r;

	oauth_why_clear(why, whysz);
	if (!ret)
		return oauth_fail(KW_EINVAL, why, whysz, "no result");
	r = oauth_json_object(body, len, &obj, why, whysz);
	if (r != 0)
		return r;
	r = read_device(obj, &d, why, whysz);
	json_decref(obj);
	if (r != 0) {
		kw_oauth_device_clear(&d);
		return r;
	}
	*ret = d;
	return 0;
}

void kw_oauth_device_clear(kw_oauth_device *d)
{
	if (!d)
		return;
	kw_wipefree(d->device_code);
	*d = (kw_oauth_device){ 0 };
}
