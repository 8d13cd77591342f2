/* Store fixtures shared by the cmocka tests (tu_store.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tu_store.h"

void tu_temp_db(const char *tag, char *dir, size_t dir_cap, char *path, size_t path_cap)
{
    int n = snprintf(dir, dir_cap, "/tmp/ccg-%s-XXXXXX", tag);
    assert_true(n > 0 && (size_t)n < dir_cap);
    assert_non_null(mkdtemp(dir));
    if (path != NULL) {
        n = snprintf(path, path_cap, "%s/state.db", dir);
        assert_true(n > 0 && (size_t)n < path_cap);
    }
}

void tu_store_loc(tu_pg *pg, const char *prefix, int *counter, const char *path, char *loc, size_t loc_cap)
{
    char schema[48];
    int n;
    if (pg == NULL) {
        n = snprintf(loc, loc_cap, "%s", path);
        assert_true(n > 0 && (size_t)n < loc_cap);
        return;
    }
    snprintf(schema, sizeof(schema), "%s_%d", prefix, ++*counter);
    assert_int_equal(tu_pg_fresh_schema(pg, schema, loc, loc_cap), 0);
}

int tu_pg_run_group(tu_pg *pg, int *on_pg, const char *name, const struct CMUnitTest *tests, size_t count)
{
    int failed, rc = tu_pg_start(pg);
    if (rc == 77) {
        return tu_skip_or_fail_main("PostgreSQL's server binaries are missing: the PostgreSQL half is skipped");
    }
    if (rc != 0) {
        return 1;
    }
    if (on_pg != NULL) {
        *on_pg = 1;
    }
    failed = _cmocka_run_group_tests(name, tests, count, NULL, NULL);
    tu_pg_stop(pg);
    return failed;
}

ccg_store_owner tu_owner(const char *issuer, const char *subject)
{
    ccg_store_owner o;
    memset(&o, 0, sizeof(o));
    snprintf(o.issuer, sizeof(o.issuer), "%s", issuer);
    snprintf(o.subject, sizeof(o.subject), "%s", subject);
    return o;
}

void tu_remove_db(const char *path)
{
    char p[4096 + 8];
    unlink(path);
    snprintf(p, sizeof(p), "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", path);
    unlink(p);
}

void tu_temp_db_remove(const char *dir, const char *path, ccg_store *s)
{
    ccg_store_close(s);
    if (path != NULL) {
        tu_remove_db(path);
    }
    rmdir(dir);
}

void tu_fake_wrapped(uint8_t out[100], uint8_t fill)
{
    memset(out, fill, 100);
    memcpy(out, CCG_STORE_WRAPPED_MAGIC, 4);
}
