/*
 * fuzz_jsonspan.c - the span parser of common/jsonspan.c, against jansson.
 *
 * Properties:
 *   - on plain JSON (no JSONC flag) the parser accepts what jansson
 *     (JSON_DECODE_ANY | JSON_REJECT_DUPLICATES) accepts, and the trees
 *     agree: types, array lengths, member keys, decoded strings. The
 *     documented differences are left out: numbers jansson cannot hold
 *     ("too big integer", "real number overflow": only shape is checked
 *     here), inputs with a NUL byte (jansson's lexer takes a NUL after a
 *     number for the end of the token: it accepts [1<NUL>]; RFC 8259 and
 *     this parser do not) and our limits (KW_ETOOBIG: depth, size);
 *   - what plain mode accepts, JSONC mode accepts with the same spans;
 *   - every accepted tree is well formed (spans inside their parents,
 *     keys before values, counts right), and applying every leaf's span
 *     back as an identity edit gives the input byte for byte;
 *   - a refusal says why and leaves the result alone.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "jsonspan.h"
#include "keyward.h"
#include "secmem.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return kw_secmem_init() == 0 ? 0 : -1;
}

static void check_node(const kw_jdoc *d, uint32_t i)
{
	const struct kw_jnode *n = &d->nodes[i];
	uint32_t count = 0, prev_end = n->start;

	FUZZ_CHECK(n->start < n->end && n->end <= d->len);
	if (n->parent != KW_JSPAN_NONE) {
		const struct kw_jnode *p = &d->nodes[n->parent];
		FUZZ_CHECK(n->parent < i);
		FUZZ_CHECK(p->start < n->start && n->end < p->end);
		FUZZ_CHECK((p->type == KW_JOBJECT) == (n->key_end != 0));
		if (n->key_end)
			FUZZ_CHECK(n->key_start < n->key_end &&
			           n->key_end < n->start);
	}
	for (uint32_t c = n->first; c != KW_JSPAN_NONE; c = d->nodes[c].next) {
		const struct kw_jnode *k = &d->nodes[c];
		FUZZ_CHECK(k->parent == i);
		FUZZ_CHECK((k->key_end ? k->key_start : k->start) >= prev_end);
		prev_end = k->end;
		count++;
	}
	FUZZ_CHECK(count == n->count);
	FUZZ_CHECK(n->type == KW_JOBJECT || n->type == KW_JARRAY ||
	           n->count == 0);
}

/* Identity edits on every leaf: the text comes back unchanged. */
static void check_roundtrip(const kw_jdoc *d)
{
	struct kw_jspan_edit *e = calloc(d->count, sizeof(*e));
	size_t n = 0, len = 0;
	char *out = NULL;

	FUZZ_CHECK(e != NULL);
	for (uint32_t i = 0; i < d->count; i++) {
		const struct kw_jnode *k = &d->nodes[i];
		if (k->type == KW_JOBJECT || k->type == KW_JARRAY)
			continue;
		e[n++] = (struct kw_jspan_edit){ k->start, k->end,
			                         d->text + k->start,
			                         k->end - k->start };
	}
	FUZZ_CHECK(kw_jspan_apply(d->text, d->len, e, n, &out, &len) == 0);
	FUZZ_CHECK(len == d->len && memcmp(out, d->text, len) == 0);
	kw_wipefree(out);
	free(e);
}

static void same_tree(const kw_jdoc *d, const struct kw_jnode *n,
                      const json_t *j)
{
	char *s;
	size_t len;

	switch (n->type) {
	case KW_JNULL:
		FUZZ_CHECK(json_is_null(j));
		return;
	case KW_JTRUE:
		FUZZ_CHECK(json_is_true(j));
		return;
	case KW_JFALSE:
		FUZZ_CHECK(json_is_false(j));
		return;
	case KW_JNUMBER:
		FUZZ_CHECK(json_is_number(j));
		return;
	case KW_JSTRING:
		FUZZ_CHECK(json_is_string(j));
		FUZZ_CHECK(kw_jspan_string(d, n, false, &s, &len) == 0);
		FUZZ_CHECK(len == json_string_length(j) &&
		           memcmp(s, json_string_value(j), len) == 0);
		kw_wipefree(s);
		return;
	case KW_JARRAY:
		FUZZ_CHECK(json_is_array(j) && json_array_size(j) == n->count);
		size_t i = 0;
		for (const struct kw_jnode *c = kw_jspan_first(d, n); c;
		     c = kw_jspan_next(d, c))
			same_tree(d, c, json_array_get(j, i++));
		return;
	case KW_JOBJECT:
		FUZZ_CHECK(json_is_object(j) &&
		           json_object_size(j) == n->count);
		for (const struct kw_jnode *c = kw_jspan_first(d, n); c;
		     c = kw_jspan_next(d, c)) {
			FUZZ_CHECK(kw_jspan_string(d, c, true, &s, &len) == 0);
			FUZZ_CHECK(strlen(s) == len);
			const json_t *v = json_object_get(j, s);
			FUZZ_CHECK(v != NULL);
			FUZZ_CHECK(kw_jspan_member(d, n, s) == c);
			kw_wipefree(s);
			same_tree(d, c, v);
		}
		return;
	}
}

/* jansson refusals we document as ours to accept. */
static bool number_quirk(const json_error_t *err)
{
	return strstr(err->text, "too big") || strstr(err->text, "overflow");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	kw_jdoc *d = (kw_jdoc *)&size, *c = NULL;
	json_error_t err;
	char why[200];
	const char *text = (const char *)data;
	bool nul = memchr(data, 0, size) != NULL;

	int r = kw_jspan_parse(text, size, 0, &d, why, sizeof(why));
	json_t *j = json_loadb(text, size,
	                       JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);
	if (r != 0) {
		FUZZ_CHECK(why[0] != '\0');
		FUZZ_CHECK(d == (kw_jdoc *)&size);
		FUZZ_CHECK(r == KW_EPARSE || r == KW_ETOOBIG || r == KW_ENOMEM);
		FUZZ_CHECK(r != KW_EPARSE || j == NULL || nul);
	} else {
		FUZZ_CHECK(j != NULL || number_quirk(&err));
		FUZZ_CHECK(!nul);
		for (uint32_t i = 0; i < d->count; i++)
			check_node(d, i);
		check_roundtrip(d);
		if (j)
			same_tree(d, &d->nodes[0], j);
		FUZZ_CHECK(kw_jspan_parse(text, size, KW_JSPAN_JSONC, &c, why,
		                          sizeof(why)) == 0);
		FUZZ_CHECK(c->count == d->count);
		FUZZ_CHECK(memcmp(c->nodes, d->nodes,
		                  d->count * sizeof(*d->nodes)) == 0);
		kw_jspan_free(c);
		kw_jspan_free(d);
	}
	json_decref(j);

	/* JSONC alone: well formed and round-trips. */
	if (kw_jspan_parse(text, size, KW_JSPAN_JSONC, &c, why, sizeof(why)) ==
	    0) {
		for (uint32_t i = 0; i < c->count; i++)
			check_node(c, i);
		check_roundtrip(c);
		kw_jspan_free(c);
	} else {
		FUZZ_CHECK(why[0] != '\0');
	}
	return 0;
}
