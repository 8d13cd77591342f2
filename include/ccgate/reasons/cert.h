/* certificates and revocation */
/* An X-macro fragment of ccgate/reason_list.h (no include guard: it is included with X defined). */
X(CERT_PARSE_FAILED, "cert.parse_failed", "cert", INPUT,
  "A certificate or CRL could not be parsed as PEM or DER.")
X(CERT_CHAIN_INCOMPLETE, "cert.chain_incomplete", "cert", DENY,
  "A certificate needed to build the chain to the AMD root was not supplied.")
X(CERT_SIGNATURE_INVALID, "cert.signature_invalid", "cert", DENY,
  "A certificate's signature does not verify under its issuer's key.")
X(CERT_UNTRUSTED_ROOT, "cert.untrusted_root", "cert", DENY,
  "The chain ends in a root that is not a pinned AMD root for this product.")
X(CERT_EXPIRED, "cert.expired", "cert", DENY,
  "A certificate in the chain has expired at the verification time.")
X(CERT_NOT_YET_VALID, "cert.not_yet_valid", "cert", DENY,
  "A certificate in the chain is not yet valid at the verification time.")
X(CERT_REVOKED, "cert.revoked", "cert", DENY,
  "A certificate in the chain is listed in the CRL.")
X(CERT_WRONG_PRODUCT, "cert.wrong_product", "cert", DENY,
  "The chain belongs to a different product than the report.")
X(CRL_SIGNATURE_INVALID, "crl.signature_invalid", "cert", DENY,
  "The CRL is not signed by the product's AMD root key.")
X(CRL_EXPIRED, "crl.expired", "cert", DENY,
  "The CRL's nextUpdate is before the verification time.")
X(CRL_NOT_YET_VALID, "crl.not_yet_valid", "cert", DENY,
  "The CRL's lastUpdate is after the verification time.")
