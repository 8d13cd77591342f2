/* libFuzzer target: the endpoint's evidence document decode (endpoint_binding.h). Invariants: a refusal
 * is client.evidence_malformed and leaves the document empty; an accepted document encodes back to JSON
 * that decodes to the same members. */
#include <stdlib.h>
#include <string.h>

#include "ccgate/endpoint_binding.h"
#include "ccgate/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ccg_endpoint_evidence d, back;
    char *text = NULL;
    ccg_error_clear();
    if (ccg_failed(ccg_endpoint_evidence_decode((const char *)data, size, &d))) {
        if (ccg_error_reason() != CCG_R_CLIENT_EVIDENCE_MALFORMED || d.report != NULL || d.key_config != NULL) {
            abort();
        }
        return 0;
    }
    if (ccg_failed(ccg_endpoint_evidence_encode(&d, &text)) ||
        ccg_failed(ccg_endpoint_evidence_decode(text, strlen(text), &back))) {
        abort();
    }
    if (back.tee != d.tee || back.binding != d.binding || memcmp(back.nonce, d.nonce, 32) != 0 ||
        !same(back.report, back.report_len, d.report, d.report_len) ||
        !same(back.key_config, back.key_config_len, d.key_config, d.key_config_len) ||
        !same(back.certs, back.certs_len, d.certs, d.certs_len) || !same(back.ccel, back.ccel_len, d.ccel, d.ccel_len) ||
        !same(back.ccel_data, back.ccel_data_len, d.ccel_data, d.ccel_data_len)) {
        abort();
    }
    free(text);
    ccg_endpoint_evidence_free(&d);
    ccg_endpoint_evidence_free(&back);
    return 0;
}
