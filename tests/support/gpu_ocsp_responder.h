/* A live OCSP responder on loopback for a software GPU's device chain (tests): OpenSSL's own
 * `openssl ocsp`, answering each POSTed request as the certificate's issuer (the test holds the
 * software GPU's CA keys), from one index database per issuer. Its answers carry the wall clock. */
#ifndef CCGATE_TESTS_GPU_OCSP_RESPONDER_H
#define CCGATE_TESTS_GPU_OCSP_RESPONDER_H

#include "ccgate/gpu_emulator.h"

typedef struct tu_gpu_ocsp tu_gpu_ocsp;

/* Writes each issuer's certificate, key and a good database under dir (which must exist and outlive
 * the responder) and starts the server. gpu is borrowed. NULL on failure. */
tu_gpu_ocsp *tu_gpu_ocsp_start(const ccg_gpu_emulator *gpu, const char *dir);
/* "http://127.0.0.1:<port>/ocsp" */
const char *tu_gpu_ocsp_url(const tu_gpu_ocsp *o);
/* The certificate issuer k (1 BROM .. 4 root) issued: good, or revoked (keyCompromise). 0 on success. */
int tu_gpu_ocsp_set(tu_gpu_ocsp *o, int k, int revoked);
/* Requests answered so far. */
int tu_gpu_ocsp_requests(tu_gpu_ocsp *o);
void tu_gpu_ocsp_stop(tu_gpu_ocsp *o);

#endif
