/* libFuzzer target: the endpoint's request front end (ccg_endpoint_decide: route, method, path shape,
 * credential, declared body length) and the "endpoint" configuration section, without sockets.
 *
 * Input: byte 0 = flags (bit 0 cert present, bit 1 cert failed to verify, bit 2 the failure is an expiry,
 * bit 3 OHTTP-inner, bit 4 a Content-Length is declared), bytes 1..8 = the declared length (LE), then
 * "METHOD\nPATH\nAUTHORIZATION" (a missing AUTHORIZATION line means no header). The whole input is also
 * parsed as an "endpoint" JSON section.
 *
 * Invariants: an allowed request names a route whose path equals the input path byte for byte, has no
 * percent sign or dot segment, has a caller on the forwarded routes (each needs a credential here) and a
 * declared length within body_max; a refusal has a reason code, a 4xx status and a fixed detail word. */
#include <openssl/sha.h>
#include <openssl/x509_vfy.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ccgate/endpoint.h"
#include "ccgate/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const paths[] = {"/v1/chat/completions", "/v1/completions", "/v1/models", "/healthz", "/readyz",
                                    "/.well-known/ccgate/evidence", "/.well-known/ccgate/ohttp"};

static void config(ccg_endpoint_config *cfg, ccg_endpoint_api_key *key, int variant)
{
    ccg_endpoint_config_defaults(cfg);
    snprintf(key->name, sizeof(key->name), "app1");
    SHA256((const unsigned char *)"fuzz-key-0123456789abcdef", 25, key->hash);
    cfg->keys = key;
    cfg->n_keys = 1;
    cfg->body_max = 4096;
    cfg->gateway = variant & 1;
    cfg->auth[CCG_EP_ROUTE_CHAT] = CCG_EP_AUTH_API_KEY;
    cfg->auth[CCG_EP_ROUTE_COMPLETIONS] = (variant & 2) ? CCG_EP_AUTH_BOTH : CCG_EP_AUTH_EITHER;
    cfg->auth[CCG_EP_ROUTE_MODELS] = CCG_EP_AUTH_MTLS;
}

static void decide_one(const uint8_t *data, size_t size)
{
    ccg_endpoint_config cfg;
    ccg_endpoint_api_key key;
    ccg_endpoint_request rq;
    ccg_endpoint_decision d;
    char *text, *method, *path, *auth, *nl;
    uint64_t cl = 0;
    if (size < 9) {
        return;
    }
    for (int i = 0; i < 8; i++) {
        cl |= (uint64_t)data[1 + i] << (8 * i);
    }
    text = malloc(size - 9 + 1);
    if (text == NULL) {
        return;
    }
    memcpy(text, data + 9, size - 9);
    text[size - 9] = 0;
    method = text;
    nl = strchr(method, '\n');
    path = nl != NULL ? (*nl = 0, nl + 1) : NULL;
    auth = NULL;
    if (path != NULL && (nl = strchr(path, '\n')) != NULL) {
        *nl = 0;
        auth = nl + 1;
    }
    memset(&rq, 0, sizeof(rq));
    rq.method = method;
    rq.path = path;
    rq.authorization = auth;
    rq.cert_present = data[0] & 1;
    rq.cert_error = (data[0] & 2) ? ((data[0] & 4) ? X509_V_ERR_CERT_HAS_EXPIRED : X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT)
                                  : 0;
    rq.cert_name = "fuzz";
    rq.inner = (data[0] >> 3) & 1;
    rq.has_content_length = (data[0] >> 4) & 1;
    rq.content_length = cl;
    config(&cfg, &key, data[0] >> 5);
    ccg_endpoint_decide(&cfg, &rq, &d);
    if (d.reason == CCG_R_OK) {
        int known = 0;
        if (d.route <= CCG_EP_ROUTE_NONE || d.route >= CCG_EP_ROUTE_COUNT || d.status != 0 || path == NULL) {
            abort();
        }
        known = strcmp(path, paths[d.route - 1]) == 0;
        if (!known || strchr(path, '%') != NULL || strstr(path, "/./") != NULL ||
            strstr(path, "/../") != NULL || strstr(path, "//") != NULL) {
            abort();
        }
        if (d.route <= CCG_EP_ROUTE_MODELS && d.caller[0] == 0) {
            abort(); /* a forwarded route never passes without a credential */
        }
        if (rq.inner && d.route > CCG_EP_ROUTE_MODELS) {
            abort(); /* nothing but the forwarded routes inside an envelope */
        }
        if (rq.has_content_length && rq.content_length > cfg.body_max) {
            abort();
        }
    } else if (d.status < 400 || d.status > 499 || d.detail == NULL || strlen(d.detail) > 32) {
        abort();
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *o;
    decide_one(data, size);
    o = json_loadb((const char *)data, size, 0, NULL);
    if (o != NULL) {
        ccg_endpoint_config cfg;
        if (ccg_ok(ccg_endpoint_config_parse(o, CCG_R_AGENT_CONFIG_INVALID, &cfg))) {
            if (cfg.listen == NULL || cfg.runner_socket == NULL || cfg.runner_socket[0] != '/' || cfg.body_max == 0) {
                abort();
            }
            ccg_endpoint_config_free(&cfg);
        } else if (ccg_error_reason() != CCG_R_AGENT_CONFIG_INVALID && ccg_error_reason() != CCG_R_INTERNAL_OUT_OF_MEMORY) {
            abort();
        }
        ccg_error_clear();
        json_decref(o);
    }
    return 0;
}
