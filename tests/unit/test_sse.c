/*
 * test_sse.c - the Server-Sent Events parser (common/sse.c) that `keyward
 * mcp proxy` reads remote MCP servers' streams with: the standard's line
 * ends, fields and comments, events split at every byte, the data bound
 * and a callback that stops the feed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "keyward.h"
#include "secmem.h"
#include "sse.h"

#define EVENTS_MAX 16

struct seen {
	size_t n;
	struct {
		char type[KW_SSE_TYPE_MAX + 1];
		char data[256];
		size_t data_len;
		char id[64];
		bool has_id, too_big, type_too_long;
	} ev[EVENTS_MAX];
	int stop_at; /* return KW_EIO from this event (1-based), 0: never */
};

static int on_event(void *arg, const struct kw_sse_event *e)
{
	struct seen *s = arg;

	assert_true(s->n < EVENTS_MAX);
	assert_true(e->data_len < sizeof(s->ev[0].data));
	assert_int_equal(e->data[e->data_len], '\0');
	snprintf(s->ev[s->n].type, sizeof(s->ev[0].type), "%s", e->type);
	memcpy(s->ev[s->n].data, e->data, e->data_len + 1);
	s->ev[s->n].data_len = e->data_len;
	snprintf(s->ev[s->n].id, sizeof(s->ev[0].id), "%s", e->last_id);
	s->ev[s->n].has_id = e->has_id;
	s->ev[s->n].too_big = e->too_big;
	s->ev[s->n].type_too_long = e->type_too_long;
	s->n++;
	return s->stop_at && (int)s->n == s->stop_at ? KW_EIO : 0;
}

/* Feed text in pieces of step bytes (0: all at once). */
static void feed(kw_sse *p, const char *text, size_t len, size_t step,
                 struct seen *s)
{
	if (step == 0)
		step = len ? len : 1;
	for (size_t i = 0; i < len; i += step) {
		size_t n = len - i < step ? len - i : step;
		assert_int_equal(kw_sse_feed(p, text + i, n, on_event, s), 0);
	}
}

static void parse(const char *text, size_t step, size_t max, struct seen *s)
{
	kw_sse *p = NULL;

	memset(s, 0, sizeof(*s));
	assert_int_equal(kw_sse_new(max, &p), 0);
	feed(p, text, strlen(text), step, s);
	kw_sse_free(p);
}

static void test_basic(void **state)
{
	static const char text[] = "\xef\xbb\xbf: a comment\n"
				   "id: 7\n"
				   "data: {\"jsonrpc\":\"2.0\",\n"
				   "data:\"id\":1}\n"
				   "\n"
				   "event: message\r\n"
				   "data:  two blanks keep one\r\n"
				   "\r\n"
				   "retry: 2500\r"
				   "id\r"
				   "data\r"
				   "\r"
				   "event: endpoint\n"
				   "data: /x\n"
				   "\n"
				   "data: not ended";
	struct seen s;

	(void)state;
	/* Every way of cutting the stream gives the same events. */
	for (size_t step = 0; step <= 9; step++) {
		parse(text, step, 1024, &s);
		assert_int_equal(s.n, 4);
		assert_string_equal(s.ev[0].data,
		                    "{\"jsonrpc\":\"2.0\",\n\"id\":1}");
		assert_string_equal(s.ev[0].type, "");
		assert_string_equal(s.ev[0].id, "7");
		assert_true(s.ev[0].has_id);
		assert_string_equal(s.ev[1].type, "message");
		assert_string_equal(s.ev[1].data, " two blanks keep one");
		assert_string_equal(s.ev[1].id, "7"); /* kept */
		assert_false(s.ev[1].has_id);
		/* "id" alone resets the id; "data" alone is empty data. */
		assert_string_equal(s.ev[2].id, "");
		assert_true(s.ev[2].has_id);
		assert_int_equal(s.ev[2].data_len, 0);
		assert_string_equal(s.ev[3].type, "endpoint");
		assert_string_equal(s.ev[3].data, "/x");
	}
}

static void test_retry_and_priming(void **state)
{
	kw_sse *p = NULL;
	struct seen s = { 0 };
	static const char text[] = "id: abc\ndata:\n\n"
				   "retry: 12x\n\n"
				   "retry: 300\n: keep-alive\n\n";

	(void)state;
	assert_int_equal(kw_sse_new(64, &p), 0);
	assert_int_equal(kw_sse_retry_ms(p), -1);
	feed(p, text, strlen(text), 0, &s);
	/* The priming event comes through, empty, for its id. */
	assert_int_equal(s.n, 1);
	assert_true(s.ev[0].has_id);
	assert_int_equal(s.ev[0].data_len, 0);
	assert_string_equal(kw_sse_last_id(p), "abc");
	assert_int_equal(kw_sse_retry_ms(p), 300);
	feed(p, "retry: 99999999999999\n", 22, 0, &s);
	assert_int_equal(kw_sse_retry_ms(p), KW_SSE_RETRY_MAX);
	kw_sse_free(p);
}

static void test_bounds(void **state)
{
	char big[1100], text[4096];
	struct seen s;

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';

	/* Exactly data_max bytes over two lines (with the newline) fit. */
	parse("data: 0123\ndata: 4\n\n", 0, 6, &s);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.ev[0].data, "0123\n4");
	parse("data: 0123\ndata: 45\n\ndata: ok\n\n", 3, 6, &s);
	assert_int_equal(s.n, 2);
	assert_true(s.ev[0].too_big);
	assert_int_equal(s.ev[0].data_len, 0);
	assert_string_equal(s.ev[1].data, "ok");
	assert_false(s.ev[1].too_big);

	/* A data line far past the bound, then a good event. */
	snprintf(text, sizeof(text), "data: %s\n\ndata: next\n\n", big);
	for (size_t step = 0; step < 4; step++) {
		parse(text, step * 7, 100, &s);
		assert_int_equal(s.n, 2);
		assert_true(s.ev[0].too_big);
		assert_string_equal(s.ev[1].data, "next");
	}

	/* An id too long is ignored, a type too long is reported. */
	snprintf(text, sizeof(text), "id: 1\n\nid: %s\nevent: %s\ndata: x\n\n",
	         big, big);
	parse(text, 0, 4096, &s);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.ev[1].id, "1");
	assert_false(s.ev[1].has_id);
	assert_true(s.ev[1].type_too_long);
	assert_string_equal(s.ev[1].type, "");

	/* A NUL in an id: ignored. */
	{
		kw_sse *p = NULL;
		static const char nul[] = "id: a\0b\ndata: y\n\n";

		memset(&s, 0, sizeof(s));
		assert_int_equal(kw_sse_new(64, &p), 0);
		feed(p, nul, sizeof(nul) - 1, 0, &s);
		assert_int_equal(s.n, 1);
		assert_false(s.ev[0].has_id);
		kw_sse_free(p);
	}
}

static void test_stop(void **state)
{
	kw_sse *p = NULL;
	struct seen s = { .stop_at = 1 };
	static const char text[] = "data: 1\n\ndata: 2\n\n";

	(void)state;
	assert_int_equal(kw_sse_new(64, &p), 0);
	assert_int_equal(kw_sse_feed(p, text, strlen(text), on_event, &s),
	                 KW_EIO);
	assert_int_equal(s.n, 1);
	kw_sse_free(p);
	assert_int_equal(kw_sse_new(0, &p), KW_EINVAL);
	kw_sse_free(NULL);
}

static void test_bom_only_at_start(void **state)
{
	struct seen s;

	(void)state;
	/* A partial mark is text; a mark later on is data. */
	parse("\xef\xbb"
	      "data: x\n\n",
	      1, 64, &s);
	assert_int_equal(s.n, 0); /* the field is "\xef\xbbdata", unknown */
	parse("data: \xef\xbb\xbfx\n\n", 1, 64, &s);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.ev[0].data, "\xef\xbb\xbfx");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_retry_and_priming),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_stop),
		cmocka_unit_test(test_bom_only_at_start),
	};
	if (kw_secmem_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
