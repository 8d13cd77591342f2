/* Member readers shared by the policy documents (SNP, GPU, TDX; docs/api-core.md): one wording and one
 * reason code for the same mistake in any of them. Each refuses a wrong type or value with
 * policy.invalid_value (the identity with policy.version_invalid) and names the member. */
#ifndef CCGATE_POLICY_JSON_H
#define CCGATE_POLICY_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "ccgate/result.h"

/* A JSON boolean. */
CCG_MUST_CHECK ccg_result ccg_policy_get_bool(const json_t *v, const char *key, int *out);
/* Exactly 2*n hex digits, decoded into out[n]. */
CCG_MUST_CHECK ccg_result ccg_policy_get_hex(const json_t *v, const char *key, uint8_t *out, size_t n);
/* "policy_id" (1..id_cap-1 printable ASCII bytes without spaces) and "version" (>= 1) of a document. */
CCG_MUST_CHECK ccg_result ccg_policy_get_identity(const json_t *root, char *id, size_t id_cap, int64_t *version);

#endif
