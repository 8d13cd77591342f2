/* The adversarial suite (issue 5, must-show 2-4): a man-in-the-middle proxy on loopback between a real
 * client (this process, the library) and a real server PROCESS (`$CCG_CLI channel serve`). Every attack
 * is rejected with its own reason code, on the side that detects it (the server's is read from its log):
 *   - a byte flipped in M1, M2, M3 and SF at several offsets;
 *   - M2 replayed from an earlier session;
 *   - evidence with the wrong measurement, or a debug guest;
 *   - a replayed, reordered, dropped, tampered or spliced (other session) frame, a truncated stream;
 *   - the capture check: no plaintext marker after the handshake, byte entropy > 7.9 bits/byte;
 *   - failure paths: either side killed mid-stream, the other ends with a reason, nothing left running;
 *   - the per-address rate limit of evidence generation.
 * (The impersonator that knows an old private key is in test_channel_unit: it needs the key.) */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "tu_proc.h"
#include "tcb_util.h"

#include "ccgate/channel.h"
#include "ccgate/snp_report.h"

#define NOW "2026-06-01T00:00:00Z"
#define GOOD_MEASUREMENT "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define WRONG_MEASUREMENT "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define MARKER "PROMPT-MARKER-7f3a: the capital of France"
#define HDR 16

/* ------------------------------------------------------------------ server processes */

typedef struct {
    pid_t pid;
    int port;
    char dir[64];
    char out[128];
    char err[128];
    ccg_snp_verifier *verifier; /* trusts this server's emulator root */
} server_proc;

static char *slurp(const char *path, size_t *len)
{
    uint8_t *data = NULL;
    size_t n = 0;
    ccg_error_clear();
    if (ccg_failed(ccg_file_read(path, 1u << 22, &data, &n))) {
        ccg_error_clear();
        return NULL;
    }
    if (len != NULL) {
        *len = n;
    }
    return (char *)data;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void server_start(server_proc *sp, const char *const *extra)
{
    const char *cli = getenv("CCG_CLI");
    assert_non_null(cli);
    memset(sp, 0, sizeof(*sp));
    snprintf(sp->dir, sizeof(sp->dir), "/tmp/ccg-channel-XXXXXX");
    assert_non_null(mkdtemp(sp->dir));
    snprintf(sp->out, sizeof(sp->out), "%s/out", sp->dir);
    snprintf(sp->err, sizeof(sp->err), "%s/err", sp->dir);
    char emu[96];
    snprintf(emu, sizeof(emu), "%s/emu", sp->dir);
    const char *argv[24] = {cli, "channel", "serve", "--emulate-dir", emu, "--port", "0", "--timeout-ms", "10000"};
    int n = 9;
    for (int i = 0; extra != NULL && extra[i] != NULL && n < 22; i++) {
        argv[n++] = extra[i];
    }
    argv[n] = NULL;
    sp->pid = tu_spawn(argv, sp->out, sp->err); /* dies with this test, whatever happens */
    assert_true(sp->pid > 0);
    for (int i = 0; i < 600 && sp->port == 0; i++) {
        char *text = slurp(sp->out, NULL);
        const char *p = text ? strstr(text, "127.0.0.1:") : NULL;
        if (p != NULL && strchr(p, '\n') != NULL) {
            sp->port = atoi(p + strlen("127.0.0.1:"));
        }
        free(text);
        if (sp->port == 0) {
            sleep_ms(100);
        }
    }
    assert_true(sp->port > 0);
    /* The client trusts this server's emulator root explicitly, as `channel send --trust-root` does. */
    char ark[128];
    size_t len = 0;
    snprintf(ark, sizeof(ark), "%s/ark.pem", emu);
    char *pem = slurp(ark, &len);
    assert_non_null(pem);
    ccg_snp_collateral tmp;
    assert_true(ccg_ok(ccg_snp_collateral_init(&tmp)));
    assert_true(ccg_ok(ccg_snp_collateral_add_certs(&tmp, (const uint8_t *)pem, len)));
    assert_true(ccg_ok(ccg_snp_verifier_new(&sp->verifier)));
    assert_true(ccg_ok(ccg_snp_verifier_add_root(sp->verifier, CCG_SNP_PRODUCT_MILAN, sk_X509_value(tmp.certs, 0))));
    ccg_snp_collateral_free(&tmp);
    free(pem);
}

static int connect_port(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Stops the server with SIGTERM and checks that it exited cleanly and left no listener behind. */
static void server_stop(server_proc *sp)
{
    int status = tu_stop(sp->pid, SIGTERM, 20000);
    assert_true(status != -1 && WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(connect_port(sp->port), -1); /* nobody listens any more */
    ccg_snp_verifier_free(sp->verifier);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", sp->dir);
    assert_int_equal(system(cmd), 0);
}

static int count_lines(const char *text)
{
    int n = 0;
    for (const char *p = text; p && *p; p++) {
        n += *p == '\n';
    }
    return n;
}

static int server_lines(const server_proc *sp)
{
    char *text = slurp(sp->err, NULL);
    int n = count_lines(text);
    free(text);
    return n;
}

/* The reason code of the server's line number `index` (0-based), waiting for it to appear. */
static ccg_reason server_outcome(const server_proc *sp, int index)
{
    for (int tries = 0; tries < 300; tries++) {
        char *text = slurp(sp->err, NULL);
        if (count_lines(text) > index) {
            const char *line = text;
            for (int i = 0; i < index; i++) {
                line = strchr(line, '\n') + 1;
            }
            const char *p = strstr(line, "127.0.0.1: ");
            assert_non_null(p);
            p += strlen("127.0.0.1: ");
            char code[96];
            size_t n = strcspn(p, ":\n");
            snprintf(code, sizeof(code), "%.*s", (int)n, p);
            free(text);
            return strcmp(code, "ok") == 0 ? CCG_R_OK : ccg_reason_from_code(code);
        }
        free(text);
        sleep_ms(50);
    }
    fail_msg("the server logged no outcome line %d", index);
    return CCG_R__COUNT;
}

/* ------------------------------------------------------------------ the proxy */

enum { C2S = 0, S2C = 1 };
enum { ACT_NONE, ACT_FLIP, ACT_DROP, ACT_DUP, ACT_SWAP, ACT_REPLACE, ACT_CUT };
#define MAX_RECS 128

typedef struct {
    int act, act_dir, act_index;
    size_t flip_offset;
    const uint8_t *replace;
    size_t replace_len;
    int listen_fd, port, upstream;
    pthread_t thread;
    uint8_t *recs[2][MAX_RECS];
    size_t rec_lens[2][MAX_RECS];
    size_t nrec[2];
    uint8_t *held;       /* ACT_SWAP */
    size_t held_len;
    uint8_t *post;       /* what the wire carried after the handshake, both directions */
    size_t post_len;
} proxy;

static void proxy_listen(proxy *px, int upstream)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    px->upstream = upstream;
    px->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(px->listen_fd >= 0);
    assert_int_equal(bind(px->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(px->listen_fd, 1), 0);
    assert_int_equal(getsockname(px->listen_fd, (struct sockaddr *)&sa, &len), 0);
    px->port = ntohs(sa.sin_port);
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0) {
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static void post_append(proxy *px, int dir, size_t index, const uint8_t *p, size_t n)
{
    if (index < 2) { /* M1, M3 one way; M2, SF the other: the handshake */
        return;
    }
    (void)dir;
    px->post = realloc(px->post, px->post_len + n);
    assert_non_null(px->post);
    memcpy(px->post + px->post_len, p, n);
    px->post_len += n;
}

static int forward(proxy *px, int dir, size_t index, int out, const uint8_t *p, size_t n)
{
    post_append(px, dir, index, p, n);
    return write_all(out, p, n);
}

/* One complete record from direction dir: keep a copy, apply the case's action, forward. Returns -1 to
 * stop the proxy (ACT_CUT or a dead peer). */
static int on_record(proxy *px, int dir, int out, uint8_t *rec, size_t n)
{
    size_t index = px->nrec[dir]++;
    if (index < MAX_RECS) {
        px->recs[dir][index] = malloc(n);
        assert_non_null(px->recs[dir][index]);
        memcpy(px->recs[dir][index], rec, n);
        px->rec_lens[dir][index] = n;
    }
    if (px->act == ACT_NONE || dir != px->act_dir || (int)index != px->act_index) {
        if (forward(px, dir, index, out, rec, n) != 0) {
            return -1;
        }
        if (px->held != NULL && dir == px->act_dir) { /* the swapped frame goes after its successor */
            int rc = forward(px, dir, index, out, px->held, px->held_len);
            free(px->held);
            px->held = NULL;
            return rc;
        }
        return 0;
    }
    switch (px->act) {
    case ACT_FLIP:
        assert_true(px->flip_offset < n);
        rec[px->flip_offset] ^= 0x01;
        return forward(px, dir, index, out, rec, n);
    case ACT_DROP:
        return 0;
    case ACT_DUP:
        return forward(px, dir, index, out, rec, n) != 0 ? -1 : forward(px, dir, index, out, rec, n);
    case ACT_SWAP:
        px->held = malloc(n);
        assert_non_null(px->held);
        memcpy(px->held, rec, n);
        px->held_len = n;
        return 0;
    case ACT_REPLACE:
        return forward(px, dir, index, out, px->replace, px->replace_len);
    case ACT_CUT:
    default:
        return -1;
    }
}

typedef struct {
    uint8_t *data;
    size_t len;
    int eof;
} dir_buf;

static void *proxy_main(void *arg)
{
    proxy *px = arg;
    struct pollfd lp = {.fd = px->listen_fd, .events = POLLIN};
    if (poll(&lp, 1, 20000) != 1) {
        return NULL;
    }
    int fds[2];
    fds[C2S] = accept(px->listen_fd, NULL, NULL);
    fds[S2C] = connect_port(px->upstream);
    dir_buf b[2] = {{0}, {0}};
    int stop = fds[C2S] < 0 || fds[S2C] < 0;
    while (!stop && !(b[0].eof && b[1].eof)) {
        struct pollfd p[2] = {{.fd = b[0].eof ? -1 : fds[0], .events = POLLIN},
                              {.fd = b[1].eof ? -1 : fds[1], .events = POLLIN}};
        if (poll(p, 2, 20000) <= 0) {
            break;
        }
        for (int d = 0; d < 2 && !stop; d++) {
            if (p[d].revents == 0) {
                continue;
            }
            uint8_t tmp[65536];
            ssize_t k = recv(fds[d], tmp, sizeof(tmp), 0);
            int out = fds[1 - d];
            if (k <= 0) {
                b[d].eof = 1;
                if (b[d].len > 0) { /* a partial record: pass it on as it is */
                    (void)write_all(out, b[d].data, b[d].len);
                    b[d].len = 0;
                }
                shutdown(out, SHUT_WR);
                continue;
            }
            b[d].data = realloc(b[d].data, b[d].len + (size_t)k);
            assert_non_null(b[d].data);
            memcpy(b[d].data + b[d].len, tmp, (size_t)k);
            b[d].len += (size_t)k;
            while (b[d].len >= HDR && !stop) {
                size_t body = ((size_t)b[d].data[12] << 24) | ((size_t)b[d].data[13] << 16) |
                              ((size_t)b[d].data[14] << 8) | b[d].data[15];
                if (b[d].len < HDR + body) {
                    break;
                }
                size_t n = HDR + body;
                uint8_t *rec = malloc(n);
                assert_non_null(rec);
                memcpy(rec, b[d].data, n);
                memmove(b[d].data, b[d].data + n, b[d].len - n);
                b[d].len -= n;
                stop = on_record(px, d, out, rec, n) != 0;
                free(rec);
            }
        }
    }
    for (int d = 0; d < 2; d++) {
        free(b[d].data);
        if (fds[d] >= 0) {
            close(fds[d]);
        }
    }
    return NULL;
}

static void proxy_start(proxy *px, int upstream)
{
    proxy_listen(px, upstream);
    assert_int_equal(pthread_create(&px->thread, NULL, proxy_main, px), 0);
}

static void proxy_finish(proxy *px)
{
    pthread_join(px->thread, NULL);
    close(px->listen_fd);
    px->listen_fd = -1;
}

static void proxy_free(proxy *px)
{
    for (int d = 0; d < 2; d++) {
        for (size_t i = 0; i < px->nrec[d] && i < MAX_RECS; i++) {
            free(px->recs[d][i]);
        }
    }
    free(px->held);
    free(px->post);
    memset(px, 0, sizeof(*px));
}

/* ------------------------------------------------------------------ the client side of a case */

typedef struct {
    ccg_reason client;          /* the first failure the client saw, or CCG_R_OK */
    ccg_reason server;          /* the server's logged outcome */
    ccg_decision decision;      /* the client's verifier decision */
} outcome;

typedef struct {
    const ccg_snp_policy *policy;
    int messages;               /* data frames each way */
    size_t message_len;         /* bytes per message (0: a short text) */
    int lockstep;               /* wait for each echo before the next send */
} session_plan;

/* The client's TCB baselines (the suite's tu_tcb_env). */
static const ccg_snp_verify_opts *client_opts;

static ccg_snp_policy *good_policy(void)
{
    static const char json[] =
        "{\"policy_id\":\"client\",\"version\":1,\"allowed_measurements\":[\"" GOOD_MEASUREMENT "\"]}";
    ccg_snp_policy *p = NULL;
    assert_true(ccg_ok(ccg_snp_policy_parse(json, strlen(json), &p)));
    return p;
}

static void fill_message(uint8_t *buf, size_t len, int i)
{
    for (size_t k = 0; k < len; k++) {
        buf[k] = MARKER[(k + (size_t)i) % (sizeof(MARKER) - 1)];
    }
}

static ccg_result client_exchange(ccg_channel_session *s, const session_plan *plan)
{
    ccg_result result = CCG_FAILURE;
    size_t mlen = plan->message_len > 0 ? plan->message_len : 24;
    uint8_t *msg = malloc(mlen), *got = malloc(CCG_CHANNEL_MAX_PLAINTEXT);
    size_t len = 0;
    int closed = 0, sent = 0, received = 0;
    CCG_ENSURE_ALLOC(msg);
    CCG_ENSURE_ALLOC(got);
    while (received < plan->messages) {
        while (sent < plan->messages && (sent == received || !plan->lockstep)) {
            fill_message(msg, mlen, sent);
            CCG_TRY(ccg_channel_send(s, msg, mlen));
            sent++;
        }
        CCG_TRY(ccg_channel_recv(s, got, CCG_CHANNEL_MAX_PLAINTEXT, &len, &closed));
        CCG_ENSURE(!closed && len == mlen, CCG_R_INTERNAL_ERROR);
        fill_message(msg, mlen, received);
        CCG_ENSURE(memcmp(msg, got, mlen) == 0, CCG_R_INTERNAL_ERROR);
        received++;
    }
    CCG_TRY(ccg_channel_close(s));
    CCG_TRY(ccg_channel_recv(s, got, CCG_CHANNEL_MAX_PLAINTEXT, &len, &closed));
    CCG_ENSURE(closed, CCG_R_INTERNAL_ERROR);
    result = CCG_SUCCESS;
cleanup:
    free(msg);
    free(got);
    return result;
}

/* One session from this process to port (a proxy or the server), the server's outcome read from its log. */
static void run_session(server_proc *sp, int port, const session_plan *plan, proxy *px, outcome *o)
{
    ccg_channel_client_config cfg = {
        .verifier = sp->verifier, .policy = plan->policy, .opts = client_opts, .timeout_ms = 10000};
    ccg_channel_session *s = NULL;
    int line = server_lines(sp);
    cfg.now = tu_time(NOW);
    int fd = connect_port(port);
    assert_true(fd >= 0);
    ccg_error_clear();
    o->client = CCG_R_OK;
    if (ccg_failed(ccg_channel_connect(fd, &cfg, &o->decision, &s)) || ccg_failed(client_exchange(s, plan))) {
        o->client = ccg_error_reason();
        fprintf(stderr, "  client: %s: %s\n", ccg_reason_code(o->client), ccg_error_last()->message);
    }
    ccg_channel_session_free(s);
    close(fd);
    if (px != NULL) {
        proxy_finish(px);
    }
    o->server = server_outcome(sp, line);
    fprintf(stderr, "  server: %s\n", ccg_reason_code(o->server));
}

/* A case through a fresh proxy; the proxy (and its captures) stay with the caller. */
static void run_case(server_proc *sp, proxy *px, const session_plan *plan, outcome *o)
{
    proxy_start(px, sp->port);
    run_session(sp, px->port, plan, px, o);
}

/* ------------------------------------------------------------------ fixtures */

typedef struct {
    server_proc good;
    ccg_snp_policy *policy;
    tu_tcb_env tcb; /* the served emulator's TCB is UpToDate for the client's policy */
} suite_state;

static int suite_setup(void **state)
{
    suite_state *st = calloc(1, sizeof(*st));
    const char *extra[] = {"--measurement", GOOD_MEASUREMENT, "--rate", "1000", "--burst", "1000", NULL};
    server_start(&st->good, extra);
    st->policy = good_policy();
    tu_tcb_env_init(&st->tcb);
    client_opts = &st->tcb.opts;
    *state = st;
    return 0;
}

static int suite_teardown(void **state)
{
    suite_state *st = *state;
    server_stop(&st->good);
    ccg_snp_policy_free(st->policy);
    tu_tcb_env_free(&st->tcb);
    client_opts = NULL;
    free(st);
    return 0;
}

static void expect_case(suite_state *st, int act, int dir, int index, size_t offset, ccg_reason client,
                        ccg_reason server)
{
    proxy px = {.act = act, .act_dir = dir, .act_index = index, .flip_offset = offset};
    session_plan plan = {.policy = st->policy, .messages = 3};
    outcome o;
    fprintf(stderr, "case: action %d, %s record %d, offset %zu\n", act, dir == C2S ? "c2s" : "s2c", index, offset);
    run_case(&st->good, &px, &plan, &o);
    if (o.client != client || o.server != server) {
        fail_msg("expected client %s / server %s, got %s / %s", ccg_reason_code(client), ccg_reason_code(server),
                 ccg_reason_code(o.client), ccg_reason_code(o.server));
    }
    ccg_decision_free(&o.decision);
    proxy_free(&px);
}

/* ------------------------------------------------------------------ cases */

static void test_baseline_through_proxy(void **state)
{
    suite_state *st = *state;
    expect_case(st, ACT_NONE, C2S, 0, 0, CCG_R_OK, CCG_R_OK);
}

/* M1 = header(16) | version | reserved | kem(2) kdf(2) aead(2) | reserved(4) | nonce(32). */
static void test_flip_m1(void **state)
{
    suite_state *st = *state;
    expect_case(st, ACT_FLIP, C2S, 0, 0, CCG_R_CHANNEL_PEER_CLOSED, CCG_R_CHANNEL_MESSAGE_MALFORMED);  /* type */
    expect_case(st, ACT_FLIP, C2S, 0, 12, CCG_R_CHANNEL_PEER_CLOSED, CCG_R_CHANNEL_FRAME_TOO_LARGE);   /* length */
    expect_case(st, ACT_FLIP, C2S, 0, 16, CCG_R_CHANNEL_VERSION_UNSUPPORTED, CCG_R_CHANNEL_VERSION_UNSUPPORTED);
    expect_case(st, ACT_FLIP, C2S, 0, 17, CCG_R_CHANNEL_MESSAGE_MALFORMED, CCG_R_CHANNEL_MESSAGE_MALFORMED);
    expect_case(st, ACT_FLIP, C2S, 0, 23, CCG_R_CHANNEL_SUITE_UNSUPPORTED, CCG_R_CHANNEL_SUITE_UNSUPPORTED);
    /* the nonce: the server binds what it received, the client checks what it sent */
    expect_case(st, ACT_FLIP, C2S, 0, 16 + 12 + 5, CCG_R_CHANNEL_BINDING_MISMATCH, CCG_R_CHANNEL_PEER_CLOSED);
    expect_case(st, ACT_FLIP, C2S, 0, 16 + 43, CCG_R_CHANNEL_BINDING_MISMATCH, CCG_R_CHANNEL_PEER_CLOSED);
}

/* M2 = header | version | reserved | suite(6) | reserved(2) | pk_s(32) | type(2) | count | reserved |
 * report length(4) | report(1184) | (length(4) | DER) per certificate. */
static void test_flip_m2(void **state)
{
    suite_state *st = *state;
    const size_t report = 16 + 50;
    expect_case(st, ACT_FLIP, S2C, 0, 1, CCG_R_CHANNEL_MESSAGE_MALFORMED, CCG_R_CHANNEL_PEER_CLOSED);
    expect_case(st, ACT_FLIP, S2C, 0, 16, CCG_R_CHANNEL_VERSION_UNSUPPORTED, CCG_R_CHANNEL_PEER_CLOSED);
    expect_case(st, ACT_FLIP, S2C, 0, 16 + 7, CCG_R_CHANNEL_SUITE_UNSUPPORTED, CCG_R_CHANNEL_PEER_CLOSED);
    expect_case(st, ACT_FLIP, S2C, 0, 16 + 10 + 3, CCG_R_CHANNEL_BINDING_MISMATCH, CCG_R_CHANNEL_PEER_CLOSED);
    expect_case(st, ACT_FLIP, S2C, 0, 16 + 41, CCG_R_CHANNEL_BINDING_MISMATCH, CCG_R_CHANNEL_PEER_CLOSED);
    expect_case(st, ACT_FLIP, S2C, 0, 16 + 44, CCG_R_CHANNEL_MESSAGE_MALFORMED, CCG_R_CHANNEL_PEER_CLOSED);
    /* inside the signed report: REPORT_DATA, MEASUREMENT, the signature itself */
    expect_case(st, ACT_FLIP, S2C, 0, report + 0x50, CCG_R_CHANNEL_EVIDENCE_DENIED, CCG_R_CHANNEL_PEER_CLOSED);
    expect_case(st, ACT_FLIP, S2C, 0, report + 0x90, CCG_R_CHANNEL_EVIDENCE_DENIED, CCG_R_CHANNEL_PEER_CLOSED);
    expect_case(st, ACT_FLIP, S2C, 0, report + 0x2A0 + 9, CCG_R_CHANNEL_EVIDENCE_DENIED, CCG_R_CHANNEL_PEER_CLOSED);
    /* the last byte of the VCEK: its signature */
    proxy px = {0};
    session_plan plan = {.policy = st->policy, .messages = 1};
    outcome o;
    run_case(&st->good, &px, &plan, &o);
    assert_int_equal(o.client, CCG_R_OK);
    const uint8_t *m2 = px.recs[S2C][0];
    size_t cert = report + 1184;
    size_t vcek_len = ((size_t)m2[cert] << 24) | ((size_t)m2[cert + 1] << 16) | ((size_t)m2[cert + 2] << 8) | m2[cert + 3];
    size_t last = cert + 4 + vcek_len - 1;
    ccg_decision_free(&o.decision);
    proxy_free(&px);
    expect_case(st, ACT_FLIP, S2C, 0, last, CCG_R_CHANNEL_EVIDENCE_DENIED, CCG_R_CHANNEL_PEER_CLOSED);
}

/* M3 = header | version | reserved(3) | enc(32) | client MAC(32). The server detects these. */
static void test_flip_m3(void **state)
{
    suite_state *st = *state;
    expect_case(st, ACT_FLIP, C2S, 1, 0, CCG_R_CHANNEL_PEER_CLOSED, CCG_R_CHANNEL_MESSAGE_MALFORMED);
    expect_case(st, ACT_FLIP, C2S, 1, 16, CCG_R_CHANNEL_PEER_CLOSED, CCG_R_CHANNEL_VERSION_UNSUPPORTED);
    expect_case(st, ACT_FLIP, C2S, 1, 18, CCG_R_CHANNEL_PEER_CLOSED, CCG_R_CHANNEL_MESSAGE_MALFORMED);
    expect_case(st, ACT_FLIP, C2S, 1, 16 + 4 + 3, CCG_R_CHANNEL_PEER_CLOSED, CCG_R_CHANNEL_CONFIRM_FAILED);
    expect_case(st, ACT_FLIP, C2S, 1, 16 + 35, CCG_R_CHANNEL_PEER_CLOSED, CCG_R_CHANNEL_CONFIRM_FAILED);
    expect_case(st, ACT_FLIP, C2S, 1, 16 + 36 + 7, CCG_R_CHANNEL_PEER_CLOSED, CCG_R_CHANNEL_CONFIRM_FAILED);
    expect_case(st, ACT_FLIP, C2S, 1, 16 + 67, CCG_R_CHANNEL_PEER_CLOSED, CCG_R_CHANNEL_CONFIRM_FAILED);
}

/* SF = header | server MAC(32). The client detects these, then hangs up on the server. */
static void test_flip_sf(void **state)
{
    suite_state *st = *state;
    expect_case(st, ACT_FLIP, S2C, 1, 0, CCG_R_CHANNEL_MESSAGE_MALFORMED, CCG_R_CHANNEL_TRUNCATED);
    expect_case(st, ACT_FLIP, S2C, 1, 10, CCG_R_CHANNEL_MESSAGE_MALFORMED, CCG_R_CHANNEL_TRUNCATED);
    expect_case(st, ACT_FLIP, S2C, 1, 16, CCG_R_CHANNEL_CONFIRM_FAILED, CCG_R_CHANNEL_TRUNCATED);
    expect_case(st, ACT_FLIP, S2C, 1, 16 + 31, CCG_R_CHANNEL_CONFIRM_FAILED, CCG_R_CHANNEL_TRUNCATED);
}

/* An ALERT record as a server sends it before M2: header (type 0x0F, sequence 0) | u8 length | code. */
static size_t make_alert(uint8_t *out, size_t cap, const char *code)
{
    size_t n = strlen(code);
    assert_true(HDR + 1 + n <= cap);
    memset(out, 0, HDR);
    out[0] = 0x0F;
    out[15] = (uint8_t)(1 + n);
    out[HDR] = (uint8_t)n;
    memcpy(out + HDR + 1, code, n);
    return HDR + 1 + n;
}

static void expect_replaced(suite_state *st, int dir, int index, const uint8_t *rec, size_t len, ccg_reason client,
                            ccg_reason server)
{
    proxy px = {.act = ACT_REPLACE, .act_dir = dir, .act_index = index, .replace = rec, .replace_len = len};
    session_plan plan = {.policy = st->policy, .messages = 3};
    outcome o;
    fprintf(stderr, "case: %s record %d replaced by %zu bytes\n", dir == C2S ? "c2s" : "s2c", index, len);
    run_case(&st->good, &px, &plan, &o);
    if (o.client != client || o.server != server) {
        fail_msg("expected client %s / server %s, got %s / %s", ccg_reason_code(client), ccg_reason_code(server),
                 ccg_reason_code(o.client), ccg_reason_code(o.server));
    }
    ccg_decision_free(&o.decision);
    proxy_free(&px);
}

/* Issue 10, item 14: after M2 only authenticated records may change the outcome. A proxy that replaces
 * the server's SF (or the client's M3, or a frame) with an ALERT naming channel.rate_limited is not
 * believed: the side that reads it ends with channel.alert_unauthenticated, never the forged verdict. */
static void test_alert_after_m2_is_not_believed(void **state)
{
    suite_state *st = *state;
    uint8_t alert[96];
    size_t n = make_alert(alert, sizeof(alert), "channel.rate_limited");
    expect_replaced(st, S2C, 1, alert, n, CCG_R_CHANNEL_ALERT_UNAUTHENTICATED, CCG_R_CHANNEL_TRUNCATED); /* SF */
    expect_replaced(st, C2S, 1, alert, n, CCG_R_CHANNEL_PEER_CLOSED, CCG_R_CHANNEL_ALERT_UNAUTHENTICATED); /* M3 */
    expect_replaced(st, S2C, 2, alert, n, CCG_R_CHANNEL_ALERT_UNAUTHENTICATED, CCG_R_CHANNEL_TRUNCATED); /* frame */
    n = make_alert(alert, sizeof(alert), "channel.evidence_unavailable");
    expect_replaced(st, S2C, 1, alert, n, CCG_R_CHANNEL_ALERT_UNAUTHENTICATED, CCG_R_CHANNEL_TRUNCATED);
    /* An ALERT from the client (in place of M1) is no refusal the server believes either. */
    expect_replaced(st, C2S, 0, alert, n, CCG_R_CHANNEL_PEER_CLOSED, CCG_R_CHANNEL_MESSAGE_MALFORMED);
    /* Before M2 an ALERT is the server's refusal (unauthenticated, documented): still accepted there. */
    n = make_alert(alert, sizeof(alert), "channel.rate_limited");
    expect_replaced(st, S2C, 0, alert, n, CCG_R_CHANNEL_RATE_LIMITED, CCG_R_CHANNEL_PEER_CLOSED);
}

/* Session A's M2 (genuine evidence, its own key) injected into session B. */
static void test_m2_replayed(void **state)
{
    suite_state *st = *state;
    proxy a = {0};
    session_plan plan = {.policy = st->policy, .messages = 1};
    outcome o;
    run_case(&st->good, &a, &plan, &o);
    assert_int_equal(o.client, CCG_R_OK);
    ccg_decision_free(&o.decision);
    proxy b = {.act = ACT_REPLACE, .act_dir = S2C, .act_index = 0, .replace = a.recs[S2C][0],
               .replace_len = a.rec_lens[S2C][0]};
    run_case(&st->good, &b, &plan, &o);
    assert_int_equal(o.client, CCG_R_CHANNEL_BINDING_MISMATCH);
    assert_int_equal(o.decision.allow, 1); /* the evidence itself is genuine and passes the policy */
    assert_int_equal(o.server, CCG_R_CHANNEL_PEER_CLOSED);
    ccg_decision_free(&o.decision);
    proxy_free(&a);
    proxy_free(&b);
}

/* Frames: s2c records 2.. are the echoes; c2s records 2.. the client's messages. */
static void test_frames_replayed_reordered_dropped(void **state)
{
    suite_state *st = *state;
    expect_case(st, ACT_DUP, S2C, 2, 0, CCG_R_CHANNEL_SEQUENCE_INVALID, CCG_R_CHANNEL_TRUNCATED);
    expect_case(st, ACT_SWAP, S2C, 2, 0, CCG_R_CHANNEL_SEQUENCE_INVALID, CCG_R_CHANNEL_TRUNCATED);
    expect_case(st, ACT_DROP, S2C, 3, 0, CCG_R_CHANNEL_SEQUENCE_INVALID, CCG_R_CHANNEL_TRUNCATED);
    expect_case(st, ACT_DUP, C2S, 2, 0, CCG_R_CHANNEL_TRUNCATED, CCG_R_CHANNEL_SEQUENCE_INVALID);
    expect_case(st, ACT_SWAP, C2S, 3, 0, CCG_R_CHANNEL_TRUNCATED, CCG_R_CHANNEL_SEQUENCE_INVALID);
    expect_case(st, ACT_DROP, C2S, 2, 0, CCG_R_CHANNEL_TRUNCATED, CCG_R_CHANNEL_SEQUENCE_INVALID);
    /* a dropped close frame is a truncation, on either side */
    expect_case(st, ACT_CUT, S2C, 5, 0, CCG_R_CHANNEL_TRUNCATED, CCG_R_OK);
    expect_case(st, ACT_CUT, C2S, 5, 0, CCG_R_CHANNEL_TRUNCATED, CCG_R_CHANNEL_TRUNCATED);
    /* truncated in mid-stream */
    expect_case(st, ACT_CUT, S2C, 3, 0, CCG_R_CHANNEL_TRUNCATED, CCG_R_CHANNEL_TRUNCATED);
}

static void test_frames_tampered(void **state)
{
    suite_state *st = *state;
    expect_case(st, ACT_FLIP, S2C, 2, 16 + 2, CCG_R_CHANNEL_FRAME_AUTH_FAILED, CCG_R_CHANNEL_TRUNCATED);
    expect_case(st, ACT_FLIP, S2C, 2, 1, CCG_R_CHANNEL_MESSAGE_MALFORMED, CCG_R_CHANNEL_TRUNCATED); /* reserved */
    expect_case(st, ACT_FLIP, S2C, 3, 11, CCG_R_CHANNEL_SEQUENCE_INVALID, CCG_R_CHANNEL_TRUNCATED); /* sequence */
    expect_case(st, ACT_FLIP, C2S, 3, 16 + 20, CCG_R_CHANNEL_TRUNCATED, CCG_R_CHANNEL_FRAME_AUTH_FAILED);
    /* DATA turned into CLOSE: the type is authenticated */
    expect_case(st, ACT_FLIP, C2S, 4, 0, CCG_R_CHANNEL_TRUNCATED, CCG_R_CHANNEL_FRAME_AUTH_FAILED);
    expect_case(st, ACT_FLIP, S2C, 2, 0, CCG_R_CHANNEL_FRAME_AUTH_FAILED, CCG_R_CHANNEL_TRUNCATED);
}

/* Frames spliced from another session: right position, right sequence, other keys. */
static void test_frames_spliced(void **state)
{
    suite_state *st = *state;
    proxy a = {0};
    session_plan plan = {.policy = st->policy, .messages = 3};
    outcome o;
    run_case(&st->good, &a, &plan, &o);
    assert_int_equal(o.client, CCG_R_OK);
    ccg_decision_free(&o.decision);
    proxy b = {.act = ACT_REPLACE, .act_dir = S2C, .act_index = 3, .replace = a.recs[S2C][3],
               .replace_len = a.rec_lens[S2C][3]};
    run_case(&st->good, &b, &plan, &o);
    assert_int_equal(o.client, CCG_R_CHANNEL_FRAME_AUTH_FAILED);
    ccg_decision_free(&o.decision);
    proxy_free(&b);
    proxy c = {.act = ACT_REPLACE, .act_dir = C2S, .act_index = 2, .replace = a.recs[C2S][2],
               .replace_len = a.rec_lens[C2S][2]};
    run_case(&st->good, &c, &plan, &o);
    assert_int_equal(o.server, CCG_R_CHANNEL_FRAME_AUTH_FAILED);
    ccg_decision_free(&o.decision);
    proxy_free(&c);
    proxy_free(&a);
}

static double entropy_bits(const uint8_t *p, size_t n)
{
    double count[256] = {0}, h = 0;
    for (size_t i = 0; i < n; i++) {
        count[p[i]]++;
    }
    for (int i = 0; i < 256; i++) {
        if (count[i] > 0) {
            double q = count[i] / (double)n;
            h -= q * log2(q);
        }
    }
    return h;
}

static void test_capture(void **state)
{
    suite_state *st = *state;
    proxy px = {0};
    session_plan plan = {.policy = st->policy, .messages = 16, .message_len = 4096, .lockstep = 1};
    outcome o;
    run_case(&st->good, &px, &plan, &o);
    assert_int_equal(o.client, CCG_R_OK);
    assert_int_equal(o.server, CCG_R_OK);
    assert_true(px.post_len >= 2 * 16 * 4096);
    assert_null(memmem(px.post, px.post_len, "PROMPT-MARKER", 13));
    assert_null(memmem(px.post, px.post_len, "capital of France", 17));
    assert_null(memmem(px.post, px.post_len, "France", 6));
    double h = entropy_bits(px.post, px.post_len);
    printf("capture: %zu bytes after the handshake (headers included), no plaintext marker, entropy %.4f bits/byte\n",
           px.post_len, h);
    fflush(stdout);
    assert_true(h > 7.9);
    /* sanity: the same bytes in clear would have been caught */
    uint8_t clear[4096];
    fill_message(clear, sizeof(clear), 0);
    assert_non_null(memmem(clear, sizeof(clear), "PROMPT-MARKER", 13));
    assert_true(entropy_bits(clear, sizeof(clear)) < 6.0);
    ccg_decision_free(&o.decision);
    proxy_free(&px);
}

static void test_wrong_measurement_and_debug(void **state)
{
    suite_state *st = *state;
    server_proc wrong, debug;
    const char *w_extra[] = {"--measurement", WRONG_MEASUREMENT, NULL};
    const char *d_extra[] = {"--measurement", GOOD_MEASUREMENT, "--debug", NULL};
    session_plan plan = {.policy = st->policy, .messages = 1};
    outcome o;
    server_start(&wrong, w_extra);
    proxy px = {0};
    proxy_start(&px, wrong.port);
    run_session(&wrong, px.port, &plan, &px, &o);
    assert_int_equal(o.client, CCG_R_CHANNEL_EVIDENCE_DENIED);
    assert_true(ccg_reasons_has(&o.decision.reasons, CCG_R_SNP_MEASUREMENT_NOT_ALLOWED));
    assert_int_equal(o.server, CCG_R_CHANNEL_PEER_CLOSED);
    ccg_decision_free(&o.decision);
    proxy_free(&px);
    server_stop(&wrong);

    server_start(&debug, d_extra);
    proxy_start(&px, debug.port);
    run_session(&debug, px.port, &plan, &px, &o);
    assert_int_equal(o.client, CCG_R_CHANNEL_EVIDENCE_DENIED);
    assert_true(ccg_reasons_has(&o.decision.reasons, CCG_R_SNP_DEBUG_ENABLED));
    ccg_decision_free(&o.decision);
    proxy_free(&px);
    server_stop(&debug);
}

static void test_rate_limit(void **state)
{
    suite_state *st = *state;
    server_proc sp;
    const char *extra[] = {"--measurement", GOOD_MEASUREMENT, "--rate", "0.01", "--burst", "2", NULL};
    session_plan plan = {.policy = st->policy, .messages = 1};
    outcome o;
    server_start(&sp, extra);
    for (int i = 0; i < 2; i++) {
        run_session(&sp, sp.port, &plan, NULL, &o);
        assert_int_equal(o.client, CCG_R_OK);
        ccg_decision_free(&o.decision);
    }
    run_session(&sp, sp.port, &plan, NULL, &o);
    assert_int_equal(o.client, CCG_R_CHANNEL_RATE_LIMITED);
    assert_int_equal(o.server, CCG_R_CHANNEL_RATE_LIMITED);
    ccg_decision_free(&o.decision);
    server_stop(&sp);
}

/* Kill the server mid-stream: the client ends with channel.truncated; the server is reaped. */
static void test_kill_server_midstream(void **state)
{
    suite_state *st = *state;
    server_proc sp;
    const char *extra[] = {"--measurement", GOOD_MEASUREMENT, NULL};
    server_start(&sp, extra);
    ccg_channel_client_config cfg = {
        .verifier = sp.verifier, .policy = st->policy, .opts = client_opts, .timeout_ms = 10000};
    cfg.now = tu_time(NOW);
    ccg_channel_session *s = NULL;
    uint8_t buf[64];
    size_t len = 0;
    int closed = 0, status = 0;
    int fd = connect_port(sp.port);
    ccg_error_clear();
    assert_true(ccg_ok(ccg_channel_connect(fd, &cfg, NULL, &s)));
    assert_true(ccg_ok(ccg_channel_send(s, (const uint8_t *)"one", 3)));
    assert_true(ccg_ok(ccg_channel_recv(s, buf, sizeof(buf), &len, &closed)));
    assert_int_equal(kill(sp.pid, SIGKILL), 0);
    assert_int_equal(waitpid(sp.pid, &status, 0), sp.pid);
    assert_true(WIFSIGNALED(status));
    ccg_error_clear();
    if (ccg_ok(ccg_channel_send(s, (const uint8_t *)"two", 3))) {
        assert_true(ccg_failed(ccg_channel_recv(s, buf, sizeof(buf), &len, &closed)));
    }
    tu_assert_error_reason(CCG_R_CHANNEL_TRUNCATED);
    ccg_channel_session_free(s);
    close(fd);
    assert_int_equal(kill(sp.pid, 0), -1); /* reaped: nothing left */
    assert_int_equal(errno, ESRCH);
    assert_int_equal(connect_port(sp.port), -1);
    ccg_snp_verifier_free(sp.verifier);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", sp.dir);
    assert_int_equal(system(cmd), 0);
}

/* Kill the client mid-stream: the server logs channel.truncated and goes on serving. */
static void test_kill_client_midstream(void **state)
{
    suite_state *st = *state;
    int line = server_lines(&st->good);
    int status = 0;
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        ccg_channel_client_config cfg = {
            .verifier = st->good.verifier, .policy = st->policy, .opts = client_opts, .timeout_ms = 10000};
        cfg.now = tu_time(NOW);
        ccg_channel_session *s = NULL;
        uint8_t buf[64];
        size_t len = 0;
        int closed = 0;
        int fd = connect_port(st->good.port);
        if (fd < 0 || ccg_failed(ccg_channel_connect(fd, &cfg, NULL, &s)) ||
            ccg_failed(ccg_channel_send(s, (const uint8_t *)"one", 3)) ||
            ccg_failed(ccg_channel_recv(s, buf, sizeof(buf), &len, &closed))) {
            _exit(3);
        }
        raise(SIGKILL); /* mid-stream: no close frame */
        _exit(4);
    }
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    assert_int_equal(server_outcome(&st->good, line), CCG_R_CHANNEL_TRUNCATED);
    /* the server still serves */
    session_plan plan = {.policy = st->policy, .messages = 1};
    outcome o;
    run_session(&st->good, st->good.port, &plan, NULL, &o);
    assert_int_equal(o.client, CCG_R_OK);
    assert_int_equal(o.server, CCG_R_OK);
    ccg_decision_free(&o.decision);
}

int main(void)
{
    if (getenv("CCG_CLI") == NULL) {
        return tu_skip_or_fail_main("CCG_CLI is not set (run through ctest)");
    }
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_baseline_through_proxy),
        cmocka_unit_test(test_flip_m1),
        cmocka_unit_test(test_flip_m2),
        cmocka_unit_test(test_flip_m3),
        cmocka_unit_test(test_flip_sf),
        cmocka_unit_test(test_m2_replayed),
        cmocka_unit_test(test_alert_after_m2_is_not_believed),
        cmocka_unit_test(test_frames_replayed_reordered_dropped),
        cmocka_unit_test(test_frames_tampered),
        cmocka_unit_test(test_frames_spliced),
        cmocka_unit_test(test_capture),
        cmocka_unit_test(test_wrong_measurement_and_debug),
        cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_kill_server_midstream),
        cmocka_unit_test(test_kill_client_midstream),
    };
    return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
