/* Unit tests for JOSE: base64url, RFC 8785 canonical JSON, JWK strictness, the KBS REPORT_DATA binding,
 * JWE round trips and tampering, ES256 JWTs, and Wycheproof vectors (AES-GCM, ECDSA P-256 P1363). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "testutil.h"

#include "ccgate/error.h"
#include "ccgate/jose.h"

/* ------------------------------------------------------------------ helpers */

/* A fixed P-256 public key made for these tests. */
#define KAT_X "piq841mjH5PVWq4muNdvRuObK_gYF-LH49ffJQSZqO4"
#define KAT_Y "hRPmUbJmui2eIszABCxQn-UUT6mnzJAZrJgTwC9jbr8"

static json_t *load(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (v == NULL) {
        fail_msg("test JSON does not parse: %s: %s", jerr.text, text);
    }
    return v;
}

static EVP_PKEY *gen_ec(void)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(k);
    return k;
}

static EVP_PKEY *gen_rsa(size_t bits)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", bits);
    assert_non_null(k);
    return k;
}

static void expect_ok(ccg_result r)
{
    if (ccg_failed(r)) {
        fail_msg("unexpected failure: %s: %s", ccg_reason_code(ccg_error_reason()), ccg_error_last()->message);
    }
}

static void expect_fail(ccg_result r, ccg_reason reason)
{
    assert_true(ccg_failed(r));
    tu_assert_error_reason(reason);
    ccg_error_clear();
}
/* The first failure's reason is kept until cleared, so clear before the call under test. */
#define EXPECT_FAIL(call, reason)         \
    do {                                  \
        ccg_error_clear();                \
        expect_fail((call), (reason));    \
    } while (0)

static ccg_jwk *jwk_of(EVP_PKEY *k)
{
    ccg_jwk *jwk = NULL;
    expect_ok(ccg_jwk_from_pkey(k, NULL, &jwk));
    return jwk;
}

/* ------------------------------------------------------------------ base64url */

static void b64url_rfc4648_vectors(void **state)
{
    (void)state;
    const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *enc[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        char *e = ccg_b64url_encode((const uint8_t *)plain[i], strlen(plain[i]));
        assert_non_null(e);
        assert_string_equal(e, enc[i]);
        assert_int_equal(ccg_b64url_len(strlen(plain[i])), strlen(enc[i]));
        free(e);
        uint8_t *d = NULL;
        size_t n = 0;
        expect_ok(ccg_b64url_decode(enc[i], strlen(enc[i]), CCG_R_INPUT_MALFORMED, &d, &n));
        assert_non_null(d);
        assert_int_equal(n, strlen(plain[i]));
        assert_memory_equal(d, plain[i], n);
        free(d);
    }
}

static void b64url_uses_url_alphabet(void **state)
{
    (void)state;
    const uint8_t bytes[] = {0xFB, 0xFF};
    char out[8];
    ccg_b64url_encode_into(bytes, sizeof(bytes), out);
    assert_string_equal(out, "-_8");
    uint8_t back[2];
    expect_ok(ccg_b64url_decode_exact("-_8", 3, CCG_R_INPUT_MALFORMED, back, 2));
    assert_memory_equal(back, bytes, 2);
}

static void b64url_refuses_non_canonical_text(void **state)
{
    (void)state;
    const char *bad[] = {
        "Zg==",     /* padding */
        "Zm9v=",    /* padding */
        "Zm9v YmFy", /* whitespace */
        "Zm9v\n",   /* newline */
        "+/8",      /* standard alphabet */
        "Zm9vY",    /* length 1 mod 4 */
        "Zh",       /* non-zero trailing bits ("f" is "Zg") */
        "Zm9",      /* non-zero trailing bits ("fo" is "Zm8") */
        "Zm\x80v",  /* non-ASCII */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t *d = NULL;
        size_t n = 0;
        ccg_error_clear();
        if (ccg_ok(ccg_b64url_decode(bad[i], strlen(bad[i]), CCG_R_JOSE_JWE_INVALID, &d, &n))) {
            fail_msg("accepted non-canonical base64url \"%s\"", bad[i]);
        }
        tu_assert_error_reason(CCG_R_JOSE_JWE_INVALID);
        assert_null(d);
    }
    /* An embedded NUL is outside the alphabet too. */
    uint8_t *d = NULL;
    size_t n = 0;
    EXPECT_FAIL(ccg_b64url_decode("Zm\0v", 4, CCG_R_INPUT_MALFORMED, &d, &n), CCG_R_INPUT_MALFORMED);
    uint8_t three[3];
    EXPECT_FAIL(ccg_b64url_decode_exact("Zm9vYg", 6, CCG_R_JOSE_JWK_INVALID, three, 3), CCG_R_JOSE_JWK_INVALID);
    EXPECT_FAIL(ccg_b64url_decode_exact("Zm8", 3, CCG_R_JOSE_JWK_INVALID, three, 3), CCG_R_JOSE_JWK_INVALID);
}

/* ------------------------------------------------------------------ RFC 8785 */

static void expect_jcs(const char *input, const char *expected)
{
    json_t *v = load(input);
    char *out = NULL;
    size_t len = 0;
    expect_ok(ccg_jcs_serialize(v, &out, &len));
    assert_string_equal(out, expected);
    assert_int_equal(len, strlen(expected));
    free(out);
    json_decref(v);
}

static void jcs_rfc8785_sorting_example(void **state)
{
    (void)state;
    /* RFC 8785 §3.2.3: names sort by UTF-16 code units, so U+1F600 (D83D DE00) precedes U+FB33. */
    expect_jcs("{\"\\u20ac\":\"Euro Sign\",\"\\r\":\"Carriage Return\",\"\\ufb33\":\"Hebrew Letter Dalet With "
               "Dagesh\",\"1\":\"One\",\"\\ud83d\\ude00\":\"Emoji: Grinning Face\",\"\\u0080\":\"Control\","
               "\"\\u00f6\":\"Latin Small Letter O With Diaeresis\"}",
               "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\xc2\x80\":\"Control\",\"\xc3\xb6\":\"Latin Small Letter O "
               "With Diaeresis\",\"\xe2\x82\xac\":\"Euro Sign\",\"\xf0\x9f\x98\x80\":\"Emoji: Grinning Face\","
               "\"\xef\xac\xb3\":\"Hebrew Letter Dalet With Dagesh\"}");
}

static void jcs_rfc8785_string_and_literals_example(void **state)
{
    (void)state;
    /* RFC 8785 §3.2.2's example without its "numbers" member (reals are refused, see below). */
    expect_jcs("{\"string\":\"\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\\"\\/\",\"literals\":[null,true,"
               "false]}",
               "{\"literals\":[null,true,false],\"string\":\"\xe2\x82\xac$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}");
    /* Every control character: named escapes where JSON.stringify has them, else lowercase \u00xx. */
    expect_jcs("[\"\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f \\u007f\\u2028\"]",
               "[\"\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f \x7f\xe2\x80\xa8\"]");
    expect_jcs("{\"b\":[],\"a\":{},\"c\":[{\"z\":1,\"y\":[2,3]}]}", "{\"a\":{},\"b\":[],\"c\":[{\"y\":[2,3],\"z\":1}]}");
}

static void jcs_integers_and_refusals(void **state)
{
    (void)state;
    expect_jcs("[0,-1,1234567890,9007199254740992,-9007199254740992]",
               "[0,-1,1234567890,9007199254740992,-9007199254740992]");
    const char *refused[] = {
        "[9007199254740993]",
        "[-9007199254740993]",
        "[4.5]",
        /* RFC 8785 §3.2.2's full example carries reals: refused rather than rendered differently. */
        "{\"numbers\":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],\"literals\":[null]}",
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        json_t *v = load(refused[i]);
        char *out = NULL;
        EXPECT_FAIL(ccg_jcs_serialize(v, &out, NULL), CCG_R_INPUT_MALFORMED);
        assert_null(out);
        json_decref(v);
    }
    /* Too deep. */
    json_t *deep = json_array();
    json_t *cur = deep;
    for (int i = 0; i < CCG_JCS_MAX_DEPTH + 1; i++) {
        json_t *next = json_array();
        json_array_append_new(cur, next);
        cur = next;
    }
    char *out = NULL;
    EXPECT_FAIL(ccg_jcs_serialize(deep, &out, NULL), CCG_R_INPUT_MALFORMED);
    json_decref(deep);
    /* Invalid UTF-8 that jansson was told not to check. */
    json_t *bad = json_array();
    json_array_append_new(bad, json_stringn_nocheck("\xc0\xaf", 2));
    EXPECT_FAIL(ccg_jcs_serialize(bad, &out, NULL), CCG_R_INPUT_MALFORMED);
    json_decref(bad);
}

/* ------------------------------------------------------------------ JWK */

static void expect_jwk_fail(const char *text, ccg_reason reason)
{
    ccg_jwk *jwk = NULL;
    ccg_error_clear();
    if (ccg_ok(ccg_jwk_parse_text(text, strlen(text), &jwk))) {
        fail_msg("JWK accepted: %s", text);
    }
    tu_assert_error_reason(reason);
    assert_null(jwk);
}

static void jwk_accepts_ec_p256(void **state)
{
    (void)state;
    const char *text = "{\"kty\":\"EC\",\"crv\":\"P-256\",\"alg\":\"ECDH-ES+A256KW\",\"x\":\"" KAT_X "\",\"y\":\"" KAT_Y
                       "\",\"kid\":\"guest-1\",\"use\":\"enc\",\"key_ops\":[\"wrapKey\"],\"ext\":true}";
    ccg_jwk *jwk = NULL;
    expect_ok(ccg_jwk_parse_text(text, strlen(text), &jwk));
    assert_int_equal(ccg_jwk_type(jwk), CCG_JWK_EC_P256);
    assert_string_equal(ccg_jwk_alg(jwk), CCG_JOSE_ALG_ECDH_ES_A256KW);
    assert_non_null(ccg_jwk_pkey(jwk));
    /* Normalised to TeePubKey's members, in its order; unknown members dropped. */
    json_t *j = ccg_jwk_to_json(jwk);
    char *dump = json_dumps(j, JSON_COMPACT);
    assert_string_equal(dump, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"alg\":\"ECDH-ES+A256KW\",\"x\":\"" KAT_X
                              "\",\"y\":\"" KAT_Y "\"}");
    free(dump);
    json_decref(j);
    ccg_jwk_free(jwk);

    /* Without "alg": the default algorithm, and no "alg" in the normalised form. */
    const char *bare = "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" KAT_X "\",\"y\":\"" KAT_Y "\"}";
    expect_ok(ccg_jwk_parse_text(bare, strlen(bare), &jwk));
    assert_string_equal(ccg_jwk_alg(jwk), CCG_JOSE_ALG_ECDH_ES_A256KW);
    j = ccg_jwk_to_json(jwk);
    assert_null(json_object_get(j, "alg"));
    json_decref(j);
    ccg_jwk_free(jwk);
}

static void jwk_refuses_bad_ec_keys(void **state)
{
    (void)state;
    /* Off the curve: y's last bit flipped. */
    expect_jwk_fail("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" KAT_X
                    "\",\"y\":\"hRPmUbJmui2eIszABCxQn-UUT6mnzJAZrJgTwC9jbr4\"}",
                    CCG_R_JOSE_JWK_INVALID);
    /* The point at infinity has no affine form; all-zero coordinates are off the curve. */
    expect_jwk_fail("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\",\"y\":"
                    "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}",
                    CCG_R_JOSE_JWK_INVALID);
    /* A private key must never be sent. */
    expect_jwk_fail("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" KAT_X "\",\"y\":\"" KAT_Y
                    "\",\"d\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\"}",
                    CCG_R_JOSE_JWK_INVALID);
    expect_jwk_fail("{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"" KAT_X "\",\"y\":\"" KAT_Y "\"}",
                    CCG_R_JOSE_JWK_UNSUPPORTED);
    /* P-521 is supported (issue 15), with 66-byte coordinates: P-256's 32 bytes are refused. */
    expect_jwk_fail("{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"" KAT_X "\",\"y\":\"" KAT_Y "\"}",
                    CCG_R_JOSE_JWK_INVALID);
    expect_jwk_fail("{\"kty\":\"EC\",\"crv\":\"P-256\",\"alg\":\"ECDH-ES\",\"x\":\"" KAT_X "\",\"y\":\"" KAT_Y "\"}",
                    CCG_R_JOSE_JWK_UNSUPPORTED);
    expect_jwk_fail("{\"kty\":\"EC\",\"crv\":\"P-256\",\"alg\":\"ES256\",\"x\":\"" KAT_X "\",\"y\":\"" KAT_Y "\"}",
                    CCG_R_JOSE_JWK_UNSUPPORTED);
    expect_jwk_fail("{\"kty\":\"EC\",\"crv\":\"P-256\",\"use\":\"sig\",\"x\":\"" KAT_X "\",\"y\":\"" KAT_Y "\"}",
                    CCG_R_JOSE_JWK_UNSUPPORTED);
    expect_jwk_fail("{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"" KAT_X "\"}", CCG_R_JOSE_JWK_UNSUPPORTED);
    expect_jwk_fail("{\"kty\":\"oct\",\"k\":\"AAAA\"}", CCG_R_JOSE_JWK_INVALID);
    /* Malformed. */
    expect_jwk_fail("[]", CCG_R_JOSE_JWK_INVALID);
    expect_jwk_fail("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" KAT_X "\"}", CCG_R_JOSE_JWK_INVALID);
    expect_jwk_fail("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" KAT_X "=\",\"y\":\"" KAT_Y "\"}",
                    CCG_R_JOSE_JWK_INVALID);
    expect_jwk_fail("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"piq841mjH5PVWq4muNdvRuObK_gYF-LH49ffJQSZqA\",\"y\":\"" KAT_Y
                    "\"}",
                    CCG_R_JOSE_JWK_INVALID); /* 31 bytes */
    expect_jwk_fail("{\"kty\":1,\"crv\":\"P-256\",\"x\":\"" KAT_X "\",\"y\":\"" KAT_Y "\"}", CCG_R_JOSE_JWK_INVALID);
    expect_jwk_fail("{\"kty\":\"EC\",\"crv\":\"P-256\",\"alg\":7,\"x\":\"" KAT_X "\",\"y\":\"" KAT_Y "\"}",
                    CCG_R_JOSE_JWK_INVALID);
    expect_jwk_fail("{\"kty\":\"EC\",\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" KAT_X "\",\"y\":\"" KAT_Y "\"}",
                    CCG_R_JOSE_JWK_INVALID); /* duplicate member */
    expect_jwk_fail("{\"kty\":\"EC\\u0000x\",\"crv\":\"P-256\",\"x\":\"" KAT_X "\",\"y\":\"" KAT_Y "\"}",
                    CCG_R_JOSE_JWK_INVALID);
    expect_jwk_fail("{\"kty\":\"EC\"", CCG_R_JOSE_JWK_INVALID);
}

static char *rsa_jwk_text(EVP_PKEY *k, const char *extra)
{
    ccg_jwk *jwk = NULL;
    expect_ok(ccg_jwk_from_pkey(k, NULL, &jwk));
    json_t *j = ccg_jwk_to_json(jwk);
    assert_non_null(j);
    if (extra != NULL) {
        json_t *e = load(extra);
        json_object_update(j, e);
        json_decref(e);
    }
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    ccg_jwk_free(jwk);
    return text;
}

/* {"kty":"RSA","n","e"} straight from OpenSSL, bypassing ccgate's own checks. */
static char *raw_rsa_jwk_text(EVP_PKEY *k)
{
    BIGNUM *n = NULL;
    BIGNUM *e = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &n), 1);
    assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &e), 1);
    uint8_t nb[1024];
    uint8_t eb[16];
    int nl = BN_bn2bin(n, nb);
    int el = BN_bn2bin(e, eb);
    char *n64 = ccg_b64url_encode(nb, (size_t)nl);
    char *e64 = ccg_b64url_encode(eb, (size_t)el);
    size_t len = strlen(n64) + strlen(e64) + 64;
    char *text = malloc(len);
    snprintf(text, len, "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"}", n64, e64);
    free(n64);
    free(e64);
    BN_free(n);
    BN_free(e);
    return text;
}

static void jwk_rsa_strictness(void **state)
{
    (void)state;
    EVP_PKEY *k2048 = gen_rsa(2048);
    char *text = rsa_jwk_text(k2048, NULL);
    ccg_jwk *jwk = NULL;
    expect_ok(ccg_jwk_parse_text(text, strlen(text), &jwk));
    assert_int_equal(ccg_jwk_type(jwk), CCG_JWK_RSA);
    assert_string_equal(ccg_jwk_alg(jwk), CCG_JOSE_ALG_RSA_OAEP_256);
    json_t *j = ccg_jwk_to_json(jwk);
    void *it = json_object_iter(j);
    const char *order[] = {"kty", "alg", "n", "e"};
    for (size_t i = 0; i < 4; i++, it = json_object_iter_next(j, it)) {
        assert_non_null(it);
        assert_string_equal(json_object_iter_key(it), order[i]);
    }
    assert_string_equal(json_string_value(json_object_get(j, "e")), "AQAB");
    json_decref(j);
    ccg_jwk_free(jwk);
    free(text);

    char *rsa15 = rsa_jwk_text(k2048, "{\"alg\":\"RSA1_5\"}");
    expect_jwk_fail(rsa15, CCG_R_JOSE_JWK_UNSUPPORTED);
    free(rsa15);
    char *oaep1 = rsa_jwk_text(k2048, "{\"alg\":\"RSA-OAEP\"}");
    expect_jwk_fail(oaep1, CCG_R_JOSE_JWK_UNSUPPORTED);
    free(oaep1);
    char *priv = rsa_jwk_text(k2048, "{\"p\":\"AQAB\"}");
    expect_jwk_fail(priv, CCG_R_JOSE_JWK_INVALID);
    free(priv);
    char *even_e = rsa_jwk_text(k2048, "{\"e\":\"AQAA\"}");
    expect_jwk_fail(even_e, CCG_R_JOSE_JWK_INVALID);
    free(even_e);
    char *zero_lead = rsa_jwk_text(k2048, "{\"e\":\"AAEAAQ\"}");
    expect_jwk_fail(zero_lead, CCG_R_JOSE_JWK_INVALID);
    free(zero_lead);
    expect_jwk_fail("{\"kty\":\"RSA\",\"n\":\"AQAB\"}", CCG_R_JOSE_JWK_INVALID);

    /* A modulus with a leading zero byte is not the minimal encoding. */
    json_t *jj = load(text = rsa_jwk_text(k2048, NULL));
    free(text);
    uint8_t *n = NULL;
    size_t n_len = 0;
    const char *n_b64 = json_string_value(json_object_get(jj, "n"));
    expect_ok(ccg_b64url_decode(n_b64, strlen(n_b64), CCG_R_INPUT_MALFORMED, &n, &n_len));
    uint8_t *padded = calloc(1, n_len + 1);
    memcpy(padded + 1, n, n_len);
    char *padded_b64 = ccg_b64url_encode(padded, n_len + 1);
    json_object_set_new(jj, "n", json_string(padded_b64));
    char *padded_text = json_dumps(jj, JSON_COMPACT);
    expect_jwk_fail(padded_text, CCG_R_JOSE_JWK_INVALID);
    free(padded_text);
    free(padded_b64);
    free(padded);
    free(n);
    json_decref(jj);
    EVP_PKEY_free(k2048);

    /* Too short: 1024 bits (ccgate cannot export one, so the JWK is built by hand). */
    EVP_PKEY *k1024 = gen_rsa(1024);
    char *short_text = raw_rsa_jwk_text(k1024);
    expect_jwk_fail(short_text, CCG_R_JOSE_JWK_INVALID);
    free(short_text);
    EVP_PKEY_free(k1024);
    ccg_jwk *none = NULL;
    k1024 = gen_rsa(1024);
    EXPECT_FAIL(ccg_jwk_from_pkey(k1024, NULL, &none), CCG_R_JOSE_JWK_INVALID);
    EVP_PKEY_free(k1024);
}

static void jwk_thumbprint_and_export(void **state)
{
    (void)state;
    EVP_PKEY *k = gen_ec();
    ccg_jwk *a = NULL;
    ccg_jwk *b = NULL;
    expect_ok(ccg_jwk_from_pkey(k, NULL, &a));
    json_t *j = ccg_jwk_to_json(a);
    json_object_set_new(j, "kid", json_string("ignored"));
    expect_ok(ccg_jwk_parse(j, &b));
    uint8_t ta[32];
    uint8_t tb[32];
    expect_ok(ccg_jwk_thumbprint(a, ta));
    expect_ok(ccg_jwk_thumbprint(b, tb));
    assert_memory_equal(ta, tb, 32);
    assert_int_equal(EVP_PKEY_eq(ccg_jwk_pkey(a), k), 1);
    json_decref(j);
    ccg_jwk_free(a);
    ccg_jwk_free(b);
    /* A token key is published with "ES256"; an encryption JWK cannot claim a signing alg. */
    expect_ok(ccg_jwk_from_pkey(k, CCG_JOSE_ALG_ES256, &a));
    assert_string_equal(ccg_jwk_alg(a), CCG_JOSE_ALG_ES256);
    ccg_jwk_free(a);
    EXPECT_FAIL(ccg_jwk_from_pkey(k, CCG_JOSE_ALG_RSA_OAEP_256, &a), CCG_R_JOSE_JWK_UNSUPPORTED);
    EVP_PKEY_free(k);
    EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    EXPECT_FAIL(ccg_jwk_from_pkey(p384, NULL, &a), CCG_R_JOSE_JWK_UNSUPPORTED);
    EVP_PKEY_free(p384);
}

/* ------------------------------------------------------------------ KBS REPORT_DATA */

static void kbs_report_data_known_answer(void **state)
{
    (void)state;
    const char *text = "{\"kty\":\"EC\",\"crv\":\"P-256\",\"alg\":\"ECDH-ES+A256KW\",\"x\":\"" KAT_X "\",\"y\":\"" KAT_Y
                       "\"}";
    ccg_jwk *jwk = NULL;
    expect_ok(ccg_jwk_parse_text(text, strlen(text), &jwk));
    char *canon = NULL;
    size_t len = 0;
    const char *nonce = "n0nce/+=\"x\"";
    expect_ok(ccg_jose_kbs_runtime_data(nonce, jwk, "", &canon, &len));
    assert_string_equal(canon, "{\"additional-evidence\":\"\",\"nonce\":\"n0nce/+=\\\"x\\\"\",\"tee-pubkey\":{\"alg\":"
                               "\"ECDH-ES+A256KW\",\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"" KAT_X "\",\"y\":\"" KAT_Y
                               "\"}}");
    free(canon);

    /* Digests computed independently (Python hashlib over the same canonical text). */
    uint8_t rd[64];
    char hex[129];
    expect_ok(ccg_jose_kbs_report_data("sha384", nonce, jwk, "", rd));
    ccg_hex_encode(rd, 64, hex);
    assert_string_equal(hex, "f427b153c9b7985e34aa5273dc642b98738556683e5f2e93ff5d5e8ecee8f218d2700116f8da8837fa4c13bad1d4"
                             "05f500000000000000000000000000000000");
    const char *ae = "{\"tdx\":[\"cpu\",{\"quote\":\"AQID\"}]}\n\\";
    expect_ok(ccg_jose_kbs_report_data("sha384", nonce, jwk, ae, rd));
    ccg_hex_encode(rd, 64, hex);
    assert_string_equal(hex, "91b0e960720b6f2a77fcbf3c64e3bba86b82e1b33b89ffebe67578088d657675d5f5b81b942e1fc0a12f365afe71"
                             "555400000000000000000000000000000000");
    expect_ok(ccg_jose_kbs_report_data("sha256", nonce, jwk, "", rd));
    ccg_hex_encode(rd, 64, hex);
    assert_string_equal(hex, "0577d8f189393a0e8d15857987d372ea8352dd47a2155a70ecfaadec33e4fb71000000000000000000000000000000"
                             "0000000000000000000000000000000000");
    expect_ok(ccg_jose_kbs_report_data("sha512", nonce, jwk, ae, rd));
    ccg_hex_encode(rd, 64, hex);
    assert_string_equal(hex, "0e6c7bf3f4cb8688bd390e78591b2d4e834c406647e41eecaa243ced88bbb5b376327dcce25e5482cfcef785f74c"
                             "641125ea0d8820c9ad152aa0a367aca36c6b");
    EXPECT_FAIL(ccg_jose_kbs_report_data("sm3", nonce, jwk, "", rd), CCG_R_USAGE_INVALID);
    EXPECT_FAIL(ccg_jose_kbs_report_data("sha384", "\xff", jwk, "", rd), CCG_R_INPUT_MALFORMED);
    ccg_jwk_free(jwk);
}

/* ------------------------------------------------------------------ JWE */

static char *protected_header_text(const json_t *jwe)
{
    const char *p = json_string_value(json_object_get(jwe, "protected"));
    assert_non_null(p);
    uint8_t *h = NULL;
    size_t n = 0;
    expect_ok(ccg_b64url_decode(p, strlen(p), CCG_R_INPUT_MALFORMED, &h, &n));
    char *s = calloc(1, n + 1);
    memcpy(s, h, n);
    free(h);
    return s;
}

static void roundtrip(EVP_PKEY *priv, const ccg_jwk *jwk, size_t len)
{
    uint8_t *pt = malloc(len + 1);
    for (size_t i = 0; i < len; i++) {
        pt[i] = (uint8_t)(i * 7 + 3);
    }
    char *text = NULL;
    size_t text_len = 0;
    expect_ok(ccg_jwe_encrypt_text(jwk, pt, len, &text, &text_len));
    assert_int_equal(strncmp(text, "{\"protected\":\"", 14), 0);
    ccg_secbuf out;
    expect_ok(ccg_jwe_decrypt_text(priv, text, text_len, 1, &out));
    assert_int_equal(out.len, len);
    if (len > 0) {
        assert_memory_equal(out.data, pt, len);
    }
    ccg_secbuf_free(&out);
    free(text);
    free(pt);
}

static void jwe_roundtrip_ecdh_es(void **state)
{
    (void)state;
    EVP_PKEY *k = gen_ec();
    ccg_jwk *jwk = jwk_of(k);
    const size_t lens[] = {0, 1, 15, 16, 32, 1000, 70000};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        roundtrip(k, jwk, lens[i]);
    }
    ccg_jwk_free(jwk);
    EVP_PKEY_free(k);
}

static void jwe_roundtrip_rsa_oaep_256(void **state)
{
    (void)state;
    EVP_PKEY *k = gen_rsa(2048);
    ccg_jwk *jwk = jwk_of(k);
    roundtrip(k, jwk, 0);
    roundtrip(k, jwk, 32);
    roundtrip(k, jwk, 4097);
    ccg_jwk_free(jwk);
    EVP_PKEY_free(k);
}

static void jwe_members_and_header_are_exact(void **state)
{
    (void)state;
    EVP_PKEY *ec = gen_ec();
    EVP_PKEY *rsa = gen_rsa(2048);
    ccg_jwk *ec_jwk = jwk_of(ec);
    ccg_jwk *rsa_jwk = jwk_of(rsa);
    const uint8_t key[32] = {1, 2, 3};
    json_t *jwe = NULL;

    expect_ok(ccg_jwe_encrypt(ec_jwk, key, sizeof(key), &jwe));
    const char *members[] = {"protected", "encrypted_key", "iv", "ciphertext", "tag"};
    void *it = json_object_iter(jwe);
    for (size_t i = 0; i < 5; i++, it = json_object_iter_next(jwe, it)) {
        assert_non_null(it);
        assert_string_equal(json_object_iter_key(it), members[i]);
    }
    assert_null(it);
    char *hdr = protected_header_text(jwe);
    json_t *h = load(hdr);
    const json_t *epk = json_object_get(h, "epk");
    char expected[512];
    snprintf(expected, sizeof(expected),
             "{\"alg\":\"ECDH-ES+A256KW\",\"enc\":\"A256GCM\",\"epk\":{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\","
             "\"y\":\"%s\"}}",
             json_string_value(json_object_get(epk, "x")), json_string_value(json_object_get(epk, "y")));
    assert_string_equal(hdr, expected);
    assert_int_equal(strlen(json_string_value(json_object_get(epk, "x"))), 43);
    assert_int_equal(strlen(json_string_value(json_object_get(jwe, "encrypted_key"))), 54); /* 40 bytes */
    assert_int_equal(strlen(json_string_value(json_object_get(jwe, "iv"))), 16);            /* 12 bytes */
    assert_int_equal(strlen(json_string_value(json_object_get(jwe, "tag"))), 22);           /* 16 bytes */
    /* The AAD a guest rebuilds by re-serialising the parsed header is the same text. */
    char *rebuilt = json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(rebuilt, hdr);
    free(rebuilt);
    json_decref(h);
    free(hdr);
    json_decref(jwe);

    expect_ok(ccg_jwe_encrypt(rsa_jwk, key, sizeof(key), &jwe));
    hdr = protected_header_text(jwe);
    assert_string_equal(hdr, "{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A256GCM\"}");
    assert_int_equal(strlen(json_string_value(json_object_get(jwe, "encrypted_key"))), 342); /* 256 bytes */
    free(hdr);
    json_decref(jwe);

    /* Two encryptions of the same key differ (fresh ephemeral key, CEK and IV). */
    char *t1 = NULL;
    char *t2 = NULL;
    expect_ok(ccg_jwe_encrypt_text(ec_jwk, key, sizeof(key), &t1, NULL));
    expect_ok(ccg_jwe_encrypt_text(ec_jwk, key, sizeof(key), &t2, NULL));
    assert_string_not_equal(t1, t2);
    free(t1);
    free(t2);

    /* A signing JWK is not a recipient. */
    ccg_jwk *sig_jwk = NULL;
    expect_ok(ccg_jwk_from_pkey(ec, CCG_JOSE_ALG_ES256, &sig_jwk));
    EXPECT_FAIL(ccg_jwe_encrypt(sig_jwk, key, sizeof(key), &jwe), CCG_R_JOSE_JWK_UNSUPPORTED);
    ccg_jwk_free(sig_jwk);

    ccg_jwk_free(ec_jwk);
    ccg_jwk_free(rsa_jwk);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(rsa);
}

/* ------------------------------------------------------------------ JWE known answers
 * Made for ccgate with Python's `cryptography` primitives (ConcatKDFHash, AES key wrap, OAEP, AESGCM),
 * an implementation independent of OpenSSL's SSKDF path here, in the exact form a KBS sends. The EC key
 * is the one whose public half is KAT_X/KAT_Y. These keys exist only for this test. */

static const char kat_ec_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgET0sJatOdXlAitAI\n"
    "D13PSyRChs9wzJFMHdi8wyKtapehRANCAASmKrzjWaMfk9Varia4129G45sr+BgX\n"
    "4sfj198lBJmo7oUT5lGyZrotniLMwAQsUJ/lFE+pp8yQGayYE8AvY26/\n"
    "-----END PRIVATE KEY-----\n";

static const char kat_rsa_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDlljWk92aD0yHP\n"
    "VD14lcZ4caat/uXrZ4ZyuqgkmMpZpjgW4MENylVwJJZwOXD3pONUxUK48IDh2u2z\n"
    "i2ng1GpcL0RkTEEvOLlWn+b7AtAZkhqNqQHfUbnoc3dwV8ga8scTdAzKWxpQysJF\n"
    "3IcxbMWXXSmrzZIPO2DlXaEFQJA919suz/CipUCdwN52b3yELPDVfVNoOXUvjFCq\n"
    "X74SpsLpqjb1n+HkYJ+4VDY3rYyvni73PWwrKR7uX2s6hefC6rB2kpZs1z02zTRd\n"
    "0WsNiBvySETZUFNlCuhqawGR6SZMBa5HWpgX5lK8OVsbciOdlUdVnsL4cm9FLr+8\n"
    "o5UXcH8VAgMBAAECggEAUA3kfrVVpbnFHEo/dQCkx/K5MAqlmUPr+a1kW/568G+p\n"
    "NzD/oBNhX00it9cPsQppynFOJraV+isgn26JaMAopiRFMMP2JsUcuzveisAcWA49\n"
    "/A9me7w/mvJIP4AcYmktSXc5zoWd03Yf78RJz84hx/nQQfvYZj9KNjBDqVUt9qHY\n"
    "r5GDsYQy5v1jyLZtMlqobDHVKIM2aAu/SB3T9v1tFkHvkfreSRtNAmE7oe37gdr5\n"
    "bxpBiQnjDITCL0Iwk33l4hzabi7+r37HUP8xKWb6DTTh+iNYp3XiFw78Tmrbn8D9\n"
    "q3ftedfQf5wSQOylYiegg1XbgJHv/BPtOALZz+IfMQKBgQD80IgRIboCov/zG2ej\n"
    "30GavtsqdyhMWTLacsMJcyKvtpejw4q9D9SJdrIdzhp50xIUMEytBgU8zc+i8USz\n"
    "Oxi92X2DTpjkLRP8PsqMP7enQ4ZlrAaoeV6psOlUSvYGHwpnsbkB3UbGklRprVf/\n"
    "eHSDqHMeyUBksFo94r5ZGmTtgwKBgQDoesFciNn8TAkqvQFqwtqixXUFYYlDPR6i\n"
    "OOYxdHAWvjgEB0L7SqYZD4KpNAIkS2EvO2fBTcoVOoJDperymJiexhkDCseuVBeD\n"
    "UKX3fNdF5hwVaHeRFBugIZacO80mD7azSeJfIzfJM5Egmpxg1NEm2k/+ztZxfNAZ\n"
    "7/D0Qv6VhwKBgAkzSZBeCtfnuKrPN4FWMZwBEBbGiVfl8xzSClkAsKV2XqReDGF+\n"
    "/vwVrru48Wu3i7PiYhf13SDuWH0UjKx9HRRjotaxeIztOwn1+wcJlpRmt7Bhh0iA\n"
    "Sjqgro0bwUJNxOIrLJFtzRKS5rGF1mr8pjjYW4AmUMqZRF92LfkuJbgjAoGAa8Ys\n"
    "yecvl0Twov2IIKRAk2ESxPHYnnFBOFdEb/zY0dJRSZzMMo8CvW9xVVuk+opvfWP+\n"
    "z6BuZLUBGrdaWijf6AtSIRToSSr204uZxUf8zIzGzC3n8DvwKqYnmjom+tQiEK/Z\n"
    "390FyaK8Tu8eO82tQGPI3gmpZGdGWh/gBnzgZRUCgYEAuzU+7ULZNcBgB4mPcCJX\n"
    "Avb/Jad/MCU4022Lw4OZgMNOK2a4GkXmlqgM4ldm1+yohwSoYHezVzPY5SBQEA1U\n"
    "W7yFQddVxQgFDG+GPuhGBogICfzb7mrl8HTsiMW6c+gnOWRi0Wf/LptkhnyGuwDX\n"
    "X++fcZpcKDA2CzQXiPLLvAw=\n"
    "-----END PRIVATE KEY-----\n";

static const char kat_jwe_ec[] =
    "{\"protected\":\"eyJhbGciOiJFQ0RILUVTK0EyNTZLVyIsImVuYyI6IkEyNTZHQ00iLCJlcGsiOnsiY3J2IjoiUC0yNTYiLCJrdH"
    "kiOiJFQyIsIngiOiJoZjl5alBrdC1OS3FZMDMzY05oOGk1VGFfNkZOazEwRDBfU0s1OVZpN2Q0IiwieSI6IklVbzJuS2pQY0pRMT"
    "h1UkJhaWlhdC12SEVJOXZEOUxSUHBRdG1aNUc3LUEifX0\",\"encrypted_key\":\"U5adHow2n-40eqtm8YVi17baF_CQEnAl9JTM"
    "7EaHabi3uCes4qXN4A\",\"iv\":\"DnXqKaVu7Ew9z0cG\",\"ciphertext\":\"SX1xmpvRX8mbYc-lL6Q2mZqb7BWcfwz2xXv6L135pD"
    "o\",\"tag\":\"VvS443OvS3_Rh5mylOub5A\"}";

static const char kat_jwe_rsa[] =
    "{\"protected\":\"eyJhbGciOiJSU0EtT0FFUC0yNTYiLCJlbmMiOiJBMjU2R0NNIn0\",\"encrypted_key\":\"LpJjf6Xt7h4unx8k"
    "n6zXre1vnnSCuLZkLfM_CiIUuH37bp2d4CW5JqKFZkqgFNKXiMfcJy3Mw2MDaV2NisE06wcm8u1jJvCz4MBPes5FpMjVO9zL21RQ"
    "vsC1QEmVtmy6tUs4i-dW3n8h_-Xke38x3bZD0-L2Z745vaANfYSrWPVV3zfVaAP3_T9Oc1Wkr6mkFW_phGWH3C3QuoptASta6diS"
    "HgpE4GYKYXQkM_uV9ugAl1hLuUxPiKqCRQmJwosiN517NxlEHWcDP1Xlu26qWlRC_Ef9QhTy6-4XJaJ63PsD3sQ2sX45MfkjizHr"
    "OSt1xEq9HvoKsaBp-SBMsG_Khw\",\"iv\":\"XBluq9MCuHxwYlb2\",\"ciphertext\":\"zTfq4v1SU7Cx4bGoladm2twjCgGXvGjbXY"
    "qpXZPOPQ0\",\"tag\":\"VHBwJ76UtnVjCT4OAlzk5g\"}";

static EVP_PKEY *pem_key(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    assert_non_null(k);
    return k;
}

static void jwe_decrypts_independent_known_answers(void **state)
{
    (void)state;
    const char *want = "ccgate KAT: model key 0123456789";
    EVP_PKEY *ec = pem_key(kat_ec_pem);
    EVP_PKEY *rsa = pem_key(kat_rsa_pem);
    ccg_secbuf out;
    expect_ok(ccg_jwe_decrypt_text(ec, kat_jwe_ec, strlen(kat_jwe_ec), 1, &out));
    assert_int_equal(out.len, strlen(want));
    assert_memory_equal(out.data, want, out.len);
    ccg_secbuf_free(&out);
    expect_ok(ccg_jwe_decrypt_text(rsa, kat_jwe_rsa, strlen(kat_jwe_rsa), 1, &out));
    assert_int_equal(out.len, strlen(want));
    assert_memory_equal(out.data, want, out.len);
    ccg_secbuf_free(&out);
    /* The EC key's public half is the KAT JWK. */
    ccg_jwk *jwk = jwk_of(ec);
    json_t *j = ccg_jwk_to_json(jwk);
    assert_string_equal(json_string_value(json_object_get(j, "x")), KAT_X);
    assert_string_equal(json_string_value(json_object_get(j, "y")), KAT_Y);
    json_decref(j);
    ccg_jwk_free(jwk);
    /* Crossed keys fail closed. */
    ccg_error_clear();
    assert_true(ccg_failed(ccg_jwe_decrypt_text(rsa, kat_jwe_ec, strlen(kat_jwe_ec), 1, &out)));
    tu_assert_error_reason(CCG_R_JOSE_JWE_INVALID);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_jwe_decrypt_text(ec, kat_jwe_rsa, strlen(kat_jwe_rsa), 1, &out)));
    tu_assert_error_reason(CCG_R_JOSE_JWE_INVALID);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(rsa);
}

/* A copy of jwe with one member's decoded bytes altered (bit 0 of byte `at` flipped). */
static json_t *flip(const json_t *jwe, const char *member, size_t at)
{
    json_t *copy = json_deep_copy(jwe);
    const char *s = json_string_value(json_object_get(copy, member));
    uint8_t *b = NULL;
    size_t n = 0;
    expect_ok(ccg_b64url_decode(s, strlen(s), CCG_R_INPUT_MALFORMED, &b, &n));
    assert_true(at < n);
    b[at] ^= 1;
    char *e = ccg_b64url_encode(b, n);
    json_object_set_new(copy, member, json_string(e));
    free(e);
    free(b);
    return copy;
}

static json_t *with_header(const json_t *jwe, const char *header)
{
    json_t *copy = json_deep_copy(jwe);
    char *e = ccg_b64url_encode((const uint8_t *)header, strlen(header));
    json_object_set_new(copy, "protected", json_string(e));
    free(e);
    return copy;
}

static void expect_decrypt_fails(EVP_PKEY *priv, json_t *jwe)
{
    ccg_secbuf out;
    ccg_error_clear();
    assert_true(ccg_failed(ccg_jwe_decrypt(priv, jwe, 1, &out)));
    tu_assert_error_reason(CCG_R_JOSE_JWE_INVALID);
    assert_null(out.data);
    json_decref(jwe);
}

static void tamper_suite(EVP_PKEY *priv, EVP_PKEY *other, const ccg_jwk *jwk)
{
    const uint8_t key[32] = {9, 8, 7};
    json_t *jwe = NULL;
    expect_ok(ccg_jwe_encrypt(jwk, key, sizeof(key), &jwe));
    ccg_secbuf out;
    expect_ok(ccg_jwe_decrypt(priv, jwe, 1, &out));
    ccg_secbuf_free(&out);

    expect_decrypt_fails(priv, flip(jwe, "encrypted_key", 0));
    expect_decrypt_fails(priv, flip(jwe, "encrypted_key", 39));
    expect_decrypt_fails(priv, flip(jwe, "iv", 0));
    expect_decrypt_fails(priv, flip(jwe, "iv", 11));
    expect_decrypt_fails(priv, flip(jwe, "ciphertext", 0));
    expect_decrypt_fails(priv, flip(jwe, "ciphertext", 31));
    expect_decrypt_fails(priv, flip(jwe, "tag", 0));
    expect_decrypt_fails(priv, flip(jwe, "tag", 15));
    /* The AAD is the header text as sent: the same header with one more space no longer verifies. */
    char *hdr = protected_header_text(jwe);
    char spaced[600];
    snprintf(spaced, sizeof(spaced), "{ %s", hdr + 1);
    expect_decrypt_fails(priv, with_header(jwe, spaced));
    /* Header parameters this profile does not support. */
    char extra[600];
    snprintf(extra, sizeof(extra), "{\"zip\":\"DEF\",%s", hdr + 1);
    expect_decrypt_fails(priv, with_header(jwe, extra));
    snprintf(extra, sizeof(extra), "{\"crit\":[\"exp\"],%s", hdr + 1);
    expect_decrypt_fails(priv, with_header(jwe, extra));
    expect_decrypt_fails(priv, with_header(jwe, "{\"alg\":\"dir\",\"enc\":\"A256GCM\"}"));
    expect_decrypt_fails(priv, with_header(jwe, "{\"alg\":\"RSA1_5\",\"enc\":\"A256GCM\"}"));
    expect_decrypt_fails(priv, with_header(jwe, "{\"alg\":\"ECDH-ES+A256KW\",\"enc\":\"A128GCM\"}"));
    expect_decrypt_fails(priv, with_header(jwe, "[]"));
    free(hdr);
    /* Members: missing, extra, wrong type. */
    const char *required[] = {"protected", "encrypted_key", "iv", "ciphertext", "tag"};
    for (size_t i = 0; i < 5; i++) {
        json_t *c = json_deep_copy(jwe);
        json_object_del(c, required[i]);
        expect_decrypt_fails(priv, c);
        c = json_deep_copy(jwe);
        json_object_set_new(c, required[i], json_integer(1));
        expect_decrypt_fails(priv, c);
    }
    json_t *c = json_deep_copy(jwe);
    json_object_set_new(c, "aad", json_string("AAAA"));
    expect_decrypt_fails(priv, c);
    c = json_deep_copy(jwe);
    json_object_set_new(c, "unprotected", json_object());
    expect_decrypt_fails(priv, c);
    /* Someone else's key. */
    expect_decrypt_fails(other, json_incref(jwe));
    json_decref(jwe);
}

static void jwe_tampering_fails_closed(void **state)
{
    (void)state;
    EVP_PKEY *ec = gen_ec();
    EVP_PKEY *ec2 = gen_ec();
    EVP_PKEY *rsa = gen_rsa(2048);
    EVP_PKEY *rsa2 = gen_rsa(2048);
    ccg_jwk *ec_jwk = jwk_of(ec);
    ccg_jwk *rsa_jwk = jwk_of(rsa);
    tamper_suite(ec, ec2, ec_jwk);
    tamper_suite(ec, rsa, ec_jwk); /* an EC JWE under an RSA key */
    tamper_suite(rsa, rsa2, rsa_jwk);
    tamper_suite(rsa, ec, rsa_jwk);

    /* An epk off the curve (the invalid-curve attack) is refused before any ECDH. */
    json_t *jwe = NULL;
    const uint8_t key[32] = {0};
    expect_ok(ccg_jwe_encrypt(ec_jwk, key, sizeof(key), &jwe));
    expect_decrypt_fails(ec, with_header(jwe, "{\"alg\":\"ECDH-ES+A256KW\",\"enc\":\"A256GCM\",\"epk\":{\"crv\":\"P-256\","
                                              "\"kty\":\"EC\",\"x\":\"" KAT_X
                                              "\",\"y\":\"hRPmUbJmui2eIszABCxQn-UUT6mnzJAZrJgTwC9jbr4\"}}"));
    expect_decrypt_fails(ec, with_header(jwe, "{\"alg\":\"ECDH-ES+A256KW\",\"enc\":\"A256GCM\",\"epk\":{\"crv\":\"P-384\","
                                              "\"kty\":\"EC\",\"x\":\"" KAT_X "\",\"y\":\"" KAT_Y "\"}}"));
    expect_decrypt_fails(ec, with_header(jwe, "{\"alg\":\"ECDH-ES+A256KW\",\"enc\":\"A256GCM\"}"));
    /* Text that is not one JSON object. */
    ccg_secbuf out;
    const char *junk = "{\"protected\":\"e30\"} trailing";
    EXPECT_FAIL(ccg_jwe_decrypt_text(ec, junk, strlen(junk), 1, &out), CCG_R_JOSE_JWE_INVALID);
    json_decref(jwe);

    ccg_jwk_free(ec_jwk);
    ccg_jwk_free(rsa_jwk);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(ec2);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(rsa2);
}

/* ------------------------------------------------------------------ JWT */

static json_t *claims_at(ccg_time iat, ccg_time exp)
{
    json_t *c = json_pack("{s:s, s:I, s:I, s:s}", "iss", "ccgate-kbs", "iat", (json_int_t)iat, "exp", (json_int_t)exp,
                          "tee", "snp");
    assert_non_null(c);
    return c;
}

static char *token_from(const char *header, const char *claims, const char *sig_b64)
{
    char *h = ccg_b64url_encode((const uint8_t *)header, strlen(header));
    char *c = ccg_b64url_encode((const uint8_t *)claims, strlen(claims));
    size_t n = strlen(h) + strlen(c) + strlen(sig_b64) + 3;
    char *t = malloc(n);
    snprintf(t, n, "%s.%s.%s", h, c, sig_b64);
    free(h);
    free(c);
    return t;
}

static void expect_jwt(EVP_PKEY *pub, const char *token, ccg_time now, ccg_reason reason)
{
    json_t *claims = NULL;
    ccg_error_clear();
    if (ccg_ok(ccg_jwt_verify_es256(pub, token, strlen(token), now, 0, &claims))) {
        fail_msg("token accepted: %s", token);
    }
    tu_assert_error_reason(reason);
    assert_null(claims);
}

static void jwt_sign_verify_and_times(void **state)
{
    (void)state;
    EVP_PKEY *k = gen_ec();
    EVP_PKEY *other = gen_ec();
    const ccg_time t0 = tu_time("2026-03-01T12:00:00Z");
    json_t *claims = claims_at(t0, t0 + 300);
    char *tok = NULL;
    expect_ok(ccg_jwt_sign_es256(k, claims, &tok));
    /* Header {"alg":"ES256","typ":"JWT"}. */
    assert_int_equal(strncmp(tok, "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.", 37), 0);
    json_t *got = NULL;
    expect_ok(ccg_jwt_verify_es256(k, tok, strlen(tok), t0, 0, &got));
    assert_true(json_equal(got, claims));
    json_decref(got);
    expect_ok(ccg_jwt_verify_es256(k, tok, strlen(tok), t0 + 299, 0, &got));
    json_decref(got);
    expect_jwt(k, tok, t0 + 300, CCG_R_JOSE_JWT_EXPIRED);
    expect_jwt(k, tok, t0 - 1, CCG_R_JOSE_JWT_EXPIRED); /* issued in the future */
    expect_ok(ccg_jwt_verify_es256(k, tok, strlen(tok), t0 + 305, 10, &got)); /* within leeway */
    json_decref(got);
    expect_jwt(other, tok, t0, CCG_R_JOSE_JWT_INVALID);
    /* Any flipped character of the signature or claims breaks it. */
    size_t len = strlen(tok);
    for (size_t i = 0; i < len; i += 7) {
        if (tok[i] == '.') {
            continue;
        }
        char *bad = strdup(tok);
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        expect_jwt(k, bad, t0, CCG_R_JOSE_JWT_INVALID);
        free(bad);
    }
    char *trunc = strndup(tok, len - 1);
    expect_jwt(k, trunc, t0, CCG_R_JOSE_JWT_INVALID);
    free(trunc);
    free(tok);
    json_decref(claims);

    /* nbf in the future. */
    claims = claims_at(t0, t0 + 300);
    json_object_set_new(claims, "nbf", json_integer(t0 + 60));
    expect_ok(ccg_jwt_sign_es256(k, claims, &tok));
    expect_jwt(k, tok, t0, CCG_R_JOSE_JWT_EXPIRED);
    expect_ok(ccg_jwt_verify_es256(k, tok, strlen(tok), t0 + 60, 0, &got));
    json_decref(got);
    free(tok);
    json_decref(claims);

    /* No exp, or a non-numeric one. */
    claims = json_pack("{s:s}", "iss", "x");
    expect_ok(ccg_jwt_sign_es256(k, claims, &tok));
    expect_jwt(k, tok, t0, CCG_R_JOSE_JWT_INVALID);
    free(tok);
    json_decref(claims);
    claims = json_pack("{s:s}", "exp", "tomorrow");
    expect_ok(ccg_jwt_sign_es256(k, claims, &tok));
    expect_jwt(k, tok, t0, CCG_R_JOSE_JWT_INVALID);
    free(tok);
    json_decref(claims);

    /* Keys that are not P-256. */
    EVP_PKEY *rsa = gen_rsa(2048);
    claims = claims_at(t0, t0 + 1);
    EXPECT_FAIL(ccg_jwt_sign_es256(rsa, claims, &tok), CCG_R_USAGE_INVALID);
    json_decref(claims);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(k);
    EVP_PKEY_free(other);
}

static void jwt_refuses_other_algorithms(void **state)
{
    (void)state;
    EVP_PKEY *k = gen_ec();
    const ccg_time t0 = tu_time("2026-03-01T12:00:00Z");
    char claims_text[128];
    snprintf(claims_text, sizeof(claims_text), "{\"exp\":%lld,\"iat\":%lld}", (long long)(t0 + 60), (long long)t0);
    /* A correct ES256 signature over the same claims, to graft under other headers. */
    json_t *claims = load(claims_text);
    char *good = NULL;
    expect_ok(ccg_jwt_sign_es256(k, claims, &good));
    json_decref(claims);
    const char *sig = strrchr(good, '.') + 1;

    const char *headers[] = {
        "{\"alg\":\"none\",\"typ\":\"JWT\"}",   "{\"alg\":\"none\"}",
        "{\"alg\":\"HS256\",\"typ\":\"JWT\"}",  "{\"alg\":\"ES384\",\"typ\":\"JWT\"}",
        "{\"alg\":\"RS256\",\"typ\":\"JWT\"}",  "{\"alg\":\"es256\",\"typ\":\"JWT\"}",
        "{\"typ\":\"JWT\"}",                    "{\"alg\":\"ES256\",\"typ\":\"JWE\"}",
        "{\"alg\":\"ES256\",\"crit\":[\"b64\"],\"b64\":false}",
        "{\"alg\":\"ES256\",\"alg\":\"ES256\"}", "[\"ES256\"]",
    };
    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        char *t = token_from(headers[i], claims_text, sig);
        expect_jwt(k, t, t0, CCG_R_JOSE_JWT_INVALID);
        free(t);
        t = token_from(headers[i], claims_text, "");
        expect_jwt(k, t, t0, CCG_R_JOSE_JWT_INVALID);
        free(t);
    }
    /* Malformed shapes. */
    const char *shapes[] = {"", ".", "..", "a.b", "a.b.c.d.e", "eyJhbGciOiJFUzI1NiJ9..", "eyJhbGciOiJFUzI1NiJ9.e30.AA=="};
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        expect_jwt(k, shapes[i], t0, CCG_R_JOSE_JWT_INVALID);
    }
    /* A DER signature where R || S is expected. */
    uint8_t der[72];
    memset(der, 0x30, sizeof(der));
    char *der_b64 = ccg_b64url_encode(der, sizeof(der));
    char *t = token_from("{\"alg\":\"ES256\",\"typ\":\"JWT\"}", claims_text, der_b64);
    expect_jwt(k, t, t0, CCG_R_JOSE_JWT_INVALID);
    free(t);
    free(der_b64);
    /* Claims that are not an object, correctly signed. */
    uint8_t rawsig[64];
    char *h = ccg_b64url_encode((const uint8_t *)"{\"alg\":\"ES256\"}", 15);
    char *c = ccg_b64url_encode((const uint8_t *)"[1]", 3);
    char input[256];
    snprintf(input, sizeof(input), "%s.%s", h, c);
    expect_ok(ccg_es256_sign(k, (const uint8_t *)input, strlen(input), rawsig));
    char *s = ccg_b64url_encode(rawsig, 64);
    char tok[400];
    snprintf(tok, sizeof(tok), "%s.%s", input, s);
    expect_jwt(k, tok, t0, CCG_R_JOSE_JWT_INVALID);
    free(h);
    free(c);
    free(s);
    free(good);
    EVP_PKEY_free(k);
}

/* ------------------------------------------------------------------ Wycheproof */

static uint8_t *hex_member(const json_t *obj, const char *name, size_t *len)
{
    const json_t *v = json_object_get(obj, name);
    assert_true(json_is_string(v));
    uint8_t *out = NULL;
    expect_ok(ccg_hex_decode_text(json_string_value(v), json_string_length(v), &out, len));
    return out;
}

static json_t *load_vector(const char *rel)
{
    uint8_t *data = NULL;
    size_t len = 0;
    tu_read_vector(rel, &data, &len);
    json_error_t jerr;
    json_t *root = json_loadb((const char *)data, len, 0, &jerr);
    free(data);
    if (root == NULL) {
        fail_msg("%s does not parse: %s", rel, jerr.text);
    }
    return root;
}

static void wycheproof_aes_gcm_through_a256gcm(void **state)
{
    (void)state;
    json_t *root = load_vector("wycheproof/aes_gcm_test.json");
    size_t run = 0;
    size_t valid = 0;
    size_t index;
    json_t *group;
    json_array_foreach(json_object_get(root, "testGroups"), index, group)
    {
        /* JWE's A256GCM fixes a 256-bit key, a 96-bit IV and a 128-bit tag; other groups do not apply. */
        if (json_integer_value(json_object_get(group, "keySize")) != 256 ||
            json_integer_value(json_object_get(group, "ivSize")) != 96 ||
            json_integer_value(json_object_get(group, "tagSize")) != 128) {
            continue;
        }
        size_t ti;
        json_t *tc;
        json_array_foreach(json_object_get(group, "tests"), ti, tc)
        {
            size_t kl, il, al, ml, cl, tl;
            uint8_t *key = hex_member(tc, "key", &kl);
            uint8_t *iv = hex_member(tc, "iv", &il);
            uint8_t *aad = hex_member(tc, "aad", &al);
            uint8_t *msg = hex_member(tc, "msg", &ml);
            uint8_t *ct = hex_member(tc, "ct", &cl);
            uint8_t *tag = hex_member(tc, "tag", &tl);
            const char *res = json_string_value(json_object_get(tc, "result"));
            long long id = json_integer_value(json_object_get(tc, "tcId"));
            assert_int_equal(kl, 32);
            assert_int_equal(il, 12);
            assert_int_equal(tl, 16);
            assert_int_equal(ml, cl);
            uint8_t *pt = malloc(cl + 1);
            ccg_error_clear();
            ccg_result r = ccg_jose_a256gcm_open(key, iv, aad, al, ct, cl, tag, pt);
            if (strcmp(res, "valid") == 0) {
                if (ccg_failed(r)) {
                    fail_msg("Wycheproof AES-GCM tcId %lld: valid vector refused", id);
                }
                assert_memory_equal(pt, msg, ml);
                uint8_t *ct2 = malloc(ml + 1);
                uint8_t tag2[16];
                expect_ok(ccg_jose_a256gcm_seal(key, iv, aad, al, msg, ml, ct2, tag2));
                assert_memory_equal(ct2, ct, cl);
                assert_memory_equal(tag2, tag, 16);
                free(ct2);
                valid++;
            } else if (strcmp(res, "invalid") == 0) {
                if (ccg_ok(r)) {
                    fail_msg("Wycheproof AES-GCM tcId %lld: invalid vector accepted", id);
                }
                tu_assert_error_reason(CCG_R_JOSE_JWE_INVALID);
            }
            run++;
            free(pt);
            free(key);
            free(iv);
            free(aad);
            free(msg);
            free(ct);
            free(tag);
        }
    }
    print_message("Wycheproof AES-GCM: %zu vectors through A256GCM (%zu valid)\n", run, valid);
    assert_true(run >= 60);
    json_decref(root);
}

static void wycheproof_ecdsa_p256_p1363_through_es256(void **state)
{
    (void)state;
    json_t *root = load_vector("wycheproof/ecdsa_secp256r1_sha256_p1363_test.json");
    size_t run = 0;
    size_t valid = 0;
    size_t index;
    json_t *group;
    json_array_foreach(json_object_get(root, "testGroups"), index, group)
    {
        /* The group's key arrives as a JWK: it goes through the same strict parser as a tee-pubkey. */
        ccg_jwk *jwk = NULL;
        json_t *jwk_json = json_incref(json_object_get(group, "publicKeyJwk"));
        if (jwk_json == NULL) {
            /* Some groups give only the uncompressed point: 04 || X || Y. */
            size_t pl = 0;
            uint8_t *point = hex_member(json_object_get(group, "publicKey"), "uncompressed", &pl);
            assert_int_equal(pl, 65);
            char *x = ccg_b64url_encode(point + 1, 32);
            char *y = ccg_b64url_encode(point + 33, 32);
            jwk_json = json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256", "x", x, "y", y);
            free(x);
            free(y);
            free(point);
        }
        expect_ok(ccg_jwk_parse(jwk_json, &jwk));
        json_decref(jwk_json);
        size_t ti;
        json_t *tc;
        json_array_foreach(json_object_get(group, "tests"), ti, tc)
        {
            size_t ml, sl;
            uint8_t *msg = hex_member(tc, "msg", &ml);
            uint8_t *sig = hex_member(tc, "sig", &sl);
            const char *res = json_string_value(json_object_get(tc, "result"));
            long long id = json_integer_value(json_object_get(tc, "tcId"));
            ccg_error_clear();
            ccg_result r = ccg_es256_verify(ccg_jwk_pkey(jwk), msg, ml, sig, sl);
            if (strcmp(res, "valid") == 0) {
                if (ccg_failed(r)) {
                    fail_msg("Wycheproof ECDSA tcId %lld: valid signature refused: %s", id, ccg_error_last()->message);
                }
                valid++;
            } else if (strcmp(res, "invalid") == 0) {
                if (ccg_ok(r)) {
                    fail_msg("Wycheproof ECDSA tcId %lld: invalid signature accepted", id);
                }
                tu_assert_error_reason(CCG_R_JOSE_JWT_INVALID);
            }
            run++;
            free(msg);
            free(sig);
        }
        ccg_jwk_free(jwk);
    }
    print_message("Wycheproof ECDSA P-256 P1363: %zu vectors through ES256 (%zu valid)\n", run, valid);
    assert_true(run >= 200);
    json_decref(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(b64url_rfc4648_vectors),
        cmocka_unit_test(b64url_uses_url_alphabet),
        cmocka_unit_test(b64url_refuses_non_canonical_text),
        cmocka_unit_test(jcs_rfc8785_sorting_example),
        cmocka_unit_test(jcs_rfc8785_string_and_literals_example),
        cmocka_unit_test(jcs_integers_and_refusals),
        cmocka_unit_test(jwk_accepts_ec_p256),
        cmocka_unit_test(jwk_refuses_bad_ec_keys),
        cmocka_unit_test(jwk_rsa_strictness),
        cmocka_unit_test(jwk_thumbprint_and_export),
        cmocka_unit_test(kbs_report_data_known_answer),
        cmocka_unit_test(jwe_roundtrip_ecdh_es),
        cmocka_unit_test(jwe_roundtrip_rsa_oaep_256),
        cmocka_unit_test(jwe_members_and_header_are_exact),
        cmocka_unit_test(jwe_decrypts_independent_known_answers),
        cmocka_unit_test(jwe_tampering_fails_closed),
        cmocka_unit_test(jwt_sign_verify_and_times),
        cmocka_unit_test(jwt_refuses_other_algorithms),
        cmocka_unit_test(wycheproof_aes_gcm_through_a256gcm),
        cmocka_unit_test(wycheproof_ecdsa_p256_p1363_through_es256),
    };
    return cmocka_run_group_tests_name("jose", tests, NULL, NULL);
}
