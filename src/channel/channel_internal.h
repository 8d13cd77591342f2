/* Internals of the attested channel: the wire format (channel_wire.c), the key schedule
 * (channel_keys.c), socket I/O (channel_io.c) and frame protection (channel_frame.c). The fuzz targets
 * and unit tests include this header to reach the parsers. */
#ifndef CCGATE_CHANNEL_INTERNAL_H
#define CCGATE_CHANNEL_INTERNAL_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "ccgate/channel.h"
#include "ccgate/hpke.h"

/* The thread's first error wins (error.h); where the channel maps a lower-level failure to its own
 * reason, it replaces the error instead. */
#define CCG_CH_REPLACE_ERROR(reason, ...)                                   \
    do {                                                                    \
        ccg_error_clear();                                                  \
        ccg_error_set((reason), __FILE__, __LINE__, __VA_ARGS__);           \
    } while (0)

/* Every record: type u8 | reserved u8[3] (zero) | sequence u64 BE | length u32 BE | body. */
#define CCG_CH_HEADER_LEN 16u
#define CCG_CH_T_M1 0x01
#define CCG_CH_T_M2 0x02
#define CCG_CH_T_M3 0x03
#define CCG_CH_T_SF 0x04
#define CCG_CH_T_ALERT 0x0F /* before M2 only, unauthenticated: the server's refusal with a reason code */
#define CCG_CH_T_DATA 0x10
#define CCG_CH_T_CLOSE 0x11

#define CCG_CH_EVIDENCE_SNP 0x0001
#define CCG_CH_M1_BODY_LEN 44u
#define CCG_CH_M3_BODY_LEN 68u
#define CCG_CH_SF_BODY_LEN 32u
#define CCG_CH_MAC_LEN 32u
#define CCG_CH_MAX_FRAME_BODY (CCG_CHANNEL_MAX_PLAINTEXT + CCG_HPKE_TAG_LEN)
#define CCG_CH_MAX_ALERT_CODE 64u

typedef struct {
    uint8_t type;
    uint64_t seq;
    uint32_t len;
} ccg_ch_header;

typedef struct {
    uint8_t version;
    ccg_hpke_suite suite;
    uint8_t nonce[CCG_CHANNEL_NONCE_LEN];
} ccg_ch_m1;

/* Borrowed views into the M2 body. */
typedef struct {
    uint8_t version;
    ccg_hpke_suite suite;
    uint8_t pk_s[CCG_HPKE_X25519_LEN];
    uint16_t evidence_type;
    const uint8_t *report;
    size_t report_len;
    const uint8_t *certs[CCG_CHANNEL_MAX_CERTS];
    size_t cert_lens[CCG_CHANNEL_MAX_CERTS];
    size_t cert_count;
} ccg_ch_m2;

typedef struct {
    uint8_t version;
    uint8_t enc[CCG_HPKE_X25519_LEN];
    uint8_t confirm[CCG_CH_MAC_LEN];
} ccg_ch_m3;

/* ---- wire (channel_wire.c); parsers use the bounded reader and fail with channel.* reasons ---- */
void ccg_ch_header_write(uint8_t out[CCG_CH_HEADER_LEN], uint8_t type, uint64_t seq, uint32_t len);
/* Parses a header; max_len bounds the body (channel.frame_too_large). */
CCG_MUST_CHECK ccg_result ccg_ch_header_parse(const uint8_t *buf, size_t len, uint32_t max_len, ccg_ch_header *out);
CCG_MUST_CHECK ccg_result ccg_ch_m1_encode(const ccg_ch_m1 *m, uint8_t out[CCG_CH_M1_BODY_LEN]);
CCG_MUST_CHECK ccg_result ccg_ch_m1_parse(const uint8_t *body, size_t len, ccg_ch_m1 *out);
/* *out is malloc'd. */
CCG_MUST_CHECK ccg_result ccg_ch_m2_encode(ccg_hpke_suite suite, const uint8_t pk_s[CCG_HPKE_X25519_LEN],
                                           const ccg_channel_evidence *ev, uint8_t **out, size_t *out_len);
CCG_MUST_CHECK ccg_result ccg_ch_m2_parse(const uint8_t *body, size_t len, ccg_ch_m2 *out);
void ccg_ch_m3_encode(const ccg_ch_m3 *m, uint8_t out[CCG_CH_M3_BODY_LEN]);
CCG_MUST_CHECK ccg_result ccg_ch_m3_parse(const uint8_t *body, size_t len, ccg_ch_m3 *out);
CCG_MUST_CHECK ccg_result ccg_ch_sf_parse(const uint8_t *body, size_t len, uint8_t mac[CCG_CH_MAC_LEN]);
/* An alert body: u8 length + a reason code in ASCII. Parsing maps it to the reason it names (only
 * codes a peer may legitimately send: rate_limited, version_unsupported, suite_unsupported,
 * evidence_unavailable, message_malformed); anything else is channel.message_malformed. */
CCG_MUST_CHECK ccg_result ccg_ch_alert_parse(const uint8_t *body, size_t len, ccg_reason *out);
/* 1 when the channel allows the suite. */
int ccg_ch_suite_allowed(ccg_hpke_suite suite);
void ccg_ch_suite_bytes(ccg_hpke_suite suite, uint8_t out[6]);

/* ---- key schedule (channel_keys.c) ---- */
typedef struct {
    uint8_t key[CCG_HPKE_MAX_NK];
    size_t key_len;
    uint8_t iv[CCG_HPKE_NN];
} ccg_ch_dir_keys;

typedef struct {
    ccg_ch_dir_keys c2s;
    ccg_ch_dir_keys s2c;
    uint8_t confirm_c[CCG_CH_MAC_LEN];
    uint8_t confirm_s[CCG_CH_MAC_LEN];
} ccg_ch_keys;

/* REPORT_DATA = SHA-512("ccgate channel v1 report_data" || SHA-256(m1) || pk_s || suite). m1 is the whole
 * M1 record as sent (header and body). */
CCG_MUST_CHECK ccg_result ccg_ch_report_data(const uint8_t *m1, size_t m1_len, const uint8_t pk_s[CCG_HPKE_X25519_LEN],
                                             ccg_hpke_suite suite, uint8_t out[64]);
/* The HPKE info: SHA-256("ccgate channel v1 transcript" || M1 record || M2 record). */
CCG_MUST_CHECK ccg_result ccg_ch_transcript_info(const uint8_t *m1, size_t m1_len, const uint8_t *m2, size_t m2_len,
                                                 uint8_t out[32]);
/* Every session key from the HPKE exporter. */
CCG_MUST_CHECK ccg_result ccg_ch_export_keys(const ccg_hpke_ctx *ctx, uint16_t aead_id, ccg_ch_keys *out);
/* client MAC = HMAC-SHA256(confirm_c, "client finished" || SHA-256(info || enc));
 * server MAC = HMAC-SHA256(confirm_s, "server finished" || SHA-256(info || M3 record)). */
CCG_MUST_CHECK ccg_result ccg_ch_confirm_mac(const uint8_t key[CCG_CH_MAC_LEN], int server, const uint8_t info[32],
                                             const uint8_t *tail, size_t tail_len, uint8_t out[CCG_CH_MAC_LEN]);
size_t ccg_ch_aead_key_len(uint16_t aead_id);

/* ---- socket I/O (channel_io.c) ---- */
/* Reads one record: header then body (malloc'd into *body, NULL when empty). EOF or reset at any
 * point is channel.truncated, or channel.peer_closed when eof_is_closed and nothing was read. */
CCG_MUST_CHECK ccg_result ccg_ch_read_exact(int fd, uint8_t *buf, size_t n, int timeout_ms, int eof_is_closed);
/* At least one and at most n bytes; EOF or reset is channel.truncated. */
CCG_MUST_CHECK ccg_result ccg_ch_recv_some(int fd, uint8_t *buf, size_t n, int timeout_ms, size_t *got);
CCG_MUST_CHECK ccg_result ccg_ch_write_all(int fd, const uint8_t *buf, size_t n, int timeout_ms);
/* Reads a handshake record of the expected type. An ALERT in place of M2 (the server's unauthenticated
 * refusal) fails with the reason it carries; an ALERT in place of M3 or SF, after M2, fails with
 * channel.alert_unauthenticated and is not believed.
 * *rec (malloc'd) holds header and body, so it can be hashed into the transcript. */
CCG_MUST_CHECK ccg_result ccg_ch_read_handshake(int fd, uint8_t type, int timeout_ms, uint8_t **rec, size_t *rec_len);
/* Sends a handshake record (header + body); *rec (malloc'd) is the record as sent when rec is non-NULL. */
CCG_MUST_CHECK ccg_result ccg_ch_write_handshake(int fd, uint8_t type, const uint8_t *body, size_t len, int timeout_ms,
                                                 uint8_t **rec, size_t *rec_len);
/* Best effort: tells the peer why the handshake stops. */
void ccg_ch_send_alert(int fd, ccg_reason reason, int timeout_ms);

/* ---- frame protection (channel_frame.c) ---- */
typedef struct {
    EVP_CIPHER_CTX *ctx;
    uint8_t iv[CCG_HPKE_NN];
    uint64_t seq; /* the next sequence number to send or to accept */
} ccg_ch_dir;

/* Session internals, shared with the handshake files. */
struct ccg_channel_session {
    int fd;
    int timeout_ms;
    uint16_t aead_id;
    int failed;      /* an error ended the session */
    int sent_close;
    int peer_closed;
    ccg_ch_dir tx;
    ccg_ch_dir rx;
    uint8_t *buf;    /* CCG_CH_TX_CAP: the frames of one write, sealed */
    uint8_t *rbuf;   /* received ciphertext not yet processed: rbuf[rpos..rlen) */
    size_t rpos, rlen;
};

#define CCG_CH_RBUF_CAP (4u * (CCG_CH_HEADER_LEN + CCG_CH_MAX_FRAME_BODY))
/* Frames sealed per write when a message spans several (the send buffer holds that many records). */
#define CCG_CH_TX_FRAMES 4u
#define CCG_CH_TX_CAP (CCG_CH_TX_FRAMES * (CCG_CH_HEADER_LEN + CCG_CH_MAX_FRAME_BODY))

/* A session over fd with the given per-direction keys; is_server picks which direction is tx. */
CCG_MUST_CHECK ccg_result ccg_ch_session_new(int fd, int timeout_ms, uint16_t aead_id, const ccg_ch_keys *keys,
                                             int is_server, ccg_channel_session **out);
/* Seals pt into out (header + ciphertext + tag) with dir's next sequence number; *out_len is set. */
CCG_MUST_CHECK ccg_result ccg_ch_frame_seal(ccg_ch_dir *dir, uint8_t type, const uint8_t *pt, size_t pt_len,
                                            uint8_t *out, size_t *out_len);
/* Checks a parsed header against dir (exact next sequence, types, size) and opens body into pt. */
CCG_MUST_CHECK ccg_result ccg_ch_frame_open(ccg_ch_dir *dir, const uint8_t header[CCG_CH_HEADER_LEN],
                                            const ccg_ch_header *h, const uint8_t *body, uint8_t *pt, size_t *pt_len);
CCG_MUST_CHECK ccg_result ccg_ch_dir_init(ccg_ch_dir *dir, uint16_t aead_id, const ccg_ch_dir_keys *k);
void ccg_ch_dir_free(ccg_ch_dir *dir);

#endif
