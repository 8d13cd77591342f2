/* RFC 9180 sections 5.2 and 5.3: ComputeNonce, Seal and Open with the sequence number, the message
 * limit, and the secret export. A failed Open leaves the sequence number where it was. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "hpke_internal.h"

static const uint8_t *ctx_key(const ccg_hpke_ctx *ctx) { return ctx->secrets.data; }
static const uint8_t *ctx_base_nonce(const ccg_hpke_ctx *ctx) { return ctx->secrets.data + ctx->nk; }
static const uint8_t *ctx_exporter_secret(const ccg_hpke_ctx *ctx) { return ctx->secrets.data + ctx->nk + CCG_HPKE_NN; }

/* ComputeNonce: base_nonce XOR I2OSP(seq, Nn); seq fills the last 8 of the 12 bytes. */
static void compute_nonce(const ccg_hpke_ctx *ctx, uint8_t nonce[CCG_HPKE_NN])
{
    memcpy(nonce, ctx_base_nonce(ctx), CCG_HPKE_NN);
    for (size_t i = 0; i < 8; i++) {
        nonce[CCG_HPKE_NN - 1 - i] ^= (uint8_t)(ctx->seq >> (8 * i));
    }
}

/* Seal and Open need a cipher and an unused sequence number. The RFC's limit is 2^96-1; ours is the
 * 64-bit counter's: seq = 2^64-1 is never used, so 2^64-1 messages at most. */
static ccg_result ready_for_message(const ccg_hpke_ctx *ctx)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(ctx != NULL, CCG_R_USAGE_INVALID, "no HPKE context");
    CCG_ENSURE_MSG(ctx->aead != NULL, CCG_R_HPKE_EXPORT_ONLY, "export-only context cannot seal or open");
    CCG_ENSURE_MSG(ctx->seq != UINT64_MAX, CCG_R_HPKE_MESSAGE_LIMIT, "sequence number exhausted");
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_hpke_seal(ccg_hpke_ctx *ctx, const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t pt_len,
                         uint8_t *ct, size_t *ct_len)
{
    ccg_result result = CCG_FAILURE;
    uint8_t nonce[CCG_HPKE_NN];
    CCG_TRY(ready_for_message(ctx));
    CCG_ENSURE_MSG(ct != NULL && ct_len != NULL && (pt != NULL || pt_len == 0) && (aad != NULL || aad_len == 0),
                   CCG_R_USAGE_INVALID, "seal buffers missing");
    compute_nonce(ctx, nonce);
    CCG_TRY(ccg_hpke_aead_seal(ctx->aead, nonce, sizeof(nonce), aad, aad_len, pt, pt_len, ct));
    *ct_len = pt_len + CCG_HPKE_TAG_LEN;
    ctx->seq++;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_hpke_open(ccg_hpke_ctx *ctx, const uint8_t *aad, size_t aad_len, const uint8_t *ct, size_t ct_len,
                         uint8_t *pt, size_t *pt_len)
{
    ccg_result result = CCG_FAILURE;
    uint8_t nonce[CCG_HPKE_NN];
    CCG_TRY(ready_for_message(ctx));
    CCG_ENSURE_MSG(pt_len != NULL && (ct != NULL || ct_len == 0) && (aad != NULL || aad_len == 0), CCG_R_USAGE_INVALID,
                   "open buffers missing");
    CCG_ENSURE_MSG(ct_len >= CCG_HPKE_TAG_LEN, CCG_R_HPKE_OPEN_FAILED, "ciphertext of %zu bytes is shorter than the tag",
                   ct_len);
    CCG_ENSURE_MSG(pt != NULL || ct_len == CCG_HPKE_TAG_LEN, CCG_R_USAGE_INVALID, "no plaintext buffer");
    compute_nonce(ctx, nonce);
    CCG_TRY(ccg_hpke_aead_open(ctx->aead, nonce, sizeof(nonce), aad, aad_len, ct, ct_len, pt));
    *pt_len = ct_len - CCG_HPKE_TAG_LEN;
    ctx->seq++;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Export: LabeledExpand(exporter_secret, "sec", exporter_context, L). */
ccg_result ccg_hpke_export(const ccg_hpke_ctx *ctx, const uint8_t *exporter_context, size_t ctx_len, uint8_t *out,
                           size_t out_len)
{
    ccg_result result = CCG_FAILURE;
    ccg_hpke_suite_id sid;
    CCG_ENSURE_MSG(ctx != NULL && (out != NULL || out_len == 0) && (exporter_context != NULL || ctx_len == 0),
                   CCG_R_USAGE_INVALID, "export arguments missing");
    CCG_ENSURE_MSG(out_len <= CCG_HPKE_MAX_EXPORT_LEN, CCG_R_HPKE_EXPORT_TOO_LONG, "export of %zu bytes (at most %d)",
                   out_len, CCG_HPKE_MAX_EXPORT_LEN);
    CCG_ENSURE_MSG(ctx_len <= CCG_HPKE_MAX_EXPORT_CONTEXT_LEN, CCG_R_INPUT_TOO_LARGE, "exporter_context of %zu bytes",
                   ctx_len);
    ccg_hpke_full_suite_id(ctx->suite, &sid);
    CCG_TRY(ccg_hpke_labeled_expand(&sid, ctx_exporter_secret(ctx), "sec", exporter_context, ctx_len, out, out_len));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

void ccg_hpke_ctx_free(ccg_hpke_ctx *ctx)
{
    if (ctx == NULL) {
        return;
    }
    EVP_CIPHER_CTX_free(ctx->aead); /* OpenSSL cleanses its copy of the key schedule */
    ccg_secbuf_free(&ctx->secrets); /* zeroes key, base_nonce, exporter_secret */
    OPENSSL_cleanse(ctx, sizeof(*ctx));
    free(ctx);
}

ccg_result ccg_hpke_ctx_secrets(const ccg_hpke_ctx *ctx, const uint8_t **key, size_t *key_len, const uint8_t **base_nonce,
                                const uint8_t **exporter_secret)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(ctx != NULL && key != NULL && key_len != NULL && base_nonce != NULL && exporter_secret != NULL,
                   CCG_R_USAGE_INVALID, "secrets arguments missing");
    /* The export-only AEAD has no key and no base nonce (Nk = Nn = 0). */
    *key = ctx->nk > 0 ? ctx_key(ctx) : NULL;
    *key_len = ctx->nk;
    *base_nonce = ctx->nk > 0 ? ctx_base_nonce(ctx) : NULL;
    *exporter_secret = ctx_exporter_secret(ctx);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

void ccg_hpke_ctx_set_seq(ccg_hpke_ctx *ctx, uint64_t seq) { ctx->seq = seq; }

uint64_t ccg_hpke_ctx_seq(const ccg_hpke_ctx *ctx) { return ctx->seq; }
