/*
 * fuzz.h - what every fuzz target in tests/fuzz shares: the libFuzzer entry
 * points (also called by replay.c in the ordinary builds) and FUZZ_CHECK,
 * which turns a broken property into a crash that libFuzzer records.
 */
#ifndef KW_FUZZ_H
#define KW_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Called once before the first input (optional for a target). */
int LLVMFuzzerInitialize(int *argc, char ***argv);
/* One input: data[0..size) is all there is (not NUL-terminated). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* fuzz_util.c: a private directory (0700) on tmpfs, made on first use and
 * removed at exit; a file replaced by data (aborts on failure); a
 * directory tree removed (what can be). */
const char *fuzz_scratch_dir(void);
void fuzz_write_file(const char *path, const uint8_t *data, size_t size);
void fuzz_remove_tree(const char *path);

__attribute__((noreturn)) static inline void
fuzz_fail(const char *what, const char *file, int line)
{
	fprintf(stderr, "%s:%d: property violated: %s\n", file, line, what);
	abort();
}

/* A property of the code under test: abort (a finding) if it is false. */
#define FUZZ_CHECK(cond)                                      \
	do {                                                  \
		if (!(cond))                                  \
			fuzz_fail(#cond, __FILE__, __LINE__); \
	} while (0)

#endif
