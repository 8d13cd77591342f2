/* AMD's X.509 extensions on a VCEK or VLEK (AMD KDS interface specification):
 *   1.3.6.1.4.1.3704.1.1    structVersion  INTEGER
 *   1.3.6.1.4.1.3704.1.2    productName    IA5String ("Milan-B0", "Genoa", "Turin-B0")
 *   1.3.6.1.4.1.3704.1.3.1  blSPL          INTEGER
 *   1.3.6.1.4.1.3704.1.3.2  teeSPL         INTEGER
 *   1.3.6.1.4.1.3704.1.3.3  snpSPL         INTEGER
 *   1.3.6.1.4.1.3704.1.3.8  ucodeSPL       INTEGER
 *   1.3.6.1.4.1.3704.1.3.9  fmcSPL         INTEGER (Turin)
 *   1.3.6.1.4.1.3704.1.4    hwID           the chip ID: raw bytes, or an OCTET STRING holding them (VCEK only)
 *   1.3.6.1.4.1.3704.1.5    cspID          IA5String (VLEK only) */
#ifndef CCGATE_SNP_VCEK_H
#define CCGATE_SNP_VCEK_H

#include <openssl/x509.h>

#include "ccgate/result.h"
#include "ccgate/snp_report.h"

typedef struct {
    int struct_version;
    char product_name[32];
    int has_bl, has_tee, has_snp, has_ucode, has_fmc;
    ccg_snp_tcb tcb;
    int has_hwid;
    uint8_t hwid[64];
    size_t hwid_len;
    char csp_id[64];
} ccg_snp_vcek_ext;

/* Reads the extensions. Fails with snp.vcek_extension_malformed when one is present but not of its
 * type or range; absent extensions are reported through the has_* flags. */
CCG_MUST_CHECK ccg_result ccg_snp_vcek_ext_parse(X509 *cert, ccg_snp_vcek_ext *out);

#endif
