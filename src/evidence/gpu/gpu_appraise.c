/* The GPU appraisal (gpu_appraise.h): every GPU's evidence through the verifier, OCSP, the RIMs and
 * the policy, into one decision that lists every failure with the GPU's index, plus per-GPU claims. */
#include "ccgate/gpu_appraise.h"

#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/x509util.h"
#include "gpu_appraise_internal.h"
#include "gpu_internal.h"

/* An explicit RIM document, verified once per appraisal. */
typedef struct {
    int ok;
    ccg_gpu_rim rim;
} given_rim;

/* What one GPU's appraisal needs besides its own inputs. */
typedef struct {
    const ccg_gpu_policy *p;
    const ccg_gpu_collateral *c;
    given_rim *given;
    ccg_time now;
    ccg_decision *d;
    size_t gpu;
} ctx;

/* Records a failed check of GPU ctx->gpu; takes ownership of details (an object, or NULL). */
static void deny(const ctx *x, ccg_reason reason, json_t *details)
{
    if (!json_is_object(details)) {
        json_decref(details);
        details = json_object();
    }
    if (details != NULL) {
        json_object_set_new(details, "gpu", json_integer((json_int_t)x->gpu));
    }
    ccg_decision_deny(x->d, reason, details);
}

static void deny_last_error(const ctx *x)
{
    const ccg_error *e = ccg_error_last();
    deny(x, e->reason == CCG_R_OK ? CCG_R_INTERNAL_ERROR : e->reason, json_pack("{s:s}", "detail", e->message));
    ccg_error_clear(); /* the first error wins: clear it so the next check's own error is recorded */
}

static const char *mode_name(ccg_gpu_mode m)
{
    switch (m) {
    case CCG_GPU_MODE_SPT: return "single_gpu";
    case CCG_GPU_MODE_MPT: return "multi_gpu";
    case CCG_GPU_MODE_PPCIE: return "protected_pcie";
    case CCG_GPU_MODE_UNKNOWN: return "unknown";
    default: return "absent";
    }
}

/* ------------------------------------------------------------------ trust anchor and OCSP */

/* The anchor of a verified chain: the pinned root, or the policy's test root when it issued the
 * chain's identity CA. NULL (and a reason) for a test root the policy does not name. */
static X509 *chain_anchor(const ctx *x, const ccg_gpu_result *res, STACK_OF(X509) *certs)
{
    if (strcmp(res->root, "test") != 0) {
        return x->c->verifier->pinned_root;
    }
    X509 *ca = sk_X509_num(certs) >= CCG_GPU_CHAIN_LENGTH - 1 ? sk_X509_value(certs, CCG_GPU_CHAIN_LENGTH - 2) : NULL;
    X509 *root = x->p->gpu_test_root;
    if (root == NULL || ca == NULL || X509_check_issued(root, ca) != X509_V_OK ||
        X509_verify(ca, X509_get0_pubkey(root)) != 1) {
        deny(x, CCG_R_GPU_TEST_ROOT_NOT_NAMED,
             json_pack("{s:s}", "detail", root == NULL ? "the policy names no GPU test root"
                                                       : "the chain's identity CA is not issued by the policy's root"));
        return NULL;
    }
    return root;
}

static ccg_result ocsp_chain(const ctx *x, STACK_OF(X509) *certs, X509 *anchor, json_t *claims)
{
    ccg_result result = CCG_FAILURE;
    STACK_OF(X509) *chain = sk_X509_new_null();
    ccg_gpu_ocsp_result results[CCG_GPU_CHAIN_LENGTH];
    size_t n = 0;
    json_t *list = json_array();
    ccg_gpu_ocsp_config cfg = *x->c->ocsp;
    cfg.allow_hold = x->p->allow_hold;
    memset(results, 0, sizeof(results));
    CCG_ENSURE_ALLOC(chain);
    CCG_ENSURE_ALLOC(list);
    for (int i = 0; i < CCG_GPU_CHAIN_LENGTH - 1; i++) {
        CCG_ENSURE_OSSL(sk_X509_push(chain, sk_X509_value(certs, i)) > 0, CCG_R_INTERNAL_CRYPTO);
    }
    CCG_ENSURE_OSSL(sk_X509_push(chain, anchor) > 0, CCG_R_INTERNAL_CRYPTO);
    result = ccg_gpu_ocsp_check_chain(&cfg, chain, x->now, results, &n);
    for (size_t i = 0; i < n && i < CCG_GPU_CHAIN_LENGTH - 1; i++) {
        json_array_append_new(list, ccg_gpu_ocsp_result_json(&results[i]));
    }
    json_object_set(claims, "ocsp", list);
cleanup:
    json_decref(list);
    sk_X509_free(chain); /* the certificates belong to certs and the anchor's owner */
    return result;
}

/* The chain-dependent checks: the trust anchor the policy accepts, then OCSP over the device chain. */
static void check_chain_collateral(const ctx *x, const ccg_gpu_evidence_item *item, const ccg_gpu_result *res,
                                   json_t *claims, json_t *checks)
{
    STACK_OF(X509) *certs = sk_X509_new_null();
    const char *ocsp = "not_done";
    ccg_error_clear();
    if (res->chain != CCG_GPU_CHECK_PASSED || certs == NULL ||
        ccg_failed(ccg_x509_load_bundle(item->certificate, item->certificate_len, certs)) ||
        sk_X509_num(certs) < CCG_GPU_CHAIN_LENGTH - 1) {
        ccg_error_clear();
        goto out; /* the verifier already refused the chain */
    }
    X509 *anchor = chain_anchor(x, res, certs);
    json_object_set_new(checks, "trust_root", json_string(anchor != NULL ? "passed" : "failed"));
    if (anchor == NULL || !x->p->require_ocsp) {
        goto out;
    }
    if (x->c->ocsp == NULL) {
        deny(x, CCG_R_GPU_OCSP_UNAVAILABLE, json_pack("{s:s}", "detail", "the policy requires OCSP; none configured"));
        ocsp = "failed";
    } else if (ccg_failed(ocsp_chain(x, certs, anchor, claims))) {
        deny_last_error(x);
        ocsp = "failed";
    } else {
        ocsp = "passed";
    }
out:
    json_object_set_new(checks, "ocsp", json_string(ocsp));
    sk_X509_pop_free(certs, X509_free);
}

/* ------------------------------------------------------------------ RIMs */

/* The RIM for this ID and version: an explicit document with that version, else the store. */
static int load_rim(const ctx *x, const char *id, const char *version, ccg_gpu_rim *out, json_t *rim_claims,
                    const char *what)
{
    uint8_t *xml = NULL;
    size_t len = 0;
    int ok = 0;
    ccg_error_clear();
    for (size_t i = 0; i < x->c->n_rims && !ok; i++) {
        if (x->given[i].ok && strcmp(x->given[i].rim.version, version) == 0) {
            ok = ccg_ok(gpu_appraise_rim_copy(&x->given[i].rim, out));
        }
    }
    if (!ok && x->c->rim_store == NULL) {
        deny(x, CCG_R_GPU_RIM_UNAVAILABLE, json_pack("{s:s, s:s}", "rim_id", id, "detail", "no RIM store configured"));
    } else if (!ok) {
        ok = ccg_ok(ccg_gpu_rim_store_get(x->c->rim_store, id, &xml, &len)) &&
             ccg_ok(gpu_appraise_rim_verify(x->p, x->c->rim_cache, xml, len, x->now, out));
        if (!ok) {
            const ccg_error *e = ccg_error_last();
            deny(x, e->reason == CCG_R_OK ? CCG_R_INTERNAL_ERROR : e->reason,
                 json_pack("{s:s, s:s}", "rim_id", id, "detail", e->message));
        }
    }
    json_object_set_new(rim_claims, what, ok ? ccg_gpu_rim_claims_json(out) : json_null());
    free(xml);
    ccg_error_clear();
    return ok;
}

/* The RIMs named by the evidence, compared with its measurements. A missing RIM is a failure of its
 * own; the other one is still compared (an empty stand-in takes the missing one's place), so every
 * mismatch is listed. */
static void check_rims(const ctx *x, const ccg_gpu_result *res, json_t *claims, json_t *checks)
{
    const ccg_gpu_report *r = &res->report;
    char driver_id[CCG_GPU_RIM_ID_MAX] = "", vbios_id[CCG_GPU_RIM_ID_MAX] = "";
    ccg_gpu_rim driver, vbios;
    ccg_gpu_rim_block *blocks = calloc(CCG_GPU_MAX_MEASUREMENTS, sizeof(*blocks));
    ccg_gpu_rim_runtime rt;
    ccg_gpu_rim_match m;
    json_t *rim_claims = json_object();
    int have_driver = 0, have_vbios = 0;
    const char *outcome = "not_done";
    memset(&driver, 0, sizeof(driver));
    memset(&vbios, 0, sizeof(vbios));
    ccg_error_clear();
    if (blocks == NULL || rim_claims == NULL) {
        deny(x, CCG_R_INTERNAL_OUT_OF_MEMORY, NULL);
        goto out;
    }
    if (ccg_failed(ccg_gpu_rim_driver_id(ccg_gpu_arch_name(res->arch), r->chip_info, r->driver_version, driver_id))) {
        deny_last_error(x);
    } else {
        have_driver = load_rim(x, driver_id, r->driver_version, &driver, rim_claims, "driver");
    }
    if (ccg_failed(ccg_gpu_rim_vbios_id(r->project, r->project_sku, r->chip_sku, r->vbios_version, vbios_id))) {
        deny_last_error(x);
    } else {
        have_vbios = load_rim(x, vbios_id, r->vbios_version, &vbios, rim_claims, "vbios");
    }
    json_object_set_new(rim_claims, "driver_id", json_string(driver_id));
    json_object_set_new(rim_claims, "vbios_id", json_string(vbios_id));
    if (have_driver || have_vbios) {
        ccg_gpu_rim_runtime_from_report(r, blocks, &rt);
        /* The stand-in carries the evidence's version, so only the present RIM's version is judged. */
        snprintf(have_driver ? vbios.version : driver.version, sizeof(driver.version), "%s",
                 have_driver ? r->vbios_version : r->driver_version);
        if (ccg_failed(ccg_gpu_rim_compare(&driver, &vbios, &rt, &m))) {
            const ccg_error *e = ccg_error_last();
            json_t *mj = ccg_gpu_rim_match_json(&m);
            deny(x, e->reason, json_pack("{s:s, s:O?, s:s, s:s}", "detail", e->message, "mismatched_indexes",
                                         json_object_get(mj, "mismatched_indexes"), "driver_rim_id", driver_id,
                                         "vbios_rim_id", vbios_id));
            json_decref(mj);
            ccg_error_clear();
            outcome = "failed";
        } else {
            outcome = have_driver && have_vbios ? "passed" : "not_done";
        }
        json_object_set_new(rim_claims, "match", ccg_gpu_rim_match_json(&m));
    }
    ccg_error_clear();
out:
    json_object_set_new(checks, "measurements", json_string(outcome));
    if (rim_claims != NULL) {
        json_object_set_new(claims, "rim", rim_claims);
    }
    ccg_gpu_rim_free(&driver);
    ccg_gpu_rim_free(&vbios);
    free(blocks);
}

/* ------------------------------------------------------------------ policy checks */

/* Returns 1 when the version passes the rule (or the rule is empty). */
static int check_version(const ctx *x, const char *what, const char *have, const ccg_gpu_version_rule *rule, int hex,
                         ccg_reason too_old, ccg_reason not_allowed)
{
    int cmp = 0, ok = 1;
    if (rule->minimum[0] == '\0' && rule->allowed_count == 0) {
        return 1;
    }
    if (ccg_failed(ccg_gpu_version_compare(have, have, hex, &cmp))) {
        deny(x, CCG_R_GPU_VERSION_UNREADABLE, json_pack("{s:s, s:s}", "field", what, "got", have));
        ccg_error_clear();
        return 0;
    }
    if (rule->minimum[0] != '\0' && ccg_ok(ccg_gpu_version_compare(have, rule->minimum, hex, &cmp)) && cmp < 0) {
        deny(x, too_old, json_pack("{s:s, s:s}", "minimum", rule->minimum, "got", have));
        ok = 0;
    }
    int listed = rule->allowed_count == 0;
    for (size_t i = 0; i < rule->allowed_count && !listed; i++) {
        listed = ccg_ok(ccg_gpu_version_compare(have, rule->allowed[i], hex, &cmp)) && cmp == 0;
    }
    if (!listed) {
        deny(x, not_allowed, json_pack("{s:s}", "got", have));
        ok = 0;
    }
    return ok;
}

static int check_mode(const ctx *x, ccg_gpu_mode mode)
{
    const ccg_gpu_policy *p = x->p;
    const ccg_gpu_mode_rule rules[] = {p->single_gpu, p->multi_gpu, p->protected_pcie};
    const ccg_gpu_mode modes[] = {CCG_GPU_MODE_SPT, CCG_GPU_MODE_MPT, CCG_GPU_MODE_PPCIE};
    int ok = 1, known = 0;
    for (size_t i = 0; i < 3; i++) {
        known = known || mode == modes[i];
    }
    for (size_t i = 0; i < 3; i++) {
        if (!known && rules[i] != CCG_GPU_MODE_RULE_ALLOWED) {
            deny(x, CCG_R_GPU_MODE_UNKNOWN, json_pack("{s:s}", "mode", mode_name(mode)));
            return 0;
        }
    }
    for (size_t i = 0; known && i < 3; i++) {
        if (mode == modes[i] && rules[i] == CCG_GPU_MODE_RULE_REFUSED) {
            deny(x, CCG_R_GPU_MODE_REFUSED, json_pack("{s:s}", "mode", mode_name(mode)));
            ok = 0;
        }
        if (mode != modes[i] && rules[i] == CCG_GPU_MODE_RULE_REQUIRED) {
            deny(x, CCG_R_GPU_MODE_REQUIRED, json_pack("{s:s, s:s}", "required", mode_name(modes[i]), "mode",
                                                       mode_name(mode)));
            ok = 0;
        }
    }
    return ok;
}

static void check_policy(const ctx *x, const ccg_gpu_result *res, const ccg_gpu_host_state *host, json_t *checks)
{
    const ccg_gpu_policy *p = x->p;
    const ccg_gpu_report *r = &res->report;
    size_t before = x->d->reasons.count;
    if (p->require_fwid && res->fwid == CCG_GPU_CHECK_NOT_IN_REPORT) {
        deny(x, CCG_R_GPU_FWID_MISSING, json_pack("{s:s}", "detail", "the policy requires an FWID"));
    }
    int arch_ok = (res->arch == CCG_GPU_ARCH_HOPPER && p->allow_hopper) ||
                  (res->arch == CCG_GPU_ARCH_BLACKWELL && p->allow_blackwell);
    if (!arch_ok) {
        deny(x, CCG_R_GPU_ARCH_NOT_ALLOWED, json_pack("{s:s}", "arch", ccg_gpu_arch_name(res->arch)));
    }
    (void)check_version(x, "driver_version", r->driver_version, &p->driver, 0, CCG_R_GPU_DRIVER_VERSION_TOO_OLD,
                        CCG_R_GPU_DRIVER_VERSION_NOT_ALLOWED);
    (void)check_version(x, "vbios_version", r->vbios_version, &p->vbios, 1, CCG_R_GPU_VBIOS_VERSION_TOO_OLD,
                        CCG_R_GPU_VBIOS_VERSION_NOT_ALLOWED);
    (void)check_mode(x, r->mode);
    /* The host's word can only refuse: DevTools on is refused whatever the policy says. */
    if (host != NULL && host->reported && host->devtools_on) {
        deny(x, CCG_R_GPU_DEVTOOLS_ON, json_pack("{s:s}", "source", "host"));
    }
    if (host != NULL && host->reported && !host->cc_on) {
        deny(x, CCG_R_GPU_CC_MODE_OFF, json_pack("{s:s}", "source", "host"));
    }
    json_object_set_new(checks, "policy", json_string(x->d->reasons.count == before ? "passed" : "failed"));
}

/* ------------------------------------------------------------------ one GPU */

static json_t *gpu_claims(size_t i, const ccg_gpu_result *res, const char *digest)
{
    const ccg_gpu_report *r = &res->report;
    char fwid[2 * CCG_GPU_FWID_SIZE + 1] = "";
    if (r->has_fwid) {
        ccg_hex_encode(r->fwid, sizeof(r->fwid), fwid);
    }
    json_t *c = json_pack("{s:I, s:s, s:s}", "index", (json_int_t)i, "arch", ccg_gpu_arch_name(res->arch),
                          "evidence_digest", digest);
    if (c != NULL && res->parsed) {
        json_object_set_new(c, "driver_version", json_string(r->driver_version));
        json_object_set_new(c, "vbios_version", json_string(r->vbios_version));
        json_object_set_new(c, "ueid", json_string(res->ueid));
        json_object_set_new(c, "hwmodel", json_string(res->hwmodel));
        json_object_set_new(c, "root", json_string(res->root));
        json_object_set_new(c, "fwid", r->has_fwid ? json_string(fwid) : json_null());
        json_object_set_new(c, "mode", json_string(mode_name(r->mode)));
        json_object_set_new(c, "evidence", ccg_gpu_result_json(res));
    }
    return c;
}

/* Which binding the signed nonce matched, by the caller's names; null unless the nonce check passed. */
static json_t *nonce_binding(const ccg_gpu_appraisal_input *in, const ccg_gpu_result *res)
{
    if (res->nonce != CCG_GPU_CHECK_PASSED) {
        return json_null();
    }
    if (res->nonce_alt) {
        return json_string(in->alt_nonce_binding != NULL ? in->alt_nonce_binding : "alternative");
    }
    return json_string(in->nonce_binding != NULL ? in->nonce_binding : "expected");
}

static ccg_result appraise_one(const ctx *x, const ccg_gpu_appraisal_input *in, ccg_gpu_result *res, json_t *gpus,
                               int *parsed)
{
    ccg_result result = CCG_FAILURE;
    const ccg_gpu_evidence_item *item = &in->items[x->gpu];
    ccg_gpu_verify_opts opts = {
        .expected_nonce = in->expected_nonces != NULL ? in->expected_nonces[x->gpu] : NULL,
        .alt_expected_nonce = in->alt_nonces != NULL ? in->alt_nonces[x->gpu] : NULL,
    };
    ccg_decision sub;
    json_t *claims = NULL, *checks = NULL;
    *parsed = ccg_ok(ccg_gpu_verify_item_opts(x->c->verifier, item, &opts, x->now, res, &sub));
    ccg_error_clear();
    for (size_t i = 0; i < sub.reasons.count; i++) {
        deny(x, sub.reasons.items[i].reason, json_incref(sub.reasons.items[i].details));
    }
    claims = gpu_claims(x->gpu, res, sub.evidence_digest);
    checks = json_pack("{s:s, s:s, s:s, s:s, s:s}", "chain", ccg_gpu_check_name(res->chain), "fwid",
                       ccg_gpu_check_name(res->fwid), "signature", ccg_gpu_check_name(res->signature), "nonce",
                       ccg_gpu_check_name(res->nonce), "arch", ccg_gpu_check_name(res->arch_check));
    CCG_ENSURE_ALLOC(claims);
    CCG_ENSURE_ALLOC(checks);
    json_object_set_new(claims, "nonce_binding", nonce_binding(in, res));
    if (*parsed && res->parsed) {
        check_chain_collateral(x, item, res, claims, checks);
        if (x->p->require_rim) {
            check_rims(x, res, claims, checks);
        } else {
            json_object_set_new(checks, "measurements", json_string("not_done"));
        }
        check_policy(x, res, in->host != NULL ? &in->host[x->gpu] : NULL, checks);
    }
    json_object_set(claims, "checks", checks);
    CCG_ENSURE_ALLOC(json_array_append(gpus, claims) == 0 ? gpus : NULL);
    result = CCG_SUCCESS;
cleanup:
    json_decref(checks);
    json_decref(claims);
    ccg_decision_free(&sub);
    return result;
}

/* ------------------------------------------------------------------ all GPUs */

static void verify_given_rims(const ccg_gpu_policy *p, const ccg_gpu_collateral *c, ccg_time now, given_rim *given,
                              ccg_decision *d)
{
    for (size_t i = 0; i < c->n_rims; i++) {
        given[i].ok = ccg_ok(gpu_appraise_rim_verify(p, c->rim_cache, c->rims[i].xml, c->rims[i].len, now,
                                                     &given[i].rim));
        if (!given[i].ok) {
            const ccg_error *e = ccg_error_last();
            ccg_decision_deny(d, e->reason == CCG_R_OK ? CCG_R_INTERNAL_ERROR : e->reason,
                              json_pack("{s:I, s:s}", "rim_document", (json_int_t)i, "detail", e->message));
            ccg_error_clear();
        }
    }
}

static void check_count(const ccg_gpu_policy *p, size_t count, ccg_decision *d)
{
    if (count < p->min_count || count > p->max_count) {
        ccg_decision_deny(d, CCG_R_GPU_COUNT_MISMATCH, json_pack("{s:I, s:I, s:I}", "count", (json_int_t)count,
                                                                 "min", (json_int_t)p->min_count, "max",
                                                                 (json_int_t)p->max_count));
    }
}

/* "sha384:" of the per-GPU evidence digests, one a line: the set of reports the decision rests on. */
static void set_digest(ccg_decision *d, json_t *gpus)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint8_t digest[48];
    unsigned int n = 0;
    size_t i;
    json_t *g;
    int ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha384(), NULL) == 1;
    json_array_foreach(gpus, i, g) {
        const char *s = json_string_value(json_object_get(g, "evidence_digest"));
        ok = ok && s != NULL && EVP_DigestUpdate(md, s, strlen(s)) == 1 && EVP_DigestUpdate(md, "\n", 1) == 1;
    }
    if (ok && EVP_DigestFinal_ex(md, digest, &n) == 1 && n == sizeof(digest)) {
        memcpy(d->evidence_digest, "sha384:", 7);
        ccg_hex_encode(digest, sizeof(digest), d->evidence_digest + 7);
    }
    EVP_MD_CTX_free(md);
}

ccg_result ccg_gpu_appraise(const ccg_gpu_policy *policy, const ccg_gpu_collateral *collateral,
                            const ccg_gpu_appraisal_input *in, ccg_time now, ccg_gpu_appraisal *out)
{
    ccg_result result = CCG_FAILURE;
    given_rim *given = NULL;
    json_t *gpus = json_array();
    memset(out, 0, sizeof(*out));
    out->unparsed = -1;
    ccg_decision_init(&out->decision, "gpu");
    snprintf(out->decision.policy_id, sizeof(out->decision.policy_id), "%s", policy->policy_id);
    out->decision.policy_version = policy->version;
    CCG_ENSURE_ALLOC(gpus);
    CCG_ENSURE_MSG(collateral->verifier != NULL && in->count <= CCG_GPU_MAX_GPUS &&
                       (in->items != NULL || in->count == 0),
                   CCG_R_INTERNAL_ERROR, "appraisal input out of range");
    out->results = calloc(in->count ? in->count : 1, sizeof(*out->results));
    given = calloc(collateral->n_rims ? collateral->n_rims : 1, sizeof(*given));
    CCG_ENSURE_ALLOC(out->results);
    CCG_ENSURE_ALLOC(given);
    out->count = in->count;
    verify_given_rims(policy, collateral, now, given, &out->decision);
    for (size_t i = 0; i < in->count; i++) {
        ctx x = {policy, collateral, given, now, &out->decision, i};
        int parsed = 0;
        CCG_TRY(appraise_one(&x, in, &out->results[i], gpus, &parsed));
        if (!parsed && out->unparsed < 0) {
            out->unparsed = (int)i;
        }
    }
    check_count(policy, in->count, &out->decision);
    set_digest(&out->decision, gpus);
    out->decision.claims = json_pack("{s:I, s:O}", "count", (json_int_t)in->count, "gpus", gpus);
    CCG_ENSURE_ALLOC(out->decision.claims);
    out->decision.allow = out->decision.reasons.count == 0;
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        ccg_decision_deny_last_error(&out->decision);
        out->decision.allow = 0;
    }
    for (size_t i = 0; given != NULL && i < collateral->n_rims; i++) {
        ccg_gpu_rim_free(&given[i].rim);
    }
    free(given);
    json_decref(gpus);
    return result;
}

void ccg_gpu_appraisal_free(ccg_gpu_appraisal *a)
{
    if (a == NULL) {
        return;
    }
    ccg_decision_free(&a->decision);
    free(a->results);
    memset(a, 0, sizeof(*a));
    a->unparsed = -1;
}
