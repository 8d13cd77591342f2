/* The registry of stable reason codes, one file per group under ccgate/reasons/, included below in a
 * fixed order: the order of the includes and of the entries in each file gives every code its enum value.
 * One entry per code, its message on the next line (split into adjacent string literals when longer):
 *   X(ENUM_NAME, "wire.code", "component", kind,
 *     "operator message")
 * kind: DENY (the evidence or request was refused), INPUT (malformed or unsupported input),
 *       DEPENDENCY (a service or file ccgate relies on failed), INTERNAL (a bug or resource failure).
 * Codes are stable: never rename or reuse one; add a new code at the end of its group's file
 * (ccgate/reasons/<group>.h), and a new group as a new file included after the last one.
 * docs/reason-codes.md is generated from this list (`ccgate reasons --markdown`), and a test keeps them equal. */

#include "ccgate/reasons/core.h"
#include "ccgate/reasons/snp_report.h"
#include "ccgate/reasons/snp_vcek.h"
#include "ccgate/reasons/cert.h"
#include "ccgate/reasons/collateral.h"
#include "ccgate/reasons/policy.h"
#include "ccgate/reasons/snp_appraisal.h"
#include "ccgate/reasons/snp_measure.h"
#include "ccgate/reasons/refvalue.h"
#include "ccgate/reasons/keystore.h"
#include "ccgate/reasons/resource.h"
#include "ccgate/reasons/store.h"
#include "ccgate/reasons/audit.h"
#include "ccgate/reasons/jose.h"
#include "ccgate/reasons/kbs.h"
#include "ccgate/reasons/admin.h"
#include "ccgate/reasons/attester.h"
#include "ccgate/reasons/channel.h"
#include "ccgate/reasons/agent.h"
#include "ccgate/reasons/sealed.h"
#include "ccgate/reasons/hpke.h"
#include "ccgate/reasons/gpu_evidence.h"
#include "ccgate/reasons/gpu_rim.h"
#include "ccgate/reasons/gpu_policy.h"
#include "ccgate/reasons/snp_tcb_baseline.h"
#include "ccgate/reasons/tdx.h"
#include "ccgate/reasons/endpoint.h"
#include "ccgate/reasons/client.h"
#include "ccgate/reasons/runner.h"
