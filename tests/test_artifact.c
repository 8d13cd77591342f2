/* Sealed model artifacts: round trips (sizes around the chunk size, several thread counts, file, memory
 * and http:// sources) and every attack, each asserting its own reason code (docs/artifact-format.md). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "../src/artifact/artifact_internal.h"
#include "ccgate/artifact.h"
#include "testutil.h"

#define CS 4096u /* the smallest chunk size keeps the files small */

typedef struct {
    char dir[64];
    char model[96], sealed[96], pub[96], ed_pub[96], other_pub[96];
    EVP_PKEY *signer, *ed_signer;
    uint8_t key[32], other_key[32];
} fixture;

static void write_pub(EVP_PKEY *k, const char *path)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PUBKEY(f, k), 1);
    fclose(f);
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    strcpy(fx->dir, "/tmp/ccg-artifact-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->model, sizeof(fx->model), "%s/model.bin", fx->dir);
    snprintf(fx->sealed, sizeof(fx->sealed), "%s/model.ccga", fx->dir);
    snprintf(fx->pub, sizeof(fx->pub), "%s/p384.pub", fx->dir);
    snprintf(fx->ed_pub, sizeof(fx->ed_pub), "%s/ed.pub", fx->dir);
    snprintf(fx->other_pub, sizeof(fx->other_pub), "%s/other.pub", fx->dir);
    fx->signer = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    fx->ed_signer = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    assert_non_null(fx->signer);
    assert_non_null(fx->ed_signer);
    assert_non_null(other);
    write_pub(fx->signer, fx->pub);
    write_pub(fx->ed_signer, fx->ed_pub);
    write_pub(other, fx->other_pub);
    EVP_PKEY_free(other);
    for (int i = 0; i < 32; i++) {
        fx->key[i] = (uint8_t)(i * 7 + 1);
        fx->other_key[i] = (uint8_t)(i * 7 + 2);
    }
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    const char *names[] = {"model.bin", "model.ccga", "p384.pub", "ed.pub", "other.pub", "b.ccga", "m2.bin"};
    char path[160];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", fx->dir, names[i]);
        (void)unlink(path);
    }
    rmdir(fx->dir);
    EVP_PKEY_free(fx->signer);
    EVP_PKEY_free(fx->ed_signer);
    free(fx);
    return 0;
}

/* A model of n pseudo-random bytes (seeded), written to path and returned. */
static uint8_t *make_model(const char *path, size_t n, uint32_t seed)
{
    uint8_t *m = malloc(n + 1);
    assert_non_null(m);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        m[i] = (uint8_t)x;
    }
    assert_true(ccg_ok(ccg_file_write(path, m, n)));
    return m;
}

static void seal(fixture *fx, const char *out, const uint8_t *key, uint32_t version, EVP_PKEY *signer)
{
    assert_true(ccg_ok(ccg_artifact_seal_file(fx->model, out, key, 32, "acme/model/a", version, CS, signer)));
}

static uint8_t *read_all(const char *path, size_t *len)
{
    uint8_t *d = NULL;
    assert_true(ccg_ok(ccg_file_read(path, 64u << 20, &d, len)));
    return d;
}

/* Opens location and unseals into a fresh buffer; on success *out holds the plaintext. */
static ccg_result unseal_path(const char *location, const char *pub, const uint8_t *key, uint32_t version,
                              unsigned threads, uint8_t **out, size_t *out_len)
{
    ccg_artifact_open_opts opts = {.provider_key_path = pub};
    ccg_artifact *a = NULL;
    ccg_error_clear();
    ccg_result r = ccg_artifact_open(location, &opts, &a);
    *out = NULL;
    if (ccg_failed(r)) {
        return r;
    }
    size_t n = (size_t)ccg_artifact_header_of(a)->plaintext_len;
    uint8_t *dest = malloc(n + 1);
    assert_non_null(dest);
    r = ccg_artifact_unseal_into(a, key, 32, version, dest, n, threads);
    if (ccg_ok(r)) {
        *out = dest;
        *out_len = n;
    } else {
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(dest[i], 0); /* zeroed on failure */
        }
        free(dest);
    }
    ccg_artifact_close(a);
    return r;
}

static void expect_fail(const char *location, const char *pub, const uint8_t *key, uint32_t version, ccg_reason want)
{
    uint8_t *pt = NULL;
    size_t n = 0;
    assert_true(ccg_failed(unseal_path(location, pub, key, version, 2, &pt, &n)));
    tu_assert_error_reason(want);
}

/* Rewrites the sealed file with f applied to its bytes. */
static void tamper(const char *path, void (*f)(uint8_t *d, size_t *len, void *arg), void *arg)
{
    size_t len = 0;
    uint8_t *d = read_all(path, &len);
    uint8_t *big = realloc(d, len + 2 * (CS + ART_RECORD_OVERHEAD));
    assert_non_null(big);
    f(big, &len, arg);
    assert_true(ccg_ok(ccg_file_write(path, big, len)));
    free(big);
}

static uint64_t rec_off(uint64_t i) { return ART_FIXED_LEN + strlen("acme/model/a") + 96 + i * (CS + ART_RECORD_OVERHEAD); }

/* ---- round trips ------------------------------------------------------------------------------- */

static void round_trip_one(fixture *fx, size_t size, EVP_PKEY *signer, const char *pub)
{
    static const unsigned threads[] = {1, 2, 3, 8, 0};
    uint8_t *model = make_model(fx->model, size, (uint32_t)size + 3);
    seal(fx, fx->sealed, fx->key, 1, signer);
    for (size_t t = 0; t < sizeof(threads) / sizeof(threads[0]); t++) {
        uint8_t *pt = NULL;
        size_t n = 0;
        assert_true(ccg_ok(unseal_path(fx->sealed, pub, fx->key, 1, threads[t], &pt, &n)));
        assert_int_equal(n, size);
        assert_memory_equal(pt, model, size);
        free(pt);
    }
    /* From memory too, and the digest matches a plain digest of the model. */
    size_t len = 0;
    uint8_t *bytes = read_all(fx->sealed, &len), digest[48];
    uint64_t mlen = 0;
    ccg_artifact_open_opts opts = {.provider_key_path = pub};
    ccg_artifact *a = NULL;
    uint8_t *dest = malloc(size + 1);
    assert_true(ccg_ok(ccg_artifact_open_memory(bytes, len, &opts, &a)));
    assert_true(ccg_ok(ccg_artifact_unseal_into(a, fx->key, 32, 1, dest, size, 2)));
    assert_memory_equal(dest, model, size);
    assert_true(ccg_ok(ccg_artifact_digest_file(fx->model, CS, digest, &mlen)));
    assert_int_equal(mlen, size);
    assert_memory_equal(digest, ccg_artifact_header_of(a)->plaintext_digest, 48);
    assert_string_equal(ccg_artifact_header_of(a)->key_id, "acme/model/a");
    ccg_artifact_close(a);
    free(dest);
    free(bytes);
    free(model);
}

static void test_round_trip_sizes(void **state)
{
    fixture *fx = *state;
    const size_t sizes[] = {0, 1, CS - 1, CS, CS + 1, 5 * CS + 123};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        round_trip_one(fx, sizes[i], fx->signer, fx->pub);
    }
}

static void test_round_trip_ed25519(void **state)
{
    fixture *fx = *state;
    round_trip_one(fx, 3 * CS + 5, fx->ed_signer, fx->ed_pub);
}

/* ---- attacks --------------------------------------------------------------------------------------- */

static void flip_at(uint8_t *d, size_t *len, void *arg)
{
    uint64_t off = *(uint64_t *)arg;
    assert_true(off < *len);
    d[off] ^= 0x01;
}

static void sealed_model(fixture *fx, size_t size)
{
    free(make_model(fx->model, size, 42));
    seal(fx, fx->sealed, fx->key, 1, fx->signer);
}

static void test_flip_in_chunk(void **state)
{
    fixture *fx = *state;
    sealed_model(fx, 3 * CS + 10);
    uint64_t off = rec_off(1) + ART_PREFIX_LEN + 100; /* ciphertext of chunk 1 */
    tamper(fx->sealed, flip_at, &off);
    expect_fail(fx->sealed, fx->pub, fx->key, 1, CCG_R_ARTIFACT_CHUNK_AUTH_FAILED);
    sealed_model(fx, 3 * CS + 10);
    off = rec_off(2) + ART_PREFIX_LEN + CS + 3; /* the tag of chunk 2 */
    tamper(fx->sealed, flip_at, &off);
    expect_fail(fx->sealed, fx->pub, fx->key, 1, CCG_R_ARTIFACT_CHUNK_AUTH_FAILED);
    sealed_model(fx, 3 * CS + 10);
    off = rec_off(3) + ART_PREFIX_LEN + 9; /* the last (short) chunk */
    tamper(fx->sealed, flip_at, &off);
    expect_fail(fx->sealed, fx->pub, fx->key, 1, CCG_R_ARTIFACT_CHUNK_AUTH_FAILED);
    sealed_model(fx, 3 * CS + 10);
    off = rec_off(0) + ART_ARTIFACT_TAG_LEN + 12; /* a reserved byte of chunk 0's framing */
    tamper(fx->sealed, flip_at, &off);
    expect_fail(fx->sealed, fx->pub, fx->key, 1, CCG_R_ARTIFACT_CHUNK_AUTH_FAILED);
}

static void test_flip_in_header(void **state)
{
    fixture *fx = *state;
    /* Every signed field outside the structural prologue: lengths, salt, key check, digest, key ID. */
    const uint64_t offsets[] = {17, 20, 24, 41, 80, 110, 160, 165};
    for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
        sealed_model(fx, 2 * CS);
        uint64_t off = offsets[i];
        tamper(fx->sealed, flip_at, &off);
        uint8_t *pt = NULL;
        size_t n = 0;
        assert_true(ccg_failed(unseal_path(fx->sealed, fx->pub, fx->key, 1, 2, &pt, &n)));
        ccg_reason r = ccg_error_reason();
        /* Changed lengths or chunk size are caught as inconsistent before the signature. */
        if (offsets[i] == 20 || offsets[i] == 24) {
            assert_true(r == CCG_R_ARTIFACT_HEADER_MALFORMED || r == CCG_R_ARTIFACT_SIGNATURE_INVALID);
        } else {
            tu_assert_error_reason(CCG_R_ARTIFACT_SIGNATURE_INVALID);
        }
    }
}

static void test_flip_in_signature(void **state)
{
    fixture *fx = *state;
    for (uint64_t at = 0; at < 96; at += 40) {
        sealed_model(fx, CS + 1);
        uint64_t off = ART_FIXED_LEN + strlen("acme/model/a") + at;
        tamper(fx->sealed, flip_at, &off);
        expect_fail(fx->sealed, fx->pub, fx->key, 1, CCG_R_ARTIFACT_SIGNATURE_INVALID);
    }
}

static void test_header_structure(void **state)
{
    fixture *fx = *state;
    struct {
        uint64_t off;
        uint8_t value;
        ccg_reason want;
    } cases[] = {
        {0, 'X', CCG_R_ARTIFACT_MAGIC_INVALID},         {8, 2, CCG_R_ARTIFACT_VERSION_UNSUPPORTED},
        {10, 9, CCG_R_ARTIFACT_SUITE_UNSUPPORTED},      {12, 7, CCG_R_ARTIFACT_SUITE_UNSUPPORTED},
        {14, 0, CCG_R_ARTIFACT_HEADER_MALFORMED},       {155, 1, CCG_R_ARTIFACT_HEADER_MALFORMED},
        {23, 0x7f, CCG_R_ARTIFACT_HEADER_MALFORMED},    {32, 9, CCG_R_ARTIFACT_HEADER_MALFORMED},
        {160, ' ', CCG_R_ARTIFACT_HEADER_MALFORMED},
    };
    sealed_model(fx, 2 * CS + 1);
    size_t len = 0;
    uint8_t *orig = read_all(fx->sealed, &len);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t *d = malloc(len);
        assert_non_null(d);
        memcpy(d, orig, len);
        d[cases[i].off] = cases[i].value;
        ccg_artifact_header h;
        ccg_error_clear();
        assert_true(ccg_failed(ccg_artifact_parse_header(d, len, &h)));
        tu_assert_error_reason(cases[i].want);
        assert_true(ccg_ok(ccg_file_write(fx->sealed, d, len)));
        expect_fail(fx->sealed, fx->pub, fx->key, 1, cases[i].want);
        free(d);
    }
    /* A file too short for its header. */
    assert_true(ccg_ok(ccg_file_write(fx->sealed, orig, 100)));
    expect_fail(fx->sealed, fx->pub, fx->key, 1, CCG_R_ARTIFACT_TRUNCATED);
    free(orig);
}

static void swap_records(uint8_t *d, size_t *len, void *arg)
{
    uint8_t tmp[CS + ART_RECORD_OVERHEAD];
    (void)len;
    (void)arg;
    memcpy(tmp, d + rec_off(1), sizeof(tmp));
    memcpy(d + rec_off(1), d + rec_off(2), sizeof(tmp));
    memcpy(d + rec_off(2), tmp, sizeof(tmp));
}

static void dup_record(uint8_t *d, size_t *len, void *arg)
{
    (void)len;
    (void)arg;
    memcpy(d + rec_off(2), d + rec_off(1), CS + ART_RECORD_OVERHEAD);
}

static void test_reordered(void **state)
{
    fixture *fx = *state;
    sealed_model(fx, 4 * CS);
    tamper(fx->sealed, swap_records, NULL);
    expect_fail(fx->sealed, fx->pub, fx->key, 1, CCG_R_ARTIFACT_CHUNK_REORDERED);
    sealed_model(fx, 4 * CS);
    tamper(fx->sealed, dup_record, NULL);
    expect_fail(fx->sealed, fx->pub, fx->key, 1, CCG_R_ARTIFACT_CHUNK_REORDERED);
}

static void cut_to(uint8_t *d, size_t *len, void *arg)
{
    (void)d;
    *len = (size_t)*(uint64_t *)arg;
}

static void append_bytes(uint8_t *d, size_t *len, void *arg)
{
    size_t n = (size_t)*(uint64_t *)arg;
    memset(d + *len, 0xab, n);
    *len += n;
}

static void test_truncated(void **state)
{
    fixture *fx = *state;
    uint64_t at = rec_off(2); /* at a chunk boundary: chunks 0 and 1 intact */
    sealed_model(fx, 3 * CS);
    tamper(fx->sealed, cut_to, &at);
    expect_fail(fx->sealed, fx->pub, fx->key, 1, CCG_R_ARTIFACT_TRUNCATED);
    at = rec_off(1) + 777; /* mid-chunk */
    sealed_model(fx, 3 * CS);
    tamper(fx->sealed, cut_to, &at);
    expect_fail(fx->sealed, fx->pub, fx->key, 1, CCG_R_ARTIFACT_TRUNCATED);
    at = CS + ART_RECORD_OVERHEAD; /* a whole extra record's worth of bytes */
    sealed_model(fx, 3 * CS);
    tamper(fx->sealed, append_bytes, &at);
    expect_fail(fx->sealed, fx->pub, fx->key, 1, CCG_R_ARTIFACT_TRAILING_DATA);
    at = 1;
    sealed_model(fx, 3 * CS);
    tamper(fx->sealed, append_bytes, &at);
    expect_fail(fx->sealed, fx->pub, fx->key, 1, CCG_R_ARTIFACT_TRAILING_DATA);
}

/* The final flag is bound by GCM, not only by the clear framing: a non-final chunk presented as the last
 * one of a shorter artifact (framing rewritten to say "final") fails authentication, and with its framing
 * left alone it is named as truncation. */
static void test_final_flag_bound(void **state)
{
    fixture *fx = *state;
    sealed_model(fx, 3 * CS);
    size_t len = 0;
    uint8_t *d = read_all(fx->sealed, &len), out[CS], prefix[ART_PREFIX_LEN];
    ccg_artifact_header h, shorter;
    art_keys k;
    art_chunk_ctx c;
    assert_true(ccg_ok(ccg_artifact_parse_header(d, len, &h)));
    assert_true(ccg_ok(art_derive_keys(fx->key, 32, &h, &k)));
    assert_true(ccg_ok(art_chunk_ctx_init(&c)));
    const uint8_t *rec = d + rec_off(1);
    /* As sealed: chunk 1 of 3 opens. */
    assert_true(ccg_ok(art_chunk_open(&c, &k, &h, 1, rec, rec + ART_PREFIX_LEN, CS, rec + ART_PREFIX_LEN + CS, out, NULL)));
    /* A header that ends after chunk 1 (as a cut stream would need): the clear framing says "not final". */
    shorter = h;
    shorter.chunk_count = 2;
    shorter.plaintext_len = 2 * CS;
    ccg_error_clear();
    assert_true(ccg_failed(
        art_chunk_open(&c, &k, &shorter, 1, rec, rec + ART_PREFIX_LEN, CS, rec + ART_PREFIX_LEN + CS, out, NULL)));
    tu_assert_error_reason(CCG_R_ARTIFACT_TRUNCATED);
    /* The framing forged to say "final": GCM (nonce and AAD carry the flag) refuses it. */
    art_chunk_prefix(&shorter, 1, prefix);
    ccg_error_clear();
    assert_true(ccg_failed(
        art_chunk_open(&c, &k, &shorter, 1, prefix, rec + ART_PREFIX_LEN, CS, rec + ART_PREFIX_LEN + CS, out, NULL)));
    tu_assert_error_reason(CCG_R_ARTIFACT_CHUNK_AUTH_FAILED);
    art_chunk_ctx_free(&c);
    free(d);
}

typedef struct {
    const uint8_t *other;
    int rewrite_framing;
} splice_arg;

static void splice_record(uint8_t *d, size_t *len, void *arg)
{
    splice_arg *s = arg;
    uint8_t framing[ART_PREFIX_LEN];
    (void)len;
    memcpy(framing, d + rec_off(1), sizeof(framing));
    memcpy(d + rec_off(1), s->other + rec_off(1), CS + ART_RECORD_OVERHEAD);
    if (s->rewrite_framing) {
        memcpy(d + rec_off(1), framing, sizeof(framing));
    }
}

static void test_spliced(void **state)
{
    fixture *fx = *state;
    char other_path[128];
    snprintf(other_path, sizeof(other_path), "%s/b.ccga", fx->dir);
    free(make_model(fx->model, 3 * CS, 42));
    seal(fx, other_path, fx->key, 1, fx->signer); /* the same model, key and version: another seal */
    size_t olen = 0;
    uint8_t *other = read_all(other_path, &olen);
    for (int rewrite = 0; rewrite < 2; rewrite++) {
        seal(fx, fx->sealed, fx->key, 1, fx->signer);
        splice_arg s = {other, rewrite};
        tamper(fx->sealed, splice_record, &s);
        expect_fail(fx->sealed, fx->pub, fx->key, 1,
                    rewrite ? CCG_R_ARTIFACT_CHUNK_AUTH_FAILED : CCG_R_ARTIFACT_SPLICED);
    }
    free(other);
}

static void test_wrong_key_version(void **state)
{
    fixture *fx = *state;
    free(make_model(fx->model, 2 * CS, 5));
    seal(fx, fx->sealed, fx->key, 2, fx->signer);
    expect_fail(fx->sealed, fx->pub, fx->key, 1, CCG_R_ARTIFACT_KEY_VERSION_MISMATCH);
    expect_fail(fx->sealed, fx->pub, fx->key, 3, CCG_R_ARTIFACT_KEY_VERSION_MISMATCH);
    uint8_t *pt = NULL;
    size_t n = 0;
    assert_true(ccg_ok(unseal_path(fx->sealed, fx->pub, fx->key, 2, 2, &pt, &n)));
    free(pt);
}

static void test_wrong_key(void **state)
{
    fixture *fx = *state;
    sealed_model(fx, 2 * CS);
    expect_fail(fx->sealed, fx->pub, fx->other_key, 1, CCG_R_ARTIFACT_KEY_INVALID);
    /* A key of the wrong length is refused too. */
    ccg_artifact_open_opts opts = {.provider_key_path = fx->pub};
    ccg_artifact *a = NULL;
    uint8_t dest[2 * CS];
    assert_true(ccg_ok(ccg_artifact_open(fx->sealed, &opts, &a)));
    ccg_error_clear();
    assert_true(ccg_failed(ccg_artifact_unseal_into(a, fx->key, 16, 1, dest, sizeof(dest), 1)));
    tu_assert_error_reason(CCG_R_ARTIFACT_KEY_INVALID);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_artifact_unseal_into(a, fx->key, 32, 1, dest, sizeof(dest) - 1, 1)));
    tu_assert_error_reason(CCG_R_USAGE_INVALID);
    ccg_artifact_close(a);
}

static void test_wrong_provider_key(void **state)
{
    fixture *fx = *state;
    sealed_model(fx, CS);
    expect_fail(fx->sealed, fx->other_pub, fx->key, 1, CCG_R_ARTIFACT_SIGNATURE_INVALID);
    expect_fail(fx->sealed, fx->ed_pub, fx->key, 1, CCG_R_ARTIFACT_SIGNATURE_INVALID);
}

static void test_digest_mismatch(void **state)
{
    fixture *fx = *state;
    uint8_t bogus[48];
    memset(bogus, 0x5a, sizeof(bogus));
    free(make_model(fx->model, 2 * CS + 7, 9));
    art_seal_params p = {.model_key = fx->key, .model_key_len = 32, .key_id = "acme/model/a", .key_version = 1,
                         .chunk_size = CS, .signer = fx->signer, .digest_override = bogus};
    int in = open(fx->model, O_RDONLY), out = open(fx->sealed, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(in >= 0 && out >= 0);
    assert_true(ccg_ok(art_seal_fd(in, out, &p)));
    close(in);
    close(out);
    expect_fail(fx->sealed, fx->pub, fx->key, 1, CCG_R_ARTIFACT_DIGEST_MISMATCH);
}

static void test_seal_refusals(void **state)
{
    fixture *fx = *state;
    free(make_model(fx->model, 10, 1));
    ccg_error_clear();
    assert_true(ccg_failed(ccg_artifact_seal_file(fx->model, fx->sealed, fx->key, 32, "bad id", 1, CS, fx->signer)));
    tu_assert_error_reason(CCG_R_ARTIFACT_HEADER_MALFORMED);
    assert_int_equal(access(fx->sealed, F_OK), -1); /* no partial output left behind */
    ccg_error_clear();
    assert_true(ccg_failed(ccg_artifact_seal_file(fx->model, fx->sealed, fx->key, 32, "a", 1, 100, fx->signer)));
    tu_assert_error_reason(CCG_R_USAGE_INVALID);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_artifact_seal_file(fx->model, fx->sealed, fx->key, 32, "a", 0, CS, fx->signer)));
    tu_assert_error_reason(CCG_R_ARTIFACT_HEADER_MALFORMED);
}

/* ---- http:// ------------------------------------------------------------------------------------------ */

/* The served artifact; the test changes it between requests under mu (responses copy it). */
typedef struct {
    pthread_mutex_t mu;
    uint8_t *body;
    size_t len;
} http_srv;

static void srv_flip(http_srv *s, uint64_t off)
{
    pthread_mutex_lock(&s->mu);
    s->body[off] ^= 1;
    pthread_mutex_unlock(&s->mu);
}

static void srv_set(http_srv *s, uint8_t *body, size_t len)
{
    pthread_mutex_lock(&s->mu);
    s->body = body;
    s->len = len;
    pthread_mutex_unlock(&s->mu);
}

static enum MHD_Result serve(void *cls, struct MHD_Connection *con, const char *url, const char *method,
                             const char *version, const char *upload, size_t *upload_len, void **ctx)
{
    http_srv *s = cls;
    (void)method;
    (void)version;
    (void)upload;
    (void)upload_len;
    (void)ctx;
    int found = strcmp(url, "/model.ccga") == 0;
    pthread_mutex_lock(&s->mu);
    struct MHD_Response *r = MHD_create_response_from_buffer(found ? s->len : 0, (void *)s->body,
                                                             MHD_RESPMEM_MUST_COPY);
    pthread_mutex_unlock(&s->mu);
    enum MHD_Result ret = MHD_queue_response(con, found ? MHD_HTTP_OK : MHD_HTTP_NOT_FOUND, r);
    MHD_destroy_response(r);
    return ret;
}

static struct MHD_Daemon *http_start(http_srv *s, char *base, size_t base_len)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, serve, s,
                                            MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_END);
    assert_non_null(d);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    assert_non_null(info);
    snprintf(base, base_len, "http://127.0.0.1:%u", (unsigned)info->port);
    return d;
}

static void test_http(void **state)
{
    fixture *fx = *state;
    uint8_t *model = make_model(fx->model, 7 * CS + 99, 77);
    seal(fx, fx->sealed, fx->key, 1, fx->signer);
    size_t len = 0;
    uint8_t *bytes = read_all(fx->sealed, &len), *pt = NULL;
    http_srv s = {PTHREAD_MUTEX_INITIALIZER, bytes, len};
    char base[64], url[128];
    struct MHD_Daemon *d = http_start(&s, base, sizeof(base));
    snprintf(url, sizeof(url), "%s/model.ccga", base);
    size_t n = 0;
    assert_true(ccg_ok(unseal_path(url, fx->pub, fx->key, 1, 2, &pt, &n)));
    assert_int_equal(n, 7 * CS + 99);
    assert_memory_equal(pt, model, n);
    free(pt);
    /* The same attacks over http: wrong key, a flipped chunk, truncation, trailing bytes, a 404. */
    expect_fail(url, fx->pub, fx->other_key, 1, CCG_R_ARTIFACT_KEY_INVALID);
    srv_flip(&s, rec_off(3) + ART_PREFIX_LEN + 5);
    expect_fail(url, fx->pub, fx->key, 1, CCG_R_ARTIFACT_CHUNK_AUTH_FAILED);
    srv_flip(&s, rec_off(3) + ART_PREFIX_LEN + 5);
    srv_set(&s, bytes, (size_t)rec_off(4));
    expect_fail(url, fx->pub, fx->key, 1, CCG_R_ARTIFACT_TRUNCATED);
    uint8_t *longer = malloc(len + 10);
    assert_non_null(longer);
    memcpy(longer, bytes, len);
    memset(longer + len, 0, 10);
    srv_set(&s, longer, len + 10);
    expect_fail(url, fx->pub, fx->key, 1, CCG_R_ARTIFACT_TRAILING_DATA);
    srv_set(&s, bytes, len);
    snprintf(url, sizeof(url), "%s/missing.ccga", base);
    expect_fail(url, fx->pub, fx->key, 1, CCG_R_ARTIFACT_FETCH_FAILED);
    MHD_stop_daemon(d);
    free(longer);
    free(bytes);
    free(model);
}

/* A larger artifact over http: chunks decrypted while later ones arrive, on 1, 2 and 8 threads, and a
 * failing early chunk stopping the transfer with that chunk's code. */
static void test_http_streaming(void **state)
{
    fixture *fx = *state;
    const size_t size = 200 * CS + 17;
    uint8_t *model = make_model(fx->model, size, 78);
    seal(fx, fx->sealed, fx->key, 1, fx->signer);
    size_t len = 0;
    uint8_t *bytes = read_all(fx->sealed, &len), *pt = NULL;
    http_srv s = {PTHREAD_MUTEX_INITIALIZER, bytes, len};
    char base[64], url[128];
    struct MHD_Daemon *d = http_start(&s, base, sizeof(base));
    snprintf(url, sizeof(url), "%s/model.ccga", base);
    const unsigned threads[] = {1, 2, 8};
    for (size_t t = 0; t < sizeof(threads) / sizeof(threads[0]); t++) {
        size_t n = 0;
        assert_true(ccg_ok(unseal_path(url, fx->pub, fx->key, 1, threads[t], &pt, &n)));
        assert_int_equal(n, size);
        assert_memory_equal(pt, model, size);
        free(pt);
    }
    srv_flip(&s, rec_off(1) + ART_PREFIX_LEN + 5);
    expect_fail(url, fx->pub, fx->key, 1, CCG_R_ARTIFACT_CHUNK_AUTH_FAILED);
    srv_flip(&s, rec_off(1) + ART_PREFIX_LEN + 5);
    uint8_t *swapped = malloc(len);
    assert_non_null(swapped);
    memcpy(swapped, bytes, len);
    memcpy(swapped + rec_off(150), bytes + rec_off(151), CS + ART_RECORD_OVERHEAD);
    srv_set(&s, swapped, len);
    expect_fail(url, fx->pub, fx->key, 1, CCG_R_ARTIFACT_CHUNK_REORDERED);
    srv_set(&s, bytes, (size_t)rec_off(100) + 3);
    expect_fail(url, fx->pub, fx->key, 1, CCG_R_ARTIFACT_TRUNCATED);
    MHD_stop_daemon(d);
    free(swapped);
    free(bytes);
    free(model);
}

/* ---- progress ------------------------------------------------------------------------------------ */

/* A thread-safe recorder: calls, the largest `done`, the total, and whether done ever exceeded it. */
typedef struct {
    atomic_uint calls;
    _Atomic uint64_t max_done;
    _Atomic uint64_t total;
    atomic_int over;
} progress_rec;

static void record(void *ctx, uint64_t done, uint64_t total)
{
    progress_rec *r = ctx;
    uint64_t seen = atomic_load(&r->max_done);
    atomic_fetch_add(&r->calls, 1);
    atomic_store(&r->total, total);
    if (done > total) {
        atomic_store(&r->over, 1);
    }
    while (done > seen && !atomic_compare_exchange_weak(&r->max_done, &seen, done)) {
    }
}

/* Seal reports both passes (total = twice the model) through ccg_artifact_seal_fds; unseal reports every
 * chunk from every thread, ending at the plaintext length. */
static void test_progress(void **state)
{
    fixture *fx = *state;
    const size_t size = 9 * CS + 5;
    uint8_t *model = make_model(fx->model, size, 79), *pt = NULL;
    progress_rec sr = {0}, ur = {0};
    int in = open(fx->model, O_RDONLY | O_CLOEXEC), out = open(fx->sealed, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ccg_artifact_seal_opts o = {.model_key = fx->key, .model_key_len = 32, .key_id = "acme/model/a",
                                .key_version = 1, .chunk_size = CS, .signer = fx->signer, .progress = record,
                                .progress_ctx = &sr};
    assert_true(in >= 0 && out >= 0);
    assert_true(ccg_ok(ccg_artifact_seal_fds(in, out, &o)));
    close(in);
    close(out);
    assert_int_equal(atomic_load(&sr.calls), 2 * 10);
    assert_int_equal(atomic_load(&sr.max_done), 2 * size);
    assert_int_equal(atomic_load(&sr.total), 2 * size);
    assert_false(atomic_load(&sr.over));

    ccg_artifact_open_opts opts = {.provider_key_path = fx->pub};
    ccg_artifact *a = NULL;
    assert_true(ccg_ok(ccg_artifact_open(fx->sealed, &opts, &a)));
    ccg_artifact_set_progress(a, record, &ur);
    pt = malloc(size);
    assert_non_null(pt);
    assert_true(ccg_ok(ccg_artifact_unseal_into(a, fx->key, 32, 1, pt, size, 4)));
    assert_memory_equal(pt, model, size);
    assert_int_equal(atomic_load(&ur.calls), 10);
    assert_int_equal(atomic_load(&ur.max_done), size);
    assert_int_equal(atomic_load(&ur.total), size);
    assert_false(atomic_load(&ur.over));
    /* A second unseal of the same handle starts again from zero. */
    atomic_store(&ur.max_done, 0);
    assert_true(ccg_ok(ccg_artifact_unseal_into(a, fx->key, 32, 1, pt, size, 2)));
    assert_int_equal(atomic_load(&ur.max_done), size);
    ccg_artifact_close(a);
    free(pt);
    free(model);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip_sizes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip_ed25519, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flip_in_chunk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flip_in_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flip_in_signature, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_structure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reordered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_final_flag_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spliced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_key_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_provider_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_digest_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seal_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_streaming, setup, teardown),
        cmocka_unit_test_setup_teardown(test_progress, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
