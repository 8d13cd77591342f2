/* libFuzzer target: JWE decryption (the guest agent's side of the resource response) under a fixed
 * EC P-256 and a fixed RSA-2048 key. These keys exist only for fuzzing. Invariants: a failure always
 * carries a reason, and anything that decrypts re-encrypts and decrypts to the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "ccgate/error.h"
#include "ccgate/jose.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char ec_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgvsCJmWsjylnbYPBj\n"
    "b8icjTQtzF3w+gjRcegFsUYzTCShRANCAAQztiuLNhwwLNqQFliZdsHPYbkJ8uEr\n"
    "+3zG/s8KUXxsl6jpC/atb6fH6QHCW/w+Sftsa/f3wKcijjxn35thvA1o\n"
    "-----END PRIVATE KEY-----\n";

static const char rsa_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCzmjTQZuwsZ9O3\n"
    "whOjUZS/r2og09scKosN41t5H7R/eQn1EPTHRAEfqwqCjUwW/4O4qZZfo7eMWOE8\n"
    "ivvC4Aohz/Pe+yKwxFqyiufGrKtAX9zU7HpxcuHF+HsXvIjM2sJ7Tn0KoY5fVOoe\n"
    "1WH1uDADR+dhgprNtqcmC83bEzHhDhhzlvyul+nHiYKBaqGCp+Eyy6IsbHk8Xoom\n"
    "WPoGOobA3QZ3XlFCSWuSopTkpsp6zkOaNw+frCoQXWDQAhX6b41PK5dn45kco5ce\n"
    "5tg6YmYvmNBhUZ1WEYmDp3dLmKtikq4wQ703tGZKQHoDcOZZtv+p6v9YF228YU9v\n"
    "T/KVoyJBAgMBAAECggEABmlAgD2sTkl9YdeV/ijDXEaeuziwOsSXuP8xQUvob9a+\n"
    "1WQbRn0e9kpvCQn/55/5pyy43gWyFn9RJmlB9biZo/2ipc+cl7B89XvGvtsbD5Jc\n"
    "dWZ3D1Nky8/EC/YCXmkZ2CYfZSCc80yDimY6bq56Nf8zFq22RF9Wfv0vKt0ci9ib\n"
    "XcVtANu7NAzfwK4ZJvkmglUwxcFPMkt/2LAOZtY4WbTbAkVSaoRdcB/L2dLoN96R\n"
    "a47BcSMFvcnGGCUbupqzekBfyLtACL+lTpR2Luv7DQ5xhOI49jg/YVbNaqmzzfIM\n"
    "D3VUSPs5nbOwqAJ3PiN1YxdFDo+l6T52TixkZXlBgQKBgQDbIEUMI6qkMKlAW0xn\n"
    "5Sf3CW83a/8di7zZmhgxMW0wzvJHJnA7fQc/71gBkw95d40IP1SccZUuEA6TWeTF\n"
    "cYDzfaXhKF4rUjbDtPMgK1j9uk8aeTPrjBtettd9yHcTfxPbdK4mPvaqE+5L+MZH\n"
    "isZ//xGnD3JhumrTS4gH9SCIXQKBgQDR00vCFSn7c7my2LC4n1+soCOstjHJmXNO\n"
    "ystTpSX3yDPEagf1xcRdK8kT1EpuOSn0Vnz6ggR5GT9+1o+yXTUYVqqB2gPIJcE0\n"
    "Z8HsdtnLRJnHzTGQmW49AqmXjduaDaA+vu8ZWFdmsa0HXj2mHu7cvxl8Kd111jaQ\n"
    "xJB7vmgTNQKBgDDEALnP4jUCI1iQOPPSOs+uiNLDtRXlOFURBxtDjbJUC/Urp8SF\n"
    "cayX3nUTPllg8sEIHxNl77Y9mpDOa6xJM1J8/wKZ0kM/27I4PfdFzltBMEOK/7QH\n"
    "DTxJ4rE6gM2U9V1cnTkjwA9fuiOsLKxVRRHNOSd9t43qR8XYRGDI+8F9AoGAfBk1\n"
    "QFfWGbNLTFzewIL6ShX4o4iqj6qjSSGl+hW+C/urqmpvxMuwJM7lwUWYs/I5Pxr8\n"
    "FglZ7emh5TmviXWZFokDlYNFI1Y5G+6WAm4UyCUNst9IhlZIner6NPmgvU97zECP\n"
    "F3VpVAKX7LivS5YV/hdEUmxMYApPAXZQYe+ujFUCgYEA17g7mS7VxMVgm8fHGzAo\n"
    "ymi/DC+8kFnczGZnvyxu2GeZtLkT4p1TjjVUaQayctED69g+MjbfXF5hvSZlXaZk\n"
    "orj2x3h6PEChiPtA5hPu6pe6/OvaMJ2O7CbvvvhjLBb8+Khr01GPAfQ+Y3RbsTBv\n"
    "h7kTSy/0fxyLA3RmI1MrDPs=\n"
    "-----END PRIVATE KEY-----\n";

static EVP_PKEY *load(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (k == NULL) {
        abort();
    }
    return k;
}

static void try_key(EVP_PKEY *key, const uint8_t *data, size_t size)
{
    ccg_secbuf pt;
    ccg_error_clear();
    if (ccg_failed(ccg_jwe_decrypt_text(key, (const char *)data, size, 1, &pt))) {
        if (ccg_error_reason() == CCG_R_OK || pt.data != NULL) {
            abort();
        }
        return;
    }
    /* It decrypted: the same plaintext must survive a fresh encryption to the same key. */
    ccg_jwk *jwk = NULL;
    char *again = NULL;
    size_t again_len = 0;
    ccg_secbuf pt2;
    if (ccg_failed(ccg_jwk_from_pkey(key, NULL, &jwk)) ||
        ccg_failed(ccg_jwe_encrypt_text(jwk, pt.data, pt.len, &again, &again_len)) ||
        ccg_failed(ccg_jwe_decrypt_text(key, again, again_len, 1, &pt2)) || pt2.len != pt.len ||
        (pt.len > 0 && memcmp(pt.data, pt2.data, pt.len) != 0)) {
        abort();
    }
    ccg_secbuf_free(&pt2);
    free(again);
    ccg_jwk_free(jwk);
    ccg_secbuf_free(&pt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static EVP_PKEY *ec = NULL;
    static EVP_PKEY *rsa = NULL;
    if (ec == NULL) {
        ec = load(ec_pem);
        rsa = load(rsa_pem);
    }
    try_key(ec, data, size);
    try_key(rsa, data, size);
    return 0;
}
