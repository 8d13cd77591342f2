/* The TDX quote verifier: Intel QVL's order (docs/tdx-quote.md, "Verification order").
 *
 *   1 the chains end at the pinned Intel SGX Root CA key  2 the root CA CRL  3 the PCK chain and CRL
 *   4 the PCK extension  5 the QE report signature and its binding of the attestation key
 *   6 the QE identity  7 the quote signature  8 the platform TCB level  9 the TDX module identity
 *   10 status convergence and relaunch advice  11 advisories; then the policy.
 *
 * Like QVL, the first failure in the chain of trust ends the verification; the policy's checks of
 * the TD's fields are still reported, so an operator sees every reason at once. */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/tdx_policy.h"
#include "ccgate/x509util.h"
#include "tdx_internal.h"

typedef struct {
    const ccg_tdx_verifier *v;
    const ccg_tdx_quote *q;
    const ccg_tdx_collateral *col;
    ccg_time now;
    STACK_OF(X509) *pck_chain, *tcb_chain, *qe_chain, *crl_chain;
    X509_CRL *root_crl, *pck_crl;
    tdx_pck_tcb pck;
    tdx_tcb_info *info;
    tdx_qe_identity *qeid;
    int pck_ok;
    tdx_tcb_eval ev;
    int evaluated;
    /* Set when the objects above are the cache's (pinned entries), not this verification's own. */
    const tdx_pck_entry *pck_entry;
    const tdx_col_entry *col_entry;
} vctx;

static void vctx_free(vctx *c)
{
    if (c->pck_entry != NULL || c->col_entry != NULL) {
        tdx_cache_release(tdx_verifier_cache(c->v), c->pck_entry, c->col_entry);
        return;
    }
    sk_X509_pop_free(c->pck_chain, X509_free);
    sk_X509_pop_free(c->tcb_chain, X509_free);
    sk_X509_pop_free(c->qe_chain, X509_free);
    sk_X509_pop_free(c->crl_chain, X509_free);
    X509_CRL_free(c->root_crl);
    X509_CRL_free(c->pck_crl);
    free(c->info);
    free(c->qeid);
}

/* An ASCII member (hex, status names, times): no UTF-8 check needed. */
static void set_text(json_t *o, const char *key, const char *ascii)
{
    json_object_set_new(o, key, json_stringn_nocheck(ascii, strlen(ascii)));
}

static ccg_result load_crl(const uint8_t *data, size_t len, const char *what, X509_CRL **out)
{
    ccg_result result = CCG_FAILURE;
    if (ccg_failed(ccg_x509_load_crl(data, len, out))) {
        CCG_BAIL(CCG_R_TDX_COLLATERAL_MALFORMED, "%s is not a CRL", what);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Step 1: every chain to the pinned root. */
static ccg_result step_chains(vctx *c)
{
    ccg_result result = CCG_FAILURE;
    const ccg_tdx_collateral *col = c->col;
    CCG_TRY(tdx_chain_verify(c->v, c->q->pck_chain, c->q->pck_chain_len, TDX_CHAIN_PCK, "PCK (quote)", c->now,
                             &c->pck_chain));
    if (col != NULL) {
        CCG_TRY(tdx_chain_verify(c->v, (const uint8_t *)col->pck_crl_issuer_chain, col->pck_crl_issuer_chain_len,
                                 TDX_CHAIN_CRL_ISSUER, "pck_crl_issuer_chain", c->now, &c->crl_chain));
        CCG_TRY(tdx_chain_verify(c->v, (const uint8_t *)col->tcb_info_issuer_chain, col->tcb_info_issuer_chain_len,
                                 TDX_CHAIN_TCB_SIGNING, "tcb_info_issuer_chain", c->now, &c->tcb_chain));
        CCG_TRY(tdx_chain_verify(c->v, (const uint8_t *)col->qe_identity_issuer_chain,
                                 col->qe_identity_issuer_chain_len, TDX_CHAIN_TCB_SIGNING, "qe_identity_issuer_chain",
                                 c->now, &c->qe_chain));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static X509 *top(STACK_OF(X509) *chain)
{
    return sk_X509_value(chain, sk_X509_num(chain) - 1);
}

/* Step 2: the root CA CRL, issued by the root, lists none of the intermediates in use. */
static ccg_result step_root_crl(vctx *c)
{
    ccg_result result = CCG_FAILURE;
    X509 *root = top(c->pck_chain);
    CCG_TRY(load_crl(c->col->root_ca_crl, c->col->root_ca_crl_len, "root_ca_crl", &c->root_crl));
    CCG_TRY(tdx_crl_check(c->root_crl, root, "root_ca_crl", c->now, NULL, CCG_R_TDX_CA_REVOKED));
    X509 *cas[] = {sk_X509_value(c->pck_chain, 1), sk_X509_value(c->crl_chain, 0), sk_X509_value(c->tcb_chain, 0),
                   sk_X509_value(c->qe_chain, 0)};
    for (size_t i = 0; i < sizeof(cas) / sizeof(cas[0]); i++) {
        CCG_TRY(tdx_crl_check(c->root_crl, root, "root_ca_crl", c->now, cas[i], CCG_R_TDX_CA_REVOKED));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Step 3: the PCK CRL comes from the PCK's own issuer (QVL compares the raw names) and does not list it. */
static ccg_result step_pck_crl(vctx *c)
{
    ccg_result result = CCG_FAILURE;
    X509 *leaf = sk_X509_value(c->pck_chain, 0);
    X509 *ca = sk_X509_value(c->crl_chain, 0);
    CCG_TRY(load_crl(c->col->pck_crl, c->col->pck_crl_len, "pck_crl", &c->pck_crl));
    CCG_ENSURE_MSG(X509_NAME_cmp(X509_CRL_get_issuer(c->pck_crl), X509_get_issuer_name(leaf)) == 0,
                   CCG_R_TDX_CRL_INVALID, "pck_crl is not from the PCK certificate's issuer");
    CCG_TRY(tdx_crl_check(c->pck_crl, ca, "pck_crl", c->now, leaf, CCG_R_TDX_PCK_REVOKED));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Step 5: the PCK signs the QE report; the QE report binds the attestation key. */
static ccg_result step_qe_report(vctx *c)
{
    ccg_result result = CCG_FAILURE;
    uint8_t digest[SHA256_DIGEST_LENGTH];
    EVP_PKEY *pck_key = X509_get0_pubkey(sk_X509_value(c->pck_chain, 0));
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int md_len = 0;
    CCG_ENSURE_MSG(tdx_key_is_p256(pck_key), CCG_R_TDX_PCK_KEY_INVALID, "the PCK key is not ECDSA P-256");
    CCG_ENSURE(tdx_ecdsa_p256_verify_key(pck_key, c->q->qe_report_raw, CCG_TDX_QE_REPORT_SIZE, c->q->qe_report_sig),
               CCG_R_TDX_QE_REPORT_SIGNATURE_INVALID);
    CCG_ENSURE_OSSL(md != NULL && tdx_sha256() != NULL && EVP_DigestInit_ex(md, tdx_sha256(), NULL) == 1 &&
                        EVP_DigestUpdate(md, c->q->att_key, 64) == 1 &&
                        EVP_DigestUpdate(md, c->q->qe_auth_data, c->q->qe_auth_len) == 1 &&
                        EVP_DigestFinal_ex(md, digest, &md_len) == 1,
                    CCG_R_INTERNAL_CRYPTO);
    /* QVL compares the first 32 bytes only (the spec pads with zeros; QVL does not judge them). */
    CCG_ENSURE_MSG(memcmp(digest, c->q->qe_report.report_data, 32) == 0, CCG_R_TDX_QE_REPORT_DATA_MISMATCH,
                   "QE REPORT_DATA is not SHA-256(attestation key || QE authentication data)");
    result = CCG_SUCCESS;
cleanup:
    EVP_MD_CTX_free(md);
    return result;
}

/* A signed JSON document's signature (over its raw bytes) and validity window. */
static ccg_result signed_json(STACK_OF(X509) *chain, const char *raw, size_t len, const uint8_t sig[64],
                              ccg_reason bad_sig, const char *item)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(tdx_ecdsa_p256_verify(X509_get0_pubkey(sk_X509_value(chain, 0)), (const uint8_t *)raw, len, sig),
                   bad_sig, "%s signature does not verify over its raw JSON", item);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result window(ccg_time issue, ccg_time next, ccg_time now, const char *item)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(now >= issue, CCG_R_COLLATERAL_NOT_YET_VALID, "%s is not valid before its issueDate", item);
    CCG_ENSURE_MSG(now <= next, CCG_R_COLLATERAL_EXPIRED, "%s expired at its nextUpdate", item);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Step 6: QE identity. */
static ccg_result step_qe_identity(vctx *c)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(signed_json(c->qe_chain, c->col->qe_identity, c->col->qe_identity_len, c->col->qe_identity_sig,
                        CCG_R_TDX_QE_IDENTITY_SIGNATURE_INVALID, "qe_identity"));
    c->qeid = calloc(1, sizeof(*c->qeid));
    CCG_ENSURE_ALLOC(c->qeid);
    CCG_TRY(tdx_qe_identity_parse(c->col->qe_identity, c->col->qe_identity_len, c->qeid));
    CCG_TRY(window(c->qeid->issue_date, c->qeid->next_update, c->now, "qe_identity"));
    CCG_TRY(tdx_qe_identity_check(c->qeid, &c->q->qe_report, &c->ev));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Step 7: the attestation key signs the header and TD report. */
static ccg_result step_quote_signature(vctx *c)
{
    ccg_result result = CCG_FAILURE;
    tdx_cache *cache = tdx_verifier_cache(c->v);
    EVP_PKEY *key = tdx_cache_att_key(cache, c->q->att_key);
    if (key == NULL && (key = tdx_p256_key_from_xy(c->q->att_key)) != NULL) {
        tdx_cache_att_key_add(cache, c->q->att_key, key);
    }
    CCG_ENSURE_MSG(key != NULL, CCG_R_TDX_ATTESTATION_KEY_INVALID, "the attestation key is not a P-256 point");
    /* A P-256 point by construction (tdx_p256_key_from_xy): no group check needed. */
    CCG_ENSURE(tdx_ecdsa_p256_verify_key(key, c->q->signed_data, c->q->signed_len, c->q->signature),
               CCG_R_TDX_QUOTE_SIGNATURE_INVALID);
    result = CCG_SUCCESS;
cleanup:
    EVP_PKEY_free(key);
    return result;
}

/* Steps 8 to 10: TCB info, the platform's level, the module, convergence. */
static ccg_result step_tcb(vctx *c)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(signed_json(c->tcb_chain, c->col->tcb_info, c->col->tcb_info_len, c->col->tcb_info_sig,
                        CCG_R_TDX_TCB_INFO_SIGNATURE_INVALID, "tcb_info"));
    c->info = calloc(1, sizeof(*c->info));
    CCG_ENSURE_ALLOC(c->info);
    CCG_TRY(tdx_tcb_info_parse(c->col->tcb_info, c->col->tcb_info_len, c->info));
    CCG_TRY(window(c->info->issue_date, c->info->next_update, c->now, "tcb_info"));
    CCG_ENSURE_MSG(memcmp(c->info->fmspc, c->pck.fmspc, 6) == 0, CCG_R_TDX_FMSPC_MISMATCH,
                   "the TCB info is not for the PCK's FMSPC");
    CCG_ENSURE_MSG(memcmp(c->info->pce_id, c->pck.pce_id, 2) == 0, CCG_R_TDX_PCEID_MISMATCH,
                   "the TCB info is not for the PCK's PCE-ID");
    CCG_TRY(tdx_module_check(c->info, c->q, &c->ev));
    CCG_TRY(tdx_tcb_evaluate(c->info, &c->pck, c->q, &c->ev));
    c->evaluated = 1;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The fast path, when this verifier has verified this PCK chain and this collateral before: the
 * time-independent results come from the cache (tdx_cache.c); everything that depends on `now` or on this
 * quote is checked here, as the full path would: every certificate's and collateral item's window, the
 * PCK CA on the root CA CRL, the PCK CRL's issuer and the PCK on it, steps 5 to 10. It decides only
 * success: on any doubt it returns 0 with c untouched, and the full path runs and says why. */
static int run_cached(vctx *c)
{
    tdx_cache *cache = tdx_verifier_cache(c->v);
    const tdx_pck_entry *pe = tdx_cache_pck_get(cache, c->q->pck_chain, c->q->pck_chain_len);
    const tdx_col_entry *ce = pe != NULL ? tdx_cache_col_get(cache, c->col) : NULL;
    X509_REVOKED *rev = NULL;
    if (ce == NULL) {
        tdx_cache_release(cache, pe, NULL);
        return 0;
    }
    X509 *leaf = sk_X509_value(pe->chain, 0), *ca = sk_X509_value(pe->chain, 1);
    /* Certificates: strictly inside every window (the boundaries are left to OpenSSL's own rule). */
    int ok = X509_cmp(top(pe->chain), ce->root) == 0 && c->now > pe->cert_from && c->now < pe->cert_until &&
             c->now > ce->cert_from && c->now < ce->cert_until && c->now >= ce->doc_from && c->now <= ce->doc_until &&
             X509_CRL_get0_by_cert(ce->root_crl, &rev, ca) != 1 &&
             X509_NAME_cmp(X509_CRL_get_issuer(ce->pck_crl), X509_get_issuer_name(leaf)) == 0 &&
             X509_CRL_get0_by_cert(ce->pck_crl, &rev, leaf) != 1;
    c->pck_entry = pe;
    c->col_entry = ce;
    c->pck_chain = pe->chain;
    c->tcb_chain = ce->tcb_chain;
    c->qe_chain = ce->qe_chain;
    c->crl_chain = ce->crl_chain;
    c->root_crl = ce->root_crl;
    c->pck_crl = ce->pck_crl;
    c->info = ce->info;
    c->qeid = ce->qeid;
    c->pck = pe->pck;
    ok = ok && ccg_ok(step_qe_report(c)) && ccg_ok(tdx_qe_identity_check(ce->qeid, &c->q->qe_report, &c->ev)) &&
         ccg_ok(step_quote_signature(c)) && memcmp(ce->info->fmspc, pe->pck.fmspc, 6) == 0 &&
         memcmp(ce->info->pce_id, pe->pck.pce_id, 2) == 0 && ccg_ok(tdx_module_check(ce->info, c->q, &c->ev)) &&
         ccg_ok(tdx_tcb_evaluate(ce->info, &pe->pck, c->q, &c->ev));
    ERR_clear_error();
    if (!ok) {
        ccg_error_clear();
        tdx_cache_release(cache, pe, ce);
        *c = (vctx){.v = c->v, .q = c->q, .col = c->col, .now = c->now};
        return 0;
    }
    c->pck_ok = 1;
    c->evaluated = 1;
    return 1;
}

/* After a full verification in which every step passed: what does not depend on time, for next time. */
static void remember(vctx *c)
{
    tdx_cache *cache = tdx_verifier_cache(c->v);
    tdx_cache_pck_add(cache, c->q->pck_chain, c->q->pck_chain_len, c->pck_chain, &c->pck);
    tdx_col_verified v = {.col = c->col, .root = top(c->pck_chain), .tcb_chain = c->tcb_chain,
                          .qe_chain = c->qe_chain, .crl_chain = c->crl_chain, .root_crl = c->root_crl,
                          .pck_crl = c->pck_crl, .info = c->info, .qeid = c->qeid};
    tdx_cache_col_add(cache, &v);
}

static ccg_result run_steps(vctx *c, ccg_decision *d)
{
    ccg_result result = CCG_FAILURE;
    if (c->col == NULL) {
        ccg_decision_deny(d, CCG_R_COLLATERAL_MISSING,
                          json_pack("{s:s}", "message", "no TDX collateral (TCB info, QE identity, CRLs) was given"));
    }
    CCG_TRY(step_chains(c));
    if (c->col != NULL) {
        CCG_TRY(step_root_crl(c));
        CCG_TRY(step_pck_crl(c));
    }
    CCG_TRY(tdx_pck_extension(sk_X509_value(c->pck_chain, 0), &c->pck));
    c->pck_ok = 1;
    CCG_TRY(step_qe_report(c));
    if (c->col != NULL) {
        CCG_TRY(step_qe_identity(c));
    }
    CCG_TRY(step_quote_signature(c));
    if (c->col != NULL) {
        CCG_TRY(step_tcb(c));
    }
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        ccg_decision_deny_last_error(d);
    }
    return result;
}

static json_t *advisories_json(const tdx_advisory_set *a)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < a->count; i++) {
        json_array_append_new(arr, json_string(a->ids[i]));
    }
    return arr;
}

static int advisory_allowed(const ccg_tdx_policy *p, const char *id)
{
    for (size_t i = 0; i < p->n_advisories; i++) {
        if (strcmp(p->advisories[i], id) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Steps 10-11 as claims, and the policy's TCB rule: Revoked never passes; other statuses only when
 * accepted; every advisory only when allowlisted. */
static void tcb_outcome(vctx *c, const ccg_tdx_policy *p, ccg_tdx_result *out)
{
    ccg_decision *d = &out->decision;
    tdx_advisory_set adv;
    char fmspc[13], pce[5], next[32];
    if (!c->pck_ok) {
        return;
    }
    char sgx[33];
    ccg_hex_encode(c->pck.fmspc, 6, fmspc);
    ccg_hex_encode(c->pck.pce_id, 2, pce);
    ccg_hex_encode(c->pck.sgx_components, 16, sgx);
    snprintf(out->fmspc, sizeof(out->fmspc), "%s", fmspc);
    /* Built member by member: this runs on every verification, and the values are ASCII. */
    json_t *plat = json_object();
    set_text(plat, "fmspc", fmspc);
    set_text(plat, "pce_id", pce);
    json_object_set_new(plat, "pcesvn", json_integer(c->pck.pcesvn));
    set_text(plat, "sgx_tcb_components", sgx);
    json_object_set_new(d->claims, "platform", plat);
    if (!c->evaluated) {
        return;
    }
    tdx_tcb_advisories(&c->ev, &adv);
    out->status = c->ev.status;
    out->platform_status = c->ev.platform_status;
    out->sgx_status = c->ev.sgx_status;
    out->module_status = c->ev.module_status;
    out->qe_status = c->ev.qe_status;
    json_t *tcb = json_object();
    set_text(tcb, "status", ccg_tdx_status_name(c->ev.status));
    set_text(tcb, "platform_status", ccg_tdx_status_name(c->ev.platform_status));
    set_text(tcb, "sgx_status", ccg_tdx_status_name(c->ev.sgx_status));
    set_text(tcb, "module_status", ccg_tdx_status_name(c->ev.module_status));
    set_text(tcb, "qe_status", ccg_tdx_status_name(c->ev.qe_status));
    json_object_set_new(tcb, "module_identity", json_string(c->ev.module_id));
    json_object_set_new(tcb, "tcb_date", json_string(c->ev.platform_level->tcb_date));
    json_object_set_new(tcb, "tcb_evaluation_data_number", json_integer(c->info->tcb_eval_num));
    json_object_set_new(tcb, "advisory_ids", advisories_json(&adv));
    ccg_time_format_rfc3339(c->info->next_update, next, sizeof(next));
    set_text(tcb, "tcb_info_next_update", next);
    ccg_time_format_rfc3339(c->qeid->next_update, next, sizeof(next));
    set_text(tcb, "qe_identity_next_update", next);
    json_object_set_new(tcb, "qe_isvsvn", json_integer(c->q->qe_report.isvsvn));
    json_object_set_new(d->claims, "tcb", tcb);

    int revoked = c->ev.status == CCG_TDX_STATUS_REVOKED;
    if (revoked || (p->accepted_statuses & (1u << c->ev.status)) == 0) {
        json_t *why = json_pack("{s:s, s:s, s:s, s:s, s:o}", "status", ccg_tdx_status_name(c->ev.status),
                                "platform_status", ccg_tdx_status_name(c->ev.platform_status), "module_status",
                                ccg_tdx_status_name(c->ev.module_status), "qe_status",
                                ccg_tdx_status_name(c->ev.qe_status), "advisory_ids", advisories_json(&adv));
        ccg_decision_deny(d, revoked ? CCG_R_TDX_TCB_REVOKED : CCG_R_TDX_TCB_STATUS_NOT_ALLOWED, why);
    }
    for (size_t i = 0; i < adv.count; i++) {
        if (!advisory_allowed(p, adv.ids[i])) {
            ccg_decision_deny(d, CCG_R_TDX_ADVISORY_NOT_ALLOWED, json_pack("{s:s}", "advisory_id", adv.ids[i]));
        }
    }
}

static json_t *quote_claims(const ccg_tdx_quote *q)
{
    char vendor[33], mrsigner[65];
    json_t *o = json_object(), *qe = json_object();
    ccg_hex_encode(q->qe_vendor_id, 16, vendor);
    ccg_hex_encode(q->qe_report.mrsigner, 32, mrsigner);
    json_object_set_new(o, "version", json_integer(q->version));
    json_object_set_new(o, "body_type", json_integer(q->body_type));
    json_object_set_new(o, "att_key_type", json_integer(q->att_key_type));
    set_text(o, "qe_vendor_id", vendor);
    json_object_set_new(o, "trailing_bytes", json_integer((json_int_t)q->trailing));
    json_object_set_new(qe, "isvprodid", json_integer(q->qe_report.isvprodid));
    json_object_set_new(qe, "isvsvn", json_integer(q->qe_report.isvsvn));
    set_text(qe, "mrsigner", mrsigner);
    json_object_set_new(o, "qe", qe);
    return o;
}

static void evidence_digest(const uint8_t *quote, size_t len, ccg_decision *d)
{
    uint8_t md[48];
    char hex[97];
    unsigned int n = 0;
    if (EVP_Digest(quote, len, md, &n, tdx_sha384(), NULL) == 1 && n == sizeof(md)) {
        ccg_hex_encode(md, 48, hex);
        snprintf(d->evidence_digest, sizeof(d->evidence_digest), "sha384:%s", hex);
    }
}

ccg_result ccg_tdx_verify(const ccg_tdx_verifier *v, const uint8_t *quote, size_t quote_len,
                          const ccg_tdx_collateral *col, const ccg_tdx_policy *policy, const ccg_tdx_verify_opts *opts,
                          ccg_time now, ccg_tdx_result *out)
{
    ccg_result result = CCG_FAILURE;
    ccg_tdx_policy *fallback = NULL;
    ccg_tdx_quote q;
    vctx c;
    memset(out, 0, sizeof(*out));
    memset(&c, 0, sizeof(c));
    ccg_decision_init(&out->decision, "tdx");
    ccg_decision *d = &out->decision;
    if (policy == NULL) {
        CCG_TRY(ccg_tdx_policy_default(&fallback));
        policy = fallback;
    }
    snprintf(d->policy_id, sizeof(d->policy_id), "%s", policy->policy_id);
    d->policy_version = policy->version;
    evidence_digest(quote, quote_len, d);
    ccg_error_clear();
    if (ccg_failed(ccg_tdx_quote_parse(quote, quote_len, &q))) {
        ccg_decision_deny_last_error(d);
        result = CCG_SUCCESS;
        goto cleanup;
    }
    out->parsed = 1;
    d->claims = json_object();
    CCG_ENSURE_ALLOC(d->claims);
    json_object_set_new(d->claims, "quote", quote_claims(&q));
    json_object_set_new(d->claims, "td", tdx_td_claims(&q));
    c = (vctx){.v = v, .q = &q, .col = col, .now = now};
    if (col != NULL && run_cached(&c)) {
        tdx_cache_count(tdx_verifier_cache(v), 1);
    } else {
        if (col != NULL) {
            tdx_cache_count(tdx_verifier_cache(v), 0);
        }
        if (ccg_ok(run_steps(&c, d)) && c.evaluated) {
            remember(&c);
        }
    }
    tcb_outcome(&c, policy, out);
    ccg_error_clear();
    ccg_tdx_policy_appraise_td(policy, &q.td, d);
    ccg_tdx_policy_appraise_eventlog(policy, &q.td, opts != NULL ? opts->event_log : NULL, d);
    ccg_tdx_policy_appraise_refvals(policy, &q.td, opts != NULL ? opts->refvals : NULL,
                                    opts != NULL ? opts->issuers : NULL, now, d);
    if (opts != NULL && opts->expected_report_data != NULL &&
        !ccg_memeq_ct(opts->expected_report_data, q.td.report_data, 64)) {
        ccg_decision_deny(d, CCG_R_TDX_REPORT_DATA_MISMATCH, NULL);
    }
    /* Allow only when every step ran to the end and nothing failed. */
    if (d->reasons.count == 0 && !c.evaluated) {
        ccg_decision_deny(d, CCG_R_INTERNAL_ERROR, json_pack("{s:s}", "detail", "verification did not complete"));
    }
    d->allow = d->reasons.count == 0 && c.evaluated;
    result = CCG_SUCCESS;
cleanup:
    vctx_free(&c);
    ccg_tdx_policy_free(fallback);
    return result;
}

void ccg_tdx_result_free(ccg_tdx_result *r)
{
    if (r != NULL) {
        ccg_decision_free(&r->decision);
    }
}

void ccg_tdx_verifier_stats_get(const ccg_tdx_verifier *v, ccg_tdx_verifier_stats *out)
{
    tdx_cache_counts(tdx_verifier_cache(v), &out->fast, &out->full);
}
