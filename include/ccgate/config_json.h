/* Member readers shared by the strict JSON configuration files (the agent's, its "endpoint" section;
 * docs/api-core.md), as policy_json.h is for the policy documents: one wording for the same mistake.
 * Each takes the caller's reason code and names the member as "where.name". Absent members leave *out
 * as it was (its default). */
#ifndef CCGATE_CONFIG_JSON_H
#define CCGATE_CONFIG_JSON_H

#include <stdint.h>
#include <jansson.h>

#include "ccgate/reasons.h"
#include "ccgate/result.h"

#define CCG_CONFIG_STR_MAX 4095 /* the longest string member (paths, URLs, addresses) */

enum {
    CCG_CONFIG_OPTIONAL = 0,
    CCG_CONFIG_REQUIRED = 1,  /* absence is refused */
    CCG_CONFIG_NULL_ABSENT = 2 /* JSON null counts as absent (else it is a wrong type) */
};

/* obj is an object whose members are all in known (a NULL-terminated list). */
CCG_MUST_CHECK ccg_result ccg_config_only_known(const json_t *obj, const char *where, const char *const *known,
                                                ccg_reason bad);
/* A non-empty string of at most CCG_CONFIG_STR_MAX bytes without NUL, copied into *out (a previous value
 * is freed). flags: CCG_CONFIG_*. */
CCG_MUST_CHECK ccg_result ccg_config_get_str(const json_t *obj, const char *where, const char *name, int flags,
                                             ccg_reason bad, char **out);
/* A JSON boolean. */
CCG_MUST_CHECK ccg_result ccg_config_get_bool(const json_t *obj, const char *where, const char *name,
                                              ccg_reason bad, int *out);
/* An integer in [min, max]. */
CCG_MUST_CHECK ccg_result ccg_config_get_uint(const json_t *obj, const char *where, const char *name, uint64_t min,
                                              uint64_t max, ccg_reason bad, uint64_t *out);

#endif
