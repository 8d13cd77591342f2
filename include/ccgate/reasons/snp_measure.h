/* SEV-SNP launch measurement (ccgate measure snp) */
/* An X-macro fragment of ccgate/reason_list.h (no include guard: it is included with X defined). */
X(MEASURE_OVMF_MALFORMED, "measure.ovmf_malformed", "measure", INPUT,
  "The OVMF firmware is malformed or truncated: its footer GUID table or SEV metadata cannot be read.")
X(MEASURE_OVMF_NO_HASHES_SECTION, "measure.ovmf_no_hashes_section", "measure", INPUT,
  "The OVMF has no SEV kernel-hashes section, so a kernel, initrd or cmdline cannot be measured.")
X(MEASURE_VCPU_TYPE_UNKNOWN, "measure.vcpu_type_unknown", "measure", INPUT,
  "The vCPU type is not one ccgate knows, and no raw CPUID signature was given.")
X(MEASURE_VMM_TYPE_UNSUPPORTED, "measure.vmm_type_unsupported", "measure", INPUT,
  "The VMM type is not QEMU, EC2 or GCE.")
X(MEASURE_INPUT_INVALID, "measure.input_invalid", "measure", INPUT,
  "A launch input (file, count, feature bits or JSON field) is invalid.")
X(MEASURE_OVMF_NO_SEV_METADATA, "measure.ovmf_no_sev_metadata", "measure", INPUT,
  "The OVMF has no SEV metadata or SEV-ES reset block, so it cannot launch an SEV-SNP guest; use an SNP-capable build.")
