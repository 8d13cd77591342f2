/* The KBS 0.4.0 REPORT_DATA binding. The guest (guest-components' kbs_protocol) hashes the RFC 8785 form
 * of {"tee-pubkey", "nonce", "additional-evidence"} with the Challenge's hash algorithm (SHA-384 unless
 * the broker selects another) and its attester zero-pads the digest to the 64-byte REPORT_DATA. The
 * broker rebuilds the same object from the Attestation it received: the nonce it issued, the parsed
 * tee-pubkey (TeePubKey's members) and tee-evidence.additional_evidence as the string it is. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "jose_internal.h"

ccg_result ccg_jose_kbs_runtime_data(const char *nonce, const ccg_jwk *tee_pubkey, const char *additional_evidence,
                                     char **out, size_t *out_len)
{
    ccg_result result = CCG_FAILURE;
    json_t *obj = NULL;
    json_t *key = NULL;
    *out = NULL;
    if (out_len != NULL) {
        *out_len = 0;
    }
    CCG_ENSURE_MSG(nonce != NULL && tee_pubkey != NULL && additional_evidence != NULL, CCG_R_USAGE_INVALID,
                   "runtime data needs a nonce, a tee-pubkey and the additional evidence string");
    obj = json_object();
    key = ccg_jwk_to_json(tee_pubkey);
    CCG_ENSURE_ALLOC(obj);
    CCG_ENSURE_ALLOC(key);
    CCG_ENSURE(json_object_set_new(obj, "tee-pubkey", key) == 0, CCG_R_INTERNAL_OUT_OF_MEMORY);
    key = NULL;
    CCG_ENSURE_MSG(json_object_set_new(obj, "nonce", json_string(nonce)) == 0, CCG_R_INPUT_MALFORMED,
                   "the nonce is not valid UTF-8");
    CCG_ENSURE_MSG(json_object_set_new(obj, "additional-evidence", json_string(additional_evidence)) == 0,
                   CCG_R_INPUT_MALFORMED, "the additional evidence is not valid UTF-8");
    CCG_TRY(ccg_jcs_serialize(obj, out, out_len));
    result = CCG_SUCCESS;
cleanup:
    json_decref(key);
    json_decref(obj);
    return result;
}

ccg_result ccg_jose_kbs_report_data(const char *hash, const char *nonce, const ccg_jwk *tee_pubkey,
                                    const char *additional_evidence, uint8_t out[64])
{
    ccg_result result = CCG_FAILURE;
    char *canon = NULL;
    size_t canon_len = 0;
    const char *md_name = NULL;
    EVP_MD *md = NULL;
    unsigned int md_len = 0;
    memset(out, 0, 64);
    CCG_ENSURE_MSG(hash != NULL, CCG_R_USAGE_INVALID, "no hash algorithm");
    if (strcmp(hash, "sha256") == 0) {
        md_name = "SHA256";
    } else if (strcmp(hash, "sha384") == 0) {
        md_name = "SHA384";
    } else if (strcmp(hash, "sha512") == 0) {
        md_name = "SHA512";
    } else {
        CCG_BAIL(CCG_R_USAGE_INVALID, "hash algorithm \"%.16s\" is not sha256, sha384 or sha512", hash);
    }
    CCG_TRY(ccg_jose_kbs_runtime_data(nonce, tee_pubkey, additional_evidence, &canon, &canon_len));
    md = EVP_MD_fetch(NULL, md_name, NULL);
    CCG_ENSURE_OSSL(md != NULL, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_Digest(canon, canon_len, out, &md_len, md, NULL) == 1 && md_len <= 64, CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        memset(out, 0, 64);
    }
    EVP_MD_free(md);
    free(canon);
    return result;
}
