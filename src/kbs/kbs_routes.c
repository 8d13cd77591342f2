/* Routing: method and path to the protocol handlers, health, readiness and metrics; every request is
 * timed into the metrics. */
#include "kbs_internal.h"
#include "kbs_admin.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ccgate/error.h"

static void handle_health(ccg_kbs *k, const ccg_kbs_http_request *req, ccg_kbs_http_response *resp, int ready)
{
    json_t *body;
    if (!ready) {
        kbs_json_response(resp, 200, json_pack("{s:s}", "status", "ok"));
        return;
    }
    ccg_keystore *ks = NULL;
    if (ccg_ok(kbs_databases_ready(k)) && ccg_ok(kbs_keystore(k, &ks)) && ccg_ok(ccg_keystore_health(ks))) {
        kbs_json_response(resp, 200, json_pack("{s:s}", "status", "ready"));
        return;
    }
    body = json_pack("{s:s,s:s,s:s}", "status", "not_ready", "reason", ccg_reason_code(ccg_error_reason()), "detail",
                     ccg_error_last()->message);
    kbs_json_response(resp, 503, body);
    (void)req;
}

/* A path outside the grammar (kbs_path.c) is refused before routing, with the path as sent. A resource
 * request is audited like every other resource denial, its key_id being the escaped ID as sent. */
static void refuse_path(ccg_kbs *k, const ccg_kbs_http_request *req, ccg_kbs_http_response *resp, ccg_reason why)
{
    static const char resource_prefix[] = "/kbs/v0/resource/";
    char sent[CCG_AUDIT_ID_MAX + 1];
    kbs_context ctx = {.request_id = req->request_id};
    if (strncmp(req->path, resource_prefix, strlen(resource_prefix)) == 0) {
        size_t skip = strlen(resource_prefix);
        kbs_path_escape(req->path + skip, req->path_len > skip ? req->path_len - skip : 0, sent, sizeof(sent));
        ctx.key_id = sent[0] != 0 ? sent : NULL;
        kbs_deny(k, resp, "resource.release", &ctx, why, 400, kbs_now(k));
        return;
    }
    ccg_reasons list;
    ccg_reasons_init(&list);
    (void)ccg_reasons_add(&list, why, NULL);
    kbs_error_response(resp, kbs_status_for(why), &list, &ctx);
    ccg_reasons_free(&list);
}

void ccg_kbs_handle(ccg_kbs *k, const ccg_kbs_http_request *req, ccg_kbs_http_response *resp)
{
    struct timespec t0, t1;
    char *decoded = NULL;
    int admin = strncmp(req->path, KBS_ADMIN_PREFIX, strlen(KBS_ADMIN_PREFIX)) == 0;
    ccg_reason path_why;
    memset(resp, 0, sizeof(*resp));
    ccg_error_clear();
    clock_gettime(CLOCK_MONOTONIC, &t0);
    path_why = kbs_path_check(req->path, req->path_len, admin, &decoded);
    if (path_why != CCG_R_OK) {
        refuse_path(k, req, resp, path_why);
    } else if (admin) {
        /* The admin API names IDs of any printable character: it sees the path decoded once. */
        ccg_kbs_http_request plain = *req;
        plain.path = decoded;
        plain.path_len = 0;
        kbs_admin_handle(k, &plain, resp);
    } else if (strcmp(req->path, "/metrics") == 0 && strcmp(req->method, "GET") == 0) {
        size_t len = 0;
        resp->body = kbs_metrics_render(&k->metrics, &len);
        resp->body_len = len;
        resp->status = resp->body != NULL ? 200 : 500;
        resp->content_type = "text/plain; version=0.0.4";
    } else if (strcmp(req->path, "/healthz") == 0 && strcmp(req->method, "GET") == 0) {
        handle_health(k, req, resp, 0);
    } else if (strcmp(req->path, "/readyz") == 0 && strcmp(req->method, "GET") == 0) {
        handle_health(k, req, resp, 1);
    } else if (strcmp(req->path, "/kbs/v0/auth") == 0 && strcmp(req->method, "POST") == 0) {
        kbs_handle_auth(k, req, resp);
    } else if (strcmp(req->path, "/kbs/v0/attest") == 0 && strcmp(req->method, "POST") == 0) {
        kbs_handle_attest(k, req, resp);
    } else if (strcmp(req->path, "/kbs/v0/explain") == 0 && strcmp(req->method, "POST") == 0 && k->explain) {
        kbs_handle_explain(k, req, resp);
    } else if (strncmp(req->path, "/kbs/v0/resource/", 17) == 0 && strcmp(req->method, "GET") == 0) {
        kbs_handle_resource(k, req, resp);
    } else {
        json_t *body = json_pack("{s:s,s:s,s:[s],s:s?}", "type",
                                 "https://github.com/confidential-containers/kbs/errors/NotFound", "detail",
                                 "no such endpoint or method", "reasons", "input.malformed", "request_id",
                                 req->request_id);
        kbs_json_response(resp, 404, body);
    }
    free(decoded);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    kbs_metrics_observe(&k->metrics, kbs_endpoint_of(req->path), resp->status,
                        (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
}

void ccg_kbs_response_free(ccg_kbs_http_response *resp)
{
    free(resp->body);
    memset(resp, 0, sizeof(*resp));
}
