/*
 * fuzz_base64.c - the base64 codecs: kw_b64_* (common/wire.c, secret values
 * on the wire) and jwt_b64url_* (agent/auth/jwt.c, token segments).
 *
 * Properties: both decoders accept only canonical text, so whatever they
 * accept encodes back to exactly the input; and decode(encode(x)) == x.
 */
#include <string.h>

#include "fuzz.h"
#include "jwt.h"
#include "keyward.h"
#include "secmem.h"
#include "wire.h"

#define URL_MAX 8192u /* bytes of input tried with base64url */

static void std_decode(const char *text, size_t len)
{
	uint8_t *bin = NULL;
	size_t n = 0;

	if (kw_b64_decode(text, len, len, &bin, &n) != 0)
		return;
	FUZZ_CHECK(bin != NULL);
	FUZZ_CHECK(n <= len);
	char *again = NULL;
	FUZZ_CHECK(kw_b64_encode(bin, n, &again) == 0);
	FUZZ_CHECK(strlen(again) == len && memcmp(again, text, len) == 0);
	kw_wipefree(again);
	kw_wipefree(bin);
}

static void std_round_trip(const uint8_t *data, size_t size)
{
	char *text = NULL;
	uint8_t *bin = NULL;
	size_t n = 0;

	FUZZ_CHECK(kw_b64_encode(data, size, &text) == 0);
	size_t len = strlen(text);
	FUZZ_CHECK(len == (size + 2) / 3 * 4);
	FUZZ_CHECK(kw_b64_decode(text, len, size, &bin, &n) == 0);
	FUZZ_CHECK(n == size && memcmp(bin, data, size) == 0);
	kw_wipefree(bin);
	/* One byte less than it holds is too big. */
	if (size > 0)
		FUZZ_CHECK(kw_b64_decode(text, len, size - 1, &bin, &n) ==
		           KW_ETOOBIG);
	kw_wipefree(text);
}

static void url_decode(const char *text, size_t len)
{
	static uint8_t bin[URL_MAX];
	static char again[URL_MAX * 2];
	size_t n = 0, m = 0;

	if (jwt_b64url_decode(text, len, bin, sizeof(bin), &n) != 0)
		return;
	FUZZ_CHECK(n <= len);
	FUZZ_CHECK(jwt_b64url_encode(bin, n, again, sizeof(again), &m) == 0);
	FUZZ_CHECK(m == len && memcmp(again, text, len) == 0);
}

static void url_round_trip(const uint8_t *data, size_t size)
{
	static uint8_t bin[URL_MAX];
	static char text[URL_MAX * 2];
	size_t len = 0, n = 0;

	FUZZ_CHECK(jwt_b64url_encode(data, size, text, sizeof(text), &len) ==
	           0);
	FUZZ_CHECK(text[len] == '\0' && len == (size * 4 + 2) / 3);
	FUZZ_CHECK(jwt_b64url_decode(text, len, bin, sizeof(bin), &n) == 0);
	FUZZ_CHECK(n == size && memcmp(bin, data, size) == 0);
	/* An output buffer one byte short is refused, not overrun. */
	if (size > 0)
		FUZZ_CHECK(jwt_b64url_decode(text, len, bin, size - 1, &n) ==
		           KW_ETOOBIG);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	std_decode((const char *)data, size);
	std_round_trip(data, size);
	if (size <= URL_MAX) {
		url_decode((const char *)data, size);
		url_round_trip(data, size);
	}
	return 0;
}
