/* libFuzzer target: the KBS Attestation body (/kbs/v0/attest) with its tee-pubkey JWK and the SNP
 * attester's evidence JSON (the report as the sev crate's field-wise object, base64 or a byte array;
 * the certificate chain as base64 or byte arrays).
 * Invariants: a failure carries a reason and leaves the output empty; an accepted body has a nonce,
 * a parsed key and a full-size report, and its evidence survives the session form and back. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"
#include "ccgate/kbs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ccg_kbs_attestation a;
    ccg_kbs_snp_evidence again;
    json_t *form;
    if (ccg_failed(ccg_kbs_attestation_parse((const char *)data, size, &a))) {
        if (ccg_error_reason() == CCG_R_OK || a.tee_pubkey != NULL || a.snp.cert_count != 0) {
            abort();
        }
        return 0;
    }
    if (a.nonce[0] == 0 || a.tee_pubkey == NULL || a.additional_evidence == NULL) {
        abort();
    }
    form = ccg_kbs_snp_evidence_to_json(&a.snp);
    if (form == NULL || ccg_failed(ccg_kbs_snp_evidence_from_json(form, &again))) {
        abort();
    }
    if (memcmp(again.report, a.snp.report, sizeof(again.report)) != 0 || again.cert_count != a.snp.cert_count) {
        abort();
    }
    for (size_t i = 0; i < again.cert_count; i++) {
        if (again.cert_lens[i] != a.snp.cert_lens[i] || memcmp(again.certs[i], a.snp.certs[i], again.cert_lens[i]) != 0) {
            abort();
        }
    }
    ccg_kbs_snp_evidence_free(&again);
    json_decref(form);
    ccg_kbs_attestation_free(&a);
    return 0;
}
