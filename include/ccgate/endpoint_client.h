/* The inference endpoint's client (docs/client.md): fetch the endpoint's evidence with a fresh nonce,
 * verify it with the same verifiers, policies and trust roots as `ccgate verify` (SNP or TDX, explicit
 * time), check the binding, and only then send requests:
 *  - direct mode (binding tls-exporter): on the very TLS connection the evidence came over; before each
 *    request libcurl's PREREQFUNCTION recomputes the connection's RFC 9266 exporter and aborts unless it
 *    is the attested one, so no request byte leaves on an unverified connection. The server certificate
 *    is not PKI-checked: the attestation is the trust.
 *  - gateway mode (binding hpke): every request is an OHTTP-encapsulated bhttp request to the attested
 *    key config, POSTed to /.well-known/ccgate/ohttp; a TLS-terminating gateway sees only ciphertext. */
#ifndef CCGATE_ENDPOINT_CLIENT_H
#define CCGATE_ENDPOINT_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "ccgate/decision.h"
#include "ccgate/endpoint_binding.h"
#include "ccgate/result.h"
#include "ccgate/snp_verify.h"
#include "ccgate/tdx_verify.h"
#include "ccgate/util.h"

struct ccg_tdx_policy;
struct ccg_refval_set;
struct ccg_refval_issuers;

/* What the client trusts: the `ccgate verify` inputs for each TEE. All borrowed. */
typedef struct {
    ccg_snp_verifier *snp;                    /* NULL: SNP evidence is refused (client.evidence_denied) */
    const ccg_snp_policy *snp_policy;         /* NULL: the default SNP policy */
    const ccg_snp_verify_opts *snp_opts;      /* reference values, TCB baselines; may be NULL */
    const ccg_tdx_verifier *tdx;              /* NULL: TDX evidence is refused */
    const struct ccg_tdx_policy *tdx_policy;  /* required with tdx */
    const ccg_tdx_collateral *tdx_col;        /* Intel collateral; NULL: denied collateral.missing */
    const struct ccg_refval_set *refvals;     /* for a TDX policy's reference_values */
    const struct ccg_refval_issuers *issuers;
    ccg_time now; /* the verification time; 0: the current time at each verification */
} ccg_client_trust;

/* Verifies decoded evidence and its binding. *d receives the verifier's decision (initialised here; free
 * it with ccg_decision_free). Failures: client.evidence_denied (d's reasons say why, e.g.
 * snp.debug_enabled), client.binding_mismatch / client.exporter_mismatch (endpoint_binding.h). */
CCG_MUST_CHECK ccg_result ccg_client_verify_evidence(const ccg_client_trust *t, const ccg_endpoint_evidence *doc,
                                                     ccg_endpoint_binding want, const uint8_t nonce[CCG_ENDPOINT_NONCE_LEN],
                                                     const uint8_t *exporter, ccg_decision *d);

typedef struct {
    const char *endpoint;       /* https://host:port (no path) */
    const ccg_client_trust *trust;
    int gateway;                /* 0 direct (tls-exporter), 1 gateway (hpke + OHTTP) */
    const char *api_key;        /* sent as Authorization: Bearer, only after verification; may be NULL */
    const char *client_cert;    /* PEM files for mTLS (direct mode); may be NULL */
    const char *client_key;
    const char *cacert;         /* gateway mode: the CA bundle for the gateway's TLS; NULL: system CAs */
    int insecure_gateway_tls;   /* gateway mode: do not check the gateway's certificate (OHTTP still protects) */
    long timeout_ms;            /* per request; 0: 120000 */
} ccg_client_config;

typedef struct ccg_client ccg_client;

/* Output of one forwarded request. The body is streamed to on_body as it arrives (SSE passes through),
 * after on_head has been called once with the status and content type. Either may be NULL. */
typedef struct {
    void (*on_head)(void *arg, int status, const char *content_type);
    int (*on_body)(void *arg, const uint8_t *data, size_t len); /* non-zero: stop */
    void *arg;
} ccg_client_sink;

CCG_MUST_CHECK ccg_result ccg_client_new(const ccg_client_config *cfg, ccg_client **out);
void ccg_client_free(ccg_client *c);

/* Fetches and verifies evidence on a new connection (direct) or for the gateway key (gateway). Called by
 * ccg_client_request when needed; exposed so a caller can attest up front. decision (may be NULL) must be
 * initialised (ccg_decision_init) or zeroed; it is reset and receives the verifier's decision. */
CCG_MUST_CHECK ccg_result ccg_client_attest(ccg_client *c, ccg_decision *decision);

/* Sends one request (method, path such as /v1/chat/completions, optional JSON body). Attests first when
 * the client has no attested connection (or key). If the attested connection is gone (a new connection
 * would be needed), the request is aborted before any byte is sent (client.connection_not_attested) and
 * the client is marked unattested: the caller may call again, which attests anew. */
CCG_MUST_CHECK ccg_result ccg_client_request(ccg_client *c, const char *method, const char *path, const char *content_type,
                                             const uint8_t *body, size_t body_len, const ccg_client_sink *sink,
                                             ccg_decision *decision);

/* Counters for tests and logs. */
typedef struct {
    unsigned attestations;    /* evidence fetched and verified */
    unsigned aborted_unattested; /* requests stopped by the exporter check before sending */
    unsigned requests;        /* requests sent */
} ccg_client_stats;
void ccg_client_stats_get(const ccg_client *c, ccg_client_stats *out);

/* ---------------------------------------------------------------- the local proxy */

typedef struct {
    const char *listen_host;    /* "127.0.0.1" or "::1": loopback only */
    unsigned port;              /* 0: any free port */
    const char *port_file;      /* written with the bound port once listening; may be NULL */
    const ccg_client_config *client;
    unsigned connections;       /* upstream attested connections (each its own attestation); 0: 4 */
    size_t max_body;            /* local request body bound; 0: 8 MiB */
} ccg_client_proxy_config;

/* Serves the OpenAI-compatible routes on loopback and forwards them through attested clients until *stop
 * becomes non-zero. A verification failure is answered to the local caller as JSON
 * {"error":{"code":"client.…","message":…,"reasons":[…]}} with status 502, never forwarded. */
CCG_MUST_CHECK ccg_result ccg_client_proxy_run(const ccg_client_proxy_config *cfg, volatile int *stop);

#endif
