/*
 * frame.h - newline-delimited framing with a hard size bound.
 *
 * A kw_framer accumulates bytes read from a stream and hands out complete
 * lines (without the '\n'; a trailing '\r' is kept as data). A line longer
 * than max bytes is an error the owner must act on (reply and close): the
 * framer starts at a kilobyte and never grows past max + 1 bytes. The buffer
 * may carry secrets, so it is wiped when consumed data is discarded and when
 * freed.
 */
#ifndef KW_FRAME_H
#define KW_FRAME_H

#include <stdbool.h>
#include <stddef.h>

typedef struct kw_framer {
	char *buf;    /* malloc'd, cap bytes, wiped up to hw on free */
	size_t cap;   /* grows on demand up to max + 1 */
	size_t len;   /* bytes held */
	size_t start; /* offset of the first unconsumed byte */
	size_t max;   /* largest allowed line, excluding '\n' */
	size_t hw;    /* high-water mark: [hw, cap) was never written */
} kw_framer;

/* Initialise with a line bound (1 .. 64 MiB). 0, KW_EINVAL or KW_ENOMEM. */
int kw_framer_init(kw_framer *f, size_t max);
/* Wipe and release. Safe on a zeroed or already-freed framer. */
void kw_framer_free(kw_framer *f);

/*
 * Space to read into: *ret_ptr and *ret_len describe the free tail of the
 * buffer (compacting, and growing it if full, first). ret_len 0 means the
 * buffer is full without a newline: the current line is already over the
 * bound, or there was no memory to grow it.
 */
void kw_framer_space(kw_framer *f, char **ret_ptr, size_t *ret_len);
/* Record n bytes written into the space returned by kw_framer_space. */
void kw_framer_commit(kw_framer *f, size_t n);

/*
 * Next complete line. Returns 1 and sets *ret_line (NUL-terminated in place,
 * valid until the next framer call) and *ret_len; 0 if no complete line is
 * buffered; KW_ETOOBIG if the pending line exceeds max.
 */
int kw_framer_next(kw_framer *f, char **ret_line, size_t *ret_len);
/* Wipe the bytes of the line last returned (call when done with it). */
void kw_framer_wipe_consumed(kw_framer *f);
/* True if a complete line is buffered (kw_framer_next would return 1). */
bool kw_framer_has_line(const kw_framer *f);
/* True if bytes of an incomplete line are buffered. */
bool kw_framer_partial(const kw_framer *f);

#endif
