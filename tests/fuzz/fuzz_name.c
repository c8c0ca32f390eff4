/*
 * fuzz_name.c - secret names and globs: kw_name_check and kw_prefix_check
 * (common/name.c), kw_glob_check and kw_glob_match (common/glob.c).
 *
 * Input: "GLOB\nNAME" (without a newline, the whole input is both).
 * Properties: a valid name is a valid prefix and a valid glob that matches
 * exactly itself, and "**" matches it; a valid glob without '*' matches
 * exactly itself; any glob matches no invalid-length name.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "glob.h"
#include "keyward.h"
#include "name.h"

/* A NUL-terminated copy of data[0..len), or NULL if it holds a NUL. */
static char *text(const uint8_t *data, size_t len)
{
	if (memchr(data, '\0', len))
		return NULL;
	char *s = malloc(len + 1);
	FUZZ_CHECK(s != NULL);
	memcpy(s, data, len);
	s[len] = '\0';
	return s;
}

static void check_name(const uint8_t *data, size_t len)
{
	const char *rule = NULL;
	bool valid = kw_name_check((const char *)data, len, &rule) == 0;
	bool prefix_ok = kw_prefix_check((const char *)data, len, NULL) == 0;

	if (!valid) {
		FUZZ_CHECK(rule != NULL);
		return;
	}
	FUZZ_CHECK(prefix_ok);
	char *name = text(data, len);
	FUZZ_CHECK(name != NULL); /* a valid name has no NUL */
	FUZZ_CHECK(kw_glob_check(name, NULL) == 0);
	FUZZ_CHECK(kw_glob_match(name, name));
	FUZZ_CHECK(kw_glob_match("**", name));
	free(name);
}

static void check_glob(const uint8_t *g, size_t glen, const uint8_t *n,
                       size_t nlen)
{
	char *glob = text(g, glen), *name = text(n, nlen);

	if (glob && name) {
		const char *why = NULL;
		bool ok = kw_glob_check(glob, &why) == 0;
		bool match = kw_glob_match(glob, name);

		FUZZ_CHECK(ok || why != NULL);
		if (nlen == 0 || nlen > KW_NAME_MAX)
			FUZZ_CHECK(!match);
		/* Without a star a well-formed glob is a literal name. */
		if (ok && !strchr(glob, '*'))
			FUZZ_CHECK(match == (strcmp(glob, name) == 0));
	}
	free(glob);
	free(name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);

	if (!nl) {
		check_name(data, size);
		check_glob(data, size, data, size);
		return 0;
	}
	size_t glen = (size_t)(nl - data);
	check_name(nl + 1, size - glen - 1);
	check_glob(data, glen, nl + 1, size - glen - 1);
	return 0;
}
