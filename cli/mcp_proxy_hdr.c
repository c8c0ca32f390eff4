/*
 * mcp_proxy_hdr.c - the --header options of keyward mcp proxy: static
 * headers whose values may name secrets as {{ keyward://REF }} (the
 * syntax of `keyward inject`, common/tmpl.h). Every reference is fetched
 * at start and again after each rotation of its secret (secret.watch on
 * the same connection); until new values are fetched the old ones stay.
 *
 * Values live in wiped memory, and reach nothing but the request headers:
 * not argv, not the environment, not a message. Header lines go to
 * libcurl, which copies them; the lists are wiped before they are freed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "mask.h"
#include "mcp_proxy.h"
#include "secmem.h"

#define RETRY_MS       5000
#define REFRESH_MIN_MS 5000 /* between fetches after a 401 */
#define REFS_PER_HDR   16u
#define NAME_MAX_LEN   128u
#define REDACTED       "<redacted>"

/* Headers the proxy sets itself, or that describe the transfer. */
static const char *const reserved[] = {
	"accept",
	"connection",
	"content-length",
	"content-type",
	"expect",
	"host",
	"last-event-id",
	"mcp-method",
	"mcp-name",
	"mcp-protocol-version",
	"mcp-session-id",
	"te",
	"transfer-encoding",
	"upgrade",
};

static bool token_char(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || strchr("!#$%&'*+-.^_`|~", c);
}

static bool name_ok(const char *n, size_t len)
{
	if (len == 0 || len > NAME_MAX_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!token_char((unsigned char)n[i]))
			return false;
	return true;
}

static bool name_reserved(const char *n)
{
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (strcasecmp(n, reserved[i]) == 0)
			return true;
	return strncasecmp(n, "mcp-param-", 10) == 0;
}

/* Bytes a header value may hold: visible ASCII, blanks, and (as RFC
 * 9110's obs-text) bytes from 0x80. */
static bool value_bytes_ok(const char *v, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return false;
	}
	return true;
}

int proxy_headers_add(struct proxy_headers *hs, const char *arg, char *why,
                      size_t whysz)
{
	const char *colon = strchr(arg, ':');
	struct proxy_header *h;
	size_t nlen, vlen;
	const char *v;
	int r;

	if (hs->n == PROXY_HEADERS_MAX) {
		snprintf(why, whysz, "at most %u --header options",
		         PROXY_HEADERS_MAX);
		return KW_ELIMIT;
	}
	nlen = colon ? (size_t)(colon - arg) : 0;
	if (!colon || !name_ok(arg, nlen)) {
		snprintf(why, whysz,
		         "--header wants 'Name: value', the name an HTTP "
		         "token of 1 to %u bytes",
		         NAME_MAX_LEN);
		return KW_EINVAL;
	}
	h = &hs->h[hs->n];
	h->name = strndup(arg, nlen);
	if (!h->name)
		return KW_ENOMEM;
	for (size_t i = 0; i < hs->n; i++)
		if (strcasecmp(hs->h[i].name, h->name) == 0) {
			snprintf(why, whysz, "--header %s: given twice",
			         h->name);
			goto bad;
		}
	if (name_reserved(h->name)) {
		snprintf(why, whysz,
		         "--header %s: the proxy sets this header itself",
		         h->name);
		goto bad;
	}
	v = colon + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	vlen = strlen(v);
	while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	if (vlen == 0 || !value_bytes_ok(v, vlen)) {
		snprintf(why, whysz,
		         "--header %s: the value must be non-empty, without "
		         "control characters",
		         h->name);
		goto bad;
	}
	h->text = strndup(v, vlen);
	if (!h->text)
		goto nomem;
	r = kw_tmpl_parse(h->text, vlen, &h->t, why, whysz);
	if (r == KW_ENOMEM)
		goto nomem;
	if (r < 0) {
		/* tmpl's reason names a line; a header has one. */
		char inner[200];

		snprintf(inner, sizeof(inner), "%s", why);
		snprintf(why, whysz, "--header %s: %s", h->name,
		         strncmp(inner, "line 1: ", 8) == 0 ? inner + 8 :
		                                              inner);
		goto bad;
	}
	if (h->t->nrefs > REFS_PER_HDR) {
		snprintf(why, whysz, "--header %s: at most %u references",
		         h->name, REFS_PER_HDR);
		goto bad;
	}
	hs->nrefs += h->t->nrefs;
	hs->n++;
	return 0;
nomem:
	snprintf(why, whysz, "out of memory");
	r = KW_ENOMEM;
	goto undo;
bad:
	r = KW_EINVAL;
undo:
	kw_tmpl_free(h->t);
	free(h->text);
	free(h->name);
	memset(h, 0, sizeof(*h));
	return r;
}

static void vals_free(struct cli_value *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cli_value_free(&v[i]);
	free(v);
}

/* Append n bytes to a wiped line buffer of PROXY_HDR_LINE_MAX + 1. */
static bool put(char *line, size_t *len, const void *p, size_t n)
{
	if (n > PROXY_HDR_LINE_MAX - *len)
		return false;
	memcpy(line + *len, p, n);
	*len += n;
	line[*len] = '\0';
	return true;
}

/*
 * Fetch every reference and build every line, all or nothing: on success
 * the new lines and values replace the old. Prints what failed; 0 or the
 * KW_E* code (KW_EINVAL for a value that cannot be a header).
 */
static int resolve(struct cli *cli, struct proxy_headers *hs)
{
	char *lines[PROXY_HEADERS_MAX] = { 0 };
	size_t lens[PROXY_HEADERS_MAX] = { 0 };
	struct cli_value *nv = calloc(hs->nrefs ? hs->nrefs : 1, sizeof(*nv));
	size_t n = 0;
	int r = nv ? 0 : KW_ENOMEM;

	for (size_t i = 0; i < hs->n && r == 0; i++) {
		const struct proxy_header *h = &hs->h[i];
		size_t len = 0;

		lines[i] = kw_wipealloc(PROXY_HDR_LINE_MAX + 1);
		if (!lines[i]) {
			r = KW_ENOMEM;
			break;
		}
		bool ok = put(lines[i], &len, h->name, strlen(h->name)) &&
		          put(lines[i], &len, ": ", 2);
		for (size_t k = 0; k < h->t->count && ok && r == 0; k++) {
			const struct kw_tmpl_part *part = &h->t->parts[k];
			struct cli_value *v = &nv[n];

			if (!part->is_ref) {
				ok = put(lines[i], &len, h->text + part->off,
				         part->len);
				continue;
			}
			r = cli_secref_fetch(hs->c, &part->ref, NULL, v);
			if (r < 0) {
				cli_msg(cli, part->ref.name, "--header %s: %s",
				        h->name,
				        kw_last_error_message(hs->c)[0] ?
				                kw_last_error_message(hs->c) :
				                kw_strerror(r));
				break;
			}
			n++;
			if (!value_bytes_ok((const char *)v->data, v->len)) {
				cli_msg(cli, part->ref.name,
				        "--header %s: the value holds a line "
				        "break or another control byte, which "
				        "an HTTP header cannot carry (use "
				        ":base64)",
				        h->name);
				r = KW_EINVAL;
				break;
			}
			ok = put(lines[i], &len, v->data, v->len);
		}
		if (r == 0 && !ok) {
			cli_msg(cli, NULL, "--header %s: longer than %u bytes",
			        h->name, PROXY_HDR_LINE_MAX);
			r = KW_ETOOBIG;
		}
		lens[i] = len;
	}
	if (r < 0) {
		for (size_t i = 0; i < hs->n; i++)
			kw_wipefree(lines[i]);
		vals_free(nv, n);
		return r;
	}
	for (size_t i = 0; i < hs->n; i++) {
		const struct proxy_header *h = &hs->h[i];

		if (!h->line || h->line_len != lens[i] ||
		    sodium_memcmp(h->line, lines[i], lens[i]) != 0)
			hs->generation++;
		kw_wipefree(hs->h[i].line);
		hs->h[i].line = lines[i];
		hs->h[i].line_len = lens[i];
	}
	vals_free(hs->vals, hs->nvals);
	hs->vals = nv;
	hs->nvals = n;
	return 0;
}

static void on_rotated(const char *name, uint64_t version, void *arg)
{
	struct proxy_headers *hs = arg;

	(void)version;
	for (size_t i = 0; i < hs->n; i++)
		for (size_t k = 0; k < hs->h[i].t->count; k++) {
			const struct kw_tmpl_part *part = &hs->h[i].t->parts[k];

			if (part->is_ref && !part->ref.version &&
			    strcmp(part->ref.name, name) == 0)
				hs->stale = true;
		}
}

/* Watch each referenced name that is not pinned to a version, once; all
 * of them ("**", filtered by on_rotated) past KW_WATCH_MAX. */
static int watch(struct proxy_headers *hs)
{
	const char *names[REFS_PER_HDR * PROXY_HEADERS_MAX];
	size_t n = 0;
	int r = 0;

	for (size_t i = 0; i < hs->n; i++)
		for (size_t k = 0; k < hs->h[i].t->count; k++) {
			const struct kw_tmpl_part *part = &hs->h[i].t->parts[k];
			bool seen = false;

			if (!part->is_ref || part->ref.version)
				continue;
			for (size_t j = 0; j < n && !seen; j++)
				seen = strcmp(names[j], part->ref.name) == 0;
			if (!seen)
				names[n++] = part->ref.name;
		}
	if (n > KW_WATCH_MAX)
		return kw_watch(hs->c, "**", on_rotated, hs);
	for (size_t j = 0; j < n && r == 0; j++)
		r = kw_watch(hs->c, names[j], on_rotated, hs);
	return r;
}

int proxy_headers_start(struct cli *cli, struct proxy_headers *hs)
{
	int ex, r;

	if (hs->nrefs > 0) {
		if ((ex = cli_connect(cli, KW_TIMEOUT_DEFAULT_MS, &hs->c)))
			return ex;
	}
	r = resolve(cli, hs);
	if (r == KW_ENOMEM)
		return cli_fail(cli, NULL, NULL, r);
	if (r < 0)
		return r == KW_EINVAL || r == KW_ETOOBIG ? CLI_EXIT_ERROR :
		                                           cli_exit_code(r);
	if (hs->c && (r = watch(hs)) < 0)
		return cli_fail(cli, hs->c, NULL, r);
	return 0;
}

int proxy_headers_fd(const struct proxy_headers *hs)
{
	return hs->c ? kw_fd(hs->c) : -1;
}

void proxy_headers_poll(struct cli *cli, struct proxy_headers *hs,
                        int64_t now_ms)
{
	int n;

	if (!hs->c || (kw_fd(hs->c) < 0 && now_ms < hs->retry_at_ms))
		return;
	/* With the connection gone, this reconnects and watches again. */
	while ((n = kw_watch_dispatch(hs->c, 0)) > 0)
		;
	if (n < 0) {
		cli_msg(cli, NULL,
		        "the agent: %s; header values stay as they are until "
		        "it answers again",
		        kw_strerror(n));
		hs->stale = true; /* rotations may have been missed */
		hs->retry_at_ms = now_ms + RETRY_MS;
		return;
	}
	if (!hs->stale || now_ms < hs->retry_at_ms)
		return;
	if (resolve(cli, hs) == 0) {
		hs->stale = false;
		hs->retry_at_ms = 0;
		cli_msg(cli, NULL, "header values fetched again");
	} else {
		hs->retry_at_ms = now_ms + RETRY_MS;
	}
}

bool proxy_headers_refresh(struct cli *cli, struct proxy_headers *hs,
                           int64_t now_ms)
{
	unsigned before = hs->generation;

	if (!hs->c || now_ms < hs->refreshed_ms + REFRESH_MIN_MS)
		return false;
	hs->refreshed_ms = now_ms;
	if (resolve(cli, hs) < 0)
		return false;
	hs->stale = false;
	if (hs->generation == before)
		return false;
	cli_msg(cli, NULL, "header values fetched again (they changed)");
	return true;
}

int proxy_headers_append(const struct proxy_headers *hs,
                         struct curl_slist **list)
{
	for (size_t i = 0; i < hs->n; i++) {
		struct curl_slist *l = curl_slist_append(*list, hs->h[i].line);

		if (!l)
			return KW_ENOMEM;
		*list = l;
	}
	return 0;
}

void proxy_headers_redact(const struct proxy_headers *hs, const char *in,
                          size_t n, char *out, size_t outsz)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < outsz;) {
		size_t hit = 0;

		for (size_t k = 0; k < hs->nvals; k++) {
			size_t vl = hs->vals[k].len;

			if (vl >= KW_MASK_MIN_LEN && vl <= n - i && vl > hit &&
			    memcmp(in + i, hs->vals[k].data, vl) == 0)
				hit = vl;
		}
		if (hit) {
			size_t m = strlen(REDACTED);

			if (m > outsz - 1 - o)
				m = outsz - 1 - o;
			memcpy(out + o, REDACTED, m);
			o += m;
			i += hit;
		} else {
			out[o++] = in[i++];
		}
	}
	out[o] = '\0';
}

int proxy_headers_masker(const struct proxy_headers *hs, struct kw_mask **ret)
{
	kw_mask *m = NULL;
	size_t k = 0;
	int r = kw_mask_new(&m);

	/* Values are in header order; label each with its header. */
	for (size_t i = 0; i < hs->n && r == 0; i++)
		for (size_t j = 0;
		     j < hs->h[i].t->nrefs && k < hs->nvals && r == 0;
		     j++, k++) {
			bool added;

			r = kw_mask_add(m, hs->h[i].name, hs->vals[k].data,
			                hs->vals[k].len, &added);
		}
	if (r < 0) {
		kw_mask_free(m);
		return r;
	}
	*ret = m;
	return 0;
}

void proxy_headers_free(struct proxy_headers *hs)
{
	for (size_t i = 0; i < hs->n; i++) {
		kw_wipefree(hs->h[i].line);
		kw_tmpl_free(hs->h[i].t);
		free(hs->h[i].text);
		free(hs->h[i].name);
	}
	vals_free(hs->vals, hs->nvals);
	kw_close(hs->c);
	memset(hs, 0, sizeof(*hs));
}

void proxy_slist_wipefree(struct curl_slist *list)
{
	for (struct curl_slist *l = list; l; l = l->next)
		if (l->data)
			sodium_memzero(l->data, strlen(l->data));
	curl_slist_free_all(list);
}
