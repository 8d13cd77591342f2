/* libFuzzer target: the channel's M2 parser (server key and evidence: report and certificate chain with
 * explicit lengths). The input is the M2 body. An accepted body must re-encode to the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/channel/channel_internal.h"
#include "ccgate/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ccg_ch_m2 m2;
    ccg_error_clear();
    if (ccg_failed(ccg_ch_m2_parse(data, size, &m2))) {
        return 0;
    }
    /* Re-encode from the borrowed views: evidence fields are const in the parser's output. */
    ccg_channel_evidence ev;
    memset(&ev, 0, sizeof(ev));
    ev.report = (uint8_t *)(uintptr_t)m2.report;
    ev.report_len = m2.report_len;
    for (size_t i = 0; i < m2.cert_count; i++) {
        ev.certs[i] = (uint8_t *)(uintptr_t)m2.certs[i];
        ev.cert_lens[i] = m2.cert_lens[i];
    }
    ev.cert_count = m2.cert_count;
    uint8_t *again = NULL;
    size_t again_len = 0;
    ccg_error_clear();
    if (ccg_ok(ccg_ch_m2_encode(m2.suite, m2.pk_s, &ev, &again, &again_len))) {
        if (again_len != size || memcmp(again, data, size) != 0) {
            __builtin_trap();
        }
    }
    free(again);
    return 0;
}
