/* The emulator's certificate chain: ARK (self-signed) -> ASK/ASVK -> VCEK/VLEK, named like AMD's and
 * signed with RSA-PSS SHA-384; the endorsement key carries AMD's SPL, productName and hwID extensions. */
#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "snp_emulator_internal.h"

#define AMD_OID(suffix) "1.3.6.1.4.1.3704.1." suffix
/* AMD's ARKs and ASKs are RSA-4096; 2048 bits keeps key generation fast enough under ASan. */
#define EMU_RSA_BITS 2048u

typedef struct {
    const char *cn;
    EVP_PKEY *subject_key;
    X509 *issuer; /* NULL: self-signed */
    EVP_PKEY *issuer_key;
    ccg_snp_emu_validity validity;
} cert_spec;

ccg_result snp_emu_set_time(ASN1_TIME *t, ccg_time when)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_OSSL(ASN1_TIME_set(t, (time_t)when) != NULL, CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result snp_emu_pss_init(EVP_MD_CTX *md, EVP_PKEY *key)
{
    ccg_result result = CCG_FAILURE;
    EVP_PKEY_CTX *pctx = NULL; /* owned by md */
    CCG_ENSURE_OSSL(EVP_DigestSignInit_ex(md, &pctx, "SHA384", NULL, NULL, key, NULL) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 48) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha384()) == 1, CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result set_amd_name(X509_NAME *name, const char *cn)
{
    static const char *const fields[][2] = {
        {"OU", "Engineering"}, {"C", "US"}, {"L", "Santa Clara"}, {"ST", "CA"}, {"O", "Advanced Micro Devices"},
    };
    ccg_result result = CCG_FAILURE;
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        CCG_ENSURE_OSSL(X509_NAME_add_entry_by_txt(name, fields[i][0], MBSTRING_ASC,
                                                   (const unsigned char *)fields[i][1], -1, -1, 0) == 1,
                        CCG_R_INTERNAL_CRYPTO);
    }
    CCG_ENSURE_OSSL(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) == 1,
                    CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* A random positive 64-bit serial, so two emulators' certificates never share one (CRL tests). */
static ccg_result set_random_serial(X509 *cert)
{
    ccg_result result = CCG_FAILURE;
    BIGNUM *bn = BN_new();
    CCG_ENSURE_ALLOC(bn);
    CCG_ENSURE_OSSL(BN_rand(bn, 63, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL, CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    BN_free(bn);
    return result;
}

static ccg_result set_validity(X509 *cert, ccg_snp_emu_validity v)
{
    ccg_result result = CCG_FAILURE;
    if (v.not_before == 0 && v.not_after == 0) {
        v.not_before = CCG_SNP_EMU_DEFAULT_NOT_BEFORE;
        v.not_after = CCG_SNP_EMU_DEFAULT_NOT_AFTER;
    }
    CCG_TRY(snp_emu_set_time(X509_getm_notBefore(cert), v.not_before));
    CCG_TRY(snp_emu_set_time(X509_getm_notAfter(cert), v.not_after));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* An unsigned certificate with names, serial, validity and key; extensions come next. */
static ccg_result new_cert(const cert_spec *s, X509 **out)
{
    ccg_result result = CCG_FAILURE;
    X509 *cert = X509_new();
    CCG_ENSURE_ALLOC(cert);
    CCG_ENSURE_OSSL(X509_set_version(cert, X509_VERSION_3) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_TRY(set_random_serial(cert));
    CCG_TRY(set_amd_name(X509_get_subject_name(cert), s->cn));
    CCG_ENSURE_OSSL(X509_set_issuer_name(cert, s->issuer ? X509_get_subject_name(s->issuer)
                                                         : X509_get_subject_name(cert)) == 1,
                    CCG_R_INTERNAL_CRYPTO);
    CCG_TRY(set_validity(cert, s->validity));
    CCG_ENSURE_OSSL(X509_set_pubkey(cert, s->subject_key) == 1, CCG_R_INTERNAL_CRYPTO);
    *out = cert;
    cert = NULL;
    result = CCG_SUCCESS;
cleanup:
    X509_free(cert);
    return result;
}

static ccg_result sign_cert(X509 *cert, EVP_PKEY *issuer_key)
{
    ccg_result result = CCG_FAILURE;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    CCG_ENSURE_ALLOC(md);
    CCG_TRY(snp_emu_pss_init(md, issuer_key));
    CCG_ENSURE_OSSL(X509_sign_ctx(cert, md) > 0, CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    EVP_MD_CTX_free(md);
    return result;
}

/* A standard extension from its OpenSSL config text (basicConstraints, keyUsage, key identifiers). */
static ccg_result add_std_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    ccg_result result = CCG_FAILURE;
    X509V3_CTX ctx;
    X509_EXTENSION *ext = NULL;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer : cert, cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    CCG_ENSURE_OSSL(ext != NULL && X509_add_ext(cert, ext, -1) == 1, CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    X509_EXTENSION_free(ext);
    return result;
}

/* An AMD extension whose extnValue is exactly `value` (already DER, or raw bytes for hwID). */
static ccg_result add_raw_ext(X509 *cert, const char *oid, const unsigned char *value, int len)
{
    ccg_result result = CCG_FAILURE;
    ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    X509_EXTENSION *ext = NULL;
    CCG_ENSURE_OSSL(obj != NULL && os != NULL, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(ASN1_OCTET_STRING_set(os, value, len) == 1, CCG_R_INTERNAL_CRYPTO);
    ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os);
    CCG_ENSURE_OSSL(ext != NULL && X509_add_ext(cert, ext, -1) == 1, CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(os);
    ASN1_OBJECT_free(obj);
    return result;
}

static ccg_result add_int_ext(X509 *cert, const char *oid, int64_t value)
{
    ccg_result result = CCG_FAILURE;
    ASN1_INTEGER *n = ASN1_INTEGER_new();
    unsigned char *der = NULL;
    int len;
    CCG_ENSURE_ALLOC(n);
    CCG_ENSURE_OSSL(ASN1_INTEGER_set_int64(n, value) == 1, CCG_R_INTERNAL_CRYPTO);
    len = i2d_ASN1_INTEGER(n, &der);
    CCG_ENSURE_OSSL(len > 0, CCG_R_INTERNAL_CRYPTO);
    CCG_TRY(add_raw_ext(cert, oid, der, len));
    result = CCG_SUCCESS;
cleanup:
    OPENSSL_free(der);
    ASN1_INTEGER_free(n);
    return result;
}

static ccg_result add_ia5_ext(X509 *cert, const char *oid, const char *text)
{
    ccg_result result = CCG_FAILURE;
    ASN1_IA5STRING *s = ASN1_IA5STRING_new();
    unsigned char *der = NULL;
    int len;
    CCG_ENSURE_ALLOC(s);
    CCG_ENSURE_OSSL(ASN1_STRING_set(s, text, -1) == 1, CCG_R_INTERNAL_CRYPTO);
    len = i2d_ASN1_IA5STRING(s, &der);
    CCG_ENSURE_OSSL(len > 0, CCG_R_INTERNAL_CRYPTO);
    CCG_TRY(add_raw_ext(cert, oid, der, len));
    result = CCG_SUCCESS;
cleanup:
    OPENSSL_free(der);
    ASN1_IA5STRING_free(s);
    return result;
}

static const char *vcek_product_name(ccg_snp_product p)
{
    switch (p) {
    case CCG_SNP_PRODUCT_MILAN: return "Milan-B0";
    case CCG_SNP_PRODUCT_GENOA: return "Genoa";
    case CCG_SNP_PRODUCT_TURIN: return "Turin-B0";
    case CCG_SNP_PRODUCT_UNKNOWN: break;
    }
    return "unknown";
}

static ccg_result add_amd_exts(X509 *cert, const ccg_snp_emulator_config *cfg)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(add_int_ext(cert, AMD_OID("1"), 0)); /* structVersion, 0 on AMD's VCEKs and VLEKs */
    CCG_TRY(add_ia5_ext(cert, AMD_OID("2"), vcek_product_name(cfg->product)));
    CCG_TRY(add_int_ext(cert, AMD_OID("3.1"), cfg->tcb.bootloader));
    CCG_TRY(add_int_ext(cert, AMD_OID("3.2"), cfg->tcb.tee));
    CCG_TRY(add_int_ext(cert, AMD_OID("3.3"), cfg->tcb.snp));
    CCG_TRY(add_int_ext(cert, AMD_OID("3.8"), cfg->tcb.microcode));
    if (cfg->product == CCG_SNP_PRODUCT_TURIN) {
        CCG_TRY(add_int_ext(cert, AMD_OID("3.9"), cfg->tcb.fmc));
    }
    if (cfg->signer == CCG_SNP_SIGNER_VCEK) {
        /* AMD's hwID is the raw chip ID as the extension value, not wrapped in an OCTET STRING. */
        CCG_TRY(add_raw_ext(cert, AMD_OID("4"), cfg->chip_id, (int)ccg_snp_hwid_len(cfg->product)));
    } else {
        CCG_TRY(add_ia5_ext(cert, AMD_OID("5"), "ccgate-emulator")); /* cspID names the cloud provider */
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result issue(const cert_spec *s, int is_ca, X509 **out)
{
    ccg_result result = CCG_FAILURE;
    X509 *cert = NULL;
    CCG_TRY(new_cert(s, &cert));
    if (is_ca) {
        CCG_TRY(add_std_ext(cert, s->issuer, NID_subject_key_identifier, "hash"));
        if (s->issuer != NULL) {
            CCG_TRY(add_std_ext(cert, s->issuer, NID_authority_key_identifier, "keyid:always"));
        }
        CCG_TRY(add_std_ext(cert, s->issuer, NID_basic_constraints,
                            s->issuer ? "critical,CA:TRUE,pathlen:0" : "critical,CA:TRUE"));
        CCG_TRY(add_std_ext(cert, s->issuer, NID_key_usage,
                            s->issuer ? "critical,keyCertSign" : "critical,keyCertSign,cRLSign"));
    }
    *out = cert;
    cert = NULL;
    result = CCG_SUCCESS;
cleanup:
    X509_free(cert);
    return result;
}

/* leaf_cfg: the config whose AMD extensions the endorsement key carries; NULL for the ARK and ASK. */
static ccg_result issue_signed(const cert_spec *s, int is_ca, const ccg_snp_emulator_config *leaf_cfg, X509 **out)
{
    ccg_result result = CCG_FAILURE;
    X509 *cert = NULL;
    CCG_TRY(issue(s, is_ca, &cert));
    if (leaf_cfg != NULL) {
        CCG_TRY(add_amd_exts(cert, leaf_cfg));
    }
    CCG_TRY(sign_cert(cert, s->issuer_key));
    *out = cert;
    cert = NULL;
    result = CCG_SUCCESS;
cleanup:
    X509_free(cert);
    return result;
}

static ccg_result generate_keys(ccg_snp_emulator *emu)
{
    ccg_result result = CCG_FAILURE;
    emu->ark_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)EMU_RSA_BITS);
    CCG_ENSURE_OSSL(emu->ark_key != NULL, CCG_R_INTERNAL_CRYPTO);
    emu->ask_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)EMU_RSA_BITS);
    CCG_ENSURE_OSSL(emu->ask_key != NULL, CCG_R_INTERNAL_CRYPTO);
    emu->leaf_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    CCG_ENSURE_OSSL(emu->leaf_key != NULL, CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result snp_emu_issue_chain(ccg_snp_emulator *emu)
{
    ccg_result result = CCG_FAILURE;
    const char *product = ccg_snp_product_name(emu->cfg.product);
    int vlek = emu->cfg.signer == CCG_SNP_SIGNER_VLEK;
    char ark_cn[32], ask_cn[32];
    cert_spec spec;
    snprintf(ark_cn, sizeof(ark_cn), "ARK-%s", product);
    snprintf(ask_cn, sizeof(ask_cn), vlek ? "SEV-VLEK-%s" : "SEV-%s", product);
    CCG_TRY(generate_keys(emu));
    spec = (cert_spec){ark_cn, emu->ark_key, NULL, emu->ark_key, {0, 0}};
    CCG_TRY(issue_signed(&spec, 1, NULL, &emu->ark));
    spec = (cert_spec){ask_cn, emu->ask_key, emu->ark, emu->ark_key, emu->cfg.ask};
    CCG_TRY(issue_signed(&spec, 1, NULL, &emu->ask));
    spec = (cert_spec){vlek ? "SEV-VLEK" : "SEV-VCEK", emu->leaf_key, emu->ask, emu->ask_key, emu->cfg.key};
    CCG_TRY(issue_signed(&spec, 0, &emu->cfg, &emu->leaf));
    result = CCG_SUCCESS;
cleanup:
    return result;
}
