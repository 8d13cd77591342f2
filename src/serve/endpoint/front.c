/* The request front end's decision: which route, whether the method is the route's, whether the path has
 * any shape the endpoint refuses, whether the caller's credential satisfies the route, and whether the
 * declared body fits. No sockets and no state, so it is fuzzed (fuzz/fuzz_endpoint_front.c).
 *
 * Nothing is decoded or normalised: a path is served only when it equals a route byte for byte. A
 * percent sign, a dot segment, a doubled or trailing slash or a backslash is refused as such (logged as
 * "encoded" or "traversal"), everything else unknown as "unknown". The refusal never echoes the path. */
#include "ccgate/endpoint.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <openssl/x509_vfy.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const struct {
    ccg_endpoint_route route;
    const char *method;
    const char *path;
    const char *name;
} routes[] = {
    {CCG_EP_ROUTE_CHAT, "POST", "/v1/chat/completions", "chat"},
    {CCG_EP_ROUTE_COMPLETIONS, "POST", "/v1/completions", "completions"},
    {CCG_EP_ROUTE_MODELS, "GET", "/v1/models", "models"},
    {CCG_EP_ROUTE_HEALTHZ, "GET", "/healthz", "healthz"},
    {CCG_EP_ROUTE_READYZ, "GET", "/readyz", "readyz"},
    {CCG_EP_ROUTE_EVIDENCE, "GET", "/.well-known/ccgate/evidence", "evidence"},
    {CCG_EP_ROUTE_OHTTP, "POST", "/.well-known/ccgate/ohttp", "ohttp"},
};
#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

const char *ccg_endpoint_route_name(ccg_endpoint_route r)
{
    for (size_t i = 0; i < N_ROUTES; i++) {
        if (routes[i].route == r) {
            return routes[i].name;
        }
    }
    return "none";
}

static void deny(ccg_endpoint_decision *out, ccg_reason reason, unsigned status, const char *detail)
{
    out->reason = reason;
    out->status = status;
    out->detail = detail;
}

/* A path shape that is refused whatever it names. */
static const char *bad_shape(const char *p)
{
    size_t n = strlen(p);
    if (n == 0 || p[0] != '/') {
        return "not-origin-form";
    }
    if (strchr(p, '%') != NULL) {
        return "encoded";
    }
    if (strchr(p, '\\') != NULL || strstr(p, "//") != NULL || strstr(p, "/./") != NULL ||
        strstr(p, "/../") != NULL || (n >= 2 && strcmp(p + n - 2, "/.") == 0) ||
        (n >= 3 && strcmp(p + n - 3, "/..") == 0)) {
        return "traversal";
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c <= 0x20 || c >= 0x7f) {
            return "encoded";
        }
    }
    return NULL;
}

/* The key named by "Bearer <key>", compared with every configured hash in constant time. */
static const ccg_endpoint_api_key *find_key(const ccg_endpoint_config *cfg, const char *authz)
{
    uint8_t h[SHA256_DIGEST_LENGTH];
    const ccg_endpoint_api_key *found = NULL;
    size_t len;
    if (authz == NULL || strncasecmp(authz, "Bearer ", 7) != 0) { /* the scheme is case-insensitive (RFC 9110) */
        return NULL;
    }
    authz += 7;
    len = strlen(authz);
    if (len == 0 || len > CCG_EP_API_KEY_MAX) {
        return NULL;
    }
    SHA256((const unsigned char *)authz, len, h);
    for (size_t i = 0; i < cfg->n_keys; i++) {
        if (CRYPTO_memcmp(h, cfg->keys[i].hash, sizeof(h)) == 0) {
            found = &cfg->keys[i];
        }
    }
    OPENSSL_cleanse(h, sizeof(h));
    return found;
}

typedef enum { CRED_ABSENT, CRED_BAD, CRED_OK } cred;

static cred cert_state(const ccg_endpoint_request *rq, ccg_reason *why)
{
    if (rq->inner || !rq->cert_present) {
        *why = CCG_R_ENDPOINT_CALLER_NOT_ALLOWED;
        return CRED_ABSENT;
    }
    if (rq->cert_error == 0) {
        return CRED_OK;
    }
    *why = rq->cert_error == X509_V_ERR_CERT_HAS_EXPIRED || rq->cert_error == X509_V_ERR_CERT_NOT_YET_VALID
               ? CCG_R_ENDPOINT_CERT_EXPIRED
               : CCG_R_ENDPOINT_CERT_UNTRUSTED;
    return CRED_BAD;
}

static void check_caller(const ccg_endpoint_config *cfg, ccg_endpoint_auth auth, const ccg_endpoint_request *rq,
                         ccg_endpoint_decision *out)
{
    ccg_reason why = CCG_R_ENDPOINT_CALLER_NOT_ALLOWED;
    cred c = (auth == CCG_EP_AUTH_API_KEY) ? CRED_ABSENT : cert_state(rq, &why);
    const ccg_endpoint_api_key *k = auth == CCG_EP_AUTH_MTLS ? NULL : find_key(cfg, rq->authorization);
    const char *cn = rq->cert_name != NULL && rq->cert_name[0] != 0 ? rq->cert_name : "?";
    switch (auth) {
    case CCG_EP_AUTH_MTLS:
        if (c != CRED_OK) {
            deny(out, why, c == CRED_BAD ? 403 : 401, c == CRED_BAD ? "certificate" : "no-certificate");
            return;
        }
        snprintf(out->caller, sizeof(out->caller), "cert:%.64s", cn);
        return;
    case CCG_EP_AUTH_API_KEY:
        if (k == NULL) {
            deny(out, CCG_R_ENDPOINT_CALLER_NOT_ALLOWED, 401, rq->authorization == NULL ? "no-key" : "wrong-key");
            return;
        }
        snprintf(out->caller, sizeof(out->caller), "key:%s", k->name);
        return;
    case CCG_EP_AUTH_EITHER:
        if (c == CRED_OK) {
            snprintf(out->caller, sizeof(out->caller), "cert:%.64s", cn);
        } else if (k != NULL) {
            snprintf(out->caller, sizeof(out->caller), "key:%s", k->name);
        } else if (c == CRED_BAD) {
            deny(out, why, 403, "certificate");
        } else {
            deny(out, CCG_R_ENDPOINT_CALLER_NOT_ALLOWED, 401, rq->authorization == NULL ? "no-credential" : "wrong-key");
        }
        return;
    case CCG_EP_AUTH_BOTH:
        if (c != CRED_OK) {
            deny(out, why, c == CRED_BAD ? 403 : 401, c == CRED_BAD ? "certificate" : "no-certificate");
        } else if (k == NULL) {
            deny(out, CCG_R_ENDPOINT_CALLER_NOT_ALLOWED, 401, rq->authorization == NULL ? "no-key" : "wrong-key");
        } else {
            snprintf(out->caller, sizeof(out->caller), "key:%s", k->name);
        }
        return;
    case CCG_EP_AUTH_NONE:
    default:
        return;
    }
}

void ccg_endpoint_decide(const ccg_endpoint_config *cfg, const ccg_endpoint_request *rq, ccg_endpoint_decision *out)
{
    const char *shape;
    int path_known = 0;
    memset(out, 0, sizeof(*out));
    out->reason = CCG_R_OK;
    if (rq->method == NULL || rq->path == NULL) {
        deny(out, CCG_R_ENDPOINT_PATH_BLOCKED, 400, "no-target");
        return;
    }
    shape = bad_shape(rq->path);
    if (shape != NULL) {
        deny(out, CCG_R_ENDPOINT_PATH_BLOCKED, 404, shape);
        return;
    }
    for (size_t i = 0; i < N_ROUTES; i++) {
        if (strcmp(rq->path, routes[i].path) != 0) {
            continue;
        }
        path_known = 1;
        if (strcmp(rq->method, routes[i].method) == 0) {
            out->route = routes[i].route;
        }
    }
    if (out->route == CCG_EP_ROUTE_NONE) {
        deny(out, CCG_R_ENDPOINT_PATH_BLOCKED, path_known ? 405 : 404, path_known ? "method" : "unknown");
        return;
    }
    /* Inside an OHTTP envelope only the forwarded routes exist: no nesting, no evidence. */
    if (rq->inner && out->route != CCG_EP_ROUTE_CHAT && out->route != CCG_EP_ROUTE_COMPLETIONS &&
        out->route != CCG_EP_ROUTE_MODELS) {
        deny(out, CCG_R_ENDPOINT_PATH_BLOCKED, 404, "not-in-gateway");
        return;
    }
    if (out->route == CCG_EP_ROUTE_OHTTP && !cfg->gateway) {
        deny(out, CCG_R_ENDPOINT_GATEWAY_DISABLED, 404, "gateway-off");
        return;
    }
    if (strcmp(rq->method, "GET") == 0 && rq->has_content_length && rq->content_length > 0) {
        deny(out, CCG_R_ENDPOINT_PATH_BLOCKED, 400, "get-with-body");
        return;
    }
    check_caller(cfg, cfg->auth[out->route], rq, out);
    if (out->reason != CCG_R_OK) {
        return;
    }
    if (rq->has_content_length && rq->content_length > cfg->body_max) {
        deny(out, CCG_R_ENDPOINT_BODY_TOO_LARGE, 413, "content-length");
    }
}
