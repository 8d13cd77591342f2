/* HPKE (RFC 9180) */
/* An X-macro fragment of ccgate/reason_list.h (no include guard: it is included with X defined). */
X(HPKE_SUITE_UNSUPPORTED, "hpke.suite_unsupported", "hpke", INPUT,
  "The HPKE suite is not one ccgate implements (KEM DHKEM(X25519, HKDF-SHA256), KDF HKDF-SHA256, AEAD AES-128-GCM, "
  "ChaCha20-Poly1305 or export-only).")
X(HPKE_MODE_UNSUPPORTED, "hpke.mode_unsupported", "hpke", INPUT,
  "The HPKE mode is unknown, or not one the setup call takes (Base and PSK go through ccg_hpke_setup_sender/_receiver, "
  "Auth and AuthPSK through ccg_hpke_setup_auth_*).")
X(HPKE_PSK_INPUTS_INVALID, "hpke.psk_inputs_invalid", "hpke", INPUT,
  "The PSK inputs do not fit the mode: psk and psk_id must be both present (PSK mode, psk of at least 32 bytes) or "
  "both absent (Base mode).")
X(HPKE_KEY_INVALID, "hpke.key_invalid", "hpke", INPUT,
  "An HPKE key or key input is not usable (wrong length, missing, or an ikm shorter than 32 bytes).")
X(HPKE_DH_ZERO, "hpke.dh_zero", "hpke", DENY,
  "The X25519 shared secret is all zero: the peer's public key is a low-order point, so the exchange is refused.")
X(HPKE_OPEN_FAILED, "hpke.open_failed", "hpke", DENY,
  "The HPKE ciphertext does not authenticate (tampered ciphertext, tag or associated data, or the wrong key or "
  "sequence number).")
X(HPKE_MESSAGE_LIMIT, "hpke.message_limit", "hpke", DENY,
  "The HPKE context has used every sequence number (2^64-1 messages) and refuses to seal or open more.")
X(HPKE_EXPORT_TOO_LONG, "hpke.export_too_long", "hpke", INPUT,
  "The requested HPKE export is longer than 255 * 32 bytes.")
X(HPKE_EXPORT_ONLY, "hpke.export_only", "hpke", INPUT,
  "The HPKE context uses the export-only AEAD, so it cannot seal or open.")
