/*
 * config.c - keyward.ini (see config.h and docs/config.md).
 *
 * Parsing fills a scratch copy; the caller's config is replaced only when
 * the whole file is valid, so a reload with a typo changes nothing.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <ini.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "keyward.h"
#include "name.h"

void config_defaults(kw_config *ret)
{
	*ret = (kw_config){
		.socket = "",
		.socket_mode = 0600,
		.max_frame_bytes = 1024 * 1024,
		.max_connections = 256,
		.max_connections_per_uid = 128,
		.idle_timeout_ms = 300000,
		.frame_timeout_ms = 10000,
		.max_output_bytes = 4 * 1024 * 1024,
		.log_level = KW_LOG_INFO,
		.confine_files = 1,
		.max_value_bytes = KW_VALUE_MAX_DEFAULT,
		.max_versions = 10,
		.audit_checkpoint_rows = 1000,
		.audit_checkpoint_minutes = 60,
		.audit_flush_ms = 1000,
		.audit_retention_days = 0,
		.rotation_max_attempts = 5,
		.rotation_retry_seconds = 30,
		.rotation_command_timeout = 30,
		.rotation_webhook_timeout = 30,
		.oauth_refresh_at_percent = 75,
		.oauth_timeout = 30,
		.rotation_default_overlap = 86400,
		.token_issuer = "keyward",
		.token_signing_key = "keyward/token-signing",
		.token_alg = TOKEN_ALG_EDDSA,
		.token_default_ttl = 900,
		.token_max_ttl = 86400,
		.token_leeway = 60,
		.kdf_opslimit = 3,
		.kdf_memlimit = (size_t)256 * 1024 * 1024,
	};
}

/* inih's INI_MAX_LINE in Debian's build, minus the newline and NUL. */
#define CONFIG_LINE_MAX 198

struct config_parse {
	kw_config cfg;
	char *err;
	size_t errsz;
	const char *path;
	FILE *f;
	int lines_read; /* inih calls the handler right after reading a line */
	int fail_line;
	bool failed;
	bool too_long; /* stopped at line lines_read: over inih's limit */
};

/* A whole-string unsigned decimal in [lo, hi]. */
static bool config_number(const char *v, uint64_t lo, uint64_t hi,
                          uint64_t *ret)
{
	if (!v || *v < '0' || *v > '9')
		return false;
	errno = 0;
	char *end = NULL;
	unsigned long long n = strtoull(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < lo || n > hi)
		return false;
	*ret = n;
	return true;
}

static int config_fail(struct config_parse *p, const char *key, const char *why)
{
	if (!p->failed) {
		snprintf(p->err, p->errsz, "%s: %s", key[0] ? key : "(none)",
		         why);
		p->fail_line = p->lines_read;
	}
	p->failed = true;
	return 0;
}

struct config_num_key {
	const char *section;
	const char *name;
	uint64_t lo, hi;
	size_t offset; /* into kw_config */
	size_t width;  /* sizeof the field */
	uint64_t scale;
	const char *range; /* for the error sentence */
};

#define NUM_KEY(sec, key, field, lo, hi, scale)                   \
	{                                                         \
		sec, #key, lo, hi, offsetof(kw_config, field),    \
			sizeof(((kw_config *)0)->field), scale,   \
			"must be an integer from " #lo " to " #hi \
	}

static const struct config_num_key config_num_keys[] = {
	NUM_KEY("agent", max_frame_bytes, max_frame_bytes, 4096, 67108864, 1),
	NUM_KEY("agent", max_connections, max_connections, 1, 65536, 1),
	NUM_KEY("agent", max_connections_per_uid, max_connections_per_uid, 1,
	        65536, 1),
	NUM_KEY("agent", idle_timeout_ms, idle_timeout_ms, 100, 86400000, 1),
	NUM_KEY("agent", frame_timeout_ms, frame_timeout_ms, 100, 3600000, 1),
	NUM_KEY("agent", max_output_bytes, max_output_bytes, 65536, 1073741824,
	        1),
	NUM_KEY("store", max_value_bytes, max_value_bytes, 1, 16777216, 1),
	NUM_KEY("store", max_versions, max_versions, 1, 10000, 1),
	NUM_KEY("audit", checkpoint_rows, audit_checkpoint_rows, 0, 1000000, 1),
	NUM_KEY("audit", checkpoint_minutes, audit_checkpoint_minutes, 0, 10080,
	        1),
	NUM_KEY("audit", flush_ms, audit_flush_ms, 0, 60000, 1),
	NUM_KEY("audit", retention_days, audit_retention_days, 0, 36500, 1),
	NUM_KEY("audit", syslog, audit_syslog, 0, 1, 1),
	NUM_KEY("rotation", max_attempts, rotation_max_attempts, 1, 100, 1),
	NUM_KEY("rotation", retry_seconds, rotation_retry_seconds, 1, 86400, 1),
	NUM_KEY("rotation", command_timeout_seconds, rotation_command_timeout,
	        1, 3600, 1),
	NUM_KEY("rotation", webhook_timeout_seconds, rotation_webhook_timeout,
	        1, 300, 1),
	NUM_KEY("rotation", default_overlap_seconds, rotation_default_overlap,
	        0, 31536000, 1),
	NUM_KEY("oauth", refresh_at_percent, oauth_refresh_at_percent, 10, 95,
	        1),
	NUM_KEY("oauth", timeout_seconds, oauth_timeout, 1, 300, 1),
	NUM_KEY("token", default_ttl_seconds, token_default_ttl, 60, 2592000,
	        1),
	NUM_KEY("token", max_ttl_seconds, token_max_ttl, 60, 2592000, 1),
	NUM_KEY("token", leeway_seconds, token_leeway, 0, 600, 1),
	NUM_KEY("kdf", opslimit, kdf_opslimit, 1, 100, 1),
	NUM_KEY("kdf", memlimit_kib, kdf_memlimit, 8, 4194304, 1024),
};

static void config_store(kw_config *c, const struct config_num_key *k,
                         uint64_t v)
{
	char *field = (char *)c + k->offset;
	v *= k->scale;
	if (k->width == sizeof(uint32_t)) {
		uint32_t x = (uint32_t)v;
		memcpy(field, &x, sizeof(x));
	} else {
		uint64_t x = v;
		memcpy(field, &x, sizeof(x));
	}
}

static int config_log_level(const char *v, int *ret)
{
	static const char *const levels[] = { "error", "warn", "info",
		                              "debug" };
	for (int i = 0; i < 4; i++) {
		if (strcmp(v, levels[i]) == 0) {
			*ret = i;
			return 0;
		}
	}
	return -1;
}

/* A group name, or a number; resolved now so that a typo is a load error
 * naming the line. */
static int config_socket_group(struct config_parse *p, const char *value)
{
	char buf[4096];
	struct group gr, *found = NULL;
	uint64_t gid;
	size_t n = strlen(value);

	if (n == 0 || n >= sizeof(p->cfg.socket_group))
		return config_fail(p, "socket_group", "must be 1 to 63 bytes");
	if (config_number(value, 0, (gid_t)-2, &gid)) {
		p->cfg.socket_gid = (gid_t)gid;
	} else {
		int r = getgrnam_r(value, &gr, buf, sizeof(buf), &found);
		if (r != 0 || !found)
			return config_fail(p, "socket_group",
			                   "no such group on this system");
		p->cfg.socket_gid = found->gr_gid;
	}
	memcpy(p->cfg.socket_group, value, n + 1);
	return 1;
}

static int config_handler(void *user, const char *section, const char *name,
                          const char *value)
{
	struct config_parse *p = user;

	if (p->failed)
		return 0;
	if (strcmp(section, "agent") != 0 && strcmp(section, "store") != 0 &&
	    strcmp(section, "audit") != 0 && strcmp(section, "kdf") != 0 &&
	    strcmp(section, "rotation") != 0 && strcmp(section, "token") != 0 &&
	    strcmp(section, "oauth") != 0)
		return config_fail(p, section,
		                   "unknown section (expected agent, store, "
		                   "audit, rotation, oauth, token or kdf)");
	if (!name)
		return 1; /* a bare [section] line */
	for (size_t i = 0;
	     i < sizeof(config_num_keys) / sizeof(config_num_keys[0]); i++) {
		const struct config_num_key *k = &config_num_keys[i];
		if (strcmp(section, k->section) != 0 ||
		    strcmp(name, k->name) != 0)
			continue;
		uint64_t v;
		if (!config_number(value, k->lo, k->hi, &v))
			return config_fail(p, name, k->range);
		config_store(&p->cfg, k, v);
		return 1;
	}
	if (strcmp(section, "agent") == 0 && strcmp(name, "socket") == 0) {
		size_t n = strlen(value);
		if (n == 0 || value[0] != '/')
			return config_fail(p, name, "must be an absolute path");
		if (n >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return config_fail(p, name,
			                   "must be shorter than 108 bytes");
		memcpy(p->cfg.socket, value, n + 1);
		return 1;
	}
	if (strcmp(section, "agent") == 0 && strcmp(name, "socket_mode") == 0) {
		/* Only the two modes the agent can keep safe: the owner, or
		 * the owner and one group. Never other users. */
		if (strcmp(value, "0600") == 0 || strcmp(value, "600") == 0)
			p->cfg.socket_mode = 0600;
		else if (strcmp(value, "0660") == 0 ||
		         strcmp(value, "660") == 0)
			p->cfg.socket_mode = 0660;
		else
			return config_fail(p, name, "must be 0600 or 0660");
		return 1;
	}
	if (strcmp(section, "agent") == 0 && strcmp(name, "socket_group") == 0)
		return config_socket_group(p, value);
	if (strcmp(section, "rotation") == 0 &&
	    strcmp(name, "webhook_ca_file") == 0) {
		size_t n = strlen(value);
		if (n == 0 || value[0] != '/')
			return config_fail(p, name, "must be an absolute path");
		if (n >= sizeof(p->cfg.rotation_webhook_ca_file))
			return config_fail(p, name, "path too long");
		memcpy(p->cfg.rotation_webhook_ca_file, value, n + 1);
		return 1;
	}
	if (strcmp(section, "token") == 0 && strcmp(name, "issuer") == 0) {
		size_t n = strlen(value);
		if (n == 0 || n >= sizeof(p->cfg.token_issuer))
			return config_fail(p, name, "must be 1 to 255 bytes");
		for (size_t i = 0; i < n; i++) {
			if (value[i] <= 0x20 || value[i] >= 0x7f)
				return config_fail(
					p, name,
					"must be printable ASCII without spaces");
		}
		memcpy(p->cfg.token_issuer, value, n + 1);
		return 1;
	}
	if (strcmp(section, "token") == 0 && strcmp(name, "signing_key") == 0) {
		size_t n = strlen(value);
		const char *why = NULL;
		if (kw_name_check(value, n, &why) < 0)
			return config_fail(p, name, why);
		memcpy(p->cfg.token_signing_key, value, n + 1);
		return 1;
	}
	if (strcmp(section, "audit") == 0 &&
	    strcmp(name, "checkpoint_failure") == 0) {
		if (strcmp(value, "warn") == 0)
			p->cfg.audit_checkpoint_refuse = 0;
		else if (strcmp(value, "refuse") == 0)
			p->cfg.audit_checkpoint_refuse = 1;
		else
			return config_fail(p, name, "must be warn or refuse");
		return 1;
	}
	if (strcmp(section, "audit") == 0 && strcmp(name, "anchor") == 0) {
		size_t n = strlen(value);
		if (n == 0 || value[0] != '/')
			return config_fail(p, name, "must be an absolute path");
		if (n >= sizeof(p->cfg.audit_anchor))
			return config_fail(p, name, "path too long");
		memcpy(p->cfg.audit_anchor, value, n + 1);
		return 1;
	}
	if (strcmp(section, "token") == 0 && strcmp(name, "alg") == 0) {
		if (strcmp(value, "EdDSA") == 0)
			p->cfg.token_alg = TOKEN_ALG_EDDSA;
		else if (strcmp(value, "HS256") == 0)
			p->cfg.token_alg = TOKEN_ALG_HS256;
		else
			return config_fail(p, name, "must be EdDSA or HS256");
		return 1;
	}
	if (strcmp(section, "agent") == 0 &&
	    strcmp(name, "confine_files") == 0) {
		if (strcmp(value, "on") == 0)
			p->cfg.confine_files = 1;
		else if (strcmp(value, "off") == 0)
			p->cfg.confine_files = 0;
		else
			return config_fail(p, name, "must be on or off");
		return 1;
	}
	if (strcmp(section, "agent") == 0 && strcmp(name, "log_level") == 0) {
		if (config_log_level(value, &p->cfg.log_level) < 0)
			return config_fail(
				p, name, "must be error, warn, info or debug");
		return 1;
	}
	return config_fail(p, name, "unknown key in this section");
}

/* Rules that involve more than one key. */
static int config_check(struct config_parse *p)
{
	uint64_t b64 = ((uint64_t)p->cfg.max_value_bytes + 2) / 3 * 4;
	if (p->cfg.max_frame_bytes < b64 + 4096) {
		snprintf(p->err, p->errsz,
		         "max_frame_bytes: must be at least %" PRIu64
		         " so that a value of max_value_bytes fits",
		         b64 + 4096);
		return KW_ECONFIG;
	}
	if (p->cfg.socket_mode == 0660 && !p->cfg.socket_group[0]) {
		snprintf(p->err, p->errsz,
		         "socket_mode: 0660 needs socket_group (the group "
		         "allowed to connect)");
		return KW_ECONFIG;
	}
	if (p->cfg.socket_mode == 0600 && p->cfg.socket_group[0]) {
		snprintf(p->err, p->errsz,
		         "socket_group: has no effect unless socket_mode is "
		         "0660");
		return KW_ECONFIG;
	}
	if (p->cfg.token_default_ttl > p->cfg.token_max_ttl) {
		snprintf(p->err, p->errsz,
		         "default_ttl_seconds: must not exceed "
		         "max_ttl_seconds (%u)",
		         p->cfg.token_max_ttl);
		return KW_ECONFIG;
	}
	return 0;
}

/* fgets for inih that counts lines, so handler errors know their line. */
static char *config_reader(char *buf, int size, void *arg)
{
	struct config_parse *p = arg;
	if (p->too_long)
		return NULL;
	char *r = fgets(buf, size, p->f);
	if (!r)
		return NULL;
	p->lines_read++;
	size_t n = strlen(buf);
	if (n == (size_t)size - 1 && buf[n - 1] != '\n' && !feof(p->f)) {
		/* inih would read the rest as a line of its own (a comment's
		 * tail could become a setting): refuse instead. */
		p->too_long = true;
		return NULL;
	}
	return r;
}

int config_load(const char *path, kw_config *ret, char *err, size_t errsz)
{
	struct config_parse p = { .err = err, .errsz = errsz, .path = path };
	config_defaults(&p.cfg);
	if (errsz)
		err[0] = '\0';

	FILE *f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT) {
			*ret = p.cfg;
			return 0;
		}
		snprintf(err, errsz, "%s: cannot open: %s", path,
		         strerror(errno));
		return KW_EIO;
	}
	p.f = f;
	int line = ini_parse_stream(config_reader, &p, config_handler, &p);
	fclose(f);
	if (p.too_long && (line == 0 || line > p.lines_read)) {
		snprintf(err, errsz, "%s:%d: line too long (at most %d bytes)",
		         path, p.lines_read, CONFIG_LINE_MAX);
		return KW_ECONFIG;
	}
	if (line != 0) {
		char why[256];
		if (p.failed && p.fail_line == line)
			snprintf(why, sizeof(why), "%s", err);
		else if (line < 0)
			snprintf(why, sizeof(why), "cannot read the file");
		else
			snprintf(why, sizeof(why), "syntax error");
		if (line > 0)
			snprintf(err, errsz, "%s:%d: %s", path, line, why);
		else
			snprintf(err, errsz, "%s: %s", path, why);
		return line < 0 ? KW_EIO : KW_ECONFIG;
	}
	if (config_check(&p) < 0) {
		char why[256];
		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errsz, "%s: %s", path, why);
		return KW_ECONFIG;
	}
	*ret = p.cfg;
	return 0;
}
