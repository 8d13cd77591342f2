/* NVIDIA GPU: RIM and OCSP */
/* An X-macro fragment of ccgate/reason_list.h (no include guard: it is included with X defined). */
X(GPU_RIM_TOO_LARGE, "gpu.rim_too_large", "gpu", INPUT,
  "The RIM document is larger than ccgate accepts (4 MiB); it was not parsed.")
X(GPU_RIM_MALFORMED, "gpu.rim_malformed", "gpu", INPUT,
  "The RIM is not a well-formed SWID tag as NVIDIA signs them (XML error, a DTD, a missing or repeated Meta/Payload, a "
  "bad Resource index, active flag, size or hash).")
X(GPU_RIM_SIGNATURE_UNSUPPORTED, "gpu.rim_signature_unsupported", "gpu", DENY,
  "The RIM's XML signature is missing, repeated or not enveloped over the whole document, or uses a reference, "
  "transform or algorithm ccgate does not accept (URI=\"\", enveloped, C14N, SHA-2 digests, ECDSA P-384 with SHA-384).")
X(GPU_RIM_SIGNATURE_INVALID, "gpu.rim_signature_invalid", "gpu", DENY,
  "The RIM's XML signature does not verify under its validated signing certificate: the RIM or its signature was "
  "changed.")
X(GPU_RIM_CHAIN_INVALID, "gpu.rim_chain_invalid", "gpu", DENY,
  "The RIM's signing certificates (KeyInfo X509Data) do not chain to the pinned NVIDIA RIM root, or the signer is not "
  "an end-entity P-384 signing certificate.")
X(GPU_RIM_CERT_EXPIRED, "gpu.rim_cert_expired", "gpu", DENY,
  "A certificate of the RIM's signing chain has expired at the verification time.")
X(GPU_RIM_CERT_NOT_YET_VALID, "gpu.rim_cert_not_yet_valid", "gpu", DENY,
  "A certificate of the RIM's signing chain is not yet valid at the verification time.")
X(GPU_RIM_VERSION_MISMATCH, "gpu.rim_version_mismatch", "gpu", DENY,
  "The RIM's colloquialVersion differs from the driver or VBIOS version in the GPU's evidence.")
X(GPU_RIM_ID_INVALID, "gpu.rim_id_invalid", "gpu", INPUT,
  "No RIM ID can be derived from the evidence: a version, project, SKU or chip field is empty or holds characters "
  "outside [A-Za-z0-9._-].")
X(GPU_RIM_UNAVAILABLE, "gpu.rim_unavailable", "gpu", DEPENDENCY,
  "The RIM named by the evidence is in neither the RIM directory nor the configured RIM service (the message names the "
  "RIM ID).")
X(GPU_RIM_CONFLICT, "gpu.rim_conflict", "gpu", DENY,
  "The driver RIM and the VBIOS RIM both have an active measurement at the same index.")
X(GPU_MEASUREMENT_MISMATCH, "gpu.measurement_mismatch", "gpu", DENY,
  "GPU runtime measurements differ from every alternative of the RIMs' golden values, or are missing (details list "
  "every mismatching index).")
X(GPU_OCSP_UNAVAILABLE, "gpu.ocsp_unavailable", "gpu", DEPENDENCY,
  "No OCSP response for a certificate: none in the OCSP cache directory and the configured responder could not be "
  "reached or answered with an error.")
X(GPU_OCSP_RESPONSE_INVALID, "gpu.ocsp_response_invalid", "gpu", DENY,
  "The OCSP response is malformed, not successful, not signed by the issuer or its delegated OCSP signer, or does not "
  "cover the certificate.")
X(GPU_OCSP_NONCE_MISMATCH, "gpu.ocsp_nonce_mismatch", "gpu", DENY,
  "A live OCSP response does not echo the request's nonce: it may be replayed.")
X(GPU_OCSP_RESPONSE_STALE, "gpu.ocsp_response_stale", "gpu", DENY,
  "The OCSP response is outside its validity (thisUpdate in the future, nextUpdate passed, or older than the maximum "
  "age without a nextUpdate).")
X(GPU_CERT_REVOKED, "gpu.cert_revoked", "gpu", DENY,
  "OCSP reports a GPU or RIM certificate as revoked.")
X(GPU_CERT_ON_HOLD, "gpu.cert_on_hold", "gpu", DENY,
  "OCSP reports a certificate as on hold (revoked with reason certificateHold) and the policy does not allow held "
  "certificates.")
X(GPU_OCSP_STATUS_UNKNOWN, "gpu.ocsp_status_unknown", "gpu", DENY,
  "The OCSP responder does not know the certificate (status unknown).")
