/*
 * test_rotspec.c - rotator specifications (agent/rotate/rotspec.h): parsing,
 * canonical spelling, value generation, and the command file checks on
 * files made in a temporary directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "apikey.h"
#include "keyward.h"
#include "rotspec.h"
#include "secmem.h"

/* A uid nobody on the test machine is expected to be. */
#define OTHER_UID 4242u

/* Parsing ---------------------------------------------------------------- */

static const struct {
	const char *spec;
	const char *canonical;
	enum rotspec_kind kind;
	uint32_t bytes;
	enum rotspec_format format;
} valid_specs[] = {
	{ "random:32", "random:32", ROTSPEC_RANDOM, 32, ROTSPEC_RAW },
	{ "random:32:raw", "random:32", ROTSPEC_RANDOM, 32, ROTSPEC_RAW },
	{ "random:1", "random:1", ROTSPEC_RANDOM, 1, ROTSPEC_RAW },
	{ "random:4096", "random:4096", ROTSPEC_RANDOM, 4096, ROTSPEC_RAW },
	{ "random:1:hex", "random:1:hex", ROTSPEC_RANDOM, 1, ROTSPEC_HEX },
	{ "random:0032:hex", "random:32:hex", ROTSPEC_RANDOM, 32, ROTSPEC_HEX },
	{ "random:4096:base64url", "random:4096:base64url", ROTSPEC_RANDOM,
	  4096, ROTSPEC_BASE64URL },
	{ "random:16:apikey", "random:16:apikey", ROTSPEC_RANDOM, 16,
	  ROTSPEC_APIKEY },
	{ "random:762:apikey", "random:762:apikey", ROTSPEC_RANDOM, 762,
	  ROTSPEC_APIKEY },
	{ "command:/usr/local/bin/rotate", "command:/usr/local/bin/rotate",
	  ROTSPEC_COMMAND, 0, 0 },
	{ "command:/opt/My Tools/rot-db.sh", "command:/opt/My Tools/rot-db.sh",
	  ROTSPEC_COMMAND, 0, 0 },
	{ "command:/a/.hidden/...", "command:/a/.hidden/...", ROTSPEC_COMMAND,
	  0, 0 },
	{ "webhook:https://example.com/rotate",
	  "webhook:https://example.com/rotate", ROTSPEC_WEBHOOK, 0, 0 },
	{ "webhook:https://example.com", "webhook:https://example.com",
	  ROTSPEC_WEBHOOK, 0, 0 },
	{ "webhook:HTTPS://Example.COM:0443/Path?Q=A",
	  "webhook:https://example.com:443/Path?Q=A", ROTSPEC_WEBHOOK, 0, 0 },
	{ "webhook:Http://127.0.0.1:8080/hook",
	  "webhook:http://127.0.0.1:8080/hook", ROTSPEC_WEBHOOK, 0, 0 },
	{ "webhook:https://[::1]:8443/x", "webhook:https://[::1]:8443/x",
	  ROTSPEC_WEBHOOK, 0, 0 },
	{ "webhook:https://[2001:DB8::1]/", "webhook:https://[2001:db8::1]/",
	  ROTSPEC_WEBHOOK, 0, 0 },
	{ "webhook:https://[::ffff:192.0.2.1]",
	  "webhook:https://[::ffff:192.0.2.1]", ROTSPEC_WEBHOOK, 0, 0 },
	{ "webhook:https://example.com?x=1", "webhook:https://example.com?x=1",
	  ROTSPEC_WEBHOOK, 0, 0 },
	{ "webhook:https://example.com/a%20b%2F",
	  "webhook:https://example.com/a%20b%2F", ROTSPEC_WEBHOOK, 0, 0 },
	{ "webhook:https://example.com/p@x:y?a=b&c=d;e=(f)*+,!$'~",
	  "webhook:https://example.com/p@x:y?a=b&c=d;e=(f)*+,!$'~",
	  ROTSPEC_WEBHOOK, 0, 0 },
	{ "webhook:https://host_1.example-2.:65535/",
	  "webhook:https://host_1.example-2.:65535/", ROTSPEC_WEBHOOK, 0, 0 },
	{ "webhook:https://h:1", "webhook:https://h:1", ROTSPEC_WEBHOOK, 0, 0 },
};

static const struct {
	const char *spec;
	const char *word; /* in the reason */
} invalid_specs[] = {
	{ "", "empty" },
	{ "random", "starts with" },
	{ "RANDOM:32", "starts with" },
	{ "Random:32", "starts with" },
	{ "rand:32", "starts with" },
	{ " random:32", "starts with" },
	{ "generate:32", "starts with" },
	{ "random:", "number of bytes" },
	{ "random::hex", "number of bytes" },
	{ "random:-1", "number of bytes" },
	{ "random:+1", "number of bytes" },
	{ "random: 32", "number of bytes" },
	{ "random:0", "1 to 4096" },
	{ "random:0000", "1 to 4096" },
	{ "random:4097", "1 to 4096" },
	{ "random:10000", "1 to 4096" },
	{ "random:99999999999999999999999", "1 to 4096" },
	{ "random:32x", "followed only by" },
	{ "random:32 ", "followed only by" },
	{ "random:32:", "followed only by" },
	{ "random:32:HEX", "followed only by" },
	{ "random:32:base64", "followed only by" },
	{ "random:32:hex:x", "followed only by" },
	{ "random:32:hex ", "followed only by" },
	{ "random:32::hex", "followed only by" },
	{ "random:1:apikey", "at least 16" },
	{ "random:15:apikey", "at least 16" },
	{ "random:763:apikey", "at most 762" },
	{ "random:4096:apikey", "at most 762" },
	{ "command:", "absolute" },
	{ "command:bin/rot", "absolute" },
	{ "command:./rot", "absolute" },
	{ "command: /bin/rot", "absolute" },
	{ "command:/usr/../bin/rot", ". or .." },
	{ "command:/usr/bin/..", ". or .." },
	{ "command:/..", ". or .." },
	{ "command:/a/./b", ". or .." },
	{ "command:/a/.", ". or .." },
	{ "command:/a\nb", "printable" },
	{ "command:/a\tb", "printable" },
	{ "command:/a\x7f", "printable" },
	{ "command:/caf\xc3\xa9", "printable" },
	{ "webhook:", "https://" },
	{ "webhook:example.com", "https://" },
	{ "webhook:ftp://example.com/", "https://" },
	{ "webhook:https:/example.com", "https://" },
	{ "webhook:https:example.com", "https://" },
	{ "webhook:httpss://example.com", "https://" },
	{ "webhook:file:///etc/passwd", "https://" },
	{ "webhook:https://", "needs a host" },
	{ "webhook:https:///path", "needs a host" },
	{ "webhook:https://:443/", "needs a host" },
	{ "webhook:https://?q", "needs a host" },
	{ "webhook:https://::1/", "needs a host" },
	{ "webhook:https://user:pw@example.com/", "user name" },
	{ "webhook:https://user@example.com/", "user name" },
	{ "webhook:https://@example.com/", "user name" },
	{ "webhook:https://example.com\\@evil.com/", "user name" },
	{ "webhook:https://example.com/#frag", "fragment" },
	{ "webhook:https://example.com#", "fragment" },
	{ "webhook:https://exa mple.com/", "printable" },
	{ "webhook:https://example.com/ x", "printable" },
	{ "webhook:https://example.com/\tx", "printable" },
	{ "webhook:https://example.com/\x7f", "printable" },
	{ "webhook:https://ex\xc3\xa4mple.com/", "printable" },
	{ "webhook:https://example.com/\r\n", "printable" },
	{ "webhook:https://ex%41mple.com/", "host may have only" },
	{ "webhook:https://example.com\\/", "host may have only" },
	{ "webhook:https://exa!mple.com/", "host may have only" },
	{ "webhook:https://example.com:0/", "port" },
	{ "webhook:https://example.com:65536/", "port" },
	{ "webhook:https://example.com:/", "port" },
	{ "webhook:https://example.com:", "port" },
	{ "webhook:https://example.com:99999999999999999999/", "port" },
	{ "webhook:https://example.com:8a/", "port" },
	{ "webhook:https://example.com:-1/", "port" },
	{ "webhook:https://example.com:80:80/", "port" },
	{ "webhook:https://[::1/", "IPv6" },
	{ "webhook:https://[::1", "IPv6" },
	{ "webhook:https://[]/", "IPv6" },
	{ "webhook:https://[1.2.3.4]/", "IPv6" },
	{ "webhook:https://[fe80::1%25eth0]/", "IPv6" },
	{ "webhook:https://[v1.x]/", "IPv6" },
	{ "webhook:https://[::1]x/", "only :port" },
	{ "webhook:https://[::1]]/", "only :port" },
	{ "webhook:https://example.com/a\\b", "percent-encoded" },
	{ "webhook:https://example.com/<x>", "percent-encoded" },
	{ "webhook:https://example.com/{x}", "percent-encoded" },
	{ "webhook:https://example.com/[x]", "percent-encoded" },
	{ "webhook:https://example.com/\"x\"", "percent-encoded" },
	{ "webhook:https://example.com/a|b", "percent-encoded" },
	{ "webhook:https://example.com/%zz", "%XX" },
	{ "webhook:https://example.com/%4", "%XX" },
	{ "webhook:https://example.com/%", "%XX" },
};

static void fill_pattern(rotspec *r)
{
	memset(r, 0xA5, sizeof(*r));
}

static bool is_pattern(const rotspec *r)
{
	const unsigned char *p = (const unsigned char *)r;

	for (size_t i = 0; i < sizeof(*r); i++) {
		if (p[i] != 0xA5)
			return false;
	}
	return true;
}

static void test_parse_valid(void **state)
{
	char out[ROTSPEC_MAX + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(valid_specs) / sizeof(valid_specs[0]);
	     i++) {
		rotspec r;
		const char *why = NULL;
		const char *s = valid_specs[i].spec;
		if (rotspec_parse(s, strlen(s), &r, &why) != 0)
			fail_msg("\"%s\" refused: %s", s, why ? why : "?");
		assert_int_equal(r.kind, valid_specs[i].kind);
		if (r.kind == ROTSPEC_RANDOM) {
			assert_int_equal(r.bytes, valid_specs[i].bytes);
			assert_int_equal(r.format, valid_specs[i].format);
		} else {
			/* target is the canonical text after the kind. */
			assert_string_equal(r.target,
			                    strchr(valid_specs[i].canonical,
			                           ':') +
			                            1);
		}
		rotspec_format_spec(&r, out, sizeof(out));
		assert_string_equal(out, valid_specs[i].canonical);
		/* The canonical spelling is a fixed point. */
		rotspec again;
		assert_int_equal(rotspec_parse(out, strlen(out), &again, NULL),
		                 0);
		char out2[ROTSPEC_MAX + 1];
		rotspec_format_spec(&again, out2, sizeof(out2));
		assert_string_equal(out2, out);
	}
}

static void test_parse_invalid(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(invalid_specs) / sizeof(invalid_specs[0]);
	     i++) {
		rotspec r;
		const char *why = NULL;
		const char *s = invalid_specs[i].spec;
		fill_pattern(&r);
		if (rotspec_parse(s, strlen(s), &r, &why) != KW_EINVAL)
			fail_msg("\"%s\" accepted", s);
		assert_non_null(why);
		if (!strstr(why, invalid_specs[i].word))
			fail_msg("\"%s\": reason \"%s\" lacks \"%s\"", s, why,
			         invalid_specs[i].word);
		assert_true(is_pattern(&r));
		assert_int_equal(rotspec_parse(s, strlen(s), &r, NULL),
		                 KW_EINVAL);
	}
	rotspec r;
	assert_int_equal(rotspec_parse(NULL, 5, &r, NULL), KW_EINVAL);
}

/* An embedded NUL counts as a byte of the spec and is refused. */
static void test_parse_len(void **state)
{
	rotspec r;
	const char *why = NULL;

	(void)state;
	/* len, not the NUL, ends the spec. */
	assert_int_equal(rotspec_parse("random:32:hexGARBAGE", 13, &r, NULL),
	                 0);
	assert_int_equal(r.format, ROTSPEC_HEX);
	assert_int_equal(rotspec_parse("random:32:hex", 12, &r, &why),
	                 KW_EINVAL);
	assert_int_equal(rotspec_parse("random:32\0:hex", 14, &r, NULL),
	                 KW_EINVAL);
	assert_int_equal(rotspec_parse("command:/bin/a\0b", 16, &r, &why),
	                 KW_EINVAL);
	assert_non_null(strstr(why, "printable"));
	assert_int_equal(rotspec_parse("webhook:https://a/\0", 19, &r, &why),
	                 KW_EINVAL);
	assert_int_equal(rotspec_parse("random:32", 0, &r, &why), KW_EINVAL);
	assert_non_null(strstr(why, "empty"));
}

static void test_parse_max_length(void **state)
{
	char spec[ROTSPEC_MAX + 2];
	char out[ROTSPEC_MAX + 1];
	rotspec r;
	const char *why = NULL;

	(void)state;
	/* Exactly ROTSPEC_MAX bytes: a long webhook path is fine. */
	int n = snprintf(spec, sizeof(spec), "webhook:https://example.com/");
	memset(spec + n, 'a', ROTSPEC_MAX - (size_t)n);
	spec[ROTSPEC_MAX] = '\0';
	assert_int_equal(rotspec_parse(spec, ROTSPEC_MAX, &r, &why), 0);
	rotspec_format_spec(&r, out, sizeof(out));
	assert_string_equal(out, spec);
	/* One more is refused, before anything else is looked at. */
	spec[ROTSPEC_MAX] = 'a';
	spec[ROTSPEC_MAX + 1] = '\0';
	assert_int_equal(rotspec_parse(spec, ROTSPEC_MAX + 1, &r, &why),
	                 KW_EINVAL);
	assert_non_null(strstr(why, "1024"));

	/* And a command path of the same size. */
	n = snprintf(spec, sizeof(spec), "command:/");
	memset(spec + n, 'b', ROTSPEC_MAX - (size_t)n);
	spec[ROTSPEC_MAX] = '\0';
	assert_int_equal(rotspec_parse(spec, ROTSPEC_MAX, &r, NULL), 0);
	rotspec_format_spec(&r, out, sizeof(out));
	assert_string_equal(out, spec);
}

/* A secret pasted into the wrong field must not come back in *why. */
static void test_reason_never_quotes(void **state)
{
	static const char *const specs[] = {
		"sk_live_SECRETSECRET",
		"random:SECRETSECRET",
		"random:32:SECRETSECRET",
		"command:SECRETSECRET",
		"webhook:https://user:SECRETSECRET@example.com/",
		"webhook:https://example.com/#SECRETSECRET",
		"webhook:https://example.com/ SECRETSECRET",
		"webhook:https://example.com:SECRETSECRET/",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		rotspec r;
		const char *why = NULL;
		assert_int_equal(rotspec_parse(specs[i], strlen(specs[i]), &r,
		                               &why),
		                 KW_EINVAL);
		assert_non_null(why);
		assert_null(strstr(why, "SECRET"));
	}
}

static void test_format_small_buffer(void **state)
{
	rotspec r;
	char out[8];

	(void)state;
	assert_int_equal(rotspec_parse("webhook:https://example.com/", 28, &r,
	                               NULL),
	                 0);
	memset(out, 'x', sizeof(out));
	rotspec_format_spec(&r, out, sizeof(out));
	assert_string_equal(out, "webhook");
	rotspec_format_spec(&r, out, 0);
	assert_int_equal(out[0], 'w');
	r.kind = (enum rotspec_kind)99;
	rotspec_format_spec(&r, out, sizeof(out));
	assert_string_equal(out, "");
}

/* Generation ------------------------------------------------------------- */

static rotspec random_spec(uint32_t bytes, enum rotspec_format format)
{
	rotspec r;

	memset(&r, 0, sizeof(r));
	r.kind = ROTSPEC_RANDOM;
	r.bytes = bytes;
	r.format = format;
	return r;
}

static bool all_in(const uint8_t *v, size_t len, const char *alphabet)
{
	for (size_t i = 0; i < len; i++) {
		if (v[i] == '\0' || !strchr(alphabet, v[i]))
			return false;
	}
	return true;
}

static const char hex_chars[] = "0123456789abcdef";
static const char b64url_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char b62_chars[] =
	"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static void test_generate(void **state)
{
	static const uint32_t sizes[] = { 1, 2, 3, 16, 31, 32, 33, 64, 4096 };
	uint8_t bin[ROTSPEC_RANDOM_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint32_t n = sizes[i];
		uint8_t *v = NULL;
		size_t len = 0, binlen = 0;

		rotspec r = random_spec(n, ROTSPEC_RAW);
		assert_int_equal(rotspec_generate(&r, &v, &len), 0);
		assert_int_equal(len, n);
		kw_wipefree(v);

		r = random_spec(n, ROTSPEC_HEX);
		assert_int_equal(rotspec_generate(&r, &v, &len), 0);
		assert_int_equal(len, 2u * n);
		assert_true(all_in(v, len, hex_chars));
		assert_int_equal(sodium_hex2bin(bin, sizeof(bin),
		                                (const char *)v, len, NULL,
		                                &binlen, NULL),
		                 0);
		assert_int_equal(binlen, n);
		kw_wipefree(v);

		r = random_spec(n, ROTSPEC_BASE64URL);
		assert_int_equal(rotspec_generate(&r, &v, &len), 0);
		/* No padding: 4 characters per 3 bytes, rounded up. */
		assert_int_equal(len, (4u * n + 2u) / 3u);
		assert_true(all_in(v, len, b64url_chars));
		assert_int_equal(
			sodium_base642bin(
				bin, sizeof(bin), (const char *)v, len, NULL,
				&binlen, NULL,
				sodium_base64_VARIANT_URLSAFE_NO_PADDING),
			0);
		assert_int_equal(binlen, n);
		kw_wipefree(v);
	}
}

static void test_generate_apikey(void **state)
{
	static const uint32_t sizes[] = { 16, 17, 32, 100, 762 };

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		rotspec r = random_spec(sizes[i], ROTSPEC_APIKEY);
		uint8_t *v = NULL;
		size_t len = 0;
		size_t body = kw_apikey_body_len(sizes[i]);
		if (body < KW_APIKEY_BODY_MIN)
			body = KW_APIKEY_BODY_MIN;

		assert_int_equal(rotspec_generate(&r, &v, &len), 0);
		assert_int_equal(len, 4u + body + KW_APIKEY_CHECK_LEN);
		assert_memory_equal(v, "kwk_", 4);
		assert_true(all_in(v + 4, len - 4, b62_chars));
		assert_int_equal(kw_apikey_check((const char *)v, len, NULL),
		                 0);
		kw_wipefree(v);
	}
}

static void test_generate_distinct(void **state)
{
	static const enum rotspec_format formats[] = { ROTSPEC_RAW, ROTSPEC_HEX,
		                                       ROTSPEC_BASE64URL,
		                                       ROTSPEC_APIKEY };
	(void)state;
	for (size_t f = 0; f < sizeof(formats) / sizeof(formats[0]); f++) {
		rotspec r = random_spec(32, formats[f]);
		uint8_t *a = NULL, *b = NULL;
		size_t alen, blen;
		assert_int_equal(rotspec_generate(&r, &a, &alen), 0);
		assert_int_equal(rotspec_generate(&r, &b, &blen), 0);
		assert_int_equal(alen, blen);
		assert_memory_not_equal(a, b, alen);
		kw_wipefree(a);
		kw_wipefree(b);
	}
	/* Raw bytes use the whole byte range. */
	rotspec r = random_spec(4096, ROTSPEC_RAW);
	uint8_t *v = NULL;
	size_t len;
	bool seen[256] = { false };
	size_t distinct = 0;
	assert_int_equal(rotspec_generate(&r, &v, &len), 0);
	for (size_t i = 0; i < len; i++) {
		if (!seen[v[i]]) {
			seen[v[i]] = true;
			distinct++;
		}
	}
	kw_wipefree(v);
	assert_true(distinct > 240);
}

static void test_generate_errors(void **state)
{
	uint8_t *v = (uint8_t *)"untouched";
	size_t len = 77;
	rotspec r;

	(void)state;
	assert_int_equal(rotspec_parse("command:/bin/true", 17, &r, NULL), 0);
	assert_int_equal(rotspec_generate(&r, &v, &len), KW_EINVAL);
	assert_int_equal(rotspec_parse("webhook:https://a/", 18, &r, NULL), 0);
	assert_int_equal(rotspec_generate(&r, &v, &len), KW_EINVAL);
	r = random_spec(0, ROTSPEC_RAW);
	assert_int_equal(rotspec_generate(&r, &v, &len), KW_EINVAL);
	r = random_spec(ROTSPEC_RANDOM_MAX + 1, ROTSPEC_HEX);
	assert_int_equal(rotspec_generate(&r, &v, &len), KW_EINVAL);
	r = random_spec(15, ROTSPEC_APIKEY);
	assert_int_equal(rotspec_generate(&r, &v, &len), KW_EINVAL);
	r = random_spec(763, ROTSPEC_APIKEY);
	assert_int_equal(rotspec_generate(&r, &v, &len), KW_EINVAL);
	r = random_spec(32, (enum rotspec_format)99);
	assert_int_equal(rotspec_generate(&r, &v, &len), KW_EINVAL);
	assert_int_equal(rotspec_generate(NULL, &v, &len), KW_EINVAL);
	assert_string_equal((const char *)v, "untouched");
	assert_int_equal(len, 77);
}

/* The parsed default generator spec is what its name says. */
static void test_default_generator(void **state)
{
	rotspec r;
	char out[ROTSPEC_MAX + 1];

	(void)state;
	assert_int_equal(rotspec_parse(ROTSPEC_GENERATE_DEFAULT,
	                               strlen(ROTSPEC_GENERATE_DEFAULT), &r,
	                               NULL),
	                 0);
	assert_int_equal(r.kind, ROTSPEC_RANDOM);
	assert_int_equal(r.bytes, 32);
	assert_int_equal(r.format, ROTSPEC_BASE64URL);
	rotspec_format_spec(&r, out, sizeof(out));
	assert_string_equal(out, ROTSPEC_GENERATE_DEFAULT);
}

/* rotspec_check_command ---------------------------------------------------- */

struct fixture {
	char base[PATH_MAX];
	char path[PATH_MAX];
	unsigned me;
};

/* Is every directory from dir up to / owned by root or uid and not
 * group/other-writable unless sticky? Otherwise the machine's layout, not
 * the code, would decide the results. */
static bool ancestors_safe(const char *dir, unsigned uid)
{
	char p[PATH_MAX];
	struct stat st;
	int n = snprintf(p, sizeof(p), "%s", dir);

	if (n <= 0 || (size_t)n >= sizeof(p))
		return false;
	for (;;) {
		if (stat(p[0] ? p : "/", &st) != 0)
			return false;
		if (st.st_uid != 0 && st.st_uid != uid)
			return false;
		if ((st.st_mode & 022) && !(st.st_mode & S_ISVTX))
			return false;
		char *slash = strrchr(p, '/');
		if (!slash || !p[0])
			return true;
		*slash = '\0';
	}
}

static int dir_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char cwd[PATH_MAX];

	if (!f)
		return -1;
	/* In the build directory, not /tmp: the command's own directory is
	 * what is tested, and /tmp's layout varies. */
	if (!getcwd(cwd, sizeof(cwd)))
		goto fail;
	int n = snprintf(f->base, sizeof(f->base), "%s/rotspec.XXXXXX", cwd);
	if (n <= 0 || (size_t)n >= sizeof(f->base) || !mkdtemp(f->base))
		goto fail;
	f->me = (unsigned)geteuid();
	*state = f;
	return 0;
fail:
	free(f);
	return -1;
}

static int rm_one(const char *p, const struct stat *st, int flag,
                  struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(p) : unlink(p);
}

static int dir_teardown(void **state)
{
	struct fixture *f = *state;
	int r = nftw(f->base, rm_one, 16, FTW_DEPTH | FTW_PHYS);

	free(f);
	return r;
}

/* f->base + "/" + rel, in f->path. */
static const char *at(struct fixture *f, const char *rel)
{
	int n = snprintf(f->path, sizeof(f->path), "%s/%s", f->base, rel);

	assert_true(n > 0 && (size_t)n < sizeof(f->path));
	return f->path;
}

static void make_file(struct fixture *f, const char *rel, mode_t mode)
{
	static const char body[] = "#!/bin/sh\nexit 0\n";
	int fd =
		open(at(f, rel), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, body, sizeof(body) - 1),
	                 (ssize_t)(sizeof(body) - 1));
	assert_int_equal(close(fd), 0);
	assert_int_equal(chmod(f->path, mode), 0);
}

static void make_dir(struct fixture *f, const char *rel, mode_t mode)
{
	assert_int_equal(mkdir(at(f, rel), 0700), 0);
	assert_int_equal(chmod(f->path, mode), 0);
}

static void make_link(struct fixture *f, const char *rel, const char *target)
{
	assert_int_equal(symlink(target, at(f, rel)), 0);
}

/* chown, or skip the test if this process may not. */
static void give(struct fixture *f, const char *rel, unsigned uid)
{
	if (lchown(at(f, rel), uid, (gid_t)-1) != 0) {
		if (errno == EPERM)
			skip();
		fail_msg("lchown: %s", strerror(errno));
	}
}

static void check_ok(struct fixture *f, const char *rel, unsigned owner)
{
	const char *why = NULL;

	if (rotspec_check_command(at(f, rel), owner, &why) != 0)
		fail_msg("%s refused: %s", rel, why ? why : "?");
}

/* Refused with err and a reason containing word (and never the path). */
static void check_bad(struct fixture *f, const char *rel, unsigned owner,
                      int err, const char *word)
{
	const char *why = NULL;
	int r = rotspec_check_command(at(f, rel), owner, &why);

	if (r != err)
		fail_msg("%s: got %d, want %d (%s)", rel, r, err,
		         why ? why : "no reason");
	assert_non_null(why);
	if (!strstr(why, word))
		fail_msg("%s: reason \"%s\" lacks \"%s\"", rel, why, word);
	assert_null(strstr(why, "rotspec."));
	assert_int_equal(rotspec_check_command(f->path, owner, NULL), err);
}

static void test_check_modes(void **state)
{
	struct fixture *f = *state;

	if (!ancestors_safe(f->base, f->me))
		skip();
	make_file(f, "u700", 0700);
	make_file(f, "u755", 0755);
	make_file(f, "u500", 0500);
	make_file(f, "u100", 0100);
	make_file(f, "suid", 04755);
	make_file(f, "sgid", 02755);
	make_file(f, "u644", 0644);
	make_file(f, "u600", 0600);
	make_file(f, "u055", 0055);
	make_file(f, "g775", 0775);
	make_file(f, "g770", 0770);
	make_file(f, "o757", 0757);
	make_file(f, "o702", 0702);

	check_ok(f, "u700", f->me);
	check_ok(f, "u755", f->me);
	check_ok(f, "u500", f->me);
	check_ok(f, "u100", f->me);
	/* A rotator never runs with more than the agent's rights. */
	check_bad(f, "suid", f->me, KW_EPERM, "setuid or setgid");
	check_bad(f, "sgid", f->me, KW_EPERM, "setuid or setgid");
	check_bad(f, "u644", f->me, KW_EPERM, "not executable");
	check_bad(f, "u600", f->me, KW_EPERM, "not executable");
	check_bad(f, "u055", f->me, KW_EPERM, "not executable");
	check_bad(f, "g775", f->me, KW_EPERM, "writable by group or others");
	check_bad(f, "g770", f->me, KW_EPERM, "writable by group or others");
	check_bad(f, "o757", f->me, KW_EPERM, "writable by group or others");
	check_bad(f, "o702", f->me, KW_EPERM, "writable by group or others");
}

static void test_check_kinds(void **state)
{
	struct fixture *f = *state;

	if (!ancestors_safe(f->base, f->me))
		skip();
	make_file(f, "file", 0700);
	make_dir(f, "dir", 0755);
	assert_int_equal(mkfifo(at(f, "fifo"), 0700), 0);

	check_bad(f, "missing", f->me, KW_ENOTFOUND, "does not exist");
	check_bad(f, "nodir/missing", f->me, KW_ENOTFOUND, "does not exist");
	check_bad(f, "dir", f->me, KW_EPERM, "not a regular file");
	check_bad(f, "dir/", f->me, KW_EPERM, "not a regular file");
	check_bad(f, "fifo", f->me, KW_EPERM, "not a regular file");
	check_bad(f, "file/x", f->me, KW_ENOTFOUND, "not a directory");
	check_bad(f, "file/", f->me, KW_ENOTFOUND, "not a directory");
	/* "." and repeated slashes resolve as the kernel resolves them. */
	check_ok(f, "./file", f->me);
	check_ok(f, ".//file", f->me);

	const char *why = NULL;
	assert_int_equal(rotspec_check_command(NULL, f->me, &why), KW_EINVAL);
	assert_int_equal(rotspec_check_command("", f->me, &why), KW_EINVAL);
	assert_int_equal(rotspec_check_command("bin/sh", f->me, &why),
	                 KW_EINVAL);
	assert_non_null(strstr(why, "absolute"));
	assert_int_equal(rotspec_check_command("/", f->me, &why), KW_EPERM);
}

static void test_check_dotdot(void **state)
{
	struct fixture *f = *state;
	const char *why = NULL;

	if (!ancestors_safe(f->base, f->me))
		skip();
	make_file(f, "file", 0700);
	make_dir(f, "dir", 0755);
	/* It would resolve to a good file, but ".." is refused as such. */
	assert_int_equal(rotspec_check_command(at(f, "dir/../file"), f->me,
	                                       &why),
	                 KW_EINVAL);
	assert_non_null(strstr(why, ".."));
	assert_int_equal(rotspec_check_command(at(f, "dir/.."), f->me, &why),
	                 KW_EINVAL);
	/* Names that merely contain dots are fine. */
	make_file(f, "..x", 0700);
	make_file(f, "x..", 0700);
	check_ok(f, "..x", f->me);
	check_ok(f, "x..", f->me);
}

static void test_check_owner(void **state)
{
	struct fixture *f = *state;

	if (!ancestors_safe(f->base, f->me))
		skip();
	make_file(f, "theirs", 0700);
	give(f, "theirs", OTHER_UID);
	/* Owned by neither root nor the agent's user... */
	check_bad(f, "theirs", f->me, KW_EPERM, "owned by neither");
	/* ...unless they are the agent's user. */
	check_ok(f, "theirs", OTHER_UID);

	/* Root's file is fine for any agent user, when the directories
	 * are root's or that user's. */
	make_file(f, "roots", 0700);
	give(f, "roots", 0);
	check_ok(f, "roots", 0);
	check_ok(f, "roots", OTHER_UID);

	/* A directory owned by someone else. */
	make_dir(f, "otherdir", 0755);
	make_file(f, "otherdir/cmd", 0700);
	give(f, "otherdir", OTHER_UID);
	check_bad(f, "otherdir/cmd", f->me, KW_EPERM,
	          "directory on the command's path is owned");
	give(f, "otherdir/cmd", OTHER_UID);
	check_ok(f, "otherdir/cmd", OTHER_UID);
}

static void test_check_directories(void **state)
{
	struct fixture *f = *state;

	if (!ancestors_safe(f->base, f->me))
		skip();
	make_dir(f, "g775", 0775);
	make_file(f, "g775/cmd", 0700);
	make_dir(f, "g770", 0770);
	make_file(f, "g770/cmd", 0700);
	make_dir(f, "o777", 0777);
	make_file(f, "o777/cmd", 0700);
	make_dir(f, "sticky", 01777);
	make_file(f, "sticky/cmd", 0700);
	make_dir(f, "ok", 0755);
	make_file(f, "ok/cmd", 0700);

	check_bad(f, "g775/cmd", f->me, KW_EPERM, "writable by group");
	check_bad(f, "g770/cmd", f->me, KW_EPERM, "writable by group");
	check_bad(f, "o777/cmd", f->me, KW_EPERM, "writable by group");
	/* Sticky is not enough for the command's own directory. */
	check_bad(f, "sticky/cmd", f->me, KW_EPERM, "sticky or not");
	check_ok(f, "ok/cmd", f->me);

	/* Further up: a group-writable grandparent is refused too. */
	make_dir(f, "g775/sub", 0755);
	make_file(f, "g775/sub/cmd", 0700);
	check_bad(f, "g775/sub/cmd", f->me, KW_EPERM, "writable by group");

	/* A sticky grandparent (like /tmp) is fine when what is in it is
	 * ours; someone else's directory in it is not. */
	make_dir(f, "sticky/mine", 0700);
	make_file(f, "sticky/mine/cmd", 0700);
	check_ok(f, "sticky/mine/cmd", f->me);
	make_dir(f, "sticky/theirs", 0755);
	make_file(f, "sticky/theirs/cmd", 0700);
	give(f, "sticky/theirs", OTHER_UID);
	check_bad(f, "sticky/theirs/cmd", f->me, KW_EPERM, "owned by neither");

	/* The base directory itself turning group-writable breaks all. */
	assert_int_equal(chmod(f->base, 0770), 0);
	check_bad(f, "ok/cmd", f->me, KW_EPERM, "writable by group");
	assert_int_equal(chmod(f->base, 0700), 0);
	check_ok(f, "ok/cmd", f->me);
}

static void test_check_symlinks(void **state)
{
	struct fixture *f = *state;
	char abs[PATH_MAX];

	if (!ancestors_safe(f->base, f->me))
		skip();
	make_file(f, "cmd", 0700);
	make_file(f, "notexec", 0600);
	make_dir(f, "sub", 0755);
	make_file(f, "sub/cmd2", 0700);

	/* Followed: relative, absolute, chained, through a directory. */
	make_link(f, "rel", "cmd");
	check_ok(f, "rel", f->me);
	int n = snprintf(abs, sizeof(abs), "%s/cmd", f->base);
	assert_true(n > 0 && (size_t)n < sizeof(abs));
	make_link(f, "abs", abs);
	check_ok(f, "abs", f->me);
	make_link(f, "chain", "rel");
	check_ok(f, "chain", f->me);
	make_link(f, "dirlink", "sub");
	check_ok(f, "dirlink/cmd2", f->me);
	make_link(f, "sub/up", "../cmd");
	check_ok(f, "sub/up", f->me);
	make_link(f, "slashes", ".//sub///cmd2");
	check_ok(f, "slashes", f->me);

	/* The target is what is checked. */
	make_link(f, "tonotexec", "notexec");
	check_bad(f, "tonotexec", f->me, KW_EPERM, "not executable");
	make_link(f, "todir", "sub");
	check_bad(f, "todir", f->me, KW_EPERM, "not a regular file");
	make_link(f, "dangling", "nothing-here");
	check_bad(f, "dangling", f->me, KW_ENOTFOUND, "does not exist");
	make_link(f, "loop1", "loop2");
	make_link(f, "loop2", "loop1");
	check_bad(f, "loop1", f->me, KW_EINVAL, "symbolic links");
	make_link(f, "self", "self/x");
	check_bad(f, "self", f->me, KW_EINVAL, "symbolic links");

	/* A link into a writable directory: the target's directory counts. */
	make_dir(f, "open", 0777);
	make_file(f, "open/cmd", 0700);
	make_link(f, "toopen", "open/cmd");
	check_bad(f, "toopen", f->me, KW_EPERM, "writable by group");

	/* A link in a writable directory to a good file: whoever can write
	 * the directory can re-point the link. */
	make_dir(f, "gw", 0775);
	make_link(f, "gw/link", "../cmd");
	check_bad(f, "gw/link", f->me, KW_EPERM, "writable by group");
	make_link(f, "togw", "gw/link");
	check_bad(f, "togw", f->me, KW_EPERM, "writable by group");
}

static void test_check_symlink_owner(void **state)
{
	struct fixture *f = *state;

	if (!ancestors_safe(f->base, f->me))
		skip();
	make_file(f, "cmd", 0700);
	make_dir(f, "other", 0755);
	make_file(f, "other/cmd", 0700);
	give(f, "other", OTHER_UID);
	give(f, "other/cmd", OTHER_UID);

	/* A link of ours to a file in someone else's directory. */
	make_link(f, "toother", "other/cmd");
	check_bad(f, "toother", f->me, KW_EPERM, "owned by neither");
	/* Someone else's link, even to a good file. */
	make_link(f, "theirlink", "cmd");
	give(f, "theirlink", OTHER_UID);
	check_bad(f, "theirlink", f->me, KW_EPERM, "symbolic link");
	/* In a sticky directory, a link of ours is ours to change. */
	make_dir(f, "sticky", 01777);
	make_dir(f, "sticky/d", 0755);
	make_file(f, "sticky/d/cmd", 0700);
	make_link(f, "sticky/mylink", "d");
	check_ok(f, "sticky/mylink/cmd", f->me);
	make_link(f, "sticky/theirlink", "d");
	give(f, "sticky/theirlink", OTHER_UID);
	check_bad(f, "sticky/theirlink/cmd", f->me, KW_EPERM, "symbolic link");
}

static void test_check_long_path(void **state)
{
	struct fixture *f = *state;
	char *p = malloc(PATH_MAX + 16);
	const char *why = NULL;

	(void)f;
	assert_non_null(p);
	p[0] = '/';
	memset(p + 1, 'a', PATH_MAX + 8);
	p[PATH_MAX + 9] = '\0';
	assert_int_equal(rotspec_check_command(p, 0, &why), KW_EINVAL);
	assert_non_null(strstr(why, "too long"));
	/* A long name inside PATH_MAX is the file system's to refuse. */
	p[300] = '\0';
	assert_int_equal(rotspec_check_command(p, 0, &why), KW_EINVAL);
	assert_non_null(strstr(why, "too long"));
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_invalid),
		cmocka_unit_test(test_parse_len),
		cmocka_unit_test(test_parse_max_length),
		cmocka_unit_test(test_reason_never_quotes),
		cmocka_unit_test(test_format_small_buffer),
		cmocka_unit_test(test_generate),
		cmocka_unit_test(test_generate_apikey),
		cmocka_unit_test(test_generate_distinct),
		cmocka_unit_test(test_generate_errors),
		cmocka_unit_test(test_default_generator),
		cmocka_unit_test_setup_teardown(test_check_modes, dir_setup,
		                                dir_teardown),
		cmocka_unit_test_setup_teardown(test_check_kinds, dir_setup,
		                                dir_teardown),
		cmocka_unit_test_setup_teardown(test_check_dotdot, dir_setup,
		                                dir_teardown),
		cmocka_unit_test_setup_teardown(test_check_owner, dir_setup,
		                                dir_teardown),
		cmocka_unit_test_setup_teardown(test_check_directories,
		                                dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_check_symlinks, dir_setup,
		                                dir_teardown),
		cmocka_unit_test_setup_teardown(test_check_symlink_owner,
		                                dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_check_long_path, dir_setup,
		                                dir_teardown),
	};

	if (kw_secmem_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
