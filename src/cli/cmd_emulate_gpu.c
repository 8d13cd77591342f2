/* ccgate emulate gpu: evidence and RIMs from the software GPU (src/emulator/gpu), for demos and tests
 * only. Its roots are TEST roots: a verifier accepts its output only when told to trust them. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ccgate/gpu_emulator.h"
#include "ccgate/gpu_rim.h"
#include "cli.h"

typedef struct {
    const char *out_dir;
    const char *nonce;
    const char *arch;
    const char *driver;
    const char *vbios;
    const char *tamper;
    int save_state, json;
    const char *load_state;
} emulate_gpu_args;

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: ccgate emulate gpu --out-dir DIR [--nonce HEX] [--arch hopper|blackwell] [--driver VER]\n"
            "                          [--vbios VER] [--tamper KIND[=ARG]] [--save-state] [--load-state DIR]\n"
            "\n"
            "Writes SPDM evidence signed by ccgate's software GPU, and the matching driver and VBIOS RIMs, for\n"
            "demos and tests. Its device root and RIM root are TEST roots: NVIDIA's pinned roots never accept\n"
            "them, so a verifier must name them (verify gpu --trust-root DIR/root.pem).\n"
            "\n"
            "  --json               print what was written as JSON (errors as the error object)\n"
            "  --out-dir DIR        writes report.bin, report.hex, certs.pem (five certificates, leaf first),\n"
            "                       root.pem, rim-root.pem, rims/<RIM ID>.xml, evidence.json and nonce.hex\n"
            "  --nonce HEX          the 32-byte nonce to sign over (default: random, written to nonce.hex)\n"
            "  --arch NAME          hopper (default) or blackwell\n"
            "  --driver VER         the driver version (default " CCG_GPU_EMU_DEFAULT_DRIVER ")\n"
            "  --vbios VER          the VBIOS version (default " CCG_GPU_EMU_DEFAULT_VBIOS ")\n"
            "  --tamper KIND        a refused variant for tests; the RIMs stay honest:\n"
            "                       cc_off, devtools (the CC-mode measurement differs), measurement=N (RIM\n"
            "                       index N differs), fwid, driver=VER (the GPU runs another driver),\n"
            "                       signature, nonce (signed over another nonce)\n"
            "  --save-state         also save the software GPU (keys, chains, config) into --out-dir as\n"
            "                       " CCG_GPU_EMU_STATE_FILE " (mode 0600), for the stub NVML; TEST ROOT ONLY\n"
            "  --load-state DIR     use a saved software GPU (same roots, FWID and versions)\n"
            "\n"
            "Exit status: 0 written, 2 bad usage or a failure.\n");
}

static int parse_args(int argc, char **argv, emulate_gpu_args *a)
{
    static const struct option opts[] = {
        {"out-dir", required_argument, 0, 'o'}, {"json", no_argument, 0, 'j'}, {"nonce", required_argument, 0, 'N'},
        {"arch", required_argument, 0, 'a'},    {"driver", required_argument, 0, 'd'},
        {"vbios", required_argument, 0, 'v'},   {"tamper", required_argument, 0, 't'},
        {"save-state", no_argument, 0, 's'},    {"load-state", required_argument, 0, 'l'},
        CCG_CLI_STD_OPTIONS,          {0, 0, 0, 0},
    };
    const ccg_cli cli = {"ccgate emulate gpu", usage, opts, NULL};
    int c;
    ccg_cli_begin();
    while ((c = ccg_cli_next(&cli, argc, argv)) != CCG_CLI_END) {
        switch (c) {
        case 'o': a->out_dir = optarg; break;
        case 'j': a->json = 1; break;
        case 'N': a->nonce = optarg; break;
        case 'a': a->arch = optarg; break;
        case 'd': a->driver = optarg; break;
        case 'v': a->vbios = optarg; break;
        case 't': a->tamper = optarg; break;
        case 's': a->save_state = 1; break;
        case 'l': a->load_state = optarg; break;
        default: return c; /* help, version or a usage error, already printed */
        }
    }
    if (optind != argc) {
        return ccg_cli_usage_error(&cli, "unexpected argument '%s'", argv[optind]);
    }
    if (a->out_dir == NULL) {
        return ccg_cli_usage_error(&cli, "--out-dir is required");
    }
    return 0;
}

static ccg_result set_text(char *dst, size_t cap, const char *src, const char *opt)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(strlen(src) < cap, CCG_R_USAGE_INVALID, "%s is too long", opt);
    memcpy(dst, src, strlen(src) + 1);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result new_emulator(const emulate_gpu_args *a, ccg_gpu_emulator **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_gpu_emu_config cfg;
    if (a->load_state != NULL) {
        CCG_ENSURE_MSG(a->arch == NULL && a->driver == NULL && a->vbios == NULL, CCG_R_USAGE_INVALID,
                       "--arch, --driver and --vbios come from the saved state with --load-state");
        CCG_TRY(ccg_gpu_emulator_load(a->load_state, out));
        result = CCG_SUCCESS;
        goto cleanup;
    }
    ccg_gpu_arch arch = ccg_gpu_arch_from_name(a->arch != NULL ? a->arch : "hopper");
    CCG_ENSURE_MSG(arch != CCG_GPU_ARCH_UNKNOWN, CCG_R_USAGE_INVALID, "unknown --arch '%s'", a->arch);
    CCG_TRY(ccg_gpu_emulator_config_init(&cfg, arch));
    if (a->driver != NULL) {
        CCG_TRY(set_text(cfg.driver_version, sizeof(cfg.driver_version), a->driver, "--driver"));
    }
    if (a->vbios != NULL) {
        CCG_TRY(set_text(cfg.vbios_version, sizeof(cfg.vbios_version), a->vbios, "--vbios"));
    }
    CCG_TRY(ccg_gpu_emulator_new(&cfg, out));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result get_nonce(const emulate_gpu_args *a, uint8_t nonce[CCG_GPU_NONCE_SIZE])
{
    ccg_result result = CCG_FAILURE;
    if (a->nonce == NULL) {
        CCG_ENSURE_OSSL(RAND_bytes(nonce, CCG_GPU_NONCE_SIZE) == 1, CCG_R_INTERNAL_CRYPTO);
    } else {
        CCG_ENSURE_MSG(strlen(a->nonce) == 2 * CCG_GPU_NONCE_SIZE && ccg_hex_is_valid(a->nonce, CCG_GPU_NONCE_SIZE),
                       CCG_R_USAGE_INVALID, "--nonce must be 32 bytes of hex");
        CCG_TRY(ccg_hex_decode_exact(a->nonce, nonce, CCG_GPU_NONCE_SIZE));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result write_file(const char *dir, const char *name, const void *data, size_t len)
{
    ccg_result result = CCG_FAILURE;
    char path[4096];
    int n = snprintf(path, sizeof(path), "%s/%s", dir, name);
    CCG_ENSURE_MSG(n > 0 && (size_t)n < sizeof(path), CCG_R_USAGE_INVALID, "path too long: %s/%s", dir, name);
    CCG_TRY(cli_file_write(path, data, len));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result write_cert(const char *dir, const char *name, X509 *cert)
{
    ccg_result result = CCG_FAILURE;
    static const int one[1] = {0};
    char *pem = NULL;
    size_t len = 0;
    CCG_TRY(ccg_gpu_emu_certs_pem(&cert, one, 1, &pem, &len));
    CCG_TRY(write_file(dir, name, pem, len));
    result = CCG_SUCCESS;
cleanup:
    free(pem);
    return result;
}

static json_t *base64_json(const void *data, size_t len)
{
    char *b64 = malloc(4 * ((len + 2) / 3) + 1);
    json_t *s = NULL;
    if (b64 != NULL && len <= INT32_MAX) {
        int n = EVP_EncodeBlock((unsigned char *)b64, data, (int)len);
        s = n >= 0 ? json_stringn(b64, (size_t)n) : NULL;
    }
    free(b64);
    return s;
}

/* The JSON evidence form [{arch, certificate, evidence, nonce}] (docs/gpu-evidence.md). */
static ccg_result write_evidence_json(const char *dir, const ccg_gpu_emulator *emu, const uint8_t *nonce,
                                      const char *pem, size_t pem_len, const uint8_t *report, size_t report_len)
{
    ccg_result result = CCG_FAILURE;
    char hex[2 * CCG_GPU_NONCE_SIZE + 1];
    char *text = NULL;
    ccg_hex_encode(nonce, CCG_GPU_NONCE_SIZE, hex);
    json_t *j = json_pack("[{s:s, s:o*, s:o*, s:s}]", "arch", ccg_gpu_arch_name(ccg_gpu_emulator_config_of(emu)->arch),
                          "certificate", base64_json(pem, pem_len), "evidence", base64_json(report, report_len),
                          "nonce", hex);
    CCG_ENSURE_ALLOC(j);
    text = json_dumps(j, JSON_INDENT(2));
    CCG_ENSURE_ALLOC(text);
    CCG_TRY(write_file(dir, "evidence.json", text, strlen(text)));
    result = CCG_SUCCESS;
cleanup:
    free(text);
    json_decref(j);
    return result;
}

static ccg_result write_rims(const char *dir, const ccg_gpu_emulator *emu, ccg_gpu_emu_rims *rims)
{
    ccg_result result = CCG_FAILURE;
    char sub[4096], name[CCG_GPU_RIM_ID_MAX + 8];
    int n = snprintf(sub, sizeof(sub), "%s/rims", dir);
    CCG_ENSURE_MSG(n > 0 && (size_t)n < sizeof(sub), CCG_R_USAGE_INVALID, "path too long: %s/rims", dir);
    CCG_ENSURE_MSG(mkdir(sub, 0755) == 0 || errno == EEXIST, CCG_R_IO_WRITE_FAILED, "cannot create %s: %s", sub,
                   strerror(errno));
    CCG_TRY(ccg_gpu_emulator_rims(emu, rims));
    snprintf(name, sizeof(name), "%s.xml", rims->driver_id);
    CCG_TRY(write_file(sub, name, rims->driver_xml, rims->driver_len));
    snprintf(name, sizeof(name), "%s.xml", rims->vbios_id);
    CCG_TRY(write_file(sub, name, rims->vbios_xml, rims->vbios_len));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result write_outputs(const char *dir, const ccg_gpu_emulator *emu, const uint8_t *nonce,
                                const uint8_t *report, size_t report_len, ccg_gpu_emu_rims *rims)
{
    ccg_result result = CCG_FAILURE;
    char *pem = NULL, *hex = NULL;
    size_t pem_len = 0;
    char nonce_hex[2 * CCG_GPU_NONCE_SIZE + 2];
    CCG_ENSURE_MSG(mkdir(dir, 0755) == 0 || errno == EEXIST, CCG_R_IO_WRITE_FAILED, "cannot create %s: %s", dir,
                   strerror(errno));
    CCG_TRY(write_file(dir, "report.bin", report, report_len));
    hex = ccg_hex_alloc(report, report_len);
    CCG_ENSURE_ALLOC(hex);
    CCG_TRY(write_file(dir, "report.hex", hex, strlen(hex)));
    CCG_TRY(ccg_gpu_emulator_chain_pem(emu, &pem, &pem_len));
    CCG_TRY(write_file(dir, "certs.pem", pem, pem_len));
    CCG_TRY(write_cert(dir, "root.pem", ccg_gpu_emulator_root(emu)));
    CCG_TRY(write_cert(dir, "rim-root.pem", ccg_gpu_emulator_rim_root(emu)));
    ccg_hex_encode(nonce, CCG_GPU_NONCE_SIZE, nonce_hex);
    nonce_hex[2 * CCG_GPU_NONCE_SIZE] = '\n'; /* the encoder wrote 2*N digits and a NUL; the NUL becomes the newline */
    nonce_hex[2 * CCG_GPU_NONCE_SIZE + 1] = 0;
    CCG_TRY(write_file(dir, "nonce.hex", nonce_hex, strlen(nonce_hex)));
    CCG_TRY(write_evidence_json(dir, emu, nonce, pem, pem_len, report, report_len));
    CCG_TRY(write_rims(dir, emu, rims));
    result = CCG_SUCCESS;
cleanup:
    free(hex);
    free(pem);
    return result;
}

static ccg_result emulate(const emulate_gpu_args *a, ccg_gpu_emulator *emu, ccg_gpu_emu_rims *rims,
                          uint8_t nonce[CCG_GPU_NONCE_SIZE])
{
    ccg_result result = CCG_FAILURE;
    ccg_gpu_emu_tamper tamper = {.kind = CCG_GPU_EMU_TAMPER_NONE};
    uint8_t *report = NULL;
    size_t report_len = 0;
    if (a->tamper != NULL) {
        CCG_TRY(ccg_gpu_emu_tamper_parse(a->tamper, &tamper));
    }
    CCG_TRY(get_nonce(a, nonce));
    CCG_TRY(ccg_gpu_emulator_attest(emu, nonce, &tamper, &report, &report_len));
    CCG_TRY(write_outputs(a->out_dir, emu, nonce, report, report_len, rims));
    if (a->save_state) {
        CCG_TRY(ccg_gpu_emulator_save(emu, a->out_dir));
    }
    result = CCG_SUCCESS;
cleanup:
    free(report);
    return result;
}

static int run(const emulate_gpu_args *a)
{
    int rc = CLI_EXIT_USAGE;
    ccg_gpu_emulator *emu = NULL;
    ccg_gpu_emu_rims rims;
    uint8_t nonce[CCG_GPU_NONCE_SIZE];
    char nonce_hex[2 * CCG_GPU_NONCE_SIZE + 1];
    memset(&rims, 0, sizeof(rims));
    ccg_error_clear();
    if (ccg_failed(new_emulator(a, &emu)) || ccg_failed(emulate(a, emu, &rims, nonce))) {
        (void)cli_report_error("emulate gpu", a->json);
        goto cleanup;
    }
    const ccg_gpu_emu_config *c = ccg_gpu_emulator_config_of(emu);
    ccg_hex_encode(nonce, sizeof(nonce), nonce_hex);
    if (a->json) {
        json_t *doc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:[ss], s:b}", "out_dir", a->out_dir, "arch",
                                ccg_gpu_arch_name(c->arch), "nonce", nonce_hex, "driver_rim", rims.driver_id,
                                "vbios_rim", rims.vbios_id, "files", "report.bin", "certs.pem", "test_root", 1);
        rc = doc != NULL ? cli_write_json(doc, NULL, "emulate gpu") : CLI_EXIT_USAGE;
        json_decref(doc);
        goto cleanup;
    }
    printf("emulated %s GPU evidence (driver %s, VBIOS %s%s%s, TEST ROOT ONLY) written to %s\n",
           ccg_gpu_arch_name(c->arch), c->driver_version, c->vbios_version, a->tamper ? ", tampered: " : "",
           a->tamper ? a->tamper : "", a->out_dir);
    printf("nonce %s; RIMs %s, %s in %s/rims\n", nonce_hex, rims.driver_id, rims.vbios_id, a->out_dir);
    printf("verify with: ccgate verify gpu --report %s/report.bin --certs %s/certs.pem --trust-root %s/root.pem "
           "--nonce %s\n",
           a->out_dir, a->out_dir, a->out_dir, nonce_hex);
    rc = CLI_EXIT_OK;
cleanup:
    ccg_gpu_emu_rims_free(&rims);
    ccg_gpu_emulator_free(emu);
    return rc;
}

int cmd_emulate_gpu(int argc, char **argv)
{
    emulate_gpu_args a;
    memset(&a, 0, sizeof(a));
    int rc = cli_parse_result(parse_args(argc, argv, &a), NULL);
    return rc >= 0 ? rc : run(&a);
}
