/* P-521 tee keys (issue 15): the JWK parser takes crv "P-521" with coordinates of exactly 66 bytes on
 * the curve, refuses other lengths, points off the curve and unknown curves with their codes; the
 * canonical JWK, the thumbprint and REPORT_DATA use the P-521 members; the resource JWE to a P-521 key
 * is ECDH-ES+A256KW with a P-521 epk (as Trustee's KBS answers) and decrypts only with that key.
 * The same JWE decrypted by a peer implementation (python3-jwcrypto): tests/cli/test_kbs_interop.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "ccgate/error.h"
#include "ccgate/jose.h"
#include "ccgate/secmem.h"

#include "testutil.h"

static void coords(EVP_PKEY *k, uint8_t x[66], uint8_t y[66])
{
    BIGNUM *bx = NULL, *by = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &bx), 1);
    assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, &by), 1);
    assert_int_equal(BN_bn2binpad(bx, x, 66), 66);
    assert_int_equal(BN_bn2binpad(by, y, 66), 66);
    BN_free(bx);
    BN_free(by);
}

/* {"kty":"EC","crv":crv,"x":..,"y":..} from raw coordinates of the given lengths. */
static json_t *ec_jwk(const char *crv, const uint8_t *x, size_t xl, const uint8_t *y, size_t yl)
{
    char *xs = ccg_b64url_encode(x, xl), *ys = ccg_b64url_encode(y, yl);
    json_t *j = json_pack("{s:s,s:s,s:s,s:s}", "kty", "EC", "crv", crv, "x", xs, "y", ys);
    free(xs);
    free(ys);
    return j;
}

static void expect_parse(json_t *j, ccg_reason code)
{
    ccg_jwk *k = NULL;
    ccg_result r = ccg_jwk_parse(j, &k);
    if (ccg_ok(r) || ccg_error_reason() != code) {
        fail_msg("expected %s, got %s", ccg_reason_code(code), ccg_ok(r) ? "success" : ccg_error_last()->message);
    }
    assert_null(k);
    ccg_error_clear();
    json_decref(j);
}

static void p521_parses(void **state)
{
    (void)state;
    EVP_PKEY *k = EVP_EC_gen("P-521");
    uint8_t x[66], y[66], tp[32];
    ccg_jwk *jwk = NULL, *again = NULL;
    json_t *j, *canon;
    char *text;
    assert_non_null(k);
    coords(k, x, y);
    j = ec_jwk("P-521", x, 66, y, 66);
    json_object_set_new(j, "alg", json_string(CCG_JOSE_ALG_ECDH_ES_A256KW));
    assert_true(ccg_ok(ccg_jwk_parse(j, &jwk)));
    assert_int_equal(ccg_jwk_type(jwk), CCG_JWK_EC_P521);
    assert_string_equal(ccg_jwk_alg(jwk), CCG_JOSE_ALG_ECDH_ES_A256KW);
    assert_int_equal(EVP_PKEY_eq(ccg_jwk_pkey(jwk), k), 1);
    /* The canonical JWK (what REPORT_DATA binds and the token carries) keeps P-521 and the 88-char members. */
    canon = ccg_jwk_to_json(jwk);
    assert_string_equal(json_string_value(json_object_get(canon, "crv")), "P-521");
    assert_int_equal(json_string_length(json_object_get(canon, "x")), 88);
    assert_true(json_equal(canon, j));
    /* From the OpenSSL key: the same key, the same thumbprint. */
    assert_true(ccg_ok(ccg_jwk_from_pkey(k, NULL, &again)));
    assert_int_equal(ccg_jwk_type(again), CCG_JWK_EC_P521);
    uint8_t tp2[32];
    assert_true(ccg_ok(ccg_jwk_thumbprint(jwk, tp)));
    assert_true(ccg_ok(ccg_jwk_thumbprint(again, tp2)));
    assert_memory_equal(tp, tp2, 32);
    /* ES256 names a P-256 signing key, never a P-521 one. */
    ccg_jwk *es = NULL;
    assert_true(ccg_failed(ccg_jwk_from_pkey(k, CCG_JOSE_ALG_ES256, &es)));
    assert_int_equal(ccg_error_reason(), CCG_R_JOSE_JWK_UNSUPPORTED);
    ccg_error_clear();
    /* REPORT_DATA over the runtime data holds the P-521 members. */
    uint8_t rd[64];
    size_t len = 0;
    assert_true(ccg_ok(ccg_jose_kbs_runtime_data("n", jwk, "", &text, &len)));
    assert_non_null(strstr(text, "\"crv\":\"P-521\""));
    free(text);
    assert_true(ccg_ok(ccg_jose_kbs_report_data("sha384", "n", jwk, "", rd)));
    json_decref(canon);
    json_decref(j);
    ccg_jwk_free(jwk);
    ccg_jwk_free(again);
    EVP_PKEY_free(k);
}

/* Coordinates of 65 or 67 bytes (or P-256's 32) are refused, never padded or cut. */
static void p521_wrong_length(void **state)
{
    (void)state;
    EVP_PKEY *k = EVP_EC_gen("P-521");
    uint8_t x[67] = {0}, y[67] = {0};
    coords(k, x + 1, y + 1); /* x[0] = 0: a 67-byte form of the same numbers */
    expect_parse(ec_jwk("P-521", x, 67, y + 1, 66), CCG_R_JOSE_JWK_INVALID);
    expect_parse(ec_jwk("P-521", x + 1, 66, y, 67), CCG_R_JOSE_JWK_INVALID);
    expect_parse(ec_jwk("P-521", x + 2, 65, y + 1, 66), CCG_R_JOSE_JWK_INVALID);
    expect_parse(ec_jwk("P-521", x + 1, 32, y + 1, 32), CCG_R_JOSE_JWK_INVALID);
    EVP_PKEY_free(k);
}

/* A point off the curve, a coordinate at or above the prime, and the all-zero point. */
static void p521_off_curve(void **state)
{
    (void)state;
    EVP_PKEY *k = EVP_EC_gen("P-521");
    uint8_t x[66], y[66], big[66];
    coords(k, x, y);
    y[65] ^= 1;
    expect_parse(ec_jwk("P-521", x, 66, y, 66), CCG_R_JOSE_JWK_INVALID);
    y[65] ^= 1;
    memset(big, 0xff, sizeof(big));
    big[0] = 0x01; /* p = 2^521 - 1 itself */
    expect_parse(ec_jwk("P-521", big, 66, y, 66), CCG_R_JOSE_JWK_INVALID);
    memset(big, 0, sizeof(big));
    expect_parse(ec_jwk("P-521", big, 66, big, 66), CCG_R_JOSE_JWK_INVALID);
    /* A P-521 point named P-256 (lengths differ) and P-256 coordinates named P-521. */
    expect_parse(ec_jwk("P-256", x, 66, y, 66), CCG_R_JOSE_JWK_INVALID);
    EVP_PKEY_free(k);
}

static void unknown_curves(void **state)
{
    (void)state;
    EVP_PKEY *k = EVP_EC_gen("P-521");
    uint8_t x[66], y[66];
    coords(k, x, y);
    static const char *const curves[] = {"P-384", "secp256k1", "p-521", "P-521 ", "X25519", ""};
    for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++) {
        expect_parse(ec_jwk(curves[i], x, 66, y, 66), CCG_R_JOSE_JWK_UNSUPPORTED);
    }
    /* A P-521 key for another algorithm. */
    json_t *j = ec_jwk("P-521", x, 66, y, 66);
    json_object_set_new(j, "alg", json_string("ECDH-ES+A128KW"));
    expect_parse(j, CCG_R_JOSE_JWK_UNSUPPORTED);
    EVP_PKEY_free(k);
}

/* The JWE to a P-521 key: the header Trustee writes (P-521 epk of 66-byte coordinates), decrypts with
 * the key, not with another P-521 key nor a P-256 one; a P-256 epk in a JWE for the P-521 key is refused. */
static void p521_jwe(void **state)
{
    (void)state;
    EVP_PKEY *k = EVP_EC_gen("P-521"), *other = EVP_EC_gen("P-521"), *p256 = EVP_EC_gen("P-256");
    ccg_jwk *jwk = NULL, *jwk256 = NULL;
    ccg_secbuf plain = {0};
    char *text = NULL, *text256 = NULL;
    size_t len = 0;
    uint8_t *hdr = NULL;
    size_t hdr_len = 0;
    const uint8_t msg[] = "a model key for a P-521 guest";
    assert_true(ccg_ok(ccg_jwk_from_pkey(k, NULL, &jwk)));
    assert_true(ccg_ok(ccg_jwe_encrypt_text(jwk, msg, sizeof(msg), &text, &len)));
    json_t *doc = json_loads(text, 0, NULL);
    const char *prot = json_string_value(json_object_get(doc, "protected"));
    assert_true(ccg_ok(ccg_b64url_decode(prot, strlen(prot), CCG_R_JOSE_JWE_INVALID, &hdr, &hdr_len)));
    assert_true(hdr_len > 40 && memcmp(hdr, "{\"alg\":\"ECDH-ES+A256KW\",\"enc\":\"A256GCM\",\"epk\":{\"crv\":\"P-521\","
                                            "\"kty\":\"EC\",\"x\":\"",
                                       strlen("{\"alg\":\"ECDH-ES+A256KW\",\"enc\":\"A256GCM\",\"epk\":{\"crv\":"
                                              "\"P-521\",\"kty\":\"EC\",\"x\":\"")) == 0);
    json_t *h = json_loadb((const char *)hdr, hdr_len, 0, NULL);
    assert_int_equal(json_string_length(json_object_get(json_object_get(h, "epk"), "x")), 88);
    assert_int_equal(json_string_length(json_object_get(json_object_get(h, "epk"), "y")), 88);
    json_decref(h);
    assert_true(ccg_ok(ccg_jwe_decrypt_text(k, text, len, 1, &plain)));
    assert_int_equal(plain.len, sizeof(msg));
    assert_memory_equal(plain.data, msg, sizeof(msg));
    ccg_secbuf_free(&plain);
    assert_true(ccg_failed(ccg_jwe_decrypt_text(other, text, len, 1, &plain)));
    assert_int_equal(ccg_error_reason(), CCG_R_JOSE_JWE_INVALID);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_jwe_decrypt_text(p256, text, len, 1, &plain)));
    assert_int_equal(ccg_error_reason(), CCG_R_JOSE_JWE_INVALID);
    ccg_error_clear();
    /* A JWE made for a P-256 key does not open with the P-521 key (its epk is on P-256). */
    assert_true(ccg_ok(ccg_jwk_from_pkey(p256, NULL, &jwk256)));
    assert_true(ccg_ok(ccg_jwe_encrypt_text(jwk256, msg, sizeof(msg), &text256, &len)));
    assert_true(ccg_failed(ccg_jwe_decrypt_text(k, text256, len, 1, &plain)));
    assert_int_equal(ccg_error_reason(), CCG_R_JOSE_JWE_INVALID);
    ccg_error_clear();
    free(hdr);
    json_decref(doc);
    free(text);
    free(text256);
    ccg_jwk_free(jwk);
    ccg_jwk_free(jwk256);
    EVP_PKEY_free(k);
    EVP_PKEY_free(other);
    EVP_PKEY_free(p256);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(p521_parses),   cmocka_unit_test(p521_wrong_length), cmocka_unit_test(p521_off_curve),
        cmocka_unit_test(unknown_curves), cmocka_unit_test(p521_jwe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
