/* Unit tests for the shared command-line convention (cli_args.h): --opt=value and --opt value, help and
 * version, unknown options and missing values (exit 2 with the full name), numbers, env defaults. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#include "ccgate/cli_args.h"

static void usage(FILE *out) { fprintf(out, "Usage: ccgate test sub [--name N] [--count C]\n"); }

static const struct option OPTS[] = {
    {"name", required_argument, 0, 'n'},
    {"count", required_argument, 0, 'c'},
    {"flag", no_argument, 0, 'f'},
    CCG_CLI_STD_OPTIONS,
    {0, 0, 0, 0},
};
static const ccg_cli CLI = {"ccgate test sub", usage, OPTS, "o:"};

/* Runs the parser over words, capturing stderr into err (when non-NULL); returns the last outcome. */
static int run(char **words, int n, const char **name, int *flag, char *err, size_t err_len)
{
    int pipefd[2], saved = dup(2), c;
    assert_int_equal(pipe(pipefd), 0);
    dup2(pipefd[1], 2);
    ccg_cli_begin();
    *flag = 0;
    while ((c = ccg_cli_next(&CLI, n, words)) >= 0) {
        if (c == 'n') {
            *name = optarg;
        } else if (c == 'f') {
            *flag = 1;
        }
    }
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(pipefd[1]);
    ssize_t got = read(pipefd[0], err, err_len - 1);
    err[got > 0 ? got : 0] = '\0';
    close(pipefd[0]);
    return c;
}

static void both_value_forms_work(void **state)
{
    (void)state;
    char *a[] = {"sub", "--name=alpha", "--flag", "op", NULL};
    char *b[] = {"sub", "--name", "beta", "op", NULL};
    const char *name = NULL;
    int flag;
    char err[512];
    assert_int_equal(run(a, 4, &name, &flag, err, sizeof(err)), CCG_CLI_END);
    assert_string_equal(name, "alpha");
    assert_int_equal(flag, 1);
    assert_string_equal(a[optind], "op");
    assert_int_equal(run(b, 4, &name, &flag, err, sizeof(err)), CCG_CLI_END);
    assert_string_equal(name, "beta");
    assert_int_equal(flag, 0);
    assert_string_equal(err, "");
}

static void unknown_and_missing_name_the_command(void **state)
{
    (void)state;
    char *a[] = {"sub", "--bogus=1", NULL};
    char *b[] = {"sub", "--name", NULL};
    char *c[] = {"sub", "-z", NULL};
    const char *name = NULL;
    int flag;
    char err[512];
    assert_int_equal(run(a, 2, &name, &flag, err, sizeof(err)), CCG_CLI_EXIT_2);
    assert_non_null(strstr(err, "ccgate test sub: unknown option '--bogus=1'"));
    assert_non_null(strstr(err, "Try 'ccgate test sub --help'."));
    assert_int_equal(run(b, 2, &name, &flag, err, sizeof(err)), CCG_CLI_EXIT_2);
    assert_non_null(strstr(err, "ccgate test sub: option '--name' needs a value"));
    assert_int_equal(run(c, 2, &name, &flag, err, sizeof(err)), CCG_CLI_EXIT_2);
    assert_non_null(strstr(err, "unknown option '-z'"));
    assert_int_equal(ccg_cli_exit(CCG_CLI_EXIT_2), CCG_EXIT_USAGE);
    assert_int_equal(ccg_cli_exit(CCG_CLI_EXIT_0), CCG_EXIT_OK);
}

static void help_and_version_exit_zero(void **state)
{
    (void)state;
    char *a[] = {"sub", "--help", NULL};
    char *b[] = {"sub", "-h", NULL};
    char *c[] = {"sub", "--version", NULL};
    const char *name = NULL;
    int flag;
    char err[512];
    assert_int_equal(run(a, 2, &name, &flag, err, sizeof(err)), CCG_CLI_EXIT_0);
    assert_int_equal(run(b, 2, &name, &flag, err, sizeof(err)), CCG_CLI_EXIT_0);
    assert_int_equal(run(c, 2, &name, &flag, err, sizeof(err)), CCG_CLI_EXIT_0);
}

static void numbers_are_bounded(void **state)
{
    (void)state;
    int64_t v = 0;
    assert_int_equal(ccg_cli_int(&CLI, "--count", "42", 1, 100, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(ccg_cli_int(&CLI, "--count", "0", 1, 100, &v), CCG_CLI_EXIT_2);
    assert_int_equal(ccg_cli_int(&CLI, "--count", "101", 1, 100, &v), CCG_CLI_EXIT_2);
    assert_int_equal(ccg_cli_int(&CLI, "--count", "4x", 1, 100, &v), CCG_CLI_EXIT_2);
    assert_int_equal(ccg_cli_int(&CLI, "--count", "", 1, 100, &v), CCG_CLI_EXIT_2);
    assert_int_equal(ccg_cli_int(&CLI, "--count", "99999999999999999999999", 1, INT64_MAX, &v), CCG_CLI_EXIT_2);
    assert_int_equal(v, 42);
}

static void env_defaults_and_stdio(void **state)
{
    (void)state;
    unsetenv("CCGATE_TEST_URL");
    assert_null(ccg_cli_env_default(NULL, "CCGATE_TEST_URL"));
    setenv("CCGATE_TEST_URL", "", 1);
    assert_null(ccg_cli_env_default(NULL, "CCGATE_TEST_URL"));
    setenv("CCGATE_TEST_URL", "https://kbs.example:8080", 1);
    assert_string_equal(ccg_cli_env_default(NULL, "CCGATE_TEST_URL"), "https://kbs.example:8080");
    assert_string_equal(ccg_cli_env_default("https://other", "CCGATE_TEST_URL"), "https://other"); /* flag wins */
    assert_true(ccg_cli_is_stdio("-"));
    assert_false(ccg_cli_is_stdio("./-"));
    assert_false(ccg_cli_is_stdio(NULL));
    assert_int_equal(ccg_cli_now(&CLI, 1, 1700000000), 1700000000);
    assert_true(ccg_cli_now(&CLI, 0, 1) > 1700000000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(both_value_forms_work),
        cmocka_unit_test(unknown_and_missing_name_the_command),
        cmocka_unit_test(help_and_version_exit_zero),
        cmocka_unit_test(numbers_are_bounded),
        cmocka_unit_test(env_defaults_and_stdio),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
