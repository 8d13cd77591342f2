/* endpoint client and attestation binding (docs/endpoint.md, docs/client.md) */
/* An X-macro fragment of ccgate/reason_list.h (no include guard: it is included with X defined). */
X(CLIENT_BINDING_MISMATCH, "client.binding_mismatch", "client", DENY,
  "The endpoint's evidence answers another nonce or binding than this client asked for (replayed from another request "
  "or session), or in gateway mode does not bind the endpoint's HPKE key configuration.")
X(CLIENT_EVIDENCE_MALFORMED, "client.evidence_malformed", "client", INPUT,
  "The endpoint's evidence document is not a version 1 document of the expected shape (an unknown version, binding, "
  "TEE or member, bad base64url, a wrong length).")
X(CLIENT_EVIDENCE_DENIED, "client.evidence_denied", "client", DENY,
  "The endpoint's evidence was verified and denied by the policy or trust roots (the verifier's reasons follow, e.g. "
  "snp.debug_enabled).")
X(CLIENT_EXPORTER_MISMATCH, "client.exporter_mismatch", "client", DENY,
  "The evidence answers this client's nonce but is bound to another TLS exporter value (another session: relayed "
  "evidence).")
X(CLIENT_CONNECTION_NOT_ATTESTED, "client.connection_not_attested", "client", DENY,
  "A request was about to leave on a connection whose TLS exporter is not the attested one (a new or swapped "
  "connection); it was aborted before any byte was sent.")
X(CLIENT_ENDPOINT_UNREACHABLE, "client.endpoint_unreachable", "client", DEPENDENCY,
  "The endpoint could not be reached or the HTTP exchange with it failed (connect, TLS, timeout, a non-200 evidence "
  "answer).")
X(CLIENT_OHTTP_KEY_CONFIG_INVALID, "client.ohttp_key_config_invalid", "client", INPUT,
  "An OHTTP key configuration (RFC 9458 section 3) is malformed or names no suite ccgate implements.")
X(CLIENT_OHTTP_MALFORMED, "client.ohttp_malformed", "client", INPUT,
  "An OHTTP encapsulated request or response is malformed (truncated header, unknown key ID or suite, too short).")
X(CLIENT_OHTTP_DECRYPT_FAILED, "client.ohttp_decrypt_failed", "client", DENY,
  "An OHTTP encapsulated request or response does not decrypt (wrong key, tampered or replayed under another context).")
X(CLIENT_BHTTP_MALFORMED, "client.bhttp_malformed", "client", INPUT,
  "A binary HTTP message (RFC 9292, known-length) is malformed: framing indicator, a length, a field name or value, a "
  "status, or non-zero padding.")
X(CLIENT_SSE_MALFORMED, "client.sse_malformed", "client", INPUT,
  "A server-sent event stream exceeds the parser's bounds (line or event size).")
X(CLIENT_UPSTREAM_FAILED, "client.upstream_failed", "client", DEPENDENCY,
  "The attested endpoint answered the forwarded request with an error or the exchange broke off.")
X(CLIENT_PATH_NOT_FORWARDED, "client.path_not_forwarded", "client", DENY,
  "The local proxy forwards only the OpenAI-compatible routes (POST /v1/chat/completions, POST /v1/completions, GET "
  "/v1/models); another path or method is refused locally.")
