/* libFuzzer target: tee-evidence.additional_evidence as the key broker reads it (Trustee's KBS 0.4.0
 * form, {"nvidia":{"device_evidence_list":[{"arch","uuid"?,"evidence","certificate"}]}}), then the key
 * of the replay memory for every entry.
 * Invariants: a failure carries a reason and leaves the list empty; an accepted list holds at most
 * CCG_GPU_MAX_GPUS GPUs of a known architecture, each with a report and a chain, none claiming a nonce of
 * its own; the replay key of each is "sha384:" and 96 hex digits. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"
#include "ccgate/kbs.h"

#include "../src/kbs/kbs_gpu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ccg_gpu_evidence_list l;
    if (ccg_failed(ccg_kbs_gpu_evidence_parse((const char *)data, size, &l))) {
        if (ccg_error_reason() == CCG_R_OK || l.count != 0 || l.items != NULL) {
            abort();
        }
        return 0;
    }
    if (l.count > CCG_GPU_MAX_GPUS || (l.count == 0) != (l.items == NULL)) {
        abort();
    }
    for (size_t i = 0; i < l.count; i++) {
        const ccg_gpu_evidence_item *it = &l.items[i];
        char digest[112];
        if (it->arch == CCG_GPU_ARCH_UNKNOWN || !it->nonce_absent || it->evidence_len == 0 ||
            it->certificate_len == 0 || ccg_failed(kbs_gpu_report_digest(it, digest)) ||
            strncmp(digest, "sha384:", 7) != 0 || strlen(digest) != 7 + 96) {
            abort();
        }
    }
    ccg_gpu_evidence_list_free(&l);
    return 0;
}
