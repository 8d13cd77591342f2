/* Tests of the state store, on both backends: key lifecycle and every illegal transition, rotation
 * atomicity, immutable document versions, single-use nonces and expiry, settings get_or_create, and
 * concurrent writers, on SQLite and again on a scratch PostgreSQL (a fresh schema per case); bad files
 * are SQLite's own. tests/test_store_pg.c has PostgreSQL's own cases (instances racing, outages). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "pg_scratch.h"
#include "testutil.h"
#include "tu_store.h"

#include "ccgate/error.h"
#include "ccgate/store.h"

/* ---- fixture ---- */

typedef struct {
    char dir[64];
    char path[128];
    char loc[768]; /* what ccg_store_open takes: the SQLite path, or the PostgreSQL URL */
    int pg;
    ccg_store *s;
} fixture;

/* The scratch PostgreSQL of the second group (started in main), and the case counter naming schemas. */
static tu_pg g_pg;
static int g_case;

/* The fixture on SQLite (pg 0) or on a fresh schema of the scratch PostgreSQL (pg 1). */
static int open_case(void **state, int pg)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    tu_temp_db("store", f->dir, sizeof(f->dir), f->path, sizeof(f->path));
    tu_store_loc(pg ? &g_pg : NULL, "case", &g_case, f->path, f->loc, sizeof(f->loc));
    f->pg = pg;
    TU_OK(ccg_store_open(f->loc, NULL, &f->s));
    *state = f;
    return 0;
}

static int setup(void **state) { return open_case(state, 0); }

static int setup_pg(void **state) { return open_case(state, 1); }

static int teardown(void **state)
{
    fixture *f = *state;
    ccg_store_close(f->s);
    tu_remove_db(f->path);
    char p[160];
    snprintf(p, sizeof(p), "%s/other.db", f->dir);
    tu_remove_db(p);
    snprintf(p, sizeof(p), "%s/garbage.db", f->dir);
    unlink(p);
    rmdir(f->dir);
    free(f);
    return 0;
}

static const ccg_time T0 = 1767225600; /* 2026-01-01T00:00:00Z */

static void put_policy(ccg_store *s, const char *id)
{
    TU_OK(ccg_store_policy_put(s, id, 1, "{\"policy_id\":\"p\",\"version\":1}", T0));
}

static void import_key(ccg_store *s, const char *key_id, int64_t version, const char *policy)
{
    uint8_t w[100];
    tu_fake_wrapped(w, (uint8_t)version);
    ccg_store_key_spec spec = {key_id, version, w, sizeof(w), "ccgate-kek", policy};
    TU_OK(ccg_store_key_import(s, &spec, T0));
}

static ccg_key_state state_of(ccg_store *s, const char *key_id, int64_t version)
{
    ccg_store_key k;
    TU_OK(ccg_store_key_get(s, key_id, version, &k));
    ccg_key_state st = k.state;
    ccg_store_key_free(&k);
    return st;
}

/* A raw connection for tests that act behind the store's back. */
static sqlite3 *raw_open(const char *path)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static void raw_exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fail_msg("%s: %s", sql, err ? err : "?");
    }
}

static int raw_exec_rc(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* Runs SQL behind the store's back on either backend (its own spelling for each); 0 when it succeeded. */
static int raw_rc(fixture *f, const char *sqlite_sql, const char *pg_sql)
{
    if (f->pg) {
        return tu_pg_exec(f->loc, pg_sql);
    }
    sqlite3 *db = raw_open(f->path);
    int rc = raw_exec_rc(db, "PRAGMA foreign_keys = ON");
    if (rc == SQLITE_OK) {
        rc = raw_exec_rc(db, sqlite_sql);
    }
    sqlite3_close(db);
    return rc;
}

#define RAW_OK(f, sq, pg) assert_int_equal(raw_rc((f), (sq), (pg)), 0)
#define RAW_FAILS(f, sq, pg) assert_int_not_equal(raw_rc((f), (sq), (pg)), 0)

/* ---- open, schema, pragmas ---- */

static void open_creates_a_hardened_database(void **state)
{
    fixture *f = *state;
    int64_t version = 0;
    struct stat st;
    TU_OK(ccg_store_schema_version(f->s, &version));
    assert_int_equal(version, CCG_STORE_SCHEMA_VERSION);
    assert_string_equal(ccg_store_backend(f->s), "sqlite");
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    sqlite3 *db = raw_open(f->path);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "wal");
    sqlite3_finalize(q);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA application_id", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(q, 0), CCG_STORE_APPLICATION_ID);
    sqlite3_finalize(q);
    sqlite3_close(db);
    TU_OK(ccg_store_integrity_check(f->s));
    /* Reopening applies no migration twice. */
    ccg_store *again = NULL;
    TU_OK(ccg_store_open(f->path, NULL, &again));
    TU_OK(ccg_store_schema_version(again, &version));
    assert_int_equal(version, CCG_STORE_SCHEMA_VERSION);
    ccg_store_close(again);
}

static void garbage_file_is_corrupt(void **state)
{
    fixture *f = *state;
    char path[160];
    uint8_t junk[8192];
    for (size_t i = 0; i < sizeof(junk); i++) {
        junk[i] = (uint8_t)(i * 131u + 7u);
    }
    snprintf(path, sizeof(path), "%s/garbage.db", f->dir);
    TU_OK(ccg_file_write(path, junk, sizeof(junk)));
    ccg_store *s = NULL;
    TU_FAILS_WITH(ccg_store_open(path, NULL, &s), CCG_R_STORE_CORRUPT);
    assert_null(s);
    /* Not even a new store is made over it: the file is left as it was. */
    uint8_t *back = NULL;
    size_t back_len = 0;
    TU_OK(ccg_file_read(path, sizeof(junk) + 1, &back, &back_len));
    assert_int_equal(back_len, sizeof(junk));
    assert_memory_equal(back, junk, sizeof(junk));
    free(back);
}

static void unreachable_paths_are_unavailable(void **state)
{
    fixture *f = *state;
    ccg_store *s = NULL;
    char path[160];
    snprintf(path, sizeof(path), "%s/no/such/dir/state.db", f->dir);
    TU_FAILS_WITH(ccg_store_open(path, NULL, &s), CCG_R_STORE_UNAVAILABLE);
    TU_FAILS_WITH(ccg_store_open(f->dir, NULL, &s), CCG_R_STORE_UNAVAILABLE); /* a directory */
    /* a PostgreSQL server that is not there */
    char url[256];
    snprintf(url, sizeof(url), "postgresql:///ccgate?host=%s/no-such-socket-dir&connect_timeout=2", f->dir);
    TU_FAILS_WITH(ccg_store_open(url, NULL, &s), CCG_R_STORE_UNAVAILABLE);
    assert_non_null(strstr(ccg_error_last()->message, "PostgreSQL"));
    TU_FAILS_WITH(ccg_store_open("", NULL, &s), CCG_R_INPUT_MALFORMED);
    assert_null(s);
}

static void another_applications_database_is_refused(void **state)
{
    fixture *f = *state;
    char path[160];
    snprintf(path, sizeof(path), "%s/other.db", f->dir);
    sqlite3 *db = raw_open(path);
    raw_exec(db, "PRAGMA application_id = 12345; CREATE TABLE t(x);");
    sqlite3_close(db);
    ccg_store *s = NULL;
    TU_FAILS_WITH(ccg_store_open(path, NULL, &s), CCG_R_STORE_CORRUPT);
    assert_non_null(strstr(ccg_error_last()->message, "another application"));

    /* without an application_id, a database with tables is still somebody else's: refused, and
     * left exactly as it was (no WAL switch, no ID written) */
    tu_remove_db(path);
    db = raw_open(path);
    raw_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES (1);");
    sqlite3_close(db);
    TU_FAILS_WITH(ccg_store_open(path, NULL, &s), CCG_R_STORE_CORRUPT);
    db = raw_open(path);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "delete");
    sqlite3_finalize(q);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA application_id", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(q, 0), 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
}

static void schema_from_the_future_is_corrupt(void **state)
{
    fixture *f = *state;
    RAW_OK(f, "INSERT INTO schema_version(version, applied_at) VALUES (99, 0)",
           "INSERT INTO schema_version(version, applied_at) VALUES (99, 0)");
    ccg_store *s = NULL;
    TU_FAILS_WITH(ccg_store_open(f->loc, NULL, &s), CCG_R_STORE_CORRUPT);
    assert_non_null(strstr(ccg_error_last()->message, "newer than this build"));
    TU_FAILS_WITH(ccg_store_integrity_check(f->s), CCG_R_STORE_CORRUPT);
}

static void damaged_pages_fail_the_integrity_check(void **state)
{
    fixture *f = *state;
    /* Fill a few pages, close (checkpointing the WAL into the file), then overwrite the middle of
     * the file with junk, leaving the header intact. */
    put_policy(f->s, "pol");
    for (int i = 0; i < 200; i++) {
        char id[32];
        snprintf(id, sizeof(id), "key-%03d", i);
        import_key(f->s, id, 1, "pol");
    }
    ccg_store_close(f->s);
    f->s = NULL;
    uint8_t *bytes = NULL;
    size_t len = 0;
    TU_OK(ccg_file_read(f->path, 64u << 20, &bytes, &len));
    assert_true(len > 8 * 4096);
    for (size_t i = 2 * 4096; i < len - 4096; i++) {
        bytes[i] = (uint8_t)(i * 7u);
    }
    TU_OK(ccg_file_write(f->path, bytes, len));
    free(bytes);
    ccg_store_options opts = {.check = CCG_STORE_CHECK_FULL};
    TU_FAILS_WITH(ccg_store_open(f->path, &opts, &f->s), CCG_R_STORE_CORRUPT);
    assert_null(f->s);
}

/* ---- keys ---- */

static void key_lifecycle_and_every_illegal_transition(void **state)
{
    fixture *f = *state;
    ccg_store_key k;
    put_policy(f->s, "pol");
    import_key(f->s, "llama", 1, "pol");

    TU_OK(ccg_store_key_get(f->s, "llama", 0, &k));
    assert_int_equal(k.version, 1);
    assert_int_equal(k.state, CCG_KEY_ACTIVE);
    assert_string_equal(k.kek_label, "ccgate-kek");
    assert_string_equal(k.policy_id, "pol");
    assert_int_equal(k.created_at, T0);
    assert_int_equal(k.wrapped_len, 100);
    assert_memory_equal(k.wrapped, CCG_STORE_WRAPPED_MAGIC, 4);
    TU_OK(ccg_store_key_releasable(&k));
    ccg_store_key_free(&k);

    /* active -> active is stale */
    TU_FAILS_WITH(ccg_store_key_set_state(f->s, "llama", 1, CCG_KEY_ACTIVE, T0 + 1), CCG_R_STORE_CONFLICT);
    /* active -> disabled -> active */
    TU_OK(ccg_store_key_set_state(f->s, "llama", 1, CCG_KEY_DISABLED, T0 + 2));
    TU_OK(ccg_store_key_get(f->s, "llama", 1, &k));
    assert_int_equal(k.state, CCG_KEY_DISABLED);
    assert_int_equal(k.updated_at, T0 + 2);
    TU_FAILS_WITH(ccg_store_key_releasable(&k), CCG_R_KEY_DISABLED);
    ccg_store_key_free(&k);
    TU_FAILS_WITH(ccg_store_key_set_state(f->s, "llama", 1, CCG_KEY_DISABLED, T0 + 3), CCG_R_STORE_CONFLICT);
    TU_OK(ccg_store_key_set_state(f->s, "llama", 1, CCG_KEY_ACTIVE, T0 + 4));
    assert_int_equal(state_of(f->s, "llama", 1), CCG_KEY_ACTIVE);
    /* active -> retired, and retired is final */
    TU_OK(ccg_store_key_set_state(f->s, "llama", 1, CCG_KEY_RETIRED, T0 + 5));
    TU_OK(ccg_store_key_get(f->s, "llama", 0, &k)); /* the newest, retired */
    assert_int_equal(k.state, CCG_KEY_RETIRED);
    TU_FAILS_WITH(ccg_store_key_releasable(&k), CCG_R_KEY_RETIRED);
    ccg_store_key_free(&k);
    TU_FAILS_WITH(ccg_store_key_set_state(f->s, "llama", 1, CCG_KEY_ACTIVE, T0 + 6), CCG_R_STORE_CONFLICT);
    TU_FAILS_WITH(ccg_store_key_set_state(f->s, "llama", 1, CCG_KEY_DISABLED, T0 + 6), CCG_R_STORE_CONFLICT);
    TU_FAILS_WITH(ccg_store_key_set_state(f->s, "llama", 1, CCG_KEY_RETIRED, T0 + 6), CCG_R_STORE_CONFLICT);
    assert_int_equal(state_of(f->s, "llama", 1), CCG_KEY_RETIRED);

    /* disabled -> retired */
    import_key(f->s, "mistral", 1, "pol");
    TU_OK(ccg_store_key_set_state(f->s, "mistral", 1, CCG_KEY_DISABLED, T0));
    TU_OK(ccg_store_key_set_state(f->s, "mistral", 1, CCG_KEY_RETIRED, T0));
    assert_int_equal(state_of(f->s, "mistral", 1), CCG_KEY_RETIRED);

    /* the rule table itself */
    assert_true(ccg_key_transition_allowed(CCG_KEY_ACTIVE, CCG_KEY_DISABLED));
    assert_true(ccg_key_transition_allowed(CCG_KEY_DISABLED, CCG_KEY_ACTIVE));
    assert_true(ccg_key_transition_allowed(CCG_KEY_ACTIVE, CCG_KEY_RETIRED));
    assert_true(ccg_key_transition_allowed(CCG_KEY_DISABLED, CCG_KEY_RETIRED));
    assert_false(ccg_key_transition_allowed(CCG_KEY_ACTIVE, CCG_KEY_ACTIVE));
    assert_false(ccg_key_transition_allowed(CCG_KEY_DISABLED, CCG_KEY_DISABLED));
    assert_false(ccg_key_transition_allowed(CCG_KEY_RETIRED, CCG_KEY_ACTIVE));
    assert_false(ccg_key_transition_allowed(CCG_KEY_RETIRED, CCG_KEY_DISABLED));
    assert_false(ccg_key_transition_allowed(CCG_KEY_RETIRED, CCG_KEY_RETIRED));
}

static void key_lookups_and_refusals(void **state)
{
    fixture *f = *state;
    ccg_store_key k;
    uint8_t w[100];
    uint8_t plain[32];
    tu_fake_wrapped(w, 9);
    memset(plain, 0x41, sizeof(plain));
    put_policy(f->s, "pol");

    TU_FAILS_WITH(ccg_store_key_get(f->s, "nope", 0, &k), CCG_R_KEY_NOT_FOUND);
    TU_FAILS_WITH(ccg_store_key_get(f->s, "nope", 3, &k), CCG_R_KEY_NOT_FOUND);
    TU_FAILS_WITH(ccg_store_key_set_state(f->s, "nope", 1, CCG_KEY_DISABLED, T0), CCG_R_KEY_NOT_FOUND);

    ccg_store_key_spec spec = {"k", 1, w, sizeof(w), "ccgate-kek", "missing-policy"};
    TU_FAILS_WITH(ccg_store_key_import(f->s, &spec, T0), CCG_R_KEY_NOT_FOUND);
    assert_non_null(strstr(ccg_error_last()->message, "missing-policy"));

    /* A raw 32-byte key is not a wrapped key: refused, never stored. */
    ccg_store_key_spec raw = {"k", 1, plain, sizeof(plain), "ccgate-kek", "pol"};
    TU_FAILS_WITH(ccg_store_key_import(f->s, &raw, T0), CCG_R_INPUT_MALFORMED);
    uint8_t long_plain[200];
    memset(long_plain, 0x42, sizeof(long_plain));
    ccg_store_key_spec raw2 = {"k", 1, long_plain, sizeof(long_plain), "ccgate-kek", "pol"};
    TU_FAILS_WITH(ccg_store_key_import(f->s, &raw2, T0), CCG_R_INPUT_MALFORMED);
    TU_FAILS_WITH(ccg_store_key_get(f->s, "k", 0, &k), CCG_R_KEY_NOT_FOUND);

    /* bad IDs and versions */
    ccg_store_key_spec bad_id = {"has space", 1, w, sizeof(w), "ccgate-kek", "pol"};
    TU_FAILS_WITH(ccg_store_key_import(f->s, &bad_id, T0), CCG_R_INPUT_MALFORMED);
    ccg_store_key_spec bad_version = {"k", 0, w, sizeof(w), "ccgate-kek", "pol"};
    TU_FAILS_WITH(ccg_store_key_import(f->s, &bad_version, T0), CCG_R_INPUT_MALFORMED);

    /* a second import of an existing key */
    import_key(f->s, "k", 1, "pol");
    ccg_store_key_spec again = {"k", 2, w, sizeof(w), "ccgate-kek", "pol"};
    TU_FAILS_WITH(ccg_store_key_import(f->s, &again, T0), CCG_R_STORE_CONFLICT);

    /* listing carries no wrapped blobs */
    import_key(f->s, "a", 1, "pol");
    ccg_store_key *list = NULL;
    size_t n = 0;
    TU_OK(ccg_store_key_list(f->s, NULL, &list, &n));
    assert_int_equal(n, 2);
    assert_string_equal(list[0].key_id, "a");
    assert_string_equal(list[1].key_id, "k");
    assert_null(list[0].wrapped);
    ccg_store_key_list_free(list, n);

    /* the schema refuses what the API would refuse, for writers that bypass it */
    RAW_FAILS(f, "UPDATE keys SET wrapped = X'00112233445566778899' WHERE key_id = 'k'",
              "UPDATE keys SET wrapped = '\\x00112233445566778899'::bytea WHERE key_id = 'k'");
    RAW_FAILS(f, "INSERT INTO keys VALUES ('z', 1, 'active', X'0011', 'l', 'pol', 0, 0)",
              "INSERT INTO keys VALUES ('z', 1, 'active', '\\x0011'::bytea, 'l', 'pol', 0, 0)");
    RAW_FAILS(f, "UPDATE keys SET state = 'bogus' WHERE key_id = 'k'",
              "UPDATE keys SET state = 'bogus' WHERE key_id = 'k'");
    /* a key version's identity and creation stay as they were */
    RAW_FAILS(f, "UPDATE keys SET created_at = 1 WHERE key_id = 'k'", "UPDATE keys SET created_at = 1 WHERE key_id = 'k'");
    /* the KEK label moves only with new wrapped bytes (a re-wrap), never alone */
    RAW_FAILS(f, "UPDATE keys SET kek_label = 'other' WHERE key_id = 'k'",
              "UPDATE keys SET kek_label = 'other' WHERE key_id = 'k'");
}

static void rotation_retires_old_versions_atomically(void **state)
{
    fixture *f = *state;
    uint8_t w[100];
    ccg_store_key k;
    put_policy(f->s, "pol");
    TU_OK(ccg_store_policy_put(f->s, "pol2", 1, "{\"a\":1}", T0));
    import_key(f->s, "llama", 1, "pol");

    tu_fake_wrapped(w, 2);
    ccg_store_key_spec v2 = {"llama", 2, w, sizeof(w), "ccgate-kek", NULL};
    TU_OK(ccg_store_key_rotate(f->s, &v2, T0 + 10));
    assert_int_equal(state_of(f->s, "llama", 1), CCG_KEY_RETIRED);
    TU_OK(ccg_store_key_get(f->s, "llama", 0, &k));
    assert_int_equal(k.version, 2);
    assert_int_equal(k.state, CCG_KEY_ACTIVE);
    assert_string_equal(k.policy_id, "pol"); /* kept */
    assert_int_equal(k.wrapped[10], 2);
    ccg_store_key_free(&k);

    /* stale or repeated versions conflict and change nothing */
    TU_FAILS_WITH(ccg_store_key_rotate(f->s, &v2, T0 + 11), CCG_R_STORE_CONFLICT);
    ccg_store_key_spec v1 = {"llama", 1, w, sizeof(w), "ccgate-kek", NULL};
    TU_FAILS_WITH(ccg_store_key_rotate(f->s, &v1, T0 + 11), CCG_R_STORE_CONFLICT);
    assert_int_equal(state_of(f->s, "llama", 2), CCG_KEY_ACTIVE);
    ccg_store_key_spec unknown = {"nope", 2, w, sizeof(w), "ccgate-kek", NULL};
    TU_FAILS_WITH(ccg_store_key_rotate(f->s, &unknown, T0), CCG_R_KEY_NOT_FOUND);

    /* A failure after the old versions were retired rolls the whole rotation back. The failure is
     * injected with a trigger that refuses the insert of version 3. */
    RAW_OK(f,
           "CREATE TRIGGER inject BEFORE INSERT ON keys WHEN NEW.version = 3"
           " BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
           "CREATE FUNCTION inject() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
           " RAISE EXCEPTION 'injected failure'; END $$;"
           "CREATE TRIGGER inject BEFORE INSERT ON keys FOR EACH ROW WHEN (NEW.version = 3)"
           " EXECUTE FUNCTION inject()");
    tu_fake_wrapped(w, 3);
    ccg_store_key_spec v3 = {"llama", 3, w, sizeof(w), "ccgate-kek", "pol2"};
    ccg_error_clear();
    assert_true(ccg_failed(ccg_store_key_rotate(f->s, &v3, T0 + 20)));
    assert_int_equal(state_of(f->s, "llama", 2), CCG_KEY_ACTIVE); /* not retired */
    TU_FAILS_WITH(ccg_store_key_get(f->s, "llama", 3, &k), CCG_R_KEY_NOT_FOUND);
    RAW_OK(f, "DROP TRIGGER inject", "DROP TRIGGER inject ON keys");

    /* rotating a disabled key is allowed; the new version is active and takes the new policy */
    TU_OK(ccg_store_key_set_state(f->s, "llama", 2, CCG_KEY_DISABLED, T0 + 30));
    TU_OK(ccg_store_key_rotate(f->s, &v3, T0 + 31));
    assert_int_equal(state_of(f->s, "llama", 2), CCG_KEY_RETIRED);
    TU_OK(ccg_store_key_get(f->s, "llama", 0, &k));
    assert_int_equal(k.version, 3);
    assert_int_equal(k.state, CCG_KEY_ACTIVE);
    assert_string_equal(k.policy_id, "pol2");
    ccg_store_key_free(&k);

    /* a fully retired key stays retired */
    TU_OK(ccg_store_key_set_state(f->s, "llama", 3, CCG_KEY_RETIRED, T0 + 40));
    tu_fake_wrapped(w, 4);
    ccg_store_key_spec v4 = {"llama", 4, w, sizeof(w), "ccgate-kek", NULL};
    TU_FAILS_WITH(ccg_store_key_rotate(f->s, &v4, T0 + 41), CCG_R_STORE_CONFLICT);

    /* at most one live version, whatever the writer */
    RAW_OK(f, "INSERT INTO keys VALUES ('two', 1, 'active', X'4343475700', 'l', 'pol', 0, 0, 0, 0)",
           "INSERT INTO keys VALUES ('two', 1, 'active', '\\x4343475700'::bytea, 'l', 'pol', 0, 0, 0, 0)");
    RAW_FAILS(f, "INSERT INTO keys VALUES ('two', 2, 'disabled', X'4343475700', 'l', 'pol', 0, 0, 0, 0)",
              "INSERT INTO keys VALUES ('two', 2, 'disabled', '\\x4343475700'::bytea, 'l', 'pol', 0, 0, 0, 0)");
}

typedef struct {
    const char *path;
    int64_t version;
    int ok;
    ccg_reason reason;
} rotate_race;

static void *rotate_thread(void *arg)
{
    rotate_race *r = arg;
    ccg_store *s = NULL;
    uint8_t w[100];
    tu_fake_wrapped(w, (uint8_t)r->version);
    ccg_store_key_spec spec = {"race", r->version, w, sizeof(w), "ccgate-kek", NULL};
    if (ccg_ok(ccg_store_open(r->path, NULL, &s))) {
        r->ok = ccg_ok(ccg_store_key_rotate(s, &spec, T0));
        r->reason = ccg_error_reason();
    }
    ccg_store_close(s);
    return NULL;
}

static void concurrent_rotations_to_one_version_have_one_winner(void **state)
{
    fixture *f = *state;
    put_policy(f->s, "pol");
    import_key(f->s, "race", 1, "pol");
    rotate_race r[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        r[i] = (rotate_race){f->loc, 2, 0, CCG_R_OK};
        assert_int_equal(pthread_create(&t[i], NULL, rotate_thread, &r[i]), 0);
    }
    int winners = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        if (r[i].ok) {
            winners++;
        } else {
            assert_int_equal(r[i].reason, CCG_R_STORE_CONFLICT);
        }
    }
    assert_int_equal(winners, 1);
    ccg_store_key *list = NULL;
    size_t n = 0;
    TU_OK(ccg_store_key_list(f->s, "race", &list, &n));
    assert_int_equal(n, 2);
    assert_int_equal(list[0].state, CCG_KEY_RETIRED);
    assert_int_equal(list[1].state, CCG_KEY_ACTIVE);
    ccg_store_key_list_free(list, n);
}

/* ---- documents ---- */

static void policy_versions_are_immutable(void **state)
{
    fixture *f = *state;
    ccg_store_doc d;
    const char *a = "{\"policy_id\":\"p\",\"version\":1,\"tee\":[\"snp\"]}";
    const char *b = "{\"policy_id\":\"p\",\"version\":1,\"tee\":[\"tdx\"]}";
    TU_OK(ccg_store_policy_put(f->s, "p", 1, a, T0));
    TU_OK(ccg_store_policy_put(f->s, "p", 1, a, T0 + 5)); /* an idempotent retry */
    TU_FAILS_WITH(ccg_store_policy_put(f->s, "p", 1, b, T0), CCG_R_STORE_CONFLICT);
    TU_OK(ccg_store_policy_get(f->s, "p", 1, &d));
    assert_string_equal((const char *)d.body, a);
    assert_int_equal(d.created_at, T0);
    assert_int_equal(strncmp(d.digest, "sha256:", 7), 0);
    ccg_store_doc_free(&d);

    TU_OK(ccg_store_policy_put(f->s, "p", 3, b, T0 + 10));
    TU_FAILS_WITH(ccg_store_policy_put(f->s, "p", 2, b, T0), CCG_R_STORE_CONFLICT); /* stale */
    TU_OK(ccg_store_policy_get(f->s, "p", 0, &d));
    assert_int_equal(d.version, 3);
    assert_string_equal((const char *)d.body, b);
    ccg_store_doc_free(&d);
    TU_OK(ccg_store_policy_get(f->s, "p", 1, &d));
    assert_string_equal((const char *)d.body, a);
    ccg_store_doc_free(&d);

    int64_t *versions = NULL;
    size_t n = 0;
    TU_OK(ccg_store_doc_versions(f->s, CCG_DOC_POLICY, "p", &versions, &n));
    assert_int_equal(n, 2);
    assert_int_equal(versions[0], 1);
    assert_int_equal(versions[1], 3);
    free(versions);

    TU_FAILS_WITH(ccg_store_policy_get(f->s, "p", 2, &d), CCG_R_KEY_NOT_FOUND);
    TU_FAILS_WITH(ccg_store_policy_get(f->s, "q", 0, &d), CCG_R_KEY_NOT_FOUND);
    TU_FAILS_WITH(ccg_store_policy_put(f->s, "p", 4, "not json", T0), CCG_R_INPUT_MALFORMED);
    TU_FAILS_WITH(ccg_store_policy_put(f->s, "p", 4, "[1,2]", T0), CCG_R_INPUT_MALFORMED);
    TU_FAILS_WITH(ccg_store_policy_put(f->s, "p", 4, "{\"a\":1,\"a\":2}", T0), CCG_R_INPUT_MALFORMED);

    /* The schema refuses changes; a change made around it is caught by the digest. */
    RAW_FAILS(f, "UPDATE policy_versions SET document = '{}' WHERE version = 1",
              "UPDATE policy_versions SET document = '{}'::bytea WHERE version = 1");
    RAW_FAILS(f, "DELETE FROM policy_versions WHERE version = 1", "DELETE FROM policy_versions WHERE version = 1");
    RAW_OK(f,
           "DROP TRIGGER policy_versions_immutable;"
           "UPDATE policy_versions SET document = CAST('{\"tee\":[\"any\"]}' AS BLOB) WHERE version = 1",
           "DROP TRIGGER policy_versions_immutable ON policy_versions;"
           "UPDATE policy_versions SET document = convert_to('{\"tee\":[\"any\"]}', 'UTF8') WHERE version = 1");
    TU_FAILS_WITH(ccg_store_policy_get(f->s, "p", 1, &d), CCG_R_STORE_CORRUPT);
}

static void refvals_and_collateral_are_versioned(void **state)
{
    fixture *f = *state;
    ccg_store_doc d;
    const uint8_t crl[] = {0x30, 0x82, 0x01, 0x00, 0x00, 0xff};
    TU_OK(ccg_store_refval_put(f->s, "ovmf-2025", 1, "{\"measurements\":[]}", T0));
    TU_OK(ccg_store_refval_get(f->s, "ovmf-2025", 0, &d));
    assert_int_equal(d.version, 1);
    ccg_store_doc_free(&d);
    TU_FAILS_WITH(ccg_store_refval_get(f->s, "nope", 0, &d), CCG_R_REFVAL_SET_MISSING);

    TU_OK(ccg_store_doc_put(f->s, CCG_DOC_COLLATERAL, "crl/milan", 1, crl, sizeof(crl), T0));
    TU_OK(ccg_store_doc_put(f->s, CCG_DOC_COLLATERAL, "crl/milan", 2, crl, 4, T0 + 1));
    TU_OK(ccg_store_doc_get(f->s, CCG_DOC_COLLATERAL, "crl/milan", 1, &d));
    assert_int_equal(d.len, sizeof(crl));
    assert_memory_equal(d.body, crl, sizeof(crl));
    ccg_store_doc_free(&d);
    TU_OK(ccg_store_doc_get(f->s, CCG_DOC_COLLATERAL, "crl/milan", 0, &d));
    assert_int_equal(d.version, 2);
    assert_int_equal(d.len, 4);
    ccg_store_doc_free(&d);
    TU_FAILS_WITH(ccg_store_doc_get(f->s, CCG_DOC_COLLATERAL, "crl/genoa", 0, &d), CCG_R_COLLATERAL_MISSING);
    TU_FAILS_WITH(ccg_store_doc_put(f->s, CCG_DOC_COLLATERAL, "crl/milan", 1, crl, 3, T0), CCG_R_STORE_CONFLICT);
    TU_FAILS_WITH(ccg_store_doc_put(f->s, CCG_DOC_COLLATERAL, "x", 1, crl, 0, T0), CCG_R_INPUT_MALFORMED);
}

/* ---- sessions ---- */

static void nonces_are_single_use(void **state)
{
    fixture *f = *state;
    ccg_session_status st = CCG_SESSION_OK;
    ccg_store_session s;
    TU_OK(ccg_store_session_create(f->s, "sess-1", "nonce-1", "snp", T0, T0 + 300));
    TU_OK(ccg_store_session_get(f->s, "sess-1", T0 + 1, &s, &st));
    assert_int_equal(st, CCG_SESSION_OK);
    assert_string_equal(s.nonce, "nonce-1");
    assert_string_equal(s.tee, "snp");
    assert_int_equal(s.state, CCG_SESSION_CHALLENGED);
    assert_false(s.nonce_used);
    assert_null(s.claims_json);
    ccg_store_session_free(&s);

    /* attestation before the nonce is consumed is out of order */
    TU_FAILS_WITH(ccg_store_session_attest(f->s, "sess-1", "{}", T0 + 2, T0 + 600, &st), CCG_R_STORE_CONFLICT);
    assert_int_equal(st, CCG_SESSION_BAD_STATE);
    /* the wrong nonce does not consume the right one */
    TU_FAILS_WITH(ccg_store_session_consume_nonce(f->s, "sess-1", "nonce-X", T0 + 2, &st), CCG_R_STORE_CONFLICT);
    assert_int_equal(st, CCG_SESSION_NONCE_MISMATCH);

    TU_OK(ccg_store_session_consume_nonce(f->s, "sess-1", "nonce-1", T0 + 2, &st));
    assert_int_equal(st, CCG_SESSION_OK);
    /* a replay */
    TU_FAILS_WITH(ccg_store_session_consume_nonce(f->s, "sess-1", "nonce-1", T0 + 3, &st), CCG_R_STORE_CONFLICT);
    assert_int_equal(st, CCG_SESSION_NONCE_USED);

    TU_OK(ccg_store_session_attest(f->s, "sess-1", "{\"tee\":\"snp\",\"measurement\":\"ab\"}", T0 + 3, T0 + 900, &st));
    TU_FAILS_WITH(ccg_store_session_attest(f->s, "sess-1", "{}", T0 + 4, T0 + 900, &st), CCG_R_STORE_CONFLICT);
    assert_int_equal(st, CCG_SESSION_BAD_STATE);
    TU_OK(ccg_store_session_get(f->s, "sess-1", T0 + 500, &s, &st)); /* the new expiry applies */
    assert_int_equal(s.state, CCG_SESSION_ATTESTED);
    assert_true(s.nonce_used);
    assert_int_equal(s.attested_at, T0 + 3);
    assert_int_equal(s.expires_at, T0 + 900);
    assert_non_null(strstr(s.claims_json, "measurement"));
    ccg_store_session_free(&s);
    TU_FAILS_WITH(ccg_store_session_consume_nonce(f->s, "sess-1", "nonce-1", T0 + 5, &st), CCG_R_STORE_CONFLICT);
    assert_int_equal(st, CCG_SESSION_NONCE_USED);

    TU_FAILS_WITH(ccg_store_session_consume_nonce(f->s, "nope", "nonce-1", T0, &st), CCG_R_STORE_CONFLICT);
    assert_int_equal(st, CCG_SESSION_NOT_FOUND);
    TU_FAILS_WITH(ccg_store_session_get(f->s, "nope", T0, &s, &st), CCG_R_STORE_CONFLICT);
    assert_int_equal(st, CCG_SESSION_NOT_FOUND);

    /* a nonce and a session ID are never issued twice */
    TU_FAILS_WITH(ccg_store_session_create(f->s, "sess-2", "nonce-1", "snp", T0, T0 + 300), CCG_R_STORE_CONFLICT);
    TU_FAILS_WITH(ccg_store_session_create(f->s, "sess-1", "nonce-2", "snp", T0, T0 + 300), CCG_R_STORE_CONFLICT);
    TU_FAILS_WITH(ccg_store_session_create(f->s, "sess-3", "nonce-3", "snp", T0, T0), CCG_R_INPUT_MALFORMED);

    /* the schema itself never un-consumes a nonce */
    RAW_FAILS(f, "UPDATE sessions SET nonce_used = 0 WHERE session_id = 'sess-1'",
              "UPDATE sessions SET nonce_used = 0 WHERE session_id = 'sess-1'");
}

static void expiry_is_honoured_with_explicit_now(void **state)
{
    fixture *f = *state;
    ccg_session_status st = CCG_SESSION_OK;
    ccg_store_session s;
    TU_OK(ccg_store_session_create(f->s, "s", "n", "snp", T0, T0 + 60));
    TU_OK(ccg_store_session_get(f->s, "s", T0 + 59, &s, &st));
    ccg_store_session_free(&s);
    TU_FAILS_WITH(ccg_store_session_get(f->s, "s", T0 + 60, &s, &st), CCG_R_STORE_CONFLICT);
    assert_int_equal(st, CCG_SESSION_EXPIRED);
    TU_FAILS_WITH(ccg_store_session_consume_nonce(f->s, "s", "n", T0 + 60, &st), CCG_R_STORE_CONFLICT);
    assert_int_equal(st, CCG_SESSION_EXPIRED);
    /* an expired nonce stays unconsumed... and unusable */
    TU_FAILS_WITH(ccg_store_session_consume_nonce(f->s, "s", "n", T0 + 3600, &st), CCG_R_STORE_CONFLICT);
    assert_int_equal(st, CCG_SESSION_EXPIRED);

    /* consumed in time, attested too late */
    TU_OK(ccg_store_session_create(f->s, "s2", "n2", "snp", T0, T0 + 60));
    TU_OK(ccg_store_session_consume_nonce(f->s, "s2", "n2", T0 + 59, &st));
    TU_FAILS_WITH(ccg_store_session_attest(f->s, "s2", "{}", T0 + 61, T0 + 900, &st), CCG_R_STORE_CONFLICT);
    assert_int_equal(st, CCG_SESSION_EXPIRED);

    /* purge with a grace period */
    TU_OK(ccg_store_session_create(f->s, "s3", "n3", "snp", T0, T0 + 10000));
    int64_t removed = -1;
    TU_OK(ccg_store_session_purge(f->s, T0 + 100, 3600, &removed));
    assert_int_equal(removed, 0);
    TU_OK(ccg_store_session_purge(f->s, T0 + 3660, 0, &removed));
    assert_int_equal(removed, 2);
    TU_OK(ccg_store_session_get(f->s, "s3", T0 + 3660, &s, &st));
    ccg_store_session_free(&s);
}

typedef struct {
    const char *path;
    int ok;
    ccg_session_status status;
} consume_race;

static void *consume_thread(void *arg)
{
    consume_race *r = arg;
    ccg_store *s = NULL;
    if (ccg_ok(ccg_store_open(r->path, NULL, &s))) {
        r->ok = ccg_ok(ccg_store_session_consume_nonce(s, "shared", "the-nonce", T0 + 1, &r->status));
    }
    ccg_store_close(s);
    return NULL;
}

static void racing_consumers_get_one_nonce(void **state)
{
    fixture *f = *state;
    TU_OK(ccg_store_session_create(f->s, "shared", "the-nonce", "snp", T0, T0 + 300));
    consume_race r[6];
    pthread_t t[6];
    for (int i = 0; i < 6; i++) {
        r[i] = (consume_race){f->loc, 0, CCG_SESSION_NOT_FOUND};
        assert_int_equal(pthread_create(&t[i], NULL, consume_thread, &r[i]), 0);
    }
    int winners = 0;
    for (int i = 0; i < 6; i++) {
        pthread_join(t[i], NULL);
        if (r[i].ok) {
            winners++;
        } else {
            assert_int_equal(r[i].status, CCG_SESSION_NONCE_USED);
        }
    }
    assert_int_equal(winners, 1);
}

/* One pooled handle shared by threads, with relaxed session sync: many nonces, each consumed by
 * exactly one of the threads racing for it; the pool's connections see each other's writes. */
typedef struct {
    ccg_store *s;
    int wins;
} pool_race;

static void *pool_consume_thread(void *arg)
{
    pool_race *r = arg;
    char id[32], nonce[32];
    ccg_session_status st;
    for (int i = 0; i < 40; i++) {
        snprintf(id, sizeof(id), "sess-%d", i);
        snprintf(nonce, sizeof(nonce), "nonce-%d", i);
        if (ccg_ok(ccg_store_session_consume_nonce(r->s, id, nonce, T0 + 1, &st))) {
            r->wins++;
        } else if (st != CCG_SESSION_NONCE_USED) {
            r->wins = -1000; /* any other refusal is a failure */
        }
    }
    return NULL;
}

static void pooled_handle_with_relaxed_session_sync(void **state)
{
    fixture *f = *state;
    ccg_store *s = NULL;
    ccg_store_options opts = {.connections = 4, .relaxed_session_sync = 1};
    ccg_store_options too_many = {.connections = CCG_STORE_MAX_CONNECTIONS + 1};
    ccg_store_session sess;
    ccg_session_status st;
    pool_race r[4];
    pthread_t t[4];
    int total = 0;
    assert_true(ccg_failed(ccg_store_open(f->loc, &too_many, &s)));
    tu_assert_error_reason(CCG_R_INPUT_MALFORMED);
    TU_OK(ccg_store_open(f->loc, &opts, &s));
    for (int i = 0; i < 40; i++) {
        char id[32], nonce[32];
        snprintf(id, sizeof(id), "sess-%d", i);
        snprintf(nonce, sizeof(nonce), "nonce-%d", i);
        TU_OK(ccg_store_session_create(s, id, nonce, "snp", T0, T0 + 300));
    }
    for (int i = 0; i < 4; i++) {
        r[i] = (pool_race){s, 0};
        assert_int_equal(pthread_create(&t[i], NULL, pool_consume_thread, &r[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_true(r[i].wins >= 0);
        total += r[i].wins;
    }
    assert_int_equal(total, 40);
    /* Keys and documents still commit synced on the same pooled handle, and the writes are visible
     * through another handle. */
    put_policy(s, "pooled");
    ccg_store_close(s);
    TU_OK(ccg_store_session_get(f->s, "sess-7", T0 + 2, &sess, &st));
    assert_true(sess.nonce_used);
    ccg_store_session_free(&sess);
    TU_OK(ccg_store_integrity_check(f->s));
}

/* ---- settings ---- */

typedef struct {
    int calls;
    uint8_t byte;
} gen_ctx;

static ccg_result generate(void *arg, uint8_t **value, size_t *len)
{
    gen_ctx *g = arg;
    g->calls++;
    *value = malloc(48);
    if (*value == NULL) {
        return CCG_FAILURE;
    }
    memset(*value, g->byte, 48);
    *len = 48;
    return CCG_SUCCESS;
}

static void settings_get_or_create_is_stable(void **state)
{
    fixture *f = *state;
    gen_ctx g1 = {0, 0xA1}, g2 = {0, 0xB2};
    uint8_t *v = NULL;
    size_t len = 0;
    int created = 0, found = 1;

    TU_OK(ccg_store_setting_get(f->s, "token.signing_key", &v, &len, &found));
    assert_false(found);
    assert_null(v);

    TU_OK(ccg_store_setting_get_or_create(f->s, "token.signing_key", generate, &g1, T0, &v, &len, &created));
    assert_true(created);
    assert_int_equal(g1.calls, 1);
    assert_int_equal(len, 48);
    assert_int_equal(v[0], 0xA1);
    free(v);

    TU_OK(ccg_store_setting_get_or_create(f->s, "token.signing_key", generate, &g2, T0 + 1, &v, &len, &created));
    assert_false(created);
    assert_int_equal(g2.calls, 0); /* never generated when present */
    assert_int_equal(v[0], 0xA1);
    free(v);

    /* across reopen */
    ccg_store_close(f->s);
    f->s = NULL;
    TU_OK(ccg_store_open(f->loc, NULL, &f->s));
    TU_OK(ccg_store_setting_get_or_create(f->s, "token.signing_key", generate, &g2, T0 + 2, &v, &len, &created));
    assert_false(created);
    assert_int_equal(g2.calls, 0);
    assert_int_equal(len, 48);
    assert_int_equal(v[47], 0xA1);
    free(v);

    /* put replaces; names are checked */
    const uint8_t nv[] = {1, 2, 3};
    TU_OK(ccg_store_setting_put(f->s, "token.signing_key", nv, sizeof(nv), T0 + 3));
    TU_OK(ccg_store_setting_get(f->s, "token.signing_key", &v, &len, &found));
    assert_true(found);
    assert_int_equal(len, 3);
    free(v);
    TU_FAILS_WITH(ccg_store_setting_put(f->s, "Bad Name", nv, sizeof(nv), T0), CCG_R_INPUT_MALFORMED);
}

typedef struct {
    const char *path;
    gen_ctx gen;
    uint8_t got;
    int created;
    int ok;
} setting_race;

static void *setting_thread(void *arg)
{
    setting_race *r = arg;
    ccg_store *s = NULL;
    uint8_t *v = NULL;
    size_t len = 0;
    if (ccg_ok(ccg_store_open(r->path, NULL, &s))) {
        r->ok = ccg_ok(ccg_store_setting_get_or_create(s, "race.key", generate, &r->gen, T0, &v, &len, &r->created));
        r->got = v ? v[0] : 0;
        free(v);
    }
    ccg_store_close(s);
    return NULL;
}

static void racing_get_or_create_stores_one_value(void **state)
{
    fixture *f = *state;
    setting_race r[6];
    pthread_t t[6];
    for (int i = 0; i < 6; i++) {
        r[i] = (setting_race){f->loc, {0, (uint8_t)(0x10 + i)}, 0, 0, 0};
        assert_int_equal(pthread_create(&t[i], NULL, setting_thread, &r[i]), 0);
    }
    int created = 0, calls = 0;
    for (int i = 0; i < 6; i++) {
        pthread_join(t[i], NULL);
        assert_true(r[i].ok);
        created += r[i].created;
        calls += r[i].gen.calls;
    }
    assert_int_equal(created, 1);
    assert_int_equal(calls, 1);
    for (int i = 1; i < 6; i++) {
        assert_int_equal(r[i].got, r[0].got);
    }
}

/* ---- concurrent writers ---- */

typedef struct {
    const char *path;
    ccg_store *shared; /* non-NULL: use this handle */
    int id;
    int failures;
} writer;

static void *writer_thread(void *arg)
{
    writer *w = arg;
    ccg_store *s = w->shared;
    if (s == NULL && ccg_failed(ccg_store_open(w->path, NULL, &s))) {
        w->failures++;
        return NULL;
    }
    for (int i = 0; i < 40; i++) {
        char id[64], sid[64], nonce[64], doc[96];
        uint8_t blob[100];
        tu_fake_wrapped(blob, (uint8_t)i);
        snprintf(id, sizeof(id), "w%d-key-%d", w->id, i);
        snprintf(sid, sizeof(sid), "w%d-sess-%d", w->id, i);
        snprintf(nonce, sizeof(nonce), "w%d-nonce-%d", w->id, i);
        snprintf(doc, sizeof(doc), "{\"writer\":%d,\"i\":%d}", w->id, i);
        ccg_store_key_spec spec = {id, 1, blob, sizeof(blob), "ccgate-kek", "pol"};
        ccg_session_status st;
        if (ccg_failed(ccg_store_key_import(s, &spec, T0)) ||
            ccg_failed(ccg_store_session_create(s, sid, nonce, "snp", T0, T0 + 60)) ||
            ccg_failed(ccg_store_session_consume_nonce(s, sid, nonce, T0 + 1, &st)) ||
            ccg_failed(ccg_store_key_set_state(s, id, 1, CCG_KEY_DISABLED, T0 + 2)) ||
            ccg_failed(ccg_store_policy_put(s, "shared-policy", (int64_t)w->id * 1000 + i + 2, doc, T0))) {
            /* a stale policy version is expected when another writer got ahead */
            if (ccg_error_reason() != CCG_R_STORE_CONFLICT) {
                w->failures++;
                print_message("writer %d: %s: %s\n", w->id, ccg_reason_code(ccg_error_reason()),
                              ccg_error_last()->message);
            }
        }
    }
    if (w->shared == NULL) {
        ccg_store_close(s);
    }
    return NULL;
}

static void concurrent_writers_do_not_corrupt(void **state)
{
    fixture *f = *state;
    put_policy(f->s, "pol");
    writer w[4] = {{f->loc, NULL, 1, 0}, {f->loc, NULL, 2, 0}, {f->loc, f->s, 3, 0}, {f->loc, f->s, 4, 0}};
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, writer_thread, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    TU_OK(ccg_store_integrity_check(f->s));
    ccg_store_key *list = NULL;
    size_t n = 0;
    TU_OK(ccg_store_key_list(f->s, NULL, &list, &n));
    assert_int_equal(n, 160);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(list[i].state, CCG_KEY_DISABLED);
    }
    ccg_store_key_list_free(list, n);
    /* a second process writes at the same time as this one */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        writer child = {f->loc, NULL, 7, 0};
        writer_thread(&child);
        _exit(child.failures == 0 ? 0 : 1);
    }
    writer mine = {f->loc, NULL, 8, 0};
    writer_thread(&mine);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(mine.failures, 0);
    TU_OK(ccg_store_key_list(f->s, NULL, &list, &n));
    assert_int_equal(n, 240);
    ccg_store_key_list_free(list, n);
    TU_OK(ccg_store_integrity_check(f->s));
}

/* PostgreSQL: the schema is made once, recorded, and a second open (an instance starting later) applies
 * nothing twice. */
static void pg_open_creates_the_schema(void **state)
{
    fixture *f = *state;
    int64_t version = 0;
    ccg_store *again = NULL;
    assert_string_equal(ccg_store_backend(f->s), "postgresql");
    TU_OK(ccg_store_schema_version(f->s, &version));
    assert_int_equal(version, CCG_STORE_SCHEMA_VERSION);
    TU_OK(ccg_store_integrity_check(f->s));
    TU_OK(ccg_store_open(f->loc, NULL, &again));
    TU_OK(ccg_store_schema_version(again, &version));
    assert_int_equal(version, CCG_STORE_SCHEMA_VERSION);
    ccg_store_close(again);
    /* one row per version, whoever opened */
    RAW_FAILS(f, "", "INSERT INTO schema_version(version, applied_at) VALUES (1, 0)");
}

/* Schema 5 on both backends: a rotation opens the previous version's grace, a cut-over ends it for good
 * (and only shortens it), an owner changes hands only by a transfer, and only from the recorded owner. */
static void grace_and_transfer_follow_schema_5(void **state)
{
    fixture *f = *state;
    uint8_t w[100];
    ccg_store_key k;
    int64_t ended = -1;
    int done = -1, mine = 0, found = 0;
    ccg_store_owner alice = {"idp", "alice"}, bob = {"idp", "bob"}, eve = {"idp", "eve"}, got;
    put_policy(f->s, "pol");
    import_key(f->s, "r/t/k", 1, "pol");
    tu_fake_wrapped(w, 2);
    ccg_store_key_spec spec = {"r/t/k", 2, w, sizeof(w), "ccgate-kek", "pol"};
    TU_OK(ccg_store_key_rotate(f->s, &spec, T0 + 10));
    TU_OK(ccg_store_key_get(f->s, "r/t/k", 1, &k));
    assert_int_equal(k.state, CCG_KEY_RETIRED);
    assert_true(k.releasable_until == CCG_STORE_GRACE_OPEN);
    assert_int_equal(k.retired_at, T0 + 10);
    ccg_store_key_free(&k);
    TU_FAILS_WITH(ccg_store_key_end_grace(f->s, "r/t/k", 9, T0 + 20, &ended), CCG_R_KEY_NOT_FOUND);
    TU_FAILS_WITH(ccg_store_key_end_grace(f->s, "r/t/none", 0, T0 + 20, &ended), CCG_R_KEY_NOT_FOUND);
    TU_OK(ccg_store_key_end_grace(f->s, "r/t/k", 1, T0 + 20, &ended));
    assert_int_equal(ended, 1);
    TU_OK(ccg_store_key_end_grace(f->s, "r/t/k", 0, T0 + 30, &ended));
    assert_int_equal(ended, 0); /* already ended: never reopened or moved later */
    TU_OK(ccg_store_key_get(f->s, "r/t/k", 1, &k));
    assert_int_equal(k.releasable_until, T0 + 20);
    ccg_store_key_free(&k);
    RAW_FAILS(f, "UPDATE keys SET releasable_until = 9223372036854775807 WHERE version = 1",
              "UPDATE keys SET releasable_until = 9223372036854775807 WHERE version = 1");

    TU_OK(ccg_store_owner_claim(f->s, CCG_OWNED_KEY, "r/t/k", &alice, T0, &mine));
    assert_true(mine);
    TU_OK(ccg_store_owner_transfer(f->s, CCG_OWNED_KEY, "r/t/k", &eve, &bob, T0 + 40, &done));
    assert_int_equal(done, 0); /* eve is not the owner */
    TU_OK(ccg_store_owner_transfer(f->s, CCG_OWNED_KEY, "r/t/k", &alice, &bob, T0 + 41, &done));
    assert_int_equal(done, 1);
    TU_OK(ccg_store_owner_get(f->s, CCG_OWNED_KEY, "r/t/k", &got, &found));
    assert_true(found);
    assert_string_equal(got.subject, "bob");
    /* behind the store's back, a change of hands without a transfer row is refused */
    RAW_FAILS(f, "UPDATE owners SET subject = 'eve', updated_at = 99 WHERE object_id = 'r/t/k'",
              "UPDATE owners SET subject = 'eve', updated_at = 99 WHERE object_id = 'r/t/k'");
    RAW_FAILS(f, "DELETE FROM owner_transfers", "DELETE FROM owner_transfers");
}

/* The cases that run on both backends. */
/* ---- what the backends read or generate is checked in one place (store_rules.c) ---- */

/* A generator that makes nothing (or too much): the setting is refused and nothing is stored. */
static ccg_result generate_bad(void *arg, uint8_t **value, size_t *len)
{
    size_t n = *(size_t *)arg;
    *value = calloc(1, n + 1);
    if (*value == NULL) {
        return CCG_FAILURE;
    }
    *len = n;
    return CCG_SUCCESS;
}

static void shared_rules_check_rows_and_values(void **state)
{
    fixture *f = *state;
    ccg_store_key k;
    ccg_store_key *list = NULL;
    size_t count = 0, sizes[] = {0, CCG_STORE_SETTING_MAX + 1};
    uint8_t *v = NULL;
    size_t len = 0;
    int created = 0, found = 1;

    /* A key row whose wrapped blob has the magic but is too short (a writer behind the store's back):
     * the key is corrupt to a read, and its listing (which holds no blob) still works. */
    put_policy(f->s, "pol");
    import_key(f->s, "a/b/short", 1, "pol");
    RAW_OK(f, "UPDATE keys SET wrapped = X'43434757', kek_label = 'other' WHERE key_id = 'a/b/short'",
           "UPDATE keys SET wrapped = decode('43434757', 'hex'), kek_label = 'other' WHERE key_id = 'a/b/short'");
    TU_FAILS_WITH(ccg_store_key_get(f->s, "a/b/short", 1, &k), CCG_R_STORE_CORRUPT);
    TU_FAILS_WITH(ccg_store_key_get(f->s, "a/b/short", 0, &k), CCG_R_STORE_CORRUPT);
    TU_OK(ccg_store_key_list(f->s, "a/b/short", &list, &count));
    assert_int_equal(count, 1);
    assert_string_equal(list[0].kek_label, "other");
    ccg_store_key_list_free(list, count);

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        TU_FAILS_WITH(ccg_store_setting_get_or_create(f->s, "bad.generator", generate_bad, &sizes[i], T0, &v, &len,
                                                      &created),
                      CCG_R_INTERNAL_ERROR);
        assert_null(v);
        assert_false(created);
    }
    TU_OK(ccg_store_setting_get(f->s, "bad.generator", &v, &len, &found));
    assert_false(found);
}

#define BOTH_BACKENDS(setup_fn)                                                                        \
    cmocka_unit_test_setup_teardown(schema_from_the_future_is_corrupt, setup_fn, teardown),           \
        cmocka_unit_test_setup_teardown(key_lifecycle_and_every_illegal_transition, setup_fn, teardown), \
        cmocka_unit_test_setup_teardown(key_lookups_and_refusals, setup_fn, teardown),                 \
        cmocka_unit_test_setup_teardown(rotation_retires_old_versions_atomically, setup_fn, teardown), \
        cmocka_unit_test_setup_teardown(concurrent_rotations_to_one_version_have_one_winner, setup_fn, teardown), \
        cmocka_unit_test_setup_teardown(policy_versions_are_immutable, setup_fn, teardown),            \
        cmocka_unit_test_setup_teardown(refvals_and_collateral_are_versioned, setup_fn, teardown),     \
        cmocka_unit_test_setup_teardown(nonces_are_single_use, setup_fn, teardown),                    \
        cmocka_unit_test_setup_teardown(expiry_is_honoured_with_explicit_now, setup_fn, teardown),     \
        cmocka_unit_test_setup_teardown(racing_consumers_get_one_nonce, setup_fn, teardown),           \
        cmocka_unit_test_setup_teardown(pooled_handle_with_relaxed_session_sync, setup_fn, teardown),  \
        cmocka_unit_test_setup_teardown(settings_get_or_create_is_stable, setup_fn, teardown),         \
        cmocka_unit_test_setup_teardown(racing_get_or_create_stores_one_value, setup_fn, teardown),    \
        cmocka_unit_test_setup_teardown(concurrent_writers_do_not_corrupt, setup_fn, teardown),        \
        cmocka_unit_test_setup_teardown(grace_and_transfer_follow_schema_5, setup_fn, teardown),          \
        cmocka_unit_test_setup_teardown(shared_rules_check_rows_and_values, setup_fn, teardown)

int main(void)
{
    const struct CMUnitTest sqlite_tests[] = {
        cmocka_unit_test_setup_teardown(open_creates_a_hardened_database, setup, teardown),
        cmocka_unit_test_setup_teardown(garbage_file_is_corrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(unreachable_paths_are_unavailable, setup, teardown),
        cmocka_unit_test_setup_teardown(another_applications_database_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(damaged_pages_fail_the_integrity_check, setup, teardown),
        BOTH_BACKENDS(setup),
    };
    const struct CMUnitTest pg_tests[] = {
        cmocka_unit_test_setup_teardown(pg_open_creates_the_schema, setup_pg, teardown),
        BOTH_BACKENDS(setup_pg),
    };
    int failed = cmocka_run_group_tests_name("store on SQLite", sqlite_tests, NULL, NULL);
    return failed + TU_PG_RUN_GROUP(&g_pg, NULL, "store on PostgreSQL", pg_tests);
}
