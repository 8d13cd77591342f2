/* RFC 9180 section 5.1: suite and mode checks, VerifyPSKInputs, KeySchedule, and the SetupS/SetupR
 * entry points of the Base and PSK modes. The context's secrets go into one locked page. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "hpke_internal.h"

ccg_result ccg_hpke_suite_check(ccg_hpke_suite suite)
{
    ccg_result result = CCG_FAILURE;
    size_t nk = 0;
    CCG_ENSURE_MSG(suite.kem_id == CCG_HPKE_KEM_X25519_SHA256, CCG_R_HPKE_SUITE_UNSUPPORTED, "KEM 0x%04x",
                   (unsigned)suite.kem_id);
    CCG_ENSURE_MSG(suite.kdf_id == CCG_HPKE_KDF_HKDF_SHA256, CCG_R_HPKE_SUITE_UNSUPPORTED, "KDF 0x%04x",
                   (unsigned)suite.kdf_id);
    CCG_TRY(ccg_hpke_aead_key_len(suite.aead_id, &nk));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* VerifyPSKInputs: psk and psk_id both present (PSK, AuthPSK) or both absent (Base, Auth). The
 * RFC's minimum PSK entropy (32 bytes) is enforced as a length. */
ccg_result ccg_hpke_verify_psk_inputs(uint8_t mode, const uint8_t *psk, size_t psk_len, const uint8_t *psk_id,
                                      size_t psk_id_len)
{
    ccg_result result = CCG_FAILURE;
    int got_psk = psk != NULL && psk_len > 0;
    int got_psk_id = psk_id != NULL && psk_id_len > 0;
    int psk_mode = mode == CCG_HPKE_MODE_PSK || mode == CCG_HPKE_MODE_AUTH_PSK;
    CCG_ENSURE_MSG(mode <= CCG_HPKE_MODE_AUTH_PSK, CCG_R_HPKE_MODE_UNSUPPORTED, "mode 0x%02x", (unsigned)mode);
    CCG_ENSURE_MSG(got_psk == got_psk_id, CCG_R_HPKE_PSK_INPUTS_INVALID, "inconsistent psk and psk_id");
    CCG_ENSURE_MSG(!got_psk || psk_mode, CCG_R_HPKE_PSK_INPUTS_INVALID, "PSK input provided when not needed (mode %u)",
                   (unsigned)mode);
    CCG_ENSURE_MSG(got_psk || !psk_mode, CCG_R_HPKE_PSK_INPUTS_INVALID, "missing required PSK input (mode %u)",
                   (unsigned)mode);
    CCG_ENSURE_MSG(!got_psk || psk_len >= CCG_HPKE_MIN_PSK_LEN, CCG_R_HPKE_PSK_INPUTS_INVALID,
                   "psk of %zu bytes is shorter than %d", psk_len, CCG_HPKE_MIN_PSK_LEN);
    CCG_ENSURE_MSG(psk_len <= CCG_HPKE_MAX_INFO_LEN && psk_id_len <= CCG_HPKE_MAX_INFO_LEN, CCG_R_INPUT_TOO_LARGE,
                   "psk or psk_id too long");
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* ccg_hpke_setup_sender/_receiver take Base and PSK; the Auth modes need the sender's static key
 * and go through ccg_hpke_setup_auth_*. */
static ccg_result check_unauthenticated_mode(uint8_t mode)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(mode == CCG_HPKE_MODE_BASE || mode == CCG_HPKE_MODE_PSK, CCG_R_HPKE_MODE_UNSUPPORTED,
                   "mode 0x%02x is not Base or PSK (Auth modes use ccg_hpke_setup_auth_*)", (unsigned)mode);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Allocates the context and derives key, base_nonce and exporter_secret into its locked page. */
static ccg_result derive_context(ccg_hpke_suite suite, const ccg_hpke_suite_id *sid, const uint8_t secret[CCG_HPKE_NH],
                                 const uint8_t *ksc, size_t ksc_len, ccg_hpke_ctx **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_hpke_ctx *ctx = calloc(1, sizeof(*ctx));
    CCG_ENSURE_ALLOC(ctx);
    ctx->suite = suite;
    CCG_TRY(ccg_hpke_aead_key_len(suite.aead_id, &ctx->nk));
    /* Locked when the memlock limit allows; never swapped out of core dumps either way. */
    CCG_TRY(ccg_secbuf_alloc(&ctx->secrets, CCG_HPKE_MAX_NK + CCG_HPKE_NN + CCG_HPKE_NH, 1));
    uint8_t *key = ctx->secrets.data;
    uint8_t *base_nonce = key + ctx->nk;
    uint8_t *exporter_secret = base_nonce + CCG_HPKE_NN;
    if (ctx->nk > 0) {
        CCG_TRY(ccg_hpke_labeled_expand(sid, secret, "key", ksc, ksc_len, key, ctx->nk));
        CCG_TRY(ccg_hpke_labeled_expand(sid, secret, "base_nonce", ksc, ksc_len, base_nonce, CCG_HPKE_NN));
        CCG_TRY(ccg_hpke_aead_new(suite.aead_id, key, ctx->nk, &ctx->aead));
    }
    CCG_TRY(ccg_hpke_labeled_expand(sid, secret, "exp", ksc, ksc_len, exporter_secret, CCG_HPKE_NH));
    *out = ctx;
    ctx = NULL;
    result = CCG_SUCCESS;
cleanup:
    ccg_hpke_ctx_free(ctx);
    return result;
}

ccg_result ccg_hpke_key_schedule(ccg_hpke_suite suite, uint8_t mode, const uint8_t shared_secret[CCG_HPKE_NH],
                                 const uint8_t *info, size_t info_len, const uint8_t *psk, size_t psk_len,
                                 const uint8_t *psk_id, size_t psk_id_len, ccg_hpke_ctx **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_hpke_suite_id sid;
    uint8_t ksc[1 + 2 * CCG_HPKE_NH]; /* mode || psk_id_hash || info_hash */
    uint8_t secret[CCG_HPKE_NH];
    *out = NULL;
    CCG_TRY(ccg_hpke_suite_check(suite));
    CCG_TRY(ccg_hpke_verify_psk_inputs(mode, psk, psk_len, psk_id, psk_id_len));
    CCG_ENSURE_MSG(info != NULL || info_len == 0, CCG_R_USAGE_INVALID, "info is NULL with length %zu", info_len);
    CCG_ENSURE_MSG(info_len <= CCG_HPKE_MAX_INFO_LEN, CCG_R_INPUT_TOO_LARGE, "info of %zu bytes", info_len);
    ccg_hpke_full_suite_id(suite, &sid);
    ksc[0] = mode;
    CCG_TRY(ccg_hpke_labeled_extract(&sid, NULL, 0, "psk_id_hash", psk_id, psk_id_len, ksc + 1));
    CCG_TRY(ccg_hpke_labeled_extract(&sid, NULL, 0, "info_hash", info, info_len, ksc + 1 + CCG_HPKE_NH));
    CCG_TRY(ccg_hpke_labeled_extract(&sid, shared_secret, CCG_HPKE_NH, "secret", psk, psk_len, secret));
    CCG_TRY(derive_context(suite, &sid, secret, ksc, sizeof(ksc), out));
    result = CCG_SUCCESS;
cleanup:
    OPENSSL_cleanse(secret, sizeof(secret));
    return result;
}

ccg_result ccg_hpke_setup_sender(ccg_hpke_suite suite, uint8_t mode, const uint8_t pk_r[CCG_HPKE_X25519_LEN],
                                 const uint8_t *info, size_t info_len, const uint8_t *psk, size_t psk_len,
                                 const uint8_t *psk_id, size_t psk_id_len, const ccg_hpke_keypair *eph,
                                 uint8_t enc[CCG_HPKE_X25519_LEN], ccg_hpke_ctx **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_hpke_keypair fresh;
    uint8_t shared_secret[CCG_HPKE_NH];
    memset(&fresh, 0, sizeof(fresh));
    *out = NULL;
    /* Refuse bad parameters before any key material is made. */
    CCG_TRY(ccg_hpke_suite_check(suite));
    CCG_TRY(check_unauthenticated_mode(mode));
    CCG_TRY(ccg_hpke_verify_psk_inputs(mode, psk, psk_len, psk_id, psk_id_len));
    if (eph == NULL) {
        CCG_TRY(ccg_hpke_generate_keypair(&fresh));
        eph = &fresh;
    }
    CCG_TRY(ccg_hpke_encap(pk_r, eph, shared_secret, enc));
    CCG_TRY(ccg_hpke_key_schedule(suite, mode, shared_secret, info, info_len, psk, psk_len, psk_id, psk_id_len, out));
    result = CCG_SUCCESS;
cleanup:
    ccg_hpke_keypair_clear(&fresh);
    OPENSSL_cleanse(shared_secret, sizeof(shared_secret));
    return result;
}

ccg_result ccg_hpke_setup_receiver(ccg_hpke_suite suite, uint8_t mode, const uint8_t enc[CCG_HPKE_X25519_LEN],
                                   const ccg_hpke_keypair *kp_r, const uint8_t *info, size_t info_len, const uint8_t *psk,
                                   size_t psk_len, const uint8_t *psk_id, size_t psk_id_len, ccg_hpke_ctx **out)
{
    ccg_result result = CCG_FAILURE;
    uint8_t shared_secret[CCG_HPKE_NH];
    *out = NULL;
    CCG_TRY(ccg_hpke_suite_check(suite));
    CCG_TRY(check_unauthenticated_mode(mode));
    CCG_TRY(ccg_hpke_verify_psk_inputs(mode, psk, psk_len, psk_id, psk_id_len));
    CCG_TRY(ccg_hpke_decap(enc, kp_r, shared_secret));
    CCG_TRY(ccg_hpke_key_schedule(suite, mode, shared_secret, info, info_len, psk, psk_len, psk_id, psk_id_len, out));
    result = CCG_SUCCESS;
cleanup:
    OPENSSL_cleanse(shared_secret, sizeof(shared_secret));
    return result;
}
