/* Nonce single use at the store level, in depth (issue 10). The store's consume is one conditional UPDATE
 * (only an unused nonce of a challenged, live session); the schema adds a trigger so that even a write
 * behind the store's back, or a bug in that UPDATE, cannot consume a nonce twice or swap it. The end-to-end
 * test is tests/cli/test_kbs_nonce.sh; tests/test_store.c has the API-level cases. Every case runs on SQLite
 * and again on a scratch PostgreSQL (its own trigger, the same rule). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "pg_scratch.h"
#include "testutil.h"
#include "tu_store.h"

#include "ccgate/error.h"
#include "ccgate/store.h"

static const ccg_time T0 = 1767225600; /* 2026-01-01T00:00:00Z */

typedef struct {
    char dir[64];
    char path[128];
    char loc[768];
    ccg_store *s;
    sqlite3 *raw; /* behind the store's back (SQLite) */
    PGconn *pgraw; /* behind the store's back (PostgreSQL) */
} fixture;

static tu_pg g_pg;
static int g_case;
static int g_on_pg; /* the group running: 0 SQLite, 1 PostgreSQL */

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    ccg_session_status st;
    assert_non_null(f);
    tu_temp_db("nonce", f->dir, sizeof(f->dir), f->path, sizeof(f->path));
    tu_store_loc(g_on_pg ? &g_pg : NULL, "nonce", &g_case, f->path, f->loc, sizeof(f->loc));
    TU_OK(ccg_store_open(f->loc, NULL, &f->s));
    assert_true(ccg_ok(ccg_store_session_create(f->s, "sess-1", "nonce-1", "snp", T0, T0 + 300)));
    assert_true(ccg_ok(ccg_store_session_consume_nonce(f->s, "sess-1", "nonce-1", T0 + 1, &st)));
    if (g_on_pg) {
        f->pgraw = PQconnectdb(f->loc);
        assert_int_equal(PQstatus(f->pgraw), CONNECTION_OK);
    } else {
        assert_int_equal(sqlite3_open(f->path, &f->raw), SQLITE_OK);
        sqlite3_busy_timeout(f->raw, 5000);
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    sqlite3_close(f->raw);
    PQfinish(f->pgraw);
    ccg_store_close(f->s);
    tu_remove_db(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* The raw statement must be refused by the schema's trigger, whose message names the rule. */
static void refused(fixture *f, const char *sql)
{
    char *err = NULL;
    if (f->pgraw != NULL) {
        PGresult *r = PQexec(f->pgraw, sql);
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        const char *msg = PQresultErrorMessage(r);
        if (ok || strstr(msg, "a nonce is consumed once") == NULL) {
            fail_msg("%s: %s, wanted the single-use trigger's refusal", sql, ok ? "succeeded" : msg);
        }
        PQclear(r);
        return;
    }
    int rc = sqlite3_exec(f->raw, sql, NULL, NULL, &err);
    if (rc == SQLITE_OK || err == NULL || strstr(err, "a nonce is consumed once") == NULL) {
        fail_msg("%s: rc %d (%s), wanted the single-use trigger's refusal", sql, rc, err ? err : "no error");
    }
    sqlite3_free(err);
}

static void consumed_nonce_cannot_be_consumed_again(void **state)
{
    fixture *f = *state;
    refused(f, "UPDATE sessions SET nonce_used = 1 WHERE session_id = 'sess-1'");
}

static void consumed_nonce_cannot_be_reset(void **state)
{
    fixture *f = *state;
    refused(f, "UPDATE sessions SET nonce_used = 0 WHERE session_id = 'sess-1'");
}

static void nonce_cannot_be_swapped(void **state)
{
    fixture *f = *state;
    ccg_session_status st;
    refused(f, "UPDATE sessions SET nonce = 'nonce-2' WHERE session_id = 'sess-1'");
    /* nor on a session whose nonce is still unused */
    assert_true(ccg_ok(ccg_store_session_create(f->s, "sess-2", "nonce-2", "snp", T0, T0 + 300)));
    refused(f, "UPDATE sessions SET nonce = 'nonce-3' WHERE session_id = 'sess-2'");
    /* and through the store: the consumed one stays consumed, the other one is consumed once */
    ccg_error_clear();
    assert_true(ccg_failed(ccg_store_session_consume_nonce(f->s, "sess-1", "nonce-1", T0 + 2, &st)));
    assert_int_equal(st, CCG_SESSION_NONCE_USED);
    assert_true(ccg_ok(ccg_store_session_consume_nonce(f->s, "sess-2", "nonce-2", T0 + 2, &st)));
    assert_true(ccg_failed(ccg_store_session_consume_nonce(f->s, "sess-2", "nonce-2", T0 + 3, &st)));
    assert_int_equal(st, CCG_SESSION_NONCE_USED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(consumed_nonce_cannot_be_consumed_again, setup, teardown),
        cmocka_unit_test_setup_teardown(consumed_nonce_cannot_be_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(nonce_cannot_be_swapped, setup, teardown),
    };
    int failed = cmocka_run_group_tests_name("nonces on SQLite", tests, NULL, NULL);
    return failed + TU_PG_RUN_GROUP(&g_pg, &g_on_pg, "nonces on PostgreSQL", tests);
}
