/*
 * fuzz_name.c - secret names and globs: kw_name_check and kw_prefix_check
 * (common/name.c), kw_glob_check and kw_glob_match (common/glob.c).
 *
 * Input: "GLOB\nNAME" (without a newline, the whole input is both).
 * Properties: a valid name is a valid prefix and a valid glob that matches
 * exactly itself, and "**" matches it; a valid glob without '*' matches
 * exactly itself; any glob matches no invalid-length name; on a valid glob
 * and any name, kw_glob_match answers as the rules of glob.h restated as
 * dynamic programming (no backtracking to share a bug with).
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

/* Segments of a string of at most KW_NAME_MAX bytes ("//" has three). */
#define SEGS_MAX (KW_NAME_MAX + 1u)

struct segs {
	const char *p[SEGS_MAX];
	size_t n[SEGS_MAX];
	size_t count;
};

static void split(const char *s, struct segs *out)
{
	out->count = 0;
	for (;;) {
		size_t n = strcspn(s, "/");

		out->p[out->count] = s;
		out->n[out->count++] = n;
		if (s[n] != '/')
			return;
		s += n + 1;
	}
}

/* g[0..gn) against n[0..nn), '*' any run: t[i][j] says whether g from i
 * matches n from j. */
static bool ref_seg(const char *g, size_t gn, const char *n, size_t nn)
{
	static bool t[KW_NAME_MAX + 1][KW_NAME_MAX + 1];

	for (size_t j = 0; j <= nn; j++)
		t[gn][j] = j == nn;
	for (size_t i = gn; i-- > 0;) {
		for (size_t j = nn + 1; j-- > 0;) {
			if (g[i] == '*')
				t[i][j] =
					t[i + 1][j] || (j < nn && t[i][j + 1]);
			else
				t[i][j] = j < nn && g[i] == n[j] &&
				          t[i + 1][j + 1];
		}
	}
	return t[0][0];
}

/* The same one level up, over segments, "**" being the star; as the last
 * segment it takes at least one. */
static bool ref_glob(const char *glob, const char *name)
{
	static struct segs gs, ns;
	static bool m[SEGS_MAX + 1][SEGS_MAX + 1];

	split(glob, &gs);
	split(name, &ns);
	for (size_t j = 0; j <= ns.count; j++)
		m[gs.count][j] = j == ns.count;
	for (size_t i = gs.count; i-- > 0;) {
		bool star =
			gs.n[i] == 2 && gs.p[i][0] == '*' && gs.p[i][1] == '*';
		bool any = false;

		for (size_t j = ns.count + 1; j-- > 0;) {
			if (star && i + 1 == gs.count) {
				m[i][j] = j < ns.count;
			} else if (star) {
				any = any || m[i + 1][j];
				m[i][j] = any;
			} else {
				m[i][j] = j < ns.count && m[i + 1][j + 1] &&
				          ref_seg(gs.p[i], gs.n[i], ns.p[j],
				                  ns.n[j]);
			}
		}
	}
	return m[0][0];
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
		if (ok && nlen > 0 && nlen <= KW_NAME_MAX)
			FUZZ_CHECK(match == ref_glob(glob, name));
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
