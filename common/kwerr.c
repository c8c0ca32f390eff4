/*
 * kwerr.c - the error table. docs/protocol.md reproduces it; the unit test
 * test_wire.c checks the two agree.
 */
#include "kwerr.h"

#include <stddef.h>

struct kwerr_entry {
	const char *kind;
	const char *message;
};

/* Indexed by -code. */
static const struct kwerr_entry kwerr_table[] = {
	[0] = { "ok", "success" },
	[-KW_EINVAL] = { "invalid_params", "invalid argument" },
	[-KW_ENOMEM] = { "no_memory", "out of memory" },
	[-KW_EIO] = { "io", "input/output error" },
	[-KW_ENOTFOUND] = { "not_found", "no such secret or version" },
	[-KW_EDENIED] = { "denied", "permission denied" },
	[-KW_ELOCKED] = { "locked", "the agent is locked" },
	[-KW_ENAME] = { "invalid_name", "invalid secret name" },
	[-KW_ETOOBIG] = { "too_big", "value or message too large" },
	[-KW_EPROTO] = { "invalid_request", "malformed protocol message" },
	[-KW_ECONNECT] = { "connect", "cannot connect to the agent" },
	[-KW_ETIMEOUT] = { "timeout", "timed out waiting for the agent" },
	[-KW_EBADPASS] = { "bad_passphrase", "wrong passphrase or key" },
	[-KW_ECRYPTO] = { "crypto",
	                  "stored data failed authentication (tampered or "
	                  "corrupt)" },
	[-KW_ESTORE] = { "store", "store (database) error" },
	[-KW_EEXIST] = { "exists", "already exists" },
	[-KW_EPERM] = { "unsafe_permissions",
	                "unsafe file ownership or permissions" },
	[-KW_ELIMIT] = { "limit", "a configured limit was reached" },
	[-KW_ECONFIG] = { "config", "invalid configuration" },
	[-KW_EBUSY] = { "busy", "operation already in progress" },
	[-KW_ERATE] = { "rate_limited", "rate limited" },
	[-KW_ECLOSED] = { "closed", "connection closed by the agent" },
	[-KW_EMETHOD] = { "method_not_found", "unknown method" },
	[-KW_EPARSE] = { "parse_error", "invalid JSON" },
	[-KW_ESTATE] = { "state", "not possible in the current state" },
	[-KW_EINTERNAL] = { "internal", "internal error in the agent" },
	[-KW_EREVOKED] = { "revoked", "the credential was revoked" },
	[-KW_EEXPIRED] = { "expired", "the credential has expired" },
	[-KW_ETOKEN] = { "invalid_token",
	                 "the access token is not acceptable" },
	[-KW_ESCOPE] = { "insufficient_scope",
	                 "the access token lacks a required scope" },
	[-KW_EUNKNOWN] = { "outcome_unknown",
	                   "outcome unknown: a disk sync failed, so the "
	                   "change may or may not have been stored" },
	[-KW_EDISKFULL] = { "disk_full", "the store's filesystem is full" },
	[-KW_EROFS] = { "read_only", "the store's filesystem is read-only" },
	[-KW_EDAMAGED] = { "damaged", "the store's database file is damaged" },
};

bool kwerr_known(int err)
{
	return err < 0 && err >= KW_ERROR_MIN;
}

const char *kw_strerror(int err)
{
	if (!kwerr_known(err) && err != KW_OK)
		return "unknown error";
	return kwerr_table[-err].message;
}

const char *kw_error_name(int err)
{
	if (!kwerr_known(err) && err != KW_OK)
		return "unknown";
	return kwerr_table[-err].kind;
}

int kwerr_to_wire(int err)
{
	switch (err) {
	case KW_EPARSE:
		return KW_RPC_PARSE_ERROR;
	case KW_EPROTO:
		return KW_RPC_INVALID_REQUEST;
	case KW_EMETHOD:
		return KW_RPC_METHOD_NOT_FOUND;
	case KW_EINVAL:
		return KW_RPC_INVALID_PARAMS;
	case KW_EINTERNAL:
		return KW_RPC_INTERNAL_ERROR;
	default:
		if (!kwerr_known(err))
			return KW_RPC_INTERNAL_ERROR;
		return 1000 - err;
	}
}

int kwerr_from_wire(int wire_code)
{
	switch (wire_code) {
	case KW_RPC_PARSE_ERROR:
		return KW_EPARSE;
	case KW_RPC_INVALID_REQUEST:
		return KW_EPROTO;
	case KW_RPC_METHOD_NOT_FOUND:
		return KW_EMETHOD;
	case KW_RPC_INVALID_PARAMS:
		return KW_EINVAL;
	case KW_RPC_INTERNAL_ERROR:
		return KW_EINTERNAL;
	default:
		break;
	}
	if (wire_code > 1000 && wire_code <= 1000 - KW_ERROR_MIN) {
		int err = 1000 - wire_code;
		/* The five JSON-RPC codes have no 1000+ form. */
		if (err != KW_EPARSE && err != KW_EPROTO && err != KW_EMETHOD &&
		    err != KW_EINVAL && err != KW_EINTERNAL)
			return err;
	}
	return KW_EPROTO;
}
