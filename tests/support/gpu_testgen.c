/* Test-only GPU evidence generator (see gpu_testgen.h). */
#include "gpu_testgen.h"

#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/ecdsa_raw.h"
#include "ccgate/gpu_evidence.h"

#define T_2022 1640995200 /* 2022-01-01T00:00:00Z */
#define T_2040 2208988800 /* 2040-01-01T00:00:00Z */

static const char *const subjects[GT_CERTS] = {
    "Test GH100 A01 GSP FMC LF", "Test GH100 A01 GSP BROM", "Test GH100 Provisioner ICA", NULL, "Test GPU Root"};

/* The DER content octets of OID sha384 (2.16.840.1.101.3.4.2.2). */
static const uint8_t sha384_oid[] = {0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02};
static int use_sha256_oid;

void gt_chain_opts_default(gt_chain_opts *o, const uint8_t fwid[48])
{
    memset(o, 0, sizeof(*o));
    o->fwid_form = GT_FWID_HOPPER;
    if (fwid != NULL) {
        memcpy(o->fwid, fwid, 48);
    }
}

/* FWID ::= SEQUENCE { sha384, OCTET STRING (48) }: 63 bytes. */
static size_t put_fwid(uint8_t *p, const uint8_t fwid[48])
{
    size_t n = 0;
    p[n++] = 0x30;
    p[n++] = 0x3d;
    memcpy(p + n, sha384_oid, sizeof(sha384_oid));
    n += sizeof(sha384_oid);
    if (use_sha256_oid) {
        p[n - 1] = 0x01; /* 2.16.840.1.101.3.4.2.1 */
    }
    p[n++] = 0x04;
    p[n++] = 0x30;
    memcpy(p + n, fwid, 48);
    return n + 48;
}

/* Hopper: SEQUENCE { INTEGER 1, FWID }. DICE: SEQUENCE { [0] "NVIDIA", [6] { FWID, FWID(0) }, [9] 0x00 }. */
static size_t fwid_extension(int form, const uint8_t fwid[48], uint8_t *p)
{
    static const uint8_t zero[48] = {0};
    size_t n = 0;
    if (form == GT_FWID_HOPPER) {
        p[n++] = 0x30;
        p[n++] = 3 + 63;
        p[n++] = 0x02;
        p[n++] = 0x01;
        p[n++] = 0x01;
        return n + put_fwid(p + n, fwid);
    }
    p[n++] = 0x30;
    p[n++] = 0x81;
    p[n++] = 8 + 2 + 126 + 3;
    p[n++] = 0x80;
    p[n++] = 6;
    memcpy(p + n, "NVIDIA", 6);
    n += 6;
    p[n++] = 0xa6;
    p[n++] = 126;
    n += put_fwid(p + n, fwid);
    n += put_fwid(p + n, zero);
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

static int add_fwid(X509 *cert, const gt_chain_opts *o)
{
    uint8_t der[256];
    use_sha256_oid = o->fwid_sha256_oid;
    size_t n = fwid_extension(o->fwid_form, o->fwid, der);
    ASN1_OBJECT *oid = OBJ_txt2obj(o->fwid_form == GT_FWID_HOPPER ? "2.23.133.5.4.1" : "2.23.133.5.4.1.1", 1);
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    X509_EXTENSION *ext = NULL;
    int ok = oid != NULL && os != NULL && ASN1_OCTET_STRING_set(os, der, (int)n) == 1 &&
             (ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, os)) != NULL && X509_add_ext(cert, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(os);
    ASN1_OBJECT_free(oid);
    return ok;
}

static X509 *make_cert(const gt_chain_opts *o, int i, const char *cn, EVP_PKEY *key, X509 *issuer,
                       EVP_PKEY *issuer_key)
{
    X509 *c = X509_new();
    X509_NAME *name = X509_NAME_new();
    int ok = c != NULL && name != NULL && X509_set_version(c, 2) == 1 &&
             ASN1_INTEGER_set(X509_get_serialNumber(c), 1000 + i) == 1 &&
             X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) == 1 &&
             X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"ccgate test", -1, -1, 0) ==
                 1 &&
             X509_set_subject_name(c, name) == 1 &&
             X509_set_issuer_name(c, issuer != NULL ? X509_get_subject_name(issuer) : name) == 1 &&
             ASN1_TIME_set(X509_getm_notBefore(c), (time_t)(o->not_before[i] ? o->not_before[i] : T_2022)) != NULL &&
             ASN1_TIME_set(X509_getm_notAfter(c), (time_t)(o->not_after[i] ? o->not_after[i] : T_2040)) != NULL &&
             X509_set_pubkey(c, key) == 1;
    X509 *iss = issuer != NULL ? issuer : c;
    if (ok && i > 0) {
        ok = add_ext(c, iss, NID_basic_constraints, "critical,CA:TRUE") &&
             add_ext(c, iss, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else if (ok) {
        ok = add_ext(c, iss, NID_basic_constraints, "critical,CA:FALSE") &&
             add_ext(c, iss, NID_key_usage, "critical,digitalSignature") &&
             (o->fwid_form == GT_FWID_NONE || add_fwid(c, o)) && (!o->fwid_twice || add_fwid(c, o));
    }
    ok = ok && add_ext(c, iss, NID_subject_key_identifier, "hash") &&
         (issuer == NULL || o->no_aki || add_ext(c, iss, NID_authority_key_identifier, "keyid:always")) &&
         X509_sign(c, issuer_key, EVP_sha384()) > 0;
    X509_NAME_free(name);
    if (!ok) {
        X509_free(c);
        return NULL;
    }
    return c;
}

int gt_chain_make(const gt_chain_opts *o, gt_chain *out)
{
    memset(out, 0, sizeof(*out));
    for (int i = GT_CERTS - 1; i >= 0; i--) {
        const char *cn = subjects[i] != NULL ? subjects[i] : (o->identity_cn ? o->identity_cn : "NVIDIA GH100 Identity");
        out->keys[i] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", (i == 0 && o->leaf_p256) ? "P-256" : "P-384");
        if (out->keys[i] == NULL) {
            return -1;
        }
        X509 *issuer = i == GT_CERTS - 1 ? NULL : out->certs[i + 1];
        EVP_PKEY *issuer_key = i == GT_CERTS - 1 ? out->keys[i] : out->keys[i + 1];
        out->certs[i] = make_cert(o, i, cn, out->keys[i], issuer, issuer_key);
        if (out->certs[i] == NULL) {
            return -1;
        }
    }
    return 0;
}

void gt_chain_free(gt_chain *c)
{
    for (int i = 0; i < GT_CERTS; i++) {
        X509_free(c->certs[i]);
        EVP_PKEY_free(c->keys[i]);
    }
    memset(c, 0, sizeof(*c));
}

char *gt_chain_pem(const gt_chain *c, const int *order, int n, size_t *len)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL, *out = NULL;
    long size;
    for (int i = 0; bio != NULL && i < n; i++) {
        if (PEM_write_bio_X509(bio, c->certs[order[i]]) != 1) {
            BIO_free(bio);
            return NULL;
        }
    }
    size = bio != NULL ? BIO_get_mem_data(bio, &data) : -1;
    if (size >= 0 && (out = malloc((size_t)size + 1)) != NULL) {
        memcpy(out, data, (size_t)size);
        out[size] = '\0';
        *len = (size_t)size;
    }
    BIO_free(bio);
    return out;
}

char *gt_chain_pem_all(const gt_chain *c, size_t *len)
{
    static const int all[GT_CERTS] = {0, 1, 2, 3, 4};
    return gt_chain_pem(c, all, GT_CERTS, len);
}

void gt_opaque_add(gt_report *r, uint16_t type, const void *value, uint16_t len)
{
    uint8_t *p = r->opaque + r->opaque_len;
    if (r->opaque_len + 4u + len > sizeof(r->opaque)) {
        abort();
    }
    p[0] = (uint8_t)(type & 0xff);
    p[1] = (uint8_t)(type >> 8);
    p[2] = (uint8_t)(len & 0xff);
    p[3] = (uint8_t)(len >> 8);
    if (len > 0) {
        memcpy(p + 4, value, len);
    }
    r->opaque_len += 4u + len;
}

void gt_report_default(gt_report *r, const uint8_t *fwid)
{
    static const uint8_t vbios[8] = {0x00, 0x9f, 0x00, 0x96, 0x01, 0x00, 0x00, 0x00};
    static const uint8_t nvdec0 = 0xAA;
    memset(r, 0, sizeof(*r));
    for (int i = 0; i < 32; i++) {
        r->nonce[i] = (uint8_t)i;
        r->response_nonce[i] = (uint8_t)(0xA0 + i);
    }
    r->n_blocks = 8;
    r->value_len = 48;
    gt_opaque_add(r, CCG_GPU_OPAQUE_VBIOS_VERSION, vbios, sizeof(vbios));
    gt_opaque_add(r, CCG_GPU_OPAQUE_CHIP_SKU, "882\0\0\0\0\0", 9);
    gt_opaque_add(r, CCG_GPU_OPAQUE_PROJECT, "1010", 5);
    gt_opaque_add(r, CCG_GPU_OPAQUE_PROJECT_SKU, "0200", 5);
    gt_opaque_add(r, CCG_GPU_OPAQUE_DRIVER_VERSION, "550.90.07", 10);
    gt_opaque_add(r, CCG_GPU_OPAQUE_NVDEC0_STATUS, &nvdec0, 1);
    if (fwid != NULL) {
        gt_opaque_add(r, CCG_GPU_OPAQUE_FWID, fwid, 48);
    }
}

size_t gt_report_opaque_len_offset(const gt_report *r)
{
    return GT_OFF_RECORD + (size_t)r->n_blocks * GT_BLOCK_SIZE(r->value_len) + 32;
}

uint8_t *gt_report_build(const gt_report *r, size_t *len)
{
    size_t record = (size_t)r->n_blocks * GT_BLOCK_SIZE(r->value_len);
    size_t total = GT_OFF_RECORD + record + 32 + 2 + r->opaque_len + 96;
    uint8_t *b = calloc(1, total), *p = b;
    if (b == NULL) {
        return NULL;
    }
    *p++ = 0x11;
    *p++ = 0xE0;
    *p++ = 0x01;
    *p++ = 0xFF;
    memcpy(p, r->nonce, 32);
    p += 32;
    *p++ = 0x00;
    *p++ = 0x11;
    *p++ = 0x60;
    *p++ = 0x00;
    *p++ = 0x00;
    *p++ = (uint8_t)r->n_blocks;
    *p++ = (uint8_t)(record & 0xff);
    *p++ = (uint8_t)((record >> 8) & 0xff);
    *p++ = (uint8_t)((record >> 16) & 0xff);
    for (int i = 0; i < r->n_blocks; i++) {
        *p++ = (uint8_t)(i + 1);
        *p++ = 0x01;
        *p++ = (uint8_t)((3 + r->value_len) & 0xff);
        *p++ = (uint8_t)((3 + r->value_len) >> 8);
        *p++ = 0x01;
        *p++ = (uint8_t)(r->value_len & 0xff);
        *p++ = (uint8_t)(r->value_len >> 8);
        memset(p, i + 1, (size_t)r->value_len);
        p += r->value_len;
    }
    memcpy(p, r->response_nonce, 32);
    p += 32;
    *p++ = (uint8_t)(r->opaque_len & 0xff);
    *p++ = (uint8_t)(r->opaque_len >> 8);
    memcpy(p, r->opaque, r->opaque_len);
    *len = total;
    return b;
}

int gt_report_sign(EVP_PKEY *key, uint8_t *buf, size_t len)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint8_t der[128];
    size_t der_len = sizeof(der);
    int ok = md != NULL && len > 96 && EVP_DigestSignInit(md, NULL, EVP_sha384(), NULL, key) == 1 &&
             EVP_DigestSign(md, der, &der_len, buf, len - 96) == 1 &&
             ccg_ok(ccg_ecdsa_der_to_raw(der, der_len, 48, buf + len - 96));
    EVP_MD_CTX_free(md);
    return ok ? 0 : -1;
}
