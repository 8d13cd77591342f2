/* An in-process key broker for the cmocka tests: requests through ccg_kbs_handle with the session
 * cookie kept, the /auth step, the common assertions on a response, and a broker that verifies a
 * software TD (the TDX emulator's collateral and root, a file keystore with its KEK made). */
#ifndef CCGATE_TU_KBS_H
#define CCGATE_TU_KBS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "ccgate/kbs.h"
#include "ccgate/tdx_emulator.h"

/* One guest's session with a broker: the cookie /auth set, the nonce it issued, and the request IDs. */
typedef struct {
    ccg_kbs *kbs;
    char cookie[128];
    char nonce[128];
    char rid[32];
    unsigned req_seq;
} tu_kbs_session;

/* One request (body NULL: none) with the session's cookie and a fresh request ID "req-N". */
void tu_kbs_call(tu_kbs_session *s, const char *method, const char *path, const char *body,
                 ccg_kbs_http_response *resp);
/* POST /kbs/v0/auth for tee (a new session); asserts the status, and on 200 keeps the nonce and cookie. */
void tu_kbs_auth(tu_kbs_session *s, const char *tee, unsigned status);
/* Fails the test unless resp has this status and (code not NULL) its body names code. */
void tu_kbs_expect(const ccg_kbs_http_response *resp, unsigned status, const char *code);
/* Imports a 32-byte key of `fill` bytes as key_id under policy_id. */
void tu_kbs_import_key(ccg_kbs *kbs, const char *key_id, const char *policy_id, uint8_t fill);
/* Standard base64 of data (malloc'd). */
char *tu_b64(const uint8_t *data, size_t n);
/* Writes text to path (created or truncated). */
void tu_write_text(const char *path, const char *text);

/* A broker that appraises the software TD `td` (MRTD 0x5a..., default otherwise) at time `now`: the
 * emulator's collateral bundle and root in dir, the store and a file KEK there too, release policy
 * "attest" for attestation, and a guest tee key on `curve` (its public JWK in jwk). */
typedef struct {
    char dir[128];
    ccg_kbs_config cfg;
    ccg_kbs *kbs;
    ccg_time now;
    ccg_tdx_emu *emu;
    ccg_tdx_emu_td td;
    EVP_PKEY *guest;
    json_t *jwk;
    tu_kbs_session s;
} tu_tdx_broker;

/* Opens b (zeroed by the caller) in a fresh /tmp/ccg-TAG-XXXXXX at rfc3339 time now. */
void tu_tdx_broker_open(tu_tdx_broker *b, const char *tag, const char *now, const char *curve);
/* Frees everything and removes the directory. */
void tu_tdx_broker_close(tu_tdx_broker *b);
/* The TDX section's "allowed_mrtd" value for the broker's TD: ["<hex of 0x5a * 48>"]. */
void tu_tdx_broker_mrtd_list(char out[104]);

#endif
