/* The per-thread record of the last failure: a reason code and a short message.
 * Messages never carry secrets: callers pass field names and public values only. */
#ifndef CCGATE_ERROR_H
#define CCGATE_ERROR_H

#include "ccgate/reasons.h"

typedef struct {
    ccg_reason reason;
    const char *file;
    int line;
    char message[320];
} ccg_error;

void ccg_error_set(ccg_reason reason, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* As ccg_error_set, appending the newest OpenSSL error string and clearing OpenSSL's queue. */
void ccg_error_set_openssl(ccg_reason reason, const char *file, int line, const char *what);
void ccg_error_clear(void);
const ccg_error *ccg_error_last(void);
ccg_reason ccg_error_reason(void);

#endif
