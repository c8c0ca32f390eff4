/*
 * mcp_proxy_curl.c - libcurl for keyward mcp proxy, loaded when the proxy
 * starts rather than linked into `keyward`: the library and the ~30 it
 * pulls in (TLS, HTTP/2, IDN, Kerberos, LDAP...) cost every other command
 * about 5 ms of start-up (docs/performance.md, `keyward get`).
 *
 * This file defines the libcurl functions the proxy calls, each a
 * forwarder to the function of that name in libcurl.so.4, found with
 * dlsym by proxy_curl_load(). The executable does not export them, so they
 * interpose on nothing; the rest of the proxy is written against
 * <curl/curl.h> as usual. Calling any before a successful load is a bug
 * (it aborts), except freeing NULL, which cleanup paths do.
 */
#define CURL_DISABLE_TYPECHECK 1 /* these are the functions themselves */

#include <curl/curl.h>
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "mcp_proxy.h"

#define LIBCURL "libcurl.so.4"

static struct {
	void *lib;
	CURLcode (*global_init)(long);
	void (*global_cleanup)(void);
	CURL *(*easy_init)(void);
	void (*easy_cleanup)(CURL *);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	CURLcode (*easy_pause)(CURL *, int);
	CURLcode (*easy_perform)(CURL *);
	const char *(*easy_strerror)(CURLcode);
	void (*free)(void *);
	CURLM *(*multi_init)(void);
	CURLMcode (*multi_cleanup)(CURLM *);
	CURLMcode (*multi_add_handle)(CURLM *, CURL *);
	CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
	CURLMcode (*multi_perform)(CURLM *, int *);
	CURLMcode (*multi_poll)(CURLM *, struct curl_waitfd *, unsigned int,
	                        int, int *);
	CURLMsg *(*multi_info_read)(CURLM *, int *);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
	CURLU *(*url)(void);
	void (*url_cleanup)(CURLU *);
	CURLUcode (*url_get)(CURLU *, CURLUPart, char **, unsigned int);
	CURLUcode (*url_set)(CURLU *, CURLUPart, const char *, unsigned int);
} api;

/* One entry of the table: its address, and libcurl's name for it. */
#define FN(field, name)                   \
	{                                 \
		(void **)&api.field, name \
	}

int proxy_curl_load(char *why, size_t whysz)
{
	static const struct {
		void **slot;
		const char *name;
	} fns[] = {
		FN(global_init, "curl_global_init"),
		FN(global_cleanup, "curl_global_cleanup"),
		FN(easy_init, "curl_easy_init"),
		FN(easy_cleanup, "curl_easy_cleanup"),
		FN(easy_setopt, "curl_easy_setopt"),
		FN(easy_getinfo, "curl_easy_getinfo"),
		FN(easy_pause, "curl_easy_pause"),
		FN(easy_perform, "curl_easy_perform"),
		FN(easy_strerror, "curl_easy_strerror"),
		FN(free, "curl_free"),
		FN(multi_init, "curl_multi_init"),
		FN(multi_cleanup, "curl_multi_cleanup"),
		FN(multi_add_handle, "curl_multi_add_handle"),
		FN(multi_remove_handle, "curl_multi_remove_handle"),
		FN(multi_perform, "curl_multi_perform"),
		FN(multi_poll, "curl_multi_poll"),
		FN(multi_info_read, "curl_multi_info_read"),
		FN(slist_append, "curl_slist_append"),
		FN(slist_free_all, "curl_slist_free_all"),
		FN(url, "curl_url"),
		FN(url_cleanup, "curl_url_cleanup"),
		FN(url_get, "curl_url_get"),
		FN(url_set, "curl_url_set"),
	};

	if (api.lib)
		return 0;
	void *lib = dlopen(LIBCURL, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		snprintf(why, whysz,
		         "cannot load %s (the libcurl4 package): %s", LIBCURL,
		         dlerror());
		return KW_EINTERNAL;
	}
	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		void *f = dlsym(lib, fns[i].name);

		if (!f) {
			snprintf(why, whysz, "%s has no %s: too old a libcurl",
			         LIBCURL, fns[i].name);
			dlclose(lib);
			return KW_EINTERNAL;
		}
		*fns[i].slot = f;
	}
	api.lib = lib;
	return 0;
}

static void need(void)
{
	if (!api.lib)
		abort(); /* proxy_curl_load() first */
}

CURLcode curl_global_init(long flags)
{
	need();
	return api.global_init(flags);
}

void curl_global_cleanup(void)
{
	need();
	api.global_cleanup();
}

CURL *curl_easy_init(void)
{
	need();
	return api.easy_init();
}

void curl_easy_cleanup(CURL *e)
{
	if (!e)
		return; /* as libcurl: nothing to free */
	need();
	api.easy_cleanup(e);
}

/* The argument's type follows from the option's range (curl.h). */
CURLcode curl_easy_setopt(CURL *e, CURLoption o, ...)
{
	va_list ap;
	CURLcode r;

	need();
	va_start(ap, o);
	if (o < CURLOPTTYPE_OBJECTPOINT)
		r = api.easy_setopt(e, o, va_arg(ap, long));
	else if (o < CURLOPTTYPE_FUNCTIONPOINT)
		r = api.easy_setopt(e, o, va_arg(ap, void *));
	else if (o < CURLOPTTYPE_OFF_T)
		r = api.easy_setopt(e, o, va_arg(ap, void (*)(void)));
	else if (o < CURLOPTTYPE_BLOB)
		r = api.easy_setopt(e, o, va_arg(ap, curl_off_t));
	else
		r = api.easy_setopt(e, o, va_arg(ap, void *));
	va_end(ap);
	return r;
}

/* Every CURLINFO takes a pointer to where the answer goes. */
CURLcode curl_easy_getinfo(CURL *e, CURLINFO info, ...)
{
	va_list ap;
	CURLcode r;

	need();
	va_start(ap, info);
	r = api.easy_getinfo(e, info, va_arg(ap, void *));
	va_end(ap);
	return r;
}

CURLcode curl_easy_pause(CURL *e, int bitmask)
{
	need();
	return api.easy_pause(e, bitmask);
}

CURLcode curl_easy_perform(CURL *e)
{
	need();
	return api.easy_perform(e);
}

const char *curl_easy_strerror(CURLcode c)
{
	need();
	return api.easy_strerror(c);
}

void curl_free(void *p)
{
	if (!p)
		return; /* as libcurl: nothing to free */
	need();
	api.free(p);
}

CURLM *curl_multi_init(void)
{
	need();
	return api.multi_init();
}

CURLMcode curl_multi_cleanup(CURLM *m)
{
	need();
	return api.multi_cleanup(m);
}

CURLMcode curl_multi_add_handle(CURLM *m, CURL *e)
{
	need();
	return api.multi_add_handle(m, e);
}

CURLMcode curl_multi_remove_handle(CURLM *m, CURL *e)
{
	need();
	return api.multi_remove_handle(m, e);
}

CURLMcode curl_multi_perform(CURLM *m, int *running)
{
	need();
	return api.multi_perform(m, running);
}

CURLMcode curl_multi_poll(CURLM *m, struct curl_waitfd extra[], unsigned int n,
                          int timeout_ms, int *ret)
{
	need();
	return api.multi_poll(m, extra, n, timeout_ms, ret);
}

CURLMsg *curl_multi_info_read(CURLM *m, int *left)
{
	need();
	return api.multi_info_read(m, left);
}

struct curl_slist *curl_slist_append(struct curl_slist *l, const char *s)
{
	need();
	return api.slist_append(l, s);
}

void curl_slist_free_all(struct curl_slist *l)
{
	if (!l)
		return; /* as libcurl: nothing to free */
	need();
	api.slist_free_all(l);
}

CURLU *curl_url(void)
{
	need();
	return api.url();
}

void curl_url_cleanup(CURLU *u)
{
	if (!u)
		return; /* as libcurl: nothing to free */
	need();
	api.url_cleanup(u);
}

/* Not under their own names: curl_url_get's first parameter became const
 * in later releases, so no one definition matches every curl.h. */
CURLUcode proxy_url_get(CURLU *u, CURLUPart what, char **part,
                        unsigned int flags)
{
	need();
	return api.url_get(u, what, part, flags);
}

CURLUcode proxy_url_set(CURLU *u, CURLUPart what, const char *part,
                        unsigned int flags)
{
	need();
	return api.url_set(u, what, part, flags);
}
