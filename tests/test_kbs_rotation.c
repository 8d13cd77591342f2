/* The key lifecycle below the broker (issue 15, docs/kbs.md "Key lifecycle"): schema 5's grace on
 * retired versions (rotation opens it, a cut-over ends it, nothing reopens it, not even a writer that
 * goes around the API), ownership transfer (atomic against the recorded owner, kept in a history, the
 * schema refusing an unrecorded change of hands), the migration of a schema 4 store, the release
 * policy's "rotation" member, and the one key ID rule (repo/type/tag). The release path itself, the agent
 * and the host and admin verbs are exercised end to end by tests/cli/test_kbs_lifecycle.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "testutil.h"
#include "tu_store.h"

#include "ccgate/artifact.h"
#include "ccgate/error.h"
#include "ccgate/kbs.h"
#include "ccgate/store.h"

typedef struct {
    char dir[64];
    char path[128];
    ccg_store *s;
} fixture;

static const ccg_time T0 = 1767225600; /* 2026-01-01T00:00:00Z */

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    tu_temp_db("rotation", f->dir, sizeof(f->dir), f->path, sizeof(f->path));
    TU_OK(ccg_store_open(f->path, NULL, &f->s));
    TU_OK(ccg_store_policy_put(f->s, "pol", 1, "{\"policy_id\":\"pol\",\"version\":1}", T0));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tu_temp_db_remove(f->dir, f->path, f->s);
    free(f);
    return 0;
}

static void put_version(ccg_store *s, const char *key_id, int64_t version, ccg_time now)
{
    uint8_t w[100];
    tu_fake_wrapped(w, (uint8_t)version);
    ccg_store_key_spec spec = {key_id, version, w, sizeof(w), "ccgate-kek", version == 1 ? "pol" : NULL};
    if (version == 1) {
        TU_OK(ccg_store_key_import(s, &spec, now));
    } else {
        TU_OK(ccg_store_key_rotate(s, &spec, now));
    }
}

static ccg_time grace_of(ccg_store *s, const char *key_id, int64_t version)
{
    ccg_store_key k;
    TU_OK(ccg_store_key_get(s, key_id, version, &k));
    ccg_time t = k.releasable_until;
    ccg_store_key_free(&k);
    return t;
}

static int raw_rc(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

/* ---- the grace of retired versions ---- */

static void rotation_opens_the_grace_and_cut_over_ends_it(void **state)
{
    fixture *f = *state;
    int64_t ended = -1;
    put_version(f->s, "lc/model/a", 1, T0);
    assert_int_equal(grace_of(f->s, "lc/model/a", 1), 0); /* live: no grace */
    put_version(f->s, "lc/model/a", 2, T0 + 10);
    put_version(f->s, "lc/model/a", 3, T0 + 20);
    /* every version a rotation retired has an open grace, bounded by the release policy */
    assert_true(grace_of(f->s, "lc/model/a", 1) == CCG_STORE_GRACE_OPEN);
    assert_true(grace_of(f->s, "lc/model/a", 2) == CCG_STORE_GRACE_OPEN);
    assert_int_equal(grace_of(f->s, "lc/model/a", 3), 0);
    /* one version, then the rest; a second cut-over ends nothing more and still succeeds */
    TU_OK(ccg_store_key_end_grace(f->s, "lc/model/a", 1, T0 + 30, &ended));
    assert_int_equal(ended, 1);
    assert_int_equal(grace_of(f->s, "lc/model/a", 1), T0 + 30);
    assert_true(grace_of(f->s, "lc/model/a", 2) == CCG_STORE_GRACE_OPEN);
    TU_OK(ccg_store_key_end_grace(f->s, "lc/model/a", 0, T0 + 40, &ended));
    assert_int_equal(ended, 1);
    assert_int_equal(grace_of(f->s, "lc/model/a", 1), T0 + 30); /* an ended grace is never moved */
    assert_int_equal(grace_of(f->s, "lc/model/a", 2), T0 + 40);
    TU_OK(ccg_store_key_end_grace(f->s, "lc/model/a", 0, T0 + 50, &ended));
    assert_int_equal(ended, 0);
    /* the live version is untouched */
    assert_int_equal(grace_of(f->s, "lc/model/a", 3), 0);
    /* a version or key that does not exist */
    TU_FAILS_WITH(ccg_store_key_end_grace(f->s, "lc/model/a", 9, T0, NULL), CCG_R_KEY_NOT_FOUND);
    TU_FAILS_WITH(ccg_store_key_end_grace(f->s, "lc/model/none", 0, T0, NULL), CCG_R_KEY_NOT_FOUND);
    TU_FAILS_WITH(ccg_store_key_end_grace(f->s, "bad id", 0, T0, NULL), CCG_R_INPUT_MALFORMED);
    TU_FAILS_WITH(ccg_store_key_end_grace(f->s, "lc/model/a", -1, T0, NULL), CCG_R_INPUT_MALFORMED);
}

static void a_retired_state_has_no_grace(void **state)
{
    fixture *f = *state;
    put_version(f->s, "lc/model/b", 1, T0);
    TU_OK(ccg_store_key_set_state(f->s, "lc/model/b", 1, CCG_KEY_RETIRED, T0 + 5));
    assert_int_equal(grace_of(f->s, "lc/model/b", 1), 0);
}

static void the_schema_never_reopens_a_grace(void **state)
{
    fixture *f = *state;
    put_version(f->s, "lc/model/c", 1, T0);
    put_version(f->s, "lc/model/c", 2, T0 + 1);
    TU_OK(ccg_store_key_end_grace(f->s, "lc/model/c", 1, T0 + 2, NULL));
    /* a writer that goes around the API: a later end, an open one, or a state out of retired */
    assert_int_not_equal(raw_rc(f->path, "UPDATE keys SET releasable_until = releasable_until + 1 WHERE version = 1"),
                         SQLITE_OK);
    assert_int_not_equal(raw_rc(f->path, "UPDATE keys SET releasable_until = 9223372036854775807 WHERE version = 1"),
                         SQLITE_OK);
    assert_int_not_equal(raw_rc(f->path, "UPDATE keys SET state = 'active' WHERE version = 1"), SQLITE_OK);
    /* shortening it is a cut-over, which the schema allows */
    assert_int_equal(raw_rc(f->path, "UPDATE keys SET releasable_until = 5 WHERE version = 1"), SQLITE_OK);
    assert_int_equal(grace_of(f->s, "lc/model/c", 1), 5);
}

/* A KEK re-wrap (schema 4) of a version in its grace moves updated_at, never retired_at or the grace:
 * the grace still counts from the rotation. */
static void a_rewrap_keeps_the_grace(void **state)
{
    fixture *f = *state;
    uint8_t w[100];
    ccg_store_key k;
    put_version(f->s, "lc/model/r", 1, T0);
    put_version(f->s, "lc/model/r", 2, T0 + 10);
    tu_fake_wrapped(w, 0x77);
    TU_OK(ccg_store_key_rewrap(f->s, "lc/model/r", 1, "ccgate-kek", "ccgate-kek-2", w, sizeof(w), T0 + 500));
    TU_OK(ccg_store_key_get(f->s, "lc/model/r", 1, &k));
    assert_int_equal(k.state, CCG_KEY_RETIRED);
    assert_string_equal(k.kek_label, "ccgate-kek-2");
    assert_int_equal(k.updated_at, T0 + 500);
    assert_int_equal(k.retired_at, T0 + 10);
    assert_true(k.releasable_until == CCG_STORE_GRACE_OPEN);
    ccg_store_key_free(&k);
    /* retired_at of a retired row never changes */
    assert_int_not_equal(raw_rc(f->path, "UPDATE keys SET retired_at = 1 WHERE key_id = 'lc/model/r' AND version = 1"),
                         SQLITE_OK);
}

/* ---- ownership transfer ---- */

static void assert_owner(ccg_store *s, const char *id, const char *issuer, const char *subject)
{
    ccg_store_owner o;
    int found = 0;
    TU_OK(ccg_store_owner_get(s, CCG_OWNED_KEY, id, &o, &found));
    assert_int_equal(found, 1);
    assert_string_equal(o.issuer, issuer);
    assert_string_equal(o.subject, subject);
}

static void transfer_is_atomic_against_the_recorded_owner(void **state)
{
    fixture *f = *state;
    ccg_store_owner acme = tu_owner("acme-idp", "acme"), globex = tu_owner("globex-idp", "globex"),
                    rogue = tu_owner("rogue-idp", "acme"), none = tu_owner("", "x");
    int done = -1, mine = 0;
    put_version(f->s, "lc/model/o", 1, T0);
    /* the host (from NULL) gives an unowned key an owner */
    TU_OK(ccg_store_owner_transfer(f->s, CCG_OWNED_KEY, "lc/model/o", NULL, &acme, T0 + 1, &done));
    assert_int_equal(done, 1);
    assert_owner(f->s, "lc/model/o", "acme-idp", "acme");
    /* the same subject from another issuer is not the owner: nothing changes */
    TU_OK(ccg_store_owner_transfer(f->s, CCG_OWNED_KEY, "lc/model/o", &rogue, &globex, T0 + 2, &done));
    assert_int_equal(done, 0);
    assert_owner(f->s, "lc/model/o", "acme-idp", "acme");
    /* the owner gives it away; its old claim no longer counts */
    TU_OK(ccg_store_owner_transfer(f->s, CCG_OWNED_KEY, "lc/model/o", &acme, &globex, T0 + 3, &done));
    assert_int_equal(done, 1);
    assert_owner(f->s, "lc/model/o", "globex-idp", "globex");
    TU_OK(ccg_store_owner_transfer(f->s, CCG_OWNED_KEY, "lc/model/o", &acme, &acme, T0 + 4, &done));
    assert_int_equal(done, 0);
    TU_OK(ccg_store_owner_claim(f->s, CCG_OWNED_KEY, "lc/model/o", &acme, T0 + 5, &mine));
    assert_int_equal(mine, 0);
    /* never to an unbound or empty owner */
    TU_FAILS_WITH(ccg_store_owner_transfer(f->s, CCG_OWNED_KEY, "lc/model/o", NULL, &none, T0, &done),
               CCG_R_INPUT_MALFORMED);
    /* every transfer is on record; an unrecorded change of hands is refused by the schema */
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM owner_transfers WHERE object_id = 'lc/model/o'", -1,
                                        &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 2);
    sqlite3_finalize(st);
    sqlite3_close(db);
    assert_int_not_equal(raw_rc(f->path, "UPDATE owners SET issuer = 'rogue-idp', subject = 'rogue'"), SQLITE_OK);
    assert_int_not_equal(raw_rc(f->path, "DELETE FROM owner_transfers"), SQLITE_OK);
    assert_int_not_equal(raw_rc(f->path, "UPDATE owner_transfers SET to_subject = 'rogue'"), SQLITE_OK);
    assert_owner(f->s, "lc/model/o", "globex-idp", "globex");
}

/* ---- migration from schema 3 ---- */

static void a_schema_4_store_migrates(void **state)
{
    fixture *f = *state;
    int64_t version = 0;
    put_version(f->s, "lc/model/m", 1, T0);
    put_version(f->s, "lc/model/m", 2, T0 + 1);
    ccg_store_close(f->s);
    f->s = NULL;
    /* what a schema 4 broker left: no grace columns, no transfer history, the old triggers */
    assert_int_equal(raw_rc(f->path,
                            "DROP TRIGGER keys_retired_is_final; ALTER TABLE keys DROP COLUMN releasable_until;"
                            "ALTER TABLE keys DROP COLUMN retired_at;"
                            "CREATE TRIGGER keys_retired_is_final BEFORE UPDATE ON keys WHEN OLD.state = 'retired'"
                            "  AND NOT (NEW.kek_label IS NOT OLD.kek_label AND NEW.state IS OLD.state"
                            "  AND NEW.policy_id IS OLD.policy_id)"
                            "  BEGIN SELECT RAISE(ABORT, 'a retired key version is final'); END;"
                            "DROP TABLE owner_transfers; DROP TRIGGER owners_fixed;"
                            "CREATE TRIGGER owners_fixed BEFORE UPDATE ON owners"
                            "  WHEN OLD.issuer <> '' OR NEW.issuer = '' OR NEW.subject IS NOT OLD.subject"
                            "  BEGIN SELECT RAISE(ABORT, 'an owner never changes hands'); END;"
                            "DELETE FROM schema_version WHERE version = 5"),
                     SQLITE_OK);
    TU_OK(ccg_store_open(f->path, NULL, &f->s));
    TU_OK(ccg_store_schema_version(f->s, &version));
    assert_int_equal(version, CCG_STORE_SCHEMA_VERSION);
    assert_int_equal(version, 5);
    /* a version retired before schema 5 has no grace: it stays unreleasable, as it was */
    assert_int_equal(grace_of(f->s, "lc/model/m", 1), 0);
    TU_OK(ccg_store_integrity_check(f->s));
}

/* ---- the release policy's "rotation" member ---- */

static const char *policy_with(const char *rotation)
{
    static char text[1024];
    snprintf(text, sizeof(text),
             "{\"policy_id\":\"p\",\"version\":1,\"allowed_tees\":[\"snp\"],%s%s"
             "\"snp_policy\":{\"policy_id\":\"s\",\"version\":1,\"allowed_measurements\":[\"%096d\"]}}",
             rotation != NULL ? rotation : "", rotation != NULL ? "," : "", 0);
    return text;
}

static void the_rotation_member_is_strict(void **state)
{
    ccg_kbs_policy *p = NULL;
    static const char *const refused[] = {
        "\"rotation\":{}",
        "\"rotation\":true",
        "\"rotation\":{\"previous_grace_seconds\":-1}",
        "\"rotation\":{\"previous_grace_seconds\":31708801}",
        "\"rotation\":{\"previous_grace_seconds\":1.5}",
        "\"rotation\":{\"previous_grace_seconds\":\"60\"}",
        "\"rotation\":{\"previous_until_cut_over\":false}",
        "\"rotation\":{\"previous_grace_seconds\":60,\"previous_until_cut_over\":true}",
        "\"rotation\":{\"grace\":60}",
    };
    (void)state;
    TU_OK(ccg_kbs_policy_parse(policy_with(NULL), strlen(policy_with(NULL)), &p));
    assert_int_equal(p->rotation_grace, 0);
    ccg_kbs_policy_free(p);
    TU_OK(ccg_kbs_policy_parse(policy_with("\"rotation\":{\"previous_grace_seconds\":0}"),
                            strlen(policy_with("\"rotation\":{\"previous_grace_seconds\":0}")), &p));
    assert_int_equal(p->rotation_grace, 1);
    assert_int_equal(p->previous_grace, 0);
    ccg_kbs_policy_free(p);
    TU_OK(ccg_kbs_policy_parse(policy_with("\"rotation\":{\"previous_grace_seconds\":86400}"),
                            strlen(policy_with("\"rotation\":{\"previous_grace_seconds\":86400}")), &p));
    assert_int_equal(p->previous_grace, 86400);
    ccg_kbs_policy_free(p);
    TU_OK(ccg_kbs_policy_parse(policy_with("\"rotation\":{\"previous_until_cut_over\":true}"),
                            strlen(policy_with("\"rotation\":{\"previous_until_cut_over\":true}")), &p));
    assert_true(p->previous_grace == CCG_KBS_GRACE_UNTIL_CUT_OVER);
    ccg_kbs_policy_free(p);
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        const char *text = policy_with(refused[i]);
        p = NULL;
        ccg_error_clear();
        if (ccg_ok(ccg_kbs_policy_parse(text, strlen(text), &p))) {
            ccg_kbs_policy_free(p);
            fail_msg("accepted %s", refused[i]);
        }
        tu_assert_error_reason(CCG_R_KBS_POLICY_INVALID);
    }
}

/* ---- key IDs and sizes ---- */

static void key_ids_are_repo_type_tag(void **state)
{
    static const char *const good[] = {"a/b/c", "acme/model/llama-3.1_8B", "A/B/c.d", "r/t/...",
                                       "x/y/..z"};
    static const char *const bad[] = {"",      "a",     "a/b",    "a/b/c/d", "/a/b/c", "a/b/c/",  "a//c",
                                      "a/./c", "a/../c", "../b/c", "a/b/..",  "a b/c/d", "a/b/c%2F", "a/b/c?v=1",
                                      "a/b/\xc3\xa9"};
    char long_segment[200], long_id[400];
    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (!ccg_key_id_valid(good[i])) {
            fail_msg("refused %s", good[i]);
        }
        TU_OK(ccg_key_id_check(good[i]));
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (ccg_key_id_valid(bad[i])) {
            fail_msg("accepted %s", bad[i]);
        }
        TU_FAILS_WITH(ccg_key_id_check(bad[i]), CCG_R_KEY_ID_INVALID);
    }
    assert_false(ccg_key_id_valid(NULL));
    /* a segment of 128 bytes is the most; 129 is refused */
    memset(long_segment, 'a', sizeof(long_segment));
    snprintf(long_id, sizeof(long_id), "r/t/%.128s", long_segment);
    assert_true(ccg_key_id_valid(long_id));
    snprintf(long_id, sizeof(long_id), "r/t/%.129s", long_segment);
    assert_false(ccg_key_id_valid(long_id));
}

static void one_size_rule_for_resources(void **state)
{
    (void)state;
    TU_FAILS_WITH(ccg_kbs_resource_size_check(0), CCG_R_KEY_RESOURCE_TOO_LARGE);
    TU_OK(ccg_kbs_resource_size_check(1));
    TU_OK(ccg_kbs_resource_size_check(1u << 20));
    TU_FAILS_WITH(ccg_kbs_resource_size_check((1u << 20) + 1), CCG_R_KEY_RESOURCE_TOO_LARGE);
    assert_int_equal(CCG_KBS_RESOURCE_MAX, 1u << 20);
    /* everything a 1 MiB resource passes through holds it */
    assert_true(CCG_KEYSTORE_MAX_KEY_LEN >= CCG_KBS_RESOURCE_MAX);
    assert_true(CCG_STORE_WRAPPED_MAX >= CCG_KEYSTORE_MAX_BLOB_LEN);
    assert_true(CCG_KBS_MAX_ADMIN_KEY_BODY >= (CCG_KBS_RESOURCE_MAX * 4 + 2) / 3 + 1024);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(rotation_opens_the_grace_and_cut_over_ends_it, setup, teardown),
        cmocka_unit_test_setup_teardown(a_retired_state_has_no_grace, setup, teardown),
        cmocka_unit_test_setup_teardown(the_schema_never_reopens_a_grace, setup, teardown),
        cmocka_unit_test_setup_teardown(a_rewrap_keeps_the_grace, setup, teardown),
        cmocka_unit_test_setup_teardown(transfer_is_atomic_against_the_recorded_owner, setup, teardown),
        cmocka_unit_test_setup_teardown(a_schema_4_store_migrates, setup, teardown),
        cmocka_unit_test(the_rotation_member_is_strict),
        cmocka_unit_test(key_ids_are_repo_type_tag),
        cmocka_unit_test(one_size_rule_for_resources),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
