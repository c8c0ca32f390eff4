/*
 * test_httpguard.c - the destination guard (common/httpguard.c) that the
 * key holder's HTTP client and `keyward mcp proxy` share: the table of
 * refused addresses, with each range's edges, and the rules of
 * httpguard_check (a refused kind without allow_private; plain http only
 * to loopback).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "httpguard.h"
#include "keyward.h"

static void addr(const char *text, struct sockaddr_storage *ret)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	if (strchr(text, ':')) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(443);
		assert_int_equal(inet_pton(AF_INET6, text, &in6->sin6_addr), 1);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		in->sin_family = AF_INET;
		in->sin_port = htons(443);
		assert_int_equal(inet_pton(AF_INET, text, &in->sin_addr), 1);
	}
	*ret = ss;
}

static bool is_private(const char *text)
{
	struct sockaddr_storage ss;

	addr(text, &ss);
	return httpguard_addr_private((const struct sockaddr *)&ss);
}

static void test_addr_private(void **state)
{
	(void)state;
	static const struct {
		const char *addr;
		bool refused;
	} cases[] = {
		/* IPv4, each range with its edges. */
		{ "0.0.0.0", true },
		{ "0.255.255.255", true },
		{ "1.0.0.0", false },
		{ "1.1.1.1", false },
		{ "8.8.8.8", false },
		{ "9.255.255.255", false },
		{ "10.0.0.0", true },
		{ "10.0.0.5", true },
		{ "10.255.255.255", true },
		{ "11.0.0.0", false },
		{ "100.63.255.255", false },
		{ "100.64.0.0", true },
		{ "100.127.255.255", true },
		{ "100.128.0.0", false },
		{ "126.255.255.255", false },
		{ "127.0.0.1", true },
		{ "127.255.255.254", true },
		{ "128.0.0.0", false },
		{ "169.253.255.255", false },
		{ "169.254.0.0", true },
		{ "169.254.169.254", true },
		{ "169.254.255.255", true },
		{ "169.255.0.0", false },
		{ "172.15.255.255", false },
		{ "172.16.0.0", true },
		{ "172.31.255.255", true },
		{ "172.32.0.0", false },
		{ "191.255.255.255", false },
		{ "192.0.0.0", true },
		{ "192.0.0.255", true },
		{ "192.0.1.0", false },
		{ "192.0.2.0", true },
		{ "192.0.2.255", true },
		{ "192.0.3.0", false },
		{ "192.88.98.255", false },
		{ "192.88.99.1", true },
		{ "192.88.100.0", false },
		{ "192.167.255.255", false },
		{ "192.168.0.0", true },
		{ "192.168.255.255", true },
		{ "192.169.0.0", false },
		{ "198.17.255.255", false },
		{ "198.18.0.0", true },
		{ "198.19.255.255", true },
		{ "198.20.0.0", false },
		{ "198.51.99.255", false },
		{ "198.51.100.0", true },
		{ "198.51.100.255", true },
		{ "198.51.101.0", false },
		{ "203.0.112.255", false },
		{ "203.0.113.0", true },
		{ "203.0.113.255", true },
		{ "203.0.114.0", false },
		{ "223.255.255.255", false },
		{ "224.0.0.0", true },
		{ "239.255.255.255", true },
		{ "240.0.0.0", true },
		{ "254.255.255.255", true },
		{ "255.255.255.255", true },
		/* IPv6 specials. */
		{ "::", true },
		{ "::1", true },
		{ "::2", true },
		{ "::8.8.8.8", true },        /* IPv4-compatible, deprecated */
		{ "::ffff:0:8.8.8.8", true }, /* SIIT, in ::/8 */
		{ "1::1", true },
		{ "100::1", true },
		{ "fc00::", true },
		{ "fd12:3456:789a::1", true },
		{ "fdff:ffff::1", true },
		{ "fe80::1", true },
		{ "febf:ffff::1", true },
		{ "fec0::1", true },
		{ "feff::1", true },
		{ "ff02::1", true },
		{ "ff0e::1", true },
		{ "4000::1", true },
		{ "5f00::1", true },
		{ "1fff:ffff::1", true },
		{ "2000::", false },
		{ "3fff:1000::1", false },
		{ "3fff::1", true },
		{ "3fff:fff:ffff::1", true },
		{ "2001::1", true }, /* Teredo */
		{ "2001:1ff:ffff::1", true },
		{ "2001:200::1", false },
		{ "2001:db7:ffff::1", false },
		{ "2001:db8::1", true },
		{ "2001:db8:ffff:ffff::1", true },
		{ "2001:db9::1", false },
		{ "2606:4700:4700::1111", false },
		{ "2a00:1450:4001::200e", false },
		/* IPv4 forms, judged by the IPv4 address. */
		{ "::ffff:8.8.8.8", false },
		{ "::ffff:10.0.0.5", true },
		{ "::ffff:127.0.0.1", true },
		{ "::ffff:169.254.169.254", true },
		{ "::ffff:100.64.0.1", true },
		{ "::ffff:255.255.255.255", true },
		{ "64:ff9b::8.8.8.8", false },
		{ "64:ff9b::10.1.2.3", true },
		{ "64:ff9b::127.0.0.1", true },
		{ "64:ff9b::192.168.1.1", true },
		{ "64:ff9b:1::1", true }, /* local-use NAT64 */
		{ "64:ff9b:0:0:1::8.8.8.8", true },
		{ "2002:808:808::1", false },
		{ "2002:a00:1::1", true },
		{ "2002:7f00:1::1", true },
		{ "2002:c0a8:101::1", true },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (is_private(cases[i].addr) != cases[i].refused)
			fail_msg("%s: expected %s", cases[i].addr,
			         cases[i].refused ? "refused" : "allowed");
	}
	struct sockaddr_un_like {
		sa_family_t family;
		char path[32];
	} un = { .family = AF_UNIX };
	assert_true(httpguard_addr_private((const struct sockaddr *)&un));
	assert_true(httpguard_addr_private(NULL));
}

static void test_check(void **state)
{
	struct sockaddr_storage ss;
	char why[160];

	(void)state;
	addr("8.8.8.8", &ss);
	assert_int_equal(httpguard_check(&ss, false, true, "hint", why,
	                                 sizeof(why)),
	                 0);
	/* Plain http only to loopback, whatever allow_private says. */
	assert_int_equal(httpguard_check(&ss, true, false, "hint", why,
	                                 sizeof(why)),
	                 KW_EDENIED);
	assert_non_null(strstr(why, "plain http://"));
	assert_non_null(strstr(why, "8.8.8.8"));

	addr("10.1.2.3", &ss);
	assert_int_equal(httpguard_check(&ss, false, true,
	                                 "use --allow-private", why,
	                                 sizeof(why)),
	                 KW_EDENIED);
	assert_string_equal(why, "destination 10.1.2.3 is a private address; "
	                         "use --allow-private");
	assert_int_equal(httpguard_check(&ss, true, true, "x", why,
	                                 sizeof(why)),
	                 0);

	addr("127.0.0.1", &ss);
	assert_true(httpguard_addr_loopback(&ss));
	assert_int_equal(httpguard_check(&ss, false, false, "x", why,
	                                 sizeof(why)),
	                 KW_EDENIED);
	assert_non_null(strstr(why, "a loopback address"));
	assert_int_equal(httpguard_check(&ss, true, false, "x", why,
	                                 sizeof(why)),
	                 0);
	addr("::1", &ss);
	assert_true(httpguard_addr_loopback(&ss));
	addr("::ffff:127.0.0.2", &ss);
	assert_true(httpguard_addr_loopback(&ss));
	addr("10.0.0.1", &ss);
	assert_false(httpguard_addr_loopback(&ss));

	/* A reason longer than the buffer is cut, still a string. */
	addr("192.168.1.1", &ss);
	assert_int_equal(httpguard_check(&ss, false, true, "hint", why, 8),
	                 KW_EDENIED);
	assert_int_equal(strlen(why), 7);
}

static void test_listed(void **state)
{
	struct sockaddr_storage set[2], ss;
	char text[INET6_ADDRSTRLEN];

	(void)state;
	addr("127.0.0.1", &set[0]);
	addr("::1", &set[1]);
	addr("127.0.0.1", &ss);
	assert_true(httpguard_addr_listed(set, 2, &ss, true));
	((struct sockaddr_in *)&ss)->sin_port = htons(80);
	assert_true(httpguard_addr_listed(set, 2, &ss, false));
	assert_false(httpguard_addr_listed(set, 2, &ss, true));
	addr("127.0.0.2", &ss);
	assert_false(httpguard_addr_listed(set, 2, &ss, false));
	assert_int_equal(httpguard_addr_port(&set[1]), htons(443));
	httpguard_addr_text(&set[1], text, sizeof(text));
	assert_string_equal(text, "::1");
	httpguard_addr_text(&set[1], text, 2);
	assert_string_equal(text, "(");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr_private),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_listed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
