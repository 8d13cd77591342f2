/* The keystore: key-encryption keys (KEKs) that wrap and unwrap model keys at rest.
 *
 * Two backends behind one interface (docs/keystore.md):
 *   pkcs11  a KEK inside an HSM token (SoftHSM2 in tests), reached through a PKCS#11 module that is
 *           dlopen'ed from the configured path. The KEK is an AES-256 secret key object with
 *           CKA_TOKEN, CKA_SENSITIVE and not CKA_EXTRACTABLE: it never leaves the token.
 *   file    the embedded default: 32 random bytes in a file that only the service user can read
 *           (a regular file owned by the effective uid, mode 0600 or stricter).
 * Both wrap with AES-256-GCM (96-bit random nonce, 128-bit tag) into the same self-describing blob:
 *
 *   offset size  field
 *        0    4  magic "CCGW"
 *        4    1  version (1)
 *        5    1  backend (1 file, 2 pkcs11)
 *        6    1  algorithm (1 AES-256-GCM)
 *        7    1  reserved, zero
 *        8   32  SHA-256 of the KEK label
 *       40   12  nonce
 *       52    4  ciphertext length n (big-endian, 1..CCG_KEYSTORE_MAX_KEY_LEN)
 *       56    n  ciphertext
 *     56+n   16  GCM tag
 *
 * The GCM additional data is the 56-byte header followed by the caller's `aad` (for example the key
 * ID and version), so neither a header field nor the key's identity can be changed without the tag
 * failing: a wrapped key cannot be swapped onto another key ID or version.
 *
 * Errors (reason codes of the kms group):
 *   kms.unavailable     module missing or unloadable, no token with the label, login refused, a
 *                       session or device error, a missing KEK file; the message names the PKCS#11
 *                       return value (e.g. "CKR_PIN_INCORRECT")
 *   kms.key_not_found   no KEK object with the label in the token; a label the file keystore lacks
 *   kms.unwrap_failed   the tag does not verify (wrong KEK, wrong aad, tampered blob), or the blob
 *                       names another backend, algorithm or KEK label
 *   kms.config_invalid  a bad configuration document, or a KEK file with a wrong owner, mode or size,
 *                       or a KEK object with the wrong attributes
 *   kms.kek_missing     the file keystore's KEK file is gone since the KEK was loaded
 *   kms.kek_changed     the file keystore's KEK file holds other bytes than the KEK loaded
 * A PKCS#11 keystore whose token went away reconnects by itself, re-initialising the module when the
 * token is still not found (at most once a second); a file keystore re-checks its KEK file before
 * every use. Either serves again once its dependency is back, without being reopened.
 * A blob that is not a version-1 ccgate wrapped key fails in the bounded reader: input.truncated,
 * input.trailing_bytes, input.too_large, input.reserved_nonzero, or input.malformed (bad magic or an
 * unknown version).
 *
 * Thread safety: one keystore may be used from many threads at once; close it only after every
 * call on it has returned. Every public function clears the calling thread's last error first.
 * Messages never carry a PIN, a KEK or a key. */
#ifndef CCGATE_KEYSTORE_H
#define CCGATE_KEYSTORE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ccgate/result.h"
#include "ccgate/secmem.h"

#define CCG_KEYSTORE_MAGIC "CCGW"
#define CCG_KEYSTORE_BLOB_VERSION 1
#define CCG_KEYSTORE_HEADER_LEN 56u
#define CCG_KEYSTORE_NONCE_LEN 12u
#define CCG_KEYSTORE_TAG_LEN 16u
#define CCG_KEYSTORE_KEK_LEN 32u
/* Largest key that can be wrapped (a model key is 32 bytes; a private key in PEM fits too). */
#define CCG_KEYSTORE_MAX_KEY_LEN 8192u
#define CCG_KEYSTORE_MAX_BLOB_LEN (CCG_KEYSTORE_HEADER_LEN + CCG_KEYSTORE_MAX_KEY_LEN + CCG_KEYSTORE_TAG_LEN)
/* KEK labels: 1..128 bytes of printable ASCII. */
#define CCG_KEYSTORE_MAX_LABEL_LEN 128u
/* The KEK label when the configuration names none. */
#define CCG_KEYSTORE_DEFAULT_KEK_LABEL "ccgate-kek"
/* The largest configuration document and PIN file read. */
#define CCG_KEYSTORE_MAX_CONFIG_LEN 16384u
#define CCG_KEYSTORE_MAX_PIN_LEN 255u

typedef enum {
    CCG_KEYSTORE_FILE = 1,
    CCG_KEYSTORE_PKCS11 = 2,
} ccg_keystore_backend;

typedef enum {
    CCG_KEYSTORE_ALG_AES256_GCM = 1,
} ccg_keystore_alg;

/* A parsed configuration. Strings are owned (ccg_keystore_config_free). Members of the other
 * backend are NULL. */
typedef struct ccg_keystore_config_s {
    ccg_keystore_backend backend;
    char *kek_label;          /* "kek_label"; CCG_KEYSTORE_DEFAULT_KEK_LABEL when absent */
    int allow_unlocked_memory; /* "allow_unlocked_memory": accept secret memory that mlock refused */
    /* file */
    char *kek_file;           /* "kek_file": absolute path */
    /* pkcs11 */
    char *module;             /* "module": absolute path of the PKCS#11 module */
    char *token_label;        /* "token_label": 1..32 bytes */
    char *pin_file;           /* "pin_file": absolute path; exactly one of pin_file and pin_env */
    char *pin_env;            /* "pin_env": the name of an environment variable holding the PIN */
    /* "previous": the keystore of the KEK being rotated away from (either backend, another kek_label,
     * no "previous" of its own), or NULL. Unwrapping a blob wrapped under its label goes to it, so keys
     * not yet re-wrapped (ccgate-kbs kek rewrap) stay releasable; health checks it too. Owned. */
    struct ccg_keystore_config_s *previous;
} ccg_keystore_config;

/* Parses the JSON configuration, strictly: an object with "backend" ("file" or "pkcs11") and that
 * backend's members only. Unknown or misplaced members, wrong types, empty strings, relative paths
 * and over-long labels fail with kms.config_invalid. On failure *out is left zeroed. */
CCG_MUST_CHECK ccg_result ccg_keystore_config_parse(const char *json_text, ccg_keystore_config *out);
CCG_MUST_CHECK ccg_result ccg_keystore_config_from_json(const json_t *obj, ccg_keystore_config *out);
void ccg_keystore_config_free(ccg_keystore_config *cfg);
/* "file" or "pkcs11" ("unknown" otherwise). */
const char *ccg_keystore_backend_name(ccg_keystore_backend backend);

typedef struct ccg_keystore ccg_keystore;

/* Opens a keystore.
 *   file:   checks the configuration only. The KEK file is read (and checked) on first use, so
 *           ccg_keystore_create_kek can make it; a missing file then fails with kms.unavailable.
 *   pkcs11: reads the PIN, loads and initialises the module, finds the token by label, opens a
 *           session and logs in as the user; each failure is kms.unavailable with the CKR name.
 * The KEK itself is looked up per call, so a keystore opened before its KEK exists is usable. */
CCG_MUST_CHECK ccg_result ccg_keystore_open(const ccg_keystore_config *cfg, ccg_keystore **out);
/* Parses the JSON configuration and opens it. */
CCG_MUST_CHECK ccg_result ccg_keystore_open_json(const char *json_text, ccg_keystore **out);
/* Logs out, closes the session and releases the module (the last user finalises it), zeroes the
 * PIN and the cached KEK. NULL is ignored. */
void ccg_keystore_close(ccg_keystore *ks);

ccg_keystore_backend ccg_keystore_backend_of(const ccg_keystore *ks);
/* The configured KEK label; every call below uses it when given kek_label == NULL. */
const char *ccg_keystore_kek_label(const ccg_keystore *ks);

/* Creates the KEK (for setup and tests). pkcs11: C_GenerateKey(CKM_AES_KEY_GEN) of a 32-byte token
 * key that is sensitive and not extractable, so it never exists outside the token. file: 32 bytes
 * from the OpenSSL DRBG written with O_EXCL, mode 0600, synced and linked into place atomically. An
 * existing KEK is never replaced: kms.config_invalid. */
CCG_MUST_CHECK ccg_result ccg_keystore_create_kek(ccg_keystore *ks, const char *kek_label);

/* Wraps key->len bytes (1..CCG_KEYSTORE_MAX_KEY_LEN) under the KEK, binding aad (may be empty).
 * *wrapped is malloc'd (not secret); free it with free(). */
CCG_MUST_CHECK ccg_result ccg_keystore_wrap(ccg_keystore *ks, const char *kek_label, const ccg_secbuf *key,
                                            const uint8_t *aad, size_t aad_len, uint8_t **wrapped,
                                            size_t *wrapped_len);

/* Unwraps a blob made by ccg_keystore_wrap with the same KEK label and aad into *key, a new secret
 * buffer the caller frees with ccg_secbuf_free. On failure *key is left zeroed and nothing of the
 * plaintext remains in memory. */
CCG_MUST_CHECK ccg_result ccg_keystore_unwrap(ccg_keystore *ks, const char *kek_label, const uint8_t *wrapped,
                                              size_t wrapped_len, const uint8_t *aad, size_t aad_len,
                                              ccg_secbuf *key);

/* Readiness for /readyz: the session is logged in and the default KEK is present and usable
 * (pkcs11, reconnecting and re-initialising the module as a call would), or the KEK file loads and
 * still holds the loaded KEK (file: kms.kek_missing, kms.kek_changed); then the same of the
 * "previous" keystore when one is configured (its message says "previous KEK"). */
CCG_MUST_CHECK ccg_result ccg_keystore_health(ccg_keystore *ks);

/* The parsed header of a wrapped blob; ciphertext and tag point into the blob. */
typedef struct {
    uint8_t version;
    uint8_t backend;
    uint8_t algorithm;
    uint8_t kek_label_digest[32];
    uint8_t nonce[CCG_KEYSTORE_NONCE_LEN];
    uint32_t ciphertext_len;
    const uint8_t *header; /* the CCG_KEYSTORE_HEADER_LEN header bytes */
    const uint8_t *ciphertext;
    const uint8_t *tag;
} ccg_wrapped_key;

/* Parses a blob with the bounded reader: the format errors listed above. It does not judge the
 * backend, algorithm or label; unwrap does. */
CCG_MUST_CHECK ccg_result ccg_wrapped_key_parse(const uint8_t *blob, size_t len, ccg_wrapped_key *out);

/* The name of a PKCS#11 return value ("CKR_PIN_INCORRECT"), or "CKR_VENDOR_DEFINED+0x.." /
 * "CKR_0x.." for values the table lacks (in a static buffer per thread). */
const char *ccg_pkcs11_rv_name(unsigned long rv);

#endif
