/* The forward pass (docs/runner.md, "Computation"): token + position embedding, per layer a pre-norm (RMSNorm)
 * causal multi-head self-attention and a pre-norm SiLU MLP, each added to the residual stream, then the final
 * norm and the logits. One token at a time with a KV cache.
 *
 * Plain loops the compiler can vectorise, no fast-math: the dot product keeps eight partial sums in a fixed
 * order, so the result is the same in `ccgate model run` and `ccgate-runner` (same code, same order). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/model.h"

#define RMS_EPS 1e-5f

struct ccg_model_state {
    float *x, *h, *q, *att_out, *tmp, *ff, *scores, *logits;
    float *k_cache, *v_cache; /* n_layers x max_seq x d_model */
};

static float dot(const float *restrict a, const float *restrict b, uint32_t n)
{
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0}, tail = 0;
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        for (int j = 0; j < 8; j++) {
            acc[j] += a[i + j] * b[i + j];
        }
    }
    for (; i < n; i++) {
        tail += a[i] * b[i];
    }
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail;
}

/* out = W x, W rows x cols row-major. */
static void matvec(float *restrict out, const float *restrict w, const float *restrict x, uint32_t rows,
                   uint32_t cols)
{
    for (uint32_t r = 0; r < rows; r++) {
        out[r] = dot(w + (size_t)r * cols, x, cols);
    }
}

static void rmsnorm(float *restrict out, const float *restrict x, const float *restrict gain, uint32_t n)
{
    float inv = 1.0f / sqrtf(dot(x, x, n) / (float)n + RMS_EPS);
    for (uint32_t i = 0; i < n; i++) {
        out[i] = x[i] * inv * gain[i];
    }
}

static void add(float *restrict x, const float *restrict y, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        x[i] += y[i];
    }
}

ccg_result ccg_model_state_new(const ccg_model *m, ccg_model_state **out)
{
    ccg_result result = CCG_FAILURE;
    const ccg_model_dims *d = &m->dims;
    size_t cache = (size_t)d->n_layers * d->max_seq * d->d_model;
    ccg_model_state *s = calloc(1, sizeof(*s));
    CCG_ENSURE_ALLOC(s);
    s->x = calloc(d->d_model, sizeof(float));
    s->h = calloc(d->d_model, sizeof(float));
    s->q = calloc(d->d_model, sizeof(float));
    s->att_out = calloc(d->d_model, sizeof(float));
    s->tmp = calloc(d->d_model, sizeof(float));
    s->ff = calloc(d->d_ff, sizeof(float));
    s->scores = calloc(d->max_seq, sizeof(float));
    s->logits = calloc(d->vocab, sizeof(float));
    s->k_cache = calloc(cache, sizeof(float));
    s->v_cache = calloc(cache, sizeof(float));
    CCG_ENSURE_ALLOC(s->x && s->h && s->q && s->att_out && s->tmp && s->ff && s->scores && s->logits &&
                             s->k_cache && s->v_cache
                         ? s
                         : NULL);
    *out = s;
    s = NULL;
    result = CCG_SUCCESS;
cleanup:
    ccg_model_state_free(s);
    return result;
}

void ccg_model_state_free(ccg_model_state *s)
{
    if (s == NULL) {
        return;
    }
    free(s->x);
    free(s->h);
    free(s->q);
    free(s->att_out);
    free(s->tmp);
    free(s->ff);
    free(s->scores);
    free(s->logits);
    free(s->k_cache);
    free(s->v_cache);
    free(s);
}

/* Causal attention of one head: softmax(q . k_t / sqrt(hd)) over t <= pos, then the weighted sum of v_t. */
static void attend_head(ccg_model_state *s, const float *k_layer, const float *v_layer, uint32_t d_model,
                        uint32_t hd, uint32_t head, uint32_t pos)
{
    const float *q = s->q + (size_t)head * hd;
    float *out = s->att_out + (size_t)head * hd, max = -INFINITY, sum = 0, scale = 1.0f / sqrtf((float)hd);
    for (uint32_t t = 0; t <= pos; t++) {
        s->scores[t] = dot(q, k_layer + (size_t)t * d_model + (size_t)head * hd, hd) * scale;
        max = s->scores[t] > max ? s->scores[t] : max;
    }
    for (uint32_t t = 0; t <= pos; t++) {
        s->scores[t] = expf(s->scores[t] - max);
        sum += s->scores[t];
    }
    memset(out, 0, hd * sizeof(float));
    for (uint32_t t = 0; t <= pos; t++) {
        const float p = s->scores[t] / sum, *v = v_layer + (size_t)t * d_model + (size_t)head * hd;
        for (uint32_t j = 0; j < hd; j++) {
            out[j] += p * v[j];
        }
    }
}

static void layer_forward(const ccg_model *m, ccg_model_state *s, uint32_t l, uint32_t pos)
{
    const ccg_model_dims *d = &m->dims;
    const ccg_model_layer *w = &m->layers[l];
    uint32_t dm = d->d_model, hd = dm / d->n_heads;
    float *k_layer = s->k_cache + (size_t)l * d->max_seq * dm, *v_layer = s->v_cache + (size_t)l * d->max_seq * dm;
    rmsnorm(s->h, s->x, w->attn_norm, dm);
    matvec(s->q, w->wq, s->h, dm, dm);
    matvec(k_layer + (size_t)pos * dm, w->wk, s->h, dm, dm);
    matvec(v_layer + (size_t)pos * dm, w->wv, s->h, dm, dm);
    for (uint32_t head = 0; head < d->n_heads; head++) {
        attend_head(s, k_layer, v_layer, dm, hd, head, pos);
    }
    matvec(s->tmp, w->wo, s->att_out, dm, dm);
    add(s->x, s->tmp, dm);
    rmsnorm(s->h, s->x, w->mlp_norm, dm);
    matvec(s->ff, w->w_up, s->h, d->d_ff, dm);
    for (uint32_t i = 0; i < d->d_ff; i++) {
        s->ff[i] = s->ff[i] / (1.0f + expf(-s->ff[i])); /* SiLU */
    }
    matvec(s->tmp, w->w_down, s->ff, dm, d->d_ff);
    add(s->x, s->tmp, dm);
}

const float *ccg_model_forward(const ccg_model *m, ccg_model_state *s, uint32_t token, uint32_t pos)
{
    const ccg_model_dims *d = &m->dims;
    uint32_t dm = d->d_model;
    const float *te = m->tok_emb + (size_t)token * dm, *pe = m->pos_emb + (size_t)pos * dm;
    for (uint32_t i = 0; i < dm; i++) {
        s->x[i] = te[i] + pe[i];
    }
    for (uint32_t l = 0; l < d->n_layers; l++) {
        layer_forward(m, s, l, pos);
    }
    rmsnorm(s->h, s->x, m->final_norm, dm);
    matvec(s->logits, m->lm_head, s->h, d->vocab, dm);
    return s->logits;
}

uint32_t ccg_model_argmax(const float *logits, uint32_t n)
{
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; i++) {
        if (logits[i] > logits[best]) {
            best = i;
        }
    }
    return best;
}
