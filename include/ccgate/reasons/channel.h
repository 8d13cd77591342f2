/* channel */
/* An X-macro fragment of ccgate/reason_list.h (no include guard: it is included with X defined). */
X(CHANNEL_VERSION_UNSUPPORTED, "channel.version_unsupported", "channel", INPUT,
  "The peer speaks a channel protocol version this side does not (1 is supported).")
X(CHANNEL_SUITE_UNSUPPORTED, "channel.suite_unsupported", "channel", INPUT,
  "The HPKE suite offered or chosen is not one the channel allows (X25519, HKDF-SHA256, ChaCha20-Poly1305 or "
  "AES-128-GCM).")
X(CHANNEL_MESSAGE_MALFORMED, "channel.message_malformed", "channel", INPUT,
  "A handshake message or frame header is malformed (wrong type, length, reserved bits or trailing bytes).")
X(CHANNEL_BINDING_MISMATCH, "channel.binding_mismatch", "channel", DENY,
  "The evidence's REPORT_DATA does not bind this connection's client nonce, server key and suite: stale, replayed or "
  "foreign evidence.")
X(CHANNEL_EVIDENCE_DENIED, "channel.evidence_denied", "channel", DENY,
  "The server's evidence failed the client's policy; the verifier's reasons name the cause.")
X(CHANNEL_EVIDENCE_UNAVAILABLE, "channel.evidence_unavailable", "channel", DEPENDENCY,
  "The server could not obtain evidence from its attester.")
X(CHANNEL_CONFIRM_FAILED, "channel.confirm_failed", "channel", DENY,
  "A key-confirmation MAC does not verify: the peers derived different keys or the transcript was altered.")
X(CHANNEL_FRAME_AUTH_FAILED, "channel.frame_auth_failed", "channel", DENY,
  "A frame does not authenticate under the session key (tampered, or spliced from another session).")
X(CHANNEL_SEQUENCE_INVALID, "channel.sequence_invalid", "channel", DENY,
  "A frame carries a sequence number other than the exact next one (replayed, reordered or dropped frame).")
X(CHANNEL_FRAME_TOO_LARGE, "channel.frame_too_large", "channel", INPUT,
  "A frame or handshake message is larger than the channel's maximum.")
X(CHANNEL_TRUNCATED, "channel.truncated", "channel", DEPENDENCY,
  "The stream ended (EOF or reset) without an authenticated close frame.")
X(CHANNEL_PEER_CLOSED, "channel.peer_closed", "channel", DEPENDENCY,
  "The peer ended the connection: it closed during the handshake, sent an alert, or already sent its close frame.")
X(CHANNEL_RATE_LIMITED, "channel.rate_limited", "channel", DEPENDENCY,
  "The server refused to generate evidence: this client address exceeded its rate.")
X(CHANNEL_TIMEOUT, "channel.timeout", "channel", DEPENDENCY,
  "The peer did not send or accept bytes within the I/O timeout.")
X(CHANNEL_IO, "channel.io", "channel", DEPENDENCY,
  "A socket operation failed.")
X(CHANNEL_CLOSED, "channel.closed", "channel", INPUT,
  "The session is closed or failed; it accepts no more calls.")
X(CHANNEL_ALERT_UNAUTHENTICATED, "channel.alert_unauthenticated", "channel", DENY,
  "An unauthenticated ALERT arrived after M2, where only authenticated records may change the outcome: the handshake "
  "or stream was tampered with, and the alert's claim is not believed.")
