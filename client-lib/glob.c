/*
 * glob.c - libkeyward: name globs in the agent's policy syntax, so that
 * kw_watch_dispatch can route each rotation to the callbacks whose pattern
 * matches (the agent tells us only that some pattern of ours matched).
 *
 * The library does not link agent code, so this is its own copy of the
 * rules in docs/protocol.md and policies/README.md; tests/unit/test_watch.c
 * holds it to the agent's table of cases.
 *
 * Both levels use the same scheme: '*' within a segment and a '**' segment
 * over whole segments are "match any run", and only the latest one is
 * remembered for backtracking (a later star can absorb whatever an earlier
 * one would have), so the work is bounded by the product of the lengths,
 * never exponential.
 */
#include <string.h>

#include "client_int.h"

/* Length of the segment that starts at s. */
static size_t seg_len(const char *s)
{
	return strcspn(s, "/");
}

/* The segment after the one at s, or NULL if that was the last. */
static const char *seg_after(const char *s)
{
	s += seg_len(s);
	return *s == '/' ? s + 1 : NULL;
}

static bool seg_is_globstar(const char *g)
{
	return g[0] == '*' && g[1] == '*' && (g[2] == '\0' || g[2] == '/');
}

/* One glob segment p[0..pn) against one name segment s[0..sn). */
static bool seg_matches(const char *p, size_t pn, const char *s, size_t sn)
{
	size_t pi = 0, si = 0, resume_p = 0, resume_s = 0;
	bool star = false;

	for (;;) {
		if (pi < pn && p[pi] == '*') {
			star = true;
			resume_p = ++pi;
			resume_s = si;
		} else if (si == sn) {
			return pi == pn;
		} else if (pi < pn && p[pi] == s[si]) {
			pi++;
			si++;
		} else if (star) {
			/* The star takes one more byte; retry after it. */
			pi = resume_p;
			si = ++resume_s;
		} else {
			return false;
		}
	}
}

/*
 * A '**' segment first matches no segment; each time the rest fails, it
 * takes one more. A trailing '**' is reached only while name segments
 * remain, so it takes at least one: "a" and '**' does not match "a".
 */
bool client_glob_match(const char *glob, const char *name)
{
	const char *g = glob, *n = name, *resume_g = NULL, *resume_n = NULL;
	bool star = false;

	if (!glob || !name || !*glob || !*name)
		return false;
	while (n) {
		if (g && seg_is_globstar(g)) {
			star = true;
			g = resume_g = seg_after(g);
			resume_n = n;
		} else if (g && seg_matches(g, seg_len(g), n, seg_len(n))) {
			g = seg_after(g);
			n = seg_after(n);
		} else if (star) {
			n = resume_n = seg_after(resume_n);
			g = resume_g;
		} else {
			return false;
		}
	}
	return g == NULL;
}

static int glob_bad(const char **ret_why, const char *why)
{
	if (ret_why)
		*ret_why = why;
	return KW_EINVAL;
}

static bool glob_char(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
	       ch == '-' || ch == '/' || ch == '*';
}

int client_glob_check(const char *glob, const char **ret_why)
{
	size_t len;

	if (!glob || !*glob)
		return glob_bad(ret_why, "the pattern is empty");
	len = strnlen(glob, KW_NAME_MAX + 1);
	if (len > KW_NAME_MAX)
		return glob_bad(ret_why, "a pattern must be at most 255 bytes");
	for (size_t i = 0; i < len; i++)
		if (!glob_char((unsigned char)glob[i]))
			return glob_bad(
				ret_why,
				"a pattern may use only A-Z a-z 0-9 . _ "
				"- / and *");
	if (glob[0] == '/' || glob[len - 1] == '/')
		return glob_bad(ret_why,
		                "a pattern must not start or end with '/'");
	for (const char *s = glob; s; s = seg_after(s)) {
		size_t n = seg_len(s);

		if (n == 0)
			return glob_bad(ret_why,
			                "a pattern must not contain an "
			                "empty segment ('//')");
		if ((n == 1 && s[0] == '.') ||
		    (n == 2 && s[0] == '.' && s[1] == '.'))
			return glob_bad(ret_why, "a pattern must not contain a "
			                         "'.' or '..' segment");
		if (n != 2 && memmem(s, n, "**", 2))
			return glob_bad(ret_why,
			                "'**' must be a whole segment");
	}
	return 0;
}
