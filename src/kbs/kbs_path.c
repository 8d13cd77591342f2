/* The request path grammar. The server hands over the path exactly as the client sent it (the
 * library's percent-decoding is switched off in kbs_server.c), and it is judged here before any
 * route sees it:
 *
 *   path      = 1*( "/" *pchar )                      RFC 3986 3.3, as sent
 *   pchar     = ALPHA / DIGIT / "-" / "." / "_" / "~" / sub-delims / ":" / "@" / pct-encoded
 *
 * - The KBS protocol paths (/kbs/v0/..., health, metrics) take no percent-encoding at all: "%" is
 *   kbs.path_encoded. Decoding would turn "c%00" into a C string cut at the NUL and "%2F" into a
 *   separator (RFC 3986 2.2: it is data, not a delimiter), so nothing is decoded there.
 * - The admin API (/admin/v0/...) names policy and reference-value IDs of any printable character,
 *   so it is decoded here, once: a decoded byte outside 0x21..0x7E (%00, %0A, %20, ...) or a "/"
 *   (%2F) is kbs.path_encoded, a "%" without two hex digits kbs.path_invalid.
 * - Any byte outside pchar and "/" (a space, a control byte, a byte >= 0x80, or a NUL that hid the
 *   rest of the target) is kbs.path_invalid.
 * A resource path then needs exactly three segments of [A-Za-z0-9._-] that are not "." or ".."
 * (kbs_key_id_parse). What was sent is logged and audited escaped (kbs_path_escape), never the
 * cut-down or decoded form. */
#include "kbs_internal.h"

#include "ccgate/artifact.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESOURCE_PREFIX "/kbs/v0/resource/"

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* RFC 3986 pchar without pct-encoded, plus the separator. */
static int path_char_ok(unsigned char c)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
        return 1;
    }
    return c != 0 && strchr("-._~!$&'()*+,;=:@/", c) != NULL;
}

ccg_reason kbs_path_check(const char *path, size_t path_len, int decode, char **decoded)
{
    size_t n = strlen(path);
    char *out = NULL, *o;
    *decoded = NULL;
    /* A NUL inside the target: the library's string stops there, the client sent more. */
    if (path_len > n || n == 0 || path[0] != '/') {
        return CCG_R_KBS_PATH_INVALID;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c == '%') {
            if (!decode) {
                return CCG_R_KBS_PATH_ENCODED; /* the protocol's paths carry no encoding */
            }
            if (i + 2 >= n || hex_value(path[i + 1]) < 0 || hex_value(path[i + 2]) < 0) {
                return CCG_R_KBS_PATH_INVALID;
            }
            i += 2;
        } else if (!path_char_ok(c)) {
            return CCG_R_KBS_PATH_INVALID;
        }
    }
    if (!decode) {
        return CCG_R_OK;
    }
    out = malloc(n + 1);
    if (out == NULL) {
        return CCG_R_INTERNAL_OUT_OF_MEMORY;
    }
    o = out;
    for (size_t i = 0; i < n; i++) {
        if (path[i] == '%') {
            int v = hex_value(path[i + 1]) * 16 + hex_value(path[i + 2]);
            /* Data only: never a separator, never a byte an ID cannot hold. */
            if (v < 0x21 || v > 0x7E || v == '/') {
                free(out);
                return CCG_R_KBS_PATH_ENCODED; /* a NUL, a control byte or a separator in disguise */
            }
            *o++ = (char)v;
            i += 2;
        } else {
            *o++ = path[i];
        }
    }
    *o = 0;
    *decoded = out;
    return CCG_R_OK;
}

void kbs_path_escape(const char *s, size_t sent_len, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    static const char more[] = "...";
    size_t n = strlen(s), used = 0;
    int cut = 0;
    if (cap < sizeof(more) + 4) {
        if (cap > 0) {
            out[0] = 0;
        }
        return;
    }
    for (size_t i = 0; i < n && !cut; i++) {
        unsigned char c = (unsigned char)s[i];
        size_t need = c >= 0x21 && c <= 0x7E && c != '\\' ? 1 : 4;
        if (used + need + sizeof(more) > cap) {
            cut = 1;
            break;
        }
        if (need == 1) {
            out[used++] = (char)c;
        } else {
            out[used++] = '\\';
            out[used++] = 'x';
            out[used++] = hex[c >> 4];
            out[used++] = hex[c & 15];
        }
    }
    /* The bytes behind a NUL never reached ccgate: the NUL is shown, then "...". */
    if (!cut && sent_len > n && used + 4 + sizeof(more) <= cap) {
        memcpy(out + used, "\\x00", 4);
        used += 4;
        cut = 1;
    }
    if (cut) {
        memcpy(out + used, more, sizeof(more) - 1);
        used += sizeof(more) - 1;
    }
    out[used] = 0;
}

ccg_reason kbs_key_id_parse(const char *path, char *key_id, size_t cap)
{
    const char *p;
    size_t len;
    if (strncmp(path, RESOURCE_PREFIX, strlen(RESOURCE_PREFIX)) != 0) {
        return CCG_R_KBS_PATH_INVALID;
    }
    p = path + strlen(RESOURCE_PREFIX);
    len = strlen(p);
    if (len + 1 > cap || !ccg_key_id_valid(p)) { /* the one key ID rule (artifact_key_id.c) */
        return CCG_R_KBS_PATH_INVALID;
    }
    memcpy(key_id, p, len + 1);
    return CCG_R_OK;
}
