/*
 * secmem.h - memory that may hold secrets.
 *
 * kw_secmem_init() must be called before any other keyward code (it calls
 * sodium_init() and installs jansson allocator hooks that wipe every buffer
 * jansson frees, since parsed requests carry values). Thread-safe, runs once.
 */
#ifndef KW_SECMEM_H
#define KW_SECMEM_H

#include <stddef.h>

/* Longest passphrase, in bytes: the CLI reads no more, keywardd takes no
 * more. */
#define KW_PASS_MAX 1024u

/* 0 or KW_EINTERNAL if libsodium cannot initialise. Idempotent. */
int kw_secmem_init(void);

/* malloc; pair with kw_wipefree, which wipes the whole block. */
void *kw_wipealloc(size_t n);
/* Wipe (malloc_usable_size bytes) then free any malloc'd block. NULL ok. */
void kw_wipefree(void *p);
/* strdup into kw_wipealloc memory. */
char *kw_wipestrdup(const char *s);

/* Wipe and free a NUL-terminated string from kw_wipealloc / jansson dumps. */
void kw_wipefree_str(char *s);

#endif
