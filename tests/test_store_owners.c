/* Owners of keys and policies in the store (schema version 2): a claim is recorded once and never
 * changes hands, concurrent claimants agree on one winner, the owners that schema 1 kept as settings
 * (subject only) migrate as unbound rows, and the broker binds them to the single configured issuer
 * that may assert their subject. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "pg_scratch.h"
#include "testutil.h"
#include "tu_store.h"

#include "ccgate/error.h"
#include "ccgate/kbs.h"
#include "ccgate/store.h"

typedef struct {
    char dir[64];
    char path[128];
    char loc[768]; /* what ccg_store_open takes: the SQLite path or the PostgreSQL URL */
    ccg_store *s;
} fixture;

static tu_pg g_pg;
static int g_case;
static int g_on_pg; /* the group running: 0 SQLite, 1 PostgreSQL */

static const ccg_time T0 = 1767225600; /* 2026-01-01T00:00:00Z */

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    tu_temp_db("owners", f->dir, sizeof(f->dir), f->path, sizeof(f->path));
    tu_store_loc(g_on_pg ? &g_pg : NULL, "owners", &g_case, f->path, f->loc, sizeof(f->loc));
    TU_OK(ccg_store_open(f->loc, NULL, &f->s));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];
    ccg_store_close(f->s);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* SQL behind the store's back: on SQLite the path's file, on PostgreSQL the fixture's schema (pg_sql, or
 * sql when it is spelled the same). */
static void raw_exec_on(const fixture *f, const char *sql, const char *pg_sql, int want_ok)
{
    sqlite3 *db = NULL;
    char *err = NULL;
    int rc;
    if (g_on_pg) {
        PGconn *c = PQconnectdb(f->loc);
        assert_int_equal(PQstatus(c), CONNECTION_OK);
        PGresult *r = PQexec(c, pg_sql != NULL ? pg_sql : sql);
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
        if (ok != want_ok) {
            fail_msg("%s: %s", pg_sql != NULL ? pg_sql : sql, ok ? "succeeded" : PQresultErrorMessage(r));
        }
        PQclear(r);
        PQfinish(c);
        return;
    }
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    if ((rc == SQLITE_OK) != want_ok) {
        fail_msg("%s: %s", sql, err != NULL ? err : "succeeded");
    }
    sqlite3_free(err);
    sqlite3_close(db);
}

static void assert_owner(ccg_store *s, ccg_store_owned kind, const char *id, const char *issuer, const char *subject)
{
    ccg_store_owner got;
    int found = 0;
    TU_OK(ccg_store_owner_get(s, kind, id, &got, &found));
    if (subject == NULL) {
        assert_int_equal(found, 0);
        return;
    }
    assert_int_equal(found, 1);
    assert_string_equal(got.issuer, issuer);
    assert_string_equal(got.subject, subject);
}

static void put_policy(ccg_store *s, const char *id)
{
    char doc[300];
    snprintf(doc, sizeof(doc), "{\"policy_id\":\"%s\",\"version\":1}", id);
    TU_OK(ccg_store_policy_put(s, id, 1, doc, T0));
}

static void import_key(ccg_store *s, const char *key_id, const char *policy_id)
{
    uint8_t wrapped[100];
    ccg_store_key_spec spec = {.key_id = key_id, .version = 1, .wrapped = wrapped, .wrapped_len = sizeof(wrapped),
                               .kek_label = "kek", .policy_id = policy_id};
    tu_fake_wrapped(wrapped, 7);
    TU_OK(ccg_store_key_import(s, &spec, T0));
}

/* ---- claims ---- */

static void a_claim_is_recorded_once_and_never_changes_hands(void **state)
{
    fixture *f = *state;
    ccg_store_owner acme = tu_owner("acme-idp", "acme"), rogue = tu_owner("rogue-idp", "acme"), none = tu_owner("", "acme");
    int mine = -1;
    int64_t version = 0;
    TU_OK(ccg_store_schema_version(f->s, &version));
    assert_int_equal(version, CCG_STORE_SCHEMA_VERSION);
    assert_owner(f->s, CCG_OWNED_KEY, "acme/model/k1", NULL, NULL);
    TU_OK(ccg_store_owner_claim(f->s, CCG_OWNED_KEY, "acme/model/k1", &acme, T0, &mine));
    assert_int_equal(mine, 1);
    /* The same subject from another issuer is another owner: the claim does not take it over. */
    TU_OK(ccg_store_owner_claim(f->s, CCG_OWNED_KEY, "acme/model/k1", &rogue, T0, &mine));
    assert_int_equal(mine, 0);
    TU_OK(ccg_store_owner_claim(f->s, CCG_OWNED_KEY, "acme/model/k1", &acme, T0, &mine));
    assert_int_equal(mine, 1);
    assert_owner(f->s, CCG_OWNED_KEY, "acme/model/k1", "acme-idp", "acme");
    /* Keys and policies are separate namespaces. */
    assert_owner(f->s, CCG_OWNED_POLICY, "acme/model/k1", NULL, NULL);
    /* An owner needs an issuer and a subject. */
    TU_FAILS_WITH(ccg_store_owner_claim(f->s, CCG_OWNED_POLICY, "p", &none, T0, &mine), CCG_R_INPUT_MALFORMED);
    TU_FAILS_WITH(ccg_store_owner_claim(f->s, (ccg_store_owned)9, "p", &acme, T0, &mine), CCG_R_INPUT_MALFORMED);
    TU_FAILS_WITH(ccg_store_owner_bind(f->s, "acme", "", T0, NULL), CCG_R_INPUT_MALFORMED);
    /* Not even a writer that goes around the API moves or deletes a bound owner. */
    raw_exec_on(f, "UPDATE owners SET issuer = 'rogue-idp'", NULL, 0);
    raw_exec_on(f, "UPDATE owners SET subject = 'x'", NULL, 0);
    raw_exec_on(f, "DELETE FROM owners", NULL, 0);
    assert_owner(f->s, CCG_OWNED_KEY, "acme/model/k1", "acme-idp", "acme");
}

typedef struct {
    const char *path;
    int id;
    int mine;
    int failed;
} claimant;

static void *claim_thread(void *arg)
{
    claimant *c = arg;
    ccg_store *s = NULL;
    char issuer[32];
    ccg_store_owner o;
    snprintf(issuer, sizeof(issuer), "idp-%d", c->id);
    o = tu_owner(issuer, "acme");
    if (ccg_failed(ccg_store_open(c->path, NULL, &s)) ||
        ccg_failed(ccg_store_owner_claim(s, CCG_OWNED_POLICY, "contested", &o, T0, &c->mine))) {
        c->failed = 1;
    }
    ccg_store_close(s);
    return NULL;
}

static void concurrent_claims_have_one_winner(void **state)
{
    fixture *f = *state;
    pthread_t t[8];
    claimant c[8];
    int winners = 0;
    for (int i = 0; i < 8; i++) {
        c[i] = (claimant){.path = f->loc, .id = i};
        assert_int_equal(pthread_create(&t[i], NULL, claim_thread, &c[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(c[i].failed, 0);
        winners += c[i].mine;
    }
    assert_int_equal(winners, 1);
}

/* ---- migration from schema 1 ---- */

static void setting_name(const char *kind, const char *id, char out[160])
{
    uint8_t md[32];
    unsigned int n = 0;
    char hex[65];
    assert_int_equal(EVP_Digest(id, strlen(id), md, &n, EVP_sha256(), NULL), 1);
    ccg_hex_encode(md, 32, hex);
    hex[64] = 0;
    snprintf(out, 160, "kbs.owner.%s.%s", kind, hex);
}

/* Turns the fixture's store back into a schema 1 store whose owners are settings (what a broker
 * before schema 2 wrote), closes it, and adds the legacy rows. */
static void downgrade_with_legacy_owners(fixture *f, const char *const *rows, size_t n)
{
    char sql[512], pg_sql[512], name[160];
    ccg_store_close(f->s);
    f->s = NULL;
    raw_exec_on(f,
                /* schema 5 (lifecycle) first, then 3 and 2 */
                "DROP TRIGGER keys_retired_is_final; ALTER TABLE keys DROP COLUMN releasable_until;"
                "ALTER TABLE keys DROP COLUMN retired_at;"
                "CREATE TRIGGER keys_retired_is_final BEFORE UPDATE ON keys WHEN OLD.state = 'retired'"
                "  BEGIN SELECT RAISE(ABORT, 'a retired key version is final'); END;"
                "DROP TABLE owner_transfers;"
                "DROP TABLE gpu_reports; DROP TRIGGER owners_fixed; DROP TRIGGER owners_kept; DROP TABLE owners;"
                "DELETE FROM schema_version WHERE version >= 2",
                "DROP TRIGGER IF EXISTS keys_rewrap_moves_kek ON keys; DROP TRIGGER keys_retired_is_final ON keys;"
                "ALTER TABLE keys DROP COLUMN releasable_until; ALTER TABLE keys DROP COLUMN retired_at;"
                "DROP TABLE owner_transfers; DROP TABLE gpu_reports; DROP TABLE owners;"
                "DELETE FROM schema_version WHERE version >= 2",
                1);
    for (size_t i = 0; i < n; i += 3) {
        setting_name(rows[i], rows[i + 1], name);
        snprintf(sql, sizeof(sql),
                 "INSERT INTO settings(name, value, created_at, updated_at) VALUES ('%s', CAST('%s' AS BLOB), 1, 1)",
                 name, rows[i + 2]);
        snprintf(pg_sql, sizeof(pg_sql),
                 "INSERT INTO settings(name, value, created_at, updated_at) VALUES ('%s', convert_to('%s', 'UTF8'), 1, 1)",
                 name, rows[i + 2]);
        raw_exec_on(f, sql, pg_sql, 1);
    }
}

static void schema_1_owners_migrate_unbound(void **state)
{
    fixture *f = *state;
    static const char *const legacy[] = {"policy", "pol",      "acme",   /* an existing policy */
                                         "key",    "k/1",      "acme",   /* an existing key */
                                         "key",    "k/orphan", "globex", /* a claim whose import failed */
                                         "policy", "pol-g",    "globex"};
    ccg_store_owner *unbound = NULL;
    size_t n = 0;
    int64_t version = 0, bound = -1;
    uint8_t *value = NULL;
    size_t len = 0;
    int found = 1;
    char name[160];
    put_policy(f->s, "pol");
    put_policy(f->s, "pol-g");
    import_key(f->s, "k/1", "pol");
    import_key(f->s, "k/2", "pol");
    downgrade_with_legacy_owners(f, legacy, sizeof(legacy) / sizeof(legacy[0]));
    TU_OK(ccg_store_open(f->loc, NULL, &f->s));
    TU_OK(ccg_store_schema_version(f->s, &version));
    assert_int_equal(version, CCG_STORE_SCHEMA_VERSION);
    assert_owner(f->s, CCG_OWNED_POLICY, "pol", "", "acme");
    assert_owner(f->s, CCG_OWNED_KEY, "k/1", "", "acme");
    assert_owner(f->s, CCG_OWNED_KEY, "k/2", NULL, NULL);
    assert_owner(f->s, CCG_OWNED_KEY, "k/orphan", NULL, NULL);
    assert_owner(f->s, CCG_OWNED_POLICY, "pol-g", "", "globex");
    /* The settings are gone. */
    setting_name("policy", "pol", name);
    TU_OK(ccg_store_setting_get(f->s, name, &value, &len, &found));
    assert_int_equal(found, 0);
    TU_OK(ccg_store_owner_unbound(f->s, &unbound, &n));
    assert_int_equal(n, 2);
    assert_string_equal(unbound[0].subject, "acme");
    assert_string_equal(unbound[1].subject, "globex");
    free(unbound);
    /* An unbound owner is claimed by nobody until it is bound, once. */
    {
        ccg_store_owner acme = tu_owner("acme-idp", "acme");
        int mine = -1;
        TU_OK(ccg_store_owner_claim(f->s, CCG_OWNED_POLICY, "pol", &acme, T0, &mine));
        assert_int_equal(mine, 0);
    }
    TU_OK(ccg_store_owner_bind(f->s, "acme", "acme-idp", T0, &bound));
    assert_int_equal(bound, 2);
    assert_owner(f->s, CCG_OWNED_POLICY, "pol", "acme-idp", "acme");
    assert_owner(f->s, CCG_OWNED_KEY, "k/1", "acme-idp", "acme");
    TU_OK(ccg_store_owner_bind(f->s, "acme", "rogue-idp", T0, &bound));
    assert_int_equal(bound, 0);
    assert_owner(f->s, CCG_OWNED_KEY, "k/1", "acme-idp", "acme");
    raw_exec_on(f, "UPDATE owners SET issuer = '' WHERE object_id = 'k/1'", NULL, 0);
}

/* ---- the broker binds them ---- */

static void write_pub(const char *path)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    FILE *out = fopen(path, "w");
    assert_non_null(k);
    assert_non_null(out);
    assert_int_equal(PEM_write_PUBKEY(out, k), 1);
    assert_int_equal(fclose(out), 0);
    EVP_PKEY_free(k);
}

static void the_broker_binds_legacy_owners_to_their_one_issuer(void **state)
{
    fixture *f = *state;
    static const char *const legacy[] = {"policy", "pol-a", "acme",  /* one provider issuer may assert acme */
                                         "policy", "pol-b", "both",  /* two may assert both: ambiguous */
                                         "policy", "pol-c", "nobody" /* none may */};
    char text[2048], keys[4][160];
    ccg_kbs_config cfg;
    ccg_kbs *k = NULL;
    put_policy(f->s, "pol-a");
    put_policy(f->s, "pol-b");
    put_policy(f->s, "pol-c");
    downgrade_with_legacy_owners(f, legacy, sizeof(legacy) / sizeof(legacy[0]));
    for (int i = 0; i < 4; i++) {
        snprintf(keys[i], sizeof(keys[i]), "%s/idp%d.pem", f->dir, i);
        write_pub(keys[i]);
    }
    /* "ops" may assert acme too, but as an operator: operators own nothing. */
    snprintf(text, sizeof(text),
             "{\"store\":\"%s\",\"keystore\":{\"backend\":\"file\",\"kek_file\":\"%s/no-kek\"},"
             "\"admin\":{\"audience\":\"a\",\"issuers\":["
             "{\"name\":\"acme-idp\",\"key\":\"%s\",\"roles\":[\"provider\"],\"subjects\":[\"acme\",\"both\"]},"
             "{\"name\":\"b-idp\",\"key\":\"%s\",\"roles\":[\"provider\"],\"subjects\":[\"both\"]},"
             "{\"name\":\"ops\",\"key\":\"%s\",\"roles\":[\"operator\"],\"subjects\":[\"acme\",\"nobody\"]},"
             "{\"name\":\"auth\",\"key\":\"%s\",\"roles\":[\"authority\"],\"subjects\":[\"nobody\"]}]}}",
             f->path, f->dir, keys[0], keys[1], keys[2], keys[3]);
    TU_OK(ccg_kbs_config_parse(text, strlen(text), &cfg));
    TU_OK(ccg_kbs_new(&cfg, NULL, NULL, &k));
    ccg_kbs_free(k);
    ccg_kbs_config_free(&cfg);
    TU_OK(ccg_store_open(f->path, NULL, &f->s));
    assert_owner(f->s, CCG_OWNED_POLICY, "pol-a", "acme-idp", "acme");
    assert_owner(f->s, CCG_OWNED_POLICY, "pol-b", "", "both");
    assert_owner(f->s, CCG_OWNED_POLICY, "pol-c", "", "nobody");
}

int main(void)
{
    const struct CMUnitTest both[] = {
        cmocka_unit_test_setup_teardown(a_claim_is_recorded_once_and_never_changes_hands, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_claims_have_one_winner, setup, teardown),
        cmocka_unit_test_setup_teardown(schema_1_owners_migrate_unbound, setup, teardown),
    };
    /* the broker's configuration names its store by path here (SQLite) */
    const struct CMUnitTest sqlite_only[] = {
        cmocka_unit_test_setup_teardown(the_broker_binds_legacy_owners_to_their_one_issuer, setup, teardown),
    };
    int failed = cmocka_run_group_tests_name("owners on SQLite", both, NULL, NULL);
    failed += cmocka_run_group_tests_name("owners on SQLite (broker)", sqlite_only, NULL, NULL);
    return failed + TU_PG_RUN_GROUP(&g_pg, &g_on_pg, "owners on PostgreSQL", both);
}
