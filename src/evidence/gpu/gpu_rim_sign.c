/* The test RIM signer: xmlsec builds and signs the enveloped signature (never by hand). */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <xmlsec/xmlsec.h>
#include <xmlsec/base64.h>
#include <xmlsec/keys.h>
#include <xmlsec/templates.h>
#include <xmlsec/transforms.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/xmltree.h>

#include "gpu_rim_internal.h"
#include "gpu_xmlsec.h"

/* KeyInfo/X509Data with every certificate of the chain, in order. */
static ccg_result add_certs(xmlNodePtr sig, STACK_OF(X509) *chain)
{
    ccg_result result = CCG_FAILURE;
    unsigned char *der = NULL;
    xmlChar *b64 = NULL;
    xmlNodePtr key_info = xmlSecTmplSignatureEnsureKeyInfo(sig, NULL);
    xmlNodePtr data = key_info != NULL ? xmlSecTmplKeyInfoAddX509Data(key_info) : NULL;
    CCG_ENSURE_ALLOC(data);
    for (int i = 0; i < sk_X509_num(chain); i++) {
        int len = i2d_X509(sk_X509_value(chain, i), &der);
        CCG_ENSURE_OSSL(len > 0, CCG_R_INTERNAL_CRYPTO);
        b64 = xmlSecBase64Encode(der, (xmlSecSize)len, 64);
        CCG_ENSURE_ALLOC(b64);
        /* xmlSecTmplX509DataAddCertificate adds one node only; the chain needs several. */
        xmlNodePtr node = xmlSecAddChild(data, xmlSecNodeX509Certificate, xmlSecDSigNs);
        CCG_ENSURE_ALLOC(node);
        xmlNodeSetContent(node, b64);
        xmlFree(b64);
        b64 = NULL;
        OPENSSL_free(der);
        der = NULL;
    }
    result = CCG_SUCCESS;
cleanup:
    xmlFree(b64);
    OPENSSL_free(der);
    return result;
}

static ccg_result add_template(xmlDocPtr doc, STACK_OF(X509) *chain, xmlNodePtr *out)
{
    ccg_result result = CCG_FAILURE;
    xmlNodePtr root = xmlDocGetRootElement(doc);
    xmlNodePtr sig = xmlSecTmplSignatureCreate(doc, xmlSecTransformInclC14N11Id, xmlSecOpenSSLTransformEcdsaSha384Id,
                                               NULL);
    CCG_ENSURE_ALLOC(sig);
    CCG_ENSURE_MSG(root != NULL && xmlAddChild(root, sig) != NULL, CCG_R_GPU_RIM_MALFORMED, "the SWID has no root");
    xmlNodePtr ref = xmlSecTmplSignatureAddReference(sig, xmlSecOpenSSLTransformSha384Id, NULL,
                                                     (const xmlChar *)"", NULL);
    CCG_ENSURE_ALLOC(ref);
    CCG_ENSURE_ALLOC(xmlSecTmplReferenceAddTransform(ref, xmlSecTransformEnvelopedId));
    CCG_ENSURE_ALLOC(xmlSecTmplReferenceAddTransform(ref, xmlSecTransformInclC14N11Id));
    CCG_TRY(add_certs(sig, chain));
    *out = sig;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_gpu_rim_sign(const uint8_t *swid, size_t len, EVP_PKEY *key, STACK_OF(X509) *chain, uint8_t **out,
                            size_t *out_len)
{
    ccg_result result = CCG_FAILURE;
    xmlDocPtr doc = NULL;
    xmlSecDSigCtxPtr ctx = NULL;
    xmlSecKeyDataPtr data = NULL;
    xmlChar *text = NULL;
    int text_len = 0;
    xmlNodePtr sig = NULL;
    CCG_ENSURE_MSG(key != NULL && chain != NULL && sk_X509_num(chain) > 0, CCG_R_INTERNAL_ERROR,
                   "signing a RIM needs a key and its certificate chain");
    CCG_TRY(gpu_rim_xml_parse(swid, len, &doc));
    CCG_TRY(add_template(doc, chain, &sig));
    ctx = xmlSecDSigCtxCreate(NULL);
    CCG_ENSURE_ALLOC(ctx);
    CCG_ENSURE_OSSL(EVP_PKEY_up_ref(key) == 1, CCG_R_INTERNAL_CRYPTO);
    data = xmlSecOpenSSLEvpKeyAdopt(key);
    if (data == NULL) {
        EVP_PKEY_free(key);
    }
    CCG_ENSURE_MSG(data != NULL, CCG_R_INTERNAL_CRYPTO, "xmlsec did not take the signing key");
    ctx->signKey = xmlSecKeyCreate();
    CCG_ENSURE_ALLOC(ctx->signKey);
    CCG_ENSURE_MSG(xmlSecKeySetValue(ctx->signKey, data) == 0, CCG_R_INTERNAL_CRYPTO, "xmlsec did not take the key");
    data = NULL;
    CCG_ENSURE_MSG(xmlSecDSigCtxSign(ctx, sig) == 0, CCG_R_INTERNAL_CRYPTO, "xmlsec could not sign the RIM");
    xmlDocDumpMemory(doc, &text, &text_len);
    CCG_ENSURE_ALLOC(text);
    *out = malloc((size_t)text_len + 1);
    CCG_ENSURE_ALLOC(*out);
    memcpy(*out, text, (size_t)text_len + 1);
    *out_len = (size_t)text_len;
    result = CCG_SUCCESS;
cleanup:
    xmlFree(text);
    if (data != NULL) {
        xmlSecKeyDataDestroy(data);
    }
    if (ctx != NULL) {
        xmlSecDSigCtxDestroy(ctx);
    }
    xmlFreeDoc(doc);
    return result;
}
