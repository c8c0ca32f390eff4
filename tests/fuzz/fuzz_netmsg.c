/*
 * fuzz_netmsg.c - the channel between keywardd and keyward-net
 * (agent/net/netmsg.c): the decoder both sides run on what the other
 * sent.
 *
 * Input: a payload (no length prefix); its first 4 bytes also serve as a
 * length prefix for netmsg_frame_len.
 * Properties: a refusal leaves the message alone; an accepted payload is
 * canonical (encoded again it gives a frame of exactly the input, behind
 * the right prefix); every string and bytes field of it (the CA PEM
 * included) lies inside the input and is within its bound; a frame length
 * is 0 or within 1..NETMSG_FRAME_MAX.
 */
#include <string.h>

#include "fuzz.h"
#include "netmsg.h"
#include "secmem.h"

static bool inside(netmsg_str s, const uint8_t *data, size_t size, size_t max)
{
	if (s.len == 0)
		return true;
	const uint8_t *p = (const uint8_t *)s.p;
	return s.len <= max && p >= data && p + s.len <= data + size;
}

static void check_strings(const netmsg *m, const uint8_t *data, size_t size)
{
	FUZZ_CHECK(inside(m->host, data, size, NETMSG_HOST_MAX));
	FUZZ_CHECK(inside(m->url, data, size, NETMSG_URL_MAX));
	FUZZ_CHECK(inside(m->method, data, size, NETMSG_METHOD_MAX));
	FUZZ_CHECK(inside(m->error, data, size, NETMSG_ERROR_MAX));
	FUZZ_CHECK(m->nheaders <= NETMSG_HEADERS_MAX);
	FUZZ_CHECK(m->nkeep <= NETMSG_KEEP_MAX);
	FUZZ_CHECK(m->naddrs <= NETMSG_ADDRS_MAX);
	for (size_t i = 0; i < m->nheaders; i++)
		FUZZ_CHECK(
			inside(m->headers[i], data, size, NETMSG_HEADER_MAX));
	for (size_t i = 0; i < m->nkeep; i++)
		FUZZ_CHECK(inside(m->keep[i], data, size, NETMSG_HEADER_MAX));
	FUZZ_CHECK(m->body_len == 0 ||
	           (m->body >= data && m->body + m->body_len <= data + size));
	FUZZ_CHECK(m->ca_pem_len <= NETMSG_CA_MAX);
	FUZZ_CHECK(m->ca_pem_len == 0 ||
	           (m->ca_pem >= data &&
	            m->ca_pem + m->ca_pem_len <= data + size));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size >= 4) {
		size_t n = netmsg_frame_len(data);
		FUZZ_CHECK(n <= NETMSG_FRAME_MAX);
	}
	if (size > NETMSG_FRAME_MAX)
		return 0;

	netmsg m, orig;
	memset(&m, 0xa5, sizeof(m));
	orig = m;
	if (netmsg_decode(data, size, &m) < 0) {
		FUZZ_CHECK(memcmp(&m, &orig, sizeof(m)) == 0);
		return 0;
	}
	check_strings(&m, data, size);

	unsigned char *frame = NULL;
	size_t len = 0;
	FUZZ_CHECK(netmsg_encode(&m, &frame, &len) == 0);
	FUZZ_CHECK(len == size + 4);
	FUZZ_CHECK(netmsg_frame_len(frame) == size);
	FUZZ_CHECK(memcmp(frame + 4, data, size) == 0);
	kw_wipefree(frame);
	return 0;
}
