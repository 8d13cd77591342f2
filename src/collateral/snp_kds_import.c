/* Placing a VCEK or VLEK obtained elsewhere (a cloud provider's VLEK, a host's extended report) into
 * the cache, keyed by what the certificate itself says. */
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/snp_kds.h"
#include "ccgate/snp_vcek.h"
#include "ccgate/x509util.h"

static ccg_result parse_one(const uint8_t *data, size_t len, X509 **out)
{
    ccg_result result = CCG_FAILURE;
    STACK_OF(X509) *certs = sk_X509_new_null();
    CCG_ENSURE_ALLOC(certs);
    CCG_TRY(ccg_x509_load_bundle(data, len, certs));
    CCG_ENSURE_MSG(sk_X509_num(certs) == 1, CCG_R_INPUT_MALFORMED, "expected one certificate, found %d",
                   sk_X509_num(certs));
    *out = sk_X509_shift(certs);
    result = CCG_SUCCESS;
cleanup:
    sk_X509_pop_free(certs, X509_free);
    return result;
}

static ccg_result product_of(const ccg_snp_vcek_ext *ext, ccg_snp_product given, ccg_snp_product *out)
{
    ccg_result result = CCG_FAILURE;
    ccg_snp_product named = ccg_snp_product_from_name(ext->product_name);
    CCG_ENSURE_MSG(named != CCG_SNP_PRODUCT_UNKNOWN || given != CCG_SNP_PRODUCT_UNKNOWN, CCG_R_SNP_PRODUCT_UNKNOWN,
                   "the certificate names no known product; give it explicitly");
    CCG_ENSURE_MSG(named == CCG_SNP_PRODUCT_UNKNOWN || given == CCG_SNP_PRODUCT_UNKNOWN || named == given,
                   CCG_R_SNP_PRODUCT_MISMATCH, "the certificate is for %s, not %s", ccg_snp_product_name(named),
                   ccg_snp_product_name(given));
    *out = named != CCG_SNP_PRODUCT_UNKNOWN ? named : given;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The cache key from the AMD extensions: TCB, and hwID (VCEK) or cspID (VLEK). */
static ccg_result key_item(const ccg_snp_vcek_ext *ext, ccg_snp_product product, ccg_snp_kds_item *item)
{
    ccg_result result = CCG_FAILURE;
    int turin = product == CCG_SNP_PRODUCT_TURIN;
    memset(item, 0, sizeof(*item));
    item->kind = CCG_SNP_KDS_KEY;
    item->product = product;
    CCG_ENSURE_MSG(ext->has_bl && ext->has_tee && ext->has_snp && ext->has_ucode && (ext->has_fmc || !turin),
                   CCG_R_SNP_VCEK_EXTENSION_MISSING, "the certificate lacks a TCB (SPL) extension");
    item->tcb = ext->tcb;
    if (!turin) {
        item->tcb.fmc = 0;
    }
    CCG_ENSURE_MSG(ext->has_hwid != (ext->csp_id[0] != '\0'), CCG_R_SNP_VCEK_EXTENSION_MISSING,
                   "the certificate must carry exactly one of hwID (VCEK) and cspID (VLEK)");
    item->signer = ext->has_hwid ? CCG_SNP_SIGNER_VCEK : CCG_SNP_SIGNER_VLEK;
    if (ext->has_hwid) {
        CCG_ENSURE_MSG(ext->hwid_len == ccg_snp_hwid_len(product), CCG_R_SNP_VCEK_EXTENSION_MALFORMED,
                       "hwID is %zu bytes; %s VCEKs carry %zu", ext->hwid_len, ccg_snp_product_name(product),
                       ccg_snp_hwid_len(product));
        memcpy(item->chip_id, ext->hwid, ext->hwid_len);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_snp_kds_import_key(const char *cache_dir, ccg_snp_product product, const uint8_t *data, size_t len,
                                  ccg_snp_kds_item *out)
{
    ccg_result result = CCG_FAILURE;
    X509 *cert = NULL;
    unsigned char *der = NULL;
    ccg_snp_vcek_ext ext;
    CCG_TRY(parse_one(data, len, &cert));
    CCG_TRY(ccg_snp_vcek_ext_parse(cert, &ext));
    CCG_TRY(product_of(&ext, product, &product));
    CCG_TRY(key_item(&ext, product, out));
    int der_len = i2d_X509(cert, &der);
    CCG_ENSURE_OSSL(der_len > 0, CCG_R_INTERNAL_CRYPTO);
    CCG_TRY(ccg_snp_cache_write(cache_dir, out, der, (size_t)der_len));
    result = CCG_SUCCESS;
cleanup:
    OPENSSL_free(der);
    X509_free(cert);
    return result;
}
