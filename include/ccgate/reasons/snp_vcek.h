/* SEV-SNP endorsement key (VCEK/VLEK) */
/* An X-macro fragment of ccgate/reason_list.h (no include guard: it is included with X defined). */
X(SNP_VCEK_EXTENSION_MISSING, "snp.vcek_extension_missing", "snp", DENY,
  "The VCEK/VLEK lacks a required AMD extension.")
X(SNP_VCEK_EXTENSION_MALFORMED, "snp.vcek_extension_malformed", "snp", DENY,
  "An AMD extension of the VCEK/VLEK is malformed.")
X(SNP_VCEK_TCB_MISMATCH, "snp.vcek_tcb_mismatch", "snp", DENY,
  "The VCEK's TCB extensions differ from the report's REPORTED_TCB.")
X(SNP_CHIP_ID_MISMATCH, "snp.chip_id_mismatch", "snp", DENY,
  "The VCEK's hwID differs from the report's CHIP_ID.")
X(SNP_CHIP_ID_MASKED, "snp.chip_id_masked", "snp", DENY,
  "The report's CHIP_ID is masked and the policy does not allow it.")
X(SNP_VCEK_KEY_INVALID, "snp.vcek_key_invalid", "snp", DENY,
  "The VCEK/VLEK public key is not an ECDSA P-384 key.")
X(SNP_SIGNER_NOT_ALLOWED, "snp.signer_not_allowed", "snp", DENY,
  "The report was signed by a key type (VCEK or VLEK) the policy does not allow.")
