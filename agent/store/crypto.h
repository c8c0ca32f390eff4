/*
 * crypto.h - keys, sealing of values and wrapping of the data key.
 *
 * Names: key_* for keys (and their wrapping), seal_* for values; crypto_*
 * is libsodium's namespace and stays its own.
 *
 * Keys (kw_key) live in sodium_malloc memory that is no-access while idle:
 * key_bytes() opens it read-only until key_done() (or, for a lingering key,
 * until the agent is idle). Freed keys are wiped (sodium_free).
 *
 * Values are sealed with XChaCha20-Poly1305-IETF under the data key with a
 * fresh random nonce; the associated data binds the secret name and version,
 * so a sealed row moved to another name or version fails to open:
 *     ad = "keyward/value/v1" 0x00 name 0x00 version(uint64 big-endian)
 * Sealed form: nonce (24) || ciphertext || tag (16).
 *
 * The data key is wrapped (same AEAD) by a key-encryption key taken from a
 * 32-byte keyfile or from Argon2id(passphrase) (crypto_pwhash, ALG_ARGON2ID13,
 * parameters kept in the wrap). The wrap's ad binds its mode and parameters:
 *     ad = "keyward/wrap/v1" 0x00 mode(1) salt(16) ops(u64 BE) mem(u64 BE)
 */
#ifndef KW_CRYPTO_H
#define KW_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "kdf_ids.h"

#define KEY_BYTES        32u
#define SEAL_NONCE_BYTES 24u
#define SEAL_TAG_BYTES   16u
#define SEAL_OVERHEAD    (SEAL_NONCE_BYTES + SEAL_TAG_BYTES)
#define KEY_SALT_BYTES   16u
#define KEY_PASS_MAX     1024u /* bytes of a passphrase */

typedef struct kw_key kw_key;

int key_random(kw_key **ret_key);
int key_from(const uint8_t bytes[static KEY_BYTES], kw_key **ret_key);
/* Read-only view of the key bytes; pair every call with key_done. */
const uint8_t *key_bytes(kw_key *k);
void key_done(kw_key *k);
/*
 * Views for keys that nearly every request uses, on the agent's event loop
 * thread only: a lingering key stays readable after its last key_done()
 * until keys_idle(), which the agent calls once its loop has waited 50 ms
 * with nothing to do. Under load the key's page
 * protection then changes once per busy period instead of twice per
 * request (each change is a TLB shootdown on every core), and every key is
 * still no-access whenever the agent is idle.
 */
void key_linger(kw_key *k);
void keys_idle(void);
void key_free(kw_key *k);

/* The subkey id of parent (crypto_kdf with id's context from kdf_ids.h).
 * KW_EINVAL for an id not in that table. */
int key_derive(kw_key *parent, enum kdf_id id, kw_key **ret_key);

/* Seal pt (ptlen may be 0) for (name, version). *ret_ct is malloc'd. */
int seal_value(kw_key *dk, const char *name, uint64_t version,
               const uint8_t *pt, size_t ptlen, uint8_t **ret_ct,
               size_t *ret_ctlen);
/* Open; KW_ECRYPTO if anything was altered or the key is wrong. *ret_pt is
 * kw_wipealloc memory (non-NULL even when empty). */
int seal_open(kw_key *dk, const char *name, uint64_t version, const uint8_t *ct,
              size_t ctlen, uint8_t **ret_pt, size_t *ret_ptlen);

enum key_wrap_mode { KEY_WRAP_KEYFILE = 1, KEY_WRAP_PASSPHRASE = 2 };

typedef struct wrapped_key {
	int mode;                     /* enum key_wrap_mode */
	uint8_t salt[KEY_SALT_BYTES]; /* passphrase mode only */
	uint64_t opslimit;            /* passphrase mode only */
	uint64_t memlimit;            /* passphrase mode only, bytes */
	uint8_t nonce[SEAL_NONCE_BYTES];
	uint8_t wrapped[KEY_BYTES + SEAL_TAG_BYTES];
} wrapped_key;

/*
 * Argon2id(pass) -> key-encryption key. Slow by design (call it off the event
 * loop). Errors: KW_EINVAL (params out of libsodium's range, empty or too
 * long passphrase), KW_ENOMEM.
 */
int key_from_passphrase(const char *pass, size_t passlen,
                        const uint8_t salt[static KEY_SALT_BYTES],
                        uint64_t opslimit, uint64_t memlimit, kw_key **ret_kek);
/* Fill w->nonce and w->wrapped (w->mode and, for passphrases, salt/limits
 * must be set by the caller). */
int key_wrap(kw_key *kek, kw_key *dk, wrapped_key *w);
/* KW_EBADPASS if the kek does not open the wrap. */
int key_unwrap(kw_key *kek, const wrapped_key *w, kw_key **ret_dk);

/*
 * Keyfile: exactly 32 raw bytes, a regular file owned by the caller with
 * mode 0600 (or stricter). read: KW_EPERM for bad owner/mode (the error
 * sentence is the caller's), KW_ENOTFOUND if absent, KW_EINVAL for a wrong
 * size. create: O_EXCL|O_NOFOLLOW, 0600, fsync'd; KW_EEXIST if present.
 */
int keyfile_read(const char *path, kw_key **ret_key);
int keyfile_create(const char *path, kw_key **ret_key);

#endif
