/* Benchmark of the attested channel (not a timed test; scripts/bench-channel.sh runs it).
 *
 *   1. Bulk throughput: a client session streams 16 KiB DATA frames (ChaCha20-Poly1305) over a Unix
 *      socketpair to a server session in another thread, which opens every frame. Each side's work is
 *      counted: seal, framing and send on the client thread; recv, sequence check and open on the server
 *      thread. Reported twice: MB/s of application bytes over wall time (what this run got, on a machine
 *      that may be shared), and per core: bytes over the busier thread's CPU time (user + system, so the
 *      kernel's socket copies count), the rate with a core for each side. The application writes 16 KiB
 *      per call (one frame each), and then 256 KiB per call (16 frames each).
 *   2. The parts, in the same run: crypto only (ccg_ch_frame_seal and ccg_ch_frame_open of 16 KiB frames,
 *      no socket, CPU time per frame of each), and the socketpair alone (16 KiB records, two threads, no
 *      crypto).
 *   3. The in-process anchor: one EVP ChaCha20-Poly1305 seal of 16 KiB buffers in a loop (init with the
 *      nonce, update, final, tag), in wall and CPU time; the script adds `openssl speed -evp
 *      chacha20-poly1305 -bytes 16384` itself from the same run (it divides by user CPU time).
 *   4. Handshake latency with emulated evidence: ccg_channel_connect from M1 to a verified SF, the server
 *      (thread) generating a fresh X25519 key and a signed emulated SNP report each time, the client
 *      verifying it (ECDSA P-384, the chain from the verifier's cache), p50 and p99.
 *
 * usage: bench_channel [SECONDS [HANDSHAKES]]   (defaults 3 and 200). The last lines are key=value. */
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../src/channel/channel_internal.h"
#include "ccgate/channel.h"
#include "ccgate/snp_emulator.h"
#include "ccgate/snp_policy.h"

#define FRAME 16384u
#define BIG_WRITE (16u * FRAME)
#define RECORD (CCG_CH_HEADER_LEN + FRAME + CCG_HPKE_TAG_LEN)
#define SOCK_ROOM (1 << 20) /* several frames in flight, as a TCP connection's autotuned buffers give */

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_s(void)
{
    return clock_s(CLOCK_MONOTONIC);
}

/* This thread's CPU time, user and system (the kernel's socket copies are the channel's cost too). */
static double cpu_s(void)
{
    return clock_s(CLOCK_THREAD_CPUTIME_ID);
}

typedef struct {
    ccg_snp_emulator *emu;
    ccg_channel_emulated em;
    ccg_snp_verifier *verifier;
    ccg_snp_policy *policy; /* pins the emulator's measurement; no TCB baseline (as bench_snp_verify) */
    ccg_time now;
} bench_world;

typedef struct {
    bench_world *w;
    int fd;
    int sink;         /* 1: receive until close and count bytes */
    uint64_t bytes;
    double cpu;       /* the receive loop's CPU time */
    int ok;
} server_job;

static void *server_main(void *arg)
{
    server_job *j = arg;
    ccg_channel_server_config cfg = {.get_evidence = ccg_channel_emulated_evidence, .evidence_arg = &j->w->em};
    ccg_channel_session *s = NULL;
    static _Thread_local uint8_t buf[CCG_CHANNEL_MAX_PLAINTEXT];
    size_t len = 0;
    int closed = 0;
    ccg_error_clear();
    if (ccg_failed(ccg_channel_accept(j->fd, &cfg, &s))) {
        goto done;
    }
    double c0 = cpu_s();
    while (j->sink) {
        if (ccg_failed(ccg_channel_recv(s, buf, sizeof(buf), &len, &closed))) {
            goto done;
        }
        if (closed) {
            break;
        }
        j->bytes += len;
    }
    j->cpu = cpu_s() - c0;
    j->ok = 1;
done:
    if (!j->ok) {
        fprintf(stderr, "bench_channel: server: %s: %s\n", ccg_reason_code(ccg_error_reason()), ccg_error_last()->message);
    }
    ccg_channel_session_free(s);
    close(j->fd);
    return NULL;
}

static int socket_pair(int sv[2])
{
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        return -1;
    }
    int room = SOCK_ROOM;
    for (int i = 0; i < 2; i++) {
        (void)setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &room, sizeof(room));
        (void)setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &room, sizeof(room));
    }
    return 0;
}

/* One handshake over a fresh socketpair; *client is the client's session, *t its duration. */
static int handshake(bench_world *w, server_job *j, pthread_t *th, int *cfd, ccg_channel_session **client, double *t)
{
    int sv[2];
    ccg_channel_client_config cfg = {.verifier = w->verifier, .policy = w->policy, .now = w->now};
    *th = 0;
    *cfd = -1;
    if (socket_pair(sv) != 0) {
        return -1;
    }
    j->w = w;
    j->fd = sv[1];
    if (pthread_create(th, NULL, server_main, j) != 0) {
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    *cfd = sv[0];
    ccg_error_clear();
    double t0 = now_s();
    ccg_result r = ccg_channel_connect(sv[0], &cfg, NULL, client);
    *t = now_s() - t0;
    if (ccg_failed(r)) {
        fprintf(stderr, "bench_channel: client: %s: %s\n", ccg_reason_code(ccg_error_reason()), ccg_error_last()->message);
        return -1;
    }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int bench_handshakes(bench_world *w, int n, double *p50, double *p99)
{
    double *t = calloc((size_t)n, sizeof(double));
    int rc = -1;
    if (t == NULL) {
        return -1;
    }
    for (int i = 0; i < n; i++) {
        server_job j = {0};
        pthread_t th = 0;
        int fd = -1;
        ccg_channel_session *s = NULL;
        int hr = handshake(w, &j, &th, &fd, &s, &t[i]); /* the server side ends right after its SF */
        ccg_channel_session_free(s);
        if (fd >= 0) {
            close(fd);
        }
        if (th != 0) {
            pthread_join(th, NULL);
        }
        if (hr != 0 || !j.ok) {
            goto done;
        }
    }
    qsort(t, (size_t)n, sizeof(double), cmp_double);
    *p50 = t[n / 2] * 1e3;
    *p99 = t[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] * 1e3;
    rc = 0;
done:
    free(t);
    return rc;
}

/* A two-sided stream: MB/s over wall time, and per core (bytes over the busier side's CPU time). */
typedef struct {
    double wall_mb_s;
    double core_mb_s;
    double tx_us, rx_us; /* CPU time per 16 KiB of application data, each side */
} bulk_result;

static void bulk_figures(uint64_t bytes, double wall, double cpu_tx, double cpu_rx, bulk_result *r)
{
    double frames = (double)bytes / FRAME;
    double busier = cpu_tx > cpu_rx ? cpu_tx : cpu_rx;
    r->wall_mb_s = (double)bytes / wall / 1e6;
    r->core_mb_s = busier > 0 ? (double)bytes / busier / 1e6 : 0;
    r->tx_us = cpu_tx / frames * 1e6;
    r->rx_us = cpu_rx / frames * 1e6;
}

/* The channel: application writes of write_len bytes (frames of at most 16 KiB) until seconds pass. */
static int bench_bulk(bench_world *w, double seconds, size_t write_len, bulk_result *res)
{
    server_job j = {.sink = 1};
    pthread_t th = 0;
    int fd = -1;
    ccg_channel_session *s = NULL;
    double t_hs = 0;
    uint8_t *buf = malloc(write_len);
    uint64_t sent = 0;
    int rc = -1;
    if (buf == NULL || handshake(w, &j, &th, &fd, &s, &t_hs) != 0) {
        goto done;
    }
    memset(buf, 0x5a, write_len);
    double t0 = now_s(), t1 = t0, c0 = cpu_s();
    while (t1 - t0 < seconds) {
        for (int k = 0; k < 16; k++) {
            if (ccg_failed(ccg_channel_send(s, buf, write_len))) {
                goto done;
            }
            sent += write_len;
        }
        t1 = now_s();
    }
    if (ccg_failed(ccg_channel_close(s))) {
        goto done;
    }
    double cpu_tx = cpu_s() - c0;
    pthread_join(th, NULL);
    t1 = now_s(); /* until the receiver opened the last frame */
    th = 0;
    if (!j.ok || j.bytes != sent) {
        goto done;
    }
    bulk_figures(sent, t1 - t0, cpu_tx, j.cpu, res);
    rc = 0;
done:
    if (rc != 0) {
        fprintf(stderr, "bench_channel: bulk: %s: %s\n", ccg_reason_code(ccg_error_reason()), ccg_error_last()->message);
    }
    if (th != 0) {
        pthread_join(th, NULL);
    }
    ccg_channel_session_free(s);
    if (fd >= 0) {
        close(fd);
    }
    free(buf);
    return rc;
}

/* Crypto only: the channel's own seal and open of 16 KiB frames (header as AAD, nonce from the sequence,
 * sequence check), no socket. Batches of 16 frames are sealed, then opened, so each side's CPU time
 * is measured apart. */
static int bench_crypto(double seconds, double *seal_us, double *open_us)
{
    enum { BATCH = 16 };
    ccg_ch_dir_keys k;
    ccg_ch_dir tx, rx;
    uint8_t *pt = calloc(1, FRAME), *out = malloc((size_t)BATCH * RECORD), *back = malloc(FRAME);
    double c_seal = 0, c_open = 0;
    uint64_t frames = 0;
    int rc = -1;
    memset(&k, 0x42, sizeof(k));
    k.key_len = 32;
    memset(&tx, 0, sizeof(tx));
    memset(&rx, 0, sizeof(rx));
    if (pt == NULL || out == NULL || back == NULL ||
        ccg_failed(ccg_ch_dir_init(&tx, CCG_HPKE_AEAD_CHACHA20POLY1305, &k)) ||
        ccg_failed(ccg_ch_dir_init(&rx, CCG_HPKE_AEAD_CHACHA20POLY1305, &k))) {
        goto done;
    }
    double t0 = now_s();
    while (now_s() - t0 < seconds) {
        size_t n = 0, m = 0;
        double c0 = cpu_s();
        for (int i = 0; i < BATCH; i++) {
            if (ccg_failed(ccg_ch_frame_seal(&tx, CCG_CH_T_DATA, pt, FRAME, out + (size_t)i * RECORD, &n))) {
                goto done;
            }
        }
        double c1 = cpu_s();
        for (int i = 0; i < BATCH; i++) {
            const uint8_t *rec = out + (size_t)i * RECORD;
            ccg_ch_header h;
            if (ccg_failed(ccg_ch_header_parse(rec, CCG_CH_HEADER_LEN, CCG_CH_MAX_FRAME_BODY, &h)) ||
                ccg_failed(ccg_ch_frame_open(&rx, rec, &h, rec + CCG_CH_HEADER_LEN, back, &m)) || m != FRAME) {
                goto done;
            }
        }
        c_seal += c1 - c0;
        c_open += cpu_s() - c1;
        frames += BATCH;
    }
    *seal_us = c_seal / (double)frames * 1e6;
    *open_us = c_open / (double)frames * 1e6;
    rc = 0;
done:
    ccg_ch_dir_free(&tx);
    ccg_ch_dir_free(&rx);
    free(pt);
    free(out);
    free(back);
    return rc;
}

/* The socketpair alone: 16 KiB records (a frame's size on the wire) from one thread to another. */
typedef struct {
    int fd;
    uint64_t bytes;
    double cpu;
} io_job;

static void *io_sink(void *arg)
{
    io_job *j = arg;
    static _Thread_local uint8_t buf[4 * RECORD];
    double c0 = cpu_s();
    for (;;) {
        ssize_t k = recv(j->fd, buf, sizeof(buf), 0);
        if (k <= 0) {
            break;
        }
        j->bytes += (uint64_t)k;
    }
    j->cpu = cpu_s() - c0;
    return NULL;
}

static int bench_io(double seconds, bulk_result *res)
{
    int sv[2];
    io_job j = {0};
    pthread_t th;
    uint8_t *rec = calloc(1, RECORD);
    uint64_t sent = 0;
    int rc = -1;
    if (rec == NULL || socket_pair(sv) != 0) {
        free(rec);
        return -1;
    }
    j.fd = sv[1];
    if (pthread_create(&th, NULL, io_sink, &j) != 0) {
        goto done;
    }
    double t0 = now_s(), t1 = t0, c0 = cpu_s();
    while (t1 - t0 < seconds) {
        for (int k = 0; k < 16; k++) {
            if (ccg_failed(ccg_ch_write_all(sv[0], rec, RECORD, 30000))) {
                break;
            }
            sent += RECORD;
        }
        t1 = now_s();
    }
    double cpu_tx = cpu_s() - c0;
    shutdown(sv[0], SHUT_WR);
    pthread_join(th, NULL);
    t1 = now_s();
    if (j.bytes == sent) {
        bulk_figures(sent / RECORD * FRAME, t1 - t0, cpu_tx, j.cpu, res); /* in application bytes */
        rc = 0;
    }
done:
    close(sv[0]);
    close(sv[1]);
    free(rec);
    return rc;
}

/* The anchor: EVP ChaCha20-Poly1305 sealing 16 KiB buffers on one thread, in wall and CPU time. */
static int bench_evp(double seconds, double *wall_mb_s, double *cpu_mb_s)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    uint8_t key[32] = {1}, iv[12] = {2}, tag[16];
    uint8_t *in = calloc(1, FRAME), *out = malloc(FRAME + 16);
    uint64_t bytes = 0;
    int n = 0, rc = -1;
    double t0 = now_s(), t1 = t0, c0 = cpu_s();
    if (ctx == NULL || in == NULL || out == NULL ||
        EVP_EncryptInit_ex(ctx, EVP_chacha20_poly1305(), NULL, key, iv) != 1) {
        goto done;
    }
    while (t1 - t0 < seconds) {
        for (int k = 0; k < 64; k++) {
            iv[0]++;
            if (EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, iv) != 1 || EVP_EncryptUpdate(ctx, out, &n, in, FRAME) != 1 ||
                EVP_EncryptFinal_ex(ctx, out + n, &n) != 1 ||
                EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag) != 1) {
                goto done;
            }
            bytes += FRAME;
        }
        t1 = now_s();
    }
    *wall_mb_s = (double)bytes / (t1 - t0) / 1e6;
    *cpu_mb_s = (double)bytes / (cpu_s() - c0) / 1e6;
    rc = 0;
done:
    EVP_CIPHER_CTX_free(ctx);
    free(in);
    free(out);
    return rc;
}

static int world_init(bench_world *w)
{
    ccg_snp_emulator_config cfg;
    ccg_snp_report r;
    memset(w, 0, sizeof(*w));
    ccg_snp_emulator_config_init(&cfg, CCG_SNP_PRODUCT_MILAN, CCG_SNP_SIGNER_VCEK);
    if (ccg_failed(ccg_snp_emulator_new(&cfg, &w->emu)) || ccg_failed(ccg_snp_verifier_new(&w->verifier)) ||
        ccg_failed(ccg_snp_verifier_add_root(w->verifier, CCG_SNP_PRODUCT_MILAN, ccg_snp_emulator_ark(w->emu)))) {
        return -1;
    }
    w->em.emu = w->emu;
    ccg_snp_emulator_default_report(w->emu, &r);
    memcpy(w->em.measurement, r.measurement, sizeof(w->em.measurement));
    /* The client's policy: the served measurement, and the emulator's TCB taken as it is (there is no
     * signed baseline for it here; the baseline compare is not what this measures). */
    char json[256], hex[2 * sizeof(r.measurement) + 1];
    for (size_t i = 0; i < sizeof(r.measurement); i++) {
        snprintf(hex + 2 * i, 3, "%02x", r.measurement[i]);
    }
    snprintf(json, sizeof(json),
             "{\"policy_id\":\"bench-channel\",\"version\":1,\"allowed_measurements\":[\"%s\"],"
             "\"tcb\":{\"require_baseline\":false}}",
             hex);
    if (ccg_failed(ccg_snp_policy_parse(json, strlen(json), &w->policy))) {
        return -1;
    }
    w->now = (ccg_time)1780272000; /* 2026-06-01T00:00:00Z, inside the emulator's default validity */
    return 0;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 3.0;
    int n = argc > 2 ? atoi(argv[2]) : 200;
    bench_world w;
    memset(&w, 0, sizeof(w));
    bulk_result small = {0}, big = {0}, io = {0};
    double evp = 0, evp_cpu = 0, seal_us = 0, open_us = 0, p50 = 0, p99 = 0;
    int rc = 1;
    if (seconds <= 0 || n < 2 || world_init(&w) != 0) {
        fprintf(stderr, "usage: bench_channel [SECONDS [HANDSHAKES]]\n");
        goto done;
    }
    if (bench_bulk(&w, seconds, FRAME, &small) != 0 || bench_bulk(&w, seconds, BIG_WRITE, &big) != 0) {
        fprintf(stderr, "bench_channel: the bulk run failed\n");
        goto done;
    }
    if (bench_crypto(seconds, &seal_us, &open_us) != 0 || bench_io(seconds, &io) != 0 ||
        bench_evp(seconds, &evp, &evp_cpu) != 0) {
        fprintf(stderr, "bench_channel: a part run failed\n");
        goto done;
    }
    if (bench_handshakes(&w, n, &p50, &p99) != 0) {
        fprintf(stderr, "bench_channel: a handshake failed: %s: %s\n", ccg_reason_code(ccg_error_reason()),
                ccg_error_last()->message);
        goto done;
    }
    double crypto_busier = seal_us > open_us ? seal_us : open_us;
    double crypto = FRAME / crypto_busier; /* bytes per microsecond = MB/s */
    printf("channel bulk, 16 KiB ChaCha20-Poly1305 frames over a socketpair, 16 KiB writes: %.1f MB/s wall, "
           "%.1f MB/s per core (CPU per 16 KiB: send side %.2f us, receive side %.2f us)\n",
           small.wall_mb_s, small.core_mb_s, small.tx_us, small.rx_us);
    printf("channel bulk, the same with 256 KiB writes: %.1f MB/s wall, %.1f MB/s per core "
           "(send side %.2f us, receive side %.2f us)\n",
           big.wall_mb_s, big.core_mb_s, big.tx_us, big.rx_us);
    printf("crypto only (frame seal / open, no socket): seal %.2f us, open %.2f us per 16 KiB: %.1f MB/s per core\n",
           seal_us, open_us, crypto);
    printf("socketpair alone, 16 KiB records: %.1f MB/s wall, %.1f MB/s per core (send %.2f us, recv %.2f us)\n",
           io.wall_mb_s, io.core_mb_s, io.tx_us, io.rx_us);
    printf("EVP ChaCha20-Poly1305 seal of 16 KiB, one thread (in-process anchor): %.1f MB/s wall, %.1f MB/s CPU | "
           "wall ratio %.2f\n",
           evp, evp_cpu, evp > 0 ? small.wall_mb_s / evp : 0);
    printf("handshake with emulated SNP evidence (%d runs): p50 %.3f ms, p99 %.3f ms\n", n, p50, p99);
    printf("channel_mb_s=%.1f\nchannel_core_mb_s=%.1f\nchannel_big_mb_s=%.1f\nchannel_big_core_mb_s=%.1f\n"
           "crypto_core_mb_s=%.1f\nio_core_mb_s=%.1f\nevp_mb_s=%.1f\nevp_cpu_mb_s=%.1f\n"
           "handshake_p50_ms=%.3f\nhandshake_p99_ms=%.3f\n",
           small.wall_mb_s, small.core_mb_s, big.wall_mb_s, big.core_mb_s, crypto, io.core_mb_s, evp, evp_cpu, p50,
           p99);
    rc = 0;
done:
    ccg_snp_policy_free(w.policy);
    ccg_snp_verifier_free(w.verifier);
    ccg_snp_emulator_free(w.emu);
    return rc;
}
