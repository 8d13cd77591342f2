/* libFuzzer target: the OHTTP and bhttp decoders (ohttp.h). Byte 0 selects: 0 - a key config; 1 - a bhttp
 * request; 2 - a bhttp response; 3 - an encapsulated request to a fixed gateway key; 4 - an encapsulated
 * response to a fixed client context. Invariants: refusals carry their client.* / input codes; an accepted
 * bhttp message re-encodes and decodes to the same method/path/status, fields and content; a forged
 * encapsulated message never opens. */
#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"
#include "ccgate/ohttp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fields_same(const ccg_bhttp_fields *a, const ccg_bhttp_fields *b)
{
    if (a->count != b->count) {
        return 0;
    }
    for (size_t i = 0; i < a->count; i++) {
        if (strcmp(a->items[i].name, b->items[i].name) != 0 || a->items[i].value_len != b->items[i].value_len ||
            memcmp(a->items[i].value, b->items[i].value, a->items[i].value_len) != 0) {
            return 0;
        }
    }
    return 1;
}

static void bhttp_request(const uint8_t *d, size_t n)
{
    ccg_bhttp_request r, back;
    uint8_t *enc = NULL;
    size_t enc_len = 0;
    if (ccg_failed(ccg_bhttp_request_decode(d, n, &r))) {
        if (ccg_error_reason() != CCG_R_CLIENT_BHTTP_MALFORMED && ccg_error_reason() != CCG_R_INPUT_TOO_LARGE) {
            abort();
        }
        return;
    }
    if (ccg_failed(ccg_bhttp_request_encode(&r, &enc, &enc_len)) || ccg_failed(ccg_bhttp_request_decode(enc, enc_len, &back))) {
        abort();
    }
    if (strcmp(r.method, back.method) || strcmp(r.path, back.path) || strcmp(r.authority, back.authority) ||
        !fields_same(&r.headers, &back.headers) || !fields_same(&r.trailers, &back.trailers) ||
        r.content_len != back.content_len || (r.content_len && memcmp(r.content, back.content, r.content_len))) {
        abort();
    }
    free(enc);
    ccg_bhttp_request_free(&r);
    ccg_bhttp_request_free(&back);
}

static void bhttp_response(const uint8_t *d, size_t n)
{
    ccg_bhttp_response r, back;
    uint8_t *enc = NULL;
    size_t enc_len = 0;
    if (ccg_failed(ccg_bhttp_response_decode(d, n, &r))) {
        return;
    }
    if (ccg_failed(ccg_bhttp_response_encode(&r, &enc, &enc_len)) ||
        ccg_failed(ccg_bhttp_response_decode(enc, enc_len, &back))) {
        abort();
    }
    if (r.status != back.status || !fields_same(&r.headers, &back.headers) || r.content_len != back.content_len ||
        (r.content_len && memcmp(r.content, back.content, r.content_len))) {
        abort();
    }
    free(enc);
    ccg_bhttp_response_free(&r);
    ccg_bhttp_response_free(&back);
}

static void fixed_key(ccg_ohttp_key_config *kc, ccg_hpke_keypair *kp)
{
    static const uint8_t ikm[32] = {1, 2, 3};
    ccg_hpke_suite s = {CCG_HPKE_KEM_X25519_SHA256, CCG_HPKE_KDF_HKDF_SHA256, CCG_HPKE_AEAD_AES128GCM};
    if (ccg_failed(ccg_hpke_derive_keypair(s, ikm, sizeof(ikm), kp))) {
        abort();
    }
    memset(kc, 0, sizeof(*kc));
    kc->key_id = 1;
    kc->kem_id = CCG_HPKE_KEM_X25519_SHA256;
    memcpy(kc->pk, kp->pk, 32);
    kc->n_suites = 2;
    kc->suites[0] = (ccg_ohttp_sym){CCG_HPKE_KDF_HKDF_SHA256, CCG_HPKE_AEAD_AES128GCM};
    kc->suites[1] = (ccg_ohttp_sym){CCG_HPKE_KDF_HKDF_SHA256, CCG_HPKE_AEAD_CHACHA20POLY1305};
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    const uint8_t *d = data + 1;
    size_t n = size - 1;
    ccg_error_clear();
    switch (data[0] % 5) {
    case 0: {
        ccg_ohttp_key_config kc;
        uint8_t *enc = NULL;
        size_t enc_len = 0;
        ccg_ohttp_sym pick;
        if (ccg_ok(ccg_ohttp_key_config_parse(d, n, &kc)) && ccg_ok(ccg_ohttp_key_config_pick(&kc, &pick)) &&
            kc.n_suites == 1) {
            if (ccg_failed(ccg_ohttp_key_config_encode(&kc, &enc, &enc_len)) || enc_len != n || memcmp(enc, d, n) != 0) {
                abort();
            }
        }
        free(enc);
        break;
    }
    case 1: bhttp_request(d, n); break;
    case 2: bhttp_response(d, n); break;
    case 3: {
        ccg_ohttp_key_config kc;
        ccg_hpke_keypair kp;
        ccg_ohttp_ctx *ctx = NULL;
        uint8_t *req = NULL;
        size_t req_len = 0;
        fixed_key(&kc, &kp);
        if (ccg_ok(ccg_ohttp_server_decap_request(&kc, &kp, d, n, &req, &req_len, &ctx))) {
            abort(); /* nothing the fuzzer forges can open under a key it does not know */
        }
        ccg_ohttp_ctx_free(ctx);
        free(req);
        break;
    }
    default: {
        ccg_ohttp_key_config kc;
        ccg_hpke_keypair kp;
        ccg_ohttp_ctx *ctx = NULL;
        uint8_t *enc = NULL, *res = NULL;
        size_t enc_len = 0, res_len = 0;
        fixed_key(&kc, &kp);
        if (ccg_failed(ccg_ohttp_client_encap_request(&kc, kc.suites[0], (const uint8_t *)"x", 1, NULL, &enc, &enc_len, &ctx))) {
            abort();
        }
        if (ccg_ok(ccg_ohttp_client_decap_response(ctx, d, n, &res, &res_len))) {
            abort(); /* a response under a fresh context's secret cannot be forged */
        }
        ccg_ohttp_ctx_free(ctx);
        free(enc);
        free(res);
        break;
    }
    }
    ccg_error_clear();
    return 0;
}
