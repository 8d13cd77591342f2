/* The broker's cache of SNP verifiers (src/kbs/kbs_decision.c): one verifier per set of trusted extra
 * roots, reused across appraisals and policy versions, kept apart for different roots, bounded (LRU),
 * the validity window still checked at every call, evidence certificates parsed once per distinct
 * bytes, and safe under concurrent appraisals while entries are evicted. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "ccgate/error.h"
#include "ccgate/jose.h"
#include "ccgate/kbs.h"
#include "ccgate/snp_emulator.h"

#include "testutil.h"
#include "tcb_util.h"

#include "../src/kbs/kbs_internal.h"

#define NOW ((ccg_time)1767225600) /* 2026-01-01 */

typedef struct {
    ccg_snp_emulator *emu;
    ccg_kbs_policy *rooted;    /* trusts the emulator's root (version 1) */
    ccg_kbs_policy *rooted_v2; /* the same roots, another version */
    ccg_kbs_policy *bare;      /* the pinned AMD roots only */
    EVP_PKEY *tee_key;
    ccg_jwk *tee_jwk;
    ccg_kbs_snp_evidence ev;
    const char *nonce;
    tu_tcb_env tcb; /* the emulator's TCB is UpToDate (the default policy requires a baseline) */
} fixture;

static fixture F;

static ccg_kbs_policy *policy(const char *id, int version, int with_root)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *pem_data = NULL, *text;
    long n;
    json_t *doc;
    ccg_kbs_policy *p = NULL;
    assert_non_null(bio);
    assert_int_equal(PEM_write_bio_X509(bio, ccg_snp_emulator_ark(F.emu)), 1);
    n = BIO_get_mem_data(bio, &pem_data);
    ccg_snp_report r;
    char pin[97];
    ccg_snp_emulator_default_report(F.emu, &r);
    ccg_hex_encode(r.measurement, 48, pin);
    /* A release policy must pin the launch measurement (kbs.policy_unpinned otherwise). */
    doc = json_pack("{s:s,s:i,s:[s],s:{s:s,s:i,s:[s]}}", "policy_id", id, "version", version, "allowed_tees", "snp",
                    "snp_policy", "policy_id", "s", "version", 1, "allowed_measurements", pin);
    assert_non_null(doc);
    if (with_root) {
        json_object_set_new(doc, "trusted_roots",
                            json_pack("[{s:s,s:s%}]", "product", "milan", "pem", pem_data, (size_t)n));
    }
    text = json_dumps(doc, JSON_COMPACT);
    assert_true(ccg_ok(ccg_kbs_policy_parse(text, strlen(text), &p)));
    free(text);
    json_decref(doc);
    BIO_free(bio);
    return p;
}

static uint8_t *der_of(X509 *c, size_t *len)
{
    unsigned char *der = NULL;
    int n = i2d_X509(c, &der);
    uint8_t *out;
    assert_true(n > 0);
    out = malloc((size_t)n);
    assert_non_null(out);
    memcpy(out, der, (size_t)n);
    OPENSSL_free(der);
    *len = (size_t)n;
    return out;
}

static int setup(void **state)
{
    ccg_snp_emulator_config ecfg;
    ccg_snp_report r;
    (void)state;
    memset(&F, 0, sizeof(F));
    ccg_snp_emulator_config_init(&ecfg, CCG_SNP_PRODUCT_MILAN, CCG_SNP_SIGNER_VCEK);
    if (ccg_failed(ccg_snp_emulator_new(&ecfg, &F.emu))) {
        return -1;
    }
    F.rooted = policy("cache-a", 1, 1);
    F.rooted_v2 = policy("cache-a", 2, 1);
    F.bare = policy("cache-b", 1, 0);
    F.nonce = "bm9uY2Utb2YtdGhlLXZlcmlmaWVyLWNhY2hlLXRlc3Q";
    F.tee_key = EVP_EC_gen("P-256");
    if (F.tee_key == NULL || ccg_failed(ccg_jwk_from_pkey(F.tee_key, NULL, &F.tee_jwk))) {
        return -1;
    }
    ccg_snp_emulator_default_report(F.emu, &r);
    if (ccg_failed(ccg_jose_kbs_report_data("sha384", F.nonce, F.tee_jwk, "", r.report_data)) ||
        ccg_failed(ccg_snp_emulator_sign(F.emu, &r, F.ev.report))) {
        return -1;
    }
    F.ev.certs[0] = der_of(ccg_snp_emulator_vcek(F.emu), &F.ev.cert_lens[0]);
    F.ev.certs[1] = der_of(ccg_snp_emulator_ask(F.emu), &F.ev.cert_lens[1]);
    F.ev.cert_count = 2;
    tu_tcb_env_init(&F.tcb);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ccg_kbs_snp_evidence_free(&F.ev);
    tu_tcb_env_free(&F.tcb);
    ccg_jwk_free(F.tee_jwk);
    EVP_PKEY_free(F.tee_key);
    ccg_kbs_policy_free(F.rooted);
    ccg_kbs_policy_free(F.rooted_v2);
    ccg_kbs_policy_free(F.bare);
    ccg_snp_emulator_free(F.emu);
    return 0;
}

/* Appraises the fixture's evidence; 1 allow, 0 deny (reasons in *d when given). */
static int appraise(kbs_verifiers *c, const ccg_kbs_policy *p, ccg_time now, ccg_reason want)
{
    ccg_decision d;
    int allow;
    assert_true(
        ccg_ok(kbs_policy_evaluate_cached(c, p, "snp", &F.ev, F.nonce, F.tee_jwk, "", &F.tcb.opts, NULL, now, &d, NULL)));
    allow = d.allow;
    if (want != CCG_R_OK && !ccg_reasons_has(&d.reasons, want)) {
        ccg_decision_free(&d);
        fail_msg("the decision lacks reason %s", ccg_reason_code(want));
    }
    ccg_decision_free(&d);
    return allow;
}

static void stats_equal(kbs_verifiers *c, uint64_t hits, uint64_t misses, size_t size)
{
    uint64_t h, m;
    size_t s;
    kbs_verifiers_stats(c, &h, &m, &s);
    assert_int_equal(h, hits);
    assert_int_equal(m, misses);
    assert_int_equal(s, size);
}

static void one_verifier_per_root_set(void **state)
{
    kbs_verifiers *c = NULL;
    (void)state;
    assert_true(ccg_ok(kbs_verifiers_new(4, &c)));
    assert_int_equal(appraise(c, F.rooted, NOW, CCG_R_OK), 1);
    stats_equal(c, 0, 1, 1);
    assert_int_equal(appraise(c, F.rooted, NOW, CCG_R_OK), 1);
    stats_equal(c, 1, 1, 1);
    /* Another version naming the same roots shares the verifier (and its verified chain). */
    assert_int_equal(appraise(c, F.rooted_v2, NOW, CCG_R_OK), 1);
    stats_equal(c, 2, 1, 1);
    /* No extra root: another verifier, and the emulator's chain is not trusted by it. */
    assert_int_equal(appraise(c, F.bare, NOW, CCG_R_CERT_UNTRUSTED_ROOT), 0);
    stats_equal(c, 2, 2, 2);
    assert_int_equal(appraise(c, F.rooted, NOW, CCG_R_OK), 1);
    assert_int_equal(appraise(c, F.bare, NOW, CCG_R_CERT_UNTRUSTED_ROOT), 0);
    stats_equal(c, 4, 2, 2);
    kbs_verifiers_free(c);
}

static void validity_is_checked_on_every_call(void **state)
{
    kbs_verifiers *c = NULL;
    (void)state;
    assert_true(ccg_ok(kbs_verifiers_new(4, &c)));
    assert_int_equal(appraise(c, F.rooted, NOW, CCG_R_OK), 1);
    /* The cached chain at a time after the emulator certificates' notAfter (2049). */
    assert_int_equal(appraise(c, F.rooted, CCG_SNP_EMU_DEFAULT_NOT_AFTER + 86400, CCG_R_CERT_EXPIRED), 0);
    assert_int_equal(appraise(c, F.rooted, CCG_SNP_EMU_DEFAULT_NOT_BEFORE - 86400, CCG_R_CERT_NOT_YET_VALID), 0);
    assert_int_equal(appraise(c, F.rooted, NOW, CCG_R_OK), 1);
    stats_equal(c, 3, 1, 1);
    kbs_verifiers_free(c);
}

static void bounded_lru(void **state)
{
    kbs_verifiers *c = NULL;
    (void)state;
    assert_true(ccg_ok(kbs_verifiers_new(1, &c)));
    assert_int_equal(appraise(c, F.rooted, NOW, CCG_R_OK), 1);
    assert_int_equal(appraise(c, F.bare, NOW, CCG_R_CERT_UNTRUSTED_ROOT), 0); /* evicts the rooted one */
    assert_int_equal(appraise(c, F.rooted, NOW, CCG_R_OK), 1);                /* rebuilt */
    stats_equal(c, 0, 3, 1);
    kbs_verifiers_free(c);
    assert_true(ccg_failed(kbs_verifiers_new(0, &c)));
    ccg_error_clear();
}

/* The parsed evidence certificates are cached by their bytes: a changed certificate is parsed afresh
 * (and its broken signature found), never taken for the cached one. */
static void certificates_are_cached_by_their_bytes(void **state)
{
    kbs_verifiers *c = NULL;
    uint8_t *saved = F.ev.certs[0];
    (void)state;
    assert_true(ccg_ok(kbs_verifiers_new(4, &c)));
    assert_int_equal(appraise(c, F.rooted, NOW, CCG_R_OK), 1);
    F.ev.certs[0] = malloc(F.ev.cert_lens[0]);
    assert_non_null(F.ev.certs[0]);
    memcpy(F.ev.certs[0], saved, F.ev.cert_lens[0]);
    F.ev.certs[0][F.ev.cert_lens[0] - 1] ^= 0x01; /* the VCEK's signature */
    assert_int_equal(appraise(c, F.rooted, NOW, CCG_R_OK), 0);
    free(F.ev.certs[0]);
    F.ev.certs[0] = saved;
    assert_int_equal(appraise(c, F.rooted, NOW, CCG_R_OK), 1);
    kbs_verifiers_free(c);
}

typedef struct {
    kbs_verifiers *c;
    int index;
    int wrong;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < 12; i++) {
        int rooted = (i + w->index) % 2 == 0;
        ccg_decision d;
        if (ccg_failed(kbs_policy_evaluate_cached(w->c, rooted ? F.rooted : F.bare, "snp", &F.ev, F.nonce, F.tee_jwk,
                                                  "", &F.tcb.opts, NULL, NOW, &d, NULL))) {
            w->wrong++;
            ccg_error_clear();
            continue;
        }
        w->wrong += d.allow != rooted;
        ccg_decision_free(&d);
    }
    return NULL;
}

/* Two root sets through a one-entry cache from four threads: every appraisal is evicting an entry
 * that another thread may still be using. */
static void concurrent_appraisals_with_eviction(void **state)
{
    kbs_verifiers *c = NULL;
    pthread_t t[4];
    worker w[4];
    (void)state;
    assert_true(ccg_ok(kbs_verifiers_new(1, &c)));
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){.c = c, .index = i, .wrong = 0};
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(w[i].wrong, 0);
    }
    kbs_verifiers_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_verifier_per_root_set),
        cmocka_unit_test(validity_is_checked_on_every_call),
        cmocka_unit_test(bounded_lru),
        cmocka_unit_test(certificates_are_cached_by_their_bytes),
        cmocka_unit_test(concurrent_appraisals_with_eviction),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
