/* The endpoint's TLS: TLS 1.3 only, no session resumption (every connection runs a full handshake, so
 * every connection has its own exporter and its own certificate check), ALPN http/1.1.
 *
 * The server certificate is the configured one, or a fresh self-signed P-256 certificate per start:
 * clients trust the attestation bound to the session's exporter, not a PKI (docs/endpoint.md).
 * Client certificates are requested when a client CA is configured. The handshake does not fail on a
 * bad client certificate: the first verification error is recorded, so that a route which needs a
 * certificate refuses with its own code (endpoint.cert_untrusted, endpoint.cert_expired) over HTTP, and
 * routes that need none (evidence, health) still answer. */
#include "ep_internal.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <string.h>

#include "ccgate/error.h"

static int cert_error_index = -1;
static pthread_once_t index_once = PTHREAD_ONCE_INIT;

static void make_index(void) { cert_error_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL); }

/* Keeps the handshake going and remembers the first error (stored as error + 1, 0 = none). */
static int verify_cb(int ok, X509_STORE_CTX *x)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
    if (!ok && ssl != NULL && SSL_get_ex_data(ssl, cert_error_index) == NULL) {
        int err = X509_STORE_CTX_get_error(x);
        SSL_set_ex_data(ssl, cert_error_index, (void *)(intptr_t)(err != 0 ? err + 1 : X509_V_ERR_UNSPECIFIED + 1));
    }
    return 1;
}

int ep_tls_cert_error(SSL *ssl)
{
    intptr_t v = (intptr_t)SSL_get_ex_data(ssl, cert_error_index);
    if (v != 0) {
        return (int)(v - 1);
    }
    return SSL_get_verify_result(ssl) == X509_V_OK ? 0 : (int)SSL_get_verify_result(ssl);
}

static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                   unsigned int inlen, void *arg)
{
    static const unsigned char h11[] = "\x08http/1.1";
    unsigned char *sel = NULL;
    (void)ssl;
    (void)arg;
    if (SSL_select_next_proto(&sel, outlen, h11, sizeof(h11) - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED) {
        return SSL_TLSEXT_ERR_ALERT_FATAL; /* HTTP/1.1 is the only protocol served */
    }
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static ccg_result self_signed(SSL_CTX *ctx)
{
    ccg_result result = CCG_FAILURE;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *name;
    uint8_t serial[16];
    BIGNUM *bn = NULL;
    CCG_ENSURE_OSSL(key != NULL && x != NULL, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(RAND_bytes(serial, sizeof(serial)) == 1, CCG_R_INTERNAL_CRYPTO);
    serial[0] &= 0x7f;
    bn = BN_bin2bn(serial, sizeof(serial), NULL);
    CCG_ENSURE_OSSL(bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(X509_set_version(x, 2) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(X509_gmtime_adj(X509_getm_notBefore(x), -3600) != NULL &&
                        X509_gmtime_adj(X509_getm_notAfter(x), 30L * 24 * 3600) != NULL,
                    CCG_R_INTERNAL_CRYPTO);
    name = X509_get_subject_name(x);
    CCG_ENSURE_OSSL(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"ccgate-endpoint", -1,
                                               -1, 0) == 1,
                    CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(X509_set_issuer_name(x, name) == 1 && X509_set_pubkey(x, key) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(X509_sign(x, key, EVP_sha256()) > 0, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(SSL_CTX_use_certificate(ctx, x) == 1 && SSL_CTX_use_PrivateKey(ctx, key) == 1,
                    CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    BN_free(bn);
    X509_free(x);
    EVP_PKEY_free(key);
    return result;
}

ccg_result ep_tls_ctx_new(const ccg_endpoint_config *cfg, SSL_CTX **out)
{
    ccg_result result = CCG_FAILURE;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    pthread_once(&index_once, make_index);
    CCG_ENSURE_OSSL(ctx != NULL && cert_error_index >= 0, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) == 1 &&
                        SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) == 1,
                    CCG_R_INTERNAL_CRYPTO);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    CCG_ENSURE_OSSL(SSL_CTX_set_num_tickets(ctx, 0) == 1, CCG_R_INTERNAL_CRYPTO);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);
    if (cfg->cert_file != NULL) {
        CCG_ENSURE_MSG(SSL_CTX_use_certificate_chain_file(ctx, cfg->cert_file) == 1 &&
                           SSL_CTX_use_PrivateKey_file(ctx, cfg->key_file, SSL_FILETYPE_PEM) == 1 &&
                           SSL_CTX_check_private_key(ctx) == 1,
                       CCG_R_ENDPOINT_TLS_SETUP_FAILED, "the endpoint's certificate or key cannot be loaded (%.200s)",
                       cfg->cert_file);
    } else {
        CCG_TRY(self_signed(ctx));
    }
    if (cfg->client_ca_file != NULL) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->client_ca_file);
        CCG_ENSURE_MSG(names != NULL && SSL_CTX_load_verify_locations(ctx, cfg->client_ca_file, NULL) == 1,
                       CCG_R_ENDPOINT_TLS_SETUP_FAILED, "the client CA cannot be loaded (%.200s)", cfg->client_ca_file);
        SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_cb);
        SSL_CTX_set_verify_depth(ctx, 4);
    }
    ERR_clear_error();
    *out = ctx;
    ctx = NULL;
    result = CCG_SUCCESS;
cleanup:
    SSL_CTX_free(ctx);
    return result;
}
