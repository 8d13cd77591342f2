/* libFuzzer target: the sealed-artifact header parser (ccg_artifact_parse_header, the bounded reader) and,
 * on a parse, the body layout it implies. Seeds: fuzz/corpus/fuzz_artifact_header/. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ccgate/artifact.h"
#include "ccgate/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ccg_artifact_header h;
    ccg_error_clear();
    if (ccg_ok(ccg_artifact_parse_header(data, size, &h))) {
        /* The invariants a parsed header promises the unsealer. */
        if (h.chunk_size < CCG_ARTIFACT_CHUNK_MIN || h.chunk_size > CCG_ARTIFACT_CHUNK_MAX || h.chunk_count == 0 ||
            h.signed_len + h.signature_len > size || h.total_len < h.plaintext_len ||
            strlen(h.key_id) == 0 || h.key_version == 0 ||
            (h.chunk_count - 1) * (uint64_t)h.chunk_size > h.plaintext_len) {
            __builtin_trap();
        }
    }
    return 0;
}
