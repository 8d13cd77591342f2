/* Failed attempts per client address and per session (issue 10): a KBS session's cookie could be
 * used for failed attestations without end, and one address could open sessions for that without
 * end, each costing the broker a key parse or more. Each counter is a fixed window: the first failure
 * opens it, and at the limit every attempt is refused until it closes.
 *
 * Two bounded tables, set-associative (4 ways) over a keyed hash, so neither memory nor the work per
 * request grows with an attacker's input; a full set drops its oldest window. Losing a counter only
 * gives an attacker back attempts its address still limits. In memory, per broker process. */
#include "kbs_internal.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "ccgate/error.h"

#define WAYS 4u
#define KEY_MAX 64u

typedef struct {
    char key[KEY_MAX]; /* "" empty; longer keys are cut (harmless: they share a counter) */
    ccg_time start;
    int64_t count;
} counter;

typedef struct {
    counter *slots;
    size_t sets;
    int64_t limit;
    int64_t window;
} table;

struct kbs_attempts {
    pthread_mutex_t lock;
    uint64_t seed;
    table sessions;
    table addresses;
};

static ccg_result table_init(table *t, size_t sets, int64_t limit, int64_t window)
{
    ccg_result result = CCG_FAILURE;
    t->slots = calloc(sets * WAYS, sizeof(*t->slots));
    CCG_ENSURE_ALLOC(t->slots);
    t->sets = sets;
    t->limit = limit;
    t->window = window;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result kbs_attempts_new(int64_t per_session, int64_t per_address, int64_t window, int64_t session_window,
                            kbs_attempts **out)
{
    ccg_result result = CCG_FAILURE;
    kbs_attempts *a = NULL;
    *out = NULL;
    CCG_ENSURE(per_session > 0 && per_address > 0 && window > 0 && session_window > 0, CCG_R_USAGE_INVALID);
    a = calloc(1, sizeof(*a));
    CCG_ENSURE_ALLOC(a);
    CCG_ENSURE_OSSL(RAND_bytes((unsigned char *)&a->seed, sizeof(a->seed)) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_TRY(table_init(&a->sessions, 1024, per_session, session_window));
    CCG_TRY(table_init(&a->addresses, 1024, per_address, window));
    CCG_ENSURE(pthread_mutex_init(&a->lock, NULL) == 0, CCG_R_INTERNAL_ERROR);
    *out = a;
    a = NULL;
    result = CCG_SUCCESS;
cleanup:
    if (a != NULL) {
        free(a->sessions.slots);
        free(a->addresses.slots);
        free(a);
    }
    return result;
}

void kbs_attempts_free(kbs_attempts *a)
{
    if (a == NULL) {
        return;
    }
    free(a->sessions.slots);
    free(a->addresses.slots);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

/* FNV-1a from a random seed: the set an attacker's key lands in is not predictable. */
static size_t set_of(const kbs_attempts *a, const table *t, const char *key)
{
    uint64_t h = 0xcbf29ce484222325ull ^ a->seed;
    for (const unsigned char *p = (const unsigned char *)key; *p != 0; p++) {
        h = (h ^ *p) * 0x100000001b3ull;
    }
    return (size_t)(h % t->sets);
}

/* The live counter of key (its window still open), or NULL. */
static counter *find(const kbs_attempts *a, table *t, const char *key, ccg_time now)
{
    counter *set = &t->slots[set_of(a, t, key) * WAYS];
    for (size_t i = 0; i < WAYS; i++) {
        if (set[i].key[0] != 0 && strncmp(set[i].key, key, KEY_MAX - 1) == 0) {
            return now >= set[i].start && now < set[i].start + t->window ? &set[i] : NULL;
        }
    }
    return NULL;
}

static int exhausted(const kbs_attempts *a, table *t, const char *key, ccg_time now)
{
    const counter *c;
    if (key == NULL || key[0] == 0) {
        return 0;
    }
    c = find(a, t, key, now);
    return c != NULL && c->count >= t->limit;
}

static void fail(const kbs_attempts *a, table *t, const char *key, ccg_time now)
{
    counter *set, *slot = NULL;
    if (key == NULL || key[0] == 0) {
        return;
    }
    set = &t->slots[set_of(a, t, key) * WAYS];
    for (size_t i = 0; i < WAYS && slot == NULL; i++) {
        if (set[i].key[0] != 0 && strncmp(set[i].key, key, KEY_MAX - 1) == 0) {
            slot = &set[i];
        }
    }
    if (slot != NULL && now >= slot->start && now < slot->start + t->window) {
        slot->count++;
        return;
    }
    if (slot == NULL) {
        slot = &set[0]; /* an empty way, else the oldest window */
        for (size_t i = 0; i < WAYS; i++) {
            if (set[i].key[0] == 0) {
                slot = &set[i];
                break;
            }
            if (set[i].start < slot->start) {
                slot = &set[i];
            }
        }
    }
    size_t n = strnlen(key, KEY_MAX - 1);
    memset(slot->key, 0, sizeof(slot->key));
    memcpy(slot->key, key, n);
    slot->start = now;
    slot->count = 1;
}

int kbs_attempts_exhausted(kbs_attempts *a, const char *address, const char *session, ccg_time now)
{
    int over;
    pthread_mutex_lock(&a->lock);
    over = exhausted(a, &a->addresses, address, now) || exhausted(a, &a->sessions, session, now);
    pthread_mutex_unlock(&a->lock);
    return over;
}

void kbs_attempts_failed(kbs_attempts *a, const char *address, const char *session, ccg_time now)
{
    pthread_mutex_lock(&a->lock);
    fail(a, &a->addresses, address, now);
    fail(a, &a->sessions, session, now);
    pthread_mutex_unlock(&a->lock);
}

void kbs_refuse_attempts(ccg_kbs *k, ccg_kbs_http_response *resp, const kbs_context *ctx)
{
    ccg_reasons r;
    ccg_reasons_init(&r);
    (void)ccg_reasons_add(&r, CCG_R_KBS_TOO_MANY_ATTEMPTS, NULL);
    kbs_metrics_denial(&k->metrics, &r);
    kbs_error_response(resp, 429, &r, ctx);
    ccg_reasons_free(&r);
}
