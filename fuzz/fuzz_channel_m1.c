/* libFuzzer target: the channel's record header and M1 parsers (src/channel/channel_wire.c). The input is
 * a whole M1 record: 16 header bytes, then the body. Accepted bodies must re-encode to the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../src/channel/channel_internal.h"
#include "ccgate/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ccg_ch_header h;
    ccg_ch_m1 m1;
    uint8_t again[CCG_CH_M1_BODY_LEN];
    ccg_error_clear();
    if (size >= CCG_CH_HEADER_LEN) {
        (void)ccg_ch_header_parse(data, CCG_CH_HEADER_LEN, CCG_CHANNEL_MAX_HANDSHAKE, &h);
        data += CCG_CH_HEADER_LEN;
        size -= CCG_CH_HEADER_LEN;
    }
    ccg_error_clear();
    if (ccg_ok(ccg_ch_m1_parse(data, size, &m1))) {
        if (size != CCG_CH_M1_BODY_LEN || ccg_failed(ccg_ch_m1_encode(&m1, again)) || memcmp(again, data, size) != 0) {
            __builtin_trap(); /* the parser accepted something it cannot reproduce */
        }
    }
    return 0;
}
