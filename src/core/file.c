/* Bounded whole-file reads and writes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/util.h"

ccg_result ccg_file_read(const char *path, size_t max_len, uint8_t **out, size_t *out_len)
{
    ccg_result result = CCG_FAILURE;
    FILE *f = NULL;
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;

    f = fopen(path, "rb");
    CCG_ENSURE_MSG(f != NULL, CCG_R_IO_READ_FAILED, "cannot open %s: %s", path, strerror(errno));
    for (;;) {
        if (len == cap) {
            CCG_ENSURE_MSG(cap <= max_len, CCG_R_INPUT_TOO_LARGE, "%s is larger than %zu bytes", path, max_len);
            size_t next = cap ? cap * 2 : 4096;
            if (next > max_len + 1) {
                next = max_len + 1;
            }
            uint8_t *grown = realloc(buf, next + 1);
            CCG_ENSURE_ALLOC(grown);
            buf = grown;
            cap = next;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            CCG_ENSURE_MSG(!ferror(f), CCG_R_IO_READ_FAILED, "cannot read %s", path);
            break;
        }
    }
    CCG_ENSURE_MSG(len <= max_len, CCG_R_INPUT_TOO_LARGE, "%s is larger than %zu bytes", path, max_len);
    if (buf == NULL) {
        buf = malloc(1);
        CCG_ENSURE_ALLOC(buf);
    }
    buf[len] = 0;
    *out = buf;
    *out_len = len;
    buf = NULL;
    result = CCG_SUCCESS;
cleanup:
    if (f != NULL) {
        fclose(f);
    }
    free(buf);
    return result;
}

ccg_result ccg_file_write(const char *path, const uint8_t *data, size_t len)
{
    ccg_result result = CCG_FAILURE;
    FILE *f = fopen(path, "wb");
    CCG_ENSURE_MSG(f != NULL, CCG_R_IO_WRITE_FAILED, "cannot create %s: %s", path, strerror(errno));
    CCG_ENSURE_MSG(fwrite(data, 1, len, f) == len, CCG_R_IO_WRITE_FAILED, "cannot write %s", path);
    CCG_ENSURE_MSG(fclose(f) == 0, CCG_R_IO_WRITE_FAILED, "cannot close %s", path);
    f = NULL;
    result = CCG_SUCCESS;
cleanup:
    if (f != NULL) {
        fclose(f);
    }
    return result;
}
