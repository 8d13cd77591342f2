/* libFuzzer target: the OVMF footer GUID table and SEV metadata parser, and the launch digest over what
 * it accepts. An input starting with '{' goes to the launch-inputs JSON parser instead (an OVMF image
 * never starts so). Any input must be measured or refused with a reason, never crash or leak. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"
#include "ccgate/snp_measure.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must_have_reason(void)
{
    if (ccg_error_reason() == CCG_R_OK) {
        abort(); /* a refusal must always carry a reason */
    }
}

static void fuzz_json(const uint8_t *data, size_t size)
{
    ccg_snp_launch_inputs in;
    uint8_t digest[CCG_SNP_LD_SIZE];
    json_t *doc = NULL;
    if (ccg_failed(ccg_snp_launch_inputs_from_json((const char *)data, size, &in, NULL, NULL))) {
        must_have_reason();
        return;
    }
    if (ccg_ok(ccg_snp_measure(&in, digest)) && ccg_ok(ccg_snp_launch_inputs_to_json(&in, digest, &doc))) {
        json_decref(doc);
    }
    ccg_snp_launch_inputs_free(&in);
}

/* Accepted sections must satisfy what the parser promises. */
static void check_info(const ccg_snp_ovmf_info *info)
{
    if (info->section_count > CCG_SNP_MAX_SECTIONS) {
        abort();
    }
    for (size_t i = 0; i < info->section_count; i++) {
        const ccg_snp_ovmf_section *s = &info->sections[i];
        if (s->size == 0 || s->gpa % CCG_SNP_PAGE_SIZE != 0 || (uint64_t)s->gpa + s->size > 0x100000000ull) {
            abort();
        }
    }
}

static void fuzz_image(const uint8_t *data, size_t size)
{
    ccg_snp_ovmf_info info;
    ccg_snp_launch_inputs in;
    uint8_t digest[CCG_SNP_LD_SIZE], kernel[32] = {0};
    if (ccg_failed(ccg_snp_ovmf_parse(data, size, &info))) {
        must_have_reason();
        return;
    }
    check_info(&info);
    ccg_snp_launch_inputs_init(&in);
    in.vcpus = 3;
    if (ccg_failed(ccg_snp_launch_inputs_set_vcpu_type(&in, "EPYC-v4"))) {
        abort();
    }
    /* Whole-page images are measured, with and without a kernel. */
    if (ccg_ok(ccg_snp_launch_inputs_set_ovmf(&in, data, size, NULL))) {
        (void)ccg_snp_measure(&in, digest);
        if (ccg_ok(ccg_snp_launch_inputs_set_kernel(&in, kernel, NULL, "console=ttyS0"))) {
            (void)ccg_snp_measure(&in, digest);
        }
    }
    ccg_snp_launch_inputs_free(&in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ccg_error_clear();
    if (size > 0 && data[0] == '{') {
        fuzz_json(data, size);
    } else {
        fuzz_image(data, size);
    }
    return 0;
}
