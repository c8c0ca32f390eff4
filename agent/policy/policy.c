/*
 * policy.c - queries on a loaded policy: rates, attribution,
 * decisions, policy.show, and the default policy written by init. Loading
 * lives in policy_parse.c; the shared shape in policy_int.h.
 */
#include "policy.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "glob.h"
#include "jsonget.h"
#include "keyward.h"
#include "policy_int.h"
#include "writeall.h"

static const char *const policy_op_names[POLICY_OP_COUNT] = {
	"read", "write", "list", "rotate", "verify", "admin",
};

int policy_op_parse(const char *s, enum policy_op *ret_op)
{
	if (!s)
		return KW_EINVAL;
	for (int i = 0; i < POLICY_OP_COUNT; i++) {
		if (strcmp(s, policy_op_names[i]) == 0) {
			*ret_op = (enum policy_op)i;
			return 0;
		}
	}
	return KW_EINVAL;
}

const char *policy_op_name(enum policy_op op)
{
	if ((int)op < 0 || op >= POLICY_OP_COUNT)
		return "?";
	return policy_op_names[op];
}

/* Digits at *s as a number in [1, 1000000]; advances *s past them. */
static bool rate_number(const char **s, uint32_t *ret)
{
	const char *p = *s;
	uint32_t n = 0;
	size_t digits = 0;

	while (*p >= '0' && *p <= '9') {
		/* Eight digits already exceed the maximum: stop before any
		 * overflow is possible. */
		if (++digits > 7)
			return false;
		n = n * 10 + (uint32_t)(*p - '0');
		p++;
	}
	if (digits == 0 || n < 1 || n > 1000000)
		return false;
	*s = p;
	*ret = n;
	return true;
}

static const char *skip_spaces(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

int policy_rate_parse(const char *s, policy_rate *ret_rate)
{
	policy_rate r;

	if (!s)
		return KW_EINVAL;
	s = skip_spaces(s);
	if (!rate_number(&s, &r.count) || *s++ != '/')
		return KW_EINVAL;
	switch (*s++) {
	case 's':
		r.per_ms = 1000;
		break;
	case 'm':
		r.per_ms = 60000;
		break;
	case 'h':
		r.per_ms = 3600000;
		break;
	default:
		return KW_EINVAL;
	}
	r.burst = r.count;
	const char *rest = skip_spaces(s);
	if (rest != s && strncmp(rest, "burst", 5) == 0) {
		const char *num = skip_spaces(rest + 5);
		if (num == rest + 5 || !rate_number(&num, &r.burst))
			return KW_EINVAL;
		rest = skip_spaces(num);
	}
	if (*rest != '\0')
		return KW_EINVAL;
	*ret_rate = r;
	return 0;
}

void policy_client_clear(struct policy_client *c)
{
	if (!c)
		return;
	free(c->exe);
	free(c->token);
	for (size_t i = 0; i < POLICY_GRANT_OPS; i++) {
		free(c->grants[i].buf);
		free(c->grants[i].globs);
	}
	sodium_memzero(c, sizeof(*c));
}

void policy_free(policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nclients; i++)
		policy_client_clear(&p->clients[i]);
	free(p->clients);
	for (size_t i = 0; i < p->nfiles; i++)
		free(p->files[i]);
	free(p->files);
	free(p);
}

size_t policy_count(const policy *p)
{
	return p ? p->nclients : 0;
}

bool policy_uid_named(const policy *p, uid_t uid)
{
	for (size_t i = 0; p && i < p->nclients; i++) {
		if (p->clients[i].uid == uid)
			return true;
	}
	return false;
}

/* Everything but exe_sha256, which is costly and asked for last. */
static bool client_matches_cheap(const struct policy_client *c,
                                 const policy_identity *id)
{
	if (c->uid != id->uid)
		return false;
	if (c->has_gid && c->gid != id->gid)
		return false;
	if (c->exe && (!id->exe || strcmp(c->exe, id->exe) != 0))
		return false;
	if (c->token && (!id->token_name || strcmp(c->token, id->token_name)))
		return false;
	return true;
}

static bool client_matches_sha256(const struct policy_client *c,
                                  const policy_identity *id)
{
	uint8_t digest[POLICY_SHA256_BYTES];

	if (!c->has_sha256)
		return true;
	if (!id->exe_sha256 || id->exe_sha256(id->arg, digest) < 0)
		return false;
	return sodium_memcmp(digest, c->sha256, sizeof(digest)) == 0;
}

const policy_client *policy_attribute(const policy *p,
                                      const policy_identity *id)
{
	if (!p || !id)
		return NULL;
	for (size_t i = 0; i < p->nclients; i++) {
		const struct policy_client *c = &p->clients[i];
		if (client_matches_cheap(c, id) && client_matches_sha256(c, id))
			return c;
	}
	return NULL;
}

/* The first glob of the grant for op that allows name (any glob when name
 * is NULL), or NULL. */
static const char *client_grant_glob(const policy_client *c, enum policy_op op,
                                     const char *name)
{
	if ((int)op < 0 || op >= POLICY_GRANT_OPS)
		return NULL;
	const struct policy_grant *g = &c->grants[op];
	for (size_t i = 0; i < g->count; i++) {
		if (!name || kw_glob_match(g->globs[i], name))
			return g->globs[i];
	}
	return NULL;
}

bool policy_client_allows(const policy_client *c, enum policy_op op,
                          const char *name)
{
	if (!c)
		return false;
	if (op == POLICY_OP_ADMIN)
		return c->admin;
	return client_grant_glob(c, op, name) != NULL;
}

const char *policy_client_name(const policy_client *c)
{
	return c->name;
}

const char *policy_client_file(const policy_client *c)
{
	return c->file;
}

unsigned policy_client_line(const policy_client *c)
{
	return c->line;
}

const policy_rate *policy_client_rate(const policy *p, const policy_client *c)
{
	if (c && c->has_rate)
		return &c->rate;
	if (p && p->has_default_rate)
		return &p->default_rate;
	return NULL;
}

void policy_decide(const policy *p, const policy_identity *id,
                   enum policy_op op, const char *name,
                   policy_decision *ret_decision)
{
	policy_decision d = { .allowed = false };
	const policy_client *c = policy_attribute(p, id);

	d.client = c;
	if (!c) {
		snprintf(d.reason, sizeof(d.reason),
		         "no policy section matches this client (uid %lu, "
		         "exe %s)",
		         id ? (unsigned long)id->uid : 0UL,
		         id && id->exe ? id->exe : "unknown");
	} else if (op == POLICY_OP_ADMIN && c->admin) {
		d.allowed = true;
		snprintf(d.reason, sizeof(d.reason),
		         "allowed by [client \"%s\"] admin = yes (%s:%u)",
		         c->name, c->file, c->admin_line);
	} else {
		const char *glob = client_grant_glob(c, op, name);
		if (glob) {
			d.allowed = true;
			snprintf(d.reason, sizeof(d.reason),
			         "allowed by [client \"%s\"] %s = %s (%s:%u)",
			         c->name, policy_op_name(op), glob, c->file,
			         c->grants[op].line);
		} else {
			snprintf(d.reason, sizeof(d.reason),
			         "[client \"%s\"] (%s:%u) grants no %s%s",
			         c->name, c->file, c->line, policy_op_name(op),
			         name && op != POLICY_OP_ADMIN ?
			                 " on this name" :
			                 "");
		}
	}
	*ret_decision = d;
}

/* "50/s burst 100"; buf of at least 40 bytes. */
static void rate_render(const policy_rate *r, char *buf, size_t bufsz)
{
	char unit = r->per_ms == 1000 ? 's' : r->per_ms == 60000 ? 'm' : 'h';
	snprintf(buf, bufsz, "%lu/%c burst %lu", (unsigned long)r->count, unit,
	         (unsigned long)r->burst);
}

static int json_put(json_t *obj, const char *key, json_t *v)
{
	return v ? json_object_set_new(obj, key, v) : -1;
}

static json_t *client_to_json(const struct policy_client *c)
{
	json_t *o = json_object();
	int r = 0;
	char rate[48];

	if (!o)
		return NULL;
	r |= json_put(o, "name", json_string(c->name));
	r |= json_put(o, "file", kw_json_lossy(c->file));
	r |= json_put(o, "line", json_integer(c->line));
	r |= json_put(o, "uid", json_integer(c->uid));
	if (c->has_gid)
		r |= json_put(o, "gid", json_integer(c->gid));
	if (c->exe)
		r |= json_put(o, "exe", kw_json_lossy(c->exe));
	if (c->has_sha256) {
		char hex[POLICY_SHA256_BYTES * 2 + 1];
		sodium_bin2hex(hex, sizeof(hex), c->sha256, sizeof(c->sha256));
		r |= json_put(o, "exe_sha256", json_string(hex));
	}
	if (c->token)
		r |= json_put(o, "token", json_string(c->token));
	for (int op = 0; op < (int)POLICY_GRANT_OPS; op++) {
		json_t *a = json_array();
		for (size_t i = 0; a && i < c->grants[op].count; i++)
			r |= json_array_append_new(
				a, json_string(c->grants[op].globs[i]));
		r |= json_put(o, policy_op_names[op], a);
	}
	r |= json_put(o, "admin", json_boolean(c->admin));
	if (c->has_rate) {
		rate_render(&c->rate, rate, sizeof(rate));
		r |= json_put(o, "rate", json_string(rate));
	} else {
		r |= json_put(o, "rate", json_null());
	}
	if (r != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *policy_to_json(const policy *p)
{
	json_t *root = json_object();
	json_t *files = json_array();
	json_t *defaults = json_object();
	json_t *clients = json_array();
	int r = 0;
	char rate[48];

	if (!root || !files || !defaults || !clients || !p) {
		json_decref(files);
		json_decref(defaults);
		json_decref(clients);
		json_decref(root);
		return NULL;
	}
	for (size_t i = 0; i < p->nfiles; i++)
		r |= json_array_append_new(files, kw_json_lossy(p->files[i]));
	if (p->has_default_rate) {
		rate_render(&p->default_rate, rate, sizeof(rate));
		r |= json_put(defaults, "rate", json_string(rate));
	}
	for (size_t i = 0; i < p->nclients; i++) {
		json_t *c = client_to_json(&p->clients[i]);
		r |= c ? json_array_append_new(clients, c) : -1;
	}
	r |= json_object_set_new(root, "files", files);
	r |= json_object_set_new(root, "defaults", defaults);
	r |= json_object_set_new(root, "clients", clients);
	if (r != 0) {
		json_decref(root);
		return NULL;
	}
	return root;
}
