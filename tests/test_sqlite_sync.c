/* The synchronous mode around group commits (src/store/sqlite_db.c): a group-committed transaction
 * runs in NORMAL and is made durable by the shared WAL sync; afterwards the connection stays in
 * NORMAL only until its next statement outside a group commit, which runs in FULL again (an
 * autocommit write syncs itself), and a connection set to NORMAL on purpose stays NORMAL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#include "../src/store/sqlite_db.h"

typedef struct {
    char dir[64];
    char path[96];
    ccg_sqlite *h;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/ccg-sqlite-sync-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/t.db", f->dir);
    assert_true(ccg_ok(ccg_sqlite_open(f->path, 5000, 1, &f->h)));
    assert_true(ccg_ok(ccg_sqlite_exec_script(f->h, "CREATE TABLE t (v INTEGER NOT NULL) STRICT;", "create")));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];
    ccg_sqlite_close(f->h);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static const char SQL_MODE[] = "PRAGMA synchronous";
static const char SQL_INSERT[] = "INSERT INTO t(v) VALUES (1)";

/* The connection's synchronous mode as SQLite reports it (1 NORMAL, 2 FULL), read through the cached
 * statement path, as every statement of the store runs. */
static int64_t mode_now(ccg_sqlite *h)
{
    sqlite3_stmt *st = NULL;
    int row = 0;
    int64_t v = -1;
    assert_true(ccg_ok(ccg_sqlite_stmt(h, SQL_MODE, &st)));
    assert_true(ccg_ok(ccg_sqlite_step_row(h, st, &row, "mode")));
    assert_true(row);
    assert_true(ccg_ok(ccg_sqlite_col_int(st, 0, &v)));
    ccg_sqlite_done(st);
    return v;
}

static void insert(ccg_sqlite *h)
{
    sqlite3_stmt *st = NULL;
    assert_true(ccg_ok(ccg_sqlite_stmt(h, SQL_INSERT, &st)));
    assert_true(ccg_ok(ccg_sqlite_step_done(h, st, "insert")));
    ccg_sqlite_done(st);
}

static void group_commit_then_full_again(void **state)
{
    fixture *f = *state;
    assert_int_equal(mode_now(f->h), 2);
    for (int i = 0; i < 3; i++) {
        assert_true(ccg_ok(ccg_sqlite_begin(f->h)));
        assert_int_equal(f->h->group_commit, 1);
        assert_int_equal(mode_now(f->h), 1); /* inside: NORMAL, the shared sync follows the commit */
        insert(f->h);
        assert_true(ccg_ok(ccg_sqlite_commit(f->h)));
        assert_int_equal(f->h->full_pending, 1);
    }
    /* The next statement outside a group commit runs in FULL. */
    assert_int_equal(mode_now(f->h), 2);
    assert_int_equal(f->h->full_pending, 0);
    /* A rolled-back group transaction likewise. */
    assert_true(ccg_ok(ccg_sqlite_begin(f->h)));
    insert(f->h);
    ccg_sqlite_rollback(f->h);
    assert_int_equal(f->h->full_pending, 1);
    insert(f->h); /* an autocommit write */
    assert_int_equal(f->h->full_pending, 0);
    assert_int_equal(mode_now(f->h), 2);
    /* A script (migrations) too. */
    assert_true(ccg_ok(ccg_sqlite_begin(f->h)));
    assert_true(ccg_ok(ccg_sqlite_commit(f->h)));
    assert_true(ccg_ok(ccg_sqlite_exec_script(f->h, "INSERT INTO t(v) VALUES (2);", "script")));
    assert_int_equal(f->h->full_pending, 0);
    assert_int_equal(mode_now(f->h), 2);
}

static void normal_on_purpose_stays_normal(void **state)
{
    fixture *f = *state;
    assert_true(ccg_ok(ccg_sqlite_set_full_sync(f->h, 0)));
    assert_true(ccg_ok(ccg_sqlite_begin(f->h)));
    assert_int_equal(f->h->group_commit, 0);
    insert(f->h);
    assert_true(ccg_ok(ccg_sqlite_commit(f->h)));
    assert_int_equal(f->h->full_pending, 0);
    assert_int_equal(mode_now(f->h), 1);
    /* Back to FULL: a group commit, then FULL again before the next statement. */
    assert_true(ccg_ok(ccg_sqlite_set_full_sync(f->h, 1)));
    assert_true(ccg_ok(ccg_sqlite_begin(f->h)));
    assert_int_equal(f->h->group_commit, 1);
    assert_true(ccg_ok(ccg_sqlite_commit(f->h)));
    assert_int_equal(mode_now(f->h), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(group_commit_then_full_again, setup, teardown),
        cmocka_unit_test_setup_teardown(normal_on_purpose_stays_normal, setup, teardown),
    };
    return cmocka_run_group_tests_name("sqlite_sync", tests, NULL, NULL);
}
