/* RFC 9180 section 5.1.3 and 5.1.4: the Auth and AuthPSK modes. The sender's static X25519 key is
 * mixed into the KEM (AuthEncap/AuthDecap), so the receiver knows the sender held that key. */
#include <string.h>

#include <openssl/crypto.h>

#include "hpke_internal.h"

static ccg_result check_auth_mode(uint8_t mode)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(mode == CCG_HPKE_MODE_AUTH || mode == CCG_HPKE_MODE_AUTH_PSK, CCG_R_HPKE_MODE_UNSUPPORTED,
                   "mode 0x%02x is not Auth or AuthPSK (Base and PSK use ccg_hpke_setup_sender/_receiver)", (unsigned)mode);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_hpke_setup_auth_sender(ccg_hpke_suite suite, uint8_t mode, const uint8_t pk_r[CCG_HPKE_X25519_LEN],
                                      const uint8_t *info, size_t info_len, const uint8_t *psk, size_t psk_len,
                                      const uint8_t *psk_id, size_t psk_id_len, const ccg_hpke_keypair *kp_s,
                                      const ccg_hpke_keypair *eph, uint8_t enc[CCG_HPKE_X25519_LEN], ccg_hpke_ctx **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_hpke_keypair fresh;
    uint8_t shared_secret[CCG_HPKE_NH];
    memset(&fresh, 0, sizeof(fresh));
    *out = NULL;
    CCG_TRY(ccg_hpke_suite_check(suite));
    CCG_TRY(check_auth_mode(mode));
    CCG_TRY(ccg_hpke_verify_psk_inputs(mode, psk, psk_len, psk_id, psk_id_len));
    if (eph == NULL) {
        CCG_TRY(ccg_hpke_generate_keypair(&fresh));
        eph = &fresh;
    }
    CCG_TRY(ccg_hpke_auth_encap(pk_r, kp_s, eph, shared_secret, enc));
    CCG_TRY(ccg_hpke_key_schedule(suite, mode, shared_secret, info, info_len, psk, psk_len, psk_id, psk_id_len, out));
    result = CCG_SUCCESS;
cleanup:
    ccg_hpke_keypair_clear(&fresh);
    OPENSSL_cleanse(shared_secret, sizeof(shared_secret));
    return result;
}

ccg_result ccg_hpke_setup_auth_receiver(ccg_hpke_suite suite, uint8_t mode, const uint8_t enc[CCG_HPKE_X25519_LEN],
                                        const ccg_hpke_keypair *kp_r, const uint8_t pk_s[CCG_HPKE_X25519_LEN],
                                        const uint8_t *info, size_t info_len, const uint8_t *psk, size_t psk_len,
                                        const uint8_t *psk_id, size_t psk_id_len, ccg_hpke_ctx **out)
{
    ccg_result result = CCG_FAILURE;
    uint8_t shared_secret[CCG_HPKE_NH];
    *out = NULL;
    CCG_TRY(ccg_hpke_suite_check(suite));
    CCG_TRY(check_auth_mode(mode));
    CCG_TRY(ccg_hpke_verify_psk_inputs(mode, psk, psk_len, psk_id, psk_id_len));
    CCG_TRY(ccg_hpke_auth_decap(enc, kp_r, pk_s, shared_secret));
    CCG_TRY(ccg_hpke_key_schedule(suite, mode, shared_secret, info, info_len, psk, psk_len, psk_id, psk_id_len, out));
    result = CCG_SUCCESS;
cleanup:
    OPENSSL_cleanse(shared_secret, sizeof(shared_secret));
    return result;
}
