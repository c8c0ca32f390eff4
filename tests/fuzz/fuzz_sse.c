/*
 * fuzz_sse.c - the Server-Sent Events parser of common/sse.c, which reads
 * what remote MCP servers stream to `keyward mcp proxy`.
 *
 * Input: a control byte (the data bound, 1 to 256 bytes, and the size of
 * the pieces the stream is cut into), then the stream. Properties: cut
 * into pieces the stream gives the same events, field for field, as fed
 * whole; event data is NUL-terminated, within the bound, and empty when
 * reported too big; ids and types are within theirs; the retry time is 0
 * to KW_SSE_RETRY_MAX or -1.
 */
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "keyward.h"
#include "secmem.h"
#include "sse.h"

#define EVENTS_MAX 4096

struct ev {
	char type[KW_SSE_TYPE_MAX + 1];
	char id[KW_SSE_ID_MAX + 1];
	unsigned char *data;
	size_t data_len;
	bool too_big, has_id, type_too_long;
};

struct run {
	size_t max, n;
	struct ev ev[EVENTS_MAX];
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return kw_secmem_init() == 0 ? 0 : -1;
}

static int on_event(void *arg, const struct kw_sse_event *e)
{
	struct run *r = arg;
	struct ev *v;

	FUZZ_CHECK(e->data[e->data_len] == '\0');
	FUZZ_CHECK(e->data_len <= r->max);
	FUZZ_CHECK(!e->too_big || e->data_len == 0);
	FUZZ_CHECK(strlen(e->type) <= KW_SSE_TYPE_MAX);
	FUZZ_CHECK(!e->type_too_long || e->type[0] == '\0');
	FUZZ_CHECK(strlen(e->last_id) <= KW_SSE_ID_MAX);
	if (r->n == EVENTS_MAX)
		return KW_ELIMIT;
	v = &r->ev[r->n++];
	memcpy(v->type, e->type, strlen(e->type) + 1);
	memcpy(v->id, e->last_id, strlen(e->last_id) + 1);
	v->data = malloc(e->data_len + 1);
	FUZZ_CHECK(v->data != NULL);
	memcpy(v->data, e->data, e->data_len);
	v->data_len = e->data_len;
	v->too_big = e->too_big;
	v->has_id = e->has_id;
	v->type_too_long = e->type_too_long;
	return 0;
}

/* Parse text in pieces of step bytes (0: whole); the retry time. */
static long parse(const char *text, size_t size, size_t step, struct run *r)
{
	kw_sse *p = NULL;
	long retry;

	FUZZ_CHECK(kw_sse_new(r->max, &p) == 0);
	if (step == 0)
		step = size ? size : 1;
	for (size_t i = 0; i < size; i += step) {
		size_t n = size - i < step ? size - i : step;
		int e = kw_sse_feed(p, text + i, n, on_event, r);

		FUZZ_CHECK(e == 0 || e == KW_ELIMIT);
		if (e)
			break;
	}
	retry = kw_sse_retry_ms(p);
	FUZZ_CHECK(retry == -1 || (retry >= 0 && retry <= KW_SSE_RETRY_MAX));
	FUZZ_CHECK(strlen(kw_sse_last_id(p)) <= KW_SSE_ID_MAX);
	kw_sse_free(p);
	return retry;
}

static void drop(struct run *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->ev[i].data);
	r->n = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run whole, cut;
	const char *text = (const char *)data + 1;
	long a, b;

	if (size < 1)
		return 0;
	whole.max = cut.max = (size_t)(data[0] & 0xff) + 1;
	size--;
	a = parse(text, size, 0, &whole);
	b = parse(text, size, (size_t)(data[0] % 7) + 1, &cut);
	if (whole.n < EVENTS_MAX && cut.n < EVENTS_MAX) {
		FUZZ_CHECK(a == b);
		FUZZ_CHECK(whole.n == cut.n);
		for (size_t i = 0; i < whole.n; i++) {
			const struct ev *x = &whole.ev[i], *y = &cut.ev[i];

			FUZZ_CHECK(strcmp(x->type, y->type) == 0);
			FUZZ_CHECK(strcmp(x->id, y->id) == 0);
			FUZZ_CHECK(x->data_len == y->data_len);
			FUZZ_CHECK(memcmp(x->data, y->data, x->data_len) == 0);
			FUZZ_CHECK(x->too_big == y->too_big &&
			           x->has_id == y->has_id &&
			           x->type_too_long == y->type_too_long);
		}
	}
	drop(&whole);
	drop(&cut);
	return 0;
}
