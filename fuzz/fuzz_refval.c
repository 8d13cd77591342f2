/* libFuzzer target: the reference-value record and set parser, and signing-byte canonicalisation. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ccgate/error.h"
#include "ccgate/refvalue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ccg_refval_set *set = NULL;
    ccg_error_clear();
    if (ccg_failed(ccg_refval_set_parse((const char *)data, size, &set))) {
        if (ccg_error_reason() == CCG_R_OK) {
            abort();
        }
        return 0;
    }
    for (size_t i = 0; i < set->count; i++) {
        char *bytes = NULL;
        size_t len = 0;
        ccg_decision d;
        ccg_decision_init(&d, "refval");
        if (ccg_ok(ccg_refval_signing_bytes(set->records[i].doc, &bytes, &len))) {
            free(bytes);
        }
        (void)ccg_refval_record_check(&set->records[i], "snp", NULL, 1780000000, &d);
        ccg_decision_free(&d);
    }
    ccg_refval_set_free(set);
    ccg_error_clear();
    return 0;
}
