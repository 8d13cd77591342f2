/* The client handshake: M1 out, M2 in, the evidence verified against the client's own policy and its
 * REPORT_DATA checked against this connection, and only then HPKE to pk_s, M3 out and SF checked. A
 * session exists only after all of that, so no application byte can leave before verification. */
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/secmem.h"
#include "ccgate/snp_report.h"
#include "channel_internal.h"

static ccg_result load_collateral(const ccg_ch_m2 *m2, ccg_snp_collateral *col)
{
    ccg_result result = CCG_FAILURE;
    for (size_t i = 0; i < m2->cert_count; i++) {
        if (ccg_failed(ccg_snp_collateral_add_certs(col, m2->certs[i], m2->cert_lens[i]))) {
            CCG_CH_REPLACE_ERROR(CCG_R_CHANNEL_MESSAGE_MALFORMED, "M2 certificate %zu does not parse: %s", i,
                                 ccg_reason_code(ccg_error_reason()));
            goto cleanup;
        }
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Verifies the evidence with the ccgate verifier; *d always holds the decision afterwards. */
static ccg_result verify_evidence(const ccg_channel_client_config *cfg, const ccg_ch_m2 *m2, ccg_decision *d)
{
    ccg_result result = CCG_FAILURE;
    ccg_snp_collateral col = {0};
    ccg_result vr;
    CCG_TRY(ccg_snp_collateral_init(&col));
    CCG_TRY(load_collateral(m2, &col));
    ccg_decision_free(d);
    vr = ccg_snp_verify_ex(cfg->verifier, m2->report, m2->report_len, &col, cfg->policy, cfg->opts, cfg->now, d);
    if (ccg_failed(vr) || !d->allow) {
        const char *cause = d->reasons.count > 0 ? ccg_reason_code(d->reasons.items[0].reason) : "unknown";
        CCG_CH_REPLACE_ERROR(CCG_R_CHANNEL_EVIDENCE_DENIED, "evidence denied: %s (%zu reason%s)", cause,
                             d->reasons.count, d->reasons.count == 1 ? "" : "s");
        goto cleanup;
    }
    result = CCG_SUCCESS;
cleanup:
    ccg_snp_collateral_free(&col);
    return result;
}

/* The evidence must carry SHA-512(label || SHA-256(M1) || pk_s || suite) for THIS M1: a stale or
 * replayed report, even with its private key, binds some other nonce. */
static ccg_result check_binding(const uint8_t *m1rec, size_t m1_len, const ccg_ch_m2 *m2, ccg_hpke_suite suite)
{
    ccg_result result = CCG_FAILURE;
    ccg_snp_report r;
    uint8_t expected[64];
    CCG_TRY(ccg_snp_report_parse(m2->report, m2->report_len, &r));
    CCG_TRY(ccg_ch_report_data(m1rec, m1_len, m2->pk_s, suite, expected));
    CCG_ENSURE_MSG(ccg_memeq_ct(expected, r.report_data, sizeof(expected)), CCG_R_CHANNEL_BINDING_MISMATCH,
                   "REPORT_DATA does not bind this connection's nonce, key and suite");
    result = CCG_SUCCESS;
cleanup:
    return result;
}

typedef struct {
    uint8_t *m1rec, *m2rec, *m3rec, *sfrec;
    size_t m1_len, m2_len, m3_len, sf_len;
    ccg_hpke_ctx *hpke;
    ccg_ch_keys keys;
    uint8_t info[32];
} client_state;

static ccg_result send_m1(int fd, int timeout, ccg_hpke_suite suite, client_state *st)
{
    ccg_result result = CCG_FAILURE;
    ccg_ch_m1 m1 = {.version = CCG_CHANNEL_VERSION, .suite = suite};
    uint8_t body[CCG_CH_M1_BODY_LEN];
    CCG_ENSURE_OSSL(RAND_bytes(m1.nonce, sizeof(m1.nonce)) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_TRY(ccg_ch_m1_encode(&m1, body));
    CCG_TRY(ccg_ch_write_handshake(fd, CCG_CH_T_M1, body, sizeof(body), timeout, &st->m1rec, &st->m1_len));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result receive_m2(int fd, int timeout, ccg_hpke_suite suite, client_state *st, ccg_ch_m2 *m2)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(ccg_ch_read_handshake(fd, CCG_CH_T_M2, timeout, &st->m2rec, &st->m2_len));
    CCG_TRY(ccg_ch_m2_parse(st->m2rec + CCG_CH_HEADER_LEN, st->m2_len - CCG_CH_HEADER_LEN, m2));
    CCG_ENSURE_MSG(m2->suite.kem_id == suite.kem_id && m2->suite.kdf_id == suite.kdf_id &&
                       m2->suite.aead_id == suite.aead_id,
                   CCG_R_CHANNEL_SUITE_UNSUPPORTED, "M2 names a suite the client did not offer");
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result send_m3(int fd, int timeout, ccg_hpke_suite suite, const ccg_ch_m2 *m2, client_state *st)
{
    ccg_result result = CCG_FAILURE;
    ccg_ch_m3 m3 = {.version = CCG_CHANNEL_VERSION};
    uint8_t body[CCG_CH_M3_BODY_LEN];
    CCG_TRY(ccg_ch_transcript_info(st->m1rec, st->m1_len, st->m2rec, st->m2_len, st->info));
    CCG_TRY(ccg_hpke_setup_sender(suite, CCG_HPKE_MODE_BASE, m2->pk_s, st->info, sizeof(st->info), NULL, 0, NULL, 0,
                                  NULL, m3.enc, &st->hpke));
    CCG_TRY(ccg_ch_export_keys(st->hpke, suite.aead_id, &st->keys));
    CCG_TRY(ccg_ch_confirm_mac(st->keys.confirm_c, 0, st->info, m3.enc, sizeof(m3.enc), m3.confirm));
    ccg_ch_m3_encode(&m3, body);
    CCG_TRY(ccg_ch_write_handshake(fd, CCG_CH_T_M3, body, sizeof(body), timeout, &st->m3rec, &st->m3_len));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result receive_sf(int fd, int timeout, client_state *st)
{
    ccg_result result = CCG_FAILURE;
    uint8_t got[CCG_CH_MAC_LEN], expected[CCG_CH_MAC_LEN];
    CCG_TRY(ccg_ch_read_handshake(fd, CCG_CH_T_SF, timeout, &st->sfrec, &st->sf_len));
    CCG_TRY(ccg_ch_sf_parse(st->sfrec + CCG_CH_HEADER_LEN, st->sf_len - CCG_CH_HEADER_LEN, got));
    CCG_TRY(ccg_ch_confirm_mac(st->keys.confirm_s, 1, st->info, st->m3rec, st->m3_len, expected));
    CCG_ENSURE_MSG(ccg_memeq_ct(got, expected, sizeof(got)), CCG_R_CHANNEL_CONFIRM_FAILED,
                   "the server's key confirmation does not verify");
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_channel_connect(int fd, const ccg_channel_client_config *cfg, ccg_decision *decision,
                               ccg_channel_session **out)
{
    ccg_result result = CCG_FAILURE;
    client_state st;
    ccg_decision local;
    ccg_decision *d = decision != NULL ? decision : &local;
    ccg_ch_m2 m2;
    int timeout = cfg->timeout_ms > 0 ? cfg->timeout_ms : CCG_CHANNEL_DEFAULT_TIMEOUT_MS;
    ccg_hpke_suite suite = {CCG_HPKE_KEM_X25519_SHA256, CCG_HPKE_KDF_HKDF_SHA256,
                            cfg->aead_id != 0 ? cfg->aead_id : CCG_HPKE_AEAD_CHACHA20POLY1305};
    memset(&st, 0, sizeof(st));
    ccg_decision_init(d, "snp");
    *out = NULL;
    CCG_ENSURE_MSG(cfg->verifier != NULL, CCG_R_USAGE_INVALID, "the client needs a verifier");
    CCG_ENSURE_MSG(ccg_ch_suite_allowed(suite), CCG_R_CHANNEL_SUITE_UNSUPPORTED, "AEAD 0x%04x", suite.aead_id);
    CCG_TRY(send_m1(fd, timeout, suite, &st));
    CCG_TRY(receive_m2(fd, timeout, suite, &st, &m2));
    CCG_TRY(verify_evidence(cfg, &m2, d));
    CCG_TRY(check_binding(st.m1rec, st.m1_len, &m2, suite));
    CCG_TRY(send_m3(fd, timeout, suite, &m2, &st));
    CCG_TRY(receive_sf(fd, timeout, &st));
    CCG_TRY(ccg_ch_session_new(fd, timeout, suite.aead_id, &st.keys, 0, out));
    result = CCG_SUCCESS;
cleanup:
    ccg_hpke_ctx_free(st.hpke);
    ccg_secure_zero(&st.keys, sizeof(st.keys));
    free(st.m1rec);
    free(st.m2rec);
    free(st.m3rec);
    free(st.sfrec);
    if (decision == NULL) {
        ccg_decision_free(&local);
    }
    return result;
}
