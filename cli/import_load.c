/*
 * import_load.c - JSON and .env files into import entries (import.h).
 *
 * JSON: the top level is an object; a member whose value is an object
 * adds a segment to the name ({"github": {"token": "..."}} is
 * github/token), a string is a value stored as is. Numbers, booleans,
 * null and arrays are refused with their name: storing their JSON text
 * would hand a server "8080" where the file said 8080 without saying so,
 * and quoting them in the file says it. Duplicate keys are refused by the
 * parser; the same name reached twice ("a/b" and {"a": {"b"}}) here.
 * .env: every assignment is PREFIX + NAME (common/dotenv.h); a name
 * assigned twice is refused rather than guessing which one was meant.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dotenv.h"
#include "import.h"
#include "name.h"
#include "secmem.h"

struct loader {
	const struct cli *cli;
	struct imp_list *list;
	bool full; /* IMP_ENTRIES_MAX reached (said once) */
};

enum imp_format imp_format_of(const char *path)
{
	const char *base = strrchr(path, '/');
	size_t n;

	base = base ? base + 1 : path;
	n = strlen(base);
	if (n > 5 && strcmp(base + n - 5, ".json") == 0)
		return IMP_JSON;
	if (strcmp(base, ".env") == 0 || strncmp(base, ".env.", 5) == 0 ||
	    (n > 4 && strcmp(base + n - 4, ".env") == 0))
		return IMP_DOTENV;
	return IMP_GUESS;
}

/* Print a problem with the entry called name and count it. */
__attribute__((format(printf, 3, 4))) static void
problem(struct loader *ld, const char *name, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cli_msg(ld->cli, name, "%s", msg);
	ld->list->problems++;
}

/* Append name = value[0..len) (copied into wiped memory). */
static int add_entry(struct loader *ld, const char *name, const char *value,
                     size_t len, unsigned line)
{
	struct imp_list *l = ld->list;
	struct imp_entry *e;

	if (l->n == IMP_ENTRIES_MAX) {
		if (!ld->full)
			problem(ld, NULL, "more than %u entries",
			        IMP_ENTRIES_MAX);
		ld->full = true;
		return 0;
	}
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 64;
		struct imp_entry *nv = realloc(l->v, ncap * sizeof(*nv));

		if (!nv)
			return KW_ENOMEM;
		l->v = nv;
		l->cap = ncap;
	}
	e = &l->v[l->n];
	memset(e, 0, sizeof(*e));
	e->value = kw_wipealloc(len + 1);
	if (!e->value)
		return KW_ENOMEM;
	memcpy(e->value, value, len);
	e->value[len] = '\0';
	e->len = len;
	e->line = line;
	snprintf(e->name, sizeof(e->name), "%s", name);
	l->n++;
	return 0;
}

/* Check a whole name; print the rule it breaks. */
static bool name_ok(struct loader *ld, const char *name)
{
	const char *rule = NULL;

	if (kw_name_check(name, strlen(name), &rule) == 0)
		return true;
	problem(ld, name, "invalid name: %s", rule ? rule : "bad name");
	return false;
}

static const char *json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_ARRAY:
		return "an array";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

/* The members of obj, whose own name (without a trailing '/') is path. */
static int walk(struct loader *ld, const json_t *obj, char *path, size_t plen,
                bool top)
{
	const char *key;
	json_t *v;
	int r;

	json_object_foreach((json_t *)obj, key, v)
	{
		size_t klen = strlen(key), n = plen + (top ? 0 : 1) + klen;

		if (n > KW_NAME_MAX) {
			/* Named by its parent: the key may be huge. */
			path[plen] = '\0';
			problem(ld, path[0] ? path : NULL,
			        "a member's name would be longer than %u "
			        "bytes",
			        KW_NAME_MAX);
			continue;
		}
		if (!top)
			path[plen] = '/';
		memcpy(path + plen + (top ? 0 : 1), key, klen + 1);
		if (!name_ok(ld, path))
			continue;
		if (json_is_object(v))
			r = walk(ld, v, path, n, false);
		else if (json_is_string(v))
			r = add_entry(ld, path, json_string_value(v),
			              json_string_length(v), 0);
		else {
			problem(ld, path,
			        "%s; only strings (values) and objects "
			        "(folders) can be imported",
			        json_kind(v));
			r = 0;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

/* jansson's sentence without its " near '...'" part, which quotes the
 * input (perhaps a value). */
static void json_why(const json_error_t *err, char *buf, size_t sz)
{
	const char *near = strstr(err->text, " near ");
	size_t n = near ? (size_t)(near - err->text) : strlen(err->text);

	snprintf(buf, sz, "%.*s", (int)n, err->text);
}

static int load_json(struct loader *ld, const char *path, const char *text,
                     size_t len, const char *prefix)
{
	char name[KW_NAME_MAX + 2], why[160];
	json_error_t err;
	json_t *root;
	int r;

	root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
	                  &err);
	if (!root) {
		json_why(&err, why, sizeof(why));
		cli_msg(ld->cli, path, "not valid JSON: line %d, column %d: %s",
		        err.line, err.column, why);
		return CLI_EXIT_ERROR;
	}
	if (!json_is_object(root)) {
		cli_msg(ld->cli, path,
		        "the top level must be an object of names");
		json_decref(root);
		return CLI_EXIT_ERROR;
	}
	snprintf(name, sizeof(name), "%s", prefix);
	r = walk(ld, root, name, strlen(name), true);
	json_decref(root);
	return r < 0 ? cli_fail(ld->cli, NULL, path, r) : 0;
}

static int load_dotenv(struct loader *ld, const char *path, const char *text,
                       size_t len, const char *prefix)
{
	char name[KW_NAME_MAX + KW_DOTENV_NAME_MAX + 2], why[160] = "";
	kw_dotenv *env = NULL;
	int r;

	r = kw_dotenv_parse(text, len, &env, why, sizeof(why));
	if (r == KW_ENOMEM)
		return cli_fail(ld->cli, NULL, path, r);
	if (r < 0) {
		cli_msg(ld->cli, path, "not a valid .env file: %s",
		        why[0] ? why : kw_strerror(r));
		return CLI_EXIT_ERROR;
	}
	for (size_t i = 0; i < env->count && r == 0; i++) {
		const kw_dotenv_entry *e = &env->entries[i];

		snprintf(name, sizeof(name), "%s%s", prefix, e->name);
		if (name_ok(ld, name))
			r = add_entry(ld, name, e->value, e->value_len,
			              e->line);
	}
	kw_dotenv_free(env);
	return r < 0 ? cli_fail(ld->cli, NULL, path, r) : 0;
}

static int by_name(const void *a, const void *b)
{
	const struct imp_entry *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : (x->line > y->line) - (x->line < y->line);
}

/* Sort, then report every name given more than once. */
static void sort_and_check(struct loader *ld)
{
	struct imp_list *l = ld->list;

	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), by_name);
	for (size_t i = 1; i < l->n; i++) {
		const struct imp_entry *a = &l->v[i - 1], *b = &l->v[i];

		if (strcmp(a->name, b->name) != 0)
			continue;
		if (b->line)
			problem(ld, b->name, "assigned twice (lines %u and %u)",
			        a->line, b->line);
		else
			problem(ld, b->name,
			        "given twice (as \"a/b\" and as nested "
			        "objects)");
	}
}

int imp_load(const struct cli *cli, const char *path, enum imp_format fmt,
             const char *prefix, struct imp_list *ret_list,
             struct kw_filestamp *ret_stamp)
{
	struct imp_list list = { 0 };
	struct loader ld = { .cli = cli, .list = &list };
	struct kw_filestamp stamp;
	char why[256] = "", *text = NULL;
	size_t len = 0;
	int r, ex;

	r = kw_file_read(path, IMP_FILE_MAX, &text, &len, &stamp, why,
	                 sizeof(why));
	if (r < 0) {
		cli_msg(cli, path, "%s", why[0] ? why : kw_strerror(r));
		return cli_exit_code(r);
	}
	ex = fmt == IMP_JSON ? load_json(&ld, path, text, len, prefix) :
	                       load_dotenv(&ld, path, text, len, prefix);
	kw_wipefree(text);
	if (ex != 0) {
		imp_list_free(&list);
		return ex;
	}
	sort_and_check(&ld);
	*ret_list = list;
	*ret_stamp = stamp;
	return 0;
}

void imp_list_free(struct imp_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		kw_wipefree(l->v[i].value);
	free(l->v);
	memset(l, 0, sizeof(*l));
}
