/* The model file parser (docs/runner.md): header, tensor table, padding and weights, all through the bounded
 * reader. The layout is fully determined by the dimensions, so every offset, shape and name is checked against
 * the one the format allows; the weights are borrowed in place. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/model.h"
#include "ccgate/reader.h"
#include "runner_internal.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the weights are little-endian f32, borrowed in place");

/* The reader's own codes (truncated, trailing) become runner.model_malformed with the field named. */
#define READ(expr, what)                                                                                   \
    do {                                                                                                   \
        if (ccg_failed(expr)) {                                                                            \
            CCG_BAIL(CCG_R_RUNNER_MODEL_MALFORMED, "the file ends inside the %s", what);                   \
        }                                                                                                  \
    } while (0)

static ccg_result parse_header(ccg_reader *r, ccg_model_dims *d)
{
    ccg_result result = CCG_FAILURE;
    uint8_t magic[4];
    uint32_t version, header_len, count, flags;
    READ(ccg_reader_copy(r, magic, 4), "header");
    CCG_ENSURE_MSG(memcmp(magic, CCG_MODEL_MAGIC, 4) == 0, CCG_R_RUNNER_MODEL_MALFORMED, "the magic is not CCGM");
    READ(ccg_reader_u32le(r, &version), "header");
    CCG_ENSURE_MSG(version == CCG_MODEL_VERSION, CCG_R_RUNNER_MODEL_MALFORMED, "version %u is not 1", version);
    READ(ccg_reader_u32le(r, &header_len), "header");
    CCG_ENSURE_MSG(header_len == CCG_MODEL_HEADER_LEN, CCG_R_RUNNER_MODEL_MALFORMED, "header_len %u is not %u",
                   header_len, CCG_MODEL_HEADER_LEN);
    READ(ccg_reader_u32le(r, &d->vocab), "header");
    READ(ccg_reader_u32le(r, &d->d_model), "header");
    READ(ccg_reader_u32le(r, &d->n_layers), "header");
    READ(ccg_reader_u32le(r, &d->n_heads), "header");
    READ(ccg_reader_u32le(r, &d->d_ff), "header");
    READ(ccg_reader_u32le(r, &d->max_seq), "header");
    READ(ccg_reader_u32le(r, &count), "header");
    READ(ccg_reader_u32le(r, &flags), "header");
    CCG_TRY(ccg_model_dims_check(d));
    CCG_ENSURE_MSG(count == ccg_model_tensor_count(d), CCG_R_RUNNER_MODEL_MALFORMED,
                   "tensor_count %u is not %u for these dimensions", count, ccg_model_tensor_count(d));
    CCG_ENSURE_MSG(flags == 0, CCG_R_RUNNER_MODEL_MALFORMED, "flags 0x%x: no flag is defined", flags);
    CCG_TRY(ccg_reader_reserved_zero(r, CCG_MODEL_HEADER_LEN - 44, CCG_R_RUNNER_MODEL_MALFORMED));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result parse_entry(ccg_reader *r, const ccg_model_dims *d, uint32_t i)
{
    ccg_result result = CCG_FAILURE;
    char want[CCG_MODEL_TENSOR_NAME_LEN];
    uint8_t name[CCG_MODEL_TENSOR_NAME_LEN];
    uint32_t want_rows, want_cols, dtype, rows, cols, reserved;
    uint64_t offset;
    ccg_model_tensor_shape(d, i, want, &want_rows, &want_cols);
    READ(ccg_reader_copy(r, name, sizeof(name)), "tensor table");
    READ(ccg_reader_u32le(r, &dtype), "tensor table");
    READ(ccg_reader_u32le(r, &rows), "tensor table");
    READ(ccg_reader_u32le(r, &cols), "tensor table");
    READ(ccg_reader_u32le(r, &reserved), "tensor table");
    READ(ccg_reader_u64le(r, &offset), "tensor table");
    /* The expected name is NUL-padded, so one memcmp also refuses bytes after the terminator. */
    CCG_ENSURE_MSG(memcmp(name, want, sizeof(name)) == 0, CCG_R_RUNNER_MODEL_MALFORMED,
                   "tensor %u is not named %s", i, want);
    CCG_ENSURE_MSG(dtype == CCG_MODEL_DTYPE_F32, CCG_R_RUNNER_MODEL_MALFORMED, "tensor %s: dtype %u is not f32 (1)",
                   want, dtype);
    CCG_ENSURE_MSG(rows == want_rows && cols == want_cols, CCG_R_RUNNER_MODEL_MALFORMED,
                   "tensor %s is %ux%u, not %ux%u", want, rows, cols, want_rows, want_cols);
    CCG_ENSURE_MSG(reserved == 0, CCG_R_RUNNER_MODEL_MALFORMED, "tensor %s: reserved field is not zero", want);
    CCG_ENSURE_MSG(offset == ccg_model_tensor_offset(d, i), CCG_R_RUNNER_MODEL_MALFORMED,
                   "tensor %s: offset %llu is not %llu", want, (unsigned long long)offset,
                   (unsigned long long)ccg_model_tensor_offset(d, i));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The tensor at its offset: zero padding before it, finite weights. Returns a pointer into the buffer. */
static ccg_result parse_tensor(ccg_reader *r, const ccg_model_dims *d, uint32_t i, const float **out)
{
    ccg_result result = CCG_FAILURE;
    char name[CCG_MODEL_TENSOR_NAME_LEN];
    uint32_t rows, cols;
    const uint8_t *bytes;
    const float *w;
    size_t n;
    ccg_model_tensor_shape(d, i, name, &rows, &cols);
    n = (size_t)rows * cols;
    CCG_ENSURE_MSG(ccg_reader_offset(r) <= ccg_model_tensor_offset(d, i), CCG_R_INTERNAL_ERROR, "layout");
    /* The reader started at the file's first byte, so its offset is the file offset. */
    CCG_TRY(ccg_reader_reserved_zero(r, (size_t)(ccg_model_tensor_offset(d, i) - ccg_reader_offset(r)),
                                     CCG_R_RUNNER_MODEL_MALFORMED));
    READ(ccg_reader_borrow(r, &bytes, n * 4), "weights");
    w = (const float *)(const void *)bytes;
    for (size_t k = 0; k < n; k++) {
        CCG_ENSURE_MSG(isfinite(w[k]), CCG_R_RUNNER_MODEL_MALFORMED, "tensor %s: weight %zu is not finite", name, k);
    }
    *out = w;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_model_parse(const uint8_t *data, size_t len, ccg_model *m)
{
    ccg_result result = CCG_FAILURE;
    ccg_reader r;
    ccg_model_dims d;
    const float **slots = NULL;
    uint32_t count;
    memset(m, 0, sizeof(*m));
    CCG_ENSURE_MSG(((uintptr_t)data & 3) == 0, CCG_R_INTERNAL_ERROR, "the model buffer is not 4-byte aligned");
    CCG_ENSURE_MSG(len >= CCG_MODEL_HEADER_LEN, CCG_R_RUNNER_MODEL_MALFORMED,
                   "the file (%zu bytes) is shorter than the header", len);
    ccg_reader_init(&r, data, len);
    CCG_TRY(parse_header(&r, &d));
    /* The exact length first: a short or long file is refused before any table entry is trusted. */
    CCG_ENSURE_MSG((uint64_t)len == ccg_model_file_len(&d), CCG_R_RUNNER_MODEL_MALFORMED,
                   "the file is %zu bytes; these dimensions take %llu", len,
                   (unsigned long long)ccg_model_file_len(&d));
    count = ccg_model_tensor_count(&d);
    for (uint32_t i = 0; i < count; i++) {
        CCG_TRY(parse_entry(&r, &d, i));
    }
    m->layers = calloc(d.n_layers, sizeof(*m->layers));
    slots = calloc(count, sizeof(*slots));
    CCG_ENSURE_ALLOC(m->layers);
    CCG_ENSURE_ALLOC(slots);
    for (uint32_t i = 0; i < count; i++) {
        CCG_TRY(parse_tensor(&r, &d, i, &slots[i]));
    }
    READ(ccg_reader_expect_end(&r), "file (trailing bytes)");
    m->dims = d;
    m->tok_emb = slots[0];
    m->pos_emb = slots[1];
    for (uint32_t l = 0; l < d.n_layers; l++) {
        const float **s = slots + 2 + 8 * l;
        m->layers[l] = (ccg_model_layer){s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]};
    }
    m->final_norm = slots[count - 2];
    m->lm_head = slots[count - 1];
    m->file_len = len;
    result = CCG_SUCCESS;
cleanup:
    free(slots);
    if (ccg_failed(result)) {
        ccg_model_free(m);
    }
    return result;
}

void ccg_model_free(ccg_model *m)
{
    if (m != NULL) {
        free(m->layers);
        memset(m, 0, sizeof(*m));
    }
}
