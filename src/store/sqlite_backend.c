/* The SQLite backend's vtable, open and close. */
#include "sqlite_store.h"

static void sqlite_backend_close(void *impl) { ccg_sqlite_close(impl); }

static ccg_result ccg_sqlite_store_set_full_sync(void *impl, int full) { return ccg_sqlite_set_full_sync(impl, full); }

/* A durable commit that changes nothing: the newest schema_version row moved and moved back in one
 * transaction. (Writing a row as it is would not do: SQLite writes no page whose bytes stay the same.) */
static const char SQL_WRITE_PROBE[] =
    "UPDATE schema_version SET applied_at = applied_at + 1 WHERE version = (SELECT max(version) FROM schema_version);"
    "UPDATE schema_version SET applied_at = applied_at - 1 WHERE version = (SELECT max(version) FROM schema_version);";

/* The schema version is what the key broker's /readyz asks the store for: it answers only when the store
 * can take a write as well (ccg_sqlite_ready), so an outage (a lock held elsewhere, a failing or full disk,
 * the file gone from its path) shows there and not only in the requests that meet it. */
static ccg_result sqlite_backend_schema_version(void *impl, int64_t *version)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(ccg_sqlite_ready(impl, SQL_WRITE_PROBE));
    CCG_TRY(ccg_sqlite_store_schema_version(impl, version));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_store_sqlite_open(const char *path, const ccg_store_options *opts, void **impl)
{
    ccg_result result = CCG_FAILURE;
    ccg_sqlite *h = NULL;
    *impl = NULL;
    CCG_TRY(ccg_sqlite_open(path, opts->busy_timeout_ms, 1, &h));
    if (opts->check != CCG_STORE_CHECK_NONE) {
        CCG_TRY(ccg_sqlite_check(h, opts->check == CCG_STORE_CHECK_FULL));
    }
    CCG_TRY(ccg_sqlite_store_migrate(h));
    *impl = h;
    h = NULL;
    result = CCG_SUCCESS;
cleanup:
    ccg_sqlite_close(h);
    return result;
}

const ccg_store_ops ccg_store_sqlite_ops = {
    .name = "sqlite",
    .close = sqlite_backend_close,
    .schema_version = sqlite_backend_schema_version,
    .integrity_check = ccg_sqlite_store_integrity_check,
    .set_full_sync = ccg_sqlite_store_set_full_sync,
    .key_import = ccg_sqlite_key_import,
    .key_rotate = ccg_sqlite_key_rotate,
    .key_set_state = ccg_sqlite_key_set_state,
    .key_rewrap = ccg_sqlite_key_rewrap,
    .key_get = ccg_sqlite_key_get,
    .key_end_grace = ccg_sqlite_key_end_grace,
    .key_list = ccg_sqlite_key_list,
    .doc_put = ccg_sqlite_doc_put,
    .doc_get = ccg_sqlite_doc_get,
    .doc_versions = ccg_sqlite_doc_versions,
    .session_create = ccg_sqlite_session_create,
    .session_get = ccg_sqlite_session_get,
    .session_consume_nonce = ccg_sqlite_session_consume_nonce,
    .session_attest = ccg_sqlite_session_attest,
    .session_purge = ccg_sqlite_session_purge,
    .owner_get = ccg_sqlite_owner_get,
    .owner_claim = ccg_sqlite_owner_claim,
    .owner_unbound = ccg_sqlite_owner_unbound,
    .owner_transfer = ccg_sqlite_owner_transfer,
    .owner_bind = ccg_sqlite_owner_bind,
    .setting_get = ccg_sqlite_setting_get,
    .setting_put = ccg_sqlite_setting_put,
    .setting_get_or_create = ccg_sqlite_setting_get_or_create,
    .gpu_report_seen = ccg_sqlite_gpu_report_seen,
    .gpu_report_purge = ccg_sqlite_gpu_report_purge,
};
