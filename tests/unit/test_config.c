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
	assert_int_equal(c.confine_files, 1); /* Landlock unless turned off */
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
	          "confine_files = off\n"
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
	assert_int_equal(c.confine_files, 0);
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
	expect_error("[agent]\nconfine_files = yes\n", ":2:", "on or off");
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

static void test_rotation_defaults(void **state)
{
	kw_config c;
	char err[256];
	(void)state;
	memset(&c, 0xA5, sizeof(c));
	config_defaults(&c);
	assert_int_equal(c.rotation_max_attempts, 5);
	assert_int_equal(c.rotation_retry_seconds, 30);
	assert_int_equal(c.rotation_command_timeout, 30);
	assert_int_equal(c.rotation_webhook_timeout, 30);
	assert_int_equal(c.rotation_default_overlap, 86400);
	assert_string_equal(c.rotation_webhook_ca_file, "");
	/* An empty [rotation] changes nothing either. */
	write_ini("[rotation]\n");
	memset(&c, 0xA5, sizeof(c));
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_int_equal(c.rotation_max_attempts, 5);
	assert_int_equal(c.rotation_retry_seconds, 30);
	assert_int_equal(c.rotation_command_timeout, 30);
	assert_int_equal(c.rotation_webhook_timeout, 30);
	assert_int_equal(c.rotation_default_overlap, 86400);
	assert_string_equal(c.rotation_webhook_ca_file, "");
}

static void test_rotation_every_key(void **state)
{
	kw_config c;
	char err[256];
	(void)state;
	write_ini("[rotation]\n"
	          "max_attempts = 9\n"
	          "retry_seconds = 45\n"
	          "command_timeout_seconds = 120\n"
	          "webhook_timeout_seconds = 17\n"
	          "default_overlap_seconds = 600\n"
	          "webhook_ca_file = /etc/keyward/ca.pem\n"
	          "[store]\n"
	          "max_versions = 4\n");
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_int_equal(c.rotation_max_attempts, 9);
	assert_int_equal(c.rotation_retry_seconds, 45);
	assert_int_equal(c.rotation_command_timeout, 120);
	assert_int_equal(c.rotation_webhook_timeout, 17);
	assert_int_equal(c.rotation_default_overlap, 600);
	assert_string_equal(c.rotation_webhook_ca_file, "/etc/keyward/ca.pem");
	assert_int_equal(c.max_versions, 4);
	/* Each bound is a legal value. */
	write_ini("[rotation]\n"
	          "max_attempts = 1\n"
	          "retry_seconds = 1\n"
	          "command_timeout_seconds = 1\n"
	          "webhook_timeout_seconds = 1\n"
	          "default_overlap_seconds = 0\n");
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_int_equal(c.rotation_max_attempts, 1);
	assert_int_equal(c.rotation_retry_seconds, 1);
	assert_int_equal(c.rotation_command_timeout, 1);
	assert_int_equal(c.rotation_webhook_timeout, 1);
	assert_int_equal(c.rotation_default_overlap, 0);
	write_ini("[rotation]\n"
	          "max_attempts = 100\n"
	          "retry_seconds = 86400\n"
	          "command_timeout_seconds = 3600\n"
	          "webhook_timeout_seconds = 300\n"
	          "default_overlap_seconds = 31536000\n");
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_int_equal(c.rotation_max_attempts, 100);
	assert_int_equal(c.rotation_retry_seconds, 86400);
	assert_int_equal(c.rotation_command_timeout, 3600);
	assert_int_equal(c.rotation_webhook_timeout, 300);
	assert_int_equal(c.rotation_default_overlap, 31536000);
}

/* A bad file fails with KW_ECONFIG, leaves *c as it was, and says exactly
 * "PATH:" followed by want. */
static void expect_exact(const char *text, const char *want)
{
	kw_config c;
	char err[512], full[512];
	memset(&c, 0xA5, sizeof(c));
	kw_config before = c;
	write_ini(text);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), KW_ECONFIG);
	assert_memory_equal(&c, &before, sizeof(c));
	snprintf(full, sizeof(full), "%s:%s", path, want);
	assert_string_equal(err, full);
}

/* [audit] checkpoint_failure and anchor (issue 12). */
static void test_audit_checkpoint_keys(void **state)
{
	kw_config c;
	char err[512];

	(void)state;
	write_ini("[audit]\n");
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_int_equal(c.audit_checkpoint_refuse, 0);
	assert_string_equal(c.audit_anchor, "");
	write_ini("[audit]\ncheckpoint_failure = refuse\n"
	          "anchor = /mnt/other/keyward.anchor\n");
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_int_equal(c.audit_checkpoint_refuse, 1);
	assert_string_equal(c.audit_anchor, "/mnt/other/keyward.anchor");
	write_ini("[audit]\ncheckpoint_failure = warn\n");
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_int_equal(c.audit_checkpoint_refuse, 0);
	expect_exact("[audit]\ncheckpoint_failure = ignore\n",
	             "2: checkpoint_failure: must be warn or refuse");
	expect_exact("[audit]\nanchor = keyward.anchor\n",
	             "2: anchor: must be an absolute path");
	expect_exact("[audit]\nanchor =\n",
	             "2: anchor: must be an absolute path");
}

static void test_rotation_errors(void **state)
{
	(void)state;
	expect_exact("[rotation]\nmax_attempts = 0\n",
	             "2: max_attempts: must be an integer from 1 to 100");
	expect_exact("[rotation]\nmax_attempts = 101\n",
	             "2: max_attempts: must be an integer from 1 to 100");
	expect_exact("[rotation]\nretry_seconds = 0\n",
	             "2: retry_seconds: must be an integer from 1 to 86400");
	expect_exact("[rotation]\n\nretry_seconds = 86401\n",
	             "3: retry_seconds: must be an integer from 1 to 86400");
	expect_exact("[rotation]\ncommand_timeout_seconds = 0\n",
	             "2: command_timeout_seconds: must be an integer from 1 "
	             "to 3600");
	expect_exact("[rotation]\ncommand_timeout_seconds = 3601\n",
	             "2: command_timeout_seconds: must be an integer from 1 "
	             "to 3600");
	expect_exact("[rotation]\nwebhook_timeout_seconds = 0\n",
	             "2: webhook_timeout_seconds: must be an integer from 1 "
	             "to 300");
	expect_exact("[rotation]\nwebhook_timeout_seconds = 301\n",
	             "2: webhook_timeout_seconds: must be an integer from 1 "
	             "to 300");
	expect_exact("[rotation]\ndefault_overlap_seconds = 31536001\n",
	             "2: default_overlap_seconds: must be an integer from 0 "
	             "to 31536000");
	expect_exact("[rotation]\ndefault_overlap_seconds = -1\n",
	             "2: default_overlap_seconds: must be an integer from 0 "
	             "to 31536000");
	/* Durations are plain seconds here, not "1d". */
	expect_exact("[rotation]\ndefault_overlap_seconds = 1d\n",
	             "2: default_overlap_seconds: must be an integer from 0 "
	             "to 31536000");
	expect_exact("[rotation]\nmax_attempts = 99999999999999999999999\n",
	             "2: max_attempts: must be an integer from 1 to 100");
	/* A good key before the bad one is not applied either. */
	expect_exact("[rotation]\nmax_attempts = 7\nretry_seconds = x\n",
	             "3: retry_seconds: must be an integer from 1 to 86400");
	expect_exact("[rotation]\nwebhook_ca_file = ca.pem\n",
	             "2: webhook_ca_file: must be an absolute path");
	expect_exact("[rotation]\nwebhook_ca_file = ./ca.pem\n",
	             "2: webhook_ca_file: must be an absolute path");
	expect_exact("[rotation]\nwebhook_ca_file =\n",
	             "2: webhook_ca_file: must be an absolute path");
	expect_exact("[rotation]\nmax_attempt = 5\n",
	             "2: max_attempt: unknown key in this section");
	/* Keys belong to their own section only. */
	expect_exact("[rotation]\nmax_versions = 5\n",
	             "2: max_versions: unknown key in this section");
	expect_exact("[agent]\nmax_attempts = 5\n",
	             "2: max_attempts: unknown key in this section");
	expect_exact("[store]\nwebhook_ca_file = /etc/ca.pem\n",
	             "2: webhook_ca_file: unknown key in this section");
	expect_exact("[rotate]\nmax_attempts = 5\n",
	             "2: rotate: unknown section (expected agent, store, "
	             "audit, rotation, oauth, token or kdf)");
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

/* Who may reach the socket: the owner (0600, the default) or the owner
 * and one group (0660 with socket_group), never anyone else. */
static void test_socket_access(void **state)
{
	kw_config c;
	char err[256];
	(void)state;
	write_ini("");
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_int_equal(c.socket_mode, 0600);
	assert_string_equal(c.socket_group, "");
	write_ini("[agent]\nsocket_mode = 0660\nsocket_group = root\n");
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_int_equal(c.socket_mode, 0660);
	assert_string_equal(c.socket_group, "root");
	assert_int_equal(c.socket_gid, 0);
	write_ini("[agent]\nsocket_mode = 660\nsocket_group = 4242\n");
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_int_equal(c.socket_mode, 0660);
	assert_int_equal(c.socket_gid, 4242);
	write_ini("[agent]\nsocket_mode = 0600\n");
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_int_equal(c.socket_mode, 0600);
	expect_exact("[agent]\nsocket_mode = 0666\n",
	             "2: socket_mode: must be 0600 or 0660");
	expect_exact("[agent]\nsocket_mode = 0644\n",
	             "2: socket_mode: must be 0600 or 0660");
	expect_exact("[agent]\nsocket_mode = 0700\n",
	             "2: socket_mode: must be 0600 or 0660");
	expect_exact("[agent]\nsocket_group = no-such-group-kw\n",
	             "2: socket_group: no such group on this system");
	expect_exact("[agent]\nsocket_mode = 0660\n",
	             " socket_mode: 0660 needs socket_group (the group "
	             "allowed to connect)");
	expect_exact("[agent]\nsocket_group = root\n",
	             " socket_group: has no effect unless socket_mode is "
	             "0660");
}

static void test_token_section(void **state)
{
	kw_config c;
	char err[256];
	(void)state;
	write_ini("");
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_string_equal(c.token_issuer, "keyward");
	assert_string_equal(c.token_signing_key, "keyward/token-signing");
	assert_int_equal(c.token_alg, TOKEN_ALG_EDDSA);
	assert_int_equal(c.token_default_ttl, 900);
	assert_int_equal(c.token_max_ttl, 86400);
	assert_int_equal(c.token_leeway, 60);
	write_ini("[token]\n"
	          "issuer = https://auth.example.com\n"
	          "signing_key = jwt/main\n"
	          "alg = HS256\n"
	          "default_ttl_seconds = 300\n"
	          "max_ttl_seconds = 3600\n"
	          "leeway_seconds = 0\n");
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_string_equal(c.token_issuer, "https://auth.example.com");
	assert_string_equal(c.token_signing_key, "jwt/main");
	assert_int_equal(c.token_alg, TOKEN_ALG_HS256);
	assert_int_equal(c.token_default_ttl, 300);
	assert_int_equal(c.token_max_ttl, 3600);
	assert_int_equal(c.token_leeway, 0);
	expect_exact("[token]\nalg = none\n", "2: alg: must be EdDSA or HS256");
	expect_exact("[token]\nissuer = a b\n",
	             "2: issuer: must be printable ASCII without spaces");
	expect_exact("[token]\nsigning_key = ../x\n",
	             "2: signing_key: segments must not be '.' or '..'");
	expect_exact("[token]\nleeway_seconds = 601\n",
	             "2: leeway_seconds: must be an integer from 0 to 600");
	expect_exact("[token]\ndefault_ttl_seconds = 7200\n"
	             "max_ttl_seconds = 3600\n",
	             " default_ttl_seconds: must not exceed max_ttl_seconds "
	             "(3600)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_missing_file_gives_defaults),
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_errors_name_line_and_key),
		cmocka_unit_test(test_long_socket_rejected),
		cmocka_unit_test(test_overlong_line_rejected),
		cmocka_unit_test(test_rotation_defaults),
		cmocka_unit_test(test_rotation_every_key),
		cmocka_unit_test(test_rotation_errors),
		cmocka_unit_test(test_audit_checkpoint_keys),
		cmocka_unit_test(test_token_section),
		cmocka_unit_test(test_socket_access),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
