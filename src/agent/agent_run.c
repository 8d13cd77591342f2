/* The agent's start sequence. Every step either succeeds or ends the start with a reason code:
 *
 *   harden -> ccgate-endpoint started (it serves the status; docs/agent.md, "Privilege separation")
 *   -> GPU (when required): NVML's CC state (the host's claim, an early
 *   signal) and the GPUs' ready state cleared -> open and verify the artifact header
 *   -> attesting: attester -> KBS auth -> every GPU's evidence over its session nonce -> attest (the
 *   CPU evidence binds the GPU evidence) -> resource (the key in secret memory)
 *   -> released: unseal into the memfd, zero the key at once, seal the memfd
 *   -> the GPUs' ready state set (only now do they accept work)
 *   -> serving: the model server with the inherited descriptor (with an "endpoint" section: the runner,
 *   and once it listens on its socket, the HTTPS endpoint served by ccgate-endpoint, whose evidence
 *   requests this process answers with this start's attester), until a stop signal, its exit or the
 *   front's; then the ready state is cleared again.
 *
 * No key is cached anywhere: each start attests again, so a key the provider disabled stops the next
 * start with key.disabled. */
#include "agent_internal.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ccgate/artifact.h"
#include "ccgate/error.h"
#include "ccgate/progress.h"
#include "ccgate/util.h"

typedef struct {
    const ccg_agent_config *cfg;
    ccg_agent_status st;
    ccg_agent_front *front; /* ccgate-endpoint: /status and the inference endpoint (NULL = neither configured) */
    int front_dead;         /* its channel failed: nothing more is sent or read */
    ccg_progress *term;     /* the fetch-and-unseal line on a terminal (none when stderr is not one) */
    ccg_agent_gpu *gpu; /* NULL unless the configuration requires GPUs */
    ccg_attester *att;  /* kept open: the endpoint's evidence comes from it */
    int endpoint_serving;
    ccg_agent_ccel ccel; /* TDX: what the endpoint's evidence carries, alive as long as the endpoint */
    int stop_fd;
} agent;

static void publish(agent *a, const char *level, const char *event)
{
    ccg_agent_log(&a->st, level, event, NULL);
    if (!a->front_dead) {
        ccg_agent_front_publish(a->front, &a->st);
    }
}

/* The front's requests answered, and its failure (gone, or a refused message) noticed. */
static ccg_result front_check(agent *a, int timeout_ms)
{
    ccg_result result = CCG_FAILURE;
    if (a->front == NULL || a->front_dead) {
        CCG_ENSURE_MSG(!a->front_dead, CCG_R_AGENT_ENDPOINT_FAILED, "ccgate-endpoint is gone");
        return CCG_SUCCESS;
    }
    result = ccg_agent_front_poll(a->front, timeout_ms);
    if (ccg_failed(result)) {
        a->front_dead = 1;
        a->st.endpoint_pid = 0;
    }
cleanup:
    return result;
}

static void set_state(agent *a, ccg_agent_state s, const char *event)
{
    a->st.state = s;
    publish(a, "info", event);
}

/* Waits up to ms for the stop descriptor; 1 when a stop was asked. */
static int stop_requested(int stop_fd, int ms)
{
    struct pollfd p = {.fd = stop_fd, .events = POLLIN};
    if (stop_fd < 0) {
        if (ms > 0) {
            usleep((useconds_t)ms * 1000u);
        }
        return 0;
    }
    return poll(&p, 1, ms) > 0;
}

/* 1 when a stop was asked within ms, answering the front meanwhile; -1 when the front failed (the error
 * is set). */
static int wait_stop(agent *a, int ms)
{
    struct timespec t0, t;
    if (a->front == NULL || a->front_dead) {
        return stop_requested(a->stop_fd, ms);
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        long left;
        if (stop_requested(a->stop_fd, 0)) {
            return 1;
        }
        clock_gettime(CLOCK_MONOTONIC, &t);
        left = ms - ((t.tv_sec - t0.tv_sec) * 1000L + (t.tv_nsec - t0.tv_nsec) / 1000000L);
        if (left <= 0) {
            return 0;
        }
        if (ccg_failed(front_check(a, left < 50 ? (int)left : 50))) {
            return -1;
        }
    }
}

/* ccgate-endpoint serves /status from now on (step 2: before any attestation). */
static ccg_result start_front(agent *a)
{
    ccg_result result = CCG_FAILURE;
    if (a->cfg->status_listen == NULL && a->cfg->endpoint == NULL) {
        return CCG_SUCCESS;
    }
    CCG_TRY(ccg_agent_front_start(a->cfg, &a->front));
    a->st.endpoint_pid = ccg_agent_front_pid(a->front);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result check_gpu(agent *a)
{
    ccg_result result = CCG_FAILURE;
    if (!a->cfg->require_gpu) {
        snprintf(a->st.gpu, sizeof(a->st.gpu), "not required");
        return CCG_SUCCESS;
    }
    a->st.gpu_required = 1;
    snprintf(a->st.gpu, sizeof(a->st.gpu), "nvml=unavailable");
    CCG_TRY(ccg_agent_gpu_open(a->cfg->nvml_library, &a->gpu));
    /* The host's claim: it fails early without a GPU or with DevTools on; CC off goes to the broker with
     * the evidence, which refuses it where the operator sees it. The broker judges the signed evidence. */
    CCG_TRY(ccg_agent_gpu_host_claim(a->gpu, a->st.gpu, sizeof(a->st.gpu)));
    ccg_agent_log(&a->st, "info", "gpu.host_claim",
                  "NVML's CC state is the host's claim, not evidence: each GPU's signed report goes to the broker");
    /* No work before this start's key is released, whatever an earlier start left behind. Without CC
     * mode NVML has no ready state: there is nothing to clear, and it is never set. */
    if (!ccg_agent_gpu_host_cc_off(a->gpu)) {
        CCG_TRY(ccg_agent_gpu_set_ready(a->gpu, 0));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The key is released and the model is in sealed memory: only now may the GPUs accept work. */
static ccg_result gpu_ready(agent *a)
{
    ccg_result result = CCG_FAILURE;
    if (a->gpu == NULL) {
        return CCG_SUCCESS;
    }
    CCG_TRY(ccg_agent_gpu_set_ready(a->gpu, 1));
    a->st.gpu_ready = 1;
    publish(a, "info", "gpu.ready");
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* After serving (or a failure once ready): the GPUs stop accepting work until the next start attests. */
static void gpu_not_ready(agent *a)
{
    if (a->gpu == NULL || !a->st.gpu_ready) {
        return;
    }
    a->st.gpu_ready = 0;
    if (ccg_failed(ccg_agent_gpu_set_ready(a->gpu, 0))) {
        ccg_agent_log(&a->st, "warning", "gpu.ready_state_failed", ccg_error_last()->message);
        ccg_error_clear();
        return;
    }
    ccg_agent_log(&a->st, "info", "gpu.not_ready", NULL);
}

/* The header names the key the agent is configured for. */
static ccg_result open_artifact(agent *a, ccg_artifact **art, uint32_t *version)
{
    ccg_result result = CCG_FAILURE;
    ccg_artifact_open_opts opts = {.provider_key_path = a->cfg->provider_key,
                                   .ca_file = a->cfg->artifact_ca_file,
                                   .timeout_seconds = a->cfg->broker_timeout};
    const ccg_artifact_header *h;
    CCG_TRY(ccg_artifact_open(a->cfg->artifact, &opts, art));
    h = ccg_artifact_header_of(*art);
    CCG_ENSURE_MSG(strcmp(h->key_id, a->cfg->key_id) == 0, CCG_R_AGENT_KEY_MISMATCH,
                   "the artifact is sealed under key \"%.100s\", the agent is configured for \"%.100s\"", h->key_id,
                   a->cfg->key_id);
    CCG_ENSURE_MSG(a->cfg->key_version == 0 || h->key_version == a->cfg->key_version, CCG_R_AGENT_KEY_MISMATCH,
                   "the artifact is sealed under key version %u, the agent expects version %u", h->key_version,
                   a->cfg->key_version);
    *version = h->key_version;
    a->st.key_version = h->key_version;
    a->st.model_len = h->plaintext_len;
    a->st.model_chunk_size = h->chunk_size;
    ccg_hex_encode(h->plaintext_digest, CCG_ARTIFACT_DIGEST_LEN, a->st.model_digest);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The key of the artifact's version: a broker that rotated since refuses it as key.retired (exit 12),
 * never hands over another version that would fail as artifact.key_invalid. */
static ccg_result fetch_key(agent *a, ccg_secbuf *key, uint32_t version)
{
    ccg_result result = CCG_FAILURE;
    ccg_attester_config acfg = {.kind = a->cfg->attester,
                                .tsm_root = a->cfg->tsm_root,
                                .sev_guest_path = a->cfg->sev_guest_path,
                                .emulator_dir = a->cfg->emulator_dir,
                                .vmpl = a->cfg->vmpl};
    ccg_agent_kbs_info info;
    memset(&info, 0, sizeof(info));
    CCG_TRY(ccg_attester_open(&acfg, &a->att));
    snprintf(a->st.attester, sizeof(a->st.attester), "%s", ccg_attester_name(a->att));
    if (a->cfg->attester == CCG_ATTESTER_EMULATOR) {
        ccg_agent_log(&a->st, "warning", "attester.emulator",
                      "evidence comes from a software TEE (the SNP or TDX emulator), a test root: "
                      "for tests and demos only");
    }
    result = ccg_agent_kbs_fetch(a->cfg, a->att, a->gpu, version, key, &info);
    a->st.gpus_attested = info.gpus_attested;
    snprintf(a->st.request_id, sizeof(a->st.request_id), "%s", info.request_id);
    if (info.policy_id[0] != 0) {
        snprintf(a->st.policy_id, sizeof(a->st.policy_id), "%s", info.policy_id);
        a->st.policy_version = info.policy_version;
    }
cleanup:
    return result;
}

/* Unseal progress on /status (bytes_done of bytes_total), from every decryption thread: republished
 * each 1/64 of the model by whichever thread holds the lock (the others skip); the main thread is
 * inside the unseal meanwhile, so nothing else writes a->st. */
static pthread_mutex_t g_progress_lock = PTHREAD_MUTEX_INITIALIZER;
static void unseal_progress(void *ctx, uint64_t done, uint64_t total)
{
    agent *a = ctx;
    ccg_progress_update(a->term, done); /* thread-safe; draws only on a terminal */
    if (pthread_mutex_trylock(&g_progress_lock) == 0) {
        if (done > a->st.bytes_done && (done - a->st.bytes_done >= total / 64 || done == total)) {
            a->st.bytes_done = done;
            if (!a->front_dead) {
                ccg_agent_front_publish(a->front, &a->st); /* one writer: the main thread is in the unseal */
            }
        }
        pthread_mutex_unlock(&g_progress_lock);
    }
}

/* Unseals into a fresh memfd and seals it; the key is zeroed here whatever happens. */
static ccg_result unseal(agent *a, ccg_artifact *art, ccg_secbuf *key, uint32_t version, ccg_agent_memfd *m)
{
    ccg_result result = CCG_FAILURE, unsealed;
    size_t len = (size_t)ccg_artifact_header_of(art)->plaintext_len;
    CCG_TRY(ccg_agent_memfd_create(len, a->cfg->memlock, m));
    a->st.bytes_total = len;
    {
        /* on a terminal, a person watches gigabytes arrive: the same line as `ccgate unseal` draws */
        ccg_progress_opts po = {.label = "fetch+unseal", .mode = CCG_PROGRESS_AUTO};
        CCG_TRY(ccg_progress_new(&po, len, &a->term));
    }
    ccg_artifact_set_progress(art, unseal_progress, a);
    unsealed = ccg_artifact_unseal_into(art, key->data, key->len, version, m->map, m->len, a->cfg->unseal_threads);
    ccg_progress_finish(a->term, ccg_ok(unsealed));
    ccg_progress_free(a->term);
    a->term = NULL;
    CCG_TRY(unsealed);
    a->st.bytes_done = len;
    ccg_secbuf_free(key);
    CCG_TRY(ccg_agent_memfd_seal(m));
    snprintf(a->st.memory, sizeof(a->st.memory), "%s", m->locked ? "locked" : "unlocked");
    result = CCG_SUCCESS;
cleanup:
    ccg_secbuf_free(key);
    return result;
}

/* The runner exited while the endpoint serves. The endpoint stays up, so callers get the reason
 * (503 endpoint.runner_unavailable, /readyz 503) rather than a refused connection, and a supervisor sees
 * the failure on /status and in the log. A stop request then ends the start with the runner's failure
 * (agent.server_failed), or with success when the runner had exited 0. */
static void runner_gone(agent *a, pid_t pid, int status)
{
    ccg_result failed = agent_server_status(pid, status);
    a->st.server_pid = 0;
    if (ccg_ok(failed)) {
        ccg_agent_log(&a->st, "warning", "runner.exited",
                      "the runner exited: the endpoint answers 503 endpoint.runner_unavailable until the agent stops");
    } else {
        a->st.reason = ccg_error_reason();
        snprintf(a->st.message, sizeof(a->st.message), "%s", ccg_error_last()->message);
        a->st.state = CCG_AGENT_FAILED;
        publish(a, "error", "runner.failed");
    }
    ccg_error_clear();
    while (a->stop_fd >= 0 && wait_stop(a, 1000) == 0) {
    }
}

/* Serving until a stop request (0) or the server's own exit. */
static ccg_result serve(agent *a, const ccg_agent_memfd *m)
{
    ccg_result result = CCG_FAILURE;
    pid_t pid = 0;
    int status = 0;
    if (a->cfg->endpoint != NULL) {
        (void)unlink(a->cfg->endpoint->runner_socket); /* a stale socket must not pass for the runner's */
    }
    CCG_TRY(agent_server_start(a->cfg, m, &a->st, &pid));
    a->st.server_pid = pid;
    if (a->cfg->endpoint != NULL) {
        int stopped = 0;
        if (ccg_failed(agent_runner_wait(a->cfg, pid, a->stop_fd, &stopped, &status))) {
            if (waitpid(pid, &status, WNOHANG) == 0) {
                (void)agent_server_stop(pid);
            }
            goto cleanup;
        }
        if (stopped) {
            (void)agent_server_stop(pid);
            result = CCG_SUCCESS;
            goto cleanup;
        }
        a->endpoint_serving = 1;
        if (ccg_failed(agent_endpoint_start(a->cfg, a->att, a->front, &a->st, &a->ccel))) {
            (void)agent_server_stop(pid);
            goto cleanup;
        }
    }
    set_state(a, CCG_AGENT_SERVING, "serving");
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        int w;
        if (r == pid && a->endpoint_serving) {
            runner_gone(a, pid, status);
            if (a->st.reason != CCG_R_OK) {
                CCG_BAIL(a->st.reason, "%s", a->st.message); /* the failure this start ends with */
            }
            break;
        }
        if (r == pid) {
            CCG_TRY(agent_server_status(pid, status));
            break;
        }
        w = wait_stop(a, 200);
        if (w < 0) {
            /* the front died or misbehaved: like the model server failing, the start ends */
            (void)agent_server_stop(pid);
            goto cleanup;
        }
        if (w > 0) {
            ccg_agent_front_unserve(a->front); /* no new requests, then the runner */
            a->endpoint_serving = 0;
            status = agent_server_stop(pid);
            break;
        }
    }
    result = CCG_SUCCESS;
cleanup:
    if (a->endpoint_serving && !a->front_dead) {
        ccg_agent_front_unserve(a->front);
    }
    a->endpoint_serving = 0;
    a->st.endpoint_port = 0;
    free(a->ccel.table);
    free(a->ccel.log);
    memset(&a->ccel, 0, sizeof(a->ccel));
    return result;
}

static ccg_result run_steps(agent *a)
{
    ccg_result result = CCG_FAILURE;
    ccg_artifact *art = NULL;
    ccg_secbuf key = {0};
    ccg_agent_memfd m = {.fd = -1};
    uint32_t version = 0;
    if (a->cfg->seccomp) {
        /* Before any thread exists: a seccomp filter binds only the calling thread and its children. */
        CCG_TRY(ccg_agent_seccomp_install(ccg_agent_sanitizer_build()));
    }
    CCG_TRY(start_front(a));
    publish(a, "info", "starting");
    CCG_TRY(check_gpu(a));
    CCG_TRY(open_artifact(a, &art, &version));
    CCG_TRY(front_check(a, 0));
    set_state(a, CCG_AGENT_ATTESTING, "attesting");
    CCG_TRY(fetch_key(a, &key, version));
    CCG_TRY(front_check(a, 0));
    /* A broker whose policy did not appraise the GPUs released the key though the host says CC off: the
     * model is never unsealed for GPUs outside CC mode. */
    CCG_ENSURE_MSG(!ccg_agent_gpu_host_cc_off(a->gpu), CCG_R_GPU_CC_MODE_OFF,
                   "the key was released but the host reports CC mode off (%s): the model is not unsealed",
                   a->st.gpu);
    set_state(a, CCG_AGENT_RELEASED, "key.released");
    CCG_TRY(unseal(a, art, &key, version, &m));
    ccg_artifact_close(art);
    art = NULL;
    CCG_TRY(front_check(a, 0));
    CCG_TRY(gpu_ready(a));
    CCG_TRY(serve(a, &m));
    result = CCG_SUCCESS;
cleanup:
    ccg_secbuf_free(&key);
    ccg_artifact_close(art);
    ccg_agent_memfd_close(&m);
    return result;
}

int ccg_agent_run(const ccg_agent_config *cfg, int stop_fd)
{
    agent a;
    memset(&a, 0, sizeof(a));
    a.cfg = cfg;
    a.stop_fd = stop_fd;
    ccg_error_clear();
    snprintf(a.st.key_id, sizeof(a.st.key_id), "%s", cfg->key_id);
    snprintf(a.st.memory, sizeof(a.st.memory), "%s", "none");
    if (cfg->insecure_http) {
        ccg_agent_log(&a.st, "warning", "broker.insecure_http",
                      "the broker is reached over PLAIN HTTP: for tests only, never in production");
    }
    if (ccg_failed(ccg_agent_harden_process()) || ccg_failed(run_steps(&a))) {
        a.st.reason = ccg_error_reason();
        snprintf(a.st.message, sizeof(a.st.message), "%s", ccg_error_last()->message);
        gpu_not_ready(&a);
        ccg_agent_gpu_close(a.gpu);
        a.st.state = CCG_AGENT_FAILED;
        a.st.server_pid = 0;
        a.st.endpoint_pid = a.front_dead ? 0 : a.st.endpoint_pid;
        publish(&a, "error", "failed");
        ccg_error_clear(); /* published; what follows has errors of its own */
        if (a.front != NULL && !a.front_dead && cfg->status_linger > 0) {
            /* Keeps answering "failed" for a supervisor that polls, until the time is up, a stop, or the
             * front's end. */
            if (wait_stop(&a, (int)cfg->status_linger * 1000) < 0) {
                char note[400];
                snprintf(note, sizeof(note), "%s: %s", ccg_reason_code(ccg_error_reason()), ccg_error_last()->message);
                ccg_agent_log(&a.st, "error", "endpoint.exited", note);
                ccg_error_clear();
            }
        }
        ccg_agent_front_stop(a.front);
        ccg_attester_close(a.att);
        return ccg_agent_exit_status(a.st.reason);
    }
    gpu_not_ready(&a);
    ccg_agent_gpu_close(a.gpu);
    a.st.state = CCG_AGENT_STOPPED;
    a.st.server_pid = 0;
    publish(&a, "info", "stopped");
    ccg_agent_front_stop(a.front);
    ccg_attester_close(a.att);
    return CCG_AGENT_EXIT_OK;
}
