/* Ordered audit appends (ccg_audit_append_ordered) beside durable ones, on SQLite and on a real
 * PostgreSQL (tests/support/pg_scratch.sh): an ordered record is committed at once (another connection
 * sees it, the next record chains to it), and threads mixing both kinds form one chain without a gap
 * or a fork, because the durable half of an append now waits for the disk outside the appender's lock. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tu_store.h"

#include "ccgate/audit.h"
#include "ccgate/error.h"
#include "ccgate/store.h"

static const ccg_time T0 = 1767225600; /* 2026-01-01T00:00:00Z */
#define THREADS 4
#define PER_THREAD 25

static ccg_audit_event event(const char *request_id, int i)
{
    ccg_audit_event ev = {
        .time = T0 + i,
        .request_id = request_id,
        .persona = CCG_PERSONA_WORKLOAD,
        .action = i % 2 == 0 ? "kbs.attest" : "kbs.resource",
        .key_id = i % 2 == 0 ? NULL : "default/model/llama",
        .key_version = i % 2 == 0 ? 0 : 1,
        .decision = CCG_AUDIT_ALLOW,
    };
    return ev;
}

/* One ordered append, seen at once through a second handle: its seq is the head there. */
static void ordered_record_is_committed_at_once(const char *location)
{
    ccg_audit *a = NULL, *b = NULL;
    int64_t seq = 0, head = 0;
    char hash[CCG_AUDIT_HASH_HEX], head_hash[CCG_AUDIT_HASH_HEX];
    ccg_audit_event ev = event("req-ordered", 0);
    TU_OK(ccg_audit_open(location, NULL, &a));
    TU_OK(ccg_audit_open(location, NULL, &b));
    TU_OK(ccg_audit_append_ordered(a, &ev, &seq, hash));
    TU_OK(ccg_audit_head(b, &head, head_hash));
    assert_int_equal(head, seq);
    assert_string_equal(head_hash, hash);
    ev = event("req-durable", 1);
    TU_OK(ccg_audit_append(b, &ev, &head, NULL));
    assert_int_equal(head, seq + 1);
    ccg_audit_close(b);
    ccg_audit_close(a);
}

typedef struct {
    const char *location;
    int index;
    int failed;
} worker;

/* Alternates ordered (a token's record) and durable (a release's) appends on its own handle. */
static void *append_mixed(void *arg)
{
    worker *w = arg;
    ccg_audit *a = NULL;
    if (ccg_failed(ccg_audit_open(w->location, NULL, &a))) {
        w->failed = 1;
        return NULL;
    }
    for (int i = 0; i < PER_THREAD && !w->failed; i++) {
        char req[48];
        snprintf(req, sizeof(req), "req-%d-%02d", w->index, i);
        ccg_audit_event ev = event(req, i);
        ccg_result r = i % 2 == 0 ? ccg_audit_append_ordered(a, &ev, NULL, NULL) : ccg_audit_append(a, &ev, NULL, NULL);
        w->failed = ccg_failed(r);
    }
    ccg_audit_close(a);
    return NULL;
}

static void threads_mixing_both_form_one_chain(const char *location)
{
    pthread_t t[THREADS];
    worker w[THREADS];
    ccg_audit *a = NULL;
    ccg_audit_verify_report report;
    int64_t before = 0;
    char hash[CCG_AUDIT_HASH_HEX];
    TU_OK(ccg_audit_open(location, NULL, &a));
    TU_OK(ccg_audit_head(a, &before, hash));
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){.location = location, .index = i};
        assert_int_equal(pthread_create(&t[i], NULL, append_mixed, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_false(w[i].failed);
    }
    memset(&report, 0, sizeof(report));
    TU_OK(ccg_audit_verify(a, NULL, &report));
    assert_true(report.intact);
    assert_int_equal(report.records, before + THREADS * PER_THREAD);
    ccg_audit_close(a);
}

static void on_sqlite(void **state)
{
    (void)state;
    char dir[64], path[96], cmd[128];
    ccg_store *s = NULL;
    tu_temp_db("audit-ordered", dir, sizeof(dir), path, sizeof(path));
    TU_OK(ccg_store_open(path, NULL, &s)); /* the audit log shares the store's file, as in the broker */
    ccg_store_close(s);
    ordered_record_is_committed_at_once(path);
    threads_mixing_both_form_one_chain(path);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void on_postgresql(void **state)
{
    (void)state;
    tu_pg pg;
    int rc = tu_pg_start(&pg);
    if (rc == 77) {
        tu_skip_or_fail("PostgreSQL's server binaries are missing (scripts/install-deps.sh installs them)");
    }
    assert_int_equal(rc, 0);
    ordered_record_is_committed_at_once(pg.url);
    threads_mixing_both_form_one_chain(pg.url);
    tu_pg_stop(&pg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(on_sqlite),
        cmocka_unit_test(on_postgresql),
    };
    return cmocka_run_group_tests_name("audit_ordered", tests, NULL, NULL);
}
