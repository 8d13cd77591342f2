/* The command-line convention every program shares (include/ccgate/cli_args.h, docs/cli.md). getopt_long
 * does the parsing; this file gives every command the same messages, exit statuses and standard options. */
#include "ccgate/cli_args.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ccgate/version.h"

void ccg_cli_begin(void)
{
    optind = 0; /* 0, not 1: glibc then resets its internal state for a new argv */
    opterr = 0;
}

static void hint(const ccg_cli *cli)
{
    fprintf(stderr, "Try '%s --help'.\n", cli->name);
}

int ccg_cli_usage_error(const ccg_cli *cli, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", cli->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    hint(cli);
    return CCG_CLI_EXIT_2;
}

/* The option as the user wrote it, for the message (argv[optind-1] after getopt_long has stepped past). */
static const char *offending(int argc, char **argv)
{
    int i = optind - 1;
    return (i > 0 && i < argc) ? argv[i] : "?";
}

int ccg_cli_next(const ccg_cli *cli, int argc, char **argv)
{
    const char *shorts = cli->short_options != NULL ? cli->short_options : "";
    char spec[64];
    int c;
    /* ':' first: a missing value is reported apart from an unknown option; 'h' is always help. */
    if (snprintf(spec, sizeof(spec), ":h%s", shorts) >= (int)sizeof(spec)) {
        return ccg_cli_usage_error(cli, "internal: too many short options");
    }
    c = getopt_long(argc, argv, spec, cli->options, NULL);
    switch (c) {
    case -1:
        return CCG_CLI_END;
    case 'h':
    case CCG_CLI_OPT_HELP:
        cli->usage(stdout);
        return CCG_CLI_EXIT_0;
    case CCG_CLI_OPT_VERSION:
        ccg_version_print(stdout, cli->name);
        return CCG_CLI_EXIT_0;
    case ':':
        return ccg_cli_usage_error(cli, "option '%s' needs a value", offending(argc, argv));
    case '?':
        if (optopt != 0 && optopt < 0x80) {
            return ccg_cli_usage_error(cli, "unknown option '-%c'", optopt);
        }
        return ccg_cli_usage_error(cli, "unknown option '%s'", offending(argc, argv));
    default:
        return c;
    }
}

int ccg_cli_int(const ccg_cli *cli, const char *opt, const char *text, int64_t min, int64_t max, int64_t *out)
{
    char *end = NULL;
    long long v;
    errno = 0;
    v = strtoll(text, &end, 10);
    if (text[0] == '\0' || end == NULL || *end != '\0' || errno != 0 || v < min || v > max) {
        return ccg_cli_usage_error(cli, "%s: '%s' is not a whole number from %lld to %lld", opt, text,
                                   (long long)min, (long long)max);
    }
    *out = (int64_t)v;
    return 0;
}

int ccg_cli_unknown_command(const ccg_cli *cli, const char *word)
{
    return ccg_cli_usage_error(cli, "unknown command '%s'", word);
}

int ccg_cli_exit(int outcome)
{
    return outcome == CCG_CLI_EXIT_0 ? CCG_EXIT_OK : CCG_EXIT_USAGE;
}

const char *ccg_cli_env_default(const char *value, const char *env)
{
    const char *v;
    if (value != NULL) {
        return value;
    }
    v = getenv(env);
    return (v != NULL && v[0] != '\0') ? v : NULL;
}

int64_t ccg_cli_now(const ccg_cli *cli, int pinned, int64_t pinned_value)
{
    int64_t now;
    if (pinned) {
        return pinned_value;
    }
    now = (int64_t)time(NULL);
    fprintf(stderr, "%s: --now=%lld (the current time)\n", cli->name, (long long)now);
    return now;
}

int ccg_cli_is_stdio(const char *path)
{
    return path != NULL && strcmp(path, "-") == 0;
}
