/*
 * policy.h - who may do what: policy files, attribution, decisions.
 *
 * A policy is loaded whole from the *.ini files of $KEYWARD_HOME/policies
 * (files in byte order of their names, sections in file order) and is
 * immutable afterwards; reload builds a new one and swaps it in, so a bad
 * file never half-applies. policies/README.md documents every key with
 * examples. Sections:
 *
 *   [client "NAME"]  a principal. Identity keys: uid (number or user name;
 *                    default: the agent's own uid), gid (number or group
 *                    name), exe (absolute path), exe_sha256 (64 hex
 *                    digits), token (the name of a client token the peer
 *                    must have presented with client.hello). Grants: read,
 *                    write, list, rotate, verify (comma-separated globs),
 *                    admin (yes/no). rate ("50/s burst 100").
 *   [defaults]       rate: for sections without their own.
 *
 * Identity keys present in a section must all match; a section needs at
 * least one of exe and token. A request is attributed to the FIRST matching
 * section, and only its grants count. Deny by default: no section, or no
 * grant, means denied.
 *
 * Grants are globs in the one syntax of common/glob.h (kw_glob_match).
 */
#ifndef KW_POLICY_H
#define KW_POLICY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "policy_owner.h"

enum policy_op {
	POLICY_OP_READ = 0,
	POLICY_OP_WRITE,
	POLICY_OP_LIST,
	POLICY_OP_ROTATE,
	POLICY_OP_VERIFY,
	POLICY_OP_ADMIN,
	POLICY_OP_COUNT
};

/* "read" <-> POLICY_OP_READ, ... 0 or KW_EINVAL. */
int policy_op_parse(const char *s, enum policy_op *ret_op);
const char *policy_op_name(enum policy_op op);

/* count tokens per per_ms milliseconds, bucket of burst tokens. */
typedef struct policy_rate {
	uint32_t count;  /* 1 .. 1000000 */
	uint32_t per_ms; /* 1000 (/s), 60000 (/m) or 3600000 (/h) */
	uint32_t burst;  /* >= 1; default: count */
} policy_rate;

/* Parse "50/s", "50/s burst 100", "10/m", "1000/h burst 50". 0/KW_EINVAL. */
int policy_rate_parse(const char *s, policy_rate *ret_rate);

/* What the agent knows about the peer behind a request. */
typedef struct policy_identity {
	uid_t uid;
	gid_t gid;
	const char *exe;        /* NULL if unknown: sections with exe do not
	                           match */
	const char *token_name; /* NULL if no (valid) token was presented */
	/* Computes the SHA-256 of the peer's executable on demand (only when
	 * a section with exe_sha256 is otherwise matching). NULL or a
	 * negative return: sections with exe_sha256 do not match. */
	int (*exe_sha256)(void *arg, uint8_t out[32]);
	void *arg;
} policy_identity;

typedef struct policy policy;
typedef struct policy_client policy_client;

/*
 * Load every *.ini in dir. owner is the agent's uid (the default uid of a
 * section). Errors: KW_ECONFIG with err = "FILE:LINE: why" (unknown
 * section or key, bad glob, bad number or rate, duplicate section name,
 * unknown user/group, section without exe or token); KW_ENOTFOUND if dir
 * does not exist; KW_EPERM if dir or a file is writable by group/others or
 * not owned by owner (err names it); KW_EIO.
 */
int policy_load_dir(const char *dir, uid_t owner, policy **ret_policy,
                    char *err, size_t errsz);
void policy_free(policy *p);

/* Number of sections. */
size_t policy_count(const policy *p);
/* True if some section could match a peer of this uid. */
bool policy_uid_named(const policy *p, uid_t uid);
/* The first matching section or NULL. */
const policy_client *policy_attribute(const policy *p,
                                      const policy_identity *id);

/* Does the section grant op on name? (name NULL: "on anything", used for
 * admin and for list requests without a name.) */
bool policy_client_allows(const policy_client *c, enum policy_op op,
                          const char *name);
const char *policy_client_name(const policy_client *c);
const char *policy_client_file(const policy_client *c);
unsigned policy_client_line(const policy_client *c);
/* The section's rate, else the [defaults] rate, else NULL (unlimited). */
const policy_rate *policy_client_rate(const policy *p, const policy_client *c);

typedef struct policy_decision {
	bool allowed;
	const policy_client *client; /* attributed section, or NULL */
	char reason[192];            /* why, naming the rule: section, key,
	                                glob, file:line; or that no section
	                                matches (uid, exe) */
} policy_decision;

/* Attribute id, then check op on name. Never mentions a secret name the
 * peer could not see, except the one it asked for. */
void policy_decide(const policy *p, const policy_identity *id,
                   enum policy_op op, const char *name,
                   policy_decision *ret_decision);

/* The loaded policy as JSON (policy.show): {"files":[...],
 * "defaults":{"rate":"..."}|{}, "clients":[{"name","file","line","uid",
 * "gid"?,"exe"?,"exe_sha256"?,"token"?,"read":[...],...,"admin":bool,
 * "rate":"50/s burst 100"|null}]}. New reference. */
json_t *policy_to_json(const policy *p);

#endif
