/* audit log */
/* An X-macro fragment of ccgate/reason_list.h (no include guard: it is included with X defined). */
X(AUDIT_WRITE_FAILED, "audit.write_failed", "audit", DEPENDENCY,
  "The audit record could not be written and synced, so the decision is not released.")
X(AUDIT_CHAIN_BROKEN, "audit.chain_broken", "audit", DENY,
  "An audit record's hash does not chain to the previous record.")
X(AUDIT_CHECKPOINT_INVALID, "audit.checkpoint_invalid", "audit", INPUT,
  "The named audit record is not a checkpoint (or no checkpoint is old enough), so nothing before it may be pruned.")
X(AUDIT_RECORD_NOT_FOUND, "audit.record_not_found", "audit", DENY,
  "No audit record names this request ID (it was never recorded, or was pruned).")
