/* The RIM's XML signature, verified by xmlsec (never by hand). xmlsec gets the public key of the
 * signer that gpu_rim_chain_verify validated, no keys manager (so KeyInfo is never used to find a
 * key), and an allow-list: one Reference with URI="" (the whole document), the enveloped-signature
 * transform, inclusive or exclusive C14N, SHA-256/384/512 digests and ECDSA P-384 with SHA-384. */
#include <openssl/evp.h>
#include <xmlsec/xmlsec.h>
#include <xmlsec/keys.h>
#include <xmlsec/transforms.h>
#include <xmlsec/xmldsig.h>

#include "gpu_xmlsec.h"

#include "gpu_rim_internal.h"

static int enable_all(xmlSecDSigCtxPtr ctx, int (*enable)(xmlSecDSigCtxPtr, xmlSecTransformId),
                      const xmlSecTransformId *ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (enable(ctx, ids[i]) < 0) {
            return 0;
        }
    }
    return 1;
}

static ccg_result restrict_context(xmlSecDSigCtxPtr ctx)
{
    ccg_result result = CCG_FAILURE;
    const xmlSecTransformId c14n[] = {
        xmlSecTransformInclC14NId, xmlSecTransformInclC14N11Id, xmlSecTransformExclC14NId,
    };
    const xmlSecTransformId signature[] = {xmlSecOpenSSLTransformEcdsaSha384Id};
    const xmlSecTransformId reference[] = {
        xmlSecTransformEnvelopedId,    xmlSecOpenSSLTransformSha256Id, xmlSecOpenSSLTransformSha384Id,
        xmlSecOpenSSLTransformSha512Id,
    };
    int ok = enable_all(ctx, xmlSecDSigCtxEnableSignatureTransform, c14n, sizeof(c14n) / sizeof(c14n[0])) &&
             enable_all(ctx, xmlSecDSigCtxEnableSignatureTransform, signature, 1) &&
             enable_all(ctx, xmlSecDSigCtxEnableReferenceTransform, c14n, sizeof(c14n) / sizeof(c14n[0])) &&
             enable_all(ctx, xmlSecDSigCtxEnableReferenceTransform, reference,
                        sizeof(reference) / sizeof(reference[0]));
    CCG_ENSURE_MSG(ok, CCG_R_INTERNAL_CRYPTO, "xmlsec refused the transform allow-list");
    ctx->enabledReferenceUris = xmlSecTransformUriTypeEmpty;
    ctx->flags |= XMLSEC_DSIG_FLAGS_IGNORE_MANIFESTS;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* An xmlsec key holding (a reference to) the signer's public key. */
static ccg_result signer_key(X509 *signer, xmlSecKeyPtr *out)
{
    ccg_result result = CCG_FAILURE;
    EVP_PKEY *pkey = X509_get_pubkey(signer);
    xmlSecKeyDataPtr data = NULL;
    xmlSecKeyPtr key = NULL;
    CCG_ENSURE_MSG(pkey != NULL, CCG_R_GPU_RIM_CHAIN_INVALID, "the RIM signer has no usable public key");
    data = xmlSecOpenSSLEvpKeyAdopt(pkey);
    CCG_ENSURE_MSG(data != NULL, CCG_R_INTERNAL_CRYPTO, "xmlsec did not take the signer's key");
    pkey = NULL; /* owned by data now */
    key = xmlSecKeyCreate();
    CCG_ENSURE_ALLOC(key);
    CCG_ENSURE_MSG(xmlSecKeySetValue(key, data) == 0, CCG_R_INTERNAL_CRYPTO, "xmlsec did not take the signer's key");
    data = NULL;
    *out = key;
    key = NULL;
    result = CCG_SUCCESS;
cleanup:
    xmlSecKeyDestroy(key);
    if (data != NULL) {
        xmlSecKeyDataDestroy(data);
    }
    EVP_PKEY_free(pkey);
    return result;
}

ccg_result gpu_rim_signature_verify(xmlNodePtr signature, X509 *signer)
{
    ccg_result result = CCG_FAILURE;
    xmlSecDSigCtxPtr ctx = NULL;
    CCG_TRY(gpu_rim_lib_init());
    ctx = xmlSecDSigCtxCreate(NULL);
    CCG_ENSURE_ALLOC(ctx);
    CCG_TRY(restrict_context(ctx));
    CCG_TRY(signer_key(signer, &ctx->signKey));
    /* xmlsec fails the call (rather than the status) for structure it refuses: an unknown or
     * disallowed algorithm or transform, a reference URI other than "", a missing element. */
    CCG_ENSURE_MSG(xmlSecDSigCtxVerify(ctx, signature) == 0, CCG_R_GPU_RIM_SIGNATURE_UNSUPPORTED,
                   "xmlsec refused the RIM's signature structure (a reference, transform or algorithm outside "
                   "the allow-list, or a malformed SignedInfo)");
    CCG_ENSURE_MSG(xmlSecPtrListGetSize(&ctx->signedInfoReferences) == 1, CCG_R_GPU_RIM_SIGNATURE_UNSUPPORTED,
                   "the RIM's SignedInfo must hold exactly one Reference");
    CCG_ENSURE_MSG(ctx->status == xmlSecDSigStatusSucceeded, CCG_R_GPU_RIM_SIGNATURE_INVALID,
                   "the RIM's XML signature does not verify under its signing certificate");
    result = CCG_SUCCESS;
cleanup:
    if (ctx != NULL) {
        xmlSecDSigCtxDestroy(ctx); /* also destroys signKey */
    }
    return result;
}
