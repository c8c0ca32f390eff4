/*
 * test_config.c - keyward.ini parsing: defaults, every key, and errors that
 * name file:line and key while leaving the caller's config untouched.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "keyward.h"

static char dir[] = "/tmp/kw-config-XXXXXX";
static char path[256];

static void write_ini(const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_missing_file_gives_defaults(void **state)
{
	kw_config c, d;
	char err[256];
	(void)state;
	unlink(path);
	config_defaults(&d);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_memory_equal(&c, &d, sizeof(c));
	assert_int_equal(c.max_versions, 10);
	assert_int_equal(c.max_value_bytes, 65536);
}

static void test_every_key(void **state)
{
	kw_config c;
	char err[256];
	(void)state;
	write_ini("; comment\n"
	          "[agent]\n"
	          "socket = /run/user/1/kw.sock\n"
	          "max_frame_bytes = 200000\n"
	          "max_connections = 7\n"
	          "max_connections_per_uid = 3\n"
	          "idle_timeout_ms = 1500\n"
	          "frame_timeout_ms = 700\n"
	          "max_output_bytes = 65536\n"
	          "log_level = debug\n"
	          "[store]\n"
	          "max_value_bytes = 1000\n"
	          "max_versions = 4\n"
	          "[kdf]\n"
	          "opslimit = 1\n"
	          "memlimit_kib = 8192\n");
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_string_equal(c.socket, "/run/user/1/kw.sock");
	assert_int_equal(c.max_frame_bytes, 200000);
	assert_int_equal(c.max_connections, 7);
	assert_int_equal(c.max_connections_per_uid, 3);
	assert_int_equal(c.idle_timeout_ms, 1500);
	assert_int_equal(c.frame_timeout_ms, 700);
	assert_int_equal(c.max_output_bytes, 65536);
	assert_int_equal(c.log_level, KW_LOG_DEBUG);
	assert_int_equal(c.max_value_bytes, 1000);
	assert_int_equal(c.max_versions, 4);
	assert_int_equal(c.kdf_opslimit, 1);
	assert_int_equal(c.kdf_memlimit, 8192 * 1024);
}

/* Each bad file must fail with KW_ECONFIG, leave *c as it was, and produce
 * a message containing the expected fragments. */
static void expect_error(const char *text, const char *line_tag,
                         const char *fragment)
{
	kw_config c;
	char err[512];
	memset(&c, 0xA5, sizeof(c));
	kw_config before = c;
	write_ini(text);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), KW_ECONFIG);
	assert_memory_equal(&c, &before, sizeof(c));
	if (!strstr(err, line_tag) || !strstr(err, fragment))
		fail_msg("error \"%s\" lacks \"%s\" or \"%s\"", err, line_tag,
		         fragment);
}

static void test_errors_name_line_and_key(void **state)
{
	(void)state;
	expect_error("[agent]\nmax_connections = 0\n",
	             ":2:", "max_connections");
	expect_error("[agent]\nmax_connections = 65537\n", ":2:", "1 to 65536");
	expect_error("[agent]\n\nmax_connections = 12abc\n",
	             ":3:", "max_connections");
	expect_error("[agent]\nmax_connections = -5\n",
	             ":2:", "max_connections");
	expect_error("[agent]\nmax_connections = 99999999999999999999999\n",
	             ":2:", "max_connections");
	expect_error("[agent]\nmax_conections = 5\n", ":2:", "unknown key");
	expect_error("[agnet]\nmax_connections = 5\n",
	             ":2:", "unknown section");
	expect_error("max_connections = 5\n", ":1:", "unknown section");
	expect_error("[agent]\nsocket = relative.sock\n", ":2:", "absolute");
	expect_error("[agent]\nlog_level = loud\n", ":2:", "log_level");
	expect_error("[kdf]\nopslimit = 0\n", ":2:", "opslimit");
	expect_error("[store]\nmax_versions = 0\n", ":2:", "max_versions");
	expect_error("[agent\nmax_connections = 5\n", ":1:", "syntax");
	/* A value that cannot fit in a frame is a cross-key error. */
	expect_error("[agent]\nmax_frame_bytes = 4096\n", "keyward.ini",
	             "max_frame_bytes");
}

static void test_long_socket_rejected(void **state)
{
	char text[400];
	(void)state;
	char longpath[150]; /* over sun_path, under the line limit */
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	snprintf(text, sizeof(text), "[agent]\nsocket = %s\n", longpath);
	expect_error(text, ":2:", "108");
}

/* A comment longer than inih's line buffer must not leak a setting. */
static void test_overlong_line_rejected(void **state)
{
	char text[600];
	(void)state;
	int n = snprintf(text, sizeof(text), "[agent]\n; ");
	/* 2 + 197 bytes fill inih's buffer; the rest would be a line. */
	for (int i = 0; i < 197; i++)
		text[n++] = 'x';
	snprintf(text + n, sizeof(text) - (size_t)n, "max_connections = 3\n");
	expect_error(text, ":2:", "too long");
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/keyward.ini", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	rmdir(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_missing_file_gives_defaults),
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_errors_name_line_and_key),
		cmocka_unit_test(test_long_socket_rejected),
		cmocka_unit_test(test_overlong_line_rejected),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
