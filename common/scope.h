/*
 * scope.h - OAuth scopes (RFC 6749 section 3.3): the one place that says
 * which scope strings keyward accepts.
 *
 * Two rules, one narrower than the other:
 *   - a scope token, as RFC 6749 allows it: 1 or more bytes of %x21 /
 *     %x23-5B / %x5D-7E (printable ASCII but space, '"' and '\'). What
 *     keyward takes from outside: the "scope" claim of a JWT, the scope an
 *     MCP server puts in WWW-Authenticate;
 *   - a scope name, as keyward issues it: 1..KW_SCOPE_NAME_MAX bytes of
 *     A-Z a-z 0-9 : . _ / - (docs/protocol.md). What API keys and access
 *     tokens carry and what token.verify may require. Every scope name is
 *     a scope token; the narrower set keeps the CLI's comma-separated
 *     --scopes and its tables unambiguous.
 * A scope string is scope tokens separated by single spaces, none empty.
 * Lengths are passed in (an embedded NUL is refused, not a terminator).
 * Pure: no allocation, no logging.
 */
#ifndef KW_SCOPE_H
#define KW_SCOPE_H

#include <stdbool.h>
#include <stddef.h>

#define KW_SCOPE_NAME_MAX 64u

/* s[0..n) is a scope token of at most max bytes. */
bool kw_scope_token_valid(const char *s, size_t n, size_t max);

/* s[0..n) is a scope name: 1..KW_SCOPE_NAME_MAX bytes of [A-Za-z0-9:._/-]. */
bool kw_scope_name_valid(const char *s, size_t n);

/* s[0..n) is a scope string of 1..max_tokens scope tokens of at most
 * token_max bytes each. */
bool kw_scope_list_valid(const char *s, size_t n, size_t max_tokens,
                         size_t token_max);

#endif
