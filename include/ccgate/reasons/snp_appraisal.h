/* SEV-SNP appraisal (policy checks) */
/* An X-macro fragment of ccgate/reason_list.h (no include guard: it is included with X defined). */
X(SNP_DEBUG_ENABLED, "snp.debug_enabled", "snp", DENY,
  "The guest policy allows debugging, which the policy forbids.")
X(SNP_MIGRATION_AGENT_ENABLED, "snp.migration_agent_enabled", "snp", DENY,
  "The guest policy allows a migration agent, which the policy forbids.")
X(SNP_SMT_NOT_ALLOWED, "snp.smt_not_allowed", "snp", DENY,
  "SMT is allowed or enabled, which the policy forbids.")
X(SNP_VMPL_MISMATCH, "snp.vmpl_mismatch", "snp", DENY,
  "The report's VMPL differs from the policy.")
X(SNP_TCB_BELOW_MINIMUM, "snp.tcb_below_minimum", "snp", DENY,
  "A TCB component is below the policy's minimum.")
X(SNP_FIRMWARE_BELOW_MINIMUM, "snp.firmware_below_minimum", "snp", DENY,
  "The SNP firmware build is below the policy's minimum.")
X(SNP_ABI_BELOW_MINIMUM, "snp.abi_below_minimum", "snp", DENY,
  "The SNP firmware's ABI version (CURRENT_MAJOR.CURRENT_MINOR) is below the policy's minimum.")
X(SNP_MEASUREMENT_NOT_ALLOWED, "snp.measurement_not_allowed", "snp", DENY,
  "The launch MEASUREMENT is not in the policy's allowed list.")
X(SNP_REPORT_DATA_MISMATCH, "snp.report_data_mismatch", "snp", DENY,
  "REPORT_DATA differs from the expected value.")
X(SNP_HOST_DATA_MISMATCH, "snp.host_data_mismatch", "snp", DENY,
  "HOST_DATA differs from the expected value.")
X(SNP_ID_KEY_NOT_ALLOWED, "snp.id_key_not_allowed", "snp", DENY,
  "The ID key digest is not in the policy's allowed list.")
X(SNP_AUTHOR_KEY_NOT_ALLOWED, "snp.author_key_not_allowed", "snp", DENY,
  "The author key digest is not in the policy's allowed list.")
X(SNP_PLATFORM_INFO_REQUIREMENT, "snp.platform_info_requirement", "snp", DENY,
  "A PLATFORM_INFO flag does not meet the policy.")
X(SNP_GUEST_SVN_BELOW_MINIMUM, "snp.guest_svn_below_minimum", "snp", DENY,
  "The guest SVN is below the policy's minimum.")
X(SNP_CRL_REQUIRED, "snp.crl_required", "snp", DENY,
  "The policy requires a CRL and none was supplied.")
X(SNP_TCB_OUT_OF_DATE, "snp.tcb_out_of_date", "snp", DENY,
  "The reported or launch TCB is below the TCB the baseline counts as up to date, and the policy does not accept "
  "OutOfDate.")
X(SNP_TCB_ROLLED_BACK, "snp.tcb_rolled_back", "snp", DENY,
  "REPORTED_TCB is below COMMITTED_TCB (the host reports a TCB older than the committed firmware), and the policy does "
  "not accept RolledBack.")
X(SNP_ADVISORY_NOT_ALLOWED, "snp.advisory_not_allowed", "snp", DENY,
  "A security advisory applies to the report's TCB and the policy does not allowlist it.")
