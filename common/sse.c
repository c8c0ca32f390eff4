/*
 * sse.c - see sse.h.
 *
 * Bytes go into the current line until a line end; a finished line is
 * applied to the event being built. A line longer than the longest useful
 * one (a data line of data_max bytes) keeps only its start, enough to
 * know its field.
 */
#include "sse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "keyward.h"
#include "secmem.h"

/* Room for "data: " or a long field name in front of the value. */
#define LINE_SLACK 32u

struct kw_sse {
	size_t data_max, line_max;
	/* The current line: at most line_max bytes kept. */
	char *line;
	size_t line_len, line_cap;
	bool line_long; /* more than line_max bytes: the rest was dropped */
	bool after_cr;  /* the last byte was a CR: skip an LF next */
	bool started;   /* past the optional byte order mark */
	size_t bom_seen;
	/* The event being built. */
	char *data;
	size_t data_len, data_cap;
	bool too_big, has_data, has_id;
	char type[KW_SSE_TYPE_MAX + 1];
	bool type_too_long;
	char last_id[KW_SSE_ID_MAX + 1];
	long retry_ms;
};

int kw_sse_new(size_t data_max, kw_sse **ret)
{
	kw_sse *p;

	if (data_max == 0 || data_max > SIZE_MAX / 2 - LINE_SLACK)
		return KW_EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return KW_ENOMEM;
	p->data_max = data_max;
	p->line_max = data_max + LINE_SLACK;
	p->retry_ms = -1;
	*ret = p;
	return 0;
}

void kw_sse_free(kw_sse *p)
{
	if (!p)
		return;
	kw_wipefree(p->line);
	kw_wipefree(p->data);
	free(p);
}

const char *kw_sse_last_id(const kw_sse *p)
{
	return p->last_id;
}

long kw_sse_retry_ms(const kw_sse *p)
{
	return p->retry_ms;
}

/* Make room for need bytes in a wiped buffer of capacity *cap. */
static int grow(char **buf, size_t *cap, size_t used, size_t need)
{
	size_t ncap = *cap ? *cap : 256;
	char *nb;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
	nb = kw_wipealloc(ncap);
	if (!nb)
		return KW_ENOMEM;
	if (used)
		memcpy(nb, *buf, used);
	kw_wipefree(*buf);
	*buf = nb;
	*cap = ncap;
	return 0;
}

static void event_reset(kw_sse *p)
{
	p->data_len = 0;
	p->too_big = p->has_data = p->has_id = false;
	p->type[0] = '\0';
	p->type_too_long = false;
}

static int data_append(kw_sse *p, const char *v, size_t n)
{
	int r;

	p->has_data = true;
	if (p->too_big)
		return 0;
	/* data_len counts the newlines after earlier values; the one after
	 * the last value is dropped at the end. */
	if (p->data_len + n > p->data_max) {
		p->too_big = true;
		p->data_len = 0;
		return 0;
	}
	if ((r = grow(&p->data, &p->data_cap, p->data_len,
	              p->data_len + n + 2)) < 0)
		return r;
	memcpy(p->data + p->data_len, v, n);
	p->data_len += n;
	p->data[p->data_len++] = '\n';
	return 0;
}

static bool all_digits(const char *v, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (v[i] < '0' || v[i] > '9')
			return false;
	return true;
}

static void set_retry(kw_sse *p, const char *v, size_t n)
{
	long ms = 0;

	if (!all_digits(v, n))
		return;
	for (size_t i = 0; i < n; i++) {
		ms = ms * 10 + (v[i] - '0');
		if (ms > KW_SSE_RETRY_MAX) {
			ms = KW_SSE_RETRY_MAX;
			break;
		}
	}
	p->retry_ms = ms;
}

static int dispatch(kw_sse *p, kw_sse_event_fn fn, void *arg)
{
	struct kw_sse_event ev = {
		.type = p->type,
		.type_too_long = p->type_too_long,
		.data = "",
		.too_big = p->too_big,
		.last_id = p->last_id,
		.has_id = p->has_id,
	};
	int r = 0;

	if (!p->has_data && !p->has_id && !p->type[0] && !p->type_too_long) {
		event_reset(p); /* a blank line with nothing before it */
		return 0;
	}
	if (p->has_data && !p->too_big && p->data_len > 0) {
		p->data_len--; /* the last newline */
		p->data[p->data_len] = '\0';
		ev.data = p->data;
		ev.data_len = p->data_len;
	}
	r = fn(arg, &ev);
	if (p->data_cap)
		sodium_memzero(p->data, p->data_cap);
	event_reset(p);
	return r;
}

/* One whole line (without its end), or the kept start of a long one. */
static int apply_line(kw_sse *p, kw_sse_event_fn fn, void *arg)
{
	const char *l = p->line ? p->line : "";
	size_t n = p->line_len, flen;
	const char *colon, *v;
	size_t vn;
	bool longl = p->line_long;

	p->line_len = 0;
	p->line_long = false;
	if (n == 0 && !longl)
		return dispatch(p, fn, arg);
	if (l[0] == ':')
		return 0;
	colon = memchr(l, ':', n);
	flen = colon ? (size_t)(colon - l) : n;
	v = colon ? colon + 1 : l + n;
	vn = colon ? n - flen - 1 : 0;
	if (vn > 0 && v[0] == ' ') {
		v++;
		vn--;
	}
	if (flen == 4 && memcmp(l, "data", 4) == 0) {
		if (longl) {
			p->has_data = p->too_big = true;
			p->data_len = 0;
			return 0;
		}
		return data_append(p, v, vn);
	}
	if (flen == 5 && memcmp(l, "event", 5) == 0) {
		if (longl || vn > KW_SSE_TYPE_MAX) {
			p->type[0] = '\0';
			p->type_too_long = true;
		} else {
			memcpy(p->type, v, vn);
			p->type[vn] = '\0';
			p->type_too_long = false;
		}
		return 0;
	}
	if (flen == 2 && memcmp(l, "id", 2) == 0) {
		if (!longl && vn <= KW_SSE_ID_MAX && !memchr(v, '\0', vn)) {
			memcpy(p->last_id, v, vn);
			p->last_id[vn] = '\0';
			p->has_id = true;
		}
		return 0;
	}
	if (flen == 5 && memcmp(l, "retry", 5) == 0 && !longl)
		set_retry(p, v, vn);
	return 0;
}

/* Add n bytes to the current line, keeping at most line_max. */
static int line_add(kw_sse *p, const char *b, size_t n)
{
	size_t room = p->line_max - p->line_len;
	int r;

	if (n > room) {
		p->line_long = true;
		n = room;
	}
	if (n == 0)
		return 0;
	if ((r = grow(&p->line, &p->line_cap, p->line_len, p->line_len + n)) <
	    0)
		return r;
	memcpy(p->line + p->line_len, b, n);
	p->line_len += n;
	return 0;
}

int kw_sse_feed(kw_sse *p, const char *data, size_t len, kw_sse_event_fn fn,
                void *arg)
{
	static const char bom[3] = { '\xef', '\xbb', '\xbf' };
	size_t i = 0;
	int r;

	/* The byte order mark may itself arrive in pieces. */
	while (!p->started && i < len) {
		if (data[i] != bom[p->bom_seen]) {
			p->started = true;
			/* A partial mark was ordinary text after all. */
			if (p->bom_seen &&
			    (r = line_add(p, bom, p->bom_seen)) < 0)
				return r;
			break;
		}
		i++;
		if (++p->bom_seen == sizeof(bom))
			p->started = true;
	}
	while (i < len) {
		if (p->after_cr) {
			p->after_cr = false;
			if (data[i] == '\n') {
				i++;
				continue;
			}
		}
		size_t j = i;

		while (j < len && data[j] != '\n' && data[j] != '\r')
			j++;
		if ((r = line_add(p, data + i, j - i)) < 0)
			return r;
		if (j == len)
			break;
		p->after_cr = data[j] == '\r';
		i = j + 1;
		if ((r = apply_line(p, fn, arg)) < 0)
			return r;
	}
	return 0;
}
