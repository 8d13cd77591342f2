/* SEV-SNP launch measurement: exact agreement with virtee/sev-snp-measure (its own fixtures and values it
 * computed for Debian's OVMF), the OVMF parser's refusals with their codes, the launch-inputs JSON round
 * trip, and that every launch input changes the digest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#include "ccgate/snp_measure.h"

#define FIXTURES "snp-measure/"
#define AMDSEV FIXTURES "ovmf_AmdSev_suffix.bin"
#define OVMFX64 FIXTURES "ovmf_OvmfX64_suffix.bin"
#define SVSM_OVMF FIXTURES "svsm_ovmf.fd"
#define AMDSEV_OVMF_HASH "086e2e9149ebf45abdc3445fba5b2da8270bdbb04094d7a2c37faaa4b24af3aa16aff8c374c2a55c467a50da6d466b74"
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* ---- helpers ---- */

static void digest_hex(const ccg_snp_launch_inputs *in, char hex[2 * CCG_SNP_LD_SIZE + 1])
{
    uint8_t d[CCG_SNP_LD_SIZE];
    ccg_error_clear();
    if (ccg_failed(ccg_snp_measure(in, d))) {
        fail_msg("measure failed: %s: %s", ccg_reason_code(ccg_error_reason()), ccg_error_last()->message);
    }
    ccg_hex_encode(d, sizeof(d), hex);
}

static void assert_digest(const ccg_snp_launch_inputs *in, const char *expected)
{
    char hex[2 * CCG_SNP_LD_SIZE + 1];
    digest_hex(in, hex);
    assert_string_equal(hex, expected);
}

static void refuse_measure(const ccg_snp_launch_inputs *in, ccg_reason expected)
{
    uint8_t d[CCG_SNP_LD_SIZE];
    ccg_error_clear();
    assert_true(ccg_failed(ccg_snp_measure(in, d)));
    tu_assert_error_reason(expected);
}

static void sha256_of(const void *data, size_t len, uint8_t out[32])
{
    char path[] = "/tmp/ccg-measure-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
    assert_true(ccg_ok(ccg_snp_sha256_file(path, out)));
    unlink(path);
}

/* Launch inputs from an OVMF image (optionally with a precomputed OVMF hash in hex). */
static void inputs_from(ccg_snp_launch_inputs *in, const uint8_t *img, size_t len, const char *ovmf_hash_hex)
{
    uint8_t hash[CCG_SNP_LD_SIZE];
    ccg_snp_launch_inputs_init(in);
    if (ovmf_hash_hex != NULL) {
        assert_true(ccg_ok(ccg_hex_decode_exact(ovmf_hash_hex, hash, sizeof(hash))));
    }
    ccg_error_clear();
    if (ccg_failed(ccg_snp_launch_inputs_set_ovmf(in, img, len, ovmf_hash_hex ? hash : NULL))) {
        fail_msg("set_ovmf failed: %s: %s", ccg_reason_code(ccg_error_reason()), ccg_error_last()->message);
    }
    assert_true(ccg_ok(ccg_snp_launch_inputs_set_ovmf_sha256(in, img, len)));
}

static void set_vcpu_type(ccg_snp_launch_inputs *in, const char *name)
{
    assert_true(ccg_ok(ccg_snp_launch_inputs_set_vcpu_type(in, name)));
}

/* A kernel as sev-snp-measure measures "/dev/null": the SHA-256 of nothing. */
static void set_empty_kernel(ccg_snp_launch_inputs *in, const char *cmdline)
{
    uint8_t empty[32];
    assert_true(ccg_ok(ccg_hex_decode_exact(EMPTY_SHA256, empty, sizeof(empty))));
    assert_true(ccg_ok(ccg_snp_launch_inputs_set_kernel(in, empty, NULL, cmdline)));
}

/* A file outside the vectors (Debian's OVMF): missing skips, or fails under CI=true. */
static void read_system_file(const char *path, uint8_t **out, size_t *len)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        tu_skip_or_fail("%s is missing (apt-get install ovmf)", path);
    }
    assert_true(ccg_ok(ccg_file_read(path, CCG_SNP_OVMF_MAX_BYTES, out, len)));
}

/* ---- sev-snp-measure's own fixtures (tests/test_guest.py, read as data) ---- */

typedef struct {
    const char *name;   /* the upstream test */
    const char *ovmf;   /* fixture file */
    int given_hash;     /* --snp-ovmf-hash with the known OVMF digest */
    int kernel;         /* kernel=/dev/null, initrd=/dev/null */
    const char *append; /* with kernel */
    uint32_t vcpus;
    const char *vcpu_type; /* NULL: none (GCE) */
    uint64_t features;
    ccg_snp_vmm_type vmm;
    const char *expected;
} fixture_case;

static const fixture_case fixture_cases[] = {
    {"test_snp_ovmf_hash_gen_default", AMDSEV, 1, 1, "", 1, "EPYC-v4", 0x21, CCG_SNP_VMM_QEMU,
     "329c8ce0972ae52343b64d34a434a86f245dfd74f5ed7aae15d22efc78fb9683632b9b50e4e1d7fa41179ef98a7ef198"},
    {"test_snp_ovmf_hash_gen_feature_snp_only", AMDSEV, 1, 1, "", 1, "EPYC-v4", 0x1, CCG_SNP_VMM_QEMU,
     "ddc5224521617a536ee7ce9dd6224d1b58a8d4fda1c741f3ac99fc4bfa04ba6e9fc98646d4a07a9079397fa3852819b5"},
    {"test_snp_ovmf_hash_full_default", AMDSEV, 1, 1, "console=ttyS0 loglevel=7", 1, "EPYC-v4", 0x21,
     CCG_SNP_VMM_QEMU,
     "803f691094946e42068aaa3a8f9e26a5c89f36f7b73ecfb28c653360fe4b3aba7e534442e7e1e17895dfe778d0228977"},
    {"test_snp_ovmf_hash_full_feature_snp_only", AMDSEV, 1, 1, "console=ttyS0 loglevel=7", 1, "EPYC-v4", 0x1,
     CCG_SNP_VMM_QEMU,
     "6d287813eb5222d770f75005c664e34c204f385ce832cc2ce7d0d6f354454362f390ef83a92046c042e706363b4b08fa"},
    {"test_snp_ec2_default", AMDSEV, 0, 1, "", 1, "EPYC-v4", 0x21, CCG_SNP_VMM_EC2,
     "0ce9ccc06bab55eebe8abc234f3df6514883977a68a591b71052498ab52b2f1aa415db338033946ef93aa8278c0d67fb"},
    {"test_snp_ec2_feature_snp_only", AMDSEV, 0, 1, "", 1, "EPYC-v4", 0x1, CCG_SNP_VMM_EC2,
     "0883bd0eeb716e65b7b977a321c278d1e51b33b5c655fab985443bbcc65c086b9c15e8a0bd8811050dec7e24964e5056"},
    {"test_snp_gce_default", AMDSEV, 0, 1, "", 1, NULL, 0x1, CCG_SNP_VMM_GCE,
     "5da7106cf14cf46b1725ebab123eb9e53bd46a1e9f400cd0c08e7827b04b688ea8b4e403c8404efed4397ea5d5d0722e"},
    {"test_snp_gce_with_multiple_vcpus_default", AMDSEV, 0, 1, "", 4, NULL, 0x1, CCG_SNP_VMM_GCE,
     "5c5debf100fc339f90276e761ee1f1658d08922c3b20e2a2e6c7a6c3370b2452a15a00eae11886a93d6fd1e7ab81e29d"},
    {"test_snp_default", AMDSEV, 0, 1, "console=ttyS0 loglevel=7", 1, "EPYC-v4", 0x21, CCG_SNP_VMM_QEMU,
     "803f691094946e42068aaa3a8f9e26a5c89f36f7b73ecfb28c653360fe4b3aba7e534442e7e1e17895dfe778d0228977"},
    {"test_snp_guest_feature_snp_only", AMDSEV, 0, 1, "console=ttyS0 loglevel=7", 1, "EPYC-v4", 0x1,
     CCG_SNP_VMM_QEMU,
     "6d287813eb5222d770f75005c664e34c204f385ce832cc2ce7d0d6f354454362f390ef83a92046c042e706363b4b08fa"},
    {"test_snp_without_kernel_default", AMDSEV, 0, 0, NULL, 1, "EPYC-v4", 0x21, CCG_SNP_VMM_QEMU,
     "e1e1ca029dd7973ab9513295be68198472dcd4fc834bd9af9b63f6e8a1674dbf281a9278a4a2ebe0eed9f22adbcd0e2b"},
    {"test_snp_without_kernel_feature_snp_only", AMDSEV, 0, 0, NULL, 1, "EPYC-v4", 0x1, CCG_SNP_VMM_QEMU,
     "19358ba9a7615534a9a1e2f0dfc29384dcd4dcb7062ff9c6013b26869a5fc6ecabe033c48dd6f6db5d6d76e7c5df632d"},
    {"test_snp_with_multiple_vcpus_default", AMDSEV, 0, 1, "", 4, "EPYC-v4", 0x21, CCG_SNP_VMM_QEMU,
     "4953b1fb416fa874980e8442b3706d345926d5f38879134e00813c5d7abcbe78eafe7b422907be0b4698e2414a631942"},
    {"test_snp_with_multiple_vcpus_feature_snp_only", AMDSEV, 0, 1, "", 4, "EPYC-v4", 0x1, CCG_SNP_VMM_QEMU,
     "5061fffb019493a903613d56d54b94912a1a2f9e4502385f5c194616753720a92441310ba6c4933de877c36e23046ad5"},
    {"test_snp_with_ovmfx64_without_default", OVMFX64, 0, 0, NULL, 1, "EPYC-v4", 0x21, CCG_SNP_VMM_QEMU,
     "28797ae0afaba4005a81e629acebfb59e6687949d6be44007cd5506823b0dd66f146aaae26ff291eed7b493d8a64c385"},
    {"test_snp_with_ovmfx64_without_kernel_feature_snp_only", OVMFX64, 0, 0, NULL, 1, "EPYC-v4", 0x1,
     CCG_SNP_VMM_QEMU,
     "da0296de8193586a5512078dcd719eccecbd87e2b825ad4148c44f665dc87df21e5b49e21523a9ad993afdb6a30b4005"},
};

/* Drops quotes and whitespace in place, so split hex literals of the upstream tests read as one. */
static void flatten(char *text, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] != '\'' && text[i] != ' ' && text[i] != '\n') {
            text[n++] = text[i];
        }
    }
    text[n] = 0;
}

/* 1 when hex appears after the first mention of name in text. */
static int appears_after(const char *text, const char *name, const char *hex)
{
    const char *at = strstr(text, name);
    return at != NULL && strstr(at, hex) != NULL;
}

static void fixture_constants_come_from_upstream(void **state)
{
    (void)state;
    uint8_t *raw = NULL;
    size_t len = 0;
    tu_read_vector(FIXTURES "upstream_test_guest.py.txt", &raw, &len);
    char *flat = (char *)raw;
    flatten(flat, len);
    size_t n = sizeof(fixture_cases) / sizeof(fixture_cases[0]), bad = n;
    int hash_found = strstr(flat, AMDSEV_OVMF_HASH) != NULL;
    for (size_t i = 0; bad == n && i < n; i++) {
        if (!appears_after(flat, fixture_cases[i].name, fixture_cases[i].expected)) {
            bad = i;
        }
    }
    free(flat);
    assert_true(hash_found);
    if (bad < n) {
        fail_msg("%s: expected digest not found in the upstream tests", fixture_cases[bad].name);
    }
}

static void run_fixture(const fixture_case *c)
{
    uint8_t *img = NULL;
    size_t len = 0;
    ccg_snp_launch_inputs in;
    tu_read_vector(c->ovmf, &img, &len);
    inputs_from(&in, img, len, c->given_hash ? AMDSEV_OVMF_HASH : NULL);
    in.vcpus = c->vcpus;
    in.guest_features = c->features;
    in.vmm_type = c->vmm;
    if (c->vcpu_type != NULL) {
        set_vcpu_type(&in, c->vcpu_type);
    }
    if (c->kernel) {
        set_empty_kernel(&in, c->append);
    }
    print_message("  %s\n", c->name);
    assert_digest(&in, c->expected);
    ccg_snp_launch_inputs_free(&in);
    free(img);
}

static void upstream_fixtures_match(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(fixture_cases) / sizeof(fixture_cases[0]); i++) {
        run_fixture(&fixture_cases[i]);
    }
}

static void ovmf_hash_matches_upstream(void **state)
{
    (void)state;
    uint8_t *img = NULL, d[CCG_SNP_LD_SIZE];
    size_t len = 0;
    char hex[2 * CCG_SNP_LD_SIZE + 1];
    tu_read_vector(AMDSEV, &img, &len);
    assert_true(ccg_ok(ccg_snp_ovmf_hash(img, len, d)));
    ccg_hex_encode(d, sizeof(d), hex);
    assert_string_equal(hex, AMDSEV_OVMF_HASH);
    free(img);
}

/* test_snp_with_ovmfx64_and_kernel_should_fail: the plain OvmfX64 build has no kernel-hashes section. */
static void ovmfx64_refuses_kernel(void **state)
{
    (void)state;
    uint8_t *img = NULL;
    size_t len = 0;
    ccg_snp_launch_inputs in;
    tu_read_vector(OVMFX64, &img, &len);
    inputs_from(&in, img, len, NULL);
    set_vcpu_type(&in, "EPYC-v4");
    in.guest_features = 0x21;
    set_empty_kernel(&in, "");
    refuse_measure(&in, CCG_R_MEASURE_OVMF_NO_HASHES_SECTION);
    ccg_snp_launch_inputs_free(&in);
    free(img);
}

static void parsed_fixture_layout(void **state)
{
    (void)state;
    uint8_t *img = NULL;
    size_t len = 0;
    ccg_snp_ovmf_info info;
    tu_read_vector(AMDSEV, &img, &len);
    assert_true(ccg_ok(ccg_snp_ovmf_parse(img, len, &info)));
    assert_true(info.has_metadata);
    assert_int_equal(info.section_count, 7);
    assert_int_equal(info.sections[5].section_type, CCG_SNP_SECTION_KERNEL_HASHES);
    assert_int_equal(info.sections[5].gpa, 0x810000);
    assert_int_equal(info.sev_hashes_table_gpa, 0x810c00);
    assert_int_equal(info.sev_es_reset_eip, 0x80b004);
    free(img);
}

/* ---- values computed independently with virtee/sev-snp-measure ----
 * Tool: virtee/sev-snp-measure at commit 8f2b337e38bc83f87cd30f3253cdfe8e3e12cc3a (v0.0.13), run from a
 * clone in /tmp (outside this repository) with Debian 12's python3:
 *   PYTHONPATH=/tmp/sev-snp-measure python3 -m sevsnpmeasure.cli --mode snp --ovmf FILE --vcpus N \
 *     --vcpu-type T [--guest-features F] [--vmm-type ec2|gce] [--kernel K --initrd I --append A]
 *   and --mode snp:ovmf-hash --ovmf FILE for the OVMF digest. */

/* Debian 12 package ovmf 2022.11-6+deb12u2: /usr/share/ovmf/OVMF.fd has SNP metadata, no hashes section. */
#define DEBIAN_OVMF "/usr/share/ovmf/OVMF.fd"
#define DEBIAN_OVMF_SHA256 "7b456907dd0786d415999e801a1ac4637b8ed4d7cf5378cfc6edbe5e574dd773"
#define DEBIAN_OVMF_HASH "ba2c811512ef868474f239a21f7d7057d65a20de87a003c4f116e4fb1573183bfbcd75c3e99b2f558575a5d0094f73c6"
/* The 4 MiB code-only build of the same package carries no SEV metadata. */
#define DEBIAN_OVMF_CODE_4M "/usr/share/OVMF/OVMF_CODE_4M.fd"

typedef struct {
    uint32_t vcpus;
    const char *vcpu_type;
    uint64_t features;
    ccg_snp_vmm_type vmm;
    const char *expected;
} platform_case;

static const platform_case debian_cases[] = {
    /* --vcpus 1 --vcpu-type EPYC-v4 */
    {1, "EPYC-v4", 0x1, CCG_SNP_VMM_QEMU,
     "11570979c77a0adb515761a702527c8b9e11554e730552621d950988613a3a75c6ff1703f540bd22a9beede8fe7a97e3"},
    /* --vcpus 64 --vcpu-type EPYC-v4 */
    {64, "EPYC-v4", 0x1, CCG_SNP_VMM_QEMU,
     "5639a30a8a52d07ccc971c4debceb92f0976f693a06af17035af8802023588cd7f2e80e96229a6c88a4c89d1f4967351"},
    /* --vcpus 4 --vcpu-type EPYC-Milan --guest-features 0x21 */
    {4, "EPYC-Milan", 0x21, CCG_SNP_VMM_QEMU,
     "968824524f03c9ab191fbb02ac50d286a4aa1b5922ed74a422a806ce376a9e589d16c8dd8202c256834c0d4013e2584b"},
    /* --vcpus 2 --vcpu-type EPYC-Genoa --vmm-type ec2 */
    {2, "EPYC-Genoa", 0x1, CCG_SNP_VMM_EC2,
     "7f6fef705ba886215518820a96b21feaa2f874814889d8b5a776b1abf0058c913ca457043ab5a3092f35847c3078c93c"},
    /* --vcpus 8 --vmm-type gce */
    {8, NULL, 0x1, CCG_SNP_VMM_GCE,
     "41584eace8351248547493d8a259943517d1ce60bb0e3a2a55d3f55a05f3150ced083176fe796e2fd6557730930f00fd"},
};

static void run_platform_cases(const uint8_t *img, size_t len, const platform_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ccg_snp_launch_inputs in;
        inputs_from(&in, img, len, NULL);
        in.vcpus = cases[i].vcpus;
        in.guest_features = cases[i].features;
        in.vmm_type = cases[i].vmm;
        if (cases[i].vcpu_type != NULL) {
            set_vcpu_type(&in, cases[i].vcpu_type);
        }
        assert_digest(&in, cases[i].expected);
        ccg_snp_launch_inputs_free(&in);
    }
}

/* The recorded values hold for one exact file; another Debian build is reported, not failed. */
static int is_expected_file(const ccg_snp_launch_inputs *in, const char *path, const char *sha256)
{
    char hex[65];
    ccg_hex_encode(in->ovmf_sha256, 32, hex);
    if (strcmp(hex, sha256) != 0) {
        print_message("NOTE: %s has SHA-256 %s, not %s; recompute the sev-snp-measure values for it\n", path, hex,
                      sha256);
        return 0;
    }
    return 1;
}

static void debian_ovmf_matches_sev_snp_measure(void **state)
{
    (void)state;
    uint8_t *img = NULL;
    size_t len = 0;
    ccg_snp_launch_inputs in;
    char hex[2 * CCG_SNP_LD_SIZE + 1];
    read_system_file(DEBIAN_OVMF, &img, &len);
    inputs_from(&in, img, len, NULL);
    /* Whatever the build: SNP metadata, and no kernel-hashes section, so a kernel is refused. */
    set_vcpu_type(&in, "EPYC-v4");
    set_empty_kernel(&in, "console=ttyS0");
    refuse_measure(&in, CCG_R_MEASURE_OVMF_NO_HASHES_SECTION);
    if (is_expected_file(&in, DEBIAN_OVMF, DEBIAN_OVMF_SHA256)) {
        ccg_hex_encode(in.ovmf_hash, CCG_SNP_LD_SIZE, hex);
        assert_string_equal(hex, DEBIAN_OVMF_HASH);
        run_platform_cases(img, len, debian_cases, sizeof(debian_cases) / sizeof(debian_cases[0]));
    }
    ccg_snp_launch_inputs_free(&in);
    free(img);
}

static void debian_code_only_ovmf_is_refused(void **state)
{
    (void)state;
    uint8_t *img = NULL;
    size_t len = 0;
    ccg_snp_launch_inputs in;
    read_system_file(DEBIAN_OVMF_CODE_4M, &img, &len);
    ccg_snp_launch_inputs_init(&in);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_snp_launch_inputs_set_ovmf(&in, img, len, NULL)));
    tu_assert_error_reason(CCG_R_MEASURE_OVMF_NO_SEV_METADATA);
    free(img);
}

/* svsm_ovmf.fd is a full 3.5 MiB OVMF with SNP metadata (and an SVSM CAA section), measured as plain SNP. */
static const platform_case svsm_ovmf_cases[] = {
    {1, "EPYC-v4", 0x1, CCG_SNP_VMM_QEMU,
     "9279821b1f5c1c980cd0eeeb19e7f6af4d4851a4f34e5190536922d1a6c02bf53d951032ccda4e9ea807beabd801bfdd"},
    {64, "EPYC-v4", 0x1, CCG_SNP_VMM_QEMU,
     "1e0b69eceb94c57ba4a1505e1fa477bff37a62a8459c147bdb087f0530ebb2087264bccfc225e54852145d997f397ad6"},
};

static void full_svsm_ovmf_matches_sev_snp_measure(void **state)
{
    (void)state;
    uint8_t *img = NULL;
    size_t len = 0;
    tu_read_vector(SVSM_OVMF, &img, &len);
    run_platform_cases(img, len, svsm_ovmf_cases, sizeof(svsm_ovmf_cases) / sizeof(svsm_ovmf_cases[0]));
    free(img);
}

/* A real kernel, initrd and cmdline through the SEV hashes table. The files were made with
 *   python3 -c "open('kernel.bin','wb').write(b'ccgate-test-kernel\n'*1000)"   (and 'initrd' * 500). */
static void fill_repeated(uint8_t *buf, const char *line, size_t count)
{
    size_t n = strlen(line);
    for (size_t i = 0; i < count; i++) {
        memcpy(buf + i * n, line, n);
    }
}

typedef struct {
    uint8_t kernel[19 * 1000];
    uint8_t initrd[19 * 500];
} test_files;

static test_files files;

static void make_files(test_files *f)
{
    fill_repeated(f->kernel, "ccgate-test-kernel\n", 1000);
    fill_repeated(f->initrd, "ccgate-test-initrd\n", 500);
}

static void set_files(ccg_snp_launch_inputs *in, const test_files *f, int with_initrd, const char *cmdline)
{
    uint8_t k[32], i[32];
    sha256_of(f->kernel, sizeof(f->kernel), k);
    sha256_of(f->initrd, sizeof(f->initrd), i);
    assert_true(ccg_ok(ccg_snp_launch_inputs_set_kernel(in, k, with_initrd ? i : NULL, cmdline)));
}

static void direct_boot_matches_sev_snp_measure(void **state)
{
    (void)state;
    uint8_t *img = NULL;
    size_t len = 0;
    ccg_snp_launch_inputs in;
    test_files *f = &files;
    make_files(f);
    tu_read_vector(AMDSEV, &img, &len);
    /* --vcpus 1 --vcpu-type EPYC-v4 --kernel kernel.bin --initrd initrd.bin --append "console=ttyS0 root=/dev/vda" */
    inputs_from(&in, img, len, NULL);
    set_vcpu_type(&in, "EPYC-v4");
    set_files(&in, f, 1, "console=ttyS0 root=/dev/vda");
    assert_digest(&in, "2f719316f9adf5a965261593c688cf46dd80278714d71d0bb5cb5fb7f99272efa791161aa1b47cf4115e1127d4835f86");
    /* --vcpus 2 --vcpu-type EPYC-Milan, same files */
    in.vcpus = 2;
    set_vcpu_type(&in, "EPYC-Milan");
    assert_digest(&in, "0ad10eae40a8d93f18afe33fb7e1fc36472b82c41f4990cf12f59cad9f88600f82784574025cf05005a266c2ad0fc550");
    ccg_snp_launch_inputs_free(&in);
    /* --vcpus 2 --vcpu-sig 0xa10f11 --kernel kernel.bin --append quiet */
    inputs_from(&in, img, len, NULL);
    in.vcpus = 2;
    in.vcpu_sig = 0xa10f11;
    in.has_vcpu_sig = 1;
    set_files(&in, f, 0, "quiet");
    assert_digest(&in, "2f1445a2a1ad20b6711661f887685237321b1df17d0fc8712ee06c8ce0798f06c91ebf3fcbd66dee5ec7e20aca31bb0f");
    ccg_snp_launch_inputs_free(&in);
    free(img);
}

/* ---- every launch input changes the digest ---- */

typedef struct {
    const char *what;
    char hex[2 * CCG_SNP_LD_SIZE + 1];
} variant;

static void base_inputs(ccg_snp_launch_inputs *in, const uint8_t *img, size_t len, const test_files *f)
{
    inputs_from(in, img, len, NULL);
    in->vcpus = 4;
    set_vcpu_type(in, "EPYC-Milan");
    set_files(in, f, 1, "console=ttyS0");
}

static void each_input_changes_the_digest(void **state)
{
    (void)state;
    uint8_t *img = NULL;
    size_t len = 0;
    ccg_snp_launch_inputs in;
    variant v[10];
    size_t n = 0;
    test_files *f = &files;
    make_files(f);
    tu_read_vector(AMDSEV, &img, &len);

    base_inputs(&in, img, len, f);
    v[n].what = "base"; digest_hex(&in, v[n++].hex);
    in.vcpus = 5; v[n].what = "vcpu count"; digest_hex(&in, v[n++].hex); in.vcpus = 4;
    set_vcpu_type(&in, "EPYC-Genoa"); v[n].what = "vcpu type"; digest_hex(&in, v[n++].hex);
    set_vcpu_type(&in, "EPYC-Milan");
    in.guest_features = 0x21; v[n].what = "guest features"; digest_hex(&in, v[n++].hex); in.guest_features = 1;
    in.vmm_type = CCG_SNP_VMM_EC2; v[n].what = "vmm type"; digest_hex(&in, v[n++].hex);
    ccg_snp_launch_inputs_free(&in);

    img[0] ^= 1; /* one OVMF byte */
    base_inputs(&in, img, len, f);
    v[n].what = "OVMF byte"; digest_hex(&in, v[n++].hex);
    ccg_snp_launch_inputs_free(&in);
    img[0] ^= 1;

    f->kernel[100] ^= 1;
    base_inputs(&in, img, len, f);
    v[n].what = "kernel byte"; digest_hex(&in, v[n++].hex);
    ccg_snp_launch_inputs_free(&in);
    f->kernel[100] ^= 1;

    f->initrd[7] ^= 0x80;
    base_inputs(&in, img, len, f);
    v[n].what = "initrd byte"; digest_hex(&in, v[n++].hex);
    f->initrd[7] ^= 0x80;
    set_files(&in, f, 1, "console=ttyS1");
    v[n].what = "cmdline char"; digest_hex(&in, v[n++].hex);
    ccg_snp_launch_inputs_free(&in);

    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < i; j++) {
            if (strcmp(v[i].hex, v[j].hex) == 0) {
                fail_msg("changing the %s gave the same digest as %s", v[i].what, v[j].what);
            }
        }
    }
    free(img);
}

/* ---- JSON round trip ---- */

static void json_round_trip_keeps_the_digest(void **state)
{
    (void)state;
    uint8_t *img = NULL, d1[CCG_SNP_LD_SIZE], d2[CCG_SNP_LD_SIZE], recorded[CCG_SNP_LD_SIZE];
    size_t len = 0;
    ccg_snp_launch_inputs in, back;
    json_t *doc = NULL;
    int has = 0;
    test_files *f = &files;
    make_files(f);
    tu_read_vector(AMDSEV, &img, &len);
    base_inputs(&in, img, len, f);
    in.vcpus = 2;
    in.guest_features = 0x21;
    assert_true(ccg_ok(ccg_snp_measure(&in, d1)));
    assert_true(ccg_ok(ccg_snp_launch_inputs_to_json(&in, d1, &doc)));
    char *text = json_dumps(doc, JSON_INDENT(2));
    assert_non_null(text);
    assert_true(ccg_ok(ccg_snp_launch_inputs_from_json(text, strlen(text), &back, &has, recorded)));
    assert_true(has);
    assert_memory_equal(recorded, d1, sizeof(d1));
    assert_true(ccg_ok(ccg_snp_measure(&back, d2)));
    assert_memory_equal(d1, d2, sizeof(d1));
    assert_string_equal(back.cmdline, "console=ttyS0");
    assert_string_equal(back.vcpu_type, "EPYC-Milan");
    assert_true(back.has_ovmf_sha256);
    free(text);
    json_decref(doc);
    ccg_snp_launch_inputs_free(&back);
    ccg_snp_launch_inputs_free(&in);
    free(img);
}

/* A minimal hand-written document: integers for addresses, a raw vCPU signature, no kernel. */
static const char doc_head[] =
    "{\"ovmf_hash\":\"" AMDSEV_OVMF_HASH "\","
    "\"ovmf_sections\":[{\"gpa\":8388608,\"size\":36864,\"section_type\":1},"
    "{\"gpa\":\"0x80a000\",\"size\":\"0x3000\",\"section_type\":1},{\"gpa\":\"0x80d000\",\"size\":\"0x1000\",\"section_type\":2},"
    "{\"gpa\":\"0x80e000\",\"size\":\"0x1000\",\"section_type\":3},{\"gpa\":\"0x80f000\",\"size\":\"0x1000\",\"section_type\":4},"
    "{\"gpa\":\"0x810000\",\"size\":\"0x1000\",\"section_type\":16},{\"gpa\":\"0x811000\",\"size\":\"0xf000\",\"section_type\":1}],"
    "\"sev_hashes_table_gpa\":\"0x810c00\",\"sev_es_reset_eip\":\"0x80b004\",\"vcpu_sig\":\"0x800f12\"";

/* The document with the given vcpus, guest_features and vmm_type values, then tail (which closes it). */
static void make_doc(char *out, size_t n, const char *vcpus, const char *features, const char *vmm, const char *tail)
{
    snprintf(out, n, "%s,\"vcpus\":%s,\"guest_features\":%s,\"vmm_type\":%s%s", doc_head, vcpus, features, vmm,
             tail);
}

static void hand_written_json_measures(void **state)
{
    (void)state;
    char doc[4096];
    ccg_snp_launch_inputs in;
    int has = 1;
    make_doc(doc, sizeof(doc), "1", "\"0x21\"", "\"QEMU\"", "}");
    assert_true(ccg_ok(ccg_snp_launch_inputs_from_json(doc, strlen(doc), &in, &has, NULL)));
    assert_false(has);
    /* = test_snp_without_kernel_default */
    assert_digest(&in, "e1e1ca029dd7973ab9513295be68198472dcd4fc834bd9af9b63f6e8a1674dbf281a9278a4a2ebe0eed9f22adbcd0e2b");
    ccg_snp_launch_inputs_free(&in);
}

/* Parsing, or else measuring, the document must fail with `expected`. */
static void refuse_doc(const char *doc, ccg_reason expected)
{
    ccg_snp_launch_inputs in;
    uint8_t d[CCG_SNP_LD_SIZE];
    ccg_error_clear();
    if (ccg_ok(ccg_snp_launch_inputs_from_json(doc, strlen(doc), &in, NULL, NULL))) {
        ccg_result r = ccg_snp_measure(&in, d);
        ccg_snp_launch_inputs_free(&in);
        if (ccg_ok(r)) {
            fail_msg("accepted: %s", doc);
        }
    }
    tu_assert_error_reason(expected);
}

static void refuse_json(const char *tail, ccg_reason expected)
{
    char doc[8192];
    make_doc(doc, sizeof(doc), "1", "\"0x21\"", "\"QEMU\"", tail);
    refuse_doc(doc, expected);
}

static void bad_json_is_refused(void **state)
{
    (void)state;
    refuse_json(",\"foo\":1}", CCG_R_MEASURE_INPUT_INVALID);                  /* unknown key */
    refuse_json(",\"vcpus\":2}", CCG_R_MEASURE_INPUT_INVALID);                /* duplicate key */
    refuse_json("} trailing", CCG_R_MEASURE_INPUT_INVALID);                   /* trailing bytes */
    refuse_json(",\"cmdline\":\"x\"}", CCG_R_MEASURE_INPUT_INVALID);          /* cmdline without kernel */
    refuse_json(",\"kernel_hash\":\"00\"}", CCG_R_MEASURE_INPUT_INVALID);     /* short hash */
    refuse_json(",\"kernel_hash\":\"" EMPTY_SHA256 "\",\"cmdline\":\"a\\u0000b\"}", CCG_R_MEASURE_INPUT_INVALID);
    refuse_json(",\"vcpu_type\":\"EPYC-Rome\"}", CCG_R_MEASURE_INPUT_INVALID); /* disagrees with vcpu_sig */
    refuse_json(",\"vcpu_type\":\"Pentium\"}", CCG_R_MEASURE_VCPU_TYPE_UNKNOWN);
    refuse_json(",\"measurement\":\"zz\"}", CCG_R_MEASURE_INPUT_INVALID);
    refuse_json(",\"ovmf_sha256\":1}", CCG_R_MEASURE_INPUT_INVALID);
    refuse_json(",\"sev_es_reset_eip\":\"0x1\"}", CCG_R_MEASURE_INPUT_INVALID); /* duplicate */

    const char *bad_docs[] = {
        "[]", "{}", "{\"ovmf_hash\":1}", "not json",
    };
    for (size_t i = 0; i < sizeof(bad_docs) / sizeof(bad_docs[0]); i++) {
        refuse_doc(bad_docs[i], CCG_R_MEASURE_INPUT_INVALID);
    }
}

static void bad_json_values_are_refused(void **state)
{
    (void)state;
    struct { const char *vcpus, *features, *vmm; ccg_reason expected; } cases[] = {
        {"1", "\"0x21\"", "\"xen\"", CCG_R_MEASURE_VMM_TYPE_UNSUPPORTED},
        {"1", "\"0x21\"", "3", CCG_R_MEASURE_VMM_TYPE_UNSUPPORTED},
        {"0", "\"0x21\"", "\"qemu\"", CCG_R_MEASURE_INPUT_INVALID},
        {"4097", "\"0x21\"", "\"qemu\"", CCG_R_MEASURE_INPUT_INVALID},
        {"-1", "\"0x21\"", "\"qemu\"", CCG_R_MEASURE_INPUT_INVALID},
        {"1.5", "\"0x21\"", "\"qemu\"", CCG_R_MEASURE_INPUT_INVALID},
        {"\"2\"", "\"0x21\"", "\"qemu\"", CCG_R_MEASURE_INPUT_INVALID},
        {"1", "\"0x20\"", "\"qemu\"", CCG_R_MEASURE_INPUT_INVALID}, /* no SNPActive */
        {"1", "\"21\"", "\"qemu\"", CCG_R_MEASURE_INPUT_INVALID},   /* hex needs 0x */
        {"1", "\"0x1ffffffffffffffff\"", "\"qemu\"", CCG_R_MEASURE_INPUT_INVALID},
        {"1", "true", "\"qemu\"", CCG_R_MEASURE_INPUT_INVALID},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char doc[8192];
        make_doc(doc, sizeof(doc), cases[i].vcpus, cases[i].features, cases[i].vmm, "}");
        refuse_doc(doc, cases[i].expected);
    }
}

/* ---- OVMF parser refusals ---- */

static size_t find_guid(const uint8_t *img, size_t len, const uint8_t guid[16])
{
    for (size_t i = len - 16; i > 0; i--) {
        if (memcmp(img + i, guid, 16) == 0) {
            return i;
        }
    }
    fail_msg("GUID not found in the fixture");
    return 0;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void refuse_ovmf(const uint8_t *img, size_t len, ccg_reason expected)
{
    ccg_snp_ovmf_info info;
    ccg_snp_launch_inputs in;
    ccg_error_clear();
    assert_true(ccg_failed(ccg_snp_ovmf_parse(img, len, &info)));
    tu_assert_error_reason(expected);
    assert_int_equal(info.section_count, 0);
    ccg_snp_launch_inputs_init(&in);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_snp_launch_inputs_set_ovmf(&in, img, len, NULL)));
    tu_assert_error_reason(expected);
}

static const uint8_t metadata_guid[16] = {0x66, 0x65, 0x88, 0xdc, 0x4a, 0x98, 0x98, 0x47,
                                          0xa7, 0x5e, 0x55, 0x85, 0xa7, 0xbf, 0x67, 0xcc};
static const uint8_t footer_guid[16] = {0xde, 0x82, 0xb5, 0x96, 0xb2, 0x1f, 0xf7, 0x45,
                                        0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a, 0x08, 0x2d};

/* The metadata header's offset in the image (the entry holds its distance from the end). */
static size_t metadata_header(const uint8_t *img, size_t len)
{
    size_t entry = find_guid(img, len, metadata_guid) - 2 - 4;
    uint32_t from_end = img[entry] | img[entry + 1] << 8 | img[entry + 2] << 16 | (uint32_t)img[entry + 3] << 24;
    return len - from_end;
}

static void truncated_and_corrupt_ovmf_is_refused(void **state)
{
    (void)state;
    uint8_t *img = NULL;
    size_t len = 0;
    tu_read_vector(AMDSEV, &img, &len);

    refuse_ovmf(img, 40, CCG_R_MEASURE_OVMF_MALFORMED);                 /* shorter than a footer */
    refuse_ovmf(img + len - 1024, 1024, CCG_R_MEASURE_OVMF_MALFORMED);  /* metadata now before the start */
    refuse_ovmf(img, len - 4096 + 1000, CCG_R_MEASURE_OVMF_MALFORMED); /* cut at the end: no footer */

    size_t footer = find_guid(img, len, footer_guid);
    assert_int_equal(footer, len - 32 - 16);
    img[footer + 3] ^= 0xff; /* bad footer GUID */
    refuse_ovmf(img, len, CCG_R_MEASURE_OVMF_MALFORMED);
    img[footer + 3] ^= 0xff;

    uint8_t size_lo = img[footer - 2]; /* footer table larger than the image */
    img[footer - 1] = 0xff;
    img[footer - 2] = 0xff;
    refuse_ovmf(img, len, CCG_R_MEASURE_OVMF_MALFORMED);
    img[footer - 1] = 0;
    img[footer - 2] = size_lo;

    size_t entry = find_guid(img, len, metadata_guid) - 6;
    uint8_t saved[4];
    memcpy(saved, img + entry, 4);
    put_u32(img + entry, (uint32_t)len + 100); /* metadata pointing out of bounds */
    refuse_ovmf(img, len, CCG_R_MEASURE_OVMF_MALFORMED);
    put_u32(img + entry, 8); /* inside the image but too close to its end for a header */
    refuse_ovmf(img, len, CCG_R_MEASURE_OVMF_MALFORMED);
    memcpy(img + entry, saved, 4);

    assert_true(ccg_ok(ccg_snp_launch_inputs_set_ovmf(&(ccg_snp_launch_inputs){0}, img, len, NULL)));
    free(img);
}

static void corrupt_metadata_is_refused(void **state)
{
    (void)state;
    uint8_t *img = NULL;
    size_t len = 0;
    tu_read_vector(AMDSEV, &img, &len);
    size_t hdr = metadata_header(img, len);
    assert_memory_equal(img + hdr, "ASEV", 4);
    struct { size_t off; uint32_t value; const char *what; } edits[] = {
        {0, 0x56455341 ^ 0x20, "signature"},
        {8, 2, "version 2"},
        {12, 33, "too many sections"},
        {12, 6, "count disagrees with size"},
        {4, 0xffff, "size disagrees with count"},
        {16, 0x800001, "unaligned section"},
        {16 + 4, 0, "empty section"},
        {16, 0xfffff000, "section crossing 4 GiB"},
        {16 + 8, 7, "unknown section type"},
        {16 + 12, 0x800000, "overlapping sections"},
        {16 + 2 * 12 + 4, 0x2000, "two-page secrets section"},
    };
    for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
        uint8_t saved[4];
        memcpy(saved, img + hdr + edits[i].off, 4);
        put_u32(img + hdr + edits[i].off, edits[i].value);
        print_message("  %s\n", edits[i].what);
        refuse_ovmf(img, len, CCG_R_MEASURE_OVMF_MALFORMED);
        memcpy(img + hdr + edits[i].off, saved, 4);
    }
    free(img);
}

static void hashes_table_outside_its_page_is_refused(void **state)
{
    (void)state;
    uint8_t *img = NULL;
    size_t len = 0;
    static const uint8_t table_guid[16] = {0x1f, 0x37, 0x55, 0x72, 0x3b, 0x3a, 0x04, 0x4b,
                                           0x92, 0x7b, 0x1d, 0xa6, 0xef, 0xa8, 0xd4, 0x54};
    tu_read_vector(AMDSEV, &img, &len);
    size_t entry = find_guid(img, len, table_guid) - 2 - 8;
    put_u32(img + entry, 0x810f80); /* 176 bytes do not fit before the page ends */
    refuse_ovmf(img, len, CCG_R_MEASURE_OVMF_MALFORMED);
    free(img);
}

static void image_must_be_whole_pages(void **state)
{
    (void)state;
    uint8_t *img = NULL;
    size_t len = 0;
    ccg_snp_launch_inputs in;
    uint8_t d[CCG_SNP_LD_SIZE];
    tu_read_vector(AMDSEV, &img, &len);
    ccg_snp_launch_inputs_init(&in);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_snp_launch_inputs_set_ovmf(&in, img + 16, len - 16, NULL)));
    tu_assert_error_reason(CCG_R_MEASURE_OVMF_MALFORMED);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_snp_ovmf_hash(img, 0, d)));
    tu_assert_error_reason(CCG_R_MEASURE_OVMF_MALFORMED);
    free(img);
}

/* ---- platform inputs ---- */

static void vcpu_types_and_vmms(void **state)
{
    (void)state;
    uint32_t sig = 0;
    ccg_snp_vmm_type vmm;
    assert_string_equal(ccg_snp_vcpu_type_lookup("epyc-v4", &sig), "EPYC-v4");
    assert_int_equal(sig, 0x800f12);
    assert_non_null(ccg_snp_vcpu_type_lookup("EPYC-Rome", &sig));
    assert_int_equal(sig, 0x830f10);
    assert_non_null(ccg_snp_vcpu_type_lookup("EPYC-Milan", &sig));
    assert_int_equal(sig, 0xa00f11);
    assert_non_null(ccg_snp_vcpu_type_lookup("EPYC-Genoa", &sig));
    assert_int_equal(sig, 0xa10f10);
    assert_null(ccg_snp_vcpu_type_lookup("EPYC-v5", &sig));
    assert_non_null(ccg_snp_vcpu_type_at(0));

    ccg_snp_launch_inputs in;
    ccg_snp_launch_inputs_init(&in);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_snp_launch_inputs_set_vcpu_type(&in, "Skylake-Server")));
    tu_assert_error_reason(CCG_R_MEASURE_VCPU_TYPE_UNKNOWN);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_snp_vmm_type_from_name("hyperv", &vmm)));
    tu_assert_error_reason(CCG_R_MEASURE_VMM_TYPE_UNSUPPORTED);
    assert_true(ccg_ok(ccg_snp_vmm_type_from_name("EC2", &vmm)));
    assert_int_equal(vmm, CCG_SNP_VMM_EC2);
}

static void inconsistent_inputs_are_refused(void **state)
{
    (void)state;
    uint8_t *img = NULL;
    size_t len = 0;
    ccg_snp_launch_inputs in;
    tu_read_vector(AMDSEV, &img, &len);
    inputs_from(&in, img, len, NULL);
    refuse_measure(&in, CCG_R_MEASURE_VCPU_TYPE_UNKNOWN); /* QEMU without a vCPU type */
    set_vcpu_type(&in, "EPYC");
    in.vmm_type = (ccg_snp_vmm_type)9;
    refuse_measure(&in, CCG_R_MEASURE_VMM_TYPE_UNSUPPORTED);
    in.vmm_type = CCG_SNP_VMM_QEMU;
    in.vcpus = 0;
    refuse_measure(&in, CCG_R_MEASURE_INPUT_INVALID);
    in.vcpus = CCG_SNP_MAX_VCPUS + 1;
    refuse_measure(&in, CCG_R_MEASURE_INPUT_INVALID);
    in.vcpus = 2;
    in.guest_features = 0x20;
    refuse_measure(&in, CCG_R_MEASURE_INPUT_INVALID);
    in.guest_features = 1;
    in.sev_es_reset_eip = 0; /* APs need the reset EIP */
    refuse_measure(&in, CCG_R_MEASURE_INPUT_INVALID);
    in.vcpus = 1;
    uint8_t ok[CCG_SNP_LD_SIZE];
    assert_true(ccg_ok(ccg_snp_measure(&in, ok)));
    in.sev_hashes_table_gpa = 0; /* a kernel needs the hashes table */
    set_empty_kernel(&in, NULL);
    refuse_measure(&in, CCG_R_MEASURE_OVMF_NO_HASHES_SECTION);
    ccg_snp_launch_inputs_free(&in);
    free(img);
}

static void sha256_file_streams(void **state)
{
    (void)state;
    uint8_t d[32];
    char hex[65];
    sha256_of("", 0, d);
    ccg_hex_encode(d, 32, hex);
    assert_string_equal(hex, EMPTY_SHA256);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_snp_sha256_file("/nonexistent/kernel", d)));
    tu_assert_error_reason(CCG_R_IO_READ_FAILED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fixture_constants_come_from_upstream),
        cmocka_unit_test(upstream_fixtures_match),
        cmocka_unit_test(ovmf_hash_matches_upstream),
        cmocka_unit_test(ovmfx64_refuses_kernel),
        cmocka_unit_test(parsed_fixture_layout),
        cmocka_unit_test(debian_ovmf_matches_sev_snp_measure),
        cmocka_unit_test(debian_code_only_ovmf_is_refused),
        cmocka_unit_test(full_svsm_ovmf_matches_sev_snp_measure),
        cmocka_unit_test(direct_boot_matches_sev_snp_measure),
        cmocka_unit_test(each_input_changes_the_digest),
        cmocka_unit_test(json_round_trip_keeps_the_digest),
        cmocka_unit_test(hand_written_json_measures),
        cmocka_unit_test(bad_json_is_refused),
        cmocka_unit_test(bad_json_values_are_refused),
        cmocka_unit_test(truncated_and_corrupt_ovmf_is_refused),
        cmocka_unit_test(corrupt_metadata_is_refused),
        cmocka_unit_test(hashes_table_outside_its_page_is_refused),
        cmocka_unit_test(image_must_be_whole_pages),
        cmocka_unit_test(vcpu_types_and_vmms),
        cmocka_unit_test(inconsistent_inputs_are_refused),
        cmocka_unit_test(sha256_file_streams),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
