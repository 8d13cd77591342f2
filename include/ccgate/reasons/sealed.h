/* sealed artifacts */
/* An X-macro fragment of ccgate/reason_list.h (no include guard: it is included with X defined). */
X(ARTIFACT_MAGIC_INVALID, "artifact.magic_invalid", "artifact", INPUT,
  "The file does not start with the sealed-artifact magic; it is not a ccgate sealed model.")
X(ARTIFACT_VERSION_UNSUPPORTED, "artifact.version_unsupported", "artifact", INPUT,
  "The sealed-artifact format version is not one this ccgate reads (1).")
X(ARTIFACT_SUITE_UNSUPPORTED, "artifact.suite_unsupported", "artifact", INPUT,
  "The artifact's cipher suite or signature algorithm is unknown (suite 1: AES-256-GCM, HKDF-SHA256, SHA-384; "
  "signatures ES384 or Ed25519).")
X(ARTIFACT_HEADER_MALFORMED, "artifact.header_malformed", "artifact", INPUT,
  "The artifact header is malformed: a reserved field is not zero, the chunk size is out of bounds, the key ID is "
  "invalid, or the lengths disagree.")
X(ARTIFACT_SIGNATURE_INVALID, "artifact.signature_invalid", "artifact", DENY,
  "The artifact header's signature does not verify under the provider's key (a changed header or signature, or another "
  "provider's key).")
X(ARTIFACT_KEY_VERSION_MISMATCH, "artifact.key_version_mismatch", "artifact", DENY,
  "The model key's version is not the version the artifact was sealed under.")
X(ARTIFACT_KEY_INVALID, "artifact.key_invalid", "artifact", DENY,
  "The model key is not the key the artifact was sealed under (its key check value does not match).")
X(ARTIFACT_CHUNK_AUTH_FAILED, "artifact.chunk_auth_failed", "artifact", DENY,
  "A chunk failed AES-256-GCM authentication: its ciphertext, tag or framing was changed.")
X(ARTIFACT_CHUNK_REORDERED, "artifact.chunk_reordered", "artifact", DENY,
  "A chunk sits at another position than the one it was sealed for (chunks reordered or duplicated).")
X(ARTIFACT_SPLICED, "artifact.spliced", "artifact", DENY,
  "A chunk was sealed for another artifact (spliced in from a different seal).")
X(ARTIFACT_TRUNCATED, "artifact.truncated", "artifact", DENY,
  "The artifact ends before its last chunk: it was truncated.")
X(ARTIFACT_TRAILING_DATA, "artifact.trailing_data", "artifact", DENY,
  "The artifact has bytes after its final chunk.")
X(ARTIFACT_DIGEST_MISMATCH, "artifact.digest_mismatch", "artifact", DENY,
  "The decrypted model's digest is not the digest the provider signed.")
X(ARTIFACT_SOURCE_CHANGED, "artifact.source_changed", "artifact", DEPENDENCY,
  "The artifact (or the model being sealed) changed while it was read.")
X(ARTIFACT_FETCH_FAILED, "artifact.fetch_failed", "artifact", DEPENDENCY,
  "The artifact could not be fetched from its location (HTTP error, connection or TLS failure).")
