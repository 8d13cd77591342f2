/* Test TCB baselines signed by a test authority key. */
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tcb_util.h"

EVP_PKEY *tu_authority_key(void)
{
    EVP_PKEY *key = EVP_EC_gen("P-384");
    assert_non_null(key);
    return key;
}

char *tu_public_pem(EVP_PKEY *key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL, *out = NULL;
    long n;
    assert_non_null(bio);
    assert_int_equal(PEM_write_bio_PUBKEY(bio, key), 1);
    n = BIO_get_mem_data(bio, &data);
    assert_true(n > 0);
    out = calloc(1, (size_t)n + 1);
    assert_non_null(out);
    memcpy(out, data, (size_t)n);
    BIO_free(bio);
    return out;
}

ccg_refval_issuers *tu_issuers_with(EVP_PKEY *key, const char *id)
{
    ccg_refval_issuers *iss = NULL;
    char *pem = tu_public_pem(key);
    assert_true(ccg_ok(ccg_refval_issuers_new(&iss)));
    assert_true(ccg_ok(ccg_refval_issuers_add_pem(iss, id, (const uint8_t *)pem, strlen(pem))));
    free(pem);
    return iss;
}

static json_t *levels(ccg_snp_product product, const ccg_snp_tcb *t)
{
    json_t *o = json_pack("{s:i, s:i, s:i, s:i}", "bootloader", t->bootloader, "tee", t->tee, "snp", t->snp,
                          "microcode", t->microcode);
    assert_non_null(o);
    if (product == CCG_SNP_PRODUCT_TURIN) {
        json_object_set_new(o, "fmc", json_integer(t->fmc));
    }
    return o;
}

char *tu_tcb_baseline_text(ccg_snp_product product, const ccg_snp_tcb *up_to_date, const char *advisories,
                           const char *not_before, const char *not_after, EVP_PKEY *key, const char *issuer)
{
    json_t *doc = json_pack("{s:s, s:i, s:s, s:s, s:o}", "product", ccg_snp_product_name(product), "version", 1,
                            "not_before", not_before, "not_after", not_after, "up_to_date",
                            levels(product, up_to_date));
    char *text;
    assert_non_null(doc);
    if (advisories != NULL) {
        json_error_t err;
        json_t *arr = json_loads(advisories, 0, &err);
        assert_non_null(arr);
        json_object_set_new(doc, "advisories", arr);
    }
    if (key != NULL) {
        assert_true(ccg_ok(ccg_refval_sign(doc, key, issuer)));
    }
    text = json_dumps(doc, JSON_COMPACT);
    assert_non_null(text);
    json_decref(doc);
    return text;
}

ccg_snp_tcb_baseline *tu_tcb_baseline(ccg_snp_product product, const ccg_snp_tcb *up_to_date, const char *advisories,
                                      const char *not_before, const char *not_after, EVP_PKEY *key, const char *issuer)
{
    ccg_snp_tcb_baseline *b = NULL;
    char *text = tu_tcb_baseline_text(product, up_to_date, advisories, not_before, not_after, key, issuer);
    ccg_error_clear();
    if (ccg_failed(ccg_snp_tcb_baseline_parse(text, strlen(text), &b))) {
        fail_msg("baseline did not parse: %s (%s)", ccg_error_last()->message, text);
    }
    free(text);
    return b;
}

ccg_result tu_verify_emulated(ccg_snp_verifier *v, const uint8_t *report, size_t len, const ccg_snp_collateral *col,
                              const ccg_snp_policy *policy, const ccg_snp_emulator *emu, ccg_time now, ccg_decision *d)
{
    const ccg_snp_emulator_config *cfg = ccg_snp_emulator_config_of(emu);
    EVP_PKEY *key = tu_authority_key();
    ccg_refval_issuers *iss = tu_issuers_with(key, "test-authority");
    ccg_snp_tcb_baselines set;
    ccg_snp_verify_opts opts = {.tcb_baselines = &set, .tcb_issuers = iss};
    ccg_result r;
    ccg_snp_tcb_baselines_init(&set);
    assert_true(ccg_ok(ccg_snp_tcb_baselines_add(&set, tu_tcb_baseline(cfg->product, &cfg->tcb, NULL,
                                                                     "2024-01-01T00:00:00Z", "2049-12-31T23:59:59Z",
                                                                     key, "test-authority"))));
    r = ccg_snp_verify_ex(v, report, len, col, policy, &opts, now, d);
    ccg_snp_tcb_baselines_free(&set);
    ccg_refval_issuers_free(iss);
    EVP_PKEY_free(key);
    return r;
}

void tu_tcb_env_init(tu_tcb_env *e)
{
    memset(e, 0, sizeof(*e));
    e->key = tu_authority_key();
    e->iss = tu_issuers_with(e->key, "test-authority");
    ccg_snp_tcb_baselines_init(&e->set);
    for (int p = CCG_SNP_PRODUCT_MILAN; p <= CCG_SNP_PRODUCT_TURIN; p++) {
        ccg_snp_emulator_config cfg;
        ccg_snp_emulator_config_init(&cfg, (ccg_snp_product)p, CCG_SNP_SIGNER_VCEK);
        assert_true(ccg_ok(ccg_snp_tcb_baselines_add(&e->set, tu_tcb_baseline((ccg_snp_product)p, &cfg.tcb, NULL,
                                                                             "2024-01-01T00:00:00Z",
                                                                             "2049-12-31T23:59:59Z", e->key,
                                                                             "test-authority"))));
    }
    e->opts.tcb_baselines = &e->set;
    e->opts.tcb_issuers = e->iss;
}

void tu_tcb_env_free(tu_tcb_env *e)
{
    ccg_snp_tcb_baselines_free(&e->set);
    ccg_refval_issuers_free(e->iss);
    EVP_PKEY_free(e->key);
    memset(e, 0, sizeof(*e));
}

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

char *tu_write_tcb_config(const char *dir)
{
    tu_tcb_env env;
    char path[512], *pem, *out;
    json_t *files = json_array(), *members;
    tu_tcb_env_init(&env);
    for (int p = CCG_SNP_PRODUCT_MILAN; p <= CCG_SNP_PRODUCT_TURIN; p++) {
        const ccg_snp_tcb_baseline *b = env.set.by_product[p];
        char *text = json_dumps(b->doc, JSON_COMPACT);
        assert_non_null(text);
        snprintf(path, sizeof(path), "%s/tcb-%s.json", dir, ccg_snp_product_name((ccg_snp_product)p));
        write_text(path, text);
        free(text);
        json_array_append_new(files, json_string(path));
    }
    snprintf(path, sizeof(path), "%s/tcb-authority.pem", dir);
    pem = tu_public_pem(env.key);
    write_text(path, pem);
    free(pem);
    members = json_pack("{s:o, s:{s:s}}", "tcb_baselines", files, "tcb_baseline_issuers", "test-authority", path);
    assert_non_null(members);
    out = json_dumps(members, JSON_COMPACT);
    assert_non_null(out);
    /* Without the enclosing braces, to splice into a configuration object. */
    memmove(out, out + 1, strlen(out));
    out[strlen(out) - 1] = '\0';
    json_decref(members);
    tu_tcb_env_free(&env);
    return out;
}
