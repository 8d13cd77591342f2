/* Error reporting shared by the subcommands. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_expect_snp(const char *cmd, int argc, char **argv, void (*usage)(FILE *))
{
    if (argc >= 2 && strcmp(argv[1], "snp") == 0) {
        return -1;
    }
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    fprintf(stderr, "usage: ccgate %s snp ... (see 'ccgate %s snp --help')\n", cmd, cmd);
    return CLI_EXIT_USAGE;
}

int cli_parse_result(int parsed, void (*usage)(FILE *))
{
    if (parsed < 0) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    return parsed == 0 ? -1 : CLI_EXIT_OK;
}

int cli_exit_for_reason(ccg_reason reason)
{
    switch (ccg_reason_kind_of(reason)) {
    case CCG_KIND_DENY: return CLI_EXIT_DENY;
    case CCG_KIND_OK: return CLI_EXIT_OK;
    default: return CLI_EXIT_USAGE;
    }
}

int cli_report_error(const char *context, int json)
{
    const ccg_error *e = ccg_error_last();
    ccg_reason reason = e->reason == CCG_R_OK ? CCG_R_INTERNAL_ERROR : e->reason;
    if (json) {
        json_t *details = json_pack("{s:s}", "detail", e->message);
        json_t *obj = json_pack("{s:s, s:o}", "error", context, "reason", ccg_reason_to_json(reason, details));
        json_decref(details);
        char *text = obj ? json_dumps(obj, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
        if (text != NULL) {
            printf("%s\n", text);
        }
        free(text);
        json_decref(obj);
    }
    fprintf(stderr, "ccgate: %s: %s: %s (%s)\n", context, ccg_reason_code(reason), ccg_reason_message(reason),
            e->message);
    return cli_exit_for_reason(reason);
}

ccg_result cli_load_tcb_baselines(const char *const *paths, int count, ccg_snp_tcb_baselines *set)
{
    ccg_result result = CCG_FAILURE;
    for (int i = 0; i < count; i++) {
        CCG_TRY(ccg_snp_tcb_baselines_load(set, paths[i]));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

int cli_write_json(const json_t *doc, const char *path, const char *context)
{
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
    int rc = CLI_EXIT_USAGE;
    if (text == NULL) {
        return rc;
    }
    if (path == NULL) {
        printf("%s\n", text);
        rc = CLI_EXIT_OK;
    } else if (ccg_ok(ccg_file_write(path, (const uint8_t *)text, strlen(text)))) {
        rc = CLI_EXIT_OK;
    } else {
        rc = cli_report_error(context, 0);
    }
    free(text);
    return rc;
}
