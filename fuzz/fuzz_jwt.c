/* libFuzzer target: compact JWS/JWT verification with ES256.
 * The input is tried as a token (parsing up to the signature check), and, when it is a JSON object, as
 * claims that are signed and verified again (the claim and time checks behind the signature).
 * Invariants: a failure carries a reason; a token ccgate signed never fails its signature check, and
 * when it verifies the claims come back equal. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ccgate/error.h"
#include "ccgate/jose.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW 1767225600 /* 2026-01-01T00:00:00Z */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static EVP_PKEY *key = NULL;
    json_t *claims = NULL;
    json_t *input = NULL;
    json_error_t jerr;
    char *token = NULL;
    if (key == NULL) {
        key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        if (key == NULL) {
            abort();
        }
    }
    ccg_error_clear();
    if (ccg_failed(ccg_jwt_verify_es256(key, (const char *)data, size, NOW, 30, &claims))) {
        if (ccg_error_reason() == CCG_R_OK || claims != NULL) {
            abort();
        }
    } else {
        abort(); /* nobody but this process holds the key */
    }

    input = json_loadb((const char *)data, size, 0, &jerr);
    if (json_is_object(input)) {
        ccg_error_clear();
        if (ccg_ok(ccg_jwt_sign_es256(key, input, &token))) {
            ccg_error_clear();
            if (ccg_ok(ccg_jwt_verify_es256(key, token, strlen(token), NOW, 30, &claims))) {
                if (!json_equal(claims, input)) {
                    abort();
                }
                json_decref(claims);
            } else if (ccg_error_reason() == CCG_R_OK ||
                       strstr(ccg_error_last()->message, "signature does not verify") != NULL) {
                abort();
            }
            free(token);
        } else if (ccg_error_reason() == CCG_R_OK) {
            abort();
        }
    }
    json_decref(input);
    return 0;
}
