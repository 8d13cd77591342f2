/* Internal to src/serve/endpoint: the endpoint, its bridged connections and their shared helpers. */
#ifndef CCGATE_EP_INTERNAL_H
#define CCGATE_EP_INTERNAL_H

#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <sys/socket.h>

#include "ccgate/endpoint.h"

#define EP_EXPORTER_LEN 32
#define EP_CID_LEN 32 /* hex characters of a correlation ID */

/* Where a bridged connection is in its current request (the pump enforces the request deadline). */
typedef enum {
    EP_IDLE = 0,    /* between requests: the idle timeout applies */
    EP_RECEIVING,   /* bytes of a request arrived: the request deadline runs */
    EP_PROCESSING,  /* the handler has the whole request (or answered early): the runner timeout applies */
    EP_REAPED,      /* cut by the deadline */
} ep_phase;

typedef struct ep_conn {
    struct ccg_endpoint *ep;
    int tcp_fd;
    int pair_fd; /* the pump's end of the socketpair */
    int mhd_fd;  /* MHD's end: the key by which MHD's connection finds this one */
    int claimed; /* MHD's connection took its reference */
    SSL *ssl;
    char peer[64];
    struct sockaddr_storage peer_addr;
    socklen_t peer_addr_len;
    uint8_t exporter[EP_EXPORTER_LEN]; /* RFC 9266 tls-exporter of this session */
    int cert_present, cert_error;
    char cert_name[CCG_EP_CALLER_NAME_MAX + 1];
    pthread_mutex_t lock; /* phase and times */
    ep_phase phase;
    uint64_t phase_ms;
    int refs; /* the pump thread, MHD's connection, a transfer to the runner; under ep->lock */
    void *runner_link; /* the kept link to the runner between requests (forward.c); under lock */
    struct ep_conn *next;
} ep_conn;

struct ccg_endpoint {
    const ccg_endpoint_config *cfg;
    ccg_endpoint_deps deps;
    SSL_CTX *ctx;
    int listen_fd;
    uint16_t port;
    int stop_pipe[2];
    pthread_t acceptor;
    int acceptor_started;
    struct MHD_Daemon *mhd;
    pthread_mutex_t lock; /* conns, n_conns, counters, refs */
    pthread_cond_t drained;
    ep_conn *conns;
    unsigned n_conns;
    ccg_endpoint_counters counters;
    ccg_endpoint_limiter *callers, *addresses;
    pthread_mutex_t attester_lock;
    pthread_mutex_t log_lock;
    void *gateway; /* the OHTTP key (gateway.c), or NULL */
    volatile int stopping;
    int curl_init;
};

/* Monotonic milliseconds. */
uint64_t ep_now_ms(void);
/* A fresh random correlation ID: EP_CID_LEN hex characters. */
void ep_cid_new(char out[EP_CID_LEN + 1]);
/* Adds one to a counter (a member of ep->counters) under the lock. */
void ep_count(struct ccg_endpoint *ep, uint64_t *counter);

/* One JSON log line: never a request or response byte, always the correlation ID when there is one. */
typedef struct {
    const char *level, *event, *cid, *route, *method, *caller, *peer, *detail;
    ccg_reason reason;
    unsigned status;
    long ms;
} ep_logrec;
void ep_log(struct ccg_endpoint *ep, const ep_logrec *r);

/* tls.c */
CCG_MUST_CHECK ccg_result ep_tls_ctx_new(const ccg_endpoint_config *cfg, SSL_CTX **out);
/* The first verification error of the peer's certificate recorded during the handshake (0 = none). */
int ep_tls_cert_error(SSL *ssl);

/* bridge.c */
CCG_MUST_CHECK ccg_result ep_bridge_listen(struct ccg_endpoint *ep);
CCG_MUST_CHECK ccg_result ep_bridge_start(struct ccg_endpoint *ep);
void ep_bridge_stop(struct ccg_endpoint *ep);
void ep_conn_release(ep_conn *c);
void ep_conn_retain(ep_conn *c);
void ep_conn_set_phase(ep_conn *c, ep_phase ph);
void ep_conn_request_started(ep_conn *c);

/* server.c */
CCG_MUST_CHECK ccg_result ep_mhd_start(struct ccg_endpoint *ep);
/* A JSON error response {"error":{"code","message","correlation_id"}} with the correlation header. */
struct MHD_Response *ep_error_response(ccg_reason reason, const char *cid);
/* The same error as the bytes of a whole HTTP/1.1 response (the pump's 408 after a cut). */
char *ep_error_http(unsigned status, ccg_reason reason, const char *cid, size_t *len);

/* forward.c: one request to the runner. Answers through MHD (streaming for text/event-stream). */
typedef struct {
    const char *method, *path, *content_type, *cid;
    const uint8_t *body;
    size_t body_len;
    ep_conn *conn; /* the client connection, whose runner link is reused; NULL: a link for this request only */
} ep_fwd_request;
/* Frees a connection's kept runner link (NULL is fine). */
void ep_runner_link_free(void *link);
enum MHD_Result ep_forward(struct ccg_endpoint *ep, struct MHD_Connection *mc, const ep_fwd_request *rq,
                           ccg_reason *outcome, unsigned *status);
/* A whole (buffered) exchange, for the gateway and /readyz: status, body (malloc'd), content type. */
CCG_MUST_CHECK ccg_result ep_forward_buffered(struct ccg_endpoint *ep, const ep_fwd_request *rq, long timeout_ms,
                                              unsigned *status, uint8_t **body, size_t *body_len,
                                              char *ctype, size_t ctype_len);

/* headers.c: how many times the request carries a header (MHD_HEADER_KIND) or query argument
 * (MHD_GET_ARGUMENT_KIND) of this name, case-insensitively. */
unsigned ep_value_count(struct MHD_Connection *mc, enum MHD_ValueKind kind, const char *name);

/* server.c: counts a refusal under its reason's counter. */
void ep_count_refusal(struct ccg_endpoint *ep, ccg_reason r);

/* evidence.c and gateway.c: the two routes served in the endpoint itself. They queue their answer and
 * report the outcome (CCG_R_OK or the refusal's reason) and the status for the log. */
enum MHD_Result ep_evidence_route(struct ccg_endpoint *ep, struct MHD_Connection *mc, ep_conn *conn,
                                  const char *cid, ccg_reason *outcome, unsigned *status);
enum MHD_Result ep_gateway_route(struct ccg_endpoint *ep, struct MHD_Connection *mc, const uint8_t *body,
                                 size_t len, const char *cid, ccg_reason *outcome, unsigned *status,
                                 char *caller, size_t caller_len);

/* gateway.c: the endpoint's OHTTP key (fresh per start) and its encoded key configuration. */
CCG_MUST_CHECK ccg_result ep_gateway_init(struct ccg_endpoint *ep);
void ep_gateway_free(struct ccg_endpoint *ep);
void ep_gateway_key_config(struct ccg_endpoint *ep, const uint8_t **kc, size_t *kc_len);

#endif
