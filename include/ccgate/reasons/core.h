/* core */
/* An X-macro fragment of ccgate/reason_list.h (no include guard: it is included with X defined). */
X(OK, "ok", "core", OK,
  "No error.")
X(INTERNAL_OUT_OF_MEMORY, "internal.out_of_memory", "core", INTERNAL,
  "An allocation failed.")
X(INTERNAL_CRYPTO, "internal.crypto", "crypto", INTERNAL,
  "An OpenSSL operation failed unexpectedly.")
X(INTERNAL_ERROR, "internal.error", "core", INTERNAL,
  "An internal invariant did not hold.")
X(USAGE_INVALID, "usage.invalid", "cli", INPUT,
  "The command line is invalid; see --help.")
X(IO_READ_FAILED, "io.read_failed", "core", DEPENDENCY,
  "A file could not be read.")
X(IO_WRITE_FAILED, "io.write_failed", "core", DEPENDENCY,
  "A file could not be written.")
X(INPUT_TRUNCATED, "input.truncated", "core", INPUT,
  "The input ended before a complete record was read.")
X(INPUT_TRAILING_BYTES, "input.trailing_bytes", "core", INPUT,
  "The input has bytes after the end of the record.")
X(INPUT_TOO_LARGE, "input.too_large", "core", INPUT,
  "The input is larger than the format allows.")
X(INPUT_MALFORMED, "input.malformed", "core", INPUT,
  "The input is not in the expected format.")
X(INPUT_RESERVED_NONZERO, "input.reserved_nonzero", "core", INPUT,
  "A reserved field is not zero.")
X(INPUT_BAD_TIME, "input.bad_time", "core", INPUT,
  "A timestamp is not a valid RFC 3339 UTC time.")
X(INPUT_BAD_HEX, "input.bad_hex", "core", INPUT,
  "A hex string has an odd length or a non-hex character.")
