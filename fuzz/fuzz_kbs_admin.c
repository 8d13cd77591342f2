/* libFuzzer target: the admin API's request-document parsers (src/kbs/kbs_admin_docs.c): key
 * import {"key_id","policy_id","key"}, key rotate {"key"} and collateral {"collateral_id","version",
 * "data"}. (Policy and reference-value documents are fuzzed by fuzz_kbs_request and fuzz_refval.)
 * Invariants: a failure carries a reason and leaves the output empty; an accepted document has valid
 * IDs and a key of 1..KBS_ADMIN_KEY_MAX bytes (the one size rule) in secret memory. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"

#include "../src/kbs/kbs_admin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int empty(const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        if (b[i] != 0) {
            return 0;
        }
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    kbs_admin_key_doc k;
    kbs_admin_collateral_doc c;

    if (ccg_ok(kbs_admin_parse_key_import(text, size, 1, &k))) {
        if (!kbs_admin_id_valid(k.key_id) || !kbs_admin_id_valid(k.policy_id) || k.key.data == NULL ||
            k.key.len < 1 || k.key.len > KBS_ADMIN_KEY_MAX) {
            abort();
        }
        kbs_admin_key_doc_clear(&k);
    } else if (ccg_error_reason() == CCG_R_OK || !empty(&k, sizeof(k))) {
        abort();
    }
    if (ccg_ok(kbs_admin_parse_key_rotate(text, size, 1, &k))) {
        if (k.key.data == NULL || k.key.len < 1 || k.key.len > KBS_ADMIN_KEY_MAX || k.key_id[0] != 0) {
            abort();
        }
        kbs_admin_key_doc_clear(&k);
    } else if (ccg_error_reason() == CCG_R_OK || !empty(&k, sizeof(k))) {
        abort();
    }
    if (ccg_ok(kbs_admin_parse_collateral(text, size, &c))) {
        if (!kbs_admin_id_valid(c.id) || c.version < 1 || c.data == NULL || c.len == 0 || c.len > CCG_STORE_BLOB_MAX) {
            abort();
        }
        kbs_admin_collateral_doc_clear(&c);
    } else if (ccg_error_reason() == CCG_R_OK || !empty(&c, sizeof(c))) {
        abort();
    }
    ccg_error_clear();
    return 0;
}
