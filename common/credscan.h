/*
 * credscan.h - is this (name, value) pair from an MCP client config a
 * plaintext credential? Used by `keyward mcp scan` and `keyward mcp
 * import` on "env" entries and HTTP "headers" (docs/cli.md, keyward mcp).
 *
 * A value is first set aside when it holds nothing: empty, or a reference
 * that the client or keyward resolves later (keyward://NAME, ${input:x},
 * ${env:X}, ${X}, $X, also after an HTTP auth scheme: "Bearer ${input:t}").
 * Otherwise the first rule that fits names why it is a credential:
 *   KW_CRED_PREFIX   a well-known token prefix (ghp_, sk-ant-, AKIA, ...,
 *                    or an auth scheme "Bearer x"/"Basic x", or a PEM
 *                    private key);
 *   KW_CRED_URL      a URL carrying a password (scheme://user:pw@host);
 *   KW_CRED_NAME     the name has a credential word as one of its parts
 *                    (TOKEN, KEY, SECRET, PASSWORD, PAT, AUTH, ...; see
 *                    credscan.c) and the value is not a boolean, a URL
 *                    without a password or a file path;
 *   KW_CRED_ENTROPY  a long random-looking token.
 * Nothing here logs, allocates or keeps a value.
 */
#ifndef KW_CREDSCAN_H
#define KW_CREDSCAN_H

#include <stdbool.h>
#include <stddef.h>

enum kw_cred_rule {
	KW_CRED_NONE = 0,
	KW_CRED_PREFIX,
	KW_CRED_URL,
	KW_CRED_NAME,
	KW_CRED_ENTROPY,
};

/* Longest value the rules look at; a longer one is judged by name only. */
#define KW_CRED_VALUE_MAX 65536u
/* Hex digits of a fingerprint, and the buffer size with its NUL. */
#define KW_CRED_FP_HEX  8u
#define KW_CRED_FP_SIZE (KW_CRED_FP_HEX + 1u)

/* Which rule makes value (len bytes) under name (a NUL-terminated env
 * variable or header name) a credential, or KW_CRED_NONE. */
enum kw_cred_rule kw_cred_classify(const char *name, const char *value,
                                   size_t len);

/* "prefix", "url", "name", "entropy" or "none". */
const char *kw_cred_rule_name(enum kw_cred_rule rule);

/* value is a reference (see above), not a value. */
bool kw_cred_is_reference(const char *value, size_t len);

/* name has a credential word as a part ("GITHUB_PAT", "X-Api-Key", not
 * "PATH", "KEYBOARD_LAYOUT" or "MAX_TOKENS"). */
bool kw_cred_name_matches(const char *name);

/*
 * The fingerprint shown for value, or false when none may be shown.
 * It is the first KW_CRED_FP_HEX hex digits of BLAKE2b keyed with a fixed,
 * documented key, so the same value shows the same fingerprint in every
 * file and run. Since anyone can compute it, it is given only for values
 * too random to guess: at least 20 bytes after any known prefix, no
 * blank, an estimated 80 bits, and for a value found by name only, random
 * by the entropy rule's measure; never for a URL. For a password it would
 * confirm a guess. out receives KW_CRED_FP_SIZE bytes.
 */
bool kw_cred_fingerprint(enum kw_cred_rule rule, const char *value, size_t len,
                         char out[static KW_CRED_FP_SIZE]);

/* Shannon entropy of value in bits per byte (for the rules and tests). */
double kw_cred_entropy(const char *value, size_t len);

#endif
