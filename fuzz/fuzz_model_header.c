/* libFuzzer target: the runner's model file parser (ccg_model_parse: header, tensor table, padding, weights,
 * through the bounded reader) and, on a parse, one forward pass over the weights it accepted.
 * Seeds: fuzz/corpus/fuzz_model_header/ (tiny models from `ccgate model generate`). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"
#include "ccgate/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The parser borrows f32 weights in place: give it an aligned copy, as mmap would. */
    uint8_t *copy = malloc(size != 0 ? size : 1);
    ccg_model m;
    if (copy == NULL) {
        return 0;
    }
    memcpy(copy, data, size);
    ccg_error_clear();
    if (ccg_ok(ccg_model_parse(copy, size, &m))) {
        ccg_model_state *s = NULL;
        /* The invariants a parsed model promises the forward pass. */
        if (m.file_len != size || ccg_model_file_len(&m.dims) != size || m.dims.vocab != CCG_MODEL_VOCAB ||
            m.dims.d_model % m.dims.n_heads != 0 || m.tok_emb == NULL || m.lm_head == NULL) {
            __builtin_trap();
        }
        if (ccg_ok(ccg_model_state_new(&m, &s))) {
            const float *logits = ccg_model_forward(&m, s, CCG_MODEL_BOS, 0);
            logits = ccg_model_forward(&m, s, ccg_model_argmax(logits, m.dims.vocab), 1);
            (void)ccg_model_argmax(logits, m.dims.vocab);
            ccg_model_state_free(s);
        }
        ccg_model_free(&m);
    }
    free(copy);
    return 0;
}
