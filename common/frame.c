/*
 * frame.c - bounded newline framing (see frame.h).
 *
 * Layout: buf[0..start) consumed (already wiped), buf[start..len) pending.
 * The buffer starts small and doubles while a line needs it, up to max + 1
 * bytes (a line of exactly max bytes plus its '\n'); nothing a peer sends
 * can grow it further. Starting small keeps an idle connection at about a
 * kilobyte instead of a page of a max-sized block.
 */
#include "frame.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "keyward.h"
#include "secmem.h"

#define FRAME_MAX_LIMIT (64u * 1024u * 1024u)
#define FRAME_FIRST_CAP 1024u

int kw_framer_init(kw_framer *f, size_t max)
{
	if (max == 0 || max > FRAME_MAX_LIMIT)
		return KW_EINVAL;
	size_t cap = max + 1 < FRAME_FIRST_CAP ? max + 1 : FRAME_FIRST_CAP;
	char *buf = kw_wipealloc(cap);
	if (!buf)
		return KW_ENOMEM;
	*f = (kw_framer){ .buf = buf, .cap = cap, .max = max };
	return 0;
}

/* Double the buffer (at most to max + 1); false if out of memory. */
static bool framer_grow(kw_framer *f)
{
	size_t cap = f->cap * 2 < f->max + 1 ? f->cap * 2 : f->max + 1;
	char *buf = kw_wipealloc(cap);
	if (!buf)
		return false;
	memcpy(buf, f->buf, f->len);
	sodium_memzero(f->buf, f->hw);
	free(f->buf);
	f->buf = buf;
	f->cap = cap;
	f->hw = f->len;
	return true;
}

void kw_framer_free(kw_framer *f)
{
	if (!f)
		return;
	/* Only bytes ever written can hold anything: wiping the untouched
	 * tail of a large buffer would just fault its pages in. */
	if (f->buf) {
		sodium_memzero(f->buf, f->hw);
		free(f->buf);
	}
	*f = (kw_framer){ 0 };
}

static void framer_compact(kw_framer *f)
{
	if (f->start == 0)
		return;
	size_t pending = f->len - f->start;
	memmove(f->buf, f->buf + f->start, pending);
	sodium_memzero(f->buf + pending, f->len - pending);
	f->len = pending;
	f->start = 0;
}

void kw_framer_space(kw_framer *f, char **ret_ptr, size_t *ret_len)
{
	framer_compact(f);
	if (f->len == f->cap && f->cap < f->max + 1)
		(void)framer_grow(f); /* if not, the caller sees no room */
	*ret_ptr = f->buf + f->len;
	*ret_len = f->cap - f->len;
}

void kw_framer_commit(kw_framer *f, size_t n)
{
	if (n > f->cap - f->len)
		n = f->cap - f->len;
	f->len += n;
	if (f->len > f->hw)
		f->hw = f->len;
}

int kw_framer_next(kw_framer *f, char **ret_line, size_t *ret_len)
{
	char *begin = f->buf + f->start;
	size_t pending = f->len - f->start;
	char *nl = memchr(begin, '\n', pending);

	if (!nl) {
		if (pending > f->max)
			return KW_ETOOBIG;
		return 0;
	}
	size_t n = (size_t)(nl - begin);
	if (n > f->max)
		return KW_ETOOBIG;
	*nl = '\0';
	f->start += n + 1;
	*ret_line = begin;
	*ret_len = n;
	return 1;
}

void kw_framer_wipe_consumed(kw_framer *f)
{
	sodium_memzero(f->buf, f->start);
}

bool kw_framer_has_line(const kw_framer *f)
{
	return memchr(f->buf + f->start, '\n', f->len - f->start) != NULL;
}

bool kw_framer_partial(const kw_framer *f)
{
	return f->len > f->start;
}
