/* OCSP status of NVIDIA certificates: the cache, then the responder; each response verified with
 * OCSP_basic_verify against the issuer (directly or through a delegated OCSP signer that chains to
 * the trust anchor) at `now`, never the wall clock. */
#include <errno.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ccgate/x509util.h"
#include "gpu_ocsp_internal.h"

const char *ccg_gpu_ocsp_status_name(ccg_gpu_ocsp_status s)
{
    switch (s) {
    case CCG_GPU_OCSP_GOOD: return "good";
    case CCG_GPU_OCSP_HOLD: return "hold";
    case CCG_GPU_OCSP_REVOKED: return "revoked";
    default: return "unknown";
    }
}

static ccg_result serial_hex(X509 *cert, char *out, size_t len)
{
    ccg_result result = CCG_FAILURE;
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
    char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
    CCG_ENSURE_OSSL(hex != NULL, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE(strlen(hex) < len, CCG_R_GPU_OCSP_RESPONSE_INVALID);
    snprintf(out, len, "%s", hex);
    result = CCG_SUCCESS;
cleanup:
    OPENSSL_free(hex);
    BN_free(bn);
    return result;
}

ccg_result ccg_gpu_ocsp_cache_name(X509 *cert, X509 *issuer, char out[CCG_GPU_OCSP_CACHE_NAME_MAX])
{
    ccg_result result = CCG_FAILURE;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    char key_hex[2 * 20 + 1], serial[80];
    CCG_ENSURE_OSSL(X509_pubkey_digest(issuer, EVP_sha1(), md, &md_len) == 1 && md_len == 20, CCG_R_INTERNAL_CRYPTO);
    ccg_hex_encode(md, md_len, key_hex);
    CCG_TRY(serial_hex(cert, serial, sizeof(serial)));
    snprintf(out, CCG_GPU_OCSP_CACHE_NAME_MAX, "%s-%s.der", key_hex, serial);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The cached response, or NULL (and success) when the cache has none. */
/* The stored response's bytes: uploaded (cfg->lookup, "gpu/ocsp/<cache name without .der>") first,
 * then the cache directory. *found 0: neither has one. where names the source for messages. */
static ccg_result stored_bytes(const ccg_gpu_ocsp_config *cfg, X509 *cert, X509 *issuer, uint8_t **der, size_t *len,
                               char *where, size_t where_len, int *found)
{
    ccg_result result = CCG_FAILURE;
    char name[CCG_GPU_OCSP_CACHE_NAME_MAX];
    struct stat st;
    *found = 0;
    if (cfg->lookup == NULL && cfg->cache_dir == NULL) {
        result = CCG_SUCCESS;
        goto cleanup;
    }
    CCG_TRY(ccg_gpu_ocsp_cache_name(cert, issuer, name));
    if (cfg->lookup != NULL) {
        snprintf(where, where_len, "gpu/ocsp/%.*s", (int)(strlen(name) - 4), name);
        CCG_TRY(cfg->lookup(cfg->lookup_ctx, where, der, len, found));
        CCG_ENSURE_MSG(!*found || *len <= CCG_GPU_OCSP_MAX_RESPONSE, CCG_R_GPU_OCSP_RESPONSE_INVALID,
                       "the uploaded OCSP response %s is too large", where);
    }
    if (*found || cfg->cache_dir == NULL) {
        result = CCG_SUCCESS;
        goto cleanup;
    }
    int n = snprintf(where, where_len, "%s/%s", cfg->cache_dir, name);
    CCG_ENSURE_MSG(n > 0 && (size_t)n < where_len, CCG_R_GPU_OCSP_UNAVAILABLE, "the OCSP cache path is too long");
    if (stat(where, &st) != 0) {
        CCG_ENSURE_MSG(errno == ENOENT || errno == ENOTDIR, CCG_R_GPU_OCSP_UNAVAILABLE, "cannot stat %s: %s", where,
                       strerror(errno));
        result = CCG_SUCCESS;
        goto cleanup;
    }
    if (ccg_failed(ccg_file_read(where, CCG_GPU_OCSP_MAX_RESPONSE, der, len))) {
        ccg_error_clear(); /* the first error wins: replace the file error by the OCSP code */
        CCG_BAIL(CCG_R_GPU_OCSP_RESPONSE_INVALID, "cannot read the cached OCSP response %s (or it is too large)",
                 where);
    }
    *found = 1;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result read_cached(const ccg_gpu_ocsp_config *cfg, X509 *cert, X509 *issuer, OCSP_RESPONSE **out)
{
    ccg_result result = CCG_FAILURE;
    char where[4096];
    uint8_t *der = NULL;
    size_t len = 0;
    int found = 0;
    *out = NULL;
    CCG_TRY(stored_bytes(cfg, cert, issuer, &der, &len, where, sizeof(where), &found));
    if (!found) {
        result = CCG_SUCCESS;
        goto cleanup;
    }
    const unsigned char *p = der;
    *out = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
    CCG_ENSURE_MSG(*out != NULL && p == der + len, CCG_R_GPU_OCSP_RESPONSE_INVALID,
                   "the cached OCSP response %s is not one DER OCSPResponse", where);
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        OCSP_RESPONSE_free(*out);
        *out = NULL;
    }
    ERR_clear_error();
    free(der);
    return result;
}

/* The basic response, signed by the issuer or a delegated OCSP signer chaining to the anchor. */
static ccg_result verified_basic(OCSP_RESPONSE *resp, STACK_OF(X509) *chain_above, ccg_time now,
                                 OCSP_BASICRESP **out)
{
    ccg_result result = CCG_FAILURE;
    X509_STORE *store = X509_STORE_new();
    int status = OCSP_response_status(resp);
    *out = NULL;
    CCG_ENSURE_ALLOC(store);
    CCG_ENSURE_MSG(status != OCSP_RESPONSE_STATUS_TRYLATER && status != OCSP_RESPONSE_STATUS_INTERNALERROR,
                   CCG_R_GPU_OCSP_UNAVAILABLE, "the OCSP responder answered %s", OCSP_response_status_str(status));
    CCG_ENSURE_MSG(status == OCSP_RESPONSE_STATUS_SUCCESSFUL, CCG_R_GPU_OCSP_RESPONSE_INVALID,
                   "the OCSP response status is %s", OCSP_response_status_str(status));
    *out = OCSP_response_get1_basic(resp);
    CCG_ENSURE_MSG(*out != NULL, CCG_R_GPU_OCSP_RESPONSE_INVALID, "the OCSP response is not a basic response");
    /* Trust: the chain's anchor only; the issuer and the rest are candidates, and the signer must be the
     * issuer itself or carry id-kp-OCSPSigning from it (OpenSSL's checks, no OCSP_NOCHECKS). */
    X509 *anchor = sk_X509_value(chain_above, sk_X509_num(chain_above) - 1);
    CCG_ENSURE_OSSL(X509_STORE_add_cert(store, anchor) == 1, CCG_R_INTERNAL_CRYPTO);
    X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(store), (time_t)now);
    int ok = OCSP_basic_verify(*out, chain_above, store, 0);
    CCG_ENSURE_MSG(ok == 1, CCG_R_GPU_OCSP_RESPONSE_INVALID,
                   "the OCSP response is not signed by the issuer or its delegated OCSP signer");
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        OCSP_BASICRESP_free(*out);
        *out = NULL;
    }
    ERR_clear_error();
    X509_STORE_free(store);
    return result;
}

/* The single response about cert (a SHA-1 or SHA-256 CertID). */
static ccg_result find_status(OCSP_BASICRESP *bs, X509 *cert, X509 *issuer, int *status, int *reason,
                              ASN1_GENERALIZEDTIME **rev, ASN1_GENERALIZEDTIME **this_upd,
                              ASN1_GENERALIZEDTIME **next_upd)
{
    ccg_result result = CCG_FAILURE;
    const EVP_MD *mds[] = {EVP_sha1(), EVP_sha256(), EVP_sha384()};
    int found = 0;
    for (size_t i = 0; i < sizeof(mds) / sizeof(mds[0]) && !found; i++) {
        OCSP_CERTID *id = OCSP_cert_to_id(mds[i], cert, issuer);
        CCG_ENSURE_OSSL(id != NULL, CCG_R_INTERNAL_CRYPTO);
        found = OCSP_resp_find_status(bs, id, status, reason, rev, this_upd, next_upd) == 1;
        OCSP_CERTID_free(id);
    }
    CCG_ENSURE_MSG(found, CCG_R_GPU_OCSP_RESPONSE_INVALID, "the OCSP response says nothing about this certificate");
    result = CCG_SUCCESS;
cleanup:
    ERR_clear_error();
    return result;
}

static ccg_result read_times(ASN1_GENERALIZEDTIME *this_upd, ASN1_GENERALIZEDTIME *next_upd,
                             ASN1_GENERALIZEDTIME *rev, ccg_gpu_ocsp_result *out)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(this_upd != NULL, CCG_R_GPU_OCSP_RESPONSE_INVALID, "the OCSP response has no thisUpdate");
    CCG_TRY(ccg_x509_time(this_upd, &out->this_update));
    if (next_upd != NULL) {
        CCG_TRY(ccg_x509_time(next_upd, &out->next_update));
    }
    if (rev != NULL) {
        CCG_TRY(ccg_x509_time(rev, &out->revoked_at));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result check_fresh(const ccg_gpu_ocsp_config *cfg, const ccg_gpu_ocsp_result *r, ccg_time now)
{
    ccg_result result = CCG_FAILURE;
    ccg_time skew = cfg->skew_s > 0 ? cfg->skew_s : CCG_GPU_OCSP_DEFAULT_SKEW_S;
    ccg_time max_age = cfg->max_age_s > 0 ? cfg->max_age_s : CCG_GPU_OCSP_DEFAULT_MAX_AGE_S;
    CCG_ENSURE_MSG(r->this_update <= now + skew, CCG_R_GPU_OCSP_RESPONSE_STALE,
                   "the OCSP response's thisUpdate is in the future");
    if (r->next_update != 0) {
        CCG_ENSURE_MSG(now <= r->next_update + skew, CCG_R_GPU_OCSP_RESPONSE_STALE,
                       "the OCSP response expired (nextUpdate passed)");
    } else {
        CCG_ENSURE_MSG(now - r->this_update <= max_age, CCG_R_GPU_OCSP_RESPONSE_STALE,
                       "the OCSP response has no nextUpdate and is older than %lld s", (long long)max_age);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Turns a verified status into the decision: revoked is final even in an out-of-date response (a
 * revocation is never undone, except a hold); good, hold and unknown count only while fresh. */
static ccg_result decide(const ccg_gpu_ocsp_config *cfg, const ccg_gpu_ocsp_result *r, ccg_time now)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(r->status != CCG_GPU_OCSP_REVOKED, CCG_R_GPU_CERT_REVOKED, "%s (serial %s) is revoked (reason %d)",
                   r->subject, r->serial, r->reason);
    CCG_TRY(check_fresh(cfg, r, now));
    CCG_ENSURE_MSG(r->status != CCG_GPU_OCSP_UNKNOWN, CCG_R_GPU_OCSP_STATUS_UNKNOWN,
                   "the OCSP responder does not know %s (serial %s)", r->subject, r->serial);
    CCG_ENSURE_MSG(r->status != CCG_GPU_OCSP_HOLD || cfg->allow_hold, CCG_R_GPU_CERT_ON_HOLD,
                   "%s (serial %s) is on hold and the policy does not allow held certificates", r->subject, r->serial);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_gpu_ocsp_status map_status(int status, int reason)
{
    if (status == V_OCSP_CERTSTATUS_GOOD) {
        return CCG_GPU_OCSP_GOOD;
    }
    if (status == V_OCSP_CERTSTATUS_REVOKED) {
        return reason == OCSP_REVOKED_STATUS_CERTIFICATEHOLD ? CCG_GPU_OCSP_HOLD : CCG_GPU_OCSP_REVOKED;
    }
    return CCG_GPU_OCSP_UNKNOWN;
}

/* Verifies resp (and, for a live one, the nonce of req) and fills out. */
static ccg_result evaluate(OCSP_RESPONSE *resp, OCSP_REQUEST *req, X509 *cert, STACK_OF(X509) *chain_above,
                           ccg_time now, ccg_gpu_ocsp_result *out)
{
    ccg_result result = CCG_FAILURE;
    OCSP_BASICRESP *bs = NULL;
    X509 *issuer = sk_X509_value(chain_above, 0);
    int status = -1, reason = -1;
    ASN1_GENERALIZEDTIME *rev = NULL, *this_upd = NULL, *next_upd = NULL;
    CCG_TRY(verified_basic(resp, chain_above, now, &bs));
    if (req != NULL) {
        /* 1: both carry the same nonce. Absent, different or only in one of them is refused. */
        CCG_ENSURE_MSG(OCSP_check_nonce(req, bs) == 1, CCG_R_GPU_OCSP_NONCE_MISMATCH,
                       "the OCSP response does not echo the request's nonce");
        out->live = 1;
    }
    CCG_TRY(find_status(bs, cert, issuer, &status, &reason, &rev, &this_upd, &next_upd));
    out->status = map_status(status, reason);
    out->reason = status == V_OCSP_CERTSTATUS_REVOKED ? reason : -1;
    CCG_TRY(read_times(this_upd, next_upd, rev, out));
    result = CCG_SUCCESS;
cleanup:
    ERR_clear_error();
    OCSP_BASICRESP_free(bs);
    return result;
}

static ccg_result describe(X509 *cert, ccg_gpu_ocsp_result *out)
{
    ccg_result result = CCG_FAILURE;
    char *subject = ccg_x509_name_text(X509_get_subject_name(cert));
    memset(out, 0, sizeof(*out));
    out->reason = -1;
    out->status = CCG_GPU_OCSP_UNKNOWN;
    CCG_ENSURE_ALLOC(subject);
    snprintf(out->subject, sizeof(out->subject), "%s", subject);
    CCG_TRY(serial_hex(cert, out->serial, sizeof(out->serial)));
    result = CCG_SUCCESS;
cleanup:
    free(subject);
    return result;
}

ccg_result ccg_gpu_ocsp_check(const ccg_gpu_ocsp_config *cfg, X509 *cert, STACK_OF(X509) *chain_above, ccg_time now,
                              ccg_gpu_ocsp_result *out)
{
    ccg_result result = CCG_FAILURE;
    OCSP_RESPONSE *resp = NULL;
    OCSP_REQUEST *req = NULL;
    CCG_TRY(describe(cert, out));
    CCG_ENSURE_MSG(chain_above != NULL && sk_X509_num(chain_above) > 0, CCG_R_INTERNAL_ERROR,
                   "an OCSP check needs the certificate's issuer");
    X509 *issuer = sk_X509_value(chain_above, 0);
    CCG_TRY(read_cached(cfg, cert, issuer, &resp));
    if (resp != NULL) {
        CCG_TRY(evaluate(resp, NULL, cert, chain_above, now, out));
        /* An out-of-date cached "good" falls through to the responder when there is one. */
        if (cfg->responder_url == NULL || out->status == CCG_GPU_OCSP_REVOKED || ccg_ok(check_fresh(cfg, out, now))) {
            CCG_TRY(decide(cfg, out, now));
            result = CCG_SUCCESS;
            goto cleanup;
        }
        ccg_error_clear();
        OCSP_RESPONSE_free(resp);
        resp = NULL;
        CCG_TRY(describe(cert, out));
    }
    CCG_ENSURE_MSG(cfg->responder_url != NULL, CCG_R_GPU_OCSP_UNAVAILABLE,
                   "no OCSP response for %s (serial %s): none uploaded or cached, and no responder configured", out->subject,
                   out->serial);
    CCG_TRY(gpu_ocsp_fetch(cfg, cert, issuer, &req, &resp));
    CCG_TRY(evaluate(resp, req, cert, chain_above, now, out));
    CCG_TRY(decide(cfg, out, now));
    result = CCG_SUCCESS;
cleanup:
    OCSP_REQUEST_free(req);
    OCSP_RESPONSE_free(resp);
    return result;
}

ccg_result ccg_gpu_ocsp_check_chain(const ccg_gpu_ocsp_config *cfg, STACK_OF(X509) *chain, ccg_time now,
                                    ccg_gpu_ocsp_result *results, size_t *n_results)
{
    ccg_result result = CCG_FAILURE;
    STACK_OF(X509) *above = NULL;
    *n_results = 0;
    CCG_ENSURE_MSG(chain != NULL && sk_X509_num(chain) >= 2, CCG_R_INTERNAL_ERROR,
                   "an OCSP chain check needs a certificate and its issuer");
    for (int i = 0; i + 1 < sk_X509_num(chain); i++) {
        above = sk_X509_new_null();
        CCG_ENSURE_ALLOC(above);
        for (int j = i + 1; j < sk_X509_num(chain); j++) {
            CCG_ENSURE(sk_X509_push(above, sk_X509_value(chain, j)) > 0, CCG_R_INTERNAL_OUT_OF_MEMORY);
        }
        ccg_result r = ccg_gpu_ocsp_check(cfg, sk_X509_value(chain, i), above, now, &results[i]);
        *n_results = (size_t)i + 1;
        CCG_TRY(r);
        sk_X509_free(above);
        above = NULL;
    }
    result = CCG_SUCCESS;
cleanup:
    sk_X509_free(above);
    return result;
}

json_t *ccg_gpu_ocsp_result_json(const ccg_gpu_ocsp_result *r)
{
    char t[32];
    json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "subject", r->subject, "serial", r->serial, "status",
                          ccg_gpu_ocsp_status_name(r->status), "source", r->live ? "responder" : "cache");
    if (o == NULL) {
        return NULL;
    }
    if (r->reason >= 0) {
        json_object_set_new(o, "reason", json_integer(r->reason));
    }
    if (r->this_update != 0) {
        ccg_time_format_rfc3339(r->this_update, t, sizeof(t));
        json_object_set_new(o, "this_update", json_string(t));
    }
    if (r->next_update != 0) {
        ccg_time_format_rfc3339(r->next_update, t, sizeof(t));
        json_object_set_new(o, "next_update", json_string(t));
    }
    if (r->revoked_at != 0) {
        ccg_time_format_rfc3339(r->revoked_at, t, sizeof(t));
        json_object_set_new(o, "revoked_at", json_string(t));
    }
    return o;
}
