/*
 * fuzz_backupfmt.c - the backup container parser (common/backupfmt.c).
 *
 * Input: a container, or anything. Properties: an accepted input's parts
 * lie inside it, add up to its size and start with the SQLite header; a
 * refusal says why; and the parts of an accepted input built again give
 * the same bytes (the format has one encoding per content). Every input
 * is also built as a database image, parsed back, and must come out the
 * same.
 */
#include <string.h>

#include "backupfmt.h"
#include "fuzz.h"
#include "keyward.h"
#include "secmem.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	FUZZ_CHECK(kw_secmem_init() == 0);
	return 0;
}

static void check_parse(const uint8_t *data, size_t size)
{
	struct kw_backup_view v;
	char why[160] = "";
	uint8_t *again = NULL;
	size_t len = 0;

	int r = kw_backup_parse(data, size, &v, why, sizeof(why));
	if (r < 0) {
		FUZZ_CHECK(r == KW_EDAMAGED && why[0]);
		return;
	}
	FUZZ_CHECK(v.db == data + KW_BACKUP_HEADER_BYTES);
	FUZZ_CHECK(KW_BACKUP_HEADER_BYTES + v.info.db_len + v.info.cp_len +
	                   KW_BACKUP_SUM_BYTES ==
	           size);
	FUZZ_CHECK(memcmp(v.db, "SQLite format 3", 16) == 0);
	FUZZ_CHECK(kw_backup_build(v.db, v.info.db_len, v.cp, v.info.cp_len,
	                           v.info.schema, v.info.created, &again,
	                           &len) == 0);
	FUZZ_CHECK(len == size && memcmp(again, data, size) == 0);
	kw_backup_free(again, len);
}

/* data as the cp part after a minimal image; the round trip must hold. */
static void check_build(const uint8_t *data, size_t size)
{
	uint8_t db[KW_BACKUP_DB_MIN] = "SQLite format 3";
	struct kw_backup_view v;
	uint8_t *b = NULL;
	size_t len = 0;
	char why[160];

	if (size > 4096)
		size = 4096;
	FUZZ_CHECK(kw_backup_build(db, sizeof(db), data, size, 7, 1, &b,
	                           &len) == 0);
	FUZZ_CHECK(kw_backup_parse(b, len, &v, why, sizeof(why)) == 0);
	FUZZ_CHECK(v.info.cp_len == size && v.info.db_len == sizeof(db));
	FUZZ_CHECK(size == 0 || memcmp(v.cp, data, size) == 0);
	kw_backup_free(b, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_parse(data, size);
	check_build(data, size);
	return 0;
}
