/* Evidence for M2: the container, and the emulated attester (ccgate's software SNP firmware; a TEST ROOT
 * that no client trusts unless told to). The guest agent's real attesters plug in through the same
 * ccg_channel_evidence_fn. */
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/snp_emulator.h"
#include "channel_internal.h"

void ccg_channel_evidence_clear(ccg_channel_evidence *ev)
{
    free(ev->report);
    for (size_t i = 0; i < ev->cert_count; i++) {
        free(ev->certs[i]);
    }
    memset(ev, 0, sizeof(*ev));
}

ccg_result ccg_channel_evidence_add_cert(ccg_channel_evidence *ev, const uint8_t *der, size_t len)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(ev->cert_count < CCG_CHANNEL_MAX_CERTS, CCG_R_CHANNEL_FRAME_TOO_LARGE, "more than %u certificates",
                   CCG_CHANNEL_MAX_CERTS);
    ev->certs[ev->cert_count] = malloc(len);
    CCG_ENSURE_ALLOC(ev->certs[ev->cert_count]);
    memcpy(ev->certs[ev->cert_count], der, len);
    ev->cert_lens[ev->cert_count++] = len;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result add_x509(ccg_channel_evidence *ev, X509 *cert)
{
    ccg_result result = CCG_FAILURE;
    unsigned char *der = NULL;
    int len = i2d_X509(cert, &der);
    CCG_ENSURE_OSSL(len > 0, CCG_R_INTERNAL_CRYPTO);
    CCG_TRY(ccg_channel_evidence_add_cert(ev, der, (size_t)len));
    result = CCG_SUCCESS;
cleanup:
    OPENSSL_free(der);
    return result;
}

ccg_result ccg_channel_emulated_evidence(void *arg, const uint8_t report_data[64], ccg_channel_evidence *out)
{
    ccg_result result = CCG_FAILURE;
    const ccg_channel_emulated *em = arg;
    ccg_snp_report r;
    memset(out, 0, sizeof(*out));
    ccg_snp_emulator_default_report(em->emu, &r);
    memcpy(r.measurement, em->measurement, sizeof(r.measurement));
    memcpy(r.report_data, report_data, sizeof(r.report_data));
    if (em->debug) {
        r.policy |= CCG_SNP_POLICY_DEBUG;
    }
    out->report = malloc(CCG_SNP_REPORT_SIZE);
    CCG_ENSURE_ALLOC(out->report);
    out->report_len = CCG_SNP_REPORT_SIZE;
    CCG_TRY(ccg_snp_emulator_sign(em->emu, &r, out->report));
    CCG_TRY(add_x509(out, ccg_snp_emulator_vcek(em->emu)));
    CCG_TRY(add_x509(out, ccg_snp_emulator_ask(em->emu)));
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        ccg_channel_evidence_clear(out);
    }
    return result;
}
