/*
 * netmsg.h - the messages between keywardd (the key holder) and keyward-net
 * (the HTTP helper), over their socketpair. docs/architecture.md tells why
 * the helper exists; this file is the whole contract of the channel.
 *
 * A frame is a 4-byte big-endian payload length (1..NETMSG_FRAME_MAX)
 * followed by the payload. Every payload starts with a type byte and a
 * 4-byte big-endian transfer id; the fields that follow are fixed for the
 * type and in this order (u8/u16/u32 big-endian integers; a "string" is a
 * u16 length and that many bytes, no NUL, each bound below; "bytes" is a
 * u32 length and that many bytes):
 *
 *   NETMSG_RESOLVE  (key holder -> helper) host: string (1..NETMSG_HOST_MAX)
 *   NETMSG_HTTP     (key holder -> helper)
 *       method: string ("GET" or "POST"), url: string (1..NETMSG_URL_MAX),
 *       naddrs: u8 (1..NETMSG_ADDRS_MAX) x address,
 *       nheaders: u8 (0..NETMSG_HEADERS_MAX) x string ("Name: value"),
 *       nkeep: u8 (0..NETMSG_KEEP_MAX) x string (response header names),
 *       body: bytes (0..NETMSG_BODY_MAX),
 *       connect_ms: u32, total_ms: u32 (1..NETMSG_TIMEOUT_MAX_MS),
 *       response_max: u32 (0..NETMSG_RESPONSE_MAX),
 *       ca_pem: bytes (0..NETMSG_CA_MAX; the PEM text of the CAs to trust
 *       instead of the system's, read by the key holder from its
 *       configured ca_file; empty: the system's CAs. keyward-net opens no
 *       CA file of a request: its sandbox would not let it)
 *   NETMSG_CANCEL   (key holder -> helper) nothing more
 *   NETMSG_RESOLVED (helper -> key holder)
 *       error: string (0..NETMSG_ERROR_MAX; empty: resolved),
 *       naddrs: u8 (0..NETMSG_ADDRS_MAX) x address
 *   NETMSG_DONE     (helper -> key holder)
 *       curl_code: u32 (0: the transfer completed), http_status: u16,
 *       flags: u8 (NETMSG_F_*), error: string (0..NETMSG_ERROR_MAX),
 *       nheaders: u8 (0..NETMSG_KEEP_MAX) x string (the kept headers,
 *       "Name: value" as received, each cut to NETMSG_HEADER_MAX),
 *       body: bytes (0..response_max of the request)
 *
 * An address is family: u8 (4 or 6), 16 bytes (an IPv4 address in the
 * first 4, the rest zero), port: u16 (0 in NETMSG_RESOLVED).
 *
 * A payload that is short, long, of an unknown type, or has a field out of
 * its bounds is a protocol error: netmsg_decode_* says so, and whoever
 * reads it drops the channel (the helper exits; the key holder restarts
 * it). Strings carry no NUL and, except body, only bytes 0x20..0x7e.
 *
 * Pure code: no I/O, no logging; decoded messages point into the payload
 * they were decoded from.
 */
#ifndef KW_NETMSG_H
#define KW_NETMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define NETMSG_HOST_MAX       1024u
#define NETMSG_URL_MAX        1024u
#define NETMSG_ADDRS_MAX      16u
#define NETMSG_HEADERS_MAX    16u
#define NETMSG_HEADER_MAX     1024u
#define NETMSG_KEEP_MAX       8u
#define NETMSG_BODY_MAX       (256u * 1024u)
#define NETMSG_RESPONSE_MAX   (1024u * 1024u)
#define NETMSG_TIMEOUT_MAX_MS (24u * 3600u * 1000u)
#define NETMSG_CA_MAX         (512u * 1024u)
#define NETMSG_ERROR_MAX      256u
#define NETMSG_METHOD_MAX     8u
/* The largest payload either side sends (a full NETMSG_HTTP or DONE). */
#define NETMSG_FRAME_MAX (NETMSG_RESPONSE_MAX + 64u * 1024u)
/* A full NETMSG_HTTP: the body, the CAs and every string at its bound
 * with its length prefix; 64 bytes cover the fixed fields. */
#define NETMSG_HTTP_MAX                                                      \
	(NETMSG_BODY_MAX + NETMSG_CA_MAX + NETMSG_URL_MAX +                  \
	 NETMSG_METHOD_MAX + NETMSG_ADDRS_MAX * 19u +                        \
	 (NETMSG_HEADERS_MAX + NETMSG_KEEP_MAX) * (2u + NETMSG_HEADER_MAX) + \
	 64u)
_Static_assert(NETMSG_HTTP_MAX <= NETMSG_FRAME_MAX,
               "a full NETMSG_HTTP fits a frame");

enum netmsg_type {
	NETMSG_RESOLVE = 1,
	NETMSG_HTTP = 2,
	NETMSG_CANCEL = 3,
	NETMSG_RESOLVED = 4,
	NETMSG_DONE = 5,
};

/* NETMSG_DONE flags. */
#define NETMSG_F_TOO_BIG        0x01u /* the body passed response_max */
#define NETMSG_F_SOCKET_REFUSED 0x02u /* an address not pinned was tried */
#define NETMSG_F_TIMEOUT        0x04u /* connect or total time ran out */

typedef struct netmsg_str {
	const char *p; /* not NUL-terminated */
	size_t len;
} netmsg_str;

typedef struct netmsg_addr {
	struct sockaddr_storage ss; /* AF_INET or AF_INET6, port set */
} netmsg_addr;

typedef struct netmsg {
	enum netmsg_type type;
	uint32_t id;
	/* NETMSG_RESOLVE */
	netmsg_str host;
	/* NETMSG_HTTP */
	netmsg_str method, url;
	const unsigned char *ca_pem; /* not NUL-terminated; NULL when empty */
	size_t ca_pem_len;
	netmsg_str headers[NETMSG_HEADERS_MAX];
	size_t nheaders;
	netmsg_str keep[NETMSG_KEEP_MAX];
	size_t nkeep;
	uint32_t connect_ms, total_ms, response_max;
	/* NETMSG_HTTP, NETMSG_RESOLVED */
	netmsg_addr addrs[NETMSG_ADDRS_MAX];
	size_t naddrs;
	/* NETMSG_HTTP (request), NETMSG_DONE (response) */
	const unsigned char *body;
	size_t body_len;
	/* NETMSG_RESOLVED, NETMSG_DONE */
	netmsg_str error;
	/* NETMSG_DONE */
	uint32_t curl_code;
	uint16_t http_status;
	uint8_t flags;
} netmsg;

/*
 * Decode payload (len bytes, the frame's length already checked against
 * NETMSG_FRAME_MAX) into *ret_msg, whose pointers then point into payload.
 * 0, or KW_EPROTO with *ret_msg untouched.
 */
int netmsg_decode(const unsigned char *payload, size_t len, netmsg *ret_msg);

/*
 * Encode m (its type's fields, checked against the same bounds as the
 * decoder) as a whole frame, length prefix included, into a new buffer
 * from kw_wipealloc (the body may be a secret): *ret_frame, *ret_len; the
 * caller kw_wipefree()s it. 0, KW_EINVAL (a field out of bounds), KW_ENOMEM.
 */
int netmsg_encode(const netmsg *m, unsigned char **ret_frame, size_t *ret_len);

/* A frame's payload length from its 4-byte prefix; 0 if it is out of
 * 1..NETMSG_FRAME_MAX (a protocol error). */
size_t netmsg_frame_len(const unsigned char prefix[static 4]);

/* s as a NUL-terminated copy into out (outsz > s.len), for a field whose
 * bound fits the caller's buffer. False if it does not fit. */
bool netmsg_str_copy(netmsg_str s, char *out, size_t outsz);

/* Does s equal the NUL-terminated text? */
bool netmsg_str_is(netmsg_str s, const char *text);

#endif
