/* Verified GPU chains, keyed by the SHA-256 of the chain bytes as supplied (so a hit skips parsing
 * too). Only chains whose every link verified are stored; a hit is used only while `now` lies inside
 * the path's validity, so outside it the chain is verified again and the precise reason is given.
 * Thread-safe. */
#include <string.h>

#include "gpu_internal.h"

void gpu_chain_cache_init(gpu_chain_cache *c)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
}

void gpu_chain_cache_free(gpu_chain_cache *c)
{
    for (size_t i = 0; i < GPU_CHAIN_CACHE_SLOTS; i++) {
        gpu_chain_facts_clear(&c->slots[i].facts);
    }
    pthread_mutex_destroy(&c->lock);
}

/* A copy holding its own key reference. */
static void copy_facts(gpu_chain_facts *dst, const gpu_chain_facts *src)
{
    *dst = *src;
    if (dst->leaf_key != NULL && EVP_PKEY_up_ref(dst->leaf_key) != 1) {
        dst->leaf_key = NULL;
    }
}

int gpu_chain_cache_get(gpu_chain_cache *c, const uint8_t key[32], ccg_time now, gpu_chain_facts *out)
{
    int found = 0;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < GPU_CHAIN_CACHE_SLOTS && !found; i++) {
        gpu_chain_cache_slot *s = &c->slots[i];
        if (s->used && memcmp(s->key, key, 32) == 0 && now >= s->facts.not_before && now <= s->facts.not_after) {
            copy_facts(out, &s->facts);
            found = out->leaf_key != NULL;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return found;
}

void gpu_chain_cache_put(gpu_chain_cache *c, const uint8_t key[32], const gpu_chain_facts *facts)
{
    pthread_mutex_lock(&c->lock);
    gpu_chain_cache_slot *slot = &c->slots[c->next];
    c->next = (c->next + 1) % GPU_CHAIN_CACHE_SLOTS;
    gpu_chain_facts_clear(&slot->facts);
    memcpy(slot->key, key, 32);
    copy_facts(&slot->facts, facts);
    slot->used = slot->facts.chain_ok && slot->facts.leaf_key != NULL;
    pthread_mutex_unlock(&c->lock);
}
