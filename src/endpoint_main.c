/* ccgate-endpoint: the guest's network-facing process (docs/agent.md, "Privilege separation").
 *
 * ccgate-agent starts it with one end of a socketpair as $CCGATE_CONTROL_FD and sends it the agent's
 * configuration. It serves GET /status (the snapshots the agent sends) and, once the agent says "serve",
 * the HTTPS inference endpoint (src/serve/endpoint, docs/endpoint.md), forwarding to the runner's Unix
 * socket. It holds no model key, no model memory and no attester: the evidence route asks the agent for
 * evidence over a 64-byte REPORT_DATA. It exits when the channel closes (the agent stopped or died);
 * SIGTERM and SIGINT are left to the agent, which stops it in order. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ccgate/agent.h"
#include "ccgate/cli_args.h"
#include "ccgate/error.h"
#include "ccgate/jose.h"
#include "ccgate/log.h"
#include "ccgate/util.h"

#define CONFIG_TIMEOUT_MS 15000
#define EVIDENCE_TIMEOUT_S 30 /* the agent answers one request at a time; an SNP report takes milliseconds */
#define EVIDENCE_PART_MAX (1u << 20)

typedef struct {
    int fd;
    ccg_ctl_reader rd;
    pthread_mutex_t wlock; /* one writer at a time on the channel (the main thread, the evidence callers) */
    pthread_mutex_t lock;  /* the evidence reply slot */
    pthread_cond_t answered;
    json_int_t next_id, want_id;
    json_t *reply;
    int closing;
    ccg_agent_config cfg;
    int have_cfg;
    ccg_agent_status_server *status;
    ccg_endpoint *ep;
    uint8_t *ccel, *ccel_data;
    size_t ccel_len, ccel_data_len;
} front;

static void usage(FILE *f)
{
    fputs("Usage: ccgate-endpoint [--control-fd N]\n"
          "\n"
          "The guest's network-facing process, started by ccgate-agent (not by hand): it serves the agent's\n"
          "GET /status and the HTTPS inference endpoint (docs/endpoint.md), and asks the agent for evidence\n"
          "over the control channel (docs/agent.md, \"Privilege separation\"). It holds no key and no model.\n"
          "\n"
          "Options:\n"
          "  --control-fd N    the control socket (default: $" CCG_CTL_ENV ")\n"
          "  -h, --help        this text\n"
          "  --version         the version, git revision and OpenSSL version\n"
          "\n"
          "Log lines are JSON on standard error (component \"endpoint\"). It exits 0 when the agent closes the\n"
          "channel, 1 when a listener cannot be opened or the agent's message is refused, 2 on usage.\n",
          f);
}

static ccg_result send_msg(front *f, json_t *msg)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_ALLOC(msg);
    pthread_mutex_lock(&f->wlock);
    result = ccg_ctl_send(f->fd, msg, 5000);
    pthread_mutex_unlock(&f->wlock);
cleanup:
    json_decref(msg);
    return result;
}

static const char *op_of(const json_t *m) { return json_string_value(json_object_get(m, "op")); }

/* ---------------------------------------------------------------- evidence from the agent */

static ccg_result decode_part(const json_t *reply, const char *name, uint8_t **out, size_t *out_len)
{
    ccg_result result = CCG_FAILURE;
    const json_t *v = json_object_get(reply, name);
    CCG_ENSURE_MSG(json_is_string(v) && json_string_length(v) <= EVIDENCE_PART_MAX / 3 * 4 + 4,
                   CCG_R_ENDPOINT_EVIDENCE_UNAVAILABLE, "the agent's evidence has no valid \"%s\"", name);
    CCG_TRY(ccg_b64url_decode(json_string_value(v), json_string_length(v), CCG_R_ENDPOINT_EVIDENCE_UNAVAILABLE, out,
                              out_len));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result parse_evidence(const json_t *reply, ccg_evidence *out)
{
    ccg_result result = CCG_FAILURE;
    const char *tee = json_string_value(json_object_get(reply, "tee"));
    const char *refused = json_string_value(json_object_get(reply, "reason"));
    CCG_ENSURE_MSG(refused == NULL, CCG_R_ENDPOINT_EVIDENCE_UNAVAILABLE, "the agent gave no evidence (%.64s)",
                   refused);
    CCG_ENSURE_MSG(tee != NULL && (strcmp(tee, "snp") == 0 || strcmp(tee, "tdx") == 0),
                   CCG_R_ENDPOINT_EVIDENCE_UNAVAILABLE, "the agent's evidence names no TEE");
    out->tee = strcmp(tee, "tdx") == 0 ? CCG_TEE_TDX : CCG_TEE_SNP;
    CCG_TRY(decode_part(reply, "report", &out->report, &out->report_len));
    if (json_object_get(reply, "certs") != NULL) {
        CCG_TRY(decode_part(reply, "certs", &out->certs, &out->certs_len));
    }
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        ccg_evidence_free(out);
    }
    return result;
}

/* deps.evidence: one request on the channel, then the main thread's delivery of its answer. */
static ccg_result remote_evidence(void *ctx, const uint8_t report_data[CCG_ATTESTER_REPORT_DATA_LEN],
                                  ccg_evidence *out)
{
    ccg_result result = CCG_FAILURE;
    front *f = ctx;
    char hex[2 * CCG_ATTESTER_REPORT_DATA_LEN + 1];
    json_t *reply = NULL;
    json_int_t id;
    struct timespec until;
    memset(out, 0, sizeof(*out));
    ccg_hex_encode(report_data, CCG_ATTESTER_REPORT_DATA_LEN, hex);
    pthread_mutex_lock(&f->lock);
    id = ++f->next_id;
    f->want_id = id;
    json_decref(f->reply);
    f->reply = NULL;
    pthread_mutex_unlock(&f->lock);
    CCG_TRY(send_msg(f, json_pack("{s:s,s:I,s:s}", "op", "evidence", "id", id, "report_data", hex)));
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += EVIDENCE_TIMEOUT_S;
    pthread_mutex_lock(&f->lock);
    while (f->reply == NULL && !f->closing) {
        if (pthread_cond_timedwait(&f->answered, &f->lock, &until) == ETIMEDOUT) {
            break;
        }
    }
    reply = f->reply;
    f->reply = NULL;
    f->want_id = 0;
    pthread_mutex_unlock(&f->lock);
    CCG_ENSURE_MSG(reply != NULL, CCG_R_ENDPOINT_EVIDENCE_UNAVAILABLE, "the agent did not answer the evidence request");
    CCG_TRY(parse_evidence(reply, out));
    result = CCG_SUCCESS;
cleanup:
    json_decref(reply);
    return result;
}

/* The answer to the request in flight; any other ID (a late answer) is dropped. */
static void deliver(front *f, json_t *m)
{
    const json_t *id = json_object_get(m, "id");
    pthread_mutex_lock(&f->lock);
    if (json_is_integer(id) && f->want_id != 0 && json_integer_value(id) == f->want_id && f->reply == NULL) {
        f->reply = json_incref(m);
        pthread_cond_broadcast(&f->answered);
    }
    pthread_mutex_unlock(&f->lock);
}

/* ---------------------------------------------------------------- the agent's messages */

static ccg_result write_port(const char *path, uint16_t port)
{
    char text[16];
    int n = snprintf(text, sizeof(text), "%u\n", port);
    return path == NULL ? CCG_SUCCESS : ccg_file_write(path, (const uint8_t *)text, (size_t)n);
}

/* {"op":"config","text":...}: the agent's configuration, parsed as strictly as the agent did. */
static ccg_result take_config(front *f, const json_t *m)
{
    ccg_result result = CCG_FAILURE;
    const json_t *text = json_object_get(m, "text");
    CCG_ENSURE_MSG(strcmp(op_of(m), "config") == 0 && json_is_string(text) && json_object_size(m) == 2,
                   CCG_R_AGENT_CONTROL_INVALID, "the first control message must be the configuration");
    CCG_TRY(ccg_agent_config_parse(json_string_value(text), json_string_length(text), &f->cfg));
    f->have_cfg = 1;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result open_status(front *f)
{
    ccg_result result = CCG_FAILURE;
    uint16_t port = 0;
    if (f->cfg.status_listen != NULL) {
        CCG_TRY(ccg_agent_status_start(f->cfg.status_listen, &f->status));
        port = ccg_agent_status_port(f->status);
        CCG_TRY(write_port(f->cfg.status_port_file, port));
    }
    ccg_log_eventf(CCG_LOG_INFO, "ready", NULL, "{s:i}", "status_port", (int)port);
    CCG_TRY(send_msg(f, json_pack("{s:s,s:i}", "op", "ready", "status_port", (int)port)));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result decode_ccel(const json_t *m, const char *name, uint8_t **out, size_t *len)
{
    ccg_result result = CCG_FAILURE;
    const json_t *v = json_object_get(m, name);
    if (v == NULL) {
        return CCG_SUCCESS;
    }
    CCG_ENSURE_MSG(json_is_string(v), CCG_R_AGENT_CONTROL_INVALID, "\"%s\" is not a string", name);
    CCG_TRY(ccg_b64url_decode(json_string_value(v), json_string_length(v), CCG_R_AGENT_CONTROL_INVALID, out, len));
    CCG_ENSURE_MSG(*len <= CCG_CTL_TO_FRONT_MAX / 2, CCG_R_AGENT_CONTROL_INVALID, "\"%s\" is too large", name);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* {"op":"serve"[,"ccel","ccel_data"]}: the runner listens; the inference endpoint opens. */
static ccg_result serve(front *f, const json_t *m)
{
    ccg_result result = CCG_FAILURE;
    ccg_endpoint_deps deps = {.evidence = remote_evidence, .evidence_ctx = f, .log_fd = -1};
    CCG_ENSURE_MSG(f->ep == NULL && f->cfg.endpoint != NULL, CCG_R_AGENT_CONTROL_INVALID,
                   "\"serve\" without an endpoint to serve");
    CCG_TRY(decode_ccel(m, "ccel", &f->ccel, &f->ccel_len));
    CCG_TRY(decode_ccel(m, "ccel_data", &f->ccel_data, &f->ccel_data_len));
    deps.ccel = f->ccel;
    deps.ccel_len = f->ccel_len;
    deps.ccel_data = f->ccel_data;
    deps.ccel_data_len = f->ccel_data_len;
    f->closing = 0;
    CCG_TRY(ccg_endpoint_start(f->cfg.endpoint, &deps, &f->ep));
    CCG_TRY(write_port(f->cfg.endpoint->port_file, ccg_endpoint_port(f->ep)));
    ccg_agent_status_set_endpoint(f->status, f->ep);
    CCG_TRY(send_msg(f, json_pack("{s:s,s:i}", "op", "serving", "port", (int)ccg_endpoint_port(f->ep))));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* No new requests; a request waiting for evidence is released first (it answers 503). */
static void unserve(front *f)
{
    pthread_mutex_lock(&f->lock);
    f->closing = 1;
    pthread_cond_broadcast(&f->answered);
    pthread_mutex_unlock(&f->lock);
    ccg_agent_status_set_endpoint(f->status, NULL);
    ccg_endpoint_stop(f->ep);
    f->ep = NULL;
}

/* One message of the agent; agent.control_invalid for anything unknown or malformed. */
static ccg_result dispatch(front *f, const json_t *m)
{
    ccg_result result = CCG_FAILURE;
    const char *op = op_of(m);
    if (strcmp(op, "status") == 0) {
        CCG_ENSURE_MSG(json_is_object(json_object_get(m, "status")), CCG_R_AGENT_CONTROL_INVALID,
                       "a status message without a status object");
        ccg_agent_status_publish_json(f->status, json_object_get(m, "status"));
    } else if (strcmp(op, "evidence") == 0) {
        deliver(f, (json_t *)m);
    } else if (strcmp(op, "serve") == 0) {
        CCG_TRY(serve(f, m));
    } else if (strcmp(op, "unserve") == 0) {
        unserve(f);
        CCG_TRY(send_msg(f, json_pack("{s:s}", "op", "unserved")));
    } else {
        CCG_BAIL(CCG_R_AGENT_CONTROL_INVALID, "an unknown control message \"%.32s\"", op);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* ---------------------------------------------------------------- the process */

static ccg_result harden(const front *f)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(ccg_agent_harden_process());
    if (f->cfg.seccomp) {
        /* before any thread: the filter binds the calling thread and the threads it starts */
        CCG_TRY(ccg_agent_seccomp_install(ccg_agent_sanitizer_build()));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Start-up: configuration, hardening, the status listener, "ready". */
static ccg_result start(front *f)
{
    ccg_result result = CCG_FAILURE;
    json_t *m = NULL;
    CCG_TRY(ccg_ctl_recv(&f->rd, CONFIG_TIMEOUT_MS, &m));
    CCG_ENSURE_MSG(m != NULL, CCG_R_AGENT_ENDPOINT_FAILED, "no configuration from the agent in time");
    CCG_TRY(take_config(f, m));
    CCG_TRY(harden(f));
    CCG_TRY(open_status(f));
    result = CCG_SUCCESS;
cleanup:
    json_decref(m);
    return result;
}

/* Tells the agent why this process stops (best effort) and logs it at error level. */
static void report_failure(front *f, const char *event)
{
    ccg_reason r = ccg_error_reason();
    char msg[320];
    snprintf(msg, sizeof(msg), "%s", ccg_error_last()->message);
    ccg_log_error_last(CCG_LOG_ERROR, event, NULL, NULL);
    if (r != CCG_R_AGENT_ENDPOINT_FAILED && r != CCG_R_AGENT_CONTROL_INVALID) {
        (void)send_msg(f, json_pack("{s:s,s:s,s:s}", "op", "failed", "reason", ccg_reason_code(r), "message", msg));
    }
    ccg_error_clear();
}

static int control_fd(const ccg_cli *cli, const char *text)
{
    int64_t fd = -1;
    struct stat st;
    if (text == NULL) {
        return ccg_cli_usage_error(cli, "no control channel: started by ccgate-agent, with $%s set", CCG_CTL_ENV);
    }
    if (ccg_cli_int(cli, "--control-fd", text, 3, 1 << 20, &fd) != 0) {
        return CCG_CLI_EXIT_2;
    }
    if (fstat((int)fd, &st) != 0 || !S_ISSOCK(st.st_mode)) {
        return ccg_cli_usage_error(cli, "descriptor %d is not a socket", (int)fd);
    }
    (void)fcntl((int)fd, F_SETFD, FD_CLOEXEC);
    return (int)fd;
}

enum { OPT_CONTROL_FD = 1 };

static int run(front *f)
{
    int rc = 0;
    json_t *m = NULL;
    if (ccg_failed(start(f))) {
        report_failure(f, "start_failed");
        return 1;
    }
    for (;;) {
        if (ccg_failed(ccg_ctl_recv(&f->rd, -1, &m))) {
            if (ccg_error_reason() == CCG_R_AGENT_ENDPOINT_FAILED) {
                ccg_log_eventf(CCG_LOG_INFO, "control.closed", NULL, "{s:s}", "note",
                               "the agent closed the control channel: stopping");
                ccg_error_clear();
            } else {
                report_failure(f, "control.refused");
                rc = 1;
            }
            break;
        }
        if (m != NULL && ccg_failed(dispatch(f, m))) {
            report_failure(f, ccg_error_reason() == CCG_R_AGENT_CONTROL_INVALID ? "control.refused" : "serve_failed");
            rc = 1;
            break;
        }
        json_decref(m);
        m = NULL;
    }
    json_decref(m);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"control-fd", required_argument, 0, OPT_CONTROL_FD}, CCG_CLI_STD_OPTIONS, {0, 0, 0, 0}};
    const ccg_cli cli = {.name = "ccgate-endpoint", .usage = usage, .options = options, .short_options = ""};
    const char *fd_text = getenv(CCG_CTL_ENV);
    pthread_condattr_t ca;
    front f;
    int c, rc;
    ccg_log_init("endpoint", STDERR_FILENO);
    ccg_cli_begin();
    while ((c = ccg_cli_next(&cli, argc, argv)) != CCG_CLI_END) {
        if (c != OPT_CONTROL_FD) {
            return ccg_cli_exit(c);
        }
        fd_text = optarg;
    }
    if (optind < argc) {
        return ccg_cli_exit(ccg_cli_usage_error(&cli, "unexpected argument '%s'", argv[optind]));
    }
    memset(&f, 0, sizeof(f));
    f.fd = control_fd(&cli, fd_text);
    if (f.fd < 0) {
        return ccg_cli_exit(f.fd);
    }
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL); /* the channel's EOF is the rule; this covers a wedged read */
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, SIG_IGN); /* the agent stops this process in order: unserve, then close the channel */
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    pthread_mutex_init(&f.wlock, NULL);
    pthread_mutex_init(&f.lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&f.answered, &ca);
    pthread_condattr_destroy(&ca);
    ccg_ctl_reader_init(&f.rd, f.fd, CCG_CTL_TO_FRONT_MAX);
    rc = run(&f);
    unserve(&f);
    ccg_agent_status_stop(f.status);
    if (f.have_cfg) {
        ccg_agent_config_free(&f.cfg);
    }
    json_decref(f.reply);
    free(f.ccel);
    free(f.ccel_data);
    ccg_ctl_reader_free(&f.rd);
    close(f.fd);
    pthread_cond_destroy(&f.answered);
    pthread_mutex_destroy(&f.lock);
    pthread_mutex_destroy(&f.wlock);
    return rc;
}
