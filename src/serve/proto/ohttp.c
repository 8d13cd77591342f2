/* RFC 9458 sections 4.3 and 4.4: request and response encapsulation over the project's HPKE (ohttp.h). */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "../../hpke/hpke_internal.h"
#include "ccgate/ohttp.h"

struct ccg_ohttp_ctx {
    ccg_hpke_suite suite;
    uint8_t enc[CCG_HPKE_X25519_LEN];
    ccg_hpke_ctx *hpke;
};

void ccg_ohttp_ctx_free(ccg_ohttp_ctx *ctx)
{
    if (ctx != NULL) {
        ccg_hpke_ctx_free(ctx->hpke);
        OPENSSL_clear_free(ctx, sizeof(*ctx));
    }
}

static void put_hdr(uint8_t hdr[CCG_OHTTP_HDR_LEN], uint8_t key_id, ccg_hpke_suite s)
{
    hdr[0] = key_id;
    hdr[1] = (uint8_t)(s.kem_id >> 8);
    hdr[2] = (uint8_t)s.kem_id;
    hdr[3] = (uint8_t)(s.kdf_id >> 8);
    hdr[4] = (uint8_t)s.kdf_id;
    hdr[5] = (uint8_t)(s.aead_id >> 8);
    hdr[6] = (uint8_t)s.aead_id;
}

/* info = "message/bhttp request" || 0x00 || hdr */
static void make_info(const uint8_t hdr[CCG_OHTTP_HDR_LEN], uint8_t *info, size_t *info_len)
{
    size_t n = strlen(CCG_OHTTP_REQ_LABEL);
    memcpy(info, CCG_OHTTP_REQ_LABEL, n);
    info[n] = 0;
    memcpy(info + n + 1, hdr, CCG_OHTTP_HDR_LEN);
    *info_len = n + 1 + CCG_OHTTP_HDR_LEN;
}

static int suite_listed(const ccg_ohttp_key_config *kc, uint16_t kdf, uint16_t aead)
{
    for (size_t i = 0; i < kc->n_suites; i++) {
        if (kc->suites[i].kdf_id == kdf && kc->suites[i].aead_id == aead) {
            return 1;
        }
    }
    return 0;
}

ccg_result ccg_ohttp_client_encap_request(const ccg_ohttp_key_config *kc, ccg_ohttp_sym sym, const uint8_t *req,
                                          size_t req_len, const ccg_hpke_keypair *eph, uint8_t **out, size_t *out_len,
                                          ccg_ohttp_ctx **ctx_out)
{
    ccg_result result = CCG_FAILURE;
    ccg_ohttp_ctx *ctx = NULL;
    uint8_t *buf = NULL;
    uint8_t hdr[CCG_OHTTP_HDR_LEN];
    uint8_t info[64];
    size_t info_len = 0, ct_len = 0;
    CCG_ENSURE_MSG(req_len <= CCG_OHTTP_MAX_MESSAGE, CCG_R_INPUT_TOO_LARGE, "ohttp: request too large");
    CCG_ENSURE_MSG(kc->kem_id == CCG_HPKE_KEM_X25519_SHA256 && suite_listed(kc, sym.kdf_id, sym.aead_id),
                   CCG_R_CLIENT_OHTTP_KEY_CONFIG_INVALID, "ohttp: the suite is not in the key config");
    ctx = calloc(1, sizeof(*ctx));
    CCG_ENSURE_ALLOC(ctx);
    ctx->suite = (ccg_hpke_suite){kc->kem_id, sym.kdf_id, sym.aead_id};
    put_hdr(hdr, kc->key_id, ctx->suite);
    make_info(hdr, info, &info_len);
    CCG_TRY(ccg_hpke_setup_sender(ctx->suite, CCG_HPKE_MODE_BASE, kc->pk, info, info_len, NULL, 0, NULL, 0, eph, ctx->enc,
                                  &ctx->hpke));
    buf = malloc(CCG_OHTTP_HDR_LEN + CCG_HPKE_X25519_LEN + req_len + CCG_HPKE_TAG_LEN);
    CCG_ENSURE_ALLOC(buf);
    memcpy(buf, hdr, CCG_OHTTP_HDR_LEN);
    memcpy(buf + CCG_OHTTP_HDR_LEN, ctx->enc, CCG_HPKE_X25519_LEN);
    CCG_TRY(ccg_hpke_seal(ctx->hpke, NULL, 0, req, req_len, buf + CCG_OHTTP_HDR_LEN + CCG_HPKE_X25519_LEN, &ct_len));
    *out = buf;
    *out_len = CCG_OHTTP_HDR_LEN + CCG_HPKE_X25519_LEN + ct_len;
    buf = NULL;
    *ctx_out = ctx;
    ctx = NULL;
    result = CCG_SUCCESS;
cleanup:
    free(buf);
    ccg_ohttp_ctx_free(ctx);
    return result;
}

ccg_result ccg_ohttp_server_decap_request(const ccg_ohttp_key_config *kc, const ccg_hpke_keypair *kp, const uint8_t *msg,
                                          size_t msg_len, uint8_t **req, size_t *req_len, ccg_ohttp_ctx **ctx_out)
{
    ccg_result result = CCG_FAILURE;
    ccg_ohttp_ctx *ctx = NULL;
    uint8_t *pt = NULL;
    uint8_t info[64];
    size_t info_len = 0, pt_len = 0;
    const size_t head = CCG_OHTTP_HDR_LEN + CCG_HPKE_X25519_LEN;
    CCG_ENSURE_MSG(msg_len <= CCG_OHTTP_MAX_MESSAGE + head + CCG_HPKE_TAG_LEN, CCG_R_INPUT_TOO_LARGE,
                   "ohttp: request too large");
    CCG_ENSURE_MSG(msg != NULL && msg_len >= head + CCG_HPKE_TAG_LEN, CCG_R_CLIENT_OHTTP_MALFORMED,
                   "ohttp: request shorter than header, enc and tag");
    uint16_t kem = (uint16_t)(msg[1] << 8 | msg[2]);
    uint16_t kdf = (uint16_t)(msg[3] << 8 | msg[4]);
    uint16_t aead = (uint16_t)(msg[5] << 8 | msg[6]);
    CCG_ENSURE_MSG(msg[0] == kc->key_id, CCG_R_CLIENT_OHTTP_MALFORMED, "ohttp: unknown key ID %u", msg[0]);
    CCG_ENSURE_MSG(kem == kc->kem_id && suite_listed(kc, kdf, aead), CCG_R_CLIENT_OHTTP_MALFORMED,
                   "ohttp: suite 0x%04x/0x%04x/0x%04x is not offered", kem, kdf, aead);
    ctx = calloc(1, sizeof(*ctx));
    CCG_ENSURE_ALLOC(ctx);
    ctx->suite = (ccg_hpke_suite){kem, kdf, aead};
    memcpy(ctx->enc, msg + CCG_OHTTP_HDR_LEN, CCG_HPKE_X25519_LEN);
    make_info(msg, info, &info_len);
    CCG_TRY_AS(ccg_hpke_setup_receiver(ctx->suite, CCG_HPKE_MODE_BASE, ctx->enc, kp, info, info_len, NULL, 0, NULL, 0,
                                  &ctx->hpke),
          CCG_R_CLIENT_OHTTP_DECRYPT_FAILED, "ohttp: the encapsulated key does not decapsulate");
    pt = malloc(msg_len - head - CCG_HPKE_TAG_LEN + 1);
    CCG_ENSURE_ALLOC(pt);
    CCG_TRY_AS(ccg_hpke_open(ctx->hpke, NULL, 0, msg + head, msg_len - head, pt, &pt_len), CCG_R_CLIENT_OHTTP_DECRYPT_FAILED,
          "ohttp: the request does not decrypt");
    *req = pt;
    *req_len = pt_len;
    pt = NULL;
    *ctx_out = ctx;
    ctx = NULL;
    result = CCG_SUCCESS;
cleanup:
    free(pt);
    ccg_ohttp_ctx_free(ctx);
    return result;
}

/* The response AEAD (RFC 9458 4.4): secret = Export("message/bhttp response", max(Nn, Nk)),
 * prk = Extract(enc || response_nonce, secret), key = Expand(prk, "key", Nk), nonce = Expand(prk, "nonce", Nn). */
static ccg_result response_aead(const ccg_ohttp_ctx *ctx, const uint8_t *response_nonce, size_t rn_len,
                                EVP_CIPHER_CTX **aead, uint8_t nonce[CCG_HPKE_NN])
{
    ccg_result result = CCG_FAILURE;
    uint8_t secret[CCG_OHTTP_MAX_RESPONSE_NONCE];
    uint8_t salt[CCG_HPKE_X25519_LEN + CCG_OHTTP_MAX_RESPONSE_NONCE];
    uint8_t prk[CCG_HPKE_NH], key[CCG_HPKE_MAX_NK];
    size_t nk = 0;
    CCG_TRY(ccg_hpke_aead_key_len(ctx->suite.aead_id, &nk));
    CCG_ENSURE(rn_len == (nk > CCG_HPKE_NN ? nk : CCG_HPKE_NN) && rn_len <= sizeof(secret), CCG_R_INTERNAL_ERROR);
    CCG_TRY(ccg_hpke_export(ctx->hpke, (const uint8_t *)CCG_OHTTP_RES_LABEL, strlen(CCG_OHTTP_RES_LABEL), secret, rn_len));
    memcpy(salt, ctx->enc, CCG_HPKE_X25519_LEN);
    memcpy(salt + CCG_HPKE_X25519_LEN, response_nonce, rn_len);
    CCG_TRY(ccg_hpke_hkdf_extract(salt, CCG_HPKE_X25519_LEN + rn_len, secret, rn_len, prk));
    CCG_TRY(ccg_hpke_hkdf_expand(prk, (const uint8_t *)"key", 3, key, nk));
    CCG_TRY(ccg_hpke_hkdf_expand(prk, (const uint8_t *)"nonce", 5, nonce, CCG_HPKE_NN));
    CCG_TRY(ccg_hpke_aead_new(ctx->suite.aead_id, key, nk, aead));
    result = CCG_SUCCESS;
cleanup:
    OPENSSL_cleanse(secret, sizeof(secret));
    OPENSSL_cleanse(prk, sizeof(prk));
    OPENSSL_cleanse(key, sizeof(key));
    return result;
}

static ccg_result nonce_len(const ccg_ohttp_ctx *ctx, size_t *out)
{
    ccg_result result = CCG_FAILURE;
    size_t nk = 0;
    CCG_TRY(ccg_hpke_aead_key_len(ctx->suite.aead_id, &nk));
    *out = nk > CCG_HPKE_NN ? nk : CCG_HPKE_NN;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_ohttp_server_encap_response(const ccg_ohttp_ctx *ctx, const uint8_t *res, size_t res_len,
                                           const uint8_t *response_nonce, uint8_t **out, size_t *out_len)
{
    ccg_result result = CCG_FAILURE;
    EVP_CIPHER_CTX *aead = NULL;
    uint8_t nonce[CCG_HPKE_NN];
    uint8_t *buf = NULL;
    size_t rn = 0;
    CCG_ENSURE_MSG(ctx != NULL && (res != NULL || res_len == 0), CCG_R_USAGE_INVALID, "ohttp: no context");
    CCG_ENSURE_MSG(res_len <= CCG_OHTTP_MAX_MESSAGE, CCG_R_INPUT_TOO_LARGE, "ohttp: response too large");
    CCG_TRY(nonce_len(ctx, &rn));
    buf = malloc(rn + res_len + CCG_HPKE_TAG_LEN);
    CCG_ENSURE_ALLOC(buf);
    if (response_nonce != NULL) {
        memcpy(buf, response_nonce, rn);
    } else {
        CCG_ENSURE_OSSL(RAND_bytes(buf, (int)rn) == 1, CCG_R_INTERNAL_CRYPTO);
    }
    CCG_TRY(response_aead(ctx, buf, rn, &aead, nonce));
    CCG_TRY(ccg_hpke_aead_seal(aead, nonce, CCG_HPKE_NN, NULL, 0, res ? res : buf, res_len, buf + rn));
    *out = buf;
    *out_len = rn + res_len + CCG_HPKE_TAG_LEN;
    buf = NULL;
    result = CCG_SUCCESS;
cleanup:
    EVP_CIPHER_CTX_free(aead);
    free(buf);
    return result;
}

ccg_result ccg_ohttp_client_decap_response(const ccg_ohttp_ctx *ctx, const uint8_t *res, size_t res_len, uint8_t **out,
                                           size_t *out_len)
{
    ccg_result result = CCG_FAILURE;
    EVP_CIPHER_CTX *aead = NULL;
    uint8_t nonce[CCG_HPKE_NN];
    uint8_t *pt = NULL;
    size_t rn = 0;
    CCG_ENSURE_MSG(ctx != NULL, CCG_R_USAGE_INVALID, "ohttp: no context");
    CCG_TRY(nonce_len(ctx, &rn));
    CCG_ENSURE_MSG(res != NULL && res_len >= rn + CCG_HPKE_TAG_LEN, CCG_R_CLIENT_OHTTP_MALFORMED,
                   "ohttp: response shorter than nonce and tag");
    CCG_ENSURE_MSG(res_len <= CCG_OHTTP_MAX_MESSAGE + rn + CCG_HPKE_TAG_LEN, CCG_R_INPUT_TOO_LARGE,
                   "ohttp: response too large");
    CCG_TRY(response_aead(ctx, res, rn, &aead, nonce));
    pt = malloc(res_len - rn - CCG_HPKE_TAG_LEN + 1);
    CCG_ENSURE_ALLOC(pt);
    CCG_TRY_AS(ccg_hpke_aead_open(aead, nonce, CCG_HPKE_NN, NULL, 0, res + rn, res_len - rn, pt),
          CCG_R_CLIENT_OHTTP_DECRYPT_FAILED, "ohttp: the response does not decrypt");
    *out = pt;
    *out_len = res_len - rn - CCG_HPKE_TAG_LEN;
    pt = NULL;
    result = CCG_SUCCESS;
cleanup:
    EVP_CIPHER_CTX_free(aead);
    free(pt);
    return result;
}
