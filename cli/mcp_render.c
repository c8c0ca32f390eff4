/*
 * mcp_render.c - the rewrite of `keyward mcp import` and the redacted
 * views of `--dry-run` (mcp.h): a list of span edits on the original text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyward.h"
#include "mcp.h"
#include "secmem.h"

static const char redacted[] = "\"<redacted>\"";

/* Edits and the buffers their replacements live in. */
struct edits {
	struct kw_jspan_edit *e;
	size_t n;
	char **bufs;
	size_t nbufs;
};

static void edits_free(struct edits *ed)
{
	for (size_t i = 0; i < ed->nbufs; i++)
		kw_wipefree(ed->bufs[i]);
	free(ed->bufs);
	free(ed->e);
}

/* Add an edit; own (NULL, or the kw_wipealloc buffer repl points into)
 * becomes ed's, also on failure. */
static int edit_add(struct edits *ed, size_t start, size_t end,
                    const char *repl, size_t len, char *own)
{
	if (own) {
		char **b = realloc(ed->bufs, (ed->nbufs + 1) * sizeof(*b));
		if (!b) {
			kw_wipefree(own);
			return KW_ENOMEM;
		}
		ed->bufs = b;
		ed->bufs[ed->nbufs++] = own;
	}
	struct kw_jspan_edit *e = realloc(ed->e, (ed->n + 1) * sizeof(*e));
	if (!e)
		return KW_ENOMEM;
	ed->e = e;
	ed->e[ed->n++] = (struct kw_jspan_edit){ start, end, repl, len };
	return 0;
}

/* A growing kw_wipealloc string. */
struct sbuf {
	char *s;
	size_t len, cap;
	bool oom;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *p = kw_wipealloc(cap);
		if (!p) {
			b->oom = true;
			return;
		}
		if (b->s)
			memcpy(p, b->s, b->len);
		kw_wipefree(b->s);
		b->s = p;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

/* Append s quoted as a JSON string. */
static void sb_quoted(struct sbuf *b, const char *s)
{
	char *q;
	size_t n;
	if (kw_jspan_quote(s, strlen(s), &q, &n) != 0) {
		b->oom = true;
		return;
	}
	sb_add(b, q, n);
	kw_wipefree(q);
}

/* Offset of the start of the line holding off. */
static size_t line_start(const char *t, size_t off)
{
	while (off > 0 && t[off - 1] != '\n')
		off--;
	return off;
}

/* t[a, b) is only blanks. */
static bool blanks(const char *t, size_t a, size_t b)
{
	for (size_t i = a; i < b; i++)
		if (t[i] != ' ' && t[i] != '\t')
			return false;
	return true;
}

/* The new elements of "args", each as JSON text, separated by '\n' in
 * one buffer (no element contains a raw newline). */
static int new_elements(const struct mcp_config *cfg,
                        const struct mcp_server *s,
                        const struct mcp_render_opts *o, const char *token_file,
                        struct sbuf *b, char *why, size_t whysz)
{
	const kw_jdoc *doc = cfg->doc;
	const char *t = doc->text;
	const char *prefix = o->prefix;

	if (o->socket) {
		sb_str(b, "\"--socket\"\n");
		sb_quoted(b, o->socket);
		sb_str(b, "\n");
	}
	sb_str(b, "\"run\"");
	if (token_file) {
		sb_str(b, "\n\"--token-file\"\n");
		sb_quoted(b, token_file);
	}
	for (size_t i = 0; i < s->nenv_creds; i++) {
		char name[KW_NAME_MAX + 1], *pair;
		const char *rule;
		const char *var = s->creds[i].var;
		if (!mcp_env_name_ok(var) ||
		    mcp_secret_name(prefix, s->name, var, name, sizeof(name),
		                    &rule) != 0) {
			snprintf(why, whysz,
			         "a variable of this server cannot "
			         "be passed by keyward run");
			return KW_EINVAL;
		}
		if (asprintf(&pair, "%s=%s", var, name) < 0)
			return KW_ENOMEM;
		sb_str(b, "\n\"--env\"\n");
		sb_quoted(b, pair);
		free(pair);
	}
	sb_str(b, "\n\"--\"\n");
	sb_add(b, t + s->command->start, s->command->end - s->command->start);
	if (s->args) {
		for (const struct kw_jnode *e = kw_jspan_first(doc, s->args); e;
		     e = kw_jspan_next(doc, e)) {
			sb_str(b, "\n");
			sb_add(b, t + e->start, e->end - e->start);
		}
	}
	return b->oom ? KW_ENOMEM : 0;
}

/* Lay elements (from new_elements) out like the old array: one element a
 * line at the old indentation, with its line ends (LF or CRLF), if it
 * spanned lines, else on one line with its separator. */
static int layout_args(const kw_jdoc *doc, const struct kw_jnode *old,
                       const char *elems, struct sbuf *out)
{
	const char *t = doc->text;
	const struct kw_jnode *e0 = old ? kw_jspan_first(doc, old) : NULL;
	bool multi = e0 && memchr(t + old->start, '\n', old->end - old->start);
	bool crlf = multi &&
	            memmem(t + old->start, old->end - old->start, "\r\n", 2);
	const char *sep = ", ", *eol = crlf ? "\r\n" : "\n";
	char indent[128] = "", close[sizeof(indent) - 2] = "";

	if (multi) {
		size_t ls = line_start(t, e0->start);
		if (blanks(t, ls, e0->start) && e0->start - ls < sizeof(indent))
			memcpy(indent, t + ls, e0->start - ls);
		size_t ce = old->end - 1, cs = line_start(t, ce);
		if (blanks(t, cs, ce) && ce - cs < sizeof(close))
			memcpy(close, t + cs, ce - cs);
		if (!indent[0])
			snprintf(indent, sizeof(indent), "%s  ", close);
		sep = crlf ? ",\r\n" : ",\n";
	} else if (e0 && kw_jspan_next(doc, e0)) {
		const struct kw_jnode *e1 = kw_jspan_next(doc, e0);
		if (e1->start - e0->end == 1 && t[e0->end] == ',')
			sep = ",";
	}
	sb_str(out, "[");
	if (multi)
		sb_str(out, eol);
	for (const char *p = elems; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		if (p != elems)
			sb_str(out, sep);
		sb_str(out, indent);
		sb_add(out, p, n);
		p += n + (nl != NULL);
	}
	if (multi) {
		sb_str(out, eol);
		sb_str(out, close);
	}
	sb_str(out, "]");
	return out->oom ? KW_ENOMEM : 0;
}

/* The new "args": replacing the old array, or inserted after "command". */
static int edit_args(const struct mcp_config *cfg, const struct mcp_server *s,
                     const struct mcp_render_opts *o, const char *token_file,
                     struct edits *ed, char *why, size_t whysz)
{
	const kw_jdoc *doc = cfg->doc;
	struct sbuf elems = { 0 }, arr = { 0 };
	int r;

	if (s->args && s->args->type != KW_JARRAY) {
		snprintf(why, whysz, "\"args\" is not an array");
		return KW_EINVAL;
	}
	r = new_elements(cfg, s, o, token_file, &elems, why, whysz);
	if (r == 0 && !s->args) {
		/* "command": "x", "args": [...] on its line, or after it. */
		const char *t = doc->text;
		size_t ks = s->command->key_start, ls = line_start(t, ks);
		size_t os = s->node->start;
		bool own_line = blanks(t, ls, ks) && ls > os;
		bool crlf = ls >= 2 && t[ls - 2] == '\r';
		sb_str(&arr, !own_line ? ", " : crlf ? ",\r\n" : ",\n");
		if (own_line)
			sb_add(&arr, t + ls, ks - ls);
		sb_str(&arr, "\"args\": ");
	}
	if (r == 0)
		r = layout_args(doc, s->args, elems.s ? elems.s : "", &arr);
	kw_wipefree(elems.s);
	if (r) {
		kw_wipefree(arr.s);
		return r;
	}
	size_t at = s->args ? s->args->start : s->command->end;
	size_t end = s->args ? s->args->end : s->command->end;
	return edit_add(ed, at, end, arr.s, arr.len, arr.s);
}

static bool is_removed(const struct mcp_server *s, const struct kw_jnode *n)
{
	for (size_t i = 0; i < s->nenv_creds; i++)
		if (s->creds[i].node == n)
			return true;
	return false;
}

/*
 * Take the credentials out of "env": a member before the last kept one
 * goes with everything up to the next member's key; those after it go
 * with the span from the end of the last kept value. An env left empty
 * becomes {}.
 */
static int edit_env(const kw_jdoc *doc, const struct mcp_server *s,
                    struct edits *ed)
{
	const struct kw_jnode *last_kept = NULL, *last = NULL;
	int r;

	for (const struct kw_jnode *m = kw_jspan_first(doc, s->env); m;
	     m = kw_jspan_next(doc, m)) {
		if (!is_removed(s, m))
			last_kept = m;
		last = m;
	}
	if (!last_kept)
		return edit_add(ed, s->env->start, s->env->end, "{}", 2, NULL);
	for (const struct kw_jnode *m = kw_jspan_first(doc, s->env);
	     m != last_kept; m = kw_jspan_next(doc, m)) {
		const struct kw_jnode *next = kw_jspan_next(doc, m);
		if (is_removed(s, m) &&
		    (r = edit_add(ed, m->key_start, next->key_start, "", 0,
		                  NULL)))
			return r;
	}
	if (last != last_kept)
		return edit_add(ed, last_kept->end, last->end, "", 0, NULL);
	return 0;
}

/* Is the URL's host loopback or private (keyward mcp proxy then needs
 * --allow-private)? By its text: a name that resolves to such an
 * address is found out by the proxy, which refuses it and says so. */
static bool private_host(const char *url)
{
	const char *h = strstr(url, "://");
	char host[256];

	if (!h)
		return false;
	h += 3;
	size_t n = strcspn(h, "/?#");
	if (h[0] == '[') {
		size_t e = strcspn(h, "]");
		n = e < n ? e + 1 : n;
	} else {
		n = strcspn(h, ":/?#");
	}
	if (n == 0 || n >= sizeof(host))
		return false;
	memcpy(host, h, n);
	host[n] = '\0';
	unsigned a, b;
	if (sscanf(host, "%u.%u.", &a, &b) == 2)
		return a == 127 || a == 10 || (a == 192 && b == 168) ||
		       (a == 172 && b >= 16 && b <= 31) ||
		       (a == 169 && b == 254);
	return strcmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0 ||
	       (strlen(host) > 10 &&
	        strcmp(host + strlen(host) - 10, ".localhost") == 0);
}

/* The proxy's args for remote server s, as one JSON array on a line. */
static int proxy_args(const struct mcp_config *cfg, const struct mcp_server *s,
                      const struct mcp_render_opts *o, struct sbuf *b,
                      char *why, size_t whysz)
{
	const kw_jdoc *doc = cfg->doc;
	char *url = NULL, *text = NULL, *key = NULL;
	size_t len;
	int r;

	if ((r = kw_jspan_string(doc, s->url, false, &url, &len)))
		return r;
	sb_str(b, "[");
	if (o->socket) {
		sb_str(b, "\"--socket\", ");
		sb_quoted(b, o->socket);
		sb_str(b, ", ");
	}
	sb_str(b, "\"mcp\", \"proxy\", ");
	sb_quoted(b, url);
	for (const struct kw_jnode *h = kw_jspan_first(doc, s->headers);
	     h && r == 0; h = kw_jspan_next(doc, h)) {
		char name[KW_NAME_MAX + 1];
		const char *rule;
		bool cred = false;
		if (h->type != KW_JSTRING)
			continue;
		for (size_t k = s->move_first; k < s->move_end; k++)
			cred = cred || s->creds[k].node == h;
		if ((r = kw_jspan_string(doc, h, true, &key, &len)))
			break;
		if (cred) {
			if (mcp_secret_name(o->prefix, s->name, key, name,
			                    sizeof(name), &rule) != 0) {
				snprintf(why, whysz,
				         "a header of this server has no "
				         "usable secret name: %s",
				         rule);
				r = KW_EINVAL;
			} else if (asprintf(&text, "%s: {{keyward://%s}}", key,
			                    name) < 0) {
				text = NULL;
				r = KW_ENOMEM;
			}
		} else {
			char *value = NULL;
			r = kw_jspan_string(doc, h, false, &value, &len);
			if (r == 0 &&
			    asprintf(&text, "%s: %s", key, value) < 0) {
				text = NULL;
				r = KW_ENOMEM;
			}
			kw_wipefree(value);
		}
		kw_wipefree(key);
		key = NULL;
		if (r == 0) {
			sb_str(b, ", \"--header\", ");
			sb_quoted(b, text);
		}
		free(text);
		text = NULL;
	}
	if (r == 0 && strncmp(url, "http://", 7) == 0)
		sb_str(b, ", \"--allow-insecure\"");
	if (r == 0 && private_host(url))
		sb_str(b, ", \"--allow-private\"");
	sb_str(b, "]");
	kw_wipefree(url);
	return r ? r : b->oom ? KW_ENOMEM : 0;
}

/* The members around m in its object: the one before (NULL if first) and
 * after (NULL if last). */
static void neighbours(const kw_jdoc *doc, const struct kw_jnode *obj,
                       const struct kw_jnode *m,
                       const struct kw_jnode **ret_prev,
                       const struct kw_jnode **ret_next)
{
	const struct kw_jnode *prev = NULL;
	for (const struct kw_jnode *e = kw_jspan_first(doc, obj); e;
	     e = kw_jspan_next(doc, e)) {
		if (e == m) {
			*ret_prev = prev;
			*ret_next = kw_jspan_next(doc, e);
			return;
		}
		prev = e;
	}
	*ret_prev = *ret_next = NULL;
}

/* A remote server to be launched through keyward mcp proxy: the URL
 * member becomes "command" and "args", "headers" goes, "type" becomes
 * "stdio". */
static int edit_remote(const struct mcp_config *cfg, const struct mcp_server *s,
                       const struct mcp_render_opts *o, struct edits *ed,
                       char *why, size_t whysz)
{
	const kw_jdoc *doc = cfg->doc;
	const struct kw_jnode *prev, *next;
	struct sbuf b = { 0 };
	int r;

	sb_str(&b, "\"command\": ");
	sb_quoted(&b, o->exe);
	sb_str(&b, ", \"args\": ");
	if ((r = proxy_args(cfg, s, o, &b, why, whysz)) ||
	    (r = b.oom ? KW_ENOMEM : 0)) {
		kw_wipefree(b.s);
		return r;
	}
	if ((r = edit_add(ed, s->url->key_start, s->url->end, b.s, b.len, b.s)))
		return r;
	if (s->type && (r = edit_add(ed, s->type->start, s->type->end,
	                             "\"stdio\"", 7, NULL)))
		return r;
	neighbours(doc, s->node, s->headers, &prev, &next);
	if (next)
		return edit_add(ed, s->headers->key_start, next->key_start, "",
		                0, NULL);
	if (prev)
		return edit_add(ed, prev->end, s->headers->end, "", 0, NULL);
	return edit_add(ed, s->headers->key_start, s->headers->end, "", 0,
	                NULL);
}

static int edit_server(const struct mcp_config *cfg, size_t i,
                       const struct mcp_render_opts *o, struct edits *ed,
                       char *why, size_t whysz)
{
	const struct mcp_server *s = &cfg->servers[i];
	char *cmd;
	size_t len;
	int r;

	if (s->proxyable)
		return edit_remote(cfg, s, o, ed, why, whysz);
	if (!mcp_server_importable(s)) {
		snprintf(why, whysz, "this server cannot be imported");
		return KW_EINVAL;
	}
	if ((r = kw_jspan_quote(o->exe, strlen(o->exe), &cmd, &len)))
		return r;
	if ((r = edit_add(ed, s->command->start, s->command->end, cmd, len,
	                  cmd)))
		return r;
	r = edit_args(cfg, s, o, o->token_files ? o->token_files[i] : NULL, ed,
	              why, whysz);
	return r ? r : edit_env(cfg->doc, s, ed);
}

int mcp_render(const struct mcp_config *cfg, const bool *sel,
               const struct mcp_render_opts *opts, char **ret_text,
               size_t *ret_len, char *why, size_t whysz)
{
	struct edits ed = { 0 };
	int r = 0;

	why[0] = '\0';
	for (size_t i = 0; i < cfg->nservers && r == 0; i++) {
		const struct mcp_server *s = &cfg->servers[i];
		bool moved = opts->rewrite && sel[i];
		if (moved)
			r = edit_server(cfg, i, opts, &ed, why, whysz);
		for (size_t k = 0; k < s->ncreds && r == 0 && opts->redact;
		     k++) {
			const struct kw_jnode *n = s->creds[k].node;
			if (!(moved && k >= s->move_first && k < s->move_end))
				r = edit_add(&ed, n->start, n->end, redacted,
				             sizeof(redacted) - 1, NULL);
		}
	}
	if (r == 0)
		r = kw_jspan_apply(cfg->doc->text, cfg->doc->len, ed.e, ed.n,
		                   ret_text, ret_len);
	if (r == KW_EINVAL && why[0] == '\0')
		snprintf(why, whysz, "the edits overlap");
	edits_free(&ed);
	return r;
}
