/* libFuzzer target: ccg_hpke_open under fixed HPKE contexts (keys derived from fixed ikm; they exist
 * only for fuzzing). Input: byte 0 picks the suite (bit 0: ChaCha20-Poly1305 or AES-128-GCM),
 * byte 1 is the receiver's sequence number, byte 2 the aad length; then aad, then ct||tag.
 * Invariants: a refusal carries hpke.open_failed (or usage.invalid for a missing buffer), leaves the
 * sequence number alone and leaves a zeroed plaintext; anything that opens is what the sender seals
 * from that plaintext at that sequence number, byte for byte. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"
#include "ccgate/hpke.h"
#include "../src/hpke/hpke_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t ikm_e[32] = "fuzz_hpke_open ephemeral ikm...";
static const uint8_t ikm_r[32] = "fuzz_hpke_open recipient ikm...";
static const uint8_t info[] = "ccgate fuzz_hpke_open";

typedef struct {
    ccg_hpke_ctx *s;
    ccg_hpke_ctx *r;
} fixed_pair;

static fixed_pair make_pair(uint16_t aead_id)
{
    ccg_hpke_suite suite = {CCG_HPKE_KEM_X25519_SHA256, CCG_HPKE_KDF_HKDF_SHA256, aead_id};
    ccg_hpke_keypair eph, kp_r;
    uint8_t enc[CCG_HPKE_X25519_LEN];
    fixed_pair p = {NULL, NULL};
    if (ccg_failed(ccg_hpke_derive_keypair(suite, ikm_e, sizeof(ikm_e), &eph)) ||
        ccg_failed(ccg_hpke_derive_keypair(suite, ikm_r, sizeof(ikm_r), &kp_r)) ||
        ccg_failed(ccg_hpke_setup_sender(suite, CCG_HPKE_MODE_BASE, kp_r.pk, info, sizeof(info), NULL, 0, NULL, 0, &eph,
                                         enc, &p.s)) ||
        ccg_failed(ccg_hpke_setup_receiver(suite, CCG_HPKE_MODE_BASE, enc, &kp_r, info, sizeof(info), NULL, 0, NULL, 0,
                                           &p.r))) {
        abort();
    }
    ccg_hpke_keypair_clear(&eph);
    ccg_hpke_keypair_clear(&kp_r);
    return p;
}

static void check_open(fixed_pair *p, uint8_t seq, const uint8_t *aad, size_t aad_len, const uint8_t *ct, size_t ct_len)
{
    size_t cap = ct_len > CCG_HPKE_TAG_LEN ? ct_len - CCG_HPKE_TAG_LEN : 0;
    uint8_t *pt = malloc(cap + 1);
    uint8_t *again = malloc(cap + CCG_HPKE_TAG_LEN);
    size_t pt_len = 0;
    size_t again_len = 0;
    if (pt == NULL || again == NULL) {
        abort();
    }
    memset(pt, 0xa5, cap + 1);
    ccg_hpke_ctx_set_seq(p->r, seq);
    ccg_error_clear();
    if (ccg_failed(ccg_hpke_open(p->r, aad, aad_len, ct, ct_len, pt, &pt_len))) {
        ccg_reason why = ccg_error_reason();
        if ((why != CCG_R_HPKE_OPEN_FAILED && why != CCG_R_USAGE_INVALID) || ccg_hpke_ctx_seq(p->r) != seq) {
            abort();
        }
        for (size_t i = 0; i < cap && ct_len >= CCG_HPKE_TAG_LEN; i++) {
            if (pt[i] != 0) {
                abort(); /* unauthenticated plaintext was left behind */
            }
        }
    } else {
        /* It authenticated: the sender at this sequence number seals exactly these bytes. */
        ccg_hpke_ctx_set_seq(p->s, seq);
        if (pt_len != cap || ccg_hpke_ctx_seq(p->r) != (uint64_t)seq + 1 ||
            ccg_failed(ccg_hpke_seal(p->s, aad, aad_len, pt, pt_len, again, &again_len)) || again_len != ct_len ||
            memcmp(again, ct, ct_len) != 0) {
            abort();
        }
    }
    free(pt);
    free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fixed_pair pairs[2];
    static int ready = 0;
    if (!ready) {
        pairs[0] = make_pair(CCG_HPKE_AEAD_CHACHA20POLY1305);
        pairs[1] = make_pair(CCG_HPKE_AEAD_AES128GCM);
        ready = 1;
    }
    if (size < 3) {
        return 0;
    }
    fixed_pair *p = &pairs[data[0] & 1];
    uint8_t seq = data[1];
    size_t aad_len = data[2];
    data += 3;
    size -= 3;
    if (aad_len > size) {
        aad_len = size;
    }
    check_open(p, seq, aad_len > 0 ? data : NULL, aad_len, size > aad_len ? data + aad_len : NULL, size - aad_len);
    return 0;
}
