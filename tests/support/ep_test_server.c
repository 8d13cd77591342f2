/* A small stand-in for the inference endpoint, for the client's tests only (the real endpoint lives in the
 * agent). OpenSSL TLS 1.3, one connection at a time, HTTP/1.1 keep-alive. It serves emulated SNP evidence
 * (ccgate's software SNP firmware; a TEST ROOT written to DIR/ark.pem) bound per the endpoint formula, a
 * fixed chat answer, and the OHTTP gateway route. Every plaintext byte it receives on TLS is appended to
 * --capture, so a test can prove that no prompt byte arrived (or, in gateway mode, that the TLS-terminating
 * side saw only ciphertext).
 *
 * usage: ccg-ep-test-server --dir DIR [--mode ok|replay|other-exporter|close-after-evidence] [--debug]
 *                           [--measurement HEX] [--api-key KEY] [--capture FILE] [--inner FILE]
 *                           [--tdx-state DIR (TDX quotes from a saved software TD instead of SNP)]
 * Prints "measurement HEX" (the emulator's default) and "listening on 127.0.0.1:PORT" once ready; writes DIR/ark.pem and DIR/server.pem. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "ccgate/attester.h"
#include "ccgate/endpoint_binding.h"
#include "ccgate/jose.h"
#include "ccgate/ohttp.h"
#include "ccgate/snp_emulator.h"
#include "ccgate/tdx_emulator.h"
#include "ccgate/util.h"

static struct {
    const char *dir, *mode, *measurement, *api_key, *capture, *inner, *tdx_state;
    int debug;
} g;

static ccg_snp_emulator *emu;
static ccg_tdx_emu *tdx_emu; /* --tdx-state: a software TD saved by `ccgate emulate tdx --save-state` */
static ccg_tdx_emu_td tdx_td;
static uint8_t *certtab;
static size_t certtab_len;
static ccg_hpke_keypair hpke_kp;
static ccg_ohttp_key_config kc;
static uint8_t *kc_bytes;
static size_t kc_len;
static char *replayed_doc;

static void die(const char *what)
{
    fprintf(stderr, "ep-test-server: %s: %s\n", what, ccg_error_last()->message);
    ERR_print_errors_fp(stderr);
    exit(2);
}

static void append(const char *path, const void *data, size_t len)
{
    if (path == NULL || len == 0) {
        return;
    }
    FILE *f = fopen(path, "ab");
    if (f != NULL) {
        fwrite(data, 1, len, f);
        fclose(f);
    }
}

/* ------------------------------------------------------------------ evidence */

static char *make_doc(ccg_endpoint_binding b, const uint8_t nonce[32], const uint8_t *exporter)
{
    ccg_snp_report r;
    uint8_t rd[64], report[CCG_SNP_REPORT_SIZE];
    char *json = NULL;
    ccg_snp_emulator_default_report(emu, &r);
    if (g.measurement != NULL && ccg_failed(ccg_hex_decode_exact(g.measurement, r.measurement, 48))) {
        die("--measurement");
    }
    if (g.debug) {
        r.policy |= CCG_SNP_POLICY_DEBUG;
    }
    if (ccg_failed(ccg_endpoint_report_data(b, nonce, b == CCG_ENDPOINT_BINDING_HPKE ? NULL : exporter, kc_bytes, kc_len, rd))) {
        die("report data");
    }
    memcpy(r.report_data, rd, 64);
    if (ccg_failed(ccg_snp_emulator_sign(emu, &r, report))) {
        die("sign");
    }
    ccg_endpoint_evidence d = {.version = 1, .tee = CCG_ENDPOINT_TEE_SNP, .binding = b, .key_config = kc_bytes,
                               .key_config_len = kc_len, .report = report, .report_len = sizeof(report),
                               .certs = certtab, .certs_len = certtab_len};
    uint8_t *quote = NULL;
    size_t quote_len = 0;
    if (tdx_emu != NULL) {
        ccg_tdx_emu_td td = tdx_td;
        memcpy(td.report_data, rd, 64);
        if (g.debug) {
            td.td_attributes |= 1; /* TDATTRIBUTES.DEBUG */
        }
        if (ccg_failed(ccg_tdx_emu_quote(tdx_emu, &td, &quote, &quote_len))) {
            die("tdx quote");
        }
        d.tee = CCG_ENDPOINT_TEE_TDX;
        d.report = quote;
        d.report_len = quote_len;
        d.certs = NULL;
        d.certs_len = 0;
    }
    memcpy(d.nonce, nonce, 32);
    if (ccg_failed(ccg_endpoint_evidence_encode(&d, &json))) {
        die("encode");
    }
    free(quote);
    return json;
}

static void setup_evidence(void)
{
    ccg_snp_emulator_config cfg;
    ccg_snp_emulator_config_init(&cfg, CCG_SNP_PRODUCT_MILAN, CCG_SNP_SIGNER_VCEK);
    if (ccg_failed(ccg_snp_emulator_new(&cfg, &emu))) {
        die("emulator");
    }
    unsigned char *vcek = NULL, *ask = NULL;
    int vl = i2d_X509(ccg_snp_emulator_vcek(emu), &vcek), al = i2d_X509(ccg_snp_emulator_ask(emu), &ask);
    ccg_snp_cert_entry e[2] = {{CCG_SNP_CERT_VCEK, {0}, vcek, (size_t)vl}, {CCG_SNP_CERT_ASK, {0}, ask, (size_t)al}};
    if (vl <= 0 || al <= 0 || ccg_failed(ccg_snp_cert_table_build(e, 2, &certtab, &certtab_len))) {
        die("cert table");
    }
    OPENSSL_free(vcek);
    OPENSSL_free(ask);
    char path[4096];
    snprintf(path, sizeof(path), "%s/ark.pem", g.dir);
    FILE *f = fopen(path, "w");
    if (f == NULL || PEM_write_X509(f, ccg_snp_emulator_ark(emu)) != 1) {
        die("ark.pem");
    }
    fclose(f);
    if (ccg_failed(ccg_hpke_generate_keypair(&hpke_kp))) {
        die("hpke key");
    }
    kc.key_id = 1;
    kc.kem_id = CCG_HPKE_KEM_X25519_SHA256;
    memcpy(kc.pk, hpke_kp.pk, 32);
    kc.n_suites = 2;
    kc.suites[0] = (ccg_ohttp_sym){CCG_HPKE_KDF_HKDF_SHA256, CCG_HPKE_AEAD_CHACHA20POLY1305};
    kc.suites[1] = (ccg_ohttp_sym){CCG_HPKE_KDF_HKDF_SHA256, CCG_HPKE_AEAD_AES128GCM};
    if (ccg_failed(ccg_ohttp_key_config_encode(&kc, &kc_bytes, &kc_len))) {
        die("key config");
    }
    if (g.tdx_state != NULL && ccg_failed(ccg_tdx_emu_load(g.tdx_state, &tdx_emu, &tdx_td))) {
        die("--tdx-state");
    }
    /* "replay": evidence genuinely generated for another session (another nonce and exporter) */
    uint8_t n[32], x[32];
    RAND_bytes(n, 32);
    RAND_bytes(x, 32);
    replayed_doc = make_doc(CCG_ENDPOINT_BINDING_TLS_EXPORTER, n, x);
}

/* ------------------------------------------------------------------ TLS */

static SSL_CTX *make_ctx(void)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *cert = X509_new();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (key == NULL || cert == NULL || ctx == NULL) {
        die("tls");
    }
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
    X509_set_pubkey(cert, key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC, (const unsigned char *)"127.0.0.1", -1, -1, 0);
    X509_set_issuer_name(cert, X509_get_subject_name(cert));
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, cert, cert, NULL, NULL, 0);
    X509_EXTENSION *san = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "IP:127.0.0.1");
    X509_EXTENSION *bc = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, "critical,CA:TRUE");
    X509_add_ext(cert, san, -1);
    X509_add_ext(cert, bc, -1);
    X509_EXTENSION_free(san);
    X509_EXTENSION_free(bc);
    X509_sign(cert, key, EVP_sha256());
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    if (SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1) {
        die("tls cert");
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/server.pem", g.dir);
    FILE *f = fopen(path, "w");
    if (f == NULL || PEM_write_X509(f, cert) != 1) {
        die("server.pem");
    }
    fclose(f);
    X509_free(cert);
    EVP_PKEY_free(key);
    return ctx;
}

/* ------------------------------------------------------------------ HTTP */

typedef struct {
    char method[16], target[512], auth[600], content_type[128];
    uint8_t *body;
    size_t body_len;
} http_req;

static int read_request(SSL *ssl, http_req *r)
{
    static char buf[1 << 20];
    size_t n = 0;
    char *end = NULL;
    memset(r, 0, sizeof(*r));
    while ((end = strstr(buf, "\r\n\r\n")) == NULL || n == 0) {
        if (n + 1 >= sizeof(buf)) {
            return -1;
        }
        int k = SSL_read(ssl, buf + n, (int)(sizeof(buf) - 1 - n));
        if (k <= 0) {
            return -1;
        }
        append(g.capture, buf + n, (size_t)k);
        n += (size_t)k;
        buf[n] = 0;
    }
    size_t head = (size_t)(end - buf) + 4;
    if (sscanf(buf, "%15s %511s", r->method, r->target) != 2) {
        return -1;
    }
    size_t clen = 0;
    for (char *line = strstr(buf, "\r\n") + 2; line < end; line = strstr(line, "\r\n") + 2) {
        if (strncasecmp(line, "Content-Length:", 15) == 0) {
            clen = strtoul(line + 15, NULL, 10);
        } else if (strncasecmp(line, "Authorization:", 14) == 0) {
            sscanf(line + 14, " %599[^\r]", r->auth);
        } else if (strncasecmp(line, "Content-Type:", 13) == 0) {
            sscanf(line + 13, " %127[^\r]", r->content_type);
        }
    }
    r->body = malloc(clen + 1);
    size_t have = n - head;
    if (have > clen) {
        have = clen; /* no pipelining from the client under test */
    }
    memcpy(r->body, buf + head, have);
    while (have < clen) {
        int k = SSL_read(ssl, r->body + have, (int)(clen - have));
        if (k <= 0) {
            return -1;
        }
        append(g.capture, r->body + have, (size_t)k);
        have += (size_t)k;
    }
    r->body_len = clen;
    memset(buf, 0, n + 1);
    return 0;
}

static void respond(SSL *ssl, int status, const char *type, const void *body, size_t len, int close_after)
{
    char head[512];
    int n = snprintf(head, sizeof(head), "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s\r\n", status,
                     type, len, close_after ? "Connection: close\r\n" : "");
    SSL_write(ssl, head, n);
    if (len > 0) {
        SSL_write(ssl, body, (int)len);
    }
}

/* The model's stand-in: a fixed answer, streamed as SSE when asked. Handles status and body for both the
 * direct route and the decapsulated gateway request. */
static int answer(const char *method, const char *path, const char *auth, const uint8_t *body, size_t body_len,
                  const char **type, char *out, size_t cap, size_t *out_len)
{
    char want[600];
    *type = "application/json";
    snprintf(want, sizeof(want), "Bearer %s", g.api_key ? g.api_key : "");
    if (g.api_key != NULL && strcmp(auth, want) != 0) {
        *out_len = (size_t)snprintf(out, cap, "{\"error\":{\"code\":\"endpoint.caller_not_allowed\"}}");
        return 401;
    }
    if (strcmp(method, "GET") == 0 && strcmp(path, "/v1/models") == 0) {
        *out_len = (size_t)snprintf(out, cap, "{\"object\":\"list\",\"data\":[{\"id\":\"ccgate\",\"object\":\"model\"}]}");
        return 200;
    }
    if (strcmp(method, "POST") != 0 || strcmp(path, "/v1/chat/completions") != 0) {
        *out_len = (size_t)snprintf(out, cap, "{\"error\":{\"code\":\"endpoint.path_blocked\"}}");
        return 404;
    }
    if (memmem(body, body_len, "\"stream\":true", 13) != NULL) {
        *type = "text/event-stream";
        *out_len = (size_t)snprintf(out, cap,
                                    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"po\"}}]}\n\n"
                                    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ng\"}}]}\n\n"
                                    "data: [DONE]\n\n");
        return 200;
    }
    *out_len = (size_t)snprintf(out, cap,
                                "{\"id\":\"t\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":"
                                "{\"role\":\"assistant\",\"content\":\"pong %zu\"},\"finish_reason\":\"stop\"}]}",
                                body_len);
    return 200;
}

static void serve_ohttp(SSL *ssl, const http_req *r)
{
    uint8_t *inner = NULL, *enc = NULL, *res = NULL;
    size_t inner_len = 0, enc_len = 0, res_len = 0;
    ccg_ohttp_ctx *ctx = NULL;
    ccg_bhttp_request breq;
    char out[4096];
    size_t out_len = 0;
    const char *type = NULL;
    if (ccg_failed(ccg_ohttp_server_decap_request(&kc, &hpke_kp, r->body, r->body_len, &inner, &inner_len, &ctx)) ||
        ccg_failed(ccg_bhttp_request_decode(inner, inner_len, &breq))) {
        respond(ssl, 400, "application/json", "{}", 2, 0);
        ccg_ohttp_ctx_free(ctx);
        free(inner);
        return;
    }
    append(g.inner, breq.content, breq.content_len);
    const ccg_bhttp_field *a = ccg_bhttp_fields_get(&breq.headers, "authorization");
    int status = answer(breq.method, breq.path, a ? a->value : "", breq.content, breq.content_len, &type, out,
                        sizeof(out), &out_len);
    ccg_bhttp_response bres = {.status = status, .content = (uint8_t *)out, .content_len = out_len};
    if (ccg_failed(ccg_bhttp_fields_add(&bres.headers, "content-type", type, strlen(type))) ||
        ccg_failed(ccg_bhttp_response_encode(&bres, &res, &res_len)) ||
        ccg_failed(ccg_ohttp_server_encap_response(ctx, res, res_len, NULL, &enc, &enc_len))) {
        die("ohttp response");
    }
    respond(ssl, 200, "message/ohttp-res", enc, enc_len, 0);
    ccg_bhttp_fields_free(&bres.headers);
    ccg_bhttp_request_free(&breq);
    ccg_ohttp_ctx_free(ctx);
    free(inner), free(enc), free(res);
}

/* Returns 1 to close the connection. */
static int serve_one(SSL *ssl, const http_req *r)
{
    if (strcmp(r->method, "GET") == 0 && strncmp(r->target, CCG_ENDPOINT_EVIDENCE_PATH "?", strlen(CCG_ENDPOINT_EVIDENCE_PATH) + 1) == 0) {
        char nonce_b64[64] = "", binding[32] = "";
        const char *q = r->target + strlen(CCG_ENDPOINT_EVIDENCE_PATH) + 1;
        sscanf(q, "nonce=%63[^&]&binding=%31s", nonce_b64, binding);
        uint8_t nonce[32], ex[32];
        ccg_endpoint_binding b;
        if (ccg_failed(ccg_endpoint_nonce_decode(nonce_b64, nonce)) || ccg_failed(ccg_endpoint_binding_parse(binding, &b))) {
            respond(ssl, 400, "application/json", "{}", 2, 0);
            return 0;
        }
        if (ccg_failed(ccg_endpoint_tls_exporter(ssl, ex))) {
            die("exporter");
        }
        char *doc = NULL;
        if (strcmp(g.mode, "replay") == 0) {
            doc = strdup(replayed_doc);
        } else if (strcmp(g.mode, "other-exporter") == 0) {
            ex[0] ^= 1; /* bound to another session's exporter, with the client's own nonce */
            doc = make_doc(b, nonce, ex);
        } else {
            doc = make_doc(b, nonce, ex);
        }
        int close_after = strcmp(g.mode, "close-after-evidence") == 0;
        respond(ssl, 200, "application/json", doc, strlen(doc), close_after);
        free(doc);
        return close_after;
    }
    if (strcmp(r->method, "POST") == 0 && strcmp(r->target, CCG_ENDPOINT_OHTTP_PATH) == 0) {
        serve_ohttp(ssl, r);
        return 0;
    }
    char out[4096];
    size_t out_len = 0;
    const char *type = NULL;
    int status = answer(r->method, r->target, r->auth, r->body, r->body_len, &type, out, sizeof(out), &out_len);
    respond(ssl, status, type, out, out_len, 0);
    return 0;
}

int main(int argc, char **argv)
{
    g.mode = "ok";
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--dir") == 0 && v) g.dir = v, i++;
        else if (strcmp(argv[i], "--mode") == 0 && v) g.mode = v, i++;
        else if (strcmp(argv[i], "--measurement") == 0 && v) g.measurement = v, i++;
        else if (strcmp(argv[i], "--api-key") == 0 && v) g.api_key = v, i++;
        else if (strcmp(argv[i], "--capture") == 0 && v) g.capture = v, i++;
        else if (strcmp(argv[i], "--inner") == 0 && v) g.inner = v, i++;
        else if (strcmp(argv[i], "--tdx-state") == 0 && v) g.tdx_state = v, i++;
        else if (strcmp(argv[i], "--debug") == 0) g.debug = 1;
        else {
            fprintf(stderr, "ep-test-server: bad argument %s\n", argv[i]);
            return 2;
        }
    }
    if (g.dir == NULL) {
        fprintf(stderr, "ep-test-server: --dir is required\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    mkdir(g.dir, 0700);
    setup_evidence();
    SSL_CTX *ctx = make_ctx();
    int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, 16) != 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &sl) != 0) {
        perror("listen");
        return 2;
    }
    ccg_snp_report def;
    ccg_snp_emulator_default_report(emu, &def);
    printf("measurement ");
    for (size_t i = 0; i < sizeof(def.measurement); i++) {
        printf("%02x", def.measurement[i]);
    }
    printf("\nlistening on 127.0.0.1:%u\n", ntohs(sa.sin_port));
    fflush(stdout);
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            continue;
        }
        SSL *ssl = SSL_new(ctx);
        SSL_set_fd(ssl, fd);
        if (SSL_accept(ssl) == 1) {
            http_req r;
            while (read_request(ssl, &r) == 0) {
                int done = serve_one(ssl, &r);
                free(r.body);
                if (done) {
                    break;
                }
            }
        }
        SSL_shutdown(ssl);
        SSL_free(ssl);
        close(fd);
    }
}
