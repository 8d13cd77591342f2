/* ccgate reasons: the reason-code registry. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: ccgate reasons [--json | --markdown]\n"
            "Lists every stable reason code with its component, kind and operator message.\n"
            "\n"
            "Options:\n"
            "      --json      the registry as JSON\n"
            "      --markdown  the registry as the Markdown table of docs/reason-codes.md\n"
            "  -h, --help      print this help and exit\n"
            "      --version   print the version and exit\n"
            "\n"
            "Exit status: 0 success, 2 bad usage.\n");
}

int cmd_reasons(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, 0, 'j'},
        {"markdown", no_argument, 0, 'm'},
        CCG_CLI_STD_OPTIONS,
        {0, 0, 0, 0},
    };
    const ccg_cli cli = {"ccgate reasons", usage, opts, NULL};
    int json = 0, markdown = 0, c;
    ccg_cli_begin();
    while ((c = ccg_cli_next(&cli, argc, argv)) != CCG_CLI_END) {
        switch (c) {
        case 'j': json = 1; break;
        case 'm': markdown = 1; break;
        default: return ccg_cli_exit(c);
        }
    }
    if (optind != argc) {
        return ccg_cli_exit(ccg_cli_usage_error(&cli, "unexpected argument '%s'", argv[optind]));
    }
    if (markdown) {
        char *md = ccg_reason_registry_markdown();
        if (md == NULL) {
            return CLI_EXIT_USAGE;
        }
        fputs(md, stdout);
        free(md);
        return CLI_EXIT_OK;
    }
    if (json) {
        json_t *reg = ccg_reason_registry_json();
        char *text = reg ? json_dumps(reg, JSON_INDENT(2)) : NULL;
        if (text != NULL) {
            printf("%s\n", text);
        }
        free(text);
        json_decref(reg);
        return text ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    }
    for (int i = 1; i < CCG_R__COUNT; i++) {
        printf("%-34s %-11s %s\n", ccg_reason_code((ccg_reason)i), ccg_reason_component((ccg_reason)i),
               ccg_reason_message((ccg_reason)i));
    }
    return CLI_EXIT_OK;
}
