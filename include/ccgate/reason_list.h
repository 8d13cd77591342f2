/* The registry of stable reason codes. One line per code:
 *   X(ENUM_NAME, "wire.code", "component", kind, "operator message")
 * kind: DENY (the evidence or request was refused), INPUT (malformed or unsupported input),
 *       DEPENDENCY (a service or file ccgate relies on failed), INTERNAL (a bug or resource failure).
 * Codes are stable: never rename or reuse one; add new codes at the end of their group.
 * docs/reason-codes.md is generated from this list (`ccgate reasons --markdown`), and a test keeps them equal. */

/* core */
X(OK, "ok", "core", OK, "No error.")
X(INTERNAL_OUT_OF_MEMORY, "internal.out_of_memory", "core", INTERNAL, "An allocation failed.")
X(INTERNAL_CRYPTO, "internal.crypto", "crypto", INTERNAL, "An OpenSSL operation failed unexpectedly.")
X(INTERNAL_ERROR, "internal.error", "core", INTERNAL, "An internal invariant did not hold.")
X(USAGE_INVALID, "usage.invalid", "cli", INPUT, "The command line is invalid; see --help.")
X(IO_READ_FAILED, "io.read_failed", "core", DEPENDENCY, "A file could not be read.")
X(IO_WRITE_FAILED, "io.write_failed", "core", DEPENDENCY, "A file could not be written.")
X(INPUT_TRUNCATED, "input.truncated", "core", INPUT, "The input ended before a complete record was read.")
X(INPUT_TRAILING_BYTES, "input.trailing_bytes", "core", INPUT, "The input has bytes after the end of the record.")
X(INPUT_TOO_LARGE, "input.too_large", "core", INPUT, "The input is larger than the format allows.")
X(INPUT_MALFORMED, "input.malformed", "core", INPUT, "The input is not in the expected format.")
X(INPUT_RESERVED_NONZERO, "input.reserved_nonzero", "core", INPUT, "A reserved field is not zero.")
X(INPUT_BAD_TIME, "input.bad_time", "core", INPUT, "A timestamp is not a valid RFC 3339 UTC time.")
X(INPUT_BAD_HEX, "input.bad_hex", "core", INPUT, "A hex string has an odd length or a non-hex character.")

/* SEV-SNP report */
X(SNP_REPORT_SIZE_INVALID, "snp.report_size_invalid", "snp", INPUT, "The SNP attestation report is not 1184 bytes.")
X(SNP_REPORT_VERSION_UNSUPPORTED, "snp.report_version_unsupported", "snp", INPUT, "The SNP report version is not 2, 3 or 5.")
X(SNP_RESERVED_NONZERO, "snp.reserved_nonzero", "snp", INPUT, "A reserved field of the SNP report is not zero.")
X(SNP_SIGNATURE_ALGO_UNSUPPORTED, "snp.signature_algo_unsupported", "snp", INPUT, "The report's SIGNATURE_ALGO is not ECDSA P-384 with SHA-384.")
X(SNP_SIGNING_KEY_UNSUPPORTED, "snp.signing_key_unsupported", "snp", DENY, "The report names no signing key, or one ccgate does not know.")
X(SNP_SIGNATURE_INVALID, "snp.signature_invalid", "snp", DENY, "The report signature does not verify under the VCEK/VLEK public key.")
X(SNP_PRODUCT_UNKNOWN, "snp.product_unknown", "snp", DENY, "The processor product (Milan, Genoa, Turin) could not be determined.")
X(SNP_PRODUCT_MISMATCH, "snp.product_mismatch", "snp", DENY, "The report's CPUID product differs from the product of its certificate chain.")
X(SNP_GUEST_POLICY_INVALID, "snp.guest_policy_invalid", "snp", INPUT, "The report's guest POLICY has reserved bits set wrongly.")
X(SNP_HOST_REQUESTED_REPORT, "snp.host_requested_report", "snp", DENY, "The host requested this report (VMPL 0xFFFFFFFF, SNP_HV_REPORT_REQ); it binds no guest data and is never accepted.")

/* SEV-SNP endorsement key (VCEK/VLEK) */
X(SNP_VCEK_EXTENSION_MISSING, "snp.vcek_extension_missing", "snp", DENY, "The VCEK/VLEK lacks a required AMD extension.")
X(SNP_VCEK_EXTENSION_MALFORMED, "snp.vcek_extension_malformed", "snp", DENY, "An AMD extension of the VCEK/VLEK is malformed.")
X(SNP_VCEK_TCB_MISMATCH, "snp.vcek_tcb_mismatch", "snp", DENY, "The VCEK's TCB extensions differ from the report's REPORTED_TCB.")
X(SNP_CHIP_ID_MISMATCH, "snp.chip_id_mismatch", "snp", DENY, "The VCEK's hwID differs from the report's CHIP_ID.")
X(SNP_CHIP_ID_MASKED, "snp.chip_id_masked", "snp", DENY, "The report's CHIP_ID is masked and the policy does not allow it.")
X(SNP_VCEK_KEY_INVALID, "snp.vcek_key_invalid", "snp", DENY, "The VCEK/VLEK public key is not an ECDSA P-384 key.")
X(SNP_SIGNER_NOT_ALLOWED, "snp.signer_not_allowed", "snp", DENY, "The report was signed by a key type (VCEK or VLEK) the policy does not allow.")

/* certificates and revocation */
X(CERT_PARSE_FAILED, "cert.parse_failed", "cert", INPUT, "A certificate or CRL could not be parsed as PEM or DER.")
X(CERT_CHAIN_INCOMPLETE, "cert.chain_incomplete", "cert", DENY, "A certificate needed to build the chain to the AMD root was not supplied.")
X(CERT_SIGNATURE_INVALID, "cert.signature_invalid", "cert", DENY, "A certificate's signature does not verify under its issuer's key.")
X(CERT_UNTRUSTED_ROOT, "cert.untrusted_root", "cert", DENY, "The chain ends in a root that is not a pinned AMD root for this product.")
X(CERT_EXPIRED, "cert.expired", "cert", DENY, "A certificate in the chain has expired at the verification time.")
X(CERT_NOT_YET_VALID, "cert.not_yet_valid", "cert", DENY, "A certificate in the chain is not yet valid at the verification time.")
X(CERT_REVOKED, "cert.revoked", "cert", DENY, "A certificate in the chain is listed in the CRL.")
X(CERT_WRONG_PRODUCT, "cert.wrong_product", "cert", DENY, "The chain belongs to a different product than the report.")
X(CRL_SIGNATURE_INVALID, "crl.signature_invalid", "cert", DENY, "The CRL is not signed by the product's AMD root key.")
X(CRL_EXPIRED, "crl.expired", "cert", DENY, "The CRL's nextUpdate is before the verification time.")
X(CRL_NOT_YET_VALID, "crl.not_yet_valid", "cert", DENY, "The CRL's lastUpdate is after the verification time.")

/* collateral */
X(COLLATERAL_MISSING, "collateral.missing", "collateral", DENY, "Required collateral (endorsement key, chain or CRL) is missing.")
X(COLLATERAL_FETCH_FAILED, "collateral.fetch_failed", "collateral", DEPENDENCY, "Collateral could not be fetched from the key distribution service.")
X(COLLATERAL_RATE_LIMITED, "collateral.rate_limited", "collateral", DEPENDENCY, "The key distribution service answered 429 Too Many Requests.")
X(COLLATERAL_CACHE_ERROR, "collateral.cache_error", "collateral", DEPENDENCY, "The local collateral cache could not be read or written.")
X(COLLATERAL_EXPIRED, "collateral.expired", "collateral", DENY, "Collateral (endorsement key chain or CRL) has expired at the verification time.")

/* policy documents */
X(POLICY_MALFORMED, "policy.malformed", "policy", INPUT, "The policy document is not valid JSON of the expected shape.")
X(POLICY_UNKNOWN_KEY, "policy.unknown_key", "policy", INPUT, "The policy document has a key ccgate does not know.")
X(POLICY_INVALID_VALUE, "policy.invalid_value", "policy", INPUT, "A policy value has the wrong type or is out of range.")
X(POLICY_VERSION_INVALID, "policy.version_invalid", "policy", INPUT, "The policy has no policy_id or no positive integer version.")

/* SEV-SNP appraisal (policy checks) */
X(SNP_DEBUG_ENABLED, "snp.debug_enabled", "snp", DENY, "The guest policy allows debugging, which the policy forbids.")
X(SNP_MIGRATION_AGENT_ENABLED, "snp.migration_agent_enabled", "snp", DENY, "The guest policy allows a migration agent, which the policy forbids.")
X(SNP_SMT_NOT_ALLOWED, "snp.smt_not_allowed", "snp", DENY, "SMT is allowed or enabled, which the policy forbids.")
X(SNP_VMPL_MISMATCH, "snp.vmpl_mismatch", "snp", DENY, "The report's VMPL differs from the policy.")
X(SNP_TCB_BELOW_MINIMUM, "snp.tcb_below_minimum", "snp", DENY, "A TCB component is below the policy's minimum.")
X(SNP_FIRMWARE_BELOW_MINIMUM, "snp.firmware_below_minimum", "snp", DENY, "The SNP firmware build is below the policy's minimum.")
X(SNP_ABI_BELOW_MINIMUM, "snp.abi_below_minimum", "snp", DENY, "The SNP firmware's ABI version (CURRENT_MAJOR.CURRENT_MINOR) is below the policy's minimum.")
X(SNP_MEASUREMENT_NOT_ALLOWED, "snp.measurement_not_allowed", "snp", DENY, "The launch MEASUREMENT is not in the policy's allowed list.")
X(SNP_REPORT_DATA_MISMATCH, "snp.report_data_mismatch", "snp", DENY, "REPORT_DATA differs from the expected value.")
X(SNP_HOST_DATA_MISMATCH, "snp.host_data_mismatch", "snp", DENY, "HOST_DATA differs from the expected value.")
X(SNP_ID_KEY_NOT_ALLOWED, "snp.id_key_not_allowed", "snp", DENY, "The ID key digest is not in the policy's allowed list.")
X(SNP_AUTHOR_KEY_NOT_ALLOWED, "snp.author_key_not_allowed", "snp", DENY, "The author key digest is not in the policy's allowed list.")
X(SNP_PLATFORM_INFO_REQUIREMENT, "snp.platform_info_requirement", "snp", DENY, "A PLATFORM_INFO flag does not meet the policy.")
X(SNP_GUEST_SVN_BELOW_MINIMUM, "snp.guest_svn_below_minimum", "snp", DENY, "The guest SVN is below the policy's minimum.")
X(SNP_CRL_REQUIRED, "snp.crl_required", "snp", DENY, "The policy requires a CRL and none was supplied.")
X(SNP_TCB_OUT_OF_DATE, "snp.tcb_out_of_date", "snp", DENY, "The reported or launch TCB is below the TCB the baseline counts as up to date, and the policy does not accept OutOfDate.")
X(SNP_TCB_ROLLED_BACK, "snp.tcb_rolled_back", "snp", DENY, "REPORTED_TCB is below COMMITTED_TCB (the host reports a TCB older than the committed firmware), and the policy does not accept RolledBack.")
X(SNP_ADVISORY_NOT_ALLOWED, "snp.advisory_not_allowed", "snp", DENY, "A security advisory applies to the report's TCB and the policy does not allowlist it.")

/* SEV-SNP launch measurement (ccgate measure snp) */
X(MEASURE_OVMF_MALFORMED, "measure.ovmf_malformed", "measure", INPUT, "The OVMF firmware is malformed or truncated: its footer GUID table or SEV metadata cannot be read.")
X(MEASURE_OVMF_NO_HASHES_SECTION, "measure.ovmf_no_hashes_section", "measure", INPUT, "The OVMF has no SEV kernel-hashes section, so a kernel, initrd or cmdline cannot be measured.")
X(MEASURE_VCPU_TYPE_UNKNOWN, "measure.vcpu_type_unknown", "measure", INPUT, "The vCPU type is not one ccgate knows, and no raw CPUID signature was given.")
X(MEASURE_VMM_TYPE_UNSUPPORTED, "measure.vmm_type_unsupported", "measure", INPUT, "The VMM type is not QEMU, EC2 or GCE.")
X(MEASURE_INPUT_INVALID, "measure.input_invalid", "measure", INPUT, "A launch input (file, count, feature bits or JSON field) is invalid.")
X(MEASURE_OVMF_NO_SEV_METADATA, "measure.ovmf_no_sev_metadata", "measure", INPUT, "The OVMF has no SEV metadata or SEV-ES reset block, so it cannot launch an SEV-SNP guest; use an SNP-capable build.")

/* reference values */
X(REFVAL_MALFORMED, "refval.malformed", "refval", INPUT, "The reference-value record or set is not valid JSON of the expected shape.")
X(REFVAL_UNSIGNED, "refval.unsigned", "refval", DENY, "The reference-value record carries no signature.")
X(REFVAL_SIGNATURE_INVALID, "refval.signature_invalid", "refval", DENY, "The reference-value signature does not verify under its issuer's key.")
X(REFVAL_ISSUER_UNKNOWN, "refval.issuer_unknown", "refval", DENY, "The reference value was signed by an issuer that is not trusted.")
X(REFVAL_EXPIRED, "refval.expired", "refval", DENY, "The reference value's not_after is before the verification time.")
X(REFVAL_NOT_YET_VALID, "refval.not_yet_valid", "refval", DENY, "The reference value's not_before is after the verification time.")
X(REFVAL_MEASUREMENT_MISMATCH, "refval.measurement_mismatch", "refval", DENY, "The launch measurement matches no record in the reference-value set.")
X(REFVAL_SET_MISSING, "refval.set_missing", "refval", DENY, "The policy names a reference-value set that was not supplied.")
X(REFVAL_TEE_MISMATCH, "refval.tee_mismatch", "refval", DENY, "The reference value is for a different TEE than the evidence.")

/* key management (KMS/HSM keystores) */
X(KMS_UNAVAILABLE, "kms.unavailable", "kms", DEPENDENCY, "The key-management service or HSM is unavailable (module missing, token absent, login refused or timeout); nothing is released.")
X(KMS_KEY_NOT_FOUND, "kms.key_not_found", "kms", DEPENDENCY, "The key-encryption key is not present in the keystore.")
X(KMS_UNWRAP_FAILED, "kms.unwrap_failed", "kms", DEPENDENCY, "The keystore could not unwrap the key: wrong KEK or a tampered wrapped key.")
X(KMS_CONFIG_INVALID, "kms.config_invalid", "kms", INPUT, "The keystore configuration is invalid (module path, token label, PIN source or KEK file permissions).")

/* model keys (resources) */
X(KEY_NOT_FOUND, "key.not_found", "key", DENY, "No key with this ID (and version) exists.")
X(KEY_DISABLED, "key.disabled", "key", DENY, "The key is disabled by its provider; it is not released.")
X(KEY_RETIRED, "key.retired", "key", DENY, "The key version is retired after rotation and is never released again.")

/* state store */
X(STORE_UNAVAILABLE, "store.unavailable", "store", DEPENDENCY, "The state store (SQLite or PostgreSQL) cannot be opened or reached.")
X(STORE_CORRUPT, "store.corrupt", "store", DEPENDENCY, "The state store failed an integrity check.")
X(STORE_CONFLICT, "store.conflict", "store", DENY, "The write conflicts with the stored state (duplicate ID or stale version).")

/* audit log */
X(AUDIT_WRITE_FAILED, "audit.write_failed", "audit", DEPENDENCY, "The audit record could not be written and synced, so the decision is not released.")
X(AUDIT_CHAIN_BROKEN, "audit.chain_broken", "audit", DENY, "An audit record's hash does not chain to the previous record.")

/* JOSE: JWK, JWE, JWS/JWT */
X(JOSE_JWK_INVALID, "jose.jwk_invalid", "jose", INPUT, "The JWK is malformed or is not a valid public key (a private key member, an off-curve point, a short modulus).")
X(JOSE_JWK_UNSUPPORTED, "jose.jwk_unsupported", "jose", INPUT, "The JWK's key type, curve or algorithm is not supported (EC P-256 with ECDH-ES+A256KW, RSA with RSA-OAEP-256).")
X(JOSE_JWE_INVALID, "jose.jwe_invalid", "jose", INPUT, "The JWE is malformed or does not decrypt.")
X(JOSE_JWT_INVALID, "jose.jwt_invalid", "jose", DENY, "The token is malformed, or its signature does not verify.")
X(JOSE_JWT_EXPIRED, "jose.jwt_expired", "jose", DENY, "The token has expired or is not yet valid.")

/* key broker protocol */
X(KBS_REQUEST_MALFORMED, "kbs.request_malformed", "kbs", INPUT, "The KBS request body is not the expected JSON (Request, Attestation or evidence shape).")
X(KBS_VERSION_UNSUPPORTED, "kbs.version_unsupported", "kbs", INPUT, "The client speaks a KBS protocol version this broker does not (0.4.0 is supported).")
X(KBS_TEE_NOT_ALLOWED, "kbs.tee_not_allowed", "kbs", DENY, "The TEE type is not supported by the broker or not allowed by the release policy.")
X(KBS_SESSION_MISSING, "kbs.session_missing", "kbs", DENY, "The request carries no kbs-session-id cookie or bearer token, or names an unknown session.")
X(KBS_SESSION_EXPIRED, "kbs.session_expired", "kbs", DENY, "The session (or its challenge nonce) has expired; start again with /kbs/v0/auth.")
X(KBS_NONCE_MISMATCH, "kbs.nonce_mismatch", "kbs", DENY, "The runtime-data nonce is not the nonce this session was challenged with.")
X(KBS_NONCE_EXPIRED, "kbs.nonce_expired", "kbs", DENY, "The challenge nonce expired before the attestation arrived (a stale nonce); start again with /kbs/v0/auth.")
X(KBS_NONCE_REUSED, "kbs.nonce_reused", "kbs", DENY, "The challenge nonce was consumed before: a replayed attestation.")
X(KBS_NOT_ATTESTED, "kbs.not_attested", "kbs", DENY, "The session has not passed attestation, so no resource is released.")
X(KBS_GPU_REQUIRED, "kbs.gpu_required", "kbs", DENY, "The release policy requires GPU evidence, which this broker cannot verify yet; nothing is released.")
X(KBS_POLICY_INVALID, "kbs.policy_invalid", "kbs", INPUT, "The release policy document is malformed (unknown member, wrong type, bad trusted root).")
X(KBS_CONFIG_INVALID, "kbs.config_invalid", "kbs", INPUT, "The key broker configuration is invalid or refuses to start (for example no TLS without --insecure-http).")

/* admin API */
X(ADMIN_UNAUTHENTICATED, "admin.unauthenticated", "admin", DENY, "The admin request carries no valid token: missing, malformed, expired, or signed by no configured admin issuer.")
X(ADMIN_FORBIDDEN, "admin.forbidden", "admin", DENY, "The token's role may not make this admin call, or the key or policy belongs to another provider.")
X(ADMIN_REQUEST_MALFORMED, "admin.request_malformed", "admin", INPUT, "The admin request body is not the expected JSON document (unknown member, wrong type, missing field).")

/* attester */
X(ATTEST_NO_TEE, "attest.no_tee", "attest", DEPENDENCY, "No TEE interface was found (neither configfs-tsm nor /dev/sev-guest); the guest refuses to start rather than fall back.")
X(ATTEST_BACKEND_UNAVAILABLE, "attest.backend_unavailable", "attest", DEPENDENCY, "The configured attester backend (configfs-tsm report directory or /dev/sev-guest) is missing or not usable.")
X(ATTEST_KERNEL_ERROR, "attest.kernel_error", "attest", DEPENDENCY, "The kernel or the firmware refused the attestation request (the message carries errno and the firmware/VMM error codes).")
X(ATTEST_OUTPUT_MALFORMED, "attest.output_malformed", "attest", INPUT, "The kernel interface returned evidence of the wrong size or shape (a truncated report, a bad certificate table).")
X(ATTEST_GENERATION_CHANGED, "attest.generation_changed", "attest", DEPENDENCY, "Another writer changed the configfs-tsm report while it was read, on every retry; the evidence may not be ours.")
X(ATTEST_PROVIDER_UNKNOWN, "attest.provider_unknown", "attest", INPUT, "The configfs-tsm provider is not one ccgate knows (sev_guest, tdx_guest).")
X(ATTEST_CERTS_TOO_LARGE, "attest.certs_too_large", "attest", INPUT, "The certificate table from the kernel or host is larger than ccgate accepts.")
X(ATTEST_EMULATOR_NOT_CONFIGURED, "attest.emulator_not_configured", "attest", INPUT, "The emulator attester was chosen but no emulator state directory was configured.")
X(ATTEST_EMULATOR_STATE_INVALID, "attest.emulator_state_invalid", "attest", INPUT, "The emulator state directory is incomplete or inconsistent (a missing key, a certificate that does not match its key, a malformed config).")
X(ATTEST_REPORT_DATA_MISMATCH, "attest.report_data_mismatch", "attest", DENY, "The evidence's REPORT_DATA is not the 64 bytes that were asked for.")

/* channel */
X(CHANNEL_VERSION_UNSUPPORTED, "channel.version_unsupported", "channel", INPUT, "The peer speaks a channel protocol version this side does not (1 is supported).")
X(CHANNEL_SUITE_UNSUPPORTED, "channel.suite_unsupported", "channel", INPUT, "The HPKE suite offered or chosen is not one the channel allows (X25519, HKDF-SHA256, ChaCha20-Poly1305 or AES-128-GCM).")
X(CHANNEL_MESSAGE_MALFORMED, "channel.message_malformed", "channel", INPUT, "A handshake message or frame header is malformed (wrong type, length, reserved bits or trailing bytes).")
X(CHANNEL_BINDING_MISMATCH, "channel.binding_mismatch", "channel", DENY, "The evidence's REPORT_DATA does not bind this connection's client nonce, server key and suite: stale, replayed or foreign evidence.")
X(CHANNEL_EVIDENCE_DENIED, "channel.evidence_denied", "channel", DENY, "The server's evidence failed the client's policy; the verifier's reasons name the cause.")
X(CHANNEL_EVIDENCE_UNAVAILABLE, "channel.evidence_unavailable", "channel", DEPENDENCY, "The server could not obtain evidence from its attester.")
X(CHANNEL_CONFIRM_FAILED, "channel.confirm_failed", "channel", DENY, "A key-confirmation MAC does not verify: the peers derived different keys or the transcript was altered.")
X(CHANNEL_FRAME_AUTH_FAILED, "channel.frame_auth_failed", "channel", DENY, "A frame does not authenticate under the session key (tampered, or spliced from another session).")
X(CHANNEL_SEQUENCE_INVALID, "channel.sequence_invalid", "channel", DENY, "A frame carries a sequence number other than the exact next one (replayed, reordered or dropped frame).")
X(CHANNEL_FRAME_TOO_LARGE, "channel.frame_too_large", "channel", INPUT, "A frame or handshake message is larger than the channel's maximum.")
X(CHANNEL_TRUNCATED, "channel.truncated", "channel", DEPENDENCY, "The stream ended (EOF or reset) without an authenticated close frame.")
X(CHANNEL_PEER_CLOSED, "channel.peer_closed", "channel", DEPENDENCY, "The peer ended the connection: it closed during the handshake, sent an alert, or already sent its close frame.")
X(CHANNEL_RATE_LIMITED, "channel.rate_limited", "channel", DEPENDENCY, "The server refused to generate evidence: this client address exceeded its rate.")
X(CHANNEL_TIMEOUT, "channel.timeout", "channel", DEPENDENCY, "The peer did not send or accept bytes within the I/O timeout.")
X(CHANNEL_IO, "channel.io", "channel", DEPENDENCY, "A socket operation failed.")
X(CHANNEL_CLOSED, "channel.closed", "channel", INPUT, "The session is closed or failed; it accepts no more calls.")

/* guest agent */
X(AGENT_CONFIG_INVALID, "agent.config_invalid", "agent", INPUT, "The guest agent's configuration file is missing, malformed, or names an unknown member or value.")
X(AGENT_BROKER_UNAVAILABLE, "agent.broker_unavailable", "agent", DEPENDENCY, "The key broker could not be reached (connection, TLS with the pinned CA, or timeout).")
X(AGENT_BROKER_PROTOCOL, "agent.broker_protocol", "agent", INPUT, "The key broker answered outside the KBS 0.4.0 protocol (an unexpected status or body).")
X(AGENT_KEY_MISMATCH, "agent.key_mismatch", "agent", DENY, "The sealed artifact names another key ID or version than the agent is configured to fetch.")
X(AGENT_MEMORY_FAILED, "agent.memory_failed", "agent", DEPENDENCY, "The in-memory model file (memfd) could not be created, mapped, locked as required, or sealed.")
X(AGENT_HARDENING_FAILED, "agent.hardening_failed", "agent", DEPENDENCY, "The process could not be hardened (non-dumpable, no core files, no_new_privs, seccomp filter).")
X(AGENT_SERVER_FAILED, "agent.server_failed", "agent", DEPENDENCY, "The model server could not be started, or it exited with a failure.")
X(GPU_NVML_UNAVAILABLE, "gpu.nvml_unavailable", "gpu", DEPENDENCY, "The GPU is required but NVML (libnvidia-ml.so.1) cannot be loaded or initialised.")
X(GPU_ABSENT, "gpu.absent", "gpu", DENY, "The GPU is required but NVML reports no GPU.")
X(GPU_CC_MODE_OFF, "gpu.cc_mode_off", "gpu", DENY, "The GPU is required but its confidential-computing mode is off.")
X(GPU_DEVTOOLS_ON, "gpu.devtools_on", "gpu", DENY, "The GPU's confidential-computing developer-tools mode is on, which lets tools read GPU memory.")
X(GPU_NVML_ERROR, "gpu.nvml_error", "gpu", DEPENDENCY, "An NVML query failed (the message names the function and its return code).")

/* sealed artifacts */
X(ARTIFACT_MAGIC_INVALID, "artifact.magic_invalid", "artifact", INPUT, "The file does not start with the sealed-artifact magic; it is not a ccgate sealed model.")
X(ARTIFACT_VERSION_UNSUPPORTED, "artifact.version_unsupported", "artifact", INPUT, "The sealed-artifact format version is not one this ccgate reads (1).")
X(ARTIFACT_SUITE_UNSUPPORTED, "artifact.suite_unsupported", "artifact", INPUT, "The artifact's cipher suite or signature algorithm is unknown (suite 1: AES-256-GCM, HKDF-SHA256, SHA-384; signatures ES384 or Ed25519).")
X(ARTIFACT_HEADER_MALFORMED, "artifact.header_malformed", "artifact", INPUT, "The artifact header is malformed: a reserved field is not zero, the chunk size is out of bounds, the key ID is invalid, or the lengths disagree.")
X(ARTIFACT_SIGNATURE_INVALID, "artifact.signature_invalid", "artifact", DENY, "The artifact header's signature does not verify under the provider's key (a changed header or signature, or another provider's key).")
X(ARTIFACT_KEY_VERSION_MISMATCH, "artifact.key_version_mismatch", "artifact", DENY, "The model key's version is not the version the artifact was sealed under.")
X(ARTIFACT_KEY_INVALID, "artifact.key_invalid", "artifact", DENY, "The model key is not the key the artifact was sealed under (its key check value does not match).")
X(ARTIFACT_CHUNK_AUTH_FAILED, "artifact.chunk_auth_failed", "artifact", DENY, "A chunk failed AES-256-GCM authentication: its ciphertext, tag or framing was changed.")
X(ARTIFACT_CHUNK_REORDERED, "artifact.chunk_reordered", "artifact", DENY, "A chunk sits at another position than the one it was sealed for (chunks reordered or duplicated).")
X(ARTIFACT_SPLICED, "artifact.spliced", "artifact", DENY, "A chunk was sealed for another artifact (spliced in from a different seal).")
X(ARTIFACT_TRUNCATED, "artifact.truncated", "artifact", DENY, "The artifact ends before its last chunk: it was truncated.")
X(ARTIFACT_TRAILING_DATA, "artifact.trailing_data", "artifact", DENY, "The artifact has bytes after its final chunk.")
X(ARTIFACT_DIGEST_MISMATCH, "artifact.digest_mismatch", "artifact", DENY, "The decrypted model's digest is not the digest the provider signed.")
X(ARTIFACT_SOURCE_CHANGED, "artifact.source_changed", "artifact", DEPENDENCY, "The artifact (or the model being sealed) changed while it was read.")
X(ARTIFACT_FETCH_FAILED, "artifact.fetch_failed", "artifact", DEPENDENCY, "The artifact could not be fetched from its location (HTTP error, connection or TLS failure).")

/* HPKE (RFC 9180) */
X(HPKE_SUITE_UNSUPPORTED, "hpke.suite_unsupported", "hpke", INPUT, "The HPKE suite is not one ccgate implements (KEM DHKEM(X25519, HKDF-SHA256), KDF HKDF-SHA256, AEAD AES-128-GCM, ChaCha20-Poly1305 or export-only).")
X(HPKE_MODE_UNSUPPORTED, "hpke.mode_unsupported", "hpke", INPUT, "The HPKE mode is unknown, or not one the setup call takes (Base and PSK go through ccg_hpke_setup_sender/_receiver, Auth and AuthPSK through ccg_hpke_setup_auth_*).")
X(HPKE_PSK_INPUTS_INVALID, "hpke.psk_inputs_invalid", "hpke", INPUT, "The PSK inputs do not fit the mode: psk and psk_id must be both present (PSK mode, psk of at least 32 bytes) or both absent (Base mode).")
X(HPKE_KEY_INVALID, "hpke.key_invalid", "hpke", INPUT, "An HPKE key or key input is not usable (wrong length, missing, or an ikm shorter than 32 bytes).")
X(HPKE_DH_ZERO, "hpke.dh_zero", "hpke", DENY, "The X25519 shared secret is all zero: the peer's public key is a low-order point, so the exchange is refused.")
X(HPKE_OPEN_FAILED, "hpke.open_failed", "hpke", DENY, "The HPKE ciphertext does not authenticate (tampered ciphertext, tag or associated data, or the wrong key or sequence number).")
X(HPKE_MESSAGE_LIMIT, "hpke.message_limit", "hpke", DENY, "The HPKE context has used every sequence number (2^64-1 messages) and refuses to seal or open more.")
X(HPKE_EXPORT_TOO_LONG, "hpke.export_too_long", "hpke", INPUT, "The requested HPKE export is longer than 255 * 32 bytes.")
X(HPKE_EXPORT_ONLY, "hpke.export_only", "hpke", INPUT, "The HPKE context uses the export-only AEAD, so it cannot seal or open.")

/* SEV-SNP TCB baselines (collateral the key-release authority signs) */
X(SNP_TCB_BASELINE_MISSING, "snp.tcb_baseline_missing", "snp", DENY, "No TCB baseline for the report's product was supplied, and the policy requires one to decide the TCB status.")
X(SNP_TCB_BASELINE_MALFORMED, "snp.tcb_baseline_malformed", "snp", INPUT, "The TCB baseline is not a valid baseline document (unknown member, wrong type, bad product, level or time).")
X(SNP_TCB_BASELINE_UNSIGNED, "snp.tcb_baseline_unsigned", "snp", DENY, "The TCB baseline carries no signature.")
X(SNP_TCB_BASELINE_SIGNATURE_INVALID, "snp.tcb_baseline_signature_invalid", "snp", DENY, "The TCB baseline's signature does not verify under its issuer's key.")
X(SNP_TCB_BASELINE_ISSUER_UNKNOWN, "snp.tcb_baseline_issuer_unknown", "snp", DENY, "The TCB baseline was signed by an issuer that is not trusted for baselines.")
X(SNP_TCB_BASELINE_EXPIRED, "snp.tcb_baseline_expired", "snp", DENY, "The TCB baseline's not_after is before the verification time.")
X(SNP_TCB_BASELINE_NOT_YET_VALID, "snp.tcb_baseline_not_yet_valid", "snp", DENY, "The TCB baseline's not_before is after the verification time.")
