/* ccgate model: generate a deterministic reference model, run it greedily on a plaintext file (the reference the
 * endpoint's answers are compared with), and inspect a model file (docs/runner.md). */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/model.h"
#include "ccgate/util.h"
#include "cli.h"

#define MODEL_MAX_TOKENS_DEFAULT 16u
#define CHAT_JSON_MAX (1u << 20)

static const char *g_name = "ccgate model"; /* the full name of the subcommand being run */
static const char *g_allowed; /* its options (cli_check_option) */

static void usage(FILE *out)
{
    /* The forms of every subcommand, then what they share; cli_usage_for picks this one's forms. */
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (m == NULL) {
        return;
    }
    fprintf(m,
            "       ccgate model generate --seed N --out FILE [--d-model N] [--layers N] [--heads N] [--d-ff N]\n"
            "                             [--max-seq N]\n"
            "       ccgate model run --model FILE [--max-tokens N] [--json] PROMPT\n"
            "       ccgate model run --model FILE [--max-tokens N] [--json] --chat MESSAGES_JSON\n"
            "       ccgate model inspect --model FILE\n"
            "\n"
            "The runner's reference model: a small decoder-only transformer over bytes (docs/runner.md).\n"
            "  generate   writes a model whose weights follow deterministically from --seed (defaults:\n"
            "             d_model 64, 2 layers, 4 heads, d_ff 256, max_seq 256); nothing is downloaded\n"
            "  run        greedy decoding on the plaintext model; prints the completion (default %u tokens)\n"
            "             followed by a newline, or with --json {\"text\",\"finish_reason\",\"prompt_tokens\",\n"
            "             \"completion_tokens\"}. --chat takes the OpenAI messages array and applies the\n"
            "             runner's chat template, so the text equals POST /v1/chat/completions' content\n"
            "  inspect    prints the header and tensor table as JSON, with the file's SHA-256\n"
            "\n"
            "Exit status: 0 success, 2 bad usage or a malformed model.\n",
            MODEL_MAX_TOKENS_DEFAULT);
    fclose(m);
    cli_usage_for(out, g_name, text);
    free(text);
}

typedef struct {
    const char *out, *model, *seed, *max_tokens;
    const char *dims[5]; /* d_model, layers, heads, d_ff, max_seq */
    const char *prompt;
    int chat, json;
} model_args;

static int parse(int argc, char **argv, model_args *a)
{
    static const struct option opts[] = {
        {"seed", required_argument, 0, 's'},    {"out", required_argument, 0, 'o'},
        {"model", required_argument, 0, 'm'},   {"max-tokens", required_argument, 0, 'n'},
        {"d-model", required_argument, 0, 'D'}, {"layers", required_argument, 0, 'L'},
        {"heads", required_argument, 0, 'H'},   {"d-ff", required_argument, 0, 'F'},
        {"max-seq", required_argument, 0, 'S'}, {"chat", no_argument, 0, 'c'},
        {"json", no_argument, 0, 'j'},          CCG_CLI_STD_OPTIONS,
        {0, 0, 0, 0},
    };
    const ccg_cli cli = {g_name, usage, opts, NULL};
    int c;
    ccg_cli_begin();
    while ((c = ccg_cli_next(&cli, argc, argv)) != CCG_CLI_END) {
        if (cli_check_option(&cli, c, g_allowed) != 0) {
            return CCG_CLI_EXIT_2;
        }
        switch (c) {
        case 's': a->seed = optarg; break;
        case 'o': a->out = optarg; break;
        case 'm': a->model = optarg; break;
        case 'n': a->max_tokens = optarg; break;
        case 'D': a->dims[0] = optarg; break;
        case 'L': a->dims[1] = optarg; break;
        case 'H': a->dims[2] = optarg; break;
        case 'F': a->dims[3] = optarg; break;
        case 'S': a->dims[4] = optarg; break;
        case 'c': a->chat = 1; break;
        case 'j': a->json = 1; break;
        default: return c; /* help, version or a usage error, already printed */
        }
    }
    if (optind < argc) {
        a->prompt = argv[optind++];
    }
    if (optind != argc) {
        return ccg_cli_usage_error(&cli, "unexpected argument '%s'", argv[optind]);
    }
    return 0;
}

/* A decimal number in [min, max]. */
static ccg_result parse_u64(const char *text, const char *what, uint64_t min, uint64_t max, uint64_t *out)
{
    ccg_result result = CCG_FAILURE;
    char *end = NULL;
    unsigned long long v;
    CCG_ENSURE_MSG(text != NULL && text[0] >= '0' && text[0] <= '9', CCG_R_USAGE_INVALID,
                   "%s must be a decimal number", what);
    errno = 0;
    v = strtoull(text, &end, 10);
    CCG_ENSURE_MSG(errno == 0 && *end == 0 && v >= min && v <= max, CCG_R_USAGE_INVALID,
                   "%s must be a decimal number in %llu..%llu", what, (unsigned long long)min,
                   (unsigned long long)max);
    *out = v;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static int cmd_generate(const model_args *a)
{
    ccg_model_dims d = CCG_MODEL_DIMS_DEFAULT;
    uint32_t *fields[5] = {&d.d_model, &d.n_layers, &d.n_heads, &d.d_ff, &d.max_seq};
    static const char *const names[5] = {"--d-model", "--layers", "--heads", "--d-ff", "--max-seq"};
    uint8_t *buf = NULL;
    size_t len = 0;
    uint64_t seed = 0, v;
    int rc = CLI_EXIT_USAGE;
    if (a->out == NULL || a->seed == NULL || a->prompt != NULL || a->model != NULL) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (ccg_failed(parse_u64(a->seed, "--seed", 0, UINT64_MAX, &seed))) {
        return cli_report_error("model generate", a->json);
    }
    for (int i = 0; i < 5; i++) {
        if (a->dims[i] != NULL) {
            if (ccg_failed(parse_u64(a->dims[i], names[i], 1, UINT32_MAX, &v))) {
                return cli_report_error("model generate", a->json);
            }
            *fields[i] = (uint32_t)v;
        }
    }
    if (ccg_failed(ccg_model_generate(&d, seed, &buf, &len)) ||
        ccg_failed(cli_file_write(a->out, buf, len))) {
        rc = cli_report_error("model generate", a->json);
    } else {
        fprintf(ccg_cli_is_stdio(a->out) ? stderr : stdout, "wrote %s: %zu bytes (d_model %u, %u layers, %u heads, d_ff %u, max_seq %u, seed %llu)\n", a->out,
               len, d.d_model, d.n_layers, d.n_heads, d.d_ff, d.max_seq, (unsigned long long)seed);
        rc = CLI_EXIT_OK;
    }
    free(buf);
    return rc;
}

/* The prompt bytes: the argument itself, or the chat template over the messages array it holds. */
static ccg_result run_prompt(const model_args *a, char **prompt, size_t *len)
{
    ccg_result result = CCG_FAILURE;
    json_t *messages = NULL;
    json_error_t jerr;
    *prompt = NULL;
    if (!a->chat) {
        *prompt = strdup(a->prompt);
        CCG_ENSURE_ALLOC(*prompt);
        *len = strlen(a->prompt);
    } else {
        CCG_ENSURE_MSG(strlen(a->prompt) <= CHAT_JSON_MAX, CCG_R_RUNNER_REQUEST_INVALID, "--chat is too long");
        messages = json_loads(a->prompt, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
        CCG_ENSURE_MSG(messages != NULL, CCG_R_RUNNER_REQUEST_INVALID, "--chat is not JSON: %s", jerr.text);
        CCG_TRY(ccg_model_chat_prompt(messages, prompt, len));
    }
    result = CCG_SUCCESS;
cleanup:
    json_decref(messages);
    return result;
}

static int cmd_run(const model_args *a)
{
    ccg_model_mapping map = {0};
    ccg_model model = {0};
    ccg_model_finish finish = CCG_FINISH_LENGTH;
    uint32_t prompt_tokens = 0, completion_tokens = 0;
    uint64_t max_tokens = MODEL_MAX_TOKENS_DEFAULT;
    char *prompt = NULL, *text = NULL;
    size_t prompt_len = 0;
    int rc = CLI_EXIT_USAGE;
    if (a->model == NULL || a->prompt == NULL || a->out != NULL || a->seed != NULL) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if ((a->max_tokens != NULL && ccg_failed(parse_u64(a->max_tokens, "--max-tokens", 1, CCG_MODEL_MAX_SEQ,
                                                       &max_tokens))) ||
        ccg_failed(run_prompt(a, &prompt, &prompt_len)) || ccg_failed(ccg_model_map_file(a->model, &map)) ||
        ccg_failed(ccg_model_parse(map.data, map.len, &model)) ||
        ccg_failed(ccg_model_complete(&model, (const uint8_t *)prompt, prompt_len, (uint32_t)max_tokens, &text,
                                      &finish, &prompt_tokens, &completion_tokens))) {
        rc = cli_report_error("model run", a->json);
        goto done;
    }
    if (a->json) {
        json_t *o = json_pack("{s:s, s:s, s:i, s:i}", "text", text, "finish_reason", ccg_model_finish_name(finish),
                              "prompt_tokens", (json_int_t)prompt_tokens, "completion_tokens",
                              (json_int_t)completion_tokens);
        char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
        if (s != NULL) {
            printf("%s\n", s);
            rc = CLI_EXIT_OK;
        }
        free(s);
        json_decref(o);
    } else {
        printf("%s\n", text);
        rc = CLI_EXIT_OK;
    }
done:
    free(text);
    free(prompt);
    ccg_model_free(&model);
    ccg_model_unmap(&map);
    return rc;
}

static json_t *inspect_json(const ccg_model *m, const uint8_t *data, size_t len)
{
    unsigned char md[32];
    char hex[65];
    json_t *tensors = json_array(), *o;
    uint32_t count = ccg_model_tensor_count(&m->dims);
    if (tensors == NULL || EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL) != 1) {
        json_decref(tensors);
        return NULL;
    }
    ccg_hex_encode(md, 32, hex);
    for (uint32_t i = 0; i < count; i++) {
        char name[CCG_MODEL_TENSOR_NAME_LEN];
        uint32_t rows, cols;
        const uint8_t *e = data + CCG_MODEL_HEADER_LEN + (size_t)i * CCG_MODEL_TENSOR_ENTRY_LEN;
        uint64_t off = 0;
        for (int k = 7; k >= 0; k--) {
            off = (off << 8) | e[48 + k];
        }
        ccg_model_tensor_shape(&m->dims, i, name, &rows, &cols);
        json_array_append_new(tensors, json_pack("{s:s, s:s, s:i, s:i, s:I}", "name", name, "dtype", "f32", "rows",
                                                 (json_int_t)rows, "cols", (json_int_t)cols, "offset",
                                                 (json_int_t)off));
    }
    o = json_pack("{s:s, s:i, s:I, s:s, s:{s:i, s:i, s:i, s:i, s:i, s:i}, s:o}", "format", CCG_MODEL_MAGIC,
                  "version", (json_int_t)CCG_MODEL_VERSION, "file_len", (json_int_t)len, "sha256", hex, "dims",
                  "vocab", (json_int_t)m->dims.vocab, "d_model", (json_int_t)m->dims.d_model, "n_layers",
                  (json_int_t)m->dims.n_layers, "n_heads", (json_int_t)m->dims.n_heads, "d_ff",
                  (json_int_t)m->dims.d_ff, "max_seq", (json_int_t)m->dims.max_seq, "tensors", tensors);
    return o;
}

static int cmd_inspect(const model_args *a)
{
    ccg_model_mapping map = {0};
    ccg_model model = {0};
    json_t *o = NULL;
    int rc;
    if (a->model == NULL || a->prompt != NULL) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (ccg_failed(ccg_model_map_file(a->model, &map)) || ccg_failed(ccg_model_parse(map.data, map.len, &model))) {
        rc = cli_report_error("model inspect", 1);
    } else {
        o = inspect_json(&model, map.data, map.len);
        rc = o != NULL ? cli_write_json(o, NULL, "model inspect") : CLI_EXIT_USAGE;
    }
    json_decref(o);
    ccg_model_free(&model);
    ccg_model_unmap(&map);
    return rc;
}

int cmd_model(int argc, char **argv)
{
    model_args a;
    const char *sub = argc >= 2 ? argv[1] : NULL;
    int rc;
    memset(&a, 0, sizeof(a));
    static const cli_sub subs[] = {
        {"generate", "write a deterministic reference model from a seed"},
        {"run", "greedy decoding on the plaintext model (the endpoint's reference)"},
        {"inspect", "print a model's header and tensor table as JSON"},
    };
    char name[64];
    int k = cli_group("ccgate model", "The runner's reference model: generate, run or inspect it.", subs, 3, argc, argv,
                      &rc);
    if (k < 0) {
        return rc;
    }
    sub = subs[k].word;
    g_name = cli_subname(name, sizeof(name), "ccgate model", sub);
    static const char *const allowed[][2] = {{"generate", "soDLHFSj"}, {"run", "mncj"}, {"inspect", "mj"}};
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
        if (strcmp(allowed[i][0], sub) == 0) {
            g_allowed = allowed[i][1];
        }
    }
    if ((rc = cli_parse_result(parse(argc - 1, argv + 1, &a), NULL)) >= 0) {
        return rc;
    }
    if (strcmp(sub, "generate") == 0) {
        return cmd_generate(&a);
    }
    if (strcmp(sub, "run") == 0) {
        return cmd_run(&a);
    }
    if (strcmp(sub, "inspect") == 0) {
        return cmd_inspect(&a);
    }
    return CLI_EXIT_USAGE; /* not reached: cli_group knows the words */
}
