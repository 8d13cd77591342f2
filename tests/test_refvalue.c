/* Reference values: signatures (ES384, Ed25519), validity, issuers, and the SNP verifier's use of a
 * set, over the real Milan v3 report. */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tcb_util.h"

#include "ccgate/refvalue.h"
#include "ccgate/snp_verify.h"

#define NOW "2026-06-01T00:00:00Z"

static EVP_PKEY *gen_key(const char *alg)
{
    EVP_PKEY *key = strcmp(alg, "ES384") == 0 ? EVP_EC_gen("P-384") : EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_non_null(key);
    return key;
}

static void add_issuer(ccg_refval_issuers *iss, const char *id, EVP_PKEY *key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *pem = NULL;
    assert_int_equal(PEM_write_bio_PUBKEY(bio, key), 1);
    long n = BIO_get_mem_data(bio, &pem);
    assert_true(ccg_ok(ccg_refval_issuers_add_pem(iss, id, (const uint8_t *)pem, (size_t)n)));
    BIO_free(bio);
}

static json_t *record(const char *id, const char *measurement_hex, const char *nb, const char *na)
{
    json_t *r = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:i, s:s}}", "id", id, "tee", "snp", "measurement",
                          measurement_hex, "build_id", "build-7", "not_before", nb, "not_after", na, "launch_inputs",
                          "vcpus", 4, "vcpu_type", "EPYC-v4");
    assert_non_null(r);
    return r;
}

static const char *M1 = "5feee30d6d7e1a29f403d70a4198237ddfb13051a2d6976439487c609388ed7f98189887920ab2fa0096903a0c23fca1";

/* Parses a record and checks it; returns the decision's single reason, or CCG_R_OK when usable. */
static ccg_reason check(json_t *doc, const ccg_refval_issuers *iss, const char *now)
{
    ccg_refval_record r;
    ccg_decision d;
    ccg_decision_init(&d, "refval");
    assert_true(ccg_ok(ccg_refval_record_parse(doc, &r)));
    int usable = ccg_refval_record_check(&r, "snp", iss, tu_time(now), &d);
    ccg_reason reason = usable ? CCG_R_OK : d.reasons.items[0].reason;
    assert_int_equal(usable, d.reasons.count == 0);
    ccg_refval_record_free(&r);
    ccg_decision_free(&d);
    return reason;
}

static void sign_and_check(const char *alg)
{
    EVP_PKEY *key = gen_key(alg), *other = gen_key(alg);
    ccg_refval_issuers *iss = NULL;
    assert_true(ccg_ok(ccg_refval_issuers_new(&iss)));
    add_issuer(iss, "acme", key);

    json_t *r = record("r1", M1, "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z");
    assert_int_equal(check(r, iss, NOW), CCG_R_REFVAL_UNSIGNED);
    assert_true(ccg_ok(ccg_refval_sign(r, key, "acme")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "signature"), "alg")), alg);
    assert_int_equal(check(r, iss, NOW), CCG_R_OK);
    assert_int_equal(check(r, iss, "2027-01-02T00:00:00Z"), CCG_R_REFVAL_EXPIRED);
    assert_int_equal(check(r, iss, "2025-12-31T00:00:00Z"), CCG_R_REFVAL_NOT_YET_VALID);

    /* Any signed member changed after signing breaks the signature, nested ones included. */
    json_t *t = json_deep_copy(r);
    json_object_set_new(t, "build_id", json_string("build-8"));
    assert_int_equal(check(t, iss, NOW), CCG_R_REFVAL_SIGNATURE_INVALID);
    json_decref(t);
    t = json_deep_copy(r);
    json_object_set_new(json_object_get(t, "launch_inputs"), "vcpus", json_integer(5));
    assert_int_equal(check(t, iss, NOW), CCG_R_REFVAL_SIGNATURE_INVALID);
    json_decref(t);

    /* Signed by another key under the trusted issuer's name. */
    json_t *w = record("r2", M1, "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z");
    assert_true(ccg_ok(ccg_refval_sign(w, other, "acme")));
    assert_int_equal(check(w, iss, NOW), CCG_R_REFVAL_SIGNATURE_INVALID);
    /* Signed by an issuer nobody trusts. */
    assert_true(ccg_ok(ccg_refval_sign(w, other, "mallory")));
    assert_int_equal(check(w, iss, NOW), CCG_R_REFVAL_ISSUER_UNKNOWN);

    json_decref(w);
    json_decref(r);
    ccg_refval_issuers_free(iss);
    EVP_PKEY_free(key);
    EVP_PKEY_free(other);
}

static void es384_records(void **state)
{
    (void)state;
    sign_and_check("ES384");
}

static void ed25519_records(void **state)
{
    (void)state;
    sign_and_check("Ed25519");
}

/* Verified signatures are remembered (refvalue_sign.c): a remembered success answers only for the same
 * key object and the same signed bytes and signature, never for another key under the same issuer
 * name, nor for a changed signature; an issuer set loaded again from the same PEM verifies afresh. */
static void remembered_signatures_stay_bound(void **state)
{
    (void)state;
    EVP_PKEY *key = gen_key("ES384"), *other = gen_key("ES384");
    ccg_refval_issuers *iss = NULL, *impostor = NULL, *reloaded = NULL;
    assert_true(ccg_ok(ccg_refval_issuers_new(&iss)));
    assert_true(ccg_ok(ccg_refval_issuers_new(&impostor)));
    assert_true(ccg_ok(ccg_refval_issuers_new(&reloaded)));
    add_issuer(iss, "acme", key);
    add_issuer(impostor, "acme", other);
    add_issuer(reloaded, "acme", key);
    json_t *r = record("r-memo", M1, "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z");
    assert_true(ccg_ok(ccg_refval_sign(r, key, "acme")));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(check(r, iss, NOW), CCG_R_OK);
        assert_int_equal(check(r, impostor, NOW), CCG_R_REFVAL_SIGNATURE_INVALID);
        assert_int_equal(check(r, reloaded, NOW), CCG_R_OK);
        /* Validity is still judged at each check, remembered signature or not. */
        assert_int_equal(check(r, iss, "2027-01-02T00:00:00Z"), CCG_R_REFVAL_EXPIRED);
    }
    /* The same bytes with another (invalid) signature value. */
    json_t *t = json_deep_copy(r);
    const char *value = json_string_value(json_object_get(json_object_get(t, "signature"), "value"));
    char *flipped = strdup(value);
    assert_non_null(flipped);
    flipped[10] = flipped[10] == 'A' ? 'B' : 'A';
    json_object_set_new(json_object_get(t, "signature"), "value", json_string(flipped));
    assert_int_equal(check(t, iss, NOW), CCG_R_REFVAL_SIGNATURE_INVALID);
    free(flipped);
    json_decref(t);
    /* The issuer set freed while its key is remembered: the memo's reference keeps it valid. */
    ccg_refval_issuers_free(iss);
    assert_int_equal(check(r, reloaded, NOW), CCG_R_OK);
    json_decref(r);
    ccg_refval_issuers_free(impostor);
    ccg_refval_issuers_free(reloaded);
    EVP_PKEY_free(key);
    EVP_PKEY_free(other);
}

static void algorithm_relabelling_is_refused(void **state)
{
    (void)state;
    EVP_PKEY *key = gen_key("ES384");
    ccg_refval_issuers *iss = NULL;
    assert_true(ccg_ok(ccg_refval_issuers_new(&iss)));
    add_issuer(iss, "acme", key);
    json_t *r = record("r1", M1, "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z");
    assert_true(ccg_ok(ccg_refval_sign(r, key, "acme")));
    json_object_set_new(json_object_get(r, "signature"), "alg", json_string("Ed25519"));
    assert_int_equal(check(r, iss, NOW), CCG_R_REFVAL_SIGNATURE_INVALID);
    json_decref(r);
    ccg_refval_issuers_free(iss);
    EVP_PKEY_free(key);
}

static void malformed_records_are_refused(void **state)
{
    (void)state;
    const char *bad[] = {
        "{\"id\":\"a\",\"tee\":\"snp\",\"measurement\":\"00\",\"build_id\":\"b\",\"not_before\":\"2026-01-01T00:00:00Z\",\"not_after\":\"2027-01-01T00:00:00Z\"}",
        "{\"id\":\"a\",\"tee\":\"snp\",\"measurement\":\"" "5feee30d6d7e1a29f403d70a4198237ddfb13051a2d6976439487c609388ed7f98189887920ab2fa0096903a0c23fca1" "\",\"build_id\":\"b\",\"not_before\":\"2026-01-01T00:00:00Z\",\"not_after\":\"2027-01-01T00:00:00Z\",\"extra\":1}",
        "{\"id\":\"a\",\"tee\":\"snp\",\"measurement\":\"" "5feee30d6d7e1a29f403d70a4198237ddfb13051a2d6976439487c609388ed7f98189887920ab2fa0096903a0c23fca1" "\",\"build_id\":\"b\",\"not_before\":\"2027-01-01T00:00:00Z\",\"not_after\":\"2026-01-01T00:00:00Z\"}",
        "{\"id\":\"a\",\"tee\":\"snp\",\"measurement\":\"" "5feee30d6d7e1a29f403d70a4198237ddfb13051a2d6976439487c609388ed7f98189887920ab2fa0096903a0c23fca1" "\",\"build_id\":\"b\",\"not_before\":\"yesterday\",\"not_after\":\"2026-01-01T00:00:00Z\"}",
        "{\"id\":\"a\",\"tee\":\"snp\",\"measurement\":\"" "5feee30d6d7e1a29f403d70a4198237ddfb13051a2d6976439487c609388ed7f98189887920ab2fa0096903a0c23fca1" "\",\"build_id\":\"b\",\"not_before\":\"2026-01-01T00:00:00Z\",\"not_after\":\"2027-01-01T00:00:00Z\",\"signature\":{\"alg\":\"none\",\"value\":\"\"}}",
        "{\"set_id\":\"s\",\"version\":0,\"records\":[]}",
        "[]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ccg_refval_set *set = NULL;
        ccg_error_clear();
        assert_true(ccg_failed(ccg_refval_set_parse(bad[i], strlen(bad[i]), &set)));
        tu_assert_error_reason(CCG_R_REFVAL_MALFORMED);
    }
}

static void signing_bytes_are_canonical(void **state)
{
    (void)state;
    json_t *a = json_loads("{\"b\":1,\"a\":{\"d\":\"x\",\"c\":2},\"signature\":{\"alg\":\"ES384\",\"value\":\"zz\"}}", 0, NULL);
    char *bytes = NULL;
    size_t len = 0;
    assert_true(ccg_ok(ccg_refval_signing_bytes(a, &bytes, &len)));
    assert_string_equal(bytes, "{\"a\":{\"c\":2,\"d\":\"x\"},\"b\":1}");
    free(bytes);
    json_decref(a);
}

/* Reordered members, whitespace and escapes give the same bytes; the bytes are pinned here, so a
 * change in serialisation (which would orphan every issued signature) fails this test. */
static void signing_bytes_are_stable(void **state)
{
    (void)state;
    const char *a_text = "{\"tee\":\"snp\",\"id\":\"r1\",\"launch_inputs\":{\"vcpus\":4,\"cmdline\":\"console=ttyS0\"},"
                         "\"issuer\":\"acme\",\"signature\":{\"alg\":\"Ed25519\",\"value\":\"AA\"}}";
    const char *b_text = "{ \"issuer\" : \"acme\",\n \"launch_inputs\": { \"cmdline\": \"console\\u003dttyS0\","
                         " \"vcpus\": 4 },\n \"id\": \"r\\u0031\", \"tee\": \"snp\" }";
    const char *want = "{\"id\":\"r1\",\"issuer\":\"acme\",\"launch_inputs\":{\"cmdline\":\"console=ttyS0\",\"vcpus\":4},"
                       "\"tee\":\"snp\"}";
    json_t *a = json_loads(a_text, 0, NULL), *b = json_loads(b_text, 0, NULL);
    char *ab = NULL, *bb = NULL;
    size_t al = 0, bl = 0;
    assert_true(ccg_ok(ccg_refval_signing_bytes(a, &ab, &al)));
    assert_true(ccg_ok(ccg_refval_signing_bytes(b, &bb, &bl)));
    assert_string_equal(ab, want);
    assert_int_equal(al, strlen(want));
    assert_string_equal(bb, want);
    free(ab);
    free(bb);
    json_decref(a);
    json_decref(b);
}

/* A signed record written indented and read back (what `refval sign` then `verify` do) still verifies. */
static void reformatted_record_still_verifies(void **state)
{
    (void)state;
    EVP_PKEY *key = gen_key("Ed25519");
    ccg_refval_issuers *iss = NULL;
    ccg_refval_set *set = NULL;
    ccg_decision d;
    assert_true(ccg_ok(ccg_refval_issuers_new(&iss)));
    add_issuer(iss, "acme", key);
    json_t *r = record("r1", M1, "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z");
    assert_true(ccg_ok(ccg_refval_sign(r, key, "acme")));
    char *text = json_dumps(r, JSON_INDENT(4) | JSON_ESCAPE_SLASH);
    assert_true(ccg_ok(ccg_refval_set_parse(text, strlen(text), &set)));
    ccg_decision_init(&d, "refval");
    assert_int_equal(ccg_refval_record_check(&set->records[0], "snp", iss, tu_time(NOW), &d), 1);
    ccg_decision_free(&d);
    free(text);
    ccg_refval_set_free(set);
    json_decref(r);
    ccg_refval_issuers_free(iss);
    EVP_PKEY_free(key);
}

/* A record for another TEE is refused for SNP evidence, alone and through a set. */
static void tee_mismatch_is_refused(void **state)
{
    (void)state;
    EVP_PKEY *key = gen_key("ES384");
    ccg_refval_issuers *iss = NULL;
    ccg_refval_set *set = NULL;
    uint8_t m[48];
    ccg_decision d;
    assert_true(ccg_ok(ccg_refval_issuers_new(&iss)));
    add_issuer(iss, "acme", key);
    json_t *r = record("r1", M1, "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z");
    json_object_set_new(r, "tee", json_string("tdx"));
    assert_true(ccg_ok(ccg_refval_sign(r, key, "acme")));
    assert_int_equal(check(r, iss, NOW), CCG_R_REFVAL_TEE_MISMATCH);

    char *text = json_dumps(r, JSON_COMPACT);
    assert_true(ccg_ok(ccg_refval_set_parse(text, strlen(text), &set)));
    assert_true(ccg_ok(ccg_hex_decode_exact(M1, m, sizeof(m))));
    ccg_decision_init(&d, "refval");
    assert_int_equal(ccg_refval_set_match(set, "snp", m, sizeof(m), iss, tu_time(NOW), &d), 0);
    assert_int_equal(d.reasons.count, 1);
    assert_int_equal(d.reasons.items[0].reason, CCG_R_REFVAL_TEE_MISMATCH);
    ccg_decision_free(&d);
    /* With no TEE asked for (refval verify without --tee), the record is usable. */
    ccg_decision_init(&d, "refval");
    assert_int_equal(ccg_refval_set_match(set, NULL, m, sizeof(m), iss, tu_time(NOW), &d), 1);
    ccg_decision_free(&d);
    free(text);
    ccg_refval_set_free(set);
    json_decref(r);
    ccg_refval_issuers_free(iss);
    EVP_PKEY_free(key);
}

/* Records given as {id, measurement, not_after}, signed, parsed as one set. */
typedef struct {
    const char *id, *measurement, *not_after, *build_id;
} rec_spec;

static ccg_refval_set *set_of(EVP_PKEY *key, const rec_spec *specs, size_t n)
{
    json_t *records = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *r = record(specs[i].id, specs[i].measurement, "2026-01-01T00:00:00Z", specs[i].not_after);
        json_object_set_new(r, "build_id", json_string(specs[i].build_id));
        assert_true(ccg_ok(ccg_refval_sign(r, key, "acme")));
        json_array_append_new(records, r);
    }
    json_t *doc = json_pack("{s:s, s:i, s:o}", "set_id", "s", "version", 1, "records", records);
    char *text = json_dumps(doc, JSON_COMPACT);
    ccg_refval_set *set = NULL;
    assert_true(ccg_ok(ccg_refval_set_parse(text, strlen(text), &set)));
    free(text);
    json_decref(doc);
    return set;
}

static ccg_decision match(const ccg_refval_set *set, const ccg_refval_issuers *iss, const char *m_hex, int want)
{
    uint8_t m[48];
    ccg_decision d;
    ccg_decision_init(&d, "refval");
    assert_true(ccg_ok(ccg_hex_decode_exact(m_hex, m, sizeof(m))));
    assert_int_equal(ccg_refval_set_match(set, "snp", m, sizeof(m), iss, tu_time(NOW), &d), want);
    return d;
}

/* An expired record re-issued in the same set does not shadow its successor; with no usable record
 * holding the measurement, each holder's refusal is given. */
static void reissued_record_matches(void **state)
{
    (void)state;
    EVP_PKEY *key = gen_key("ES384");
    ccg_refval_issuers *iss = NULL;
    assert_true(ccg_ok(ccg_refval_issuers_new(&iss)));
    add_issuer(iss, "acme", key);
    const rec_spec reissued[] = {{"old", M1, "2026-03-01T00:00:00Z", "b1"}, {"new", M1, "2027-01-01T00:00:00Z", "b1"}};
    ccg_refval_set *set = set_of(key, reissued, 2);
    ccg_decision d = match(set, iss, M1, 1);
    assert_int_equal(d.reasons.count, 0);
    ccg_decision_free(&d);
    ccg_refval_set_free(set);

    const rec_spec lapsed[] = {{"old", M1, "2026-03-01T00:00:00Z", "b1"}, {"older", M1, "2026-02-01T00:00:00Z", "b1"}};
    set = set_of(key, lapsed, 2);
    d = match(set, iss, M1, 0);
    assert_int_equal(d.reasons.count, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(d.reasons.items[i].reason, CCG_R_REFVAL_EXPIRED);
    }
    assert_string_equal(json_string_value(json_object_get(d.reasons.items[1].details, "refval_id")), "older");
    ccg_decision_free(&d);
    ccg_refval_set_free(set);
    ccg_refval_issuers_free(iss);
    EVP_PKEY_free(key);
}

/* "Closest" is the usable record sharing the most leading bytes, wherever it sits in the set; an
 * unusable record is never named. */
static void closest_record_is_named(void **state)
{
    (void)state;
    EVP_PKEY *key = gen_key("Ed25519");
    ccg_refval_issuers *iss = NULL;
    assert_true(ccg_ok(ccg_refval_issuers_new(&iss)));
    add_issuer(iss, "acme", key);
    const char *got = "5feee30d6d7e1a29f403d70a4198237ddfb13051a2d6976439487c609388ed7f98189887920ab2fa0096903a0c23fca1";
    const rec_spec specs[] = {
        {"far", "5f00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000ff",
         "2027-01-01T00:00:00Z", "b-far"},
        {"expired", "5feee30d6d7e1a29f403d70a4198237ddfb13051a2d6976439487c609388ed7f98189887920ab2fa0096903a0c23fc00",
         "2026-03-01T00:00:00Z", "b-expired"},
        {"near", "5feee30d6d7e1a29f403d70a4198237d00000000000000000000000000000000000000000000000000000000000000ff",
         "2027-01-01T00:00:00Z", "b-near"},
    };
    ccg_refval_set *set = set_of(key, specs, 3);
    ccg_decision d = match(set, iss, got, 0);
    assert_int_equal(d.reasons.count, 1);
    assert_int_equal(d.reasons.items[0].reason, CCG_R_REFVAL_MEASUREMENT_MISMATCH);
    assert_string_equal(json_string_value(json_object_get(d.reasons.items[0].details, "closest_build_id")), "b-near");
    assert_string_equal(json_string_value(json_object_get(d.reasons.items[0].details, "closest_refval_id")), "near");
    ccg_decision_free(&d);
    ccg_refval_set_free(set);
    ccg_refval_issuers_free(iss);
    EVP_PKEY_free(key);
}

/* Shapes the parser refuses beyond unknown members: a short SNP measurement, a value with no canonical
 * form, one record ID of one issuer twice in a set. */
static void stricter_shapes_are_refused(void **state)
{
    (void)state;
    char m32[65];
    memset(m32, 'a', 64);
    m32[64] = '\0';
    json_t *short_m = record("a", m32, "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z");
    json_t *real = record("a", M1, "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z");
    json_object_set_new(json_object_get(real, "launch_inputs"), "vcpus", json_real(4.5));
    json_t *big = record("a", M1, "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z");
    json_object_set_new(json_object_get(big, "launch_inputs"), "vcpus", json_integer((json_int_t)1 << 60));
    json_t *bad[] = {short_m, real, big};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ccg_refval_record r;
        ccg_error_clear();
        assert_true(ccg_failed(ccg_refval_record_parse(bad[i], &r)));
        tu_assert_error_reason(CCG_R_REFVAL_MALFORMED);
        ccg_refval_record_free(&r);
        json_decref(bad[i]);
    }
    /* 32 bytes stay valid for a TEE whose measurement is that long. */
    json_t *other = record("a", m32, "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z");
    json_object_set_new(other, "tee", json_string("other"));
    ccg_refval_record r;
    assert_true(ccg_ok(ccg_refval_record_parse(other, &r)));
    ccg_refval_record_free(&r);
    json_decref(other);

    EVP_PKEY *k1 = gen_key("Ed25519"), *k2 = gen_key("Ed25519");
    json_t *a = record("same", M1, "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z");
    json_t *b = json_deep_copy(a);
    assert_true(ccg_ok(ccg_refval_sign(a, k1, "old-key")));
    assert_true(ccg_ok(ccg_refval_sign(b, k2, "old-key")));
    json_t *dup = json_pack("{s:s, s:i, s:[O, O]}", "set_id", "s", "version", 1, "records", a, b);
    char *text = json_dumps(dup, JSON_COMPACT);
    ccg_refval_set *set = NULL;
    ccg_error_clear();
    assert_true(ccg_failed(ccg_refval_set_parse(text, strlen(text), &set)));
    tu_assert_error_reason(CCG_R_REFVAL_MALFORMED);
    free(text);
    json_decref(dup);
    /* The same record under two issuers (a key rotation) is a valid set. */
    assert_true(ccg_ok(ccg_refval_sign(b, k2, "new-key")));
    dup = json_pack("{s:s, s:i, s:[O, O]}", "set_id", "s", "version", 1, "records", a, b);
    text = json_dumps(dup, JSON_COMPACT);
    assert_true(ccg_ok(ccg_refval_set_parse(text, strlen(text), &set)));
    assert_int_equal(set->count, 2);
    ccg_refval_set_free(set);
    free(text);
    json_decref(dup);
    json_decref(a);
    json_decref(b);
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
}

/* ---- the SNP verifier with a reference-value set, over the real Milan v3 report ---------------- */

typedef struct {
    ccg_snp_verifier *v;
    ccg_snp_collateral col;
    uint8_t *report;
    size_t len;
    EVP_PKEY *key;
    ccg_refval_issuers *iss;
    ccg_snp_policy *policy;
    EVP_PKEY *authority;
    ccg_refval_issuers *tcb_iss;
    ccg_snp_tcb_baselines tcb; /* the report's TCB (Milan 4/0/24/219) is up to date */
} real_fixture;

static void real_setup(real_fixture *f)
{
    uint8_t *pem = NULL;
    size_t n = 0;
    const char *policy = "{\"policy_id\":\"acme-llm\",\"version\":4,\"reference_values\":{\"set_id\":\"acme-prod\",\"minimum_version\":2}}";
    memset(f, 0, sizeof(*f));
    tu_read_vector("snp/msft-milan-v3/attestation_report.bin", &f->report, &f->len);
    assert_true(ccg_ok(ccg_snp_verifier_new(&f->v)));
    assert_true(ccg_ok(ccg_snp_collateral_init(&f->col)));
    tu_read_vector("snp/msft-milan-v3/vcek.pem", &pem, &n);
    assert_true(ccg_ok(ccg_snp_collateral_add_certs(&f->col, pem, n)));
    free(pem);
    tu_read_vector("snp/msft-milan-v3/ask.pem", &pem, &n);
    assert_true(ccg_ok(ccg_snp_collateral_add_certs(&f->col, pem, n)));
    free(pem);
    f->key = gen_key("ES384");
    assert_true(ccg_ok(ccg_refval_issuers_new(&f->iss)));
    add_issuer(f->iss, "acme", f->key);
    assert_true(ccg_ok(ccg_snp_policy_parse(policy, strlen(policy), &f->policy)));
    const ccg_snp_tcb milan = {.bootloader = 4, .tee = 0, .snp = 24, .microcode = 219};
    f->authority = tu_authority_key();
    f->tcb_iss = tu_issuers_with(f->authority, "authority");
    ccg_snp_tcb_baselines_init(&f->tcb);
    assert_true(ccg_ok(ccg_snp_tcb_baselines_add(&f->tcb, tu_tcb_baseline(CCG_SNP_PRODUCT_MILAN, &milan, NULL,
                                                                          "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z",
                                                                          f->authority, "authority"))));
}

static void real_teardown(real_fixture *f)
{
    ccg_snp_policy_free(f->policy);
    ccg_refval_issuers_free(f->iss);
    EVP_PKEY_free(f->key);
    ccg_snp_tcb_baselines_free(&f->tcb);
    ccg_refval_issuers_free(f->tcb_iss);
    EVP_PKEY_free(f->authority);
    ccg_snp_collateral_free(&f->col);
    ccg_snp_verifier_free(f->v);
    free(f->report);
}

/* A signed set of records for the given measurements, as JSON text parsed into a set. */
static ccg_refval_set *signed_set(EVP_PKEY *key, int64_t version, const char *const *measurements, size_t n)
{
    json_t *records = json_array();
    for (size_t i = 0; i < n; i++) {
        char id[32]; /* "rec-" and any size_t: gcc checks the bound */
        snprintf(id, sizeof(id), "rec-%zu", i);
        json_t *r = record(id, measurements[i], "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z");
        json_object_set_new(r, "build_id", json_string(i == 0 ? "build-approved" : "build-other"));
        assert_true(ccg_ok(ccg_refval_sign(r, key, "acme")));
        json_array_append_new(records, r);
    }
    json_t *doc = json_pack("{s:s, s:I, s:o}", "set_id", "acme-prod", "version", (json_int_t)version, "records", records);
    char *text = json_dumps(doc, JSON_COMPACT);
    ccg_refval_set *set = NULL;
    assert_true(ccg_ok(ccg_refval_set_parse(text, strlen(text), &set)));
    free(text);
    json_decref(doc);
    return set;
}

static void verify_with(real_fixture *f, const ccg_refval_set *set, ccg_decision *d)
{
    ccg_snp_verify_opts opts = {set, f->iss, &f->tcb, f->tcb_iss};
    assert_true(ccg_ok(ccg_snp_verify_ex(f->v, f->report, f->len, &f->col, f->policy, &opts, tu_time(NOW), d)));
}

static void real_report_against_a_set(void **state)
{
    (void)state;
    real_fixture f;
    ccg_decision d;
    real_setup(&f);

    const char *approved[] = {M1};
    ccg_refval_set *set = signed_set(f.key, 3, approved, 1);
    verify_with(&f, set, &d);
    assert_true(d.allow);
    ccg_decision_free(&d);
    ccg_refval_set_free(set);

    /* A set without this measurement: denied, naming what was got and the closest approved build. */
    const char *other[] = {"5feee30d6d7e1a29f403d70a4198237ddfb13051a2d6976439487c609388ed7f98189887920ab2fa0096903a0c23fca2",
                           "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"};
    set = signed_set(f.key, 3, other, 2);
    verify_with(&f, set, &d);
    assert_false(d.allow);
    assert_int_equal(d.reasons.count, 1);
    assert_int_equal(d.reasons.items[0].reason, CCG_R_REFVAL_MEASUREMENT_MISMATCH);
    json_t *det = d.reasons.items[0].details;
    assert_string_equal(json_string_value(json_object_get(det, "measurement")), M1);
    assert_string_equal(json_string_value(json_object_get(det, "set_id")), "acme-prod");
    assert_int_equal(json_integer_value(json_object_get(det, "set_version")), 3);
    assert_string_equal(json_string_value(json_object_get(det, "closest_build_id")), "build-approved");
    ccg_decision_free(&d);
    ccg_refval_set_free(set);

    /* The measurement listed, but by a key other than the trusted issuer's: that record's refusal. */
    EVP_PKEY *other_key = gen_key("ES384");
    set = signed_set(other_key, 3, approved, 1);
    verify_with(&f, set, &d);
    assert_false(d.allow);
    assert_int_equal(d.reasons.count, 1);
    assert_int_equal(d.reasons.items[0].reason, CCG_R_REFVAL_SIGNATURE_INVALID);
    ccg_decision_free(&d);
    ccg_refval_set_free(set);
    EVP_PKEY_free(other_key);

    /* The policy's set missing, or older than its minimum version. */
    verify_with(&f, NULL, &d);
    assert_int_equal(d.reasons.count, 1);
    assert_int_equal(d.reasons.items[0].reason, CCG_R_REFVAL_SET_MISSING);
    ccg_decision_free(&d);
    set = signed_set(f.key, 1, approved, 1);
    verify_with(&f, set, &d);
    assert_int_equal(d.reasons.count, 1);
    assert_int_equal(d.reasons.items[0].reason, CCG_R_REFVAL_SET_MISSING);
    ccg_decision_free(&d);
    ccg_refval_set_free(set);
    real_teardown(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(es384_records),
        cmocka_unit_test(ed25519_records),
        cmocka_unit_test(algorithm_relabelling_is_refused),
        cmocka_unit_test(remembered_signatures_stay_bound),
        cmocka_unit_test(malformed_records_are_refused),
        cmocka_unit_test(signing_bytes_are_canonical),
        cmocka_unit_test(signing_bytes_are_stable),
        cmocka_unit_test(reformatted_record_still_verifies),
        cmocka_unit_test(tee_mismatch_is_refused),
        cmocka_unit_test(reissued_record_matches),
        cmocka_unit_test(closest_record_is_named),
        cmocka_unit_test(stricter_shapes_are_refused),
        cmocka_unit_test(real_report_against_a_set),
    };
    return cmocka_run_group_tests_name("refvalue", tests, NULL, NULL);
}
