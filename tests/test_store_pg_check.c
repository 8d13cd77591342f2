/* The PostgreSQL store's check (ccg_store_integrity_check, and opts.check at open) on a scratch server
 * (tests/support/pg_scratch.sh): besides the schema version, every table, the unique index that keeps one
 * live key version, and every rule trigger must be there and enabled. A schema changed around ccgate (a
 * trigger dropped or disabled, replica-only, an index or a table gone) is store.corrupt naming what is
 * missing, at open unless CCG_STORE_CHECK_NONE, and from the check of a handle already open. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"
#include "ccgate/store.h"
#include "pg_scratch.h"
#include "testutil.h"
#include "tu_store.h"

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
    snprintf(schema, sizeof(schema), "pgcheck_%d", ++g_case);
    assert_int_equal(tu_pg_fresh_schema(&g_pg, schema, f->url, sizeof(f->url)), 0);
    TU_OK(ccg_store_open(f->url, NULL, &f->s));
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
