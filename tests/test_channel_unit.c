/* The attested channel, in process: the wire parsers, frame protection (exact sequence, AAD, splice),
 * the token bucket, and whole handshakes over a socketpair with the server in a thread, including the
 * impersonator that knows an old private key and serves its stale evidence. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"
#include "tcb_util.h"

#include "../src/channel/channel_internal.h"
#include "ccgate/channel.h"
#include "ccgate/secmem.h"
#include "ccgate/snp_emulator.h"

#define NOW "2026-06-01T00:00:00Z"

/* ------------------------------------------------------------------ wire */

static void test_header(void **state)
{
    (void)state;
    uint8_t h[CCG_CH_HEADER_LEN];
    ccg_ch_header out;
    ccg_ch_header_write(h, CCG_CH_T_DATA, 0x0102030405060708ull, 99);
    assert_true(ccg_ok(ccg_ch_header_parse(h, sizeof(h), 100, &out)));
    assert_int_equal(out.type, CCG_CH_T_DATA);
    assert_true(out.seq == 0x0102030405060708ull);
    assert_int_equal(out.len, 99);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_ch_header_parse(h, sizeof(h), 98, &out)));
    tu_assert_error_reason(CCG_R_CHANNEL_FRAME_TOO_LARGE);
    h[2] = 1;
    ccg_error_clear();
    assert_true(ccg_failed(ccg_ch_header_parse(h, sizeof(h), 100, &out)));
    tu_assert_error_reason(CCG_R_CHANNEL_MESSAGE_MALFORMED);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_ch_header_parse(h, sizeof(h) - 1, 100, &out)));
    tu_assert_error_reason(CCG_R_CHANNEL_MESSAGE_MALFORMED);
}

static void good_m1(uint8_t body[CCG_CH_M1_BODY_LEN])
{
    ccg_ch_m1 m = {.version = 1, .suite = {0x20, 1, 3}};
    memset(m.nonce, 0xab, sizeof(m.nonce));
    assert_true(ccg_ok(ccg_ch_m1_encode(&m, body)));
}

static void test_m1(void **state)
{
    (void)state;
    uint8_t b[CCG_CH_M1_BODY_LEN + 1];
    ccg_ch_m1 m;
    good_m1(b);
    assert_true(ccg_ok(ccg_ch_m1_parse(b, CCG_CH_M1_BODY_LEN, &m)));
    assert_int_equal(m.suite.aead_id, 3);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_ch_m1_parse(b, CCG_CH_M1_BODY_LEN - 1, &m)));
    tu_assert_error_reason(CCG_R_CHANNEL_MESSAGE_MALFORMED);
    b[CCG_CH_M1_BODY_LEN] = 0;
    ccg_error_clear();
    assert_true(ccg_failed(ccg_ch_m1_parse(b, CCG_CH_M1_BODY_LEN + 1, &m)));
    tu_assert_error_reason(CCG_R_CHANNEL_MESSAGE_MALFORMED);
    b[0] = 2;
    ccg_error_clear();
    assert_true(ccg_failed(ccg_ch_m1_parse(b, CCG_CH_M1_BODY_LEN, &m)));
    tu_assert_error_reason(CCG_R_CHANNEL_VERSION_UNSUPPORTED);
    good_m1(b);
    b[7] = 0xFF; /* AEAD export-only: not a channel suite */
    ccg_error_clear();
    assert_true(ccg_failed(ccg_ch_m1_parse(b, CCG_CH_M1_BODY_LEN, &m)));
    tu_assert_error_reason(CCG_R_CHANNEL_SUITE_UNSUPPORTED);
    good_m1(b);
    b[9] = 1; /* reserved */
    ccg_error_clear();
    assert_true(ccg_failed(ccg_ch_m1_parse(b, CCG_CH_M1_BODY_LEN, &m)));
    tu_assert_error_reason(CCG_R_CHANNEL_MESSAGE_MALFORMED);
}

static void test_m2(void **state)
{
    (void)state;
    ccg_channel_evidence ev = {0};
    uint8_t pk[32], *body = NULL;
    size_t len = 0;
    ccg_ch_m2 m;
    memset(pk, 7, sizeof(pk));
    ev.report = calloc(1, 1184);
    ev.report_len = 1184;
    uint8_t cert[100];
    memset(cert, 0x30, sizeof(cert));
    assert_true(ccg_ok(ccg_channel_evidence_add_cert(&ev, cert, sizeof(cert))));
    assert_true(ccg_ok(ccg_channel_evidence_add_cert(&ev, cert, 50)));
    assert_true(ccg_ok(ccg_ch_m2_encode((ccg_hpke_suite){0x20, 1, 1}, pk, &ev, &body, &len)));
    assert_true(ccg_ok(ccg_ch_m2_parse(body, len, &m)));
    assert_int_equal(m.cert_count, 2);
    assert_int_equal(m.cert_lens[1], 50);
    assert_int_equal(m.report_len, 1184);
    assert_memory_equal(m.pk_s, pk, 32);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_ch_m2_parse(body, len - 1, &m)));
    tu_assert_error_reason(CCG_R_CHANNEL_MESSAGE_MALFORMED);
    body[44] = 9; /* certificate count above the maximum */
    ccg_error_clear();
    assert_true(ccg_failed(ccg_ch_m2_parse(body, len, &m)));
    tu_assert_error_reason(CCG_R_CHANNEL_MESSAGE_MALFORMED);
    body[44] = 2;
    body[43] = 2; /* unknown evidence type */
    ccg_error_clear();
    assert_true(ccg_failed(ccg_ch_m2_parse(body, len, &m)));
    tu_assert_error_reason(CCG_R_CHANNEL_MESSAGE_MALFORMED);
    free(body);
    ccg_channel_evidence_clear(&ev);
}

static void test_m3_sf_alert(void **state)
{
    (void)state;
    ccg_ch_m3 m = {.version = 1}, out;
    uint8_t b[CCG_CH_M3_BODY_LEN], mac[32];
    memset(m.enc, 1, 32);
    memset(m.confirm, 2, 32);
    ccg_ch_m3_encode(&m, b);
    assert_true(ccg_ok(ccg_ch_m3_parse(b, sizeof(b), &out)));
    assert_memory_equal(out.confirm, m.confirm, 32);
    b[1] = 1;
    ccg_error_clear();
    assert_true(ccg_failed(ccg_ch_m3_parse(b, sizeof(b), &out)));
    tu_assert_error_reason(CCG_R_CHANNEL_MESSAGE_MALFORMED);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_ch_sf_parse(b, 31, mac)));
    tu_assert_error_reason(CCG_R_CHANNEL_MESSAGE_MALFORMED);
    const char *code = "channel.rate_limited";
    uint8_t alert[64];
    alert[0] = (uint8_t)strlen(code);
    memcpy(alert + 1, code, strlen(code));
    ccg_reason r = CCG_R_OK;
    assert_true(ccg_ok(ccg_ch_alert_parse(alert, 1 + strlen(code), &r)));
    assert_int_equal(r, CCG_R_CHANNEL_RATE_LIMITED);
    /* A peer may not claim a verifier's verdict. */
    code = "snp.debug_enabled";
    alert[0] = (uint8_t)strlen(code);
    memcpy(alert + 1, code, strlen(code));
    ccg_error_clear();
    assert_true(ccg_failed(ccg_ch_alert_parse(alert, 1 + strlen(code), &r)));
    tu_assert_error_reason(CCG_R_CHANNEL_MESSAGE_MALFORMED);
}

static void test_report_data_binds_each_input(void **state)
{
    (void)state;
    uint8_t m1[60], pk[32], a[64], b[64];
    memset(m1, 1, sizeof(m1));
    memset(pk, 2, sizeof(pk));
    ccg_hpke_suite s = {0x20, 1, 3};
    assert_true(ccg_ok(ccg_ch_report_data(m1, sizeof(m1), pk, s, a)));
    m1[59] ^= 1;
    assert_true(ccg_ok(ccg_ch_report_data(m1, sizeof(m1), pk, s, b)));
    assert_memory_not_equal(a, b, 64);
    m1[59] ^= 1;
    pk[0] ^= 1;
    assert_true(ccg_ok(ccg_ch_report_data(m1, sizeof(m1), pk, s, b)));
    assert_memory_not_equal(a, b, 64);
    pk[0] ^= 1;
    s.aead_id = 1;
    assert_true(ccg_ok(ccg_ch_report_data(m1, sizeof(m1), pk, s, b)));
    assert_memory_not_equal(a, b, 64);
}

/* ------------------------------------------------------------------ frames */

typedef struct {
    ccg_ch_dir tx, rx;
} frame_pair;

static void pair_init(frame_pair *p, uint8_t key_byte)
{
    ccg_ch_dir_keys k;
    memset(&k, key_byte, sizeof(k));
    k.key_len = 32;
    assert_true(ccg_ok(ccg_ch_dir_init(&p->tx, CCG_HPKE_AEAD_CHACHA20POLY1305, &k)));
    assert_true(ccg_ok(ccg_ch_dir_init(&p->rx, CCG_HPKE_AEAD_CHACHA20POLY1305, &k)));
}

static void pair_free(frame_pair *p)
{
    ccg_ch_dir_free(&p->tx);
    ccg_ch_dir_free(&p->rx);
}

static ccg_result open_frame(ccg_ch_dir *rx, const uint8_t *f, size_t n, uint8_t *pt, size_t *pt_len)
{
    ccg_ch_header h;
    if (ccg_failed(ccg_ch_header_parse(f, CCG_CH_HEADER_LEN, CCG_CH_MAX_FRAME_BODY, &h))) {
        return CCG_FAILURE;
    }
    assert_int_equal(h.len, n - CCG_CH_HEADER_LEN);
    return ccg_ch_frame_open(rx, f, &h, f + CCG_CH_HEADER_LEN, pt, pt_len);
}

static void test_frames(void **state)
{
    (void)state;
    frame_pair p, other;
    uint8_t f0[128], f1[128], f2[128], fx[128], pt[128];
    size_t n0, n1, n2, nx, len;
    pair_init(&p, 0x11);
    pair_init(&other, 0x22);
    assert_true(ccg_ok(ccg_ch_frame_seal(&p.tx, CCG_CH_T_DATA, (const uint8_t *)"frame zero", 10, f0, &n0)));
    assert_true(ccg_ok(ccg_ch_frame_seal(&p.tx, CCG_CH_T_DATA, (const uint8_t *)"frame one!", 10, f1, &n1)));
    assert_true(ccg_ok(ccg_ch_frame_seal(&p.tx, CCG_CH_T_DATA, (const uint8_t *)"frame two!", 10, f2, &n2)));
    assert_true(ccg_ok(ccg_ch_frame_seal(&other.tx, CCG_CH_T_DATA, (const uint8_t *)"other sess", 10, fx, &nx)));
    /* reordered: frame 1 before frame 0 */
    ccg_error_clear();
    assert_true(ccg_failed(open_frame(&p.rx, f1, n1, pt, &len)));
    tu_assert_error_reason(CCG_R_CHANNEL_SEQUENCE_INVALID);
    assert_true(ccg_ok(open_frame(&p.rx, f0, n0, pt, &len)));
    assert_memory_equal(pt, "frame zero", 10);
    /* replayed */
    ccg_error_clear();
    assert_true(ccg_failed(open_frame(&p.rx, f0, n0, pt, &len)));
    tu_assert_error_reason(CCG_R_CHANNEL_SEQUENCE_INVALID);
    /* dropped: frame 2 where 1 is due */
    ccg_error_clear();
    assert_true(ccg_failed(open_frame(&p.rx, f2, n2, pt, &len)));
    tu_assert_error_reason(CCG_R_CHANNEL_SEQUENCE_INVALID);
    /* spliced from another session (right sequence number, other key) */
    fx[11] = 1; /* sequence 1 */
    ccg_error_clear();
    assert_true(ccg_failed(open_frame(&p.rx, fx, nx, pt, &len)));
    tu_assert_error_reason(CCG_R_CHANNEL_FRAME_AUTH_FAILED);
    /* the header is AAD: turning DATA into CLOSE breaks the tag */
    f1[0] = CCG_CH_T_CLOSE;
    ccg_error_clear();
    assert_true(ccg_failed(open_frame(&p.rx, f1, n1, pt, &len)));
    tu_assert_error_reason(CCG_R_CHANNEL_FRAME_AUTH_FAILED);
    f1[0] = CCG_CH_T_DATA;
    f1[CCG_CH_HEADER_LEN + 3] ^= 0x40;
    ccg_error_clear();
    assert_true(ccg_failed(open_frame(&p.rx, f1, n1, pt, &len)));
    tu_assert_error_reason(CCG_R_CHANNEL_FRAME_AUTH_FAILED);
    f1[CCG_CH_HEADER_LEN + 3] ^= 0x40;
    assert_true(ccg_ok(open_frame(&p.rx, f1, n1, pt, &len)));
    assert_memory_equal(pt, "frame one!", 10);
    /* an ALERT after the handshake is unauthenticated: refused as such, never taken for its claim */
    f2[0] = CCG_CH_T_ALERT;
    ccg_error_clear();
    assert_true(ccg_failed(open_frame(&p.rx, f2, n2, pt, &len)));
    tu_assert_error_reason(CCG_R_CHANNEL_ALERT_UNAUTHENTICATED);
    /* unknown type and oversize */
    f2[0] = 0x77;
    ccg_error_clear();
    assert_true(ccg_failed(open_frame(&p.rx, f2, n2, pt, &len)));
    tu_assert_error_reason(CCG_R_CHANNEL_MESSAGE_MALFORMED);
    uint8_t big[CCG_CH_HEADER_LEN];
    ccg_ch_header h;
    ccg_ch_header_write(big, CCG_CH_T_DATA, 2, CCG_CH_MAX_FRAME_BODY + 1);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_ch_header_parse(big, sizeof(big), CCG_CH_MAX_FRAME_BODY, &h)));
    tu_assert_error_reason(CCG_R_CHANNEL_FRAME_TOO_LARGE);
    uint8_t *huge = calloc(1, CCG_CHANNEL_MAX_PLAINTEXT + 1 + 64);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_ch_frame_seal(&p.tx, CCG_CH_T_DATA, huge, CCG_CHANNEL_MAX_PLAINTEXT + 1, huge, &n0)));
    tu_assert_error_reason(CCG_R_CHANNEL_FRAME_TOO_LARGE);
    free(huge);
    pair_free(&p);
    pair_free(&other);
}

/* ------------------------------------------------------------------ token bucket */

static void test_ratelimit(void **state)
{
    (void)state;
    ccg_channel_ratelimit *rl = NULL;
    assert_true(ccg_ok(ccg_channel_ratelimit_new(1.0, 3, 2, &rl)));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ccg_channel_ratelimit_take(rl, "10.0.0.1", 1000), 1);
    }
    assert_int_equal(ccg_channel_ratelimit_take(rl, "10.0.0.1", 1000), 0);
    assert_int_equal(ccg_channel_ratelimit_take(rl, "10.0.0.1", 1500), 0); /* half a token */
    assert_int_equal(ccg_channel_ratelimit_take(rl, "10.0.0.2", 1500), 1); /* independent bucket */
    assert_int_equal(ccg_channel_ratelimit_take(rl, "10.0.0.1", 2000), 1); /* refilled one */
    assert_int_equal(ccg_channel_ratelimit_take(rl, "10.0.0.1", 2000), 0);
    /* never above the burst, however long the pause */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ccg_channel_ratelimit_take(rl, "10.0.0.1", 1000000), 1);
    }
    assert_int_equal(ccg_channel_ratelimit_take(rl, "10.0.0.1", 1000000), 0);
    /* a time going backwards gives nothing */
    assert_int_equal(ccg_channel_ratelimit_take(rl, "10.0.0.1", 5), 0);
    ccg_channel_ratelimit_free(rl);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_channel_ratelimit_new(0, 3, 2, &rl)));
    tu_assert_error_reason(CCG_R_USAGE_INVALID);
}

/* ------------------------------------------------------------------ handshakes */

typedef struct {
    ccg_snp_emulator *emu;
    ccg_snp_verifier *verifier;
    tu_tcb_env tcb; /* the emulator's TCB is UpToDate for the client's policy */
} world;

static int world_setup(void **state)
{
    world *w = calloc(1, sizeof(*w));
    ccg_snp_emulator_config cfg;
    ccg_snp_emulator_config_init(&cfg, CCG_SNP_PRODUCT_MILAN, CCG_SNP_SIGNER_VCEK);
    if (ccg_failed(ccg_snp_emulator_new(&cfg, &w->emu)) || ccg_failed(ccg_snp_verifier_new(&w->verifier)) ||
        ccg_failed(ccg_snp_verifier_add_root(w->verifier, CCG_SNP_PRODUCT_MILAN, ccg_snp_emulator_ark(w->emu)))) {
        return -1;
    }
    tu_tcb_env_init(&w->tcb);
    *state = w;
    return 0;
}

static int world_teardown(void **state)
{
    world *w = *state;
    ccg_snp_verifier_free(w->verifier);
    ccg_snp_emulator_free(w->emu);
    tu_tcb_env_free(&w->tcb);
    free(w);
    return 0;
}

/* A server thread: one accept, then echo until close. */
typedef struct {
    int fd;
    ccg_channel_server_config cfg;
    ccg_channel_emulated em;
    ccg_reason reason; /* how the server ended */
    ccg_channel_evidence saved; /* a copy of the evidence it served, when save is set */
    int save;
    const ccg_channel_evidence *stale; /* serve this instead (the impersonator) */
} server_run;

static ccg_result copy_evidence(const ccg_channel_evidence *in, ccg_channel_evidence *out)
{
    ccg_result result = CCG_FAILURE;
    memset(out, 0, sizeof(*out));
    out->report = malloc(in->report_len);
    CCG_ENSURE_ALLOC(out->report);
    memcpy(out->report, in->report, in->report_len);
    out->report_len = in->report_len;
    for (size_t i = 0; i < in->cert_count; i++) {
        CCG_TRY(ccg_channel_evidence_add_cert(out, in->certs[i], in->cert_lens[i]));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result test_evidence(void *arg, const uint8_t report_data[64], ccg_channel_evidence *out)
{
    server_run *r = arg;
    if (r->stale != NULL) {
        return copy_evidence(r->stale, out); /* ignores report_data: it can only replay */
    }
    ccg_result res = ccg_channel_emulated_evidence(&r->em, report_data, out);
    if (ccg_ok(res) && r->save) {
        res = copy_evidence(out, &r->saved);
    }
    return res;
}

static void *server_main(void *arg)
{
    server_run *r = arg;
    ccg_channel_session *s = NULL;
    uint8_t buf[CCG_CHANNEL_MAX_PLAINTEXT];
    size_t len = 0;
    int closed = 0;
    r->reason = CCG_R_OK;
    ccg_error_clear();
    if (ccg_failed(ccg_channel_accept(r->fd, &r->cfg, &s))) {
        goto fail;
    }
    for (;;) {
        if (ccg_failed(ccg_channel_recv(s, buf, sizeof(buf), &len, &closed))) {
            goto fail;
        }
        if (closed) {
            if (ccg_failed(ccg_channel_close(s))) {
                goto fail;
            }
            break;
        }
        if (ccg_failed(ccg_channel_send(s, buf, len))) {
            goto fail;
        }
    }
    ccg_channel_session_free(s);
    close(r->fd);
    return NULL;
fail:
    r->reason = ccg_error_reason();
    ccg_channel_session_free(s);
    close(r->fd);
    return NULL;
}

static void server_init(server_run *r, world *w)
{
    memset(r, 0, sizeof(*r));
    r->em.emu = w->emu;
    ccg_snp_report rep;
    ccg_snp_emulator_default_report(w->emu, &rep);
    memcpy(r->em.measurement, rep.measurement, 48);
    r->cfg.get_evidence = test_evidence;
    r->cfg.evidence_arg = r;
    r->cfg.timeout_ms = 5000;
}

static void client_init(ccg_channel_client_config *c, world *w)
{
    memset(c, 0, sizeof(*c));
    c->verifier = w->verifier;
    c->opts = &w->tcb.opts;
    c->now = tu_time(NOW);
    c->timeout_ms = 5000;
}

/* Runs one handshake (and, when it succeeds, an echo and a close) against r; returns the client's result. */
static ccg_result run_pair(server_run *r, const ccg_channel_client_config *c, ccg_decision *d)
{
    int sv[2];
    pthread_t t;
    ccg_channel_session *s = NULL;
    uint8_t buf[64];
    size_t len = 0;
    int closed = 0;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    r->fd = sv[1];
    assert_int_equal(pthread_create(&t, NULL, server_main, r), 0);
    ccg_error_clear();
    ccg_result res = ccg_channel_connect(sv[0], c, d, &s);
    if (ccg_ok(res)) {
        assert_true(ccg_ok(ccg_channel_send(s, (const uint8_t *)"prompt", 6)));
        assert_true(ccg_ok(ccg_channel_recv(s, buf, sizeof(buf), &len, &closed)));
        assert_int_equal(len, 6);
        assert_memory_equal(buf, "prompt", 6);
        assert_true(ccg_ok(ccg_channel_close(s)));
        assert_true(ccg_ok(ccg_channel_recv(s, buf, sizeof(buf), &len, &closed)));
        assert_int_equal(closed, 1);
        /* after close: no send, and the peer's close was seen */
        ccg_error_clear();
        assert_true(ccg_failed(ccg_channel_send(s, buf, 1)));
        tu_assert_error_reason(CCG_R_CHANNEL_CLOSED);
        ccg_error_clear();
        assert_true(ccg_failed(ccg_channel_recv(s, buf, sizeof(buf), &len, &closed)));
        tu_assert_error_reason(CCG_R_CHANNEL_PEER_CLOSED);
        ccg_error_clear();
    } else {
        ccg_error saved = *ccg_error_last();
        close(sv[0]);
        sv[0] = -1;
        pthread_join(t, NULL);
        ccg_error_clear();
        ccg_error_set(saved.reason, saved.file, saved.line, "%s", saved.message);
        return res;
    }
    ccg_channel_session_free(s);
    close(sv[0]);
    pthread_join(t, NULL);
    return res;
}

static void test_handshake_ok(void **state)
{
    world *w = *state;
    server_run r;
    ccg_channel_client_config c;
    ccg_decision d;
    server_init(&r, w);
    client_init(&c, w);
    assert_true(ccg_ok(run_pair(&r, &c, &d)));
    assert_int_equal(d.allow, 1);
    assert_int_equal(r.reason, CCG_R_OK);
    ccg_decision_free(&d);
    /* AES-128-GCM frames too */
    server_init(&r, w);
    c.aead_id = CCG_HPKE_AEAD_AES128GCM;
    assert_true(ccg_ok(run_pair(&r, &c, NULL)));
    assert_int_equal(r.reason, CCG_R_OK);
}

/* A message longer than one frame is split into 16 KiB frames that are sealed in batches and written
 * together (channel_frame.c, send_data): across a batch boundary the frames still arrive in order, each
 * with the next sequence number, and an empty message is still one empty frame. */
static void test_large_message_frames(void **state)
{
    world *w = *state;
    server_run r;
    ccg_channel_client_config c;
    int sv[2];
    pthread_t t;
    ccg_channel_session *s = NULL;
    const size_t frames = CCG_CH_TX_FRAMES + 2, tail = 100;
    const size_t total = (frames - 1) * CCG_CHANNEL_MAX_PLAINTEXT + tail;
    uint8_t *msg = malloc(total), *back = malloc(CCG_CHANNEL_MAX_PLAINTEXT);
    size_t len = 0, off = 0;
    int closed = 0;
    assert_non_null(msg);
    assert_non_null(back);
    for (size_t i = 0; i < total; i++) {
        msg[i] = (uint8_t)(i * 131u + (i >> 14));
    }
    server_init(&r, w);
    client_init(&c, w);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    r.fd = sv[1];
    assert_int_equal(pthread_create(&t, NULL, server_main, &r), 0);
    ccg_error_clear();
    assert_true(ccg_ok(ccg_channel_connect(sv[0], &c, NULL, &s)));
    assert_true(ccg_ok(ccg_channel_send(s, msg, total)));
    for (size_t f = 0; f < frames; f++) { /* the server echoes frame by frame */
        assert_true(ccg_ok(ccg_channel_recv(s, back, CCG_CHANNEL_MAX_PLAINTEXT, &len, &closed)));
        assert_int_equal(closed, 0);
        assert_int_equal(len, f + 1 < frames ? CCG_CHANNEL_MAX_PLAINTEXT : tail);
        assert_memory_equal(back, msg + off, len);
        off += len;
    }
    assert_int_equal(off, total);
    assert_true(ccg_ok(ccg_channel_send(s, msg, 0)));
    assert_true(ccg_ok(ccg_channel_recv(s, back, CCG_CHANNEL_MAX_PLAINTEXT, &len, &closed)));
    assert_int_equal(len, 0);
    assert_int_equal(closed, 0);
    assert_true(ccg_ok(ccg_channel_close(s)));
    assert_true(ccg_ok(ccg_channel_recv(s, back, CCG_CHANNEL_MAX_PLAINTEXT, &len, &closed)));
    assert_int_equal(closed, 1);
    ccg_channel_session_free(s);
    close(sv[0]);
    pthread_join(t, NULL);
    assert_int_equal(r.reason, CCG_R_OK);
    free(msg);
    free(back);
}

static void test_handshake_debug_denied(void **state)
{
    world *w = *state;
    server_run r;
    ccg_channel_client_config c;
    ccg_decision d;
    server_init(&r, w);
    r.em.debug = 1;
    client_init(&c, w);
    ccg_error_clear();
    assert_true(ccg_failed(run_pair(&r, &c, &d)));
    tu_assert_error_reason(CCG_R_CHANNEL_EVIDENCE_DENIED);
    assert_true(ccg_reasons_has(&d.reasons, CCG_R_SNP_DEBUG_ENABLED));
    assert_int_equal(r.reason, CCG_R_CHANNEL_PEER_CLOSED); /* the client hung up before M3 */
    ccg_decision_free(&d);
}

static void test_handshake_wrong_measurement(void **state)
{
    world *w = *state;
    server_run r;
    ccg_channel_client_config c;
    ccg_decision d;
    ccg_snp_policy *p = NULL;
    char json[256];
    char hex[97];
    uint8_t other[48];
    memset(other, 0x5a, sizeof(other));
    ccg_hex_encode(other, 48, hex);
    snprintf(json, sizeof(json), "{\"policy_id\":\"client\",\"version\":1,\"allowed_measurements\":[\"%s\"]}", hex);
    assert_true(ccg_ok(ccg_snp_policy_parse(json, strlen(json), &p)));
    server_init(&r, w);
    client_init(&c, w);
    c.policy = p;
    ccg_error_clear();
    assert_true(ccg_failed(run_pair(&r, &c, &d)));
    tu_assert_error_reason(CCG_R_CHANNEL_EVIDENCE_DENIED);
    assert_true(ccg_reasons_has(&d.reasons, CCG_R_SNP_MEASUREMENT_NOT_ALLOWED));
    ccg_decision_free(&d);
    /* the approved measurement passes */
    memcpy(r.em.measurement, other, 48);
    server_init(&r, w);
    memcpy(r.em.measurement, other, 48);
    assert_true(ccg_ok(run_pair(&r, &c, NULL)));
    ccg_snp_policy_free(p);
}

/* The seed's hole: an attacker who stole an old session's private key and kept its evidence serves both.
 * The evidence is genuine and the key matches it, but REPORT_DATA binds the OLD client nonce. */
static void test_impersonator_with_stale_key(void **state)
{
    world *w = *state;
    server_run genuine, impostor;
    ccg_channel_client_config c;
    ccg_hpke_keypair kp;
    assert_true(ccg_ok(ccg_hpke_generate_keypair(&kp)));
    server_init(&genuine, w);
    genuine.cfg.test_keypair = &kp;
    genuine.save = 1;
    client_init(&c, w);
    assert_true(ccg_ok(run_pair(&genuine, &c, NULL)));
    server_init(&impostor, w);
    impostor.cfg.test_keypair = &kp;
    impostor.stale = &genuine.saved;
    ccg_error_clear();
    assert_true(ccg_failed(run_pair(&impostor, &c, NULL)));
    tu_assert_error_reason(CCG_R_CHANNEL_BINDING_MISMATCH);
    ccg_channel_evidence_clear(&genuine.saved);
    ccg_hpke_keypair_clear(&kp);
}

static int refuse(void *arg)
{
    (void)arg;
    return 0;
}

static ccg_result no_evidence(void *arg, const uint8_t report_data[64], ccg_channel_evidence *out)
{
    (void)arg;
    (void)report_data;
    (void)out;
    ccg_error_set(CCG_R_ATTEST_NO_TEE, __FILE__, __LINE__, "no TEE here");
    return CCG_FAILURE;
}

static void test_handshake_refusals(void **state)
{
    world *w = *state;
    server_run r;
    ccg_channel_client_config c;
    server_init(&r, w);
    r.cfg.admit = refuse;
    client_init(&c, w);
    ccg_error_clear();
    assert_true(ccg_failed(run_pair(&r, &c, NULL)));
    tu_assert_error_reason(CCG_R_CHANNEL_RATE_LIMITED);
    assert_int_equal(r.reason, CCG_R_CHANNEL_RATE_LIMITED);
    server_init(&r, w);
    r.cfg.get_evidence = no_evidence;
    ccg_error_clear();
    assert_true(ccg_failed(run_pair(&r, &c, NULL)));
    tu_assert_error_reason(CCG_R_CHANNEL_EVIDENCE_UNAVAILABLE);
    assert_int_equal(r.reason, CCG_R_CHANNEL_EVIDENCE_UNAVAILABLE);
    /* a suite the channel does not allow never leaves the client */
    server_init(&r, w);
    c.aead_id = CCG_HPKE_AEAD_EXPORT_ONLY;
    ccg_error_clear();
    assert_true(ccg_failed(run_pair(&r, &c, NULL)));
    tu_assert_error_reason(CCG_R_CHANNEL_SUITE_UNSUPPORTED);
}

/* An untrusted root: a verifier without the emulator's ARK refuses it. */
static void test_untrusted_root(void **state)
{
    world *w = *state;
    server_run r;
    ccg_channel_client_config c;
    ccg_decision d;
    ccg_snp_verifier *plain = NULL;
    assert_true(ccg_ok(ccg_snp_verifier_new(&plain)));
    server_init(&r, w);
    client_init(&c, w);
    c.verifier = plain;
    ccg_error_clear();
    assert_true(ccg_failed(run_pair(&r, &c, &d)));
    tu_assert_error_reason(CCG_R_CHANNEL_EVIDENCE_DENIED);
    assert_true(d.reasons.count > 0);
    ccg_decision_free(&d);
    ccg_snp_verifier_free(plain);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header),
        cmocka_unit_test(test_m1),
        cmocka_unit_test(test_m2),
        cmocka_unit_test(test_m3_sf_alert),
        cmocka_unit_test(test_report_data_binds_each_input),
        cmocka_unit_test(test_frames),
        cmocka_unit_test(test_ratelimit),
        cmocka_unit_test(test_handshake_ok),
        cmocka_unit_test(test_large_message_frames),
        cmocka_unit_test(test_handshake_debug_denied),
        cmocka_unit_test(test_handshake_wrong_measurement),
        cmocka_unit_test(test_impersonator_with_stale_key),
        cmocka_unit_test(test_handshake_refusals),
        cmocka_unit_test(test_untrusted_root),
    };
    return cmocka_run_group_tests(tests, world_setup, world_teardown);
}
