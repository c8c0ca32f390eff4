/*
 * crypto.c - keys, value sealing and data-key wrapping (see crypto.h).
 */
#include "crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "keyward.h"
#include "secmem.h"
#include "writeall.h"

_Static_assert(KEY_BYTES == crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
               "key size");
_Static_assert(SEAL_NONCE_BYTES == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
               "nonce size");
_Static_assert(SEAL_TAG_BYTES == crypto_aead_xchacha20poly1305_ietf_ABYTES,
               "tag size");
_Static_assert(KEY_BYTES == crypto_kdf_KEYBYTES, "kdf key size");
_Static_assert(KDF_CTX_BYTES == crypto_kdf_CONTEXTBYTES, "kdf context size");
_Static_assert(KEY_SALT_BYTES == crypto_pwhash_argon2id_SALTBYTES, "salt size");

#define VALUE_AD_TAG "keyward/value/v1"
#define WRAP_AD_TAG  "keyward/wrap/v1"
/* tag NUL name NUL version */
#define VALUE_AD_MAX (sizeof(VALUE_AD_TAG) + KW_NAME_MAX + 1 + 8)
/* tag NUL mode salt ops mem */
#define WRAP_AD_BYTES (sizeof(WRAP_AD_TAG) + 1 + KEY_SALT_BYTES + 8 + 8)

/*
 * The struct itself is ordinary memory so that the view counter stays
 * writable while the key bytes are no-access; nested key_bytes()
 * calls on one key keep it readable until the last key_done().
 */
struct kw_key {
	uint8_t *mem; /* sodium_malloc(KEY_BYTES) */
	unsigned views;
	bool linger;       /* stays readable until keys_idle() */
	bool open;         /* mem is readable */
	kw_key *next_open; /* on the lingering list while open */
};

/* Lingering keys left readable by this turn (event loop thread only). */
static kw_key *lingering;

/* A key whose bytes are writable; finish with key_lock() or key_free(). */
static int key_alloc(kw_key **ret_key)
{
	kw_key *k = calloc(1, sizeof(*k));

	if (!k)
		return KW_ENOMEM;
	k->mem = sodium_malloc(KEY_BYTES);
	if (!k->mem) {
		free(k);
		return KW_ENOMEM;
	}
	*ret_key = k;
	return 0;
}

static void key_lock(kw_key *k)
{
	sodium_mprotect_noaccess(k->mem);
}

int key_random(kw_key **ret_key)
{
	kw_key *k;
	int r;

	if (!ret_key)
		return KW_EINVAL;
	r = key_alloc(&k);
	if (r < 0)
		return r;
	randombytes_buf(k->mem, KEY_BYTES);
	key_lock(k);
	*ret_key = k;
	return 0;
}

int key_from(const uint8_t bytes[static KEY_BYTES], kw_key **ret_key)
{
	kw_key *k;
	int r;

	if (!ret_key)
		return KW_EINVAL;
	r = key_alloc(&k);
	if (r < 0)
		return r;
	memcpy(k->mem, bytes, KEY_BYTES);
	key_lock(k);
	*ret_key = k;
	return 0;
}

const uint8_t *key_bytes(kw_key *k)
{
	k->views++;
	if (!k->open) {
		sodium_mprotect_readonly(k->mem);
		k->open = true;
		if (k->linger) {
			k->next_open = lingering;
			lingering = k;
		}
	}
	return k->mem;
}

void key_done(kw_key *k)
{
	if (k->views > 0 && --k->views == 0 && !k->linger) {
		sodium_mprotect_noaccess(k->mem);
		k->open = false;
	}
}

void key_linger(kw_key *k)
{
	if (k)
		k->linger = true;
}

void keys_idle(void)
{
	kw_key *k = lingering;
	lingering = NULL;
	while (k) {
		kw_key *next = k->next_open;
		k->next_open = NULL;
		/* A view still held (none should be, between turns) keeps its
		 * key readable; it goes back on the list. */
		if (k->views > 0) {
			k->next_open = lingering;
			lingering = k;
		} else {
			sodium_mprotect_noaccess(k->mem);
			k->open = false;
		}
		k = next;
	}
}

void key_free(kw_key *k)
{
	if (!k)
		return;
	for (kw_key **pk = &lingering; *pk; pk = &(*pk)->next_open) {
		if (*pk == k) {
			*pk = k->next_open;
			break;
		}
	}
	sodium_free(k->mem); /* makes it writable, wipes, unmaps */
	free(k);
}

int key_derive(kw_key *parent, enum kdf_id id, kw_key **ret_key)
{
	const char *ctx = kdf_context((int)id);
	kw_key *k;
	int r;

	if (!parent || !ctx || !ret_key)
		return KW_EINVAL;
	r = key_alloc(&k);
	if (r < 0)
		return r;
	r = crypto_kdf_derive_from_key(k->mem, KEY_BYTES, (uint64_t)id, ctx,
	                               key_bytes(parent));
	key_done(parent);
	if (r != 0) {
		key_free(k);
		return KW_ECRYPTO;
	}
	key_lock(k);
	*ret_key = k;
	return 0;
}

static void put_u64be(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)(v & 0xff);
		v >>= 8;
	}
}

/* ad = tag 0x00 name 0x00 version(u64 BE); buf holds VALUE_AD_MAX bytes. */
static int value_ad(uint8_t *buf, const char *name, uint64_t version,
                    size_t *ret_len)
{
	size_t nlen, off = 0;

	if (!name)
		return KW_EINVAL;
	nlen = strlen(name);
	if (nlen == 0 || nlen > KW_NAME_MAX)
		return KW_EINVAL;
	memcpy(buf, VALUE_AD_TAG, sizeof(VALUE_AD_TAG)); /* with its NUL */
	off += sizeof(VALUE_AD_TAG);
	memcpy(buf + off, name, nlen + 1);
	off += nlen + 1;
	put_u64be(buf + off, version);
	*ret_len = off + 8;
	return 0;
}

int seal_value(kw_key *dk, const char *name, uint64_t version,
               const uint8_t *pt, size_t ptlen, uint8_t **ret_ct,
               size_t *ret_ctlen)
{
	uint8_t ad[VALUE_AD_MAX];
	size_t adlen, ctlen;
	uint8_t *ct;
	int r;

	if (!dk || (!pt && ptlen > 0) || !ret_ct || !ret_ctlen)
		return KW_EINVAL;
	if (ptlen > crypto_aead_xchacha20poly1305_ietf_MESSAGEBYTES_MAX ||
	    ptlen > SIZE_MAX - SEAL_OVERHEAD)
		return KW_EINVAL;
	r = value_ad(ad, name, version, &adlen);
	if (r < 0)
		return r;
	ctlen = ptlen + SEAL_OVERHEAD;
	ct = malloc(ctlen);
	if (!ct)
		return KW_ENOMEM;
	randombytes_buf(ct, SEAL_NONCE_BYTES);
	/* An empty value may come as NULL; give libsodium a real pointer. */
	crypto_aead_xchacha20poly1305_ietf_encrypt(ct + SEAL_NONCE_BYTES, NULL,
	                                           pt ? pt : ad, ptlen, ad,
	                                           adlen, NULL, ct,
	                                           key_bytes(dk));
	key_done(dk);
	*ret_ct = ct;
	*ret_ctlen = ctlen;
	return 0;
}

int seal_open(kw_key *dk, const char *name, uint64_t version, const uint8_t *ct,
              size_t ctlen, uint8_t **ret_pt, size_t *ret_ptlen)
{
	uint8_t ad[VALUE_AD_MAX];
	size_t adlen, ptlen;
	uint8_t *pt;
	int r;

	if (!dk || !ct || !ret_pt || !ret_ptlen)
		return KW_EINVAL;
	r = value_ad(ad, name, version, &adlen);
	if (r < 0)
		return r;
	if (ctlen < SEAL_OVERHEAD)
		return KW_ECRYPTO;
	ptlen = ctlen - SEAL_OVERHEAD;
	/* One byte at least, so an empty value is still a non-NULL buffer. */
	pt = kw_wipealloc(ptlen > 0 ? ptlen : 1);
	if (!pt)
		return KW_ENOMEM;
	r = crypto_aead_xchacha20poly1305_ietf_decrypt(pt, NULL, NULL,
	                                               ct + SEAL_NONCE_BYTES,
	                                               ctlen - SEAL_NONCE_BYTES,
	                                               ad, adlen, ct,
	                                               key_bytes(dk));
	key_done(dk);
	if (r != 0) {
		kw_wipefree(pt);
		return KW_ECRYPTO;
	}
	*ret_pt = pt;
	*ret_ptlen = ptlen;
	return 0;
}

static int pwhash_params_ok(uint64_t opslimit, uint64_t memlimit)
{
	return opslimit >= crypto_pwhash_argon2id_OPSLIMIT_MIN &&
	       opslimit <= crypto_pwhash_argon2id_OPSLIMIT_MAX &&
	       memlimit >= crypto_pwhash_argon2id_MEMLIMIT_MIN &&
	       memlimit <= crypto_pwhash_argon2id_MEMLIMIT_MAX &&
	       memlimit <= SIZE_MAX;
}

int key_from_passphrase(const char *pass, size_t passlen,
                        const uint8_t salt[static KEY_SALT_BYTES],
                        uint64_t opslimit, uint64_t memlimit, kw_key **ret_kek)
{
	kw_key *k;
	int r;

	if (!pass || passlen == 0 || passlen > KEY_PASS_MAX || !ret_kek)
		return KW_EINVAL;
	if (!pwhash_params_ok(opslimit, memlimit))
		return KW_EINVAL;
	r = key_alloc(&k);
	if (r < 0)
		return r;
	/* Fails only when the memory for memlimit cannot be had. */
	if (crypto_pwhash(k->mem, KEY_BYTES, pass, passlen, salt,
	                  (unsigned long long)opslimit, (size_t)memlimit,
	                  crypto_pwhash_ALG_ARGON2ID13) != 0) {
		key_free(k);
		return KW_ENOMEM;
	}
	key_lock(k);
	*ret_kek = k;
	return 0;
}

static int wrap_ad(uint8_t ad[static WRAP_AD_BYTES], const wrapped_key *w)
{
	size_t off = sizeof(WRAP_AD_TAG);

	if (w->mode != KEY_WRAP_KEYFILE && w->mode != KEY_WRAP_PASSPHRASE)
		return KW_EINVAL;
	memcpy(ad, WRAP_AD_TAG, sizeof(WRAP_AD_TAG));
	ad[off++] = (uint8_t)w->mode;
	memcpy(ad + off, w->salt, KEY_SALT_BYTES);
	off += KEY_SALT_BYTES;
	put_u64be(ad + off, w->opslimit);
	put_u64be(ad + off + 8, w->memlimit);
	return 0;
}

int key_wrap(kw_key *kek, kw_key *dk, wrapped_key *w)
{
	uint8_t ad[WRAP_AD_BYTES];
	int r;

	if (!kek || !dk || !w)
		return KW_EINVAL;
	r = wrap_ad(ad, w);
	if (r < 0)
		return r;
	randombytes_buf(w->nonce, sizeof(w->nonce));
	crypto_aead_xchacha20poly1305_ietf_encrypt(w->wrapped, NULL,
	                                           key_bytes(dk), KEY_BYTES, ad,
	                                           sizeof(ad), NULL, w->nonce,
	                                           key_bytes(kek));
	key_done(kek);
	key_done(dk);
	return 0;
}

int key_unwrap(kw_key *kek, const wrapped_key *w, kw_key **ret_dk)
{
	uint8_t ad[WRAP_AD_BYTES];
	kw_key *k;
	int r;

	if (!kek || !w || !ret_dk)
		return KW_EINVAL;
	/* An unknown mode is a damaged wrap, not a caller mistake. */
	if (wrap_ad(ad, w) < 0)
		return KW_EBADPASS;
	r = key_alloc(&k);
	if (r < 0)
		return r;
	r = crypto_aead_xchacha20poly1305_ietf_decrypt(k->mem, NULL, NULL,
	                                               w->wrapped,
	                                               sizeof(w->wrapped), ad,
	                                               sizeof(ad), w->nonce,
	                                               key_bytes(kek));
	key_done(kek);
	if (r != 0) {
		key_free(k);
		return KW_EBADPASS;
	}
	key_lock(k);
	*ret_dk = k;
	return 0;
}

static int read_full(int fd, uint8_t *buf, size_t len, size_t *ret_got)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return KW_EIO;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	*ret_got = got;
	return 0;
}

int keyfile_read(const char *path, kw_key **ret_key)
{
	struct stat st;
	uint8_t extra;
	size_t got;
	kw_key *k = NULL;
	int fd, r;

	if (!path || !ret_key)
		return KW_EINVAL;
	/* O_NONBLOCK: a FIFO planted at path must not hang the agent. */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			return KW_ENOTFOUND;
		if (errno == ELOOP || errno == EACCES || errno == EPERM)
			return KW_EPERM;
		return KW_EIO;
	}
	r = KW_EPERM;
	if (fstat(fd, &st) < 0) {
		r = KW_EIO;
		goto out_close;
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 077) != 0)
		goto out_close;
	r = KW_EINVAL;
	if (st.st_size != (off_t)KEY_BYTES)
		goto out_close;
	r = key_alloc(&k);
	if (r < 0)
		goto out_close;
	r = read_full(fd, k->mem, KEY_BYTES, &got);
	if (r == 0 && got != KEY_BYTES)
		r = KW_EINVAL;
	/* The file may have grown since fstat. */
	if (r == 0 && read_full(fd, &extra, 1, &got) == 0 && got != 0)
		r = KW_EINVAL;
	sodium_memzero(&extra, sizeof(extra));
	if (r < 0) {
		key_free(k);
		goto out_close;
	}
	key_lock(k);
	*ret_key = k;
out_close:
	close(fd);
	return r;
}

/* Make the new directory entry durable; best effort. */
static void sync_parent_dir(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t len;
	int fd;

	if (!slash) {
		dir[0] = '.';
		len = 1;
	} else {
		len = slash == path ? 1 : (size_t)(slash - path);
		if (len >= sizeof(dir))
			return;
		memcpy(dir, path, len);
	}
	dir[len] = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	(void)fsync(fd);
	close(fd);
}

int keyfile_create(const char *path, kw_key **ret_key)
{
	kw_key *k = NULL;
	int fd, r;

	if (!path || !ret_key)
		return KW_EINVAL;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	          0600);
	if (fd < 0) {
		if (errno == EEXIST)
			return KW_EEXIST;
		if (errno == ENOENT)
			return KW_ENOTFOUND;
		if (errno == EACCES || errno == EPERM)
			return KW_EPERM;
		return KW_EIO;
	}
	/* The umask may have taken more than group/other bits away. */
	if (fchmod(fd, 0600) < 0) {
		r = KW_EIO;
		goto fail_unlink;
	}
	r = key_random(&k);
	if (r < 0)
		goto fail_unlink;
	r = kw_write_all(fd, key_bytes(k), KEY_BYTES);
	key_done(k);
	if (r == 0 && fsync(fd) < 0)
		r = KW_EIO;
	if (r < 0)
		goto fail_unlink;
	if (close(fd) < 0) {
		fd = -1;
		r = KW_EIO;
		goto fail_unlink;
	}
	sync_parent_dir(path);
	*ret_key = k;
	return 0;

fail_unlink:
	key_free(k);
	if (fd >= 0)
		close(fd);
	unlink(path);
	return r;
}
