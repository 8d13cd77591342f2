/* policy documents */
/* An X-macro fragment of ccgate/reason_list.h (no include guard: it is included with X defined). */
X(POLICY_MALFORMED, "policy.malformed", "policy", INPUT,
  "The policy document is not valid JSON of the expected shape.")
X(POLICY_UNKNOWN_KEY, "policy.unknown_key", "policy", INPUT,
  "The policy document has a key ccgate does not know.")
X(POLICY_INVALID_VALUE, "policy.invalid_value", "policy", INPUT,
  "A policy value has the wrong type or is out of range.")
X(POLICY_VERSION_INVALID, "policy.version_invalid", "policy", INPUT,
  "The policy has no policy_id or no positive integer version.")
