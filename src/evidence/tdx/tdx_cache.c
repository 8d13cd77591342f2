/* The verifier's cache of what it has already verified and that does not depend on time: a PCK chain's
 * signatures, roles and root (and its parsed SGX extension), and a collateral bundle's chains, CRLs,
 * TCB info and QE identity (signatures, issuers, parsing, and the root CA CRL's verdict on the
 * collateral's own CAs). Entries are keyed by the exact bytes (kept as copies, compared in full), so a
 * changed byte is a miss. Only what passed in full is added. Time-dependent checks are redone on every
 * use from the windows recorded here (docs/tdx-quote.md, "Verified-collateral cache").
 *
 * A mutex guards the slots; an entry in use is pinned by a reference count and never evicted. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/x509util.h"
#include "tdx_internal.h"

#define PCK_SLOTS 32
#define COL_SLOTS 8
#define ATT_SLOTS 32

struct tdx_cache {
    pthread_mutex_t mu;
    tdx_pck_entry *pck[PCK_SLOTS];
    tdx_col_entry *col[COL_SLOTS];
    size_t next_pck, next_col; /* round-robin replacement */
    /* Attestation keys already decoded and checked to be on P-256: one per quoting enclave. */
    uint8_t att_xy[ATT_SLOTS][64];
    EVP_PKEY *att_key[ATT_SLOTS];
    size_t next_att;
    uint64_t fast, full; /* verifications by path */
};

static void pck_entry_free(tdx_pck_entry *e)
{
    if (e != NULL) {
        free(e->bytes);
        sk_X509_pop_free(e->chain, X509_free);
        free(e);
    }
}

static void col_entry_free(tdx_col_entry *e)
{
    if (e != NULL) {
        ccg_tdx_collateral_free(&e->bytes);
        X509_free(e->root);
        sk_X509_pop_free(e->tcb_chain, X509_free);
        sk_X509_pop_free(e->qe_chain, X509_free);
        sk_X509_pop_free(e->crl_chain, X509_free);
        X509_CRL_free(e->root_crl);
        X509_CRL_free(e->pck_crl);
        free(e->info);
        free(e->qeid);
        free(e);
    }
}

ccg_result tdx_cache_new(tdx_cache **out)
{
    ccg_result result = CCG_FAILURE;
    tdx_cache *c = calloc(1, sizeof(*c));
    CCG_ENSURE_ALLOC(c);
    CCG_ENSURE(pthread_mutex_init(&c->mu, NULL) == 0, CCG_R_INTERNAL_ERROR);
    *out = c;
    c = NULL;
    result = CCG_SUCCESS;
cleanup:
    free(c);
    return result;
}

void tdx_cache_free(tdx_cache *c)
{
    if (c == NULL) {
        return;
    }
    for (size_t i = 0; i < PCK_SLOTS; i++) {
        pck_entry_free(c->pck[i]);
    }
    for (size_t i = 0; i < COL_SLOTS; i++) {
        col_entry_free(c->col[i]);
    }
    for (size_t i = 0; i < ATT_SLOTS; i++) {
        EVP_PKEY_free(c->att_key[i]);
    }
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* ---- lookups ---- */

static int same(const void *a, size_t alen, const void *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static int same_collateral(const ccg_tdx_collateral *a, const ccg_tdx_collateral *b)
{
    return same(a->tcb_info, a->tcb_info_len, b->tcb_info, b->tcb_info_len) &&
           memcmp(a->tcb_info_sig, b->tcb_info_sig, 64) == 0 &&
           same(a->qe_identity, a->qe_identity_len, b->qe_identity, b->qe_identity_len) &&
           memcmp(a->qe_identity_sig, b->qe_identity_sig, 64) == 0 &&
           same(a->tcb_info_issuer_chain, a->tcb_info_issuer_chain_len, b->tcb_info_issuer_chain,
                b->tcb_info_issuer_chain_len) &&
           same(a->qe_identity_issuer_chain, a->qe_identity_issuer_chain_len, b->qe_identity_issuer_chain,
                b->qe_identity_issuer_chain_len) &&
           same(a->pck_crl, a->pck_crl_len, b->pck_crl, b->pck_crl_len) &&
           same(a->pck_crl_issuer_chain, a->pck_crl_issuer_chain_len, b->pck_crl_issuer_chain,
                b->pck_crl_issuer_chain_len) &&
           same(a->root_ca_crl, a->root_ca_crl_len, b->root_ca_crl, b->root_ca_crl_len);
}

const tdx_pck_entry *tdx_cache_pck_get(tdx_cache *c, const uint8_t *chain, size_t len)
{
    tdx_pck_entry *found = NULL;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < PCK_SLOTS && found == NULL; i++) {
        if (c->pck[i] != NULL && same(c->pck[i]->bytes, c->pck[i]->len, chain, len)) {
            found = c->pck[i];
            found->refs++;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return found;
}

const tdx_col_entry *tdx_cache_col_get(tdx_cache *c, const ccg_tdx_collateral *col)
{
    tdx_col_entry *found = NULL;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < COL_SLOTS && found == NULL; i++) {
        if (c->col[i] != NULL && same_collateral(&c->col[i]->bytes, col)) {
            found = c->col[i];
            found->refs++;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return found;
}

void tdx_cache_release(tdx_cache *c, const tdx_pck_entry *pck, const tdx_col_entry *col)
{
    pthread_mutex_lock(&c->mu);
    if (pck != NULL) {
        ((tdx_pck_entry *)pck)->refs--;
    }
    if (col != NULL) {
        ((tdx_col_entry *)col)->refs--;
    }
    pthread_mutex_unlock(&c->mu);
}

/* ---- adding ---- */

static STACK_OF(X509) *chain_ref(STACK_OF(X509) *chain)
{
    STACK_OF(X509) *out = sk_X509_dup(chain);
    for (int i = 0; out != NULL && i < sk_X509_num(out); i++) {
        X509_up_ref(sk_X509_value(out, i));
    }
    return out;
}

/* The intersection of the certificates' validity: [max notBefore, min notAfter]. */
static int widen_certs(STACK_OF(X509) *chain, ccg_time *from, ccg_time *until)
{
    for (int i = 0; i < sk_X509_num(chain); i++) {
        ccg_time nb = 0, na = 0;
        X509 *x = sk_X509_value(chain, i);
        if (ccg_failed(ccg_x509_time(X509_get0_notBefore(x), &nb)) ||
            ccg_failed(ccg_x509_time(X509_get0_notAfter(x), &na))) {
            ccg_error_clear();
            return 0;
        }
        *from = nb > *from ? nb : *from;
        *until = na < *until ? na : *until;
    }
    return 1;
}

static int crl_window(X509_CRL *crl, ccg_time *from, ccg_time *until)
{
    ccg_time last = 0, next = 0;
    if (X509_CRL_get0_lastUpdate(crl) == NULL || X509_CRL_get0_nextUpdate(crl) == NULL ||
        ccg_failed(ccg_x509_time(X509_CRL_get0_lastUpdate(crl), &last)) ||
        ccg_failed(ccg_x509_time(X509_CRL_get0_nextUpdate(crl), &next))) {
        ccg_error_clear();
        return 0;
    }
    *from = last > *from ? last : *from;
    *until = next < *until ? next : *until;
    return 1;
}

/* Puts e in a free slot, or in place of the next entry not in use; drops it when every one is in use. */
static void place(tdx_cache *c, void **slots, size_t n, size_t *next, void *e, void (*drop)(void *),
                  int (*in_use)(const void *))
{
    pthread_mutex_lock(&c->mu);
    for (size_t k = 0; k < n && e != NULL; k++) {
        size_t i = (*next + k) % n;
        if (slots[i] == NULL || !in_use(slots[i])) {
            drop(slots[i]);
            slots[i] = e;
            e = NULL;
            *next = (i + 1) % n;
        }
    }
    pthread_mutex_unlock(&c->mu);
    drop(e);
}

static void drop_pck(void *e) { pck_entry_free(e); }
static void drop_col(void *e) { col_entry_free(e); }
static int pck_in_use(const void *e) { return ((const tdx_pck_entry *)e)->refs > 0; }
static int col_in_use(const void *e) { return ((const tdx_col_entry *)e)->refs > 0; }

void tdx_cache_pck_add(tdx_cache *c, const uint8_t *bytes, size_t len, STACK_OF(X509) *chain, const tdx_pck_tcb *pck)
{
    tdx_pck_entry *e = calloc(1, sizeof(*e));
    if (e == NULL || (e->bytes = malloc(len + 1)) == NULL || (e->chain = chain_ref(chain)) == NULL) {
        pck_entry_free(e);
        return; /* a cache that cannot grow only costs time */
    }
    memcpy(e->bytes, bytes, len);
    e->len = len;
    e->pck = *pck;
    e->cert_from = INT64_MIN;
    e->cert_until = INT64_MAX;
    if (!widen_certs(e->chain, &e->cert_from, &e->cert_until)) {
        pck_entry_free(e);
        return;
    }
    place(c, (void **)c->pck, PCK_SLOTS, &c->next_pck, e, drop_pck, pck_in_use);
}

static int copy_text(const char *s, size_t n, char **out, size_t *out_len)
{
    *out = malloc(n + 1);
    if (*out != NULL) {
        memcpy(*out, s, n);
        (*out)[n] = '\0';
        *out_len = n;
    }
    return *out != NULL;
}

static int copy_collateral(const ccg_tdx_collateral *in, ccg_tdx_collateral *out)
{
    memset(out, 0, sizeof(*out));
    memcpy(out->tcb_info_sig, in->tcb_info_sig, 64);
    memcpy(out->qe_identity_sig, in->qe_identity_sig, 64);
    return copy_text(in->tcb_info, in->tcb_info_len, &out->tcb_info, &out->tcb_info_len) &&
           copy_text(in->qe_identity, in->qe_identity_len, &out->qe_identity, &out->qe_identity_len) &&
           copy_text(in->tcb_info_issuer_chain, in->tcb_info_issuer_chain_len, &out->tcb_info_issuer_chain,
                     &out->tcb_info_issuer_chain_len) &&
           copy_text(in->qe_identity_issuer_chain, in->qe_identity_issuer_chain_len, &out->qe_identity_issuer_chain,
                     &out->qe_identity_issuer_chain_len) &&
           copy_text(in->pck_crl_issuer_chain, in->pck_crl_issuer_chain_len, &out->pck_crl_issuer_chain,
                     &out->pck_crl_issuer_chain_len) &&
           copy_text((const char *)in->pck_crl, in->pck_crl_len, (char **)&out->pck_crl, &out->pck_crl_len) &&
           copy_text((const char *)in->root_ca_crl, in->root_ca_crl_len, (char **)&out->root_ca_crl,
                     &out->root_ca_crl_len);
}

void tdx_cache_col_add(tdx_cache *c, const tdx_col_verified *v)
{
    tdx_col_entry *e = calloc(1, sizeof(*e));
    if (e == NULL) {
        return;
    }
    e->info = malloc(sizeof(*e->info));
    e->qeid = malloc(sizeof(*e->qeid));
    e->tcb_chain = chain_ref(v->tcb_chain);
    e->qe_chain = chain_ref(v->qe_chain);
    e->crl_chain = chain_ref(v->crl_chain);
    if (e->info == NULL || e->qeid == NULL || e->tcb_chain == NULL || e->qe_chain == NULL || e->crl_chain == NULL ||
        !copy_collateral(v->col, &e->bytes) || X509_up_ref(v->root) != 1) {
        col_entry_free(e);
        return;
    }
    e->root = v->root;
    X509_CRL_up_ref(v->root_crl);
    e->root_crl = v->root_crl;
    X509_CRL_up_ref(v->pck_crl);
    e->pck_crl = v->pck_crl;
    memcpy(e->info, v->info, sizeof(*e->info));
    memcpy(e->qeid, v->qeid, sizeof(*e->qeid));
    e->cert_from = INT64_MIN;
    e->cert_until = INT64_MAX;
    e->doc_from = v->info->issue_date > v->qeid->issue_date ? v->info->issue_date : v->qeid->issue_date;
    e->doc_until = v->info->next_update < v->qeid->next_update ? v->info->next_update : v->qeid->next_update;
    if (!widen_certs(e->tcb_chain, &e->cert_from, &e->cert_until) ||
        !widen_certs(e->qe_chain, &e->cert_from, &e->cert_until) ||
        !widen_certs(e->crl_chain, &e->cert_from, &e->cert_until) ||
        !crl_window(e->root_crl, &e->doc_from, &e->doc_until) || !crl_window(e->pck_crl, &e->doc_from, &e->doc_until)) {
        col_entry_free(e);
        return;
    }
    place(c, (void **)c->col, COL_SLOTS, &c->next_col, e, drop_col, col_in_use);
}

/* ---- attestation keys (decoding only; the signature is checked on every quote) ---- */

EVP_PKEY *tdx_cache_att_key(tdx_cache *c, const uint8_t xy[64])
{
    EVP_PKEY *key = NULL;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < ATT_SLOTS && key == NULL; i++) {
        if (c->att_key[i] != NULL && memcmp(c->att_xy[i], xy, 64) == 0 && EVP_PKEY_up_ref(c->att_key[i]) == 1) {
            key = c->att_key[i];
        }
    }
    pthread_mutex_unlock(&c->mu);
    return key;
}

void tdx_cache_att_key_add(tdx_cache *c, const uint8_t xy[64], EVP_PKEY *key)
{
    if (EVP_PKEY_up_ref(key) != 1) {
        return;
    }
    pthread_mutex_lock(&c->mu);
    size_t i = c->next_att;
    EVP_PKEY *old = c->att_key[i]; /* callers hold their own references */
    memcpy(c->att_xy[i], xy, 64);
    c->att_key[i] = key;
    c->next_att = (i + 1) % ATT_SLOTS;
    pthread_mutex_unlock(&c->mu);
    EVP_PKEY_free(old);
}

void tdx_cache_count(tdx_cache *c, int fast)
{
    pthread_mutex_lock(&c->mu);
    if (fast) {
        c->fast++;
    } else {
        c->full++;
    }
    pthread_mutex_unlock(&c->mu);
}

void tdx_cache_counts(tdx_cache *c, uint64_t *fast, uint64_t *full)
{
    pthread_mutex_lock(&c->mu);
    *fast = c->fast;
    *full = c->full;
    pthread_mutex_unlock(&c->mu);
}
