/*
 * jsonget.h - checked reads of members of a JSON object, shared by
 * libkeyward and the CLI, which both take results from the agent (and
 * kw_json_lossy, for the agent's answers).
 *
 * Each returns false if the member is absent or of the wrong type or
 * range, and then leaves *ret_value untouched.
 */
#ifndef KW_JSONGET_H
#define KW_JSONGET_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* A non-negative integer of at least min. */
bool kw_json_get_uint(const json_t *obj, const char *key, uint64_t min,
                      uint64_t *ret_value);
/* true or false. */
bool kw_json_get_bool(const json_t *obj, const char *key, bool *ret_value);
/* A string of printable ASCII only (safe to put on a terminal). The string
 * belongs to obj. */
bool kw_json_get_text(const json_t *obj, const char *key,
                      const char **ret_value);

/* The other way: a C string that need not be UTF-8 (a path, a reason
 * naming one) as a JSON string, with every byte >= 0x80 shown as '?' if it
 * is not valid UTF-8; s NULL gives null. NULL only if out of memory. */
json_t *kw_json_lossy(const char *s);

#endif
