/*
 * mask.c - the streaming secret masker (mask.h).
 *
 * The stream is scanned once. A byte that starts no value (one bit per
 * byte value says which can) is copied in the same run as its
 * neighbours; at a byte that may, every value is compared. Input is
 * filtered in place when nothing is held; otherwise it is appended to the
 * held bytes CHUNK at a time, so the buffer never exceeds the longest
 * value plus CHUNK.
 */
#include <stdint.h>
#include <string.h>

#include "keyward.h"
#include "mask.h"
#include "secmem.h"

#define CHUNK 4096u

#define MARKER_HEAD "<redacted:"
#define MARKER_TAIL ">"

struct mask_value {
	unsigned char *bytes; /* kw_wipealloc */
	size_t len;
	char *marker; /* "<redacted:LABEL>", kw_wipealloc */
	size_t marker_len;
};

struct kw_mask {
	struct mask_value *values;
	size_t count;
	size_t longest;
	uint64_t first[4];  /* bit b: some value starts with byte b */
	unsigned char *buf; /* held bytes, then room for CHUNK more */
	size_t cap;
	size_t held;
};

int kw_mask_new(kw_mask **ret_mask)
{
	kw_mask *m = kw_wipealloc(sizeof(*m));

	if (!m)
		return KW_ENOMEM;
	memset(m, 0, sizeof(*m));
	*ret_mask = m;
	return 0;
}

void kw_mask_free(kw_mask *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->count; i++) {
		kw_wipefree(m->values[i].bytes);
		kw_wipefree(m->values[i].marker);
	}
	kw_wipefree(m->values);
	kw_wipefree(m->buf);
	kw_wipefree(m);
}

static bool mask_label_ok(const char *label)
{
	size_t n = strnlen(label, KW_MASK_LABEL_MAX + 1);

	if (n == 0 || n > KW_MASK_LABEL_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (label[i] < 0x20 || label[i] > 0x7e)
			return false;
	return true;
}

/* Make room for a value of len bytes: the buffer holds len - 1 bytes
 * waiting plus a CHUNK. 0 or KW_ENOMEM (the old buffer kept). */
static int mask_grow(kw_mask *m, size_t len)
{
	size_t want = len - 1 + CHUNK;
	unsigned char *buf;

	if (want <= m->cap)
		return 0;
	buf = kw_wipealloc(want);
	if (!buf)
		return KW_ENOMEM;
	if (m->held)
		memcpy(buf, m->buf, m->held);
	kw_wipefree(m->buf);
	m->buf = buf;
	m->cap = want;
	return 0;
}

static int mask_value_init(struct mask_value *v, const char *label,
                           const void *value, size_t len)
{
	size_t lablen = strlen(label);

	v->len = len;
	v->marker_len = strlen(MARKER_HEAD) + lablen + strlen(MARKER_TAIL);
	v->bytes = kw_wipealloc(len);
	v->marker = kw_wipealloc(v->marker_len + 1);
	if (!v->bytes || !v->marker) {
		kw_wipefree(v->bytes);
		kw_wipefree(v->marker);
		return KW_ENOMEM;
	}
	memcpy(v->bytes, value, len);
	memcpy(v->marker, MARKER_HEAD, strlen(MARKER_HEAD));
	memcpy(v->marker + strlen(MARKER_HEAD), label, lablen);
	memcpy(v->marker + strlen(MARKER_HEAD) + lablen, MARKER_TAIL,
	       strlen(MARKER_TAIL) + 1);
	return 0;
}

int kw_mask_add(kw_mask *m, const char *label, const void *value, size_t len,
                bool *ret_added)
{
	struct mask_value *values;
	int r;

	if (!label || !mask_label_ok(label) || (!value && len))
		return KW_EINVAL;
	if (len > KW_MASK_VALUE_MAX)
		return KW_ETOOBIG;
	if (len < KW_MASK_MIN_LEN) {
		*ret_added = false;
		return 0;
	}
	if (m->count >= KW_MASK_VALUES_MAX)
		return KW_ELIMIT;
	if ((r = mask_grow(m, len)) < 0)
		return r;
	values = kw_wipealloc((m->count + 1) * sizeof(*values));
	if (!values)
		return KW_ENOMEM;
	if ((r = mask_value_init(&values[m->count], label, value, len)) < 0) {
		kw_wipefree(values);
		return r;
	}
	if (m->count)
		memcpy(values, m->values, m->count * sizeof(*values));
	kw_wipefree(m->values);
	m->values = values;
	m->count++;
	if (len > m->longest)
		m->longest = len;
	unsigned char b = ((const unsigned char *)value)[0];
	m->first[b >> 6] |= (uint64_t)1 << (b & 63);
	*ret_added = true;
	return 0;
}

static bool mask_may_start(const kw_mask *m, unsigned char b)
{
	return (m->first[b >> 6] >> (b & 63)) & 1;
}

/*
 * What stands at s[0..avail): the longest whole value (NULL if none), and
 * whether some value might still match once more bytes come (only when
 * !eos). Such a value is longer than avail, so longer than any match.
 */
static const struct mask_value *mask_match(const kw_mask *m,
                                           const unsigned char *s, size_t avail,
                                           bool eos, bool *ret_wait)
{
	const struct mask_value *best = NULL;

	*ret_wait = false;
	for (size_t k = 0; k < m->count; k++) {
		const struct mask_value *v = &m->values[k];

		if (v->len <= avail) {
			if ((!best || v->len > best->len) &&
			    memcmp(s, v->bytes, v->len) == 0)
				best = v;
		} else if (!eos && memcmp(s, v->bytes, avail) == 0) {
			*ret_wait = true;
		}
	}
	return best;
}

static int mask_emit(kw_mask_out_fn out, void *arg, const void *p, size_t n)
{
	return n ? out(arg, p, n) : 0;
}

/*
 * Filter s[0..n): pass out everything decided; *ret_done is where the
 * undecided tail (a possible value start, shorter than the longest value)
 * begins, n when eos. 0 or out's error.
 */
static int mask_run(const kw_mask *m, const unsigned char *s, size_t n,
                    bool eos, kw_mask_out_fn out, void *arg, size_t *ret_done)
{
	size_t i = 0, run = 0;
	int r;

	while (i < n) {
		if (!mask_may_start(m, s[i])) {
			i++;
			continue;
		}
		bool wait;
		const struct mask_value *v =
			mask_match(m, s + i, n - i, eos, &wait);
		if (wait)
			break;
		if (!v) {
			i++;
			continue;
		}
		if ((r = mask_emit(out, arg, s + run, i - run)) < 0 ||
		    (r = out(arg, v->marker, v->marker_len)) < 0)
			return r;
		i += v->len;
		run = i;
	}
	if ((r = mask_emit(out, arg, s + run, i - run)) < 0)
		return r;
	*ret_done = i;
	return 0;
}

/* Keep s[0..n) (shorter than the longest value) as the held bytes. */
static void mask_hold(kw_mask *m, const unsigned char *s, size_t n)
{
	memmove(m->buf, s, n);
	m->held = n;
}

int kw_mask_feed(kw_mask *m, const void *data, size_t len, kw_mask_out_fn out,
                 void *arg)
{
	const unsigned char *p = data;
	size_t done;
	int r;

	if (m->count == 0)
		return mask_emit(out, arg, data, len);
	while (len > 0) {
		if (m->held == 0) {
			r = mask_run(m, p, len, false, out, arg, &done);
			if (r == 0)
				mask_hold(m, p + done, len - done);
			return r;
		}
		size_t piece = len < m->cap - m->held ? len : m->cap - m->held;
		memcpy(m->buf + m->held, p, piece);
		p += piece;
		len -= piece;
		size_t total = m->held + piece;
		if ((r = mask_run(m, m->buf, total, false, out, arg, &done)) <
		    0)
			return r;
		mask_hold(m, m->buf + done, total - done);
	}
	return 0;
}

int kw_mask_flush(kw_mask *m, kw_mask_out_fn out, void *arg)
{
	size_t done;
	int r;

	if (m->held == 0)
		return 0;
	r = mask_run(m, m->buf, m->held, true, out, arg, &done);
	m->held = 0;
	return r;
}

size_t kw_mask_held(const kw_mask *m)
{
	return m->held;
}
