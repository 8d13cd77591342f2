/* POST /.well-known/ccgate/ohttp: gateway mode. The body is an RFC 9458 encapsulated request
 * (message/ohttp-req) to the endpoint's HPKE key, whose key configuration the evidence binds
 * (binding=hpke); inside is an RFC 9292 known-length binary HTTP request. The inner request goes through
 * the same decision as a direct one (routes, caller by the inner Authorization: no client certificate
 * can cross a terminating gateway, body limit, per-caller rate limit) and is forwarded to the runner.
 * The inner answer, an SSE stream included (whole, in one message), is encapsulated back
 * (message/ohttp-res, outer status 200): a gateway sees only ciphertext both ways.
 *
 * An envelope that does not decapsulate is 400 with the OHTTP code (client.ohttp_malformed,
 * client.ohttp_decrypt_failed, client.bhttp_malformed): nothing about it can be answered encrypted. */
#include "ep_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"
#include "ccgate/hpke.h"
#include "ccgate/ohttp.h"

#include <openssl/crypto.h>

typedef struct {
    ccg_hpke_keypair kp;
    ccg_ohttp_key_config kc;
    uint8_t *encoded;
    size_t encoded_len;
} ep_gateway;

ccg_result ep_gateway_init(struct ccg_endpoint *ep)
{
    ccg_result result = CCG_FAILURE;
    ep_gateway *g = calloc(1, sizeof(*g));
    CCG_ENSURE_ALLOC(g);
    CCG_TRY(ccg_hpke_generate_keypair(&g->kp));
    g->kc.key_id = 1;
    g->kc.kem_id = CCG_HPKE_KEM_X25519_SHA256;
    memcpy(g->kc.pk, g->kp.pk, sizeof(g->kc.pk));
    g->kc.n_suites = 2;
    g->kc.suites[0] = (ccg_ohttp_sym){CCG_HPKE_KDF_HKDF_SHA256, CCG_HPKE_AEAD_AES128GCM};
    g->kc.suites[1] = (ccg_ohttp_sym){CCG_HPKE_KDF_HKDF_SHA256, CCG_HPKE_AEAD_CHACHA20POLY1305};
    CCG_TRY(ccg_ohttp_key_config_encode(&g->kc, &g->encoded, &g->encoded_len));
    ep->gateway = g;
    g = NULL;
    result = CCG_SUCCESS;
cleanup:
    if (g != NULL) {
        ccg_hpke_keypair_clear(&g->kp);
        free(g->encoded);
        free(g);
    }
    return result;
}

void ep_gateway_free(struct ccg_endpoint *ep)
{
    ep_gateway *g = ep->gateway;
    if (g == NULL) {
        return;
    }
    ccg_hpke_keypair_clear(&g->kp);
    free(g->encoded);
    free(g);
    ep->gateway = NULL;
}

void ep_gateway_key_config(struct ccg_endpoint *ep, const uint8_t **kc, size_t *kc_len)
{
    ep_gateway *g = ep->gateway;
    *kc = g->encoded;
    *kc_len = g->encoded_len;
}

/* The inner error body, as a direct request would get it. */
static char *error_text(ccg_reason r, const char *cid)
{
    json_t *o = json_pack("{s{ssssss}}", "error", "code", ccg_reason_code(r), "message", ccg_reason_message(r),
                          "correlation_id", cid);
    char *t = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return t;
}

/* The inner exchange: decision, limits, the runner. Fills res (status, headers, content). */
static ccg_result inner(struct ccg_endpoint *ep, const ccg_bhttp_request *in, const char *cid, ccg_bhttp_response *res,
                        ccg_endpoint_decision *dec)
{
    ccg_result result = CCG_FAILURE;
    ccg_endpoint_request rq;
    const ccg_bhttp_field *auth = ccg_bhttp_fields_get(&in->headers, "authorization");
    const ccg_bhttp_field *ct = ccg_bhttp_fields_get(&in->headers, "content-type");
    char *auth_s = NULL, ctype[128] = "application/json";
    ccg_reason r = CCG_R_OK;
    memset(&rq, 0, sizeof(rq));
    if (auth != NULL) {
        auth_s = strndup(auth->value, auth->value_len);
        CCG_ENSURE_ALLOC(auth_s);
    }
    rq.method = in->method;
    rq.path = in->path;
    rq.authorization = auth_s;
    rq.has_content_length = 1;
    rq.content_length = in->content_len;
    rq.inner = 1;
    ccg_endpoint_decide(ep->cfg, &rq, dec);
    r = dec->reason;
    res->status = (int)dec->status;
    if (r == CCG_R_OK && !ccg_endpoint_limiter_take(ep->callers, dec->caller, ep_now_ms())) {
        r = CCG_R_ENDPOINT_RATE_LIMITED;
        res->status = 429;
    }
    if (r == CCG_R_OK) {
        ep_fwd_request f = {.method = in->method,
                            .path = in->path,
                            .cid = cid,
                            .body = in->content,
                            .body_len = in->content_len,
                            .content_type = ct != NULL && ct->value_len >= 16 &&
                                                    strncmp(ct->value, "application/json", 16) == 0
                                                ? "application/json"
                                                : NULL};
        unsigned st = 0;
        if (ccg_failed(ep_forward_buffered(ep, &f, (long)ep->cfg->runner_timeout_s * 1000, &st, &res->content,
                                           &res->content_len, ctype, sizeof(ctype)))) {
            r = ccg_error_reason();
            res->status = r == CCG_R_ENDPOINT_RUNNER_TIMEOUT ? 504 : r == CCG_R_ENDPOINT_RUNNER_ERROR ? 502 : 503;
            if (r != CCG_R_ENDPOINT_RUNNER_TIMEOUT && r != CCG_R_ENDPOINT_RUNNER_ERROR) {
                r = CCG_R_ENDPOINT_RUNNER_UNAVAILABLE;
            }
            ccg_error_clear();
        } else {
            res->status = (int)st;
        }
    }
    if (r != CCG_R_OK) {
        char *t = error_text(r, cid);
        CCG_ENSURE_ALLOC(t);
        res->content = (uint8_t *)t;
        res->content_len = strlen(t);
        snprintf(ctype, sizeof(ctype), "application/json");
        ep_count_refusal(ep, r);
    }
    dec->reason = r;
    dec->status = (unsigned)res->status;
    CCG_TRY(ccg_bhttp_fields_add(&res->headers, "content-type", ctype, strlen(ctype)));
    CCG_TRY(ccg_bhttp_fields_add(&res->headers, "ccgate-correlation-id", cid, strlen(cid)));
    result = CCG_SUCCESS;
cleanup:
    free(auth_s);
    return result;
}

static enum MHD_Result answer(struct MHD_Connection *mc, unsigned status, uint8_t *body, size_t len, const char *ctype,
                              const char *cid)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    enum MHD_Result ret;
    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "ccgate-correlation-id", cid);
    ret = MHD_queue_response(mc, status, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result ep_gateway_route(struct ccg_endpoint *ep, struct MHD_Connection *mc, const uint8_t *body, size_t len,
                                 const char *cid, ccg_reason *outcome, unsigned *status, char *caller,
                                 size_t caller_len)
{
    ep_gateway *g = ep->gateway;
    const char *ct = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    uint8_t *plain = NULL, *res_bytes = NULL, *out = NULL;
    size_t plain_len = 0, res_len = 0, out_len = 0;
    ccg_ohttp_ctx *ctx = NULL;
    ccg_bhttp_request in;
    ccg_bhttp_response res;
    ccg_endpoint_decision dec;
    enum MHD_Result ret;
    memset(&in, 0, sizeof(in));
    memset(&res, 0, sizeof(res));
    memset(&dec, 0, sizeof(dec));
    ep_count(ep, &ep->counters.gateway_requests);
    if (ct == NULL || strcmp(ct, "message/ohttp-req") != 0) {
        *outcome = CCG_R_ENDPOINT_REQUEST_INVALID;
    } else if (ccg_failed(ccg_ohttp_server_decap_request(&g->kc, &g->kp, body, len, &plain, &plain_len, &ctx)) ||
               ccg_failed(ccg_bhttp_request_decode(plain, plain_len, &in))) {
        *outcome = ccg_error_reason();
    } else if (ccg_failed(inner(ep, &in, cid, &res, &dec)) ||
               ccg_failed(ccg_bhttp_response_encode(&res, &res_bytes, &res_len)) ||
               ccg_failed(ccg_ohttp_server_encap_response(ctx, res_bytes, res_len, NULL, &out, &out_len))) {
        *outcome = CCG_R_INTERNAL_ERROR;
    }
    ccg_error_clear();
    if (plain != NULL) {
        OPENSSL_cleanse(plain, plain_len);
    }
    free(plain);
    if (res_bytes != NULL) {
        OPENSSL_cleanse(res_bytes, res_len);
    }
    free(res_bytes);
    ccg_bhttp_request_free(&in);
    ccg_bhttp_response_free(&res);
    ccg_ohttp_ctx_free(ctx);
    snprintf(caller, caller_len, "%s", dec.caller);
    if (*outcome != CCG_R_OK) {
        free(out);
        *status = *outcome == CCG_R_INTERNAL_ERROR ? 500 : 400;
        {
            struct MHD_Response *r = ep_error_response(*outcome, cid);
            if (r == NULL) {
                return MHD_NO;
            }
            ret = MHD_queue_response(mc, *status, r);
            MHD_destroy_response(r);
            return ret;
        }
    }
    /* The inner outcome is only in the log (the gateway sees 200 for every encapsulated answer). */
    {
        ep_logrec rec = {.level = dec.reason == CCG_R_OK ? "info" : "warning", .event = "endpoint.gateway",
                         .cid = cid, .route = dec.route != CCG_EP_ROUTE_NONE ? ccg_endpoint_route_name(dec.route) : NULL,
                         .caller = dec.caller, .reason = dec.reason, .status = dec.status,
                         .detail = dec.reason == CCG_R_OK ? NULL : dec.detail};
        ep_log(ep, &rec);
    }
    *status = 200;
    return answer(mc, 200, out, out_len, "message/ohttp-res", cid);
}
