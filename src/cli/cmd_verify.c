/* ccgate verify: placeholder while the verifier lands in this session. */
#include "cli.h"
int cmd_verify(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "ccgate verify: not built yet\n");
    return CLI_EXIT_USAGE;
}
