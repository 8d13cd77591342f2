/* The "endpoint" section of the agent configuration (docs/endpoint.md, "Configuration"). Strict: unknown
 * members, wrong types and out-of-range limits are refused with the caller's reason, naming the member. */
#include "ccgate/endpoint.h"

#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/config_json.h"
#include "ccgate/error.h"
#include "ccgate/util.h"

void ccg_endpoint_config_defaults(ccg_endpoint_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->auth[CCG_EP_ROUTE_CHAT] = CCG_EP_AUTH_API_KEY;
    cfg->auth[CCG_EP_ROUTE_COMPLETIONS] = CCG_EP_AUTH_API_KEY;
    cfg->auth[CCG_EP_ROUTE_MODELS] = CCG_EP_AUTH_API_KEY;
    cfg->max_connections = 256;
    cfg->max_per_address = 64;
    cfg->body_max = 1u << 20;
    cfg->handshake_timeout_ms = 5000;
    cfg->request_timeout_ms = 30000;
    cfg->idle_timeout_ms = 60000;
    cfg->runner_timeout_s = 300;
    cfg->runner_wait_s = 30;
    cfg->rate_per_s = 10;
    cfg->rate_burst = 20;
    cfg->evidence_rate_per_s = 5;
    cfg->evidence_rate_burst = 10;
}

void ccg_endpoint_config_free(ccg_endpoint_config *cfg)
{
    if (cfg == NULL) {
        return;
    }
    free(cfg->listen);
    free(cfg->port_file);
    free(cfg->cert_file);
    free(cfg->key_file);
    free(cfg->client_ca_file);
    free(cfg->runner_socket);
    free(cfg->keys);
    memset(cfg, 0, sizeof(*cfg));
}

static ccg_result get_rate(const json_t *obj, const char *name, ccg_reason bad, double *out)
{
    ccg_result result = CCG_FAILURE;
    const json_t *v = json_object_get(obj, name);
    if (v == NULL) {
        return CCG_SUCCESS;
    }
    CCG_ENSURE_MSG(json_is_number(v) && json_number_value(v) > 0 && json_number_value(v) <= 1e6, bad,
                   "\"endpoint.limits.%s\" must be a number in (0, 1e6]", name);
    *out = json_number_value(v);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

#define U(name, lo, hi, field)                                                          \
    do {                                                                                \
        uint64_t u_ = (uint64_t)(cfg->field);                                           \
        CCG_TRY(ccg_config_get_uint(lim, "endpoint.limits", name, lo, hi, bad, &u_));   \
        cfg->field = u_;                                                                \
    } while (0)

static ccg_result parse_limits(const json_t *lim, ccg_reason bad, ccg_endpoint_config *cfg)
{
    ccg_result result = CCG_FAILURE;
    static const char *const known[] = {"max_connections", "max_per_address", "body_max", "handshake_timeout_ms",
                                        "request_timeout_ms", "idle_timeout_ms", "runner_timeout_s",
                                        "runner_wait_s", "rate_per_s", "rate_burst", "evidence_rate_per_s",
                                        "evidence_rate_burst", NULL};
    if (lim == NULL) {
        return CCG_SUCCESS;
    }
    CCG_TRY(ccg_config_only_known(lim, "endpoint.limits", known, bad));
    U("max_connections", 1, 65536, max_connections);
    U("max_per_address", 1, 65536, max_per_address);
    U("body_max", 1, 64ull << 20, body_max);
    U("handshake_timeout_ms", 50, 600000, handshake_timeout_ms);
    U("request_timeout_ms", 50, 3600000, request_timeout_ms);
    U("idle_timeout_ms", 50, 3600000, idle_timeout_ms);
    U("runner_timeout_s", 1, 86400, runner_timeout_s);
    U("runner_wait_s", 1, 3600, runner_wait_s);
    CCG_TRY(get_rate(lim, "rate_per_s", bad, &cfg->rate_per_s));
    CCG_TRY(get_rate(lim, "rate_burst", bad, &cfg->rate_burst));
    CCG_TRY(get_rate(lim, "evidence_rate_per_s", bad, &cfg->evidence_rate_per_s));
    CCG_TRY(get_rate(lim, "evidence_rate_burst", bad, &cfg->evidence_rate_burst));
    CCG_ENSURE_MSG(cfg->rate_burst >= 1 && cfg->evidence_rate_burst >= 1, bad,
                   "\"endpoint.limits\": a burst must be at least 1");
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result auth_from_name(const json_t *v, const char *route, ccg_reason bad, ccg_endpoint_auth *out)
{
    ccg_result result = CCG_FAILURE;
    static const struct {
        const char *name;
        ccg_endpoint_auth auth;
    } names[] = {{"mtls", CCG_EP_AUTH_MTLS},
                 {"api_key", CCG_EP_AUTH_API_KEY},
                 {"either", CCG_EP_AUTH_EITHER},
                 {"both", CCG_EP_AUTH_BOTH}};
    CCG_ENSURE_MSG(json_is_string(v), bad, "\"endpoint.routes.%s\" must be a string", route);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(json_string_value(v), names[i].name) == 0) {
            *out = names[i].auth;
            return CCG_SUCCESS;
        }
    }
    CCG_BAIL(bad, "\"endpoint.routes.%s\" must be \"mtls\", \"api_key\", \"either\" or \"both\"", route);
cleanup:
    return result;
}

static ccg_result parse_routes(const json_t *routes, ccg_reason bad, ccg_endpoint_config *cfg)
{
    ccg_result result = CCG_FAILURE;
    static const char *const known[] = {"chat", "completions", "models", NULL};
    static const ccg_endpoint_route ids[] = {CCG_EP_ROUTE_CHAT, CCG_EP_ROUTE_COMPLETIONS, CCG_EP_ROUTE_MODELS};
    if (routes == NULL) {
        return CCG_SUCCESS;
    }
    CCG_TRY(ccg_config_only_known(routes, "endpoint.routes", known, bad));
    for (size_t i = 0; i < 3; i++) {
        const json_t *v = json_object_get(routes, known[i]);
        if (v != NULL) {
            CCG_TRY(auth_from_name(v, known[i], bad, &cfg->auth[ids[i]]));
        }
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CCG_EP_CALLER_NAME_MAX) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
              c == '.' || c == '@')) {
            return 0;
        }
    }
    return 1;
}

static ccg_result parse_keys(const json_t *keys, ccg_reason bad, ccg_endpoint_config *cfg)
{
    ccg_result result = CCG_FAILURE;
    static const char *const known[] = {"name", "hash", NULL};
    size_t i;
    json_t *k;
    if (keys == NULL) {
        return CCG_SUCCESS;
    }
    CCG_ENSURE_MSG(json_is_array(keys) && json_array_size(keys) <= 4096, bad,
                   "\"endpoint.api_keys\" must be an array of at most 4096 keys");
    cfg->keys = calloc(json_array_size(keys) + 1, sizeof(*cfg->keys));
    CCG_ENSURE_ALLOC(cfg->keys);
    json_array_foreach(keys, i, k) {
        const json_t *name = json_object_get(k, "name"), *hash = json_object_get(k, "hash");
        CCG_TRY(ccg_config_only_known(k, "endpoint.api_keys[]", known, bad));
        CCG_ENSURE_MSG(json_is_string(name) && name_ok(json_string_value(name)), bad,
                       "\"endpoint.api_keys[%zu].name\" must be 1..64 of [A-Za-z0-9._@-]", i);
        CCG_ENSURE_MSG(json_is_string(hash) && json_string_length(hash) == 7 + 64 &&
                           strncmp(json_string_value(hash), "sha256:", 7) == 0 &&
                           ccg_hex_is_valid(json_string_value(hash) + 7, 32),
                       bad, "\"endpoint.api_keys[%zu].hash\" must be \"sha256:\" and 64 hex digits "
                            "(ccgate-agent --hash-api-key)", i);
        for (size_t j = 0; j < cfg->n_keys; j++) {
            CCG_ENSURE_MSG(strcmp(cfg->keys[j].name, json_string_value(name)) != 0, bad,
                           "\"endpoint.api_keys[%zu].name\" is used twice", i);
        }
        snprintf(cfg->keys[cfg->n_keys].name, sizeof(cfg->keys[cfg->n_keys].name), "%s", json_string_value(name));
        CCG_TRY(ccg_hex_decode_exact(json_string_value(hash) + 7, cfg->keys[cfg->n_keys].hash, CCG_EP_KEY_HASH_LEN));
        cfg->n_keys++;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Every route's requirement can be met by some caller. */
static ccg_result check_auth(ccg_reason bad, const ccg_endpoint_config *cfg)
{
    ccg_result result = CCG_FAILURE;
    for (int r = CCG_EP_ROUTE_CHAT; r <= CCG_EP_ROUTE_MODELS; r++) {
        ccg_endpoint_auth a = cfg->auth[r];
        int need_ca = a == CCG_EP_AUTH_MTLS || a == CCG_EP_AUTH_BOTH;
        int need_key = a == CCG_EP_AUTH_API_KEY || a == CCG_EP_AUTH_BOTH;
        CCG_ENSURE_MSG(!need_ca || cfg->client_ca_file != NULL, bad,
                       "\"endpoint.routes.%s\" needs client certificates: set \"endpoint.tls.client_ca\"",
                       ccg_endpoint_route_name((ccg_endpoint_route)r));
        CCG_ENSURE_MSG(!need_key || cfg->n_keys > 0, bad,
                       "\"endpoint.routes.%s\" needs API keys: set \"endpoint.api_keys\"",
                       ccg_endpoint_route_name((ccg_endpoint_route)r));
        CCG_ENSURE_MSG(a != CCG_EP_AUTH_EITHER || cfg->n_keys > 0 || cfg->client_ca_file != NULL, bad,
                       "\"endpoint.routes.%s\" needs API keys or a client CA",
                       ccg_endpoint_route_name((ccg_endpoint_route)r));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_endpoint_config_parse(const json_t *obj, ccg_reason bad, ccg_endpoint_config *cfg)
{
    ccg_result result = CCG_FAILURE;
    static const char *const known[] = {"listen", "port_file", "tls", "runner_socket", "routes",
                                        "api_keys", "gateway", "limits", NULL};
    static const char *const tls_known[] = {"cert", "key", "client_ca", NULL};
    const json_t *tls = json_object_get(obj, "tls");
    ccg_endpoint_config_defaults(cfg);
    CCG_TRY(ccg_config_only_known(obj, "endpoint", known, bad));
    CCG_TRY(ccg_config_get_str(obj, "endpoint", "listen", CCG_CONFIG_NULL_ABSENT, bad, &cfg->listen));
    CCG_ENSURE_MSG(cfg->listen != NULL, bad, "\"endpoint.listen\" is required (HOST:PORT)");
    CCG_TRY(ccg_config_get_str(obj, "endpoint", "port_file", CCG_CONFIG_NULL_ABSENT, bad, &cfg->port_file));
    CCG_TRY(ccg_config_get_str(obj, "endpoint", "runner_socket", CCG_CONFIG_NULL_ABSENT, bad, &cfg->runner_socket));
    CCG_ENSURE_MSG(cfg->runner_socket != NULL && cfg->runner_socket[0] == '/' && strlen(cfg->runner_socket) < 100,
                   bad, "\"endpoint.runner_socket\" must be an absolute path shorter than 100 bytes");
    if (tls != NULL) {
        CCG_TRY(ccg_config_only_known(tls, "endpoint.tls", tls_known, bad));
        CCG_TRY(ccg_config_get_str(tls, "endpoint.tls", "cert", CCG_CONFIG_NULL_ABSENT, bad, &cfg->cert_file));
        CCG_TRY(ccg_config_get_str(tls, "endpoint.tls", "key", CCG_CONFIG_NULL_ABSENT, bad, &cfg->key_file));
        CCG_TRY(ccg_config_get_str(tls, "endpoint.tls", "client_ca", CCG_CONFIG_NULL_ABSENT, bad,
                                   &cfg->client_ca_file));
        CCG_ENSURE_MSG((cfg->cert_file == NULL) == (cfg->key_file == NULL), bad,
                       "\"endpoint.tls.cert\" and \"endpoint.tls.key\" go together");
    }
    CCG_TRY(ccg_config_get_bool(obj, "endpoint", "gateway", bad, &cfg->gateway));
    CCG_TRY(parse_routes(json_object_get(obj, "routes"), bad, cfg));
    CCG_TRY(parse_keys(json_object_get(obj, "api_keys"), bad, cfg));
    CCG_TRY(parse_limits(json_object_get(obj, "limits"), bad, cfg));
    CCG_TRY(check_auth(bad, cfg));
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        ccg_endpoint_config_free(cfg);
    }
    return result;
}

/* The bearer token68 alphabet (RFC 6750 section 2.1), so that a key is exactly what curl sends. */
static int token68(const char *s, size_t n)
{
    size_t i = 0;
    for (; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
              c == '_' || c == '~' || c == '+' || c == '/')) {
            break;
        }
    }
    while (i < n && s[i] == '=') {
        i++;
    }
    return i == n;
}

ccg_result ccg_endpoint_hash_api_key(const char *key, size_t len, char out[CCG_EP_KEY_HASH_TEXT_LEN])
{
    ccg_result result = CCG_FAILURE;
    uint8_t h[SHA256_DIGEST_LENGTH];
    CCG_ENSURE_MSG(len >= 16 && len <= CCG_EP_API_KEY_MAX && token68(key, len), CCG_R_INPUT_MALFORMED,
                   "an API key is 16..%d characters of the bearer token alphabet [A-Za-z0-9-._~+/]", CCG_EP_API_KEY_MAX);
    SHA256((const unsigned char *)key, len, h);
    memcpy(out, "sha256:", 7);
    ccg_hex_encode(h, sizeof(h), out + 7);
    result = CCG_SUCCESS;
cleanup:
    return result;
}
