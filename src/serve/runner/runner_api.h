/* The runner's JSON shapes (runner_api.c), shared by its HTTP glue and its tests. */
#ifndef CCGATE_RUNNER_API_H
#define CCGATE_RUNNER_API_H

#include <stddef.h>
#include <stdint.h>

#include "ccgate/model.h"
#include "ccgate/runner.h"

typedef enum { RUNNER_COMPLETION, RUNNER_CHAT } runner_kind;

typedef struct {
    runner_kind kind;
    char *prompt; /* the prompt bytes (chat: after the template), malloc'd */
    size_t prompt_len;
    uint32_t max_tokens;
    int stream;
} runner_request;

/* Parses a request body; refuses with runner.request_invalid, runner.model_not_found (a model other than
 * served) or the chat template's codes. cap bounds max_tokens. */
CCG_MUST_CHECK ccg_result runner_request_parse(runner_kind kind, const char *text, size_t len, const char *served,
                                               uint32_t cap, runner_request *req);
void runner_request_free(runner_request *req);

#define RUNNER_ID_LEN 40
/* "cmpl-<24 hex>" or "chatcmpl-<24 hex>" from OpenSSL's RNG. */
void runner_new_id(runner_kind kind, char out[RUNNER_ID_LEN]);

typedef struct {
    runner_kind kind;
    const char *id, *model, *text;
    int64_t created;
    ccg_model_finish finish;
    uint32_t prompt_tokens, completion_tokens;
} runner_answer;

/* The JSON texts (malloc'd, NULL when out of memory). */
char *runner_answer_json(const runner_answer *a);
/* One stream chunk: role (chat's first chunk), a text delta, or final (finish_reason set, empty delta). */
char *runner_chunk_json(const runner_answer *a, const char *delta, size_t delta_len, int role, int final);
char *runner_models_json(const char *served);
char *runner_error_json(ccg_reason reason, const char *message);

#endif
