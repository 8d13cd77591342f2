/* The software TD's certificates: a test root "ccgate test SGX Root CA", a PCK CA named like Intel's
 * "SGX PCK Platform CA", a PCK certificate with the SGX extension (built with OpenSSL's ASN.1 types),
 * and a TCB signing certificate. */
#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/ecdsa_raw.h"
#include "tdx_emu_internal.h"

#define YEAR (365 * 24 * 3600)
#define SGX_OID "1.2.840.113741.1.13.1"

static ccg_result add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    ccg_result result = CCG_FAILURE;
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    CCG_ENSURE_OSSL(ext != NULL && X509_add_ext(cert, ext, -1) == 1, CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    X509_EXTENSION_free(ext);
    return result;
}

/* SEQUENCE { OID, value } as an ASN1_TYPE holding its DER. */
static ASN1_TYPE *pair(const char *oid, ASN1_TYPE *value)
{
    STACK_OF(ASN1_TYPE) *seq = sk_ASN1_TYPE_new_null();
    ASN1_TYPE *obj = ASN1_TYPE_new();
    ASN1_TYPE *out = NULL;
    ASN1_STRING *str = NULL;
    unsigned char *der = NULL;
    int len = 0;
    if (seq == NULL || obj == NULL || value == NULL) {
        goto cleanup;
    }
    ASN1_TYPE_set(obj, V_ASN1_OBJECT, OBJ_txt2obj(oid, 1));
    sk_ASN1_TYPE_push(seq, obj);
    obj = NULL;
    sk_ASN1_TYPE_push(seq, value);
    value = NULL;
    len = i2d_ASN1_SEQUENCE_ANY(seq, &der);
    str = ASN1_STRING_new();
    out = ASN1_TYPE_new();
    if (len <= 0 || str == NULL || out == NULL || ASN1_STRING_set(str, der, len) != 1) {
        ASN1_TYPE_free(out);
        out = NULL;
        goto cleanup;
    }
    ASN1_TYPE_set(out, V_ASN1_SEQUENCE, str);
    str = NULL;
cleanup:
    ASN1_STRING_free(str);
    OPENSSL_free(der);
    ASN1_TYPE_free(obj);
    ASN1_TYPE_free(value);
    sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
    return out;
}

static ASN1_TYPE *int_value(long v)
{
    ASN1_TYPE *t = ASN1_TYPE_new();
    ASN1_INTEGER *i = ASN1_INTEGER_new();
    if (t == NULL || i == NULL || ASN1_INTEGER_set(i, v) != 1) {
        ASN1_TYPE_free(t);
        ASN1_INTEGER_free(i);
        return NULL;
    }
    ASN1_TYPE_set(t, V_ASN1_INTEGER, i);
    return t;
}

static ASN1_TYPE *octets_value(const uint8_t *p, int n)
{
    ASN1_TYPE *t = ASN1_TYPE_new();
    ASN1_OCTET_STRING *s = ASN1_OCTET_STRING_new();
    if (t == NULL || s == NULL || ASN1_OCTET_STRING_set(s, p, n) != 1) {
        ASN1_TYPE_free(t);
        ASN1_OCTET_STRING_free(s);
        return NULL;
    }
    ASN1_TYPE_set(t, V_ASN1_OCTET_STRING, s);
    return t;
}

static ASN1_TYPE *seq_value(STACK_OF(ASN1_TYPE) *items)
{
    unsigned char *der = NULL;
    int len = i2d_ASN1_SEQUENCE_ANY(items, &der);
    ASN1_TYPE *t = ASN1_TYPE_new();
    ASN1_STRING *s = ASN1_STRING_new();
    if (len <= 0 || t == NULL || s == NULL || ASN1_STRING_set(s, der, len) != 1) {
        ASN1_TYPE_free(t);
        ASN1_STRING_free(s);
        t = NULL;
    } else {
        ASN1_TYPE_set(t, V_ASN1_SEQUENCE, s);
    }
    OPENSSL_free(der);
    return t;
}

/* The SGX extension: PPID, TCB (components, PCESVN, CPUSVN), PCE-ID, FMSPC, SGX type. */
static ccg_result add_sgx_extension(X509 *cert, const ccg_tdx_emu_opts *o)
{
    ccg_result result = CCG_FAILURE;
    STACK_OF(ASN1_TYPE) *tcb = sk_ASN1_TYPE_new_null(), *top = sk_ASN1_TYPE_new_null();
    ASN1_OBJECT *oid = OBJ_txt2obj(SGX_OID, 1);
    ASN1_OCTET_STRING *data = ASN1_OCTET_STRING_new();
    X509_EXTENSION *ext = NULL;
    unsigned char *der = NULL;
    uint8_t ppid[16] = {1, 2, 3};
    char name[64];
    CCG_ENSURE_ALLOC(tcb);
    CCG_ENSURE_ALLOC(top);
    CCG_ENSURE_ALLOC(oid);
    CCG_ENSURE_ALLOC(data);
    for (int i = 1; i <= 16; i++) {
        snprintf(name, sizeof(name), SGX_OID ".2.%d", i);
        sk_ASN1_TYPE_push(tcb, pair(name, int_value(o->sgx_components[i - 1])));
    }
    sk_ASN1_TYPE_push(tcb, pair(SGX_OID ".2.17", int_value(o->pcesvn)));
    sk_ASN1_TYPE_push(tcb, pair(SGX_OID ".2.18", octets_value(o->sgx_components, 16)));
    sk_ASN1_TYPE_push(top, pair(SGX_OID ".1", octets_value(ppid, 16)));
    sk_ASN1_TYPE_push(top, pair(SGX_OID ".2", seq_value(tcb)));
    sk_ASN1_TYPE_push(top, pair(SGX_OID ".3", octets_value(o->pce_id, 2)));
    if (!o->omit_fmspc) {
        sk_ASN1_TYPE_push(top, pair(SGX_OID ".4", octets_value(o->fmspc, 6)));
    }
    CCG_ENSURE(sk_ASN1_TYPE_num(tcb) == 18 && sk_ASN1_TYPE_num(top) == 4 - o->omit_fmspc, CCG_R_INTERNAL_CRYPTO);
    int len = i2d_ASN1_SEQUENCE_ANY(top, &der);
    CCG_ENSURE_OSSL(len > 0 && ASN1_OCTET_STRING_set(data, der, len) == 1, CCG_R_INTERNAL_CRYPTO);
    ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, data);
    CCG_ENSURE_OSSL(ext != NULL && X509_add_ext(cert, ext, -1) == 1, CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    OPENSSL_free(der);
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(data);
    ASN1_OBJECT_free(oid);
    sk_ASN1_TYPE_pop_free(tcb, ASN1_TYPE_free);
    sk_ASN1_TYPE_pop_free(top, ASN1_TYPE_free);
    return result;
}

static ccg_result make_cert(X509 **out, const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, int ca,
                            ccg_time not_before, ccg_time not_after, long serial)
{
    ccg_result result = CCG_FAILURE;
    X509 *cert = X509_new();
    X509_NAME *name = X509_NAME_new();
    CCG_ENSURE_ALLOC(cert);
    CCG_ENSURE_ALLOC(name);
    CCG_ENSURE_OSSL(X509_set_version(cert, 2) == 1 && ASN1_INTEGER_set(X509_get_serialNumber(cert), serial) == 1 &&
                        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) == 1 &&
                        X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"ccgate test", -1,
                                                   -1, 0) == 1 &&
                        X509_set_subject_name(cert, name) == 1 &&
                        X509_set_issuer_name(cert, issuer != NULL ? X509_get_subject_name(issuer) : name) == 1 &&
                        ASN1_TIME_set(X509_getm_notBefore(cert), (time_t)not_before) != NULL &&
                        ASN1_TIME_set(X509_getm_notAfter(cert), (time_t)not_after) != NULL &&
                        X509_set_pubkey(cert, key) == 1,
                    CCG_R_INTERNAL_CRYPTO);
    X509 *iss = issuer != NULL ? issuer : cert;
    CCG_TRY(add_ext(cert, iss, NID_subject_key_identifier, "hash"));
    CCG_TRY(add_ext(cert, iss, NID_authority_key_identifier, "keyid:always"));
    CCG_TRY(add_ext(cert, iss, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE"));
    CCG_TRY(add_ext(cert, iss, NID_key_usage, ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature,nonRepudiation"));
    *out = cert;
    cert = NULL;
    result = CCG_SUCCESS;
cleanup:
    X509_NAME_free(name);
    X509_free(cert);
    (void)issuer_key;
    return result;
}

ccg_result tdx_emu_make_certs(struct ccg_tdx_emu *e)
{
    ccg_result result = CCG_FAILURE;
    const ccg_tdx_emu_opts *o = &e->opts;
    ccg_time nb = o->now - YEAR, na = o->now + YEAR;
    ccg_time pnb = o->pck_validity > 0 ? o->now + 3600 : nb;
    ccg_time pna = o->pck_validity < 0 ? o->now - 3600 : na;
    CCG_TRY(make_cert(&e->root, "ccgate test SGX Root CA", e->root_key, NULL, e->root_key, 1, nb, na, 1));
    CCG_ENSURE_OSSL(X509_sign(e->root, e->root_key, EVP_sha256()) > 0, CCG_R_INTERNAL_CRYPTO);
    CCG_TRY(make_cert(&e->ca, "ccgate test SGX PCK Platform CA", e->ca_key, e->root, e->root_key, 1, nb, na, 2));
    CCG_ENSURE_OSSL(X509_sign(e->ca, e->root_key, EVP_sha256()) > 0, CCG_R_INTERNAL_CRYPTO);
    CCG_TRY(make_cert(&e->tcb, "ccgate test SGX TCB Signing", e->tcb_key, e->root, e->root_key, 0, nb, na, 3));
    CCG_ENSURE_OSSL(X509_sign(e->tcb, e->root_key, EVP_sha256()) > 0, CCG_R_INTERNAL_CRYPTO);
    CCG_TRY(make_cert(&e->pck, o->pck_cn_wrong ? "ccgate test platform key" : "ccgate test SGX PCK Certificate",
                      e->pck_key, e->ca, e->ca_key, 0, pnb, pna, 4));
    if (!o->omit_sgx_extension) {
        CCG_TRY(add_sgx_extension(e->pck, o));
    }
    CCG_ENSURE_OSSL(X509_sign(e->pck, e->ca_key, EVP_sha256()) > 0, CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result tdx_emu_sign_raw(EVP_PKEY *key, const uint8_t *msg, size_t len, uint8_t *raw, size_t half)
{
    ccg_result result = CCG_FAILURE;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t der[160];
    size_t der_len = sizeof(der);
    CCG_ENSURE_ALLOC(ctx);
    CCG_ENSURE_OSSL(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
                        EVP_DigestSign(ctx, der, &der_len, msg, len) == 1,
                    CCG_R_INTERNAL_CRYPTO);
    CCG_TRY(ccg_ecdsa_der_to_raw(der, der_len, half, raw));
    result = CCG_SUCCESS;
cleanup:
    EVP_MD_CTX_free(ctx);
    return result;
}

char *tdx_emu_pem(X509 *const *certs, int n)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *out = NULL, *data = NULL;
    long len = 0;
    for (int i = 0; bio != NULL && i < n; i++) {
        if (PEM_write_bio_X509(bio, certs[i]) != 1) {
            goto cleanup;
        }
    }
    len = bio != NULL ? BIO_get_mem_data(bio, &data) : 0;
    out = len > 0 ? malloc((size_t)len + 1) : NULL;
    if (out != NULL) {
        memcpy(out, data, (size_t)len);
        out[len] = '\0';
    }
cleanup:
    BIO_free(bio);
    return out;
}
