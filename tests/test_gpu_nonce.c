/* The GPU nonce derivation (include/ccgate/gpu_nonce.h) against known answers computed outside ccgate
 * (Python's hashlib over the RFC 8785 text written out by hand), and its refusals. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "ccgate/error.h"
#include "ccgate/gpu_nonce.h"
#include "ccgate/util.h"

#define KAT_JWK                                                                                                  \
    "{\"kty\":\"EC\",\"crv\":\"P-256\",\"alg\":\"ECDH-ES+A256KW\",\"x\":\"piq841mjH5PVWq4muNdvRuObK_gYF-LH49ffJQSZ" \
    "qO4\",\"y\":\"hRPmUbJmui2eIszABCxQn-UUT6mnzJAZrJgTwC9jbr8\"}"
#define KAT_NONCE "n0nce-42"

static ccg_jwk *kat_key(void)
{
    ccg_jwk *k = NULL;
    assert_true(ccg_ok(ccg_jwk_parse_text(KAT_JWK, strlen(KAT_JWK), &k)));
    return k;
}

static void assert_hex(const uint8_t *got, size_t n, const char *want_hex)
{
    char hex[2 * CCG_GPU_DEVICE_DIGEST_MAX + 1];
    assert_true(n <= CCG_GPU_DEVICE_DIGEST_MAX);
    ccg_hex_encode(got, n, hex);
    assert_string_equal(hex, want_hex);
}

static void test_device_digest_kat(void **state)
{
    (void)state;
    static const struct {
        const char *hash;
        const char *digest;
    } kat[] = {
        {"sha256", "01ab7d8a1732463c1c78e07afe0463662ef2cf8b874100afa0c7b054f8bfad56"},
        {"sha384", "4531582b5ac251e0fca34f1a7c0e52afc6aa4fab2d7b4a4a31a8e21d935d9fb7443835ba3955b84d51ab4242d8165309"},
        {"sha512", "e9ae41adbe7f11703f7118032d437331f0479d49c3df97fe8802607460d4d28a194fc84c812a8a4cad80fdaeadc57fcd"
                   "917996bf80aa6df6adf613e4610c3b9c"},
    };
    ccg_jwk *key = kat_key();
    for (size_t i = 0; i < sizeof(kat) / sizeof(kat[0]); i++) {
        uint8_t d[CCG_GPU_DEVICE_DIGEST_MAX];
        size_t len = 0;
        assert_true(ccg_ok(ccg_gpu_device_digest(kat[i].hash, KAT_NONCE, key, d, &len)));
        assert_int_equal(len, strlen(kat[i].digest) / 2);
        assert_hex(d, len, kat[i].digest);
    }
    ccg_jwk_free(key);
}

static void test_ccgate_v1_kat(void **state)
{
    (void)state;
    static const struct {
        const char *hash;
        uint32_t index;
        const char *nonce;
    } kat[] = {
        {"sha384", 0, "16f3bb62fbc2c25395b2ce077518a95ec63e1bc738ed7079c08e9c5462e3f15f"},
        {"sha384", 1, "2120f36acc4dcdff81c1896d4e00cc81551343f09ff040a23bc54200a9d7bda4"},
        {"sha384", 7, "a5a5409500960a6138c15a4a11bdbf06a388e145d6aa9415a521d39789e8b60d"},
        {"sha256", 0, "4049f772f26308644d7a5bcf90df2901562e9d2d1d45feb9b94177ebe91ee0d7"},
        {"sha512", 1, "e3b6d620bf128022dde49ca0e990696dfcbabef4f0b6e85f28d3e4b6585e1e3b"},
    };
    ccg_jwk *key = kat_key();
    for (size_t i = 0; i < sizeof(kat) / sizeof(kat[0]); i++) {
        uint8_t d[CCG_GPU_DEVICE_DIGEST_MAX], n[CCG_GPU_NONCE_SIZE];
        size_t len = 0;
        assert_true(ccg_ok(ccg_gpu_device_digest(kat[i].hash, KAT_NONCE, key, d, &len)));
        assert_true(ccg_ok(ccg_gpu_nonce_derive(CCG_GPU_NONCE_CCGATE_V1, d, len, kat[i].index, n)));
        assert_hex(n, sizeof(n), kat[i].nonce);
    }
    ccg_jwk_free(key);
}

static void test_trustee_is_digest_prefix(void **state)
{
    (void)state;
    ccg_jwk *key = kat_key();
    uint8_t d[CCG_GPU_DEVICE_DIGEST_MAX], n0[CCG_GPU_NONCE_SIZE], n5[CCG_GPU_NONCE_SIZE];
    size_t len = 0;
    assert_true(ccg_ok(ccg_gpu_device_digest("sha384", KAT_NONCE, key, d, &len)));
    assert_true(ccg_ok(ccg_gpu_nonce_derive(CCG_GPU_NONCE_TRUSTEE, d, len, 0, n0)));
    assert_true(ccg_ok(ccg_gpu_nonce_derive(CCG_GPU_NONCE_TRUSTEE, d, len, 5, n5)));
    assert_hex(n0, sizeof(n0), "4531582b5ac251e0fca34f1a7c0e52afc6aa4fab2d7b4a4a31a8e21d935d9fb7");
    assert_memory_equal(n0, n5, sizeof(n0)); /* the same for every GPU: hence the duplicate-device check */
    assert_string_equal(ccg_gpu_nonce_binding_name(CCG_GPU_NONCE_TRUSTEE), "trustee");
    assert_string_equal(ccg_gpu_nonce_binding_name(CCG_GPU_NONCE_CCGATE_V1), "ccgate-v1");
    ccg_jwk_free(key);
}

static void test_inputs_change_nonce(void **state)
{
    (void)state;
    ccg_jwk *key = kat_key();
    uint8_t a[CCG_GPU_DEVICE_DIGEST_MAX], b[CCG_GPU_DEVICE_DIGEST_MAX];
    size_t la = 0, lb = 0;
    assert_true(ccg_ok(ccg_gpu_device_digest("sha384", KAT_NONCE, key, a, &la)));
    assert_true(ccg_ok(ccg_gpu_device_digest("sha384", "n0nce-43", key, b, &lb)));
    assert_int_equal(la, lb);
    assert_memory_not_equal(a, b, la);
    ccg_jwk_free(key);
}

static void test_refusals(void **state)
{
    (void)state;
    ccg_jwk *key = kat_key();
    uint8_t d[CCG_GPU_DEVICE_DIGEST_MAX], n[CCG_GPU_NONCE_SIZE];
    size_t len = 99;
    assert_true(ccg_failed(ccg_gpu_device_digest("md5", KAT_NONCE, key, d, &len)));
    assert_int_equal(ccg_error_reason(), CCG_R_USAGE_INVALID);
    assert_int_equal(len, 0);
    assert_true(ccg_failed(ccg_gpu_device_digest("sha384", NULL, key, d, &len)));
    assert_int_equal(ccg_error_reason(), CCG_R_USAGE_INVALID);
    assert_true(ccg_failed(ccg_gpu_device_digest("sha384", KAT_NONCE, NULL, d, &len)));
    memset(d, 1, sizeof(d));
    assert_true(ccg_failed(ccg_gpu_nonce_derive(CCG_GPU_NONCE_CCGATE_V1, d, 31, 0, n)));
    assert_int_equal(ccg_error_reason(), CCG_R_USAGE_INVALID);
    assert_true(ccg_failed(ccg_gpu_nonce_derive(CCG_GPU_NONCE_TRUSTEE, d, 65, 0, n)));
    assert_true(ccg_failed(ccg_gpu_nonce_derive((ccg_gpu_nonce_binding)9, d, 48, 0, n)));
    ccg_jwk_free(key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_device_digest_kat),
        cmocka_unit_test(test_ccgate_v1_kat),
        cmocka_unit_test(test_trustee_is_digest_prefix),
        cmocka_unit_test(test_inputs_change_nonce),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
