/* Greedy generation (docs/runner.md, "Generation"): BOS + prompt bytes are run, then the largest logit is taken
 * each step until EOS (finish "stop"), max_tokens or the end of the context (finish "length"). The same steps
 * serve `ccgate model run`, the runner's JSON answers and its event stream. */
#include <stdlib.h>
#include <string.h>

#include "ccgate/model.h"

ccg_result ccg_model_gen_start(ccg_model_gen *g, const ccg_model *m, const uint8_t *prompt, size_t prompt_len,
                               uint32_t max_tokens)
{
    ccg_result result = CCG_FAILURE;
    memset(g, 0, sizeof(*g));
    CCG_ENSURE_MSG(max_tokens >= 1, CCG_R_RUNNER_REQUEST_INVALID, "max_tokens must be at least 1");
    CCG_ENSURE_MSG(prompt_len < m->dims.max_seq, CCG_R_RUNNER_PROMPT_TOO_LONG,
                   "the prompt is %zu bytes; the context holds %u tokens with BOS", prompt_len, m->dims.max_seq);
    g->model = m;
    g->max_tokens = max_tokens;
    g->tokens = calloc(m->dims.max_seq, sizeof(*g->tokens));
    CCG_ENSURE_ALLOC(g->tokens);
    CCG_TRY(ccg_model_state_new(m, &g->state));
    g->tokens[0] = CCG_MODEL_BOS;
    for (size_t i = 0; i < prompt_len; i++) {
        g->tokens[i + 1] = prompt[i];
    }
    g->n_tokens = g->prompt_tokens = (uint32_t)prompt_len + 1;
    for (uint32_t pos = 0; pos < g->n_tokens; pos++) {
        g->logits = ccg_model_forward(m, g->state, g->tokens[pos], pos);
    }
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        ccg_model_gen_free(g);
    }
    return result;
}

static int finish(ccg_model_gen *g, ccg_model_finish why, char out[32], size_t *out_len)
{
    g->done = 1;
    g->finish = why;
    *out_len = ccg_model_text_finish(&g->text, out);
    return 0;
}

int ccg_model_gen_step(ccg_model_gen *g, char out[32], size_t *out_len)
{
    uint32_t next;
    *out_len = 0;
    if (g->done) {
        return 0;
    }
    if (g->generated == g->max_tokens) {
        return finish(g, CCG_FINISH_LENGTH, out, out_len);
    }
    next = ccg_model_argmax(g->logits, g->model->dims.vocab);
    if (next == CCG_MODEL_EOS) {
        return finish(g, CCG_FINISH_STOP, out, out_len);
    }
    *out_len = ccg_model_text_feed(&g->text, (uint8_t)next, out);
    g->generated++;
    /* Run the new token only when another one may follow it and it has a position. */
    if (g->generated < g->max_tokens && g->n_tokens < g->model->dims.max_seq) {
        g->tokens[g->n_tokens] = next;
        g->logits = ccg_model_forward(g->model, g->state, next, g->n_tokens);
        g->n_tokens++;
    } else if (g->n_tokens == g->model->dims.max_seq) {
        g->max_tokens = g->generated; /* the context is full: the next step finishes with "length" */
    }
    return 1;
}

void ccg_model_gen_free(ccg_model_gen *g)
{
    if (g != NULL) {
        ccg_model_state_free(g->state);
        free(g->tokens);
        memset(g, 0, sizeof(*g));
    }
}

ccg_result ccg_model_complete(const ccg_model *m, const uint8_t *prompt, size_t prompt_len, uint32_t max_tokens,
                              char **text, ccg_model_finish *finish_out, uint32_t *prompt_tokens,
                              uint32_t *completion_tokens)
{
    ccg_result result = CCG_FAILURE;
    ccg_model_gen g;
    char piece[32], *buf = NULL;
    size_t n, len = 0;
    int more;
    *text = NULL;
    CCG_TRY(ccg_model_gen_start(&g, m, prompt, prompt_len, max_tokens));
    /* At most 12 bytes of text per token plus the final flush; the context bounds the tokens. */
    if (max_tokens > m->dims.max_seq - g.prompt_tokens + 1) {
        max_tokens = m->dims.max_seq - g.prompt_tokens + 1;
    }
    buf = malloc((size_t)max_tokens * 12 + 16);
    CCG_ENSURE_ALLOC(buf);
    do {
        more = ccg_model_gen_step(&g, piece, &n);
        memcpy(buf + len, piece, n);
        len += n;
    } while (more);
    buf[len] = 0;
    *text = buf;
    buf = NULL;
    *finish_out = g.finish;
    *prompt_tokens = g.prompt_tokens;
    *completion_tokens = g.generated;
    result = CCG_SUCCESS;
cleanup:
    free(buf);
    ccg_model_gen_free(&g);
    return result;
}
