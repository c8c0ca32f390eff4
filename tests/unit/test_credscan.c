/*
 * test_credscan.c - the credential rules (common/credscan.h) on a table
 * of what MCP configs hold: tokens of every listed service, credential
 * names, and the settings that tempt a careless rule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "credscan.h"
#include "secmem.h"

struct row {
	const char *name;
	const char *value;
	enum kw_cred_rule want;
};

static const struct row rows[] = {
	/* Prefixes, under names that say nothing. */
	{ "X", "ghp_kwFixtureDesktop00000000000000000001", KW_CRED_PREFIX },
	{ "X", "gho_16C7e42F292c6912E7710c838347Ae178B4a", KW_CRED_PREFIX },
	{ "X", "github_pat_11ABCDEFG0abcdefghijklmnopqrstuv", KW_CRED_PREFIX },
	{ "X", "sk-ant-api03-abcdefghijklmnopqrstuvwxyz", KW_CRED_PREFIX },
	{ "X", "sk-proj-abcdefghijklmnopqrstuvwxyz0123", KW_CRED_PREFIX },
	{ "X", "sk-abcdefghijklmnopqrstuvwxyz0123", KW_CRED_PREFIX },
	{ "X", "sk_test_kwFixtureWindsurf000001", KW_CRED_PREFIX },
	{ "X", "xoxb-0000000001-0000000002-abcdef", KW_CRED_PREFIX },
	{ "X", "xoxp-0000000001-0000000002-abcdef", KW_CRED_PREFIX },
	{ "X", "xapp-1-A0000000001-abcdef", KW_CRED_PREFIX },
	{ "X", "glpat-kwFixtureCursor00000001", KW_CRED_PREFIX },
	{ "X", "AKIAKWFIXTURECURSOR1", KW_CRED_PREFIX },
	{ "X", "ASIAKWFIXTURECURSOR1", KW_CRED_PREFIX },
	{ "X", "AIzaSyA-kwFixture0000000000000000000000", KW_CRED_PREFIX },
	{ "X", "npm_abcdefghijklmnopqrstuvwxyz0123456789", KW_CRED_PREFIX },
	{ "X", "pypi-AgEIcHlwaS5vcmcCJGFiY2RlZmdoaWprbG1u", KW_CRED_PREFIX },
	{ "X", "hf_kwFixtureVsCode000000000000000000001", KW_CRED_PREFIX },
	{ "X", "SG.kwFixtureGemini0001.kwFixtureGeminiSendGrid",
	  KW_CRED_PREFIX },
	{ "X", "sq0atp-abcdefghijklmnopqrstuv", KW_CRED_PREFIX },
	{ "X", "shpat_abcdef0123456789abcdef0123456789", KW_CRED_PREFIX },
	{ "X", "dop_v1_0123456789abcdef0123456789abcdef0123", KW_CRED_PREFIX },
	{ "X", "lin_api_kwFixtureCursorRemote000000", KW_CRED_PREFIX },
	{ "X", "ntn_kwFixtureVsCode0000000000000000000000002", KW_CRED_PREFIX },
	{ "X", "secret_kwFixtureNotionOld00000000000000", KW_CRED_PREFIX },
	{ "Authorization", "Bearer abcdefgh12345678", KW_CRED_PREFIX },
	{ "X", "Basic dXNlcjpwYXNzd29yZA==", KW_CRED_PREFIX },
	{ "X", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbg==\n",
	  KW_CRED_PREFIX },
	/* A prefix alone, or followed by a sentence, is no token. */
	{ "X", "sk-", KW_CRED_NONE },
	{ "X", "sk-learn is a library name", KW_CRED_NONE },
	{ "X", "AKIA", KW_CRED_NONE },
	{ "X", "hf_home", KW_CRED_NONE },
	/* Passwords in URLs. */
	{ "DATABASE_URL", "postgresql://app:pw@db:5432/app", KW_CRED_URL },
	{ "X", "redis://:hunter2@cache:6379/0", KW_CRED_URL },
	{ "X", "https://user@example.com/", KW_CRED_NONE },
	{ "X", "https://example.com/a@b", KW_CRED_NONE },
	/* Names. */
	{ "PGPASSWORD", "correct-horse-battery-desktop", KW_CRED_NAME },
	{ "GITHUB_PAT", "abc", KW_CRED_NAME },
	{ "PAT_GITHUB", "abc", KW_CRED_NAME },
	{ "API_KEY", "1234", KW_CRED_NAME },
	{ "X-Api-Key", "k1", KW_CRED_NAME },
	{ "apiKey", "k1", KW_CRED_NAME },
	{ "DB_PASS", "pw", KW_CRED_NAME },
	{ "CLIENT_SECRET", "s", KW_CRED_NAME },
	{ "GOOGLE_CREDENTIALS", "{\"type\":\"x\"}", KW_CRED_NAME },
	{ "UPSTREAM_AUTH", "u:p", KW_CRED_NAME },
	{ "authToken", "t", KW_CRED_NAME },
	{ "AWS_ACCESS_KEY_ID", "ABCDEFGH", KW_CRED_NAME },
	{ "Cookie", "session=abc", KW_CRED_NAME },
	{ "SSH_PASSPHRASE", "words and spaces", KW_CRED_NAME },
	/* Names that only look like it. */
	{ "PATH", "/usr/local/bin:/usr/bin:/bin", KW_CRED_NONE },
	{ "PATHEXT", ".COM;.EXE", KW_CRED_NONE },
	{ "KEYBOARD_LAYOUT", "us", KW_CRED_NONE },
	{ "MAX_TOKENS", "4096", KW_CRED_NONE },
	{ "TOKENIZER", "cl100k_base", KW_CRED_NONE },
	{ "GIT_AUTHOR_NAME", "Ada", KW_CRED_NONE },
	{ "PWD", "/home/user", KW_CRED_NONE },
	{ "STRIPE_PUBLISHABLE_KEY", "pk_test_abc", KW_CRED_NONE },
	{ "PUBLIC_KEY", "ssh-ed25519 AAAA", KW_CRED_NONE },
	{ "TOKEN_URL", "https://auth.example.com/token", KW_CRED_NONE },
	{ "AUTH_URL", "https://auth.example.com/", KW_CRED_NONE },
	{ "API_KEY_FILE", "/run/secrets/key", KW_CRED_NONE },
	{ "TOKEN_TTL", "3600", KW_CRED_NONE },
	/* Credential names holding settings, not credentials. */
	{ "GOOGLE_APPLICATION_CREDENTIALS", "/home/u/sa.json", KW_CRED_NONE },
	{ "SSH_KEY", "~/.ssh/id_ed25519", KW_CRED_NONE },
	{ "AUTH_ENABLED", "true", KW_CRED_NONE },
	{ "USE_AUTH", "false", KW_CRED_NONE },
	{ "OAUTH_ISSUER", "https://accounts.example.com", KW_CRED_NONE },
	/* References hold no value. */
	{ "GITHUB_TOKEN", "${input:github-token}", KW_CRED_NONE },
	{ "GITHUB_TOKEN", "${env:GITHUB_TOKEN}", KW_CRED_NONE },
	{ "GITHUB_TOKEN", "${GITHUB_TOKEN}", KW_CRED_NONE },
	{ "GITHUB_TOKEN", "$GITHUB_TOKEN", KW_CRED_NONE },
	{ "GITHUB_TOKEN", "keyward://github/token", KW_CRED_NONE },
	{ "Authorization", "Bearer ${input:token}", KW_CRED_NONE },
	{ "GITHUB_TOKEN", "", KW_CRED_NONE },
	/* A reference with something around it is a value. */
	{ "GITHUB_TOKEN", "x${input:a}", KW_CRED_NAME },
	/* Entropy. */
	{ "INTERNAL_SERVICE_CONFIG", "Ev9MDzVfBwr2pvFjUhn8vtt93yWh8Bth",
	  KW_CRED_ENTROPY },
	{ "X", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3j",
	  KW_CRED_ENTROPY },
	{ "X",
	  "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
	  KW_CRED_ENTROPY },
	{ "X", "3f2b8c1e-9d4a-4b7e-8f10-2a6c5e9d0b13", KW_CRED_NONE },
	{ "X", "claude-3-5-sonnet-20241022", KW_CRED_NONE },
	{ "X", "gpt-4o-mini-2024-07-18", KW_CRED_NONE },
	{ "X", "https://api.github.com/repos/x/y", KW_CRED_NONE },
	{ "X", "/home/user/.cache/huggingface", KW_CRED_NONE },
	{ "X", "ThisIsMyLongVariableName", KW_CRED_NONE },
	{ "X", "true", KW_CRED_NONE },
	{ "X", "1234567890123456789012345", KW_CRED_NONE },
	{ "X", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", KW_CRED_NONE },
	{ "X", "weather-mcp/1.0 (ops@example.com)", KW_CRED_NONE },
	{ "X", "d41d8cd98f00b204", KW_CRED_NONE },
	{ "X", "com.example.application.name", KW_CRED_NONE },
	{ "NOTION_VERSION", "2022-06-28", KW_CRED_NONE },
};

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		enum kw_cred_rule got =
			kw_cred_classify(r->name, r->value, strlen(r->value));
		if (got != r->want)
			fail_msg("row %zu (%s): got %s, want %s", i, r->name,
			         kw_cred_rule_name(got),
			         kw_cred_rule_name(r->want));
	}
}

static void test_fingerprint(void **state)
{
	char a[KW_CRED_FP_SIZE], b[KW_CRED_FP_SIZE];
	const char *tok = "ghp_kwFixtureDesktop00000000000000000001";
	const char *rnd = "Ev9MDzVfBwr2pvFjUhn8vtt93yWh8Bth";
	(void)state;

	/* Stable across calls (a fixed key), eight hex digits. */
	assert_true(kw_cred_fingerprint(KW_CRED_PREFIX, tok, strlen(tok), a));
	assert_true(kw_cred_fingerprint(KW_CRED_PREFIX, tok, strlen(tok), b));
	assert_string_equal(a, b);
	assert_int_equal(strlen(a), KW_CRED_FP_HEX);
	assert_true(kw_cred_fingerprint(KW_CRED_ENTROPY, rnd, strlen(rnd), b));
	assert_string_not_equal(a, b);
	/* A guessable value gets none: a password, a short or spaced one, a
	 * URL (its password may be weak), a prefix with a weak rest. */
	assert_false(kw_cred_fingerprint(KW_CRED_NAME, "hunter2", 7, a));
	const char *pw = "correct-horse-battery-desktop";
	assert_false(kw_cred_fingerprint(KW_CRED_NAME, pw, strlen(pw), a));
	const char *url = "postgresql://app:kwFixtureGeminiDbPw01@db:5432/a";
	assert_false(kw_cred_fingerprint(KW_CRED_URL, url, strlen(url), a));
	const char *weak = "ghp_aaaaaaaaaaaaaaaaaaaaaaaa";
	assert_false(
		kw_cred_fingerprint(KW_CRED_PREFIX, weak, strlen(weak), a));
	assert_false(kw_cred_fingerprint(KW_CRED_NONE, rnd, strlen(rnd), a));
}

static void test_entropy(void **state)
{
	(void)state;
	assert_true(kw_cred_entropy("", 0) == 0.0);
	assert_true(kw_cred_entropy("aaaa", 4) == 0.0);
	assert_true(kw_cred_entropy("abcd", 4) == 2.0);
}

static void test_rule_names(void **state)
{
	(void)state;
	assert_string_equal(kw_cred_rule_name(KW_CRED_PREFIX), "prefix");
	assert_string_equal(kw_cred_rule_name(KW_CRED_URL), "url");
	assert_string_equal(kw_cred_rule_name(KW_CRED_NAME), "name");
	assert_string_equal(kw_cred_rule_name(KW_CRED_ENTROPY), "entropy");
	assert_string_equal(kw_cred_rule_name(KW_CRED_NONE), "none");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_fingerprint),
		cmocka_unit_test(test_entropy),
		cmocka_unit_test(test_rule_names),
	};
	if (kw_secmem_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
