/*
 * audit_chain.c - the canonical encoding of a row, the chain hash, the
 * checkpoint message and line format (docs/audit.md gives all three byte
 * by byte; change none without a new magic), and writing checkpoint lines.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "audit_int.h"
#include "keyward.h"
#include "writeall.h"

_Static_assert(AUDIT_SIG_BYTES == crypto_sign_ed25519_BYTES, "sig size");
_Static_assert(AUDIT_PK_BYTES == crypto_sign_ed25519_PUBLICKEYBYTES,
               "public key size");
_Static_assert(AUDIT_SK_BYTES == crypto_sign_ed25519_SECRETKEYBYTES,
               "secret key size");
_Static_assert(AUDIT_HASH_BYTES >= crypto_generichash_BYTES_MIN &&
                       AUDIT_HASH_BYTES <= crypto_generichash_BYTES_MAX,
               "hash size");

#define ROW_MAGIC "KWA1"

static void put_be(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--) {
		p[i] = (uint8_t)(v & 0xff);
		v >>= 8;
	}
}

/* An optional string: 0x00, or 0x01 || u32 BE length || bytes. */
static void put_str(crypto_generichash_state *h, const char *s)
{
	uint8_t b[5] = { 0 };
	size_t n;

	if (!s) {
		crypto_generichash_update(h, b, 1);
		return;
	}
	n = strlen(s);
	b[0] = 1;
	put_be(b + 1, n > UINT32_MAX ? UINT32_MAX : n, 4);
	crypto_generichash_update(h, b, sizeof(b));
	crypto_generichash_update(h, (const uint8_t *)s, n);
}

void audit_chain_hash(kw_key *key, const uint8_t prev[static AUDIT_HASH_BYTES],
                      const audit_row *row,
                      uint8_t ret_hash[static AUDIT_HASH_BYTES])
{
	crypto_generichash_state h;
	uint8_t fixed[4 + 8 + 8 + 4 + 4];
	uint8_t tail[8 + 1];

	memcpy(fixed, ROW_MAGIC, 4);
	put_be(fixed + 4, row->seq, 8);
	put_be(fixed + 12, (uint64_t)row->ts_us, 8);
	put_be(fixed + 20, (uint32_t)row->uid, 4);
	put_be(fixed + 24, (uint32_t)row->pid, 4);
	put_be(tail, row->version, 8);
	tail[8] = (uint8_t)row->outcome;

	crypto_generichash_init(&h, key_bytes(key), KEY_BYTES,
	                        AUDIT_HASH_BYTES);
	key_done(key);
	crypto_generichash_update(&h, prev, AUDIT_HASH_BYTES);
	crypto_generichash_update(&h, fixed, sizeof(fixed));
	put_str(&h, row->exe);
	put_str(&h, row->principal);
	put_str(&h, row->op);
	put_str(&h, row->name);
	put_str(&h, row->reason);
	crypto_generichash_update(&h, tail, sizeof(tail));
	crypto_generichash_final(&h, ret_hash, AUDIT_HASH_BYTES);
	/* The state holds the keyed BLAKE2b block. */
	sodium_memzero(&h, sizeof(h));
}

void audit_cp_message(uint8_t ret_msg[static AUDIT_CP_MSG_BYTES], uint64_t seq,
                      const uint8_t hash[static AUDIT_HASH_BYTES])
{
	memcpy(ret_msg, AUDIT_CP_TAG, AUDIT_CP_TAG_BYTES);
	put_be(ret_msg + AUDIT_CP_TAG_BYTES, seq, 8);
	memcpy(ret_msg + AUDIT_CP_TAG_BYTES + 8, hash, AUDIT_HASH_BYTES);
}

void audit_cp_sign(const uint8_t *sk, uint64_t seq,
                   const uint8_t hash[static AUDIT_HASH_BYTES],
                   uint8_t ret_sig[static AUDIT_SIG_BYTES])
{
	uint8_t msg[AUDIT_CP_MSG_BYTES];

	audit_cp_message(msg, seq, hash);
	crypto_sign_ed25519_detached(ret_sig, NULL, msg, sizeof(msg), sk);
}

bool audit_cp_check(const uint8_t pk[static AUDIT_PK_BYTES], uint64_t seq,
                    const uint8_t hash[static AUDIT_HASH_BYTES],
                    const uint8_t sig[static AUDIT_SIG_BYTES])
{
	uint8_t msg[AUDIT_CP_MSG_BYTES];

	audit_cp_message(msg, seq, hash);
	return crypto_sign_ed25519_verify_detached(sig, msg, sizeof(msg), pk) ==
	       0;
}

static void put_hash_hex(char out[static AUDIT_HASH_BYTES * 2 + 1],
                         const uint8_t h[static AUDIT_HASH_BYTES])
{
	sodium_bin2hex(out, AUDIT_HASH_BYTES * 2 + 1, h, AUDIT_HASH_BYTES);
}

size_t audit_cp_format(const audit_cp *cp, char *buf, size_t bufsz)
{
	char hex[AUDIT_HASH_BYTES * 2 + 1], prev[AUDIT_HASH_BYTES * 2 + 1];
	char b64[sodium_base64_ENCODED_LEN(AUDIT_SIG_BYTES,
	                                   sodium_base64_VARIANT_ORIGINAL)];
	int n;

	put_hash_hex(hex, cp->hash);
	put_hash_hex(prev, cp->prev);
	sodium_bin2base64(b64, sizeof(b64), cp->sig, sizeof(cp->sig),
	                  sodium_base64_VARIANT_ORIGINAL);
	n = snprintf(buf, bufsz, "%" PRIu64 " %s %s %s %" PRId64 "\n", cp->seq,
	             hex, prev, b64, cp->ts_us);
	return n < 0 || (size_t)n >= bufsz ? 0 : (size_t)n;
}

static void cp2_message(uint8_t ret_msg[static AUDIT_CP2_MSG_BYTES],
                        const audit_cp *cp)
{
	uint8_t *p = ret_msg;

	memcpy(p, AUDIT_CP2_TAG, AUDIT_CP2_TAG_BYTES);
	p += AUDIT_CP2_TAG_BYTES;
	put_be(p, cp->seq, 8);
	memcpy(p + 8, cp->hash, AUDIT_HASH_BYTES);
	memcpy(p + 8 + AUDIT_HASH_BYTES, cp->prev, AUDIT_HASH_BYTES);
	put_be(p + 8 + 2 * AUDIT_HASH_BYTES, (uint64_t)cp->ts_us, 8);
}

void audit_cp2_sign(const uint8_t *sk, audit_cp *cp)
{
	uint8_t msg[AUDIT_CP2_MSG_BYTES];

	cp->format = 2;
	cp2_message(msg, cp);
	crypto_sign_ed25519_detached(cp->sig, NULL, msg, sizeof(msg), sk);
}

bool audit_cp_valid(const uint8_t pk[static AUDIT_PK_BYTES], const audit_cp *cp)
{
	uint8_t msg[AUDIT_CP2_MSG_BYTES];

	if (cp->format != 2)
		return audit_cp_check(pk, cp->seq, cp->hash, cp->sig);
	cp2_message(msg, cp);
	return crypto_sign_ed25519_verify_detached(cp->sig, msg, sizeof(msg),
	                                           pk) == 0;
}

void audit_cp_line_hash(const char *line, size_t len,
                        uint8_t ret_hash[static AUDIT_HASH_BYTES])
{
	crypto_generichash(ret_hash, AUDIT_HASH_BYTES, (const uint8_t *)line,
	                   len, NULL, 0);
}

/* Decimal digits only (and a leading '-' if neg_ok), no overflow. */
static bool parse_dec(const char *s, size_t len, bool neg_ok, uint64_t max,
                      uint64_t *ret, bool *ret_neg)
{
	uint64_t v = 0;
	size_t i = 0;

	*ret_neg = false;
	if (neg_ok && len > 1 && s[0] == '-') {
		*ret_neg = true;
		i = 1;
	}
	if (i == len || len - i > 20)
		return false;
	for (; i < len; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9 || v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*ret = v;
	return true;
}

/* 64 lowercase hex digits (as written; sodium_hex2bin alone would take
 * "AB") into out. */
static bool parse_hash(const char *s, size_t len,
                       uint8_t out[static AUDIT_HASH_BYTES])
{
	const char *end;
	size_t bin;

	if (len != 2 * AUDIT_HASH_BYTES)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return sodium_hex2bin(out, AUDIT_HASH_BYTES, s, len, NULL, &bin,
	                      &end) == 0 &&
	       bin == AUDIT_HASH_BYTES && end == s + len;
}

int audit_cp_parse(const char *line, size_t len, audit_cp *ret_cp)
{
	const char *field[5];
	size_t flen[5];
	const char *end;
	size_t nf = 0, start = 0, bin, sig;
	uint64_t v;
	bool neg;
	audit_cp cp;

	if (!line || len >= AUDIT_CP_LINE_MAX)
		return KW_EINVAL;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && line[i] != ' ')
			continue;
		if (nf == 5 || i == start)
			return KW_EINVAL; /* too many fields, or an empty one */
		field[nf] = line + start;
		flen[nf++] = i - start;
		start = i + 1;
	}
	if (nf != 4 && nf != 5)
		return KW_EINVAL;
	memset(&cp, 0, sizeof(cp));
	cp.format = nf == 5 ? 2 : 1;
	if (!parse_dec(field[0], flen[0], false, INT64_MAX, &v, &neg) || v == 0)
		return KW_EINVAL;
	cp.seq = v;
	if (!parse_hash(field[1], flen[1], cp.hash))
		return KW_EINVAL;
	if (cp.format == 2 && !parse_hash(field[2], flen[2], cp.prev))
		return KW_EINVAL;
	sig = nf - 2;
	if (sodium_base642bin(cp.sig, sizeof(cp.sig), field[sig], flen[sig],
	                      NULL, &bin, &end,
	                      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    bin != sizeof(cp.sig) || end != field[sig] + flen[sig])
		return KW_EINVAL;
	if (!parse_dec(field[nf - 1], flen[nf - 1], true, (uint64_t)INT64_MAX,
	               &v, &neg))
		return KW_EINVAL;
	cp.ts_us = neg ? -(int64_t)v : (int64_t)v;
	*ret_cp = cp;
	return 0;
}

/* Where a new line may start: the size, less a provably torn last line
 * (no newline after it, shorter than any line). KW_EIO if the bytes after
 * the last newline are too many to be a torn line. */
static int cp_whole_end(int fd, off_t size, off_t *ret_end, int *ret_errno)
{
	char buf[AUDIT_CP_LINE_MAX];
	off_t from = size > (off_t)sizeof(buf) ? size - (off_t)sizeof(buf) : 0;
	ssize_t n;

	if (size == 0) {
		*ret_end = 0;
		return 0;
	}
	n = pread(fd, buf, (size_t)(size - from), from);
	if (n != (ssize_t)(size - from)) {
		*ret_errno = n < 0 ? errno : EIO;
		return KW_EIO;
	}
	for (ssize_t i = n; i > 0; i--) {
		if (buf[i - 1] == '\n') {
			*ret_end = from + i;
			return 0;
		}
	}
	if (from != 0) {
		*ret_errno = EILSEQ;
		return KW_EIO;
	}
	*ret_end = 0;
	return 0;
}

/* The file ends with exactly line (an earlier append whose fsync failed
 * may have left it there). */
static bool cp_ends_with(int fd, off_t size, const char *line, size_t len)
{
	char buf[AUDIT_CP_LINE_MAX + 1];

	if (len > sizeof(buf) || size < (off_t)len ||
	    (size > (off_t)len &&
	     pread(fd, buf, 1, size - (off_t)len - 1) != 1))
		return false;
	if (size > (off_t)len && buf[0] != '\n')
		return false;
	return pread(fd, buf, len, size - (off_t)len) == (ssize_t)len &&
	       memcmp(buf, line, len) == 0;
}

int audit_cp_append(const char *path, const char *line, size_t len,
                    int *ret_errno)
{
	/* Readable for the torn-line check; O_APPEND still places each
	 * write at the end. */
	const int fl = O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW;
	struct stat st;
	off_t end = 0;
	bool appending = false;
	int fd, r = 0;

	*ret_errno = 0;
	fd = open(path, fl, 0600);
	if (fd < 0) {
		*ret_errno = errno;
		return errno == EACCES || errno == ELOOP ? KW_EPERM : KW_EIO;
	}
	if (fstat(fd, &st) < 0) {
		*ret_errno = errno;
		r = KW_EIO;
	} else if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	           (st.st_mode & 077) != 0) {
		*ret_errno = EPERM;
		r = KW_EPERM;
	}
	if (r == 0)
		r = cp_whole_end(fd, st.st_size, &end, ret_errno);
	if (r == 0 && end != st.st_size && ftruncate(fd, end) < 0) {
		*ret_errno = errno;
		r = KW_EIO;
	}
	if (r == 0 && cp_ends_with(fd, end, line, len))
		len = 0; /* already there: only the fsync is missing */
	appending = r == 0 && len > 0;
	if (r == 0 && len > 0 && kw_write_all(fd, line, len) < 0) {
		*ret_errno = errno;
		r = KW_EIO;
	}
	if (r == 0 && fsync(fd) < 0) {
		*ret_errno = errno;
		r = KW_EIO;
	}
	/* All or nothing: a half line would glue the next one onto it. */
	if (r < 0 && appending && ftruncate(fd, end) == 0)
		(void)fsync(fd);
	if (close(fd) < 0 && r == 0) {
		*ret_errno = errno;
		r = KW_EIO;
	}
	return r;
}
