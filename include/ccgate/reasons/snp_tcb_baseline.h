/* SEV-SNP TCB baselines (collateral the key-release authority signs) */
/* An X-macro fragment of ccgate/reason_list.h (no include guard: it is included with X defined). */
X(SNP_TCB_BASELINE_MISSING, "snp.tcb_baseline_missing", "snp", DENY,
  "No TCB baseline for the report's product was supplied, and the policy requires one to decide the TCB status.")
X(SNP_TCB_BASELINE_MALFORMED, "snp.tcb_baseline_malformed", "snp", INPUT,
  "The TCB baseline is not a valid baseline document (unknown member, wrong type, bad product, level or time).")
X(SNP_TCB_BASELINE_UNSIGNED, "snp.tcb_baseline_unsigned", "snp", DENY,
  "The TCB baseline carries no signature.")
X(SNP_TCB_BASELINE_SIGNATURE_INVALID, "snp.tcb_baseline_signature_invalid", "snp", DENY,
  "The TCB baseline's signature does not verify under its issuer's key.")
X(SNP_TCB_BASELINE_ISSUER_UNKNOWN, "snp.tcb_baseline_issuer_unknown", "snp", DENY,
  "The TCB baseline was signed by an issuer that is not trusted for baselines.")
X(SNP_TCB_BASELINE_EXPIRED, "snp.tcb_baseline_expired", "snp", DENY,
  "The TCB baseline's not_after is before the verification time.")
X(SNP_TCB_BASELINE_NOT_YET_VALID, "snp.tcb_baseline_not_yet_valid", "snp", DENY,
  "The TCB baseline's not_before is after the verification time.")
