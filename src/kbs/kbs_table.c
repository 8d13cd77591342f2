/* The frame the broker's bounded caches share (verifiers, parsed policies, session records): a fixed
 * table of entry pointers behind one mutex, and the choice of the slot a new entry takes. What an entry
 * holds, how it is found and when it may be freed stay with each cache. */
#include "kbs_internal.h"

#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"

ccg_result kbs_table_init(kbs_table *t, size_t count, size_t max)
{
    ccg_result result = CCG_FAILURE;
    memset(t, 0, sizeof(*t));
    CCG_ENSURE(count > 0 && count <= max, CCG_R_USAGE_INVALID);
    t->slots = calloc(count, sizeof(*t->slots));
    CCG_ENSURE_ALLOC(t->slots);
    if (pthread_mutex_init(&t->lock, NULL) != 0) {
        free(t->slots);
        t->slots = NULL;
        CCG_BAIL(CCG_R_INTERNAL_ERROR, "cannot make a cache's lock");
    }
    t->count = count;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

void kbs_table_destroy(kbs_table *t, void (*free_entry)(void *entry))
{
    if (t == NULL || t->slots == NULL) {
        return;
    }
    for (size_t i = 0; i < t->count; i++) {
        free_entry(t->slots[i]); /* no holder is left when the broker is freed */
    }
    free(t->slots);
    pthread_mutex_destroy(&t->lock);
    memset(t, 0, sizeof(*t));
}

size_t kbs_table_victim(const kbs_table *t, uint64_t (*stamp_of)(const void *entry))
{
    size_t victim = 0;
    for (size_t i = 0; i < t->count; i++) {
        if (t->slots[i] == NULL) {
            return i;
        }
        if (stamp_of(t->slots[i]) < stamp_of(t->slots[victim])) {
            victim = i;
        }
    }
    return victim;
}
