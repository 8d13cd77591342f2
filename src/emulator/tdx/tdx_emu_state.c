/* The software TD saved to and loaded from a directory (DIR/tdx-emulator.json, mode 0600), so a later
 * process signs quotes over fresh REPORT_DATA under the same test root. The private keys are in the
 * file as PEM: this is a TEST ROOT, trusted only where a verifier names it. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tdx_emu_internal.h"

#define STATE_FORMAT "ccgate-tdx-emulator/1"
#define STATE_MAX (256u * 1024u)

static json_t *hex_json(const uint8_t *p, size_t n)
{
    char *hex = ccg_hex_alloc(p, n);
    json_t *j = hex != NULL ? json_string(hex) : NULL;
    free(hex);
    return j;
}

static json_t *key_json(EVP_PKEY *key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    json_t *j = NULL;
    if (bio != NULL && PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1) {
        long len = BIO_get_mem_data(bio, &data);
        j = len > 0 ? json_stringn(data, (size_t)len) : NULL;
    }
    BIO_free(bio); /* a memory BIO; the key text is in the state file anyway */
    return j;
}

static json_t *cert_json(X509 *cert)
{
    X509 *one[] = {cert};
    char *pem = tdx_emu_pem(one, 1);
    json_t *j = pem != NULL ? json_string(pem) : NULL;
    free(pem);
    return j;
}

static json_t *u64_json(uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++) {
        b[i] = (uint8_t)(v >> (8 * i));
    }
    return hex_json(b, 8);
}

/* The TD's fields, binary ones as hex of their bytes in quote order (as the verifier's claims). */
static json_t *td_json(const ccg_tdx_emu_td *td)
{
    json_t *o = json_pack("{s:i, s:i, s:o*, s:o*, s:o*, s:o*, s:o*, s:o*, s:o*, s:o*, s:o*, s:o*, s:o*, s:o*}",
                          "version", td->version, "body_type", td->body_type, "tee_tcb_svn",
                          hex_json(td->tee_tcb_svn, 16), "tee_tcb_svn2", hex_json(td->tee_tcb_svn2, 16), "mrseam",
                          hex_json(td->mrseam, 48), "mrsignerseam", hex_json(td->mrsignerseam, 48),
                          "seam_attributes", hex_json(td->seam_attributes, 8), "td_attributes",
                          u64_json(td->td_attributes), "xfam", u64_json(td->xfam), "mrtd", hex_json(td->mrtd, 48),
                          "mrconfigid", hex_json(td->mrconfigid, 48), "mrowner", hex_json(td->mrowner, 48),
                          "mrownerconfig", hex_json(td->mrownerconfig, 48), "mrservicetd",
                          hex_json(td->mrservicetd, 48));
    for (int i = 0; o != NULL && i < 4; i++) {
        char name[8];
        snprintf(name, sizeof(name), "rtmr%d", i);
        json_object_set_new(o, name, hex_json(td->rtmr[i], 48));
    }
    return o;
}

static json_t *state_json(const ccg_tdx_emu *e, const ccg_tdx_emu_td *td)
{
    const ccg_tdx_emu_opts *o = &e->opts;
    return json_pack("{s:s, s:{s:o*, s:o*, s:o*, s:i, s:I}, s:{s:o*, s:o*, s:o*, s:o*, s:o*}, "
                     "s:{s:o*, s:o*, s:o*, s:o*}, s:o*}",
                     "format", STATE_FORMAT, "platform", "fmspc", hex_json(o->fmspc, 6), "pce_id",
                     hex_json(o->pce_id, 2), "sgx_components", hex_json(o->sgx_components, 16), "pcesvn", o->pcesvn,
                     "created", (json_int_t)o->now, "keys", "root", key_json(e->root_key), "ca", key_json(e->ca_key),
                     "pck", key_json(e->pck_key), "tcb", key_json(e->tcb_key), "att", key_json(e->att_key), "certs",
                     "root", cert_json(e->root), "ca", cert_json(e->ca), "pck", cert_json(e->pck), "tcb",
                     cert_json(e->tcb), "td", td_json(td));
}

/* Written to a temporary file (0600) and renamed, so a reader never sees half a state. */
static ccg_result write_private(const char *path, const char *text)
{
    ccg_result result = CCG_FAILURE;
    char tmp[4200];
    size_t len = strlen(text);
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    CCG_ENSURE_MSG(n > 0 && (size_t)n < sizeof(tmp), CCG_R_USAGE_INVALID, "path too long: %s", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    CCG_ENSURE_MSG(fd >= 0, CCG_R_IO_WRITE_FAILED, "cannot create %s: %s", tmp, strerror(errno));
    ssize_t w = write(fd, text, len);
    int ok = w == (ssize_t)len && fchmod(fd, 0600) == 0 && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        (void)unlink(tmp);
        CCG_BAIL(CCG_R_IO_WRITE_FAILED, "cannot write %s: %s", path, strerror(errno));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_tdx_emu_save(const ccg_tdx_emu *e, const ccg_tdx_emu_td *td, const char *dir)
{
    ccg_result result = CCG_FAILURE;
    char path[4096];
    char *text = NULL;
    json_t *doc = state_json(e, td);
    CCG_ENSURE_ALLOC(doc);
    text = json_dumps(doc, JSON_INDENT(2));
    CCG_ENSURE_ALLOC(text);
    int n = snprintf(path, sizeof(path), "%s/%s", dir, CCG_TDX_EMU_STATE_FILE);
    CCG_ENSURE_MSG(n > 0 && (size_t)n < sizeof(path), CCG_R_USAGE_INVALID, "path too long: %s", dir);
    CCG_TRY(write_private(path, text));
    result = CCG_SUCCESS;
cleanup:
    if (text != NULL) {
        OPENSSL_cleanse(text, strlen(text));
    }
    free(text);
    json_decref(doc);
    return result;
}

/* ---- loading ---- */

static ccg_result bad_state(const char *what)
{
    ccg_error_set(CCG_R_ATTEST_EMULATOR_STATE_INVALID, __FILE__, __LINE__, "TDX emulator state: %s", what);
    return CCG_FAILURE;
}

static ccg_result get_hex(json_t *obj, const char *key, uint8_t *out, size_t n)
{
    const char *s = json_string_value(json_object_get(obj, key));
    if (s == NULL || strlen(s) != 2 * n || !ccg_hex_is_valid(s, n)) {
        return bad_state(key);
    }
    return ccg_hex_decode_exact(s, out, n);
}

static ccg_result get_u64(json_t *obj, const char *key, uint64_t *out)
{
    ccg_result result = CCG_FAILURE;
    uint8_t b[8];
    CCG_TRY(get_hex(obj, key, b, 8));
    *out = 0;
    for (int i = 0; i < 8; i++) {
        *out |= (uint64_t)b[i] << (8 * i);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result get_key(json_t *keys, const char *name, EVP_PKEY **out)
{
    const char *pem = json_string_value(json_object_get(keys, name));
    BIO *bio = pem != NULL ? BIO_new_mem_buf(pem, -1) : NULL;
    *out = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    return *out != NULL ? CCG_SUCCESS : bad_state(name);
}

static ccg_result get_cert(json_t *certs, const char *name, EVP_PKEY *key, X509 **out)
{
    const char *pem = json_string_value(json_object_get(certs, name));
    BIO *bio = pem != NULL ? BIO_new_mem_buf(pem, -1) : NULL;
    *out = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    /* A certificate that is not its key's would sign nothing the chain vouches for. */
    if (*out == NULL || X509_check_private_key(*out, key) != 1) {
        return bad_state(name);
    }
    return CCG_SUCCESS;
}

static ccg_result load_td(json_t *o, ccg_tdx_emu_td *td)
{
    ccg_result result = CCG_FAILURE;
    json_t *v = json_object_get(o, "version"), *b = json_object_get(o, "body_type");
    ccg_tdx_emu_td_default(td);
    if (!json_is_object(o) || !json_is_integer(v) || !json_is_integer(b)) {
        return bad_state("td");
    }
    td->version = (uint16_t)json_integer_value(v);
    td->body_type = (uint16_t)json_integer_value(b);
    CCG_ENSURE_MSG((td->version == 4 && td->body_type == 2) ||
                       (td->version == 5 && (td->body_type == 2 || td->body_type == 3)),
                   CCG_R_ATTEST_EMULATOR_STATE_INVALID, "TDX emulator state: quote version %u body %u",
                   td->version, td->body_type);
    CCG_TRY(get_hex(o, "tee_tcb_svn", td->tee_tcb_svn, 16));
    CCG_TRY(get_hex(o, "tee_tcb_svn2", td->tee_tcb_svn2, 16));
    CCG_TRY(get_hex(o, "mrseam", td->mrseam, 48));
    CCG_TRY(get_hex(o, "mrsignerseam", td->mrsignerseam, 48));
    CCG_TRY(get_hex(o, "seam_attributes", td->seam_attributes, 8));
    CCG_TRY(get_u64(o, "td_attributes", &td->td_attributes));
    CCG_TRY(get_u64(o, "xfam", &td->xfam));
    CCG_TRY(get_hex(o, "mrtd", td->mrtd, 48));
    CCG_TRY(get_hex(o, "mrconfigid", td->mrconfigid, 48));
    CCG_TRY(get_hex(o, "mrowner", td->mrowner, 48));
    CCG_TRY(get_hex(o, "mrownerconfig", td->mrownerconfig, 48));
    CCG_TRY(get_hex(o, "mrservicetd", td->mrservicetd, 48));
    for (int i = 0; i < 4; i++) {
        char name[8];
        snprintf(name, sizeof(name), "rtmr%d", i);
        CCG_TRY(get_hex(o, name, td->rtmr[i], 48));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result load_platform(json_t *p, ccg_tdx_emu_opts *o)
{
    ccg_result result = CCG_FAILURE;
    json_t *svn = json_object_get(p, "pcesvn"), *created = json_object_get(p, "created");
    memset(o, 0, sizeof(*o));
    if (!json_is_integer(svn) || json_integer_value(svn) < 0 || json_integer_value(svn) > 65535 ||
        !json_is_integer(created)) {
        return bad_state("platform");
    }
    o->pcesvn = (uint16_t)json_integer_value(svn);
    o->now = json_integer_value(created);
    CCG_TRY(get_hex(p, "fmspc", o->fmspc, 6));
    CCG_TRY(get_hex(p, "pce_id", o->pce_id, 2));
    CCG_TRY(get_hex(p, "sgx_components", o->sgx_components, 16));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result from_json(json_t *doc, ccg_tdx_emu *e, ccg_tdx_emu_td *td)
{
    ccg_result result = CCG_FAILURE;
    json_t *keys = json_object_get(doc, "keys"), *certs = json_object_get(doc, "certs");
    const char *format = json_string_value(json_object_get(doc, "format"));
    CCG_ENSURE_MSG(format != NULL && strcmp(format, STATE_FORMAT) == 0, CCG_R_ATTEST_EMULATOR_STATE_INVALID,
                   "TDX emulator state: not %s", STATE_FORMAT);
    CCG_TRY(load_platform(json_object_get(doc, "platform"), &e->opts));
    CCG_TRY(get_key(keys, "root", &e->root_key));
    CCG_TRY(get_key(keys, "ca", &e->ca_key));
    CCG_TRY(get_key(keys, "pck", &e->pck_key));
    CCG_TRY(get_key(keys, "tcb", &e->tcb_key));
    CCG_TRY(get_key(keys, "att", &e->att_key));
    CCG_TRY(get_cert(certs, "root", e->root_key, &e->root));
    CCG_TRY(get_cert(certs, "ca", e->ca_key, &e->ca));
    CCG_TRY(get_cert(certs, "pck", e->pck_key, &e->pck));
    CCG_TRY(get_cert(certs, "tcb", e->tcb_key, &e->tcb));
    e->other_key = EVP_EC_gen("P-256");
    CCG_ENSURE_OSSL(e->other_key != NULL, CCG_R_INTERNAL_CRYPTO);
    if (td != NULL) {
        CCG_TRY(load_td(json_object_get(doc, "td"), td));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_tdx_emu_load(const char *dir, ccg_tdx_emu **out, ccg_tdx_emu_td *td)
{
    ccg_result result = CCG_FAILURE;
    char path[4096];
    uint8_t *text = NULL;
    size_t len = 0;
    json_error_t err;
    json_t *doc = NULL;
    ccg_tdx_emu *e = calloc(1, sizeof(*e));
    CCG_ENSURE_ALLOC(e);
    int n = snprintf(path, sizeof(path), "%s/%s", dir, CCG_TDX_EMU_STATE_FILE);
    CCG_ENSURE_MSG(n > 0 && (size_t)n < sizeof(path), CCG_R_USAGE_INVALID, "path too long: %s", dir);
    if (ccg_failed(ccg_file_read(path, STATE_MAX, &text, &len))) {
        ccg_error_clear();
        CCG_BAIL(CCG_R_ATTEST_EMULATOR_STATE_INVALID, "no TDX emulator state at %s", path);
    }
    doc = json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES, &err);
    CCG_ENSURE_MSG(json_is_object(doc), CCG_R_ATTEST_EMULATOR_STATE_INVALID, "TDX emulator state %s: %s", path,
                   doc == NULL ? err.text : "not an object");
    CCG_TRY(from_json(doc, e, td));
    *out = e;
    e = NULL;
    result = CCG_SUCCESS;
cleanup:
    if (text != NULL) {
        OPENSSL_cleanse(text, len);
    }
    free(text);
    json_decref(doc);
    ccg_tdx_emu_free(e);
    return result;
}
