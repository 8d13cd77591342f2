/* The software TD (docs/tdx-quote.md, "Test root"): quotes and collateral pieces under a test root. */
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/buf.h"
#include "tdx_emu_internal.h"

static const uint8_t INTEL_QE_VENDOR[16] = {0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9,
                                            0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07};

void ccg_tdx_emu_opts_default(ccg_time now, ccg_tdx_emu_opts *o)
{
    static const uint8_t FMSPC[6] = {0x00, 0x90, 0x6e, 0xd5, 0x00, 0x00};
    memset(o, 0, sizeof(*o));
    o->now = now;
    memcpy(o->fmspc, FMSPC, 6);
    for (int i = 0; i < 16; i++) {
        o->sgx_components[i] = i < 8 ? 2 : 0;
    }
    o->pcesvn = 13;
}

void ccg_tdx_emu_td_default(ccg_tdx_emu_td *td)
{
    memset(td, 0, sizeof(*td));
    td->version = 4;
    td->body_type = 2;
    td->tee_tcb_svn[0] = 5;
    td->tee_tcb_svn[2] = 2;
    td->td_attributes = 1ull << 28; /* SEPT_VE_DISABLE */
    td->xfam = 0x00000000000602e7ull;
    memset(td->mrseam, 0x5e, 48);
    memset(td->mrtd, 0x7d, 48);
    for (int i = 0; i < 4; i++) {
        memset(td->rtmr[i], 0x10 + i, 48);
    }
    memset(td->report_data, 0xda, 64);
    td->qe_attributes[0] = 0x11;
    memset(td->qe_mrsigner, 0xdc, 32);
    td->qe_isvprodid = 2;
    td->qe_isvsvn = 8;
    td->qe_auth_len = 32;
    td->outer_cert_type = 6;
    td->inner_cert_type = 5;
}

void ccg_tdx_emu_free(ccg_tdx_emu *e)
{
    if (e == NULL) {
        return;
    }
    EVP_PKEY_free(e->root_key);
    EVP_PKEY_free(e->ca_key);
    EVP_PKEY_free(e->pck_key);
    EVP_PKEY_free(e->tcb_key);
    EVP_PKEY_free(e->att_key);
    EVP_PKEY_free(e->other_key);
    X509_free(e->root);
    X509_free(e->ca);
    X509_free(e->pck);
    X509_free(e->tcb);
    free(e);
}

ccg_result ccg_tdx_emu_new(const ccg_tdx_emu_opts *opts, ccg_tdx_emu **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_tdx_emu *e = calloc(1, sizeof(*e));
    CCG_ENSURE_ALLOC(e);
    e->opts = *opts;
    e->root_key = EVP_EC_gen("P-256");
    e->ca_key = EVP_EC_gen("P-256");
    e->pck_key = EVP_EC_gen(opts->pck_key_p384 ? "P-384" : "P-256");
    e->tcb_key = EVP_EC_gen("P-256");
    e->att_key = EVP_EC_gen("P-256");
    e->other_key = EVP_EC_gen("P-256");
    CCG_ENSURE_OSSL(e->root_key && e->ca_key && e->pck_key && e->tcb_key && e->att_key && e->other_key,
                    CCG_R_INTERNAL_CRYPTO);
    CCG_TRY(tdx_emu_make_certs(e));
    *out = e;
    e = NULL;
    result = CCG_SUCCESS;
cleanup:
    ccg_tdx_emu_free(e);
    return result;
}

const ccg_tdx_emu_opts *ccg_tdx_emu_opts_of(const ccg_tdx_emu *e)
{
    return &e->opts;
}

char *ccg_tdx_emu_root_pem(const ccg_tdx_emu *e)
{
    X509 *c[] = {e->root};
    return tdx_emu_pem(c, 1);
}

char *ccg_tdx_emu_pck_chain_pem(const ccg_tdx_emu *e)
{
    X509 *c[] = {e->pck, e->ca, e->root};
    return tdx_emu_pem(c, 3);
}

char *ccg_tdx_emu_tcb_chain_pem(const ccg_tdx_emu *e)
{
    X509 *c[] = {e->tcb, e->root};
    return tdx_emu_pem(c, 2);
}

char *ccg_tdx_emu_crl_chain_pem(const ccg_tdx_emu *e)
{
    X509 *c[] = {e->ca, e->root};
    return tdx_emu_pem(c, 2);
}

ccg_result ccg_tdx_emu_sign(const ccg_tdx_emu *e, const void *data, size_t len, char hex[129])
{
    ccg_result result = CCG_FAILURE;
    uint8_t raw[64];
    CCG_TRY(tdx_emu_sign_raw(e->tcb_key, data, len, raw, 32));
    ccg_hex_encode(raw, 64, hex);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_tdx_emu_crl(const ccg_tdx_emu *e, int root, ccg_time this_update, ccg_time next_update, int revoke,
                           uint8_t **der, size_t *len)
{
    ccg_result result = CCG_FAILURE;
    X509_CRL *crl = X509_CRL_new();
    X509_REVOKED *rev = NULL;
    ASN1_TIME *t1 = ASN1_TIME_new(), *t2 = ASN1_TIME_new();
    X509 *issuer = root ? e->root : e->ca;
    X509 *victim = root ? e->ca : e->pck;
    unsigned char *p = NULL;
    *der = NULL;
    CCG_ENSURE_OSSL(crl && t1 && t2 && X509_CRL_set_version(crl, 1) == 1 &&
                        X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer)) == 1 &&
                        ASN1_TIME_set(t1, (time_t)this_update) && ASN1_TIME_set(t2, (time_t)next_update) &&
                        X509_CRL_set1_lastUpdate(crl, t1) == 1 && X509_CRL_set1_nextUpdate(crl, t2) == 1,
                    CCG_R_INTERNAL_CRYPTO);
    if (revoke) {
        rev = X509_REVOKED_new();
        CCG_ENSURE_OSSL(rev && X509_REVOKED_set_serialNumber(rev, X509_get_serialNumber(victim)) == 1 &&
                            X509_REVOKED_set_revocationDate(rev, t1) == 1 && X509_CRL_add0_revoked(crl, rev) == 1,
                        CCG_R_INTERNAL_CRYPTO);
        rev = NULL;
    }
    CCG_ENSURE_OSSL(X509_CRL_sort(crl) == 1 && X509_CRL_sign(crl, root ? e->root_key : e->ca_key, EVP_sha256()) > 0,
                    CCG_R_INTERNAL_CRYPTO);
    int n = i2d_X509_CRL(crl, &p);
    CCG_ENSURE_OSSL(n > 0, CCG_R_INTERNAL_CRYPTO);
    *der = malloc((size_t)n);
    CCG_ENSURE_ALLOC(*der);
    memcpy(*der, p, (size_t)n);
    *len = (size_t)n;
    result = CCG_SUCCESS;
cleanup:
    OPENSSL_free(p);
    X509_REVOKED_free(rev);
    ASN1_TIME_free(t1);
    ASN1_TIME_free(t2);
    X509_CRL_free(crl);
    return result;
}

/* The quote being written (this side writes, it never parses): a failed put sticks, and is checked once at
 * the end. The bound is far above what a verifier takes (CCG_TDX_MAX_QUOTE), so oversized quotes can still
 * be made to test that refusal. */
#define QUOTE_WRITE_MAX ((size_t)16 << 20)

typedef struct {
    ccg_buf buf;
    int failed;
} wbuf;

static void wb_init(wbuf *b)
{
    ccg_buf_init(&b->buf, QUOTE_WRITE_MAX);
    b->failed = 0;
}

static void put(wbuf *b, const void *data, size_t n)
{
    if (!b->failed && ccg_failed(ccg_buf_append(&b->buf, data, n))) {
        b->failed = 1;
    }
}

static void put_le(wbuf *b, uint64_t v, size_t n)
{
    uint8_t tmp[8];
    for (size_t i = 0; i < n; i++) {
        tmp[i] = (uint8_t)(v >> (8 * i));
    }
    put(b, tmp, n);
}

static void put_zero(wbuf *b, size_t n)
{
    static const uint8_t Z[64];
    while (n > 0) {
        size_t k = n < sizeof(Z) ? n : sizeof(Z);
        put(b, Z, k);
        n -= k;
    }
}

static void put_body(wbuf *b, const ccg_tdx_emu_td *td, int td15)
{
    put(b, td->tee_tcb_svn, 16);
    put(b, td->mrseam, 48);
    put(b, td->mrsignerseam, 48);
    put(b, td->seam_attributes, 8);
    put_le(b, td->td_attributes, 8);
    put_le(b, td->xfam, 8);
    put(b, td->mrtd, 48);
    put(b, td->mrconfigid, 48);
    put(b, td->mrowner, 48);
    put(b, td->mrownerconfig, 48);
    for (int i = 0; i < 4; i++) {
        put(b, td->rtmr[i], 48);
    }
    put(b, td->report_data, 64);
    if (td15) {
        put(b, td->tee_tcb_svn2, 16);
        put(b, td->mrservicetd, 48);
    }
}

static ccg_result att_key_xy(const ccg_tdx_emu *e, const ccg_tdx_emu_td *td, uint8_t xy[64])
{
    ccg_result result = CCG_FAILURE;
    uint8_t point[65];
    size_t n = 0;
    CCG_ENSURE_OSSL(EVP_PKEY_get_octet_string_param(e->att_key, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point), &n) == 1 &&
                        n == 65,
                    CCG_R_INTERNAL_CRYPTO);
    memcpy(xy, point + 1, 64);
    if (td->att_key_off_curve) {
        xy[63] ^= 0x01; /* y no longer matches x */
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* QE report (384 bytes) with REPORT_DATA = SHA-256(attestation key || authentication data) || zeros. */
static ccg_result qe_report(const ccg_tdx_emu_td *td, const uint8_t xy[64], const uint8_t *auth, uint8_t out[384])
{
    ccg_result result = CCG_FAILURE;
    wbuf b;
    uint8_t digest[32];
    unsigned int dl = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    wb_init(&b);
    CCG_ENSURE_OSSL(md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 && EVP_DigestUpdate(md, xy, 64) == 1 &&
                        EVP_DigestUpdate(md, auth, td->qe_auth_len) == 1 && EVP_DigestFinal_ex(md, digest, &dl) == 1,
                    CCG_R_INTERNAL_CRYPTO);
    if (td->bad_binding) {
        digest[0] ^= 0xff;
    }
    put_zero(&b, 16);
    put_le(&b, td->qe_miscselect, 4);
    put_zero(&b, 28);
    put(&b, td->qe_attributes, 16);
    put_zero(&b, 32); /* MRENCLAVE is not judged */
    put_zero(&b, 32);
    put(&b, td->qe_mrsigner, 32);
    put_zero(&b, 96);
    put_le(&b, td->qe_isvprodid, 2);
    put_le(&b, td->qe_isvsvn, 2);
    put_zero(&b, 60);
    put(&b, digest, 32);
    put_zero(&b, 32);
    CCG_ENSURE(!b.failed && b.buf.len == 384, CCG_R_INTERNAL_OUT_OF_MEMORY);
    memcpy(out, b.buf.p, 384);
    result = CCG_SUCCESS;
cleanup:
    EVP_MD_CTX_free(md);
    ccg_buf_free(&b.buf);
    return result;
}

static ccg_result cert_data(const ccg_tdx_emu *e, const ccg_tdx_emu_td *td, const uint8_t xy[64], wbuf *out)
{
    ccg_result result = CCG_FAILURE;
    uint8_t report[384], sig[64];
    uint8_t *auth = calloc(td->qe_auth_len + 1, 1);
    char *chain = ccg_tdx_emu_pck_chain_pem(e);
    CCG_ENSURE_ALLOC(auth);
    CCG_ENSURE_ALLOC(chain);
    for (size_t i = 0; i < td->qe_auth_len; i++) {
        auth[i] = (uint8_t)i;
    }
    CCG_TRY(qe_report(td, xy, auth, report));
    if (e->opts.pck_key_p384) {
        uint8_t wide[96]; /* a P-384 signature cannot be carried: its first 64 bytes stand in */
        CCG_TRY(tdx_emu_sign_raw(e->pck_key, report, 384, wide, 48));
        memcpy(sig, wide, 64);
    } else {
        CCG_TRY(tdx_emu_sign_raw(e->pck_key, report, 384, sig, 32));
    }
    size_t chain_len = strlen(chain) + 1; /* real QEs end the PEM with a NUL */
    size_t outer = 384 + 64 + 2 + td->qe_auth_len + 6 + chain_len;
    put_le(out, td->outer_cert_type, 2);
    put_le(out, outer, 4);
    put(out, report, 384);
    put(out, sig, 64);
    put_le(out, td->qe_auth_len, 2);
    put(out, auth, td->qe_auth_len);
    put_le(out, td->inner_cert_type, 2);
    put_le(out, chain_len, 4);
    put(out, chain, chain_len);
    result = CCG_SUCCESS;
cleanup:
    free(auth);
    free(chain);
    return result;
}

ccg_result ccg_tdx_emu_quote(const ccg_tdx_emu *e, const ccg_tdx_emu_td *td, uint8_t **quote, size_t *len)
{
    ccg_result result = CCG_FAILURE;
    wbuf b, cd;
    uint8_t xy[64], sig[64];
    int td15 = td->version == 5 && td->body_type == 3;
    *quote = NULL;
    wb_init(&b);
    wb_init(&cd);
    put_le(&b, td->version, 2);
    put_le(&b, 2, 2);
    put_le(&b, 0x81, 4);
    put_zero(&b, 4);
    put(&b, INTEL_QE_VENDOR, 16);
    put_zero(&b, 20);
    if (td->version == 5) {
        put_le(&b, td->body_type, 2);
        put_le(&b, td15 ? 648 : 584, 4);
    }
    put_body(&b, td, td15);
    CCG_ENSURE(!b.failed, CCG_R_INTERNAL_OUT_OF_MEMORY);
    CCG_TRY(att_key_xy(e, td, xy));
    CCG_TRY(tdx_emu_sign_raw(td->sign_with_other_key ? e->other_key : e->att_key, b.buf.p, b.buf.len, sig, 32));
    CCG_TRY(cert_data(e, td, xy, &cd));
    CCG_ENSURE(!cd.failed, CCG_R_INTERNAL_OUT_OF_MEMORY);
    put_le(&b, 128 + cd.buf.len, 4);
    put(&b, sig, 64);
    put(&b, xy, 64);
    put(&b, cd.buf.p, cd.buf.len);
    put_zero(&b, td->trailing);
    CCG_ENSURE(!b.failed, CCG_R_INTERNAL_OUT_OF_MEMORY);
    CCG_TRY(ccg_buf_take(&b.buf, quote, len));
    result = CCG_SUCCESS;
cleanup:
    ccg_buf_free(&b.buf);
    ccg_buf_free(&cd.buf);
    return result;
}
