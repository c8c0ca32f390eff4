/*
 * fuzz_dotenv.c - the .env parser of common/dotenv.c.
 *
 * Properties: a refusal says why and leaves the result alone; an accepted
 * file gives names of the documented shape, NUL-free values of the stated
 * length and line numbers in order within the file; and writing every
 * entry back as NAME="value" (escaped) parses to the same entries.
 */
#include <stdbool.h>
#include <string.h>

#include "dotenv.h"
#include "fuzz.h"
#include "keyward.h"
#include "secmem.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return kw_secmem_init() == 0 ? 0 : -1;
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > KW_DOTENV_NAME_MAX || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}

/* NAME="value" with \\ \" \$ \n \r \t escaped; at most 2 bytes a byte. */
static size_t write_entry(char *out, const kw_dotenv_entry *e)
{
	size_t n = strlen(e->name);
	memcpy(out, e->name, n);
	out[n++] = '=';
	out[n++] = '"';
	for (size_t i = 0; i < e->value_len; i++) {
		char c = e->value[i];
		const char *esc = c == '\\' ? "\\\\" :
		                  c == '"'  ? "\\\"" :
		                  c == '$'  ? "\\$" :
		                  c == '\n' ? "\\n" :
		                  c == '\r' ? "\\r" :
		                  c == '\t' ? "\\t" :
		                              NULL;
		if (esc) {
			memcpy(out + n, esc, 2);
			n += 2;
		} else {
			out[n++] = c;
		}
	}
	out[n++] = '"';
	out[n++] = '\n';
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	kw_dotenv *env = (kw_dotenv *)&size, *again = NULL;
	char why[200];
	const char *text = (const char *)data;

	int r = kw_dotenv_parse(text, size, &env, why, sizeof(why));
	if (r != 0) {
		FUZZ_CHECK(why[0] != '\0');
		FUZZ_CHECK(env == (kw_dotenv *)&size);
		return 0;
	}
	unsigned lines = 1;
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	size_t total = 0;
	unsigned last = 1;
	for (size_t i = 0; i < env->count; i++) {
		const kw_dotenv_entry *e = &env->entries[i];
		FUZZ_CHECK(name_ok(e->name));
		FUZZ_CHECK(strlen(e->value) == e->value_len);
		FUZZ_CHECK(e->line >= last && e->line <= lines);
		last = e->line;
		total += strlen(e->name) + 2 * e->value_len + 4;
	}
	char *out = malloc(total + 1);
	FUZZ_CHECK(out != NULL);
	size_t n = 0;
	for (size_t i = 0; i < env->count; i++)
		n += write_entry(out + n, &env->entries[i]);
	FUZZ_CHECK(n <= total);
	if (n <= KW_DOTENV_MAX_BYTES) {
		FUZZ_CHECK(kw_dotenv_parse(out, n, &again, why, sizeof(why)) ==
		           0);
		FUZZ_CHECK(again->count == env->count);
		for (size_t i = 0; i < env->count; i++) {
			const kw_dotenv_entry *a = &env->entries[i];
			const kw_dotenv_entry *b = &again->entries[i];
			FUZZ_CHECK(strcmp(a->name, b->name) == 0);
			FUZZ_CHECK(a->value_len == b->value_len);
			FUZZ_CHECK(memcmp(a->value, b->value, a->value_len) ==
			           0);
		}
		kw_dotenv_free(again);
	}
	kw_wipefree(out);
	kw_dotenv_free(env);
	return 0;
}
