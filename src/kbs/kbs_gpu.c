/* The GPU half of a release decision (kbs_gpu.h): the broker's GPU collateral and verifiers, the nonce
 * bindings derived from the session, the replay memory, the appraisal, and the merge into the decision.
 * The wire form is kbs_gpu_wire.c; the claims tokens and audit records carry are kbs_gpu_claims.c. */
#include "kbs_gpu.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ccgate/error.h"
#include "ccgate/gpu_nonce.h"
#include "ccgate/x509util.h"

/* The session's hash algorithm: the broker's Challenge selects none, so KBS 0.4.0's default applies. */
#define KBS_GPU_SESSION_HASH "sha384"
/* Verifiers kept for policies that name a GPU test root (a software GPU's); more get a fresh one. */
#define KBS_GPU_VERIFIER_SLOTS 8u

typedef struct {
    uint8_t root[32]; /* SHA-256 of the test root's DER */
    ccg_gpu_verifier *v;
} gpu_vslot;

struct kbs_gpu {
    char *rim_dir, *rim_url, *ocsp_dir, *ocsp_url; /* owned strings the configs below point at */
    ccg_gpu_rim_store rim_store;
    int has_rim_store;
    ccg_gpu_ocsp_config ocsp;
    int has_ocsp;
    ccg_gpu_rim_cache *rim_cache;
    ccg_gpu_verifier *pinned; /* trusts the pinned NVIDIA root only */
    pthread_mutex_t lock;     /* guards slots */
    gpu_vslot slots[KBS_GPU_VERIFIER_SLOTS];
    ccg_time retention;
};

/* ---------------------------------------------------------------- collateral */

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

static ccg_result take_config(kbs_gpu *g, const ccg_kbs_gpu_config *cfg)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(dup_opt(cfg->rim_dir, &g->rim_dir));
    CCG_TRY(dup_opt(cfg->rim_service_url, &g->rim_url));
    CCG_TRY(dup_opt(cfg->ocsp_cache_dir, &g->ocsp_dir));
    CCG_TRY(dup_opt(cfg->ocsp_responder_url, &g->ocsp_url));
    g->rim_store = (ccg_gpu_rim_store){.dir = g->rim_dir, .service_url = g->rim_url, .timeout_s = cfg->rim_timeout,
                                       .connect_timeout_s = cfg->rim_connect_timeout};
    g->has_rim_store = g->rim_dir != NULL || g->rim_url != NULL;
    g->ocsp = (ccg_gpu_ocsp_config){.cache_dir = g->ocsp_dir, .responder_url = g->ocsp_url,
                                    .timeout_s = cfg->ocsp_timeout, .skew_s = cfg->ocsp_skew,
                                    .max_age_s = cfg->ocsp_max_age};
    g->has_ocsp = g->ocsp_dir != NULL || g->ocsp_url != NULL;
    g->retention = cfg->report_retention > 0 ? cfg->report_retention : CCG_KBS_GPU_RETENTION;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

void kbs_gpu_set_lookup(kbs_gpu *g, ccg_result (*lookup)(void *, const char *, uint8_t **, size_t *, int *), void *ctx)
{
    /* the store is always there: a policy that requires RIMs or OCSP is served by uploads alone */
    g->rim_store.lookup = lookup;
    g->rim_store.lookup_ctx = ctx;
    g->has_rim_store = 1;
    g->ocsp.lookup = lookup;
    g->ocsp.lookup_ctx = ctx;
    g->has_ocsp = 1;
}

ccg_result kbs_gpu_new(const ccg_kbs_gpu_config *cfg, kbs_gpu **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_kbs_gpu_config none;
    kbs_gpu *g = calloc(1, sizeof(*g));
    memset(&none, 0, sizeof(none));
    *out = NULL;
    CCG_ENSURE_ALLOC(g);
    CCG_ENSURE(pthread_mutex_init(&g->lock, NULL) == 0, CCG_R_INTERNAL_ERROR);
    CCG_TRY(take_config(g, cfg != NULL ? cfg : &none));
    CCG_TRY(ccg_gpu_rim_cache_new(&g->rim_cache));
    CCG_TRY(ccg_gpu_verifier_new(&g->pinned));
    *out = g;
    g = NULL;
    result = CCG_SUCCESS;
cleanup:
    kbs_gpu_free(g);
    return result;
}

void kbs_gpu_free(kbs_gpu *g)
{
    if (g == NULL) {
        return;
    }
    for (size_t i = 0; i < KBS_GPU_VERIFIER_SLOTS; i++) {
        ccg_gpu_verifier_free(g->slots[i].v);
    }
    ccg_gpu_verifier_free(g->pinned);
    ccg_gpu_rim_cache_free(g->rim_cache);
    free(g->rim_dir);
    free(g->rim_url);
    free(g->ocsp_dir);
    free(g->ocsp_url);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

ccg_time kbs_gpu_retention(const kbs_gpu *g) { return g->retention; }

/* A verifier trusting the pinned root and, when the policy names one, its GPU test root: kept in a slot
 * per root (never evicted, so never freed under a borrower), or made fresh (*fresh, the caller frees)
 * when the slots are full. The appraisal still requires the policy to name the root that issued the
 * chain, so a kept verifier trusting more than one policy's root would not widen any policy. */
static ccg_result verifier_for(kbs_gpu *g, const ccg_gpu_policy *p, ccg_gpu_verifier **out, ccg_gpu_verifier **fresh)
{
    ccg_result result = CCG_FAILURE;
    uint8_t root[32];
    ccg_gpu_verifier *v = NULL;
    int locked = 0;
    *out = NULL;
    *fresh = NULL;
    if (p->gpu_test_root == NULL) {
        *out = g->pinned;
        return CCG_SUCCESS;
    }
    CCG_TRY(ccg_x509_sha256(p->gpu_test_root, root));
    CCG_ENSURE(pthread_mutex_lock(&g->lock) == 0, CCG_R_INTERNAL_ERROR);
    locked = 1;
    for (size_t i = 0; i < KBS_GPU_VERIFIER_SLOTS && *out == NULL; i++) {
        if (g->slots[i].v != NULL && memcmp(g->slots[i].root, root, sizeof(root)) == 0) {
            *out = g->slots[i].v;
        }
    }
    if (*out == NULL) {
        CCG_TRY(ccg_gpu_verifier_new(&v));
        CCG_TRY(ccg_gpu_verifier_add_test_root(v, p->gpu_test_root));
        for (size_t i = 0; i < KBS_GPU_VERIFIER_SLOTS && v != NULL; i++) {
            if (g->slots[i].v == NULL) {
                memcpy(g->slots[i].root, root, sizeof(root));
                g->slots[i].v = v;
                *out = v;
                v = NULL;
            }
        }
        if (v != NULL) {
            *out = *fresh = v;
            v = NULL;
        }
    }
    result = CCG_SUCCESS;
cleanup:
    if (locked) {
        pthread_mutex_unlock(&g->lock);
    }
    ccg_gpu_verifier_free(v);
    return result;
}

/* ---------------------------------------------------------------- the decision */

static void deny_last_error(ccg_decision *d)
{
    const ccg_error *e = ccg_error_last();
    ccg_decision_deny(d, e->reason == CCG_R_OK ? CCG_R_INTERNAL_ERROR : e->reason,
                      json_pack("{s:s}", "detail", e->message));
    ccg_error_clear();
}

ccg_result kbs_gpu_report_digest(const ccg_gpu_evidence_item *item, char out[112])
{
    ccg_result result = CCG_FAILURE;
    uint8_t md[48];
    unsigned int n = 0;
    /* A well-formed report ends in its 96-byte signature (nothing may follow it); anything shorter is
     * hashed whole and refused by the appraisal anyway. */
    size_t len = item->evidence_len > 96 ? item->evidence_len - 96 : item->evidence_len;
    out[0] = 0;
    CCG_ENSURE_OSSL(EVP_Digest(item->evidence, len, md, &n, EVP_sha384(), NULL) == 1 && n == sizeof(md),
                    CCG_R_INTERNAL_CRYPTO);
    memcpy(out, "sha384:", 7);
    ccg_hex_encode(md, sizeof(md), out + 7);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Looks up (and, when b->record, records) every report. 1 when the decision stops here: a report seen
 * in another session (gpu.report_replayed, each with its index), or the replay memory failed. */
static int replayed(ccg_store *store, const ccg_gpu_evidence_list *list, const kbs_gpu_binding *b, ccg_time now,
                    ccg_decision *d)
{
    int stop = 0;
    for (size_t i = 0; i < list->count; i++) {
        char digest[112], when[32];
        int again = 0;
        ccg_time first = 0;
        ccg_result r = kbs_gpu_report_digest(&list->items[i], digest);
        if (ccg_ok(r)) {
            r = b->record ? ccg_store_gpu_report_claim(store, digest, b->session_id, now, &again, &first)
                          : ccg_store_gpu_report_find(store, digest, b->session_id, &again, &first);
        }
        if (ccg_failed(r)) {
            deny_last_error(d); /* the replay memory cannot answer: fail closed, naming the store */
            return 1;
        }
        if (again) {
            /* The other session's ID is a bearer secret of its client: only the time is reported. */
            ccg_time_format_rfc3339(first, when, sizeof(when));
            ccg_decision_deny(d, CCG_R_GPU_REPORT_REPLAYED,
                              json_pack("{s:I, s:s, s:s}", "gpu", (json_int_t)i, "first_seen", when, "report_digest",
                                        digest));
            stop = 1;
        }
    }
    return stop;
}

/* The same device (leaf serial) twice: each later sighting names the first. Only verified chains count. */
static void check_duplicates(const ccg_gpu_appraisal *a, ccg_decision *d)
{
    for (size_t j = 1; j < a->count; j++) {
        const ccg_gpu_result *rj = &a->results[j];
        for (size_t i = 0; i < j && rj->chain == CCG_GPU_CHECK_PASSED && rj->ueid[0] != 0; i++) {
            const ccg_gpu_result *ri = &a->results[i];
            if (ri->chain == CCG_GPU_CHECK_PASSED && strcmp(ri->ueid, rj->ueid) == 0) {
                ccg_decision_deny(d, CCG_R_GPU_DEVICE_DUPLICATE, json_pack("{s:I, s:I, s:s}", "gpu", (json_int_t)j,
                                                                           "same_as", (json_int_t)i, "ueid", rj->ueid));
                break;
            }
        }
    }
}

/* Per GPU i: the ccgate-v1 nonce of index i, and the trustee nonce (the same for every GPU). */
typedef struct {
    uint8_t v1[CCG_GPU_MAX_GPUS][CCG_GPU_NONCE_SIZE];
    uint8_t trustee[CCG_GPU_NONCE_SIZE];
    const uint8_t *expected[CCG_GPU_MAX_GPUS];
    const uint8_t *alt[CCG_GPU_MAX_GPUS];
} gpu_nonces;

static ccg_result derive_nonces(const kbs_gpu_binding *b, size_t count, gpu_nonces *n)
{
    ccg_result result = CCG_FAILURE;
    uint8_t digest[CCG_GPU_DEVICE_DIGEST_MAX];
    size_t len = 0;
    CCG_ENSURE(count <= CCG_GPU_MAX_GPUS, CCG_R_INTERNAL_ERROR);
    CCG_TRY(ccg_gpu_device_digest(KBS_GPU_SESSION_HASH, b->nonce, b->tee_pubkey, digest, &len));
    CCG_TRY(ccg_gpu_nonce_derive(CCG_GPU_NONCE_TRUSTEE, digest, len, 0, n->trustee));
    for (size_t i = 0; i < count; i++) {
        CCG_TRY(ccg_gpu_nonce_derive(CCG_GPU_NONCE_CCGATE_V1, digest, len, (uint32_t)i, n->v1[i]));
        n->expected[i] = n->v1[i];
        n->alt[i] = n->trustee;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The merge: every GPU reason (each keeps its "gpu" index), then the per-GPU claims under "gpus". */
static void merge(const ccg_gpu_appraisal *a, ccg_decision *d)
{
    json_t *summary = kbs_gpu_claims_summary(a->decision.claims);
    for (size_t i = 0; i < a->decision.reasons.count; i++) {
        ccg_decision_deny(d, a->decision.reasons.items[i].reason, json_incref(a->decision.reasons.items[i].details));
    }
    if (d->claims == NULL) {
        d->claims = json_object();
    }
    if (summary == NULL || d->claims == NULL || json_object_set_new(d->claims, "gpus", summary) != 0) {
        ccg_decision_deny(d, CCG_R_INTERNAL_OUT_OF_MEMORY, NULL);
    }
}

static void run_appraisal(const ccg_gpu_policy *p, const ccg_gpu_collateral *col, const ccg_gpu_evidence_list *list,
                          const ccg_gpu_host_state *hosts, const gpu_nonces *n, ccg_time now, ccg_decision *d)
{
    ccg_gpu_appraisal a;
    ccg_gpu_appraisal_input in = {.items = list->items,
                                  .count = list->count,
                                  .host = hosts,
                                  .expected_nonces = n->expected,
                                  .alt_nonces = n->alt,
                                  .nonce_binding = ccg_gpu_nonce_binding_name(CCG_GPU_NONCE_CCGATE_V1),
                                  .alt_nonce_binding = ccg_gpu_nonce_binding_name(CCG_GPU_NONCE_TRUSTEE)};
    /* A failure (out of memory) is recorded in a.decision as a reason, merged below; the thread's error
     * is not needed beside it. */
    if (ccg_failed(ccg_gpu_appraise(p, col, &in, now, &a))) {
        ccg_error_clear();
    }
    check_duplicates(&a, d);
    merge(&a, d);
    ccg_gpu_appraisal_free(&a);
}

static void appraise(kbs_gpu *g, const ccg_gpu_policy *p, const ccg_gpu_evidence_list *list,
                     const ccg_gpu_host_state *hosts, const kbs_gpu_binding *b, ccg_time now, ccg_decision *d)
{
    gpu_nonces *n = calloc(1, sizeof(*n));
    ccg_gpu_verifier *v = NULL, *fresh = NULL;
    if (n == NULL) {
        ccg_decision_deny(d, CCG_R_INTERNAL_OUT_OF_MEMORY, NULL);
        return;
    }
    if (ccg_failed(derive_nonces(b, list->count, n)) || ccg_failed(verifier_for(g, p, &v, &fresh))) {
        deny_last_error(d);
    } else {
        ccg_gpu_collateral col = {.verifier = v,
                                  .rim_store = g->has_rim_store ? &g->rim_store : NULL,
                                  .ocsp = g->has_ocsp ? &g->ocsp : NULL,
                                  .rim_cache = g->rim_cache};
        run_appraisal(p, &col, list, hosts, n, now, d);
    }
    ccg_gpu_verifier_free(fresh);
    free(n);
}

/* A policy without GPUs appraises no GPU evidence, yet the host's word that a GPU the guest relies on is
 * outside CC mode (or in DevTools mode) still refuses: it can only make a decision stricter. */
static void host_refusals(const ccg_gpu_host_state *hosts, size_t count, ccg_decision *d)
{
    for (size_t i = 0; i < count; i++) {
        if (hosts[i].reported && hosts[i].devtools_on) {
            ccg_decision_deny(d, CCG_R_GPU_DEVTOOLS_ON, json_pack("{s:I,s:s}", "gpu", (json_int_t)i, "source", "host"));
        }
        if (hosts[i].reported && !hosts[i].cc_on) {
            ccg_decision_deny(d, CCG_R_GPU_CC_MODE_OFF, json_pack("{s:I,s:s}", "gpu", (json_int_t)i, "source", "host"));
        }
    }
}

void kbs_gpu_evaluate(kbs_gpu *g, ccg_store *store, const ccg_kbs_policy *p, const kbs_gpu_binding *b, ccg_time now,
                      ccg_decision *d)
{
    ccg_gpu_evidence_list list;
    ccg_gpu_host_state hosts[CCG_GPU_MAX_GPUS];
    const char *text = b->additional_evidence != NULL ? b->additional_evidence : "";
    memset(&list, 0, sizeof(list));
    if (ccg_failed(kbs_gpu_evidence_parse(text, strlen(text), &list, hosts))) {
        deny_last_error(d);
        return;
    }
    if (!p->gpu_required || p->gpu == NULL) {
        host_refusals(hosts, list.count, d);
        goto out; /* the policy asks for no GPU: evidence for one is not appraised */
    }
    if (g == NULL) { /* a caller's bug: fail closed, never skip the GPUs */
        ccg_decision_deny(d, CCG_R_INTERNAL_ERROR, json_pack("{s:s}", "detail", "no GPU collateral"));
        goto out;
    }
    if (list.count == 0) {
        ccg_decision_deny(d, CCG_R_KBS_GPU_REQUIRED,
                          json_pack("{s:s}", "detail", "the policy requires GPUs; additional_evidence names none"));
        goto out;
    }
    if (store != NULL && replayed(store, &list, b, now, d)) {
        goto out;
    }
    appraise(g, p->gpu, &list, hosts, b, now, d);
out:
    ccg_gpu_evidence_list_free(&list);
}
