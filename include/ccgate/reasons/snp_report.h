/* SEV-SNP report */
/* An X-macro fragment of ccgate/reason_list.h (no include guard: it is included with X defined). */
X(SNP_REPORT_SIZE_INVALID, "snp.report_size_invalid", "snp", INPUT,
  "The SNP attestation report is not 1184 bytes.")
X(SNP_REPORT_VERSION_UNSUPPORTED, "snp.report_version_unsupported", "snp", INPUT,
  "The SNP report version is not 2, 3 or 5.")
X(SNP_RESERVED_NONZERO, "snp.reserved_nonzero", "snp", INPUT,
  "A reserved field of the SNP report is not zero.")
X(SNP_SIGNATURE_ALGO_UNSUPPORTED, "snp.signature_algo_unsupported", "snp", INPUT,
  "The report's SIGNATURE_ALGO is not ECDSA P-384 with SHA-384.")
X(SNP_SIGNING_KEY_UNSUPPORTED, "snp.signing_key_unsupported", "snp", DENY,
  "The report names no signing key, or one ccgate does not know.")
X(SNP_SIGNATURE_INVALID, "snp.signature_invalid", "snp", DENY,
  "The report signature does not verify under the VCEK/VLEK public key.")
X(SNP_PRODUCT_UNKNOWN, "snp.product_unknown", "snp", DENY,
  "The processor product (Milan, Genoa, Turin) could not be determined.")
X(SNP_PRODUCT_MISMATCH, "snp.product_mismatch", "snp", DENY,
  "The report's CPUID product differs from the product of its certificate chain.")
X(SNP_GUEST_POLICY_INVALID, "snp.guest_policy_invalid", "snp", INPUT,
  "The report's guest POLICY has reserved bits set wrongly.")
X(SNP_HOST_REQUESTED_REPORT, "snp.host_requested_report", "snp", DENY,
  "The host requested this report (VMPL 0xFFFFFFFF, SNP_HV_REPORT_REQ); it binds no guest data and is never accepted.")
