/* `ccgate model generate`: a model file with deterministic weights from a seed (docs/runner.md, "Weights").
 * The stream is xoshiro256** seeded through splitmix64; each weight is a 24-bit uniform in [-1, 1) times the
 * tensor's scale, so the same seed gives the same bytes on every machine. Nothing is downloaded. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/model.h"
#include "runner_internal.h"

typedef struct {
    uint64_t s[4];
} prng;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t prng_next(prng *p)
{
    uint64_t *s = p->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* A uniform float in [-1, 1): 24 random bits, exact in binary32. */
static float prng_uniform(prng *p) { return (float)((int64_t)(prng_next(p) >> 40) - (1 << 23)) / (float)(1 << 23); }

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

/* The scale of a tensor's weights. Norm gains are exactly 1. Matrices are scaled by 1/sqrt(fan-in) with gains
 * chosen so that greedy decoding from random weights wanders instead of repeating one byte: sharp attention
 * (wq, wk), strong position embeddings and a wide logit spread (lm_head). */
static float tensor_scale(const char *name, uint32_t cols)
{
    const char *dot = strchr(name, '.');
    const char *base = dot != NULL ? dot + 1 : name;
    float fan = 1.0f / sqrtf((float)cols);
    if (strstr(base, "norm") != NULL) {
        return 0.0f; /* marker: constant 1 */
    }
    if (strcmp(base, "tok_emb") == 0) {
        return 1.0f;
    }
    if (strcmp(base, "pos_emb") == 0) {
        return 1.0f;
    }
    if (strcmp(base, "wq") == 0 || strcmp(base, "wk") == 0) {
        return 3.0f * fan;
    }
    if (strcmp(base, "lm_head") == 0) {
        return 6.0f * fan;
    }
    return 1.5f * fan;
}

/* Bytes the output should mostly consist of: their lm_head rows keep the full scale, the others get a fifth, so
 * the demo's gibberish is mostly readable ASCII. */
static int printable(uint32_t byte) { return byte == '\n' || (byte >= 0x20 && byte <= 0x7E); }

static void write_header(uint8_t *out, const ccg_model_dims *d)
{
    memcpy(out, CCG_MODEL_MAGIC, 4);
    put_u32(out + 4, CCG_MODEL_VERSION);
    put_u32(out + 8, CCG_MODEL_HEADER_LEN);
    put_u32(out + 12, d->vocab);
    put_u32(out + 16, d->d_model);
    put_u32(out + 20, d->n_layers);
    put_u32(out + 24, d->n_heads);
    put_u32(out + 28, d->d_ff);
    put_u32(out + 32, d->max_seq);
    put_u32(out + 36, ccg_model_tensor_count(d));
    put_u32(out + 40, 0); /* flags */
}

ccg_result ccg_model_generate(const ccg_model_dims *dims, uint64_t seed, uint8_t **out, size_t *out_len)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *buf = NULL;
    uint64_t len64, x = seed;
    uint32_t count;
    prng p;
    *out = NULL;
    *out_len = 0;
    CCG_TRY(ccg_model_dims_check(dims));
    len64 = ccg_model_file_len(dims);
    CCG_ENSURE_MSG(len64 <= SIZE_MAX, CCG_R_USAGE_INVALID, "the model is too large for this machine");
    buf = calloc(1, (size_t)len64);
    CCG_ENSURE_ALLOC(buf);
    for (int i = 0; i < 4; i++) {
        p.s[i] = splitmix64(&x);
    }
    write_header(buf, dims);
    count = ccg_model_tensor_count(dims);
    for (uint32_t i = 0; i < count; i++) {
        char name[CCG_MODEL_TENSOR_NAME_LEN];
        uint32_t rows, cols;
        uint64_t off = ccg_model_tensor_offset(dims, i);
        uint8_t *e = buf + CCG_MODEL_HEADER_LEN + (size_t)i * CCG_MODEL_TENSOR_ENTRY_LEN;
        float scale, *w = (float *)(void *)(buf + off);
        ccg_model_tensor_shape(dims, i, name, &rows, &cols);
        memcpy(e, name, CCG_MODEL_TENSOR_NAME_LEN);
        put_u32(e + 32, CCG_MODEL_DTYPE_F32);
        put_u32(e + 36, rows);
        put_u32(e + 40, cols);
        put_u32(e + 44, 0);
        put_u64(e + 48, off);
        scale = tensor_scale(name, cols);
        for (size_t k = 0; k < (size_t)rows * cols; k++) {
            float row_gain = strcmp(name, "lm_head") == 0 && !printable((uint32_t)(k / cols)) ? 0.2f : 1.0f;
            w[k] = scale == 0.0f ? 1.0f : prng_uniform(&p) * scale * row_gain;
        }
    }
    *out = buf;
    *out_len = (size_t)len64;
    buf = NULL;
    result = CCG_SUCCESS;
cleanup:
    free(buf);
    return result;
}
