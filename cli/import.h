/*
 * import.h - what `keyward import` reads: a JSON or .env file turned into
 * a sorted list of (name, value) entries (import_load.c). Private to the
 * import command.
 *
 * Values are secrets: they live in kw_wipealloc memory and imp_list_free
 * wipes them. Problems with the file (syntax, invalid names, values that
 * are not strings, duplicates) are printed as they are found, one line
 * each naming the entry and the rule, never a value.
 */
#ifndef KW_CLI_IMPORT_H
#define KW_CLI_IMPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "atomicfile.h"
#include "cli.h"

/* Larger files are refused before they are parsed. */
#define IMP_FILE_MAX    (16u << 20)
#define IMP_ENTRIES_MAX 10000u

enum imp_format { IMP_GUESS, IMP_JSON, IMP_DOTENV };

enum imp_action { IMP_CREATE, IMP_OVERWRITE, IMP_SKIP };

struct imp_entry {
	char name[KW_NAME_MAX + 1];
	char *value; /* kw_wipealloc */
	size_t len;
	unsigned line; /* .env: the line of the assignment; JSON: 0 */
	enum imp_action action;
};

struct imp_list {
	struct imp_entry *v; /* sorted by name once loaded */
	size_t n, cap;
	unsigned problems; /* entries found not valid (each printed) */
};

/* The format a file name implies (.json; .env, NAME.env, .env.NAME), or
 * IMP_GUESS when it implies none. */
enum imp_format imp_format_of(const char *path);

/*
 * Read path (a regular file, not a symlink, at most IMP_FILE_MAX bytes)
 * and parse it as fmt with every name prefixed by prefix (which the
 * caller has checked). The file's text is wiped once parsed. 0 with
 * *ret_list filled (sorted; ret_list->problems counts what was printed:
 * the caller must refuse to import when it is not 0) and *ret_stamp set;
 * or an exit code after printing why the file could not be read or
 * parsed at all.
 */
int imp_load(const struct cli *cli, const char *path, enum imp_format fmt,
             const char *prefix, struct imp_list *ret_list,
             struct kw_filestamp *ret_stamp);

/* Wipe every value and free; the list is then empty. */
void imp_list_free(struct imp_list *l);

#endif
