/*
 * config.h - keyward.ini, parsed with inih.
 *
 * A missing file means all defaults. Any unknown section or key, or a value
 * out of range, is an error naming file:line and the key; nothing of a bad
 * file is applied (the caller keeps its old config). docs/config.md lists
 * every key with its default and range.
 */
#ifndef KW_CONFIG_H
#define KW_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "paths.h"

typedef struct kw_config {
	/* [agent] */
	char socket[KW_PATH_MAX]; /* "" = resolve from environment */
	/* Who may connect: 0600 (the owner) or 0660 (and socket_gid, the
	 * group named by socket_group, which 0660 requires). */
	unsigned socket_mode;
	char socket_group[64]; /* "" = none; as written, for messages */
	gid_t socket_gid;
	size_t max_frame_bytes;   /* largest request line */
	uint32_t max_connections; /* total open client connections */
	uint32_t max_connections_per_uid;
	uint32_t idle_timeout_ms;  /* close a connection idle this long */
	uint32_t frame_timeout_ms; /* close if a partial line sits this long */
	uint32_t max_output_bytes; /* unread responses held per connection */
	int log_level;             /* 0 error, 1 warn, 2 info, 3 debug */
	/* 1 (the default): Landlock rules for the key holder too
	 * (sandbox.h); read at start only */
	int confine_files;
	/* [store] */
	size_t max_value_bytes;
	uint32_t max_versions;
	/* [audit] */
	uint32_t audit_checkpoint_rows;    /* 0: not by count */
	uint32_t audit_checkpoint_minutes; /* 0: not by time */
	uint32_t audit_flush_ms; /* reads' rows on disk within; 0: at once */
	uint32_t audit_retention_days; /* 0: keep forever */
	uint32_t audit_syslog;         /* 1: checkpoints to syslog too */
	/* checkpoint_failure: 1 "refuse" (audited requests fail while
	 * checkpoints cannot be written), 0 "warn" */
	int audit_checkpoint_refuse;
	char audit_anchor[KW_PATH_MAX]; /* a copy of each checkpoint; "" none */
	/* [rotation] (docs/rotation.md) */
	uint32_t rotation_max_attempts;    /* tries of a step before failing */
	uint32_t rotation_retry_seconds;   /* first backoff; doubles per try */
	uint32_t rotation_command_timeout; /* seconds */
	uint32_t rotation_webhook_timeout; /* seconds */
	uint32_t rotation_default_overlap; /* seconds */
	/* PEM CAs for webhooks instead of the system's; "" = system */
	char rotation_webhook_ca_file[KW_PATH_MAX];
	/* [oauth] managed OAuth credentials (docs/oauth.md) */
	uint32_t oauth_refresh_at_percent; /* of a token's lifetime */
	uint32_t oauth_timeout;            /* seconds, a token request */
	/* [token] JWT access tokens (docs/tokens.md) */
	char token_issuer[256];      /* the iss of every token */
	char token_signing_key[256]; /* the secret that holds the key */
	int token_alg;               /* TOKEN_ALG_EDDSA or TOKEN_ALG_HS256 */
	uint32_t token_default_ttl;  /* seconds */
	uint32_t token_max_ttl;      /* seconds */
	uint32_t token_leeway;       /* seconds of clock skew tolerated */
	/* [kdf] used when a passphrase wrap is made (init, passwd) */
	uint64_t kdf_opslimit;
	size_t kdf_memlimit; /* bytes */
} kw_config;

enum { TOKEN_ALG_EDDSA = 0, TOKEN_ALG_HS256 = 1 };

enum { KW_LOG_ERROR = 0, KW_LOG_WARN = 1, KW_LOG_INFO = 2, KW_LOG_DEBUG = 3 };

void config_defaults(kw_config *ret);
/*
 * Load path over defaults into *ret (untouched on failure). Errors:
 * KW_ECONFIG with a sentence in err ("keyward.ini:7: max_connections: must be
 * 1..65536"), KW_EIO if the file exists but cannot be read.
 */
int config_load(const char *path, kw_config *ret, char *err, size_t errsz);

#endif
