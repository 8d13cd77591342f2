/* Attester backends: how a guest obtains hardware evidence bound to 64 bytes of REPORT_DATA.
 *
 *   configfs-tsm  Linux's /sys/kernel/config/tsm/report (inblob, outblob, auxblob, provider, generation);
 *                 SEV-SNP (provider "sev_guest") and TDX (provider "tdx_guest").
 *   sev-guest     /dev/sev-guest ioctls SNP_GET_REPORT and SNP_GET_EXT_REPORT.
 *   emulator      ccgate's software SNP firmware (test root); only when the configuration names it.
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
ccg_tee_type ccg_attester_tee(const ccg_attester *a);
/* Fresh evidence whose REPORT_DATA is exactly report_data. */
CCG_MUST_CHECK ccg_result ccg_attester_get_evidence(ccg_attester *a, const uint8_t report_data[CCG_ATTESTER_REPORT_DATA_LEN],
                                                    ccg_evidence *out);
void ccg_evidence_free(ccg_evidence *ev);
void ccg_attester_close(ccg_attester *a);

#endif
