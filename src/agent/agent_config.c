/* The agent's configuration file: one strict JSON document (docs/agent.md). Unknown members, wrong
 * types and unknown values are agent.config_invalid, naming the member. */
#include "ccgate/agent.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/config_json.h"
#include "ccgate/error.h"
#include "ccgate/util.h"

#define CONFIG_MAX (256u * 1024u)
#define BAD CCG_R_AGENT_CONFIG_INVALID

static ccg_result parse_attester(const json_t *o, ccg_agent_config *c)
{
    static const char *const known[] = {"kind", "tsm_root", "sev_guest_path", "emulator_dir", "vmpl",
                                        "ccel_path", "ccel_table_path", NULL};
    static const char *const kinds[] = {"auto", "configfs-tsm", "sev-guest", "emulator"};
    ccg_result result = CCG_FAILURE;
    char *kind = NULL;
    uint64_t vmpl = 0;
    int found = 0;
    CCG_TRY(ccg_config_only_known(o, "attester", known, BAD));
    CCG_TRY(ccg_config_get_str(o, "attester", "kind", CCG_CONFIG_REQUIRED, BAD, &kind));
    for (size_t i = 0; i < 4; i++) {
        if (strcmp(kind, kinds[i]) == 0) {
            c->attester = (ccg_attester_kind)i;
            found = 1;
        }
    }
    CCG_ENSURE_MSG(found, BAD, "\"attester.kind\" must be auto, configfs-tsm, sev-guest or emulator, not \"%.32s\"",
                   kind);
    CCG_TRY(ccg_config_get_str(o, "attester", "tsm_root", CCG_CONFIG_OPTIONAL, BAD, &c->tsm_root));
    CCG_TRY(ccg_config_get_str(o, "attester", "sev_guest_path", CCG_CONFIG_OPTIONAL, BAD, &c->sev_guest_path));
    CCG_TRY(ccg_config_get_str(o, "attester", "emulator_dir", CCG_CONFIG_OPTIONAL, BAD, &c->emulator_dir));
    CCG_TRY(ccg_config_get_uint(o, "attester", "vmpl", 0, 3, BAD, &vmpl));
    CCG_TRY(ccg_config_get_str(o, "attester", "ccel_path", CCG_CONFIG_OPTIONAL, BAD, &c->ccel_path));
    CCG_TRY(ccg_config_get_str(o, "attester", "ccel_table_path", CCG_CONFIG_OPTIONAL, BAD, &c->ccel_table_path));
    c->vmpl = (uint32_t)vmpl;
    CCG_ENSURE_MSG(c->attester != CCG_ATTESTER_EMULATOR || c->emulator_dir != NULL, BAD,
                   "\"attester.kind\" emulator needs \"attester.emulator_dir\"");
    result = CCG_SUCCESS;
cleanup:
    free(kind);
    return result;
}

static ccg_result parse_broker(const json_t *o, ccg_agent_config *c)
{
    static const char *const known[] = {"url", "ca_file", "insecure_http", "timeout", NULL};
    ccg_result result = CCG_FAILURE;
    uint64_t timeout = 30;
    CCG_TRY(ccg_config_only_known(o, "broker", known, BAD));
    CCG_TRY(ccg_config_get_str(o, "broker", "url", CCG_CONFIG_REQUIRED, BAD, &c->broker_url));
    CCG_TRY(ccg_config_get_str(o, "broker", "ca_file", CCG_CONFIG_OPTIONAL, BAD, &c->broker_ca_file));
    CCG_TRY(ccg_config_get_bool(o, "broker", "insecure_http", BAD, &c->insecure_http));
    CCG_TRY(ccg_config_get_uint(o, "broker", "timeout", 0, 3600, BAD, &timeout));
    c->broker_timeout = timeout == 0 ? 30 : (long)timeout;
    if (strncmp(c->broker_url, "http://", 7) == 0) {
        CCG_ENSURE_MSG(c->insecure_http, BAD,
                       "\"broker.url\" is plain http: set \"broker.insecure_http\": true (tests only) or use https");
    } else {
        CCG_ENSURE_MSG(strncmp(c->broker_url, "https://", 8) == 0, BAD, "\"broker.url\" must be an https:// URL");
        CCG_ENSURE_MSG(c->broker_ca_file != NULL, BAD, "\"broker.ca_file\" (the pinned CA) is required for https");
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* repo/type/tag: three non-empty segments of [A-Za-z0-9._-]. */
static int resource_path_ok(const char *p)
{
    size_t segments = 0, n = 0;
    for (;; p++) {
        if (*p == '/' || *p == 0) {
            if (n == 0 || (n == 1 && p[-1] == '.') || (n == 2 && p[-1] == '.' && p[-2] == '.')) {
                return 0; /* empty, "." and ".." segments, as the broker refuses them */
            }
            segments++;
            n = 0;
            if (*p == 0) {
                break;
            }
            continue;
        }
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' ||
              *p == '_' || *p == '-')) {
            return 0;
        }
        n++;
    }
    return segments == 3;
}

static ccg_result parse_key(const json_t *o, ccg_agent_config *c)
{
    static const char *const known[] = {"resource", "id", "version", NULL};
    ccg_result result = CCG_FAILURE;
    uint64_t version = 0;
    CCG_TRY(ccg_config_only_known(o, "key", known, BAD));
    CCG_TRY(ccg_config_get_str(o, "key", "resource", CCG_CONFIG_REQUIRED, BAD, &c->key_path));
    CCG_ENSURE_MSG(resource_path_ok(c->key_path), BAD, "\"key.resource\" must be repo/type/tag");
    CCG_TRY(ccg_config_get_str(o, "key", "id", CCG_CONFIG_OPTIONAL, BAD, &c->key_id));
    if (c->key_id == NULL) {
        c->key_id = strdup(c->key_path);
        CCG_ENSURE_ALLOC(c->key_id);
    }
    CCG_TRY(ccg_config_get_uint(o, "key", "version", 0, UINT32_MAX, BAD, &version));
    c->key_version = (uint32_t)version;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result parse_artifact(const json_t *o, ccg_agent_config *c)
{
    static const char *const known[] = {"location", "provider_key", "ca_file", "threads", NULL};
    ccg_result result = CCG_FAILURE;
    uint64_t threads = 0;
    CCG_TRY(ccg_config_only_known(o, "artifact", known, BAD));
    CCG_TRY(ccg_config_get_str(o, "artifact", "location", CCG_CONFIG_REQUIRED, BAD, &c->artifact));
    CCG_TRY(ccg_config_get_str(o, "artifact", "provider_key", CCG_CONFIG_REQUIRED, BAD, &c->provider_key));
    CCG_TRY(ccg_config_get_str(o, "artifact", "ca_file", CCG_CONFIG_OPTIONAL, BAD, &c->artifact_ca_file));
    CCG_TRY(ccg_config_get_uint(o, "artifact", "threads", 0, 1024, BAD, &threads));
    c->unseal_threads = (unsigned)threads;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result parse_gpu(const json_t *o, ccg_agent_config *c)
{
    static const char *const known[] = {"required", "nvml_library", NULL};
    ccg_result result = CCG_FAILURE;
    CCG_TRY(ccg_config_only_known(o, "gpu", known, BAD));
    CCG_TRY(ccg_config_get_bool(o, "gpu", "required", BAD, &c->require_gpu));
    CCG_TRY(ccg_config_get_str(o, "gpu", "nvml_library", CCG_CONFIG_OPTIONAL, BAD, &c->nvml_library));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result parse_server(const json_t *o, ccg_agent_config *c)
{
    static const char *const known[] = {"argv", NULL};
    ccg_result result = CCG_FAILURE;
    const json_t *argv, *v;
    size_t i;
    CCG_TRY(ccg_config_only_known(o, "server", known, BAD));
    argv = json_object_get(o, "argv");
    CCG_ENSURE_MSG(json_is_array(argv) && json_array_size(argv) >= 1 && json_array_size(argv) <= CCG_AGENT_MAX_ARGS,
                   BAD, "\"server.argv\" must be an array of 1 to %d strings", CCG_AGENT_MAX_ARGS);
    json_array_foreach(argv, i, v) {
        CCG_ENSURE_MSG(json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v), BAD,
                       "\"server.argv[%zu]\" must be a string", i);
        c->server_argv[i] = strdup(json_string_value(v));
        CCG_ENSURE_ALLOC(c->server_argv[i]);
        c->server_argc = i + 1;
    }
    CCG_ENSURE_MSG(c->server_argv[0][0] == '/', BAD, "\"server.argv[0]\" must be an absolute path");
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result parse_status(const json_t *o, ccg_agent_config *c)
{
    static const char *const known[] = {"listen", "port_file", "linger", NULL};
    ccg_result result = CCG_FAILURE;
    uint64_t linger = 0;
    CCG_TRY(ccg_config_only_known(o, "status", known, BAD));
    CCG_TRY(ccg_config_get_uint(o, "status", "linger", 0, 86400, BAD, &linger));
    c->status_linger = (unsigned)linger;
    CCG_TRY(ccg_config_get_str(o, "status", "listen", CCG_CONFIG_REQUIRED, BAD, &c->status_listen));
    CCG_ENSURE_MSG(strncmp(c->status_listen, "127.0.0.1:", 10) == 0 || strncmp(c->status_listen, "unix:/", 6) == 0,
                   BAD, "\"status.listen\" must be 127.0.0.1:PORT or unix:/path (loopback or a local socket only)");
    CCG_TRY(ccg_config_get_str(o, "status", "port_file", CCG_CONFIG_OPTIONAL, BAD, &c->status_port_file));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result parse_memlock(const json_t *v, ccg_agent_config *c)
{
    ccg_result result = CCG_FAILURE;
    const char *s = json_string_value(v);
    CCG_ENSURE_MSG(s != NULL, BAD, "\"memlock\" must be a string");
    if (strcmp(s, "best-effort") == 0) {
        c->memlock = CCG_MEMLOCK_BEST_EFFORT;
    } else if (strcmp(s, "required") == 0) {
        c->memlock = CCG_MEMLOCK_REQUIRED;
    } else if (strcmp(s, "off") == 0) {
        c->memlock = CCG_MEMLOCK_OFF;
    } else {
        CCG_BAIL(BAD, "\"memlock\" must be best-effort, required or off, not \"%.32s\"", s);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_agent_config_parse(const char *text, size_t len, ccg_agent_config *out)
{
    static const char *const known[] = {"attester", "broker", "key", "artifact", "gpu", "server", "status",
                                        "memlock", "seccomp", "endpoint", "endpoint_program", NULL};
    ccg_result result = CCG_FAILURE;
    json_t *root = NULL;
    json_error_t jerr;
    const json_t *v;
    memset(out, 0, sizeof(*out));
    out->seccomp = 1;
    ccg_error_clear();
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    CCG_ENSURE_MSG(root != NULL, BAD, "the configuration is not JSON (line %d: %.80s)", jerr.line, jerr.text);
    CCG_TRY(ccg_config_only_known(root, "configuration", known, BAD));
    CCG_ENSURE_MSG(json_object_get(root, "attester") != NULL, BAD, "\"attester\" is required");
    CCG_TRY(parse_attester(json_object_get(root, "attester"), out));
    CCG_ENSURE_MSG(json_object_get(root, "broker") != NULL, BAD, "\"broker\" is required");
    CCG_TRY(parse_broker(json_object_get(root, "broker"), out));
    CCG_ENSURE_MSG(json_object_get(root, "key") != NULL, BAD, "\"key\" is required");
    CCG_TRY(parse_key(json_object_get(root, "key"), out));
    CCG_ENSURE_MSG(json_object_get(root, "artifact") != NULL, BAD, "\"artifact\" is required");
    CCG_TRY(parse_artifact(json_object_get(root, "artifact"), out));
    if ((v = json_object_get(root, "gpu")) != NULL) {
        CCG_TRY(parse_gpu(v, out));
    }
    CCG_ENSURE_MSG(json_object_get(root, "server") != NULL, BAD, "\"server\" is required");
    CCG_TRY(parse_server(json_object_get(root, "server"), out));
    if ((v = json_object_get(root, "status")) != NULL) {
        CCG_TRY(parse_status(v, out));
    }
    if ((v = json_object_get(root, "memlock")) != NULL) {
        CCG_TRY(parse_memlock(v, out));
    }
    CCG_TRY(ccg_config_get_bool(root, "configuration", "seccomp", BAD, &out->seccomp));
    CCG_TRY(ccg_config_get_str(root, "configuration", "endpoint_program", CCG_CONFIG_OPTIONAL, BAD,
                               &out->endpoint_program));
    CCG_ENSURE_MSG(out->endpoint_program == NULL || out->endpoint_program[0] == '/', BAD,
                   "\"endpoint_program\" must be an absolute path (it is never looked up on $PATH)");
    if ((v = json_object_get(root, "endpoint")) != NULL) {
        out->endpoint = calloc(1, sizeof(*out->endpoint));
        CCG_ENSURE_ALLOC(out->endpoint);
        CCG_TRY(ccg_endpoint_config_parse(v, BAD, out->endpoint));
    }
    /* ccgate-endpoint parses the very same text (sent over the control channel), never a re-read file */
    out->source = malloc(len + 1);
    CCG_ENSURE_ALLOC(out->source);
    memcpy(out->source, text, len);
    out->source[len] = 0;
    out->source_len = len;
    result = CCG_SUCCESS;
cleanup:
    json_decref(root);
    if (ccg_failed(result)) {
        ccg_agent_config_free(out);
    }
    return result;
}

ccg_result ccg_agent_config_load(const char *path, ccg_agent_config *out)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *text = NULL;
    size_t len = 0;
    memset(out, 0, sizeof(*out));
    if (ccg_failed(ccg_file_read(path, CONFIG_MAX, &text, &len))) {
        char why[sizeof(ccg_error_last()->message)];
        snprintf(why, sizeof(why), "%s", ccg_error_last()->message);
        ccg_error_clear();
        CCG_BAIL(BAD, "cannot read the configuration %.200s: %.100s", path, why);
    }
    CCG_TRY(ccg_agent_config_parse((const char *)text, len, out));
    result = CCG_SUCCESS;
cleanup:
    free(text);
    return result;
}

void ccg_agent_config_free(ccg_agent_config *c)
{
    char **strings[] = {&c->tsm_root,     &c->sev_guest_path, &c->emulator_dir,     &c->broker_url,
                        &c->broker_ca_file, &c->key_path,     &c->key_id,           &c->artifact,
                        &c->artifact_ca_file, &c->provider_key, &c->nvml_library,  &c->status_listen,
                        &c->status_port_file, &c->ccel_path, &c->ccel_table_path,
                        &c->endpoint_program, &c->source};
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
        free(*strings[i]);
    }
    for (size_t i = 0; i < c->server_argc; i++) {
        free(c->server_argv[i]);
    }
    if (c->endpoint != NULL) {
        ccg_endpoint_config_free(c->endpoint);
        free(c->endpoint);
    }
    memset(c, 0, sizeof(*c));
}
