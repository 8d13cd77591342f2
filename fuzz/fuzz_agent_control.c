/* libFuzzer target: the control channel's framing and parsing between ccgate-agent and ccgate-endpoint
 * (docs/agent.md, "Control channel"). The input arrives on a socketpair in one write, the writer closes,
 * and the reader takes lines until it refuses or sees the end; a refusal must carry a reason code and
 * every accepted message must be an object with an "op". The bound is small so long lines are hit. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ccgate/agent.h"
#include "ccgate/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int sv[2];
    ccg_ctl_reader r;
    if (size > 60000 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        return 0; /* one write must fit the socket buffer */
    }
    if (size > 0 && write(sv[1], data, size) != (ssize_t)size) {
        abort();
    }
    close(sv[1]);
    ccg_ctl_reader_init(&r, sv[0], 1024);
    for (int i = 0; i < 4096; i++) {
        json_t *msg = NULL;
        ccg_error_clear();
        if (ccg_failed(ccg_ctl_recv(&r, 0, &msg))) {
            if (ccg_error_reason() == CCG_R_OK) {
                abort();
            }
            break;
        }
        if (msg != NULL && !json_is_string(json_object_get(msg, "op"))) {
            abort();
        }
        json_decref(msg);
    }
    ccg_ctl_reader_free(&r);
    close(sv[0]);
    return 0;
}
