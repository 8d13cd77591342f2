/* Thin helpers over OpenSSL's X.509: loading bundles, names and validity as plain values. */
#ifndef CCGATE_X509UTIL_H
#define CCGATE_X509UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/x509.h>

#include "ccgate/result.h"
#include "ccgate/util.h"

/* Appends every certificate of a PEM bundle (one or more), or the single DER certificate, to out. */
CCG_MUST_CHECK ccg_result ccg_x509_load_bundle(const uint8_t *data, size_t len, STACK_OF(X509) *out);
/* Parses one CRL from PEM or DER. */
CCG_MUST_CHECK ccg_result ccg_x509_load_crl(const uint8_t *data, size_t len, X509_CRL **out);
/* One-line RFC 2253 rendering of a name (malloc'd), or NULL. */
char *ccg_x509_name_text(const X509_NAME *name);
/* The subject's commonName into buf ("" when absent). */
void ccg_x509_subject_cn(X509 *cert, char *buf, size_t len);
/* An ASN1_TIME as seconds since the epoch. */
CCG_MUST_CHECK ccg_result ccg_x509_time(const ASN1_TIME *t, ccg_time *out);
CCG_MUST_CHECK ccg_result ccg_x509_validity(X509 *cert, ccg_time *not_before, ccg_time *not_after);
/* SHA-256 of the certificate's DER encoding. */
CCG_MUST_CHECK ccg_result ccg_x509_sha256(X509 *cert, uint8_t out[32]);
int ccg_x509_is_self_issued(X509 *cert);

#endif
