/* The pinned NVIDIA RIM root: "NVIDIA CoRIM signing Root CA" (ECDSA P-384, valid 2023-03-16 to
 * 2053-03-08), the anchor of every NVIDIA RIM signing chain. It is the certificate NVIDIA ships with
 * its own verifiers (nvtrust's verifier_RIM_root.pem, attestation-sdk's rim_root.crt). Pinned twice:
 * the certificate, and the SHA-256 of its DER checked when it is loaded. */
#include <openssl/pem.h>
#include <pthread.h>
#include <string.h>

#include "ccgate/gpu_rim.h"
#include "ccgate/x509util.h"

#define NVIDIA_RIM_ROOT_SHA256 "12977b5115acb0381179279fffeb5a8c4d264971ebb32298023a465fa41df5d1"

static const char nvidia_rim_root_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIICKTCCAbCgAwIBAgIQRdrjoA5QN73fh1N17LXicDAKBggqhkjOPQQDAzBFMQsw\n"
    "CQYDVQQGEwJVUzEPMA0GA1UECgwGTlZJRElBMSUwIwYDVQQDDBxOVklESUEgQ29S\n"
    "SU0gc2lnbmluZyBSb290IENBMCAXDTIzMDMxNjE1MzczNFoYDzIwNTMwMzA4MTUz\n"
    "NzM0WjBFMQswCQYDVQQGEwJVUzEPMA0GA1UECgwGTlZJRElBMSUwIwYDVQQDDBxO\n"
    "VklESUEgQ29SSU0gc2lnbmluZyBSb290IENBMHYwEAYHKoZIzj0CAQYFK4EEACID\n"
    "YgAEuECyi9vNM+Iw2lfUzyBldHAwaC1HF7TCgp12QcEyUTm3Tagxwr48d55+K2VI\n"
    "lWYIDk7NlAIQdcV/Ff7euGLI+Qauj93HsSI4WX298PpW54RTgz9tC+Q684caR/BX\n"
    "WEeZo2MwYTAdBgNVHQ4EFgQUpaXrOPK4ZDAk08DBskn594zeZjAwHwYDVR0jBBgw\n"
    "FoAUpaXrOPK4ZDAk08DBskn594zeZjAwDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8B\n"
    "Af8EBAMCAQYwCgYIKoZIzj0EAwMDZwAwZAIwHGDyscDP6ihHqRvZlI3eqZ4YkvjE\n"
    "1duaN84tAHRVgxVMvNrp5Tnom3idHYGW/dskAjATvjIx6VzHm/4e2GiZAyZEIUBD\n"
    "OKPzp5ei/A0iUZpdvngenDwV8Qa/wGdiTmJ7Bp4=\n"
    "-----END CERTIFICATE-----\n";

static ccg_result load_pinned(X509 **out)
{
    ccg_result result = CCG_FAILURE;
    BIO *bio = BIO_new_mem_buf(nvidia_rim_root_pem, (int)strlen(nvidia_rim_root_pem));
    X509 *cert = NULL;
    uint8_t digest[32];
    char hex[65];
    CCG_ENSURE_ALLOC(bio);
    cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    CCG_ENSURE_OSSL(cert != NULL, CCG_R_INTERNAL_CRYPTO);
    CCG_TRY(ccg_x509_sha256(cert, digest));
    ccg_hex_encode(digest, sizeof(digest), hex);
    CCG_ENSURE_MSG(strcmp(hex, NVIDIA_RIM_ROOT_SHA256) == 0, CCG_R_INTERNAL_ERROR,
                   "the pinned NVIDIA RIM root does not match its pinned digest");
    *out = cert;
    cert = NULL;
    result = CCG_SUCCESS;
cleanup:
    X509_free(cert);
    BIO_free(bio);
    return result;
}

/* Parsed and checked once per process; every caller gets its own reference. */
static pthread_once_t pinned_once = PTHREAD_ONCE_INIT;
static X509 *pinned;

static void pinned_init(void)
{
    if (ccg_failed(load_pinned(&pinned))) {
        pinned = NULL;
    }
}

ccg_result ccg_gpu_rim_pinned_root(X509 **out)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE(pthread_once(&pinned_once, pinned_init) == 0, CCG_R_INTERNAL_ERROR);
    CCG_ENSURE_MSG(pinned != NULL, CCG_R_INTERNAL_ERROR, "the pinned NVIDIA RIM root could not be loaded");
    CCG_ENSURE_OSSL(X509_up_ref(pinned) == 1, CCG_R_INTERNAL_CRYPTO);
    *out = pinned;
    result = CCG_SUCCESS;
cleanup:
    return result;
}
