/*
 * fuzz_apikey.c - the API key parsers of common/apikey.c.
 *
 * Properties: a managed key that kw_apikey_parse accepts has the exact
 * managed length and yields the id written in it; a refusal names a reason
 * and leaves the id untouched; changing one checksum character of an
 * accepted key gets it refused (the checksum is canonical).
 */
#include <string.h>

#include "apikey.h"
#include "fuzz.h"

static const char base62[] =
	"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static void check_managed(const char *s, size_t len)
{
	char id[KW_APIKEY_ID_LEN + 1];
	const char *why = NULL;

	memset(id, 'Z', sizeof(id));
	if (kw_apikey_parse(s, len, id, &why) != 0) {
		FUZZ_CHECK(why != NULL);
		for (size_t i = 0; i < sizeof(id); i++)
			FUZZ_CHECK(id[i] == 'Z');
		return;
	}
	FUZZ_CHECK(len == KW_APIKEY_MANAGED_LEN);
	FUZZ_CHECK(memcmp(s, KW_APIKEY_PREFIX, 4) == 0);
	FUZZ_CHECK(id[KW_APIKEY_ID_LEN] == '\0');
	FUZZ_CHECK(memcmp(id, s + 4, KW_APIKEY_ID_LEN) == 0);
	FUZZ_CHECK(kw_apikey_id_valid(id, KW_APIKEY_ID_LEN));

	char copy[KW_APIKEY_MANAGED_LEN];
	memcpy(copy, s, len);
	for (size_t i = len - KW_APIKEY_CHECK_LEN; i < len; i++) {
		const char *at = strchr(base62, copy[i]);
		FUZZ_CHECK(at != NULL && *at != '\0');
		char was = copy[i];
		copy[i] = base62[(size_t)(at - base62 + 1) % 62];
		FUZZ_CHECK(kw_apikey_parse(copy, len, id, NULL) != 0);
		copy[i] = was;
	}
}

static void check_plain(const char *s, size_t len)
{
	const char *why = NULL;

	if (kw_apikey_check(s, len, &why) != 0) {
		FUZZ_CHECK(why != NULL);
		return;
	}
	FUZZ_CHECK(len >= 4 + KW_APIKEY_BODY_MIN + KW_APIKEY_CHECK_LEN);
	FUZZ_CHECK(memcmp(s, KW_APIKEY_PREFIX, 4) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_managed((const char *)data, size);
	check_plain((const char *)data, size);
	return 0;
}
