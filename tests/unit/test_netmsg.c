/*
 * test_netmsg.c - the channel between keywardd and keyward-net
 * (agent/net/netmsg.h): every type round-trips; a field out of its bound
 * is refused by the encoder and the decoder alike; a short, long,
 * unknown or malformed payload is a protocol error. A request carries the
 * CA file's PEM text (bytes, up to NETMSG_CA_MAX), never a path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "keyward.h"
#include "netmsg.h"
#include "secmem.h"

static netmsg_str S(const char *s)
{
	return (netmsg_str){ s, strlen(s) };
}

static netmsg_addr v4(const char *text, uint16_t port)
{
	netmsg_addr a;
	struct sockaddr_in *in = (struct sockaddr_in *)&a.ss;

	memset(&a, 0, sizeof(a));
	in->sin_family = AF_INET;
	in->sin_port = htons(port);
	assert_int_equal(inet_pton(AF_INET, text, &in->sin_addr), 1);
	return a;
}

static netmsg_addr v6(const char *text, uint16_t port)
{
	netmsg_addr a;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a.ss;

	memset(&a, 0, sizeof(a));
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons(port);
	assert_int_equal(inet_pton(AF_INET6, text, &in6->sin6_addr), 1);
	return a;
}

static const unsigned char pem[] = "-----BEGIN CERTIFICATE-----\r\n"
				   "MIIBkTCB+wIJAKHBfpegPjMCMA0=\r\n"
				   "-----END CERTIFICATE-----\r\n";

static netmsg http_request(void)
{
	static const unsigned char body[] = "{\"value\":\"s3cr3t\"}";
	netmsg m = {
		.type = NETMSG_HTTP,
		.id = 7,
		.method = S("POST"),
		.url = S("https://hooks.example:8443/rotate"),
		.naddrs = 2,
		.headers = { S("Content-Type: application/json"),
		             S("Expect:") },
		.nheaders = 2,
		.keep = { S("Content-Type") },
		.nkeep = 1,
		.body = body,
		.body_len = sizeof(body) - 1,
		.connect_ms = 10000,
		.total_ms = 30000,
		.response_max = 65536,
		.ca_pem = pem,
		.ca_pem_len = sizeof(pem) - 1,
	};
	m.addrs[0] = v4("93.184.216.34", 8443);
	m.addrs[1] = v6("2001:db8::1", 8443);
	return m;
}

static bool str_eq(netmsg_str a, netmsg_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* Encode m, check the prefix, decode the payload into *out; the frame
 * stays allocated in *ret_frame (out points into it). */
static void round_trip(const netmsg *m, netmsg *out, unsigned char **ret_frame)
{
	unsigned char *frame = NULL;
	size_t len = 0;

	assert_int_equal(netmsg_encode(m, &frame, &len), 0);
	assert_true(len > 4);
	assert_int_equal(netmsg_frame_len(frame), len - 4);
	assert_int_equal(netmsg_decode(frame + 4, len - 4, out), 0);
	assert_int_equal(out->type, m->type);
	assert_int_equal(out->id, m->id);
	*ret_frame = frame;
}

static void test_http_round_trip(void **state)
{
	(void)state;
	netmsg m = http_request(), out;
	unsigned char *frame;

	round_trip(&m, &out, &frame);
	assert_true(str_eq(out.method, m.method));
	assert_true(str_eq(out.url, m.url));
	assert_int_equal(out.ca_pem_len, m.ca_pem_len);
	assert_memory_equal(out.ca_pem, pem, m.ca_pem_len);
	assert_int_equal(out.naddrs, 2);
	assert_memory_equal(&out.addrs[0].ss, &m.addrs[0].ss,
	                    sizeof(struct sockaddr_in));
	assert_memory_equal(&out.addrs[1].ss, &m.addrs[1].ss,
	                    sizeof(struct sockaddr_in6));
	assert_int_equal(out.nheaders, 2);
	assert_true(str_eq(out.headers[1], m.headers[1]));
	assert_int_equal(out.nkeep, 1);
	assert_true(str_eq(out.keep[0], m.keep[0]));
	assert_int_equal(out.body_len, m.body_len);
	assert_memory_equal(out.body, m.body, m.body_len);
	assert_int_equal(out.connect_ms, 10000);
	assert_int_equal(out.total_ms, 30000);
	assert_int_equal(out.response_max, 65536);
	kw_wipefree(frame);
}

/* No CA: the system's; and a request with every bytes field full still
 * fits a frame. */
static void test_http_ca_bounds(void **state)
{
	(void)state;
	netmsg m = http_request(), out;
	unsigned char *frame;

	m.ca_pem = NULL;
	m.ca_pem_len = 0;
	round_trip(&m, &out, &frame);
	assert_int_equal(out.ca_pem_len, 0);
	assert_null(out.ca_pem);
	kw_wipefree(frame);

	unsigned char *big = malloc(NETMSG_CA_MAX + NETMSG_BODY_MAX);
	assert_non_null(big);
	memset(big, '-', NETMSG_CA_MAX + NETMSG_BODY_MAX);
	m.ca_pem = big;
	m.ca_pem_len = NETMSG_CA_MAX;
	m.body = big + NETMSG_CA_MAX;
	m.body_len = NETMSG_BODY_MAX;
	round_trip(&m, &out, &frame);
	assert_int_equal(out.ca_pem_len, NETMSG_CA_MAX);
	assert_int_equal(out.body_len, NETMSG_BODY_MAX);
	assert_memory_equal(out.ca_pem, big, NETMSG_CA_MAX);
	kw_wipefree(frame);

	/* One byte over: the encoder refuses, and so does the decoder when
	 * the length field says so and the bytes are there. */
	size_t len;
	m.ca_pem_len = NETMSG_CA_MAX + 1;
	assert_int_equal(netmsg_encode(&m, &frame, &len), KW_EINVAL);
	m.ca_pem_len = NETMSG_CA_MAX;
	assert_int_equal(netmsg_encode(&m, &frame, &len), 0);
	unsigned char *p = malloc(len - 4 + 1);
	assert_non_null(p);
	memcpy(p, frame + 4, len - 4);
	kw_wipefree(frame);
	size_t at = len - 4 - NETMSG_CA_MAX - 4; /* the CA's length field */
	uint32_t over = NETMSG_CA_MAX + 1;
	p[at] = (unsigned char)(over >> 24);
	p[at + 1] = (unsigned char)(over >> 16);
	p[at + 2] = (unsigned char)(over >> 8);
	p[at + 3] = (unsigned char)over;
	p[len - 4] = '-';
	assert_int_equal(netmsg_decode(p, len - 4 + 1, &out), KW_EPROTO);
	free(p);
	free(big);
}

static void test_replies_round_trip(void **state)
{
	(void)state;
	netmsg r = { .type = NETMSG_RESOLVED, .id = 3, .naddrs = 2 }, out;
	unsigned char *frame;

	r.addrs[0] = v4("127.0.0.1", 0);
	r.addrs[1] = v6("::1", 0);
	round_trip(&r, &out, &frame);
	assert_int_equal(out.naddrs, 2);
	assert_int_equal(out.error.len, 0);
	assert_int_equal(out.addrs[1].ss.ss_family, AF_INET6);
	kw_wipefree(frame);

	static const unsigned char body[] = "upstream down";
	netmsg d = {
		.type = NETMSG_DONE,
		.id = 9,
		.curl_code = 0,
		.http_status = 503,
		.flags = NETMSG_F_TIMEOUT,
		.error = S("Operation timed out"),
		.headers = { S("Content-Type: text/plain") },
		.nheaders = 1,
		.body = body,
		.body_len = sizeof(body) - 1,
	};
	round_trip(&d, &out, &frame);
	assert_int_equal(out.http_status, 503);
	assert_int_equal(out.flags, NETMSG_F_TIMEOUT);
	assert_true(str_eq(out.error, d.error));
	assert_true(str_eq(out.headers[0], d.headers[0]));
	assert_memory_equal(out.body, body, d.body_len);
	kw_wipefree(frame);

	netmsg q = { .type = NETMSG_RESOLVE, .id = 1, .host = S("a.example") };
	round_trip(&q, &out, &frame);
	assert_true(str_eq(out.host, q.host));
	kw_wipefree(frame);

	netmsg c = { .type = NETMSG_CANCEL, .id = 4 };
	round_trip(&c, &out, &frame);
	kw_wipefree(frame);
}

static void refused(const netmsg *m)
{
	unsigned char *frame = (unsigned char *)"untouched";
	size_t len = 12345;

	assert_int_equal(netmsg_encode(m, &frame, &len), KW_EINVAL);
	assert_string_equal((const char *)frame, "untouched");
	assert_int_equal(len, 12345);
}

static void test_encode_refuses_out_of_bounds(void **state)
{
	(void)state;
	static char big[NETMSG_URL_MAX + 2];
	netmsg m;

	memset(big, 'a', sizeof(big) - 1);
	m = http_request();
	m.method = S("DELETE");
	refused(&m);
	m = http_request();
	m.url = S(big);
	refused(&m);
	m = http_request();
	m.url = S("https://x/\n");
	refused(&m);
	m = http_request();
	m.naddrs = 0;
	refused(&m);
	m = http_request();
	m.naddrs = NETMSG_ADDRS_MAX + 1;
	refused(&m);
	m = http_request();
	m.addrs[0] = v4("10.0.0.1", 0); /* a transfer's address has a port */
	refused(&m);
	m = http_request();
	m.nheaders = NETMSG_HEADERS_MAX + 1;
	refused(&m);
	m = http_request();
	m.body_len = NETMSG_BODY_MAX + 1;
	refused(&m);
	m = http_request();
	m.total_ms = 0;
	refused(&m);
	m = http_request();
	m.response_max = NETMSG_RESPONSE_MAX + 1;
	refused(&m);
	m = (netmsg){ .type = NETMSG_RESOLVE, .host = S("") };
	refused(&m);
	m = (netmsg){ .type = (enum netmsg_type)99 };
	refused(&m);
}

/* The payload of m, copied into a buffer of its own. */
static unsigned char *payload_of(const netmsg *m, size_t *ret_len)
{
	unsigned char *frame = NULL;
	size_t len = 0;

	assert_int_equal(netmsg_encode(m, &frame, &len), 0);
	unsigned char *p = malloc(len - 4 + 1);
	assert_non_null(p);
	memcpy(p, frame + 4, len - 4);
	kw_wipefree(frame);
	*ret_len = len - 4;
	return p;
}

static void decode_refused(const unsigned char *p, size_t len)
{
	netmsg out;
	memset(&out, 0x5a, sizeof(out));
	netmsg orig = out;

	assert_int_equal(netmsg_decode(p, len, &out), KW_EPROTO);
	assert_memory_equal(&out, &orig, sizeof(out));
}

static void test_decode_refuses_malformed(void **state)
{
	(void)state;
	netmsg m = http_request();
	size_t len;
	unsigned char *p = payload_of(&m, &len);

	/* Every truncation, and a byte too many. */
	for (size_t n = 0; n < len; n++)
		decode_refused(p, n);
	p[len] = 0;
	decode_refused(p, len + 1);
	/* An unknown type. */
	p[0] = 0x42;
	decode_refused(p, len);
	p[0] = NETMSG_HTTP;
	/* The method's length past the payload. */
	p[5] = 0xff;
	decode_refused(p, len);
	p[5] = 0;
	/* A method not allowed ("POST" -> "PUST"). */
	p[8] = 'U';
	decode_refused(p, len);
	free(p);

	/* A reply the helper never sends as a request, with an address of
	 * an unknown family. */
	netmsg r = { .type = NETMSG_RESOLVED, .naddrs = 1 };
	r.addrs[0] = v4("127.0.0.1", 0);
	p = payload_of(&r, &len);
	size_t fam = len - 19;
	assert_int_equal(p[fam], 4);
	p[fam] = 5;
	decode_refused(p, len);
	p[fam] = 4;
	p[fam + 10] = 1; /* a byte past an IPv4 address */
	decode_refused(p, len);
	free(p);

	/* A control character inside a string. */
	netmsg q = { .type = NETMSG_RESOLVE, .host = S("a.example") };
	p = payload_of(&q, &len);
	p[len - 1] = '\n';
	decode_refused(p, len);
	free(p);
}

static void test_frame_len(void **state)
{
	(void)state;
	const unsigned char zero[4] = { 0, 0, 0, 0 };
	const unsigned char one[4] = { 0, 0, 0, 1 };
	unsigned char max[4], over[4];
	uint32_t v = NETMSG_FRAME_MAX;

	for (int i = 0; i < 4; i++) {
		max[i] = (unsigned char)(v >> (24 - 8 * i));
		over[i] = (unsigned char)((v + 1) >> (24 - 8 * i));
	}
	assert_int_equal(netmsg_frame_len(zero), 0);
	assert_int_equal(netmsg_frame_len(one), 1);
	assert_int_equal(netmsg_frame_len(max), NETMSG_FRAME_MAX);
	assert_int_equal(netmsg_frame_len(over), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_http_round_trip),
		cmocka_unit_test(test_http_ca_bounds),
		cmocka_unit_test(test_replies_round_trip),
		cmocka_unit_test(test_encode_refuses_out_of_bounds),
		cmocka_unit_test(test_decode_refuses_malformed),
		cmocka_unit_test(test_frame_len),
	};
	if (kw_secmem_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
