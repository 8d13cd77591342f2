/* The broker's cache of parsed release policies.
 *
 * Parsing a release policy parses its trusted roots' PEM certificates and checks their self-signatures,
 * which cost more than the rest of a request's bookkeeping together; the policy was parsed at every
 * /attest and every /resource. A stored policy version is immutable (the store refuses other bytes
 * for an existing version), so the parse of (policy_id, version, digest of the bytes) never changes.
 * The store is still read at every request: a new version is used by the next request.
 *
 * Entries are reference-counted, like the verifier cache: an entry evicted (least recently used) while
 * a request still holds it is freed by its last holder. The lock is never held while parsing. */
#include "kbs_internal.h"

#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"

struct kbs_policy_ref {
    char id[CCG_STORE_ID_MAX + 1];
    int64_t version;
    char digest[72];
    ccg_kbs_policy *policy;
    unsigned refs;
    int cached;
    uint64_t stamp;
};

struct kbs_policies {
    kbs_table t; /* kbs_policy_ref entries */
};

static void ref_free(void *entry)
{
    kbs_policy_ref *r = entry;
    if (r != NULL) {
        ccg_kbs_policy_free(r->policy);
        free(r);
    }
}

static uint64_t ref_stamp(const void *entry) { return ((const kbs_policy_ref *)entry)->stamp; }

ccg_result kbs_policies_new(size_t capacity, kbs_policies **out)
{
    ccg_result result = CCG_FAILURE;
    kbs_policies *c = calloc(1, sizeof(*c));
    *out = NULL;
    CCG_ENSURE_ALLOC(c);
    CCG_TRY(kbs_table_init(&c->t, capacity, 1024));
    *out = c;
    c = NULL;
    result = CCG_SUCCESS;
cleanup:
    free(c);
    return result;
}

void kbs_policies_free(kbs_policies *c)
{
    if (c != NULL) {
        kbs_table_destroy(&c->t, ref_free);
        free(c);
    }
}

static int same(const kbs_policy_ref *r, const ccg_store_doc *doc)
{
    return r != NULL && r->version == doc->version && strcmp(r->id, doc->id) == 0 &&
           strcmp(r->digest, doc->digest) == 0;
}

/* Takes a reference to the entry for doc, or NULL. Called with the lock held. */
static kbs_policy_ref *lookup_locked(kbs_policies *c, const ccg_store_doc *doc)
{
    for (size_t i = 0; i < c->t.count; i++) {
        kbs_policy_ref *r = c->t.slots[i];
        if (same(r, doc)) {
            r->refs++;
            r->stamp = ++c->t.clock;
            return r;
        }
    }
    return NULL;
}

/* Inserts mine (refs 1) unless another thread did first; returns the entry to use and, in *evicted, an
 * entry to free outside the lock. */
static kbs_policy_ref *insert_locked(kbs_policies *c, kbs_policy_ref *mine, const ccg_store_doc *doc,
                                     kbs_policy_ref **evicted)
{
    size_t victim;
    kbs_policy_ref *found = lookup_locked(c, doc), *old;
    *evicted = NULL;
    if (found != NULL) {
        *evicted = mine;
        return found;
    }
    victim = kbs_table_victim(&c->t, ref_stamp);
    old = c->t.slots[victim];
    if (old != NULL) {
        old->cached = 0;
        if (old->refs == 0) {
            *evicted = old;
        }
    }
    mine->cached = 1;
    mine->stamp = ++c->t.clock;
    c->t.slots[victim] = mine;
    return mine;
}

ccg_result kbs_load_policy(ccg_kbs *k, const char *policy_id, const ccg_kbs_policy **out, kbs_policy_ref **ref)
{
    ccg_result result = CCG_FAILURE;
    kbs_policies *c = k->policies;
    ccg_store_doc doc;
    kbs_policy_ref *mine = NULL, *use = NULL, *evicted = NULL;
    memset(&doc, 0, sizeof(doc));
    *out = NULL;
    *ref = NULL;
    CCG_TRY(ccg_store_policy_get(k->store, policy_id, 0, &doc));
    pthread_mutex_lock(&c->t.lock);
    use = lookup_locked(c, &doc);
    pthread_mutex_unlock(&c->t.lock);
    if (use == NULL) {
        mine = calloc(1, sizeof(*mine));
        CCG_ENSURE_ALLOC(mine);
        CCG_TRY(ccg_kbs_policy_parse((const char *)doc.body, doc.len, &mine->policy));
        /* The document's own identity must be the stored one: a body naming another version is not
         * cached under this one. */
        CCG_ENSURE_MSG(mine->policy->version == doc.version && strcmp(mine->policy->policy_id, doc.id) == 0,
                       CCG_R_STORE_CORRUPT, "stored policy '%s' version %lld names another identity", doc.id,
                       (long long)doc.version);
        snprintf(mine->id, sizeof(mine->id), "%s", doc.id);
        mine->version = doc.version;
        snprintf(mine->digest, sizeof(mine->digest), "%s", doc.digest);
        mine->refs = 1;
        pthread_mutex_lock(&c->t.lock);
        use = insert_locked(c, mine, &doc, &evicted);
        pthread_mutex_unlock(&c->t.lock);
        mine = NULL;
    }
    *out = use->policy;
    *ref = use;
    result = CCG_SUCCESS;
cleanup:
    ref_free(mine);
    ref_free(evicted);
    ccg_store_doc_free(&doc);
    return result;
}

void kbs_policy_put(ccg_kbs *k, kbs_policy_ref *ref)
{
    int drop;
    if (ref == NULL) {
        return;
    }
    pthread_mutex_lock(&k->policies->t.lock);
    ref->refs--;
    drop = ref->refs == 0 && !ref->cached;
    pthread_mutex_unlock(&k->policies->t.lock);
    if (drop) {
        ref_free(ref);
    }
}
