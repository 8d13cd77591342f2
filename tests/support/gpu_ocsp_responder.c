/* See gpu_ocsp_responder.h. */
#include "gpu_ocsp_responder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>

#include "ccgate/error.h"
#include "ccgate/util.h"

#include "agent_proc.h"
#include "loopback_http.h"

#include "../../src/emulator/gpu/gpu_emu_internal.h"

struct tu_gpu_ocsp {
    const ccg_gpu_emulator *gpu;
    char dir[256];
    char url[96];
    lh_server *http;
    int counter;
};

int tu_gpu_ocsp_set(tu_gpu_ocsp *o, int k, int revoked)
{
    char path[320], line[512], subject[256];
    X509 *cert = o->gpu->chain.certs[k - 1];
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
    char *serial = bn != NULL ? BN_bn2hex(bn) : NULL;
    FILE *fp;
    int rc = -1;
    X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof(subject));
    snprintf(line, sizeof(line), "%s\t400101000000Z\t%s\t%s\tunknown\t%s\n", revoked ? "R" : "V",
             revoked ? "240101000000Z,keyCompromise" : "", serial != NULL ? serial : "00", subject);
    snprintf(path, sizeof(path), "%s/index-%d.txt", o->dir, k);
    fp = serial != NULL ? fopen(path, "w") : NULL;
    if (fp != NULL) {
        rc = fputs(line, fp) >= 0 ? 0 : -1;
        rc = fclose(fp) == 0 ? rc : -1;
    }
    OPENSSL_free(serial);
    BN_free(bn);
    return rc;
}

/* Which issuer the (single) request is for, by its issuerKeyHash; 0 when none. */
static int issuer_of(const tu_gpu_ocsp *o, const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    OCSP_REQUEST *req = d2i_OCSP_REQUEST(NULL, &p, (long)len);
    ASN1_OCTET_STRING *key_hash = NULL;
    int found = 0;
    if (req != NULL && OCSP_request_onereq_count(req) == 1 &&
        OCSP_id_get0_info(NULL, NULL, &key_hash, NULL, OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, 0))) == 1) {
        for (int k = 1; k < CCG_GPU_EMU_CERTS && !found; k++) {
            uint8_t md[20];
            unsigned int n = 0;
            if (X509_pubkey_digest(o->gpu->chain.certs[k], EVP_sha1(), md, &n) == 1 &&
                (size_t)ASN1_STRING_length(key_hash) == n && memcmp(ASN1_STRING_get0_data(key_hash), md, n) == 0) {
                found = k;
            }
        }
    }
    OCSP_REQUEST_free(req);
    return found;
}

static void handle(void *ctx, const char *method, const char *path, const uint8_t *body, size_t len, lh_answer *out)
{
    tu_gpu_ocsp *o = ctx;
    char req_path[320], resp_path[320], ca[320], key[320], index[320];
    int k = issuer_of(o, body, len), n = __atomic_add_fetch(&o->counter, 1, __ATOMIC_SEQ_CST);
    (void)path;
    out->status = 500;
    if (strcmp(method, "POST") != 0 || k == 0) {
        return;
    }
    snprintf(req_path, sizeof(req_path), "%s/req-%d.der", o->dir, n);
    snprintf(resp_path, sizeof(resp_path), "%s/resp-%d.der", o->dir, n);
    snprintf(ca, sizeof(ca), "%s/issuer-%d.pem", o->dir, k);
    snprintf(key, sizeof(key), "%s/issuer-%d.key", o->dir, k);
    snprintf(index, sizeof(index), "%s/index-%d.txt", o->dir, k);
    char *argv[] = {"openssl", "ocsp", "-index", index, "-CA", ca, "-rsigner", ca, "-rkey", key, "-reqin",
                    req_path, "-respout", resp_path, "-nmin", "60", NULL};
    if (ccg_failed(ccg_file_write(req_path, body, len)) || tu_run_quiet(argv) != 0 ||
        ccg_failed(ccg_file_read(resp_path, 1u << 16, &out->body, &out->len))) {
        ccg_error_clear();
        return;
    }
    out->status = 200;
    out->content_type = "application/ocsp-response";
}

/* Each issuer's certificate and key as `openssl ocsp` reads them, and a good database for each. */
static int write_issuers(tu_gpu_ocsp *o)
{
    for (int k = 1; k < CCG_GPU_EMU_CERTS; k++) {
        char path[320];
        FILE *fp;
        int ok;
        snprintf(path, sizeof(path), "%s/issuer-%d.pem", o->dir, k);
        fp = fopen(path, "w");
        ok = fp != NULL && PEM_write_X509(fp, o->gpu->chain.certs[k]) == 1;
        if (fp == NULL || fclose(fp) != 0 || !ok) {
            return -1;
        }
        snprintf(path, sizeof(path), "%s/issuer-%d.key", o->dir, k);
        fp = fopen(path, "w");
        ok = fp != NULL && PEM_write_PrivateKey(fp, o->gpu->chain.keys[k], NULL, NULL, 0, NULL, NULL) == 1;
        if (fp == NULL || fclose(fp) != 0 || !ok || tu_gpu_ocsp_set(o, k, 0) != 0) {
            return -1;
        }
    }
    return 0;
}

tu_gpu_ocsp *tu_gpu_ocsp_start(const ccg_gpu_emulator *gpu, const char *dir)
{
    tu_gpu_ocsp *o = calloc(1, sizeof(*o));
    char base[64];
    if (o == NULL) {
        return NULL;
    }
    o->gpu = gpu;
    snprintf(o->dir, sizeof(o->dir), "%s", dir);
    if (write_issuers(o) != 0 || (o->http = lh_start(handle, o, base, sizeof(base))) == NULL) {
        free(o);
        return NULL;
    }
    snprintf(o->url, sizeof(o->url), "%s/ocsp", base);
    return o;
}

const char *tu_gpu_ocsp_url(const tu_gpu_ocsp *o) { return o->url; }

int tu_gpu_ocsp_requests(tu_gpu_ocsp *o) { return lh_requests(o->http); }

void tu_gpu_ocsp_stop(tu_gpu_ocsp *o)
{
    if (o != NULL) {
        lh_stop(o->http);
        free(o);
    }
}
