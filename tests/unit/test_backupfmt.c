/*
 * test_backupfmt.c - the backup container (common/backupfmt.h): a built
 * container parses back to its parts; every damage restore must refuse is
 * refused with a sentence saying which; files are read at their size,
 * within the bound.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "backupfmt.h"
#include "keyward.h"
#include "secmem.h"

static uint8_t db[1024] = "SQLite format 3";
static const uint8_t cp[] = "1 aa bb cc 1\n";

static uint8_t *build(size_t *ret_len)
{
	uint8_t *b = NULL;

	assert_int_equal(kw_backup_build(db, sizeof(db), cp, sizeof(cp) - 1, 7,
	                                 1700000000, &b, ret_len),
	                 0);
	return b;
}

static void refused(const uint8_t *b, size_t len, const char *says)
{
	struct kw_backup_view v;
	char why[160] = "";

	assert_int_equal(kw_backup_parse(b, len, &v, why, sizeof(why)),
	                 KW_EDAMAGED);
	assert_non_null(strstr(why, says));
}

static void test_round_trip(void **state)
{
	(void)state;
	struct kw_backup_view v;
	char why[160];
	size_t len;
	uint8_t *b = build(&len);

	assert_int_equal(len, KW_BACKUP_HEADER_BYTES + sizeof(db) + sizeof(cp) -
	                              1 + KW_BACKUP_SUM_BYTES);
	assert_int_equal(kw_backup_parse(b, len, &v, why, sizeof(why)), 0);
	assert_int_equal(v.info.version, 1);
	assert_int_equal(v.info.schema, 7);
	assert_int_equal(v.info.created, 1700000000);
	assert_int_equal(v.info.db_len, sizeof(db));
	assert_memory_equal(v.db, db, sizeof(db));
	assert_memory_equal(v.cp, cp, sizeof(cp) - 1);
	kw_backup_free(b, len);
}

static void test_damage_refused(void **state)
{
	(void)state;
	size_t len;
	uint8_t *b = build(&len);
	uint8_t *longer = malloc(len + 1);

	refused(b, len - 1, "truncated");
	refused(b, 10, "KWBACKUP");
	memcpy(longer, b, len);
	longer[len] = 0;
	refused(longer, len + 1, "after the checksum");
	free(longer);
	b[KW_BACKUP_HEADER_BYTES + 100] ^= 1;
	refused(b, len, "checksum");
	b[KW_BACKUP_HEADER_BYTES + 100] ^= 1;
	b[11] = 2; /* version 2 */
	refused(b, len, "version");
	b[11] = 1;
	b[24] = 0xff; /* db_len far over the bound */
	refused(b, len, "bounds");
	kw_backup_free(b, len);
}

static void test_not_sqlite(void **state)
{
	(void)state;
	uint8_t junk[600] = "not a database";
	uint8_t *b = NULL;
	size_t len = 0;

	assert_int_equal(kw_backup_build(junk, sizeof(junk), NULL, 0, 1, 1, &b,
	                                 &len),
	                 KW_EINVAL);
	assert_int_equal(kw_backup_build(db, 100, NULL, 0, 1, 1, &b, &len),
	                 KW_EINVAL);
}

static void test_read(void **state)
{
	(void)state;
	char path[] = "/tmp/kw-backupfmt-XXXXXX", why[160];
	uint8_t *b = NULL;
	size_t len = 0;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "abcdef", 6), 6);
	close(fd);
	assert_int_equal(kw_backup_read(path, false, 6, &b, &len, why,
	                                sizeof(why)),
	                 0);
	assert_int_equal(len, 6);
	assert_memory_equal(b, "abcdef", 6);
	kw_backup_free(b, len);
	assert_int_equal(kw_backup_read(path, false, 5, &b, &len, why,
	                                sizeof(why)),
	                 KW_ETOOBIG);
	unlink(path);
	assert_int_equal(kw_backup_read(path, false, 5, &b, &len, why,
	                                sizeof(why)),
	                 KW_ENOTFOUND);
	assert_int_equal(kw_backup_read("/tmp", false, 5, &b, &len, why,
	                                sizeof(why)),
	                 KW_EPERM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_damage_refused),
		cmocka_unit_test(test_not_sqlite),
		cmocka_unit_test(test_read),
	};
	if (kw_secmem_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
