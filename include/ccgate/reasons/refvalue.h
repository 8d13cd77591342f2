/* reference values */
/* An X-macro fragment of ccgate/reason_list.h (no include guard: it is included with X defined). */
X(REFVAL_MALFORMED, "refval.malformed", "refval", INPUT,
  "The reference-value record or set is not valid JSON of the expected shape.")
X(REFVAL_UNSIGNED, "refval.unsigned", "refval", DENY,
  "The reference-value record carries no signature.")
X(REFVAL_SIGNATURE_INVALID, "refval.signature_invalid", "refval", DENY,
  "The reference-value signature does not verify under its issuer's key.")
X(REFVAL_ISSUER_UNKNOWN, "refval.issuer_unknown", "refval", DENY,
  "The reference value was signed by an issuer that is not trusted.")
X(REFVAL_EXPIRED, "refval.expired", "refval", DENY,
  "The reference value's not_after is before the verification time.")
X(REFVAL_NOT_YET_VALID, "refval.not_yet_valid", "refval", DENY,
  "The reference value's not_before is after the verification time.")
X(REFVAL_MEASUREMENT_MISMATCH, "refval.measurement_mismatch", "refval", DENY,
  "The launch measurement matches no record in the reference-value set.")
X(REFVAL_SET_MISSING, "refval.set_missing", "refval", DENY,
  "The policy names a reference-value set that was not supplied.")
X(REFVAL_TEE_MISMATCH, "refval.tee_mismatch", "refval", DENY,
  "The reference value is for a different TEE than the evidence.")
