/* The PostgreSQL backend's vtable, open and close. Each connection of a handle's pool is one libpq
 * connection; each migrates the schema at open (the fast path takes no lock). */
#include "pg_store.h"

static void pg_backend_close(void *impl) { ccg_pg_close(impl); }

static ccg_result pg_backend_set_full_sync(void *impl, int full) { return ccg_pg_set_full_sync(impl, full); }

ccg_result ccg_store_pg_open(const char *url, const ccg_store_options *opts, void **impl)
{
    ccg_result result = CCG_FAILURE;
    ccg_pg *h = NULL;
    *impl = NULL;
    CCG_TRY(ccg_pg_open(url, opts->busy_timeout_ms, &h));
    CCG_TRY(ccg_pg_store_migrate(h));
    if (opts->check != CCG_STORE_CHECK_NONE) {
        CCG_TRY(ccg_pg_store_integrity_check(h)); /* the schema version, tables, indexes and rule triggers */
    }
    *impl = h;
    h = NULL;
    result = CCG_SUCCESS;
cleanup:
    ccg_pg_close(h);
    return result;
}

const ccg_store_ops ccg_store_pg_ops = {
    .name = "postgresql",
    .close = pg_backend_close,
    .schema_version = ccg_pg_store_schema_version,
    .integrity_check = ccg_pg_store_integrity_check,
    .set_full_sync = pg_backend_set_full_sync,
    .key_import = ccg_pg_key_import,
    .key_rotate = ccg_pg_key_rotate,
    .key_set_state = ccg_pg_key_set_state,
    .key_get = ccg_pg_key_get,
    .key_list = ccg_pg_key_list,
    .key_rewrap = ccg_pg_key_rewrap,
    .key_end_grace = ccg_pg_key_end_grace,
    .doc_put = ccg_pg_doc_put,
    .doc_get = ccg_pg_doc_get,
    .doc_versions = ccg_pg_doc_versions,
    .session_create = ccg_pg_session_create,
    .session_get = ccg_pg_session_get,
    .session_consume_nonce = ccg_pg_session_consume_nonce,
    .session_attest = ccg_pg_session_attest,
    .session_purge = ccg_pg_session_purge,
    .owner_get = ccg_pg_owner_get,
    .owner_claim = ccg_pg_owner_claim,
    .owner_unbound = ccg_pg_owner_unbound,
    .owner_transfer = ccg_pg_owner_transfer,
    .owner_bind = ccg_pg_owner_bind,
    .setting_get = ccg_pg_setting_get,
    .setting_put = ccg_pg_setting_put,
    .setting_get_or_create = ccg_pg_setting_get_or_create,
    .gpu_report_seen = ccg_pg_gpu_report_seen,
    .gpu_report_purge = ccg_pg_gpu_report_purge,
};
