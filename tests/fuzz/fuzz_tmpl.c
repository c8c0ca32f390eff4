/*
 * fuzz_tmpl.c - the inject template parser of common/tmpl.c.
 *
 * Properties: a refusal says why and leaves the result alone; an accepted
 * template's literal parts lie in order inside the input, none holds a
 * "{{" and none is empty; lines never go down; and writing every part back
 * (literals as they are, references as kw_secref_format gives them inside
 * "{{ keyward://...}}") parses to the same parts.
 */
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "keyward.h"
#include "secmem.h"
#include "tmpl.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return kw_secmem_init() == 0 ? 0 : -1;
}

static bool has_braces(const char *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++)
		if (p[i] == '{' && p[i + 1] == '{')
			return true;
	return false;
}

/* Each part written back; the text's length, or 0 if out was too small. */
static size_t write_back(const char *text, const struct kw_tmpl *t, char *out,
                         size_t sz)
{
	char ref[KW_NAME_MAX + 64];
	size_t n = 0;

	for (size_t i = 0; i < t->count; i++) {
		const struct kw_tmpl_part *p = &t->parts[i];
		const char *src = text + p->off;
		size_t len = p->len;

		if (p->is_ref) {
			FUZZ_CHECK(kw_secref_format(&p->ref, ref,
			                            sizeof(ref)) == 0);
			len = (size_t)snprintf(out + n, sz - n,
			                       "{{ keyward://%s }}", ref);
			if (len >= sz - n)
				return 0;
		} else {
			if (len > sz - n)
				return 0;
			memcpy(out + n, src, len);
		}
		n += len;
	}
	return n;
}

static void check_same(const struct kw_tmpl *a, const char *ta,
                       const struct kw_tmpl *b, const char *tb)
{
	FUZZ_CHECK(a->count == b->count && a->nrefs == b->nrefs);
	for (size_t i = 0; i < a->count; i++) {
		const struct kw_tmpl_part *x = &a->parts[i], *y = &b->parts[i];

		FUZZ_CHECK(x->is_ref == y->is_ref && x->line == y->line);
		if (x->is_ref) {
			FUZZ_CHECK(strcmp(x->ref.name, y->ref.name) == 0);
			FUZZ_CHECK(x->ref.version == y->ref.version);
			FUZZ_CHECK(strcmp(x->ref.stage, y->ref.stage) == 0);
			FUZZ_CHECK(x->ref.base64 == y->ref.base64);
		} else {
			FUZZ_CHECK(x->len == y->len);
			FUZZ_CHECK(memcmp(ta + x->off, tb + y->off, x->len) ==
			           0);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kw_tmpl *t = (struct kw_tmpl *)&size, *again = NULL;
	const char *text = (const char *)data;
	char why[200] = "";
	size_t end = 0, outsz = size * 2 + 64, n;
	unsigned line = 1;
	char *out;

	if (kw_tmpl_parse(text, size, &t, why, sizeof(why)) != 0) {
		FUZZ_CHECK(why[0] != '\0');
		FUZZ_CHECK(t == (struct kw_tmpl *)&size);
		return 0;
	}
	for (size_t i = 0; i < t->count; i++) {
		const struct kw_tmpl_part *p = &t->parts[i];

		FUZZ_CHECK(p->line >= line);
		line = p->line;
		if (p->is_ref)
			continue;
		FUZZ_CHECK(p->len > 0 && p->off >= end &&
		           p->off + p->len <= size);
		FUZZ_CHECK(!has_braces(text + p->off, p->len));
		end = p->off + p->len;
	}
	out = malloc(outsz + (size_t)t->nrefs * (KW_NAME_MAX + 64));
	FUZZ_CHECK(out != NULL);
	n = write_back(text, t, out,
	               outsz + (size_t)t->nrefs * (KW_NAME_MAX + 64));
	FUZZ_CHECK(n > 0 || t->count == 0);
	if (n <= KW_TMPL_MAX_BYTES) {
		FUZZ_CHECK(kw_tmpl_parse(out, n, &again, why, sizeof(why)) ==
		           0);
		check_same(t, text, again, out);
		kw_tmpl_free(again);
	}
	free(out);
	kw_tmpl_free(t);
	return 0;
}
