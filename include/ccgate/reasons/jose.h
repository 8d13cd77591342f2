/* JOSE: JWK, JWE, JWS/JWT */
/* An X-macro fragment of ccgate/reason_list.h (no include guard: it is included with X defined). */
X(JOSE_JWK_INVALID, "jose.jwk_invalid", "jose", INPUT,
  "The JWK is malformed or is not a valid public key (a private key member, an off-curve point, a short modulus).")
X(JOSE_JWK_UNSUPPORTED, "jose.jwk_unsupported", "jose", INPUT,
  "The JWK's key type, curve or algorithm is not supported (EC P-256 with ECDH-ES+A256KW, RSA with RSA-OAEP-256).")
X(JOSE_JWE_INVALID, "jose.jwe_invalid", "jose", INPUT,
  "The JWE is malformed or does not decrypt.")
X(JOSE_JWT_INVALID, "jose.jwt_invalid", "jose", DENY,
  "The token is malformed, or its signature does not verify.")
X(JOSE_JWT_EXPIRED, "jose.jwt_expired", "jose", DENY,
  "The token has expired or is not yet valid.")
X(JOSE_JWK_TOO_LARGE, "jose.jwk_too_large", "jose", INPUT,
  "The JWK's RSA modulus is longer than 4096 bits; a larger key costs the broker CPU on every request and is refused "
  "before it is decoded.")
