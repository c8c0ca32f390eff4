/*
 * secref.c - parse and print secret references (secref.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "name.h"
#include "secref.h"

static const char *const secref_stages[] = { "current", "pending", "previous",
	                                     "retired" };

static int secref_fail(char *why, size_t whysz, const char *text)
{
	if (whysz)
		snprintf(why, whysz, "%s", text);
	return KW_EINVAL;
}

/* A version: 1 .. INT64_MAX, decimal, no sign, no leading zero. */
static bool secref_version(const char *s, size_t len, uint64_t *ret)
{
	uint64_t v = 0;

	if (len == 0 || len > 19 || s[0] == '0')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > (uint64_t)INT64_MAX)
		return false;
	*ret = v;
	return true;
}

static bool secref_stage(const char *s, size_t len, char *out)
{
	for (size_t i = 0; i < sizeof(secref_stages) / sizeof(*secref_stages);
	     i++) {
		if (strlen(secref_stages[i]) == len &&
		    memcmp(secref_stages[i], s, len) == 0) {
			memcpy(out, s, len);
			out[len] = '\0';
			return true;
		}
	}
	return false;
}

int kw_secref_parse(const char *s, size_t len, struct kw_secref *ref, char *why,
                    size_t whysz)
{
	static const char b64[] = ":base64";
	const size_t b64len = sizeof(b64) - 1;
	const char *rule = NULL;

	memset(ref, 0, sizeof(*ref));
	if (whysz)
		why[0] = '\0';
	if (memchr(s, '\0', len))
		return secref_fail(why, whysz,
		                   "a reference must not contain a NUL byte");
	if (len >= b64len && memcmp(s + len - b64len, b64, b64len) == 0) {
		ref->base64 = true;
		len -= b64len;
	}
	if (memchr(s, ':', len))
		return secref_fail(why, whysz,
		                   "the only suffix a reference takes is "
		                   ":base64");

	const char *at = memchr(s, '@', len), *hash = memchr(s, '#', len);
	if (at && hash)
		return secref_fail(why, whysz,
		                   "give either @VERSION or #STAGE, not both");
	const char *sel = at ? at : hash;
	size_t namelen = sel ? (size_t)(sel - s) : len;

	if (kw_name_check(s, namelen, &rule) < 0)
		return secref_fail(why, whysz, rule);
	memcpy(ref->name, s, namelen);
	ref->name[namelen] = '\0';
	if (!sel)
		return 0;

	const char *arg = sel + 1;
	size_t arglen = len - namelen - 1;
	if (memchr(arg, '@', arglen) || memchr(arg, '#', arglen))
		return secref_fail(why, whysz,
		                   "a reference takes one @VERSION or #STAGE");
	if (at && !secref_version(arg, arglen, &ref->version))
		return secref_fail(why, whysz,
		                   "the version after '@' must be a number "
		                   "from 1 to 9223372036854775807");
	if (hash && !secref_stage(arg, arglen, ref->stage))
		return secref_fail(why, whysz,
		                   "the stage after '#' must be current, "
		                   "pending, previous or retired");
	return 0;
}

int kw_secref_format(const struct kw_secref *ref, char *buf, size_t sz)
{
	int n;

	if (ref->version)
		n = snprintf(buf, sz, "%s@%" PRIu64 "%s", ref->name,
		             ref->version, ref->base64 ? ":base64" : "");
	else if (ref->stage[0])
		n = snprintf(buf, sz, "%s#%s%s", ref->name, ref->stage,
		             ref->base64 ? ":base64" : "");
	else
		n = snprintf(buf, sz, "%s%s", ref->name,
		             ref->base64 ? ":base64" : "");
	return n < 0 || (size_t)n >= sz ? KW_ETOOBIG : 0;
}

bool kw_secref_uri(const char *s, size_t len, const char **ret_rest,
                   size_t *ret_restlen)
{
	const size_t n = sizeof(KW_SECREF_URI) - 1;

	if (len < n || memcmp(s, KW_SECREF_URI, n) != 0)
		return false;
	*ret_rest = s + n;
	*ret_restlen = len - n;
	return true;
}
