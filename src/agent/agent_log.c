/* The agent's failure signals: one exit status per kind of failure, state names, the status JSON
 * (served on GET /status by ccgate-endpoint) and JSON log lines (include/ccgate/log.h) on stderr.
 * Only public facts appear: codes, IDs, versions, the plaintext's digest; never a key, plaintext or
 * token. */
#include "ccgate/agent.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/log.h"
#include "ccgate/util.h"

static const struct {
    const char *component;
    int status;
} COMPONENT_STATUS[] = {
    {"attest", CCG_AGENT_EXIT_NO_TEE},     {"snp", CCG_AGENT_EXIT_ATTEST_DENIED},
    {"refval", CCG_AGENT_EXIT_ATTEST_DENIED}, {"cert", CCG_AGENT_EXIT_ATTEST_DENIED},
    {"vcek", CCG_AGENT_EXIT_ATTEST_DENIED}, {"collateral", CCG_AGENT_EXIT_ATTEST_DENIED},
    {"policy", CCG_AGENT_EXIT_ATTEST_DENIED}, {"measure", CCG_AGENT_EXIT_ATTEST_DENIED},
    {"kbs", CCG_AGENT_EXIT_ATTEST_DENIED},  {"jose", CCG_AGENT_EXIT_BROKER_UNAVAIL},
    {"key", CCG_AGENT_EXIT_KEY_REFUSED},    {"kms", CCG_AGENT_EXIT_BROKER_UNAVAIL},
    {"store", CCG_AGENT_EXIT_BROKER_UNAVAIL}, {"audit", CCG_AGENT_EXIT_BROKER_UNAVAIL},
    {"artifact", CCG_AGENT_EXIT_ARTIFACT},  {"gpu", CCG_AGENT_EXIT_GPU},
    {"tdx", CCG_AGENT_EXIT_ATTEST_DENIED},
};

int ccg_agent_exit_status(ccg_reason r)
{
    const char *component;
    switch (r) {
    case CCG_R_OK:
        return CCG_AGENT_EXIT_OK;
    case CCG_R_AGENT_CONFIG_INVALID:
    case CCG_R_USAGE_INVALID:
        return CCG_AGENT_EXIT_CONFIG;
    case CCG_R_AGENT_BROKER_UNAVAILABLE:
    case CCG_R_AGENT_BROKER_PROTOCOL:
        return CCG_AGENT_EXIT_BROKER_UNAVAIL;
    case CCG_R_AGENT_KEY_MISMATCH:
        return CCG_AGENT_EXIT_KEY_REFUSED;
    case CCG_R_AGENT_MEMORY_FAILED:
    case CCG_R_AGENT_HARDENING_FAILED:
        return CCG_AGENT_EXIT_MEMORY;
    case CCG_R_AGENT_SERVER_FAILED:
    case CCG_R_AGENT_ENDPOINT_FAILED: /* the front is part of serving, like the model server */
    case CCG_R_AGENT_CONTROL_INVALID:
        return CCG_AGENT_EXIT_SERVER;
    case CCG_R_KBS_CONFIG_INVALID:
        return CCG_AGENT_EXIT_BROKER_UNAVAIL; /* the broker's own configuration, not ours */
    default:
        break;
    }
    if (r >= CCG_R__COUNT) {
        return CCG_AGENT_EXIT_INTERNAL;
    }
    component = ccg_reason_component(r);
    for (size_t i = 0; i < sizeof(COMPONENT_STATUS) / sizeof(COMPONENT_STATUS[0]); i++) {
        if (strcmp(component, COMPONENT_STATUS[i].component) == 0) {
            return COMPONENT_STATUS[i].status;
        }
    }
    return CCG_AGENT_EXIT_INTERNAL;
}

const char *ccg_agent_state_name(ccg_agent_state s)
{
    switch (s) {
    case CCG_AGENT_STARTING:
        return "starting";
    case CCG_AGENT_ATTESTING:
        return "attesting";
    case CCG_AGENT_RELEASED:
        return "released";
    case CCG_AGENT_SERVING:
        return "serving";
    case CCG_AGENT_FAILED:
        return "failed";
    case CCG_AGENT_STOPPED:
        return "stopped";
    }
    return "unknown";
}

static void set_str(json_t *o, const char *name, const char *v)
{
    if (v != NULL && v[0] != 0) {
        json_object_set_new(o, name, json_string(v));
    }
}

void *ccg_agent_status_json(const ccg_agent_status *st)
{
    json_t *o = json_object();
    if (o == NULL) {
        return NULL;
    }
    json_object_set_new(o, "state", json_string(ccg_agent_state_name(st->state)));
    if (st->state == CCG_AGENT_FAILED) {
        json_object_set_new(o, "reason", json_string(ccg_reason_code(st->reason)));
        json_object_set_new(o, "exit_status", json_integer(ccg_agent_exit_status(st->reason)));
        set_str(o, "message", st->message);
    }
    set_str(o, "request_id", st->request_id);
    set_str(o, "key_id", st->key_id);
    if (st->key_version > 0) {
        json_object_set_new(o, "key_version", json_integer(st->key_version));
    }
    set_str(o, "policy_id", st->policy_id);
    if (st->policy_version > 0) {
        json_object_set_new(o, "policy_version", json_integer(st->policy_version));
    }
    set_str(o, "attester", st->attester);
    set_str(o, "gpu", st->gpu);
    if (st->gpu_required) {
        json_object_set_new(o, "gpus_attested", json_integer(st->gpus_attested));
        json_object_set_new(o, "gpu_ready", json_boolean(st->gpu_ready));
    }
    set_str(o, "memory", st->memory);
    if (st->model_digest[0] != 0) {
        json_object_set_new(o, "model_digest", json_string(st->model_digest));
        json_object_set_new(o, "model_len", json_integer((json_int_t)st->model_len));
        json_object_set_new(o, "model_chunk_size", json_integer(st->model_chunk_size));
    }
    if (st->bytes_total > 0) {
        json_object_set_new(o, "bytes_done", json_integer((json_int_t)st->bytes_done));
        json_object_set_new(o, "bytes_total", json_integer((json_int_t)st->bytes_total));
    }
    if (st->endpoint_port > 0) {
        json_object_set_new(o, "endpoint_port", json_integer(st->endpoint_port));
    }
    if (st->server_pid > 0) {
        json_object_set_new(o, "server_pid", json_integer(st->server_pid));
    }
    if (st->endpoint_pid > 0) {
        json_object_set_new(o, "endpoint_pid", json_integer(st->endpoint_pid));
    }
    return o;
}

static ccg_log_level level_of(const char *level)
{
    if (strcmp(level, "error") == 0) {
        return CCG_LOG_ERROR;
    }
    if (strncmp(level, "warn", 4) == 0) {
        return CCG_LOG_WARN;
    }
    return strcmp(level, "debug") == 0 ? CCG_LOG_DEBUG : CCG_LOG_INFO;
}

void ccg_agent_log(const ccg_agent_status *st, const char *level, const char *event, const char *note)
{
    json_t *o = ccg_agent_status_json(st);
    if (o == NULL) {
        return;
    }
    json_object_del(o, "request_id"); /* the schema's own member */
    if (note != NULL) {
        json_object_set_new(o, "note", json_string(note));
    }
    ccg_log_event(level_of(level), event, st->request_id[0] != 0 ? st->request_id : NULL, o);
    json_decref(o);
}
