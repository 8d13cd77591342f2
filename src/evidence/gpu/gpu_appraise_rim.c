/* RIMs for the appraisal: verified under the pinned root or the policy's named test root, and cached
 * by (document digest, root) so the XML signature is checked once per document. A hit is still held
 * to the chain's validity window at every `now`. */
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/x509util.h"
#include "gpu_appraise_internal.h"

#define RIM_CACHE_SLOTS 32
#define RIM_KEY_SIZE 64 /* SHA-256 of the document ‖ SHA-256 of the root (zero: the pinned root) */

typedef struct {
    int used;
    uint8_t key[RIM_KEY_SIZE];
    ccg_time not_before; /* latest notBefore of the RIM's chain */
    ccg_gpu_rim rim;
} rim_slot;

struct ccg_gpu_rim_cache {
    pthread_mutex_t lock;
    rim_slot slots[RIM_CACHE_SLOTS];
    size_t next;
    size_t hits, misses;
};

ccg_result ccg_gpu_rim_cache_new(ccg_gpu_rim_cache **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_gpu_rim_cache *c = calloc(1, sizeof(*c));
    CCG_ENSURE_ALLOC(c);
    CCG_ENSURE_MSG(pthread_mutex_init(&c->lock, NULL) == 0, CCG_R_INTERNAL_ERROR, "mutex init");
    *out = c;
    c = NULL;
    result = CCG_SUCCESS;
cleanup:
    free(c);
    return result;
}

void ccg_gpu_rim_cache_free(ccg_gpu_rim_cache *c)
{
    if (c == NULL) {
        return;
    }
    for (size_t i = 0; i < RIM_CACHE_SLOTS; i++) {
        ccg_gpu_rim_free(&c->slots[i].rim);
    }
    pthread_mutex_destroy(&c->lock);
    free(c);
}

void ccg_gpu_rim_cache_stats(const ccg_gpu_rim_cache *c, size_t *hits, size_t *misses)
{
    ccg_gpu_rim_cache *m = (ccg_gpu_rim_cache *)c;
    pthread_mutex_lock(&m->lock);
    *hits = c->hits;
    *misses = c->misses;
    pthread_mutex_unlock(&m->lock);
}

ccg_result gpu_appraise_rim_copy(const ccg_gpu_rim *src, ccg_gpu_rim *dst)
{
    ccg_result result = CCG_FAILURE;
    *dst = *src;
    dst->chain = NULL;
    dst->resources = NULL;
    if (src->n_resources > 0) {
        dst->resources = malloc(src->n_resources * sizeof(*src->resources));
        CCG_ENSURE_ALLOC(dst->resources);
        memcpy(dst->resources, src->resources, src->n_resources * sizeof(*src->resources));
    }
    if (src->chain != NULL) {
        dst->chain = X509_chain_up_ref(src->chain);
        CCG_ENSURE_ALLOC(dst->chain);
    }
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        ccg_gpu_rim_free(dst);
    }
    return result;
}

static ccg_result chain_not_before(const ccg_gpu_rim *rim, ccg_time *out)
{
    ccg_result result = CCG_FAILURE;
    *out = 0;
    for (int i = 0; i < sk_X509_num(rim->chain); i++) {
        ccg_time nb = 0, na = 0;
        CCG_TRY(ccg_x509_validity(sk_X509_value(rim->chain, i), &nb, &na));
        *out = nb > *out ? nb : *out;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static int cache_get(ccg_gpu_rim_cache *c, const uint8_t key[RIM_KEY_SIZE], ccg_time now, ccg_gpu_rim *out)
{
    int hit = 0;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < RIM_CACHE_SLOTS && !hit; i++) {
        rim_slot *s = &c->slots[i];
        if (s->used && memcmp(s->key, key, RIM_KEY_SIZE) == 0 && now >= s->not_before &&
            now <= s->rim.chain_not_after) {
            hit = ccg_ok(gpu_appraise_rim_copy(&s->rim, out));
        }
    }
    pthread_mutex_unlock(&c->lock);
    return hit;
}

static void count(ccg_gpu_rim_cache *c, int hit)
{
    pthread_mutex_lock(&c->lock);
    *(hit ? &c->hits : &c->misses) += 1;
    pthread_mutex_unlock(&c->lock);
}

static void cache_put(ccg_gpu_rim_cache *c, const uint8_t key[RIM_KEY_SIZE], const ccg_gpu_rim *rim)
{
    ccg_gpu_rim copy;
    ccg_time nb = 0;
    if (ccg_failed(chain_not_before(rim, &nb)) || ccg_failed(gpu_appraise_rim_copy(rim, &copy))) {
        ccg_error_clear();
        return;
    }
    pthread_mutex_lock(&c->lock);
    rim_slot *s = &c->slots[c->next];
    c->next = (c->next + 1) % RIM_CACHE_SLOTS;
    ccg_gpu_rim_free(&s->rim);
    s->used = 1;
    memcpy(s->key, key, RIM_KEY_SIZE);
    s->not_before = nb;
    s->rim = copy;
    pthread_mutex_unlock(&c->lock);
}

static ccg_result cache_key(const uint8_t *xml, size_t len, X509 *root, uint8_t key[RIM_KEY_SIZE])
{
    ccg_result result = CCG_FAILURE;
    unsigned int n = 0;
    memset(key, 0, RIM_KEY_SIZE);
    CCG_ENSURE_OSSL(EVP_Digest(xml, len, key, &n, EVP_sha256(), NULL) == 1 && n == 32, CCG_R_INTERNAL_CRYPTO);
    if (root != NULL) {
        CCG_TRY(ccg_x509_sha256(root, key + 32));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The cache under one root: 1 and *out on a hit inside the validity window. */
static ccg_result cached(ccg_gpu_rim_cache *cache, const uint8_t *xml, size_t len, X509 *root, ccg_time now,
                         ccg_gpu_rim *out, int *hit)
{
    ccg_result result = CCG_FAILURE;
    uint8_t key[RIM_KEY_SIZE];
    *hit = 0;
    CCG_TRY(cache_key(xml, len, root, key));
    *hit = cache_get(cache, key, now, out);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The full verification under one root, cached when it passes. */
static ccg_result verify_under(ccg_gpu_rim_cache *cache, const uint8_t *xml, size_t len, X509 *root, ccg_time now,
                               ccg_gpu_rim *out)
{
    ccg_result result = CCG_FAILURE;
    uint8_t key[RIM_KEY_SIZE];
    ccg_error_clear();
    CCG_TRY(ccg_gpu_rim_verify(xml, len, root, now, out));
    if (cache != NULL && ccg_ok(cache_key(xml, len, root, key))) {
        cache_put(cache, key, out);
    }
    ccg_error_clear();
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result gpu_appraise_rim_verify(const ccg_gpu_policy *p, ccg_gpu_rim_cache *cache, const uint8_t *xml, size_t len,
                                   ccg_time now, ccg_gpu_rim *out)
{
    ccg_result result = CCG_FAILURE;
    int hit = 0;
    memset(out, 0, sizeof(*out));
    ccg_error_clear();
    if (cache != NULL) {
        CCG_TRY(cached(cache, xml, len, NULL, now, out, &hit));
        if (!hit && p->rim_test_root != NULL) {
            CCG_TRY(cached(cache, xml, len, p->rim_test_root, now, out, &hit));
        }
        count(cache, hit);
        if (hit) {
            result = CCG_SUCCESS;
            goto cleanup;
        }
    }
    result = verify_under(cache, xml, len, NULL, now, out);
    /* A RIM that does not chain to NVIDIA's root may chain to the test root this policy names. */
    if (ccg_failed(result) && ccg_error_last()->reason == CCG_R_GPU_RIM_CHAIN_INVALID && p->rim_test_root != NULL) {
        result = verify_under(cache, xml, len, p->rim_test_root, now, out);
    }
cleanup:
    return result;
}
