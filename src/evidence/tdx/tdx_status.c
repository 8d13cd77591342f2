/* Intel's TCB status names, as TCB info and QE identity spell them (and QVL's two relaunch results). */
#include <string.h>

#include "ccgate/tdx_verify.h"

static const char *const NAMES[CCG_TDX_STATUS_COUNT] = {
    [CCG_TDX_STATUS_NONE] = "None",
    [CCG_TDX_STATUS_UP_TO_DATE] = "UpToDate",
    [CCG_TDX_STATUS_SW_HARDENING_NEEDED] = "SWHardeningNeeded",
    [CCG_TDX_STATUS_CONFIGURATION_NEEDED] = "ConfigurationNeeded",
    [CCG_TDX_STATUS_CONFIGURATION_AND_SW_HARDENING_NEEDED] = "ConfigurationAndSWHardeningNeeded",
    [CCG_TDX_STATUS_OUT_OF_DATE] = "OutOfDate",
    [CCG_TDX_STATUS_OUT_OF_DATE_CONFIGURATION_NEEDED] = "OutOfDateConfigurationNeeded",
    [CCG_TDX_STATUS_TD_RELAUNCH_ADVISED] = "TDRelaunchAdvised",
    [CCG_TDX_STATUS_TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED] = "TDRelaunchAdvisedConfigurationNeeded",
    [CCG_TDX_STATUS_REVOKED] = "Revoked",
};

const char *ccg_tdx_status_name(ccg_tdx_tcb_status s)
{
    return (unsigned)s < CCG_TDX_STATUS_COUNT ? NAMES[s] : "None";
}

ccg_tdx_tcb_status ccg_tdx_status_from_name(const char *name)
{
    for (int i = 1; i < CCG_TDX_STATUS_COUNT; i++) {
        if (strcmp(name, NAMES[i]) == 0) {
            return (ccg_tdx_tcb_status)i;
        }
    }
    return CCG_TDX_STATUS_NONE;
}
