/* libFuzzer target: the channel's frame path (header parse, exact-sequence check, AEAD open) under a
 * fixed test key. The first byte selects: odd - seal the rest as a DATA frame, then open it and require
 * the same plaintext back; even - open the rest as a received frame (header + body) at sequence
 * data[0] / 2 % 4. A forged frame must never open. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/channel/channel_internal.h"
#include "ccgate/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void dir_pair(ccg_ch_dir *tx, ccg_ch_dir *rx, uint16_t aead)
{
    ccg_ch_dir_keys k;
    memset(&k, 0x42, sizeof(k));
    k.key_len = ccg_ch_aead_key_len(aead);
    if (ccg_failed(ccg_ch_dir_init(tx, aead, &k)) || ccg_failed(ccg_ch_dir_init(rx, aead, &k))) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t frame[CCG_CH_HEADER_LEN + CCG_CH_MAX_FRAME_BODY];
    static uint8_t pt[CCG_CHANNEL_MAX_PLAINTEXT];
    ccg_ch_dir tx, rx;
    ccg_ch_header h;
    size_t n = 0, pt_len = 0;
    if (size == 0) {
        return 0;
    }
    uint8_t mode = data[0];
    uint16_t aead = (mode & 0x80) ? CCG_HPKE_AEAD_AES128GCM : CCG_HPKE_AEAD_CHACHA20POLY1305;
    data++;
    size--;
    dir_pair(&tx, &rx, aead);
    ccg_error_clear();
    if (mode & 1) {
        if (size <= CCG_CHANNEL_MAX_PLAINTEXT) {
            if (ccg_failed(ccg_ch_frame_seal(&tx, CCG_CH_T_DATA, data, size, frame, &n)) ||
                ccg_failed(ccg_ch_header_parse(frame, CCG_CH_HEADER_LEN, CCG_CH_MAX_FRAME_BODY, &h)) ||
                ccg_failed(ccg_ch_frame_open(&rx, frame, &h, frame + CCG_CH_HEADER_LEN, pt, &pt_len)) ||
                pt_len != size || (size > 0 && memcmp(pt, data, size) != 0)) {
                __builtin_trap();
            }
        }
    } else if (size >= CCG_CH_HEADER_LEN &&
               ccg_ok(ccg_ch_header_parse(data, CCG_CH_HEADER_LEN, CCG_CH_MAX_FRAME_BODY, &h)) &&
               size - CCG_CH_HEADER_LEN >= h.len) {
        rx.seq = (uint64_t)(mode / 2 % 4);
        if (ccg_ok(ccg_ch_frame_open(&rx, data, &h, data + CCG_CH_HEADER_LEN, pt, &pt_len))) {
            /* Only a frame sealed under this key opens; the fuzzer cannot forge a tag. */
            if (h.seq != (uint64_t)(mode / 2 % 4)) {
                __builtin_trap();
            }
        }
    }
    ccg_ch_dir_free(&tx);
    ccg_ch_dir_free(&rx);
    return 0;
}
