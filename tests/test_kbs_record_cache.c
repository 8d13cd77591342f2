/* The broker's cache of the session records it wrote (kbs_record_cache.c): a hit only for the same
 * session and byte for byte the same text, references of the holder's own that outlive a replaced
 * entry, and many threads at once. The broker-level check (a record changed in the store is read
 * again) is changed_session_record_is_read_again in test_kbs_broker.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "ccgate/error.h"
#include "ccgate/jose.h"
#include "../src/kbs/kbs_internal.h"

typedef struct {
    kbs_records *cache;
    EVP_PKEY *pkey;
    ccg_jwk *jwk; /* its public half: a key of its own, which the cache shares */
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_true(ccg_ok(kbs_records_new(4, &f->cache)));
    f->pkey = EVP_EC_gen("P-256");
    assert_non_null(f->pkey);
    assert_true(ccg_ok(ccg_jwk_from_pkey(f->pkey, NULL, &f->jwk)));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    kbs_records_free(f->cache);
    ccg_jwk_free(f->jwk);
    EVP_PKEY_free(f->pkey);
    free(f);
    return 0;
}

/* A record whose text is its compact JSON. */
static json_t *record(const char *nonce, char **text)
{
    json_t *rec = json_pack("{s:s,s:s}", "nonce", nonce, "additional_evidence", "");
    assert_non_null(rec);
    *text = json_dumps(rec, JSON_COMPACT);
    assert_non_null(*text);
    return rec;
}

static void hit_only_for_same_session_and_text(void **state)
{
    fixture *f = *state;
    json_t *got = NULL;
    ccg_jwk *key = NULL;
    char *text = NULL, *other_text = NULL;
    json_t *rec = record("n1", &text);
    json_t *other = record("n2", &other_text);

    assert_false(kbs_records_get(f->cache, "s1", text, &got, &key));
    assert_null(got);
    assert_null(key);
    kbs_records_put(f->cache, "s1", text, rec, f->jwk);

    assert_true(kbs_records_get(f->cache, "s1", text, &got, &key));
    assert_ptr_equal(got, rec); /* the very parse, shared */
    assert_ptr_equal(ccg_jwk_pkey(key), ccg_jwk_pkey(f->jwk)); /* the key shared too */
    assert_int_equal(ccg_jwk_type(key), CCG_JWK_EC_P256);
    json_decref(got);
    ccg_jwk_free(key);

    /* Another text for the session (the store holds something else now), or another session. */
    assert_false(kbs_records_get(f->cache, "s1", other_text, &got, &key));
    assert_false(kbs_records_get(f->cache, "s2", text, &got, &key));
    text[strlen(text) - 1] = ' '; /* one byte */
    assert_false(kbs_records_get(f->cache, "s1", text, &got, &key));
    assert_null(got);
    assert_null(key);

    /* In one slot every session collides: the ID itself is compared, not only where it lands. */
    kbs_records *one = NULL;
    assert_true(ccg_ok(kbs_records_new(1, &one)));
    kbs_records_put(one, "s1", other_text, other, f->jwk);
    assert_false(kbs_records_get(one, "s2", other_text, &got, &key));
    assert_true(kbs_records_get(one, "s1", other_text, &got, &key));
    json_decref(got);
    ccg_jwk_free(key);
    kbs_records_free(one);

    json_decref(rec);
    json_decref(other);
    free(text);
    free(other_text);
}

/* A holder's references outlive the entry: replaced and the cache freed, what it holds still reads. */
static void holder_outlives_replacement(void **state)
{
    fixture *f = *state;
    json_t *got = NULL, *got2 = NULL;
    ccg_jwk *key = NULL, *key2 = NULL;
    char *text = NULL, *text2 = NULL;
    json_t *rec = record("n1", &text);
    json_t *rec2 = record("n2", &text2);
    kbs_records_put(f->cache, "s1", text, rec, f->jwk);
    json_decref(rec); /* the cache's reference is the only other one */
    assert_true(kbs_records_get(f->cache, "s1", text, &got, &key));
    kbs_records_put(f->cache, "s1", text2, rec2, f->jwk);
    assert_false(kbs_records_get(f->cache, "s1", text, &got2, &key2));
    assert_true(kbs_records_get(f->cache, "s1", text2, &got2, &key2));
    kbs_records_free(f->cache);
    f->cache = NULL;
    assert_string_equal(json_string_value(json_object_get(got, "nonce")), "n1");
    assert_int_equal(EVP_PKEY_get_bits(ccg_jwk_pkey(key)), 256);
    assert_string_equal(json_string_value(json_object_get(got2, "nonce")), "n2");
    json_decref(got);
    json_decref(got2);
    ccg_jwk_free(key);
    ccg_jwk_free(key2);
    json_decref(rec2);
    free(text);
    free(text2);
}

/* Nothing is kept from a put that lacks a part, or whose record is over the size kept. */
static void incomplete_put_keeps_nothing(void **state)
{
    fixture *f = *state;
    json_t *got = NULL;
    ccg_jwk *key = NULL;
    char *text = NULL, *big_text = NULL;
    json_t *rec = record("n1", &text);
    kbs_records_put(f->cache, "s1", text, rec, NULL);
    kbs_records_put(f->cache, "s1", NULL, rec, f->jwk);
    kbs_records_put(NULL, "s1", text, rec, f->jwk);
    assert_false(kbs_records_get(f->cache, "s1", text, &got, &key));
    assert_false(kbs_records_get(NULL, "s1", text, &got, &key));

    /* One byte over the size kept is parsed each time; at the size, it is kept. */
    for (size_t len = KBS_RECORD_CACHE_MAX_TEXT; len <= KBS_RECORD_CACHE_MAX_TEXT + 1; len++) {
        big_text = malloc(len + 1);
        assert_non_null(big_text);
        memset(big_text, 'x', len);
        big_text[len] = 0;
        kbs_records_put(f->cache, "s2", big_text, rec, f->jwk);
        assert_int_equal(kbs_records_get(f->cache, "s2", big_text, &got, &key), len == KBS_RECORD_CACHE_MAX_TEXT);
        json_decref(got);
        ccg_jwk_free(key);
        got = NULL;
        key = NULL;
        free(big_text);
    }
    json_decref(rec);
    free(text);
}

#define THREADS 4
#define ROUNDS 3000

typedef struct {
    fixture *f;
    unsigned seed;
    unsigned hits;
} worker;

/* Puts and gets over more sessions than slots, checking every hit is the record put for that text. */
static void *churn(void *arg)
{
    worker *w = arg;
    for (unsigned i = 0; i < ROUNDS; i++) {
        char sid[16], nonce[16], *text = NULL;
        unsigned n = (w->seed = w->seed * 1103515245u + 12345u) >> 16;
        snprintf(sid, sizeof(sid), "s%u", n % 9);
        snprintf(nonce, sizeof(nonce), "n%u", n % 27);
        json_t *rec = record(nonce, &text), *got = NULL;
        ccg_jwk *key = NULL;
        if (n & 1) {
            kbs_records_put(w->f->cache, sid, text, rec, w->f->jwk);
        } else if (kbs_records_get(w->f->cache, sid, text, &got, &key)) {
            if (strcmp(json_string_value(json_object_get(got, "nonce")), nonce) == 0 &&
                ccg_jwk_pkey(key) == ccg_jwk_pkey(w->f->jwk)) {
                w->hits++;
            } else {
                w->hits = 0x80000000u; /* a wrong record: flagged */
            }
            json_decref(got);
            ccg_jwk_free(key);
        }
        json_decref(rec);
        free(text);
    }
    return NULL;
}

static void many_threads(void **state)
{
    fixture *f = *state;
    pthread_t t[THREADS];
    worker w[THREADS];
    unsigned hits = 0;
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){.f = f, .seed = 7u + (unsigned)i};
        assert_int_equal(pthread_create(&t[i], NULL, churn, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
    }
    for (int i = 0; i < THREADS; i++) { /* every thread joined before any assertion can end the test */
        assert_true(w[i].hits < 0x80000000u);
        hits += w[i].hits;
    }
    assert_true(hits > 0); /* the churn did reach hits, so the check above checked something */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(hit_only_for_same_session_and_text, setup, teardown),
        cmocka_unit_test_setup_teardown(holder_outlives_replacement, setup, teardown),
        cmocka_unit_test_setup_teardown(incomplete_put_keeps_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(many_threads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
