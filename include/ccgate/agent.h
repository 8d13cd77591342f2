/* The guest agent (`ccgate-agent`, docs/agent.md): inside the confidential VM it attests to the key
 * broker, receives the model key in memory only, unseals the model into a sealed memfd and starts the
 * model server with that descriptor. Every failure fails closed with a reason code, a JSON log line, the
 * status endpoint's "failed" state and a distinct exit status.
 *
 *   agent_config.c  the JSON configuration          kbs_client.c  KBS 0.4.0 auth -> attest -> resource
 *   memfd.c         the sealed in-memory model        harden.c      dumpable, cores, no_new_privs, seccomp
 *   gpu_nvml.c      NVML: CC state, ready state       status.c      GET /status (libmicrohttpd; in ccgate-endpoint)
 *   gpu_evidence.c  each GPU's signed NVML evidence   control.c     the control channel's framing
 *   agent_log.c     JSON log lines, exit statuses     front.c       ccgate-endpoint seen from the agent
 *   agent_run.c     the whole start sequence
 *
 * Privilege separation (docs/agent.md): ccgate-agent serves no network request; ccgate-endpoint
 * (src/endpoint_main.c), which the agent starts, serves /status and the inference endpoint and asks the
 * agent for evidence over the control channel. */
#ifndef CCGATE_AGENT_H
#define CCGATE_AGENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ccgate/attester.h"
#include "ccgate/endpoint.h"
#include "ccgate/jose.h"
#include "ccgate/reasons.h"
#include "ccgate/result.h"
#include "ccgate/secmem.h"

/* ---------------------------------------------------------------- configuration */

typedef enum {
    CCG_MEMLOCK_BEST_EFFORT = 0, /* lock when RLIMIT_MEMLOCK allows, else continue and report "unlocked" */
    CCG_MEMLOCK_REQUIRED,        /* a failed mlock is agent.memory_failed */
    CCG_MEMLOCK_OFF,             /* never lock (still MADV_DONTDUMP) */
} ccg_memlock_policy;

#define CCG_AGENT_MAX_ARGS 32

typedef struct {
    /* attester */
    ccg_attester_kind attester;
    char *tsm_root, *sev_guest_path, *emulator_dir;
    uint32_t vmpl;
    /* TDX: the CCEL log area and the ACPI CCEL table (NULL = /sys/firmware/acpi/tables/data/CCEL and
     * /sys/firmware/acpi/tables/CCEL); a missing log area sends cc_eventlog null */
    char *ccel_path, *ccel_table_path;
    /* broker */
    char *broker_url;     /* https://host:port (http:// only with insecure_http) */
    char *broker_ca_file; /* pinned CA for the broker's TLS certificate */
    int insecure_http;
    long broker_timeout;  /* seconds */
    char *key_path;       /* KBS resource path repo/type/tag */
    char *key_id;         /* the artifact's key ID (default: key_path) */
    uint32_t key_version; /* expected key version; 0 = the artifact header's */
    /* artifact */
    char *artifact;           /* local path or http(s):// URL */
    char *artifact_ca_file;   /* for https artifacts; NULL = system trust */
    char *provider_key;       /* PEM public key that signed the artifact header */
    unsigned unseal_threads;  /* 0 = all cores */
    /* GPU */
    int require_gpu;
    char *nvml_library; /* NULL = libnvidia-ml.so.1 */
    /* model server */
    char *server_argv[CCG_AGENT_MAX_ARGS + 1]; /* NULL-terminated */
    size_t server_argc;
    /* status endpoint: "127.0.0.1:PORT" (0 = ephemeral) or "unix:/path"; NULL = none */
    char *status_listen;
    char *status_port_file; /* where an ephemeral port is written (tests) */
    unsigned status_linger; /* seconds the failed state stays served before exit (a stop signal ends it) */
    ccg_memlock_policy memlock;
    int seccomp;            /* install the filters (default 1) */
    /* the inference endpoint (docs/endpoint.md) ccgate-endpoint serves once the runner listens; NULL = none */
    ccg_endpoint_config *endpoint;
    /* ccgate-endpoint's path (absolute); NULL = found beside /proc/self/exe (docs/agent.md) */
    char *endpoint_program;
    /* the configuration text as parsed: ccgate-endpoint parses the same bytes */
    char *source;
    size_t source_len;
} ccg_agent_config;

/* Parses the configuration file strictly (unknown members refused): agent.config_invalid. */
CCG_MUST_CHECK ccg_result ccg_agent_config_load(const char *path, ccg_agent_config *out);
CCG_MUST_CHECK ccg_result ccg_agent_config_parse(const char *text, size_t len, ccg_agent_config *out);
void ccg_agent_config_free(ccg_agent_config *cfg);

/* ---------------------------------------------------------------- failure signals */

/* Exit statuses, one per kind of failure (docs/agent.md). */
enum {
    CCG_AGENT_EXIT_OK = 0,
    CCG_AGENT_EXIT_USAGE = 2,
    CCG_AGENT_EXIT_NO_TEE = 10,          /* attest.*: no TEE, backend or kernel failure */
    CCG_AGENT_EXIT_ATTEST_DENIED = 11,   /* the broker refused the evidence (snp.*, tdx.*, refval.*, cert.*, kbs.*) */
    CCG_AGENT_EXIT_KEY_REFUSED = 12,     /* key.disabled, key.retired, key.not_found, agent.key_mismatch */
    CCG_AGENT_EXIT_BROKER_UNAVAIL = 13,  /* broker, KMS/HSM, store or audit unavailable; protocol errors */
    CCG_AGENT_EXIT_ARTIFACT = 14,        /* artifact.*: integrity, signature, fetch */
    CCG_AGENT_EXIT_GPU = 15,             /* gpu.* */
    CCG_AGENT_EXIT_CONFIG = 16,          /* agent.config_invalid and other input errors of the agent */
    CCG_AGENT_EXIT_MEMORY = 17,          /* agent.memory_failed, agent.hardening_failed */
    CCG_AGENT_EXIT_SERVER = 18,          /* agent.server_failed */
    CCG_AGENT_EXIT_INTERNAL = 19,        /* anything else */
};

/* The exit status for a failure's reason code. */
int ccg_agent_exit_status(ccg_reason r);

typedef enum {
    CCG_AGENT_STARTING = 0,
    CCG_AGENT_ATTESTING,
    CCG_AGENT_RELEASED,
    CCG_AGENT_SERVING,
    CCG_AGENT_FAILED,
    CCG_AGENT_STOPPED,
} ccg_agent_state;

const char *ccg_agent_state_name(ccg_agent_state s);

/* What the agent may say about itself: never a key, a nonce's secret or plaintext. */
typedef struct {
    ccg_agent_state state;
    ccg_reason reason;      /* CCG_R_OK unless failed */
    char message[320];      /* the failure's operator message (no secrets by the error contract) */
    char request_id[80];    /* the broker's request ID of the last exchange */
    char key_id[160];
    uint32_t key_version;
    char policy_id[128];
    int64_t policy_version;
    char attester[32];
    char gpu[96];           /* "not required" or the NVML state (the host's claim) */
    int gpu_required;
    unsigned gpus_attested; /* GPUs whose evidence the broker accepted (a token was issued) */
    int gpu_ready;          /* the agent set the GPUs' ready state (they accept work) */
    char memory[16];        /* "locked" or "unlocked" */
    char model_digest[97];  /* the signed chunk-tree digest (docs/artifact-format.md), hex */
    uint64_t model_len;
    uint32_t model_chunk_size;
    uint64_t bytes_done;    /* unsealing: plaintext bytes decrypted and authenticated so far */
    uint64_t bytes_total;   /* ... of this many (0 before the unseal starts) */
    pid_t server_pid;
    uint16_t endpoint_port; /* the inference endpoint's port once it serves (0 = none) */
    pid_t endpoint_pid;     /* ccgate-endpoint, the network-facing process (0 = none) */
} ccg_agent_status;

/* One JSON log line in the schema of include/ccgate/log.h (component "agent"): the status fields after
 * the schema's, the broker's request ID as request_id; level is "debug", "info", "warn" ("warning" is
 * accepted) or "error"; note (may be NULL) is a human sentence for warnings. */
void ccg_agent_log(const ccg_agent_status *st, const char *level, const char *event, const char *note);

/* ---------------------------------------------------------------- status endpoint */

typedef struct ccg_agent_status_server ccg_agent_status_server;

/* Serves GET /status from a snapshot updated with ccg_agent_status_publish. listen is
 * "127.0.0.1:PORT" or "unix:/path". Served by ccgate-endpoint (libmicrohttpd), never by ccgate-agent. */
CCG_MUST_CHECK ccg_result ccg_agent_status_start(const char *listen, ccg_agent_status_server **out);
uint16_t ccg_agent_status_port(const ccg_agent_status_server *s);
void ccg_agent_status_publish(ccg_agent_status_server *s, const ccg_agent_status *st);
void ccg_agent_status_stop(ccg_agent_status_server *s);
/* The snapshot from a status JSON object (as ccgate-agent sends it over the control channel). */
void ccg_agent_status_publish_json(ccg_agent_status_server *s, const json_t *status);
/* While ep serves, GET /status adds "endpoint": its counters; NULL before the endpoint stops. */
void ccg_agent_status_set_endpoint(ccg_agent_status_server *s, ccg_endpoint *ep);
/* The status as a JSON object (a new reference). */
void *ccg_agent_status_json(const ccg_agent_status *st);

/* ---------------------------------------------------------------- key broker client */

/* An open NVML session (the GPU section below). */
typedef struct ccg_agent_gpu ccg_agent_gpu;

typedef struct {
    char request_id[80];
    char policy_id[128];
    int64_t policy_version;
    char cause[320]; /* the broker's "cause" for a dependency failure, e.g. the PKCS#11 CKR name */
    char hash[8];    /* the session's hash algorithm (the Challenge's selection, else sha384) */
    unsigned gpus_sent;     /* GPUs whose evidence went in the Attestation */
    unsigned gpus_attested; /* the same, once the broker answered with a token */
} ccg_agent_kbs_info;

/* Runs auth -> attest -> resource against broker_url for the key at key_path, with evidence from the
 * attester bound to a fresh ephemeral P-256 key; the key lands in *key (secret memory). With gpu (may
 * be NULL) every GPU's evidence for this session travels as additional_evidence, which REPORT_DATA
 * binds. key_version (non-zero) is asked for as "?version=N" (docs/kbs.md "Key lifecycle"): the broker
 * releases exactly that version or refuses it (key.retired once a rotation's grace is over). A denial
 * fails with the broker's first reason code; info receives the request ID, policy and cause. */
CCG_MUST_CHECK ccg_result ccg_agent_kbs_fetch(const ccg_agent_config *cfg, ccg_attester *att, ccg_agent_gpu *gpu,
                                              uint32_t key_version, ccg_secbuf *key, ccg_agent_kbs_info *info);

/* ---------------------------------------------------------------- the model in memory */

typedef struct {
    int fd;          /* the memfd (CLOEXEC until handed to the server) */
    uint8_t *map;    /* writable while filling; once sealed, a read-only mapping kept locked (or NULL) */
    size_t len;
    size_t mapped;
    int locked;
    int sealed;
} ccg_agent_memfd;

/* memfd_create(MFD_ALLOW_SEALING|MFD_CLOEXEC), ftruncate, mmap, mlock per policy, MADV_DONTDUMP. */
CCG_MUST_CHECK ccg_result ccg_agent_memfd_create(size_t len, ccg_memlock_policy policy, ccg_agent_memfd *out);
/* Unmaps the writable mapping and applies F_SEAL_WRITE|F_SEAL_GROW|F_SEAL_SHRINK|F_SEAL_SEAL. */
CCG_MUST_CHECK ccg_result ccg_agent_memfd_seal(ccg_agent_memfd *m);
/* Zeroes a still-writable mapping, unmaps and closes. */
void ccg_agent_memfd_close(ccg_agent_memfd *m);

/* ---------------------------------------------------------------- hardening */

/* PR_SET_DUMPABLE 0, RLIMIT_CORE 0, PR_SET_NO_NEW_PRIVS 1. */
CCG_MUST_CHECK ccg_result ccg_agent_harden_process(void);
/* A seccomp filter (libseccomp) returning EPERM for ptrace, process_vm_readv/writev, perf_event_open,
 * bpf, userfaultfd, kcmp, module and kexec loading, mount and swap calls (needs no_new_privs first);
 * a system call through another ABI (i386 int 0x80, x32) kills the process.
 * allow_ptrace keeps ptrace (sanitizer builds' leak checker attaches to its own threads). */
CCG_MUST_CHECK ccg_result ccg_agent_seccomp_install(int allow_ptrace);
/* Compiles and caches both filter variants (install does it on first use). Once prepared, install
 * allocates nothing and is safe between fork and exec. */
CCG_MUST_CHECK ccg_result ccg_agent_seccomp_prepare(void);
/* The cached program's length in BPF instructions (0 before prepare); for tests. */
size_t ccg_agent_seccomp_program_len(int allow_ptrace);
/* 1 when this build carries a sanitizer whose runtime needs ptrace in the agent itself. */
int ccg_agent_sanitizer_build(void);

/* ---------------------------------------------------------------- GPU */

/* An NVML session (ccg_agent_gpu, declared above). What NVML SAYS about the GPUs (count, CC state) is
 * a claim the broker cannot check; the GPUs' signed evidence (ccg_agent_gpu_evidence) is what the
 * broker verifies. */

/* dlopen's NVML (lib NULL: libnvidia-ml.so.1), binds every entry point the agent uses (the CC state,
 * the ready state and the attestation calls) and initialises it: gpu.nvml_unavailable. */
CCG_MUST_CHECK ccg_result ccg_agent_gpu_open(const char *lib, ccg_agent_gpu **out);
/* Clears a ready state this session set (best effort), shuts NVML down and unloads it. NULL is fine. */
void ccg_agent_gpu_close(ccg_agent_gpu *g);

/* The HOST CLAIM, a fast early signal and never a substitute for evidence: at least one GPU and
 * developer-tools mode off (gpu.absent, gpu.devtools_on, gpu.nvml_error). CC mode off is recorded, not
 * refused: ccg_agent_gpu_evidence sends it beside the evidence ("host_state") so that the broker
 * refuses it (gpu.cc_mode_off) with its request ID and policy version. state receives
 * "gpus=2 cc=on devtools=off environment=production". */
CCG_MUST_CHECK ccg_result ccg_agent_gpu_host_claim(ccg_agent_gpu *g, char *state, size_t state_len);
/* 1 when the host claim ran and said CC mode is off: the agent then never unseals or sets ready. */
int ccg_agent_gpu_host_cc_off(const ccg_agent_gpu *g);
/* Opens, checks the host claim (CC off included: gpu.cc_mode_off) and closes (state "nvml=unavailable"
 * when NVML cannot be used). */
CCG_MUST_CHECK ccg_result ccg_agent_gpu_check(const char *lib, char *state, size_t state_len);

/* Every GPU's attestation evidence for this KBS session, as the additional_evidence string
 * (docs/gpu-evidence.md, "Wire form in the KBS Attestation"):
 *   {"nvidia":{"device_evidence_list":[{"arch","uuid","evidence","certificate"[,"host_state"]},...]}}
 * host_state ({"cc":"on"|"off","devtools":"on"|"off"}) is present once the host claim ran. When the host
 * says CC is off and NVML gives no evidence, the code is gpu.cc_mode_off (nothing to send the broker).
 * GPU i signs the ccgate-v1 nonce derived from D = ccg_gpu_device_digest(hash, kbs_nonce, tee_pubkey)
 * and i. hash is the Challenge's selected algorithm ("sha256", "sha384", "sha512"). Codes:
 * gpu.absent, gpu.evidence_unavailable (the report or certificate call failed), gpu.evidence_malformed
 * (an empty or oversized report, a chain that is not PEM), gpu.arch_unsupported, gpu.nvml_error.
 * *out is malloc'd; *count receives the number of GPUs in it. */
CCG_MUST_CHECK ccg_result ccg_agent_gpu_evidence(ccg_agent_gpu *g, const char *hash, const char *kbs_nonce,
                                                 const ccg_jwk *tee_pubkey, char **out, unsigned *count);

/* nvmlSystemSetConfComputeGpusReadyState(accepting): gpu.ready_state_failed. */
CCG_MUST_CHECK ccg_result ccg_agent_gpu_set_ready(ccg_agent_gpu *g, unsigned accepting);

/* ---------------------------------------------------------------- the control channel (docs/agent.md)
 *
 * ccgate-agent and ccgate-endpoint talk over one AF_UNIX stream socketpair (the front's descriptor is
 * named by $CCGATE_CONTROL_FD): one JSON object per line, {"op": ...}. Each direction has its own line
 * bound; a longer line, bytes that are not one JSON object, an unknown "op" or a member of the wrong type
 * is agent.control_invalid, and the reader then closes the channel. */

#define CCG_CTL_ENV "CCGATE_CONTROL_FD"
/* agent -> front: the configuration text and the TDX CCEL (up to 1 MiB each, base64url) are the largest */
#define CCG_CTL_TO_FRONT_MAX (4u << 20)
/* front -> agent: only short requests ({"op":"evidence","id":N,"report_data":"<128 hex>"}) */
#define CCG_CTL_TO_AGENT_MAX 1024u

typedef struct {
    int fd;
    size_t max;   /* the longest line accepted, newline excluded */
    char *buf;    /* bytes read and not yet returned */
    size_t len, cap;
} ccg_ctl_reader;

void ccg_ctl_reader_init(ccg_ctl_reader *r, int fd, size_t max);
void ccg_ctl_reader_free(ccg_ctl_reader *r);
/* The next message: waits up to timeout_ms (-1 forever) for a complete line. Success with *out NULL when
 * the time ran out; *out is an object with a string "op". EOF or a read error is agent.endpoint_failed;
 * a malformed line is agent.control_invalid. */
CCG_MUST_CHECK ccg_result ccg_ctl_recv(ccg_ctl_reader *r, int timeout_ms, json_t **out);
/* Parses one line (no newline) the way ccg_ctl_recv does. */
CCG_MUST_CHECK ccg_result ccg_ctl_parse(const char *line, size_t len, size_t max, json_t **out);
/* Writes msg as one line, waiting at most timeout_ms for room (agent.endpoint_failed otherwise). */
CCG_MUST_CHECK ccg_result ccg_ctl_send(int fd, const json_t *msg, int timeout_ms);

/* The front, seen from the agent (front.c). */
typedef struct ccg_agent_front ccg_agent_front;
/* Finds ccgate-endpoint (cfg->endpoint_program, else <dir of /proc/self/exe>/ccgate-endpoint, else
 * <dir>/../libexec/ccgate/ccgate-endpoint), starts it with the control channel, sends the configuration
 * and waits until its status listener is open (its port file written). agent.endpoint_failed, or the
 * front's own reason for a listener it could not open. */
CCG_MUST_CHECK ccg_result ccg_agent_front_start(const ccg_agent_config *cfg, ccg_agent_front **out);
pid_t ccg_agent_front_pid(const ccg_agent_front *f);
/* Sends a status snapshot (best effort: a full channel drops it; the next one replaces it). */
void ccg_agent_front_publish(ccg_agent_front *f, const ccg_agent_status *st);
/* The attester the front's evidence requests are answered with (NULL: refused), and the TDX CCEL the
 * serve message carries (borrowed until ccg_agent_front_stop). */
void ccg_agent_front_set_attester(ccg_agent_front *f, ccg_attester *att);
/* Asks the front to serve the inference endpoint and waits for its port (answering evidence requests). */
CCG_MUST_CHECK ccg_result ccg_agent_front_serve(ccg_agent_front *f, const uint8_t *ccel, size_t ccel_len,
                                                const uint8_t *ccel_data, size_t ccel_data_len, uint16_t *port);
/* Answers the front's requests for up to timeout_ms; fails when the front is gone or misbehaved. */
CCG_MUST_CHECK ccg_result ccg_agent_front_poll(ccg_agent_front *f, int timeout_ms);
/* Asks the front to stop serving the inference endpoint and waits (up to 5 s) until it has. */
void ccg_agent_front_unserve(ccg_agent_front *f);
/* Closes the channel (the front exits on EOF), waits up to 5 s, then SIGKILL. NULL is fine. */
void ccg_agent_front_stop(ccg_agent_front *f);
/* The path ccgate-endpoint is started from (for messages and tests); *out malloc'd. */
CCG_MUST_CHECK ccg_result ccg_agent_front_find(const ccg_agent_config *cfg, char **out);

/* ---------------------------------------------------------------- the whole agent */

/* Runs the agent to completion and returns its exit status. stop_fd (may be -1) becomes readable when
 * the agent should stop (the signal handler's self-pipe). */
int ccg_agent_run(const ccg_agent_config *cfg, int stop_fd);

#endif
