/* The per-thread last error. The first failure wins until cleared, so a deep failure is not
 * overwritten by the generic failure of its callers. */
#include "ccgate/error.h"

#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local ccg_error last_error;

void ccg_error_set(ccg_reason reason, const char *file, int line, const char *fmt, ...)
{
    if (last_error.reason != CCG_R_OK) {
        return;
    }
    last_error.reason = reason;
    last_error.file = file;
    last_error.line = line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error.message, sizeof(last_error.message), fmt, ap);
    va_end(ap);
}

void ccg_error_set_openssl(ccg_reason reason, const char *file, int line, const char *what)
{
    char ossl[160] = "no OpenSSL error";
    unsigned long e = ERR_peek_last_error();
    if (e != 0) {
        ERR_error_string_n(e, ossl, sizeof(ossl));
    }
    ERR_clear_error();
    ccg_error_set(reason, file, line, "%s (%s)", what, ossl);
}

void ccg_error_clear(void)
{
    memset(&last_error, 0, sizeof(last_error));
    ERR_clear_error();
}

const ccg_error *ccg_error_last(void) { return &last_error; }

ccg_reason ccg_error_reason(void) { return last_error.reason; }
