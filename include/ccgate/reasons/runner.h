/* model runner (docs/runner.md) */
/* An X-macro fragment of ccgate/reason_list.h (no include guard: it is included with X defined). */
X(RUNNER_MODEL_MALFORMED, "runner.model_malformed", "runner", INPUT,
  "The model file is malformed: magic, version, a dimension, the tensor table or the file length.")
X(RUNNER_MODEL_UNAVAILABLE, "runner.model_unavailable", "runner", DEPENDENCY,
  "The model could not be opened or mapped: the file, or the inherited descriptor of the model server contract "
  "(CCGATE_MODEL_FD, CCGATE_MODEL_LEN) is missing or does not match.")
X(RUNNER_REQUEST_INVALID, "runner.request_invalid", "runner", INPUT,
  "The request body is not the JSON the route takes (prompt, messages, max_tokens, stream), or a value is out of "
  "range.")
X(RUNNER_PROMPT_TOO_LONG, "runner.prompt_too_long", "runner", INPUT,
  "The prompt (after the chat template) does not fit the model's context (max_seq tokens, BOS included).")
X(RUNNER_BODY_TOO_LARGE, "runner.body_too_large", "runner", INPUT,
  "The request body is larger than the runner's limit.")
X(RUNNER_NOT_FOUND, "runner.not_found", "runner", INPUT,
  "The runner serves no such path.")
X(RUNNER_METHOD_NOT_ALLOWED, "runner.method_not_allowed", "runner", INPUT,
  "The path does not take this method.")
X(RUNNER_MODEL_NOT_FOUND, "runner.model_not_found", "runner", INPUT,
  "The request names a model the runner does not serve (see GET /v1/models).")
X(RUNNER_BUSY, "runner.busy", "runner", DEPENDENCY,
  "Every generation slot is in use; retry later.")
X(RUNNER_SOCKET_FAILED, "runner.socket_failed", "runner", DEPENDENCY,
  "The runner could not listen on its Unix socket (path too long, not a socket, bind or listen failed) or start its "
  "HTTP server.")
