/* The launch-digest engine: the SHA-384 chain of SEV-SNP PAGE_INFO records (SNP_LAUNCH_UPDATE).
 * The digest is fetched once and each thread reuses one EVP context, so hashing allocates nothing per
 * page. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "snp_internal.h"

#define PAGE_INFO_LEN 0x70
#define MAX_WORKERS 16
#define MIN_PAGES_PER_WORKER 64

ccg_result snp_gctx_init(snp_gctx *g, const uint8_t *seed)
{
    ccg_result result = CCG_FAILURE;
    memset(g, 0, sizeof(*g));
    if (seed != NULL) {
        memcpy(g->ld, seed, sizeof(g->ld));
    }
    /* An explicit fetch avoids the implicit per-call fetch of EVP_sha384(). */
    g->md = EVP_MD_fetch(NULL, "SHA384", NULL);
    CCG_ENSURE_OSSL(g->md != NULL, CCG_R_INTERNAL_CRYPTO);
    g->ctx = EVP_MD_CTX_new();
    CCG_ENSURE_ALLOC(g->ctx);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

void snp_gctx_free(snp_gctx *g)
{
    EVP_MD_CTX_free(g->ctx);
    EVP_MD_free(g->md);
    g->ctx = NULL;
    g->md = NULL;
}

ccg_result snp_gctx_sha384(snp_gctx *g, const uint8_t *data, size_t len, uint8_t out[CCG_SNP_LD_SIZE])
{
    ccg_result result = CCG_FAILURE;
    unsigned int n = 0;
    CCG_ENSURE_OSSL(EVP_DigestInit_ex2(g->ctx, g->md, NULL) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_DigestUpdate(g->ctx, data, len) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_DigestFinal_ex(g->ctx, out, &n) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE(n == CCG_SNP_LD_SIZE, CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static void put_le(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

/* SEV-SNP ABI, PAGE_INFO: DIGEST_CUR, CONTENTS, LENGTH, PAGE_TYPE, IMI_PAGE, VMPL3..1 permissions,
 * reserved, GPA. ccgate launches no IMI pages and grants the lower VMPLs nothing. */
ccg_result snp_gctx_update(snp_gctx *g, uint8_t page_type, uint64_t gpa, const uint8_t *contents)
{
    uint8_t info[PAGE_INFO_LEN] = {0};
    memcpy(info, g->ld, CCG_SNP_LD_SIZE);
    memcpy(info + 48, contents, CCG_SNP_LD_SIZE);
    put_le(info + 96, PAGE_INFO_LEN, 2);
    info[98] = page_type;
    put_le(info + 104, gpa, 8);
    return snp_gctx_sha384(g, info, sizeof(info), g->ld);
}

/* One worker's share of the page digests. Workers cannot record an error (it is per thread), so they
 * set `failed` and the caller raises internal.crypto. */
typedef struct {
    EVP_MD *md;
    const uint8_t *data;
    size_t pages;
    uint8_t *digests;
    int failed;
} page_job;

static void *hash_pages(void *arg)
{
    page_job *j = arg;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    j->failed = ctx == NULL;
    for (size_t i = 0; !j->failed && i < j->pages; i++) {
        j->failed = EVP_DigestInit_ex2(ctx, j->md, NULL) != 1 ||
                    EVP_DigestUpdate(ctx, j->data + i * CCG_SNP_PAGE_SIZE, CCG_SNP_PAGE_SIZE) != 1 ||
                    EVP_DigestFinal_ex(ctx, j->digests + i * CCG_SNP_LD_SIZE, NULL) != 1;
    }
    EVP_MD_CTX_free(ctx);
    return NULL;
}

/* Enough pages per thread to pay for starting it. */
static size_t worker_count(size_t pages)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t n = cpus < 1 ? 1 : (size_t)cpus;
    n = n > MAX_WORKERS ? MAX_WORKERS : n;
    return pages / MIN_PAGES_PER_WORKER < n ? pages / MIN_PAGES_PER_WORKER : n;
}

/* Hashes every page into digests (pages x 48 bytes), split over threads; a thread that cannot start
 * has its share done here. */
static ccg_result hash_pages_parallel(snp_gctx *g, const uint8_t *data, size_t pages, size_t workers,
                                      uint8_t *digests)
{
    ccg_result result = CCG_FAILURE;
    page_job jobs[MAX_WORKERS];
    pthread_t threads[MAX_WORKERS];
    int started[MAX_WORKERS] = {0};
    int failed = 0;
    for (size_t w = 0, first = 0; w < workers; w++) {
        size_t share = pages / workers + (w < pages % workers);
        jobs[w] = (page_job){g->md, data + first * CCG_SNP_PAGE_SIZE, share, digests + first * CCG_SNP_LD_SIZE, 0};
        first += share;
        started[w] = w > 0 && pthread_create(&threads[w], NULL, hash_pages, &jobs[w]) == 0;
    }
    for (size_t w = 0; w < workers; w++) {
        if (started[w]) {
            (void)pthread_join(threads[w], NULL);
        } else {
            (void)hash_pages(&jobs[w]);
        }
        failed |= jobs[w].failed;
    }
    CCG_ENSURE_MSG(!failed, CCG_R_INTERNAL_CRYPTO, "SHA-384 of a page failed");
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The page digests are independent, so large runs are hashed in parallel; only the short PAGE_INFO
 * chain is sequential. */
ccg_result snp_gctx_normal_pages(snp_gctx *g, uint64_t gpa, const uint8_t *data, size_t len)
{
    ccg_result result = CCG_FAILURE;
    uint8_t page_digest[CCG_SNP_LD_SIZE], *digests = NULL;
    size_t pages = len / CCG_SNP_PAGE_SIZE, workers = worker_count(pages);
    CCG_ENSURE(len % CCG_SNP_PAGE_SIZE == 0, CCG_R_INTERNAL_ERROR);
    if (workers > 1) {
        digests = malloc(pages * CCG_SNP_LD_SIZE);
        CCG_ENSURE_ALLOC(digests);
        CCG_TRY(hash_pages_parallel(g, data, pages, workers, digests));
    }
    for (size_t i = 0; i < pages; i++) {
        if (digests == NULL) {
            CCG_TRY(snp_gctx_sha384(g, data + i * CCG_SNP_PAGE_SIZE, CCG_SNP_PAGE_SIZE, page_digest));
        }
        CCG_TRY(snp_gctx_update(g, SNP_PAGE_NORMAL, gpa + i * CCG_SNP_PAGE_SIZE,
                                digests ? digests + i * CCG_SNP_LD_SIZE : page_digest));
    }
    result = CCG_SUCCESS;
cleanup:
    free(digests);
    return result;
}

ccg_result snp_gctx_empty_pages(snp_gctx *g, uint8_t page_type, uint64_t gpa, uint64_t len)
{
    ccg_result result = CCG_FAILURE;
    static const uint8_t zeros[CCG_SNP_LD_SIZE];
    CCG_ENSURE(len % CCG_SNP_PAGE_SIZE == 0, CCG_R_INTERNAL_ERROR);
    for (uint64_t off = 0; off < len; off += CCG_SNP_PAGE_SIZE) {
        CCG_TRY(snp_gctx_update(g, page_type, gpa + off, zeros));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}
