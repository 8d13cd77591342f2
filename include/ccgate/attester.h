/* Attester backends: how a guest obtains hardware evidence bound to 64 bytes of REPORT_DATA.
 *
 *   configfs-tsm  Linux's /sys/kernel/config/tsm/report (inblob, outblob, auxblob, provider, generation);
 *                 SEV-SNP (provider "sev_guest") and TDX (provider "tdx_guest").
 *   sev-guest     /dev/sev-guest ioctls SNP_GET_REPORT and SNP_GET_EXT_REPORT.
 *   emulator      ccgate's software SNP firmware or software TD (test roots); only when the configuration names it.
 *
 * "auto" probes configfs-tsm, then /dev/sev-guest, and otherwise fails with attest.no_tee: the
 * emulator is never chosen silently. Every byte a kernel interface returns goes through the bounded reader. */
#ifndef CCGATE_ATTESTER_H
#define CCGATE_ATTESTER_H

#include <stddef.h>
#include <stdint.h>

#include "ccgate/result.h"

#define CCG_ATTESTER_REPORT_DATA_LEN 64

typedef enum {
    CCG_ATTESTER_AUTO = 0,
    CCG_ATTESTER_CONFIGFS_TSM,
    CCG_ATTESTER_SEV_GUEST,
    CCG_ATTESTER_EMULATOR,
} ccg_attester_kind;

typedef enum {
    CCG_TEE_NONE = 0,
    CCG_TEE_SNP,
    CCG_TEE_TDX,
} ccg_tee_type;

typedef struct {
    ccg_attester_kind kind;
    const char *tsm_root;        /* default /sys/kernel/config/tsm/report */
    const char *sev_guest_path;  /* default /dev/sev-guest */
    const char *emulator_dir;    /* emulator state (keys, launch inputs); needed for CCG_ATTESTER_EMULATOR */
    uint32_t vmpl;               /* privilege level to request (configfs "privlevel"), default 0 */
} ccg_attester_config;

typedef struct {
    ccg_tee_type tee;
    uint8_t *report;   /* raw report (SNP: 1184 bytes; TDX: the quote) */
    size_t report_len;
    uint8_t *certs;    /* SNP certificate table (auxblob / extended report), may be NULL */
    size_t certs_len;
} ccg_evidence;

typedef struct ccg_attester ccg_attester;

/* Opens the configured backend; AUTO with no TEE found is attest.no_tee. */
CCG_MUST_CHECK ccg_result ccg_attester_open(const ccg_attester_config *cfg, ccg_attester **out);
const char *ccg_attester_name(const ccg_attester *a);
/* Configuration names: "auto", "configfs-tsm", "sev-guest", "emulator" (usage.invalid otherwise). */
CCG_MUST_CHECK ccg_result ccg_attester_kind_from_name(const char *name, ccg_attester_kind *out);
const char *ccg_attester_kind_name(ccg_attester_kind kind);
ccg_tee_type ccg_attester_tee(const ccg_attester *a);
/* Fresh evidence whose REPORT_DATA is exactly report_data. */
CCG_MUST_CHECK ccg_result ccg_attester_get_evidence(ccg_attester *a, const uint8_t report_data[CCG_ATTESTER_REPORT_DATA_LEN],
                                                    ccg_evidence *out);
void ccg_evidence_free(ccg_evidence *ev);
void ccg_attester_close(ccg_attester *a);

/* ---- Parsers of what the kernel interfaces return (bounded reader; fuzzed by fuzz_attest_kernel) ---- */

#define CCG_ATTESTER_OUTBLOB_MAX (64u * 1024u) /* an SNP report is 1184 bytes; a TDX quote a few KiB */
#define CCG_ATTESTER_CERTS_MAX (64u * 1024u)   /* the kernel caps the SNP certificate blob at 16 KiB */
#define CCG_ATTESTER_SMALL_ATTR_MAX 64u        /* provider, generation */
#define CCG_SEV_GUEST_CERTS_MAX (16u * 1024u)  /* the sev-guest driver's SEV_FW_BLOB_MAX_SIZE: larger is -EINVAL */

/* configfs-tsm "provider": "sev_guest" -> SNP, "tdx_guest" -> TDX (one trailing newline allowed);
 * anything else is attest.provider_unknown. */
CCG_MUST_CHECK ccg_result ccg_attest_parse_provider(const uint8_t *buf, size_t len, ccg_tee_type *out);
/* configfs-tsm "generation": a decimal counter, one trailing newline allowed (attest.output_malformed). */
CCG_MUST_CHECK ccg_result ccg_attest_parse_generation(const uint8_t *buf, size_t len, uint64_t *out);
/* Checks evidence as a backend returned it: an SNP report is exactly 1184 bytes of a known version whose
 * REPORT_DATA is report_data; a TDX quote (v4 or v5) carries report_data in its TD report body.
 * attest.output_malformed or attest.report_data_mismatch. */
CCG_MUST_CHECK ccg_result ccg_attest_check_report(ccg_tee_type tee, const uint8_t *buf, size_t len,
                                                  const uint8_t report_data[CCG_ATTESTER_REPORT_DATA_LEN]);

/* The SNP certificate table (GHCB spec 56421, MSG_REPORT_REQ / SNP extended report; configfs-tsm
 * auxblob): 24-byte entries {GUID (RFC 4122 byte order), u32le offset, u32le length} ended by an
 * all-zero entry, offsets counted from the table's start, certificates in DER after the table. */
typedef enum {
    CCG_SNP_CERT_OTHER = 0,
    CCG_SNP_CERT_VCEK,
    CCG_SNP_CERT_VLEK,
    CCG_SNP_CERT_ASK,
    CCG_SNP_CERT_ARK,
} ccg_snp_cert_kind;

#define CCG_SNP_CERT_TABLE_MAX_ENTRIES 16u

typedef struct {
    ccg_snp_cert_kind kind;
    uint8_t guid[16];
    const uint8_t *der; /* borrowed from the table */
    size_t der_len;
} ccg_snp_cert_entry;

/* Parses a table into entries (at most max). Bytes after the last certificate must be zero (the
 * kernel hands out a page-sized buffer). *used_len: the bytes the table and its certificates span.
 * attest.output_malformed for overlapping or out-of-range entries, duplicate GUIDs, a missing
 * terminator; attest.certs_too_large beyond CCG_ATTESTER_CERTS_MAX or max entries. */
CCG_MUST_CHECK ccg_result ccg_snp_cert_table_parse(const uint8_t *buf, size_t len, ccg_snp_cert_entry *entries,
                                                   size_t max, size_t *n, size_t *used_len);
/* Builds a table from entries (kind picks the GUID; CCG_SNP_CERT_OTHER uses entry->guid). */
CCG_MUST_CHECK ccg_result ccg_snp_cert_table_build(const ccg_snp_cert_entry *entries, size_t n, uint8_t **out,
                                                   size_t *out_len);
const char *ccg_snp_cert_kind_name(ccg_snp_cert_kind kind);

/* /dev/sev-guest: the MSG_REPORT_RSP in snp_report_resp.data (status u32, report_size u32, 24 reserved
 * bytes, the report). A non-zero status is attest.kernel_error; a report_size other than 1184,
 * non-zero reserved bytes or a short buffer are attest.output_malformed. *report borrows buf. */
CCG_MUST_CHECK ccg_result ccg_attest_parse_sev_guest_resp(const uint8_t *buf, size_t len, const uint8_t **report);
/* The outcome of an SNP_GET_(EXT_)REPORT ioctl: rc and errno as returned, the fw_error/vmm_error
 * words, and the certs_len the kernel wrote back. When the certificate buffer was too small it
 * succeeds with *retry_len = the size needed, or fails with attest.certs_too_large when that is more
 * than the driver accepts (CCG_SEV_GUEST_CERTS_MAX). */
CCG_MUST_CHECK ccg_result ccg_attest_sev_guest_status(int rc, int err, uint32_t fw_error, uint32_t vmm_error,
                                                      uint32_t certs_len_back, size_t *retry_len);

#endif
