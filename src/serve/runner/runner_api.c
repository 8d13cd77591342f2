/* The runner's JSON (docs/runner.md, "API"): request bodies in, OpenAI-shaped answers, stream chunks and errors
 * out. No HTTP here (runner_http.c), so the shapes can be tested alone. */
#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/util.h"
#include "runner_api.h"

static ccg_result get_max_tokens(const json_t *body, uint32_t cap, uint32_t *out)
{
    ccg_result result = CCG_FAILURE;
    const json_t *v = json_object_get(body, "max_tokens");
    if (v == NULL || json_is_null(v)) {
        v = json_object_get(body, "max_completion_tokens");
    }
    *out = CCG_RUNNER_MAX_TOKENS_DEFAULT < cap ? CCG_RUNNER_MAX_TOKENS_DEFAULT : cap;
    if (v != NULL && !json_is_null(v)) {
        CCG_ENSURE_MSG(json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= (json_int_t)cap,
                       CCG_R_RUNNER_REQUEST_INVALID, "max_tokens must be an integer in 1..%u", cap);
        *out = (uint32_t)json_integer_value(v);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The fields every generation route shares: model, max_tokens, stream, temperature, n. */
static ccg_result parse_common(const json_t *body, const char *served, uint32_t cap, runner_request *req)
{
    ccg_result result = CCG_FAILURE;
    const json_t *model = json_object_get(body, "model"), *stream = json_object_get(body, "stream");
    const json_t *temp = json_object_get(body, "temperature"), *n = json_object_get(body, "n");
    if (model != NULL) {
        CCG_ENSURE_MSG(json_is_string(model), CCG_R_RUNNER_REQUEST_INVALID, "model must be a string");
        CCG_ENSURE_MSG(json_string_length(model) == strlen(served) && strcmp(json_string_value(model), served) == 0,
                       CCG_R_RUNNER_MODEL_NOT_FOUND,
                       "the runner serves one model (GET /v1/models)");
    }
    CCG_TRY(get_max_tokens(body, cap, &req->max_tokens));
    CCG_ENSURE_MSG(stream == NULL || json_is_boolean(stream) || json_is_null(stream), CCG_R_RUNNER_REQUEST_INVALID,
                   "stream must be a boolean");
    req->stream = json_is_true(stream);
    /* Decoding is greedy whatever the temperature; a valid one is accepted so that clients need no change. */
    CCG_ENSURE_MSG(temp == NULL || json_is_null(temp) ||
                       (json_is_number(temp) && json_number_value(temp) >= 0 && json_number_value(temp) <= 2),
                   CCG_R_RUNNER_REQUEST_INVALID, "temperature must be a number in 0..2");
    CCG_ENSURE_MSG(n == NULL || json_is_null(n) || (json_is_integer(n) && json_integer_value(n) == 1),
                   CCG_R_RUNNER_REQUEST_INVALID, "n must be 1");
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result runner_request_parse(runner_kind kind, const char *text, size_t len, const char *served, uint32_t cap,
                                runner_request *req)
{
    ccg_result result = CCG_FAILURE;
    json_error_t jerr;
    json_t *body = NULL;
    memset(req, 0, sizeof(*req));
    req->kind = kind;
    body = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    CCG_ENSURE_MSG(json_is_object(body), CCG_R_RUNNER_REQUEST_INVALID, "the body is not a JSON object");
    CCG_TRY(parse_common(body, served, cap, req));
    if (kind == RUNNER_CHAT) {
        CCG_TRY(ccg_model_chat_prompt(json_object_get(body, "messages"), &req->prompt, &req->prompt_len));
    } else {
        const json_t *prompt = json_object_get(body, "prompt");
        CCG_ENSURE_MSG(json_is_string(prompt), CCG_R_RUNNER_REQUEST_INVALID, "prompt must be a string");
        req->prompt_len = json_string_length(prompt);
        req->prompt = malloc(req->prompt_len + 1);
        CCG_ENSURE_ALLOC(req->prompt);
        memcpy(req->prompt, json_string_value(prompt), req->prompt_len + 1);
    }
    result = CCG_SUCCESS;
cleanup:
    json_decref(body);
    if (ccg_failed(result)) {
        runner_request_free(req);
    }
    return result;
}

void runner_request_free(runner_request *req)
{
    if (req != NULL) {
        free(req->prompt);
        req->prompt = NULL;
    }
}

void runner_new_id(runner_kind kind, char out[RUNNER_ID_LEN])
{
    uint8_t rnd[12] = {0};
    char hex[25];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        memset(rnd, 0, sizeof(rnd)); /* an ID only names the answer; it protects nothing */
    }
    ccg_hex_encode(rnd, sizeof(rnd), hex);
    snprintf(out, RUNNER_ID_LEN, "%s-%s", kind == RUNNER_CHAT ? "chatcmpl" : "cmpl", hex);
}

static char *dump(json_t *o)
{
    char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

char *runner_answer_json(const runner_answer *a)
{
    json_t *choice = a->kind == RUNNER_CHAT
                         ? json_pack("{s:i, s:{s:s, s:s}, s:s}", "index", 0, "message", "role", "assistant",
                                     "content", a->text, "finish_reason", ccg_model_finish_name(a->finish))
                         : json_pack("{s:i, s:s, s:s, s:n}", "index", 0, "text", a->text, "finish_reason",
                                     ccg_model_finish_name(a->finish), "logprobs");
    if (choice == NULL) {
        return NULL;
    }
    return dump(json_pack("{s:s, s:s, s:I, s:s, s:[o], s:{s:i, s:i, s:i}}", "id", a->id, "object",
                          a->kind == RUNNER_CHAT ? "chat.completion" : "text_completion", "created",
                          (json_int_t)a->created, "model", a->model, "choices", choice, "usage", "prompt_tokens",
                          (json_int_t)a->prompt_tokens, "completion_tokens", (json_int_t)a->completion_tokens,
                          "total_tokens", (json_int_t)(a->prompt_tokens + a->completion_tokens)));
}

char *runner_chunk_json(const runner_answer *a, const char *delta, size_t delta_len, int role, int final)
{
    json_t *choice;
    if (a->kind == RUNNER_CHAT) {
        json_t *d = json_object();
        if (d != NULL && role) {
            json_object_set_new(d, "role", json_string("assistant"));
            json_object_set_new(d, "content", json_string(""));
        } else if (d != NULL && !final) {
            json_object_set_new(d, "content", json_stringn(delta, delta_len));
        }
        choice = json_pack("{s:i, s:o, s:o}", "index", 0, "delta", d, "finish_reason",
                           final ? json_string(ccg_model_finish_name(a->finish)) : json_null());
    } else {
        choice = json_pack("{s:i, s:s%, s:n, s:o}", "index", 0, "text", final ? "" : delta, final ? (size_t)0 : delta_len,
                           "logprobs", "finish_reason",
                           final ? json_string(ccg_model_finish_name(a->finish)) : json_null());
    }
    if (choice == NULL) {
        return NULL;
    }
    return dump(json_pack("{s:s, s:s, s:I, s:s, s:[o]}", "id", a->id, "object",
                          a->kind == RUNNER_CHAT ? "chat.completion.chunk" : "text_completion", "created",
                          (json_int_t)a->created, "model", a->model, "choices", choice));
}

char *runner_models_json(const char *served)
{
    return dump(json_pack("{s:s, s:[{s:s, s:s, s:i, s:s}]}", "object", "list", "data", "id", served, "object",
                          "model", "created", 0, "owned_by", "ccgate"));
}

char *runner_error_json(ccg_reason reason, const char *message)
{
    return dump(json_pack("{s:{s:s, s:s, s:s}}", "error", "code", ccg_reason_code(reason), "message",
                          message != NULL ? message : ccg_reason_message(reason), "type",
                          ccg_reason_kind_of(reason) == CCG_KIND_INPUT ? "invalid_request_error" : "server_error"));
}
