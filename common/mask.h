/*
 * mask.h - a streaming filter that replaces secret values in a byte stream
 * with "<redacted:LABEL>" (for `keyward run`, issue 13).
 *
 * The result of a kw_mask over a stream is defined by one rule, applied
 * from the start: at each position, if one or more values occur there, the
 * longest of them (the first added, among equally long ones) is replaced by
 * its label's marker and matching resumes after it; otherwise the byte is
 * copied. Bytes are held back only while they may still be the start of a
 * value (a proper prefix of one, or a match a longer value might extend),
 * so at most KW_MASK_VALUE_MAX - 1 of them; everything else is passed to
 * the output callback within the same kw_mask_feed call. How a stream is
 * cut into feeds never changes the output. kw_mask_flush writes the held
 * bytes as the end of the stream would, and matching starts afresh after
 * it: a value split by a flush is not replaced.
 *
 * Values shorter than KW_MASK_MIN_LEN are not masked (masking "1" or "on"
 * would wreck unrelated output). Values, labels and held bytes live in
 * kw_wipealloc memory and are wiped by kw_mask_free. Pure: no I/O, no
 * clock, no logging; memory is bounded by the values added.
 */
#ifndef KW_MASK_H
#define KW_MASK_H

#include <stdbool.h>
#include <stddef.h>

#define KW_MASK_MIN_LEN    4u
#define KW_MASK_VALUE_MAX  (1u << 20) /* longer values: KW_ETOOBIG */
#define KW_MASK_VALUES_MAX 1024u      /* more: KW_ELIMIT */
#define KW_MASK_LABEL_MAX  255u       /* bytes in a label */

typedef struct kw_mask kw_mask;

/*
 * Where the filtered stream goes: data[0..len) (len > 0), in order. The
 * bytes may be part of a value (a held prefix that turned out not to be
 * one) but never a whole masked value. 0 to go on, or a negative KW_E*
 * code, which stops the feed or flush and is returned by it.
 */
typedef int (*kw_mask_out_fn)(void *arg, const void *data, size_t len);

/* An empty masker (passes everything through). 0 or KW_ENOMEM. */
int kw_mask_new(kw_mask **ret_mask);
/* Wipe and free. NULL is fine. */
void kw_mask_free(kw_mask *m);

/*
 * Mask value[0..len) as "<redacted:LABEL>" from now on. label is
 * 1..KW_MASK_LABEL_MAX printable ASCII bytes. *ret_added says whether the
 * value will be masked: false for one shorter than KW_MASK_MIN_LEN (not an
 * error). The value is copied. 0, KW_EINVAL (bad label), KW_ETOOBIG
 * (longer than KW_MASK_VALUE_MAX), KW_ELIMIT (KW_MASK_VALUES_MAX added)
 * or KW_ENOMEM; on failure the masker is unchanged. Add values before the
 * first feed: a value added later is matched only from then on.
 */
int kw_mask_add(kw_mask *m, const char *label, const void *value, size_t len,
                bool *ret_added);

/*
 * Filter data[0..len): pass out every byte that can no longer be part of
 * a value (or its marker), hold the rest. 0, or out's error (bytes not yet
 * passed to out are then dropped, and the masker must not be fed again).
 */
int kw_mask_feed(kw_mask *m, const void *data, size_t len, kw_mask_out_fn out,
                 void *arg);
/* End the stream for now: pass out the held bytes (masking whole values
 * among them). 0 or out's error. */
int kw_mask_flush(kw_mask *m, kw_mask_out_fn out, void *arg);
/* Bytes held back, waiting for more input or a flush. */
size_t kw_mask_held(const kw_mask *m);

#endif
