/* model keys (resources) */
/* An X-macro fragment of ccgate/reason_list.h (no include guard: it is included with X defined). */
X(KEY_NOT_FOUND, "key.not_found", "key", DENY,
  "No key with this ID (and version) exists.")
X(KEY_DISABLED, "key.disabled", "key", DENY,
  "The key is disabled by its provider; it is not released.")
X(KEY_RETIRED, "key.retired", "key", DENY,
  "The key version is retired after rotation and is never released again.")
X(KEY_ID_INVALID, "key.id_invalid", "key", INPUT,
  "A key ID is not repo/type/tag: three non-empty segments of [A-Za-z0-9._-] (not . or ..), at most 128 bytes each.")
X(KEY_RESOURCE_TOO_LARGE, "key.resource_too_large", "key", INPUT,
  "A key or opaque resource is empty or larger than the one size rule allows (1 MiB).")
