/* ccgate-endpoint, seen from the agent (docs/agent.md, "Privilege separation"). The network-facing work
 * (GET /status and the HTTPS inference endpoint, libmicrohttpd and TLS parsing) runs in that separate
 * process; this one keeps the key broker exchange, the key, the model memory and the attester.
 *
 * What the front may ask: evidence for a 64-byte REPORT_DATA, one request at a time, at most
 * EVIDENCE_BURST at once and EVIDENCE_PER_S on average. Every other message from it is refused (the
 * channel is closed and the agent fails with agent.control_invalid). */
#include "agent_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ccgate/error.h"
#include "ccgate/jose.h"
#include "ccgate/util.h"

#ifndef CCG_FRONT_FROM_BIN
#define CCG_FRONT_FROM_BIN "../libexec/ccgate" /* the installed layout, relative to the agent's directory */
#endif
#define FRONT_FD 3               /* the control socket's number in the front */
#define READY_TIMEOUT_MS 15000   /* start-up: exec, configuration, the status listener */
#define SEND_TIMEOUT_MS 5000
#define POLL_BATCH 16             /* messages handled per poll */
#define EVIDENCE_PER_S 10.0      /* the agent's own cap, whatever the front's per-address limits say */
#define EVIDENCE_BURST 20.0

struct ccg_agent_front {
    pid_t pid;
    int fd;
    ccg_ctl_reader rd;
    ccg_attester *att;
    double tokens;
    uint64_t tokens_ms;
    int serving;
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static ccg_result exists_exec(const char *path)
{
    return access(path, X_OK) == 0 ? CCG_SUCCESS : CCG_FAILURE;
}

ccg_result ccg_agent_front_find(const ccg_agent_config *cfg, char **out)
{
    ccg_result result = CCG_FAILURE;
    char self[PATH_MAX], cand[PATH_MAX + 256];
    ssize_t n;
    char *slash;
    if (cfg->endpoint_program != NULL) {
        CCG_ENSURE_MSG(ccg_ok(exists_exec(cfg->endpoint_program)), CCG_R_AGENT_ENDPOINT_FAILED,
                       "\"endpoint_program\" %.200s is not an executable file", cfg->endpoint_program);
        *out = strdup(cfg->endpoint_program);
        CCG_ENSURE_ALLOC(*out);
        return CCG_SUCCESS;
    }
    n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    CCG_ENSURE_MSG(n > 0, CCG_R_AGENT_ENDPOINT_FAILED, "readlink(/proc/self/exe): %s", strerror(errno));
    self[n] = 0;
    slash = strrchr(self, '/');
    CCG_ENSURE_MSG(slash != NULL, CCG_R_AGENT_ENDPOINT_FAILED, "/proc/self/exe is not a path");
    *slash = 0;
    /* the build tree (beside the agent), then the installed layout (bin/../libexec/ccgate) */
    snprintf(cand, sizeof(cand), "%.*s/ccgate-endpoint", (int)(PATH_MAX - 1), self);
    if (ccg_failed(exists_exec(cand))) {
        snprintf(cand, sizeof(cand), "%.*s/" CCG_FRONT_FROM_BIN "/ccgate-endpoint", (int)(PATH_MAX - 1), self);
        CCG_ENSURE_MSG(ccg_ok(exists_exec(cand)), CCG_R_AGENT_ENDPOINT_FAILED,
                       "ccgate-endpoint is neither in %.200s nor in %.200s/" CCG_FRONT_FROM_BIN, self, self);
    }
    *out = strdup(cand);
    CCG_ENSURE_ALLOC(*out);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The child: the control socket becomes descriptor 3 (inherited), everything else of ours is CLOEXEC. */
static void exec_front(const char *path, int fd)
{
    char num[16];
    if (fd != FRONT_FD) {
        if (dup2(fd, FRONT_FD) < 0) {
            _exit(127);
        }
    } else if (fcntl(fd, F_SETFD, 0) != 0) {
        _exit(127);
    }
    snprintf(num, sizeof(num), "%d", FRONT_FD);
    if (setenv(CCG_CTL_ENV, num, 1) != 0) {
        _exit(127);
    }
    execl(path, "ccgate-endpoint", (char *)NULL);
    _exit(127);
}

/* The front's "failed": its reason when it names a known code (a code is all it can choose). */
static ccg_result front_failed(const json_t *m)
{
    ccg_result result = CCG_FAILURE;
    const char *code = json_string_value(json_object_get(m, "reason"));
    const char *msg = json_string_value(json_object_get(m, "message"));
    ccg_reason r = code != NULL ? ccg_reason_from_code(code) : CCG_R__COUNT;
    if (r >= CCG_R__COUNT || r == CCG_R_OK) {
        r = CCG_R_AGENT_ENDPOINT_FAILED;
    }
    CCG_BAIL(r, "ccgate-endpoint: %.250s", msg != NULL ? msg : "failed");
cleanup:
    return result;
}

static const char *op_of(const json_t *m) { return json_string_value(json_object_get(m, "op")); }

/* Waits for a message named want; "failed" is the front's own failure; evidence requests are answered
 * meanwhile; anything else is refused. */
static ccg_result expect(ccg_agent_front *f, const char *want, int timeout_ms, json_t **out);

ccg_result ccg_agent_front_start(const ccg_agent_config *cfg, ccg_agent_front **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_agent_front *f = calloc(1, sizeof(*f));
    char *path = NULL;
    int sv[2] = {-1, -1};
    json_t *msg = NULL, *ready = NULL;
    CCG_ENSURE_ALLOC(f);
    f->fd = -1;
    f->tokens = EVIDENCE_BURST;
    f->tokens_ms = mono_ms();
    CCG_TRY(ccg_agent_front_find(cfg, &path));
    CCG_ENSURE_MSG(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, CCG_R_AGENT_ENDPOINT_FAILED,
                   "socketpair: %s", strerror(errno));
    f->pid = fork();
    CCG_ENSURE_MSG(f->pid >= 0, CCG_R_AGENT_ENDPOINT_FAILED, "fork: %s", strerror(errno));
    if (f->pid == 0) {
        exec_front(path, sv[1]);
    }
    close(sv[1]);
    sv[1] = -1;
    f->fd = sv[0];
    sv[0] = -1;
    ccg_ctl_reader_init(&f->rd, f->fd, CCG_CTL_TO_AGENT_MAX);
    msg = json_pack("{s:s,s:s%}", "op", "config", "text", cfg->source != NULL ? cfg->source : "",
                    cfg->source != NULL ? cfg->source_len : (size_t)0);
    CCG_ENSURE_ALLOC(msg);
    CCG_TRY(ccg_ctl_send(f->fd, msg, SEND_TIMEOUT_MS));
    CCG_TRY(expect(f, "ready", READY_TIMEOUT_MS, &ready));
    *out = f;
    f = NULL;
    result = CCG_SUCCESS;
cleanup:
    if (sv[0] >= 0) {
        close(sv[0]);
    }
    if (sv[1] >= 0) {
        close(sv[1]);
    }
    json_decref(msg);
    json_decref(ready);
    free(path);
    ccg_agent_front_stop(f);
    return result;
}

pid_t ccg_agent_front_pid(const ccg_agent_front *f) { return f != NULL ? f->pid : 0; }

void ccg_agent_front_set_attester(ccg_agent_front *f, ccg_attester *att)
{
    if (f != NULL) {
        f->att = att;
    }
}

void ccg_agent_front_publish(ccg_agent_front *f, const ccg_agent_status *st)
{
    json_t *status, *msg;
    if (f == NULL || f->fd < 0) {
        return;
    }
    status = ccg_agent_status_json(st);
    msg = status != NULL ? json_pack("{s:s,s:o}", "op", "status", "status", status) : NULL;
    if (msg != NULL && ccg_failed(ccg_ctl_send(f->fd, msg, 1000))) {
        /* a front that reads nothing for a second is stuck, and a line may be cut: the channel is closed,
         * and the next poll reports the front as failed */
        ccg_error_clear();
        shutdown(f->fd, SHUT_RDWR);
    }
    json_decref(msg);
}

/* The agent's own rate for evidence (a compromised front cannot make the attester work flat out). */
static int take_token(ccg_agent_front *f)
{
    uint64_t now = mono_ms();
    f->tokens += (double)(now - f->tokens_ms) / 1000.0 * EVIDENCE_PER_S;
    f->tokens_ms = now;
    if (f->tokens > EVIDENCE_BURST) {
        f->tokens = EVIDENCE_BURST;
    }
    if (f->tokens < 1.0) {
        return 0;
    }
    f->tokens -= 1.0;
    return 1;
}

static ccg_result evidence_reply(const ccg_evidence *ev, json_int_t id, json_t **out)
{
    ccg_result result = CCG_FAILURE;
    char *report = ccg_b64url_encode(ev->report, ev->report_len);
    char *certs = ev->certs != NULL ? ccg_b64url_encode(ev->certs, ev->certs_len) : NULL;
    CCG_ENSURE_ALLOC(report);
    CCG_ENSURE(certs != NULL || ev->certs == NULL, CCG_R_INTERNAL_OUT_OF_MEMORY);
    /* certs only when the TEE gave a certificate table (SNP extended reports; a TDX quote carries its own) */
    *out = json_pack("{s:s,s:I,s:s,s:s,s:s*}", "op", "evidence", "id", id, "tee",
                     ev->tee == CCG_TEE_TDX ? "tdx" : "snp", "report", report, "certs", certs);
    CCG_ENSURE_ALLOC(*out);
    result = CCG_SUCCESS;
cleanup:
    free(report);
    free(certs);
    return result;
}

/* {"op":"evidence","id":N,"report_data":"<128 hex>"}: exactly these members. */
static ccg_result answer_evidence(ccg_agent_front *f, const json_t *m)
{
    ccg_result result = CCG_FAILURE;
    const json_t *id = json_object_get(m, "id");
    const char *rd_hex = json_string_value(json_object_get(m, "report_data"));
    uint8_t rd[CCG_ATTESTER_REPORT_DATA_LEN];
    ccg_evidence ev;
    json_t *reply = NULL;
    memset(&ev, 0, sizeof(ev));
    CCG_ENSURE_MSG(json_object_size(m) == 3 && json_is_integer(id) && json_integer_value(id) >= 0 &&
                       rd_hex != NULL && strlen(rd_hex) == 2 * sizeof(rd),
                   CCG_R_AGENT_CONTROL_INVALID, "a malformed evidence request");
    if (ccg_failed(ccg_hex_decode_exact(rd_hex, rd, sizeof(rd)))) {
        ccg_error_clear();
        CCG_BAIL(CCG_R_AGENT_CONTROL_INVALID, "an evidence request whose report_data is not hex");
    }
    ccg_error_clear();
    if (f->att == NULL || !f->serving || !take_token(f) || ccg_failed(ccg_attester_get_evidence(f->att, rd, &ev))) {
        /* refused, not fatal: the front answers its caller 503 endpoint.evidence_unavailable */
        ccg_reason r = ccg_error_reason() != CCG_R_OK ? ccg_error_reason() : CCG_R_ENDPOINT_EVIDENCE_UNAVAILABLE;
        reply = json_pack("{s:s,s:I,s:s}", "op", "evidence", "id", json_integer_value(id), "reason",
                          ccg_reason_code(r));
        ccg_error_clear();
    } else {
        CCG_TRY(evidence_reply(&ev, json_integer_value(id), &reply));
    }
    CCG_ENSURE_ALLOC(reply);
    CCG_TRY(ccg_ctl_send(f->fd, reply, SEND_TIMEOUT_MS));
    result = CCG_SUCCESS;
cleanup:
    json_decref(reply);
    ccg_evidence_free(&ev);
    return result;
}

/* One message from the front: evidence is answered; want (may be NULL) is returned in *out. */
static ccg_result handle(ccg_agent_front *f, json_t *m, const char *want, json_t **out)
{
    ccg_result result = CCG_FAILURE;
    const char *op = op_of(m);
    if (strcmp(op, "evidence") == 0) {
        CCG_TRY(answer_evidence(f, m));
    } else if (strcmp(op, "failed") == 0) {
        CCG_TRY(front_failed(m));
    } else {
        CCG_ENSURE_MSG(want != NULL && strcmp(op, want) == 0, CCG_R_AGENT_CONTROL_INVALID,
                       "ccgate-endpoint sent \"%.32s\" out of turn", op);
        *out = json_incref(m);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Any failure closes the channel: the front exits on EOF, and nothing more is read from it. */
static ccg_result closed_on_failure(ccg_agent_front *f, ccg_result r)
{
    if (ccg_failed(r) && f->fd >= 0) {
        shutdown(f->fd, SHUT_RDWR);
    }
    return r;
}

static ccg_result expect(ccg_agent_front *f, const char *want, int timeout_ms, json_t **out)
{
    ccg_result result = CCG_FAILURE;
    uint64_t end = mono_ms() + (uint64_t)timeout_ms;
    json_t *m = NULL;
    *out = NULL;
    CCG_ENSURE_MSG(f->fd >= 0, CCG_R_AGENT_ENDPOINT_FAILED, "ccgate-endpoint is gone");
    while (*out == NULL) {
        uint64_t now = mono_ms();
        CCG_ENSURE_MSG(now < end, CCG_R_AGENT_ENDPOINT_FAILED, "ccgate-endpoint did not answer \"%s\" in time",
                       want);
        CCG_TRY(ccg_ctl_recv(&f->rd, (int)(end - now), &m));
        if (m != NULL) {
            CCG_TRY(handle(f, m, want, out));
            json_decref(m);
            m = NULL;
        }
    }
    result = CCG_SUCCESS;
cleanup:
    json_decref(m);
    return closed_on_failure(f, result);
}

ccg_result ccg_agent_front_poll(ccg_agent_front *f, int timeout_ms)
{
    ccg_result result = CCG_FAILURE;
    json_t *m = NULL, *unused = NULL;
    if (f == NULL) {
        return CCG_SUCCESS;
    }
    CCG_ENSURE_MSG(f->fd >= 0, CCG_R_AGENT_ENDPOINT_FAILED, "ccgate-endpoint is gone");
    CCG_TRY(ccg_ctl_recv(&f->rd, timeout_ms, &m));
    /* at most POLL_BATCH messages per call: a front that floods the channel cannot keep the agent from
     * its stop signal and its runner */
    for (int n = 0; m != NULL; n++) {
        CCG_TRY(handle(f, m, NULL, &unused));
        json_decref(m);
        m = NULL;
        if (n + 1 < POLL_BATCH) {
            CCG_TRY(ccg_ctl_recv(&f->rd, 0, &m));
        }
    }
    result = CCG_SUCCESS;
cleanup:
    json_decref(m);
    return closed_on_failure(f, result);
}

ccg_result ccg_agent_front_serve(ccg_agent_front *f, const uint8_t *ccel, size_t ccel_len, const uint8_t *ccel_data,
                                 size_t ccel_data_len, uint16_t *port)
{
    ccg_result result = CCG_FAILURE;
    json_t *msg = json_pack("{s:s}", "op", "serve"), *ans = NULL;
    char *a = NULL, *b = NULL;
    json_int_t p;
    CCG_ENSURE_ALLOC(msg);
    if (ccel != NULL) {
        a = ccg_b64url_encode(ccel, ccel_len);
        CCG_ENSURE_ALLOC(a);
        json_object_set_new(msg, "ccel", json_string(a));
    }
    if (ccel_data != NULL) {
        b = ccg_b64url_encode(ccel_data, ccel_data_len);
        CCG_ENSURE_ALLOC(b);
        json_object_set_new(msg, "ccel_data", json_string(b));
    }
    f->serving = 1;
    CCG_TRY(closed_on_failure(f, ccg_ctl_send(f->fd, msg, SEND_TIMEOUT_MS)));
    CCG_TRY(expect(f, "serving", READY_TIMEOUT_MS, &ans));
    p = json_integer_value(json_object_get(ans, "port"));
    CCG_ENSURE_MSG(json_is_integer(json_object_get(ans, "port")) && p > 0 && p <= 65535,
                   CCG_R_AGENT_CONTROL_INVALID, "ccgate-endpoint's \"serving\" has no port");
    *port = (uint16_t)p;
    result = CCG_SUCCESS;
cleanup:
    free(a);
    free(b);
    json_decref(msg);
    json_decref(ans);
    return result;
}

void ccg_agent_front_unserve(ccg_agent_front *f)
{
    json_t *msg, *ans = NULL;
    if (f == NULL || f->fd < 0 || !f->serving) {
        return;
    }
    f->serving = 0;
    msg = json_pack("{s:s}", "op", "unserve");
    if (msg == NULL || ccg_failed(ccg_ctl_send(f->fd, msg, SEND_TIMEOUT_MS)) ||
        ccg_failed(expect(f, "unserved", 5000, &ans))) {
        ccg_error_clear(); /* the runner is stopped next anyway, and the front exits with the agent */
    }
    json_decref(msg);
    json_decref(ans);
}

void ccg_agent_front_stop(ccg_agent_front *f)
{
    int status;
    if (f == NULL) {
        return;
    }
    if (f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
    }
    if (f->pid > 0) {
        for (int i = 0; i < 100 && waitpid(f->pid, &status, WNOHANG) == 0; i++) {
            usleep(50 * 1000);
            if (i == 99) {
                kill(f->pid, SIGKILL);
                (void)waitpid(f->pid, &status, 0);
            }
        }
    }
    ccg_ctl_reader_free(&f->rd);
    free(f);
}
