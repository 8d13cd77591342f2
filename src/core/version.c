/* The version strings behind every program's --version (include/ccgate/version.h). */
#include "ccgate/version.h"

#include <openssl/crypto.h>

#include "ccg_git_revision.h"

const char *ccg_version(void) { return CCG_VERSION; }

const char *ccg_git_revision(void) { return CCG_GIT_REVISION; }

void ccg_version_print(FILE *out, const char *program)
{
    /* The OpenSSL that runs, not the one built against: a security update changes it without a rebuild. */
    fprintf(out, "%s %s (git %s)\n%s\n", program, ccg_version(), ccg_git_revision(), OpenSSL_version(OPENSSL_VERSION));
}
