/* The release decision: SNP evidence bound to its challenge, appraised under a release policy; and the
 * broker's cache of SNP verifiers, one per set of trusted extra roots. */
#include "kbs_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ccgate/error.h"
#include "ccgate/snp_verify.h"
#include "ccgate/x509util.h"

/* ---------------------------------------------------------------- the verifier cache
 *
 * A ccg_snp_verifier caches the chains it verified (snp_chain_cache.h, mutex-protected), so keeping
 * one verifier per set of trusted roots saves the two RSA-4096 link verifications, the pinned roots'
 * PEM parsing and the extra roots' self-signature checks on every appraisal. The key is SHA-256 over
 * the sorted (product, SHA-256 of DER) pairs of the policy's trusted_roots: policies and policy
 * versions that trust the same roots share a verifier, and a policy whose roots change gets another
 * one. The validity window is still checked against `now` by each ccg_snp_verify_ex call.
 *
 * Entries are reference-counted: an entry evicted (least recently used) while another thread still
 * appraises with it is freed by its last borrower. The table lock is never held during a verification. */

typedef struct {
    uint8_t key[32];
    ccg_snp_verifier *v;
    unsigned refs;  /* borrowers */
    int cached;     /* still in the table */
    uint64_t stamp; /* last use, for LRU eviction */
} kbs_ventry;

/* Certificates as the guests send them (the same VCEK and ASK bytes at /attest and /resource, and from
 * every guest on a host), parsed once: OpenSSL 3.0 builds a key decoder for each certificate's public
 * key, which costs more than the report's own signature check. Keyed by SHA-256 of the bytes. */
#define KBS_CERT_SLOTS 32u

typedef struct {
    uint8_t digest[32];
    STACK_OF(X509) *certs; /* NULL: an empty slot */
} kbs_cert_slot;

struct kbs_verifiers {
    kbs_table t; /* kbs_ventry entries */
    uint64_t hits;
    uint64_t misses;
    kbs_cert_slot certs[KBS_CERT_SLOTS];
    size_t cert_next; /* round-robin replacement */
};

static void ventry_free(void *entry)
{
    kbs_ventry *e = entry;
    if (e != NULL) {
        ccg_snp_verifier_free(e->v);
        free(e);
    }
}

static uint64_t ventry_stamp(const void *entry) { return ((const kbs_ventry *)entry)->stamp; }

ccg_result kbs_verifiers_new(size_t capacity, kbs_verifiers **out)
{
    ccg_result result = CCG_FAILURE;
    kbs_verifiers *c = calloc(1, sizeof(*c));
    *out = NULL;
    CCG_ENSURE_ALLOC(c);
    CCG_TRY(kbs_table_init(&c->t, capacity, 1024));
    *out = c;
    c = NULL;
    result = CCG_SUCCESS;
cleanup:
    free(c);
    return result;
}

void kbs_verifiers_free(kbs_verifiers *c)
{
    if (c == NULL) {
        return;
    }
    for (size_t i = 0; i < KBS_CERT_SLOTS; i++) {
        sk_X509_pop_free(c->certs[i].certs, X509_free);
    }
    kbs_table_destroy(&c->t, ventry_free);
    free(c);
}

void kbs_verifiers_stats(kbs_verifiers *c, uint64_t *hits, uint64_t *misses, size_t *size)
{
    size_t n = 0;
    pthread_mutex_lock(&c->t.lock);
    for (size_t i = 0; i < c->t.count; i++) {
        n += c->t.slots[i] != NULL;
    }
    *hits = c->hits;
    *misses = c->misses;
    *size = n;
    pthread_mutex_unlock(&c->t.lock);
}

static int cmp_root_id(const void *a, const void *b) { return memcmp(a, b, 33); }

/* SHA-256 over the sorted, de-duplicated (product, SHA-256 of DER) pairs of the policy's extra roots. */
static ccg_result roots_key(const ccg_kbs_policy *p, uint8_t key[32])
{
    ccg_result result = CCG_FAILURE;
    static const char domain[] = "ccgate-kbs/verifier-roots";
    uint8_t ids[CCG_KBS_MAX_ROOTS][33];
    size_t n = p->root_count;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int len = 0;
    CCG_ENSURE_ALLOC(md);
    CCG_ENSURE(n <= CCG_KBS_MAX_ROOTS, CCG_R_INTERNAL_ERROR);
    for (size_t i = 0; i < n; i++) {
        ids[i][0] = (uint8_t)p->roots[i].product;
        CCG_TRY(ccg_x509_sha256(p->roots[i].root, &ids[i][1]));
    }
    qsort(ids, n, sizeof(ids[0]), cmp_root_id);
    CCG_ENSURE_OSSL(EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_DigestUpdate(md, domain, sizeof(domain)) == 1, CCG_R_INTERNAL_CRYPTO);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && memcmp(ids[i], ids[i - 1], sizeof(ids[i])) == 0) {
            continue;
        }
        CCG_ENSURE_OSSL(EVP_DigestUpdate(md, ids[i], sizeof(ids[i])) == 1, CCG_R_INTERNAL_CRYPTO);
    }
    CCG_ENSURE_OSSL(EVP_DigestFinal_ex(md, key, &len) == 1 && len == 32, CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    EVP_MD_CTX_free(md);
    return result;
}

/* A verifier trusting the pinned AMD roots and the policy's extra roots. */
static ccg_result verifier_for(const ccg_kbs_policy *p, ccg_snp_verifier **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_snp_verifier *v = NULL;
    *out = NULL;
    CCG_TRY(ccg_snp_verifier_new(&v));
    for (size_t i = 0; i < p->root_count; i++) {
        CCG_TRY(ccg_snp_verifier_add_root(v, p->roots[i].product, p->roots[i].root));
    }
    *out = v;
    v = NULL;
    result = CCG_SUCCESS;
cleanup:
    ccg_snp_verifier_free(v);
    return result;
}

/* Borrows the verifier for the policy's roots, building and caching it on a miss. */
static ccg_result verifiers_acquire(kbs_verifiers *c, const ccg_kbs_policy *p, kbs_ventry **out)
{
    ccg_result result = CCG_FAILURE;
    uint8_t key[32];
    kbs_ventry *mine = NULL, *evicted = NULL;
    *out = NULL;
    CCG_TRY(roots_key(p, key));
    pthread_mutex_lock(&c->t.lock);
    for (size_t i = 0; i < c->t.count; i++) {
        kbs_ventry *e = c->t.slots[i];
        if (e != NULL && memcmp(e->key, key, sizeof(key)) == 0) {
            e->refs++;
            e->stamp = ++c->t.clock;
            c->hits++;
            *out = e;
            break;
        }
    }
    if (*out == NULL) {
        c->misses++;
    }
    pthread_mutex_unlock(&c->t.lock);
    if (*out != NULL) {
        result = CCG_SUCCESS;
        goto cleanup;
    }
    /* Built outside the lock: other policies' appraisals go on meanwhile. */
    mine = calloc(1, sizeof(*mine));
    CCG_ENSURE_ALLOC(mine);
    memcpy(mine->key, key, sizeof(key));
    mine->refs = 1;
    CCG_TRY(verifier_for(p, &mine->v));
    pthread_mutex_lock(&c->t.lock);
    for (size_t i = 0; i < c->t.count; i++) {
        kbs_ventry *e = c->t.slots[i];
        if (e != NULL && memcmp(e->key, key, sizeof(key)) == 0) {
            e->refs++; /* another thread built it first: use that one */
            e->stamp = ++c->t.clock;
            *out = e;
            break;
        }
    }
    if (*out == NULL) {
        size_t victim = kbs_table_victim(&c->t, ventry_stamp); /* empty, else least recently used */
        kbs_ventry *old = c->t.slots[victim];
        if (old != NULL) {
            old->cached = 0;
            if (old->refs == 0) {
                evicted = old;
            }
        }
        mine->cached = 1;
        mine->stamp = ++c->t.clock;
        c->t.slots[victim] = mine;
        *out = mine;
        mine = NULL;
    }
    pthread_mutex_unlock(&c->t.lock);
    result = CCG_SUCCESS;
cleanup:
    ventry_free(mine);
    ventry_free(evicted);
    return result;
}

static void verifiers_release(kbs_verifiers *c, kbs_ventry *e)
{
    int drop;
    if (e == NULL) {
        return;
    }
    pthread_mutex_lock(&c->t.lock);
    e->refs--;
    drop = e->refs == 0 && !e->cached;
    pthread_mutex_unlock(&c->t.lock);
    if (drop) {
        ventry_free(e);
    }
}

/* Adds the certificates of one evidence blob (DER, or a PEM bundle) to col, parsed once per blob. */
static ccg_result add_certs_cached(kbs_verifiers *c, ccg_snp_collateral *col, const uint8_t *data, size_t len)
{
    ccg_result result = CCG_FAILURE;
    uint8_t digest[32];
    unsigned int n = 0;
    int found = 0, locked = 0;
    ccg_snp_collateral parsed;
    STACK_OF(X509) *keep = NULL;
    parsed.certs = NULL;
    parsed.crl = NULL;
    CCG_ENSURE_OSSL(EVP_Digest(data, len, digest, &n, EVP_sha256(), NULL) == 1 && n == 32, CCG_R_INTERNAL_CRYPTO);
    pthread_mutex_lock(&c->t.lock);
    locked = 1;
    for (size_t i = 0; i < KBS_CERT_SLOTS && !found; i++) {
        kbs_cert_slot *slot = &c->certs[i];
        if (slot->certs != NULL && memcmp(slot->digest, digest, sizeof(digest)) == 0) {
            found = 1;
            for (int j = 0; j < sk_X509_num(slot->certs); j++) {
                CCG_TRY(ccg_snp_collateral_add_x509(col, sk_X509_value(slot->certs, j)));
            }
        }
    }
    pthread_mutex_unlock(&c->t.lock);
    locked = 0;
    if (!found) {
        CCG_TRY(ccg_snp_collateral_init(&parsed));
        CCG_TRY(ccg_snp_collateral_add_certs(&parsed, data, len));
        for (int j = 0; j < sk_X509_num(parsed.certs); j++) {
            CCG_TRY(ccg_snp_collateral_add_x509(col, sk_X509_value(parsed.certs, j)));
        }
        keep = X509_chain_up_ref(parsed.certs);
        if (keep != NULL) {
            kbs_cert_slot *slot;
            STACK_OF(X509) *old;
            pthread_mutex_lock(&c->t.lock);
            slot = &c->certs[c->cert_next];
            c->cert_next = (c->cert_next + 1) % KBS_CERT_SLOTS;
            old = slot->certs;
            memcpy(slot->digest, digest, sizeof(digest));
            slot->certs = keep;
            keep = old;
            pthread_mutex_unlock(&c->t.lock);
        }
    }
    result = CCG_SUCCESS;
cleanup:
    if (locked) {
        pthread_mutex_unlock(&c->t.lock);
    }
    sk_X509_pop_free(keep, X509_free);
    if (parsed.certs != NULL) {
        ccg_snp_collateral_free(&parsed);
    }
    return result;
}

/* ---------------------------------------------------------------- the decision */

/* The broker's failing-closed vocabulary on top of the verifier's precise codes (a decision carries
 * both): an expired endorsement key chain, CRL or TCB baseline is also collateral.expired, and an absent
 * VCEK/VLEK (the verifier's own collateral.missing), an incomplete chain, an absent required CRL or an
 * absent required TCB baseline is also collateral.missing. */
static void add_collateral_reasons(ccg_decision *d)
{
    const ccg_reasons *r = &d->reasons;
    if (!ccg_reasons_has(r, CCG_R_COLLATERAL_EXPIRED) &&
        (ccg_reasons_has(r, CCG_R_CERT_EXPIRED) || ccg_reasons_has(r, CCG_R_CRL_EXPIRED) ||
         ccg_reasons_has(r, CCG_R_SNP_TCB_BASELINE_EXPIRED))) {
        const char *cause = ccg_reasons_has(r, CCG_R_CERT_EXPIRED)  ? "cert.expired"
                            : ccg_reasons_has(r, CCG_R_CRL_EXPIRED) ? "crl.expired"
                                                                    : "snp.tcb_baseline_expired";
        ccg_decision_deny(d, CCG_R_COLLATERAL_EXPIRED, json_pack("{s:s}", "cause", cause));
    }
    if (!ccg_reasons_has(r, CCG_R_COLLATERAL_MISSING) &&
        (ccg_reasons_has(r, CCG_R_CERT_CHAIN_INCOMPLETE) || ccg_reasons_has(r, CCG_R_SNP_CRL_REQUIRED) ||
         ccg_reasons_has(r, CCG_R_SNP_TCB_BASELINE_MISSING))) {
        ccg_decision_deny(d, CCG_R_COLLATERAL_MISSING,
                          json_pack("{s:s}", "cause", ccg_reasons_has(r, CCG_R_SNP_CRL_REQUIRED) ? "snp.crl_required"
                                                      : ccg_reasons_has(r, CCG_R_CERT_CHAIN_INCOMPLETE)
                                                          ? "cert.chain_incomplete"
                                                          : "snp.tcb_baseline_missing"));
    }
}

static ccg_time asn1_seconds(const ASN1_TIME *t)
{
    struct tm tm;
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
        return 0; /* unknown: the caller treats the decision as not reusable */
    }
    return (ccg_time)timegm(&tm);
}

/* How long an allow decision on this collateral stays true: the earliest notAfter of the certificates
 * used and the CRL's nextUpdate. 0 when any is unknown. */
static ccg_time collateral_valid_until(const ccg_snp_collateral *col)
{
    ccg_time until = INT64_MAX;
    for (int i = 0; i < sk_X509_num(col->certs); i++) {
        ccg_time nb = 0, na = 0;
        if (ccg_failed(ccg_x509_validity(sk_X509_value(col->certs, i), &nb, &na))) {
            ccg_error_clear();
            return 0;
        }
        until = na < until ? na : until;
    }
    if (col->crl != NULL) {
        ccg_time next = asn1_seconds(X509_CRL_get0_nextUpdate(col->crl));
        if (next == 0) {
            return 0;
        }
        until = next < until ? next : until;
    }
    return until;
}

static int cmp_digest(const void *a, const void *b) { return memcmp(a, b, 32); }

/* SHA-256 over the sorted SHA-256s of the certificates' DER and the CRL's DER (or a marker for none):
 * the same collateral gives the same digest whatever order the guest or the cache supplied it in. */
static ccg_result collateral_digest(const ccg_snp_collateral *col, uint8_t out[32])
{
    ccg_result result = CCG_FAILURE;
    static const char domain[] = "ccgate-kbs/collateral";
    int n = sk_X509_num(col->certs);
    uint8_t (*ids)[32] = NULL;
    uint8_t crl_id[33] = {0};
    unsigned char *der = NULL;
    unsigned int len = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    CCG_ENSURE_ALLOC(md);
    CCG_ENSURE(n >= 0, CCG_R_INTERNAL_ERROR);
    ids = calloc((size_t)n + 1, sizeof(*ids));
    CCG_ENSURE_ALLOC(ids);
    for (int i = 0; i < n; i++) {
        CCG_TRY(ccg_x509_sha256(sk_X509_value(col->certs, i), ids[i]));
    }
    qsort(ids, (size_t)n, sizeof(ids[0]), cmp_digest);
    if (col->crl != NULL) {
        int dlen = i2d_X509_CRL(col->crl, &der);
        CCG_ENSURE_OSSL(dlen > 0, CCG_R_INTERNAL_CRYPTO);
        crl_id[0] = 1;
        CCG_ENSURE_OSSL(EVP_Digest(der, (size_t)dlen, crl_id + 1, &len, EVP_sha256(), NULL) == 1 && len == 32,
                        CCG_R_INTERNAL_CRYPTO);
    }
    CCG_ENSURE_OSSL(EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_DigestUpdate(md, domain, sizeof(domain)) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_DigestUpdate(md, ids, (size_t)n * sizeof(ids[0])) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_DigestUpdate(md, crl_id, sizeof(crl_id)) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_DigestFinal_ex(md, out, &len) == 1 && len == 32, CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    OPENSSL_free(der);
    free(ids);
    EVP_MD_CTX_free(md);
    return result;
}

/* The collateral an appraisal of ev under p uses: the evidence's certificates and, when the guest sent
 * none, the VCEK/VLEK and chain, and when the policy requires a CRL, the CRL, each from the uploaded
 * collateral in the store, else the cache (or KDS). col is
 * initialised by the caller. A miss fails closed with its collateral.* reason. */
static ccg_result gather_collateral(kbs_verifiers *cache, const ccg_kbs_policy *p, const ccg_kbs_snp_evidence *ev,
                                    const ccg_snp_kds_config *kds, ccg_snp_collateral *col)
{
    ccg_result result = CCG_FAILURE;
    ccg_snp_collateral extra;
    int extra_init = 0;
    for (size_t i = 0; i < ev->cert_count; i++) {
        if (cache != NULL) {
            CCG_TRY(add_certs_cached(cache, col, ev->certs[i], ev->cert_lens[i]));
        } else {
            CCG_TRY(ccg_snp_collateral_add_certs(col, ev->certs[i], ev->cert_lens[i]));
        }
    }
    if (kds != NULL && (ev->cert_count == 0 || p->snp->require_crl)) {
        CCG_TRY(ccg_snp_collateral_init(&extra));
        extra_init = 1;
        if (ev->cert_count == 0) {
            CCG_TRY(ccg_snp_collateral_for_report(kds, CCG_SNP_PRODUCT_UNKNOWN, ev->report, CCG_SNP_REPORT_SIZE,
                                                  p->snp->require_crl, &extra));
        } else { /* the guest sent its chain: only the CRL is wanted */
            CCG_TRY(ccg_snp_crl_for_report(kds, ev->report, CCG_SNP_REPORT_SIZE, &extra));
        }
        for (int i = 0; ev->cert_count == 0 && i < sk_X509_num(extra.certs); i++) {
            CCG_TRY(ccg_snp_collateral_add_x509(col, sk_X509_value(extra.certs, i)));
        }
        if (extra.crl != NULL) {
            X509_CRL_up_ref(extra.crl);
            X509_CRL_free(col->crl);
            col->crl = extra.crl;
        }
    }
    result = CCG_SUCCESS;
cleanup:
    if (extra_init) {
        ccg_snp_collateral_free(&extra);
    }
    return result;
}

ccg_result kbs_collateral_now(kbs_verifiers *cache, const ccg_kbs_policy *p, const ccg_kbs_snp_evidence *ev,
                              const ccg_snp_kds_config *kds, uint8_t digest[32])
{
    ccg_result result = CCG_FAILURE;
    ccg_snp_collateral col;
    int col_init = 0;
    CCG_TRY(ccg_snp_collateral_init(&col));
    col_init = 1;
    CCG_TRY(gather_collateral(cache, p, ev, kds, &col));
    CCG_TRY(collateral_digest(&col, digest));
    result = CCG_SUCCESS;
cleanup:
    if (col_init) {
        ccg_snp_collateral_free(&col);
    }
    return result;
}

ccg_result kbs_trust_epoch(const uint8_t trust_material[32], const ccg_kbs_policy *p, char out[65])
{
    ccg_result result = CCG_FAILURE;
    static const char domain[] = "ccgate-kbs/trust-epoch";
    uint8_t roots[32], epoch[32];
    unsigned int len = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    out[0] = 0;
    CCG_ENSURE_ALLOC(md);
    CCG_TRY(roots_key(p, roots));
    CCG_ENSURE_OSSL(EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_DigestUpdate(md, domain, sizeof(domain)) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_DigestUpdate(md, trust_material, 32) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_DigestUpdate(md, roots, sizeof(roots)) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_DigestFinal_ex(md, epoch, &len) == 1 && len == 32, CCG_R_INTERNAL_CRYPTO);
    ccg_hex_encode(epoch, sizeof(epoch), out);
    result = CCG_SUCCESS;
cleanup:
    EVP_MD_CTX_free(md);
    return result;
}

static ccg_result evaluate(kbs_verifiers *cache, const ccg_kbs_policy *p, const char *tee,
                           const ccg_kbs_snp_evidence *ev, const char *nonce, const ccg_jwk *tee_pubkey,
                           const char *additional_evidence, const ccg_snp_verify_opts *opts,
                           const ccg_snp_kds_config *kds, ccg_time now, ccg_decision *out, kbs_basis *basis)
{
    ccg_result result = CCG_FAILURE;
    ccg_snp_verifier *fresh = NULL, *verifier = NULL;
    kbs_ventry *entry = NULL;
    ccg_snp_collateral col;
    int col_init = 0;
    ccg_snp_policy bound;

    ccg_decision_init(out, "snp");
    if (basis != NULL) {
        memset(basis, 0, sizeof(*basis));
    }
    snprintf(out->policy_id, sizeof(out->policy_id), "%s", p->policy_id);
    out->policy_version = p->version;
    if (strcmp(tee, "snp") != 0 || !p->allow_snp) {
        ccg_decision_deny(out, CCG_R_KBS_TEE_NOT_ALLOWED, json_pack("{s:s}", "tee", tee));
        return CCG_SUCCESS;
    }
    /* The policy copy binds REPORT_DATA to this challenge; its arrays stay the policy's. */
    bound = *p->snp;
    CCG_TRY(ccg_jose_kbs_report_data("sha384", nonce, tee_pubkey, additional_evidence, bound.report_data));
    bound.has_report_data = 1;

    if (cache != NULL) {
        CCG_TRY(verifiers_acquire(cache, p, &entry));
        verifier = entry->v;
    } else {
        CCG_TRY(verifier_for(p, &fresh));
        verifier = fresh;
    }
    CCG_TRY(ccg_snp_collateral_init(&col));
    col_init = 1;
    CCG_TRY(gather_collateral(cache, p, ev, kds, &col));
    /* A report that cannot be parsed is a denial with its reason in out, not an internal error. */
    if (ccg_failed(ccg_snp_verify_ex(verifier, ev->report, CCG_SNP_REPORT_SIZE, &col, &bound, opts, now, out))) {
        ccg_error_clear(); /* recorded in out->reasons */
    }
    add_collateral_reasons(out);
    if (out->allow && basis != NULL) {
        /* What this allow rested on, for a later reuse (kbs_resource.c): unknown means never reused. */
        basis->valid_until = collateral_valid_until(&col);
        if (ccg_ok(collateral_digest(&col, basis->collateral))) {
            basis->has_collateral = 1;
        } else {
            ccg_error_clear();
            basis->valid_until = 0;
        }
    }
    /* The verifier names its own policy; the release policy is what was applied. */
    snprintf(out->policy_id, sizeof(out->policy_id), "%s", p->policy_id);
    out->policy_version = p->version;
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        /* Unparseable collateral or an internal failure: a denial that names it. */
        ccg_decision_deny_last_error(out);
        result = CCG_SUCCESS;
    }
    if (col_init) {
        ccg_snp_collateral_free(&col);
    }
    if (entry != NULL) {
        verifiers_release(cache, entry);
    }
    ccg_snp_verifier_free(fresh);
    return result;
}

ccg_result kbs_policy_evaluate_cached(kbs_verifiers *cache, const ccg_kbs_policy *p, const char *tee,
                                      const ccg_kbs_snp_evidence *ev, const char *nonce, const ccg_jwk *tee_pubkey,
                                      const char *additional_evidence, const ccg_snp_verify_opts *opts,
                                      const ccg_snp_kds_config *kds, ccg_time now, ccg_decision *out,
                                      kbs_basis *basis)
{
    return evaluate(cache, p, tee, ev, nonce, tee_pubkey, additional_evidence, opts, kds, now, out, basis);
}

ccg_result ccg_kbs_policy_evaluate(const ccg_kbs_policy *p, const char *tee, const ccg_kbs_snp_evidence *ev,
                                   const char *nonce, const ccg_jwk *tee_pubkey, const char *additional_evidence,
                                   const ccg_snp_verify_opts *opts, const ccg_snp_kds_config *kds, ccg_time now,
                                   ccg_decision *out)
{
    ccg_result result = CCG_FAILURE;
    kbs_gpu *g = NULL;
    kbs_gpu_binding b = {.nonce = nonce, .tee_pubkey = tee_pubkey, .additional_evidence = additional_evidence};
    CCG_TRY(evaluate(NULL, p, tee, ev, nonce, tee_pubkey, additional_evidence, opts, kds, now, out, NULL));
    /* Without a broker: no RIM store, no OCSP, no replay memory (kbs_gpu.h); the collateral (a verifier)
     * only when GPUs are required, the only case in which it is used. */
    if (p->gpu_required) {
        CCG_TRY(kbs_gpu_new(NULL, &g));
    }
    kbs_gpu_evaluate(g, NULL, p, &b, now, out);
    result = CCG_SUCCESS;
cleanup:
    kbs_gpu_free(g);
    return result;
}
