/*
 * glob.h - name globs: the one matcher behind policy grants, audit
 * filters (agent and CLI) and the library's rotation watch.
 *
 * A glob is matched against a secret name segment by segment ('/'
 * separates segments):
 *   - a segment that is exactly "**" matches zero or more whole segments,
 *     except at the end of the glob, where it needs at least one: "a/STARSTAR"
 *     (STAR for '*') matches "a/b" and "a/b/c", not "a"; "a/STARSTAR/z"
 *     matches "a/z";
 *   - inside any other segment, '*' matches any run of bytes, never '/';
 *   - every other byte is literal.
 * The rules are those of the agent's policy grants (policies/README.md,
 * docs/protocol.md); every other user follows them, so what a policy
 * allows, an audit filter selects and a watch is told about agree.
 *
 * Work is bounded by the product of the lengths (only the latest star is
 * remembered on each level; no exponential backtracking), and both
 * lengths are bounded by KW_NAME_MAX. Pure: no allocation, no logging.
 */
#ifndef KW_GLOB_H
#define KW_GLOB_H

#include <stdbool.h>

/*
 * True if name matches glob. Both NUL-terminated. False if either is NULL
 * or empty, or longer than KW_NAME_MAX bytes (neither can then be a valid
 * glob or name). glob need not have passed kw_glob_check: a malformed
 * glob matches whatever the rules above give for it, so callers that take
 * globs from outside check them first.
 */
bool kw_glob_match(const char *glob, const char *name);

/*
 * 0 if glob is well formed: 1..KW_NAME_MAX bytes of the name charset
 * (A-Z a-z 0-9 . _ - /) plus '*'; no leading or trailing '/'; no empty,
 * "." or ".." segment; "**" only as a whole segment. Else KW_EINVAL, and
 * *ret_why (if not NULL) a static sentence naming the rule broken; it never
 * quotes the glob.
 */
int kw_glob_check(const char *glob, const char **ret_why);

#endif
