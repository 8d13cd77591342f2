/* HPKE (RFC 9180): every X25519 vector of tests/vectors/hpke/rfc9180-x25519-vectors.md, read at
 * run time, plus negative cases that assert reason codes.
 *
 * The vector file is the RFC's appendix A in markdown: "## <suite>" headings, "### <Mode> Setup
 * Information" blocks of "name: value" lines (long hex values continue on following lines), then
 * "#### Encryptions" records that start at "sequence number:" and "#### Exported Values" records that
 * start at "exporter_context:". The parser streams one setup block at a time and runs it when the
 * next heading (or the end) arrives. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "ccgate/error.h"
#include "ccgate/hpke.h"
#include "../src/hpke/hpke_internal.h"

#define TV_MAX_FIELDS 24
#define TV_MAX_HEX 1024
#define TV_MAX_RECORDS 16

typedef struct {
    char name[40];
    char text[TV_MAX_HEX];
} tv_field;

typedef struct {
    tv_field f[TV_MAX_FIELDS];
    size_t n;
} tv_record;

typedef enum { PART_SETUP, PART_ENC, PART_EXP } tv_part;

typedef struct {
    char title[160];
    tv_record setup;
    tv_record enc[TV_MAX_RECORDS];
    size_t n_enc;
    tv_record exp[TV_MAX_RECORDS];
    size_t n_exp;
    tv_part part;
    tv_field *last; /* the field a continuation line extends */
} tv_set;

typedef struct {
    size_t sets_checked;
    size_t sets_unsupported;
    size_t encryptions;
    size_t exports;
    size_t per_suite[3]; /* AES-128-GCM, ChaCha20-Poly1305, export-only */
    size_t per_mode[4];  /* Base, PSK, Auth, AuthPSK */
} tv_counts;

/* ---- parsing ---- */

static const tv_field *tv_find(const tv_record *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++) {
        if (strcmp(r->f[i].name, name) == 0) {
            return &r->f[i];
        }
    }
    return NULL;
}

static const char *tv_text(const tv_record *r, const char *name)
{
    const tv_field *f = tv_find(r, name);
    if (f == NULL) {
        fail_msg("vector field %s missing", name);
    }
    return f->text;
}

static unsigned long long tv_num(const tv_record *r, const char *name)
{
    const char *t = tv_text(r, name);
    char *end = NULL;
    unsigned long long v = strtoull(t, &end, 10);
    assert_true(end != t && *end == '\0');
    return v;
}

/* Decoded bytes of a hex field (malloc'd; NULL with length 0 for an empty value). */
static uint8_t *tv_bytes(const tv_record *r, const char *name, size_t *len)
{
    const char *t = tv_text(r, name);
    uint8_t *out = NULL;
    *len = 0;
    if (*t == '\0') {
        return NULL;
    }
    assert_true(ccg_ok(ccg_hex_decode_text(t, strlen(t), &out, len)));
    return out;
}

static void tv_assert_hex(const tv_record *r, const char *name, const uint8_t *got, size_t got_len)
{
    size_t len = 0;
    uint8_t *want = tv_bytes(r, name, &len);
    if (len != got_len || (len > 0 && memcmp(want, got, len) != 0)) {
        char *hex = ccg_hex_alloc(got, got_len);
        fail_msg("%s: got %s, want %s", name, hex ? hex : "?", tv_text(r, name));
    }
    free(want);
}

static int is_hex_line(const char *line, size_t len)
{
    if (len == 0) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        if (!strchr("0123456789abcdefABCDEF", line[i])) {
            return 0;
        }
    }
    return 1;
}

static tv_record *tv_new_record(tv_set *s, tv_part part)
{
    tv_record *list = part == PART_ENC ? s->enc : s->exp;
    size_t *n = part == PART_ENC ? &s->n_enc : &s->n_exp;
    assert_true(*n < TV_MAX_RECORDS);
    memset(&list[*n], 0, sizeof(list[*n]));
    return &list[(*n)++];
}

static tv_record *tv_current(tv_set *s)
{
    if (s->part == PART_ENC) {
        return s->n_enc > 0 ? &s->enc[s->n_enc - 1] : NULL;
    }
    if (s->part == PART_EXP) {
        return s->n_exp > 0 ? &s->exp[s->n_exp - 1] : NULL;
    }
    return &s->setup;
}

static void tv_add_text(tv_field *f, const char *text, size_t len)
{
    size_t have = strlen(f->text);
    assert_true(have + len < sizeof(f->text));
    memcpy(f->text + have, text, len);
    f->text[have + len] = '\0';
}

/* One "name: value" line (value may be empty) or one hex continuation line. */
static void tv_line(tv_set *s, const char *line, size_t len)
{
    const char *colon = memchr(line, ':', len);
    if (colon == NULL) {
        if (is_hex_line(line, len) && s->last != NULL) {
            tv_add_text(s->last, line, len);
        }
        return;
    }
    size_t name_len = (size_t)(colon - line);
    const char *value = colon + 1;
    size_t value_len = len - name_len - 1;
    while (value_len > 0 && *value == ' ') {
        value++;
        value_len--;
    }
    /* A new record starts at its first field. */
    if (s->part == PART_ENC && name_len == 15 && memcmp(line, "sequence number", 15) == 0) {
        (void)tv_new_record(s, PART_ENC);
    } else if (s->part == PART_EXP && name_len == 16 && memcmp(line, "exporter_context", 16) == 0) {
        (void)tv_new_record(s, PART_EXP);
    }
    tv_record *r = tv_current(s);
    assert_non_null(r);
    assert_true(r->n < TV_MAX_FIELDS && name_len < sizeof(r->f[0].name));
    tv_field *f = &r->f[r->n++];
    memset(f, 0, sizeof(*f));
    memcpy(f->name, line, name_len);
    tv_add_text(f, value, value_len);
    s->last = f;
}

/* ---- running one setup block ---- */

static ccg_hpke_suite tv_suite(const tv_record *setup)
{
    ccg_hpke_suite suite = {(uint16_t)tv_num(setup, "kem_id"), (uint16_t)tv_num(setup, "kdf_id"),
                            (uint16_t)tv_num(setup, "aead_id")};
    return suite;
}

static void check_keypair(const tv_record *r, ccg_hpke_suite suite, const char *role, ccg_hpke_keypair *kp)
{
    char ikm_name[8], pk_name[8], sk_name[8];
    snprintf(ikm_name, sizeof(ikm_name), "ikm%s", role);
    snprintf(pk_name, sizeof(pk_name), "pk%sm", role);
    snprintf(sk_name, sizeof(sk_name), "sk%sm", role);
    size_t ikm_len = 0;
    uint8_t *ikm = tv_bytes(r, ikm_name, &ikm_len);
    assert_true(ccg_ok(ccg_hpke_derive_keypair(suite, ikm, ikm_len, kp)));
    tv_assert_hex(r, pk_name, kp->pk, sizeof(kp->pk));
    tv_assert_hex(r, sk_name, kp->sk, sizeof(kp->sk));
    free(ikm);
}

/* The KEM and the key schedule's intermediate values, through the internal steps. */
static void check_kem_and_schedule(const tv_record *r, ccg_hpke_suite suite, const ccg_hpke_keypair *eph,
                                   const ccg_hpke_keypair *kp_r, const ccg_hpke_keypair *kp_s)
{
    uint8_t ss_s[CCG_HPKE_NH], ss_r[CCG_HPKE_NH], enc[CCG_HPKE_X25519_LEN];
    if (kp_s != NULL) {
        assert_true(ccg_ok(ccg_hpke_auth_encap(kp_r->pk, kp_s, eph, ss_s, enc)));
    } else {
        assert_true(ccg_ok(ccg_hpke_encap(kp_r->pk, eph, ss_s, enc)));
    }
    tv_assert_hex(r, "enc", enc, sizeof(enc));
    tv_assert_hex(r, "shared_secret", ss_s, sizeof(ss_s));
    if (kp_s != NULL) {
        assert_true(ccg_ok(ccg_hpke_auth_decap(enc, kp_r, kp_s->pk, ss_r)));
    } else {
        assert_true(ccg_ok(ccg_hpke_decap(enc, kp_r, ss_r)));
    }
    tv_assert_hex(r, "shared_secret", ss_r, sizeof(ss_r));

    size_t info_len = 0, psk_len = 0, psk_id_len = 0;
    uint8_t *info = tv_bytes(r, "info", &info_len);
    uint8_t *psk = tv_find(r, "psk") ? tv_bytes(r, "psk", &psk_len) : NULL;
    uint8_t *psk_id = tv_find(r, "psk_id") ? tv_bytes(r, "psk_id", &psk_id_len) : NULL;
    ccg_hpke_suite_id sid;
    ccg_hpke_full_suite_id(suite, &sid);
    uint8_t ksc[1 + 2 * CCG_HPKE_NH], secret[CCG_HPKE_NH];
    ksc[0] = (uint8_t)tv_num(r, "mode");
    assert_true(ccg_ok(ccg_hpke_labeled_extract(&sid, NULL, 0, "psk_id_hash", psk_id, psk_id_len, ksc + 1)));
    assert_true(ccg_ok(ccg_hpke_labeled_extract(&sid, NULL, 0, "info_hash", info, info_len, ksc + 1 + CCG_HPKE_NH)));
    tv_assert_hex(r, "key_schedule_context", ksc, sizeof(ksc));
    assert_true(ccg_ok(ccg_hpke_labeled_extract(&sid, ss_s, sizeof(ss_s), "secret", psk, psk_len, secret)));
    tv_assert_hex(r, "secret", secret, sizeof(secret));
    free(info);
    free(psk);
    free(psk_id);
}

static void check_secrets(const tv_record *r, const ccg_hpke_ctx *ctx)
{
    const uint8_t *key = NULL, *base_nonce = NULL, *exporter_secret = NULL;
    size_t key_len = 0;
    assert_true(ccg_ok(ccg_hpke_ctx_secrets(ctx, &key, &key_len, &base_nonce, &exporter_secret)));
    tv_assert_hex(r, "key", key, key_len);
    tv_assert_hex(r, "base_nonce", base_nonce, base_nonce != NULL ? CCG_HPKE_NN : 0);
    tv_assert_hex(r, "exporter_secret", exporter_secret, CCG_HPKE_NH);
}

/* Seals a filler message on s and opens it on r, so both reach the next sequence number. */
static void advance_one(ccg_hpke_ctx *s, ccg_hpke_ctx *r)
{
    static const uint8_t filler[] = "gap";
    uint8_t ct[sizeof(filler) + CCG_HPKE_TAG_LEN], pt[sizeof(filler)];
    size_t ct_len = 0, pt_len = 0;
    assert_true(ccg_ok(ccg_hpke_seal(s, NULL, 0, filler, sizeof(filler), ct, &ct_len)));
    assert_true(ccg_ok(ccg_hpke_open(r, NULL, 0, ct, ct_len, pt, &pt_len)));
    assert_memory_equal(pt, filler, sizeof(filler));
}

static void check_encryption(const tv_record *e, ccg_hpke_ctx *s, ccg_hpke_ctx *r)
{
    unsigned long long seq = tv_num(e, "sequence number");
    assert_true(ccg_hpke_ctx_seq(s) <= seq);
    while (ccg_hpke_ctx_seq(s) < seq) {
        advance_one(s, r);
    }
    /* ComputeNonce, as the vector lists it. */
    const uint8_t *key = NULL, *base_nonce = NULL, *exp = NULL;
    size_t key_len = 0;
    assert_true(ccg_ok(ccg_hpke_ctx_secrets(s, &key, &key_len, &base_nonce, &exp)));
    uint8_t nonce[CCG_HPKE_NN];
    memcpy(nonce, base_nonce, sizeof(nonce));
    for (size_t i = 0; i < 8; i++) {
        nonce[CCG_HPKE_NN - 1 - i] ^= (uint8_t)(seq >> (8 * i));
    }
    tv_assert_hex(e, "nonce", nonce, sizeof(nonce));

    size_t pt_len = 0, aad_len = 0, want_len = 0;
    uint8_t *pt = tv_bytes(e, "pt", &pt_len);
    uint8_t *aad = tv_bytes(e, "aad", &aad_len);
    uint8_t *want = tv_bytes(e, "ct", &want_len);
    uint8_t *ct = malloc(pt_len + CCG_HPKE_TAG_LEN);
    uint8_t *back = malloc(pt_len + 1);
    size_t ct_len = 0, back_len = 0;
    assert_true(ccg_ok(ccg_hpke_seal(s, aad, aad_len, pt, pt_len, ct, &ct_len)));
    tv_assert_hex(e, "ct", ct, ct_len);
    assert_true(ccg_ok(ccg_hpke_open(r, aad, aad_len, want, want_len, back, &back_len)));
    assert_int_equal(back_len, pt_len);
    assert_memory_equal(back, pt, pt_len);
    assert_int_equal(ccg_hpke_ctx_seq(s), seq + 1);
    assert_int_equal(ccg_hpke_ctx_seq(r), seq + 1);
    free(pt);
    free(aad);
    free(want);
    free(ct);
    free(back);
}

static void check_export(const tv_record *x, const ccg_hpke_ctx *s, const ccg_hpke_ctx *r)
{
    size_t ec_len = 0;
    uint8_t *ec = tv_bytes(x, "exporter_context", &ec_len);
    size_t L = (size_t)tv_num(x, "L");
    uint8_t *out = malloc(L);
    assert_true(ccg_ok(ccg_hpke_export(s, ec, ec_len, out, L)));
    tv_assert_hex(x, "exported_value", out, L);
    assert_true(ccg_ok(ccg_hpke_export(r, ec, ec_len, out, L)));
    tv_assert_hex(x, "exported_value", out, L);
    free(out);
    free(ec);
}

static size_t suite_slot(uint16_t aead_id)
{
    return aead_id == CCG_HPKE_AEAD_AES128GCM ? 0 : aead_id == CCG_HPKE_AEAD_CHACHA20POLY1305 ? 1 : 2;
}

static void run_set(const tv_set *set, tv_counts *counts)
{
    const tv_record *r = &set->setup;
    if (r->n == 0) {
        return;
    }
    ccg_hpke_suite suite = tv_suite(r);
    uint8_t mode = (uint8_t)tv_num(r, "mode");
    if (ccg_failed(ccg_hpke_suite_check(suite)) || mode > CCG_HPKE_MODE_AUTH_PSK) {
        print_message("  not supported: %s (mode %u, suite 0x%04x/0x%04x/0x%04x): %zu encryptions, %zu exports\n",
                      set->title, mode, suite.kem_id, suite.kdf_id, suite.aead_id, set->n_enc, set->n_exp);
        counts->sets_unsupported++;
        return;
    }
    int auth = mode == CCG_HPKE_MODE_AUTH || mode == CCG_HPKE_MODE_AUTH_PSK;
    ccg_hpke_keypair eph, kp_r, kp_s;
    memset(&kp_s, 0, sizeof(kp_s));
    check_keypair(r, suite, "E", &eph);
    check_keypair(r, suite, "R", &kp_r);
    if (auth) {
        check_keypair(r, suite, "S", &kp_s);
    }
    check_kem_and_schedule(r, suite, &eph, &kp_r, auth ? &kp_s : NULL);

    size_t info_len = 0, psk_len = 0, psk_id_len = 0;
    uint8_t *info = tv_bytes(r, "info", &info_len);
    uint8_t *psk = tv_find(r, "psk") ? tv_bytes(r, "psk", &psk_len) : NULL;
    uint8_t *psk_id = tv_find(r, "psk_id") ? tv_bytes(r, "psk_id", &psk_id_len) : NULL;
    uint8_t enc[CCG_HPKE_X25519_LEN];
    ccg_hpke_ctx *s = NULL, *rc = NULL;
    if (auth) {
        assert_true(ccg_ok(ccg_hpke_setup_auth_sender(suite, mode, kp_r.pk, info, info_len, psk, psk_len, psk_id,
                                                      psk_id_len, &kp_s, &eph, enc, &s)));
        tv_assert_hex(r, "enc", enc, sizeof(enc));
        assert_true(ccg_ok(ccg_hpke_setup_auth_receiver(suite, mode, enc, &kp_r, kp_s.pk, info, info_len, psk, psk_len,
                                                        psk_id, psk_id_len, &rc)));
    } else {
        assert_true(ccg_ok(ccg_hpke_setup_sender(suite, mode, kp_r.pk, info, info_len, psk, psk_len, psk_id, psk_id_len,
                                                 &eph, enc, &s)));
        tv_assert_hex(r, "enc", enc, sizeof(enc));
        assert_true(ccg_ok(ccg_hpke_setup_receiver(suite, mode, enc, &kp_r, info, info_len, psk, psk_len, psk_id,
                                                   psk_id_len, &rc)));
    }
    check_secrets(r, s);
    check_secrets(r, rc);
    for (size_t i = 0; i < set->n_enc; i++) {
        check_encryption(&set->enc[i], s, rc);
    }
    for (size_t i = 0; i < set->n_exp; i++) {
        check_export(&set->exp[i], s, rc);
    }
    if (suite.aead_id == CCG_HPKE_AEAD_EXPORT_ONLY) {
        uint8_t ct[CCG_HPKE_TAG_LEN];
        size_t ct_len = 0;
        ccg_error_clear();
        assert_true(ccg_failed(ccg_hpke_seal(s, NULL, 0, NULL, 0, ct, &ct_len)));
        tu_assert_error_reason(CCG_R_HPKE_EXPORT_ONLY);
    }
    counts->sets_checked++;
    counts->encryptions += set->n_enc;
    counts->exports += set->n_exp;
    counts->per_suite[suite_slot(suite.aead_id)]++;
    counts->per_mode[mode]++;
    ccg_hpke_ctx_free(s);
    ccg_hpke_ctx_free(rc);
    ccg_hpke_keypair_clear(&eph);
    ccg_hpke_keypair_clear(&kp_r);
    ccg_hpke_keypair_clear(&kp_s);
    free(info);
    free(psk);
    free(psk_id);
}

/* Lines starting with "#" open a new block: run the finished one first. */
static void tv_heading(tv_set *set, const char *line, size_t len, tv_counts *counts)
{
    if (len >= 4 && memcmp(line, "### ", 4) == 0) {
        run_set(set, counts);
        memset(set, 0, sizeof(*set));
        snprintf(set->title, sizeof(set->title), "%.*s", (int)(len - 4), line + 4);
        set->part = PART_SETUP;
    } else if (len >= 5 && memcmp(line, "#### ", 5) == 0) {
        char heading[64];
        snprintf(heading, sizeof(heading), "%.*s", (int)len, line);
        set->part = strstr(heading, "Encryptions") != NULL ? PART_ENC : PART_EXP;
        set->last = NULL;
    } else if (len >= 3 && memcmp(line, "## ", 3) == 0) {
        run_set(set, counts);
        memset(set, 0, sizeof(*set));
    }
}

static void test_rfc9180_vectors(void **state)
{
    (void)state;
    uint8_t *text = NULL;
    size_t text_len = 0;
    tu_read_vector("hpke/rfc9180-x25519-vectors.md", &text, &text_len);
    tv_set *set = calloc(1, sizeof(*set));
    assert_non_null(set);
    tv_counts counts = {0};
    int in_block = 0; /* inside a setup block (after a "### " heading) */
    const char *p = (const char *)text, *end = p + text_len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        while (len > 0 && (p[len - 1] == '\r' || p[len - 1] == ' ')) {
            len--;
        }
        if (len > 0 && p[0] == '#') {
            tv_heading(set, p, len, &counts);
            in_block = len >= 4 && memcmp(p, "###", 3) == 0 ? 1 : (len >= 3 && memcmp(p, "## ", 3) == 0 ? 0 : in_block);
        } else if (in_block && len > 0 && memcmp(p, "~~~", 3) != 0) {
            tv_line(set, p, len);
        }
        p = nl ? nl + 1 : end;
    }
    run_set(set, &counts);
    print_message("RFC 9180 X25519 vectors: %zu setups checked (AES-128-GCM %zu, ChaCha20-Poly1305 %zu, export-only %zu; "
                  "Base %zu, PSK %zu, Auth %zu, AuthPSK %zu), %zu encryptions (sealed and opened), %zu exports (both "
                  "sides); %zu setups not supported\n",
                  counts.sets_checked, counts.per_suite[0], counts.per_suite[1], counts.per_suite[2], counts.per_mode[0],
                  counts.per_mode[1], counts.per_mode[2], counts.per_mode[3], counts.encryptions, counts.exports,
                  counts.sets_unsupported);
    /* The RFC's X25519 appendix: 3 suites x 4 modes, all supported. */
    assert_int_equal(counts.sets_checked, 12);
    assert_int_equal(counts.sets_unsupported, 0);
    assert_int_equal(counts.encryptions, 48);
    assert_int_equal(counts.exports, 36);
    free(set);
    free(text);
}

/* ---- negative and edge cases ---- */

static const ccg_hpke_suite chacha = {CCG_HPKE_KEM_X25519_SHA256, CCG_HPKE_KDF_HKDF_SHA256, CCG_HPKE_AEAD_CHACHA20POLY1305};
static const ccg_hpke_suite aesgcm = {CCG_HPKE_KEM_X25519_SHA256, CCG_HPKE_KDF_HKDF_SHA256, CCG_HPKE_AEAD_AES128GCM};
static const uint8_t info[] = "ccgate hpke test";
static const uint8_t psk32[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                  17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const uint8_t psk_id[] = "tenant-7";

typedef struct {
    ccg_hpke_keypair kp_r;
    uint8_t enc[CCG_HPKE_X25519_LEN];
    ccg_hpke_ctx *s;
    ccg_hpke_ctx *r;
} pair;

static void pair_setup(pair *p, ccg_hpke_suite suite)
{
    memset(p, 0, sizeof(*p));
    assert_true(ccg_ok(ccg_hpke_generate_keypair(&p->kp_r)));
    assert_true(ccg_ok(ccg_hpke_setup_sender(suite, CCG_HPKE_MODE_BASE, p->kp_r.pk, info, sizeof(info), NULL, 0, NULL, 0,
                                             NULL, p->enc, &p->s)));
    assert_true(ccg_ok(ccg_hpke_setup_receiver(suite, CCG_HPKE_MODE_BASE, p->enc, &p->kp_r, info, sizeof(info), NULL, 0,
                                               NULL, 0, &p->r)));
}

static void pair_free(pair *p)
{
    ccg_hpke_ctx_free(p->s);
    ccg_hpke_ctx_free(p->r);
    ccg_hpke_keypair_clear(&p->kp_r);
}

static void expect_open_failed(ccg_hpke_ctx *r, const uint8_t *aad, size_t aad_len, const uint8_t *ct, size_t ct_len)
{
    uint8_t pt[256];
    size_t pt_len = 12345;
    uint64_t before = ccg_hpke_ctx_seq(r);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_hpke_open(r, aad, aad_len, ct, ct_len, pt, &pt_len)));
    tu_assert_error_reason(CCG_R_HPKE_OPEN_FAILED);
    assert_int_equal(ccg_hpke_ctx_seq(r), before);
    assert_int_equal(pt_len, 12345);
}

static void test_tampering(void **state)
{
    (void)state;
    const ccg_hpke_suite suites[2] = {chacha, aesgcm};
    for (size_t si = 0; si < 2; si++) {
        pair p;
        pair_setup(&p, suites[si]);
        static const uint8_t msg[] = "the prompt must stay inside the CVM";
        static const uint8_t aad[] = "frame header";
        uint8_t ct[sizeof(msg) + CCG_HPKE_TAG_LEN], bad[sizeof(ct)], pt[sizeof(msg)];
        size_t ct_len = 0, pt_len = 0;
        assert_true(ccg_ok(ccg_hpke_seal(p.s, aad, sizeof(aad), msg, sizeof(msg), ct, &ct_len)));
        assert_int_equal(ct_len, sizeof(ct));
        /* A flipped ciphertext byte, a flipped tag byte, changed aad, a truncated ct, a short ct. */
        memcpy(bad, ct, ct_len);
        bad[3] ^= 0x01;
        expect_open_failed(p.r, aad, sizeof(aad), bad, ct_len);
        memcpy(bad, ct, ct_len);
        bad[ct_len - 1] ^= 0x80;
        expect_open_failed(p.r, aad, sizeof(aad), bad, ct_len);
        uint8_t aad2[sizeof(aad)];
        memcpy(aad2, aad, sizeof(aad));
        aad2[0] ^= 0x20;
        expect_open_failed(p.r, aad2, sizeof(aad2), ct, ct_len);
        expect_open_failed(p.r, NULL, 0, ct, ct_len);
        expect_open_failed(p.r, aad, sizeof(aad), ct, ct_len - 1);
        expect_open_failed(p.r, aad, sizeof(aad), ct, CCG_HPKE_TAG_LEN - 1);
        /* The untouched message still opens at seq 0: failures did not advance the receiver. */
        assert_true(ccg_ok(ccg_hpke_open(p.r, aad, sizeof(aad), ct, ct_len, pt, &pt_len)));
        assert_memory_equal(pt, msg, sizeof(msg));
        assert_int_equal(ccg_hpke_ctx_seq(p.r), 1);
        /* Replaying it at seq 1 fails: the nonce moved on. */
        expect_open_failed(p.r, aad, sizeof(aad), ct, ct_len);
        pair_free(&p);
    }
}

static void test_in_place_and_empty(void **state)
{
    (void)state;
    pair p;
    pair_setup(&p, chacha);
    uint8_t buf[64 + CCG_HPKE_TAG_LEN];
    for (size_t i = 0; i < 64; i++) {
        buf[i] = (uint8_t)i;
    }
    size_t ct_len = 0, pt_len = 0;
    assert_true(ccg_ok(ccg_hpke_seal(p.s, NULL, 0, buf, 64, buf, &ct_len)));
    assert_true(ccg_ok(ccg_hpke_open(p.r, NULL, 0, buf, ct_len, buf, &pt_len)));
    assert_int_equal(pt_len, 64);
    for (size_t i = 0; i < 64; i++) {
        assert_int_equal(buf[i], i);
    }
    /* An empty plaintext is a bare tag. */
    assert_true(ccg_ok(ccg_hpke_seal(p.s, NULL, 0, NULL, 0, buf, &ct_len)));
    assert_int_equal(ct_len, CCG_HPKE_TAG_LEN);
    assert_true(ccg_ok(ccg_hpke_open(p.r, NULL, 0, buf, ct_len, NULL, &pt_len)));
    assert_int_equal(pt_len, 0);
    pair_free(&p);
}

static void test_wrong_enc(void **state)
{
    (void)state;
    pair p;
    pair_setup(&p, aesgcm);
    ccg_hpke_keypair other;
    assert_true(ccg_ok(ccg_hpke_generate_keypair(&other)));
    ccg_hpke_ctx *r2 = NULL;
    /* A valid point that is not the sender's enc: setup succeeds, but nothing opens. */
    assert_true(ccg_ok(ccg_hpke_setup_receiver(aesgcm, CCG_HPKE_MODE_BASE, other.pk, &p.kp_r, info, sizeof(info), NULL, 0,
                                               NULL, 0, &r2)));
    static const uint8_t msg[] = "hello";
    uint8_t ct[sizeof(msg) + CCG_HPKE_TAG_LEN];
    size_t ct_len = 0;
    assert_true(ccg_ok(ccg_hpke_seal(p.s, NULL, 0, msg, sizeof(msg), ct, &ct_len)));
    expect_open_failed(r2, NULL, 0, ct, ct_len);
    /* Neither does a receiver with other info. */
    ccg_hpke_ctx *r3 = NULL;
    assert_true(ccg_ok(ccg_hpke_setup_receiver(aesgcm, CCG_HPKE_MODE_BASE, p.enc, &p.kp_r, info, sizeof(info) - 1, NULL, 0,
                                               NULL, 0, &r3)));
    expect_open_failed(r3, NULL, 0, ct, ct_len);
    /* A key pair whose halves do not match is refused. */
    ccg_hpke_keypair mixed = p.kp_r;
    mixed.pk[0] ^= 1;
    ccg_hpke_ctx *r4 = NULL;
    ccg_error_clear();
    assert_true(ccg_failed(ccg_hpke_setup_receiver(aesgcm, CCG_HPKE_MODE_BASE, p.enc, &mixed, info, sizeof(info), NULL, 0,
                                                   NULL, 0, &r4)));
    tu_assert_error_reason(CCG_R_HPKE_KEY_INVALID);
    assert_null(r4);
    ccg_hpke_keypair_clear(&mixed);
    ccg_hpke_keypair_clear(&other);
    ccg_hpke_ctx_free(r2);
    ccg_hpke_ctx_free(r3);
    pair_free(&p);
}

static void test_low_order_points(void **state)
{
    (void)state;
    /* 0, 1, a point of order 8, and p (non-canonical 0): each makes the X25519 output all zero. */
    static const char *points[] = {
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    };
    ccg_hpke_keypair kp;
    assert_true(ccg_ok(ccg_hpke_generate_keypair(&kp)));
    for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
        uint8_t pt[CCG_HPKE_X25519_LEN], enc[CCG_HPKE_X25519_LEN];
        assert_true(ccg_ok(ccg_hex_decode_exact(points[i], pt, sizeof(pt))));
        ccg_hpke_ctx *ctx = NULL;
        ccg_error_clear();
        assert_true(ccg_failed(ccg_hpke_setup_receiver(chacha, CCG_HPKE_MODE_BASE, pt, &kp, info, sizeof(info), NULL, 0,
                                                       NULL, 0, &ctx)));
        tu_assert_error_reason(CCG_R_HPKE_DH_ZERO);
        assert_null(ctx);
        ccg_error_clear();
        assert_true(ccg_failed(ccg_hpke_setup_sender(chacha, CCG_HPKE_MODE_BASE, pt, info, sizeof(info), NULL, 0, NULL, 0,
                                                     NULL, enc, &ctx)));
        tu_assert_error_reason(CCG_R_HPKE_DH_ZERO);
        assert_null(ctx);
    }
    ccg_hpke_keypair_clear(&kp);
}

static void expect_setup_reason(ccg_hpke_suite suite, uint8_t mode, const uint8_t *psk, size_t psk_len, const uint8_t *id,
                                size_t id_len, ccg_reason reason)
{
    ccg_hpke_keypair kp;
    uint8_t enc[CCG_HPKE_X25519_LEN];
    ccg_hpke_ctx *ctx = NULL;
    assert_true(ccg_ok(ccg_hpke_generate_keypair(&kp)));
    ccg_error_clear();
    assert_true(ccg_failed(ccg_hpke_setup_sender(suite, mode, kp.pk, info, sizeof(info), psk, psk_len, id, id_len, NULL, enc,
                                                 &ctx)));
    tu_assert_error_reason(reason);
    assert_null(ctx);
    memset(enc, 9, sizeof(enc));
    ccg_error_clear();
    assert_true(ccg_failed(ccg_hpke_setup_receiver(suite, mode, enc, &kp, info, sizeof(info), psk, psk_len, id, id_len,
                                                   &ctx)));
    tu_assert_error_reason(reason);
    assert_null(ctx);
    ccg_hpke_keypair_clear(&kp);
}

static void test_unsupported(void **state)
{
    (void)state;
    const ccg_hpke_suite bad[] = {
        {0x0010, CCG_HPKE_KDF_HKDF_SHA256, CCG_HPKE_AEAD_AES128GCM}, /* DHKEM(P-256) */
        {0x0021, CCG_HPKE_KDF_HKDF_SHA256, CCG_HPKE_AEAD_AES128GCM}, /* DHKEM(X448) */
        {CCG_HPKE_KEM_X25519_SHA256, 0x0002, CCG_HPKE_AEAD_AES128GCM}, /* HKDF-SHA384 */
        {CCG_HPKE_KEM_X25519_SHA256, CCG_HPKE_KDF_HKDF_SHA256, 0x0002}, /* AES-256-GCM */
        {CCG_HPKE_KEM_X25519_SHA256, CCG_HPKE_KDF_HKDF_SHA256, 0x0000},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ccg_error_clear();
        assert_true(ccg_failed(ccg_hpke_suite_check(bad[i])));
        tu_assert_error_reason(CCG_R_HPKE_SUITE_UNSUPPORTED);
        expect_setup_reason(bad[i], CCG_HPKE_MODE_BASE, NULL, 0, NULL, 0, CCG_R_HPKE_SUITE_UNSUPPORTED);
        ccg_hpke_keypair kp;
        uint8_t ikm[32] = {0};
        ccg_error_clear();
        assert_true(ccg_failed(ccg_hpke_derive_keypair(bad[i], ikm, sizeof(ikm), &kp)));
        tu_assert_error_reason(CCG_R_HPKE_SUITE_UNSUPPORTED);
    }
    /* Auth (2) and AuthPSK (3) need the auth setup; 7 is no mode at all. */
    expect_setup_reason(chacha, 2, NULL, 0, NULL, 0, CCG_R_HPKE_MODE_UNSUPPORTED);
    expect_setup_reason(chacha, 3, psk32, sizeof(psk32), psk_id, sizeof(psk_id), CCG_R_HPKE_MODE_UNSUPPORTED);
    expect_setup_reason(chacha, 7, NULL, 0, NULL, 0, CCG_R_HPKE_MODE_UNSUPPORTED);
}

static void test_psk_inputs(void **state)
{
    (void)state;
    /* VerifyPSKInputs: both or neither, and only in the mode that wants them. */
    expect_setup_reason(chacha, CCG_HPKE_MODE_PSK, psk32, sizeof(psk32), NULL, 0, CCG_R_HPKE_PSK_INPUTS_INVALID);
    expect_setup_reason(chacha, CCG_HPKE_MODE_PSK, NULL, 0, psk_id, sizeof(psk_id), CCG_R_HPKE_PSK_INPUTS_INVALID);
    expect_setup_reason(chacha, CCG_HPKE_MODE_PSK, NULL, 0, NULL, 0, CCG_R_HPKE_PSK_INPUTS_INVALID);
    expect_setup_reason(chacha, CCG_HPKE_MODE_BASE, psk32, sizeof(psk32), psk_id, sizeof(psk_id),
                        CCG_R_HPKE_PSK_INPUTS_INVALID);
    expect_setup_reason(chacha, CCG_HPKE_MODE_BASE, psk32, sizeof(psk32), NULL, 0, CCG_R_HPKE_PSK_INPUTS_INVALID);
    expect_setup_reason(chacha, CCG_HPKE_MODE_BASE, NULL, 0, psk_id, sizeof(psk_id), CCG_R_HPKE_PSK_INPUTS_INVALID);
    /* A PSK below the RFC's 32-byte entropy floor. */
    expect_setup_reason(chacha, CCG_HPKE_MODE_PSK, psk32, 31, psk_id, sizeof(psk_id), CCG_R_HPKE_PSK_INPUTS_INVALID);

    /* PSK mode round trip; a receiver with another psk_id cannot open. */
    ccg_hpke_keypair kp;
    uint8_t enc[CCG_HPKE_X25519_LEN];
    ccg_hpke_ctx *s = NULL, *r = NULL, *r_bad = NULL;
    assert_true(ccg_ok(ccg_hpke_generate_keypair(&kp)));
    assert_true(ccg_ok(ccg_hpke_setup_sender(chacha, CCG_HPKE_MODE_PSK, kp.pk, info, sizeof(info), psk32, sizeof(psk32),
                                             psk_id, sizeof(psk_id), NULL, enc, &s)));
    assert_true(ccg_ok(ccg_hpke_setup_receiver(chacha, CCG_HPKE_MODE_PSK, enc, &kp, info, sizeof(info), psk32,
                                               sizeof(psk32), psk_id, sizeof(psk_id), &r)));
    assert_true(ccg_ok(ccg_hpke_setup_receiver(chacha, CCG_HPKE_MODE_PSK, enc, &kp, info, sizeof(info), psk32,
                                               sizeof(psk32), psk_id, sizeof(psk_id) - 1, &r_bad)));
    uint8_t ct[8 + CCG_HPKE_TAG_LEN], pt[8];
    size_t ct_len = 0, pt_len = 0;
    assert_true(ccg_ok(ccg_hpke_seal(s, NULL, 0, (const uint8_t *)"abcdefgh", 8, ct, &ct_len)));
    expect_open_failed(r_bad, NULL, 0, ct, ct_len);
    assert_true(ccg_ok(ccg_hpke_open(r, NULL, 0, ct, ct_len, pt, &pt_len)));
    assert_memory_equal(pt, "abcdefgh", 8);
    ccg_hpke_ctx_free(s);
    ccg_hpke_ctx_free(r);
    ccg_hpke_ctx_free(r_bad);
    ccg_hpke_keypair_clear(&kp);
}

static void expect_auth_reason(uint8_t mode, const uint8_t *psk, size_t psk_len, const uint8_t *id, size_t id_len,
                               const ccg_hpke_keypair *kp_s, const uint8_t *pk_s, ccg_reason reason)
{
    ccg_hpke_keypair kp_r;
    uint8_t enc[CCG_HPKE_X25519_LEN];
    ccg_hpke_ctx *ctx = NULL;
    assert_true(ccg_ok(ccg_hpke_generate_keypair(&kp_r)));
    if (kp_s != NULL || pk_s == NULL) {
        ccg_error_clear();
        assert_true(ccg_failed(ccg_hpke_setup_auth_sender(chacha, mode, kp_r.pk, info, sizeof(info), psk, psk_len, id,
                                                          id_len, kp_s, NULL, enc, &ctx)));
        tu_assert_error_reason(reason);
        assert_null(ctx);
    }
    if (pk_s != NULL) {
        memset(enc, 9, sizeof(enc));
        ccg_error_clear();
        assert_true(ccg_failed(ccg_hpke_setup_auth_receiver(chacha, mode, enc, &kp_r, pk_s, info, sizeof(info), psk, psk_len,
                                                            id, id_len, &ctx)));
        tu_assert_error_reason(reason);
        assert_null(ctx);
    }
    ccg_hpke_keypair_clear(&kp_r);
}

static void test_auth_modes(void **state)
{
    (void)state;
    ccg_hpke_keypair kp_r, kp_s, other;
    assert_true(ccg_ok(ccg_hpke_generate_keypair(&kp_r)));
    assert_true(ccg_ok(ccg_hpke_generate_keypair(&kp_s)));
    assert_true(ccg_ok(ccg_hpke_generate_keypair(&other)));
    const uint8_t modes[2] = {CCG_HPKE_MODE_AUTH, CCG_HPKE_MODE_AUTH_PSK};
    for (size_t i = 0; i < 2; i++) {
        const uint8_t *psk = modes[i] == CCG_HPKE_MODE_AUTH_PSK ? psk32 : NULL;
        size_t psk_len = psk ? sizeof(psk32) : 0;
        const uint8_t *id = psk ? psk_id : NULL;
        size_t id_len = psk ? sizeof(psk_id) : 0;
        uint8_t enc[CCG_HPKE_X25519_LEN];
        ccg_hpke_ctx *s = NULL, *r = NULL, *r_wrong = NULL;
        assert_true(ccg_ok(ccg_hpke_setup_auth_sender(chacha, modes[i], kp_r.pk, info, sizeof(info), psk, psk_len, id,
                                                      id_len, &kp_s, NULL, enc, &s)));
        assert_true(ccg_ok(ccg_hpke_setup_auth_receiver(chacha, modes[i], enc, &kp_r, kp_s.pk, info, sizeof(info), psk,
                                                        psk_len, id, id_len, &r)));
        /* A receiver that expects another sender cannot open: the sender is authenticated. */
        assert_true(ccg_ok(ccg_hpke_setup_auth_receiver(chacha, modes[i], enc, &kp_r, other.pk, info, sizeof(info), psk,
                                                        psk_len, id, id_len, &r_wrong)));
        uint8_t ct[5 + CCG_HPKE_TAG_LEN], pt[5];
        size_t ct_len = 0, pt_len = 0;
        assert_true(ccg_ok(ccg_hpke_seal(s, NULL, 0, (const uint8_t *)"authd", 5, ct, &ct_len)));
        expect_open_failed(r_wrong, NULL, 0, ct, ct_len);
        assert_true(ccg_ok(ccg_hpke_open(r, NULL, 0, ct, ct_len, pt, &pt_len)));
        assert_memory_equal(pt, "authd", 5);
        ccg_hpke_ctx_free(s);
        ccg_hpke_ctx_free(r);
        ccg_hpke_ctx_free(r_wrong);
    }
    /* Base and PSK do not go through the auth setup. */
    expect_auth_reason(CCG_HPKE_MODE_BASE, NULL, 0, NULL, 0, &kp_s, kp_s.pk, CCG_R_HPKE_MODE_UNSUPPORTED);
    expect_auth_reason(CCG_HPKE_MODE_PSK, psk32, sizeof(psk32), psk_id, sizeof(psk_id), &kp_s, kp_s.pk,
                       CCG_R_HPKE_MODE_UNSUPPORTED);
    /* VerifyPSKInputs in the Auth modes. */
    expect_auth_reason(CCG_HPKE_MODE_AUTH, psk32, sizeof(psk32), psk_id, sizeof(psk_id), &kp_s, kp_s.pk,
                       CCG_R_HPKE_PSK_INPUTS_INVALID);
    expect_auth_reason(CCG_HPKE_MODE_AUTH_PSK, NULL, 0, NULL, 0, &kp_s, kp_s.pk, CCG_R_HPKE_PSK_INPUTS_INVALID);
    expect_auth_reason(CCG_HPKE_MODE_AUTH_PSK, psk32, sizeof(psk32), NULL, 0, &kp_s, kp_s.pk, CCG_R_HPKE_PSK_INPUTS_INVALID);
    /* No sender key; a low-order sender public key. */
    expect_auth_reason(CCG_HPKE_MODE_AUTH, NULL, 0, NULL, 0, NULL, NULL, CCG_R_HPKE_KEY_INVALID);
    static const uint8_t zero[CCG_HPKE_X25519_LEN] = {0};
    ccg_hpke_ctx *ctx = NULL;
    uint8_t enc[CCG_HPKE_X25519_LEN];
    ccg_hpke_keypair eph;
    assert_true(ccg_ok(ccg_hpke_generate_keypair(&eph)));
    memcpy(enc, eph.pk, sizeof(enc));
    ccg_error_clear();
    assert_true(ccg_failed(ccg_hpke_setup_auth_receiver(chacha, CCG_HPKE_MODE_AUTH, enc, &kp_r, zero, info, sizeof(info),
                                                        NULL, 0, NULL, 0, &ctx)));
    tu_assert_error_reason(CCG_R_HPKE_DH_ZERO);
    assert_null(ctx);
    ccg_hpke_keypair_clear(&eph);
    ccg_hpke_keypair_clear(&kp_r);
    ccg_hpke_keypair_clear(&kp_s);
    ccg_hpke_keypair_clear(&other);
}

static void test_message_limit(void **state)
{
    (void)state;
    pair p;
    pair_setup(&p, chacha);
    ccg_hpke_ctx_set_seq(p.s, UINT64_MAX - 1);
    ccg_hpke_ctx_set_seq(p.r, UINT64_MAX - 1);
    uint8_t ct[4 + CCG_HPKE_TAG_LEN], pt[4];
    size_t ct_len = 0, pt_len = 0;
    /* The last usable sequence number works on both sides. */
    assert_true(ccg_ok(ccg_hpke_seal(p.s, NULL, 0, (const uint8_t *)"last", 4, ct, &ct_len)));
    assert_true(ccg_ok(ccg_hpke_open(p.r, NULL, 0, ct, ct_len, pt, &pt_len)));
    ccg_error_clear();
    assert_true(ccg_failed(ccg_hpke_seal(p.s, NULL, 0, (const uint8_t *)"more", 4, ct, &ct_len)));
    tu_assert_error_reason(CCG_R_HPKE_MESSAGE_LIMIT);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_hpke_open(p.r, NULL, 0, ct, ct_len, pt, &pt_len)));
    tu_assert_error_reason(CCG_R_HPKE_MESSAGE_LIMIT);
    assert_int_equal(ccg_hpke_ctx_seq(p.s), UINT64_MAX);
    pair_free(&p);
}

static void test_export_bounds(void **state)
{
    (void)state;
    pair p;
    pair_setup(&p, aesgcm);
    uint8_t *out = malloc(CCG_HPKE_MAX_EXPORT_LEN + 1);
    uint8_t *out2 = malloc(CCG_HPKE_MAX_EXPORT_LEN);
    uint8_t ec[CCG_HPKE_MAX_EXPORT_CONTEXT_LEN + 1];
    memset(ec, 0x5a, sizeof(ec));
    /* The longest export and the longest exporter_context both work, and both sides agree. */
    assert_true(ccg_ok(ccg_hpke_export(p.s, ec, CCG_HPKE_MAX_EXPORT_CONTEXT_LEN, out, CCG_HPKE_MAX_EXPORT_LEN)));
    assert_true(ccg_ok(ccg_hpke_export(p.r, ec, CCG_HPKE_MAX_EXPORT_CONTEXT_LEN, out2, CCG_HPKE_MAX_EXPORT_LEN)));
    assert_memory_equal(out, out2, CCG_HPKE_MAX_EXPORT_LEN);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_hpke_export(p.s, ec, 1, out, CCG_HPKE_MAX_EXPORT_LEN + 1)));
    tu_assert_error_reason(CCG_R_HPKE_EXPORT_TOO_LONG);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_hpke_export(p.s, ec, sizeof(ec), out, 32)));
    tu_assert_error_reason(CCG_R_INPUT_TOO_LARGE);
    /* Different contexts give different secrets. */
    assert_true(ccg_ok(ccg_hpke_export(p.s, ec, 1, out, 32)));
    assert_true(ccg_ok(ccg_hpke_export(p.s, ec, 2, out2, 32)));
    assert_memory_not_equal(out, out2, 32);
    free(out);
    free(out2);
    pair_free(&p);
}

static void test_key_inputs(void **state)
{
    (void)state;
    ccg_hpke_keypair kp;
    uint8_t ikm[31] = {0};
    ccg_error_clear();
    assert_true(ccg_failed(ccg_hpke_derive_keypair(chacha, ikm, sizeof(ikm), &kp)));
    tu_assert_error_reason(CCG_R_HPKE_KEY_INVALID);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_hpke_derive_keypair(chacha, NULL, 32, &kp)));
    tu_assert_error_reason(CCG_R_HPKE_KEY_INVALID);
    /* A given ephemeral pair must be consistent too. */
    ccg_hpke_keypair r, eph;
    assert_true(ccg_ok(ccg_hpke_generate_keypair(&r)));
    assert_true(ccg_ok(ccg_hpke_generate_keypair(&eph)));
    eph.pk[31] ^= 0x40;
    uint8_t enc[CCG_HPKE_X25519_LEN];
    ccg_hpke_ctx *ctx = NULL;
    ccg_error_clear();
    assert_true(ccg_failed(ccg_hpke_setup_sender(chacha, CCG_HPKE_MODE_BASE, r.pk, NULL, 0, NULL, 0, NULL, 0, &eph, enc,
                                                 &ctx)));
    tu_assert_error_reason(CCG_R_HPKE_KEY_INVALID);
    /* Fresh key pairs differ. */
    assert_memory_not_equal(r.sk, eph.sk, sizeof(r.sk));
    ccg_hpke_keypair_clear(&r);
    ccg_hpke_keypair_clear(&eph);
    ccg_hpke_ctx_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc9180_vectors),
        cmocka_unit_test(test_tampering),
        cmocka_unit_test(test_in_place_and_empty),
        cmocka_unit_test(test_wrong_enc),
        cmocka_unit_test(test_low_order_points),
        cmocka_unit_test(test_unsupported),
        cmocka_unit_test(test_psk_inputs),
        cmocka_unit_test(test_auth_modes),
        cmocka_unit_test(test_message_limit),
        cmocka_unit_test(test_export_bounds),
        cmocka_unit_test(test_key_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
