/* The parallel unsealer. Each thread owns a disjoint, contiguous range of chunks: it reads a chunk's
 * ciphertext straight into the chunk's place in dest (pread from the file, or from memory), decrypts it
 * there in place, authenticates it, and hashes the plaintext slice by slice while it is still in cache
 * (the SHA-256 leaves of the signed digest). For files, each thread asks the kernel to read its next
 * chunks ahead (POSIX_FADV_WILLNEED) so disk I/O overlaps decryption. Extra memory is O(threads)
 * contexts plus 32 bytes of leaf per chunk; the plaintext exists only in dest.
 *
 * Checks in order: key version (artifact.key_version_mismatch), the key check value
 * (artifact.key_invalid), every chunk (art_chunk_open's codes), then the chunk-tree digest against the
 * signed one (artifact.digest_mismatch). On any failure dest is zeroed. */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "artifact_internal.h"
#include "ccgate/secmem.h"
#include "ccgate/util.h"

#define MAX_THREADS 256u
#define READAHEAD_BYTES (8u << 20) /* per thread: the kernel reads ahead while this thread decrypts */

typedef struct {
    ccg_artifact *a;
    const art_keys *k;
    uint8_t *dest;
    const art_chunk_meta *meta;
    uint8_t *digests;
    atomic_int *stop;
    art_progress *progress; /* http: wait for each chunk to arrive */
    uint64_t first, end, stride;
    int failed;
    uint64_t fail_index;
    ccg_error error;
} art_worker;

/* Where chunk i's prefix, ciphertext and tag are; for files, reads them (the ciphertext into out). */
static ccg_result locate(art_worker *w, uint64_t i, uint8_t *out, size_t len, const uint8_t **prefix,
                         const uint8_t **ct, const uint8_t **tag, uint8_t *pbuf, uint8_t *tbuf)
{
    ccg_result result = CCG_FAILURE;
    const ccg_artifact *a = w->a;
    uint64_t off = art_record_offset(&a->h, i);
    switch (a->kind) {
    case ART_SRC_FD:
        CCG_TRY(art_pread_full(a->fd, pbuf, ART_PREFIX_LEN, off));
        CCG_TRY(art_pread_full(a->fd, out, len, off + ART_PREFIX_LEN));
        CCG_TRY(art_pread_full(a->fd, tbuf, ART_TAG_LEN, off + ART_PREFIX_LEN + len));
        *prefix = pbuf;
        *ct = out;
        *tag = tbuf;
        break;
    case ART_SRC_MEM:
        CCG_ENSURE_MSG(off + ART_RECORD_OVERHEAD + len <= a->mem_len, CCG_R_ARTIFACT_TRUNCATED, "chunk %llu cut off",
                       (unsigned long long)i);
        *prefix = a->mem + off;
        *ct = a->mem + off + ART_PREFIX_LEN;
        *tag = *ct + len;
        break;
    case ART_SRC_HTTP:
        *prefix = w->meta[i].prefix;
        *ct = out;
        *tag = w->meta[i].tag;
        break;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result one_chunk(art_worker *w, art_chunk_ctx *c, uint64_t i)
{
    ccg_result result = CCG_FAILURE;
    const ccg_artifact_header *h = &w->a->h;
    size_t len = (size_t)art_chunk_len(h, i);
    uint8_t *out = len > 0 ? w->dest + i * (uint64_t)h->chunk_size : w->dest;
    uint8_t pbuf[ART_PREFIX_LEN], tbuf[ART_TAG_LEN];
    const uint8_t *prefix = NULL, *ct = NULL, *tag = NULL;
    CCG_TRY(locate(w, i, out, len, &prefix, &ct, &tag, pbuf, tbuf));
    CCG_TRY(art_chunk_open(c, w->k, h, i, prefix, ct, len, tag, out,
                           w->digests != NULL ? w->digests + i * ART_LEAF_LEN : NULL));
    if (w->a->progress != NULL) {
        uint64_t done = atomic_fetch_add_explicit(&w->a->progress_done, len, memory_order_relaxed) + len;
        w->a->progress(w->a->progress_ctx, done, h->plaintext_len);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Asks the kernel to start reading chunk i of a file source (asynchronously), so I/O overlaps decryption. */
static void prefetch(const art_worker *w, uint64_t i)
{
    const ccg_artifact_header *h = &w->a->h;
    if (w->a->kind == ART_SRC_FD && i < w->end) {
        (void)posix_fadvise(w->a->fd, (off_t)art_record_offset(h, i),
                            (off_t)(art_chunk_len(h, i) + ART_RECORD_OVERHEAD), POSIX_FADV_WILLNEED);
    }
}

/* http: waits until chunk i has arrived; 0 when the transfer ended without it or another thread failed
 * (not this thread's failure: the caller reports the transfer's or that thread's error). */
static int wait_for_chunk(const art_worker *w, uint64_t i)
{
    art_progress *p = w->progress;
    int ok;
    if (p == NULL) {
        return 1;
    }
    pthread_mutex_lock(&p->mu);
    while (p->complete <= i && !p->finished && atomic_load(w->stop) == 0) {
        pthread_cond_wait(&p->cv, &p->mu);
    }
    ok = p->complete > i && atomic_load(w->stop) == 0;
    pthread_mutex_unlock(&p->mu);
    return ok;
}

static void stop_all(art_worker *w)
{
    atomic_store(w->stop, 1);
    if (w->progress != NULL) {
        pthread_mutex_lock(&w->progress->mu);
        pthread_cond_broadcast(&w->progress->cv);
        pthread_mutex_unlock(&w->progress->mu);
    }
}

static void *worker_main(void *arg)
{
    art_worker *w = arg;
    art_chunk_ctx c;
    uint64_t i = w->first;
    int bad = 1;
    if (ccg_ok(art_chunk_ctx_init(&c))) {
        uint64_t ahead = READAHEAD_BYTES / w->a->h.chunk_size + 1;
        bad = 0;
        for (uint64_t p = w->first; p < w->first + ahead; p++) {
            prefetch(w, p);
        }
        for (; i < w->end && atomic_load_explicit(w->stop, memory_order_relaxed) == 0; i += w->stride) {
            prefetch(w, i + ahead);
            if (!wait_for_chunk(w, i)) {
                break;
            }
            if (ccg_failed(one_chunk(w, &c, i))) {
                bad = 1;
                break;
            }
        }
        art_chunk_ctx_free(&c);
    }
    if (bad) {
        /* ccg_error is per thread: carry it back to the caller's thread. */
        w->failed = 1;
        w->fail_index = i;
        w->error = *ccg_error_last();
        stop_all(w);
    }
    return NULL;
}

static unsigned thread_count(unsigned threads, uint64_t chunks)
{
    if (threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (unsigned)n : 1;
    }
    if (threads > MAX_THREADS) {
        threads = MAX_THREADS;
    }
    return (uint64_t)threads > chunks ? (unsigned)chunks : threads;
}

/* Re-raises the failure of the lowest failing chunk on this thread. */
static void report_failure(const art_worker *ws, unsigned n)
{
    const art_worker *first = NULL;
    for (unsigned t = 0; t < n; t++) {
        if (ws[t].failed && (first == NULL || ws[t].fail_index < first->fail_index)) {
            first = &ws[t];
        }
    }
    ccg_error_clear();
    if (first != NULL) {
        ccg_error_set(first->error.reason, first->error.file, first->error.line, "%s", first->error.message);
    } else {
        ccg_error_set(CCG_R_INTERNAL_ERROR, __FILE__, __LINE__, "a decryption thread could not start");
    }
}

/* Files and memory: contiguous ranges, the first on this thread. http: chunk i on thread i mod n, every
 * thread waiting for its chunks while this thread runs the transfer. */
static ccg_result run_workers(ccg_artifact *a, const art_keys *k, uint8_t *dest, art_chunk_meta *meta,
                              unsigned threads, uint8_t *chunk_digests, art_progress *progress)
{
    ccg_result result = CCG_FAILURE, fetched = CCG_SUCCESS;
    atomic_int stop = 0;
    uint64_t chunks = a->h.chunk_count;
    unsigned n = thread_count(threads, chunks), first_thread = progress != NULL ? 0 : 1, started = 0;
    art_worker *ws = calloc(n, sizeof(*ws));
    pthread_t *tids = calloc(n, sizeof(*tids));
    int failed = 0;
    CCG_ENSURE_ALLOC(ws != NULL && tids != NULL ? ws : NULL);
    for (unsigned t = 0; t < n; t++) {
        ws[t] = (art_worker){.a = a, .k = k, .dest = dest, .meta = meta, .digests = chunk_digests, .stop = &stop,
                             .progress = progress};
        if (progress != NULL) {
            ws[t].first = t;
            ws[t].end = chunks;
            ws[t].stride = n;
        } else {
            ws[t].first = chunks * t / n;
            ws[t].end = chunks * (t + 1) / n;
            ws[t].stride = 1;
        }
    }
    if (progress != NULL) {
        progress->stop = &stop;
    }
    for (unsigned t = first_thread; t < n; t++) {
        if (pthread_create(&tids[t], NULL, worker_main, &ws[t]) != 0) {
            atomic_store(&stop, 1);
            failed = 1;
            break;
        }
        started++;
    }
    if (progress != NULL) {
        if (!failed) {
            fetched = art_http_fetch_body(a, dest, meta, progress);
        }
        pthread_mutex_lock(&progress->mu);
        progress->finished = 1;
        pthread_cond_broadcast(&progress->cv);
        pthread_mutex_unlock(&progress->mu);
    } else {
        worker_main(&ws[0]);
    }
    for (unsigned t = first_thread; t < first_thread + started; t++) {
        pthread_join(tids[t], NULL);
    }
    for (unsigned t = 0; t < n; t++) {
        failed |= ws[t].failed;
    }
    if (failed) {
        report_failure(ws, n);
        goto cleanup;
    }
    CCG_TRY(fetched);
    result = CCG_SUCCESS;
cleanup:
    free(tids);
    free(ws);
    return result;
}

ccg_result art_unseal_chunks(ccg_artifact *a, const art_keys *k, uint8_t *dest, const art_chunk_meta *meta,
                             unsigned threads, uint8_t *chunk_digests)
{
    return run_workers(a, k, dest, (art_chunk_meta *)meta, threads, chunk_digests, NULL);
}

/* http(s): the transfer on this thread, decryption on the others as chunks arrive. */
static ccg_result unseal_http(ccg_artifact *a, const art_keys *k, uint8_t *dest, unsigned threads,
                              uint8_t *chunk_digests)
{
    ccg_result result = CCG_FAILURE;
    art_progress progress;
    art_chunk_meta *meta = calloc((size_t)a->h.chunk_count, sizeof(*meta));
    memset(&progress, 0, sizeof(progress));
    pthread_mutex_init(&progress.mu, NULL);
    pthread_cond_init(&progress.cv, NULL);
    CCG_ENSURE_ALLOC(meta);
    CCG_TRY(run_workers(a, k, dest, meta, threads, chunk_digests, &progress));
    result = CCG_SUCCESS;
cleanup:
    pthread_cond_destroy(&progress.cv);
    pthread_mutex_destroy(&progress.mu);
    free(meta);
    return result;
}

static ccg_result check_key(const ccg_artifact *a, const uint8_t *model_key, size_t model_key_len,
                            uint32_t model_key_version, art_keys *k)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(model_key_version == a->h.key_version, CCG_R_ARTIFACT_KEY_VERSION_MISMATCH,
                   "the key is version %u of %s; the artifact was sealed under version %u", model_key_version,
                   a->h.key_id, a->h.key_version);
    CCG_TRY(art_derive_keys(model_key, model_key_len, &a->h, k));
    CCG_ENSURE_MSG(ccg_memeq_ct(k->key_check, a->h.key_check, sizeof(k->key_check)), CCG_R_ARTIFACT_KEY_INVALID,
                   "the model key is not the key %s version %u was sealed under", a->h.key_id, a->h.key_version);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_artifact_unseal_into(ccg_artifact *a, const uint8_t *model_key, size_t model_key_len,
                                    uint32_t model_key_version, uint8_t *dest, size_t dest_len, unsigned threads)
{
    ccg_result result = CCG_FAILURE;
    art_keys k;
    uint8_t *digests = NULL, root[CCG_ARTIFACT_DIGEST_LEN];
    memset(&k, 0, sizeof(k));
    CCG_ENSURE_MSG(a != NULL, CCG_R_USAGE_INVALID, "no artifact");
    CCG_ENSURE_MSG(a->h.plaintext_len <= dest_len && (dest != NULL || a->h.plaintext_len == 0), CCG_R_USAGE_INVALID,
                   "the destination holds %zu bytes; the model is %llu", dest_len,
                   (unsigned long long)a->h.plaintext_len);
    CCG_TRY(check_key(a, model_key, model_key_len, model_key_version, &k));
    atomic_store(&a->progress_done, 0);
    digests = malloc((size_t)a->h.chunk_count * ART_LEAF_LEN);
    CCG_ENSURE_ALLOC(digests);
    if (a->kind == ART_SRC_HTTP) {
        CCG_TRY(unseal_http(a, &k, dest, threads, digests));
    } else {
        CCG_TRY(art_unseal_chunks(a, &k, dest, NULL, threads, digests));
    }
    CCG_TRY(art_digest_root(digests, a->h.chunk_count, a->h.plaintext_len, a->h.chunk_size, root));
    CCG_ENSURE_MSG(ccg_memeq_ct(root, a->h.plaintext_digest, sizeof(root)), CCG_R_ARTIFACT_DIGEST_MISMATCH,
                   "the decrypted model's digest is not the signed digest");
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result) && a != NULL && dest != NULL && a->h.plaintext_len <= dest_len) {
        ccg_secure_zero(dest, (size_t)a->h.plaintext_len);
    }
    ccg_secure_zero(&k, sizeof(k));
    free(digests);
    return result;
}

void ccg_artifact_set_progress(ccg_artifact *a, ccg_artifact_progress_fn fn, void *ctx)
{
    if (a != NULL) {
        a->progress = fn;
        a->progress_ctx = ctx;
    }
}
