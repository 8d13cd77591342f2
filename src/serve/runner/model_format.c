/* The model file's layout (docs/runner.md): dimension bounds, the canonical tensor list and the file length.
 * The parser and the writer both follow this one description, so they cannot drift apart. */
#include <stdio.h>
#include <string.h>

#include "ccgate/model.h"
#include "runner_internal.h"

/* Tensors per layer: attn_norm, wq, wk, wv, wo, mlp_norm, w_up, w_down. */
#define PER_LAYER 8u

uint32_t ccg_model_tensor_count(const ccg_model_dims *d) { return 2 + PER_LAYER * d->n_layers + 2; }

/* Rows and columns of tensor i (no name: the offset computations call this often). */
static void tensor_dims(const ccg_model_dims *d, uint32_t i, uint32_t *rows, uint32_t *cols)
{
    uint32_t n = ccg_model_tensor_count(d);
    *cols = d->d_model;
    if (i == 0 || i == n - 1) {
        *rows = d->vocab; /* tok_emb, lm_head */
    } else if (i == 1) {
        *rows = d->max_seq; /* pos_emb */
    } else if (i == n - 2) {
        *rows = 1; /* final_norm */
    } else {
        switch ((i - 2) % PER_LAYER) {
        case 0:
        case 5: *rows = 1; break; /* norms */
        case 6: *rows = d->d_ff; break; /* w_up */
        case 7:
            *rows = d->d_model; /* w_down */
            *cols = d->d_ff;
            break;
        default: *rows = d->d_model; break; /* wq, wk, wv, wo */
        }
    }
}

void ccg_model_tensor_shape(const ccg_model_dims *d, uint32_t i, char name[CCG_MODEL_TENSOR_NAME_LEN],
                            uint32_t *rows, uint32_t *cols)
{
    static const char *const layer_names[PER_LAYER] = {"attn_norm", "wq", "wk", "wv", "wo", "mlp_norm", "w_up",
                                                       "w_down"};
    uint32_t n = ccg_model_tensor_count(d);
    memset(name, 0, CCG_MODEL_TENSOR_NAME_LEN);
    tensor_dims(d, i, rows, cols);
    if (i == 0) {
        snprintf(name, CCG_MODEL_TENSOR_NAME_LEN, "tok_emb");
    } else if (i == 1) {
        snprintf(name, CCG_MODEL_TENSOR_NAME_LEN, "pos_emb");
    } else if (i == n - 2) {
        snprintf(name, CCG_MODEL_TENSOR_NAME_LEN, "final_norm");
    } else if (i == n - 1) {
        snprintf(name, CCG_MODEL_TENSOR_NAME_LEN, "lm_head");
    } else {
        snprintf(name, CCG_MODEL_TENSOR_NAME_LEN, "l%u.%s", (i - 2) / PER_LAYER, layer_names[(i - 2) % PER_LAYER]);
    }
}

ccg_result ccg_model_dims_check(const ccg_model_dims *d)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(d->vocab == CCG_MODEL_VOCAB, CCG_R_RUNNER_MODEL_MALFORMED, "vocab must be %u (bytes), got %u",
                   CCG_MODEL_VOCAB, d->vocab);
    CCG_ENSURE_MSG(d->n_heads >= 1 && d->n_heads <= CCG_MODEL_MAX_HEADS, CCG_R_RUNNER_MODEL_MALFORMED,
                   "n_heads %u is not in 1..%u", d->n_heads, CCG_MODEL_MAX_HEADS);
    CCG_ENSURE_MSG(d->d_model >= 1 && d->d_model <= CCG_MODEL_MAX_D_MODEL && d->d_model % d->n_heads == 0,
                   CCG_R_RUNNER_MODEL_MALFORMED, "d_model %u is not in 1..%u or not a multiple of n_heads",
                   d->d_model, CCG_MODEL_MAX_D_MODEL);
    CCG_ENSURE_MSG(d->n_layers >= 1 && d->n_layers <= CCG_MODEL_MAX_LAYERS, CCG_R_RUNNER_MODEL_MALFORMED,
                   "n_layers %u is not in 1..%u", d->n_layers, CCG_MODEL_MAX_LAYERS);
    CCG_ENSURE_MSG(d->d_ff >= 1 && d->d_ff <= CCG_MODEL_MAX_D_FF, CCG_R_RUNNER_MODEL_MALFORMED,
                   "d_ff %u is not in 1..%u", d->d_ff, CCG_MODEL_MAX_D_FF);
    CCG_ENSURE_MSG(d->max_seq >= 2 && d->max_seq <= CCG_MODEL_MAX_SEQ, CCG_R_RUNNER_MODEL_MALFORMED,
                   "max_seq %u is not in 2..%u", d->max_seq, CCG_MODEL_MAX_SEQ);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static uint64_t align_up(uint64_t x) { return (x + CCG_MODEL_ALIGN - 1) / CCG_MODEL_ALIGN * CCG_MODEL_ALIGN; }

/* The offset of the first tensor: after the header and the table, aligned. */
static uint64_t data_start(const ccg_model_dims *d)
{
    return align_up(CCG_MODEL_HEADER_LEN + (uint64_t)ccg_model_tensor_count(d) * CCG_MODEL_TENSOR_ENTRY_LEN);
}

/* The offset of tensor i: each tensor follows the previous one, aligned. With the bounds of dims_check the
 * largest file is a few GiB, far from overflowing 64 bits. */
uint64_t ccg_model_tensor_offset(const ccg_model_dims *d, uint32_t i)
{
    uint32_t rows, cols;
    uint64_t off = data_start(d);
    for (uint32_t k = 0; k < i; k++) {
        tensor_dims(d, k, &rows, &cols);
        off = align_up(off + (uint64_t)rows * cols * 4);
    }
    return off;
}

uint64_t ccg_model_file_len(const ccg_model_dims *d)
{
    uint32_t rows, cols, last = ccg_model_tensor_count(d) - 1;
    tensor_dims(d, last, &rows, &cols);
    return ccg_model_tensor_offset(d, last) + (uint64_t)rows * cols * 4;
}

const char *ccg_model_finish_name(ccg_model_finish f) { return f == CCG_FINISH_STOP ? "stop" : "length"; }
