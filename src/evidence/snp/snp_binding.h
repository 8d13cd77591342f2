/* Endorsement-key-to-report binding checks (internal to the SNP verifier). */
#ifndef CCGATE_SNP_BINDING_H
#define CCGATE_SNP_BINDING_H

#include "ccgate/snp_policy.h"
#include "snp_chain.h"

void snp_binding_check(const snp_chain_facts *f, const ccg_snp_report *r, const ccg_snp_policy *p, ccg_decision *d);

#endif
