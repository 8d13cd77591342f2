/* The channel's wire format: record headers and the handshake messages M1, M2, M3, SF and ALERT.
 * Every untrusted byte goes through the bounded reader; reserved bytes must be zero and unknown versions
 * and suites are refused. All integers are big-endian. */
#include <stdlib.h>
#include <string.h>

#include "ccgate/reader.h"
#include "channel_internal.h"

#define REPORT_MAX 8192u
#define CERT_MAX 16384u

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (24 - 8 * i));
    }
}

void ccg_ch_header_write(uint8_t out[CCG_CH_HEADER_LEN], uint8_t type, uint64_t seq, uint32_t len)
{
    out[0] = type;
    out[1] = out[2] = out[3] = 0;
    put_u32(out + 4, (uint32_t)(seq >> 32));
    put_u32(out + 8, (uint32_t)seq);
    put_u32(out + 12, len);
}

/* A reader failure inside a message is the channel's "malformed", with the offset. */
#define WIRE_TRY(expr)                                                                                    \
    do {                                                                                                  \
        if (ccg_failed(expr)) {                                                                           \
            CCG_CH_REPLACE_ERROR(CCG_R_CHANNEL_MESSAGE_MALFORMED, "%s at offset %zu", what,                \
                                 ccg_reader_offset(&r));                                                  \
            goto cleanup;                                                                                 \
        }                                                                                                 \
    } while (0)

ccg_result ccg_ch_header_parse(const uint8_t *buf, size_t len, uint32_t max_len, ccg_ch_header *out)
{
    ccg_result result = CCG_FAILURE;
    const char *what = "record header";
    ccg_reader r;
    uint32_t hi = 0, lo = 0;
    ccg_reader_init(&r, buf, len);
    WIRE_TRY(ccg_reader_u8(&r, &out->type));
    WIRE_TRY(ccg_reader_reserved_zero(&r, 3, CCG_R_CHANNEL_MESSAGE_MALFORMED));
    WIRE_TRY(ccg_reader_u32be(&r, &hi));
    WIRE_TRY(ccg_reader_u32be(&r, &lo));
    WIRE_TRY(ccg_reader_u32be(&r, &out->len));
    WIRE_TRY(ccg_reader_expect_end(&r));
    out->seq = ((uint64_t)hi << 32) | lo;
    CCG_ENSURE_MSG(out->len <= max_len, CCG_R_CHANNEL_FRAME_TOO_LARGE, "record of %u bytes, at most %u",
                   out->len, max_len);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

int ccg_ch_suite_allowed(ccg_hpke_suite s)
{
    return s.kem_id == CCG_HPKE_KEM_X25519_SHA256 && s.kdf_id == CCG_HPKE_KDF_HKDF_SHA256 &&
           (s.aead_id == CCG_HPKE_AEAD_CHACHA20POLY1305 || s.aead_id == CCG_HPKE_AEAD_AES128GCM);
}

void ccg_ch_suite_bytes(ccg_hpke_suite s, uint8_t out[6])
{
    put_u16(out, s.kem_id);
    put_u16(out + 2, s.kdf_id);
    put_u16(out + 4, s.aead_id);
}

static ccg_result read_suite(ccg_reader *rp, ccg_hpke_suite *s)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(ccg_reader_u16be(rp, &s->kem_id));
    CCG_TRY(ccg_reader_u16be(rp, &s->kdf_id));
    CCG_TRY(ccg_reader_u16be(rp, &s->aead_id));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_ch_m1_encode(const ccg_ch_m1 *m, uint8_t out[CCG_CH_M1_BODY_LEN])
{
    memset(out, 0, CCG_CH_M1_BODY_LEN);
    out[0] = m->version;
    ccg_ch_suite_bytes(m->suite, out + 2);
    memcpy(out + 12, m->nonce, CCG_CHANNEL_NONCE_LEN);
    return CCG_SUCCESS;
}

/* M1: version u8 | reserved u8 | suite (kem, kdf, aead u16) | reserved u8[4] | nonce[32]. */
ccg_result ccg_ch_m1_parse(const uint8_t *body, size_t len, ccg_ch_m1 *out)
{
    ccg_result result = CCG_FAILURE;
    const char *what = "M1";
    ccg_reader r;
    ccg_reader_init(&r, body, len);
    WIRE_TRY(ccg_reader_u8(&r, &out->version));
    CCG_ENSURE_MSG(out->version == CCG_CHANNEL_VERSION, CCG_R_CHANNEL_VERSION_UNSUPPORTED, "M1 version %u",
                   out->version);
    WIRE_TRY(ccg_reader_reserved_zero(&r, 1, CCG_R_CHANNEL_MESSAGE_MALFORMED));
    WIRE_TRY(read_suite(&r, &out->suite));
    WIRE_TRY(ccg_reader_reserved_zero(&r, 4, CCG_R_CHANNEL_MESSAGE_MALFORMED));
    WIRE_TRY(ccg_reader_copy(&r, out->nonce, sizeof(out->nonce)));
    WIRE_TRY(ccg_reader_expect_end(&r));
    CCG_ENSURE_MSG(ccg_ch_suite_allowed(out->suite), CCG_R_CHANNEL_SUITE_UNSUPPORTED,
                   "suite kem 0x%04x kdf 0x%04x aead 0x%04x", out->suite.kem_id, out->suite.kdf_id,
                   out->suite.aead_id);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* M2: version u8 | reserved u8 | suite | reserved u8[2] | pk_s[32] | evidence type u16 | cert count u8 |
 * reserved u8 | report length u32 | report | cert count x (length u32 | DER). */
ccg_result ccg_ch_m2_encode(ccg_hpke_suite suite, const uint8_t pk_s[CCG_HPKE_X25519_LEN],
                            const ccg_channel_evidence *ev, uint8_t **out, size_t *out_len)
{
    ccg_result result = CCG_FAILURE;
    size_t total = 50 + ev->report_len;
    uint8_t *buf = NULL, *p;
    CCG_ENSURE_MSG(ev->report_len > 0 && ev->report_len <= REPORT_MAX && ev->cert_count <= CCG_CHANNEL_MAX_CERTS,
                   CCG_R_CHANNEL_EVIDENCE_UNAVAILABLE, "evidence of %zu bytes with %zu certificates",
                   ev->report_len, ev->cert_count);
    for (size_t i = 0; i < ev->cert_count; i++) {
        CCG_ENSURE_MSG(ev->cert_lens[i] > 0 && ev->cert_lens[i] <= CERT_MAX, CCG_R_CHANNEL_EVIDENCE_UNAVAILABLE,
                       "certificate %zu of %zu bytes", i, ev->cert_lens[i]);
        total += 4 + ev->cert_lens[i];
    }
    CCG_ENSURE_MSG(total <= CCG_CHANNEL_MAX_HANDSHAKE, CCG_R_CHANNEL_FRAME_TOO_LARGE, "M2 of %zu bytes", total);
    buf = calloc(1, total);
    CCG_ENSURE_ALLOC(buf);
    buf[0] = CCG_CHANNEL_VERSION;
    ccg_ch_suite_bytes(suite, buf + 2);
    memcpy(buf + 10, pk_s, CCG_HPKE_X25519_LEN);
    put_u16(buf + 42, CCG_CH_EVIDENCE_SNP);
    buf[44] = (uint8_t)ev->cert_count;
    put_u32(buf + 46, (uint32_t)ev->report_len);
    p = buf + 50;
    memcpy(p, ev->report, ev->report_len);
    p += ev->report_len;
    for (size_t i = 0; i < ev->cert_count; i++) {
        put_u32(p, (uint32_t)ev->cert_lens[i]);
        memcpy(p + 4, ev->certs[i], ev->cert_lens[i]);
        p += 4 + ev->cert_lens[i];
    }
    *out = buf;
    *out_len = total;
    buf = NULL;
    result = CCG_SUCCESS;
cleanup:
    free(buf);
    return result;
}

ccg_result ccg_ch_m2_parse(const uint8_t *body, size_t len, ccg_ch_m2 *out)
{
    ccg_result result = CCG_FAILURE;
    const char *what = "M2";
    ccg_reader r;
    uint8_t count = 0;
    uint32_t n = 0;
    memset(out, 0, sizeof(*out));
    ccg_reader_init(&r, body, len);
    WIRE_TRY(ccg_reader_u8(&r, &out->version));
    CCG_ENSURE_MSG(out->version == CCG_CHANNEL_VERSION, CCG_R_CHANNEL_VERSION_UNSUPPORTED, "M2 version %u",
                   out->version);
    WIRE_TRY(ccg_reader_reserved_zero(&r, 1, CCG_R_CHANNEL_MESSAGE_MALFORMED));
    WIRE_TRY(read_suite(&r, &out->suite));
    WIRE_TRY(ccg_reader_reserved_zero(&r, 2, CCG_R_CHANNEL_MESSAGE_MALFORMED));
    WIRE_TRY(ccg_reader_copy(&r, out->pk_s, sizeof(out->pk_s)));
    WIRE_TRY(ccg_reader_u16be(&r, &out->evidence_type));
    WIRE_TRY(ccg_reader_u8(&r, &count));
    WIRE_TRY(ccg_reader_reserved_zero(&r, 1, CCG_R_CHANNEL_MESSAGE_MALFORMED));
    CCG_ENSURE_MSG(out->evidence_type == CCG_CH_EVIDENCE_SNP, CCG_R_CHANNEL_MESSAGE_MALFORMED,
                   "M2 evidence type 0x%04x", out->evidence_type);
    CCG_ENSURE_MSG(count <= CCG_CHANNEL_MAX_CERTS, CCG_R_CHANNEL_MESSAGE_MALFORMED, "M2 with %u certificates",
                   count);
    WIRE_TRY(ccg_reader_u32be(&r, &n));
    CCG_ENSURE_MSG(n > 0 && n <= REPORT_MAX, CCG_R_CHANNEL_MESSAGE_MALFORMED, "M2 report of %u bytes", n);
    WIRE_TRY(ccg_reader_borrow(&r, &out->report, n));
    out->report_len = n;
    for (uint8_t i = 0; i < count; i++) {
        WIRE_TRY(ccg_reader_u32be(&r, &n));
        CCG_ENSURE_MSG(n > 0 && n <= CERT_MAX, CCG_R_CHANNEL_MESSAGE_MALFORMED, "M2 certificate of %u bytes", n);
        WIRE_TRY(ccg_reader_borrow(&r, &out->certs[i], n));
        out->cert_lens[i] = n;
    }
    out->cert_count = count;
    WIRE_TRY(ccg_reader_expect_end(&r));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* M3: version u8 | reserved u8[3] | enc[32] | client confirmation MAC[32]. */
void ccg_ch_m3_encode(const ccg_ch_m3 *m, uint8_t out[CCG_CH_M3_BODY_LEN])
{
    memset(out, 0, CCG_CH_M3_BODY_LEN);
    out[0] = m->version;
    memcpy(out + 4, m->enc, sizeof(m->enc));
    memcpy(out + 36, m->confirm, sizeof(m->confirm));
}

ccg_result ccg_ch_m3_parse(const uint8_t *body, size_t len, ccg_ch_m3 *out)
{
    ccg_result result = CCG_FAILURE;
    const char *what = "M3";
    ccg_reader r;
    ccg_reader_init(&r, body, len);
    WIRE_TRY(ccg_reader_u8(&r, &out->version));
    CCG_ENSURE_MSG(out->version == CCG_CHANNEL_VERSION, CCG_R_CHANNEL_VERSION_UNSUPPORTED, "M3 version %u",
                   out->version);
    WIRE_TRY(ccg_reader_reserved_zero(&r, 3, CCG_R_CHANNEL_MESSAGE_MALFORMED));
    WIRE_TRY(ccg_reader_copy(&r, out->enc, sizeof(out->enc)));
    WIRE_TRY(ccg_reader_copy(&r, out->confirm, sizeof(out->confirm)));
    WIRE_TRY(ccg_reader_expect_end(&r));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* SF: the server confirmation MAC[32]. */
ccg_result ccg_ch_sf_parse(const uint8_t *body, size_t len, uint8_t mac[CCG_CH_MAC_LEN])
{
    ccg_result result = CCG_FAILURE;
    const char *what = "SF";
    ccg_reader r;
    ccg_reader_init(&r, body, len);
    WIRE_TRY(ccg_reader_copy(&r, mac, CCG_CH_MAC_LEN));
    WIRE_TRY(ccg_reader_expect_end(&r));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* ALERT: code length u8 | the reason code (ASCII, no NUL). */
ccg_result ccg_ch_alert_parse(const uint8_t *body, size_t len, ccg_reason *out)
{
    static const ccg_reason allowed[] = {
        CCG_R_CHANNEL_RATE_LIMITED, CCG_R_CHANNEL_VERSION_UNSUPPORTED, CCG_R_CHANNEL_SUITE_UNSUPPORTED,
        CCG_R_CHANNEL_EVIDENCE_UNAVAILABLE, CCG_R_CHANNEL_MESSAGE_MALFORMED,
    };
    ccg_result result = CCG_FAILURE;
    const char *what = "ALERT";
    ccg_reader r;
    uint8_t n = 0;
    const uint8_t *code = NULL;
    char text[CCG_CH_MAX_ALERT_CODE + 1];
    ccg_reader_init(&r, body, len);
    WIRE_TRY(ccg_reader_u8(&r, &n));
    CCG_ENSURE_MSG(n > 0 && n <= CCG_CH_MAX_ALERT_CODE, CCG_R_CHANNEL_MESSAGE_MALFORMED, "alert code of %u bytes", n);
    WIRE_TRY(ccg_reader_borrow(&r, &code, n));
    WIRE_TRY(ccg_reader_expect_end(&r));
    memcpy(text, code, n);
    text[n] = '\0';
    ccg_reason reason = ccg_reason_from_code(text);
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
        if (reason == allowed[i]) {
            *out = reason;
            result = CCG_SUCCESS;
            goto cleanup;
        }
    }
    CCG_BAIL(CCG_R_CHANNEL_MESSAGE_MALFORMED, "alert with an unexpected code");
cleanup:
    return result;
}
