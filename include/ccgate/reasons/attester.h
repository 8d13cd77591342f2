/* attester */
/* An X-macro fragment of ccgate/reason_list.h (no include guard: it is included with X defined). */
X(ATTEST_NO_TEE, "attest.no_tee", "attest", DEPENDENCY,
  "No TEE interface was found (neither configfs-tsm nor /dev/sev-guest); the guest refuses to start rather than fall "
  "back.")
X(ATTEST_BACKEND_UNAVAILABLE, "attest.backend_unavailable", "attest", DEPENDENCY,
  "The configured attester backend (configfs-tsm report directory or /dev/sev-guest) is missing or not usable.")
X(ATTEST_KERNEL_ERROR, "attest.kernel_error", "attest", DEPENDENCY,
  "The kernel or the firmware refused the attestation request (the message carries errno and the firmware/VMM error "
  "codes).")
X(ATTEST_OUTPUT_MALFORMED, "attest.output_malformed", "attest", INPUT,
  "The kernel interface returned evidence of the wrong size or shape (a truncated report, a bad certificate table).")
X(ATTEST_GENERATION_CHANGED, "attest.generation_changed", "attest", DEPENDENCY,
  "Another writer changed the configfs-tsm report while it was read, on every retry; the evidence may not be ours.")
X(ATTEST_PROVIDER_UNKNOWN, "attest.provider_unknown", "attest", INPUT,
  "The configfs-tsm provider is not one ccgate knows (sev_guest, tdx_guest).")
X(ATTEST_CERTS_TOO_LARGE, "attest.certs_too_large", "attest", INPUT,
  "The certificate table from the kernel or host is larger than ccgate accepts.")
X(ATTEST_EMULATOR_NOT_CONFIGURED, "attest.emulator_not_configured", "attest", INPUT,
  "The emulator attester was chosen but no emulator state directory was configured.")
X(ATTEST_EMULATOR_STATE_INVALID, "attest.emulator_state_invalid", "attest", INPUT,
  "The emulator state directory is incomplete or inconsistent (a missing key, a certificate that does not match its "
  "key, a malformed config).")
X(ATTEST_REPORT_DATA_MISMATCH, "attest.report_data_mismatch", "attest", DENY,
  "The evidence's REPORT_DATA is not the 64 bytes that were asked for.")
