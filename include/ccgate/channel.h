/* The attested secure channel (docs/channel.md): a client sends a prompt only to a server whose fresh
 * SEV-SNP evidence, bound to this connection's keys, passed the client's own policy.
 *
 *   client                                       server
 *   M1  version, suite, 32-byte nonce   ->
 *                                       <-   M2  pk_s, evidence with
 *                                                REPORT_DATA = SHA-512(label || SHA-256(M1) || pk_s || suite)
 *   verify evidence + binding; HPKE SetupBaseS(pk_s, info = SHA-256(transcript))
 *   M3  enc, client confirmation MAC    ->
 *                                       <-   SF  server confirmation MAC   (server erased sk_s)
 *   frames: header (type, sequence, length) as AAD, AEAD under HPKE-exported keys, one key per direction
 *
 * The API makes sending before verification impossible by construction: the only way to get a
 * ccg_channel_session is a successful ccg_channel_connect (client: evidence verified, binding checked,
 * keys confirmed) or ccg_channel_accept (server), and only a session has send/recv. Any error ends the
 * session for good (no resynchronisation); the thread's last error holds the channel.* reason. */
#ifndef CCGATE_CHANNEL_H
#define CCGATE_CHANNEL_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "ccgate/decision.h"
#include "ccgate/hpke.h"
#include "ccgate/result.h"
#include "ccgate/snp_policy.h"
#include "ccgate/snp_verify.h"
#include "ccgate/util.h"

#define CCG_CHANNEL_VERSION 1
#define CCG_CHANNEL_NONCE_LEN 32
#define CCG_CHANNEL_MAX_PLAINTEXT 16384u          /* largest application payload of one frame */
#define CCG_CHANNEL_MAX_HANDSHAKE (64u * 1024u)   /* largest handshake message body */
#define CCG_CHANNEL_MAX_CERTS 8u                   /* certificates in M2's chain */
#define CCG_CHANNEL_DEFAULT_TIMEOUT_MS 30000

/* Evidence the server's attester produced for 64 bytes of REPORT_DATA: the raw SNP report and the
 * certificate chain (DER, VCEK or VLEK first is not required). All malloc'd; ccg_channel_evidence_clear
 * frees them. */
typedef struct {
    uint8_t *report;
    size_t report_len;
    uint8_t *certs[CCG_CHANNEL_MAX_CERTS];
    size_t cert_lens[CCG_CHANNEL_MAX_CERTS];
    size_t cert_count;
} ccg_channel_evidence;

void ccg_channel_evidence_clear(ccg_channel_evidence *ev);
/* Appends one DER certificate (copied); channel.frame_too_large beyond CCG_CHANNEL_MAX_CERTS. */
CCG_MUST_CHECK ccg_result ccg_channel_evidence_add_cert(ccg_channel_evidence *ev, const uint8_t *der, size_t len);

/* The server's attester: fills *out with evidence whose REPORT_DATA is exactly report_data. */
typedef ccg_result (*ccg_channel_evidence_fn)(void *arg, const uint8_t report_data[64], ccg_channel_evidence *out);

/* ---- client ---- */
typedef struct {
    ccg_snp_verifier *verifier;           /* borrowed; trusts AMD's roots plus any root added explicitly */
    const ccg_snp_policy *policy;         /* the client's policy (approved measurements); NULL: default */
    const ccg_snp_verify_opts *opts;      /* reference values; may be NULL */
    ccg_time now;                         /* the verification time (explicit) */
    uint16_t aead_id;                     /* CCG_HPKE_AEAD_CHACHA20POLY1305 (0: default) or _AES128GCM */
    int timeout_ms;                       /* per I/O wait; 0: CCG_CHANNEL_DEFAULT_TIMEOUT_MS */
} ccg_channel_client_config;

typedef struct ccg_channel_session ccg_channel_session;

/* Runs the client handshake on a connected socket. Succeeds only when the evidence passed the policy,
 * REPORT_DATA binds this connection, and both key confirmations verified. decision (optional, initialised
 * by this call, free it with ccg_decision_free) receives the verifier's decision: on
 * channel.evidence_denied its reasons name the cause (snp.debug_enabled, snp.measurement_not_allowed,
 * refval.measurement_mismatch ...). The session borrows fd; the caller closes it after freeing. */
CCG_MUST_CHECK ccg_result ccg_channel_connect(int fd, const ccg_channel_client_config *cfg, ccg_decision *decision,
                                              ccg_channel_session **out);

/* ---- server ---- */
typedef struct {
    ccg_channel_evidence_fn get_evidence;
    void *evidence_arg;
    int timeout_ms;                        /* 0: CCG_CHANNEL_DEFAULT_TIMEOUT_MS */
    /* Asked after M1 is read and before evidence is generated; returns 0 to refuse with
     * channel.rate_limited (the accept loop plugs its token bucket in here). NULL: always allow. */
    int (*admit)(void *arg);
    void *admit_arg;
    /* TESTS ONLY (an impersonator that knows an old key): use this key pair instead of a fresh one.
     * NULL in every program. */
    const ccg_hpke_keypair *test_keypair;
} ccg_channel_server_config;

/* Runs the server handshake on an accepted socket: a fresh X25519 key per connection, evidence bound to
 * it, key confirmation; the private key is erased before this returns. */
CCG_MUST_CHECK ccg_result ccg_channel_accept(int fd, const ccg_channel_server_config *cfg, ccg_channel_session **out);

/* ---- session (both sides) ---- */
/* Sends data as one or more frames of at most CCG_CHANNEL_MAX_PLAINTEXT bytes. */
CCG_MUST_CHECK ccg_result ccg_channel_send(ccg_channel_session *s, const uint8_t *data, size_t len);
/* Receives one frame: its payload (at most CCG_CHANNEL_MAX_PLAINTEXT bytes) into buf. On the peer's
 * authenticated close frame succeeds with *closed = 1 and *len = 0. Anything else that is not the exact
 * next, authentic frame fails with its channel.* reason and ends the session. */
CCG_MUST_CHECK ccg_result ccg_channel_recv(ccg_channel_session *s, uint8_t *buf, size_t cap, size_t *len, int *closed);
/* Sends the authenticated close frame; no more sends afterwards. */
CCG_MUST_CHECK ccg_result ccg_channel_close(ccg_channel_session *s);
/* Zeroes the keys and frees. Does not close the fd. NULL is fine. */
void ccg_channel_session_free(ccg_channel_session *s);
/* The HPKE AEAD of the session's frames. */
uint16_t ccg_channel_session_aead(const ccg_channel_session *s);

/* ---- per-address token bucket (rate of evidence generation) ---- */
typedef struct ccg_channel_ratelimit ccg_channel_ratelimit;

/* rate tokens per second, burst tokens at most; tracks at most max_addrs addresses (least recently seen
 * evicted). */
CCG_MUST_CHECK ccg_result ccg_channel_ratelimit_new(double rate, double burst, size_t max_addrs,
                                                    ccg_channel_ratelimit **out);
void ccg_channel_ratelimit_free(ccg_channel_ratelimit *rl);
/* Takes one token for addr (an IP address in text) at now_ms (a monotonic clock in milliseconds):
 * 1 admitted, 0 refused. */
int ccg_channel_ratelimit_take(ccg_channel_ratelimit *rl, const char *addr, uint64_t now_ms);

/* ---- accept loop ---- */
/* Called with every established session; returns when done with it (the loop then frees it). A failure
 * (its reason in the thread's last error) is reported to outcome. */
typedef ccg_result (*ccg_channel_handler_fn)(void *arg, ccg_channel_session *s, const char *peer);
/* Called once per connection with how it ended: CCG_R_OK or the reason of the failure. */
typedef void (*ccg_channel_outcome_fn)(void *arg, const char *peer, ccg_reason reason, const char *message);

typedef struct {
    ccg_channel_server_config server;      /* admit/admit_arg are set by the loop */
    ccg_channel_ratelimit *ratelimit;      /* borrowed; NULL: no limit */
    ccg_channel_handler_fn handler;
    ccg_channel_outcome_fn outcome;        /* may be NULL */
    void *arg;
    long max_connections;                  /* stop after this many (0: no limit) */
    volatile sig_atomic_t *stop;           /* checked between connections; may be NULL */
} ccg_channel_serve_config;

/* Accepts connections on a listening socket one at a time (every socket wait bounded by the I/O timeout) until
 * *stop is set or max_connections were served. Per-connection failures go to outcome and do not end
 * the loop. */
CCG_MUST_CHECK ccg_result ccg_channel_serve(int listen_fd, const ccg_channel_serve_config *cfg);

/* ---- emulated evidence (tests and demos: the software SNP firmware, a TEST ROOT) ---- */
typedef struct ccg_snp_emulator ccg_snp_emulator;
typedef struct {
    const ccg_snp_emulator *emu;   /* borrowed */
    uint8_t measurement[48];
    int debug;                     /* set the guest policy's DEBUG bit */
} ccg_channel_emulated;

/* A ccg_channel_evidence_fn over ccg_channel_emulated: a report signed by the emulator's VCEK with the
 * given REPORT_DATA, the VCEK and ASK as the chain. */
CCG_MUST_CHECK ccg_result ccg_channel_emulated_evidence(void *arg, const uint8_t report_data[64],
                                                        ccg_channel_evidence *out);

#endif
