/* The software GPU's device certificate chain: five P-384 certificates shaped like NVIDIA's (leaf
 * "GSP FMC LF" with the FWID extension, BROM, provisioner ICA, identity CA, root), every name marked
 * TEST. The identity CA's name starts "NVIDIA GH"/"NVIDIA GB" because the verifier reads the
 * architecture from it; only the root, which no verifier trusts unless told, makes a chain valid. */
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_emu_internal.h"

#define FWID_DER_LEN 63   /* SEQUENCE { OID sha384, OCTET STRING (48) } */

#define OID_FWID_HOPPER "2.23.133.5.4.1"
#define OID_FWID_DICE "2.23.133.5.4.1.1"

static const char *const hopper_names[CCG_GPU_EMU_CERTS] = {
    "ccgate TEST GH100 A01 GSP FMC LF", "ccgate TEST GH100 A01 GSP BROM", "ccgate TEST GH100 Provisioner ICA",
    "NVIDIA GH100 Identity (ccgate TEST)", "ccgate TEST GPU Root (software GPU, not NVIDIA)"};
static const char *const blackwell_names[CCG_GPU_EMU_CERTS] = {
    "ccgate TEST GB100 A01 GSP FMC LF", "ccgate TEST GB100 A01 GSP BROM", "ccgate TEST GB100 Provisioner ICA",
    "NVIDIA GB100 Identity (ccgate TEST)", "ccgate TEST GPU Root (software GPU, not NVIDIA)"};

/* The DER content octets of OID sha384 (2.16.840.1.101.3.4.2.2). */
static const uint8_t sha384_oid[] = {0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02};

void ccg_gpu_emu_chain_opts_init(ccg_gpu_emu_chain_opts *o, ccg_gpu_arch arch, const uint8_t fwid[CCG_GPU_FWID_SIZE])
{
    memset(o, 0, sizeof(*o));
    o->arch = arch;
    o->fwid_form = arch == CCG_GPU_ARCH_BLACKWELL ? CCG_GPU_EMU_FWID_DICE : CCG_GPU_EMU_FWID_HOPPER;
    if (fwid != NULL) {
        memcpy(o->fwid, fwid, CCG_GPU_FWID_SIZE);
    }
}

/* FWID ::= SEQUENCE { hashAlg, digest }: 63 bytes. */
static size_t put_fwid(uint8_t *p, const uint8_t fwid[CCG_GPU_FWID_SIZE], int sha256_oid)
{
    size_t n = 0;
    p[n++] = 0x30;
    p[n++] = FWID_DER_LEN - 2;
    memcpy(p + n, sha384_oid, sizeof(sha384_oid));
    n += sizeof(sha384_oid);
    if (sha256_oid) {
        p[n - 1] = 0x01; /* 2.16.840.1.101.3.4.2.1 */
    }
    p[n++] = 0x04;
    p[n++] = CCG_GPU_FWID_SIZE;
    memcpy(p + n, fwid, CCG_GPU_FWID_SIZE);
    return n + CCG_GPU_FWID_SIZE;
}

/* Hopper: SEQUENCE { INTEGER 1, FWID }. DICE: SEQUENCE { [0] "NVIDIA", [6] { FWID, FWID(0) }, [9] 0x00 }. */
static size_t fwid_extension(const ccg_gpu_emu_chain_opts *o, uint8_t *p)
{
    static const uint8_t zero[CCG_GPU_FWID_SIZE] = {0};
    size_t n = 0;
    if (o->fwid_form == CCG_GPU_EMU_FWID_HOPPER) {
        p[n++] = 0x30;
        p[n++] = 3 + FWID_DER_LEN;
        p[n++] = 0x02;
        p[n++] = 0x01;
        p[n++] = 0x01;
        return n + put_fwid(p + n, o->fwid, o->fwid_sha256_oid);
    }
    p[n++] = 0x30;
    p[n++] = 0x81;
    p[n++] = 8 + 2 + 2 * FWID_DER_LEN + 3;
    p[n++] = 0x80;
    p[n++] = 6;
    memcpy(p + n, "NVIDIA", 6);
    n += 6;
    p[n++] = 0xa6;
    p[n++] = 2 * FWID_DER_LEN;
    n += put_fwid(p + n, o->fwid, o->fwid_sha256_oid);
    n += put_fwid(p + n, zero, o->fwid_sha256_oid);
    p[n++] = 0x89;
    p[n++] = 0x01;
    p[n++] = 0x00;
    return n;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    int ok = ext != NULL && X509_add_ext(cert, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

static int add_fwid(X509 *cert, const ccg_gpu_emu_chain_opts *o)
{
    uint8_t der[256];
    size_t n = fwid_extension(o, der);
    ASN1_OBJECT *oid = OBJ_txt2obj(o->fwid_form == CCG_GPU_EMU_FWID_HOPPER ? OID_FWID_HOPPER : OID_FWID_DICE, 1);
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    X509_EXTENSION *ext = NULL;
    int ok = oid != NULL && os != NULL && ASN1_OCTET_STRING_set(os, der, (int)n) == 1 &&
             (ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, os)) != NULL && X509_add_ext(cert, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(os);
    ASN1_OBJECT_free(oid);
    return ok;
}

static int set_names(X509 *c, const char *cn, X509 *issuer)
{
    X509_NAME *name = X509_NAME_new();
    int ok = name != NULL &&
             X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) == 1 &&
             X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"ccgate TEST", -1, -1, 0) ==
                 1 &&
             X509_set_subject_name(c, name) == 1 &&
             X509_set_issuer_name(c, issuer != NULL ? X509_get_subject_name(issuer) : name) == 1;
    X509_NAME_free(name);
    return ok;
}

X509 *gpu_emu_cert(const gpu_emu_cert_spec *s, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key)
{
    X509 *c = X509_new();
    int ok = c != NULL && X509_set_version(c, 2) == 1 && ASN1_INTEGER_set(X509_get_serialNumber(c), s->serial) == 1 &&
             set_names(c, s->cn, issuer) && ASN1_TIME_set(X509_getm_notBefore(c), (time_t)s->not_before) != NULL &&
             ASN1_TIME_set(X509_getm_notAfter(c), (time_t)s->not_after) != NULL && X509_set_pubkey(c, key) == 1;
    X509 *iss = issuer != NULL ? issuer : c;
    if (ok && s->ca) {
        ok = add_ext(c, iss, NID_basic_constraints, "critical,CA:TRUE") &&
             add_ext(c, iss, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else if (ok) {
        ok = add_ext(c, iss, NID_basic_constraints, "critical,CA:FALSE") &&
             add_ext(c, iss, NID_key_usage, "critical,digitalSignature") &&
             (s->fwid == NULL || s->fwid->fwid_form == CCG_GPU_EMU_FWID_NONE || add_fwid(c, s->fwid)) &&
             (s->fwid == NULL || !s->fwid->fwid_twice || add_fwid(c, s->fwid));
    }
    ok = ok && add_ext(c, iss, NID_subject_key_identifier, "hash") &&
         (issuer == NULL || s->no_aki || add_ext(c, iss, NID_authority_key_identifier, "keyid:always")) &&
         X509_sign(c, issuer_key != NULL ? issuer_key : key, EVP_sha384()) > 0;
    if (!ok) {
        X509_free(c);
        return NULL;
    }
    return c;
}

static X509 *chain_cert(const ccg_gpu_emu_chain_opts *o, int i, const char *cn, EVP_PKEY *key, X509 *issuer,
                        EVP_PKEY *issuer_key)
{
    gpu_emu_cert_spec s = {
        .cn = cn,
        .serial = i == 0 && o->leaf_serial > 0 ? o->leaf_serial : 1000 + i,
        .not_before = o->not_before[i] ? o->not_before[i] : GPU_EMU_T_2022,
        .not_after = o->not_after[i] ? o->not_after[i] : GPU_EMU_T_2040,
        .ca = i > 0,
        .no_aki = o->no_aki,
        .fwid = i == 0 ? o : NULL,
    };
    return gpu_emu_cert(&s, key, issuer, issuer_key);
}

ccg_result ccg_gpu_emu_chain_make(const ccg_gpu_emu_chain_opts *o, ccg_gpu_emu_chain *out)
{
    ccg_result result = CCG_FAILURE;
    const char *const *names = o->arch == CCG_GPU_ARCH_BLACKWELL ? blackwell_names : hopper_names;
    memset(out, 0, sizeof(*out));
    for (int i = CCG_GPU_EMU_CERTS - 1; i >= 0; i--) {
        const char *cn = i == 3 && o->identity_cn != NULL ? o->identity_cn : names[i];
        out->keys[i] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", (i == 0 && o->leaf_p256) ? "P-256" : "P-384");
        CCG_ENSURE_OSSL(out->keys[i] != NULL, CCG_R_INTERNAL_CRYPTO);
        X509 *issuer = i == CCG_GPU_EMU_CERTS - 1 ? NULL : out->certs[i + 1];
        EVP_PKEY *issuer_key = i == CCG_GPU_EMU_CERTS - 1 ? out->keys[i] : out->keys[i + 1];
        out->certs[i] = chain_cert(o, i, cn, out->keys[i], issuer, issuer_key);
        CCG_ENSURE_OSSL(out->certs[i] != NULL, CCG_R_INTERNAL_CRYPTO);
    }
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        ccg_gpu_emu_chain_free(out);
    }
    return result;
}

void ccg_gpu_emu_chain_free(ccg_gpu_emu_chain *c)
{
    for (int i = 0; i < CCG_GPU_EMU_CERTS; i++) {
        X509_free(c->certs[i]);
        EVP_PKEY_free(c->keys[i]);
    }
    memset(c, 0, sizeof(*c));
}

ccg_result ccg_gpu_emu_certs_pem(X509 *const *certs, const int *order, int n, char **out, size_t *len)
{
    ccg_result result = CCG_FAILURE;
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    *out = NULL;
    CCG_ENSURE_ALLOC(bio);
    for (int i = 0; i < n; i++) {
        CCG_ENSURE_OSSL(PEM_write_bio_X509(bio, certs[order[i]]) == 1, CCG_R_INTERNAL_CRYPTO);
    }
    long size = BIO_get_mem_data(bio, &data);
    CCG_ENSURE_OSSL(size >= 0, CCG_R_INTERNAL_CRYPTO);
    *out = malloc((size_t)size + 1);
    CCG_ENSURE_ALLOC(*out);
    if (size > 0) {
        memcpy(*out, data, (size_t)size);
    }
    (*out)[size] = '\0';
    *len = (size_t)size;
    result = CCG_SUCCESS;
cleanup:
    BIO_free(bio);
    return result;
}
