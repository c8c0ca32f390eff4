/*
 * oauth_form.c - what goes to the authorization server in forms and URLs
 * and what comes back in the redirect: form encoding, client_secret_basic,
 * the authorization request, the callback's query, PKCE and state
 * (oauth.h).
 */
#include "oauth.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "oauth_impl.h"
#include "scope.h"
#include "secmem.h"

#define B64URL sodium_base64_VARIANT_URLSAFE_NO_PADDING

_Static_assert(sodium_base64_ENCODED_LEN(32, B64URL) == KW_OAUTH_VERIFIER_SIZE,
               "a verifier is base64url of 32 bytes and a NUL");
_Static_assert(sodium_base64_ENCODED_LEN(crypto_hash_sha256_BYTES, B64URL) ==
                       KW_OAUTH_PKCE_CHALLENGE_SIZE,
               "a challenge is base64url of a SHA-256 and a NUL");
_Static_assert(KW_OAUTH_STATE_SIZE == KW_OAUTH_VERIFIER_SIZE,
               "state is made like a verifier");

static bool form_kept(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '*' || c == '-' || c == '.' ||
	       c == '_';
}

/* Encoded length of s[0..n), n at most KW_FORM_MAX (no overflow). */
static size_t form_len(const char *s, size_t n)
{
	size_t len = 0;

	for (size_t i = 0; i < n; i++)
		len += form_kept((unsigned char)s[i]) || s[i] == ' ' ? 1 : 3;
	return len;
}

static size_t form_write(char *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (form_kept(c)) {
			out[o++] = (char)c;
		} else if (c == ' ') {
			out[o++] = '+';
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	return o;
}

int kw_form_add(kw_form *f, const char *key, const char *value,
                size_t value_len)
{
	size_t klen, add, need, o;

	if (!f || !key || !key[0] || (!value && value_len > 0))
		return KW_EINVAL;
	klen = strnlen(key, KW_FORM_MAX + 1);
	if (klen > KW_FORM_MAX || value_len > KW_FORM_MAX)
		return KW_ETOOBIG;
	add = (f->len > 0) + form_len(key, klen) + 1 +
	      form_len(value, value_len);
	if (add > KW_FORM_MAX - f->len)
		return KW_ETOOBIG;
	need = f->len + add + 1;
	if (need > f->cap) {
		size_t cap = f->cap > 0 ? f->cap : 256;
		char *grown;

		while (cap < need)
			cap *= 2;
		/* A new block and a wiped old one: realloc could leave a
		 * copy of the form behind. */
		grown = kw_wipealloc(cap);
		if (!grown)
			return KW_ENOMEM;
		if (f->len > 0)
			memcpy(grown, f->buf, f->len);
		kw_wipefree(f->buf);
		f->buf = grown;
		f->cap = cap;
	}
	o = f->len;
	if (o > 0)
		f->buf[o++] = '&';
	o += form_write(f->buf + o, key, klen);
	f->buf[o++] = '=';
	o += form_write(f->buf + o, value, value_len);
	f->buf[o] = '\0';
	f->len = o;
	return 0;
}

void kw_form_free(kw_form *f)
{
	if (!f)
		return;
	kw_wipefree(f->buf);
	*f = (kw_form){ 0 };
}

int kw_oauth_basic(const char *client_id, const char *secret, size_t secret_len,
                   char **ret_header)
{
	static const char prefix[] = "Authorization: Basic ";
	size_t idlen, plain, b64;
	char *pair, *header;

	if (!client_id || !client_id[0] || (!secret && secret_len > 0) ||
	    !ret_header)
		return KW_EINVAL;
	idlen = strnlen(client_id, KW_FORM_MAX + 1);
	if (idlen > KW_FORM_MAX || secret_len > KW_FORM_MAX)
		return KW_ETOOBIG;
	plain = form_len(client_id, idlen) + 1 + form_len(secret, secret_len);
	if (plain > KW_FORM_MAX)
		return KW_ETOOBIG;
	pair = kw_wipealloc(plain);
	if (!pair)
		return KW_ENOMEM;
	b64 = sodium_base64_ENCODED_LEN(plain, sodium_base64_VARIANT_ORIGINAL);
	header = kw_wipealloc(sizeof prefix - 1 + b64);
	if (!header) {
		kw_wipefree(pair);
		return KW_ENOMEM;
	}
	idlen = form_write(pair, client_id, idlen);
	pair[idlen] = ':';
	form_write(pair + idlen + 1, secret, secret_len);
	memcpy(header, prefix, sizeof prefix - 1);
	sodium_bin2base64(header + sizeof prefix - 1, b64,
	                  (const unsigned char *)pair, plain,
	                  sodium_base64_VARIANT_ORIGINAL);
	kw_wipefree(pair);
	*ret_header = header;
	return 0;
}

static bool text_ok(const char *s, size_t max)
{
	size_t n = s ? strnlen(s, max + 1) : 0;

	return n > 0 && n <= max && oauth_bytes_in(s, n, 0x20, 0x7e);
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

/* s is exactly n characters of base64url. */
static bool b64url_ok(const char *s, size_t n)
{
	if (!s || strnlen(s, n + 1) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_')
			return false;
	return true;
}

static int authorize_args(const char *endpoint, const char *client_id,
                          const char *redirect_uri, const char *scope,
                          const char *const *resources, size_t nresources,
                          const char *state, const char *challenge)
{
	if (kw_oauth_url_check(endpoint, NULL, 0) != 0 ||
	    !text_ok(client_id, KW_OAUTH_URL_MAX) ||
	    kw_oauth_url_check(redirect_uri, NULL, 0) != 0 ||
	    !text_ok(state, KW_OAUTH_STATE_MAX) ||
	    !b64url_ok(challenge, KW_OAUTH_PKCE_CHALLENGE_SIZE - 1) ||
	    (nresources > 0 && !resources))
		return KW_EINVAL;
	if (scope) {
		size_t n = strnlen(scope, KW_OAUTH_SCOPE_MAX + 1);

		if (n > KW_OAUTH_SCOPE_MAX)
			return KW_ETOOBIG;
		if (!kw_scope_list_valid(scope, n, KW_OAUTH_SCOPE_MAX,
		                         KW_OAUTH_SCOPE_MAX))
			return KW_EINVAL;
	}
	for (size_t i = 0; i < nresources; i++)
		if (kw_oauth_url_check(resources[i], NULL, 0) != 0)
			return KW_EINVAL;
	return 0;
}

static int add(kw_form *f, const char *key, const char *value)
{
	return kw_form_add(f, key, value, strlen(value));
}

int kw_oauth_authorize_url(const char *authorize_endpoint,
                           const char *client_id, const char *redirect_uri,
                           const char *scope, const char *const *resources,
                           size_t nresources, const char *state,
                           const char *challenge, char **ret_url)
{
	kw_form f = { 0 };
	const char *sep;
	size_t elen;
	char *url;
	int r;

	if (!ret_url)
		return KW_EINVAL;
	r = authorize_args(authorize_endpoint, client_id, redirect_uri, scope,
	                   resources, nresources, state, challenge);
	if (r != 0)
		return r;
	r = add(&f, "response_type", "code");
	if (r == 0)
		r = add(&f, "client_id", client_id);
	if (r == 0)
		r = add(&f, "redirect_uri", redirect_uri);
	if (r == 0 && scope)
		r = add(&f, "scope", scope);
	for (size_t i = 0; r == 0 && i < nresources; i++)
		r = add(&f, "resource", resources[i]);
	if (r == 0)
		r = add(&f, "state", state);
	if (r == 0)
		r = add(&f, "code_challenge", challenge);
	if (r == 0)
		r = add(&f, "code_challenge_method", "S256");
	if (r != 0)
		goto out;
	elen = strlen(authorize_endpoint);
	if (!strchr(authorize_endpoint, '?'))
		sep = "?";
	else if (strchr("?&", authorize_endpoint[elen - 1]))
		sep = "";
	else
		sep = "&";
	if (f.len > KW_FORM_MAX - elen - strlen(sep)) {
		r = KW_ETOOBIG;
		goto out;
	}
	url = malloc(elen + strlen(sep) + f.len + 1);
	if (!url) {
		r = KW_ENOMEM;
		goto out;
	}
	memcpy(url, authorize_endpoint, elen);
	memcpy(url + elen, sep, strlen(sep));
	memcpy(url + elen + strlen(sep), f.buf, f.len + 1);
	*ret_url = url;
out:
	kw_form_free(&f);
	return r;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Form-decode s[0..n) into out (n bytes suffice); -1 on a bad escape. */
static int form_decode(const char *s, size_t n, char *out, size_t *ret_len)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '+') {
			out[o++] = ' ';
		} else if (s[i] == '%') {
			if (n - i < 3 || hexval(s[i + 1]) < 0 ||
			    hexval(s[i + 2]) < 0)
				return -1;
			out[o++] = (char)(hexval(s[i + 1]) * 16 +
			                  hexval(s[i + 2]));
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	*ret_len = o;
	return 0;
}

enum cb_param { CB_CODE, CB_STATE, CB_ISS, CB_ERROR, CB_DESC, CB_COUNT };
static const char *const cb_names[CB_COUNT] = {
	"code", "state", "iss", "error", "error_description",
};

/* One known parameter's decoded value v[0..n) (n > 0, no NUL) into cb. */
static int cb_store(kw_oauth_callback *cb, enum cb_param p, const char *v,
                    size_t n, char *why, size_t whysz)
{
	const char *name = cb_names[p];
	size_t max = p == CB_CODE  ? KW_OAUTH_TOKEN_MAX :
	             p == CB_STATE ? KW_OAUTH_STATE_MAX :
	             p == CB_ISS   ? KW_OAUTH_URL_MAX :
	             p == CB_ERROR ? KW_OAUTH_ERROR_MAX :
	                             (size_t)KW_OAUTH_QUERY_MAX;
	char sub[96];
	int r;

	if (n > max)
		return oauth_fail(KW_ETOOBIG, why, whysz,
		                  "%s is longer than %zu bytes", name, max);
	switch (p) {
	case CB_CODE:
		if (!oauth_bytes_in(v, n, 0x21, 0x7e))
			break;
		cb->code = kw_wipealloc(n + 1);
		if (!cb->code)
			return oauth_fail(KW_ENOMEM, why, whysz,
			                  "out of memory");
		memcpy(cb->code, v, n);
		cb->code[n] = '\0';
		cb->code_len = n;
		return 0;
	case CB_STATE:
		if (!oauth_bytes_in(v, n, 0x20, 0x7e))
			break;
		memcpy(cb->state, v, n);
		cb->state[n] = '\0';
		return 0;
	case CB_ISS:
		memcpy(cb->iss, v, n);
		cb->iss[n] = '\0';
		r = kw_oauth_url_check(cb->iss, sub, sizeof sub);
		if (r != 0)
			return oauth_fail(r, why, whysz, "iss: %s", sub);
		cb->has_iss = true;
		return 0;
	case CB_ERROR:
		if (!oauth_error_code_ok(v, n))
			break;
		memcpy(cb->error, v, n);
		cb->error[n] = '\0';
		return 0;
	case CB_DESC:
		oauth_describe(v, n, cb->description);
		return 0;
	case CB_COUNT:
		break;
	}
	return oauth_fail(KW_EINVAL, why, whysz,
	                  "%s has a byte outside its character set", name);
}

/* One name=value piece of the query, decoding into scratch. */
static int cb_piece(kw_oauth_callback *cb, bool seen[static CB_COUNT],
                    const char *s, size_t n, char *scratch, char *why,
                    size_t whysz)
{
	const char *eq = memchr(s, '=', n);
	size_t nlen = eq ? (size_t)(eq - s) : n, vlen;
	int p;

	if (form_decode(s, nlen, scratch, &vlen) != 0)
		return oauth_fail(KW_EINVAL, why, whysz,
		                  "a parameter name has a malformed %%-escape");
	for (p = 0; p < CB_COUNT; p++)
		if (strlen(cb_names[p]) == vlen &&
		    memcmp(cb_names[p], scratch, vlen) == 0)
			break;
	if (p == CB_COUNT)
		return 0;
	/* RFC 6749 3.1: a parameter without a value is as if omitted. */
	if (!eq)
		return 0;
	if (form_decode(eq + 1, n - nlen - 1, scratch, &vlen) != 0)
		return oauth_fail(KW_EINVAL, why, whysz,
		                  "%s has a malformed %%-escape", cb_names[p]);
	if (vlen == 0)
		return 0;
	if (seen[p])
		return oauth_fail(KW_EINVAL, why, whysz, "%s is given twice",
		                  cb_names[p]);
	seen[p] = true;
	if (memchr(scratch, '\0', vlen))
		return oauth_fail(KW_EINVAL, why, whysz, "%s has a NUL byte",
		                  cb_names[p]);
	return cb_store(cb, (enum cb_param)p, scratch, vlen, why, whysz);
}

static int cb_parse(const char *query, size_t len, kw_oauth_callback *cb,
                    char *scratch, char *why, size_t whysz)
{
	bool seen[CB_COUNT] = { false };
	size_t i = 0;
	int r;

	while (i < len) {
		const char *amp = memchr(query + i, '&', len - i);
		size_t end = amp ? (size_t)(amp - query) : len;

		if (end > i) {
			r = cb_piece(cb, seen, query + i, end - i, scratch, why,
			             whysz);
			if (r != 0)
				return r;
		}
		i = end + 1;
	}
	if (!cb->code && !cb->error[0])
		return oauth_fail(KW_EINVAL, why, whysz,
		                  "neither code nor error is given");
	if (cb->code && cb->error[0])
		return oauth_fail(KW_EINVAL, why, whysz,
		                  "both code and error are given");
	return 0;
}

int kw_oauth_callback_parse(const char *query, size_t len,
                            kw_oauth_callback *ret, char *why, size_t whysz)
{
	kw_oauth_callback cb = { 0 };
	char *scratch;
	int r;

	oauth_why_clear(why, whysz);
	if (!ret || (!query && len > 0))
		return oauth_fail(KW_EINVAL, why, whysz, "no query or result");
	if (len > KW_OAUTH_QUERY_MAX)
		return oauth_fail(KW_ETOOBIG, why, whysz,
		                  "the query is longer than %u bytes",
		                  KW_OAUTH_QUERY_MAX);
	if (!oauth_bytes_in(query, len, 0x21, 0x7e))
		return oauth_fail(KW_EINVAL, why, whysz,
		                  "the query has a byte outside printable "
		                  "ASCII");
	/* Decoded values are never longer than the query; the code is a
	 * secret, so the scratch is wiped. */
	scratch = kw_wipealloc(len + 1);
	if (!scratch)
		return oauth_fail(KW_ENOMEM, why, whysz, "out of memory");
	r = cb_parse(query, len, &cb, scratch, why, whysz);
	kw_wipefree(scratch);
	if (r != 0) {
		kw_oauth_callback_clear(&cb);
		return r;
	}
	*ret = cb;
	return 0;
}

void kw_oauth_callback_clear(kw_oauth_callback *cb)
{
	if (!cb)
		return;
	kw_wipefree(cb->code);
	*cb = (kw_oauth_callback){ 0 };
}

static void b64url(const unsigned char *bin, size_t n, char *out, size_t outsz)
{
	sodium_bin2base64(out, outsz, bin, n, B64URL);
}

int kw_oauth_pkce_challenge(
	const char *verifier, size_t len,
	char ret_challenge[static KW_OAUTH_PKCE_CHALLENGE_SIZE])
{
	unsigned char hash[crypto_hash_sha256_BYTES];

	if (!verifier || len < 43 || len > 128)
		return KW_EINVAL;
	/* RFC 7636 4.1: unreserved characters only. */
	for (size_t i = 0; i < len; i++)
		if (!is_alnum(verifier[i]) &&
		    (verifier[i] == '\0' || !strchr("-._~", verifier[i])))
			return KW_EINVAL;
	crypto_hash_sha256(hash, (const unsigned char *)verifier, len);
	b64url(hash, sizeof hash, ret_challenge, KW_OAUTH_PKCE_CHALLENGE_SIZE);
	return 0;
}

int kw_oauth_pkce(char ret_verifier[static KW_OAUTH_VERIFIER_SIZE],
                  char ret_challenge[static KW_OAUTH_PKCE_CHALLENGE_SIZE])
{
	unsigned char raw[32];
	char verifier[KW_OAUTH_VERIFIER_SIZE];
	char challenge[KW_OAUTH_PKCE_CHALLENGE_SIZE];
	int r;

	randombytes_buf(raw, sizeof raw);
	b64url(raw, sizeof raw, verifier, sizeof verifier);
	sodium_memzero(raw, sizeof raw);
	r = kw_oauth_pkce_challenge(verifier, sizeof verifier - 1, challenge);
	if (r == 0) {
		memcpy(ret_verifier, verifier, sizeof verifier);
		memcpy(ret_challenge, challenge, sizeof challenge);
	}
	sodium_memzero(verifier, sizeof verifier);
	return r;
}

int kw_oauth_random_state(char ret[static KW_OAUTH_STATE_SIZE])
{
	unsigned char raw[32];

	randombytes_buf(raw, sizeof raw);
	b64url(raw, sizeof raw, ret, KW_OAUTH_STATE_SIZE);
	sodium_memzero(raw, sizeof raw);
	return 0;
}
