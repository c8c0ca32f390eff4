/*
 * sse.h - a bounded, incremental parser of Server-Sent Events streams
 * (the WHATWG HTML "event stream" format), for `keyward mcp proxy`, which
 * reads the text/event-stream answers of remote MCP servers.
 *
 * Bytes are fed as they arrive, in pieces cut anywhere; each event is
 * handed to the caller as soon as the blank line that ends it has been
 * read. The rules are the standard's:
 *   - lines end with CRLF, LF or CR (a CR at the end of one piece and an
 *     LF at the start of the next are one line end); a UTF-8 byte order
 *     mark at the very start is skipped;
 *   - a line starting with ':' is a comment and is ignored;
 *   - "field: value" (one blank after the colon is dropped; a line
 *     without a colon is a field with an empty value): "data" appends the
 *     value and a newline to the data buffer, "event" sets the type, "id"
 *     sets the last event id (unless the value holds a NUL), "retry" sets
 *     the reconnection time when the value is all digits; other fields are
 *     ignored;
 *   - a blank line ends the event: the data loses its last newline, and
 *     the event is reported (also with empty data: the caller wants the id
 *     of a priming event); the type is reset, the last event id is not;
 *   - an event not ended by a blank line when the stream ends is dropped.
 *
 * Bounds: an event's data holds at most data_max bytes (set at creation).
 * An event with more is not delivered whole: its data is dropped, and it
 * is reported with too_big set (and no data) when it ends, so that the
 * caller can say what was lost. An id longer than KW_SSE_ID_MAX bytes is
 * ignored (the last event id stays as it was); a type longer than
 * KW_SSE_TYPE_MAX makes the event's type "" with type_too_long set.
 * Buffers that held data are wiped when freed. Pure: no I/O, no logging.
 */
#ifndef KW_SSE_H
#define KW_SSE_H

#include <stdbool.h>
#include <stddef.h>

#define KW_SSE_ID_MAX   1024u
#define KW_SSE_TYPE_MAX 64u
/* The reconnection time a "retry" field can set, at most (ms). */
#define KW_SSE_RETRY_MAX 86400000L

typedef struct kw_sse kw_sse;

/* One event, valid during the callback only. */
struct kw_sse_event {
	const char *type; /* "" when no event field was given */
	bool type_too_long;
	const char *data; /* NUL-terminated; data_len bytes (NULs possible) */
	size_t data_len;
	bool too_big;        /* the data exceeded data_max and was dropped */
	const char *last_id; /* the last event id so far ("" for none) */
	bool has_id;         /* this event set last_id */
};

/* Called for each event; 0 to go on, or a negative KW_E* code, which
 * stops kw_sse_feed and is returned by it. */
typedef int (*kw_sse_event_fn)(void *arg, const struct kw_sse_event *ev);

/* A parser for one stream; data_max >= 1. 0 or KW_ENOMEM. */
int kw_sse_new(size_t data_max, kw_sse **ret);
/* Wipe and free; NULL is fine. */
void kw_sse_free(kw_sse *p);

/*
 * Parse data[0..len), calling fn for each event completed in it. 0, or
 * KW_ENOMEM, or fn's error (the parser must then not be fed again).
 */
int kw_sse_feed(kw_sse *p, const char *data, size_t len, kw_sse_event_fn fn,
                void *arg);

/* The last event id seen ("" for none) and the reconnection time the
 * stream asked for (-1 if it did not). */
const char *kw_sse_last_id(const kw_sse *p);
long kw_sse_retry_ms(const kw_sse *p);

#endif
