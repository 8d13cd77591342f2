/* state store */
/* An X-macro fragment of ccgate/reason_list.h (no include guard: it is included with X defined). */
X(STORE_UNAVAILABLE, "store.unavailable", "store", DEPENDENCY,
  "The state store (SQLite or PostgreSQL) cannot be opened or reached.")
X(STORE_CORRUPT, "store.corrupt", "store", DEPENDENCY,
  "The state store failed an integrity check.")
X(STORE_CONFLICT, "store.conflict", "store", DENY,
  "The write conflicts with the stored state (duplicate ID or stale version).")
