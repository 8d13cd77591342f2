/* Shared inside src/serve/runner/: the layout helpers and the deterministic weight stream. */
#ifndef CCGATE_RUNNER_INTERNAL_H
#define CCGATE_RUNNER_INTERNAL_H

#include <stdint.h>

#include "ccgate/model.h"

/* The offset of tensor i in a file of these dimensions: after the header and table, each tensor aligned to
 * CCG_MODEL_ALIGN right after the previous one. */
uint64_t ccg_model_tensor_offset(const ccg_model_dims *d, uint32_t i);

#endif
