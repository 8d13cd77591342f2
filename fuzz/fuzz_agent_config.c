/* libFuzzer target: the guest agent's configuration parser. Whatever it refuses must carry a reason
 * code; whatever it accepts must free cleanly. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ccgate/agent.h"
#include "ccgate/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ccg_agent_config cfg;
    ccg_error_clear();
    if (ccg_failed(ccg_agent_config_parse((const char *)data, size, &cfg))) {
        if (ccg_error_reason() == CCG_R_OK) {
            abort();
        }
        return 0;
    }
    ccg_agent_config_free(&cfg);
    return 0;
}
