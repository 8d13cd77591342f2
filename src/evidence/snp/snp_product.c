/* SEV-SNP products and their TCB_VERSION layouts. */
#include <string.h>
#include <strings.h>

#include "ccgate/snp_report.h"
#include "ccgate/util.h"

ccg_snp_product ccg_snp_product_from_cpuid(const ccg_snp_report *r)
{
    if (r->version < 3) {
        return CCG_SNP_PRODUCT_UNKNOWN;
    }
    uint8_t fam = r->cpuid_fam_id, mod = r->cpuid_mod_id;
    if (fam == 0x19 && mod <= 0x0F) {
        return CCG_SNP_PRODUCT_MILAN;
    }
    if (fam == 0x19 && ((mod >= 0x10 && mod <= 0x1F) || (mod >= 0xA0 && mod <= 0xAF))) {
        return CCG_SNP_PRODUCT_GENOA; /* Genoa, and Bergamo/Siena which use Genoa's keys */
    }
    if (fam == 0x1A && mod <= 0x1F) {
        return CCG_SNP_PRODUCT_TURIN;
    }
    return CCG_SNP_PRODUCT_UNKNOWN;
}

const char *ccg_snp_product_name(ccg_snp_product p)
{
    switch (p) {
    case CCG_SNP_PRODUCT_MILAN: return "Milan";
    case CCG_SNP_PRODUCT_GENOA: return "Genoa";
    case CCG_SNP_PRODUCT_TURIN: return "Turin";
    case CCG_SNP_PRODUCT_UNKNOWN: break;
    }
    return "unknown";
}

ccg_snp_product ccg_snp_product_from_name(const char *name)
{
    /* VCEK productName may carry a stepping suffix ("Milan-B0"); Genoa's has none. */
    static const struct {
        const char *prefix;
        ccg_snp_product product;
    } names[] = {{"Milan", CCG_SNP_PRODUCT_MILAN}, {"Genoa", CCG_SNP_PRODUCT_GENOA}, {"Turin", CCG_SNP_PRODUCT_TURIN}};
    for (size_t i = 0; name != NULL && i < sizeof(names) / sizeof(names[0]); i++) {
        size_t n = strlen(names[i].prefix);
        if (strncasecmp(name, names[i].prefix, n) == 0 && (name[n] == '\0' || name[n] == '-')) {
            return names[i].product;
        }
    }
    return CCG_SNP_PRODUCT_UNKNOWN;
}

int ccg_snp_report_chip_id_masked(const ccg_snp_report *r) { return ccg_is_all_zero(r->chip_id, sizeof(r->chip_id)); }

size_t ccg_snp_hwid_len(ccg_snp_product p) { return p == CCG_SNP_PRODUCT_TURIN ? 8 : 64; }

/* Reserved bytes: 2-5 on Milan and Genoa, 4-6 on Turin. */
int ccg_snp_tcb_reserved_ok(ccg_snp_product p, uint64_t raw)
{
    uint64_t reserved = p == CCG_SNP_PRODUCT_TURIN ? 0x00FFFFFF00000000ull : 0x0000FFFFFFFF0000ull;
    return (raw & reserved) == 0;
}

void ccg_snp_tcb_split(ccg_snp_product p, uint64_t raw, ccg_snp_tcb *out)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++) {
        b[i] = (uint8_t)(raw >> (8 * i));
    }
    memset(out, 0, sizeof(*out));
    if (p == CCG_SNP_PRODUCT_TURIN) {
        out->fmc = b[0];
        out->bootloader = b[1];
        out->tee = b[2];
        out->snp = b[3];
    } else {
        out->bootloader = b[0];
        out->tee = b[1];
        out->snp = b[6];
    }
    out->microcode = b[7];
}

ccg_result ccg_snp_tcb_decode(ccg_snp_product p, uint64_t raw, ccg_snp_tcb *out)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(ccg_snp_tcb_reserved_ok(p, raw), CCG_R_SNP_RESERVED_NONZERO,
                   "%s TCB 0x%016llx has reserved bytes set", ccg_snp_product_name(p), (unsigned long long)raw);
    ccg_snp_tcb_split(p, raw, out);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

uint64_t ccg_snp_tcb_encode(ccg_snp_product p, const ccg_snp_tcb *t)
{
    if (p == CCG_SNP_PRODUCT_TURIN) {
        return (uint64_t)t->fmc | (uint64_t)t->bootloader << 8 | (uint64_t)t->tee << 16 | (uint64_t)t->snp << 24 |
               (uint64_t)t->microcode << 56;
    }
    return (uint64_t)t->bootloader | (uint64_t)t->tee << 8 | (uint64_t)t->snp << 48 | (uint64_t)t->microcode << 56;
}
