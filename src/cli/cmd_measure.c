/* ccgate measure snp: the SEV-SNP launch digest of a guest from its launch inputs. Flag names follow
 * virtee/sev-snp-measure where they overlap, so operators can switch tools without relearning them. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ccgate/snp_measure.h"
#include "ccgate/util.h"
#include "cli.h"

typedef struct {
    const char *ovmf, *ovmf_hash, *kernel, *initrd, *append, *from_json;
    const char *vcpus, *vcpu_type, *vcpu_sig, *guest_features, *vmm_type;
    int json;
} measure_args;

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: ccgate measure snp --ovmf FILE [--snp-ovmf-hash HEX] --vcpus N\n"
            "                          (--vcpu-type TYPE | --vcpu-sig VALUE) [--guest-features HEX]\n"
            "                          [--vmm-type qemu|ec2|gce] [--kernel FILE [--initrd FILE] [--append CMDLINE]]\n"
            "                          [--json]\n"
            "       ccgate measure snp --from-json FILE [--json]\n"
            "\n"
            "Computes the SEV-SNP launch digest (the report's MEASUREMENT) of a guest from its launch inputs and\n"
            "prints it as lowercase hex on the last line of stdout. See docs/measurement.md.\n"
            "\n"
            "  --ovmf FILE           the OVMF firmware; its footer table and SEV metadata are read\n"
            "  --snp-ovmf-hash HEX   a precomputed 48-byte OVMF digest (the OVMF file still gives the metadata)\n"
            "  --kernel FILE         direct boot: kernel, initrd and cmdline are measured through the SEV hashes\n"
            "  --initrd FILE         table, which needs an OVMF with a kernel-hashes section (e.g. AmdSev builds)\n"
            "  --append CMDLINE\n"
            "  --vcpus N             number of vCPUs (1-%u)\n"
            "  --vcpu-type TYPE      EPYC, EPYC-v1..v4, EPYC-Rome, EPYC-Milan, EPYC-Genoa, EPYC-Turin, ...\n"
            "  --vcpu-sig VALUE      a raw CPUID Fn0000_0001_EAX signature (e.g. 0xa00f11)\n"
            "  --guest-features HEX  the VMSA's SEV_FEATURES (default 0x1; bit 0 is required)\n"
            "  --vmm-type TYPE       qemu (default), ec2 or gce\n"
            "  --from-json FILE      measure from a launch-inputs document (the form --json writes)\n"
            "  --json                print the launch-inputs document, with \"measurement\", instead of the hex\n"
            "  --mode snp            accepted for sev-snp-measure compatibility\n"
            "\n"
            "Exit status: 0 success, 2 bad usage or invalid input (with a measure.* reason code).\n",
            CCG_SNP_MAX_VCPUS);
}

static int parse_args(int argc, char **argv, measure_args *a)
{
    static const struct option opts[] = {
        {"ovmf", required_argument, 0, 'o'},        {"snp-ovmf-hash", required_argument, 0, 'H'},
        {"kernel", required_argument, 0, 'k'},      {"initrd", required_argument, 0, 'i'},
        {"append", required_argument, 0, 'a'},      {"vcpus", required_argument, 0, 'n'},
        {"vcpu-type", required_argument, 0, 't'},   {"vcpu-sig", required_argument, 0, 's'},
        {"guest-features", required_argument, 0, 'g'}, {"vmm-type", required_argument, 0, 'v'},
        {"from-json", required_argument, 0, 'f'},   {"json", no_argument, 0, 'j'},
        {"mode", required_argument, 0, 'm'},        CCG_CLI_STD_OPTIONS,
        {0, 0, 0, 0},
    };
    const ccg_cli cli = {"ccgate measure snp", usage, opts, NULL};
    int c;
    ccg_cli_begin();
    while ((c = ccg_cli_next(&cli, argc, argv)) != CCG_CLI_END) {
        switch (c) {
        case 'o': a->ovmf = optarg; break;
        case 'H': a->ovmf_hash = optarg; break;
        case 'k': a->kernel = optarg; break;
        case 'i': a->initrd = optarg; break;
        case 'a': a->append = optarg; break;
        case 'n': a->vcpus = optarg; break;
        case 't': a->vcpu_type = optarg; break;
        case 's': a->vcpu_sig = optarg; break;
        case 'g': a->guest_features = optarg; break;
        case 'v': a->vmm_type = optarg; break;
        case 'f': a->from_json = optarg; break;
        case 'j': a->json = 1; break;
        case 'm':
            if (strcmp(optarg, "snp") != 0) {
                return ccg_cli_usage_error(&cli, "only --mode snp is supported");
            }
            break;
        default: return c; /* help, version or a usage error, already printed */
        }
    }
    if (optind != argc) {
        return ccg_cli_usage_error(&cli, "unexpected argument '%s'", argv[optind]);
    }
    return 0;
}

/* Flags that only make sense together, checked before any file is read. */
static ccg_result check_combination(const measure_args *a)
{
    ccg_result result = CCG_FAILURE;
    int file_inputs = a->ovmf || a->ovmf_hash || a->kernel || a->initrd || a->append || a->vcpus || a->vcpu_type ||
                      a->vcpu_sig || a->guest_features || a->vmm_type;
    if (a->from_json != NULL) {
        CCG_ENSURE_MSG(!file_inputs, CCG_R_USAGE_INVALID, "--from-json takes every input from the document");
    } else {
        CCG_ENSURE_MSG(a->ovmf != NULL, CCG_R_USAGE_INVALID, "--ovmf FILE is required (or --from-json)");
        CCG_ENSURE_MSG(a->vcpus != NULL, CCG_R_USAGE_INVALID, "--vcpus N is required");
        CCG_ENSURE_MSG(a->kernel != NULL || (a->initrd == NULL && a->append == NULL), CCG_R_USAGE_INVALID,
                       "--initrd and --append need --kernel");
        CCG_ENSURE_MSG(a->vcpu_type == NULL || a->vcpu_sig == NULL, CCG_R_USAGE_INVALID,
                       "give --vcpu-type or --vcpu-sig, not both");
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Decimal, or hex with 0x, as sev-snp-measure's int(x, 0) for the values it takes. */
static ccg_result parse_number(const char *text, const char *flag, uint64_t max, uint64_t *out)
{
    ccg_result result = CCG_FAILURE;
    int hex = text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
    const char *digits = hex ? text + 2 : text;
    char *end = NULL;
    /* strtoull alone would accept leading spaces and signs. */
    int starts_ok = hex ? isxdigit((unsigned char)digits[0]) : isdigit((unsigned char)digits[0]);
    errno = 0;
    unsigned long long v = strtoull(digits, &end, hex ? 16 : 10);
    CCG_ENSURE_MSG(starts_ok && *end == '\0' && errno == 0 && v <= max, CCG_R_MEASURE_INPUT_INVALID,
                   "%s '%.32s' is not a number from 0 to %llu", flag, text, (unsigned long long)max);
    *out = v;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result add_kernel(const measure_args *a, ccg_snp_launch_inputs *in)
{
    ccg_result result = CCG_FAILURE;
    uint8_t kernel[32], initrd[32];
    CCG_TRY(ccg_snp_sha256_file(a->kernel, kernel));
    if (a->initrd != NULL) {
        CCG_TRY(ccg_snp_sha256_file(a->initrd, initrd));
    }
    CCG_TRY(ccg_snp_launch_inputs_set_kernel(in, kernel, a->initrd ? initrd : NULL, a->append));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The firmware image in a buffer of its exact size, prefaulted in one call: a multi-MiB image then costs
 * no per-page faults, a visible share of a measurement. */
typedef struct {
    uint8_t *data;
    size_t len, map_len;
} firmware;

static ccg_result firmware_read(const char *path, firmware *fw)
{
    ccg_result result = CCG_FAILURE;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    CCG_ENSURE_MSG(fd >= 0 && fstat(fd, &st) == 0, CCG_R_IO_READ_FAILED, "cannot open %s: %s", path, strerror(errno));
    CCG_ENSURE_MSG(S_ISREG(st.st_mode), CCG_R_IO_READ_FAILED, "%s is not a regular file", path);
    CCG_ENSURE_MSG(st.st_size <= (off_t)CCG_SNP_OVMF_MAX_BYTES, CCG_R_INPUT_TOO_LARGE, "%s is larger than %u bytes",
                   path, CCG_SNP_OVMF_MAX_BYTES);
    fw->map_len = st.st_size > 0 ? (size_t)st.st_size : 1;
    void *p = mmap(NULL, fw->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    CCG_ENSURE_ALLOC(p != MAP_FAILED ? p : NULL);
    fw->data = p;
    while (fw->len < (size_t)st.st_size) {
        ssize_t n = read(fd, fw->data + fw->len, (size_t)st.st_size - fw->len);
        CCG_ENSURE_MSG(n > 0 || (n < 0 && errno == EINTR), CCG_R_IO_READ_FAILED, "cannot read %s", path);
        fw->len += n > 0 ? (size_t)n : 0;
    }
    result = CCG_SUCCESS;
cleanup:
    if (fd >= 0) {
        close(fd);
    }
    return result;
}

static void firmware_free(firmware *fw)
{
    if (fw->data != NULL) {
        munmap(fw->data, fw->map_len);
    }
}

static ccg_result add_ovmf(const measure_args *a, ccg_snp_launch_inputs *in)
{
    ccg_result result = CCG_FAILURE;
    firmware fw = {0};
    uint8_t hash[CCG_SNP_LD_SIZE];
    if (a->ovmf_hash != NULL) {
        CCG_TRY(ccg_hex_decode_exact(a->ovmf_hash, hash, sizeof(hash)));
    }
    CCG_TRY(firmware_read(a->ovmf, &fw));
    CCG_TRY(ccg_snp_launch_inputs_set_ovmf(in, fw.data, fw.len, a->ovmf_hash ? hash : NULL));
    if (a->json) {
        CCG_TRY(ccg_snp_launch_inputs_set_ovmf_sha256(in, fw.data, fw.len));
    }
    result = CCG_SUCCESS;
cleanup:
    firmware_free(&fw);
    return result;
}

static ccg_result add_platform(const measure_args *a, ccg_snp_launch_inputs *in)
{
    ccg_result result = CCG_FAILURE;
    uint64_t n = 0;
    CCG_TRY(parse_number(a->vcpus, "--vcpus", CCG_SNP_MAX_VCPUS, &n));
    in->vcpus = (uint32_t)n;
    if (a->guest_features != NULL) {
        CCG_TRY(parse_number(a->guest_features, "--guest-features", UINT64_MAX, &in->guest_features));
    }
    if (a->vmm_type != NULL) {
        CCG_TRY(ccg_snp_vmm_type_from_name(a->vmm_type, &in->vmm_type));
    }
    if (a->vcpu_type != NULL) {
        CCG_TRY(ccg_snp_launch_inputs_set_vcpu_type(in, a->vcpu_type));
    } else if (a->vcpu_sig != NULL) {
        CCG_TRY(parse_number(a->vcpu_sig, "--vcpu-sig", UINT32_MAX, &n));
        in->vcpu_sig = (uint32_t)n;
        in->has_vcpu_sig = 1;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result load_json(const char *path, ccg_snp_launch_inputs *in, int *has_expected, uint8_t *expected)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *text = NULL;
    size_t len = 0;
    CCG_TRY(cli_file_read(path, CCG_SNP_JSON_MAX_BYTES, &text, &len));
    CCG_TRY(ccg_snp_launch_inputs_from_json((const char *)text, len, in, has_expected, expected));
    result = CCG_SUCCESS;
cleanup:
    free(text);
    return result;
}

static ccg_result print_result(const ccg_snp_launch_inputs *in, const uint8_t digest[CCG_SNP_LD_SIZE], int json)
{
    ccg_result result = CCG_FAILURE;
    json_t *doc = NULL;
    char *text = NULL;
    char hex[2 * CCG_SNP_LD_SIZE + 1];
    if (json) {
        CCG_TRY(ccg_snp_launch_inputs_to_json(in, digest, &doc));
        text = json_dumps(doc, JSON_INDENT(2));
        CCG_ENSURE_ALLOC(text);
        printf("%s\n", text);
    } else {
        ccg_hex_encode(digest, CCG_SNP_LD_SIZE, hex);
        printf("%s\n", hex);
    }
    result = CCG_SUCCESS;
cleanup:
    free(text);
    json_decref(doc);
    return result;
}

static ccg_result measure(const measure_args *a)
{
    ccg_result result = CCG_FAILURE;
    ccg_snp_launch_inputs in;
    uint8_t digest[CCG_SNP_LD_SIZE], expected[CCG_SNP_LD_SIZE];
    int has_expected = 0;
    ccg_snp_launch_inputs_init(&in);
    CCG_TRY(check_combination(a));
    if (a->from_json != NULL) {
        CCG_TRY(load_json(a->from_json, &in, &has_expected, expected));
    } else {
        CCG_TRY(add_platform(a, &in));
        CCG_TRY(add_ovmf(a, &in));
        if (a->kernel != NULL) {
            CCG_TRY(add_kernel(a, &in));
        }
    }
    CCG_TRY(ccg_snp_measure(&in, digest));
    /* A document whose recorded measurement disagrees with its own inputs has been altered. */
    CCG_ENSURE_MSG(!has_expected || memcmp(expected, digest, sizeof(digest)) == 0, CCG_R_MEASURE_INPUT_INVALID,
                   "the document's \"measurement\" does not match its launch inputs");
    CCG_TRY(print_result(&in, digest, a->json));
    result = CCG_SUCCESS;
cleanup:
    ccg_snp_launch_inputs_free(&in);
    return result;
}

int cmd_measure(int argc, char **argv)
{
    measure_args a;
    memset(&a, 0, sizeof(a));
    static const cli_sub subs[] = {
        {"snp", "an SEV-SNP launch measurement from OVMF, kernel and vCPU inputs"},
    };
    int rc = CLI_EXIT_USAGE;
    if (cli_group("ccgate measure", "Compute launch measurements.", subs, 1, argc, argv, &rc) != 0) {
        return rc;
    }
    rc = cli_parse_result(parse_args(argc - 1, argv + 1, &a), NULL);
    if (rc >= 0) {
        return rc;
    }
    ccg_error_clear();
    if (ccg_failed(measure(&a))) {
        return cli_report_error("measure snp", a.json);
    }
    return CLI_EXIT_OK;
}
