/* Process hygiene for ccgate-kbs (docs/kbs.md, "Core dumps and secrets"), set first thing in main for
 * every subcommand:
 *   - RLIMIT_CORE 0 and PR_SET_DUMPABLE 0: no core dump (which held the TLS key and a key's base64
 *     text before), and no ptrace attach or /proc/<pid>/mem read by another process of the same user
 *     without CAP_SYS_PTRACE;
 *   - OpenSSL's secure heap: private keys OpenSSL allocates "securely" (the BIGNUMs of the token-signing
 *     key, ECDH ephemeral keys) live in a locked mapping excluded from dumps and are zeroed when freed;
 *   - jansson's allocations are zeroed when freed, so parsed request documents (an admin import's
 *     base64 key, evidence) and rendered answers do not linger in the heap. */
#include "ccgate/kbs.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "ccgate/error.h"
#include "ccgate/secmem.h"

/* Power of two; a P-256 or P-384 private scalar takes a few dozen bytes of it. */
#define KBS_SECURE_HEAP (256u * 1024u)
#define KBS_SECURE_HEAP_MIN 32

static void *json_alloc(size_t n) { return malloc(n); }

static void json_release(void *p)
{
    if (p != NULL) {
        ccg_secure_zero(p, malloc_usable_size(p));
        free(p);
    }
}

ccg_result ccg_kbs_process_harden(void)
{
    ccg_result result = CCG_FAILURE;
    struct rlimit none = {0, 0};
    CCG_ENSURE_MSG(setrlimit(RLIMIT_CORE, &none) == 0, CCG_R_INTERNAL_ERROR, "RLIMIT_CORE: %s", strerror(errno));
    CCG_ENSURE_MSG(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0, CCG_R_INTERNAL_ERROR, "PR_SET_DUMPABLE: %s",
                   strerror(errno));
    CCG_ENSURE_MSG(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0, CCG_R_INTERNAL_ERROR, "the process is still dumpable");
    /* 2 means the heap works but mlock was refused (a small RLIMIT_MEMLOCK): still out of dumps. */
    if (!CRYPTO_secure_malloc_initialized()) {
        CCG_ENSURE_MSG(CRYPTO_secure_malloc_init(KBS_SECURE_HEAP, KBS_SECURE_HEAP_MIN) != 0, CCG_R_INTERNAL_ERROR,
                       "OpenSSL's secure heap could not be set up");
    }
    json_set_alloc_funcs(json_alloc, json_release);
    result = CCG_SUCCESS;
cleanup:
    return result;
}
