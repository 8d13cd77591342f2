/* Wycheproof vectors against the exact primitives HPKE runs (src/hpke/hpke_internal.h):
 * ccg_hpke_aead_new/seal/open (ChaCha20-Poly1305, and AES-128-GCM as a bonus) and ccg_hpke_x25519_dh.
 *
 * How results and flags are treated:
 * - AEAD "valid": seal must give ct||tag exactly and open must return msg. "invalid" (ModifiedTag
 *   and friends): open must fail with hpke.open_failed and leave a zeroed plaintext buffer.
 *   InvalidNonceSize (any nonce that is not 12 bytes): HPKE's Nn is 12, so the primitive refuses it
 *   (usage.invalid) whatever the vector's result says. AES-GCM vectors with a 192/256-bit key are
 *   outside HPKE's AES-128-GCM and must be refused by ccg_hpke_aead_new (hpke.key_invalid).
 *   "acceptable" (none in these files today): success must match, failure must be open_failed.
 * - X25519 "valid" and "acceptable" with a non-zero shared secret (Twist, NonCanonicalPublic,
 *   SpecialPublicKey, EdgeCase*): DH must succeed and match, as RFC 7748 asks. ZeroSharedSecret
 *   (LowOrderPublic, SmallPublicKey): RFC 9180 section 7.1.4 requires refusing, so DH must fail
 *   with hpke.dh_zero. "invalid": DH must fail. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "testutil.h"

#include "ccgate/error.h"
#include "ccgate/hpke.h"
#include "../src/hpke/hpke_internal.h"

static json_t *load_json(const char *rel)
{
    uint8_t *text = NULL;
    size_t len = 0;
    tu_read_vector(rel, &text, &len);
    json_error_t jerr;
    json_t *root = json_loadb((const char *)text, len, 0, &jerr);
    free(text);
    if (root == NULL) {
        fail_msg("%s: %s at line %d", rel, jerr.text, jerr.line);
    }
    return root;
}

static uint8_t *hex_member(json_t *obj, const char *name, size_t *len)
{
    const char *hex = json_string_value(json_object_get(obj, name));
    uint8_t *out = NULL;
    assert_non_null(hex);
    assert_true(ccg_ok(ccg_hex_decode_text(hex, strlen(hex), &out, len)));
    return out;
}

static int has_flag(json_t *test, const char *flag)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(test, "flags"), i, v)
    {
        if (strcmp(json_string_value(v), flag) == 0) {
            return 1;
        }
    }
    return 0;
}

typedef struct {
    size_t valid;          /* sealed and opened as expected */
    size_t invalid;        /* refused with hpke.open_failed */
    size_t acceptable;
    size_t nonce_refused;  /* nonce not 12 bytes: refused with usage.invalid */
    size_t key_refused;    /* key size outside HPKE's AEAD: refused with hpke.key_invalid */
} aead_counts;

/* A tag-verified open of ct||tag; returns 1 when it opened (and matched msg when expected). */
static int try_open(EVP_CIPHER_CTX *c, const uint8_t *iv, size_t iv_len, const uint8_t *aad, size_t aad_len,
                    const uint8_t *ctt, size_t ctt_len, const uint8_t *msg, size_t msg_len)
{
    uint8_t *pt = malloc(msg_len + 1);
    memset(pt, 0xee, msg_len + 1);
    ccg_error_clear();
    int ok = ccg_ok(ccg_hpke_aead_open(c, iv, iv_len, aad, aad_len, ctt, ctt_len, pt));
    if (ok) {
        assert_memory_equal(pt, msg, msg_len);
    } else {
        tu_assert_error_reason(CCG_R_HPKE_OPEN_FAILED);
        for (size_t i = 0; i < msg_len; i++) {
            assert_int_equal(pt[i], 0); /* nothing unauthenticated is left behind */
        }
    }
    free(pt);
    return ok;
}

static void run_aead_test(uint16_t aead_id, json_t *t, aead_counts *n)
{
    size_t key_len, iv_len, aad_len, msg_len, ct_len, tag_len;
    uint8_t *key = hex_member(t, "key", &key_len);
    uint8_t *iv = hex_member(t, "iv", &iv_len);
    uint8_t *aad = hex_member(t, "aad", &aad_len);
    uint8_t *msg = hex_member(t, "msg", &msg_len);
    uint8_t *ct = hex_member(t, "ct", &ct_len);
    uint8_t *tag = hex_member(t, "tag", &tag_len);
    const char *result = json_string_value(json_object_get(t, "result"));
    long long id = json_integer_value(json_object_get(t, "tcId"));
    EVP_CIPHER_CTX *c = NULL;
    size_t want_key = aead_id == CCG_HPKE_AEAD_AES128GCM ? 16 : 32;
    ccg_error_clear();
    if (key_len != want_key) {
        assert_true(ccg_failed(ccg_hpke_aead_new(aead_id, key, key_len, &c)));
        tu_assert_error_reason(CCG_R_HPKE_KEY_INVALID);
        n->key_refused++;
        goto done;
    }
    assert_true(ccg_ok(ccg_hpke_aead_new(aead_id, key, key_len, &c)));
    uint8_t *ctt = malloc(ct_len + tag_len + 1);
    memcpy(ctt, ct, ct_len);
    memcpy(ctt + ct_len, tag, tag_len);
    if (iv_len != CCG_HPKE_NN) {
        uint8_t *out = malloc(msg_len + CCG_HPKE_TAG_LEN);
        ccg_error_clear();
        assert_true(ccg_failed(ccg_hpke_aead_seal(c, iv, iv_len, aad, aad_len, msg, msg_len, out)));
        tu_assert_error_reason(CCG_R_USAGE_INVALID);
        ccg_error_clear();
        assert_true(ccg_failed(ccg_hpke_aead_open(c, iv, iv_len, aad, aad_len, ctt, ct_len + tag_len, out)));
        tu_assert_error_reason(CCG_R_USAGE_INVALID);
        free(out);
        n->nonce_refused++;
    } else if (strcmp(result, "valid") == 0) {
        assert_int_equal(tag_len, CCG_HPKE_TAG_LEN);
        uint8_t *out = malloc(msg_len + CCG_HPKE_TAG_LEN);
        assert_true(ccg_ok(ccg_hpke_aead_seal(c, iv, iv_len, aad, aad_len, msg, msg_len, out)));
        if (memcmp(out, ctt, msg_len + CCG_HPKE_TAG_LEN) != 0) {
            fail_msg("tcId %lld: sealed output differs", id);
        }
        if (!try_open(c, iv, iv_len, aad, aad_len, ctt, ct_len + tag_len, msg, msg_len)) {
            fail_msg("tcId %lld: valid vector did not open", id);
        }
        free(out);
        n->valid++;
    } else if (strcmp(result, "invalid") == 0) {
        if (try_open(c, iv, iv_len, aad, aad_len, ctt, ct_len + tag_len, msg, msg_len)) {
            fail_msg("tcId %lld: invalid vector opened", id);
        }
        n->invalid++;
    } else {
        (void)try_open(c, iv, iv_len, aad, aad_len, ctt, ct_len + tag_len, msg, msg_len);
        n->acceptable++;
    }
    free(ctt);
done:
    EVP_CIPHER_CTX_free(c);
    free(key);
    free(iv);
    free(aad);
    free(msg);
    free(ct);
    free(tag);
}

static aead_counts run_aead_file(const char *rel, uint16_t aead_id, size_t *total)
{
    json_t *root = load_json(rel);
    aead_counts n = {0};
    size_t gi, ti;
    json_t *g, *t;
    *total = 0;
    json_array_foreach(json_object_get(root, "testGroups"), gi, g)
    {
        json_array_foreach(json_object_get(g, "tests"), ti, t)
        {
            run_aead_test(aead_id, t, &n);
            (*total)++;
        }
    }
    assert_int_equal(*total, (size_t)json_integer_value(json_object_get(root, "numberOfTests")));
    json_decref(root);
    return n;
}

static void test_chacha20_poly1305(void **state)
{
    (void)state;
    size_t total = 0;
    aead_counts n = run_aead_file("wycheproof/chacha20_poly1305_test.json", CCG_HPKE_AEAD_CHACHA20POLY1305, &total);
    print_message("Wycheproof ChaCha20-Poly1305: %zu tests: %zu valid sealed+opened, %zu invalid refused "
                  "(hpke.open_failed), %zu acceptable, %zu with a non-12-byte nonce refused (usage.invalid)\n",
                  total, n.valid, n.invalid, n.acceptable, n.nonce_refused);
    assert_int_equal(n.valid + n.invalid + n.acceptable + n.nonce_refused, total);
    assert_true(n.valid > 0 && n.invalid > 0);
}

static void test_aes_gcm(void **state)
{
    (void)state;
    size_t total = 0;
    aead_counts n = run_aead_file("wycheproof/aes_gcm_test.json", CCG_HPKE_AEAD_AES128GCM, &total);
    print_message("Wycheproof AES-GCM (HPKE's AES-128-GCM): %zu tests: %zu valid sealed+opened, %zu invalid refused, "
                  "%zu acceptable, %zu non-12-byte nonces refused, %zu 192/256-bit keys refused (hpke.key_invalid)\n",
                  total, n.valid, n.invalid, n.acceptable, n.nonce_refused, n.key_refused);
    assert_int_equal(n.valid + n.invalid + n.acceptable + n.nonce_refused + n.key_refused, total);
    assert_true(n.valid > 0 && n.invalid > 0);
}

static void test_x25519(void **state)
{
    (void)state;
    json_t *root = load_json("wycheproof/x25519_test.json");
    size_t total = 0, matched = 0, zero_refused = 0, invalid_refused = 0, acceptable_matched = 0;
    size_t gi, ti;
    json_t *g, *t;
    json_array_foreach(json_object_get(root, "testGroups"), gi, g)
    {
        assert_string_equal(json_string_value(json_object_get(g, "curve")), "curve25519");
        json_array_foreach(json_object_get(g, "tests"), ti, t)
        {
            size_t pub_len, priv_len, shared_len;
            uint8_t *pub = hex_member(t, "public", &pub_len);
            uint8_t *priv = hex_member(t, "private", &priv_len);
            uint8_t *shared = hex_member(t, "shared", &shared_len);
            const char *result = json_string_value(json_object_get(t, "result"));
            long long id = json_integer_value(json_object_get(t, "tcId"));
            assert_int_equal(pub_len, CCG_HPKE_X25519_LEN);
            assert_int_equal(priv_len, CCG_HPKE_X25519_LEN);
            int zero = shared_len == CCG_HPKE_X25519_LEN && ccg_is_all_zero(shared, shared_len);
            /* The flag and the value agree, so the rule below is the flag's. */
            assert_int_equal(zero, has_flag(t, "ZeroSharedSecret"));
            uint8_t out[CCG_HPKE_X25519_LEN];
            ccg_error_clear();
            ccg_result r = ccg_hpke_x25519_dh(priv, pub, out);
            if (strcmp(result, "invalid") == 0) {
                if (ccg_ok(r)) {
                    fail_msg("tcId %lld: invalid X25519 input accepted", id);
                }
                invalid_refused++;
            } else if (zero) {
                if (ccg_ok(r)) {
                    fail_msg("tcId %lld: all-zero shared secret accepted", id);
                }
                tu_assert_error_reason(CCG_R_HPKE_DH_ZERO);
                assert_true(ccg_is_all_zero(out, sizeof(out)));
                zero_refused++;
            } else {
                if (ccg_failed(r) || memcmp(out, shared, sizeof(out)) != 0) {
                    fail_msg("tcId %lld (%s): X25519 result differs or failed (%s)", id, result,
                             ccg_error_last()->message);
                }
                if (strcmp(result, "acceptable") == 0) {
                    acceptable_matched++;
                } else {
                    matched++;
                }
            }
            total++;
            free(pub);
            free(priv);
            free(shared);
        }
    }
    print_message("Wycheproof X25519: %zu tests: %zu valid matched, %zu acceptable matched (twist, non-canonical), "
                  "%zu zero shared secrets refused (hpke.dh_zero), %zu invalid refused\n",
                  total, matched, acceptable_matched, zero_refused, invalid_refused);
    assert_int_equal(total, (size_t)json_integer_value(json_object_get(root, "numberOfTests")));
    assert_int_equal(matched + acceptable_matched + zero_refused + invalid_refused, total);
    assert_true(zero_refused > 0);
    json_decref(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chacha20_poly1305),
        cmocka_unit_test(test_aes_gcm),
        cmocka_unit_test(test_x25519),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
