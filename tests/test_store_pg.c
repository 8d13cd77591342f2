/* The PostgreSQL backend's own cases, on a scratch server (tests/support/pg_scratch.sh): two handles
 * standing for two broker instances race the same nonces and the same key's rotation; the server is
 * stopped, restarted and killed between and during calls, and the same handle (never reopened) reports
 * store.unavailable meanwhile and serves again after; a transaction cut by a crash leaves nothing behind.
 * tests/test_store.c runs the shared cases on both backends. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "pg_scratch.h"
#include "testutil.h"
#include "tu_store.h"

#include "ccgate/error.h"
#include "ccgate/store.h"

static const ccg_time T0 = 1767225600; /* 2026-01-01T00:00:00Z */

static tu_pg g_pg;
static int g_case;

typedef struct {
    char url[768];
    ccg_store *s;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    char schema[32];
    assert_non_null(f);
    snprintf(schema, sizeof(schema), "pgcase_%d", ++g_case);
    assert_int_equal(tu_pg_fresh_schema(&g_pg, schema, f->url, sizeof(f->url)), 0);
    ccg_store_options opts = {.busy_timeout_ms = 30000};
    TU_OK(ccg_store_open(f->url, &opts, &f->s));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ccg_store_close(f->s);
    free(f);
    return 0;
}

static void import_key(ccg_store *s, const char *key_id)
{
    uint8_t w[100];
    tu_fake_wrapped(w, 1);
    ccg_store_key_spec spec = {key_id, 1, w, sizeof(w), "ccgate-kek", "pol"};
    TU_OK(ccg_store_key_import(s, &spec, T0));
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- two instances racing ---- */

enum { NONCES = 60, RACERS = 6 };

typedef struct {
    ccg_store *s; /* the instance this thread talks to */
    pthread_barrier_t *start;
    int wins[NONCES];
    int errors;
} nonce_racer;

static void *nonce_thread(void *arg)
{
    nonce_racer *r = arg;
    char id[32], nonce[32];
    ccg_session_status st;
    pthread_barrier_wait(r->start);
    for (int i = 0; i < NONCES; i++) {
        snprintf(id, sizeof(id), "sess-%d", i);
        snprintf(nonce, sizeof(nonce), "nonce-%d", i);
        if (ccg_ok(ccg_store_session_consume_nonce(r->s, id, nonce, T0 + 1, &st))) {
            r->wins[i]++;
        } else if (st != CCG_SESSION_NONCE_USED || ccg_error_reason() != CCG_R_STORE_CONFLICT) {
            r->errors++;
        }
    }
    return NULL;
}

static void two_instances_consume_each_nonce_once(void **state)
{
    fixture *f = *state;
    ccg_store *a = NULL, *b = NULL;
    ccg_store_options opts = {.connections = 3, .relaxed_session_sync = 1};
    pthread_barrier_t start;
    nonce_racer r[RACERS];
    pthread_t t[RACERS];
    TU_OK(ccg_store_open(f->url, &opts, &a));
    TU_OK(ccg_store_open(f->url, &opts, &b));
    for (int i = 0; i < NONCES; i++) {
        char id[32], nonce[32];
        snprintf(id, sizeof(id), "sess-%d", i);
        snprintf(nonce, sizeof(nonce), "nonce-%d", i);
        TU_OK(ccg_store_session_create(i % 2 ? a : b, id, nonce, "snp", T0, T0 + 300));
    }
    assert_int_equal(pthread_barrier_init(&start, NULL, RACERS), 0);
    for (int i = 0; i < RACERS; i++) {
        memset(&r[i], 0, sizeof(r[i]));
        r[i].s = i % 2 ? a : b;
        r[i].start = &start;
        assert_int_equal(pthread_create(&t[i], NULL, nonce_thread, &r[i]), 0);
    }
    int errors = 0;
    for (int i = 0; i < RACERS; i++) {
        pthread_join(t[i], NULL);
        errors += r[i].errors;
    }
    assert_int_equal(errors, 0);
    for (int n = 0; n < NONCES; n++) {
        int wins = 0;
        for (int i = 0; i < RACERS; i++) {
            wins += r[i].wins[n];
        }
        assert_int_equal(wins, 1); /* exactly one instance consumed it */
    }
    pthread_barrier_destroy(&start);
    ccg_store_close(a);
    ccg_store_close(b);
}

typedef struct {
    ccg_store *s;
    pthread_barrier_t *start;
    int64_t version;
    int ok;
    ccg_reason reason;
} rotate_racer;

static void *rotate_thread(void *arg)
{
    rotate_racer *r = arg;
    uint8_t w[100];
    tu_fake_wrapped(w, (uint8_t)r->version);
    ccg_store_key_spec spec = {"race", r->version, w, sizeof(w), "ccgate-kek", NULL};
    pthread_barrier_wait(r->start);
    ccg_error_clear();
    r->ok = ccg_ok(ccg_store_key_rotate(r->s, &spec, T0 + r->version));
    r->reason = ccg_error_reason();
    return NULL;
}

/* Rotations of one key from two instances: versions 2..7 at once, and version 8 twice. Every rotation
 * either happens whole or is store.conflict; afterwards exactly one version is live, it is the newest, and
 * no version was inserted twice. */
static void two_instances_rotate_one_key(void **state)
{
    fixture *f = *state;
    ccg_store *a = NULL, *b = NULL;
    pthread_barrier_t start;
    enum { N = 8 };
    rotate_racer r[N];
    pthread_t t[N];
    ccg_store_key *list = NULL;
    size_t n = 0;
    int winners = 0, live = 0;
    int64_t newest = 0;
    TU_OK(ccg_store_open(f->url, NULL, &a));
    TU_OK(ccg_store_open(f->url, NULL, &b));
    TU_OK(ccg_store_policy_put(a, "pol", 1, "{\"a\":1}", T0));
    import_key(a, "race");
    assert_int_equal(pthread_barrier_init(&start, NULL, N), 0);
    for (int i = 0; i < N; i++) {
        r[i] = (rotate_racer){i % 2 ? a : b, &start, i < N - 1 ? i + 2 : N, 0, CCG_R_OK};
        assert_int_equal(pthread_create(&t[i], NULL, rotate_thread, &r[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
    }
    for (int i = 0; i < N; i++) {
        if (r[i].ok) {
            winners++;
        } else {
            assert_int_equal(r[i].reason, CCG_R_STORE_CONFLICT);
        }
    }
    assert_true(winners >= 1);
    TU_OK(ccg_store_key_list(f->s, "race", &list, &n));
    assert_int_equal(n, (size_t)winners + 1); /* the import and each winner, once */
    for (size_t i = 0; i < n; i++) {
        if (list[i].state != CCG_KEY_RETIRED) {
            live++;
            assert_int_equal(list[i].state, CCG_KEY_ACTIVE);
        }
        if (i > 0) {
            assert_true(list[i].version > list[i - 1].version);
        }
        newest = list[i].version;
    }
    assert_int_equal(live, 1);
    assert_int_equal(list[n - 1].state, CCG_KEY_ACTIVE);
    assert_int_equal(newest, list[n - 1].version);
    ccg_store_key_list_free(list, n);
    pthread_barrier_destroy(&start);
    ccg_store_close(a);
    ccg_store_close(b);
}

/* Instances starting together on an empty schema: each migrates or finds the schema made (the advisory
 * lock queues them), none fails, and each version is recorded once. */
typedef struct {
    const char *url;
    pthread_barrier_t *start;
    int ok;
} opener;

static void *open_thread(void *arg)
{
    opener *o = arg;
    ccg_store *s = NULL;
    int64_t version = 0;
    pthread_barrier_wait(o->start);
    o->ok = ccg_ok(ccg_store_open(o->url, NULL, &s)) && ccg_ok(ccg_store_schema_version(s, &version)) &&
            version == CCG_STORE_SCHEMA_VERSION;
    ccg_store_close(s);
    return NULL;
}

static void instances_starting_together_migrate_once(void **state)
{
    (void)state;
    char url[768];
    enum { N = 6 };
    opener o[N];
    pthread_t t[N];
    pthread_barrier_t start;
    assert_int_equal(tu_pg_fresh_schema(&g_pg, "together", url, sizeof(url)), 0);
    assert_int_equal(pthread_barrier_init(&start, NULL, N), 0);
    for (int i = 0; i < N; i++) {
        o[i] = (opener){url, &start, 0};
        assert_int_equal(pthread_create(&t[i], NULL, open_thread, &o[i]), 0);
    }
    int opened = 0;
    for (int i = 0; i < N; i++) { /* every thread joined before any assertion leaves this frame */
        pthread_join(t[i], NULL);
        opened += o[i].ok;
    }
    pthread_barrier_destroy(&start);
    assert_int_equal(opened, N);
    /* one row per version: the count of rows is the newest version */
    char sql[160];
    snprintf(sql, sizeof(sql),
             "DO $$ BEGIN IF (SELECT count(*) FROM schema_version) <> %d THEN RAISE EXCEPTION 'twice'; END IF; END $$",
             CCG_STORE_SCHEMA_VERSION);
    assert_int_equal(tu_pg_exec(url, sql), 0);
}

/* ---- outages ---- */

/* The server stops between calls: the handle answers store.unavailable (saying it reconnects), never a
 * stale success; once the server is back the next call succeeds on the same handle, every pooled
 * connection included. A restart while the handle is idle is invisible to reads and transactions. */
static void restart_between_calls_recovers_without_reopening(void **state)
{
    fixture *f = *state;
    ccg_store *pool = NULL;
    ccg_store_key k;
    ccg_session_status st;
    ccg_store_options opts = {.connections = 3};
    TU_OK(ccg_store_open(f->url, &opts, &pool));
    TU_OK(ccg_store_policy_put(f->s, "pol", 1, "{\"a\":1}", T0));
    import_key(f->s, "k");
    TU_OK(ccg_store_session_create(f->s, "s1", "n1", "snp", T0, T0 + 600));

    assert_int_equal(tu_pg_ctl(&g_pg, "stop"), 0);
    TU_FAILS_WITH(ccg_store_key_get(f->s, "k", 0, &k), CCG_R_STORE_UNAVAILABLE);
    assert_non_null(strstr(ccg_error_last()->message, "reconnect"));
    TU_FAILS_WITH(ccg_store_session_consume_nonce(f->s, "s1", "n1", T0 + 1, &st), CCG_R_STORE_UNAVAILABLE);
    TU_FAILS_WITH(ccg_store_session_create(f->s, "s2", "n2", "snp", T0, T0 + 600), CCG_R_STORE_UNAVAILABLE);
    TU_FAILS_WITH(ccg_store_policy_put(pool, "pol", 2, "{\"b\":2}", T0), CCG_R_STORE_UNAVAILABLE);
    TU_FAILS_WITH(ccg_store_key_get(pool, "k", 0, &k), CCG_R_STORE_UNAVAILABLE);

    assert_int_equal(tu_pg_ctl(&g_pg, "start"), 0);
    /* the same handles, never reopened */
    TU_OK(ccg_store_key_get(f->s, "k", 0, &k));
    ccg_store_key_free(&k);
    TU_OK(ccg_store_session_consume_nonce(f->s, "s1", "n1", T0 + 1, &st));
    TU_FAILS_WITH(ccg_store_session_consume_nonce(f->s, "s1", "n1", T0 + 1, &st), CCG_R_STORE_CONFLICT);
    assert_int_equal(st, CCG_SESSION_NONCE_USED);
    for (int i = 0; i < 6; i++) { /* every connection of the pool */
        TU_OK(ccg_store_key_get(pool, "k", 0, &k));
        ccg_store_key_free(&k);
    }
    TU_OK(ccg_store_policy_put(pool, "pol", 2, "{\"b\":2}", T0));

    /* pg_scratch.sh restart while both handles are idle: reads and transactions go on; a single-statement
     * write may meet the dead connection once (store.unavailable, never a doubled write), then works */
    assert_int_equal(tu_pg_ctl(&g_pg, "restart"), 0);
    TU_OK(ccg_store_key_get(f->s, "k", 0, &k));
    ccg_store_key_free(&k);
    TU_OK(ccg_store_policy_put(pool, "pol", 3, "{\"c\":3}", T0));
    ccg_error_clear();
    if (ccg_failed(ccg_store_session_create(pool, "s3", "n3", "snp", T0, T0 + 600))) {
        tu_assert_error_reason(CCG_R_STORE_UNAVAILABLE);
        TU_OK(ccg_store_session_create(pool, "s3", "n3", "snp", T0, T0 + 600));
    }
    TU_OK(ccg_store_session_consume_nonce(f->s, "s3", "n3", T0 + 1, &st));
    TU_OK(ccg_store_integrity_check(pool));
    ccg_store_close(pool);
}

typedef struct {
    ccg_store *s;
    int ok;
    ccg_reason reason;
} cut_rotation;

static void *cut_rotation_thread(void *arg)
{
    cut_rotation *c = arg;
    uint8_t w[100];
    tu_fake_wrapped(w, 2);
    ccg_store_key_spec v2 = {"k", 2, w, sizeof(w), "ccgate-kek", NULL};
    ccg_error_clear();
    c->ok = ccg_ok(ccg_store_key_rotate(c->s, &v2, T0 + 5));
    c->reason = ccg_error_reason();
    return NULL;
}

/* The number of sessions waiting for advisory lock 4242 (the stall the test holds). */
static int stalled(PGconn *c)
{
    PGresult *r = PQexec(c, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242"
                            " AND NOT granted");
    int n = PQresultStatus(r) == PGRES_TUPLES_OK ? atoi(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    return n;
}

/* The server is killed (immediate shutdown, as a crash) in the middle of a rotation: after the old version
 * was retired, before the new one is inserted (a trigger stalls the insert on a lock the test holds). The
 * caller gets store.unavailable; after the restart the old version is still active, the new one absent, and
 * the same handle serves again. */
static void crash_mid_transaction_leaves_no_partial_write(void **state)
{
    fixture *f = *state;
    ccg_store_key k;
    cut_rotation c = {f->s, 0, CCG_R_OK};
    pthread_t t;
    PGconn *holder = NULL;
    TU_OK(ccg_store_policy_put(f->s, "pol", 1, "{\"a\":1}", T0));
    import_key(f->s, "k");
    assert_int_equal(tu_pg_exec(f->url,
                                "CREATE FUNCTION stall() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                                " PERFORM pg_advisory_lock(4242); PERFORM pg_advisory_unlock(4242); RETURN NEW; END $$;"
                                "CREATE TRIGGER stall BEFORE INSERT ON keys FOR EACH ROW WHEN (NEW.version = 2)"
                                " EXECUTE FUNCTION stall()"),
                     0);
    holder = PQconnectdb(f->url);
    assert_int_equal(PQstatus(holder), CONNECTION_OK);
    PGresult *r = PQexec(holder, "SELECT pg_advisory_lock(4242)");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    PQclear(r);

    assert_int_equal(pthread_create(&t, NULL, cut_rotation_thread, &c), 0);
    int waited = 0;
    while (stalled(holder) < 1 && waited < 20000) {
        sleep_ms(20);
        waited += 20;
    }
    assert_int_equal(stalled(holder), 1); /* the rotation is inside its transaction, v1 already retired */
    assert_int_equal(tu_pg_ctl(&g_pg, "kill"), 0);
    pthread_join(t, NULL);
    PQfinish(holder);
    assert_false(c.ok);
    assert_int_equal(c.reason, CCG_R_STORE_UNAVAILABLE);

    assert_int_equal(tu_pg_ctl(&g_pg, "start"), 0);
    assert_int_equal(tu_pg_exec(f->url, "DROP TRIGGER stall ON keys"), 0);
    /* the same handle: v1 is still the active version, v2 was never written */
    TU_OK(ccg_store_key_get(f->s, "k", 0, &k));
    assert_int_equal(k.version, 1);
    assert_int_equal(k.state, CCG_KEY_ACTIVE);
    ccg_store_key_free(&k);
    TU_FAILS_WITH(ccg_store_key_get(f->s, "k", 2, &k), CCG_R_KEY_NOT_FOUND);
    /* and the rotation, done again, happens whole */
    cut_rotation again = {f->s, 0, CCG_R_OK};
    cut_rotation_thread(&again);
    assert_true(again.ok);
    TU_OK(ccg_store_key_get(f->s, "k", 1, &k));
    assert_int_equal(k.state, CCG_KEY_RETIRED);
    ccg_store_key_free(&k);
}

/* Bytes survive the round trip exactly (bytea in binary both ways): every byte value, NULs included. */
static void binary_values_round_trip(void **state)
{
    fixture *f = *state;
    uint8_t blob[4096];
    uint8_t *back = NULL;
    size_t len = 0;
    int found = 0;
    ccg_store_doc d;
    for (size_t i = 0; i < sizeof(blob); i++) {
        blob[i] = (uint8_t)(i * 7u);
    }
    TU_OK(ccg_store_doc_put(f->s, CCG_DOC_COLLATERAL, "crl", 1, blob, sizeof(blob), T0));
    TU_OK(ccg_store_doc_get(f->s, CCG_DOC_COLLATERAL, "crl", 0, &d));
    assert_int_equal(d.len, sizeof(blob));
    assert_memory_equal(d.body, blob, sizeof(blob));
    ccg_store_doc_free(&d);
    TU_OK(ccg_store_setting_put(f->s, "bin", blob, 300, T0));
    TU_OK(ccg_store_setting_get(f->s, "bin", &back, &len, &found));
    assert_true(found);
    assert_int_equal(len, 300);
    assert_memory_equal(back, blob, 300);
    free(back);
    /* a quote in an ID is a value like any other */
    TU_OK(ccg_store_policy_put(f->s, "o'brien;--", 1, "{\"a\":\"'\"}", T0));
    TU_OK(ccg_store_policy_get(f->s, "o'brien;--", 1, &d));
    ccg_store_doc_free(&d);
}

/* A database whose tables were made by someone else is not taken over; a schema from a newer ccgate
 * is refused. */
static void foreign_or_future_schemas_are_refused(void **state)
{
    fixture *f = *state;
    char url[768];
    ccg_store *s = NULL;
    assert_int_equal(tu_pg_fresh_schema(&g_pg, "foreign_tables", url, sizeof(url)), 0);
    assert_int_equal(tu_pg_exec(url, "CREATE TABLE policies(x int)"), 0);
    TU_FAILS_WITH(ccg_store_open(url, NULL, &s), CCG_R_STORE_CORRUPT);
    assert_null(s);
    assert_int_equal(tu_pg_exec(f->url, "INSERT INTO schema_version(version, applied_at) VALUES (99, 0)"), 0);
    TU_FAILS_WITH(ccg_store_open(f->url, NULL, &s), CCG_R_STORE_CORRUPT);
    assert_non_null(strstr(ccg_error_last()->message, "newer than this build"));
    TU_FAILS_WITH(ccg_store_integrity_check(f->s), CCG_R_STORE_CORRUPT);
}

/* The check (ccg_store_integrity_check, and opts.check at open): besides the schema version, every table,
 * the unique index keeping one live key version and every rule trigger must be there and enabled. A
 * schema changed around ccgate is store.corrupt naming what is missing. */
/* After `sql` changes the schema: the open handle's check, a default open and a full-check open refuse
 * with store.corrupt naming `what`; an open without the check still works (an operator can look). */
static void refused_after(fixture *f, const char *sql, const char *what)
{
    ccg_store *s = NULL;
    ccg_store_options full = {.check = CCG_STORE_CHECK_FULL}, none = {.check = CCG_STORE_CHECK_NONE};
    TU_OK(ccg_store_integrity_check(f->s));
    assert_int_equal(tu_pg_exec(f->url, sql), 0);
    TU_FAILS_WITH(ccg_store_integrity_check(f->s), CCG_R_STORE_CORRUPT);
    if (strstr(ccg_error_last()->message, what) == NULL) {
        fail_msg("after %s: '%s' does not name %s", sql, ccg_error_last()->message, what);
    }
    TU_FAILS_WITH(ccg_store_open(f->url, NULL, &s), CCG_R_STORE_CORRUPT);
    assert_null(s);
    TU_FAILS_WITH(ccg_store_open(f->url, &full, &s), CCG_R_STORE_CORRUPT);
    assert_null(s);
    TU_OK(ccg_store_open(f->url, &none, &s));
    ccg_store_close(s);
}

static void a_fresh_schema_passes(void **state)
{
    fixture *f = *state;
    ccg_store *s = NULL;
    ccg_store_options full = {.check = CCG_STORE_CHECK_FULL};
    TU_OK(ccg_store_integrity_check(f->s));
    TU_OK(ccg_store_open(f->url, &full, &s)); /* a second instance on the same schema */
    TU_OK(ccg_store_integrity_check(s));
    ccg_store_close(s);
}

static void a_dropped_rule_trigger_is_corrupt(void **state)
{
    refused_after(*state, "DROP TRIGGER keys_retired_is_final ON keys", "trigger keys_retired_is_final");
}

static void a_disabled_rule_trigger_is_corrupt(void **state)
{
    refused_after(*state, "ALTER TABLE sessions DISABLE TRIGGER sessions_nonce_once", "trigger sessions_nonce_once");
}

static void a_replica_only_trigger_is_corrupt(void **state)
{
    refused_after(*state, "ALTER TABLE owners ENABLE REPLICA TRIGGER owners_kept", "trigger owners_kept");
}

static void the_one_live_version_index_gone_is_corrupt(void **state)
{
    refused_after(*state, "DROP INDEX keys_one_live", "unique index keys_one_live");
}

static void a_table_replaced_by_a_view_is_corrupt(void **state)
{
    refused_after(*state,
                  "DROP TABLE gpu_reports; CREATE VIEW gpu_reports AS SELECT ''::text AS digest, ''::text AS "
                  "session_id, 0::bigint AS first_seen",
                  "table gpu_reports");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(instances_starting_together_migrate_once, setup, teardown),
        cmocka_unit_test_setup_teardown(two_instances_consume_each_nonce_once, setup, teardown),
        cmocka_unit_test_setup_teardown(two_instances_rotate_one_key, setup, teardown),
        cmocka_unit_test_setup_teardown(binary_values_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(foreign_or_future_schemas_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(restart_between_calls_recovers_without_reopening, setup, teardown),
        cmocka_unit_test_setup_teardown(crash_mid_transaction_leaves_no_partial_write, setup, teardown),
        cmocka_unit_test_setup_teardown(a_fresh_schema_passes, setup, teardown),
        cmocka_unit_test_setup_teardown(a_dropped_rule_trigger_is_corrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(a_disabled_rule_trigger_is_corrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(a_replica_only_trigger_is_corrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(the_one_live_version_index_gone_is_corrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(a_table_replaced_by_a_view_is_corrupt, setup, teardown),
    };
    int rc = tu_pg_start(&g_pg);
    if (rc == 77) {
        return tu_skip_or_fail_main("PostgreSQL's server binaries are missing");
    }
    if (rc != 0) {
        return 1;
    }
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    tu_pg_stop(&g_pg);
    return failed;
}
