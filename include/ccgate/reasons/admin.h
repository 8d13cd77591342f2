/* admin API */
/* An X-macro fragment of ccgate/reason_list.h (no include guard: it is included with X defined). */
X(ADMIN_UNAUTHENTICATED, "admin.unauthenticated", "admin", DENY,
  "The admin request carries no valid token: missing, malformed, expired, or signed by no configured admin issuer.")
X(ADMIN_FORBIDDEN, "admin.forbidden", "admin", DENY,
  "The token's role may not make this admin call, or the key or policy belongs to another provider.")
X(ADMIN_REQUEST_MALFORMED, "admin.request_malformed", "admin", INPUT,
  "The admin request body is not the expected JSON document (unknown member, wrong type, missing field).")
X(ADMIN_AUDIENCE_MISMATCH, "admin.audience_mismatch", "admin", DENY,
  "The admin token's aud does not name this broker's configured admin audience (or is missing).")
X(ADMIN_TOKEN_LIFETIME_EXCEEDED, "admin.token_lifetime_exceeded", "admin", DENY,
  "The admin token's lifetime (exp - iat) is not positive or exceeds the broker's configured maximum.")
X(ADMIN_ROLE_NOT_PERMITTED, "admin.role_not_permitted", "admin", DENY,
  "The admin token's issuer is not configured to assert this role.")
X(ADMIN_SUBJECT_NOT_PERMITTED, "admin.subject_not_permitted", "admin", DENY,
  "The admin token's issuer is not configured to assert this subject.")
X(ADMIN_POLICY_RESERVED, "admin.policy_reserved", "admin", DENY,
  "The policy ID is the broker-wide attestation policy, which only the operator role may set or read.")
X(ADMIN_OWNER_UNBOUND, "admin.owner_unbound", "admin", DENY,
  "The key or policy has a legacy owner (subject only) that no single configured issuer may assert; no provider may "
  "act on it.")
X(ADMIN_BROKER_UNREACHABLE, "admin.broker_unreachable", "admin", DEPENDENCY,
  "`ccgate kbs` could not reach the key broker (connection, TLS or timeout), or its answer carried no reason code.")
