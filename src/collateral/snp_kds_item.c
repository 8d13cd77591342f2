/* Collateral items: their names, KDS URLs and cache paths. Pure string work, no I/O. */
#include <stdio.h>
#include <string.h>

#include "ccgate/snp_kds.h"
#include "ccgate/util.h"

#define HWID_HEX_MAX (2 * 64 + 1)

static int product_known(ccg_snp_product p)
{
    return p == CCG_SNP_PRODUCT_MILAN || p == CCG_SNP_PRODUCT_GENOA || p == CCG_SNP_PRODUCT_TURIN;
}

static int signer_known(ccg_snp_signer s) { return s == CCG_SNP_SIGNER_VCEK || s == CCG_SNP_SIGNER_VLEK; }

const char *ccg_snp_kds_product_dir(ccg_snp_product p)
{
    switch (p) {
    case CCG_SNP_PRODUCT_MILAN: return "milan";
    case CCG_SNP_PRODUCT_GENOA: return "genoa";
    case CCG_SNP_PRODUCT_TURIN: return "turin";
    case CCG_SNP_PRODUCT_UNKNOWN: break;
    }
    return NULL;
}

const char *ccg_snp_kds_item_name(const ccg_snp_kds_item *item)
{
    int vlek = item->signer == CCG_SNP_SIGNER_VLEK;
    switch (item->kind) {
    case CCG_SNP_KDS_KEY: return vlek ? "VLEK" : "VCEK";
    case CCG_SNP_KDS_CHAIN: return vlek ? "ASVK+ARK chain" : "ASK+ARK chain";
    case CCG_SNP_KDS_CRL: return vlek ? "VLEK CRL" : "VCEK CRL";
    }
    return "unknown item";
}

static ccg_result check_item(const ccg_snp_kds_item *item)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(product_known(item->product), CCG_R_SNP_PRODUCT_UNKNOWN,
                   "collateral needs a product (milan, genoa or turin)");
    CCG_ENSURE_MSG(signer_known(item->signer), CCG_R_SNP_SIGNING_KEY_UNSUPPORTED,
                   "collateral exists for VCEK and VLEK signers only (signer %d)", (int)item->signer);
    CCG_ENSURE_MSG(item->kind == CCG_SNP_KDS_KEY || item->kind == CCG_SNP_KDS_CHAIN || item->kind == CCG_SNP_KDS_CRL,
                   CCG_R_INTERNAL_ERROR, "unknown collateral kind %d", (int)item->kind);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static void hwid_hex(const ccg_snp_kds_item *item, char out[HWID_HEX_MAX])
{
    ccg_hex_encode(item->chip_id, ccg_snp_hwid_len(item->product), out);
}

static void tcb_hex(const ccg_snp_kds_item *item, char out[17])
{
    snprintf(out, 17, "%016llx", (unsigned long long)ccg_snp_tcb_encode(item->product, &item->tcb));
}

/* A formatted string that must fit; truncation is an error, never a shorter path or URL. */
static ccg_result format_fits(int n, size_t out_len, const char *what)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(n >= 0 && (size_t)n < out_len, CCG_R_INPUT_TOO_LARGE, "%s is longer than %zu bytes", what,
                   out_len);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Only http(s), and nothing that would change the meaning of the appended path. */
static ccg_result check_base_url(const char *base, size_t *len)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(strncmp(base, "https://", 8) == 0 || strncmp(base, "http://", 7) == 0, CCG_R_INPUT_MALFORMED,
                   "the KDS URL must start with https:// or http://");
    for (const char *p = base; *p; p++) {
        CCG_ENSURE_MSG(*p > 0x20 && *p < 0x7f && *p != '?' && *p != '#', CCG_R_INPUT_MALFORMED,
                       "the KDS URL must be a plain base URL without spaces, query or fragment");
    }
    *len = strlen(base);
    while (*len > 0 && base[*len - 1] == '/') {
        (*len)--;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static int vcek_query(const ccg_snp_kds_item *item, char *out, size_t out_len)
{
    const ccg_snp_tcb *t = &item->tcb;
    if (item->product == CCG_SNP_PRODUCT_TURIN) {
        return snprintf(out, out_len, "fmcSPL=%02u&blSPL=%02u&teeSPL=%02u&snpSPL=%02u&ucodeSPL=%02u", t->fmc,
                        t->bootloader, t->tee, t->snp, t->microcode);
    }
    return snprintf(out, out_len, "blSPL=%02u&teeSPL=%02u&snpSPL=%02u&ucodeSPL=%02u", t->bootloader, t->tee, t->snp,
                    t->microcode);
}

ccg_result ccg_snp_kds_url(const char *base_url, const ccg_snp_kds_item *item, char *out, size_t out_len)
{
    ccg_result result = CCG_FAILURE;
    const char *base = base_url ? base_url : CCG_SNP_KDS_DEFAULT_URL;
    size_t base_len = 0;
    char hwid[HWID_HEX_MAX], query[96];
    CCG_TRY(check_item(item));
    CCG_TRY(check_base_url(base, &base_len));
    const char *product = ccg_snp_product_name(item->product);
    const char *tree = item->signer == CCG_SNP_SIGNER_VLEK ? "vlek" : "vcek";
    int n = -1;
    switch (item->kind) {
    case CCG_SNP_KDS_KEY:
        CCG_ENSURE_MSG(item->signer == CCG_SNP_SIGNER_VCEK, CCG_R_COLLATERAL_MISSING,
                       "KDS serves VLEKs only to cloud providers; a VLEK must come from the cache or a file");
        hwid_hex(item, hwid);
        CCG_TRY(format_fits(vcek_query(item, query, sizeof(query)), sizeof(query), "the VCEK query"));
        n = snprintf(out, out_len, "%.*s/vcek/v1/%s/%s?%s", (int)base_len, base, product, hwid, query);
        break;
    case CCG_SNP_KDS_CHAIN:
        n = snprintf(out, out_len, "%.*s/%s/v1/%s/cert_chain", (int)base_len, base, tree, product);
        break;
    case CCG_SNP_KDS_CRL: n = snprintf(out, out_len, "%.*s/%s/v1/%s/crl", (int)base_len, base, tree, product); break;
    }
    CCG_TRY(format_fits(n, out_len, "the KDS URL"));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static int is_lower_hex(const char *s)
{
    for (; *s; s++) {
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

/* The path below the cache directory. Every component is a fixed name or lowercase hex. */
static int relative_path(const ccg_snp_kds_item *item, char *out, size_t out_len)
{
    const char *product = ccg_snp_kds_product_dir(item->product);
    int vlek = item->signer == CCG_SNP_SIGNER_VLEK;
    char hwid[HWID_HEX_MAX], tcb[17];
    hwid_hex(item, hwid);
    tcb_hex(item, tcb);
    if (!is_lower_hex(hwid) || !is_lower_hex(tcb)) {
        return -1;
    }
    switch (item->kind) {
    case CCG_SNP_KDS_KEY:
        return vlek ? snprintf(out, out_len, "%s/vlek/%s.der", product, tcb)
                    : snprintf(out, out_len, "%s/vcek/%s/%s.der", product, hwid, tcb);
    case CCG_SNP_KDS_CHAIN:
        return snprintf(out, out_len, "%s/%s", product, vlek ? "vlek_cert_chain.pem" : "cert_chain.pem");
    case CCG_SNP_KDS_CRL: return snprintf(out, out_len, "%s/%s", product, vlek ? "vlek_crl.der" : "crl.der");
    }
    return -1;
}

ccg_result ccg_snp_cache_path(const char *cache_dir, const ccg_snp_kds_item *item, char *out, size_t out_len)
{
    ccg_result result = CCG_FAILURE;
    char rel[256];
    CCG_TRY(check_item(item));
    CCG_ENSURE_MSG(cache_dir != NULL && cache_dir[0] != '\0', CCG_R_USAGE_INVALID, "no cache directory given");
    int n = relative_path(item, rel, sizeof(rel));
    CCG_ENSURE_MSG(n > 0 && (size_t)n < sizeof(rel), CCG_R_INTERNAL_ERROR, "cache path component out of shape");
    size_t dir_len = strlen(cache_dir);
    while (dir_len > 1 && cache_dir[dir_len - 1] == '/') {
        dir_len--;
    }
    CCG_TRY(format_fits(snprintf(out, out_len, "%.*s/%s", (int)dir_len, cache_dir, rel), out_len, "the cache path"));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_snp_kds_item_id(const ccg_snp_kds_item *item, char *out, size_t out_len)
{
    ccg_result result = CCG_FAILURE;
    char rel[256];
    CCG_TRY(check_item(item));
    int n = relative_path(item, rel, sizeof(rel));
    CCG_ENSURE_MSG(n > 4 && (size_t)n < sizeof(rel), CCG_R_INTERNAL_ERROR, "collateral ID component out of shape");
    rel[n - 4] = 0; /* without ".der" / ".pem" */
    CCG_TRY(format_fits(snprintf(out, out_len, "snp/%s", rel), out_len, "the collateral ID"));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* n lowercase hex digits, then end of string or '/'; returns what follows, or NULL. */
static const char *hex_part(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return NULL;
        }
    }
    return s + n;
}

int ccg_snp_kds_id_kind(const char *id, ccg_snp_kds_kind *kind, ccg_snp_signer *signer)
{
    static const ccg_snp_product products[] = {CCG_SNP_PRODUCT_MILAN, CCG_SNP_PRODUCT_GENOA, CCG_SNP_PRODUCT_TURIN};
    static const struct {
        const char *tail;
        ccg_snp_kds_kind kind;
        ccg_snp_signer signer;
    } fixed[] = {{"cert_chain", CCG_SNP_KDS_CHAIN, CCG_SNP_SIGNER_VCEK},
                 {"vlek_cert_chain", CCG_SNP_KDS_CHAIN, CCG_SNP_SIGNER_VLEK},
                 {"crl", CCG_SNP_KDS_CRL, CCG_SNP_SIGNER_VCEK},
                 {"vlek_crl", CCG_SNP_KDS_CRL, CCG_SNP_SIGNER_VLEK}};
    if (id == NULL || strncmp(id, "snp/", 4) != 0) {
        return 0;
    }
    for (size_t i = 0; i < sizeof(products) / sizeof(products[0]); i++) {
        const char *name = ccg_snp_kds_product_dir(products[i]);
        size_t nl = strlen(name);
        const char *rest = id + 4, *end;
        if (strncmp(rest, name, nl) != 0 || rest[nl] != '/') {
            continue;
        }
        rest += nl + 1;
        for (size_t j = 0; j < sizeof(fixed) / sizeof(fixed[0]); j++) {
            if (strcmp(rest, fixed[j].tail) == 0) {
                *kind = fixed[j].kind;
                *signer = fixed[j].signer;
                return 1;
            }
        }
        *kind = CCG_SNP_KDS_KEY;
        if (strncmp(rest, "vlek/", 5) == 0) {
            end = hex_part(rest + 5, 16);
            *signer = CCG_SNP_SIGNER_VLEK;
            return end != NULL && *end == 0;
        }
        if (strncmp(rest, "vcek/", 5) == 0) {
            end = hex_part(rest + 5, 2 * ccg_snp_hwid_len(products[i]));
            end = end != NULL && *end == '/' ? hex_part(end + 1, 16) : NULL;
            *signer = CCG_SNP_SIGNER_VCEK;
            return end != NULL && *end == 0;
        }
        return 0;
    }
    return 0;
}

static ccg_result product_for_report(ccg_snp_product given, const ccg_snp_report *r, ccg_snp_product *out)
{
    ccg_result result = CCG_FAILURE;
    ccg_snp_product cpuid = ccg_snp_product_from_cpuid(r);
    CCG_ENSURE_MSG(given != CCG_SNP_PRODUCT_UNKNOWN || cpuid != CCG_SNP_PRODUCT_UNKNOWN, CCG_R_SNP_PRODUCT_UNKNOWN,
                   "the report (version %u) does not name its product; give it explicitly", r->version);
    CCG_ENSURE_MSG(given == CCG_SNP_PRODUCT_UNKNOWN || cpuid == CCG_SNP_PRODUCT_UNKNOWN || given == cpuid,
                   CCG_R_SNP_PRODUCT_MISMATCH, "the product given (%s) differs from the report's CPUID product (%s)",
                   ccg_snp_product_name(given), ccg_snp_product_name(cpuid));
    *out = given != CCG_SNP_PRODUCT_UNKNOWN ? given : cpuid;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_snp_kds_item_from_report(ccg_snp_product product, const uint8_t *report, size_t report_len,
                                        ccg_snp_kds_item *out)
{
    ccg_result result = CCG_FAILURE;
    ccg_snp_report r;
    memset(out, 0, sizeof(*out));
    CCG_TRY(ccg_snp_report_parse(report, report_len, &r));
    CCG_TRY(product_for_report(product, &r, &out->product));
    out->kind = CCG_SNP_KDS_KEY;
    out->signer = ccg_snp_report_signer(&r);
    CCG_ENSURE_MSG(signer_known(out->signer), CCG_R_SNP_SIGNING_KEY_UNSUPPORTED,
                   "the report's SIGNING_KEY is %d, which has no KDS collateral", (int)out->signer);
    memcpy(out->chip_id, r.chip_id, sizeof(out->chip_id));
    CCG_TRY(ccg_snp_tcb_decode(out->product, r.reported_tcb, &out->tcb));
    result = CCG_SUCCESS;
cleanup:
    return result;
}
