/*
 * fuzz_rotresult.c - what comes back from a rotator: a command's output
 * (rotcmd_detail, agent/rotate/rotcmd.c), a webhook's response body
 * (httpc_first_line, agent/rotate/webhook.c) and the check that keeps the new
 * value out of the audit log (rotate_quotes_value, agent/rotate/rotate_step.c).
 *
 * Input: the output or body; the same bytes also serve as a new value.
 * Properties: details are NUL-terminated printable ASCII within their
 * bound, a body's first line is the body's bytes up to the first line end
 * (non-printables as '?'), and a detail that quotes 8 characters of the
 * value (or all of a shorter one) verbatim, in base64 or in hex (either
 * case) is always caught.
 */
#include <sodium.h>
#include <string.h>

#include "fuzz.h"
#include "rotate_int.h"
#include "rotcmd.h"
#include "webhook.h"

#define WINDOW 8u

static bool printable(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	}
	return true;
}

static void check_command(const uint8_t *data, size_t size)
{
	char detail[ROTJOB_DETAIL_MAX];

	memset(detail, 'x', sizeof(detail));
	rotcmd_detail("exit status 1", (const char *)data, size, detail);
	FUZZ_CHECK(memchr(detail, '\0', sizeof(detail)) != NULL);
	FUZZ_CHECK(printable(detail));
	FUZZ_CHECK(strncmp(detail, "exit status 1", 13) == 0);
}

static void check_webhook(const uint8_t *data, size_t size)
{
	char line[ROTJOB_DETAIL_MAX];
	size_t n;

	httpc_first_line(data, size, line, sizeof(line));
	n = strlen(line);
	FUZZ_CHECK(n < sizeof(line) && printable(line));
	for (size_t i = 0; i < n; i++) {
		FUZZ_CHECK(data[i] != '\r' && data[i] != '\n');
		FUZZ_CHECK(line[i] == (char)data[i] || line[i] == '?');
	}
	/* It stopped at a line end, the end of the body or a full buffer. */
	FUZZ_CHECK(n == size || n == sizeof(line) - 1 || data[n] == '\r' ||
	           data[n] == '\n');
}

/* The detail of a command that printed out[0..len): must be caught. */
static void must_catch(const uint8_t *v, size_t vlen, const char *out,
                       size_t len)
{
	char detail[ROTJOB_DETAIL_MAX];

	rotcmd_detail("exit status 1", out, len, detail);
	FUZZ_CHECK(rotate_quotes_value(detail, v, vlen));
}

static void check_quotes(const uint8_t *v, size_t vlen)
{
	size_t win = vlen < WINDOW ? vlen : WINDOW;
	char b64[sodium_base64_ENCODED_LEN(WINDOW,
	                                   sodium_base64_VARIANT_ORIGINAL)];
	char hex[WINDOW * 2 + 1];

	if (vlen == 0)
		return;
	/* Verbatim: the first window of printable bytes other than '?'
	 * (the runners print '?' for what is not printable). */
	for (size_t i = 0; i + win <= vlen; i++) {
		bool ok = true;
		for (size_t k = i; ok && k < i + win; k++)
			ok = v[k] >= 0x20 && v[k] < 0x7f && v[k] != '?';
		if (ok) {
			must_catch(v, vlen, (const char *)v + i, win);
			break;
		}
	}
	/* Base64 of the first bytes: its first WINDOW characters. */
	sodium_bin2base64(b64, sizeof(b64), v, win,
	                  sodium_base64_VARIANT_ORIGINAL);
	size_t blen = strcspn(b64, "=");
	if (blen >= WINDOW || win == vlen)
		must_catch(v, vlen, b64, blen < WINDOW ? blen : WINDOW);
	/* Hex of the first four bytes, upper case. */
	size_t hbytes = win < WINDOW / 2 ? win : WINDOW / 2;
	sodium_bin2hex(hex, sizeof(hex), v, hbytes);
	if (hbytes * 2 >= WINDOW || win == vlen) {
		for (char *h = hex; *h; h++) {
			if (*h >= 'a' && *h <= 'f')
				*h = (char)(*h - 'a' + 'A');
		}
		must_catch(v, vlen, hex, strlen(hex));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_command(data, size);
	check_webhook(data, size);
	check_quotes(data, size);
	return 0;
}
