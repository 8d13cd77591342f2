/* The guest side of the KBS protocol 0.4.0 as ccgate-kbs serves it (docs/kbs.md):
 *
 *   POST /kbs/v0/auth     {"version":"0.4.0","tee":"snp"|"tdx","extra-params":{}} -> {"nonce"}, session cookie
 *   POST /kbs/v0/attest   {"runtime-data":{"nonce","tee-pubkey"},"tee-evidence":{"primary_evidence":
 *                          SNP {"attestation_report":b64,"cert_chain":[{"cert_type","data":b64}]} or
 *                          TDX Trustee's TdxEvidence {"quote":b64,"cc_eventlog":b64|null,"aa_eventlog":null},
 *                          "additional_evidence":"" or the GPUs' evidence}} -> {"token"}
 *   GET  /kbs/v0/resource/<repo>/<type>/<tag>?version=N -> a JWE to the tee-pubkey (N: the artifact's key
 *        version, so a rotated broker releases the version the artifact needs or refuses it as key.retired)
 *
 * The tee key is a fresh P-256 key per start (never stored). REPORT_DATA = H(RFC 8785 runtime data
 * {"additional-evidence","nonce","tee-pubkey"}) zero-padded to 64 bytes, H the Challenge's
 * extra-params."selected-hash-algorithm" (SHA-384 when it names none), so the CPU evidence is bound to
 * this nonce, this key and the exact additional_evidence string; each GPU in that string signed a nonce
 * derived from the same session (gpu_evidence.c). The key is decrypted straight into secret memory. A
 * denial surfaces the broker's first reason code. */
#include "ccgate/agent.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ccgate/error.h"
#include "ccgate/http_body.h"
#include "ccgate/jose.h"

#include "agent_internal.h"

#define KBS_BODY_MAX (4u << 20)

typedef struct {
    const ccg_agent_config *cfg;
    CURL *curl;
    ccg_agent_kbs_info *info;
} kbs_client;

/* Keeps the broker's X-Request-Id of the newest response. */
static size_t on_header(char *buf, size_t size, size_t n, void *ctx)
{
    ccg_agent_kbs_info *info = ctx;
    size_t len = size * n;
    static const char name[] = "X-Request-Id:";
    if (len > sizeof(name) && strncasecmp(buf, name, sizeof(name) - 1) == 0) {
        const char *v = buf + sizeof(name) - 1;
        size_t vlen = len - (sizeof(name) - 1);
        while (vlen > 0 && (*v == ' ' || *v == '\t')) {
            v++;
            vlen--;
        }
        while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' ')) {
            vlen--;
        }
        snprintf(info->request_id, sizeof(info->request_id), "%.*s", (int)vlen, v);
    }
    return len;
}

static ccg_result client_init(kbs_client *c, const ccg_agent_config *cfg, ccg_agent_kbs_info *info)
{
    ccg_result result = CCG_FAILURE;
    memset(c, 0, sizeof(*c));
    c->cfg = cfg;
    c->info = info;
    c->curl = curl_easy_init();
    CCG_ENSURE_ALLOC(c->curl);
    curl_easy_setopt(c->curl, CURLOPT_COOKIEFILE, ""); /* the session cookie, in memory only */
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, cfg->broker_timeout);
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, info);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, ccg_http_body_collect);
    curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, cfg->insecure_http ? "http,https" : "https");
    curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 0L);
    if (cfg->broker_ca_file != NULL) {
        /* Pinned: only this CA, not the system store. */
        curl_easy_setopt(c->curl, CURLOPT_CAINFO, cfg->broker_ca_file);
        curl_easy_setopt(c->curl, CURLOPT_CAPATH, NULL);
    }
    curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYHOST, 2L);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Every reason code of a denial, comma-separated (an OutOfDate TCB is tdx.tcb_status_not_allowed and
 * tdx.advisory_not_allowed: the operator sees both). Only known codes are copied. */
static void reasons_text(const json_t *reasons, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = 0;
    for (size_t i = 0; i < json_array_size(reasons) && used < cap; i++) {
        const char *code = json_string_value(json_array_get(reasons, i));
        if (code == NULL || ccg_reason_from_code(code) >= CCG_R__COUNT) {
            continue;
        }
        int n = snprintf(out + used, cap - used, "%s%s", used > 0 ? "," : "", code);
        if (n < 0 || (size_t)n >= cap - used) {
            out[used] = 0; /* no half code */
            break;
        }
        used += (size_t)n;
    }
}

/* A denial body {"reasons":[..],"detail","request_id","policy_id","policy_version","cause"}: fails with
 * the first reason code and a message naming the step, the request and the broker's cause. */
static ccg_result broker_denied(kbs_client *c, const char *step, long code, const ccg_http_body *b)
{
    ccg_result result = CCG_FAILURE;
    json_t *body = b->data != NULL ? json_loadb(b->data, b->len, 0, NULL) : NULL;
    const json_t *reasons = json_object_get(body, "reasons");
    const char *first = json_string_value(json_array_get(reasons, 0));
    const char *detail = json_string_value(json_object_get(body, "detail"));
    const char *cause = json_string_value(json_object_get(body, "cause"));
    const char *rid = json_string_value(json_object_get(body, "request_id"));
    const char *pid = json_string_value(json_object_get(body, "policy_id"));
    char all[256];
    ccg_reason r = first != NULL ? ccg_reason_from_code(first) : CCG_R__COUNT;
    if (rid != NULL) {
        snprintf(c->info->request_id, sizeof(c->info->request_id), "%s", rid);
    }
    if (pid != NULL) {
        snprintf(c->info->policy_id, sizeof(c->info->policy_id), "%s", pid);
    }
    if (json_is_integer(json_object_get(body, "policy_version"))) {
        c->info->policy_version = json_integer_value(json_object_get(body, "policy_version"));
    }
    if (cause != NULL) {
        snprintf(c->info->cause, sizeof(c->info->cause), "%s", cause);
    }
    if (r >= CCG_R__COUNT || r == CCG_R_OK) {
        CCG_BAIL(CCG_R_AGENT_BROKER_PROTOCOL, "%s: the broker answered HTTP %ld without a known reason code", step,
                 code);
    }
    if (ccg_reason_kind_of(r) == CCG_KIND_DEPENDENCY) {
        CCG_BAIL(r, "%s: the broker cannot release now (HTTP %ld, request %.40s): nothing was released; fix the "
                    "broker's dependency and retry once its /readyz succeeds; cause: %.180s",
                 step, code, rid != NULL ? rid : "-", cause != NULL ? cause : (detail != NULL ? detail : "-"));
    }
    reasons_text(reasons, all, sizeof(all));
    CCG_BAIL(r, "%s: the broker refused (HTTP %ld, request %.64s, policy %.64s v%lld; reasons %.200s): %.160s", step,
             code, rid != NULL ? rid : "-", pid != NULL ? pid : "-", (long long)c->info->policy_version, all,
             detail != NULL ? detail : ccg_reason_message(r));
cleanup:
    json_decref(body);
    return result;
}

/* One exchange; a transport failure is agent.broker_unavailable; a non-200 answer a denial. */
static ccg_result exchange(kbs_client *c, const char *step, const char *path, const char *post, ccg_http_body *out)
{
    ccg_result result = CCG_FAILURE;
    char url[1024];
    struct curl_slist *headers = NULL;
    long code = 0;
    CURLcode rc;
    memset(out, 0, sizeof(*out));
    out->max = KBS_BODY_MAX;
    CCG_ENSURE_MSG((size_t)snprintf(url, sizeof(url), "%s%s", c->cfg->broker_url, path) < sizeof(url),
                   CCG_R_AGENT_CONFIG_INVALID, "the broker URL is too long");
    curl_easy_setopt(c->curl, CURLOPT_URL, url);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, out);
    if (post != NULL) {
        headers = curl_slist_append(headers, "Content-Type: application/json");
        CCG_ENSURE_ALLOC(headers);
        curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, post);
    } else {
        curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
        curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
    }
    rc = curl_easy_perform(c->curl);
    CCG_ENSURE_MSG(rc == CURLE_OK, CCG_R_AGENT_BROKER_UNAVAILABLE, "%s: %.200s: %s", step, c->cfg->broker_url,
                   curl_easy_strerror(rc));
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &code);
    if (code != 200) {
        CCG_TRY(broker_denied(c, step, code, out));
    }
    CCG_ENSURE_MSG(out->data != NULL, CCG_R_AGENT_BROKER_PROTOCOL, "%s: an empty answer", step);
    result = CCG_SUCCESS;
cleanup:
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(headers);
    return result;
}

static char *b64_std(const uint8_t *in, size_t n)
{
    char *out = n <= (1u << 28) ? malloc(4 * ((n + 2) / 3) + 1) : NULL;
    if (out != NULL) {
        EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    }
    return out;
}

/* [{"cert_type":"VCEK","data":b64},...] from the evidence's certificate table (may be empty). */
static ccg_result cert_chain_json(const ccg_evidence *ev, json_t **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_snp_cert_entry entries[CCG_SNP_CERT_TABLE_MAX_ENTRIES];
    size_t n = 0, used = 0;
    json_t *chain = json_array(), *entry;
    char *data = NULL;
    CCG_ENSURE_ALLOC(chain);
    if (ev->certs != NULL && ev->certs_len > 0) {
        CCG_TRY(ccg_snp_cert_table_parse(ev->certs, ev->certs_len, entries, CCG_SNP_CERT_TABLE_MAX_ENTRIES, &n,
                                         &used));
    }
    for (size_t i = 0; i < n; i++) {
        if (entries[i].kind == CCG_SNP_CERT_OTHER) {
            continue;
        }
        data = b64_std(entries[i].der, entries[i].der_len);
        CCG_ENSURE_ALLOC(data);
        entry = json_pack("{s:s,s:s}", "cert_type", ccg_snp_cert_kind_name(entries[i].kind), "data", data);
        CCG_ENSURE_ALLOC(entry);
        CCG_ENSURE(json_array_append_new(chain, entry) == 0, CCG_R_INTERNAL_OUT_OF_MEMORY);
        free(data);
        data = NULL;
    }
    *out = chain;
    chain = NULL;
    result = CCG_SUCCESS;
cleanup:
    free(data);
    json_decref(chain);
    return result;
}

/* SNP's primary evidence: the report and the certificate table as a cert_chain. */
static ccg_result snp_primary(const ccg_evidence *ev, json_t **out)
{
    ccg_result result = CCG_FAILURE;
    json_t *chain = NULL;
    char *report_b64 = NULL;
    CCG_TRY(cert_chain_json(ev, &chain));
    report_b64 = b64_std(ev->report, ev->report_len);
    CCG_ENSURE_ALLOC(report_b64);
    *out = json_pack("{s:s,s:O}", "attestation_report", report_b64, "cert_chain",
                     json_array_size(chain) > 0 ? chain : json_null());
    CCG_ENSURE_ALLOC(*out);
    result = CCG_SUCCESS;
cleanup:
    json_decref(chain);
    free(report_b64);
    return result;
}

/* The Attestation body for this nonce: CPU evidence bound to (nonce, tee key, additional), and
 * additional (the GPUs' evidence, or "") carried as the very string REPORT_DATA hashed. The evidence
 * must be of the TEE the session was opened for. */
static ccg_result build_attestation(const ccg_agent_config *cfg, ccg_attester *att, const char *hash,
                                    const char *nonce, const ccg_jwk *jwk, const char *additional, char **out)
{
    ccg_result result = CCG_FAILURE;
    uint8_t report_data[CCG_ATTESTER_REPORT_DATA_LEN];
    ccg_evidence ev;
    json_t *jwk_json = NULL, *primary = NULL, *doc = NULL;
    memset(&ev, 0, sizeof(ev));
    CCG_TRY(ccg_jose_kbs_report_data(hash, nonce, jwk, additional, report_data));
    CCG_TRY(ccg_attester_get_evidence(att, report_data, &ev));
    CCG_ENSURE_MSG(ev.tee == ccg_attester_tee(att) && (ev.tee == CCG_TEE_SNP || ev.tee == CCG_TEE_TDX),
                   CCG_R_KBS_TEE_NOT_ALLOWED,
                   "the attester produced evidence of another TEE than the session was opened for");
    if (ev.tee == CCG_TEE_TDX) {
        CCG_TRY(ccg_agent_tdx_evidence(cfg, &ev, &primary));
    } else {
        CCG_TRY(snp_primary(&ev, &primary));
    }
    jwk_json = ccg_jwk_to_json(jwk);
    CCG_ENSURE_ALLOC(jwk_json);
    doc = json_pack("{s:{s:s,s:O},s:{s:O,s:s}}", "runtime-data", "nonce", nonce, "tee-pubkey", jwk_json,
                    "tee-evidence", "primary_evidence", primary, "additional_evidence", additional);
    CCG_ENSURE_ALLOC(doc);
    *out = json_dumps(doc, JSON_COMPACT);
    CCG_ENSURE_ALLOC(*out);
    result = CCG_SUCCESS;
cleanup:
    ccg_evidence_free(&ev);
    json_decref(jwk_json);
    json_decref(primary);
    json_decref(doc);
    return result;
}

/* policy_id and policy_version from the token's claims (informational: the status names them). */
static void token_policy(const char *token, ccg_agent_kbs_info *info)
{
    const char *dot1 = strchr(token, '.'), *dot2 = dot1 != NULL ? strchr(dot1 + 1, '.') : NULL;
    uint8_t *claims = NULL;
    size_t len = 0;
    json_t *o;
    if (dot2 == NULL ||
        ccg_failed(ccg_b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), CCG_R_JOSE_JWT_INVALID, &claims, &len))) {
        ccg_error_clear();
        return;
    }
    o = json_loadb((const char *)claims, len, 0, NULL);
    if (json_is_string(json_object_get(o, "policy_id"))) {
        snprintf(info->policy_id, sizeof(info->policy_id), "%s", json_string_value(json_object_get(o, "policy_id")));
    }
    if (json_is_integer(json_object_get(o, "policy_version"))) {
        info->policy_version = json_integer_value(json_object_get(o, "policy_version"));
    }
    json_decref(o);
    free(claims);
}

/* The Challenge's extra-params."selected-hash-algorithm" (KBS 0.4.0), or sha384 when it names none. */
static ccg_result challenge_hash(const json_t *ch, char *hash, size_t cap)
{
    ccg_result result = CCG_FAILURE;
    const json_t *extra = json_object_get(ch, "extra-params");
    const json_t *sel = json_is_object(extra) ? json_object_get(extra, "selected-hash-algorithm") : NULL;
    const char *h = sel != NULL ? json_string_value(sel) : "sha384";
    CCG_ENSURE_MSG(h != NULL && (strcmp(h, "sha256") == 0 || strcmp(h, "sha384") == 0 || strcmp(h, "sha512") == 0),
                   CCG_R_AGENT_BROKER_PROTOCOL,
                   "auth: the Challenge selects a hash algorithm other than sha256, sha384 or sha512");
    snprintf(hash, cap, "%s", h);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The Request names the attester's TEE: a TDX guest opens a "tdx" session, an SNP guest an "snp" one. */
static ccg_result get_nonce(kbs_client *c, ccg_tee_type tee, char *nonce, size_t cap, char *hash, size_t hash_cap)
{
    ccg_result result = CCG_FAILURE;
    ccg_http_body b;
    json_t *ch = NULL;
    const char *n;
    memset(&b, 0, sizeof(b));
    CCG_ENSURE_MSG(tee == CCG_TEE_SNP || tee == CCG_TEE_TDX, CCG_R_KBS_TEE_NOT_ALLOWED,
                   "the attester's TEE is neither SEV-SNP nor TDX");
    CCG_TRY(exchange(c, "auth", "/kbs/v0/auth",
                     tee == CCG_TEE_TDX ? "{\"version\":\"0.4.0\",\"tee\":\"tdx\",\"extra-params\":{}}"
                                        : "{\"version\":\"0.4.0\",\"tee\":\"snp\",\"extra-params\":{}}",
                     &b));
    ch = json_loadb(b.data, b.len, 0, NULL);
    n = json_string_value(json_object_get(ch, "nonce"));
    CCG_ENSURE_MSG(n != NULL && strlen(n) > 0 && strlen(n) < cap, CCG_R_AGENT_BROKER_PROTOCOL,
                   "auth: the Challenge carries no usable nonce");
    snprintf(nonce, cap, "%s", n);
    CCG_TRY(challenge_hash(ch, hash, hash_cap));
    result = CCG_SUCCESS;
cleanup:
    json_decref(ch);
    ccg_http_body_reset(&b);
    return result;
}

ccg_result ccg_agent_kbs_fetch(const ccg_agent_config *cfg, ccg_attester *att, ccg_agent_gpu *gpu,
                               uint32_t key_version, ccg_secbuf *key, ccg_agent_kbs_info *info)
{
    ccg_result result = CCG_FAILURE;
    kbs_client c;
    EVP_PKEY *priv = NULL;
    ccg_jwk *jwk = NULL;
    char nonce[160], path[512];
    char *attestation = NULL, *additional = NULL;
    ccg_http_body b;
    json_t *tok = NULL;
    memset(&b, 0, sizeof(b));
    memset(key, 0, sizeof(*key));
    memset(info, 0, sizeof(*info));
    memset(&c, 0, sizeof(c));
    CCG_TRY(client_init(&c, cfg, info));
    /* A fresh tee key per start: a key released earlier cannot be decrypted again. */
    priv = EVP_EC_gen("P-256");
    CCG_ENSURE_OSSL(priv != NULL, CCG_R_INTERNAL_ERROR);
    CCG_TRY(ccg_jwk_from_pkey(priv, NULL, &jwk));
    CCG_TRY(get_nonce(&c, ccg_attester_tee(att), nonce, sizeof(nonce), info->hash, sizeof(info->hash)));
    if (gpu != NULL) {
        /* The GPUs sign first: the CPU evidence then binds the string that carries their reports. */
        CCG_TRY(ccg_agent_gpu_evidence(gpu, info->hash, nonce, jwk, &additional, &info->gpus_sent));
    }
    CCG_TRY(build_attestation(cfg, att, info->hash, nonce, jwk, additional != NULL ? additional : "", &attestation));
    CCG_TRY(exchange(&c, "attest", "/kbs/v0/attest", attestation, &b));
    tok = json_loadb(b.data, b.len, 0, NULL);
    CCG_ENSURE_MSG(json_is_string(json_object_get(tok, "token")), CCG_R_AGENT_BROKER_PROTOCOL,
                   "attest: the answer carries no token");
    info->gpus_attested = info->gpus_sent;
    token_policy(json_string_value(json_object_get(tok, "token")), info);
    ccg_http_body_reset(&b);
    if (key_version != 0) {
        snprintf(path, sizeof(path), "/kbs/v0/resource/%s?version=%u", cfg->key_path, key_version);
    } else {
        snprintf(path, sizeof(path), "/kbs/v0/resource/%s", cfg->key_path);
    }
    CCG_TRY(exchange(&c, "resource", path, NULL, &b)); /* the session cookie authorises it */
    if (ccg_failed(ccg_jwe_decrypt_text(priv, b.data, b.len, cfg->memlock != CCG_MEMLOCK_REQUIRED, key))) {
        char why[sizeof(ccg_error_last()->message)];
        ccg_reason r = ccg_error_reason();
        snprintf(why, sizeof(why), "%s", ccg_error_last()->message);
        ccg_error_clear();
        CCG_BAIL(r, "resource: the key's JWE does not decrypt with this start's tee key: %.160s", why);
    }
    result = CCG_SUCCESS;
cleanup:
    ccg_http_body_reset(&b);
    json_decref(tok);
    free(attestation);
    free(additional);
    ccg_jwk_free(jwk);
    EVP_PKEY_free(priv);
    if (c.curl != NULL) {
        curl_easy_cleanup(c.curl);
    }
    return result;
}
