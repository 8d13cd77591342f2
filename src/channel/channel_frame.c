/* Frames after the handshake: header (type, sequence, length) authenticated as AAD, the body sealed
 * with the direction's AEAD key under nonce = iv XOR sequence (as TLS 1.3), the receiver accepting only
 * the exact next sequence number. Any failure ends the session. */
#include <stdlib.h>
#include <string.h>

#include "ccgate/secmem.h"
#include "channel_internal.h"

static const EVP_CIPHER *aead_cipher(uint16_t aead_id)
{
    return aead_id == CCG_HPKE_AEAD_AES128GCM ? EVP_aes_128_gcm() : EVP_chacha20_poly1305();
}

ccg_result ccg_ch_dir_init(ccg_ch_dir *dir, uint16_t aead_id, const ccg_ch_dir_keys *k)
{
    ccg_result result = CCG_FAILURE;
    memset(dir, 0, sizeof(*dir));
    dir->ctx = EVP_CIPHER_CTX_new();
    CCG_ENSURE_OSSL(dir->ctx != NULL, CCG_R_INTERNAL_CRYPTO);
    /* The key is set once; each frame only sets its nonce. Encrypt-init serves both directions:
     * the open path switches with EVP_DecryptInit_ex, which keeps the key schedule. */
    CCG_ENSURE_OSSL(EVP_CipherInit_ex(dir->ctx, aead_cipher(aead_id), NULL, k->key, NULL, 1) == 1,
                    CCG_R_INTERNAL_CRYPTO);
    memcpy(dir->iv, k->iv, sizeof(dir->iv));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

void ccg_ch_dir_free(ccg_ch_dir *dir)
{
    EVP_CIPHER_CTX_free(dir->ctx); /* OpenSSL clears the cipher's key schedule */
    ccg_secure_zero(dir, sizeof(*dir));
}

static void frame_nonce(const ccg_ch_dir *dir, uint8_t nonce[CCG_HPKE_NN])
{
    memcpy(nonce, dir->iv, CCG_HPKE_NN);
    for (int i = 0; i < 8; i++) {
        nonce[CCG_HPKE_NN - 1 - i] ^= (uint8_t)(dir->seq >> (8 * i));
    }
}

ccg_result ccg_ch_frame_seal(ccg_ch_dir *dir, uint8_t type, const uint8_t *pt, size_t pt_len, uint8_t *out,
                             size_t *out_len)
{
    ccg_result result = CCG_FAILURE;
    uint8_t nonce[CCG_HPKE_NN];
    int n = 0, fin = 0;
    CCG_ENSURE_MSG(pt_len <= CCG_CHANNEL_MAX_PLAINTEXT, CCG_R_CHANNEL_FRAME_TOO_LARGE, "frame of %zu bytes", pt_len);
    CCG_ENSURE_MSG(dir->seq != UINT64_MAX, CCG_R_CHANNEL_SEQUENCE_INVALID, "sequence numbers exhausted");
    ccg_ch_header_write(out, type, dir->seq, (uint32_t)(pt_len + CCG_HPKE_TAG_LEN));
    frame_nonce(dir, nonce);
    CCG_ENSURE_OSSL(EVP_CipherInit_ex(dir->ctx, NULL, NULL, NULL, nonce, 1) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_CipherUpdate(dir->ctx, NULL, &n, out, CCG_CH_HEADER_LEN) == 1, CCG_R_INTERNAL_CRYPTO);
    if (pt_len > 0) {
        CCG_ENSURE_OSSL(EVP_CipherUpdate(dir->ctx, out + CCG_CH_HEADER_LEN, &n, pt, (int)pt_len) == 1,
                        CCG_R_INTERNAL_CRYPTO);
    }
    CCG_ENSURE_OSSL(EVP_CipherFinal_ex(dir->ctx, out + CCG_CH_HEADER_LEN + pt_len, &fin) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_CIPHER_CTX_ctrl(dir->ctx, EVP_CTRL_AEAD_GET_TAG, CCG_HPKE_TAG_LEN,
                                        out + CCG_CH_HEADER_LEN + pt_len) == 1,
                    CCG_R_INTERNAL_CRYPTO);
    dir->seq++;
    *out_len = CCG_CH_HEADER_LEN + pt_len + CCG_HPKE_TAG_LEN;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_ch_frame_open(ccg_ch_dir *dir, const uint8_t header[CCG_CH_HEADER_LEN], const ccg_ch_header *h,
                             const uint8_t *body, uint8_t *pt, size_t *pt_len)
{
    ccg_result result = CCG_FAILURE;
    uint8_t nonce[CCG_HPKE_NN];
    uint8_t tag[CCG_HPKE_TAG_LEN];
    uint8_t fin_out[32]; /* an AEAD's final writes nothing; never hand OpenSSL pt + 0 when pt is NULL */
    int n = 0, fin = 0;
    /* After the handshake nothing unauthenticated changes the outcome: an ALERT here is tampering. */
    CCG_ENSURE_MSG(h->type != CCG_CH_T_ALERT, CCG_R_CHANNEL_ALERT_UNAUTHENTICATED,
                   "an unauthenticated ALERT after the handshake: not believed");
    CCG_ENSURE_MSG(h->type == CCG_CH_T_DATA || h->type == CCG_CH_T_CLOSE, CCG_R_CHANNEL_MESSAGE_MALFORMED,
                   "frame type 0x%02x", h->type);
    CCG_ENSURE_MSG(h->len >= CCG_HPKE_TAG_LEN && h->len <= CCG_CH_MAX_FRAME_BODY, CCG_R_CHANNEL_MESSAGE_MALFORMED,
                   "frame body of %u bytes", h->len);
    /* Only the exact next sequence number: a replayed, reordered or dropped frame stops here. */
    CCG_ENSURE_MSG(h->seq == dir->seq, CCG_R_CHANNEL_SEQUENCE_INVALID, "frame sequence %llu, expected %llu",
                   (unsigned long long)h->seq, (unsigned long long)dir->seq);
    size_t ct_len = h->len - CCG_HPKE_TAG_LEN;
    memcpy(tag, body + ct_len, sizeof(tag));
    frame_nonce(dir, nonce);
    CCG_ENSURE_OSSL(EVP_CipherInit_ex(dir->ctx, NULL, NULL, NULL, nonce, 0) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_CipherUpdate(dir->ctx, NULL, &n, header, CCG_CH_HEADER_LEN) == 1, CCG_R_INTERNAL_CRYPTO);
    if (ct_len > 0) {
        CCG_ENSURE_OSSL(EVP_CipherUpdate(dir->ctx, pt, &n, body, (int)ct_len) == 1, CCG_R_INTERNAL_CRYPTO);
    }
    CCG_ENSURE_OSSL(EVP_CIPHER_CTX_ctrl(dir->ctx, EVP_CTRL_AEAD_SET_TAG, sizeof(tag), tag) == 1, CCG_R_INTERNAL_CRYPTO);
    if (EVP_CipherFinal_ex(dir->ctx, fin_out, &fin) != 1) {
        ccg_secure_zero(pt, ct_len);
        CCG_BAIL(CCG_R_CHANNEL_FRAME_AUTH_FAILED, "frame %llu does not authenticate", (unsigned long long)h->seq);
    }
    CCG_ENSURE_MSG(h->type == CCG_CH_T_DATA || ct_len == 0, CCG_R_CHANNEL_MESSAGE_MALFORMED, "close frame with a body");
    dir->seq++;
    *pt_len = ct_len;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_ch_session_new(int fd, int timeout_ms, uint16_t aead_id, const ccg_ch_keys *keys, int is_server,
                              ccg_channel_session **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_channel_session *s = calloc(1, sizeof(*s));
    CCG_ENSURE_ALLOC(s);
    s->fd = fd;
    s->timeout_ms = timeout_ms;
    s->aead_id = aead_id;
    s->buf = malloc(CCG_CH_TX_CAP);
    CCG_ENSURE_ALLOC(s->buf);
    s->rbuf = malloc(CCG_CH_RBUF_CAP);
    CCG_ENSURE_ALLOC(s->rbuf);
    CCG_TRY(ccg_ch_dir_init(&s->tx, aead_id, is_server ? &keys->s2c : &keys->c2s));
    CCG_TRY(ccg_ch_dir_init(&s->rx, aead_id, is_server ? &keys->c2s : &keys->s2c));
    *out = s;
    s = NULL;
    result = CCG_SUCCESS;
cleanup:
    ccg_channel_session_free(s);
    return result;
}

void ccg_channel_session_free(ccg_channel_session *s)
{
    if (s == NULL) {
        return;
    }
    ccg_ch_dir_free(&s->tx);
    ccg_ch_dir_free(&s->rx);
    if (s->buf != NULL) {
        ccg_secure_zero(s->buf, CCG_CH_TX_CAP);
    }
    free(s->buf);
    free(s->rbuf); /* ciphertext only */
    free(s);
}

uint16_t ccg_channel_session_aead(const ccg_channel_session *s)
{
    return s->aead_id;
}

static ccg_result usable(const ccg_channel_session *s, int sending)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(s != NULL && !s->failed, CCG_R_CHANNEL_CLOSED, "the session ended after an error");
    CCG_ENSURE_MSG(!(sending && s->sent_close), CCG_R_CHANNEL_CLOSED, "the session was closed");
    CCG_ENSURE_MSG(!(!sending && s->peer_closed), CCG_R_CHANNEL_PEER_CLOSED, "the peer already closed");
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result send_frame(ccg_channel_session *s, uint8_t type, const uint8_t *data, size_t len)
{
    ccg_result result = CCG_FAILURE;
    size_t n = 0;
    CCG_TRY(ccg_ch_frame_seal(&s->tx, type, data, len, s->buf, &n));
    CCG_TRY(ccg_ch_write_all(s->fd, s->buf, n, s->timeout_ms));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Seals the message's frames in order, up to CCG_CH_TX_FRAMES at a time, and writes each batch with
 * one syscall: the socket's cost is per write as much as per byte. An empty message is one empty frame. */
static ccg_result send_data(ccg_channel_session *s, const uint8_t *data, size_t len)
{
    ccg_result result = CCG_FAILURE;
    do {
        size_t used = 0;
        do {
            size_t chunk = len > CCG_CHANNEL_MAX_PLAINTEXT ? CCG_CHANNEL_MAX_PLAINTEXT : len;
            size_t n = 0;
            CCG_TRY(ccg_ch_frame_seal(&s->tx, CCG_CH_T_DATA, data, chunk, s->buf + used, &n));
            used += n;
            if (chunk > 0) { /* an empty message may come with data == NULL: no arithmetic on it */
                data += chunk;
                len -= chunk;
            }
        } while (len > 0 && used + CCG_CH_HEADER_LEN + CCG_CH_MAX_FRAME_BODY <= CCG_CH_TX_CAP);
        CCG_TRY(ccg_ch_write_all(s->fd, s->buf, used, s->timeout_ms));
    } while (len > 0);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_channel_send(ccg_channel_session *s, const uint8_t *data, size_t len)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(usable(s, 1));
    if (ccg_failed(send_data(s, data, len))) {
        s->failed = 1;
        goto cleanup;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_channel_close(ccg_channel_session *s)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(usable(s, 1));
    s->sent_close = 1;
    if (ccg_failed(send_frame(s, CCG_CH_T_CLOSE, NULL, 0))) {
        s->failed = 1;
        goto cleanup;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Makes at least need bytes available at rbuf + rpos, reading whatever the socket has (so several
 * frames can arrive in one syscall). need never exceeds one record. */
static ccg_result rx_need(ccg_channel_session *s, size_t need)
{
    ccg_result result = CCG_FAILURE;
    size_t got = 0;
    if (s->rlen - s->rpos >= need) {
        return CCG_SUCCESS;
    }
    if (s->rpos + need > CCG_CH_RBUF_CAP) { /* compact only when the record would not fit */
        memmove(s->rbuf, s->rbuf + s->rpos, s->rlen - s->rpos);
        s->rlen -= s->rpos;
        s->rpos = 0;
    }
    while (s->rlen - s->rpos < need) {
        CCG_TRY(ccg_ch_recv_some(s->fd, s->rbuf + s->rlen, CCG_CH_RBUF_CAP - s->rlen, s->timeout_ms, &got));
        s->rlen += got;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result recv_frame(ccg_channel_session *s, uint8_t *buf, size_t cap, size_t *len, int *closed)
{
    ccg_result result = CCG_FAILURE;
    ccg_ch_header h;
    CCG_TRY(rx_need(s, CCG_CH_HEADER_LEN));
    CCG_TRY(ccg_ch_header_parse(s->rbuf + s->rpos, CCG_CH_HEADER_LEN, CCG_CH_MAX_FRAME_BODY, &h));
    CCG_ENSURE_MSG(h.len < CCG_HPKE_TAG_LEN || h.len - CCG_HPKE_TAG_LEN <= cap, CCG_R_CHANNEL_FRAME_TOO_LARGE,
                   "frame of %u bytes for a buffer of %zu", h.len, cap);
    CCG_TRY(rx_need(s, CCG_CH_HEADER_LEN + h.len));
    const uint8_t *header = s->rbuf + s->rpos;
    /* Decrypted straight into the caller's buffer (zeroed again if the tag fails). */
    CCG_TRY(ccg_ch_frame_open(&s->rx, header, &h, header + CCG_CH_HEADER_LEN, buf, len));
    s->rpos += CCG_CH_HEADER_LEN + h.len;
    *closed = h.type == CCG_CH_T_CLOSE;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_channel_recv(ccg_channel_session *s, uint8_t *buf, size_t cap, size_t *len, int *closed)
{
    ccg_result result = CCG_FAILURE;
    *len = 0;
    *closed = 0;
    CCG_TRY(usable(s, 0));
    if (ccg_failed(recv_frame(s, buf, cap, len, closed))) {
        s->failed = 1;
        goto cleanup;
    }
    s->peer_closed = *closed;
    result = CCG_SUCCESS;
cleanup:
    return result;
}
