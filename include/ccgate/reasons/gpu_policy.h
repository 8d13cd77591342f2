/* NVIDIA GPU: appraisal policy (docs/gpu-policy.md) */
/* An X-macro fragment of ccgate/reason_list.h (no include guard: it is included with X defined). */
X(GPU_COUNT_MISMATCH, "gpu.count_mismatch", "gpu", DENY,
  "The number of GPUs whose evidence was given is outside the policy's count (exact, or min_count..max_count).")
X(GPU_ARCH_NOT_ALLOWED, "gpu.arch_not_allowed", "gpu", DENY,
  "The GPU's architecture (from its verified chain) is not among the policy's allowed_architectures.")
X(GPU_DRIVER_VERSION_TOO_OLD, "gpu.driver_version_too_old", "gpu", DENY,
  "The GPU driver version in the evidence is below the policy's minimum_driver_version.")
X(GPU_DRIVER_VERSION_NOT_ALLOWED, "gpu.driver_version_not_allowed", "gpu", DENY,
  "The GPU driver version in the evidence is not in the policy's allowed_driver_versions.")
X(GPU_VBIOS_VERSION_TOO_OLD, "gpu.vbios_version_too_old", "gpu", DENY,
  "The GPU VBIOS version in the evidence is below the policy's minimum_vbios_version.")
X(GPU_VBIOS_VERSION_NOT_ALLOWED, "gpu.vbios_version_not_allowed", "gpu", DENY,
  "The GPU VBIOS version in the evidence is not in the policy's allowed_vbios_versions.")
X(GPU_VERSION_UNREADABLE, "gpu.version_unreadable", "gpu", DENY,
  "The policy constrains the driver or VBIOS version but the evidence carries none, or one that is not a dotted "
  "version.")
X(GPU_MODE_REFUSED, "gpu.mode_refused", "gpu", DENY,
  "The GPU is in a topology mode (single GPU, multi-GPU passthrough, protected PCIe) that the policy refuses.")
X(GPU_MODE_REQUIRED, "gpu.mode_required", "gpu", DENY,
  "The policy requires a topology mode (multi-GPU passthrough, protected PCIe, single GPU) that the GPU is not in.")
X(GPU_MODE_UNKNOWN, "gpu.mode_unknown", "gpu", DENY,
  "The GPU's evidence carries no topology mode, or an unknown one, and the policy requires or refuses a mode.")
X(GPU_TEST_ROOT_NOT_NAMED, "gpu.test_root_not_named", "gpu", DENY,
  "The GPU's chain ends at a test root (a software GPU's) that the policy does not name in trusted_roots.")
X(GPU_DEVICE_DUPLICATE, "gpu.device_duplicate", "gpu", DENY,
  "The same GPU (the same leaf certificate serial, NVIDIA's ueid) appears twice in one attestation: one device cannot "
  "count as two.")
X(GPU_REPORT_REPLAYED, "gpu.report_replayed", "gpu", DENY,
  "This GPU report was already presented in another attestation session: a replay, refused before any other GPU check.")
