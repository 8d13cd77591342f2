/* The confidential inference endpoint (docs/endpoint.md), served by ccgate-endpoint (the network-facing
 * process ccgate-agent starts) inside the guest.
 *
 * OpenSSL terminates TLS 1.3; each handshaken connection is bridged to libmicrohttpd through a socketpair
 * (MHD_add_connection), and the connection's facts (TLS exporter, verified client certificate, peer
 * address) follow it to the request handler. Routes are matched exactly (nothing is decoded or
 * normalised); every other path or method is endpoint.path_blocked and counted. Callers are checked per
 * route (mTLS against a configured CA, hashed API keys, either or both), rate-limited per caller, and the
 * allowed requests are forwarded to the model runner's Unix socket with libcurl (SSE streamed through).
 *
 *   endpoint.c         start and stop
 *   endpoint_config.c  the "endpoint" section of the agent configuration
 *   front.c            the request decision (route, method, credential, body length): no sockets, fuzzed
 *   ratelimit.c        per-caller token buckets
 *   tls.c              the TLS 1.3 context, the per-start self-signed certificate, client verification
 *   bridge.c           accept, caps, handshake deadline, the TLS <-> socketpair pump, the request deadline
 *   server.c           the libmicrohttpd side: requests, errors, dispatch
 *   forward.c          libcurl to the runner's Unix socket, SSE pass-through
 *   evidence.c         GET /.well-known/ccgate/evidence (endpoint_binding.h)
 *   gateway.c          POST /.well-known/ccgate/ohttp and the endpoint's OHTTP key (ohttp.h)
 *   elog.c             JSON log lines with the correlation ID (never a request or response byte) */
#ifndef CCGATE_ENDPOINT_H
#define CCGATE_ENDPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "ccgate/attester.h"
#include "ccgate/reasons.h"
#include "ccgate/result.h"

#include <jansson.h>

/* ---------------------------------------------------------------- routes and callers */

typedef enum {
    CCG_EP_ROUTE_NONE = 0,
    CCG_EP_ROUTE_CHAT,        /* POST /v1/chat/completions   forwarded */
    CCG_EP_ROUTE_COMPLETIONS, /* POST /v1/completions        forwarded */
    CCG_EP_ROUTE_MODELS,      /* GET  /v1/models             forwarded */
    CCG_EP_ROUTE_HEALTHZ,     /* GET  /healthz               no credential */
    CCG_EP_ROUTE_READYZ,      /* GET  /readyz                no credential (probes the runner) */
    CCG_EP_ROUTE_EVIDENCE,    /* GET  /.well-known/ccgate/evidence   no credential, rate-limited per address */
    CCG_EP_ROUTE_OHTTP,       /* POST /.well-known/ccgate/ohttp      gateway mode; callers checked inside */
    CCG_EP_ROUTE_COUNT
} ccg_endpoint_route;

/* What a route requires of its caller. */
typedef enum {
    CCG_EP_AUTH_NONE = 0, /* only for healthz, readyz, evidence and the OHTTP envelope */
    CCG_EP_AUTH_MTLS,     /* a client certificate that verifies against the configured CA */
    CCG_EP_AUTH_API_KEY,  /* Authorization: Bearer <key> whose SHA-256 is configured */
    CCG_EP_AUTH_EITHER,   /* a valid certificate, else a valid key */
    CCG_EP_AUTH_BOTH,     /* a valid certificate and a valid key */
} ccg_endpoint_auth;

#define CCG_EP_KEY_HASH_LEN 32
#define CCG_EP_CALLER_NAME_MAX 64
#define CCG_EP_API_KEY_MAX 512

typedef struct {
    char name[CCG_EP_CALLER_NAME_MAX + 1]; /* the caller's name in logs and rate limits */
    uint8_t hash[CCG_EP_KEY_HASH_LEN];     /* SHA-256 of the key's bytes */
} ccg_endpoint_api_key;

/* ---------------------------------------------------------------- configuration */

typedef struct {
    char *listen;         /* "HOST:PORT" (IPv4 or [IPv6]); PORT 0 = ephemeral */
    char *port_file;      /* where the bound port is written (tests), or NULL */
    char *cert_file;      /* PEM server certificate (chain) and key; NULL = a fresh self-signed P-256 per start */
    char *key_file;
    char *client_ca_file; /* PEM CA(s) that client certificates must chain to; NULL = no mTLS */
    char *runner_socket;  /* the runner's Unix socket path */
    ccg_endpoint_auth auth[CCG_EP_ROUTE_COUNT]; /* for CHAT, COMPLETIONS, MODELS (the rest are NONE) */
    ccg_endpoint_api_key *keys;
    size_t n_keys;
    int gateway;                 /* serve POST /.well-known/ccgate/ohttp */
    unsigned max_connections;    /* bridged TLS connections at once */
    unsigned max_per_address;    /* of them from one peer address */
    size_t body_max;             /* request body bytes (413 beyond) */
    unsigned handshake_timeout_ms;
    unsigned request_timeout_ms; /* from a request's first byte to its last (slow-drip clients are cut) */
    unsigned idle_timeout_ms;    /* a kept-alive connection without a request */
    unsigned runner_timeout_s;   /* one forwarded request, streaming included */
    unsigned runner_wait_s;      /* the agent waits this long for the runner's socket */
    double rate_per_s, rate_burst;                   /* per caller */
    double evidence_rate_per_s, evidence_rate_burst; /* per peer address, the evidence route */
} ccg_endpoint_config;

/* Parses the "endpoint" section strictly; errors are `bad` (the agent passes agent.config_invalid),
 * naming the member. Defaults are in docs/endpoint.md. */
CCG_MUST_CHECK ccg_result ccg_endpoint_config_parse(const json_t *obj, ccg_reason bad, ccg_endpoint_config *out);
void ccg_endpoint_config_free(ccg_endpoint_config *cfg);
/* The defaults (no allocation): every forwarded route API key, no keys, limits as documented. */
void ccg_endpoint_config_defaults(ccg_endpoint_config *cfg);

/* "sha256:<hex>" of an API key (the form the configuration stores); out has 72 bytes. Keys shorter than
 * 16 bytes or with bytes outside the bearer token68 alphabet are input.malformed. */
#define CCG_EP_KEY_HASH_TEXT_LEN 72
CCG_MUST_CHECK ccg_result ccg_endpoint_hash_api_key(const char *key, size_t len, char out[CCG_EP_KEY_HASH_TEXT_LEN]);

/* ---------------------------------------------------------------- the request decision (no sockets) */

/* What the front end knows of one request when its headers are complete. */
typedef struct {
    const char *method;          /* as sent */
    const char *path;            /* the raw request-target path (before '?'), never decoded */
    const char *authorization;   /* the Authorization header or NULL */
    int has_content_length;
    uint64_t content_length;
    int cert_present;            /* the client sent a certificate */
    int cert_error;              /* OpenSSL's first X509_V_ERR_* for it (0 = verified) */
    const char *cert_name;       /* its subject CN (or NULL) */
    int inner;                   /* an OHTTP-encapsulated request: no client certificate can exist */
} ccg_endpoint_request;

typedef struct {
    ccg_endpoint_route route;
    ccg_reason reason;   /* CCG_R_OK when allowed */
    unsigned status;     /* the HTTP status of the refusal (0 when allowed) */
    const char *detail;  /* a fixed word for the log ("unknown", "method", "encoded", "traversal", ...) */
    char caller[CCG_EP_CALLER_NAME_MAX + 8]; /* "key:NAME", "cert:CN", or "" */
} ccg_endpoint_decision;

/* Route, method, path shape, credential and declared body length. Never fails; never echoes. */
void ccg_endpoint_decide(const ccg_endpoint_config *cfg, const ccg_endpoint_request *rq, ccg_endpoint_decision *out);
const char *ccg_endpoint_route_name(ccg_endpoint_route r);

/* ---------------------------------------------------------------- rate limits */

typedef struct ccg_endpoint_limiter ccg_endpoint_limiter;
CCG_MUST_CHECK ccg_result ccg_endpoint_limiter_new(double per_s, double burst, ccg_endpoint_limiter **out);
/* 1 when one token was taken from who's bucket at monotonic time now_ms. */
int ccg_endpoint_limiter_take(ccg_endpoint_limiter *l, const char *who, uint64_t now_ms);
void ccg_endpoint_limiter_free(ccg_endpoint_limiter *l);

/* ---------------------------------------------------------------- the server */

typedef struct {
    uint64_t connections, handshake_failed, too_many_connections;
    uint64_t requests, allowed, path_blocked, caller_denied, rate_limited, body_too_large, request_timeout;
    uint64_t runner_unavailable, runner_errors, evidence_served, evidence_failed, gateway_requests;
    uint64_t request_invalid; /* malformed parameters or envelopes */
} ccg_endpoint_counters;

/* Fresh evidence whose REPORT_DATA is exactly report_data (the caller frees *out with ccg_evidence_free).
 * In ccgate-endpoint this asks ccgate-agent over the control channel (docs/agent.md, "Privilege
 * separation"); in-process it is ccg_endpoint_attester_evidence with an attester as ctx. */
typedef ccg_result (*ccg_endpoint_evidence_fn)(void *ctx, const uint8_t report_data[CCG_ATTESTER_REPORT_DATA_LEN],
                                               ccg_evidence *out);
/* The in-process evidence callback: ctx is a ccg_attester *. */
CCG_MUST_CHECK ccg_result ccg_endpoint_attester_evidence(void *ctx,
                                                         const uint8_t report_data[CCG_ATTESTER_REPORT_DATA_LEN],
                                                         ccg_evidence *out);

typedef struct {
    /* NULL = the evidence route answers 503 endpoint.evidence_unavailable; called one request at a time */
    ccg_endpoint_evidence_fn evidence;
    void *evidence_ctx;
    int log_fd;               /* where JSON log lines go; -1 = stderr */
    /* TDX: the ACPI CCEL table and the CCEL log the evidence document carries (borrowed; NULL = none) */
    const uint8_t *ccel, *ccel_data;
    size_t ccel_len, ccel_data_len;
} ccg_endpoint_deps;

typedef struct ccg_endpoint ccg_endpoint;

CCG_MUST_CHECK ccg_result ccg_endpoint_start(const ccg_endpoint_config *cfg, const ccg_endpoint_deps *deps,
                                             ccg_endpoint **out);
uint16_t ccg_endpoint_port(const ccg_endpoint *e);
void ccg_endpoint_get_counters(ccg_endpoint *e, ccg_endpoint_counters *out);
/* The counters as a JSON object (a new reference), for the agent's loopback status listener. */
json_t *ccg_endpoint_counters_json(const ccg_endpoint_counters *c);
/* Closes the listener and every connection, then frees. NULL is fine. */
void ccg_endpoint_stop(ccg_endpoint *e);

#endif
