/* libFuzzer target: the channel's M3, SF (server confirmation) and ALERT parsers. The first byte picks
 * the parser; the rest is the message body. An accepted M3 must re-encode to the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../src/channel/channel_internal.h"
#include "ccgate/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ccg_ch_m3 m3;
    uint8_t again[CCG_CH_M3_BODY_LEN];
    uint8_t mac[CCG_CH_MAC_LEN];
    ccg_reason reason;
    if (size == 0) {
        return 0;
    }
    uint8_t which = data[0] % 3;
    data++;
    size--;
    ccg_error_clear();
    if (which == 0 && ccg_ok(ccg_ch_m3_parse(data, size, &m3))) {
        ccg_ch_m3_encode(&m3, again);
        if (size != sizeof(again) || memcmp(again, data, size) != 0) {
            __builtin_trap();
        }
    } else if (which == 1) {
        (void)ccg_ch_sf_parse(data, size, mac);
    } else if (which == 2 && ccg_ok(ccg_ch_alert_parse(data, size, &reason))) {
        if (ccg_reason_kind_of(reason) == CCG_KIND_OK) {
            __builtin_trap(); /* an alert always names a failure */
        }
    }
    return 0;
}
