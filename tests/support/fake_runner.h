/* A stand-in model runner for the endpoint's tests: libmicrohttpd on a Unix socket, answering
 * GET /healthz, GET /v1/models and POST /v1/chat/completions|/v1/completions (JSON, or five SSE chunks
 * 50 ms apart ending "data: [DONE]" when the body contains "\"stream\":true"). It records whether a
 * forwarded request carried an Authorization header and the correlation ID it carried. */
#ifndef CCG_FAKE_RUNNER_H
#define CCG_FAKE_RUNNER_H

typedef struct fake_runner fake_runner;

fake_runner *fake_runner_start(const char *socket_path);
void fake_runner_stop(fake_runner *r);
int fake_runner_requests(fake_runner *r);
/* How many connections the runner accepted (the endpoint keeps one per client connection alive). */
int fake_runner_connections(fake_runner *r);
int fake_runner_saw_authorization(fake_runner *r);
/* The last correlation ID the runner saw (copied into out, 64 bytes). */
void fake_runner_last_cid(fake_runner *r, char out[64]);

#endif
