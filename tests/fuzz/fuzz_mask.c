/*
 * fuzz_mask.c - the streaming masker of common/mask.c, against a naive
 * reference (differential).
 *
 * Input: a byte k (1..4 values), then per value a length byte (0..8) and
 * that many bytes; a control byte; the rest is the stream. The control
 * byte seeds how the stream is cut into feeds and where flushes fall, and
 * its top bit folds values and stream onto "abc", where values overlap
 * most. Property: the output equals the reference applied to each part of
 * the stream between flushes (at each position the longest value, the
 * first added among equals, else the byte), however the feeds are cut;
 * nothing is held after a flush, and never as much as the longest value.
 */
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "keyward.h"
#include "mask.h"
#include "secmem.h"

#define NVALUES 4

struct buf {
	unsigned char *p;
	size_t len, cap;
};

static void buf_put(struct buf *b, const void *data, size_t len)
{
	if (b->len + len > b->cap) {
		b->cap = (b->len + len) * 2;
		b->p = realloc(b->p, b->cap);
		FUZZ_CHECK(b->p != NULL);
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
}

static int sink(void *arg, const void *data, size_t len)
{
	FUZZ_CHECK(len > 0);
	buf_put(arg, data, len);
	return 0;
}

struct value {
	unsigned char bytes[8];
	size_t len;
	char label[4];
};

/* The rule of mask.h, one position at a time, on s[0..n) alone. */
static void reference(const struct value *v, size_t nv, const unsigned char *s,
                      size_t n, struct buf *out)
{
	size_t i = 0;

	while (i < n) {
		const struct value *best = NULL;

		for (size_t k = 0; k < nv; k++) {
			if (v[k].len < KW_MASK_MIN_LEN || v[k].len > n - i ||
			    memcmp(s + i, v[k].bytes, v[k].len) != 0)
				continue;
			if (!best || v[k].len > best->len)
				best = &v[k];
		}
		if (!best) {
			buf_put(out, s + i, 1);
			i++;
			continue;
		}
		buf_put(out, "<redacted:", 10);
		buf_put(out, best->label, strlen(best->label));
		buf_put(out, ">", 1);
		i += best->len;
	}
}

static unsigned char fold(unsigned char b, bool small)
{
	return small ? (unsigned char)('a' + b % 3) : b;
}

static unsigned next(unsigned *state)
{
	*state = *state * 1103515245u + 12345u;
	return (*state >> 16) & 0x7fff;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return kw_secmem_init() == 0 ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct value v[NVALUES];
	size_t nv, pos = 1, longest = 0;
	kw_mask *m = NULL;

	if (size < 2)
		return 0;
	nv = data[0] % NVALUES + 1;
	for (size_t k = 0; k < nv; k++) {
		v[k].len = pos < size ? data[pos++] % 9 : 0;
		if (pos + v[k].len > size)
			v[k].len = size - pos;
		memcpy(v[k].bytes, data + pos, v[k].len);
		pos += v[k].len;
		v[k].label[0] = 'V';
		v[k].label[1] = (char)('0' + k);
		v[k].label[2] = '\0';
	}
	if (pos >= size)
		return 0;
	unsigned char ctl = data[pos++];
	bool small = ctl & 0x80;
	unsigned state = ctl;
	size_t n = size - pos;
	unsigned char *s = malloc(n ? n : 1);
	FUZZ_CHECK(s != NULL);
	for (size_t i = 0; i < n; i++)
		s[i] = fold(data[pos + i], small);

	FUZZ_CHECK(kw_mask_new(&m) == 0);
	for (size_t k = 0; k < nv; k++) {
		bool added;
		for (size_t i = 0; i < v[k].len; i++)
			v[k].bytes[i] = fold(v[k].bytes[i], small);
		FUZZ_CHECK(kw_mask_add(m, v[k].label, v[k].bytes, v[k].len,
		                       &added) == 0);
		FUZZ_CHECK(added == (v[k].len >= KW_MASK_MIN_LEN));
		if (added && v[k].len > longest)
			longest = v[k].len;
	}

	struct buf got = { 0 }, want = { 0 };
	size_t seg = 0, i = 0;
	while (i < n) {
		size_t step = next(&state) % 16 + 1;
		if (step > n - i)
			step = n - i;
		FUZZ_CHECK(kw_mask_feed(m, s + i, step, sink, &got) == 0);
		i += step;
		FUZZ_CHECK(kw_mask_held(m) < (longest ? longest : 1));
		if (next(&state) % 16 == 0 || i == n) {
			FUZZ_CHECK(kw_mask_flush(m, sink, &got) == 0);
			FUZZ_CHECK(kw_mask_held(m) == 0);
			reference(v, nv, s + seg, i - seg, &want);
			seg = i;
		}
	}
	FUZZ_CHECK(got.len == want.len);
	FUZZ_CHECK(got.len == 0 || memcmp(got.p, want.p, got.len) == 0);
	free(got.p);
	free(want.p);
	free(s);
	kw_mask_free(m);
	return 0;
}
