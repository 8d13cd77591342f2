/* OCSP stages (internal to src/evidence/gpu/gpu_ocsp*.c). */
#ifndef CCGATE_GPU_OCSP_INTERNAL_H
#define CCGATE_GPU_OCSP_INTERNAL_H

#include <openssl/ocsp.h>

#include "ccgate/gpu_ocsp.h"

/* POSTs a request for cert (with a fresh nonce) to cfg->responder_url. *req is kept for the nonce
 * check. Fails with gpu.ocsp_unavailable when the responder cannot be reached or answers non-200. */
CCG_MUST_CHECK ccg_result gpu_ocsp_fetch(const ccg_gpu_ocsp_config *cfg, X509 *cert, X509 *issuer,
                                         OCSP_REQUEST **req, OCSP_RESPONSE **resp);

#endif
