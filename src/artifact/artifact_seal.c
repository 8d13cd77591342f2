/* The seal writer. It streams the model twice, one chunk at a time, and never holds more than two chunks:
 * pass 1 hashes each chunk (the signed chunk-tree digest must be in the header, and the header digest is
 * in every chunk's AAD, so the header comes first); pass 2 encrypts, hashing each chunk again so a model
 * that changed between the passes is refused (artifact.source_changed) rather than sealed with a digest
 * it does not have. The output is removed on any failure. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "artifact_internal.h"
#include "ccgate/secmem.h"
#include "ccgate/util.h"

static ccg_result write_full(int fd, const uint8_t *p, size_t n)
{
    ccg_result result = CCG_FAILURE;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        CCG_ENSURE_MSG(w > 0, CCG_R_IO_WRITE_FAILED, "write: %s", strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result input_size(int fd, uint64_t *size)
{
    ccg_result result = CCG_FAILURE;
    struct stat st;
    CCG_ENSURE_MSG(fstat(fd, &st) == 0 && S_ISREG(st.st_mode), CCG_R_IO_READ_FAILED, "the model is not a regular file");
    *size = (uint64_t)st.st_size;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Pass 1: the per-chunk leaves (count * 32 bytes, malloc'd) and the signed root. */
/* Reports seal progress: both passes count, so the total is twice the model's size. */
static void report(const art_seal_params *p, uint64_t done, uint64_t size)
{
    if (p != NULL && p->progress != NULL) {
        p->progress(p->progress_ctx, done, 2 * size);
    }
}

static ccg_result hash_pass(int fd, uint64_t size, uint32_t chunk_size, uint8_t *buf, uint8_t **digests,
                            uint8_t root[CCG_ARTIFACT_DIGEST_LEN], const art_seal_params *p)
{
    ccg_result result = CCG_FAILURE;
    art_chunk_ctx c;
    uint64_t count = size == 0 ? 1 : (size + chunk_size - 1) / chunk_size;
    uint8_t *d = NULL;
    int have_ctx = 0;
    CCG_ENSURE_MSG(size <= ART_PLAINTEXT_MAX, CCG_R_INPUT_TOO_LARGE, "the model is too large");
    d = malloc((size_t)count * ART_LEAF_LEN);
    CCG_ENSURE_ALLOC(d);
    CCG_TRY(art_chunk_ctx_init(&c));
    have_ctx = 1;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t off = i * chunk_size, len = size - off < chunk_size ? size - off : chunk_size;
        CCG_TRY(art_pread_full(fd, buf, (size_t)len, off));
        CCG_TRY(art_leaf_hash(&c, buf, (size_t)len, d + i * ART_LEAF_LEN));
        report(p, off + len, size);
    }
    CCG_TRY(art_digest_root(d, count, size, chunk_size, root));
    *digests = d;
    d = NULL;
    result = CCG_SUCCESS;
cleanup:
    if (have_ctx) {
        art_chunk_ctx_free(&c);
    }
    free(d);
    return result;
}

/* The header, keys and signature: everything but the chunks. */
static ccg_result make_header(const art_seal_params *p, uint64_t size, const uint8_t root[CCG_ARTIFACT_DIGEST_LEN],
                              ccg_artifact_header *h, art_keys *k, uint8_t *hdr, size_t *hdr_len)
{
    ccg_result result = CCG_FAILURE;
    size_t signed_len = 0;
    unsigned int n = 0;
    memset(h, 0, sizeof(*h));
    CCG_ENSURE_MSG(p->key_id != NULL && strlen(p->key_id) <= CCG_ARTIFACT_KEY_ID_MAX, CCG_R_USAGE_INVALID,
                   "a key ID of at most %d characters is required", CCG_ARTIFACT_KEY_ID_MAX);
    memcpy(h->key_id, p->key_id, strlen(p->key_id) + 1); /* length checked just above */
    h->version = ART_VERSION;
    h->suite = CCG_ARTIFACT_SUITE_AES256GCM;
    h->sig_alg = art_sig_alg_of(p->signer);
    CCG_ENSURE_MSG(h->sig_alg != 0, CCG_R_USAGE_INVALID, "the signing key must be ECDSA P-384 or Ed25519");
    h->key_version = p->key_version;
    h->chunk_size = p->chunk_size != 0 ? p->chunk_size : CCG_ARTIFACT_DEFAULT_CHUNK;
    h->plaintext_len = size;
    CCG_TRY(art_header_layout(h));
    CCG_ENSURE_OSSL(RAND_bytes(h->salt, sizeof(h->salt)) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_TRY(art_derive_keys(p->model_key, p->model_key_len, h, k));
    memcpy(h->key_check, k->key_check, sizeof(h->key_check));
    memcpy(h->plaintext_digest, p->digest_override != NULL ? p->digest_override : root, CCG_ARTIFACT_DIGEST_LEN);
    CCG_TRY(art_header_encode(h, hdr, CCG_ARTIFACT_HEADER_MAX, &signed_len));
    CCG_ENSURE_OSSL(EVP_Digest(hdr, signed_len, h->header_digest, &n, EVP_sha384(), NULL) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_TRY(art_sign(p->signer, hdr, signed_len, hdr + signed_len, h->signature_len));
    *hdr_len = signed_len + h->signature_len;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Pass 2: each chunk re-read, checked against pass 1, encrypted and written as prefix || ct || tag. */
static ccg_result encrypt_pass(int in_fd, int out_fd, const ccg_artifact_header *h, const art_keys *k,
                               const uint8_t *digests, uint8_t *pt, uint8_t *ct, const art_seal_params *p)
{
    ccg_result result = CCG_FAILURE;
    art_chunk_ctx c;
    int have_ctx = 0;
    uint8_t prefix[ART_PREFIX_LEN], tag[ART_TAG_LEN], d[ART_LEAF_LEN];
    CCG_TRY(art_chunk_ctx_init(&c));
    have_ctx = 1;
    for (uint64_t i = 0; i < h->chunk_count; i++) {
        size_t len = (size_t)art_chunk_len(h, i);
        CCG_TRY(art_pread_full(in_fd, pt, len, i * (uint64_t)h->chunk_size));
        CCG_TRY(art_leaf_hash(&c, pt, len, d));
        CCG_ENSURE_MSG(memcmp(d, digests + i * ART_LEAF_LEN, sizeof(d)) == 0, CCG_R_ARTIFACT_SOURCE_CHANGED,
                       "the model changed while it was sealed (chunk %llu)", (unsigned long long)i);
        art_chunk_prefix(h, i, prefix);
        CCG_TRY(art_chunk_seal(&c, k, h, i, pt, len, ct, tag));
        CCG_TRY(write_full(out_fd, prefix, sizeof(prefix)));
        CCG_TRY(write_full(out_fd, ct, len));
        CCG_TRY(write_full(out_fd, tag, sizeof(tag)));
        report(p, h->plaintext_len + i * (uint64_t)h->chunk_size + len, h->plaintext_len);
    }
    result = CCG_SUCCESS;
cleanup:
    if (have_ctx) {
        art_chunk_ctx_free(&c);
    }
    return result;
}

ccg_result art_seal_fd(int in_fd, int out_fd, const art_seal_params *p)
{
    ccg_result result = CCG_FAILURE;
    uint64_t size = 0, size_after = 0;
    uint32_t cs = p->chunk_size != 0 ? p->chunk_size : CCG_ARTIFACT_DEFAULT_CHUNK;
    uint8_t *pt = NULL, *ct = NULL, *digests = NULL, root[CCG_ARTIFACT_DIGEST_LEN], hdr[CCG_ARTIFACT_HEADER_MAX];
    size_t hdr_len = 0;
    ccg_artifact_header h;
    art_keys k;
    memset(&k, 0, sizeof(k));
    CCG_ENSURE_MSG(cs >= CCG_ARTIFACT_CHUNK_MIN && cs <= CCG_ARTIFACT_CHUNK_MAX, CCG_R_USAGE_INVALID,
                   "the chunk size must be in [%u, %u]", CCG_ARTIFACT_CHUNK_MIN, CCG_ARTIFACT_CHUNK_MAX);
    CCG_TRY(input_size(in_fd, &size));
    pt = malloc(cs);
    ct = malloc(cs);
    CCG_ENSURE_ALLOC(pt != NULL && ct != NULL ? pt : NULL);
    CCG_TRY(hash_pass(in_fd, size, cs, pt, &digests, root, p));
    CCG_TRY(make_header(p, size, root, &h, &k, hdr, &hdr_len));
    CCG_TRY(write_full(out_fd, hdr, hdr_len));
    CCG_TRY(encrypt_pass(in_fd, out_fd, &h, &k, digests, pt, ct, p));
    CCG_TRY(input_size(in_fd, &size_after));
    CCG_ENSURE_MSG(size_after == size, CCG_R_ARTIFACT_SOURCE_CHANGED, "the model's size changed while it was sealed");
    result = CCG_SUCCESS;
cleanup:
    ccg_secure_zero(&k, sizeof(k));
    if (pt != NULL) {
        ccg_secure_zero(pt, cs);
    }
    free(pt);
    free(ct);
    free(digests);
    return result;
}

ccg_result ccg_artifact_seal_fds(int in_fd, int out_fd, const ccg_artifact_seal_opts *o)
{
    ccg_result result = CCG_FAILURE;
    art_seal_params p;
    CCG_ENSURE_MSG(o != NULL, CCG_R_USAGE_INVALID, "no seal options");
    p = (art_seal_params){.model_key = o->model_key, .model_key_len = o->model_key_len, .key_id = o->key_id,
                          .key_version = o->key_version, .chunk_size = o->chunk_size, .signer = o->signer,
                          .progress = o->progress, .progress_ctx = o->progress_ctx};
    CCG_TRY(art_seal_fd(in_fd, out_fd, &p));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_artifact_seal_file(const char *in_path, const char *out_path, const uint8_t *model_key,
                                  size_t model_key_len, const char *key_id, uint32_t key_version, uint32_t chunk_size,
                                  EVP_PKEY *signer)
{
    ccg_result result = CCG_FAILURE;
    art_seal_params p = {.model_key = model_key, .model_key_len = model_key_len, .key_id = key_id,
                         .key_version = key_version, .chunk_size = chunk_size, .signer = signer};
    int in = -1, out = -1;
    CCG_ENSURE_MSG(in_path != NULL && out_path != NULL, CCG_R_USAGE_INVALID, "an input and an output are required");
    in = open(in_path, O_RDONLY | O_CLOEXEC);
    CCG_ENSURE_MSG(in >= 0, CCG_R_IO_READ_FAILED, "cannot open %s: %s", in_path, strerror(errno));
    out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    CCG_ENSURE_MSG(out >= 0, CCG_R_IO_WRITE_FAILED, "cannot create %s: %s", out_path, strerror(errno));
    CCG_TRY(art_seal_fd(in, out, &p));
    CCG_ENSURE_MSG(fsync(out) == 0 || errno == EINVAL, CCG_R_IO_WRITE_FAILED, "fsync %s: %s", out_path,
                   strerror(errno));
    result = CCG_SUCCESS;
cleanup:
    if (in >= 0) {
        close(in);
    }
    if (out >= 0) {
        close(out);
        if (ccg_failed(result)) {
            (void)unlink(out_path);
        }
    }
    return result;
}

ccg_result ccg_artifact_digest_fd(int fd, uint32_t chunk_size, uint8_t digest[CCG_ARTIFACT_DIGEST_LEN], uint64_t *len)
{
    ccg_result result = CCG_FAILURE;
    uint32_t cs = chunk_size != 0 ? chunk_size : CCG_ARTIFACT_DEFAULT_CHUNK;
    uint8_t *buf = NULL, *digests = NULL;
    uint64_t size = 0;
    CCG_ENSURE_MSG(cs >= CCG_ARTIFACT_CHUNK_MIN && cs <= CCG_ARTIFACT_CHUNK_MAX, CCG_R_USAGE_INVALID,
                   "the chunk size must be in [%u, %u]", CCG_ARTIFACT_CHUNK_MIN, CCG_ARTIFACT_CHUNK_MAX);
    CCG_TRY(input_size(fd, &size));
    buf = malloc(cs);
    CCG_ENSURE_ALLOC(buf);
    CCG_TRY(hash_pass(fd, size, cs, buf, &digests, digest, NULL));
    *len = size;
    result = CCG_SUCCESS;
cleanup:
    if (buf != NULL) {
        ccg_secure_zero(buf, cs);
    }
    free(buf);
    free(digests);
    return result;
}

ccg_result ccg_artifact_digest_file(const char *path, uint32_t chunk_size, uint8_t digest[CCG_ARTIFACT_DIGEST_LEN],
                                    uint64_t *len)
{
    ccg_result result = CCG_FAILURE;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    CCG_ENSURE_MSG(fd >= 0, CCG_R_IO_READ_FAILED, "cannot open %s: %s", path, strerror(errno));
    CCG_TRY(ccg_artifact_digest_fd(fd, chunk_size, digest, len));
    result = CCG_SUCCESS;
cleanup:
    if (fd >= 0) {
        close(fd);
    }
    return result;
}
