/*
 * mcp_proxy_param.c - x-mcp-header (2026-07-28 Streamable HTTP, "Custom
 * Headers from Tool Parameters"): a tool's inputSchema may mark
 * primitive properties, reached through a chain of "properties" keys,
 * with "x-mcp-header": NAME, and an HTTP client must then send each such
 * argument of a tools/call as "Mcp-Param-NAME: value" (encoded as
 * Mcp-Name is). The proxy learns the declarations from the tools/list
 * results that pass through it, and, as an HTTP client must, leaves out
 * of those results the tools whose declarations break the rules (with a
 * warning naming each). The rules and the value text are those of the
 * TypeScript SDK 2.x client (scanXMcpHeaderDeclarations,
 * buildMcpParamHeaders).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jsonspan.h"
#include "mcp_proxy.h"
#include "secmem.h"

#define TOOLS_MAX 4096u
#define DECLS_MAX 32u
#define DEPTH_MAX 16u  /* of a declared property's path */
#define VISIT_MAX 256u /* schema nesting scanned */

struct decl {
	char *path[DEPTH_MAX];
	size_t depth;
	char *header;
};

struct tool {
	char *name;
	struct decl decls[DECLS_MAX];
	size_t ndecls;
	bool invalid;
};

struct proxy_params {
	struct tool *tools;
	size_t n, cap;
	size_t ninvalid; /* of the last tools/list result learnt */
	char **invalid;  /* their names */
};

/* Keywords under which x-mcp-header is not allowed. */
static const char *const unreachable[] = {
	"items",
	"prefixItems",
	"contains",
	"additionalProperties",
	"unevaluatedProperties",
	"unevaluatedItems",
	"propertyNames",
	"patternProperties",
	"dependentSchemas",
	"oneOf",
	"anyOf",
	"allOf",
	"not",
	"if",
	"then",
	"else",
	"$defs",
	"definitions",
};

struct scan {
	struct decl d[DECLS_MAX];
	size_t n;
	const char *path[DEPTH_MAX];
};

static bool token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		      (c >= 'A' && c <= 'Z') || strchr("!#$%&'*+-.^_`|~", c)))
			return false;
	}
	return true;
}

static void decl_clear(struct decl *d)
{
	for (size_t i = 0; i < d->depth; i++)
		free(d->path[i]);
	free(d->header);
	memset(d, 0, sizeof(*d));
}

static const char *declare(struct scan *s, const json_t *node, size_t depth)
{
	const char *h =
		json_string_value(json_object_get(node, "x-mcp-header"));
	const char *type = json_string_value(json_object_get(node, "type"));
	struct decl *d;

	if (!h || !token(h))
		return "x-mcp-header is not an HTTP token";
	if (!type || (strcmp(type, "string") && strcmp(type, "integer") &&
	              strcmp(type, "boolean")))
		return "x-mcp-header on a property that is not a string, "
		       "integer or boolean";
	for (size_t i = 0; i < s->n; i++)
		if (strcasecmp(s->d[i].header, h) == 0)
			return "x-mcp-header names a header twice";
	if (s->n == DECLS_MAX || depth > DEPTH_MAX)
		return "too many x-mcp-header declarations, or too deep";
	d = &s->d[s->n];
	if (!(d->header = strdup(h)))
		return "out of memory";
	for (size_t i = 0; i < depth; i++) {
		if (!(d->path[i] = strdup(s->path[i]))) {
			decl_clear(d);
			return "out of memory";
		}
		d->depth = i + 1;
	}
	s->n++;
	return NULL;
}

static const char *visit(struct scan *s, const json_t *node, size_t depth,
                         bool reachable);

/* Each branch of a keyword under which declarations are not allowed: an
 * array of schemas, an object of them, or one. */
static const char *visit_unreachable(struct scan *s, const char *kw,
                                     const json_t *sub, size_t depth)
{
	bool named = !strcmp(kw, "patternProperties") ||
	             !strcmp(kw, "dependentSchemas") || !strcmp(kw, "$defs") ||
	             !strcmp(kw, "definitions");
	const char *fault = NULL;

	if (json_is_array(sub)) {
		for (size_t i = 0; i < json_array_size(sub) && !fault; i++)
			fault = visit(s, json_array_get(sub, i), depth, false);
	} else if (json_is_object(sub) && named) {
		for (void *it = json_object_iter((json_t *)sub); it && !fault;
		     it = json_object_iter_next((json_t *)sub, it))
			fault = visit(s, json_object_iter_value(it), depth,
			              false);
	} else {
		fault = visit(s, sub, depth, false);
	}
	return fault;
}

static const char *visit(struct scan *s, const json_t *node, size_t depth,
                         bool reachable)
{
	json_t *props = json_object_get(node, "properties");
	const char *fault = NULL;

	if (!json_is_object(node) || depth > VISIT_MAX)
		return NULL;
	if (json_object_get(node, "x-mcp-header")) {
		if (!reachable || depth == 0)
			return "x-mcp-header outside a chain of properties";
		if ((fault = declare(s, node, depth)))
			return fault;
	}
	for (void *it = json_is_object(props) ? json_object_iter(props) : NULL;
	     it && !fault; it = json_object_iter_next(props, it)) {
		if (depth < DEPTH_MAX)
			s->path[depth] = json_object_iter_key(it);
		fault = visit(s, json_object_iter_value(it), depth + 1,
		              reachable);
	}
	for (size_t k = 0;
	     k < sizeof(unreachable) / sizeof(unreachable[0]) && !fault; k++) {
		const json_t *sub = json_object_get(node, unreachable[k]);

		if (sub)
			fault = visit_unreachable(s, unreachable[k], sub,
			                          depth + 1);
	}
	return fault;
}

static struct tool *find(const struct proxy_params *pp, const char *name)
{
	for (size_t i = 0; pp && i < pp->n; i++)
		if (strcmp(pp->tools[i].name, name) == 0)
			return &pp->tools[i];
	return NULL;
}

static void forget_invalid(struct proxy_params *pp)
{
	for (size_t i = 0; i < pp->ninvalid; i++)
		free(pp->invalid[i]);
	free(pp->invalid);
	pp->invalid = NULL;
	pp->ninvalid = 0;
}

/* One tool of a tools/list result. */
static void learn_tool(struct proxy *p, const json_t *t)
{
	struct proxy_params *pp = p->params;
	const char *name = json_string_value(json_object_get(t, "name"));
	struct scan s = { 0 };
	const char *fault;
	struct tool *tool;

	if (!name)
		return;
	fault = visit(&s, json_object_get(t, "inputSchema"), 0, true);
	tool = find(pp, name);
	if (!tool && pp->n == pp->cap && pp->cap < TOOLS_MAX) {
		size_t ncap = pp->cap ? pp->cap * 2 : 16;
		struct tool *nt = realloc(pp->tools, ncap * sizeof(*nt));

		if (nt) {
			pp->tools = nt;
			pp->cap = ncap;
		}
	}
	if (!tool && pp->n < pp->cap) {
		tool = &pp->tools[pp->n];
		memset(tool, 0, sizeof(*tool));
		if ((tool->name = strdup(name)))
			pp->n++;
		else
			tool = NULL;
	}
	if (tool) {
		for (size_t i = 0; i < tool->ndecls; i++)
			decl_clear(&tool->decls[i]);
		memcpy(tool->decls, s.d, sizeof(s.d));
		tool->ndecls = fault ? 0 : s.n;
		tool->invalid = fault != NULL;
		if (fault)
			for (size_t i = 0; i < s.n; i++)
				decl_clear(&tool->decls[i]);
	} else {
		for (size_t i = 0; i < s.n; i++)
			decl_clear(&s.d[i]);
	}
	if (fault) {
		char **n = realloc(pp->invalid,
		                   (pp->ninvalid + 1) * sizeof(*pp->invalid));

		if (n) {
			pp->invalid = n;
			if ((n[pp->ninvalid] = strdup(name)))
				pp->ninvalid++;
		}
		char shown[65];
		size_t k = 0;

		/* The server's text on our stderr: printable only. */
		for (; k < sizeof(shown) - 1 && name[k]; k++)
			shown[k] = name[k] >= 0x20 && name[k] < 0x7f ? name[k] :
			                                               '?';
		shown[k] = '\0';
		cli_msg(p->cli, NULL, "tool %s left out of tools/list: %s",
		        shown, fault);
	}
}

size_t proxy_params_learn(struct proxy *p, const json_t *result)
{
	const json_t *tools = json_object_get(result, "tools");

	if (!p->params && !(p->params = calloc(1, sizeof(*p->params))))
		return 0;
	forget_invalid(p->params);
	for (size_t i = 0; i < json_array_size(tools); i++)
		learn_tool(p, json_array_get(tools, i));
	return p->params->ninvalid;
}

static bool is_invalid(const struct proxy_params *pp, const kw_jdoc *doc,
                       const struct kw_jnode *e)
{
	const struct kw_jnode *n = kw_jspan_member(doc, e, "name");

	for (size_t i = 0; n && i < pp->ninvalid; i++)
		if (kw_jspan_string_eq(doc, n, pp->invalid[i]))
			return true;
	return false;
}

int proxy_params_filter(const struct proxy *p, const char *data, size_t len,
                        char **ret, size_t *ret_len)
{
	const struct proxy_params *pp = p->params;
	kw_jdoc *doc = NULL;
	const struct kw_jnode *tools;
	struct kw_jspan_edit edit;
	char why[96], *arr = NULL;
	size_t alen = 1;
	int r;

	if (!pp || pp->ninvalid == 0)
		return 0;
	if ((r = kw_jspan_parse(data, len, 0, &doc, why, sizeof(why))) < 0)
		return r;
	tools = kw_jspan_member(doc,
	                        kw_jspan_member(doc, &doc->nodes[0], "result"),
	                        "tools");
	if (!tools || tools->type != KW_JARRAY) {
		kw_jspan_free(doc);
		return 0;
	}
	/* The array again with the kept elements, each byte for byte. */
	arr = kw_wipealloc(tools->end - tools->start + 2);
	if (!arr) {
		kw_jspan_free(doc);
		return KW_ENOMEM;
	}
	arr[0] = '[';
	for (const struct kw_jnode *e = kw_jspan_first(doc, tools); e;
	     e = kw_jspan_next(doc, e)) {
		if (is_invalid(pp, doc, e))
			continue;
		if (alen > 1)
			arr[alen++] = ',';
		memcpy(arr + alen, data + e->start, e->end - e->start);
		alen += e->end - e->start;
	}
	arr[alen++] = ']';
	edit = (struct kw_jspan_edit){ tools->start, tools->end, arr, alen };
	r = kw_jspan_apply(data, len, &edit, 1, ret, ret_len);
	kw_wipefree(arr);
	kw_jspan_free(doc);
	return r < 0 ? r : 1;
}

/* A primitive argument as the SDK writes it; false to send none. */
static bool value_text(const json_t *v, char *buf, size_t sz)
{
	if (json_is_string(v)) {
		return false; /* taken as it is by the caller */
	} else if (json_is_true(v) || json_is_false(v)) {
		snprintf(buf, sz, "%s", json_is_true(v) ? "true" : "false");
	} else if (json_is_integer(v)) {
		snprintf(buf, sz, "%lld", (long long)json_integer_value(v));
	} else if (json_is_real(v)) {
		double d = json_real_value(v);

		if (!isfinite(d))
			return false;
		if (d == floor(d) && fabs(d) <= 9007199254740991.0) {
			snprintf(buf, sz, "%.0f", d);
		} else {
			/* The shortest text that reads back as d. */
			for (int prec = 15; prec <= 17; prec++) {
				snprintf(buf, sz, "%.*g", prec, d);
				if (strtod(buf, NULL) == d)
					break;
			}
		}
	} else {
		return false;
	}
	return true;
}

int proxy_params_headers(const struct proxy *p, const struct pmsg *m,
                         struct curl_slist **list)
{
	const json_t *params = json_object_get(m->doc, "params");
	const char *name = json_string_value(json_object_get(params, "name"));
	const json_t *args = json_object_get(params, "arguments");
	const struct tool *t;

	if (!m->version || strcmp(m->method, "tools/call") != 0 || !name ||
	    !(t = find(p->params, name)))
		return 0;
	for (size_t i = 0; i < t->ndecls; i++) {
		const struct decl *d = &t->decls[i];
		const json_t *v = args;
		char num[64], *enc, *line;
		size_t n;

		for (size_t k = 0; k < d->depth && v; k++)
			v = json_is_object(v) ? json_object_get(v, d->path[k]) :
			                        NULL;
		if (!v || json_is_null(v))
			continue;
		if (json_is_string(v))
			enc = pmsg_encode_value(json_string_value(v),
			                        json_string_length(v));
		else if (value_text(v, num, sizeof(num)))
			enc = pmsg_encode_value(num, strlen(num));
		else
			continue;
		if (!enc)
			return KW_ENOMEM;
		n = strlen("Mcp-Param-: ") + strlen(d->header) + strlen(enc) +
		    1;
		line = n <= PROXY_HDR_LINE_MAX ? kw_wipealloc(n) : NULL;
		if (line) {
			struct curl_slist *l;

			snprintf(line, n, "Mcp-Param-%s: %s", d->header, enc);
			l = curl_slist_append(*list, line);
			kw_wipefree(line);
			if (l)
				*list = l;
			else
				n = 0;
		}
		free(enc);
		if (n == 0)
			return KW_ENOMEM;
	}
	return 0;
}

void proxy_params_free(struct proxy *p)
{
	struct proxy_params *pp = p->params;

	if (!pp)
		return;
	for (size_t i = 0; pp->tools && i < pp->n; i++) {
		for (size_t k = 0; k < pp->tools[i].ndecls; k++)
			decl_clear(&pp->tools[i].decls[k]);
		free(pp->tools[i].name);
	}
	forget_invalid(pp);
	free(pp->tools);
	free(pp);
	p->params = NULL;
}
