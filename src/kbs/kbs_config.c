/* The key broker's configuration: one strict JSON document (docs/kbs.md). */
#include "kbs_internal.h"

#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"
#include "ccgate/gpu_ocsp.h"
#include "ccgate/gpu_rim.h"

#define KBS_CONFIG_MAX (64u * 1024u)

static ccg_result take_string(json_t *obj, const char *name, char **out)
{
    ccg_result result = CCG_FAILURE;
    json_t *v = json_object_get(obj, name);
    if (v == NULL) {
        return CCG_SUCCESS;
    }
    CCG_ENSURE_MSG(json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) < 4096 &&
                       strlen(json_string_value(v)) == json_string_length(v),
                   CCG_R_KBS_CONFIG_INVALID, "config member \"%s\" must be a non-empty string", name);
    free(*out);
    *out = strdup(json_string_value(v));
    CCG_ENSURE_ALLOC(*out);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result take_int(json_t *obj, const char *name, int64_t min, int64_t max, int64_t *out)
{
    ccg_result result = CCG_FAILURE;
    json_t *v = json_object_get(obj, name);
    if (v == NULL) {
        return CCG_SUCCESS;
    }
    CCG_ENSURE_MSG(json_is_integer(v) && json_integer_value(v) >= min && json_integer_value(v) <= max,
                   CCG_R_KBS_CONFIG_INVALID, "config member \"%s\" must be an integer in [%lld, %lld]", name,
                   (long long)min, (long long)max);
    *out = json_integer_value(v);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* A name in an admin issuer entry: 1..128 printable ASCII bytes without space. */
static int admin_name_ok(const json_t *v)
{
    const char *s = json_string_value(v);
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > 128 || n != json_string_length(v)) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] <= 0x20 || s[i] >= 0x7f) {
            return 0;
        }
    }
    return 1;
}

/* A non-empty array of distinct names; roles must be provider, authority or operator. */
static ccg_result take_admin_list(const json_t *issuer, const char *member, int roles)
{
    ccg_result result = CCG_FAILURE;
    const json_t *list = json_object_get(issuer, member);
    size_t i, j;
    json_t *v;
    CCG_ENSURE_MSG(json_is_array(list) && json_array_size(list) > 0 && json_array_size(list) <= 256,
                   CCG_R_KBS_CONFIG_INVALID, "admin.issuers[].%s must be a non-empty array of names", member);
    json_array_foreach(list, i, v) {
        const char *s = json_string_value(v);
        CCG_ENSURE_MSG(admin_name_ok(v), CCG_R_KBS_CONFIG_INVALID,
                       "admin.issuers[].%s holds names of 1..128 printable characters", member);
        CCG_ENSURE_MSG(roles || strcmp(s, "*") != 0, CCG_R_KBS_CONFIG_INVALID,
                       "admin.issuers[].subjects: name each subject (no wildcard)");
        CCG_ENSURE_MSG(!roles || strcmp(s, "provider") == 0 || strcmp(s, "authority") == 0 ||
                           strcmp(s, "operator") == 0,
                       CCG_R_KBS_CONFIG_INVALID,
                       "admin.issuers[].roles: \"%.32s\" is not provider, authority or operator", s);
        for (j = 0; j < i; j++) {
            CCG_ENSURE_MSG(strcmp(s, json_string_value(json_array_get(list, j))) != 0, CCG_R_KBS_CONFIG_INVALID,
                           "admin.issuers[].%s names \"%.64s\" twice", member, s);
        }
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* "admin": {"audience", "max_token_lifetime"?, "issuers": [{"name", "key", "roles", "subjects"}]}. Each
 * issuer is bound to the roles and subjects it may assert; names are unique. */
static ccg_result take_admin(json_t *admin, ccg_kbs_config *out)
{
    ccg_result result = CCG_FAILURE;
    const char *name;
    json_t *v, *issuers;
    size_t i, j;
    CCG_ENSURE_MSG(json_is_object(admin), CCG_R_KBS_CONFIG_INVALID,
                   "admin must be {\"audience\", \"max_token_lifetime\", \"issuers\"}");
    json_object_foreach(admin, name, v) {
        CCG_ENSURE_MSG(strcmp(name, "audience") == 0 || strcmp(name, "max_token_lifetime") == 0 ||
                           strcmp(name, "issuers") == 0,
                       CCG_R_KBS_CONFIG_INVALID, "unknown config member \"admin.%.64s\"", name);
    }
    CCG_TRY(take_string(admin, "audience", &out->admin_audience));
    CCG_ENSURE_MSG(out->admin_audience != NULL, CCG_R_KBS_CONFIG_INVALID,
                   "admin.audience (the aud every admin token must carry) is required");
    CCG_TRY(take_int(admin, "max_token_lifetime", 60, 86400, &out->admin_token_max_lifetime));
    issuers = json_object_get(admin, "issuers");
    CCG_ENSURE_MSG(json_is_array(issuers) && json_array_size(issuers) > 0 && json_array_size(issuers) <= 64,
                   CCG_R_KBS_CONFIG_INVALID, "admin.issuers must be a non-empty array (at most 64)");
    json_array_foreach(issuers, i, v) {
        const char *member;
        json_t *mv;
        const json_t *key = json_object_get(v, "key");
        CCG_ENSURE_MSG(json_is_object(v), CCG_R_KBS_CONFIG_INVALID,
                       "admin.issuers[] entries are {\"name\", \"key\", \"roles\", \"subjects\"}");
        json_object_foreach(v, member, mv) {
            CCG_ENSURE_MSG(strcmp(member, "name") == 0 || strcmp(member, "key") == 0 || strcmp(member, "roles") == 0 ||
                               strcmp(member, "subjects") == 0,
                           CCG_R_KBS_CONFIG_INVALID, "unknown config member \"admin.issuers[].%.64s\"", member);
        }
        CCG_ENSURE_MSG(admin_name_ok(json_object_get(v, "name")), CCG_R_KBS_CONFIG_INVALID,
                       "admin.issuers[].name must be 1..128 printable characters");
        CCG_ENSURE_MSG(json_is_string(key) && json_string_value(key)[0] == '/', CCG_R_KBS_CONFIG_INVALID,
                       "admin.issuers[].key must be an absolute path to a P-256 public key (PEM)");
        CCG_TRY(take_admin_list(v, "roles", 1));
        CCG_TRY(take_admin_list(v, "subjects", 0));
        for (j = 0; j < i; j++) {
            CCG_ENSURE_MSG(strcmp(json_string_value(json_object_get(v, "name")),
                                  json_string_value(json_object_get(json_array_get(issuers, j), "name"))) != 0,
                           CCG_R_KBS_CONFIG_INVALID, "admin.issuers names \"%.64s\" twice",
                           json_string_value(json_object_get(v, "name")));
        }
    }
    out->admin_issuers = json_incref(issuers);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* "limits": the server's connection limits and deadlines, and the anonymous-denial audit window. */
static ccg_result take_limits(json_t *root, ccg_kbs_config *out)
{
    static const char *const known[] = {"connections", "connections_per_address", "request_deadline",
                                        "idle_timeout", "anonymous_audit_window", "reload_drain"};
    ccg_result result = CCG_FAILURE;
    json_t *value = json_object_get(root, "limits"), *v;
    const char *name;
    int64_t conns = 256, per = 32, deadline = 20, idle = 15, window = 60, drain = CCG_KBS_RELOAD_DRAIN_DEFAULT;
    if (value != NULL) {
        CCG_ENSURE_MSG(json_is_object(value), CCG_R_KBS_CONFIG_INVALID, "limits must be an object");
        json_object_foreach(value, name, v) {
            int ok = 0;
            for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
                ok |= strcmp(name, known[i]) == 0;
            }
            CCG_ENSURE_MSG(ok, CCG_R_KBS_CONFIG_INVALID, "unknown config member \"limits.%.64s\"", name);
        }
        CCG_TRY(take_int(value, "connections", 1, 65536, &conns));
        CCG_TRY(take_int(value, "connections_per_address", 1, 65536, &per));
        CCG_TRY(take_int(value, "request_deadline", 1, 3600, &deadline));
        CCG_TRY(take_int(value, "idle_timeout", 1, 3600, &idle));
        CCG_TRY(take_int(value, "anonymous_audit_window", 0, 86400, &window));
        CCG_TRY(take_int(value, "reload_drain", 1, 3600, &drain));
    }
    /* The library gives each server thread an equal share of the connections. */
    CCG_ENSURE_MSG(conns >= (int64_t)out->threads, CCG_R_KBS_CONFIG_INVALID,
                   "limits.connections (%lld) must be at least threads (%u)", (long long)conns, out->threads);
    out->max_connections = (unsigned)conns;
    out->max_per_address = (unsigned)per;
    out->request_deadline = (unsigned)deadline;
    out->idle_timeout = (unsigned)idle;
    out->anonymous_audit_window = (unsigned)window;
    out->reload_drain = (unsigned)drain;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* "tcb_baselines": at most one file per product, absolute paths; "tcb_baseline_issuers": ID -> PEM. The
 * files are read when the broker starts (ccg_kbs_new). */
static ccg_result take_baselines(json_t *root, ccg_kbs_config *out)
{
    ccg_result result = CCG_FAILURE;
    json_t *v = json_object_get(root, "tcb_baselines"), *item;
    const char *id;
    size_t i;
    if (v != NULL) {
        CCG_ENSURE_MSG(json_is_array(v) && json_array_size(v) <= 3, CCG_R_KBS_CONFIG_INVALID,
                       "tcb_baselines must be an array of at most 3 baseline files (one per product)");
        json_array_foreach(v, i, item) {
            CCG_ENSURE_MSG(json_is_string(item) && json_string_value(item)[0] == '/', CCG_R_KBS_CONFIG_INVALID,
                           "tcb_baselines[%zu] must be an absolute path", i);
        }
        out->tcb_baselines = json_incref(v);
    }
    v = json_object_get(root, "tcb_baseline_issuers");
    if (v != NULL) {
        CCG_ENSURE_MSG(json_is_object(v), CCG_R_KBS_CONFIG_INVALID,
                       "tcb_baseline_issuers must be an object of issuer ID -> PEM file");
        json_object_foreach(v, id, item) {
            CCG_ENSURE_MSG(json_is_string(item) && json_string_value(item)[0] == '/', CCG_R_KBS_CONFIG_INVALID,
                           "tcb_baseline_issuers.%.64s must be an absolute path", id);
        }
        out->tcb_baseline_issuers = json_incref(v);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static int is_url(const char *s)
{
    return s == NULL || strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

/* "gpu": the GPU collateral (RIM store, OCSP) and the replay window. Directories are absolute, URLs
 * http(s); the timeouts and windows keep their gpu_rim.h / gpu_ocsp.h defaults when absent. */
static ccg_result take_gpu(json_t *root, ccg_kbs_gpu_config *g)
{
    static const char *const known[] = {"rim_dir", "rim_service_url", "rim_timeout_seconds",
                                        "rim_connect_timeout_seconds", "ocsp_cache_dir", "ocsp_responder_url",
                                        "ocsp_timeout_seconds", "ocsp_skew_seconds", "ocsp_max_age_seconds",
                                        "report_retention_seconds"};
    ccg_result result = CCG_FAILURE;
    json_t *value = json_object_get(root, "gpu"), *v;
    const char *name;
    g->rim_timeout = CCG_GPU_RIM_DEFAULT_TIMEOUT_S;
    g->ocsp_timeout = CCG_GPU_OCSP_DEFAULT_TIMEOUT_S;
    g->ocsp_skew = CCG_GPU_OCSP_DEFAULT_SKEW_S;
    g->ocsp_max_age = CCG_GPU_OCSP_DEFAULT_MAX_AGE_S;
    g->report_retention = CCG_KBS_GPU_RETENTION;
    if (value == NULL) {
        return CCG_SUCCESS;
    }
    CCG_ENSURE_MSG(json_is_object(value), CCG_R_KBS_CONFIG_INVALID, "gpu must be an object (docs/kbs.md)");
    json_object_foreach(value, name, v) {
        int ok = 0;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
            ok |= strcmp(name, known[i]) == 0;
        }
        CCG_ENSURE_MSG(ok, CCG_R_KBS_CONFIG_INVALID, "unknown config member \"gpu.%.64s\"", name);
    }
    CCG_TRY(take_string(value, "rim_dir", &g->rim_dir));
    CCG_TRY(take_string(value, "rim_service_url", &g->rim_service_url));
    CCG_TRY(take_string(value, "ocsp_cache_dir", &g->ocsp_cache_dir));
    CCG_TRY(take_string(value, "ocsp_responder_url", &g->ocsp_responder_url));
    CCG_ENSURE_MSG((g->rim_dir == NULL || g->rim_dir[0] == '/') &&
                       (g->ocsp_cache_dir == NULL || g->ocsp_cache_dir[0] == '/'),
                   CCG_R_KBS_CONFIG_INVALID, "gpu.rim_dir and gpu.ocsp_cache_dir must be absolute paths");
    CCG_ENSURE_MSG(is_url(g->rim_service_url) && is_url(g->ocsp_responder_url), CCG_R_KBS_CONFIG_INVALID,
                   "gpu.rim_service_url and gpu.ocsp_responder_url must be http:// or https:// URLs");
    CCG_TRY(take_int(value, "rim_timeout_seconds", 1, 300, &g->rim_timeout));
    CCG_TRY(take_int(value, "rim_connect_timeout_seconds", 1, 60, &g->rim_connect_timeout));
    CCG_TRY(take_int(value, "ocsp_timeout_seconds", 1, 300, &g->ocsp_timeout));
    CCG_TRY(take_int(value, "ocsp_skew_seconds", 0, 3600, &g->ocsp_skew));
    CCG_TRY(take_int(value, "ocsp_max_age_seconds", 60, 604800, &g->ocsp_max_age));
    CCG_TRY(take_int(value, "report_retention_seconds", 3600, 2592000, &g->report_retention));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* "tdx": the collateral (a bundle file, the FMSPC cache directory and a PCCS behind it) and the test
 * roots. Paths are absolute; a PCCS needs the directory it fills. */
static ccg_result take_tdx(json_t *root, ccg_kbs_tdx_config *t)
{
    static const char *const known[] = {"collateral_file", "collateral_dir", "pccs_url", "test_roots"};
    ccg_result result = CCG_FAILURE;
    json_t *value = json_object_get(root, "tdx"), *v;
    const char *name;
    size_t i;
    if (value == NULL) {
        return CCG_SUCCESS;
    }
    CCG_ENSURE_MSG(json_is_object(value), CCG_R_KBS_CONFIG_INVALID, "tdx must be an object (docs/kbs.md)");
    json_object_foreach(value, name, v) {
        int ok = 0;
        for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++) {
            ok |= strcmp(name, known[k]) == 0;
        }
        CCG_ENSURE_MSG(ok, CCG_R_KBS_CONFIG_INVALID, "unknown config member \"tdx.%.64s\"", name);
    }
    CCG_TRY(take_string(value, "collateral_file", &t->collateral_file));
    CCG_TRY(take_string(value, "collateral_dir", &t->collateral_dir));
    CCG_TRY(take_string(value, "pccs_url", &t->pccs_url));
    CCG_ENSURE_MSG((t->collateral_file == NULL || t->collateral_file[0] == '/') &&
                       (t->collateral_dir == NULL || t->collateral_dir[0] == '/'),
                   CCG_R_KBS_CONFIG_INVALID, "tdx.collateral_file and tdx.collateral_dir must be absolute paths");
    CCG_ENSURE_MSG(is_url(t->pccs_url), CCG_R_KBS_CONFIG_INVALID, "tdx.pccs_url must be an http:// or https:// URL");
    CCG_ENSURE_MSG(t->pccs_url == NULL || t->collateral_dir != NULL, CCG_R_KBS_CONFIG_INVALID,
                   "tdx.pccs_url needs tdx.collateral_dir, the cache it fills");
    v = json_object_get(value, "test_roots");
    if (v != NULL) {
        json_t *entry;
        CCG_ENSURE_MSG(json_is_array(v) && json_array_size(v) <= CCG_KBS_TDX_MAX_TEST_ROOTS, CCG_R_KBS_CONFIG_INVALID,
                       "tdx.test_roots must be an array of at most %u absolute paths", CCG_KBS_TDX_MAX_TEST_ROOTS);
        json_array_foreach(v, i, entry) {
            CCG_ENSURE_MSG(json_is_string(entry) && json_string_value(entry)[0] == '/', CCG_R_KBS_CONFIG_INVALID,
                           "tdx.test_roots holds absolute paths");
            t->test_roots[i] = strdup(json_string_value(entry));
            CCG_ENSURE_ALLOC(t->test_roots[i]);
            t->test_root_count = i + 1;
        }
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

int kbs_location_is_postgres(const char *location)
{
    return location != NULL &&
           (strncmp(location, "postgresql://", 13) == 0 || strncmp(location, "postgres://", 11) == 0);
}

/* The audit log's location when the config names none: the store's database. For SQLite that is the
 * store's file (the audit library takes the path: "sqlite:" is dropped); for PostgreSQL it is the very
 * same URL, so every instance on the database appends to the one chain in its audit_log table. */
static const char *default_audit(const char *store)
{
    if (kbs_location_is_postgres(store)) {
        return store;
    }
    return strncmp(store, "sqlite:", 7) == 0 ? store + 7 : store;
}

ccg_result ccg_kbs_config_parse(const char *json_text, size_t len, ccg_kbs_config *out)
{
    static const char *const known[] = {"address", "port",  "store",     "audit",   "keystore",
                                        "tls",     "issuer", "nonce_ttl", "token_ttl", "attestation_policy",
                                        "threads", "allow_unlocked_memory", "explain", "refval_issuers", "collateral",
                                        "admin", "admin_issuers", "limits", "decision_reuse_seconds",
                                        "store_connections", "attempt_limits", "tcb_baselines", "tcb_baseline_issuers", "gpu", "tdx"};
    ccg_result result = CCG_FAILURE;
    json_error_t jerr;
    json_t *root = NULL;
    const char *name;
    json_t *value;
    int64_t port = CCG_KBS_DEFAULT_PORT, threads = 4;
    int64_t store_connections = 0;
    ccg_error_clear();

    memset(out, 0, sizeof(*out));
    out->nonce_ttl = 300;
    out->token_ttl = 3600;
    out->admin_token_max_lifetime = 3600;
    out->decision_reuse = CCG_KBS_DECISION_REUSE_DEFAULT;
    out->attempts_per_session = CCG_KBS_ATTEMPTS_PER_SESSION;
    out->attempts_per_address = CCG_KBS_ATTEMPTS_PER_ADDRESS;
    out->attempts_window = CCG_KBS_ATTEMPTS_WINDOW;
    CCG_ENSURE(len <= KBS_CONFIG_MAX, CCG_R_INPUT_TOO_LARGE);
    root = json_loadb(json_text, len, JSON_REJECT_DUPLICATES, &jerr);
    CCG_ENSURE_MSG(root != NULL && json_is_object(root), CCG_R_KBS_CONFIG_INVALID,
                   "the configuration is not a JSON object (line %d: %s)", jerr.line, jerr.text);
    json_object_foreach(root, name, value) {
        int ok = 0;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
            ok |= strcmp(name, known[i]) == 0;
        }
        CCG_ENSURE_MSG(ok, CCG_R_KBS_CONFIG_INVALID, "unknown config member \"%.64s\"", name);
    }
    CCG_TRY(take_string(root, "address", &out->bind_address));
    CCG_TRY(take_int(root, "port", 0, 65535, &port));
    out->port = (uint16_t)port;
    CCG_TRY(take_string(root, "store", &out->store));
    CCG_TRY(take_string(root, "audit", &out->audit));
    CCG_TRY(take_string(root, "issuer", &out->issuer));
    CCG_TRY(take_string(root, "attestation_policy", &out->attestation_policy));
    CCG_TRY(take_int(root, "nonce_ttl", 1, 86400, &out->nonce_ttl));
    CCG_TRY(take_int(root, "token_ttl", 1, 7 * 86400, &out->token_ttl));
    CCG_TRY(take_int(root, "threads", 1, 256, &threads));
    CCG_TRY(take_int(root, "store_connections", 1, CCG_STORE_MAX_CONNECTIONS, &store_connections));
    out->store_connections = (unsigned)store_connections;
    CCG_TRY(take_int(root, "decision_reuse_seconds", 0, CCG_KBS_DECISION_REUSE_MAX, &out->decision_reuse));
    value = json_object_get(root, "attempt_limits");
    if (value != NULL) {
        const char *lname;
        json_t *lv;
        CCG_ENSURE_MSG(json_is_object(value), CCG_R_KBS_CONFIG_INVALID,
                       "attempt_limits must be {\"per_session\", \"per_address\", \"window_seconds\"}");
        json_object_foreach(value, lname, lv) {
            CCG_ENSURE_MSG(strcmp(lname, "per_session") == 0 || strcmp(lname, "per_address") == 0 ||
                               strcmp(lname, "window_seconds") == 0,
                           CCG_R_KBS_CONFIG_INVALID, "unknown config member \"attempt_limits.%.64s\"", lname);
        }
        CCG_TRY(take_int(value, "per_session", 1, 1000, &out->attempts_per_session));
        CCG_TRY(take_int(value, "per_address", 1, 1000000, &out->attempts_per_address));
        CCG_TRY(take_int(value, "window_seconds", 1, 86400, &out->attempts_window));
    }
    out->threads = (unsigned)threads;
    CCG_TRY(take_limits(root, out));
    value = json_object_get(root, "allow_unlocked_memory");
    if (value != NULL) {
        CCG_ENSURE_MSG(json_is_boolean(value), CCG_R_KBS_CONFIG_INVALID, "allow_unlocked_memory must be a boolean");
        out->allow_unlocked_memory = json_is_true(value);
    }
    value = json_object_get(root, "explain");
    if (value != NULL) {
        CCG_ENSURE_MSG(json_is_boolean(value), CCG_R_KBS_CONFIG_INVALID, "explain must be a boolean");
        out->explain = json_is_true(value);
    }
    value = json_object_get(root, "refval_issuers");
    if (value != NULL) {
        const char *iid;
        json_t *path;
        CCG_ENSURE_MSG(json_is_object(value), CCG_R_KBS_CONFIG_INVALID,
                       "refval_issuers must be an object of issuer ID -> PEM file");
        json_object_foreach(value, iid, path) {
            CCG_ENSURE_MSG(json_is_string(path) && json_string_value(path)[0] == '/', CCG_R_KBS_CONFIG_INVALID,
                           "refval_issuers.%.64s must be an absolute path", iid);
        }
        out->refval_issuers = json_incref(value);
    }
    CCG_TRY(take_baselines(root, out));
    CCG_TRY(take_gpu(root, &out->gpu));
    CCG_TRY(take_tdx(root, &out->tdx));
    /* The pre-tenancy form let every issuer assert any role and subject: refused, not reinterpreted. */
    CCG_ENSURE_MSG(json_object_get(root, "admin_issuers") == NULL, CCG_R_KBS_CONFIG_INVALID,
                   "admin_issuers is replaced by \"admin\": {\"audience\", \"issuers\": [{\"name\", \"key\", "
                   "\"roles\", \"subjects\"}]} (docs/kbs.md)");
    value = json_object_get(root, "admin");
    if (value != NULL) {
        CCG_TRY(take_admin(value, out));
    }
    value = json_object_get(root, "collateral");
    if (value != NULL) {
        const char *cname;
        json_t *cv;
        CCG_ENSURE_MSG(json_is_object(value), CCG_R_KBS_CONFIG_INVALID,
                       "collateral must be {\"cache_dir\", \"fetch\", \"kds_url\"}");
        json_object_foreach(value, cname, cv) {
            CCG_ENSURE_MSG(strcmp(cname, "cache_dir") == 0 || strcmp(cname, "fetch") == 0 ||
                               strcmp(cname, "kds_url") == 0,
                           CCG_R_KBS_CONFIG_INVALID, "unknown config member \"collateral.%.64s\"", cname);
        }
        CCG_TRY(take_string(value, "cache_dir", &out->collateral_dir));
        CCG_TRY(take_string(value, "kds_url", &out->kds_url));
        CCG_ENSURE_MSG(out->collateral_dir != NULL && out->collateral_dir[0] == '/', CCG_R_KBS_CONFIG_INVALID,
                       "collateral.cache_dir must be an absolute path");
        cv = json_object_get(value, "fetch");
        CCG_ENSURE_MSG(cv == NULL || json_is_boolean(cv), CCG_R_KBS_CONFIG_INVALID,
                       "collateral.fetch must be a boolean");
        out->collateral_fetch = json_is_true(cv);
    }
    value = json_object_get(root, "tls");
    if (value != NULL) {
        CCG_ENSURE_MSG(json_is_object(value) && json_object_size(value) == 2, CCG_R_KBS_CONFIG_INVALID,
                       "tls must be {\"cert_file\",\"key_file\"}");
        CCG_TRY(take_string(value, "cert_file", &out->tls_cert));
        CCG_TRY(take_string(value, "key_file", &out->tls_key));
        CCG_ENSURE_MSG(out->tls_cert != NULL && out->tls_key != NULL, CCG_R_KBS_CONFIG_INVALID,
                       "tls must be {\"cert_file\",\"key_file\"}");
    }
    value = json_object_get(root, "keystore");
    CCG_ENSURE_MSG(value != NULL && json_is_object(value), CCG_R_KBS_CONFIG_INVALID,
                   "config member \"keystore\" (an object) is required");
    out->keystore = json_incref(value);
    CCG_ENSURE_MSG(out->store != NULL, CCG_R_KBS_CONFIG_INVALID, "config member \"store\" is required");
    if (out->bind_address == NULL) {
        out->bind_address = strdup("127.0.0.1");
        CCG_ENSURE_ALLOC(out->bind_address);
    }
    if (out->issuer == NULL) {
        out->issuer = strdup("ccgate-kbs");
        CCG_ENSURE_ALLOC(out->issuer);
    }
    if (out->audit == NULL) {
        out->audit = strdup(default_audit(out->store));
        CCG_ENSURE_ALLOC(out->audit);
    }
    result = CCG_SUCCESS;
cleanup:
    json_decref(root);
    if (ccg_failed(result)) {
        ccg_kbs_config_free(out);
    }
    return result;
}

ccg_result ccg_kbs_config_load(const char *path, ccg_kbs_config *out)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *text = NULL;
    size_t len = 0;
    memset(out, 0, sizeof(*out));
    CCG_TRY(ccg_file_read(path, KBS_CONFIG_MAX, &text, &len));
    CCG_TRY(ccg_kbs_config_parse((const char *)text, len, out));
    result = CCG_SUCCESS;
cleanup:
    free(text);
    return result;
}

void ccg_kbs_config_free(ccg_kbs_config *c)
{
    if (c == NULL) {
        return;
    }
    free(c->bind_address);
    free(c->store);
    free(c->audit);
    json_decref(c->keystore);
    json_decref(c->refval_issuers);
    json_decref(c->admin_issuers);
    json_decref(c->tcb_baselines);
    json_decref(c->tcb_baseline_issuers);
    free(c->admin_audience);
    free(c->collateral_dir);
    free(c->kds_url);
    free(c->tls_cert);
    free(c->tls_key);
    free(c->gpu.rim_dir);
    free(c->gpu.rim_service_url);
    free(c->gpu.ocsp_cache_dir);
    free(c->gpu.ocsp_responder_url);
    free(c->tdx.collateral_file);
    free(c->tdx.collateral_dir);
    free(c->tdx.pccs_url);
    for (size_t i = 0; i < c->tdx.test_root_count; i++) {
        free(c->tdx.test_roots[i]);
    }
    free(c->issuer);
    free(c->attestation_policy);
    memset(c, 0, sizeof(*c));
}
