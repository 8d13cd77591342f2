/* libFuzzer target: the wrapped-key blob header (keystore), parsed with the bounded reader. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ccgate/error.h"
#include "ccgate/keystore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ccg_wrapped_key parsed;
    ccg_error_clear();
    if (ccg_failed(ccg_wrapped_key_parse(data, size, &parsed)) && ccg_error_reason() == CCG_R_OK) {
        abort(); /* every refusal names its reason */
    }
    return 0;
}
