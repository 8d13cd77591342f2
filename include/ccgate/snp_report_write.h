/* Serialization of an SEV-SNP ATTESTATION_REPORT: the inverse of ccg_snp_report_parse.
 * Used by the software SNP firmware (snp_emulator.h) and by tests. */
#ifndef CCGATE_SNP_REPORT_WRITE_H
#define CCGATE_SNP_REPORT_WRITE_H

#include <stdint.h>

#include "ccgate/result.h"
#include "ccgate/snp_report.h"

/* Writes every field of r at its offset: v2 leaves the CPUID bytes zero, v5 adds the two MIT vectors
 * at 0x1F8/0x200, every reserved byte is zero, and R and S are copied as stored (72 bytes each,
 * little-endian) at 0x2A0 and 0x2E8. Fails with snp.report_version_unsupported unless the version
 * is 2, 3 or 5, since only those have a defined layout. */
CCG_MUST_CHECK ccg_result ccg_snp_report_serialize(const ccg_snp_report *r, uint8_t out[CCG_SNP_REPORT_SIZE]);

#endif
