/* An in-process key broker for the cmocka tests (tu_kbs.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ccgate/jose.h"
#include "ccgate/secmem.h"
#include "testutil.h"
#include "tu_kbs.h"

#include "../../src/kbs/kbs_internal.h"

void tu_kbs_call(tu_kbs_session *s, const char *method, const char *path, const char *body,
                 ccg_kbs_http_response *resp)
{
    ccg_kbs_http_request req;
    snprintf(s->rid, sizeof(s->rid), "req-%u", ++s->req_seq);
    memset(&req, 0, sizeof(req));
    req.method = method;
    req.path = path;
    req.cookie_session = s->cookie[0] != 0 ? s->cookie : NULL;
    req.body = body != NULL ? body : "";
    req.body_len = body != NULL ? strlen(body) : 0;
    req.request_id = s->rid;
    ccg_kbs_handle(s->kbs, &req, resp);
}

void tu_kbs_auth(tu_kbs_session *s, const char *tee, unsigned status)
{
    ccg_kbs_http_response resp;
    char body[128];
    const char *eq;
    json_t *ch;
    s->cookie[0] = 0;
    snprintf(body, sizeof(body), "{\"version\":\"0.4.0\",\"tee\":\"%s\",\"extra-params\":{}}", tee);
    tu_kbs_call(s, "POST", "/kbs/v0/auth", body, &resp);
    assert_int_equal(resp.status, status);
    if (status == 200) {
        ch = json_loads(resp.body, 0, NULL);
        assert_non_null(ch);
        snprintf(s->nonce, sizeof(s->nonce), "%s", json_string_value(json_object_get(ch, "nonce")));
        json_decref(ch);
        eq = strchr(resp.set_cookie, '=');
        assert_non_null(eq);
        snprintf(s->cookie, sizeof(s->cookie), "%.*s", (int)strcspn(eq + 1, ";"), eq + 1);
    }
    ccg_kbs_response_free(&resp);
}

void tu_kbs_expect(const ccg_kbs_http_response *resp, unsigned status, const char *code)
{
    if (resp->status != status || (code != NULL && strstr(resp->body, code) == NULL)) {
        fail_msg("expected %u %s, got %u %s", status, code != NULL ? code : "", resp->status, resp->body);
    }
}

void tu_kbs_import_key(ccg_kbs *kbs, const char *key_id, const char *policy_id, uint8_t fill)
{
    ccg_secbuf key = {0};
    assert_true(ccg_ok(ccg_secbuf_alloc(&key, 32, 1)));
    memset(key.data, fill, 32);
    if (ccg_failed(ccg_kbs_import_key(kbs, key_id, policy_id, &key))) {
        fail_msg("import %s: %s", key_id, ccg_error_last()->message);
    }
    ccg_secbuf_free(&key);
}

char *tu_b64(const uint8_t *data, size_t n)
{
    char *out = malloc(4 * (n / 3 + 1) + 1);
    assert_non_null(out);
    EVP_EncodeBlock((unsigned char *)out, data, (int)n);
    return out;
}

void tu_write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_true(fputs(text, fp) >= 0);
    assert_int_equal(fclose(fp), 0);
}

static ccg_time broker_clock(void *ctx) { return ((tu_tdx_broker *)ctx)->now; }

/* The emulator's collateral bundle and root certificate, as the broker's tdx section names them. */
static void write_tdx_collateral(tu_tdx_broker *b, char *root_path, size_t cap)
{
    ccg_tdx_emu_collateral c;
    ccg_tdx_emu_collateral_opts co;
    char path[200], *bundle = NULL, *root;
    memset(&co, 0, sizeof(co));
    co.now = b->now;
    assert_true(ccg_ok(ccg_tdx_emu_collateral_make(b->emu, &co, &c)));
    assert_true(ccg_ok(ccg_tdx_emu_collateral_bundle(&c, &bundle)));
    snprintf(path, sizeof(path), "%s/collateral.json", b->dir);
    tu_write_text(path, bundle);
    free(bundle);
    ccg_tdx_emu_collateral_free(&c);
    root = ccg_tdx_emu_root_pem(b->emu);
    snprintf(root_path, cap, "%s/tdx-root.pem", b->dir);
    tu_write_text(root_path, root);
    free(root);
}

void tu_tdx_broker_open(tu_tdx_broker *b, const char *tag, const char *now, const char *curve)
{
    ccg_tdx_emu_opts o;
    ccg_jwk *jwk = NULL;
    ccg_keystore *ks = NULL;
    char text[2048], root[200];
    snprintf(b->dir, sizeof(b->dir), "/tmp/ccg-%s-XXXXXX", tag);
    assert_non_null(mkdtemp(b->dir));
    b->now = tu_time(now);
    ccg_tdx_emu_opts_default(b->now, &o);
    assert_true(ccg_ok(ccg_tdx_emu_new(&o, &b->emu)));
    ccg_tdx_emu_td_default(&b->td);
    memset(b->td.mrtd, 0x5a, sizeof(b->td.mrtd));
    b->guest = EVP_EC_gen(curve);
    assert_non_null(b->guest);
    assert_true(ccg_ok(ccg_jwk_from_pkey(b->guest, NULL, &jwk)));
    b->jwk = ccg_jwk_to_json(jwk);
    ccg_jwk_free(jwk);
    write_tdx_collateral(b, root, sizeof(root));
    snprintf(text, sizeof(text),
             "{\"store\":\"%s/kbs.db\",\"nonce_ttl\":60,\"token_ttl\":600,\"attestation_policy\":\"attest\","
             "\"allow_unlocked_memory\":true,\"keystore\":{\"backend\":\"file\",\"kek_file\":\"%s/kek\"},"
             "\"tdx\":{\"collateral_file\":\"%s/collateral.json\",\"test_roots\":[\"%s\"]}}",
             b->dir, b->dir, b->dir, root);
    assert_true(ccg_ok(ccg_kbs_config_parse(text, strlen(text), &b->cfg)));
    if (ccg_failed(ccg_kbs_new(&b->cfg, broker_clock, b, &b->kbs))) {
        fail_msg("broker: %s", ccg_error_last()->message);
    }
    assert_true(ccg_ok(kbs_keystore(b->kbs, &ks)));
    assert_true(ccg_ok(ccg_keystore_create_kek(ks, NULL)));
    b->s.kbs = b->kbs;
}

void tu_tdx_broker_close(tu_tdx_broker *b)
{
    char cmd[200];
    ccg_kbs_free(b->kbs);
    ccg_kbs_config_free(&b->cfg);
    ccg_tdx_emu_free(b->emu);
    EVP_PKEY_free(b->guest);
    json_decref(b->jwk);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", b->dir);
    assert_int_equal(system(cmd), 0);
}

void tu_tdx_broker_mrtd_list(char out[104])
{
    uint8_t mrtd[48];
    char hex[97];
    memset(mrtd, 0x5a, sizeof(mrtd));
    ccg_hex_encode(mrtd, sizeof(mrtd), hex);
    snprintf(out, 104, "[\"%s\"]", hex);
}
