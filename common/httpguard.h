/*
 * httpguard.h - the destination guard for HTTP requests to hosts a user
 * names: the key holder's (agent/net/httpc.h: webhook rotators, OAuth
 * endpoints) and `keyward mcp proxy`'s (cli/mcp_proxy_dest.c). Which
 * resolved addresses a request may reach, and the address helpers that
 * pin a transfer to the checked ones.
 *
 * Refused unless the caller allows private addresses (a schedule's
 * allow_private, the proxy's --allow-private): loopback, private
 * (RFC 1918, fc00::/7, fec0::/10), link-local, shared (CGNAT, 100.64/10),
 * unspecified, multicast, broadcast, documentation, benchmarking, reserved
 * or unallocated (everything outside 2000::/3 not named above, 240/4,
 * 2001::/23), and the IPv4-mapped, NAT64 (64:ff9b::/96) and 6to4
 * (2002::/16) forms of refused IPv4 addresses, which are judged by the
 * IPv4 address they reach. Plain http:// is refused unless every address
 * is loopback (allow_insecure itself is the caller's to check).
 *
 * Pure functions: no allocation, no logging, no I/O, safe from any thread.
 * Except where NULL or another family is said to be allowed, every
 * sockaddr_storage passed here holds an AF_INET or AF_INET6 address.
 */
#ifndef KW_HTTPGUARD_H
#define KW_HTTPGUARD_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/*
 * What kind of refused address addr (struct sockaddr_in or _in6) is, as
 * the words before "address" in a sentence: "a private", "a loopback",
 * "a reserved", ...; NULL if it is a public one. "an unknown" for any
 * other family, and for NULL. The string is static.
 */
const char *httpguard_addr_kind(const struct sockaddr *addr);

/* Is addr one the guard refuses without allow_private? True for any other
 * family, and for NULL. */
bool httpguard_addr_private(const struct sockaddr *addr);

/* Is ss 127/8, ::1 or an IPv4-mapped 127/8 address? */
bool httpguard_addr_loopback(const struct sockaddr_storage *ss);

/* ss's address (no port, no brackets) as text into out; "(unprintable)"
 * if it does not fit. outsz >= 1; INET6_ADDRSTRLEN always fits. */
void httpguard_addr_text(const struct sockaddr_storage *ss, char *out,
                         size_t outsz);

/* Same family and address (the port is not compared). */
bool httpguard_addr_equal(const struct sockaddr_storage *x,
                          const struct sockaddr_storage *y);

/* ss's port, in network byte order. */
in_port_t httpguard_addr_port(const struct sockaddr_storage *ss);

/* Is ss's address (and, if with_port, its port too) that of one of
 * set[0..n)? */
bool httpguard_addr_listed(const struct sockaddr_storage *set, size_t n,
                           const struct sockaddr_storage *ss, bool with_port);

/*
 * May a request go to ss? 0 if so; else KW_EDENIED, with the reason as a
 * sentence naming the address in why (truncated to whysz, whysz >= 1):
 * a refused kind without allow_private, or a non-loopback address for
 * plain http (https false). A refused kind is reported first, followed by
 * private_hint (what would allow it: "the schedule needs allow_private").
 */
int httpguard_check(const struct sockaddr_storage *ss, bool allow_private,
                    bool https, const char *private_hint, char *why,
                    size_t whysz);

#endif
