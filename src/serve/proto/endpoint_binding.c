/* REPORT_DATA of the endpoint binding, the TLS exporter, and the client's check (endpoint_binding.h). */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>

#include "ccgate/endpoint_binding.h"
#include "ccgate/jose.h"

const char *ccg_endpoint_binding_name(ccg_endpoint_binding b)
{
    switch (b) {
    case CCG_ENDPOINT_BINDING_TLS_EXPORTER: return "tls-exporter";
    case CCG_ENDPOINT_BINDING_HPKE: return "hpke";
    }
    return NULL;
}

const char *ccg_endpoint_tee_name(ccg_endpoint_tee t)
{
    switch (t) {
    case CCG_ENDPOINT_TEE_SNP: return "snp";
    case CCG_ENDPOINT_TEE_TDX: return "tdx";
    }
    return NULL;
}

ccg_result ccg_endpoint_binding_parse(const char *name, ccg_endpoint_binding *out)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(name != NULL, CCG_R_CLIENT_EVIDENCE_MALFORMED, "no binding");
    if (strcmp(name, "tls-exporter") == 0) {
        *out = CCG_ENDPOINT_BINDING_TLS_EXPORTER;
    } else if (strcmp(name, "hpke") == 0) {
        *out = CCG_ENDPOINT_BINDING_HPKE;
    } else {
        CCG_BAIL(CCG_R_CLIENT_EVIDENCE_MALFORMED, "binding is neither tls-exporter nor hpke");
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_endpoint_report_data(ccg_endpoint_binding binding, const uint8_t nonce[CCG_ENDPOINT_NONCE_LEN],
                                    const uint8_t *exporter, const uint8_t *key_config, size_t key_config_len,
                                    uint8_t out[CCG_ENDPOINT_REPORT_DATA_LEN])
{
    ccg_result result = CCG_FAILURE;
    static const uint8_t zeros[CCG_ENDPOINT_EXPORTER_LEN];
    uint8_t kc_hash[SHA256_DIGEST_LENGTH];
    uint8_t tag = (uint8_t)binding;
    unsigned int n = 0;
    EVP_MD_CTX *md = NULL;
    CCG_ENSURE_MSG(nonce != NULL && out != NULL && (key_config != NULL || key_config_len == 0), CCG_R_USAGE_INVALID,
                   "report data: missing input");
    CCG_ENSURE_MSG((binding == CCG_ENDPOINT_BINDING_TLS_EXPORTER && exporter != NULL) ||
                       (binding == CCG_ENDPOINT_BINDING_HPKE && exporter == NULL),
                   CCG_R_USAGE_INVALID, "report data: the exporter goes with tls-exporter only");
    CCG_ENSURE_OSSL(SHA256(key_config_len ? key_config : zeros, key_config_len, kc_hash) != NULL, CCG_R_INTERNAL_ERROR);
    md = EVP_MD_CTX_new();
    CCG_ENSURE_ALLOC(md);
    CCG_ENSURE_OSSL(EVP_DigestInit_ex(md, EVP_sha512(), NULL) == 1 &&
                        EVP_DigestUpdate(md, CCG_ENDPOINT_DOMAIN, strlen(CCG_ENDPOINT_DOMAIN)) == 1 &&
                        EVP_DigestUpdate(md, &tag, 1) == 1 &&
                        EVP_DigestUpdate(md, nonce, CCG_ENDPOINT_NONCE_LEN) == 1 &&
                        EVP_DigestUpdate(md, exporter ? exporter : zeros, CCG_ENDPOINT_EXPORTER_LEN) == 1 &&
                        EVP_DigestUpdate(md, kc_hash, sizeof(kc_hash)) == 1 && EVP_DigestFinal_ex(md, out, &n) == 1,
                    CCG_R_INTERNAL_ERROR);
    CCG_ENSURE(n == CCG_ENDPOINT_REPORT_DATA_LEN, CCG_R_INTERNAL_ERROR);
    result = CCG_SUCCESS;
cleanup:
    EVP_MD_CTX_free(md);
    return result;
}

ccg_result ccg_endpoint_nonce_decode(const char *b64url, uint8_t out[CCG_ENDPOINT_NONCE_LEN])
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(b64url != NULL && strlen(b64url) == 43, CCG_R_CLIENT_EVIDENCE_MALFORMED,
                   "nonce: not 43 base64url characters (32 bytes)");
    CCG_TRY(ccg_b64url_decode_exact(b64url, 43, CCG_R_CLIENT_EVIDENCE_MALFORMED, out, CCG_ENDPOINT_NONCE_LEN));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_endpoint_tls_exporter(void *ssl, uint8_t out[CCG_ENDPOINT_EXPORTER_LEN])
{
    ccg_result result = CCG_FAILURE;
    SSL *s = ssl;
    CCG_ENSURE_MSG(s != NULL, CCG_R_USAGE_INVALID, "no TLS connection");
    CCG_ENSURE_MSG(SSL_version(s) == TLS1_3_VERSION, CCG_R_USAGE_INVALID, "the connection is not TLS 1.3");
    /* use_context 0: RFC 9266 says an empty context, which TLS 1.3 treats the same as none. */
    CCG_ENSURE_OSSL(SSL_export_keying_material(s, out, CCG_ENDPOINT_EXPORTER_LEN, CCG_ENDPOINT_EXPORTER_LABEL,
                                               strlen(CCG_ENDPOINT_EXPORTER_LABEL), NULL, 0, 0) == 1,
                    CCG_R_USAGE_INVALID);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_endpoint_check_binding(const ccg_endpoint_evidence *doc, ccg_endpoint_binding want,
                                      const uint8_t nonce[CCG_ENDPOINT_NONCE_LEN], const uint8_t *exporter,
                                      const uint8_t report_data[CCG_ENDPOINT_REPORT_DATA_LEN])
{
    ccg_result result = CCG_FAILURE;
    uint8_t expect[CCG_ENDPOINT_REPORT_DATA_LEN];
    CCG_ENSURE_MSG(doc->binding == want, CCG_R_CLIENT_BINDING_MISMATCH, "the evidence is for the %s binding, not %s",
                   ccg_endpoint_binding_name(doc->binding), ccg_endpoint_binding_name(want));
    CCG_ENSURE_MSG(CRYPTO_memcmp(doc->nonce, nonce, CCG_ENDPOINT_NONCE_LEN) == 0, CCG_R_CLIENT_BINDING_MISMATCH,
                   "the evidence answers another nonce: replayed from another request or session");
    CCG_TRY(ccg_endpoint_report_data(want, nonce, want == CCG_ENDPOINT_BINDING_HPKE ? NULL : exporter, doc->key_config,
                                     doc->key_config_len, expect));
    if (CRYPTO_memcmp(expect, report_data, sizeof(expect)) != 0) {
        if (want == CCG_ENDPOINT_BINDING_TLS_EXPORTER) {
            CCG_BAIL(CCG_R_CLIENT_EXPORTER_MISMATCH,
                     "REPORT_DATA does not bind this TLS session's exporter (with our nonce and the key config): "
                     "evidence relayed from another session");
        }
        CCG_BAIL(CCG_R_CLIENT_BINDING_MISMATCH, "REPORT_DATA does not bind our nonce and the key config");
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}
