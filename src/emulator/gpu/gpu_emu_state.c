/* The software GPU saved to one JSON file, so the stub NVML library (in the guest agent's process),
 * the CLI and the key broker's tests share one TEST root and one FWID. The file holds the leaf and
 * RIM signer private keys (PEM) and is written mode 0600; the CA keys are never saved, so a loaded
 * emulator can sign evidence and RIMs but never issue a new chain. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ccgate/error.h"
#include "ccgate/secmem.h"
#include "ccgate/x509util.h"
#include "gpu_emu_internal.h"

#define STATE_FORMAT "ccgate-gpu-emulator/1"
#define STATE_MAX (256u * 1024u)

static json_t *key_pem(EVP_PKEY *key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    json_t *s = NULL;
    if (bio != NULL && PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1) {
        long n = BIO_get_mem_data(bio, &data);
        s = n > 0 ? json_stringn(data, (size_t)n) : NULL;
    }
    BIO_free_all(bio); /* a mem BIO clears nothing: the key text is in the state file anyway */
    return s;
}

static json_t *certs_pem(X509 *const *certs, int n)
{
    static const int order[CCG_GPU_EMU_CERTS] = {0, 1, 2, 3, 4};
    char *pem = NULL;
    size_t len = 0;
    json_t *s = ccg_ok(ccg_gpu_emu_certs_pem(certs, order, n, &pem, &len)) ? json_stringn(pem, len) : NULL;
    free(pem);
    return s;
}

static json_t *state_json(const ccg_gpu_emulator *emu)
{
    const ccg_gpu_emu_config *c = &emu->cfg;
    X509 *rim[2] = {emu->rim_signer, emu->rim_root};
    char fwid[2 * CCG_GPU_FWID_SIZE + 1];
    ccg_hex_encode(c->fwid, sizeof(c->fwid), fwid);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o*, s:o*, s:o*, s:o*}", "format",
                     STATE_FORMAT, "arch", ccg_gpu_arch_name(c->arch), "driver_version", c->driver_version,
                     "vbios_version", c->vbios_version, "project", c->project, "project_sku", c->project_sku,
                     "chip_sku", c->chip_sku, "chip_info", c->chip_info, "fwid", fwid, "device_chain",
                     certs_pem(emu->chain.certs, CCG_GPU_EMU_CERTS), "leaf_key", key_pem(emu->chain.keys[0]),
                     "rim_chain", certs_pem(rim, 2), "rim_key", key_pem(emu->rim_key));
}

static ccg_result write_private(const char *path, const char *text)
{
    ccg_result result = CCG_FAILURE;
    size_t len = strlen(text), done = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    CCG_ENSURE_MSG(fd >= 0, CCG_R_IO_WRITE_FAILED, "cannot create %s: %s", path, strerror(errno));
    CCG_ENSURE_MSG(fchmod(fd, 0600) == 0, CCG_R_IO_WRITE_FAILED, "cannot chmod %s: %s", path, strerror(errno));
    while (done < len) {
        ssize_t n = write(fd, text + done, len - done);
        CCG_ENSURE_MSG(n > 0 || errno == EINTR, CCG_R_IO_WRITE_FAILED, "cannot write %s: %s", path, strerror(errno));
        done += n > 0 ? (size_t)n : 0;
    }
    int rc = close(fd);
    fd = -1;
    CCG_ENSURE_MSG(rc == 0, CCG_R_IO_WRITE_FAILED, "cannot write %s: %s", path, strerror(errno));
    result = CCG_SUCCESS;
cleanup:
    if (fd >= 0) {
        close(fd);
    }
    return result;
}

static ccg_result state_path(const char *dir, char *out, size_t cap)
{
    ccg_result result = CCG_FAILURE;
    int n = snprintf(out, cap, "%s/%s", dir, CCG_GPU_EMU_STATE_FILE);
    CCG_ENSURE_MSG(n > 0 && (size_t)n < cap, CCG_R_USAGE_INVALID, "path too long: %s", dir);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_gpu_emulator_save(const ccg_gpu_emulator *emu, const char *dir)
{
    ccg_result result = CCG_FAILURE;
    char path[4096];
    json_t *j = NULL;
    char *text = NULL;
    CCG_ENSURE_MSG(mkdir(dir, 0700) == 0 || errno == EEXIST, CCG_R_IO_WRITE_FAILED, "cannot create %s: %s", dir,
                   strerror(errno));
    CCG_TRY(state_path(dir, path, sizeof(path)));
    j = state_json(emu);
    CCG_ENSURE_MSG(j != NULL, CCG_R_INTERNAL_CRYPTO, "cannot serialise the software GPU");
    text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    CCG_ENSURE_ALLOC(text);
    CCG_TRY(write_private(path, text));
    result = CCG_SUCCESS;
cleanup:
    if (text != NULL) {
        ccg_secure_zero(text, strlen(text));
    }
    free(text);
    json_decref(j);
    return result;
}

/* ---- loading ---- */

/* A lower-level failure (a file, a certificate, a config check) restated as an invalid state. */
static void restate_invalid(const char *what)
{
    char msg[sizeof(ccg_error_last()->message)];
    snprintf(msg, sizeof(msg), "%s", ccg_error_last()->message);
    ccg_error_clear();
    ccg_error_set(CCG_R_ATTEST_EMULATOR_STATE_INVALID, __FILE__, __LINE__, "%s: %s", what, msg);
}

static ccg_result read_string(json_t *j, const char *name, char *out, size_t cap)
{
    ccg_result result = CCG_FAILURE;
    const char *s = json_string_value(json_object_get(j, name));
    CCG_ENSURE_MSG(s != NULL && strlen(s) < cap, CCG_R_ATTEST_EMULATOR_STATE_INVALID,
                   "the GPU emulator state has no valid \"%s\"", name);
    memcpy(out, s, strlen(s) + 1);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result read_config(json_t *j, ccg_gpu_emu_config *c)
{
    ccg_result result = CCG_FAILURE;
    char arch[16], fwid[2 * CCG_GPU_FWID_SIZE + 1];
    const char *format = json_string_value(json_object_get(j, "format"));
    CCG_ENSURE_MSG(format != NULL && strcmp(format, STATE_FORMAT) == 0, CCG_R_ATTEST_EMULATOR_STATE_INVALID,
                   "the GPU emulator state is not in format %s", STATE_FORMAT);
    CCG_TRY(read_string(j, "arch", arch, sizeof(arch)));
    c->arch = ccg_gpu_arch_from_name(arch);
    CCG_TRY(read_string(j, "driver_version", c->driver_version, sizeof(c->driver_version)));
    CCG_TRY(read_string(j, "vbios_version", c->vbios_version, sizeof(c->vbios_version)));
    CCG_TRY(read_string(j, "project", c->project, sizeof(c->project)));
    CCG_TRY(read_string(j, "project_sku", c->project_sku, sizeof(c->project_sku)));
    CCG_TRY(read_string(j, "chip_sku", c->chip_sku, sizeof(c->chip_sku)));
    CCG_TRY(read_string(j, "chip_info", c->chip_info, sizeof(c->chip_info)));
    CCG_TRY(read_string(j, "fwid", fwid, sizeof(fwid)));
    CCG_ENSURE_MSG(ccg_ok(ccg_hex_decode_exact(fwid, c->fwid, sizeof(c->fwid))), CCG_R_ATTEST_EMULATOR_STATE_INVALID,
                   "the GPU emulator state's fwid is not 48 bytes of hex");
    if (ccg_failed(gpu_emu_config_check(c))) {
        restate_invalid("the GPU emulator state's config is not usable");
        goto cleanup;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result read_certs(json_t *j, const char *name, X509 **out, int n)
{
    ccg_result result = CCG_FAILURE;
    const char *pem = json_string_value(json_object_get(j, name));
    STACK_OF(X509) *certs = sk_X509_new_null();
    CCG_ENSURE_ALLOC(certs);
    if (pem != NULL && ccg_failed(ccg_x509_load_bundle((const uint8_t *)pem, strlen(pem), certs))) {
        restate_invalid(name);
        goto cleanup;
    }
    CCG_ENSURE_MSG(pem != NULL && sk_X509_num(certs) == n, CCG_R_ATTEST_EMULATOR_STATE_INVALID,
                   "the GPU emulator state's %s is not %d certificates", name, n);
    for (int i = 0; i < n; i++) {
        out[i] = sk_X509_value(certs, i);
    }
    sk_X509_free(certs);
    certs = NULL;
    result = CCG_SUCCESS;
cleanup:
    sk_X509_pop_free(certs, X509_free);
    return result;
}

static ccg_result read_key(json_t *j, const char *name, X509 *cert, EVP_PKEY **out)
{
    ccg_result result = CCG_FAILURE;
    const char *pem = json_string_value(json_object_get(j, name));
    BIO *bio = pem != NULL ? BIO_new_mem_buf(pem, -1) : NULL;
    *out = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    CCG_ENSURE_MSG(*out != NULL, CCG_R_ATTEST_EMULATOR_STATE_INVALID, "the GPU emulator state has no valid %s", name);
    CCG_ENSURE_MSG(X509_check_private_key(cert, *out) == 1, CCG_R_ATTEST_EMULATOR_STATE_INVALID,
                   "the GPU emulator state's %s does not belong to its certificate", name);
    result = CCG_SUCCESS;
cleanup:
    ERR_clear_error();
    BIO_free(bio);
    return result;
}

static ccg_result from_json(json_t *j, ccg_gpu_emulator *emu)
{
    ccg_result result = CCG_FAILURE;
    X509 *rim[2] = {NULL, NULL};
    CCG_TRY(read_config(j, &emu->cfg));
    CCG_TRY(read_certs(j, "device_chain", emu->chain.certs, CCG_GPU_EMU_CERTS));
    CCG_TRY(read_key(j, "leaf_key", emu->chain.certs[0], &emu->chain.keys[0]));
    CCG_TRY(read_certs(j, "rim_chain", rim, 2));
    emu->rim_signer = rim[0];
    emu->rim_root = rim[1];
    CCG_TRY(read_key(j, "rim_key", emu->rim_signer, &emu->rim_key));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_gpu_emulator_load(const char *dir, ccg_gpu_emulator **out)
{
    ccg_result result = CCG_FAILURE;
    char path[4096];
    uint8_t *text = NULL;
    size_t len = 0;
    json_t *j = NULL;
    json_error_t err;
    ccg_gpu_emulator *emu = calloc(1, sizeof(*emu));
    *out = NULL;
    CCG_ENSURE_ALLOC(emu);
    CCG_TRY(state_path(dir, path, sizeof(path)));
    if (ccg_failed(ccg_file_read(path, STATE_MAX, &text, &len))) {
        restate_invalid("cannot read the GPU emulator state");
        goto cleanup;
    }
    j = json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES, &err);
    CCG_ENSURE_MSG(json_is_object(j), CCG_R_ATTEST_EMULATOR_STATE_INVALID, "%s is not a JSON object: %s", path,
                   err.text);
    CCG_TRY(from_json(j, emu));
    *out = emu;
    emu = NULL;
    result = CCG_SUCCESS;
cleanup:
    if (text != NULL) {
        ccg_secure_zero(text, len);
    }
    free(text);
    json_decref(j);
    ccg_gpu_emulator_free(emu);
    return result;
}
