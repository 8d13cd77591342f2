/* ccgate kds: placeholder while the KDS client lands in this session. */
#include "cli.h"
int cmd_kds(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "ccgate kds: not built yet\n");
    return CLI_EXIT_USAGE;
}
