/*
 * apikey.c - the API key text format (see apikey.h).
 *
 * Base62 digit values are 0-9 -> 0..9, A-Z -> 10..35, a-z -> 36..61; the
 * checksum is the u32 written as exactly six such digits, most significant
 * first ("000000" is zero). The body is secret, so mapping random values
 * to characters and checking the charset use arithmetic, not table
 * lookups or branches on the characters.
 */
#include "apikey.h"

#include <sodium.h>
#include <stdint.h>
#include <string.h>

#include "keyward.h"

#define PREFIX_LEN (sizeof(KW_APIKEY_PREFIX) - 1u)
/* log2(62), for the entropy of one base62 character. */
#define LOG2_62 5.954196310386876

/* All ones if a < b, else zero (a, b < 2^31). */
static uint32_t ct_lt_mask(uint32_t a, uint32_t b)
{
	return 0u - ((a - b) >> 31);
}

/* The base62 character of v (v < 62), without branching on v. */
static char b62_char(uint32_t v)
{
	uint32_t c = '0' + v;

	c += ~ct_lt_mask(v, 10) & ('A' - '0' - 10);
	c += ~ct_lt_mask(v, 36) & ('a' - 'A' - 26);
	return (char)c;
}

/* All ones if c is in [lo, hi], else zero. */
static uint32_t ct_in_range(unsigned char c, unsigned char lo, unsigned char hi)
{
	return ~ct_lt_mask(c, lo) & ct_lt_mask(c, (uint32_t)hi + 1u);
}

/* Zero if every byte of s is a base62 character; examines them all. */
static uint32_t b62_bad(const char *s, size_t len)
{
	uint32_t bad = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		bad |= ~(ct_in_range(c, '0', '9') | ct_in_range(c, 'A', 'Z') |
		         ct_in_range(c, 'a', 'z'));
	}
	return bad;
}

/* The checksum characters of prefix || body (key, key_len bytes). */
static void apikey_checksum(const char *key, size_t key_len,
                            char out[KW_APIKEY_CHECK_LEN])
{
	uint8_t h[crypto_generichash_BYTES];

	/* BLAKE2b-256 with a valid output size never fails. */
	(void)crypto_generichash(h, sizeof(h), (const uint8_t *)key, key_len,
	                         NULL, 0);
	uint32_t v = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 |
	             (uint32_t)h[2] << 8 | (uint32_t)h[3];
	sodium_memzero(h, sizeof(h));
	for (size_t i = KW_APIKEY_CHECK_LEN; i > 0; i--) {
		out[i - 1] = b62_char(v % 62u);
		v /= 62u;
	}
}

size_t kw_apikey_body_len(size_t bytes)
{
	/* Far beyond any body a key may have; keeps the double exact. */
	if (bytes > ((size_t)1 << 40))
		return SIZE_MAX;
	double chars = (double)bytes * 8.0 / LOG2_62;
	size_t n = (size_t)chars;
	if ((double)n < chars)
		n++;
	return n;
}

int kw_apikey_generate(size_t bytes, char *out, size_t outsz, size_t *ret_len)
{
	if (bytes == 0)
		return KW_EINVAL;
	size_t body = kw_apikey_body_len(bytes);
	if (body < KW_APIKEY_BODY_MIN)
		body = KW_APIKEY_BODY_MIN;
	if (body > KW_APIKEY_BODY_MAX)
		return KW_EINVAL;
	size_t len = PREFIX_LEN + body + KW_APIKEY_CHECK_LEN;
	if (!out || outsz <= len)
		return KW_ETOOBIG;

	memcpy(out, KW_APIKEY_PREFIX, PREFIX_LEN);
	for (size_t i = 0; i < body; i++)
		out[PREFIX_LEN + i] = b62_char(randombytes_uniform(62));
	apikey_checksum(out, PREFIX_LEN + body, out + PREFIX_LEN + body);
	out[len] = '\0';
	*ret_len = len;
	return 0;
}

static int apikey_fail(const char **why, const char *sentence)
{
	if (why)
		*why = sentence;
	return KW_EINVAL;
}

int kw_apikey_check(const char *s, size_t len, const char **why)
{
	char check[KW_APIKEY_CHECK_LEN];

	if (!s || len < PREFIX_LEN ||
	    memcmp(s, KW_APIKEY_PREFIX, PREFIX_LEN) != 0)
		return apikey_fail(why, "an API key starts with kwk_");
	/* Lengths before characters: a huge input is refused unread. */
	if (len < PREFIX_LEN + KW_APIKEY_BODY_MIN + KW_APIKEY_CHECK_LEN)
		return apikey_fail(why, "the API key is too short");
	if (len > PREFIX_LEN + KW_APIKEY_BODY_MAX + KW_APIKEY_CHECK_LEN)
		return apikey_fail(why, "the API key is too long");
	if (b62_bad(s + PREFIX_LEN, len - PREFIX_LEN) != 0)
		return apikey_fail(why, "an API key has only the characters "
		                        "0-9 A-Z a-z after kwk_");
	size_t key_len = len - KW_APIKEY_CHECK_LEN;
	apikey_checksum(s, key_len, check);
	int diff = sodium_memcmp(check, s + key_len, sizeof(check));
	sodium_memzero(check, sizeof(check));
	if (diff != 0)
		return apikey_fail(why, "the API key's checksum does not "
		                        "match (is it mistyped?)");
	return 0;
}

#define ID_AT     PREFIX_LEN
#define SEP_AT    (ID_AT + KW_APIKEY_ID_LEN)
#define SECRET_AT (SEP_AT + 1u)
#define CHECK_AT  (SECRET_AT + KW_APIKEY_SECRET_LEN)

void kw_apikey_new(char ret_id[static KW_APIKEY_ID_LEN + 1],
                   char ret_key[static KW_APIKEY_MANAGED_LEN + 1])
{
	memcpy(ret_key, KW_APIKEY_PREFIX, PREFIX_LEN);
	for (size_t i = 0; i < KW_APIKEY_ID_LEN; i++)
		ret_key[ID_AT + i] = b62_char(randombytes_uniform(62));
	ret_key[SEP_AT] = '_';
	for (size_t i = 0; i < KW_APIKEY_SECRET_LEN; i++)
		ret_key[SECRET_AT + i] = b62_char(randombytes_uniform(62));
	apikey_checksum(ret_key, CHECK_AT, ret_key + CHECK_AT);
	ret_key[KW_APIKEY_MANAGED_LEN] = '\0';
	memcpy(ret_id, ret_key + ID_AT, KW_APIKEY_ID_LEN);
	ret_id[KW_APIKEY_ID_LEN] = '\0';
}

bool kw_apikey_id_valid(const char *id, size_t len)
{
	return id && len == KW_APIKEY_ID_LEN && b62_bad(id, len) == 0;
}

int kw_apikey_parse(const char *s, size_t len,
                    char ret_id[static KW_APIKEY_ID_LEN + 1], const char **why)
{
	char check[KW_APIKEY_CHECK_LEN];

	if (!s || len < PREFIX_LEN ||
	    memcmp(s, KW_APIKEY_PREFIX, PREFIX_LEN) != 0)
		return apikey_fail(why, "an API key starts with kwk_");
	if (len < KW_APIKEY_MANAGED_LEN)
		return apikey_fail(why, "the API key is too short");
	if (len > KW_APIKEY_MANAGED_LEN)
		return apikey_fail(why, "the API key is too long");
	if (s[SEP_AT] != '_')
		return apikey_fail(why, "not an API key made by apikey.create "
		                        "(kwk_, a 12-character id, _, then "
		                        "the secret)");
	if (!kw_apikey_id_valid(s + ID_AT, KW_APIKEY_ID_LEN))
		return apikey_fail(why, "an API key's id has only the "
		                        "characters 0-9 A-Z a-z");
	if (b62_bad(s + SECRET_AT, len - SECRET_AT) != 0)
		return apikey_fail(why, "an API key has only the characters "
		                        "0-9 A-Z a-z after its id and _");
	apikey_checksum(s, CHECK_AT, check);
	int diff = sodium_memcmp(check, s + CHECK_AT, sizeof(check));
	sodium_memzero(check, sizeof(check));
	if (diff != 0)
		return apikey_fail(why, "the API key's checksum does not "
		                        "match (is it mistyped?)");
	memcpy(ret_id, s + ID_AT, KW_APIKEY_ID_LEN);
	ret_id[KW_APIKEY_ID_LEN] = '\0';
	return 0;
}
