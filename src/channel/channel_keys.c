/* The channel's key schedule: the evidence binding, the transcript hash used as HPKE info, the
 * session keys from the HPKE exporter, and the key-confirmation MACs over the transcript. */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <string.h>

#include "ccgate/secmem.h"
#include "channel_internal.h"

static const char LABEL_REPORT_DATA[] = "ccgate channel v1 report_data";
static const char LABEL_TRANSCRIPT[] = "ccgate channel v1 transcript";
static const char LABEL_CLIENT_FINISHED[] = "ccgate channel v1 client finished";
static const char LABEL_SERVER_FINISHED[] = "ccgate channel v1 server finished";

typedef struct {
    const void *p;
    size_t n;
} part;

static ccg_result digest_parts(const char *md_name, const part *parts, size_t count, uint8_t *out)
{
    ccg_result result = CCG_FAILURE;
    EVP_MD *md = EVP_MD_fetch(NULL, md_name, NULL);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int len = 0;
    CCG_ENSURE_OSSL(md != NULL && ctx != NULL, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_DigestInit_ex(ctx, md, NULL) == 1, CCG_R_INTERNAL_CRYPTO);
    for (size_t i = 0; i < count; i++) {
        CCG_ENSURE_OSSL(EVP_DigestUpdate(ctx, parts[i].p, parts[i].n) == 1, CCG_R_INTERNAL_CRYPTO);
    }
    CCG_ENSURE_OSSL(EVP_DigestFinal_ex(ctx, out, &len) == 1, CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
    return result;
}

ccg_result ccg_ch_report_data(const uint8_t *m1, size_t m1_len, const uint8_t pk_s[CCG_HPKE_X25519_LEN],
                              ccg_hpke_suite suite, uint8_t out[64])
{
    ccg_result result = CCG_FAILURE;
    uint8_t m1_hash[32];
    uint8_t suite_bytes[6];
    part h1[] = {{m1, m1_len}};
    CCG_TRY(digest_parts("SHA256", h1, 1, m1_hash));
    ccg_ch_suite_bytes(suite, suite_bytes);
    part parts[] = {{LABEL_REPORT_DATA, sizeof(LABEL_REPORT_DATA) - 1},
                    {m1_hash, sizeof(m1_hash)},
                    {pk_s, CCG_HPKE_X25519_LEN},
                    {suite_bytes, sizeof(suite_bytes)}};
    CCG_TRY(digest_parts("SHA512", parts, 4, out));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_ch_transcript_info(const uint8_t *m1, size_t m1_len, const uint8_t *m2, size_t m2_len, uint8_t out[32])
{
    part parts[] = {{LABEL_TRANSCRIPT, sizeof(LABEL_TRANSCRIPT) - 1}, {m1, m1_len}, {m2, m2_len}};
    return digest_parts("SHA256", parts, 3, out);
}

size_t ccg_ch_aead_key_len(uint16_t aead_id)
{
    return aead_id == CCG_HPKE_AEAD_AES128GCM ? 16 : 32;
}

static ccg_result export_label(const ccg_hpke_ctx *ctx, const char *label, uint8_t *out, size_t len)
{
    return ccg_hpke_export(ctx, (const uint8_t *)label, strlen(label), out, len);
}

ccg_result ccg_ch_export_keys(const ccg_hpke_ctx *ctx, uint16_t aead_id, ccg_ch_keys *out)
{
    ccg_result result = CCG_FAILURE;
    size_t nk = ccg_ch_aead_key_len(aead_id);
    memset(out, 0, sizeof(*out));
    out->c2s.key_len = out->s2c.key_len = nk;
    CCG_TRY(export_label(ctx, "ccgate channel v1 c2s key", out->c2s.key, nk));
    CCG_TRY(export_label(ctx, "ccgate channel v1 c2s iv", out->c2s.iv, CCG_HPKE_NN));
    CCG_TRY(export_label(ctx, "ccgate channel v1 s2c key", out->s2c.key, nk));
    CCG_TRY(export_label(ctx, "ccgate channel v1 s2c iv", out->s2c.iv, CCG_HPKE_NN));
    CCG_TRY(export_label(ctx, "ccgate channel v1 client confirm", out->confirm_c, CCG_CH_MAC_LEN));
    CCG_TRY(export_label(ctx, "ccgate channel v1 server confirm", out->confirm_s, CCG_CH_MAC_LEN));
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        ccg_secure_zero(out, sizeof(*out));
    }
    return result;
}

ccg_result ccg_ch_confirm_mac(const uint8_t key[CCG_CH_MAC_LEN], int server, const uint8_t info[32],
                              const uint8_t *tail, size_t tail_len, uint8_t out[CCG_CH_MAC_LEN])
{
    ccg_result result = CCG_FAILURE;
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = NULL;
    uint8_t th[32];
    size_t out_len = 0;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_END};
    const char *label = server ? LABEL_SERVER_FINISHED : LABEL_CLIENT_FINISHED;
    part parts[] = {{info, 32}, {tail, tail_len}};
    CCG_TRY(digest_parts("SHA256", parts, 2, th));
    CCG_ENSURE_OSSL(mac != NULL, CCG_R_INTERNAL_CRYPTO);
    ctx = EVP_MAC_CTX_new(mac);
    CCG_ENSURE_OSSL(ctx != NULL, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_MAC_init(ctx, key, CCG_CH_MAC_LEN, params) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_MAC_update(ctx, (const uint8_t *)label, strlen(label)) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_MAC_update(ctx, th, sizeof(th)) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_MAC_final(ctx, out, &out_len, CCG_CH_MAC_LEN) == 1 && out_len == CCG_CH_MAC_LEN,
                    CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return result;
}
