/* ccgate reasons: the reason-code registry. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cmd_reasons(int argc, char **argv)
{
    int json = 0, markdown = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "--markdown") == 0) {
            markdown = 1;
        } else if (strcmp(argv[i], "--help") == 0) {
            printf("usage: ccgate reasons [--json | --markdown]\n"
                   "Lists every stable reason code with its component, kind and operator message.\n");
            return CLI_EXIT_OK;
        } else {
            fprintf(stderr, "ccgate reasons: unknown option '%s'\n", argv[i]);
            return CLI_EXIT_USAGE;
        }
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
