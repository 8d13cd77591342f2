/* collateral */
/* An X-macro fragment of ccgate/reason_list.h (no include guard: it is included with X defined). */
X(COLLATERAL_MISSING, "collateral.missing", "collateral", DENY,
  "Required collateral (endorsement key, chain or CRL) is missing.")
X(COLLATERAL_FETCH_FAILED, "collateral.fetch_failed", "collateral", DEPENDENCY,
  "Collateral could not be fetched from the key distribution service.")
X(COLLATERAL_RATE_LIMITED, "collateral.rate_limited", "collateral", DEPENDENCY,
  "The key distribution service answered 429 Too Many Requests.")
X(COLLATERAL_CACHE_ERROR, "collateral.cache_error", "collateral", DEPENDENCY,
  "The local collateral cache could not be read or written.")
X(COLLATERAL_EXPIRED, "collateral.expired", "collateral", DENY,
  "Collateral (endorsement key chain or CRL) has expired at the verification time.")
