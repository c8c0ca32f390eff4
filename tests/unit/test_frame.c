/*
 * test_frame.c - newline framing with a hard bound (common/frame.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "frame.h"
#include "keyward.h"
#include "secmem.h"

/*
 * Write n bytes into the framer in reads of at most chunk bytes, as a socket
 * would deliver them. Returns how many bytes fitted.
 */
static size_t feed_chunked(kw_framer *f, const char *data, size_t n,
                           size_t chunk)
{
	size_t done = 0;

	while (done < n) {
		char *space = NULL;
		size_t room = 0, k;

		kw_framer_space(f, &space, &room);
		if (room == 0)
			break;
		assert_non_null(space);
		k = n - done;
		if (k > chunk)
			k = chunk;
		if (k > room)
			k = room;
		memcpy(space, data + done, k);
		kw_framer_commit(f, k);
		done += k;
	}
	return done;
}

static size_t feed(kw_framer *f, const char *data, size_t n)
{
	return feed_chunked(f, data, n, SIZE_MAX);
}

static void feed_str(kw_framer *f, const char *s)
{
	assert_int_equal(feed(f, s, strlen(s)), strlen(s));
}

/* Take the next line and check it is exactly want (wlen bytes). */
static void expect_line(kw_framer *f, const char *want, size_t wlen)
{
	char *line = NULL;
	size_t len = SIZE_MAX;

	assert_int_equal(kw_framer_next(f, &line, &len), 1);
	assert_non_null(line);
	assert_int_equal(len, wlen);
	assert_memory_equal(line, want, wlen);
	assert_int_equal(line[len], '\0');
	kw_framer_wipe_consumed(f);
}

static void expect_str(kw_framer *f, const char *want)
{
	expect_line(f, want, strlen(want));
}

static void expect_none(kw_framer *f)
{
	char *line = (char *)"untouched";
	size_t len = 12345;

	assert_int_equal(kw_framer_next(f, &line, &len), 0);
}

static void test_init_bounds(void **state)
{
	kw_framer f;

	(void)state;
	memset(&f, 0, sizeof(f));
	assert_int_equal(kw_framer_init(&f, 0), KW_EINVAL);
	assert_int_equal(kw_framer_init(&f, 64u * 1024u * 1024u + 1u),
	                 KW_EINVAL);
	assert_int_equal(kw_framer_init(&f, SIZE_MAX), KW_EINVAL);

	assert_int_equal(kw_framer_init(&f, 1), 0);
	assert_false(kw_framer_partial(&f));
	kw_framer_free(&f);

	assert_int_equal(kw_framer_init(&f, 64u * 1024u * 1024u), 0);
	kw_framer_free(&f);
}

static void test_free_is_safe(void **state)
{
	kw_framer f;

	(void)state;
	memset(&f, 0, sizeof(f));
	kw_framer_free(&f);
	assert_int_equal(kw_framer_init(&f, 16), 0);
	kw_framer_free(&f);
	kw_framer_free(&f);
}

static void test_one_line(void **state)
{
	kw_framer f;

	(void)state;
	assert_int_equal(kw_framer_init(&f, 64), 0);
	expect_none(&f);
	feed_str(&f, "hello\n");
	expect_str(&f, "hello");
	expect_none(&f);
	assert_false(kw_framer_partial(&f));
	kw_framer_free(&f);
}

static void test_split_across_reads(void **state)
{
	static const char msg[] = "{\"jsonrpc\":\"2.0\",\"id\":1}\n";
	kw_framer f;

	(void)state;
	assert_int_equal(kw_framer_init(&f, 64), 0);
	for (size_t i = 0; i + 1 < sizeof(msg) - 1; i++) {
		assert_int_equal(feed(&f, msg + i, 1), 1);
		expect_none(&f);
		assert_true(kw_framer_partial(&f));
	}
	assert_int_equal(feed(&f, "\n", 1), 1);
	expect_str(&f, "{\"jsonrpc\":\"2.0\",\"id\":1}");
	expect_none(&f);
	assert_false(kw_framer_partial(&f));
	kw_framer_free(&f);
}

static void test_many_in_one_read(void **state)
{
	kw_framer f;

	(void)state;
	assert_int_equal(kw_framer_init(&f, 64), 0);
	feed_str(&f, "one\ntwo\n\nthree\nfou");
	expect_str(&f, "one");
	expect_str(&f, "two");
	expect_str(&f, "");
	expect_str(&f, "three");
	expect_none(&f);
	assert_true(kw_framer_partial(&f));
	feed_str(&f, "r\n");
	expect_str(&f, "four");
	expect_none(&f);
	assert_false(kw_framer_partial(&f));
	kw_framer_free(&f);
}

static void test_empty_lines(void **state)
{
	kw_framer f;

	(void)state;
	assert_int_equal(kw_framer_init(&f, 4), 0);
	feed_str(&f, "\n\n\n");
	expect_str(&f, "");
	expect_str(&f, "");
	expect_str(&f, "");
	expect_none(&f);
	assert_false(kw_framer_partial(&f));
	kw_framer_free(&f);
}

static void test_cr_kept(void **state)
{
	kw_framer f;

	(void)state;
	assert_int_equal(kw_framer_init(&f, 16), 0);
	feed_str(&f, "a\r\n\r\nb\rc\n");
	expect_str(&f, "a\r");
	expect_str(&f, "\r");
	expect_str(&f, "b\rc");
	expect_none(&f);
	kw_framer_free(&f);
}

/* Lines are bytes: an embedded NUL is data, and len says where it ends. */
static void test_binary_bytes(void **state)
{
	static const char data[] = "a\0b\xff\n";
	kw_framer f;

	(void)state;
	assert_int_equal(kw_framer_init(&f, 16), 0);
	assert_int_equal(feed(&f, data, sizeof(data) - 1), sizeof(data) - 1);
	expect_line(&f, "a\0b\xff", 4);
	kw_framer_free(&f);
}

static void test_exactly_max(void **state)
{
	char line[9] = "12345678";
	kw_framer f;

	(void)state;
	assert_int_equal(kw_framer_init(&f, 8), 0);
	assert_int_equal(feed(&f, line, 8), 8);
	expect_none(&f);
	assert_true(kw_framer_partial(&f));
	assert_int_equal(feed(&f, "\n", 1), 1);
	expect_str(&f, line);
	expect_none(&f);

	/* Again, now through a buffer that has been used and compacted. */
	feed_str(&f, "ab\n1234");
	expect_str(&f, "ab");
	feed_str(&f, "5678\n");
	expect_str(&f, line);
	kw_framer_free(&f);
}

static void test_max_plus_one(void **state)
{
	kw_framer f;
	char *line = NULL;
	size_t len = 0, room = 1;
	char *space = NULL;

	(void)state;
	assert_int_equal(kw_framer_init(&f, 8), 0);
	/* max + 1 bytes fit (the framer holds max + 1); the newline cannot. */
	assert_int_equal(feed(&f, "123456789\n", 10), 9);
	kw_framer_space(&f, &space, &room);
	assert_int_equal(room, 0);
	assert_int_equal(kw_framer_next(&f, &line, &len), KW_ETOOBIG);
	assert_null(line);
	assert_int_equal(len, 0);
	kw_framer_free(&f);
}

static void test_too_big_after_good_lines(void **state)
{
	kw_framer f;
	char *line = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(kw_framer_init(&f, 8), 0);
	feed_str(&f, "ok\n");
	expect_str(&f, "ok");
	assert_int_equal(feed(&f, "abcdefghijkl", 12), 9);
	assert_int_equal(kw_framer_next(&f, &line, &len), KW_ETOOBIG);
	kw_framer_free(&f);
}

static void test_space_full(void **state)
{
	kw_framer f;
	char *space = NULL;
	size_t room = 0;

	(void)state;
	assert_int_equal(kw_framer_init(&f, 4), 0);
	kw_framer_space(&f, &space, &room);
	assert_non_null(space);
	assert_int_equal(room, 5);
	assert_int_equal(feed(&f, "abc", 3), 3);
	kw_framer_space(&f, &space, &room);
	assert_int_equal(room, 2);
	assert_int_equal(feed(&f, "de", 2), 2);
	kw_framer_space(&f, &space, &room);
	assert_int_equal(room, 0);
	kw_framer_free(&f);
}

/* The buffer starts small and grows only as a line needs, never past
 * max + 1; a long line arrives intact across the moves. */
static void test_grows_to_bound(void **state)
{
	enum { MAX = 100000, LONG = 70000 };
	kw_framer f;
	char *data = malloc(MAX + 2), *line = NULL;
	size_t len = 0;

	(void)state;
	assert_non_null(data);
	for (size_t i = 0; i < MAX + 1; i++)
		data[i] = (char)('a' + i % 23);
	assert_int_equal(kw_framer_init(&f, MAX), 0);
	assert_true(f.cap <= 1024);
	feed_str(&f, "small\n");
	assert_int_equal(kw_framer_next(&f, &line, &len), 1);
	assert_true(f.cap <= 1024);

	data[LONG] = '\n';
	assert_int_equal(feed_chunked(&f, data, LONG + 1, 3000), LONG + 1);
	assert_true(f.cap > LONG && f.cap <= MAX + 1);
	assert_int_equal(kw_framer_next(&f, &line, &len), 1);
	assert_int_equal(len, LONG);
	assert_memory_equal(line, data, LONG);
	data[LONG] = (char)('a' + LONG % 23);

	/* max + 1 bytes without a newline: full at exactly max + 1. */
	assert_int_equal(feed_chunked(&f, data, MAX + 1, 4096), MAX + 1);
	assert_int_equal(f.cap, MAX + 1);
	assert_int_equal(feed(&f, "x", 1), 0);
	assert_int_equal(kw_framer_next(&f, &line, &len), KW_ETOOBIG);
	kw_framer_free(&f);
	free(data);
}

static void test_compaction(void **state)
{
	kw_framer f;
	char *space = NULL;
	size_t room = 0;

	(void)state;
	assert_int_equal(kw_framer_init(&f, 8), 0);
	feed_str(&f, "1234567\n");
	kw_framer_space(&f, &space, &room);
	assert_int_equal(room, 1);
	expect_str(&f, "1234567");
	/* All data consumed: the whole buffer is free again. */
	kw_framer_space(&f, &space, &room);
	assert_int_equal(room, 9);

	feed_str(&f, "ab\ncdef");
	expect_str(&f, "ab");
	kw_framer_space(&f, &space, &room);
	assert_int_equal(room, 9 - 4);
	assert_true(kw_framer_partial(&f));
	feed_str(&f, "ghij\n");
	expect_str(&f, "cdefghij");
	kw_framer_free(&f);
}

/* Consumed bytes may be secrets: they must not linger in the buffer. */
static void test_consumed_bytes_wiped(void **state)
{
	kw_framer f;
	char *line = NULL, *space = NULL;
	size_t len = 0, room = 0;

	(void)state;
	assert_int_equal(kw_framer_init(&f, 32), 0);
	feed_str(&f, "s3cr3t-v4lu3\nxy");
	assert_int_equal(kw_framer_next(&f, &line, &len), 1);
	assert_int_equal(len, 12);
	kw_framer_wipe_consumed(&f);
	for (size_t i = 0; i < 12; i++)
		assert_int_equal(line[i], 0);

	/* Without an explicit wipe, compaction must still wipe. */
	feed_str(&f, "\nanother-s3cr3t\nz");
	expect_str(&f, "xy");
	assert_int_equal(kw_framer_next(&f, &line, &len), 1);
	assert_int_equal(len, 14);
	kw_framer_space(&f, &space, &room);
	assert_null(memmem(f.buf, f.cap, "s3cr3t", 6));
	assert_null(memmem(f.buf, f.cap, "another", 7));
	feed_str(&f, "\n");
	expect_str(&f, "z");
	kw_framer_free(&f);
}

static void test_partial(void **state)
{
	kw_framer f;

	(void)state;
	assert_int_equal(kw_framer_init(&f, 16), 0);
	assert_false(kw_framer_partial(&f));
	feed_str(&f, "ab");
	assert_true(kw_framer_partial(&f));
	feed_str(&f, "\n");
	expect_str(&f, "ab");
	expect_none(&f);
	assert_false(kw_framer_partial(&f));
	feed_str(&f, "\n");
	expect_str(&f, "");
	assert_false(kw_framer_partial(&f));
	kw_framer_free(&f);
}

/* Deterministic xorshift so that a failure reproduces. */
static uint32_t next_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/*
 * A long stream of lines of every length up to max, delivered in reads of
 * random size: every line comes out whole and in order.
 */
static void test_stream(void **state)
{
	enum { MAX = 100, LINES = 2000 };
	size_t total = 0, pos = 0, got = 0;
	uint32_t seed = 0x6b77u;
	size_t *lens;
	char *stream;
	kw_framer f;

	(void)state;
	lens = calloc(LINES, sizeof(*lens));
	stream = malloc((size_t)LINES * (MAX + 1));
	assert_non_null(lens);
	assert_non_null(stream);
	for (size_t i = 0; i < LINES; i++) {
		lens[i] = next_rand(&seed) % (MAX + 1);
		for (size_t j = 0; j < lens[i]; j++)
			stream[total + j] = (char)('!' + (i + j) % 90);
		total += lens[i];
		stream[total++] = '\n';
	}

	assert_int_equal(kw_framer_init(&f, MAX), 0);
	while (got < LINES) {
		size_t chunk = 1 + next_rand(&seed) % 150;
		char *line;
		size_t len;
		int rc;

		if (chunk > total - pos)
			chunk = total - pos;
		pos += feed_chunked(&f, stream + pos, chunk, chunk);
		while ((rc = kw_framer_next(&f, &line, &len)) == 1) {
			assert_true(got < LINES);
			assert_int_equal(len, lens[got]);
			for (size_t j = 0; j < len; j++)
				assert_int_equal(line[j],
				                 (char)('!' + (got + j) % 90));
			kw_framer_wipe_consumed(&f);
			got++;
		}
		assert_int_equal(rc, 0);
	}
	assert_int_equal(pos, total);
	assert_false(kw_framer_partial(&f));
	kw_framer_free(&f);
	free(stream);
	free(lens);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_bounds),
		cmocka_unit_test(test_free_is_safe),
		cmocka_unit_test(test_one_line),
		cmocka_unit_test(test_split_across_reads),
		cmocka_unit_test(test_many_in_one_read),
		cmocka_unit_test(test_empty_lines),
		cmocka_unit_test(test_cr_kept),
		cmocka_unit_test(test_binary_bytes),
		cmocka_unit_test(test_exactly_max),
		cmocka_unit_test(test_max_plus_one),
		cmocka_unit_test(test_too_big_after_good_lines),
		cmocka_unit_test(test_space_full),
		cmocka_unit_test(test_compaction),
		cmocka_unit_test(test_consumed_bytes_wiped),
		cmocka_unit_test(test_partial),
		cmocka_unit_test(test_stream),
		cmocka_unit_test(test_grows_to_bound),
	};

	if (kw_secmem_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
