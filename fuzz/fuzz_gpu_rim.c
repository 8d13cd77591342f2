/* libFuzzer target: the RIM front end. Every input goes through ccg_gpu_rim_verify as it is (the
 * size bound, the DTD-free parse, the signature structure checks and, for NVIDIA's RIMs in the seed
 * corpus, the chain to the pinned root and xmlsec), and, when it parses as XML, it is also signed with
 * a fixed test key and verified under that test root, so the SWID parser behind the signature sees
 * fuzzed Meta and Payload content. Any failure must carry a reason code. */
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ccgate/error.h"
#include "ccgate/gpu_rim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW ((ccg_time)1748736000) /* 2025-06-01T00:00:00Z */

static EVP_PKEY *root_key, *leaf_key;
static X509 *root, *leaf;
static STACK_OF(X509) *chain;

static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, int ca)
{
    X509 *c = X509_new();
    X509V3_CTX ctx;
    if (c == NULL) {
        abort();
    }
    X509_set_version(c, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c), ca ? 1 : 2);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(c), "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(c, X509_get_subject_name(issuer != NULL ? issuer : c));
    ASN1_TIME_set(X509_getm_notBefore(c), NOW - 86400);
    ASN1_TIME_set(X509_getm_notAfter(c), NOW + 86400);
    X509_set_pubkey(c, key);
    X509V3_set_ctx(&ctx, issuer != NULL ? issuer : c, c, NULL, NULL, 0);
    X509_EXTENSION *bc = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
    if (bc == NULL || X509_add_ext(c, bc, -1) != 1 ||
        X509_sign(c, issuer_key != NULL ? issuer_key : key, EVP_sha384()) <= 0) {
        abort();
    }
    X509_EXTENSION_free(bc);
    return c;
}

static void init_once(void)
{
    if (chain != NULL) {
        return;
    }
    root_key = EVP_EC_gen("P-384");
    leaf_key = EVP_EC_gen("P-384");
    if (root_key == NULL || leaf_key == NULL) {
        abort();
    }
    root = make_cert("fuzz RIM root", root_key, NULL, NULL, 1);
    leaf = make_cert("fuzz RIM signer", leaf_key, root, root_key, 0);
    chain = sk_X509_new_null();
    if (chain == NULL || sk_X509_push(chain, leaf) <= 0) {
        abort();
    }
}

static void verify(const uint8_t *data, size_t size, X509 *anchor)
{
    ccg_gpu_rim rim;
    ccg_error_clear();
    if (ccg_ok(ccg_gpu_rim_verify(data, size, anchor, NOW, &rim))) {
        json_t *claims = ccg_gpu_rim_claims_json(&rim);
        json_decref(claims);
        ccg_gpu_rim_free(&rim);
    } else if (ccg_error_reason() == CCG_R_OK) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *signed_xml = NULL;
    size_t signed_len = 0;
    init_once();
    verify(data, size, NULL);
    ccg_error_clear();
    if (ccg_ok(ccg_gpu_rim_sign(data, size, leaf_key, chain, &signed_xml, &signed_len))) {
        verify(signed_xml, signed_len, root);
        free(signed_xml);
    }
    return 0;
}
