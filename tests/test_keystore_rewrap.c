/* KEK rotation in the store (ccg_store_key_rewrap and the KEK-rewrap migration): a key version's
 * wrapped blob and KEK label change together, once, only to another label and only while the version
 * is still under the label the caller read; nothing else of a version changes, and a retired version
 * is re-wrapped without becoming anything but retired. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "testutil.h"
#include "tu_store.h"

#include "ccgate/error.h"
#include "ccgate/store.h"

typedef struct {
    char dir[64];
    char path[128];
    ccg_store *s;
} fixture;

static const ccg_time T0 = 1767225600; /* 2026-01-01T00:00:00Z */

/* The shared assertions (tests/support/tu_store.h) under this file's short names. */
#define OK(expr) TU_OK(expr)
#define FAILS_WITH(expr, reason) TU_FAILS_WITH(expr, reason)

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/ccg-rewrap-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/state.db", f->dir);
    OK(ccg_store_open(f->path, NULL, &f->s));
    OK(ccg_store_policy_put(f->s, "pol", 1, "{\"policy_id\":\"pol\",\"version\":1}", T0));
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

/* Stands in for a keystore blob: the magic, then a byte pattern (the store never opens it). */
static void blob(uint8_t out[104], uint8_t fill)
{
    memset(out, fill, 104);
    memcpy(out, CCG_STORE_WRAPPED_MAGIC, 4);
}

static void put_version(fixture *f, int64_t version, const char *label, uint8_t fill)
{
    uint8_t b[104];
    ccg_store_key_spec spec;
    blob(b, fill);
    memset(&spec, 0, sizeof(spec));
    spec.key_id = "r/model/k";
    spec.version = version;
    spec.wrapped = b;
    spec.wrapped_len = sizeof(b);
    spec.kek_label = label;
    spec.policy_id = "pol";
    if (version == 1) {
        OK(ccg_store_key_import(f->s, &spec, T0));
    } else {
        OK(ccg_store_key_rotate(f->s, &spec, T0 + version));
    }
}

static void assert_version(fixture *f, int64_t version, const char *label, uint8_t fill, ccg_key_state state)
{
    ccg_store_key k;
    uint8_t b[104];
    memset(&k, 0, sizeof(k));
    OK(ccg_store_key_get(f->s, "r/model/k", version, &k));
    blob(b, fill);
    assert_string_equal(k.kek_label, label);
    assert_int_equal(k.wrapped_len, sizeof(b));
    assert_memory_equal(k.wrapped, b, sizeof(b));
    assert_int_equal(k.state, state);
    assert_string_equal(k.policy_id, "pol");
    ccg_store_key_free(&k);
}

static void raw_fails(fixture *f, const char *sql, const char *why)
{
    sqlite3 *db = NULL;
    char *err = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(db, sql, NULL, NULL, &err), SQLITE_OK);
    assert_non_null(err);
    if (strstr(err, why) == NULL) {
        fail_msg("%s: %s (expected \"%s\")", sql, err, why);
    }
    sqlite3_free(err);
    sqlite3_close(db);
}

static void rewrap_applies_once(void **state)
{
    fixture *f = *state;
    uint8_t b[104], c[104];
    int64_t version = 0;
    OK(ccg_store_schema_version(f->s, &version));
    assert_int_equal(version, CCG_STORE_SCHEMA_VERSION);
    put_version(f, 1, "kek-a", 0x11);
    blob(b, 0x22);
    OK(ccg_store_key_rewrap(f->s, "r/model/k", 1, "kek-a", "kek-b", b, sizeof(b), T0 + 10));
    assert_version(f, 1, "kek-b", 0x22, CCG_KEY_ACTIVE);
    /* a second run that read the old label: refused, the first re-wrap stands */
    blob(c, 0x33);
    FAILS_WITH(ccg_store_key_rewrap(f->s, "r/model/k", 1, "kek-a", "kek-b", c, sizeof(c), T0 + 11),
               CCG_R_STORE_CONFLICT);
    FAILS_WITH(ccg_store_key_rewrap(f->s, "r/model/k", 1, "kek-a", "kek-c", c, sizeof(c), T0 + 11),
               CCG_R_STORE_CONFLICT);
    assert_version(f, 1, "kek-b", 0x22, CCG_KEY_ACTIVE);
    /* the same label is no rotation; absent versions are key.not_found; plaintext is never stored */
    FAILS_WITH(ccg_store_key_rewrap(f->s, "r/model/k", 1, "kek-b", "kek-b", c, sizeof(c), T0), CCG_R_INPUT_MALFORMED);
    FAILS_WITH(ccg_store_key_rewrap(f->s, "r/model/k", 9, "kek-b", "kek-c", c, sizeof(c), T0), CCG_R_KEY_NOT_FOUND);
    memset(c, 0x33, sizeof(c));
    FAILS_WITH(ccg_store_key_rewrap(f->s, "r/model/k", 1, "kek-b", "kek-c", c, sizeof(c), T0), CCG_R_INPUT_MALFORMED);
    FAILS_WITH(ccg_store_key_rewrap(f->s, "r/model/k", 1, "", "kek-c", b, sizeof(b), T0), CCG_R_INPUT_MALFORMED);
    assert_version(f, 1, "kek-b", 0x22, CCG_KEY_ACTIVE);
}

static void retired_versions_are_rewrapped_and_stay_retired(void **state)
{
    fixture *f = *state;
    uint8_t b[104];
    put_version(f, 1, "kek-a", 0x11);
    put_version(f, 2, "kek-a", 0x12); /* v1 retired */
    blob(b, 0x21);
    OK(ccg_store_key_rewrap(f->s, "r/model/k", 1, "kek-a", "kek-b", b, sizeof(b), T0 + 10));
    assert_version(f, 1, "kek-b", 0x21, CCG_KEY_RETIRED);
    assert_version(f, 2, "kek-a", 0x12, CCG_KEY_ACTIVE);
    FAILS_WITH(ccg_store_key_set_state(f->s, "r/model/k", 1, CCG_KEY_ACTIVE, T0 + 11), CCG_R_STORE_CONFLICT);
    /* the triggers hold for any writer, not only for the store's own statements */
    raw_fails(f, "UPDATE keys SET state = 'active' WHERE version = 1", "a retired key version is final");
    raw_fails(f,
              "UPDATE keys SET state = 'active', kek_label = 'kek-z',"
              " wrapped = X'43434757" /* the magic, then 100 bytes */
              "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"
              "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a'"
              " WHERE version = 1",
              "a retired key version is final");
    raw_fails(f, "UPDATE keys SET kek_label = 'kek-z' WHERE version = 2", "re-wrapped only under another KEK");
    raw_fails(f, "UPDATE keys SET wrapped = wrapped WHERE version = 2", "re-wrapped only under another KEK");
    raw_fails(f, "UPDATE keys SET created_at = 0 WHERE version = 2", "immutable except for its state");
    raw_fails(f, "UPDATE keys SET version = 7 WHERE version = 2", "immutable except for its state");
    assert_version(f, 1, "kek-b", 0x21, CCG_KEY_RETIRED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(rewrap_applies_once, setup, teardown),
        cmocka_unit_test_setup_teardown(retired_versions_are_rewrapped_and_stay_retired, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
