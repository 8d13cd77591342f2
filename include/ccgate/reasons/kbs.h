/* key broker protocol */
/* An X-macro fragment of ccgate/reason_list.h (no include guard: it is included with X defined). */
X(KBS_REQUEST_MALFORMED, "kbs.request_malformed", "kbs", INPUT,
  "The KBS request body is not the expected JSON (Request, Attestation or evidence shape).")
X(KBS_VERSION_UNSUPPORTED, "kbs.version_unsupported", "kbs", INPUT,
  "The client speaks a KBS protocol version this broker does not (0.4.0 is supported).")
X(KBS_TEE_NOT_ALLOWED, "kbs.tee_not_allowed", "kbs", DENY,
  "The TEE type is not supported by the broker or not allowed by the release policy.")
X(KBS_SESSION_MISSING, "kbs.session_missing", "kbs", DENY,
  "The request carries no kbs-session-id cookie or bearer token, or names an unknown session.")
X(KBS_SESSION_EXPIRED, "kbs.session_expired", "kbs", DENY,
  "The session (or its challenge nonce) has expired; start again with /kbs/v0/auth.")
X(KBS_NONCE_MISMATCH, "kbs.nonce_mismatch", "kbs", DENY,
  "The runtime-data nonce is not the nonce this session was challenged with.")
X(KBS_NONCE_EXPIRED, "kbs.nonce_expired", "kbs", DENY,
  "The challenge nonce expired before the attestation arrived (a stale nonce); start again with /kbs/v0/auth.")
X(KBS_NONCE_REUSED, "kbs.nonce_reused", "kbs", DENY,
  "The challenge nonce was consumed before: a replayed attestation.")
X(KBS_NOT_ATTESTED, "kbs.not_attested", "kbs", DENY,
  "The session has not passed attestation, so no resource is released.")
X(KBS_GPU_REQUIRED, "kbs.gpu_required", "kbs", DENY,
  "The release policy requires GPU evidence and the attestation carries none (tee-evidence.additional_evidence names "
  "no NVIDIA GPU); nothing is released.")
X(KBS_POLICY_INVALID, "kbs.policy_invalid", "kbs", INPUT,
  "The release policy document is malformed (unknown member, wrong type, bad trusted root).")
X(KBS_CONFIG_INVALID, "kbs.config_invalid", "kbs", INPUT,
  "The key broker configuration is invalid or refuses to start (for example no TLS without --insecure-http).")
X(KBS_PATH_ENCODED, "kbs.path_encoded", "kbs", INPUT,
  "The request path holds percent-encoded bytes (%00, %2F, ...) where the broker's path grammar allows none; it is "
  "refused as sent, never decoded.")
X(KBS_PATH_INVALID, "kbs.path_invalid", "kbs", INPUT,
  "The request path is not in the broker's path grammar (a resource path is /kbs/v0/resource/<repo>/<type>/<tag>, "
  "segments of [A-Za-z0-9._-], not . or ..).")
X(KBS_REQUEST_DEADLINE, "kbs.request_deadline", "kbs", INPUT,
  "The client did not send its whole request within the broker's request deadline; the connection was closed.")
X(KBS_POLICY_UNPINNED, "kbs.policy_unpinned", "kbs", INPUT,
  "The release policy pins no launch measurement (no snp_policy.allowed_measurements and no "
  "snp_policy.reference_values), so it would release to any genuine guest; it is refused.")
X(KBS_TEE_PUBKEY_MEMBER_UNKNOWN, "kbs.tee_pubkey_member_unknown", "kbs", INPUT,
  "The tee-pubkey JWK carries a member other than kty, crv, x, y (EC) or kty, n, e (RSA), alg and use (e.g. kid or "
  "x5u); REPORT_DATA does not bind it, so it is refused.")
X(KBS_TOO_MANY_ATTEMPTS, "kbs.too_many_attempts", "kbs", DENY,
  "Too many failed attempts on this session or from this client address in the current window; wait, then start again "
  "with /kbs/v0/auth.")
X(KBS_ADDITIONAL_EVIDENCE_UNSUPPORTED, "kbs.additional_evidence_unsupported", "kbs", INPUT,
  "tee-evidence.additional_evidence names a device TEE other than \"nvidia\" (the only additional evidence this broker "
  "verifies); it is refused rather than ignored.")
X(KBS_RELOAD_NEEDS_RESTART, "kbs.reload_needs_restart", "kbs", INPUT,
  "A reload (SIGHUP) found a changed configuration member that only a restart can apply (the listen address, the "
  "store, ...); the reload is refused and the broker keeps running with its previous configuration and certificate.")
X(KBS_INITDATA_MALFORMED, "kbs.initdata_malformed", "kbs", INPUT,
  "The Attestation's init-data is not {\"format\":\"toml\",\"body\":<string>}, or its TOML top level does not name the "
  "digest algorithm once as algorithm = \"...\" (docs/kbs.md, \"Init-data\").")
X(KBS_INITDATA_ALGORITHM_UNSUPPORTED, "kbs.initdata_algorithm_unsupported", "kbs", INPUT,
  "The init-data names a digest algorithm other than sha256, sha384 or sha512.")
X(KBS_INITDATA_TOO_LARGE, "kbs.initdata_too_large", "kbs", INPUT,
  "The init-data body is empty or larger than 262144 bytes (CCG_KBS_INITDATA_MAX).")
X(KBS_INITDATA_MISMATCH, "kbs.initdata_mismatch", "kbs", DENY,
  "The digest of the presented init-data, zero-padded or truncated to the field, differs from the verified evidence's "
  "HOST_DATA (SNP) or MRCONFIGID (TDX): the guest was not launched with this init-data.")
X(KBS_INITDATA_MISSING, "kbs.initdata_missing", "kbs", DENY,
  "The release policy requires init-data (init_data.required or init_data.digests) and the guest presented none.")
X(KBS_INITDATA_NOT_ALLOWED, "kbs.initdata_not_allowed", "kbs", DENY,
  "The presented init-data is bound to the evidence but its digest is not one of the release policy's "
  "init_data.digests.")
