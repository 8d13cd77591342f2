/* The NVIDIA GPU appraisal policy: a JSON document with policy_id and version (docs/gpu-policy.md).
 * Parsing is strict: unknown members, wrong types and out-of-range values are refused. Absent members
 * take the secure defaults of ccg_gpu_policy_default. DevTools mode is always refused and is not a
 * policy option. */
#ifndef CCGATE_GPU_POLICY_H
#define CCGATE_GPU_POLICY_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <openssl/x509.h>

#include "ccgate/gpu_evidence.h"
#include "ccgate/result.h"

#define CCG_GPU_POLICY_MAX_VERSIONS 64 /* entries of an allowed_*_versions list */
#define CCG_GPU_POLICY_VERSION_MAX 32  /* bytes of one version string, NUL included */
#define CCG_GPU_POLICY_MAX_PARTS 8     /* dotted parts of a version */

/* How the policy treats one GPU topology mode (the FEATURE_FLAG opaque field). */
typedef enum {
    CCG_GPU_MODE_RULE_ALLOWED = 0,
    CCG_GPU_MODE_RULE_REQUIRED, /* every GPU must be in this mode */
    CCG_GPU_MODE_RULE_REFUSED,  /* no GPU may be in this mode */
} ccg_gpu_mode_rule;

/* A version list: "" minimum and no entries means no constraint. */
typedef struct {
    char minimum[CCG_GPU_POLICY_VERSION_MAX];
    size_t allowed_count; /* 0: any version (subject to minimum) */
    char allowed[CCG_GPU_POLICY_MAX_VERSIONS][CCG_GPU_POLICY_VERSION_MAX];
} ccg_gpu_version_rule;

typedef struct {
    char policy_id[128];
    int64_t version;

    unsigned min_count; /* "count" sets both; default 1..CCG_GPU_MAX_GPUS */
    unsigned max_count;
    int allow_hopper;   /* "allowed_architectures"; default both */
    int allow_blackwell;
    ccg_gpu_version_rule driver;  /* dotted decimal: "550.90.07" */
    ccg_gpu_version_rule vbios;   /* dotted hex: "96.00.9F.00.01" */
    int require_rim;     /* default 1: driver and VBIOS RIMs must be found, verified and match */
    int require_ocsp;    /* default 1: every certificate of the device chain must be OCSP-good */
    int allow_hold;      /* default 0: a certificate on hold fails */
    int require_fwid;    /* default 0: older drivers carry no FWID */
    ccg_gpu_mode_rule single_gpu;     /* mode SPT; default allowed */
    ccg_gpu_mode_rule multi_gpu;      /* mode MPT; default allowed */
    ccg_gpu_mode_rule protected_pcie; /* mode PPCIE; default allowed */

    /* "trusted_roots": test roots trusted only because this policy names them (a software GPU's).
     * Owned; NULL when the policy names none. */
    X509 *gpu_test_root; /* the device identity chain may end here */
    X509 *rim_test_root; /* RIMs may be signed under this root */
} ccg_gpu_policy;

/* The documented default: "ccgate-default-gpu" version 1 with the defaults above. */
CCG_MUST_CHECK ccg_result ccg_gpu_policy_default(ccg_gpu_policy **out);
/* Fails with policy.malformed, policy.unknown_key, policy.invalid_value or policy.version_invalid. */
CCG_MUST_CHECK ccg_result ccg_gpu_policy_parse(const char *json, size_t len, ccg_gpu_policy **out);
/* The "gpu" section of a key-broker release policy (docs/kbs.md): the same members, defaults, checks and
 * codes as ccg_gpu_policy_parse, except policy_id and version, which the section takes from the release
 * policy (the members themselves are policy.unknown_key there). section is borrowed. */
CCG_MUST_CHECK ccg_result ccg_gpu_policy_from_section(const json_t *section, const char *policy_id, int64_t version,
                                                      ccg_gpu_policy **out);
void ccg_gpu_policy_free(ccg_gpu_policy *p);

/* Compares two versions part by part: driver versions are dotted decimal ("550.90.07"), VBIOS
 * versions dotted hex ("96.00.9F.00.01"); parts compare as numbers (so "9" < "10", "0A" == "0a"); a
 * version with fewer parts is padded with zeros. Returns 0 and sets *cmp to <0, 0, >0, or fails with
 * gpu.version_unreadable when either is not 1..8 parts of 1..8 digits. */
CCG_MUST_CHECK ccg_result ccg_gpu_version_compare(const char *a, const char *b, int hex, int *cmp);

#endif
