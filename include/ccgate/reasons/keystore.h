/* key management (KMS/HSM keystores) */
/* An X-macro fragment of ccgate/reason_list.h (no include guard: it is included with X defined). */
X(KMS_UNAVAILABLE, "kms.unavailable", "kms", DEPENDENCY,
  "The key-management service or HSM is unavailable (module missing, token absent, login refused or timeout); nothing "
  "is released.")
X(KMS_KEY_NOT_FOUND, "kms.key_not_found", "kms", DEPENDENCY,
  "The key-encryption key is not present in the keystore.")
X(KMS_UNWRAP_FAILED, "kms.unwrap_failed", "kms", DEPENDENCY,
  "The keystore could not unwrap the key: wrong KEK or a tampered wrapped key.")
X(KMS_CONFIG_INVALID, "kms.config_invalid", "kms", INPUT,
  "The keystore configuration is invalid (module path, token label, PIN source or KEK file permissions).")
X(KMS_KEK_MISSING, "kms.kek_missing", "kms", DEPENDENCY,
  "The file keystore's KEK file is gone (removed or moved away) since it was loaded; nothing is released until it is "
  "back.")
X(KMS_KEK_CHANGED, "kms.kek_changed", "kms", DEPENDENCY,
  "The file keystore's KEK file now holds other bytes than the KEK loaded; nothing is released until the original is "
  "back.")
