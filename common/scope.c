/*
 * scope.c - OAuth scopes (see scope.h).
 */
#include "scope.h"

#include <string.h>

/* RFC 6749 3.3: NQCHAR = %x21 / %x23-5B / %x5D-7E. */
static bool token_char(unsigned char c)
{
	return c >= 0x21 && c <= 0x7e && c != '"' && c != '\\';
}

static bool name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == ':' || c == '.' || c == '_' ||
	       c == '/' || c == '-';
}

bool kw_scope_token_valid(const char *s, size_t n, size_t max)
{
	if (!s || n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!token_char((unsigned char)s[i]))
			return false;
	return true;
}

bool kw_scope_name_valid(const char *s, size_t n)
{
	if (!s || n == 0 || n > KW_SCOPE_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!name_char((unsigned char)s[i]))
			return false;
	return true;
}

bool kw_scope_list_valid(const char *s, size_t n, size_t max_tokens,
                         size_t token_max)
{
	size_t count = 0;

	if (!s || n == 0)
		return false;
	for (size_t i = 0; i <= n;) {
		const char *sp = memchr(s + i, ' ', n - i);
		size_t len = sp ? (size_t)(sp - (s + i)) : n - i;

		if (++count > max_tokens ||
		    !kw_scope_token_valid(s + i, len, token_max))
			return false;
		i += len + 1;
	}
	return true;
}
