/* AMD extensions on VCEK/VLEK certificates. OpenSSL decodes all ASN.1; this file only maps OIDs. */
#include "ccgate/snp_vcek.h"

#include <openssl/asn1.h>
#include <openssl/objects.h>
#include <string.h>

#define AMD_OID_PREFIX "1.3.6.1.4.1.3704.1."

/* The extension's value (the DER inside extnValue), or NULL when the OID is absent. */
static const ASN1_OCTET_STRING *find_ext(X509 *cert, const char *oid)
{
    ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
    const ASN1_OCTET_STRING *value = NULL;
    if (obj != NULL) {
        int idx = X509_get_ext_by_OBJ(cert, obj, -1);
        if (idx >= 0) {
            value = X509_EXTENSION_get_data(X509_get_ext(cert, idx));
        }
        ASN1_OBJECT_free(obj);
    }
    return value;
}

/* An INTEGER extension in 0..255 (SPL values are bytes of TCB_VERSION). */
static ccg_result read_spl(X509 *cert, const char *oid, int *present, uint8_t *out)
{
    ccg_result result = CCG_FAILURE;
    ASN1_INTEGER *v = NULL;
    const ASN1_OCTET_STRING *ext = find_ext(cert, oid);
    *present = 0;
    if (ext != NULL) {
        const unsigned char *p = ASN1_STRING_get0_data(ext);
        long len = ASN1_STRING_length(ext);
        int64_t value = -1;
        v = d2i_ASN1_INTEGER(NULL, &p, len);
        CCG_ENSURE_MSG(v != NULL && p == ASN1_STRING_get0_data(ext) + len, CCG_R_SNP_VCEK_EXTENSION_MALFORMED,
                       "extension %s is not a DER INTEGER", oid);
        CCG_ENSURE_MSG(ASN1_INTEGER_get_int64(&value, v) == 1 && value >= 0 && value <= 255,
                       CCG_R_SNP_VCEK_EXTENSION_MALFORMED, "extension %s is out of range", oid);
        *out = (uint8_t)value;
        *present = 1;
    }
    result = CCG_SUCCESS;
cleanup:
    ASN1_INTEGER_free(v);
    return result;
}

static ccg_result read_ia5(X509 *cert, const char *oid, char *out, size_t out_len)
{
    ccg_result result = CCG_FAILURE;
    ASN1_IA5STRING *s = NULL;
    const ASN1_OCTET_STRING *ext = find_ext(cert, oid);
    out[0] = '\0';
    if (ext != NULL) {
        const unsigned char *p = ASN1_STRING_get0_data(ext);
        long len = ASN1_STRING_length(ext);
        s = d2i_ASN1_IA5STRING(NULL, &p, len);
        CCG_ENSURE_MSG(s != NULL && p == ASN1_STRING_get0_data(ext) + len, CCG_R_SNP_VCEK_EXTENSION_MALFORMED,
                       "extension %s is not a DER IA5String", oid);
        int n = ASN1_STRING_length(s);
        CCG_ENSURE_MSG(n >= 0 && (size_t)n < out_len, CCG_R_SNP_VCEK_EXTENSION_MALFORMED,
                       "extension %s is too long", oid);
        const unsigned char *d = ASN1_STRING_get0_data(s);
        for (int i = 0; i < n; i++) {
            CCG_ENSURE_MSG(d[i] >= 0x20 && d[i] < 0x7f, CCG_R_SNP_VCEK_EXTENSION_MALFORMED,
                           "extension %s has a non-printable character", oid);
        }
        memcpy(out, d, (size_t)n);
        out[n] = '\0';
    }
    result = CCG_SUCCESS;
cleanup:
    ASN1_IA5STRING_free(s);
    return result;
}

/* AMD's own VCEKs carry the chip ID as the raw extension value; some issuers wrap it in an OCTET
 * STRING. Both are accepted when the length is a whole chip ID (64 bytes, or 8 on Turin). */
static ccg_result read_hwid(X509 *cert, ccg_snp_vcek_ext *out)
{
    ccg_result result = CCG_FAILURE;
    ASN1_OCTET_STRING *inner = NULL;
    const ASN1_OCTET_STRING *ext = find_ext(cert, AMD_OID_PREFIX "4");
    if (ext != NULL) {
        const unsigned char *p = ASN1_STRING_get0_data(ext);
        long len = ASN1_STRING_length(ext);
        if (len == 64 || len == 8) {
            memcpy(out->hwid, p, (size_t)len);
            out->hwid_len = (size_t)len;
        } else {
            const unsigned char *q = p;
            inner = d2i_ASN1_OCTET_STRING(NULL, &q, len);
            CCG_ENSURE_MSG(inner != NULL && q == p + len, CCG_R_SNP_VCEK_EXTENSION_MALFORMED,
                           "hwID extension of %ld bytes is neither raw nor an OCTET STRING", len);
            int n = ASN1_STRING_length(inner);
            CCG_ENSURE_MSG(n == 64 || n == 8, CCG_R_SNP_VCEK_EXTENSION_MALFORMED, "hwID of %d bytes", n);
            memcpy(out->hwid, ASN1_STRING_get0_data(inner), (size_t)n);
            out->hwid_len = (size_t)n;
        }
        out->has_hwid = 1;
    }
    result = CCG_SUCCESS;
cleanup:
    ASN1_OCTET_STRING_free(inner);
    return result;
}

ccg_result ccg_snp_vcek_ext_parse(X509 *cert, ccg_snp_vcek_ext *out)
{
    ccg_result result = CCG_FAILURE;
    int has_version = 0;
    uint8_t version = 0;
    memset(out, 0, sizeof(*out));
    CCG_TRY(read_spl(cert, AMD_OID_PREFIX "1", &has_version, &version));
    out->struct_version = has_version ? version : -1;
    CCG_TRY(read_ia5(cert, AMD_OID_PREFIX "2", out->product_name, sizeof(out->product_name)));
    CCG_TRY(read_spl(cert, AMD_OID_PREFIX "3.1", &out->has_bl, &out->tcb.bootloader));
    CCG_TRY(read_spl(cert, AMD_OID_PREFIX "3.2", &out->has_tee, &out->tcb.tee));
    CCG_TRY(read_spl(cert, AMD_OID_PREFIX "3.3", &out->has_snp, &out->tcb.snp));
    CCG_TRY(read_spl(cert, AMD_OID_PREFIX "3.8", &out->has_ucode, &out->tcb.microcode));
    CCG_TRY(read_spl(cert, AMD_OID_PREFIX "3.9", &out->has_fmc, &out->tcb.fmc));
    CCG_TRY(read_hwid(cert, out));
    CCG_TRY(read_ia5(cert, AMD_OID_PREFIX "5", out->csp_id, sizeof(out->csp_id)));
    result = CCG_SUCCESS;
cleanup:
    return result;
}
