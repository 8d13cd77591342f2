/* The endpoint's evidence document and REPORT_DATA (docs/endpoint.md, "Attestation binding"):
 *   REPORT_DATA = SHA-512("ccgate endpoint v1" || binding u8 || nonce[32] || exporter[32] || SHA-256(key_config)) */
#include "ep_internal.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"
#include "ccgate/jose.h"

ccg_result ep_report_data(int binding, const uint8_t nonce[32], const uint8_t exporter[32], const uint8_t *key_config,
                          size_t key_config_len, uint8_t out[64])
{
    ccg_result result = CCG_FAILURE;
    static const char label[] = "ccgate endpoint v1";
    uint8_t b = (uint8_t)binding, kch[SHA256_DIGEST_LENGTH];
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int n = 0;
    CCG_ENSURE_ALLOC(md);
    SHA256(key_config, key_config_len, kch);
    CCG_ENSURE_OSSL(EVP_DigestInit_ex(md, EVP_sha512(), NULL) == 1 &&
                        EVP_DigestUpdate(md, label, sizeof(label) - 1) == 1 && EVP_DigestUpdate(md, &b, 1) == 1 &&
                        EVP_DigestUpdate(md, nonce, 32) == 1 && EVP_DigestUpdate(md, exporter, 32) == 1 &&
                        EVP_DigestUpdate(md, kch, sizeof(kch)) == 1 && EVP_DigestFinal_ex(md, out, &n) == 1 && n == 64,
                    CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    EVP_MD_CTX_free(md);
    return result;
}

static int put_b64(json_t *o, const char *k, const uint8_t *p, size_t n)
{
    char *s = ccg_b64url_encode(p, n);
    if (s == NULL) {
        return -1;
    }
    json_object_set_new(o, k, json_string(s));
    free(s);
    return 0;
}

ccg_result ep_evidence_json(ccg_tee_type tee, int binding, const uint8_t nonce[32], const uint8_t *key_config,
                            size_t key_config_len, const ccg_evidence *ev, char **out)
{
    ccg_result result = CCG_FAILURE;
    json_t *o = json_object();
    CCG_ENSURE_ALLOC(o);
    json_object_set_new(o, "version", json_integer(1));
    json_object_set_new(o, "tee", json_string(tee == CCG_TEE_TDX ? "tdx" : "snp"));
    json_object_set_new(o, "binding", json_string(binding == EP_BINDING_HPKE ? "hpke" : "tls-exporter"));
    CCG_ENSURE_ALLOC(put_b64(o, "nonce", nonce, 32) == 0 ? o : NULL);
    CCG_ENSURE_ALLOC(put_b64(o, "key_config", key_config, key_config_len) == 0 ? o : NULL);
    CCG_ENSURE_ALLOC(put_b64(o, "report", ev->report, ev->report_len) == 0 ? o : NULL);
    if (ev->certs != NULL && ev->certs_len > 0) {
        CCG_ENSURE_ALLOC(put_b64(o, "certs", ev->certs, ev->certs_len) == 0 ? o : NULL);
    }
    *out = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    CCG_ENSURE_ALLOC(*out);
    result = CCG_SUCCESS;
cleanup:
    json_decref(o);
    return result;
}
