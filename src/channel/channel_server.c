/* The server handshake: M1 in, a fresh X25519 key, evidence bound to (M1, pk_s, suite), M2 out, M3 in,
 * HPKE SetupBaseR and the client's confirmation checked, the private key erased, SF out. Refusals before
 * M2 (version, suite, rate) are told to the client in an ALERT record. */
#include <stdlib.h>
#include <string.h>

#include "ccgate/secmem.h"
#include "channel_internal.h"

typedef struct {
    uint8_t *m1rec, *m2rec, *m3rec;
    size_t m1_len, m2_len, m3_len;
    ccg_hpke_keypair kp;
    ccg_hpke_suite suite;
    ccg_hpke_ctx *hpke;
    ccg_ch_keys keys;
    uint8_t info[32];
    ccg_channel_evidence ev;
} server_state;

static ccg_result receive_m1(int fd, int timeout, const ccg_channel_server_config *cfg, server_state *st)
{
    ccg_result result = CCG_FAILURE;
    ccg_ch_m1 m1;
    CCG_TRY(ccg_ch_read_handshake(fd, CCG_CH_T_M1, timeout, &st->m1rec, &st->m1_len));
    if (ccg_failed(ccg_ch_m1_parse(st->m1rec + CCG_CH_HEADER_LEN, st->m1_len - CCG_CH_HEADER_LEN, &m1))) {
        ccg_ch_send_alert(fd, ccg_error_reason(), timeout);
        goto cleanup;
    }
    st->suite = m1.suite;
    /* Evidence generation is the costly, attester-bound step: the rate limit guards it. */
    if (cfg->admit != NULL && !cfg->admit(cfg->admit_arg)) {
        ccg_error_set(CCG_R_CHANNEL_RATE_LIMITED, __FILE__, __LINE__, "client over its evidence rate");
        ccg_ch_send_alert(fd, CCG_R_CHANNEL_RATE_LIMITED, timeout);
        goto cleanup;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result send_m2(int fd, int timeout, const ccg_channel_server_config *cfg, server_state *st)
{
    ccg_result result = CCG_FAILURE;
    uint8_t report_data[64];
    uint8_t *body = NULL;
    size_t body_len = 0;
    if (cfg->test_keypair != NULL) {
        st->kp = *cfg->test_keypair;
    } else {
        CCG_TRY(ccg_hpke_generate_keypair(&st->kp));
    }
    CCG_TRY(ccg_ch_report_data(st->m1rec, st->m1_len, st->kp.pk, st->suite, report_data));
    if (ccg_failed(cfg->get_evidence(cfg->evidence_arg, report_data, &st->ev))) {
        ccg_error saved = *ccg_error_last();
        ccg_ch_send_alert(fd, CCG_R_CHANNEL_EVIDENCE_UNAVAILABLE, timeout);
        CCG_CH_REPLACE_ERROR(CCG_R_CHANNEL_EVIDENCE_UNAVAILABLE, "attester: %s: %s", ccg_reason_code(saved.reason),
                             saved.message);
        goto cleanup;
    }
    CCG_TRY(ccg_ch_m2_encode(st->suite, st->kp.pk, &st->ev, &body, &body_len));
    CCG_TRY(ccg_ch_write_handshake(fd, CCG_CH_T_M2, body, body_len, timeout, &st->m2rec, &st->m2_len));
    result = CCG_SUCCESS;
cleanup:
    free(body);
    return result;
}

static ccg_result receive_m3(int fd, int timeout, server_state *st)
{
    ccg_result result = CCG_FAILURE;
    ccg_ch_m3 m3;
    uint8_t expected[CCG_CH_MAC_LEN];
    CCG_TRY(ccg_ch_read_handshake(fd, CCG_CH_T_M3, timeout, &st->m3rec, &st->m3_len));
    CCG_TRY(ccg_ch_m3_parse(st->m3rec + CCG_CH_HEADER_LEN, st->m3_len - CCG_CH_HEADER_LEN, &m3));
    CCG_TRY(ccg_ch_transcript_info(st->m1rec, st->m1_len, st->m2rec, st->m2_len, st->info));
    ccg_result setup = ccg_hpke_setup_receiver(st->suite, CCG_HPKE_MODE_BASE, m3.enc, &st->kp, st->info,
                                               sizeof(st->info), NULL, 0, NULL, 0, &st->hpke);
    /* The private key has done its one job: erase it now, whatever happens next. */
    ccg_hpke_keypair_clear(&st->kp);
    if (ccg_failed(setup)) {
        CCG_CH_REPLACE_ERROR(CCG_R_CHANNEL_CONFIRM_FAILED, "HPKE setup with the client's enc failed: %s",
                             ccg_reason_code(ccg_error_reason()));
        goto cleanup;
    }
    CCG_TRY(ccg_ch_export_keys(st->hpke, st->suite.aead_id, &st->keys));
    CCG_TRY(ccg_ch_confirm_mac(st->keys.confirm_c, 0, st->info, m3.enc, sizeof(m3.enc), expected));
    CCG_ENSURE_MSG(ccg_memeq_ct(expected, m3.confirm, sizeof(expected)), CCG_R_CHANNEL_CONFIRM_FAILED,
                   "the client's key confirmation does not verify");
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result send_sf(int fd, int timeout, server_state *st)
{
    ccg_result result = CCG_FAILURE;
    uint8_t mac[CCG_CH_MAC_LEN];
    CCG_TRY(ccg_ch_confirm_mac(st->keys.confirm_s, 1, st->info, st->m3rec, st->m3_len, mac));
    CCG_TRY(ccg_ch_write_handshake(fd, CCG_CH_T_SF, mac, sizeof(mac), timeout, NULL, NULL));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_channel_accept(int fd, const ccg_channel_server_config *cfg, ccg_channel_session **out)
{
    ccg_result result = CCG_FAILURE;
    server_state st;
    int timeout = cfg->timeout_ms > 0 ? cfg->timeout_ms : CCG_CHANNEL_DEFAULT_TIMEOUT_MS;
    memset(&st, 0, sizeof(st));
    *out = NULL;
    CCG_ENSURE_MSG(cfg->get_evidence != NULL, CCG_R_USAGE_INVALID, "the server needs an evidence source");
    CCG_TRY(receive_m1(fd, timeout, cfg, &st));
    CCG_TRY(send_m2(fd, timeout, cfg, &st));
    CCG_TRY(receive_m3(fd, timeout, &st));
    CCG_TRY(send_sf(fd, timeout, &st));
    CCG_TRY(ccg_ch_session_new(fd, timeout, st.suite.aead_id, &st.keys, 1, out));
    result = CCG_SUCCESS;
cleanup:
    ccg_hpke_keypair_clear(&st.kp);
    ccg_hpke_ctx_free(st.hpke);
    ccg_secure_zero(&st.keys, sizeof(st.keys));
    ccg_channel_evidence_clear(&st.ev);
    free(st.m1rec);
    free(st.m2rec);
    free(st.m3rec);
    return result;
}
