/*
 * fuzz_config.c - keyward.ini (agent/base/config.c). config_load reads a file,
 * so each input is written to a file on tmpfs first.
 *
 * Properties: a refusal says why and leaves the output untouched; an
 * accepted file loads the same way twice and satisfies the cross-key rule
 * (max_frame_bytes fits the largest value in base64).
 */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"

static char path[PATH_MAX];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(path, sizeof(path), "%s/keyward.ini", fuzz_scratch_dir());
	return 0;
}

/* Member by member: padding bytes are not part of the value. */
static bool same(const kw_config *a, const kw_config *b)
{
#define EQ(m) (a->m == b->m)
	return strcmp(a->socket, b->socket) == 0 &&
	       strcmp(a->rotation_webhook_ca_file,
	              b->rotation_webhook_ca_file) == 0 &&
	       strcmp(a->token_issuer, b->token_issuer) == 0 &&
	       strcmp(a->token_signing_key, b->token_signing_key) == 0 &&
	       EQ(max_frame_bytes) && EQ(max_connections) &&
	       EQ(max_connections_per_uid) && EQ(idle_timeout_ms) &&
	       EQ(frame_timeout_ms) && EQ(max_output_bytes) && EQ(log_level) &&
	       EQ(max_value_bytes) && EQ(max_versions) &&
	       EQ(audit_checkpoint_rows) && EQ(audit_checkpoint_minutes) &&
	       EQ(audit_retention_days) && EQ(audit_syslog) &&
	       EQ(rotation_max_attempts) && EQ(rotation_retry_seconds) &&
	       EQ(rotation_command_timeout) && EQ(rotation_webhook_timeout) &&
	       EQ(rotation_default_overlap) && EQ(token_alg) &&
	       EQ(token_default_ttl) && EQ(token_max_ttl) && EQ(token_leeway) &&
	       EQ(kdf_opslimit) && EQ(kdf_memlimit);
#undef EQ
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	kw_config cfg, again, untouched;
	char err[512] = "";

	fuzz_write_file(path, data, size);
	memset(&cfg, 0xa5, sizeof(cfg));
	memcpy(&untouched, &cfg, sizeof(cfg));
	if (config_load(path, &cfg, err, sizeof(err)) != 0) {
		FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', sizeof(err)));
		FUZZ_CHECK(memcmp(&cfg, &untouched, sizeof(cfg)) == 0);
		return 0;
	}
	memset(&again, 0, sizeof(again));
	FUZZ_CHECK(config_load(path, &again, err, sizeof(err)) == 0);
	FUZZ_CHECK(same(&cfg, &again));
	FUZZ_CHECK(cfg.max_frame_bytes >=
	           ((uint64_t)cfg.max_value_bytes + 2) / 3 * 4 + 4096);
	FUZZ_CHECK(memchr(cfg.socket, '\0', sizeof(cfg.socket)) != NULL);
	FUZZ_CHECK(cfg.log_level >= KW_LOG_ERROR &&
	           cfg.log_level <= KW_LOG_DEBUG);
	return 0;
}
