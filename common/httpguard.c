/*
 * httpguard.c - see httpguard.h.
 *
 * The refused ranges are tables, checked in order; an IPv6 address that
 * reaches an IPv4 one (mapped, NAT64, 6to4) is judged by that address.
 */
#include "httpguard.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "keyward.h"

struct v4_range {
	uint32_t net;
	unsigned len;
	const char *kind;
};

/* First match wins: the broadcast address before 240/4. */
static const struct v4_range v4_refused[] = {
	{ 0xffffffffu, 32, "a broadcast" },
	{ 0x00000000u, 8, "an unspecified" },
	{ 0x0a000000u, 8, "a private" },
	{ 0x64400000u, 10, "a shared (CGNAT)" },
	{ 0x7f000000u, 8, "a loopback" },
	{ 0xa9fe0000u, 16, "a link-local" },
	{ 0xac100000u, 12, "a private" },
	{ 0xc0000000u, 24, "a reserved" }, /* IETF protocol assignments */
	{ 0xc0000200u, 24, "a documentation" },
	{ 0xc0586300u, 24, "a reserved" }, /* retired 6to4 relay anycast */
	{ 0xc0a80000u, 16, "a private" },
	{ 0xc6120000u, 15, "a benchmarking" },
	{ 0xc6336400u, 24, "a documentation" },
	{ 0xcb007100u, 24, "a documentation" },
	{ 0xe0000000u, 4, "a multicast" },
	{ 0xf0000000u, 4, "a reserved" },
};

struct v6_range {
	uint8_t prefix[16];
	unsigned len;
	const char *kind;
};

/* Checked after the IPv4 forms; anything outside 2000::/3 left over is
 * reserved or unallocated. 2001::/23 holds a few globally reachable
 * anycast and ORCHID blocks, none of them a web server. */
static const struct v6_range v6_refused[] = {
	{ { 0 }, 128, "an unspecified" },
	{ { [15] = 1 }, 128, "a loopback" },
	{ { 0xfc }, 7, "a private" },
	{ { 0xfe, 0x80 }, 10, "a link-local" },
	{ { 0xfe, 0xc0 }, 10, "a private" }, /* site-local, deprecated */
	{ { 0xff }, 8, "a multicast" },
	{ { 0x20, 0x01, 0x0d, 0xb8 }, 32, "a documentation" },
	{ { 0x20, 0x01 }, 23, "a reserved" },
	{ { 0x3f, 0xff }, 20, "a documentation" },
};

static const uint8_t v4_mapped[12] = { [10] = 0xff, [11] = 0xff };
static const uint8_t nat64_wkp[12] = { 0x00, 0x64, 0xff, 0x9b };

static uint32_t load_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static const char *v4_kind(uint32_t a)
{
	for (size_t i = 0; i < sizeof(v4_refused) / sizeof(v4_refused[0]);
	     i++) {
		uint32_t mask = UINT32_MAX << (32 - v4_refused[i].len);
		if ((a & mask) == v4_refused[i].net)
			return v4_refused[i].kind;
	}
	return NULL;
}

static bool in_prefix6(const uint8_t a[16], const uint8_t p[16], unsigned len)
{
	unsigned whole = len / 8, rest = len % 8;

	if (memcmp(a, p, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xffu << (8 - rest));
	return (a[whole] & mask) == (p[whole] & mask);
}

static const char *v6_kind(const uint8_t a[16])
{
	/* Forms that reach an IPv4 address are judged by that address. */
	if (memcmp(a, v4_mapped, 12) == 0 || memcmp(a, nat64_wkp, 12) == 0)
		return v4_kind(load_be32(a + 12));
	if (a[0] == 0x20 && a[1] == 0x02) /* 6to4 */
		return v4_kind(load_be32(a + 2));
	for (size_t i = 0; i < sizeof(v6_refused) / sizeof(v6_refused[0]);
	     i++) {
		if (in_prefix6(a, v6_refused[i].prefix, v6_refused[i].len))
			return v6_refused[i].kind;
	}
	if ((a[0] & 0xe0) != 0x20)
		return "a reserved";
	return NULL;
}

const char *httpguard_addr_kind(const struct sockaddr *addr)
{
	if (!addr)
		return "an unknown";
	if (addr->sa_family == AF_INET) {
		struct sockaddr_in in;
		memcpy(&in, addr, sizeof(in));
		return v4_kind(ntohl(in.sin_addr.s_addr));
	}
	if (addr->sa_family == AF_INET6) {
		struct sockaddr_in6 in6;
		memcpy(&in6, addr, sizeof(in6));
		return v6_kind(in6.sin6_addr.s6_addr);
	}
	return "an unknown";
}

bool httpguard_addr_private(const struct sockaddr *addr)
{
	return httpguard_addr_kind(addr) != NULL;
}

bool httpguard_addr_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		return ntohl(in->sin_addr.s_addr) >> 24 == 127;
	}
	const uint8_t *a = ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr;
	static const uint8_t one[16] = { [15] = 1 };
	return memcmp(a, one, 16) == 0 ||
	       (memcmp(a, v4_mapped, 12) == 0 && a[12] == 127);
}

void httpguard_addr_text(const struct sockaddr_storage *ss, char *out,
                         size_t outsz)
{
	const void *a;

	if (ss->ss_family == AF_INET)
		a = &((const struct sockaddr_in *)ss)->sin_addr;
	else
		a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
	if (!inet_ntop(ss->ss_family, a, out, (socklen_t)outsz))
		snprintf(out, outsz, "(unprintable)");
}

bool httpguard_addr_equal(const struct sockaddr_storage *x,
                          const struct sockaddr_storage *y)
{
	if (x->ss_family != y->ss_family)
		return false;
	if (x->ss_family == AF_INET)
		return ((const struct sockaddr_in *)x)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)y)->sin_addr.s_addr;
	return memcmp(&((const struct sockaddr_in6 *)x)->sin6_addr,
	              &((const struct sockaddr_in6 *)y)->sin6_addr, 16) == 0;
}

in_port_t httpguard_addr_port(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET ?
	               ((const struct sockaddr_in *)ss)->sin_port :
	               ((const struct sockaddr_in6 *)ss)->sin6_port;
}

bool httpguard_addr_listed(const struct sockaddr_storage *set, size_t n,
                           const struct sockaddr_storage *ss, bool with_port)
{
	for (size_t i = 0; i < n; i++) {
		if (httpguard_addr_equal(ss, &set[i]) &&
		    (!with_port ||
		     httpguard_addr_port(ss) == httpguard_addr_port(&set[i])))
			return true;
	}
	return false;
}

int httpguard_check(const struct sockaddr_storage *ss, bool allow_private,
                    bool https, const char *private_hint, char *why,
                    size_t whysz)
{
	char text[INET6_ADDRSTRLEN];
	const char *kind = httpguard_addr_kind((const struct sockaddr *)ss);

	if (kind && !allow_private) {
		httpguard_addr_text(ss, text, sizeof(text));
		snprintf(why, whysz, "destination %s is %s address; %s", text,
		         kind, private_hint);
		return KW_EDENIED;
	}
	if (!https && !httpguard_addr_loopback(ss)) {
		httpguard_addr_text(ss, text, sizeof(text));
		snprintf(why, whysz,
		         "plain http:// is allowed only to loopback addresses; "
		         "destination %s is not one",
		         text);
		return KW_EDENIED;
	}
	return 0;
}
