/*
 * secmem.c - wiping allocators and the jansson hooks (see secmem.h).
 *
 * kw_wipefree wipes malloc_usable_size() bytes, so it is correct for any
 * block from malloc, not only ours. That matters because jansson's allocator
 * is process-wide: a program that linked libkeyward and also uses jansson may
 * free objects allocated before the hooks were installed, and those are
 * ordinary malloc blocks.
 */
#include "secmem.h"

#include <jansson.h>
#include <malloc.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "keyward.h"

void *kw_wipealloc(size_t n)
{
	/* malloc(0) may return NULL; callers treat NULL as out of memory. */
	return malloc(n ? n : 1);
}

void kw_wipefree(void *p)
{
	if (!p)
		return;
	sodium_memzero(p, malloc_usable_size(p));
	free(p);
}

char *kw_wipestrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = kw_wipealloc(n);
	if (d)
		memcpy(d, s, n);
	return d;
}

void kw_wipefree_str(char *s)
{
	kw_wipefree(s);
}

static pthread_once_t secmem_once = PTHREAD_ONCE_INIT;
static int secmem_status = KW_EINTERNAL;

static void secmem_init_once(void)
{
	if (sodium_init() < 0)
		return;
	/* Only replace jansson's default allocator. A host program that
	 * installed its own keeps it (its objects must be freed by its own
	 * free); keyward's JSON is then not wiped by the hooks, but every
	 * buffer keyward itself holds values in still is. */
	json_malloc_t m = NULL;
	json_free_t f = NULL;
	json_get_alloc_funcs(&m, &f);
	if (m == malloc && f == free)
		json_set_alloc_funcs(kw_wipealloc, kw_wipefree);
	secmem_status = 0;
}

int kw_secmem_init(void)
{
	if (pthread_once(&secmem_once, secmem_init_once) != 0)
		return KW_EINTERNAL;
	return secmem_status;
}
