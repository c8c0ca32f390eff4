/*
 * jwt_claims.c - the types and sizes of claims (shared by signing and
 * verification) and the verified-claims object (see jwt.h).
 */
#include "jwt.h"

#include <string.h>

#include "jwt_int.h"
#include "keyward.h"
#include "scope.h"
#include "secmem.h"

/* The claims jwt_claims has fields for; every other one goes to extra. */
static const char *const known_claims[] = {
	"iss", "sub", "aud", "exp", "nbf", "iat", "client_id", "scope",
};

/* jwt_claims first, so that a jwt_claims * is a struct claims_impl *. */
struct claims_impl {
	jwt_claims claims;
	json_t *payload; /* owns every string the claims point to */
	const char *aud[JWT_AUD_COUNT_MAX];
	const char *scopes[JWT_SCOPES_MAX];
	char scope_buf[JWT_SCOPE_STR_MAX + 1]; /* scope, NUL-separated */
};

/*
 * A string of 1..max bytes without control characters: C0 (NUL included,
 * which jansson lets json_stringn make), DEL, and C1 (U+0080..U+009F, whose
 * UTF-8 is 0xC2 0x80..0x9F), none of which belongs in an identifier that
 * may end up in a log or on a terminal. jansson guarantees valid UTF-8.
 */
static bool text_ok(const json_t *v, size_t max)
{
	const unsigned char *s;
	size_t n;

	if (!json_is_string(v))
		return false;
	s = (const unsigned char *)json_string_value(v);
	n = json_string_length(v);
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < 0x20 || s[i] == 0x7f)
			return false;
		if (s[i] == 0xc2 && i + 1 < n && s[i + 1] >= 0x80 &&
		    s[i + 1] <= 0x9f)
			return false;
	}
	return true;
}

/* An integer NumericDate in [0, JWT_TIME_MAX]. */
static int time_claim(const json_t *payload, const char *name, bool required,
                      int64_t *ret_t, bool *ret_has)
{
	const json_t *v = json_object_get(payload, name);
	json_int_t t;

	if (!v) {
		*ret_has = false;
		*ret_t = 0;
		return required ? JWT_R_MISSING_CLAIM : JWT_R_OK;
	}
	if (!json_is_integer(v))
		return JWT_R_BAD_CLAIM;
	t = json_integer_value(v);
	if (t < 0 || t > JWT_TIME_MAX)
		return JWT_R_BAD_CLAIM;
	*ret_t = (int64_t)t;
	*ret_has = true;
	return JWT_R_OK;
}

/* A text claim; *ret_s NULL if absent and not required. */
static int text_claim(const json_t *payload, const char *name, size_t max,
                      bool required, const char **ret_s)
{
	const json_t *v = json_object_get(payload, name);

	*ret_s = NULL;
	if (!v)
		return required ? JWT_R_MISSING_CLAIM : JWT_R_OK;
	if (!text_ok(v, max))
		return JWT_R_BAD_CLAIM;
	*ret_s = json_string_value(v);
	return JWT_R_OK;
}

static int aud_claim(const json_t *payload, struct jwt_shape *s)
{
	const json_t *v = json_object_get(payload, "aud");
	size_t n;

	if (!v)
		return JWT_R_MISSING_CLAIM;
	if (json_is_string(v)) {
		n = 1;
		if (!text_ok(v, JWT_AUD_MAX))
			return JWT_R_BAD_CLAIM;
	} else if (json_is_array(v)) {
		n = json_array_size(v);
		if (n == 0 || n > JWT_AUD_COUNT_MAX)
			return JWT_R_BAD_CLAIM;
		for (size_t i = 0; i < n; i++)
			if (!text_ok(json_array_get(v, i), JWT_AUD_MAX))
				return JWT_R_BAD_CLAIM;
	} else {
		return JWT_R_BAD_CLAIM;
	}
	s->aud = v;
	s->naud = n;
	return JWT_R_OK;
}

int jwt_shape_check(const json_t *payload, struct jwt_shape *ret_shape)
{
	struct jwt_shape s;
	const char *jti;
	bool has_exp;
	int r;

	memset(&s, 0, sizeof s);
	if (!json_is_object(payload))
		return JWT_R_BAD_CLAIM;
	/* RFC 9068 section 2.2 requires sub, iat and jti besides exp, iss
	 * and aud: a server must never be handed a token without a subject
	 * (it would see "subject": null). */
	if ((r = time_claim(payload, "exp", true, &s.exp, &has_exp)) ||
	    (r = time_claim(payload, "nbf", false, &s.nbf, &s.has_nbf)) ||
	    (r = time_claim(payload, "iat", true, &s.iat, &s.has_iat)))
		return r;
	if ((r = text_claim(payload, "iss", JWT_STRING_MAX, true, &s.iss)) ||
	    (r = aud_claim(payload, &s)) ||
	    (r = text_claim(payload, "sub", JWT_STRING_MAX, true, &s.sub)) ||
	    (r = text_claim(payload, "jti", JWT_STRING_MAX, true, &jti)) ||
	    (r = text_claim(payload, "client_id", JWT_STRING_MAX, false,
	                    &s.client_id)))
		return r;
	if ((r = text_claim(payload, "scope", JWT_SCOPE_STR_MAX, false,
	                    &s.scope)))
		return r;
	if (s.scope && !kw_scope_list_valid(s.scope, strlen(s.scope),
	                                    JWT_SCOPES_MAX, JWT_SCOPE_MAX))
		return JWT_R_BAD_CLAIM;
	*ret_shape = s;
	return JWT_R_OK;
}

const char *jwt_shape_aud(const struct jwt_shape *s, size_t i)
{
	if (json_is_string(s->aud))
		return json_string_value(s->aud);
	return json_string_value(json_array_get(s->aud, i));
}

static bool is_known_claim(const char *name)
{
	for (size_t i = 0; i < sizeof known_claims / sizeof known_claims[0];
	     i++)
		if (strcmp(name, known_claims[i]) == 0)
			return true;
	return false;
}

/* Split the checked scope string into c->scopes. */
static void split_scopes(struct claims_impl *c, const char *scope)
{
	size_t n = strlen(scope), count = 0;
	char *p = c->scope_buf;

	memcpy(c->scope_buf, scope, n + 1);
	c->scopes[count++] = p;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == ' ') {
			p[i] = '\0';
			c->scopes[count++] = p + i + 1;
		}
	}
	c->claims.scopes = c->scopes;
	c->claims.nscopes = count;
}

int jwt_claims_new(json_t *payload, const struct jwt_shape *s, const jwt_key *k,
                   size_t matched, jwt_claims **ret_claims)
{
	struct claims_impl *c = kw_wipealloc(sizeof *c);
	const char *name;
	json_t *v;

	if (!c)
		return KW_ENOMEM;
	memset(c, 0, sizeof *c);
	c->claims.extra = json_object();
	if (!c->claims.extra)
		goto fail;
	json_object_foreach(payload, name, v)
	{
		if (!is_known_claim(name) &&
		    json_object_set(c->claims.extra, name, v) != 0)
			goto fail;
	}
	c->payload = json_incref(payload);
	c->claims.alg = k->alg;
	memcpy(c->claims.kid, k->kid, strlen(k->kid) + 1);
	c->claims.iss = s->iss;
	c->claims.sub = s->sub;
	c->claims.client_id = s->client_id;
	for (size_t i = 0; i < s->naud; i++)
		c->aud[i] = jwt_shape_aud(s, i);
	c->claims.aud = c->aud;
	c->claims.naud = s->naud;
	c->claims.audience = c->aud[matched];
	c->claims.scopes = c->scopes;
	if (s->scope)
		split_scopes(c, s->scope);
	c->claims.exp = s->exp;
	c->claims.iat = s->iat;
	c->claims.nbf = s->nbf;
	c->claims.has_iat = s->has_iat;
	c->claims.has_nbf = s->has_nbf;
	*ret_claims = &c->claims;
	return 0;
fail:
	jwt_claims_free(&c->claims);
	return KW_ENOMEM;
}

bool jwt_claims_has_scope(const jwt_claims *c, const char *scope)
{
	if (!c || !scope)
		return false;
	for (size_t i = 0; i < c->nscopes; i++)
		if (strcmp(c->scopes[i], scope) == 0)
			return true;
	return false;
}

void jwt_claims_free(jwt_claims *claims)
{
	struct claims_impl *c = (struct claims_impl *)claims;

	if (!c)
		return;
	json_decref(c->claims.extra);
	json_decref(c->payload);
	kw_wipefree(c);
}
