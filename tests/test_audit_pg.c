/* The audit log on a real PostgreSQL (tests/support/pg_scratch.sh: Debian's server binaries in a scratch
 * directory): the same records and hashes as on SQLite, the append-only triggers, verify/list/find/prune
 * semantics, concurrent appenders in several processes (one chain, no gap, no fork), and a server
 * restart or crash between appends (one failure, then success without reopening). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "pg_scratch.h"
#include "testutil.h"
#include "tu_audit.h"
#include "tu_store.h"

#include "ccgate/audit.h"
#include "ccgate/error.h"

static const ccg_time T0 = TU_AUDIT_T0;

static tu_pg g_pg; /* g_pg.url is empty when PostgreSQL's server binaries are missing */

static int group_setup(void **state)
{
    (void)state;
    int rc = tu_pg_start(&g_pg);
    if (rc == 77) {
        g_pg.url[0] = '\0';
        return 0; /* each test skips (or fails under CI=true) */
    }
    return rc == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    tu_pg_stop(&g_pg);
    return 0;
}

/* Runs SQL on its own connection; returns 1 when it succeeded. */
static int raw_sql(const char *sql)
{
    assert_int_equal(tu_pg_exec(g_pg.url, "SELECT 1"), 0); /* a refusal below is the statement's own */
    return tu_pg_exec(g_pg.url, sql) == 0;
}

/* Each test starts from a database without an audit log. */
static int setup(void **state)
{
    (void)state;
    if (g_pg.url[0] == '\0') {
        tu_skip_or_fail("PostgreSQL's server binaries are not installed");
    }
    assert_true(raw_sql("DROP TABLE IF EXISTS audit_log, audit_schema; DROP FUNCTION IF EXISTS ccg_audit_append_only()"));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return 0;
}

static void append_range(ccg_audit *a, int from, int n)
{
    for (int i = from; i < from + n; i++) {
        TU_OK(tu_audit_append(a, i, 1, NULL, NULL));
    }
}

/* The same events make the same chain, hash for hash, on SQLite and on PostgreSQL; verify, list, find
 * and head answer alike. */
static void same_chain_as_sqlite(void **state)
{
    (void)state;
    char dir[] = "/tmp/ccg-audit-pgsq-XXXXXX", path[96], cmd[128];
    ccg_audit *pg = NULL, *sq = NULL;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "sqlite:%s/audit.db", dir);
    TU_OK(ccg_audit_open(g_pg.url, NULL, &pg));
    TU_OK(ccg_audit_open(path, NULL, &sq));
    for (int i = 1; i <= 12; i++) {
        int64_t s1 = 0, s2 = 0;
        char h1[CCG_AUDIT_HASH_HEX], h2[CCG_AUDIT_HASH_HEX];
        TU_OK(tu_audit_append(pg, i, 1, &s1, h1));
        TU_OK(tu_audit_append(sq, i, 1, &s2, h2));
        assert_int_equal(s1, i);
        assert_int_equal(s2, i);
        assert_string_equal(h1, h2);
    }
    ccg_audit_verify_report r1, r2;
    TU_OK(ccg_audit_verify(pg, NULL, &r1));
    TU_OK(ccg_audit_verify(sq, NULL, &r2));
    assert_true(r1.intact);
    assert_int_equal(r1.records, 12);
    assert_string_equal(r1.head_hash, r2.head_hash);
    json_t *l1 = NULL, *l2 = NULL;
    TU_OK(ccg_audit_list(pg, 0, 0, &l1));
    TU_OK(ccg_audit_list(sq, 0, 0, &l2));
    assert_true(json_equal(l1, l2));
    assert_int_equal(json_array_size(l1), 12);
    /* format 6 with its claims, read back from the claims column */
    json_t *r10 = json_array_get(l1, 9);
    assert_int_equal(json_integer_value(json_object_get(r10, "v")), CCG_AUDIT_FORMAT_CLAIMS);
    assert_string_equal(json_string_value(json_object_get(json_object_get(r10, "claims"), "measurement")), "ab01");
    assert_true(json_is_null(json_object_get(r10, "gpus")));
    json_decref(l1);
    json_decref(l2);
    TU_OK(ccg_audit_list(pg, 10, 1, &l1));
    assert_int_equal(json_array_size(l1), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(l1, 0), "seq")), 11);
    json_decref(l1);
    TU_OK(ccg_audit_find(pg, "req-0005", &l1));
    assert_int_equal(json_array_size(l1), 1);
    json_decref(l1);
    TU_OK(ccg_audit_find(pg, "req-9999", &l1));
    assert_int_equal(json_array_size(l1), 0);
    json_decref(l1);
    TU_FAILS_WITH(ccg_audit_find(pg, "req 1", &l1), CCG_R_INPUT_MALFORMED);
    int64_t seq = 0;
    char head[CCG_AUDIT_HASH_HEX];
    TU_OK(ccg_audit_head(pg, &seq, head));
    assert_int_equal(seq, 12);
    assert_string_equal(head, r2.head_hash);
    ccg_audit_close(pg);
    ccg_audit_close(sq);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* UPDATE, DELETE and TRUNCATE are refused by the triggers; a change made around them (the triggers
 * disabled by the table's owner) is named by the verifier. */
static void triggers_refuse_changes_and_the_chain_names_the_rest(void **state)
{
    (void)state;
    ccg_audit *a = NULL;
    ccg_audit_verify_report r;
    TU_OK(ccg_audit_open(g_pg.url, NULL, &a));
    append_range(a, 1, 6);
    assert_false(raw_sql("UPDATE audit_log SET decision = 'allow' WHERE seq = 2"));
    assert_false(raw_sql("DELETE FROM audit_log WHERE seq = 6"));
    assert_false(raw_sql("TRUNCATE audit_log"));
    TU_OK(ccg_audit_verify(a, NULL, &r));
    assert_int_equal(r.records, 6);
    assert_true(raw_sql("ALTER TABLE audit_log DISABLE TRIGGER USER;"
                        "UPDATE audit_log SET decision = 'allow', reasons = '[]' WHERE seq = 2;"
                        "ALTER TABLE audit_log ENABLE TRIGGER USER"));
    TU_FAILS_WITH(ccg_audit_verify(a, NULL, &r), CCG_R_AUDIT_CHAIN_BROKEN);
    assert_int_equal(r.broken_seq, 2);
    assert_string_equal(r.problem, "hash_mismatch");
    ccg_audit_close(a);
}

/* Checkpoints and pruning as on SQLite: the log then starts at the checkpoint and still verifies. */
static void prune_at_a_checkpoint(void **state)
{
    (void)state;
    ccg_audit *a = NULL;
    ccg_audit_verify_report r;
    int64_t cp = 0, found = 0, removed = 0;
    TU_OK(ccg_audit_open(g_pg.url, NULL, &a));
    append_range(a, 1, 5);
    TU_OK(ccg_audit_checkpoint(a, T0 + 100, "cp-1", &cp, NULL));
    assert_int_equal(cp, 6);
    append_range(a, 200, 3);
    TU_OK(ccg_audit_checkpoint_before(a, T0 + 150, &found));
    assert_int_equal(found, 6);
    TU_FAILS_WITH(ccg_audit_checkpoint_before(a, T0 + 50, &found), CCG_R_AUDIT_CHECKPOINT_INVALID);
    TU_FAILS_WITH(ccg_audit_prune(a, 3, T0 + 300, "prune-0", &removed), CCG_R_AUDIT_CHECKPOINT_INVALID);
    TU_OK(ccg_audit_prune(a, cp, T0 + 300, "prune-1", &removed));
    assert_int_equal(removed, 5);
    TU_OK(ccg_audit_verify(a, NULL, &r));
    assert_int_equal(r.start_seq, 6);
    assert_int_equal(r.records, 5); /* the checkpoint, three records, the prune record */
    /* the delete trigger is back */
    assert_false(raw_sql("DELETE FROM audit_log WHERE seq = 6"));
    ccg_audit_close(a);
}

/* Several processes open the log at once (the schema is created once) and append concurrently: one
 * chain, every seq from 1 to the total, no fork. */
static void concurrent_processes_keep_one_chain(void **state)
{
    (void)state;
    enum { PROCS = 4, N = 30 };
    pid_t pids[PROCS];
    for (int p = 0; p < PROCS; p++) {
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0) {
            ccg_audit *a = NULL;
            int failures = 0;
            if (ccg_failed(ccg_audit_open(g_pg.url, NULL, &a))) {
                _exit(3);
            }
            for (int i = 0; i < N; i++) {
                failures += ccg_failed(tu_audit_append(a, p * 1000 + i, 1, NULL, NULL));
            }
            ccg_audit_close(a);
            _exit(failures == 0 ? 0 : 1);
        }
    }
    for (int p = 0; p < PROCS; p++) {
        int status = 0;
        assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    ccg_audit *a = NULL;
    ccg_audit_verify_report r;
    json_t *list = NULL;
    TU_OK(ccg_audit_open(g_pg.url, NULL, &a));
    TU_OK(ccg_audit_verify(a, NULL, &r));
    assert_true(r.intact);
    assert_int_equal(r.records, PROCS * N);
    assert_int_equal(r.head_seq, PROCS * N);
    TU_OK(ccg_audit_list(a, 0, 0, &list));
    assert_int_equal(json_array_size(list), PROCS * N);
    for (size_t i = 0; i < json_array_size(list); i++) {
        assert_int_equal(json_integer_value(json_object_get(json_array_get(list, i), "seq")), (json_int_t)i + 1);
    }
    json_decref(list);
    ccg_audit_close(a);
}

/* A server restart between appends: the first append after it fails closed (audit.write_failed), the
 * next one reconnects by itself and succeeds, on the same handle. A crash while a record is appended
 * and a server that stays down answer the same way; reads answer store.unavailable meanwhile. */
static void a_restart_fails_one_append_then_reconnects(void **state)
{
    (void)state;
    ccg_audit *a = NULL;
    ccg_audit_verify_report r;
    int64_t seq = 0;
    json_t *list = NULL;
    TU_OK(ccg_audit_open(g_pg.url, NULL, &a));
    TU_OK(tu_audit_append(a, 1, 1, &seq, NULL));
    assert_int_equal(tu_pg_ctl(&g_pg, "restart"), 0);
    TU_FAILS_WITH(tu_audit_append(a, 2, 1, NULL, NULL), CCG_R_AUDIT_WRITE_FAILED);
    TU_OK(tu_audit_append(a, 3, 1, &seq, NULL));
    assert_int_equal(seq, 2);
    /* down: every call fails closed, and the handle recovers once the server is back */
    assert_int_equal(tu_pg_ctl(&g_pg, "kill"), 0);
    TU_FAILS_WITH(tu_audit_append(a, 4, 1, NULL, NULL), CCG_R_AUDIT_WRITE_FAILED);
    TU_FAILS_WITH(tu_audit_append(a, 5, 1, NULL, NULL), CCG_R_AUDIT_WRITE_FAILED);
    TU_FAILS_WITH(ccg_audit_verify(a, NULL, &r), CCG_R_STORE_UNAVAILABLE);
    TU_FAILS_WITH(ccg_audit_list(a, 0, 0, &list), CCG_R_STORE_UNAVAILABLE);
    assert_int_equal(tu_pg_ctl(&g_pg, "start"), 0);
    TU_OK(tu_audit_append(a, 6, 1, &seq, NULL));
    assert_int_equal(seq, 3);
    TU_OK(ccg_audit_verify(a, NULL, &r));
    assert_int_equal(r.records, 3);
    ccg_audit_close(a);
}

/* Opening: an unreachable server and a database without a log (create off) are store.unavailable. */
static void open_fails_closed(void **state)
{
    (void)state;
    ccg_audit *a = NULL;
    ccg_audit_options no_create = {.busy_timeout_ms = 0, .create = 0};
    TU_FAILS_WITH(ccg_audit_open("postgresql:///ccgate?host=/nonexistent&user=ccgate", NULL, &a), CCG_R_STORE_UNAVAILABLE);
    TU_FAILS_WITH(ccg_audit_open(g_pg.url, &no_create, &a), CCG_R_STORE_UNAVAILABLE);
    TU_OK(ccg_audit_open(g_pg.url, NULL, &a));
    ccg_audit_close(a);
    TU_OK(ccg_audit_open(g_pg.url, &no_create, &a));
    ccg_audit_close(a);
    /* postgres:// is the same scheme */
    char alt[sizeof(g_pg.url) + 16];
    snprintf(alt, sizeof(alt), "postgres://%s", g_pg.url + strlen("postgresql://"));
    TU_OK(ccg_audit_open(alt, &no_create, &a));
    ccg_audit_close(a);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(same_chain_as_sqlite, setup, teardown),
        cmocka_unit_test_setup_teardown(triggers_refuse_changes_and_the_chain_names_the_rest, setup, teardown),
        cmocka_unit_test_setup_teardown(prune_at_a_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_processes_keep_one_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(a_restart_fails_one_append_then_reconnects, setup, teardown),
        cmocka_unit_test_setup_teardown(open_fails_closed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
