/* One place for the R||S <-> DER conversion that JWT ES256, reference values and artifact headers share. */
#include <openssl/bn.h>
#include <openssl/ec.h>

#include "ccgate/ecdsa_raw.h"

ccg_result ccg_ecdsa_der_to_raw(const uint8_t *der, size_t der_len, size_t half, uint8_t *raw)
{
    ccg_result result = CCG_FAILURE;
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    const BIGNUM *r = NULL, *s = NULL;
    CCG_ENSURE_OSSL(sig != NULL, CCG_R_INTERNAL_CRYPTO);
    ECDSA_SIG_get0(sig, &r, &s);
    CCG_ENSURE_OSSL(BN_bn2binpad(r, raw, (int)half) == (int)half && BN_bn2binpad(s, raw + half, (int)half) == (int)half,
                    CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    ECDSA_SIG_free(sig);
    return result;
}

ccg_result ccg_ecdsa_raw_to_der(const uint8_t *raw, size_t half, uint8_t **der, size_t *der_len)
{
    ccg_result result = CCG_FAILURE;
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, (int)half, NULL), *s = BN_bin2bn(raw + half, (int)half, NULL);
    unsigned char *out = NULL;
    int n;
    CCG_ENSURE_ALLOC(sig != NULL && r != NULL && s != NULL ? sig : NULL);
    CCG_ENSURE_OSSL(ECDSA_SIG_set0(sig, r, s) == 1, CCG_R_INTERNAL_CRYPTO);
    r = s = NULL; /* owned by sig now */
    n = i2d_ECDSA_SIG(sig, &out);
    CCG_ENSURE_OSSL(n > 0, CCG_R_INTERNAL_CRYPTO);
    *der = out;
    *der_len = (size_t)n;
    result = CCG_SUCCESS;
cleanup:
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return result;
}
