/* The audit records the cmocka tests append, the same on SQLite and PostgreSQL so that both logs can be
 * compared hash for hash. */
#ifndef CCGATE_TU_AUDIT_H
#define CCGATE_TU_AUDIT_H

#include <stdint.h>

#include "ccgate/audit.h"

/* The time of record 0: 2026-01-01T00:00:00Z; record i is at TU_AUDIT_T0 + i. */
#define TU_AUDIT_T0 ((ccg_time)1767225600)

/* Appends record i: a release of default/model/llama v2 under llama-release v3, denied with two reasons
 * (snp.tcb_below_minimum, snp.debug_enabled), allowed when i is a multiple of 3; with_claims: every
 * fifth also carries SNP claims and a TCB status. seq and hash may be NULL. */
CCG_MUST_CHECK ccg_result tu_audit_append(ccg_audit *a, int i, int with_claims, int64_t *seq,
                                          char hash[CCG_AUDIT_HASH_HEX]);

#endif
