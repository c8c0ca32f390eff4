/*
 * test_store_rotation.c - rotation schedules and runs in the store
 * (store_rotation.h) and the rotation side of versions (store.h:
 * store_current_version, store_put_pending, store_promote,
 * store_retire_due).
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "crypto.h"
#include "keyward.h"
#include "secmem.h"
#include "store.h"
#include "store_rotation.h"

typedef struct fixture {
	char dir[64];
	char path[PATH_MAX];
	store *s;
	kw_key *dk;
} fixture;

static void side(char *buf, const fixture *f, const char *suffix)
{
	int n = snprintf(buf, PATH_MAX, "%s%s", f->path, suffix);

	assert_true(n > 0 && n < PATH_MAX);
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/kw-test-storerot-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/secrets.db", f->dir);
	if (store_open(f->path, STORE_CREATE, &f->s) != 0 ||
	    key_random(&f->dk) != 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	char p[PATH_MAX];

	store_close(f->s);
	key_free(f->dk);
	side(p, f, "-wal");
	unlink(p);
	side(p, f, "-shm");
	unlink(p);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* The integer the constant query sql answers, through a second, raw
 * connection: what is really on disk, not what the store says. */
static int64_t raw_int(const fixture *f, const char *sql)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *db;
	int64_t v;

	assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE,
	                                 NULL),
	                 SQLITE_OK);
	sqlite3_busy_timeout(db, 2000);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* Append to a text buffer of TEXT_BUF bytes. */
#define TEXT_BUF 2048

static void append(char *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void append(char *out, const char *fmt, ...)
{
	size_t n = strlen(out);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out + n, TEXT_BUF - n, fmt, ap);
	va_end(ap);
}

/* Schedules ---------------------------------------------------------- */

static void fill_schedule(store_schedule *sc, const char *name,
                          int64_t next_run)
{
	memset(sc, 0, sizeof(*sc));
	snprintf(sc->name, sizeof(sc->name), "%s", name);
	sc->every = 3600;
	snprintf(sc->rotator, sizeof(sc->rotator), "exec:/usr/bin/rot");
	sc->created = 1;
	sc->next_run = next_run;
}

static void put_schedule(fixture *f, const char *name, int64_t next_run)
{
	store_schedule sc;

	fill_schedule(&sc, name, next_run);
	assert_int_equal(store_schedule_put(f->s, &sc), 0);
}

static void expect_schedule_equal(const store_schedule *got,
                                  const store_schedule *want)
{
	assert_string_equal(got->name, want->name);
	assert_int_equal(got->every, want->every);
	assert_int_equal(got->jitter, want->jitter);
	assert_int_equal(got->overlap, want->overlap);
	assert_int_equal(got->window, want->window);
	assert_int_equal(got->window_start, want->window_start);
	assert_int_equal(got->window_end, want->window_end);
	assert_string_equal(got->rotator, want->rotator);
	assert_string_equal(got->generate, want->generate);
	assert_string_equal(got->hmac_secret, want->hmac_secret);
	assert_int_equal(got->flags, want->flags);
	assert_int_equal(got->created, want->created);
	assert_int_equal(got->next_run, want->next_run);
	assert_int_equal(got->last_run, want->last_run);
	assert_string_equal(got->last_outcome, want->last_outcome);
}

static void test_schedule_round_trip(void **state)
{
	fixture *f = *state;
	store_schedule sc, got, want;

	memset(&sc, 0, sizeof(sc));
	snprintf(sc.name, sizeof(sc.name), "db/main");
	sc.every = 7 * 86400;
	sc.jitter = 600;
	sc.overlap = 3600;
	sc.window = true;
	sc.window_start = 7200;
	sc.window_end = 86399;
	snprintf(sc.rotator, sizeof(sc.rotator),
	         "webhook:https://rot.example/db");
	snprintf(sc.generate, sizeof(sc.generate), "password:32");
	snprintf(sc.hmac_secret, sizeof(sc.hmac_secret), "hooks/db");
	sc.flags = SCHEDULE_ALLOW_PRIVATE | SCHEDULE_ALLOW_INSECURE;
	sc.created = 1000;
	sc.next_run = 5000;
	/* Not put's to write: only store_schedule_outcome sets these. */
	sc.last_run = 77;
	snprintf(sc.last_outcome, sizeof(sc.last_outcome), "ok");
	assert_int_equal(store_schedule_put(f->s, &sc), 0);

	memset(&got, 0x5a, sizeof(got));
	assert_int_equal(store_schedule_get(f->s, "db/main", &got), 0);
	want = sc;
	want.last_run = 0;
	want.last_outcome[0] = '\0';
	expect_schedule_equal(&got, &want);

	/* No window, no optional strings: NULL in the table, "" here. A
	 * window starting at midnight is still a window. */
	memset(&sc, 0, sizeof(sc));
	snprintf(sc.name, sizeof(sc.name), "plain");
	sc.every = 1;
	snprintf(sc.rotator, sizeof(sc.rotator), "exec:/bin/true");
	sc.created = 5;
	sc.next_run = 6;
	assert_int_equal(store_schedule_put(f->s, &sc), 0);
	memset(&got, 0x5a, sizeof(got));
	assert_int_equal(store_schedule_get(f->s, "plain", &got), 0);
	expect_schedule_equal(&got, &sc);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM schedules"
	                            " WHERE name = 'plain'"
	                            " AND window_start IS NULL"
	                            " AND window_end IS NULL"
	                            " AND generate IS NULL"
	                            " AND hmac_secret IS NULL"
	                            " AND last_run IS NULL"
	                            " AND last_outcome IS NULL"),
	                 1);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM schedules"
	                            " WHERE name = 'db/main'"
	                            " AND generate = 'password:32'"
	                            " AND hmac_secret = 'hooks/db'"),
	                 1);

	fill_schedule(&sc, "midnight", 9);
	sc.window = true;
	sc.window_start = 0;
	sc.window_end = 0;
	assert_int_equal(store_schedule_put(f->s, &sc), 0);
	assert_int_equal(store_schedule_get(f->s, "midnight", &got), 0);
	expect_schedule_equal(&got, &sc);

	assert_int_equal(store_schedule_get(f->s, "nope", &got), KW_ENOTFOUND);
	/* What the table would refuse is refused before it. */
	fill_schedule(&sc, "", 1);
	assert_int_equal(store_schedule_put(f->s, &sc), KW_EINVAL);
	fill_schedule(&sc, "x", 1);
	sc.every = 0;
	assert_int_equal(store_schedule_put(f->s, &sc), KW_EINVAL);
	fill_schedule(&sc, "x", 1);
	sc.rotator[0] = '\0';
	assert_int_equal(store_schedule_put(f->s, &sc), KW_EINVAL);
	assert_int_equal(store_schedule_get(f->s, "x", &got), KW_ENOTFOUND);
}

static void test_schedule_replace(void **state)
{
	fixture *f = *state;
	store_schedule sc, got, want;
	uint64_t n = 0;

	fill_schedule(&sc, "api/key", 500);
	sc.window = true;
	sc.window_start = 100;
	sc.window_end = 200;
	snprintf(sc.generate, sizeof(sc.generate), "hex:16");
	snprintf(sc.hmac_secret, sizeof(sc.hmac_secret), "hk");
	sc.flags = SCHEDULE_ALLOW_PRIVATE;
	sc.created = 100;
	assert_int_equal(store_schedule_put(f->s, &sc), 0);
	assert_int_equal(store_schedule_outcome(f->s, "api/key", 450, "failed"),
	                 0);

	memset(&sc, 0, sizeof(sc));
	snprintf(sc.name, sizeof(sc.name), "api/key");
	sc.every = 60;
	sc.jitter = 5;
	sc.overlap = 10;
	sc.window = false;
	snprintf(sc.rotator, sizeof(sc.rotator), "exec:/usr/bin/other");
	sc.flags = SCHEDULE_ALLOW_INSECURE;
	sc.created = 999; /* ignored: the first put's stays */
	sc.next_run = 700;
	assert_int_equal(store_schedule_put(f->s, &sc), 0);

	assert_int_equal(store_schedule_get(f->s, "api/key", &got), 0);
	want = sc;
	want.created = 100;
	want.last_run = 450;
	snprintf(want.last_outcome, sizeof(want.last_outcome), "failed");
	expect_schedule_equal(&got, &want);
	assert_int_equal(store_schedule_count(f->s, &n), 0);
	assert_int_equal(n, 1);
}

static void test_schedule_delete(void **state)
{
	fixture *f = *state;
	store_schedule got;

	put_schedule(f, "a", 1);
	put_schedule(f, "b", 2);
	assert_int_equal(store_schedule_delete(f->s, "a"), 0);
	assert_int_equal(store_schedule_get(f->s, "a", &got), KW_ENOTFOUND);
	assert_int_equal(store_schedule_delete(f->s, "a"), KW_ENOTFOUND);
	assert_int_equal(store_schedule_delete(f->s, "never"), KW_ENOTFOUND);
	assert_int_equal(store_schedule_get(f->s, "b", &got), 0);
	assert_int_equal(got.next_run, 2);
	/* A deleted name can be scheduled afresh. */
	put_schedule(f, "a", 3);
	assert_int_equal(store_schedule_get(f->s, "a", &got), 0);
	assert_int_equal(got.next_run, 3);
}

typedef struct names {
	char text[TEXT_BUF];
	int calls;
	int stop_at; /* return 42 on this call (1-based); 0: never */
} names;

static int collect_schedule(const store_schedule *sc, void *arg)
{
	names *n = arg;

	append(n->text, "%s ", sc->name);
	return ++n->calls == n->stop_at ? 42 : 0;
}

static const char *list(fixture *f, names *n, const char *after,
                        const char *prefix, uint32_t limit)
{
	memset(n, 0, sizeof(*n));
	assert_int_equal(store_schedule_list(f->s, after, prefix, limit,
	                                     collect_schedule, n),
	                 0);
	return n->text;
}

static void test_schedule_list(void **state)
{
	fixture *f = *state;
	static const char *const all[] = { "b",   "a0",  "a/2", "a",
		                           "a/1", "A",   "a/3", "a/x/y",
		                           "a_b", "axb", "a/" };
	names n;

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		put_schedule(f, all[i], (int64_t)i);

	assert_string_equal(list(f, &n, NULL, NULL, 100),
	                    "A a a/ a/1 a/2 a/3 a/x/y a0 a_b axb b ");
	assert_string_equal(list(f, &n, "", "", 100),
	                    "A a a/ a/1 a/2 a/3 a/x/y a0 a_b axb b ");
	/* The prefix is bytes: "a/" has neither "a" nor "a0"; "_" is no
	 * wildcard. */
	assert_string_equal(list(f, &n, NULL, "a/", 100),
	                    "a/ a/1 a/2 a/3 a/x/y ");
	assert_string_equal(list(f, &n, NULL, "a_", 100), "a_b ");
	assert_string_equal(list(f, &n, NULL, "a/x/y", 100), "a/x/y ");
	assert_string_equal(list(f, &n, NULL, "c", 100), "");
	assert_string_equal(list(f, &n, NULL, "B", 100), "");

	/* Paging: each page starts after the last name of the one before. */
	assert_string_equal(list(f, &n, NULL, "a/", 2), "a/ a/1 ");
	assert_string_equal(list(f, &n, "a/1", "a/", 2), "a/2 a/3 ");
	assert_string_equal(list(f, &n, "a/3", "a/", 2), "a/x/y ");
	assert_string_equal(list(f, &n, "a/x/y", "a/", 2), "");
	assert_string_equal(list(f, &n, NULL, NULL, 3), "A a a/ ");
	assert_string_equal(list(f, &n, "a/x/y", NULL, 3), "a0 a_b axb ");
	assert_string_equal(list(f, &n, "axb", NULL, 3), "b ");
	assert_string_equal(list(f, &n, "b", NULL, 3), "");
	/* after before the prefix's range starts at the range. */
	assert_string_equal(list(f, &n, "A", "a/", 100),
	                    "a/ a/1 a/2 a/3 a/x/y ");
	/* after past the range: nothing, not the next names. */
	assert_string_equal(list(f, &n, "a0", "a/", 100), "");
	assert_string_equal(list(f, &n, NULL, NULL, 0), "");

	/* A callback's non-zero answer stops the walk and is returned. */
	memset(&n, 0, sizeof(n));
	n.stop_at = 2;
	assert_int_equal(store_schedule_list(f->s, NULL, NULL, 100,
	                                     collect_schedule, &n),
	                 42);
	assert_string_equal(n.text, "A a ");
}

static const char *due(fixture *f, names *n, int64_t now, uint32_t limit)
{
	memset(n, 0, sizeof(*n));
	assert_int_equal(store_schedule_due(f->s, now, limit, collect_schedule,
	                                    n),
	                 0);
	return n->text;
}

static void test_schedule_due(void **state)
{
	fixture *f = *state;
	store_schedule got;
	names n;

	put_schedule(f, "a", 300);
	put_schedule(f, "b", 100);
	put_schedule(f, "c", 500);
	put_schedule(f, "d", 200);

	assert_string_equal(due(f, &n, 99, 10), "");
	assert_string_equal(due(f, &n, 100, 10), "b ");
	assert_string_equal(due(f, &n, 300, 10), "b d a ");
	assert_string_equal(due(f, &n, 300, 2), "b d ");
	assert_string_equal(due(f, &n, 10000, 10), "b d a c ");
	assert_string_equal(due(f, &n, 10000, 0), "");

	assert_int_equal(store_schedule_set_next(f->s, "b", 1000), 0);
	assert_int_equal(store_schedule_get(f->s, "b", &got), 0);
	assert_int_equal(got.next_run, 1000);
	assert_string_equal(due(f, &n, 300, 10), "d a ");
	assert_string_equal(due(f, &n, 10000, 10), "d a c b ");
	assert_int_equal(store_schedule_set_next(f->s, "c", 50), 0);
	assert_string_equal(due(f, &n, 10000, 10), "c d a b ");

	memset(&n, 0, sizeof(n));
	n.stop_at = 1;
	assert_int_equal(store_schedule_due(f->s, 10000, 10, collect_schedule,
	                                    &n),
	                 42);
	assert_string_equal(n.text, "c ");
}

static void test_schedule_outcome(void **state)
{
	fixture *f = *state;
	store_schedule got;

	put_schedule(f, "s", 10);
	assert_int_equal(store_schedule_outcome(f->s, "s", 1234, "failed"), 0);
	assert_int_equal(store_schedule_get(f->s, "s", &got), 0);
	assert_int_equal(got.last_run, 1234);
	assert_string_equal(got.last_outcome, "failed");
	assert_int_equal(got.next_run, 10);
	assert_int_equal(store_schedule_outcome(f->s, "s", 2000, "ok"), 0);
	assert_int_equal(store_schedule_get(f->s, "s", &got), 0);
	assert_int_equal(got.last_run, 2000);
	assert_string_equal(got.last_outcome, "ok");
	/* Only "ok" and "failed" are outcomes; a refused one changes
	 * nothing. */
	assert_int_equal(store_schedule_outcome(f->s, "s", 3000, "maybe"),
	                 KW_ESTORE);
	assert_int_equal(store_schedule_get(f->s, "s", &got), 0);
	assert_int_equal(got.last_run, 2000);
	assert_string_equal(got.last_outcome, "ok");
}

static void test_schedule_count(void **state)
{
	fixture *f = *state;
	uint64_t n = 99;

	assert_int_equal(store_schedule_count(f->s, &n), 0);
	assert_int_equal(n, 0);
	put_schedule(f, "a", 1);
	put_schedule(f, "b", 1);
	put_schedule(f, "c", 1);
	put_schedule(f, "b", 2);
	assert_int_equal(store_schedule_count(f->s, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(store_schedule_delete(f->s, "a"), 0);
	assert_int_equal(store_schedule_count(f->s, &n), 0);
	assert_int_equal(n, 2);
}

/* Rotations ---------------------------------------------------------- */

/* A run with id number idn, active (next_try > 0) or finished. */
static void fill_rotation(store_rotation *ro, int idn, const char *name,
                          int64_t started, int64_t next_try)
{
	memset(ro, 0, sizeof(*ro));
	snprintf(ro->id, sizeof(ro->id), "%032x", (unsigned)idn);
	snprintf(ro->name, sizeof(ro->name), "%s", name);
	snprintf(ro->trigger, sizeof(ro->trigger), "schedule");
	snprintf(ro->rotator, sizeof(ro->rotator), "exec:/usr/bin/rot");
	snprintf(ro->step, sizeof(ro->step), "%s",
	         next_try ? "create" : "done");
	ro->next_try = next_try;
	ro->started = started;
	ro->finished = next_try ? 0 : started + 1;
}

static void insert_rotation(fixture *f, int idn, const char *name,
                            int64_t started, int64_t next_try)
{
	store_rotation ro;

	fill_rotation(&ro, idn, name, started, next_try);
	assert_int_equal(store_rotation_insert(f->s, &ro), 0);
}

static void expect_rotation_equal(const store_rotation *got,
                                  const store_rotation *want)
{
	assert_string_equal(got->id, want->id);
	assert_string_equal(got->name, want->name);
	assert_string_equal(got->trigger, want->trigger);
	assert_string_equal(got->rotator, want->rotator);
	assert_string_equal(got->generate, want->generate);
	assert_string_equal(got->hmac_secret, want->hmac_secret);
	assert_int_equal(got->flags, want->flags);
	assert_int_equal(got->overlap, want->overlap);
	assert_string_equal(got->step, want->step);
	assert_int_equal(got->attempts, want->attempts);
	assert_int_equal(got->next_try, want->next_try);
	assert_int_equal(got->pending_version, want->pending_version);
	assert_int_equal(got->previous_version, want->previous_version);
	assert_int_equal(got->new_version, want->new_version);
	assert_int_equal(got->started, want->started);
	assert_int_equal(got->finished, want->finished);
	assert_string_equal(got->error, want->error);
}

static void test_rotation_insert_get(void **state)
{
	fixture *f = *state;
	store_rotation ro, second, got;

	memset(&ro, 0, sizeof(ro));
	snprintf(ro.id, sizeof(ro.id), "0123456789abcdef0123456789abcdef");
	snprintf(ro.name, sizeof(ro.name), "db/main");
	snprintf(ro.trigger, sizeof(ro.trigger), "manual");
	snprintf(ro.rotator, sizeof(ro.rotator),
	         "webhook:https://rot.example/db");
	snprintf(ro.generate, sizeof(ro.generate), "password:40");
	snprintf(ro.hmac_secret, sizeof(ro.hmac_secret), "hooks/db");
	ro.flags = SCHEDULE_ALLOW_PRIVATE | SCHEDULE_ALLOW_INSECURE;
	ro.overlap = 7200;
	snprintf(ro.step, sizeof(ro.step), "set");
	ro.attempts = 2;
	ro.next_try = 150;
	ro.pending_version = 4;
	ro.previous_version = 3;
	ro.new_version = 0;
	ro.started = 100;
	ro.finished = 0;
	snprintf(ro.error, sizeof(ro.error), "connection refused");
	assert_int_equal(store_rotation_insert(f->s, &ro), 0);
	memset(&got, 0x5a, sizeof(got));
	assert_int_equal(store_rotation_get(f->s, ro.id, &got), 0);
	expect_rotation_equal(&got, &ro);
	memset(&got, 0x5a, sizeof(got));
	assert_int_equal(store_rotation_active(f->s, "db/main", &got), 0);
	expect_rotation_equal(&got, &ro);

	/* One active run per secret... */
	fill_rotation(&second, 2, "db/main", 200, 300);
	assert_int_equal(store_rotation_insert(f->s, &second), KW_EEXIST);
	assert_int_equal(store_rotation_get(f->s, second.id, &got),
	                 KW_ENOTFOUND);
	/* ...but finished ones may sit beside it, and other secrets run. */
	fill_rotation(&second, 3, "db/main", 50, 0);
	assert_int_equal(store_rotation_insert(f->s, &second), 0);
	insert_rotation(f, 4, "db/other", 200, 300);

	/* Once the first has finished, a new run may start. */
	ro.next_try = 0;
	ro.finished = 180;
	snprintf(ro.step, sizeof(ro.step), "failed");
	assert_int_equal(store_rotation_update(f->s, &ro), 0);
	fill_rotation(&second, 2, "db/main", 200, 300);
	assert_int_equal(store_rotation_insert(f->s, &second), 0);
	assert_int_equal(store_rotation_active(f->s, "db/main", &got), 0);
	expect_rotation_equal(&got, &second);

	/* Optional strings: NULL in the table, "" here. */
	assert_int_equal(store_rotation_get(f->s, second.id, &got), 0);
	assert_string_equal(got.generate, "");
	assert_string_equal(got.hmac_secret, "");
	assert_string_equal(got.error, "");
	assert_int_equal(got.finished, 0);
	assert_int_equal(
		raw_int(f, "SELECT count(*) FROM rotations"
	                   " WHERE id = '00000000000000000000000000000002'"
	                   " AND generate IS NULL"
	                   " AND hmac_secret IS NULL"
	                   " AND error IS NULL"
	                   " AND finished IS NULL"
	                   " AND next_try = 300"),
		1);

	/* A malformed id or no name is refused before the table. */
	fill_rotation(&second, 9, "x", 1, 2);
	second.id[31] = '\0';
	assert_int_equal(store_rotation_insert(f->s, &second), KW_EINVAL);
	fill_rotation(&second, 9, "", 1, 2);
	assert_int_equal(store_rotation_insert(f->s, &second), KW_EINVAL);
	assert_int_equal(store_rotation_get(f->s,
	                                    "00000000000000000000000000000009",
	                                    &got),
	                 KW_ENOTFOUND);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM rotations"), 4);
}

static void test_rotation_update(void **state)
{
	fixture *f = *state;
	store_rotation ro, got, want;

	fill_rotation(&ro, 1, "k", 100, 100);
	ro.overlap = 60;
	snprintf(ro.generate, sizeof(ro.generate), "hex:8");
	assert_int_equal(store_rotation_insert(f->s, &ro), 0);
	want = ro;

	/* Every mutable field, and only those, is written back. */
	snprintf(ro.step, sizeof(ro.step), "test");
	ro.attempts = 3;
	ro.next_try = 500;
	ro.pending_version = 7;
	ro.previous_version = 6;
	ro.new_version = 5;
	snprintf(ro.error, sizeof(ro.error), "timeout after 30s");
	ro.finished = 0;
	snprintf(ro.trigger, sizeof(ro.trigger), "manual");
	snprintf(ro.rotator, sizeof(ro.rotator), "exec:/elsewhere");
	ro.generate[0] = '\0';
	snprintf(ro.hmac_secret, sizeof(ro.hmac_secret), "hk");
	ro.flags = 3;
	ro.overlap = 999;
	ro.started = 42;
	assert_int_equal(store_rotation_update(f->s, &ro), 0);
	memcpy(want.step, ro.step, sizeof(want.step));
	want.attempts = 3;
	want.next_try = 500;
	want.pending_version = 7;
	want.previous_version = 6;
	want.new_version = 5;
	memcpy(want.error, ro.error, sizeof(want.error));
	assert_int_equal(store_rotation_get(f->s, ro.id, &got), 0);
	expect_rotation_equal(&got, &want);

	/* Finishing: next_try 0 and error "" go back to NULL. */
	snprintf(ro.step, sizeof(ro.step), "done");
	ro.attempts = 4;
	ro.next_try = 0;
	ro.pending_version = 0;
	ro.new_version = 7;
	ro.finished = 900;
	ro.error[0] = '\0';
	assert_int_equal(store_rotation_update(f->s, &ro), 0);
	memcpy(want.step, ro.step, sizeof(want.step));
	want.attempts = 4;
	want.next_try = 0;
	want.pending_version = 0;
	want.new_version = 7;
	want.finished = 900;
	want.error[0] = '\0';
	assert_int_equal(store_rotation_get(f->s, ro.id, &got), 0);
	expect_rotation_equal(&got, &want);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM rotations"
	                            " WHERE next_try IS NULL"
	                            " AND error IS NULL AND finished = 900"),
	                 1);
	assert_int_equal(store_rotation_active(f->s, "k", &got), KW_ENOTFOUND);

	/* Back to active (a retry after all), finished back to NULL. */
	ro.next_try = 1000;
	ro.finished = 0;
	assert_int_equal(store_rotation_update(f->s, &ro), 0);
	assert_int_equal(store_rotation_active(f->s, "k", &got), 0);
	assert_int_equal(got.next_try, 1000);
	assert_int_equal(got.finished, 0);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM rotations"
	                            " WHERE finished IS NULL"),
	                 1);

	/* A run that is not there. */
	fill_rotation(&ro, 2, "k", 1, 1);
	assert_int_equal(store_rotation_update(f->s, &ro), KW_ENOTFOUND);
	assert_int_equal(store_rotation_get(f->s, ro.id, &got), KW_ENOTFOUND);
}

static int collect_rotation(const store_rotation *ro, void *arg)
{
	names *n = arg;

	append(n->text, "%s:%d ", ro->name, (int)strtol(ro->id, NULL, 16));
	return ++n->calls == n->stop_at ? 42 : 0;
}

static const char *rot_due(fixture *f, names *n, int64_t now, uint32_t limit)
{
	memset(n, 0, sizeof(*n));
	assert_int_equal(store_rotation_due(f->s, now, limit, collect_rotation,
	                                    n),
	                 0);
	return n->text;
}

static void test_rotation_active_due(void **state)
{
	fixture *f = *state;
	store_rotation got;
	names n;

	insert_rotation(f, 1, "x", 10, 300);
	insert_rotation(f, 2, "y", 20, 100);
	insert_rotation(f, 3, "z", 30, 200);
	insert_rotation(f, 4, "x", 5, 0); /* finished, was due early */
	insert_rotation(f, 5, "w", 5, 0);

	assert_int_equal(store_rotation_active(f->s, "x", &got), 0);
	assert_int_equal(strtol(got.id, NULL, 16), 1);
	assert_int_equal(got.next_try, 300);
	assert_int_equal(store_rotation_active(f->s, "w", &got), KW_ENOTFOUND);
	assert_int_equal(store_rotation_active(f->s, "none", &got),
	                 KW_ENOTFOUND);

	assert_string_equal(rot_due(f, &n, 99, 10), "");
	assert_string_equal(rot_due(f, &n, 100, 10), "y:2 ");
	assert_string_equal(rot_due(f, &n, 250, 10), "y:2 z:3 ");
	assert_string_equal(rot_due(f, &n, 300, 10), "y:2 z:3 x:1 ");
	assert_string_equal(rot_due(f, &n, 5000, 2), "y:2 z:3 ");
	assert_string_equal(rot_due(f, &n, 5000, 0), "");

	memset(&n, 0, sizeof(n));
	n.stop_at = 1;
	assert_int_equal(store_rotation_due(f->s, 5000, 10, collect_rotation,
	                                    &n),
	                 42);
	assert_string_equal(n.text, "y:2 ");
}

/* Command groups ----------------------------------------------------- */

static int collect_group(const store_rotation_group *g, void *arg)
{
	char *out = arg;

	append(out, "%s/%ld:%lld:%llu:%lld:%.4s ", g->name,
	       strtol(g->id, NULL, 16), (long long)g->pgid,
	       (unsigned long long)g->start, (long long)g->sid, g->boot);
	return 0;
}

static const char *groups(fixture *f, char out[static TEXT_BUF])
{
	out[0] = '\0';
	assert_int_equal(store_rotation_groups(f->s, collect_group, out), 0);
	return out;
}

static store_rotation_group group(const char *id, int64_t pgid)
{
	store_rotation_group g = { .pgid = pgid, .start = 777, .sid = 55 };

	snprintf(g.id, sizeof(g.id), "%s", id);
	snprintf(g.boot, sizeof(g.boot), "%s",
	         "0123abcd-0000-4000-8000-000000000000");
	return g;
}

/* Recorded, listed for active runs only, forgotten; bad records refused. */
static void test_rotation_groups(void **state)
{
	fixture *f = *state;
	char out[TEXT_BUF];
	store_rotation ro;
	store_rotation_group g, bad;

	insert_rotation(f, 1, "x", 10, 300);
	insert_rotation(f, 2, "y", 20, 0); /* finished */
	insert_rotation(f, 3, "z", 30, 100);
	assert_string_equal(groups(f, out), "");

	fill_rotation(&ro, 1, "x", 10, 300);
	g = group(ro.id, 4242);
	assert_int_equal(store_rotation_set_group(f->s, ro.id, &g), 0);
	fill_rotation(&ro, 2, "y", 20, 0);
	g = group(ro.id, 99);
	assert_int_equal(store_rotation_set_group(f->s, ro.id, &g), 0);
	assert_string_equal(groups(f, out), "x/1:4242:777:55:0123 ");
	assert_int_equal(raw_int(f, "SELECT count(*) FROM rotations"
	                            " WHERE cmd_pgid IS NOT NULL"),
	                 2);

	/* A later step's command replaces the record. */
	fill_rotation(&ro, 1, "x", 10, 300);
	g = group(ro.id, 5151);
	g.start = 888;
	assert_int_equal(store_rotation_set_group(f->s, ro.id, &g), 0);
	assert_string_equal(groups(f, out), "x/1:5151:888:55:0123 ");

	/* Updating the run's step leaves the record alone. */
	assert_int_equal(store_rotation_get(f->s, ro.id, &ro), 0);
	snprintf(ro.step, sizeof(ro.step), "test");
	assert_int_equal(store_rotation_update(f->s, &ro), 0);
	assert_string_equal(groups(f, out), "x/1:5151:888:55:0123 ");

	assert_int_equal(store_rotation_set_group(f->s, ro.id, NULL), 0);
	assert_string_equal(groups(f, out), "");
	assert_int_equal(raw_int(f, "SELECT count(*) FROM rotations"
	                            " WHERE cmd_pgid IS NULL"
	                            " AND cmd_start IS NULL AND cmd_sid IS NULL"
	                            " AND cmd_boot IS NULL"),
	                 2); /* the finished run keeps its own */

	bad = group(ro.id, 1); /* init's group is never a command's */
	assert_int_equal(store_rotation_set_group(f->s, ro.id, &bad),
	                 KW_EINVAL);
	bad = group(ro.id, 4242);
	bad.boot[5] = '\0';
	assert_int_equal(store_rotation_set_group(f->s, ro.id, &bad),
	                 KW_EINVAL);
	bad = group(ro.id, 4242);
	bad.sid = -1;
	assert_int_equal(store_rotation_set_group(f->s, ro.id, &bad),
	                 KW_EINVAL);
	bad = group(ro.id, 4242);
	bad.start = (uint64_t)INT64_MAX + 1;
	assert_int_equal(store_rotation_set_group(f->s, ro.id, &bad),
	                 KW_EINVAL);
	assert_int_equal(store_rotation_set_group(f->s, ro.id, NULL), 0);
	g = group("ffffffffffffffffffffffffffffffff", 4242);
	assert_int_equal(store_rotation_set_group(f->s, g.id, &g),
	                 KW_ENOTFOUND);
	assert_int_equal(store_rotation_set_group(NULL, ro.id, NULL),
	                 KW_EINVAL);
	assert_int_equal(store_rotation_groups(f->s, NULL, NULL), KW_EINVAL);
	assert_string_equal(groups(f, out), "");
}

/* A store of schema 5 gains the columns; its runs are kept. */
static void test_rotation_groups_migrate(void **state)
{
	fixture *f = *state;
	char out[TEXT_BUF];
	store_rotation ro;
	store_rotation_group g;
	sqlite3 *db;
	int ver = 0;

	insert_rotation(f, 1, "x", 10, 300);
	store_close(f->s);
	f->s = NULL;
	assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE,
	                                 NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
	                              "ALTER TABLE rotations DROP COLUMN"
	                              " cmd_pgid;"
	                              "ALTER TABLE rotations DROP COLUMN"
	                              " cmd_start;"
	                              "ALTER TABLE rotations DROP COLUMN"
	                              " cmd_sid;"
	                              "ALTER TABLE rotations DROP COLUMN"
	                              " cmd_boot;"
	                              "DROP TABLE audit_cp_head;"
	                              "DROP TABLE audit_gaps;"
	                              "DROP TABLE subkeys;"
	                              "DROP TABLE oauth_creds;"
	                              "DELETE FROM schema_migrations"
	                              " WHERE version >= 6;",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &f->s), 0);
	assert_int_equal(store_schema_version(f->s, &ver), 0);
	assert_int_equal(ver, 9);
	fill_rotation(&ro, 1, "x", 10, 300);
	assert_int_equal(store_rotation_get(f->s, ro.id, &ro), 0);
	assert_string_equal(groups(f, out), "");
	g = group(ro.id, 4242);
	assert_int_equal(store_rotation_set_group(f->s, ro.id, &g), 0);
	assert_string_equal(groups(f, out), "x/1:4242:777:55:0123 ");
}

static const char *history(fixture *f, names *n, const char *name,
                           uint32_t limit)
{
	memset(n, 0, sizeof(*n));
	assert_int_equal(store_rotation_history(f->s, name, limit,
	                                        collect_rotation, n),
	                 0);
	return n->text;
}

static void test_rotation_history(void **state)
{
	fixture *f = *state;
	names n;

	insert_rotation(f, 1, "h", 100, 0);
	insert_rotation(f, 2, "h", 300, 0);
	insert_rotation(f, 3, "h", 200, 0);
	insert_rotation(f, 4, "h", 300, 0); /* same start: later insert first */
	insert_rotation(f, 5, "h", 400, 450); /* active: not history */
	insert_rotation(f, 6, "other", 500, 0);

	assert_string_equal(history(f, &n, "h", 10), "h:4 h:2 h:3 h:1 ");
	assert_string_equal(history(f, &n, "h", 2), "h:4 h:2 ");
	assert_string_equal(history(f, &n, "h", 0), "");
	assert_string_equal(history(f, &n, "other", 10), "other:6 ");
	assert_string_equal(history(f, &n, "nobody", 10), "");

	memset(&n, 0, sizeof(n));
	n.stop_at = 1;
	assert_int_equal(store_rotation_history(f->s, "h", 10, collect_rotation,
	                                        &n),
	                 42);
	assert_string_equal(n.text, "h:4 ");
}

static void test_rotation_prune(void **state)
{
	fixture *f = *state;
	store_rotation got;
	names n;

	for (int i = 1; i <= 5; i++)
		insert_rotation(f, i, "p", i * 100, 0);
	insert_rotation(f, 6, "p", 50, 60); /* active, and the oldest */
	insert_rotation(f, 7, "q", 1, 0);
	insert_rotation(f, 8, "q", 2, 0);

	assert_int_equal(store_rotation_prune(f->s, "p", 2), 0);
	assert_string_equal(history(f, &n, "p", 10), "p:5 p:4 ");
	assert_int_equal(store_rotation_active(f->s, "p", &got), 0);
	assert_int_equal(strtol(got.id, NULL, 16), 6);
	assert_string_equal(history(f, &n, "q", 10), "q:8 q:7 ");
	/* Keeping more than there are deletes nothing. */
	assert_int_equal(store_rotation_prune(f->s, "p", 10), 0);
	assert_string_equal(history(f, &n, "p", 10), "p:5 p:4 ");

	assert_int_equal(store_rotation_prune(f->s, "p", 0), 0);
	assert_string_equal(history(f, &n, "p", 10), "");
	assert_int_equal(store_rotation_active(f->s, "p", &got), 0);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM rotations"
	                            " WHERE name = 'p'"),
	                 1);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM rotations"), 3);
}

/* Versions ----------------------------------------------------------- */

static uint64_t put(fixture *f, const char *name, const char *value,
                    uint32_t max_versions, int64_t now)
{
	uint64_t ver = 0;

	assert_int_equal(store_put(f->s, f->dk, name, (const uint8_t *)value,
	                           strlen(value), max_versions, now, &ver),
	                 0);
	assert_true(ver > 0);
	return ver;
}

static uint64_t pending(fixture *f, const char *name, const char *value,
                        int64_t now)
{
	uint64_t ver = 0;

	assert_int_equal(store_put_pending(f->s, f->dk, name,
	                                   (const uint8_t *)value,
	                                   strlen(value), now, &ver),
	                 0);
	assert_true(ver > 0);
	return ver;
}

static uint64_t current(fixture *f, const char *name)
{
	uint64_t v = 99;

	assert_int_equal(store_current_version(f->s, name, &v), 0);
	return v;
}

static void expect(fixture *f, const char *name, uint64_t version,
                   const char *stage, const char *value, uint64_t want_ver,
                   const char *want_stage)
{
	store_value *v = NULL;

	assert_int_equal(store_get(f->s, f->dk, name, version, stage, &v), 0);
	assert_non_null(v);
	assert_int_equal(v->len, strlen(value));
	assert_memory_equal(v->value, value, v->len);
	assert_int_equal(v->version, want_ver);
	assert_string_equal(v->stage, want_stage);
	store_value_free(v);
}

static void expect_get_err(fixture *f, const char *name, uint64_t version,
                           const char *stage, int err)
{
	store_value *v = NULL;

	assert_int_equal(store_get(f->s, f->dk, name, version, stage, &v), err);
	assert_null(v);
}

static int collect_versions(const store_version_info *vi, void *arg)
{
	append(arg, "%llu:%s ", (unsigned long long)vi->version, vi->stage);
	return 0;
}

/* "version:stage " newest first. */
static void expect_versions(fixture *f, const char *name, const char *want)
{
	char got[TEXT_BUF] = "";

	assert_int_equal(store_versions(f->s, name, collect_versions, got), 0);
	assert_string_equal(got, want);
}

static int collect_meta(const store_meta *m, void *arg)
{
	append(arg, "%s:%llu:%u:%lld ", m->name,
	       (unsigned long long)m->current_version, m->versions,
	       (long long)m->updated);
	return 0;
}

static void expect_meta(fixture *f, const char *want)
{
	char got[TEXT_BUF] = "";

	assert_int_equal(store_list(f->s, NULL, collect_meta, got), 0);
	assert_string_equal(got, want);
}

/* Versions holding a retire_at, as "name:version:retire_at ". */
static void expect_retire_at(fixture *f, const char *want)
{
	char got[TEXT_BUF] = "";
	sqlite3_stmt *st = NULL;
	sqlite3 *db;

	assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE,
	                                 NULL),
	                 SQLITE_OK);
	sqlite3_busy_timeout(db, 2000);
	assert_int_equal(sqlite3_prepare_v2(db,
	                                    "SELECT s.name, v.version,"
	                                    " v.retire_at FROM versions v"
	                                    " JOIN secrets s"
	                                    " ON s.id = v.secret_id"
	                                    " WHERE v.retire_at IS NOT NULL"
	                                    " ORDER BY s.name, v.version",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW)
		append(got, "%s:%lld:%lld ",
		       (const char *)sqlite3_column_text(st, 0),
		       (long long)sqlite3_column_int64(st, 1),
		       (long long)sqlite3_column_int64(st, 2));
	sqlite3_finalize(st);
	sqlite3_close(db);
	assert_string_equal(got, want);
}

static void test_current_version(void **state)
{
	fixture *f = *state;

	assert_int_equal(current(f, "nope"), 0);
	assert_int_equal(put(f, "a", "one", 10, 1), 1);
	assert_int_equal(current(f, "a"), 1);
	assert_int_equal(put(f, "a", "two", 10, 2), 2);
	assert_int_equal(current(f, "a"), 2);
	/* A pending version is not current. */
	assert_int_equal(pending(f, "a", "three", 3), 3);
	assert_int_equal(current(f, "a"), 2);
	assert_int_equal(pending(f, "fresh", "p", 4), 1);
	assert_int_equal(current(f, "fresh"), 0);
	assert_int_equal(store_delete(f->s, "a", NULL), 0);
	assert_int_equal(current(f, "a"), 0);
}

static void test_put_pending(void **state)
{
	fixture *f = *state;
	uint64_t n = 0;

	/* On a missing secret: created, with no current version. */
	assert_int_equal(pending(f, "svc/key", "p1", 100), 1);
	assert_int_equal(store_count(f->s, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(current(f, "svc/key"), 0);
	expect_meta(f, "svc/key:0:1:100 ");
	expect_versions(f, "svc/key", "1:pending ");
	expect(f, "svc/key", 1, NULL, "p1", 1, "pending");
	expect(f, "svc/key", 0, "pending", "p1", 1, "pending");
	expect_get_err(f, "svc/key", 0, NULL, KW_ENOTFOUND);

	/* A second pending replaces the first, under a new number. */
	assert_int_equal(pending(f, "svc/key", "p2", 200), 2);
	expect_versions(f, "svc/key", "2:pending ");
	expect_get_err(f, "svc/key", 1, NULL, KW_ENOTFOUND);
	expect(f, "svc/key", 2, NULL, "p2", 2, "pending");
	expect_meta(f, "svc/key:0:1:200 ");

	/* Nothing else moves: a put beside it leaves it pending... */
	assert_int_equal(put(f, "svc/key", "c3", 10, 300), 3);
	assert_int_equal(put(f, "svc/key", "c4", 10, 400), 4);
	expect_versions(f, "svc/key", "4:current 3:previous 2:pending ");
	/* ...and a pending beside current and previous leaves them. */
	assert_int_equal(pending(f, "svc/key", "p5", 500), 5);
	expect_versions(f, "svc/key", "5:pending 4:current 3:previous ");
	expect(f, "svc/key", 5, NULL, "p5", 5, "pending");
	expect(f, "svc/key", 0, NULL, "c4", 4, "current");
	expect(f, "svc/key", 0, "previous", "c3", 3, "previous");
	expect_get_err(f, "svc/key", 2, NULL, KW_ENOTFOUND);
	expect_retire_at(f, "");
	assert_int_equal(store_count(f->s, &n), 0);
	assert_int_equal(n, 1);

	/* A deleted name resumes its numbering here too. */
	assert_int_equal(store_delete(f->s, "svc/key", NULL), 0);
	assert_int_equal(pending(f, "svc/key", "p6", 600), 6);
	expect_versions(f, "svc/key", "6:pending ");
}

static void test_promote(void **state)
{
	fixture *f = *state;

	assert_int_equal(put(f, "s", "v1", 10, 100), 1);
	assert_int_equal(put(f, "s", "v2", 10, 200), 2);
	assert_int_equal(pending(f, "s", "v3", 250), 3);
	expect_meta(f, "s:2:3:250 ");
	assert_int_equal(store_promote(f->s, "s", 3, 2, 5000, 0, 300), 0);
	expect_versions(f, "s", "3:current 2:previous 1:retired ");
	expect(f, "s", 0, NULL, "v3", 3, "current");
	expect(f, "s", 0, "previous", "v2", 2, "previous");
	expect(f, "s", 0, "retired", "v1", 1, "retired");
	expect_get_err(f, "s", 0, "pending", KW_ENOTFOUND);
	assert_int_equal(current(f, "s"), 3);
	expect_meta(f, "s:3:3:300 ");
	/* Only the old current carries the end of its overlap. */
	expect_retire_at(f, "s:2:5000 ");

	/* The numbering goes on past the promoted version. */
	assert_int_equal(pending(f, "s", "v4", 400), 4);
	assert_int_equal(store_promote(f->s, "s", 4, 3, 6000, 0, 500), 0);
	expect_versions(f, "s", "4:current 3:previous 2:retired 1:retired ");
	/* The old previous, retired, no longer waits for its retire_at. */
	expect_retire_at(f, "s:3:6000 ");

	/* A secret that only ever had a pending version. */
	assert_int_equal(pending(f, "new", "n1", 10), 1);
	assert_int_equal(store_promote(f->s, "new", 1, 0, 7000, 0, 20), 0);
	expect_versions(f, "new", "1:current ");
	expect(f, "new", 0, NULL, "n1", 1, "current");
	expect_retire_at(f, "s:3:6000 ");
}

static void test_promote_stale(void **state)
{
	fixture *f = *state;

	assert_int_equal(put(f, "s", "a", 10, 100), 1);
	assert_int_equal(pending(f, "s", "p", 200), 2);
	/* Someone wrote the secret while the rotation ran. */
	assert_int_equal(put(f, "s", "b", 10, 300), 3);
	expect_meta(f, "s:3:3:300 ");
	assert_int_equal(store_promote(f->s, "s", 2, 1, 5000, 0, 400),
	                 KW_ESTATE);
	assert_int_equal(store_promote(f->s, "s", 2, 0, 5000, 0, 400),
	                 KW_ESTATE);
	assert_int_equal(store_promote(f->s, "s", 2, 4, 5000, 1, 400),
	                 KW_ESTATE);
	expect_versions(f, "s", "3:current 2:pending 1:previous ");
	expect(f, "s", 0, NULL, "b", 3, "current");
	expect_retire_at(f, "");
	expect_meta(f, "s:3:3:300 ");

	/* With no current at all, expecting one is stale too. */
	assert_int_equal(pending(f, "t", "p", 10), 1);
	assert_int_equal(store_promote(f->s, "t", 1, 1, 5000, 0, 20),
	                 KW_ESTATE);
	expect_versions(f, "t", "1:pending ");

	/* The expected current still promotes. */
	assert_int_equal(store_promote(f->s, "s", 2, 3, 5000, 0, 400), 0);
	expect_versions(f, "s", "3:previous 2:current 1:retired ");
}

static void test_promote_not_pending(void **state)
{
	fixture *f = *state;

	assert_int_equal(put(f, "s", "a", 10, 100), 1);
	assert_int_equal(put(f, "s", "b", 10, 200), 2);
	assert_int_equal(store_promote(f->s, "s", 2, 2, 5000, 0, 300),
	                 KW_ENOTFOUND);
	assert_int_equal(store_promote(f->s, "s", 1, 2, 5000, 0, 300),
	                 KW_ENOTFOUND);
	assert_int_equal(store_promote(f->s, "s", 9, 2, 5000, 0, 300),
	                 KW_ENOTFOUND);
	assert_int_equal(store_promote(f->s, "nope", 1, 0, 5000, 0, 300),
	                 KW_ENOTFOUND);
	assert_int_equal(store_promote(f->s, "s", 0, 2, 5000, 0, 300),
	                 KW_EINVAL);
	expect_versions(f, "s", "2:current 1:previous ");
	expect_retire_at(f, "");

	/* A promoted version is pending no more. */
	assert_int_equal(pending(f, "s", "c", 300), 3);
	assert_int_equal(store_promote(f->s, "s", 3, 2, 5000, 0, 400), 0);
	assert_int_equal(store_promote(f->s, "s", 3, 3, 6000, 0, 500),
	                 KW_ENOTFOUND);
	expect_versions(f, "s", "3:current 2:previous 1:retired ");
	expect_retire_at(f, "s:2:5000 ");
}

static void test_promote_prunes(void **state)
{
	fixture *f = *state;

	for (int i = 1; i <= 4; i++)
		assert_int_equal(put(f, "s", "v", 0, i), (uint64_t)i);
	assert_int_equal(pending(f, "s", "v5", 5), 5);
	expect_versions(f, "s",
	                "5:pending 4:current 3:previous 2:retired "
	                "1:retired ");
	assert_int_equal(store_promote(f->s, "s", 5, 4, 5000, 3, 6), 0);
	expect_versions(f, "s", "5:current 4:previous 3:retired ");
	expect(f, "s", 0, NULL, "v5", 5, "current");

	/* 0 prunes nothing. */
	assert_int_equal(pending(f, "s", "v6", 7), 6);
	assert_int_equal(store_promote(f->s, "s", 6, 5, 6000, 0, 8), 0);
	expect_versions(f, "s", "6:current 5:previous 4:retired 3:retired ");
}

typedef struct retired {
	fixture *f;
	char text[TEXT_BUF];
	int calls;
	int stop_at;
} retired;

static int collect_retired(const char *name, uint64_t version, void *arg)
{
	retired *r = arg;
	store_value *v = NULL;

	/* Called after the version is retired, not before. */
	assert_int_equal(store_get(r->f->s, r->f->dk, name, version, NULL, &v),
	                 0);
	assert_string_equal(v->stage, "retired");
	store_value_free(v);
	append(r->text, "%s:%llu ", name, (unsigned long long)version);
	return ++r->calls == r->stop_at ? 42 : 0;
}

static const char *retire(fixture *f, retired *r, int64_t now, uint32_t limit)
{
	memset(r, 0, sizeof(*r));
	r->f = f;
	assert_int_equal(store_retire_due(f->s, now, limit, collect_retired, r),
	                 0);
	return r->text;
}

/* name gets versions 1 (previous until retire_at) and 2 (current). */
static void overlap(fixture *f, const char *name, int64_t retire_at)
{
	assert_int_equal(put(f, name, "old", 10, 1), 1);
	assert_int_equal(pending(f, name, "new", 2), 2);
	assert_int_equal(store_promote(f->s, name, 2, 1, retire_at, 0, 3), 0);
}

static void test_retire_due(void **state)
{
	fixture *f = *state;
	retired r;

	overlap(f, "c", 300);
	overlap(f, "a", 200);
	overlap(f, "b", 100);
	overlap(f, "d", 400);

	assert_string_equal(retire(f, &r, 99, 10), "");
	assert_string_equal(retire(f, &r, 300, 0), "");
	expect_retire_at(f, "a:1:200 b:1:100 c:1:300 d:1:400 ");
	/* Only what is due, earliest first. */
	assert_string_equal(retire(f, &r, 200, 10), "b:1 a:1 ");
	expect_versions(f, "a", "2:current 1:retired ");
	expect_versions(f, "b", "2:current 1:retired ");
	expect_versions(f, "c", "2:current 1:previous ");
	expect_retire_at(f, "c:1:300 d:1:400 ");
	expect(f, "a", 0, "retired", "old", 1, "retired");
	expect_get_err(f, "a", 0, "previous", KW_ENOTFOUND);
	/* Nothing is retired twice. */
	assert_string_equal(retire(f, &r, 200, 10), "");

	/* At most limit at a time. */
	assert_string_equal(retire(f, &r, 1000, 1), "c:1 ");
	expect_versions(f, "d", "2:current 1:previous ");
	assert_string_equal(retire(f, &r, 1000, 1), "d:1 ");
	expect_retire_at(f, "");
	assert_string_equal(retire(f, &r, 1000, 10), "");
	assert_int_equal(raw_int(f, "SELECT count(*) FROM versions"
	                            " WHERE stage = 'previous'"),
	                 0);
}

static void test_retire_due_stops(void **state)
{
	fixture *f = *state;
	retired r;

	overlap(f, "a", 100);
	overlap(f, "b", 200);
	memset(&r, 0, sizeof(r));
	r.f = f;
	r.stop_at = 1;
	assert_int_equal(store_retire_due(f->s, 1000, 10, collect_retired, &r),
	                 42);
	assert_string_equal(r.text, "a:1 ");
	expect_versions(f, "b", "2:current 1:previous ");
	assert_string_equal(retire(f, &r, 1000, 10), "b:1 ");
}

/* More than 64 due: one call does 64, the next the rest. */
static void test_retire_due_at_most_64(void **state)
{
	fixture *f = *state;
	char name[16];
	retired r;

	for (int i = 0; i < 70; i++) {
		snprintf(name, sizeof(name), "n%02d", i);
		overlap(f, name, 100 + i);
	}
	retire(f, &r, 1000, 100);
	assert_int_equal(r.calls, 64);
	assert_true(strstr(r.text, "n63:1 ") != NULL);
	assert_null(strstr(r.text, "n64:1 "));
	assert_int_equal(raw_int(f, "SELECT count(*) FROM versions"
	                            " WHERE retire_at IS NOT NULL"),
	                 6);
	assert_string_equal(retire(f, &r, 1000, 100),
	                    "n64:1 n65:1 n66:1 n67:1 n68:1 n69:1 ");
}

/* A version retired another way leaves no retire_at behind to wake the
 * agent for nothing. */
static void test_put_clears_retire_at(void **state)
{
	fixture *f = *state;
	int64_t when = 0;
	retired r;

	overlap(f, "s", 500);
	expect_retire_at(f, "s:1:500 ");
	assert_int_equal(store_rotation_next_due(f->s, &when), 0);
	assert_int_equal(when, 500);
	/* store_put retires the previous version, inside its overlap. */
	assert_int_equal(put(f, "s", "manual", 10, 100), 3);
	expect_versions(f, "s", "3:current 2:previous 1:retired ");
	expect_retire_at(f, "");
	assert_int_equal(raw_int(f, "SELECT count(*) FROM versions"
	                            " WHERE stage = 'retired'"
	                            " AND retire_at IS NOT NULL"),
	                 0);
	assert_int_equal(store_rotation_next_due(f->s, &when), KW_ENOTFOUND);
	assert_string_equal(retire(f, &r, 1000, 10), "");
	expect_versions(f, "s", "3:current 2:previous 1:retired ");
}

static void test_next_due(void **state)
{
	fixture *f = *state;
	store_rotation ro;
	int64_t when = -1;

	assert_int_equal(store_rotation_next_due(f->s, &when), KW_ENOTFOUND);
	assert_int_equal(when, -1);
	/* Finished runs wait for nothing. */
	insert_rotation(f, 9, "old", 1, 0);
	assert_int_equal(store_rotation_next_due(f->s, &when), KW_ENOTFOUND);

	/* Each source alone, then each in turn the earliest. */
	overlap(f, "v", 700);
	assert_int_equal(store_rotation_next_due(f->s, &when), 0);
	assert_int_equal(when, 700);
	put_schedule(f, "sched", 500);
	assert_int_equal(store_rotation_next_due(f->s, &when), 0);
	assert_int_equal(when, 500);
	fill_rotation(&ro, 1, "run", 10, 400);
	assert_int_equal(store_rotation_insert(f->s, &ro), 0);
	assert_int_equal(store_rotation_next_due(f->s, &when), 0);
	assert_int_equal(when, 400);
	assert_int_equal(store_schedule_set_next(f->s, "sched", 100), 0);
	assert_int_equal(store_rotation_next_due(f->s, &when), 0);
	assert_int_equal(when, 100);
	assert_int_equal(store_schedule_set_next(f->s, "sched", 900), 0);
	assert_int_equal(store_rotation_next_due(f->s, &when), 0);
	assert_int_equal(when, 400);
	ro.next_try = 800;
	assert_int_equal(store_rotation_update(f->s, &ro), 0);
	assert_int_equal(store_rotation_next_due(f->s, &when), 0);
	assert_int_equal(when, 700);
	assert_int_equal(store_retire_due(f->s, 700, 10, NULL, NULL),
	                 KW_EINVAL);
	{
		retired r;

		assert_string_equal(retire(f, &r, 700, 10), "v:1 ");
	}
	assert_int_equal(store_rotation_next_due(f->s, &when), 0);
	assert_int_equal(when, 800);
	ro.next_try = 0;
	ro.finished = 810;
	snprintf(ro.step, sizeof(ro.step), "done");
	assert_int_equal(store_rotation_update(f->s, &ro), 0);
	assert_int_equal(store_rotation_next_due(f->s, &when), 0);
	assert_int_equal(when, 900);
	assert_int_equal(store_schedule_delete(f->s, "sched"), 0);
	when = -1;
	assert_int_equal(store_rotation_next_due(f->s, &when), KW_ENOTFOUND);
	assert_int_equal(when, -1);
}

/* Inside a batch, a promote rolled back with the batch leaves no trace. */
static void test_batch_rollback_promote(void **state)
{
	fixture *f = *state;
	int64_t when = 0;

	assert_int_equal(put(f, "s", "a", 10, 100), 1);
	assert_int_equal(put(f, "s", "b", 10, 200), 2);
	assert_int_equal(pending(f, "s", "c", 300), 3);
	expect_meta(f, "s:2:3:300 ");

	assert_int_equal(store_batch_begin(f->s), 0);
	assert_int_equal(store_promote(f->s, "s", 3, 2, 5000, 2, 400), 0);
	/* Inside the batch the promotion is visible... */
	expect_versions(f, "s", "3:current 2:previous ");
	assert_int_equal(store_rotation_next_due(f->s, &when), 0);
	assert_int_equal(when, 5000);
	store_batch_rollback(f->s);
	assert_false(store_batch_active(f->s));

	/* ...and after the rollback nothing of it is. */
	expect_versions(f, "s", "3:pending 2:current 1:previous ");
	expect(f, "s", 0, NULL, "b", 2, "current");
	expect(f, "s", 3, NULL, "c", 3, "pending");
	expect(f, "s", 1, NULL, "a", 1, "previous");
	expect_meta(f, "s:2:3:300 ");
	expect_retire_at(f, "");
	assert_int_equal(store_rotation_next_due(f->s, &when), KW_ENOTFOUND);
	assert_int_equal(current(f, "s"), 2);

	/* The same promotion still works afterwards. */
	assert_int_equal(store_promote(f->s, "s", 3, 2, 5000, 0, 400), 0);
	expect_versions(f, "s", "3:current 2:previous 1:retired ");
}

/* In a batch, a stale promote undoes only itself. */
static void test_batch_stale_promote(void **state)
{
	fixture *f = *state;

	assert_int_equal(put(f, "s", "a", 10, 100), 1);
	assert_int_equal(pending(f, "s", "p", 200), 2);
	assert_int_equal(store_batch_begin(f->s), 0);
	assert_int_equal(pending(f, "t", "q", 300), 1);
	assert_int_equal(store_promote(f->s, "s", 2, 7, 5000, 0, 400),
	                 KW_ESTATE);
	assert_int_equal(store_promote(f->s, "t", 1, 0, 6000, 0, 400), 0);
	assert_int_equal(store_batch_commit(f->s), 0);
	expect_versions(f, "s", "2:pending 1:current ");
	expect_versions(f, "t", "1:current ");
	expect_retire_at(f, "");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_schedule_round_trip),
		T(test_schedule_replace),
		T(test_schedule_delete),
		T(test_schedule_list),
		T(test_schedule_due),
		T(test_schedule_outcome),
		T(test_schedule_count),
		T(test_rotation_insert_get),
		T(test_rotation_update),
		T(test_rotation_active_due),
		T(test_rotation_history),
		T(test_rotation_prune),
		T(test_rotation_groups),
		T(test_rotation_groups_migrate),
		T(test_current_version),
		T(test_put_pending),
		T(test_promote),
		T(test_promote_stale),
		T(test_promote_not_pending),
		T(test_promote_prunes),
		T(test_retire_due),
		T(test_retire_due_stops),
		T(test_retire_due_at_most_64),
		T(test_put_clears_retire_at),
		T(test_next_due),
		T(test_batch_rollback_promote),
		T(test_batch_stale_promote),
	};

	if (kw_secmem_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
