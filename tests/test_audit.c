/* Tests of the audit log: the canonical form and its hash, the chain verifying, tampering, deletion
 * and reordering named at the right seq, external anchors, concurrent appenders (threads and
 * processes), a SIGKILL crash test, an independent re-verification in Python, and the CLI. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "testutil.h"
#include "tu_audit.h"
#include "tu_store.h"

#include "ccgate/audit.h"
#include "ccgate/decision.h"
#include "ccgate/error.h"
#include "ccgate/store.h"

static const ccg_time T0 = TU_AUDIT_T0;
#define TCB_RECORD_HASH "b2a992d8c650fcaf8ec2d776498dc3a85572b4fa431911bb401c39d91fdde39e"
#define GPU_RECORD_HASH "054ad61a0cc3ad7760c4f79225c11aa81c7db7411ab3189f1905efe80b8e1961"
#define GENESIS "0000000000000000000000000000000000000000000000000000000000000000"

typedef struct {
    char dir[64];
    char path[128];
    ccg_audit *a;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    tu_temp_db("audit", f->dir, sizeof(f->dir), f->path, sizeof(f->path));
    /* The audit log shares the store's database file, as in the broker. */
    ccg_store *s = NULL;
    TU_OK(ccg_store_open(f->path, NULL, &s));
    ccg_store_close(s);
    TU_OK(ccg_audit_open(f->path, NULL, &f->a));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char p[192];
    ccg_audit_close(f->a);
    const char *names[] = {"state.db", "state.db-wal", "state.db-shm", "list.json", "verify.py"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", f->dir, names[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Records from .. from + n - 1 (tu_audit_append, without claims). */
static void append_n(ccg_audit *a, int from, int n)
{
    for (int i = from; i < from + n; i++) {
        TU_OK(tu_audit_append(a, i, 0, NULL, NULL));
    }
}

static sqlite3 *raw_open(const char *path)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

/* The columns of a format-1 record (schema 3 adds count and tcb, NULL for them). */
#define COLS15                                                                                                  \
    "seq, v, time, request_id, persona, action, key_id, key_version, policy_id, policy_version,"             \
    " evidence_digest, decision, reasons, prev_hash, hash"

static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = raw_open(path);
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fail_msg("%s: %s", sql, err ? err : "?");
    }
    sqlite3_close(db);
}

static void expect_broken(ccg_audit *a, int64_t seq, const char *problem, ccg_audit_verify_report *r)
{
    ccg_error_clear();
    assert_true(ccg_failed(ccg_audit_verify(a, NULL, r)));
    tu_assert_error_reason(CCG_R_AUDIT_CHAIN_BROKEN);
    assert_false(r->intact);
    if (r->broken_seq != seq || strcmp(r->problem, problem) != 0) {
        fail_msg("expected a break at seq %lld (%s), got seq %lld (%s: %s)", (long long)seq, problem,
                 (long long)r->broken_seq, r->problem, r->detail);
    }
    char want[48];
    snprintf(want, sizeof(want), "seq %lld", (long long)seq);
    assert_non_null(strstr(ccg_error_last()->message, want));
}

/* ---- the record format ---- */

static void canonical_form_and_hash_are_exact(void **state)
{
    fixture *f = *state;
    ccg_reasons reasons;
    char hash[CCG_AUDIT_HASH_HEX];
    int64_t seq = 0;
    char digest[8 + 96 + 1] = "sha384:";
    for (int i = 0; i < 48; i++) {
        memcpy(digest + 7 + 2 * i, "ab", 3);
    }
    ccg_reasons_init(&reasons);
    assert_int_equal(ccg_reasons_add(&reasons, CCG_R_SNP_TCB_BELOW_MINIMUM, json_pack("{s:i}", "got", 3)), 0);
    assert_int_equal(ccg_reasons_add(&reasons, CCG_R_SNP_DEBUG_ENABLED, NULL), 0);
    ccg_audit_event ev = {
        .time = T0,
        .request_id = "req-0001",
        .persona = CCG_PERSONA_WORKLOAD,
        .action = "resource.release",
        .key_id = "default/model/llama",
        .key_version = 2,
        .policy_id = "llama-release",
        .policy_version = 3,
        .evidence_digest = digest,
        .decision = CCG_AUDIT_DENY,
        .reasons = &reasons,
    };
    TU_OK(ccg_audit_append(f->a, &ev, &seq, hash));
    ccg_reasons_free(&reasons);
    assert_int_equal(seq, 1);
    /* Computed independently: Python's json.dumps(sort_keys=True, separators=(",", ":")) + hashlib. */
    assert_string_equal(hash, "a8724c57c0e06593c38a81c470a28ea8aa3c886786d3938fa7bf3e5d2b3e5be8");

    json_t *list = NULL;
    TU_OK(ccg_audit_list(f->a, 0, 0, &list));
    assert_int_equal(json_array_size(list), 1);
    json_t *rec = json_array_get(list, 0);
    char *canon = ccg_audit_canonical(rec);
    assert_string_equal(
        canon, "{\"action\":\"resource.release\",\"decision\":\"deny\",\"evidence_digest\":\"sha384:"
               "abababababababababababababababababababababababababababababababababababababababababababababababab\","
               "\"key_id\":\"default/model/llama\",\"key_version\":2,\"persona\":\"workload\",\"policy_id\":"
               "\"llama-release\",\"policy_version\":3,\"prev_hash\":\"" GENESIS "\",\"reasons\":["
               "\"snp.tcb_below_minimum\",\"snp.debug_enabled\"],\"request_id\":\"req-0001\",\"seq\":1,\"time\":"
               "\"2026-01-01T00:00:00Z\",\"v\":1}");
    free(canon);
    assert_string_equal(json_string_value(json_object_get(rec, "hash")), hash);
    json_decref(list);

    /* optional fields are null, and an allow has no reasons */
    ccg_audit_event admin = {.time = T0 + 1, .request_id = "adm-1", .persona = CCG_PERSONA_PROVIDER,
                             .action = "key.import", .key_id = "k", .key_version = 1,
                             .decision = CCG_AUDIT_ALLOW};
    TU_OK(ccg_audit_append(f->a, &admin, &seq, hash));
    assert_int_equal(seq, 2);
    TU_OK(ccg_audit_list(f->a, 1, 0, &list));
    rec = json_array_get(list, 0);
    assert_true(json_is_null(json_object_get(rec, "policy_id")));
    assert_true(json_is_null(json_object_get(rec, "policy_version")));
    assert_true(json_is_null(json_object_get(rec, "evidence_digest")));
    assert_int_equal(json_array_size(json_object_get(rec, "reasons")), 0);
    assert_string_equal(json_string_value(json_object_get(rec, "persona")), "provider");
    assert_string_equal(json_string_value(json_object_get(rec, "prev_hash")),
                        "a8724c57c0e06593c38a81c470a28ea8aa3c886786d3938fa7bf3e5d2b3e5be8");
    json_decref(list);
}

static void events_are_checked(void **state)
{
    fixture *f = *state;
    ccg_reasons one, none;
    ccg_reasons_init(&one);
    ccg_reasons_init(&none);
    assert_int_equal(ccg_reasons_add(&one, CCG_R_KEY_DISABLED, NULL), 0);
    ccg_audit_event base = {.time = T0, .request_id = "r1", .persona = CCG_PERSONA_WORKLOAD,
                            .action = "resource.release", .decision = CCG_AUDIT_DENY, .reasons = &one};
    ccg_audit_event ev = base;
    TU_OK(ccg_audit_append(f->a, &ev, NULL, NULL));

    ev = base;
    ev.decision = CCG_AUDIT_ALLOW; /* an allow with reasons */
    TU_FAILS_WITH(ccg_audit_append(f->a, &ev, NULL, NULL), CCG_R_INPUT_MALFORMED);
    ev = base;
    ev.reasons = &none; /* a deny without reasons */
    TU_FAILS_WITH(ccg_audit_append(f->a, &ev, NULL, NULL), CCG_R_INPUT_MALFORMED);
    ev = base;
    ev.request_id = "has space";
    TU_FAILS_WITH(ccg_audit_append(f->a, &ev, NULL, NULL), CCG_R_INPUT_MALFORMED);
    ev = base;
    ev.request_id = NULL;
    TU_FAILS_WITH(ccg_audit_append(f->a, &ev, NULL, NULL), CCG_R_INPUT_MALFORMED);
    ev = base;
    ev.key_id = "line\nbreak";
    TU_FAILS_WITH(ccg_audit_append(f->a, &ev, NULL, NULL), CCG_R_INPUT_MALFORMED);
    ev = base;
    ev.action = "Resource Release";
    TU_FAILS_WITH(ccg_audit_append(f->a, &ev, NULL, NULL), CCG_R_INPUT_MALFORMED);
    ev = base;
    ev.evidence_digest = "sha384:NOTHEX";
    TU_FAILS_WITH(ccg_audit_append(f->a, &ev, NULL, NULL), CCG_R_INPUT_MALFORMED);
    ev = base;
    ev.persona = (ccg_persona)42;
    TU_FAILS_WITH(ccg_audit_append(f->a, &ev, NULL, NULL), CCG_R_INPUT_MALFORMED);
    ev = base;
    ev.time = -1;
    TU_FAILS_WITH(ccg_audit_append(f->a, &ev, NULL, NULL), CCG_R_INPUT_MALFORMED);
    ev = base;
    ev.key_version = -2;
    TU_FAILS_WITH(ccg_audit_append(f->a, &ev, NULL, NULL), CCG_R_INPUT_MALFORMED);

    /* nothing was written by the refused appends */
    int64_t seq = 0;
    char hash[CCG_AUDIT_HASH_HEX];
    TU_OK(ccg_audit_head(f->a, &seq, hash));
    assert_int_equal(seq, 1);
    ccg_reasons_free(&one);
}

static void event_from_decision_maps_the_outcome(void **state)
{
    (void)state;
    ccg_decision d;
    ccg_audit_event ev;
    ccg_decision_init(&d, "snp");
    memset(&ev, 0, sizeof(ev));
    d.allow = 1;
    ccg_audit_event_from_decision(&ev, &d);
    assert_int_equal(ev.decision, CCG_AUDIT_ALLOW);
    assert_null(ev.policy_id);
    assert_null(ev.evidence_digest);
    ccg_decision_deny(&d, CCG_R_SNP_DEBUG_ENABLED, NULL);
    snprintf(d.policy_id, sizeof(d.policy_id), "p1");
    d.policy_version = 4;
    ccg_audit_event_from_decision(&ev, &d);
    assert_int_equal(ev.decision, CCG_AUDIT_DENY);
    assert_string_equal(ev.policy_id, "p1");
    assert_int_equal(ev.policy_version, 4);
    assert_int_equal(ev.reasons->count, 1);
    ccg_decision_deny(&d, CCG_R_KMS_UNAVAILABLE, NULL);
    ccg_audit_event_from_decision(&ev, &d);
    assert_int_equal(ev.decision, CCG_AUDIT_ERROR);
    ccg_decision_free(&d);
}

/* ---- the chain ---- */

static void chain_verifies(void **state)
{
    fixture *f = *state;
    ccg_audit_verify_report r;
    TU_OK(ccg_audit_verify(f->a, NULL, &r)); /* the empty log */
    assert_true(r.intact);
    assert_int_equal(r.records, 0);
    assert_string_equal(r.head_hash, GENESIS);
    append_n(f->a, 1, 20);
    TU_OK(ccg_audit_verify(f->a, NULL, &r));
    assert_true(r.intact);
    assert_int_equal(r.records, 20);
    assert_int_equal(r.head_seq, 20);
    int64_t seq = 0;
    char hash[CCG_AUDIT_HASH_HEX];
    TU_OK(ccg_audit_head(f->a, &seq, hash));
    assert_int_equal(seq, 20);
    assert_string_equal(hash, r.head_hash);

    json_t *list = NULL;
    TU_OK(ccg_audit_list(f->a, 0, 0, &list));
    assert_int_equal(json_array_size(list), 20);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "prev_hash")), GENESIS);
    for (size_t i = 1; i < 20; i++) {
        assert_string_equal(json_string_value(json_object_get(json_array_get(list, i), "prev_hash")),
                            json_string_value(json_object_get(json_array_get(list, i - 1), "hash")));
    }
    json_decref(list);
    TU_OK(ccg_audit_list(f->a, 15, 3, &list));
    assert_int_equal(json_array_size(list), 3);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "seq")), 16);
    json_decref(list);

    json_t *rep = ccg_audit_verify_report_json(&r);
    assert_true(json_is_true(json_object_get(rep, "intact")));
    assert_true(json_is_null(json_object_get(rep, "broken")));
    json_decref(rep);
}

static void sqlite_refuses_update_and_delete(void **state)
{
    fixture *f = *state;
    append_n(f->a, 1, 3);
    sqlite3 *db = raw_open(f->path);
    assert_int_not_equal(sqlite3_exec(db, "UPDATE audit_log SET decision = 'allow' WHERE seq = 2", NULL, NULL, NULL),
                         SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(db, "DELETE FROM audit_log WHERE seq = 3", NULL, NULL, NULL), SQLITE_OK);
    /* a forged record at a taken seq or with a taken prev_hash cannot be inserted beside it */
    assert_int_not_equal(sqlite3_exec(db,
                                      "INSERT INTO audit_log(" COLS15 ") SELECT seq + 100, v, time, request_id, persona, action,"
                                      " key_id, key_version, policy_id, policy_version, evidence_digest, decision,"
                                      " reasons, prev_hash, 'x' FROM audit_log WHERE seq = 2",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
    sqlite3_close(db);
    ccg_audit_verify_report r;
    TU_OK(ccg_audit_verify(f->a, NULL, &r));
}

static void tampered_field_names_its_record(void **state)
{
    fixture *f = *state;
    ccg_audit_verify_report r;
    json_t *list = NULL;
    append_n(f->a, 1, 10);
    TU_OK(ccg_audit_list(f->a, 4, 1, &list));
    char stored5[CCG_AUDIT_HASH_HEX];
    snprintf(stored5, sizeof(stored5), "%s", json_string_value(json_object_get(json_array_get(list, 0), "hash")));
    json_decref(list);

    raw_exec(f->path, "DROP TRIGGER audit_log_no_update;"
                      "UPDATE audit_log SET reasons = '[\"snp.debug_enabled\"]' WHERE seq = 5");
    expect_broken(f->a, 5, "hash_mismatch", &r);
    assert_string_equal(r.stored, stored5);
    assert_string_not_equal(r.expected, stored5);
    assert_int_equal(r.records, 4);
    assert_int_equal(r.head_seq, 4);

    json_t *rep = ccg_audit_verify_report_json(&r);
    assert_false(json_is_true(json_object_get(rep, "intact")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(rep, "broken"), "seq")), 5);
    json_decref(rep);
}

static void rehashed_tamper_breaks_the_next_link(void **state)
{
    fixture *f = *state;
    ccg_audit_verify_report r;
    json_t *list = NULL;
    char hash[CCG_AUDIT_HASH_HEX], sql[256];
    append_n(f->a, 1, 10);
    /* The attacker changes record 5's decision and recomputes its hash correctly... */
    TU_OK(ccg_audit_list(f->a, 4, 1, &list));
    json_t *rec = json_array_get(list, 0);
    json_object_set_new(rec, "decision", json_string("allow"));
    json_object_set_new(rec, "reasons", json_array());
    TU_OK(ccg_audit_record_hash(rec, hash));
    json_decref(list);
    snprintf(sql, sizeof(sql),
             "DROP TRIGGER audit_log_no_update;"
             "UPDATE audit_log SET decision = 'allow', reasons = '[]', hash = '%s' WHERE seq = 5",
             hash);
    raw_exec(f->path, sql);
    /* ...so record 5 verifies on its own, and record 6 no longer chains to it. */
    expect_broken(f->a, 6, "prev_hash_mismatch", &r);
    assert_string_equal(r.expected, hash);
}

static void deleted_record_breaks_at_the_next(void **state)
{
    fixture *f = *state;
    ccg_audit_verify_report r;
    append_n(f->a, 1, 10);
    raw_exec(f->path, "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq = 4");
    expect_broken(f->a, 5, "prev_hash_mismatch", &r);
    assert_int_equal(r.head_seq, 3);
}

static void deleted_genesis_breaks_at_the_first_left(void **state)
{
    fixture *f = *state;
    ccg_audit_verify_report r;
    append_n(f->a, 1, 5);
    raw_exec(f->path, "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq = 1");
    expect_broken(f->a, 2, "prev_hash_mismatch", &r);
    assert_string_equal(r.expected, GENESIS);
}

static void reordered_records_break(void **state)
{
    fixture *f = *state;
    ccg_audit_verify_report r;
    append_n(f->a, 1, 10);
    /* Swap records 3 and 4 (contents move, seq stays in place). */
    raw_exec(f->path,
             "DROP TRIGGER audit_log_no_delete;"
             "CREATE TEMP TABLE swap AS SELECT * FROM audit_log WHERE seq IN (3, 4);"
             "DELETE FROM audit_log WHERE seq IN (3, 4);"
             "INSERT INTO audit_log(" COLS15 ") SELECT CASE seq WHEN 3 THEN 4 ELSE 3 END, v, time, request_id, persona, action,"
             " key_id, key_version, policy_id, policy_version, evidence_digest, decision, reasons, prev_hash, hash"
             " FROM swap;");
    expect_broken(f->a, 3, "prev_hash_mismatch", &r);
}

static void malformed_column_is_reported(void **state)
{
    fixture *f = *state;
    ccg_audit_verify_report r;
    append_n(f->a, 1, 6);
    raw_exec(f->path, "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET reasons = 'not json' WHERE seq = 4");
    expect_broken(f->a, 4, "malformed", &r);
    assert_non_null(strstr(r.detail, "reasons"));
}

/* ---- the TCB status of an SEV-SNP decision (format 3) ---- */

static void append_tcb(ccg_audit *a, int i, const char *status, const char *const *adv, size_t n, int64_t *seq,
                       char hash[CCG_AUDIT_HASH_HEX])
{
    char req[32];
    snprintf(req, sizeof(req), "req-%04d", i);
    ccg_audit_event ev = {
        .time = T0 + i,
        .request_id = req,
        .persona = CCG_PERSONA_WORKLOAD,
        .action = "kbs.attest",
        .policy_id = "model-a",
        .policy_version = 1,
        .evidence_digest = "sha384:0123456789abcdef",
        .decision = CCG_AUDIT_ALLOW,
        .tcb_status = status,
        .advisories = adv,
        .advisory_count = n,
    };
    TU_OK(ccg_audit_append(a, &ev, seq, hash));
}

static void tcb_status_is_recorded_and_hashed(void **state)
{
    fixture *f = *state;
    const char *adv[] = {"AMD-SB-3019", "AMD-SB-3011"};
    char hash[CCG_AUDIT_HASH_HEX];
    int64_t seq = 0;
    ccg_audit_verify_report r;
    append_tcb(f->a, 1, "OutOfDate", adv, 2, &seq, hash);
    /* Computed independently: Python's json.dumps(sort_keys=True, separators=(",", ":")) + hashlib over
     * {"action":"kbs.attest","decision":"allow","evidence_digest":"sha384:0123456789abcdef","key_id":null,
     *  "key_version":null,"persona":"workload","policy_id":"model-a","policy_version":1,"prev_hash":<64 zeros>,
     *  "reasons":[],"request_id":"req-0001","seq":1,"tcb":{"advisories":["AMD-SB-3019","AMD-SB-3011"],
     *  "status":"OutOfDate"},"time":"2026-01-01T00:00:01Z","v":3} */
    assert_string_equal(hash, TCB_RECORD_HASH);
    append_n(f->a, 2, 2); /* records without a TCB status stay format 1 */
    append_tcb(f->a, 4, "UpToDate", NULL, 0, NULL, NULL);
    json_t *list = NULL;
    TU_OK(ccg_audit_list(f->a, 0, 0, &list));
    json_t *first = json_array_get(list, 0), *second = json_array_get(list, 1), *fourth = json_array_get(list, 3);
    assert_int_equal(json_integer_value(json_object_get(first, "v")), 3);
    assert_null(json_object_get(first, "count"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(first, "tcb"), "status")), "OutOfDate");
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(json_object_get(first, "tcb"), "advisories"), 1)),
        "AMD-SB-3011");
    assert_int_equal(json_integer_value(json_object_get(second, "v")), 1);
    assert_null(json_object_get(second, "tcb"));
    assert_int_equal(json_array_size(json_object_get(json_object_get(fourth, "tcb"), "advisories")), 0);
    json_decref(list);
    TU_OK(ccg_audit_verify(f->a, NULL, &r));
    assert_true(r.intact);
    assert_int_equal(r.records, 4);
}

static void tcb_member_cannot_be_changed(void **state)
{
    fixture *f = *state;
    ccg_audit_verify_report r;
    append_tcb(f->a, 1, "UpToDate", NULL, 0, NULL, NULL);
    append_tcb(f->a, 2, "RolledBack", NULL, 0, NULL, NULL);
    append_n(f->a, 3, 2);
    /* A denied status rewritten as accepted: the hash no longer matches. */
    raw_exec(f->path, "DROP TRIGGER audit_log_no_update;"
                      "UPDATE audit_log SET tcb = '{\"advisories\":[],\"status\":\"UpToDate\"}' WHERE seq = 2");
    expect_broken(f->a, 2, "hash_mismatch", &r);
    /* The member dropped from a format-3 record, or added to a record of another format: a record
     * whose members are not its format's is malformed. */
    raw_exec(f->path, "UPDATE audit_log SET tcb = NULL WHERE seq = 1");
    expect_broken(f->a, 1, "malformed", &r);
    assert_non_null(strstr(r.detail, "tcb"));
    raw_exec(f->path, "UPDATE audit_log SET tcb = '{\"advisories\":[],\"status\":\"UpToDate\"}' WHERE seq = 1;"
                      "UPDATE audit_log SET tcb = '{\"advisories\":[],\"status\":\"RolledBack\"}' WHERE seq = 2;"
                      "UPDATE audit_log SET tcb = '{\"advisories\":[],\"status\":\"UpToDate\"}' WHERE seq = 3");
    expect_broken(f->a, 3, "malformed", &r);
    assert_non_null(strstr(r.detail, "tcb"));
    raw_exec(f->path, "UPDATE audit_log SET tcb = '[1]' WHERE seq = 3");
    expect_broken(f->a, 3, "malformed", &r);
    assert_non_null(strstr(r.detail, "tcb"));
    /* A count on a format-3 record is not its format's either; a format this ccgate does not know is
     * not verified as one it knows. */
    raw_exec(f->path, "UPDATE audit_log SET tcb = NULL WHERE seq = 3; UPDATE audit_log SET count = 1 WHERE seq = 1");
    expect_broken(f->a, 1, "malformed", &r);
    assert_non_null(strstr(r.detail, "count"));
    raw_exec(f->path, "UPDATE audit_log SET count = NULL WHERE seq = 1; UPDATE audit_log SET v = 7 WHERE seq = 3");
    expect_broken(f->a, 3, "unsupported_format", &r);
}

static void tcb_fields_are_checked(void **state)
{
    fixture *f = *state;
    const char *bad_id[] = {"AMD SB"};
    const char *ok_id[] = {"AMD-SB-1"};
    ccg_audit_event ev = {.time = T0, .request_id = "r", .persona = CCG_PERSONA_WORKLOAD, .action = "kbs.attest",
                          .decision = CCG_AUDIT_ALLOW, .tcb_status = "Fine"};
    TU_FAILS_WITH(ccg_audit_append(f->a, &ev, NULL, NULL), CCG_R_INPUT_MALFORMED);
    ev.tcb_status = NULL;
    ev.advisories = ok_id;
    ev.advisory_count = 1;
    TU_FAILS_WITH(ccg_audit_append(f->a, &ev, NULL, NULL), CCG_R_INPUT_MALFORMED);
    ev.tcb_status = "UpToDate";
    ev.advisories = bad_id;
    TU_FAILS_WITH(ccg_audit_append(f->a, &ev, NULL, NULL), CCG_R_INPUT_MALFORMED);
    ev.advisories = ok_id;
    ev.advisory_count = CCG_AUDIT_MAX_ADVISORIES + 1;
    TU_FAILS_WITH(ccg_audit_append(f->a, &ev, NULL, NULL), CCG_R_INPUT_TOO_LARGE);
    /* A counted record (format 2) carries no TCB status (format 3). */
    ev.advisory_count = 1;
    ev.count = 2;
    TU_FAILS_WITH(ccg_audit_append(f->a, &ev, NULL, NULL), CCG_R_INPUT_MALFORMED);
    ev.count = 0;
    TU_OK(ccg_audit_append(f->a, &ev, NULL, NULL));
}

/* ---- the GPUs of a decision (format 4) ---- */

static const uint16_t GPU_MISMATCH[] = {9, 20};

static void gpu_event(ccg_audit_event *ev, ccg_audit_gpu g[2], ccg_reasons *reasons, int i, char req[32])
{
    snprintf(req, 32, "req-%04d", i);
    g[0] = (ccg_audit_gpu){.arch = "HOPPER", .driver_version = "550.90.07", .vbios_version = "96.00.9F.00.01",
                           .ueid = "1000", .measurements = "failed", .nonce_binding = "ccgate-v1",
                           .mismatched = GPU_MISMATCH, .mismatched_count = 2};
    g[1] = (ccg_audit_gpu){.arch = "BLACKWELL", .measurements = "not_done"};
    ccg_reasons_init(reasons);
    assert_int_equal(ccg_reasons_add(reasons, CCG_R_GPU_MEASUREMENT_MISMATCH, NULL), 0);
    *ev = (ccg_audit_event){.time = T0 + i, .request_id = req, .persona = CCG_PERSONA_WORKLOAD,
                            .action = "kbs.attest", .policy_id = "model-a", .policy_version = 1,
                            .evidence_digest = "sha384:0123456789abcdef", .decision = CCG_AUDIT_DENY,
                            .reasons = reasons, .gpus = g, .gpu_count = 2};
}

static void gpu_claims_are_recorded_and_hashed(void **state)
{
    fixture *f = *state;
    ccg_audit_event ev;
    ccg_audit_gpu g[2];
    ccg_reasons reasons;
    char req[32], hash[CCG_AUDIT_HASH_HEX];
    ccg_audit_verify_report r;
    json_t *list = NULL;
    gpu_event(&ev, g, &reasons, 1, req);
    TU_OK(ccg_audit_append(f->a, &ev, NULL, hash));
    /* Computed independently with Python's json.dumps(sort_keys=True, separators=(",", ":")) and hashlib
     * over the record with "v":4, "tcb":null and "gpus":[{"arch":"HOPPER","driver_version":"550.90.07",
     * "index":0,"measurements":"failed","mismatched_indexes":[9,20],"nonce_binding":"ccgate-v1",
     * "ueid":"1000","vbios_version":"96.00.9F.00.01"},{"arch":"BLACKWELL","driver_version":null,"index":1,
     * "measurements":"not_done","mismatched_indexes":[],"nonce_binding":null,"ueid":null,
     * "vbios_version":null}]. */
    assert_string_equal(hash, GPU_RECORD_HASH);
    ev.tcb_status = "UpToDate"; /* with a TCB status: still format 4, the tcb member an object */
    ev.request_id = "req-0002";
    TU_OK(ccg_audit_append(f->a, &ev, NULL, NULL));
    append_tcb(f->a, 3, "UpToDate", NULL, 0, NULL, NULL); /* no GPU: format 3 as before */
    TU_OK(ccg_audit_list(f->a, 0, 0, &list));
    json_t *first = json_array_get(list, 0), *second = json_array_get(list, 1), *third = json_array_get(list, 2);
    assert_int_equal(json_integer_value(json_object_get(first, "v")), 4);
    assert_true(json_is_null(json_object_get(first, "tcb")));
    assert_int_equal(json_integer_value(json_array_get(
                         json_object_get(json_array_get(json_object_get(first, "gpus"), 0), "mismatched_indexes"), 1)),
                     20);
    assert_string_equal(json_string_value(json_object_get(json_object_get(second, "tcb"), "status")), "UpToDate");
    assert_int_equal(json_integer_value(json_object_get(third, "v")), 3);
    assert_null(json_object_get(third, "gpus"));
    json_decref(list);
    TU_OK(ccg_audit_verify(f->a, NULL, &r));
    assert_true(r.intact);
    ccg_reasons_free(&reasons);
}

static void gpu_member_cannot_be_changed(void **state)
{
    fixture *f = *state;
    ccg_audit_event ev;
    ccg_audit_gpu g[2];
    ccg_reasons reasons;
    char req[32];
    ccg_audit_verify_report r;
    gpu_event(&ev, g, &reasons, 1, req);
    TU_OK(ccg_audit_append(f->a, &ev, NULL, NULL));
    append_n(f->a, 2, 2);
    /* A failed measurement rewritten as passed: the hash no longer matches. */
    raw_exec(f->path, "DROP TRIGGER audit_log_no_update;"
                      "UPDATE audit_log SET gpus = replace(gpus, '\"failed\"', '\"passed\"') WHERE seq = 1");
    expect_broken(f->a, 1, "hash_mismatch", &r);
    /* Dropped from a format-4 record, added to a format-1 record, or of another shape: malformed. */
    raw_exec(f->path, "UPDATE audit_log SET gpus = NULL WHERE seq = 1");
    expect_broken(f->a, 1, "malformed", &r);
    assert_non_null(strstr(r.detail, "gpus"));
    raw_exec(f->path, "UPDATE audit_log SET gpus = '[{}]' WHERE seq = 1");
    expect_broken(f->a, 1, "malformed", &r);
    raw_exec(f->path, "UPDATE audit_log SET gpus = '[]' WHERE seq = 1");
    expect_broken(f->a, 1, "malformed", &r);
    raw_exec(f->path, "UPDATE audit_log SET v = 1, gpus = NULL WHERE seq = 1;"
                      "UPDATE audit_log SET gpus = '[{\"arch\":null,\"driver_version\":null,\"index\":0,"
                      "\"measurements\":\"passed\",\"mismatched_indexes\":[],\"nonce_binding\":null,"
                      "\"ueid\":null,\"vbios_version\":null}]' WHERE seq = 2");
    expect_broken(f->a, 1, "hash_mismatch", &r); /* seq 1 lost its gpus and its format: its hash breaks */
    ccg_reasons_free(&reasons);
}

/* ---- a TDX decision (format 5) ---- */

#define TDX_MRTD "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"

/* Intel's exact statuses (any of the TDX vocabulary), the FMSPC and the MRTD are recorded and hashed;
 * with GPUs the record stays format 5 and carries them; the verifier holds it to its shape. */
static void tdx_decisions_are_format_5(void **state)
{
    fixture *f = *state;
    const char *adv[] = {"INTEL-SA-00837"};
    ccg_audit_tdx tdx = {.platform_status = "OutOfDate", .module_status = "UpToDate", .qe_status = "UpToDate",
                         .fmspc = "00906ED50000", .mrtd = TDX_MRTD};
    ccg_audit_event ev = {.time = T0, .request_id = "req-1", .persona = CCG_PERSONA_WORKLOAD, .action = "kbs.attest",
                          .policy_id = "model-t", .policy_version = 3, .evidence_digest = "sha384:0123456789abcdef",
                          .decision = CCG_AUDIT_ALLOW, .tcb_status = "SWHardeningNeeded", .advisories = adv,
                          .advisory_count = 1, .tdx = &tdx};
    ccg_audit_gpu g[2];
    ccg_reasons reasons;
    char req[32];
    ccg_audit_verify_report r;
    json_t *list = NULL;
    TU_OK(ccg_audit_append(f->a, &ev, NULL, NULL));
    gpu_event(&ev, g, &reasons, 2, req);
    ev.tcb_status = "UpToDate";
    ev.tdx = &tdx;
    TU_OK(ccg_audit_append(f->a, &ev, NULL, NULL));
    TU_OK(ccg_audit_list(f->a, 0, 0, &list));
    json_t *first = json_array_get(list, 0), *second = json_array_get(list, 1), *tcb = json_object_get(first, "tcb");
    assert_int_equal(json_integer_value(json_object_get(first, "v")), 5);
    assert_int_equal(json_object_size(tcb), 7);
    assert_string_equal(json_string_value(json_object_get(tcb, "status")), "SWHardeningNeeded");
    assert_string_equal(json_string_value(json_object_get(tcb, "platform_status")), "OutOfDate");
    assert_string_equal(json_string_value(json_object_get(tcb, "mrtd")), TDX_MRTD);
    assert_null(json_object_get(first, "gpus"));
    assert_int_equal(json_integer_value(json_object_get(second, "v")), 5);
    assert_int_equal(json_array_size(json_object_get(second, "gpus")), 2);
    json_decref(list);
    TU_OK(ccg_audit_verify(f->a, NULL, &r));
    assert_true(r.intact);
    /* The statuses changed after the fact: the hash; a member dropped, or the record claiming format 3: the
     * shape. */
    raw_exec(f->path, "DROP TRIGGER audit_log_no_update;"
                      "UPDATE audit_log SET tcb = replace(tcb, 'OutOfDate', 'UpToDate') WHERE seq = 1");
    expect_broken(f->a, 1, "hash_mismatch", &r);
    raw_exec(f->path, "UPDATE audit_log SET tcb = '{\"advisories\":[],\"status\":\"UpToDate\"}' WHERE seq = 1");
    expect_broken(f->a, 1, "malformed", &r);
    raw_exec(f->path, "UPDATE audit_log SET tcb = NULL WHERE seq = 1");
    expect_broken(f->a, 1, "malformed", &r);
    ccg_reasons_free(&reasons);
}

/* What a format-5 record may hold: TDX statuses only, hex FMSPC and MRTD, never a count or no status. */
/* ---- format 6: the presented claims ---- */

static ccg_result append_claims(ccg_audit *a, int i, const char *claims_text, const char *tcb_status)
{
    char req[32];
    ccg_reasons reasons;
    json_error_t jerr;
    json_t *claims = json_loads(claims_text, 0, &jerr);
    ccg_result r;
    assert_non_null(claims);
    ccg_reasons_init(&reasons);
    assert_int_equal(ccg_reasons_add(&reasons, CCG_R_REFVAL_MEASUREMENT_MISMATCH, NULL), 0);
    snprintf(req, sizeof(req), "req-claims-%d", i);
    ccg_audit_event ev = {.time = T0 + i, .request_id = req, .persona = CCG_PERSONA_WORKLOAD, .action = "kbs.attest",
                          .policy_id = "p", .policy_version = 1, .decision = CCG_AUDIT_DENY, .reasons = &reasons,
                          .tcb_status = tcb_status, .claims = claims};
    r = ccg_audit_append(a, &ev, NULL, NULL);
    ccg_reasons_free(&reasons);
    json_decref(claims);
    return r;
}

#define SNP_CLAIMS                                                                                               \
    "{\"tee\":\"snp\",\"measurement\":\"" MEASUREMENT96 "\",\"report_version\":3,\"policy\":\"0000000000030000\"," \
    "\"reported_tcb\":\"d315000000000004\",\"refval_set_id\":\"models\",\"refval_set_version\":2,"            \
    "\"refval_record\":\"rv-1\",\"refval_match\":false,\"key_version_requested\":null}"
#define MEASUREMENT96                                                                                            \
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void claims_are_format_6_hashed_and_held_to_it(void **state)
{
    fixture *f = *state;
    ccg_audit_verify_report r;
    json_t *list = NULL;
    TU_OK(append_claims(f->a, 1, SNP_CLAIMS, "UpToDate"));
    TU_OK(append_claims(f->a, 2, "{\"tee\":\"tdx\",\"rtmrs\":[\"00\",\"ff\"],\"mrconfigid\":null}", NULL));
    append_n(f->a, 3, 1);
    TU_OK(ccg_audit_list(f->a, 0, 0, &list));
    json_t *r1 = json_array_get(list, 0), *r2 = json_array_get(list, 1);
    assert_int_equal(json_integer_value(json_object_get(r1, "v")), CCG_AUDIT_FORMAT_CLAIMS);
    assert_string_equal(json_string_value(json_object_get(json_object_get(r1, "claims"), "measurement")), MEASUREMENT96);
    assert_string_equal(json_string_value(json_object_get(json_object_get(r1, "tcb"), "status")), "UpToDate");
    assert_true(json_is_null(json_object_get(r1, "gpus")));
    assert_true(json_is_null(json_object_get(r2, "tcb"))); /* format 6 has every member, null when absent */
    assert_int_equal(json_array_size(json_object_get(json_object_get(r2, "claims"), "rtmrs")), 2);
    assert_null(json_object_get(json_array_get(list, 2), "claims")); /* a format-1 record has none */
    json_decref(list);
    TU_OK(ccg_audit_verify(f->a, NULL, &r));
    assert_int_equal(r.records, 3);
    /* the measurement presented, rewritten: the hash no longer matches */
    raw_exec(f->path, "DROP TRIGGER audit_log_no_update;"
                      "UPDATE audit_log SET claims = replace(claims, 'measurement\":\"0123', 'measurement\":\"9999') WHERE seq = 1");
    expect_broken(f->a, 1, "hash_mismatch", &r);
    raw_exec(f->path, "UPDATE audit_log SET claims = replace(claims, 'measurement\":\"9999', 'measurement\":\"0123') WHERE seq = 1");
    TU_OK(ccg_audit_verify(f->a, NULL, &r));
    /* claims dropped from a format-6 record, of another shape, or added to a format-1 record: malformed */
    raw_exec(f->path, "UPDATE audit_log SET claims = NULL WHERE seq = 2");
    expect_broken(f->a, 2, "malformed", &r);
    assert_non_null(strstr(r.detail, "claims"));
    raw_exec(f->path, "UPDATE audit_log SET claims = '{\"tee\":\"tdx\",\"token\":\"eyJ\"}' WHERE seq = 2");
    expect_broken(f->a, 2, "malformed", &r);
    raw_exec(f->path, "UPDATE audit_log SET claims = '[1]' WHERE seq = 2");
    expect_broken(f->a, 2, "malformed", &r);
    raw_exec(f->path, "UPDATE audit_log SET claims = '{\"tee\":\"tdx\",\"rtmrs\":[\"00\",\"ff\"],\"mrconfigid\":null}'"
                      " WHERE seq = 2; UPDATE audit_log SET claims = '{\"tee\":\"snp\"}' WHERE seq = 3");
    expect_broken(f->a, 3, "malformed", &r);
    assert_non_null(strstr(r.detail, "claims"));
}

static void claims_outside_the_list_are_refused(void **state)
{
    fixture *f = *state;
    char long_hex[256];
    char text[320];
    memset(long_hex, 'a', 193);
    long_hex[193] = 0;
    const char *bad[] = {
        "{}",                                          /* empty */
        "{\"tee\":\"snp\",\"token\":\"eyJhbGciOi\"}",       /* not a claim */
        "{\"tee\":\"snp\",\"report\":\"AAAA\"}",           /* no raw evidence */
        "{\"measurement\":\"ABCD\"}",                     /* hex is lowercase */
        "{\"measurement\":\"01 23\"}",
        "{\"tee\":\"s n p\"}",                            /* tokens have no spaces */
        "{\"report_version\":-1}",
        "{\"report_version\":\"3\"}",
        "{\"refval_match\":1}",
        "{\"rtmrs\":[\"00\",1]}",
        "{\"rtmrs\":[\"0\",\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\"]}",
        "{\"policy\":{\"debug\":true}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        TU_FAILS_WITH(append_claims(f->a, (int)i, bad[i], NULL), CCG_R_INPUT_MALFORMED);
    }
    snprintf(text, sizeof(text), "{\"measurement\":\"%s\"}", long_hex); /* 193 bytes: too long */
    TU_FAILS_WITH(append_claims(f->a, 50, text, NULL), CCG_R_INPUT_MALFORMED);
    long_hex[192] = 0;
    snprintf(text, sizeof(text), "{\"measurement\":\"%s\"}", long_hex);
    TU_OK(append_claims(f->a, 51, text, NULL));
    /* a counted record carries no claims */
    json_t *claims = json_pack("{s:s}", "tee", "snp");
    ccg_audit_event ev = {.time = T0, .request_id = "sum", .persona = CCG_PERSONA_WORKLOAD, .action = "kbs.auth",
                          .decision = CCG_AUDIT_ALLOW, .count = 3, .claims = claims};
    TU_FAILS_WITH(ccg_audit_append(f->a, &ev, NULL, NULL), CCG_R_INPUT_MALFORMED);
    json_decref(claims);
    ccg_audit_verify_report r;
    TU_OK(ccg_audit_verify(f->a, NULL, &r));
    assert_int_equal(r.records, 1);
}

/* ccg_audit_find: every record of one request, and nothing for another. */
static void find_by_request_id(void **state)
{
    fixture *f = *state;
    json_t *list = NULL;
    append_n(f->a, 1, 5);
    TU_OK(append_claims(f->a, 7, SNP_CLAIMS, NULL));
    TU_OK(ccg_audit_find(f->a, "req-claims-7", &list));
    assert_int_equal(json_array_size(list), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "seq")), 6);
    json_decref(list);
    TU_OK(ccg_audit_find(f->a, "req-0002", &list));
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
    TU_OK(ccg_audit_find(f->a, "nope", &list));
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
    TU_FAILS_WITH(ccg_audit_find(f->a, "a/b", &list), CCG_R_INPUT_MALFORMED);
    TU_FAILS_WITH(ccg_audit_find(f->a, "", &list), CCG_R_INPUT_MALFORMED);
}

static void tdx_fields_are_checked(void **state)
{
    fixture *f = *state;
    ccg_audit_tdx tdx = {.platform_status = "UpToDate", .module_status = "UpToDate", .qe_status = "UpToDate",
                         .fmspc = "00906ED50000", .mrtd = TDX_MRTD};
    ccg_audit_event ev = {.time = T0, .request_id = "req-1", .persona = CCG_PERSONA_WORKLOAD, .action = "kbs.attest",
                          .decision = CCG_AUDIT_ALLOW, .tcb_status = "RolledBack", .tdx = &tdx};
    TU_FAILS_WITH(ccg_audit_append(f->a, &ev, NULL, NULL), CCG_R_INPUT_MALFORMED); /* SNP's vocabulary */
    ev.tcb_status = NULL;
    TU_FAILS_WITH(ccg_audit_append(f->a, &ev, NULL, NULL), CCG_R_INPUT_MALFORMED);
    ev.tcb_status = "TDRelaunchAdvised";
    tdx.module_status = "Fine";
    TU_FAILS_WITH(ccg_audit_append(f->a, &ev, NULL, NULL), CCG_R_INPUT_MALFORMED);
    tdx.module_status = "None";
    tdx.fmspc = "00906ED5000";
    TU_FAILS_WITH(ccg_audit_append(f->a, &ev, NULL, NULL), CCG_R_INPUT_MALFORMED);
    tdx.fmspc = "00906ED50000";
    tdx.mrtd = "5a";
    TU_FAILS_WITH(ccg_audit_append(f->a, &ev, NULL, NULL), CCG_R_INPUT_MALFORMED);
    tdx.mrtd = TDX_MRTD;
    ev.count = 2;
    TU_FAILS_WITH(ccg_audit_append(f->a, &ev, NULL, NULL), CCG_R_INPUT_MALFORMED);
    ev.count = 0;
    TU_OK(ccg_audit_append(f->a, &ev, NULL, NULL));
}

static void gpu_format_needs_gpus_and_only_format_4_has_them(void **state)
{
    fixture *f = *state;
    ccg_audit_verify_report r;
    append_n(f->a, 1, 3);
    raw_exec(f->path, "DROP TRIGGER audit_log_no_update;"
                      "UPDATE audit_log SET gpus = '[{\"arch\":null,\"driver_version\":null,\"index\":0,"
                      "\"measurements\":\"passed\",\"mismatched_indexes\":[],\"nonce_binding\":null,"
                      "\"ueid\":null,\"vbios_version\":null}]' WHERE seq = 2");
    expect_broken(f->a, 2, "malformed", &r);
    assert_non_null(strstr(r.detail, "gpus"));
    raw_exec(f->path, "UPDATE audit_log SET gpus = NULL WHERE seq = 2; UPDATE audit_log SET v = 4 WHERE seq = 3");
    expect_broken(f->a, 3, "malformed", &r);
    assert_non_null(strstr(r.detail, "gpus"));
}

static void gpu_fields_are_checked(void **state)
{
    fixture *f = *state;
    ccg_audit_event ev;
    ccg_audit_gpu g[2];
    ccg_reasons reasons;
    char req[32];
    uint16_t descending[] = {20, 9}, too_high[] = {254};
    gpu_event(&ev, g, &reasons, 1, req);
    g[0].measurements = "ok";
    TU_FAILS_WITH(ccg_audit_append(f->a, &ev, NULL, NULL), CCG_R_INPUT_MALFORMED);
    g[0].measurements = NULL;
    TU_FAILS_WITH(ccg_audit_append(f->a, &ev, NULL, NULL), CCG_R_INPUT_MALFORMED);
    g[0].measurements = "passed";
    g[0].ueid = "10 00";
    TU_FAILS_WITH(ccg_audit_append(f->a, &ev, NULL, NULL), CCG_R_INPUT_MALFORMED);
    g[0].ueid = "1000";
    g[0].mismatched = descending;
    TU_FAILS_WITH(ccg_audit_append(f->a, &ev, NULL, NULL), CCG_R_INPUT_MALFORMED);
    g[0].mismatched = too_high;
    g[0].mismatched_count = 1;
    TU_FAILS_WITH(ccg_audit_append(f->a, &ev, NULL, NULL), CCG_R_INPUT_MALFORMED);
    g[0].mismatched_count = 0;
    ev.gpu_count = CCG_AUDIT_MAX_GPUS + 1;
    TU_FAILS_WITH(ccg_audit_append(f->a, &ev, NULL, NULL), CCG_R_INPUT_TOO_LARGE);
    ev.gpu_count = 2;
    ev.count = 3; /* a counted record carries no GPUs */
    TU_FAILS_WITH(ccg_audit_append(f->a, &ev, NULL, NULL), CCG_R_INPUT_MALFORMED);
    ev.count = 0;
    TU_OK(ccg_audit_append(f->a, &ev, NULL, NULL));
    ccg_reasons_free(&reasons);
}

/* A log written before the count and tcb columns existed (schema 1) gains both on open; its records
 * verify unchanged. */
static void schema_1_log_is_migrated(void **state)
{
    fixture *f = *state;
    ccg_audit_verify_report r;
    char hash[CCG_AUDIT_HASH_HEX];
    int64_t seq = 0;
    append_n(f->a, 1, 4);
    TU_OK(ccg_audit_head(f->a, &seq, hash));
    ccg_audit_close(f->a);
    f->a = NULL;
    raw_exec(f->path, "ALTER TABLE audit_log DROP COLUMN tcb; ALTER TABLE audit_log DROP COLUMN count;"
                      "UPDATE audit_schema SET version = 1");
    TU_OK(ccg_audit_open(f->path, NULL, &f->a));
    ccg_audit_anchor anchor = {.seq = seq};
    memcpy(anchor.hash, hash, sizeof(hash));
    TU_OK(ccg_audit_verify(f->a, &anchor, &r));
    assert_true(r.intact);
    append_tcb(f->a, 5, "UpToDate", NULL, 0, NULL, NULL);
    TU_OK(ccg_audit_verify(f->a, &anchor, &r));
    assert_int_equal(r.records, 5);
}

static void anchor_detects_truncation(void **state)
{
    fixture *f = *state;
    ccg_audit_verify_report r;
    ccg_audit_anchor anchor;
    append_n(f->a, 1, 8);
    TU_OK(ccg_audit_head(f->a, &anchor.seq, anchor.hash));
    TU_OK(ccg_audit_verify(f->a, &anchor, &r));
    append_n(f->a, 9, 2); /* growth past the anchor is fine */
    TU_OK(ccg_audit_verify(f->a, &anchor, &r));
    assert_int_equal(r.records, 10);

    /* Removing the newest records leaves a chain that verifies on its own... */
    raw_exec(f->path, "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq >= 7");
    TU_OK(ccg_audit_verify(f->a, NULL, &r));
    assert_int_equal(r.head_seq, 6);
    /* ...but not against an anchor taken before. */
    ccg_error_clear();
    assert_true(ccg_failed(ccg_audit_verify(f->a, &anchor, &r)));
    tu_assert_error_reason(CCG_R_AUDIT_CHAIN_BROKEN);
    assert_int_equal(r.broken_seq, 8);
    assert_string_equal(r.problem, "anchor_missing");

    ccg_audit_anchor wrong = {.seq = 3};
    memset(wrong.hash, 'a', 64);
    wrong.hash[64] = '\0';
    ccg_error_clear();
    assert_true(ccg_failed(ccg_audit_verify(f->a, &wrong, &r)));
    assert_string_equal(r.problem, "anchor_mismatch");
    assert_int_equal(r.broken_seq, 3);
}

static void open_refuses_non_logs(void **state)
{
    fixture *f = *state;
    ccg_audit *a = NULL;
    char path[160];
    ccg_audit_options no_create = {.create = 0};
    snprintf(path, sizeof(path), "%s/missing.db", f->dir);
    TU_FAILS_WITH(ccg_audit_open(path, &no_create, &a), CCG_R_STORE_UNAVAILABLE);
    assert_null(a);
    /* a file that is not a database, with and without create */
    snprintf(path, sizeof(path), "%s/verify.py", f->dir); /* reuse a name teardown removes */
    uint8_t junk[4096];
    memset(junk, 0x5A, sizeof(junk));
    TU_OK(ccg_file_write(path, junk, sizeof(junk)));
    TU_FAILS_WITH(ccg_audit_open(path, &no_create, &a), CCG_R_STORE_CORRUPT);
    TU_FAILS_WITH(ccg_audit_open(path, NULL, &a), CCG_R_STORE_CORRUPT);
    raw_exec(f->path, "UPDATE audit_schema SET version = 7");
    TU_FAILS_WITH(ccg_audit_open(f->path, NULL, &a), CCG_R_STORE_CORRUPT);
}

static void a_locked_database_fails_the_append_closed(void **state)
{
    fixture *f = *state;
    ccg_audit *a = NULL;
    ccg_audit_options quick = {.busy_timeout_ms = 200, .create = 1};
    append_n(f->a, 1, 2);
    TU_OK(ccg_audit_open(f->path, &quick, &a));
    /* Another writer holds the write lock longer than the busy timeout. */
    sqlite3 *db = raw_open(f->path);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    ccg_audit_event ev = {.time = T0, .request_id = "r", .persona = CCG_PERSONA_SYSTEM, .action = "broker.start",
                          .decision = CCG_AUDIT_ALLOW};
    int64_t seq = -1;
    TU_FAILS_WITH(ccg_audit_append(a, &ev, &seq, NULL), CCG_R_AUDIT_WRITE_FAILED);
    assert_non_null(strstr(ccg_error_last()->message, "store.unavailable"));
    assert_int_equal(seq, -1);
    assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    /* Once the lock is gone the same handle appends again, chained to the head. */
    TU_OK(ccg_audit_append(a, &ev, &seq, NULL));
    assert_int_equal(seq, 3);
    ccg_audit_verify_report r;
    TU_OK(ccg_audit_verify(a, NULL, &r));
    assert_int_equal(r.records, 3);
    ccg_audit_close(a);
}

/* ---- concurrency ---- */

typedef struct {
    const char *path;
    ccg_audit *shared;
    int id;
    int n;
    int failures;
} appender;

static void *append_thread(void *arg)
{
    appender *w = arg;
    ccg_audit *a = w->shared;
    if (a == NULL && ccg_failed(ccg_audit_open(w->path, NULL, &a))) {
        w->failures = w->n;
        return NULL;
    }
    for (int i = 0; i < w->n; i++) {
        char req[48];
        snprintf(req, sizeof(req), "w%d-%d", w->id, i);
        ccg_audit_event ev = {.time = T0 + i, .request_id = req, .persona = CCG_PERSONA_OPERATOR,
                              .action = "audit.read", .decision = CCG_AUDIT_ALLOW};
        if (ccg_failed(ccg_audit_append(a, &ev, NULL, NULL))) {
            w->failures++;
        }
    }
    if (w->shared == NULL) {
        ccg_audit_close(a);
    }
    return NULL;
}

static void concurrent_appenders_never_fork_the_chain(void **state)
{
    fixture *f = *state;
    enum { THREADS = 6, PROCS = 2, N = 25 };
    appender w[THREADS];
    pthread_t t[THREADS];
    pid_t pids[PROCS];
    for (int p = 0; p < PROCS; p++) {
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0) {
            appender child = {f->path, NULL, 100 + p, N, 0};
            append_thread(&child);
            _exit(child.failures == 0 ? 0 : 1);
        }
    }
    for (int i = 0; i < THREADS; i++) {
        /* four threads with their own handles, two sharing the fixture's */
        w[i] = (appender){f->path, i < 4 ? NULL : f->a, i, N, 0};
        assert_int_equal(pthread_create(&t[i], NULL, append_thread, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    for (int p = 0; p < PROCS; p++) {
        int status = 0;
        assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    ccg_audit_verify_report r;
    TU_OK(ccg_audit_verify(f->a, NULL, &r));
    assert_int_equal(r.records, (THREADS + PROCS) * N);
}

/* ---- the crash test ---- */

typedef struct {
    int64_t seq;
    int64_t counter;
} ack;

/* The child appends forever and acknowledges each record after ccg_audit_append returned. */
static void crash_child(const char *path, int round, int fd)
{
    ccg_audit *a = NULL;
    if (ccg_failed(ccg_audit_open(path, NULL, &a))) {
        _exit(3);
    }
    for (int64_t i = 0;; i++) {
        char req[48];
        ccg_reasons reasons;
        ccg_reasons_init(&reasons);
        snprintf(req, sizeof(req), "crash-%d-%lld", round, (long long)i);
        if (ccg_reasons_add(&reasons, CCG_R_SNP_MEASUREMENT_NOT_ALLOWED, NULL) != 0) {
            _exit(4);
        }
        ccg_audit_event ev = {.time = T0 + i, .request_id = req, .persona = CCG_PERSONA_WORKLOAD,
                              .action = "resource.release", .key_id = "k", .key_version = 1,
                              .decision = CCG_AUDIT_DENY, .reasons = &reasons};
        ack msg = {0, i};
        if (ccg_failed(ccg_audit_append(a, &ev, &msg.seq, NULL))) {
            _exit(5);
        }
        ccg_reasons_free(&reasons);
        if (write(fd, &msg, sizeof(msg)) != (ssize_t)sizeof(msg)) {
            _exit(6);
        }
    }
}

static void sigkill_loses_no_acknowledged_record(void **state)
{
    fixture *f = *state;
    ccg_audit_close(f->a); /* the parent holds no connection while the child writes */
    f->a = NULL;
    size_t total_acks = 0;
    for (int round = 0; round < 4; round++) {
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            crash_child(f->path, round, fds[1]);
        }
        close(fds[1]);
        ack *acks = calloc(4096, sizeof(ack));
        assert_non_null(acks);
        size_t n = 0;
        size_t kill_after = 40 + 23 * (size_t)round; /* kill at a different point each round */
        int killed = 0;
        for (;;) {
            ack m;
            ssize_t got = read(fds[0], &m, sizeof(m));
            if (got == 0) {
                break; /* EOF: the child is dead and every ack it wrote was read */
            }
            if (got < 0 && errno == EINTR) {
                continue;
            }
            assert_int_equal(got, sizeof(m));
            if (n < 4096) {
                acks[n++] = m;
            }
            if (!killed && n >= kill_after) {
                assert_int_equal(kill(pid, SIGKILL), 0); /* mid-stream: the child is appending */
                killed = 1;
            }
        }
        close(fds[0]);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

        /* Reopen: the chain verifies and every acknowledged record is there, as acknowledged. */
        ccg_audit *a = NULL;
        TU_OK(ccg_audit_open(f->path, NULL, &a));
        ccg_audit_verify_report r;
        TU_OK(ccg_audit_verify(a, NULL, &r));
        json_t *list = NULL;
        TU_OK(ccg_audit_list(a, 0, 0, &list));
        for (size_t i = 0; i < n; i++) {
            assert_true(acks[i].seq >= 1 && acks[i].seq <= r.head_seq);
            json_t *rec = json_array_get(list, (size_t)(acks[i].seq - 1));
            char want[48];
            snprintf(want, sizeof(want), "crash-%d-%lld", round, (long long)acks[i].counter);
            assert_int_equal(json_integer_value(json_object_get(rec, "seq")), acks[i].seq);
            assert_string_equal(json_string_value(json_object_get(rec, "request_id")), want);
        }
        json_decref(list);
        ccg_audit_close(a);
        total_acks += n;
        free(acks);
    }
    assert_true(total_acks >= 40 + 63 + 86 + 109);
    /* ...and the store in the same file is not corrupt. */
    ccg_store *s = NULL;
    ccg_store_options full = {.check = CCG_STORE_CHECK_FULL};
    TU_OK(ccg_store_open(f->path, &full, &s));
    TU_OK(ccg_store_integrity_check(s));
    ccg_store_close(s);
}

/* ---- an independent verifier ---- */

static int have_python3(void)
{
    return system("python3 -c 'import json, hashlib' >/dev/null 2>&1") == 0;
}

static void python_reverifies_the_chain(void **state)
{
    fixture *f = *state;
    if (!have_python3()) {
        tu_skip_or_fail("python3 is not installed");
    }
    const char *adv[] = {"AMD-SB-3019"};
    append_n(f->a, 1, 12);
    append_tcb(f->a, 13, "OutOfDate", adv, 1, NULL, NULL); /* format 3 re-verifies the same way */
    json_t *list = NULL;
    TU_OK(ccg_audit_list(f->a, 0, 0, &list));
    char json_path[192], py_path[192], cmd[512];
    snprintf(json_path, sizeof(json_path), "%s/list.json", f->dir);
    snprintf(py_path, sizeof(py_path), "%s/verify.py", f->dir);
    assert_int_equal(json_dump_file(list, json_path, JSON_COMPACT), 0);
    json_decref(list);
    const char *script =
        "import hashlib, json, sys\n"
        "prev = '0' * 64\n"
        "for i, r in enumerate(json.load(open(sys.argv[1]))):\n"
        "    h = r.pop('hash')\n"
        "    c = json.dumps(r, sort_keys=True, separators=(',', ':'), ensure_ascii=True)\n"
        "    assert r['seq'] == i + 1 and r['prev_hash'] == prev, i\n"
        "    assert hashlib.sha256(c.encode()).hexdigest() == h, i\n"
        "    prev = h\n"
        "print('ok', i + 1)\n";
    TU_OK(ccg_file_write(py_path, (const uint8_t *)script, strlen(script)));
    snprintf(cmd, sizeof(cmd), "python3 %s %s", py_path, json_path);
    assert_int_equal(system(cmd), 0);
}

/* ---- the CLI ---- */

/* Runs $CCG_CLI with args; returns the exit status and captures stdout. */
static int run_cli(char *const args[], char *out, size_t out_size)
{
    const char *cli = getenv("CCG_CLI");
    int fds[2];
    size_t used = 0;
    if (cli == NULL || *cli == '\0') {
        tu_skip_or_fail("CCG_CLI is not set (run through ctest)");
    }
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char *argv[16];
        size_t n = 0;
        argv[n++] = (char *)cli;
        for (size_t i = 0; args[i] != NULL && n < 15; i++) {
            argv[n++] = args[i];
        }
        argv[n] = NULL;
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        if (freopen("/dev/null", "w", stderr) == NULL) {
            _exit(127);
        }
        execv(cli, argv);
        _exit(127);
    }
    close(fds[1]);
    for (;;) {
        ssize_t got = read(fds[0], out + used, out_size - 1 - used);
        if (got <= 0) {
            break;
        }
        used += (size_t)got;
        if (used == out_size - 1) {
            break;
        }
    }
    out[used] = '\0';
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void cli_verify_list_and_head(void **state)
{
    fixture *f = *state;
    static char out[1 << 16];
    char missing[160], anchor[128];
    append_n(f->a, 1, 9);

    assert_int_equal(run_cli((char *[]){"audit", "verify", "--db", f->path, NULL}, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "intact: 9 records"));
    assert_int_equal(run_cli((char *[]){"audit", "head", "--db", f->path, NULL}, out, sizeof(out)), 0);
    assert_int_equal(strncmp(out, "9:", 2), 0);
    snprintf(anchor, sizeof(anchor), "%.66s", out);
    assert_int_equal(run_cli((char *[]){"audit", "verify", "--db", f->path, "--anchor", anchor, NULL}, out,
                             sizeof(out)),
                     0);
    assert_int_equal(run_cli((char *[]){"audit", "list", "--db", f->path, "--since", "6", "--json", NULL}, out,
                             sizeof(out)),
                     0);
    json_t *list = json_loads(out, 0, NULL);
    assert_true(json_is_array(list));
    assert_int_equal(json_array_size(list), 3);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "seq")), 7);
    json_decref(list);
    assert_int_equal(run_cli((char *[]){"audit", "list", "--db", f->path, NULL}, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "req=req-0005"));
    assert_non_null(strstr(out, "reasons=snp.tcb_below_minimum,snp.debug_enabled"));

    /* usage and unreadable input: 2 */
    assert_int_equal(run_cli((char *[]){"audit", "verify", NULL}, out, sizeof(out)), 2);
    assert_int_equal(run_cli((char *[]){"audit", "frobnicate", NULL}, out, sizeof(out)), 2);
    assert_int_equal(run_cli((char *[]){"audit", NULL}, out, sizeof(out)), 2);
    assert_int_equal(run_cli((char *[]){"audit", "list", "--db", f->path, "--since", "x", NULL}, out, sizeof(out)),
                     2);
    assert_int_equal(run_cli((char *[]){"audit", "verify", "--db", f->path, "--anchor", "3:zz", NULL}, out,
                             sizeof(out)),
                     2);
    snprintf(missing, sizeof(missing), "%s/none.db", f->dir);
    assert_int_equal(run_cli((char *[]){"audit", "verify", "--db", missing, NULL}, out, sizeof(out)), 2);
    assert_int_equal(access(missing, F_OK), -1); /* verify never creates a database */
    assert_int_equal(run_cli((char *[]){"audit", "verify", "--help", NULL}, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "Usage: ccgate audit verify"));

    /* broken: 1, naming the record */
    raw_exec(f->path, "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET key_version = 1 WHERE seq = 6");
    assert_int_equal(run_cli((char *[]){"audit", "verify", "--db", f->path, NULL}, out, sizeof(out)), 1);
    assert_non_null(strstr(out, "BROKEN at seq 6: hash_mismatch"));
    assert_int_equal(run_cli((char *[]){"audit", "verify", "--db", f->path, "--json", NULL}, out, sizeof(out)), 1);
    json_t *rep = json_loads(out, 0, NULL);
    assert_non_null(rep);
    assert_true(json_is_false(json_object_get(rep, "intact")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(rep, "broken"), "seq")), 6);
    assert_int_equal(json_integer_value(json_object_get(rep, "records")), 5);
    json_decref(rep);
}

/* ---- sequence numbers ---- */

/* The newest record renumbered (seq 6 -> 10) with its hash recomputed over the new seq, so its
 * prev_hash still links and its hash still matches: only the sequence check can see the gap. */
static void renumber_last_record(fixture *f, int64_t from, int64_t to)
{
    json_t *list = NULL, *rec;
    char hash[CCG_AUDIT_HASH_HEX], sql[512];
    TU_OK(ccg_audit_list(f->a, from - 1, 1, &list));
    rec = json_array_get(list, 0);
    assert_non_null(rec);
    json_object_set_new(rec, "seq", json_integer(to));
    json_object_del(rec, "hash");
    TU_OK(ccg_audit_record_hash(rec, hash));
    json_decref(list);
    snprintf(sql, sizeof(sql),
             "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET seq = %lld, hash = '%s' WHERE seq = %lld",
             (long long)to, hash, (long long)from);
    raw_exec(f->path, sql);
}

static void sequence_gap_is_reported(void **state)
{
    fixture *f = *state;
    ccg_audit_verify_report r;
    static char out[1 << 14];
    append_n(f->a, 1, 6);
    renumber_last_record(f, 6, 10);
    expect_broken(f->a, 10, "seq_gap", &r);
    assert_int_equal(r.records, 5);
    assert_int_equal(r.head_seq, 5);
    /* and from outside: ccgate audit verify exits 1 naming the gap */
    assert_int_equal(run_cli((char *[]){"audit", "verify", "--db", f->path, NULL}, out, sizeof(out)), 1);
    assert_non_null(strstr(out, "BROKEN at seq 10: seq_gap"));
}

/* ---- counted records (format 2) ---- */

static void counted_records_are_format_2_and_verify(void **state)
{
    fixture *f = *state;
    ccg_reasons reasons;
    ccg_audit_verify_report r;
    json_t *list = NULL, *rec;
    char *canon;
    append_n(f->a, 1, 2);
    ccg_reasons_init(&reasons);
    assert_int_equal(ccg_reasons_add(&reasons, CCG_R_KBS_SESSION_MISSING, NULL), 0);
    ccg_audit_event ev = {.time = T0 + 9, .request_id = "summary", .persona = CCG_PERSONA_WORKLOAD,
                          .action = "resource.release", .decision = CCG_AUDIT_DENY, .reasons = &reasons, .count = 41};
    TU_OK(ccg_audit_append(f->a, &ev, NULL, NULL));
    ev.count = -1;
    TU_FAILS_WITH(ccg_audit_append(f->a, &ev, NULL, NULL), CCG_R_INPUT_MALFORMED);
    ccg_reasons_free(&reasons);
    append_n(f->a, 4, 1);
    TU_OK(ccg_audit_verify(f->a, NULL, &r));
    assert_int_equal(r.records, 4);
    assert_int_equal(r.events, 3 + 41);
    /* A record of one event keeps format 1 byte for byte; the summary is format 2 with "count". */
    TU_OK(ccg_audit_list(f->a, 0, 0, &list));
    assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "v")), 1);
    assert_null(json_object_get(json_array_get(list, 0), "count"));
    rec = json_array_get(list, 2);
    assert_int_equal(json_integer_value(json_object_get(rec, "v")), 2);
    assert_int_equal(json_integer_value(json_object_get(rec, "count")), 41);
    canon = ccg_audit_canonical(rec);
    assert_non_null(strstr(canon, "\"count\":41,\"decision\":\"deny\""));
    free(canon);
    json_decref(list);
    /* The count is hashed: changing it breaks the record. */
    raw_exec(f->path, "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET count = 1 WHERE seq = 3");
    expect_broken(f->a, 3, "hash_mismatch", &r);
}

static void a_count_on_a_format_1_record_is_malformed(void **state)
{
    fixture *f = *state;
    ccg_audit_verify_report r;
    append_n(f->a, 1, 4);
    raw_exec(f->path, "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET count = 2 WHERE seq = 2");
    expect_broken(f->a, 2, "malformed", &r);
}

static void a_schema_1_log_is_upgraded_in_place(void **state)
{
    fixture *f = *state;
    ccg_audit_verify_report r;
    ccg_audit *a = NULL;
    ccg_audit_options no_create = {.create = 0};
    append_n(f->a, 1, 5);
    ccg_audit_close(f->a);
    f->a = NULL;
    /* What an older ccgate wrote: no count column, schema version 1. */
    raw_exec(f->path, "ALTER TABLE audit_log DROP COLUMN count; UPDATE audit_schema SET version = 1");
    TU_OK(ccg_audit_open(f->path, &no_create, &a));
    f->a = a;
    TU_OK(ccg_audit_verify(f->a, NULL, &r));
    assert_int_equal(r.records, 5);
    TU_OK(ccg_audit_checkpoint(f->a, T0 + 10, "cp-1", NULL, NULL));
    TU_OK(ccg_audit_prune(f->a, 6, T0 + 11, "prune-1", NULL));
    TU_OK(ccg_audit_verify(f->a, NULL, &r));
    assert_int_equal(r.start_seq, 6);
}

/* ---- retention: checkpoints and pruning ---- */

static void prune_at_a_checkpoint_then_verify(void **state)
{
    fixture *f = *state;
    ccg_audit_verify_report r;
    ccg_audit_anchor anchor;
    json_t *list = NULL;
    int64_t seq = 0, removed = -1, found = 0;
    char hash[CCG_AUDIT_HASH_HEX];
    append_n(f->a, 1, 10);
    TU_OK(ccg_audit_checkpoint(f->a, T0 + 100, "cp-1", &seq, hash));
    assert_int_equal(seq, 11);
    append_n(f->a, 12, 5);
    /* Only a checkpoint can be pruned to. */
    TU_FAILS_WITH(ccg_audit_prune(f->a, 12, T0 + 200, "prune-1", &removed), CCG_R_AUDIT_CHECKPOINT_INVALID);
    TU_FAILS_WITH(ccg_audit_prune(f->a, 99, T0 + 200, "prune-1", &removed), CCG_R_AUDIT_CHECKPOINT_INVALID);
    TU_OK(ccg_audit_checkpoint_before(f->a, T0 + 150, &found));
    assert_int_equal(found, 11);
    TU_FAILS_WITH(ccg_audit_checkpoint_before(f->a, T0 + 50, &found), CCG_R_AUDIT_CHECKPOINT_INVALID);
    TU_OK(ccg_audit_prune(f->a, 11, T0 + 200, "prune-1", &removed));
    assert_int_equal(removed, 10);
    /* The chain now verifies from the checkpoint: 11..16 and the prune record 17 (count 10). */
    TU_OK(ccg_audit_verify(f->a, NULL, &r));
    assert_true(r.intact);
    assert_int_equal(r.start_seq, 11);
    assert_int_equal(r.records, 7);
    assert_int_equal(r.events, 7); /* the prune's count is of records removed, not of events */
    assert_int_equal(r.head_seq, 17);
    TU_OK(ccg_audit_list(f->a, 0, 0, &list));
    assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "seq")), 11);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 6), "action")), "audit.prune");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 6), "count")), 10);
    json_decref(list);
    /* The checkpoint's own anchor still holds; an anchor on a pruned record is missing. */
    anchor.seq = 11;
    memcpy(anchor.hash, hash, sizeof(anchor.hash));
    TU_OK(ccg_audit_verify(f->a, &anchor, &r));
    anchor.seq = 3;
    ccg_error_clear();
    assert_true(ccg_failed(ccg_audit_verify(f->a, &anchor, &r)));
    assert_string_equal(r.problem, "anchor_missing");
    assert_non_null(strstr(r.detail, "pruned"));
    /* Tampering after the prune is still detected, at its record. */
    raw_exec(f->path, "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET key_version = 7 WHERE seq = 13");
    expect_broken(f->a, 13, "hash_mismatch", &r);
    /* ... and a broken chain is never pruned. */
    TU_OK(ccg_audit_checkpoint(f->a, T0 + 300, "cp-2", &seq, NULL));
    TU_FAILS_WITH(ccg_audit_prune(f->a, seq, T0 + 301, "prune-2", &removed), CCG_R_AUDIT_CHAIN_BROKEN);
}

static void records_deleted_before_a_checkpoint_without_a_prune_are_found(void **state)
{
    fixture *f = *state;
    ccg_audit_verify_report r;
    int64_t seq = 0;
    append_n(f->a, 1, 6);
    TU_OK(ccg_audit_checkpoint(f->a, T0 + 10, "cp-1", &seq, NULL));
    append_n(f->a, 8, 3);
    /* By hand, around the trigger: no audit.prune record accounts for it. */
    raw_exec(f->path, "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq < 7");
    expect_broken(f->a, 7, "prune_unrecorded", &r);
}

static void a_second_prune_chains_on(void **state)
{
    fixture *f = *state;
    ccg_audit_verify_report r;
    int64_t seq1 = 0, seq2 = 0, removed = 0;
    append_n(f->a, 1, 4);
    TU_OK(ccg_audit_checkpoint(f->a, T0 + 10, "cp-1", &seq1, NULL));
    append_n(f->a, 6, 3);
    TU_OK(ccg_audit_prune(f->a, seq1, T0 + 20, "prune-1", &removed));
    assert_int_equal(removed, 4);
    TU_OK(ccg_audit_checkpoint(f->a, T0 + 30, "cp-2", &seq2, NULL));
    append_n(f->a, 20, 2);
    TU_OK(ccg_audit_prune(f->a, seq2, T0 + 40, "prune-2", &removed));
    assert_int_equal(removed, seq2 - seq1);
    TU_OK(ccg_audit_verify(f->a, NULL, &r));
    assert_int_equal(r.start_seq, seq2);
    /* Pruning to the same checkpoint again removes nothing and records nothing. */
    TU_OK(ccg_audit_prune(f->a, seq2, T0 + 50, "prune-3", &removed));
    assert_int_equal(removed, 0);
    TU_OK(ccg_audit_verify(f->a, NULL, &r));
}

static void cli_checkpoint_and_prune(void **state)
{
    fixture *f = *state;
    static char out[1 << 16];
    char cp[16];
    append_n(f->a, 1, 8);
    assert_int_equal(run_cli((char *[]){"audit", "prune", "--db", f->path, "--checkpoint", "3", NULL}, out,
                             sizeof(out)),
                     1);
    assert_int_equal(run_cli((char *[]){"audit", "prune", "--db", f->path, NULL}, out, sizeof(out)), 2);
    assert_int_equal(run_cli((char *[]){"audit", "prune", "--db", f->path, "--before", "yesterday", NULL}, out,
                             sizeof(out)),
                     2);
    /* No checkpoint at or before 2000: nothing to prune to. */
    assert_int_equal(run_cli((char *[]){"audit", "prune", "--db", f->path, "--before", "2000-01-01T00:00:00Z",
                                        NULL},
                             out, sizeof(out)),
                     1);
    assert_int_equal(run_cli((char *[]){"audit", "checkpoint", "--db", f->path, NULL}, out, sizeof(out)), 0);
    assert_int_equal(strncmp(out, "9:", 2), 0);
    append_n(f->a, 10, 2);
    /* The checkpoint was made now (the wall clock), so "before the year 9000" finds it. */
    assert_int_equal(run_cli((char *[]){"audit", "prune", "--db", f->path, "--before", "9000-01-01T00:00:00Z",
                                        "--json", NULL},
                             out, sizeof(out)),
                     0);
    json_t *res = json_loads(out, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(res, "removed")), 8);
    assert_int_equal(json_integer_value(json_object_get(res, "checkpoint")), 9);
    json_decref(res);
    assert_int_equal(run_cli((char *[]){"audit", "verify", "--db", f->path, NULL}, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "verified from checkpoint 9"));
    snprintf(cp, sizeof(cp), "%d", 9);
    assert_int_equal(run_cli((char *[]){"audit", "prune", "--db", f->path, "--checkpoint", cp, NULL}, out,
                             sizeof(out)),
                     0);
    assert_non_null(strstr(out, "pruned 0 records"));
    /* Tampering after the prune still fails verify. */
    raw_exec(f->path, "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET decision = 'allow' WHERE seq = 11");
    assert_int_equal(run_cli((char *[]){"audit", "verify", "--db", f->path, NULL}, out, sizeof(out)), 1);
    assert_non_null(strstr(out, "BROKEN at seq 11: hash_mismatch"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(canonical_form_and_hash_are_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(events_are_checked, setup, teardown),
        cmocka_unit_test(event_from_decision_maps_the_outcome),
        cmocka_unit_test_setup_teardown(chain_verifies, setup, teardown),
        cmocka_unit_test_setup_teardown(sqlite_refuses_update_and_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(tampered_field_names_its_record, setup, teardown),
        cmocka_unit_test_setup_teardown(rehashed_tamper_breaks_the_next_link, setup, teardown),
        cmocka_unit_test_setup_teardown(deleted_record_breaks_at_the_next, setup, teardown),
        cmocka_unit_test_setup_teardown(deleted_genesis_breaks_at_the_first_left, setup, teardown),
        cmocka_unit_test_setup_teardown(reordered_records_break, setup, teardown),
        cmocka_unit_test_setup_teardown(malformed_column_is_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(tcb_status_is_recorded_and_hashed, setup, teardown),
        cmocka_unit_test_setup_teardown(tcb_member_cannot_be_changed, setup, teardown),
        cmocka_unit_test_setup_teardown(tcb_fields_are_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(gpu_claims_are_recorded_and_hashed, setup, teardown),
        cmocka_unit_test_setup_teardown(gpu_member_cannot_be_changed, setup, teardown),
        cmocka_unit_test_setup_teardown(gpu_format_needs_gpus_and_only_format_4_has_them, setup, teardown),
        cmocka_unit_test_setup_teardown(gpu_fields_are_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(schema_1_log_is_migrated, setup, teardown),
        cmocka_unit_test_setup_teardown(anchor_detects_truncation, setup, teardown),
        cmocka_unit_test_setup_teardown(open_refuses_non_logs, setup, teardown),
        cmocka_unit_test_setup_teardown(a_locked_database_fails_the_append_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_appenders_never_fork_the_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(sigkill_loses_no_acknowledged_record, setup, teardown),
        cmocka_unit_test_setup_teardown(python_reverifies_the_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(cli_verify_list_and_head, setup, teardown),
        cmocka_unit_test_setup_teardown(sequence_gap_is_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(counted_records_are_format_2_and_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(a_count_on_a_format_1_record_is_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(a_schema_1_log_is_upgraded_in_place, setup, teardown),
        cmocka_unit_test_setup_teardown(prune_at_a_checkpoint_then_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(records_deleted_before_a_checkpoint_without_a_prune_are_found, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_second_prune_chains_on, setup, teardown),
        cmocka_unit_test_setup_teardown(tdx_decisions_are_format_5, setup, teardown),
        cmocka_unit_test_setup_teardown(tdx_fields_are_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(cli_checkpoint_and_prune, setup, teardown),
        cmocka_unit_test_setup_teardown(claims_are_format_6_hashed_and_held_to_it, setup, teardown),
        cmocka_unit_test_setup_teardown(claims_outside_the_list_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(find_by_request_id, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
