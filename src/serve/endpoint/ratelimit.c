/* Per-caller token buckets: `burst` tokens, refilled at `per_s` per second. The table is bounded: when it
 * is full, the bucket idle longest is reused (a full bucket forgets nothing a caller could exploit:
 * a reused bucket starts full, exactly as an idle one would have refilled). */
#include "ccgate/endpoint.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"

#define SLOTS 4096
#define WHO_MAX 96

typedef struct {
    char who[WHO_MAX];
    double tokens;
    uint64_t last_ms;
    int used;
} bucket;

struct ccg_endpoint_limiter {
    pthread_mutex_t lock;
    double per_s, burst;
    bucket b[SLOTS];
};

ccg_result ccg_endpoint_limiter_new(double per_s, double burst, ccg_endpoint_limiter **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_endpoint_limiter *l = calloc(1, sizeof(*l));
    CCG_ENSURE_ALLOC(l);
    pthread_mutex_init(&l->lock, NULL);
    l->per_s = per_s;
    l->burst = burst;
    *out = l;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static uint32_t fnv(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s != 0; s++) {
        h = (h ^ (uint8_t)*s) * 16777619u;
    }
    return h;
}

/* The bucket of who: found, or a free slot, or the idlest of the probe window. */
static bucket *slot(ccg_endpoint_limiter *l, const char *who)
{
    uint32_t h = fnv(who);
    bucket *idlest = NULL;
    for (uint32_t i = 0; i < 64; i++) {
        bucket *b = &l->b[(h + i) % SLOTS];
        if (b->used && strcmp(b->who, who) == 0) {
            return b;
        }
        if (!b->used) {
            idlest = b;
            break;
        }
        if (idlest == NULL || b->last_ms < idlest->last_ms) {
            idlest = b;
        }
    }
    return idlest;
}

int ccg_endpoint_limiter_take(ccg_endpoint_limiter *l, const char *who, uint64_t now_ms)
{
    int ok = 0;
    bucket *b;
    pthread_mutex_lock(&l->lock);
    b = slot(l, who);
    if (!b->used || strcmp(b->who, who) != 0) {
        memset(b, 0, sizeof(*b));
        snprintf(b->who, sizeof(b->who), "%s", who);
        b->used = 1;
        b->tokens = l->burst;
        b->last_ms = now_ms;
    }
    if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) * l->per_s / 1000.0;
        if (b->tokens > l->burst) {
            b->tokens = l->burst;
        }
        b->last_ms = now_ms;
    }
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        ok = 1;
    }
    pthread_mutex_unlock(&l->lock);
    return ok;
}

void ccg_endpoint_limiter_free(ccg_endpoint_limiter *l)
{
    if (l == NULL) {
        return;
    }
    pthread_mutex_destroy(&l->lock);
    free(l);
}
