/* The store's front: argument checks shared by every backend, the per-handle lock, and dispatch
 * through the backend vtable. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "ccgate/store.h"
#include "store_backend.h"

/* A small pool of connections to one database: a thread takes the first free one, so readers do not
 * queue behind a writer's commit (WAL, or PostgreSQL's MVCC, lets them read meanwhile). Each connection
 * has its own lock and its own prepared statements. The backend is chosen by the location: a libpq
 * URI (postgresql:// or postgres://) is PostgreSQL, anything else SQLite. */
typedef struct {
    void *impl;
    pthread_mutex_t lock;
    int lock_ready;
} store_conn;

struct ccg_store {
    const ccg_store_ops *ops;
    store_conn conns[CCG_STORE_MAX_CONNECTIONS];
    size_t nconns;
    atomic_size_t next;     /* where a thread that found no free connection waits */
    int relaxed_sessions;   /* session writes skip the fsync (see ccg_store_options) */
};

/* ---- names ---- */

const char *ccg_key_state_name(ccg_key_state state)
{
    switch (state) {
    case CCG_KEY_ACTIVE: return "active";
    case CCG_KEY_DISABLED: return "disabled";
    case CCG_KEY_RETIRED: return "retired";
    }
    return "unknown";
}

ccg_result ccg_key_state_parse(const char *name, ccg_key_state *out)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE(name != NULL && out != NULL, CCG_R_INPUT_MALFORMED);
    if (strcmp(name, "active") == 0) {
        *out = CCG_KEY_ACTIVE;
    } else if (strcmp(name, "disabled") == 0) {
        *out = CCG_KEY_DISABLED;
    } else if (strcmp(name, "retired") == 0) {
        *out = CCG_KEY_RETIRED;
    } else {
        CCG_BAIL(CCG_R_INPUT_MALFORMED, "unknown key state '%.16s'", name);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

int ccg_key_transition_allowed(ccg_key_state from, ccg_key_state to)
{
    switch (from) {
    case CCG_KEY_ACTIVE: return to == CCG_KEY_DISABLED || to == CCG_KEY_RETIRED;
    case CCG_KEY_DISABLED: return to == CCG_KEY_ACTIVE || to == CCG_KEY_RETIRED;
    case CCG_KEY_RETIRED: return 0;
    }
    return 0;
}

const char *ccg_store_doc_kind_name(ccg_store_doc_kind kind)
{
    switch (kind) {
    case CCG_DOC_POLICY: return "policy";
    case CCG_DOC_REFVAL_SET: return "refval_set";
    case CCG_DOC_COLLATERAL: return "collateral";
    }
    return "unknown";
}

const char *ccg_session_state_name(ccg_session_state state)
{
    switch (state) {
    case CCG_SESSION_CHALLENGED: return "challenged";
    case CCG_SESSION_ATTESTED: return "attested";
    }
    return "unknown";
}

const char *ccg_session_status_name(ccg_session_status status)
{
    switch (status) {
    case CCG_SESSION_OK: return "ok";
    case CCG_SESSION_NOT_FOUND: return "not_found";
    case CCG_SESSION_EXPIRED: return "expired";
    case CCG_SESSION_NONCE_MISMATCH: return "nonce_mismatch";
    case CCG_SESSION_NONCE_USED: return "nonce_used";
    case CCG_SESSION_BAD_STATE: return "bad_state";
    }
    return "unknown";
}

/* ---- argument checks ---- */

/* 1..max bytes, each in [lo, 0x7E]. */
static int text_ok(const char *s, size_t max, unsigned char lo)
{
    if (s == NULL) {
        return 0;
    }
    size_t n = strnlen(s, max + 1);
    if (n == 0 || n > max) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < lo || c > 0x7E) {
            return 0;
        }
    }
    return 1;
}

static ccg_result check_id(const char *what, const char *id)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(text_ok(id, CCG_STORE_ID_MAX, 0x21), CCG_R_INPUT_MALFORMED,
                   "%s must be 1..%u bytes of printable ASCII without spaces", what, CCG_STORE_ID_MAX);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result check_token(const char *what, const char *s, size_t max)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(text_ok(s, max, 0x21), CCG_R_INPUT_MALFORMED,
                   "%s must be 1..%zu bytes of printable ASCII without spaces", what, max);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result check_version(const char *what, int64_t version)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(version >= 1 && version <= ((int64_t)1 << 53), CCG_R_INPUT_MALFORMED,
                   "%s version must be 1..2^53, got %lld", what, (long long)version);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result check_lookup_version(int64_t version)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(version >= 0 && version <= ((int64_t)1 << 53), CCG_R_INPUT_MALFORMED,
                   "version must be 0 (latest) or 1..2^53, got %lld", (long long)version);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result check_json_object(const char *what, const uint8_t *body, size_t len)
{
    ccg_result result = CCG_FAILURE;
    json_error_t jerr;
    json_t *doc = NULL;
    CCG_ENSURE_MSG(len <= CCG_STORE_JSON_MAX, CCG_R_INPUT_TOO_LARGE, "%s is %zu bytes, at most %u", what, len,
                   CCG_STORE_JSON_MAX);
    CCG_ENSURE_MSG(body != NULL && len > 0, CCG_R_INPUT_MALFORMED, "%s is empty", what);
    doc = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
    CCG_ENSURE_MSG(doc != NULL, CCG_R_INPUT_MALFORMED, "%s is not JSON: %s (line %d)", what, jerr.text, jerr.line);
    CCG_ENSURE_MSG(json_is_object(doc), CCG_R_INPUT_MALFORMED, "%s is not a JSON object", what);
    result = CCG_SUCCESS;
cleanup:
    json_decref(doc);
    return result;
}

/* The session record: the broker's own serialisation, written once per attestation and parsed in full
 * by whoever reads it back (a damaged record is store.corrupt there). Only its bounds and outline are
 * checked here; a second full parse on the write path was 3% of the broker's CPU. */
static ccg_result check_json_outline(const char *what, const char *text)
{
    ccg_result result = CCG_FAILURE;
    size_t len = text == NULL ? 0 : strnlen(text, (size_t)CCG_STORE_JSON_MAX + 1);
    CCG_ENSURE_MSG(len <= CCG_STORE_JSON_MAX, CCG_R_INPUT_TOO_LARGE, "%s is over %u bytes", what, CCG_STORE_JSON_MAX);
    CCG_ENSURE_MSG(len >= 2 && text[0] == '{' && text[len - 1] == '}', CCG_R_INPUT_MALFORMED,
                   "%s is not a compact JSON object", what);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result check_key_spec(const ccg_store_key_spec *spec, int rotate)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE(spec != NULL, CCG_R_INPUT_MALFORMED);
    CCG_TRY(check_id("key_id", spec->key_id));
    CCG_TRY(check_version("key", spec->version));
    CCG_ENSURE_MSG(text_ok(spec->kek_label, CCG_STORE_LABEL_MAX, 0x20), CCG_R_INPUT_MALFORMED,
                   "kek_label must be 1..%u bytes of printable ASCII", CCG_STORE_LABEL_MAX);
    if (!rotate || spec->policy_id != NULL) {
        CCG_TRY(check_id("policy_id", spec->policy_id));
    }
    CCG_ENSURE_MSG(spec->wrapped_len <= CCG_STORE_WRAPPED_MAX, CCG_R_INPUT_TOO_LARGE,
                   "wrapped key is %zu bytes, at most %u", spec->wrapped_len, CCG_STORE_WRAPPED_MAX);
    /* The store refuses anything that is not a keystore blob, so a plaintext key cannot be stored by
     * mistake. */
    CCG_ENSURE_MSG(spec->wrapped != NULL && spec->wrapped_len >= CCG_STORE_WRAPPED_MIN &&
                       memcmp(spec->wrapped, CCG_STORE_WRAPPED_MAGIC, 4) == 0,
                   CCG_R_INPUT_MALFORMED, "the key material is not a wrapped key (keystore blob, magic %s)",
                   CCG_STORE_WRAPPED_MAGIC);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result check_kind(ccg_store_doc_kind kind)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(kind == CCG_DOC_POLICY || kind == CCG_DOC_REFVAL_SET || kind == CCG_DOC_COLLATERAL,
                   CCG_R_INPUT_MALFORMED, "unknown document kind %d", (int)kind);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result check_setting_name(const char *name)
{
    ccg_result result = CCG_FAILURE;
    size_t n = name ? strnlen(name, CCG_STORE_SETTING_NAME_MAX + 1) : 0;
    CCG_ENSURE_MSG(n >= 1 && n <= CCG_STORE_SETTING_NAME_MAX, CCG_R_INPUT_MALFORMED,
                   "setting name must be 1..%u bytes", CCG_STORE_SETTING_NAME_MAX);
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        CCG_ENSURE_MSG((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-',
                       CCG_R_INPUT_MALFORMED, "setting name may hold only [a-z0-9._-]");
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_store_digest(const uint8_t *data, size_t len, char out[72])
{
    ccg_result result = CCG_FAILURE;
    uint8_t md[32];
    unsigned int md_len = 0;
    static const uint8_t empty = 0;
    CCG_ENSURE_OSSL(EVP_Digest(data ? data : &empty, len, md, &md_len, EVP_sha256(), NULL) == 1 && md_len == 32,
                    CCG_R_INTERNAL_CRYPTO);
    memcpy(out, "sha256:", 7);
    ccg_hex_encode(md, 32, out + 7);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* ---- open and close ---- */

static void store_free(ccg_store *s)
{
    for (size_t i = 0; i < CCG_STORE_MAX_CONNECTIONS; i++) {
        if (s->conns[i].impl != NULL) {
            s->ops->close(s->conns[i].impl);
        }
        if (s->conns[i].lock_ready) {
            pthread_mutex_destroy(&s->conns[i].lock);
        }
    }
    free(s);
}

ccg_result ccg_store_open(const char *location, const ccg_store_options *opts, ccg_store **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_store *s = NULL;
    const char *path = location;
    ccg_store_options defaults = {0}, more;
    const ccg_store_ops *ops = &ccg_store_sqlite_ops;
    ccg_result (*open_one)(const char *, const ccg_store_options *, void **) = ccg_store_sqlite_open;

    ccg_error_clear();
    CCG_ENSURE(out != NULL, CCG_R_INPUT_MALFORMED);
    *out = NULL;
    CCG_ENSURE_MSG(location != NULL && *location != '\0', CCG_R_INPUT_MALFORMED, "no store location");
    if (opts == NULL) {
        opts = &defaults;
    }
    CCG_ENSURE_MSG(opts->connections <= CCG_STORE_MAX_CONNECTIONS, CCG_R_INPUT_MALFORMED,
                   "at most %u store connections", CCG_STORE_MAX_CONNECTIONS);
    if (strncmp(location, "postgresql://", 13) == 0 || strncmp(location, "postgres://", 11) == 0) {
        ops = &ccg_store_pg_ops;
        open_one = ccg_store_pg_open;
    } else if (strncmp(location, "sqlite:", 7) == 0) {
        path = location + 7;
    }
    CCG_ENSURE_MSG(*path != '\0', CCG_R_INPUT_MALFORMED, "no store path");
    s = calloc(1, sizeof(*s));
    CCG_ENSURE_ALLOC(s);
    s->ops = ops;
    s->nconns = opts->connections == 0 ? 1 : opts->connections;
    s->relaxed_sessions = opts->relaxed_session_sync;
    atomic_init(&s->next, 0);
    /* The first connection checks and migrates; the others only open the migrated database. */
    more = *opts;
    more.check = CCG_STORE_CHECK_NONE;
    for (size_t i = 0; i < s->nconns; i++) {
        CCG_ENSURE(pthread_mutex_init(&s->conns[i].lock, NULL) == 0, CCG_R_INTERNAL_ERROR);
        s->conns[i].lock_ready = 1;
        CCG_TRY(open_one(path, i == 0 ? opts : &more, &s->conns[i].impl));
    }
    *out = s;
    s = NULL;
    result = CCG_SUCCESS;
cleanup:
    if (s != NULL) {
        store_free(s);
    }
    return result;
}

void ccg_store_close(ccg_store *s)
{
    if (s == NULL) {
        return;
    }
    store_free(s);
}

const char *ccg_store_backend(const ccg_store *s) { return s ? s->ops->name : "none"; }

/* A free connection, locked; when all are busy, one in turn (waiting for it). */
static size_t store_acquire(ccg_store *s)
{
    size_t i;
    for (i = 0; i < s->nconns; i++) {
        if (pthread_mutex_trylock(&s->conns[i].lock) == 0) {
            return i;
        }
    }
    i = atomic_fetch_add(&s->next, 1) % s->nconns;
    pthread_mutex_lock(&s->conns[i].lock);
    return i;
}

/* Every operation: clear the error, check the handle, take a connection, call, release it. `call`
 * names the connection `impl`. Session writes run with the durability the handle was opened with;
 * everything else is synced at commit. */
#define STORE_CALL_SYNC(s, full, call)                                            \
    do {                                                                          \
        size_t conn_ = store_acquire(s);                                          \
        void *impl = (s)->conns[conn_].impl;                                      \
        ccg_result call_result_ = (s)->ops->set_full_sync(impl, (full));          \
        if (ccg_ok(call_result_)) {                                               \
            call_result_ = (call);                                                \
        }                                                                         \
        pthread_mutex_unlock(&(s)->conns[conn_].lock);                            \
        CCG_TRY(call_result_);                                                    \
    } while (0)
#define STORE_CALL(s, call) STORE_CALL_SYNC(s, 1, call)
#define STORE_SESSION_CALL(s, call) STORE_CALL_SYNC(s, !(s)->relaxed_sessions, call)
/* Reads leave the connection's mode as it is (-1): they commit nothing. */
#define STORE_READ_CALL(s, call) STORE_CALL_SYNC(s, -1, call)

ccg_result ccg_store_schema_version(ccg_store *s, int64_t *version)
{
    ccg_result result = CCG_FAILURE;
    ccg_error_clear();
    CCG_ENSURE(s != NULL && version != NULL, CCG_R_INPUT_MALFORMED);
    STORE_READ_CALL(s, s->ops->schema_version(impl, version));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_store_integrity_check(ccg_store *s)
{
    ccg_result result = CCG_FAILURE;
    ccg_error_clear();
    CCG_ENSURE(s != NULL, CCG_R_INPUT_MALFORMED);
    STORE_READ_CALL(s, s->ops->integrity_check(impl));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* ---- keys ---- */

ccg_result ccg_store_key_import(ccg_store *s, const ccg_store_key_spec *spec, ccg_time now)
{
    ccg_result result = CCG_FAILURE;
    ccg_error_clear();
    CCG_ENSURE(s != NULL, CCG_R_INPUT_MALFORMED);
    CCG_TRY(check_key_spec(spec, 0));
    STORE_CALL(s, s->ops->key_import(impl, spec, now));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_store_key_rotate(ccg_store *s, const ccg_store_key_spec *spec, ccg_time now)
{
    ccg_result result = CCG_FAILURE;
    ccg_error_clear();
    CCG_ENSURE(s != NULL, CCG_R_INPUT_MALFORMED);
    CCG_TRY(check_key_spec(spec, 1));
    STORE_CALL(s, s->ops->key_rotate(impl, spec, now));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_store_key_set_state(ccg_store *s, const char *key_id, int64_t version, ccg_key_state to, ccg_time now)
{
    ccg_result result = CCG_FAILURE;
    ccg_error_clear();
    CCG_ENSURE(s != NULL, CCG_R_INPUT_MALFORMED);
    CCG_TRY(check_id("key_id", key_id));
    CCG_TRY(check_version("key", version));
    CCG_ENSURE_MSG(to == CCG_KEY_ACTIVE || to == CCG_KEY_DISABLED || to == CCG_KEY_RETIRED, CCG_R_INPUT_MALFORMED,
                   "unknown key state %d", (int)to);
    STORE_CALL(s, s->ops->key_set_state(impl, key_id, version, to, now));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_store_key_rewrap(ccg_store *s, const char *key_id, int64_t version, const char *old_label,
                                const char *new_label, const uint8_t *wrapped, size_t wrapped_len, ccg_time now)
{
    ccg_result result = CCG_FAILURE;
    ccg_store_key_spec spec = {.key_id = key_id, .version = version, .wrapped = wrapped, .wrapped_len = wrapped_len,
                               .kek_label = new_label, .policy_id = NULL};
    ccg_error_clear();
    CCG_ENSURE(s != NULL, CCG_R_INPUT_MALFORMED);
    CCG_TRY(check_key_spec(&spec, 1)); /* the same rules as an import: IDs, version, blob magic and size, label */
    CCG_ENSURE_MSG(text_ok(old_label, CCG_STORE_LABEL_MAX, 0x20) && strcmp(old_label, new_label) != 0,
                   CCG_R_INPUT_MALFORMED,
                   "a re-wrap needs the old KEK label and a new, different one");
    STORE_CALL(s, s->ops->key_rewrap(impl, key_id, version, old_label, new_label, wrapped, wrapped_len, now));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_store_key_get(ccg_store *s, const char *key_id, int64_t version, ccg_store_key *out)
{
    ccg_result result = CCG_FAILURE;
    ccg_error_clear();
    CCG_ENSURE(s != NULL && out != NULL, CCG_R_INPUT_MALFORMED);
    memset(out, 0, sizeof(*out));
    CCG_TRY(check_id("key_id", key_id));
    CCG_TRY(check_lookup_version(version));
    STORE_READ_CALL(s, s->ops->key_get(impl, key_id, version, out));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_store_key_list(ccg_store *s, const char *key_id, ccg_store_key **out, size_t *count)
{
    ccg_result result = CCG_FAILURE;
    ccg_error_clear();
    CCG_ENSURE(s != NULL && out != NULL && count != NULL, CCG_R_INPUT_MALFORMED);
    *out = NULL;
    *count = 0;
    if (key_id != NULL) {
        CCG_TRY(check_id("key_id", key_id));
    }
    STORE_READ_CALL(s, s->ops->key_list(impl, key_id, out, count));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_store_key_end_grace(ccg_store *s, const char *key_id, int64_t version, ccg_time now, int64_t *ended)
{
    ccg_result result = CCG_FAILURE;
    int64_t n = 0;
    ccg_error_clear();
    CCG_ENSURE(s != NULL, CCG_R_INPUT_MALFORMED);
    CCG_TRY(check_id("key_id", key_id));
    CCG_TRY(check_lookup_version(version));
    STORE_CALL(s, s->ops->key_end_grace(impl, key_id, version, now, &n));
    if (ended != NULL) {
        *ended = n;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_store_key_releasable(const ccg_store_key *key)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE(key != NULL, CCG_R_INPUT_MALFORMED);
    CCG_ENSURE_MSG(key->state != CCG_KEY_DISABLED, CCG_R_KEY_DISABLED, "key '%s' version %lld is disabled",
                   key->key_id, (long long)key->version);
    CCG_ENSURE_MSG(key->state != CCG_KEY_RETIRED, CCG_R_KEY_RETIRED, "key '%s' version %lld is retired",
                   key->key_id, (long long)key->version);
    CCG_ENSURE_MSG(key->state == CCG_KEY_ACTIVE, CCG_R_INTERNAL_ERROR, "key '%s' has an unknown state",
                   key->key_id);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

void ccg_store_key_free(ccg_store_key *key)
{
    if (key == NULL) {
        return;
    }
    free(key->wrapped);
    key->wrapped = NULL;
    key->wrapped_len = 0;
}

void ccg_store_key_list_free(ccg_store_key *keys, size_t count)
{
    if (keys == NULL) {
        return;
    }
    for (size_t i = 0; i < count; i++) {
        ccg_store_key_free(&keys[i]);
    }
    free(keys);
}

/* ---- documents ---- */

ccg_result ccg_store_doc_put(ccg_store *s, ccg_store_doc_kind kind, const char *id, int64_t version,
                             const uint8_t *body, size_t len, ccg_time now)
{
    ccg_result result = CCG_FAILURE;
    char digest[72];
    ccg_error_clear();
    CCG_ENSURE(s != NULL, CCG_R_INPUT_MALFORMED);
    CCG_TRY(check_kind(kind));
    CCG_TRY(check_id(ccg_store_doc_kind_name(kind), id));
    CCG_TRY(check_version(ccg_store_doc_kind_name(kind), version));
    if (kind == CCG_DOC_COLLATERAL) {
        CCG_ENSURE_MSG(len <= CCG_STORE_BLOB_MAX, CCG_R_INPUT_TOO_LARGE, "collateral is %zu bytes, at most %u", len,
                       CCG_STORE_BLOB_MAX);
        CCG_ENSURE_MSG(body != NULL && len > 0, CCG_R_INPUT_MALFORMED, "collateral is empty");
    } else {
        CCG_TRY(check_json_object(ccg_store_doc_kind_name(kind), body, len));
    }
    CCG_TRY(ccg_store_digest(body, len, digest));
    STORE_CALL(s, s->ops->doc_put(impl, kind, id, version, body, len, digest, now));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_store_doc_get(ccg_store *s, ccg_store_doc_kind kind, const char *id, int64_t version,
                             ccg_store_doc *out)
{
    ccg_result result = CCG_FAILURE;
    char digest[72];
    ccg_error_clear();
    CCG_ENSURE(s != NULL && out != NULL, CCG_R_INPUT_MALFORMED);
    memset(out, 0, sizeof(*out));
    CCG_TRY(check_kind(kind));
    CCG_TRY(check_id(ccg_store_doc_kind_name(kind), id));
    CCG_TRY(check_lookup_version(version));
    STORE_READ_CALL(s, s->ops->doc_get(impl, kind, id, version, out));
    /* A document that no longer matches its digest was changed behind the store's back. */
    CCG_TRY(ccg_store_digest(out->body, out->len, digest));
    CCG_ENSURE_MSG(strcmp(digest, out->digest) == 0, CCG_R_STORE_CORRUPT,
                   "%s '%s' version %lld does not match its stored digest", ccg_store_doc_kind_name(kind), id,
                   (long long)out->version);
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result) && out != NULL) {
        ccg_store_doc_free(out);
    }
    return result;
}

ccg_result ccg_store_doc_versions(ccg_store *s, ccg_store_doc_kind kind, const char *id, int64_t **versions,
                                  size_t *count)
{
    ccg_result result = CCG_FAILURE;
    ccg_error_clear();
    CCG_ENSURE(s != NULL && versions != NULL && count != NULL, CCG_R_INPUT_MALFORMED);
    *versions = NULL;
    *count = 0;
    CCG_TRY(check_kind(kind));
    CCG_TRY(check_id(ccg_store_doc_kind_name(kind), id));
    STORE_READ_CALL(s, s->ops->doc_versions(impl, kind, id, versions, count));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

void ccg_store_doc_free(ccg_store_doc *doc)
{
    if (doc == NULL) {
        return;
    }
    free(doc->body);
    doc->body = NULL;
    doc->len = 0;
}

ccg_result ccg_store_policy_put(ccg_store *s, const char *policy_id, int64_t version, const char *json, ccg_time now)
{
    return ccg_store_doc_put(s, CCG_DOC_POLICY, policy_id, version, (const uint8_t *)json, json ? strlen(json) : 0,
                             now);
}

ccg_result ccg_store_policy_get(ccg_store *s, const char *policy_id, int64_t version, ccg_store_doc *out)
{
    return ccg_store_doc_get(s, CCG_DOC_POLICY, policy_id, version, out);
}

ccg_result ccg_store_refval_put(ccg_store *s, const char *set_id, int64_t version, const char *json, ccg_time now)
{
    return ccg_store_doc_put(s, CCG_DOC_REFVAL_SET, set_id, version, (const uint8_t *)json, json ? strlen(json) : 0,
                             now);
}

ccg_result ccg_store_refval_get(ccg_store *s, const char *set_id, int64_t version, ccg_store_doc *out)
{
    return ccg_store_doc_get(s, CCG_DOC_REFVAL_SET, set_id, version, out);
}

/* ---- sessions ---- */

static void set_status(ccg_session_status *status, ccg_session_status value)
{
    if (status != NULL) {
        *status = value;
    }
}

ccg_result ccg_store_session_create(ccg_store *s, const char *session_id, const char *nonce, const char *tee,
                                    ccg_time now, ccg_time expires_at)
{
    ccg_result result = CCG_FAILURE;
    ccg_error_clear();
    CCG_ENSURE(s != NULL, CCG_R_INPUT_MALFORMED);
    CCG_TRY(check_token("session_id", session_id, CCG_STORE_TOKEN_MAX));
    CCG_TRY(check_token("nonce", nonce, CCG_STORE_TOKEN_MAX));
    CCG_TRY(check_token("tee", tee, CCG_STORE_TEE_MAX));
    CCG_ENSURE_MSG(expires_at > now, CCG_R_INPUT_MALFORMED, "a session must expire after it is created");
    STORE_SESSION_CALL(s, s->ops->session_create(impl, session_id, nonce, tee, now, expires_at));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_store_session_get(ccg_store *s, const char *session_id, ccg_time now, ccg_store_session *out,
                                 ccg_session_status *status)
{
    ccg_result result = CCG_FAILURE;
    int found = 0;
    ccg_error_clear();
    set_status(status, CCG_SESSION_NOT_FOUND);
    CCG_ENSURE(s != NULL && out != NULL, CCG_R_INPUT_MALFORMED);
    memset(out, 0, sizeof(*out));
    CCG_TRY(check_token("session_id", session_id, CCG_STORE_TOKEN_MAX));
    STORE_READ_CALL(s, s->ops->session_get(impl, session_id, out, &found));
    CCG_ENSURE_MSG(found, CCG_R_STORE_CONFLICT, "no session '%s'", session_id);
    if (now >= out->expires_at) {
        set_status(status, CCG_SESSION_EXPIRED);
        CCG_BAIL(CCG_R_STORE_CONFLICT, "session '%s' expired", session_id);
    }
    set_status(status, CCG_SESSION_OK);
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result) && out != NULL) {
        ccg_store_session_free(out);
    }
    return result;
}

static ccg_result session_refusal(ccg_session_status st, const char *session_id)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(st == CCG_SESSION_OK, CCG_R_STORE_CONFLICT, "session '%s': %s", session_id,
                   ccg_session_status_name(st));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_store_session_consume_nonce(ccg_store *s, const char *session_id, const char *nonce, ccg_time now,
                                           ccg_session_status *status)
{
    ccg_result result = CCG_FAILURE;
    ccg_session_status st = CCG_SESSION_NOT_FOUND;
    ccg_error_clear();
    CCG_ENSURE(s != NULL, CCG_R_INPUT_MALFORMED);
    CCG_TRY(check_token("session_id", session_id, CCG_STORE_TOKEN_MAX));
    CCG_TRY(check_token("nonce", nonce, CCG_STORE_TOKEN_MAX));
    STORE_SESSION_CALL(s, s->ops->session_consume_nonce(impl, session_id, nonce, now, &st));
    CCG_TRY(session_refusal(st, session_id));
    result = CCG_SUCCESS;
cleanup:
    set_status(status, st);
    return result;
}

ccg_result ccg_store_session_attest(ccg_store *s, const char *session_id, const char *claims_json, ccg_time now,
                                    ccg_time expires_at, ccg_session_status *status)
{
    ccg_result result = CCG_FAILURE;
    ccg_session_status st = CCG_SESSION_NOT_FOUND;
    ccg_error_clear();
    CCG_ENSURE(s != NULL, CCG_R_INPUT_MALFORMED);
    CCG_TRY(check_token("session_id", session_id, CCG_STORE_TOKEN_MAX));
    CCG_TRY(check_json_outline("claims", claims_json));
    CCG_ENSURE_MSG(expires_at > now, CCG_R_INPUT_MALFORMED, "an attested session must expire after now");
    STORE_SESSION_CALL(s, s->ops->session_attest(impl, session_id, claims_json, now, expires_at, &st));
    CCG_TRY(session_refusal(st, session_id));
    result = CCG_SUCCESS;
cleanup:
    set_status(status, st);
    return result;
}

ccg_result ccg_store_session_purge(ccg_store *s, ccg_time now, ccg_time grace, int64_t *removed)
{
    ccg_result result = CCG_FAILURE;
    int64_t n = 0;
    ccg_error_clear();
    CCG_ENSURE(s != NULL && grace >= 0, CCG_R_INPUT_MALFORMED);
    STORE_SESSION_CALL(s, s->ops->session_purge(impl, now - grace, &n));
    if (removed != NULL) {
        *removed = n;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

void ccg_store_session_free(ccg_store_session *session)
{
    if (session == NULL) {
        return;
    }
    free(session->claims_json);
    session->claims_json = NULL;
}

/* ---- owners ---- */

static ccg_result check_owned(ccg_store_owned kind, const char *id)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(kind == CCG_OWNED_KEY || kind == CCG_OWNED_POLICY, CCG_R_INPUT_MALFORMED,
                   "unknown owned kind %d", (int)kind);
    CCG_TRY(check_id(kind == CCG_OWNED_KEY ? "key_id" : "policy_id", id));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_store_owner_get(ccg_store *s, ccg_store_owned kind, const char *id, ccg_store_owner *out, int *found)
{
    ccg_result result = CCG_FAILURE;
    ccg_error_clear();
    CCG_ENSURE(s != NULL && out != NULL && found != NULL, CCG_R_INPUT_MALFORMED);
    memset(out, 0, sizeof(*out));
    *found = 0;
    CCG_TRY(check_owned(kind, id));
    STORE_READ_CALL(s, s->ops->owner_get(impl, kind, id, out, found));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_store_owner_claim(ccg_store *s, ccg_store_owned kind, const char *id, const ccg_store_owner *owner,
                                 ccg_time now, int *mine)
{
    ccg_result result = CCG_FAILURE;
    ccg_error_clear();
    CCG_ENSURE(s != NULL && owner != NULL && mine != NULL, CCG_R_INPUT_MALFORMED);
    *mine = 0;
    CCG_TRY(check_owned(kind, id));
    CCG_TRY(check_token("owner issuer", owner->issuer, CCG_STORE_OWNER_MAX));
    CCG_TRY(check_token("owner subject", owner->subject, CCG_STORE_OWNER_MAX));
    STORE_CALL(s, s->ops->owner_claim(impl, kind, id, owner, now, mine));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_store_owner_transfer(ccg_store *s, ccg_store_owned kind, const char *id, const ccg_store_owner *from,
                                    const ccg_store_owner *to, ccg_time now, int *done)
{
    ccg_result result = CCG_FAILURE;
    ccg_error_clear();
    CCG_ENSURE(s != NULL && to != NULL && done != NULL, CCG_R_INPUT_MALFORMED);
    *done = 0;
    CCG_TRY(check_owned(kind, id));
    CCG_TRY(check_token("owner issuer", to->issuer, CCG_STORE_OWNER_MAX));
    CCG_TRY(check_token("owner subject", to->subject, CCG_STORE_OWNER_MAX));
    STORE_CALL(s, s->ops->owner_transfer(impl, kind, id, from, to, now, done));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_store_owner_unbound(ccg_store *s, ccg_store_owner **subjects, size_t *count)
{
    ccg_result result = CCG_FAILURE;
    ccg_error_clear();
    CCG_ENSURE(s != NULL && subjects != NULL && count != NULL, CCG_R_INPUT_MALFORMED);
    *subjects = NULL;
    *count = 0;
    STORE_READ_CALL(s, s->ops->owner_unbound(impl, subjects, count));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_store_owner_bind(ccg_store *s, const char *subject, const char *issuer, ccg_time now, int64_t *bound)
{
    ccg_result result = CCG_FAILURE;
    int64_t n = 0;
    ccg_error_clear();
    CCG_ENSURE(s != NULL, CCG_R_INPUT_MALFORMED);
    CCG_TRY(check_token("owner subject", subject, CCG_STORE_OWNER_MAX));
    CCG_TRY(check_token("owner issuer", issuer, CCG_STORE_OWNER_MAX));
    STORE_CALL(s, s->ops->owner_bind(impl, subject, issuer, now, &n));
    result = CCG_SUCCESS;
cleanup:
    if (bound != NULL) {
        *bound = n;
    }
    return result;
}

/* ---- settings ---- */

ccg_result ccg_store_setting_get(ccg_store *s, const char *name, uint8_t **value, size_t *len, int *found)
{
    ccg_result result = CCG_FAILURE;
    ccg_error_clear();
    CCG_ENSURE(s != NULL && value != NULL && len != NULL && found != NULL, CCG_R_INPUT_MALFORMED);
    *value = NULL;
    *len = 0;
    *found = 0;
    CCG_TRY(check_setting_name(name));
    STORE_READ_CALL(s, s->ops->setting_get(impl, name, value, len, found));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_store_setting_put(ccg_store *s, const char *name, const uint8_t *value, size_t len, ccg_time now)
{
    ccg_result result = CCG_FAILURE;
    ccg_error_clear();
    CCG_ENSURE(s != NULL, CCG_R_INPUT_MALFORMED);
    CCG_TRY(check_setting_name(name));
    CCG_ENSURE_MSG(value != NULL && len > 0 && len <= CCG_STORE_SETTING_MAX, CCG_R_INPUT_MALFORMED,
                   "setting value must be 1..%u bytes", CCG_STORE_SETTING_MAX);
    STORE_CALL(s, s->ops->setting_put(impl, name, value, len, now));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_store_setting_get_or_create(ccg_store *s, const char *name, ccg_store_generator generate, void *ctx,
                                           ccg_time now, uint8_t **value, size_t *len, int *created)
{
    ccg_result result = CCG_FAILURE;
    int made = 0;
    ccg_error_clear();
    CCG_ENSURE(s != NULL && generate != NULL && value != NULL && len != NULL, CCG_R_INPUT_MALFORMED);
    *value = NULL;
    *len = 0;
    CCG_TRY(check_setting_name(name));
    STORE_CALL(s, s->ops->setting_get_or_create(impl, name, generate, ctx, now, value, len, &made));
    result = CCG_SUCCESS;
cleanup:
    if (created != NULL) {
        *created = made;
    }
    return result;
}

/* ---- GPU reports seen ---- */

static ccg_result gpu_report_seen(ccg_store *s, const char *digest, const char *session_id, int record, ccg_time now,
                                  int *replayed, ccg_time *first_seen)
{
    ccg_result result = CCG_FAILURE;
    char first[CCG_STORE_TOKEN_MAX + 1] = "";
    ccg_time seen = 0;
    int found = 0;
    ccg_error_clear();
    CCG_ENSURE(s != NULL && replayed != NULL, CCG_R_INPUT_MALFORMED);
    *replayed = 0;
    CCG_TRY(check_token("digest", digest, CCG_STORE_TOKEN_MAX));
    if (record || session_id != NULL) {
        CCG_TRY(check_token("session_id", session_id, CCG_STORE_TOKEN_MAX));
    }
    if (record) {
        STORE_SESSION_CALL(s, s->ops->gpu_report_seen(impl, digest, session_id, now, first, sizeof(first), &seen,
                                                      &found));
    } else {
        STORE_READ_CALL(s, s->ops->gpu_report_seen(impl, digest, NULL, now, first, sizeof(first), &seen, &found));
    }
    *replayed = found && (session_id == NULL || strcmp(first, session_id) != 0);
    if (first_seen != NULL) {
        *first_seen = found ? seen : 0;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_store_gpu_report_claim(ccg_store *s, const char *digest, const char *session_id, ccg_time now,
                                      int *replayed, ccg_time *first_seen)
{
    return gpu_report_seen(s, digest, session_id, 1, now, replayed, first_seen);
}

ccg_result ccg_store_gpu_report_find(ccg_store *s, const char *digest, const char *session_id, int *replayed,
                                     ccg_time *first_seen)
{
    return gpu_report_seen(s, digest, session_id, 0, 0, replayed, first_seen);
}

ccg_result ccg_store_gpu_report_purge(ccg_store *s, ccg_time before, int64_t *removed)
{
    ccg_result result = CCG_FAILURE;
    int64_t n = 0;
    ccg_error_clear();
    CCG_ENSURE(s != NULL, CCG_R_INPUT_MALFORMED);
    STORE_SESSION_CALL(s, s->ops->gpu_report_purge(impl, before, &n));
    if (removed != NULL) {
        *removed = n;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}
