/*
 * rpc_host.c - the small pieces of rpc_host.h that need no host: a store
 * error's client code and the UTC time format.
 */
#include "rpc_host.h"

#include <stdio.h>
#include <time.h>

#include "keyward.h"

int rpc_store_code(int err)
{
	switch (err) {
	case KW_EDISKFULL:
	case KW_EROFS:
	case KW_EDAMAGED:
	case KW_EIO:
	case KW_ENOMEM:
		return err;
	default:
		return KW_ESTORE;
	}
}

void rpc_format_utc(int64_t us, char *buf, size_t size)
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;
	if (!gmtime_r(&t, &tm) ||
	    !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, size, "?");
}
