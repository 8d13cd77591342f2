/* A token bucket per client address, so unauthenticated connections cannot make the attester sign
 * reports without bound. The table is small and fixed; when full, the least recently seen address is
 * evicted (it restarts with a full bucket, which costs at most one burst). Time is passed in. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel_internal.h"

#define ADDR_MAX 64

typedef struct {
    char addr[ADDR_MAX];
    double tokens;
    uint64_t last_ms;
    int used;
} bucket;

struct ccg_channel_ratelimit {
    double rate;  /* tokens per second */
    double burst;
    bucket *buckets;
    size_t count;
};

ccg_result ccg_channel_ratelimit_new(double rate, double burst, size_t max_addrs, ccg_channel_ratelimit **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_channel_ratelimit *rl = NULL;
    CCG_ENSURE_MSG(rate > 0 && burst >= 1 && max_addrs > 0 && max_addrs <= 1000000, CCG_R_USAGE_INVALID,
                   "rate %.3f, burst %.3f, %zu addresses", rate, burst, max_addrs);
    rl = calloc(1, sizeof(*rl));
    CCG_ENSURE_ALLOC(rl);
    rl->buckets = calloc(max_addrs, sizeof(bucket));
    CCG_ENSURE_ALLOC(rl->buckets);
    rl->rate = rate;
    rl->burst = burst;
    rl->count = max_addrs;
    *out = rl;
    rl = NULL;
    result = CCG_SUCCESS;
cleanup:
    ccg_channel_ratelimit_free(rl);
    return result;
}

void ccg_channel_ratelimit_free(ccg_channel_ratelimit *rl)
{
    if (rl != NULL) {
        free(rl->buckets);
        free(rl);
    }
}

static bucket *find_or_evict(ccg_channel_ratelimit *rl, const char *addr, uint64_t now_ms)
{
    bucket *oldest = &rl->buckets[0];
    for (size_t i = 0; i < rl->count; i++) {
        bucket *b = &rl->buckets[i];
        if (b->used && strcmp(b->addr, addr) == 0) {
            return b;
        }
        if (!b->used || (oldest->used && b->last_ms < oldest->last_ms)) {
            oldest = b;
        }
    }
    memset(oldest, 0, sizeof(*oldest));
    snprintf(oldest->addr, sizeof(oldest->addr), "%s", addr);
    oldest->tokens = rl->burst;
    oldest->last_ms = now_ms;
    oldest->used = 1;
    return oldest;
}

int ccg_channel_ratelimit_take(ccg_channel_ratelimit *rl, const char *addr, uint64_t now_ms)
{
    bucket *b = find_or_evict(rl, addr, now_ms);
    if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) * rl->rate / 1000.0;
        if (b->tokens > rl->burst) {
            b->tokens = rl->burst;
        }
    }
    b->last_ms = now_ms > b->last_ms ? now_ms : b->last_ms;
    if (b->tokens < 1.0) {
        return 0;
    }
    b->tokens -= 1.0;
    return 1;
}
