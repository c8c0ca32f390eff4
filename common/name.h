/*
 * name.h - secret name validation, shared by agent, library and CLI.
 *
 * A valid name is 1..KW_NAME_MAX bytes of [A-Za-z0-9._/-], does not start or
 * end with '/', and has no empty, "." or ".." segment.
 */
#ifndef KW_NAME_H
#define KW_NAME_H

#include <stddef.h>

/*
 * Validate the len bytes at name (name need not be NUL-terminated; an
 * embedded NUL is invalid). Returns 0 or KW_ENAME; if ret_rule is not NULL
 * it receives, on failure, a static sentence naming the rule broken
 * ("name must be 1-255 bytes"). The sentence never quotes the name.
 */
int kw_name_check(const char *name, size_t len, const char **ret_rule);

/*
 * Validate a name prefix for listing: same charset and length bound as a
 * name, may be empty, may end with '/'.
 */
int kw_prefix_check(const char *prefix, size_t len, const char **ret_rule);

#endif
