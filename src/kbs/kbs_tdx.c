/* The TDX half of a release decision (kbs_tdx.h). The quote is verified in Intel's QVL order by
 * src/evidence/tdx with the TDX policy of the release policy's "tdx" section; the broker adds what makes
 * it a KBS appraisal: REPORT_DATA bound to this challenge (the same binding as SNP), the event log the
 * guest sent, and its own collateral. */
#include "kbs_tdx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "ccgate/error.h"
#include "ccgate/tdx_collateral.h"
#include "ccgate/tdx_collateral_store.h"
#include "ccgate/tdx_eventlog.h"
#include "ccgate/tdx_pcs.h"
#include "ccgate/tdx_policy.h"
#include "ccgate/tdx_verify.h"
#include "ccgate/x509util.h"

struct kbs_tdx {
    ccg_tdx_verifier *verifier;
    char *collateral_file;
    char *collateral_dir;
    char *pccs_url;
    ccg_tdx_collateral_lookup lookup; /* uploaded collateral (kbs_collateral.c), before the file */
    void *lookup_ctx;
};

void kbs_tdx_free(kbs_tdx *t)
{
    if (t == NULL) {
        return;
    }
    ccg_tdx_verifier_free(t->verifier);
    free(t->collateral_file);
    free(t->collateral_dir);
    free(t->pccs_url);
    free(t);
}

static ccg_result dup_opt(const char *s, char **out)
{
    ccg_result result = CCG_FAILURE;
    *out = NULL;
    if (s != NULL) {
        *out = strdup(s);
        CCG_ENSURE_ALLOC(*out);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* One self-signed certificate per file: a test root is trusted only as exactly what was named. */
static ccg_result add_test_root(ccg_tdx_verifier *v, const char *path)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *data = NULL;
    size_t len = 0;
    STACK_OF(X509) *certs = sk_X509_new_null();
    CCG_ENSURE_ALLOC(certs);
    CCG_ENSURE_MSG(ccg_ok(ccg_file_read(path, 64u * 1024u, &data, &len)) &&
                       ccg_ok(ccg_x509_load_bundle(data, len, certs)) && sk_X509_num(certs) == 1,
                   CCG_R_KBS_CONFIG_INVALID, "tdx.test_roots: %.200s is not one PEM certificate", path);
    CCG_TRY(ccg_tdx_verifier_add_test_root(v, sk_X509_value(certs, 0)));
    result = CCG_SUCCESS;
cleanup:
    sk_X509_pop_free(certs, X509_free);
    free(data);
    return result;
}

ccg_result kbs_tdx_new(const ccg_kbs_tdx_config *cfg, kbs_tdx **out)
{
    ccg_result result = CCG_FAILURE;
    kbs_tdx *t = calloc(1, sizeof(*t));
    *out = NULL;
    CCG_ENSURE_ALLOC(t);
    CCG_TRY(ccg_tdx_verifier_new(&t->verifier));
    if (cfg != NULL) {
        for (size_t i = 0; i < cfg->test_root_count; i++) {
            CCG_TRY(add_test_root(t->verifier, cfg->test_roots[i]));
        }
        CCG_TRY(dup_opt(cfg->collateral_file, &t->collateral_file));
        CCG_TRY(dup_opt(cfg->collateral_dir, &t->collateral_dir));
        CCG_TRY(dup_opt(cfg->pccs_url, &t->pccs_url));
    }
    *out = t;
    t = NULL;
    result = CCG_SUCCESS;
cleanup:
    kbs_tdx_free(t);
    return result;
}

void kbs_tdx_set_lookup(kbs_tdx *t, ccg_tdx_collateral_lookup lookup, void *ctx)
{
    t->lookup = lookup;
    t->lookup_ctx = ctx;
}

/* The collateral for this quote: the uploaded items when any is stored (all four, or collateral.missing
 * naming the rest: never a mix with a file), else the bundle file (read now, so a replaced file is used
 * at once), else the FMSPC cache directory, filled from the PCCS when one is configured. None: *have 0,
 * and the verifier names collateral.missing. */
static ccg_result collateral_for(const kbs_tdx *t, const ccg_kbs_tdx_evidence *ev, ccg_time now,
                                 ccg_tdx_collateral *col, int *have)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *text = NULL;
    size_t len = 0;
    *have = 0;
    if (t->lookup != NULL) {
        CCG_TRY(ccg_tdx_collateral_from_lookup(t->lookup, t->lookup_ctx, ev->quote, ev->quote_len, col, have));
    }
    if (*have) {
        /* the store's */
    } else if (t->collateral_file != NULL) {
        if (ccg_failed(ccg_file_read(t->collateral_file, CCG_TDX_COLLATERAL_MAX, &text, &len))) {
            char why[200];
            snprintf(why, sizeof(why), "%.199s", ccg_error_last()->message);
            ccg_error_clear();
            CCG_BAIL(CCG_R_COLLATERAL_MISSING, "tdx.collateral_file: %s", why);
        }
        CCG_TRY(ccg_tdx_collateral_parse((const char *)text, len, col));
        *have = 1;
    } else if (t->collateral_dir != NULL) {
        ccg_tdx_pcs_config cfg;
        ccg_tdx_pcs_config_init(&cfg);
        cfg.cache_dir = t->collateral_dir;
        cfg.base_url = t->pccs_url; /* NULL: the cache only */
        CCG_TRY(ccg_tdx_collateral_for_quote(&cfg, ev->quote, ev->quote_len, now, col, NULL));
        *have = 1;
    }
    result = CCG_SUCCESS;
cleanup:
    free(text);
    return result;
}

/* The converged TCB status (Intel's name) and advisory IDs at the top of the claims, where tokens read
 * them for every TEE; the audit record (format 5) takes them, with the platform, module and QE statuses,
 * from the claims' "tcb" (kbs_errors.c). */
static void top_claims(ccg_decision *d)
{
    const json_t *tcb = json_object_get(d->claims, "tcb");
    const char *status = json_string_value(json_object_get(tcb, "status"));
    const json_t *adv = json_object_get(tcb, "advisory_ids");
    if (d->claims == NULL || status == NULL) {
        return;
    }
    json_object_set_new(d->claims, "tcb_status", json_string(status));
    json_object_set_new(d->claims, "advisories", json_is_array(adv) ? json_deep_copy(adv) : json_array());
}

void kbs_tdx_evaluate(kbs_tdx *t, const ccg_kbs_policy *p, const ccg_kbs_tdx_evidence *ev, const char *nonce,
                      const ccg_jwk *tee_pubkey, const char *additional_evidence, const ccg_refval_set *refvals,
                      const ccg_refval_issuers *issuers, ccg_time now, ccg_decision *d)
{
    uint8_t report_data[64];
    ccg_tdx_eventlog log;
    ccg_tdx_collateral col;
    ccg_tdx_result r;
    int have_log = 0, have_col = 0;
    memset(&log, 0, sizeof(log));
    memset(&col, 0, sizeof(col));
    memset(&r, 0, sizeof(r));

    ccg_decision_init(d, "tdx");
    snprintf(d->policy_id, sizeof(d->policy_id), "%s", p->policy_id);
    d->policy_version = p->version;
    if (!p->allow_tdx || p->tdx == NULL) {
        ccg_decision_deny(d, CCG_R_KBS_TEE_NOT_ALLOWED, json_pack("{s:s}", "tee", "tdx"));
        return;
    }
    if (t == NULL || ev == NULL || ev->quote == NULL) {
        ccg_decision_deny(d, CCG_R_KBS_REQUEST_MALFORMED, json_pack("{s:s}", "cause", "no TDX evidence"));
        return;
    }
    /* The same binding as SNP: the quote's REPORT_DATA must be this challenge's runtime data. */
    if (ccg_failed(ccg_jose_kbs_report_data("sha384", nonce, tee_pubkey, additional_evidence, report_data))) {
        ccg_decision_deny_last_error(d);
        return;
    }
    if (ev->cc_eventlog != NULL) {
        if (ccg_failed(ccg_tdx_eventlog_parse(ev->cc_eventlog, ev->cc_eventlog_len, &log))) {
            ccg_decision_deny_last_error(d);
            return;
        }
        have_log = 1;
    }
    if (ccg_failed(collateral_for(t, ev, now, &col, &have_col))) {
        ccg_decision_deny_last_error(d); /* collateral.missing, collateral.expired naming the item, ... */
        goto cleanup;
    }
    ccg_tdx_verify_opts opts = {.expected_report_data = report_data,
                                .event_log = have_log ? &log : NULL,
                                .refvals = refvals,
                                .issuers = issuers};
    if (ccg_failed(ccg_tdx_verify(t->verifier, ev->quote, ev->quote_len, have_col ? &col : NULL, p->tdx, &opts, now,
                                  &r))) {
        ccg_decision_deny_last_error(d);
        goto cleanup;
    }
    /* The verifier's decision becomes the broker's, under the release policy's identity. */
    ccg_decision_free(d);
    *d = r.decision;
    memset(&r.decision, 0, sizeof(r.decision));
    snprintf(d->policy_id, sizeof(d->policy_id), "%s", p->policy_id);
    d->policy_version = p->version;
    top_claims(d);
cleanup:
    ccg_tdx_result_free(&r);
    ccg_tdx_collateral_free(&col); /* zeroed or filled, also when a load failed half-way */
    ccg_tdx_eventlog_free(&log);
}
