/* Internal to the attester (the files of src/attest): the handle and the backends' entry points. */
#ifndef CCGATE_ATTEST_INTERNAL_H
#define CCGATE_ATTEST_INTERNAL_H

#include "ccgate/attester.h"
#include "ccgate/snp_emulator.h"
#include "ccgate/tdx_emulator.h"

#define CCG_TSM_ROOT_DEFAULT "/sys/kernel/config/tsm/report"
#define CCG_SEV_GUEST_DEFAULT "/dev/sev-guest"

typedef ccg_result (*attest_get_fn)(ccg_attester *a, const uint8_t report_data[CCG_ATTESTER_REPORT_DATA_LEN],
                                    ccg_evidence *out);

struct ccg_attester {
    ccg_attester_kind kind; /* the backend chosen (never AUTO) */
    ccg_tee_type tee;
    uint32_t vmpl;
    char *path;             /* tsm_root, the sev-guest device or the emulator directory */
    attest_get_fn get;
    int fd;                 /* /dev/sev-guest, else -1 */
    unsigned seq;           /* names configfs-tsm report entries */
    ccg_snp_emulator *emu;  /* the emulator backend's state */
    ccg_snp_emulator_launch launch;
    ccg_tdx_emu *tdx;       /* the emulator backend's software TD, when its state is a TD's */
    ccg_tdx_emu_td td;
};

CCG_MUST_CHECK ccg_result attest_emulator_open(ccg_attester *a);
CCG_MUST_CHECK ccg_result attest_tsm_open(ccg_attester *a);
CCG_MUST_CHECK ccg_result attest_sev_guest_open(ccg_attester *a);
/* 1 when tsm_root is a writable directory (AUTO's first probe). */
int attest_tsm_present(const char *tsm_root);
/* 1 when the device can be opened read-write (AUTO's second probe). */
int attest_sev_guest_present(const char *path);

/* Copies len bytes into a fresh malloc'd buffer (NULL, 0 stays NULL). */
CCG_MUST_CHECK ccg_result attest_dup(const uint8_t *p, size_t len, uint8_t **out);

#endif
