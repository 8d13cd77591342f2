/* libFuzzer target: the tee-pubkey JWK parser and RFC 8785 canonical JSON.
 * Invariants: a failure carries a reason; an accepted JWK survives export and re-parse with the same
 * thumbprint (see below for RSA) and yields REPORT_DATA; canonical JSON parses back to an equal value and is a fixed point. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"
#include "ccgate/jose.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_jwk(const uint8_t *data, size_t size)
{
    ccg_jwk *jwk = NULL;
    ccg_jwk *again = NULL;
    json_t *exported = NULL;
    uint8_t t1[32];
    uint8_t t2[32];
    uint8_t rd[64];
    ccg_error_clear();
    if (ccg_failed(ccg_jwk_parse_text((const char *)data, size, &jwk))) {
        if (ccg_error_reason() == CCG_R_OK || jwk != NULL) {
            abort();
        }
        return;
    }
    exported = ccg_jwk_to_json(jwk);
    if (exported == NULL) {
        abort();
    }
    ccg_error_clear();
    if (ccg_failed(ccg_jwk_parse(exported, &again))) {
        /* OpenSSL's RSA public check runs Miller-Rabin with random bases to tell "composite, not a prime
         * power" from "composite with a factor found": for a fuzzed modulus with moderate factors the
         * verdict can differ between runs. Real keys are never near that line; only RSA may differ. */
        if (ccg_jwk_type(jwk) != CCG_JWK_RSA || ccg_error_reason() != CCG_R_JOSE_JWK_INVALID) {
            abort();
        }
        json_decref(exported);
        ccg_jwk_free(jwk);
        return;
    }
    if (ccg_failed(ccg_jwk_thumbprint(jwk, t1)) ||
        ccg_failed(ccg_jwk_thumbprint(again, t2)) || memcmp(t1, t2, 32) != 0 ||
        strcmp(ccg_jwk_alg(jwk), ccg_jwk_alg(again)) != 0 ||
        ccg_failed(ccg_jose_kbs_report_data("sha384", "nonce", jwk, "", rd))) {
        abort();
    }
    json_decref(exported);
    ccg_jwk_free(again);
    ccg_jwk_free(jwk);
}

static void check_jcs(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *v = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    json_t *back = NULL;
    char *c1 = NULL;
    char *c2 = NULL;
    size_t l1 = 0;
    size_t l2 = 0;
    if (v == NULL) {
        return;
    }
    ccg_error_clear();
    if (ccg_failed(ccg_jcs_serialize(v, &c1, &l1))) {
        if (ccg_error_reason() == CCG_R_OK) {
            abort();
        }
        json_decref(v);
        return;
    }
    back = json_loadb(c1, l1, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (back == NULL || !json_equal(v, back) || ccg_failed(ccg_jcs_serialize(back, &c2, &l2)) || l1 != l2 ||
        memcmp(c1, c2, l1) != 0) {
        abort();
    }
    free(c1);
    free(c2);
    json_decref(back);
    json_decref(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_jwk(data, size);
    check_jcs(data, size);
    return 0;
}
