/* Benchmark: the runner's tokens per second against a plain C loop over the same weights (not a timed test;
 * scripts/bench-runner.sh runs it, docs/runner.md "Benchmark").
 *
 * runner: greedy generation (ccg_model_gen_*) of up to max_seq tokens after a short prompt, repeated; a token is
 *         one forward pass (prompt and generated tokens alike).
 * plain:  per token, one naive matrix-vector product (one accumulator per row) over every weight matrix of the
 *         model (wq, wk, wv, wo, w_up, w_down per layer, lm_head) plus the embedding row: the bare weight
 *         traffic, with no attention, norm or activation.
 * Both run SECONDS each in the same process on the same mapping.
 *
 * usage: bench_runner [SECONDS [MODEL_FILE]]   (default 3 s, the seed-42 default model generated in memory)
 * The last lines are key=value for scripts/bench-runner.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ccgate/model.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static volatile float sink;

static void naive_matvec(float *out, const float *w, const float *x, uint32_t rows, uint32_t cols)
{
    for (uint32_t r = 0; r < rows; r++) {
        float acc = 0;
        for (uint32_t c = 0; c < cols; c++) {
            acc += w[(size_t)r * cols + c] * x[c];
        }
        out[r] = acc;
    }
}

/* One token of the plain loop: every weight matrix once. */
static void plain_token(const ccg_model *m, uint32_t token, float *x, float *a, float *b, float *ff, float *logits)
{
    const ccg_model_dims *d = &m->dims;
    memcpy(x, m->tok_emb + (size_t)token * d->d_model, d->d_model * sizeof(float));
    for (uint32_t l = 0; l < d->n_layers; l++) {
        const ccg_model_layer *w = &m->layers[l];
        naive_matvec(a, w->wq, x, d->d_model, d->d_model);
        naive_matvec(b, w->wk, a, d->d_model, d->d_model);
        naive_matvec(a, w->wv, b, d->d_model, d->d_model);
        naive_matvec(b, w->wo, a, d->d_model, d->d_model);
        naive_matvec(ff, w->w_up, b, d->d_ff, d->d_model);
        naive_matvec(x, w->w_down, ff, d->d_model, d->d_ff);
    }
    naive_matvec(logits, m->lm_head, x, d->vocab, d->d_model);
    sink = logits[token];
}

static double bench_plain(const ccg_model *m, double seconds, uint64_t *tokens)
{
    const ccg_model_dims *d = &m->dims;
    float *x = calloc(d->d_model, 4), *a = calloc(d->d_model, 4), *b = calloc(d->d_model, 4);
    float *ff = calloc(d->d_ff, 4), *logits = calloc(d->vocab, 4);
    double t0 = now_s(), t = t0;
    uint64_t n = 0;
    if (x == NULL || a == NULL || b == NULL || ff == NULL || logits == NULL) {
        fprintf(stderr, "bench_runner: out of memory\n");
        exit(1);
    }
    while (t - t0 < seconds) {
        for (int i = 0; i < 64; i++, n++) {
            plain_token(m, (uint32_t)(n % d->vocab), x, a, b, ff, logits);
        }
        t = now_s();
    }
    free(x);
    free(a);
    free(b);
    free(ff);
    free(logits);
    *tokens = n;
    return t - t0;
}

static double bench_runner(const ccg_model *m, double seconds, uint64_t *tokens)
{
    static const char prompt[] = "Hello, world";
    double t0 = now_s(), t = t0;
    uint64_t n = 0;
    char piece[32];
    size_t len;
    while (t - t0 < seconds) {
        ccg_model_gen g;
        if (ccg_failed(ccg_model_gen_start(&g, m, (const uint8_t *)prompt, sizeof(prompt) - 1, m->dims.max_seq))) {
            fprintf(stderr, "bench_runner: generation failed\n");
            exit(1);
        }
        while (ccg_model_gen_step(&g, piece, &len)) {
        }
        n += g.n_tokens; /* one forward pass per token in the context */
        ccg_model_gen_free(&g);
        t = now_s();
    }
    *tokens = n;
    return t - t0;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 3.0, rt, pt;
    ccg_model_dims dims = CCG_MODEL_DIMS_DEFAULT;
    ccg_model_mapping map = {0};
    uint8_t *buf = NULL;
    size_t len = 0;
    ccg_model m;
    uint64_t rn, pn;
    if (seconds <= 0) {
        seconds = 3.0;
    }
    if (argc > 2) {
        if (ccg_failed(ccg_model_map_file(argv[2], &map))) {
            fprintf(stderr, "bench_runner: cannot map %s\n", argv[2]);
            return 2;
        }
        buf = map.data;
        len = map.len;
    } else if (ccg_failed(ccg_model_generate(&dims, 42, &buf, &len))) {
        fprintf(stderr, "bench_runner: cannot generate the model\n");
        return 1;
    }
    if (ccg_failed(ccg_model_parse(buf, len, &m))) {
        fprintf(stderr, "bench_runner: the model is malformed\n");
        return 2;
    }
    printf("model: d_model %u, %u layers, %u heads, d_ff %u, max_seq %u (%zu bytes)\n", m.dims.d_model,
           m.dims.n_layers, m.dims.n_heads, m.dims.d_ff, m.dims.max_seq, len);
    rt = bench_runner(&m, seconds, &rn);
    pt = bench_plain(&m, seconds, &pn);
    printf("runner (greedy generation, attention over up to %u positions): %.0f tokens/s\n", m.dims.max_seq,
           (double)rn / rt);
    printf("plain C loop (one naive matvec per weight matrix per token):   %.0f tokens/s\n", (double)pn / pt);
    printf("ratio runner / plain loop: %.2f\n", ((double)rn / rt) / ((double)pn / pt));
    printf("runner_tps=%.1f\nplain_tps=%.1f\nratio=%.3f\n", (double)rn / rt, (double)pn / pt,
           ((double)rn / rt) / ((double)pn / pt));
    ccg_model_free(&m);
    if (argc > 2) {
        ccg_model_unmap(&map);
    } else {
        free(buf);
    }
    return 0;
}
