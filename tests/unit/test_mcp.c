/*
 * test_mcp.c - the agent-free part of `keyward mcp` (cli/mcp.h) on
 * config strings: which servers and credentials a config holds, the
 * rewrite (every other byte kept, layout followed, idempotent), the
 * redacted views and the line diff of --dry-run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "keyward.h"
#include "mcp.h"
#include "secmem.h"

#define EXE "/opt/kw/bin/keyward"

static struct mcp_config *parse(const char *text)
{
	struct mcp_config *cfg = NULL;
	char why[200];
	int r = mcp_config_parse(text, strlen(text), EXE, &cfg, why,
	                         sizeof(why));
	if (r != 0)
		fail_msg("parse: %d %s", r, why);
	return cfg;
}

/* Render with o and every importable server selected. */
static char *render_opts(const struct mcp_config *cfg,
                         const struct mcp_render_opts *o)
{
	bool sel[16] = { false };
	char why[200], *out = NULL;
	size_t len;

	assert_true(cfg->nservers <= 16);
	for (size_t i = 0; i < cfg->nservers; i++)
		sel[i] = mcp_server_importable(&cfg->servers[i]);
	int r = mcp_render(cfg, sel, o, &out, &len, why, sizeof(why));
	if (r != 0)
		fail_msg("render: %d %s", r, why);
	assert_int_equal(strlen(out), len);
	return out;
}

static char *render(const struct mcp_config *cfg, bool rewrite, bool redact,
                    char *const *token_files)
{
	struct mcp_render_opts o = { .exe = EXE,
		                     .prefix = "mcp/",
		                     .token_files = token_files,
		                     .rewrite = rewrite,
		                     .redact = redact };
	return render_opts(cfg, &o);
}

static const char desktop[] =
	"{\n"
	"  \"zeta\": 1,\n"
	"  \"mcpServers\": {\n"
	"    \"github\": {\n"
	"      \"command\": \"npx\",\n"
	"      \"args\": [\"-y\", \"@modelcontextprotocol/server-github\"],\n"
	"      \"env\": {\n"
	"        \"LOG_LEVEL\": \"info\",\n"
	"        \"GITHUB_TOKEN\": \"ghp_abcdefghijklmnopqrstuvwxyz0123456789\",\n"
	"        \"PATH\": \"/usr/bin\"\n"
	"      },\n"
	"      \"disabled\": false\n"
	"    },\n"
	"    \"remote\": {\n"
	"      \"url\": \"https://example.com/mcp\",\n"
	"      \"headers\": {\"Authorization\": \"Bearer abcdefgh12345678\"}\n"
	"    }\n"
	"  },\n"
	"  \"alpha\": [1, 2]\n"
	"}\n";

static const char desktop_after[] =
	"{\n"
	"  \"zeta\": 1,\n"
	"  \"mcpServers\": {\n"
	"    \"github\": {\n"
	"      \"command\": \"" EXE "\",\n"
	"      \"args\": [\"run\", \"--env\", "
	"\"GITHUB_TOKEN=mcp/github/GITHUB_TOKEN\", \"--\", \"npx\", \"-y\", "
	"\"@modelcontextprotocol/server-github\"],\n"
	"      \"env\": {\n"
	"        \"LOG_LEVEL\": \"info\",\n"
	"        \"PATH\": \"/usr/bin\"\n"
	"      },\n"
	"      \"disabled\": false\n"
	"    },\n"
	"    \"remote\": {\n"
	"      \"command\": \"" EXE "\", \"args\": [\"mcp\", \"proxy\", "
	"\"https://example.com/mcp\", \"--header\", "
	"\"Authorization: {{keyward://mcp/remote/Authorization}}\"]\n"
	"    }\n"
	"  },\n"
	"  \"alpha\": [1, 2]\n"
	"}\n";

static void test_servers(void **state)
{
	struct mcp_config *cfg = parse(desktop);
	(void)state;

	assert_int_equal(cfg->nservers, 2);
	const struct mcp_server *gh = &cfg->servers[0], *rm = &cfg->servers[1];
	assert_string_equal(gh->name, "github");
	assert_false(gh->remote);
	assert_int_equal(gh->ncreds, 1);
	assert_int_equal(gh->nenv_creds, 1);
	assert_string_equal(gh->creds[0].var, "GITHUB_TOKEN");
	assert_int_equal(gh->creds[0].rule, KW_CRED_PREFIX);
	assert_int_equal(gh->creds[0].len, 40);
	assert_true(mcp_server_importable(gh));
	assert_string_equal(rm->name, "remote");
	assert_true(rm->remote);
	assert_int_equal(rm->nenv_creds, 0);
	assert_int_equal(rm->ncreds, 1);
	assert_true(rm->creds[0].header);
	assert_true(mcp_server_proxyable(rm));
	assert_true(mcp_server_importable(rm));
	assert_int_equal(rm->move_first, 0);
	assert_int_equal(rm->move_end, 1);
	mcp_config_free(cfg);
}

/* A remote server with a type, other headers, and the URL after the
 * headers: the URL member becomes command and args, plain headers pass
 * as they are, "type" becomes "stdio"; http:// to loopback gets both
 * escapes. An SSE server and one without credentials stay. */
static void test_remote_to_proxy(void **state)
{
	static const char in[] =
		"{\"servers\": {\n"
		"  \"api\": {\n"
		"    \"type\": \"http\",\n"
		"    \"headers\": {\"X-Api-Key\": \"sk-abcdefghijklmnopqrst123456\","
		" \"Accept-Language\": \"en\"},\n"
		"    \"url\": \"http://127.0.0.1:8080/mcp\"\n"
		"  },\n"
		"  \"old\": {\"type\": \"sse\", \"url\": \"https://x/sse\","
		" \"headers\": {\"Authorization\": \"Bearer abcdefgh12345678\"}},\n"
		"  \"open\": {\"url\": \"https://x/mcp\"}\n"
		"}}\n";
	static const char want[] =
		"{\"servers\": {\n"
		"  \"api\": {\n"
		"    \"type\": \"stdio\",\n"
		"    \"command\": \"" EXE "\", \"args\": [\"mcp\", \"proxy\", "
		"\"http://127.0.0.1:8080/mcp\", \"--header\", "
		"\"X-Api-Key: {{keyward://mcp/api/X-Api-Key}}\", \"--header\", "
		"\"Accept-Language: en\", \"--allow-insecure\", "
		"\"--allow-private\"]\n"
		"  },\n"
		"  \"old\": {\"type\": \"sse\", \"url\": \"https://x/sse\","
		" \"headers\": {\"Authorization\": \"Bearer abcdefgh12345678\"}},\n"
		"  \"open\": {\"url\": \"https://x/mcp\"}\n"
		"}}\n";
	struct mcp_config *cfg = parse(in);
	(void)state;

	assert_int_equal(cfg->nservers, 3);
	assert_true(mcp_server_proxyable(&cfg->servers[0]));
	assert_false(mcp_server_importable(&cfg->servers[1]));
	assert_false(mcp_server_importable(&cfg->servers[2]));
	char *out = render(cfg, true, false, NULL);
	assert_string_equal(out, want);
	/* Nothing left to import in what it wrote. */
	struct mcp_config *again = parse(out);
	assert_false(mcp_server_importable(&again->servers[0]));
	kw_wipefree(out);
	mcp_config_free(again);
	mcp_config_free(cfg);
}

/* One-line args stay one line; only the server's spans change. */
static void test_rewrite_one_line(void **state)
{
	struct mcp_config *cfg = parse(desktop);
	(void)state;

	char *out = render(cfg, true, false, NULL);
	assert_string_equal(out, desktop_after);
	/* Idempotent: the result has nothing left to import. */
	struct mcp_config *again = parse(out);
	assert_true(again->servers[0].wrapped);
	assert_false(mcp_server_importable(&again->servers[0]));
	kw_wipefree(out);
	mcp_config_free(again);
	mcp_config_free(cfg);
}

/* JSONC: comments and trailing commas stay; a multi-line array is laid
 * out one element a line at its old indentation; every credential of
 * env removed leaves {}; a missing "args" is added after "command". */
static void test_rewrite_jsonc(void **state)
{
	static const char in[] =
		"{\n"
		"\t// servers\n"
		"\t\"servers\": {\n"
		"\t\t\"hf\": {\n"
		"\t\t\t\"type\": \"stdio\", /* keep */\n"
		"\t\t\t\"command\": \"uvx\",\n"
		"\t\t\t\"args\": [\n"
		"\t\t\t\t\"hf-mcp\",\n"
		"\t\t\t],\n"
		"\t\t\t\"env\": {\"HF_TOKEN\": \"hf_abcdefghijklmnopqrstuvwxyz\","
		" \"X_API_KEY\": \"k1\",},\n"
		"\t\t},\n"
		"\t\t\"bare\": {\"command\": \"srv\", \"env\": {\"A\": \"1\", "
		"\"DB_PASSWORD\": \"pw\"}},\n"
		"\t},\n"
		"}\n";
	static const char want[] =
		"{\n"
		"\t// servers\n"
		"\t\"servers\": {\n"
		"\t\t\"hf\": {\n"
		"\t\t\t\"type\": \"stdio\", /* keep */\n"
		"\t\t\t\"command\": \"" EXE "\",\n"
		"\t\t\t\"args\": [\n"
		"\t\t\t\t\"run\",\n"
		"\t\t\t\t\"--env\",\n"
		"\t\t\t\t\"HF_TOKEN=mcp/hf/HF_TOKEN\",\n"
		"\t\t\t\t\"--env\",\n"
		"\t\t\t\t\"X_API_KEY=mcp/hf/X_API_KEY\",\n"
		"\t\t\t\t\"--\",\n"
		"\t\t\t\t\"uvx\",\n"
		"\t\t\t\t\"hf-mcp\"\n"
		"\t\t\t],\n"
		"\t\t\t\"env\": {},\n"
		"\t\t},\n"
		"\t\t\"bare\": {\"command\": \"" EXE "\", \"args\": [\"run\", "
		"\"--env\", \"DB_PASSWORD=mcp/bare/DB_PASSWORD\", \"--\", "
		"\"srv\"], \"env\": {\"A\": \"1\"}},\n"
		"\t},\n"
		"}\n";
	struct mcp_config *cfg = parse(in);
	(void)state;

	char *out = render(cfg, true, false, NULL);
	assert_string_equal(out, want);
	kw_wipefree(out);
	mcp_config_free(cfg);
}

/* Credentials first and in the middle of env go with their separators. */
static void test_env_removal(void **state)
{
	static const char in[] =
		"{\"mcpServers\": {\"s\": {\"command\": \"c\", \"args\": [],\n"
		"  \"env\": {\n"
		"    \"A_TOKEN\": \"t1\",\n"
		"    \"KEEP1\": \"v\",\n"
		"    \"B_SECRET\": \"t2\",\n"
		"    \"KEEP2\": \"w\",\n"
		"    \"C_PASSWORD\": \"t3\",\n"
		"    \"D_KEY\": \"t4\"\n"
		"  }}}}";
	static const char want[] =
		"{\"mcpServers\": {\"s\": {\"command\": \"" EXE "\", \"args\": "
		"[\"run\", \"--env\", \"A_TOKEN=mcp/s/A_TOKEN\", \"--env\", "
		"\"B_SECRET=mcp/s/B_SECRET\", \"--env\", "
		"\"C_PASSWORD=mcp/s/C_PASSWORD\", \"--env\", "
		"\"D_KEY=mcp/s/D_KEY\", \"--\", \"c\"],\n"
		"  \"env\": {\n"
		"    \"KEEP1\": \"v\",\n"
		"    \"KEEP2\": \"w\"\n"
		"  }}}}";
	struct mcp_config *cfg = parse(in);
	(void)state;

	char *out = render(cfg, true, false, NULL);
	assert_string_equal(out, want);
	kw_wipefree(out);
	mcp_config_free(cfg);
}

/* CRLF files keep CRLF in the lines the rewrite adds. */
static void test_crlf(void **state)
{
	static const char in[] =
		"{\r\n  \"mcpServers\": {\r\n    \"s\": {\r\n"
		"      \"command\": \"c\",\r\n"
		"      \"args\": [\r\n        \"x\"\r\n      ],\r\n"
		"      \"env\": {\"TOKEN\": \"t\"}\r\n    },\r\n"
		"    \"t\": {\r\n      \"command\": \"d\",\r\n"
		"      \"env\": {\"TOKEN\": \"t\"}\r\n    }\r\n  }\r\n}\r\n";
	static const char want[] =
		"{\r\n  \"mcpServers\": {\r\n    \"s\": {\r\n"
		"      \"command\": \"" EXE "\",\r\n"
		"      \"args\": [\r\n        \"run\",\r\n        \"--env\",\r\n"
		"        \"TOKEN=mcp/s/TOKEN\",\r\n        \"--\",\r\n"
		"        \"c\",\r\n        \"x\"\r\n      ],\r\n"
		"      \"env\": {}\r\n    },\r\n"
		"    \"t\": {\r\n      \"command\": \"" EXE "\",\r\n"
		"      \"args\": [\"run\", \"--env\", \"TOKEN=mcp/t/TOKEN\", "
		"\"--\", \"d\"],\r\n"
		"      \"env\": {}\r\n    }\r\n  }\r\n}\r\n";
	struct mcp_config *cfg = parse(in);
	(void)state;

	char *out = render(cfg, true, false, NULL);
	assert_string_equal(out, want);
	kw_wipefree(out);
	mcp_config_free(cfg);
}

/* --narrow puts --token-file right after "run". */
static void test_token_file(void **state)
{
	static const char in[] =
		"{\"mcpServers\": {\"s\": {\"command\": \"c\", "
		"\"env\": {\"TOKEN\": \"t\"}}}}";
	static const char want[] =
		"{\"mcpServers\": {\"s\": {\"command\": \"" EXE "\", \"args\": "
		"[\"run\", \"--token-file\", \"/h/clients/s.token\", \"--env\", "
		"\"TOKEN=mcp/s/TOKEN\", \"--\", \"c\"], \"env\": {}}}}";
	char *files[] = { (char *)"/h/clients/s.token" };
	struct mcp_config *cfg = parse(in);
	(void)state;

	char *out = render(cfg, true, false, files);
	assert_string_equal(out, want);
	kw_wipefree(out);
	mcp_config_free(cfg);
}

/* The agent's socket, when a client's minimal environment would not find
 * it, goes before "run" as the global option --socket (also before
 * --token-file's "run"); the result counts as wrapped, so a second import
 * changes nothing. */
static void test_socket(void **state)
{
	static const char in[] =
		"{\"mcpServers\": {\"s\": {\"command\": \"c\", "
		"\"args\": [\"-v\"], \"env\": {\"TOKEN\": \"t\"}}}}";
	static const char want[] =
		"{\"mcpServers\": {\"s\": {\"command\": \"" EXE "\", "
		"\"args\": [\"--socket\", \"/run/user/7/keyward/agent.sock\", "
		"\"run\", \"--token-file\", \"/h/clients/s.token\", "
		"\"--env\", \"TOKEN=mcp/s/TOKEN\", \"--\", \"c\", \"-v\"], "
		"\"env\": {}}}}";
	char *files[] = { (char *)"/h/clients/s.token" };
	struct mcp_render_opts o = { .exe = EXE,
		                     .prefix = "mcp/",
		                     .token_files = files,
		                     .socket = "/run/user/7/keyward/agent.sock",
		                     .rewrite = true };
	struct mcp_config *cfg = parse(in);
	(void)state;

	char *out = render_opts(cfg, &o);
	assert_string_equal(out, want);
	struct mcp_config *again = parse(out);
	assert_true(again->servers[0].wrapped);
	assert_false(mcp_server_importable(&again->servers[0]));
	kw_wipefree(out);
	mcp_config_free(again);
	mcp_config_free(cfg);
}

/* Wrapped: "run" first once keyward's global options (--socket P,
 * --timeout MS, and their --opt=V forms) are skipped; nothing else is
 * skipped, and an option missing its value is not a wrapped server. */
static void test_wrapped_global_opts(void **state)
{
	static const struct {
		const char *args;
		bool wrapped;
	} cases[] = {
		{ "[\"--socket\", \"/s\", \"--timeout\", \"9\", \"run\"]",
		  true },
		{ "[\"--socket=/s\", \"--timeout=9\", \"run\", \"--\"]", true },
		{ "[\"--timeout\", \"9\", \"run\"]", true },
		{ "[\"--socket\", \"run\"]", false },
		{ "[\"--socket\"]", false },
		{ "[\"--verbose\", \"run\"]", false },
		{ "[\"--socket\", \"/s\", \"secret\", \"run\"]", false },
		{ "[\"--socket=/s\"]", false },
		{ "[1, \"run\"]", false },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char in[256];
		snprintf(in, sizeof(in),
		         "{\"mcpServers\": {\"s\": {\"command\": "
		         "\"/usr/bin/keyward\", \"args\": %s, \"env\": "
		         "{\"TOKEN\": \"t\"}}}}",
		         cases[i].args);
		struct mcp_config *cfg = parse(in);
		if (cfg->servers[0].wrapped != cases[i].wrapped)
			fail_msg("%s: wrapped %d", cases[i].args,
			         cfg->servers[0].wrapped);
		mcp_config_free(cfg);
	}
}

/* --socket is needed unless the socket is the one a minimal environment
 * resolves, HOME/.mcp/agent.sock: by that name or as the same file. */
static void test_socket_arg(void **state)
{
	char dir[] = "/tmp/kw-test-mcp-XXXXXX", mcp[64], sock[64], other[64];
	const char *used = "/run/user/7/keyward/agent.sock";
	(void)state;

	assert_null(mcp_socket_arg("/home/u/.mcp/agent.sock", "/home/u"));
	assert_ptr_equal(mcp_socket_arg(used, "/home/u"), used);
	assert_string_equal(mcp_socket_arg("/home/u/.mcp/x.sock", "/home/u"),
	                    "/home/u/.mcp/x.sock");

	assert_non_null(mkdtemp(dir));
	snprintf(mcp, sizeof(mcp), "%s/.mcp", dir);
	snprintf(sock, sizeof(sock), "%s/agent.sock", dir);
	snprintf(other, sizeof(other), "%s/.mcp/agent.sock", dir);
	assert_int_equal(mkdir(mcp, 0700), 0);
	FILE *f = fopen(sock, "w");
	assert_non_null(f);
	fclose(f);
	/* Not there: another path. */
	assert_ptr_equal(mcp_socket_arg(sock, dir), sock);
	/* A link to it: the same file. */
	assert_int_equal(symlink(sock, other), 0);
	assert_null(mcp_socket_arg(sock, dir));
	unlink(other);
	unlink(sock);
	rmdir(mcp);
	rmdir(dir);
}

/* Redacted views: no value left in either, headers redacted too. */
static void test_redacted(void **state)
{
	struct mcp_config *cfg = parse(desktop);
	(void)state;

	char *before = render(cfg, false, true, NULL);
	char *after = render(cfg, true, true, NULL);
	for (const char *t = before; t; t = t == before ? after : NULL) {
		assert_null(strstr(t, "ghp_abcdefghijklmnopqrstuvwxyz"));
		assert_null(strstr(t, "abcdefgh12345678"));
	}
	assert_non_null(strstr(before, "\"Authorization\": \"<redacted>\""));
	assert_non_null(strstr(
		after,
		"\"Authorization: {{keyward://mcp/remote/Authorization}}\""));
	assert_non_null(strstr(before, "\"GITHUB_TOKEN\": \"<redacted>\""));
	assert_null(strstr(after, "GITHUB_TOKEN\":"));

	char *diff = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&diff, &len);
	assert_non_null(f);
	assert_int_equal(mcp_diff(f, "a", before, strlen(before), "b", after,
	                          strlen(after)),
	                 0);
	fclose(f);
	assert_string_equal(
		diff,
		"--- a\n+++ b\n@@ -2,18 +2,16 @@\n"
		"   \"zeta\": 1,\n"
		"   \"mcpServers\": {\n"
		"     \"github\": {\n"
		"-      \"command\": \"npx\",\n"
		"-      \"args\": [\"-y\", \"@modelcontextprotocol/server-github\"],\n"
		"+      \"command\": \"" EXE "\",\n"
		"+      \"args\": [\"run\", \"--env\", "
		"\"GITHUB_TOKEN=mcp/github/GITHUB_TOKEN\", \"--\", \"npx\", "
		"\"-y\", \"@modelcontextprotocol/server-github\"],\n"
		"       \"env\": {\n"
		"         \"LOG_LEVEL\": \"info\",\n"
		"-        \"GITHUB_TOKEN\": \"<redacted>\",\n"
		"         \"PATH\": \"/usr/bin\"\n"
		"       },\n"
		"       \"disabled\": false\n"
		"     },\n"
		"     \"remote\": {\n"
		"-      \"url\": \"https://example.com/mcp\",\n"
		"-      \"headers\": {\"Authorization\": \"<redacted>\"}\n"
		"+      \"command\": \"" EXE
		"\", \"args\": [\"mcp\", \"proxy\", "
		"\"https://example.com/mcp\", \"--header\", "
		"\"Authorization: {{keyward://mcp/remote/Authorization}}\"]\n"
		"     }\n"
		"   },\n"
		"   \"alpha\": [1, 2]\n");
	free(diff);
	kw_wipefree(before);
	kw_wipefree(after);
	mcp_config_free(cfg);
}

static char *diff_of(const char *a, const char *b)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	assert_non_null(f);
	assert_int_equal(mcp_diff(f, "a", a, strlen(a), "b", b, strlen(b)), 0);
	fclose(f);
	return out;
}

static void test_diff(void **state)
{
	(void)state;
	char *d = diff_of("x\ny\n", "x\ny\n");
	assert_string_equal(d, "");
	free(d);
	d = diff_of("", "a\n");
	assert_string_equal(d, "--- a\n+++ b\n@@ -0,0 +1,1 @@\n+a\n");
	free(d);
	d = diff_of("a\nb", "a\nb\n");
	assert_string_equal(d, "--- a\n+++ b\n@@ -1,2 +1,2 @@\n a\n-b\n"
	                       "\\ No newline at end of file\n+b\n");
	free(d);
	/* Two changes 7 lines apart: two hunks; 6 apart: one. */
	d = diff_of("1\n2\n3\n4\n5\n6\n7\n8\n9\n",
	            "X\n2\n3\n4\n5\n6\n7\n8\nY\n");
	assert_string_equal(d, "--- a\n+++ b\n@@ -1,4 +1,4 @@\n-1\n+X\n 2\n 3\n"
	                       " 4\n@@ -6,4 +6,4 @@\n 6\n 7\n 8\n-9\n+Y\n");
	free(d);
	d = diff_of("1\n2\n3\n4\n5\n6\n7\n8\n", "X\n2\n3\n4\n5\n6\n7\nY\n");
	assert_string_equal(d, "--- a\n+++ b\n@@ -1,8 +1,8 @@\n-1\n+X\n 2\n 3\n"
	                       " 4\n 5\n 6\n 7\n-8\n+Y\n");
	free(d);
}

static void test_names(void **state)
{
	char buf[KW_NAME_MAX + 1];
	const char *why;
	(void)state;

	assert_int_equal(mcp_secret_name("mcp/", "brave search", "KEY", buf,
	                                 sizeof(buf), &why),
	                 0);
	assert_string_equal(buf, "mcp/brave-search/KEY");
	assert_int_equal(mcp_secret_name("mcp/", "a/b", "K", buf, sizeof(buf),
	                                 &why),
	                 0);
	assert_string_equal(buf, "mcp/a-b/K");
	assert_int_equal(mcp_secret_name("mcp/", "..", "K", buf, sizeof(buf),
	                                 &why),
	                 KW_ENAME);
	assert_int_equal(mcp_secret_name("mcp/", "", "K", buf, sizeof(buf),
	                                 &why),
	                 KW_ETOOBIG);
}

/* Already wrapped servers and remote ones are never importable; a wrong
 * top level is an error naming it. */
static void test_not_importable(void **state)
{
	static const char in[] =
		"{\"mcpServers\": {"
		"\"w\": {\"command\": \"/usr/bin/keyward\", \"args\": [\"run\"],"
		" \"env\": {\"TOKEN\": \"t\"}},"
		"\"r\": {\"serverUrl\": \"https://x\", \"env\": {\"TOKEN\": \"t\"}},"
		"\"n\": {\"env\": {\"TOKEN\": \"t\"}}},"
		"\"projects\": {\"/p\": {\"mcpServers\": {\"in\": "
		"{\"command\": \"c\", \"env\": {\"TOKEN\": \"t\"}}}}}}";
	struct mcp_config *cfg = parse(in);
	struct mcp_config *bad = NULL;
	char why[200];
	(void)state;

	assert_int_equal(cfg->nservers, 4);
	assert_true(cfg->servers[0].wrapped);
	assert_true(cfg->servers[1].remote);
	assert_null(cfg->servers[2].command);
	for (size_t i = 0; i < 3; i++)
		assert_false(mcp_server_importable(&cfg->servers[i]));
	assert_string_equal(cfg->servers[3].scope, "projects./p");
	assert_true(mcp_server_importable(&cfg->servers[3]));
	mcp_config_free(cfg);
	assert_int_equal(mcp_config_parse("[1]", 3, EXE, &bad, why,
	                                  sizeof(why)),
	                 KW_EPARSE);
	assert_string_equal(why, "the top level is not an object");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_servers),
		cmocka_unit_test(test_rewrite_one_line),
		cmocka_unit_test(test_rewrite_jsonc),
		cmocka_unit_test(test_env_removal),
		cmocka_unit_test(test_token_file),
		cmocka_unit_test(test_socket),
		cmocka_unit_test(test_wrapped_global_opts),
		cmocka_unit_test(test_socket_arg),
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_redacted),
		cmocka_unit_test(test_diff),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_not_importable),
		cmocka_unit_test(test_remote_to_proxy),
	};
	if (kw_secmem_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
