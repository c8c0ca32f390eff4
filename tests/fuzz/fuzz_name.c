/*
 * fuzz_name.c - secret names and globs: kw_name_check and kw_prefix_check
 * (common/name.c), the agent's policy globs (agent/policy/policy.c) and the
 * client library's copy of their matcher (client-lib/glob.c).
 *
 * Input: "GLOB\nNAME" (without a newline, the whole input is both).
 * Properties: a valid name is a valid prefix and a valid glob that matches
 * exactly itself, and "**" matches it; on a valid glob and a valid name the
 * agent's and the library's matchers agree, and so do their checks.
 */
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "fuzz.h"
#include "name.h"
#include "policy.h"

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
	FUZZ_CHECK(policy_glob_check(name, NULL) == 0);
	FUZZ_CHECK(policy_glob_match(name, name));
	FUZZ_CHECK(policy_glob_match("**", name));
	FUZZ_CHECK(client_glob_match(name, name));
	free(name);
}

static void check_glob(const uint8_t *g, size_t glen, const uint8_t *n,
                       size_t nlen)
{
	char *glob = text(g, glen), *name = text(n, nlen);

	if (glob) {
		bool agent_ok = policy_glob_check(glob, NULL) == 0;
		FUZZ_CHECK(agent_ok == (client_glob_check(glob, NULL) == 0));
		if (agent_ok && name && kw_name_check(name, nlen, NULL) == 0)
			FUZZ_CHECK(policy_glob_match(glob, name) ==
			           client_glob_match(glob, name));
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
