/* Serializer for the SEV-SNP ATTESTATION_REPORT; offsets follow snp_report.c field for field. */
#include "ccgate/snp_report_write.h"

#include <string.h>

static void put_u32(uint8_t *out, size_t off, uint32_t v)
{
    for (size_t i = 0; i < 4; i++) {
        out[off + i] = (uint8_t)(v >> (8 * i));
    }
}

static void put_u64(uint8_t *out, size_t off, uint64_t v)
{
    for (size_t i = 0; i < 8; i++) {
        out[off + i] = (uint8_t)(v >> (8 * i));
    }
}

static void write_header(const ccg_snp_report *r, uint8_t *out)
{
    put_u32(out, 0x000, r->version);
    put_u32(out, 0x004, r->guest_svn);
    put_u64(out, 0x008, r->policy);
    memcpy(out + 0x010, r->family_id, sizeof(r->family_id));
    memcpy(out + 0x020, r->image_id, sizeof(r->image_id));
    put_u32(out, 0x030, r->vmpl);
    put_u32(out, 0x034, r->signature_algo);
    put_u64(out, 0x038, r->current_tcb);
    put_u64(out, 0x040, r->platform_info);
    put_u32(out, 0x048, r->flags);
    /* 0x04C-0x04F reserved */
}

static void write_body(const ccg_snp_report *r, uint8_t *out)
{
    memcpy(out + 0x050, r->report_data, sizeof(r->report_data));
    memcpy(out + 0x090, r->measurement, sizeof(r->measurement));
    memcpy(out + 0x0C0, r->host_data, sizeof(r->host_data));
    memcpy(out + 0x0E0, r->id_key_digest, sizeof(r->id_key_digest));
    memcpy(out + 0x110, r->author_key_digest, sizeof(r->author_key_digest));
    memcpy(out + 0x140, r->report_id, sizeof(r->report_id));
    memcpy(out + 0x160, r->report_id_ma, sizeof(r->report_id_ma));
    put_u64(out, 0x180, r->reported_tcb);
    if (r->version >= 3) { /* v2 has no CPUID bytes: 0x188-0x19F are reserved there */
        out[0x188] = r->cpuid_fam_id;
        out[0x189] = r->cpuid_mod_id;
        out[0x18A] = r->cpuid_step;
    }
    memcpy(out + 0x1A0, r->chip_id, sizeof(r->chip_id));
    put_u64(out, 0x1E0, r->committed_tcb);
    out[0x1E8] = r->current_build;
    out[0x1E9] = r->current_minor;
    out[0x1EA] = r->current_major;
    out[0x1EC] = r->committed_build;
    out[0x1ED] = r->committed_minor;
    out[0x1EE] = r->committed_major;
    put_u64(out, 0x1F0, r->launch_tcb);
    if (r->version >= 5) {
        put_u64(out, 0x1F8, r->launch_mit_vector);
        put_u64(out, 0x200, r->current_mit_vector);
    }
}

ccg_result ccg_snp_report_serialize(const ccg_snp_report *r, uint8_t out[CCG_SNP_REPORT_SIZE])
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(r->version == 2 || r->version == 3 || r->version == 5, CCG_R_SNP_REPORT_VERSION_UNSUPPORTED,
                   "cannot serialize report version %u; supported: 2, 3, 5", r->version);
    memset(out, 0, CCG_SNP_REPORT_SIZE);
    write_header(r, out);
    write_body(r, out);
    memcpy(out + CCG_SNP_SIGNED_SIZE, r->sig_r, CCG_SNP_SIG_COMPONENT_SIZE);
    memcpy(out + CCG_SNP_SIGNED_SIZE + CCG_SNP_SIG_COMPONENT_SIZE, r->sig_s, CCG_SNP_SIG_COMPONENT_SIZE);
    result = CCG_SUCCESS;
cleanup:
    return result;
}
