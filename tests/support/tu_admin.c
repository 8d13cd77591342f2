/* See tu_admin.h. One key per process (tests run one broker at a time). */
#include "tu_admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "ccgate/jose.h"
#include "ccgate/util.h"

static EVP_PKEY *g_key;

int tu_admin_config(const char *dir, char *out, size_t size)
{
    char path[512];
    FILE *f = NULL;
    int rc = -1;
    if (g_key == NULL && (g_key = EVP_EC_gen("P-256")) == NULL) {
        return -1;
    }
    snprintf(path, sizeof(path), "%s/tu-admin.pub.pem", dir);
    f = fopen(path, "w");
    if (f != NULL && PEM_write_PUBKEY(f, g_key) == 1) {
        rc = 0;
    }
    if (f != NULL && fclose(f) != 0) {
        rc = -1;
    }
    if (rc == 0) {
        int n = snprintf(out, size,
                         "\"admin\":{\"audience\":\"" TU_ADMIN_AUDIENCE "\",\"issuers\":[{\"name\":\"tu-admin\",\"key\":"
                         "\"%s\",\"roles\":[\"operator\",\"provider\"],\"subjects\":[\"ops\",\"acme\"]}]}",
                         path);
        rc = n > 0 && (size_t)n < size ? 0 : -1;
    }
    return rc;
}

char *tu_admin_bearer(const char *role) { return tu_admin_bearer_at(role, (long long)ccg_time_now()); }

char *tu_admin_bearer_at(const char *role, long long now)
{
    char *token = NULL, *out = NULL;
    json_t *claims = json_pack("{s:s,s:s,s:s,s:I,s:I}", "sub", strcmp(role, "operator") == 0 ? "ops" : "acme", "role",
                               role, "aud", TU_ADMIN_AUDIENCE, "iat", (json_int_t)now, "exp", (json_int_t)(now + 600));
    if (g_key != NULL && claims != NULL && ccg_ok(ccg_jwt_sign_es256(g_key, claims, &token))) {
        size_t n = strlen(token) + 8;
        out = malloc(n);
        if (out != NULL) {
            snprintf(out, n, "Bearer %s", token);
        }
    }
    free(token);
    json_decref(claims);
    return out;
}
