/*
 * mcp_proxy_msg.c - what keyward mcp proxy reads from a JSON-RPC message:
 * for a client message, its kind, id and method, and the values the
 * 2026-07-28 Streamable HTTP transport mirrors into headers
 * (MCP-Protocol-Version from params._meta, Mcp-Method, Mcp-Name); for a
 * server message, whether it is a response and to which id. The message
 * itself is never re-serialised: the parse is for reading only. Also the
 * error responses the proxy writes, and the id of a message too long to
 * read whole.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcp_proxy.h"
#include "secmem.h"
#include "wire.h"

#define META_VERSION "io.modelcontextprotocol/protocolVersion"
#define SENTINEL_PRE "=?base64?"
#define SENTINEL_SUF "?="

/* Methods whose Mcp-Name mirrors a member of params (2026-07-28). */
static const struct {
	const char *method, *member;
} name_source[] = {
	{ "tools/call", "name" },     { "prompts/get", "name" },
	{ "resources/read", "uri" },  { "tasks/get", "taskId" },
	{ "tasks/update", "taskId" }, { "tasks/cancel", "taskId" },
};

char *pmsg_error(const json_t *id, int code, const char *message,
                 long http_status)
{
	json_t *err = json_pack("{s:i, s:s}", "code", code, "message", message);
	json_t *msg = NULL;
	char *text = NULL;

	if (err && http_status > 0 &&
	    json_object_set_new(err, "data",
	                        json_pack("{s:I}", "httpStatus",
	                                  (json_int_t)http_status)) < 0)
		goto out;
	msg = json_pack("{s:s, s:O, s:O}", "jsonrpc", "2.0", "id",
	                id ? (json_t *)id : json_null(), "error", err);
	if (msg)
		text = json_dumps(msg, JSON_COMPACT | JSON_ENCODE_ANY);
out:
	json_decref(err);
	json_decref(msg);
	return text;
}

bool pmsg_header_safe(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max || s[0] == ' ' || s[0] == '\t' ||
	    s[n - 1] == ' ' || s[n - 1] == '\t')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c != '\t' && (c < 0x20 || c > 0x7e))
			return false;
	}
	return true;
}

static bool js_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	       c == '\f';
}

/* As the TypeScript SDK decides (encodeMcpParamValue): base64 for an
 * empty value, one with a blank at either end, one outside tab and
 * 0x20-0x7e, and one that looks like the sentinel already. */
static bool needs_base64(const char *s, size_t n)
{
	size_t pre = strlen(SENTINEL_PRE), suf = strlen(SENTINEL_SUF);

	if (n == 0 || js_space((unsigned char)s[0]) ||
	    js_space((unsigned char)s[n - 1]))
		return true;
	if (n >= pre + suf && memcmp(s, SENTINEL_PRE, pre) == 0 &&
	    memcmp(s + n - suf, SENTINEL_SUF, suf) == 0)
		return true;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c != '\t' && (c < 0x20 || c > 0x7e))
			return true;
	}
	return false;
}

char *pmsg_encode_value(const char *s, size_t len)
{
	char *b64 = NULL, *out;
	size_t n;

	if (!needs_base64(s, len))
		return strndup(s, len);
	if (kw_b64_encode((const uint8_t *)s, len, &b64) < 0)
		return NULL;
	n = strlen(SENTINEL_PRE) + strlen(b64) + strlen(SENTINEL_SUF) + 1;
	out = malloc(n);
	if (out)
		snprintf(out, n, "%s%s%s", SENTINEL_PRE, b64, SENTINEL_SUF);
	kw_wipefree(b64);
	return out;
}

static bool id_valid(const json_t *id)
{
	return json_is_string(id) || json_is_integer(id) || json_is_real(id);
}

/* The headers a request mirrors when its _meta claims a version. */
static int mirror(struct pmsg *m, const json_t *params, char *why, size_t whysz)
{
	const json_t *meta = json_object_get(params, "_meta");
	const json_t *v = json_object_get(meta, META_VERSION);

	if (!json_is_string(v))
		return 0;
	m->version = json_string_value(v);
	if (!pmsg_header_safe(m->version, PROXY_VERSION_MAX) ||
	    !pmsg_header_safe(m->method, PROXY_HDR_LINE_MAX / 2)) {
		snprintf(why, whysz,
		         "its protocol version or method cannot be sent as an "
		         "HTTP header");
		return KW_EINVAL;
	}
	for (size_t i = 0; i < sizeof(name_source) / sizeof(name_source[0]);
	     i++) {
		const json_t *src;

		if (strcmp(m->method, name_source[i].method) != 0)
			continue;
		src = json_object_get(params, name_source[i].member);
		if (!json_is_string(src))
			break;
		m->name = pmsg_encode_value(json_string_value(src),
		                            json_string_length(src));
		if (!m->name)
			return KW_ENOMEM;
		if (strlen(m->name) > PROXY_HDR_LINE_MAX / 2) {
			snprintf(why, whysz,
			         "its %s is too long for an HTTP header",
			         name_source[i].member);
			return KW_EINVAL;
		}
		break;
	}
	return 0;
}

/* Sort the message; 0, or KW_EINVAL with why. */
static int classify(struct pmsg *m, char *why, size_t whysz)
{
	const json_t *doc = m->doc, *id = json_object_get(doc, "id");
	const json_t *method = json_object_get(doc, "method");
	const json_t *params = json_object_get(doc, "params");
	const json_t *ver = json_object_get(doc, "jsonrpc");

	if (id_valid(id))
		m->id = (json_t *)id;
	if (!json_is_string(ver) || strcmp(json_string_value(ver), "2.0")) {
		snprintf(why, whysz, "\"jsonrpc\" is not \"2.0\"");
		return KW_EINVAL;
	}
	if (json_is_string(method)) {
		m->method = json_string_value(method);
		if (id && !m->id) {
			snprintf(why, whysz,
			         "the id is not a string or number");
			return KW_EINVAL;
		}
		if (params && !json_is_object(params) &&
		    !json_is_array(params)) {
			snprintf(why, whysz, "params is not an object");
			return KW_EINVAL;
		}
		m->kind = m->id ? PMSG_REQUEST : PMSG_NOTIFICATION;
		m->initialize = m->id && strcmp(m->method, "initialize") == 0;
		m->initialized =
			!m->id &&
			strcmp(m->method, "notifications/initialized") == 0;
		if (!m->id &&
		    strcmp(m->method, "notifications/cancelled") == 0) {
			const json_t *rid =
				json_object_get(params, "requestId");

			if (id_valid(rid))
				m->cancel_id = (json_t *)rid;
		}
		return m->id && json_is_object(params) ?
		               mirror(m, params, why, whysz) :
		               0;
	}
	if (m->id &&
	    (json_object_get(doc, "result") || json_object_get(doc, "error"))) {
		m->kind = PMSG_RESPONSE;
		return 0;
	}
	snprintf(why, whysz,
	         "neither a request, a notification nor a "
	         "response");
	return KW_EINVAL;
}

int pmsg_parse(const char *line, size_t len, struct pmsg **ret,
               char **ret_error, char *why, size_t whysz)
{
	json_error_t jerr;
	struct pmsg *m = calloc(1, sizeof(*m));
	int r;

	*ret_error = NULL;
	if (!m)
		return KW_ENOMEM;
	m->doc = json_loadb(line, len, JSON_ALLOW_NUL | JSON_DECODE_ANY, &jerr);
	if (!m->doc) {
		/* Not jansson's text: it may quote the input. */
		snprintf(why, whysz, "not JSON (line %d, column %d)", jerr.line,
		         jerr.column);
		*ret_error = pmsg_error(NULL, PROXY_ERR_PARSE,
		                        "Parse error: the line is not JSON", 0);
		pmsg_free(m);
		return KW_EPARSE;
	}
	if (json_is_array(m->doc)) {
		snprintf(why, whysz, "a batch");
		*ret_error = pmsg_error(NULL, PROXY_ERR_INVALID,
		                        "keyward mcp proxy: JSON-RPC batches "
		                        "are not passed on (MCP has none since "
		                        "2025-06-18)",
		                        0);
		pmsg_free(m);
		return KW_EINVAL;
	}
	r = json_is_object(m->doc) ? classify(m, why, whysz) : KW_EINVAL;
	if (r == KW_EINVAL && !json_is_object(m->doc))
		snprintf(why, whysz, "not a JSON object");
	if (r == 0) {
		m->body = kw_wipealloc(len + 1);
		if (!m->body)
			r = KW_ENOMEM;
		else {
			memcpy(m->body, line, len);
			m->body[len] = '\0';
			m->len = len;
		}
	}
	if (r < 0) {
		char text[300];

		snprintf(text, sizeof(text),
		         "keyward mcp proxy: invalid request: %s", why);
		/* A response or notification gets no answer. */
		if (r == KW_EINVAL &&
		    (!m->id || !json_object_get(m->doc, "method")))
			*ret_error = m->id ? NULL :
			                     pmsg_error(NULL, PROXY_ERR_INVALID,
			                                text, 0);
		else if (r == KW_EINVAL)
			*ret_error =
				pmsg_error(m->id, PROXY_ERR_INVALID, text, 0);
		pmsg_free(m);
		return r;
	}
	*ret = m;
	return 0;
}

void pmsg_free(struct pmsg *m)
{
	if (!m)
		return;
	kw_wipefree(m->body);
	free(m->name);
	json_decref(m->doc);
	free(m);
}

/* The id of a message too long to read: a small scanner of the top-level
 * object that keeps the raw text of the member "id". */
static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

void pmsg_idscan_feed(struct pmsg_idscan *s, const char *p, size_t n)
{
	for (size_t i = 0; i < n && !s->bad; i++) {
		char c = p[i];
		bool top = s->depth == 1;

		if (!s->started) {
			if (blank(c))
				continue;
			s->started = true;
			s->bad = c != '{';
			s->depth = 1;
			s->state = IDS_KEY;
			continue;
		}
		if (s->capturing) {
			if (s->id_len == 0 && !s->id_long && blank(c))
				continue; /* before the value */
			if (!s->in_str && top &&
			    (c == ',' || c == '}' || blank(c)))
				s->capturing = false; /* and c goes on */
			else if (s->id_len < sizeof(s->id))
				s->id[s->id_len++] = c;
			else
				s->id_long = true;
		}
		if (s->in_str) {
			if (s->esc) {
				s->esc = false;
			} else if (c == '\\') {
				s->esc = true;
			} else if (c == '"') {
				s->in_str = false;
				if (top && s->state == IDS_KEY)
					s->state = IDS_COLON;
			}
			if (s->in_str && top && s->state == IDS_KEY) {
				if (s->key_len < sizeof(s->key) - 1)
					s->key[s->key_len++] = c;
				else
					s->key_long = true;
			}
			continue;
		}
		switch (c) {
		case '"':
			s->in_str = true;
			if (top && s->state == IDS_KEY) {
				s->key_len = 0;
				s->key_long = false;
			}
			break;
		case '{':
		case '[':
			s->depth++;
			break;
		case '}':
		case ']':
			s->depth--;
			break;
		case ':':
			if (!top || s->state != IDS_COLON)
				break;
			s->key[s->key_len] = '\0';
			s->state = IDS_VALUE;
			if (!s->key_long && strcmp(s->key, "id") == 0) {
				s->id_len = 0;
				s->id_long = false;
				s->capturing = true;
			}
			break;
		case ',':
			if (top)
				s->state = IDS_KEY;
			break;
		default:
			break;
		}
	}
}

json_t *pmsg_idscan_id(const struct pmsg_idscan *s)
{
	json_t *id;

	if (s->bad || s->id_long || s->id_len == 0)
		return NULL;
	id = json_loadb(s->id, s->id_len, JSON_DECODE_ANY, NULL);
	if (id && !id_valid(id)) {
		json_decref(id);
		id = NULL;
	}
	return id;
}

int smsg_parse(const char *data, size_t len, struct smsg *ret)
{
	json_t *doc = json_loadb(data, len, JSON_ALLOW_NUL, NULL);
	const json_t *id;

	memset(ret, 0, sizeof(*ret));
	if (!doc)
		return KW_EPARSE;
	if (!json_is_object(doc)) {
		json_decref(doc);
		return KW_EINVAL;
	}
	ret->doc = doc;
	id = json_object_get(doc, "id");
	if (!json_object_get(doc, "method") && id_valid(id) &&
	    (json_object_get(doc, "result") || json_object_get(doc, "error"))) {
		ret->response = true;
		ret->error = json_object_get(doc, "error") != NULL;
		ret->id = id;
	}
	return 0;
}

void smsg_free(struct smsg *m)
{
	json_decref(m->doc);
	memset(m, 0, sizeof(*m));
}
