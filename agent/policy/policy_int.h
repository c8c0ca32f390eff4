/*
 * policy_int.h - the policy's in-memory shape, shared by policy.c (queries)
 * and policy_parse.c (loading). Nothing outside those two files includes
 * this; everyone else sees the opaque types of policy.h.
 */
#ifndef KW_POLICY_INT_H
#define KW_POLICY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "policy.h"

#define POLICY_CLIENT_NAME_MAX 64u   /* bytes in a [client "NAME"] */
#define POLICY_MAX_SECTIONS    1024u /* over all files */
#define POLICY_MAX_FILES       1024u
#define POLICY_MAX_GLOBS       256u /* per grant key */
#define POLICY_GRANT_OPS       5u   /* read, write, list, rotate, verify */
#define POLICY_SHA256_BYTES    32u

/* One grant key (e.g. "read = ..."): its globs and where it was written. */
struct policy_grant {
	char *buf;    /* the value, split in place at commas */
	char **globs; /* pointers into buf */
	size_t count;
	unsigned line; /* 0 if the key was not given */
};

struct policy_client {
	char name[POLICY_CLIENT_NAME_MAX + 1];
	const char *file; /* owned by the policy's files[] */
	unsigned line;    /* of the [client] header */
	uid_t uid;
	bool has_gid;
	gid_t gid;
	char *exe;   /* NULL if not given */
	char *token; /* NULL if not given */
	bool has_sha256;
	uint8_t sha256[POLICY_SHA256_BYTES];
	struct policy_grant grants[POLICY_GRANT_OPS];
	bool admin;
	unsigned admin_line;
	bool has_rate;
	policy_rate rate;
	uint32_t keys_seen; /* bit per key, to refuse a key given twice */
};

struct policy {
	char **files; /* base names, in load order */
	size_t nfiles;
	struct policy_client *clients;
	size_t nclients;
	bool has_defaults;
	const char *defaults_file;
	unsigned defaults_line;
	bool has_default_rate;
	policy_rate default_rate;
};

/* Release everything a client section holds (not the struct itself). */
void policy_client_clear(struct policy_client *c);

#endif
