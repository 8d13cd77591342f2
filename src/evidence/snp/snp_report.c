/* Parser for the SEV-SNP ATTESTATION_REPORT. Every byte is read through the bounded reader, in
 * offset order. Only what the current ABI guarantees to be zero is refused: the reserved byte ranges of
 * each report version's layout, the reserved bits of the guest POLICY and of the signer info.
 * PLATFORM_INFO is firmware state that newer firmware extends, so its bits are claims, never refused. */
#include <string.h>

#include "ccgate/reader.h"
#include "ccgate/snp_report.h"

#define SNP_SIGNATURE_ALGO_ECDSA_P384_SHA384 1u

static ccg_result parse_header(ccg_reader *r, ccg_snp_report *out)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(ccg_reader_u32le(r, &out->version));                                    /* 0x000 */
    CCG_ENSURE_MSG(out->version == 2 || out->version == 3 || out->version == 5,
                   CCG_R_SNP_REPORT_VERSION_UNSUPPORTED, "report version %u; supported: 2, 3, 5", out->version);
    CCG_TRY(ccg_reader_u32le(r, &out->guest_svn));                                  /* 0x004 */
    CCG_TRY(ccg_reader_u64le(r, &out->policy));                                     /* 0x008 */
    CCG_ENSURE_MSG((out->policy & CCG_SNP_POLICY_RESERVED_ONE) != 0, CCG_R_SNP_GUEST_POLICY_INVALID,
                   "POLICY bit 17 must be one (policy 0x%llx)", (unsigned long long)out->policy);
    CCG_ENSURE_MSG((out->policy & ~CCG_SNP_POLICY_KNOWN_MASK) == 0, CCG_R_SNP_GUEST_POLICY_INVALID,
                   "POLICY has reserved bits 63:26 set (policy 0x%llx)", (unsigned long long)out->policy);
    CCG_TRY(ccg_reader_copy(r, out->family_id, sizeof(out->family_id)));            /* 0x010 */
    CCG_TRY(ccg_reader_copy(r, out->image_id, sizeof(out->image_id)));              /* 0x020 */
    CCG_TRY(ccg_reader_u32le(r, &out->vmpl));                                       /* 0x030 */
    CCG_ENSURE_MSG(out->vmpl <= 3 || out->vmpl == CCG_SNP_VMPL_HOST_REQUESTED, CCG_R_INPUT_MALFORMED,
                   "VMPL %u is not 0-3 (guest request) or 0xFFFFFFFF (host request)", out->vmpl);
    CCG_TRY(ccg_reader_u32le(r, &out->signature_algo));                             /* 0x034 */
    CCG_ENSURE_MSG(out->signature_algo == SNP_SIGNATURE_ALGO_ECDSA_P384_SHA384,
                   CCG_R_SNP_SIGNATURE_ALGO_UNSUPPORTED, "SIGNATURE_ALGO %u", out->signature_algo);
    CCG_TRY(ccg_reader_u64le(r, &out->current_tcb));                                /* 0x038 */
    CCG_TRY(ccg_reader_u64le(r, &out->platform_info));                              /* 0x040 */
    CCG_TRY(ccg_reader_u32le(r, &out->flags));                                      /* 0x048 */
    CCG_ENSURE_MSG((out->flags & ~0x1Fu) == 0, CCG_R_SNP_RESERVED_NONZERO,
                   "reserved bits 31:5 at offset 0x48 are 0x%x", out->flags);
    CCG_TRY(ccg_reader_reserved_zero(r, 4, CCG_R_SNP_RESERVED_NONZERO));            /* 0x04C */
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result parse_body(ccg_reader *r, ccg_snp_report *out)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(ccg_reader_copy(r, out->report_data, sizeof(out->report_data)));        /* 0x050 */
    CCG_TRY(ccg_reader_copy(r, out->measurement, sizeof(out->measurement)));        /* 0x090 */
    CCG_TRY(ccg_reader_copy(r, out->host_data, sizeof(out->host_data)));            /* 0x0C0 */
    CCG_TRY(ccg_reader_copy(r, out->id_key_digest, sizeof(out->id_key_digest)));    /* 0x0E0 */
    CCG_TRY(ccg_reader_copy(r, out->author_key_digest, sizeof(out->author_key_digest))); /* 0x110 */
    CCG_TRY(ccg_reader_copy(r, out->report_id, sizeof(out->report_id)));            /* 0x140 */
    CCG_TRY(ccg_reader_copy(r, out->report_id_ma, sizeof(out->report_id_ma)));      /* 0x160 */
    CCG_TRY(ccg_reader_u64le(r, &out->reported_tcb));                               /* 0x180 */
    if (out->version >= 3) {
        CCG_TRY(ccg_reader_u8(r, &out->cpuid_fam_id));                              /* 0x188 */
        CCG_TRY(ccg_reader_u8(r, &out->cpuid_mod_id));
        CCG_TRY(ccg_reader_u8(r, &out->cpuid_step));
        CCG_TRY(ccg_reader_reserved_zero(r, 0x1A0 - 0x18B, CCG_R_SNP_RESERVED_NONZERO));
    } else {
        CCG_TRY(ccg_reader_reserved_zero(r, 0x1A0 - 0x188, CCG_R_SNP_RESERVED_NONZERO));
    }
    CCG_TRY(ccg_reader_copy(r, out->chip_id, sizeof(out->chip_id)));                /* 0x1A0 */
    CCG_TRY(ccg_reader_u64le(r, &out->committed_tcb));                              /* 0x1E0 */
    CCG_TRY(ccg_reader_u8(r, &out->current_build));                                 /* 0x1E8 */
    CCG_TRY(ccg_reader_u8(r, &out->current_minor));
    CCG_TRY(ccg_reader_u8(r, &out->current_major));
    CCG_TRY(ccg_reader_reserved_zero(r, 1, CCG_R_SNP_RESERVED_NONZERO));            /* 0x1EB */
    CCG_TRY(ccg_reader_u8(r, &out->committed_build));                               /* 0x1EC */
    CCG_TRY(ccg_reader_u8(r, &out->committed_minor));
    CCG_TRY(ccg_reader_u8(r, &out->committed_major));
    CCG_TRY(ccg_reader_reserved_zero(r, 1, CCG_R_SNP_RESERVED_NONZERO));            /* 0x1EF */
    CCG_TRY(ccg_reader_u64le(r, &out->launch_tcb));                                 /* 0x1F0 */
    if (out->version >= 5) {
        CCG_TRY(ccg_reader_u64le(r, &out->launch_mit_vector));                      /* 0x1F8 */
        CCG_TRY(ccg_reader_u64le(r, &out->current_mit_vector));                     /* 0x200 */
    }
    CCG_TRY(ccg_reader_reserved_zero(r, CCG_SNP_SIGNED_SIZE - ccg_reader_offset(r), CCG_R_SNP_RESERVED_NONZERO));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result parse_signature(ccg_reader *r, ccg_snp_report *out)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(ccg_reader_copy(r, out->sig_r, sizeof(out->sig_r)));                    /* 0x2A0 */
    CCG_TRY(ccg_reader_copy(r, out->sig_s, sizeof(out->sig_s)));                    /* 0x2E8 */
    CCG_TRY(ccg_reader_reserved_zero(r, CCG_SNP_REPORT_SIZE - ccg_reader_offset(r), CCG_R_SNP_RESERVED_NONZERO));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_snp_report_parse(const uint8_t *bytes, size_t len, ccg_snp_report *out)
{
    ccg_result result = CCG_FAILURE;
    ccg_reader r;
    memset(out, 0, sizeof(*out));
    CCG_ENSURE_MSG(len == CCG_SNP_REPORT_SIZE, CCG_R_SNP_REPORT_SIZE_INVALID, "report is %zu bytes, expected %u",
                   len, CCG_SNP_REPORT_SIZE);
    ccg_reader_init(&r, bytes, len);
    CCG_TRY(parse_header(&r, out));
    CCG_TRY(parse_body(&r, out));
    CCG_TRY(parse_signature(&r, out));
    CCG_TRY(ccg_reader_expect_end(&r));
    result = CCG_SUCCESS;
cleanup:
    return result;
}
