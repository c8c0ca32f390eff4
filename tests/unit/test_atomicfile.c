/*
 * test_atomicfile.c - common/atomicfile.h: a replaced file is all old or
 * all new to every reader, links and odd files are refused, a file changed
 * since it was read is not overwritten, and no temporary file is left.
 */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "atomicfile.h"
#include "keyward.h"
#include "secmem.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "%s", "/tmp/kw-atomic-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void path_of(char *buf, size_t sz, const char *base)
{
	snprintf(buf, sz, "%s/%s", dir, base);
}

/* Entries of dir other than . and .. */
static int count_entries(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void write_plain(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void assert_content(const char *path, const char *want)
{
	char *data = NULL, why[160];
	size_t len;

	assert_int_equal(kw_file_read(path, 1 << 20, &data, &len, NULL, why,
	                              sizeof(why)),
	                 0);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(data, want, len);
	kw_wipefree(data);
}

static void test_new_and_replace(void **state)
{
	char p[128], why[160];
	struct stat st;

	(void)state;
	path_of(p, sizeof(p), "out.env");
	assert_int_equal(kw_atomic_replace(p, "A=1\n", 4, 0600, 0, NULL, why,
	                                   sizeof(why)),
	                 0);
	assert_content(p, "A=1\n");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	/* Replacing with another mode: the mode given wins without KEEP. */
	assert_int_equal(kw_atomic_replace(p, "B=22\n", 5, 0640, 0, NULL, why,
	                                   sizeof(why)),
	                 0);
	assert_content(p, "B=22\n");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	/* KEEP_OWNER keeps the old file's mode. */
	assert_int_equal(chmod(p, 0604), 0);
	assert_int_equal(kw_atomic_replace(p, "", 0, 0600, KW_ATOMIC_KEEP_OWNER,
	                                   NULL, why, sizeof(why)),
	                 0);
	assert_content(p, "");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0604);
	assert_int_equal(count_entries(), 1);
}

static void test_refuses_links_and_odd_files(void **state)
{
	char p[128], target[128], sub[128], why[160];

	(void)state;
	path_of(target, sizeof(target), "target");
	path_of(p, sizeof(p), "link");
	write_plain(target, "keep me");
	assert_int_equal(symlink(target, p), 0);
	why[0] = '\0';
	assert_int_equal(kw_atomic_replace(p, "x", 1, 0600, 0, NULL, why,
	                                   sizeof(why)),
	                 KW_EINVAL);
	assert_non_null(strstr(why, "symbolic link"));
	assert_content(target, "keep me");
	struct stat st;
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISLNK(st.st_mode));

	/* Reading: refused through a link, followed on request. */
	char *data = NULL;
	size_t len;
	assert_int_equal(kw_file_read(p, 100, &data, &len, NULL, why,
	                              sizeof(why)),
	                 KW_EINVAL);
	assert_int_equal(kw_file_read_follow(p, 100, &data, &len, NULL, why,
	                                     sizeof(why)),
	                 0);
	assert_memory_equal(data, "keep me", 7);
	kw_wipefree(data);

	path_of(sub, sizeof(sub), "adir");
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(kw_atomic_replace(sub, "x", 1, 0600, 0, NULL, why,
	                                   sizeof(why)),
	                 KW_EINVAL);
	assert_int_equal(kw_file_read(sub, 100, &data, &len, NULL, why,
	                              sizeof(why)),
	                 KW_EINVAL);
	assert_int_equal(count_entries(), 3);
}

static void test_if_unchanged(void **state)
{
	char p[128], why[160], *data = NULL;
	struct kw_filestamp stamp;
	size_t len;

	(void)state;
	path_of(p, sizeof(p), "config.json");
	write_plain(p, "{\"a\": 1}\n");
	assert_int_equal(kw_file_read(p, 1000, &data, &len, &stamp, why,
	                              sizeof(why)),
	                 0);
	kw_wipefree(data);
	assert_true(stamp.exists);

	/* Someone else writes it (same size, so only times tell). */
	struct timespec pause = { 0, 20 * 1000 * 1000 };
	nanosleep(&pause, NULL);
	write_plain(p, "{\"b\": 2}\n");
	assert_int_equal(kw_atomic_replace(p, "new", 3, 0600,
	                                   KW_ATOMIC_IF_UNCHANGED, &stamp, why,
	                                   sizeof(why)),
	                 KW_ESTATE);
	assert_content(p, "{\"b\": 2}\n");
	assert_int_equal(count_entries(), 1);

	/* Read again: now the stamp matches and the write goes through. */
	assert_int_equal(kw_file_read(p, 1000, &data, &len, &stamp, why,
	                              sizeof(why)),
	                 0);
	kw_wipefree(data);
	assert_int_equal(kw_atomic_replace(p, "new", 3, 0600,
	                                   KW_ATOMIC_IF_UNCHANGED |
	                                           KW_ATOMIC_KEEP_OWNER,
	                                   &stamp, why, sizeof(why)),
	                 0);
	assert_content(p, "new");

	/* Deleted since read, and created where none was. */
	assert_int_equal(kw_file_read(p, 1000, &data, &len, &stamp, why,
	                              sizeof(why)),
	                 0);
	kw_wipefree(data);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(kw_atomic_replace(p, "x", 1, 0600,
	                                   KW_ATOMIC_IF_UNCHANGED, &stamp, why,
	                                   sizeof(why)),
	                 KW_ESTATE);
	assert_int_equal(access(p, F_OK), -1);
	struct kw_filestamp none = { .exists = false };
	write_plain(p, "appeared");
	assert_int_equal(kw_atomic_replace(p, "x", 1, 0600,
	                                   KW_ATOMIC_IF_UNCHANGED, &none, why,
	                                   sizeof(why)),
	                 KW_ESTATE);
	assert_content(p, "appeared");
	assert_int_equal(count_entries(), 1);
}

/* A last component longer than a file name may be is refused before it
 * is copied anywhere (it once was copied first, past the buffer). */
static void test_long_name_refused(void **state)
{
	char p[600], why[160];

	(void)state;
	int n = snprintf(p, sizeof(p), "%s/", dir);
	memset(p + n, 'n', 400);
	p[n + 400] = '\0';
	assert_int_equal(kw_atomic_replace(p, "x", 1, 0600, 0, NULL, why,
	                                   sizeof(why)),
	                 KW_EINVAL);
	assert_non_null(strstr(why, "too long"));
	assert_int_equal(count_entries(), 0);
	/* The longest name whose temporary name (17 bytes more) still fits
	 * a file name, and one byte over. */
	p[n + 238] = '\0';
	assert_int_equal(kw_atomic_replace(p, "x", 1, 0600, 0, NULL, why,
	                                   sizeof(why)),
	                 0);
	assert_int_equal(count_entries(), 1);
	memset(p + n, 'm', 239);
	p[n + 239] = '\0';
	assert_int_equal(kw_atomic_replace(p, "x", 1, 0600, 0, NULL, why,
	                                   sizeof(why)),
	                 KW_EINVAL);
	assert_int_equal(count_entries(), 1);
}

static void test_read_limits(void **state)
{
	char p[128], why[160], *data = NULL;
	size_t len;

	(void)state;
	path_of(p, sizeof(p), "big");
	write_plain(p, "0123456789");
	assert_int_equal(kw_file_read(p, 9, &data, &len, NULL, why,
	                              sizeof(why)),
	                 KW_ETOOBIG);
	assert_int_equal(kw_file_read(p, 10, &data, &len, NULL, why,
	                              sizeof(why)),
	                 0);
	assert_int_equal(data[10], '\0');
	kw_wipefree(data);
	path_of(p, sizeof(p), "absent");
	assert_int_equal(kw_file_read(p, 9, &data, &len, NULL, why,
	                              sizeof(why)),
	                 KW_ENOTFOUND);
}

/* A reader polling the file while it is replaced 300 times sees only the
 * two whole contents, never a mix, an empty file or no file. */
static void test_readers_never_see_a_partial_file(void **state)
{
	static char a[20000], b[7000];
	char p[128], why[160];
	int pfd[2];

	(void)state;
	memset(a, 'a', sizeof(a));
	memset(b, 'b', sizeof(b));
	path_of(p, sizeof(p), "hot");
	assert_int_equal(kw_atomic_replace(p, a, sizeof(a), 0600, 0, NULL, why,
	                                   sizeof(why)),
	                 0);
	assert_int_equal(pipe(pfd), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pfd[1]);
		fcntl(pfd[0], F_SETFL, O_NONBLOCK);
		for (;;) {
			char *data = NULL, c;
			size_t len;

			if (kw_file_read(p, 1 << 20, &data, &len, NULL, why,
			                 sizeof(why)) < 0)
				_exit(2);
			bool ok =
				(len == sizeof(a) &&
			         memcmp(data, a, len) == 0) ||
				(len == sizeof(b) && memcmp(data, b, len) == 0);
			kw_wipefree(data);
			if (!ok)
				_exit(3);
			if (read(pfd[0], &c, 1) == 0)
				_exit(0);
		}
	}
	close(pfd[0]);
	for (int i = 0; i < 300; i++)
		assert_int_equal(kw_atomic_replace(p, i % 2 ? a : b,
		                                   i % 2 ? sizeof(a) :
		                                           sizeof(b),
		                                   0600, 0, NULL, why,
		                                   sizeof(why)),
		                 0);
	close(pfd[1]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_new_and_replace, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(
			test_refuses_links_and_odd_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_if_unchanged, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_long_name_refused, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_read_limits, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(
			test_readers_never_see_a_partial_file, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
