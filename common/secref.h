/*
 * secref.h - references to stored secrets, as `keyward run --env VAR=REF`,
 * `.env` files (`keyward://REF`) and `keyward inject` templates write them.
 *
 *   REF = NAME [ "@" VERSION | "#" STAGE ] [ ":base64" ]
 *
 * NAME follows the secret-name rules (name.h); VERSION is a decimal number
 * from 1 to 2^63-1 without leading zeros; STAGE is current, pending,
 * previous or retired. ":base64" asks for the value base64-encoded, for a
 * binary value that cannot travel as it is (an environment variable ends at
 * the first NUL). None of '@', '#' and ':' can occur in a name, so a
 * reference reads one way only.
 */
#ifndef KW_SECREF_H
#define KW_SECREF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keyward.h"

#define KW_SECREF_URI      "keyward://"
#define KW_SECREF_STAGE_SZ 16

struct kw_secref {
	char name[KW_NAME_MAX + 1];
	uint64_t version;               /* 0: none given */
	char stage[KW_SECREF_STAGE_SZ]; /* "": none given (current) */
	bool base64;
};

/*
 * Parse the len bytes at s (need not be NUL-terminated) into *ref. 0, or
 * KW_EINVAL with a sentence in why naming the part that is wrong; the
 * sentence never quotes the input.
 */
int kw_secref_parse(const char *s, size_t len, struct kw_secref *ref, char *why,
                    size_t whysz);

/* ref in the syntax above, into buf of sz bytes. 0 or KW_ETOOBIG. */
int kw_secref_format(const struct kw_secref *ref, char *buf, size_t sz);

/*
 * true when the len bytes at s start with "keyward://"; then *ret_rest and
 * *ret_restlen are what follows it.
 */
bool kw_secref_uri(const char *s, size_t len, const char **ret_rest,
                   size_t *ret_restlen);

#endif
