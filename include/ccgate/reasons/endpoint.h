/* inference endpoint (docs/endpoint.md): the HTTPS front end in the guest, its callers and limits */
/* An X-macro fragment of ccgate/reason_list.h (no include guard: it is included with X defined). */
X(ENDPOINT_PATH_BLOCKED, "endpoint.path_blocked", "endpoint", DENY,
  "The path or method is not one the endpoint serves (admin, unknown, traversal or a disallowed method); it is refused "
  "and counted.")
X(ENDPOINT_CALLER_NOT_ALLOWED, "endpoint.caller_not_allowed", "endpoint", DENY,
  "The caller presented no credential this route accepts (client certificate or API key), or one that is not allowed.")
X(ENDPOINT_CERT_UNTRUSTED, "endpoint.cert_untrusted", "endpoint", DENY,
  "The client certificate does not verify against the endpoint's configured client CA (another CA, a broken chain or a "
  "bad signature).")
X(ENDPOINT_CERT_EXPIRED, "endpoint.cert_expired", "endpoint", DENY,
  "The client certificate (or a certificate of its chain) is expired or not yet valid.")
X(ENDPOINT_RATE_LIMITED, "endpoint.rate_limited", "endpoint", DENY,
  "The caller (or, for the evidence route, the peer address) exceeded its request rate; retry later.")
X(ENDPOINT_BODY_TOO_LARGE, "endpoint.body_too_large", "endpoint", INPUT,
  "The request body is larger than the endpoint's configured limit.")
X(ENDPOINT_REQUEST_TIMEOUT, "endpoint.request_timeout", "endpoint", DENY,
  "The request was not received completely within the request deadline (a slow client); the connection is cut.")
X(ENDPOINT_HANDSHAKE_FAILED, "endpoint.handshake_failed", "endpoint", DENY,
  "The TLS handshake failed or missed its deadline (e.g. a TLS 1.2 client: the endpoint speaks TLS 1.3 only).")
X(ENDPOINT_TOO_MANY_CONNECTIONS, "endpoint.too_many_connections", "endpoint", DENY,
  "The endpoint's connection cap (in total or for the peer address) is reached; the connection is closed.")
X(ENDPOINT_RUNNER_UNAVAILABLE, "endpoint.runner_unavailable", "endpoint", DEPENDENCY,
  "The model runner does not answer on its Unix socket (not started, crashed or stopped).")
X(ENDPOINT_RUNNER_TIMEOUT, "endpoint.runner_timeout", "endpoint", DEPENDENCY,
  "The model runner did not complete the request within the runner timeout.")
X(ENDPOINT_RUNNER_ERROR, "endpoint.runner_error", "endpoint", DEPENDENCY,
  "The model runner's answer could not be relayed (too large, or the transfer broke off).")
X(ENDPOINT_REQUEST_INVALID, "endpoint.request_invalid", "endpoint", INPUT,
  "The request's parameters are malformed (e.g. the evidence route's nonce or binding).")
X(ENDPOINT_EVIDENCE_UNAVAILABLE, "endpoint.evidence_unavailable", "endpoint", DEPENDENCY,
  "The endpoint could not produce evidence (no attester, or the attester failed).")
X(ENDPOINT_GATEWAY_DISABLED, "endpoint.gateway_disabled", "endpoint", DENY,
  "The gateway (OHTTP) route is not enabled in the endpoint's configuration.")
X(ENDPOINT_TLS_SETUP_FAILED, "endpoint.tls_setup_failed", "endpoint", INPUT,
  "The endpoint's TLS certificate, key or client CA could not be loaded, or the listener could not be opened.")
