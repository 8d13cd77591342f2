/* The broker's cache of the session records it wrote at /attest, already parsed.
 *
 * /resource reads its session from the store on every request, as before: the store stays the truth
 * for every instance. It then parsed the record's text again (the JSON, and the tee key with its point
 * check), about 4% of a flow's CPU, although the instance that wrote the record at /attest held that
 * very parse a moment earlier. That instance now keeps it here, beside the exact text it stored. A
 * lookup answers only for the same session and byte for byte the same text, so a hit gives what
 * parsing would give; another instance, a restarted one, or an entry since replaced, parses.
 *
 * Direct-mapped by session ID (IDs are random and made by the broker, so no client picks a slot) and
 * bounded by its slot count and KBS_RECORD_CACHE_MAX_TEXT per record (larger ones are parsed each time),
 * so no guest's evidence can make it hold more than a few MiB. A holder gets references of its own (json_incref, ccg_jwk_dup) and a
 * stored parse is never changed, so replacing an entry frees nothing a request still reads. Nothing
 * secret is kept: a record is a used nonce, a public key and the evidence. */
#include "kbs_internal.h"

#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"

typedef struct {
    char *session_id;
    char *text;
    json_t *rec;
    ccg_jwk *tee_pubkey;
} record_slot;

struct kbs_records {
    kbs_table t; /* record_slot entries */
};

static void slot_free(void *entry)
{
    record_slot *s = entry;
    if (s != NULL) {
        free(s->session_id);
        free(s->text);
        json_decref(s->rec);
        ccg_jwk_free(s->tee_pubkey);
        free(s);
    }
}

ccg_result kbs_records_new(size_t slots, kbs_records **out)
{
    ccg_result result = CCG_FAILURE;
    kbs_records *c = calloc(1, sizeof(*c));
    *out = NULL;
    CCG_ENSURE_ALLOC(c);
    CCG_TRY(kbs_table_init(&c->t, slots, 65536));
    *out = c;
    c = NULL;
    result = CCG_SUCCESS;
cleanup:
    free(c);
    return result;
}

void kbs_records_free(kbs_records *c)
{
    if (c != NULL) {
        kbs_table_destroy(&c->t, slot_free);
        free(c);
    }
}

/* FNV-1a: the IDs are random already, this only spreads them over the slots. */
static size_t slot_of(const kbs_records *c, const char *session_id)
{
    uint64_t h = 14695981039346656037ull;
    for (const unsigned char *p = (const unsigned char *)session_id; *p != 0; p++) {
        h = (h ^ *p) * 1099511628211ull;
    }
    return (size_t)(h % c->t.count);
}

void kbs_records_put(kbs_records *c, const char *session_id, const char *text, json_t *rec, const ccg_jwk *tee_pubkey)
{
    record_slot *fresh = NULL, *old = NULL;
    if (c == NULL || session_id == NULL || text == NULL || rec == NULL || tee_pubkey == NULL ||
        strnlen(text, KBS_RECORD_CACHE_MAX_TEXT + 1) > KBS_RECORD_CACHE_MAX_TEXT ||
        (fresh = calloc(1, sizeof(*fresh))) == NULL) {
        return;
    }
    fresh->session_id = strdup(session_id);
    fresh->text = strdup(text);
    fresh->rec = json_incref(rec);
    if (fresh->session_id == NULL || fresh->text == NULL || ccg_failed(ccg_jwk_dup(tee_pubkey, &fresh->tee_pubkey))) {
        ccg_error_clear(); /* a cache: what cannot be kept is parsed again later */
        slot_free(fresh);
        return;
    }
    size_t i = slot_of(c, session_id);
    pthread_mutex_lock(&c->t.lock);
    old = c->t.slots[i];
    c->t.slots[i] = fresh;
    pthread_mutex_unlock(&c->t.lock);
    slot_free(old); /* outside the lock: holders have references of their own */
}

int kbs_records_get(kbs_records *c, const char *session_id, const char *text, json_t **rec, ccg_jwk **tee_pubkey)
{
    int hit = 0;
    *rec = NULL;
    *tee_pubkey = NULL;
    if (c == NULL || session_id == NULL || text == NULL) {
        return 0;
    }
    size_t i = slot_of(c, session_id);
    pthread_mutex_lock(&c->t.lock);
    const record_slot *s = c->t.slots[i];
    if (s != NULL && strcmp(s->session_id, session_id) == 0 && strcmp(s->text, text) == 0 &&
        !ccg_failed(ccg_jwk_dup(s->tee_pubkey, tee_pubkey))) {
        *rec = json_incref(s->rec);
        hit = 1;
    }
    pthread_mutex_unlock(&c->t.lock);
    if (!hit) {
        ccg_error_clear();
    }
    return hit;
}
