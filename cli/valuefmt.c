/*
 * valuefmt.c - random values in printable formats, the "can a terminal
 * show this" test, and base64 for `get --base64` (valuefmt.h).
 *
 * Encodings use libsodium's, which run in constant time: the bytes are
 * secrets.
 */
#include <sodium.h>
#include <string.h>

#include "keyward.h"
#include "secmem.h"
#include "valuefmt.h"

static const struct {
	const char *name;
	enum valuefmt_format format;
} formats[] = {
	{ "base64url", VALUEFMT_BASE64URL },
	{ "hex", VALUEFMT_HEX },
	{ "alnum", VALUEFMT_ALNUM },
	{ "raw", VALUEFMT_RAW },
};

int valuefmt_parse(const char *s, enum valuefmt_format *ret_format)
{
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		if (strcmp(s, formats[i].name) == 0) {
			*ret_format = formats[i].format;
			return 0;
		}
	}
	return KW_EINVAL;
}

static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "abcdefghijklmnopqrstuvwxyz0123456789";

/* n characters, each drawn uniformly (randombytes_uniform rejects the
 * biased tail itself; a modulo of a random byte would favour some). */
static void fill_alnum(char *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = alnum[randombytes_uniform(sizeof(alnum) - 1)];
	out[n] = '\0';
}

/* The encoded length of n bytes in format, without the NUL. */
static size_t encoded_len(enum valuefmt_format format, size_t n)
{
	switch (format) {
	case VALUEFMT_BASE64URL:
		return sodium_base64_ENCODED_LEN(
			       n, sodium_base64_VARIANT_URLSAFE_NO_PADDING) -
		       1;
	case VALUEFMT_HEX:
		return 2 * n;
	default:
		return n;
	}
}

int valuefmt_generate(enum valuefmt_format format, size_t n,
                      uint8_t **ret_value, size_t *ret_len)
{
	size_t len;
	uint8_t *out, *raw = NULL;

	if (n < 1 || n > VALUEFMT_GEN_MAX)
		return KW_EINVAL;
	len = encoded_len(format, n);
	out = kw_wipealloc(len + 1);
	if (!out)
		return KW_ENOMEM;
	if (format == VALUEFMT_ALNUM) {
		fill_alnum((char *)out, n);
	} else if (format == VALUEFMT_RAW) {
		randombytes_buf(out, n);
		out[n] = '\0';
	} else {
		raw = kw_wipealloc(n);
		if (!raw) {
			kw_wipefree(out);
			return KW_ENOMEM;
		}
		randombytes_buf(raw, n);
		if (format == VALUEFMT_HEX)
			sodium_bin2hex((char *)out, len + 1, raw, n);
		else
			sodium_bin2base64(
				(char *)out, len + 1, raw, n,
				sodium_base64_VARIANT_URLSAFE_NO_PADDING);
		kw_wipefree(raw);
	}
	*ret_value = out;
	*ret_len = len;
	return 0;
}

/* The length of the UTF-8 sequence lead starts whose second byte is b,
 * or 0 when the pair cannot start a well-formed, non-C1 sequence
 * (Unicode table 3-7, with U+0080..U+009F left out). */
static size_t utf8_seq_len(uint8_t lead, uint8_t b)
{
	if (lead == 0xc2)
		return b >= 0xa0 && b <= 0xbf ? 2 : 0;
	if (lead >= 0xc3 && lead <= 0xdf)
		return b >= 0x80 && b <= 0xbf ? 2 : 0;
	if (lead == 0xe0)
		return b >= 0xa0 && b <= 0xbf ? 3 : 0;
	if (lead == 0xed)
		return b >= 0x80 && b <= 0x9f ? 3 : 0;
	if (lead >= 0xe1 && lead <= 0xef)
		return b >= 0x80 && b <= 0xbf ? 3 : 0;
	if (lead == 0xf0)
		return b >= 0x90 && b <= 0xbf ? 4 : 0;
	if (lead >= 0xf1 && lead <= 0xf3)
		return b >= 0x80 && b <= 0xbf ? 4 : 0;
	if (lead == 0xf4)
		return b >= 0x80 && b <= 0x8f ? 4 : 0;
	return 0;
}

bool valuefmt_is_text(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = p[i];
		size_t len;

		if (c < 0x80) {
			if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') ||
			    c == 0x7f)
				return false;
			i++;
			continue;
		}
		if (i + 1 >= n)
			return false;
		len = utf8_seq_len(c, p[i + 1]);
		if (len == 0 || len > n - i)
			return false;
		for (size_t k = 2; k < len; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
		i += len;
	}
	return true;
}

int valuefmt_base64(const uint8_t *p, size_t n, char **ret_text,
                    size_t *ret_len)
{
	size_t sz;
	char *out;

	if (n > (SIZE_MAX / 4) * 3 - 3)
		return KW_ENOMEM;
	sz = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
	out = kw_wipealloc(sz);
	if (!out)
		return KW_ENOMEM;
	sodium_bin2base64(out, sz, p, n, sodium_base64_VARIANT_ORIGINAL);
	*ret_text = out;
	*ret_len = sz - 1;
	return 0;
}
