/* Store fixtures shared by the cmocka tests of the store, the audit log and the key lifecycle: the OK and
 * FAILS_WITH assertions on ccgate results, a fresh directory with a database path in it, removing a
 * SQLite database with its WAL files, and a stand-in for a keystore's wrapped blob. */
#ifndef CCGATE_TU_STORE_H
#define CCGATE_TU_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "pg_scratch.h"
#include "testutil.h"

#include "ccgate/error.h"
#include "ccgate/store.h"

/* expr (a ccg_result) succeeds; otherwise the test fails naming the reason and the message. */
#define TU_OK(expr)                                                                                          \
    do {                                                                                                     \
        ccg_error_clear();                                                                                   \
        if (ccg_failed(expr)) {                                                                              \
            fail_msg("%s failed: %s: %s", #expr, ccg_reason_code(ccg_error_reason()), ccg_error_last()->message); \
        }                                                                                                    \
    } while (0)

/* expr fails with exactly this reason. */
#define TU_FAILS_WITH(expr, reason)     \
    do {                                \
        ccg_error_clear();              \
        assert_true(ccg_failed(expr));  \
        tu_assert_error_reason(reason); \
    } while (0)

/* Makes /tmp/ccg-TAG-XXXXXX into dir and, when path is not NULL, writes DIR/state.db into path. */
void tu_temp_db(const char *tag, char *dir, size_t dir_cap, char *path, size_t path_cap);
/* Where a test case's store is: path itself (pg NULL), or a fresh schema PREFIX_N on the scratch
 * server, N counting up in *counter, so each case starts from an empty database. */
void tu_store_loc(tu_pg *pg, const char *prefix, int *counter, const char *path, char *loc, size_t loc_cap);
/* Starts the scratch PostgreSQL into pg, sets *on_pg (when not NULL), runs the group again under `name`
 * and stops the server; returns the failures. Missing server binaries skip the group (fail under
 * CI=true: tu_skip_or_fail_main). A macro, as cmocka's group runner needs the array's length. */
#define TU_PG_RUN_GROUP(pg, on_pg, name, tests) \
    tu_pg_run_group(pg, on_pg, name, tests, sizeof(tests) / sizeof((tests)[0]))
int tu_pg_run_group(tu_pg *pg, int *on_pg, const char *name, const struct CMUnitTest *tests, size_t count);
/* An owner (issuer, subject). */
ccg_store_owner tu_owner(const char *issuer, const char *subject);
/* Removes a SQLite database file with its -wal and -shm. */
void tu_remove_db(const char *path);
/* Closes s (NULL: none), removes the database at path (NULL: none) and then the directory. */
void tu_temp_db_remove(const char *dir, const char *path, ccg_store *s);
/* A stand-in for a keystore's wrapped blob: the magic, then opaque bytes `fill`. */
void tu_fake_wrapped(uint8_t out[100], uint8_t fill);

#endif
