/* Error reporting shared by the subcommands. */
#include <jansson.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/version.h"
#include "cli.h"

int cli_parse_result(int parsed, void (*usage)(FILE *))
{
    switch (parsed) {
    case 0: return -1;
    case 1:
    case CCG_CLI_EXIT_0: return CLI_EXIT_OK;
    case CCG_CLI_EXIT_2: return CLI_EXIT_USAGE;
    default:
        if (usage != NULL) {
            usage(stderr);
        }
        return CLI_EXIT_USAGE;
    }
}

static void group_usage(FILE *out, const char *name, const char *summary, const cli_sub *subs, size_t count)
{
    fprintf(out, "Usage: %s COMMAND [options]\n%s\n\nCommands:\n", name, summary);
    for (size_t i = 0; i < count; i++) {
        fprintf(out, "  %-14s %s\n", subs[i].word, subs[i].summary);
    }
    fprintf(out,
            "\nOptions:\n"
            "  -h, --help     print this help and exit\n"
            "      --version  print the version and exit\n"
            "\nRun '%s COMMAND --help' for a command's options.\n"
            "Exit status: 0 success or allow, 1 deny or refused, 2 usage, input or dependency error.\n",
            name);
}

int cli_group(const char *name, const char *summary, const cli_sub *subs, size_t count, int argc, char **argv,
              int *exit_code)
{
    /* The group's own options are parsed with the convention's message shapes; no usage/options table is
     * needed beyond the standard ones. */
    ccg_cli cli = {name, NULL, NULL, NULL};
    const char *w = argc >= 2 ? argv[1] : NULL;
    *exit_code = CLI_EXIT_USAGE;
    if (w == NULL) {
        group_usage(stderr, name, summary, subs, count);
        return -1;
    }
    if (strcmp(w, "--help") == 0 || strcmp(w, "-h") == 0 || strcmp(w, "help") == 0) {
        group_usage(stdout, name, summary, subs, count);
        *exit_code = CLI_EXIT_OK;
        return -1;
    }
    if (strcmp(w, "--version") == 0) {
        ccg_version_print(stdout, name);
        *exit_code = CLI_EXIT_OK;
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        if (strcmp(w, subs[i].word) == 0) {
            return (int)i;
        }
    }
    if (w[0] == '-') {
        (void)ccg_cli_usage_error(&cli, "unknown option '%s'", w);
    } else {
        (void)ccg_cli_unknown_command(&cli, w);
    }
    return -1;
}

const char *cli_subname(char *buf, size_t n, const char *parent, const char *sub)
{
    snprintf(buf, n, "%s %s", parent, sub);
    return buf;
}

int cli_now(const ccg_cli *cli, const char *text, ccg_time *out)
{
    int64_t epoch = 0;
    if (text == NULL) {
        *out = ccg_cli_now(cli, 0, 0);
        return 0;
    }
    if (text[0] >= '0' && text[0] <= '9' && strchr(text, '-') == NULL) {
        if (ccg_cli_int(cli, "--now", text, 1, INT64_MAX / 2, &epoch) != 0) {
            return CCG_CLI_EXIT_2;
        }
        *out = epoch;
        return 0;
    }
    if (ccg_failed(ccg_time_parse_rfc3339(text, out))) {
        ccg_error_clear();
        return ccg_cli_usage_error(cli, "--now: %s: '%s' is neither RFC 3339 (2025-01-01T00:00:00Z) nor epoch seconds",
                                   ccg_reason_code(CCG_R_INPUT_BAD_TIME), text);
    }
    return 0;
}

int cli_legacy_version(const ccg_cli *cli, int argc, char **argv, const char **value)
{
    if (optarg != NULL) {
        *value = optarg;
        return 0;
    }
    if (optind < argc && argv[optind][0] >= '0' && argv[optind][0] <= '9') {
        *value = argv[optind++];
        return 0;
    }
    ccg_version_print(stdout, cli->name);
    return CCG_CLI_EXIT_0;
}

int cli_exit_for_reason(ccg_reason reason)
{
    switch (ccg_reason_kind_of(reason)) {
    case CCG_KIND_DENY: return CLI_EXIT_DENY;
    case CCG_KIND_OK: return CLI_EXIT_OK;
    default: return CLI_EXIT_USAGE;
    }
}

void cli_print_error_json(const char *context, ccg_reason reason, json_t *details)
{
    json_t *obj = json_pack("{s:s, s:o}", "error", context, "reason", ccg_reason_to_json(reason, details));
    char *text = obj ? json_dumps(obj, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    if (text != NULL) {
        printf("%s\n", text);
    }
    free(text);
    json_decref(obj);
}

int cli_report_error(const char *context, int json)
{
    const ccg_error *e = ccg_error_last();
    ccg_reason reason = e->reason == CCG_R_OK ? CCG_R_INTERNAL_ERROR : e->reason;
    if (json) {
        json_t *details = json_pack("{s:s}", "detail", e->message);
        cli_print_error_json(context, reason, details);
        json_decref(details);
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
    if (path == NULL || ccg_cli_is_stdio(path)) {
        printf("%s\n", text);
        rc = CLI_EXIT_OK;
    } else if (ccg_ok(cli_file_write(path, (const uint8_t *)text, strlen(text)))) {
        rc = CLI_EXIT_OK;
    } else {
        rc = cli_report_error(context, 0);
    }
    free(text);
    return rc;
}

/* "-" is standard input: read it to the end, with the same bound as a file. */
static ccg_result read_stdin(size_t max_len, uint8_t **out, size_t *out_len)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0, n;
    do {
        if (len == cap) {
            CCG_ENSURE_MSG(cap <= max_len, CCG_R_INPUT_TOO_LARGE, "standard input is larger than %zu bytes", max_len);
            size_t next = cap ? cap * 2 : 4096;
            next = next > max_len + 1 ? max_len + 1 : next;
            uint8_t *grown = realloc(buf, next + 1);
            CCG_ENSURE_ALLOC(grown);
            buf = grown;
            cap = next;
        }
        n = fread(buf + len, 1, cap - len, stdin);
        len += n;
    } while (n != 0);
    CCG_ENSURE_MSG(!ferror(stdin), CCG_R_IO_READ_FAILED, "cannot read standard input");
    CCG_ENSURE_MSG(len <= max_len, CCG_R_INPUT_TOO_LARGE, "standard input is larger than %zu bytes", max_len);
    if (buf == NULL) {
        buf = malloc(1);
        CCG_ENSURE_ALLOC(buf);
    }
    buf[len] = 0;
    *out = buf;
    *out_len = len;
    buf = NULL;
    result = CCG_SUCCESS;
cleanup:
    free(buf);
    return result;
}

ccg_result cli_file_read(const char *path, size_t max_len, uint8_t **out, size_t *out_len)
{
    return ccg_cli_is_stdio(path) ? read_stdin(max_len, out, out_len) : ccg_file_read(path, max_len, out, out_len);
}

ccg_result cli_file_write(const char *path, const uint8_t *data, size_t len)
{
    ccg_result result = CCG_FAILURE;
    if (!ccg_cli_is_stdio(path)) {
        return ccg_file_write(path, data, len);
    }
    CCG_ENSURE_MSG(fwrite(data, 1, len, stdout) == len && fflush(stdout) == 0, CCG_R_IO_WRITE_FAILED,
                   "cannot write standard output");
    result = CCG_SUCCESS;
cleanup:
    return result;
}

FILE *cli_fopen_read(const char *path)
{
    int fd;
    FILE *f;
    if (!ccg_cli_is_stdio(path)) {
        return fopen(path, "r");
    }
    fd = dup(STDIN_FILENO);
    f = fd >= 0 ? fdopen(fd, "r") : NULL;
    if (f == NULL && fd >= 0) {
        close(fd);
    }
    return f;
}

void cli_usage_for(FILE *out, const char *name, const char *text)
{
    const char *end = strstr(text, "\n\n");
    const char *p = text;
    size_t nlen = strlen(name);
    int printed = 0, mine = 0;
    if (end == NULL) {
        end = text + strlen(text);
    }
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *s = p;
        eol = eol != NULL ? eol : end;
        while (s < eol && *s == ' ') {
            s++;
        }
        if ((size_t)(eol - s) > 7 && strncmp(s, "ccgate ", 7) == 0) {
            mine = strncmp(s, name, nlen) == 0 && (s[nlen] == ' ' || s + nlen == eol);
            if (mine) {
                fprintf(out, "%s%.*s\n", printed ? "       " : "Usage: ", (int)(eol - s), s);
                printed = 1;
            }
        } else if (mine) {
            fprintf(out, "%.*s\n", (int)(eol - p), p); /* a continuation line, indented as written */
        }
        p = eol + 1;
    }
    if (!printed) {
        fprintf(out, "Usage: %s [options]\n", name);
    }
    fputs(*end == '\n' ? end + 1 : end, out); /* end is the last form's newline, already printed */
}

int cli_check_option(const ccg_cli *cli, int c, const char *allowed)
{
    const char *name = "?";
    if (allowed == NULL || c < 0 || (c > 0 && c < 0x80 && strchr(allowed, c) != NULL)) {
        return 0;
    }
    for (const struct option *o = cli->options; o != NULL && o->name != NULL; o++) {
        if (o->val == c) {
            name = o->name;
            break;
        }
    }
    return ccg_cli_usage_error(cli, "--%s does not apply to this command", name);
}
