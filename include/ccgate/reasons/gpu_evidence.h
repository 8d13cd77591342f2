/* NVIDIA GPU evidence (SPDM report, device certificate chain) */
/* An X-macro fragment of ccgate/reason_list.h (no include guard: it is included with X defined). */
X(GPU_EVIDENCE_MALFORMED, "gpu.evidence_malformed", "gpu", INPUT,
  "The GPU evidence is malformed: a wrong SPDM code or parameter, a bad measurement block or opaque-data field, or a "
  "JSON evidence entry of the wrong shape.")
X(GPU_SPDM_VERSION_UNSUPPORTED, "gpu.spdm_version_unsupported", "gpu", INPUT,
  "The GPU report's SPDM version is not 1.1 (0x11), the only version whose signature coverage ccgate verifies.")
X(GPU_SIGNATURE_INVALID, "gpu.signature_invalid", "gpu", DENY,
  "The GPU report's ECDSA P-384 signature over request and response does not verify under the leaf certificate's key.")
X(GPU_CERT_CHAIN_INVALID, "gpu.cert_chain_invalid", "gpu", DENY,
  "The GPU device certificate chain is not five certificates, is out of order, or a link does not verify.")
X(GPU_UNTRUSTED_ROOT, "gpu.untrusted_root", "gpu", DENY,
  "The GPU certificate chain does not end at the pinned NVIDIA Device Identity CA (or an explicitly trusted test "
  "root).")
X(GPU_FWID_MISMATCH, "gpu.fwid_mismatch", "gpu", DENY,
  "The FWID in the GPU leaf certificate differs from the report's FWID field, or the leaf carries no readable FWID.")
X(GPU_FWID_MISSING, "gpu.fwid_missing", "gpu", DENY,
  "The GPU report carries no FWID field and the verifier was told to require one.")
X(GPU_NONCE_MISMATCH, "gpu.nonce_mismatch", "gpu", DENY,
  "The nonce in the GPU report's signed request is not the expected nonce.")
X(GPU_ARCH_MISMATCH, "gpu.arch_mismatch", "gpu", DENY,
  "The GPU architecture the evidence declares differs from the architecture of its certificate chain.")
