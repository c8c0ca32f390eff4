/*
 * test_policy.c - policy rates, loading (and every class of load
 * error with its FILE:LINE), attribution, decisions, policy.show and the
 * default policy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keyward.h"
#include "policy.h"

static char dir[64];
static char err[512];

static void path_of(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", dir, name);
}

static void write_file(const char *name, const char *text)
{
	char path[PATH_MAX];
	path_of(path, sizeof(path), name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, 0600), 0);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/kw-policy-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[PATH_MAX];
	chmod(dir, 0700);
	while (d && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		path_of(path, sizeof(path), de->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
	rmdir(dir);
	return 0;
}

static int load(policy **ret)
{
	err[0] = 'x';
	return policy_load_dir(dir, getuid(), ret, err, sizeof(err));
}

/* Load text as the only file a.ini and expect KW_ECONFIG with err
 * starting "DIR/a.ini:LINE: " and containing want. */
static void expect_error(const char *text, unsigned line, const char *want)
{
	policy *p = NULL;
	char prefix[128];

	write_file("a.ini", text);
	int r = load(&p);
	if (r != KW_ECONFIG || !strstr(err, want))
		print_error("text:\n%s\nerr: %s (r=%d)\n", text, err, r);
	assert_int_equal(r, KW_ECONFIG);
	assert_null(p);
	snprintf(prefix, sizeof(prefix), "%s/a.ini:%u: ", dir, line);
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		print_error("want prefix %s, got %s\n", prefix, err);
	assert_int_equal(strncmp(err, prefix, strlen(prefix)), 0);
	assert_non_null(strstr(err, want));
}

static void test_rate_parse(void **state)
{
	policy_rate r;
	static const char *const bad[] = {
		"0/s",
		"5",
		"5/x",
		"5/s burst 0",
		"5/s burst",
		"5/s burst x",
		"99999999999/s",
		"1000001/s",
		"5/s burst 1000001",
		"5/s burst 99999999999999999999",
		"-5/s",
		"5 /s",
		"/s",
		"5/",
		"5/s extra",
		"5/sburst 3",
		"5/s burst 3 x",
		"",
		"5/ss",
		"5/s burst -1",
	};
	(void)state;
	assert_int_equal(policy_rate_parse("50/s", &r), 0);
	assert_int_equal(r.count, 50);
	assert_int_equal(r.per_ms, 1000);
	assert_int_equal(r.burst, 50);
	assert_int_equal(policy_rate_parse("50/s burst 100", &r), 0);
	assert_int_equal(r.count, 50);
	assert_int_equal(r.burst, 100);
	assert_int_equal(policy_rate_parse("10/m", &r), 0);
	assert_int_equal(r.per_ms, 60000);
	assert_int_equal(r.burst, 10);
	assert_int_equal(policy_rate_parse("1/h", &r), 0);
	assert_int_equal(r.per_ms, 3600000);
	assert_int_equal(r.count, 1);
	assert_int_equal(policy_rate_parse("1000/h  burst  50", &r), 0);
	assert_int_equal(r.burst, 50);
	assert_int_equal(policy_rate_parse("1000000/s burst 1000000", &r), 0);
	assert_int_equal(r.count, 1000000);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r.count = 77;
		if (policy_rate_parse(bad[i], &r) != KW_EINVAL)
			print_error("accepted bad rate \"%s\"\n", bad[i]);
		assert_int_equal(policy_rate_parse(bad[i], &r), KW_EINVAL);
		assert_int_equal(r.count, 77); /* untouched on failure */
	}
}

static void test_op_names(void **state)
{
	enum policy_op op;
	(void)state;
	for (int i = 0; i < POLICY_OP_COUNT; i++) {
		assert_int_equal(policy_op_parse(policy_op_name(i), &op), 0);
		assert_int_equal(op, i);
	}
	assert_string_equal(policy_op_name(POLICY_OP_ROTATE), "rotate");
	assert_int_equal(policy_op_parse("READ", &op), KW_EINVAL);
	assert_int_equal(policy_op_parse("", &op), KW_EINVAL);
}

static void test_parse_errors(void **state)
{
	char line[300];
	(void)state;
	expect_error("[client \"a\"]\nexe = /bin/a\n[bogus]\n", 3,
	             "unknown section [bogus]");
	expect_error("[client a]\n", 1, "unknown section");
	expect_error("[client \"a\"\n", 1, "without ']'");
	expect_error("[defaults] x\n", 1, "text after the section header");
	expect_error("[client \"a\"]\nexe = /bin/a\nfrob = 1\n", 3,
	             "frob: unknown key");
	expect_error("[defaults]\nread = **\n", 2,
	             "read: unknown key in [defaults]");
	expect_error("read = **\n", 1, "read: key outside any section");
	expect_error("[client \"a\"]\nexe = /bin/a\nread = a/**b\n", 3,
	             "read: glob 1: '**' must be a whole segment");
	expect_error("[client \"a\"]\nexe = /bin/a\nwrite = x, ../y\n", 3,
	             "write: glob 2:");
	expect_error("[client \"a\"]\nexe = /bin/a\nlist = x,,y\n", 3,
	             "list: empty glob");
	expect_error("[client \"a\"]\nexe = /bin/a\nuid = 12x\n", 3,
	             "uid: must be a number");
	expect_error("[client \"a\"]\nexe = /bin/a\nuid = 4294967295\n", 3,
	             "uid: must be a number");
	expect_error("[client \"a\"]\nexe = /bin/a\nuid = no-such-user-kw\n", 3,
	             "uid: unknown user \"no-such-user-kw\"");
	expect_error("[client \"a\"]\nexe = /bin/a\ngid = no-such-group-kw\n",
	             3, "gid: unknown group");
	expect_error("[client \"a\"]\nexe = /bin/a\nrate = 5/x\n", 3,
	             "rate: must look like");
	expect_error("[defaults]\nrate = 0/s\n", 2, "rate: must look like");
	expect_error("[defaults]\nrate = 1/s\nrate = 2/s\n", 3,
	             "rate: given twice");
	expect_error("[client \"a\"]\nexe = /bin/a\nread = x\nread = y\n", 4,
	             "read: given twice in this section");
	expect_error("[client \"a\"]\nexe = /bin/a\n[client \"a\"]\n", 3,
	             "[client \"a\"] is already defined at");
	expect_error("[defaults]\n[defaults]\n", 2,
	             "[defaults] is already defined");
	expect_error("# c\n[client \"a\"]\nuid = 0\nread = **\n", 2,
	             "needs exe or token");
	expect_error("[client \"a\"]\nread = **\n[client \"b\"]\nexe = /b\n", 1,
	             "needs exe or token");
	expect_error("[client \"a\"]\nexe = bin/a\n", 2,
	             "exe: must be an absolute path");
	expect_error("[client \"a\"]\nexe = /usr//bin/a\n", 2,
	             "exe: must be a normalised path");
	expect_error("[client \"a\"]\nexe = /usr/bin/../a\n", 2,
	             "exe: must be a normalised path");
	expect_error("[client \"a\"]\nexe = /usr/./a\n", 2, "normalised");
	expect_error("[client \"a\"]\nexe = /usr/bin/\n", 2, "normalised");
	expect_error("[client \"a\"]\nexe = /a\nexe_sha256 = abcd\n", 3,
	             "exe_sha256: must be exactly 64 hex digits");
	expect_error("[client \"a\"]\nexe = /a\nexe_sha256 = "
	             "zz00000000000000000000000000000000000000000000000000000"
	             "000000000\n",
	             3, "exe_sha256: must be exactly 64 hex digits");
	expect_error("[client \"a\"]\nexe = /a\nadmin = maybe\n", 3,
	             "admin: must be yes, no, true or false");
	expect_error("[client \"a\"]\ntoken = ../x\n", 2,
	             "token: a client token name");
	expect_error("[client \"a/\"]\n", 1, "[client]: the name");
	expect_error("[client \"\"]\n", 1, "[client]: the name");
	expect_error(
		"[client \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaa\"]\n",
		1, "at most 64 bytes");
	expect_error("[client \"a\"]\nexe = /a\n  read = **\n", 3,
	             "indented line");
	expect_error("[client \"a\"]\nexe = /a\njunk\n", 3, "syntax error");
	/* Lines hold at most 198 characters plus the newline (inih's
	 * INI_MAX_LINE of 200 in this build). A longer one is refused, not
	 * split: the tail would otherwise parse as a line of its own. */
	memset(line, 0, sizeof(line));
	snprintf(line, sizeof(line), "[client \"a\"]\nexe = /a\nread = ");
	size_t off = strlen(line), start = strlen("[client \"a\"]\nexe = /a\n");
	while (off - start < 198)
		line[off++] = 'x';
	line[off++] = '\n';
	write_file("a.ini", line);
	policy *p = NULL;
	assert_int_equal(load(&p), 0);
	policy_free(p);
	line[off - 1] = 'x';
	line[off++] = '\n';
	expect_error(line, 3, "line longer than 198 characters");
	line[off - 1] = '\0'; /* same without a final newline */
	expect_error(line, 3, "line longer than 198 characters");
}

static void test_nul_byte(void **state)
{
	char path[PATH_MAX];
	static const char text[] = "[client \"a\"]\nexe = /a\nread = x\0\nrd";
	policy *p = NULL;
	(void)state;
	path_of(path, sizeof(path), "a.ini");
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, sizeof(text) - 1, f),
	                 sizeof(text) - 1);
	fclose(f);
	assert_int_equal(load(&p), KW_ECONFIG);
	assert_non_null(strstr(err, "a.ini:3: NUL byte"));
}

static void test_duplicate_across_files(void **state)
{
	policy *p = NULL;
	char want[256];
	(void)state;
	write_file("10-a.ini", "# first\n[client \"dup\"]\nexe = /bin/a\n");
	write_file("20-b.ini",
	           "[client \"other\"]\nexe = /bin/o\n\n[client \"dup\"]\n"
	           "exe = /bin/b\n");
	assert_int_equal(load(&p), KW_ECONFIG);
	assert_null(p);
	snprintf(want, sizeof(want),
	         "%s/20-b.ini:4: [client \"dup\"] is already defined at "
	         "%s/10-a.ini:2",
	         dir, dir);
	assert_string_equal(err, want);
}

static void test_file_order_and_filter(void **state)
{
	policy *p = NULL;
	(void)state;
	write_file("b.ini", "[client \"b\"]\nexe = /bin/b\n");
	write_file("a.ini", "[client \"a\"]\nexe = /bin/a\n");
	write_file("B.ini", "[client \"B\"]\nexe = /bin/B\n");
	write_file("a.ini~", "this is not ini at all\n");
	write_file("a.ini.bak", "[bogus]\n");
	write_file(".hidden.ini", "[bogus]\n");
	write_file("README", "[bogus]\n");
	write_file("empty.ini", "");
	assert_int_equal(load(&p), 0);
	assert_int_equal(policy_count(p), 3);
	json_t *j = policy_to_json(p);
	assert_non_null(j);
	json_t *files = json_object_get(j, "files");
	assert_int_equal(json_array_size(files), 4);
	assert_string_equal(json_string_value(json_array_get(files, 0)),
	                    "B.ini");
	assert_string_equal(json_string_value(json_array_get(files, 1)),
	                    "a.ini");
	assert_string_equal(json_string_value(json_array_get(files, 2)),
	                    "b.ini");
	assert_string_equal(json_string_value(json_array_get(files, 3)),
	                    "empty.ini");
	json_t *clients = json_object_get(j, "clients");
	assert_string_equal(json_string_value(
				    json_object_get(json_array_get(clients, 0),
	                                            "name")),
	                    "B");
	assert_string_equal(json_string_value(
				    json_object_get(json_array_get(clients, 2),
	                                            "name")),
	                    "b");
	json_decref(j);
	policy_free(p);
}

static void test_empty_dir_and_missing(void **state)
{
	policy *p = NULL;
	char missing[128];
	(void)state;
	assert_int_equal(load(&p), 0);
	assert_int_equal(policy_count(p), 0);
	policy_identity id = { .uid = getuid(), .exe = "/bin/a" };
	assert_null(policy_attribute(p, &id));
	policy_free(p);
	p = NULL;
	snprintf(missing, sizeof(missing), "%s/nope", dir);
	assert_int_equal(policy_load_dir(missing, getuid(), &p, err,
	                                 sizeof(err)),
	                 KW_ENOTFOUND);
	assert_null(p);
}

static void test_unsafe_modes(void **state)
{
	policy *p = NULL;
	char path[PATH_MAX], target[256];
	(void)state;
	write_file("a.ini", "[client \"a\"]\nexe = /bin/a\n");
	path_of(path, sizeof(path), "a.ini");

	assert_int_equal(chmod(path, 0620), 0);
	assert_int_equal(load(&p), KW_EPERM);
	assert_non_null(strstr(err, "a.ini: is writable by group or others"));
	assert_int_equal(chmod(path, 0602), 0);
	assert_int_equal(load(&p), KW_EPERM);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(load(&p), 0);
	policy_free(p);
	p = NULL;

	assert_int_equal(chmod(dir, 0770), 0);
	assert_int_equal(load(&p), KW_EPERM);
	assert_non_null(strstr(err, dir));
	assert_non_null(strstr(err, "writable by group or others"));
	assert_int_equal(chmod(dir, 0700), 0);

	/* Not owned by the agent's uid. */
	assert_int_equal(policy_load_dir(dir, getuid() + 1, &p, err,
	                                 sizeof(err)),
	                 KW_EPERM);
	assert_non_null(strstr(err, "not owned"));

	/* A symlink is refused even if its target is fine. */
	write_file("real.txt", "[client \"s\"]\nexe = /bin/s\n");
	path_of(target, sizeof(target), "real.txt");
	path_of(path, sizeof(path), "s.ini");
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(load(&p), KW_EPERM);
	assert_non_null(strstr(err, "s.ini: is a symbolic link"));
	unlink(path);

	/* A directory named *.ini is not a regular file. */
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(load(&p), KW_EPERM);
	assert_non_null(strstr(err, "not a regular file"));
	rmdir(path);
	assert_null(p);
}

static void test_every_key_and_json(void **state)
{
	policy *p = NULL;
	(void)state;
	write_file("a.ini", "; a comment\n"
	                    "# another\n"
	                    "[defaults]\n"
	                    "rate = 10/m burst 20\n"
	                    "\n"
	                    "[client \"gh\"]\n"
	                    "uid = 1234\n"
	                    "gid = 0\n"
	                    "exe = /usr/bin/github-mcp\n"
	                    "exe_sha256 = 00112233445566778899AABBCCDDEEFF"
	                    "00112233445566778899aabbccddeeff\n"
	                    "token = gh-token\n"
	                    "read = github/*,  shared/** ,x\n"
	                    "write =\n"
	                    "list = github/**\n"
	                    "rotate = github/token\n"
	                    "verify = api/*\n"
	                    "admin = false\n"
	                    "rate = 50/s burst 100 ; inline comment\n"
	                    "[client \"t\"]\n"
	                    "token = t\n"
	                    "admin = true\n");
	assert_int_equal(load(&p), 0);
	assert_int_equal(policy_count(p), 2);
	json_t *j = policy_to_json(p);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(j, "defaults"), "rate")),
	                    "10/m burst 20");
	json_t *c = json_array_get(json_object_get(j, "clients"), 0);
	assert_string_equal(json_string_value(json_object_get(c, "name")),
	                    "gh");
	assert_string_equal(json_string_value(json_object_get(c, "file")),
	                    "a.ini");
	assert_int_equal(json_integer_value(json_object_get(c, "line")), 6);
	assert_int_equal(json_integer_value(json_object_get(c, "uid")), 1234);
	assert_int_equal(json_integer_value(json_object_get(c, "gid")), 0);
	assert_string_equal(json_string_value(json_object_get(c, "exe")),
	                    "/usr/bin/github-mcp");
	assert_string_equal(json_string_value(json_object_get(c, "exe_sha256")),
	                    "00112233445566778899aabbccddeeff"
	                    "00112233445566778899aabbccddeeff");
	assert_string_equal(json_string_value(json_object_get(c, "token")),
	                    "gh-token");
	json_t *read = json_object_get(c, "read");
	assert_int_equal(json_array_size(read), 3);
	assert_string_equal(json_string_value(json_array_get(read, 0)),
	                    "github/*");
	assert_string_equal(json_string_value(json_array_get(read, 1)),
	                    "shared/**");
	assert_string_equal(json_string_value(json_array_get(read, 2)), "x");
	assert_int_equal(json_array_size(json_object_get(c, "write")), 0);
	assert_int_equal(json_array_size(json_object_get(c, "list")), 1);
	assert_string_equal(json_string_value(
				    json_array_get(json_object_get(c, "rotate"),
	                                           0)),
	                    "github/token");
	assert_string_equal(json_string_value(
				    json_array_get(json_object_get(c, "verify"),
	                                           0)),
	                    "api/*");
	assert_true(json_is_false(json_object_get(c, "admin")));
	assert_string_equal(json_string_value(json_object_get(c, "rate")),
	                    "50/s burst 100");
	c = json_array_get(json_object_get(j, "clients"), 1);
	assert_int_equal(json_integer_value(json_object_get(c, "uid")),
	                 getuid());
	assert_null(json_object_get(c, "gid"));
	assert_null(json_object_get(c, "exe"));
	assert_null(json_object_get(c, "exe_sha256"));
	assert_true(json_is_true(json_object_get(c, "admin")));
	assert_true(json_is_null(json_object_get(c, "rate")));
	json_decref(j);

	/* Section rate, else [defaults]. */
	policy_identity id = { .uid = getuid(), .token_name = "t" };
	const policy_client *t = policy_attribute(p, &id);
	assert_non_null(t);
	const policy_rate *r = policy_client_rate(p, t);
	assert_non_null(r);
	assert_int_equal(r->count, 10);
	assert_int_equal(r->per_ms, 60000);
	assert_int_equal(r->burst, 20);
	policy_free(p);

	/* No [defaults]: an empty object, and no rate at all. */
	write_file("a.ini", "[client \"t\"]\ntoken = t\n");
	assert_int_equal(load(&p), 0);
	j = policy_to_json(p);
	assert_int_equal(json_object_size(json_object_get(j, "defaults")), 0);
	json_decref(j);
	assert_null(policy_client_rate(p, policy_attribute(p, &id)));
	policy_free(p);
}

static void test_user_and_group_names(void **state)
{
	policy *p = NULL;
	(void)state;
	write_file("a.ini", "[client \"r\"]\nuid = root\ngid = root\n"
	                    "exe = /bin/r\n"
	                    "[client \"max\"]\nuid = 2147483648\nexe = /x\n");
	assert_int_equal(load(&p), 0);
	assert_true(policy_uid_named(p, 0));
	assert_true(policy_uid_named(p, 2147483648u));
	policy_identity id = { .uid = 0, .gid = 0, .exe = "/bin/r" };
	assert_non_null(policy_attribute(p, &id));
	id.gid = 5;
	assert_null(policy_attribute(p, &id));
	policy_free(p);
}

struct sha_ctx {
	int calls;
	int result;
	uint8_t digest[32];
};

static int fake_sha256(void *arg, uint8_t out[32])
{
	struct sha_ctx *s = arg;
	s->calls++;
	memcpy(out, s->digest, 32);
	return s->result;
}

static void test_identity(void **state)
{
	policy *p = NULL;
	char text[1024];
	unsigned me = (unsigned)getuid();
	(void)state;
	snprintf(
		text, sizeof(text),
		"[client \"pinned\"]\n"
		"exe = /usr/bin/pinned\n"
		"exe_sha256 = "
		"0101010101010101010101010101010101010101010101010101010101010101"
		"\n"
		"read = **\n"
		"[client \"grouped\"]\n"
		"uid = %u\n"
		"gid = 4242\n"
		"exe = /usr/bin/g\n"
		"[client \"exe\"]\n"
		"exe = /usr/bin/g\n"
		"[client \"tok\"]\n"
		"token = ci\n"
		"[client \"other-uid\"]\n"
		"uid = %u\n"
		"exe = /usr/bin/o\n",
		me, me + 1);
	write_file("a.ini", text);
	assert_int_equal(load(&p), 0);
	assert_int_equal(policy_count(p), 5);

	struct sha_ctx sha = { .result = 0 };
	memset(sha.digest, 1, 32);
	policy_identity id = { .uid = getuid(),
		               .gid = 1,
		               .exe = "/usr/bin/g",
		               .exe_sha256 = fake_sha256,
		               .arg = &sha };

	/* exe matches a later section; the pinned one is skipped without
	 * hashing because its exe differs. gid 1 != 4242 skips "grouped". */
	const policy_client *c = policy_attribute(p, &id);
	assert_non_null(c);
	assert_string_equal(policy_client_name(c), "exe");
	assert_string_equal(policy_client_file(c), "a.ini");
	assert_int_equal(policy_client_line(c), 9);
	assert_int_equal(sha.calls, 0);

	id.gid = 4242;
	assert_string_equal(policy_client_name(policy_attribute(p, &id)),
	                    "grouped");

	/* Unknown exe never matches a section with exe. */
	id.exe = NULL;
	assert_null(policy_attribute(p, &id));
	id.token_name = "ci";
	assert_string_equal(policy_client_name(policy_attribute(p, &id)),
	                    "tok");
	id.token_name = "cj";
	assert_null(policy_attribute(p, &id));
	id.token_name = NULL;

	/* The pin: hashed only when everything else matched. */
	id.exe = "/usr/bin/pinned";
	assert_string_equal(policy_client_name(policy_attribute(p, &id)),
	                    "pinned");
	assert_int_equal(sha.calls, 1);
	sha.digest[31] = 2;
	assert_null(policy_attribute(p, &id));
	assert_int_equal(sha.calls, 2);
	sha.digest[31] = 1;
	sha.result = KW_EIO;
	assert_null(policy_attribute(p, &id));
	assert_int_equal(sha.calls, 3);
	id.exe_sha256 = NULL;
	sha.result = 0;
	assert_null(policy_attribute(p, &id));
	assert_int_equal(sha.calls, 3);
	id.exe_sha256 = fake_sha256;
	id.uid = getuid() + 1;
	assert_null(policy_attribute(p, &id));
	assert_int_equal(sha.calls, 3);

	/* Explicit other uid. */
	id.exe = "/usr/bin/o";
	assert_string_equal(policy_client_name(policy_attribute(p, &id)),
	                    "other-uid");
	id.uid = getuid();
	assert_null(policy_attribute(p, &id));

	assert_true(policy_uid_named(p, getuid()));
	assert_true(policy_uid_named(p, getuid() + 1));
	assert_false(policy_uid_named(p, getuid() + 2));
	assert_null(policy_attribute(p, NULL));
	policy_free(p);
}

static void test_first_match_wins(void **state)
{
	policy *p = NULL;
	(void)state;
	write_file("10-narrow.ini", "[client \"narrow\"]\nexe = /bin/app\n"
	                            "read = public/*\n");
	write_file("20-wide.ini", "[client \"wide\"]\nexe = /bin/app\n"
	                          "read = **\nadmin = yes\n");
	assert_int_equal(load(&p), 0);
	policy_identity id = { .uid = getuid(), .exe = "/bin/app" };
	const policy_client *c = policy_attribute(p, &id);
	assert_string_equal(policy_client_name(c), "narrow");
	assert_true(policy_client_allows(c, POLICY_OP_READ, "public/x"));
	assert_false(policy_client_allows(c, POLICY_OP_READ, "private/x"));
	assert_false(policy_client_allows(c, POLICY_OP_ADMIN, NULL));
	policy_decision d;
	policy_decide(p, &id, POLICY_OP_READ, "private/x", &d);
	assert_false(d.allowed);
	assert_ptr_equal(d.client, c);
	policy_free(p);
}

static void test_decisions(void **state)
{
	policy *p = NULL;
	policy_decision d;
	(void)state;
	write_file("50-app.ini", "# app\n"
	                         "[client \"app\"]\n"
	                         "exe = /opt/app/bin/server\n"
	                         "read = github/*, db/**\n"
	                         "list = github/**\n"
	                         "rotate =\n"
	                         "admin = no\n"
	                         "[client \"ops\"]\n"
	                         "token = ops\n"
	                         "admin = yes\n");
	assert_int_equal(load(&p), 0);
	policy_identity id = { .uid = getuid(), .exe = "/opt/app/bin/server" };

	policy_decide(p, &id, POLICY_OP_READ, "db/main/password", &d);
	assert_true(d.allowed);
	assert_string_equal(policy_client_name(d.client), "app");
	assert_string_equal(d.reason, "allowed by [client \"app\"] read = "
	                              "db/** (50-app.ini:4)");

	policy_decide(p, &id, POLICY_OP_READ, "github/token", &d);
	assert_true(d.allowed);
	assert_non_null(strstr(d.reason, "read = github/*"));

	policy_decide(p, &id, POLICY_OP_READ, "aws/secret-key", &d);
	assert_false(d.allowed);
	assert_string_equal(d.reason, "[client \"app\"] (50-app.ini:2) grants "
	                              "no read on this name");
	assert_null(strstr(d.reason, "aws"));

	policy_decide(p, &id, POLICY_OP_WRITE, "github/token", &d);
	assert_false(d.allowed);
	assert_non_null(strstr(d.reason, "grants no write on this name"));
	assert_null(strstr(d.reason, "github"));

	policy_decide(p, &id, POLICY_OP_ROTATE, "github/token", &d);
	assert_false(d.allowed);

	/* Listing without a name: allowed if any list glob exists (the
	 * daemon filters results by the globs). */
	policy_decide(p, &id, POLICY_OP_LIST, NULL, &d);
	assert_true(d.allowed);
	assert_non_null(strstr(d.reason, "list = github/** (50-app.ini:5)"));
	policy_decide(p, &id, POLICY_OP_VERIFY, NULL, &d);
	assert_false(d.allowed);
	assert_string_equal(d.reason,
	                    "[client \"app\"] (50-app.ini:2) grants no verify");

	policy_decide(p, &id, POLICY_OP_ADMIN, NULL, &d);
	assert_false(d.allowed);
	assert_string_equal(d.reason,
	                    "[client \"app\"] (50-app.ini:2) grants no admin");

	policy_identity ops = { .uid = getuid(), .token_name = "ops" };
	policy_decide(p, &ops, POLICY_OP_ADMIN, NULL, &d);
	assert_true(d.allowed);
	assert_string_equal(d.reason, "allowed by [client \"ops\"] admin = "
	                              "yes (50-app.ini:10)");
	policy_decide(p, &ops, POLICY_OP_READ, "github/token", &d);
	assert_false(d.allowed);

	policy_identity nobody = { .uid = getuid(), .exe = "/usr/bin/cat" };
	policy_decide(p, &nobody, POLICY_OP_READ, "github/token", &d);
	assert_false(d.allowed);
	assert_null(d.client);
	char want[128];
	snprintf(want, sizeof(want),
	         "no policy section matches this client (uid %u, exe "
	         "/usr/bin/cat)",
	         (unsigned)getuid());
	assert_string_equal(d.reason, want);
	nobody.exe = NULL;
	policy_decide(p, &nobody, POLICY_OP_READ, "github/token", &d);
	assert_non_null(strstr(d.reason, "exe unknown)"));
	policy_free(p);
}

static void test_write_default(void **state)
{
	static const char *const exes[] = { "/usr/local/bin/keyward",
		                            "/opt/kw/bin/keyward" };
	static const char *const other_exe[] = { "/usr/bin/kw" };
	policy *p = NULL;
	char sub[128], path[256];
	struct stat st;
	policy_decision d;
	(void)state;
	snprintf(sub, sizeof(sub), "%s/policies", dir);
	assert_int_equal(policy_write_default(sub, getuid(), exes, 2), 0);
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(path, sizeof(path), "%s/00-owner.ini", sub);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(policy_write_default(sub, getuid(), other_exe, 1),
	                 KW_EEXIST);

	assert_int_equal(policy_load_dir(sub, getuid(), &p, err, sizeof(err)),
	                 0);
	assert_int_equal(policy_count(p), 2);
	policy_identity cli = { .uid = getuid(),
		                .exe = "/usr/local/bin/keyward" };
	policy_decide(p, &cli, POLICY_OP_ADMIN, NULL, &d);
	assert_true(d.allowed);
	assert_string_equal(policy_client_name(d.client), "owner-cli");
	for (int op = 0; op < POLICY_OP_ADMIN; op++) {
		policy_decide(p, &cli, op, "any/secret/name", &d);
		assert_true(d.allowed);
	}
	/* Every pinned keyward gets the same grants, in its own section. */
	policy_identity second = { .uid = getuid(),
		                   .exe = "/opt/kw/bin/keyward" };
	for (int op = 0; op < POLICY_OP_COUNT; op++) {
		policy_decide(p, &second, op, "any/secret/name", &d);
		assert_true(d.allowed);
		assert_string_equal(policy_client_name(d.client),
		                    "owner-cli-2");
	}
	policy_identity other = { .uid = getuid(), .exe = "/usr/bin/python3" };
	for (int op = 0; op < POLICY_OP_COUNT; op++) {
		policy_decide(p, &other, op, "any", &d);
		assert_false(d.allowed);
	}
	cli.uid = getuid() + 1;
	policy_decide(p, &cli, POLICY_OP_READ, "x", &d);
	assert_false(d.allowed);
	policy_free(p);
	unlink(path);
	rmdir(sub);

	static const char *const relative[] = { "relative/kw" };
	static const char *const dotdot[] = { "/a/../kw" };
	assert_int_equal(policy_write_default(sub, getuid(), relative, 1),
	                 KW_EINVAL);
	assert_int_equal(policy_write_default(sub, getuid(), dotdot, 1),
	                 KW_EINVAL);
	assert_int_equal(policy_write_default(sub, getuid(), exes, 0),
	                 KW_EINVAL);
}

/* Sections appended later (keyward policy owner add) number on. */
static void test_owner_section(void **state)
{
	char buf[512];
	(void)state;
	assert_true(policy_owner_section(buf, sizeof(buf), 3, 1000,
	                                 "/usr/bin/keyward") > 0);
	assert_non_null(strstr(buf, "[client \"owner-cli-3\"]\n"));
	assert_non_null(strstr(buf, "\nexe = /usr/bin/keyward\n"));
	assert_non_null(strstr(buf, "\nuid = 1000\n"));
	assert_int_equal(policy_owner_section(buf, sizeof(buf), 0, 1000,
	                                      "/usr/bin/keyward"),
	                 KW_EINVAL);
	assert_int_equal(policy_owner_section(buf, 40, 1, 1000,
	                                      "/usr/bin/keyward"),
	                 KW_EINVAL);
	char longexe[POLICY_OWNER_EXE_MAX + 2];
	memset(longexe, 'k', sizeof(longexe) - 1);
	longexe[0] = '/';
	longexe[sizeof(longexe) - 1] = '\0';
	assert_int_equal(policy_owner_section(buf, sizeof(buf), 1, 1000,
	                                      longexe),
	                 KW_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rate_parse),
		cmocka_unit_test(test_op_names),
		cmocka_unit_test_setup_teardown(test_parse_errors, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_nul_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_across_files,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_order_and_filter,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_dir_and_missing,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_unsafe_modes, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_every_key_and_json, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_user_and_group_names,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_identity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_match_wins, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_decisions, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_write_default, setup,
		                                teardown),
		cmocka_unit_test(test_owner_section),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
