/* The SEV-SNP report as the guest's SNP attester serialises it with the `sev` crate's serde derive
 * (virtee/sev 7.x, `AttestationReport`): a JSON object of named fields, byte arrays as arrays of
 * numbers, bitfield newtypes (policy, plat_info, key_info) as integers, TcbVersion as
 * {"fmc":null|n,"bootloader","tee","snp","microcode"}, Version as {"major","minor","build"},
 * Option<u8>/Option<u64> as null or a number, and the signature as {"r":[72],"s":[72]} (little-endian,
 * as stored). The fields are written back to the 1184-byte layout (ccg_snp_report_serialize), so the
 * report signature is checked over exactly the bytes the firmware signed; reserved bytes are zero.
 * Strict: every member is required, unknown members are refused. */
#include "kbs_internal.h"

#include <string.h>

#include "ccgate/error.h"
#include "ccgate/snp_report_write.h"

static ccg_result get_uint(const json_t *obj, const char *name, uint64_t max, uint64_t *out)
{
    ccg_result result = CCG_FAILURE;
    const json_t *v = json_object_get(obj, name);
    CCG_ENSURE_MSG(json_is_integer(v) && json_integer_value(v) >= 0 && (uint64_t)json_integer_value(v) <= max,
                   CCG_R_KBS_REQUEST_MALFORMED, "attestation_report.%s must be an integer in [0, %llu]", name,
                   (unsigned long long)max);
    *out = (uint64_t)json_integer_value(v);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* An Option<u8>/Option<u64>: null means absent (*present 0). */
static ccg_result get_opt(const json_t *obj, const char *name, uint64_t max, uint64_t *out, int *present)
{
    const json_t *v = json_object_get(obj, name);
    if (json_is_null(v)) {
        *out = 0;
        *present = 0;
        return CCG_SUCCESS;
    }
    *present = 1;
    return get_uint(obj, name, max, out);
}

static ccg_result get_bytes(const json_t *obj, const char *name, uint8_t *out, size_t n)
{
    ccg_result result = CCG_FAILURE;
    const json_t *v = json_object_get(obj, name), *b;
    size_t i;
    CCG_ENSURE_MSG(json_is_array(v) && json_array_size(v) == n, CCG_R_KBS_REQUEST_MALFORMED,
                   "attestation_report.%s must be an array of %zu bytes", name, n);
    json_array_foreach(v, i, b) {
        CCG_ENSURE_MSG(json_is_integer(b) && json_integer_value(b) >= 0 && json_integer_value(b) <= 255,
                       CCG_R_KBS_REQUEST_MALFORMED, "attestation_report.%s must hold byte values", name);
        out[i] = (uint8_t)json_integer_value(b);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result only_members(const json_t *obj, const char *what, const char *const *known, size_t n)
{
    ccg_result result = CCG_FAILURE;
    const char *name;
    const json_t *v;
    CCG_ENSURE_MSG(json_is_object(obj) && json_object_size(obj) == n, CCG_R_KBS_REQUEST_MALFORMED,
                   "%s must be an object with exactly %zu members", what, n);
    json_object_foreach((json_t *)obj, name, v) {
        int ok = 0;
        for (size_t i = 0; i < n; i++) {
            ok |= strcmp(name, known[i]) == 0;
        }
        CCG_ENSURE_MSG(ok, CCG_R_KBS_REQUEST_MALFORMED, "%s has an unknown member \"%.64s\"", what, name);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* TcbVersion; *turin is set when FMC is present (the Turin layout). */
static ccg_result get_tcb(const json_t *obj, const char *name, ccg_snp_tcb *tcb, int *turin)
{
    static const char *const known[] = {"fmc", "bootloader", "tee", "snp", "microcode"};
    ccg_result result = CCG_FAILURE;
    const json_t *t = json_object_get(obj, name);
    uint64_t fmc = 0, bl = 0, tee = 0, snp = 0, ucode = 0;
    memset(tcb, 0, sizeof(*tcb));
    CCG_TRY(only_members(t, name, known, 5));
    CCG_TRY(get_opt(t, "fmc", 255, &fmc, turin));
    CCG_TRY(get_uint(t, "bootloader", 255, &bl));
    CCG_TRY(get_uint(t, "tee", 255, &tee));
    CCG_TRY(get_uint(t, "snp", 255, &snp));
    CCG_TRY(get_uint(t, "microcode", 255, &ucode));
    tcb->fmc = (uint8_t)fmc;
    tcb->bootloader = (uint8_t)bl;
    tcb->tee = (uint8_t)tee;
    tcb->snp = (uint8_t)snp;
    tcb->microcode = (uint8_t)ucode;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result get_tcb_raw(const json_t *obj, const char *name, uint64_t *raw)
{
    ccg_result result = CCG_FAILURE;
    ccg_snp_tcb tcb;
    int turin = 0;
    CCG_TRY(get_tcb(obj, name, &tcb, &turin));
    *raw = ccg_snp_tcb_encode(turin ? CCG_SNP_PRODUCT_TURIN : CCG_SNP_PRODUCT_MILAN, &tcb);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result get_version(const json_t *obj, const char *name, uint8_t *major, uint8_t *minor, uint8_t *build)
{
    static const char *const known[] = {"major", "minor", "build"};
    ccg_result result = CCG_FAILURE;
    const json_t *v = json_object_get(obj, name);
    uint64_t a = 0, b = 0, c = 0;
    CCG_TRY(only_members(v, name, known, 3));
    CCG_TRY(get_uint(v, "major", 255, &a));
    CCG_TRY(get_uint(v, "minor", 255, &b));
    CCG_TRY(get_uint(v, "build", 255, &c));
    *major = (uint8_t)a;
    *minor = (uint8_t)b;
    *build = (uint8_t)c;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result kbs_sev_report_from_json(const json_t *obj, uint8_t out[CCG_SNP_REPORT_SIZE])
{
    static const char *const known[] = {
        "version",      "guest_svn",       "policy",        "family_id",     "image_id",         "vmpl",
        "sig_algo",     "current_tcb",     "plat_info",     "key_info",      "report_data",      "measurement",
        "host_data",    "id_key_digest",   "author_key_digest", "report_id", "report_id_ma",     "reported_tcb",
        "cpuid_fam_id", "cpuid_mod_id",    "cpuid_step",    "chip_id",       "committed_tcb",    "current",
        "committed",    "launch_tcb",      "launch_mit_vector", "current_mit_vector", "signature"};
    static const char *const sig_known[] = {"r", "s"};
    ccg_result result = CCG_FAILURE;
    ccg_snp_report r;
    uint64_t u = 0;
    int present = 0, cpuid_present = 0;
    const json_t *sig;

    memset(&r, 0, sizeof(r));
    CCG_TRY(only_members(obj, "attestation_report", known, sizeof(known) / sizeof(known[0])));
    CCG_TRY(get_uint(obj, "version", UINT32_MAX, &u));
    r.version = (uint32_t)u;
    CCG_TRY(get_uint(obj, "guest_svn", UINT32_MAX, &u));
    r.guest_svn = (uint32_t)u;
    CCG_TRY(get_uint(obj, "policy", INT64_MAX, &r.policy));
    CCG_TRY(get_bytes(obj, "family_id", r.family_id, sizeof(r.family_id)));
    CCG_TRY(get_bytes(obj, "image_id", r.image_id, sizeof(r.image_id)));
    CCG_TRY(get_uint(obj, "vmpl", UINT32_MAX, &u));
    r.vmpl = (uint32_t)u;
    CCG_TRY(get_uint(obj, "sig_algo", UINT32_MAX, &u));
    r.signature_algo = (uint32_t)u;
    CCG_TRY(get_tcb_raw(obj, "current_tcb", &r.current_tcb));
    CCG_TRY(get_uint(obj, "plat_info", INT64_MAX, &r.platform_info));
    CCG_TRY(get_uint(obj, "key_info", UINT32_MAX, &u));
    r.flags = (uint32_t)u;
    CCG_TRY(get_bytes(obj, "report_data", r.report_data, sizeof(r.report_data)));
    CCG_TRY(get_bytes(obj, "measurement", r.measurement, sizeof(r.measurement)));
    CCG_TRY(get_bytes(obj, "host_data", r.host_data, sizeof(r.host_data)));
    CCG_TRY(get_bytes(obj, "id_key_digest", r.id_key_digest, sizeof(r.id_key_digest)));
    CCG_TRY(get_bytes(obj, "author_key_digest", r.author_key_digest, sizeof(r.author_key_digest)));
    CCG_TRY(get_bytes(obj, "report_id", r.report_id, sizeof(r.report_id)));
    CCG_TRY(get_bytes(obj, "report_id_ma", r.report_id_ma, sizeof(r.report_id_ma)));
    CCG_TRY(get_tcb_raw(obj, "reported_tcb", &r.reported_tcb));
    CCG_TRY(get_opt(obj, "cpuid_fam_id", 255, &u, &present));
    r.cpuid_fam_id = (uint8_t)u;
    cpuid_present = present;
    CCG_TRY(get_opt(obj, "cpuid_mod_id", 255, &u, &present));
    r.cpuid_mod_id = (uint8_t)u;
    CCG_ENSURE_MSG(present == cpuid_present, CCG_R_KBS_REQUEST_MALFORMED, "the CPUID fields are partly absent");
    CCG_TRY(get_opt(obj, "cpuid_step", 255, &u, &present));
    r.cpuid_step = (uint8_t)u;
    CCG_ENSURE_MSG(present == cpuid_present, CCG_R_KBS_REQUEST_MALFORMED, "the CPUID fields are partly absent");
    CCG_TRY(get_bytes(obj, "chip_id", r.chip_id, sizeof(r.chip_id)));
    CCG_TRY(get_tcb_raw(obj, "committed_tcb", &r.committed_tcb));
    CCG_TRY(get_version(obj, "current", &r.current_major, &r.current_minor, &r.current_build));
    CCG_TRY(get_version(obj, "committed", &r.committed_major, &r.committed_minor, &r.committed_build));
    CCG_TRY(get_tcb_raw(obj, "launch_tcb", &r.launch_tcb));
    CCG_TRY(get_opt(obj, "launch_mit_vector", INT64_MAX, &r.launch_mit_vector, &present));
    CCG_TRY(get_opt(obj, "current_mit_vector", INT64_MAX, &r.current_mit_vector, &present));
    sig = json_object_get(obj, "signature");
    CCG_TRY(only_members(sig, "signature", sig_known, 2));
    CCG_TRY(get_bytes(sig, "r", r.sig_r, sizeof(r.sig_r)));
    CCG_TRY(get_bytes(sig, "s", r.sig_s, sizeof(r.sig_s)));
    /* Versions 2, 3 and 5 only; the layout (and so the signed bytes) is defined for those. */
    CCG_TRY(ccg_snp_report_serialize(&r, out));
    result = CCG_SUCCESS;
cleanup:
    return result;
}
