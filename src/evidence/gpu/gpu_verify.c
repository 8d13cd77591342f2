/* The GPU verifier: parse, chain, arch, FWID, signature, nonce; every failed check is a reason. */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/x509util.h"
#include "gpu_internal.h"

const char *ccg_gpu_check_name(ccg_gpu_check c)
{
    switch (c) {
    case CCG_GPU_CHECK_PASSED: return "passed";
    case CCG_GPU_CHECK_FAILED: return "failed";
    case CCG_GPU_CHECK_NOT_IN_REPORT: return "not_in_report";
    default: return "not_done";
    }
}

/* Loads the pinned root, refusing to start if its bytes are not the pinned digest. */
static ccg_result load_pinned(ccg_gpu_verifier *v)
{
    ccg_result result = CCG_FAILURE;
    BIO *bio = BIO_new_mem_buf(gpu_pinned_root_pem, -1);
    uint8_t digest[32];
    char hex[65];
    CCG_ENSURE_ALLOC(bio);
    v->pinned_root = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    CCG_ENSURE_OSSL(v->pinned_root != NULL, CCG_R_INTERNAL_CRYPTO);
    CCG_TRY(ccg_x509_sha256(v->pinned_root, digest));
    ccg_hex_encode(digest, sizeof(digest), hex);
    CCG_ENSURE_MSG(strcmp(hex, gpu_pinned_root_sha256) == 0, CCG_R_INTERNAL_ERROR,
                   "the pinned NVIDIA root does not match its pinned digest");
    CCG_ENSURE_OSSL(X509_STORE_add_cert(v->store, v->pinned_root) == 1, CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    BIO_free(bio);
    return result;
}

ccg_result ccg_gpu_verifier_new(ccg_gpu_verifier **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_gpu_verifier *v = calloc(1, sizeof(*v));
    CCG_ENSURE_ALLOC(v);
    gpu_chain_cache_init(&v->cache);
    v->store = X509_STORE_new();
    CCG_ENSURE_ALLOC(v->store);
    CCG_TRY(load_pinned(v));
    *out = v;
    v = NULL;
    result = CCG_SUCCESS;
cleanup:
    ccg_gpu_verifier_free(v);
    return result;
}

void ccg_gpu_verifier_free(ccg_gpu_verifier *v)
{
    if (v == NULL) {
        return;
    }
    gpu_chain_cache_free(&v->cache);
    X509_STORE_free(v->store);
    X509_free(v->pinned_root);
    free(v);
}

ccg_result ccg_gpu_verifier_add_test_root(ccg_gpu_verifier *v, X509 *root)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(ccg_x509_is_self_issued(root) && X509_verify(root, X509_get0_pubkey(root)) == 1,
                   CCG_R_GPU_UNTRUSTED_ROOT, "an added root must be self-signed");
    CCG_ENSURE_OSSL(X509_STORE_add_cert(v->store, root) == 1, CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    ERR_clear_error();
    return result;
}

static void set_digest(ccg_decision *d, const uint8_t *report, size_t len)
{
    uint8_t digest[48];
    unsigned int n = 0;
    if (EVP_Digest(report, len, digest, &n, EVP_sha384(), NULL) == 1 && n == sizeof(digest)) {
        memcpy(d->evidence_digest, "sha384:", 7);
        ccg_hex_encode(digest, sizeof(digest), d->evidence_digest + 7);
    }
}

/* Chain facts from the cache, or verified (and cached when every link verified). */
static ccg_result chain_facts(ccg_gpu_verifier *v, const uint8_t *pem, size_t len, ccg_time now,
                              gpu_chain_facts *facts, ccg_decision *d)
{
    ccg_result result = CCG_FAILURE;
    uint8_t key[32];
    unsigned int n = 0;
    size_t before = d->reasons.count;
    CCG_ENSURE_OSSL(EVP_Digest(pem, len, key, &n, EVP_sha256(), NULL) == 1 && n == sizeof(key),
                    CCG_R_INTERNAL_CRYPTO);
    if (gpu_chain_cache_get(&v->cache, key, now, facts)) {
        result = CCG_SUCCESS;
        goto cleanup;
    }
    CCG_TRY(gpu_chain_verify(v, pem, len, now, facts, d));
    if (facts->chain_ok && d->reasons.count == before) {
        gpu_chain_cache_put(&v->cache, key, facts);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static json_t *hex_json(const uint8_t *p, size_t n)
{
    char *hex = ccg_hex_alloc(p, n);
    json_t *s = json_string(hex != NULL ? hex : "");
    free(hex);
    return s;
}

/* The evidence's declared architecture against the chain's. */
static void check_arch(const ccg_gpu_verify_opts *opts, ccg_gpu_result *res, ccg_decision *d)
{
    ccg_gpu_arch declared = opts != NULL ? opts->declared_arch : CCG_GPU_ARCH_UNKNOWN;
    if (declared == CCG_GPU_ARCH_UNKNOWN) {
        return;
    }
    if (res->arch == CCG_GPU_ARCH_UNKNOWN) {
        res->arch = declared;
        return;
    }
    res->arch_check = declared == res->arch ? CCG_GPU_CHECK_PASSED : CCG_GPU_CHECK_FAILED;
    if (res->arch_check == CCG_GPU_CHECK_FAILED) {
        ccg_decision_deny(d, CCG_R_GPU_ARCH_MISMATCH, json_pack("{s:s, s:s}", "declared", ccg_gpu_arch_name(declared),
                                                                "chain", ccg_gpu_arch_name(res->arch)));
    }
}

static void check_fwid(const ccg_gpu_verify_opts *opts, ccg_gpu_result *res, ccg_decision *d)
{
    const ccg_gpu_report *r = &res->report;
    if (!r->has_fwid) {
        res->fwid = CCG_GPU_CHECK_NOT_IN_REPORT;
        if (opts != NULL && opts->require_fwid) {
            res->fwid = CCG_GPU_CHECK_FAILED;
            ccg_decision_deny(d, CCG_R_GPU_FWID_MISSING, json_pack("{s:s}", "detail", "the report has no FWID field"));
        }
        return;
    }
    if (!res->has_leaf_fwid) {
        res->fwid = CCG_GPU_CHECK_FAILED;
        ccg_decision_deny(d, CCG_R_GPU_FWID_MISMATCH,
                          json_pack("{s:s, s:o}", "detail", "the leaf certificate carries no readable FWID",
                                    "report_fwid", hex_json(r->fwid, sizeof(r->fwid))));
        return;
    }
    res->fwid = ccg_memeq_ct(r->fwid, res->leaf_fwid, CCG_GPU_FWID_SIZE) ? CCG_GPU_CHECK_PASSED : CCG_GPU_CHECK_FAILED;
    if (res->fwid == CCG_GPU_CHECK_FAILED) {
        ccg_decision_deny(d, CCG_R_GPU_FWID_MISMATCH,
                          json_pack("{s:o, s:o}", "report_fwid", hex_json(r->fwid, sizeof(r->fwid)), "leaf_fwid",
                                    hex_json(res->leaf_fwid, sizeof(res->leaf_fwid))));
    }
}

static void check_signature(EVP_PKEY *key, const uint8_t *report, ccg_gpu_result *res, ccg_decision *d)
{
    if (key == NULL) {
        return; /* no usable leaf: the chain check already refused it */
    }
    int ok = gpu_signature_verify(key, report, &res->report);
    res->signature = ok == 1 ? CCG_GPU_CHECK_PASSED : CCG_GPU_CHECK_FAILED;
    if (ok != 1) {
        ccg_decision_deny(d, ok == 0 ? CCG_R_GPU_SIGNATURE_INVALID : CCG_R_INTERNAL_CRYPTO,
                          json_pack("{s:I}", "signed_bytes", (json_int_t)res->report.signed_len));
    }
}

/* The signed request nonce against the expected one, else the alternative (a second binding the caller
 * accepts); res->nonce_alt says which matched. A mismatch names the expected nonce only. */
static void check_nonce(const ccg_gpu_verify_opts *opts, ccg_gpu_result *res, ccg_decision *d)
{
    if (opts == NULL || opts->expected_nonce == NULL) {
        res->nonce = CCG_GPU_CHECK_NOT_DONE;
        return;
    }
    int primary = ccg_memeq_ct(opts->expected_nonce, res->report.nonce, CCG_GPU_NONCE_SIZE);
    int alt = opts->alt_expected_nonce != NULL &&
              ccg_memeq_ct(opts->alt_expected_nonce, res->report.nonce, CCG_GPU_NONCE_SIZE);
    res->nonce = primary || alt ? CCG_GPU_CHECK_PASSED : CCG_GPU_CHECK_FAILED;
    res->nonce_alt = !primary && alt;
    if (res->nonce == CCG_GPU_CHECK_FAILED) {
        ccg_decision_deny(d, CCG_R_GPU_NONCE_MISMATCH,
                          json_pack("{s:o, s:o}", "expected", hex_json(opts->expected_nonce, CCG_GPU_NONCE_SIZE),
                                    "report", hex_json(res->report.nonce, CCG_GPU_NONCE_SIZE)));
    }
}

static void take_facts(const gpu_chain_facts *f, ccg_gpu_result *res)
{
    res->arch = f->arch;
    memcpy(res->ueid, f->ueid, sizeof(res->ueid));
    memcpy(res->hwmodel, f->hwmodel, sizeof(res->hwmodel));
    memcpy(res->root, f->root, sizeof(res->root));
    res->has_leaf_fwid = f->has_leaf_fwid;
    memcpy(res->leaf_fwid, f->leaf_fwid, sizeof(res->leaf_fwid));
    res->chain_not_before = f->not_before;
    res->chain_not_after = f->not_after;
    res->chain = f->chain_ok ? CCG_GPU_CHECK_PASSED : CCG_GPU_CHECK_FAILED;
}

ccg_result ccg_gpu_verify(ccg_gpu_verifier *v, const uint8_t *report, size_t report_len, const uint8_t *chain_pem,
                          size_t chain_len, const ccg_gpu_verify_opts *opts, ccg_time now, ccg_gpu_result *res,
                          ccg_decision *d)
{
    ccg_result result = CCG_FAILURE;
    gpu_chain_facts facts;
    memset(&facts, 0, sizeof(facts));
    memset(res, 0, sizeof(*res));
    ccg_decision_init(d, "gpu");
    set_digest(d, report, report_len);
    if (ccg_failed(ccg_gpu_report_parse(report, report_len, &res->report))) {
        ccg_decision_deny_last_error(d);
        goto cleanup;
    }
    res->parsed = 1;
    if (ccg_failed(chain_facts(v, chain_pem, chain_len, now, &facts, d))) {
        ccg_decision_deny_last_error(d);
        goto cleanup;
    }
    take_facts(&facts, res);
    check_arch(opts, res, d);
    check_fwid(opts, res, d);
    check_signature(facts.leaf_key, report, res, d);
    check_nonce(opts, res, d);
    d->allow = d->reasons.count == 0;
    result = CCG_SUCCESS;
cleanup:
    gpu_chain_facts_clear(&facts);
    return result;
}
