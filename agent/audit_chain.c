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

	crypto_generichash_init(&h, crypto_key_bytes(key), CRYPTO_KEY_BYTES,
	                        AUDIT_HASH_BYTES);
	crypto_key_done(key);
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

size_t audit_cp_format(const audit_cp *cp, char *buf, size_t bufsz)
{
	char hex[AUDIT_HASH_BYTES * 2 + 1];
	char b64[sodium_base64_ENCODED_LEN(AUDIT_SIG_BYTES,
	                                   sodium_base64_VARIANT_ORIGINAL)];
	int n;

	sodium_bin2hex(hex, sizeof(hex), cp->hash, sizeof(cp->hash));
	sodium_bin2base64(b64, sizeof(b64), cp->sig, sizeof(cp->sig),
	                  sodium_base64_VARIANT_ORIGINAL);
	n = snprintf(buf, bufsz, "%" PRIu64 " %s %s %" PRId64 "\n", cp->seq,
	             hex, b64, cp->ts_us);
	return n < 0 || (size_t)n >= bufsz ? 0 : (size_t)n;
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

int audit_cp_parse(const char *line, size_t len, audit_cp *ret_cp)
{
	const char *field[4];
	size_t flen[4];
	const char *end;
	size_t nf = 0, start = 0, bin;
	uint64_t v;
	bool neg;
	audit_cp cp;

	if (!line || len >= AUDIT_CP_LINE_MAX)
		return KW_EINVAL;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && line[i] != ' ')
			continue;
		if (nf == 4 || i == start)
			return KW_EINVAL; /* too many fields, or an empty one */
		field[nf] = line + start;
		flen[nf++] = i - start;
		start = i + 1;
	}
	if (nf != 4)
		return KW_EINVAL;
	if (!parse_dec(field[0], flen[0], false, INT64_MAX, &v, &neg) || v == 0)
		return KW_EINVAL;
	cp.seq = v;
	/* Lowercase hex as written; sodium_hex2bin alone would take "AB". */
	for (size_t i = 0; i < flen[1]; i++) {
		char c = field[1][i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return KW_EINVAL;
	}
	if (flen[1] != 2 * AUDIT_HASH_BYTES ||
	    sodium_hex2bin(cp.hash, sizeof(cp.hash), field[1], flen[1], NULL,
	                   &bin, &end) != 0 ||
	    bin != sizeof(cp.hash) || end != field[1] + flen[1])
		return KW_EINVAL;
	if (sodium_base642bin(cp.sig, sizeof(cp.sig), field[2], flen[2], NULL,
	                      &bin, &end,
	                      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    bin != sizeof(cp.sig) || end != field[2] + flen[2])
		return KW_EINVAL;
	if (!parse_dec(field[3], flen[3], true, (uint64_t)INT64_MAX, &v, &neg))
		return KW_EINVAL;
	cp.ts_us = neg ? -(int64_t)v : (int64_t)v;
	*ret_cp = cp;
	return 0;
}

/* Append one line to the checkpoint file and make it durable. */
static int cp_append(const char *path, const char *line, size_t len)
{
	const int fl = O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW;
	struct stat st;
	int fd, r = 0;

	fd = open(path, fl, 0600);
	if (fd < 0)
		return errno == EACCES || errno == ELOOP ? KW_EPERM : KW_EIO;
	if (fstat(fd, &st) < 0)
		r = KW_EIO;
	else if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	         (st.st_mode & 077) != 0)
		r = KW_EPERM;
	while (r == 0 && len > 0) {
		ssize_t n = write(fd, line, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = KW_EIO;
			break;
		}
		line += n;
		len -= (size_t)n;
	}
	if (r == 0 && fsync(fd) < 0)
		r = KW_EIO;
	if (close(fd) < 0 && r == 0)
		r = KW_EIO;
	return r;
}

int audit_cp_write(audit *au, uint64_t seq,
                   const uint8_t hash[static AUDIT_HASH_BYTES], int64_t now_us)
{
	char line[AUDIT_CP_LINE_MAX + 1];
	audit_cp cp;
	size_t len;

	if (!au->sk || au->keys_state != KEYS_DURABLE)
		return KW_ELOCKED;
	cp.seq = seq;
	memcpy(cp.hash, hash, AUDIT_HASH_BYTES);
	cp.ts_us = now_us;
	audit_cp_sign(audit_sk_open(au), seq, hash, cp.sig);
	audit_sk_close(au);
	len = audit_cp_format(&cp, line, sizeof(line));
	if (len == 0)
		return KW_EINTERNAL;
	return cp_append(au->cp_path, line, len);
}
