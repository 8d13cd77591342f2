/* The endpoint's life: TLS context, rate limiters, libmicrohttpd, the listener and its acceptor; and the
 * orderly stop (no new connections, every bridged connection ended, then MHD). */
#include "ep_internal.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ccgate/error.h"

ccg_result ccg_endpoint_start(const ccg_endpoint_config *cfg, const ccg_endpoint_deps *deps, ccg_endpoint **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_endpoint *ep = calloc(1, sizeof(*ep));
    CCG_ENSURE_ALLOC(ep);
    /* OpenSSL writes to the client's socket with write(): a client gone mid-answer must not kill the
     * process holding the attester (ccgate-agent ignores SIGPIPE too). */
    signal(SIGPIPE, SIG_IGN);
    ep->cfg = cfg;
    if (deps != NULL) {
        ep->deps = *deps;
    } else {
        ep->deps.log_fd = -1;
    }
    ep->listen_fd = ep->stop_pipe[0] = ep->stop_pipe[1] = -1;
    pthread_mutex_init(&ep->lock, NULL);
    pthread_mutex_init(&ep->attester_lock, NULL);
    pthread_mutex_init(&ep->log_lock, NULL);
    pthread_cond_init(&ep->drained, NULL);
    CCG_ENSURE(curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK, CCG_R_INTERNAL_ERROR);
    ep->curl_init = 1;
    CCG_TRY(ep_tls_ctx_new(cfg, &ep->ctx));
    CCG_TRY(ccg_endpoint_limiter_new(cfg->rate_per_s, cfg->rate_burst, &ep->callers));
    CCG_TRY(ccg_endpoint_limiter_new(cfg->evidence_rate_per_s, cfg->evidence_rate_burst, &ep->addresses));
    CCG_TRY(ep_gateway_init(ep));
    CCG_TRY(ep_mhd_start(ep));
    CCG_TRY(ep_bridge_listen(ep));
    CCG_TRY(ep_bridge_start(ep));
    {
        ep_logrec rec = {.level = "info", .event = "endpoint.listening", .detail = cfg->client_ca_file != NULL
                                                                                 ? "tls1.3 mtls-available"
                                                                                 : "tls1.3"};
        ep_log(ep, &rec);
    }
    *out = ep;
    ep = NULL;
    result = CCG_SUCCESS;
cleanup:
    ccg_endpoint_stop(ep);
    return result;
}

uint16_t ccg_endpoint_port(const ccg_endpoint *e) { return e != NULL ? e->port : 0; }

void ccg_endpoint_get_counters(ccg_endpoint *e, ccg_endpoint_counters *out)
{
    pthread_mutex_lock(&e->lock);
    *out = e->counters;
    pthread_mutex_unlock(&e->lock);
}

void ccg_endpoint_stop(ccg_endpoint *ep)
{
    if (ep == NULL) {
        return;
    }
    ep_bridge_stop(ep);
    if (ep->mhd != NULL) {
        MHD_stop_daemon(ep->mhd);
    }
    if (ep->listen_fd >= 0) {
        close(ep->listen_fd);
    }
    for (int i = 0; i < 2; i++) {
        if (ep->stop_pipe[i] >= 0) {
            close(ep->stop_pipe[i]);
        }
    }
    ep_gateway_free(ep);
    SSL_CTX_free(ep->ctx);
    ccg_endpoint_limiter_free(ep->callers);
    ccg_endpoint_limiter_free(ep->addresses);
    pthread_cond_destroy(&ep->drained);
    pthread_mutex_destroy(&ep->lock);
    pthread_mutex_destroy(&ep->attester_lock);
    pthread_mutex_destroy(&ep->log_lock);
    if (ep->curl_init) {
        curl_global_cleanup();
    }
    free(ep);
}
