/*
 * glob.c - name globs (see glob.h).
 *
 * Both levels use one scheme: a star ('*' inside a segment, a "**"
 * segment over whole segments) first takes nothing; when the rest fails,
 * it takes one more unit and the rest is tried again. Only the latest star
 * is remembered: a later star can absorb whatever an earlier one would
 * have taken, so giving an earlier one more never finds a match the later
 * one misses.
 */
#include "glob.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "keyward.h"
#include "kwerr.h"

/* Length of the segment starting at s (up to '/' or the end). */
static size_t seg_len(const char *s)
{
	return strcspn(s, "/");
}

/* Start of the segment after the one at s, or NULL after the last. */
static const char *seg_next(const char *s)
{
	s += seg_len(s);
	return *s == '/' ? s + 1 : NULL;
}

static bool seg_is_globstar(const char *s)
{
	return s[0] == '*' && s[1] == '*' && (s[2] == '\0' || s[2] == '/');
}

/* One glob segment g[0..gn) against one name segment n[0..nn). */
static bool seg_match(const char *g, size_t gn, const char *n, size_t nn)
{
	size_t gi = 0, ni = 0;
	size_t star_g = SIZE_MAX, star_n = 0;

	while (ni < nn) {
		if (gi < gn && g[gi] == '*') {
			star_g = ++gi;
			star_n = ni;
		} else if (gi < gn && g[gi] == n[ni]) {
			gi++;
			ni++;
		} else if (star_g != SIZE_MAX) {
			gi = star_g;
			ni = ++star_n;
		} else {
			return false;
		}
	}
	while (gi < gn && g[gi] == '*')
		gi++;
	return gi == gn;
}

/* Non-empty and at most KW_NAME_MAX bytes. */
static bool length_ok(const char *s)
{
	return s && *s && strnlen(s, KW_NAME_MAX + 1) <= KW_NAME_MAX;
}

/*
 * The loop ends when the name runs out, so a "**" that is the glob's last
 * segment is reached only while a name segment remains and always takes
 * at least one; a leading or inner one may take none.
 */
bool kw_glob_match(const char *glob, const char *name)
{
	const char *g = glob, *n = name;
	const char *star_g = NULL, *star_n = NULL;
	bool have_star = false;

	if (!length_ok(glob) || !length_ok(name))
		return false;
	while (n) {
		if (g && seg_is_globstar(g)) {
			have_star = true;
			star_g = seg_next(g);
			star_n = n;
			g = star_g;
		} else if (g && seg_match(g, seg_len(g), n, seg_len(n))) {
			g = seg_next(g);
			n = seg_next(n);
		} else if (have_star) {
			star_n = seg_next(star_n);
			n = star_n;
			g = star_g;
		} else {
			return false;
		}
	}
	return g == NULL;
}

static int glob_fail(const char **ret_why, const char *why)
{
	if (ret_why)
		*ret_why = why;
	return KW_EINVAL;
}

static bool glob_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
	       c == '/' || c == '*';
}

/* The rules for one segment s[0..n). NULL if it keeps them. */
static const char *seg_rule(const char *s, size_t n)
{
	if (n == 0)
		return "a glob must not contain an empty segment ('//')";
	if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
		return "a glob must not contain a '.' or '..' segment";
	if (n != 2 && memmem(s, n, "**", 2))
		return "'**' must be a whole segment";
	return NULL;
}

int kw_glob_check(const char *glob, const char **ret_why)
{
	size_t len;

	if (!glob || !*glob)
		return glob_fail(ret_why, "a glob must not be empty");
	len = strnlen(glob, KW_NAME_MAX + 1);
	if (len > KW_NAME_MAX)
		return glob_fail(ret_why, "a glob must be at most 255 bytes");
	for (size_t i = 0; i < len; i++)
		if (!glob_char((unsigned char)glob[i]))
			return glob_fail(ret_why,
			                 "a glob may use only A-Z a-z 0-9 . _ "
			                 "- / and *");
	if (glob[0] == '/' || glob[len - 1] == '/')
		return glob_fail(ret_why,
		                 "a glob must not start or end with '/'");
	for (const char *s = glob; s; s = seg_next(s)) {
		const char *why = seg_rule(s, seg_len(s));

		if (why)
			return glob_fail(ret_why, why);
	}
	return 0;
}
