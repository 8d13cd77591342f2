/* The version of ccgate: what `--version` prints in every program. */
#ifndef CCGATE_VERSION_H
#define CCGATE_VERSION_H

#include <stdio.h>

/* The project version ("0.1.0"). */
const char *ccg_version(void);
/* The git revision the build came from ("1a2b3c4d5e6f", with "-dirty" for a changed tree, or "unknown"). */
const char *ccg_git_revision(void);
/* Prints "PROGRAM VERSION (git REVISION)" and the OpenSSL version in use, one per line. */
void ccg_version_print(FILE *out, const char *program);

#endif
