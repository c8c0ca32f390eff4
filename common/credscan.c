/*
 * credscan.c - the credential rules of credscan.h.
 *
 * The rules lean towards reporting: a missed token stays in plaintext,
 * while a false hit costs the user one look. The exceptions below are the
 * settings MCP configs really hold next to credentials (PATH, MAX_TOKENS,
 * KEYBOARD_LAYOUT, model names, UUIDs, URLs and file paths).
 */
#include <math.h>
#include <sodium.h>
#include <string.h>
#include <strings.h>

#include "credscan.h"

/* The key of kw_cred_fingerprint: fixed and public on purpose (see the
 * header); it only separates these fingerprints from other BLAKE2b uses. */
static const char fp_key[] = "keyward mcp scan fingerprint v1";

struct prefix_rule {
	const char *prefix;
	size_t min_rest; /* token bytes that must follow */
};

/* Token prefixes of the services MCP servers talk to. Longer prefixes of
 * the same start come first only for readability: any match counts. */
static const struct prefix_rule prefixes[] = {
	{ "ghp_", 20 },     { "gho_", 20 },     { "ghu_", 20 },
	{ "ghs_", 20 },     { "ghr_", 20 },     { "github_pat_", 20 },
	{ "sk-ant-", 20 },  { "sk-proj-", 20 }, { "sk-", 20 },
	{ "sk_live_", 16 }, { "sk_test_", 16 }, { "rk_live_", 16 },
	{ "xoxb-", 10 },    { "xoxp-", 10 },    { "xoxa-", 10 },
	{ "xapp-", 10 },    { "glpat-", 16 },   { "AIza", 30 },
	{ "npm_", 30 },     { "pypi-", 30 },    { "hf_", 20 },
	{ "SG.", 20 },      { "sq0atp-", 16 },  { "sq0csp-", 16 },
	{ "shpat_", 16 },   { "shpss_", 16 },   { "dop_v1_", 32 },
	{ "lin_api_", 20 }, { "ntn_", 20 },     { "secret_", 20 },
	{ "Bearer ", 8 },   { "Basic ", 8 },    { "Token ", 8 },
};

static bool is_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

static bool is_lower(char c)
{
	return c >= 'a' && c <= 'z';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alnum(char c)
{
	return is_upper(c) || is_lower(c) || is_digit(c);
}

static bool is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A byte of a token as services print them: base64, base64url, hex and
 * the separators their formats use. */
static bool is_token_byte(char c)
{
	return is_alnum(c) || c == '+' || c == '/' || c == '=' || c == '_' ||
	       c == '-' || c == '.';
}

static bool all_token_bytes(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!is_token_byte(s[i]))
			return false;
	return true;
}

static bool starts_with(const char *s, size_t len, const char *p)
{
	size_t n = strlen(p);
	return len >= n && memcmp(s, p, n) == 0;
}

/* [A-Za-z_][A-Za-z0-9_]* of exactly len bytes (len > 0). */
static bool is_var_name(const char *s, size_t len)
{
	if (len == 0 || is_digit(s[0]))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_alnum(s[i]) && s[i] != '_')
			return false;
	return true;
}

/* ${...} with no '}' inside, or $VAR, or keyward://..., all of s. */
static bool is_single_reference(const char *s, size_t len)
{
	if (starts_with(s, len, "keyward://"))
		return len > 10;
	if (len >= 4 && s[0] == '$' && s[1] == '{' && s[len - 1] == '}') {
		return memchr(s + 2, '}', len - 3) == NULL &&
		       memchr(s + 2, '{', len - 3) == NULL;
	}
	return len >= 2 && s[0] == '$' && is_var_name(s + 1, len - 1);
}

/* Length of an HTTP auth scheme and its blank at the start of s, or 0. */
static size_t auth_scheme_len(const char *s, size_t len)
{
	static const char *const schemes[] = { "Bearer ", "Basic ", "Token " };
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (len > strlen(schemes[i]) &&
		    strncasecmp(s, schemes[i], strlen(schemes[i])) == 0)
			return strlen(schemes[i]);
	return 0;
}

bool kw_cred_is_reference(const char *value, size_t len)
{
	size_t skip = auth_scheme_len(value, len);
	return is_single_reference(value + skip, len - skip);
}

/* The rule for AKIA/ASIA: exactly 16 upper-case letters or digits. */
static bool is_aws_key_id(const char *s, size_t len)
{
	if (len != 20 ||
	    !(starts_with(s, len, "AKIA") || starts_with(s, len, "ASIA")))
		return false;
	for (size_t i = 4; i < len; i++)
		if (!is_upper(s[i]) && !is_digit(s[i]))
			return false;
	return true;
}

static bool is_pem_private_key(const char *s, size_t len)
{
	static const char tag[] = "PRIVATE KEY-----";
	if (!starts_with(s, len, "-----BEGIN "))
		return false;
	for (size_t i = 11; i + sizeof(tag) - 1 <= len && i < 64; i++)
		if (memcmp(s + i, tag, sizeof(tag) - 1) == 0)
			return true;
	return false;
}

/* Bytes of the known prefix value starts with (0 for none). */
static size_t known_prefix_len(const char *s, size_t len)
{
	if (is_aws_key_id(s, len))
		return 4;
	if (is_pem_private_key(s, len))
		return 11;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t n = strlen(prefixes[i].prefix);
		if (starts_with(s, len, prefixes[i].prefix) &&
		    len - n >= prefixes[i].min_rest &&
		    all_token_bytes(s + n, len - n))
			return n;
	}
	return 0;
}

/* scheme://user:password@host..., with a non-empty password. */
static bool is_url_with_password(const char *s, size_t len)
{
	const char *sep = memmem(s, len, "://", 3);
	if (!sep || sep == s)
		return false;
	for (const char *p = s; p < sep; p++)
		if (!is_alnum(*p) && *p != '+' && *p != '-' && *p != '.')
			return false;
	const char *auth = sep + 3, *end = s + len;
	const char *stop = auth;
	while (stop < end && *stop != '/' && *stop != '?' && *stop != '#')
		stop++;
	const char *at = NULL;
	for (const char *p = auth; p < stop; p++)
		if (*p == '@')
			at = p;
	if (!at)
		return false;
	const char *colon = memchr(auth, ':', (size_t)(at - auth));
	return colon && colon + 1 < at;
}

/* Is part (upper-cased, n bytes) a credential word? */
static bool part_is_credential(const char *p, size_t n)
{
	static const char *const inside[] = { "SECRET", "PASSWORD", "PASSWD",
		                              "PASSPHRASE", "CREDENTIAL" };
	static const char *const exact[] = {
		"PAT", "PASS", "AUTH", "OAUTH", "AUTHORIZATION", "COOKIE"
	};
	for (size_t i = 0; i < sizeof(inside) / sizeof(inside[0]); i++)
		if (memmem(p, n, inside[i], strlen(inside[i])))
			return true;
	for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
		if (n == strlen(exact[i]) && memcmp(p, exact[i], n) == 0)
			return true;
	/* TOKEN, AUTHTOKEN, APIKEY, ACCESSKEY: but not TOKENS, KEYBOARD. */
	return (n >= 5 && memcmp(p + n - 5, "TOKEN", 5) == 0) ||
	       (n >= 3 && memcmp(p + n - 3, "KEY", 3) == 0);
}

/* A last part that makes the name describe a credential's setting, not
 * hold it: TOKEN_URL, KEY_FILE, SECRET_PATH, TOKEN_TTL. */
static bool part_is_metadata(const char *p, size_t n)
{
	static const char *const words[] = {
		"URL",  "URI",    "FILE",     "PATH",     "DIR",     "TTL",
		"TYPE", "NAME",   "ENDPOINT", "HOST",     "PORT",    "LIMIT",
		"SIZE", "LENGTH", "VERSION",  "ENABLED",  "TIMEOUT", "EXPIRY",
		"MODE", "HEADER", "ISSUER",   "AUDIENCE", "SCOPE",   "SCOPES",
	};
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (n == strlen(words[i]) && memcmp(p, words[i], n) == 0)
			return true;
	return false;
}

/* Parts of a name longer than this are not looked into. */
#define PART_MAX 64

/*
 * Split name into parts at bytes that are not letters or digits and where
 * a lower-case letter is followed by an upper-case one (apiKey), upper-case
 * each, and judge: some part is a credential word, no part is PUBLIC (a
 * public key is no secret), and the last part is not a setting's word
 * unless it is the credential word itself.
 */
bool kw_cred_name_matches(const char *name)
{
	char part[PART_MAX];
	size_t n = 0;
	bool hit = false, last_hit = false, last_meta = false;

	for (size_t i = 0;; i++) {
		char c = name[i];
		bool boundary = !is_alnum(c) ||
		                (i > 0 && is_lower(name[i - 1]) && is_upper(c));
		if (boundary && n > 0) {
			size_t len = n > PART_MAX ? PART_MAX : n;
			if ((len == 6 && memcmp(part, "PUBLIC", 6) == 0) ||
			    (len == 11 && memcmp(part, "PUBLISHABLE", 11) == 0))
				return false;
			last_hit = part_is_credential(part, len);
			last_meta = part_is_metadata(part, len);
			hit = hit || last_hit;
			n = 0;
		}
		if (c == '\0')
			break;
		if (is_alnum(c)) {
			if (n < PART_MAX)
				part[n] = is_lower(c) ? (char)(c - 32) : c;
			n++;
		}
	}
	return hit && (last_hit || !last_meta);
}

/* Values a credential name may hold that are not credentials. */
static bool is_setting_value(const char *s, size_t len)
{
	static const char *const words[] = { "true", "false", "yes",  "no",
		                             "on",   "off",   "null", "none" };
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (len == strlen(words[i]) &&
		    strncasecmp(s, words[i], len) == 0)
			return true;
	if (memmem(s, len, "://", 3))
		return true; /* a URL: one with a password was caught before */
	return (len > 0 && s[0] == '/') || starts_with(s, len, "~/") ||
	       starts_with(s, len, "./") || starts_with(s, len, "../");
}

double kw_cred_entropy(const char *value, size_t len)
{
	size_t count[256] = { 0 };
	double h = 0.0;

	if (len == 0)
		return 0.0;
	for (size_t i = 0; i < len; i++)
		count[(unsigned char)value[i]]++;
	for (size_t i = 0; i < 256; i++) {
		if (count[i] == 0)
			continue;
		double p = (double)count[i] / (double)len;
		h -= p * log2(p);
	}
	return h;
}

/* 8-4-4-4-12 hex digits: an identifier far more often than a secret (a
 * secret UUID sits under a name like API_KEY and is found by name). */
static bool is_uuid(const char *s, size_t len)
{
	if (len != 36)
		return false;
	for (size_t i = 0; i < len; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? s[i] != '-' : !is_hex(s[i]))
			return false;
	}
	return true;
}

/* Entropy rule bounds: random base64 of 20 bytes or more reaches 0.75 of
 * the most its length allows (log2 of min(len, 64)) practically always. */
#define ENTROPY_MIN_LEN     20u
#define ENTROPY_MAX_LEN     4096u
#define ENTROPY_HEX_MIN_LEN 32u
#define ENTROPY_FACTOR      0.75

/*
 * A long random-looking token: only token bytes, not a UUID, and either
 * hex (at least 32 digits, letters and digits both) or mixed (upper- and
 * lower-case letters and digits all present, which model names, words and
 * dates lack), with entropy near the maximum for its length.
 */
static bool looks_random(const char *s, size_t len)
{
	bool upper = false, lower = false, digit = false, hex = true;

	if (len < ENTROPY_MIN_LEN || len > ENTROPY_MAX_LEN ||
	    !all_token_bytes(s, len) || is_uuid(s, len))
		return false;
	for (size_t i = 0; i < len; i++) {
		upper = upper || is_upper(s[i]);
		lower = lower || is_lower(s[i]);
		digit = digit || is_digit(s[i]);
		hex = hex && is_hex(s[i]);
	}
	double h = kw_cred_entropy(s, len);
	if (hex && !(upper && lower))
		return len >= ENTROPY_HEX_MIN_LEN && digit &&
		       (upper || lower) && h >= ENTROPY_FACTOR * 4.0;
	double most = log2((double)(len < 64 ? len : 64));
	return upper && lower && digit && h >= ENTROPY_FACTOR * most;
}

enum kw_cred_rule kw_cred_classify(const char *name, const char *value,
                                   size_t len)
{
	if (len == 0 || kw_cred_is_reference(value, len))
		return KW_CRED_NONE;
	if (len <= KW_CRED_VALUE_MAX) {
		if (known_prefix_len(value, len) > 0)
			return KW_CRED_PREFIX;
		if (is_url_with_password(value, len))
			return KW_CRED_URL;
	}
	if (kw_cred_name_matches(name) &&
	    (len > KW_CRED_VALUE_MAX || !is_setting_value(value, len)))
		return KW_CRED_NAME;
	if (len <= KW_CRED_VALUE_MAX && looks_random(value, len))
		return KW_CRED_ENTROPY;
	return KW_CRED_NONE;
}

const char *kw_cred_rule_name(enum kw_cred_rule rule)
{
	switch (rule) {
	case KW_CRED_PREFIX:
		return "prefix";
	case KW_CRED_URL:
		return "url";
	case KW_CRED_NAME:
		return "name";
	case KW_CRED_ENTROPY:
		return "entropy";
	default:
		return "none";
	}
}

/* Bits a guesser would need, estimated from the bytes after any known
 * prefix: at least 20 of them, no blank, 80 bits by Shannon's measure. */
static bool too_random_to_guess(const char *s, size_t len)
{
	size_t skip = known_prefix_len(s, len);
	s += skip;
	len -= skip;
	if (len < 20 || !all_token_bytes(s, len))
		return false;
	return kw_cred_entropy(s, len) * (double)len >= 80.0;
}

bool kw_cred_fingerprint(enum kw_cred_rule rule, const char *value, size_t len,
                         char out[static KW_CRED_FP_SIZE])
{
	unsigned char h[crypto_generichash_BYTES_MIN];

	if (rule == KW_CRED_NONE || rule == KW_CRED_URL ||
	    len > KW_CRED_VALUE_MAX || !too_random_to_guess(value, len))
		return false;
	/* A name says nothing of the value: words joined by dashes pass the
	 * 80 bits, so it must look random by the entropy rule too. */
	if (rule == KW_CRED_NAME && !looks_random(value, len))
		return false;
	if (crypto_generichash(h, sizeof(h), (const unsigned char *)value, len,
	                       (const unsigned char *)fp_key,
	                       sizeof(fp_key) - 1) != 0)
		return false;
	sodium_bin2hex(out, KW_CRED_FP_SIZE, h, KW_CRED_FP_HEX / 2);
	sodium_memzero(h, sizeof(h));
	return true;
}
