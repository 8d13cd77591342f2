/* The broker's state (store, audit log, keystore, clock) and the provisioning operations. */
#include "kbs_internal.h"
#include "kbs_admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include <openssl/rand.h>

#include "ccgate/error.h"

static ccg_time wall_clock(void *ctx)
{
    (void)ctx;
    return ccg_time_now();
}

ccg_time kbs_now(ccg_kbs *k) { return k->clock(k->clock_ctx); }

ccg_result kbs_random_id(char out[64])
{
    ccg_result result = CCG_FAILURE;
    uint8_t raw[32];
    CCG_ENSURE_OSSL(RAND_bytes(raw, sizeof(raw)) == 1, CCG_R_INTERNAL_CRYPTO);
    ccg_b64url_encode_into(raw, sizeof(raw), out);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* One named item of the trust material: its name, length and bytes. */
static ccg_result trust_update(EVP_MD_CTX *md, const char *name, const uint8_t *bytes, size_t len)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_OSSL(EVP_DigestUpdate(md, name, strlen(name) + 1) == 1 && EVP_DigestUpdate(md, &len, sizeof(len)) == 1 &&
                        EVP_DigestUpdate(md, bytes, len) == 1,
                    CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Issuers ID -> PEM file, read into iss and hashed into the trust material. */
static ccg_result load_issuers(const json_t *map, ccg_refval_issuers *iss, EVP_MD_CTX *md)
{
    ccg_result result = CCG_FAILURE;
    const char *iid;
    json_t *path;
    uint8_t *pem = NULL;
    size_t pem_len = 0;
    json_object_foreach((json_t *)map, iid, path) {
        CCG_TRY(ccg_file_read(json_string_value(path), 64 * 1024, &pem, &pem_len));
        CCG_TRY(ccg_refval_issuers_add_pem(iss, iid, pem, pem_len));
        CCG_TRY(trust_update(md, iid, pem, pem_len));
        free(pem);
        pem = NULL;
    }
    result = CCG_SUCCESS;
cleanup:
    free(pem);
    return result;
}

/* The TCB baselines of the configuration, parsed once; signature and validity are checked at each
 * appraisal with its now. A malformed file, or two for one product, refuses the start. The baseline
 * issuers and the baselines are trust material too: a TCB status rests on them, so replacing a
 * baseline (say, with a new advisory) or an issuer and restarting ends the reuse of earlier decisions. */
static ccg_result load_tcb_baselines(ccg_kbs *k, const ccg_kbs_config *cfg, EVP_MD_CTX *md)
{
    static const char domain[] = "ccgate-kbs/tcb-baselines";
    ccg_result result = CCG_FAILURE;
    size_t i;
    json_t *path;
    uint8_t *text = NULL;
    size_t text_len = 0;
    CCG_TRY(trust_update(md, domain, (const uint8_t *)"", 0));
    CCG_TRY(ccg_refval_issuers_new(&k->tcb_issuers));
    if (cfg->tcb_baseline_issuers != NULL) {
        CCG_TRY(load_issuers(cfg->tcb_baseline_issuers, k->tcb_issuers, md));
    }
    json_array_foreach(cfg->tcb_baselines, i, path) {
        CCG_TRY(ccg_snp_tcb_baselines_load(&k->tcb_baselines, json_string_value(path)));
        CCG_TRY(ccg_file_read(json_string_value(path), 1024 * 1024, &text, &text_len));
        CCG_TRY(trust_update(md, json_string_value(path), text, text_len));
        free(text);
        text = NULL;
    }
    result = CCG_SUCCESS;
cleanup:
    free(text);
    return result;
}

/* Whether the audit log lives in the store's database: then the audit record's synced commit, which
 * precedes every answer, also makes the session writes before it durable (one WAL: SQLite's file, or
 * PostgreSQL's server, whose synchronous commit flushes the WAL up to its own record, earlier
 * asynchronous commits of other connections included). A PostgreSQL URL shares only when it is the
 * very same string (the default); anything else keeps session writes synced themselves. */
static int audit_shares_store(const ccg_kbs_config *cfg)
{
    const char *store = cfg->store;
    struct stat a, b;
    if (strncmp(store, "sqlite:", 7) == 0) {
        store += 7;
    }
    if (cfg->audit == NULL || strcmp(store, cfg->audit) == 0 || strcmp(cfg->store, cfg->audit) == 0) {
        return 1;
    }
    if (kbs_location_is_postgres(cfg->store) || kbs_location_is_postgres(cfg->audit)) {
        return 0;
    }
    return stat(store, &a) == 0 && stat(cfg->audit, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

ccg_result ccg_kbs_new(const ccg_kbs_config *cfg, ccg_kbs_clock clock, void *clock_ctx, ccg_kbs **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_kbs *k = NULL;
    ccg_audit_options aopts = {.busy_timeout_ms = 0, .create = 1};
    ccg_store_options sopts = {0};
    static const char trust_domain[] = "ccgate-kbs/trust-material";
    EVP_MD_CTX *md = NULL;
    unsigned int md_len = 0;

    *out = NULL;
    k = calloc(1, sizeof(*k));
    CCG_ENSURE_ALLOC(k);
    CCG_ENSURE(pthread_mutex_init(&k->lock, NULL) == 0, CCG_R_INTERNAL_ERROR);
    k->clock = clock != NULL ? clock : wall_clock;
    k->clock_ctx = clock_ctx;
    k->nonce_ttl = cfg->nonce_ttl;
    k->token_ttl = cfg->token_ttl;
    k->allow_unlocked = cfg->allow_unlocked_memory;
    k->explain = cfg->explain;
    k->issuer = strdup(cfg->issuer != NULL ? cfg->issuer : "ccgate-kbs");
    CCG_ENSURE_ALLOC(k->issuer);
    if (cfg->attestation_policy != NULL) {
        k->attestation_policy = strdup(cfg->attestation_policy);
        CCG_ENSURE_ALLOC(k->attestation_policy);
    }
    k->keystore_cfg = json_incref(cfg->keystore);
    /* Uploaded collateral first (kbs_collateral.c), then the cache and KDS when configured. */
    ccg_snp_kds_config_init(&k->kds);
    k->kds.lookup = kbs_collateral_lookup;
    k->kds.lookup_ctx = k;
    k->kds_enabled = 1;
    if (cfg->collateral_dir != NULL) {
        k->kds_dir = strdup(cfg->collateral_dir);
        CCG_ENSURE_ALLOC(k->kds_dir);
        if (cfg->kds_url != NULL) {
            k->kds_url = strdup(cfg->kds_url);
            CCG_ENSURE_ALLOC(k->kds_url);
            k->kds.base_url = k->kds_url;
        }
        k->kds.cache_dir = k->kds_dir;
        k->kds.allow_fetch = cfg->collateral_fetch;
    }
    CCG_TRY(kbs_verifiers_new(KBS_VERIFIER_CACHE_SIZE, &k->verifiers));
    CCG_TRY(kbs_policies_new(KBS_POLICY_CACHE_SIZE, &k->policies));
    CCG_TRY(kbs_records_new(KBS_RECORD_CACHE_SLOTS, &k->records));
    CCG_TRY(kbs_gpu_new(&cfg->gpu, &k->gpu));
    CCG_TRY(kbs_tdx_new(&cfg->tdx, &k->tdx));
    kbs_tdx_set_lookup(k->tdx, kbs_collateral_lookup, k); /* uploaded TDX and GPU collateral first, as SNP's */
    kbs_gpu_set_lookup(k->gpu, kbs_collateral_lookup, k);
    k->decision_reuse = cfg->decision_reuse;
    CCG_TRY(kbs_attempts_new(cfg->attempts_per_session, cfg->attempts_per_address, cfg->attempts_window,
                             cfg->nonce_ttl > cfg->attempts_window ? cfg->nonce_ttl : cfg->attempts_window,
                             &k->attempts));
    CCG_TRY(ccg_refval_issuers_new(&k->issuers));
    /* The trust material: every reference-value issuer (ID and key file), then every TCB baseline
     * issuer and baseline, hashed in order. A decision is reused only in the epoch it was made in
     * (kbs_resource.c), so removing or replacing an issuer or a baseline and restarting ends the reuse
     * of every earlier decision. */
    md = EVP_MD_CTX_new();
    CCG_ENSURE_ALLOC(md);
    CCG_ENSURE_OSSL(EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_DigestUpdate(md, trust_domain, sizeof(trust_domain)) == 1, CCG_R_INTERNAL_CRYPTO);
    if (cfg->refval_issuers != NULL) {
        CCG_TRY(load_issuers(cfg->refval_issuers, k->issuers, md));
    }
    CCG_TRY(load_tcb_baselines(k, cfg, md));
    CCG_ENSURE_OSSL(EVP_DigestFinal_ex(md, k->trust_material, &md_len) == 1 && md_len == 32, CCG_R_INTERNAL_CRYPTO);
    CCG_TRY(kbs_admin_issuers_load(cfg, &k->admin_issuers));
    /* One store connection per server thread, so a thread reading a session never queues behind
     * another's commit; session writes are synced by the audit record that follows them when the
     * audit log shares the store's file (the default), and synced themselves otherwise. */
    sopts.connections = cfg->threads == 0 ? 4 : (cfg->threads > CCG_STORE_MAX_CONNECTIONS ? CCG_STORE_MAX_CONNECTIONS
                                                                                            : cfg->threads);
    if (cfg->store_connections > 0) { /* fewer (or more) than threads: a PostgreSQL server's budget */
        sopts.connections = cfg->store_connections;
    }
    sopts.relaxed_session_sync = audit_shares_store(cfg);
    CCG_TRY(ccg_store_open(cfg->store, &sopts, &k->store));
    CCG_TRY(ccg_audit_open(cfg->audit, &aopts, &k->audit));
    /* Owners kept by earlier brokers (subject only) go to the one issuer that may assert them. */
    CCG_TRY(kbs_admin_bind_legacy_owners(k));
    if (cfg->anonymous_audit_window > 0) {
        CCG_TRY(kbs_audit_agg_new((ccg_time)cfg->anonymous_audit_window, &k->audit_agg));
    }
    /* The keystore may be down at start: /readyz says so and every release fails closed. */
    {
        ccg_keystore *ks = NULL;
        if (ccg_failed(kbs_keystore(k, &ks))) {
            ccg_error_clear();
        }
    }
    *out = k;
    k = NULL;
    result = CCG_SUCCESS;
cleanup:
    EVP_MD_CTX_free(md);
    ccg_kbs_free(k);
    return result;
}

void ccg_kbs_free(ccg_kbs *k)
{
    if (k == NULL) {
        return;
    }
    EVP_PKEY_free(k->token_key);
    json_decref(k->token_jwk);
    ccg_keystore_close(k->ks);
    json_decref(k->keystore_cfg);
    ccg_refval_issuers_free(k->issuers);
    ccg_refval_issuers_free(k->tcb_issuers);
    ccg_snp_tcb_baselines_free(&k->tcb_baselines);
    kbs_verifiers_free(k->verifiers);
    kbs_policies_free(k->policies);
    kbs_records_free(k->records);
    kbs_gpu_free(k->gpu);
    kbs_tdx_free(k->tdx);
    kbs_admin_issuers_free(k->admin_issuers);
    kbs_attempts_free(k->attempts);
    free(k->kds_dir);
    free(k->kds_url);
    /* Pending summaries of anonymous denials are written, not lost with the process. */
    if (k->audit != NULL && ccg_failed(kbs_audit_flush(k, kbs_now(k), 1))) {
        ccg_error_clear();
    }
    kbs_audit_agg_free(k->audit_agg);
    ccg_audit_close(k->audit);
    ccg_store_close(k->store);
    free(k->issuer);
    free(k->attestation_policy);
    pthread_mutex_destroy(&k->lock);
    free(k);
}

ccg_result kbs_databases_ready(ccg_kbs *k)
{
    ccg_result result = CCG_FAILURE;
    int64_t version = 0, seq = 0;
    char hash[CCG_AUDIT_HASH_HEX];
    CCG_TRY(ccg_store_schema_version(k->store, &version));
    CCG_TRY(ccg_audit_head(k->audit, &seq, hash));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result kbs_keystore(ccg_kbs *k, ccg_keystore **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_keystore_config kc;
    int locked = 0;
    memset(&kc, 0, sizeof(kc));
    *out = NULL;
    CCG_ENSURE(pthread_mutex_lock(&k->lock) == 0, CCG_R_INTERNAL_ERROR);
    locked = 1;
    if (k->ks == NULL) {
        CCG_TRY(ccg_keystore_config_from_json(k->keystore_cfg, &kc));
        if (k->allow_unlocked) {
            kc.allow_unlocked_memory = 1;
        }
        CCG_TRY(ccg_keystore_open(&kc, &k->ks));
    }
    *out = k->ks;
    result = CCG_SUCCESS;
cleanup:
    if (locked) {
        pthread_mutex_unlock(&k->lock);
    }
    ccg_keystore_config_free(&kc);
    return result;
}

void kbs_evaluate_gpus(ccg_kbs *k, const ccg_kbs_policy *p, const char *session_id, const char *nonce,
                       const ccg_jwk *tee_pubkey, const char *additional_evidence, ccg_time now, ccg_decision *d)
{
    /* The reports are recorded as this session's only when the CPU evidence that binds them (REPORT_DATA
     * covers additional_evidence) verified: nobody can spend a GPU report he cannot bind. */
    kbs_gpu_binding b = {.nonce = nonce,
                         .tee_pubkey = tee_pubkey,
                         .additional_evidence = additional_evidence,
                         .session_id = session_id,
                         .record = session_id != NULL && d->allow};
    kbs_gpu_evaluate(k->gpu, k->store, p, &b, now, d);
}

/* The newest version of a reference-value set, parsed; an absent set leaves *set NULL (the verifier
 * denies with refval.set_missing), any other failure is returned as the reason to name. */
static ccg_reason load_refvals(ccg_kbs *k, const char *set_id, ccg_store_doc *doc, ccg_refval_set **set)
{
    ccg_reason failure = CCG_R_OK;
    if (ccg_ok(ccg_store_refval_get(k->store, set_id, 0, doc)) &&
        ccg_ok(ccg_refval_set_parse((const char *)doc->body, doc->len, set))) {
        return CCG_R_OK;
    }
    if (ccg_error_reason() != CCG_R_REFVAL_SET_MISSING) {
        failure = ccg_error_reason();
    }
    ccg_error_clear();
    return failure;
}

/* A "tdx" session: the TDX verifier with the broker's collateral, then the GPUs. Its allow decision
 * is never reused at /resource (no collateral digest is recorded): every release appraises the quote
 * again (docs/kbs.md, "TDX"). */
static void evaluate_tdx(ccg_kbs *k, const ccg_kbs_policy *p, const ccg_kbs_tdx_evidence *ev, const char *session_id,
                         const char *nonce, const ccg_jwk *tee_pubkey, const char *additional_evidence, ccg_time now,
                         ccg_decision *out, kbs_appraisal *info)
{
    ccg_store_doc doc;
    ccg_refval_set *set = NULL;
    ccg_reason load_failure = CCG_R_OK;
    memset(&doc, 0, sizeof(doc));
    if (p->tdx != NULL && p->tdx->has_refval_set) {
        load_failure = load_refvals(k, p->tdx->refval_set_id, &doc, &set);
    }
    kbs_tdx_evaluate(k->tdx, p, ev, nonce, tee_pubkey, additional_evidence, set, k->issuers, now, out);
    if (load_failure != CCG_R_OK) {
        ccg_decision_deny(out, load_failure, json_pack("{s:s}", "set_id", p->tdx->refval_set_id));
    }
    kbs_evaluate_gpus(k, p, session_id, nonce, tee_pubkey, additional_evidence, now, out);
    if (info != NULL) {
        memset(info, 0, sizeof(*info));
        info->refval_version = set != NULL ? set->version : 0;
    }
    ccg_refval_set_free(set);
    ccg_store_doc_free(&doc);
}

void kbs_evaluate(ccg_kbs *k, const ccg_kbs_policy *p, const char *tee, const ccg_kbs_snp_evidence *ev,
                  const ccg_kbs_tdx_evidence *tdx, const char *session_id, const char *nonce,
                  const ccg_jwk *tee_pubkey, const char *additional_evidence, ccg_time now, ccg_decision *d,
                  kbs_appraisal *info)
{
    ccg_store_doc doc;
    ccg_refval_set *set = NULL;
    ccg_snp_verify_opts opts = {
        .refvals = NULL, .issuers = k->issuers, .tcb_baselines = &k->tcb_baselines, .tcb_issuers = k->tcb_issuers};
    ccg_reason load_failure = CCG_R_OK;
    kbs_basis basis;
    ccg_time until;
    if (strcmp(tee, "tdx") == 0) {
        evaluate_tdx(k, p, tdx, session_id, nonce, tee_pubkey, additional_evidence, now, d, info);
        return;
    }
    memset(&doc, 0, sizeof(doc));
    memset(&basis, 0, sizeof(basis));
    if (p->snp->has_refval_set) {
        /* A set that is absent stays NULL: the verifier denies with refval.set_missing. */
        load_failure = load_refvals(k, p->snp->refval_set_id, &doc, &set);
        opts.refvals = set;
    }
    if (ccg_failed(kbs_policy_evaluate_cached(k->verifiers, p, tee, ev, nonce, tee_pubkey, additional_evidence,
                                              &opts, k->kds_enabled ? &k->kds : NULL, now, d, &basis))) {
        ccg_error_clear(); /* recorded in d */
    }
    until = basis.valid_until;
    if (load_failure != CCG_R_OK) {
        /* A damaged set or an unreachable store: named, not hidden behind refval.set_missing. */
        ccg_decision_deny(d, load_failure, json_pack("{s:s}", "set_id", p->snp->refval_set_id));
    }
    /* The GPUs, after the CPU: their reasons join the decision's. */
    kbs_evaluate_gpus(k, p, session_id, nonce, tee_pubkey, additional_evidence, now, d);
    if (info != NULL) {
        /* Conservative: the earliest expiry of any record of the set, not only of the matching one. */
        for (size_t i = 0; set != NULL && i < set->count; i++) {
            until = set->records[i].not_after < until ? set->records[i].not_after : until;
        }
        /* ... and of the TCB baselines: the status it rested on holds no longer than they do. */
        ccg_time baselines_until = ccg_snp_tcb_baselines_valid_until(&k->tcb_baselines);
        until = baselines_until < until ? baselines_until : until;
        memset(info, 0, sizeof(*info));
        info->refval_version = set != NULL ? set->version : 0;
        if (d->allow && basis.has_collateral && ccg_ok(kbs_trust_epoch(k->trust_material, p, info->trust_epoch))) {
            ccg_hex_encode(basis.collateral, sizeof(basis.collateral), info->collateral);
            info->valid_until = until;
        } else {
            ccg_error_clear(); /* not reusable: the next release appraises again */
        }
    }
    ccg_refval_set_free(set);
    ccg_store_doc_free(&doc);
}

ccg_result kbs_refval_version(ccg_kbs *k, const char *set_id, int64_t *version)
{
    ccg_result result = CCG_FAILURE;
    int64_t *versions = NULL;
    size_t n = 0;
    *version = 0;
    CCG_TRY(ccg_store_doc_versions(k->store, CCG_DOC_REFVAL_SET, set_id, &versions, &n));
    CCG_ENSURE(n > 0, CCG_R_REFVAL_SET_MISSING);
    for (size_t i = 0; i < n; i++) {
        *version = versions[i] > *version ? versions[i] : *version;
    }
    result = CCG_SUCCESS;
cleanup:
    free(versions);
    return result;
}

/* ---------------------------------------------------------------- provisioning */

ccg_result ccg_kbs_key_aad(const char *key_id, int64_t version, uint8_t **aad, size_t *aad_len)
{
    ccg_result result = CCG_FAILURE;
    static const char prefix[] = "ccgate-kbs/key";
    char ver[24];
    size_t id_len = strlen(key_id), n;
    int vl = snprintf(ver, sizeof(ver), "%lld", (long long)version);
    *aad = NULL;
    CCG_ENSURE(vl > 0 && id_len <= CCG_STORE_ID_MAX, CCG_R_INPUT_MALFORMED);
    n = sizeof(prefix) + id_len + 1 + (size_t)vl;
    *aad = malloc(n);
    CCG_ENSURE_ALLOC(*aad);
    memcpy(*aad, prefix, sizeof(prefix)); /* with its NUL */
    memcpy(*aad + sizeof(prefix), key_id, id_len + 1);
    memcpy(*aad + sizeof(prefix) + id_len + 1, ver, (size_t)vl);
    *aad_len = n;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_kbs_import_key(ccg_kbs *k, const char *key_id, const char *policy_id, const ccg_secbuf *key)
{
    ccg_result result = CCG_FAILURE;
    ccg_keystore *ks = NULL;
    uint8_t *aad = NULL, *wrapped = NULL;
    size_t aad_len = 0, wrapped_len = 0;
    ccg_store_key_spec spec;
    CCG_TRY(kbs_keystore(k, &ks));
    CCG_TRY(ccg_kbs_key_aad(key_id, 1, &aad, &aad_len));
    CCG_TRY(ccg_keystore_wrap(ks, NULL, key, aad, aad_len, &wrapped, &wrapped_len));
    memset(&spec, 0, sizeof(spec));
    spec.key_id = key_id;
    spec.version = 1;
    spec.wrapped = wrapped;
    spec.wrapped_len = wrapped_len;
    spec.kek_label = ccg_keystore_kek_label(ks);
    spec.policy_id = policy_id;
    CCG_TRY(ccg_store_key_import(k->store, &spec, kbs_now(k)));
    result = CCG_SUCCESS;
cleanup:
    free(aad);
    free(wrapped);
    return result;
}

ccg_result kbs_rotate_key_to(ccg_kbs *k, const char *key_id, int64_t version, const ccg_secbuf *key)
{
    ccg_result result = CCG_FAILURE;
    ccg_keystore *ks = NULL;
    uint8_t *aad = NULL, *wrapped = NULL;
    size_t aad_len = 0, wrapped_len = 0;
    ccg_store_key_spec spec;
    CCG_TRY(kbs_keystore(k, &ks));
    CCG_TRY(ccg_kbs_key_aad(key_id, version, &aad, &aad_len));
    CCG_TRY(ccg_keystore_wrap(ks, NULL, key, aad, aad_len, &wrapped, &wrapped_len));
    memset(&spec, 0, sizeof(spec));
    spec.key_id = key_id;
    spec.version = version;
    spec.wrapped = wrapped;
    spec.wrapped_len = wrapped_len;
    spec.kek_label = ccg_keystore_kek_label(ks);
    spec.policy_id = NULL; /* keeps the key's policy */
    /* store.conflict when the key moved past version - 1 meanwhile (a concurrent rotation). */
    CCG_TRY(ccg_store_key_rotate(k->store, &spec, kbs_now(k)));
    result = CCG_SUCCESS;
cleanup:
    free(aad);
    free(wrapped);
    return result;
}

ccg_result ccg_kbs_rotate_key(ccg_kbs *k, const char *key_id, const ccg_secbuf *key, int64_t *version)
{
    ccg_result result = CCG_FAILURE;
    ccg_store_key live;
    memset(&live, 0, sizeof(live));
    CCG_TRY(ccg_store_key_get(k->store, key_id, 0, &live));
    CCG_TRY(kbs_rotate_key_to(k, key_id, live.version + 1, key));
    if (version != NULL) {
        *version = live.version + 1;
    }
    result = CCG_SUCCESS;
cleanup:
    ccg_store_key_free(&live);
    return result;
}

ccg_result ccg_kbs_set_policy(ccg_kbs *k, const char *json_text, size_t len)
{
    ccg_result result = CCG_FAILURE;
    ccg_kbs_policy *p = NULL;
    char *copy = NULL;
    CCG_TRY(ccg_kbs_policy_parse(json_text, len, &p));
    copy = strndup(json_text, len);
    CCG_ENSURE_ALLOC(copy);
    CCG_TRY(ccg_store_policy_put(k->store, p->policy_id, p->version, copy, kbs_now(k)));
    result = CCG_SUCCESS;
cleanup:
    free(copy);
    ccg_kbs_policy_free(p);
    return result;
}

ccg_result ccg_kbs_set_key_state(ccg_kbs *k, const char *key_id, const char *state)
{
    ccg_result result = CCG_FAILURE;
    ccg_store_key key;
    ccg_key_state to;
    memset(&key, 0, sizeof(key));
    CCG_TRY(ccg_key_state_parse(state, &to));
    CCG_TRY(ccg_store_key_get(k->store, key_id, 0, &key));
    CCG_TRY(ccg_store_key_set_state(k->store, key_id, key.version, to, kbs_now(k)));
    result = CCG_SUCCESS;
cleanup:
    ccg_store_key_free(&key);
    return result;
}
