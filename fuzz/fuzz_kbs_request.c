/* libFuzzer target: the key broker's small request-body parsers: the KBS Request (/kbs/v0/auth),
 * the daemon configuration and the release policy document.
 * Invariants: a failure carries a reason and leaves no output; an accepted Request names 0.4.0. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"
#include "ccgate/kbs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ccg_kbs_request r;
    ccg_kbs_config c;
    ccg_kbs_policy *p = NULL;
    const char *text = (const char *)data;

    if (ccg_ok(ccg_kbs_request_parse(text, size, &r))) {
        if (strcmp(r.version, CCG_KBS_PROTOCOL_VERSION) != 0 || r.tee[0] == 0) {
            abort();
        }
    } else if (ccg_error_reason() == CCG_R_OK) {
        abort();
    }
    if (ccg_ok(ccg_kbs_config_parse(text, size, &c))) {
        if (c.store == NULL || c.keystore == NULL || c.bind_address == NULL) {
            abort();
        }
        ccg_kbs_config_free(&c);
    } else if (ccg_error_reason() == CCG_R_OK || c.store != NULL) {
        abort();
    }
    if (ccg_ok(ccg_kbs_policy_parse(text, size, &p))) {
        if (p == NULL || p->snp == NULL || !p->allow_snp || p->version < 1) {
            abort();
        }
        ccg_kbs_policy_free(p);
    } else if (ccg_error_reason() == CCG_R_OK || p != NULL) {
        abort();
    }
    return 0;
}
