/* The software SNP firmware saved to and loaded from a directory, so a guest-side process (the
 * emulator attester, the configfs-tsm stand-in) and the key broker can share one test root.
 * Everything here is a TEST ROOT: nothing it signs is trusted unless a verifier adds its ARK. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snp_emulator_internal.h"

#define STATE_FORMAT "ccgate-snp-emulator/1"
#define STATE_JSON_MAX (64u * 1024u)

void ccg_snp_emulator_launch_init(const ccg_snp_emulator *emu, ccg_snp_emulator_launch *launch)
{
    ccg_snp_report r;
    ccg_snp_emulator_default_report(emu, &r);
    memset(launch, 0, sizeof(*launch));
    memcpy(launch->measurement, r.measurement, sizeof(launch->measurement));
    memcpy(launch->host_data, r.host_data, sizeof(launch->host_data));
    launch->policy = r.policy;
    launch->guest_svn = r.guest_svn;
}

ccg_result ccg_snp_emulator_attest(const ccg_snp_emulator *emu, const ccg_snp_emulator_launch *launch,
                                   uint32_t vmpl, const uint8_t report_data[64], uint8_t out[CCG_SNP_REPORT_SIZE])
{
    ccg_snp_report r;
    ccg_snp_emulator_default_report(emu, &r);
    if (launch != NULL) {
        memcpy(r.measurement, launch->measurement, sizeof(r.measurement));
        memcpy(r.host_data, launch->host_data, sizeof(r.host_data));
        r.policy = launch->policy;
        r.guest_svn = launch->guest_svn;
    }
    r.vmpl = vmpl;
    memcpy(r.report_data, report_data, sizeof(r.report_data));
    return ccg_snp_emulator_sign(emu, &r, out);
}

/* ---- saving ---- */

static ccg_result path_join(char *out, size_t cap, const char *dir, const char *name)
{
    ccg_result result = CCG_FAILURE;
    int n = snprintf(out, cap, "%s/%s", dir, name);
    CCG_ENSURE_MSG(n > 0 && (size_t)n < cap, CCG_R_USAGE_INVALID, "path too long: %s/%s", dir, name);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Opens dir/name for writing with the given mode, replacing any file (and fixing its mode). */
static ccg_result open_for_write(const char *dir, const char *name, mode_t mode, FILE **out)
{
    ccg_result result = CCG_FAILURE;
    char path[4096];
    int fd = -1;
    CCG_TRY(path_join(path, sizeof(path), dir, name));
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
    CCG_ENSURE_MSG(fd >= 0, CCG_R_IO_WRITE_FAILED, "cannot create %s: %s", path, strerror(errno));
    CCG_ENSURE_MSG(fchmod(fd, mode) == 0, CCG_R_IO_WRITE_FAILED, "cannot chmod %s: %s", path, strerror(errno));
    *out = fdopen(fd, "w");
    CCG_ENSURE_MSG(*out != NULL, CCG_R_IO_WRITE_FAILED, "cannot open %s: %s", path, strerror(errno));
    fd = -1;
    result = CCG_SUCCESS;
cleanup:
    if (fd >= 0) {
        close(fd);
    }
    return result;
}

static ccg_result close_written(FILE *f, const char *name)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(fclose(f) == 0, CCG_R_IO_WRITE_FAILED, "cannot write %s", name);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result save_cert(const char *dir, const char *name, X509 *cert)
{
    ccg_result result = CCG_FAILURE;
    FILE *f = NULL;
    CCG_TRY(open_for_write(dir, name, 0644, &f));
    int ok = PEM_write_X509(f, cert);
    FILE *done = f;
    f = NULL;
    CCG_ENSURE_OSSL(ok == 1, CCG_R_IO_WRITE_FAILED);
    CCG_TRY(close_written(done, name));
    result = CCG_SUCCESS;
cleanup:
    if (f != NULL) {
        fclose(f);
    }
    return result;
}

static ccg_result save_key(const char *dir, const char *name, EVP_PKEY *key)
{
    ccg_result result = CCG_FAILURE;
    FILE *f = NULL;
    CCG_TRY(open_for_write(dir, name, 0600, &f));
    int ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    FILE *done = f;
    f = NULL;
    if (ok != 1) {
        fclose(done);
        CCG_BAIL(CCG_R_IO_WRITE_FAILED, "cannot write the private key %s", name);
    }
    CCG_TRY(close_written(done, name));
    result = CCG_SUCCESS;
cleanup:
    if (f != NULL) {
        fclose(f);
    }
    return result;
}

static json_t *hex_json(const uint8_t *p, size_t n)
{
    char *hex = ccg_hex_alloc(p, n);
    json_t *j = hex ? json_string(hex) : NULL;
    free(hex);
    return j;
}

static json_t *state_json(const ccg_snp_emulator *emu, const ccg_snp_emulator_launch *l)
{
    const ccg_snp_emulator_config *c = &emu->cfg;
    char policy[32];
    snprintf(policy, sizeof(policy), "0x%llx", (unsigned long long)l->policy);
    return json_pack("{s:s, s:s, s:s, s:o*, s:{s:i, s:i, s:i, s:i, s:i}, s:i, s:o*, s:o*, s:s, s:b, s:I}",
                     "format", STATE_FORMAT, "product", ccg_snp_product_name(c->product), "signer",
                     c->signer == CCG_SNP_SIGNER_VLEK ? "VLEK" : "VCEK", "chip_id",
                     hex_json(c->chip_id, sizeof(c->chip_id)), "tcb", "fmc", c->tcb.fmc, "bootloader",
                     c->tcb.bootloader, "tee", c->tcb.tee, "snp", c->tcb.snp, "microcode", c->tcb.microcode,
                     "report_version", (int)c->report_version, "measurement",
                     hex_json(l->measurement, sizeof(l->measurement)), "host_data",
                     hex_json(l->host_data, sizeof(l->host_data)), "policy", policy, "debug",
                     (l->policy & CCG_SNP_POLICY_DEBUG) != 0, "guest_svn", (json_int_t)l->guest_svn);
}

ccg_result ccg_snp_emulator_save(const ccg_snp_emulator *emu, const ccg_snp_emulator_launch *launch, const char *dir)
{
    ccg_result result = CCG_FAILURE;
    ccg_snp_emulator_launch def;
    json_t *j = NULL;
    char *text = NULL;
    FILE *f = NULL;
    if (launch == NULL) {
        ccg_snp_emulator_launch_init(emu, &def);
        launch = &def;
    }
    CCG_ENSURE_MSG(mkdir(dir, 0700) == 0 || errno == EEXIST, CCG_R_IO_WRITE_FAILED, "cannot create %s: %s", dir,
                   strerror(errno));
    CCG_TRY(save_cert(dir, "ark.pem", emu->ark));
    CCG_TRY(save_cert(dir, "ask.pem", emu->ask));
    CCG_TRY(save_cert(dir, "vcek.pem", emu->leaf));
    CCG_TRY(save_key(dir, "ark.key.pem", emu->ark_key));
    CCG_TRY(save_key(dir, "ask.key.pem", emu->ask_key));
    CCG_TRY(save_key(dir, "vcek.key.pem", emu->leaf_key));
    j = state_json(emu, launch);
    CCG_ENSURE_ALLOC(j);
    text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    CCG_ENSURE_ALLOC(text);
    CCG_TRY(open_for_write(dir, "emulator.json", 0644, &f));
    CCG_ENSURE_MSG(fputs(text, f) >= 0 && fputc('\n', f) != EOF, CCG_R_IO_WRITE_FAILED, "cannot write emulator.json");
    FILE *done = f;
    f = NULL;
    CCG_TRY(close_written(done, "emulator.json"));
    result = CCG_SUCCESS;
cleanup:
    if (f != NULL) {
        fclose(f);
    }
    free(text);
    json_decref(j);
    return result;
}

/* ---- loading ---- */

static ccg_result load_pem(const char *dir, const char *name, int is_key, X509 **cert, EVP_PKEY **key)
{
    ccg_result result = CCG_FAILURE;
    char path[4096];
    FILE *f = NULL;
    CCG_TRY(path_join(path, sizeof(path), dir, name));
    f = fopen(path, "r");
    CCG_ENSURE_MSG(f != NULL, CCG_R_ATTEST_EMULATOR_STATE_INVALID, "cannot open %s: %s", path, strerror(errno));
    if (is_key) {
        *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        CCG_ENSURE_OSSL(*key != NULL, CCG_R_ATTEST_EMULATOR_STATE_INVALID);
    } else {
        *cert = PEM_read_X509(f, NULL, NULL, NULL);
        CCG_ENSURE_OSSL(*cert != NULL, CCG_R_ATTEST_EMULATOR_STATE_INVALID);
    }
    result = CCG_SUCCESS;
cleanup:
    if (f != NULL) {
        fclose(f);
    }
    return result;
}

static ccg_result load_pair(const char *dir, const char *stem, X509 **cert, EVP_PKEY **key)
{
    ccg_result result = CCG_FAILURE;
    char cert_name[64], key_name[64];
    snprintf(cert_name, sizeof(cert_name), "%s.pem", stem);
    snprintf(key_name, sizeof(key_name), "%s.key.pem", stem);
    CCG_TRY(load_pem(dir, cert_name, 0, cert, NULL));
    CCG_TRY(load_pem(dir, key_name, 1, NULL, key));
    CCG_ENSURE_OSSL(X509_check_private_key(*cert, *key) == 1, CCG_R_ATTEST_EMULATOR_STATE_INVALID);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result hex_member(const char *hex, uint8_t *out, size_t n, const char *what)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(hex != NULL && ccg_hex_is_valid(hex, n), CCG_R_ATTEST_EMULATOR_STATE_INVALID,
                   "emulator.json: %s is not %zu hex bytes", what, n);
    CCG_TRY(ccg_hex_decode_exact(hex, out, n));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result tcb_byte(json_int_t v, uint8_t *out)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(v >= 0 && v <= 255, CCG_R_ATTEST_EMULATOR_STATE_INVALID, "emulator.json: TCB value %lld",
                   (long long)v);
    *out = (uint8_t)v;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result parse_policy(const char *text, uint64_t *out)
{
    ccg_result result = CCG_FAILURE;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 16);
    CCG_ENSURE_MSG(errno == 0 && end != text && *end == '\0' && strncmp(text, "0x", 2) == 0,
                   CCG_R_ATTEST_EMULATOR_STATE_INVALID, "emulator.json: policy %s is not 0x-prefixed hex", text);
    *out = (uint64_t)v;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result parse_state(const json_t *j, ccg_snp_emulator_config *c, ccg_snp_emulator_launch *l)
{
    ccg_result result = CCG_FAILURE;
    const char *format = NULL, *product = NULL, *signer = NULL, *chip = NULL, *meas = NULL, *host = NULL,
               *policy = NULL;
    json_int_t fmc = 0, bl = 0, tee = 0, snp = 0, ucode = 0, version = 0, svn = 0;
    int debug = 0;
    json_error_t err;
    CCG_ENSURE_MSG(json_unpack_ex((json_t *)j, &err, JSON_STRICT,
                                  "{s:s, s:s, s:s, s:s, s:{s:I, s:I, s:I, s:I, s:I}, s:I, s:s, s:s, s:s, s:b, s:I}",
                                  "format", &format, "product", &product, "signer", &signer, "chip_id", &chip, "tcb",
                                  "fmc", &fmc, "bootloader", &bl, "tee", &tee, "snp", &snp, "microcode", &ucode,
                                  "report_version", &version, "measurement", &meas, "host_data", &host, "policy",
                                  &policy, "debug", &debug, "guest_svn", &svn) == 0,
                   CCG_R_ATTEST_EMULATOR_STATE_INVALID, "emulator.json: %s", err.text);
    CCG_ENSURE_MSG(strcmp(format, STATE_FORMAT) == 0, CCG_R_ATTEST_EMULATOR_STATE_INVALID,
                   "emulator.json: unknown format %s", format);
    ccg_snp_emulator_config_init(c, ccg_snp_product_from_name(product), CCG_SNP_SIGNER_VCEK);
    CCG_ENSURE_MSG(c->product != CCG_SNP_PRODUCT_UNKNOWN, CCG_R_ATTEST_EMULATOR_STATE_INVALID,
                   "emulator.json: unknown product %s", product);
    CCG_ENSURE_MSG(strcmp(signer, "VCEK") == 0 || strcmp(signer, "VLEK") == 0, CCG_R_ATTEST_EMULATOR_STATE_INVALID,
                   "emulator.json: signer %s", signer);
    c->signer = strcmp(signer, "VLEK") == 0 ? CCG_SNP_SIGNER_VLEK : CCG_SNP_SIGNER_VCEK;
    CCG_TRY(hex_member(chip, c->chip_id, sizeof(c->chip_id), "chip_id"));
    CCG_TRY(tcb_byte(fmc, &c->tcb.fmc));
    CCG_TRY(tcb_byte(bl, &c->tcb.bootloader));
    CCG_TRY(tcb_byte(tee, &c->tcb.tee));
    CCG_TRY(tcb_byte(snp, &c->tcb.snp));
    CCG_TRY(tcb_byte(ucode, &c->tcb.microcode));
    CCG_ENSURE_MSG(version == 2 || version == 3 || version == 5, CCG_R_ATTEST_EMULATOR_STATE_INVALID,
                   "emulator.json: report_version %lld", (long long)version);
    c->report_version = (uint32_t)version;
    CCG_TRY(hex_member(meas, l->measurement, sizeof(l->measurement), "measurement"));
    CCG_TRY(hex_member(host, l->host_data, sizeof(l->host_data), "host_data"));
    CCG_TRY(parse_policy(policy, &l->policy));
    /* "debug" is the readable switch; it wins over the bit in "policy". */
    l->policy = debug ? (l->policy | CCG_SNP_POLICY_DEBUG) : (l->policy & ~CCG_SNP_POLICY_DEBUG);
    CCG_ENSURE_MSG(svn >= 0 && svn <= 0xFFFFFFFFll, CCG_R_ATTEST_EMULATOR_STATE_INVALID, "emulator.json: guest_svn");
    l->guest_svn = (uint32_t)svn;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result load_config(const char *dir, ccg_snp_emulator_config *c, ccg_snp_emulator_launch *l)
{
    ccg_result result = CCG_FAILURE;
    char path[4096];
    uint8_t *text = NULL;
    size_t len = 0;
    json_t *j = NULL;
    json_error_t err;
    CCG_TRY(path_join(path, sizeof(path), dir, "emulator.json"));
    if (ccg_failed(ccg_file_read(path, STATE_JSON_MAX, &text, &len))) {
        char why[200];
        snprintf(why, sizeof(why), "%.190s", ccg_error_last()->message); /* gcc: bounded */
        ccg_error_clear(); /* reported as the state's fault, not a generic read failure */
        CCG_BAIL(CCG_R_ATTEST_EMULATOR_STATE_INVALID, "emulator state: %s", why);
    }
    j = json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES, &err);
    CCG_ENSURE_MSG(j != NULL, CCG_R_ATTEST_EMULATOR_STATE_INVALID, "%s: %s", path, err.text);
    CCG_TRY(parse_state(j, c, l));
    result = CCG_SUCCESS;
cleanup:
    json_decref(j);
    free(text);
    return result;
}

ccg_result ccg_snp_emulator_load(const char *dir, ccg_snp_emulator **out, ccg_snp_emulator_launch *launch)
{
    ccg_result result = CCG_FAILURE;
    ccg_snp_emulator *emu = calloc(1, sizeof(*emu));
    ccg_snp_emulator_launch l;
    CCG_ENSURE_ALLOC(emu);
    memset(&l, 0, sizeof(l));
    CCG_TRY(load_config(dir, &emu->cfg, &l));
    CCG_TRY(load_pair(dir, "ark", &emu->ark, &emu->ark_key));
    CCG_TRY(load_pair(dir, "ask", &emu->ask, &emu->ask_key));
    CCG_TRY(load_pair(dir, "vcek", &emu->leaf, &emu->leaf_key));
    /* The chain must hang together, or every report signed with it would fail far from here. */
    CCG_ENSURE_MSG(X509_check_issued(emu->ark, emu->ask) == X509_V_OK &&
                       X509_check_issued(emu->ask, emu->leaf) == X509_V_OK,
                   CCG_R_ATTEST_EMULATOR_STATE_INVALID, "%s: the certificates do not form ARK -> ASK -> VCEK", dir);
    CCG_ENSURE_OSSL(X509_verify(emu->ask, X509_get0_pubkey(emu->ark)) == 1 &&
                        X509_verify(emu->leaf, X509_get0_pubkey(emu->ask)) == 1,
                    CCG_R_ATTEST_EMULATOR_STATE_INVALID);
    CCG_ENSURE_MSG(EVP_PKEY_is_a(emu->leaf_key, "EC"), CCG_R_ATTEST_EMULATOR_STATE_INVALID,
                   "%s: the VCEK/VLEK key is not EC P-384", dir);
    if (launch != NULL) {
        *launch = l;
    }
    *out = emu;
    emu = NULL;
    result = CCG_SUCCESS;
cleanup:
    ccg_snp_emulator_free(emu);
    return result;
}
