/* The TCB status of a report and the advisories that apply to it, against the baseline for its product,
 * and the policy's acceptance of both (docs/snp-tcb-baseline.md, docs/snp-policy.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/snp_tcb_baseline.h"

typedef struct {
    const char *name;
    unsigned bit;
    size_t off;
} component;

static const component COMPONENTS[] = {
    {"bootloader", CCG_SNP_TCB_C_BOOTLOADER, offsetof(ccg_snp_tcb, bootloader)},
    {"tee", CCG_SNP_TCB_C_TEE, offsetof(ccg_snp_tcb, tee)},
    {"snp", CCG_SNP_TCB_C_SNP, offsetof(ccg_snp_tcb, snp)},
    {"microcode", CCG_SNP_TCB_C_MICROCODE, offsetof(ccg_snp_tcb, microcode)},
    {"fmc", CCG_SNP_TCB_C_FMC, offsetof(ccg_snp_tcb, fmc)},
};
#define N_COMPONENTS (sizeof(COMPONENTS) / sizeof(COMPONENTS[0]))

static uint8_t level(const ccg_snp_tcb *t, const component *c) { return *((const uint8_t *)t + c->off); }

/* Appends {which, component, <floor_name>: floor, got} for each component of mask where got < floor. */
static int lagging(json_t *out, const char *which, const ccg_snp_tcb *got, const ccg_snp_tcb *floor,
                   const char *floor_name, unsigned mask)
{
    int n = 0;
    for (size_t i = 0; i < N_COMPONENTS; i++) {
        const component *c = &COMPONENTS[i];
        if ((mask & c->bit) && level(got, c) < level(floor, c)) {
            json_array_append_new(out, json_pack("{s:s, s:s, s:i, s:i}", "tcb", which, "component", c->name,
                                                 floor_name, level(floor, c), "got", level(got, c)));
            n++;
        }
    }
    return n;
}

static int advisory_allowed(const ccg_snp_tcb_req *q, const char *id)
{
    for (size_t i = 0; i < q->allowed_advisory_count; i++) {
        if (strcmp(q->allowed_advisories[i], id) == 0) {
            return 1;
        }
    }
    return 0;
}

/* An advisory applies when a component it lists is below its level, in REPORTED_TCB or LAUNCH_TCB. */
static int advisory_applies(const ccg_snp_advisory *a, const ccg_snp_tcb *reported, const ccg_snp_tcb *launch)
{
    for (size_t i = 0; i < N_COMPONENTS; i++) {
        const component *c = &COMPONENTS[i];
        uint8_t below = level(&a->below, c);
        if ((a->components & c->bit) && (level(reported, c) < below || level(launch, c) < below)) {
            return 1;
        }
    }
    return 0;
}

static json_t *baseline_json(const ccg_snp_tcb_baseline *b)
{
    return json_pack("{s:s, s:I, s:s}", "product", ccg_snp_product_name(b->product), "version", (json_int_t)b->version,
                     "issuer", b->issuer);
}

/* The status and advisories against a usable baseline; reasons for what the policy does not accept. */
static ccg_snp_tcb_status against_baseline(const ccg_snp_tcb_req *q, const ccg_snp_tcb_baseline *b,
                                           const ccg_snp_tcb *reported, const ccg_snp_tcb *launch, json_t *advisories,
                                           ccg_decision *d)
{
    unsigned mask = ccg_snp_tcb_components(b->product);
    json_t *behind = json_array();
    int n = lagging(behind, "reported_tcb", reported, &b->up_to_date, "up_to_date", mask) +
            lagging(behind, "launch_tcb", launch, &b->up_to_date, "up_to_date", mask);
    if (n > 0 && !q->accept_out_of_date) {
        ccg_decision_deny(d, CCG_R_SNP_TCB_OUT_OF_DATE,
                          json_pack("{s:o, s:o}", "baseline", baseline_json(b), "components", json_incref(behind)));
    }
    json_decref(behind);
    for (size_t i = 0; i < b->advisory_count; i++) {
        const ccg_snp_advisory *a = &b->advisories[i];
        if (!advisory_applies(a, reported, launch)) {
            continue;
        }
        json_array_append_new(advisories, json_string(a->id));
        if (!advisory_allowed(q, a->id)) {
            ccg_decision_deny(d, CCG_R_SNP_ADVISORY_NOT_ALLOWED,
                              json_pack("{s:s, s:o}", "advisory", a->id, "baseline", baseline_json(b)));
        }
    }
    return n > 0 ? CCG_SNP_TCB_OUT_OF_DATE : CCG_SNP_TCB_UP_TO_DATE;
}

/* The baseline for the product when it is usable now; its refusals otherwise (a supplied baseline that
 * cannot be used is refused whatever the policy says: the authority meant it to apply). */
static const ccg_snp_tcb_baseline *usable_baseline(const ccg_snp_tcb_req *q, ccg_snp_product product,
                                                   const ccg_snp_tcb_baselines *set, const ccg_refval_issuers *iss,
                                                   ccg_time now, ccg_decision *d)
{
    const ccg_snp_tcb_baseline *b = set != NULL ? set->by_product[product] : NULL;
    if (b == NULL) {
        if (q->require_baseline) {
            json_t *supplied = json_array();
            for (int i = CCG_SNP_PRODUCT_MILAN; set != NULL && i <= CCG_SNP_PRODUCT_TURIN; i++) {
                if (set->by_product[i] != NULL) {
                    json_array_append_new(supplied, json_string(ccg_snp_product_name((ccg_snp_product)i)));
                }
            }
            ccg_decision_deny(d, CCG_R_SNP_TCB_BASELINE_MISSING,
                              json_pack("{s:s, s:o}", "product", ccg_snp_product_name(product), "supplied", supplied));
        }
        return NULL;
    }
    return ccg_snp_tcb_baseline_check(b, iss, now, d) ? b : NULL;
}

json_t *ccg_snp_tcb_appraise(const ccg_snp_policy *p, const ccg_snp_report *r, ccg_snp_product product,
                             const ccg_snp_tcb_baselines *set, const ccg_refval_issuers *iss, ccg_time now,
                             ccg_decision *d)
{
    const ccg_snp_tcb_req *q = &p->tcb;
    ccg_snp_tcb reported, committed, launch;
    const ccg_snp_tcb_baseline *b = NULL;
    ccg_snp_tcb_status status = CCG_SNP_TCB_UNKNOWN;
    json_t *advisories = json_array(), *rolled = json_array(), *claims = NULL;
    if (advisories == NULL || rolled == NULL) {
        goto cleanup;
    }
    if (product != CCG_SNP_PRODUCT_UNKNOWN) { /* an unknown product was denied already; no TCB layout */
        ccg_snp_tcb_split(product, r->reported_tcb, &reported);
        ccg_snp_tcb_split(product, r->committed_tcb, &committed);
        ccg_snp_tcb_split(product, r->launch_tcb, &launch);
        b = usable_baseline(q, product, set, iss, now, d);
        if (b != NULL) {
            status = against_baseline(q, b, &reported, &launch, advisories, d);
        }
        /* The host reports a TCB older than the committed firmware: the VCEK of an older, possibly
         * vulnerable TCB signs. Known without a baseline. */
        if (lagging(rolled, "reported_tcb", &reported, &committed, "committed", ccg_snp_tcb_components(product)) > 0) {
            status = CCG_SNP_TCB_ROLLED_BACK;
            if (!q->accept_rolled_back) {
                ccg_decision_deny(d, CCG_R_SNP_TCB_ROLLED_BACK, json_pack("{s:O}", "components", rolled));
            }
        }
    }
    claims = json_pack("{s:s, s:O, s:o}", "tcb_status", ccg_snp_tcb_status_name(status), "advisories", advisories,
                       "tcb_baseline", b != NULL ? baseline_json(b) : json_null());
cleanup:
    json_decref(advisories);
    json_decref(rolled);
    return claims;
}
