/* The one error idiom of ccgate.
 *
 * Every fallible function returns a ccg_result and ends in a single `cleanup:` label:
 *
 *     ccg_result f(void) {
 *         ccg_result result = CCG_FAILURE;
 *         X *x = NULL;
 *         CCG_TRY(g());                                  // propagate a failure
 *         CCG_ENSURE(len == 4, CCG_R_INPUT_TRUNCATED);   // raise a reason code
 *         result = CCG_SUCCESS;
 *     cleanup:
 *         X_free(x);
 *         return result;
 *     }
 *
 * The reason code and a short message of the first failure are kept per thread (see error.h),
 * so a caller can report exactly why an operation failed. */
#ifndef CCGATE_RESULT_H
#define CCGATE_RESULT_H

#include <stdbool.h>

#include "ccgate/error.h"

typedef struct {
    int failed;
} ccg_result;

#define CCG_MUST_CHECK __attribute__((warn_unused_result))
#define CCG_SUCCESS ((ccg_result){0})
#define CCG_FAILURE ((ccg_result){1})

static inline bool ccg_ok(ccg_result r) { return r.failed == 0; }
static inline bool ccg_failed(ccg_result r) { return r.failed != 0; }

/* Propagate a failure from a callee: the callee already recorded the reason. */
#define CCG_TRY(expr)                   \
    do {                                \
        if (ccg_failed(expr)) {         \
            goto cleanup;               \
        }                               \
    } while (0)

/* Raise a reason code when a condition does not hold. */
#define CCG_ENSURE(cond, reason)                                         \
    do {                                                                 \
        if (!(cond)) {                                                   \
            ccg_error_set((reason), __FILE__, __LINE__, "%s", #cond);   \
            goto cleanup;                                                \
        }                                                                \
    } while (0)

/* Raise a reason code with an operator-facing message (printf format). */
#define CCG_ENSURE_MSG(cond, reason, ...)                                \
    do {                                                                 \
        if (!(cond)) {                                                   \
            ccg_error_set((reason), __FILE__, __LINE__, __VA_ARGS__);    \
            goto cleanup;                                                \
        }                                                                \
    } while (0)

/* A pointer that must not be NULL; allocation failures map to internal.out_of_memory. */
#define CCG_ENSURE_ALLOC(ptr) CCG_ENSURE((ptr) != NULL, CCG_R_INTERNAL_OUT_OF_MEMORY)

/* An OpenSSL call that returns 1 on success; the OpenSSL error queue is folded into the message. */
#define CCG_ENSURE_OSSL(cond, reason)                                    \
    do {                                                                 \
        if (!(cond)) {                                                   \
            ccg_error_set_openssl((reason), __FILE__, __LINE__, #cond);  \
            goto cleanup;                                                \
        }                                                                \
    } while (0)

/* Unconditional failure with a reason. */
#define CCG_BAIL(reason, ...)                                            \
    do {                                                                 \
        ccg_error_set((reason), __FILE__, __LINE__, __VA_ARGS__);        \
        goto cleanup;                                                    \
    } while (0)

/* Runs a call that may fail with a generic reason (the reader's input.truncated, a nested parse) and
 * reports the failure under the caller's own reason instead: the error slot keeps the first failure,
 * so it is cleared first. */
#define CCG_TRY_AS(expr, reason, ...)                                    \
    do {                                                                 \
        if (ccg_failed(expr)) {                                          \
            ccg_error_clear();                                           \
            CCG_BAIL((reason), __VA_ARGS__);                             \
        }                                                                \
    } while (0)

#endif
