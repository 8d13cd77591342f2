/* X.509 helpers. All parsing is OpenSSL's; this file only adapts it to ccgate's result idiom. */
#include "ccgate/x509util.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int looks_like_pem(const uint8_t *data, size_t len)
{
    static const char marker[] = "-----BEGIN";
    for (size_t i = 0; i + sizeof(marker) - 1 <= len; i++) {
        if (memcmp(data + i, marker, sizeof(marker) - 1) == 0) {
            return 1;
        }
    }
    return 0;
}

ccg_result ccg_x509_load_bundle(const uint8_t *data, size_t len, STACK_OF(X509) *out)
{
    ccg_result result = CCG_FAILURE;
    BIO *bio = NULL;
    X509 *cert = NULL;
    int added = 0;

    CCG_ENSURE_MSG(len > 0 && len <= (1u << 20), CCG_R_CERT_PARSE_FAILED, "certificate input of %zu bytes", len);
    if (looks_like_pem(data, len)) {
        bio = BIO_new_mem_buf(data, (int)len);
        CCG_ENSURE_ALLOC(bio);
        while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
            CCG_ENSURE(sk_X509_push(out, cert) > 0, CCG_R_INTERNAL_OUT_OF_MEMORY);
            cert = NULL;
            added++;
        }
        /* The loop ends at the end of the data (PEM_R_NO_START_LINE) or at a malformed block. */
        unsigned long e = ERR_peek_last_error();
        CCG_ENSURE_MSG(added > 0 && (e == 0 || ERR_GET_REASON(e) == PEM_R_NO_START_LINE), CCG_R_CERT_PARSE_FAILED,
                       "malformed PEM certificate bundle");
        ERR_clear_error();
    } else {
        const unsigned char *p = data;
        cert = d2i_X509(NULL, &p, (long)len);
        CCG_ENSURE_OSSL(cert != NULL, CCG_R_CERT_PARSE_FAILED);
        CCG_ENSURE_MSG(p == data + len, CCG_R_CERT_PARSE_FAILED, "trailing bytes after DER certificate");
        CCG_ENSURE(sk_X509_push(out, cert) > 0, CCG_R_INTERNAL_OUT_OF_MEMORY);
        cert = NULL;
    }
    result = CCG_SUCCESS;
cleanup:
    X509_free(cert);
    BIO_free(bio);
    return result;
}

ccg_result ccg_x509_load_crl(const uint8_t *data, size_t len, X509_CRL **out)
{
    ccg_result result = CCG_FAILURE;
    BIO *bio = NULL;
    X509_CRL *crl = NULL;
    CCG_ENSURE_MSG(len > 0 && len <= (4u << 20), CCG_R_CERT_PARSE_FAILED, "CRL input of %zu bytes", len);
    if (looks_like_pem(data, len)) {
        bio = BIO_new_mem_buf(data, (int)len);
        CCG_ENSURE_ALLOC(bio);
        crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
        CCG_ENSURE_OSSL(crl != NULL, CCG_R_CERT_PARSE_FAILED);
    } else {
        const unsigned char *p = data;
        crl = d2i_X509_CRL(NULL, &p, (long)len);
        CCG_ENSURE_OSSL(crl != NULL, CCG_R_CERT_PARSE_FAILED);
        CCG_ENSURE_MSG(p == data + len, CCG_R_CERT_PARSE_FAILED, "trailing bytes after DER CRL");
    }
    *out = crl;
    crl = NULL;
    result = CCG_SUCCESS;
cleanup:
    X509_CRL_free(crl);
    BIO_free(bio);
    return result;
}

char *ccg_x509_name_text(const X509_NAME *name)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *out = NULL;
    if (bio != NULL && X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0) {
        char *p = NULL;
        long n = BIO_get_mem_data(bio, &p);
        out = malloc((size_t)n + 1);
        if (out != NULL) {
            memcpy(out, p, (size_t)n);
            out[n] = '\0';
        }
    }
    BIO_free(bio);
    return out;
}

void ccg_x509_subject_cn(X509 *cert, char *buf, size_t len)
{
    buf[0] = '\0';
    if (len == 0 || X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, (int)len) < 0) {
        if (len > 0) {
            buf[0] = '\0';
        }
    }
}

ccg_result ccg_x509_time(const ASN1_TIME *t, ccg_time *out)
{
    ccg_result result = CCG_FAILURE;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    CCG_ENSURE_OSSL(t != NULL && ASN1_TIME_to_tm(t, &tm) == 1, CCG_R_CERT_PARSE_FAILED);
    *out = (ccg_time)timegm(&tm);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_x509_validity(X509 *cert, ccg_time *not_before, ccg_time *not_after)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(ccg_x509_time(X509_get0_notBefore(cert), not_before));
    CCG_TRY(ccg_x509_time(X509_get0_notAfter(cert), not_after));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_x509_sha256(X509 *cert, uint8_t out[32])
{
    ccg_result result = CCG_FAILURE;
    unsigned int n = 0;
    CCG_ENSURE_OSSL(X509_digest(cert, EVP_sha256(), out, &n) == 1 && n == 32, CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

int ccg_x509_is_self_issued(X509 *cert)
{
    return X509_NAME_cmp(X509_get_subject_name(cert), X509_get_issuer_name(cert)) == 0;
}
