/*
 * valuefmt.h - what the CLI does with a value's bytes without an agent:
 * make random values in a printable format (put --generate), decide
 * whether a value is text a terminal can show (get), and encode values
 * as base64 (get --base64).
 *
 * Buffers returned here come from kw_wipealloc (free with kw_wipefree);
 * kw_secmem_init() must have run before valuefmt_generate.
 */
#ifndef KW_VALUEFMT_H
#define KW_VALUEFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest N of --generate N, in every format. */
#define VALUEFMT_GEN_MAX 65536u

enum valuefmt_format {
	VALUEFMT_BASE64URL, /* N random bytes, base64url without padding */
	VALUEFMT_HEX,       /* N random bytes, lower-case hex */
	VALUEFMT_ALNUM,     /* N characters of A-Z a-z 0-9, uniform */
	VALUEFMT_RAW,       /* N random bytes as they are */
};

/* The format named s ("base64url", "hex", "alnum", "raw"). 0 or
 * KW_EINVAL. */
int valuefmt_parse(const char *s, enum valuefmt_format *ret_format);

/*
 * A new random value: n (1..VALUEFMT_GEN_MAX) bytes or characters in
 * format, NUL-terminated after *ret_len bytes. 0, KW_EINVAL for n out of
 * range, or KW_ENOMEM.
 */
int valuefmt_generate(enum valuefmt_format format, size_t n,
                      uint8_t **ret_value, size_t *ret_len);

/*
 * Whether a terminal can show the n bytes at p as they are: valid UTF-8
 * (no overlong forms, surrogates or code points past U+10FFFF) with no
 * control characters other than tab, newline and carriage return (no
 * NUL, no C0 or DEL, no C1 U+0080..U+009F, which terminals also obey).
 */
bool valuefmt_is_text(const uint8_t *p, size_t n);

/*
 * The n bytes at p in standard base64 with padding, NUL-terminated
 * (*ret_len excludes the NUL). 0 or KW_ENOMEM (also when n is too large
 * to encode).
 */
int valuefmt_base64(const uint8_t *p, size_t n, char **ret_text,
                    size_t *ret_len);

#endif
